/*
 * tests/test_cuda.c - the CUDA backend.
 *
 * Without a device (CI, and any machine without a driver): opening "cuda"
 * fails with OCS_ERR_UNSUPPORTED and a reason that names the CUDA error or
 * the empty device count, repeatably and without leaking; and the host-side
 * logic that needs no device is checked: the attend kernel's variant choice
 * for every head size, the work plan (every query row covered once, split
 * partitions merged in order, checked by evaluating attention through the
 * plan's partitions and merges and comparing with a direct softmax), the
 * validation (the same status and message as the reference kernel for every
 * error condition), MoE's grouping of routed tokens and its validation.
 *
 * With a device (on a machine with a GPU): PagedAttention and MoE cases run on a
 * session whose only backend is cuda (no reference fallback), with output
 * buffers poisoned (OCS_CUDA_POISON), against the reference: outputs within
 * rtol/atol per type, cache outputs bit-identical.  Without a device those
 * tests are skipped.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ocs/backend.h"

#ifndef OCS_HAVE_CUDA

/* Built without nvcc: the backend is not compiled in, and opening it says so. */
static void test_not_built(void **state)
{
    (void)state;
    ocs_backend *b = NULL;
    ocs_err err = {{0}};
    assert_int_equal(ocs_backend_open("cuda", &b, &err), OCS_ERR_UNSUPPORTED);
    assert_null(b);
    assert_non_null(strstr(err.msg, "cuda"));
    for (const char *const *n = ocs_backend_names(); *n; n++)
        assert_string_not_equal(*n, "cuda");
    printf("cuda backend not built: %s\n", err.msg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_not_built)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}

#else

#include "../backends/cuda/cuda.h"
#include "../backends/cuda/host.h"
#include "ocs/build.h"
#include "ocs/hooks.h"
#include "ocs/schema.h"

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* ---- data ---------------------------------------------------------------------------------------- */

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double rng_uniform(uint64_t *s, double lo, double hi)
{
    return lo + (hi - lo) * ((double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0));
}

static ocs_tensor *new_tensor(ocs_dtype t, int rank, const int64_t *dims)
{
    ocs_tensor *x = NULL;
    assert_int_equal(ocs_tensor_new(t, rank, dims, &x, NULL), OCS_OK);
    return x;
}

static ocs_tensor *random_tensor(ocs_dtype t, int rank, const int64_t *dims, uint64_t *s, double amp)
{
    ocs_tensor *x = new_tensor(t, rank, dims);
    for (size_t i = 0; i < x->numel; i++)
        ocs_tensor_set_f64(x, i, rng_uniform(s, -amp, amp));
    return x;
}

/* The cuda backend when a device answers, else NULL (opened once). */
static ocs_backend *gpu(void)
{
    static int tried;
    static ocs_backend *b;
    if (!tried) {
        tried = 1;
        setenv("OCS_CUDA_POISON", "1", 1);
        ocs_err err = {{0}};
        if (ocs_backend_open("cuda", &b, &err) != OCS_OK)
            b = NULL;
        else
            printf("cuda backend: %s\n", b->ops->describe(b->ctx));
    }
    return b;
}

/* ---- no device -------------------------------------------------------------------------------------- */

static void test_open_without_device(void **state)
{
    (void)state;
    int listed = 0;
    for (const char *const *n = ocs_backend_names(); *n; n++)
        listed |= !strcmp(*n, "cuda");
    assert_true(listed);

    char first[OCS_ERR_MAX] = "";
    for (int i = 0; i < 3; i++) {
        ocs_backend *b = (ocs_backend *)&first;   /* must be reset to NULL on failure */
        ocs_err err = {{0}};
        const ocs_status st = ocs_backend_open("cuda", &b, &err);
        if (st == OCS_OK) {
            /* a device answers: the backend is real and describes itself */
            assert_non_null(b);
            const char *d = b->ops->describe(b->ctx);
            assert_non_null(d);
            assert_true(strlen(d) > 0);
            assert_string_equal(b->ops->name, "cuda");
            ocs_backend_close(b);
            continue;
        }
        assert_int_equal(st, OCS_ERR_UNSUPPORTED);
        assert_null(b);
        if (!strstr(err.msg, "cudaGetDeviceCount failed: error ") && !strstr(err.msg, "no CUDA device") &&
            !strstr(err.msg, "not built for"))
            fail_msg("unexpected reason: %s", err.msg);
        if (i == 0) {
            snprintf(first, sizeof first, "%s", err.msg);
            printf("cuda not present: %s\n", err.msg);
        } else {
            assert_string_equal(err.msg, first);   /* the same answer every time */
        }
    }
}

/* ---- carving device buffers ---------------------------------------------------------------------------- */

static void test_carve(void **state)
{
    (void)state;
    ocs_cuda_carver c = {NULL, 0, 0};
    assert_null(ocs_cuda_carve(&c, 3, 4));
    assert_int_equal(c.used, 12);
    assert_null(ocs_cuda_carve(&c, 0, 8));
    assert_int_equal(c.used, 256);          /* every part starts 256-byte aligned */
    assert_null(ocs_cuda_carve(&c, 10, 1));
    assert_int_equal(c.used, 266);
    assert_false(c.overflow);
    char *base = (char *)0x10000;
    ocs_cuda_carver d = {base, 0, 0};
    assert_ptr_equal(ocs_cuda_carve(&d, 3, 4), base);
    assert_ptr_equal(ocs_cuda_carve(&d, 0, 8), base + 256);
    assert_ptr_equal(ocs_cuda_carve(&d, 10, 1), base + 256);
    assert_ptr_equal(ocs_cuda_carve(&d, 1, 1), base + 512);
    ocs_cuda_carver e = {NULL, 0, 0};
    ocs_cuda_carve(&e, SIZE_MAX / 2, 4);
    assert_true(e.overflow);
}

/* ---- the attend kernel's variant ------------------------------------------------------------------ */

static void test_pa_choose(void **state)
{
    (void)state;
    /* the tiled kernel (the single-pass one not allowed) */
    static const struct {
        size_t es;
        int64_t D;
        int ok, vec, gs, cpl, rows;
    } want[] = {
        {2, 128, 1, 8, 16, 1, 8}, {4, 128, 1, 4, 32, 1, 8}, {2, 40, 1, 8, 8, 1, 8},  {4, 40, 1, 4, 16, 1, 8},
        {4, 3, 1, 1, 4, 1, 8},    {2, 20, 1, 1, 32, 1, 8},  {2, 256, 1, 8, 32, 1, 8}, {4, 256, 1, 4, 32, 2, 4},
        {2, 1024, 1, 8, 32, 4, 2}, {4, 1024, 0, 0, 0, 0, 0}, {2, 250, 1, 1, 32, 8, 1}, {2, 300, 0, 0, 0, 0, 0},
        {2, 0, 0, 0, 0, 0, 0},    {4, 1, 1, 1, 1, 1, 8},    {2, 64, 1, 8, 8, 1, 8},   {4, 512, 1, 4, 32, 4, 2},
    };
    for (size_t i = 0; i < N_OF(want); i++) {
        ocs_cuda_pa_cfg cfg;
        const int ok = ocs_cuda_pa_choose(want[i].es, want[i].D, 227 * 1024, 0, &cfg);
        if (ok != want[i].ok)
            fail_msg("es %zu D %lld: choose says %d", want[i].es, (long long)want[i].D, ok);
        if (!ok)
            continue;
        if (cfg.stream || cfg.vec != want[i].vec || cfg.gs != want[i].gs || cfg.cpl != want[i].cpl ||
            cfg.rows_cap != want[i].rows)
            fail_msg("es %zu D %lld: stream %d vec %d gs %d cpl %d rows %d", want[i].es, (long long)want[i].D,
                     cfg.stream, cfg.vec, cfg.gs, cfg.cpl, cfg.rows_cap);
    }
    /* allowed, the single-pass kernel takes the rows one 16-byte chunk a lane covers, the tiled one the rest */
    static const struct {
        size_t es;
        int64_t D;
        int stream, vec, gs, rows;
    } want_stream[] = {
        {2, 128, 1, 8, 16, 4}, {4, 128, 1, 4, 32, 8}, {2, 40, 1, 8, 8, 4}, {4, 40, 1, 4, 16, 8}, {2, 256, 1, 8, 32, 4},
        {2, 64, 1, 8, 8, 4},   {4, 32, 1, 4, 8, 8},   {2, 56, 1, 8, 8, 4}, {2, 8, 0, 8, 1, 8},  {4, 4, 0, 4, 1, 8},
        {2, 32, 0, 8, 4, 8},   {4, 3, 0, 1, 4, 8},    {2, 20, 0, 1, 32, 8}, {4, 256, 0, 4, 32, 4}, {2, 264, 0, 8, 32, 4},
    };
    for (size_t i = 0; i < N_OF(want_stream); i++) {
        ocs_cuda_pa_cfg cfg;
        assert_true(ocs_cuda_pa_choose(want_stream[i].es, want_stream[i].D, 227 * 1024, 1, &cfg));
        if (cfg.stream != want_stream[i].stream || cfg.vec != want_stream[i].vec || cfg.gs != want_stream[i].gs ||
            cfg.rows_cap != want_stream[i].rows)
            fail_msg("es %zu D %lld (allowed): stream %d vec %d gs %d rows %d", want_stream[i].es,
                     (long long)want_stream[i].D, cfg.stream, cfg.vec, cfg.gs, cfg.rows_cap);
    }
    /* every head size: the variant exists and covers the row, within the limits */
    for (int allow = 0; allow < 2; allow++)
        for (int es = 2; es <= 4; es += 2)
            for (int64_t D = 1; D <= 1100; D++) {
                ocs_cuda_pa_cfg cfg;
                if (!ocs_cuda_pa_choose((size_t)es, D, 48 * 1024, allow, &cfg))
                    continue;
                const int dtype = es == 4 ? OCS_FLOAT : (D % 2 ? OCS_BFLOAT16 : OCS_FLOAT16);
                assert_true(ocs_cuda_pa_have_variant(dtype, cfg.stream, cfg.vec, cfg.cpl, cfg.gs));
                assert_int_equal(D % cfg.vec, 0);
                assert_true((int64_t)cfg.gs * cfg.cpl * cfg.vec >= D);
                assert_true(cfg.gs >= 1 && cfg.gs <= 32 && (cfg.gs & (cfg.gs - 1)) == 0);
                assert_true(cfg.gs == 32 || (int64_t)cfg.gs * cfg.vec >= D);   /* no group wider than needed */
                assert_true(cfg.rows_cap >= 1 && cfg.rows_cap * cfg.cpl <= OCS_CUDA_PA_ROWS);
                assert_true(cfg.smem <= 48 * 1024);
                if (cfg.stream) {
                    assert_true(allow && cfg.vec * es == 16 && cfg.cpl == 1 && cfg.rows_cap == 32 / cfg.vec);
                    assert_true((int64_t)cfg.gs * cfg.vec >= D && cfg.gs >= 8);   /* one chunk a lane covers the row */
                } else if (allow) {
                    assert_true(cfg.vec == 1 || cfg.cpl > 1 || cfg.gs < 8);
                }
                if (es == 2 && D <= 1024 && (D * es) % 16 == 0)
                    assert_int_equal(cfg.vec, 8);
                if (D <= 256 && es == 4)   /* every float head size up to 256 has a kernel */
                    assert_true(cfg.cpl <= 8);
            }
    /* the whole range up to 256 is covered for every type; a limit that is too small refuses the tiled one */
    for (int64_t D = 1; D <= 256; D++) {
        ocs_cuda_pa_cfg cfg;
        assert_true(ocs_cuda_pa_choose(2, D, 48 * 1024, 1, &cfg));
        assert_true(ocs_cuda_pa_choose(4, D, 48 * 1024, 1, &cfg));
        assert_false(ocs_cuda_pa_choose(4, D, 1024, 0, &cfg));
    }
}

