/*
 * backends/cpu/paged_attention.c - PagedAttention (ai.onnx.preview, 1) on
 * the CPU backend.  Semantics and errors are those of the reference kernel
 * (reference/ops/paged_attention.c, DESIGN.md section 4); this file is the
 * fast form.
 *
 * Steps of one call:
 *   1. validation: the shared checks of include/ocs/paged_attention.h;
 *   2. a cache output that is wanted is the cache input itself when the
 *      executor donates it (an intermediate value at its last use, see
 *      ocs_kernel_args.donatable), else a parallel memcpy copy of it; the
 *      new (rotated) keys and values are written into it, and attention
 *      then reads it in place.  A cache output that is not wanted is never
 *      materialised: attention reads the cache input for past positions and
 *      the new rows (the key/value inputs, or the rotated keys) for the
 *      call's own positions, unless a new token writes a slot that some
 *      sequence reads as past, in which case a private copy is made as for
 *      a wanted output;
 *   3. attention, flash style: key/value rows are read through the block
 *      table where they lie (no gather of a sequence), tile by tile, with an
 *      online softmax (running max and sum per query row).  The query heads
 *      of a GQA group are processed together, so each key/value row is
 *      loaded once for all of them.
 *        - decode (a sequence with at most PA_DEC_NQ new tokens): one task
 *          covers every KV head of a range of positions, in tiles of PA_DG
 *          slots; the slots are read in address order (all heads of a slot
 *          are adjacent in the cache).  The rows PA_PF_BYTES ahead are
 *          asked for while a tile is computed, a slice per KV head, after
 *          one load from each of their pages (a prefetch that misses the
 *          TLB may be dropped).  When the sequences are too few for the
 *          threads, each context is split across tasks (split-KV) and the
 *          partial results (max, sum, accumulator per row) are merged;
 *        - prefill: one task per (sequence, KV head, PA_PF_ROWS query rows),
 *          heaviest first, in tiles of PA_TK keys: S = Q K^T through the
 *          GEMM micro-kernel on a packed K^T tile, P V through the same
 *          kernel on a copy of the value tile in per-thread scratch (every
 *          value line serves all the rows, and cache rows 4 KiB apart would
 *          share one L1 set).
 *      float16/bfloat16 rows are converted to float32 as they are loaded; all
 *      math is float32 except RoPE, done in double and rounded once to T as
 *      in the reference.
 *
 * Threads: every parallel step runs on the backend's pool (ocs_pool_run).
 * OpenBLAS is not used here (the micro-kernels of pa_kernels.c work on the
 * tiles directly), so its own threads never compete with the pool.
 * Memory: besides the outputs, each pool thread has one scratch buffer
 * (query, accumulator and score tiles of at most a few hundred rows, one
 * key/value tile), kept in the node state across calls; per call, a task
 * list, the split-KV partials and the sorted list of written slots (all
 * proportional to the new tokens, never to the cache), plus the rotated new
 * keys when the key cache output is not wanted.
 */
#include "cpu.h"
#include "pa_kernels.h"
#include "ocs/paged_attention.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define PA_TK 64          /* prefill: key positions per tile */
#define PA_LD 80          /* row stride of the score and packed-key tiles: PA_TK padded to an odd
                             number of cache lines, so that rows do not share L1 sets */
#define PA_PF_ROWS 192    /* prefill: query rows (heads x tokens) per task */
#define PA_DEC_NQ 4       /* sequences with at most this many new tokens take the decode path */
#define PA_DG 16          /* decode: key positions per tile */
#define PA_PF_BYTES ((size_t)128 << 10)  /* decode: key and value bytes asked for ahead of use */
#define PA_PF_TILES 16    /* decode: at most this many tiles ahead */
#define PA_DOT_ROWS 8     /* at most this many rows per KV head: dot products instead of the GEMM */
#define PA_MIN_CHUNK 256  /* fewest positions per split-KV task */
#define PA_COPY_CHUNK ((size_t)1 << 20)

/* ---- state -------------------------------------------------------------------------- */

typedef struct pa_state {
    const ocs_pa_kernels *k;
    size_t threads;
    void **ws;          /* per pool thread scratch, 64-byte aligned */
    size_t *ws_cap;     /* bytes */
} pa_state;

/* ---- the call, resolved by the shared validation (include/ocs/paged_attention.h) ----- */

typedef ocs_pa_dims pa;
typedef ocs_pa_write pa_write;

static const ocs_tensor *input(const ocs_kernel_args *a, size_t i)
{
    return i < a->n_inputs ? a->inputs[i] : NULL;
}

/* Whether a new token writes a slot that some sequence with new tokens reads as a past position. */
static int writes_hit_past(const pa *c, const pa_write *w)
{
    for (int64_t b = 0; b < c->B; b++) {
        const int64_t past = c->past[b];
        if (c->cu[b + 1] == c->cu[b] || past == 0)
            continue;
        for (int64_t k = 0; k * c->BS < past; k++) {
            const uint64_t lo = (uint64_t)(c->table[b * c->MB + k] * c->BS);
            const uint64_t hi = lo + (uint64_t)(past - k * c->BS < c->BS ? past - k * c->BS : c->BS);
            size_t l = 0, h = (size_t)c->T;   /* first write with slot >= lo */
            while (l < h) {
                const size_t m = l + (h - l) / 2;
                if (w[m].slot < lo)
                    l = m + 1;
                else
                    h = m;
            }
            if (l < (size_t)c->T && w[l].slot < hi)
                return 1;
        }
    }
    return 0;
}

/* ---- element helpers ---------------------------------------------------------------- */

static double load_d(ocs_dtype dt, const void *p, size_t i)
{
    switch (dt) {
    case OCS_FLOAT16: return ocs_half_to_float(((const uint16_t *)p)[i]);
    case OCS_BFLOAT16: return ocs_bfloat16_to_float(((const uint16_t *)p)[i]);
    default: return ((const float *)p)[i];
    }
}

static void store_d(ocs_dtype dt, void *p, size_t i, double v)
{
    switch (dt) {
    case OCS_FLOAT16: ((uint16_t *)p)[i] = ocs_double_to_half(v); break;
    case OCS_BFLOAT16: ((uint16_t *)p)[i] = ocs_double_to_bfloat16(v); break;
    default: ((float *)p)[i] = (float)v; break;
    }
}

