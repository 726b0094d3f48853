/*
 * conformance/case.h - conformance cases: one operator, its attributes,
 * input specifications and a seed, materialised as a one-node model plus
 * input tensors.
 *
 * A generator (conformance/cases/<op>.c) appends cases to a list with
 * ocs_case_add and the ocs_case_* setters; every setter accepts NULL (what
 * ocs_case_add returns when it runs out of memory), so generators need no
 * error handling: ocs_case_list_finish reports the first problem.
 *
 * Inputs are generated at materialisation from the case's seed with a
 * splitmix64 generator, so the same seed gives the same bytes on every
 * machine.  A case's seed is derived from the run's seed and the case name
 * (ocs_case_seed), so it does not depend on which other cases run: the
 * command line `ocs run --seed N --filter '^NAME$'` reproduces one case.
 *
 * A case can also stand for a folder in the ONNX backend-test layout
 * (model.onnx and test_data_set_N/): then only name, op and dir are set.
 */
#ifndef OCS_CASE_H
#define OCS_CASE_H

#include <stdint.h>
#include <stddef.h>

#include "ocs/model.h"
#include "ocs/tensor.h"

#define OCS_CASE_MAX_INPUTS 24
#define OCS_CASE_MAX_OUTPUTS 8
#define OCS_CASE_MAX_ATTRS 16
#define OCS_CASE_NAME_MAX 128

/* ---- deterministic random numbers ------------------------------------------------- */

typedef struct ocs_rng {
    uint64_t state;
} ocs_rng;

void ocs_rng_init(ocs_rng *r, uint64_t seed);
uint64_t ocs_rng_next(ocs_rng *r);                 /* splitmix64 */
double ocs_rng_uniform(ocs_rng *r);                /* [0, 1), 53 bits */
int64_t ocs_rng_int(ocs_rng *r, int64_t lo, int64_t hi);   /* [lo, hi], inclusive */

/* FNV-1a of a string, for seeds and shards. */
uint64_t ocs_hash_str(const char *s);
/* The seed of the case called name in a run with seed run_seed. */
uint64_t ocs_case_seed(uint64_t run_seed, const char *name);
/* The shard (0 .. n-1) a case belongs to in `--shard I/n`: a hash of its name,
 * so shards do not change when other cases come or go. */
int ocs_case_shard(const char *name, int n);

/* ---- cases --------------------------------------------------------------------------- */

typedef enum ocs_fill {
    OCS_FILL_UNIFORM = 0,    /* floats uniform in [lo, hi); integers and bool uniform in [lo, hi] */
    OCS_FILL_VALUES,         /* the listed values in order (rounded to the type) */
    OCS_FILL_INTS,           /* the listed integers in order, exactly */
    OCS_FILL_PERMUTATION     /* numel distinct integers drawn from [lo, hi] in random order */
} ocs_fill;

typedef struct ocs_case_input {
    char name[32];           /* graph input name; "" for an absent optional input */
    ocs_dtype dtype;
    int rank;
    int64_t dims[OCS_MAX_RANK];
    ocs_fill fill;
    double lo, hi;
    size_t n_values;
    double *values;          /* VALUES: owned */
    int64_t *ints;           /* INTS: owned */
} ocs_case_input;

typedef struct ocs_case ocs_case;

struct ocs_case_inst;

/* Builds a GRAPH attribute (MoE hooks).  *out is owned by the caller. */
typedef ocs_status (*ocs_case_graph_fn)(const ocs_case *c, int arg, ocs_graph **out, ocs_err *err);

typedef struct ocs_case_attr {
    char name[32];
    ocs_attr_type type;      /* INT, FLOAT, STRING, INTS, FLOATS or GRAPH */
    int64_t i;
    float f;
    char *s;                 /* owned */
    size_t n;
    int64_t *ints;           /* owned */
    float *floats;           /* owned */
    ocs_case_graph_fn graph;
    int graph_arg;
} ocs_case_attr;

/*
 * Builds a case's whole model instead of the one-node model (multi-node and
 * compiled BackendContext models): sets ci->model, whose graph inputs come
 * first in the order of the case's inputs, and may set ci->tmpdir (malloc'd),
 * a folder of files the model reads, removed by ocs_case_inst_free.
 */
