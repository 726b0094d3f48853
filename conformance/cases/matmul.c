/*
 * conformance/cases/matmul.c - MatMul: 2-D, vector operands (promoted and
 * removed again), batches with broadcasting, K = 1, empty dimensions, and
 * every element type MatMul-13 allows.
 */
#include "cases.h"

typedef struct mm_shape {
    const char *tag;
    int ra, rb;
    int64_t a[4], b[4];
} mm_shape;

static void add(ocs_case_list *l, const mm_shape *s, ocs_dtype t, double lo, double hi)
{
    ocs_case *c = ocs_case_add(l, "", "MatMul", 13, "matmul_%s_%s", s->tag, ocs_cases_type_tag(t));
    ocs_case_input_uniform(c, "A", t, s->ra, s->a, lo, hi);
    ocs_case_input_uniform(c, "B", t, s->rb, s->b, lo, hi);
    ocs_case_output(c, "Y", t);
}

void ocs_cases_matmul(ocs_case_list *l)
{
    static const mm_shape shapes[] = {
        {"1x1x1", 2, 2, {1, 1}, {1, 1}},
        {"5x7x3", 2, 2, {5, 7}, {7, 3}},
        {"k1_3x1x4", 2, 2, {3, 1}, {1, 4}},
        {"dot_1x13x1", 2, 2, {1, 13}, {13, 1}},
        {"17x33x9", 2, 2, {17, 33}, {33, 9}},
        {"k129_3x129x5", 2, 2, {3, 129}, {129, 5}},
        {"vec_mat_7", 1, 2, {7}, {7, 3}},
        {"mat_vec_7", 2, 1, {5, 7}, {7}},
        {"vec_vec_6", 1, 1, {6}, {6}},
        {"batch_2x3", 4, 4, {2, 3, 5, 7}, {2, 3, 7, 4}},
        {"bcast_3x1_2", 4, 3, {3, 1, 4, 6}, {2, 6, 5}},
        {"bcast_b2d", 3, 2, {4, 5, 7}, {7, 2}},
        {"bcast_vec_batch", 1, 3, {6}, {3, 6, 2}},
        {"empty_m0", 2, 2, {0, 7}, {7, 3}},
        {"empty_k0", 2, 2, {4, 0}, {0, 3}},
        {"empty_batch0", 3, 3, {0, 2, 3}, {0, 3, 4}},
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        add(l, &shapes[i], OCS_FLOAT, -1, 1);
    static const mm_shape typed[] = {
        {"5x7x3", 2, 2, {5, 7}, {7, 3}},
        {"k64_4x64x5", 2, 2, {4, 64}, {64, 5}},
        {"batch_2x3", 4, 4, {2, 3, 5, 7}, {2, 3, 7, 4}},
    };
    static const ocs_dtype floats[] = {OCS_FLOAT16, OCS_BFLOAT16, OCS_DOUBLE};
    for (size_t t = 0; t < sizeof floats / sizeof floats[0]; t++)
        for (size_t i = 0; i < sizeof typed / sizeof typed[0]; i++)
            add(l, &typed[i], floats[t], -1, 1);
    static const ocs_dtype ints[] = {OCS_INT32, OCS_INT64, OCS_UINT32, OCS_UINT64};
    for (size_t t = 0; t < sizeof ints / sizeof ints[0]; t++)
        add(l, &typed[0], ints[t], ints[t] == OCS_UINT32 || ints[t] == OCS_UINT64 ? 0 : -9, 9);

    /* opset 1 and 9 schemas: the same arithmetic */
    ocs_case *c = ocs_case_add(l, "", "MatMul", 1, "matmul_opset1_5x7x3_f32");
    ocs_case_input_uniform(c, "A", OCS_FLOAT, 2, OCS_DIMS(5, 7), -1, 1);
    ocs_case_input_uniform(c, "B", OCS_FLOAT, 2, OCS_DIMS(7, 3), -1, 1);
    ocs_case_output(c, "Y", OCS_FLOAT);
    c = ocs_case_add(l, "", "MatMul", 9, "matmul_opset9_batch_i64");
    ocs_case_input_uniform(c, "A", OCS_INT64, 3, OCS_DIMS(2, 3, 4), -100, 100);
    ocs_case_input_uniform(c, "B", OCS_INT64, 3, OCS_DIMS(2, 4, 5), -100, 100);
    ocs_case_output(c, "Y", OCS_INT64);
}
