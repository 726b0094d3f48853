/*
 * reference/ops/attention.c - Attention-23 and Attention-24: scaled dot
 * product attention with optional mask, causal masking, KV cache
 * concatenation, grouped-query heads and softcap.
 *
 * Shapes (B batch, Hq / Hkv query / key-value heads, Sq / Skv query / new
 * key-value sequence lengths, D head size of Q and K, Dv head size of V):
 *   4-D inputs: Q [B, Hq, Sq, D], K [B, Hkv, Skv, D], V [B, Hkv, Skv, Dv]
 *   3-D inputs: Q [B, Sq, Hq*D],  K [B, Skv, Hkv*D], V [B, Skv, Hkv*Dv]
 *               with Hq = q_num_heads and Hkv = kv_num_heads (attributes,
 *               required); element (b, s, h*D + d) is head h's component d.
 *   past_key [B, Hkv, P, D] and past_value [B, Hkv, P, Dv]: both or neither.
 *
 * Definition, for batch b, query head h, query row i and key j in [0, T):
 *   T            = P + Skv  (total sequence length; P = 0 without a past)
 *   Kt[b,g,j,:]  = past_key[b,g,j,:] if j < P else K[b,g,j-P,:]   (= present_key)
 *   Vt[b,g,j,:]  = past_value[b,g,j,:] if j < P else V[b,g,j-P,:] (= present_value)
 *   g            = h / (Hq / Hkv)     (grouped-query attention: each K/V head
 *                                      serves Hq/Hkv consecutive query heads)
 *   scale        = attribute scale, default 1 / sqrt(D)
 *   raw[j]       = scale * sum_d Q[b,h,i,d] * Kt[b,g,j,d]
 *                  (the spec's (sqrt(scale) Q) . (sqrt(scale) K), exactly)
 *   capped[j]    = softcap * tanh(raw[j] / softcap) if softcap > 0, else raw[j]
 *   bias[j]      = mask term + causal term + padding term, where
 *                    mask term   = attn_mask broadcast to [B, Hq, Sq, *]:
 *                                  a bool mask gives 0 (true) or -inf (false),
 *                                  any other type is added as a number;
 *                                  columns j past the mask's last dimension
 *                                  (which may be shorter than T) give -inf;
 *                    causal term = -inf if is_causal and j > i + offset, else 0,
 *                                  offset = P with a past cache (query i sits
 *                                  at position P + i); nonpad_kv_seqlen[b] - Sq
 *                                  with nonpad_kv_seqlen (Attention-24,
 *                                  bottom-right alignment); 0 otherwise;
 *                    padding term = -inf if j >= nonpad_kv_seqlen[b] (Attention-24), else 0
 *   w[j]         = capped[j] + bias[j]
 *   p[j]         = exp(w[j] - max_k w[k]) / sum_k exp(w[k] - max_k w[k])
 *   Y[b,h,i,:]   = sum_j p[j] * Vt[b,g,j,:]
 * A row whose w[j] are all -inf (fully masked, or T = 0) has no defined
 * softmax: its Y row is 0 (the behaviour of ONNX's errata to Attention-23/24
 * and of PyTorch's scaled_dot_product_attention), and its softmax output
 * (qk_matmul_output_mode 3) is NaN.
 *
 * Outputs: Y [B, Hq, Sq, Dv] (4-D) or [B, Sq, Hq*Dv] (3-D), Q's type;
 * present_key [B, Hkv, T, D] and present_value [B, Hkv, T, Dv], copies of
 * Kt and Vt; qk_matmul_output [B, Hq, Sq, T], Q's type, holding raw
 * (qk_matmul_output_mode 0), capped (1), w (2) or p (3).
 *
 * All arithmetic is in double (at least the precision softmax_precision asks
 * for) and each output element is rounded once.  Attention-24 adds input 6,
 * nonpad_kv_seqlen (int64 [B], each in [0, T]); it may not be combined with a
 * past cache, and a mask must then cover at least max(nonpad_kv_seqlen)
 * columns.
 *
 * Types: Q, K, past_key and Y share T1; V, past_value and present_value
 * share T2; T1, T2 in float16, float, double, bfloat16.  attn_mask is bool
 * or any integer or floating type.
 */
