/*
 * spec/hooks.c - the canonical router and expert hooks of the MoE operator,
 * built as small graphs of default-domain operators (opset 13 and later).
 * The formulas and parameter layouts are in include/ocs/hooks.h.
 */
#include "ocs/hooks.h"

#include <math.h>
#include <stdio.h>
#include <stddef.h>

#include "ocs/build.h"

/* ---- building with a sticky status ------------------------------------------------- */

typedef struct gb {
    ocs_graph *g;
    ocs_err *err;
    ocs_status st;
} gb;

/* A string list literal and its length: NAMES("a", "b") -> 2, {"a", "b"}. */
#define NAMES(...) \
    (sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *)), ((const char *const[]){__VA_ARGS__})

static ocs_node *node(gb *b, const char *op, size_t ni, const char *const *in, size_t no, const char *const *out)
{
    ocs_node *n = NULL;
    if (b->st == OCS_OK)
        b->st = ocs_graph_add_node(b->g, op, "", NULL, ni, in, no, out, &n, b->err);
    return b->st == OCS_OK ? n : NULL;
}

static void set_int(gb *b, ocs_node *n, const char *name, int64_t v)
{
    if (b->st == OCS_OK && n)
        b->st = ocs_node_set_int(n, name, v, b->err);
}

static void set_tensor(gb *b, ocs_node *n, const char *name, const ocs_tensor *t)
{
    if (b->st == OCS_OK && n)
        b->st = ocs_node_set_tensor(n, name, t, b->err);
}

/* Initializer `name`: a 1-D int64 tensor. */
static void init_ints(gb *b, const char *name, size_t n, const int64_t *v)
{
    if (b->st != OCS_OK)
        return;
    int64_t d = (int64_t)n;
    ocs_tensor *t = NULL;
    b->st = ocs_tensor_new(OCS_INT64, 1, &d, &t, b->err);
    if (b->st != OCS_OK)
        return;
    for (size_t i = 0; i < n; i++)
        ((int64_t *)t->data)[i] = v[i];
    b->st = ocs_graph_add_initializer(b->g, name, t, b->err);
    ocs_tensor_free(t);
}

/* Initializer `name`: a scalar of dtype (rank 0) holding v. */
static void init_scalar(gb *b, const char *name, ocs_dtype dtype, double v)
{
    if (b->st != OCS_OK)
        return;
    ocs_tensor *t = NULL;
    b->st = ocs_tensor_new(dtype, 0, NULL, &t, b->err);
    if (b->st != OCS_OK)
        return;
    ocs_tensor_set_f64(t, 0, v);
    b->st = ocs_graph_add_initializer(b->g, name, t, b->err);
    ocs_tensor_free(t);
}

/* Initializer `name`: a 1-D float tensor. */
static void init_floats(gb *b, const char *name, size_t n, const float *v)
{
    if (b->st != OCS_OK)
        return;
    int64_t d = (int64_t)n;
    ocs_tensor *t = NULL;
    b->st = ocs_tensor_new(OCS_FLOAT, 1, &d, &t, b->err);
    if (b->st != OCS_OK)
        return;
    for (size_t i = 0; i < n; i++)
        ((float *)t->data)[i] = v[i];
    b->st = ocs_graph_add_initializer(b->g, name, t, b->err);
    ocs_tensor_free(t);
}

/* A one-element tensor for ConstantOfShape's `value`. */
static void set_fill(gb *b, ocs_node *n, ocs_dtype dtype, double v)
{
    if (b->st != OCS_OK || !n)
        return;
    int64_t one = 1;
    ocs_tensor *t = NULL;
    b->st = ocs_tensor_new(dtype, 1, &one, &t, b->err);
    if (b->st != OCS_OK)
        return;
    ocs_tensor_set_f64(t, 0, v);
    set_tensor(b, n, "value", t);
    ocs_tensor_free(t);
}

static ocs_status begin(gb *b, const char *name, ocs_graph **out, ocs_err *err)
{
    *out = NULL;
    b->g = NULL;
    b->err = err;
    b->st = ocs_graph_new(name, &b->g, err);
    return b->st;
}

