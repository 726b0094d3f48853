/*
 * tests/test_moe.c - the MoE operator (ai.onnx.preview): the reference
 * kernel, its function body (the `_expanded` model) and the canonical hook
 * library.  Every case runs a one-node model directly and expanded and
 * requires the two to agree; routers and experts are also checked against a
 * dense computation in double written here, independent of both.  Error
 * cases prove a clean message for every invalid router, expert and
 * attribute.  Inputs come from a fixed-seed generator.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ocs/build.h"
#include "ocs/exec.h"
#include "ocs/hooks.h"
#include "ocs/schema.h"

#define MAX_PARAMS 8

/* ---- inputs ---------------------------------------------------------------------- */

typedef struct rng {
    uint64_t s;
} rng;

static double uniform(rng *r, double lo, double hi)
{
    r->s = r->s * 6364136223846793005ULL + 1442695040888963407ULL;
    return lo + (hi - lo) * (double)(r->s >> 11) / 9007199254740992.0;
}

static ocs_tensor *tensor(ocs_dtype t, int rank, const int64_t *dims)
{
    ocs_tensor *x = NULL;
    assert_int_equal(ocs_tensor_new(t, rank, dims, &x, NULL), OCS_OK);
    return x;
}

static ocs_tensor *rand_tensor(rng *r, ocs_dtype t, int rank, const int64_t *dims, double lo, double hi)
{
    ocs_tensor *x = tensor(t, rank, dims);
    for (size_t i = 0; i < x->numel; i++)
        ocs_tensor_set_f64(x, i, uniform(r, lo, hi));
    return x;
}

static ocs_tensor *tensor_from(ocs_dtype t, int rank, const int64_t *dims, const double *v)
{
    ocs_tensor *x = tensor(t, rank, dims);
    for (size_t i = 0; i < x->numel; i++)
        ocs_tensor_set_f64(x, i, v[i]);
    return x;
}

/* ---- one-node models -------------------------------------------------------------- */

typedef struct mcase {
    ocs_dtype dtype;               /* of input */
    int64_t T, E, H, k;
    const char *weight_position;   /* NULL: attribute left out */
    ocs_graph *router, *expert;    /* moved into the node by build() */
    ocs_tensor *x, *logits;
    size_t n_params;
    ocs_tensor *params[MAX_PARAMS];
    const char *outer_name;        /* a main-graph initializer the hooks may read */
    ocs_tensor *outer;
} mcase;

static const char *const param_names[MAX_PARAMS] = {"p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7"};

static void case_free(mcase *c)
{
    ocs_graph_free(c->router);
    ocs_graph_free(c->expert);
    ocs_tensor_free(c->x);
    ocs_tensor_free(c->logits);
    for (size_t i = 0; i < c->n_params; i++)
        ocs_tensor_free(c->params[i]);
    ocs_tensor_free(c->outer);
    memset(c, 0, sizeof *c);
}

static void declare_input(ocs_graph *g, const char *name, const ocs_tensor *t)
{
    assert_int_equal(ocs_graph_add_input(g, name, t->dtype, t->rank, t->dims, NULL), OCS_OK);
}

/* The model of c; the hooks move into it. */
static ocs_model *build(mcase *c)
{
    ocs_model *m = NULL;
    assert_int_equal(ocs_model_new(&m, NULL), OCS_OK);
    assert_int_equal(ocs_model_import(m, "", 21, NULL), OCS_OK);
    assert_int_equal(ocs_model_import(m, OCS_PREVIEW_DOMAIN, 1, NULL), OCS_OK);
    ocs_graph *g = m->graph;
    declare_input(g, "input", c->x);
    declare_input(g, "router_logits", c->logits);
    for (size_t i = 0; i < c->n_params; i++)
        declare_input(g, param_names[i], c->params[i]);
    assert_int_equal(ocs_graph_add_output(g, "output", c->x->dtype, c->x->rank, c->x->dims, NULL), OCS_OK);
    if (c->outer)
        assert_int_equal(ocs_graph_add_initializer(g, c->outer_name, c->outer, NULL), OCS_OK);
    const char *ins[2 + MAX_PARAMS] = {"input", "router_logits"};
    for (size_t i = 0; i < c->n_params; i++)
        ins[2 + i] = param_names[i];
    const char *outs[1] = {"output"};
    ocs_node *n = NULL;
    assert_int_equal(ocs_graph_add_node(g, "MoE", OCS_PREVIEW_DOMAIN, "moe", 2 + c->n_params, ins, 1, outs, &n, NULL),
                     OCS_OK);
    assert_int_equal(ocs_node_set_int(n, "k", c->k, NULL), OCS_OK);
    if (c->router)
        assert_int_equal(ocs_node_set_graph(n, "router", c->router, NULL), OCS_OK);
    c->router = NULL;
    if (c->expert)
        assert_int_equal(ocs_node_set_graph(n, "expert", c->expert, NULL), OCS_OK);
    c->expert = NULL;
    if (c->weight_position)
        assert_int_equal(ocs_node_set_string(n, "weight_position", c->weight_position, NULL), OCS_OK);
    return m;
}

/* Creates a session for m and runs it on c's inputs. */
static ocs_status run(const ocs_model *m, const mcase *c, ocs_tensor **out, ocs_err *err)
{
    *out = NULL;
    ocs_session *s = NULL;
    ocs_status st = ocs_session_new(m, &s, err);
    if (st != OCS_OK)
        return st;
    const char *names[2 + MAX_PARAMS] = {"input", "router_logits"};
    const ocs_tensor *ins[2 + MAX_PARAMS] = {c->x, c->logits};
    for (size_t i = 0; i < c->n_params; i++) {
        names[2 + i] = param_names[i];
        ins[2 + i] = c->params[i];
    }
    st = ocs_session_run(s, 2 + c->n_params, names, ins, 1, out, err);
    ocs_session_free(s);
    return st;
}

/* |a - b| <= atol + rtol |b| elementwise, same dtype and shape. */
static void assert_close(const ocs_tensor *a, const ocs_tensor *b, double rtol, double atol, const char *what)
{
    assert_int_equal(a->dtype, b->dtype);
    assert_int_equal(a->rank, b->rank);
    for (int d = 0; d < a->rank; d++)
        assert_int_equal(a->dims[d], b->dims[d]);
    for (size_t i = 0; i < a->numel; i++) {
        double x = ocs_tensor_get_f64(a, i), y = ocs_tensor_get_f64(b, i);
        if (!(fabs(x - y) <= atol + rtol * fabs(y)))
            fail_msg("%s: element %zu is %.9g, expected %.9g", what, i, x, y);
    }
}

static void assert_close_d(const ocs_tensor *a, const double *want, double rtol, double atol, const char *what)
{
    for (size_t i = 0; i < a->numel; i++) {
        double x = ocs_tensor_get_f64(a, i);
        if (!(fabs(x - want[i]) <= atol + rtol * fabs(want[i])))
            fail_msg("%s: element %zu is %.9g, expected %.9g", what, i, x, want[i]);
    }
}

/*
 * Runs c directly and as the _expanded model; the two must agree within
 * 1e-5 relative (float32).  Returns the kernel's output (caller frees) and
 * frees c.
 */
static ocs_tensor *run_both(mcase *c, const char *what)
{
    ocs_err err = {{0}};
    ocs_model *m = build(c), *mx = NULL;
    ocs_tensor *direct = NULL, *expanded = NULL;
    if (run(m, c, &direct, &err) != OCS_OK)
        fail_msg("%s: the kernel failed: %s", what, err.msg);
    if (ocs_model_expand(m, &mx, &err) != OCS_OK)
        fail_msg("%s: expanding failed: %s", what, err.msg);
    for (size_t i = 0; i < mx->graph->n_nodes; i++)
        assert_string_not_equal(mx->graph->nodes[i].op_type, "MoE");
    if (run(mx, c, &expanded, &err) != OCS_OK)
        fail_msg("%s: the expanded model failed: %s", what, err.msg);
    char label[160];
    snprintf(label, sizeof label, "%s (expanded vs kernel)", what);
    double tol = direct->dtype == OCS_FLOAT || direct->dtype == OCS_DOUBLE ? 1e-5 : 1e-2;
    assert_close(expanded, direct, tol, 1e-7, label);
    ocs_tensor_free(expanded);
    ocs_model_free(mx);
    ocs_model_free(m);
    case_free(c);
    return direct;
}

