/*
 * reference/ops/reduce_mean.c - ReduceMean: the arithmetic mean of the
 * elements over the chosen axes.  Versions 1, 11 and 13 take `axes` as an
 * attribute; version 18 takes it as optional input 1 and adds
 * noop_with_empty_axes.  Floats sum in double and divide before rounding
 * once; integers sum exactly and divide truncating toward zero.  ONNX leaves
 * the mean of an empty set undefined: this gives NaN (floats) or 0.
 */
#include "reduce.h"

ocs_status ocs_ref_ReduceMean(ocs_kernel_args *a)
{
    ocs_red_plan p;
    ocs_status s = ocs_red_plan_init(a, 18, &p);
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
        ocs_red_sum_store_mean(&sum, y, o, p.n_red);
    }
    return OCS_OK;
}
