/*
 * backends/cuda/gpu_bench.c - the CUDA backend's benchmark (gpu_bench.h).
 *
 * Cases (random data drawn on the device from fixed seeds, never zeros):
 *   pa_decode_f16_b64_ctx4096  PagedAttention decode, float16, batch 64, 32
 *                              query heads, 8 KV heads, head size 128, block
 *                              size 16, context 4096 (past 4095 + 1 new), the
 *                              blocks of all sequences shuffled over the cache.
 *                              Memory-bound: the bytes are the K and V rows of
 *                              the context plus the query, new rows and output;
 *                              target >= 70% of the copy bandwidth.
 *   pa_decode_f16_b64_ctx4096_tiled  the same through the tiled attend kernel
 *                              (for comparison; the single-pass one is the
 *                              backend's choice at head size 128).
 *   pa_decode_f16_b8_ctx4096   the same with 8 sequences (split-KV carries it).
 *   pa_prefill_f16_2048        one sequence of 2048 new tokens, causal; FLOPs
 *                              4 D sum over queries of the keys seen, per query
 *                              head, against the float32 cuBLAS rate (the
 *                              kernel computes in float32 on the CUDA cores);
 *                              also through the tiled kernel, for comparison.
 *   moe_bf16_t4096             MoE, bfloat16, Mixtral's shape (H 4096, I 14336,
 *                              E 8, k 2, SwiGLU, separate gate/up/down, default
 *                              router), 4096 tokens: FLOPs 2 T k (3 H I) against
 *                              the cuBLAS bfloat16 rate; target >= 50%.
 *   moe_bf16_t1                the same with 1 token: the weight bytes of the
 *                              experts it selects against the copy bandwidth;
 *                              target >= 60%.
 * A call is timed from a CUDA event before it to one after it on the
 * backend's stream (device time, including the gap while the host groups the
 * routed tokens for MoE); each case runs three times to warm up, then
 * `repeat` times, and the median counts.  Each case checks its output
 * against a float64 computation on the host for a few rows (all for MoE's one
 * token), so that a fast wrong kernel cannot pass.
 */
#include "gpu_bench.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda.h"
#include "host.h"
#include "kernels.h"

#define WARMUP 3
#define SEED 20240611u

/* ---- timing ------------------------------------------------------------------------------------------ */

typedef struct timer {
    cudaEvent_t a, b;
} timer;

static ocs_status timer_new(timer *t, ocs_err *err)
{
    ocs_status st;
    t->a = t->b = NULL;
    if ((st = OCS_CU(cudaEventCreate(&t->a))) != OCS_OK || (st = OCS_CU(cudaEventCreate(&t->b))) != OCS_OK)
        return st;
    return OCS_OK;
}

static void timer_free(timer *t)
{
    if (t->a)
        (void)cudaEventDestroy(t->a);
    if (t->b)
        (void)cudaEventDestroy(t->b);
}

static ocs_status timer_start(ocs_cuda *c, timer *t, ocs_err *err)
{
    return OCS_CU(cudaEventRecord(t->a, c->stream));
}

static ocs_status timer_stop(ocs_cuda *c, timer *t, double *ms, ocs_err *err)
{
    float f = 0.0f;
    ocs_status st;
    if ((st = OCS_CU(cudaEventRecord(t->b, c->stream))) != OCS_OK || (st = OCS_CU(cudaEventSynchronize(t->b))) != OCS_OK ||
        (st = OCS_CU(cudaEventElapsedTime(&f, t->a, t->b))) != OCS_OK)
        return st;
    *ms = f;
    return OCS_OK;
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    if (n <= 0)
        return NAN;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* ---- device buffers ------------------------------------------------------------------------------------ */

typedef struct dbufs {
    void *p[16];
    int n;
} dbufs;

static ocs_status dalloc(dbufs *d, size_t bytes, void **out, ocs_err *err)
{
    *out = NULL;
    if (d->n >= 16)
        return ocs_fail(err, OCS_ERR_INVALID, "bench: too many buffers");
    cudaError_t e = cudaMalloc(out, bytes ? bytes : 1);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        return ocs_fail(err, OCS_ERR_NOMEM, "bench: cannot allocate %zu bytes on the device (%s)", bytes,
                        cudaGetErrorString(e));
    }
    d->p[d->n++] = *out;
    return OCS_OK;
}

static void dfree(dbufs *d)
{
    for (int i = 0; i < d->n; i++)
        (void)cudaFree(d->p[i]);
    d->n = 0;
}

static ocs_cuda *ctx_of(ocs_backend *b, ocs_err *err)
{
    if (!b || !b->ops || strcmp(b->ops->name, "cuda")) {
        ocs_fail(err, OCS_ERR_INVALID, "bench: not the cuda backend");
        return NULL;
    }
    return b->ctx;
}

static float to_float(ocs_dtype t, uint16_t v)
{
    return t == OCS_BFLOAT16 ? ocs_bfloat16_to_float(v) : ocs_half_to_float(v);
}

/* v rounded to t (a 16-bit type) and back */
static float round16(ocs_dtype t, float v)
{
    return t == OCS_BFLOAT16 ? ocs_bfloat16_to_float(ocs_float_to_bfloat16(v)) : ocs_half_to_float(ocs_float_to_half(v));
}

/* ---- ceilings ------------------------------------------------------------------------------------------ */

