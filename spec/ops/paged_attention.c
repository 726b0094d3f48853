/*
 * spec/ops/paged_attention.c - the PagedAttention schema (being written).
 */
#include "ocs/schema.h"

const ocs_schema ocs_schema_PagedAttention = {
    .domain = OCS_PREVIEW_DOMAIN,
    .name = "PagedAttention",
    .since_version = 1,
};
