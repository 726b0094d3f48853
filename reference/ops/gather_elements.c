/*
 * reference/ops/gather_elements.c - GatherElements (versions 11, 13).
 *
 * data and indices have the same rank r; the output has the shape of
 * indices.  For r = 3 and axis = 1:
 *     out[i][j][k] = data[i][indices[i][j][k]][k]
 * Along every other axis, indices may not be longer than data.  Index values
 * lie in [-s, s-1] for the axis of size s; anything else is an error.
 */
#include "movement.h"

ocs_status ocs_ref_GatherElements(ocs_kernel_args *a)
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
        return ocs_fail(a->err, OCS_ERR_INVALID, "GatherElements: data must have rank >= 1, got a scalar");
    if (ind->rank != data->rank)
        return ocs_fail(a->err, OCS_ERR_INVALID, "GatherElements: indices have rank %d but data has rank %d",
                        ind->rank, data->rank);

    int64_t axis_attr = 0;
    int axis;
    if ((s = ocs_node_attr_int(a->node, "axis", 0, &axis_attr, a->err)) != OCS_OK ||
        (s = ocs_axis(a, axis_attr, data->rank, "attribute 'axis'", &axis)) != OCS_OK)
        return s;
    for (int d = 0; d < data->rank; d++)
        if (d != axis && ind->dims[d] > data->dims[d])
            return ocs_fail(a->err, OCS_ERR_INVALID,
                            "GatherElements: indices dimension %d has size %lld, larger than data's %lld",
                            d, (long long)ind->dims[d], (long long)data->dims[d]);

    ocs_tensor *out = NULL;
    if ((s = ocs_output(a, 0, data->dtype, ind->rank, ind->dims, &out)) != OCS_OK)
        return s;

    int64_t strides[OCS_MAX_RANK];
    ocs_strides(data->rank, data->dims, strides);
    int64_t idx[OCS_MAX_RANK] = {0};
    for (size_t k = 0; k < ind->numel; k++) {
        int64_t v;
        if ((s = ocs_mv_index(a, ind, k, data->dims[axis], 1, "indices", &v)) != OCS_OK)
            return s;
        int64_t src = 0;
        for (int d = 0; d < data->rank; d++)
            src += (d == axis ? v : idx[d]) * strides[d];
        if ((s = ocs_mv_copy(a, out, k, data, (size_t)src, 1)) != OCS_OK)
            return s;
        ocs_index_next(ind->rank, ind->dims, idx);
    }
    return OCS_OK;
}
