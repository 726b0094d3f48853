/*
 * conformance/cases/paged_attention.c - ai.onnx.preview PagedAttention:
 * block sizes 1 and 16, five new tokens, head size 40, prefill, decode and
 * mixed batches, sequences with no new tokens (their block-table row is -1
 * filler and must not be read), a batch where nothing is new, prefix
 * sharing (two sequences reading one block), GQA ratios 1, 4 and 8, packed
 * QKV, scale, softcap, local windows W = 1 and W = 3, rotary embedding
 * (half-split, interleaved, partial), and float16/bfloat16.  The cache
 * holds a spare block and the blocks of the past positions, so the
 * functional cache outputs are checked outside the written slots too.
 *
 * Then every error condition of the operator's page, as invalid-input
 * cases: the reference must reject each with its message, and a backend
 * must return an error (not outputs, not a crash).
 */
#include <string.h>

#include "cases.h"
#include "ocs/schema.h"

#define PA_MAX_SEQS 6

typedef struct pa {
    const char *tag;
    int64_t H, Hkv, D, BS;
    int n_seqs;
    int64_t new_tokens[PA_MAX_SEQS];
    int64_t past[PA_MAX_SEQS];
    int packed;
    float scale, softcap;
    int64_t window;               /* 0: attribute absent */
    int rotary;                   /* 0 off, 1 half-split, 2 interleaved */
    int64_t rotary_dim;           /* 0: the whole head */
    int share_prefix;             /* sequences 0 and 1 share their first block */
} pa;

