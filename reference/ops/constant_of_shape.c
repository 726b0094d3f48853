/*
 * reference/ops/constant_of_shape.c - ConstantOfShape (versions 9, 20, 21, 23, 24, 25).
 *
 * Outputs a tensor of the shape given by the int64 1-D input (every entry
 * >= 0; an empty shape gives a scalar) with every element equal to the
 * one-element `value` attribute, whose type the output takes.  Without the
 * attribute the output is float zeros.
 */
#include "movement.h"

#include <stdlib.h>

ocs_status ocs_ref_ConstantOfShape(ocs_kernel_args *a)
{
    ocs_status s = ocs_need_inputs(a, 1, 1);
    if (s != OCS_OK)
        return s;
    const ocs_tensor *shape = a->inputs[0];
    if (shape->dtype != OCS_INT64)
        return ocs_fail(a->err, OCS_ERR_INVALID, "ConstantOfShape: input 0 (shape) must be int64, got %s",
                        ocs_dtype_name(shape->dtype));
    const ocs_tensor *value = NULL;
    if ((s = ocs_node_attr_tensor(a->node, "value", &value, a->err)) != OCS_OK)
        return s;
    if (value) {
        if (value->numel != 1)
            return ocs_fail(a->err, OCS_ERR_INVALID, "ConstantOfShape: attribute 'value' must hold one element, it holds %zu",
                            value->numel);
        if ((s = ocs_mv_check_dtype(a, value, "attribute 'value'")) != OCS_OK)
            return s;
    }

    int64_t *req = NULL;
    size_t n = 0;
    if ((s = ocs_read_ints(a, shape, "ConstantOfShape input 0 (shape)", &req, &n)) != OCS_OK)
        return s;
    if (n > OCS_MAX_RANK) {
        free(req);
        return ocs_fail(a->err, OCS_ERR_UNSUPPORTED, "ConstantOfShape: shape has %zu entries; at most %d are supported",
                        n, OCS_MAX_RANK);
    }
    int64_t dims[OCS_MAX_RANK];
    for (size_t i = 0; i < n; i++) {
        if (req[i] < 0) {
            s = ocs_fail(a->err, OCS_ERR_INVALID, "ConstantOfShape: shape entry %zu is %lld; entries must be >= 0",
                         i, (long long)req[i]);
            free(req);
            return s;
        }
        dims[i] = req[i];
    }
    free(req);

    ocs_tensor *out = NULL;
    if ((s = ocs_output(a, 0, value ? value->dtype : OCS_FLOAT, (int)n, dims, &out)) != OCS_OK)
        return s;
    if (!value)
        return OCS_OK; /* new tensors are zero-filled */
    for (size_t i = 0; i < out->numel; i++)
        if ((s = ocs_mv_copy(a, out, i, value, 0, 1)) != OCS_OK)
            return s;
    return OCS_OK;
}
