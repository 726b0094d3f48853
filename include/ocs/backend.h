/*
 * ocs/backend.h - the interface every optimized backend implements.
 *
 * A backend is a table of functions plus its own context, as ggml-backend
 * does it: it says which nodes it supports, may prepare per-node state once
 * per session (plans, packed weights), runs a node with the same contract
 * as a reference kernel (ocs_kernel_args: inputs borrowed, outputs created
 * by the callee), and releases what it made.  Optional members may be NULL.
 * The executor assigns each node to the first backend of the user's
 * priority list that supports it; the reference kernels are the last
 * resort, unless the session forbids that (the conformance runner does, so
 * that a case a backend does not support is reported as skipped rather
 * than silently run by the reference).
 *
 * Host and device backends share the interface: tensors cross it in host
 * memory, and a device backend keeps its own buffers behind it.
 */
#ifndef OCS_BACKEND_H
#define OCS_BACKEND_H

#include "ocs/exec.h"
#include "ocs/schema.h"

#ifdef __cplusplus
extern "C" {
#endif

#define OCS_BACKEND_API_VERSION 1

typedef struct ocs_backend_ops {
    int api_version;             /* OCS_BACKEND_API_VERSION */
    const char *name;            /* "cpu", "cuda", ... */
    /* One line for reports: device, ISA, library versions.  Optional. */
    const char *(*describe)(void *ctx);
    /* Whether the backend runs node n at since_version with these input types. */
    int (*supports)(void *ctx, const ocs_node *n, int64_t since_version, size_t n_in,
                    const ocs_tensor_type *in);
    /* Optional: per-node state made once per session; *state may stay NULL. */
    ocs_status (*prepare)(void *ctx, const ocs_node *n, int64_t since_version, void **state,
                          ocs_err *err);
    /* Runs the node (the reference kernel contract); state from prepare. */
    ocs_status (*run)(void *ctx, void *state, ocs_kernel_args *a);
    /* Optional: frees what prepare made. */
    void (*release)(void *ctx, void *state);
    /* Frees the backend's context. */
    void (*destroy)(void *ctx);
} ocs_backend_ops;

typedef struct ocs_backend {
    const ocs_backend_ops *ops;
    void *ctx;
} ocs_backend;

/*
 * Opens a built-in backend by name ("cpu", "cuda").  OCS_ERR_UNSUPPORTED
 * with a reason means "not present here" (not built, no device answers);
 * callers report that as skipped, never as a failure.  *out is owned by the
 * caller: close it with ocs_backend_close.
 */
ocs_status ocs_backend_open(const char *name, ocs_backend **out, ocs_err *err);
void ocs_backend_close(ocs_backend *b);
/* Names of the built-in backends, NULL-terminated (present or not). */
const char *const *ocs_backend_names(void);

typedef struct ocs_session_options {
    ocs_backend *const *backends;   /* priority order, borrowed */
    size_t n_backends;
    int no_reference_fallback;      /* 1: a node no backend supports is an error */
} ocs_session_options;

/* ocs_session_new with backends; opt may be NULL (reference only). */
ocs_status ocs_session_new_with(const ocs_model *m, const ocs_session_options *opt, ocs_session **out,
                                ocs_err *err);

#ifdef __cplusplus
}
#endif
#endif /* OCS_BACKEND_H */