static ocs_status finish(gb *b, ocs_graph **out)
{
    if (b->st != OCS_OK) {
        ocs_graph_free(b->g);
        return b->st;
    }
    *out = b->g;
    return OCS_OK;
}

static int is_float_type(ocs_dtype t)
{
    return t == OCS_FLOAT || t == OCS_FLOAT16 || t == OCS_BFLOAT16 || t == OCS_DOUBLE;
}

const char *ocs_moe_act_name(ocs_moe_act act)
{
    switch (act) {
    case OCS_MOE_ACT_IDENTITY: return "identity";
    case OCS_MOE_ACT_RELU: return "relu";
    case OCS_MOE_ACT_GELU: return "gelu";
    case OCS_MOE_ACT_GELU_TANH: return "gelu_tanh";
    case OCS_MOE_ACT_SILU: return "silu";
    }
    return "unknown";
}

const char *ocs_moe_layout_name(ocs_moe_layout layout)
{
    switch (layout) {
    case OCS_MOE_GATE_UP_SEPARATE: return "separate";
    case OCS_MOE_GATE_UP_CONCATENATED: return "concatenated";
    case OCS_MOE_GATE_UP_INTERLEAVED: return "interleaved";
    }
    return "unknown";
}

/* ---- routers --------------------------------------------------------------------- */

/* Input `logits`, outputs `weights` and `indices`, and z = Cast<float>(logits). */
static void router_io(gb *b, ocs_dtype logits_type, int64_t k)
{
    const int64_t in_dims[2] = {-1, -1}, out_dims[2] = {-1, k};
    if (b->st == OCS_OK)
        b->st = ocs_graph_add_input(b->g, "logits", logits_type, 2, in_dims, b->err);
    if (b->st == OCS_OK)
        b->st = ocs_graph_add_output(b->g, "weights", OCS_FLOAT, 2, out_dims, b->err);
    if (b->st == OCS_OK)
        b->st = ocs_graph_add_output(b->g, "indices", OCS_INT64, 2, out_dims, b->err);
    set_int(b, node(b, "Cast", NAMES("logits"), NAMES("z")), "to", OCS_FLOAT);
}

static ocs_status check_router(ocs_dtype logits_type, int64_t k, ocs_err *err)
{
    if (!is_float_type(logits_type))
        return ocs_fail(err, OCS_ERR_INVALID, "router logits type %s is not a float type",
                        ocs_dtype_name(logits_type));
    if (k < 1)
        return ocs_fail(err, OCS_ERR_INVALID, "router k = %lld; it must be >= 1", (long long)k);
    return OCS_OK;
}

/* (values, indices) = TopK(x, k) along the last axis, largest first. */
static void topk(gb *b, const char *x, const char *k_name, const char *values, const char *indices)
{
    ocs_node *n = node(b, "TopK", NAMES(x, k_name), NAMES(values, indices));
    set_int(b, n, "axis", -1);
    set_int(b, n, "largest", 1);
    set_int(b, n, "sorted", 1);
}

static void softmax(gb *b, const char *x, const char *y)
{
    set_int(b, node(b, "Softmax", NAMES(x), NAMES(y)), "axis", -1);
}

ocs_status ocs_moe_router_softmax_topk(ocs_dtype logits_type, int64_t k, int renormalize, ocs_graph **out,
                                       ocs_err *err)
{
    gb b;
    ocs_status st = check_router(logits_type, k, err);
    if (st != OCS_OK || (st = begin(&b, renormalize ? "moe_router_softmax_topk_renormalize"
                                                   : "moe_router_softmax_topk", out, err)) != OCS_OK)
        return st;
    router_io(&b, logits_type, k);
    init_ints(&b, "k", 1, &k);
    softmax(&b, "z", "probs");
    if (renormalize) {
        const int64_t last = -1;
        init_ints(&b, "last_axis", 1, &last);
        topk(&b, "probs", "k", "top_probs", "indices");
        set_int(&b, node(&b, "ReduceSum", NAMES("top_probs", "last_axis"), NAMES("top_sum")), "keepdims", 1);
        node(&b, "Div", NAMES("top_probs", "top_sum"), NAMES("weights"));
    } else {
        topk(&b, "probs", "k", "weights", "indices");
    }
    return finish(&b, out);
}