#include "linalg.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const ocs_dtype types_t[] = {OCS_LINALG_FLOATS};
static const ocs_dtype types_mask[] = {
    OCS_BOOL,  OCS_UINT8, OCS_UINT16, OCS_UINT32, OCS_UINT64, OCS_INT8,   OCS_INT16,
    OCS_INT32, OCS_INT64, OCS_FLOAT16, OCS_FLOAT, OCS_DOUBLE, OCS_BFLOAT16};

/* A Q, K or V input read as [B, H, S, Dh] whatever its layout. */
typedef struct {
    const ocs_tensor *t;
    int64_t H, S, Dh;
    int packed;   /* 3-D: [B, S, H*Dh] */
} head_view;

static size_t hv_off(const head_view *v, int64_t b, int64_t h, int64_t s, int64_t d)
{
    if (v->packed)
        return (size_t)(((b * v->S + s) * v->H + h) * v->Dh + d);
    return (size_t)(((b * v->H + h) * v->S + s) * v->Dh + d);
}

/* Everything one evaluation needs, resolved from inputs and attributes. */
typedef struct {
    int64_t B, Hq, Hkv, Sq, Skv, P, T, D, Dv, group;
    head_view q, k, v;
    const ocs_tensor *past_key, *past_value, *mask, *nonpad;
    double scale, softcap;
    int causal, mode;
    /* mask broadcast: element strides over [B, Hq, Sq] (0 where broadcast), last dim */
    int64_t mstride[3], mlast;
} attn;

/* Flat index of Kt[b, g, j, d] in past_key or K; *src receives which. */
static size_t kt_off(const attn *c, int64_t b, int64_t g, int64_t j, int64_t d,
                     const ocs_tensor **src)
{
    if (j < c->P) {
        *src = c->past_key;
        return (size_t)(((b * c->Hkv + g) * c->P + j) * c->D + d);
    }
    *src = c->k.t;
    return hv_off(&c->k, b, g, j - c->P, d);
}

static size_t vt_off(const attn *c, int64_t b, int64_t g, int64_t j, int64_t d,
                     const ocs_tensor **src)
{
    if (j < c->P) {
        *src = c->past_value;
        return (size_t)(((b * c->Hkv + g) * c->P + j) * c->Dv + d);
    }
    *src = c->v.t;
    return hv_off(&c->v, b, g, j - c->P, d);
}

/* bias[j] for (b, h, i): mask term + causal term + padding term. */
static double bias_at(const attn *c, int64_t b, int64_t h, int64_t i, int64_t j)
{
    double bias = 0.0;
    if (c->mask) {
        if (j >= c->mlast) {
            bias = -INFINITY;   /* columns past a short mask */
        } else {
            size_t off = (size_t)(b * c->mstride[0] + h * c->mstride[1] + i * c->mstride[2] + j);
            if (c->mask->dtype == OCS_BOOL)
                bias = ((const uint8_t *)c->mask->data)[off] ? 0.0 : -INFINITY;
            else
                bias = ocs_tensor_get_f64(c->mask, off);
        }
    }
    if (c->causal) {
        int64_t offset = c->P;
        if (c->nonpad)
            offset = ocs_tensor_get_i64(c->nonpad, (size_t)b) - c->Sq;
        if (j > i + offset)
            bias += -INFINITY;
    }
    if (c->nonpad && j >= ocs_tensor_get_i64(c->nonpad, (size_t)b))
        bias += -INFINITY;
    return bias;
}

