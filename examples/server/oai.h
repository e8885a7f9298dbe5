/*
 * oai.h — the OpenAI request mapping: validates the JSON of chat, completion, embedding and
 * tokenizer requests into plain structs (no model, no I/O, so every malformed request can be
 * unit-tested). Every function returns true, or false with a message for a 400 response.
 * Strings point into the parsed document (which must outlive the struct) unless noted.
 */
#ifndef EDGELM_SERVER_OAI_H
#define EDGELM_SERVER_OAI_H

#include "edgelm.h"
#include "json.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OAI_MAX_STOP 8
#define OAI_MAX_STOP_LEN 256
#define OAI_MAX_LOGPROBS 20
#define OAI_MAX_MESSAGES 4096
#define OAI_MAX_INPUTS 256

typedef struct oai_gen {
    elm_sampler_params sp;
    bool seed_set;
    int32_t max_tokens;      /* -1: until the end of text or a full context */
    const char *stop[OAI_MAX_STOP];
    size_t stop_len[OAI_MAX_STOP];
    int n_stop;
    bool stream, include_usage;
    int32_t logprobs;        /* top alternatives per token; -1: no logprobs */
    bool echo;               /* completions: the prompt is part of the text */
    bool ignore_eos;         /* llama-server's extension: generate max_tokens whatever comes */
} oai_gen;

/* Parses text[0..len) as a JSON object; NULL + msg otherwise. */
elm_json_doc *oai_parse_body(const char *text, size_t len, char *msg, size_t msg_size);

/* Generation fields common to both endpoints (chat selects the chat spellings of logprobs). */
bool oai_parse_gen(const elm_json *root, bool chat, oai_gen *g, char *msg, size_t msg_size);

/* messages -> array of n messages; contents are malloc'ed copies (text parts joined), freed by
 * oai_free_messages. Roles: system, developer (as system), user, assistant. */
bool oai_parse_messages(const elm_json *root, elm_chat_msg **msgs, size_t *n, char *msg,
                        size_t msg_size);
void oai_free_messages(elm_chat_msg *msgs, size_t n);

/* prompt: a string, or token ids (an array of integers in [0, n_vocab)), or a one-item array
 * of either. Exactly one of *text / *ids is set; *ids is malloc'ed. */
bool oai_parse_prompt(const elm_json *root, int32_t n_vocab, const char **text, size_t *len,
                      int32_t **ids, int32_t *n_ids, char *msg, size_t msg_size);

/* input: a string or a non-empty array of strings (at most OAI_MAX_INPUTS); *texts malloc'ed.
 * encoding_format: "float" (default) or "base64". */
bool oai_parse_embed(const elm_json *root, const elm_json ***texts, size_t *n, bool *base64,
                     char *msg, size_t msg_size);

/* /detokenize's "tokens": integers in [0, n_vocab); *ids malloc'ed (may be empty). */
bool oai_parse_ids(const elm_json *arr, const char *field, int32_t n_vocab, int32_t **ids,
                   int32_t *n, char *msg, size_t msg_size);

/* Standard base64 of n bytes into out (4 * ceil(n / 3) bytes + NUL). */
void oai_base64(const unsigned char *in, size_t n, char *out);

#endif
