/*
 * reference/ops/rms_normalization.c - RMSNormalization-23.
 *
 * X is viewed as [outer, inner] where outer = d[0] * ... * d[axis-1] and
 * inner = d[axis] * ... * d[rank-1] (the normalized axes).  For each row r:
 *
 *   RMS[r]  = sqrt((1/inner) * sum_i X[r, i]^2 + epsilon)
 *   Y[r, i] = X[r, i] / RMS[r] * scale[i]
 *
 * scale is broadcast unidirectionally to X's shape (numpy rules: rank <=
 * rank(X), each dimension equal to X's or 1).  Everything is computed in
 * double, which is at least the precision stash_type asks for, and Y is
 * rounded once to scale's type.
 *
 * Attributes: axis (default -1, in [-rank, rank)), epsilon (default 1e-5),
 * stash_type (default 1; a floating-point type code).  Types: X is T, scale
 * and Y are V; T and V are each one of float16, float, double, bfloat16.
 */
#include "linalg.h"

#include <math.h>

static const ocs_dtype types_t[] = {OCS_LINALG_FLOATS};

ocs_status ocs_ref_RMSNormalization(ocs_kernel_args *a)
{
    ocs_status st = ocs_need_inputs(a, 2, 2);
    if (st != OCS_OK)
        return st;
    const ocs_tensor *X = a->inputs[0], *S = a->inputs[1];
    if ((st = ocs_linalg_check_type(a, X, "input 0 (X)", types_t, 4)) != OCS_OK ||
        (st = ocs_linalg_check_type(a, S, "input 1 (scale)", types_t, 4)) != OCS_OK)
        return st;

    int64_t axis_attr, stash;
    float eps_f;
    if ((st = ocs_node_attr_int(a->node, "axis", -1, &axis_attr, a->err)) != OCS_OK ||
        (st = ocs_node_attr_float(a->node, "epsilon", 1e-5f, &eps_f, a->err)) != OCS_OK ||
        (st = ocs_node_attr_int(a->node, "stash_type", 1, &stash, a->err)) != OCS_OK)
        return st;
    if (stash != OCS_FLOAT && stash != OCS_FLOAT16 && stash != OCS_DOUBLE && stash != OCS_BFLOAT16)
        return ocs_fail(a->err, OCS_ERR_INVALID,
                        "RMSNormalization: stash_type %lld is not a floating-point type",
                        (long long)stash);
    int axis;
    if ((st = ocs_axis(a, axis_attr, X->rank, "attribute axis", &axis)) != OCS_OK)
        return st;
    int ok = S->rank <= X->rank;
    for (int k = 0; ok && k < S->rank; k++) {
        int64_t d = S->dims[k], want = X->dims[X->rank - S->rank + k];
        ok = d == want || d == 1;
    }
    if (!ok) {
        char s1[128], s2[128];
        return ocs_fail(a->err, OCS_ERR_INVALID,
                        "RMSNormalization: scale %s is not unidirectionally broadcastable to X %s",
                        ocs_shape_str(S->rank, S->dims, s1, sizeof s1),
                        ocs_shape_str(X->rank, X->dims, s2, sizeof s2));
    }

    size_t outer = 1, inner = 1;
    for (int k = 0; k < axis; k++)
        outer *= (size_t)X->dims[k];
    for (int k = axis; k < X->rank; k++)
        inner *= (size_t)X->dims[k];

    ocs_tensor *Y;
    if ((st = ocs_output(a, 0, S->dtype, X->rank, X->dims, &Y)) != OCS_OK)
        return st;

    ocs_bview sv;
    ocs_bview_init(&sv, S, X->rank, X->dims);
    const double eps = eps_f;
    int64_t idx[OCS_MAX_RANK] = {0};   /* multi-index of X, advanced in row-major order */

    for (size_t r = 0; r < outer; r++) {
        const size_t base = r * inner;
        double ss = 0.0;
        for (size_t i = 0; i < inner; i++) {
            double x = ocs_tensor_get_f64(X, base + i);
            ss += x * x;
        }
        const double rms = sqrt(ss / (double)inner + eps);   /* RMS = sqrt(mean(x^2) + eps) */
        for (size_t i = 0; i < inner; i++) {
            /* Y = x / RMS * scale */
            double y = ocs_tensor_get_f64(X, base + i) / rms *
                       ocs_tensor_get_f64(S, ocs_bview_offset(&sv, idx));
            ocs_tensor_set_f64(Y, base + i, y);
            ocs_index_next(X->rank, X->dims, idx);
        }
    }
    return OCS_OK;
}
