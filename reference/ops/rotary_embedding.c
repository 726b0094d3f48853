/*
 * reference/ops/rotary_embedding.c - RotaryEmbedding-23 (rotary positional
 * embedding, RoPE).
 *
 * Layouts of X (and Y, same shape):
 *   4-D [batch, num_heads, seq, head_size]
 *   3-D [batch, seq, num_heads * head_size]   (attribute num_heads required)
 *
 * With R = rotary_embedding_dim (0 means head_size; R must be even and at
 * most head_size) and h = R / 2, each head vector x of token (b, s) is
 * rotated in its first R components; components R .. head_size-1 pass
 * through unchanged.  The angle's cosine and sine for pair i < h are
 *   c = cos_cache[p, i], s = sin_cache[p, i]   with p = position_ids[b, s]
 *                                               when position_ids is given
 *                                               (caches [max_pos, h]),
 *   c = cos_cache[b, s, i], s = sin_cache[b, s, i]  otherwise
 *                                               (caches [batch, seq, h]).
 * The pair (x1, x2) is (x[i], x[i + h]) by default, or (x[2i], x[2i + 1])
 * when interleaved is 1; it is rotated as
 *   y1 = c * x1 - s * x2
 *   y2 = s * x1 + c * x2
 * and written back to the same two positions.  Each value is computed in
 * double and rounded once to T.
 *
 * Types: X, cos_cache, sin_cache and Y share T in float, float16,
 * bfloat16; position_ids is int64, each in [0, max_pos).
 */
#include "linalg.h"

static const ocs_dtype types_t[] = {OCS_FLOAT, OCS_FLOAT16, OCS_BFLOAT16};

