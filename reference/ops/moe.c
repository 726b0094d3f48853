/*
 * reference/ops/moe.c - MoE (being written).
 */
#include "common.h"

ocs_status ocs_ref_MoE(ocs_kernel_args *a)
{
    return ocs_fail(a->err, OCS_ERR_UNSUPPORTED, "MoE is not implemented yet");
}
