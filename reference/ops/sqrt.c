/*
 * reference/ops/sqrt.c - Sqrt: Y = sqrt(X), elementwise; NaN for X < 0.
 *
 * Types: float16, float, double; plus bfloat16 from version 13.
 */
#include <math.h>

#include "elementwise.h"

static double sqrt_f(double x) { return sqrt(x); }

ocs_status ocs_ref_Sqrt(ocs_kernel_args *a)
{
    static const ocs_ew_unary_fns fns = {sqrt_f, NULL, NULL};
    return ocs_ew_unary(a, ocs_ew_float_types(a->since_version, 13), &fns);
}
