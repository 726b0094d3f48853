/*
 * reference/ops/gather.c - Gather (versions 1, 11, 13).
 *
 * output[i_0..i_{axis-1}, j_0..j_{q-1}, i_{axis+1}..] =
 *     data[i_0..i_{axis-1}, indices[j_0..j_{q-1}], i_{axis+1}..]
 * Output rank is q + r - 1.  Index values lie in [-s, s-1] along the axis of
 * size s (version 1: [0, s-1]); anything else is an error.
 */
#include "movement.h"

ocs_status ocs_ref_Gather(ocs_kernel_args *a)
{
    ocs_status s = ocs_need_inputs(a, 2, 2);
    if (s != OCS_OK)
        return s;
    const ocs_tensor *data = a->inputs[0];
    const ocs_tensor *ind = a->inputs[1];
    if ((s = ocs_mv_check_dtype(a, data, "data")) != OCS_OK ||
        (s = ocs_mv_check_index_dtype(a, ind, "indices")) != OCS_OK)
        return s;
    if (data->rank < 1)
        return ocs_fail(a->err, OCS_ERR_INVALID, "Gather: data must have rank >= 1, got a scalar");

    int64_t axis_attr = 0;
    int axis;
    if ((s = ocs_node_attr_int(a->node, "axis", 0, &axis_attr, a->err)) != OCS_OK ||
        (s = ocs_axis(a, axis_attr, data->rank, "attribute 'axis'", &axis)) != OCS_OK)
        return s;

    int out_rank = data->rank - 1 + ind->rank;
    if (out_rank > OCS_MAX_RANK)
        return ocs_fail(a->err, OCS_ERR_UNSUPPORTED, "Gather: output rank %d exceeds %d",
                        out_rank, OCS_MAX_RANK);
    int64_t dims[OCS_MAX_RANK];
    int r = 0;
    for (int i = 0; i < axis; i++)
        dims[r++] = data->dims[i];
    for (int i = 0; i < ind->rank; i++)
        dims[r++] = ind->dims[i];
    for (int i = axis + 1; i < data->rank; i++)
        dims[r++] = data->dims[i];

    ocs_tensor *out = NULL;
    if ((s = ocs_output(a, 0, data->dtype, out_rank, dims, &out)) != OCS_OK)
        return s;

    size_t outer, inner;
    if ((s = ocs_mv_span(a, data->dims, 0, axis, &outer)) != OCS_OK ||
        (s = ocs_mv_span(a, data->dims, axis + 1, data->rank, &inner)) != OCS_OK)
        return s;
    int64_t dim = data->dims[axis];
    size_t n_idx = ind->numel;
    int allow_negative = a->since_version >= 11;

    /* Check every index first, so that a bad one fails even when the output is empty. */
    for (size_t k = 0; k < n_idx; k++) {
        int64_t v;
        if ((s = ocs_mv_index(a, ind, k, dim, allow_negative, "indices", &v)) != OCS_OK)
            return s;
    }
    for (size_t o = 0; o < outer; o++) {
        for (size_t k = 0; k < n_idx; k++) {
            int64_t v;
            if ((s = ocs_mv_index(a, ind, k, dim, allow_negative, "indices", &v)) != OCS_OK)
                return s;
            size_t src = (o * (size_t)dim + (size_t)v) * inner;
            size_t dst = (o * n_idx + k) * inner;
            if ((s = ocs_mv_copy(a, out, dst, data, src, inner)) != OCS_OK)
                return s;
        }
    }
    return OCS_OK;
}
