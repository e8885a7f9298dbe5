/* T5 entry points behind `edgelm generate` / `edgelm eval` (cmd_t5.c). */
#ifndef EDGELM_T5_CLI_H
#define EDGELM_T5_CLI_H

#include <stdbool.h>

/* True when the -m/--model argument names a GGUF file of architecture "t5". */
bool t5_cli_is_t5(int argc, char **argv);
int cmd_t5_generate(int argc, char **argv);
int cmd_t5_eval(int argc, char **argv);

#endif
