/* cli_io.h — reading the text inputs of edgelm commands (-f FILE, '-' = stdin). */
#ifndef EDGELM_CLI_IO_H
#define EDGELM_CLI_IO_H

#include <stddef.h>

/* The whole of path ("-": stdin) in a malloc'ed NUL-terminated buffer; its length (without
 * the NUL) in *len when len is not NULL. NULL when it cannot be read (errno set). */
char *cli_read_all(const char *path, size_t *len);
/* Splits text[0..len) into lines in place: "\n" or "\r\n" ends a line, a final newline starts
 * no further line, blank lines are kept. Returns a malloc'ed array of *n line pointers into
 * text; NULL with *n = 0 for no lines, NULL with *n = -1 when out of memory. */
char **cli_split_lines(char *text, size_t len, int *n);
/* Removes one trailing "\n" (or "\r\n"), as llama.cpp does for a prompt read with -f. */
void cli_chomp(char *text, size_t *len);

#include <stdbool.h>
/* The text of a command that takes -p TEXT or -f FILE ('-' = stdin; one trailing newline is
 * dropped): exactly one of them. *text gets it; *owned the buffer to free (NULL for -p). False
 * after the one-line error ("edgelm CMD: no text: give -p TEXT or -f FILE", or a read error). */
bool cli_prompt_or_file(const char *cmd, const char *prompt, const char *file, const char **text, char **owned);
/* True when path opens as a GGUF whose general.architecture is arch. */
bool cli_file_is_arch(const char *path, const char *arch);

#endif