ocs_status ocs_cuda_measure_ceilings(ocs_backend *b, size_t copy_bytes, int gemm_n, ocs_cuda_ceilings *out,
                                     ocs_err *err)
{
    ocs_cuda *c = ctx_of(b, err);
    if (!c)
        return OCS_ERR_INVALID;
    memset(out, 0, sizeof *out);
    out->copy_bytes = copy_bytes;
    out->gemm_n = gemm_n;
    dbufs d = {{0}, 0};
    timer tm;
    double v[15];
    const int reps = 9;
    ocs_status st = timer_new(&tm, err);
    void *src = NULL, *dst = NULL;
    if (st != OCS_OK || (st = dalloc(&d, copy_bytes, &src, err)) != OCS_OK ||
        (st = dalloc(&d, copy_bytes, &dst, err)) != OCS_OK ||
        (st = OCS_CU(ocs_cuda_fill_uniform(src, copy_bytes / 4, 1, SEED, -1.0f, 1.0f, c->stream))) != OCS_OK)
        goto done;
    for (int i = 0; i < 2 + reps; i++) {
        double ms;
        if ((st = timer_start(c, &tm, err)) != OCS_OK ||
            (st = OCS_CU(cudaMemcpyAsync(dst, src, copy_bytes, cudaMemcpyDeviceToDevice, c->stream))) != OCS_OK ||
            (st = timer_stop(c, &tm, &ms, err)) != OCS_OK)
            goto done;
        if (i >= 2)
            v[i - 2] = 2.0 * (double)copy_bytes / (ms * 1e6);
    }
    out->copy_gbs = median(v, reps);
    dfree(&d);

    cublasHandle_t h;
    if ((st = ocs_cuda_blas(c, &h, err)) != OCS_OK)
        goto done;
    static const ocs_dtype types[3] = {OCS_FLOAT, OCS_FLOAT16, OCS_BFLOAT16};
    for (int ti = 0; ti < 3; ti++) {
        const ocs_dtype t = types[ti];
        const size_t es = ocs_dtype_size(t), nn = (size_t)gemm_n * (size_t)gemm_n;
        const cudaDataType_t ct = t == OCS_FLOAT ? CUDA_R_32F : t == OCS_FLOAT16 ? CUDA_R_16F : CUDA_R_16BF;
        void *A = NULL, *B = NULL, *C = NULL;
        const float one = 1.0f, zero = 0.0f;
        if ((st = dalloc(&d, nn * es, &A, err)) != OCS_OK || (st = dalloc(&d, nn * es, &B, err)) != OCS_OK ||
            (st = dalloc(&d, nn * es, &C, err)) != OCS_OK ||
            (st = OCS_CU(ocs_cuda_fill_uniform(A, nn, (int)t, SEED + 1, -1.0f, 1.0f, c->stream))) != OCS_OK ||
            (st = OCS_CU(ocs_cuda_fill_uniform(B, nn, (int)t, SEED + 2, -1.0f, 1.0f, c->stream))) != OCS_OK)
            goto done;
        for (int i = 0; i < 2 + reps; i++) {
            double ms;
            if ((st = timer_start(c, &tm, err)) != OCS_OK ||
                (st = OCS_CUBLAS(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, gemm_n, gemm_n, gemm_n, &one, A, ct, gemm_n, B,
                                              ct, gemm_n, &zero, C, ct, gemm_n, CUBLAS_COMPUTE_32F,
                                              CUBLAS_GEMM_DEFAULT))) != OCS_OK ||
                (st = timer_stop(c, &tm, &ms, err)) != OCS_OK)
                goto done;
            if (i >= 2)
                v[i - 2] = 2.0 * (double)gemm_n * gemm_n * gemm_n / (ms * 1e9);
        }
        out->gemm_tflops[ti] = median(v, reps);
        dfree(&d);
    }
done:
    dfree(&d);
    timer_free(&tm);
    return st;
}

/* ---- PagedAttention --------------------------------------------------------------------------------------- */

typedef struct pa_shape {
    const char *name;
    ocs_dtype dt;
    int B, nq, past;            /* every sequence: past + nq positions */
    int H, Hkv, D, BS;
    ocs_cuda_bench_bound bound;
    double target;
    int tiled;                  /* the tiled attend kernel even where the single-pass one applies */
} pa_shape;

/* The validated call for a batch built here (the checks ocs_cuda_pa_validate makes hold by construction). */
static ocs_status pa_call_of(const pa_shape *s, const int32_t *cu, const int32_t *past, const int32_t *table,
                             int64_t MB, int64_t NB, ocs_cuda_pa_call *c, ocs_err *err)
{
    memset(c, 0, sizeof *c);
    c->H = s->H;
    c->Hkv = s->Hkv;
    c->G = s->H / s->Hkv;
    c->D = s->D;
    c->W = -1;
    c->scale = (float)(1.0 / sqrt((double)s->D));
    c->T = cu[s->B];
    c->B = s->B;
    c->NB = NB;
    c->BS = s->BS;
    c->MB = MB;
    c->qwidth = (int64_t)s->H * s->D;
    c->dt = s->dt;
    c->es = ocs_dtype_size(s->dt);
    c->cu = cu;
    c->past = past;
    c->table = table;
    c->slot = malloc((size_t)c->T * sizeof *c->slot);
    c->pos = malloc((size_t)c->T * sizeof *c->pos);
    if (!c->slot || !c->pos) {
        ocs_cuda_pa_call_free(c);
        return ocs_fail(err, OCS_ERR_NOMEM, "bench: out of memory");
    }
    for (int b = 0; b < s->B; b++)
        for (int32_t t = cu[b]; t < cu[b + 1]; t++) {
            const int64_t p = past[b] + t - cu[b];
            c->pos[t] = (int32_t)p;
            c->slot[t] = (int64_t)table[b * MB + p / s->BS] * s->BS + p % s->BS;
        }
    return OCS_OK;
}

