/*
 * tests/test_cpu_paged_attention.c - the cpu backend's PagedAttention
 * against the reference kernel on generated cases (decode, prefill, chunked
 * prefill, mixed batches, empty sequences, odd block and head sizes, GQA,
 * windows, softcap, packed QKV, rotary, float16/bfloat16, shared prefixes,
 * -1 filler block ids; cache outputs wanted or not), with 1 and 3 threads
 * and with the AVX2 and portable kernels; then every error condition, where
 * both implementations must give the same status and message; then the
 * micro-kernels against plain loops.
 *
 * Tolerances: output |cpu - ref| <= atol + rtol * |ref| with rtol 1e-4,
 * atol 1e-5 for float (the reference accumulates in double, the cpu backend
 * in float), rtol 4e-3 / atol 1e-3 for float16 and rtol 2e-2 / atol 4e-3 for
 * bfloat16 (one unit in the last place of the rounded output).  Cache
 * outputs must be bit-identical.
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

#include "../backends/cpu/pa_kernels.h"
#include "ocs/backend.h"
#include "ocs/build.h"
#include "ocs/schema.h"

#define MAXB 8

typedef struct pa_case {
    const char *name;
    ocs_dtype dt;
    int B;
    int nq[MAXB], past[MAXB];
    int BS, Hq, Hkv, D;
    int W;              /* local_window_size; 0 means the default (-1) */
    float scale, softcap;
    int packed, rotary, interleaved, half;   /* half: cos_cache width, 0 = D/2 */
    int share;          /* sequence 1 shares sequence 0's full past blocks */
    int hazard;         /* sequence 1 reads as past a block sequence 0 writes */
    int caches;         /* cache outputs named: 1 = key, 2 = value */
    int junk_empty;     /* block-table rows of empty sequences hold out-of-range ids */
    unsigned seed;
} pa_case;

/* ---- data --------------------------------------------------------------------------- */

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

/* A built case: the model and its ten inputs (NULL where absent). */
typedef struct built {
    ocs_model *model;
    ocs_tensor *in[10];
    const char *names[10];
    int n_outputs;
    int extra_input;    /* an eleventh input (an error) */
    int via_identity;   /* the caches reach the node through Identity nodes (intermediates it may take) */
} built;

static const char *const in_names[10] = {"query", "key", "value", "key_cache", "value_cache",
                                         "cumulative_sequence_length", "past_seqlens", "block_table",
                                         "cos_cache", "sin_cache"};

static void built_free(built *b)
{
    ocs_model_free(b->model);
    for (int i = 0; i < 10; i++)
        ocs_tensor_free(b->in[i]);
    memset(b, 0, sizeof *b);
}

static void make_inputs(const pa_case *k, built *b)
{
    uint64_t s = 0x1234ull + k->seed * 7919ull;
    const int B = k->B, BS = k->BS, D = k->D;
    int64_t T = 0, MB = 1;
    for (int i = 0; i < B; i++) {
        T += k->nq[i];
        const int64_t blocks = (k->past[i] + k->nq[i] + BS - 1) / BS;
        if (blocks + 1 > MB)
            MB = blocks + 1;   /* at least one -1 filler column */
    }
    int64_t NB = 3;
    for (int i = 0; i < B; i++)
        NB += (k->past[i] + k->nq[i] + BS - 1) / BS;
    /* block table: a shuffled pool of ids, -1 past each sequence's live blocks */
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
        if (k->nq[i] == 0 && k->junk_empty)
            for (int64_t j = 0; j < MB; j++)
                table[i * MB + j] = (int32_t)(NB + 1000 + j);
    }
    if (k->share) {
        const int64_t full = (k->past[0] < k->past[1] ? k->past[0] : k->past[1]) / BS;
        for (int64_t j = 0; j < full; j++)
            table[1 * MB + j] = table[0 * MB + j];
    }
    if (k->hazard)   /* sequence 1's first block is the block sequence 0 writes into */
        table[1 * MB + 0] = table[0 * MB + k->past[0] / BS];
    free(perm);

    const int64_t qw = (int64_t)(k->packed ? k->Hq + 2 * k->Hkv : k->Hq) * D;
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
}

/* The one-node model for the tensors in b->in (their current types and shapes). */
static void make_model(const pa_case *k, built *b)
{
    ocs_model *m = NULL;
    assert_int_equal(ocs_model_new(&m, NULL), OCS_OK);
    assert_int_equal(ocs_model_import(m, "", 21, NULL), OCS_OK);
    assert_int_equal(ocs_model_import(m, OCS_PREVIEW_DOMAIN, 1, NULL), OCS_OK);
    const char *ins[11];
    int n_in = 0;
    for (int i = 0; i < 10; i++) {
        if (b->in[i]) {
            assert_int_equal(ocs_graph_add_input(m->graph, in_names[i], b->in[i]->dtype, b->in[i]->rank,
                                                 b->in[i]->dims, NULL),
                             OCS_OK);
            ins[i] = in_names[i];
            n_in = i + 1;
        } else {
            ins[i] = "";
        }
    }
    if (b->extra_input) {
        ins[10] = in_names[0];
        n_in = 11;
    }
    static const char *const mids[2] = {"key_cache_mid", "value_cache_mid"};
    for (int i = 0; i < 2 && b->via_identity; i++) {
        const char *from[1] = {in_names[3 + i]}, *to[1] = {mids[i]};
        assert_int_equal(ocs_graph_add_node(m->graph, "Identity", "", mids[i], 1, from, 1, to, NULL, NULL), OCS_OK);
        ins[3 + i] = mids[i];
    }
    const char *outs[3] = {"output", (k->caches & 1) ? "key_cache_out" : "", (k->caches & 2) ? "value_cache_out" : ""};
    const int n_out = (k->caches & 2) ? 3 : (k->caches & 1) ? 2 : 1;
    ocs_node *n = NULL;
    assert_int_equal(ocs_graph_add_node(m->graph, "PagedAttention", OCS_PREVIEW_DOMAIN, "pa", (size_t)n_in, ins,
                                        (size_t)n_out, outs, &n, NULL),
                     OCS_OK);
    assert_int_equal(ocs_node_set_int(n, "num_heads", k->Hq, NULL), OCS_OK);
    assert_int_equal(ocs_node_set_int(n, "kv_num_heads", k->Hkv, NULL), OCS_OK);
    if (k->W)
        assert_int_equal(ocs_node_set_int(n, "local_window_size", k->W, NULL), OCS_OK);
    if (k->scale != 0.0f)
        assert_int_equal(ocs_node_set_float(n, "scale", k->scale, NULL), OCS_OK);
    if (k->softcap != 0.0f)
        assert_int_equal(ocs_node_set_float(n, "softcap", k->softcap, NULL), OCS_OK);
    if (k->rotary)
        assert_int_equal(ocs_node_set_int(n, "do_rotary", 1, NULL), OCS_OK);
    if (k->interleaved)
        assert_int_equal(ocs_node_set_int(n, "rotary_interleaved", 1, NULL), OCS_OK);
    const ocs_tensor *q = b->in[0] ? b->in[0] : b->in[3];
    const int64_t od[2] = {b->in[0] ? q->dims[0] : 0, (int64_t)k->Hq * k->D};
    assert_int_equal(ocs_graph_add_output(m->graph, "output", q->dtype, 2, od, NULL), OCS_OK);
    if (k->caches & 1)
        assert_int_equal(ocs_graph_add_output(m->graph, "key_cache_out", q->dtype, 4, b->in[3]->dims, NULL), OCS_OK);
    if (k->caches & 2)
        assert_int_equal(ocs_graph_add_output(m->graph, "value_cache_out", q->dtype, 4, b->in[4]->dims, NULL),
                         OCS_OK);
    b->model = m;
    b->n_outputs = 1 + ((k->caches & 1) != 0) + ((k->caches & 2) != 0);
}

