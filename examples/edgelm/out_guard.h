/*
 * out_guard.h — the command-line side of atomic outputs (the library writes every file under
 * gl_tmp_path(target) and renames it when complete): on SIGINT/SIGTERM the temporary files of
 * the registered outputs are removed before the process ends, so an interrupted command leaves
 * neither a truncated target nor a stray temporary file; a message says when a command replaced
 * a file that was there.
 */
#ifndef EDGELM_OUT_GUARD_H
#define EDGELM_OUT_GUARD_H

#include <stdbool.h>

/* Registers target (its temporary file is removed on SIGINT/SIGTERM; with also_target, target
 * itself too: an intermediate file) and installs the handlers once. Returns whether target
 * exists already as a regular file. At most 16 paths per process. */
bool out_guard_add(const char *target, bool also_target);
/* After a command succeeded: "edgelm CMD: replaced the existing FILE" when it existed before. */
void out_guard_report(const char *cmd, const char *target, bool existed);

#endif
