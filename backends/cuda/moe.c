/*
 * backends/cuda/moe.c - ai.onnx.preview MoE on the CUDA backend.
 *
 * Claimed when the expert hook is canonical and the router is absent (the
 * default) or canonical (ocs/hook_match.h), with float, float16 or bfloat16
 * input and parameters, as the cpu backend claims it; any other hook is left
 * to the executor's other backends (the reference runs every hook, through
 * its generic path).  The result is the reference's (DESIGN.md 4):
 *
 *   1. routing on the device (kernels.h), the reference's steps in float32
 *      and double, so the chosen experts agree; the [T, k] indices come back
 *      to the host, which groups the routed (token, slot) pairs by expert
 *      with a counting sort (tokens ascending within an expert) and learns
 *      the row count of every expert, which the GEMMs need;
 *   2. only the experts that receive tokens have their parameter slices
 *      copied to the device (a decode step touches k of E experts);
 *   3. gather: the routed rows in expert order (times the routing weight,
 *      rounded to T, with weight_position = "input");
 *   4. per expert with rows, the gate/up projection(s) as cuBLAS GEMMs
 *      (x W^T, float32 accumulation; the output in T, or in float32 when a
 *      bias is added afterwards so that the sum rounds once), one fused
 *      activation kernel over all rows, and the down projection.  When many
 *      experts each have few rows, the GEMMs of a projection go out as one
 *      grouped batched cuBLAS call instead (OCS_CUDA_MOE_GROUPED=0 or 1
 *      forces either way);
 *   5. combine: out[t] = sum over j ascending of w[t, j] y(t, j), float32,
 *      rounded once.
 * Everything after routing is enqueued on the stream without waiting; the
 * output's copy back ends the call.
 */
#include "cuda.h"
#include "host.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Grouped batched GEMMs when at least this many experts have rows and none more than ... */
#define GROUPED_MIN_EXPERTS 4
#define GROUPED_MAX_ROWS 64

/* ---- the node's plan -------------------------------------------------------------------------------- */


static int logits_type(ocs_dtype t)
{
    return t == OCS_FLOAT || t == OCS_FLOAT16 || t == OCS_BFLOAT16 || t == OCS_DOUBLE;
}

int ocs_cuda_moe_supports(ocs_cuda *c, const ocs_node *n, int64_t since_version, size_t n_in,
                          const ocs_tensor_type *in)
{
    (void)c;
    ocs_cuda_moe_plan s;
    return since_version == 1 && ocs_hook_match_moe(n, &s) && ocs_hook_moe_types_fused(&s, n_in, in);
}

ocs_status ocs_cuda_moe_prepare(ocs_cuda *c, const ocs_node *n, void **state, ocs_err *err)
{
    (void)c;
    *state = NULL;
    ocs_cuda_moe_plan *s = calloc(1, sizeof *s);
    if (!s)
        return ocs_fail(err, OCS_ERR_NOMEM, "out of memory preparing MoE");
    if (!ocs_hook_match_moe(n, s)) {
        free(s);
        return ocs_fail(err, OCS_ERR_UNSUPPORTED, "MoE: the hooks are not canonical");
    }
    *state = s;
    return OCS_OK;
}

void ocs_cuda_moe_release(void *state)
{
    free(state);
}

/* ---- validation ---------------------------------------------------------------------------------------- */

/* The reference's checks (ocs_hook_moe_check), then the logits types the router kernel reads and
 * cuBLAS's int dimensions. */
ocs_status ocs_cuda_moe_validate(ocs_kernel_args *a, const ocs_cuda_moe_plan *s, ocs_cuda_moe_call *m)
{
    ocs_status st = ocs_hook_moe_check(s, a->n_inputs, (const ocs_tensor *const *)a->inputs, m, a->err);
    if (st != OCS_OK)
        return st;
    if (!logits_type(m->logits->dtype))
        return ocs_fail(a->err, OCS_ERR_UNSUPPORTED, "MoE: input 1 (router_logits) of type %s is not supported",
                        ocs_dtype_name(m->logits->dtype));
    if (m->T > INT32_MAX / (m->k ? m->k : 1) || m->H > INT32_MAX || m->r1 > INT32_MAX / 2 || m->E > INT32_MAX)
        return ocs_fail(a->err, OCS_ERR_UNSUPPORTED,
                        "MoE: the cuda backend needs T k, H and 2 I below 2^31 (cuBLAS int dimensions)");
    return OCS_OK;
}

