/*
 * reference/ops/reshape.c - Reshape (versions 1, 5, 13, 14, 19, 21, 23, 24, 25).
 *
 * The new shape is the `shape` attribute in version 1 and the int64 `shape`
 * input from version 5.  In it, at most one entry is -1 (inferred from the
 * element count) and an entry 0 copies the input's dimension at the same
 * index, unless allowzero = 1 (version 14 on), in which case 0 is a literal
 * zero and may not appear together with -1.  An empty shape makes a scalar.
 * The element count must not change.
 */
#include "movement.h"

#include <stdlib.h>

ocs_status ocs_ref_Reshape(ocs_kernel_args *a)
{
    ocs_status s;
    const int64_t *req = NULL;
    int64_t *owned = NULL;
    size_t n = 0;

    if (a->since_version < 5) {
        if ((s = ocs_need_inputs(a, 1, 1)) != OCS_OK)
            return s;
        int present = 0;
        if ((s = ocs_node_attr_ints(a->node, "shape", &req, &n, &present, a->err)) != OCS_OK)
            return s;
        if (!present)
            return ocs_fail(a->err, OCS_ERR_INVALID, "Reshape-1 requires attribute 'shape'");
    } else {
        if ((s = ocs_need_inputs(a, 2, 2)) != OCS_OK)
            return s;
        if (a->inputs[1]->dtype != OCS_INT64)
            return ocs_fail(a->err, OCS_ERR_INVALID, "Reshape: input 1 (shape) must be int64, got %s",
                            ocs_dtype_name(a->inputs[1]->dtype));
        if ((s = ocs_read_ints(a, a->inputs[1], "Reshape input 1 (shape)", &owned, &n)) != OCS_OK)
            return s;
        req = owned;
    }
    const ocs_tensor *data = a->inputs[0];
    int64_t allowzero = 0;
    if (a->since_version >= 14 &&
        (s = ocs_node_attr_int(a->node, "allowzero", 0, &allowzero, a->err)) != OCS_OK)
        goto done;
    if ((s = ocs_mv_check_dtype(a, data, "data")) != OCS_OK)
        goto done;
    if (n > OCS_MAX_RANK) {
        s = ocs_fail(a->err, OCS_ERR_UNSUPPORTED, "Reshape: shape has %zu entries; at most %d are supported",
                     n, OCS_MAX_RANK);
        goto done;
    }

    int64_t dims[OCS_MAX_RANK];
    int infer = -1, has_zero = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t d = req[i];
        if (d == -1) {
            if (infer >= 0) {
                s = ocs_fail(a->err, OCS_ERR_INVALID, "Reshape: shape has more than one -1 (entries %d and %zu)",
                             infer, i);
                goto done;
            }
            infer = (int)i;
            dims[i] = 1;
        } else if (d == 0 && !allowzero) {
            if ((int)i >= data->rank) {
                s = ocs_fail(a->err, OCS_ERR_INVALID,
                             "Reshape: shape entry %zu is 0 (copy the input dimension) but the input has rank %d",
                             i, data->rank);
                goto done;
            }
            dims[i] = data->dims[i];
        } else if (d < 0) {
            s = ocs_fail(a->err, OCS_ERR_INVALID, "Reshape: shape entry %zu is %lld; entries must be >= -1",
                         i, (long long)d);
            goto done;
        } else {
            if (d == 0)
                has_zero = 1;
            dims[i] = d;
        }
    }
    if (infer >= 0 && has_zero) {
        s = ocs_fail(a->err, OCS_ERR_INVALID, "Reshape: with allowzero = 1 the shape may not hold both 0 and -1");
        goto done;
    }

    size_t known;
    if ((s = ocs_mv_span(a, dims, 0, (int)n, &known)) != OCS_OK)
        goto done;
    if (infer >= 0) {
        if (known == 0 || data->numel % known != 0) {
            char s1[128];
            s = ocs_fail(a->err, OCS_ERR_INVALID,
                         "Reshape: cannot infer the -1 entry: %zu input elements do not divide by the product %zu of the other entries of %s",
                         data->numel, known, ocs_shape_str((int)n, req, s1, sizeof s1));
            goto done;
        }
        dims[infer] = (int64_t)(data->numel / known);
    }
    s = ocs_mv_output_copy(a, 0, data, (int)n, dims);
done:
    free(owned);
    return s;
}
