/*
 * reference/ops/tile.c - Tile (versions 1, 6, 13).
 *
 * Repeats the input along its axes: output.shape[i] = input.shape[i] *
 * repeats[i] and output[j] = input[j mod input.shape].  From version 6,
 * `repeats` is an int64 1-D input with one non-negative entry per axis.
 * Version 1 takes two int64 scalar inputs instead, `tiles` and `axis`, and
 * repeats the input `tiles` times along that one axis.
 */
#include "movement.h"

#include <stdlib.h>

ocs_status ocs_ref_Tile(ocs_kernel_args *a)
{
    ocs_status s = ocs_need_inputs(a, a->since_version >= 6 ? 2 : 3, a->since_version >= 6 ? 2 : 3);
    if (s != OCS_OK)
        return s;
    const ocs_tensor *x = a->inputs[0];
    if ((s = ocs_mv_check_dtype(a, x, "input")) != OCS_OK)
        return s;
    int r = x->rank;
    int64_t reps[OCS_MAX_RANK];
    for (int d = 0; d < r; d++)
        reps[d] = 1;

    if (a->since_version >= 6) {
        const ocs_tensor *rt = a->inputs[1];
        if (rt->dtype != OCS_INT64)
            return ocs_fail(a->err, OCS_ERR_INVALID, "Tile: input 1 (repeats) must be int64, got %s",
                            ocs_dtype_name(rt->dtype));
        int64_t *v = NULL;
        size_t n = 0;
        if ((s = ocs_read_ints(a, rt, "Tile input 1 (repeats)", &v, &n)) != OCS_OK)
            return s;
        if (n != (size_t)r) {
            free(v);
            return ocs_fail(a->err, OCS_ERR_INVALID, "Tile: repeats has %zu entries but the input has rank %d", n, r);
        }
        for (int d = 0; d < r; d++)
            reps[d] = v[d];
        free(v);
    } else {
        const ocs_tensor *tiles = a->inputs[1], *axis_t = a->inputs[2];
        if (tiles->numel != 1 || axis_t->numel != 1 || !ocs_dtype_is_integer(tiles->dtype) ||
            !ocs_dtype_is_integer(axis_t->dtype))
            return ocs_fail(a->err, OCS_ERR_INVALID, "Tile-1: inputs 1 (tiles) and 2 (axis) must be int64 scalars");
        int axis;
        if ((s = ocs_axis(a, ocs_tensor_get_i64(axis_t, 0), r, "Tile-1 input 2 (axis)", &axis)) != OCS_OK)
            return s;
        reps[axis] = ocs_tensor_get_i64(tiles, 0);
    }

    int64_t dims[OCS_MAX_RANK];
    for (int d = 0; d < r; d++) {
        if (reps[d] < 0)
            return ocs_fail(a->err, OCS_ERR_INVALID, "Tile: repeats[%d] is %lld; repeats must be >= 0",
                            d, (long long)reps[d]);
        if (reps[d] != 0 && x->dims[d] > INT64_MAX / reps[d])
            return ocs_fail(a->err, OCS_ERR_NOMEM, "Tile: dimension %d (%lld x %lld) overflows",
                            d, (long long)x->dims[d], (long long)reps[d]);
        dims[d] = x->dims[d] * reps[d];
    }

    ocs_tensor *out = NULL;
    if ((s = ocs_output(a, 0, x->dtype, r, dims, &out)) != OCS_OK)
        return s;
    int64_t strides[OCS_MAX_RANK];
    ocs_strides(r, x->dims, strides);
    int64_t idx[OCS_MAX_RANK] = {0};
    for (size_t o = 0; o < out->numel; o++) {
        int64_t src = 0;
        for (int d = 0; d < r; d++)
            src += (idx[d] % x->dims[d]) * strides[d];
        if ((s = ocs_mv_copy(a, out, o, x, (size_t)src, 1)) != OCS_OK)
            return s;
        ocs_index_next(r, dims, idx);
    }
    return OCS_OK;
}