/* ---- grouping ----------------------------------------------------------------------------------------- */

ocs_status ocs_cuda_moe_group(size_t T, size_t E, size_t k, const int32_t *idx, ocs_cuda_moe_groups *g,
                              ocs_err *err)
{
    memset(g, 0, sizeof *g);
    for (size_t t = 0; t < T; t++)
        for (size_t j = 0; j < k; j++) {
            const int64_t v = idx[t * k + j];
            if (v < 0 || (uint64_t)v >= E)
                return ocs_fail(err, OCS_ERR_INVALID, "router: token %zu, slot %zu selects expert %lld, outside [0, %zu)",
                                t, j, (long long)v, E);
            for (size_t q = 0; q < j; q++)
                if (idx[t * k + q] == v)
                    return ocs_fail(err, OCS_ERR_INVALID,
                                    "router: token %zu selects expert %lld twice (slots %zu and %zu); the k "
                                    "indices of a token must be distinct", t, (long long)v, q, j);
        }
    const size_t P = T * k;
    g->E = E;
    g->P = P;
    g->start = calloc(E + 1, sizeof *g->start);
    size_t *cnt = calloc(E + 1, sizeof *cnt);
    g->row_pair = malloc((P + 1) * sizeof *g->row_pair);
    g->pos = malloc((P + 1) * sizeof *g->pos);
    g->row_expert = malloc((P + 1) * sizeof *g->row_expert);
    g->row_slot = malloc((P + 1) * sizeof *g->row_slot);
    g->active = malloc((E + 1) * sizeof *g->active);
    g->slot_of = malloc((E + 1) * sizeof *g->slot_of);
    if (!g->start || !cnt || !g->row_pair || !g->pos || !g->row_expert || !g->row_slot || !g->active || !g->slot_of) {
        free(cnt);
        ocs_cuda_moe_groups_free(g);
        return ocs_fail(err, OCS_ERR_NOMEM, "MoE: out of memory grouping %zu routed pairs", P);
    }
    for (size_t q = 0; q < P; q++)
        cnt[idx[q]]++;
    for (size_t e = 0; e < E; e++) {
        g->start[e + 1] = g->start[e] + cnt[e];
        g->slot_of[e] = -1;
        if (cnt[e]) {
            g->slot_of[e] = (int32_t)g->n_active;
            g->active[g->n_active++] = (int32_t)e;
        }
    }
    memset(cnt, 0, (E + 1) * sizeof *cnt);
    for (size_t t = 0; t < T; t++)
        for (size_t j = 0; j < k; j++) {
            const size_t q = t * k + j, e = (size_t)idx[q], row = g->start[e] + cnt[e]++;
            g->row_pair[row] = (int32_t)q;
            g->pos[q] = (int32_t)row;
            g->row_expert[row] = (int32_t)e;
            g->row_slot[row] = g->slot_of[e];
        }
    free(cnt);
    return OCS_OK;
}

void ocs_cuda_moe_groups_free(ocs_cuda_moe_groups *g)
{
    free(g->start);
    free(g->row_pair);
    free(g->pos);
    free(g->row_expert);
    free(g->row_slot);
    free(g->active);
    free(g->slot_of);
    memset(g, 0, sizeof *g);
}

/* ---- device work ---------------------------------------------------------------------------------------- */

/* The scratch of one call, carved the same way by both stages. */
typedef struct moe_scratch {
    float *rz;                 /* routing: [T, 4E] */
    unsigned char *taken;      /* [T, E] */
    int32_t *gi;               /* [T, E] */
    float *w;                  /* [T, k] */
    int32_t *idx;              /* [T, k] */
    int32_t *row_pair, *pos, *row_slot;   /* [P] */
    void *xg;                  /* [P, H] T */
    void *z;                   /* [P, zcols] T or float */
    void *h;                   /* [P, I] T */
    void *y;                   /* [P, H] T or float */
    const void **pa, **pb;     /* grouped GEMM pointer arrays [2 E] */
    void **pc;
} moe_scratch;

