/*
 * reference/ops/less_or_equal.c - LessOrEqual: C = (A <= B), elementwise with
 * broadcasting; C is bool, false wherever A or B is NaN.
 *
 * Types: every numeric type but bfloat16 (12); plus bfloat16 (16).
 */
#include "elementwise.h"

ocs_status ocs_ref_LessOrEqual(ocs_kernel_args *a)
{
    uint32_t types = a->since_version >= 16 ? OCS_EW_NUMERIC : OCS_EW_NUMERIC_NO_BF16;
    return ocs_ew_compare(a, types, OCS_EW_LT | OCS_EW_EQ);
}
