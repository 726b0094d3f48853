/*
 * reference/ops/movement.c - element copying, index reading and scatter
 * reductions shared by the data-movement kernels.
 */
#include "movement.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

ocs_status ocs_mv_check_dtype(const ocs_kernel_args *a, const ocs_tensor *t, const char *what)
{
    if (!ocs_dtype_valid(t->dtype) || ocs_dtype_size(t->dtype) == 0)
        return ocs_dtype_unsupported(a, t, what);
    return OCS_OK;
}

ocs_status ocs_mv_check_index_dtype(const ocs_kernel_args *a, const ocs_tensor *t, const char *what)
{
    if (t->dtype != OCS_INT32 && t->dtype != OCS_INT64)
        return ocs_fail(a->err, OCS_ERR_INVALID, "%s: %s must be int32 or int64, got %s",
                        a->node->op_type, what, ocs_dtype_name(t->dtype));
    return OCS_OK;
}

ocs_status ocs_mv_copy(const ocs_kernel_args *a, ocs_tensor *dst, size_t di, const ocs_tensor *src,
                       size_t si, size_t n)
{
    ocs_status st = ocs_copy_elems(dst, di, src, si, n, a->err);
    return st == OCS_OK ? OCS_OK : ocs_err_prefix(a->err, st, "%s: ", a->node->op_type);
}

ocs_status ocs_mv_output_copy(ocs_kernel_args *a, size_t i, const ocs_tensor *src, int rank,
                              const int64_t *dims)
{
    ocs_tensor *out = NULL;
    ocs_status s = ocs_output(a, i, src->dtype, rank, dims, &out);
    if (s != OCS_OK)
        return s;
    if (out->numel != src->numel) {
        char s1[128], s2[128];
        return ocs_fail(a->err, OCS_ERR_INVALID, "%s: shape %s holds %zu elements, input %s has %zu",
                        a->node->op_type, ocs_shape_str(rank, dims, s1, sizeof s1), out->numel,
                        ocs_shape_str(src->rank, src->dims, s2, sizeof s2), src->numel);
    }
    return ocs_mv_copy(a, out, 0, src, 0, src->numel);
}

ocs_status ocs_mv_index(const ocs_kernel_args *a, const ocs_tensor *ind, size_t k, int64_t dim,
                        int allow_negative, const char *what, int64_t *out)
{
    int64_t v = ocs_tensor_get_i64(ind, k);
    int64_t r = v;
    if (r < 0 && allow_negative)
        r += dim;
    if (r < 0 || r >= dim)
        return ocs_fail(a->err, OCS_ERR_RUNTIME, "%s: %s value %lld (element %zu) is out of range for a dimension of size %lld%s",
                        a->node->op_type, what, (long long)v, k, (long long)dim,
                        v < 0 && !allow_negative ? " (negative values are not allowed here)" : "");
    *out = r;
    return OCS_OK;
}

ocs_status ocs_mv_span(const ocs_kernel_args *a, const int64_t *dims, int first, int last, size_t *out)
{
    size_t n = 1;
    for (int i = first; i < last; i++) {
        if (dims[i] < 0)
            return ocs_fail(a->err, OCS_ERR_INVALID, "%s: negative dimension %lld",
                            a->node->op_type, (long long)dims[i]);
        size_t d = (size_t)dims[i];
        if (d != 0 && n > SIZE_MAX / d)
            return ocs_fail(a->err, OCS_ERR_NOMEM, "%s: element count overflows", a->node->op_type);
        n *= d;
    }
    *out = n;
    return OCS_OK;
}

