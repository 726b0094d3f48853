/*
 * reference/ops/elementwise.c - type sets, exact element access, broadcasting
 * loops and the unary / binary / comparison / fold engines behind the
 * elementwise reference kernels.  See elementwise.h.
 */
#include "elementwise.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- sets of element types ------------------------------------------------------- */

uint32_t ocs_ew_float_types(int64_t version, int64_t bf16_since)
{
    return version >= bf16_since ? OCS_EW_FLOATS : OCS_EW_FLOAT3;
}

uint32_t ocs_ew_arith_types(int64_t version)
{
    if (version >= 14)
        return OCS_EW_NUMERIC;
    if (version >= 13)
        return OCS_EW_FLOATS | OCS_EW_WIDE_INTS;
    if (version >= 6)
        return OCS_EW_FLOAT3 | OCS_EW_WIDE_INTS;
    return OCS_EW_FLOAT3;
}

static void type_list(uint32_t types, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int t = 1; t < OCS_DTYPE_COUNT_ && used < len; t++) {
        if (!(types & OCS_EW_T(t)))
            continue;
        snprintf(buf + used, len - used, "%s%s", used ? ", " : "", ocs_dtype_name((ocs_dtype)t));
        used = strlen(buf);
    }
}

ocs_status ocs_ew_check_type(const ocs_kernel_args *a, size_t input, const ocs_tensor *t,
                             uint32_t types)
{
    if ((int)t->dtype > 0 && (int)t->dtype < OCS_DTYPE_COUNT_ && (types & OCS_EW_T(t->dtype)))
        return OCS_OK;
    char allowed[512];
    type_list(types, allowed, sizeof allowed);
    return ocs_fail(a->err, OCS_ERR_INVALID,
                    "%s-%lld: input %zu has type %s, which this version does not accept "
                    "(allowed: %s)",
                    a->node->op_type, (long long)a->since_version, input, ocs_dtype_name(t->dtype),
                    allowed);
}

/* ---- element access ----------------------------------------------------------------- */

ocs_ew_domain ocs_ew_domain_of(ocs_dtype t)
{
    switch (t) {
    case OCS_FLOAT16: case OCS_BFLOAT16: case OCS_FLOAT: case OCS_DOUBLE:
        return OCS_EW_IN_DOUBLE;
    case OCS_INT8: case OCS_INT16: case OCS_INT32: case OCS_INT64:
        return OCS_EW_IN_INT64;
    case OCS_UINT8: case OCS_UINT16: case OCS_UINT32: case OCS_UINT64: case OCS_BOOL:
        return OCS_EW_IN_UINT64;
    default:
        return OCS_EW_IN_NONE;
    }
}

int64_t ocs_ew_wrap(uint64_t v)
{
    if (v <= (uint64_t)INT64_MAX)
        return (int64_t)v;
    return -(int64_t)(UINT64_MAX - v) - 1;
}

int64_t ocs_ew_get_int(const ocs_tensor *t, size_t i)
{
    switch (t->dtype) {
    case OCS_INT8: return ((const int8_t *)t->data)[i];
    case OCS_INT16: return ((const int16_t *)t->data)[i];
    case OCS_INT32: return ((const int32_t *)t->data)[i];
    case OCS_INT64: return ((const int64_t *)t->data)[i];
    case OCS_UINT8: case OCS_BOOL: return ((const uint8_t *)t->data)[i];
    case OCS_UINT16: return ((const uint16_t *)t->data)[i];
    case OCS_UINT32: return ((const uint32_t *)t->data)[i];
    case OCS_UINT64: return ocs_ew_wrap(((const uint64_t *)t->data)[i]);
    default: return ocs_tensor_get_i64(t, i);
    }
}

uint64_t ocs_ew_get_uint(const ocs_tensor *t, size_t i)
{
    switch (t->dtype) {
    case OCS_UINT8: case OCS_BOOL: return ((const uint8_t *)t->data)[i];
    case OCS_UINT16: return ((const uint16_t *)t->data)[i];
    case OCS_UINT32: return ((const uint32_t *)t->data)[i];
    case OCS_UINT64: return ((const uint64_t *)t->data)[i];
    default: return (uint64_t)ocs_ew_get_int(t, i);
    }
}

