/*
 * spec/status.c - status names and the error buffer helpers.
 */
#include "ocs/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *ocs_status_name(ocs_status s)
{
    switch (s) {
    case OCS_OK: return "ok";
    case OCS_ERR_INVALID: return "invalid";
    case OCS_ERR_NOMEM: return "out of memory";
    case OCS_ERR_IO: return "i/o error";
    case OCS_ERR_PARSE: return "parse error";
    case OCS_ERR_UNSUPPORTED: return "unsupported";
    case OCS_ERR_RUNTIME: return "runtime error";
    }
    return "unknown status";
}

ocs_status ocs_fail(ocs_err *err, ocs_status s, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return s;
}

ocs_status ocs_err_prefix(ocs_err *err, ocs_status s, const char *fmt, ...)
{
    if (!err)
        return s;
    char head[OCS_ERR_MAX], old[OCS_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    old[sizeof old - 1] = '\0';
    size_t n = strlen(head);
    if (n >= sizeof err->msg)
        n = sizeof err->msg - 1;
    memcpy(err->msg, head, n);
    size_t rest = strlen(old);
    if (rest > sizeof err->msg - 1 - n)
        rest = sizeof err->msg - 1 - n;
    memcpy(err->msg + n, old, rest);
    err->msg[n + rest] = '\0';
    return s;
}

void ocs_err_clear(ocs_err *err)
{
    if (err)
        err->msg[0] = '\0';
}