static int64_t gcd(int64_t a, int64_t b)
{
    while (b) {
        int64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

static int64_t ceil_div(int64_t a, int64_t b)
{
    return (a + b - 1) / b;
}

static ocs_case *add(ocs_case_list *l, const pa *p, ocs_dtype t)
{
    ocs_case *c = ocs_case_add(l, OCS_PREVIEW_DOMAIN, "PagedAttention", 1, "paged_attention_%s_%s", p->tag,
                               ocs_cases_type_tag(t));
    if (!c)
        return NULL;
    c->default_opset = 24;
    int B = p->n_seqs;
    int64_t T = 0, max_blocks = 1, max_len = 1;
    int32_t cu[PA_MAX_SEQS + 1];
    cu[0] = 0;
    for (int b = 0; b < B; b++) {
        T += p->new_tokens[b];
        cu[b + 1] = (int32_t)T;
        int64_t len = p->past[b] + p->new_tokens[b];
        if (ceil_div(len, p->BS) > max_blocks)
            max_blocks = ceil_div(len, p->BS);
        if (len > max_len)
            max_len = len;
    }
    /* physical blocks: every live block of every sequence gets its own, in a
     * scrambled order; a sequence with no new tokens keeps -1 filler */
    int64_t table[PA_MAX_SEQS * 64];
    int64_t next = 0, n_live = 0;
    for (int b = 0; b < B; b++)
        for (int64_t k = 0; k < max_blocks; k++)
            table[b * max_blocks + k] = -1;
    for (int b = 0; b < B; b++) {
        int64_t len = p->past[b] + p->new_tokens[b];
        if (p->new_tokens[b] == 0)
            continue;
        for (int64_t k = 0; k < ceil_div(len, p->BS); k++) {
            if (p->share_prefix && b == 1 && k == 0) {
                table[b * max_blocks + k] = table[0 * max_blocks + 0];
                continue;
            }
            table[b * max_blocks + k] = next++;
            n_live++;
        }
    }
    int64_t num_blocks = n_live + 1;   /* one spare block, never written */
    /* scramble: block i -> (i * mul + 2) mod num_blocks, a bijection since gcd(mul, num_blocks) = 1 */
    int64_t mul = 5;
    while (gcd(mul, num_blocks) != 1)
        mul++;
    for (int b = 0; b < B; b++)
        for (int64_t k = 0; k < max_blocks; k++)
            if (table[b * max_blocks + k] >= 0)
                table[b * max_blocks + k] = (table[b * max_blocks + k] * mul + 2) % num_blocks;

    int64_t q_width = p->packed ? (p->H + 2 * p->Hkv) * p->D : p->H * p->D;
    ocs_case_input_uniform(c, "query", t, 2, OCS_DIMS(T, q_width), -1, 1);
    if (p->packed) {
        ocs_case_input_absent(c);
        ocs_case_input_absent(c);
    } else {
        ocs_case_input_uniform(c, "key", t, 2, OCS_DIMS(T, p->Hkv * p->D), -1, 1);
        ocs_case_input_uniform(c, "value", t, 2, OCS_DIMS(T, p->Hkv * p->D), -1, 1);
    }
    ocs_case_input_uniform(c, "key_cache", t, 4, OCS_DIMS(num_blocks, p->BS, p->Hkv, p->D), -1, 1);
    ocs_case_input_uniform(c, "value_cache", t, 4, OCS_DIMS(num_blocks, p->BS, p->Hkv, p->D), -1, 1);
    int64_t cu64[PA_MAX_SEQS + 1];
    for (int b = 0; b <= B; b++)
        cu64[b] = cu[b];
    ocs_case_input_ints(c, "cumulative_sequence_length", OCS_INT32, 1, OCS_DIMS(B + 1), cu64);
    ocs_case_input_ints(c, "past_seqlens", OCS_INT32, 1, OCS_DIMS(B), p->past);
    ocs_case_input_ints(c, "block_table", OCS_INT32, 2, OCS_DIMS(B, max_blocks), table);
    if (p->rotary) {
        int64_t rd = p->rotary_dim ? p->rotary_dim : p->D;
        ocs_case_input_uniform(c, "cos_cache", t, 2, OCS_DIMS(max_len, rd / 2), -1, 1);
        ocs_case_input_uniform(c, "sin_cache", t, 2, OCS_DIMS(max_len, rd / 2), -1, 1);
    }
    ocs_case_output(c, "output", t);
    ocs_case_output(c, "key_cache_out", t);
    ocs_case_output(c, "value_cache_out", t);
    ocs_case_attr_int(c, "num_heads", p->H);
    ocs_case_attr_int(c, "kv_num_heads", p->Hkv);
    if (p->scale != 0)
        ocs_case_attr_float(c, "scale", p->scale);
    if (p->softcap != 0)
        ocs_case_attr_float(c, "softcap", p->softcap);
    if (p->window)
        ocs_case_attr_int(c, "local_window_size", p->window);
    if (p->rotary) {
        ocs_case_attr_int(c, "do_rotary", 1);
        if (p->rotary == 2)
            ocs_case_attr_int(c, "rotary_interleaved", 1);
    }
    return c;
}

/* ---- invalid inputs ---------------------------------------------------------------------- */

typedef struct pa_bad {
    const char *tag;
    const char *message;          /* what the reference's message contains */
    int64_t H, Hkv, D, BS, num_blocks, T;
    int n_seqs;
    int64_t cu[4], past[3];
    int64_t max_blocks;
    int64_t table[3 * 4];
    int key_only;                 /* key present, value absent */
    int64_t rotary_rows;          /* do_rotary with cos/sin of this many rows; 0: off */
    int has_window;
    int64_t window;               /* local_window_size when has_window */
} pa_bad;

static void add_bad(ocs_case_list *l, const pa_bad *e)
{
    ocs_case *c = ocs_case_add(l, OCS_PREVIEW_DOMAIN, "PagedAttention", 1, "paged_attention_error_%s", e->tag);
    if (!c)
        return;
    c->default_opset = 24;
    ocs_case_expect_error(c, e->message);
    int B = e->n_seqs;
    ocs_case_input_uniform(c, "query", OCS_FLOAT, 2, OCS_DIMS(e->T, e->H * e->D), -1, 1);
    ocs_case_input_uniform(c, "key", OCS_FLOAT, 2, OCS_DIMS(e->T, e->Hkv * e->D), -1, 1);
    if (e->key_only)
        ocs_case_input_absent(c);
    else
        ocs_case_input_uniform(c, "value", OCS_FLOAT, 2, OCS_DIMS(e->T, e->Hkv * e->D), -1, 1);
    ocs_case_input_uniform(c, "key_cache", OCS_FLOAT, 4, OCS_DIMS(e->num_blocks, e->BS, e->Hkv, e->D), -1, 1);
    ocs_case_input_uniform(c, "value_cache", OCS_FLOAT, 4, OCS_DIMS(e->num_blocks, e->BS, e->Hkv, e->D), -1, 1);
    ocs_case_input_ints(c, "cumulative_sequence_length", OCS_INT32, 1, OCS_DIMS(B + 1), e->cu);
    ocs_case_input_ints(c, "past_seqlens", OCS_INT32, 1, OCS_DIMS(B), e->past);
    ocs_case_input_ints(c, "block_table", OCS_INT32, 2, OCS_DIMS(B, e->max_blocks), e->table);
    if (e->rotary_rows) {
        ocs_case_input_uniform(c, "cos_cache", OCS_FLOAT, 2, OCS_DIMS(e->rotary_rows, e->D / 2), -1, 1);
        ocs_case_input_uniform(c, "sin_cache", OCS_FLOAT, 2, OCS_DIMS(e->rotary_rows, e->D / 2), -1, 1);
        ocs_case_attr_int(c, "do_rotary", 1);
    }
    ocs_case_output(c, "output", OCS_FLOAT);
    ocs_case_output(c, "key_cache_out", OCS_FLOAT);
    ocs_case_output(c, "value_cache_out", OCS_FLOAT);
    ocs_case_attr_int(c, "num_heads", e->H);
    ocs_case_attr_int(c, "kv_num_heads", e->Hkv);
    if (e->has_window)
        ocs_case_attr_int(c, "local_window_size", e->window);
}

static void pa_errors(ocs_case_list *l)
{
    static const pa_bad bad[] = {
        /* tag, message, H, Hkv, D, BS, blocks, T, B, cu, past, max_blocks, table, key_only, rotary_rows,
         * has_window, window */
        {"heads_not_divisible", "is not a multiple of kv_num_heads", 3, 2, 8, 4, 3, 2, 1, {0, 2}, {1}, 2,
         {0, 1}, 0, 0, 0, 0},
        {"window_zero", "local_window_size", 2, 2, 8, 4, 3, 2, 1, {0, 2}, {1}, 2, {0, 1}, 0, 0, 1, 0},
        {"window_minus2", "local_window_size", 2, 2, 8, 4, 3, 2, 1, {0, 2}, {1}, 2, {0, 1}, 0, 0, 1, -2},
        {"key_without_value", "both present or both absent", 2, 2, 8, 4, 3, 2, 1, {0, 2}, {1}, 2, {0, 1}, 1, 0,
         0, 0},
        {"cu_not_starting_at_0", "cumulative_sequence_length[0]", 2, 2, 8, 4, 4, 3, 2, {1, 2, 3}, {0, 0}, 1,
         {0, 1}, 0, 0, 0, 0},
        {"cu_decreasing", "decreases", 2, 2, 8, 4, 4, 2, 2, {0, 3, 2}, {0, 0}, 1, {0, 1}, 0, 0, 0, 0},
        {"cu_not_ending_at_t", "ends at", 2, 2, 8, 4, 4, 3, 1, {0, 2}, {0}, 1, {0}, 0, 0, 0, 0},
        {"past_negative", "is negative", 2, 2, 8, 4, 4, 2, 1, {0, 2}, {-1}, 1, {0}, 0, 0, 0, 0},
        {"past_plus_new_over_capacity", "block_table row holds", 2, 2, 8, 4, 4, 2, 1, {0, 2}, {7}, 2, {0, 1}, 0,
         0, 0, 0},
        {"block_id_past_num_blocks", "outside [0, num_blocks", 2, 2, 8, 4, 3, 2, 1, {0, 2}, {3}, 2, {0, 3}, 0,
         0, 0, 0},
        {"block_id_filler_on_live_position", "outside [0, num_blocks", 2, 2, 8, 4, 3, 2, 1, {0, 2}, {3}, 2,
         {0, -1}, 0, 0, 0, 0},
        {"two_writes_one_slot", "both write cache slot", 2, 2, 8, 4, 4, 2, 2, {0, 1, 2}, {4, 4}, 2,
         {0, 2, 1, 2}, 0, 0, 0, 0},
        {"rotary_position_beyond_cache", "rotary position", 2, 2, 8, 4, 4, 2, 1, {0, 2}, {5}, 2, {0, 1}, 0, 6,
         0, 0},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        add_bad(l, &bad[i]);
}

void ocs_cases_paged_attention(ocs_case_list *l)
{
    static const pa cases[] = {
        /* tag, H, Hkv, D, BS, n_seqs, new, past, packed, scale, softcap, window, rotary, rd, share */
        {"prefill_5tok_bs16", 4, 4, 16, 16, 1, {5}, {0}, 0, 0, 0, 0, 0, 0, 0},
        {"prefill_5tok_bs1", 4, 4, 16, 1, 1, {5}, {0}, 0, 0, 0, 0, 0, 0, 0},
        {"decode_bs16", 4, 2, 16, 16, 3, {1, 1, 1}, {7, 16, 33}, 0, 0, 0, 0, 0, 0, 0},
        {"decode_bs1", 2, 2, 8, 1, 2, {1, 1}, {4, 11}, 0, 0, 0, 0, 0, 0, 0},
        {"mixed_bs1", 4, 2, 8, 1, 4, {5, 2, 3, 1}, {3, 9, 0, 30}, 0, 0, 0, 0, 0, 0, 0},
        {"mixed_bs16", 4, 2, 16, 16, 4, {5, 2, 3, 1}, {3, 9, 0, 30}, 0, 0, 0, 0, 0, 0, 0},
        {"head40", 2, 2, 40, 16, 2, {5, 1}, {0, 20}, 0, 0, 0, 0, 0, 0, 0},
        {"head40_bs1", 2, 1, 40, 1, 2, {3, 2}, {2, 4}, 0, 0, 0, 0, 0, 0, 0},
        {"empty_sequences", 4, 2, 8, 4, 4, {0, 4, 0, 2}, {5, 2, 0, 7}, 0, 0, 0, 0, 0, 0, 0},
        {"nothing_new", 2, 2, 8, 4, 2, {0, 0}, {3, 0}, 0, 0, 0, 0, 0, 0, 0},
        {"shared_prefix", 2, 2, 8, 4, 2, {2, 3}, {4, 4}, 0, 0, 0, 0, 0, 0, 1},
        {"gqa1", 4, 4, 8, 4, 2, {3, 1}, {2, 6}, 0, 0, 0, 0, 0, 0, 0},
        {"gqa4", 8, 2, 8, 4, 2, {3, 1}, {2, 6}, 0, 0, 0, 0, 0, 0, 0},
        {"gqa8", 8, 1, 8, 4, 2, {3, 1}, {2, 6}, 0, 0, 0, 0, 0, 0, 0},
        {"packed_qkv", 4, 2, 8, 4, 3, {3, 0, 2}, {1, 3, 5}, 1, 0, 0, 0, 0, 0, 0},
        {"packed_qkv_gqa8", 8, 1, 16, 16, 2, {5, 1}, {0, 17}, 1, 0, 0, 0, 0, 0, 0},
        {"scale_0p3", 2, 2, 8, 4, 2, {3, 1}, {2, 6}, 0, 0.3f, 0, 0, 0, 0, 0},
        {"softcap_1p5", 4, 2, 8, 4, 2, {3, 1}, {2, 6}, 0, 0, 1.5f, 0, 0, 0, 0},
        {"softcap_scale", 4, 2, 8, 4, 2, {3, 1}, {2, 6}, 0, 2.0f, 3.0f, 0, 0, 0, 0},
        {"window1", 2, 2, 8, 4, 2, {5, 1}, {0, 9}, 0, 0, 0, 1, 0, 0, 0},
        {"window3", 4, 2, 8, 1, 2, {5, 2}, {4, 9}, 0, 0, 0, 3, 0, 0, 0},
        {"window3_softcap", 4, 1, 8, 16, 2, {5, 1}, {20, 2}, 0, 0, 2.0f, 3, 0, 0, 0},
        {"rotary", 4, 2, 16, 4, 2, {3, 1}, {2, 6}, 0, 0, 0, 0, 1, 0, 0},
        {"rotary_interleaved", 4, 2, 16, 4, 2, {3, 1}, {2, 6}, 0, 0, 0, 0, 2, 0, 0},
        {"rotary_partial", 2, 2, 40, 16, 2, {5, 1}, {0, 20}, 0, 0, 0, 0, 1, 16, 0},
        {"rotary_packed_gqa4", 8, 2, 8, 1, 2, {4, 1}, {0, 5}, 1, 0, 0, 0, 2, 0, 0},
        {"everything", 8, 2, 40, 16, 3, {5, 0, 1}, {17, 4, 31}, 1, 0.2f, 4.0f, 7, 1, 24, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ocs_case *c = add(l, &cases[i], OCS_FLOAT);
        if (!strcmp(cases[i].tag, "nothing_new"))
            ocs_case_xfail(c, "ort", "onnxruntime 1.30 runs PagedAttention through the function body, whose "
                                     "Attention-24 node rejects a query of zero tokens (q_sequence_length 0)");
    }
    static const size_t typed[] = {0, 5, 8, 24};
    for (size_t i = 0; i < sizeof typed / sizeof typed[0]; i++) {
        add(l, &cases[typed[i]], OCS_FLOAT16);
        add(l, &cases[typed[i]], OCS_BFLOAT16);
    }
    pa_errors(l);
}
