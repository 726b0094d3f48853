/*
 * reference/ops/max.c - Max: Y = the elementwise maximum of one or more inputs.
 *
 * NaN in any input gives NaN (as numpy.maximum).  Versions 1 and 6 need
 * every input to have the same shape; from version 8 they broadcast.
 * Types: float16, float, double (1); every integer type too (12); plus
 * bfloat16 (13).
 */
#include "elementwise.h"

static int64_t max_i(int64_t x, int64_t y) { return x > y ? x : y; }
static uint64_t max_u(uint64_t x, uint64_t y) { return x > y ? x : y; }

ocs_status ocs_ref_Max(ocs_kernel_args *a)
{
    static const ocs_ew_binary_fns max = {ocs_ew_max_f64, max_i, max_u};
    int64_t v = a->since_version;
    uint32_t types = v >= 13 ? OCS_EW_NUMERIC : v >= 12 ? OCS_EW_NUMERIC_NO_BF16 : OCS_EW_FLOAT3;
    return ocs_ew_fold(a, types, &max, v >= 8);
}
