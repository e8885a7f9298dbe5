/*
 * common.c — error helpers, weight loading and the graph runner shared by the model families
 * (decoder, BERT, ELMo, T5). See common.h.
 */
#include "common.h"

#include <stdarg.h>
#include <stdio.h>

elm_status elm_err_set(elm_error *err, elm_status code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* elm_status mirrors gl_status value for value (edgelm.h), so the code carries over as is. */
elm_status elm_err_from_gl(elm_error *err, const gl_error *gerr) {
    return elm_err_set(err, (elm_status)gerr->code, "%s", gerr->msg);
}
