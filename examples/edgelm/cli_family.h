/*
 * cli_family.h — which commands run which model family, and the one-line error for a file of
 * another family: "edgelm embed: m.gguf is a decoder (architecture llama): run it with
 * edgelm generate, chat, eval, perplexity, kld or bench -m".
 */
#ifndef EDGELM_CLI_FAMILY_H
#define EDGELM_CLI_FAMILY_H

#include <stdbool.h>

/* Families by the commands that run them. A file's family comes from its
 * general.architecture (elm_file_arch): "bert", "t5", "elmo", or a decoder (any other). */
enum {
    CLI_DECODER = 1u,
    CLI_BERT = 2u,
    CLI_T5 = 4u,
    CLI_ELMO = 8u,
};

/* True when path is a GGUF of one of the families in accepted (or cannot be opened: the
 * command's own loader then says why); otherwise prints the one-line error and returns false. */
bool cli_family_check(const char *cmd, const char *path, unsigned accepted);

#endif
