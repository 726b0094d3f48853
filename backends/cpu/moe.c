/*
 * backends/cpu/moe.c - ai.onnx.preview MoE on the CPU backend.
 *
 * Claimed when the expert hook is canonical and the router is absent (the
 * default) or canonical (ocs/hook_match.h), with float, float16 or bfloat16
 * input and expert parameters; any other hook is left to the reference,
 * whose generic path runs it.  The result is the reference's (DESIGN.md 4),
 * computed as:
 *
 *   1. routing, each router step as the reference's operators compute it
 *      (double where they use double, rounded to float where they round),
 *      so that the chosen experts are the same;
 *   2. the (token, slot) pairs grouped by expert with a counting sort,
 *      tokens ascending within an expert, and the rows gathered (scaled by
 *      the routing weight when weight_position = "input");
 *   3. per expert with tokens, in float32: the gate/up projection, the
 *      activation fused behind it, and the down projection.  The pool's
 *      threads split each projection's rows into tasks of STREAM_ROWS rows;
 *      all experts' tasks of a projection run in one pass.  A task reads its
 *      weight rows once for all of the expert's tokens:
 *        - few tokens (at most STREAM_MAX_TOKENS): dot products of each
 *          weight row with every token (moe_kernels.c, register tiles of 8
 *          rows by 3 tokens), so the pass runs at memory bandwidth;
 *        - many tokens, with AVX-512: blocks of 32 tokens stored transposed,
 *          each weight element broadcast against 32 tokens (tiles of 8 rows
 *          by 32 tokens), so the pass runs at arithmetic speed;
 *        - many tokens without AVX-512: OpenBLAS sgemm, one expert at a time
 *          (W X^T, tokens as columns), faster there than AVX2 tiles;
 *   4. output[t] = sum over j ascending of w[t, j] * y(t, j), accumulated in
 *      float32 and rounded once to the output type.
 *
 * float16 and bfloat16 are computed in float32 and rounded to the storage
 * type where the canonical graph's operators round (after each projection
 * and each activation step), so results stay close to the reference's.
 *
 * Threads: the pool (OCS_NUM_THREADS, default every core) runs everything
 * but sgemm.  sgemm runs on the calling thread with OpenBLAS's own threads
 * while the pool's threads sleep, so the two never compute at the same
 * time; on the 2-core machine at most two threads are busy.  OpenBLAS's
 * thread count is left to its user (OPENBLAS_NUM_THREADS, or
 * openblas_set_num_threads), never changed here.  OCS_CPU_ISA=c or avx2
 * caps the kernels' instruction set (tests use it to cover every path).
 * Scratch buffers live in the node's state and are reused across runs.
 */
#include "cpu.h"

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "moe_kernels.h"
#include "ocs/hook_match.h"

/* An expert with at most this many tokens takes the dot-product kernels; more take 32-token blocks or sgemm. */
#define STREAM_MAX_TOKENS 16
/* Rows of a projection one streaming task computes. */
#define STREAM_ROWS 32
/* Tokens one dot-product kernel call takes. */
#define BLOCK_TOKENS STREAM_MAX_TOKENS
/* Weight rows converted to float per sgemm call for float16 / bfloat16 weights. */
#define CONVERT_ROWS 256
/* Tokens one combination task sums. */
#define COMBINE_TOKENS 16

/* ---- the node's plan ------------------------------------------------------------------ */

typedef struct moe_state {
    ocs_hook_moe plan;          /* attributes and hooks, read once */
    int isa;                    /* kernel level (moe_kernels.h) */
    /* scratch, grown as needed and reused across runs: routing arrays, and expert buffers */
    void *scratch, *work;
    size_t scratch_size, work_size;
} moe_state;


int ocs_cpu_moe_supports(ocs_cpu *c, const ocs_node *n, int64_t since_version, size_t n_in,
                         const ocs_tensor_type *in)
{
    (void)c;
    ocs_hook_moe plan;
    return since_version == 1 && ocs_hook_match_moe(n, &plan) && ocs_hook_moe_types_fused(&plan, n_in, in);
}

ocs_status ocs_cpu_moe_prepare(ocs_cpu *c, const ocs_node *n, void **state, ocs_err *err)
{
    (void)c;
    *state = NULL;
    moe_state *s = calloc(1, sizeof *s);
    if (!s)
        return ocs_fail(err, OCS_ERR_NOMEM, "out of memory preparing MoE");
    if (!ocs_hook_match_moe(n, &s->plan)) {
        free(s);
        return ocs_fail(err, OCS_ERR_UNSUPPORTED, "MoE: the hooks are not canonical");
    }
    /* OCS_CPU_ISA=c|avx2 caps the kernels' instruction set (for testing and comparisons) */
    s->isa = ocs_moe_isa_probe();
    const char *cap = getenv("OCS_CPU_ISA");
    if (cap && !strcmp(cap, "c"))
        s->isa = OCS_MOE_ISA_C;
    else if (cap && !strcmp(cap, "avx2") && s->isa > OCS_MOE_ISA_AVX2)
        s->isa = OCS_MOE_ISA_AVX2;
    *state = s;
    return OCS_OK;
}

void ocs_cpu_moe_release(void *state)
{
    moe_state *s = state;
    if (!s)
        return;
    free(s->scratch);
    free(s->work);
    free(s);
}

/* ---- element types ----------------------------------------------------------------------- */

static float load_elem(const void *p, ocs_dtype t, size_t i)
{
    switch (t) {
    case OCS_FLOAT16: return ocs_half_to_float(((const uint16_t *)p)[i]);
    case OCS_BFLOAT16: return ocs_bfloat16_to_float(((const uint16_t *)p)[i]);
    case OCS_DOUBLE: return (float)((const double *)p)[i];
    default: return ((const float *)p)[i];
    }
}

/* v rounded to storage type t (and back to float). */
static inline float round_to(float v, ocs_dtype t)
{
    if (t == OCS_FLOAT16)
        return ocs_half_to_float(ocs_float_to_half(v));
    if (t == OCS_BFLOAT16)
        return ocs_bfloat16_to_float(ocs_float_to_bfloat16(v));
    return v;
}

/* A constant of the canonical graph, stored in t from a double as the builder stores it. */
static float const_in(double v, ocs_dtype t)
{
    if (t == OCS_FLOAT16)
        return ocs_half_to_float(ocs_double_to_half(v));
    if (t == OCS_BFLOAT16)
        return ocs_bfloat16_to_float(ocs_double_to_bfloat16(v));
    return (float)v;
}

static void store_elem(void *p, ocs_dtype t, size_t i, float v)
{
    if (t == OCS_FLOAT16)
        ((uint16_t *)p)[i] = ocs_float_to_half(v);
    else if (t == OCS_BFLOAT16)
        ((uint16_t *)p)[i] = ocs_float_to_bfloat16(v);
    else
        ((float *)p)[i] = v;
}

