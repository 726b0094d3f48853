/*
 * spec/ops/schemas.h - the list of operator schemas (X-macro), one
 * spec/ops/<op>.c file each, defining `const ocs_schema ocs_schema_<Name>`.
 */
OCS_SCHEMA(PagedAttention)
OCS_SCHEMA(MoE)
OCS_SCHEMA(BackendContext)
