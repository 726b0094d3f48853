/*
 * spec/ops/paged_attention.c - the PagedAttention schema (ai.onnx.preview,
 * version 1): documentation, attributes, inputs and outputs, the error
 * conditions, the comparison with existing implementations, the static
 * check, shape inference, the function body in standard ONNX ops and the
 * documentation's worked example.
 */
#include "ocs/schema.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ocs/build.h"
#include "ocs/paged_attention.h"

/* ---- documentation ------------------------------------------------------------ */

static const char summary[] =
    "Causal multi-head attention for a batch of variable-length sequences whose keys and values live in a "
    "*paged* cache: a pool of fixed-size blocks shared by all sequences, each sequence addressing its blocks "
    "through one row of a block table (the layout vLLM introduced for continuous batching). One call appends "
    "the new tokens' keys and values of every sequence to the cache and computes, for every new token, "
    "attention over its sequence's whole history.\n"
    "\n"
    "**Notation.** `H = num_heads`, `Hkv = kv_num_heads`, `G = H / Hkv` (query heads per key/value head). "
    "The caches are `[num_blocks, block_size, Hkv, head_size]`; `head_size` (`D`) and `block_size` (`BS`) "
    "come from `key_cache`, whose shape `value_cache` shares. `B = past_seqlens.shape[0]` sequences; "
    "`cu = cumulative_sequence_length` has `B + 1` entries and `block_table` is `[B, max_blocks]`. The new "
    "tokens are packed without padding: `T = query.shape[0]`, and sequence `b` owns tokens "
    "`cu[b] .. cu[b+1] - 1`, so it has `n[b] = cu[b+1] - cu[b]` new tokens (possibly 0) and, after the call, "
    "`L[b] = past_seqlens[b] + n[b]` cached positions.\n"
    "\n"
    "**Inputs in the token layout.** `query` is `[T, H*D]`, `key` and `value` are `[T, Hkv*D]`; element "
    "`(t, h*D + d)` is component `d` of head `h` (head-major). When `key` and `value` are both absent, "
    "`query` is packed `[T, (H + 2*Hkv)*D]` holding `[Q | K | V]` along the second axis: columns "
    "`0 .. H*D-1` are the queries, the next `Hkv*D` the keys, the last `Hkv*D` the values, each head-major.\n"
    "\n"
    "**Positions and slots.** Token `i` (`0 <= i < n[b]`) of sequence `b` is packed row `t = cu[b] + i` and "
    "sits at absolute position `p = past_seqlens[b] + i`. Position `j` of sequence `b` lives in cache slot "
    "(block `block_table[b, j / BS]`, offset `j % BS`), i.e. flat slot "
    "`block_table[b, j / BS] * BS + j % BS` of the `[num_blocks*BS, Hkv, D]` view of a cache.\n"
    "\n"
    "**Definition.** The outputs are computed as if by the following steps, in this order.\n"
    "\n"
    "1. *Functional cache outputs.* `key_cache_out = key_cache` and `value_cache_out = value_cache` "
    "(copies).\n"
    "2. *Rotary embedding* (`do_rotary = 1`), exactly as RotaryEmbedding-23 with `position_ids = p`: "
    "`cos_cache` and `sin_cache` are `[max_position, R/2]` with rotary dimension `R = 2*cos_cache.shape[1] "
    "<= D`. For every head vector `x` of the new queries and new keys (never the values) and every pair "
    "`k < R/2`, with `c = cos_cache[p, k]`, `s = sin_cache[p, k]` and the pair `(x1, x2) = (x[k], "
    "x[k + R/2])` (`rotary_interleaved = 0`) or `(x[2k], x[2k+1])` (`rotary_interleaved = 1`): "
    "`y1 = c*x1 - s*x2`, `y2 = s*x1 + c*x2`. Components `R .. D-1` pass through unchanged (partial "
    "rotation). The rotated values `Q'`, `K'` are values of type `T` (rounded once), as RotaryEmbedding's "
    "output is. Without `do_rotary`, `Q' = Q` and `K' = K`.\n"
    "3. *Write.* For every new token of every sequence, `key_cache_out[slot(b, p), g, :] = K'[t, g, :]` and "
    "`value_cache_out[slot(b, p), g, :] = V[t, g, :]` for each key/value head `g`. Every slot not written "
    "keeps its input value. All writes of the call happen before any read, so a token sees the keys of the "
    "tokens before it in the same call.\n"
    "4. *Attend.* For new token `t` (sequence `b`, position `p`) and query head `h`, the key/value head is "
    "`g = floor(h / G)` (GQA: consecutive query heads share a key/value head). The visible key positions are "
    "`lo(p) <= j <= p`: causal attention aligned bottom-right per sequence (the new tokens are the last "
    "`n[b]` of the sequence's `L[b]` positions), with `lo(p) = 0` when `local_window_size = -1` and "
    "`lo(p) = max(0, p - W + 1)` when `local_window_size = W >= 1`, a window of `W` keys **including the "
    "current one** (`W = 1` attends to the token itself only). Then, with `Kc`, `Vc` the cache outputs read "
    "in place through the block table:\n"
    "   - `s_j = scale * sum_d Q'[t, h, d] * Kc[slot(b, j), g, d]`, where `scale` is the attribute, or "
    "`1/sqrt(D)` when it is 0;\n"
    "   - softcap `c = softcap > 0`: `s_j = c * tanh(s_j / c)`, applied to the scaled scores **before** "
    "masking (restricting `j` to the visible range);\n"
    "   - `a_j = exp(s_j - m) / sum_k exp(s_k - m)` over the visible `j`, `m = max_k s_k`;\n"
    "   - `output[t, h*D + d] = sum_j a_j * Vc[slot(b, j), g, d]`.\n"
    "\n"
    "Every new token sees at least its own key, so no row is empty. A sequence with `n[b] = 0` reads and "
    "writes nothing: its block-table row is not examined. Block ids of positions `>= L[b]` are ignored (`-1` "
    "is the recommended filler); sequences may share blocks for reading (prefix sharing), but no two new "
    "tokens of one call may write the same slot. Scores, softmax and accumulation use at least float32 "
    "(the reference uses double) and each output element is rounded once to `T`; the cache outputs hold "
    "`K'` and `V` exactly.\n"
    "\n"
    "**In-place update.** The cache outputs are functional: they equal the inputs except at the written "
    "slots. A runtime may alias `key_cache_out` with `key_cache` (and `value_cache_out` with `value_cache`) "
    "and write only the new slots when the graph allows it (the input is not used elsewhere); that is an "
    "optimisation with identical results, not the semantics. Either cache output may be omitted.\n"
    "\n"
    "**Function body.** The operator is expressible in standard ONNX ops (opset 24): the token-to-sequence "
    "map and positions from `cumulative_sequence_length` (LessOrEqual, ReduceSum, Gather), RotaryEmbedding "
    "with `position_ids`, two ScatterND writes into the caches, a Gather of each sequence's pages with the "
    "block ids past its live positions replaced by 0 (Where), the queries left-padded into `[B, S, H*D]` "
    "(Gather), Attention-24 with `is_causal = 1`, `nonpad_kv_seqlen = L` and, for the window, a boolean "
    "`attn_mask`, and a GatherND back to the packed layout. The body depends on the static `head_size` "
    "(and the rotary dimension) and defines the semantics of valid inputs only; the error conditions below "
    "are the operator's.";