/* Reads attributes and checks every shape and type; fills c. */
static ocs_status resolve(ocs_kernel_args *a, attn *c)
{
    const ocs_tensor *Q = a->inputs[0], *K = a->inputs[1], *V = a->inputs[2];
    ocs_status st;
    memset(c, 0, sizeof *c);
    c->mask = ocs_input(a, 3);
    c->past_key = ocs_input(a, 4);
    c->past_value = ocs_input(a, 5);
    c->nonpad = a->since_version >= 24 ? ocs_input(a, 6) : NULL;

    if ((st = ocs_linalg_check_type(a, Q, "input 0 (Q)", types_t, 4)) != OCS_OK ||
        (st = ocs_linalg_check_type(a, V, "input 2 (V)", types_t, 4)) != OCS_OK)
        return st;
    if (K->dtype != Q->dtype || (c->past_key && c->past_key->dtype != Q->dtype))
        return ocs_fail(a->err, OCS_ERR_INVALID,
                        "Attention: K and past_key must have Q's type %s (got %s%s%s)",
                        ocs_dtype_name(Q->dtype), ocs_dtype_name(K->dtype),
                        c->past_key ? " and " : "",
                        c->past_key ? ocs_dtype_name(c->past_key->dtype) : "");
    if (c->past_value && c->past_value->dtype != V->dtype)
        return ocs_fail(a->err, OCS_ERR_INVALID,
                        "Attention: past_value has type %s but V has %s",
                        ocs_dtype_name(c->past_value->dtype), ocs_dtype_name(V->dtype));
    if (c->mask &&
        (st = ocs_linalg_check_type(a, c->mask, "input 3 (attn_mask)", types_mask,
                                    sizeof types_mask / sizeof types_mask[0])) != OCS_OK)
        return st;

    int64_t is_causal, mode, qh_attr, kvh_attr, prec;
    float softcap_f, scale_f;
    const ocs_node *n = a->node;
    if ((st = ocs_node_attr_int(n, "is_causal", 0, &is_causal, a->err)) != OCS_OK ||
        (st = ocs_node_attr_int(n, "qk_matmul_output_mode", 0, &mode, a->err)) != OCS_OK ||
        (st = ocs_node_attr_int(n, "q_num_heads", 0, &qh_attr, a->err)) != OCS_OK ||
        (st = ocs_node_attr_int(n, "kv_num_heads", 0, &kvh_attr, a->err)) != OCS_OK ||
        (st = ocs_node_attr_int(n, "softmax_precision", OCS_FLOAT, &prec, a->err)) != OCS_OK ||
        (st = ocs_node_attr_float(n, "softcap", 0.0f, &softcap_f, a->err)) != OCS_OK ||
        (st = ocs_node_attr_float(n, "scale", 0.0f, &scale_f, a->err)) != OCS_OK)
        return st;
    if (is_causal != 0 && is_causal != 1)
        return ocs_fail(a->err, OCS_ERR_INVALID, "Attention: is_causal must be 0 or 1, got %lld",
                        (long long)is_causal);
    if (mode < 0 || mode > 3)
        return ocs_fail(a->err, OCS_ERR_INVALID,
                        "Attention: qk_matmul_output_mode must be 0, 1, 2 or 3, got %lld",
                        (long long)mode);
    if (prec != OCS_FLOAT && prec != OCS_FLOAT16 && prec != OCS_DOUBLE && prec != OCS_BFLOAT16)
        return ocs_fail(a->err, OCS_ERR_INVALID,
                        "Attention: softmax_precision %lld is not a floating-point type",
                        (long long)prec);
    c->causal = (int)is_causal;
    c->mode = (int)mode;
    c->softcap = softcap_f;

    /* Heads and head sizes. */
    char s1[128], s2[128], s3[128];
    if (Q->rank != K->rank || Q->rank != V->rank || (Q->rank != 3 && Q->rank != 4))
        return ocs_fail(a->err, OCS_ERR_INVALID,
                        "Attention: Q %s, K %s and V %s must all be 3-D or all 4-D",
                        ocs_shape_str(Q->rank, Q->dims, s1, sizeof s1),
                        ocs_shape_str(K->rank, K->dims, s2, sizeof s2),
                        ocs_shape_str(V->rank, V->dims, s3, sizeof s3));
    c->B = Q->dims[0];
    if (Q->rank == 3) {
        if (qh_attr <= 0 || kvh_attr <= 0)
            return ocs_fail(a->err, OCS_ERR_INVALID,
                            "Attention: 3-D inputs need q_num_heads > 0 and kv_num_heads > 0 (got %lld, %lld)",
                            (long long)qh_attr, (long long)kvh_attr);
        c->Hq = qh_attr;
        c->Hkv = kvh_attr;
        c->Sq = Q->dims[1];
        c->Skv = K->dims[1];
        if (Q->dims[2] % c->Hq != 0 || K->dims[2] % c->Hkv != 0 || V->dims[2] % c->Hkv != 0)
            return ocs_fail(a->err, OCS_ERR_INVALID,
                            "Attention: hidden sizes Q %lld, K %lld, V %lld are not multiples of "
                            "q_num_heads %lld / kv_num_heads %lld",
                            (long long)Q->dims[2], (long long)K->dims[2], (long long)V->dims[2],
                            (long long)c->Hq, (long long)c->Hkv);
        c->D = Q->dims[2] / c->Hq;
        if (K->dims[2] / c->Hkv != c->D)
            return ocs_fail(a->err, OCS_ERR_INVALID,
                            "Attention: K head size %lld differs from Q head size %lld",
                            (long long)(K->dims[2] / c->Hkv), (long long)c->D);
        c->Dv = V->dims[2] / c->Hkv;
        if (V->dims[1] != c->Skv || K->dims[0] != c->B || V->dims[0] != c->B)
            return ocs_fail(a->err, OCS_ERR_INVALID,
                            "Attention: Q %s, K %s, V %s disagree in batch or K/V sequence length",
                            ocs_shape_str(Q->rank, Q->dims, s1, sizeof s1),
                            ocs_shape_str(K->rank, K->dims, s2, sizeof s2),
                            ocs_shape_str(V->rank, V->dims, s3, sizeof s3));
    } else {
        c->Hq = Q->dims[1];
        c->Hkv = K->dims[1];
        c->Sq = Q->dims[2];
        c->Skv = K->dims[2];
        c->D = Q->dims[3];
        c->Dv = V->dims[3];
        if (K->dims[0] != c->B || V->dims[0] != c->B || V->dims[1] != c->Hkv ||
            V->dims[2] != c->Skv || K->dims[3] != c->D)
            return ocs_fail(a->err, OCS_ERR_INVALID,
                            "Attention: Q %s, K %s, V %s are inconsistent",
                            ocs_shape_str(Q->rank, Q->dims, s1, sizeof s1),
                            ocs_shape_str(K->rank, K->dims, s2, sizeof s2),
                            ocs_shape_str(V->rank, V->dims, s3, sizeof s3));
        if ((qh_attr && qh_attr != c->Hq) || (kvh_attr && kvh_attr != c->Hkv))
            return ocs_fail(a->err, OCS_ERR_INVALID,
                            "Attention: q_num_heads %lld / kv_num_heads %lld contradict 4-D Q %s and K %s",
                            (long long)qh_attr, (long long)kvh_attr,
                            ocs_shape_str(Q->rank, Q->dims, s1, sizeof s1),
                            ocs_shape_str(K->rank, K->dims, s2, sizeof s2));
    }
    if (c->Hkv == 0 ? c->Hq != 0 : c->Hq % c->Hkv != 0)
        return ocs_fail(a->err, OCS_ERR_INVALID,
                        "Attention: q heads %lld are not a multiple of kv heads %lld",
                        (long long)c->Hq, (long long)c->Hkv);
    c->group = c->Hkv ? c->Hq / c->Hkv : 1;
    int packed = Q->rank == 3;
    c->q = (head_view){Q, c->Hq, c->Sq, c->D, packed};
    c->k = (head_view){K, c->Hkv, c->Skv, c->D, packed};
    c->v = (head_view){V, c->Hkv, c->Skv, c->Dv, packed};

    /* Past cache. */
    if (!c->past_key != !c->past_value)
        return ocs_fail(a->err, OCS_ERR_INVALID,
                        "Attention: past_key and past_value must be given together");
    if (c->past_key) {
        const ocs_tensor *pk = c->past_key, *pv = c->past_value;
        if (pk->rank != 4 || pv->rank != 4 || pk->dims[0] != c->B || pk->dims[1] != c->Hkv ||
            pk->dims[3] != c->D || pv->dims[0] != c->B || pv->dims[1] != c->Hkv ||
            pv->dims[2] != pk->dims[2] || pv->dims[3] != c->Dv)
            return ocs_fail(a->err, OCS_ERR_INVALID,
                            "Attention: past_key %s must be [%lld, %lld, P, %lld] and past_value %s "
                            "[%lld, %lld, P, %lld]",
                            ocs_shape_str(pk->rank, pk->dims, s1, sizeof s1), (long long)c->B,
                            (long long)c->Hkv, (long long)c->D,
                            ocs_shape_str(pv->rank, pv->dims, s2, sizeof s2), (long long)c->B,
                            (long long)c->Hkv, (long long)c->Dv);
        c->P = pk->dims[2];
    }
    c->T = c->P + c->Skv;

    /* scale: the attribute, or 1 / sqrt(D). */
    c->scale = ocs_node_attr(n, "scale") ? (double)scale_f : 1.0 / sqrt((double)c->D);

    /* nonpad_kv_seqlen (Attention-24). */
    int64_t max_nonpad = 0;
    if (c->nonpad) {
        if (c->past_key)
            return ocs_fail(a->err, OCS_ERR_INVALID,
                            "Attention: nonpad_kv_seqlen cannot be combined with past_key/past_value");
        if (c->nonpad->dtype != OCS_INT64 || c->nonpad->rank != 1 || c->nonpad->dims[0] != c->B)
            return ocs_fail(a->err, OCS_ERR_INVALID,
                            "Attention: nonpad_kv_seqlen must be int64 [%lld], got %s%s",
                            (long long)c->B, ocs_dtype_name(c->nonpad->dtype),
                            ocs_shape_str(c->nonpad->rank, c->nonpad->dims, s1, sizeof s1));
        for (int64_t b = 0; b < c->B; b++) {
            int64_t v = ocs_tensor_get_i64(c->nonpad, (size_t)b);
            if (v < 0 || v > c->T)
                return ocs_fail(a->err, OCS_ERR_INVALID,
                                "Attention: nonpad_kv_seqlen[%lld] = %lld is outside [0, %lld]",
                                (long long)b, (long long)v, (long long)c->T);
            if (v > max_nonpad)
                max_nonpad = v;
        }
    }

    /* attn_mask: broadcastable to [B, Hq, Sq, L] with L <= T. */
    if (c->mask) {
        const ocs_tensor *m = c->mask;
        const int64_t target[3] = {c->B, c->Hq, c->Sq};
        int ok = m->rank >= 1 && m->rank <= 4;
        int64_t stride = ok ? m->dims[m->rank - 1] : 0;
        c->mlast = stride;
        for (int k = 2; ok && k >= 0; k--) {
            int mi = m->rank - 4 + k;   /* mask axis aligned with target axis k */
            int64_t d = mi >= 0 ? m->dims[mi] : 1;
            ok = d == target[k] || d == 1;
            c->mstride[k] = d == 1 ? 0 : stride;
            stride *= d;
        }
        if (!ok || c->mlast > c->T)
            return ocs_fail(a->err, OCS_ERR_INVALID,
                            "Attention: attn_mask %s is not broadcastable to [%lld, %lld, %lld, %lld]",
                            ocs_shape_str(m->rank, m->dims, s1, sizeof s1), (long long)c->B,
                            (long long)c->Hq, (long long)c->Sq, (long long)c->T);
        if (c->nonpad && c->mlast < max_nonpad)
            return ocs_fail(a->err, OCS_ERR_INVALID,
                            "Attention: attn_mask's last dimension %lld is shorter than "
                            "max(nonpad_kv_seqlen) = %lld",
                            (long long)c->mlast, (long long)max_nonpad);
    }
    return OCS_OK;
}