/* RotaryEmbedding-23 of one head row at position pos, in double, rounded once to T into dst. */
static void rope_row(const pa *c, const void *src, void *dst, int64_t pos)
{
    if (dst != src)
        memcpy(dst, src, (size_t)c->D * c->es);
    const int64_t half = c->half;
    for (int64_t k = 0; k < half; k++) {
        const double cs = load_d(c->dt, c->cos->data, (size_t)(pos * half + k));
        const double sn = load_d(c->dt, c->sin->data, (size_t)(pos * half + k));
        const size_t i1 = (size_t)(c->interleaved ? 2 * k : k);
        const size_t i2 = (size_t)(c->interleaved ? 2 * k + 1 : k + half);
        const double x1 = load_d(c->dt, src, i1), x2 = load_d(c->dt, src, i2);
        store_d(c->dt, dst, i1, cs * x1 - sn * x2);
        store_d(c->dt, dst, i2, sn * x1 + cs * x2);
    }
}

/* n elements of type dt to float. */
static void to_float(const ocs_pa_kernels *k, ocs_dtype dt, const void *src, float *dst, size_t n)
{
    if (dt == OCS_FLOAT16)
        k->h2f(src, dst, n);
    else if (dt == OCS_BFLOAT16)
        k->b2f(src, dst, n);
    else
        memcpy(dst, src, n * sizeof(float));
}

/* D rounded up to 16 floats, plus 16 when that is an even number of cache lines. */
static size_t padded_ld(size_t D)
{
    const size_t ld = (D + 15) & ~(size_t)15;
    return (ld / 16) % 2 == 0 ? ld + 16 : ld;
}

/* ---- the job shared by the tasks ------------------------------------------------------ */

enum { TASK_DECODE, TASK_PREFILL };

typedef struct pa_task {
    int kind;
    int64_t b, g;       /* g: prefill only */
    int64_t q0, q1;     /* new tokens [q0, q1) of the sequence (prefill); decode: all */
    int64_t k0, k1;     /* key positions */
    int64_t part;       /* decode split: offset of the partial result in floats, else -1 */
    double cost;
} pa_task;

typedef struct pa_job {
    const pa *c;
    const ocs_pa_kernels *k;
    pa_state *ps;
    float scale;
    const char *q;           /* query data; row t at q + t*q_stride */
    size_t q_stride;
    const char *kcache, *vcache;
    int k_overlay, v_overlay;
    const char *knew, *vnew; /* new rows of token t at knew + t*knew_stride */
    size_t knew_stride, vnew_stride;
    char *out;
    /* cache writes */
    char *kdst, *vdst;       /* caches to write the new rows into, or NULL */
    char *krot;              /* rotated new keys for an overlaid key cache, or NULL */
    const char *ksrc, *vsrc; /* new rows as given */
    size_t ksrc_stride, vsrc_stride;
    /* copies */
    const char *copy_src[2];
    char *copy_dst[2];
    size_t copy_bytes[2], copy_chunks[2];
    /* attention */
    pa_task *tasks;
    size_t n_tasks;
    float *partial;
    size_t rows_max, s_rows;  /* per-thread scratch shape */
} pa_job;

/* ---- per-thread scratch ----------------------------------------------------------- */

typedef struct pa_ws {
    float *Q, *O, *m, *l, *alpha, *ones, *S, *Kp, *Kc, *Vc, *zero, *orow;
    const float **kp, **vp, **kprow;
    const char **kraw, **vraw, **kraw2, **vraw2;   /* raw rows (KV head 0) of this tile and the next */
    void *qrow;   /* one rotated row in T */
} pa_ws;

static size_t align64(size_t n)
{
    return (n + 63) & ~(size_t)63;
}

/* Lays out the scratch of one thread at base (NULL: only measures); returns its size in bytes. */
static size_t ws_layout(const pa_job *J, char *base, pa_ws *w)
{
    const size_t D = (size_t)J->c->D, R = J->rows_max, RS = J->s_rows;
    const size_t dconv = (size_t)PA_DG * (size_t)J->c->Hkv * D, pconv = (size_t)PA_TK * padded_ld(D);
    const size_t conv = dconv > pconv ? dconv : pconv;
    size_t off = 0;
#define PA_CARVE(field, type, count)                        \
    do {                                                    \
        if (base)                                           \
            w->field = (type)(void *)(base + off);          \
        off += align64((count) * sizeof(*w->field));        \
    } while (0)
    PA_CARVE(Q, float *, R * D);
    PA_CARVE(O, float *, R * D);
    PA_CARVE(m, float *, R);
    PA_CARVE(l, float *, R);
    PA_CARVE(alpha, float *, R);
    PA_CARVE(ones, float *, R);
    PA_CARVE(S, float *, RS * PA_LD);
    PA_CARVE(Kp, float *, D * PA_LD);
    PA_CARVE(Kc, float *, conv);
    PA_CARVE(Vc, float *, conv);
    PA_CARVE(zero, float *, D);
    PA_CARVE(orow, float *, D);
    PA_CARVE(kp, const float **, PA_TK);
    PA_CARVE(vp, const float **, PA_TK);
    PA_CARVE(kprow, const float **, D);
    PA_CARVE(kraw, const char **, PA_TK);
    PA_CARVE(vraw, const char **, PA_TK);
    PA_CARVE(kraw2, const char **, PA_TK);
    PA_CARVE(vraw2, const char **, PA_TK);
#undef PA_CARVE
    if (base)
        w->qrow = base + off;
    off += align64(D * sizeof(float));
    return off;
}

static ocs_status ws_reserve(pa_state *ps, size_t bytes, ocs_err *err)
{
    for (size_t i = 0; i < ps->threads; i++) {
        if (ps->ws_cap[i] >= bytes)
            continue;
        free(ps->ws[i]);
        ps->ws[i] = aligned_alloc(64, align64(bytes));
        ps->ws_cap[i] = ps->ws[i] ? bytes : 0;
        if (!ps->ws[i])
            return ocs_fail(err, OCS_ERR_NOMEM, "PagedAttention: out of memory for %zu bytes of scratch", bytes);
    }
    return OCS_OK;
}