/* Expects the run (or the session) to fail with a message containing want. */
static void expect_error(mcase *c, const char *want)
{
    ocs_err err = {{0}};
    ocs_model *m = build(c);
    ocs_tensor *out = NULL;
    ocs_status st = run(m, c, &out, &err);
    ocs_tensor_free(out);
    ocs_model_free(m);
    case_free(c);
    if (st == OCS_OK)
        fail_msg("expected an error containing '%s', the run succeeded", want);
    if (!strstr(err.msg, want))
        fail_msg("expected an error containing '%s', got: %s", want, err.msg);
}

/* ---- small graphs ------------------------------------------------------------------------ */

static ocs_node *add(ocs_graph *g, const char *op, size_t ni, const char *const *in, size_t no,
                     const char *const *out)
{
    ocs_node *n = NULL;
    assert_int_equal(ocs_graph_add_node(g, op, "", NULL, ni, in, no, out, &n, NULL), OCS_OK);
    return n;
}

#define L(...) \
    (sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *)), ((const char *const[]){__VA_ARGS__})

static void init_i64(ocs_graph *g, const char *name, int rank, int64_t v)
{
    int64_t one = 1;
    ocs_tensor *t = tensor(OCS_INT64, rank, &one);
    ((int64_t *)t->data)[0] = v;
    assert_int_equal(ocs_graph_add_initializer(g, name, t, NULL), OCS_OK);
    ocs_tensor_free(t);
}

static void init_f32(ocs_graph *g, const char *name, float v)
{
    ocs_tensor *t = tensor(OCS_FLOAT, 0, NULL);
    ((float *)t->data)[0] = v;
    assert_int_equal(ocs_graph_add_initializer(g, name, t, NULL), OCS_OK);
    ocs_tensor_free(t);
}

static ocs_graph *new_graph(const char *name)
{
    ocs_graph *g = NULL;
    assert_int_equal(ocs_graph_new(name, &g, NULL), OCS_OK);
    return g;
}

/* Probe expert (x [n, H], p [H]) -> x * p.  With x = 1 and P = identity it returns one-hot rows. */
static ocs_graph *probe_expert(void)
{
    ocs_graph *g = new_graph("probe");
    const int64_t mat[2] = {-1, -1}, vec[1] = {-1};
    assert_int_equal(ocs_graph_add_input(g, "x", OCS_FLOAT, 2, mat, NULL), OCS_OK);
    assert_int_equal(ocs_graph_add_input(g, "p", OCS_FLOAT, 1, vec, NULL), OCS_OK);
    assert_int_equal(ocs_graph_add_output(g, "y", OCS_FLOAT, 2, mat, NULL), OCS_OK);
    add(g, "Mul", L("x", "p"), L("y"));
    return g;
}

/*
 * Counting expert (x [n, H]) -> y with y[r, h] = 1000 n + r: the number of
 * rows of the call and the row's position.  It reads row 0 of x, so a call
 * with no rows fails.
 */
static ocs_graph *counting_expert(void)
{
    ocs_graph *g = new_graph("counting");
    const int64_t mat[2] = {-1, -1};
    assert_int_equal(ocs_graph_add_input(g, "x", OCS_FLOAT, 2, mat, NULL), OCS_OK);
    assert_int_equal(ocs_graph_add_output(g, "y", OCS_FLOAT, 2, mat, NULL), OCS_OK);
    init_i64(g, "zero", 0, 0);
    init_i64(g, "one", 0, 1);
    init_i64(g, "axis0", 1, 0);
    init_i64(g, "axis1", 1, 1);
    init_i64(g, "thousand", 1, 1000);
    init_f32(g, "fzero", 0.0f);
    ocs_node *n = add(g, "Gather", L("x", "zero"), L("row0"));
    assert_int_equal(ocs_node_set_int(n, "axis", 0, NULL), OCS_OK);
    add(g, "Mul", L("row0", "fzero"), L("row0_zero"));
    n = add(g, "Shape", L("x"), L("n1"));
    assert_int_equal(ocs_node_set_int(n, "end", 1, NULL), OCS_OK);
    add(g, "Squeeze", L("n1", "axis0"), L("n"));
    add(g, "Range", L("zero", "n", "one"), L("r"));
    add(g, "Mul", L("n1", "thousand"), L("n1000"));
    add(g, "Add", L("r", "n1000"), L("code"));
    n = add(g, "Cast", L("code"), L("codef"));
    assert_int_equal(ocs_node_set_int(n, "to", OCS_FLOAT, NULL), OCS_OK);
    add(g, "Unsqueeze", L("codef", "axis1"), L("col"));
    add(g, "Mul", L("x", "fzero"), L("xz"));
    add(g, "Add", L("xz", "col"), L("y0"));
    add(g, "Add", L("y0", "row0_zero"), L("y"));
    return g;
}

/* Router that returns fixed weights and indices [T, k]. */
static ocs_graph *const_router(int64_t T, int64_t k, const float *w, const int64_t *idx, ocs_dtype idx_type,
                               int64_t w_cols)
{
    ocs_graph *g = new_graph("const_router");
    const int64_t in_dims[2] = {-1, -1}, wd[2] = {T, w_cols}, id[2] = {T, k};
    assert_int_equal(ocs_graph_add_input(g, "logits", OCS_FLOAT, 2, in_dims, NULL), OCS_OK);
    assert_int_equal(ocs_graph_add_output(g, "weights", OCS_UNDEFINED, -1, NULL, NULL), OCS_OK);
    assert_int_equal(ocs_graph_add_output(g, "indices", OCS_UNDEFINED, -1, NULL, NULL), OCS_OK);
    ocs_tensor *wt = tensor(OCS_FLOAT, 2, wd), *it = tensor(idx_type, 2, id);
    for (size_t i = 0; i < wt->numel; i++)
        ((float *)wt->data)[i] = w[i % (size_t)(T * k)];
    for (size_t i = 0; i < it->numel; i++)
        ocs_tensor_set_i64(it, i, idx[i]);
    assert_int_equal(ocs_graph_add_initializer(g, "w_const", wt, NULL), OCS_OK);
    assert_int_equal(ocs_graph_add_initializer(g, "i_const", it, NULL), OCS_OK);
    ocs_tensor_free(wt);
    ocs_tensor_free(it);
    add(g, "Identity", L("w_const"), L("weights"));
    add(g, "Identity", L("i_const"), L("indices"));
    return g;
}

/* ---- dense routing in double ----------------------------------------------------------- */

typedef enum rkind { R_DEFAULT, R_SOFTMAX_TOPK, R_TOPK_SOFTMAX, R_TOPK_SIGMOID, R_GROUPED, R_SPARSEMIXER } rkind;

typedef struct rcfg {
    rkind kind;
    int64_t k;
    int renormalize;
    ocs_moe_grouped grouped;   /* R_GROUPED */
    float eps;                 /* R_SPARSEMIXER */
} rcfg;

/* The k largest of s[0..n) (ties to the lower index). */
static void topk_idx(const double *s, int64_t n, int64_t k, int64_t *out)
{
    unsigned char taken[64] = {0};
    assert_true(n <= 64);
    for (int64_t j = 0; j < k; j++) {
        int64_t best = -1;
        for (int64_t e = 0; e < n; e++)
            if (!taken[e] && (best < 0 || s[e] > s[best]))
                best = e;
        taken[best] = 1;
        out[j] = best;
    }
}

