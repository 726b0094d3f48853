/*
 * reference/ops/not.c - Not: Y = !X, elementwise on bool.
 */
#include "elementwise.h"

static uint64_t not_u(uint64_t x) { return !x; }

ocs_status ocs_ref_Not(ocs_kernel_args *a)
{
    static const ocs_ew_unary_fns fns = {NULL, NULL, not_u};
    return ocs_ew_unary(a, OCS_EW_BOOL, &fns);
}