static pa_ws ws_get(const pa_job *J, size_t thread)
{
    pa_ws w;
    memset(&w, 0, sizeof w);
    ws_layout(J, J->ps->ws[thread], &w);
    for (size_t d = 0; d < (size_t)J->c->D; d++) {
        w.zero[d] = 0.0f;
        w.kprow[d] = w.Kp + d * PA_LD;
    }
    for (size_t r = 0; r < J->rows_max; r++)
        w.ones[r] = 1.0f;
    return w;
}

/* ---- phase 1: copies and writes ------------------------------------------------------ */

static void copy_task(void *arg, size_t task, size_t thread)
{
    (void)thread;
    const pa_job *J = arg;
    const int i = task < J->copy_chunks[0] ? 0 : 1;
    const size_t chunk = i == 0 ? task : task - J->copy_chunks[0];
    const size_t lo = chunk * PA_COPY_CHUNK;
    const size_t n = J->copy_bytes[i] - lo < PA_COPY_CHUNK ? J->copy_bytes[i] - lo : PA_COPY_CHUNK;
    memcpy(J->copy_dst[i] + lo, J->copy_src[i] + lo, n);
}

#define PA_WRITE_TOKENS 16

/* New keys (rotated) and values of tokens [16*task, 16*task + 16). */
static void write_task(void *arg, size_t task, size_t thread)
{
    (void)thread;
    const pa_job *J = arg;
    const pa *c = J->c;
    const size_t row = (size_t)c->D * c->es, slot_bytes = (size_t)c->Hkv * row;
    const int64_t t1 = (int64_t)(task + 1) * PA_WRITE_TOKENS < c->T ? (int64_t)(task + 1) * PA_WRITE_TOKENS : c->T;
    int64_t b = ocs_pa_seq_of(c, (int64_t)task * PA_WRITE_TOKENS);
    for (int64_t t = (int64_t)task * PA_WRITE_TOKENS; t < t1; t++) {
        while (c->cu[b + 1] <= t)
            b++;
        const int64_t p = c->past[b] + (t - c->cu[b]);
        const size_t slot = (size_t)(c->table[b * c->MB + p / c->BS] * c->BS + p % c->BS);
        const char *ks = J->ksrc + (size_t)t * J->ksrc_stride, *vs = J->vsrc + (size_t)t * J->vsrc_stride;
        char *kd = J->kdst ? J->kdst + slot * slot_bytes : NULL;
        char *kr = J->krot ? J->krot + (size_t)t * slot_bytes : NULL;
        for (int64_t g = 0; g < c->Hkv; g++) {
            const char *src = ks + (size_t)g * row;
            if (c->rotary) {
                if (kr) {
                    rope_row(c, src, kr + (size_t)g * row, p);
                    if (kd)
                        memcpy(kd + (size_t)g * row, kr + (size_t)g * row, row);
                } else if (kd) {
                    rope_row(c, src, kd + (size_t)g * row, p);
                }
            } else if (kd) {
                memcpy(kd + (size_t)g * row, src, row);
            }
        }
        if (J->vdst)
            memcpy(J->vdst + slot * slot_bytes, vs, (size_t)c->Hkv * row);
    }
}

/* ---- phase 2: attention ------------------------------------------------------------- */

/* Raw row pointers (KV head 0) of positions [j0, j0 + n) of sequence b. */
static void resolve(const pa_job *J, int64_t b, int64_t j0, size_t n, const char **kraw, const char **vraw)
{
    const pa *c = J->c;
    const int64_t past = c->past[b], t0 = c->cu[b];
    const int32_t *row = c->table + b * c->MB;
    const size_t slot_bytes = (size_t)(c->Hkv * c->D) * c->es;
    for (size_t i = 0; i < n; i++) {
        const int64_t j = j0 + (int64_t)i;
        const size_t slot = (size_t)row[j / c->BS] * (size_t)c->BS + (size_t)(j % c->BS);
        if (J->k_overlay && j >= past)
            kraw[i] = J->knew + (size_t)(t0 + j - past) * J->knew_stride;
        else
            kraw[i] = J->kcache + slot * slot_bytes;
        if (J->v_overlay && j >= past)
            vraw[i] = J->vnew + (size_t)(t0 + j - past) * J->vnew_stride;
        else
            vraw[i] = J->vcache + slot * slot_bytes;
    }
}

/*
 * One load from each page that rows [0, n) of len bytes touch and that the
 * previous row did not (a prefetch that misses the TLB may be dropped, a
 * load is not; decode reads each page once, so the pages ahead are ones the
 * TLB has not seen).
 */
static void touch_pages(const char *const *rows, size_t n, size_t len)
{
    volatile char sink = 0;
    uintptr_t last = UINTPTR_MAX;
    for (size_t i = 0; i < n; i++) {
        if (!rows[i])
            continue;
        const uintptr_t first = (uintptr_t)rows[i] >> 12, end = ((uintptr_t)rows[i] + len - 1) >> 12;
        for (uintptr_t p = first; p <= end; p++)
            if (p != last) {
                sink = *(const volatile char *)(p == first ? rows[i] : (const char *)(p << 12));
                last = p;
            }
    }
    (void)sink;
}

/* Asks for the bytes [off, off + len) of n key rows and n value rows, a prefetch per line. */
static void prefetch_rows(const char *const *kraw, const char *const *vraw, size_t n, size_t off, size_t len)
{
#if defined(__GNUC__)
    for (size_t i = 0; i < n; i++) {
        const char *k = kraw[i] + off, *v = vraw[i] + off;
        for (size_t b = 0; b < len; b += 64) {
            __builtin_prefetch(k + b, 0, 2);
            __builtin_prefetch(v + b, 0, 2);
        }
        __builtin_prefetch(k + len - 1, 0, 2);
        __builtin_prefetch(v + len - 1, 0, 2);
    }
#else
    (void)kraw, (void)vraw, (void)n, (void)off, (void)len;
#endif
}

/* Prefetches every key and value row (all KV heads) of positions [lo, hi) of sequence b. */
static void prefetch_positions(const pa_job *J, int64_t b, int64_t lo, int64_t hi)
{
    const char *k[PA_DG], *v[PA_DG];
    const size_t slot = (size_t)(J->c->Hkv * J->c->D) * J->c->es;
    while (lo < hi) {
        const size_t n = (size_t)(hi - lo < PA_DG ? hi - lo : PA_DG);
        resolve(J, b, lo, n, k, v);
        touch_pages(k, n, slot);
        touch_pages(v, n, slot);
        prefetch_rows(k, v, n, 0, slot);
        lo += (int64_t)n;
    }
}