/* Host float64 attention for token t (sequence b) against the device's results; returns the worst
 * error relative to the tolerance (> 1 fails). */
static ocs_status pa_check(const pa_shape *s, const ocs_cuda_pa_dev *d, const int32_t *table,
                           int64_t MB, int b, int i, double *worst, ocs_err *err)
{
    const int D = s->D, H = s->H, Hkv = s->Hkv, G = H / Hkv, BS = s->BS;
    const int p = s->past + i, t = b * s->nq + i, len = p + 1;
    const size_t es = 2, row = (size_t)Hkv * D;
    uint16_t *q = malloc((size_t)H * D * es), *o = malloc((size_t)H * D * es);
    uint16_t *kc = malloc((size_t)len * row * es), *vc = malloc((size_t)len * row * es);
    double *sc = malloc((size_t)len * sizeof *sc);
    ocs_status st = OCS_OK;
    if (!q || !o || !kc || !vc || !sc) {
        st = ocs_fail(err, OCS_ERR_NOMEM, "bench: out of memory for the check");
        goto done;
    }
    if ((st = OCS_CU(cudaMemcpy(q, (const char *)d->query + (size_t)t * H * D * es, (size_t)H * D * es,
                                cudaMemcpyDeviceToHost))) != OCS_OK ||
        (st = OCS_CU(cudaMemcpy(o, (const char *)d->out + (size_t)t * H * D * es, (size_t)H * D * es,
                                cudaMemcpyDeviceToHost))) != OCS_OK)
        goto done;
    for (int j0 = 0; j0 < len; j0 += BS) {
        const int n = len - j0 < BS ? len - j0 : BS;
        const size_t off = (size_t)table[b * MB + j0 / BS] * BS * row * es;
        if ((st = OCS_CU(cudaMemcpy(kc + (size_t)j0 * row, (const char *)d->kcache + off, (size_t)n * row * es,
                                    cudaMemcpyDeviceToHost))) != OCS_OK ||
            (st = OCS_CU(cudaMemcpy(vc + (size_t)j0 * row, (const char *)d->vcache + off, (size_t)n * row * es,
                                    cudaMemcpyDeviceToHost))) != OCS_OK)
            goto done;
    }
    const double scale = 1.0 / sqrt((double)D);
    for (int h = 0; h < H; h++) {
        const int g = h / G;
        double m = -INFINITY, l = 0.0;
        for (int j = 0; j < len; j++) {
            double dot = 0.0;
            for (int x = 0; x < D; x++)
                dot += (double)to_float(s->dt, q[h * D + x]) * to_float(s->dt, kc[(size_t)j * row + g * D + x]);
            sc[j] = dot * scale;
            m = fmax(m, sc[j]);
        }
        for (int j = 0; j < len; j++)
            l += (sc[j] = exp(sc[j] - m));
        for (int x = 0; x < D; x++) {
            double y = 0.0;
            for (int j = 0; j < len; j++)
                y += sc[j] / l * to_float(s->dt, vc[(size_t)j * row + g * D + x]);
            const double got = to_float(s->dt, o[h * D + x]);
            const double tol = 2e-3 + (s->dt == OCS_BFLOAT16 ? 1e-2 : 2e-3) * fabs(y);
            const double e = fabs(got - y) / tol;
            if (!(e <= *worst))
                *worst = isnan(e) ? INFINITY : e;
        }
    }
done:
    free(q);
    free(o);
    free(kc);
    free(vc);
    free(sc);
    return st;
}

