/*
 * reference/ops/reduce.c - reduction plans, single-axis views, exact
 * comparison and summation, and the softmax family (see reduce.h).
 */
#include "reduce.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- reduction plan ------------------------------------------------------ */

ocs_status ocs_red_plan_init(ocs_kernel_args *a, int64_t axes_input_since, ocs_red_plan *p)
{
    int axes_as_input = a->since_version >= axes_input_since;
    ocs_status s = ocs_need_inputs(a, 1, axes_as_input ? 2 : 1);
    if (s != OCS_OK)
        return s;
    const ocs_tensor *x = a->inputs[0];

    int64_t keepdims = 1, noop = 0;
    s = ocs_node_attr_int(a->node, "keepdims", 1, &keepdims, a->err);
    if (s != OCS_OK)
        return s;
    if (axes_as_input) {
        s = ocs_node_attr_int(a->node, "noop_with_empty_axes", 0, &noop, a->err);
        if (s != OCS_OK)
            return s;
    }

    /* The axes: an attribute before axes_input_since, optional input 1 after. */
    int64_t *owned = NULL;
    const int64_t *axes = NULL;
    size_t n_axes = 0;
    if (axes_as_input) {
        const ocs_tensor *t = ocs_input(a, 1);
        if (t) {
            s = ocs_read_ints(a, t, "axes (input 1)", &owned, &n_axes);
            if (s != OCS_OK)
                return s;
            axes = owned;
        }
    } else {
        s = ocs_node_attr_ints(a->node, "axes", &axes, &n_axes, NULL, a->err);
        if (s != OCS_OK)
            return s;
    }

    memset(p, 0, sizeof *p);
    p->rank = x->rank;
    for (int i = 0; i < x->rank; i++)
        p->dims[i] = x->dims[i];

    if (n_axes == 0) {
        /* No axes: every axis, or none at all when noop_with_empty_axes is set. */
        for (int i = 0; i < p->rank; i++)
            p->reduced[i] = !noop;
    } else {
        for (size_t k = 0; k < n_axes; k++) {
            int ax;
            s = ocs_axis(a, axes[k], p->rank, "axes value", &ax);
            if (s != OCS_OK) {
                free(owned);
                return s;
            }
            if (p->reduced[ax]) {
                s = ocs_fail(a->err, OCS_ERR_INVALID, "axis %lld is listed twice in axes",
                             (long long)axes[k]);
                free(owned);
                return s;
            }
            p->reduced[ax] = 1;
        }
    }
    free(owned);

    /* Output shape, kept and reduced axes, size of each reduced set. */
    p->n_red = 1;
    for (int i = 0; i < p->rank; i++) {
        if (p->reduced[i]) {
            p->rax[p->n_rax++] = i;
            if (keepdims)
                p->out_dims[p->out_rank++] = 1;
            if (p->dims[i] == 0)
                p->n_red = 0;
        } else {
            p->kept[p->n_kept++] = i;
            p->out_dims[p->out_rank++] = p->dims[i];
        }
    }
    /* With no empty reduced axis the product is bounded by the input's numel. */
    if (p->n_red != 0)
        for (int k = 0; k < p->n_rax; k++)
            p->n_red *= (size_t)p->dims[p->rax[k]];
    ocs_strides(p->rank, p->dims, p->strides);
    return OCS_OK;
}

size_t ocs_red_plan_index(const ocs_red_plan *p, size_t out_i, size_t j)
{
    size_t idx = 0;
    size_t rem = out_i;
    for (int k = p->n_kept - 1; k >= 0; k--) {
        int ax = p->kept[k];
        size_t d = (size_t)p->dims[ax];
        idx += (rem % d) * (size_t)p->strides[ax];
        rem /= d;
    }
    rem = j;
    for (int k = p->n_rax - 1; k >= 0; k--) {
        int ax = p->rax[k];
        size_t d = (size_t)p->dims[ax];
        idx += (rem % d) * (size_t)p->strides[ax];
        rem /= d;
    }
    return idx;
}

