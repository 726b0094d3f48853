/*
 * conformance/cases/rms_norm.c - RMSNormalization-23: the last axis and
 * several axes, epsilon, all-zero rows (only epsilon keeps them finite),
 * a large magnitude, wide rows, and float16/bfloat16/double.
 */
#include "cases.h"

static ocs_case *add(ocs_case_list *l, const char *tag, ocs_dtype t, int rank, const int64_t *dims, int64_t axis,
                     double lo, double hi)
{
    ocs_case *c = ocs_case_add(l, "", "RMSNormalization", 23, "rms_norm_%s_%s", tag, ocs_cases_type_tag(t));
    int a = (int)(axis < 0 ? axis + rank : axis);
    ocs_case_input_uniform(c, "X", t, rank, dims, lo, hi);
    ocs_case_input_uniform(c, "scale", t, rank - a, dims + a, 0.5, 1.5);
    ocs_case_output(c, "Y", t);
    if (axis != -1)
        ocs_case_attr_int(c, "axis", axis);
    return c;
}

void ocs_cases_rms_norm(ocs_case_list *l)
{
    const int64_t *d235 = OCS_DIMS(2, 3, 5);
    add(l, "last_axis_2x3x5", OCS_FLOAT, 3, d235, -1, -2, 2);
    add(l, "axis1_2x3x5", OCS_FLOAT, 3, d235, 1, -2, 2);
    add(l, "axis0_2x3x5", OCS_FLOAT, 3, d235, 0, -2, 2);
    add(l, "row1_4x1", OCS_FLOAT, 2, OCS_DIMS(4, 1), -1, -2, 2);
    add(l, "wide_2x4099", OCS_FLOAT, 2, OCS_DIMS(2, 4099), -1, -2, 2);
    add(l, "large_3x40", OCS_FLOAT, 2, OCS_DIMS(3, 40), -1, 1e3, 1e4);
    ocs_case *c = add(l, "epsilon_0p5_2x3x5", OCS_FLOAT, 3, d235, -1, -0.1, 0.1);
    ocs_case_attr_float(c, "epsilon", 0.5f);
    c = ocs_case_add(l, "", "RMSNormalization", 23, "rms_norm_zero_rows_2x6_f32");
    ocs_case_input_values(c, "X", OCS_FLOAT, 2, OCS_DIMS(2, 6), (const double[]){0, 0, 0, 0, 0, 0, 1, -2, 3, -4, 5, -6});
    ocs_case_input_uniform(c, "scale", OCS_FLOAT, 1, OCS_DIMS(6), 0.5, 1.5);
    ocs_case_output(c, "Y", OCS_FLOAT);
    static const ocs_dtype types[] = {OCS_FLOAT16, OCS_BFLOAT16, OCS_DOUBLE};
    for (size_t t = 0; t < 3; t++) {
        add(l, "last_axis_2x5x40", types[t], 3, OCS_DIMS(2, 5, 40), -1, -2, 2);
        add(l, "axis1_2x3x5", types[t], 3, d235, 1, -2, 2);
    }
}