/* The signed and unsigned integers of one width share storage (C11 6.5p7). */
void ocs_ew_set_uint(ocs_tensor *t, size_t i, uint64_t v)
{
    switch (t->dtype) {
    case OCS_BOOL: ((uint8_t *)t->data)[i] = v != 0; break;
    case OCS_INT8: case OCS_UINT8: ((uint8_t *)t->data)[i] = (uint8_t)v; break;
    case OCS_INT16: case OCS_UINT16: ((uint16_t *)t->data)[i] = (uint16_t)v; break;
    case OCS_INT32: case OCS_UINT32: ((uint32_t *)t->data)[i] = (uint32_t)v; break;
    case OCS_INT64: case OCS_UINT64: ((uint64_t *)t->data)[i] = v; break;
    default: ocs_tensor_set_i64(t, i, ocs_ew_wrap(v)); break;
    }
}

void ocs_ew_set_int(ocs_tensor *t, size_t i, int64_t v)
{
    ocs_ew_set_uint(t, i, (uint64_t)v);
}

double ocs_ew_max_f64(double x, double y)
{
    if (isnan(x) || isnan(y))
        return isnan(x) ? x : y;
    return x > y ? x : y;
}

double ocs_ew_min_f64(double x, double y)
{
    if (isnan(x) || isnan(y))
        return isnan(x) ? x : y;
    return x < y ? x : y;
}

ocs_status ocs_ew_copy_element(const ocs_kernel_args *a, ocs_tensor *dst, size_t di,
                               const ocs_tensor *src, size_t si)
{
    if (dst->dtype != OCS_STRING) {
        size_t size = ocs_dtype_size(dst->dtype);
        memcpy((char *)dst->data + di * size, (const char *)src->data + si * size, size);
        return OCS_OK;
    }
    const ocs_string *s = &((const ocs_string *)src->data)[si];
    ocs_string *d = &((ocs_string *)dst->data)[di];
    char *bytes = malloc(s->len + 1);
    if (!bytes)
        return ocs_fail(a->err, OCS_ERR_NOMEM, "%s: out of memory copying a string of %zu bytes",
                        a->node->op_type, s->len);
    if (s->len)
        memcpy(bytes, s->data, s->len);
    bytes[s->len] = '\0';
    free(d->data);
    d->data = bytes;
    d->len = s->len;
    return OCS_OK;
}

/* ---- broadcasting ----------------------------------------------------------------------- */

ocs_status ocs_ew_iter_init(const ocs_kernel_args *a, size_t n, const ocs_tensor *const *ops,
                            ocs_ew_iter *it)
{
    memset(it, 0, sizeof *it);
    if (n == 0 || n > OCS_EW_MAX_OPERANDS)
        return ocs_fail(a->err, OCS_ERR_INVALID, "%s: %zu operands to broadcast (1 to %d)",
                        a->node->op_type, n, OCS_EW_MAX_OPERANDS);
    ocs_status s = ocs_broadcast_shapes(a, n, ops, &it->rank, it->dims);
    if (s != OCS_OK)
        return s;
    s = ocs_shape_numel(it->rank, it->dims, &it->numel, a->err);
    if (s != OCS_OK)
        return s;
    it->n = n;
    for (size_t k = 0; k < n; k++)
        ocs_bview_init(&it->view_[k], ops[k], it->rank, it->dims);
    return OCS_OK;
}

int ocs_ew_iter_next(ocs_ew_iter *it)
{
    if (it->next_ >= it->numel)
        return 0;
    if (it->next_ > 0)
        ocs_index_next(it->rank, it->dims, it->idx_);
    it->pos = it->next_++;
    for (size_t k = 0; k < it->n; k++)
        it->off[k] = ocs_bview_offset(&it->view_[k], it->idx_);
    return 1;
}

static int same_shape(const ocs_tensor *x, const ocs_tensor *y)
{
    if (x->rank != y->rank)
        return 0;
    for (int d = 0; d < x->rank; d++)
        if (x->dims[d] != y->dims[d])
            return 0;
    return 1;
}

