/*
 * conformance/cases/gather.c - Gather: each axis, negative indices, a
 * scalar index (the axis disappears), empty indices, int32 and int64
 * indices, and data of several element types.
 */
#include "cases.h"

static void add(ocs_case_list *l, const char *tag, ocs_dtype t, int rank, const int64_t *dims, int64_t axis,
                ocs_dtype it, int irank, const int64_t *idims, const int64_t *indices)
{
    ocs_case *c = ocs_case_add(l, "", "Gather", 13, "gather_%s_%s_%s", tag, ocs_cases_type_tag(t),
                               ocs_cases_type_tag(it));
    if (ocs_dtype_is_float(t))
        ocs_case_input_uniform(c, "data", t, rank, dims, -1, 1);
    else
        ocs_case_input_uniform(c, "data", t, rank, dims, t == OCS_BOOL ? 0 : -50, t == OCS_BOOL ? 1 : 50);
    ocs_case_input_ints(c, "indices", it, irank, idims, indices);
    ocs_case_output(c, "output", t);
    if (axis)
        ocs_case_attr_int(c, "axis", axis);
}

void ocs_cases_gather(ocs_case_list *l)
{
    const int64_t *d543 = OCS_DIMS(5, 4, 3);
    static const int64_t idx23[] = {0, 4, -1, 2, -5, 3};
    add(l, "axis0_5x4x3_idx2x3", OCS_FLOAT, 3, d543, 0, OCS_INT64, 2, OCS_DIMS(2, 3), idx23);
    add(l, "axis0_5x4x3_idx2x3", OCS_FLOAT, 3, d543, 0, OCS_INT32, 2, OCS_DIMS(2, 3), idx23);
    static const int64_t idx4[] = {3, 0, -4, 1};
    add(l, "axis1_5x4x3_idx4", OCS_FLOAT, 3, d543, 1, OCS_INT64, 1, OCS_DIMS(4), idx4);
    static const int64_t idx5[] = {2, 2, -3, 0, 1};
    add(l, "axis_neg1_5x4x3_idx5", OCS_FLOAT, 3, d543, -1, OCS_INT64, 1, OCS_DIMS(5), idx5);
    add(l, "scalar_index_5x4x3", OCS_FLOAT, 3, d543, 1, OCS_INT64, 0, NULL, (const int64_t[]){-2});
    add(l, "empty_indices_5x4x3", OCS_FLOAT, 3, d543, 0, OCS_INT64, 1, OCS_DIMS(0), NULL);
    add(l, "1d_7_idx3x2", OCS_FLOAT, 1, OCS_DIMS(7), 0, OCS_INT64, 2, OCS_DIMS(3, 2),
        (const int64_t[]){6, 0, -7, 3, 3, 1});
    add(l, "axis0_5x4x3_idx2x3", OCS_FLOAT16, 3, d543, 0, OCS_INT64, 2, OCS_DIMS(2, 3), idx23);
    add(l, "axis0_5x4x3_idx2x3", OCS_INT64, 3, d543, 0, OCS_INT64, 2, OCS_DIMS(2, 3), idx23);
    add(l, "axis1_5x4x3_idx4", OCS_UINT8, 3, d543, 1, OCS_INT32, 1, OCS_DIMS(4), idx4);
    add(l, "axis1_5x4x3_idx4", OCS_BOOL, 3, d543, 1, OCS_INT64, 1, OCS_DIMS(4), idx4);
    /* embedding lookup: a table of 37 rows of 40 */
    add(l, "embedding_37x40_idx2x5", OCS_FLOAT, 2, OCS_DIMS(37, 40), 0, OCS_INT64, 2, OCS_DIMS(2, 5),
        (const int64_t[]){36, 0, 5, 5, 17, 1, 2, 3, 35, -37});
}
