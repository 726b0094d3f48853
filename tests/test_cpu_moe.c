/*
 * tests/test_cpu_moe.c - the cpu backend's MoE against the reference.
 *
 * Each case is a one-node MoE model with generated inputs (fixed seeds),
 * run by the reference alone and by a session whose only backend is cpu
 * with the reference fallback forbidden, so the cpu kernel itself answers.
 * Covered: every canonical expert (ffn with each activation, glu in each
 * layout, OpenAI SwiGLU with and without clamp, with and without biases),
 * every canonical router and the default one, E not a power of two, k = 1
 * and k = E, 1 / 5 / 64 / 300 tokens (both the streaming and the sgemm
 * paths, and the boundary between them), experts that receive no token,
 * tied logits, weight_position "input" and "output", float16 and bfloat16;
 * a non-canonical hook is not claimed; malformed nodes fail cleanly.
 *
 * Tolerance: float32 |cpu - ref| <= 1e-4 |ref| + 1e-5 max|ref| (the cpu
 * backend accumulates in float32, the reference in double); float16 and
 * bfloat16 results are compared with rtol 1e-2 / 4e-2 and atol of the same
 * size times max|ref| (the intermediate roundings are at the same places,
 * the accumulation order differs).
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

#include "ocs/backend.h"
#include "ocs/build.h"
#include "ocs/hooks.h"
#include "ocs/schema.h"

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static ocs_backend *cpu;

static int setup(void **state)
{
    (void)state;
    ocs_err err = {{0}};
    if (ocs_backend_open("cpu", &cpu, &err) != OCS_OK) {
        fprintf(stderr, "cannot open the cpu backend: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ocs_backend_close(cpu);
    return 0;
}

/* ---- deterministic data ------------------------------------------------------------------ */

