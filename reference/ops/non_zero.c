/*
 * reference/ops/non_zero.c - NonZero (versions 9, 13).
 *
 * Y = the indices of the non-zero elements of X as an int64 tensor
 * [rank(X), N], one column per element in row-major order (numpy.nonzero
 * stacked).  A scalar X gives shape [0, N] with N = 1 when it is non-zero,
 * as Operators.md specifies (unlike numpy).  Non-zero means: != 0 for
 * numbers (NaN counts), true for bool, non-empty for strings.
 */
#include "common.h"


/* Whether element i of t is non-zero. */
static int is_nonzero(const ocs_tensor *t, size_t i)
{
    if (t->dtype == OCS_STRING)
        return ((const ocs_string *)t->data)[i].len != 0;
    if (ocs_dtype_is_integer(t->dtype) || t->dtype == OCS_BOOL)
        return ocs_tensor_get_i64(t, i) != 0;
    double v = ocs_tensor_get_f64(t, i);
    return v != 0.0;   /* NaN != 0 is true */
}

ocs_status ocs_ref_NonZero(ocs_kernel_args *a)
{
    ocs_status st = ocs_need_inputs(a, 1, 1);
    if (st != OCS_OK)
        return st;
    const ocs_tensor *x = a->inputs[0];
    if (!ocs_dtype_valid(x->dtype) || ocs_dtype_size(x->dtype) == 0)
        return ocs_dtype_unsupported(a, x, "X");

    size_t count = 0;
    for (size_t i = 0; i < x->numel; i++)
        count += (size_t)is_nonzero(x, i);

    int64_t dims[2] = {x->rank, (int64_t)count};
    ocs_tensor *y = NULL;
    if ((st = ocs_output(a, 0, OCS_INT64, 2, dims, &y)) != OCS_OK)
        return st;
    if (x->rank == 0 || count == 0)
        return OCS_OK;

    int64_t idx[OCS_MAX_RANK] = {0};
    int64_t *out = y->data;
    size_t col = 0;
    for (size_t i = 0; i < x->numel; i++) {
        if (is_nonzero(x, i)) {
            for (int d = 0; d < x->rank; d++)
                out[(size_t)d * count + col] = idx[d];
            col++;
        }
        ocs_index_next(x->rank, x->dims, idx);
    }
    return OCS_OK;
}