ocs_status ocs_ref_RotaryEmbedding(ocs_kernel_args *a)
{
    ocs_status st = ocs_need_inputs(a, 3, 4);
    if (st != OCS_OK)
        return st;
    const ocs_tensor *X = a->inputs[0], *Cos = a->inputs[1], *Sin = a->inputs[2];
    const ocs_tensor *Pos = ocs_input(a, 3);
    if ((st = ocs_linalg_check_type(a, X, "input 0 (X)", types_t, 3)) != OCS_OK ||
        (st = ocs_same_dtype(a, 0, 2)) != OCS_OK)
        return st;

    int64_t interleaved, num_heads_attr, rdim_attr;
    if ((st = ocs_node_attr_int(a->node, "interleaved", 0, &interleaved, a->err)) != OCS_OK ||
        (st = ocs_node_attr_int(a->node, "num_heads", 0, &num_heads_attr, a->err)) != OCS_OK ||
        (st = ocs_node_attr_int(a->node, "rotary_embedding_dim", 0, &rdim_attr, a->err)) != OCS_OK)
        return st;

    /* Logical view [B, H, S, D] and the strides of X along each. */
    int64_t B, H, S, D, sb, sh, ss;
    if (X->rank == 4) {
        B = X->dims[0];
        H = X->dims[1];
        S = X->dims[2];
        D = X->dims[3];
        ss = D;
        sh = S * D;
        sb = H * S * D;
    } else if (X->rank == 3) {
        if (num_heads_attr <= 0)
            return ocs_fail(a->err, OCS_ERR_INVALID,
                            "RotaryEmbedding: a 3-D input needs attribute num_heads > 0, got %lld",
                            (long long)num_heads_attr);
        B = X->dims[0];
        S = X->dims[1];
        H = num_heads_attr;
        if (X->dims[2] % H != 0)
            return ocs_fail(a->err, OCS_ERR_INVALID,
                            "RotaryEmbedding: hidden size %lld is not a multiple of num_heads %lld",
                            (long long)X->dims[2], (long long)H);
        D = X->dims[2] / H;
        sh = D;
        ss = H * D;
        sb = S * H * D;
    } else {
        return ocs_fail(a->err, OCS_ERR_INVALID, "RotaryEmbedding: input X must be 3-D or 4-D, got rank %d",
                        X->rank);
    }

    const int64_t R = rdim_attr == 0 ? D : rdim_attr;
    if (R < 0 || R > D || R % 2 != 0)
        return ocs_fail(a->err, OCS_ERR_INVALID,
                        "RotaryEmbedding: rotary_embedding_dim %lld must be even and in [0, head_size %lld]",
                        (long long)R, (long long)D);
    const int64_t half = R / 2;

    char s1[128], s2[128];
    if (Cos->rank != Sin->rank || Cos->numel != Sin->numel ||
        (Cos->rank > 0 && Cos->dims[0] != Sin->dims[0]) ||
        (Cos->rank > 1 && Cos->dims[1] != Sin->dims[1]))
        return ocs_fail(a->err, OCS_ERR_INVALID,
                        "RotaryEmbedding: cos_cache %s and sin_cache %s differ in shape",
                        ocs_shape_str(Cos->rank, Cos->dims, s1, sizeof s1),
                        ocs_shape_str(Sin->rank, Sin->dims, s2, sizeof s2));
    int64_t max_pos = 0;
    if (Pos) {
        if (Pos->dtype != OCS_INT64)
            return ocs_fail(a->err, OCS_ERR_INVALID,
                            "RotaryEmbedding: position_ids must be int64, got %s",
                            ocs_dtype_name(Pos->dtype));
        if (Pos->rank != 2 || Pos->dims[0] != B || Pos->dims[1] != S)
            return ocs_fail(a->err, OCS_ERR_INVALID,
                            "RotaryEmbedding: position_ids %s must be [batch %lld, seq %lld]",
                            ocs_shape_str(Pos->rank, Pos->dims, s1, sizeof s1), (long long)B,
                            (long long)S);
        if (Cos->rank != 2 || Cos->dims[1] != half)
            return ocs_fail(a->err, OCS_ERR_INVALID,
                            "RotaryEmbedding: with position_ids, cos_cache %s must be [max_position, %lld]",
                            ocs_shape_str(Cos->rank, Cos->dims, s1, sizeof s1), (long long)half);
        max_pos = Cos->dims[0];
    } else {
        if (Cos->rank != 3 || Cos->dims[0] != B || Cos->dims[1] != S || Cos->dims[2] != half)
            return ocs_fail(a->err, OCS_ERR_INVALID,
                            "RotaryEmbedding: without position_ids, cos_cache %s must be [%lld, %lld, %lld]",
                            ocs_shape_str(Cos->rank, Cos->dims, s1, sizeof s1), (long long)B,
                            (long long)S, (long long)half);
    }

    ocs_tensor *Y;
    if ((st = ocs_output(a, 0, X->dtype, X->rank, X->dims, &Y)) != OCS_OK)
        return st;

    for (int64_t b = 0; b < B; b++) {
        for (int64_t s = 0; s < S; s++) {
            /* Row of the caches for token (b, s). */
            int64_t row;
            if (Pos) {
                int64_t p = ocs_tensor_get_i64(Pos, (size_t)(b * S + s));
                if (p < 0 || p >= max_pos)
                    return ocs_fail(a->err, OCS_ERR_INVALID,
                                    "RotaryEmbedding: position_ids[%lld, %lld] = %lld is outside [0, %lld)",
                                    (long long)b, (long long)s, (long long)p, (long long)max_pos);
                row = p;
            } else {
                row = b * S + s;
            }
            for (int64_t h = 0; h < H; h++) {
                const size_t base = (size_t)(b * sb + h * sh + s * ss);
                for (int64_t i = 0; i < half; i++) {
                    const double c = ocs_tensor_get_f64(Cos, (size_t)(row * half + i));
                    const double sn = ocs_tensor_get_f64(Sin, (size_t)(row * half + i));
                    const size_t i1 = base + (size_t)(interleaved ? 2 * i : i);
                    const size_t i2 = base + (size_t)(interleaved ? 2 * i + 1 : i + half);
                    const double x1 = ocs_tensor_get_f64(X, i1);
                    const double x2 = ocs_tensor_get_f64(X, i2);
                    ocs_tensor_set_f64(Y, i1, c * x1 - sn * x2);   /* y1 = c*x1 - s*x2 */
                    ocs_tensor_set_f64(Y, i2, sn * x1 + c * x2);   /* y2 = s*x1 + c*x2 */
                }
                for (int64_t d = R; d < D; d++)   /* pass-through beyond R */
                    ocs_tensor_set_f64(Y, base + (size_t)d, ocs_tensor_get_f64(X, base + (size_t)d));
            }
        }
    }
    return OCS_OK;
}