static ocs_status bench_pa(ocs_cuda *c, const pa_shape *s, int repeat, const ocs_cuda_ceilings *ceil,
                           ocs_cuda_bench_row *r, ocs_err *err)
{
    snprintf(r->name, sizeof r->name, "%s", s->name);
    r->bound = s->bound;
    r->target = s->target;
    const int B = s->B, D = s->D, BS = s->BS, T = B * s->nq, len = s->past + s->nq;
    const int64_t MB = (len + BS - 1) / BS, NB = (int64_t)B * MB + 1;
    const size_t es = ocs_dtype_size(s->dt), row = (size_t)s->Hkv * D;
    int32_t *cu = malloc((size_t)(B + 1) * sizeof *cu), *past = malloc((size_t)B * sizeof *past);
    int32_t *table = malloc((size_t)(B * MB) * sizeof *table), *perm = malloc((size_t)NB * sizeof *perm);
    double *v = malloc((size_t)repeat * sizeof *v);
    dbufs db = {{0}, 0};
    timer tm = {NULL, NULL};
    ocs_cuda_pa_call call;
    memset(&call, 0, sizeof call);
    ocs_status st = OCS_OK;
    if (!cu || !past || !table || !perm || !v) {
        st = ocs_fail(err, OCS_ERR_NOMEM, "bench: out of memory");
        goto done;
    }
    /* every sequence's blocks drawn from one shuffled pool */
    uint64_t rs = SEED;
    for (int64_t i = 0; i < NB; i++)
        perm[i] = (int32_t)i;
    for (int64_t i = NB - 1; i > 0; i--) {
        rs = rs * 6364136223846793005ull + 1442695040888963407ull;
        const int64_t j = (int64_t)((rs >> 33) % (uint64_t)(i + 1));
        const int32_t x = perm[i];
        perm[i] = perm[j];
        perm[j] = x;
    }
    cu[0] = 0;
    for (int b = 0; b < B; b++) {
        cu[b + 1] = cu[b] + s->nq;
        past[b] = s->past;
        for (int64_t k = 0; k < MB; k++)
            table[b * MB + k] = perm[b * MB + k];
    }
    ocs_cuda_pa_dev d;
    memset(&d, 0, sizeof d);
    void *q, *k, *vv, *kc, *vc, *dcu, *dpast, *dtable, *out;
    const size_t cache = (size_t)NB * BS * row;
    if ((st = dalloc(&db, (size_t)T * s->H * D * es, &q, err)) != OCS_OK ||
        (st = dalloc(&db, (size_t)T * row * es, &k, err)) != OCS_OK ||
        (st = dalloc(&db, (size_t)T * row * es, &vv, err)) != OCS_OK ||
        (st = dalloc(&db, cache * es, &kc, err)) != OCS_OK || (st = dalloc(&db, cache * es, &vc, err)) != OCS_OK ||
        (st = dalloc(&db, (size_t)(B + 1) * 4, &dcu, err)) != OCS_OK ||
        (st = dalloc(&db, (size_t)B * 4, &dpast, err)) != OCS_OK ||
        (st = dalloc(&db, (size_t)(B * MB) * 4, &dtable, err)) != OCS_OK ||
        (st = dalloc(&db, (size_t)T * s->H * D * es, &out, err)) != OCS_OK)
        goto done;
    const int code = (int)s->dt;
    if ((st = OCS_CU(ocs_cuda_fill_uniform(q, (size_t)T * s->H * D, code, SEED + 10, -1.0f, 1.0f, c->stream))) != OCS_OK ||
        (st = OCS_CU(ocs_cuda_fill_uniform(k, (size_t)T * row, code, SEED + 11, -1.0f, 1.0f, c->stream))) != OCS_OK ||
        (st = OCS_CU(ocs_cuda_fill_uniform(vv, (size_t)T * row, code, SEED + 12, -1.0f, 1.0f, c->stream))) != OCS_OK ||
        (st = OCS_CU(ocs_cuda_fill_uniform(kc, cache, code, SEED + 13, -1.0f, 1.0f, c->stream))) != OCS_OK ||
        (st = OCS_CU(ocs_cuda_fill_uniform(vc, cache, code, SEED + 14, -1.0f, 1.0f, c->stream))) != OCS_OK ||
        (st = OCS_CU(cudaMemcpy(dcu, cu, (size_t)(B + 1) * 4, cudaMemcpyHostToDevice))) != OCS_OK ||
        (st = OCS_CU(cudaMemcpy(dpast, past, (size_t)B * 4, cudaMemcpyHostToDevice))) != OCS_OK ||
        (st = OCS_CU(cudaMemcpy(dtable, table, (size_t)(B * MB) * 4, cudaMemcpyHostToDevice))) != OCS_OK)
        goto done;
    d.query = q;
    d.key = k;
    d.value = vv;
    d.kcache = kc;
    d.vcache = vc;
    d.cu = dcu;
    d.past = dpast;
    d.table = dtable;
    d.out = out;
    ocs_cuda_pa_args args;
    if ((st = pa_call_of(s, cu, past, table, MB, NB, &call, err)) != OCS_OK)
        goto done;
    if (s->tiled)
        setenv("OCS_CUDA_PA_TILED", "1", 1);
    st = ocs_cuda_pa_stage(c, &call, &d, &args, err);
    if (s->tiled)
        unsetenv("OCS_CUDA_PA_TILED");
    if (st != OCS_OK || (st = timer_new(&tm, err)) != OCS_OK)
        goto done;
    for (int i = 0; i < WARMUP + repeat; i++) {
        double ms;
        if ((st = timer_start(c, &tm, err)) != OCS_OK || (st = ocs_cuda_pa_launch(c, &args, err)) != OCS_OK ||
            (st = timer_stop(c, &tm, &ms, err)) != OCS_OK)
            goto done;
        if (i >= WARMUP)
            v[i - WARMUP] = ms;
    }
    r->median_ms = median(v, repeat);
    r->min_ms = v[0];
    /* the work: memory-bound cases count the bytes, compute-bound ones the FLOPs */
    if (s->bound == OCS_CUDA_BENCH_COPY) {
        r->work = (double)B * len * row * es * 2.0               /* K and V rows of the context */
                  + (double)T * (s->H * D * 2.0 + row * 4.0) * es; /* query + output, new K/V read and written */
        r->rate = r->work / (r->median_ms * 1e6);
    } else {
        double keys = 0.0;
        for (int i = 0; i < s->nq; i++)
            keys += s->past + i + 1;
        r->work = 4.0 * D * keys * s->H * B;
        r->rate = r->work / (r->median_ms * 1e9);
    }
    r->ceiling = s->bound == OCS_CUDA_BENCH_COPY ? ceil->copy_gbs : ceil->gemm_tflops[s->bound - 1];
    r->ratio = r->rate / r->ceiling;
    r->ran = 1;
    snprintf(r->note, sizeof r->note, "%s kernel, %d items, %d merges, rows/item %d, vec %d, group %d lanes",
             args.stream ? "single-pass" : "tiled", args.n_items, args.n_merges, args.rows_cap, args.vec, args.gs);
    {
        double worst = 0.0;
        const int picks[4][2] = {{0, 0}, {0, s->nq - 1}, {B - 1, s->nq / 2}, {B - 1, s->nq - 1}};
        for (int i = 0; i < 4 && st == OCS_OK; i++)
            st = pa_check(s, &d, table, MB, picks[i][0], picks[i][1], &worst, err);
        if (st != OCS_OK)
            goto done;
        snprintf(r->check, sizeof r->check, "%s (worst error %.2f of tolerance, 4 tokens x %d heads)",
                 worst <= 1.0 ? "ok" : "FAILED", worst, s->H);
    }
done:
    ocs_cuda_pa_call_free(&call);
    timer_free(&tm);
    (void)cudaStreamSynchronize(c->stream);
    dfree(&db);
    free(cu);
    free(past);
    free(table);
    free(perm);
    free(v);
    return st;
}

