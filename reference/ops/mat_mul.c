/*
 * reference/ops/mat_mul.c - MatMul-1, -9, -13: the matrix product of
 * numpy.matmul.
 *
 *   Y[..., m, n] = sum_k A[..., m, k] * B[..., k, n]
 *
 * Shapes follow numpy:
 *   - both operands must have rank >= 1;
 *   - a 1-D A of shape [K] is treated as [1, K] and the 1 is removed from Y;
 *   - a 1-D B of shape [K] is treated as [K, 1] and the 1 is removed from Y;
 *   - the leading (batch) dimensions, everything before the last two, are
 *     broadcast against each other (numpy rules);
 *   - Y has shape broadcast(batchA, batchB) + [M] + [N] (less the removed 1s).
 *
 * Floating types accumulate the products in double and round once to the
 * output type.  Integer types are exact: products and sums are computed
 * modulo 2^64 and wrapped to the element width, as numpy's fixed-width
 * integer arithmetic does.
 *
 * Types: MatMul-1: float16, float, double; MatMul-9 adds int32, int64,
 * uint32, uint64; MatMul-13 adds bfloat16.
 */
#include "linalg.h"

static const ocs_dtype types_v1[] = {OCS_FLOAT16, OCS_FLOAT, OCS_DOUBLE};
static const ocs_dtype types_v9[] = {OCS_FLOAT16, OCS_FLOAT, OCS_DOUBLE,
                                     OCS_INT32, OCS_INT64, OCS_UINT32, OCS_UINT64};
static const ocs_dtype types_v13[] = {OCS_FLOAT16, OCS_FLOAT, OCS_DOUBLE, OCS_BFLOAT16,
                                      OCS_INT32, OCS_INT64, OCS_UINT32, OCS_UINT64};

ocs_status ocs_ref_MatMul(ocs_kernel_args *a)
{
    ocs_status st = ocs_need_inputs(a, 2, 2);
    if (st != OCS_OK)
        return st;
    const ocs_tensor *A = a->inputs[0], *B = a->inputs[1];

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
    if ((st = ocs_same_dtype(a, 0, 1)) != OCS_OK)
        return st;
    if (A->rank < 1 || B->rank < 1)
        return ocs_fail(a->err, OCS_ERR_INVALID,
                        "MatMul: operands must have rank >= 1, got A rank %d and B rank %d",
                        A->rank, B->rank);

    /* Matrix views: A is [..., M, K], B is [..., K, N]. */
    int a_vec = A->rank == 1, b_vec = B->rank == 1;
    int64_t M = a_vec ? 1 : A->dims[A->rank - 2];
    int64_t K = A->dims[A->rank - 1];
    int64_t KB = b_vec ? B->dims[0] : B->dims[B->rank - 2];
    int64_t N = b_vec ? 1 : B->dims[B->rank - 1];
    if (K != KB) {
        char s1[128], s2[128];
        return ocs_fail(a->err, OCS_ERR_INVALID,
                        "MatMul: inner dimensions differ: A %s has K=%lld, B %s has K=%lld",
                        ocs_shape_str(A->rank, A->dims, s1, sizeof s1), (long long)K,
                        ocs_shape_str(B->rank, B->dims, s2, sizeof s2), (long long)KB);
    }

    /* Batch dimensions: broadcast A->dims[0 .. ra) with B->dims[0 .. rb). */
    int ra = a_vec ? 0 : A->rank - 2;
    int rb = b_vec ? 0 : B->rank - 2;
    int rbatch = ra > rb ? ra : rb;
    int64_t bdims[OCS_MAX_RANK], astr[OCS_MAX_RANK], bstr[OCS_MAX_RANK];
    for (int i = 0; i < rbatch; i++) {
        int ia = i - (rbatch - ra), ib = i - (rbatch - rb);
        int64_t da = ia >= 0 ? A->dims[ia] : 1;
        int64_t db = ib >= 0 ? B->dims[ib] : 1;
        if (da != db && da != 1 && db != 1) {
            char s1[128], s2[128];
            return ocs_fail(a->err, OCS_ERR_INVALID,
                            "MatMul: batch dimensions of A %s and B %s cannot be broadcast",
                            ocs_shape_str(A->rank, A->dims, s1, sizeof s1),
                            ocs_shape_str(B->rank, B->dims, s2, sizeof s2));
        }
        bdims[i] = da == 1 ? db : da;
    }
    /* Element strides of each operand's batch dimensions (0 where broadcast). */
    {
        int64_t sa = M * K, sb = K * N;
        for (int i = rbatch - 1; i >= 0; i--) {
            int ia = i - (rbatch - ra), ib = i - (rbatch - rb);
            int64_t da = ia >= 0 ? A->dims[ia] : 1;
            int64_t db = ib >= 0 ? B->dims[ib] : 1;
            astr[i] = (da == 1) ? 0 : sa;
            bstr[i] = (db == 1) ? 0 : sb;
            sa *= da;
            sb *= db;
        }
    }

    /* Output shape: batch + [M unless A is 1-D] + [N unless B is 1-D]. */
    int64_t ydims[OCS_MAX_RANK];
    int yrank = 0;
    for (int i = 0; i < rbatch; i++)
        ydims[yrank++] = bdims[i];
    if (!a_vec)
        ydims[yrank++] = M;
    if (!b_vec)
        ydims[yrank++] = N;
    if (yrank > OCS_MAX_RANK)
        return ocs_fail(a->err, OCS_ERR_UNSUPPORTED, "MatMul: output rank %d exceeds %d", yrank,
                        OCS_MAX_RANK);

    ocs_tensor *Y;
    if ((st = ocs_output(a, 0, A->dtype, yrank, ydims, &Y)) != OCS_OK)
        return st;
    if (Y->numel == 0)
        return OCS_OK;

    const int exact_int = ocs_linalg_is_int(A->dtype);
    int64_t idx[OCS_MAX_RANK] = {0};
    size_t y_off = 0;
    do {
        int64_t a_base = 0, b_base = 0;
        for (int i = 0; i < rbatch; i++) {
            a_base += idx[i] * astr[i];
            b_base += idx[i] * bstr[i];
        }
        for (int64_t m = 0; m < M; m++) {
            for (int64_t n = 0; n < N; n++, y_off++) {
                if (exact_int) {
                    uint64_t acc = 0;   /* sum_k A[m,k] * B[k,n]  (mod 2^64) */
                    for (int64_t k = 0; k < K; k++)
                        acc += ocs_linalg_get_bits(A, (size_t)(a_base + m * K + k)) *
                               ocs_linalg_get_bits(B, (size_t)(b_base + k * N + n));
                    ocs_linalg_set_bits(Y, y_off, acc);
                } else {
                    double acc = 0.0;   /* sum_k A[m,k] * B[k,n]  (in double) */
                    for (int64_t k = 0; k < K; k++)
                        acc += ocs_tensor_get_f64(A, (size_t)(a_base + m * K + k)) *
                               ocs_tensor_get_f64(B, (size_t)(b_base + k * N + n));
                    ocs_tensor_set_f64(Y, y_off, acc);
                }
            }
        }
    } while (ocs_index_next(rbatch, bdims, idx));
    return OCS_OK;
}
