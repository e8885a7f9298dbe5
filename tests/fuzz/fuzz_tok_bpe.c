/* Tokenizer harness: gpt2 (byte-level BPE, GPT-2's tokenizer). */
#define FUZZ_TOK_VOCAB "bpe.gguf"
#include "fuzz_tok.h"