ocs_status ocs_moe_router_topk_softmax(ocs_dtype logits_type, int64_t k, ocs_graph **out, ocs_err *err)
{
    gb b;
    ocs_status st = check_router(logits_type, k, err);
    if (st != OCS_OK || (st = begin(&b, "moe_router_topk_softmax", out, err)) != OCS_OK)
        return st;
    router_io(&b, logits_type, k);
    init_ints(&b, "k", 1, &k);
    topk(&b, "z", "k", "top_logits", "indices");
    softmax(&b, "top_logits", "weights");
    return finish(&b, out);
}

ocs_status ocs_moe_router_topk_sigmoid(ocs_dtype logits_type, int64_t k, ocs_graph **out, ocs_err *err)
{
    gb b;
    ocs_status st = check_router(logits_type, k, err);
    if (st != OCS_OK || (st = begin(&b, "moe_router_topk_sigmoid", out, err)) != OCS_OK)
        return st;
    router_io(&b, logits_type, k);
    init_ints(&b, "k", 1, &k);
    topk(&b, "z", "k", "top_logits", "indices");
    node(&b, "Sigmoid", NAMES("top_logits"), NAMES("weights"));
    return finish(&b, out);
}

ocs_status ocs_moe_router_sigmoid_grouped(ocs_dtype logits_type, const ocs_moe_grouped *cfg, ocs_graph **out,
                                          ocs_err *err)
{
    *out = NULL;
    if (!cfg)
        return ocs_fail(err, OCS_ERR_INVALID, "grouped router: no configuration");
    ocs_status st = check_router(logits_type, cfg->k, err);
    if (st != OCS_OK)
        return st;
    if (cfg->n_group < 1 || cfg->topk_group < 1 || cfg->topk_group > cfg->n_group)
        return ocs_fail(err, OCS_ERR_INVALID,
                        "grouped router: n_group = %lld and topk_group = %lld; need 1 <= topk_group <= n_group",
                        (long long)cfg->n_group, (long long)cfg->topk_group);
    if (cfg->bias && cfg->n_bias == 0)
        return ocs_fail(err, OCS_ERR_INVALID, "grouped router: the bias is empty");
    if (!isfinite(cfg->routed_scaling_factor))
        return ocs_fail(err, OCS_ERR_INVALID, "grouped router: routed_scaling_factor is not finite");

    gb b;
    if ((st = begin(&b, "moe_router_sigmoid_grouped", out, err)) != OCS_OK)
        return st;
    router_io(&b, logits_type, cfg->k);
    const int64_t last = -1;
    init_ints(&b, "k", 1, &cfg->k);
    init_ints(&b, "last_axis", 1, &last);
    node(&b, "Sigmoid", NAMES("z"), NAMES("scores"));
    const char *biased = "scores";
    if (cfg->bias) {
        init_floats(&b, "bias", cfg->n_bias, cfg->bias);
        node(&b, "Add", NAMES("scores", "bias"), NAMES("biased"));
        biased = "biased";
    }
    const char *choice = biased;
    if (cfg->n_group > 1) {
        const int64_t group_shape[3] = {0, cfg->n_group, -1}, two = 2, axis2 = -1;
        init_ints(&b, "group_shape", 3, group_shape);
        init_ints(&b, "two", 1, &two);
        init_ints(&b, "topk_group", 1, &cfg->topk_group);
        init_ints(&b, "unsqueeze_axes", 1, &axis2);
        init_scalar(&b, "neg_inf", OCS_FLOAT, -INFINITY);
        node(&b, "Reshape", NAMES(biased, "group_shape"), NAMES("grouped"));
        topk(&b, "grouped", "two", "group_top2", "group_top2_indices");
        set_int(&b, node(&b, "ReduceSum", NAMES("group_top2", "last_axis"), NAMES("group_scores")), "keepdims", 0);
        topk(&b, "group_scores", "topk_group", "kept_group_scores", "kept_groups");
        node(&b, "Shape", NAMES("group_scores"), NAMES("group_scores_shape"));
        node(&b, "Shape", NAMES("kept_groups"), NAMES("kept_groups_shape"));
        set_fill(&b, node(&b, "ConstantOfShape", NAMES("group_scores_shape"), NAMES("no_group")), OCS_BOOL, 0);
        set_fill(&b, node(&b, "ConstantOfShape", NAMES("kept_groups_shape"), NAMES("kept_true")), OCS_BOOL, 1);
        set_int(&b, node(&b, "ScatterElements", NAMES("no_group", "kept_groups", "kept_true"), NAMES("group_keep")),
                "axis", 1);
        node(&b, "Unsqueeze", NAMES("group_keep", "unsqueeze_axes"), NAMES("group_keep3"));
        node(&b, "Where", NAMES("group_keep3", "grouped", "neg_inf"), NAMES("grouped_masked"));
        node(&b, "Shape", NAMES(biased), NAMES("score_shape"));
        node(&b, "Reshape", NAMES("grouped_masked", "score_shape"), NAMES("choice"));
        choice = "choice";
    }
    topk(&b, choice, "k", "chosen_scores", "indices");
    set_int(&b, node(&b, "GatherElements", NAMES("scores", "indices"), NAMES("w_raw")), "axis", 1);
    const char *w = "w_raw";
    int scale = cfg->routed_scaling_factor != 1.0f;
    if (cfg->renormalize) {
        init_scalar(&b, "tiny", OCS_FLOAT, 1e-20);
        set_int(&b, node(&b, "ReduceSum", NAMES("w_raw", "last_axis"), NAMES("w_sum")), "keepdims", 1);
        node(&b, "Add", NAMES("w_sum", "tiny"), NAMES("w_den"));
        node(&b, "Div", NAMES("w_raw", "w_den"), NAMES(scale ? "w_norm" : "weights"));
        w = "w_norm";
    }
    if (scale) {
        init_scalar(&b, "routed_scaling_factor", OCS_FLOAT, cfg->routed_scaling_factor);
        node(&b, "Mul", NAMES(w, "routed_scaling_factor"), NAMES("weights"));
    } else if (!cfg->renormalize) {
        node(&b, "Identity", NAMES("w_raw"), NAMES("weights"));
    }
    return finish(&b, out);
}

