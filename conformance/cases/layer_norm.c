/*
 * conformance/cases/layer_norm.c - LayerNormalization-17: normalising over
 * the last axis, over several axes and over all of them, with and without
 * the bias, the Mean and InvStdDev outputs, a large epsilon, constant rows
 * (zero variance), a large common offset (cancellation), wide rows, and
 * float16/bfloat16 inputs with float32 statistics (stash_type 1).
 */
#include "cases.h"

static ocs_case *add(ocs_case_list *l, const char *tag, ocs_dtype t, int rank, const int64_t *dims, int64_t axis,
                     int bias, int stats, double lo, double hi)
{
    ocs_case *c = ocs_case_add(l, "", "LayerNormalization", 17, "layer_norm_%s_%s", tag, ocs_cases_type_tag(t));
    int a = (int)(axis < 0 ? axis + rank : axis);
    ocs_case_input_uniform(c, "X", t, rank, dims, lo, hi);
    ocs_case_input_uniform(c, "Scale", t, rank - a, dims + a, 0.5, 1.5);
    if (bias)
        ocs_case_input_uniform(c, "B", t, rank - a, dims + a, -0.5, 0.5);
    ocs_case_output(c, "Y", t);
    if (stats) {
        /* the statistics have the stash type, float by default */
        ocs_case_output(c, "Mean", OCS_FLOAT);
        ocs_case_output(c, "InvStdDev", OCS_FLOAT);
    }
    if (axis != -1)
        ocs_case_attr_int(c, "axis", axis);
    return c;
}

void ocs_cases_layer_norm(ocs_case_list *l)
{
    const int64_t *d235 = OCS_DIMS(2, 3, 5);
    add(l, "last_axis_2x3x5", OCS_FLOAT, 3, d235, -1, 1, 0, -2, 2);
    add(l, "last_axis_no_bias_2x3x5", OCS_FLOAT, 3, d235, -1, 0, 0, -2, 2);
    add(l, "stats_2x3x5", OCS_FLOAT, 3, d235, -1, 1, 1, -2, 2);
    add(l, "axis1_stats_2x3x5", OCS_FLOAT, 3, d235, 1, 1, 1, -2, 2);
    add(l, "axis0_2x3x5", OCS_FLOAT, 3, d235, 0, 1, 1, -2, 2);
    add(l, "axis_neg2_4x3x7", OCS_FLOAT, 3, OCS_DIMS(4, 3, 7), -2, 1, 0, -2, 2);
    add(l, "row1_3x1", OCS_FLOAT, 2, OCS_DIMS(3, 1), -1, 1, 1, -2, 2);
    add(l, "wide_3x1027", OCS_FLOAT, 2, OCS_DIMS(3, 1027), -1, 1, 0, -2, 2);
    ocs_case *c = add(l, "offset_1000_4x64", OCS_FLOAT, 2, OCS_DIMS(4, 64), -1, 1, 1, 1000, 1001);
    ocs_case_xfail(c, "ort",
                   "onnxruntime 1.30 CPU loses precision when the rows share a large offset (values in "
                   "[1000, 1001]): max relative error 4.7e-3 against the double-accumulated reference");
    c = add(l, "epsilon_0p1_2x3x5", OCS_FLOAT, 3, d235, -1, 1, 0, -2, 2);
    ocs_case_attr_float(c, "epsilon", 0.1f);
    c = ocs_case_add(l, "", "LayerNormalization", 17, "layer_norm_constant_rows_3x8_f32");
    double v[24];
    for (int i = 0; i < 24; i++)
        v[i] = i < 8 ? 0.0 : i < 16 ? 2.5 : -7.0;
    ocs_case_input_values(c, "X", OCS_FLOAT, 2, OCS_DIMS(3, 8), v);
    ocs_case_input_uniform(c, "Scale", OCS_FLOAT, 1, OCS_DIMS(8), 0.5, 1.5);
    ocs_case_input_uniform(c, "B", OCS_FLOAT, 1, OCS_DIMS(8), -0.5, 0.5);
    ocs_case_output(c, "Y", OCS_FLOAT);
    ocs_case_output(c, "Mean", OCS_FLOAT);
    ocs_case_output(c, "InvStdDev", OCS_FLOAT);
    static const ocs_dtype types[] = {OCS_FLOAT16, OCS_BFLOAT16, OCS_DOUBLE};
    for (size_t t = 0; t < 3; t++) {
        add(l, "last_axis_2x3x40", types[t], 3, OCS_DIMS(2, 3, 40), -1, 1, 0, -2, 2);
        add(l, "axis1_2x3x5", types[t], 3, d235, 1, 0, 0, -2, 2);
    }
    c = add(l, "stash_double_2x3x5", OCS_DOUBLE, 3, d235, -1, 1, 0, -2, 2);
    (void)c;
}