typedef ocs_status (*ocs_case_model_fn)(const ocs_case *c, struct ocs_case_inst *ci, ocs_err *err);

struct ocs_case {
    char name[OCS_CASE_NAME_MAX];   /* unique: the test name and the exported folder */
    char op[64];
    char domain[64];                /* "" for ai.onnx */
    int64_t opset;                  /* the model's import of domain */
    int64_t default_opset;          /* the import of "" when domain is another one; 0: none */
    size_t n_inputs;
    ocs_case_input inputs[OCS_CASE_MAX_INPUTS];
    size_t n_outputs;
    char outputs[OCS_CASE_MAX_OUTPUTS][32];        /* "" for an unused optional output */
    ocs_dtype output_types[OCS_CASE_MAX_OUTPUTS];
    size_t n_attrs;
    ocs_case_attr attrs[OCS_CASE_MAX_ATTRS];
    uint64_t seed;                  /* set by ocs_case_list_seed */
    double rtol, atol;              /* overrides for every float type; < 0: the per-type default */
    double max_ulp, max_nmse;       /* extra limits; < 0: none */
    char *xfail;                    /* expected failure: the reason (owned), or NULL */
    char *xfail_backends;           /* comma-separated backends it applies to; NULL: all */
    char *expect_error;             /* an invalid input: the reference must reject it with a message
                                       containing this text ("" for any message); NULL otherwise */
    char *dir;                      /* a test folder instead of a generated case (owned), or NULL */
    ocs_case_model_fn model;        /* builds the model instead of the one-node model; NULL: one node */
    int model_arg;
    char expect_backend[32];        /* BackendContext: the backend whose selection is checked */
    char expect_reason[32];         /* ... must log this reason (ocs_bc_reason_name) for the region */
    char error[160];                /* what a setter rejected, reported by ocs_case_list_finish */
};

typedef struct ocs_case_list {
    ocs_case *items;
    size_t n, cap;
    int oom;
} ocs_case_list;

void ocs_case_list_init(ocs_case_list *l);
void ocs_case_list_free(ocs_case_list *l);
/*
 * Appends a case for (domain, op) at opset; its name is "test_" followed by
 * the formatted suffix.  Returns the case (valid until the next add) or
 * NULL when out of memory.
 */
