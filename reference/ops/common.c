/*
 * reference/ops/common.c - helpers shared by the reference kernels.
 */
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const ocs_tensor *ocs_input(const ocs_kernel_args *a, size_t i)
{
    return i < a->n_inputs ? a->inputs[i] : NULL;
}

ocs_status ocs_need_inputs(const ocs_kernel_args *a, size_t min_present, size_t max)
{
    if (a->n_inputs > max)
        return ocs_fail(a->err, OCS_ERR_INVALID, "%s takes at most %zu inputs, the node has %zu",
                        a->node->op_type, max, a->n_inputs);
    for (size_t i = 0; i < min_present; i++)
        if (!ocs_input(a, i))
            return ocs_fail(a->err, OCS_ERR_INVALID, "%s requires input %zu, which is missing",
                            a->node->op_type, i);
    return OCS_OK;
}

ocs_status ocs_same_dtype(const ocs_kernel_args *a, size_t first, size_t last)
{
    const ocs_tensor *ref = ocs_input(a, first);
    if (!ref)
        return OCS_OK;
    for (size_t i = first + 1; i <= last; i++) {
        const ocs_tensor *t = ocs_input(a, i);
        if (t && t->dtype != ref->dtype)
            return ocs_fail(a->err, OCS_ERR_INVALID, "input %zu has type %s but input %zu has %s",
                            i, ocs_dtype_name(t->dtype), first, ocs_dtype_name(ref->dtype));
    }
    return OCS_OK;
}

ocs_status ocs_axis(const ocs_kernel_args *a, int64_t axis, int rank, const char *what, int *out)
{
    if (axis < -(int64_t)rank || axis >= (int64_t)rank)
        return ocs_fail(a->err, OCS_ERR_INVALID, "%s %lld is out of range for rank %d",
                        what, (long long)axis, rank);
    *out = (int)(axis < 0 ? axis + rank : axis);
    return OCS_OK;
}

void ocs_strides(int rank, const int64_t *dims, int64_t *strides)
{
    int64_t s = 1;
    for (int i = rank - 1; i >= 0; i--) {
        strides[i] = s;
        s *= dims[i];
    }
}

int ocs_index_next(int rank, const int64_t *dims, int64_t *idx)
{
    for (int i = rank - 1; i >= 0; i--) {
        if (++idx[i] < dims[i])
            return 1;
        idx[i] = 0;
    }
    return 0;
}

ocs_status ocs_broadcast_shapes(const ocs_kernel_args *a, size_t n, const ocs_tensor *const *ts,
                                int *rank, int64_t *dims)
{
    int r = 0;
    for (size_t k = 0; k < n; k++)
        if (ts[k] && ts[k]->rank > r)
            r = ts[k]->rank;
    for (int i = 0; i < r; i++)
        dims[i] = 1;
    for (size_t k = 0; k < n; k++) {
        const ocs_tensor *t = ts[k];
        if (!t)
            continue;
        for (int i = 0; i < t->rank; i++) {
            int o = r - t->rank + i;
            int64_t d = t->dims[i];
            if (d == dims[o] || d == 1)
                continue;
            if (dims[o] == 1) {
                dims[o] = d;
                continue;
            }
            char s1[128], s2[128];
            return ocs_fail(a->err, OCS_ERR_INVALID,
                            "shapes cannot be broadcast: input %zu %s against dimension %d of size %lld (%s)",
                            k, ocs_shape_str(t->rank, t->dims, s1, sizeof s1), o, (long long)dims[o],
                            ocs_shape_str(r, dims, s2, sizeof s2));
        }
    }
    *rank = r;
    return OCS_OK;
}

void ocs_bview_init(ocs_bview *v, const ocs_tensor *t, int out_rank, const int64_t *out_dims)
{
    int64_t st[OCS_MAX_RANK];
    ocs_strides(t->rank, t->dims, st);
    v->out_rank = out_rank;
    for (int o = 0; o < out_rank; o++) {
        int i = o - (out_rank - t->rank);
        v->strides[o] = (i < 0 || (t->dims[i] == 1 && out_dims[o] != 1)) ? 0 : st[i];
    }
}

