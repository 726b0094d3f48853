/*
 * ocs/backend_context.h - pre-compiled backend blobs in a model, with the
 * original subgraph kept as the fallback (DESIGN.md section 4), in both
 * proposed encodings:
 *
 *   function (Option F)  one ai.onnx.preview BackendContext node per region:
 *                        the region's inputs and outputs, a `fallback` GRAPH
 *                        attribute holding the original nodes, and per blob
 *                        the backend id, compatibility string, SHA-256 and
 *                        bytes (embedded, or a file beside the model);
 *   scopes (Option M)    the region's nodes stay where they are and carry
 *                        metadata_props OCS_BC_SCOPE_KEY = <scope>; model
 *                        metadata entries OCS_BC_BLOB_PREFIX<scope>.<i> map
 *                        the scope to its blobs.
 *
 * Both kinds are discovered into ocs_bc_region, and one selection applies
 * to both: walk the session's backends in priority order and take the first
 * blob whose backend is present, accepts its compatibility string, and
 * whose bytes are safe to read, match their SHA-256, parse, and load.
 * Every blob tried gets a reason; a region no blob wins runs its fallback
 * (or, under the strict flag, the session fails).
 *
 * Blob files follow ONNX's external data rules (location relative to the
 * model's folder, optional offset and length) and are read lazily, through
 * the loader's own path checks, only when a blob is tried: an unsafe or
 * missing file makes that blob fall back, never the model fail to load.
 */
#ifndef OCS_BACKEND_CONTEXT_H
#define OCS_BACKEND_CONTEXT_H

#include "ocs/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

#define OCS_BC_OP "BackendContext"
#define OCS_BC_SCOPE_KEY "ai.onnx.backend_context.scope"
#define OCS_BC_BLOB_PREFIX "ai.onnx.backend_context.blob."

typedef enum ocs_bc_encoding {
    OCS_BC_FUNCTION = 0,      /* Option F: a BackendContext node */
    OCS_BC_SCOPES = 1         /* Option M: metadata scopes */
} ocs_bc_encoding;

/* "function" or "scopes". */
const char *ocs_bc_encoding_name(ocs_bc_encoding e);

/* Why a blob was or was not used. */
typedef enum ocs_bc_reason {
    OCS_BC_ACCEPTED = 0,
    OCS_BC_INCOMPATIBLE,          /* the backend refused the compatibility string or the payload */
    OCS_BC_CHECKSUM_MISMATCH,     /* SHA-256 of the bytes differs from the model's or the container's own */
    OCS_BC_MISSING_FILE,          /* the external file does not exist (or the model's folder is unknown) */
    OCS_BC_UNSAFE_PATH,           /* absolute, "..", a symlink leaving the folder, not a regular file */
    OCS_BC_MALFORMED,             /* the declaration, the container or the payload is not well formed */
    OCS_BC_NO_SUCH_BACKEND,       /* no backend of the session has this id (or it compiles nothing) */
    OCS_BC_NOT_TRIED              /* another blob was accepted first */
} ocs_bc_reason;

/* "accepted", "incompatible", "checksum mismatch", ... */
const char *ocs_bc_reason_name(ocs_bc_reason r);

/* One blob as the model declares it. */
typedef struct ocs_bc_blob {
    char *backend;                /* backend id ("" when missing) */
    char *compat;                 /* compatibility string */
    char *sha256;                 /* declared digest of the container, 64 hex digits when well formed */
    int external;
    const unsigned char *data;    /* embedded bytes (borrowed from the model, or `owned`) */
    size_t len;
    void *owned;
    char *location;               /* external: path relative to the model's folder */
    int64_t offset, length;       /* external: length -1 means to the end of the file */
    char *problem;                /* non-NULL: why the declaration itself is malformed */
} ocs_bc_blob;