static double sigmoid(double v)
{
    return 1.0 / (1.0 + exp(-v));
}

/* One token's routing: w_dense[e] = weight of expert e (0 if not chosen), sel[j] = the j-th choice. */
static void dense_route(const rcfg *r, const double *z, int64_t E, double *w_dense, int64_t *sel)
{
    double w[64], s[64], b[64];
    int64_t k = r->k;
    for (int64_t e = 0; e < E; e++)
        w_dense[e] = 0.0;
    switch (r->kind) {
    case R_DEFAULT:
    case R_SOFTMAX_TOPK: {
        double max = -INFINITY, sum = 0.0;
        for (int64_t e = 0; e < E; e++)
            max = fmax(max, z[e]);
        for (int64_t e = 0; e < E; e++)
            sum += exp(z[e] - max);
        for (int64_t e = 0; e < E; e++)
            s[e] = exp(z[e] - max) / sum;
        topk_idx(s, E, k, sel);
        double tot = 0.0;
        for (int64_t j = 0; j < k; j++)
            tot += s[sel[j]];
        for (int64_t j = 0; j < k; j++)
            w[j] = r->kind == R_DEFAULT || r->renormalize ? s[sel[j]] / tot : s[sel[j]];
        break;
    }
    case R_TOPK_SOFTMAX: {
        topk_idx(z, E, k, sel);
        double sum = 0.0;
        for (int64_t j = 0; j < k; j++)
            sum += exp(z[sel[j]] - z[sel[0]]);
        for (int64_t j = 0; j < k; j++)
            w[j] = exp(z[sel[j]] - z[sel[0]]) / sum;
        break;
    }
    case R_TOPK_SIGMOID:
        topk_idx(z, E, k, sel);
        for (int64_t j = 0; j < k; j++)
            w[j] = sigmoid(z[sel[j]]);
        break;
    case R_GROUPED: {
        const ocs_moe_grouped *q = &r->grouped;
        for (int64_t e = 0; e < E; e++) {
            s[e] = sigmoid(z[e]);
            b[e] = s[e] + (q->bias ? q->bias[e] : 0.0);
        }
        if (q->n_group > 1) {
            int64_t gs = E / q->n_group, top2[2], keep[64];
            double gscore[64];
            for (int64_t gi = 0; gi < q->n_group; gi++) {
                topk_idx(b + gi * gs, gs, 2, top2);
                gscore[gi] = b[gi * gs + top2[0]] + b[gi * gs + top2[1]];
            }
            topk_idx(gscore, q->n_group, q->topk_group, keep);
            for (int64_t gi = 0; gi < q->n_group; gi++) {
                int kept = 0;
                for (int64_t j = 0; j < q->topk_group; j++)
                    kept |= keep[j] == gi;
                for (int64_t e = gi * gs; !kept && e < (gi + 1) * gs; e++)
                    b[e] = -INFINITY;
            }
        }
        topk_idx(b, E, k, sel);
        double tot = 0.0;
        for (int64_t j = 0; j < k; j++)
            tot += s[sel[j]];
        for (int64_t j = 0; j < k; j++) {
            w[j] = s[sel[j]];
            if (q->renormalize)
                w[j] /= tot + 1e-20;
            w[j] *= q->routed_scaling_factor;
        }
        break;
    }
    case R_SPARSEMIXER: {
        double cur[64];
        memcpy(cur, z, (size_t)E * sizeof *cur);
        for (int pass = 0; pass < 2; pass++) {
            int64_t best;
            topk_idx(cur, E, 1, &best);
            double m = cur[best], sum = 0.0;
            for (int64_t e = 0; e < E; e++) {
                int masked = (m - z[e]) > 2.0 * r->eps * fmax(fabs(z[e]), m) || cur[e] == -INFINITY;
                if (!masked)
                    sum += exp(cur[e] - m);
            }
            sel[pass] = best;
            w[pass] = 1.0 / sum;
            cur[best] = -INFINITY;
        }
        break;
    }
    }
    for (int64_t j = 0; j < k; j++)
        w_dense[sel[j]] = w[j];
}

/* The router graph for r (NULL for the default router). */
static ocs_graph *router_graph(const rcfg *r, ocs_dtype logits_type)
{
    ocs_graph *g = NULL;
    switch (r->kind) {
    case R_DEFAULT:
        return NULL;
    case R_SOFTMAX_TOPK:
        assert_int_equal(ocs_moe_router_softmax_topk(logits_type, r->k, r->renormalize, &g, NULL), OCS_OK);
        break;
    case R_TOPK_SOFTMAX:
        assert_int_equal(ocs_moe_router_topk_softmax(logits_type, r->k, &g, NULL), OCS_OK);
        break;
    case R_TOPK_SIGMOID:
        assert_int_equal(ocs_moe_router_topk_sigmoid(logits_type, r->k, &g, NULL), OCS_OK);
        break;
    case R_GROUPED:
        assert_int_equal(ocs_moe_router_sigmoid_grouped(logits_type, &r->grouped, &g, NULL), OCS_OK);
        break;
    case R_SPARSEMIXER:
        assert_int_equal(ocs_moe_router_sparsemixer(logits_type, r->eps, &g, NULL), OCS_OK);
        break;
    }
    return g;
}

/*
 * Checks router r on T tokens over E experts through the probe expert:
 * input = ones [T, E], P = identity, so output[t, e] = the weight of e.
 * logits (T*E values) may be NULL for random ones.
 */
static void check_router(const rcfg *r, int64_t T, int64_t E, const double *logits, uint64_t seed,
                         const char *what)
{
    rng g = {seed};
    mcase c = {0};
    const int64_t xd[2] = {T, E}, pd[2] = {E, E};
    c.T = T;
    c.E = E;
    c.H = E;
    c.k = r->k;
    c.x = tensor(OCS_FLOAT, 2, xd);
    for (size_t i = 0; i < c.x->numel; i++)
        ((float *)c.x->data)[i] = 1.0f;
    c.logits = logits ? tensor_from(OCS_FLOAT, 2, xd, logits) : rand_tensor(&g, OCS_FLOAT, 2, xd, -3.0, 3.0);
    c.params[0] = tensor(OCS_FLOAT, 2, pd);
    for (int64_t e = 0; e < E; e++)
        ((float *)c.params[0]->data)[e * E + e] = 1.0f;
    c.n_params = 1;
    c.router = router_graph(r, OCS_FLOAT);
    c.expert = probe_expert();

    double *want = calloc((size_t)(T * E), sizeof *want), z[64];
    int64_t sel[64];
    for (int64_t t = 0; t < T; t++) {
        for (int64_t e = 0; e < E; e++)
            z[e] = ocs_tensor_get_f64(c.logits, (size_t)(t * E + e));
        dense_route(r, z, E, want + t * E, sel);
    }
    ocs_tensor *out = run_both(&c, what);
    char label[160];
    snprintf(label, sizeof label, "%s (kernel vs dense)", what);
    assert_close_d(out, want, 1e-5, 1e-6, label);
    ocs_tensor_free(out);
    free(want);
}

/* ---- dense experts in double -------------------------------------------------------------- */

typedef enum ekind { E_FFN, E_GLU, E_OAI } ekind;

typedef struct ecfg {
    ekind kind;
    ocs_moe_act act;
    ocs_moe_layout layout;
    int bias;
    float alpha, beta, limit;
} ecfg;

static double act_d(ocs_moe_act a, double v)
{
    switch (a) {
    case OCS_MOE_ACT_IDENTITY: return v;
    case OCS_MOE_ACT_RELU: return v > 0 ? v : 0;
    case OCS_MOE_ACT_GELU: return 0.5 * v * (1.0 + erf(v / sqrt(2.0)));
    case OCS_MOE_ACT_GELU_TANH:
        return 0.5 * v * (1.0 + tanh(sqrt(2.0 / 3.14159265358979323846) * (v + 0.044715 * v * v * v)));
    case OCS_MOE_ACT_SILU: return v * sigmoid(v);
    }
    return NAN;
}

