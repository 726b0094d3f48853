/*
 * reference/ops/constant.c - Constant (versions 1, 9, 11, 12, 13, 19, 21, 23, 24, 25).
 *
 * Outputs the value held by exactly one attribute:
 *   value          a tensor, copied as it is             (all versions)
 *   sparse_value   a COO sparse tensor, densified: zeros
 *                  (empty strings) except at its indices   (version 11 on)
 *   value_float    float scalar,   value_floats  float 1-D
 *   value_int      int64 scalar,   value_ints    int64 1-D
 *   value_string   string scalar,  value_strings string 1-D  (version 12 on)
 */
#include "movement.h"

#include <string.h>

static const char *const attr_names[] = {
    "value", "sparse_value", "value_float", "value_floats",
    "value_int", "value_ints", "value_string", "value_strings",
};
#define N_ATTRS (sizeof attr_names / sizeof attr_names[0])

/* The version that introduced attribute i. */
static int64_t attr_since(size_t i)
{
    return i == 0 ? 1 : i == 1 ? 11 : 12;
}

static ocs_status need_type(ocs_kernel_args *a, const ocs_attr *at, ocs_attr_type t)
{
    if (at->type != t)
        return ocs_fail(a->err, OCS_ERR_INVALID, "Constant: attribute '%s' has type %s, expected %s",
                        at->name, ocs_attr_type_name(at->type), ocs_attr_type_name(t));
    return OCS_OK;
}

static ocs_status densify(ocs_kernel_args *a, const ocs_sparse *sp)
{
    const ocs_tensor *vals = sp->values, *ind = sp->indices;
    if (!vals || !ind)
        return ocs_fail(a->err, OCS_ERR_INVALID, "Constant: attribute 'sparse_value' lacks values or indices");
    ocs_status s = ocs_mv_check_dtype(a, vals, "sparse_value values");
    if (s != OCS_OK)
        return s;
    if (vals->rank != 1)
        return ocs_fail(a->err, OCS_ERR_INVALID, "Constant: sparse_value values must be 1-D, got rank %d", vals->rank);
    if (ind->dtype != OCS_INT64 && ind->dtype != OCS_INT32)
        return ocs_fail(a->err, OCS_ERR_INVALID, "Constant: sparse_value indices must be int64, got %s",
                        ocs_dtype_name(ind->dtype));
    size_t nnz = vals->numel;
    int linear = ind->rank == 1;
    if (linear ? ind->dims[0] != (int64_t)nnz
               : ind->rank != 2 || ind->dims[0] != (int64_t)nnz || ind->dims[1] != sp->rank)
        return ocs_fail(a->err, OCS_ERR_INVALID,
                        "Constant: sparse_value indices must have shape [%zu] or [%zu, %d]", nnz, nnz, sp->rank);

    ocs_tensor *out = NULL;
    if ((s = ocs_output(a, 0, vals->dtype, sp->rank, sp->dims, &out)) != OCS_OK)
        return s;
    int64_t strides[OCS_MAX_RANK];
    ocs_strides(sp->rank, sp->dims, strides);
    for (size_t k = 0; k < nnz; k++) {
        int64_t at = 0;
        if (linear) {
            if ((s = ocs_mv_index(a, ind, k, (int64_t)out->numel, 0, "sparse_value index", &at)) != OCS_OK)
                return s;
        } else {
            for (int d = 0; d < sp->rank; d++) {
                int64_t v;
                if ((s = ocs_mv_index(a, ind, k * (size_t)sp->rank + (size_t)d, sp->dims[d], 0,
                                      "sparse_value index", &v)) != OCS_OK)
                    return s;
                at += v * strides[d];
            }
        }
        if ((s = ocs_mv_copy(a, out, (size_t)at, vals, k, 1)) != OCS_OK)
            return s;
    }
    return OCS_OK;
}