/* The broadcast/axis rules of the binary ops before version 7. */
static ocs_status legacy_operand(const ocs_kernel_args *a, const ocs_tensor *x, const ocs_tensor *y,
                                 ocs_tensor *view)
{
    const char *op = a->node->op_type;
    long long ver = (long long)a->since_version;
    char sx[160], sy[160];
    ocs_shape_str(x->rank, x->dims, sx, sizeof sx);
    ocs_shape_str(y->rank, y->dims, sy, sizeof sy);

    int64_t broadcast = 0;
    ocs_status s = ocs_node_attr_int(a->node, "broadcast", 0, &broadcast, a->err);
    if (s != OCS_OK)
        return s;
    if (!broadcast) {
        if (same_shape(x, y))
            return OCS_OK;
        return ocs_fail(a->err, OCS_ERR_INVALID,
                        "%s-%lld: shapes %s and %s differ and attribute broadcast is 0 "
                        "(before version 7 only broadcast=1 broadcasts)", op, ver, sx, sy);
    }
    if (y->rank > x->rank)
        return ocs_fail(a->err, OCS_ERR_INVALID,
                        "%s-%lld: with broadcast=1, B %s may not have more dimensions than A %s",
                        op, ver, sy, sx);
    int start = x->rank - y->rank;
    if (ocs_node_attr(a->node, "axis")) {
        int64_t axis = 0;
        s = ocs_node_attr_int(a->node, "axis", 0, &axis, a->err);
        if (s == OCS_OK)
            s = ocs_axis(a, axis, x->rank, "attribute axis", &start);
        if (s != OCS_OK)
            return s;
    }
    *view = *y;
    view->rank = x->rank;
    for (int d = 0; d < x->rank; d++)
        view->dims[d] = 1;
    if (y->numel == 1)
        return OCS_OK;   /* one element: broadcasts to anything */
    if (start + y->rank > x->rank)
        return ocs_fail(a->err, OCS_ERR_INVALID,
                        "%s-%lld: B %s does not fit into A %s from axis %d",
                        op, ver, sy, sx, start);
    for (int d = 0; d < y->rank; d++) {
        if (y->dims[d] != x->dims[start + d])
            return ocs_fail(a->err, OCS_ERR_INVALID,
                            "%s-%lld: B %s must equal A %s's dimensions from axis %d "
                            "(dimension %d: %lld vs %lld) or hold one element",
                            op, ver, sy, sx, start, d, (long long)y->dims[d],
                            (long long)x->dims[start + d]);
        view->dims[start + d] = y->dims[d];
    }
    return OCS_OK;
}

ocs_status ocs_ew_binary_operands(const ocs_kernel_args *a, const ocs_tensor **x,
                                  const ocs_tensor **y, ocs_tensor *b_view)
{
    ocs_status s = ocs_need_inputs(a, 2, 2);
    if (s != OCS_OK)
        return s;
    *x = a->inputs[0];
    *y = a->inputs[1];
    if (a->since_version >= 7)
        return OCS_OK;
    s = legacy_operand(a, *x, *y, b_view);
    if (s == OCS_OK && !same_shape(*x, *y))
        *y = b_view;
    return s;
}

/* ---- engines ----------------------------------------------------------------------------- */

/* Which formula an engine applies to elements of type t. */
static ocs_status pick_domain(const ocs_kernel_args *a, ocs_dtype t, int has_f, int has_i,
                              int has_u, ocs_ew_domain *use)
{
    ocs_ew_domain d = ocs_ew_domain_of(t);
    if ((d == OCS_EW_IN_INT64 && !has_i) || (d == OCS_EW_IN_UINT64 && !has_u))
        d = OCS_EW_IN_DOUBLE;   /* integers without an exact formula go through double */
    if (d == OCS_EW_IN_NONE || (d == OCS_EW_IN_DOUBLE && !has_f))
        return ocs_fail(a->err, OCS_ERR_UNSUPPORTED, "%s-%lld: no formula for type %s",
                        a->node->op_type, (long long)a->since_version, ocs_dtype_name(t));
    *use = d;
    return OCS_OK;
}

ocs_status ocs_ew_unary_prepare(ocs_kernel_args *a, uint32_t types, const ocs_tensor **x,
                                ocs_tensor **y)
{
    ocs_status s = ocs_need_inputs(a, 1, 1);
    if (s != OCS_OK)
        return s;
    *x = a->inputs[0];
    s = ocs_ew_check_type(a, 0, *x, types);
    if (s != OCS_OK)
        return s;
    return ocs_output(a, 0, (*x)->dtype, (*x)->rank, (*x)->dims, y);
}

