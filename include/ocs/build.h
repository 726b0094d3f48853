/*
 * ocs/build.h - building models in C.
 *
 * The conformance runner materialises each case as a one-node model, and the
 * tests build small graphs; both use these calls instead of filling the
 * structs of model.h by hand.  Every call copies what it is given (strings,
 * tensors), so the caller keeps ownership of its arguments; the returned
 * pointers stay owned by the model and are valid until the next call that
 * adds to the same array (add everything, then look things up).  A failing
 * call leaves the model valid, so ocs_model_free always cleans up.
 */
#ifndef OCS_BUILD_H
#define OCS_BUILD_H

#include "ocs/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A model with an empty main graph, IR version 10 and no opset imports. */
ocs_status ocs_model_new(ocs_model **out, ocs_err *err);
/* Adds (or updates) the import of domain at version. */
ocs_status ocs_model_import(ocs_model *m, const char *domain, int64_t version, ocs_err *err);

/* A standalone graph, for subgraph attributes; freed by ocs_graph_free
 * unless handed to ocs_node_set_graph, which takes ownership. */
ocs_status ocs_graph_new(const char *name, ocs_graph **out, ocs_err *err);
void ocs_graph_free(ocs_graph *g);

/* Graph inputs/outputs: a tensor of dtype with the given shape
 * (rank < 0: shape unknown; a dim < 0: symbolic). */
ocs_status ocs_graph_add_input(ocs_graph *g, const char *name, ocs_dtype t, int rank,
                               const int64_t *dims, ocs_err *err);
ocs_status ocs_graph_add_output(ocs_graph *g, const char *name, ocs_dtype t, int rank,
                                const int64_t *dims, ocs_err *err);
/* Copies t as the initializer `name`. */
ocs_status ocs_graph_add_initializer(ocs_graph *g, const char *name, const ocs_tensor *t, ocs_err *err);

/* Appends a node; inputs/outputs may contain "" for absent optional ones.
 * *out (may be NULL) receives the node, valid until the next node is added. */
ocs_status ocs_graph_add_node(ocs_graph *g, const char *op_type, const char *domain, const char *name,
                              size_t n_inputs, const char *const *inputs, size_t n_outputs,
                              const char *const *outputs, ocs_node **out, ocs_err *err);

ocs_status ocs_node_set_int(ocs_node *n, const char *name, int64_t v, ocs_err *err);
ocs_status ocs_node_set_float(ocs_node *n, const char *name, float v, ocs_err *err);
ocs_status ocs_node_set_string(ocs_node *n, const char *name, const char *v, ocs_err *err);
ocs_status ocs_node_set_ints(ocs_node *n, const char *name, size_t count, const int64_t *v, ocs_err *err);
ocs_status ocs_node_set_floats(ocs_node *n, const char *name, size_t count, const float *v, ocs_err *err);
/* Copies t. */
ocs_status ocs_node_set_tensor(ocs_node *n, const char *name, const ocs_tensor *t, ocs_err *err);
/* Takes ownership of g (also on failure). */
ocs_status ocs_node_set_graph(ocs_node *n, const char *name, ocs_graph *g, ocs_err *err);

#ifdef __cplusplus
}
#endif
#endif /* OCS_BUILD_H */