ocs_status ocs_mv_reduction_attr(const ocs_kernel_args *a, ocs_mv_reduction *out)
{
    *out = OCS_MV_NONE;
    if (a->since_version < 16) {
        if (ocs_node_attr(a->node, "reduction"))
            return ocs_fail(a->err, OCS_ERR_INVALID, "%s-%lld has no attribute 'reduction' (added in version 16)",
                            a->node->op_type, (long long)a->since_version);
        return OCS_OK;
    }
    const char *r = NULL;
    ocs_status s = ocs_node_attr_string(a->node, "reduction", "none", &r, a->err);
    if (s != OCS_OK)
        return s;
    if (strcmp(r, "none") == 0)
        *out = OCS_MV_NONE;
    else if (strcmp(r, "add") == 0)
        *out = OCS_MV_ADD;
    else if (strcmp(r, "mul") == 0)
        *out = OCS_MV_MUL;
    else if (strcmp(r, "max") == 0 && a->since_version >= 18)
        *out = OCS_MV_MAX;
    else if (strcmp(r, "min") == 0 && a->since_version >= 18)
        *out = OCS_MV_MIN;
    else
        return ocs_fail(a->err, OCS_ERR_INVALID, "%s-%lld: attribute 'reduction' is '%s'; expected %s",
                        a->node->op_type, (long long)a->since_version, r,
                        a->since_version >= 18 ? "none, add, mul, max or min" : "none, add or mul");
    return OCS_OK;
}

static const char *reduction_name(ocs_mv_reduction r)
{
    switch (r) {
    case OCS_MV_NONE: return "none";
    case OCS_MV_ADD: return "add";
    case OCS_MV_MUL: return "mul";
    case OCS_MV_MAX: return "max";
    case OCS_MV_MIN: return "min";
    }
    return "?";
}

ocs_status ocs_mv_combine(const ocs_kernel_args *a, ocs_tensor *dst, size_t di, const ocs_tensor *src,
                          size_t si, ocs_mv_reduction r)
{
    if (r == OCS_MV_NONE)
        return ocs_mv_copy(a, dst, di, src, si, 1);
    if (dst->dtype != src->dtype || di >= dst->numel || si >= src->numel)
        return ocs_fail(a->err, OCS_ERR_INVALID, "%s: bad element combine", a->node->op_type);
    ocs_dtype t = dst->dtype;
    if (t == OCS_BOOL) {
        uint8_t x = ((const uint8_t *)dst->data)[di] != 0;
        uint8_t y = ((const uint8_t *)src->data)[si] != 0;
        ((uint8_t *)dst->data)[di] = (r == OCS_MV_ADD || r == OCS_MV_MAX) ? (x | y) : (x & y);
        return OCS_OK;
    }
    if (t == OCS_UINT64) {
        uint64_t x = ((const uint64_t *)dst->data)[di];
        uint64_t y = ((const uint64_t *)src->data)[si];
        uint64_t v = r == OCS_MV_ADD ? x + y : r == OCS_MV_MUL ? x * y
                   : r == OCS_MV_MAX ? (x > y ? x : y) : (x < y ? x : y);
        ((uint64_t *)dst->data)[di] = v;
        return OCS_OK;
    }
    if (ocs_dtype_is_integer(t)) {
        /* Every integer type but uint64 reads exactly into int64; add and
         * mul wrap (done in uint64 to stay defined), set_i64 wraps to width. */
        int64_t x = ocs_tensor_get_i64(dst, di);
        int64_t y = ocs_tensor_get_i64(src, si);
        int64_t v;
        if (r == OCS_MV_ADD)
            v = (int64_t)((uint64_t)x + (uint64_t)y);
        else if (r == OCS_MV_MUL)
            v = (int64_t)((uint64_t)x * (uint64_t)y);
        else if (r == OCS_MV_MAX)
            v = x > y ? x : y;
        else
            v = x < y ? x : y;
        ocs_tensor_set_i64(dst, di, v);
        return OCS_OK;
    }
    if (ocs_dtype_is_float(t)) {
        double x = ocs_tensor_get_f64(dst, di);
        double y = ocs_tensor_get_f64(src, si);
        double v;
        if (r == OCS_MV_ADD)
            v = x + y;
        else if (r == OCS_MV_MUL)
            v = x * y;
        else if (isnan(x) || isnan(y))
            v = isnan(x) ? x : y;
        else if (r == OCS_MV_MAX)
            v = x > y ? x : y;
        else
            v = x < y ? x : y;
        ocs_tensor_set_f64(dst, di, v);
        return OCS_OK;
    }
    return ocs_fail(a->err, OCS_ERR_UNSUPPORTED, "%s: reduction '%s' is not defined for %s elements",
                    a->node->op_type, reduction_name(r), ocs_dtype_name(t));
}