static void build_case(const pa_case *k, built *b)
{
    memset(b, 0, sizeof *b);
    make_inputs(k, b);
    make_model(k, b);
}

/* ---- running ---------------------------------------------------------------------------- */

typedef struct fixture {
    ocs_backend *cpu1, *cpu3;   /* pools of 1 and 3 threads */
} fixture;

static ocs_backend *open_cpu(const char *threads)
{
    ocs_backend *b = NULL;
    ocs_err err = {{0}};
    setenv("OCS_NUM_THREADS", threads, 1);
    const ocs_status st = ocs_backend_open("cpu", &b, &err);
    unsetenv("OCS_NUM_THREADS");
    if (st != OCS_OK)
        fail_msg("cannot open the cpu backend: %s", err.msg);
    return b;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->cpu1 = open_cpu("1");
    f->cpu3 = open_cpu("3");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    ocs_backend_close(f->cpu1);
    ocs_backend_close(f->cpu3);
    free(f);
    return 0;
}

/* Runs b's model on the reference (be NULL) or on be (alone, but for the Identity nodes of
 * via_identity); outs[0..n_outputs). */
static ocs_status run_model(const built *b, ocs_backend *be, ocs_tensor **outs, ocs_err *err)
{
    ocs_backend *list[1] = {be};
    ocs_session_options opt = {list, 1, !b->via_identity};
    ocs_session *s = NULL;
    ocs_status st = be ? ocs_session_new_with(b->model, &opt, &s, err) : ocs_session_new(b->model, &s, err);
    if (st != OCS_OK)
        return st;
    const char *names[10];
    const ocs_tensor *ins[10];
    size_t n = 0;
    for (int i = 0; i < 10; i++)
        if (b->in[i]) {
            names[n] = in_names[i];
            ins[n++] = b->in[i];
        }
    st = ocs_session_run(s, n, names, ins, (size_t)b->n_outputs, outs, err);
    ocs_session_free(s);
    return st;
}

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

static void compare(const char *what, const ocs_tensor *ref, const ocs_tensor *got)
{
    assert_non_null(got);
    assert_int_equal(ref->dtype, got->dtype);
    assert_int_equal(ref->rank, got->rank);
    for (int i = 0; i < ref->rank; i++)
        assert_int_equal(ref->dims[i], got->dims[i]);
    double rtol, atol;
    tolerances(ref->dtype, &rtol, &atol);
    for (size_t i = 0; i < ref->numel; i++) {
        const double r = ocs_tensor_get_f64(ref, i), g = ocs_tensor_get_f64(got, i);
        if (!(fabs(r - g) <= atol + rtol * fabs(r)))
            fail_msg("%s: element %zu: cpu %.9g, reference %.9g", what, i, g, r);
    }
}

/* isa: NULL for the processor's best kernels, else the OCS_CPU_ISA cap ("c", "avx2"). */
static void check_case(fixture *f, const pa_case *k, int threads, const char *isa)
{
    built b;
    build_case(k, &b);
    ocs_tensor *ref[3] = {NULL, NULL, NULL}, *got[3] = {NULL, NULL, NULL};
    ocs_err err = {{0}};
    if (run_model(&b, NULL, ref, &err) != OCS_OK)
        fail_msg("%s: reference: %s", k->name, err.msg);
    if (isa)
        setenv("OCS_CPU_ISA", isa, 1);
    const ocs_status st = run_model(&b, threads == 1 ? f->cpu1 : f->cpu3, got, &err);
    unsetenv("OCS_CPU_ISA");
    if (st != OCS_OK)
        fail_msg("%s: cpu (%d threads%s%s): %s", k->name, threads, isa ? ", " : "", isa ? isa : "", err.msg);
    char what[160];
    snprintf(what, sizeof what, "%s (%d threads%s%s) output", k->name, threads, isa ? ", " : "", isa ? isa : "");
    compare(what, ref[0], got[0]);
    for (int i = 1; i < b.n_outputs; i++)
        if (!ocs_tensor_equal(ref[i], got[i]))
            fail_msg("%s (%d threads): cache output %d differs from the reference", k->name, threads, i);
    for (int i = 0; i < 3; i++) {
        ocs_tensor_free(ref[i]);
        ocs_tensor_free(got[i]);
    }
    built_free(&b);
}

/* ---- the cases ----------------------------------------------------------------------------- */

#define F OCS_FLOAT
#define H16 OCS_FLOAT16
#define BF OCS_BFLOAT16