/* One SparseMixer pass: weight of `pick` from the masked softmax of `cand`, masking by the original z. */
static void sparsemixer_pass(gb *b, const char *cand, const char *top, const char *pick, const char *w,
                             const char *tag)
{
    char f[32], t[32], d[32], m[32], g[32], p[32];
    snprintf(f, sizeof f, "%s_factor", tag);
    snprintf(t, sizeof t, "%s_threshold", tag);
    snprintf(d, sizeof d, "%s_gap", tag);
    snprintf(m, sizeof m, "%s_mask", tag);
    snprintf(g, sizeof g, "%s_gates", tag);
    snprintf(p, sizeof p, "%s_probs", tag);
    node(b, "Max", NAMES("z_abs", top), NAMES(f));
    node(b, "Mul", NAMES(f, "two_eps"), NAMES(t));
    node(b, "Sub", NAMES(top, "z"), NAMES(d));
    node(b, "Greater", NAMES(d, t), NAMES(m));
    node(b, "Where", NAMES(m, "neg_inf", cand), NAMES(g));
    softmax(b, g, p);
    set_int(b, node(b, "GatherElements", NAMES(p, pick), NAMES(w)), "axis", 1);
}

ocs_status ocs_moe_router_sparsemixer(ocs_dtype logits_type, float jitter_eps, ocs_graph **out, ocs_err *err)
{
    gb b;
    ocs_status st = check_router(logits_type, 2, err);
    if (st != OCS_OK)
        return st;
    if (!(jitter_eps >= 0.0f) || !isfinite(jitter_eps))
        return ocs_fail(err, OCS_ERR_INVALID, "sparsemixer: jitter_eps = %g; it must be finite and >= 0",
                        (double)jitter_eps);
    if ((st = begin(&b, "moe_router_sparsemixer", out, err)) != OCS_OK)
        return st;
    router_io(&b, logits_type, 2);
    const int64_t one = 1;
    init_ints(&b, "one", 1, &one);
    init_scalar(&b, "two_eps", OCS_FLOAT, 2.0 * (double)jitter_eps);
    init_scalar(&b, "neg_inf", OCS_FLOAT, -INFINITY);
    node(&b, "Abs", NAMES("z"), NAMES("z_abs"));
    topk(&b, "z", "one", "max1", "index1");
    sparsemixer_pass(&b, "z", "max1", "index1", "weight1", "pass1");
    node(&b, "Shape", NAMES("index1"), NAMES("index1_shape"));
    set_fill(&b, node(&b, "ConstantOfShape", NAMES("index1_shape"), NAMES("index1_neg_inf")), OCS_FLOAT,
             -INFINITY);
    set_int(&b, node(&b, "ScatterElements", NAMES("z", "index1", "index1_neg_inf"), NAMES("z2")), "axis", 1);
    topk(&b, "z2", "one", "max2", "index2");
    sparsemixer_pass(&b, "z2", "max2", "index2", "weight2", "pass2");
    set_int(&b, node(&b, "Concat", NAMES("weight1", "weight2"), NAMES("weights")), "axis", 1);
    set_int(&b, node(&b, "Concat", NAMES("index1", "index2"), NAMES("indices")), "axis", 1);
    return finish(&b, out);
}