static int z_is_float(const ocs_cuda_moe_call *m)
{
    return m->t == OCS_FLOAT || m->b1 || m->b3;
}

static int y_is_float(const ocs_cuda_moe_call *m)
{
    return m->t == OCS_FLOAT || m->b2;
}

static size_t zcols_of(const ocs_cuda_moe_call *m)
{
    return m->gated ? 2 * m->inter : m->inter;
}

static void carve_scratch(ocs_cuda_carver *cv, const ocs_cuda_moe_call *m, moe_scratch *s)
{
    const size_t es = ocs_dtype_size(m->t), P = m->P, T = m->T, E = m->E;
    s->rz = ocs_cuda_carve(cv, T * 4, E * sizeof(float));
    s->taken = ocs_cuda_carve(cv, T, E);
    s->gi = ocs_cuda_carve(cv, T, E * sizeof(int32_t));
    s->w = ocs_cuda_carve(cv, P, sizeof(float));
    s->idx = ocs_cuda_carve(cv, P, sizeof(int32_t));
    s->row_pair = ocs_cuda_carve(cv, P, sizeof(int32_t));
    s->pos = ocs_cuda_carve(cv, P, sizeof(int32_t));
    s->row_slot = ocs_cuda_carve(cv, P, sizeof(int32_t));
    s->xg = ocs_cuda_carve(cv, P, m->H * es);
    s->z = ocs_cuda_carve(cv, P, zcols_of(m) * (z_is_float(m) ? sizeof(float) : es));
    s->h = ocs_cuda_carve(cv, P, m->inter * es);
    s->y = ocs_cuda_carve(cv, P, m->H * (y_is_float(m) ? sizeof(float) : es));
    s->pa = ocs_cuda_carve(cv, 2 * E, sizeof(void *));
    s->pb = ocs_cuda_carve(cv, 2 * E, sizeof(void *));
    s->pc = ocs_cuda_carve(cv, 2 * E, sizeof(void *));
}

/* The scratch carved in c->scratch, reserving it when reserve != 0 (else it must be large enough). */
static ocs_status scratch_of(ocs_cuda *c, const ocs_cuda_moe_call *m, int reserve, moe_scratch *s, ocs_err *err)
{
    ocs_cuda_carver cv = {NULL, 0, 0};
    carve_scratch(&cv, m, s);
    if (cv.overflow || (m->H && m->P > SIZE_MAX / m->H))
        return ocs_fail(err, OCS_ERR_NOMEM, "MoE: scratch for T = %zu, k = %zu, H = %zu, I = %zu overflows", m->T,
                        m->k, m->H, m->inter);
    if (reserve) {
        ocs_status st = ocs_cuda_buf_reserve(&c->scratch, cv.used, err);
        if (st != OCS_OK)
            return st;
    } else if (c->scratch.size < cv.used) {
        return ocs_fail(err, OCS_ERR_INVALID, "MoE: the routing stage did not reserve the scratch");
    }
    cv = (ocs_cuda_carver){c->scratch.ptr, 0, 0};
    carve_scratch(&cv, m, s);
    return OCS_OK;
}

