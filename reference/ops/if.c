/*
 * If - runs then_branch when the scalar condition is true, else_branch
 * otherwise; the node's outputs are the branch's outputs.  Branches read
 * outer values through the enclosing scope.
 */
#include "common.h"

ocs_status ocs_ref_If(ocs_kernel_args *a)
{
    ocs_status st = ocs_need_inputs(a, 1, 1);
    if (st != OCS_OK)
        return st;
    const ocs_tensor *cond = a->inputs[0];
    if (cond->numel != 1)
        return ocs_fail(a->err, OCS_ERR_INVALID, "the condition must hold one element, it has %zu",
                        cond->numel);
    const char *which = ocs_tensor_get_f64(cond, 0) != 0.0 ? "then_branch" : "else_branch";
    const ocs_graph *g = NULL;
    st = ocs_node_attr_graph(a->node, which, &g, a->err);
    if (st != OCS_OK)
        return st;
    if (!g)
        return ocs_fail(a->err, OCS_ERR_INVALID, "attribute %s is missing", which);
    if (g->n_outputs != a->n_outputs)
        return ocs_fail(a->err, OCS_ERR_INVALID, "%s has %zu outputs but the node has %zu", which,
                        g->n_outputs, a->n_outputs);
    return ocs_exec_subgraph(a, g, 0, NULL, a->n_outputs, a->outputs);
}