static const pa_case cases[] = {
    /* name, dt, B, nq, past, BS, Hq, Hkv, D, W, scale, softcap, packed, rotary, interleaved, half, share,
     * hazard, caches, junk_empty, seed */
    {"decode", F, 3, {1, 1, 1}, {0, 17, 40}, 16, 8, 2, 64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 1},
    {"decode_long_split", F, 1, {1}, {700}, 16, 8, 2, 64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 2},
    {"decode_spec3_gqa8", F, 2, {3, 2}, {90, 301}, 16, 16, 2, 64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 3},
    {"prefill", F, 1, {37}, {0}, 16, 8, 2, 64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 4},
    {"prefill_long", F, 1, {150}, {0}, 16, 4, 1, 64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 5},
    {"chunked_prefill", F, 2, {9, 14}, {20, 33}, 16, 8, 2, 64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 6},
    {"mixed_batch", F, 5, {1, 20, 0, 3, 7}, {30, 5, 12, 64, 0}, 16, 8, 2, 64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 1, 7},
    {"empty_sequences", F, 3, {0, 4, 0}, {9, 3, 0}, 5, 4, 2, 40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 1, 8},
    {"all_empty", F, 2, {0, 0}, {3, 0}, 4, 4, 2, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 9},
    {"no_sequences", F, 0, {0}, {0}, 4, 4, 2, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 10},
    {"block_size_1", F, 3, {1, 12, 2}, {7, 3, 0}, 1, 4, 4, 64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 11},
    {"block_size_5", F, 3, {1, 12, 2}, {23, 9, 4}, 5, 8, 1, 40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 12},
    {"head_size_128", F, 2, {1, 30}, {77, 10}, 16, 8, 1, 128, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 13},
    {"head_size_20_tails", F, 2, {2, 19}, {45, 4}, 16, 6, 3, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 14},
    {"head_size_3", F, 2, {1, 9}, {10, 2}, 4, 2, 1, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 15},
    {"gqa_1", F, 2, {1, 25}, {60, 0}, 16, 4, 4, 64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 16},
    {"gqa_4", F, 2, {1, 25}, {60, 0}, 16, 8, 2, 64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 17},
    {"gqa_8", F, 2, {1, 25}, {60, 0}, 16, 8, 1, 64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 18},
    {"window_1", F, 2, {1, 20}, {40, 6}, 16, 4, 2, 64, 1, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 19},
    {"window_2", F, 2, {3, 20}, {40, 6}, 5, 4, 2, 64, 2, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 20},
    {"window_7_long", F, 2, {1, 90}, {500, 40}, 16, 8, 2, 64, 7, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 21},
    {"window_100_split", F, 1, {1}, {900}, 16, 8, 2, 64, 100, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 22},
    {"softcap", F, 2, {1, 18}, {50, 3}, 16, 8, 2, 64, 0, 0.5f, 0.3f, 0, 0, 0, 0, 0, 0, 3, 0, 23},
    {"scale", F, 2, {2, 11}, {31, 3}, 16, 8, 2, 64, 0, 0.7f, 0, 0, 0, 0, 0, 0, 0, 3, 0, 24},
    {"packed_qkv", F, 3, {1, 13, 2}, {19, 0, 70}, 16, 8, 2, 64, 0, 0, 0, 1, 0, 0, 0, 0, 0, 3, 0, 25},
    {"rotary", F, 2, {1, 15}, {33, 2}, 16, 8, 2, 64, 0, 0, 0, 0, 1, 0, 0, 0, 0, 3, 0, 26},
    {"rotary_interleaved", F, 2, {1, 15}, {33, 2}, 16, 8, 2, 64, 0, 0, 0, 0, 1, 1, 0, 0, 0, 3, 0, 27},
    {"rotary_partial", F, 2, {2, 15}, {33, 2}, 5, 4, 2, 40, 0, 0, 0, 0, 1, 0, 8, 0, 0, 3, 0, 28},
    {"rotary_partial_interleaved", F, 2, {2, 15}, {33, 2}, 5, 4, 2, 40, 0, 0, 0, 0, 1, 1, 6, 0, 0, 3, 0, 29},
    {"rotary_packed", F, 2, {1, 10}, {12, 0}, 16, 4, 1, 64, 0, 0, 0, 1, 1, 0, 0, 0, 0, 3, 0, 30},
    {"float16", H16, 3, {1, 17, 2}, {40, 0, 9}, 16, 8, 2, 64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 31},
    {"float16_rotary", H16, 2, {1, 17}, {40, 3}, 16, 8, 2, 64, 0, 0, 0, 0, 1, 0, 0, 0, 0, 3, 0, 32},
    {"bfloat16", BF, 3, {1, 17, 2}, {40, 0, 9}, 16, 8, 2, 64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 33},
    {"bfloat16_rotary_window", BF, 2, {2, 17}, {40, 3}, 5, 8, 4, 40, 3, 0, 0, 0, 1, 1, 0, 0, 0, 3, 0, 34},
    {"shared_prefix", F, 2, {1, 6}, {48, 40}, 16, 8, 2, 64, 0, 0, 0, 0, 0, 0, 0, 1, 0, 3, 0, 35},
    {"shared_prefix_bs5", F, 3, {2, 1, 4}, {31, 27, 8}, 5, 4, 1, 40, 0, 0, 0, 0, 0, 0, 0, 1, 0, 3, 0, 36},
    /* cache outputs not wanted: attention reads the inputs and the new rows (no cache copy) */
    {"no_cache_outputs", F, 3, {1, 20, 2}, {70, 9, 33}, 16, 8, 2, 64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 37},
    {"no_cache_outputs_rotary", F, 2, {1, 20}, {70, 9}, 16, 8, 2, 64, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 38},
    {"no_cache_outputs_packed_f16", H16, 2, {2, 20}, {70, 9}, 5, 8, 2, 40, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 39},
    {"only_key_cache_out", F, 2, {1, 20}, {70, 9}, 16, 8, 2, 64, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 40},
    {"only_value_cache_out", BF, 2, {1, 20}, {70, 9}, 16, 8, 2, 64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 41},
    /* a new token writes a slot another sequence reads as past: it must see the new value */
    {"write_read_by_other", F, 2, {3, 1}, {5, 20}, 16, 4, 2, 64, 0, 0, 0, 0, 0, 0, 0, 0, 1, 3, 0, 42},
    {"write_read_by_other_overlay", F, 2, {3, 1}, {5, 20}, 16, 4, 2, 64, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 43},
    {"big_gqa_decode", F, 2, {1, 2}, {200, 130}, 16, 32, 8, 128, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 44},
    {"large_heads_per_group", F, 1, {3}, {100}, 16, 64, 1, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 45},
    /* split-KV (few decode sequences for the threads) with a window, and in float16 with odd blocks */
    {"decode_split_window", F, 2, {1, 1}, {1000, 1000}, 16, 8, 2, 64, 300, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 46},
    {"decode_split_f16_bs5", H16, 1, {2}, {600}, 5, 8, 4, 40, 0, 0, 0.5f, 0, 0, 0, 0, 0, 0, 3, 0, 47},
    /* many query and key tiles, rotary keys read through the overlay */
    {"prefill_300_rotary_overlay", F, 1, {300}, {20}, 16, 8, 2, 64, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 48},
};
#define N_CASES (sizeof cases / sizeof cases[0])

static void test_cases_three_threads(void **state)
{
    for (size_t i = 0; i < N_CASES; i++)
        check_case(*state, &cases[i], 3, NULL);
}