ocs_status ocs_cuda_moe_route_group(ocs_cuda *c, const ocs_cuda_moe_plan *p, const ocs_cuda_moe_call *m,
                                    const ocs_cuda_moe_dev *d, ocs_cuda_moe_groups *g, ocs_err *err)
{
    memset(g, 0, sizeof *g);
    moe_scratch s;
    ocs_status st = scratch_of(c, m, 1, &s, err);
    if (st != OCS_OK)
        return st;
    ocs_cuda_router r;
    memset(&r, 0, sizeof r);
    r.kind = p->has_router ? (int)p->router.kind : OCS_CUDA_ROUTER_DEFAULT;
    r.renormalize = p->has_router ? p->router.renormalize : 1;
    r.scaling = 1.0f;
    if (p->has_router && p->router.kind == OCS_HOOK_ROUTER_SIGMOID_GROUPED) {
        const ocs_moe_grouped *gr = &p->router.grouped;
        r.n_group = (int)gr->n_group;
        r.topk_group = (int)gr->topk_group;
        r.g_renormalize = gr->renormalize;
        r.scaling = gr->routed_scaling_factor;
        r.bias = gr->bias ? d->router_bias : NULL;
        r.n_bias = (int)gr->n_bias;
    }
    if (p->has_router && p->router.kind == OCS_HOOK_ROUTER_SPARSEMIXER)
        r.jitter_eps = p->router.jitter_eps;
    int32_t *idx = malloc((m->P + 1) * sizeof *idx);
    if (!idx)
        return ocs_fail(err, OCS_ERR_NOMEM, "MoE: out of memory for %zu routing indices", m->P);
    if ((st = OCS_CU(ocs_cuda_moe_route(d->logits, (int)d->logits_type, (int)m->T, (int)m->E, (int)m->k, &r, s.rz,
                                        s.taken, s.gi, s.w, s.idx, c->stream))) != OCS_OK ||
        (st = OCS_CU(cudaMemcpyAsync(idx, s.idx, m->P * sizeof *idx, cudaMemcpyDeviceToHost, c->stream))) != OCS_OK ||
        (st = OCS_CU(cudaStreamSynchronize(c->stream))) != OCS_OK) {
        free(idx);
        return st;
    }
    st = ocs_cuda_moe_group(m->T, m->E, m->k, idx, g, err);
    free(idx);
    return st;
}

static cudaDataType_t cuda_type(ocs_dtype t)
{
    return t == OCS_FLOAT16 ? CUDA_R_16F : t == OCS_BFLOAT16 ? CUDA_R_16BF : CUDA_R_32F;
}

/* One GEMM of the row-major products C[n, rows] = A[n, K] W[rows, K]^T (column-major: W^T^T A^T). */
typedef struct gemm {
    int rows, n, K;
    const void *W, *A;
    int ldw, lda;
    void *C;
    int ldc;
} gemm;