static ocs_graph *expert_graph(const ecfg *x, ocs_dtype dtype)
{
    ocs_graph *g = NULL;
    if (x->kind == E_FFN)
        assert_int_equal(ocs_moe_expert_ffn(dtype, x->act, x->bias, &g, NULL), OCS_OK);
    else if (x->kind == E_GLU)
        assert_int_equal(ocs_moe_expert_glu(dtype, x->act, x->layout, x->bias, &g, NULL), OCS_OK);
    else
        assert_int_equal(ocs_moe_expert_swiglu_oai(dtype, x->layout, x->bias, x->alpha, x->beta, x->limit, &g, NULL),
                         OCS_OK);
    return g;
}

/* Random parameters of x for E experts, in the canonical layouts; returns the count. */
static size_t make_params(rng *r, const ecfg *x, ocs_dtype dtype, int64_t E, int64_t H, int64_t I, double scale,
                          ocs_tensor **p)
{
    int fused = x->kind != E_FFN && x->layout != OCS_MOE_GATE_UP_SEPARATE;
    int64_t out1 = fused ? 2 * I : I;
    const int64_t w1[3] = {E, out1, H}, b1[2] = {E, out1}, w2[3] = {E, H, I}, b2[2] = {E, H}, w3[3] = {E, I, H},
                  b3[2] = {E, I};
    size_t n = 0;
    p[n++] = rand_tensor(r, dtype, 3, w1, -scale, scale);
    if (x->bias)
        p[n++] = rand_tensor(r, dtype, 2, b1, -0.5, 0.5);
    p[n++] = rand_tensor(r, dtype, 3, w2, -0.5, 0.5);
    if (x->bias)
        p[n++] = rand_tensor(r, dtype, 2, b2, -0.5, 0.5);
    if (x->kind != E_FFN && x->layout == OCS_MOE_GATE_UP_SEPARATE) {
        p[n++] = rand_tensor(r, dtype, 3, w3, -scale, scale);
        if (x->bias)
            p[n++] = rand_tensor(r, dtype, 2, b3, -0.5, 0.5);
    }
    assert_int_equal(n, ocs_moe_expert_param_count(x->kind != E_FFN, x->layout, x->bias));
    return n;
}

/* y = expert e of x applied to row v [H]. */
static void dense_expert(const ecfg *x, ocs_tensor *const *p, int64_t e, int64_t H, int64_t I, const double *v,
                         double *y)
{
    size_t n = 0;
    const ocs_tensor *W1 = p[n++], *B1 = x->bias ? p[n++] : NULL, *W2 = p[n++], *B2 = x->bias ? p[n++] : NULL;
    const ocs_tensor *W3 = NULL, *B3 = NULL;
    if (x->kind != E_FFN && x->layout == OCS_MOE_GATE_UP_SEPARATE) {
        W3 = p[n++];
        B3 = x->bias ? p[n++] : NULL;
    }
    int64_t out1 = W1->dims[1];
    double h1[128], g[64], u[64], a[64];
    assert_true(out1 <= 128 && I <= 64);
    for (int64_t o = 0; o < out1; o++) {
        double s = B1 ? ocs_tensor_get_f64(B1, (size_t)(e * out1 + o)) : 0.0;
        for (int64_t i = 0; i < H; i++)
            s += ocs_tensor_get_f64(W1, (size_t)((e * out1 + o) * H + i)) * v[i];
        h1[o] = s;
    }
    for (int64_t i = 0; i < I; i++) {
        if (x->kind == E_FFN) {
            a[i] = act_d(x->act, h1[i]);
            continue;
        }
        if (x->layout == OCS_MOE_GATE_UP_SEPARATE) {
            g[i] = h1[i];
            double s = B3 ? ocs_tensor_get_f64(B3, (size_t)(e * I + i)) : 0.0;
            for (int64_t j = 0; j < H; j++)
                s += ocs_tensor_get_f64(W3, (size_t)((e * I + i) * H + j)) * v[j];
            u[i] = s;
        } else if (x->layout == OCS_MOE_GATE_UP_CONCATENATED) {
            g[i] = h1[i];
            u[i] = h1[I + i];
        } else {
            g[i] = h1[2 * i];
            u[i] = h1[2 * i + 1];
        }
        if (x->kind == E_GLU) {
            a[i] = act_d(x->act, g[i]) * u[i];
        } else {
            double G = fmin(g[i], (double)x->limit), Lv = fmax(fmin(u[i], (double)x->limit), -(double)x->limit);
            a[i] = G * sigmoid((double)x->alpha * G) * (Lv + (double)x->beta);
        }
    }
    for (int64_t o = 0; o < H; o++) {
        double s = B2 ? ocs_tensor_get_f64(B2, (size_t)(e * H + o)) : 0.0;
        for (int64_t i = 0; i < I; i++)
            s += ocs_tensor_get_f64(W2, (size_t)((e * H + o) * I + i)) * a[i];
        y[o] = s;
    }
}

/*
 * Runs expert x with router r on random data and checks the kernel, the
 * expanded body and a dense double computation agree.
 */
static void check_expert(const ecfg *x, const rcfg *r, int64_t T, int64_t E, int64_t H, int64_t I, int on_input,
                         double scale, uint64_t seed, const char *what)
{
    rng g = {seed};
    mcase c = {0};
    const int64_t xd[2] = {T, H}, ld[2] = {T, E};
    c.T = T;
    c.E = E;
    c.H = H;
    c.k = r->k;
    c.x = rand_tensor(&g, OCS_FLOAT, 2, xd, -1.0, 1.0);
    c.logits = rand_tensor(&g, OCS_FLOAT, 2, ld, -2.0, 2.0);
    c.n_params = make_params(&g, x, OCS_FLOAT, E, H, I, scale, c.params);
    c.router = router_graph(r, OCS_FLOAT);
    c.expert = expert_graph(x, OCS_FLOAT);
    c.weight_position = on_input ? "input" : NULL;

    double *want = calloc((size_t)(T * H), sizeof *want), z[64], wd[64], row[64], y[64];
    int64_t sel[64];
    for (int64_t t = 0; t < T; t++) {
        for (int64_t e = 0; e < E; e++)
            z[e] = ocs_tensor_get_f64(c.logits, (size_t)(t * E + e));
        dense_route(r, z, E, wd, sel);
        for (int64_t j = 0; j < r->k; j++) {
            double w = wd[sel[j]];
            for (int64_t h = 0; h < H; h++)
                row[h] = ocs_tensor_get_f64(c.x, (size_t)(t * H + h)) * (on_input ? w : 1.0);
            dense_expert(x, c.params, sel[j], H, I, row, y);
            for (int64_t h = 0; h < H; h++)
                want[t * H + h] += (on_input ? 1.0 : w) * y[h];
        }
    }
    ocs_tensor *out = run_both(&c, what);
    char label[200];
    snprintf(label, sizeof label, "%s (kernel vs dense)", what);
    assert_close_d(out, want, 1e-4, 1e-5, label);
    ocs_tensor_free(out);
    free(want);
}

/* ---- tests: routers ------------------------------------------------------------------------ */

static void test_default_router(void **state)
{
    (void)state;
    rcfg r = {R_DEFAULT, 2, 1, {0}, 0};
    check_router(&r, 9, 5, NULL, 11, "default router, E = 5, k = 2");
    r.k = 1;
    check_router(&r, 4, 3, NULL, 12, "default router, k = 1");
    r.k = 6;
    check_router(&r, 4, 6, NULL, 13, "default router, k = E = 6");
}

static void test_softmax_topk_router(void **state)
{
    (void)state;
    for (int renorm = 0; renorm <= 1; renorm++) {
        rcfg r = {R_SOFTMAX_TOPK, 3, renorm, {0}, 0};
        check_router(&r, 8, 7, NULL, 21 + (uint64_t)renorm, renorm ? "softmax_topk renormalised" : "softmax_topk");
    }
}