ocs_status ocs_ew_unary(ocs_kernel_args *a, uint32_t types, const ocs_ew_unary_fns *fns)
{
    const ocs_tensor *x;
    ocs_tensor *y;
    ocs_ew_domain use;
    ocs_status s = ocs_ew_unary_prepare(a, types, &x, &y);
    if (s == OCS_OK)
        s = pick_domain(a, x->dtype, fns->f != NULL, fns->i != NULL, fns->u != NULL, &use);
    if (s != OCS_OK)
        return s;
    for (size_t i = 0; i < x->numel; i++) {
        if (use == OCS_EW_IN_INT64)
            ocs_ew_set_int(y, i, fns->i(ocs_ew_get_int(x, i)));
        else if (use == OCS_EW_IN_UINT64)
            ocs_ew_set_uint(y, i, fns->u(ocs_ew_get_uint(x, i)));
        else
            ocs_tensor_set_f64(y, i, fns->f(ocs_tensor_get_f64(x, i)));
    }
    return OCS_OK;
}

/* Operands of a binary op of one shared type from types, and their broadcast walk. */
static ocs_status binary_setup(ocs_kernel_args *a, uint32_t types, const ocs_tensor **x,
                               const ocs_tensor **y, ocs_tensor *b_view, ocs_ew_iter *it)
{
    ocs_status s = ocs_ew_binary_operands(a, x, y, b_view);
    if (s == OCS_OK)
        s = ocs_same_dtype(a, 0, 1);
    if (s == OCS_OK)
        s = ocs_ew_check_type(a, 0, *x, types);
    if (s != OCS_OK)
        return s;
    const ocs_tensor *ops[2] = {*x, *y};
    return ocs_ew_iter_init(a, 2, ops, it);
}

ocs_status ocs_ew_binary(ocs_kernel_args *a, uint32_t types, const ocs_ew_binary_fns *fns)
{
    const ocs_tensor *x, *y;
    ocs_tensor b_view, *z;
    ocs_ew_iter it;
    ocs_ew_domain use;
    ocs_status s = binary_setup(a, types, &x, &y, &b_view, &it);
    if (s == OCS_OK)
        s = pick_domain(a, x->dtype, fns->f != NULL, fns->i != NULL, fns->u != NULL, &use);
    if (s == OCS_OK)
        s = ocs_output(a, 0, x->dtype, it.rank, it.dims, &z);
    if (s != OCS_OK)
        return s;
    while (ocs_ew_iter_next(&it)) {
        size_t i = it.off[0], j = it.off[1];
        if (use == OCS_EW_IN_INT64)
            ocs_ew_set_int(z, it.pos, fns->i(ocs_ew_get_int(x, i), ocs_ew_get_int(y, j)));
        else if (use == OCS_EW_IN_UINT64)
            ocs_ew_set_uint(z, it.pos, fns->u(ocs_ew_get_uint(x, i), ocs_ew_get_uint(y, j)));
        else
            ocs_tensor_set_f64(z, it.pos,
                               fns->f(ocs_tensor_get_f64(x, i), ocs_tensor_get_f64(y, j)));
    }
    return OCS_OK;
}

/* The ordering of x[i] and y[j]: one of OCS_EW_LT/EQ/GT, or 0 when unordered (NaN). */
static unsigned order(const ocs_tensor *x, size_t i, const ocs_tensor *y, size_t j)
{
    switch (ocs_ew_domain_of(x->dtype)) {
    case OCS_EW_IN_INT64: {
        int64_t p = ocs_ew_get_int(x, i), q = ocs_ew_get_int(y, j);
        return p < q ? OCS_EW_LT : p > q ? OCS_EW_GT : OCS_EW_EQ;
    }
    case OCS_EW_IN_UINT64: {
        uint64_t p = ocs_ew_get_uint(x, i), q = ocs_ew_get_uint(y, j);
        return p < q ? OCS_EW_LT : p > q ? OCS_EW_GT : OCS_EW_EQ;
    }
    case OCS_EW_IN_DOUBLE: {
        double p = ocs_tensor_get_f64(x, i), q = ocs_tensor_get_f64(y, j);
        return p < q ? OCS_EW_LT : p > q ? OCS_EW_GT : p == q ? OCS_EW_EQ : 0;
    }
    case OCS_EW_IN_NONE:
        break;
    }
    if (x->dtype != OCS_STRING)
        return 0;
    const ocs_string *p = &((const ocs_string *)x->data)[i];
    const ocs_string *q = &((const ocs_string *)y->data)[j];
    size_t common = p->len < q->len ? p->len : q->len;
    int c = common ? memcmp(p->data, q->data, common) : 0;
    if (c == 0)
        c = p->len < q->len ? -1 : p->len > q->len ? 1 : 0;
    return c < 0 ? OCS_EW_LT : c > 0 ? OCS_EW_GT : OCS_EW_EQ;
}