/* Runs gm[0..count) as separate GEMMs, or as one grouped batched call when grouped != 0 and cuBLAS takes it. */
static ocs_status run_gemms(ocs_cuda *c, cublasHandle_t h, const gemm *gm, size_t count, cudaDataType_t ab,
                            cudaDataType_t ct, int grouped, const moe_scratch *s, ocs_err *err)
{
    const float one = 1.0f, zero = 0.0f;
    ocs_status st;
    if (count == 0)
        return OCS_OK;
    if (grouped && count <= 2 * (size_t)INT32_MAX) {
        /* one group per problem: the shapes differ from expert to expert */
        const size_t n = count;
        cublasOperation_t *ta = malloc(n * sizeof *ta), *tb = malloc(n * sizeof *tb);
        int *mm = malloc(n * sizeof *mm), *nn = malloc(n * sizeof *nn), *kk = malloc(n * sizeof *kk);
        int *lda = malloc(n * sizeof *lda), *ldb = malloc(n * sizeof *ldb), *ldc = malloc(n * sizeof *ldc);
        int *gsz = malloc(n * sizeof *gsz);
        float *al = malloc(n * sizeof *al), *be = malloc(n * sizeof *be);
        const void **pa = malloc(n * sizeof *pa), **pb = malloc(n * sizeof *pb);
        void **pc = malloc(n * sizeof *pc);
        int ok = ta && tb && mm && nn && kk && lda && ldb && ldc && gsz && al && be && pa && pb && pc;
        cublasStatus_t bs = CUBLAS_STATUS_NOT_SUPPORTED;
        st = OCS_OK;
        if (ok) {
            for (size_t i = 0; i < n; i++) {
                ta[i] = CUBLAS_OP_T;
                tb[i] = CUBLAS_OP_N;
                mm[i] = gm[i].rows;
                nn[i] = gm[i].n;
                kk[i] = gm[i].K;
                lda[i] = gm[i].ldw;
                ldb[i] = gm[i].lda;
                ldc[i] = gm[i].ldc;
                gsz[i] = 1;
                al[i] = 1.0f;
                be[i] = 0.0f;
                pa[i] = gm[i].W;
                pb[i] = gm[i].A;
                pc[i] = gm[i].C;
            }
            if ((st = OCS_CU(cudaMemcpyAsync((void *)s->pa, pa, n * sizeof *pa, cudaMemcpyHostToDevice, c->stream))) ==
                    OCS_OK &&
                (st = OCS_CU(cudaMemcpyAsync((void *)s->pb, pb, n * sizeof *pb, cudaMemcpyHostToDevice, c->stream))) ==
                    OCS_OK &&
                (st = OCS_CU(cudaMemcpyAsync((void *)s->pc, pc, n * sizeof *pc, cudaMemcpyHostToDevice, c->stream))) ==
                    OCS_OK)
                bs = cublasGemmGroupedBatchedEx(h, ta, tb, mm, nn, kk, al, s->pa, ab, lda, s->pb, ab, ldb, be,
                                                (void *const *)s->pc, ct, ldc, (int)n, gsz, CUBLAS_COMPUTE_32F);
        }
        free(ta);
        free(tb);
        free(mm);
        free(nn);
        free(kk);
        free(lda);
        free(ldb);
        free(ldc);
        free(gsz);
        free(al);
        free(be);
        free(pa);
        free(pb);
        free(pc);
        if (st != OCS_OK)
            return st;
        if (ok && bs == CUBLAS_STATUS_SUCCESS)
            return OCS_OK;
        if (ok && bs != CUBLAS_STATUS_NOT_SUPPORTED && bs != CUBLAS_STATUS_INVALID_VALUE)
            return OCS_CUBLAS(bs);
        /* not taken (or no memory for the arrays): the same products one by one */
    }
    for (size_t i = 0; i < count; i++) {
        if (gm[i].rows == 0 || gm[i].n == 0)
            continue;
        if ((st = OCS_CUBLAS(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, gm[i].rows, gm[i].n, gm[i].K, &one, gm[i].W, ab,
                                          gm[i].ldw, gm[i].A, ab, gm[i].lda, &zero, gm[i].C, ct, gm[i].ldc,
                                          CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT))) != OCS_OK)
            return st;
    }
    return OCS_OK;
}

/* A storage-type constant as the canonical graph stores it (rounded from double), as float. */
static float const_in(double v, ocs_dtype t)
{
    if (t == OCS_FLOAT16)
        return ocs_half_to_float(ocs_double_to_half(v));
    if (t == OCS_BFLOAT16)
        return ocs_bfloat16_to_float(ocs_double_to_bfloat16(v));
    return (float)v;
}

/* Elements per expert of a parameter tensor. */
static size_t per_expert(const ocs_tensor *p)
{
    return p ? p->numel / (size_t)p->dims[0] : 0;
}

static int want_grouped(const ocs_cuda_moe_groups *g)
{
    const char *env = getenv("OCS_CUDA_MOE_GROUPED");
    if (env && *env)
        return strcmp(env, "0") != 0;
    if (g->n_active < GROUPED_MIN_EXPERTS)
        return 0;
    for (size_t i = 0; i < g->n_active; i++) {
        const size_t e = (size_t)g->active[i];
        if (g->start[e + 1] - g->start[e] > GROUPED_MAX_ROWS)
            return 0;
    }
    return 1;
}