static const char conventions[] =
    "| | this proposal | ORT `com.microsoft` PagedAttention v1 / GQA | vLLM | FlashInfer | ONNX Attention-24 |\n"
    "|---|---|---|---|---|---|\n"
    "| length metadata | `cumulative_sequence_length[B+1]` (new tokens) + `past_seqlens[B]` (cached before the "
    "call, excluding the new tokens), int32 | same (PagedAttention); GQA: `seqlens_k = total - 1` + "
    "`total_sequence_length` | `seq_lens` **including** the new token, `slot_mapping[num_tokens]` | "
    "`qo_indptr`, `kv_indptr` (CSR page lists), `kv_last_page_len` | `past_key` length, or "
    "`nonpad_kv_seqlen` (int64) with an external cache |\n"
    "| causal alignment | bottom-right per sequence: token `i` at `past + i` | bottom-right (hard-coded) | "
    "single decode query (prefill: per-sequence triangle) | bottom-right | bottom-right (errata #8054/#8068; "
    "1.18/1.19 text said upper-left) |\n"
    "| window | `local_window_size = W` keys **including** the current one, `-1` off, other values an error | "
    "same since ORT PR #25927 (before: `W + 1` keys); `W = 0` unchecked (reaches FlashAttention as -1, "
    "unbounded) | none (original kernel) | "
    "`window_left` excludes the current key (`= W - 1`) | none (Attention-25: `left_window_size = W - 1`) |\n"
    "| cache layout | K and V `[num_blocks, block_size, Hkv, D]` | same; GQA: contiguous `[B, Hkv, L, D]` | "
    "original: K `[blocks, Hkv, D/x, block_size, x]`, V `[blocks, Hkv, D, block_size]`; NHD for the FA "
    "backend | NHD `[pages, page_size, H, D]` or HND | contiguous `[B, Hkv, L, D]` |\n"
    "| GQA mapping | `g = h / (H / Hkv)` | same | `repeat_interleave` (same) | same | `repeat` (same, since "
    "#7274; `tile` before) |\n"
    "| scale, softcap | 0 means `1/sqrt(D)`; `c*tanh(scale*qk/c)` before masking | same | given scale; no "
    "softcap in the original kernel | given; softcap before masking | `sqrt(scale)` on Q and K; softcap "
    "before the mask since #7867 |\n"
    "| cache write | derived slot `block_table[b][p/BS]*BS + p%BS`, inside the op, before reading | same "
    "(later versions: optional `slot_mapping`, -1 skips) | `reshape_and_cache` with `slot_mapping` "
    "(-1 skips), a separate step | `append_paged_kv_cache`, a separate step | outside the op "
    "(TensorScatter) |\n"
    "| cache outputs | functional copies; in-place is an optimisation | documented as the same tensor; "
    "the CUDA kernel requires aliasing | in place | in place | functional `present_*` |\n"
    "| types | float, float16, bfloat16; int32 indices | float16, bfloat16 (GQA also float) | fp16, bf16, "
    "fp32 (+fp8 caches) | fp16, bf16 (+fp8) | all float types |\n"
    "| bad metadata | every case listed under Errors is an error | mostly undefined behaviour (design doc section 5.4) | "
    "undefined | undefined | `nonpad_kv_seqlen` range checked |\n"
    "\n"
    "**Where this proposal departs, and why.**\n"
    "\n"
    "- *Functional cache outputs.* ORT's kernel fails unless `key_cache_out` aliases `key_cache`; ONNX "
    "graphs are functional (its own KV-cache note leaves aliasing to backends), so the standard defines the "
    "outputs as copies with the new slots written and names aliasing an optimisation.\n"
    "- *Window convention fixed and validated.* `W` counts the current key, as ORT after PR #25927 and "
    "Hugging Face's `sliding_window`; FlashAttention/FlashInfer `window_left` and Attention-25 "
    "`left_window_size` equal `W - 1`. `W = 0` and values below -1 are errors (OpenVINO also rejects 0), "
    "where ORT passed them on unchecked.\n"
    "- *No backend limits in the semantics.* ORT's `block_size` rules (multiple of 256, later a power of "
    "two >= 16), `head_size % 8`, `batch_size <= 256` and the FlashAttention requirement are eligibility "
    "rules of kernels, not of the operator; any `block_size >= 1` and `head_size >= 1` is valid, and float32 "
    "is allowed.\n"
    "- *Defined errors instead of undefined behaviour.* Out-of-range block ids, two writes to one slot, a "
    "sequence longer than its block-table row, a decreasing `cumulative_sequence_length` and rotary "
    "positions beyond the cos/sin cache are errors (ORT's design doc calls out-of-range ids undefined and "
    "its binary search could read past the batch).\n"
    "- *Precision.* RoPE is computed in at least float32 and rounded once to `T` (ORT computes it in "
    "`T`, about 1 ulp apart), scores and softmax in at least float32.\n"
    "- *Stable inputs only.* Inputs 0-9 are ORT's stable, shipped interface (order and names unchanged); "
    "the inputs ORT appended later (`slot_mapping`, `head_sink`, QK-norm weights, quantised-cache scales, "
    "`attention_metadata`) and the LATENT (MLA) layout are left to later versions. `past_seqlens` excludes "
    "the new tokens (ORT, FlashAttention `cache_seqlens`), unlike vLLM's `seq_lens`.";

static const char *const errors[] = {
    "`num_heads` or `kv_num_heads` is not positive, or `num_heads` is not a multiple of `kv_num_heads`.",
    "`local_window_size` is neither -1 nor at least 1.",
    "`do_rotary` or `rotary_interleaved` is neither 0 nor 1.",
    "Exactly one of `key` and `value` is present (both present, or both absent for packed QKV).",
    "Exactly one of `cos_cache` and `sin_cache` is present, or `do_rotary = 1` without them.",
    "An input has the wrong rank: `query`, `key`, `value`, `block_table`, `cos_cache` and `sin_cache` must be "
    "2-D, the caches 4-D, `cumulative_sequence_length` and `past_seqlens` 1-D.",
    "The T inputs do not share one type from {float, float16, bfloat16}, or an index input is not int32.",
    "`key_cache` and `value_cache` differ in shape, their dimension 2 is not `kv_num_heads`, or `num_blocks`, "
    "`block_size` or `head_size` is 0.",
    "The head size is inconsistent: `query`'s width is not `num_heads*head_size` (packed: "
    "`(num_heads + 2*kv_num_heads)*head_size`), or `key`'s or `value`'s width is not "
    "`kv_num_heads*head_size`.",
    "`key` or `value` has a different number of tokens (rows) than `query`.",
    "`cumulative_sequence_length` does not have `B + 1` entries, or `block_table` does not have `B` rows "
    "(`B = past_seqlens.shape[0]`).",
    "`cumulative_sequence_length[0]` is not 0.",
    "`cumulative_sequence_length` decreases (`cu[b+1] < cu[b]` for some `b`).",
    "`cumulative_sequence_length[B]` is not the token count `query.shape[0]`.",
    "`past_seqlens[b]` is negative for some sequence.",
    "`past_seqlens[b] + n[b] > max_blocks * block_size` for some sequence `b`.",
    "A block id needed for a live position (`j < past_seqlens[b] + n[b]` of a sequence with `n[b] > 0`) "
    "is outside `[0, num_blocks)`.",
    "Two new tokens of the call (of one sequence or of two) map to the same physical cache slot.",
    "With `do_rotary = 1`: `cos_cache` and `sin_cache` differ in shape, or `2*cos_cache.shape[1]` is 0 or "
    "exceeds `head_size`.",
    "With `do_rotary = 1`: the position `past_seqlens[b] + i` of a new token is not below "
    "`cos_cache.shape[0]`.",
};

/* ---- attributes, inputs, outputs, types ------------------------------------- */

static const ocs_attr_def attrs[] = {
    {"num_heads", OCS_ATTR_INT, 1, NULL, "Number of query heads `H`; positive and a multiple of `kv_num_heads`."},
    {"kv_num_heads", OCS_ATTR_INT, 1, NULL, "Number of key/value heads `Hkv` (grouped-query attention when "
                                            "smaller than `num_heads`)."},
    {"scale", OCS_ATTR_FLOAT, 0, "0.0", "Factor applied to `q.k`; 0 means `1/sqrt(head_size)`."},
    {"softcap", OCS_ATTR_FLOAT, 0, "0.0", "When > 0, scores become `softcap * tanh(score / softcap)` after "
                                          "scaling and before masking; values <= 0 leave scores unchanged."},
    {"local_window_size", OCS_ATTR_INT, 0, "-1", "-1: no window. `W >= 1`: each token attends to the `W` most "
                                                 "recent positions including its own. Other values are an "
                                                 "error."},
    {"do_rotary", OCS_ATTR_INT, 0, "0", "1: apply rotary embedding (RotaryEmbedding-23) to the new queries and "
                                        "keys at their absolute positions before the write; 0: none."},
    {"rotary_interleaved", OCS_ATTR_INT, 0, "0", "1: rotate pairs `(2k, 2k+1)`; 0: pairs `(k, k + R/2)` "
                                                 "(GPT-NeoX style)."},
};

static const ocs_param_def inputs[] = {
    {"query", "T", OCS_PARAM_SINGLE, 0, 1, "`[T, num_heads*head_size]`, or packed `[T, (num_heads + "
                                         "2*kv_num_heads)*head_size]` holding `[Q | K | V]` when `key` and "
                                         "`value` are absent."},
    {"key", "T", OCS_PARAM_OPTIONAL, 0, 1, "`[T, kv_num_heads*head_size]`; absent together with `value` for "
                                           "packed QKV."},
    {"value", "T", OCS_PARAM_OPTIONAL, 0, 1, "`[T, kv_num_heads*head_size]`; absent together with `key`."},
    {"key_cache", "T", OCS_PARAM_SINGLE, 0, 1, "`[num_blocks, block_size, kv_num_heads, head_size]`."},
    {"value_cache", "T", OCS_PARAM_SINGLE, 0, 1, "Same shape as `key_cache`."},
    {"cumulative_sequence_length", "tensor(int32)", OCS_PARAM_SINGLE, 0, 1,
     "`[B + 1]`: `0, n[0], n[0] + n[1], ..., T`, the packed rows of each sequence's new tokens."},
    {"past_seqlens", "tensor(int32)", OCS_PARAM_SINGLE, 0, 1,
     "`[B]`: positions already cached per sequence, excluding this call's new tokens."},
    {"block_table", "tensor(int32)", OCS_PARAM_SINGLE, 0, 1,
     "`[B, max_blocks]`: the cache block holding positions `k*block_size .. (k+1)*block_size - 1` of sequence "
     "`b` is `block_table[b, k]`; entries past the live positions are ignored."},
    {"cos_cache", "T", OCS_PARAM_OPTIONAL, 0, 1, "`[max_position, rotary_dim/2]`; required when `do_rotary = 1`."},
    {"sin_cache", "T", OCS_PARAM_OPTIONAL, 0, 1, "Same shape as `cos_cache`; required when `do_rotary = 1`."},
};