static void test_cases_one_thread(void **state)
{
    for (size_t i = 0; i < N_CASES; i++)
        check_case(*state, &cases[i], 1, NULL);
}

/* The AVX2 and portable kernels, which this processor may not pick by itself. */
static void test_cases_capped_isa(void **state)
{
    for (size_t i = 0; i < N_CASES; i++) {
        check_case(*state, &cases[i], 3, "c");
        check_case(*state, &cases[i], 3, "avx2");
    }
}

/*
 * Caches that are intermediates at their last use (here: Identity outputs),
 * or graph inputs handed over with ocs_session_run_donated, are donated to
 * the node, which then updates them in place instead of copying them: every
 * case with both cache outputs wanted gives the reference's outputs; the
 * graph's own caches stay as they were when borrowed, and come back as the
 * cache outputs themselves when handed over.
 */
static void test_cases_caches_donated(void **state)
{
    fixture *f = *state;
    for (size_t i = 0; i < N_CASES; i++) {
        pa_case k = cases[i];
        k.caches = 3;
        built b;
        memset(&b, 0, sizeof b);
        make_inputs(&k, &b);
        ocs_tensor *before[2];
        for (int j = 0; j < 2; j++)
            assert_int_equal(ocs_tensor_clone(b.in[3 + j], &before[j], NULL), OCS_OK);
        make_model(&k, &b);
        ocs_tensor *ref[3] = {NULL, NULL, NULL}, *got[3] = {NULL, NULL, NULL};
        ocs_err err = {{0}};
        if (run_model(&b, NULL, ref, &err) != OCS_OK)
            fail_msg("%s: reference: %s", k.name, err.msg);
        ocs_model_free(b.model);
        b.via_identity = 1;
        make_model(&k, &b);
        if (run_model(&b, i % 2 ? f->cpu1 : f->cpu3, got, &err) != OCS_OK)
            fail_msg("%s: cpu, caches donated: %s", k.name, err.msg);
        char what[160];
        snprintf(what, sizeof what, "%s (caches donated) output", k.name);
        compare(what, ref[0], got[0]);
        for (int j = 0; j < 2; j++) {
            if (!ocs_tensor_equal(ref[1 + j], got[1 + j]))
                fail_msg("%s (caches donated): cache output %d differs from the reference", k.name, 1 + j);
            if (!ocs_tensor_equal(before[j], b.in[3 + j]))
                fail_msg("%s (caches donated): the graph's cache input %d changed", k.name, 3 + j);
            ocs_tensor_free(before[j]);
        }
        for (int j = 0; j < 3; j++) {
            ocs_tensor_free(got[j]);
            got[j] = NULL;
        }
        /* the graph's own caches, handed over with the run: updated in place and handed back */
        ocs_model_free(b.model);
        b.via_identity = 0;
        make_model(&k, &b);
        ocs_backend *list[1] = {i % 2 ? f->cpu1 : f->cpu3};
        ocs_session_options opt = {list, 1, 1};
        ocs_session *s = NULL;
        assert_int_equal(ocs_session_new_with(b.model, &opt, &s, &err), OCS_OK);
        const char *names[10];
        ocs_tensor *ins[10];
        uintptr_t caches[2] = {0, 0};
        size_t n = 0;
        for (int j = 0; j < 10; j++)
            if (b.in[j]) {
                names[n] = in_names[j];
                assert_int_equal(ocs_tensor_clone(b.in[j], &ins[n], NULL), OCS_OK);
                if (j == 3 || j == 4)
                    caches[j - 3] = (uintptr_t)ins[n];
                n++;
            }
        if (ocs_session_run_donated(s, n, names, ins, 3, got, &err) != OCS_OK)
            fail_msg("%s: cpu, caches handed over: %s", k.name, err.msg);
        snprintf(what, sizeof what, "%s (caches handed over) output", k.name);
        compare(what, ref[0], got[0]);
        for (int j = 0; j < 2; j++) {
            if (!ocs_tensor_equal(ref[1 + j], got[1 + j]))
                fail_msg("%s (caches handed over): cache output %d differs from the reference", k.name, 1 + j);
            if ((uintptr_t)got[1 + j] != caches[j])
                fail_msg("%s (caches handed over): cache output %d is a copy", k.name, 1 + j);
        }
        ocs_session_free(s);
        for (int j = 0; j < 3; j++) {
            ocs_tensor_free(ref[j]);
            ocs_tensor_free(got[j]);
        }
        built_free(&b);
    }
}

/* Random configurations across every switch at once. */
static void test_random_cases(void **state)
{
    uint64_t s = 99;
    static const int bss[] = {1, 3, 5, 16}, ds[] = {8, 24, 40, 64}, gs[] = {1, 2, 4, 8};
    static const ocs_dtype dts[] = {F, F, H16, BF};
    for (int c = 0; c < 40; c++) {
        pa_case k;
        memset(&k, 0, sizeof k);
        k.name = "random";
        k.seed = 1000u + (unsigned)c;
        k.dt = dts[rng_next(&s) % 4];
        k.B = 1 + (int)(rng_next(&s) % 4);
        for (int b = 0; b < k.B; b++) {
            const int kind = (int)(rng_next(&s) % 4);
            k.nq[b] = kind == 0 ? 0 : kind == 1 ? 1 : kind == 2 ? 2 + (int)(rng_next(&s) % 3) : 5 + (int)(rng_next(&s) % 30);
            k.past[b] = (int)(rng_next(&s) % 120);
        }
        k.BS = bss[rng_next(&s) % 4];
        k.D = ds[rng_next(&s) % 4];
        k.Hkv = 1 + (int)(rng_next(&s) % 3);
        k.Hq = k.Hkv * gs[rng_next(&s) % 4];
        k.W = rng_next(&s) % 3 == 0 ? 1 + (int)(rng_next(&s) % 40) : 0;
        k.softcap = rng_next(&s) % 4 == 0 ? 0.4f : 0.0f;
        k.scale = rng_next(&s) % 4 == 0 ? 0.3f : 0.0f;
        k.packed = rng_next(&s) % 3 == 0;
        k.rotary = rng_next(&s) % 2 == 0;
        k.interleaved = k.rotary && rng_next(&s) % 2;
        k.half = k.rotary && rng_next(&s) % 2 ? 1 + (int)(rng_next(&s) % (unsigned)(k.D / 2)) : 0;
        k.caches = (int)(rng_next(&s) % 4);
        check_case(*state, &k, 1 + 2 * (c % 2), c % 5 == 4 ? "c" : c % 5 == 2 ? "avx2" : NULL);
    }
}

