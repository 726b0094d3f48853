/*
 * backends/cuda/paged_attention.c - PagedAttention (ai.onnx.preview, 1) on
 * the CUDA backend: validation, the work plan, and the run.  Semantics and
 * errors are those of the reference kernel (reference/ops/paged_attention.c,
 * DESIGN.md section 4); the kernels are in paged_attention.cu.
 *
 * A run:
 *   1. validation on the host, before anything is copied or launched, in
 *      the reference's order and with its messages.  Duplicate slots are
 *      found by sorting the T written slots (memory proportional to the new
 *      tokens, not to the cache);
 *   2. the inputs go to the device; the cache inputs are copied straight
 *      into the device buffers that become the cache outputs, so the
 *      functional outputs need no extra copy: the host inputs are never
 *      modified, and the device copies are written in place;
 *   3. write, attend and merge kernels (kernels.h): every new key and value
 *      is stored first, then attention reads the written caches, exactly the
 *      reference's order (a token that writes a slot another sequence reads
 *      as past is seen by that sequence);
 *   4. the output, and each cache output that is wanted, come back; the
 *      stream is synchronised and checked before returning.
 * A call with no new tokens never touches the device: its outputs are the
 * inputs' copies and an empty output.
 *
 * In place: at the device level (ocs_cuda_pa_stage / ocs_cuda_pa_launch, what
 * an engine that keeps its cache on the device would call) the caches are
 * updated in place; the functional outputs come from giving the kernels a
 * copy, which is what step 2 does.
 */
#include "cuda.h"
#include "host.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const names[10] = {"query", "key", "value", "key_cache", "value_cache",
                                      "cumulative_sequence_length", "past_seqlens", "block_table",
                                      "cos_cache", "sin_cache"};

static const ocs_tensor *input(const ocs_kernel_args *a, size_t i)
{
    return i < a->n_inputs ? a->inputs[i] : NULL;
}

/* ---- validation: the reference's checks, order and messages ------------------------------------ */

static ocs_status read_attrs(ocs_kernel_args *a, ocs_cuda_pa_call *c)
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
        return ocs_fail(a->err, OCS_ERR_INVALID,
                        "PagedAttention: num_heads %lld and kv_num_heads %lld must be positive", (long long)c->H,
                        (long long)c->Hkv);
    if (c->H % c->Hkv != 0)
        return ocs_fail(a->err, OCS_ERR_INVALID,
                        "PagedAttention: num_heads %lld is not a multiple of kv_num_heads %lld", (long long)c->H,
                        (long long)c->Hkv);
    if (c->W != -1 && c->W < 1)
        return ocs_fail(a->err, OCS_ERR_INVALID,
                        "PagedAttention: local_window_size must be -1 (no window) or >= 1, got %lld",
                        (long long)c->W);
    if (c->rotary != 0 && c->rotary != 1)
        return ocs_fail(a->err, OCS_ERR_INVALID, "PagedAttention: do_rotary must be 0 or 1, got %lld",
                        (long long)c->rotary);
    if (c->interleaved != 0 && c->interleaved != 1)
        return ocs_fail(a->err, OCS_ERR_INVALID, "PagedAttention: rotary_interleaved must be 0 or 1, got %lld",
                        (long long)c->interleaved);
    c->G = c->H / c->Hkv;
    c->scale = scale;
    c->softcap = softcap;
    return OCS_OK;
}

/* heads * D, or -1 when it overflows. */
static int64_t width_of(int64_t heads, int64_t D)
{
    return heads < 0 || heads > INT64_MAX / D ? -1 : heads * D;
}