static const ocs_param_def outputs[] = {
    {"output", "T", OCS_PARAM_SINGLE, 0, 1, "`[T, num_heads*head_size]`, packed like `query`."},
    {"key_cache_out", "T", OCS_PARAM_OPTIONAL, 0, 1, "`key_cache` with the new (rotated) keys written."},
    {"value_cache_out", "T", OCS_PARAM_OPTIONAL, 0, 1, "`value_cache` with the new values written."},
};

static const ocs_dtype types_t[] = {OCS_FLOAT, OCS_FLOAT16, OCS_BFLOAT16};

static const ocs_type_constraint constraints[] = {
    {"T", types_t, sizeof types_t / sizeof types_t[0],
     "Queries, keys, values, caches and rotary tables share one floating-point type."},
};

/* ---- static check ------------------------------------------------------------ */

static int present(const ocs_node *n, size_t i)
{
    return i < n->n_inputs && n->inputs[i][0] != '\0';
}

/* The attributes, read with their defaults. */
typedef struct {
    int64_t H, Hkv, W, rotary, interleaved;
    float scale, softcap;
} pa_attrs;

static ocs_status read_attrs(const ocs_node *n, pa_attrs *p, ocs_err *err)
{
    ocs_status st;
    if ((st = ocs_node_attr_int(n, "num_heads", 0, &p->H, err)) != OCS_OK ||
        (st = ocs_node_attr_int(n, "kv_num_heads", 0, &p->Hkv, err)) != OCS_OK ||
        (st = ocs_node_attr_int(n, "local_window_size", -1, &p->W, err)) != OCS_OK ||
        (st = ocs_node_attr_int(n, "do_rotary", 0, &p->rotary, err)) != OCS_OK ||
        (st = ocs_node_attr_int(n, "rotary_interleaved", 0, &p->interleaved, err)) != OCS_OK ||
        (st = ocs_node_attr_float(n, "scale", 0.0f, &p->scale, err)) != OCS_OK ||
        (st = ocs_node_attr_float(n, "softcap", 0.0f, &p->softcap, err)) != OCS_OK)
        return st;
    return OCS_OK;
}

static ocs_status check(const ocs_node *n, ocs_err *err)
{
    char label[256];
    ocs_node_label(n, label, sizeof label);
    pa_attrs p;
    ocs_status st = read_attrs(n, &p, err);
    if (st != OCS_OK)
        return st;
    if (p.H <= 0 || p.Hkv <= 0)
        return ocs_fail(err, OCS_ERR_INVALID, "%s: num_heads %lld and kv_num_heads %lld must be positive", label,
                        (long long)p.H, (long long)p.Hkv);
    if (p.H % p.Hkv != 0)
        return ocs_fail(err, OCS_ERR_INVALID, "%s: num_heads %lld is not a multiple of kv_num_heads %lld", label,
                        (long long)p.H, (long long)p.Hkv);
    if (p.W != -1 && p.W < 1)
        return ocs_fail(err, OCS_ERR_INVALID, "%s: local_window_size must be -1 (no window) or >= 1, got %lld",
                        label, (long long)p.W);
    if (p.rotary != 0 && p.rotary != 1)
        return ocs_fail(err, OCS_ERR_INVALID, "%s: do_rotary must be 0 or 1, got %lld", label,
                        (long long)p.rotary);
    if (p.interleaved != 0 && p.interleaved != 1)
        return ocs_fail(err, OCS_ERR_INVALID, "%s: rotary_interleaved must be 0 or 1, got %lld", label,
                        (long long)p.interleaved);
    if (present(n, 1) != present(n, 2))
        return ocs_fail(err, OCS_ERR_INVALID,
                        "%s: key and value must be both present or both absent (packed QKV); only %s is given",
                        label, present(n, 1) ? "key" : "value");
    if (present(n, 8) != present(n, 9))
        return ocs_fail(err, OCS_ERR_INVALID,
                        "%s: cos_cache and sin_cache must be both present or both absent; only %s is given", label,
                        present(n, 8) ? "cos_cache" : "sin_cache");
    if (p.rotary == 1 && !present(n, 8))
        return ocs_fail(err, OCS_ERR_INVALID, "%s: do_rotary = 1 needs cos_cache and sin_cache", label);
    return OCS_OK;
}

/* ---- shape inference --------------------------------------------------------- */

/* heads * D, or -1 when the product overflows (heads >= 0, D >= 1). */
static int64_t width_of(int64_t heads, int64_t D)
{
    return heads < 0 || heads > INT64_MAX / D ? -1 : heads * D;
}

/* The head count of query's rows: num_heads, or num_heads + 2*kv_num_heads packed (-1: overflow). */
static int64_t query_heads(int64_t H, int64_t Hkv, int packed)
{
    return !packed ? H : Hkv > (INT64_MAX - H) / 2 ? -1 : H + 2 * Hkv;
}

static ocs_status need_rank(const ocs_tensor_type *t, size_t i, int rank, const char *what, const char *label,
                            ocs_err *err)
{
    if (t->dtype != OCS_UNDEFINED && t->rank >= 0 && t->rank != rank)
        return ocs_fail(err, OCS_ERR_INVALID, "%s: input %zu (%s) must be %d-D, got rank %d", label, i, what, rank,
                        t->rank);
    return OCS_OK;
}

/* Dimension d of t, or -1 when unknown. */
static int64_t dim(const ocs_tensor_type *t, int d)
{
    if (t->dtype == OCS_UNDEFINED || t->rank <= d)
        return -1;
    return t->dims[d] >= 0 ? t->dims[d] : -1;
}