/* Copies Kt (which = 0) or Vt (which = 1) into a present_* output, bit for bit. */
static void copy_present(const attn *c, ocs_tensor *out, int which)
{
    const int64_t Dh = which ? c->Dv : c->D;
    const size_t es = ocs_dtype_size(out->dtype);
    size_t o = 0;
    for (int64_t b = 0; b < c->B; b++)
        for (int64_t g = 0; g < c->Hkv; g++)
            for (int64_t j = 0; j < c->T; j++)
                for (int64_t d = 0; d < Dh; d++, o++) {
                    const ocs_tensor *src;
                    size_t off = which ? vt_off(c, b, g, j, d, &src) : kt_off(c, b, g, j, d, &src);
                    memcpy((char *)out->data + o * es, (const char *)src->data + off * es, es);
                }
}

ocs_status ocs_ref_Attention(ocs_kernel_args *a)
{
    ocs_status st = ocs_need_inputs(a, 3, a->since_version >= 24 ? 7 : 6);
    if (st != OCS_OK)
        return st;
    attn c;
    if ((st = resolve(a, &c)) != OCS_OK)
        return st;
    const ocs_tensor *Q = a->inputs[0], *V = a->inputs[2];

    /* Outputs. */
    ocs_tensor *Y, *pk = NULL, *pv = NULL, *qk = NULL;
    int64_t ydims[4];
    int yrank = Q->rank;
    if (yrank == 4) {
        ydims[0] = c.B, ydims[1] = c.Hq, ydims[2] = c.Sq, ydims[3] = c.Dv;
    } else {
        size_t hidden;
        if ((st = ocs_linalg_mul_size(a, (size_t)c.Hq, (size_t)c.Dv, "Y's hidden size", &hidden)) != OCS_OK)
            return st;
        ydims[0] = c.B, ydims[1] = c.Sq, ydims[2] = (int64_t)hidden;
    }
    if ((st = ocs_output(a, 0, Q->dtype, yrank, ydims, &Y)) != OCS_OK)
        return st;
    if (ocs_kernel_output_wanted(a, 1)) {
        const int64_t d[4] = {c.B, c.Hkv, c.T, c.D};
        if ((st = ocs_output(a, 1, Q->dtype, 4, d, &pk)) != OCS_OK)
            return st;
        copy_present(&c, pk, 0);
    }
    if (ocs_kernel_output_wanted(a, 2)) {
        const int64_t d[4] = {c.B, c.Hkv, c.T, c.Dv};
        if ((st = ocs_output(a, 2, V->dtype, 4, d, &pv)) != OCS_OK)
            return st;
        copy_present(&c, pv, 1);
    }
    if (ocs_kernel_output_wanted(a, 3)) {
        const int64_t d[4] = {c.B, c.Hq, c.Sq, c.T};
        if ((st = ocs_output(a, 3, Q->dtype, 4, d, &qk)) != OCS_OK)
            return st;
    }

    /* One row of scores at a time: raw, capped, w and p, T doubles each. */
    size_t row_bytes;
    if ((st = ocs_linalg_mul_size(a, (size_t)(c.T ? c.T : 1), 4 * sizeof(double), "a score row",
                                  &row_bytes)) != OCS_OK)
        return st;
    double *raw = malloc(row_bytes);
    if (!raw)
        return ocs_fail(a->err, OCS_ERR_NOMEM, "Attention: out of memory for %lld scores",
                        (long long)c.T);
    double *capped = raw + c.T, *w = capped + c.T, *p = w + c.T;

    for (int64_t b = 0; b < c.B; b++) {
        for (int64_t h = 0; h < c.Hq; h++) {
            const int64_t g = h / c.group;   /* K/V head serving query head h */
            for (int64_t i = 0; i < c.Sq; i++) {
                double wmax = -INFINITY;
                for (int64_t j = 0; j < c.T; j++) {
                    double dot = 0.0;   /* Q[b,h,i,:] . Kt[b,g,j,:] */
                    for (int64_t d = 0; d < c.D; d++) {
                        const ocs_tensor *src;
                        size_t ko = kt_off(&c, b, g, j, d, &src);
                        dot += ocs_tensor_get_f64(Q, hv_off(&c.q, b, h, i, d)) *
                               ocs_tensor_get_f64(src, ko);
                    }
                    raw[j] = c.scale * dot;
                    capped[j] = c.softcap > 0 ? c.softcap * tanh(raw[j] / c.softcap) : raw[j];
                    w[j] = capped[j] + bias_at(&c, b, h, i, j);
                    if (w[j] > wmax)
                        wmax = w[j];
                }
                /* softmax over j; a fully masked row (all -inf) has none */
                const int masked_row = wmax == -INFINITY;
                double sum = 0.0;
                for (int64_t j = 0; j < c.T; j++) {
                    p[j] = masked_row ? NAN : exp(w[j] - wmax);
                    sum += p[j];
                }
                for (int64_t j = 0; j < c.T && !masked_row; j++)
                    p[j] /= sum;

                if (qk) {
                    const double *src = c.mode == 0 ? raw : c.mode == 1 ? capped : c.mode == 2 ? w : p;
                    size_t base = (size_t)(((b * c.Hq + h) * c.Sq + i) * c.T);
                    for (int64_t j = 0; j < c.T; j++)
                        ocs_tensor_set_f64(qk, base + (size_t)j, src[j]);
                }
                for (int64_t dv = 0; dv < c.Dv; dv++) {
                    double y = 0.0;   /* Y[b,h,i,dv] = sum_j p[j] * Vt[b,g,j,dv] */
                    for (int64_t j = 0; j < c.T && !masked_row; j++) {
                        const ocs_tensor *src;
                        size_t vo = vt_off(&c, b, g, j, dv, &src);
                        y += p[j] * ocs_tensor_get_f64(src, vo);
                    }
                    size_t yo = yrank == 4 ? (size_t)(((b * c.Hq + h) * c.Sq + i) * c.Dv + dv)
                                           : (size_t)(((b * c.Sq + i) * c.Hq + h) * c.Dv + dv);
                    ocs_tensor_set_f64(Y, yo, y);
                }
            }
        }
    }
    free(raw);
    return OCS_OK;
}