ocs_status ocs_ref_Constant(ocs_kernel_args *a)
{
    ocs_status s = ocs_need_inputs(a, 0, 0);
    if (s != OCS_OK)
        return s;
    const ocs_attr *at = NULL;
    size_t which = 0;
    for (size_t i = 0; i < N_ATTRS; i++) {
        const ocs_attr *x = ocs_node_attr(a->node, attr_names[i]);
        if (!x)
            continue;
        if (a->since_version < attr_since(i))
            return ocs_fail(a->err, OCS_ERR_INVALID, "Constant-%lld has no attribute '%s' (added in version %lld)",
                            (long long)a->since_version, attr_names[i], (long long)attr_since(i));
        if (at)
            return ocs_fail(a->err, OCS_ERR_INVALID, "Constant: attributes '%s' and '%s' are both set; exactly one is allowed",
                            attr_names[which], attr_names[i]);
        at = x;
        which = i;
    }
    if (!at)
        return ocs_fail(a->err, OCS_ERR_INVALID, "Constant: none of the value attributes is set");

    ocs_tensor *out = NULL;
    int64_t n;
    switch (which) {
    case 0:
        if ((s = need_type(a, at, OCS_ATTR_TENSOR)) != OCS_OK)
            return s;
        if (!at->t)
            return ocs_fail(a->err, OCS_ERR_INVALID, "Constant: attribute 'value' holds no tensor");
        if ((s = ocs_mv_check_dtype(a, at->t, "attribute 'value'")) != OCS_OK)
            return s;
        return ocs_mv_output_copy(a, 0, at->t, at->t->rank, at->t->dims);
    case 1:
        if ((s = need_type(a, at, OCS_ATTR_SPARSE_TENSOR)) != OCS_OK)
            return s;
        if (!at->sparse)
            return ocs_fail(a->err, OCS_ERR_INVALID, "Constant: attribute 'sparse_value' holds no tensor");
        return densify(a, at->sparse);
    case 2:
        if ((s = need_type(a, at, OCS_ATTR_FLOAT)) != OCS_OK ||
            (s = ocs_output(a, 0, OCS_FLOAT, 0, NULL, &out)) != OCS_OK)
            return s;
        ((float *)out->data)[0] = at->f;
        return OCS_OK;
    case 3:
        n = (int64_t)at->n;
        if ((s = need_type(a, at, OCS_ATTR_FLOATS)) != OCS_OK ||
            (s = ocs_output(a, 0, OCS_FLOAT, 1, &n, &out)) != OCS_OK)
            return s;
        if (at->n)
            memcpy(out->data, at->floats, at->n * sizeof(float));
        return OCS_OK;
    case 4:
        if ((s = need_type(a, at, OCS_ATTR_INT)) != OCS_OK ||
            (s = ocs_output(a, 0, OCS_INT64, 0, NULL, &out)) != OCS_OK)
            return s;
        ((int64_t *)out->data)[0] = at->i;
        return OCS_OK;
    case 5:
        n = (int64_t)at->n;
        if ((s = need_type(a, at, OCS_ATTR_INTS)) != OCS_OK ||
            (s = ocs_output(a, 0, OCS_INT64, 1, &n, &out)) != OCS_OK)
            return s;
        if (at->n)
            memcpy(out->data, at->ints, at->n * sizeof(int64_t));
        return OCS_OK;
    case 6:
    case 7: {
        int scalar = which == 6;
        if ((s = need_type(a, at, scalar ? OCS_ATTR_STRING : OCS_ATTR_STRINGS)) != OCS_OK)
            return s;
        /* A read-only tensor view of the attribute's strings. */
        ocs_tensor view = {0};
        view.dtype = OCS_STRING;
        view.rank = scalar ? 0 : 1;
        view.dims[0] = (int64_t)at->n;
        view.numel = scalar ? 1 : at->n;
        view.nbytes = view.numel * sizeof(ocs_string);
        view.data = scalar ? (void *)&at->s : (void *)at->strings;
        return ocs_mv_output_copy(a, 0, &view, view.rank, view.dims);
    }
    }
    return ocs_fail(a->err, OCS_ERR_INVALID, "Constant: unknown value attribute");
}
