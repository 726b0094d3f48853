/*
 * reference/ops/relu.c - Relu: Y = max(0, X), elementwise (NaN stays NaN).
 *
 * Types: float16, float, double (1); plus bfloat16 (13); plus int8, int16,
 * int32, int64 (14).
 */
#include "elementwise.h"

static double relu_f(double x) { return x < 0 ? 0.0 : x; }
static int64_t relu_i(int64_t x) { return x < 0 ? 0 : x; }

ocs_status ocs_ref_Relu(ocs_kernel_args *a)
{
    static const ocs_ew_unary_fns relu = {relu_f, relu_i, NULL};
    int64_t v = a->since_version;
    uint32_t types = v >= 14 ? OCS_EW_FLOATS | OCS_EW_SIGNED : ocs_ew_float_types(v, 13);
    return ocs_ew_unary(a, types, &relu);
}