/* ---- the work plan ----------------------------------------------------------------------------------- */

static int64_t key_lo(int64_t W, int64_t p)
{
    return W >= 1 && p - W + 1 > 0 ? p - W + 1 : 0;
}

/* A score and a value that depend only on (sequence, row, key) and (sequence, key). */
static double score_of(int64_t b, int64_t rho, int64_t j)
{
    uint64_t s = (uint64_t)(b * 1000003 + rho * 7919 + j * 104729 + 17);
    return rng_uniform(&s, -4.0, 4.0);
}

static double value_of(int64_t b, int64_t j)
{
    uint64_t s = (uint64_t)(b * 65537 + j * 31 + 5);
    return rng_uniform(&s, -1.0, 1.0);
}

typedef struct plan_case {
    int B;
    int32_t cu[9], past[8];
    int64_t G, W;
    int rows_cap, part;
} plan_case;

/* Checks the plan's structure and evaluates attention through it (float, as the kernels do). */
static void check_plan(const plan_case *k)
{
    ocs_cuda_pa_plan p;
    ocs_err err = {{0}};
    if (ocs_cuda_pa_plan_make(k->B, k->cu, k->past, k->G, k->W, k->rows_cap, k->part, &p, &err) != OCS_OK)
        fail_msg("plan: %s", err.msg);
    int64_t rows_total = 0, off[9];
    for (int b = 0; b < k->B; b++) {
        off[b] = rows_total;
        rows_total += (int64_t)(k->cu[b + 1] - k->cu[b]) * k->G;
    }
    double *res = calloc((size_t)rows_total + 1, sizeof *res);
    int *seen = calloc((size_t)rows_total + 1, sizeof *seen);
    float *pm = malloc((p.n_parts * (size_t)k->rows_cap + 1) * sizeof *pm);
    float *pl = malloc((p.n_parts * (size_t)k->rows_cap + 1) * sizeof *pl);
    float *pa = malloc((p.n_parts * (size_t)k->rows_cap + 1) * sizeof *pa);
    int *pset = calloc(p.n_parts + 1, sizeof *pset);
    assert_true(res && seen && pm && pl && pa && pset);

    for (size_t i = 0; i < p.n_items; i++) {
        const ocs_cuda_pa_item *it = &p.items[i];
        assert_true(it->b >= 0 && it->b < k->B);
        assert_true(it->nrows >= 1 && it->nrows <= k->rows_cap);
        assert_int_equal(it->rho0 % k->rows_cap, 0);
        assert_true(it->rho0 + it->nrows <= (k->cu[it->b + 1] - k->cu[it->b]) * k->G);
        assert_true(it->k0 < it->k1 && it->k1 - it->k0 <= k->part);
        if (it->part >= 0) {
            assert_true((size_t)it->part < p.n_parts);
            assert_false(pset[it->part]);
            pset[it->part] = 1;
        }
        for (int r = 0; r < it->nrows; r++) {
            const int64_t rho = it->rho0 + r, pos = k->past[it->b] + rho / k->G, lo = key_lo(k->W, pos);
            float m = -INFINITY, l = 0.0f, acc = 0.0f;
            for (int64_t j = it->k0; j < it->k1; j++)
                if (j >= lo && j <= pos && (float)score_of(it->b, rho, j) > m)
                    m = (float)score_of(it->b, rho, j);
            for (int64_t j = it->k0; j < it->k1; j++)
                if (j >= lo && j <= pos) {
                    const float e = expf((float)score_of(it->b, rho, j) - m);
                    l += e;
                    acc += e * (float)value_of(it->b, j);
                }
            if (it->part < 0) {
                assert_false(seen[off[it->b] + rho]);
                seen[off[it->b] + rho] = 1;
                res[off[it->b] + rho] = acc / l;
            } else {
                const size_t ix = (size_t)it->part * (size_t)k->rows_cap + (size_t)r;
                pm[ix] = m;
                pl[ix] = l;
                pa[ix] = acc;
            }
        }
    }
    for (size_t q = 0; q < p.n_parts; q++)
        assert_true(pset[q]);
    for (size_t i = 0; i < p.n_merges; i++) {
        const ocs_cuda_pa_mergeitem *mg = &p.merges[i];
        assert_true(mg->nparts >= 2);
        /* the merge's partitions are consecutive items covering one key range in ascending order */
        int64_t prev_k1 = -1;
        for (size_t j = 0; j < p.n_items; j++) {
            const ocs_cuda_pa_item *it = &p.items[j];
            if (it->part < mg->part0 || it->part >= mg->part0 + mg->nparts)
                continue;
            assert_int_equal(it->b, mg->b);
            assert_int_equal(it->rho0, mg->rho0);
            assert_int_equal(it->nrows, mg->nrows);
            if (prev_k1 >= 0)
                assert_int_equal(it->k0, prev_k1);
            prev_k1 = it->k1;
        }
        for (int r = 0; r < mg->nrows; r++) {
            const int64_t rho = mg->rho0 + r;
            float M = -INFINITY, L = 0.0f, acc = 0.0f;
            for (int q = 0; q < mg->nparts; q++)
                M = fmaxf(M, pm[(size_t)(mg->part0 + q) * (size_t)k->rows_cap + (size_t)r]);
            assert_true(isfinite(M));
            for (int q = 0; q < mg->nparts; q++) {
                const size_t ix = (size_t)(mg->part0 + q) * (size_t)k->rows_cap + (size_t)r;
                if (pm[ix] != -INFINITY) {
                    L += pl[ix] * expf(pm[ix] - M);
                    acc += pa[ix] * expf(pm[ix] - M);
                }
            }
            assert_false(seen[off[mg->b] + rho]);
            seen[off[mg->b] + rho] = 1;
            res[off[mg->b] + rho] = acc / L;
        }
    }
    /* every row once, equal to the direct softmax */
    for (int b = 0; b < k->B; b++)
        for (int64_t rho = 0; rho < (int64_t)(k->cu[b + 1] - k->cu[b]) * k->G; rho++) {
            if (!seen[off[b] + rho])
                fail_msg("sequence %d row %lld is not covered", b, (long long)rho);
            const int64_t pos = k->past[b] + rho / k->G, lo = key_lo(k->W, pos);
            double m = -INFINITY, l = 0.0, y = 0.0;
            for (int64_t j = lo; j <= pos; j++)
                m = fmax(m, score_of(b, rho, j));
            for (int64_t j = lo; j <= pos; j++) {
                l += exp(score_of(b, rho, j) - m);
                y += exp(score_of(b, rho, j) - m) * value_of(b, j);
            }
            y /= l;
            if (fabs(res[off[b] + rho] - y) > 1e-5 + 1e-4 * fabs(y))
                fail_msg("sequence %d row %lld: plan %.9g, direct %.9g", b, (long long)rho, res[off[b] + rho], y);
        }
    free(res);
    free(seen);
    free(pm);
    free(pl);
    free(pa);
    free(pset);
    ocs_cuda_pa_plan_free(&p);
}