ocs_status ocs_cuda_moe_experts(ocs_cuda *c, const ocs_cuda_moe_plan *p, const ocs_cuda_moe_call *m,
                                const ocs_cuda_moe_dev *d, const ocs_cuda_moe_groups *g, int identity_slots,
                                ocs_err *err)
{
    moe_scratch s;
    ocs_status st = scratch_of(c, m, 0, &s, err);
    if (st != OCS_OK)
        return st;
    cublasHandle_t h;
    if ((st = ocs_cuda_blas(c, &h, err)) != OCS_OK)
        return st;
    const size_t P = m->P, H = m->H, I = m->inter, es = ocs_dtype_size(m->t), zc = zcols_of(m);
    const int code = (int)m->t;
    cudaStream_t sm = c->stream;
    if ((st = ocs_cuda_poison(c, s.xg, P * H * es, err)) != OCS_OK ||
        (st = ocs_cuda_poison(c, s.z, P * zc * (z_is_float(m) ? sizeof(float) : es), err)) != OCS_OK ||
        (st = ocs_cuda_poison(c, s.h, P * I * es, err)) != OCS_OK ||
        (st = ocs_cuda_poison(c, s.y, P * H * (y_is_float(m) ? sizeof(float) : es), err)) != OCS_OK)
        return st;
    if ((st = OCS_CU(cudaMemcpyAsync(s.row_pair, g->row_pair, P * sizeof(int32_t), cudaMemcpyHostToDevice, sm))) !=
            OCS_OK ||
        (st = OCS_CU(cudaMemcpyAsync(s.pos, g->pos, P * sizeof(int32_t), cudaMemcpyHostToDevice, sm))) != OCS_OK ||
        (st = OCS_CU(cudaMemcpyAsync(s.row_slot, identity_slots ? g->row_expert : g->row_slot, P * sizeof(int32_t),
                                     cudaMemcpyHostToDevice, sm))) != OCS_OK ||
        (st = OCS_CU(ocs_cuda_moe_gather(code, d->x, (int64_t)P, (int)H, (int)m->k, s.row_pair, s.w,
                                         p->weight_on_input, s.xg, sm))) != OCS_OK)
        return st;

    /* the projections: per active expert, rows start[e] .. start[e + 1] */
    const cudaDataType_t ab = cuda_type(m->t);
    const cudaDataType_t zt = z_is_float(m) ? CUDA_R_32F : ab, yt = y_is_float(m) ? CUDA_R_32F : ab;
    const size_t zsz = z_is_float(m) ? sizeof(float) : es, ysz = y_is_float(m) ? sizeof(float) : es;
    const size_t w1_per = per_expert(m->W1), w2_per = per_expert(m->W2), w3_per = per_expert(m->W3);
    const int grouped = want_grouped(g);
    gemm *gm = malloc((2 * g->n_active + 1) * sizeof *gm);
    if (!gm)
        return ocs_fail(err, OCS_ERR_NOMEM, "MoE: out of memory");
    size_t n1 = 0;
    for (size_t i = 0; i < g->n_active; i++) {
        const size_t e = (size_t)g->active[i], slot = identity_slots ? e : (size_t)g->slot_of[e];
        const int n = (int)(g->start[e + 1] - g->start[e]);
        const char *X = (const char *)s.xg + g->start[e] * H * es;
        char *Z = (char *)s.z + g->start[e] * zc * zsz;
        const char *W1 = (const char *)d->W1 + slot * w1_per * es;
        if (m->gated && m->layout == OCS_MOE_GATE_UP_SEPARATE) {
            gm[n1++] = (gemm){(int)I, n, (int)H, W1, X, (int)H, (int)H, Z, (int)zc};
            gm[n1++] = (gemm){(int)I, n, (int)H, (const char *)d->W3 + slot * w3_per * es, X, (int)H, (int)H,
                              Z + I * zsz, (int)zc};
        } else {
            gm[n1++] = (gemm){(int)m->r1, n, (int)H, W1, X, (int)H, (int)H, Z, (int)zc};
        }
    }
    if ((st = run_gemms(c, h, gm, n1, ab, zt, grouped, &s, err)) != OCS_OK) {
        free(gm);
        return st;
    }

    /* the activation, every row at once */
    ocs_cuda_moe_act act;
    memset(&act, 0, sizeof act);
    act.dtype = code;
    act.expert_kind = (int)p->expert.kind;
    act.act = (int)p->expert.act;
    act.gated = m->gated;
    act.P = (int64_t)P;
    act.I = (int)I;
    act.z = s.z;
    act.z_float = z_is_float(m);
    act.zcols = (int64_t)zc;
    act.gs = 1;
    act.bstride = 1;
    const void *b1 = d->b1, *b3 = d->b3;
    const int64_t b1_per = (int64_t)per_expert(m->b1), b3_per = (int64_t)per_expert(m->b3);
    act.bg = m->b1 ? b1 : NULL;
    act.bg_stride = b1_per;
    act.bg_bcast = b1_per == 1;
    if (m->gated) {
        if (m->layout == OCS_MOE_GATE_UP_INTERLEAVED) {
            act.gs = 2;
            act.us = 1;
            act.bu = act.bg;
            act.bu_stride = b1_per;
            act.bu_bcast = act.bg_bcast;
            act.ub0 = 1;
            act.bstride = 2;
        } else if (m->layout == OCS_MOE_GATE_UP_CONCATENATED) {
            act.us = (int)I;
            act.bu = act.bg;
            act.bu_stride = b1_per;
            act.bu_bcast = act.bg_bcast;
            act.ub0 = (int64_t)I;
        } else {
            act.us = (int)I;
            act.bu = m->b3 ? b3 : NULL;
            act.bu_stride = b3_per;
            act.bu_bcast = b3_per == 1;
        }
    }
    act.row_slot = s.row_slot;
    act.c_sqrt2 = const_in(sqrt(2.0), m->t);
    act.c_half = const_in(0.5, m->t);
    act.c_one = const_in(1.0, m->t);
    act.c_tanh0 = const_in(sqrt(2.0 / 3.14159265358979323846), m->t);
    act.c_tanh1 = const_in(0.044715, m->t);
    act.alpha = p->expert.alpha;
    act.beta = p->expert.beta;
    act.limit = p->expert.limit;
    act.h = s.h;
    if ((st = OCS_CU(ocs_cuda_moe_activate(&act, sm))) != OCS_OK) {
        free(gm);
        return st;
    }

    /* the down projection */
    size_t n2 = 0;
    for (size_t i = 0; i < g->n_active; i++) {
        const size_t e = (size_t)g->active[i], slot = identity_slots ? e : (size_t)g->slot_of[e];
        const int n = (int)(g->start[e + 1] - g->start[e]);
        gm[n2++] = (gemm){(int)H, n, (int)I, (const char *)d->W2 + slot * w2_per * es,
                          (const char *)s.h + g->start[e] * I * es, (int)I, (int)I,
                          (char *)s.y + g->start[e] * H * ysz, (int)H};
    }
    if (I == 0)
        st = OCS_CU(cudaMemsetAsync(s.y, 0, P * H * ysz, sm));
    else
        st = run_gemms(c, h, gm, n2, ab, yt, grouped, &s, err);
    free(gm);
    if (st != OCS_OK)
        return st;

    const int64_t b2_per = (int64_t)per_expert(m->b2);
    return OCS_CU(ocs_cuda_moe_combine(code, (int)m->T, (int)H, (int)m->k, s.y, y_is_float(m), s.pos, s.row_slot,
                                       s.w, p->weight_on_input, m->b2 ? d->b2 : NULL, b2_per, b2_per == 1, d->out,
                                       sm));
}

