/*
 * edgelm — the command-line program: `edgelm <command> [options]`.
 * Each command lives in cmd_<name>.c; this file only dispatches.
 */
#include "cli.h"
#include "edgelm.h"

#include <stdio.h>
#include <string.h>

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *usage;
} command;

static const command commands[] = {
    {"info", cmd_info, "info FILE.gguf              print a GGUF file's metadata and tensor table"},
    {"bench", cmd_bench, "bench --kernels [-t 1,2]    mat-vec / mat-mat kernel benchmarks"},
    {"convert", cmd_convert, "convert SRC -o OUT.gguf     Hugging Face / llama2.c checkpoint -> GGUF [--outtype q8_0]"},
    {"quantize", cmd_quantize, "quantize IN OUT TYPE         requantize a GGUF file (Q4_K_M, Q8_0 ..) [-t N]"},
    {"perplexity", cmd_perplexity, "perplexity -m M -f TEXT      decoder perplexity [-c CTX]"},
    {"kld", cmd_kld, "kld -m BASE -m2 QUANT -f TEXT quantization error: KL divergence, top-1, max error"},
    {"tokenize", cmd_tokenize, "tokenize -m M -p TEXT        print the token ids of TEXT [--no-special]"},
    {"generate", cmd_generate, "generate -m M [-p TEXT] [-n N] continue a text (streamed) [--temp 0 --seed S]"},
    {"chat", cmd_chat, "chat -m M [-sys TEXT]        interactive chat [--chat-template NAME]"},
    {"eval", cmd_eval, "eval -m M --ids 1,2 -o F.npy logits or hidden states as NumPy [--what hidden]"},
    {"elmo", cmd_elmo, "elmo -m M -i F.txt -o DIR     ELMo embeddings per sentence as NumPy [--stateful --mix ..]"},
    {"t5-bench", cmd_t5_bench, "t5-bench -m M [-t 1,2]       T5 encoder and decoder tokens/s [--tokens 64 --steps 32]"},
    {"fill-mask", cmd_fill_mask, "fill-mask -m M -p TEXT       BERT: candidates for each [MASK] [--top-k 5]"},
    {"embed", cmd_embed, "embed -m M -p TEXT.. | -f F  BERT sentence embeddings [--pooling cls|mean|none --normalize -o F.npy]"},
    {"nsp", cmd_nsp, "nsp -m M -a TEXT -b TEXT      BERT: probability that B follows A"},
    {"classify", cmd_classify, "classify -m M -p TEXT        BERT classifier: labels with probabilities"},
    {"bert-bench", cmd_bert_bench, "bert-bench -m M [-t 1,2]     BERT sentences/s [--batch 1,8 --tokens 128]"},
    {"elmo-bench", cmd_elmo_bench, "elmo-bench -m M [-t 1,2]     ELMo tokens/s and GFLOP/s [--batch 32 --tokens 20]"},
};

static void print_usage(FILE *out) {
    fprintf(out, "edgelm %s — quantized CPU runtime for pretrained language models (%s)\n\n",
            elm_version(), elm_simd());
    fprintf(out, "usage: edgelm <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %s\n", commands[i].usage);
    fprintf(out, "  version                     print the version and SIMD paths\n");
    fprintf(out, "\n`edgelm <command> --help` describes a command's options.\n");
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
        !strcmp(argv[1], "help")) {
        print_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
        printf("edgelm %s (%s)\n", elm_version(), elm_simd());
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "edgelm: unknown command '%s'\n\n", argv[1]);
    print_usage(stderr);
    return 2;
}
