/*
 * reference/ops/trilu.c - Trilu: keeps the upper (upper=1, the default) or
 * lower triangle of each matrix in the last two axes and zeroes the rest.
 * Element (i, j) lies on diagonal j - i; the upper part is j - i >= k, the
 * lower part j - i <= k, with k from optional input 1 (0-D int64, default 0).
 * Any element type; strings are copied, and cleared to "" outside the part.
 */
#include "reduce.h"

#include <stdlib.h>

ocs_status ocs_ref_Trilu(ocs_kernel_args *a)
{
    ocs_status s = ocs_need_inputs(a, 1, 2);
    if (s != OCS_OK)
        return s;
    const ocs_tensor *x = a->inputs[0];
    if (x->dtype != OCS_STRING && (!ocs_dtype_valid(x->dtype) || ocs_dtype_size(x->dtype) == 0))
        return ocs_dtype_unsupported(a, x, "input 0");
    if (x->rank < 2)
        return ocs_fail(a->err, OCS_ERR_INVALID, "input 0 must have rank >= 2, it has rank %d",
                        x->rank);

    int64_t k = 0;
    const ocs_tensor *kt = ocs_input(a, 1);
    if (kt) {
        int64_t *vals = NULL;
        size_t n = 0;
        if ((s = ocs_read_ints(a, kt, "k (input 1)", &vals, &n)) != OCS_OK)
            return s;
        if (n == 1)
            k = vals[0];
        free(vals);
        if (n != 1)
            return ocs_fail(a->err, OCS_ERR_INVALID, "k (input 1) must hold one value, it holds %zu",
                            n);
    }
    int64_t upper;
    if ((s = ocs_node_attr_int(a->node, "upper", 1, &upper, a->err)) != OCS_OK)
        return s;

    ocs_tensor *y;
    s = ocs_output(a, 0, x->dtype, x->rank, x->dims, &y);
    if (s != OCS_OK || x->numel == 0)
        return s;

    int64_t rows = x->dims[x->rank - 2], cols = x->dims[x->rank - 1];
    size_t batches = x->numel / ((size_t)rows * (size_t)cols);
    for (size_t b = 0; b < batches; b++) {
        for (int64_t i = 0; i < rows; i++) {
            for (int64_t j = 0; j < cols; j++) {
                int keep = upper ? j - i >= k : j - i <= k;
                if (!keep)
                    continue;   /* the output starts as zeros */
                size_t at = (b * (size_t)rows + (size_t)i) * (size_t)cols + (size_t)j;
                if ((s = ocs_red_copy_elem(a, y, at, x, at)) != OCS_OK)
                    return s;
            }
        }
    }
    return OCS_OK;
}