/* ---- experts ------------------------------------------------------------------------ */

static ocs_status check_expert(ocs_dtype dtype, ocs_moe_act act, ocs_moe_layout layout, ocs_err *err)
{
    if (!is_float_type(dtype))
        return ocs_fail(err, OCS_ERR_INVALID, "expert type %s is not a float type", ocs_dtype_name(dtype));
    if ((unsigned)act > OCS_MOE_ACT_SILU)
        return ocs_fail(err, OCS_ERR_INVALID, "unknown expert activation %d", (int)act);
    if ((unsigned)layout > OCS_MOE_GATE_UP_INTERLEAVED)
        return ocs_fail(err, OCS_ERR_INVALID, "unknown gate/up layout %d", (int)layout);
    return OCS_OK;
}

size_t ocs_moe_expert_param_count(int gated, ocs_moe_layout layout, int bias)
{
    size_t projections = gated && layout == OCS_MOE_GATE_UP_SEPARATE ? 3 : 2;
    return projections * (bias ? 2 : 1);
}

/* Declares x, then each projection's weight (and bias), then y. */
static void expert_io(gb *b, ocs_dtype dtype, size_t projections, int bias)
{
    static const char *const w_names[] = {"W1", "W2", "W3"}, *const b_names[] = {"b1", "b2", "b3"};
    const int64_t mat[2] = {-1, -1}, vec[1] = {-1};
    if (b->st == OCS_OK)
        b->st = ocs_graph_add_input(b->g, "x", dtype, 2, mat, b->err);
    for (size_t i = 0; i < projections && b->st == OCS_OK; i++) {
        b->st = ocs_graph_add_input(b->g, w_names[i], dtype, 2, mat, b->err);
        if (b->st == OCS_OK && bias)
            b->st = ocs_graph_add_input(b->g, b_names[i], dtype, 1, vec, b->err);
    }
    if (b->st == OCS_OK)
        b->st = ocs_graph_add_output(b->g, "y", dtype, 2, mat, b->err);
}

/* out = in W^T (+ bias). */
static void linear(gb *b, const char *in, const char *w, const char *bias, const char *out)
{
    ocs_node *n = bias ? node(b, "Gemm", NAMES(in, w, bias), NAMES(out)) : node(b, "Gemm", NAMES(in, w), NAMES(out));
    set_int(b, n, "transB", 1);
}

