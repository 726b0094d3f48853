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

/*
 * A BackendContext region as a backend compiles, loads and runs it
 * (ocs/backend_context.h): its nodes, the names they read from outside the
 * region (inputs, in the region's interface order) and the names the rest
 * of the model reads from it (outputs).  Weights are inputs: they stay
 * initializers of the main graph and are never part of a blob.
 */
typedef struct ocs_bc_view {
    size_t n_nodes;
    const ocs_node *const *nodes;        /* in the model's order */
    const int64_t *since_versions;       /* per node; -1: a model-local function or an unknown op */
    size_t n_inputs;
    const char *const *inputs;           /* names as the nodes use them */
    const ocs_tensor_type *input_types;  /* declared (OCS_UNDEFINED / rank < 0 / dim < 0 when unknown) */
    size_t n_outputs;
    const char *const *outputs;
    size_t n_consts;
    const ocs_initializer *consts;       /* the region's own constants (usually none) */
} ocs_bc_view;

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

    /*
     * BackendContext blobs (optional: all NULL for a backend without a
     * compile step).  The view passed to bc_load, and all it points to,
     * stays valid until bc_unload.
     */
    /* Compiles region r into *payload (malloc'd, *len bytes) and the
     * compatibility string *compat (malloc'd) a loader checks.  sample (may
     * be NULL) holds one tensor per region input, for measurements.
     * OCS_ERR_UNSUPPORTED when this backend does not compile such a region. */
    ocs_status (*bc_compile)(void *ctx, const ocs_bc_view *r, const ocs_tensor *const *sample, void **payload,
                             size_t *len, char **compat, ocs_err *err);
    /* 1 when a blob compiled for compat can run here; else 0 and a reason in why. */
    int (*bc_compatible)(void *ctx, const char *compat, char *why, size_t why_len);
    /* Checks every byte of a payload against region r and makes it ready to
     * run: OCS_ERR_UNSUPPORTED when it cannot run here (incompatible), any
     * other failure when it is malformed.  Never trusts the payload. */
    ocs_status (*bc_load)(void *ctx, const ocs_bc_view *r, const void *payload, size_t len, void **state,
                          ocs_err *err);
    /* Runs a loaded region: a->inputs[i] is region input i (NULL when
     * absent), a->outputs[j] receives region output j; a->node is the node
     * that stands for the region, a->scope the enclosing scope. */
    ocs_status (*bc_run)(void *ctx, void *state, ocs_kernel_args *a);
    void (*bc_unload)(void *ctx, void *state);
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