static ocs_status infer(const ocs_node *n, size_t n_in, const ocs_tensor_type *in, size_t n_out,
                        ocs_tensor_type *out, ocs_err *err)
{
    char label[256];
    ocs_node_label(n, label, sizeof label);
    pa_attrs p;
    ocs_status st = read_attrs(n, &p, err);
    if (st != OCS_OK)
        return st;
    if (p.H <= 0 || p.Hkv <= 0)
        return ocs_fail(err, OCS_ERR_INVALID, "%s: num_heads %lld and kv_num_heads %lld must be positive", label,
                        (long long)p.H, (long long)p.Hkv);
    ocs_tensor_type none;
    memset(&none, 0, sizeof none);
    none.dtype = OCS_UNDEFINED;
    none.rank = -1;
    const ocs_tensor_type *t[10];
    for (size_t i = 0; i < 10; i++)
        t[i] = i < n_in ? &in[i] : &none;
    static const char *const names[10] = {"query", "key", "value", "key_cache", "value_cache",
                                          "cumulative_sequence_length", "past_seqlens", "block_table",
                                          "cos_cache", "sin_cache"};
    static const int ranks[10] = {2, 2, 2, 4, 4, 1, 1, 2, 2, 2};
    for (size_t i = 0; i < 10; i++)
        if ((st = need_rank(t[i], i, ranks[i], names[i], label, err)) != OCS_OK)
            return st;
    const int packed = t[1]->dtype == OCS_UNDEFINED && t[2]->dtype == OCS_UNDEFINED;

    /* The caches: same shape, dimension 2 = kv_num_heads, no zero dimension. */
    for (int d = 0; d < 4; d++) {
        int64_t a = dim(t[3], d), b = dim(t[4], d);
        if (a >= 0 && b >= 0 && a != b)
            return ocs_fail(err, OCS_ERR_INVALID,
                            "%s: key_cache and value_cache differ in shape (dimension %d: %lld vs %lld)", label, d,
                            (long long)a, (long long)b);
    }
    for (int c = 3; c <= 4; c++) {
        if (dim(t[c], 2) >= 0 && dim(t[c], 2) != p.Hkv)
            return ocs_fail(err, OCS_ERR_INVALID, "%s: dimension 2 of %s is %lld, not kv_num_heads %lld", label,
                            names[c], (long long)dim(t[c], 2), (long long)p.Hkv);
        for (int d = 0; d < 4; d++)
            if (dim(t[c], d) == 0)
                return ocs_fail(err, OCS_ERR_INVALID,
                                "%s: %s has a zero dimension %d (num_blocks, block_size and head_size must be >= 1)",
                                label, names[c], d);
    }

    /* head_size: from the caches, checked against query, key and value. */
    int64_t D = dim(t[3], 3) >= 0 ? dim(t[3], 3) : dim(t[4], 3);
    const int64_t qheads = query_heads(p.H, p.Hkv, packed);
    int64_t qw = dim(t[0], 1);
    if (qw >= 0) {
        if (D > 0 && (width_of(qheads, D) < 0 || qw != width_of(qheads, D)))
            return ocs_fail(err, OCS_ERR_INVALID,
                            "%s: query width %lld is not %s*head_size = %lld (head_size %lld from the caches)",
                            label, (long long)qw, packed ? "(num_heads + 2*kv_num_heads)" : "num_heads",
                            (long long)width_of(qheads, D), (long long)D);
        if (D < 0) {
            if (qheads < 0 || qw % qheads != 0)
                return ocs_fail(err, OCS_ERR_INVALID, "%s: query width %lld is not a multiple of %lld heads", label,
                                (long long)qw, (long long)qheads);
            D = qw / qheads;
        }
    }
    for (int c = 1; c <= 2; c++) {
        int64_t w = dim(t[c], 1);
        if (w >= 0 && D > 0 && (width_of(p.Hkv, D) < 0 || w != width_of(p.Hkv, D)))
            return ocs_fail(err, OCS_ERR_INVALID,
                            "%s: %s width %lld is not kv_num_heads*head_size = %lld (head_size %lld)", label,
                            names[c], (long long)w, (long long)width_of(p.Hkv, D), (long long)D);
        int64_t rows = dim(t[c], 0);
        if (rows >= 0 && dim(t[0], 0) >= 0 && rows != dim(t[0], 0))
            return ocs_fail(err, OCS_ERR_INVALID, "%s: %s has %lld tokens but query has %lld", label, names[c],
                            (long long)rows, (long long)dim(t[0], 0));
    }

    /* Metadata shapes. */
    int64_t B = dim(t[6], 0);
    if (B >= 0 && dim(t[5], 0) >= 0 && dim(t[5], 0) != B + 1)
        return ocs_fail(err, OCS_ERR_INVALID,
                        "%s: cumulative_sequence_length has %lld entries; expected batch_size + 1 = %lld", label,
                        (long long)dim(t[5], 0), (long long)(B + 1));
    if (B >= 0 && dim(t[7], 0) >= 0 && dim(t[7], 0) != B)
        return ocs_fail(err, OCS_ERR_INVALID, "%s: block_table has %lld rows; expected batch_size %lld", label,
                        (long long)dim(t[7], 0), (long long)B);

    /* Rotary tables. */
    if (p.rotary == 1 && t[8]->dtype != OCS_UNDEFINED) {
        for (int d = 0; d < 2; d++)
            if (dim(t[8], d) >= 0 && dim(t[9], d) >= 0 && dim(t[8], d) != dim(t[9], d))
                return ocs_fail(err, OCS_ERR_INVALID, "%s: cos_cache and sin_cache differ in shape", label);
        int64_t half = dim(t[8], 1);
        if (half == 0 || (half > 0 && D >= 0 && 2 * half > D))
            return ocs_fail(err, OCS_ERR_INVALID,
                            "%s: rotary_dim 2*cos_cache.shape[1] = %lld must be in [2, head_size %lld]", label,
                            (long long)(2 * half), (long long)D);
    }

    /* Outputs. */
    for (size_t o = 0; o < n_out; o++) {
        memset(&out[o], 0, sizeof out[o]);
        out[o].dtype = t[0]->dtype;
        out[o].rank = -1;
    }
    if (n_out > 0) {
        out[0].rank = 2;
        out[0].dims[0] = dim(t[0], 0);
        out[0].dims[1] = D > 0 ? width_of(p.H, D) : -1;
    }
    for (size_t o = 1; o < n_out && o < 3; o++) {
        const ocs_tensor_type *c = t[o + 2];
        out[o].rank = 4;
        for (int d = 0; d < 4; d++)
            out[o].dims[d] = dim(c, d) >= 0 ? dim(c, d) : dim(t[o == 1 ? 4 : 3], d);
    }
    return OCS_OK;
}

/* ---- function body ----------------------------------------------------------- */

/* Building state: the graph, the name prefix and the first error. */
typedef struct {
    ocs_graph *g;
    const char *pfx;     /* the node's first output name */
    ocs_err *err;
    ocs_status st;
    int count;           /* numbers the nodes */
    char **pool;         /* names handed out, freed at the end */
    size_t n_pool, cap_pool;
} body_ctx;

/* "<output>__<s>", owned by c. */
static const char *v(body_ctx *c, const char *s)
{
    if (c->st != OCS_OK)
        return "";
    size_t len = strlen(c->pfx) + 2 + strlen(s) + 1;
    char *name = malloc(len);
    if (name && c->n_pool == c->cap_pool) {
        size_t cap = c->cap_pool ? 2 * c->cap_pool : 64;
        char **grown = realloc(c->pool, cap * sizeof *grown);
        if (!grown) {
            free(name);
            name = NULL;
        } else {
            c->pool = grown;
            c->cap_pool = cap;
        }
    }
    if (!name) {
        c->st = ocs_fail(c->err, OCS_ERR_NOMEM, "out of memory building the PagedAttention body");
        return "";
    }
    snprintf(name, len, "%s__%s", c->pfx, s);
    c->pool[c->n_pool++] = name;
    return name;
}

/* Appends node op(ins...) -> outs...; returns it (valid until the next node) or NULL after an error. */
static ocs_node *node(body_ctx *c, const char *op, size_t n_in, const char *const *ins, size_t n_out,
                      const char *const *outs)
{
    if (c->st != OCS_OK)
        return NULL;
    char suffix[64];
    snprintf(suffix, sizeof suffix, "%s_%d", op, c->count++);
    const char *name = v(c, suffix);
    ocs_node *nd = NULL;
    if (c->st == OCS_OK)
        c->st = ocs_graph_add_node(c->g, op, "", name, n_in, ins, n_out, outs, &nd, c->err);
    return c->st == OCS_OK ? nd : NULL;
}

/* One-output node; returns the output's name. */
static const char *op1(body_ctx *c, const char *op, const char *out, size_t n_in, const char *const *ins,
                       ocs_node **nd)
{
    const char *outs[1] = {out};
    ocs_node *x = node(c, op, n_in, ins, 1, outs);
    if (nd)
        *nd = x;
    return out;
}

static void set_int(body_ctx *c, ocs_node *nd, const char *name, int64_t val)
{
    if (c->st == OCS_OK && nd)
        c->st = ocs_node_set_int(nd, name, val, c->err);
}

static void set_float(body_ctx *c, ocs_node *nd, const char *name, float val)
{
    if (c->st == OCS_OK && nd)
        c->st = ocs_node_set_float(nd, name, val, c->err);
}

/* Constant int64 tensor: 1-D of count values, or a scalar when scalar != 0. */
static const char *cst(body_ctx *c, const char *s, int scalar, size_t count, const int64_t *vals)
{
    const char *out = v(c, s);
    ocs_node *nd;
    op1(c, "Constant", out, 0, NULL, &nd);
    if (c->st == OCS_OK && nd)
        c->st = scalar ? ocs_node_set_int(nd, "value_int", vals[0], c->err)
                       : ocs_node_set_ints(nd, "value_ints", count, vals, c->err);
    return out;
}

/* Shorthands for the ops the body uses. */
static const char *bin(body_ctx *c, const char *op, const char *out, const char *x, const char *y)
{
    const char *ins[2] = {x, y};
    return op1(c, op, v(c, out), 2, ins, NULL);
}

static const char *cast64(body_ctx *c, const char *out, const char *x)
{
    ocs_node *nd;
    const char *ins[1] = {x};
    const char *o = op1(c, "Cast", v(c, out), 1, ins, &nd);
    set_int(c, nd, "to", OCS_INT64);
    return o;
}

/* Unsqueeze / Squeeze with a constant axes input. */
static const char *axes_op(body_ctx *c, const char *op, const char *out, const char *x, const char *axes)
{
    const char *ins[2] = {x, axes};
    return op1(c, op, v(c, out), 2, ins, NULL);
}

static const char *shape_slice(body_ctx *c, const char *out, const char *x, int64_t start, int64_t end)
{
    ocs_node *nd;
    const char *ins[1] = {x};
    const char *o = op1(c, "Shape", v(c, out), 1, ins, &nd);
    set_int(c, nd, "start", start);
    set_int(c, nd, "end", end);
    return o;
}

static const char *range(body_ctx *c, const char *out, const char *zero, const char *limit, const char *one)
{
    const char *ins[3] = {zero, limit, one};
    return op1(c, "Range", v(c, out), 3, ins, NULL);
}

static const char *where(body_ctx *c, const char *out, const char *cond, const char *x, const char *y)
{
    const char *ins[3] = {cond, x, y};
    return op1(c, "Where", v(c, out), 3, ins, NULL);
}

static const char *gather(body_ctx *c, const char *out, const char *data, const char *idx)
{
    ocs_node *nd;
    const char *ins[2] = {data, idx};
    const char *o = op1(c, "Gather", out, 2, ins, &nd);
    set_int(c, nd, "axis", 0);
    return o;
}

static const char *concat(body_ctx *c, const char *out, size_t n, const char *const *ins, int64_t axis)
{
    ocs_node *nd;
    const char *o = op1(c, "Concat", v(c, out), n, ins, &nd);
    set_int(c, nd, "axis", axis);
    return o;
}

static const char *reshape(body_ctx *c, const char *out, const char *x, const char *shape, int allowzero)
{
    ocs_node *nd;
    const char *ins[2] = {x, shape};
    const char *o = op1(c, "Reshape", out, 2, ins, &nd);
    if (allowzero)
        set_int(c, nd, "allowzero", 1);
    return o;
}

