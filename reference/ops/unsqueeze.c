/*
 * reference/ops/unsqueeze.c - Unsqueeze (versions 1, 11, 13, 21, 23, 24, 25).
 *
 * Inserts dimensions of size 1 at the listed positions of the output, whose
 * rank is rank(input) + len(axes).  The axes are a required attribute in
 * versions 1 (non-negative) and 11 and the required int64 input 1 from
 * version 13; negative values count from the back of the output, the order
 * does not matter and an axis may not repeat.
 */
#include "movement.h"

#include <stdlib.h>

ocs_status ocs_ref_Unsqueeze(ocs_kernel_args *a)
{
    ocs_status s = ocs_need_inputs(a, a->since_version >= 13 ? 2 : 1, a->since_version >= 13 ? 2 : 1);
    if (s != OCS_OK)
        return s;
    const ocs_tensor *x = a->inputs[0];
    if ((s = ocs_mv_check_dtype(a, x, "data")) != OCS_OK)
        return s;
    const int64_t *axes = NULL;
    int64_t *owned = NULL;
    size_t n = 0;
    if (a->since_version < 13) {
        int present = 0;
        if ((s = ocs_node_attr_ints(a->node, "axes", &axes, &n, &present, a->err)) != OCS_OK)
            return s;
        if (!present)
            return ocs_fail(a->err, OCS_ERR_INVALID, "Unsqueeze-%lld requires attribute 'axes'",
                            (long long)a->since_version);
    } else {
        if (ocs_node_attr(a->node, "axes"))
            return ocs_fail(a->err, OCS_ERR_INVALID, "Unsqueeze-%lld takes axes as input 1, not as an attribute",
                            (long long)a->since_version);
        const ocs_tensor *t = a->inputs[1];
        if (t->dtype != OCS_INT64)
            return ocs_fail(a->err, OCS_ERR_INVALID, "Unsqueeze: input 1 (axes) must be int64, got %s",
                            ocs_dtype_name(t->dtype));
        if ((s = ocs_read_ints(a, t, "Unsqueeze input 1 (axes)", &owned, &n)) != OCS_OK)
            return s;
        axes = owned;
    }

    if (n > (size_t)(OCS_MAX_RANK - x->rank)) {
        s = ocs_fail(a->err, OCS_ERR_UNSUPPORTED, "Unsqueeze: output rank %zu exceeds %d",
                     (size_t)x->rank + n, OCS_MAX_RANK);
        goto done;
    }
    int out_rank = x->rank + (int)n;
    int ins[OCS_MAX_RANK] = {0};
    for (size_t i = 0; i < n; i++) {
        int ax;
        if (a->since_version < 11 && axes[i] < 0) {
            s = ocs_fail(a->err, OCS_ERR_INVALID, "Unsqueeze-1: axes must be non-negative, got %lld", (long long)axes[i]);
            goto done;
        }
        if ((s = ocs_axis(a, axes[i], out_rank, "Unsqueeze axis", &ax)) != OCS_OK)
            goto done;
        if (ins[ax]) {
            s = ocs_fail(a->err, OCS_ERR_INVALID, "Unsqueeze: axis %d is listed more than once", ax);
            goto done;
        }
        ins[ax] = 1;
    }
    int64_t dims[OCS_MAX_RANK];
    int k = 0;
    for (int d = 0; d < out_rank; d++)
        dims[d] = ins[d] ? 1 : x->dims[k++];
    s = ocs_mv_output_copy(a, 0, x, out_rank, dims);
done:
    free(owned);
    return s;
}
