/*
 * ocs/status.h - status codes and the error buffer every fallible call fills.
 *
 * Every fallible function in OCS returns an ocs_status and, on failure, writes
 * a human-readable reason (file, node, input index, the offending value) into
 * an ocs_err supplied by the caller.  The buffer may be NULL when the caller
 * does not want the text.  Nothing in the library calls exit() or abort().
 */
#ifndef OCS_STATUS_H
#define OCS_STATUS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ocs_status {
    OCS_OK = 0,
    OCS_ERR_INVALID = 1,      /* bad argument or malformed model / data */
    OCS_ERR_NOMEM = 2,        /* allocation failed or a size overflowed */
    OCS_ERR_IO = 3,           /* file could not be opened, read or written */
    OCS_ERR_PARSE = 4,        /* bytes are not a valid protobuf message */
    OCS_ERR_UNSUPPORTED = 5,  /* valid ONNX that this implementation does not run */
    OCS_ERR_RUNTIME = 6       /* a kernel rejected its inputs at run time */
} ocs_status;

#define OCS_ERR_MAX 1024

typedef struct ocs_err {
    char msg[OCS_ERR_MAX];
} ocs_err;

/* Short constant name of a status ("invalid", "unsupported", ...). */
const char *ocs_status_name(ocs_status s);

/*
 * Formats a reason into err (if non-NULL) and returns s, so that failures
 * read as one line:   return ocs_fail(err, OCS_ERR_INVALID, "axis %d", a);
 */
ocs_status ocs_fail(ocs_err *err, ocs_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/*
 * Prepends context to an existing reason ("node 'x': " + old reason) and
 * returns s unchanged.  Used when an error travels up through a caller that
 * knows more (the node name, the file name).
 */
ocs_status ocs_err_prefix(ocs_err *err, ocs_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Sets err to the empty string. */
void ocs_err_clear(ocs_err *err);

#ifdef __cplusplus
}
#endif
#endif /* OCS_STATUS_H */