static void test_topk_softmax_router(void **state)
{
    (void)state;
    rcfg r = {R_TOPK_SOFTMAX, 2, 0, {0}, 0};
    check_router(&r, 8, 5, NULL, 31, "topk_softmax (GPT-OSS)");
}

static void test_topk_sigmoid_router(void **state)
{
    (void)state;
    rcfg r = {R_TOPK_SIGMOID, 1, 0, {0}, 0};
    check_router(&r, 8, 5, NULL, 41, "topk_sigmoid (Llama-4)");
    r.k = 3;
    check_router(&r, 6, 3, NULL, 42, "topk_sigmoid k = E");
}

static void test_grouped_router(void **state)
{
    (void)state;
    const float bias[12] = {0.1f, -0.2f, 0.05f, 0.3f, -0.1f, 0.0f, 0.2f, -0.3f, 0.15f, -0.05f, 0.25f, -0.15f};
    rcfg r = {R_GROUPED, 3, 0, {3, 4, 2, 1, 2.5f, bias, 12}, 0};
    check_router(&r, 10, 12, NULL, 51, "sigmoid_grouped (DeepSeek-V3), 4 groups of 3, keep 2");
    r.grouped.renormalize = 0;
    r.grouped.routed_scaling_factor = 1.0f;
    r.grouped.bias = NULL;
    r.grouped.n_group = 1;
    r.grouped.topk_group = 1;
    r.grouped.k = 2;
    r.k = 2;
    check_router(&r, 10, 6, NULL, 52, "sigmoid_grouped without groups or bias");
}

static void test_sparsemixer_router(void **state)
{
    (void)state;
    rcfg r = {R_SPARSEMIXER, 2, 0, {0}, 0.01f};
    check_router(&r, 12, 6, NULL, 61, "sparsemixer (Phi-3.5), E = 6");
    /* logits close enough that the jitter threshold keeps several experts */
    const double z[2 * 4] = {1.0, 0.99, 0.985, -1.0, 2.0, 2.0, 1.97, 0.5};
    check_router(&r, 2, 4, z, 62, "sparsemixer near-ties");
    r.eps = 0.2f;
    check_router(&r, 12, 8, NULL, 63, "sparsemixer, eps = 0.2");
}

/* Equal logits: the lower expert index wins, in every router that selects by TopK. */
static void test_router_ties(void **state)
{
    (void)state;
    const double z[3 * 5] = {1, 1, 1, 1, 1, 0, 2, 0, 2, 2, -1, 3, 3, 0, 3};
    rcfg r = {R_DEFAULT, 2, 1, {0}, 0};
    check_router(&r, 3, 5, z, 71, "default router ties");
    rcfg s = {R_TOPK_SOFTMAX, 2, 0, {0}, 0};
    check_router(&s, 3, 5, z, 72, "topk_softmax ties");
    rcfg q = {R_TOPK_SIGMOID, 1, 0, {0}, 0};
    check_router(&q, 3, 5, z, 73, "topk_sigmoid ties");

    /* spelled out: token 0 (all equal) goes to experts 0 and 1, weight 0.5 each */
    rng g = {74};
    mcase c = {0};
    const int64_t xd[2] = {3, 5}, pd[2] = {5, 5};
    c.T = 3;
    c.E = 5;
    c.H = 5;
    c.k = 2;
    c.x = tensor(OCS_FLOAT, 2, xd);
    for (size_t i = 0; i < c.x->numel; i++)
        ((float *)c.x->data)[i] = 1.0f;
    c.logits = tensor_from(OCS_FLOAT, 2, xd, z);
    c.params[0] = tensor(OCS_FLOAT, 2, pd);
    for (int e = 0; e < 5; e++)
        ((float *)c.params[0]->data)[e * 5 + e] = 1.0f;
    c.n_params = 1;
    c.expert = probe_expert();
    (void)uniform(&g, 0, 1);
    ocs_tensor *out = run_both(&c, "ties spelled out");
    const float *o = out->data;
    assert_true(o[0] == 0.5f && o[1] == 0.5f && o[2] == 0.0f && o[3] == 0.0f && o[4] == 0.0f);
    /* token 1: experts 1, 3, 4 tie at 2; the lower two (1 and 3) win */
    assert_true(o[6] == 0.5f && o[8] == 0.5f && o[9] == 0.0f);
    /* token 2: 1, 2, 4 tie at 3: experts 1 and 2 */
    assert_true(o[11] == 0.5f && o[12] == 0.5f && o[14] == 0.0f);
    ocs_tensor_free(out);
}

/* ---- tests: experts --------------------------------------------------------------------------- */

static const ocs_moe_act all_acts[] = {OCS_MOE_ACT_IDENTITY, OCS_MOE_ACT_RELU, OCS_MOE_ACT_GELU,
                                       OCS_MOE_ACT_GELU_TANH, OCS_MOE_ACT_SILU};
static const ocs_moe_layout all_layouts[] = {OCS_MOE_GATE_UP_SEPARATE, OCS_MOE_GATE_UP_CONCATENATED,
                                             OCS_MOE_GATE_UP_INTERLEAVED};

static void test_ffn_experts(void **state)
{
    (void)state;
    rcfg r = {R_DEFAULT, 2, 1, {0}, 0};
    uint64_t seed = 100;
    for (size_t a = 0; a < sizeof all_acts / sizeof all_acts[0]; a++)
        for (int bias = 0; bias <= 1; bias++) {
            ecfg x = {E_FFN, all_acts[a], OCS_MOE_GATE_UP_SEPARATE, bias, 0, 0, 0};
            char what[96];
            snprintf(what, sizeof what, "ffn(%s%s)", ocs_moe_act_name(all_acts[a]), bias ? ", bias" : "");
            check_expert(&x, &r, 7, 5, 6, 4, 0, 1.0, seed++, what);
        }
}

static void test_glu_experts(void **state)
{
    (void)state;
    rcfg r = {R_DEFAULT, 2, 1, {0}, 0};
    uint64_t seed = 200;
    for (size_t a = 0; a < sizeof all_acts / sizeof all_acts[0]; a++)
        for (size_t l = 0; l < 3; l++)
            for (int bias = 0; bias <= 1; bias++) {
                ecfg x = {E_GLU, all_acts[a], all_layouts[l], bias, 0, 0, 0};
                char what[96];
                snprintf(what, sizeof what, "glu(%s, %s%s)", ocs_moe_act_name(all_acts[a]),
                         ocs_moe_layout_name(all_layouts[l]), bias ? ", bias" : "");
                check_expert(&x, &r, 6, 3, 5, 3, 0, 1.0, seed++, what);
            }
}

static void test_swiglu_oai_experts(void **state)
{
    (void)state;
    rcfg r = {R_TOPK_SOFTMAX, 2, 0, {0}, 0};
    uint64_t seed = 300;
    for (size_t l = 0; l < 3; l++)
        for (int bias = 0; bias <= 1; bias++) {
            /* GPT-OSS constants; weights large enough that the clamp at 7 bites */
            ecfg x = {E_OAI, OCS_MOE_ACT_SILU, all_layouts[l], bias, 1.702f, 1.0f, 7.0f};
            char what[96];
            snprintf(what, sizeof what, "swiglu_oai(%s%s, 1.702, 1, 7)", ocs_moe_layout_name(all_layouts[l]),
                     bias ? ", bias" : "");
            check_expert(&x, &r, 8, 4, 6, 3, 0, 3.0, seed++, what);
        }
    /* ORT's defaults: alpha 1, beta 0, no limit */
    ecfg plain = {E_OAI, OCS_MOE_ACT_SILU, OCS_MOE_GATE_UP_CONCATENATED, 0, 1.0f, 0.0f, INFINITY};
    check_expert(&plain, &r, 5, 4, 4, 3, 0, 1.0, 310, "swiglu_oai without limit");
}

