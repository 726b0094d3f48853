/*
 * conformance/cases/registry.c - every case generator, from list.h.
 */
#include "cases.h"

void ocs_cases_all(ocs_case_list *l)
{
#define OCS_CASE_GENERATOR(name) ocs_cases_##name(l);
#include "list.h"
#undef OCS_CASE_GENERATOR
}

const char *ocs_cases_type_tag(ocs_dtype t)
{
    switch (t) {
    case OCS_FLOAT: return "f32";
    case OCS_FLOAT16: return "f16";
    case OCS_BFLOAT16: return "bf16";
    case OCS_DOUBLE: return "f64";
    case OCS_INT8: return "i8";
    case OCS_UINT8: return "u8";
    case OCS_INT16: return "i16";
    case OCS_UINT16: return "u16";
    case OCS_INT32: return "i32";
    case OCS_UINT32: return "u32";
    case OCS_INT64: return "i64";
    case OCS_UINT64: return "u64";
    case OCS_BOOL: return "bool";
    case OCS_STRING: return "str";
    default: return "other";
    }
}