/*
 * Softcap, causal/window mask and the online-softmax update of R rows of S
 * (row stride PA_LD) over a tile of n keys at positions j0..; row r is at
 * position p0 + r / G.  Leaves P in S, the rescale factor of each row's
 * accumulator in alpha, and updates the running max m and sum l.
 */
static void softmax_rows(const pa_job *J, float *S, size_t R, size_t n, int64_t p0, int64_t j0, float *m, float *l,
                         float *alpha)
{
    const pa *c = J->c;
    const ocs_pa_kernels *k = J->k;
    const float cap = c->softcap;
    const int64_t last = j0 + (int64_t)n - 1;
    for (size_t r = 0; r < R; r++) {
        float *s = S + r * PA_LD;
        const int64_t pos = p0 + (int64_t)r / c->G;
        int64_t lo = c->W >= 1 ? pos - c->W + 1 : j0, hi = pos;
        if (lo < j0)
            lo = j0;
        if (hi > last)
            hi = last;
        if (lo > hi) {   /* nothing visible in this tile */
            memset(s, 0, n * sizeof *s);
            alpha[r] = 1.0f;
            continue;
        }
        const size_t a0 = (size_t)(lo - j0), a1 = (size_t)(hi - j0) + 1;
        if (cap > 0.0f)
            for (size_t j = a0; j < a1; j++)
                s[j] = cap * tanhf(s[j] / cap);
        const float mt = k->max(s + a0, a1 - a0);
        const float mn = mt > m[r] ? mt : m[r];
        const float al = m[r] == -INFINITY ? 0.0f : expf(m[r] - mn);
        const float sum = k->exp_sum(s + a0, a1 - a0, mn);
        if (a0 > 0)
            memset(s, 0, a0 * sizeof *s);
        if (a1 < n)
            memset(s + a1, 0, (n - a1) * sizeof *s);
        l[r] = l[r] * al + sum;
        m[r] = mn;
        alpha[r] = al;
    }
}

/* Float views of n raw rows (width elements from byte offset off): the rows themselves for float
 * unless copy is set, else rows of buf at stride ld, converted or copied. */
static void float_rows(const pa_job *J, const char *const *raw, size_t n, size_t off, size_t width, int copy,
                       float *buf, size_t ld, const float **out)
{
    const pa *c = J->c;
    if (c->dt == OCS_FLOAT && !copy) {
        for (size_t i = 0; i < n; i++)
            out[i] = (const float *)(const void *)(raw[i] + off);
    } else {
        for (size_t i = 0; i < n; i++) {
            to_float(J->k, c->dt, raw[i] + off, buf + i * ld, width);
            out[i] = buf + i * ld;
        }
    }
}

/*
 * Prefill: one tile of n keys at positions j0.. for KV head g and R query
 * rows (row r at position p0 + r / G): S = Q K^T through a packed K^T tile
 * and the GEMM (dot products when R is small), softmax, O = alpha O + P V
 * with the value rows read in place.
 */
static void prefill_tile(const pa_job *J, pa_ws *w, size_t R, const float *Q, float *O, float *m, float *l,
                         int64_t p0, int64_t j0, size_t n, int64_t g, const char *const *kraw,
                         const char *const *vraw)
{
    const pa *c = J->c;
    const ocs_pa_kernels *k = J->k;
    const size_t D = (size_t)c->D, goff = (size_t)g * D * c->es;
    /* only the rows that see a key of the tile: the causal mask hides it from the tokens before j0,
     * the window from those more than W - 1 past its end (a hidden row would keep O, m and l) */
    const int64_t G = c->G, rows = (int64_t)R;
    int64_t r0 = (j0 - p0) * G, r1 = rows;
    if (c->W >= 1)
        r1 = (j0 + (int64_t)n + c->W - 1 - p0) * G;
    r0 = r0 < 0 ? 0 : r0;
    r1 = r1 > rows ? rows : r1;
    if (r0 >= r1)
        return;
    Q += (size_t)r0 * D;
    O += (size_t)r0 * D;
    m += r0;
    l += r0;
    p0 += r0 / G;
    R = (size_t)(r1 - r0);
    /* keys: converted when not float (then packed below); values: copied to a padded tile, since
     * every value line serves all R rows and cache rows 4 KiB apart would share one L1 set */
    float_rows(J, kraw, n, goff, D, 0, w->Kc, D, w->kp);
    float_rows(J, vraw, n, goff, D, R > PA_DOT_ROWS, w->Vc, padded_ld(D), w->vp);
    float *S = w->S;
    if (R <= PA_DOT_ROWS) {
        k->dot(R, n, D, Q, D, w->kp, 0, S, PA_LD);
    } else {
        const size_t npad = (n + 7) & ~(size_t)7;
        for (size_t i = n; i < npad; i++)
            w->kp[i] = w->zero;
        k->pack_t(npad, D, w->kp, w->Kp, PA_LD);
        k->gemm(R, npad, D, Q, D, w->kprow, 0, S, PA_LD, NULL);
    }
    softmax_rows(J, S, R, n, p0, j0, m, l, w->alpha);
    k->gemm(R, D, n, S, PA_LD, w->vp, 0, O, D, w->alpha);
}

/*
 * Decode: one tile of n <= PA_DG key positions for every KV head; rows of
 * head g are [g*Rg, (g+1)*Rg), at positions past + (r % Rg) / G.  The slots
 * are read in address order (all heads of a slot are adjacent); the kernels
 * spread the prefetches of the rows kpf/vpf of a later tile over their work.
 */
static void decode_tile(const pa_job *J, pa_ws *w, size_t Rg, int64_t b, int64_t j0, size_t n,
                        const char *const *kpf, const char *const *vpf)
{
    const pa *c = J->c;
    const ocs_pa_kernels *k = J->k;
    const int64_t past = c->past[b];
    const size_t D = (size_t)c->D, Hkv = (size_t)c->Hkv, width = Hkv * D, slot = width * c->es;
    resolve(J, b, j0, n, w->kraw, w->vraw);
    float_rows(J, w->kraw, n, 0, width, 0, w->Kc, width, w->kp);
    k->dec_qk(Hkv, Rg, n, D, w->Q, w->kp, w->S, PA_LD, kpf, slot);
    for (size_t g = 0; g < Hkv; g++)
        softmax_rows(J, w->S + g * Rg * PA_LD, Rg, n, past, j0, w->m + g * Rg, w->l + g * Rg, w->alpha + g * Rg);
    float_rows(J, w->vraw, n, 0, width, 0, w->Vc, width, w->vp);
    k->dec_pv(Hkv, Rg, n, D, w->S, PA_LD, w->vp, w->O, w->alpha, vpf, slot);
}