/* RotaryEmbedding of a [T, heads*D] tensor at positions pos_row [1, T]. */
static const char *rotate(body_ctx *c, const char *tag, const char *x, int64_t heads, int64_t R,
                          int64_t interleaved, const char *cos, const char *sin, const char *pos_row,
                          const char *ax0)
{
    char s1[32], s2[32], s3[32];
    snprintf(s1, sizeof s1, "%s_3d", tag);
    snprintf(s2, sizeof s2, "%s_rot3d", tag);
    snprintf(s3, sizeof s3, "%s_rot", tag);
    const char *x3 = axes_op(c, "Unsqueeze", s1, x, ax0);
    ocs_node *nd;
    const char *ins[4] = {x3, cos, sin, pos_row};
    const char *y3 = op1(c, "RotaryEmbedding", v(c, s2), 4, ins, &nd);
    set_int(c, nd, "num_heads", heads);
    set_int(c, nd, "rotary_embedding_dim", R);
    set_int(c, nd, "interleaved", interleaved);
    return axes_op(c, "Squeeze", s3, y3, ax0);
}

static ocs_status body(const ocs_node *n, size_t n_in, const ocs_tensor_type *in, ocs_graph *g, ocs_err *err)
{
    pa_attrs p;
    ocs_status st = read_attrs(n, &p, err);
    if (st != OCS_OK)
        return st;
    if ((st = check(n, err)) != OCS_OK)
        return st;
    const int packed = !present(n, 1);
    const int64_t H = p.H, Hkv = p.Hkv;

    /* Static head_size (and rotary dimension): the body's reshapes need them. */
    int64_t D = -1;
    if (n_in > 3 && in[3].rank == 4 && in[3].dims[3] > 0)
        D = in[3].dims[3];
    else if (n_in > 4 && in[4].rank == 4 && in[4].dims[3] > 0)
        D = in[4].dims[3];
    else if (in[0].rank == 2 && in[0].dims[1] > 0)
        D = query_heads(H, Hkv, packed) > 0 ? in[0].dims[1] / query_heads(H, Hkv, packed) : -1;
    if (D <= 0)
        return ocs_fail(err, OCS_ERR_UNSUPPORTED,
                        "the PagedAttention body needs a static head_size (key_cache's dimension 3)");
    if (width_of(query_heads(H, Hkv, 1), D) < 0)
        return ocs_fail(err, OCS_ERR_INVALID, "num_heads %lld and kv_num_heads %lld are too large for head_size %lld",
                        (long long)H, (long long)Hkv, (long long)D);
    int64_t R = 0;
    if (p.rotary) {
        if (n_in <= 8 || in[8].rank != 2 || in[8].dims[1] <= 0)
            return ocs_fail(err, OCS_ERR_UNSUPPORTED,
                            "the PagedAttention body needs a static rotary dimension (cos_cache's dimension 1)");
        R = 2 * in[8].dims[1];
    }

    body_ctx c = {g, n->outputs[0], err, OCS_OK, 0, NULL, 0, 0};
    const char *q = n->inputs[0], *kc = n->inputs[3], *vc = n->inputs[4];
    const char *cu = n->inputs[5], *past = n->inputs[6], *bt = n->inputs[7];

    /* Constants. */
    const int64_t k0 = 0, k1 = 1, km1 = -1, kmax = INT64_MAX, kaxis2 = 2;
    const char *s0 = cst(&c, "zero", 1, 1, &k0);
    const char *s1 = cst(&c, "one", 1, 1, &k1);
    const char *v0 = cst(&c, "zeros1", 0, 1, &k0);   /* [0], also axes = [0] */
    const char *v1 = cst(&c, "ones1", 0, 1, &k1);    /* [1], also axes = [1] */
    const char *vm1 = cst(&c, "minus1", 0, 1, &km1);
    const char *vmax = cst(&c, "int64max", 0, 1, &kmax);
    const char *ax2 = cst(&c, "axis2", 0, 1, &kaxis2);

    /* Per-sequence lengths, int64. */
    const char *cu64 = cast64(&c, "cu64", cu);
    const char *past64 = cast64(&c, "past64", past);
    const char *bt64 = cast64(&c, "block_table64", bt);
    const char *i_head[4] = {cu64, v0, vm1, v0};
    const char *cu_head = op1(&c, "Slice", v(&c, "cu_head"), 4, i_head, NULL);   /* cu[0 .. B-1] */
    const char *i_tail[4] = {cu64, v1, vmax, v0};
    const char *cu_tail = op1(&c, "Slice", v(&c, "cu_tail"), 4, i_tail, NULL);   /* cu[1 .. B] */
    const char *qlen = bin(&c, "Sub", "new_len", cu_tail, cu_head);              /* n[b] */
    const char *kvlen = bin(&c, "Add", "total_len", past64, qlen);               /* L[b] */

    /* Per token t: its sequence, index in the sequence, position, block and offset. */
    const char *Tv = shape_slice(&c, "T", q, 0, 1);
    const char *Ts = axes_op(&c, "Squeeze", "T_scalar", Tv, v0);
    const char *tok = range(&c, "tokens", s0, Ts, s1);
    const char *tok_col = axes_op(&c, "Unsqueeze", "tokens_col", tok, v1);
    const char *tail_row = axes_op(&c, "Unsqueeze", "cu_tail_row", cu_tail, v0);
    const char *ended = bin(&c, "LessOrEqual", "ended", tail_row, tok_col);      /* [T, B]: cu[b+1] <= t */
    const char *ended64 = cast64(&c, "ended64", ended);
    const char *i_rs[2] = {ended64, v1};
    ocs_node *nd;
    const char *seq = op1(&c, "ReduceSum", v(&c, "seq"), 2, i_rs, &nd);          /* [T]: b(t) */
    set_int(&c, nd, "keepdims", 0);
    const char *start = gather(&c, v(&c, "seq_start"), cu_head, seq);
    const char *idx = bin(&c, "Sub", "index_in_seq", tok, start);                /* i */
    const char *past_t = gather(&c, v(&c, "past_of_token"), past64, seq);
    const char *pos = bin(&c, "Add", "position", past_t, idx);                   /* p = past + i */
    const char *BSv = shape_slice(&c, "block_size", kc, 1, 2);
    const char *page = bin(&c, "Div", "page", pos, BSv);
    const char *off = bin(&c, "Mod", "offset", pos, BSv);
    const char *seq_c = axes_op(&c, "Unsqueeze", "seq_col", seq, v1);
    const char *page_c = axes_op(&c, "Unsqueeze", "page_col", page, v1);
    const char *off_c = axes_op(&c, "Unsqueeze", "offset_col", off, v1);
    const char *i_btidx[2] = {seq_c, page_c};
    const char *bt_idx = concat(&c, "table_index", 2, i_btidx, 1);
    const char *i_blk[2] = {bt64, bt_idx};
    const char *blk = op1(&c, "GatherND", v(&c, "block"), 2, i_blk, NULL);
    const char *blk_c = axes_op(&c, "Unsqueeze", "block_col", blk, v1);
    const char *i_slot[2] = {blk_c, off_c};
    const char *slot = concat(&c, "slot", 2, i_slot, 1);                          /* [T, 2] */

    /* Q, K, V as [T, heads*D]; packed QKV is split. */
    const char *q2 = q, *k2 = packed ? NULL : n->inputs[1], *v2 = packed ? NULL : n->inputs[2];
    if (packed) {
        const int64_t widths[3] = {H * D, Hkv * D, Hkv * D};
        const char *split = cst(&c, "qkv_split", 0, 3, widths);
        const char *outs[3] = {v(&c, "q"), v(&c, "k"), v(&c, "v")};
        const char *ins[2] = {q, split};
        ocs_node *sp = node(&c, "Split", 2, ins, 3, outs);
        set_int(&c, sp, "axis", 1);
        q2 = outs[0];
        k2 = outs[1];
        v2 = outs[2];
    }
    if (p.rotary) {
        const char *pos_row = axes_op(&c, "Unsqueeze", "position_ids", pos, v0);
        q2 = rotate(&c, "q", q2, H, R, p.interleaved, n->inputs[8], n->inputs[9], pos_row, v0);
        k2 = rotate(&c, "k", k2, Hkv, R, p.interleaved, n->inputs[8], n->inputs[9], pos_row, v0);
    }

    /* Write: ScatterND of [T, Hkv, D] rows into the caches at (block, offset). */
    const int64_t kv3[3] = {0, Hkv, D};
    const char *kv3s = cst(&c, "kv_rows_shape", 0, 3, kv3);
    const char *k3 = reshape(&c, v(&c, "k_rows"), k2, kv3s, 0);
    const char *v3 = reshape(&c, v(&c, "v_rows"), v2, kv3s, 0);
    const char *kco = n->n_outputs > 1 && n->outputs[1][0] ? n->outputs[1] : v(&c, "key_cache_out");
    const char *vco = n->n_outputs > 2 && n->outputs[2][0] ? n->outputs[2] : v(&c, "value_cache_out");
    const char *i_sk[3] = {kc, slot, k3};
    op1(&c, "ScatterND", kco, 3, i_sk, NULL);
    const char *i_sv[3] = {vc, slot, v3};
    op1(&c, "ScatterND", vco, 3, i_sv, NULL);

    /* Queries left-padded to [B, S, H*D], S = max n[b]: row r of sequence b holds token
     * cu[b] + r - (S - n[b]), so its position is L[b] - S + r (Attention-24's bottom-right offset). */
    const char *i_q0[2] = {v0, qlen};
    const char *qlen0 = concat(&c, "new_len0", 2, i_q0, 0);
    const char *i_rm[1] = {qlen0};
    const char *Sv = op1(&c, "ReduceMax", v(&c, "S"), 1, i_rm, &nd);             /* [1] */
    set_int(&c, nd, "keepdims", 1);
    const char *Ss = axes_op(&c, "Squeeze", "S_scalar", Sv, v0);
    const char *rows = range(&c, "rows", s0, Ss, s1);                             /* [S] */
    const char *pad = bin(&c, "Sub", "pad", Sv, qlen);                            /* [B] */
    const char *pad_c = axes_op(&c, "Unsqueeze", "pad_col", pad, v1);             /* [B, 1] */
    const char *rows_r = axes_op(&c, "Unsqueeze", "rows_row", rows, v0);          /* [1, S] */
    const char *real = bin(&c, "GreaterOrEqual", "real_row", rows_r, pad_c);      /* [B, S] */
    const char *head_c = axes_op(&c, "Unsqueeze", "cu_head_col", cu_head, v1);
    const char *shifted = bin(&c, "Sub", "row_minus_pad", rows_r, pad_c);
    const char *tk = bin(&c, "Add", "row_token", shifted, head_c);
    const char *tk0 = where(&c, "row_token0", real, tk, s0);
    const char *qpad = gather(&c, v(&c, "q_padded"), q2, tk0);                   /* [B, S, H*D] */
    const char *pad_t = gather(&c, v(&c, "pad_of_token"), pad, seq);
    const char *row_t = bin(&c, "Add", "row_of_token", pad_t, idx);
    const char *row_c = axes_op(&c, "Unsqueeze", "row_col", row_t, v1);
    const char *i_oi[2] = {seq_c, row_c};
    const char *out_idx = concat(&c, "out_index", 2, i_oi, 1);                   /* [T, 2] */

    /* Each sequence's pages: ids past the live positions (and every id of a sequence without
     * new tokens) replaced by 0, gathered to [B, max_blocks*BS, Hkv*D]. */
    const char *bsm1 = bin(&c, "Sub", "block_size_m1", BSv, v1);
    const char *kvup = bin(&c, "Add", "total_len_up", kvlen, bsm1);
    const char *nlive = bin(&c, "Div", "live_blocks", kvup, BSv);
    const char *has = bin(&c, "Greater", "has_new", qlen, s0);
    const char *nlive0 = where(&c, "live_blocks0", has, nlive, s0);
    const char *MBv = shape_slice(&c, "max_blocks", bt, 1, 2);
    const char *MBs = axes_op(&c, "Squeeze", "max_blocks_scalar", MBv, v0);
    const char *jb = range(&c, "block_index", s0, MBs, s1);
    const char *jb_r = axes_op(&c, "Unsqueeze", "block_index_row", jb, v0);
    const char *nl_c = axes_op(&c, "Unsqueeze", "live_blocks_col", nlive0, v1);
    const char *live = bin(&c, "Less", "live", jb_r, nl_c);                       /* [B, max_blocks] */
    const char *btf = where(&c, "pages", live, bt64, s0);
    const char *Bv = shape_slice(&c, "B", bt, 0, 1);
    const char *Lv = bin(&c, "Mul", "L", MBv, BSv);
    const int64_t hd = Hkv * D;
    const char *hdv = cst(&c, "kv_width", 0, 1, &hd);
    const char *i_ks[3] = {Bv, Lv, hdv};
    const char *kvshape = concat(&c, "seq_kv_shape", 3, i_ks, 0);
    const char *kp = gather(&c, v(&c, "k_pages"), kco, btf);
    const char *vp = gather(&c, v(&c, "v_pages"), vco, btf);
    const char *kseq = reshape(&c, v(&c, "k_seq"), kp, kvshape, 1);
    const char *vseq = reshape(&c, v(&c, "v_seq"), vp, kvshape, 1);

    /* Window: key j visible to row r of sequence b iff j >= L[b] - S + r - W + 1. */
    const char *mask = "";
    if (p.W >= 1) {
        const char *Ls = axes_op(&c, "Squeeze", "L_scalar", Lv, v0);
        const char *jk = range(&c, "key_index", s0, Ls, s1);                      /* [L] */
        const char *base = bin(&c, "Sub", "row0_position", kvlen, Sv);           /* [B] */
        const char *base_c = axes_op(&c, "Unsqueeze", "row0_position_col", base, v1);
        const char *rpos = bin(&c, "Add", "row_position", base_c, rows_r);       /* [B, S] */
        const int64_t shift = 1 - p.W;
        const char *shv = cst(&c, "window_shift", 1, 1, &shift);
        const char *lo = bin(&c, "Add", "window_start", rpos, shv);
        const char *lo3 = axes_op(&c, "Unsqueeze", "window_start3", lo, ax2);    /* [B, S, 1] */
        const char *m3 = bin(&c, "GreaterOrEqual", "window3", jk, lo3);          /* [B, S, L] */
        mask = axes_op(&c, "Unsqueeze", "window_mask", m3, v1);                  /* [B, 1, S, L] */
    }

    /* Attention-24: causal, bottom-right through nonpad_kv_seqlen = L[b]. */
    const char *i_att[7] = {qpad, kseq, vseq, mask, "", "", kvlen};
    const char *y = op1(&c, "Attention", v(&c, "y_padded"), 7, i_att, &nd);
    set_int(&c, nd, "is_causal", 1);
    set_int(&c, nd, "q_num_heads", H);
    set_int(&c, nd, "kv_num_heads", Hkv);
    if (p.scale != 0.0f)
        set_float(&c, nd, "scale", p.scale);
    if (p.softcap > 0.0f)
        set_float(&c, nd, "softcap", p.softcap);
    const char *i_out[2] = {y, out_idx};
    op1(&c, "GatherND", n->outputs[0], 2, i_out, NULL);

    for (size_t i = 0; i < c.n_pool; i++)
        free(c.pool[i]);
    free(c.pool);
    return c.st;
}

