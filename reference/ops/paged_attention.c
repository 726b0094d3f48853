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

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Everything one evaluation needs, resolved from the inputs and attributes. */
typedef struct {
    int64_t H, Hkv, G, D, W, rotary, interleaved;
    double scale, softcap;
    int64_t T, B, NB, BS, MB, half, max_pos;
    int packed;
    const ocs_tensor *query, *key, *value, *kc, *vc, *cos, *sin;
    const int32_t *cu, *past, *table;
} pa;

static const char *const names[10] = {"query", "key", "value", "key_cache", "value_cache",
                                      "cumulative_sequence_length", "past_seqlens", "block_table",
                                      "cos_cache", "sin_cache"};

static ocs_status need_rank(ocs_kernel_args *a, size_t i, int rank)
{
    const ocs_tensor *t = ocs_input(a, i);
    if (t && t->rank != rank)
        return ocs_fail(a->err, OCS_ERR_INVALID, "PagedAttention: input %zu (%s) must be %d-D, got rank %d", i,
                        names[i], rank, t->rank);
    return OCS_OK;
}

/* Attributes: head counts, window, rotary switches, scale and softcap. */
static ocs_status read_attrs(ocs_kernel_args *a, pa *c)
{
    const ocs_node *n = a->node;
    float scale, softcap;
    ocs_status st;
    if ((st = ocs_node_attr_int(n, "num_heads", 0, &c->H, a->err)) != OCS_OK ||
        (st = ocs_node_attr_int(n, "kv_num_heads", 0, &c->Hkv, a->err)) != OCS_OK ||
        (st = ocs_node_attr_int(n, "local_window_size", -1, &c->W, a->err)) != OCS_OK ||
        (st = ocs_node_attr_int(n, "do_rotary", 0, &c->rotary, a->err)) != OCS_OK ||
        (st = ocs_node_attr_int(n, "rotary_interleaved", 0, &c->interleaved, a->err)) != OCS_OK ||
        (st = ocs_node_attr_float(n, "scale", 0.0f, &scale, a->err)) != OCS_OK ||
        (st = ocs_node_attr_float(n, "softcap", 0.0f, &softcap, a->err)) != OCS_OK)
        return st;
    if (c->H <= 0 || c->Hkv <= 0)
        return ocs_fail(a->err, OCS_ERR_INVALID, "PagedAttention: num_heads %lld and kv_num_heads %lld must be positive",
                        (long long)c->H, (long long)c->Hkv);
    if (c->H % c->Hkv != 0)
        return ocs_fail(a->err, OCS_ERR_INVALID, "PagedAttention: num_heads %lld is not a multiple of kv_num_heads %lld",
                        (long long)c->H, (long long)c->Hkv);
    if (c->W != -1 && c->W < 1)
        return ocs_fail(a->err, OCS_ERR_INVALID,
                        "PagedAttention: local_window_size must be -1 (no window) or >= 1, got %lld", (long long)c->W);
    if (c->rotary != 0 && c->rotary != 1)
        return ocs_fail(a->err, OCS_ERR_INVALID, "PagedAttention: do_rotary must be 0 or 1, got %lld",
                        (long long)c->rotary);
    if (c->interleaved != 0 && c->interleaved != 1)
        return ocs_fail(a->err, OCS_ERR_INVALID, "PagedAttention: rotary_interleaved must be 0 or 1, got %lld",
                        (long long)c->interleaved);
    c->G = c->H / c->Hkv;
    c->softcap = softcap;
    c->scale = scale;
    return OCS_OK;
}

/* heads * D, or -1 when the product overflows (heads >= 0, D >= 1). */
static int64_t width_of(int64_t heads, int64_t D)
{
    return heads < 0 || heads > INT64_MAX / D ? -1 : heads * D;
}

