/*
 * reference/ops/identity.c - Identity (versions 1, 13, 14, 16, 19, 21, 23, 24, 25).
 *
 * Outputs a copy of the input tensor (any element type, strings included).
 * Identity on sequences and optionals (versions 14 and 16) is outside the
 * tensor kernel interface.
 */
#include "movement.h"

ocs_status ocs_ref_Identity(ocs_kernel_args *a)
{
    ocs_status s = ocs_need_inputs(a, 1, 1);
    if (s != OCS_OK)
        return s;
    const ocs_tensor *x = a->inputs[0];
    if ((s = ocs_mv_check_dtype(a, x, "input")) != OCS_OK)
        return s;
    return ocs_mv_output_copy(a, 0, x, x->rank, x->dims);
}