/* ---- errors: both kernels, called directly, must agree on status and message ---------------------- */

typedef void (*mutate_fn)(pa_case *k, built *b);

static ocs_status call_kernel(const built *b, ocs_backend *be, ocs_err *err)
{
    const ocs_node *n = &b->model->graph->nodes[0];
    const ocs_tensor *ins[11] = {NULL};
    for (size_t i = 0; i < n->n_inputs && i < 11; i++)
        for (int j = 0; j < 10; j++)
            if (n->inputs[i][0] && !strcmp(n->inputs[i], in_names[j]))
                ins[i] = b->in[j];
    if (n->n_inputs == 11)
        ins[10] = b->in[0];
    const ocs_value *vals[11] = {NULL};
    ocs_tensor *outs[3] = {NULL, NULL, NULL};
    ocs_value *out_v[3] = {NULL, NULL, NULL};
    ocs_kernel_args a = {
        .node = n,
        .since_version = 1,
        .n_inputs = n->n_inputs,
        .inputs = ins,
        .values = vals,
        .n_outputs = n->n_outputs,
        .outputs = outs,
        .out_values = out_v,
        .scope = NULL,
        .err = err,
    };
    ocs_status st;
    if (be) {
        void *state = NULL;
        st = be->ops->prepare(be->ctx, n, 1, &state, err);
        if (st == OCS_OK)
            st = be->ops->run(be->ctx, state, &a);
        be->ops->release(be->ctx, state);
    } else {
        st = ocs_op_find(OCS_PREVIEW_DOMAIN, "PagedAttention")->kernel(&a);
    }
    for (int i = 0; i < 3; i++)
        ocs_tensor_free(outs[i]);
    return st;
}

static ocs_node *node_of(built *b)
{
    return &b->model->graph->nodes[0];
}

static void retype(built *b, int i, ocs_dtype t)
{
    ocs_tensor *x = new_tensor(t, b->in[i]->rank, b->in[i]->dims);
    ocs_tensor_free(b->in[i]);
    b->in[i] = x;
}

static void reshape(built *b, int i, int rank, const int64_t *dims)
{
    ocs_tensor *x = new_tensor(b->in[i]->dtype, rank, dims);
    ocs_tensor_free(b->in[i]);
    b->in[i] = x;
}

static int32_t *i32(built *b, int i)
{
    return b->in[i]->data;
}

static void m_heads_zero(pa_case *k, built *b) { (void)b; k->Hq = 0; }
static void m_heads_not_multiple(pa_case *k, built *b) { (void)b; k->Hq = 3; }
static void m_window_zero(pa_case *k, built *b) { (void)b; k->W = -3; }
static void m_rotary_two(pa_case *k, built *b) { (void)k; (void)b; }
static void m_value_absent(pa_case *k, built *b) { (void)k; ocs_tensor_free(b->in[2]); b->in[2] = NULL; }
static void m_value_absent_both(pa_case *k, built *b)
{
    (void)k;
    ocs_tensor_free(b->in[1]);
    ocs_tensor_free(b->in[2]);
    b->in[1] = b->in[2] = NULL;
}
static void m_sin_absent(pa_case *k, built *b) { (void)k; ocs_tensor_free(b->in[9]); b->in[9] = NULL; }
static void m_rotary_no_tables(pa_case *k, built *b)
{
    (void)k;
    ocs_tensor_free(b->in[8]);
    ocs_tensor_free(b->in[9]);
    b->in[8] = b->in[9] = NULL;
}
static void m_query_double(pa_case *k, built *b) { (void)k; retype(b, 0, OCS_DOUBLE); }
static void m_key_f16(pa_case *k, built *b) { (void)k; retype(b, 1, OCS_FLOAT16); }
static void m_cu_int64(pa_case *k, built *b) { (void)k; retype(b, 5, OCS_INT64); }
static void m_query_rank3(pa_case *k, built *b)
{
    (void)k;
    const int64_t d[3] = {b->in[0]->dims[0], 1, b->in[0]->dims[1]};
    reshape(b, 0, 3, d);
}
static void m_caches_differ(pa_case *k, built *b)
{
    (void)k;
    int64_t d[4];
    memcpy(d, b->in[4]->dims, sizeof d);
    d[0] += 1;
    reshape(b, 4, 4, d);
}
static void m_cache_heads(pa_case *k, built *b)
{
    (void)b;
    k->Hkv = 1;
    k->Hq = 4;
}
static void m_zero_blocks(pa_case *k, built *b)
{
    (void)k;
    int64_t d[4];
    memcpy(d, b->in[3]->dims, sizeof d);
    d[0] = 0;
    reshape(b, 3, 4, d);
    reshape(b, 4, 4, d);
}
static void m_query_width(pa_case *k, built *b)
{
    (void)k;
    const int64_t d[2] = {b->in[0]->dims[0], b->in[0]->dims[1] + 1};
    reshape(b, 0, 2, d);
}
static void m_key_width(pa_case *k, built *b)
{
    (void)k;
    const int64_t d[2] = {b->in[1]->dims[0], b->in[1]->dims[1] - 2};
    reshape(b, 1, 2, d);
}
static void m_value_tokens(pa_case *k, built *b)
{
    (void)k;
    const int64_t d[2] = {b->in[2]->dims[0] + 1, b->in[2]->dims[1]};
    reshape(b, 2, 2, d);
}
static void m_cu_entries(pa_case *k, built *b)
{
    (void)k;
    const int64_t d[1] = {b->in[5]->dims[0] + 1};
    reshape(b, 5, 1, d);
}
static void m_table_rows(pa_case *k, built *b)
{
    (void)k;
    const int64_t d[2] = {b->in[7]->dims[0] - 1, b->in[7]->dims[1]};
    reshape(b, 7, 2, d);
}
static void m_cos_sin_differ(pa_case *k, built *b)
{
    (void)k;
    const int64_t d[2] = {b->in[9]->dims[0] - 1, b->in[9]->dims[1]};
    reshape(b, 9, 2, d);
}
static void m_rotary_too_wide(pa_case *k, built *b)
{
    const int64_t d[2] = {b->in[8]->dims[0], (int64_t)k->D};
    reshape(b, 8, 2, d);
    reshape(b, 9, 2, d);
}
static void m_cu_first(pa_case *k, built *b) { (void)k; i32(b, 5)[0] = 1; }
static void m_cu_decreasing(pa_case *k, built *b)
{
    (void)k;
    i32(b, 5)[1] = i32(b, 5)[2] + 1;
}
static void m_cu_end(pa_case *k, built *b) { (void)k; i32(b, 5)[b->in[5]->dims[0] - 1] += 1; }
static void m_query_absent(pa_case *k, built *b) { (void)k; ocs_tensor_free(b->in[0]); b->in[0] = NULL; }
static void m_extra_input(pa_case *k, built *b) { (void)k; b->extra_input = 1; }
static void m_past_negative(pa_case *k, built *b) { (void)k; i32(b, 6)[1] = -1; }
static void m_past_too_long(pa_case *k, built *b)
{
    (void)k;
    i32(b, 6)[0] = (int32_t)(b->in[7]->dims[1] * b->in[3]->dims[1]);
}
static void m_block_out_of_range(pa_case *k, built *b)
{
    (void)k;
    i32(b, 7)[b->in[7]->dims[1] + 1] = (int32_t)b->in[3]->dims[0];
}
static void m_block_filler_live(pa_case *k, built *b)
{
    (void)k;
    i32(b, 7)[0] = -1;
}
static void m_duplicate_slot_same_seq(pa_case *k, built *b)
{
    (void)k;
    /* sequence 1 (past 30, 20 new, block 16): positions 30..49 span blocks 1..3; map block 3 onto block 2 */
    const int64_t MB = b->in[7]->dims[1];
    i32(b, 7)[MB + 3] = i32(b, 7)[MB + 2];
}
static void m_duplicate_slot_two_seqs(pa_case *k, built *b)
{
    (void)k;
    /* sequence 0 writes position 7 (block 0); sequence 1 writes 30..49; make its block 1 sequence 0's block 0
     * shifted: position 30 % 16 = 14 != 7, so use block 2 (positions 32..47, offset 7 is position 39) */
    const int64_t MB = b->in[7]->dims[1];
    i32(b, 7)[MB + 2] = i32(b, 7)[0];
}
static void m_rotary_position(pa_case *k, built *b)
{
    (void)k;
    const int64_t d[2] = {20, b->in[8]->dims[1]};
    reshape(b, 8, 2, d);
    reshape(b, 9, 2, d);
}