/* Query row of token t, head h, at position pos: rotated when asked, as float, times the scale. */
static void load_query(const pa_job *J, pa_ws *w, int64_t t, int64_t h, int64_t pos, float *dst)
{
    const pa *c = J->c;
    const size_t D = (size_t)c->D;
    const char *src = J->q + (size_t)t * J->q_stride + (size_t)h * D * c->es;
    if (c->rotary) {
        rope_row(c, src, w->qrow, pos);
        src = w->qrow;
    }
    to_float(J->k, c->dt, src, dst, D);
    for (size_t d = 0; d < D; d++)
        dst[d] *= J->scale;
}

/* out[t, h*D ..] = O / l in T. */
static void store_out(const pa_job *J, pa_ws *w, int64_t t, int64_t h, const float *o, float l)
{
    const pa *c = J->c;
    const size_t D = (size_t)c->D;
    const float inv = 1.0f / l;
    char *dst = J->out + ((size_t)t * (size_t)c->H + (size_t)h) * D * c->es;
    float *f = c->dt == OCS_FLOAT ? (float *)(void *)dst : w->orow;
    for (size_t d = 0; d < D; d++)
        f[d] = o[d] * inv;
    if (c->dt == OCS_FLOAT16)
        J->k->f2h(f, (uint16_t *)(void *)dst, D);
    else if (c->dt == OCS_BFLOAT16)
        J->k->f2b(f, (uint16_t *)(void *)dst, D);
}

static void init_rows(pa_ws *w, size_t rows, size_t D)
{
    memset(w->O, 0, rows * D * sizeof *w->O);
    for (size_t r = 0; r < rows; r++) {
        w->m[r] = -INFINITY;
        w->l[r] = 0.0f;
    }
}

/* Every KV head of positions [k0, k1) of a decode sequence; rows grouped by KV head:
 * row (g*nq + i)*G + hl is token i, query head g*G + hl. */
static void decode_task(const pa_job *J, pa_ws *w, const pa_task *tk)
{
    const pa *c = J->c;
    const size_t D = (size_t)c->D;
    const int64_t b = tk->b, past = c->past[b], t0 = c->cu[b], nq = c->cu[b + 1] - t0, G = c->G;
    const size_t Rg = (size_t)(G * nq), rows = (size_t)c->Hkv * Rg;
    for (int64_t g = 0; g < c->Hkv; g++)
        for (int64_t i = 0; i < nq; i++)
            for (int64_t hl = 0; hl < G; hl++)
                load_query(J, w, t0 + i, g * G + hl, past + i, w->Q + (((size_t)(g * nq + i)) * G + hl) * D);
    init_rows(w, rows, D);
    /* tiles of PA_DG positions; the rows PA_PF_BYTES ahead are asked for during each */
    const size_t slot = (size_t)c->Hkv * D * c->es;
    int64_t ahead = (int64_t)(PA_PF_BYTES / (2 * PA_DG * slot));
    ahead = (ahead < 1 ? 1 : ahead > PA_PF_TILES ? PA_PF_TILES : ahead) * PA_DG;
    prefetch_positions(J, b, tk->k0, tk->k0 + ahead < tk->k1 ? tk->k0 + ahead : tk->k1);
    for (int64_t j0 = tk->k0; j0 < tk->k1; j0 += PA_DG) {
        const size_t n = (size_t)(tk->k1 - j0 < PA_DG ? tk->k1 - j0 : PA_DG);
        const int64_t lo = j0 + ahead;
        const size_t npf = lo < tk->k1 ? (size_t)(tk->k1 - lo < PA_DG ? tk->k1 - lo : PA_DG) : 0;
        resolve(J, b, lo, npf, w->kraw2, w->vraw2);
        for (size_t i = npf; i < n; i++)
            w->kraw2[i] = w->vraw2[i] = NULL;
        touch_pages(w->kraw2, npf, slot);
        touch_pages(w->vraw2, npf, slot);
        decode_tile(J, w, Rg, b, j0, n, w->kraw2, w->vraw2);
    }
    if (tk->part >= 0) {
        float *p = J->partial + tk->part;
        memcpy(p, w->m, rows * sizeof *p);
        memcpy(p + rows, w->l, rows * sizeof *p);
        memcpy(p + 2 * rows, w->O, rows * D * sizeof *p);
        return;
    }
    for (int64_t g = 0; g < c->Hkv; g++)
        for (int64_t i = 0; i < nq; i++)
            for (int64_t hl = 0; hl < G; hl++) {
                const size_t r = ((size_t)(g * nq + i)) * G + hl;
                store_out(J, w, t0 + i, g * G + hl, w->O + r * D, w->l[r]);
            }
}

/* KV head g for new tokens [q0, q1) of a sequence; row i*G + hl is token q0 + i, head g*G + hl. */
static void prefill_task(const pa_job *J, pa_ws *w, const pa_task *tk)
{
    const pa *c = J->c;
    const size_t D = (size_t)c->D;
    const int64_t b = tk->b, past = c->past[b], t0 = c->cu[b], G = c->G, g = tk->g;
    const size_t R = (size_t)((tk->q1 - tk->q0) * G);
    for (int64_t i = tk->q0; i < tk->q1; i++)
        for (int64_t hl = 0; hl < G; hl++)
            load_query(J, w, t0 + i, g * G + hl, past + i, w->Q + ((size_t)((i - tk->q0) * G + hl)) * D);
    init_rows(w, R, D);
    /* the next tile's rows of head g are prefetched while this one is computed */
    const size_t hb = D * c->es;
    const char **kc = w->kraw, **vc = w->vraw, **kn = w->kraw2, **vn = w->vraw2, **t;
    size_t n = (size_t)(tk->k1 - tk->k0 < PA_TK ? tk->k1 - tk->k0 : PA_TK);
    resolve(J, b, tk->k0, n, kc, vc);
    for (int64_t j0 = tk->k0; j0 < tk->k1; j0 += PA_TK) {
        const int64_t j1 = j0 + PA_TK;
        const size_t nn = j1 < tk->k1 ? (size_t)(tk->k1 - j1 < PA_TK ? tk->k1 - j1 : PA_TK) : 0;
        if (nn > 0) {
            resolve(J, b, j1, nn, kn, vn);
            prefetch_rows(kn, vn, nn, (size_t)g * hb, hb);
        }
        prefill_tile(J, w, R, w->Q, w->O, w->m, w->l, past + tk->q0, j0, n, g, kc, vc);
        t = kc, kc = kn, kn = t;
        t = vc, vc = vn, vn = t;
        n = nn;
    }
    for (int64_t i = tk->q0; i < tk->q1; i++)
        for (int64_t hl = 0; hl < G; hl++) {
            const size_t r = (size_t)((i - tk->q0) * G + hl);
            store_out(J, w, t0 + i, g * G + hl, w->O + r * D, w->l[r]);
        }
}

