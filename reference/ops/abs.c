/*
 * reference/ops/abs.c - Abs: Y = |X|, elementwise.
 *
 * |INT_MIN| wraps around to INT_MIN at each width.  Types: float16, float,
 * double (1); every integer type too (6); plus bfloat16 (13).
 */
#include <math.h>

#include "elementwise.h"

static double abs_f(double x) { return fabs(x); }
static int64_t abs_i(int64_t x) { return x < 0 ? ocs_ew_wrap(0 - (uint64_t)x) : x; }
static uint64_t abs_u(uint64_t x) { return x; }

ocs_status ocs_ref_Abs(ocs_kernel_args *a)
{
    static const ocs_ew_unary_fns abs_fns = {abs_f, abs_i, abs_u};
    int64_t v = a->since_version;
    uint32_t types = v >= 13 ? OCS_EW_NUMERIC : v >= 6 ? OCS_EW_NUMERIC_NO_BF16 : OCS_EW_FLOAT3;
    return ocs_ew_unary(a, types, &abs_fns);
}
