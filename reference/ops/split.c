/*
 * reference/ops/split.c - Split (versions 1, 2, 11, 13, 18).
 *
 * Cuts the input along `axis` (default 0) into the node's outputs, in order.
 * The part sizes come from:
 *   version 1      the `split` attribute or the optional input 1 (one of them)
 *   versions 2-11  the `split` attribute
 *   version 13-    the optional int64 input 1 `split`
 * and must add up to the axis size.  Without them the axis is cut into as
 * many equal parts as there are outputs (which must divide it exactly),
 * except from version 18, where the `num_outputs` attribute (or, without it,
 * the output count) gives parts of ceil(size / n) with a smaller last part.
 */
#include "movement.h"

#include <stdlib.h>

ocs_status ocs_ref_Split(ocs_kernel_args *a)
{
    ocs_status s = ocs_need_inputs(a, 1, 2);
    if (s != OCS_OK)
        return s;
    const ocs_tensor *x = a->inputs[0];
    const ocs_tensor *split_in = ocs_input(a, 1);
    if ((s = ocs_mv_check_dtype(a, x, "input")) != OCS_OK)
        return s;
    if (x->rank < 1)
        return ocs_fail(a->err, OCS_ERR_INVALID, "Split: the input must have rank >= 1, got a scalar");
    size_t n_out = a->n_outputs;
    if (n_out < 1)
        return ocs_fail(a->err, OCS_ERR_INVALID, "Split: the node has no outputs");

    int64_t axis_attr = 0;
    int axis;
    if ((s = ocs_node_attr_int(a->node, "axis", 0, &axis_attr, a->err)) != OCS_OK ||
        (s = ocs_axis(a, axis_attr, x->rank, "attribute 'axis'", &axis)) != OCS_OK)
        return s;
    int64_t dim = x->dims[axis];

    const int64_t *attr_split = NULL;
    size_t attr_n = 0;
    int attr_present = 0;
    if ((s = ocs_node_attr_ints(a->node, "split", &attr_split, &attr_n, &attr_present, a->err)) != OCS_OK)
        return s;
    if (a->since_version >= 13 && attr_present)
        return ocs_fail(a->err, OCS_ERR_INVALID, "Split-%lld takes the split sizes as input 1, not as an attribute",
                        (long long)a->since_version);
    if (a->since_version >= 2 && a->since_version < 13 && split_in)
        return ocs_fail(a->err, OCS_ERR_INVALID, "Split-%lld takes the split sizes as an attribute, not as input 1",
                        (long long)a->since_version);
    if (split_in && attr_present)
        return ocs_fail(a->err, OCS_ERR_INVALID, "Split-1: give the split sizes as the attribute or as input 1, not both");
    int64_t num_outputs = 0;
    int has_num = a->since_version >= 18 && ocs_node_attr(a->node, "num_outputs");
    if (has_num) {
        if ((s = ocs_node_attr_int(a->node, "num_outputs", 0, &num_outputs, a->err)) != OCS_OK)
            return s;
        if (split_in)
            return ocs_fail(a->err, OCS_ERR_INVALID, "Split: give either input 'split' or attribute 'num_outputs', not both");
        if (num_outputs < 1 || (uint64_t)num_outputs != n_out)
            return ocs_fail(a->err, OCS_ERR_INVALID, "Split: attribute 'num_outputs' is %lld but the node has %zu outputs",
                            (long long)num_outputs, n_out);
    } else if (a->since_version < 18 && ocs_node_attr(a->node, "num_outputs")) {
        return ocs_fail(a->err, OCS_ERR_INVALID, "Split-%lld has no attribute 'num_outputs' (added in version 18)",
                        (long long)a->since_version);
    }

    int64_t *sizes = calloc(n_out, sizeof *sizes);
    int64_t *owned = NULL;
    if (!sizes)
        return ocs_fail(a->err, OCS_ERR_NOMEM, "Split: out of memory");
    if (split_in || attr_present) {
        const int64_t *v = attr_split;
        size_t n = attr_n;
        if (split_in) {
            if (a->since_version >= 13 && split_in->dtype != OCS_INT64) {
                s = ocs_fail(a->err, OCS_ERR_INVALID, "Split: input 1 (split) must be int64, got %s",
                             ocs_dtype_name(split_in->dtype));
                goto done;
            }
            if (split_in->rank > 1) {
                s = ocs_fail(a->err, OCS_ERR_INVALID, "Split: input 1 (split) must be 1-D, got rank %d", split_in->rank);
                goto done;
            }
            /* Split-1 gives the sizes in the data type T (a float type). */
            if (split_in->numel) {
                owned = malloc(split_in->numel * sizeof *owned);
                if (!owned) {
                    s = ocs_fail(a->err, OCS_ERR_NOMEM, "Split: out of memory");
                    goto done;
                }
            }
            for (size_t i = 0; i < split_in->numel; i++)
                owned[i] = ocs_tensor_get_i64(split_in, i);
            v = owned;
            n = split_in->numel;
        }
        if (n != n_out) {
            s = ocs_fail(a->err, OCS_ERR_INVALID, "Split: 'split' has %zu entries but the node has %zu outputs", n, n_out);
            goto done;
        }
        int64_t sum = 0;
        for (size_t i = 0; i < n; i++) {
            if (v[i] < 0 || v[i] > dim - sum) {
                s = ocs_fail(a->err, OCS_ERR_INVALID,
                             "Split: 'split' entry %zu is %lld; entries must be >= 0 and add up to %lld (axis %d)",
                             i, (long long)v[i], (long long)dim, axis);
                goto done;
            }
            sizes[i] = v[i];
            sum += v[i];
        }
        if (sum != dim) {
            s = ocs_fail(a->err, OCS_ERR_INVALID, "Split: 'split' entries add up to %lld but axis %d has size %lld",
                         (long long)sum, axis, (long long)dim);
            goto done;
        }
    } else if (a->since_version >= 18) {
        int64_t n = (int64_t)n_out;
        int64_t chunk = dim / n + (dim % n != 0);
        int64_t last = dim - chunk * (n - 1);
        if (last < 0) {
            s = ocs_fail(a->err, OCS_ERR_INVALID,
                         "Split: an axis of size %lld cannot be cut into %lld parts of %lld with a smaller last part",
                         (long long)dim, (long long)n, (long long)chunk);
            goto done;
        }
        for (size_t i = 0; i < n_out; i++)
            sizes[i] = i + 1 < n_out ? chunk : last;
    } else {
        if (dim % (int64_t)n_out != 0) {
            s = ocs_fail(a->err, OCS_ERR_INVALID, "Split: axis %d of size %lld does not divide into %zu equal parts",
                         axis, (long long)dim, n_out);
            goto done;
        }
        for (size_t i = 0; i < n_out; i++)
            sizes[i] = dim / (int64_t)n_out;
    }

    size_t outer, inner;
    if ((s = ocs_mv_span(a, x->dims, 0, axis, &outer)) != OCS_OK ||
        (s = ocs_mv_span(a, x->dims, axis + 1, x->rank, &inner)) != OCS_OK)
        goto done;
    int64_t offset = 0;
    for (size_t i = 0; i < n_out; i++) {
        int64_t dims[OCS_MAX_RANK];
        for (int d = 0; d < x->rank; d++)
            dims[d] = d == axis ? sizes[i] : x->dims[d];
        ocs_tensor *out = NULL;
        if ((s = ocs_output(a, i, x->dtype, x->rank, dims, &out)) != OCS_OK)
            goto done;
        size_t run = (size_t)sizes[i] * inner;
        for (size_t o = 0; o < outer; o++) {
            size_t src = (o * (size_t)dim + (size_t)offset) * inner;
            if ((s = ocs_mv_copy(a, out, o * run, x, src, run)) != OCS_OK)
                goto done;
        }
        offset += sizes[i];
    }
    s = OCS_OK;
done:
    free(owned);
    free(sizes);
    return s;
}