static ocs_status check_shapes(ocs_kernel_args *a, ocs_cuda_pa_call *c, const ocs_tensor **t)
{
    for (size_t i = 0; i < 8; i++)
        if (i != 1 && i != 2 && !input(a, i))
            return ocs_fail(a->err, OCS_ERR_INVALID, "PagedAttention: input %zu (%s) is required", i, names[i]);
    for (size_t i = 0; i < 10; i++)
        t[i] = input(a, i);
    if (!t[1] != !t[2])
        return ocs_fail(a->err, OCS_ERR_INVALID,
                        "PagedAttention: key and value must be both present or both absent (packed QKV); only %s "
                        "is given",
                        t[1] ? "key" : "value");
    if (!t[8] != !t[9])
        return ocs_fail(a->err, OCS_ERR_INVALID,
                        "PagedAttention: cos_cache and sin_cache must be both present or both absent; only %s is "
                        "given",
                        t[8] ? "cos_cache" : "sin_cache");
    if (c->rotary && !t[8])
        return ocs_fail(a->err, OCS_ERR_INVALID, "PagedAttention: do_rotary = 1 needs cos_cache and sin_cache");
    c->packed = !t[1];

    const ocs_dtype T = t[0]->dtype;
    if (T != OCS_FLOAT && T != OCS_FLOAT16 && T != OCS_BFLOAT16)
        return ocs_fail(a->err, OCS_ERR_INVALID,
                        "PagedAttention: input 0 (query) has type %s; T must be float, float16 or bfloat16",
                        ocs_dtype_name(T));
    for (size_t i = 1; i < 10; i++) {
        if (!t[i])
            continue;
        if (i >= 5 && i <= 7 && t[i]->dtype != OCS_INT32)
            return ocs_fail(a->err, OCS_ERR_INVALID, "PagedAttention: input %zu (%s) must be INT32, it is %s", i,
                            names[i], ocs_dtype_name(t[i]->dtype));
        if ((i < 5 || i > 7) && t[i]->dtype != T)
            return ocs_fail(a->err, OCS_ERR_INVALID,
                            "PagedAttention: input %zu (%s) has type %s but T is bound to %s (query's type)", i,
                            names[i], ocs_dtype_name(t[i]->dtype), ocs_dtype_name(T));
    }
    c->dt = T;
    c->es = ocs_dtype_size(T);

    static const int ranks[10] = {2, 2, 2, 4, 4, 1, 1, 2, 2, 2};
    for (size_t i = 0; i < 10; i++)
        if (t[i] && t[i]->rank != ranks[i])
            return ocs_fail(a->err, OCS_ERR_INVALID, "PagedAttention: input %zu (%s) must be %d-D, got rank %d", i,
                            names[i], ranks[i], t[i]->rank);

    const ocs_tensor *kc = t[3], *vc = t[4];
    char s1[128], s2[128];
    for (int d = 0; d < 4; d++)
        if (kc->dims[d] != vc->dims[d])
            return ocs_fail(a->err, OCS_ERR_INVALID,
                            "PagedAttention: key_cache and value_cache differ in shape (%s vs %s)",
                            ocs_shape_str(4, kc->dims, s1, sizeof s1), ocs_shape_str(4, vc->dims, s2, sizeof s2));
    if (kc->dims[2] != c->Hkv)
        return ocs_fail(a->err, OCS_ERR_INVALID,
                        "PagedAttention: dimension 2 of key_cache is %lld, not kv_num_heads %lld",
                        (long long)kc->dims[2], (long long)c->Hkv);
    for (int d = 0; d < 4; d++)
        if (kc->dims[d] == 0)
            return ocs_fail(a->err, OCS_ERR_INVALID,
                            "PagedAttention: key_cache %s has a zero dimension %d (num_blocks, block_size and "
                            "head_size must be >= 1)",
                            ocs_shape_str(4, kc->dims, s1, sizeof s1), d);
    c->NB = kc->dims[0];
    c->BS = kc->dims[1];
    c->D = kc->dims[3];

    c->T = t[0]->dims[0];
    const int64_t qheads = !c->packed ? c->H : c->Hkv > (INT64_MAX - c->H) / 2 ? -1 : c->H + 2 * c->Hkv;
    const int64_t qwidth = width_of(qheads, c->D), kvwidth = width_of(c->Hkv, c->D);
    if (qwidth < 0 || t[0]->dims[1] != qwidth)
        return ocs_fail(a->err, OCS_ERR_INVALID,
                        "PagedAttention: query width %lld is not %s*head_size = %lld (head_size %lld from the "
                        "caches)",
                        (long long)t[0]->dims[1], c->packed ? "(num_heads + 2*kv_num_heads)" : "num_heads",
                        (long long)qwidth, (long long)c->D);
    c->qwidth = qwidth;
    for (size_t i = 1; i <= 2 && !c->packed; i++) {
        if (kvwidth < 0 || t[i]->dims[1] != kvwidth)
            return ocs_fail(a->err, OCS_ERR_INVALID,
                            "PagedAttention: %s width %lld is not kv_num_heads*head_size = %lld (head_size %lld)",
                            names[i], (long long)t[i]->dims[1], (long long)kvwidth, (long long)c->D);
        if (t[i]->dims[0] != c->T)
            return ocs_fail(a->err, OCS_ERR_INVALID, "PagedAttention: %s has %lld tokens but query has %lld",
                            names[i], (long long)t[i]->dims[0], (long long)c->T);
    }

    c->B = t[6]->dims[0];
    if (t[5]->dims[0] != c->B + 1)
        return ocs_fail(a->err, OCS_ERR_INVALID,
                        "PagedAttention: cumulative_sequence_length has %lld entries; expected batch_size + 1 = %lld",
                        (long long)t[5]->dims[0], (long long)(c->B + 1));
    if (t[7]->dims[0] != c->B)
        return ocs_fail(a->err, OCS_ERR_INVALID,
                        "PagedAttention: block_table has %lld rows; expected batch_size %lld",
                        (long long)t[7]->dims[0], (long long)c->B);
    c->MB = t[7]->dims[1];
    c->cu = t[5]->data;
    c->past = t[6]->data;
    c->table = t[7]->data;

    if (c->rotary) {
        const ocs_tensor *cs = t[8], *sn = t[9];
        if (cs->dims[0] != sn->dims[0] || cs->dims[1] != sn->dims[1])
            return ocs_fail(a->err, OCS_ERR_INVALID, "PagedAttention: cos_cache %s and sin_cache %s differ in shape",
                            ocs_shape_str(2, cs->dims, s1, sizeof s1), ocs_shape_str(2, sn->dims, s2, sizeof s2));
        c->half = cs->dims[1];
        c->max_pos = cs->dims[0];
        if (c->half == 0 || 2 * c->half > c->D)
            return ocs_fail(a->err, OCS_ERR_INVALID,
                            "PagedAttention: rotary_dim 2*cos_cache.shape[1] = %lld must be in [2, head_size %lld]",
                            (long long)(2 * c->half), (long long)c->D);
    }
    return OCS_OK;
}