/* ---- MoE ---------------------------------------------------------------------------------------------------------- */

typedef struct moe_shape {
    const char *name;
    int T, H, I, E, k;
    ocs_cuda_bench_bound bound;
    double target;
} moe_shape;

/* Token 0 on the host (float, the canonical graph's bfloat16 roundings) against the device's row. */
static ocs_status moe_check(const moe_shape *s, const ocs_cuda_moe_dev *d, double *worst, ocs_err *err)
{
    const ocs_dtype t = OCS_BFLOAT16;
    const size_t H = (size_t)s->H, I = (size_t)s->I, E = (size_t)s->E;
    uint16_t *x = malloc(H * 2), *lg = malloc(E * 2), *y = malloc(H * 2), *w1 = malloc(I * H * 2),
             *w3 = malloc(I * H * 2), *w2 = malloc(H * I * 2);
    float *hh = malloc(I * sizeof *hh), *acc = calloc(H, sizeof *acc);
    double *p = malloc(E * sizeof *p);
    ocs_status st = OCS_OK;
    if (!x || !lg || !y || !w1 || !w3 || !w2 || !hh || !acc || !p) {
        st = ocs_fail(err, OCS_ERR_NOMEM, "bench: out of memory for the check");
        goto done;
    }
    if ((st = OCS_CU(cudaMemcpy(x, d->x, H * 2, cudaMemcpyDeviceToHost))) != OCS_OK ||
        (st = OCS_CU(cudaMemcpy(lg, d->logits, E * 2, cudaMemcpyDeviceToHost))) != OCS_OK ||
        (st = OCS_CU(cudaMemcpy(y, d->out, H * 2, cudaMemcpyDeviceToHost))) != OCS_OK)
        goto done;
    /* the default router: softmax, top k (ties to the lower index), renormalised */
    double mx = -INFINITY, sum = 0.0;
    for (size_t e = 0; e < E; e++)
        mx = fmax(mx, to_float(t, lg[e]));
    for (size_t e = 0; e < E; e++)
        sum += (p[e] = exp(to_float(t, lg[e]) - mx));
    int chosen[8] = {0};
    double wsum = 0.0, wts[8] = {0};
    for (int j = 0; j < s->k && j < 8; j++) {
        int best = -1;
        for (size_t e = 0; e < E; e++) {
            int used = 0;
            for (int q = 0; q < j; q++)
                used |= chosen[q] == (int)e;
            if (!used && (best < 0 || p[e] > p[best]))
                best = (int)e;
        }
        chosen[j] = best;
        wts[j] = p[best] / sum;
        wsum += wts[j];
    }
    for (int j = 0; j < s->k && j < 8; j++) {
        const size_t e = (size_t)chosen[j];
        if ((st = OCS_CU(cudaMemcpy(w1, (const char *)d->W1 + e * I * H * 2, I * H * 2, cudaMemcpyDeviceToHost))) !=
                OCS_OK ||
            (st = OCS_CU(cudaMemcpy(w3, (const char *)d->W3 + e * I * H * 2, I * H * 2, cudaMemcpyDeviceToHost))) !=
                OCS_OK ||
            (st = OCS_CU(cudaMemcpy(w2, (const char *)d->W2 + e * H * I * 2, H * I * 2, cudaMemcpyDeviceToHost))) !=
                OCS_OK)
            goto done;
        for (size_t i = 0; i < I; i++) {
            float g = 0.0f, u = 0.0f;
            for (size_t q = 0; q < H; q++) {
                const float xv = to_float(t, x[q]);
                g += to_float(t, w1[i * H + q]) * xv;
                u += to_float(t, w3[i * H + q]) * xv;
            }
            g = round16(t, g);
            u = round16(t, u);
            const float sg = round16(t, 1.0f / (1.0f + expf(-g)));
            hh[i] = round16(t, round16(t, g * sg) * u);
        }
        const float wj = (float)(wts[j] / wsum);
        for (size_t o = 0; o < H; o++) {
            float z = 0.0f;
            for (size_t i = 0; i < I; i++)
                z += to_float(t, w2[o * I + i]) * hh[i];
            acc[o] += wj * round16(t, z);
        }
    }
    double amax = 0.0;
    for (size_t o = 0; o < H; o++)
        amax = fmax(amax, fabs(acc[o]));
    for (size_t o = 0; o < H; o++) {
        const double e = fabs(to_float(t, y[o]) - acc[o]) / (2e-2 * amax + 2e-2 * fabs(acc[o]) + 1e-30);
        if (!(e <= *worst))
            *worst = isnan(e) ? INFINITY : e;
    }
done:
    free(x);
    free(lg);
    free(y);
    free(w1);
    free(w3);
    free(w2);
    free(hh);
    free(acc);
    free(p);
    return st;
}

