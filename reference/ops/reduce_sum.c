/*
 * reference/ops/reduce_sum.c - ReduceSum: the sum of the elements over the
 * chosen axes.  Versions 1 and 11 take `axes` as an attribute; version 13
 * takes it as optional input 1 and adds noop_with_empty_axes.  The sum of an
 * empty set is 0.  Floats accumulate in double and round once; integers sum
 * exactly in 64 bits and wrap to the output width.
 */
#include "reduce.h"

ocs_status ocs_ref_ReduceSum(ocs_kernel_args *a)
{
    ocs_red_plan p;
    ocs_status s = ocs_red_plan_init(a, 13, &p);
    if (s != OCS_OK)
        return s;
    const ocs_tensor *x = a->inputs[0];
    if (!ocs_red_is_std_float(x->dtype) && !ocs_red_is_std_int(x->dtype))
        return ocs_dtype_unsupported(a, x, "input 0");

    ocs_tensor *y;
    s = ocs_output(a, 0, x->dtype, p.out_rank, p.out_dims, &y);
    if (s != OCS_OK)
        return s;
    for (size_t o = 0; o < y->numel; o++) {
        ocs_red_sum sum;
        ocs_red_sum_init(&sum, x->dtype);
        for (size_t j = 0; j < p.n_red; j++)
            ocs_red_sum_add(&sum, x, ocs_red_plan_index(&p, o, j));
        ocs_red_sum_store(&sum, y, o);
    }
    return OCS_OK;
}
