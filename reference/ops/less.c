/*
 * reference/ops/less.c - Less: C = (A < B), elementwise with broadcasting;
 * C is bool, false wherever A or B is NaN.
 *
 * Types: float16, float, double (1, 7); every integer type too (9); plus
 * bfloat16 (13).  Version 1 broadcasts only with the attribute broadcast=1.
 */
#include "elementwise.h"

ocs_status ocs_ref_Less(ocs_kernel_args *a)
{
    int64_t v = a->since_version;
    uint32_t types = v >= 13 ? OCS_EW_NUMERIC : v >= 9 ? OCS_EW_NUMERIC_NO_BF16 : OCS_EW_FLOAT3;
    return ocs_ew_compare(a, types, OCS_EW_LT);
}