/* The reference check the brief names: softmax-topk-renorm + SwiGLU against a dense double computation. */
static void test_mixtral_dense(void **state)
{
    (void)state;
    rcfg r = {R_DEFAULT, 2, 1, {0}, 0};
    ecfg x = {E_GLU, OCS_MOE_ACT_SILU, OCS_MOE_GATE_UP_SEPARATE, 0, 0, 0, 0};
    check_expert(&x, &r, 16, 8, 8, 6, 0, 1.0, 400, "Mixtral: default router + SwiGLU");
    rcfg d = {R_GROUPED, 4, 0, {4, 4, 2, 1, 2.5f, NULL, 0}, 0};
    ecfg y = {E_GLU, OCS_MOE_ACT_SILU, OCS_MOE_GATE_UP_CONCATENATED, 0, 0, 0, 0};
    check_expert(&y, &d, 9, 8, 4, 3, 0, 1.0, 401, "DeepSeek-V3 routing + SwiGLU");
    rcfg p = {R_SPARSEMIXER, 2, 0, {0}, 0.01f};
    check_expert(&x, &p, 9, 6, 4, 3, 0, 1.0, 402, "Phi-3.5: sparsemixer + SwiGLU");
}

static void test_weight_position(void **state)
{
    (void)state;
    rcfg r = {R_TOPK_SIGMOID, 1, 0, {0}, 0};
    ecfg x = {E_GLU, OCS_MOE_ACT_SILU, OCS_MOE_GATE_UP_CONCATENATED, 0, 0, 0, 0};
    check_expert(&x, &r, 7, 5, 4, 3, 1, 1.0, 500, "Llama-4: topk_sigmoid, weights on the input");
    ecfg f = {E_FFN, OCS_MOE_ACT_RELU, OCS_MOE_GATE_UP_SEPARATE, 1, 0, 0, 0};
    rcfg d = {R_DEFAULT, 2, 1, {0}, 0};
    check_expert(&f, &d, 7, 5, 4, 3, 1, 1.0, 501, "weight_position input, k = 2");
    check_expert(&f, &d, 7, 5, 4, 3, 0, 1.0, 502, "weight_position output, k = 2");
}

static void test_k_extremes(void **state)
{
    (void)state;
    ecfg f = {E_FFN, OCS_MOE_ACT_GELU, OCS_MOE_GATE_UP_SEPARATE, 1, 0, 0, 0};
    rcfg one = {R_DEFAULT, 1, 1, {0}, 0}, all = {R_DEFAULT, 3, 1, {0}, 0};
    check_expert(&f, &one, 6, 3, 4, 2, 0, 1.0, 600, "k = 1");
    check_expert(&f, &all, 6, 3, 4, 2, 0, 1.0, 601, "k = E = 3");
    rcfg no_renorm = {R_SOFTMAX_TOPK, 7, 0, {0}, 0};
    check_expert(&f, &no_renorm, 4, 7, 3, 2, 0, 1.0, 602, "k = E = 7 without renormalisation");
}

/*
 * An expert nobody selects is not called, and each selected expert is
 * called once with all its tokens in ascending order: the counting expert
 * fails on an empty call and reports the call's size and each row's place.
 */
static void test_expert_calls(void **state)
{
    (void)state;
    static const double z[5 * 4] = {3, 2, 0, -10, 0, 3, 2, -10, 2, 0, 3, -10, 3, 0, 2, -10, 0, 2, 3, -10};
    const int64_t T = 5, E = 4, H = 3, k = 2;
    for (int on_input = 0; on_input <= 1; on_input++) {
        rng g = {700};
        mcase c = {0};
        const int64_t xd[2] = {T, H}, ld[2] = {T, E};
        c.T = T;
        c.E = E;
        c.H = H;
        c.k = k;
        c.x = rand_tensor(&g, OCS_FLOAT, 2, xd, -1.0, 1.0);
        c.logits = tensor_from(OCS_FLOAT, 2, ld, z);
        c.expert = counting_expert();
        c.weight_position = on_input ? "input" : "output";

        /* expected: tokens of each expert in order */
        rcfg r = {R_DEFAULT, k, 1, {0}, 0};
        double wd[5][4];
        int64_t sel[5][2], count[4] = {0}, rank[5][2];
        for (int64_t t = 0; t < T; t++) {
            dense_route(&r, z + t * E, E, wd[t], sel[t]);
            for (int64_t j = 0; j < k; j++)
                rank[t][j] = count[sel[t][j]]++;
        }
        assert_int_equal(count[3], 0);
        double want[5 * 3];
        for (int64_t t = 0; t < T; t++) {
            double s = 0.0;
            for (int64_t j = 0; j < k; j++) {
                double code = 1000.0 * (double)count[sel[t][j]] + (double)rank[t][j];
                s += on_input ? code : wd[t][sel[t][j]] * code;
            }
            for (int64_t h = 0; h < H; h++)
                want[t * H + h] = s;
        }
        ocs_tensor *out = run_both(&c, on_input ? "counting expert, input" : "counting expert, output");
        assert_close_d(out, want, on_input ? 0.0 : 1e-6, 0.0, "counting expert");
        ocs_tensor_free(out);
    }
}

/* A router that reads a value of the enclosing graph (bottom-k of logits + bias, sigmoid weights). */
static void test_custom_router(void **state)
{
    (void)state;
    const int64_t T = 6, E = 5, k = 2;
    rng g = {800};
    mcase c = {0};
    const int64_t xd[2] = {T, E}, pd[2] = {E, E}, bd[1] = {E};
    c.T = T;
    c.E = E;
    c.H = E;
    c.k = k;
    c.x = tensor(OCS_FLOAT, 2, xd);
    for (size_t i = 0; i < c.x->numel; i++)
        ((float *)c.x->data)[i] = 1.0f;
    c.logits = rand_tensor(&g, OCS_FLOAT, 2, xd, -2.0, 2.0);
    c.params[0] = tensor(OCS_FLOAT, 2, pd);
    for (int64_t e = 0; e < E; e++)
        ((float *)c.params[0]->data)[e * E + e] = 1.0f;
    c.n_params = 1;
    c.outer_name = "router_bias";
    c.outer = rand_tensor(&g, OCS_FLOAT, 1, bd, -1.0, 1.0);
    c.expert = probe_expert();

    ocs_graph *r = new_graph("bottom_k");
    const int64_t in_dims[2] = {-1, -1};
    assert_int_equal(ocs_graph_add_input(r, "logits", OCS_FLOAT, 2, in_dims, NULL), OCS_OK);
    assert_int_equal(ocs_graph_add_output(r, "w", OCS_FLOAT, 2, in_dims, NULL), OCS_OK);
    assert_int_equal(ocs_graph_add_output(r, "i", OCS_INT64, 2, in_dims, NULL), OCS_OK);
    init_i64(r, "kk", 1, k);
    add(r, "Add", L("logits", "router_bias"), L("zb"));
    ocs_node *n = add(r, "TopK", L("zb", "kk"), L("v", "i"));
    assert_int_equal(ocs_node_set_int(n, "largest", 0, NULL), OCS_OK);
    add(r, "Sigmoid", L("v"), L("w"));
    c.router = r;

    double *want = calloc((size_t)(T * E), sizeof *want);
    for (int64_t t = 0; t < T; t++) {
        double neg[8];
        int64_t sel[2];
        for (int64_t e = 0; e < E; e++)
            neg[e] = -(double)(float)(ocs_tensor_get_f64(c.logits, (size_t)(t * E + e)) +
                                      ocs_tensor_get_f64(c.outer, (size_t)e));
        topk_idx(neg, E, k, sel);
        for (int64_t j = 0; j < k; j++)
            want[t * E + sel[j]] = sigmoid(-neg[sel[j]]);
    }
    ocs_tensor *out = run_both(&c, "custom router with an outer-scope bias");
    assert_close_d(out, want, 1e-6, 1e-7, "custom router");
    ocs_tensor_free(out);
    free(want);
}