/* ---- one axis ----------------------------------------------------------- */

void ocs_axis_view_init(ocs_axis_view *v, const ocs_tensor *t, int axis)
{
    v->n = (size_t)t->dims[axis];
    if (t->numel == 0) {
        /* Nothing to visit; products of the other dimensions might not fit. */
        v->outer = 0;
        v->inner = 0;
        return;
    }
    v->outer = 1;
    for (int i = 0; i < axis; i++)
        v->outer *= (size_t)t->dims[i];
    v->inner = 1;
    for (int i = axis + 1; i < t->rank; i++)
        v->inner *= (size_t)t->dims[i];
}

size_t ocs_axis_view_index(const ocs_axis_view *v, size_t o, size_t j, size_t i)
{
    return (o * v->n + j) * v->inner + i;
}

/* ---- dtypes, comparison, summation -------------------------------------------- */

int ocs_red_is_std_float(ocs_dtype t)
{
    return t == OCS_FLOAT16 || t == OCS_BFLOAT16 || t == OCS_FLOAT || t == OCS_DOUBLE;
}

int ocs_red_is_std_int(ocs_dtype t)
{
    switch (t) {
    case OCS_INT8: case OCS_INT16: case OCS_INT32: case OCS_INT64:
    case OCS_UINT8: case OCS_UINT16: case OCS_UINT32: case OCS_UINT64:
        return 1;
    default:
        return 0;
    }
}

static uint64_t get_u64(const ocs_tensor *t, size_t i)
{
    return ((const uint64_t *)t->data)[i];
}

/* Two's-complement reinterpretation without implementation-defined casts. */
static int64_t wrap_i64(uint64_t u)
{
    if (u <= (uint64_t)INT64_MAX)
        return (int64_t)u;
    return -(int64_t)(~u) - 1;
}

int ocs_red_cmp(const ocs_tensor *t, size_t i, size_t j)
{
    if (ocs_dtype_is_float(t->dtype)) {
        double x = ocs_tensor_get_f64(t, i), y = ocs_tensor_get_f64(t, j);
        int nx = isnan(x), ny = isnan(y);
        if (nx || ny)
            return nx - ny;
        return (x > y) - (x < y);
    }
    if (t->dtype == OCS_UINT64) {
        uint64_t x = get_u64(t, i), y = get_u64(t, j);
        return (x > y) - (x < y);
    }
    int64_t x = ocs_tensor_get_i64(t, i), y = ocs_tensor_get_i64(t, j);
    return (x > y) - (x < y);
}

ocs_status ocs_red_copy_elem(ocs_kernel_args *a, ocs_tensor *dst, size_t o,
                             const ocs_tensor *src, size_t i)
{
    if (src->dtype == OCS_STRING) {
        const ocs_string *from = &((const ocs_string *)src->data)[i];
        ocs_string *to = &((ocs_string *)dst->data)[o];
        char *buf = malloc(from->len + 1);
        if (!buf)
            return ocs_fail(a->err, OCS_ERR_NOMEM, "out of memory copying a string of %zu bytes",
                            from->len);
        if (from->len)
            memcpy(buf, from->data, from->len);
        buf[from->len] = '\0';
        free(to->data);
        to->data = buf;
        to->len = from->len;
        return OCS_OK;
    }
    size_t sz = ocs_dtype_size(src->dtype);
    memcpy((char *)dst->data + o * sz, (const char *)src->data + i * sz, sz);
    return OCS_OK;
}

void ocs_red_sum_init(ocs_red_sum *s, ocs_dtype t)
{
    s->dtype = t;
    s->is_float = ocs_dtype_is_float(t);
    s->f = 0.0;
    s->u = 0;
}

void ocs_red_sum_add(ocs_red_sum *s, const ocs_tensor *t, size_t i)
{
    if (s->is_float)
        s->f += ocs_tensor_get_f64(t, i);
    else if (t->dtype == OCS_UINT64)
        s->u += get_u64(t, i);
    else
        s->u += (uint64_t)ocs_tensor_get_i64(t, i);   /* modulo 2^64 */
}

