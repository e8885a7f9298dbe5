/* The edgelm command: one program, one function per subcommand (cmd_<name>.c). */
#ifndef EDGELM_CLI_H
#define EDGELM_CLI_H

int cmd_info(int argc, char **argv);  /* edgelm info FILE.gguf */
int cmd_bench(int argc, char **argv); /* edgelm bench --kernels | -m MODEL */
int cmd_convert(int argc, char **argv); /* edgelm convert SRC -o OUT.gguf */
int cmd_tokenize(int argc, char **argv); /* edgelm tokenize -m MODEL -p TEXT */
int cmd_generate(int argc, char **argv); /* edgelm generate -m MODEL [-p TEXT] [-n N] */
int cmd_chat(int argc, char **argv); /* edgelm chat -m MODEL [-sys TEXT] */
int cmd_eval(int argc, char **argv); /* edgelm eval -m MODEL --ids 1,2 -o OUT.npy */
int cmd_elmo(int argc, char **argv); /* edgelm elmo -m M -i SENTENCES.txt -o OUTDIR */
int cmd_elmo_bench(int argc, char **argv); /* edgelm elmo-bench -m M.gguf [-t 1,2] */
int cmd_t5_bench(int argc, char **argv); /* edgelm t5-bench -m T5.gguf [-t 1,2] */

#endif