static void test_pa_plan(void **state)
{
    (void)state;
    /* the decode target's shape: 8 partitions per sequence, one merge each */
    {
        plan_case k = {4, {0, 1, 2, 3, 4}, {4095, 4095, 100, 511}, 4, -1, 8, 512};
        ocs_cuda_pa_plan p;
        ocs_err err = {{0}};
        assert_int_equal(ocs_cuda_pa_plan_make(k.B, k.cu, k.past, k.G, k.W, k.rows_cap, k.part, &p, &err), OCS_OK);
        assert_int_equal(p.n_items, 8 + 8 + 1 + 1);
        assert_int_equal(p.n_merges, 2);
        assert_int_equal(p.n_parts, 16);
        ocs_cuda_pa_plan_free(&p);
        check_plan(&k);
    }
    /* nothing new: an empty plan */
    {
        plan_case k = {3, {0, 0, 0, 0}, {5, 0, 9}, 2, -1, 8, 512};
        ocs_cuda_pa_plan p;
        assert_int_equal(ocs_cuda_pa_plan_make(k.B, k.cu, k.past, k.G, k.W, k.rows_cap, k.part, &p, NULL), OCS_OK);
        assert_int_equal(p.n_items, 0);
        assert_null(p.items);
        ocs_cuda_pa_plan_free(&p);
    }
    /* random configurations with small partitions, so that splits, windows and chunks crossing tokens mix */
    uint64_t s = 7;
    for (int c = 0; c < 300; c++) {
        plan_case k;
        memset(&k, 0, sizeof k);
        k.B = 1 + (int)(rng_next(&s) % 6);
        k.cu[0] = 0;
        for (int b = 0; b < k.B; b++) {
            const int kind = (int)(rng_next(&s) % 4);
            const int nq = kind == 0 ? 0 : kind == 1 ? 1 : kind == 2 ? 2 + (int)(rng_next(&s) % 4) : 5 + (int)(rng_next(&s) % 40);
            k.cu[b + 1] = k.cu[b] + nq;
            k.past[b] = (int32_t)(rng_next(&s) % 150);
        }
        static const int64_t gs[] = {1, 2, 3, 4, 8, 16};
        static const int rcs[] = {1, 2, 4, 8};
        static const int parts[] = {1, 3, 7, 16, 64, 512};
        k.G = gs[rng_next(&s) % N_OF(gs)];
        k.W = rng_next(&s) % 3 == 0 ? 1 + (int64_t)(rng_next(&s) % 30) : -1;
        k.rows_cap = rcs[rng_next(&s) % N_OF(rcs)];
        k.part = parts[rng_next(&s) % N_OF(parts)];
        check_plan(&k);
    }
    /* bad arguments */
    {
        ocs_cuda_pa_plan p;
        ocs_err err = {{0}};
        const int32_t cu[2] = {0, 1}, past[1] = {0};
        assert_int_equal(ocs_cuda_pa_plan_make(1, cu, past, 1, -1, 0, 512, &p, &err), OCS_ERR_INVALID);
    }
}

/* ---- PagedAttention cases: building them ---------------------------------------------------------------- */

#define MAXB 8

typedef struct pa_case {
    const char *name;
    ocs_dtype dt;
    int B;
    int nq[MAXB], past[MAXB];
    int BS, H, Hkv, D;
    int W;              /* 0: attribute absent (-1) */
    float scale, softcap;
    int packed, rotary, interleaved, half;   /* half: cos_cache width (0: D / 2) */
    int caches;         /* cache outputs named: 1 key, 2 value */
    int share;          /* sequence 1 shares sequence 0's full past blocks */
    int hazard;         /* sequence 1 reads as past the block sequence 0 writes */
} pa_case;

typedef struct pa_built {
    ocs_model *model;
    ocs_tensor *in[10];
    int n_outputs;
    int extra_input;
    int64_t H, Hkv;     /* attribute values written into the node */
    int64_t W, rotary;
} pa_built;

static const char *const pa_names[10] = {"query", "key", "value", "key_cache", "value_cache",
                                         "cumulative_sequence_length", "past_seqlens", "block_table",
                                         "cos_cache", "sin_cache"};

static void pa_inputs(const pa_case *k, pa_built *b, uint64_t seed)
{
    uint64_t s = seed;
    const int B = k->B, BS = k->BS, D = k->D;
    int64_t T = 0, MB = 1, NB = 3;
    for (int i = 0; i < B; i++) {
        const int64_t blocks = (k->past[i] + k->nq[i] + BS - 1) / BS;
        T += k->nq[i];
        if (blocks + 1 > MB)
            MB = blocks + 1;
        NB += blocks;
    }
    int32_t *perm = malloc((size_t)NB * sizeof *perm);
    for (int64_t i = 0; i < NB; i++)
        perm[i] = (int32_t)i;
    for (int64_t i = NB - 1; i > 0; i--) {
        const int64_t j = (int64_t)(rng_next(&s) % (uint64_t)(i + 1));
        const int32_t x = perm[i];
        perm[i] = perm[j];
        perm[j] = x;
    }
    const int64_t dcu[1] = {B + 1}, dp[1] = {B}, dt[2] = {B, MB};
    b->in[5] = new_tensor(OCS_INT32, 1, dcu);
    b->in[6] = new_tensor(OCS_INT32, 1, dp);
    b->in[7] = new_tensor(OCS_INT32, 2, dt);
    int32_t *cu = b->in[5]->data, *past = b->in[6]->data, *table = b->in[7]->data;
    int64_t next = 0;
    cu[0] = 0;
    for (int i = 0; i < B; i++) {
        cu[i + 1] = cu[i] + k->nq[i];
        past[i] = k->past[i];
        const int64_t blocks = (k->past[i] + k->nq[i] + BS - 1) / BS;
        for (int64_t j = 0; j < MB; j++)
            table[i * MB + j] = j < blocks ? perm[next++] : -1;
    }
    if (k->share) {
        const int64_t full = (k->past[0] < k->past[1] ? k->past[0] : k->past[1]) / BS;
        for (int64_t j = 0; j < full; j++)
            table[1 * MB + j] = table[0 * MB + j];
    }
    if (k->hazard)
        table[1 * MB + 0] = table[0 * MB + k->past[0] / BS];
    free(perm);
    const int64_t qw = (int64_t)(k->packed ? k->H + 2 * k->Hkv : k->H) * D;
    const int64_t dq[2] = {T, qw}, dkv[2] = {T, (int64_t)k->Hkv * D}, dc[4] = {NB, BS, k->Hkv, D};
    b->in[0] = random_tensor(k->dt, 2, dq, &s, 2.0);
    if (!k->packed) {
        b->in[1] = random_tensor(k->dt, 2, dkv, &s, 2.0);
        b->in[2] = random_tensor(k->dt, 2, dkv, &s, 1.0);
    }
    b->in[3] = random_tensor(k->dt, 4, dc, &s, 2.0);
    b->in[4] = random_tensor(k->dt, 4, dc, &s, 1.0);
    if (k->rotary) {
        const int64_t half = k->half ? k->half : D / 2;
        int64_t maxpos = 1;
        for (int i = 0; i < B; i++)
            if (k->past[i] + k->nq[i] > maxpos)
                maxpos = k->past[i] + k->nq[i];
        const int64_t dr[2] = {maxpos + 2, half};
        b->in[8] = new_tensor(k->dt, 2, dr);
        b->in[9] = new_tensor(k->dt, 2, dr);
        for (int64_t p = 0; p < dr[0]; p++)
            for (int64_t i = 0; i < half; i++) {
                const double ang = (double)p * pow(10000.0, -2.0 * (double)i / (double)(2 * half));
                ocs_tensor_set_f64(b->in[8], (size_t)(p * half + i), cos(ang));
                ocs_tensor_set_f64(b->in[9], (size_t)(p * half + i), sin(ang));
            }
    }
    b->H = k->H;
    b->Hkv = k->Hkv;
    b->W = k->W ? k->W : -1;
    b->rotary = k->rotary;
}

/* The one-node model for b's current inputs and attribute values. */
static void pa_model(const pa_case *k, pa_built *b)
{
    ocs_model_free(b->model);
    ocs_model *m = NULL;
    assert_int_equal(ocs_model_new(&m, NULL), OCS_OK);
    assert_int_equal(ocs_model_import(m, "", 21, NULL), OCS_OK);
    assert_int_equal(ocs_model_import(m, OCS_PREVIEW_DOMAIN, 1, NULL), OCS_OK);
    const char *ins[11];
    int n_in = 0;
    for (int i = 0; i < 10; i++) {
        ins[i] = "";
        if (!b->in[i])
            continue;
        assert_int_equal(ocs_graph_add_input(m->graph, pa_names[i], b->in[i]->dtype, b->in[i]->rank, b->in[i]->dims,
                                             NULL),
                         OCS_OK);
        ins[i] = pa_names[i];
        n_in = i + 1;
    }
    if (b->extra_input) {
        for (int i = n_in; i < 10; i++)
            ins[i] = "";
        ins[10] = pa_names[0];
        n_in = 11;
    }
    const char *outs[3] = {"output", (k->caches & 1) ? "key_cache_out" : "", (k->caches & 2) ? "value_cache_out" : ""};
    const int n_out = (k->caches & 2) ? 3 : (k->caches & 1) ? 2 : 1;
    ocs_node *n = NULL;
    assert_int_equal(ocs_graph_add_node(m->graph, "PagedAttention", OCS_PREVIEW_DOMAIN, "pa", (size_t)n_in, ins,
                                        (size_t)n_out, outs, &n, NULL),
                     OCS_OK);
    assert_int_equal(ocs_node_set_int(n, "num_heads", b->H, NULL), OCS_OK);
    assert_int_equal(ocs_node_set_int(n, "kv_num_heads", b->Hkv, NULL), OCS_OK);
    if (b->W != -1)
        assert_int_equal(ocs_node_set_int(n, "local_window_size", b->W, NULL), OCS_OK);
    if (k->scale != 0.0f)
        assert_int_equal(ocs_node_set_float(n, "scale", k->scale, NULL), OCS_OK);
    if (k->softcap != 0.0f)
        assert_int_equal(ocs_node_set_float(n, "softcap", k->softcap, NULL), OCS_OK);
    if (b->rotary)
        assert_int_equal(ocs_node_set_int(n, "do_rotary", b->rotary, NULL), OCS_OK);
    if (k->interleaved)
        assert_int_equal(ocs_node_set_int(n, "rotary_interleaved", 1, NULL), OCS_OK);
    const int64_t od[2] = {b->in[0] ? b->in[0]->dims[0] : 0, (int64_t)k->H * k->D};
    const ocs_dtype ot = b->in[0] ? b->in[0]->dtype : k->dt;
    assert_int_equal(ocs_graph_add_output(m->graph, "output", ot, 2, od, NULL), OCS_OK);
    if (k->caches & 1)
        assert_int_equal(ocs_graph_add_output(m->graph, "key_cache_out", ot, 4, b->in[3]->dims, NULL), OCS_OK);
    if (k->caches & 2)
        assert_int_equal(ocs_graph_add_output(m->graph, "value_cache_out", ot, 4, b->in[4]->dims, NULL), OCS_OK);
    b->model = m;
    b->n_outputs = 1 + !!(k->caches & 1) + !!(k->caches & 2);   /* the graph's outputs, not the node's */
}

