/*
 * reference/ops/size.c - Size (versions 1, 13, 19, 21, 23, 24, 25).
 *
 * Outputs the input's element count as an int64 scalar.
 */
#include "common.h"

ocs_status ocs_ref_Size(ocs_kernel_args *a)
{
    ocs_status s = ocs_need_inputs(a, 1, 1);
    if (s != OCS_OK)
        return s;
    const ocs_tensor *x = a->inputs[0];
    ocs_tensor *out = NULL;
    if ((s = ocs_output(a, 0, OCS_INT64, 0, NULL, &out)) != OCS_OK)
        return s;
    if (x->numel > (size_t)INT64_MAX)
        return ocs_fail(a->err, OCS_ERR_INVALID, "Size: element count %zu does not fit int64", x->numel);
    ((int64_t *)out->data)[0] = (int64_t)x->numel;
    return OCS_OK;
}
