/*
 * reference/ops/paged_attention.c - PagedAttention (being written).
 */
#include "common.h"

ocs_status ocs_ref_PagedAttention(ocs_kernel_args *a)
{
    return ocs_fail(a->err, OCS_ERR_UNSUPPORTED, "PagedAttention is not implemented yet");
}
