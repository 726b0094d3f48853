/*
 * reference/ops/equal.c - Equal: C = (A == B), elementwise with broadcasting;
 * C is bool.
 *
 * NaN equals nothing, +0 equals -0; strings are equal when their bytes are.
 * Types: bool, int32, int64 (1, 7); bool and every numeric type but
 * bfloat16 (11); plus bfloat16 (13); plus string (19).  Version 1
 * broadcasts only with the attribute broadcast=1.
 */
#include "elementwise.h"

ocs_status ocs_ref_Equal(ocs_kernel_args *a)
{
    int64_t v = a->since_version;
    uint32_t types = v >= 19 ? OCS_EW_BOOL | OCS_EW_NUMERIC | OCS_EW_STRING
                   : v >= 13 ? OCS_EW_BOOL | OCS_EW_NUMERIC
                   : v >= 11 ? OCS_EW_BOOL | OCS_EW_NUMERIC_NO_BF16
                   : OCS_EW_BOOL | OCS_EW_T(OCS_INT32) | OCS_EW_T(OCS_INT64);
    return ocs_ew_compare(a, types, OCS_EW_EQ);
}
