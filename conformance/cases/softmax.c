/*
 * conformance/cases/softmax.c - Softmax: every axis of a 3-D tensor, rows
 * of length 1 and 1025, large magnitudes (stability), infinities, the
 * opset 1/11 flattening to 2-D, and float16, bfloat16 and double.
 */
#include <math.h>

#include "cases.h"

static ocs_case *add(ocs_case_list *l, int64_t opset, const char *tag, ocs_dtype t, int rank, const int64_t *dims,
                     int has_axis, int64_t axis, double lo, double hi)
{
    ocs_case *c = ocs_case_add(l, "", "Softmax", opset, "softmax_%s_%s", tag, ocs_cases_type_tag(t));
    ocs_case_input_uniform(c, "X", t, rank, dims, lo, hi);
    ocs_case_output(c, "Y", t);
    if (has_axis)
        ocs_case_attr_int(c, "axis", axis);
    return c;
}

void ocs_cases_softmax(ocs_case_list *l)
{
    const int64_t *d345 = OCS_DIMS(3, 4, 5);
    add(l, 13, "default_axis_3x4x5", OCS_FLOAT, 3, d345, 0, 0, -3, 3);
    add(l, 13, "axis0_3x4x5", OCS_FLOAT, 3, d345, 1, 0, -3, 3);
    add(l, 13, "axis1_3x4x5", OCS_FLOAT, 3, d345, 1, 1, -3, 3);
    add(l, 13, "axis_neg2_3x4x5", OCS_FLOAT, 3, d345, 1, -2, -3, 3);
    add(l, 13, "row1_4x1", OCS_FLOAT, 2, OCS_DIMS(4, 1), 0, 0, -3, 3);
    add(l, 13, "wide_2x1025", OCS_FLOAT, 2, OCS_DIMS(2, 1025), 0, 0, -5, 5);
    add(l, 13, "large_values_3x17", OCS_FLOAT, 2, OCS_DIMS(3, 17), 0, 0, -80, 80);
    add(l, 13, "huge_values_2x9", OCS_FLOAT, 2, OCS_DIMS(2, 9), 0, 0, 1e4, 1e5);
    add(l, 13, "scalar_row_1d_7", OCS_FLOAT, 1, OCS_DIMS(7), 0, 0, -3, 3);
    add(l, 13, "empty_0x5", OCS_FLOAT, 2, OCS_DIMS(0, 5), 0, 0, -3, 3);
    ocs_case *c = ocs_case_add(l, "", "Softmax", 13, "softmax_neg_inf_2x4_f32");
    ocs_case_input_values(c, "X", OCS_FLOAT, 2, OCS_DIMS(2, 4), (const double[]){-INFINITY, 0, 1, 2, 3, -INFINITY, -INFINITY, -1});
    ocs_case_output(c, "Y", OCS_FLOAT);
    static const ocs_dtype types[] = {OCS_FLOAT16, OCS_BFLOAT16, OCS_DOUBLE};
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        add(l, 13, "axis1_3x4x5", types[t], 3, d345, 1, 1, -4, 4);
        add(l, 13, "wide_3x257", types[t], 2, OCS_DIMS(3, 257), 0, 0, -8, 8);
    }
    /* opset 11 and 1: the input is flattened to 2-D at axis (default 1) */
    add(l, 11, "opset11_default_axis_3x4x5", OCS_FLOAT, 3, d345, 0, 0, -3, 3);
    add(l, 11, "opset11_axis2_3x4x5", OCS_FLOAT, 3, d345, 1, 2, -3, 3);
    add(l, 11, "opset11_axis0_3x4x5", OCS_FLOAT, 3, d345, 1, 0, -3, 3);
    add(l, 1, "opset1_default_axis_2x3x4", OCS_FLOAT, 3, OCS_DIMS(2, 3, 4), 0, 0, -3, 3);
}
