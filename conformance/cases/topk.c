/*
 * conformance/cases/topk.c - TopK: k = 1 and k = the whole axis, both
 * directions, inner and outer axes, ties (which go to the lower index),
 * integer inputs, and the opset 1 (k attribute) and 10 (k input, largest
 * only) schemas.  Only sorted output is compared: with sorted = 0 the order
 * is unspecified.
 */
#include "cases.h"

static void add(ocs_case_list *l, const char *tag, ocs_dtype t, int rank, const int64_t *dims, int64_t k,
                int64_t axis, int largest, double lo, double hi, const double *values)
{
    ocs_case *c = ocs_case_add(l, "", "TopK", 11, "topk_%s_%s", tag, ocs_cases_type_tag(t));
    if (values)
        ocs_case_input_values(c, "X", t, rank, dims, values);
    else
        ocs_case_input_uniform(c, "X", t, rank, dims, lo, hi);
    ocs_case_input_ints(c, "K", OCS_INT64, 1, OCS_DIMS(1), (const int64_t[]){k});
    ocs_case_output(c, "Values", t);
    ocs_case_output(c, "Indices", OCS_INT64);
    if (axis != -1)
        ocs_case_attr_int(c, "axis", axis);
    if (!largest)
        ocs_case_attr_int(c, "largest", 0);
}

void ocs_cases_topk(ocs_case_list *l)
{
    add(l, "k1_3x7", OCS_FLOAT, 2, OCS_DIMS(3, 7), 1, -1, 1, -1, 1, NULL);
    add(l, "k3_3x7", OCS_FLOAT, 2, OCS_DIMS(3, 7), 3, -1, 1, -1, 1, NULL);
    add(l, "kall_3x7", OCS_FLOAT, 2, OCS_DIMS(3, 7), 7, -1, 1, -1, 1, NULL);
    add(l, "smallest_k2_4x5", OCS_FLOAT, 2, OCS_DIMS(4, 5), 2, -1, 0, -1, 1, NULL);
    add(l, "axis0_k3_5x4", OCS_FLOAT, 2, OCS_DIMS(5, 4), 3, 0, 1, -1, 1, NULL);
    add(l, "axis1_k2_2x6x3", OCS_FLOAT, 3, OCS_DIMS(2, 6, 3), 2, 1, 1, -1, 1, NULL);
    add(l, "k0_3x4", OCS_FLOAT, 2, OCS_DIMS(3, 4), 0, -1, 1, -1, 1, NULL);
    add(l, "wide_k5_2x301", OCS_FLOAT, 2, OCS_DIMS(2, 301), 5, -1, 1, -1, 1, NULL);
    static const double ties[] = {1, 3, 3, 2, 3, 1, 0, 0, 2, 2, 2, 2};
    add(l, "ties_k3_2x6", OCS_FLOAT, 2, OCS_DIMS(2, 6), 3, -1, 1, 0, 0, ties);
    add(l, "ties_smallest_k4_2x6", OCS_FLOAT, 2, OCS_DIMS(2, 6), 4, -1, 0, 0, 0, ties);
    add(l, "ints_k3_4x9", OCS_INT32, 2, OCS_DIMS(4, 9), 3, -1, 1, -5, 5, NULL);
    add(l, "ints_k4_3x8", OCS_INT64, 2, OCS_DIMS(3, 8), 4, -1, 0, -3, 3, NULL);
    add(l, "k2_3x7", OCS_FLOAT16, 2, OCS_DIMS(3, 7), 2, -1, 1, -1, 1, NULL);
    add(l, "k2_3x7", OCS_DOUBLE, 2, OCS_DIMS(3, 7), 2, -1, 1, -1, 1, NULL);

    ocs_case *c = ocs_case_add(l, "", "TopK", 1, "topk_opset1_k2_3x5_f32");
    ocs_case_input_uniform(c, "X", OCS_FLOAT, 2, OCS_DIMS(3, 5), -1, 1);
    ocs_case_output(c, "Values", OCS_FLOAT);
    ocs_case_output(c, "Indices", OCS_INT64);
    ocs_case_attr_int(c, "k", 2);
    c = ocs_case_add(l, "", "TopK", 10, "topk_opset10_axis0_k2_4x3_f32");
    ocs_case_input_uniform(c, "X", OCS_FLOAT, 2, OCS_DIMS(4, 3), -1, 1);
    ocs_case_input_ints(c, "K", OCS_INT64, 1, OCS_DIMS(1), (const int64_t[]){2});
    ocs_case_output(c, "Values", OCS_FLOAT);
    ocs_case_output(c, "Indices", OCS_INT64);
    ocs_case_attr_int(c, "axis", 0);
}
