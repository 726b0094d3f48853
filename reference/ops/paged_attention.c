/*
 * reference/ops/paged_attention.c - PagedAttention (ai.onnx.preview,
 * version 1): causal attention for packed variable-length sequences over a
 * block-organised ("paged") key/value cache.  The normative text is the
 * schema's summary in spec/ops/paged_attention.c; this file is its
 * plainest executable form.
 *
 * Notation: H = num_heads, Hkv = kv_num_heads, G = H / Hkv, D = head_size,
 * caches [NB, BS, Hkv, D], B sequences, T packed tokens, MB = max_blocks.
 * Sequence b owns packed rows cu[b] .. cu[b+1]-1 (n[b] new tokens); its
 * token i sits at position p = past[b] + i, stored in slot
 * (block_table[b][p / BS], p % BS).  Steps, in this order:
 *   1. the cache outputs start as copies of the cache inputs;
 *   2. do_rotary: RoPE (RotaryEmbedding-23 at position p) on the new
 *      queries and keys, computed in double and rounded once to T;
 *   3. every new key (rotated) and value of every sequence is written to
 *      its slot;
 *   4. for token t (sequence b, position p) and query head h, with
 *      g = h / G and the visible keys lo <= j <= p (lo = 0, or
 *      max(0, p - W + 1) with local_window_size = W):
 *        s_j = scale * Q'[t,h,:] . Kc[slot(b,j), g, :]   (scale 0: 1/sqrt(D))
 *        s_j = c * tanh(s_j / c)                          (softcap c > 0)
 *        out[t, h*D + d] = sum_j softmax(s)_j * Vc[slot(b,j), g, d]
 *      in double, rounded once to T.
 * Every input is validated before anything is read through an index
 * (see the schema's error list); a sequence with no new tokens reads and
 * writes nothing and its block-table row is not examined.
 */
#include "common.h"

#include "ocs/paged_attention.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Everything one evaluation needs, resolved from the inputs and attributes by the
 * shared validation (include/ocs/paged_attention.h). */
typedef ocs_pa_dims pa;

/* Flat index of element (slot, g, d) of a cache. */
static size_t cache_at(const pa *c, int64_t block, int64_t offset, int64_t g, int64_t d)
{
    return (size_t)(((block * c->BS + offset) * c->Hkv + g) * c->D + d);
}

/* Flat index of head hd (of heads) component d of token t in a [T, width] input; col0 is the
 * first column of the Q, K or V part. */
static size_t token_at(int64_t width, int64_t col0, int64_t t, int64_t hd, int64_t D, int64_t d)
{
    return (size_t)(t * width + col0 + hd * D + d);
}

/* Rotates the head vectors of x [T, heads*D] in place (x holds T values), RotaryEmbedding-23. */
static void rope(const pa *c, ocs_tensor *x, int64_t heads)
{
    const int64_t half = c->half;
    for (int64_t b = 0; b < c->B; b++)
        for (int64_t t = c->cu[b]; t < c->cu[b + 1]; t++) {
            const int64_t p = c->past[b] + (t - c->cu[b]);
            for (int64_t h = 0; h < heads; h++) {
                const size_t base = (size_t)((t * heads + h) * c->D);
                for (int64_t k = 0; k < half; k++) {
                    const double cs = ocs_tensor_get_f64(c->cos, (size_t)(p * half + k));
                    const double sn = ocs_tensor_get_f64(c->sin, (size_t)(p * half + k));
                    const size_t i1 = base + (size_t)(c->interleaved ? 2 * k : k);
                    const size_t i2 = base + (size_t)(c->interleaved ? 2 * k + 1 : k + half);
                    const double x1 = ocs_tensor_get_f64(x, i1), x2 = ocs_tensor_get_f64(x, i2);
                    ocs_tensor_set_f64(x, i1, cs * x1 - sn * x2);
                    ocs_tensor_set_f64(x, i2, sn * x1 + cs * x2);
                }
            }
        }
}

/* Copies the Q (part 0), K (1) or V (2) columns of the inputs into dst [T, heads*D], bit for bit. */
static void extract(const pa *c, int part, ocs_tensor *dst)
{
    const int64_t heads = part == 0 ? c->H : c->Hkv;
    const ocs_tensor *src = c->packed ? c->query : part == 0 ? c->query : part == 1 ? c->key : c->value;
    const int64_t width = src->dims[1];
    const int64_t col0 = !c->packed || part == 0 ? 0 : part == 1 ? c->H * c->D : (c->H + c->Hkv) * c->D;
    const size_t es = ocs_dtype_size(dst->dtype);
    for (int64_t t = 0; t < c->T; t++)
        for (int64_t h = 0; h < heads; h++)
            for (int64_t d = 0; d < c->D; d++)
                memcpy((char *)dst->data + token_at(heads * c->D, 0, t, h, c->D, d) * es,
                       (const char *)src->data + token_at(width, col0, t, h, c->D, d) * es, es);
}

/* Output i (if wanted) or a private tensor, initialised as a copy of src. */
static ocs_status cache_copy(ocs_kernel_args *a, size_t i, const ocs_tensor *src, ocs_tensor **out, int *owned)
{
    ocs_status st;
    *owned = !ocs_kernel_output_wanted(a, i);
    if (*owned)
        st = ocs_tensor_clone(src, out, a->err);
    else if ((st = ocs_output(a, i, src->dtype, src->rank, src->dims, out)) == OCS_OK)
        memcpy((*out)->data, src->data, src->nbytes);
    return st;
}

