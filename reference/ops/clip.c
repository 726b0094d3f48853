/*
 * reference/ops/clip.c - Clip: Y = min(hi, max(X, lo)), elementwise.
 *
 * As ONNX puts it, Clip is Min(max, Max(input, min)): when lo > hi every
 * element becomes hi, and NaN in X or in a bound gives NaN.
 *
 * Versions 1 and 6: lo and hi are the float attributes min and max,
 * defaulting to the lowest and highest float (-FLT_MAX, FLT_MAX); version
 * 1's consumed_inputs attribute has no effect.  Types: float16, float,
 * double.
 * Versions 11 and later: lo and hi are the optional inputs 1 and 2, each a
 * single element of X's type; an absent bound does not clip.  Types:
 * float16, float, double (11); every integer type too (12); plus bfloat16
 * (13).
 */
#include <float.h>
#include <math.h>

#include "elementwise.h"

/* The bound at input i: present or not, one element of X's type. */
static ocs_status bound(const ocs_kernel_args *a, size_t i, const char *name, const ocs_tensor **b)
{
    *b = ocs_input(a, i);
    if (*b && (*b)->numel != 1) {
        char shape[160];
        return ocs_fail(a->err, OCS_ERR_INVALID,
                        "Clip: input %zu (%s) must be a scalar, got shape %s", i, name,
                        ocs_shape_str((*b)->rank, (*b)->dims, shape, sizeof shape));
    }
    return OCS_OK;
}

static void clip_double(const ocs_tensor *x, ocs_tensor *y, double lo, double hi)
{
    for (size_t i = 0; i < x->numel; i++)
        ocs_tensor_set_f64(y, i, ocs_ew_min_f64(hi, ocs_ew_max_f64(ocs_tensor_get_f64(x, i), lo)));
}

static ocs_status clip_attributes(ocs_kernel_args *a)
{
    float lo, hi;
    const ocs_tensor *x;
    ocs_tensor *y;
    ocs_status s = ocs_node_attr_float(a->node, "min", -FLT_MAX, &lo, a->err);
    if (s == OCS_OK)
        s = ocs_node_attr_float(a->node, "max", FLT_MAX, &hi, a->err);
    if (s == OCS_OK)
        s = ocs_ew_unary_prepare(a, OCS_EW_FLOAT3, &x, &y);
    if (s == OCS_OK)
        clip_double(x, y, lo, hi);
    return s;
}

static ocs_status clip_inputs(ocs_kernel_args *a)
{
    int64_t v = a->since_version;
    uint32_t types = v >= 13 ? OCS_EW_NUMERIC : v >= 12 ? OCS_EW_NUMERIC_NO_BF16 : OCS_EW_FLOAT3;
    const ocs_tensor *x, *lo, *hi;
    ocs_tensor *y;
    ocs_status s = ocs_need_inputs(a, 1, 3);
    if (s == OCS_OK)
        s = ocs_same_dtype(a, 0, 2);
    if (s == OCS_OK)
        s = bound(a, 1, "min", &lo);
    if (s == OCS_OK)
        s = bound(a, 2, "max", &hi);
    if (s != OCS_OK)
        return s;
    x = a->inputs[0];
    s = ocs_ew_check_type(a, 0, x, types);
    if (s == OCS_OK)
        s = ocs_output(a, 0, x->dtype, x->rank, x->dims, &y);
    if (s != OCS_OK)
        return s;

    switch (ocs_ew_domain_of(x->dtype)) {
    case OCS_EW_IN_INT64: {
        int64_t l = lo ? ocs_ew_get_int(lo, 0) : INT64_MIN;
        int64_t h = hi ? ocs_ew_get_int(hi, 0) : INT64_MAX;
        for (size_t i = 0; i < x->numel; i++) {
            int64_t m = ocs_ew_get_int(x, i);
            m = m > l ? m : l;
            ocs_ew_set_int(y, i, m < h ? m : h);
        }
        break;
    }
    case OCS_EW_IN_UINT64: {
        uint64_t l = lo ? ocs_ew_get_uint(lo, 0) : 0;
        uint64_t h = hi ? ocs_ew_get_uint(hi, 0) : UINT64_MAX;
        for (size_t i = 0; i < x->numel; i++) {
            uint64_t m = ocs_ew_get_uint(x, i);
            m = m > l ? m : l;
            ocs_ew_set_uint(y, i, m < h ? m : h);
        }
        break;
    }
    default:
        clip_double(x, y, lo ? ocs_tensor_get_f64(lo, 0) : -INFINITY,
                    hi ? ocs_tensor_get_f64(hi, 0) : INFINITY);
        break;
    }
    return OCS_OK;
}

ocs_status ocs_ref_Clip(ocs_kernel_args *a)
{
    return a->since_version >= 11 ? clip_inputs(a) : clip_attributes(a);
}