static ocs_status bench_moe(ocs_cuda *c, const moe_shape *s, int repeat, const ocs_cuda_ceilings *ceil,
                            ocs_cuda_bench_row *r, ocs_err *err)
{
    snprintf(r->name, sizeof r->name, "%s", s->name);
    r->bound = s->bound;
    r->target = s->target;
    const ocs_dtype t = OCS_BFLOAT16;
    const size_t T = (size_t)s->T, H = (size_t)s->H, I = (size_t)s->I, E = (size_t)s->E, es = 2;
    dbufs db = {{0}, 0};
    timer tm = {NULL, NULL};
    double *v = malloc((size_t)repeat * sizeof *v);
    ocs_cuda_moe_groups g;
    memset(&g, 0, sizeof g);
    ocs_status st = OCS_OK;
    if (!v)
        return ocs_fail(err, OCS_ERR_NOMEM, "bench: out of memory");

    /* the node: default router, SwiGLU with separate gate/up/down, no biases */
    ocs_cuda_moe_plan p;
    memset(&p, 0, sizeof p);
    p.k = s->k;
    p.k_ok = 1;
    p.position_ok = 1;
    p.position = "output";
    p.expert.kind = OCS_HOOK_EXPERT_GLU;
    p.expert.dtype = t;
    p.expert.act = OCS_MOE_ACT_SILU;
    p.expert.layout = OCS_MOE_GATE_UP_SEPARATE;
    p.expert.limit = INFINITY;
    /* the call; the parameter "tensors" carry shapes only */
    ocs_tensor W1, W2, W3;
    memset(&W1, 0, sizeof W1);
    W1.dtype = t;
    W1.rank = 3;
    W1.dims[0] = (int64_t)E;
    W1.dims[1] = (int64_t)I;
    W1.dims[2] = (int64_t)H;
    W1.numel = E * I * H;
    W3 = W1;
    W2 = W1;
    W2.dims[1] = (int64_t)H;
    W2.dims[2] = (int64_t)I;
    ocs_cuda_moe_call m;
    memset(&m, 0, sizeof m);
    m.t = t;
    m.T = T;
    m.E = E;
    m.H = H;
    m.k = (size_t)s->k;
    m.P = T * m.k;
    m.inter = I;
    m.r1 = I;
    m.gated = 1;
    m.layout = OCS_MOE_GATE_UP_SEPARATE;
    m.W1 = &W1;
    m.W2 = &W2;
    m.W3 = &W3;

    ocs_cuda_moe_dev d;
    memset(&d, 0, sizeof d);
    void *x, *lg, *w1, *w2, *w3, *out;
    const float a1 = (float)sqrt(3.0 / (double)H), a2 = (float)sqrt(3.0 / (double)I);
    if ((st = dalloc(&db, T * H * es, &x, err)) != OCS_OK || (st = dalloc(&db, T * E * es, &lg, err)) != OCS_OK ||
        (st = dalloc(&db, E * I * H * es, &w1, err)) != OCS_OK || (st = dalloc(&db, E * I * H * es, &w3, err)) != OCS_OK ||
        (st = dalloc(&db, E * H * I * es, &w2, err)) != OCS_OK || (st = dalloc(&db, T * H * es, &out, err)) != OCS_OK ||
        (st = OCS_CU(ocs_cuda_fill_uniform(x, T * H, (int)t, SEED + 20, -1.0f, 1.0f, c->stream))) != OCS_OK ||
        (st = OCS_CU(ocs_cuda_fill_uniform(lg, T * E, (int)t, SEED + 21, -2.0f, 2.0f, c->stream))) != OCS_OK ||
        (st = OCS_CU(ocs_cuda_fill_uniform(w1, E * I * H, (int)t, SEED + 22, -a1, a1, c->stream))) != OCS_OK ||
        (st = OCS_CU(ocs_cuda_fill_uniform(w3, E * I * H, (int)t, SEED + 23, -a1, a1, c->stream))) != OCS_OK ||
        (st = OCS_CU(ocs_cuda_fill_uniform(w2, E * H * I, (int)t, SEED + 24, -a2, a2, c->stream))) != OCS_OK ||
        (st = timer_new(&tm, err)) != OCS_OK)
        goto done;
    d.x = x;
    d.logits = lg;
    d.logits_type = t;
    d.W1 = w1;
    d.W2 = w2;
    d.W3 = w3;
    d.out = out;
    size_t active = 0;
    for (int i = 0; i < WARMUP + repeat; i++) {
        double ms;
        ocs_cuda_moe_groups_free(&g);
        if ((st = timer_start(c, &tm, err)) != OCS_OK || (st = ocs_cuda_moe_route_group(c, &p, &m, &d, &g, err)) != OCS_OK ||
            (st = ocs_cuda_moe_experts(c, &p, &m, &d, &g, 1, err)) != OCS_OK ||
            (st = timer_stop(c, &tm, &ms, err)) != OCS_OK)
            goto done;
        active = g.n_active;
        if (i >= WARMUP)
            v[i - WARMUP] = ms;
    }
    r->median_ms = median(v, repeat);
    r->min_ms = v[0];
    if (s->bound == OCS_CUDA_BENCH_COPY) {
        r->work = (double)active * 3.0 * (double)H * (double)I * es + 2.0 * T * H * es;
        r->rate = r->work / (r->median_ms * 1e6);
        r->ceiling = ceil->copy_gbs;
    } else {
        r->work = 2.0 * (double)m.P * 3.0 * (double)H * (double)I;
        r->rate = r->work / (r->median_ms * 1e9);
        r->ceiling = ceil->gemm_tflops[s->bound - 1];
    }
    r->ratio = r->rate / r->ceiling;
    r->ran = 1;
    snprintf(r->note, sizeof r->note, "%zu experts with tokens, %s GEMMs", active,
             g.n_active >= 4 ? "grouped or per-expert" : "per-expert");
    {
        double worst = 0.0;
        if ((st = moe_check(s, &d, &worst, err)) != OCS_OK)
            goto done;
        snprintf(r->check, sizeof r->check, "%s (token 0: worst error %.2f of tolerance)",
                 worst <= 1.0 ? "ok" : "FAILED", worst);
    }
done:
    ocs_cuda_moe_groups_free(&g);
    timer_free(&tm);
    (void)cudaStreamSynchronize(c->stream);
    dfree(&db);
    free(v);
    return st;
}

