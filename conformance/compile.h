/*
 * conformance/compile.h - compiling models into BackendContext form, shared
 * by `ocs compile`, `ocs inspect` and `ocs bc-report` (conformance/compile.c).
 */
#ifndef OCS_CLI_COMPILE_H
#define OCS_CLI_COMPILE_H

#include <stdio.h>

#include "ocs/backend_context.h"

/*
 * Opens the backends of a comma-separated list (NULL: every built-in one),
 * in that order.  One that is not present here is reported to log and left
 * out, not an error.  *out is malloc'd; close with ocs_cli_bc_close.
 */
ocs_status ocs_cli_bc_open(const char *list, ocs_backend ***out, size_t *n, FILE *log, ocs_err *err);
void ocs_cli_bc_close(ocs_backend **v, size_t n);

/* Graph inputs by name, for measurements (borrowed). */
typedef struct ocs_cli_inputs {
    size_t n;
    const char **names;
    ocs_tensor **tensors;
} ocs_cli_inputs;

/* Reads DIR/input_<i>.pb for each graph input i of m (names from the graph). */
ocs_status ocs_cli_inputs_load(const ocs_model *m, const char *dir, ocs_cli_inputs *out, ocs_err *err);
void ocs_cli_inputs_free(ocs_cli_inputs *in);

typedef struct ocs_cli_compiled {
    ocs_model *model;           /* the compiled model */
    ocs_bc_file *files;         /* blob files to write beside it */
    size_t n_files;
    size_t n_regions, n_blobs;
    size_t blob_bytes;          /* all containers together */
    double compile_ms;          /* time spent in the backends' compile steps */
    int tuned;                  /* sample inputs were available */
} ocs_cli_compiled;

/* Compiled regions of a model, ready to encode either way. */
typedef struct ocs_cli_blobs {
    ocs_model *annotated;       /* the model with every region's nodes scoped */
    ocs_bc_region *regions;
    size_t n_regions;
    ocs_bc_region_spec *specs;  /* per region: its nodes, blobs and interface types */
    ocs_bc_blob_out **blobs;
    ocs_tensor_type **types;
    size_t n_blobs, blob_bytes;
    double compile_ms;
    int tuned;
} ocs_cli_blobs;

/* The compile half of ocs_cli_bc_compile (same arguments); free with ocs_cli_blobs_free. */
ocs_status ocs_cli_bc_compile_regions(const ocs_model *m, ocs_backend *const *bes, size_t nb,
                                      const ocs_cli_inputs *inputs, const char *const *region_specs, size_t n_specs,
                                      ocs_cli_blobs *out, FILE *log, ocs_err *err);
/* The encoding half: the same blobs in one encoding. */
ocs_status ocs_cli_bc_encode(const ocs_cli_blobs *b, ocs_bc_encoding enc, const char *external_stem,
                             ocs_cli_compiled *out, ocs_err *err);
void ocs_cli_blobs_free(ocs_cli_blobs *b);

/*
 * Compiles m's regions for every backend of bes that has a compile step and
 * encodes them.  Regions: `region_specs` ("NAME=node,node,...", by node
 * name), else the scopes m's nodes already carry, else one region per
 * PagedAttention or MoE node.  inputs (may be NULL) are the graph's inputs,
 * used to measure.  external_stem as in ocs_bc_encode.
 */
ocs_status ocs_cli_bc_compile(const ocs_model *m, ocs_backend *const *bes, size_t nb, const ocs_cli_inputs *inputs,
                              const char *const *region_specs, size_t n_specs, ocs_bc_encoding enc,
                              const char *external_stem, ocs_cli_compiled *out, FILE *log, ocs_err *err);
void ocs_cli_compiled_free(ocs_cli_compiled *c);

/* Milliseconds since an arbitrary point (CLOCK_MONOTONIC). */
double ocs_cli_now_ms(void);

#endif
