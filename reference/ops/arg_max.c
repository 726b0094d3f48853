/*
 * reference/ops/arg_max.c - ArgMax: the int64 index of the largest element
 * along `axis` (default 0).  keepdims (default 1) keeps the reduced axis with
 * size 1.  When the maximum occurs more than once the first index wins, or
 * the last one when select_last_index is 1 (version 12 on).  NaN ranks above
 * every number.  The axis must not be empty.
 */
#include "reduce.h"

ocs_status ocs_ref_ArgMax(ocs_kernel_args *a)
{
    ocs_status s = ocs_need_inputs(a, 1, 1);
    if (s != OCS_OK)
        return s;
    const ocs_tensor *x = a->inputs[0];
    if (!ocs_red_is_std_float(x->dtype) && !ocs_red_is_std_int(x->dtype))
        return ocs_dtype_unsupported(a, x, "input 0");

    int64_t axis_attr, keepdims, select_last = 0;
    if ((s = ocs_node_attr_int(a->node, "axis", 0, &axis_attr, a->err)) != OCS_OK ||
        (s = ocs_node_attr_int(a->node, "keepdims", 1, &keepdims, a->err)) != OCS_OK)
        return s;
    if (a->since_version >= 12 &&
        (s = ocs_node_attr_int(a->node, "select_last_index", 0, &select_last, a->err)) != OCS_OK)
        return s;
    int axis;
    if ((s = ocs_axis(a, axis_attr, x->rank, "attribute axis", &axis)) != OCS_OK)
        return s;
    if (x->dims[axis] == 0)
        return ocs_fail(a->err, OCS_ERR_INVALID, "axis %d of input 0 has size 0; there is no maximum",
                        axis);

    int out_rank = 0;
    int64_t out_dims[OCS_MAX_RANK];
    for (int i = 0; i < x->rank; i++) {
        if (i != axis)
            out_dims[out_rank++] = x->dims[i];
        else if (keepdims)
            out_dims[out_rank++] = 1;
    }
    ocs_tensor *y;
    s = ocs_output(a, 0, OCS_INT64, out_rank, out_dims, &y);
    if (s != OCS_OK || x->numel == 0)
        return s;

    /* Output element (o, i) sits at o * inner + i whether or not the axis is kept. */
    ocs_axis_view v;
    ocs_axis_view_init(&v, x, axis);
    for (size_t o = 0; o < v.outer; o++) {
        for (size_t i = 0; i < v.inner; i++) {
            size_t best = 0;
            for (size_t j = 1; j < v.n; j++) {
                int c = ocs_red_cmp(x, ocs_axis_view_index(&v, o, j, i),
                                    ocs_axis_view_index(&v, o, best, i));
                if (c > 0 || (c == 0 && select_last))
                    best = j;
            }
            ocs_tensor_set_i64(y, o * v.inner + i, (int64_t)best);
        }
    }
    return OCS_OK;
}