/* ---- routing, step by step as the reference's operators compute it ------------------------ */

/* TopK order: NaN first, then larger; equal values keep the lower index. */
static int ranks_before(float a, float b)
{
    if (isnan(a))
        return !isnan(b);
    if (isnan(b))
        return 0;
    return a > b;
}

/* The k best of s[0..n): indices into idx (and values into val when non-NULL); taken is scratch. */
static void top_k(const float *s, size_t n, size_t k, int64_t *idx, float *val, unsigned char *taken)
{
    memset(taken, 0, n);
    for (size_t j = 0; j < k; j++) {
        size_t best = n;
        for (size_t e = 0; e < n; e++)
            if (!taken[e] && (best == n || ranks_before(s[e], s[best])))
                best = e;
        taken[best] = 1;
        idx[j] = (int64_t)best;
        if (val)
            val[j] = s[best];
    }
}

/* Softmax of x[0..n) into y: maximum first, sums of exp in double, each result rounded to float. */
static void softmax(const float *x, size_t n, float *y)
{
    double max = -INFINITY;
    for (size_t j = 0; j < n; j++) {
        double e = x[j];
        if (e > max || isnan(e))
            max = e;
        if (isnan(max))
            break;
    }
    double sum = 0.0;
    for (size_t j = 0; j < n; j++)
        sum += exp((double)x[j] - max);
    for (size_t j = 0; j < n; j++)
        y[j] = (float)(exp((double)x[j] - max) / sum);
}

static float sigmoid_ref(float v)
{
    double x = v;
    return (float)(x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x)));
}

/* ReduceSum of n floats: double accumulation, rounded once. */
static float sum_ref(const float *v, size_t n)
{
    double s = 0.0;
    for (size_t j = 0; j < n; j++)
        s += v[j];
    return (float)s;
}

static float max_ref(float x, float y)
{
    if (isnan(x) || isnan(y))
        return isnan(x) ? x : y;
    return x > y ? x : y;
}

typedef struct route_scratch {
    float *z, *a, *b, *c;       /* E floats each */
    unsigned char *taken;       /* E bytes */
    int64_t *gi;                /* E indices */
} route_scratch;

/* One token's routing: z (float logits) -> w[k], idx[k]. */
static void route_token(const moe_state *s, size_t E, size_t k, route_scratch *r, float *w, int64_t *idx)
{
    float *z = r->z;
    if (!s->plan.has_router || s->plan.router.kind == OCS_HOOK_ROUTER_SOFTMAX_TOPK) {
        int renorm = !s->plan.has_router || s->plan.router.renormalize;
        softmax(z, E, r->a);
        top_k(r->a, E, k, idx, w, r->taken);
        if (renorm) {
            float total = sum_ref(w, k);
            for (size_t j = 0; j < k; j++)
                w[j] = (float)((double)w[j] / (double)total);
        }
        return;
    }
    switch (s->plan.router.kind) {
    case OCS_HOOK_ROUTER_TOPK_SOFTMAX:
        top_k(z, E, k, idx, r->b, r->taken);
        softmax(r->b, k, w);
        return;
    case OCS_HOOK_ROUTER_TOPK_SIGMOID:
        top_k(z, E, k, idx, r->b, r->taken);
        for (size_t j = 0; j < k; j++)
            w[j] = sigmoid_ref(r->b[j]);
        return;
    case OCS_HOOK_ROUTER_SIGMOID_GROUPED: {
        const ocs_moe_grouped *g = &s->plan.router.grouped;
        float *sc = r->a, *choice = r->b;
        for (size_t e = 0; e < E; e++) {
            sc[e] = sigmoid_ref(z[e]);
            choice[e] = g->bias ? (float)((double)sc[e] + (double)g->bias[g->n_bias == 1 ? 0 : e]) : sc[e];
        }
        if (g->n_group > 1) {
            size_t G = (size_t)g->n_group, gs = E / G;
            float *gscore = r->c, top2[2];
            int64_t two[2];
            for (size_t q = 0; q < G; q++) {
                top_k(choice + q * gs, gs, 2, two, top2, r->taken);
                gscore[q] = sum_ref(top2, 2);
            }
            top_k(gscore, G, (size_t)g->topk_group, r->gi, NULL, r->taken);
            unsigned char *keep = r->taken;
            memset(keep, 0, G);
            for (size_t q = 0; q < (size_t)g->topk_group; q++)
                keep[r->gi[q]] = 1;
            for (size_t e = 0; e < E; e++)
                if (!keep[e / gs])
                    choice[e] = -INFINITY;
        }
        top_k(choice, E, k, idx, NULL, r->taken);
        for (size_t j = 0; j < k; j++)
            w[j] = sc[idx[j]];
        if (g->renormalize) {
            float den = (float)((double)sum_ref(w, k) + (double)(float)1e-20);
            for (size_t j = 0; j < k; j++)
                w[j] = (float)((double)w[j] / (double)den);
        }
        if (g->routed_scaling_factor != 1.0f)
            for (size_t j = 0; j < k; j++)
                w[j] = (float)((double)w[j] * (double)g->routed_scaling_factor);
        return;
    }
    case OCS_HOOK_ROUTER_SPARSEMIXER: {
        float two_eps = (float)(2.0 * (double)s->plan.router.jitter_eps);
        float *z2 = r->a, *gates = r->b, *probs = r->c;
        float top = 0;
        int64_t pick;
        for (int pass = 0; pass < 2; pass++) {
            const float *cand = pass ? z2 : z;
            top_k(cand, E, 1, &pick, &top, r->taken);
            for (size_t e = 0; e < E; e++) {
                float threshold = (float)((double)max_ref(fabsf(z[e]), top) * (double)two_eps);
                float gap = (float)((double)top - (double)z[e]);
                gates[e] = gap > threshold ? -INFINITY : cand[e];
            }
            softmax(gates, E, probs);
            w[pass] = probs[pick];
            idx[pass] = pick;
            if (!pass) {
                memcpy(z2, z, E * sizeof *z2);
                z2[pick] = -INFINITY;
            }
        }
        return;
    }
    default:
        return;
    }
}

/* ---- the run's shapes and buffers ---------------------------------------------------------- */

