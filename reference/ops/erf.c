/*
 * reference/ops/erf.c - Erf: Y = erf(X), the Gauss error function, elementwise.
 *
 * Version 9 also takes every integer type: erf of the integer computed in
 * double, then truncated toward zero into the integer type.  Version 13
 * takes float16, float, double and bfloat16 only.
 */
#include <math.h>

#include "elementwise.h"

static double erf_f(double x) { return erf(x); }

ocs_status ocs_ref_Erf(ocs_kernel_args *a)
{
    static const ocs_ew_unary_fns fns = {erf_f, NULL, NULL};
    uint32_t types = a->since_version >= 13 ? OCS_EW_FLOATS : OCS_EW_NUMERIC_NO_BF16;
    return ocs_ew_unary(a, types, &fns);
}
