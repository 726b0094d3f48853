/*
 * reference/ops/gemm.c - Gemm-1, -6, -7, -9, -11, -13: general matrix
 * multiplication.
 *
 *   A' = transpose(A) if transA else A        A' is [M, K]
 *   B' = transpose(B) if transB else B        B' is [K, N]
 *   Y[m, n] = alpha * sum_k A'[m, k] * B'[k, n] + beta * C[m, n]
 *
 * A and B must be 2-D.  C is broadcast unidirectionally to [M, N] (numpy
 * rules: rank <= 2, each dimension equal to the target or 1).  When beta is
 * 0 the C term is left out altogether, so a non-finite C does not leak in.
 *
 * Versions:
 *   Gemm-1, -6   C required; C must already be [M, N] unless the attribute
 *                broadcast is non-zero.  Types float16, float, double.
 *   Gemm-7       C required, always broadcast unidirectionally.
 *   Gemm-9       adds int32, int64, uint32, uint64.
 *   Gemm-11      C optional (absent means 0).
 *   Gemm-13      adds bfloat16.
 *
 * Floating types: the dot product accumulates in double and the whole
 * expression is rounded once to the output type.  Integer types: the dot
 * product is exact (modulo 2^64, wrapped to the element width as numpy's
 * np.dot does); when alpha is 1 and beta is 1 (or 0, or C absent) the result
 * stays exact, otherwise alpha * dot + beta * C is evaluated in double and
 * truncated toward zero, wrapping to the element width.
 */
#include "linalg.h"

static const ocs_dtype types_v1[] = {OCS_FLOAT16, OCS_FLOAT, OCS_DOUBLE};
static const ocs_dtype types_v9[] = {OCS_FLOAT16, OCS_FLOAT, OCS_DOUBLE,
                                     OCS_INT32, OCS_INT64, OCS_UINT32, OCS_UINT64};
static const ocs_dtype types_v13[] = {OCS_FLOAT16, OCS_FLOAT, OCS_DOUBLE, OCS_BFLOAT16,
                                      OCS_INT32, OCS_INT64, OCS_UINT32, OCS_UINT64};

/* The integer an element-width bit pattern stands for, as a double. */
static double int_value(ocs_dtype t, uint64_t bits)
{
    switch (t) {
    case OCS_INT32:
        return (double)(int32_t)(uint32_t)bits;
    case OCS_UINT32:
        return (double)(uint32_t)bits;
    case OCS_INT64:
        return (double)(int64_t)bits;
    default:
        return (double)bits;
    }
}

