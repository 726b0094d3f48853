/*
 * tests/test_paged_attention.c - PagedAttention: the reference kernel
 * against its function body (the `_expanded` model) and against a naive
 * dense attention computed here in double, over decode, prefill, chunked
 * and mixed batches, GQA, windows, softcap, scale, RoPE and packed QKV in
 * float, float16 and bfloat16; and one test per error condition, each
 * proving a clear message on both the session path and a direct kernel
 * call.  Inputs come from a fixed-seed generator.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include <cmocka.h>

#include "ocs/build.h"
#include "ocs/exec.h"
#include "ocs/schema.h"

/* The kernel itself (reference/ops), called directly to test its own checks. */
ocs_status ocs_ref_PagedAttention(ocs_kernel_args *a);

/* ---- inputs ------------------------------------------------------------------ */

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [-1, 1). */
static double rng_unit(uint64_t *s)
{
    return (double)(rng_next(s) >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

#define MAXB 8

typedef struct {
    const char *name;
    ocs_dtype dtype;
    int64_t H, Hkv, D, BS;
    int B;
    int past[MAXB], nnew[MAXB];
    int64_t NB, MB;          /* 0: derived (needed blocks + 3 spare; longest row + 1) */
    const int *table;        /* B*MB entries, or NULL: disjoint shuffled blocks, -1 filler */
    int packed;
    float scale, softcap;
    int64_t W;               /* local_window_size; 0 means "leave the attribute out" */
    int rotary, interleaved;
    int64_t half;            /* cos_cache.shape[1]; 0 means D/2 */
    int64_t max_pos;         /* cos_cache.shape[0]; 0 means the longest sequence */
    int no_cache_outputs;
    int check_naive;
    uint64_t seed;
} pa_case;

/* The ten inputs of a case (NULL where absent) and the node's attributes. */
typedef struct {
    ocs_tensor *in[10];
    int64_t T;
} pa_inputs;

static ocs_tensor *new_tensor(ocs_dtype t, int rank, const int64_t *dims)
{
    ocs_tensor *x = NULL;
    ocs_err err;
    if (ocs_tensor_new(t, rank, dims, &x, &err) != OCS_OK)
        fail_msg("tensor: %s", err.msg);
    return x;
}

static void fill_random(ocs_tensor *t, uint64_t *s, double amp)
{
    for (size_t i = 0; i < t->numel; i++)
        ocs_tensor_set_f64(t, i, amp * rng_unit(s));
}

static void make_inputs(const pa_case *c, pa_inputs *x)
{
    memset(x, 0, sizeof *x);
    uint64_t s = c->seed ? c->seed : 12345;
    int64_t T = 0, longest = 1, needed = 0, widest = 1;
    for (int b = 0; b < c->B; b++) {
        T += c->nnew[b];
        int64_t L = c->past[b] + c->nnew[b];
        if (L > longest)
            longest = L;
        int64_t nb = (L + c->BS - 1) / c->BS;
        if (c->nnew[b] > 0)
            needed += nb;
        if (nb > widest)
            widest = nb;
    }
    x->T = T;
    const int64_t MB = c->MB ? c->MB : widest + 1;
    const int64_t NB = c->NB ? c->NB : needed + 3;
    const int64_t qw = (c->packed ? c->H + 2 * c->Hkv : c->H) * c->D;
    const int64_t dq[2] = {T, qw}, dkv[2] = {T, c->Hkv * c->D}, dc[4] = {NB, c->BS, c->Hkv, c->D};
    x->in[0] = new_tensor(c->dtype, 2, dq);
    fill_random(x->in[0], &s, 1.0);
    if (!c->packed) {
        x->in[1] = new_tensor(c->dtype, 2, dkv);
        x->in[2] = new_tensor(c->dtype, 2, dkv);
        fill_random(x->in[1], &s, 1.0);
        fill_random(x->in[2], &s, 1.0);
    }
    x->in[3] = new_tensor(c->dtype, 4, dc);
    x->in[4] = new_tensor(c->dtype, 4, dc);
    fill_random(x->in[3], &s, 1.0);
    fill_random(x->in[4], &s, 1.0);
    const int64_t dcu[1] = {c->B + 1}, dp[1] = {c->B}, dt[2] = {c->B, MB};
    x->in[5] = new_tensor(OCS_INT32, 1, dcu);
    x->in[6] = new_tensor(OCS_INT32, 1, dp);
    x->in[7] = new_tensor(OCS_INT32, 2, dt);
    int32_t *cu = x->in[5]->data, *past = x->in[6]->data, *table = x->in[7]->data;
    cu[0] = 0;
    for (int b = 0; b < c->B; b++) {
        cu[b + 1] = cu[b] + c->nnew[b];
        past[b] = c->past[b];
    }
    if (c->table) {
        for (int64_t i = 0; i < c->B * MB; i++)
            table[i] = c->table[i];
    } else {
        /* a shuffled permutation of the blocks, handed out in order */
        int64_t *perm = malloc((size_t)NB * sizeof *perm);
        assert_non_null(perm);
        for (int64_t i = 0; i < NB; i++)
            perm[i] = i;
        for (int64_t i = NB - 1; i > 0; i--) {
            int64_t j = (int64_t)(rng_next(&s) % (uint64_t)(i + 1)), tmp = perm[i];
            perm[i] = perm[j];
            perm[j] = tmp;
        }
        int64_t next = 0;
        for (int b = 0; b < c->B; b++) {
            int64_t nb = c->nnew[b] > 0 ? (c->past[b] + c->nnew[b] + c->BS - 1) / c->BS : 0;
            for (int64_t k = 0; k < MB; k++)
                table[b * MB + k] = k < nb ? (int32_t)perm[next++] : -1;
        }
        free(perm);
    }
    if (c->rotary) {
        const int64_t half = c->half ? c->half : c->D / 2;
        const int64_t rows = c->max_pos ? c->max_pos : longest;
        const int64_t dr[2] = {rows, half};
        x->in[8] = new_tensor(c->dtype, 2, dr);
        x->in[9] = new_tensor(c->dtype, 2, dr);
        for (int64_t p = 0; p < rows; p++)
            for (int64_t k = 0; k < half; k++) {
                double theta = (double)p * pow(10000.0, -2.0 * (double)k / (double)(2 * half));
                ocs_tensor_set_f64(x->in[8], (size_t)(p * half + k), cos(theta));
                ocs_tensor_set_f64(x->in[9], (size_t)(p * half + k), sin(theta));
            }
    }
}

static void free_inputs(pa_inputs *x)
{
    for (int i = 0; i < 10; i++)
        ocs_tensor_free(x->in[i]);
}

/* ---- models ------------------------------------------------------------------ */

static const char *const in_names[10] = {"query", "key", "value", "key_cache", "value_cache",
                                         "cumulative_sequence_length", "past_seqlens", "block_table",
                                         "cos_cache", "sin_cache"};

typedef struct {
    int64_t H, Hkv, W, rotary, interleaved;
    float scale, softcap;
    int set_W, set_rotary, set_interleaved, set_scale, set_softcap;
    int n_outputs;
} pa_attrs;

static pa_attrs attrs_of(const pa_case *c)
{
    pa_attrs a = {c->H, c->Hkv, c->W, c->rotary, c->interleaved, c->scale, c->softcap,
                  c->W != 0, c->rotary != 0, c->interleaved != 0, c->scale != 0.0f, c->softcap != 0.0f,
                  c->no_cache_outputs ? 1 : 3};
    return a;
}

/*
 * A one-node model whose graph inputs are the present tensors of in[], with their shapes; with
 * symbolic != 0 every dimension but head counts, head_size and the rotary width is left unknown.
 */
static ocs_model *build_model_sym(const pa_attrs *at, ocs_tensor *const *in, int n_in, int symbolic)
{
    ocs_model *m = NULL;
    ocs_err err;
    assert_int_equal(ocs_model_new(&m, &err), OCS_OK);
    assert_int_equal(ocs_model_import(m, OCS_PREVIEW_DOMAIN, 1, &err), OCS_OK);
    const char *names[10];
    for (int i = 0; i < n_in; i++) {
        names[i] = in[i] ? in_names[i] : "";
        if (!in[i])
            continue;
        int64_t dims[4];
        for (int d = 0; d < in[i]->rank && d < 4; d++) {
            /* known when static: width of Q/K/V rows, cache heads and head_size, rotary width */
            int keep = (i <= 2 && d == 1) || ((i == 3 || i == 4) && d >= 2) || (i >= 8 && d == 1);
            dims[d] = symbolic && !keep ? -1 : in[i]->dims[d];
        }
        assert_int_equal(ocs_graph_add_input(m->graph, in_names[i], in[i]->dtype, in[i]->rank, dims, &err), OCS_OK);
    }
    while (n_in > 8 && !in[n_in - 1])
        n_in--;
    static const char *const outs[3] = {"output", "key_cache_out", "value_cache_out"};
    ocs_node *nd = NULL;
    if (ocs_graph_add_node(m->graph, "PagedAttention", OCS_PREVIEW_DOMAIN, "pa", (size_t)n_in, names,
                           (size_t)at->n_outputs, outs, &nd, &err) != OCS_OK)
        fail_msg("node: %s", err.msg);
    assert_int_equal(ocs_node_set_int(nd, "num_heads", at->H, &err), OCS_OK);
    assert_int_equal(ocs_node_set_int(nd, "kv_num_heads", at->Hkv, &err), OCS_OK);
    if (at->set_W)
        assert_int_equal(ocs_node_set_int(nd, "local_window_size", at->W, &err), OCS_OK);
    if (at->set_rotary)
        assert_int_equal(ocs_node_set_int(nd, "do_rotary", at->rotary, &err), OCS_OK);
    if (at->set_interleaved)
        assert_int_equal(ocs_node_set_int(nd, "rotary_interleaved", at->interleaved, &err), OCS_OK);
    if (at->set_scale)
        assert_int_equal(ocs_node_set_float(nd, "scale", at->scale, &err), OCS_OK);
    if (at->set_softcap)
        assert_int_equal(ocs_node_set_float(nd, "softcap", at->softcap, &err), OCS_OK);
    for (int o = 0; o < at->n_outputs; o++)
        assert_int_equal(ocs_graph_add_output(m->graph, outs[o], in[0] ? in[0]->dtype : OCS_FLOAT, -1, NULL, &err),
                         OCS_OK);
    return m;
}

static ocs_model *build_model(const pa_attrs *at, ocs_tensor *const *in, int n_in)
{
    return build_model_sym(at, in, n_in, 0);
}

/* Runs m on in[]; returns the status and fills out[] (caller frees) and err. */
static ocs_status run_model(const ocs_model *m, ocs_tensor *const *in, int n_in, ocs_tensor **out, ocs_err *err)
{
    ocs_session *s = NULL;
    ocs_status st = ocs_session_new(m, &s, err);
    if (st != OCS_OK)
        return st;
    const char *names[10];
    const ocs_tensor *vals[10];
    size_t k = 0;
    for (int i = 0; i < n_in; i++)
        if (in[i]) {
            names[k] = in_names[i];
            vals[k++] = in[i];
        }
    st = ocs_session_run(s, k, names, vals, m->graph->n_outputs, out, err);
    ocs_session_free(s);
    return st;
}

/* ---- the independent computation ----------------------------------------------------- */

static double round_to(ocs_dtype t, double v)
{
    switch (t) {
    case OCS_FLOAT16:
        return ocs_half_to_float(ocs_double_to_half(v));
    case OCS_BFLOAT16:
        return ocs_bfloat16_to_float(ocs_double_to_bfloat16(v));
    default:
        return (double)(float)v;
    }
}

/*
 * Dense attention in double: the expected cache outputs (inputs with the new rotated keys
 * and values written), then, per sequence, a contiguous copy of its positions 0..L-1 taken
 * from those caches, then causal/window attention over that copy.
 */
typedef struct {
    double *out;    /* [T, H*D] */
    double *kc, *vc; /* expected caches, [NB*BS*Hkv*D] */
} naive_result;

static void rotate_vec(const pa_case *c, const pa_inputs *x, double *v, int64_t p)
{
    const int64_t half = x->in[8]->dims[1];
    for (int64_t k = 0; k < half; k++) {
        double cs = ocs_tensor_get_f64(x->in[8], (size_t)(p * half + k));
        double sn = ocs_tensor_get_f64(x->in[9], (size_t)(p * half + k));
        int64_t i1 = c->interleaved ? 2 * k : k, i2 = c->interleaved ? 2 * k + 1 : k + half;
        double a = v[i1], b = v[i2];
        v[i1] = round_to(c->dtype, cs * a - sn * b);
        v[i2] = round_to(c->dtype, sn * a + cs * b);
    }
}

static naive_result naive(const pa_case *c, const pa_inputs *x)
{
    const int64_t H = c->H, Hkv = c->Hkv, D = c->D, BS = c->BS, T = x->T;
    const int64_t NB = x->in[3]->dims[0], MB = x->in[7]->dims[1];
    const int32_t *cu = x->in[5]->data, *past = x->in[6]->data, *table = x->in[7]->data;
    const int64_t qw = x->in[0]->dims[1];
    naive_result r;
    size_t cache_n = (size_t)(NB * BS * Hkv * D);
    r.out = calloc((size_t)(T * H * D) + 1, sizeof(double));
    r.kc = malloc(cache_n * sizeof(double));
    r.vc = malloc(cache_n * sizeof(double));
    assert_true(r.out && r.kc && r.vc);
    for (size_t i = 0; i < cache_n; i++) {
        r.kc[i] = ocs_tensor_get_f64(x->in[3], i);
        r.vc[i] = ocs_tensor_get_f64(x->in[4], i);
    }
    /* rotated Q [T, H, D] and K [T, Hkv, D], V [T, Hkv, D] */
    double *q = malloc((size_t)(T * H * D + 1) * sizeof(double));
    double *k = malloc((size_t)(T * Hkv * D + 1) * sizeof(double));
    double *v = malloc((size_t)(T * Hkv * D + 1) * sizeof(double));
    assert_true(q && k && v);
    for (int b = 0; b < c->B; b++)
        for (int64_t t = cu[b]; t < cu[b + 1]; t++) {
            int64_t p = past[b] + (t - cu[b]);
            for (int64_t h = 0; h < H; h++) {
                for (int64_t d = 0; d < D; d++)
                    q[(t * H + h) * D + d] = ocs_tensor_get_f64(x->in[0], (size_t)(t * qw + h * D + d));
                if (c->rotary)
                    rotate_vec(c, x, &q[(t * H + h) * D], p);
            }
            for (int64_t g = 0; g < Hkv; g++) {
                for (int64_t d = 0; d < D; d++) {
                    if (c->packed) {
                        k[(t * Hkv + g) * D + d] = ocs_tensor_get_f64(x->in[0], (size_t)(t * qw + (H + g) * D + d));
                        v[(t * Hkv + g) * D + d] =
                            ocs_tensor_get_f64(x->in[0], (size_t)(t * qw + (H + Hkv + g) * D + d));
                    } else {
                        k[(t * Hkv + g) * D + d] = ocs_tensor_get_f64(x->in[1], (size_t)(t * Hkv * D + g * D + d));
                        v[(t * Hkv + g) * D + d] = ocs_tensor_get_f64(x->in[2], (size_t)(t * Hkv * D + g * D + d));
                    }
                }
                if (c->rotary)
                    rotate_vec(c, x, &k[(t * Hkv + g) * D], p);
            }
            /* write */
            int64_t slot = table[b * MB + p / BS] * BS + p % BS;
            for (int64_t g = 0; g < Hkv; g++)
                for (int64_t d = 0; d < D; d++) {
                    r.kc[(slot * Hkv + g) * D + d] = k[(t * Hkv + g) * D + d];
                    r.vc[(slot * Hkv + g) * D + d] = v[(t * Hkv + g) * D + d];
                }
        }
    const double scale = c->scale != 0.0f ? (double)c->scale : 1.0 / sqrt((double)D);
    for (int b = 0; b < c->B; b++) {
        int64_t L = past[b] + cu[b + 1] - cu[b];
        if (cu[b + 1] == cu[b])
            continue;
        /* contiguous copy [L, Hkv, D] */
        double *kd = malloc((size_t)(L * Hkv * D) * sizeof(double));
        double *vd = malloc((size_t)(L * Hkv * D) * sizeof(double));
        double *w = malloc((size_t)L * sizeof(double));
        assert_true(kd && vd && w);
        for (int64_t j = 0; j < L; j++) {
            int64_t slot = table[b * MB + j / BS] * BS + j % BS;
            memcpy(&kd[j * Hkv * D], &r.kc[slot * Hkv * D], (size_t)(Hkv * D) * sizeof(double));
            memcpy(&vd[j * Hkv * D], &r.vc[slot * Hkv * D], (size_t)(Hkv * D) * sizeof(double));
        }
        for (int64_t t = cu[b]; t < cu[b + 1]; t++) {
            int64_t p = past[b] + (t - cu[b]);
            for (int64_t h = 0; h < H; h++) {
                int64_t g = h / (H / Hkv);
                double mx = -INFINITY, sum = 0;
                for (int64_t j = 0; j < L; j++) {
                    int visible = j <= p && (c->W < 1 || j > p - c->W);
                    if (!visible) {
                        w[j] = -INFINITY;
                        continue;
                    }
                    double dot = 0;
                    for (int64_t d = 0; d < D; d++)
                        dot += q[(t * H + h) * D + d] * kd[(j * Hkv + g) * D + d];
                    double sc = dot * scale;
                    if (c->softcap > 0)
                        sc = c->softcap * tanh(sc / c->softcap);
                    w[j] = sc;
                    if (sc > mx)
                        mx = sc;
                }
                for (int64_t j = 0; j < L; j++) {
                    w[j] = w[j] == -INFINITY ? 0.0 : exp(w[j] - mx);
                    sum += w[j];
                }
                for (int64_t d = 0; d < D; d++) {
                    double y = 0;
                    for (int64_t j = 0; j < L; j++)
                        y += w[j] * vd[(j * Hkv + g) * D + d];
                    r.out[t * H * D + h * D + d] = y / sum;
                }
            }
        }
        free(kd);
        free(vd);
        free(w);
    }
    free(q);
    free(k);
    free(v);
    return r;
}

/* ---- comparisons ----------------------------------------------------------------- */

static void tolerance(ocs_dtype t, double *rtol, double *atol)
{
    if (t == OCS_FLOAT16) {
        *rtol = 2e-3;
        *atol = 2e-3;
    } else if (t == OCS_BFLOAT16) {
        *rtol = 1.6e-2;
        *atol = 1.6e-2;
    } else {
        *rtol = 1e-5;
        *atol = 1e-6;
    }
}

static void expect_close(const char *what, const pa_case *c, const ocs_tensor *got, const double *want,
                         size_t n)
{
    double rtol, atol;
    tolerance(c->dtype, &rtol, &atol);
    assert_int_equal(got->numel, n);
    for (size_t i = 0; i < n; i++) {
        double g = ocs_tensor_get_f64(got, i);
        if (!(fabs(g - want[i]) <= atol + rtol * fabs(want[i])))
            fail_msg("%s: %s element %zu is %.9g, expected %.9g", c->name, what, i, g, want[i]);
    }
}

static void expect_tensors_close(const char *what, const pa_case *c, const ocs_tensor *got,
                                 const ocs_tensor *want)
{
    double rtol, atol;
    tolerance(c->dtype, &rtol, &atol);
    assert_int_equal(got->dtype, want->dtype);
    assert_int_equal(got->rank, want->rank);
    for (int d = 0; d < got->rank; d++)
        assert_int_equal(got->dims[d], want->dims[d]);
    for (size_t i = 0; i < got->numel; i++) {
        double g = ocs_tensor_get_f64(got, i), w = ocs_tensor_get_f64(want, i);
        if (!(fabs(g - w) <= atol + rtol * fabs(w)))
            fail_msg("%s: %s element %zu is %.9g, expected %.9g", c->name, what, i, g, w);
    }
}

/* Runs the case on the kernel and on the expanded model; compares them and, if asked, the naive result. */
static void run_case(const pa_case *c)
{
    pa_inputs x;
    make_inputs(c, &x);
    pa_attrs at = attrs_of(c);
    ocs_model *m = build_model(&at, x.in, 10);
    ocs_tensor *got[3] = {0}, *exp_out[3] = {0};
    ocs_err err;
    ocs_status st = run_model(m, x.in, 10, got, &err);
    if (st != OCS_OK)
        fail_msg("%s: kernel: %s", c->name, err.msg);
    ocs_model *e = NULL;
    st = ocs_model_expand(m, &e, &err);
    if (st != OCS_OK)
        fail_msg("%s: expand: %s", c->name, err.msg);
    /* the expanded graph holds no PagedAttention node */
    for (size_t i = 0; i < e->graph->n_nodes; i++)
        assert_string_not_equal(e->graph->nodes[i].op_type, "PagedAttention");
    st = run_model(e, x.in, 10, exp_out, &err);
    if (st != OCS_OK)
        fail_msg("%s: expanded: %s", c->name, err.msg);

    const int64_t want_out[2] = {x.T, c->H * c->D};
    assert_int_equal(got[0]->dtype, c->dtype);
    assert_int_equal(got[0]->rank, 2);
    assert_int_equal(got[0]->dims[0], want_out[0]);
    assert_int_equal(got[0]->dims[1], want_out[1]);
    expect_tensors_close("output vs body", c, got[0], exp_out[0]);
    for (int o = 1; o < at.n_outputs; o++) {
        /* the caches are copies with exact writes: bit-identical */
        if (!ocs_tensor_equal(got[o], exp_out[o]))
            fail_msg("%s: cache output %d differs between the kernel and the body", c->name, o);
    }
    if (c->check_naive) {
        naive_result r = naive(c, &x);
        expect_close("output vs naive", c, got[0], r.out, (size_t)(x.T * c->H * c->D));
        if (at.n_outputs == 3) {
            expect_close("key_cache_out vs naive", c, got[1], r.kc, got[1]->numel);
            expect_close("value_cache_out vs naive", c, got[2], r.vc, got[2]->numel);
            /* the writes are exact: every cache element equals the expected double exactly */
            for (size_t i = 0; i < got[1]->numel; i++) {
                assert_true(ocs_tensor_get_f64(got[1], i) == r.kc[i]);
                assert_true(ocs_tensor_get_f64(got[2], i) == r.vc[i]);
            }
        }
        free(r.out);
        free(r.kc);
        free(r.vc);
    }
    for (int o = 0; o < 3; o++) {
        ocs_tensor_free(got[o]);
        ocs_tensor_free(exp_out[o]);
    }
    ocs_model_free(e);
    ocs_model_free(m);
    free_inputs(&x);
}

/* The same case in float16 and bfloat16 storage. */
static void run_case_all_types(pa_case c)
{
    run_case(&c);
    c.dtype = OCS_FLOAT16;
    run_case(&c);
    c.dtype = OCS_BFLOAT16;
    run_case(&c);
}

/* ---- valid cases --------------------------------------------------------------------------- */

static void test_decode(void **state)
{
    (void)state;
    pa_case c = {.name = "decode", .dtype = OCS_FLOAT, .H = 4, .Hkv = 2, .D = 8, .BS = 4, .B = 3,
                 .past = {4, 9, 1}, .nnew = {1, 1, 1}, .check_naive = 1, .seed = 1};
    run_case_all_types(c);
}

static void test_prefill(void **state)
{
    (void)state;
    pa_case c = {.name = "prefill", .dtype = OCS_FLOAT, .H = 2, .Hkv = 2, .D = 8, .BS = 4, .B = 2,
                 .past = {0, 0}, .nnew = {5, 3}, .check_naive = 1, .seed = 2};
    run_case_all_types(c);
}

static void test_chunked_prefill(void **state)
{
    (void)state;
    pa_case c = {.name = "chunked prefill", .dtype = OCS_FLOAT, .H = 4, .Hkv = 1, .D = 8, .BS = 4, .B = 2,
                 .past = {6, 3}, .nnew = {4, 5}, .check_naive = 1, .seed = 3};
    run_case(&c);
}

static void test_mixed_batch(void **state)
{
    (void)state;
    /* prefill, decode, a sequence with no new tokens, chunked prefill */
    pa_case c = {.name = "mixed batch", .dtype = OCS_FLOAT, .H = 4, .Hkv = 2, .D = 8, .BS = 4, .B = 4,
                 .past = {0, 7, 3, 12}, .nnew = {5, 1, 0, 3}, .check_naive = 1, .seed = 4};
    run_case_all_types(c);
}

static void test_zero_new_tokens(void **state)
{
    (void)state;
    /* sequence 1 has no new tokens: its row (bad ids, too) is never examined */
    static const int table[3 * 3] = {2, 0, -1, 99, -7, 1000, 3, 1, -1};
    pa_case c = {.name = "zero new tokens", .dtype = OCS_FLOAT, .H = 2, .Hkv = 1, .D = 8, .BS = 3, .B = 3,
                 .past = {4, 5, 2}, .nnew = {2, 0, 3}, .NB = 5, .MB = 3, .table = table, .check_naive = 1,
                 .seed = 5};
    run_case(&c);
    /* no new tokens at all: the caches come back unchanged, the output is empty */
    pa_case z = {.name = "no tokens", .dtype = OCS_FLOAT, .H = 2, .Hkv = 1, .D = 8, .BS = 2, .B = 2,
                 .past = {3, 0}, .nnew = {0, 0}, .NB = 2, .MB = 2, .check_naive = 1, .seed = 6};
    run_case(&z);
}

static void test_block_size_1(void **state)
{
    (void)state;
    pa_case c = {.name = "block_size 1", .dtype = OCS_FLOAT, .H = 2, .Hkv = 1, .D = 8, .BS = 1, .B = 3,
                 .past = {3, 0, 5}, .nnew = {2, 3, 1}, .check_naive = 1, .seed = 7};
    run_case_all_types(c);
}

static void test_block_size_16(void **state)
{
    (void)state;
    pa_case c = {.name = "block_size 16", .dtype = OCS_FLOAT, .H = 2, .Hkv = 2, .D = 8, .BS = 16, .B = 2,
                 .past = {20, 14}, .nnew = {3, 4}, .check_naive = 1, .seed = 8};
    run_case(&c);
}

static void test_head_sizes(void **state)
{
    (void)state;
    pa_case c40 = {.name = "head_size 40", .dtype = OCS_FLOAT, .H = 2, .Hkv = 1, .D = 40, .BS = 4, .B = 2,
                   .past = {3, 6}, .nnew = {2, 1}, .check_naive = 1, .seed = 9};
    run_case(&c40);
    pa_case c128 = {.name = "head_size 128", .dtype = OCS_FLOAT, .H = 2, .Hkv = 2, .D = 128, .BS = 4, .B = 2,
                    .past = {2, 5}, .nnew = {3, 1}, .check_naive = 1, .seed = 10};
    run_case(&c128);
    c128.dtype = OCS_FLOAT16;
    run_case(&c128);
}

static void test_windows(void **state)
{
    (void)state;
    static const int64_t windows[] = {1, 2, 3, 100};
    for (size_t i = 0; i < sizeof windows / sizeof windows[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "window %lld", (long long)windows[i]);
        pa_case c = {.name = name, .dtype = OCS_FLOAT, .H = 4, .Hkv = 2, .D = 8, .BS = 2, .B = 3,
                     .past = {0, 5, 2}, .nnew = {4, 1, 3}, .W = windows[i], .check_naive = 1, .seed = 11 + i};
        run_case(&c);
    }
    /* explicitly off */
    pa_case off = {.name = "window off", .dtype = OCS_FLOAT, .H = 4, .Hkv = 2, .D = 8, .BS = 2, .B = 3,
                   .past = {0, 5, 2}, .nnew = {4, 1, 3}, .W = -1, .check_naive = 1, .seed = 11};
    run_case(&off);
    off.W = 2;
    off.dtype = OCS_BFLOAT16;
    run_case(&off);
}

static void test_window_changes_result(void **state)
{
    (void)state;
    /* W = 1 attends to the token itself only: the output equals its own (new) value */
    pa_case c = {.name = "window 1 identity", .dtype = OCS_FLOAT, .H = 2, .Hkv = 2, .D = 4, .BS = 2, .B = 1,
                 .past = {3}, .nnew = {2}, .W = 1, .seed = 12};
    pa_inputs x;
    make_inputs(&c, &x);
    pa_attrs at = attrs_of(&c);
    ocs_model *m = build_model(&at, x.in, 10);
    ocs_tensor *out[3] = {0};
    ocs_err err;
    if (run_model(m, x.in, 10, out, &err) != OCS_OK)
        fail_msg("%s", err.msg);
    for (size_t i = 0; i < out[0]->numel; i++)
        assert_true(ocs_tensor_get_f64(out[0], i) == ocs_tensor_get_f64(x.in[2], i));
    for (int o = 0; o < 3; o++)
        ocs_tensor_free(out[o]);
    ocs_model_free(m);
    free_inputs(&x);
}

static void test_gqa_ratios(void **state)
{
    (void)state;
    static const int64_t heads[][2] = {{2, 2}, {8, 2}, {8, 1}};
    for (size_t i = 0; i < 3; i++) {
        char name[64];
        snprintf(name, sizeof name, "GQA %lld/%lld", (long long)heads[i][0], (long long)heads[i][1]);
        pa_case c = {.name = name, .dtype = OCS_FLOAT, .H = heads[i][0], .Hkv = heads[i][1], .D = 8, .BS = 4,
                     .B = 2, .past = {5, 0}, .nnew = {2, 3}, .check_naive = 1, .seed = 20 + i};
        run_case(&c);
    }
}

static void test_shared_prefix(void **state)
{
    (void)state;
    /* sequences 0 and 1 share blocks 4 and 1 (positions 0..7); each writes its own next block */
    static const int table[3 * 4] = {4, 1, 0, -1, 4, 1, 2, -1, 4, 3, -1, -1};
    pa_case c = {.name = "shared prefix", .dtype = OCS_FLOAT, .H = 4, .Hkv = 2, .D = 8, .BS = 4, .B = 3,
                 .past = {8, 9, 4}, .nnew = {2, 1, 3}, .NB = 6, .MB = 4, .table = table, .check_naive = 1,
                 .seed = 30};
    run_case_all_types(c);
}

static void test_packed_qkv(void **state)
{
    (void)state;
    pa_case c = {.name = "packed QKV", .dtype = OCS_FLOAT, .H = 4, .Hkv = 2, .D = 8, .BS = 4, .B = 3,
                 .past = {0, 6, 2}, .nnew = {3, 1, 2}, .packed = 1, .check_naive = 1, .seed = 31};
    run_case_all_types(c);
    c.name = "packed QKV + rotary";
    c.rotary = 1;
    c.seed = 32;
    run_case(&c);
}

static void test_softcap_and_scale(void **state)
{
    (void)state;
    pa_case c = {.name = "softcap", .dtype = OCS_FLOAT, .H = 4, .Hkv = 2, .D = 8, .BS = 4, .B = 2,
                 .past = {3, 7}, .nnew = {3, 1}, .softcap = 0.7f, .scale = 1.5f, .check_naive = 1, .seed = 33};
    run_case_all_types(c);
    c.name = "scale";
    c.softcap = 0.0f;
    c.scale = 0.3f;
    run_case(&c);
    c.name = "softcap only";
    c.softcap = 0.2f;
    c.scale = 0.0f;
    run_case(&c);
}

static void test_rotary(void **state)
{
    (void)state;
    pa_case c = {.name = "rotary", .dtype = OCS_FLOAT, .H = 4, .Hkv = 2, .D = 8, .BS = 4, .B = 3,
                 .past = {0, 6, 3}, .nnew = {3, 1, 2}, .rotary = 1, .check_naive = 1, .seed = 40};
    run_case_all_types(c);
    c.name = "rotary interleaved";
    c.interleaved = 1;
    run_case_all_types(c);
    c.name = "rotary partial";
    c.interleaved = 0;
    c.D = 16;
    c.half = 4;   /* rotary_dim 8 of 16 */
    c.max_pos = 20;
    run_case(&c);
    c.name = "rotary partial interleaved";
    c.interleaved = 1;
    run_case(&c);
    c.name = "rotary with window and GQA 4";
    c.H = 8;
    c.W = 2;
    run_case(&c);
}

static void test_filler_ids(void **state)
{
    (void)state;
    /* ids past the live positions are ignored, whatever they are */
    static const int table[2 * 4] = {3, -1, -1, -1, 0, 2, 77, -5};
    pa_case c = {.name = "filler ids", .dtype = OCS_FLOAT, .H = 2, .Hkv = 1, .D = 8, .BS = 4, .B = 2,
                 .past = {1, 5}, .nnew = {2, 2}, .NB = 4, .MB = 4, .table = table, .check_naive = 1, .seed = 50};
    run_case(&c);
}

static void test_without_cache_outputs(void **state)
{
    (void)state;
    pa_case c = {.name = "output only", .dtype = OCS_FLOAT, .H = 4, .Hkv = 2, .D = 8, .BS = 4, .B = 2,
                 .past = {5, 0}, .nnew = {2, 3}, .no_cache_outputs = 1, .check_naive = 1, .seed = 51};
    run_case(&c);
}

static void test_write_then_read_across_sequences(void **state)
{
    (void)state;
    /* sequence 1 reads position 3 of block 2 as history while sequence 0 writes it in the
     * same call: the write comes first, so sequence 1 sees the new key */
    static const int table[2 * 2] = {0, 2, 2, 1};
    pa_case c = {.name = "write then read", .dtype = OCS_FLOAT, .H = 2, .Hkv = 1, .D = 4, .BS = 4, .B = 2,
                 .past = {7, 4}, .nnew = {1, 1}, .NB = 3, .MB = 2, .table = table, .check_naive = 1, .seed = 52};
    run_case(&c);
}

/* One expanded model serves inputs of any batch, token count, block size and block count. */
static void test_body_dynamic_shapes(void **state)
{
    (void)state;
    pa_case c1 = {.name = "dynamic 1", .dtype = OCS_FLOAT, .H = 4, .Hkv = 2, .D = 8, .BS = 4, .B = 2,
                  .past = {5, 0}, .nnew = {2, 3}, .rotary = 1, .W = 3, .seed = 70};
    pa_case c2 = {.name = "dynamic 2", .dtype = OCS_FLOAT, .H = 4, .Hkv = 2, .D = 8, .BS = 2, .B = 4,
                  .past = {0, 9, 1, 4}, .nnew = {4, 1, 0, 2}, .rotary = 1, .W = 3, .seed = 71};
    pa_inputs x1, x2;
    make_inputs(&c1, &x1);
    make_inputs(&c2, &x2);
    pa_attrs at = attrs_of(&c1);
    ocs_model *m = build_model_sym(&at, x1.in, 10, 1);
    ocs_model *e = NULL;
    ocs_err err;
    if (ocs_model_expand(m, &e, &err) != OCS_OK)
        fail_msg("expand: %s", err.msg);
    pa_inputs *xs[2] = {&x1, &x2};
    for (int k = 0; k < 2; k++) {
        ocs_tensor *a[3] = {0}, *b[3] = {0};
        if (run_model(m, xs[k]->in, 10, a, &err) != OCS_OK)
            fail_msg("kernel: %s", err.msg);
        if (run_model(e, xs[k]->in, 10, b, &err) != OCS_OK)
            fail_msg("expanded: %s", err.msg);
        expect_tensors_close("dynamic output", k ? &c2 : &c1, a[0], b[0]);
        assert_true(ocs_tensor_equal(a[1], b[1]));
        assert_true(ocs_tensor_equal(a[2], b[2]));
        for (int o = 0; o < 3; o++) {
            ocs_tensor_free(a[o]);
            ocs_tensor_free(b[o]);
        }
    }
    ocs_model_free(e);
    ocs_model_free(m);
    free_inputs(&x1);
    free_inputs(&x2);
}

/* The schema's worked example runs, and its body agrees. */
static void test_example(void **state)
{
    (void)state;
    const ocs_schema *s = ocs_schema_find(OCS_PREVIEW_DOMAIN, "PagedAttention", 1);
    assert_non_null(s);
    assert_non_null(s->example);
    assert_non_null(s->summary);
    assert_true(s->n_errors >= 15);
    ocs_doc_example ex = {0};
    ocs_err err;
    assert_int_equal(s->example(&ex, &err), OCS_OK);
    ocs_model *m = NULL;
    assert_int_equal(ocs_model_new(&m, &err), OCS_OK);
    assert_int_equal(ocs_model_import(m, OCS_PREVIEW_DOMAIN, 1, &err), OCS_OK);
    ocs_graph_free(m->graph);
    m->graph = ex.graph;
    ocs_tensor *a[3] = {0}, *b[3] = {0};
    if (run_model(m, (ocs_tensor *[10]){0}, 0, a, &err) != OCS_OK)
        fail_msg("example: %s", err.msg);
    ocs_model *e = NULL;
    if (ocs_model_expand(m, &e, &err) != OCS_OK)
        fail_msg("example expand: %s", err.msg);
    if (run_model(e, (ocs_tensor *[10]){0}, 0, b, &err) != OCS_OK)
        fail_msg("example expanded: %s", err.msg);
    pa_case c = {.name = "example", .dtype = OCS_FLOAT};
    expect_tensors_close("example output", &c, a[0], b[0]);
    assert_true(ocs_tensor_equal(a[1], b[1]));
    assert_true(ocs_tensor_equal(a[2], b[2]));
    for (int o = 0; o < 3; o++) {
        ocs_tensor_free(a[o]);
        ocs_tensor_free(b[o]);
    }
    ocs_model_free(e);
    ocs_model_free(m);
}

/* Shape inference with partly unknown shapes. */
static void test_infer(void **state)
{
    (void)state;
    const ocs_schema *s = ocs_schema_find(OCS_PREVIEW_DOMAIN, "PagedAttention", 1);
    pa_case c = {.name = "infer", .dtype = OCS_FLOAT16, .H = 4, .Hkv = 2, .D = 8, .BS = 4, .B = 1, .past = {0},
                 .nnew = {2}, .packed = 1};
    pa_inputs x;
    make_inputs(&c, &x);
    pa_attrs at = attrs_of(&c);
    ocs_model *m = build_model(&at, x.in, 10);
    ocs_tensor_type in[10], out[3];
    for (int i = 0; i < 10; i++)
        ocs_tensor_type_of(x.in[i], &in[i]);
    in[0].dims[0] = -1;   /* symbolic token count */
    in[3].rank = -1;      /* key_cache shape unknown: head_size from value_cache */
    ocs_err err;
    assert_int_equal(s->infer(&m->graph->nodes[0], 10, in, 3, out, &err), OCS_OK);
    assert_int_equal(out[0].dtype, OCS_FLOAT16);
    assert_int_equal(out[0].rank, 2);
    assert_int_equal(out[0].dims[0], -1);
    assert_int_equal(out[0].dims[1], 32);
    assert_int_equal(out[1].rank, 4);
    assert_int_equal(out[1].dims[3], 8);
    assert_int_equal(out[2].dims[2], 2);
    ocs_model_free(m);
    free_inputs(&x);
}

/* ---- errors -------------------------------------------------------------------------------- */

/*
 * Expects the model built from (attributes, inputs) to fail with want in the message, on the
 * session path and on a direct kernel call; ASan proves neither reads out of bounds.
 */
static void expect_error(const pa_attrs *at, ocs_tensor *const *in, const char *want)
{
    ocs_model *m = build_model(at, in, 10);
    ocs_tensor *out[3] = {0};
    ocs_err err;
    err.msg[0] = '\0';
    ocs_status st = run_model(m, in, 10, out, &err);
    for (int o = 0; o < 3; o++)
        ocs_tensor_free(out[o]);
    if (st == OCS_OK)
        fail_msg("expected an error containing '%s', the model ran", want);
    assert_int_equal(st, OCS_ERR_INVALID);
    if (!strstr(err.msg, want))
        fail_msg("session error '%s' lacks '%s'", err.msg, want);

    /* the kernel alone */
    const ocs_tensor *ins[10];
    const ocs_value *vals[10] = {0};
    for (int i = 0; i < 10; i++)
        ins[i] = in[i];
    ocs_tensor *kout[3] = {0};
    ocs_value *kvals[3] = {0};
    const ocs_node *n = &m->graph->nodes[0];
    ocs_kernel_args a = {.node = n, .since_version = 1, .n_inputs = n->n_inputs, .inputs = ins, .values = vals,
                         .n_outputs = n->n_outputs, .outputs = kout, .out_values = kvals, .err = &err};
    err.msg[0] = '\0';
    st = ocs_ref_PagedAttention(&a);
    for (int o = 0; o < 3; o++)
        ocs_tensor_free(kout[o]);
    if (st == OCS_OK)
        fail_msg("expected the kernel to fail with '%s'", want);
    assert_int_equal(st, OCS_ERR_INVALID);
    if (!strstr(err.msg, want))
        fail_msg("kernel error '%s' lacks '%s'", err.msg, want);
    ocs_model_free(m);
}

/* A small valid setup to break in one place: 2 sequences, block_size 2, 4 blocks. */
static const pa_case base_case = {.name = "base", .dtype = OCS_FLOAT, .H = 2, .Hkv = 1, .D = 4, .BS = 2, .B = 2,
                                  .past = {1, 2}, .nnew = {2, 1}, .NB = 4, .MB = 2, .seed = 60};

static void with_base(pa_inputs *x, pa_attrs *at)
{
    static const int table[4] = {2, 0, 1, 3};
    pa_case c = base_case;
    c.table = table;
    make_inputs(&c, x);
    *at = attrs_of(&c);
}

static int32_t *i32(pa_inputs *x, int i)
{
    return x->in[i]->data;
}

static void replace(pa_inputs *x, int i, ocs_tensor *t)
{
    ocs_tensor_free(x->in[i]);
    x->in[i] = t;
}

static void test_error_attributes(void **state)
{
    (void)state;
    pa_inputs x;
    pa_attrs at;
    with_base(&x, &at);
    pa_attrs a = at;
    a.H = 0;
    expect_error(&a, x.in, "must be positive");
    a = at;
    a.Hkv = -1;
    expect_error(&a, x.in, "must be positive");
    a = at;
    a.H = 3;
    a.Hkv = 2;
    expect_error(&a, x.in, "num_heads 3 is not a multiple of kv_num_heads 2");
    a = at;
    a.set_W = 1;
    a.W = 0;
    expect_error(&a, x.in, "local_window_size must be -1 (no window) or >= 1, got 0");
    a.W = -2;
    expect_error(&a, x.in, "got -2");
    a = at;
    a.set_rotary = 1;
    a.rotary = 2;
    expect_error(&a, x.in, "do_rotary must be 0 or 1, got 2");
    a = at;
    a.set_interleaved = 1;
    a.interleaved = -1;
    expect_error(&a, x.in, "rotary_interleaved must be 0 or 1, got -1");
    free_inputs(&x);
}

static void test_error_optional_inputs(void **state)
{
    (void)state;
    pa_inputs x;
    pa_attrs at;
    with_base(&x, &at);
    ocs_tensor *v = x.in[2];
    x.in[2] = NULL;
    expect_error(&at, x.in, "key and value must be both present or both absent");
    x.in[2] = v;
    /* rotary tables: one without the other, or none with do_rotary */
    pa_case rc = base_case;
    rc.rotary = 1;
    pa_inputs r;
    make_inputs(&rc, &r);
    pa_attrs ra = attrs_of(&rc);
    ocs_tensor *sn = r.in[9];
    r.in[9] = NULL;
    expect_error(&ra, r.in, "cos_cache and sin_cache must be both present or both absent");
    ocs_tensor *cs = r.in[8];
    r.in[8] = NULL;
    expect_error(&ra, r.in, "do_rotary = 1 needs cos_cache and sin_cache");
    r.in[8] = cs;
    r.in[9] = sn;
    free_inputs(&r);
    free_inputs(&x);
}

static void test_error_ranks_and_types(void **state)
{
    (void)state;
    pa_inputs x;
    pa_attrs at;
    with_base(&x, &at);
    /* query 3-D */
    ocs_tensor *q = x.in[0];
    const int64_t d3[3] = {3, 2, 4};
    x.in[0] = new_tensor(OCS_FLOAT, 3, d3);
    expect_error(&at, x.in, "input 0 (query) must be 2-D, got rank 3");
    ocs_tensor_free(x.in[0]);
    x.in[0] = q;
    /* block_table 1-D */
    ocs_tensor *bt = x.in[7];
    const int64_t d4[1] = {4};
    x.in[7] = new_tensor(OCS_INT32, 1, d4);
    expect_error(&at, x.in, "input 7 (block_table) must be 2-D, got rank 1");
    ocs_tensor_free(x.in[7]);
    x.in[7] = bt;
    /* a cache 3-D */
    ocs_tensor *vc = x.in[4];
    const int64_t dc3[3] = {4, 2, 4};
    x.in[4] = new_tensor(OCS_FLOAT, 3, dc3);
    expect_error(&at, x.in, "input 4 (value_cache) must be 4-D");
    ocs_tensor_free(x.in[4]);
    x.in[4] = vc;
    /* past_seqlens 2-D */
    ocs_tensor *past = x.in[6];
    const int64_t dp[2] = {2, 1};
    x.in[6] = new_tensor(OCS_INT32, 2, dp);
    expect_error(&at, x.in, "input 6 (past_seqlens) must be 1-D");
    ocs_tensor_free(x.in[6]);
    x.in[6] = past;
    /* key in another float type */
    ocs_tensor *k = x.in[1];
    x.in[1] = new_tensor(OCS_FLOAT16, k->rank, k->dims);
    expect_error(&at, x.in, "input 1 (key) has type FLOAT16");
    ocs_tensor_free(x.in[1]);
    x.in[1] = k;
    /* index input int64 */
    ocs_tensor *cu = x.in[5];
    x.in[5] = new_tensor(OCS_INT64, cu->rank, cu->dims);
    expect_error(&at, x.in, "input 5 (cumulative_sequence_length) must be INT32");
    ocs_tensor_free(x.in[5]);
    x.in[5] = cu;
    free_inputs(&x);

    /* T outside {float, float16, bfloat16} */
    pa_case dc = base_case;
    dc.dtype = OCS_DOUBLE;
    make_inputs(&dc, &x);
    expect_error(&at, x.in, "input 0 (query) has type DOUBLE");
    free_inputs(&x);
}

static void test_error_cache_shapes(void **state)
{
    (void)state;
    pa_inputs x;
    pa_attrs at;
    with_base(&x, &at);
    const int64_t other[4] = {5, 2, 1, 4};
    replace(&x, 4, new_tensor(OCS_FLOAT, 4, other));
    expect_error(&at, x.in, "key_cache and value_cache differ in shape");
    free_inputs(&x);

    /* dimension 2 is not kv_num_heads */
    with_base(&x, &at);
    const int64_t heads2[4] = {4, 2, 2, 2};
    replace(&x, 3, new_tensor(OCS_FLOAT, 4, heads2));
    replace(&x, 4, new_tensor(OCS_FLOAT, 4, heads2));
    expect_error(&at, x.in, "not kv_num_heads 1");
    free_inputs(&x);

    /* zero blocks */
    with_base(&x, &at);
    const int64_t none[4] = {0, 2, 1, 4};
    replace(&x, 3, new_tensor(OCS_FLOAT, 4, none));
    replace(&x, 4, new_tensor(OCS_FLOAT, 4, none));
    expect_error(&at, x.in, "has a zero dimension");
    free_inputs(&x);
}

static void test_error_head_size(void **state)
{
    (void)state;
    pa_inputs x;
    pa_attrs at;
    with_base(&x, &at);
    /* query width 10 is not 2 heads * 4 */
    const int64_t dq[2] = {3, 10};
    replace(&x, 0, new_tensor(OCS_FLOAT, 2, dq));
    expect_error(&at, x.in, "query width 10 is not num_heads*head_size = 8");
    free_inputs(&x);

    with_base(&x, &at);
    const int64_t dk[2] = {3, 6};
    replace(&x, 1, new_tensor(OCS_FLOAT, 2, dk));
    expect_error(&at, x.in, "key width 6 is not kv_num_heads*head_size = 4");
    free_inputs(&x);

    with_base(&x, &at);
    replace(&x, 2, new_tensor(OCS_FLOAT, 2, dk));
    expect_error(&at, x.in, "value width 6");
    free_inputs(&x);

    /* packed: the width must be (2 + 2*1) * 4 = 16 */
    with_base(&x, &at);
    ocs_tensor_free(x.in[1]);
    ocs_tensor_free(x.in[2]);
    x.in[1] = x.in[2] = NULL;
    expect_error(&at, x.in, "query width 8 is not (num_heads + 2*kv_num_heads)*head_size = 16");
    free_inputs(&x);

    /* head counts whose widths overflow int64: a clean error, no overflow */
    with_base(&x, &at);
    pa_attrs huge = at;
    huge.H = INT64_C(1) << 62;   /* H * head_size 4 overflows; kv_num_heads stays 1 */
    expect_error(&huge, x.in, "query width 8 is not num_heads*head_size");
    ocs_tensor_free(x.in[1]);
    ocs_tensor_free(x.in[2]);
    x.in[1] = x.in[2] = NULL;
    expect_error(&huge, x.in, "query width 8 is not (num_heads + 2*kv_num_heads)*head_size");
    free_inputs(&x);

    /* key rows differ from query rows */
    with_base(&x, &at);
    const int64_t dk2[2] = {2, 4};
    replace(&x, 1, new_tensor(OCS_FLOAT, 2, dk2));
    expect_error(&at, x.in, "key has 2 tokens but query has 3");
    free_inputs(&x);
}

static void test_error_metadata_shapes(void **state)
{
    (void)state;
    pa_inputs x;
    pa_attrs at;
    with_base(&x, &at);
    const int64_t d2[1] = {2};
    replace(&x, 5, new_tensor(OCS_INT32, 1, d2));
    expect_error(&at, x.in, "cumulative_sequence_length has 2 entries; expected batch_size + 1 = 3");
    free_inputs(&x);

    with_base(&x, &at);
    const int64_t dt[2] = {3, 2};
    replace(&x, 7, new_tensor(OCS_INT32, 2, dt));
    expect_error(&at, x.in, "block_table has 3 rows; expected batch_size 2");
    free_inputs(&x);
}

static void test_error_cumulative_lengths(void **state)
{
    (void)state;
    pa_inputs x;
    pa_attrs at;
    with_base(&x, &at);
    int32_t *cu = i32(&x, 5);
    cu[0] = 1;
    expect_error(&at, x.in, "cumulative_sequence_length[0] is 1; it must be 0");
    cu[0] = 0;
    cu[1] = 4;   /* 0, 4, 3 */
    expect_error(&at, x.in, "cumulative_sequence_length decreases at sequence 1 (4 then 3)");
    cu[1] = 2;
    cu[2] = 2;   /* ends at 2, 3 tokens */
    expect_error(&at, x.in, "cumulative_sequence_length ends at 2 but query has 3 tokens");
    cu[2] = 4;
    expect_error(&at, x.in, "ends at 4");
    free_inputs(&x);
}

static void test_error_past(void **state)
{
    (void)state;
    pa_inputs x;
    pa_attrs at;
    with_base(&x, &at);
    i32(&x, 6)[1] = -1;
    expect_error(&at, x.in, "past_seqlens[1] = -1 is negative");
    /* capacity: 2 blocks of 2 hold 4 positions; 3 + 2 = 5 */
    i32(&x, 6)[1] = 2;
    i32(&x, 6)[0] = 3;
    expect_error(&at, x.in, "sequence 0 needs 5 positions (past 3 + new 2)");
    /* the largest int32 past does not overflow */
    i32(&x, 6)[0] = INT32_MAX;
    expect_error(&at, x.in, "sequence 0 needs 2147483649 positions");
    free_inputs(&x);
}

static void test_error_block_ids(void **state)
{
    (void)state;
    pa_inputs x;
    pa_attrs at;
    with_base(&x, &at);
    int32_t *table = i32(&x, 7);   /* rows {2, 0}, {1, 3} */
    table[1] = 4;                  /* sequence 0's second block: positions 2..3, live */
    expect_error(&at, x.in, "block_table[0][1] = 4 (positions 2..3 of sequence 0) is outside [0, num_blocks 4)");
    table[1] = -1;
    expect_error(&at, x.in, "block_table[0][1] = -1");
    table[1] = 0;
    table[2] = -1;                 /* sequence 1's first block holds its past: still live */
    expect_error(&at, x.in, "block_table[1][0] = -1");
    table[2] = INT32_MIN;
    expect_error(&at, x.in, "block_table[1][0] = -2147483648");
    free_inputs(&x);
}

static void test_error_duplicate_slots(void **state)
{
    (void)state;
    pa_inputs x;
    pa_attrs at;
    with_base(&x, &at);
    int32_t *table = i32(&x, 7);
    /* sequence 0 writes positions 1 (block 2) and 2 (block 0); sequence 1 writes position 2
     * into block 3: make it block 0 as well */
    table[3] = 0;
    expect_error(&at, x.in, "tokens 1 (sequence 0, position 2) and 2 (sequence 1, position 2) both write cache slot 0");
    free_inputs(&x);

    /* within one sequence: its row names the same block twice */
    static const int tab[4] = {1, 1, 2, 3};
    pa_case c = base_case;
    c.past[0] = 0;
    c.nnew[0] = 4;
    c.past[1] = 0;
    c.nnew[1] = 1;
    c.table = tab;
    make_inputs(&c, &x);
    at = attrs_of(&c);
    expect_error(&at, x.in, "tokens 0 (sequence 0, position 0) and 2 (sequence 0, position 2) both write cache slot 2");
    free_inputs(&x);
}

static void test_error_rotary(void **state)
{
    (void)state;
    pa_case c = base_case;
    c.rotary = 1;
    static const int table[4] = {2, 0, 1, 3};
    c.table = table;
    c.max_pos = 3;   /* positions 1, 2 and 2 need 3 rows: fine; then shrink */
    pa_inputs x;
    make_inputs(&c, &x);
    pa_attrs at = attrs_of(&c);
    ocs_tensor *out[3] = {0};
    ocs_model *m = build_model(&at, x.in, 10);
    ocs_err err;
    if (run_model(m, x.in, 10, out, &err) != OCS_OK)
        fail_msg("rotary base: %s", err.msg);
    for (int o = 0; o < 3; o++)
        ocs_tensor_free(out[o]);
    ocs_model_free(m);
    free_inputs(&x);

    c.max_pos = 2;
    make_inputs(&c, &x);
    expect_error(&at, x.in, "sequence 0 needs rotary position 2 but cos_cache/sin_cache have 2 rows");
    free_inputs(&x);

    /* rotary dimension beyond head_size (3 pairs = 6 > 4) */
    c.max_pos = 0;
    c.half = 3;
    make_inputs(&c, &x);
    expect_error(&at, x.in, "rotary_dim 2*cos_cache.shape[1] = 6 must be in [2, head_size 4]");
    free_inputs(&x);

    /* cos and sin shapes differ */
    c.half = 0;
    make_inputs(&c, &x);
    const int64_t d[2] = {x.in[9]->dims[0] + 1, x.in[9]->dims[1]};
    replace(&x, 9, new_tensor(OCS_FLOAT, 2, d));
    expect_error(&at, x.in, "differ in shape");
    free_inputs(&x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode),
        cmocka_unit_test(test_prefill),
        cmocka_unit_test(test_chunked_prefill),
        cmocka_unit_test(test_mixed_batch),
        cmocka_unit_test(test_zero_new_tokens),
        cmocka_unit_test(test_block_size_1),
        cmocka_unit_test(test_block_size_16),
        cmocka_unit_test(test_head_sizes),
        cmocka_unit_test(test_windows),
        cmocka_unit_test(test_window_changes_result),
        cmocka_unit_test(test_gqa_ratios),
        cmocka_unit_test(test_shared_prefix),
        cmocka_unit_test(test_packed_qkv),
        cmocka_unit_test(test_softcap_and_scale),
        cmocka_unit_test(test_rotary),
        cmocka_unit_test(test_filler_ids),
        cmocka_unit_test(test_without_cache_outputs),
        cmocka_unit_test(test_write_then_read_across_sequences),
        cmocka_unit_test(test_body_dynamic_shapes),
        cmocka_unit_test(test_example),
        cmocka_unit_test(test_infer),
        cmocka_unit_test(test_error_attributes),
        cmocka_unit_test(test_error_optional_inputs),
        cmocka_unit_test(test_error_ranks_and_types),
        cmocka_unit_test(test_error_cache_shapes),
        cmocka_unit_test(test_error_head_size),
        cmocka_unit_test(test_error_metadata_shapes),
        cmocka_unit_test(test_error_cumulative_lengths),
        cmocka_unit_test(test_error_past),
        cmocka_unit_test(test_error_block_ids),
        cmocka_unit_test(test_error_duplicate_slots),
        cmocka_unit_test(test_error_rotary),
    };
    return cmocka_run_group_tests_name("paged_attention", tests, NULL, NULL);
}