typedef struct err_case {
    const char *name;
    mutate_fn before;      /* on the case, before the model is made (attributes) */
    mutate_fn after;       /* on the tensors, after (types, shapes, values) */
    int attr;              /* 1: do_rotary = 2; 2: rotary_interleaved = 3; 3: num_heads 2^62; 4: kv 2^61 */
} err_case;

static const err_case err_cases[] = {
    {"heads_zero", m_heads_zero, NULL, 0},
    {"heads_not_multiple", m_heads_not_multiple, NULL, 0},
    {"window", m_window_zero, NULL, 0},
    {"do_rotary_2", m_rotary_two, NULL, 1},
    {"interleaved_3", m_rotary_two, NULL, 2},
    {"value_absent", NULL, m_value_absent, 0},
    {"sin_absent", NULL, m_sin_absent, 0},
    {"rotary_without_tables", NULL, m_rotary_no_tables, 0},
    {"query_double", NULL, m_query_double, 0},
    {"key_float16", NULL, m_key_f16, 0},
    {"cu_int64", NULL, m_cu_int64, 0},
    {"query_rank3", NULL, m_query_rank3, 0},
    {"caches_differ", NULL, m_caches_differ, 0},
    {"cache_heads", m_cache_heads, NULL, 0},
    {"zero_blocks", NULL, m_zero_blocks, 0},
    {"query_width", NULL, m_query_width, 0},
    {"key_width", NULL, m_key_width, 0},
    {"value_tokens", NULL, m_value_tokens, 0},
    {"cu_entries", NULL, m_cu_entries, 0},
    {"table_rows", NULL, m_table_rows, 0},
    {"cos_sin_differ", NULL, m_cos_sin_differ, 0},
    {"rotary_too_wide", NULL, m_rotary_too_wide, 0},
    {"cu_first", NULL, m_cu_first, 0},
    {"cu_decreasing", NULL, m_cu_decreasing, 0},
    {"cu_end", NULL, m_cu_end, 0},
    {"past_negative", NULL, m_past_negative, 0},
    {"past_too_long", NULL, m_past_too_long, 0},
    {"block_out_of_range", NULL, m_block_out_of_range, 0},
    {"block_filler_live", NULL, m_block_filler_live, 0},
    {"duplicate_slot_same_sequence", NULL, m_duplicate_slot_same_seq, 0},
    {"duplicate_slot_two_sequences", NULL, m_duplicate_slot_two_seqs, 0},
    {"rotary_position", NULL, m_rotary_position, 0},
    {"query_absent", NULL, m_query_absent, 0},
    {"num_heads_overflow", m_rotary_two, NULL, 3},
    {"packed_heads_overflow", NULL, m_value_absent_both, 4},
    {"eleven_inputs", NULL, m_extra_input, 0},
};

static const pa_case err_base = {"errors", F, 3, {1, 20, 0}, {7, 30, 5}, 16, 8, 2, 16, 0, 0, 0, 0, 1, 0, 0, 0, 0, 3,
                                 0, 77};

static void test_errors_match_reference(void **state)
{
    fixture *f = *state;
    for (size_t i = 0; i < sizeof err_cases / sizeof err_cases[0]; i++) {
        const err_case *e = &err_cases[i];
        pa_case k = err_base;
        built b;
        memset(&b, 0, sizeof b);
        make_inputs(&k, &b);
        if (e->before)
            e->before(&k, &b);
        if (e->after)
            e->after(&k, &b);
        make_model(&k, &b);
        if (e->attr == 1)
            assert_int_equal(ocs_node_set_int(node_of(&b), "do_rotary", 2, NULL), OCS_OK);
        if (e->attr == 2)
            assert_int_equal(ocs_node_set_int(node_of(&b), "rotary_interleaved", 3, NULL), OCS_OK);
        if (e->attr == 3)
            assert_int_equal(ocs_node_set_int(node_of(&b), "num_heads", (int64_t)1 << 62, NULL), OCS_OK);
        if (e->attr == 4) {
            assert_int_equal(ocs_node_set_int(node_of(&b), "num_heads", (int64_t)1 << 61, NULL), OCS_OK);
            assert_int_equal(ocs_node_set_int(node_of(&b), "kv_num_heads", (int64_t)1 << 61, NULL), OCS_OK);
        }
        ocs_err er = {{0}}, ec = {{0}};
        const ocs_status sr = call_kernel(&b, NULL, &er);
        const ocs_status sc = call_kernel(&b, f->cpu3, &ec);
        if (sr == OCS_OK)
            fail_msg("%s: the reference accepted the case", e->name);
        if (sc != sr || strcmp(er.msg, ec.msg) != 0)
            fail_msg("%s: reference %d \"%s\", cpu %d \"%s\"", e->name, (int)sr, er.msg, (int)sc, ec.msg);
        built_free(&b);
    }
}

