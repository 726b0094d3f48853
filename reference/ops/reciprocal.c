/*
 * reference/ops/reciprocal.c - Reciprocal: Y = 1 / X, elementwise (1/0 = Inf).
 *
 * Types: float16, float, double; plus bfloat16 from version 13.
 */
#include "elementwise.h"

static double reciprocal_f(double x) { return 1.0 / x; }

ocs_status ocs_ref_Reciprocal(ocs_kernel_args *a)
{
    static const ocs_ew_unary_fns fns = {reciprocal_f, NULL, NULL};
    return ocs_ew_unary(a, ocs_ew_float_types(a->since_version, 13), &fns);
}