size_t ocs_bview_offset(const ocs_bview *v, const int64_t *idx)
{
    int64_t off = 0;
    for (int o = 0; o < v->out_rank; o++)
        off += idx[o] * v->strides[o];
    return (size_t)off;
}

ocs_status ocs_read_ints(const ocs_kernel_args *a, const ocs_tensor *t, const char *what,
                         int64_t **out, size_t *count)
{
    *out = NULL;
    *count = 0;
    if (t->rank > 1)
        return ocs_fail(a->err, OCS_ERR_INVALID, "%s must be 1-D, got rank %d", what, t->rank);
    if (t->dtype != OCS_INT64 && t->dtype != OCS_INT32)
        return ocs_fail(a->err, OCS_ERR_INVALID, "%s must be int64 or int32, got %s", what,
                        ocs_dtype_name(t->dtype));
    if (t->numel == 0)
        return OCS_OK;
    int64_t *v = malloc(t->numel * sizeof *v);
    if (!v)
        return ocs_fail(a->err, OCS_ERR_NOMEM, "out of memory reading %s", what);
    for (size_t i = 0; i < t->numel; i++)
        v[i] = ocs_tensor_get_i64(t, i);
    *out = v;
    *count = t->numel;
    return OCS_OK;
}

ocs_status ocs_output(ocs_kernel_args *a, size_t i, ocs_dtype t, int rank, const int64_t *dims,
                      ocs_tensor **out)
{
    if (i >= a->n_outputs)
        return ocs_fail(a->err, OCS_ERR_INVALID, "%s has no output %zu", a->node->op_type, i);
    ocs_tensor *r = NULL;
    ocs_status s = ocs_tensor_new(t, rank, dims, &r, a->err);
    if (s != OCS_OK)
        return s;
    ocs_tensor_free(a->outputs[i]);
    a->outputs[i] = r;
    if (out)
        *out = r;
    return OCS_OK;
}

ocs_status ocs_dtype_unsupported(const ocs_kernel_args *a, const ocs_tensor *t, const char *what)
{
    return ocs_fail(a->err, OCS_ERR_UNSUPPORTED, "%s: %s of type %s is not supported",
                    a->node->op_type, what, ocs_dtype_name(t->dtype));
}

ocs_status ocs_copy_elems(ocs_tensor *dst, size_t di, const ocs_tensor *src, size_t si, size_t n,
                          ocs_err *err)
{
    if (dst->dtype != src->dtype)
        return ocs_fail(err, OCS_ERR_INVALID, "cannot copy %s elements into a %s tensor",
                        ocs_dtype_name(src->dtype), ocs_dtype_name(dst->dtype));
    if (di > dst->numel || n > dst->numel - di || si > src->numel || n > src->numel - si)
        return ocs_fail(err, OCS_ERR_INVALID, "element copy out of range");
    if (dst->dtype != OCS_STRING) {
        size_t es = ocs_dtype_size(dst->dtype);
        if (n)
            memmove((char *)dst->data + di * es, (const char *)src->data + si * es, n * es);
        return OCS_OK;
    }
    ocs_string *d = (ocs_string *)dst->data + di;
    const ocs_string *s = (const ocs_string *)src->data + si;
    for (size_t i = 0; i < n; i++) {
        char *copy = malloc(s[i].len + 1);
        if (!copy)
            return ocs_fail(err, OCS_ERR_NOMEM, "out of memory copying a string");
        if (s[i].len)
            memcpy(copy, s[i].data, s[i].len);
        copy[s[i].len] = '\0';
        free(d[i].data);
        d[i].data = copy;
        d[i].len = s[i].len;
    }
    return OCS_OK;
}