/* ---- the cases ------------------------------------------------------------------------------------------------------ */

ocs_status ocs_cuda_bench_cases(ocs_backend *b, int quick, int repeat, const ocs_cuda_ceilings *ceil,
                                ocs_cuda_bench_row *rows, size_t max, size_t *n, ocs_err *err)
{
    ocs_cuda *c = ctx_of(b, err);
    if (!c)
        return OCS_ERR_INVALID;
    *n = 0;
    const pa_shape pa_full[] = {
        {"pa_decode_f16_b64_ctx4096", OCS_FLOAT16, 64, 1, 4095, 32, 8, 128, 16, OCS_CUDA_BENCH_COPY, 0.70, 0},
        {"pa_decode_f16_b64_ctx4096_tiled", OCS_FLOAT16, 64, 1, 4095, 32, 8, 128, 16, OCS_CUDA_BENCH_COPY, 0.0, 1},
        {"pa_decode_f16_b8_ctx4096", OCS_FLOAT16, 8, 1, 4095, 32, 8, 128, 16, OCS_CUDA_BENCH_COPY, 0.0, 0},
        {"pa_prefill_f16_2048", OCS_FLOAT16, 1, 2048, 0, 32, 8, 128, 16, OCS_CUDA_BENCH_GEMM_F32, 0.0, 0},
        {"pa_prefill_f16_2048_tiled", OCS_FLOAT16, 1, 2048, 0, 32, 8, 128, 16, OCS_CUDA_BENCH_GEMM_F32, 0.0, 1},
    };
    const pa_shape pa_quick[] = {
        {"pa_decode_f16_b8_ctx1024", OCS_FLOAT16, 8, 1, 1023, 32, 8, 128, 16, OCS_CUDA_BENCH_COPY, 0.0, 0},
        {"pa_prefill_f16_256", OCS_FLOAT16, 1, 256, 0, 32, 8, 128, 16, OCS_CUDA_BENCH_GEMM_F32, 0.0, 0},
    };
    const moe_shape moe_full[] = {
        {"moe_bf16_t4096", 4096, 4096, 14336, 8, 2, OCS_CUDA_BENCH_GEMM_BF16, 0.50},
        {"moe_bf16_t1", 1, 4096, 14336, 8, 2, OCS_CUDA_BENCH_COPY, 0.60},
    };
    const moe_shape moe_quick[] = {
        {"moe_bf16_t512_small", 512, 1024, 2816, 8, 2, OCS_CUDA_BENCH_GEMM_BF16, 0.0},
        {"moe_bf16_t1_small", 1, 1024, 2816, 8, 2, OCS_CUDA_BENCH_COPY, 0.0},
    };
    const pa_shape *pas = quick ? pa_quick : pa_full;
    const size_t n_pa = quick ? sizeof pa_quick / sizeof pa_quick[0] : sizeof pa_full / sizeof pa_full[0];
    const moe_shape *moes = quick ? moe_quick : moe_full;
    const size_t n_moe = quick ? sizeof moe_quick / sizeof moe_quick[0] : sizeof moe_full / sizeof moe_full[0];
    ocs_status st = OCS_OK;
    for (size_t i = 0; i < n_pa && *n < max; i++) {
        ocs_cuda_bench_row *r = &rows[(*n)++];
        memset(r, 0, sizeof *r);
        ocs_err e = {{0}};
        ocs_status s = bench_pa(c, &pas[i], repeat, ceil, r, &e);
        if (s != OCS_OK) {
            r->ran = 0;
            snprintf(r->name, sizeof r->name, "%s", pas[i].name);
            snprintf(r->note, sizeof r->note, "%.250s", e.msg);
            if (st == OCS_OK) {
                st = s;
                ocs_fail(err, s, "%s", e.msg);
            }
        }
    }
    for (size_t i = 0; i < n_moe && *n < max; i++) {
        ocs_cuda_bench_row *r = &rows[(*n)++];
        memset(r, 0, sizeof *r);
        ocs_err e = {{0}};
        ocs_status s = bench_moe(c, &moes[i], repeat, ceil, r, &e);
        if (s != OCS_OK) {
            r->ran = 0;
            snprintf(r->name, sizeof r->name, "%s", moes[i].name);
            snprintf(r->note, sizeof r->note, "%.250s", e.msg);
            if (st == OCS_OK) {
                st = s;
                ocs_fail(err, s, "%s", e.msg);
            }
        }
    }
    return st;
}

/* ---- the command ------------------------------------------------------------------------------------------------------ */

static const char *bound_name(ocs_cuda_bench_bound b)
{
    switch (b) {
    case OCS_CUDA_BENCH_COPY: return "D2D copy";
    case OCS_CUDA_BENCH_GEMM_F32: return "cuBLAS f32 GEMM";
    case OCS_CUDA_BENCH_GEMM_F16: return "cuBLAS f16 GEMM";
    default: return "cuBLAS bf16 GEMM";
    }
}