/* Errors through sessions: a clean failure on the cpu backend, with the reference's reason. */
static void test_errors_in_sessions(void **state)
{
    fixture *f = *state;
    static const mutate_fn muts[] = {m_block_out_of_range, m_duplicate_slot_two_seqs, m_cu_decreasing,
                                     m_past_too_long, m_rotary_position, m_block_filler_live};
    for (size_t i = 0; i < sizeof muts / sizeof muts[0]; i++) {
        pa_case k = err_base;
        built b;
        memset(&b, 0, sizeof b);
        make_inputs(&k, &b);
        muts[i](&k, &b);
        make_model(&k, &b);
        ocs_tensor *outs[3] = {NULL, NULL, NULL};
        ocs_err er = {{0}}, ec = {{0}};
        const ocs_status sr = run_model(&b, NULL, outs, &er);
        const ocs_status sc = run_model(&b, f->cpu1, outs, &ec);
        assert_int_not_equal(sr, OCS_OK);
        assert_int_equal(sc, sr);
        const char *tail = strstr(er.msg, "PagedAttention: ");
        assert_non_null(tail);
        if (!strstr(ec.msg, tail))
            fail_msg("cpu session error \"%s\" lacks the reference's reason \"%s\"", ec.msg, tail);
        assert_non_null(strstr(ec.msg, "backend cpu"));
        for (int j = 0; j < 3; j++)
            assert_null(outs[j]);
        built_free(&b);
    }
}

/* ---- micro-kernels -------------------------------------------------------------------------------- */

static void fill(float *x, size_t n, uint64_t *s)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)rng_uniform(s, -1.0, 1.0);
}

static void close_to(const char *what, const float *want, const float *got, size_t n, double tol)
{
    for (size_t i = 0; i < n; i++)
        if (!(fabs((double)want[i] - (double)got[i]) <= tol * (1.0 + fabs((double)want[i]))))
            fail_msg("%s: element %zu: %.9g, expected %.9g", what, i, (double)got[i], (double)want[i]);
}