/* ---- worked example -------------------------------------------------------------- */

static ocs_status add_init(ocs_graph *g, const char *name, ocs_dtype t, int rank, const int64_t *dims,
                           const double *vals, ocs_err *err)
{
    ocs_tensor *x = NULL;
    ocs_status st = ocs_tensor_new(t, rank, dims, &x, err);
    for (size_t i = 0; st == OCS_OK && i < x->numel; i++)
        ocs_tensor_set_f64(x, i, vals[i]);
    if (st == OCS_OK)
        st = ocs_graph_add_initializer(g, name, x, err);
    ocs_tensor_free(x);
    return st;
}

/*
 * Two sequences, block_size 2, 2 query heads sharing 1 key/value head, head_size 4:
 * sequence 0 has 1 cached position and 2 new tokens (a prefill chunk), sequence 1 has
 * 2 cached positions and 1 new token (decode).  Blocks: sequence 0 uses [2, 0],
 * sequence 1 uses [1, 3]; -1 fills unused entries.
 */
static ocs_status example(ocs_doc_example *ex, ocs_err *err)
{
    ex->title = "Chunked prefill and decode in one batch (GQA, block_size 2)";
    ex->graph = NULL;
    ocs_graph *g = NULL;
    ocs_status st = ocs_graph_new("paged_attention_example", &g, err);
    if (st != OCS_OK)
        return st;
    double q[3 * 8], k[3 * 4], vv[3 * 4], kc[4 * 2 * 4], vc[4 * 2 * 4];
    for (int i = 0; i < 24; i++)
        q[i] = ((i * 7) % 11 - 5) * 0.1;
    for (int i = 0; i < 12; i++) {
        k[i] = ((i * 5) % 9 - 4) * 0.1;
        vv[i] = (i % 6) * 0.5 - 1.0;
    }
    for (int i = 0; i < 32; i++) {
        kc[i] = ((i * 3) % 7 - 3) * 0.1;
        vc[i] = ((i * 5) % 8) * 0.25 - 1.0;
    }
    const double cu[3] = {0, 2, 3}, past[2] = {1, 2}, table[4] = {2, 0, 1, 3};
    const int64_t dq[2] = {3, 8}, dk[2] = {3, 4}, dc[4] = {4, 2, 1, 4}, dcu[1] = {3}, dp[1] = {2},
                  dt[2] = {2, 2};
    if ((st = add_init(g, "query", OCS_FLOAT, 2, dq, q, err)) != OCS_OK ||
        (st = add_init(g, "key", OCS_FLOAT, 2, dk, k, err)) != OCS_OK ||
        (st = add_init(g, "value", OCS_FLOAT, 2, dk, vv, err)) != OCS_OK ||
        (st = add_init(g, "key_cache", OCS_FLOAT, 4, dc, kc, err)) != OCS_OK ||
        (st = add_init(g, "value_cache", OCS_FLOAT, 4, dc, vc, err)) != OCS_OK ||
        (st = add_init(g, "cumulative_sequence_length", OCS_INT32, 1, dcu, cu, err)) != OCS_OK ||
        (st = add_init(g, "past_seqlens", OCS_INT32, 1, dp, past, err)) != OCS_OK ||
        (st = add_init(g, "block_table", OCS_INT32, 2, dt, table, err)) != OCS_OK) {
        ocs_graph_free(g);
        return st;
    }
    const char *ins[8] = {"query", "key", "value", "key_cache", "value_cache", "cumulative_sequence_length",
                          "past_seqlens", "block_table"};
    const char *outs[3] = {"output", "key_cache_out", "value_cache_out"};
    ocs_node *nd = NULL;
    const int64_t dout[2] = {3, 8};
    if ((st = ocs_graph_add_node(g, "PagedAttention", OCS_PREVIEW_DOMAIN, "paged_attention", 8, ins, 3, outs, &nd,
                                 err)) != OCS_OK ||
        (st = ocs_node_set_int(nd, "num_heads", 2, err)) != OCS_OK ||
        (st = ocs_node_set_int(nd, "kv_num_heads", 1, err)) != OCS_OK ||
        (st = ocs_graph_add_output(g, "output", OCS_FLOAT, 2, dout, err)) != OCS_OK ||
        (st = ocs_graph_add_output(g, "key_cache_out", OCS_FLOAT, 4, dc, err)) != OCS_OK ||
        (st = ocs_graph_add_output(g, "value_cache_out", OCS_FLOAT, 4, dc, err)) != OCS_OK) {
        ocs_graph_free(g);
        return st;
    }
    ex->graph = g;
    return OCS_OK;
}

