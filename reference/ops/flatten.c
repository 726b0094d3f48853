/*
 * reference/ops/flatten.c - Flatten: reshapes input to 2-D
 * [d_0 * ... * d_(axis-1), d_axis * ... * d_(r-1)], elements in order.
 *
 * axis defaults to 1; it may equal the rank (giving [N, 1]) and, from
 * version 11, be negative (counting from the back).  A product over no
 * dimensions is 1.
 */
#include "movement.h"

ocs_status ocs_ref_Flatten(ocs_kernel_args *a)
{
    ocs_status st = ocs_need_inputs(a, 1, 1);
    if (st != OCS_OK)
        return st;
    const ocs_tensor *x = a->inputs[0];
    int64_t axis;
    st = ocs_node_attr_int(a->node, "axis", 1, &axis, a->err);
    if (st != OCS_OK)
        return st;
    int64_t lo = a->since_version >= 11 ? -(int64_t)x->rank : 0;
    if (axis < lo || axis > x->rank)
        return ocs_fail(a->err, OCS_ERR_INVALID, "axis %lld is out of range [%lld, %d] for rank %d",
                        (long long)axis, (long long)lo, x->rank, x->rank);
    if (axis < 0)
        axis += x->rank;
    size_t outer, inner;
    st = ocs_mv_span(a, x->dims, 0, (int)axis, &outer);
    if (st == OCS_OK)
        st = ocs_mv_span(a, x->dims, (int)axis, x->rank, &inner);
    if (st != OCS_OK)
        return st;
    int64_t dims[2] = {(int64_t)outer, (int64_t)inner};
    return ocs_mv_output_copy(a, 0, x, 2, dims);
}
