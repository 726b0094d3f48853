/*
 * conformance/ceilings.c - the ceilings `ocs bench` compares against,
 * measured on this machine in the same run.
 *
 * Memory read bandwidth (a "bandwidth probe"): a buffer much larger than
 * the last-level cache is summed by 1 to N threads, each its own contiguous
 * slice of whole cache lines; a pass takes the time from waking the threads
 * to the last one finishing, and the bandwidth is bytes / time.  The sum
 * uses AVX2 with eight independent accumulators when the processor has it
 * (checked at run time), a scalar loop with eight accumulators otherwise.
 * Compute (a "GEMM probe"): cblas_sgemm on n x n row-major matrices with N
 * OpenBLAS threads, 2 n^3 FLOPs per call.  Between passes the probe's
 * threads sleep on a condition variable, so a probe can stay alive next to
 * the code it is compared with and be passed right before and after it.
 *
 * ocs_bench_ceilings takes the median of several passes after a warm-up,
 * the N-thread and 1-thread bandwidth passes alternating so that noise from
 * other processes falls on both alike (the machine may be shared).
 */
#include "bench.h"
#include "ocs/tensor.h"

#include <cblas.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define HAVE_X86 1
#endif

#define MAX_THREADS 256
#define BW_PASSES 9
#define GEMM_PASSES 5

