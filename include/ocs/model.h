/*
 * ocs/model.h - the project's own model structures, and loading and saving
 * ONNX files.
 *
 * Protobuf structures stop at the loader: ocs_model_load_* parses the bytes,
 * validates them and converts everything into the plain structs below; the
 * writer converts back.  Every string here is owned and NUL-terminated; every
 * array is owned and sized by the n_ field beside it.  An ocs_model owns all
 * of its graphs, nodes, attributes and tensors; ocs_model_free releases them.
 */
#ifndef OCS_MODEL_H
#define OCS_MODEL_H

#include <stdint.h>
#include <stddef.h>
#include "ocs/status.h"
#include "ocs/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ocs_kv {
    char *key;
    char *value;
} ocs_kv;

/* ---- types of values (ValueInfoProto / TypeProto) ---------------------- */

typedef enum ocs_type_kind {
    OCS_TYPE_NONE = 0,     /* TypeProto with no value set */
    OCS_TYPE_TENSOR,
    OCS_TYPE_SEQUENCE,
    OCS_TYPE_OPTIONAL,
    OCS_TYPE_MAP,
    OCS_TYPE_SPARSE_TENSOR
} ocs_type_kind;

typedef struct ocs_dim {
    int64_t value;   /* -1 when the dimension is symbolic or unknown */
    char *param;     /* symbolic name, or NULL */
} ocs_dim;

typedef struct ocs_type {
    ocs_type_kind kind;
    ocs_dtype elem;          /* tensor / sparse tensor element type; map value key type */
    int has_shape;           /* 0: rank unknown */
    int rank;
    ocs_dim *dims;           /* rank entries when has_shape */
    struct ocs_type *inner;  /* sequence / optional element, map value type */
} ocs_type;

typedef struct ocs_value_info {
    char *name;
    ocs_type type;
    char *doc;
} ocs_value_info;

/* ---- attributes -------------------------------------------------------------- */

typedef enum ocs_attr_type {
    OCS_ATTR_UNDEFINED = 0,
    OCS_ATTR_FLOAT = 1,
    OCS_ATTR_INT = 2,
    OCS_ATTR_STRING = 3,
    OCS_ATTR_TENSOR = 4,
    OCS_ATTR_GRAPH = 5,
    OCS_ATTR_FLOATS = 6,
    OCS_ATTR_INTS = 7,
    OCS_ATTR_STRINGS = 8,
    OCS_ATTR_TENSORS = 9,
    OCS_ATTR_GRAPHS = 10,
    OCS_ATTR_SPARSE_TENSOR = 11,
    OCS_ATTR_SPARSE_TENSORS = 12,
    OCS_ATTR_TYPE_PROTO = 13,
    OCS_ATTR_TYPE_PROTOS = 14
} ocs_attr_type;

/* A sparse tensor in COO form (SparseTensorProto). */
typedef struct ocs_sparse {
    ocs_tensor *values;   /* [NNZ] */
    ocs_tensor *indices;  /* int64 [NNZ, rank] or [NNZ] (linearised) */
    int rank;
    int64_t dims[OCS_MAX_RANK];
} ocs_sparse;

struct ocs_graph;

typedef struct ocs_attr {
    char *name;
    ocs_attr_type type;
    char *ref_attr_name;     /* inside function bodies: the caller attribute referred to; else NULL */
    char *doc;
    float f;
    int64_t i;
    ocs_string s;
    ocs_tensor *t;
    struct ocs_graph *g;
    ocs_sparse *sparse;
    ocs_type *tp;
    size_t n;                /* length of the one list that matches type */
    float *floats;
    int64_t *ints;
    ocs_string *strings;
    ocs_tensor **tensors;
    struct ocs_graph **graphs;
    ocs_sparse **sparses;
    ocs_type *tps;
} ocs_attr;

/* ---- nodes, graphs, functions, models -------------------------------------------- */

typedef struct ocs_node {
    char *name;
    char *op_type;
    char *domain;            /* "" for the default ONNX domain */
    char *overload;
    char *doc;
    size_t n_inputs;
    char **inputs;           /* "" marks an absent optional input */
    size_t n_outputs;
    char **outputs;          /* "" marks an unused optional output */
    size_t n_attrs;
    ocs_attr *attrs;
    size_t n_meta;
    ocs_kv *meta;            /* metadata_props */
} ocs_node;

typedef struct ocs_initializer {
    char *name;
    ocs_tensor *tensor;
} ocs_initializer;

typedef struct ocs_graph {
    char *name;
    char *doc;
    size_t n_nodes;
    ocs_node *nodes;
    size_t n_inits;
    ocs_initializer *inits;  /* sparse initializers are stored densified */
    size_t n_inputs;
    ocs_value_info *inputs;
    size_t n_outputs;
    ocs_value_info *outputs;
    size_t n_value_info;
    ocs_value_info *value_info;
    size_t n_meta;
    ocs_kv *meta;
} ocs_graph;

