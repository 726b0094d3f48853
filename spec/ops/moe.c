/*
 * spec/ops/moe.c - the MoE schema (being written).
 */
#include "ocs/schema.h"

const ocs_schema ocs_schema_MoE = {
    .domain = OCS_PREVIEW_DOMAIN,
    .name = "MoE",
    .since_version = 1,
};