/* Presence, types and shapes of every input. */
static ocs_status check_shapes(ocs_kernel_args *a, pa *c)
{
    ocs_status st;
    for (size_t i = 0; i < 8; i++)
        if (i != 1 && i != 2 && !ocs_input(a, i))
            return ocs_fail(a->err, OCS_ERR_INVALID, "PagedAttention: input %zu (%s) is required", i, names[i]);
    c->query = ocs_input(a, 0);
    c->key = ocs_input(a, 1);
    c->value = ocs_input(a, 2);
    c->kc = ocs_input(a, 3);
    c->vc = ocs_input(a, 4);
    c->cos = ocs_input(a, 8);
    c->sin = ocs_input(a, 9);
    if (!c->key != !c->value)
        return ocs_fail(a->err, OCS_ERR_INVALID,
                        "PagedAttention: key and value must be both present or both absent (packed QKV); only %s is given",
                        c->key ? "key" : "value");
    if (!c->cos != !c->sin)
        return ocs_fail(a->err, OCS_ERR_INVALID,
                        "PagedAttention: cos_cache and sin_cache must be both present or both absent; only %s is given",
                        c->cos ? "cos_cache" : "sin_cache");
    if (c->rotary && !c->cos)
        return ocs_fail(a->err, OCS_ERR_INVALID, "PagedAttention: do_rotary = 1 needs cos_cache and sin_cache");
    c->packed = !c->key;

    /* Types: one T for the float inputs, int32 for the index inputs. */
    const ocs_dtype T = c->query->dtype;
    if (T != OCS_FLOAT && T != OCS_FLOAT16 && T != OCS_BFLOAT16)
        return ocs_fail(a->err, OCS_ERR_INVALID,
                        "PagedAttention: input 0 (query) has type %s; T must be float, float16 or bfloat16",
                        ocs_dtype_name(T));
    for (size_t i = 1; i < 10; i++) {
        const ocs_tensor *t = ocs_input(a, i);
        if (!t)
            continue;
        if (i >= 5 && i <= 7 && t->dtype != OCS_INT32)
            return ocs_fail(a->err, OCS_ERR_INVALID, "PagedAttention: input %zu (%s) must be INT32, it is %s", i,
                            names[i], ocs_dtype_name(t->dtype));
        if ((i < 5 || i > 7) && t->dtype != T)
            return ocs_fail(a->err, OCS_ERR_INVALID,
                            "PagedAttention: input %zu (%s) has type %s but T is bound to %s (query's type)", i,
                            names[i], ocs_dtype_name(t->dtype), ocs_dtype_name(T));
    }

    /* Ranks. */
    static const int ranks[10] = {2, 2, 2, 4, 4, 1, 1, 2, 2, 2};
    for (size_t i = 0; i < 10; i++)
        if ((st = need_rank(a, i, ranks[i])) != OCS_OK)
            return st;

    /* Caches: same shape [NB, BS, Hkv, D], no zero dimension. */
    char s1[128], s2[128];
    for (int d = 0; d < 4; d++)
        if (c->kc->dims[d] != c->vc->dims[d])
            return ocs_fail(a->err, OCS_ERR_INVALID,
                            "PagedAttention: key_cache and value_cache differ in shape (%s vs %s)",
                            ocs_shape_str(4, c->kc->dims, s1, sizeof s1), ocs_shape_str(4, c->vc->dims, s2, sizeof s2));
    if (c->kc->dims[2] != c->Hkv)
        return ocs_fail(a->err, OCS_ERR_INVALID, "PagedAttention: dimension 2 of key_cache is %lld, not kv_num_heads %lld",
                        (long long)c->kc->dims[2], (long long)c->Hkv);
    for (int d = 0; d < 4; d++)
        if (c->kc->dims[d] == 0)
            return ocs_fail(a->err, OCS_ERR_INVALID,
                            "PagedAttention: key_cache %s has a zero dimension %d (num_blocks, block_size and "
                            "head_size must be >= 1)",
                            ocs_shape_str(4, c->kc->dims, s1, sizeof s1), d);
    c->NB = c->kc->dims[0];
    c->BS = c->kc->dims[1];
    c->D = c->kc->dims[3];

    /* Token layout: query [T, H*D] (packed [T, (H + 2*Hkv)*D]), key/value [T, Hkv*D]. */
    c->T = c->query->dims[0];
    const int64_t qheads = !c->packed ? c->H : c->Hkv > (INT64_MAX - c->H) / 2 ? -1 : c->H + 2 * c->Hkv;
    const int64_t qwidth = width_of(qheads, c->D), kvwidth = width_of(c->Hkv, c->D);
    if (qwidth < 0 || c->query->dims[1] != qwidth)
        return ocs_fail(a->err, OCS_ERR_INVALID,
                        "PagedAttention: query width %lld is not %s*head_size = %lld (head_size %lld from the caches)",
                        (long long)c->query->dims[1], c->packed ? "(num_heads + 2*kv_num_heads)" : "num_heads",
                        (long long)qwidth, (long long)c->D);
    for (size_t i = 1; i <= 2 && !c->packed; i++) {
        const ocs_tensor *t = a->inputs[i];
        if (kvwidth < 0 || t->dims[1] != kvwidth)
            return ocs_fail(a->err, OCS_ERR_INVALID,
                            "PagedAttention: %s width %lld is not kv_num_heads*head_size = %lld (head_size %lld)",
                            names[i], (long long)t->dims[1], (long long)kvwidth, (long long)c->D);
        if (t->dims[0] != c->T)
            return ocs_fail(a->err, OCS_ERR_INVALID, "PagedAttention: %s has %lld tokens but query has %lld",
                            names[i], (long long)t->dims[0], (long long)c->T);
    }

    /* Metadata shapes: cu [B+1], past [B], block_table [B, MB]. */
    const ocs_tensor *cu = a->inputs[5], *past = a->inputs[6], *table = a->inputs[7];
    c->B = past->dims[0];
    if (cu->dims[0] != c->B + 1)
        return ocs_fail(a->err, OCS_ERR_INVALID,
                        "PagedAttention: cumulative_sequence_length has %lld entries; expected batch_size + 1 = %lld",
                        (long long)cu->dims[0], (long long)(c->B + 1));
    if (table->dims[0] != c->B)
        return ocs_fail(a->err, OCS_ERR_INVALID, "PagedAttention: block_table has %lld rows; expected batch_size %lld",
                        (long long)table->dims[0], (long long)c->B);
    c->MB = table->dims[1];
    c->cu = cu->data;
    c->past = past->data;
    c->table = table->data;

    /* Rotary tables [max_position, R/2], 2 <= R <= D. */
    if (c->rotary) {
        if (c->cos->dims[0] != c->sin->dims[0] || c->cos->dims[1] != c->sin->dims[1])
            return ocs_fail(a->err, OCS_ERR_INVALID, "PagedAttention: cos_cache %s and sin_cache %s differ in shape",
                            ocs_shape_str(2, c->cos->dims, s1, sizeof s1), ocs_shape_str(2, c->sin->dims, s2, sizeof s2));
        c->half = c->cos->dims[1];
        c->max_pos = c->cos->dims[0];
        if (c->half == 0 || 2 * c->half > c->D)
            return ocs_fail(a->err, OCS_ERR_INVALID,
                            "PagedAttention: rotary_dim 2*cos_cache.shape[1] = %lld must be in [2, head_size %lld]",
                            (long long)(2 * c->half), (long long)c->D);
    }
    return OCS_OK;
}

