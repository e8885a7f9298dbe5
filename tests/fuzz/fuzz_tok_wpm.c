/* Tokenizer harness: bert (WordPiece, the hf-reference BERT vocabulary). */
#define FUZZ_TOK_VOCAB "wpm.gguf"
#include "fuzz_tok.h"
