/*
 * reference/ops/top_k.c - TopK: the k largest (largest=1, the default) or
 * smallest elements along `axis` (default -1), with their int64 indices.
 * Version 1 takes k as an attribute; versions 10, 11 and 24 take it as
 * input 1 (a 1-D int64 tensor holding one value).  Versions 11 and 24 add
 * `largest` and `sorted` and integer types; 24 adds bfloat16.  Equal values
 * keep their order along the axis: the lower index comes first.  NaN ranks
 * above every number.  Results are always returned sorted, which `sorted=0`
 * permits.
 */
#include "reduce.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* One line of the input along the axis, and the order to rank it in. */
typedef struct line {
    const ocs_tensor *x;
    const ocs_axis_view *v;
    size_t o, i;
    int largest;
} line;

/* Whether position p along the line is ranked before position q. */
static int ranks_before(const line *l, size_t p, size_t q)
{
    int c = ocs_red_cmp(l->x, ocs_axis_view_index(l->v, l->o, p, l->i),
                        ocs_axis_view_index(l->v, l->o, q, l->i));
    if (c != 0)
        return l->largest ? c > 0 : c < 0;
    return p < q;
}

/* Sorts positions pos[0..n) by ranks_before, using tmp[0..n) as scratch. */
static void merge_sort(const line *l, size_t *pos, size_t *tmp, size_t n)
{
    if (n < 2)
        return;
    size_t half = n / 2;
    merge_sort(l, pos, tmp, half);
    merge_sort(l, pos + half, tmp, n - half);
    size_t p = 0, q = half, k = 0;
    while (p < half && q < n)
        tmp[k++] = ranks_before(l, pos[q], pos[p]) ? pos[q++] : pos[p++];
    while (p < half)
        tmp[k++] = pos[p++];
    while (q < n)
        tmp[k++] = pos[q++];
    memcpy(pos, tmp, n * sizeof *pos);
}

/* k from the attribute (version 1) or from input 1 (version 10 on). */
static ocs_status read_k(ocs_kernel_args *a, int64_t *k)
{
    const char *op = a->node->op_type;
    ocs_status s;
    if (a->since_version < 10) {
        if ((s = ocs_need_inputs(a, 1, 1)) != OCS_OK)
            return s;
        if (!ocs_node_attr(a->node, "k"))
            return ocs_fail(a->err, OCS_ERR_INVALID, "%s-1 requires attribute k", op);
        return ocs_node_attr_int(a->node, "k", 0, k, a->err);
    }
    if ((s = ocs_need_inputs(a, 2, 2)) != OCS_OK)
        return s;
    int64_t *vals = NULL;
    size_t n = 0;
    if ((s = ocs_read_ints(a, a->inputs[1], "K (input 1)", &vals, &n)) != OCS_OK)
        return s;
    if (n == 1)
        *k = vals[0];
    free(vals);
    if (n != 1)
        return ocs_fail(a->err, OCS_ERR_INVALID, "K (input 1) must hold one value, it holds %zu", n);
    return OCS_OK;
}

ocs_status ocs_ref_TopK(ocs_kernel_args *a)
{
    const char *op = a->node->op_type;
    int64_t k = 0;
    ocs_status s = read_k(a, &k);
    if (s != OCS_OK)
        return s;
    const ocs_tensor *x = a->inputs[0];
    if (!ocs_red_is_std_float(x->dtype) && !ocs_red_is_std_int(x->dtype))
        return ocs_dtype_unsupported(a, x, "input 0");

    int64_t axis_attr, largest = 1;
    if ((s = ocs_node_attr_int(a->node, "axis", -1, &axis_attr, a->err)) != OCS_OK)
        return s;
    if (a->since_version >= 11 &&
        (s = ocs_node_attr_int(a->node, "largest", 1, &largest, a->err)) != OCS_OK)
        return s;
    int axis;
    if ((s = ocs_axis(a, axis_attr, x->rank, "attribute axis", &axis)) != OCS_OK)
        return s;
    if (k < 0 || k > x->dims[axis])
        return ocs_fail(a->err, OCS_ERR_INVALID, "k = %lld is outside [0, %lld], the size of axis %d",
                        (long long)k, (long long)x->dims[axis], axis);
    if (a->n_outputs != 2)
        return ocs_fail(a->err, OCS_ERR_INVALID, "%s has two outputs (Values, Indices), the node lists %zu",
                        op, a->n_outputs);

    int64_t out_dims[OCS_MAX_RANK];
    for (int d = 0; d < x->rank; d++)
        out_dims[d] = d == axis ? k : x->dims[d];
    ocs_tensor *values, *indices;
    if ((s = ocs_output(a, 0, x->dtype, x->rank, out_dims, &values)) != OCS_OK ||
        (s = ocs_output(a, 1, OCS_INT64, x->rank, out_dims, &indices)) != OCS_OK)
        return s;
    if (values->numel == 0)
        return OCS_OK;

    ocs_axis_view v;
    ocs_axis_view_init(&v, x, axis);
    ocs_axis_view ov = {v.outer, (size_t)k, v.inner};
    if (v.n > SIZE_MAX / (2 * sizeof(size_t)))
        return ocs_fail(a->err, OCS_ERR_NOMEM, "axis of %zu elements is too long", v.n);
    size_t *pos = malloc(2 * v.n * sizeof *pos);
    if (!pos)
        return ocs_fail(a->err, OCS_ERR_NOMEM, "out of memory ranking %zu elements", v.n);
    for (size_t o = 0; o < v.outer; o++) {
        for (size_t i = 0; i < v.inner; i++) {
            line l = {x, &v, o, i, largest != 0};
            for (size_t j = 0; j < v.n; j++)
                pos[j] = j;
            merge_sort(&l, pos, pos + v.n, v.n);
            for (size_t r = 0; r < (size_t)k; r++) {
                size_t at = ocs_axis_view_index(&ov, o, r, i);
                s = ocs_red_copy_elem(a, values, at, x, ocs_axis_view_index(&v, o, pos[r], i));
                if (s != OCS_OK) {
                    free(pos);
                    return s;
                }
                ocs_tensor_set_i64(indices, at, (int64_t)pos[r]);
            }
        }
    }
    free(pos);
    return OCS_OK;
}