/* out = act(in); intermediate names start with tag. */
static void activation(gb *b, ocs_dtype dtype, ocs_moe_act act, const char *in, const char *out, const char *tag)
{
    char n1[40], n2[40], n3[40], n4[40], n5[40], n6[40], c0[40], c1[40], half[40], one[40];
    snprintf(n1, sizeof n1, "%s_t1", tag);
    snprintf(n2, sizeof n2, "%s_t2", tag);
    snprintf(n3, sizeof n3, "%s_t3", tag);
    snprintf(n4, sizeof n4, "%s_t4", tag);
    snprintf(n5, sizeof n5, "%s_t5", tag);
    snprintf(n6, sizeof n6, "%s_t6", tag);
    snprintf(c0, sizeof c0, "%s_c0", tag);
    snprintf(c1, sizeof c1, "%s_c1", tag);
    snprintf(half, sizeof half, "%s_half", tag);
    snprintf(one, sizeof one, "%s_one", tag);
    switch (act) {
    case OCS_MOE_ACT_IDENTITY:
        node(b, "Identity", NAMES(in), NAMES(out));
        break;
    case OCS_MOE_ACT_RELU:
        node(b, "Relu", NAMES(in), NAMES(out));
        break;
    case OCS_MOE_ACT_SILU:
        node(b, "Sigmoid", NAMES(in), NAMES(n1));
        node(b, "Mul", NAMES(in, n1), NAMES(out));
        break;
    case OCS_MOE_ACT_GELU:
        /* 0.5 a (1 + erf(a / sqrt(2))) */
        init_scalar(b, c0, dtype, sqrt(2.0));
        init_scalar(b, half, dtype, 0.5);
        init_scalar(b, one, dtype, 1.0);
        node(b, "Div", NAMES(in, c0), NAMES(n1));
        node(b, "Erf", NAMES(n1), NAMES(n2));
        node(b, "Add", NAMES(n2, one), NAMES(n3));
        node(b, "Mul", NAMES(in, n3), NAMES(n4));
        node(b, "Mul", NAMES(n4, half), NAMES(out));
        break;
    case OCS_MOE_ACT_GELU_TANH:
        /* 0.5 a (1 + tanh(sqrt(2/pi) (a + 0.044715 a^3))) */
        init_scalar(b, c0, dtype, sqrt(2.0 / 3.14159265358979323846));
        init_scalar(b, c1, dtype, 0.044715);
        init_scalar(b, half, dtype, 0.5);
        init_scalar(b, one, dtype, 1.0);
        node(b, "Mul", NAMES(in, in), NAMES(n1));
        node(b, "Mul", NAMES(n1, in), NAMES(n2));
        node(b, "Mul", NAMES(n2, c1), NAMES(n3));
        node(b, "Add", NAMES(in, n3), NAMES(n4));
        node(b, "Mul", NAMES(n4, c0), NAMES(n5));
        node(b, "Tanh", NAMES(n5), NAMES(n6));
        {
            char n7[40], n8[40];
            snprintf(n7, sizeof n7, "%s_t7", tag);
            snprintf(n8, sizeof n8, "%s_t8", tag);
            node(b, "Add", NAMES(n6, one), NAMES(n7));
            node(b, "Mul", NAMES(in, n7), NAMES(n8));
            node(b, "Mul", NAMES(n8, half), NAMES(out));
        }
        break;
    }
}

ocs_status ocs_moe_expert_ffn(ocs_dtype dtype, ocs_moe_act act, int bias, ocs_graph **out, ocs_err *err)
{
    gb b;
    ocs_status st = check_expert(dtype, act, OCS_MOE_GATE_UP_SEPARATE, err);
    char name[64];
    snprintf(name, sizeof name, "moe_expert_ffn_%s%s", ocs_moe_act_name(act), bias ? "_bias" : "");
    if (st != OCS_OK || (st = begin(&b, name, out, err)) != OCS_OK)
        return st;
    expert_io(&b, dtype, 2, bias);
    linear(&b, "x", "W1", bias ? "b1" : NULL, "h");
    activation(&b, dtype, act, "h", "a", "act");
    linear(&b, "a", "W2", bias ? "b2" : NULL, "y");
    return finish(&b, out);
}

