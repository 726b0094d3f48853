/*
 * reference/ops/layer_normalization.c - LayerNormalization-17.
 *
 * X is viewed as [outer, inner] where outer = d[0] * ... * d[axis-1] and
 * inner = d[axis] * ... * d[rank-1] (the normalized axes).  For each row r:
 *
 *   Mean[r]      = (1/inner) * sum_i X[r, i]
 *   Var[r]       = (1/inner) * sum_i (X[r, i] - Mean[r])^2
 *   InvStdDev[r] = 1 / sqrt(Var[r] + epsilon)
 *   Y[r, i]      = (X[r, i] - Mean[r]) * InvStdDev[r] * Scale[i] + B[i]
 *
 * Scale and the optional B are broadcast unidirectionally to X's shape (numpy
 * rules: rank <= rank(X), each dimension equal to X's or 1).  Everything is
 * computed in double, which is at least the precision stash_type asks for,
 * and each output is rounded once: Y to X's type, Mean and InvStdDev to the
 * stash type.  Mean and InvStdDev have X's rank with d[axis..] set to 1.
 *
 * Attributes: axis (default -1, in [-rank, rank)), epsilon (default 1e-5),
 * stash_type (default 1 = float; type constraint U allows float and
 * bfloat16).  Types: X, Scale, B and Y share T in float16, float, double,
 * bfloat16.
 */
#include "linalg.h"

#include <math.h>

static const ocs_dtype types_t[] = {OCS_LINALG_FLOATS};

/* Fails unless t (input index i) is unidirectionally broadcastable to x's shape. */
static ocs_status check_unidirectional(const ocs_kernel_args *a, const ocs_tensor *t, size_t i,
                                       const char *name, const ocs_tensor *x)
{
    int ok = t->rank <= x->rank;
    for (int k = 0; ok && k < t->rank; k++) {
        int64_t d = t->dims[k], want = x->dims[x->rank - t->rank + k];
        ok = d == want || d == 1;
    }
    if (ok)
        return OCS_OK;
    char s1[128], s2[128];
    return ocs_fail(a->err, OCS_ERR_INVALID,
                    "%s: input %zu (%s) %s is not unidirectionally broadcastable to X %s",
                    a->node->op_type, i, name, ocs_shape_str(t->rank, t->dims, s1, sizeof s1),
                    ocs_shape_str(x->rank, x->dims, s2, sizeof s2));
}

ocs_status ocs_ref_LayerNormalization(ocs_kernel_args *a)
{
    ocs_status st = ocs_need_inputs(a, 2, 3);
    if (st != OCS_OK)
        return st;
    const ocs_tensor *X = a->inputs[0], *S = a->inputs[1], *Bias = ocs_input(a, 2);
    if ((st = ocs_linalg_check_type(a, X, "input 0 (X)", types_t, 4)) != OCS_OK ||
        (st = ocs_same_dtype(a, 0, 2)) != OCS_OK)
        return st;

    int64_t axis_attr, stash;
    float eps_f;
    if ((st = ocs_node_attr_int(a->node, "axis", -1, &axis_attr, a->err)) != OCS_OK ||
        (st = ocs_node_attr_float(a->node, "epsilon", 1e-5f, &eps_f, a->err)) != OCS_OK ||
        (st = ocs_node_attr_int(a->node, "stash_type", 1, &stash, a->err)) != OCS_OK)
        return st;
    if (stash != OCS_FLOAT && stash != OCS_BFLOAT16)
        return ocs_fail(a->err, OCS_ERR_INVALID,
                        "LayerNormalization: stash_type %lld is not allowed (FLOAT=1 or BFLOAT16=16)",
                        (long long)stash);
    int axis;
    if ((st = ocs_axis(a, axis_attr, X->rank, "attribute axis", &axis)) != OCS_OK)
        return st;
    if ((st = check_unidirectional(a, S, 1, "Scale", X)) != OCS_OK ||
        (Bias && (st = check_unidirectional(a, Bias, 2, "B", X)) != OCS_OK))
        return st;

    size_t outer = 1, inner = 1;
    for (int k = 0; k < axis; k++)
        outer *= (size_t)X->dims[k];
    for (int k = axis; k < X->rank; k++)
        inner *= (size_t)X->dims[k];

    ocs_tensor *Y, *Mean = NULL, *Inv = NULL;
    if ((st = ocs_output(a, 0, X->dtype, X->rank, X->dims, &Y)) != OCS_OK)
        return st;
    int64_t rdims[OCS_MAX_RANK];
    for (int k = 0; k < X->rank; k++)
        rdims[k] = k < axis ? X->dims[k] : 1;
    if (ocs_kernel_output_wanted(a, 1) &&
        (st = ocs_output(a, 1, (ocs_dtype)stash, X->rank, rdims, &Mean)) != OCS_OK)
        return st;
    if (ocs_kernel_output_wanted(a, 2) &&
        (st = ocs_output(a, 2, (ocs_dtype)stash, X->rank, rdims, &Inv)) != OCS_OK)
        return st;

    ocs_bview sv, bv;
    ocs_bview_init(&sv, S, X->rank, X->dims);
    if (Bias)
        ocs_bview_init(&bv, Bias, X->rank, X->dims);
    const double eps = eps_f;
    int64_t idx[OCS_MAX_RANK] = {0};   /* multi-index of X, advanced in row-major order */

    for (size_t r = 0; r < outer; r++) {
        const size_t base = r * inner;
        double sum = 0.0;
        for (size_t i = 0; i < inner; i++)
            sum += ocs_tensor_get_f64(X, base + i);
        const double mean = sum / (double)inner;   /* Mean = sum / inner */
        double ss = 0.0;
        for (size_t i = 0; i < inner; i++) {
            double d = ocs_tensor_get_f64(X, base + i) - mean;
            ss += d * d;
        }
        const double var = ss / (double)inner;        /* Var = sum (x - Mean)^2 / inner */
        const double inv = 1.0 / sqrt(var + eps);     /* InvStdDev = 1 / sqrt(Var + eps) */
        for (size_t i = 0; i < inner; i++) {
            /* Y = (x - Mean) * InvStdDev * Scale + B */
            double y = (ocs_tensor_get_f64(X, base + i) - mean) * inv *
                       ocs_tensor_get_f64(S, ocs_bview_offset(&sv, idx));
            if (Bias)
                y += ocs_tensor_get_f64(Bias, ocs_bview_offset(&bv, idx));
            ocs_tensor_set_f64(Y, base + i, y);
            ocs_index_next(X->rank, X->dims, idx);
        }
        if (Mean)
            ocs_tensor_set_f64(Mean, r, mean);
        if (Inv)
            ocs_tensor_set_f64(Inv, r, inv);
    }
    return OCS_OK;
}