typedef struct ocs_opset {
    char *domain;            /* "" for the default domain ("ai.onnx" is normalised to "") */
    int64_t version;
} ocs_opset;

typedef struct ocs_function {
    char *name;
    char *domain;
    char *overload;
    char *doc;
    size_t n_inputs;
    char **inputs;
    size_t n_outputs;
    char **outputs;
    size_t n_attr_names;
    char **attr_names;       /* attributes without a default */
    size_t n_attr_defaults;
    ocs_attr *attr_defaults; /* attributes with a default (attribute_proto) */
    size_t n_nodes;
    ocs_node *nodes;
    size_t n_opsets;
    ocs_opset *opsets;
    size_t n_value_info;
    ocs_value_info *value_info;
    size_t n_meta;
    ocs_kv *meta;
} ocs_function;

typedef struct ocs_model {
    int64_t ir_version;
    char *producer_name;
    char *producer_version;
    char *domain;
    int64_t model_version;
    char *doc;
    size_t n_opsets;
    ocs_opset *opsets;
    ocs_graph *graph;
    size_t n_functions;
    ocs_function *functions;
    size_t n_meta;
    ocs_kv *meta;
    char *dir;               /* folder external data is resolved against; "" if none */
} ocs_model;

/* ---- loading and saving ------------------------------------------------------------- */

/* Reads path, resolving external data against the file's folder.  *out is owned by the caller. */
ocs_status ocs_model_load_file(const char *path, ocs_model **out, ocs_err *err);
/* Parses len bytes.  base_dir (may be NULL) is where external data lives; without it
 * a model that references external data is an error. */
ocs_status ocs_model_load_memory(const void *buf, size_t len, const char *base_dir,
                                 ocs_model **out, ocs_err *err);
/* Serialises with every tensor inline (raw_data).  *buf is malloc'd; caller frees. */
ocs_status ocs_model_save_memory(const ocs_model *m, void **buf, size_t *len, ocs_err *err);
/* Writes atomically: a temporary file in the same folder, then rename. */
ocs_status ocs_model_save_file(const ocs_model *m, const char *path, ocs_err *err);
void ocs_model_free(ocs_model *m);

/* The model's imported version of domain ("" and "ai.onnx" are the same); -1 if not imported. */
int64_t ocs_model_opset(const ocs_model *m, const char *domain);
/* Looks up a model-local function by (domain, name, overload); NULL if none. */
const ocs_function *ocs_model_function(const ocs_model *m, const char *domain,
                                       const char *name, const char *overload);

/*
 * Reads one TensorProto file (as ONNX test data is stored) into a tensor.
 * base_dir resolves external data (may be NULL: then external data is an error).
 * *name (if non-NULL) receives the tensor's name, owned by the caller.
 */
ocs_status ocs_tensor_load_file(const char *path, ocs_tensor **out, char **name, ocs_err *err);
ocs_status ocs_tensor_load_memory(const void *buf, size_t len, const char *base_dir,
                                  ocs_tensor **out, char **name, ocs_err *err);
/* Writes a tensor as a TensorProto file (raw_data), atomically. */
ocs_status ocs_tensor_save_file(const ocs_tensor *t, const char *name, const char *path, ocs_err *err);

/* ---- attribute access for kernels ------------------------------------------------ */
/* Each getter fails with a message naming the node and attribute when the
 * attribute is present with another type; an absent attribute yields the default. */
const ocs_attr *ocs_node_attr(const ocs_node *n, const char *name);
const char *ocs_attr_type_name(ocs_attr_type t);
ocs_status ocs_node_attr_int(const ocs_node *n, const char *name, int64_t dflt, int64_t *out, ocs_err *err);
ocs_status ocs_node_attr_float(const ocs_node *n, const char *name, float dflt, float *out, ocs_err *err);
ocs_status ocs_node_attr_string(const ocs_node *n, const char *name, const char *dflt,
                                const char **out, ocs_err *err);
/* *vals is NULL and *count 0 when absent; *present (may be NULL) tells which. */
ocs_status ocs_node_attr_ints(const ocs_node *n, const char *name, const int64_t **vals,
                              size_t *count, int *present, ocs_err *err);
ocs_status ocs_node_attr_floats(const ocs_node *n, const char *name, const float **vals,
                                size_t *count, int *present, ocs_err *err);
/* *out is NULL when absent.  Borrowed from the node. */
ocs_status ocs_node_attr_tensor(const ocs_node *n, const char *name, const ocs_tensor **out, ocs_err *err);
ocs_status ocs_node_attr_graph(const ocs_node *n, const char *name, const ocs_graph **out, ocs_err *err);

/* A short label for messages: "Add node 'foo'", or "Relu node (unnamed, output 'y')". */
const char *ocs_node_label(const ocs_node *n, char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif /* OCS_MODEL_H */