/* g (gate) and u (up) from x in the given layout. */
static void gate_up(gb *b, ocs_moe_layout layout, int bias)
{
    if (layout == OCS_MOE_GATE_UP_SEPARATE) {
        linear(b, "x", "W1", bias ? "b1" : NULL, "g");
        linear(b, "x", "W3", bias ? "b3" : NULL, "u");
        return;
    }
    int concat = layout == OCS_MOE_GATE_UP_CONCATENATED;
    const int64_t shape[3] = {0, concat ? 2 : -1, concat ? -1 : 2};
    init_ints(b, "gate_up_shape", 3, shape);
    init_scalar(b, "gate_index", OCS_INT64, 0);
    init_scalar(b, "up_index", OCS_INT64, 1);
    linear(b, "x", "W1", bias ? "b1" : NULL, "gate_up");
    node(b, "Reshape", NAMES("gate_up", "gate_up_shape"), NAMES("gate_up3"));
    set_int(b, node(b, "Gather", NAMES("gate_up3", "gate_index"), NAMES("g")), "axis", concat ? 1 : 2);
    set_int(b, node(b, "Gather", NAMES("gate_up3", "up_index"), NAMES("u")), "axis", concat ? 1 : 2);
}

ocs_status ocs_moe_expert_glu(ocs_dtype dtype, ocs_moe_act act, ocs_moe_layout layout, int bias,
                              ocs_graph **out, ocs_err *err)
{
    gb b;
    ocs_status st = check_expert(dtype, act, layout, err);
    char name[80];
    snprintf(name, sizeof name, "moe_expert_glu_%s_%s%s", ocs_moe_act_name(act), ocs_moe_layout_name(layout),
             bias ? "_bias" : "");
    if (st != OCS_OK || (st = begin(&b, name, out, err)) != OCS_OK)
        return st;
    expert_io(&b, dtype, layout == OCS_MOE_GATE_UP_SEPARATE ? 3 : 2, bias);
    gate_up(&b, layout, bias);
    activation(&b, dtype, act, "g", "a", "act");
    node(&b, "Mul", NAMES("a", "u"), NAMES("h"));
    linear(&b, "h", "W2", bias ? "b2" : NULL, "y");
    return finish(&b, out);
}

ocs_status ocs_moe_expert_swiglu_oai(ocs_dtype dtype, ocs_moe_layout layout, int bias, float alpha, float beta,
                                     float limit, ocs_graph **out, ocs_err *err)
{
    gb b;
    ocs_status st = check_expert(dtype, OCS_MOE_ACT_SILU, layout, err);
    if (st != OCS_OK)
        return st;
    if (!isfinite(alpha) || !isfinite(beta) || isnan(limit) || limit < 0.0f)
        return ocs_fail(err, OCS_ERR_INVALID,
                        "swiglu: alpha = %g, beta = %g, limit = %g; alpha and beta must be finite, limit >= 0",
                        (double)alpha, (double)beta, (double)limit);
    char name[80];
    snprintf(name, sizeof name, "moe_expert_swiglu_oai_%s%s", ocs_moe_layout_name(layout), bias ? "_bias" : "");
    if ((st = begin(&b, name, out, err)) != OCS_OK)
        return st;
    expert_io(&b, dtype, layout == OCS_MOE_GATE_UP_SEPARATE ? 3 : 2, bias);
    gate_up(&b, layout, bias);
    const char *G = "g", *L = "u";
    if (isfinite(limit)) {
        init_scalar(&b, "limit", dtype, limit);
        init_scalar(&b, "neg_limit", dtype, -limit);
        node(&b, "Clip", NAMES("g", "", "limit"), NAMES("g_clamped"));
        node(&b, "Clip", NAMES("u", "neg_limit", "limit"), NAMES("u_clamped"));
        G = "g_clamped";
        L = "u_clamped";
    }
    init_scalar(&b, "alpha", dtype, alpha);
    init_scalar(&b, "beta", dtype, beta);
    node(&b, "Mul", NAMES(G, "alpha"), NAMES("g_scaled"));
    node(&b, "Sigmoid", NAMES("g_scaled"), NAMES("g_sigmoid"));
    node(&b, "Mul", NAMES(G, "g_sigmoid"), NAMES("a"));
    node(&b, "Add", NAMES(L, "beta"), NAMES("u_shifted"));
    node(&b, "Mul", NAMES("a", "u_shifted"), NAMES("h"));
    linear(&b, "h", "W2", bias ? "b2" : NULL, "y");
    return finish(&b, out);
}