static void pa_free(pa_built *b)
{
    ocs_model_free(b->model);
    for (int i = 0; i < 10; i++)
        ocs_tensor_free(b->in[i]);
    memset(b, 0, sizeof *b);
}

/* Kernel arguments for the node of b (inputs by name). */
static void pa_args(pa_built *b, const ocs_tensor **ins, ocs_tensor **outs, ocs_err *err, ocs_kernel_args *a)
{
    const ocs_node *n = &b->model->graph->nodes[0];
    for (size_t i = 0; i < 11; i++)
        ins[i] = NULL;
    for (size_t i = 0; i < n->n_inputs && i < 10; i++)
        for (int j = 0; j < 10; j++)
            if (n->inputs[i][0] && !strcmp(n->inputs[i], pa_names[j]))
                ins[i] = b->in[j];
    if (n->n_inputs == 11)
        ins[10] = b->in[0];
    memset(a, 0, sizeof *a);
    a->node = n;
    a->since_version = 1;
    a->n_inputs = n->n_inputs;
    a->inputs = ins;
    a->n_outputs = n->n_outputs;
    a->outputs = outs;
    a->err = err;
}

/* ---- PagedAttention validation: the reference's status and message ------------------------------------- */

static const pa_case pa_base = {"base", OCS_FLOAT, 3, {1, 5, 0}, {9, 3, 5}, 4, 4, 2, 8, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0};

typedef void (*pa_mutation)(pa_case *k, pa_built *b);

static void retype(pa_built *b, int i, ocs_dtype t)
{
    ocs_tensor *x = new_tensor(t, b->in[i]->rank, b->in[i]->dims);
    ocs_tensor_free(b->in[i]);
    b->in[i] = x;
}

static void reshape(pa_built *b, int i, int rank, const int64_t *dims)
{
    ocs_tensor *x = new_tensor(b->in[i]->dtype, rank, dims);
    ocs_tensor_free(b->in[i]);
    b->in[i] = x;
}

static int32_t *i32(pa_built *b, int i)
{
    return b->in[i]->data;
}

static void drop(pa_built *b, int i)
{
    ocs_tensor_free(b->in[i]);
    b->in[i] = NULL;
}

static void m_heads_zero(pa_case *k, pa_built *b) { (void)k; b->H = 0; }
static void m_heads_not_multiple(pa_case *k, pa_built *b) { (void)k; b->H = 3; }
static void m_window_bad(pa_case *k, pa_built *b) { (void)k; b->W = -3; }
static void m_rotary_two(pa_case *k, pa_built *b) { (void)k; b->rotary = 2; }
static void m_value_absent(pa_case *k, pa_built *b) { (void)k; drop(b, 2); }
static void m_sin_absent(pa_case *k, pa_built *b)
{
    (void)k;
    const int64_t d[2] = {20, 4};
    b->in[8] = new_tensor(b->in[0]->dtype, 2, d);
}
static void m_rotary_no_tables(pa_case *k, pa_built *b) { (void)k; b->rotary = 1; }
static void m_query_double(pa_case *k, pa_built *b) { (void)k; retype(b, 0, OCS_DOUBLE); }
static void m_key_f16(pa_case *k, pa_built *b) { (void)k; retype(b, 1, OCS_FLOAT16); }
static void m_cu_int64(pa_case *k, pa_built *b) { (void)k; retype(b, 5, OCS_INT64); }
static void m_query_rank3(pa_case *k, pa_built *b)
{
    (void)k;
    const int64_t d[3] = {b->in[0]->dims[0], 1, b->in[0]->dims[1]};
    reshape(b, 0, 3, d);
}
static void m_caches_differ(pa_case *k, pa_built *b)
{
    (void)k;
    int64_t d[4];
    memcpy(d, b->in[4]->dims, sizeof d);
    d[0] += 1;
    reshape(b, 4, 4, d);
}
static void m_cache_heads(pa_case *k, pa_built *b) { (void)k; b->Hkv = 1; b->H = 4; }
static void m_zero_blocks(pa_case *k, pa_built *b)
{
    (void)k;
    int64_t d[4];
    memcpy(d, b->in[3]->dims, sizeof d);
    d[0] = 0;
    reshape(b, 3, 4, d);
    reshape(b, 4, 4, d);
}
static void m_query_width(pa_case *k, pa_built *b)
{
    (void)k;
    const int64_t d[2] = {b->in[0]->dims[0], b->in[0]->dims[1] + 1};
    reshape(b, 0, 2, d);
}
static void m_key_width(pa_case *k, pa_built *b)
{
    (void)k;
    const int64_t d[2] = {b->in[1]->dims[0], b->in[1]->dims[1] - 1};
    reshape(b, 1, 2, d);
}
static void m_value_tokens(pa_case *k, pa_built *b)
{
    (void)k;
    const int64_t d[2] = {b->in[2]->dims[0] + 1, b->in[2]->dims[1]};
    reshape(b, 2, 2, d);
}
static void m_cu_entries(pa_case *k, pa_built *b)
{
    (void)k;
    const int64_t d[1] = {b->in[5]->dims[0] + 1};
    reshape(b, 5, 1, d);
}
static void m_table_rows(pa_case *k, pa_built *b)
{
    (void)k;
    const int64_t d[2] = {b->in[7]->dims[0] + 1, b->in[7]->dims[1]};
    reshape(b, 7, 2, d);
}
static void m_cos_sin_differ(pa_case *k, pa_built *b)
{
    (void)k;
    b->rotary = 1;
    const int64_t d1[2] = {20, 4}, d2[2] = {21, 4};
    b->in[8] = new_tensor(b->in[0]->dtype, 2, d1);
    b->in[9] = new_tensor(b->in[0]->dtype, 2, d2);
}
static void m_rotary_too_wide(pa_case *k, pa_built *b)
{
    (void)k;
    b->rotary = 1;
    const int64_t d[2] = {20, 5};
    b->in[8] = new_tensor(b->in[0]->dtype, 2, d);
    b->in[9] = new_tensor(b->in[0]->dtype, 2, d);
}
static void m_cu_first(pa_case *k, pa_built *b) { (void)k; i32(b, 5)[0] = 1; }
static void m_cu_decreasing(pa_case *k, pa_built *b) { (void)k; i32(b, 5)[2] = 0; }
static void m_cu_end(pa_case *k, pa_built *b) { (void)k; i32(b, 5)[3] += 1; }
static void m_query_absent(pa_case *k, pa_built *b) { (void)k; drop(b, 0); }
static void m_extra_input(pa_case *k, pa_built *b) { (void)k; b->extra_input = 1; }
static void m_past_negative(pa_case *k, pa_built *b) { (void)k; i32(b, 6)[1] = -1; }
static void m_past_too_long(pa_case *k, pa_built *b) { (void)k; i32(b, 6)[1] = 1000; }
static void m_block_out_of_range(pa_case *k, pa_built *b) { (void)k; i32(b, 7)[0] = 1000; }
static void m_block_filler_live(pa_case *k, pa_built *b) { (void)k; i32(b, 7)[1 * b->in[7]->dims[1] + 1] = -1; }
static void m_duplicate_same_seq(pa_case *k, pa_built *b)
{
    (void)k;
    /* sequence 1 (positions 3..7, block size 4): blocks 0 and 1 the same id, so 3 and 7 collide */
    int32_t *t = i32(b, 7);
    const int64_t MB = b->in[7]->dims[1];
    t[1 * MB + 1] = t[1 * MB + 0];
}
static void m_duplicate_two_seqs(pa_case *k, pa_built *b)
{
    (void)k;
    /* sequence 0 writes position 9 (block 2, offset 1); sequence 1 writes position 5 (block 1, offset 1) */
    int32_t *t = i32(b, 7);
    const int64_t MB = b->in[7]->dims[1];
    t[1 * MB + 1] = t[0 * MB + 2];
}
static void m_rotary_position(pa_case *k, pa_built *b)
{
    (void)k;
    b->rotary = 1;
    const int64_t d[2] = {5, 4};
    b->in[8] = new_tensor(b->in[0]->dtype, 2, d);
    b->in[9] = new_tensor(b->in[0]->dtype, 2, d);
}
static void m_packed_qkv_ok(pa_case *k, pa_built *b) { (void)k; (void)b; }

