/*
 * reference/ops/neg.c - Neg: Y = -X, elementwise.
 *
 * -INT_MIN wraps around to INT_MIN at each width.  Types: float16, float,
 * double (1); plus int8, int16, int32, int64 (6); plus bfloat16 (13).
 */
#include "elementwise.h"

static double neg_f(double x) { return -x; }
static int64_t neg_i(int64_t x) { return ocs_ew_wrap(0 - (uint64_t)x); }

ocs_status ocs_ref_Neg(ocs_kernel_args *a)
{
    static const ocs_ew_unary_fns neg = {neg_f, neg_i, NULL};
    int64_t v = a->since_version;
    uint32_t types = v >= 13 ? OCS_EW_FLOATS | OCS_EW_SIGNED
                   : v >= 6 ? OCS_EW_FLOAT3 | OCS_EW_SIGNED : OCS_EW_FLOAT3;
    return ocs_ew_unary(a, types, &neg);
}