static void write_json(FILE *f, const char *device, const ocs_cuda_ceilings *cl, const ocs_cuda_bench_row *rows,
                       size_t n)
{
    fprintf(f, "{\"device\": \"");
    for (const char *p = device; *p; p++)
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if ((unsigned char)*p >= 0x20)
            fputc(*p, f);
    fprintf(f, "\",\n \"ceilings\": {\"copy_gbs\": %.6g, \"gemm_f32_tflops\": %.6g, \"gemm_f16_tflops\": %.6g, "
               "\"gemm_bf16_tflops\": %.6g, \"copy_bytes\": %zu, \"gemm_n\": %d},\n \"cases\": [",
            cl->copy_gbs, cl->gemm_tflops[0], cl->gemm_tflops[1], cl->gemm_tflops[2], cl->copy_bytes, cl->gemm_n);
    for (size_t i = 0; i < n; i++) {
        const ocs_cuda_bench_row *r = &rows[i];
        fprintf(f, "%s\n  {\"name\": \"%s\", \"ran\": %s", i ? "," : "", r->name, r->ran ? "true" : "false");
        if (r->ran)
            fprintf(f, ", \"median_ms\": %.6g, \"rate\": %.6g, \"unit\": \"%s\", \"ceiling\": %.6g, \"ratio\": %.4f, "
                       "\"target\": %.2f, \"check_ok\": %s",
                    r->median_ms, r->rate, r->bound == OCS_CUDA_BENCH_COPY ? "GB/s" : "TFLOP/s", r->ceiling, r->ratio,
                    r->target, strncmp(r->check, "ok", 2) ? "false" : "true");
        fprintf(f, "}");
    }
    fprintf(f, "\n ]}\n");
}

int ocs_cuda_bench_main(int argc, char **argv)
{
    int quick = 0, repeat = 20;
    const char *json = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            quick = 1;
        else if (!strcmp(argv[i], "--repeat") && i + 1 < argc)
            repeat = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--json") && i + 1 < argc)
            json = argv[++i];
        else {
            fprintf(stderr, "usage: %s [--quick] [--repeat N] [--json FILE]\n", argv[0]);
            return 2;
        }
    }
    if (repeat < 1 || repeat > 1000) {
        fprintf(stderr, "--repeat must be in [1, 1000]\n");
        return 2;
    }
    ocs_err err = {{0}};
    ocs_backend *b = NULL;
    if (ocs_backend_open("cuda", &b, &err) != OCS_OK) {
        fprintf(stderr, "cuda backend not present: %s\n", err.msg);
        return 2;
    }
    const char *device = b->ops->describe(b->ctx);
    printf("device: %s\n", device);
    fflush(stdout);
    ocs_cuda_ceilings cl;
    ocs_status st = ocs_cuda_measure_ceilings(b, quick ? (size_t)256 << 20 : (size_t)1 << 30, quick ? 4096 : 8192, &cl,
                                              &err);
    if (st != OCS_OK) {
        fprintf(stderr, "ceilings: %s\n", err.msg);
        ocs_backend_close(b);
        return 1;
    }
    ocs_cuda_bench_row rows[16];
    size_t n = 0;
    st = ocs_cuda_bench_cases(b, quick, repeat, &cl, rows, 16, &n, &err);
    printf("\nceilings (same run): device-to-device copy %.0f GB/s (read + write, %zu MiB); cuBLAS %dx%dx%d GEMM "
           "f32 %.1f, f16 %.1f, bf16 %.1f TFLOP/s\n\n",
           cl.copy_gbs, cl.copy_bytes >> 20, cl.gemm_n, cl.gemm_n, cl.gemm_n, cl.gemm_tflops[0], cl.gemm_tflops[1],
           cl.gemm_tflops[2]);
    printf("| case | median ms | rate | ceiling | ratio | target | speed | check |\n");
    printf("|---|---:|---:|---|---:|---:|---|---|\n");
    int bad = st != OCS_OK;
    for (size_t i = 0; i < n; i++) {
        const ocs_cuda_bench_row *r = &rows[i];
        if (!r->ran) {
            printf("| %s | - | - | - | - | - | - | NOT RUN: %s |\n", r->name, r->note);
            bad = 1;
            continue;
        }
        const int ok = !strncmp(r->check, "ok", 2);
        bad |= !ok;
        char target[16] = "-";
        if (r->target > 0)
            snprintf(target, sizeof target, ">= %.0f%%", 100.0 * r->target);
        printf("| %s | %.3f | %.1f %s | %s %.1f | %.1f%% | %s | %s | %s |\n", r->name, r->median_ms, r->rate,
               r->bound == OCS_CUDA_BENCH_COPY ? "GB/s" : "TFLOP/s", bound_name(r->bound), r->ceiling,
               100.0 * r->ratio, target, r->target <= 0 ? "info" : r->ratio >= r->target ? "MET" : "MISSED",
               r->check);
    }
    printf("\nnotes:\n");
    for (size_t i = 0; i < n; i++)
        if (rows[i].ran)
            printf("  %s: %s\n", rows[i].name, rows[i].note);
    if (json) {
        FILE *f = fopen(json, "w");
        if (f) {
            write_json(f, device, &cl, rows, n);
            fclose(f);
        } else {
            fprintf(stderr, "cannot write %s\n", json);
            bad = 1;
        }
    }
    ocs_backend_close(b);
    return bad ? 1 : 0;
}
