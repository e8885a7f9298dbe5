/* The edgelm command: one program, one function per subcommand (cmd_<name>.c). */
#ifndef EDGELM_CLI_H
#define EDGELM_CLI_H

int cmd_info(int argc, char **argv);  /* edgelm info FILE.gguf */
int cmd_bench(int argc, char **argv); /* edgelm bench --kernels | -m MODEL */
int cmd_convert(int argc, char **argv); /* edgelm convert SRC -o OUT.gguf */
int cmd_quantize(int argc, char **argv); /* edgelm quantize IN.gguf OUT.gguf TYPE */
int cmd_perplexity(int argc, char **argv); int cmd_kld(int argc, char **argv); /* cmd_quality.c */
int cmd_tokenize(int argc, char **argv); /* edgelm tokenize -m MODEL -p TEXT */
int cmd_generate(int argc, char **argv); /* edgelm generate -m MODEL [-p TEXT] [-n N] */
int cmd_chat(int argc, char **argv); /* edgelm chat -m MODEL [-sys TEXT] */
int cmd_eval(int argc, char **argv); /* edgelm eval -m MODEL --ids 1,2 -o OUT.npy */
int cmd_elmo(int argc, char **argv); /* edgelm elmo -m M -f SENTENCES.txt -o OUT.hdf5 */
int cmd_elmo_bench(int argc, char **argv); /* edgelm elmo-bench -m M.gguf [-t 1,2] */
int cmd_t5_bench(int argc, char **argv); /* edgelm t5-bench -m T5.gguf [-t 1,2] */
/* BERT (cmd_bert.c): fill-mask, embed, nsp, classify, bert-bench; eval for bert files */
int cmd_fill_mask(int argc, char **argv); int cmd_embed(int argc, char **argv); int cmd_nsp(int argc, char **argv);
int cmd_classify(int argc, char **argv); int cmd_bert_bench(int argc, char **argv);
int cmd_similarity(int argc, char **argv); /* cosine matrix or top-k neighbours (cmd_bert.c) */
#include <stdbool.h>
struct gen_opts;
int cmd_bert_eval(struct gen_opts *o); /* eval on a BERT file, options parsed by cmd_eval */
int cmd_serve(int argc, char **argv); /* edgelm serve -m MODEL.gguf [--port 8080] */
/* cmd_tag_qa.c: tag, qa, and `eval --what logits` of a BERT head (writes OUT.npy) */
int cmd_tag(int argc, char **argv); int cmd_qa(int argc, char **argv);
int cmd_prompt_classify(int argc, char **argv); /* cmd_prompt.c: masked-LM prompt classification */
int cmd_finetune(int argc, char **argv); /* cmd_finetune.c: BERT fine-tuning (classify) */
#include "edgelm.h"
/* cmd_bert.c: result `what` of sequence s of the last run, malloc'd (*n floats; NULL: err says why). */
float *cli_bert_get(const elm_bert *m, int32_t s, elm_bert_output what, int64_t *n, elm_error *err);
int bert_eval_logits(elm_bert *m, const int32_t *ids, const int32_t *types, int32_t n, const char *out, elm_error *err);

#endif