typedef struct moe_run {
    ocs_cpu *cpu;
    const moe_state *s;
    ocs_dtype t;                /* input, parameter and output type */
    size_t T, E, H, k, P;       /* P = T k routed pairs */
    size_t inter;               /* I, the intermediate size */
    int gated;                  /* glu or swiglu_oai */
    ocs_moe_layout layout;
    size_t r1;                  /* rows of W1: I, or 2 I when gate and up share it */
    /* the input and the parameter tensors (W3/b3: the separate layout's up projection) */
    const ocs_tensor *x, *W1, *b1, *W2, *b2, *W3, *b3;
    /* routing and grouping */
    float *w;                   /* [T, k] */
    int64_t *idx;               /* [T, k] */
    size_t *start;              /* [E + 1] first grouped pair of each expert */
    size_t *pos;                /* [T, k] grouped position of each pair */
    size_t *tok;                /* [P] token of each grouped pair */
    float *Y;                   /* [P, H] expert outputs, grouped order */
    /* experts that stream: their rows one after the other */
    size_t *srow;               /* [E] first row of each streaming expert */
    float *Xs;                  /* [rows, H] gathered inputs, rows ldxs apart */
    float *Hs;                  /* [rows, I] activations, rows ldhs apart */
    size_t ldxs, ldhs;
    /* experts with many tokens (AVX-512): blocks of 32 tokens, transposed (columns are tokens) */
    size_t *blk;                /* [E] first block of each such expert */
    uint32_t *eb;               /* [blocks] the expert of each block */
    float *Xb;                  /* [blocks, H, 32] inputs, tokens past the expert's count zero */
    float *Hb;                  /* [blocks, I, 32] activations */
    ocs_moe_gemm32_fn gemm32;   /* NULL without AVX-512 */
    /* experts that use sgemm, one at a time, transposed (columns are tokens) */
    size_t e, n;                /* the expert and its token count */
    float *Xt;                  /* [H, n] inputs */
    float *Zt;                  /* [r1, n] first projection (separate layout: [2 I, n], up below gate) */
    float *Ht;                  /* [I, n] activations */
    float *Yt;                  /* [H, n] outputs */
    float *conv;                /* [CONVERT_ROWS, max(H, I)] weights converted to float */
    ocs_moe_dot_fn dot;         /* the streaming kernel for the weight type */
    /* activation constants */
    float c_sqrt2, c_half, c_one, c_tanh0, c_tanh1, alpha, beta, limit;
} moe_run;

/* The slice [e] of a parameter. */
static const void *slice_ptr(const ocs_tensor *p, size_t e)
{
    size_t per = p->numel / (size_t)p->dims[0];
    return (const char *)p->data + e * per * ocs_dtype_size(p->dtype);
}

/* Where gate i and up i sit among the first projection's outputs (the separate layout's up
 * projection counted after the gate's I outputs). */
static size_t gate_at(const moe_run *m, size_t i)
{
    return m->gated && m->layout == OCS_MOE_GATE_UP_INTERLEAVED ? 2 * i : i;
}

static size_t up_at(const moe_run *m, size_t i)
{
    return m->layout == OCS_MOE_GATE_UP_INTERLEAVED ? 2 * i + 1 : m->inter + i;
}

/* ---- activations ------------------------------------------------------------------------------------- */

/*
 * One activation, node by node as the canonical graph computes it, each
 * step rounded to t (a no-op for float).  act is OCS_MOE_ACT_* or -1 for
 * OpenAI SwiGLU; u is the up value (1 for an expert without a gate, which
 * leaves the result unchanged).  Constant act and t at a call site let the
 * compiler specialise the loop around it.
 */
static inline __attribute__((always_inline)) float act_elem(const moe_run *m, const int act, const ocs_dtype t,
                                                            float g, float u)
{
    float a;
    switch (act) {
    case -1: {
        float G = g, L = u;
        if (isfinite(m->limit)) {
            G = g > m->limit ? m->limit : g;        /* Clip(g, max = limit) */
            L = u < -m->limit ? -m->limit : u;      /* Clip(u, -limit, limit) */
            L = L > m->limit ? m->limit : L;
        }
        float gs = round_to(G * m->alpha, t);
        float sg = round_to(1.0f / (1.0f + expf(-gs)), t);
        float ga = round_to(G * sg, t);
        float us = round_to(L + m->beta, t);
        return round_to(ga * us, t);
    }
    case OCS_MOE_ACT_RELU:
        a = g > 0 ? g : (isnan(g) ? g : 0.0f);
        break;
    case OCS_MOE_ACT_SILU: {
        float sg = round_to(1.0f / (1.0f + expf(-g)), t);
        a = round_to(g * sg, t);
        break;
    }
    case OCS_MOE_ACT_GELU: {
        float n1 = round_to(g / m->c_sqrt2, t);
        float n2 = round_to(erff(n1), t);
        float n3 = round_to(n2 + m->c_one, t);
        float n4 = round_to(g * n3, t);
        a = round_to(n4 * m->c_half, t);
        break;
    }
    case OCS_MOE_ACT_GELU_TANH: {
        float n1 = round_to(g * g, t);
        float n2 = round_to(n1 * g, t);
        float n3 = round_to(n2 * m->c_tanh1, t);
        float n4 = round_to(g + n3, t);
        float n5 = round_to(n4 * m->c_tanh0, t);
        float n6 = round_to(tanhf(n5), t);
        float n7 = round_to(n6 + m->c_one, t);
        float n8 = round_to(g * n7, t);
        a = round_to(n8 * m->c_half, t);
        break;
    }
    default:
        a = g;
        break;
    }
    return round_to(a * u, t);
}

/* h[i] = act(g[i], u[i]) for i < n (u NULL: no up projection), specialised for float. */
static void act_span(const moe_run *m, const float *g, const float *u, size_t n, float *h)
{
    int act = m->s->plan.expert.kind == OCS_HOOK_EXPERT_SWIGLU_OAI ? -1 : (int)m->s->plan.expert.act;
    if (m->t == OCS_FLOAT && act == OCS_MOE_ACT_SILU) {
        ocs_moe_silu_mul(g, u, n, h, m->s->isa);
        return;
    }
    if (m->t == OCS_FLOAT && act == -1) {
        ocs_moe_swiglu_oai(g, u, n, m->alpha, m->beta, m->limit, h, m->s->isa);
        return;
    }
#define ACT_LOOP(A, T)                                              \
    for (size_t i = 0; i < n; i++)                                  \
        h[i] = act_elem(m, A, T, g[i], u ? u[i] : 1.0f);            \
    return
    if (m->t == OCS_FLOAT) {
        switch (act) {
        case OCS_MOE_ACT_RELU: ACT_LOOP(OCS_MOE_ACT_RELU, OCS_FLOAT);
        case OCS_MOE_ACT_GELU: ACT_LOOP(OCS_MOE_ACT_GELU, OCS_FLOAT);
        case OCS_MOE_ACT_GELU_TANH: ACT_LOOP(OCS_MOE_ACT_GELU_TANH, OCS_FLOAT);
        default: ACT_LOOP(OCS_MOE_ACT_IDENTITY, OCS_FLOAT);
        }
    }
    ACT_LOOP(act, m->t);
#undef ACT_LOOP
}

/* Elements i0 + stride c of a bias for expert e ([E, len], or a per-expert scalar); p NULL: none. */
typedef struct bias_ref {
    const void *p;
    ocs_dtype t;
    size_t i0, stride;
} bias_ref;