static void attend_task(void *arg, size_t task, size_t thread)
{
    const pa_job *J = arg;
    pa_ws w = ws_get(J, thread);
    const pa_task *tk = &J->tasks[task];
    if (tk->kind == TASK_DECODE)
        decode_task(J, &w, tk);
    else
        prefill_task(J, &w, tk);
}

/* Combines the partial results of the split tasks [first, first + n) of sequence b. */
static void merge_splits(const pa_job *J, pa_ws *w, const pa_task *first, size_t n)
{
    const pa *c = J->c;
    const size_t D = (size_t)c->D;
    const int64_t b = first->b, t0 = c->cu[b], nq = c->cu[b + 1] - t0, G = c->G;
    const size_t rows = (size_t)(c->H * nq);
    for (int64_t g = 0; g < c->Hkv; g++)
        for (int64_t i = 0; i < nq; i++)
            for (int64_t hl = 0; hl < G; hl++) {
                const size_t r = ((size_t)(g * nq + i)) * G + hl;
                float M = -INFINITY;
                for (size_t s = 0; s < n; s++) {
                    const float ms = J->partial[first[s].part + (int64_t)r];
                    if (ms > M)
                        M = ms;
                }
                float L = 0.0f;
                float *o = w->O;
                memset(o, 0, D * sizeof *o);
                for (size_t s = 0; s < n; s++) {
                    const float *p = J->partial + first[s].part;
                    if (p[r] == -INFINITY)
                        continue;
                    const float f = expf(p[r] - M);
                    L += f * p[rows + r];
                    const float *os = p + 2 * rows + r * D;
                    for (size_t d = 0; d < D; d++)
                        o[d] += f * os[d];
                }
                store_out(J, w, t0 + i, g * G + hl, o, L);
            }
}

typedef struct merge_arg {
    const pa_job *J;
    const size_t *starts;   /* task index of each split sequence's first task */
    const size_t *counts;
} merge_arg;

static void merge_task(void *arg, size_t task, size_t thread)
{
    const merge_arg *ma = arg;
    pa_ws w = ws_get(ma->J, thread);
    merge_splits(ma->J, &w, &ma->J->tasks[ma->starts[task]], ma->counts[task]);
}

static int task_cmp(const void *x, const void *y)
{
    const pa_task *a = x, *b = y;
    if (a->cost != b->cost)
        return a->cost > b->cost ? -1 : 1;
    if (a->b != b->b)
        return a->b < b->b ? -1 : 1;
    return a->k0 < b->k0 ? -1 : a->k0 > b->k0;
}

static int split_cmp(const void *x, const void *y)
{
    const pa_task *a = x, *b = y;
    if (a->b != b->b)
        return a->b < b->b ? -1 : 1;
    return a->k0 < b->k0 ? -1 : a->k0 > b->k0;
}

/* First visible key of the query at position pos. */
static int64_t key_lo(const pa *c, int64_t pos)
{
    return c->W >= 1 && pos - c->W + 1 > 0 ? pos - c->W + 1 : 0;
}

/*
 * The task list.  Decode sequences are split into chunks of whole tiles
 * when the sequences alone cannot keep every thread busy.  Split tasks
 * stay adjacent (same sequence, ascending k0) before sorting; *partial_floats
 * receives the size of the partial-result area.
 */
