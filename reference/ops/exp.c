/*
 * reference/ops/exp.c - Exp: Y = e^X, elementwise.
 *
 * Types: float16, float, double; plus bfloat16 from version 13.
 */
#include <math.h>

#include "elementwise.h"

static double exp_f(double x) { return exp(x); }

ocs_status ocs_ref_Exp(ocs_kernel_args *a)
{
    static const ocs_ew_unary_fns fns = {exp_f, NULL, NULL};
    return ocs_ew_unary(a, ocs_ew_float_types(a->since_version, 13), &fns);
}