/* One region of the main graph. */
typedef struct ocs_bc_region {
    ocs_bc_encoding encoding;
    char *name;                   /* function: the node's name (or "#<index>"); scopes: the scope */
    size_t node;                  /* function: index of the BackendContext node in the main graph */
    size_t n_nodes;
    const ocs_node **nodes;       /* function: the fallback's nodes; scopes: the scope's nodes, graph order */
    size_t *node_index;           /* scopes: their main-graph indices (NULL for function) */
    size_t n_inputs;
    char **inputs;                /* names in the main graph, interface order */
    char **inner_inputs;          /* the same values as the region's nodes name them */
    size_t n_outputs;
    char **outputs;
    char **inner_outputs;
    ocs_tensor_type *input_types; /* declared */
    size_t n_consts;
    const ocs_initializer *consts;
    size_t n_blobs;
    ocs_bc_blob *blobs;
    char *problem;                /* non-NULL: the region is malformed and always runs its fallback */
} ocs_bc_region;

/*
 * Finds every region of m's main graph.  Malformed declarations do not
 * fail: they set `problem` on the region or blob.  Fails only on
 * allocation failure.  *out is owned by the caller (ocs_bc_regions_free);
 * it borrows from m, which must outlive it.
 */
ocs_status ocs_bc_discover(const ocs_model *m, ocs_bc_region **out, size_t *n, ocs_err *err);
void ocs_bc_regions_free(ocs_bc_region *r, size_t n);

/*
 * The interface of the node set nodes[0..n) of g: inputs (names the nodes
 * read, including through subgraphs, that they do not produce, in order of
 * first reading) and outputs (names they produce that other nodes of g or
 * g's outputs read, in order of production).  OCS_ERR_INVALID when the set
 * is empty, has a duplicate, or is not convex (a path leaves the set and
 * comes back, so no single node can stand for it).  The arrays and strings
 * are malloc'd; free each string and the array.
 */
ocs_status ocs_bc_interface(const ocs_graph *g, size_t n, const size_t *nodes, char ***inputs, size_t *n_in,
                            char ***outputs, size_t *n_out, ocs_err *err);

/* The names node n reads: its inputs, then what its subgraphs read from
 * outside themselves, each once, in that order.  *names (an array of
 * borrowed pointers into n) is malloc'd; free the array only. */
ocs_status ocs_bc_node_reads(const ocs_node *n, const char ***names, size_t *count, ocs_err *err);

/* Checks a fallback graph: it reads nothing from outside itself. */
ocs_status ocs_bc_check_fallback(const ocs_graph *fallback, ocs_err *err);

/* ---- selection ------------------------------------------------------------------------- */

typedef struct ocs_bc_attempt {
    size_t blob;
    ocs_bc_reason reason;
    char detail[400];
} ocs_bc_attempt;

typedef struct ocs_bc_decision {
    int accepted;                 /* 1: runs from blob `blob` on backend `backend` */
    size_t backend;               /* index into the backend list */
    size_t blob;
    void *state;                  /* what the backend's bc_load made */
    size_t n_attempts;            /* one per blob, in the order they were considered */
    ocs_bc_attempt *attempts;
} ocs_bc_decision;

/*
 * Selects a blob for region r (view v, built by ocs_bc_view_make) over
 * backends[0..nb), model m giving the folder external files are read from.
 * Fills *out (ocs_bc_decision_clear releases it); fails only on allocation
 * failure.  A backend without bc_load takes no blob.
 */
ocs_status ocs_bc_select(const ocs_model *m, const ocs_bc_region *r, const ocs_bc_view *v,
                         ocs_backend *const *backends, size_t nb, ocs_bc_decision *out, ocs_err *err);
/* Unloads an accepted blob and frees the attempts. */
void ocs_bc_decision_clear(ocs_bc_decision *d, ocs_backend *const *backends);
/* One line: "scopes region 'attn': accepted cpu blob 0 (...); cuda blob 1: no such backend (...)". */
void ocs_bc_decision_format(const ocs_bc_region *r, const ocs_bc_decision *d, ocs_backend *const *backends,
                            char *buf, size_t len);

/*
 * Reads the bytes of blob b of region r (embedded or external), classifying
 * a failure: *reason is MISSING_FILE, UNSAFE_PATH or MALFORMED.  *bytes is
 * either borrowed (*owned NULL) or malloc'd (*owned the same pointer).
 */
