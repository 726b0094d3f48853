/*
 * ocs/schema.h - machine-readable schemas of the proposed operators.
 *
 * A schema mirrors ONNX's OpSchema: name, domain, since_version, the
 * documentation, attributes with types and defaults, inputs and outputs with
 * their type constraints (optional, variadic, heterogeneous), plus four
 * functions: type-and-shape inference, a semantic check of a node beyond
 * types, the function body (the operator expressed in standard ONNX ops)
 * and, for the documentation, a small worked example.  The generic checker
 * validates any node against its schema; the executor runs it before a node
 * with a schema executes.  Schemas live in spec/ops/<op>.c and are listed in
 * spec/schema.c.
 */
#ifndef OCS_SCHEMA_H
#define OCS_SCHEMA_H

#include "ocs/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The proposed operators' domain and version. */
#define OCS_PREVIEW_DOMAIN "ai.onnx.preview"

typedef enum ocs_param_option {
    OCS_PARAM_SINGLE = 0,     /* exactly one, required */
    OCS_PARAM_OPTIONAL,       /* may be absent ("" or missing at the end) */
    OCS_PARAM_VARIADIC        /* zero or more (min_arity), last input/output only */
} ocs_param_option;

typedef struct ocs_param_def {
    const char *name;
    const char *type_str;     /* a type constraint name ("T") or a fixed type ("tensor(int32)") */
    ocs_param_option option;
    int heterogeneous;        /* variadic: elements may have different types */
    int min_arity;            /* variadic: fewest elements */
    const char *doc;
} ocs_param_def;

typedef struct ocs_attr_def {
    const char *name;
    ocs_attr_type type;
    int required;
    const char *default_text; /* the default as the docs print it ("0.0", "\"output\""), NULL if none */
    const char *doc;
} ocs_attr_def;

typedef struct ocs_type_constraint {
    const char *name;         /* "T" */
    const ocs_dtype *allowed;
    size_t n_allowed;
    const char *doc;
} ocs_type_constraint;

/* What inference knows about a tensor: its type and shape (dims < 0: unknown). */
typedef struct ocs_tensor_type {
    ocs_dtype dtype;
    int rank;                 /* < 0: rank unknown */
    int64_t dims[OCS_MAX_RANK];
} ocs_tensor_type;

/* A worked example for the documentation: inputs the schema chooses; the
 * outputs are computed by the reference executor when the docs are made. */
typedef struct ocs_doc_example {
    const char *title;
    ocs_graph *graph;         /* a one-node graph with inputs as initializers, owned */
} ocs_doc_example;

typedef struct ocs_schema {
    const char *domain;
    const char *name;
    int since_version;
    const char *summary;      /* Markdown: what the operator computes, with formulas */
    const ocs_attr_def *attrs;
    size_t n_attrs;
    const ocs_param_def *inputs;
    size_t n_inputs;
    const ocs_param_def *outputs;
    size_t n_outputs;
    const ocs_type_constraint *constraints;
    size_t n_constraints;
    const char *const *errors;   /* every error condition, one sentence each (Markdown) */
    size_t n_errors;
    const char *conventions;     /* Markdown: comparison with ORT, vLLM, FlashInfer, ONNX */

    /*
     * Static check of a node beyond what the generic checker does (attribute
     * values and their combinations, input counts that depend on attributes).
     */
    ocs_status (*check)(const ocs_node *n, ocs_err *err);
    /*
     * Output types and shapes from input types and shapes (in[i].dtype is
     * OCS_UNDEFINED for an absent input); fills out[0..n_out).
     */
    ocs_status (*infer)(const ocs_node *n, size_t n_in, const ocs_tensor_type *in, size_t n_out,
                        ocs_tensor_type *out, ocs_err *err);
    /*
     * The function body: appends to g the standard-op nodes that compute the
     * node's outputs (by their names) from its inputs (by their names); may
     * depend on the input types (context-dependent, as ONNX allows).  Names of
     * intermediate values start with the node's first output name and "__".
     * NULL when the operator has no body.
     */
    ocs_status (*body)(const ocs_node *n, size_t n_in, const ocs_tensor_type *in, ocs_graph *g,
                       ocs_err *err);
    int body_opset;              /* the default-domain opset the body's nodes need */
    /* Builds the documentation's worked example; NULL when there is none. */
    ocs_status (*example)(ocs_doc_example *ex, ocs_err *err);
} ocs_schema;

/* The schema of (domain, name) that applies at opset version, or NULL. */
const ocs_schema *ocs_schema_find(const char *domain, const char *name, int64_t version);
/* Iterates every schema: entry i, or NULL past the end. */
const ocs_schema *ocs_schema_at(size_t i);

/*
 * Generic check of a node against s: input and output counts (optional and
 * variadic rules), required attributes present, every attribute known and
 * of its declared type; then s->check.  Messages name the node and the
 * attribute or input.
 */
ocs_status ocs_schema_check_node(const ocs_schema *s, const ocs_node *n, ocs_err *err);

/*
 * Checks the input types against the type constraints (one type per
 * constraint name across all inputs bound to it, from the allowed list;
 * fixed types exactly) and runs s->infer when in[] has shapes.
 */
ocs_status ocs_schema_check_types(const ocs_schema *s, const ocs_node *n, size_t n_in,
                                  const ocs_tensor_type *in, ocs_err *err);

/*
 * The `_expanded` variant of a model: a deep copy in which every node of the
 * main graph whose schema has a function body is replaced by that body
 * (input types come from the graph's declared inputs, value_info and
 * initializers).  The default-domain import is raised to the bodies'
 * body_opset when lower.  *out is owned by the caller.
 */
ocs_status ocs_model_expand(const ocs_model *m, ocs_model **out, ocs_err *err);

/*
 * What graph g says about value `name`: an initializer's type and shape,
 * else a declared input's, value_info's or output's (dims < 0 where
 * symbolic); dtype OCS_UNDEFINED and rank -1 when g says nothing.
 */
void ocs_graph_value_type(const ocs_graph *g, const char *name, ocs_tensor_type *t);

/* The type of a tensor, for inference and checking. */
void ocs_tensor_type_of(const ocs_tensor *t, ocs_tensor_type *out);

#ifdef __cplusplus
}
#endif
#endif /* OCS_SCHEMA_H */
