/*
 * reference/ops/scatter_elements.c - ScatterElements (versions 11, 13, 16, 18).
 *
 * data, indices and updates have the same rank r; indices and updates the
 * same shape.  output = copy of data; then for every element position idx of
 * indices, in row-major order, with the axis coordinate replaced:
 *     output[idx with idx[axis] = indices[idx]] =
 *         reduce(that element, updates[idx])
 * reduction: none (replace; duplicates: the last write wins), add, mul
 * (version 16 on), max, min (version 18 on).  Along every other axis,
 * indices may not be longer than data.  Index values lie in [-s, s-1] for
 * the axis of size s; anything else is an error.
 */
#include "movement.h"

ocs_status ocs_ref_ScatterElements(ocs_kernel_args *a)
{
    ocs_status s = ocs_need_inputs(a, 3, 3);
    if (s != OCS_OK)
        return s;
    const ocs_tensor *data = a->inputs[0];
    const ocs_tensor *ind = a->inputs[1];
    const ocs_tensor *upd = a->inputs[2];
    if ((s = ocs_mv_check_dtype(a, data, "data")) != OCS_OK ||
        (s = ocs_mv_check_index_dtype(a, ind, "indices")) != OCS_OK)
        return s;
    if (upd->dtype != data->dtype)
        return ocs_fail(a->err, OCS_ERR_INVALID, "ScatterElements: updates have type %s but data has %s",
                        ocs_dtype_name(upd->dtype), ocs_dtype_name(data->dtype));
    ocs_mv_reduction red;
    if ((s = ocs_mv_reduction_attr(a, &red)) != OCS_OK)
        return s;
    if (data->rank < 1)
        return ocs_fail(a->err, OCS_ERR_INVALID, "ScatterElements: data must have rank >= 1, got a scalar");
    if (ind->rank != data->rank)
        return ocs_fail(a->err, OCS_ERR_INVALID, "ScatterElements: indices have rank %d but data has rank %d",
                        ind->rank, data->rank);
    int same = upd->rank == ind->rank;
    for (int d = 0; same && d < ind->rank; d++)
        same = upd->dims[d] == ind->dims[d];
    if (!same) {
        char s1[128], s2[128];
        return ocs_fail(a->err, OCS_ERR_INVALID, "ScatterElements: updates shape %s differs from indices shape %s",
                        ocs_shape_str(upd->rank, upd->dims, s1, sizeof s1),
                        ocs_shape_str(ind->rank, ind->dims, s2, sizeof s2));
    }

    int64_t axis_attr = 0;
    int axis;
    if ((s = ocs_node_attr_int(a->node, "axis", 0, &axis_attr, a->err)) != OCS_OK ||
        (s = ocs_axis(a, axis_attr, data->rank, "attribute 'axis'", &axis)) != OCS_OK)
        return s;
    for (int d = 0; d < data->rank; d++)
        if (d != axis && ind->dims[d] > data->dims[d])
            return ocs_fail(a->err, OCS_ERR_INVALID,
                            "ScatterElements: indices dimension %d has size %lld, larger than data's %lld",
                            d, (long long)ind->dims[d], (long long)data->dims[d]);

    if ((s = ocs_mv_output_copy(a, 0, data, data->rank, data->dims)) != OCS_OK)
        return s;
    ocs_tensor *out = a->outputs[0];

    int64_t strides[OCS_MAX_RANK];
    ocs_strides(data->rank, data->dims, strides);
    int64_t idx[OCS_MAX_RANK] = {0};
    for (size_t k = 0; k < ind->numel; k++) {
        int64_t v;
        if ((s = ocs_mv_index(a, ind, k, data->dims[axis], 1, "indices", &v)) != OCS_OK)
            return s;
        int64_t dst = 0;
        for (int d = 0; d < data->rank; d++)
            dst += (d == axis ? v : idx[d]) * strides[d];
        if ((s = ocs_mv_combine(a, out, (size_t)dst, upd, k, red)) != OCS_OK)
            return s;
        ocs_index_next(ind->rank, ind->dims, idx);
    }
    return OCS_OK;
}