static bias_ref bias_at(const ocs_tensor *b, size_t e, size_t i0, size_t stride)
{
    bias_ref r = {NULL, OCS_FLOAT, 0, 0};
    if (!b)
        return r;
    size_t per = b->numel / (size_t)b->dims[0];
    r.p = (const char *)b->data + e * per * ocs_dtype_size(b->dtype);
    r.t = b->dtype;
    if (per > 1) {
        r.i0 = i0;
        r.stride = stride;
    }
    return r;
}

/* The bias of gate i and of up i, each advancing by `stride` activations per element. */
static bias_ref gate_bias(const moe_run *m, size_t e, size_t i, size_t stride)
{
    return bias_at(m->b1, e, gate_at(m, i), m->layout == OCS_MOE_GATE_UP_INTERLEAVED && m->gated ? 2 * stride
                                                                                                  : stride);
}

static bias_ref up_bias(const moe_run *m, size_t e, size_t i, size_t stride)
{
    if (m->layout == OCS_MOE_GATE_UP_SEPARATE)
        return bias_at(m->b3, e, i, stride);
    return bias_at(m->b1, e, up_at(m, i), m->layout == OCS_MOE_GATE_UP_INTERLEAVED ? 2 * stride : stride);
}

#define ACT_CHUNK 256

/*
 * h[c] = act(g[gs c] + gb(c), u[us c] + ub(c)) for c < n, each sum rounded
 * to the storage type first (the projection's output); u NULL for an
 * expert without a gate.
 */
static void activate(const moe_run *m, const float *g, size_t gs, bias_ref gb, const float *u, size_t us,
                     bias_ref ub, size_t n, float *h)
{
    if (m->t == OCS_FLOAT && gs == 1 && !gb.p && (!u || (us == 1 && !ub.p))) {
        act_span(m, g, u, n, h);
        return;
    }
    float gv[ACT_CHUNK], uv[ACT_CHUNK];
    for (size_t c0 = 0; c0 < n; c0 += ACT_CHUNK) {
        size_t nc = n - c0 < ACT_CHUNK ? n - c0 : ACT_CHUNK;
        for (size_t c = 0; c < nc; c++) {
            size_t cc = c0 + c;
            float v = g[gs * cc];
            if (gb.p)
                v += load_elem(gb.p, gb.t, gb.i0 + gb.stride * cc);
            gv[c] = round_to(v, m->t);
            if (u) {
                v = u[us * cc];
                if (ub.p)
                    v += load_elem(ub.p, ub.t, ub.i0 + ub.stride * cc);
                uv[c] = round_to(v, m->t);
            }
        }
        act_span(m, gv, u ? uv : NULL, nc, h + c0);
    }
}

/* Adds the down projection's bias to columns [o0, o0 + no) of n rows of Y and rounds to the storage type. */
static void finish_rows(const moe_run *m, size_t e, float *Y, size_t n, size_t o0, size_t no)
{
    bias_ref b = bias_at(m->b2, e, 0, 1);
    if (!b.p && m->t == OCS_FLOAT)
        return;
    for (size_t t = 0; t < n; t++)
        for (size_t o = o0; o < o0 + no; o++) {
            float v = Y[t * m->H + o];
            if (b.p)
                v += load_elem(b.p, b.t, b.stride * o);
            Y[t * m->H + o] = round_to(v, m->t);
        }
}

static int streams(const moe_run *m, size_t n);
static int blocked(const moe_run *m, size_t n);

/* ---- streaming path: experts with few tokens ------------------------------------------------------- */

typedef struct stream_task {
    uint32_t e;                 /* expert */
    uint32_t r0, r1;            /* activations (phase 1) or outputs (phase 2) */
} stream_task;

typedef struct stream_job {
    const moe_run *m;
    const stream_task *tasks;
} stream_job;

/* Blocks of 32 tokens: activations [i0, i0 + ni) of expert e, every block. */
static void blocked_up(const moe_run *m, size_t e, size_t i0, size_t ni)
{
    float C[2 * STREAM_ROWS * 32];
    size_t n = m->start[e + 1] - m->start[e], H = m->H, esz = ocs_dtype_size(m->t);
    const char *W1 = slice_ptr(m->W1, e), *Wu = NULL;
    int inter = m->gated && m->layout == OCS_MOE_GATE_UP_INTERLEAVED;
    if (m->gated && !inter)
        Wu = m->layout == OCS_MOE_GATE_UP_SEPARATE ? slice_ptr(m->W3, e) : W1 + m->inter * H * esz;
    for (size_t b = 0; b * 32 < n; b++) {
        const float *Xt = m->Xb + (m->blk[e] + b) * H * 32;
        /* C rows: interleaved gate, up, gate, up ...; otherwise ni gate rows, then ni up rows */
        if (inter) {
            m->gemm32(W1 + 2 * i0 * H * esz, H, 2 * ni, Xt, H, C, 32);
        } else {
            m->gemm32(W1 + i0 * H * esz, H, ni, Xt, H, C, 32);
            if (Wu)
                m->gemm32(Wu + i0 * H * esz, H, ni, Xt, H, C + ni * 32, 32);
        }
        float *Hb = m->Hb + (m->blk[e] + b) * m->inter * 32;
        for (size_t i = 0; i < ni; i++) {
            const float *g = C + (inter ? 2 * i : i) * 32, *u = m->gated ? C + (inter ? 2 * i + 1 : ni + i) * 32 : NULL;
            activate(m, g, 1, gate_bias(m, e, i0 + i, 0), u, 1, up_bias(m, e, i0 + i, 0), 32, Hb + (i0 + i) * 32);
        }
    }
}

/* Blocks of 32 tokens: outputs [o0, o0 + no) of expert e, every block. */
static void blocked_down(const moe_run *m, size_t e, size_t o0, size_t no)
{
    float C[STREAM_ROWS * 32];
    size_t n = m->start[e + 1] - m->start[e];
    const char *W2 = slice_ptr(m->W2, e) + o0 * m->inter * ocs_dtype_size(m->t);
    for (size_t b = 0; b * 32 < n; b++) {
        size_t nt = n - b * 32 < 32 ? n - b * 32 : 32;
        m->gemm32(W2, m->inter, no, m->Hb + (m->blk[e] + b) * m->inter * 32, m->inter, C, 32);
        float *Y = m->Y + (m->start[e] + b * 32) * m->H;
        for (size_t r = 0; r < no; r++)
            for (size_t t = 0; t < nt; t++)
                Y[t * m->H + o0 + r] = C[r * 32 + t];
        finish_rows(m, e, Y, nt, o0, no);
    }
}