/* A written slot and its token. */
typedef struct pa_write {
    int64_t slot, token;
} pa_write;

static int write_cmp(const void *x, const void *y)
{
    const pa_write *a = x, *b = y;
    if (a->slot != b->slot)
        return a->slot < b->slot ? -1 : 1;
    return a->token < b->token ? -1 : a->token > b->token;
}

/* The sequence holding packed token t (cu is valid: non-decreasing, from 0 to T). */
static int64_t seq_of(const ocs_cuda_pa_call *c, int64_t t)
{
    int64_t lo = 0, hi = c->B;
    while (lo < hi) {
        const int64_t mid = lo + (hi - lo) / 2;
        if (c->cu[mid + 1] > t)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

static ocs_status check_metadata(ocs_kernel_args *a, ocs_cuda_pa_call *c)
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
            continue;
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
    if (c->T == 0)
        return OCS_OK;

    /* slots and positions of the new tokens; two writes to one slot are an error, reported as a scan in
     * token order finds it: the first token that writes an already written slot, with that slot's first
     * writer */
    pa_write *w = malloc((size_t)c->T * sizeof *w);
    c->slot = malloc((size_t)c->T * sizeof *c->slot);
    c->pos = malloc((size_t)c->T * sizeof *c->pos);
    if (!w || !c->slot || !c->pos) {
        free(w);
        return ocs_fail(a->err, OCS_ERR_NOMEM, "PagedAttention: out of memory for %lld written slots",
                        (long long)c->T);
    }
    for (int64_t b = 0; b < c->B; b++)
        for (int64_t t = c->cu[b]; t < c->cu[b + 1]; t++) {
            const int64_t p = c->past[b] + (t - c->cu[b]);
            const int64_t block = c->table[b * c->MB + p / c->BS];
            w[t].slot = block * c->BS + p % c->BS;
            w[t].token = t;
            c->slot[t] = w[t].slot;
            c->pos[t] = (int32_t)(p > INT32_MAX ? INT32_MAX : p);
        }
    qsort(w, (size_t)c->T, sizeof *w, write_cmp);
    int64_t bad = -1, first = -1;
    for (int64_t i = 1; i < c->T; i++)
        if (w[i].slot == w[i - 1].slot && (i < 2 || w[i - 2].slot != w[i].slot) && (bad < 0 || w[i].token < bad)) {
            bad = w[i].token;
            first = w[i - 1].token;
        }
    free(w);
    if (bad >= 0) {
        const int64_t b0 = seq_of(c, first), b1 = seq_of(c, bad);
        const int64_t p1 = c->past[b1] + (bad - c->cu[b1]);
        const int64_t block = c->table[b1 * c->MB + p1 / c->BS];
        return ocs_fail(a->err, OCS_ERR_INVALID,
                        "PagedAttention: tokens %lld (sequence %lld, position %lld) and %lld (sequence %lld, "
                        "position %lld) both write cache slot %zu (block %lld, offset %lld)",
                        (long long)first, (long long)b0, (long long)(c->past[b0] + first - c->cu[b0]),
                        (long long)bad, (long long)b1, (long long)p1, (size_t)(block * c->BS + p1 % c->BS),
                        (long long)block, (long long)(p1 % c->BS));
    }
    return OCS_OK;
}

/* What the kernels index with 32-bit integers must fit; a valid call beyond that is unsupported. */
static ocs_status check_ranges(ocs_kernel_args *a, const ocs_cuda_pa_call *c)
{
    int64_t longest = 0, rows = 0;
    for (int64_t b = 0; b < c->B; b++) {
        const int64_t n = (int64_t)c->cu[b + 1] - c->cu[b];
        if (n > 0 && c->past[b] + n > longest)
            longest = c->past[b] + n;
        if (n * c->G > rows)
            rows = n * c->G;
    }
    if (longest > INT32_MAX || rows > INT32_MAX || c->H * c->D > INT32_MAX || c->BS > INT32_MAX ||
        c->MB > INT32_MAX || c->Hkv > 65535 || c->half > INT32_MAX)
        return ocs_fail(a->err, OCS_ERR_UNSUPPORTED,
                        "PagedAttention: the cuda backend indexes positions, heads and rows with 32 bits and at "
                        "most 65535 KV heads (longest sequence %lld, %lld query rows in one sequence, "
                        "num_heads*head_size %lld, kv_num_heads %lld)",
                        (long long)longest, (long long)rows, (long long)(c->H * c->D), (long long)c->Hkv);
    return OCS_OK;
}

ocs_status ocs_cuda_pa_validate(ocs_kernel_args *a, ocs_cuda_pa_call *c)
{
    memset(c, 0, sizeof *c);
    if (a->n_inputs > 10)
        return ocs_fail(a->err, OCS_ERR_INVALID, "%s takes at most %zu inputs, the node has %zu", a->node->op_type,
                        (size_t)10, a->n_inputs);
    if (!input(a, 0))
        return ocs_fail(a->err, OCS_ERR_INVALID, "%s requires input %zu, which is missing", a->node->op_type,
                        (size_t)0);
    const ocs_tensor *t[10];
    ocs_status st;
    if ((st = read_attrs(a, c)) != OCS_OK || (st = check_shapes(a, c, t)) != OCS_OK ||
        (st = check_metadata(a, c)) != OCS_OK || (st = check_ranges(a, c)) != OCS_OK) {
        ocs_cuda_pa_call_free(c);
        return st;
    }
    if (c->scale == 0.0f)
        c->scale = (float)(1.0 / sqrt((double)c->D));
    return OCS_OK;
}

void ocs_cuda_pa_call_free(ocs_cuda_pa_call *c)
{
    free(c->slot);
    free(c->pos);
    c->slot = NULL;
    c->pos = NULL;
}

/* ---- kernel choice and plan ---------------------------------------------------------------------- */

static size_t attend_smem(int rows, int64_t D)
{
    return (size_t)rows * ((size_t)D + OCS_CUDA_PA_PART + 6) * sizeof(float);
}

int ocs_cuda_pa_choose(size_t es, int64_t D, size_t smem_limit, ocs_cuda_pa_cfg *cfg)
{
    if (D < 1 || D > 65536 || (es != 2 && es != 4))
        return 0;
    const int vec = ((size_t)D * es) % 16 == 0 ? (int)(16 / es) : 1;
    const int64_t nch = D / vec;
    int gs = 1;
    while (gs < 32 && gs < nch)
        gs <<= 1;
    const int64_t need = (nch + gs - 1) / gs;
    int cpl = 1;
    while (cpl < need)
        cpl <<= 1;
    if (cpl > (vec == 1 ? 8 : 4))
        return 0;
    int rows = cpl >= 8 ? 1 : 8 / cpl;
    while (rows > 1 && attend_smem(rows, D) > 48 * 1024)
        rows /= 2;
    if (attend_smem(rows, D) > smem_limit)
        return 0;
    cfg->vec = vec;
    cfg->cpl = cpl;
    cfg->gs = gs;
    cfg->rows_cap = rows;
    cfg->smem = attend_smem(rows, D);
    return 1;
}

static int64_t key_lo(int64_t W, int64_t p)
{
    return W >= 1 && p - W + 1 > 0 ? p - W + 1 : 0;
}

ocs_status ocs_cuda_pa_plan_make(int64_t B, const int32_t *cu, const int32_t *past, int64_t G, int64_t W,
                                 int rows_cap, int part, ocs_cuda_pa_plan *p, ocs_err *err)
{
    memset(p, 0, sizeof *p);
    if (rows_cap < 1 || part < 1 || G < 1)
        return ocs_fail(err, OCS_ERR_INVALID, "PagedAttention plan: rows_cap %d, part %d, G %lld", rows_cap, part,
                        (long long)G);
    /* count */
    size_t n_items = 0, n_merges = 0, n_parts = 0;
    for (int64_t b = 0; b < B; b++) {
        const int64_t rows = ((int64_t)cu[b + 1] - cu[b]) * G;
        for (int64_t r0 = 0; r0 < rows; r0 += rows_cap) {
            const int64_t nr = rows - r0 < rows_cap ? rows - r0 : rows_cap;
            const int64_t klo = key_lo(W, past[b] + r0 / G), khi = past[b] + (r0 + nr - 1) / G + 1;
            const size_t np = (size_t)((khi - klo + part - 1) / part);
            n_items += np;
            if (np > 1) {
                n_merges++;
                n_parts += np;
            }
        }
    }
    if (n_items > INT32_MAX || n_merges > INT32_MAX || n_parts > INT32_MAX)
        return ocs_fail(err, OCS_ERR_UNSUPPORTED, "PagedAttention: %zu work items are more than one launch holds",
                        n_items);
    if (n_items == 0)
        return OCS_OK;
    p->items = malloc(n_items * sizeof *p->items);
    p->merges = n_merges ? malloc(n_merges * sizeof *p->merges) : NULL;
    if (!p->items || (n_merges && !p->merges)) {
        ocs_cuda_pa_plan_free(p);
        return ocs_fail(err, OCS_ERR_NOMEM, "PagedAttention: out of memory for %zu work items", n_items);
    }
    /* fill */
    size_t it = 0, mg = 0, pt = 0;
    for (int64_t b = 0; b < B; b++) {
        const int64_t rows = ((int64_t)cu[b + 1] - cu[b]) * G;
        for (int64_t r0 = 0; r0 < rows; r0 += rows_cap) {
            const int64_t nr = rows - r0 < rows_cap ? rows - r0 : rows_cap;
            const int64_t klo = key_lo(W, past[b] + r0 / G), khi = past[b] + (r0 + nr - 1) / G + 1;
            const int64_t np = (khi - klo + part - 1) / part;
            if (np > 1)
                p->merges[mg++] = (ocs_cuda_pa_mergeitem){(int32_t)b, (int32_t)r0, (int32_t)nr, (int32_t)pt,
                                                          (int32_t)np};
            for (int64_t q = 0; q < np; q++) {
                const int64_t k0 = klo + q * part, k1 = k0 + part < khi ? k0 + part : khi;
                p->items[it++] = (ocs_cuda_pa_item){(int32_t)b, (int32_t)r0, (int32_t)nr, (int32_t)k0, (int32_t)k1,
                                                    np > 1 ? (int32_t)(pt + (size_t)q) : -1};
            }
            if (np > 1)
                pt += (size_t)np;
        }
    }
    p->n_items = it;
    p->n_merges = mg;
    p->n_parts = pt;
    return OCS_OK;
}

void ocs_cuda_pa_plan_free(ocs_cuda_pa_plan *p)
{
    free(p->items);
    free(p->merges);
    memset(p, 0, sizeof *p);
}

/* ---- device level --------------------------------------------------------------------------------- */

static int onnx_code(ocs_dtype t)
{
    return (int)t;   /* the kernels take TensorProto codes, which ocs_dtype equals */
}

ocs_status ocs_cuda_pa_stage(ocs_cuda *c, const ocs_cuda_pa_call *call, const ocs_cuda_pa_dev *d,
                             ocs_cuda_pa_args *args, ocs_err *err)
{
    ocs_status st;
    ocs_cuda_pa_cfg cfg;
    memset(args, 0, sizeof *args);
    if (!ocs_cuda_pa_choose(call->es, call->D, c->smem_optin, &cfg) ||
        !ocs_cuda_pa_have_variant(onnx_code(call->dt), cfg.vec, cfg.cpl))
        return ocs_fail(err, OCS_ERR_UNSUPPORTED,
                        "PagedAttention: the cuda backend has no kernel for head_size %lld with %s elements",
                        (long long)call->D, ocs_dtype_name(call->dt));
    ocs_cuda_pa_plan plan;
    if ((st = ocs_cuda_pa_plan_make(call->B, call->cu, call->past, call->G, call->W, cfg.rows_cap,
                                    OCS_CUDA_PA_PART, &plan, err)) != OCS_OK)
        return st;

    /* scratch: rotated queries, slots, positions, items, merges, partials */
    const size_t T = (size_t)call->T, HD = (size_t)(call->H * call->D);
    const size_t part_rows = plan.n_parts * (size_t)call->Hkv * (size_t)cfg.rows_cap;
    ocs_cuda_carver cv = {NULL, 0, 0};
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            if (cv.overflow) {
                ocs_cuda_pa_plan_free(&plan);
                return ocs_fail(err, OCS_ERR_NOMEM, "PagedAttention: scratch size overflows");
            }
            if ((st = ocs_cuda_buf_reserve(&c->scratch, cv.used, err)) != OCS_OK) {
                ocs_cuda_pa_plan_free(&plan);
                return st;
            }
            cv = (ocs_cuda_carver){c->scratch.ptr, 0, 0};
        }
        args->qrot = ocs_cuda_carve(&cv, call->rotary ? T * HD : 0, call->es);
        args->slot = ocs_cuda_carve(&cv, T, sizeof(int64_t));
        args->pos = ocs_cuda_carve(&cv, T, sizeof(int32_t));
        args->items = ocs_cuda_carve(&cv, plan.n_items, sizeof(ocs_cuda_pa_item));
        args->merges = ocs_cuda_carve(&cv, plan.n_merges, sizeof(ocs_cuda_pa_mergeitem));
        args->pm = ocs_cuda_carve(&cv, part_rows, sizeof(float));
        args->pl = ocs_cuda_carve(&cv, part_rows, sizeof(float));
        args->pacc = ocs_cuda_carve(&cv, part_rows > SIZE_MAX / (size_t)call->D ? SIZE_MAX : part_rows * (size_t)call->D,
                                    sizeof(float));
    }
    cudaStream_t s = c->stream;
    if ((st = ocs_cuda_poison(c, args->pm, part_rows * sizeof(float), err)) != OCS_OK ||
        (st = ocs_cuda_poison(c, args->pl, part_rows * sizeof(float), err)) != OCS_OK ||
        (st = ocs_cuda_poison(c, args->pacc, part_rows * (size_t)call->D * sizeof(float), err)) != OCS_OK ||
        (call->rotary && (st = ocs_cuda_poison(c, args->qrot, T * HD * call->es, err)) != OCS_OK)) {
        ocs_cuda_pa_plan_free(&plan);
        return st;
    }
    if ((T && ((st = OCS_CU(cudaMemcpyAsync((void *)args->slot, call->slot, T * sizeof(int64_t),
                                            cudaMemcpyHostToDevice, s))) != OCS_OK ||
               (st = OCS_CU(cudaMemcpyAsync((void *)args->pos, call->pos, T * sizeof(int32_t), cudaMemcpyHostToDevice,
                                            s))) != OCS_OK)) ||
        (plan.n_items && (st = OCS_CU(cudaMemcpyAsync((void *)args->items, plan.items,
                                                      plan.n_items * sizeof(ocs_cuda_pa_item),
                                                      cudaMemcpyHostToDevice, s))) != OCS_OK) ||
        (plan.n_merges && (st = OCS_CU(cudaMemcpyAsync((void *)args->merges, plan.merges,
                                                       plan.n_merges * sizeof(ocs_cuda_pa_mergeitem),
                                                       cudaMemcpyHostToDevice, s))) != OCS_OK)) {
        ocs_cuda_pa_plan_free(&plan);
        return st;
    }

    args->dtype = onnx_code(call->dt);
    args->H = (int)call->H;
    args->Hkv = (int)call->Hkv;
    args->G = (int)call->G;
    args->D = (int)call->D;
    args->BS = (int)call->BS;
    args->MB = (int)call->MB;
    args->W = call->W >= 1 ? (int)(call->W > INT32_MAX ? INT32_MAX : call->W) : 0;
    args->scale = call->scale;
    args->softcap = call->softcap;
    args->rotary = (int)call->rotary;
    args->interleaved = (int)call->interleaved;
    args->half = (int)call->half;
    args->T = (int)call->T;
    args->vec = cfg.vec;
    args->cpl = cfg.cpl;
    args->gs = cfg.gs;
    args->rows_cap = cfg.rows_cap;
    args->smem = cfg.smem;
    const size_t es = call->es;
    args->qsrc = d->query;
    args->qsrc_stride = call->qwidth;
    if (call->rotary) {
        args->q = args->qrot;
        args->q_stride = (int64_t)HD;
    } else {
        args->q = d->query;
        args->q_stride = call->qwidth;
    }
    if (call->packed) {
        args->ksrc = (const char *)d->query + (size_t)(call->H * call->D) * es;
        args->vsrc = (const char *)d->query + (size_t)((call->H + call->Hkv) * call->D) * es;
        args->kv_stride = call->qwidth;
    } else {
        args->ksrc = d->key;
        args->vsrc = d->value;
        args->kv_stride = call->Hkv * call->D;
    }
    args->kcache = d->kcache;
    args->vcache = d->vcache;
    args->cu = d->cu;
    args->past = d->past;
    args->table = d->table;
    args->cos = d->cos;
    args->sin = d->sin;
    args->out = d->out;
    args->n_items = (int)plan.n_items;
    args->n_merges = (int)plan.n_merges;
    ocs_cuda_pa_plan_free(&plan);
    return OCS_OK;
}

