/*
 * reference/ops/softplus.c - Softplus: Y = ln(1 + e^X), elementwise.
 *
 * Computed as max(X, 0) + ln(1 + e^-|X|), the same value without
 * overflowing e^X for large X.  Types: float16, float, double; plus
 * bfloat16 from version 22.
 */
#include <math.h>

#include "elementwise.h"

static double softplus_f(double x)
{
    if (x > 0)
        return x + log1p(exp(-x));
    return log1p(exp(x));
}

ocs_status ocs_ref_Softplus(ocs_kernel_args *a)
{
    static const ocs_ew_unary_fns fns = {softplus_f, NULL, NULL};
    return ocs_ew_unary(a, ocs_ew_float_types(a->since_version, 22), &fns);
}
