/*
 * reference/ops/mod.c - Mod: C = A mod B, elementwise with broadcasting.
 *
 *   fmod = 0 (default)  the remainder has the sign of the divisor, as
 *                       Python's %: A - floor(A / B) * B.  Integers only.
 *   fmod = 1            the remainder has the sign of the dividend, as C's
 *                       fmod() and %: A - trunc(A / B) * B.
 *
 * Floats follow fmod(): x mod +-0 and +-Inf mod y are NaN, x mod +-Inf is x.
 * ONNX leaves integer x mod 0 undefined; here it is 0 (as in numpy).
 * Types: every numeric type but bfloat16 (10); plus bfloat16 (13).
 */
#include <math.h>

#include "elementwise.h"

static int64_t floor_mod_i(int64_t x, int64_t y)
{
    if (y == 0 || y == -1)   /* -1 divides everything; INT64_MIN % -1 would overflow */
        return 0;
    int64_t r = x % y;
    return (r != 0 && (r < 0) != (y < 0)) ? r + y : r;
}

static int64_t trunc_mod_i(int64_t x, int64_t y)
{
    if (y == 0 || y == -1)
        return 0;
    return x % y;
}

/* Unsigned operands have no signs, so both conventions agree. */
static uint64_t mod_u(uint64_t x, uint64_t y) { return y == 0 ? 0 : x % y; }

static double fmod_f(double x, double y) { return fmod(x, y); }

ocs_status ocs_ref_Mod(ocs_kernel_args *a)
{
    static const ocs_ew_binary_fns floor_mod = {NULL, floor_mod_i, mod_u};
    static const ocs_ew_binary_fns c_fmod = {fmod_f, trunc_mod_i, mod_u};
    uint32_t types = a->since_version >= 13 ? OCS_EW_NUMERIC : OCS_EW_NUMERIC_NO_BF16;
    int64_t fmod_attr;
    ocs_status s = ocs_node_attr_int(a->node, "fmod", 0, &fmod_attr, a->err);
    if (s != OCS_OK)
        return s;
    if (fmod_attr != 0 && fmod_attr != 1)
        return ocs_fail(a->err, OCS_ERR_INVALID, "Mod: attribute fmod is %lld; it must be 0 or 1",
                        (long long)fmod_attr);
    if (fmod_attr == 0) {
        const ocs_tensor *x = ocs_input(a, 0);
        if (x && ocs_ew_domain_of(x->dtype) == OCS_EW_IN_DOUBLE)
            return ocs_fail(a->err, OCS_ERR_INVALID,
                            "Mod: input 0 has type %s; floating-point types need fmod=1",
                            ocs_dtype_name(x->dtype));
        return ocs_ew_binary(a, types, &floor_mod);
    }
    return ocs_ew_binary(a, types, &c_fmod);
}
