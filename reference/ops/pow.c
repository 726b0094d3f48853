/*
 * reference/ops/pow.c - Pow: Z = X ^ Y, elementwise with broadcasting; Z has
 * X's type.
 *
 * Integer base and integer exponent: exact, by repeated squaring modulo
 * 2^64, then wrapped to X's width (so overflow wraps around like repeated
 * multiplication).  A negative exponent gives the real power truncated
 * toward zero: 1 for base 1, -1 or 1 for base -1, 0 for any other base; for
 * base 0, where no real power exists, it is defined here as 0.
 * Otherwise: pow() in double, rounded once to X's type (truncated toward
 * zero for an integer base).
 *
 * Types: X and Y both float16, float or double, the same type (1, 7).  From
 * version 12 Y may have another type than X: X int32, int64, float16,
 * float, double and Y any numeric type but bfloat16 (12); X also bfloat16
 * (13); Y also bfloat16 (15).  Version 1 broadcasts only with the attribute
 * broadcast=1.
 */
#include <math.h>

#include "elementwise.h"

static uint64_t int_pow(uint64_t base, uint64_t exponent)
{
    uint64_t result = 1;
    while (exponent) {
        if (exponent & 1)
            result *= base;
        base *= base;
        exponent >>= 1;
    }
    return result;
}

/* X[i] ^ Y[j] for an integer X and an integer Y, as the bits of the result. */
static uint64_t int_power(const ocs_tensor *x, size_t i, const ocs_tensor *y, size_t j)
{
    int64_t base = ocs_ew_get_int(x, i);
    if (ocs_ew_domain_of(y->dtype) == OCS_EW_IN_INT64 && ocs_ew_get_int(y, j) < 0) {
        int odd = (int)(ocs_ew_get_uint(y, j) & 1);
        if (base == 1)
            return 1;
        if (base == -1)
            return odd ? UINT64_MAX : 1;
        return 0;
    }
    return int_pow((uint64_t)base, ocs_ew_get_uint(y, j));
}

ocs_status ocs_ref_Pow(ocs_kernel_args *a)
{
    int64_t v = a->since_version;
    uint32_t int_bases = OCS_EW_T(OCS_INT32) | OCS_EW_T(OCS_INT64);
    uint32_t x_types = v >= 13 ? int_bases | OCS_EW_FLOATS
                     : v >= 12 ? int_bases | OCS_EW_FLOAT3 : OCS_EW_FLOAT3;
    uint32_t y_types = v >= 15 ? OCS_EW_NUMERIC : v >= 12 ? OCS_EW_NUMERIC_NO_BF16 : OCS_EW_FLOAT3;
    const ocs_tensor *x, *y;
    ocs_tensor y_view, *z;
    ocs_ew_iter it;
    ocs_status s = ocs_ew_binary_operands(a, &x, &y, &y_view);
    if (s == OCS_OK)
        s = ocs_ew_check_type(a, 0, x, x_types);
    if (s == OCS_OK)
        s = ocs_ew_check_type(a, 1, y, y_types);
    if (s == OCS_OK && v < 12)
        s = ocs_same_dtype(a, 0, 1);
    if (s == OCS_OK) {
        const ocs_tensor *ops[2] = {x, y};
        s = ocs_ew_iter_init(a, 2, ops, &it);
    }
    if (s == OCS_OK)
        s = ocs_output(a, 0, x->dtype, it.rank, it.dims, &z);
    if (s != OCS_OK)
        return s;
    int exact = ocs_ew_domain_of(x->dtype) == OCS_EW_IN_INT64 &&
                ocs_ew_domain_of(y->dtype) != OCS_EW_IN_DOUBLE;
    while (ocs_ew_iter_next(&it)) {
        size_t i = it.off[0], j = it.off[1];
        if (exact)
            ocs_ew_set_uint(z, it.pos, int_power(x, i, y, j));
        else
            ocs_tensor_set_f64(z, it.pos, pow(ocs_tensor_get_f64(x, i), ocs_tensor_get_f64(y, j)));
    }
    return OCS_OK;
}