/* Phase 1: activations [r0, r1) of one expert's tokens from the rows of its first projection. */
static void stream_up(void *arg, size_t task, size_t thread)
{
    (void)thread;
    const stream_job *j = arg;
    const moe_run *m = j->m;
    const stream_task *tk = &j->tasks[task];
    size_t e = tk->e, i0 = tk->r0, ni = tk->r1 - tk->r0, n = m->start[e + 1] - m->start[e];
    if (blocked(m, n)) {
        blocked_up(m, e, i0, ni);
        return;
    }
    float buf[BLOCK_TOKENS * 2 * STREAM_ROWS];
    size_t ldb = 2 * STREAM_ROWS, esz = ocs_dtype_size(m->t), H = m->H;
    const char *W1 = slice_ptr(m->W1, e), *Wu = NULL;
    int inter = m->gated && m->layout == OCS_MOE_GATE_UP_INTERLEAVED;
    if (m->gated && !inter)
        Wu = m->layout == OCS_MOE_GATE_UP_SEPARATE ? slice_ptr(m->W3, e) : W1 + m->inter * H * esz;
    bias_ref gb = gate_bias(m, e, i0, 1), ub = up_bias(m, e, i0, 1);
    /* token blocks keep the weight rows of this task in cache while the tokens pass by */
    for (size_t t0 = 0; t0 < n; t0 += BLOCK_TOKENS) {
        size_t nt = n - t0 < BLOCK_TOKENS ? n - t0 : BLOCK_TOKENS;
        const float *X = m->Xs + (m->srow[e] + t0) * m->ldxs;
        /* interleaved: rows 2 i0 .. 2 i1 hold gate, up, gate, up ...; otherwise gate rows, then up rows */
        if (inter) {
            m->dot(W1 + 2 * i0 * H * esz, H, 2 * ni, X, m->ldxs, nt, H, buf, ldb);
        } else {
            m->dot(W1 + i0 * H * esz, H, ni, X, m->ldxs, nt, H, buf, ldb);
            if (Wu)
                m->dot(Wu + i0 * H * esz, H, ni, X, m->ldxs, nt, H, buf + STREAM_ROWS, ldb);
        }
        for (size_t t = 0; t < nt; t++) {
            const float *row = buf + t * ldb;
            activate(m, row, inter ? 2 : 1, gb, m->gated ? row + (inter ? 1 : STREAM_ROWS) : NULL, inter ? 2 : 1,
                     ub, ni, m->Hs + (m->srow[e] + t0 + t) * m->ldhs + i0);
        }
    }
}

/* Phase 2: outputs [r0, r1) of one expert's tokens. */
static void stream_down(void *arg, size_t task, size_t thread)
{
    (void)thread;
    const stream_job *j = arg;
    const moe_run *m = j->m;
    const stream_task *tk = &j->tasks[task];
    size_t e = tk->e, o0 = tk->r0, no = tk->r1 - tk->r0, n = m->start[e + 1] - m->start[e];
    if (blocked(m, n)) {
        blocked_down(m, e, o0, no);
        return;
    }
    const char *W2 = slice_ptr(m->W2, e) + o0 * m->inter * ocs_dtype_size(m->t);
    for (size_t t0 = 0; t0 < n; t0 += BLOCK_TOKENS) {
        size_t nt = n - t0 < BLOCK_TOKENS ? n - t0 : BLOCK_TOKENS;
        float *Y = m->Y + (m->start[e] + t0) * m->H;
        m->dot(W2, m->inter, no, m->Hs + (m->srow[e] + t0) * m->ldhs, m->ldhs, nt, m->inter, Y + o0, m->H);
        finish_rows(m, e, Y, nt, o0, no);
    }
}

/* ---- sgemm path: experts with many tokens, transposed ------------------------------------------------ */

/* C[rows, n] (ldc) = W[rows, K] B[K, n] (ldb), W of the run's type. */
static void gemm_w(moe_run *m, const void *W, size_t rows, size_t K, const float *B, float *C)
{
    size_t n = m->n;
    if (rows == 0)
        return;
    if (K == 0) {
        memset(C, 0, rows * n * sizeof *C);
        return;
    }
    if (m->t == OCS_FLOAT) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)n, (int)K, 1.0f, (const float *)W,
                    (int)K, B, (int)n, 0.0f, C, (int)n);
    } else {
        size_t esz = ocs_dtype_size(m->t);
        for (size_t r0 = 0; r0 < rows; r0 += CONVERT_ROWS) {
            size_t nr = rows - r0 < CONVERT_ROWS ? rows - r0 : CONVERT_ROWS;
            ocs_moe_to_float((const char *)W + r0 * K * esz, m->t, nr * K, m->conv, m->s->isa);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)nr, (int)n, (int)K, 1.0f, m->conv, (int)K,
                        B, (int)n, 0.0f, C + r0 * n, (int)n);
        }
    }
}

#define GATHER_COLS 32
#define ACT_ROWS 32
#define UNT_TOKENS 16

static float expert_input(const moe_run *m, size_t q, size_t h);

/* Xt[h, r] for h in one block of GATHER_COLS, every token r of the expert. */
static void gather_t(void *arg, size_t task, size_t thread)
{
    (void)thread;
    const moe_run *m = arg;
    size_t h0 = task * GATHER_COLS, h1 = h0 + GATHER_COLS < m->H ? h0 + GATHER_COLS : m->H, n = m->n;
    for (size_t r = 0; r < n; r++) {
        size_t q = m->start[m->e] + r;
        if (m->t == OCS_FLOAT && !m->s->plan.weight_on_input) {
            const float *x = (const float *)m->x->data + m->tok[q] * m->H;
            for (size_t h = h0; h < h1; h++)
                m->Xt[h * n + r] = x[h];
        } else {
            for (size_t h = h0; h < h1; h++)
                m->Xt[h * n + r] = expert_input(m, q, h);
        }
    }
}

/* Activation rows [i0, i1) of Ht from the rows of Zt. */
static void act_t(void *arg, size_t task, size_t thread)
{
    (void)thread;
    const moe_run *m = arg;
    size_t i0 = task * ACT_ROWS, i1 = i0 + ACT_ROWS < m->inter ? i0 + ACT_ROWS : m->inter, n = m->n;
    for (size_t i = i0; i < i1; i++)
        activate(m, m->Zt + gate_at(m, i) * n, 1, gate_bias(m, m->e, i, 0), m->gated ? m->Zt + up_at(m, i) * n : NULL,
                 1, up_bias(m, m->e, i, 0), n, m->Ht + i * n);
}

/* Rows of Y for one block of UNT_TOKENS tokens: Yt transposed, the bias added, rounded. */
static void untranspose(void *arg, size_t task, size_t thread)
{
    (void)thread;
    const moe_run *m = arg;
    size_t r0 = task * UNT_TOKENS, r1 = r0 + UNT_TOKENS < m->n ? r0 + UNT_TOKENS : m->n, n = m->n;
    float *Y = m->Y + m->start[m->e] * m->H;
    for (size_t h = 0; h < m->H; h++)
        for (size_t r = r0; r < r1; r++)
            Y[r * m->H + h] = m->Yt[h * n + r];
    finish_rows(m, m->e, Y + r0 * m->H, r1 - r0, 0, m->H);
}