ocs_case *ocs_case_add(ocs_case_list *l, const char *domain, const char *op, int64_t opset, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Appends a case for an ONNX backend-test folder. */
ocs_case *ocs_case_add_dir(ocs_case_list *l, const char *name, const char *op, const char *dir);
/* Frees what one case owns (its value lists, strings); the case stays valid and empty. */
void ocs_case_clear(ocs_case *c);
/* Checks every case (setter errors, duplicate names); the first problem goes to err. */
ocs_status ocs_case_list_finish(ocs_case_list *l, ocs_err *err);
/* Derives every case's seed from the run's seed. */
void ocs_case_list_seed(ocs_case_list *l, uint64_t run_seed);

/* Inputs, in node order.  dims has rank entries. */
void ocs_case_input_uniform(ocs_case *c, const char *name, ocs_dtype t, int rank, const int64_t *dims, double lo,
                            double hi);
void ocs_case_input_values(ocs_case *c, const char *name, ocs_dtype t, int rank, const int64_t *dims,
                           const double *values);
void ocs_case_input_ints(ocs_case *c, const char *name, ocs_dtype t, int rank, const int64_t *dims,
                         const int64_t *values);
void ocs_case_input_permutation(ocs_case *c, const char *name, ocs_dtype t, int rank, const int64_t *dims,
                                int64_t lo, int64_t hi);
/* An absent optional input ("" in the node). */
void ocs_case_input_absent(ocs_case *c);
/* Outputs in node order; name "" for an unused optional output. */
void ocs_case_output(ocs_case *c, const char *name, ocs_dtype t);

void ocs_case_attr_int(ocs_case *c, const char *name, int64_t v);
void ocs_case_attr_float(ocs_case *c, const char *name, float v);
void ocs_case_attr_string(ocs_case *c, const char *name, const char *v);
void ocs_case_attr_ints(ocs_case *c, const char *name, size_t n, const int64_t *v);
void ocs_case_attr_floats(ocs_case *c, const char *name, size_t n, const float *v);
void ocs_case_attr_graph(ocs_case *c, const char *name, ocs_case_graph_fn fn, int arg);

void ocs_case_tolerance(ocs_case *c, double rtol, double atol);
/* Marks an expected failure on backends (comma-separated; NULL: all). */
void ocs_case_xfail(ocs_case *c, const char *backends, const char *reason);
/*
 * Marks c as an invalid input: the reference must fail on it with a message
 * containing `message` ("" for any), and every backend must return an error
 * too (without crashing); a backend that returns outputs FAILs.  Such cases
 * are not exported (the ONNX layout has no way to say "must fail").
 */
void ocs_case_expect_error(ocs_case *c, const char *message);
/*
 * Gives c a model builder (see ocs_case_model_fn).  Such cases are not
 * exported: their models may read files that the layout cannot carry.
 */
void ocs_case_set_model(ocs_case *c, ocs_case_model_fn fn, int arg);
/*
 * A BackendContext case: on backend `backend`, the session's selection must
 * give every region an attempt with reason `reason` ("accepted",
 * "checksum mismatch", ...), and the outputs must still equal the golden.
 */
void ocs_case_expect_selection(ocs_case *c, const char *backend, const char *reason);
/* Whether c is an expected failure on backend; returns the reason or NULL. */
const char *ocs_case_xfail_for(const ocs_case *c, const char *backend);

/* ---- materialisation ----------------------------------------------------------------- */

typedef struct ocs_case_inst {
    ocs_model *model;
    size_t n_in;                                  /* graph inputs, in order */
    const char *in_names[OCS_CASE_MAX_INPUTS];    /* borrowed from the model */
    ocs_tensor *in[OCS_CASE_MAX_INPUTS];          /* owned */
    size_t n_out;                                 /* graph outputs, in order */
    const char *out_names[OCS_CASE_MAX_OUTPUTS];  /* borrowed from the model */
    ocs_tensor *ref[OCS_CASE_MAX_OUTPUTS];        /* the reference outputs once computed, owned */
    char *tmpdir;                                 /* files the model reads (removed on free), or NULL */
} ocs_case_inst;

/*
 * The one-node model of c; graph outputs declare the case's output types,
 * with the shapes of shapes[i] when shapes is non-NULL, else unknown.
 * *out is owned by the caller.
 */
ocs_status ocs_case_model(const ocs_case *c, const ocs_tensor *const *shapes, ocs_model **out, ocs_err *err);
/* The model and the seeded inputs.  Free with ocs_case_inst_free (also on failure). */
ocs_status ocs_case_instantiate(const ocs_case *c, ocs_case_inst *ci, ocs_err *err);
/* Runs the reference executor on the instance; fills ci->ref. */
ocs_status ocs_case_reference(ocs_case_inst *ci, ocs_err *err);
void ocs_case_inst_free(ocs_case_inst *ci);

/* Whether some node of m's main graph has a schema with a function body. */
int ocs_model_has_body(const ocs_model *m);

/*
 * Writes c in the ONNX backend-test layout: dir/<name>/model.onnx,
 * test_data_set_0/input_<i>.pb and output_<i>.pb (ci->ref), and
 * model_expanded.onnx when the operator has a function body.  written (may
 * be NULL) receives the number of files written.  A case with a model
 * builder (ocs_case_set_model) writes nothing.
 */
ocs_status ocs_case_export(const ocs_case *c, const ocs_case_inst *ci, const char *dir, size_t *written,
                           ocs_err *err);

/* ---- files ------------------------------------------------------------------------------ */

/* mkdir -p. */
ocs_status ocs_path_mkdirs(const char *path, ocs_err *err);
/* Writes len bytes to path through a temporary file in the same folder and rename. */
ocs_status ocs_write_atomic(const char *path, const void *data, size_t len, ocs_err *err);
/* Where temporary trees go: $TMPDIR, else /dev/shm when writable (no disk
 * flushes), else /tmp. */
const char *ocs_temp_base(void);
/* rm -rf (does not follow symbolic links). */
ocs_status ocs_path_remove_tree(const char *path, ocs_err *err);

#endif