static ocs_status plan(const pa *c, size_t threads, pa_task **out, size_t *n_out, size_t *partial_floats,
                       size_t *rows_max, size_t *s_rows, ocs_err *err)
{
    *out = NULL;
    *n_out = 0;
    *partial_floats = 0;
    size_t n_tasks = 0, n_dec = 0;
    double dec_keys = 0.0;
    size_t rmax = 1, smax = 1;
    const int64_t tq = c->G >= PA_PF_ROWS ? 1 : PA_PF_ROWS / c->G;
    for (int64_t b = 0; b < c->B; b++) {
        const int64_t nq = c->cu[b + 1] - c->cu[b];
        if (nq == 0)
            continue;
        if (nq <= PA_DEC_NQ) {
            n_dec++;
            dec_keys += (double)(c->past[b] + nq - key_lo(c, c->past[b]));
            if ((size_t)(c->H * nq) > rmax)
                rmax = (size_t)(c->H * nq);
            if ((size_t)(c->H * nq) > smax)
                smax = (size_t)(c->H * nq);
        } else {
            n_tasks += (size_t)((nq + tq - 1) / tq) * (size_t)c->Hkv;
            const int64_t r = (nq < tq ? nq : tq) * c->G;
            if ((size_t)r > rmax)
                rmax = (size_t)r;
            if ((size_t)r > smax)
                smax = (size_t)r;
        }
    }
    /* split-KV chunk length: enough decode tasks for every thread when sequences are few */
    int64_t chunk = INT64_MAX;
    const size_t want = threads * 4;
    if (n_dec > 0 && n_dec + n_tasks < want && threads > 1) {
        const double per = dec_keys / (double)(want - n_tasks);
        chunk = (int64_t)ceil(per / PA_TK) * PA_TK;
        if (chunk < PA_MIN_CHUNK)
            chunk = PA_MIN_CHUNK;
    }
    for (int64_t b = 0; b < c->B; b++) {
        const int64_t nq = c->cu[b + 1] - c->cu[b];
        if (nq == 0 || nq > PA_DEC_NQ)
            continue;
        const int64_t L = c->past[b] + nq - key_lo(c, c->past[b]);
        n_tasks += chunk == INT64_MAX ? 1 : (size_t)((L + chunk - 1) / chunk);
    }
    if (n_tasks == 0)
        return OCS_OK;
    pa_task *tasks = calloc(n_tasks, sizeof *tasks);
    if (!tasks)
        return ocs_fail(err, OCS_ERR_NOMEM, "PagedAttention: out of memory for %zu tasks", n_tasks);
    size_t i = 0, part = 0;
    for (int64_t b = 0; b < c->B; b++) {
        const int64_t past = c->past[b], nq = c->cu[b + 1] - c->cu[b];
        if (nq == 0)
            continue;
        if (nq <= PA_DEC_NQ) {
            const int64_t lo = key_lo(c, past), hi = past + nq;
            const int64_t step = chunk == INT64_MAX ? hi - lo : chunk;
            const int split = hi - lo > step;
            const size_t rows = (size_t)(c->H * nq);
            for (int64_t k0 = lo; k0 < hi; k0 += step) {
                pa_task *t = &tasks[i++];
                t->kind = TASK_DECODE;
                t->b = b;
                t->q0 = 0;
                t->q1 = nq;
                t->k0 = k0;
                t->k1 = k0 + step < hi ? k0 + step : hi;
                t->part = split ? (int64_t)part : -1;
                if (split)
                    part += rows * (2 + (size_t)c->D);
                t->cost = (double)(t->k1 - t->k0) * (double)c->Hkv * (double)(c->G * nq > 8 ? c->G * nq : 8);
            }
        } else {
            for (int64_t q0 = 0; q0 < nq; q0 += tq) {
                const int64_t q1 = q0 + tq < nq ? q0 + tq : nq;
                for (int64_t g = 0; g < c->Hkv; g++) {
                    pa_task *t = &tasks[i++];
                    t->kind = TASK_PREFILL;
                    t->b = b;
                    t->g = g;
                    t->q0 = q0;
                    t->q1 = q1;
                    t->k0 = key_lo(c, past + q0);
                    t->k1 = past + q1;
                    t->part = -1;
                    t->cost = (double)(t->k1 - t->k0) * (double)((q1 - q0) * c->G);
                }
            }
        }
    }
    *out = tasks;
    *n_out = i;
    *partial_floats = part;
    *rows_max = rmax;
    *s_rows = smax;
    return OCS_OK;
}

/* ---- entry points -------------------------------------------------------------------- */

int ocs_cpu_pa_supports(ocs_cpu *cpu, const ocs_node *n, int64_t since_version, size_t n_in,
                        const ocs_tensor_type *in)
{
    (void)cpu;
    (void)n;
    (void)n_in;
    (void)in;
    /* every node of version 1: bad inputs get the reference's errors from run */
    return since_version == 1;
}

ocs_status ocs_cpu_pa_prepare(ocs_cpu *cpu, const ocs_node *n, void **state, ocs_err *err)
{
    (void)n;
    *state = NULL;
    pa_state *ps = calloc(1, sizeof *ps);
    if (!ps)
        return ocs_fail(err, OCS_ERR_NOMEM, "PagedAttention: out of memory");
    ps->threads = ocs_pool_threads(cpu->pool);
    ps->ws = calloc(ps->threads, sizeof *ps->ws);
    ps->ws_cap = calloc(ps->threads, sizeof *ps->ws_cap);
    if (!ps->ws || !ps->ws_cap) {
        ocs_cpu_pa_release(ps);
        return ocs_fail(err, OCS_ERR_NOMEM, "PagedAttention: out of memory");
    }
    /* OCS_CPU_ISA=c|avx2 caps the kernels' instruction set, as for MoE (for testing and comparisons) */
    const char *cap = getenv("OCS_CPU_ISA");
    if (cap && !strcmp(cap, "c"))
        ps->k = ocs_pa_kernels_portable();
    else
        ps->k = ocs_pa_kernels_select(cpu->avx2, cpu->fma, cap && !strcmp(cap, "avx2") ? 0 : cpu->avx512f);
    *state = ps;
    return OCS_OK;
}

void ocs_cpu_pa_release(void *state)
{
    pa_state *ps = state;
    if (!ps)
        return;
    for (size_t i = 0; ps->ws && i < ps->threads; i++)
        free(ps->ws[i]);
    free(ps->ws);
    free(ps->ws_cap);
    free(ps);
}