static void gemm_expert(moe_run *m, size_t e)
{
    ocs_pool *pool = m->cpu->pool;
    m->e = e;
    m->n = m->start[e + 1] - m->start[e];
    ocs_pool_run(pool, (m->H + GATHER_COLS - 1) / GATHER_COLS, gather_t, m);
    const char *W1 = slice_ptr(m->W1, e);
    if (m->gated && m->layout == OCS_MOE_GATE_UP_SEPARATE) {
        gemm_w(m, W1, m->inter, m->H, m->Xt, m->Zt);
        gemm_w(m, slice_ptr(m->W3, e), m->inter, m->H, m->Xt, m->Zt + m->inter * m->n);
    } else {
        gemm_w(m, W1, m->r1, m->H, m->Xt, m->Zt);
    }
    ocs_pool_run(pool, (m->inter + ACT_ROWS - 1) / ACT_ROWS, act_t, m);
    gemm_w(m, slice_ptr(m->W2, e), m->H, m->inter, m->Ht, m->Yt);
    ocs_pool_run(pool, (m->n + UNT_TOKENS - 1) / UNT_TOKENS, untranspose, m);
}

/* ---- combination ------------------------------------------------------------------------------------- */

typedef struct combine_job {
    const moe_run *m;
    ocs_tensor *out;
} combine_job;

static void combine(void *arg, size_t task, size_t thread)
{
    (void)thread;
    const combine_job *j = arg;
    const moe_run *m = j->m;
    size_t t0 = task * COMBINE_TOKENS, t1 = t0 + COMBINE_TOKENS < m->T ? t0 + COMBINE_TOKENS : m->T;
    float acc[256];
    for (size_t t = t0; t < t1; t++)
        for (size_t h0 = 0; h0 < m->H; h0 += 256) {
            size_t nh = m->H - h0 < 256 ? m->H - h0 : 256;
            memset(acc, 0, nh * sizeof *acc);
            for (size_t jj = 0; jj < m->k; jj++) {
                const float *y = m->Y + m->pos[t * m->k + jj] * m->H + h0;
                if (m->s->plan.weight_on_input) {
                    for (size_t h = 0; h < nh; h++)
                        acc[h] += y[h];
                } else {
                    float w = m->w[t * m->k + jj];
                    for (size_t h = 0; h < nh; h++)
                        acc[h] += w * y[h];
                }
            }
            if (m->t == OCS_FLOAT)
                memcpy((float *)j->out->data + t * m->H + h0, acc, nh * sizeof *acc);
            else
                for (size_t h = 0; h < nh; h++)
                    store_elem(j->out->data, m->t, t * m->H + h0 + h, acc[h]);
        }
}

/* ---- validation -------------------------------------------------------------------------------------- */

/* The reference's checks (ocs_hook_moe_check), then sgemm's int dimensions. */
static ocs_status validate(ocs_kernel_args *a, const moe_state *s, moe_run *m)
{
    ocs_hook_moe_call c;
    ocs_status st = ocs_hook_moe_check(&s->plan, a->n_inputs, (const ocs_tensor *const *)a->inputs, &c, a->err);
    if (st != OCS_OK)
        return st;
    m->t = c.t;
    m->T = c.T;
    m->E = c.E;
    m->H = c.H;
    m->k = c.k;
    m->P = c.P;
    m->inter = c.inter;
    m->r1 = c.r1;
    m->gated = c.gated;
    m->layout = c.layout;
    m->x = c.x;
    m->W1 = c.W1;
    m->b1 = c.b1;
    m->W2 = c.W2;
    m->b2 = c.b2;
    m->W3 = c.W3;
    m->b3 = c.b3;
    if (m->T > INT32_MAX || m->H > INT32_MAX || m->r1 > INT32_MAX / 2 || m->inter > INT32_MAX / 2)
        return ocs_fail(a->err, OCS_ERR_UNSUPPORTED, "MoE dimensions beyond 2^31 are not supported by sgemm");
    return OCS_OK;
}

/* ---- scratch ------------------------------------------------------------------------------------------ */

/* Adds n elements of size sz to a layout of *total bytes (64-byte aligned parts); 0 on overflow. */
static int reserve(size_t *total, size_t n, size_t sz, size_t *offset)
{
    size_t at = (*total + 63) & ~(size_t)63;
    if (at < *total || (n && sz > (SIZE_MAX - at) / n) || n * sz > SIZE_MAX - at)
        return 0;
    *offset = at;
    *total = at + n * sz;
    return 1;
}

/* Grows *buf (of *size bytes) to at least total bytes; the contents are not kept. */
static ocs_status grow(void **buf, size_t *size, size_t total, ocs_err *err)
{
    if (total <= *size)
        return OCS_OK;
    free(*buf);
    *size = 0;
    *buf = aligned_alloc(64, (total + 63) & ~(size_t)63);
    if (!*buf)
        return ocs_fail(err, OCS_ERR_NOMEM, "out of memory for %zu bytes of MoE scratch", total);
    *size = total;
    return OCS_OK;
}

/* ---- run --------------------------------------------------------------------------------------------------- */

static ocs_status route_all(ocs_kernel_args *a, const moe_state *s, moe_run *m, route_scratch *r)
{
    const ocs_tensor *logits = a->inputs[1];
    for (size_t t = 0; t < m->T; t++) {
        for (size_t e = 0; e < m->E; e++)
            r->z[e] = load_elem(logits->data, logits->dtype, t * m->E + e);
        route_token(s, m->E, m->k, r, m->w + t * m->k, m->idx + t * m->k);
    }
    for (size_t t = 0; t < m->T; t++)
        for (size_t j = 0; j < m->k; j++) {
            int64_t v = m->idx[t * m->k + j];
            if (v < 0 || (uint64_t)v >= m->E)
                return ocs_fail(a->err, OCS_ERR_INVALID,
                                "router: token %zu, slot %zu selects expert %lld, outside [0, %zu)", t, j,
                                (long long)v, m->E);
            for (size_t q = 0; q < j; q++)
                if (m->idx[t * m->k + q] == v)
                    return ocs_fail(a->err, OCS_ERR_INVALID,
                                    "router: token %zu selects expert %lld twice (slots %zu and %zu); the k "
                                    "indices of a token must be distinct", t, (long long)v, q, j);
        }
    return OCS_OK;
}

