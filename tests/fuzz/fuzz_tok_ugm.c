/* Tokenizer harness: t5 (Unigram, the hf-reference T5 tokenizer). */
#define FUZZ_TOK_VOCAB "ugm.gguf"
#include "fuzz_tok.h"
