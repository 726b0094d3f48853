/*
 * reference/ops/log.c - Log: Y = ln(X), elementwise (-Inf at 0, NaN below).
 *
 * Types: float16, float, double; plus bfloat16 from version 13.
 */
#include <math.h>

#include "elementwise.h"

static double log_f(double x) { return log(x); }

ocs_status ocs_ref_Log(ocs_kernel_args *a)
{
    static const ocs_ew_unary_fns fns = {log_f, NULL, NULL};
    return ocs_ew_unary(a, ocs_ew_float_types(a->since_version, 13), &fns);
}