/* The routing arrays, sized by T, k and E. */
static ocs_status routing_scratch(ocs_kernel_args *a, moe_state *s, moe_run *m, route_scratch *r, size_t **cnt,
                                  stream_task **tasks)
{
    size_t total = 0, o_w, o_idx, o_start, o_cnt, o_pos, o_tok, o_rz, o_rt, o_rgi, o_task, o_srow, o_blk;
    size_t n_tasks = m->E * ((m->inter > m->H ? m->inter : m->H) / STREAM_ROWS + 1);
    if (!reserve(&total, m->P, sizeof(float), &o_w) || !reserve(&total, m->P, sizeof(int64_t), &o_idx) ||
        !reserve(&total, m->E + 1, sizeof(size_t), &o_start) || !reserve(&total, m->E + 1, sizeof(size_t), &o_cnt) ||
        !reserve(&total, m->P, sizeof(size_t), &o_pos) || !reserve(&total, m->P, sizeof(size_t), &o_tok) ||
        !reserve(&total, 4 * m->E, sizeof(float), &o_rz) || !reserve(&total, m->E, 1, &o_rt) ||
        !reserve(&total, m->E, sizeof(int64_t), &o_rgi) || !reserve(&total, n_tasks, sizeof(stream_task), &o_task) ||
        !reserve(&total, m->E, sizeof(size_t), &o_srow) || !reserve(&total, m->E, sizeof(size_t), &o_blk))
        return ocs_fail(a->err, OCS_ERR_NOMEM, "MoE routing scratch for T = %zu, k = %zu, E = %zu is too large",
                        m->T, m->k, m->E);
    ocs_status st = grow(&s->scratch, &s->scratch_size, total, a->err);
    if (st != OCS_OK)
        return st;
    char *base = s->scratch;
    m->w = (float *)(base + o_w);
    m->idx = (int64_t *)(base + o_idx);
    m->start = (size_t *)(base + o_start);
    *cnt = (size_t *)(base + o_cnt);
    m->pos = (size_t *)(base + o_pos);
    m->tok = (size_t *)(base + o_tok);
    float *rz = (float *)(base + o_rz);
    *r = (route_scratch){rz, rz + m->E, rz + 2 * m->E, rz + 3 * m->E, (unsigned char *)(base + o_rt),
                         (int64_t *)(base + o_rgi)};
    *tasks = (stream_task *)(base + o_task);
    m->srow = (size_t *)(base + o_srow);
    m->blk = (size_t *)(base + o_blk);
    return OCS_OK;
}

/* The expert buffers, sized by the token counts: s_rows streaming rows, g_max tokens of the largest sgemm expert. */
static ocs_status work_scratch(ocs_kernel_args *a, moe_state *s, moe_run *m, size_t s_rows, size_t g_max,
                               size_t blocks)
{
    size_t total = 0, o_Y, o_Xs, o_Hs, o_Xt, o_Zt, o_Ht, o_Yt, o_conv, o_Xb, o_Hb, o_eb;
    size_t zrows = m->gated ? 2 * m->inter : m->inter, conv_cols = m->H > m->inter ? m->H : m->inter;
    /* rows a multiple of 4 KiB apart would share cache sets; one line more apart they do not */
    m->ldxs = m->H % 1024 ? m->H : m->H + 16;
    m->ldhs = m->inter % 1024 ? m->inter : m->inter + 16;
    int ok = m->H <= SIZE_MAX / sizeof(float) && m->inter <= SIZE_MAX / sizeof(float) / 2 &&
             reserve(&total, m->P, m->H * sizeof(float), &o_Y) &&
             reserve(&total, s_rows, m->ldxs * sizeof(float), &o_Xs) &&
             reserve(&total, s_rows, m->ldhs * sizeof(float), &o_Hs) &&
             reserve(&total, g_max, m->H * sizeof(float), &o_Xt) &&
             reserve(&total, g_max, zrows * sizeof(float), &o_Zt) &&
             reserve(&total, g_max, m->inter * sizeof(float), &o_Ht) &&
             reserve(&total, g_max, m->H * sizeof(float), &o_Yt) &&
             reserve(&total, m->t == OCS_FLOAT || !g_max ? 0 : CONVERT_ROWS, conv_cols * sizeof(float), &o_conv) &&
             m->H <= SIZE_MAX / sizeof(float) / 32 && m->inter <= SIZE_MAX / sizeof(float) / 32 &&
             reserve(&total, blocks, m->H * 32 * sizeof(float), &o_Xb) &&
             reserve(&total, blocks, m->inter * 32 * sizeof(float), &o_Hb) &&
             reserve(&total, blocks, sizeof(uint32_t), &o_eb);
    if (!ok)
        return ocs_fail(a->err, OCS_ERR_NOMEM, "MoE scratch for T = %zu, k = %zu, H = %zu, I = %zu is too large",
                        m->T, m->k, m->H, m->inter);
    ocs_status st = grow(&s->work, &s->work_size, total, a->err);
    if (st != OCS_OK)
        return st;
    char *base = s->work;
    m->Y = (float *)(base + o_Y);
    m->Xs = (float *)(base + o_Xs);
    m->Hs = (float *)(base + o_Hs);
    m->Xt = (float *)(base + o_Xt);
    m->Zt = (float *)(base + o_Zt);
    m->Ht = (float *)(base + o_Ht);
    m->Yt = (float *)(base + o_Yt);
    m->conv = (float *)(base + o_conv);
    m->Xb = (float *)(base + o_Xb);
    m->Hb = (float *)(base + o_Hb);
    m->eb = (uint32_t *)(base + o_eb);
    return OCS_OK;
}

/* How an expert with n tokens runs: streaming (few tokens), 32-token blocks (many, AVX-512), or sgemm. */
static int streams(const moe_run *m, size_t n)
{
    (void)m;
    return n > 0 && n <= STREAM_MAX_TOKENS;
}

static int blocked(const moe_run *m, size_t n)
{
    return n > STREAM_MAX_TOKENS && m->gemm32;
}

/* The tasks of one projection with `rows` outputs: STREAM_ROWS rows of one expert each.  Returns the count. */
static size_t stream_tasks(const moe_run *m, stream_task *tasks, size_t rows)
{
    size_t n = 0;
    for (size_t e = 0; e < m->E; e++) {
        size_t ne = m->start[e + 1] - m->start[e];
        if (streams(m, ne) || blocked(m, ne))
            for (size_t r0 = 0; r0 < rows; r0 += STREAM_ROWS)
                tasks[n++] = (stream_task){(uint32_t)e, (uint32_t)r0,
                                           (uint32_t)(rows - r0 < STREAM_ROWS ? rows : r0 + STREAM_ROWS)};
    }
    return n;
}

/* The weight of grouped pair q (the slot j of its token with pos[t, j] = q). */
static double pair_weight(const moe_run *m, size_t q)
{
    size_t t = m->tok[q];
    for (size_t j = 0; j < m->k; j++)
        if (m->pos[t * m->k + j] == q)
            return m->w[t * m->k + j];
    return 1.0;
}

/* w v rounded once to the storage type: an input row scaled by its routing weight. */
static float scaled(const moe_run *m, double w, float v)
{
    double s = w * (double)v;
    return m->t == OCS_FLOAT16    ? ocs_half_to_float(ocs_double_to_half(s))
           : m->t == OCS_BFLOAT16 ? ocs_bfloat16_to_float(ocs_double_to_bfloat16(s))
                                  : (float)s;
}

