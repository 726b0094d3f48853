/*
 * reference/ops/expand.c - Expand (versions 8, 13).
 *
 * Broadcasts the input against the int64 1-D `shape` input with ONNX's
 * multidirectional (numpy) rules: the shapes are aligned at the back and
 * each pair of dimensions must be equal or contain a 1.  The output shape is
 * the broadcast of both, so it may be larger than `shape` (a 1 in `shape`
 * keeps the input's dimension, and `shape` may be shorter than the input).
 */
#include "movement.h"

#include <stdlib.h>

ocs_status ocs_ref_Expand(ocs_kernel_args *a)
{
    ocs_status s = ocs_need_inputs(a, 2, 2);
    if (s != OCS_OK)
        return s;
    const ocs_tensor *x = a->inputs[0];
    const ocs_tensor *shape = a->inputs[1];
    if ((s = ocs_mv_check_dtype(a, x, "input")) != OCS_OK)
        return s;
    if (shape->dtype != OCS_INT64)
        return ocs_fail(a->err, OCS_ERR_INVALID, "Expand: input 1 (shape) must be int64, got %s",
                        ocs_dtype_name(shape->dtype));
    int64_t *req = NULL;
    size_t n = 0;
    if ((s = ocs_read_ints(a, shape, "Expand input 1 (shape)", &req, &n)) != OCS_OK)
        return s;
    if (n > OCS_MAX_RANK) {
        free(req);
        return ocs_fail(a->err, OCS_ERR_UNSUPPORTED, "Expand: shape has %zu entries; at most %d are supported",
                        n, OCS_MAX_RANK);
    }
    for (size_t i = 0; i < n; i++) {
        if (req[i] < 0) {
            s = ocs_fail(a->err, OCS_ERR_INVALID, "Expand: shape entry %zu is %lld; entries must be >= 0",
                         i, (long long)req[i]);
            free(req);
            return s;
        }
    }

    /* Broadcast the two shapes: a tensor-shaped stand-in carries `shape`. */
    ocs_tensor target = {0};
    target.dtype = x->dtype;
    target.rank = (int)n;
    for (size_t i = 0; i < n; i++)
        target.dims[i] = req[i];
    free(req);
    const ocs_tensor *both[2] = {x, &target};
    int rank;
    int64_t dims[OCS_MAX_RANK];
    if ((s = ocs_broadcast_shapes(a, 2, both, &rank, dims)) != OCS_OK)
        return s;

    ocs_tensor *out = NULL;
    if ((s = ocs_output(a, 0, x->dtype, rank, dims, &out)) != OCS_OK)
        return s;
    ocs_bview view;
    ocs_bview_init(&view, x, rank, dims);
    int64_t idx[OCS_MAX_RANK] = {0};
    for (size_t o = 0; o < out->numel; o++) {
        if ((s = ocs_mv_copy(a, out, o, x, ocs_bview_offset(&view, idx), 1)) != OCS_OK)
            return s;
        ocs_index_next(rank, dims, idx);
    }
    return OCS_OK;
}