ocs_status ocs_bc_blob_bytes(const ocs_model *m, const ocs_bc_blob *b, const unsigned char **bytes, size_t *len,
                             void **owned, ocs_bc_reason *reason, ocs_err *err);

/* ---- views and sessions (reference/exec.c) --------------------------------------------- */

/* The view of region r of m: operator versions resolved at m's opsets.  Free with ocs_bc_view_free. */
ocs_status ocs_bc_view_make(const ocs_model *m, const ocs_bc_region *r, ocs_bc_view *v, ocs_err *err);
void ocs_bc_view_free(ocs_bc_view *v);

typedef struct ocs_bc_options {
    int strict;                   /* a region that does not run from a blob fails the session */
    int disable;                  /* ignore every blob: every region runs its fallback */
    void (*log)(void *user, const char *line);   /* one line per region (may be NULL) */
    void *log_user;
} ocs_bc_options;

/* ocs_session_new_with plus BackendContext options; bc may be NULL (defaults: all zero). */
ocs_status ocs_session_new_bc(const ocs_model *m, const ocs_session_options *opt, const ocs_bc_options *bc,
                              ocs_session **out, ocs_err *err);
/* The regions a session found and what it decided for each (valid while s lives). */
size_t ocs_session_bc_count(const ocs_session *s);
const ocs_bc_region *ocs_session_bc_region(const ocs_session *s, size_t i);
const ocs_bc_decision *ocs_session_bc_decision(const ocs_session *s, size_t i);

/* ---- writing compiled models ------------------------------------------------------------ */

/* A compiled blob to store: the container bytes and what they declare. */
typedef struct ocs_bc_blob_out {
    const char *backend;
    const char *compat;
    const void *bytes;            /* the container (ocs_blob_write) */
    size_t len;
} ocs_bc_blob_out;

/* A region to encode: main-graph node indices, its blobs, and (optionally)
 * the types of its interface, for the fallback graph's declarations. */
typedef struct ocs_bc_region_spec {
    const char *name;
    size_t n_nodes;
    const size_t *nodes;
    size_t n_blobs;
    const ocs_bc_blob_out *blobs;
    const ocs_tensor_type *input_types;   /* per interface input, or NULL */
    const ocs_tensor_type *output_types;  /* per interface output, or NULL */
} ocs_bc_region_spec;

/* A file to write beside the model: name relative to the model's folder. */
typedef struct ocs_bc_file {
    char *name;
    unsigned char *data;
    size_t len;
} ocs_bc_file;

/*
 * Encodes regions into a copy of m.  external_stem NULL embeds every blob;
 * otherwise the blobs of each backend go into one file
 * "<external_stem>.<backend>.bin" (returned in *files), each at an offset
 * that is a multiple of 4096.  The region's nodes must not already belong
 * to another region.  *out and *files are owned by the caller.
 */
ocs_status ocs_bc_encode(const ocs_model *m, const ocs_bc_region_spec *regions, size_t n, ocs_bc_encoding enc,
                         const char *external_stem, ocs_model **out, ocs_bc_file **files, size_t *n_files,
                         ocs_err *err);
void ocs_bc_files_free(ocs_bc_file *f, size_t n);

/*
 * Gives each BackendContext node of m's main graph a model-local function
 * ai.onnx.preview.BackendContext whose body is the node's fallback, told
 * apart by the IR 10 `overload` field (set on the node to its region name).
 * A runtime that does not implement BackendContext then inlines the
 * fallback as it inlines any model-local function; a runtime that does
 * still selects blobs.  The fallback is stored twice.
 */
ocs_status ocs_bc_add_local_functions(ocs_model *m, ocs_err *err);

/* Writes the files beside path (atomically each), then the model at path. */
ocs_status ocs_bc_save(const ocs_model *m, const char *path, const ocs_bc_file *files, size_t n_files,
                       ocs_err *err);

#ifdef __cplusplus
}
#endif
#endif /* OCS_BACKEND_CONTEXT_H */