/* Step 4 for one token and head: writes out[t, h*D .. h*D + D-1]. */
static void attend(const pa *c, const ocs_tensor *q, const ocs_tensor *kc, const ocs_tensor *vc, int64_t b,
                   int64_t t, int64_t h, double *score, ocs_tensor *out)
{
    const int64_t p = c->past[b] + (t - c->cu[b]);
    const int64_t g = h / c->G;
    const int64_t lo = c->W >= 1 && p - c->W + 1 > 0 ? p - c->W + 1 : 0;
    const double scale = c->scale != 0.0 ? c->scale : 1.0 / sqrt((double)c->D);
    double m = -INFINITY;
    for (int64_t j = lo; j <= p; j++) {
        const int64_t block = c->table[b * c->MB + j / c->BS], offset = j % c->BS;
        double dot = 0.0;
        for (int64_t d = 0; d < c->D; d++)
            dot += ocs_tensor_get_f64(q, token_at(c->H * c->D, 0, t, h, c->D, d)) *
                   ocs_tensor_get_f64(kc, cache_at(c, block, offset, g, d));
        double s = scale * dot;
        if (c->softcap > 0.0)
            s = c->softcap * tanh(s / c->softcap);
        score[j - lo] = s;
        if (s > m)
            m = s;
    }
    double sum = 0.0;
    for (int64_t j = lo; j <= p; j++) {
        score[j - lo] = exp(score[j - lo] - m);
        sum += score[j - lo];
    }
    for (int64_t d = 0; d < c->D; d++) {
        double y = 0.0;
        for (int64_t j = lo; j <= p; j++) {
            const int64_t block = c->table[b * c->MB + j / c->BS], offset = j % c->BS;
            y += score[j - lo] / sum * ocs_tensor_get_f64(vc, cache_at(c, block, offset, g, d));
        }
        ocs_tensor_set_f64(out, token_at(c->H * c->D, 0, t, h, c->D, d), y);
    }
}

ocs_status ocs_ref_PagedAttention(ocs_kernel_args *a)
{
    ocs_status st = ocs_need_inputs(a, 1, 10);
    if (st != OCS_OK)
        return st;
    pa c;
    if ((st = ocs_paged_attention_check(a->node, a->n_inputs, a->inputs, &c, NULL, a->err)) != OCS_OK)
        return st;

    /* Sizes: H*D and Hkv*D are at most query's width (checked), so nothing below overflows. */
    const ocs_dtype T = c.query->dtype;
    const int64_t qdims[2] = {c.T, c.H * c.D}, kvdims[2] = {c.T, c.Hkv * c.D};
    ocs_tensor *out = NULL, *q = NULL, *k = NULL, *v = NULL, *kc = NULL, *vc = NULL;
    int kc_owned = 0, vc_owned = 0;
    double *score = NULL;
    if ((st = ocs_output(a, 0, T, 2, qdims, &out)) != OCS_OK || (st = ocs_tensor_new(T, 2, qdims, &q, a->err)) != OCS_OK ||
        (st = ocs_tensor_new(T, 2, kvdims, &k, a->err)) != OCS_OK ||
        (st = ocs_tensor_new(T, 2, kvdims, &v, a->err)) != OCS_OK ||
        (st = cache_copy(a, 1, c.kc, &kc, &kc_owned)) != OCS_OK ||
        (st = cache_copy(a, 2, c.vc, &vc, &vc_owned)) != OCS_OK)
        goto done;
    /* One score per visible key: at most the longest sequence (or the window). */
    int64_t longest = 1;
    for (int64_t b = 0; b < c.B; b++)
        if ((int64_t)c.past[b] + c.cu[b + 1] - c.cu[b] > longest)
            longest = (int64_t)c.past[b] + c.cu[b + 1] - c.cu[b];
    if (c.W >= 1 && c.W < longest)
        longest = c.W;
    if ((uint64_t)longest > SIZE_MAX / sizeof *score || !(score = malloc((size_t)longest * sizeof *score))) {
        st = ocs_fail(a->err, OCS_ERR_NOMEM, "PagedAttention: out of memory for %lld scores", (long long)longest);
        goto done;
    }

    /* Steps 1-2: Q and K (rotated), V, each [T, heads*D] in T. */
    extract(&c, 0, q);
    extract(&c, 1, k);
    extract(&c, 2, v);
    if (c.rotary) {
        rope(&c, q, c.H);
        rope(&c, k, c.Hkv);
    }

    /* Step 3: write every new key and value. */
    const size_t es = ocs_dtype_size(T);
    for (int64_t b = 0; b < c.B; b++)
        for (int64_t t = c.cu[b]; t < c.cu[b + 1]; t++) {
            const int64_t p = c.past[b] + (t - c.cu[b]);
            const int64_t block = c.table[b * c.MB + p / c.BS], offset = p % c.BS;
            for (int64_t g = 0; g < c.Hkv; g++)
                for (int64_t d = 0; d < c.D; d++) {
                    const size_t dst = cache_at(&c, block, offset, g, d) * es;
                    const size_t src = token_at(c.Hkv * c.D, 0, t, g, c.D, d) * es;
                    memcpy((char *)kc->data + dst, (const char *)k->data + src, es);
                    memcpy((char *)vc->data + dst, (const char *)v->data + src, es);
                }
        }

    /* Step 4: attend, reading the written caches through the block table. */
    for (int64_t b = 0; b < c.B; b++)
        for (int64_t t = c.cu[b]; t < c.cu[b + 1]; t++)
            for (int64_t h = 0; h < c.H; h++)
                attend(&c, q, kc, vc, b, t, h, score, out);

done:
    free(score);
    ocs_tensor_free(q);
    ocs_tensor_free(k);
    ocs_tensor_free(v);
    if (kc_owned)
        ocs_tensor_free(kc);
    if (vc_owned)
        ocs_tensor_free(vc);
    return st;
}