ocs_status ocs_cpu_pa_run(ocs_cpu *cpu, void *state, ocs_kernel_args *a)
{
    pa_state *ps = state;
    if (a->n_inputs > 10)
        return ocs_fail(a->err, OCS_ERR_INVALID, "%s takes at most %zu inputs, the node has %zu", a->node->op_type,
                        (size_t)10, a->n_inputs);
    if (!input(a, 0))
        return ocs_fail(a->err, OCS_ERR_INVALID, "%s requires input %zu, which is missing", a->node->op_type,
                        (size_t)0);
    pa c;
    pa_write *writes = NULL;
    ocs_status st;
    if ((st = ocs_paged_attention_check(a->node, a->n_inputs, a->inputs, &c, &writes, a->err)) != OCS_OK)
        return st;

    pa_job J;
    memset(&J, 0, sizeof J);
    J.c = &c;
    J.k = ps->k;
    J.ps = ps;
    J.scale = c.scale != 0.0f ? c.scale : (float)(1.0 / sqrt((double)c.D));
    const size_t es = c.es, row = (size_t)c.D * es;
    J.q = c.query->data;
    J.q_stride = (size_t)c.query->dims[1] * es;
    if (c.packed) {
        J.ksrc = (const char *)c.query->data + (size_t)c.H * row;
        J.vsrc = (const char *)c.query->data + (size_t)(c.H + c.Hkv) * row;
        J.ksrc_stride = J.vsrc_stride = J.q_stride;
    } else {
        J.ksrc = c.key->data;
        J.vsrc = c.value->data;
        J.ksrc_stride = J.vsrc_stride = (size_t)c.Hkv * row;
    }

    /* outputs; a cache output not wanted is read through the overlay unless writes hit past slots */
    ocs_tensor *out = NULL, *kco = NULL, *vco = NULL;
    int kco_owned = 0, vco_owned = 0, kco_taken = 0, vco_taken = 0;
    char *krot = NULL;
    pa_task *tasks = NULL;
    float *partial = NULL;
    size_t *starts = NULL;
    const int64_t odims[2] = {c.T, c.H * c.D};
    const int hazard = c.T > 0 && writes_hit_past(&c, writes);
    J.k_overlay = !ocs_kernel_output_wanted(a, 1) && !hazard;
    J.v_overlay = !ocs_kernel_output_wanted(a, 2) && !hazard;
    if ((st = ocs_tensor_new(c.dt, 2, odims, &out, a->err)) != OCS_OK)
        goto done;
    /* a wanted cache output is the cache input itself, updated in place, when the executor donates the
     * input (nothing reads it after this node); otherwise a copy */
    if (!J.k_overlay) {
        kco_owned = !ocs_kernel_output_wanted(a, 1);
        kco_taken = !kco_owned && a->donatable && a->donatable[3];
        if (kco_taken)
            kco = (ocs_tensor *)c.kc;
        else if ((st = ocs_tensor_new(c.dt, 4, c.kc->dims, &kco, a->err)) != OCS_OK)
            goto done;
    }
    if (!J.v_overlay) {
        vco_owned = !ocs_kernel_output_wanted(a, 2);
        vco_taken = !vco_owned && a->donatable && a->donatable[4];
        if (vco_taken)
            vco = (ocs_tensor *)c.vc;
        else if ((st = ocs_tensor_new(c.dt, 4, c.vc->dims, &vco, a->err)) != OCS_OK)
            goto done;
    }
    if (J.k_overlay && c.rotary && c.T > 0) {
        const size_t bytes = (size_t)c.T * (size_t)c.Hkv * row;   /* <= the query's size times 2 */
        if (!(krot = malloc(bytes))) {
            st = ocs_fail(a->err, OCS_ERR_NOMEM, "PagedAttention: out of memory for %zu bytes of rotated keys",
                          bytes);
            goto done;
        }
    }
    J.out = out->data;

    /* phase 1: copies, then the writes */
    {
        size_t nc = 0;
        const ocs_tensor *srcs[2] = {c.kc, c.vc};
        ocs_tensor *dsts[2] = {kco, vco};
        for (int i = 0; i < 2; i++) {
            if (!dsts[i] || dsts[i] == srcs[i])   /* taken over: already holds the cache */
                continue;
            J.copy_src[nc] = srcs[i]->data;
            J.copy_dst[nc] = dsts[i]->data;
            J.copy_bytes[nc] = srcs[i]->nbytes;
            J.copy_chunks[nc] = (srcs[i]->nbytes + PA_COPY_CHUNK - 1) / PA_COPY_CHUNK;
            nc++;
        }
        ocs_pool_run(cpu->pool, J.copy_chunks[0] + J.copy_chunks[1], copy_task, &J);
    }
    J.kdst = kco ? kco->data : NULL;
    J.vdst = vco ? vco->data : NULL;
    J.krot = krot;
    if (c.T > 0)
        ocs_pool_run(cpu->pool, (size_t)(c.T + PA_WRITE_TOKENS - 1) / PA_WRITE_TOKENS, write_task, &J);

    /* phase 2: attention, reading the written caches (or the overlay) in place */
    J.kcache = kco ? kco->data : c.kc->data;
    J.vcache = vco ? vco->data : c.vc->data;
    if (J.k_overlay) {
        J.knew = krot ? krot : J.ksrc;
        J.knew_stride = krot ? (size_t)c.Hkv * row : J.ksrc_stride;
    }
    if (J.v_overlay) {
        J.vnew = J.vsrc;
        J.vnew_stride = J.vsrc_stride;
    }
    size_t n_tasks = 0, partial_floats = 0;
    if ((st = plan(&c, ps->threads, &tasks, &n_tasks, &partial_floats, &J.rows_max, &J.s_rows, a->err)) != OCS_OK)
        goto done;
    if (n_tasks > 0) {
        if ((st = ws_reserve(ps, ws_layout(&J, NULL, NULL), a->err)) != OCS_OK)
            goto done;
        if (partial_floats > 0 && !(partial = malloc(partial_floats * sizeof *partial))) {
            st = ocs_fail(a->err, OCS_ERR_NOMEM, "PagedAttention: out of memory for %zu split-KV partials",
                          partial_floats);
            goto done;
        }
        J.partial = partial;
        /* split sequences, found before the tasks are reordered */
        size_t n_split = 0;
        for (size_t i = 0; i < n_tasks; i++)
            if (tasks[i].part >= 0 && (i == 0 || tasks[i - 1].part < 0 || tasks[i - 1].b != tasks[i].b))
                n_split++;
        if (n_split > 0) {
            if (!(starts = malloc(2 * n_split * sizeof *starts))) {
                st = ocs_fail(a->err, OCS_ERR_NOMEM, "PagedAttention: out of memory");
                goto done;
            }
        }
        qsort(tasks, n_tasks, sizeof *tasks, task_cmp);
        J.tasks = tasks;
        J.n_tasks = n_tasks;
        ocs_pool_run(cpu->pool, n_tasks, attend_task, &J);
        if (n_split > 0) {
            /* regroup the split tasks by sequence (ascending k0) for the merge */
            size_t m = 0;
            for (size_t i = 0; i < n_tasks; i++)
                if (tasks[i].part >= 0)
                    tasks[m++] = tasks[i];
            qsort(tasks, m, sizeof *tasks, split_cmp);
            size_t ns = 0;
            size_t *counts = starts + n_split;
            for (size_t i = 0; i < m;) {
                size_t e = i;
                while (e < m && tasks[e].b == tasks[i].b)
                    e++;
                starts[ns] = i;
                counts[ns] = e - i;
                ns++;
                i = e;
            }
            merge_arg ma = {&J, starts, counts};
            ocs_pool_run(cpu->pool, ns, merge_task, &ma);
        }
    }

    a->outputs[0] = out;
    out = NULL;
    if (kco && !kco_owned) {
        a->outputs[1] = kco;
        kco = NULL;
    }
    if (vco && !vco_owned) {
        a->outputs[2] = vco;
        vco = NULL;
    }
done:
    free(writes);
    free(krot);
    free(tasks);
    free(partial);
    free(starts);
    ocs_tensor_free(out);
    if (!kco_taken)   /* a taken input still belongs to the executor when this call fails */
        ocs_tensor_free(kco);
    if (!vco_taken)
        ocs_tensor_free(vco);
    return st;
}