/* Input element h of grouped pair q as the expert receives it (scaled when the weight applies to the input). */
static float expert_input(const moe_run *m, size_t q, size_t h)
{
    float v = load_elem(m->x->data, m->t, m->tok[q] * m->H + h);
    return m->s->plan.weight_on_input ? scaled(m, pair_weight(m, q), v) : v;
}

typedef struct block_job {
    const moe_run *m;
    const uint32_t *eb;         /* [blocks] expert of each block */
} block_job;

/* Xb of one block: column j is the block's token j, zero past the expert's count. */
static void gather_block(void *arg, size_t task, size_t thread)
{
    (void)thread;
    const block_job *j = arg;
    const moe_run *m = j->m;
    size_t e = j->eb[task], b = task - m->blk[e], n = m->start[e + 1] - m->start[e];
    size_t nt = n - b * 32 < 32 ? n - b * 32 : 32, q0 = m->start[e] + b * 32;
    float *Xt = m->Xb + task * m->H * 32;
    for (size_t h = 0; h < m->H; h++) {
        for (size_t c = 0; c < nt; c++)
            Xt[h * 32 + c] = expert_input(m, q0 + c, h);
        for (size_t c = nt; c < 32; c++)
            Xt[h * 32 + c] = 0.0f;
    }
}

/* The rows of the streaming experts, scaled by the weight when it applies to the input. */
static void gather_rows(moe_run *m)
{
    for (size_t t = 0; t < m->T; t++)
        for (size_t j = 0; j < m->k; j++) {
            size_t q = m->pos[t * m->k + j], e = (size_t)m->idx[t * m->k + j];
            if (!streams(m, m->start[e + 1] - m->start[e]))
                continue;
            float *row = m->Xs + (m->srow[e] + q - m->start[e]) * m->ldxs;
            double wt = m->w[t * m->k + j];
            if (m->t == OCS_FLOAT && !m->s->plan.weight_on_input) {
                memcpy(row, (const float *)m->x->data + t * m->H, m->H * sizeof *row);
            } else if (!m->s->plan.weight_on_input) {
                for (size_t h = 0; h < m->H; h++)
                    row[h] = load_elem(m->x->data, m->t, t * m->H + h);
            } else {
                for (size_t h = 0; h < m->H; h++)
                    row[h] = scaled(m, wt, load_elem(m->x->data, m->t, t * m->H + h));
            }
        }
}

ocs_status ocs_cpu_moe_run(ocs_cpu *c, void *state, ocs_kernel_args *a)
{
    moe_state *s = state;
    moe_run m;
    memset(&m, 0, sizeof m);
    m.cpu = c;
    m.s = s;
    m.dot = ocs_moe_dot_kernel(s->plan.expert.dtype, s->isa);
    m.gemm32 = ocs_moe_gemm32_kernel(s->plan.expert.dtype, s->isa);
    ocs_status st = validate(a, s, &m);
    if (st != OCS_OK)
        return st;
    m.x = a->inputs[0];
    ocs_tensor *out = NULL;
    if ((st = ocs_tensor_new(m.x->dtype, m.x->rank, m.x->dims, &out, a->err)) != OCS_OK)
        return st;
    if (m.T == 0 || m.H == 0) {
        a->outputs[0] = out;
        return OCS_OK;
    }
    route_scratch r = {NULL, NULL, NULL, NULL, NULL, NULL};
    size_t *cnt = NULL;
    stream_task *tasks = NULL;
    if ((st = routing_scratch(a, s, &m, &r, &cnt, &tasks)) != OCS_OK || (st = route_all(a, s, &m, &r)) != OCS_OK) {
        ocs_tensor_free(out);
        return st;
    }

    /* group the pairs by expert: counting sort, tokens ascending within an expert */
    memset(cnt, 0, (m.E + 1) * sizeof *cnt);
    for (size_t q = 0; q < m.P; q++)
        cnt[m.idx[q]]++;
    m.start[0] = 0;
    for (size_t e = 0; e < m.E; e++)
        m.start[e + 1] = m.start[e] + cnt[e];
    memset(cnt, 0, (m.E + 1) * sizeof *cnt);
    for (size_t t = 0; t < m.T; t++)
        for (size_t j = 0; j < m.k; j++) {
            size_t e = (size_t)m.idx[t * m.k + j], at = m.start[e] + cnt[e]++;
            m.tok[at] = t;
            m.pos[t * m.k + j] = at;
        }
    size_t s_rows = 0, g_max = 0, blocks = 0;
    for (size_t e = 0; e < m.E; e++) {
        size_t n = m.start[e + 1] - m.start[e];
        m.srow[e] = s_rows;
        m.blk[e] = blocks;
        if (streams(&m, n))
            s_rows += n;
        else if (blocked(&m, n))
            blocks += (n + 31) / 32;
        else if (n > g_max)
            g_max = n;
    }
    if ((st = work_scratch(a, s, &m, s_rows, g_max, blocks)) != OCS_OK) {
        ocs_tensor_free(out);
        return st;
    }
    gather_rows(&m);
    if (blocks) {
        for (size_t e = 0; e < m.E; e++)
            if (blocked(&m, m.start[e + 1] - m.start[e]))
                for (size_t b = 0; b * 32 < m.start[e + 1] - m.start[e]; b++)
                    m.eb[m.blk[e] + b] = (uint32_t)e;
        block_job bj = {&m, m.eb};
        ocs_pool_run(c->pool, blocks, gather_block, &bj);
    }

    /* activation constants, as the canonical graphs store them */
    m.c_sqrt2 = const_in(sqrt(2.0), m.t);
    m.c_half = const_in(0.5, m.t);
    m.c_one = const_in(1.0, m.t);
    m.c_tanh0 = const_in(sqrt(2.0 / 3.14159265358979323846), m.t);
    m.c_tanh1 = const_in(0.044715, m.t);
    m.alpha = s->plan.expert.alpha;
    m.beta = s->plan.expert.beta;
    m.limit = s->plan.expert.limit;

    /* experts with few tokens stream their weights, experts with many run by 32-token blocks:
     * all of them in one pass per projection, the pool's threads splitting the rows */
    if (s_rows || blocks) {
        stream_job sj = {&m, tasks};
        ocs_pool_run(c->pool, stream_tasks(&m, tasks, m.inter), stream_up, &sj);
        ocs_pool_run(c->pool, stream_tasks(&m, tasks, m.H), stream_down, &sj);
    }
    /* experts with many tokens without AVX-512: sgemm, one expert at a time */
    for (size_t e = 0; e < m.E; e++) {
        size_t n = m.start[e + 1] - m.start[e];
        if (n > 0 && !streams(&m, n) && !blocked(&m, n))
            gemm_expert(&m, e);
    }
    combine_job cj = {&m, out};
    ocs_pool_run(c->pool, (m.T + COMBINE_TOKENS - 1) / COMBINE_TOKENS, combine, &cj);
    a->outputs[0] = out;
    return OCS_OK;
}
