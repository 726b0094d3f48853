/*
 * reference/ops/range.c - Range (versions 11, 27).
 *
 * From scalar inputs start, limit and delta of one type:
 *     n = max(ceil((limit - start) / delta), 0)
 *     output[i] = start + i * delta,  i in [0, n)
 * Integer types are computed exactly; delta = 0 is an error.  Floating-point
 * types evaluate the formulas in the arithmetic of a compute type, each
 * operation rounded to it: the input type for float and double, and for
 * float16 / bfloat16 (version 27) the type named by `stash_type` (default 1,
 * float), the result then rounded to the input type.
 */
#include "common.h"

#include <math.h>

/* x rounded to the nearest value of floating-point type t. */
static double round_to(ocs_dtype t, double x)
{
    switch (t) {
    case OCS_FLOAT: return (double)(float)x;
    case OCS_FLOAT16: return (double)ocs_half_to_float(ocs_double_to_half(x));
    case OCS_BFLOAT16: return (double)ocs_bfloat16_to_float(ocs_double_to_bfloat16(x));
    default: return x;
    }
}

static ocs_status range_int(ocs_kernel_args *a, ocs_dtype t, int64_t start, int64_t limit, int64_t delta)
{
    if (delta == 0)
        return ocs_fail(a->err, OCS_ERR_INVALID, "Range: delta is 0");
    /* Count exactly in unsigned arithmetic: the distance may exceed INT64_MAX. */
    uint64_t n = 0;
    if (delta > 0 && limit > start) {
        uint64_t dist = (uint64_t)limit - (uint64_t)start;
        n = (dist - 1) / (uint64_t)delta + 1;
    } else if (delta < 0 && limit < start) {
        uint64_t dist = (uint64_t)start - (uint64_t)limit;
        uint64_t step = (uint64_t)(-(delta + 1)) + 1;
        n = (dist - 1) / step + 1;
    }
    if (n > (uint64_t)INT64_MAX)
        return ocs_fail(a->err, OCS_ERR_NOMEM, "Range: %llu elements is too many", (unsigned long long)n);
    int64_t dim = (int64_t)n;
    ocs_tensor *out = NULL;
    ocs_status s = ocs_output(a, 0, t, 1, &dim, &out);
    if (s != OCS_OK)
        return s;
    for (uint64_t i = 0; i < n; i++)
        ocs_tensor_set_i64(out, (size_t)i, (int64_t)((uint64_t)start + i * (uint64_t)delta));
    return OCS_OK;
}

static ocs_status range_float(ocs_kernel_args *a, ocs_dtype t, ocs_dtype ct, double start, double limit,
                              double delta)
{
    start = round_to(ct, start);
    limit = round_to(ct, limit);
    delta = round_to(ct, delta);
    if (delta == 0 || !isfinite(start) || !isfinite(limit) || !isfinite(delta))
        return ocs_fail(a->err, OCS_ERR_INVALID, "Range: start %g, limit %g and delta %g must be finite, delta not 0",
                        start, limit, delta);
    double q = ceil(round_to(ct, round_to(ct, limit - start) / delta));
    if (!(q <= 281474976710656.0)) /* 2^48, also rejects NaN */
        return ocs_fail(a->err, OCS_ERR_NOMEM, "Range: %g elements is too many", q);
    int64_t dim = q > 0 ? (int64_t)q : 0;
    ocs_tensor *out = NULL;
    ocs_status s = ocs_output(a, 0, t, 1, &dim, &out);
    if (s != OCS_OK)
        return s;
    for (int64_t i = 0; i < dim; i++)
        ocs_tensor_set_f64(out, (size_t)i, round_to(ct, start + round_to(ct, round_to(ct, (double)i) * delta)));
    return OCS_OK;
}

ocs_status ocs_ref_Range(ocs_kernel_args *a)
{
    ocs_status s = ocs_need_inputs(a, 3, 3);
    if (s != OCS_OK)
        return s;
    if ((s = ocs_same_dtype(a, 0, 2)) != OCS_OK)
        return s;
    static const char *const names[3] = {"start", "limit", "delta"};
    for (int i = 0; i < 3; i++)
        if (a->inputs[i]->numel != 1 || a->inputs[i]->rank > 1)
            return ocs_fail(a->err, OCS_ERR_INVALID, "Range: input %d (%s) must be a scalar", i, names[i]);
    const ocs_tensor *st = a->inputs[0], *li = a->inputs[1], *de = a->inputs[2];
    ocs_dtype t = st->dtype;

    switch (t) {
    case OCS_INT16:
    case OCS_INT32:
    case OCS_INT64:
        return range_int(a, t, ocs_tensor_get_i64(st, 0), ocs_tensor_get_i64(li, 0), ocs_tensor_get_i64(de, 0));
    case OCS_FLOAT:
    case OCS_DOUBLE:
        return range_float(a, t, t, ocs_tensor_get_f64(st, 0), ocs_tensor_get_f64(li, 0), ocs_tensor_get_f64(de, 0));
    case OCS_FLOAT16:
    case OCS_BFLOAT16: {
        if (a->since_version < 27)
            break;
        int64_t stash = OCS_FLOAT;
        if ((s = ocs_node_attr_int(a->node, "stash_type", OCS_FLOAT, &stash, a->err)) != OCS_OK)
            return s;
        if (stash != OCS_FLOAT && stash != OCS_DOUBLE && stash != OCS_FLOAT16 && stash != OCS_BFLOAT16)
            return ocs_fail(a->err, OCS_ERR_INVALID, "Range: attribute 'stash_type' is %lld; expected a floating-point type code",
                            (long long)stash);
        return range_float(a, t, (ocs_dtype)stash, ocs_tensor_get_f64(st, 0), ocs_tensor_get_f64(li, 0),
                           ocs_tensor_get_f64(de, 0));
    }
    default:
        break;
    }
    return ocs_dtype_unsupported(a, st, "input 0 (start)");
}