static uint32_t rng_next(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

/* Uniform in [lo, hi). */
static double rng_uniform(uint32_t *s, double lo, double hi)
{
    return lo + (hi - lo) * (double)rng_next(s) / 16777216.0;
}

static ocs_tensor *random_tensor(ocs_dtype t, int rank, const int64_t *dims, double scale, uint32_t *seed)
{
    ocs_tensor *x = NULL;
    assert_int_equal(ocs_tensor_new(t, rank, dims, &x, NULL), OCS_OK);
    for (size_t i = 0; i < x->numel; i++)
        ocs_tensor_set_f64(x, i, rng_uniform(seed, -scale, scale));
    return x;
}

/* ---- cases ---------------------------------------------------------------------------------- */

typedef struct moe_case {
    const char *name;
    ocs_dtype t;
    size_t T, E, H, I;
    int64_t k;
    int x_rank3;                 /* input as [T0, T / T0, H] */
    const char *weight_position; /* NULL: attribute absent */
    /* expert */
    int gated, oai;
    ocs_moe_act act;
    ocs_moe_layout layout;
    int bias;
    float alpha, beta, limit;
    /* router: NULL build function means the default router */
    ocs_status (*router)(ocs_dtype, const struct moe_case *, ocs_graph **);
    ocs_moe_grouped grouped;     /* for the sigmoid_grouped router */
    /* logits: 0 random, 1 ties (every logit of some tokens equal), 2 expert E-1 never wins,
     * 3 the first `split` tokens prefer expert 0, the rest expert 1 */
    int logits_mode;
    size_t split;
    uint32_t seed;
} moe_case;

static ocs_status router_softmax_topk(ocs_dtype t, const moe_case *c, ocs_graph **g)
{
    return ocs_moe_router_softmax_topk(t, c->k, 0, g, NULL);
}

static ocs_status router_softmax_topk_renorm(ocs_dtype t, const moe_case *c, ocs_graph **g)
{
    return ocs_moe_router_softmax_topk(t, c->k, 1, g, NULL);
}

static ocs_status router_topk_softmax(ocs_dtype t, const moe_case *c, ocs_graph **g)
{
    return ocs_moe_router_topk_softmax(t, c->k, g, NULL);
}

static ocs_status router_topk_sigmoid(ocs_dtype t, const moe_case *c, ocs_graph **g)
{
    return ocs_moe_router_topk_sigmoid(t, c->k, g, NULL);
}

static ocs_status router_grouped(ocs_dtype t, const moe_case *c, ocs_graph **g)
{
    ocs_moe_grouped cfg = c->grouped;
    cfg.k = c->k;
    return ocs_moe_router_sigmoid_grouped(t, &cfg, g, NULL);
}

static ocs_status router_sparsemixer(ocs_dtype t, const moe_case *c, ocs_graph **g)
{
    (void)c;
    return ocs_moe_router_sparsemixer(t, 0.01f, g, NULL);
}

static ocs_graph *build_expert(const moe_case *c)
{
    ocs_graph *g = NULL;
    ocs_status st;
    if (c->oai)
        st = ocs_moe_expert_swiglu_oai(c->t, c->layout, c->bias, c->alpha, c->beta, c->limit, &g, NULL);
    else if (c->gated)
        st = ocs_moe_expert_glu(c->t, c->act, c->layout, c->bias, &g, NULL);
    else
        st = ocs_moe_expert_ffn(c->t, c->act, c->bias, &g, NULL);
    assert_int_equal(st, OCS_OK);
    return g;
}

/* The expert_params shapes, in the canonical order; returns how many. */
static size_t param_shapes(const moe_case *c, int64_t dims[6][3], int ranks[6])
{
    int64_t E = (int64_t)c->E, H = (int64_t)c->H, I = (int64_t)c->I;
    int shared = (c->gated || c->oai) && c->layout != OCS_MOE_GATE_UP_SEPARATE;
    int64_t r1 = shared ? 2 * I : I;
    size_t n = 0;
#define ADD(r, a, b, d)                                         \
    do {                                                        \
        ranks[n] = (r);                                         \
        dims[n][0] = (a);                                       \
        dims[n][1] = (b);                                       \
        dims[n][2] = (d);                                       \
        n++;                                                    \
    } while (0)
    ADD(3, E, r1, H);
    if (c->bias)
        ADD(2, E, r1, 0);
    ADD(3, E, H, I);
    if (c->bias)
        ADD(2, E, H, 0);
    if ((c->gated || c->oai) && c->layout == OCS_MOE_GATE_UP_SEPARATE) {
        ADD(3, E, I, H);
        if (c->bias)
            ADD(2, E, I, 0);
    }
#undef ADD
    return n;
}

typedef struct built {
    ocs_model *m;
    size_t n_inputs;
    const char *names[10];
    ocs_tensor *inputs[10];
} built;

static const char *const param_names[] = {"p0", "p1", "p2", "p3", "p4", "p5"};

static void build_case(const moe_case *c, built *b)
{
    memset(b, 0, sizeof *b);
    uint32_t seed = c->seed ? c->seed : 1;
    ocs_model *m = NULL;
    assert_int_equal(ocs_model_new(&m, NULL), OCS_OK);
    assert_int_equal(ocs_model_import(m, "", 17, NULL), OCS_OK);
    assert_int_equal(ocs_model_import(m, OCS_PREVIEW_DOMAIN, 1, NULL), OCS_OK);
    ocs_graph *g = m->graph;

    int64_t xd[3];
    int xr = 2;
    if (c->x_rank3) {
        xd[0] = 2;
        xd[1] = (int64_t)c->T / 2;
        xd[2] = (int64_t)c->H;
        xr = 3;
    } else {
        xd[0] = (int64_t)c->T;
        xd[1] = (int64_t)c->H;
    }
    int64_t ld[2] = {(int64_t)c->T, (int64_t)c->E};
    assert_int_equal(ocs_graph_add_input(g, "x", c->t, xr, xd, NULL), OCS_OK);
    assert_int_equal(ocs_graph_add_input(g, "logits", c->t, 2, ld, NULL), OCS_OK);
    b->names[0] = "x";
    b->inputs[0] = random_tensor(c->t, xr, xd, 1.0, &seed);
    b->names[1] = "logits";
    ocs_tensor *lg = random_tensor(c->t, 2, ld, 2.0, &seed);
    for (size_t t = 0; t < c->T; t++)
        for (size_t e = 0; e < c->E; e++) {
            size_t i = t * c->E + e;
            if (c->logits_mode == 1 && t % 3 == 0)
                ocs_tensor_set_f64(lg, i, t % 2 ? 0.5 : 0.0);          /* all equal: ties */
            else if (c->logits_mode == 1 && t % 3 == 1 && e >= 1)
                ocs_tensor_set_f64(lg, i, 1.25);                     /* equal except expert 0 */
            else if (c->logits_mode == 2 && e == c->E - 1)
                ocs_tensor_set_f64(lg, i, -30.0);
            else if (c->logits_mode == 3 && e < 2)
                ocs_tensor_set_f64(lg, i, (t < c->split) == (e == 0) ? 8.0 : -8.0);
        }
    b->inputs[1] = lg;
    b->n_inputs = 2;

    int64_t pd[6][3];
    int pr[6];
    size_t np = param_shapes(c, pd, pr);
    double wscale = 1.0 / sqrt((double)(c->H > c->I ? c->H : c->I));
    for (size_t i = 0; i < np; i++) {
        assert_int_equal(ocs_graph_add_input(g, param_names[i], c->t, pr[i], pd[i], NULL), OCS_OK);
        b->names[2 + i] = param_names[i];
        b->inputs[2 + i] = random_tensor(c->t, pr[i], pd[i], pr[i] == 2 ? 0.5 : 3.0 * wscale, &seed);
    }
    b->n_inputs = 2 + np;
    assert_int_equal(ocs_graph_add_output(g, "y", c->t, xr, xd, NULL), OCS_OK);

    const char *in[8] = {"x", "logits"};
    for (size_t i = 0; i < np; i++)
        in[2 + i] = param_names[i];
    const char *out[] = {"y"};
    ocs_node *n = NULL;
    assert_int_equal(ocs_graph_add_node(g, "MoE", OCS_PREVIEW_DOMAIN, "moe", 2 + np, in, 1, out, &n, NULL), OCS_OK);
    assert_int_equal(ocs_node_set_int(n, "k", c->k, NULL), OCS_OK);
    if (c->weight_position)
        assert_int_equal(ocs_node_set_string(n, "weight_position", c->weight_position, NULL), OCS_OK);
    assert_int_equal(ocs_node_set_graph(n, "expert", build_expert(c), NULL), OCS_OK);
    if (c->router) {
        ocs_graph *r = NULL;
        assert_int_equal(c->router(c->t, c, &r), OCS_OK);
        assert_int_equal(ocs_node_set_graph(n, "router", r, NULL), OCS_OK);
    }
    b->m = m;
}

static void free_built(built *b)
{
    for (size_t i = 0; i < b->n_inputs; i++)
        ocs_tensor_free(b->inputs[i]);
    ocs_model_free(b->m);
}

/* Runs b on the reference (backend NULL) or on the cpu backend alone. */
static ocs_status run_on(const built *b, ocs_backend *be, ocs_tensor **out, ocs_err *err)
{
    ocs_backend *list[] = {be};
    ocs_session_options opt = {list, be ? 1 : 0, be ? 1 : 0};
    ocs_session *s = NULL;
    *out = NULL;
    ocs_status st = ocs_session_new_with(b->m, &opt, &s, err);
    if (st == OCS_OK)
        st = ocs_session_run(s, b->n_inputs, b->names, (const ocs_tensor *const *)b->inputs, 1, out, err);
    ocs_session_free(s);
    return st;
}

static void compare(const moe_case *c, const ocs_tensor *ref, const ocs_tensor *got)
{
    assert_int_equal(got->dtype, ref->dtype);
    assert_int_equal(got->rank, ref->rank);
    assert_memory_equal(got->dims, ref->dims, (size_t)ref->rank * sizeof ref->dims[0]);
    double rtol = c->t == OCS_FLOAT ? 1e-4 : c->t == OCS_FLOAT16 ? 1e-2 : 4e-2;
    double scale_atol = c->t == OCS_FLOAT ? 1e-5 : rtol;
    double max_ref = 0;
    for (size_t i = 0; i < ref->numel; i++)
        max_ref = fmax(max_ref, fabs(ocs_tensor_get_f64(ref, i)));
    double atol = scale_atol * max_ref, worst = 0;
    for (size_t i = 0; i < ref->numel; i++) {
        double r = ocs_tensor_get_f64(ref, i), g = ocs_tensor_get_f64(got, i);
        if (!(fabs(g - r) <= atol + rtol * fabs(r)))
            fail_msg("%s: element %zu: cpu %.9g, reference %.9g (max |ref| %.3g)", c->name, i, g, r, max_ref);
        worst = fmax(worst, fabs(g - r) / (atol + rtol * fabs(r)));
    }
    if (getenv("OCS_TEST_VERBOSE"))
        printf("  %-28s %-9s T=%-3zu E=%zu k=%lld  max|ref| %.3g  worst error / tolerance %.3f\n", c->name,
               ocs_dtype_name(c->t), c->T, c->E, (long long)c->k, max_ref, worst);
}

static void check_case(const moe_case *c)
{
    built b;
    build_case(c, &b);
    const ocs_node *n = &b.m->graph->nodes[0];
    ocs_tensor_type types[10];
    for (size_t i = 0; i < b.n_inputs; i++)
        ocs_tensor_type_of(b.inputs[i], &types[i]);
    if (!cpu->ops->supports(cpu->ctx, n, 1, b.n_inputs, types))
        fail_msg("%s: the cpu backend does not claim the node", c->name);
    ocs_tensor *ref = NULL, *got = NULL;
    ocs_err err = {{0}};
    if (run_on(&b, NULL, &ref, &err) != OCS_OK)
        fail_msg("%s: reference: %s", c->name, err.msg);
    if (run_on(&b, cpu, &got, &err) != OCS_OK)
        fail_msg("%s: cpu: %s", c->name, err.msg);
    compare(c, ref, got);
    ocs_tensor_free(ref);
    ocs_tensor_free(got);
    free_built(&b);
}

static moe_case base_case(const char *name)
{
    moe_case c;
    memset(&c, 0, sizeof c);
    c.name = name;
    c.t = OCS_FLOAT;
    c.T = 5;
    c.E = 3;
    c.H = 13;
    c.I = 10;
    c.k = 2;
    c.gated = 1;
    c.act = OCS_MOE_ACT_SILU;
    c.layout = OCS_MOE_GATE_UP_SEPARATE;
    c.seed = 7;
    return c;
}

/* ---- tests ------------------------------------------------------------------------------------ */

static const ocs_moe_act acts[] = {OCS_MOE_ACT_IDENTITY, OCS_MOE_ACT_RELU, OCS_MOE_ACT_GELU,
                                   OCS_MOE_ACT_GELU_TANH, OCS_MOE_ACT_SILU};
static const ocs_moe_layout layouts[] = {OCS_MOE_GATE_UP_SEPARATE, OCS_MOE_GATE_UP_CONCATENATED,
                                         OCS_MOE_GATE_UP_INTERLEAVED};

static void test_every_expert(void **state)
{
    (void)state;
    char name[128];
    for (int bias = 0; bias <= 1; bias++) {
        for (size_t a = 0; a < N_OF(acts); a++) {
            moe_case c = base_case(name);
            c.gated = 0;
            c.act = acts[a];
            c.bias = bias;
            c.seed = 11 + (uint32_t)a;
            snprintf(name, sizeof name, "ffn_%s%s", ocs_moe_act_name(acts[a]), bias ? "_bias" : "");
            check_case(&c);
            for (size_t l = 0; l < N_OF(layouts); l++) {
                c.gated = 1;
                c.layout = layouts[l];
                c.T = 9;
                snprintf(name, sizeof name, "glu_%s_%s%s", ocs_moe_act_name(acts[a]), ocs_moe_layout_name(layouts[l]),
                         bias ? "_bias" : "");
                check_case(&c);
            }
        }
        for (size_t l = 0; l < N_OF(layouts); l++)
            for (int clamp = 0; clamp <= 1; clamp++) {
                moe_case c = base_case(name);
                c.oai = 1;
                c.layout = layouts[l];
                c.bias = bias;
                c.alpha = 1.702f;
                c.beta = 1.0f;
                c.limit = clamp ? 0.75f : INFINITY;   /* small enough to clamp some values */
                c.T = 6;
                snprintf(name, sizeof name, "swiglu_oai_%s%s%s", ocs_moe_layout_name(layouts[l]), bias ? "_bias" : "",
                         clamp ? "_limit" : "");
                check_case(&c);
            }
    }
}

static void test_every_router(void **state)
{
    (void)state;
    static const float bias6[] = {0.05f, -0.1f, 0.2f, 0.0f, -0.3f, 0.15f};
    struct {
        const char *name;
        ocs_status (*router)(ocs_dtype, const moe_case *, ocs_graph **);
        int64_t k;
    } routers[] = {
        {"default", NULL, 2},
        {"softmax_topk", router_softmax_topk, 2},
        {"softmax_topk_renormalize", router_softmax_topk_renorm, 3},
        {"topk_softmax", router_topk_softmax, 2},
        {"topk_sigmoid", router_topk_sigmoid, 1},
        {"sparsemixer", router_sparsemixer, 2},
        {"sigmoid_grouped", router_grouped, 3},
    };
    for (size_t r = 0; r < N_OF(routers); r++)
        for (int mode = 0; mode <= 1; mode++) {
            moe_case c = base_case(routers[r].name);
            c.router = routers[r].router;
            c.k = routers[r].k;
            c.E = 6;
            c.T = 24;
            c.logits_mode = mode;   /* random, then with ties */
            c.seed = 100 + (uint32_t)r;
            c.grouped = (ocs_moe_grouped){.n_group = 2, .topk_group = 1, .renormalize = 1,
                                          .routed_scaling_factor = 2.5f, .bias = bias6, .n_bias = 6};
            check_case(&c);
        }
    /* DeepSeek-style variants: groups, bias, renormalisation, scaling */
    for (int f = 0; f < 16; f++) {
        moe_case c = base_case("sigmoid_grouped variant");
        c.router = router_grouped;
        c.E = 6;
        c.T = 20;
        c.k = 2;
        c.grouped.n_group = (f & 2) ? 3 : 1;
        c.grouped.topk_group = (f & 2) ? 2 : 1;
        c.grouped.bias = (f & 1) ? bias6 : NULL;
        c.grouped.n_bias = (f & 1) ? 6 : 0;
        c.grouped.renormalize = (f >> 2) & 1;
        c.grouped.routed_scaling_factor = (f & 8) ? 2.5f : 1.0f;
        c.seed = 200 + (uint32_t)f;
        check_case(&c);
    }
}

static void test_shapes_and_counts(void **state)
{
    (void)state;
    static const size_t tokens[] = {1, 5, 64, 300};
    for (size_t i = 0; i < N_OF(tokens); i++) {
        moe_case c = base_case("tokens");
        c.T = tokens[i];
        c.E = 7;                 /* not a power of two */
        c.H = 24;
        c.I = 20;
        c.seed = 300 + (uint32_t)i;
        check_case(&c);
        c.layout = OCS_MOE_GATE_UP_INTERLEAVED;
        c.bias = 1;
        check_case(&c);
    }
    /* k = 1 and k = E */
    moe_case c = base_case("k=1");
    c.k = 1;
    c.E = 5;
    c.T = 40;
    check_case(&c);
    c.name = "k=E";
    c.k = 5;
    check_case(&c);
    /* input of rank 3 */
    c = base_case("rank-3 input");
    c.T = 10;
    c.x_rank3 = 1;
    check_case(&c);
    /* an expert that receives no token */
    c = base_case("idle expert");
    c.E = 5;
    c.T = 30;
    c.logits_mode = 2;
    check_case(&c);
    /* the streaming / sgemm boundary: 16 tokens on expert 0, 17 on expert 1, and the reverse */
    for (size_t split = 15; split <= 17; split++) {
        c = base_case("path boundary");
        c.k = 1;
        c.E = 3;
        c.T = 33;
        c.H = 40;
        c.I = 36;
        c.logits_mode = 3;
        c.split = split;
        check_case(&c);
        c.layout = OCS_MOE_GATE_UP_CONCATENATED;
        c.bias = 1;
        check_case(&c);
    }
    /* rows 4 KiB long (the backend pads its copies of such rows) */
    c = base_case("4 KiB rows");
    c.H = 1024;
    c.I = 1024;
    c.T = 20;
    c.E = 2;
    c.k = 1;
    c.layout = OCS_MOE_GATE_UP_INTERLEAVED;
    check_case(&c);
    /* sizes that are not multiples of the vector width, one streaming task of rows and more */
    c = base_case("odd sizes");
    c.H = 67;
    c.I = 45;
    c.T = 12;
    c.E = 4;
    check_case(&c);
}

static void test_weight_position(void **state)
{
    (void)state;
    static const char *const pos[] = {"output", "input"};
    for (size_t p = 0; p < N_OF(pos); p++)
        for (size_t T = 3; T <= 80; T += 77) {
            moe_case c = base_case(pos[p]);
            c.weight_position = pos[p];
            c.T = T;
            c.router = router_topk_sigmoid;   /* Llama-4 */
            c.k = 1;
            c.layout = OCS_MOE_GATE_UP_CONCATENATED;
            check_case(&c);
            c.router = NULL;
            c.k = 2;
            c.gated = 0;
            c.act = OCS_MOE_ACT_GELU;
            check_case(&c);
        }
}

static void test_half_types(void **state)
{
    (void)state;
    static const ocs_dtype types[] = {OCS_FLOAT16, OCS_BFLOAT16};
    for (size_t i = 0; i < N_OF(types); i++)
        for (size_t T = 6; T <= 70; T += 64) {
            moe_case c = base_case(ocs_dtype_name(types[i]));
            c.t = types[i];
            c.T = T;
            c.E = 3;
            c.bias = 1;
            check_case(&c);
            c.oai = 1;
            c.layout = OCS_MOE_GATE_UP_INTERLEAVED;
            c.alpha = 1.702f;
            c.beta = 1.0f;
            c.limit = 7.0f;
            check_case(&c);
            c.oai = 0;
            c.gated = 0;
            c.act = OCS_MOE_ACT_GELU_TANH;
            c.weight_position = "input";
            check_case(&c);
        }
}

/* The AVX2 and portable kernels, which this processor may not pick by itself (OCS_CPU_ISA caps the level). */
static void test_every_isa(void **state)
{
    (void)state;
    static const char *const isas[] = {"c", "avx2"};
    static const ocs_dtype types[] = {OCS_FLOAT, OCS_FLOAT16, OCS_BFLOAT16};
    for (size_t i = 0; i < N_OF(isas); i++) {
        assert_int_equal(setenv("OCS_CPU_ISA", isas[i], 1), 0);
        for (size_t d = 0; d < N_OF(types); d++)
            for (size_t l = 0; l < N_OF(layouts); l++) {
                moe_case c = base_case(isas[i]);
                c.t = types[d];
                c.layout = layouts[l];
                c.H = 37;
                c.I = 21;
                c.T = 11;
                c.E = 4;
                c.bias = (int)l & 1;
                check_case(&c);
            }
        moe_case c = base_case(isas[i]);
        c.k = 1;
        c.E = 3;
        c.T = 40;
        c.H = 40;
        c.I = 36;
        c.logits_mode = 3;
        c.split = 17;
        check_case(&c);
    }
    assert_int_equal(unsetenv("OCS_CPU_ISA"), 0);
}

static void test_non_canonical_not_claimed(void **state)
{
    (void)state;
    moe_case c = base_case("non-canonical");
    built b;
    build_case(&c, &b);
    ocs_node *n = &b.m->graph->nodes[0];
    /* swap the operands of the gate * up product: same result, another graph */
    ocs_graph *g = NULL;
    for (size_t a = 0; a < n->n_attrs; a++)
        if (!strcmp(n->attrs[a].name, "expert"))
            g = n->attrs[a].g;
    assert_non_null(g);
    ocs_node *mul = NULL;
    for (size_t i = 0; i < g->n_nodes; i++)
        if (!strcmp(g->nodes[i].op_type, "Mul"))
            mul = &g->nodes[i];
    assert_non_null(mul);
    char *tmp = mul->inputs[0];
    mul->inputs[0] = mul->inputs[1];
    mul->inputs[1] = tmp;
    ocs_tensor_type types[10];
    for (size_t i = 0; i < b.n_inputs; i++)
        ocs_tensor_type_of(b.inputs[i], &types[i]);
    assert_false(cpu->ops->supports(cpu->ctx, n, 1, b.n_inputs, types));
    /* with the fallback forbidden the session reports it; with it, the reference runs it */
    ocs_tensor *out = NULL;
    ocs_err err = {{0}};
    assert_int_not_equal(run_on(&b, cpu, &out, &err), OCS_OK);
    assert_null(out);
    ocs_backend *list[] = {cpu};
    ocs_session_options opt = {list, 1, 0};
    ocs_session *s = NULL;
    assert_int_equal(ocs_session_new_with(b.m, &opt, &s, &err), OCS_OK);
    assert_int_equal(ocs_session_run(s, b.n_inputs, b.names, (const ocs_tensor *const *)b.inputs, 1, &out, &err),
                     OCS_OK);
    ocs_session_free(s);
    ocs_tensor_free(out);
    /* a float64 expert is canonical but not a type the backend runs */
    free_built(&b);
    c.t = OCS_DOUBLE;
    build_case(&c, &b);
    for (size_t i = 0; i < b.n_inputs; i++)
        ocs_tensor_type_of(b.inputs[i], &types[i]);
    assert_false(cpu->ops->supports(cpu->ctx, &b.m->graph->nodes[0], 1, b.n_inputs, types));
    free_built(&b);
}

/* Runs b on the cpu backend and expects a failure whose message contains want. */
static void expect_error(built *b, const char *want)
{
    ocs_tensor *out = NULL;
    ocs_err err = {{0}};
    ocs_status st = run_on(b, cpu, &out, &err);
    if (st == OCS_OK)
        fail_msg("expected an error mentioning '%s'", want);
    assert_null(out);
    if (!strstr(err.msg, want))
        fail_msg("error '%s' does not mention '%s'", err.msg, want);
}

static void replace_input(built *b, size_t i, ocs_tensor *t)
{
    ocs_tensor_free(b->inputs[i]);
    b->inputs[i] = t;
}

static void test_errors(void **state)
{
    (void)state;
    uint32_t seed = 5;
    moe_case c = base_case("errors");
    c.bias = 1;
    built b;

    /* a weight whose inner size disagrees with H */
    build_case(&c, &b);
    int64_t bad[3] = {3, 10, 14};
    replace_input(&b, 2, random_tensor(OCS_FLOAT, 3, bad, 1.0, &seed));
    expect_error(&b, "W1");
    free_built(&b);

    /* a down projection of the wrong shape */
    build_case(&c, &b);
    int64_t bad2[3] = {3, 13, 9};
    replace_input(&b, 4, random_tensor(OCS_FLOAT, 3, bad2, 1.0, &seed));
    expect_error(&b, "W2");
    free_built(&b);

    /* a bias of the wrong length */
    build_case(&c, &b);
    int64_t bad3[2] = {3, 11};
    replace_input(&b, 3, random_tensor(OCS_FLOAT, 2, bad3, 1.0, &seed));
    expect_error(&b, "b1");
    free_built(&b);

    /* a parameter whose leading dimension is not E */
    build_case(&c, &b);
    int64_t bad4[3] = {4, 13, 10};
    replace_input(&b, 4, random_tensor(OCS_FLOAT, 3, bad4, 1.0, &seed));
    expect_error(&b, "E = 3");
    free_built(&b);

    /* interleaved gate/up with an odd row count */
    c.layout = OCS_MOE_GATE_UP_INTERLEAVED;
    build_case(&c, &b);
    int64_t bad5[3] = {3, 19, 13};
    replace_input(&b, 2, random_tensor(OCS_FLOAT, 3, bad5, 1.0, &seed));
    expect_error(&b, "even");
    free_built(&b);
    c.layout = OCS_MOE_GATE_UP_SEPARATE;

    /* input rows that disagree with the logits */
    build_case(&c, &b);
    int64_t bad6[2] = {4, 13};
    replace_input(&b, 0, random_tensor(OCS_FLOAT, 2, bad6, 1.0, &seed));
    expect_error(&b, "tokens");
    free_built(&b);

    /* k larger than E */
    c.k = 4;
    build_case(&c, &b);
    expect_error(&b, "k = 4");
    free_built(&b);
    c.k = 2;

    /* weight_position misspelt */
    c.weight_position = "middle";
    build_case(&c, &b);
    expect_error(&b, "weight_position");
    free_built(&b);
    c.weight_position = NULL;

    /* a grouped router whose groups do not divide E */
    static const float bias5[] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f};
    c.router = router_grouped;
    c.E = 5;
    c.grouped.n_group = 2;
    c.grouped.topk_group = 1;
    c.grouped.bias = bias5;
    c.grouped.n_bias = 5;
    c.grouped.routed_scaling_factor = 1.0f;
    build_case(&c, &b);
    expect_error(&b, "n_group");
    free_built(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_expert),
        cmocka_unit_test(test_every_router),
        cmocka_unit_test(test_shapes_and_counts),
        cmocka_unit_test(test_weight_position),
        cmocka_unit_test(test_half_types),
        cmocka_unit_test(test_every_isa),
        cmocka_unit_test(test_non_canonical_not_claimed),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