/* float16 and bfloat16 tokens, a [B, S, H] input, float16 logits. */
static void test_types_and_rank(void **state)
{
    (void)state;
    const ocs_dtype types[3] = {OCS_FLOAT16, OCS_BFLOAT16, OCS_DOUBLE};
    for (int ti = 0; ti < 3; ti++) {
        rng g = {900 + (uint64_t)ti};
        mcase c = {0};
        ecfg x = {E_GLU, OCS_MOE_ACT_SILU, OCS_MOE_GATE_UP_INTERLEAVED, 1, 0, 0, 0};
        const int64_t xd[3] = {2, 3, 4}, ld[2] = {6, 5};
        c.T = 6;
        c.E = 5;
        c.H = 4;
        c.k = 2;
        c.x = rand_tensor(&g, types[ti], 3, xd, -1.0, 1.0);
        c.logits = rand_tensor(&g, types[ti] == OCS_DOUBLE ? OCS_DOUBLE : OCS_FLOAT16, 2, ld, -2.0, 2.0);
        c.n_params = make_params(&g, &x, types[ti], 5, 4, 3, 1.0, c.params);
        c.expert = expert_graph(&x, types[ti]);
        c.weight_position = ti == 1 ? "input" : NULL;
        char what[64];
        snprintf(what, sizeof what, "%s tokens, [2, 3, 4] input", ocs_dtype_name(types[ti]));
        ocs_tensor *out = run_both(&c, what);
        assert_int_equal(out->dtype, types[ti]);
        assert_int_equal(out->rank, 3);
        ocs_tensor_free(out);
    }
}

/* No tokens at all (also with a 3-D input), one token, and a single expert. */
static void test_edge_shapes(void **state)
{
    (void)state;
    static const int64_t shapes[4][3] = {{0, 4, 0}, {2, 0, 4}, {1, 4, 0}, {3, 4, 0}};
    static const int ranks[4] = {2, 3, 2, 2};
    static const int64_t Ts[4] = {0, 0, 1, 3}, Es[4] = {3, 3, 3, 1}, ks[4] = {2, 1, 3, 1};
    for (int i = 0; i < 4; i++) {
        rng g = {950 + (uint64_t)i};
        mcase c = {0};
        ecfg x = {E_FFN, OCS_MOE_ACT_SILU, OCS_MOE_GATE_UP_SEPARATE, 1, 0, 0, 0};
        const int64_t ld[2] = {Ts[i], Es[i]};
        c.T = Ts[i];
        c.E = Es[i];
        c.H = 4;
        c.k = ks[i];
        c.x = rand_tensor(&g, OCS_FLOAT, ranks[i], shapes[i], -1.0, 1.0);
        c.logits = rand_tensor(&g, OCS_FLOAT, 2, ld, -1.0, 1.0);
        c.n_params = make_params(&g, &x, OCS_FLOAT, Es[i], 4, 3, 1.0, c.params);
        c.expert = expert_graph(&x, OCS_FLOAT);
        char what[64];
        snprintf(what, sizeof what, "T = %lld, E = %lld, k = %lld", (long long)Ts[i], (long long)Es[i],
                 (long long)ks[i]);
        ocs_tensor *out = run_both(&c, what);
        assert_int_equal(out->rank, ranks[i]);
        for (int d = 0; d < ranks[i]; d++)
            assert_int_equal(out->dims[d], shapes[i][d]);
        ocs_tensor_free(out);
    }
    /* with E = 1 every token gets the one expert with weight 1 */
    rcfg r = {R_DEFAULT, 1, 1, {0}, 0};
    ecfg f = {E_GLU, OCS_MOE_ACT_GELU, OCS_MOE_GATE_UP_INTERLEAVED, 0, 0, 0, 0};
    check_expert(&f, &r, 4, 1, 3, 2, 0, 1.0, 960, "E = 1");
}

/* The schema's worked example runs, directly and expanded. */
static void test_schema_example(void **state)
{
    (void)state;
    const ocs_schema *s = ocs_schema_find(OCS_PREVIEW_DOMAIN, "MoE", 1);
    assert_non_null(s);
    assert_non_null(s->body);
    assert_non_null(s->example);
    assert_true(s->n_errors >= 10);
    ocs_doc_example ex = {0};
    ocs_err err = {{0}};
    assert_int_equal(s->example(&ex, &err), OCS_OK);
    ocs_model *m = NULL, *mx = NULL;
    assert_int_equal(ocs_model_new(&m, NULL), OCS_OK);
    ocs_graph_free(m->graph);
    m->graph = ex.graph;
    assert_int_equal(ocs_model_import(m, "", 21, NULL), OCS_OK);
    assert_int_equal(ocs_model_import(m, OCS_PREVIEW_DOMAIN, 1, NULL), OCS_OK);
    ocs_tensor *a = NULL, *b = NULL;
    ocs_session *sess = NULL;
    if (ocs_session_new(m, &sess, &err) != OCS_OK || ocs_session_run(sess, 0, NULL, NULL, 1, &a, &err) != OCS_OK)
        fail_msg("example: %s", err.msg);
    ocs_session_free(sess);
    if (ocs_model_expand(m, &mx, &err) != OCS_OK || ocs_session_new(mx, &sess, &err) != OCS_OK ||
        ocs_session_run(sess, 0, NULL, NULL, 1, &b, &err) != OCS_OK)
        fail_msg("example expanded: %s", err.msg);
    ocs_session_free(sess);
    assert_close(b, a, 1e-6, 0.0, "example");
    /* token 1 ties three ways: experts 0 and 1 with 0.5 each; x1 = (0.5, 1, 1, -0.5):
     * expert 0 -> relu(0.5, 1) -> (0.5, 1, 0.5, 1); expert 1 -> relu(1, -0.5) = (1, 0) -> (1, 0, 0, 1) */
    const float *y = a->data;
    assert_true(fabsf(y[4] - 0.75f) < 1e-6f && fabsf(y[5] - 0.5f) < 1e-6f && fabsf(y[6] - 0.25f) < 1e-6f &&
                fabsf(y[7] - 1.0f) < 1e-6f);
    ocs_tensor_free(a);
    ocs_tensor_free(b);
    ocs_model_free(m);
    ocs_model_free(mx);
}

/* ---- tests: errors ------------------------------------------------------------------------------ */

/* A small valid case: T = 3, E = 3, H = 4, ffn(relu) with I = 2. */
static void small_case(mcase *c, int64_t k, uint64_t seed)
{
    rng g = {seed};
    ecfg x = {E_FFN, OCS_MOE_ACT_RELU, OCS_MOE_GATE_UP_SEPARATE, 0, 0, 0, 0};
    const int64_t xd[2] = {3, 4}, ld[2] = {3, 3};
    memset(c, 0, sizeof *c);
    c->T = 3;
    c->E = 3;
    c->H = 4;
    c->k = k;
    c->x = rand_tensor(&g, OCS_FLOAT, 2, xd, -1.0, 1.0);
    c->logits = rand_tensor(&g, OCS_FLOAT, 2, ld, -1.0, 1.0);
    c->n_params = make_params(&g, &x, OCS_FLOAT, 3, 4, 2, 1.0, c->params);
    c->expert = expert_graph(&x, OCS_FLOAT);
}