static void store_int(ocs_tensor *dst, size_t o, uint64_t u)
{
    if (dst->dtype == OCS_UINT64)
        ((uint64_t *)dst->data)[o] = u;
    else
        ocs_tensor_set_i64(dst, o, wrap_i64(u));   /* wraps to the type's width */
}

void ocs_red_sum_store(const ocs_red_sum *s, ocs_tensor *dst, size_t o)
{
    if (s->is_float)
        ocs_tensor_set_f64(dst, o, s->f);
    else
        store_int(dst, o, s->u);
}

void ocs_red_sum_store_mean(const ocs_red_sum *s, ocs_tensor *dst, size_t o, size_t count)
{
    if (s->is_float) {
        ocs_tensor_set_f64(dst, o, count ? s->f / (double)count : NAN);
        return;
    }
    if (count == 0) {
        store_int(dst, o, 0);
        return;
    }
    if (ocs_dtype_is_signed(s->dtype)) {
        int64_t q = wrap_i64(s->u) / (int64_t)count;   /* C division truncates toward zero */
        store_int(dst, o, (uint64_t)q);
    } else {
        store_int(dst, o, s->u / count);
    }
}

/* ---- the softmax family ------------------------------------------------------ */

ocs_status ocs_red_softmax(ocs_kernel_args *a, int log_form)
{
    ocs_status s = ocs_need_inputs(a, 1, 1);
    if (s != OCS_OK)
        return s;
    const ocs_tensor *x = a->inputs[0];
    if (!ocs_red_is_std_float(x->dtype))
        return ocs_dtype_unsupported(a, x, "input 0");

    /* Versions 1 and 11 coerce to 2-D at axis (default 1); 13 uses one axis (default -1). */
    int coerce = a->since_version < 13;
    int64_t axis_attr;
    s = ocs_node_attr_int(a->node, "axis", coerce ? 1 : -1, &axis_attr, a->err);
    if (s != OCS_OK)
        return s;
    if (x->rank == 0)
        return ocs_fail(a->err, OCS_ERR_INVALID, "input 0 is a scalar; it needs rank >= 1");
    int axis;
    s = ocs_axis(a, axis_attr, x->rank, "attribute axis", &axis);
    if (s != OCS_OK)
        return s;

    ocs_tensor *y;
    s = ocs_output(a, 0, x->dtype, x->rank, x->dims, &y);
    if (s != OCS_OK || x->numel == 0)
        return s;

    /* Each normalised group is n elements, inner apart, in outer x inner groups. */
    ocs_axis_view v;
    if (coerce) {
        v.outer = 1;
        for (int i = 0; i < axis; i++)
            v.outer *= (size_t)x->dims[i];
        v.n = x->numel / v.outer;   /* a_axis * ... * a_{r-1} */
        v.inner = 1;
    } else {
        ocs_axis_view_init(&v, x, axis);
    }

    for (size_t o = 0; o < v.outer; o++) {
        for (size_t i = 0; i < v.inner; i++) {
            /* Subtract the maximum first so that exp() cannot overflow. */
            double max = -INFINITY;
            for (size_t j = 0; j < v.n; j++) {
                double e = ocs_tensor_get_f64(x, ocs_axis_view_index(&v, o, j, i));
                if (e > max || isnan(e))
                    max = e;
                if (isnan(max))
                    break;
            }
            double sum = 0.0;
            for (size_t j = 0; j < v.n; j++)
                sum += exp(ocs_tensor_get_f64(x, ocs_axis_view_index(&v, o, j, i)) - max);
            double log_sum = log(sum);
            for (size_t j = 0; j < v.n; j++) {
                size_t k = ocs_axis_view_index(&v, o, j, i);
                double d = ocs_tensor_get_f64(x, k) - max;
                ocs_tensor_set_f64(y, k, log_form ? d - log_sum : exp(d) / sum);
            }
        }
    }
    return OCS_OK;
}