const ocs_schema ocs_schema_PagedAttention = {
    .domain = OCS_PREVIEW_DOMAIN,
    .name = "PagedAttention",
    .since_version = 1,
    .summary = summary,
    .attrs = attrs,
    .n_attrs = sizeof attrs / sizeof attrs[0],
    .inputs = inputs,
    .n_inputs = sizeof inputs / sizeof inputs[0],
    .outputs = outputs,
    .n_outputs = sizeof outputs / sizeof outputs[0],
    .constraints = constraints,
    .n_constraints = sizeof constraints / sizeof constraints[0],
    .errors = errors,
    .n_errors = sizeof errors / sizeof errors[0],
    .conventions = conventions,
    .check = check,
    .infer = infer,
    .body = body,
    .body_opset = 24,
    .example = example,
};

/* ---- validation of a call, shared by the kernels -------------------------------------------- */

static const char *const pa_names[10] = {"query", "key", "value", "key_cache", "value_cache",
                                         "cumulative_sequence_length", "past_seqlens", "block_table",
                                         "cos_cache", "sin_cache"};

/* Attributes: head counts, window, rotary switches, scale and softcap. */
static ocs_status call_attrs(const ocs_node *n, ocs_pa_dims *c, ocs_err *err)
{
    pa_attrs p;
    ocs_status st = read_attrs(n, &p, err);
    if (st != OCS_OK)
        return st;
    c->H = p.H;
    c->Hkv = p.Hkv;
    c->W = p.W;
    c->rotary = p.rotary;
    c->interleaved = p.interleaved;
    c->scale = p.scale;
    c->softcap = p.softcap;
    if (c->H <= 0 || c->Hkv <= 0)
        return ocs_fail(err, OCS_ERR_INVALID, "PagedAttention: num_heads %lld and kv_num_heads %lld must be positive",
                        (long long)c->H, (long long)c->Hkv);
    if (c->H % c->Hkv != 0)
        return ocs_fail(err, OCS_ERR_INVALID, "PagedAttention: num_heads %lld is not a multiple of kv_num_heads %lld",
                        (long long)c->H, (long long)c->Hkv);
    if (c->W != -1 && c->W < 1)
        return ocs_fail(err, OCS_ERR_INVALID,
                        "PagedAttention: local_window_size must be -1 (no window) or >= 1, got %lld", (long long)c->W);
    if (c->rotary != 0 && c->rotary != 1)
        return ocs_fail(err, OCS_ERR_INVALID, "PagedAttention: do_rotary must be 0 or 1, got %lld",
                        (long long)c->rotary);
    if (c->interleaved != 0 && c->interleaved != 1)
        return ocs_fail(err, OCS_ERR_INVALID, "PagedAttention: rotary_interleaved must be 0 or 1, got %lld",
                        (long long)c->interleaved);
    c->G = c->H / c->Hkv;
    return OCS_OK;
}

/* heads * D, or -1 when the product overflows (D >= 1). */
static int64_t pa_width(int64_t heads, int64_t D)
{
    return heads < 0 || heads > INT64_MAX / D ? -1 : heads * D;
}

/* Presence, types, ranks and shapes of every input. */
static ocs_status call_shapes(const ocs_tensor *const *t, ocs_pa_dims *c, ocs_err *err)
{
    for (size_t i = 0; i < 8; i++)
        if (i != 1 && i != 2 && !t[i])
            return ocs_fail(err, OCS_ERR_INVALID, "PagedAttention: input %zu (%s) is required", i, pa_names[i]);
    c->query = t[0];
    c->key = t[1];
    c->value = t[2];
    c->kc = t[3];
    c->vc = t[4];
    c->cos = t[8];
    c->sin = t[9];
    if (!c->key != !c->value)
        return ocs_fail(err, OCS_ERR_INVALID,
                        "PagedAttention: key and value must be both present or both absent (packed QKV); only %s is given",
                        c->key ? "key" : "value");
    if (!c->cos != !c->sin)
        return ocs_fail(err, OCS_ERR_INVALID,
                        "PagedAttention: cos_cache and sin_cache must be both present or both absent; only %s is given",
                        c->cos ? "cos_cache" : "sin_cache");
    if (c->rotary && !c->cos)
        return ocs_fail(err, OCS_ERR_INVALID, "PagedAttention: do_rotary = 1 needs cos_cache and sin_cache");
    c->packed = !c->key;

    /* Types: one T for the float inputs, int32 for the index inputs. */
    const ocs_dtype T = c->query->dtype;
    if (T != OCS_FLOAT && T != OCS_FLOAT16 && T != OCS_BFLOAT16)
        return ocs_fail(err, OCS_ERR_INVALID,
                        "PagedAttention: input 0 (query) has type %s; T must be float, float16 or bfloat16",
                        ocs_dtype_name(T));
    for (size_t i = 1; i < 10; i++) {
        if (!t[i])
            continue;
        if (i >= 5 && i <= 7 && t[i]->dtype != OCS_INT32)
            return ocs_fail(err, OCS_ERR_INVALID, "PagedAttention: input %zu (%s) must be INT32, it is %s", i,
                            pa_names[i], ocs_dtype_name(t[i]->dtype));
        if ((i < 5 || i > 7) && t[i]->dtype != T)
            return ocs_fail(err, OCS_ERR_INVALID,
                            "PagedAttention: input %zu (%s) has type %s but T is bound to %s (query's type)", i,
                            pa_names[i], ocs_dtype_name(t[i]->dtype), ocs_dtype_name(T));
    }
    c->dt = T;
    c->es = ocs_dtype_size(T);

    static const int ranks[10] = {2, 2, 2, 4, 4, 1, 1, 2, 2, 2};
    for (size_t i = 0; i < 10; i++)
        if (t[i] && t[i]->rank != ranks[i])
            return ocs_fail(err, OCS_ERR_INVALID, "PagedAttention: input %zu (%s) must be %d-D, got rank %d", i,
                            pa_names[i], ranks[i], t[i]->rank);

    /* Caches: same shape [NB, BS, Hkv, D], no zero dimension. */
    char s1[128], s2[128];
    for (int d = 0; d < 4; d++)
        if (c->kc->dims[d] != c->vc->dims[d])
            return ocs_fail(err, OCS_ERR_INVALID, "PagedAttention: key_cache and value_cache differ in shape (%s vs %s)",
                            ocs_shape_str(4, c->kc->dims, s1, sizeof s1), ocs_shape_str(4, c->vc->dims, s2, sizeof s2));
    if (c->kc->dims[2] != c->Hkv)
        return ocs_fail(err, OCS_ERR_INVALID, "PagedAttention: dimension 2 of key_cache is %lld, not kv_num_heads %lld",
                        (long long)c->kc->dims[2], (long long)c->Hkv);
    for (int d = 0; d < 4; d++)
        if (c->kc->dims[d] == 0)
            return ocs_fail(err, OCS_ERR_INVALID,
                            "PagedAttention: key_cache %s has a zero dimension %d (num_blocks, block_size and "
                            "head_size must be >= 1)",
                            ocs_shape_str(4, c->kc->dims, s1, sizeof s1), d);
    c->NB = c->kc->dims[0];
    c->BS = c->kc->dims[1];
    c->D = c->kc->dims[3];

    /* Token layout: query [T, H*D] (packed [T, (H + 2*Hkv)*D]), key/value [T, Hkv*D]. */
    c->T = c->query->dims[0];
    const int64_t qheads = !c->packed ? c->H : c->Hkv > (INT64_MAX - c->H) / 2 ? -1 : c->H + 2 * c->Hkv;
    const int64_t qwidth = pa_width(qheads, c->D), kvwidth = pa_width(c->Hkv, c->D);
    if (qwidth < 0 || c->query->dims[1] != qwidth)
        return ocs_fail(err, OCS_ERR_INVALID,
                        "PagedAttention: query width %lld is not %s*head_size = %lld (head_size %lld from the caches)",
                        (long long)c->query->dims[1], c->packed ? "(num_heads + 2*kv_num_heads)" : "num_heads",
                        (long long)qwidth, (long long)c->D);
    c->qwidth = qwidth;
    for (size_t i = 1; i <= 2 && !c->packed; i++) {
        if (kvwidth < 0 || t[i]->dims[1] != kvwidth)
            return ocs_fail(err, OCS_ERR_INVALID,
                            "PagedAttention: %s width %lld is not kv_num_heads*head_size = %lld (head_size %lld)",
                            pa_names[i], (long long)t[i]->dims[1], (long long)kvwidth, (long long)c->D);
        if (t[i]->dims[0] != c->T)
            return ocs_fail(err, OCS_ERR_INVALID, "PagedAttention: %s has %lld tokens but query has %lld",
                            pa_names[i], (long long)t[i]->dims[0], (long long)c->T);
    }

    /* Metadata shapes: cu [B+1], past [B], block_table [B, MB]. */
    c->B = t[6]->dims[0];
    if (t[5]->dims[0] != c->B + 1)
        return ocs_fail(err, OCS_ERR_INVALID,
                        "PagedAttention: cumulative_sequence_length has %lld entries; expected batch_size + 1 = %lld",
                        (long long)t[5]->dims[0], (long long)(c->B + 1));
    if (t[7]->dims[0] != c->B)
        return ocs_fail(err, OCS_ERR_INVALID, "PagedAttention: block_table has %lld rows; expected batch_size %lld",
                        (long long)t[7]->dims[0], (long long)c->B);
    c->MB = t[7]->dims[1];
    c->cu = t[5]->data;
    c->past = t[6]->data;
    c->table = t[7]->data;

    /* Rotary tables [max_position, R/2], 2 <= R <= D. */
    if (c->rotary) {
        if (c->cos->dims[0] != c->sin->dims[0] || c->cos->dims[1] != c->sin->dims[1])
            return ocs_fail(err, OCS_ERR_INVALID, "PagedAttention: cos_cache %s and sin_cache %s differ in shape",
                            ocs_shape_str(2, c->cos->dims, s1, sizeof s1), ocs_shape_str(2, c->sin->dims, s2, sizeof s2));
        c->half = c->cos->dims[1];
        c->max_pos = c->cos->dims[0];
        if (c->half == 0 || c->half > c->D / 2)   /* 2*half > D, without overflow */
            return ocs_fail(err, OCS_ERR_INVALID,
                            "PagedAttention: rotary_dim 2*cos_cache.shape[1] = %lld must be in [2, head_size %lld]",
                            (long long)(2 * (uint64_t)c->half), (long long)c->D);
    }
    return OCS_OK;
}

