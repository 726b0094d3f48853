/*
 * reference/ops/cum_sum.c - CumSum: running sums along the axis given by
 * input 1 (a 0-D int32/int64 tensor; a 1-D tensor of one element is also
 * accepted).  exclusive=1 leaves the current element out of its own sum;
 * reverse=1 sums from the end of the axis.  Floats accumulate in double and
 * round once per output; integers sum exactly in 64 bits.  Versions 11 and
 * 14 differ only in the types allowed (14 adds float16 and bfloat16).
 */
#include "reduce.h"

#include <stdlib.h>

ocs_status ocs_ref_CumSum(ocs_kernel_args *a)
{
    ocs_status s = ocs_need_inputs(a, 2, 2);
    if (s != OCS_OK)
        return s;
    const ocs_tensor *x = a->inputs[0];
    if (!ocs_red_is_std_float(x->dtype) && !ocs_red_is_std_int(x->dtype))
        return ocs_dtype_unsupported(a, x, "input 0");

    int64_t *axis_vals = NULL;
    size_t n_axis = 0;
    if ((s = ocs_read_ints(a, a->inputs[1], "axis (input 1)", &axis_vals, &n_axis)) != OCS_OK)
        return s;
    int64_t axis_in = n_axis == 1 ? axis_vals[0] : 0;
    free(axis_vals);
    if (n_axis != 1)
        return ocs_fail(a->err, OCS_ERR_INVALID, "axis (input 1) must hold one value, it holds %zu",
                        n_axis);

    int64_t exclusive, reverse;
    if ((s = ocs_node_attr_int(a->node, "exclusive", 0, &exclusive, a->err)) != OCS_OK ||
        (s = ocs_node_attr_int(a->node, "reverse", 0, &reverse, a->err)) != OCS_OK)
        return s;
    int axis;
    if ((s = ocs_axis(a, axis_in, x->rank, "axis (input 1)", &axis)) != OCS_OK)
        return s;

    ocs_tensor *y;
    s = ocs_output(a, 0, x->dtype, x->rank, x->dims, &y);
    if (s != OCS_OK || x->numel == 0)
        return s;

    ocs_axis_view v;
    ocs_axis_view_init(&v, x, axis);
    for (size_t o = 0; o < v.outer; o++) {
        for (size_t i = 0; i < v.inner; i++) {
            ocs_red_sum sum;
            ocs_red_sum_init(&sum, x->dtype);
            for (size_t step = 0; step < v.n; step++) {
                size_t j = reverse ? v.n - 1 - step : step;
                size_t k = ocs_axis_view_index(&v, o, j, i);
                if (exclusive) {
                    ocs_red_sum_store(&sum, y, k);
                    ocs_red_sum_add(&sum, x, k);
                } else {
                    ocs_red_sum_add(&sum, x, k);
                    ocs_red_sum_store(&sum, y, k);
                }
            }
        }
    }
    return OCS_OK;
}