ocs_status ocs_cuda_pa_launch(ocs_cuda *c, const ocs_cuda_pa_args *args, ocs_err *err)
{
    ocs_status st;
    if ((st = OCS_CU(ocs_cuda_pa_write(args, c->stream))) != OCS_OK ||
        (st = OCS_CU(ocs_cuda_pa_attend(args, c->stream))) != OCS_OK ||
        (st = OCS_CU(ocs_cuda_pa_merge(args, c->stream))) != OCS_OK)
        return st;
    return OCS_OK;
}

/* ---- the backend's entry points -------------------------------------------------------------------- */

int ocs_cuda_pa_supports(ocs_cuda *c, const ocs_node *n, int64_t since_version, size_t n_in,
                         const ocs_tensor_type *in)
{
    (void)c;
    (void)n;
    (void)n_in;
    (void)in;
    /* every node of version 1: bad inputs get the reference's errors from run */
    return since_version == 1;
}

ocs_status ocs_cuda_pa_prepare(ocs_cuda *c, const ocs_node *n, void **state, ocs_err *err)
{
    (void)c;
    (void)n;
    (void)err;
    *state = NULL;
    return OCS_OK;
}

void ocs_cuda_pa_release(void *state)
{
    (void)state;
}

/* Uploads n bytes of host data to a carved device pointer (nothing when n is 0). */
static ocs_status upload(ocs_cuda *c, void *dst, const void *src, size_t n, ocs_err *err)
{
    if (!n)
        return OCS_OK;
    return OCS_CU(cudaMemcpyAsync(dst, src, n, cudaMemcpyHostToDevice, c->stream));
}