static void test_kernels(void **state)
{
    (void)state;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    const int avx2 = __builtin_cpu_supports("avx2"), fma = __builtin_cpu_supports("fma");
    const int avx512f = __builtin_cpu_supports("avx512f");
#else
    const int avx2 = 0, fma = 0, avx512f = 0;
#endif
    /* every table this processor can run (the last two are the same without AVX-512) */
    const ocs_pa_kernels *tabs[3] = {ocs_pa_kernels_portable(), ocs_pa_kernels_select(avx2, fma, 0),
                                     ocs_pa_kernels_select(avx2, fma, avx512f)};
    uint64_t s = 5;
    enum { MR = 23, MN = 70, MK = 131 };
    float *A = malloc(MR * MK * sizeof *A), *Bm = malloc(MK * MN * sizeof *Bm), *C = malloc(MR * MN * sizeof *C);
    float *want = malloc(MR * MN * sizeof *want), *alpha = malloc(MR * sizeof *alpha);
    const float **rows = malloc(MK * sizeof *rows);
    for (int t = 0; t < 3; t++) {
        const ocs_pa_kernels *k = tabs[t];
        static const size_t Rs[] = {1, 2, 3, 4, 5, 6, 7, 13, 23}, Ns[] = {1, 3, 7, 8, 9, 16, 17, 40, 70},
                            Ks[] = {1, 2, 9, 64, 131};
        for (size_t ri = 0; ri < sizeof Rs / sizeof *Rs; ri++)
            for (size_t ni = 0; ni < sizeof Ns / sizeof *Ns; ni++)
                for (size_t ki = 0; ki < sizeof Ks / sizeof *Ks; ki++) {
                    const size_t R = Rs[ri], N = Ns[ni], K = Ks[ki];
                    fill(A, R * MK, &s);
                    fill(Bm, K * MN, &s);
                    fill(C, R * MN, &s);
                    fill(alpha, R, &s);
                    for (size_t kk = 0; kk < MK; kk++)
                        rows[kk] = Bm + kk * MN;
                    for (int mode = 0; mode < 4; mode++) {
                        const int with_alpha = mode & 1;
                        const size_t off = (mode & 2) ? 5 : 0;   /* B rows read from column off */
                        if (N + off > MN)
                            continue;
                        for (size_t r = 0; r < R; r++)
                            for (size_t c = 0; c < N; c++) {
                                double acc = with_alpha ? (double)alpha[r] * C[r * MN + c] : 0.0;
                                for (size_t kk = 0; kk < K; kk++)
                                    acc += (double)A[r * MK + kk] * rows[kk][off + c];
                                want[r * MN + c] = (float)acc;
                            }
                        float *got = malloc(R * MN * sizeof *got);
                        memcpy(got, C, R * MN * sizeof *got);
                        k->gemm(R, N, K, A, MK, rows, off, got, MN, with_alpha ? alpha : NULL);
                        for (size_t r = 0; r < R; r++) {
                            char what[96];
                            snprintf(what, sizeof what, "%s gemm R%zu N%zu K%zu off%zu", k->name, R, N, K, off);
                            close_to(what, want + r * MN, got + r * MN, N, 1e-4);
                            for (size_t c = N; c < MN; c++)   /* columns past N untouched */
                                assert_true(got[r * MN + c] == C[r * MN + c]);
                        }
                        free(got);
                    }
                    /* dot: S[r][j] = A[r] . B-row j (from column koff) over K */
                    for (size_t koff = 0; koff <= 3; koff += 3) {
                        float S[23 * 70];
                        k->dot(R, N, K, A, MK, rows, koff, S, MN);
                        for (size_t r = 0; r < R; r++)
                            for (size_t j = 0; j < N; j++) {
                                double acc = 0.0;
                                for (size_t d = 0; d < K; d++)
                                    acc += (double)A[r * MK + d] * rows[j][koff + d];
                                if (!(fabs(acc - S[r * MN + j]) <= 1e-4 * (1.0 + fabs(acc))))
                                    fail_msg("%s dot R%zu N%zu D%zu: %g vs %g", k->name, R, N, K,
                                             (double)S[r * MN + j], acc);
                            }
                    }
                }
        /* decode kernels: H heads per slot */
        {
            static const size_t Hs[] = {1, 3}, Rgs[] = {1, 4, 5, 9}, Nd[] = {1, 2, 5, 7, 16, 17},
                                Dd[] = {8, 20, 64, 100, 128};
            for (size_t hi = 0; hi < 2; hi++)
                for (size_t ri = 0; ri < 4; ri++)
                    for (size_t ni = 0; ni < 6; ni++)
                        for (size_t di = 0; di < 5; di++) {
                            const size_t H = Hs[hi], Rg = Rgs[ri], N = Nd[ni], D = Dd[di], R = H * Rg, lds = 20;
                            float *Q = malloc(R * D * sizeof *Q), *slots = malloc(N * H * D * sizeof *slots);
                            float *S = malloc(R * lds * sizeof *S), *O = malloc(R * D * sizeof *O);
                            float *O0 = malloc(R * D * sizeof *O0), *al = malloc(R * sizeof *al);
                            const float *sp[17];
                            const char *pf[17];   /* rows to prefetch: some present, some not */
                            fill(Q, R * D, &s);
                            fill(slots, N * H * D, &s);
                            fill(O0, R * D, &s);
                            fill(al, R, &s);
                            for (size_t j = 0; j < N; j++) {
                                sp[j] = slots + j * H * D;
                                pf[j] = j % 3 == 1 ? NULL : (const char *)(const void *)sp[N - 1 - j];
                            }
                            k->dec_qk(H, Rg, N, D, Q, sp, S, lds, pf, H * D * sizeof(float));
                            for (size_t r = 0; r < R; r++)
                                for (size_t j = 0; j < N; j++) {
                                    double acc = 0.0;
                                    for (size_t d = 0; d < D; d++)
                                        acc += (double)Q[r * D + d] * sp[j][(r / Rg) * D + d];
                                    if (!(fabs(acc - S[r * lds + j]) <= 1e-4 * (1.0 + fabs(acc))))
                                        fail_msg("%s dec_qk H%zu Rg%zu N%zu D%zu", k->name, H, Rg, N, D);
                                }
                            memcpy(O, O0, R * D * sizeof *O);
                            k->dec_pv(H, Rg, N, D, S, lds, sp, O, al, ri % 2 ? pf : NULL, H * D * sizeof(float));
                            for (size_t r = 0; r < R; r++)
                                for (size_t c = 0; c < D; c++) {
                                    double acc = (double)al[r] * O0[r * D + c];
                                    for (size_t j = 0; j < N; j++)
                                        acc += (double)S[r * lds + j] * sp[j][(r / Rg) * D + c];
                                    if (!(fabs(acc - O[r * D + c]) <= 1e-4 * (1.0 + fabs(acc))))
                                        fail_msg("%s dec_pv H%zu Rg%zu N%zu D%zu: %g vs %g", k->name, H, Rg, N, D,
                                                 (double)O[r * D + c], acc);
                                }
                            free(Q);
                            free(slots);
                            free(S);
                            free(O);
                            free(O0);
                            free(al);
                        }
        }
        /* transposed packing */
        for (size_t D = 1; D <= 19; D += 3) {
            float Kp[19 * 24];
            k->pack_t(24, D, rows, Kp, 24);
            for (size_t j = 0; j < 24; j++)
                for (size_t d = 0; d < D; d++)
                    assert_true(Kp[d * 24 + j] == rows[j][d]);
        }
        /* max and exp_sum, with -inf entries */
        for (size_t n = 1; n <= 37; n++) {
            float x[37], e[37];
            fill(x, n, &s);
            for (size_t i = 0; i < n; i++)
                x[i] *= 30.0f;
            if (n > 2)
                x[n / 2] = -INFINITY;
            float m = x[0];
            for (size_t i = 1; i < n; i++)
                m = x[i] > m ? x[i] : m;
            assert_true(k->max(x, n) == m);
            memcpy(e, x, sizeof x);
            const float sum = k->exp_sum(e, n, m);
            double ws = 0.0;
            for (size_t i = 0; i < n; i++) {
                const double w = x[i] == -INFINITY ? 0.0 : exp((double)x[i] - m);
                ws += w;
                if (!(fabs(w - e[i]) <= 1e-6 * (1.0 + w)))
                    fail_msg("%s exp: %g vs %g", k->name, (double)e[i], w);
            }
            assert_true(fabs(ws - sum) <= 1e-5 * ws);
        }
        /* conversions round-trip exactly through float for every half and bfloat16 pattern */
        uint16_t *h = malloc(65536 * sizeof *h), *back = malloc(65536 * sizeof *back);
        float *fl = malloc(65536 * sizeof *fl);
        for (size_t i = 0; i < 65536; i++)
            h[i] = (uint16_t)i;
        k->h2f(h, fl, 65536);
        for (size_t i = 0; i < 65536; i++) {
            const float r = ocs_half_to_float(h[i]);
            assert_true(memcmp(&r, &fl[i], sizeof r) == 0 || (isnan(r) && isnan(fl[i])));
        }
        k->f2h(fl, back, 65536);
        for (size_t i = 0; i < 65536; i++)
            if (!isnan(fl[i]))
                assert_int_equal(back[i], h[i]);
        k->b2f(h, fl, 65536);
        for (size_t i = 0; i < 65536; i++) {
            const float r = ocs_bfloat16_to_float(h[i]);
            assert_true(memcmp(&r, &fl[i], sizeof r) == 0 || (isnan(r) && isnan(fl[i])));
        }
        /* float -> half / bfloat16 rounding agrees with the scalar conversions */
        fill(fl, 65536, &s);
        for (size_t i = 0; i < 65536; i++)
            fl[i] *= (float)ldexp(1.0, (int)(i % 40) - 25);
        k->f2h(fl, back, 65536);
        for (size_t i = 0; i < 65536; i++)
            assert_int_equal(back[i], ocs_float_to_half(fl[i]));
        k->f2b(fl, back, 65536);
        for (size_t i = 0; i < 65536; i++)
            assert_int_equal(back[i], ocs_float_to_bfloat16(fl[i]));
        free(h);
        free(back);
        free(fl);
    }
    free(A);
    free(Bm);
    free(C);
    free(want);
    free(alpha);
    free(rows);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kernels),
        cmocka_unit_test(test_cases_three_threads),
        cmocka_unit_test(test_cases_one_thread),
        cmocka_unit_test(test_cases_capped_isa),
        cmocka_unit_test(test_cases_caches_donated),
        cmocka_unit_test(test_random_cases),
        cmocka_unit_test(test_errors_match_reference),
        cmocka_unit_test(test_errors_in_sessions),
    };
    return cmocka_run_group_tests_name("cpu_paged_attention", tests, setup, teardown);
}
