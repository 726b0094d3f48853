/*
 * ocs/exec.h - the reference executor and the kernel interface.
 *
 * A session checks a model once (every op resolvable at the model's opset,
 * no cycles, every value defined before use) and then runs it node by node
 * in topological order.  Model-local functions are expanded inline; If, Loop
 * and Scan run their subgraphs through ocs_exec_subgraph, with the calling
 * node's scope visible as the outer scope.
 *
 * A kernel is one C function per operator (reference/ops/<op>.c).  It reads
 * its inputs and attributes, allocates each output with ocs_tensor_new and
 * stores it in outputs[i]; the executor owns and frees what the kernel
 * stored.  A kernel reports a bad input with ocs_fail(a->err, ...) and
 * returns non-OCS_OK; the executor adds the node's name to the message.
 */
#ifndef OCS_EXEC_H
#define OCS_EXEC_H

#include "ocs/model.h"
#include "ocs/value.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ocs_scope ocs_scope;   /* opaque: the values visible to a node */

typedef struct ocs_kernel_args {
    const ocs_node *node;        /* attributes already resolved (no references) */
    int64_t since_version;       /* the operator version that applies */
    size_t n_inputs;
    const ocs_tensor *const *inputs;   /* NULL where the input is absent (or not a tensor) */
    const ocs_value *const *values;    /* the inputs that are sequences or optionals, else NULL;
                                          only operators listed with OCS_OP_V receive any */
    size_t n_outputs;
    ocs_tensor **outputs;        /* all NULL on entry; the kernel fills them */
    ocs_value **out_values;      /* an OCS_OP_V kernel may produce output i here instead */
    ocs_scope *scope;            /* for subgraphs (If, Loop, Scan) */
    ocs_err *err;
    /*
     * Inputs the kernel may take over, or NULL.  Where donatable[i] is set,
     * input i is a tensor the executor owns and that nothing reads after
     * this node (an intermediate value at its last use, named once among
     * the node's inputs; never a graph input or an initializer).  A kernel
     * takes it by storing inputs[i] itself as one of its outputs, and may
     * then write into it: a cache updated in place instead of copied.  The
     * executor hands it over instead of freeing it.  Storing any other input
     * as an output is an error.
     */
    const unsigned char *donatable;
} ocs_kernel_args;

typedef ocs_status (*ocs_kernel_fn)(ocs_kernel_args *a);

/* Whether output i is consumed (its name is non-empty). */
int ocs_kernel_output_wanted(const ocs_kernel_args *a, size_t i);

/*
 * Runs subgraph g (an attribute of a->node) with a's scope as its outer
 * scope.  inputs bind to g's inputs in order; outputs[i] receives a new
 * tensor for g's output i (owned by the caller).  Used by control-flow
 * kernels only.
 */
ocs_status ocs_exec_subgraph(const ocs_kernel_args *a, const ocs_graph *g,
                             size_t n_inputs, const ocs_tensor *const *inputs,
                             size_t n_outputs, ocs_tensor **outputs);

/* ---- operator registry --------------------------------------------------------- */

typedef struct ocs_op_def {
    const char *domain;          /* "" for ai.onnx */
    const char *name;
    const int *versions;         /* since_version of each schema version, ascending */
    size_t n_versions;
    ocs_kernel_fn kernel;        /* the reference kernel */
    int takes_values;            /* accepts sequence and optional values, not only tensors */
} ocs_op_def;

/* The registry entry for (domain, name), or NULL. */
const ocs_op_def *ocs_op_find(const char *domain, const char *name);
/* Highest since_version <= opset, or -1 when the op does not exist at that opset. */
int64_t ocs_op_since_version(const ocs_op_def *op, int64_t opset);
/* Iterates the registry: entry i, or NULL past the end. */
const ocs_op_def *ocs_op_at(size_t i);

/* ---- sessions ------------------------------------------------------------------------ */

typedef struct ocs_session ocs_session;

/*
 * Checks model m and prepares to run it.  m must outlive the session.
 * Fails with OCS_ERR_UNSUPPORTED (naming the op) when an op has no kernel,
 * and with OCS_ERR_INVALID for a malformed graph (cycle, undefined value,
 * missing opset import, op unknown at the model's opset).
 */
ocs_status ocs_session_new(const ocs_model *m, ocs_session **out, ocs_err *err);

/*
 * Runs the main graph.  inputs[i] binds the graph input named names[i]
 * (borrowed); an unbound input that has an initializer uses it.  outputs[j]
 * receives a new tensor for the graph's output j, owned by the caller;
 * n_outputs must equal the graph's output count.
 */
ocs_status ocs_session_run(ocs_session *s, size_t n_inputs, const char *const *names,
                           const ocs_tensor *const *inputs, size_t n_outputs,
                           ocs_tensor **outputs, ocs_err *err);

/*
 * As ocs_session_run, but the run takes the input tensors over: the caller
 * must not use or free inputs[i] afterwards (each is freed by the run, on
 * failure too, or comes back as an output), and gives each tensor once.
 * An input at its last use can then be donated to a kernel
 * (ocs_kernel_args.donatable) and updated in place: the KV caches of a
 * PagedAttention whose cache outputs are wanted are, on the cpu backend,
 * instead of being copied whole on every call.
 */
ocs_status ocs_session_run_donated(ocs_session *s, size_t n_inputs, const char *const *names,
                                   ocs_tensor **inputs, size_t n_outputs, ocs_tensor **outputs, ocs_err *err);

/*
 * The same with values: inputs may be tensors, sequences or optionals
 * (borrowed); outputs[j] receives a new value owned by the caller.
 */
ocs_status ocs_session_run_values(ocs_session *s, size_t n_inputs, const char *const *names,
                                  const ocs_value *const *inputs, size_t n_outputs,
                                  ocs_value **outputs, ocs_err *err);
void ocs_session_free(ocs_session *s);

#ifdef __cplusplus
}
#endif
#endif /* OCS_EXEC_H */