ocs_status ocs_ref_Gemm(ocs_kernel_args *a)
{
    const int c_optional = a->since_version >= 11;
    ocs_status st = ocs_need_inputs(a, c_optional ? 2 : 3, 3);
    if (st != OCS_OK)
        return st;
    const ocs_tensor *A = a->inputs[0], *B = a->inputs[1], *C = ocs_input(a, 2);

    const ocs_dtype *types = types_v13;
    size_t n_types = sizeof types_v13 / sizeof types_v13[0];
    if (a->since_version < 9) {
        types = types_v1;
        n_types = sizeof types_v1 / sizeof types_v1[0];
    } else if (a->since_version < 13) {
        types = types_v9;
        n_types = sizeof types_v9 / sizeof types_v9[0];
    }
    if ((st = ocs_linalg_check_type(a, A, "input 0 (A)", types, n_types)) != OCS_OK)
        return st;
    if ((st = ocs_same_dtype(a, 0, 2)) != OCS_OK)
        return st;

    float alpha_f, beta_f;
    int64_t trans_a, trans_b, broadcast = 1;
    if ((st = ocs_node_attr_float(a->node, "alpha", 1.0f, &alpha_f, a->err)) != OCS_OK ||
        (st = ocs_node_attr_float(a->node, "beta", 1.0f, &beta_f, a->err)) != OCS_OK ||
        (st = ocs_node_attr_int(a->node, "transA", 0, &trans_a, a->err)) != OCS_OK ||
        (st = ocs_node_attr_int(a->node, "transB", 0, &trans_b, a->err)) != OCS_OK)
        return st;
    if (a->since_version < 7 &&
        (st = ocs_node_attr_int(a->node, "broadcast", 0, &broadcast, a->err)) != OCS_OK)
        return st;
    const double alpha = alpha_f, beta = beta_f;

    if (A->rank != 2 || B->rank != 2)
        return ocs_fail(a->err, OCS_ERR_INVALID, "Gemm: A and B must be 2-D, got ranks %d and %d",
                        A->rank, B->rank);
    const int64_t M = trans_a ? A->dims[1] : A->dims[0];
    const int64_t K = trans_a ? A->dims[0] : A->dims[1];
    const int64_t KB = trans_b ? B->dims[1] : B->dims[0];
    const int64_t N = trans_b ? B->dims[0] : B->dims[1];
    if (K != KB)
        return ocs_fail(a->err, OCS_ERR_INVALID,
                        "Gemm: A' is [%lld, %lld] but B' is [%lld, %lld] (transA=%lld, transB=%lld)",
                        (long long)M, (long long)K, (long long)KB, (long long)N,
                        (long long)trans_a, (long long)trans_b);

    const int64_t ydims[2] = {M, N};
    ocs_bview cview;
    if (C) {
        char s1[128];
        if (!broadcast && (C->rank != 2 || C->dims[0] != M || C->dims[1] != N))
            return ocs_fail(a->err, OCS_ERR_INVALID,
                            "Gemm-%lld: C %s must be [%lld, %lld] when broadcast is 0",
                            (long long)a->since_version, ocs_shape_str(C->rank, C->dims, s1, sizeof s1),
                            (long long)M, (long long)N);
        int ok = C->rank <= 2;
        for (int i = 0; ok && i < C->rank; i++) {
            int64_t d = C->dims[i], want = ydims[2 - C->rank + i];
            ok = d == want || d == 1;
        }
        if (!ok)
            return ocs_fail(a->err, OCS_ERR_INVALID,
                            "Gemm: C %s is not unidirectionally broadcastable to [%lld, %lld]",
                            ocs_shape_str(C->rank, C->dims, s1, sizeof s1), (long long)M, (long long)N);
        ocs_bview_init(&cview, C, 2, ydims);
    }
    const int use_c = C && beta != 0.0;

    ocs_tensor *Y;
    if ((st = ocs_output(a, 0, A->dtype, 2, ydims, &Y)) != OCS_OK)
        return st;

    const int exact_int = ocs_linalg_is_int(A->dtype);
    for (int64_t m = 0; m < M; m++) {
        for (int64_t n = 0; n < N; n++) {
            const size_t y_off = (size_t)(m * N + n);
            const int64_t idx[2] = {m, n};
            const size_t c_off = use_c ? ocs_bview_offset(&cview, idx) : 0;
            if (exact_int) {
                uint64_t dot = 0;   /* sum_k A'[m,k] * B'[k,n]  (mod 2^64) */
                for (int64_t k = 0; k < K; k++) {
                    size_t ia = (size_t)(trans_a ? k * M + m : m * K + k);
                    size_t ib = (size_t)(trans_b ? n * K + k : k * N + n);
                    dot += ocs_linalg_get_bits(A, ia) * ocs_linalg_get_bits(B, ib);
                }
                if (alpha == 1.0 && (!use_c || beta == 1.0)) {
                    /* Y = dot (+ C), exact */
                    uint64_t y = dot + (use_c ? ocs_linalg_get_bits(C, c_off) : 0);
                    ocs_linalg_set_bits(Y, y_off, y);
                } else {
                    /* Y = alpha * dot + beta * C, in double, truncated */
                    uint64_t wrapped = dot;
                    if (A->dtype == OCS_INT32 || A->dtype == OCS_UINT32)
                        wrapped &= 0xffffffffu;
                    double y = alpha * int_value(A->dtype, wrapped);
                    if (use_c)
                        y += beta * int_value(C->dtype, ocs_linalg_get_bits(C, c_off));
                    ocs_tensor_set_f64(Y, y_off, y);
                }
            } else {
                double dot = 0.0;   /* sum_k A'[m,k] * B'[k,n]  (in double) */
                for (int64_t k = 0; k < K; k++) {
                    size_t ia = (size_t)(trans_a ? k * M + m : m * K + k);
                    size_t ib = (size_t)(trans_b ? n * K + k : k * N + n);
                    dot += ocs_tensor_get_f64(A, ia) * ocs_tensor_get_f64(B, ib);
                }
                double y = alpha * dot;   /* Y = alpha * dot + beta * C */
                if (use_c)
                    y += beta * ocs_tensor_get_f64(C, c_off);
                ocs_tensor_set_f64(Y, y_off, y);
            }
        }
    }
    return OCS_OK;
}
