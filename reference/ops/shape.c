/*
 * reference/ops/shape.c - Shape (versions 1, 13, 15, 19, 21, 23, 24, 25).
 *
 * Outputs the input's dimensions as a 1-D int64 tensor.  From version 15 the
 * attributes start (default 0) and end (default rank) select dims[start:end]:
 * negative values have the rank added, then both are clamped to [0, rank];
 * start >= end gives an empty result.
 */
#include "common.h"

ocs_status ocs_ref_Shape(ocs_kernel_args *a)
{
    ocs_status s = ocs_need_inputs(a, 1, 1);
    if (s != OCS_OK)
        return s;
    const ocs_tensor *x = a->inputs[0];
    int64_t r = x->rank, start = 0, end = r;
    if (a->since_version >= 15) {
        if ((s = ocs_node_attr_int(a->node, "start", 0, &start, a->err)) != OCS_OK ||
            (s = ocs_node_attr_int(a->node, "end", r, &end, a->err)) != OCS_OK)
            return s;
    } else if (ocs_node_attr(a->node, "start") || ocs_node_attr(a->node, "end")) {
        return ocs_fail(a->err, OCS_ERR_INVALID, "Shape-%lld has no attributes 'start' and 'end' (added in version 15)",
                        (long long)a->since_version);
    }
    if (start < 0)
        start += r;
    if (end < 0)
        end += r;
    start = start < 0 ? 0 : start > r ? r : start;
    end = end < 0 ? 0 : end > r ? r : end;
    int64_t n = end > start ? end - start : 0;

    ocs_tensor *out = NULL;
    if ((s = ocs_output(a, 0, OCS_INT64, 1, &n, &out)) != OCS_OK)
        return s;
    int64_t *o = out->data;
    for (int64_t i = 0; i < n; i++)
        o[i] = x->dims[start + i];
    return OCS_OK;
}
