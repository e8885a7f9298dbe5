/* cli_io.h — reading the text inputs of edgelm commands (-f FILE, '-' = stdin). */
#ifndef EDGELM_CLI_IO_H
#define EDGELM_CLI_IO_H

#include <stddef.h>

/* The whole of path ("-": stdin) in a malloc'ed NUL-terminated buffer; its length (without
 * the NUL) in *len when len is not NULL. NULL when it cannot be read (errno set). */
char *cli_read_all(const char *path, size_t *len);
/* Removes one trailing "\n" (or "\r\n"), as llama.cpp does for a prompt read with -f. */
void cli_chomp(char *text, size_t *len);

#include <stdbool.h>
/* True when path opens as a GGUF whose general.architecture is arch. */
bool cli_file_is_arch(const char *path, const char *arch);

#endif