static int pa_write_cmp(const void *x, const void *y)
{
    const ocs_pa_write *a = x, *b = y;
    if (a->slot != b->slot)
        return a->slot < b->slot ? -1 : 1;
    return a->token < b->token ? -1 : a->token > b->token;
}

int64_t ocs_pa_seq_of(const ocs_pa_dims *c, int64_t t)
{
    int64_t lo = 0, hi = c->B;   /* first b with cu[b+1] > t */
    while (lo < hi) {
        const int64_t mid = lo + (hi - lo) / 2;
        if (c->cu[mid + 1] > t)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* The values of the metadata: lengths, capacity, block ids, rotary positions, then the written slots. */
static ocs_status call_metadata(const ocs_pa_dims *c, ocs_pa_write **writes, ocs_err *err)
{
    if (c->cu[0] != 0)
        return ocs_fail(err, OCS_ERR_INVALID, "PagedAttention: cumulative_sequence_length[0] is %d; it must be 0",
                        (int)c->cu[0]);
    for (int64_t b = 0; b < c->B; b++)
        if (c->cu[b + 1] < c->cu[b])
            return ocs_fail(err, OCS_ERR_INVALID,
                            "PagedAttention: cumulative_sequence_length decreases at sequence %lld (%d then %d)",
                            (long long)b, (int)c->cu[b], (int)c->cu[b + 1]);
    if (c->cu[c->B] != c->T)
        return ocs_fail(err, OCS_ERR_INVALID,
                        "PagedAttention: cumulative_sequence_length ends at %d but query has %lld tokens",
                        (int)c->cu[c->B], (long long)c->T);
    /* positions a block-table row holds (saturated: MB is unbounded when B = 0) */
    const int64_t capacity = c->MB > INT64_MAX / c->BS ? INT64_MAX : c->MB * c->BS;
    for (int64_t b = 0; b < c->B; b++) {
        const int64_t past = c->past[b], n = (int64_t)c->cu[b + 1] - c->cu[b];
        if (past < 0)
            return ocs_fail(err, OCS_ERR_INVALID, "PagedAttention: past_seqlens[%lld] = %lld is negative",
                            (long long)b, (long long)past);
        if (past + n > capacity)
            return ocs_fail(err, OCS_ERR_INVALID,
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
                return ocs_fail(err, OCS_ERR_INVALID,
                                "PagedAttention: block_table[%lld][%lld] = %lld (positions %lld..%lld of sequence "
                                "%lld) is outside [0, num_blocks %lld)",
                                (long long)b, (long long)k, (long long)id, (long long)(k * c->BS),
                                (long long)((k + 1) * c->BS - 1), (long long)b, (long long)c->NB);
        }
        if (c->rotary && past + n > c->max_pos)
            return ocs_fail(err, OCS_ERR_INVALID,
                            "PagedAttention: sequence %lld needs rotary position %lld but cos_cache/sin_cache have "
                            "%lld rows",
                            (long long)b, (long long)(past + n - 1), (long long)c->max_pos);
    }
    if (c->T == 0)
        return OCS_OK;

    /* Written slots, sorted (memory proportional to the new tokens, not to the cache); the first token
     * (in token order) that writes an already written slot is reported with the slot's first writer, as
     * a scan in token order would find them. */
    ocs_pa_write *w = malloc((size_t)c->T * sizeof *w);
    if (!w)
        return ocs_fail(err, OCS_ERR_NOMEM, "PagedAttention: out of memory for %lld written slots", (long long)c->T);
    for (int64_t b = 0; b < c->B; b++)
        for (int64_t t = c->cu[b]; t < c->cu[b + 1]; t++) {
            const int64_t p = c->past[b] + (t - c->cu[b]);
            const int64_t block = c->table[b * c->MB + p / c->BS];
            w[t].slot = (uint64_t)(block * c->BS + p % c->BS);
            w[t].token = t;
        }
    qsort(w, (size_t)c->T, sizeof *w, pa_write_cmp);
    int64_t bad = -1, first = -1;
    for (int64_t i = 1; i < c->T; i++)
        if (w[i].slot == w[i - 1].slot && (i < 2 || w[i - 2].slot != w[i].slot) && (bad < 0 || w[i].token < bad)) {
            bad = w[i].token;
            first = w[i - 1].token;
        }
    if (bad >= 0) {
        const int64_t b0 = ocs_pa_seq_of(c, first), b1 = ocs_pa_seq_of(c, bad);
        const int64_t p1 = c->past[b1] + (bad - c->cu[b1]);
        const int64_t block = c->table[b1 * c->MB + p1 / c->BS];
        free(w);
        return ocs_fail(err, OCS_ERR_INVALID,
                        "PagedAttention: tokens %lld (sequence %lld, position %lld) and %lld (sequence %lld, "
                        "position %lld) both write cache slot %zu (block %lld, offset %lld)",
                        (long long)first, (long long)b0, (long long)(c->past[b0] + first - c->cu[b0]), (long long)bad,
                        (long long)b1, (long long)p1, (size_t)(block * c->BS + p1 % c->BS), (long long)block,
                        (long long)(p1 % c->BS));
    }
    if (writes)
        *writes = w;
    else
        free(w);
    return OCS_OK;
}

ocs_status ocs_paged_attention_check(const ocs_node *n, size_t n_in, const ocs_tensor *const *in, ocs_pa_dims *out,
                                     ocs_pa_write **writes, ocs_err *err)
{
    const ocs_tensor *t[10];
    for (size_t i = 0; i < 10; i++)
        t[i] = i < n_in ? in[i] : NULL;
    memset(out, 0, sizeof *out);
    if (writes)
        *writes = NULL;
    ocs_status st;
    if ((st = call_attrs(n, out, err)) != OCS_OK || (st = call_shapes(t, out, err)) != OCS_OK)
        return st;
    return call_metadata(out, writes, err);
}