static void test_pa_validate(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        pa_mutation f;
        ocs_status want;
    } muts[] = {
        {"heads_zero", m_heads_zero, OCS_ERR_INVALID},
        {"heads_not_multiple", m_heads_not_multiple, OCS_ERR_INVALID},
        {"window_bad", m_window_bad, OCS_ERR_INVALID},
        {"rotary_two", m_rotary_two, OCS_ERR_INVALID},
        {"value_absent", m_value_absent, OCS_ERR_INVALID},
        {"sin_absent", m_sin_absent, OCS_ERR_INVALID},
        {"rotary_no_tables", m_rotary_no_tables, OCS_ERR_INVALID},
        {"query_double", m_query_double, OCS_ERR_INVALID},
        {"key_f16", m_key_f16, OCS_ERR_INVALID},
        {"cu_int64", m_cu_int64, OCS_ERR_INVALID},
        {"query_rank3", m_query_rank3, OCS_ERR_INVALID},
        {"caches_differ", m_caches_differ, OCS_ERR_INVALID},
        {"cache_heads", m_cache_heads, OCS_ERR_INVALID},
        {"zero_blocks", m_zero_blocks, OCS_ERR_INVALID},
        {"query_width", m_query_width, OCS_ERR_INVALID},
        {"key_width", m_key_width, OCS_ERR_INVALID},
        {"value_tokens", m_value_tokens, OCS_ERR_INVALID},
        {"cu_entries", m_cu_entries, OCS_ERR_INVALID},
        {"table_rows", m_table_rows, OCS_ERR_INVALID},
        {"cos_sin_differ", m_cos_sin_differ, OCS_ERR_INVALID},
        {"rotary_too_wide", m_rotary_too_wide, OCS_ERR_INVALID},
        {"cu_first", m_cu_first, OCS_ERR_INVALID},
        {"cu_decreasing", m_cu_decreasing, OCS_ERR_INVALID},
        {"cu_end", m_cu_end, OCS_ERR_INVALID},
        {"query_absent", m_query_absent, OCS_ERR_INVALID},
        {"extra_input", m_extra_input, OCS_ERR_INVALID},
        {"past_negative", m_past_negative, OCS_ERR_INVALID},
        {"past_too_long", m_past_too_long, OCS_ERR_INVALID},
        {"block_out_of_range", m_block_out_of_range, OCS_ERR_INVALID},
        {"block_filler_live", m_block_filler_live, OCS_ERR_INVALID},
        {"duplicate_same_seq", m_duplicate_same_seq, OCS_ERR_INVALID},
        {"duplicate_two_seqs", m_duplicate_two_seqs, OCS_ERR_INVALID},
        {"rotary_position", m_rotary_position, OCS_ERR_INVALID},
        {"valid", m_packed_qkv_ok, OCS_OK},
    };
    const ocs_op_def *ref = ocs_op_find(OCS_PREVIEW_DOMAIN, "PagedAttention");
    assert_non_null(ref);
    for (size_t i = 0; i < N_OF(muts); i++) {
        pa_case k = pa_base;
        pa_built b;
        memset(&b, 0, sizeof b);
        pa_inputs(&k, &b, 100 + i);
        muts[i].f(&k, &b);
        pa_model(&k, &b);
        const ocs_tensor *ins[11];
        ocs_tensor *outs[3] = {NULL, NULL, NULL}, *outs2[3] = {NULL, NULL, NULL};
        ocs_err e1 = {{0}}, e2 = {{0}};
        ocs_kernel_args a1, a2;
        pa_args(&b, ins, outs, &e1, &a1);
        const ocs_status want = ref->kernel(&a1);
        for (int j = 0; j < 3; j++)
            ocs_tensor_free(outs[j]);
        pa_args(&b, ins, outs2, &e2, &a2);
        ocs_cuda_pa_call call;
        const ocs_status got = ocs_cuda_pa_validate(&a2, &call);
        if (want != muts[i].want)
            fail_msg("%s: the reference says %s: %s", muts[i].name, ocs_status_name(want), e1.msg);
        if (got != want || strcmp(e1.msg, e2.msg))
            fail_msg("%s: reference %s \"%s\", cuda %s \"%s\"", muts[i].name, ocs_status_name(want), e1.msg,
                     ocs_status_name(got), e2.msg);
        if (got == OCS_OK) {
            /* the written slots and positions */
            const int32_t *cu = b.in[5]->data, *past = b.in[6]->data, *table = b.in[7]->data;
            const int64_t MB = b.in[7]->dims[1];
            for (int s = 0; s < k.B; s++)
                for (int32_t t = cu[s]; t < cu[s + 1]; t++) {
                    const int64_t p = past[s] + t - cu[s];
                    assert_int_equal(call.pos[t], p);
                    assert_int_equal(call.slot[t], (int64_t)table[s * MB + p / k.BS] * k.BS + p % k.BS);
                }
            assert_true(fabsf(call.scale - 1.0f / sqrtf((float)k.D)) < 1e-7f);
            ocs_cuda_pa_call_free(&call);
        }
        pa_free(&b);
    }
}

/* ---- MoE grouping ---------------------------------------------------------------------------------------- */

static void test_moe_group(void **state)
{
    (void)state;
    uint64_t s = 3;
    for (int c = 0; c < 200; c++) {
        const size_t E = 1 + rng_next(&s) % 20, k = 1 + rng_next(&s) % E, T = rng_next(&s) % 50;
        int32_t *idx = malloc((T * k + 1) * sizeof *idx);
        int *used = malloc(E * sizeof *used);
        for (size_t t = 0; t < T; t++) {
            memset(used, 0, E * sizeof *used);
            for (size_t j = 0; j < k; j++) {
                size_t e;
                do
                    e = rng_next(&s) % E;
                while (used[e]);
                used[e] = 1;
                idx[t * k + j] = (int32_t)e;
            }
        }
        ocs_cuda_moe_groups g;
        ocs_err err = {{0}};
        if (ocs_cuda_moe_group(T, E, k, idx, &g, &err) != OCS_OK)
            fail_msg("group: %s", err.msg);
        assert_int_equal(g.P, T * k);
        assert_int_equal(g.start[0], 0);
        assert_int_equal(g.start[E], T * k);
        size_t active = 0;
        for (size_t e = 0; e < E; e++) {
            assert_true(g.start[e] <= g.start[e + 1]);
            if (g.start[e + 1] > g.start[e]) {
                assert_int_equal(g.active[active], (int32_t)e);
                assert_int_equal(g.slot_of[e], (int32_t)active);
                active++;
            } else {
                assert_int_equal(g.slot_of[e], -1);
            }
            for (size_t r = g.start[e]; r < g.start[e + 1]; r++) {
                const int32_t q = g.row_pair[r];
                assert_int_equal(idx[q], (int32_t)e);
                assert_int_equal(g.pos[q], (int32_t)r);
                assert_int_equal(g.row_expert[r], (int32_t)e);
                assert_int_equal(g.row_slot[r], g.slot_of[e]);
                if (r > g.start[e])
                    assert_true(g.row_pair[r - 1] / (int32_t)k < q / (int32_t)k);   /* tokens ascending */
            }
        }
        assert_int_equal(g.n_active, active);
        ocs_cuda_moe_groups_free(&g);
        free(idx);
        free(used);
    }
    /* bad routes: the reference's messages */
    const int32_t out_of_range[4] = {0, 1, 2, 5}, twice[4] = {0, 1, 3, 3};
    ocs_cuda_moe_groups g;
    ocs_err err = {{0}};
    assert_int_equal(ocs_cuda_moe_group(2, 4, 2, out_of_range, &g, &err), OCS_ERR_INVALID);
    assert_string_equal(err.msg, "router: token 1, slot 1 selects expert 5, outside [0, 4)");
    assert_int_equal(ocs_cuda_moe_group(2, 4, 2, twice, &g, &err), OCS_ERR_INVALID);
    assert_string_equal(err.msg, "router: token 1 selects expert 3 twice (slots 0 and 1); the k indices of a token "
                                 "must be distinct");
}

/* ---- MoE cases: building them ----------------------------------------------------------------------------------- */

typedef struct moe_case {
    const char *name;
    ocs_dtype t;
    size_t T, E, H, I;
    int64_t k;
    const char *weight_position;
    int gated, oai;
    ocs_moe_act act;
    ocs_moe_layout layout;
    int bias;
    int router;            /* 0 default, 1 softmax_topk (no renorm), 2 topk_softmax, 3 topk_sigmoid,
                              4 sigmoid_grouped, 5 sparsemixer */
    ocs_dtype logits_t;    /* OCS_UNDEFINED: t */
    unsigned seed;
} moe_case;

typedef struct moe_built {
    ocs_model *m;
    size_t n_inputs;
    const char *names[10];
    ocs_tensor *inputs[10];
} moe_built;

static const char *const moe_param_names[] = {"p0", "p1", "p2", "p3", "p4", "p5"};

static ocs_graph *moe_expert_graph(const moe_case *c)
{
    ocs_graph *g = NULL;
    ocs_status st;
    if (c->oai)
        st = ocs_moe_expert_swiglu_oai(c->t, c->layout, c->bias, 1.702f, 1.0f, 7.0f, &g, NULL);
    else if (c->gated)
        st = ocs_moe_expert_glu(c->t, c->act, c->layout, c->bias, &g, NULL);
    else
        st = ocs_moe_expert_ffn(c->t, c->act, c->bias, &g, NULL);
    assert_int_equal(st, OCS_OK);
    return g;
}

static ocs_graph *moe_router_graph(const moe_case *c, ocs_dtype lt)
{
    ocs_graph *g = NULL;
    ocs_status st = OCS_OK;
    static const float bias[16] = {0.1f, -0.2f, 0.05f, 0.3f, -0.1f, 0.0f, 0.2f, -0.3f,
                                   0.15f, -0.05f, 0.25f, -0.15f, 0.1f, 0.0f, -0.2f, 0.05f};
    switch (c->router) {
    case 1: st = ocs_moe_router_softmax_topk(lt, c->k, 0, &g, NULL); break;
    case 2: st = ocs_moe_router_topk_softmax(lt, c->k, &g, NULL); break;
    case 3: st = ocs_moe_router_topk_sigmoid(lt, c->k, &g, NULL); break;
    case 4: {
        ocs_moe_grouped cfg = {c->k, 2, 1, 1, 2.5f, bias, c->E};
        st = ocs_moe_router_sigmoid_grouped(lt, &cfg, &g, NULL);
        break;
    }
    case 5: st = ocs_moe_router_sparsemixer(lt, 0.01f, &g, NULL); break;
    default: return NULL;
    }
    assert_int_equal(st, OCS_OK);
    return g;
}