/* The values of the metadata: lengths, capacity, block ids, slots, rotary positions. */
static ocs_status check_metadata(ocs_kernel_args *a, const pa *c)
{
    if (c->cu[0] != 0)
        return ocs_fail(a->err, OCS_ERR_INVALID, "PagedAttention: cumulative_sequence_length[0] is %d; it must be 0",
                        (int)c->cu[0]);
    for (int64_t b = 0; b < c->B; b++)
        if (c->cu[b + 1] < c->cu[b])
            return ocs_fail(a->err, OCS_ERR_INVALID,
                            "PagedAttention: cumulative_sequence_length decreases at sequence %lld (%d then %d)",
                            (long long)b, (int)c->cu[b], (int)c->cu[b + 1]);
    if (c->cu[c->B] != c->T)
        return ocs_fail(a->err, OCS_ERR_INVALID,
                        "PagedAttention: cumulative_sequence_length ends at %d but query has %lld tokens",
                        (int)c->cu[c->B], (long long)c->T);
    /* positions a block-table row holds (saturated: MB is unbounded when B = 0) */
    const int64_t capacity = c->MB > INT64_MAX / c->BS ? INT64_MAX : c->MB * c->BS;
    for (int64_t b = 0; b < c->B; b++) {
        const int64_t past = c->past[b], n = (int64_t)c->cu[b + 1] - c->cu[b];
        if (past < 0)
            return ocs_fail(a->err, OCS_ERR_INVALID, "PagedAttention: past_seqlens[%lld] = %lld is negative",
                            (long long)b, (long long)past);
        if (past + n > capacity)
            return ocs_fail(a->err, OCS_ERR_INVALID,
                            "PagedAttention: sequence %lld needs %lld positions (past %lld + new %lld) but its "
                            "block_table row holds max_blocks %lld * block_size %lld = %lld",
                            (long long)b, (long long)(past + n), (long long)past, (long long)n, (long long)c->MB,
                            (long long)c->BS, (long long)capacity);
        if (n == 0)
            continue;   /* nothing read or written: the row is not examined */
        const int64_t live_blocks = (past + n + c->BS - 1) / c->BS;
        for (int64_t k = 0; k < live_blocks; k++) {
            const int64_t id = c->table[b * c->MB + k];
            if (id < 0 || id >= c->NB)
                return ocs_fail(a->err, OCS_ERR_INVALID,
                                "PagedAttention: block_table[%lld][%lld] = %lld (positions %lld..%lld of sequence "
                                "%lld) is outside [0, num_blocks %lld)",
                                (long long)b, (long long)k, (long long)id, (long long)(k * c->BS),
                                (long long)((k + 1) * c->BS - 1), (long long)b, (long long)c->NB);
        }
        if (c->rotary && past + n > c->max_pos)
            return ocs_fail(a->err, OCS_ERR_INVALID,
                            "PagedAttention: sequence %lld needs rotary position %lld but cos_cache/sin_cache have "
                            "%lld rows",
                            (long long)b, (long long)(past + n - 1), (long long)c->max_pos);
    }

    /* No two new tokens may write the same slot: owner[slot] = the token that writes it. */
    size_t n_slots = (size_t)c->NB * (size_t)c->BS;
    int64_t *owner = malloc(n_slots * sizeof *owner);
    if (!owner)
        return ocs_fail(a->err, OCS_ERR_NOMEM, "PagedAttention: out of memory for %zu slot owners", n_slots);
    for (size_t s = 0; s < n_slots; s++)
        owner[s] = -1;
    for (int64_t b = 0; b < c->B; b++) {
        for (int64_t t = c->cu[b]; t < c->cu[b + 1]; t++) {
            const int64_t p = c->past[b] + (t - c->cu[b]);
            const int64_t block = c->table[b * c->MB + p / c->BS];
            const size_t slot = (size_t)(block * c->BS + p % c->BS);
            if (owner[slot] >= 0) {
                int64_t t0 = owner[slot], b0 = 0;
                while (c->cu[b0 + 1] <= t0)
                    b0++;
                free(owner);
                return ocs_fail(a->err, OCS_ERR_INVALID,
                                "PagedAttention: tokens %lld (sequence %lld, position %lld) and %lld (sequence %lld, "
                                "position %lld) both write cache slot %zu (block %lld, offset %lld)",
                                (long long)t0, (long long)b0, (long long)(c->past[b0] + t0 - c->cu[b0]), (long long)t,
                                (long long)b, (long long)p, slot, (long long)block, (long long)(p % c->BS));
            }
            owner[slot] = t;
        }
    }
    free(owner);
    return OCS_OK;
}

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
    memset(&c, 0, sizeof c);
    if ((st = read_attrs(a, &c)) != OCS_OK || (st = check_shapes(a, &c)) != OCS_OK ||
        (st = check_metadata(a, &c)) != OCS_OK)
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
