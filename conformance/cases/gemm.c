/*
 * conformance/cases/gemm.c - Gemm: every transA/transB combination, alpha
 * and beta, C absent or broadcast from a scalar, a row, a column or full,
 * sizes 1 and odd sizes, and the element types.
 */
#include "cases.h"

static void add(ocs_case_list *l, int64_t opset, int64_t M, int64_t K, int64_t N, int ta, int tb, double alpha,
                double beta, int c_rank, const int64_t *c_dims, const char *c_tag, ocs_dtype t)
{
    ocs_case *c = ocs_case_add(l, "", "Gemm", opset, "gemm_%lldx%lldx%lld_t%d%d_%s%s_%s%s", (long long)M,
                               (long long)K, (long long)N, ta, tb, c_tag, alpha != 1 || beta != 1 ? "_ab" : "",
                               ocs_cases_type_tag(t), opset != 13 ? (opset == 7 ? "_opset7" : "_opset11") : "");
    int64_t a[2] = {ta ? K : M, ta ? M : K}, b[2] = {tb ? N : K, tb ? K : N};
    double lo = ocs_dtype_is_float(t) ? -1 : -7, hi = ocs_dtype_is_float(t) ? 1 : 7;
    ocs_case_input_uniform(c, "A", t, 2, a, lo, hi);
    ocs_case_input_uniform(c, "B", t, 2, b, lo, hi);
    if (c_rank >= 0)
        ocs_case_input_uniform(c, "C", t, c_rank, c_dims, lo, hi);
    ocs_case_output(c, "Y", t);
    if (ta)
        ocs_case_attr_int(c, "transA", 1);
    if (tb)
        ocs_case_attr_int(c, "transB", 1);
    if (alpha != 1)
        ocs_case_attr_float(c, "alpha", (float)alpha);
    if (beta != 1)
        ocs_case_attr_float(c, "beta", (float)beta);
}

void ocs_cases_gemm(ocs_case_list *l)
{
    static const int64_t sizes[][3] = {{5, 7, 3}, {1, 1, 1}, {4, 9, 1}, {13, 2, 11}};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        int64_t M = sizes[s][0], K = sizes[s][1], N = sizes[s][2];
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                add(l, 13, M, K, N, ta, tb, 1, 1, 2, (int64_t[]){M, N}, "cfull", OCS_FLOAT);
        add(l, 13, M, K, N, 0, 0, 1, 1, -1, NULL, "noc", OCS_FLOAT);
        add(l, 13, M, K, N, 0, 1, 1, 1, 0, NULL, "cscalar", OCS_FLOAT);
        add(l, 13, M, K, N, 1, 0, 1, 1, 1, (int64_t[]){N}, "crow", OCS_FLOAT);
        add(l, 13, M, K, N, 0, 0, 1, 1, 2, (int64_t[]){M, 1}, "ccol", OCS_FLOAT);
        add(l, 13, M, K, N, 1, 1, 0.5, -2, 2, (int64_t[]){1, N}, "crow2d", OCS_FLOAT);
    }
    add(l, 13, 5, 7, 3, 0, 0, 0.25, 0, 2, (int64_t[]){5, 3}, "cfull", OCS_FLOAT);
    add(l, 13, 17, 65, 9, 0, 1, 1, 1, 1, (int64_t[]){9}, "crow", OCS_FLOAT);
    static const ocs_dtype types[] = {OCS_FLOAT16, OCS_BFLOAT16, OCS_DOUBLE, OCS_INT32, OCS_INT64};
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        add(l, 13, 5, 7, 3, 0, 1, 1, 1, 1, (int64_t[]){3}, "crow", types[t]);
        add(l, 13, 6, 33, 4, 1, 0, 1, 1, -1, NULL, "noc", types[t]);
    }
    /* opset 11 (C optional) and 7 (C required, unidirectional broadcast) */
    add(l, 11, 5, 7, 3, 0, 0, 1, 1, -1, NULL, "noc", OCS_FLOAT);
    add(l, 7, 5, 7, 3, 1, 0, 2, 0.5, 1, (int64_t[]){3}, "crow", OCS_FLOAT);
}