static void moe_build(const moe_case *c, moe_built *b)
{
    memset(b, 0, sizeof *b);
    uint64_t s = 0x51ull + c->seed;
    const ocs_dtype lt = c->logits_t ? c->logits_t : c->t;
    ocs_model *m = NULL;
    assert_int_equal(ocs_model_new(&m, NULL), OCS_OK);
    assert_int_equal(ocs_model_import(m, "", 17, NULL), OCS_OK);
    assert_int_equal(ocs_model_import(m, OCS_PREVIEW_DOMAIN, 1, NULL), OCS_OK);
    ocs_graph *g = m->graph;
    const int64_t xd[2] = {(int64_t)c->T, (int64_t)c->H}, ld[2] = {(int64_t)c->T, (int64_t)c->E};
    assert_int_equal(ocs_graph_add_input(g, "x", c->t, 2, xd, NULL), OCS_OK);
    assert_int_equal(ocs_graph_add_input(g, "logits", lt, 2, ld, NULL), OCS_OK);
    b->names[0] = "x";
    b->inputs[0] = random_tensor(c->t, 2, xd, &s, 1.0);
    b->names[1] = "logits";
    b->inputs[1] = random_tensor(lt, 2, ld, &s, 2.0);
    const int gated = c->gated || c->oai, shared = gated && c->layout != OCS_MOE_GATE_UP_SEPARATE;
    const int64_t E = (int64_t)c->E, H = (int64_t)c->H, I = (int64_t)c->I, r1 = shared ? 2 * I : I;
    int64_t pd[6][3];
    int pr[6];
    size_t np = 0;
#define ADD(r, a0, a1, a2)       \
    do {                         \
        pr[np] = (r);            \
        pd[np][0] = (a0);        \
        pd[np][1] = (a1);        \
        pd[np][2] = (a2);        \
        np++;                    \
    } while (0)
    ADD(3, E, r1, H);
    if (c->bias)
        ADD(2, E, r1, 0);
    ADD(3, E, H, I);
    if (c->bias)
        ADD(2, E, H, 0);
    if (gated && c->layout == OCS_MOE_GATE_UP_SEPARATE) {
        ADD(3, E, I, H);
        if (c->bias)
            ADD(2, E, I, 0);
    }
#undef ADD
    const double ws = 3.0 / sqrt((double)(H > I ? H : I));
    const char *in[8] = {"x", "logits"};
    for (size_t i = 0; i < np; i++) {
        assert_int_equal(ocs_graph_add_input(g, moe_param_names[i], c->t, pr[i], pd[i], NULL), OCS_OK);
        b->names[2 + i] = moe_param_names[i];
        b->inputs[2 + i] = random_tensor(c->t, pr[i], pd[i], &s, pr[i] == 2 ? 0.5 : ws);
        in[2 + i] = moe_param_names[i];
    }
    b->n_inputs = 2 + np;
    assert_int_equal(ocs_graph_add_output(g, "y", c->t, 2, xd, NULL), OCS_OK);
    const char *out[1] = {"y"};
    ocs_node *n = NULL;
    assert_int_equal(ocs_graph_add_node(g, "MoE", OCS_PREVIEW_DOMAIN, "moe", 2 + np, in, 1, out, &n, NULL), OCS_OK);
    assert_int_equal(ocs_node_set_int(n, "k", c->k, NULL), OCS_OK);
    if (c->weight_position)
        assert_int_equal(ocs_node_set_string(n, "weight_position", c->weight_position, NULL), OCS_OK);
    assert_int_equal(ocs_node_set_graph(n, "expert", moe_expert_graph(c), NULL), OCS_OK);
    ocs_graph *r = moe_router_graph(c, lt);
    if (r)
        assert_int_equal(ocs_node_set_graph(n, "router", r, NULL), OCS_OK);
    b->m = m;
}

static void moe_free(moe_built *b)
{
    for (size_t i = 0; i < b->n_inputs; i++)
        ocs_tensor_free(b->inputs[i]);
    ocs_model_free(b->m);
    memset(b, 0, sizeof *b);
}

/* ---- MoE: plan and validation ------------------------------------------------------------------------------------ */

static const moe_case moe_base = {"base", OCS_FLOAT, 5, 4, 8, 6, 2, NULL, 1, 0, OCS_MOE_ACT_SILU,
                                  OCS_MOE_GATE_UP_SEPARATE, 0, 0, OCS_UNDEFINED, 1};

static void moe_args(moe_built *b, ocs_tensor **outs, ocs_err *err, ocs_kernel_args *a)
{
    memset(a, 0, sizeof *a);
    a->node = &b->m->graph->nodes[0];
    a->since_version = 1;
    a->n_inputs = b->n_inputs;
    a->inputs = (const ocs_tensor *const *)b->inputs;
    a->n_outputs = 1;
    a->outputs = outs;
    a->err = err;
}

static void test_moe_plan_and_validate(void **state)
{
    (void)state;
    moe_built b;
    ocs_cuda_moe_plan p;
    ocs_cuda_moe_call m;
    ocs_err err = {{0}};
    ocs_kernel_args a;
    ocs_tensor *outs[1] = {NULL};

    /* canonical hooks are recognised, the call resolves */
    moe_build(&moe_base, &b);
    assert_true(ocs_hook_match_moe(&b.m->graph->nodes[0], &p));
    assert_false(p.has_router);
    assert_int_equal(p.expert.kind, OCS_HOOK_EXPERT_GLU);
    moe_args(&b, outs, &err, &a);
    if (ocs_cuda_moe_validate(&a, &p, &m) != OCS_OK)
        fail_msg("validate: %s", err.msg);
    assert_int_equal(m.T, 5);
    assert_int_equal(m.E, 4);
    assert_int_equal(m.inter, 6);
    assert_int_equal(m.P, 10);
    assert_true(m.gated);
    assert_non_null(m.W3);
    moe_free(&b);

    /* every router kind and expert layout is recognised */
    for (int r = 0; r <= 5; r++)
        for (int lay = 0; lay < 3; lay++) {
            moe_case c = moe_base;
            c.router = r;
            c.k = r == 5 ? 2 : 2;
            c.layout = (ocs_moe_layout)lay;
            c.bias = lay == 1;
            c.oai = lay == 2;
            moe_build(&c, &b);
            if (!ocs_hook_match_moe(&b.m->graph->nodes[0], &p))
                fail_msg("router %d layout %d not recognised", r, lay);
            assert_int_equal(p.has_router, r != 0);
            moe_args(&b, outs, &err, &a);
            if (ocs_cuda_moe_validate(&a, &p, &m) != OCS_OK)
                fail_msg("router %d layout %d: %s", r, lay, err.msg);
            moe_free(&b);
        }

    /* a non-canonical expert is not claimed */
    {
        moe_build(&moe_base, &b);
        ocs_graph *x = NULL;
        assert_int_equal(ocs_graph_new("expert", &x, NULL), OCS_OK);
        const int64_t xd[2] = {-1, 8}, wd[2] = {8, 8};
        assert_int_equal(ocs_graph_add_input(x, "x", OCS_FLOAT, 2, xd, NULL), OCS_OK);
        assert_int_equal(ocs_graph_add_input(x, "w1", OCS_FLOAT, 2, wd, NULL), OCS_OK);
        assert_int_equal(ocs_graph_add_input(x, "w2", OCS_FLOAT, 2, wd, NULL), OCS_OK);
        assert_int_equal(ocs_graph_add_input(x, "w3", OCS_FLOAT, 2, wd, NULL), OCS_OK);
        assert_int_equal(ocs_graph_add_output(x, "y", OCS_FLOAT, 2, xd, NULL), OCS_OK);
        const char *ins[2] = {"x", "w1"}, *outs_[1] = {"y"};
        assert_int_equal(ocs_graph_add_node(x, "MatMul", "", "mm", 2, ins, 1, outs_, NULL, NULL), OCS_OK);
        assert_int_equal(ocs_node_set_graph(&b.m->graph->nodes[0], "expert", x, NULL), OCS_OK);
        assert_false(ocs_hook_match_moe(&b.m->graph->nodes[0], &p));
        moe_free(&b);
    }

    /* errors shared with the reference: the same status and message */
    const ocs_op_def *ref = ocs_op_find(OCS_PREVIEW_DOMAIN, "MoE");
    assert_non_null(ref);
    for (int mut = 0; mut < 6; mut++) {
        moe_case c = moe_base;
        if (mut == 0)
            c.k = 0;
        if (mut == 1)
            c.k = 5;
        if (mut == 2)
            c.weight_position = "middle";
        moe_build(&c, &b);
        if (mut == 3) {   /* router_logits with one row too many */
            const int64_t d[2] = {6, 4};
            ocs_tensor_free(b.inputs[1]);
            b.inputs[1] = new_tensor(OCS_FLOAT, 2, d);
        }
        if (mut == 4) {   /* a parameter whose leading dimension is not E */
            const int64_t d[3] = {3, 8, 6};
            ocs_tensor_free(b.inputs[3]);
            b.inputs[3] = new_tensor(OCS_FLOAT, 3, d);
        }
        if (mut == 5) {   /* router_logits of rank 3 */
            const int64_t d[3] = {5, 4, 1};
            ocs_tensor_free(b.inputs[1]);
            b.inputs[1] = new_tensor(OCS_FLOAT, 3, d);
        }
        ocs_err e1 = {{0}}, e2 = {{0}};
        ocs_tensor *o1[1] = {NULL}, *o2[1] = {NULL};
        ocs_kernel_args a1, a2;
        moe_args(&b, o1, &e1, &a1);
        a1.scope = NULL;
        const ocs_status want = ref->kernel(&a1);
        ocs_tensor_free(o1[0]);
        moe_args(&b, o2, &e2, &a2);
        assert_true(ocs_hook_match_moe(&b.m->graph->nodes[0], &p));
        const ocs_status got = ocs_cuda_moe_validate(&a2, &p, &m);
        if (want == OCS_OK || got != want || strcmp(e1.msg, e2.msg))
            fail_msg("mutation %d: reference %s \"%s\", cuda %s \"%s\"", mut, ocs_status_name(want), e1.msg,
                     ocs_status_name(got), e2.msg);
        moe_free(&b);
    }
}

/* ---- with a device: against the reference ----------------------------------------------------------------------- */

static void tolerances(ocs_dtype t, double *rtol, double *atol)
{
    if (t == OCS_FLOAT16) {
        *rtol = 4e-3;
        *atol = 1e-3;
    } else if (t == OCS_BFLOAT16) {
        *rtol = 2e-2;
        *atol = 4e-3;
    } else {
        *rtol = 1e-4;
        *atol = 1e-5;
    }
}

