/*
 * BackendContext (ai.onnx.preview, 1) - the reference runs the region's
 * normative fallback: the `fallback` graph, its inputs bound to the node's
 * inputs by position and its outputs to the node's outputs.  Blobs are
 * never read here; a session that accepts a blob runs the region on the
 * blob's backend instead (reference/exec.c).
 */
#include "common.h"

ocs_status ocs_ref_BackendContext(ocs_kernel_args *a)
{
    const ocs_graph *g = NULL;
    ocs_status st = ocs_node_attr_graph(a->node, "fallback", &g, a->err);
    if (st != OCS_OK)
        return st;
    if (!g)
        return ocs_fail(a->err, OCS_ERR_INVALID, "BackendContext: the required GRAPH attribute 'fallback' is missing");
    if (g->n_inputs != a->n_inputs || g->n_outputs != a->n_outputs)
        return ocs_fail(a->err, OCS_ERR_INVALID,
                        "BackendContext: the fallback has %zu inputs and %zu outputs, the node %zu and %zu",
                        g->n_inputs, g->n_outputs, a->n_inputs, a->n_outputs);
    return ocs_exec_subgraph(a, g, a->n_inputs, a->inputs, a->n_outputs, a->outputs);
}