static void test_error_router_indices(void **state)
{
    (void)state;
    const float w[6] = {0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f};
    const int64_t dup[6] = {0, 1, 2, 2, 1, 0}, out_of_range[6] = {0, 1, 1, 3, 2, 0}, negative[6] = {0, 1, -1, 2, 0, 1};
    mcase c;
    small_case(&c, 2, 1000);
    c.router = const_router(3, 2, w, dup, OCS_INT64, 2);
    expect_error(&c, "token 1 selects expert 2 twice (slots 0 and 1)");
    small_case(&c, 2, 1001);
    c.router = const_router(3, 2, w, out_of_range, OCS_INT64, 2);
    expect_error(&c, "token 1, slot 1 selects expert 3, outside [0, 3)");
    small_case(&c, 2, 1002);
    c.router = const_router(3, 2, w, negative, OCS_INT64, 2);
    expect_error(&c, "token 1, slot 0 selects expert -1");
}

static void test_error_router_shapes(void **state)
{
    (void)state;
    const float w[6] = {0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f};
    const int64_t idx[6] = {0, 1, 1, 2, 2, 0};
    mcase c;
    small_case(&c, 2, 1100);
    c.router = const_router(3, 2, w, idx, OCS_INT64, 3);
    expect_error(&c, "router output 0 (weights) is FLOAT[3,3]");
    small_case(&c, 2, 1101);
    c.router = const_router(3, 2, w, idx, OCS_INT32, 2);
    expect_error(&c, "router output 1 (indices) is INT32[3,2]");
    /* a canonical router built for k = 1 on a node with k = 2 */
    small_case(&c, 2, 1102);
    assert_int_equal(ocs_moe_router_topk_softmax(OCS_FLOAT, 1, &c.router, NULL), OCS_OK);
    expect_error(&c, "declared [_, 1] but k = 2");
    /* a router with one output */
    small_case(&c, 2, 1103);
    c.router = new_graph("one_output");
    const int64_t d[2] = {-1, -1};
    assert_int_equal(ocs_graph_add_input(c.router, "logits", OCS_FLOAT, 2, d, NULL), OCS_OK);
    assert_int_equal(ocs_graph_add_output(c.router, "w", OCS_FLOAT, 2, d, NULL), OCS_OK);
    add(c.router, "Identity", L("logits"), L("w"));
    expect_error(&c, "router graph has 1 inputs and 1 outputs");
}

static void test_error_attributes(void **state)
{
    (void)state;
    mcase c;
    small_case(&c, 0, 1200);
    expect_error(&c, "k = 0");
    small_case(&c, 4, 1201);
    expect_error(&c, "k = 4 is larger than E = 3");
    small_case(&c, 2, 1202);
    c.weight_position = "middle";
    expect_error(&c, "weight_position is \"middle\"");
    small_case(&c, 2, 1203);
    ocs_graph_free(c.expert);
    c.expert = NULL;
    expect_error(&c, "'expert'");
    small_case(&c, 2, 1204);
    ocs_graph_free(c.expert);
    c.expert = probe_expert();   /* 2 inputs, but the node has 2 expert_params */
    expect_error(&c, "with 2 expert_params it needs 3 inputs");
}

static void test_error_inputs(void **state)
{
    (void)state;
    mcase c;
    /* expert_params with a leading dimension other than E */
    small_case(&c, 2, 1300);
    const int64_t bad[3] = {2, 2, 4};
    ocs_tensor_free(c.params[0]);
    c.params[0] = tensor(OCS_FLOAT, 3, bad);
    expect_error(&c, "leading dimension 2; it must be E = 3");
    /* more tokens than router rows */
    small_case(&c, 2, 1301);
    const int64_t xd[2] = {4, 4};
    ocs_tensor_free(c.x);
    c.x = tensor(OCS_FLOAT, 2, xd);
    expect_error(&c, "input holds 4 tokens but router_logits has T = 3 rows");
    /* router_logits not 2-D */
    small_case(&c, 2, 1302);
    const int64_t ld[3] = {3, 1, 3};
    ocs_tensor_free(c.logits);
    c.logits = tensor(OCS_FLOAT, 3, ld);
    expect_error(&c, "router_logits has rank 3");
    /* integer tokens */
    small_case(&c, 2, 1303);
    const int64_t id[2] = {3, 4};
    ocs_tensor_free(c.x);
    c.x = tensor(OCS_INT32, 2, id);
    expect_error(&c, "INT32");
}

/* Expert graphs that return the wrong shape or type. */
static void test_error_expert_output(void **state)
{
    (void)state;
    for (int which = 0; which < 2; which++) {
        mcase c;
        small_case(&c, 2, 1400 + (uint64_t)which);
        ocs_graph_free(c.expert);
        ocs_graph *g = new_graph("bad_expert");
        const int64_t mat[2] = {-1, -1};
        assert_int_equal(ocs_graph_add_input(g, "x", OCS_FLOAT, 2, mat, NULL), OCS_OK);
        assert_int_equal(ocs_graph_add_input(g, "a", OCS_FLOAT, 2, mat, NULL), OCS_OK);
        assert_int_equal(ocs_graph_add_input(g, "b", OCS_FLOAT, 2, mat, NULL), OCS_OK);
        assert_int_equal(ocs_graph_add_output(g, "y", OCS_UNDEFINED, -1, NULL, NULL), OCS_OK);
        if (which == 0) {
            init_i64(g, "axes", 1, 1);
            add(g, "ReduceSum", L("x", "axes"), L("y"));
        } else {
            ocs_node *n = add(g, "Cast", L("x"), L("y"));
            assert_int_equal(ocs_node_set_int(n, "to", OCS_DOUBLE, NULL), OCS_OK);
        }
        c.expert = g;
        expect_error(&c, which == 0 ? "returned FLOAT[" : "returned DOUBLE[");
    }
}

static void test_hook_builder_errors(void **state)
{
    (void)state;
    ocs_graph *g = NULL;
    ocs_err err = {{0}};
    assert_int_not_equal(ocs_moe_router_softmax_topk(OCS_INT32, 2, 1, &g, &err), OCS_OK);
    assert_null(g);
    assert_int_not_equal(ocs_moe_router_topk_softmax(OCS_FLOAT, 0, &g, &err), OCS_OK);
    ocs_moe_grouped q = {2, 4, 5, 1, 1.0f, NULL, 0};
    assert_int_not_equal(ocs_moe_router_sigmoid_grouped(OCS_FLOAT, &q, &g, &err), OCS_OK);
    assert_non_null(strstr(err.msg, "topk_group"));
    assert_int_not_equal(ocs_moe_router_sparsemixer(OCS_FLOAT, -1.0f, &g, &err), OCS_OK);
    assert_int_not_equal(ocs_moe_expert_ffn(OCS_INT8, OCS_MOE_ACT_RELU, 0, &g, &err), OCS_OK);
    assert_int_not_equal(ocs_moe_expert_swiglu_oai(OCS_FLOAT, OCS_MOE_GATE_UP_INTERLEAVED, 0, NAN, 0, 7, &g, &err),
                         OCS_OK);
    assert_null(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_router),
        cmocka_unit_test(test_softmax_topk_router),
        cmocka_unit_test(test_topk_softmax_router),
        cmocka_unit_test(test_topk_sigmoid_router),
        cmocka_unit_test(test_grouped_router),
        cmocka_unit_test(test_sparsemixer_router),
        cmocka_unit_test(test_router_ties),
        cmocka_unit_test(test_ffn_experts),
        cmocka_unit_test(test_glu_experts),
        cmocka_unit_test(test_swiglu_oai_experts),
        cmocka_unit_test(test_mixtral_dense),
        cmocka_unit_test(test_weight_position),
        cmocka_unit_test(test_k_extremes),
        cmocka_unit_test(test_expert_calls),
        cmocka_unit_test(test_custom_router),
        cmocka_unit_test(test_types_and_rank),
        cmocka_unit_test(test_edge_shapes),
        cmocka_unit_test(test_schema_example),
        cmocka_unit_test(test_error_router_indices),
        cmocka_unit_test(test_error_router_shapes),
        cmocka_unit_test(test_error_attributes),
        cmocka_unit_test(test_error_inputs),
        cmocka_unit_test(test_error_expert_output),
        cmocka_unit_test(test_hook_builder_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