/* ---- the run ------------------------------------------------------------------------------------------ */

ocs_status ocs_cuda_moe_run(ocs_cuda *c, void *state, ocs_kernel_args *a)
{
    const ocs_cuda_moe_plan *p = state;
    ocs_err *err = a->err;
    ocs_cuda_moe_call m;
    ocs_status st = ocs_cuda_moe_validate(a, p, &m);
    if (st != OCS_OK)
        return st;
    const ocs_tensor *x = a->inputs[0], *logits = a->inputs[1];
    ocs_tensor *out = NULL;
    if ((st = ocs_tensor_new(x->dtype, x->rank, x->dims, &out, err)) != OCS_OK)
        return st;
    if (m.T == 0 || m.H == 0) {
        a->outputs[0] = out;
        return OCS_OK;
    }

    /* device copies: input, logits, router bias, output, and room for the active experts' slices */
    const ocs_moe_grouped *gr = p->has_router && p->router.kind == OCS_HOOK_ROUTER_SIGMOID_GROUPED
                                    ? &p->router.grouped : NULL;
    const size_t n_bias = gr && gr->bias ? gr->n_bias : 0;
    const size_t slots = m.P < m.E ? m.P : m.E;
    const ocs_tensor *params[6] = {m.W1, m.b1, m.W2, m.b2, m.W3, m.b3};
    const void *dparams[6] = {NULL, NULL, NULL, NULL, NULL, NULL};
    ocs_cuda_moe_dev d;
    memset(&d, 0, sizeof d);
    ocs_cuda_moe_groups g;
    memset(&g, 0, sizeof g);
    cudaStream_t sm = c->stream;
    ocs_cuda_carver cv = {NULL, 0, 0};
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            if (cv.overflow) {
                st = ocs_fail(err, OCS_ERR_NOMEM, "MoE: device buffer sizes overflow");
                goto done;
            }
            if ((st = ocs_cuda_buf_reserve(&c->io, cv.used, err)) != OCS_OK)
                goto done;
            cv = (ocs_cuda_carver){c->io.ptr, 0, 0};
        }
        d.x = ocs_cuda_carve(&cv, x->nbytes, 1);
        d.logits = ocs_cuda_carve(&cv, logits->nbytes, 1);
        d.router_bias = ocs_cuda_carve(&cv, n_bias, sizeof(float));
        d.out = ocs_cuda_carve(&cv, out->nbytes, 1);
        for (int i = 0; i < 6; i++)
            dparams[i] = params[i] ? ocs_cuda_carve(&cv, slots, per_expert(params[i]) * ocs_dtype_size(m.t)) : NULL;
    }
    d.logits_type = logits->dtype;
    d.W1 = dparams[0];
    d.b1 = dparams[1];
    d.W2 = dparams[2];
    d.b2 = dparams[3];
    d.W3 = dparams[4];
    d.b3 = dparams[5];
    if ((st = OCS_CU(cudaMemcpyAsync((void *)d.x, x->data, x->nbytes, cudaMemcpyHostToDevice, sm))) != OCS_OK ||
        (st = OCS_CU(cudaMemcpyAsync((void *)d.logits, logits->data, logits->nbytes, cudaMemcpyHostToDevice, sm))) !=
            OCS_OK ||
        (n_bias && (st = OCS_CU(cudaMemcpyAsync((void *)d.router_bias, gr->bias, n_bias * sizeof(float),
                                                cudaMemcpyHostToDevice, sm))) != OCS_OK) ||
        (st = ocs_cuda_moe_route_group(c, p, &m, &d, &g, err)) != OCS_OK)
        goto done;
    /* the slices of the experts that receive tokens, in slot order */
    for (int i = 0; i < 6; i++) {
        if (!params[i])
            continue;
        const size_t bytes = per_expert(params[i]) * ocs_dtype_size(m.t);
        for (size_t q = 0; q < g.n_active && bytes; q++) {
            const size_t e = (size_t)g.active[q];
            if ((st = OCS_CU(cudaMemcpyAsync((char *)dparams[i] + q * bytes, (const char *)params[i]->data + e * bytes,
                                             bytes, cudaMemcpyHostToDevice, sm))) != OCS_OK)
                goto done;
        }
    }
    if ((st = ocs_cuda_poison(c, d.out, out->nbytes, err)) != OCS_OK ||
        (st = ocs_cuda_moe_experts(c, p, &m, &d, &g, 0, err)) != OCS_OK ||
        (st = OCS_CU(cudaMemcpyAsync(out->data, d.out, out->nbytes, cudaMemcpyDeviceToHost, sm))) != OCS_OK ||
        (st = OCS_CU(cudaStreamSynchronize(sm))) != OCS_OK)
        goto done;
    a->outputs[0] = out;
    out = NULL;
done:
    if (st != OCS_OK)
        (void)cudaStreamSynchronize(sm);
    ocs_cuda_moe_groups_free(&g);
    ocs_tensor_free(out);
    return st;
}