double ocs_bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int ocs_bench_threads(void)
{
    const char *env = getenv("OCS_NUM_THREADS");
    if (env && *env) {
        char *end;
        long v = strtol(env, &end, 10);
        if (!*end && v > 0 && v <= 1024)
            return (int)v;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* ---- streaming read ------------------------------------------------------------ */

static float sum_scalar(const float *p, size_t n)
{
    float a[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++)
            a[j] += p[i + j];
    for (; i < n; i++)
        a[0] += p[i];
    return a[0] + a[1] + a[2] + a[3] + a[4] + a[5] + a[6] + a[7];
}

#ifdef HAVE_X86
__attribute__((target("avx2"))) static float sum_avx2(const float *p, size_t n)
{
    __m256 a[8];
    for (int j = 0; j < 8; j++)
        a[j] = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 64 <= n; i += 64)
        for (int j = 0; j < 8; j++)
            a[j] = _mm256_add_ps(a[j], _mm256_loadu_ps(p + i + 8 * j));
    for (int j = 1; j < 8; j++)
        a[0] = _mm256_add_ps(a[0], a[j]);
    float lanes[8];
    _mm256_storeu_ps(lanes, a[0]);
    float r = 0;
    for (int j = 0; j < 8; j++)
        r += lanes[j];
    for (; i < n; i++)
        r += p[i];
    return r;
}
#endif

typedef struct bw_worker {
    struct ocs_bw_probe *probe;
    int index;
    pthread_t tid;
} bw_worker;

struct ocs_bw_probe {
    float *buf;
    size_t n;                   /* floats */
    int threads, started, avx2;
    pthread_mutex_t lock;
    pthread_cond_t wake, done;
    unsigned long generation;   /* one per pass */
    int active, pending, quit;  /* threads summing in this pass, still summing, stop */
    float sums[MAX_THREADS];
    bw_worker *workers;
};

static void bw_slice(ocs_bw_probe *p, int index, int active)
{
    /* slices of whole 64-byte lines; the last takes the tail */
    size_t lines = p->n / 16, per = lines / (size_t)active, extra = lines % (size_t)active;
    size_t i = (size_t)index;
    size_t first = i * per + (i < extra ? i : extra);
    size_t count = per + (i < extra ? 1 : 0);
    const float *s = p->buf + first * 16;
    size_t n = count * 16;
    if (index == active - 1)
        n += p->n - lines * 16;
#ifdef HAVE_X86
    if (p->avx2) {
        p->sums[index] = sum_avx2(s, n);
        return;
    }
#endif
    p->sums[index] = sum_scalar(s, n);
}

static void *bw_thread(void *arg)
{
    bw_worker *w = arg;
    ocs_bw_probe *p = w->probe;
    unsigned long seen = 0;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (p->generation == seen && !p->quit)
            pthread_cond_wait(&p->wake, &p->lock);
        if (p->quit)
            break;
        seen = p->generation;
        int active = p->active;
        if (w->index >= active)
            continue;
        pthread_mutex_unlock(&p->lock);
        bw_slice(p, w->index, active);
        pthread_mutex_lock(&p->lock);
        if (--p->pending == 0)
            pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

void ocs_bw_probe_free(ocs_bw_probe *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->quit = 1;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    for (int i = 1; i < p->started; i++)
        pthread_join(p->workers[i].tid, NULL);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    free(p->workers);
    free(p->buf);
    free(p);
}

ocs_status ocs_bw_probe_new(size_t bytes, int threads, ocs_bw_probe **out, ocs_err *err)
{
    *out = NULL;
    if (threads < 1 || threads > MAX_THREADS)
        return ocs_fail(err, OCS_ERR_INVALID, "thread count %d is outside 1..%d", threads, MAX_THREADS);
    size_t n = bytes / sizeof(float);
    if (n < 1024)
        return ocs_fail(err, OCS_ERR_INVALID, "bandwidth buffer of %zu bytes is too small", bytes);
    if (n > SIZE_MAX / sizeof(float))
        return ocs_fail(err, OCS_ERR_NOMEM, "bandwidth buffer of %zu bytes is too large", bytes);
    ocs_bw_probe *p = calloc(1, sizeof *p);
    if (!p)
        return ocs_fail(err, OCS_ERR_NOMEM, "out of memory for the bandwidth probe");
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    p->started = 1;
    const size_t alloc = n * sizeof(float);
    p->buf = ocs_tensor_alloc_data(alloc);   /* the pages tensors get (huge where available) */
    p->workers = calloc((size_t)threads, sizeof *p->workers);
    if (!p->buf || !p->workers) {
        ocs_bw_probe_free(p);
        return ocs_fail(err, OCS_ERR_NOMEM, "cannot allocate the %zu-byte bandwidth buffer", alloc);
    }
    /* touch every page, with values whose sums stay finite */
    for (size_t i = 0; i < n; i++)
        p->buf[i] = (float)(i & 7) * 0.125f;
    p->n = n;
    p->threads = threads;
#ifdef HAVE_X86
    __builtin_cpu_init();
    p->avx2 = __builtin_cpu_supports("avx2") != 0;
#endif
    for (int i = 1; i < threads; i++) {
        p->workers[i].probe = p;
        p->workers[i].index = i;
        if (pthread_create(&p->workers[i].tid, NULL, bw_thread, &p->workers[i]) != 0) {
            ocs_bw_probe_free(p);
            return ocs_fail(err, OCS_ERR_RUNTIME, "cannot start bandwidth thread %d", i);
        }
        p->started++;
    }
    *out = p;
    return OCS_OK;
}

double ocs_bw_probe_pass(ocs_bw_probe *p, int threads)
{
    if (threads < 1 || threads > p->threads)
        threads = p->threads;
    double t0 = ocs_bench_now();
    pthread_mutex_lock(&p->lock);
    p->active = threads;
    p->pending = threads - 1;
    p->generation++;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    bw_slice(p, 0, threads);
    pthread_mutex_lock(&p->lock);
    while (p->pending > 0)
        pthread_cond_wait(&p->done, &p->lock);
    pthread_mutex_unlock(&p->lock);
    double t = ocs_bench_now() - t0;
    /* keep the sums observable so that the reads cannot be dropped */
    volatile float sink = 0;
    for (int i = 0; i < threads; i++)
        sink += p->sums[i];
    (void)sink;
    return t > 0 ? (double)(p->n * sizeof(float)) / t * 1e-9 : 0;
}

size_t ocs_bw_probe_bytes(const ocs_bw_probe *p)
{
    return p->n * sizeof(float);
}

int ocs_bw_probe_avx2(const ocs_bw_probe *p)
{
    return p->avx2;
}

/*
 * OpenBLAS's pthread build keeps its worker threads spinning (sched_yield)
 * for about 0.1 s after each call, and after openblas_set_num_threads
 * starts them, before they sleep (measured: 0.1 s of CPU while the caller
 * sleeps 0.3 s): they would take cores from the run being measured.  Where
 * the library has it, its shutdown entry point stops them at once; the
 * next call starts them again.
 */
extern int blas_thread_shutdown_(void) __attribute__((weak));

static void blas_quiet(void)
{
    if (blas_thread_shutdown_)
        blas_thread_shutdown_();
}

/* ---- sgemm ------------------------------------------------------------------------ */

struct ocs_gemm_probe {
    int n;
    float *a, *b, *c;
};

void ocs_gemm_probe_free(ocs_gemm_probe *g)
{
    if (!g)
        return;
    free(g->a);
    free(g->b);
    free(g->c);
    free(g);
}

ocs_status ocs_gemm_probe_new(int n, int threads, ocs_gemm_probe **out, ocs_err *err)
{
    *out = NULL;
    if (n < 16 || n > 32768)
        return ocs_fail(err, OCS_ERR_INVALID, "sgemm size %d is outside 16..32768", n);
    if (threads < 1 || threads > MAX_THREADS)
        return ocs_fail(err, OCS_ERR_INVALID, "thread count %d is outside 1..%d", threads, MAX_THREADS);
    size_t nn = (size_t)n * (size_t)n;
    ocs_gemm_probe *g = calloc(1, sizeof *g);
    if (g) {
        g->n = n;
        g->a = malloc(nn * sizeof(float));
        g->b = malloc(nn * sizeof(float));
        g->c = calloc(nn, sizeof(float));
    }
    if (!g || !g->a || !g->b || !g->c) {
        ocs_gemm_probe_free(g);
        return ocs_fail(err, OCS_ERR_NOMEM, "cannot allocate three %dx%d matrices for sgemm", n, n);
    }
    uint32_t s = 12345;
    for (size_t i = 0; i < nn; i++) {
        s = s * 1664525u + 1013904223u;
        g->a[i] = (float)(s >> 8) / 16777216.0f - 0.5f;
        s = s * 1664525u + 1013904223u;
        g->b[i] = (float)(s >> 8) / 16777216.0f - 0.5f;
    }
    openblas_set_num_threads(threads);
    *out = g;
    return OCS_OK;
}

double ocs_gemm_probe_pass(ocs_gemm_probe *g)
{
    const int n = g->n;
    double t0 = ocs_bench_now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, g->a, n, g->b, n, 0.0f, g->c, n);
    double t = ocs_bench_now() - t0;
    blas_quiet();
    return t > 0 ? 2.0 * (double)n * (double)n * (double)n / t * 1e-9 : 0;
}

void ocs_bench_blas_threads(int threads)
{
    if (threads >= 1)
        openblas_set_num_threads(threads);
    blas_quiet();
}

/* ---- the ceilings together --------------------------------------------------------------- */

ocs_status ocs_bench_ceilings(size_t bytes, int n, int threads, ocs_ceilings *out, ocs_err *err)
{
    memset(out, 0, sizeof *out);
    ocs_bw_probe *bw = NULL;
    ocs_status st = ocs_bw_probe_new(bytes, threads, &bw, err);
    if (st != OCS_OK)
        return st;
    double vn[BW_PASSES], v1[BW_PASSES];
    ocs_bw_probe_pass(bw, threads); /* warm-up */
    for (int p = 0; p < BW_PASSES; p++) {
        vn[p] = ocs_bw_probe_pass(bw, threads);
        v1[p] = ocs_bw_probe_pass(bw, 1);
    }
    out->threads = threads;
    out->membw_gbs = ocs_bench_median(vn, BW_PASSES);
    out->membw_1t_gbs = ocs_bench_median(v1, BW_PASSES);
    out->membw_bytes = ocs_bw_probe_bytes(bw);
    out->avx2 = ocs_bw_probe_avx2(bw);
    ocs_bw_probe_free(bw);

    ocs_gemm_probe *g = NULL;
    if ((st = ocs_gemm_probe_new(n, threads, &g, err)) != OCS_OK)
        return st;
    double v[GEMM_PASSES];
    ocs_gemm_probe_pass(g); /* warm-up */
    for (int p = 0; p < GEMM_PASSES; p++)
        v[p] = ocs_gemm_probe_pass(g);
    out->sgemm_gflops = ocs_bench_median(v, GEMM_PASSES);
    out->sgemm_n = n;
    ocs_gemm_probe_free(g);
    return OCS_OK;
}
