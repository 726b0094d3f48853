/*
 * reference/ops/reduce_max.c - ReduceMax: the largest element over the
 * chosen axes.  Versions 1 to 13 take `axes` as an attribute; versions 18
 * and 20 take it as optional input 1 and add noop_with_empty_axes; version
 * 20 adds bool (false < true).  A NaN in the set makes the result NaN.  The
 * maximum of an empty set is -inf for floats, the type's minimum for
 * integers and false for bool.
 */
#include "reduce.h"

#include <math.h>
#include <stdint.h>

/* The value ReduceMax gives for an empty set. */
static void store_lowest(ocs_tensor *y, size_t o)
{
    switch (y->dtype) {
    case OCS_INT8:  ocs_tensor_set_i64(y, o, INT8_MIN); break;
    case OCS_INT16: ocs_tensor_set_i64(y, o, INT16_MIN); break;
    case OCS_INT32: ocs_tensor_set_i64(y, o, INT32_MIN); break;
    case OCS_INT64: ocs_tensor_set_i64(y, o, INT64_MIN); break;
    case OCS_FLOAT16: case OCS_BFLOAT16: case OCS_FLOAT: case OCS_DOUBLE:
        ocs_tensor_set_f64(y, o, -INFINITY);
        break;
    default:        /* unsigned integers and bool */
        ocs_tensor_set_i64(y, o, 0);
        break;
    }
}

ocs_status ocs_ref_ReduceMax(ocs_kernel_args *a)
{
    ocs_red_plan p;
    ocs_status s = ocs_red_plan_init(a, 18, &p);
    if (s != OCS_OK)
        return s;
    const ocs_tensor *x = a->inputs[0];
    if (!ocs_red_is_std_float(x->dtype) && !ocs_red_is_std_int(x->dtype) && x->dtype != OCS_BOOL)
        return ocs_dtype_unsupported(a, x, "input 0");

    ocs_tensor *y;
    s = ocs_output(a, 0, x->dtype, p.out_rank, p.out_dims, &y);
    if (s != OCS_OK)
        return s;
    for (size_t o = 0; o < y->numel; o++) {
        if (p.n_red == 0) {
            store_lowest(y, o);
            continue;
        }
        /* ocs_red_cmp ranks NaN above every number, so a NaN wins. */
        size_t best = ocs_red_plan_index(&p, o, 0);
        for (size_t j = 1; j < p.n_red; j++) {
            size_t k = ocs_red_plan_index(&p, o, j);
            if (ocs_red_cmp(x, k, best) > 0)
                best = k;
        }
        s = ocs_red_copy_elem(a, y, o, x, best);
        if (s != OCS_OK)
            return s;
    }
    return OCS_OK;
}
