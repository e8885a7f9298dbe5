/* Tokenizer harness: llama (SentencePiece BPE, llama2's tokenizer.model). */
#define FUZZ_TOK_VOCAB "spm.gguf"
#include "fuzz_tok.h"
