/*
 * reference/ops/squeeze.c - Squeeze (versions 1, 11, 13, 21, 23, 24, 25).
 *
 * Removes the listed dimensions, each of which must have size 1.  The axes
 * are an attribute in versions 1 and 11 (non-negative in version 1) and the
 * optional int64 input 1 from version 13.  Without axes (or with an empty
 * list) every dimension of size 1 is removed.  An axis may not repeat.
 */
#include "movement.h"

#include <stdlib.h>

ocs_status ocs_ref_Squeeze(ocs_kernel_args *a)
{
    ocs_status s = ocs_need_inputs(a, 1, a->since_version >= 13 ? 2 : 1);
    if (s != OCS_OK)
        return s;
    const ocs_tensor *x = a->inputs[0];
    if ((s = ocs_mv_check_dtype(a, x, "data")) != OCS_OK)
        return s;
    const int64_t *axes = NULL;
    int64_t *owned = NULL;
    size_t n = 0;
    if (a->since_version < 13) {
        if ((s = ocs_node_attr_ints(a->node, "axes", &axes, &n, NULL, a->err)) != OCS_OK)
            return s;
    } else {
        if (ocs_node_attr(a->node, "axes"))
            return ocs_fail(a->err, OCS_ERR_INVALID, "Squeeze-%lld takes axes as input 1, not as an attribute",
                            (long long)a->since_version);
        const ocs_tensor *t = ocs_input(a, 1);
        if (t) {
            if (t->dtype != OCS_INT64)
                return ocs_fail(a->err, OCS_ERR_INVALID, "Squeeze: input 1 (axes) must be int64, got %s",
                                ocs_dtype_name(t->dtype));
            if ((s = ocs_read_ints(a, t, "Squeeze input 1 (axes)", &owned, &n)) != OCS_OK)
                return s;
            axes = owned;
        }
    }

    int drop[OCS_MAX_RANK] = {0};
    for (size_t i = 0; i < n; i++) {
        int ax;
        if (a->since_version < 11 && axes[i] < 0) {
            s = ocs_fail(a->err, OCS_ERR_INVALID, "Squeeze-1: axes must be non-negative, got %lld", (long long)axes[i]);
            goto done;
        }
        if ((s = ocs_axis(a, axes[i], x->rank, "Squeeze axis", &ax)) != OCS_OK)
            goto done;
        if (drop[ax]) {
            s = ocs_fail(a->err, OCS_ERR_INVALID, "Squeeze: axis %d is listed more than once", ax);
            goto done;
        }
        if (x->dims[ax] != 1) {
            s = ocs_fail(a->err, OCS_ERR_INVALID, "Squeeze: axis %d has size %lld, not 1", ax, (long long)x->dims[ax]);
            goto done;
        }
        drop[ax] = 1;
    }
    if (n == 0)
        for (int d = 0; d < x->rank; d++)
            drop[d] = x->dims[d] == 1;

    int64_t dims[OCS_MAX_RANK];
    int r = 0;
    for (int d = 0; d < x->rank; d++)
        if (!drop[d])
            dims[r++] = x->dims[d];
    s = ocs_mv_output_copy(a, 0, x, r, dims);
done:
    free(owned);
    return s;
}
