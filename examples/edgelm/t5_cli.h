/* T5 entry points behind `edgelm generate` / `edgelm eval` (cmd_t5.c), on parsed options. */
#ifndef EDGELM_T5_CLI_H
#define EDGELM_T5_CLI_H

#include "gen_opts.h"

int cmd_t5_generate(gen_opts *o);
int cmd_t5_eval(gen_opts *o);

#endif