ocs_status ocs_ew_compare(ocs_kernel_args *a, uint32_t types, unsigned holds_when)
{
    const ocs_tensor *x, *y;
    ocs_tensor b_view, *z;
    ocs_ew_iter it;
    ocs_status s = binary_setup(a, types, &x, &y, &b_view, &it);
    if (s == OCS_OK)
        s = ocs_output(a, 0, OCS_BOOL, it.rank, it.dims, &z);
    if (s != OCS_OK)
        return s;
    while (ocs_ew_iter_next(&it))
        ocs_ew_set_uint(z, it.pos, (order(x, it.off[0], y, it.off[1]) & holds_when) != 0);
    return OCS_OK;
}

ocs_status ocs_ew_fold(ocs_kernel_args *a, uint32_t types, const ocs_ew_binary_fns *fns,
                       int broadcast)
{
    const char *op = a->node->op_type;
    long long ver = (long long)a->since_version;
    size_t n = a->n_inputs;
    if (n == 0)
        return ocs_fail(a->err, OCS_ERR_INVALID, "%s-%lld needs at least one input", op, ver);
    for (size_t k = 0; k < n; k++)
        if (!a->inputs[k])
            return ocs_fail(a->err, OCS_ERR_INVALID, "%s-%lld: input %zu is missing", op, ver, k);
    const ocs_tensor *x0 = a->inputs[0];
    ocs_ew_domain use;
    ocs_status s = ocs_same_dtype(a, 0, n - 1);
    if (s == OCS_OK)
        s = ocs_ew_check_type(a, 0, x0, types);
    if (s == OCS_OK)
        s = pick_domain(a, x0->dtype, fns->f != NULL, fns->i != NULL, fns->u != NULL, &use);
    if (s != OCS_OK)
        return s;

    int rank = x0->rank;
    int64_t dims[OCS_MAX_RANK];
    memcpy(dims, x0->dims, sizeof dims);
    if (broadcast) {
        s = ocs_broadcast_shapes(a, n, a->inputs, &rank, dims);
        if (s != OCS_OK)
            return s;
    } else {
        for (size_t k = 1; k < n; k++) {
            if (same_shape(x0, a->inputs[k]))
                continue;
            char s0[160], sk[160];
            const ocs_tensor *xk = a->inputs[k];
            return ocs_fail(a->err, OCS_ERR_INVALID,
                            "%s-%lld: input %zu %s must have input 0's shape %s (no broadcasting "
                            "before version 8)", op, ver, k,
                            ocs_shape_str(xk->rank, xk->dims, sk, sizeof sk),
                            ocs_shape_str(x0->rank, x0->dims, s0, sizeof s0));
        }
    }
    ocs_tensor *y;
    s = ocs_output(a, 0, x0->dtype, rank, dims, &y);
    if (s != OCS_OK)
        return s;

    /* y = x0 broadcast, then y = f(y, xk) for each further input in order. */
    for (size_t k = 0; k < n; k++) {
        const ocs_tensor *xk = a->inputs[k];
        ocs_bview v;
        int64_t idx[OCS_MAX_RANK] = {0};
        ocs_bview_init(&v, xk, rank, dims);
        for (size_t pos = 0; pos < y->numel; pos++, ocs_index_next(rank, dims, idx)) {
            size_t off = ocs_bview_offset(&v, idx);
            if (k == 0)
                s = ocs_ew_copy_element(a, y, pos, xk, off);
            else if (use == OCS_EW_IN_INT64)
                ocs_ew_set_int(y, pos, fns->i(ocs_ew_get_int(y, pos), ocs_ew_get_int(xk, off)));
            else if (use == OCS_EW_IN_UINT64)
                ocs_ew_set_uint(y, pos, fns->u(ocs_ew_get_uint(y, pos), ocs_ew_get_uint(xk, off)));
            else
                ocs_tensor_set_f64(y, pos, fns->f(ocs_tensor_get_f64(y, pos),
                                                  ocs_tensor_get_f64(xk, off)));
            if (s != OCS_OK)
                return s;
        }
    }
    return OCS_OK;
}