static ocs_status run_session(ocs_model *model, size_t n, const char *const *names, const ocs_tensor *const *ins,
                              ocs_backend *be, size_t n_out, ocs_tensor **outs, ocs_err *err)
{
    ocs_backend *list[1] = {be};
    ocs_session_options opt = {list, be ? 1 : 0, be ? 1 : 0};
    ocs_session *s = NULL;
    ocs_status st = ocs_session_new_with(model, &opt, &s, err);
    if (st == OCS_OK)
        st = ocs_session_run(s, n, names, ins, n_out, outs, err);
    ocs_session_free(s);
    return st;
}

static const pa_case pa_cases[] = {
    /* name, dt, B, nq, past, BS, H, Hkv, D, W, scale, softcap, packed, rotary, interleaved, half, caches,
     * share, hazard */
    {"decode", OCS_FLOAT, 3, {1, 1, 1}, {0, 17, 40}, 16, 8, 2, 64, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0},
    {"decode_split", OCS_FLOAT, 2, {1, 1}, {700, 3000}, 16, 8, 2, 64, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0},
    {"decode_f16_d128_gqa4", OCS_FLOAT16, 4, {1, 1, 1, 1}, {1000, 33, 513, 2047}, 16, 32, 8, 128, 0, 0, 0, 0, 0, 0,
     0, 0, 0, 0},
    {"spec_decode_gqa8", OCS_FLOAT, 2, {3, 2}, {90, 601}, 16, 16, 2, 64, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0},
    {"prefill", OCS_FLOAT, 1, {37}, {0}, 16, 8, 2, 64, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0},
    {"prefill_long_split", OCS_FLOAT16, 1, {700}, {0}, 16, 4, 1, 64, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0},
    {"chunked_prefill", OCS_FLOAT, 2, {9, 14}, {20, 533}, 16, 8, 2, 64, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0},
    {"mixed_batch", OCS_FLOAT, 5, {1, 20, 0, 3, 7}, {30, 5, 12, 64, 0}, 16, 8, 2, 64, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0},
    {"empty_sequences", OCS_FLOAT, 3, {0, 4, 0}, {9, 3, 0}, 5, 4, 2, 40, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0},
    {"all_empty", OCS_FLOAT, 2, {0, 0}, {3, 0}, 4, 4, 2, 8, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0},
    {"block_size_1", OCS_FLOAT, 3, {1, 12, 2}, {7, 3, 0}, 1, 4, 4, 64, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0},
    {"block_size_5_d40", OCS_FLOAT, 3, {1, 12, 2}, {23, 9, 4}, 5, 8, 1, 40, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0},
    {"d40_f16", OCS_FLOAT16, 2, {1, 12}, {23, 9}, 5, 8, 2, 40, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0},
    {"d20_f16_scalar", OCS_FLOAT16, 2, {2, 19}, {45, 4}, 16, 6, 3, 20, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0},
    {"d3_scalar", OCS_FLOAT, 2, {1, 9}, {10, 2}, 4, 2, 1, 3, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0},
    {"d250_bf16_cpl8", OCS_BFLOAT16, 2, {1, 9}, {600, 2}, 16, 4, 2, 250, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0},
    {"d256_f32_cpl2", OCS_FLOAT, 2, {1, 9}, {600, 2}, 16, 4, 2, 256, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0},
    {"d512_f16_cpl2", OCS_FLOAT16, 1, {3}, {100}, 16, 4, 1, 512, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0},
    {"gqa_16_rows_within_token", OCS_FLOAT, 2, {1, 5}, {60, 900}, 16, 16, 1, 64, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0},
    {"gqa_3_rows_across_tokens", OCS_FLOAT, 2, {4, 6}, {60, 0}, 16, 6, 2, 64, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0},
    {"window_1", OCS_FLOAT, 2, {1, 20}, {40, 6}, 16, 4, 2, 64, 1, 0, 0, 0, 0, 0, 0, 3, 0, 0},
    {"window_100_split", OCS_FLOAT, 2, {1, 30}, {900, 700}, 16, 8, 2, 64, 100, 0, 0, 0, 0, 0, 0, 3, 0, 0},
    {"window_600_split", OCS_FLOAT, 1, {1}, {2000}, 16, 8, 2, 64, 600, 0, 0, 0, 0, 0, 0, 3, 0, 0},
    {"softcap_scale", OCS_FLOAT, 2, {1, 18}, {550, 3}, 16, 8, 2, 64, 0, 0.5f, 0.3f, 0, 0, 0, 0, 3, 0, 0},
    {"packed_qkv", OCS_FLOAT, 3, {1, 13, 2}, {19, 0, 70}, 16, 8, 2, 64, 0, 0, 0, 1, 0, 0, 0, 3, 0, 0},
    {"rotary", OCS_FLOAT, 2, {1, 15}, {33, 2}, 16, 8, 2, 64, 0, 0, 0, 0, 1, 0, 0, 3, 0, 0},
    {"rotary_interleaved", OCS_FLOAT, 2, {1, 15}, {33, 2}, 16, 8, 2, 64, 0, 0, 0, 0, 1, 1, 0, 3, 0, 0},
    {"rotary_partial", OCS_FLOAT, 2, {2, 15}, {33, 2}, 5, 4, 2, 40, 0, 0, 0, 0, 1, 0, 8, 3, 0, 0},
    {"rotary_partial_interleaved_f16", OCS_FLOAT16, 2, {2, 15}, {33, 2}, 5, 4, 2, 40, 0, 0, 0, 0, 1, 1, 6, 3, 0, 0},
    {"rotary_packed_bf16", OCS_BFLOAT16, 2, {1, 10}, {12, 0}, 16, 4, 1, 64, 0, 0, 0, 1, 1, 0, 0, 3, 0, 0},
    {"bf16_window_rotary", OCS_BFLOAT16, 2, {2, 17}, {40, 3}, 5, 8, 4, 40, 3, 0, 0, 0, 1, 1, 0, 3, 0, 0},
    {"shared_prefix", OCS_FLOAT, 2, {1, 6}, {48, 40}, 16, 8, 2, 64, 0, 0, 0, 0, 0, 0, 0, 3, 1, 0},
    {"no_cache_outputs", OCS_FLOAT, 3, {1, 20, 2}, {70, 9, 33}, 16, 8, 2, 64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
    {"only_value_cache_out", OCS_BFLOAT16, 2, {1, 20}, {70, 9}, 16, 8, 2, 64, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0},
    {"write_read_by_other", OCS_FLOAT, 2, {3, 1}, {5, 20}, 16, 4, 2, 64, 0, 0, 0, 0, 0, 0, 0, 3, 0, 1},
};

/* Runs one case on the reference and on cuda; prints what differs and returns 0 when anything does
 * (so that one device run reports every failing case, not only the first). */
static int check_pa_case(ocs_backend *be, const pa_case *k, unsigned seed)
{
    pa_built b;
    memset(&b, 0, sizeof b);
    pa_inputs(k, &b, 0x1234ull + seed * 7919ull);
    pa_model(k, &b);
    const char *names[10];
    const ocs_tensor *ins[10];
    size_t n = 0;
    for (int i = 0; i < 10; i++)
        if (b.in[i]) {
            names[n] = pa_names[i];
            ins[n++] = b.in[i];
        }
    ocs_tensor *ref[3] = {NULL, NULL, NULL}, *got[3] = {NULL, NULL, NULL};
    ocs_err err = {{0}};
    int ok = 1;
    if (run_session(b.model, n, names, ins, NULL, (size_t)b.n_outputs, ref, &err) != OCS_OK) {
        print_error("%s (seed %u): reference: %s\n", k->name, seed, err.msg);
        ok = 0;
    } else if (run_session(b.model, n, names, ins, be, (size_t)b.n_outputs, got, &err) != OCS_OK) {
        print_error("%s (seed %u): cuda: %s\n", k->name, seed, err.msg);
        ok = 0;
    } else {
        double rtol, atol;
        tolerances(k->dt, &rtol, &atol);
        size_t bad = 0, first = 0;
        for (size_t i = 0; i < ref[0]->numel; i++) {
            const double r = ocs_tensor_get_f64(ref[0], i), g = ocs_tensor_get_f64(got[0], i);
            if (!(fabs(r - g) <= atol + rtol * fabs(r)) && !bad++)
                first = i;
        }
        if (bad) {
            print_error("%s (seed %u): %zu of %zu output elements differ; element %zu: cuda %.9g, reference %.9g\n",
                        k->name, seed, bad, ref[0]->numel, first, ocs_tensor_get_f64(got[0], first),
                        ocs_tensor_get_f64(ref[0], first));
            ok = 0;
        }
        for (int i = 1; i < b.n_outputs; i++)
            if (!ocs_tensor_equal(ref[i], got[i])) {
                print_error("%s (seed %u): cache output %d differs from the reference\n", k->name, seed, i);
                ok = 0;
            }
    }
    for (int i = 0; i < 3; i++) {
        ocs_tensor_free(ref[i]);
        ocs_tensor_free(got[i]);
    }
    pa_free(&b);
    return ok;
}

/* The fixed cases, then random configurations across every switch; prints each failure, returns their count. */
static int check_pa_all(ocs_backend *be, const char *kernel)
{
    int failed = 0;
    for (size_t i = 0; i < N_OF(pa_cases); i++)
        failed += !check_pa_case(be, &pa_cases[i], (unsigned)i + 1);
    uint64_t s = 99;
    static const int bss[] = {1, 3, 5, 16}, ds[] = {8, 24, 40, 64, 128}, gs[] = {1, 2, 4, 8};
    static const ocs_dtype dts[] = {OCS_FLOAT, OCS_FLOAT, OCS_FLOAT16, OCS_BFLOAT16};
    for (int c = 0; c < 40; c++) {
        pa_case k;
        memset(&k, 0, sizeof k);
        k.name = "random";
        k.dt = dts[rng_next(&s) % 4];
        k.B = 1 + (int)(rng_next(&s) % 4);
        for (int b = 0; b < k.B; b++) {
            const int kind = (int)(rng_next(&s) % 4);
            k.nq[b] = kind == 0 ? 0 : kind == 1 ? 1 : kind == 2 ? 2 + (int)(rng_next(&s) % 3) : 5 + (int)(rng_next(&s) % 30);
            k.past[b] = (int)(rng_next(&s) % 1200);
        }
        k.BS = bss[rng_next(&s) % 4];
        k.D = ds[rng_next(&s) % 5];
        k.Hkv = 1 + (int)(rng_next(&s) % 3);
        k.H = k.Hkv * gs[rng_next(&s) % 4];
        k.W = rng_next(&s) % 3 == 0 ? 1 + (int)(rng_next(&s) % 700) : 0;
        k.softcap = rng_next(&s) % 4 == 0 ? 0.4f : 0.0f;
        k.scale = rng_next(&s) % 4 == 0 ? 0.3f : 0.0f;
        k.packed = rng_next(&s) % 3 == 0;
        k.rotary = rng_next(&s) % 2 == 0;
        k.interleaved = k.rotary && rng_next(&s) % 2;
        k.half = k.rotary && rng_next(&s) % 2 ? 1 + (int)(rng_next(&s) % (unsigned)(k.D / 2)) : 0;
        k.caches = (int)(rng_next(&s) % 4);
        failed += !check_pa_case(be, &k, 1000u + (unsigned)c);
    }
    if (failed)
        print_error("%d PagedAttention cases differ from the reference with the %s kernels\n", failed, kernel);
    return failed;
}

static void test_pa_on_device(void **state)
{
    (void)state;
    ocs_backend *be = gpu();
    if (!be)
        skip();
    /* the backend's choice (single-pass attend wherever it applies), then the tiled attend kernel everywhere */
    int failed = check_pa_all(be, "chosen");
    setenv("OCS_CUDA_PA_TILED", "1", 1);
    failed += check_pa_all(be, "tiled");
    unsetenv("OCS_CUDA_PA_TILED");
    if (failed)
        fail_msg("%d PagedAttention runs differ from the reference (listed above)", failed);
}

static const moe_case moe_cases[] = {
    /* name, t, T, E, H, I, k, weight_position, gated, oai, act, layout, bias, router, logits_t, seed */
    {"swiglu_separate", OCS_FLOAT, 37, 8, 64, 96, 2, NULL, 1, 0, OCS_MOE_ACT_SILU, OCS_MOE_GATE_UP_SEPARATE, 0, 0, 0, 1},
    {"swiglu_one_token", OCS_FLOAT, 1, 8, 64, 96, 2, NULL, 1, 0, OCS_MOE_ACT_SILU, OCS_MOE_GATE_UP_SEPARATE, 0, 0, 0, 2},
    {"swiglu_bf16_300", OCS_BFLOAT16, 300, 8, 64, 96, 2, NULL, 1, 0, OCS_MOE_ACT_SILU, OCS_MOE_GATE_UP_SEPARATE, 0,
     0, 0, 3},
    {"swiglu_f16_concat_bias", OCS_FLOAT16, 40, 6, 48, 40, 2, NULL, 1, 0, OCS_MOE_ACT_SILU,
     OCS_MOE_GATE_UP_CONCATENATED, 1, 0, 0, 4},
    {"geglu_interleaved_bias", OCS_FLOAT, 33, 5, 40, 24, 2, NULL, 1, 0, OCS_MOE_ACT_GELU,
     OCS_MOE_GATE_UP_INTERLEAVED, 1, 1, 0, 5},
    {"ffn_relu", OCS_FLOAT, 20, 4, 32, 48, 1, NULL, 0, 0, OCS_MOE_ACT_RELU, OCS_MOE_GATE_UP_SEPARATE, 0, 0, 0, 6},
    {"ffn_gelu_tanh_bias_f16", OCS_FLOAT16, 20, 4, 32, 48, 2, NULL, 0, 0, OCS_MOE_ACT_GELU_TANH,
     OCS_MOE_GATE_UP_SEPARATE, 1, 0, 0, 7},
    {"oai_swiglu_bias_topk_softmax", OCS_BFLOAT16, 50, 8, 64, 32, 2, NULL, 0, 1, OCS_MOE_ACT_SILU,
     OCS_MOE_GATE_UP_INTERLEAVED, 1, 2, 0, 8},
    {"topk_sigmoid_input_weight", OCS_FLOAT, 30, 6, 32, 40, 1, "input", 1, 0, OCS_MOE_ACT_SILU,
     OCS_MOE_GATE_UP_SEPARATE, 0, 3, 0, 9},
    {"grouped_router", OCS_FLOAT, 25, 8, 32, 24, 2, NULL, 1, 0, OCS_MOE_ACT_SILU, OCS_MOE_GATE_UP_SEPARATE, 0, 4, 0,
     10},
    {"sparsemixer", OCS_FLOAT, 25, 8, 32, 24, 2, NULL, 1, 0, OCS_MOE_ACT_SILU, OCS_MOE_GATE_UP_SEPARATE, 0, 5, 0, 11},
    {"many_experts_few_rows", OCS_FLOAT16, 20, 16, 64, 48, 2, NULL, 1, 0, OCS_MOE_ACT_SILU,
     OCS_MOE_GATE_UP_SEPARATE, 0, 0, 0, 12},
    {"k_equals_e", OCS_FLOAT, 9, 3, 16, 8, 3, NULL, 1, 0, OCS_MOE_ACT_SILU, OCS_MOE_GATE_UP_CONCATENATED, 0, 0, 0, 13},
    {"f16_logits_f32", OCS_FLOAT16, 17, 6, 32, 24, 2, NULL, 1, 0, OCS_MOE_ACT_SILU, OCS_MOE_GATE_UP_SEPARATE, 0, 1,
     OCS_FLOAT, 14},
    {"double_logits", OCS_FLOAT, 11, 5, 16, 16, 2, NULL, 1, 0, OCS_MOE_ACT_SILU, OCS_MOE_GATE_UP_SEPARATE, 0, 0,
     OCS_DOUBLE, 15},
};

/* As check_pa_case: 0 (and what differs, printed) when the case fails. */
static int check_moe_case(ocs_backend *be, const moe_case *c)
{
    moe_built b;
    moe_build(c, &b);
    ocs_tensor_type types[10];
    for (size_t i = 0; i < b.n_inputs; i++)
        ocs_tensor_type_of(b.inputs[i], &types[i]);
    int ok = 1;
    ocs_tensor *ref = NULL, *got = NULL;
    ocs_err err = {{0}};
    const ocs_tensor *const *ins = (const ocs_tensor *const *)b.inputs;
    if (!be->ops->supports(be->ctx, &b.m->graph->nodes[0], 1, b.n_inputs, types)) {
        print_error("%s: the cuda backend does not claim the node\n", c->name);
        ok = 0;
    } else if (run_session(b.m, b.n_inputs, b.names, ins, NULL, 1, &ref, &err) != OCS_OK) {
        print_error("%s: reference: %s\n", c->name, err.msg);
        ok = 0;
    } else if (run_session(b.m, b.n_inputs, b.names, ins, be, 1, &got, &err) != OCS_OK) {
        print_error("%s: cuda: %s\n", c->name, err.msg);
        ok = 0;
    } else {
        const double rtol = c->t == OCS_FLOAT ? 1e-4 : c->t == OCS_FLOAT16 ? 1e-2 : 4e-2;
        double max_ref = 0;
        for (size_t i = 0; i < ref->numel; i++)
            max_ref = fmax(max_ref, fabs(ocs_tensor_get_f64(ref, i)));
        const double atol = (c->t == OCS_FLOAT ? 1e-5 : rtol) * max_ref;
        size_t bad = 0, first = 0;
        for (size_t i = 0; i < ref->numel; i++) {
            const double r = ocs_tensor_get_f64(ref, i), g = ocs_tensor_get_f64(got, i);
            if (!(fabs(g - r) <= atol + rtol * fabs(r)) && !bad++)
                first = i;
        }
        if (bad) {
            print_error("%s: %zu of %zu elements differ; element %zu: cuda %.9g, reference %.9g (max |ref| %.3g)\n",
                        c->name, bad, ref->numel, first, ocs_tensor_get_f64(got, first),
                        ocs_tensor_get_f64(ref, first), max_ref);
            ok = 0;
        }
    }
    ocs_tensor_free(ref);
    ocs_tensor_free(got);
    moe_free(&b);
    return ok;
}

static void test_moe_on_device(void **state)
{
    (void)state;
    ocs_backend *be = gpu();
    if (!be)
        skip();
    int failed = 0;
    for (size_t i = 0; i < N_OF(moe_cases); i++)
        failed += !check_moe_case(be, &moe_cases[i]);
    /* the grouped batched GEMMs and the one-by-one loop, forced each way */
    for (int forced = 0; forced < 2; forced++) {
        setenv("OCS_CUDA_MOE_GROUPED", forced ? "1" : "0", 1);
        failed += !check_moe_case(be, &moe_cases[11]);
        failed += !check_moe_case(be, &moe_cases[3]);
        failed += !check_moe_case(be, &moe_cases[0]);
    }
    unsetenv("OCS_CUDA_MOE_GROUPED");
    if (failed)
        fail_msg("%d MoE runs differ from the reference (listed above)", failed);
}

static int teardown(void **state)
{
    (void)state;
    ocs_backend *b = gpu();
    ocs_backend_close(b);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_without_device),
        cmocka_unit_test(test_carve),
        cmocka_unit_test(test_pa_choose),
        cmocka_unit_test(test_pa_plan),
        cmocka_unit_test(test_pa_validate),
        cmocka_unit_test(test_moe_group),
        cmocka_unit_test(test_moe_plan_and_validate),
        cmocka_unit_test(test_pa_on_device),
        cmocka_unit_test(test_moe_on_device),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}

#endif /* OCS_HAVE_CUDA */
