/* The wrong-family message (see cli_family.h). */
#include "cli_family.h"

#include "edgelm.h"
#include "opts.h"

#include <string.h>

typedef struct cli_family {
    unsigned bit;
    const char *what;     /* "a decoder" */
    const char *commands; /* which edgelm commands run it */
} cli_family;

static const cli_family cli_families[] = {
    {CLI_DECODER, "a decoder", "edgelm generate, chat, eval, perplexity, kld or bench -m"},
    {CLI_BERT, "a BERT encoder", "edgelm embed, fill-mask, nsp, classify, tag, qa, prompt-classify, finetune, eval, kld or bert-bench"},
    {CLI_T5, "an encoder-decoder (T5)", "edgelm generate, eval, kld or t5-bench"},
    {CLI_ELMO, "an ELMo biLM", "edgelm elmo, kld or elmo-bench"},
};

/* The runtime of an architecture, as the one architecture table (models/common/arch.c) says. */
static unsigned cli_family_of(const char *arch) {
    const char *fam = elm_arch_family(arch);
    if (!strcmp(fam, "bert")) return CLI_BERT;
    if (!strcmp(fam, "t5")) return CLI_T5;
    if (!strcmp(fam, "elmo")) return CLI_ELMO;
    return CLI_DECODER;
}

bool cli_family_check(const char *cmd, const char *path, unsigned accepted) {
    elm_file *f = path ? elm_file_open(path, NULL) : NULL;
    if (!f) return true;
    const char *arch = elm_file_arch(f);
    const unsigned fam = arch[0] ? cli_family_of(arch) : 0;
    bool ok = fam == 0 || (fam & accepted) != 0;
    for (size_t i = 0; !ok && i < sizeof cli_families / sizeof cli_families[0]; i++)
        if (cli_families[i].bit == fam) {
            char todo[160];
            snprintf(todo, sizeof todo, "run it with %s", cli_families[i].commands);
            opts_fail(cmd, todo, "%s is %s (architecture %s)", path, cli_families[i].what, arch);
        }
    elm_file_close(f);
    return ok;
}