static ocs_status download(ocs_cuda *c, void *dst, const void *src, size_t n, ocs_err *err)
{
    if (!n)
        return OCS_OK;
    return OCS_CU(cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToHost, c->stream));
}

ocs_status ocs_cuda_pa_run(ocs_cuda *c, void *state, ocs_kernel_args *a)
{
    (void)state;
    ocs_err *err = a->err;
    ocs_cuda_pa_call call;
    ocs_status st = ocs_cuda_pa_validate(a, &call);
    if (st != OCS_OK)
        return st;
    const ocs_tensor *t[10];
    for (size_t i = 0; i < 10; i++)
        t[i] = input(a, i);
    const int want_k = ocs_kernel_output_wanted(a, 1), want_v = ocs_kernel_output_wanted(a, 2);
    ocs_tensor *out = NULL, *kco = NULL, *vco = NULL;
    const int64_t odims[2] = {call.T, call.H * call.D};
    if ((st = ocs_tensor_new(call.dt, 2, odims, &out, err)) != OCS_OK ||
        (want_k && (st = ocs_tensor_new(call.dt, 4, t[3]->dims, &kco, err)) != OCS_OK) ||
        (want_v && (st = ocs_tensor_new(call.dt, 4, t[4]->dims, &vco, err)) != OCS_OK))
        goto done;

    if (call.T == 0) {
        /* nothing is written or read: the cache outputs are the inputs */
        if (kco)
            memcpy(kco->data, t[3]->data, t[3]->nbytes);
        if (vco)
            memcpy(vco->data, t[4]->data, t[4]->nbytes);
    } else {
        /* device copies of the inputs and of the output */
        ocs_cuda_pa_dev d;
        memset(&d, 0, sizeof d);
        ocs_cuda_carver cv = {NULL, 0, 0};
        for (int pass = 0; pass < 2; pass++) {
            if (pass == 1) {
                if (cv.overflow) {
                    st = ocs_fail(err, OCS_ERR_NOMEM, "PagedAttention: device buffer sizes overflow");
                    goto done;
                }
                if ((st = ocs_cuda_buf_reserve(&c->io, cv.used, err)) != OCS_OK)
                    goto done;
                cv = (ocs_cuda_carver){c->io.ptr, 0, 0};
            }
            d.query = ocs_cuda_carve(&cv, t[0]->nbytes, 1);
            d.key = ocs_cuda_carve(&cv, t[1] ? t[1]->nbytes : 0, 1);
            d.value = ocs_cuda_carve(&cv, t[2] ? t[2]->nbytes : 0, 1);
            d.kcache = ocs_cuda_carve(&cv, t[3]->nbytes, 1);
            d.vcache = ocs_cuda_carve(&cv, t[4]->nbytes, 1);
            d.cu = ocs_cuda_carve(&cv, t[5]->nbytes, 1);
            d.past = ocs_cuda_carve(&cv, t[6]->nbytes, 1);
            d.table = ocs_cuda_carve(&cv, t[7]->nbytes, 1);
            d.cos = ocs_cuda_carve(&cv, call.rotary ? t[8]->nbytes : 0, 1);
            d.sin = ocs_cuda_carve(&cv, call.rotary ? t[9]->nbytes : 0, 1);
            d.out = ocs_cuda_carve(&cv, out->nbytes, 1);
        }
        if (!call.packed) {
            if ((st = upload(c, (void *)d.key, t[1]->data, t[1]->nbytes, err)) != OCS_OK ||
                (st = upload(c, (void *)d.value, t[2]->data, t[2]->nbytes, err)) != OCS_OK)
                goto done;
        } else {
            d.key = d.value = NULL;
        }
        if (call.rotary) {
            if ((st = upload(c, (void *)d.cos, t[8]->data, t[8]->nbytes, err)) != OCS_OK ||
                (st = upload(c, (void *)d.sin, t[9]->data, t[9]->nbytes, err)) != OCS_OK)
                goto done;
        }
        ocs_cuda_pa_args args;
        if ((st = upload(c, (void *)d.query, t[0]->data, t[0]->nbytes, err)) != OCS_OK ||
            (st = upload(c, d.kcache, t[3]->data, t[3]->nbytes, err)) != OCS_OK ||
            (st = upload(c, d.vcache, t[4]->data, t[4]->nbytes, err)) != OCS_OK ||
            (st = upload(c, (void *)d.cu, t[5]->data, t[5]->nbytes, err)) != OCS_OK ||
            (st = upload(c, (void *)d.past, t[6]->data, t[6]->nbytes, err)) != OCS_OK ||
            (st = upload(c, (void *)d.table, t[7]->data, t[7]->nbytes, err)) != OCS_OK ||
            (st = ocs_cuda_poison(c, d.out, out->nbytes, err)) != OCS_OK ||
            (st = ocs_cuda_pa_stage(c, &call, &d, &args, err)) != OCS_OK ||
            (st = ocs_cuda_pa_launch(c, &args, err)) != OCS_OK ||
            (st = download(c, out->data, d.out, out->nbytes, err)) != OCS_OK ||
            (kco && (st = download(c, kco->data, d.kcache, kco->nbytes, err)) != OCS_OK) ||
            (vco && (st = download(c, vco->data, d.vcache, vco->nbytes, err)) != OCS_OK))
            goto done;
        if ((st = OCS_CU(cudaStreamSynchronize(c->stream))) != OCS_OK)
            goto done;
    }
    a->outputs[0] = out;
    out = NULL;
    if (kco) {
        a->outputs[1] = kco;
        kco = NULL;
    }
    if (vco) {
        a->outputs[2] = vco;
        vco = NULL;
    }
done:
    if (st != OCS_OK)
        (void)cudaStreamSynchronize(c->stream);   /* nothing of this call stays in flight */
    ocs_cuda_pa_call_free(&call);
    ocs_tensor_free(out);
    ocs_tensor_free(kco);
    ocs_tensor_free(vco);
    return st;
}
