/*
 * reference/ops/and.c - And: C = A && B, elementwise on bool with
 * broadcasting.  Version 1 broadcasts only with the attribute broadcast=1.
 */
#include "elementwise.h"

static uint64_t and_u(uint64_t x, uint64_t y) { return x && y; }

ocs_status ocs_ref_And(ocs_kernel_args *a)
{
    static const ocs_ew_binary_fns fns = {NULL, NULL, and_u};
    return ocs_ew_binary(a, OCS_EW_BOOL, &fns);
}
