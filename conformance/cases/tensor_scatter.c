/*
 * conformance/cases/tensor_scatter.c - TensorScatter-24, the KV-cache
 * update of Attention-24: linear writes with and without write_indices,
 * circular writes that wrap, a write that fills the cache exactly, the
 * sequence axis in other positions, and several element types.
 */
#include "cases.h"

static void add(ocs_case_list *l, const char *tag, ocs_dtype t, int rank, const int64_t *cache, const int64_t *upd,
                const int64_t *write, int64_t axis, const char *mode)
{
    ocs_case *c = ocs_case_add(l, "", "TensorScatter", 24, "tensorscatter_%s_%s", tag, ocs_cases_type_tag(t));
    double lo = ocs_dtype_is_float(t) ? -1 : -100, hi = ocs_dtype_is_float(t) ? 1 : 100;
    ocs_case_input_uniform(c, "past_cache", t, rank, cache, lo, hi);
    ocs_case_input_uniform(c, "update", t, rank, upd, lo, hi);
    if (write)
        ocs_case_input_ints(c, "write_indices", OCS_INT64, 1, OCS_DIMS(cache[0]), write);
    ocs_case_output(c, "present_cache", t);
    if (axis != -2)
        ocs_case_attr_int(c, "axis", axis);
    if (mode)
        ocs_case_attr_string(c, "mode", mode);
}

void ocs_cases_tensor_scatter(ocs_case_list *l)
{
    const int64_t *cache = OCS_DIMS(2, 3, 8, 5);
    add(l, "prefill_no_indices", OCS_FLOAT, 4, cache, OCS_DIMS(2, 3, 3, 5), NULL, -2, NULL);
    add(l, "decode_linear", OCS_FLOAT, 4, cache, OCS_DIMS(2, 3, 1, 5), (const int64_t[]){4, 7}, -2, "linear");
    add(l, "append_linear", OCS_FLOAT, 4, cache, OCS_DIMS(2, 3, 3, 5), (const int64_t[]){0, 5}, -2, NULL);
    add(l, "fill_exactly", OCS_FLOAT, 4, cache, OCS_DIMS(2, 3, 8, 5), (const int64_t[]){0, 0}, -2, NULL);
    add(l, "circular_wrap", OCS_FLOAT, 4, cache, OCS_DIMS(2, 3, 4, 5), (const int64_t[]){6, 9}, -2, "circular");
    add(l, "circular_no_wrap", OCS_FLOAT, 4, cache, OCS_DIMS(2, 3, 2, 5), (const int64_t[]){1, 3}, -2,
        "circular");
    add(l, "axis1_3d", OCS_FLOAT, 3, OCS_DIMS(3, 6, 4), OCS_DIMS(3, 2, 4), (const int64_t[]){0, 4, 2}, 1, NULL);
    add(l, "axis_neg1", OCS_FLOAT, 3, OCS_DIMS(2, 4, 7), OCS_DIMS(2, 4, 3), (const int64_t[]){4, 1}, -1, NULL);
    add(l, "batch1_decode", OCS_FLOAT, 4, OCS_DIMS(1, 2, 5, 40), OCS_DIMS(1, 2, 1, 40), (const int64_t[]){4}, -2,
        NULL);
    add(l, "decode_linear", OCS_FLOAT16, 4, cache, OCS_DIMS(2, 3, 1, 5), (const int64_t[]){4, 7}, -2, NULL);
    add(l, "decode_linear", OCS_BFLOAT16, 4, cache, OCS_DIMS(2, 3, 1, 5), (const int64_t[]){4, 7}, -2, NULL);
    add(l, "circular_wrap", OCS_INT32, 4, cache, OCS_DIMS(2, 3, 4, 5), (const int64_t[]){6, 9}, -2, "circular");
}
