/*
 * reference/ops/non_zero.c - NonZero (being written).
 */
#include "common.h"

ocs_status ocs_ref_NonZero(ocs_kernel_args *a)
{
    return ocs_fail(a->err, OCS_ERR_UNSUPPORTED, "NonZero is not implemented yet");
}
