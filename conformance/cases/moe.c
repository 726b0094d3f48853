/*
 * conformance/cases/moe.c - ai.onnx.preview MoE with every canonical hook
 * of include/ocs/hooks.h: the default router and each canonical router
 * (softmax-top-k with and without renormalisation, top-k-softmax,
 * top-k-sigmoid, sigmoid with bias and grouped top-k, SparseMixer), each
 * expert (FFN with every activation, gated GLU in the separate,
 * concatenated and interleaved layouts, OpenAI SwiGLU with and without a
 * limit, with and without biases), plus a hook of each kind that is not
 * canonical (it must still run).  Shapes: E not a power of two, k = 1 and
 * k = E, E = 1, experts that receive no token, one token, no tokens, a
 * 3-D input, weight_position "input", float16/bfloat16/double tokens and
 * router logits of another type than the tokens.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cases.h"
#include "ocs/build.h"
#include "ocs/hooks.h"
#include "ocs/schema.h"

enum router_kind {
    R_SOFTMAX_TOPK = 1,
    R_SOFTMAX_TOPK_PLAIN,
    R_TOPK_SOFTMAX,
    R_TOPK_SIGMOID,
    R_GROUPED_BIAS,
    R_GROUPED_GROUPS,
    R_SPARSEMIXER,
    R_CUSTOM,
    R_BAD_DUPLICATES,            /* invalid: every token selects expert 0 k times */
    R_BAD_OUT_OF_RANGE           /* invalid: indices shifted past E */
};

enum expert_kind { X_FFN = 0, X_GLU, X_SWIGLU_OAI, X_CUSTOM };

typedef struct moe {
    const char *tag;
    int64_t T, H, I, E, k;
    int rank3;                    /* input [2, T/2, H] */
    int router;                   /* 0: the default (no attribute) */
    int expert;                   /* enum expert_kind */
    ocs_moe_act act;
    ocs_moe_layout layout;
    int bias;
    int no_limit;                 /* swiglu_oai: limit = +inf */
    int weight_input;             /* weight_position = "input" */
} moe;

static int64_t attr_k(const ocs_case *c)
{
    for (size_t i = 0; i < c->n_attrs; i++)
        if (!strcmp(c->attrs[i].name, "k"))
            return c->attrs[i].i;
    return 1;
}

/*
 * weights = softmax(top-k of -logits), indices of the k smallest logits;
 * shift != 0 makes it invalid: indices * 0 (duplicates) when shift < 0,
 * indices + shift (out of range) when shift > 0.
 */
static ocs_status custom_router(ocs_dtype lt, int64_t k, int64_t shift, ocs_graph **out, ocs_err *err)
{
    ocs_graph *g = NULL;
    ocs_tensor *kt = NULL, *st_t = NULL;
    const int64_t any2[2] = {-1, -1}, one[1] = {1};
    ocs_status st = ocs_graph_new("custom_router_smallest_k", &g, err);
    if (st == OCS_OK)
        st = ocs_graph_add_input(g, "logits", lt, 2, any2, err);
    if (st == OCS_OK)
        st = ocs_graph_add_output(g, "weights", OCS_FLOAT, 2, any2, err);
    if (st == OCS_OK)
        st = ocs_graph_add_output(g, "indices", OCS_INT64, 2, any2, err);
    if (st == OCS_OK)
        st = ocs_tensor_new(OCS_INT64, 1, one, &kt, err);
    if (st == OCS_OK) {
        ((int64_t *)kt->data)[0] = k;
        st = ocs_graph_add_initializer(g, "k", kt, err);
    }
    ocs_tensor_free(kt);
    ocs_node *n = NULL;
    if (st == OCS_OK)
        st = ocs_graph_add_node(g, "Cast", "", "cast", 1, (const char *const[]){"logits"}, 1,
                                (const char *const[]){"z"}, &n, err);
    if (st == OCS_OK)
        st = ocs_node_set_int(n, "to", OCS_FLOAT, err);
    if (st == OCS_OK)
        st = ocs_graph_add_node(g, "Neg", "", "neg", 1, (const char *const[]){"z"}, 1,
                                (const char *const[]){"nz"}, NULL, err);
    if (st == OCS_OK && shift) {
        st = ocs_tensor_new(OCS_INT64, 1, one, &st_t, err);
        if (st == OCS_OK) {
            ((int64_t *)st_t->data)[0] = shift < 0 ? 0 : shift;
            st = ocs_graph_add_initializer(g, "shift", st_t, err);
        }
        ocs_tensor_free(st_t);
    }
    if (st == OCS_OK)
        st = ocs_graph_add_node(g, "TopK", "", "topk", 2, (const char *const[]){"nz", "k"}, 2,
                                (const char *const[]){"v", shift ? "i" : "indices"}, NULL, err);
    if (st == OCS_OK && shift)
        st = ocs_graph_add_node(g, shift < 0 ? "Mul" : "Add", "", "spoil", 2, (const char *const[]){"i", "shift"}, 1,
                                (const char *const[]){"indices"}, NULL, err);
    if (st == OCS_OK)
        st = ocs_graph_add_node(g, "Softmax", "", "softmax", 1, (const char *const[]){"v"}, 1,
                                (const char *const[]){"weights"}, NULL, err);
    if (st != OCS_OK) {
        ocs_graph_free(g);
        return st;
    }
    *out = g;
    return OCS_OK;
}

static ocs_status router_fn(const ocs_case *c, int arg, ocs_graph **out, ocs_err *err)
{
    ocs_dtype lt = c->inputs[1].dtype;
    int64_t E = c->inputs[1].dims[1], k = attr_k(c);
    float bias[64];
    for (int64_t e = 0; e < E && e < 64; e++)
        bias[e] = 0.05f * (float)((e * 7) % 5) - 0.1f;
    switch (arg) {
    case R_SOFTMAX_TOPK: return ocs_moe_router_softmax_topk(lt, k, 1, out, err);
    case R_SOFTMAX_TOPK_PLAIN: return ocs_moe_router_softmax_topk(lt, k, 0, out, err);
    case R_TOPK_SOFTMAX: return ocs_moe_router_topk_softmax(lt, k, out, err);
    case R_TOPK_SIGMOID: return ocs_moe_router_topk_sigmoid(lt, k, out, err);
    case R_GROUPED_BIAS: {
        ocs_moe_grouped cfg = {k, 1, 1, 1, 1.0f, bias, (size_t)E};
        return ocs_moe_router_sigmoid_grouped(lt, &cfg, out, err);
    }
    case R_GROUPED_GROUPS: {
        ocs_moe_grouped cfg = {k, 3, 2, 1, 2.5f, bias, (size_t)E};
        return ocs_moe_router_sigmoid_grouped(lt, &cfg, out, err);
    }
    case R_SPARSEMIXER: return ocs_moe_router_sparsemixer(lt, 0.01f, out, err);
    case R_CUSTOM: return custom_router(lt, k, 0, out, err);
    case R_BAD_DUPLICATES: return custom_router(lt, k, -1, out, err);
    case R_BAD_OUT_OF_RANGE: return custom_router(lt, k, E, out, err);
    }
    return ocs_fail(err, OCS_ERR_INVALID, "unknown router %d", arg);
}

static ocs_status custom_expert(ocs_dtype t, ocs_graph **out, ocs_err *err)
{
    /* y = tanh(x * s) + x, with s [H] the expert's slice */
    ocs_graph *g = NULL;
    const int64_t any2[2] = {-1, -1}, any1[1] = {-1};
    ocs_status st = ocs_graph_new("custom_expert_tanh_scale", &g, err);
    if (st == OCS_OK)
        st = ocs_graph_add_input(g, "x", t, 2, any2, err);
    if (st == OCS_OK)
        st = ocs_graph_add_input(g, "s", t, 1, any1, err);
    if (st == OCS_OK)
        st = ocs_graph_add_output(g, "y", t, 2, any2, err);
    if (st == OCS_OK)
        st = ocs_graph_add_node(g, "Mul", "", "mul", 2, (const char *const[]){"x", "s"}, 1,
                                (const char *const[]){"xs"}, NULL, err);
    if (st == OCS_OK)
        st = ocs_graph_add_node(g, "Tanh", "", "tanh", 1, (const char *const[]){"xs"}, 1,
                                (const char *const[]){"th"}, NULL, err);
    if (st == OCS_OK)
        st = ocs_graph_add_node(g, "Add", "", "add", 2, (const char *const[]){"th", "x"}, 1,
                                (const char *const[]){"y"}, NULL, err);
    if (st != OCS_OK) {
        ocs_graph_free(g);
        return st;
    }
    *out = g;
    return OCS_OK;
}

/* arg = kind * 10000 + act * 1000 + layout * 100 + bias * 10 + no_limit */
static ocs_status expert_fn(const ocs_case *c, int arg, ocs_graph **out, ocs_err *err)
{
    ocs_dtype t = c->inputs[0].dtype;
    int kind = arg / 10000, act = arg / 1000 % 10, layout = arg / 100 % 10, bias = arg / 10 % 10, no_limit = arg % 10;
    switch (kind) {
    case X_FFN: return ocs_moe_expert_ffn(t, (ocs_moe_act)act, bias, out, err);
    case X_GLU: return ocs_moe_expert_glu(t, (ocs_moe_act)act, (ocs_moe_layout)layout, bias, out, err);
    case X_SWIGLU_OAI:
        return ocs_moe_expert_swiglu_oai(t, (ocs_moe_layout)layout, bias, 1.702f, 1.0f,
                                         no_limit ? INFINITY : 7.0f, out, err);
    case X_CUSTOM: return custom_expert(t, out, err);
    }
    return ocs_fail(err, OCS_ERR_INVALID, "unknown expert %d", arg);
}

static ocs_case *add(ocs_case_list *l, const moe *m, ocs_dtype t, ocs_dtype logits_t)
{
    char types[32];
    if (logits_t == t)
        snprintf(types, sizeof types, "%s", ocs_cases_type_tag(t));
    else
        snprintf(types, sizeof types, "%s_logits_%s", ocs_cases_type_tag(t), ocs_cases_type_tag(logits_t));
    ocs_case *c = ocs_case_add(l, OCS_PREVIEW_DOMAIN, "MoE", 1, "moe_%s_%s", m->tag, types);
    if (!c)
        return NULL;
    c->default_opset = 21;
    int64_t H = m->H, I = m->I, E = m->E;
    if (m->rank3)
        ocs_case_input_uniform(c, "input", t, 3, OCS_DIMS(2, m->T / 2, H), -1, 1);
    else
        ocs_case_input_uniform(c, "input", t, 2, OCS_DIMS(m->T, H), -1, 1);
    ocs_case_input_uniform(c, "router_logits", logits_t, 2, OCS_DIMS(m->T, E), -2, 2);
    if (m->expert == X_CUSTOM) {
        ocs_case_input_uniform(c, "s", t, 2, OCS_DIMS(E, H), -2, 2);
    } else {
        int gated = m->expert != X_FFN;
        int64_t up = gated && m->layout != OCS_MOE_GATE_UP_SEPARATE ? 2 * I : I;
        ocs_case_input_uniform(c, "W1", t, 3, OCS_DIMS(E, up, H), -0.5, 0.5);
        if (m->bias)
            ocs_case_input_uniform(c, "b1", t, 2, OCS_DIMS(E, up), -0.2, 0.2);
        ocs_case_input_uniform(c, "W2", t, 3, OCS_DIMS(E, H, I), -0.5, 0.5);
        if (m->bias)
            ocs_case_input_uniform(c, "b2", t, 2, OCS_DIMS(E, H), -0.2, 0.2);
        if (gated && m->layout == OCS_MOE_GATE_UP_SEPARATE) {
            ocs_case_input_uniform(c, "W3", t, 3, OCS_DIMS(E, I, H), -0.5, 0.5);
            if (m->bias)
                ocs_case_input_uniform(c, "b3", t, 2, OCS_DIMS(E, I), -0.2, 0.2);
        }
    }
    ocs_case_output(c, "output", t);
    ocs_case_attr_int(c, "k", m->k);
    if (m->router)
        ocs_case_attr_graph(c, "router", router_fn, m->router);
    ocs_case_attr_graph(c, "expert", expert_fn,
                        m->expert * 10000 + (int)m->act * 1000 + (int)m->layout * 100 + m->bias * 10 + m->no_limit);
    if (m->weight_input)
        ocs_case_attr_string(c, "weight_position", "input");
    return c;
}

void ocs_cases_moe(ocs_case_list *l)
{
    const ocs_moe_act RELU = OCS_MOE_ACT_RELU, GELU = OCS_MOE_ACT_GELU, TANH = OCS_MOE_ACT_GELU_TANH,
                      SILU = OCS_MOE_ACT_SILU;
    const ocs_moe_layout SEP = OCS_MOE_GATE_UP_SEPARATE, CAT = OCS_MOE_GATE_UP_CONCATENATED,
                         INTER = OCS_MOE_GATE_UP_INTERLEAVED;
    const moe cases[] = {
        /* tag, T, H, I, E, k, rank3, router, expert, act, layout, bias, no_limit, weight_input */
        {"default_router_ffn_silu_e6_k2", 7, 8, 12, 6, 2, 0, 0, X_FFN, SILU, SEP, 0, 0, 0},
        {"softmax_topk_e6_k2", 7, 8, 12, 6, 2, 0, R_SOFTMAX_TOPK, X_FFN, RELU, SEP, 0, 0, 0},
        {"softmax_topk_plain_e6_k3", 7, 8, 12, 6, 3, 0, R_SOFTMAX_TOPK_PLAIN, X_FFN, RELU, SEP, 0, 0, 0},
        {"topk_softmax_e6_k2", 7, 8, 12, 6, 2, 0, R_TOPK_SOFTMAX, X_FFN, RELU, SEP, 0, 0, 0},
        {"topk_sigmoid_e6_k1", 7, 8, 12, 6, 1, 0, R_TOPK_SIGMOID, X_FFN, RELU, SEP, 0, 0, 0},
        {"topk_sigmoid_weight_input_e6_k1", 7, 8, 12, 6, 1, 0, R_TOPK_SIGMOID, X_GLU, SILU, SEP, 0, 0, 1},
        {"sigmoid_bias_e6_k2", 7, 8, 12, 6, 2, 0, R_GROUPED_BIAS, X_FFN, RELU, SEP, 0, 0, 0},
        {"sigmoid_grouped_e6_g3_k3", 7, 8, 12, 6, 3, 0, R_GROUPED_GROUPS, X_FFN, RELU, SEP, 0, 0, 0},
        {"sparsemixer_e6_k2", 7, 8, 12, 6, 2, 0, R_SPARSEMIXER, X_FFN, RELU, SEP, 0, 0, 0},
        {"custom_router_e6_k2", 7, 8, 12, 6, 2, 0, R_CUSTOM, X_FFN, RELU, SEP, 0, 0, 0},
        {"ffn_relu_e5", 6, 8, 12, 5, 2, 0, 0, X_FFN, RELU, SEP, 0, 0, 0},
        {"ffn_relu_bias_e5", 6, 8, 12, 5, 2, 0, 0, X_FFN, RELU, SEP, 1, 0, 0},
        {"ffn_gelu_e5", 6, 8, 12, 5, 2, 0, 0, X_FFN, GELU, SEP, 0, 0, 0},
        {"ffn_gelu_bias_e5", 6, 8, 12, 5, 2, 0, 0, X_FFN, GELU, SEP, 1, 0, 0},
        {"ffn_gelu_tanh_e5", 6, 8, 12, 5, 2, 0, 0, X_FFN, TANH, SEP, 0, 0, 0},
        {"ffn_gelu_tanh_bias_e5", 6, 8, 12, 5, 2, 0, 0, X_FFN, TANH, SEP, 1, 0, 0},
        {"ffn_silu_bias_e5", 6, 8, 12, 5, 2, 0, 0, X_FFN, SILU, SEP, 1, 0, 0},
        {"glu_silu_separate_e6", 7, 8, 12, 6, 2, 0, 0, X_GLU, SILU, SEP, 0, 0, 0},
        {"glu_silu_separate_bias_e6", 7, 8, 12, 6, 2, 0, 0, X_GLU, SILU, SEP, 1, 0, 0},
        {"glu_silu_concat_e6", 7, 8, 12, 6, 2, 0, 0, X_GLU, SILU, CAT, 0, 0, 0},
        {"glu_silu_concat_bias_e6", 7, 8, 12, 6, 2, 0, 0, X_GLU, SILU, CAT, 1, 0, 0},
        {"glu_silu_interleaved_e6", 7, 8, 12, 6, 2, 0, 0, X_GLU, SILU, INTER, 0, 0, 0},
        {"glu_silu_interleaved_bias_e6", 7, 8, 12, 6, 2, 0, 0, X_GLU, SILU, INTER, 1, 0, 0},
        {"glu_gelu_concat_bias_e6", 7, 8, 12, 6, 2, 0, 0, X_GLU, GELU, CAT, 1, 0, 0},
        {"glu_gelu_tanh_interleaved_e6", 7, 8, 12, 6, 2, 0, 0, X_GLU, TANH, INTER, 0, 0, 0},
        {"glu_relu_separate_bias_e6", 7, 8, 12, 6, 2, 0, 0, X_GLU, RELU, SEP, 1, 0, 0},
        {"swiglu_oai_separate_bias_e6", 7, 8, 12, 6, 2, 0, R_TOPK_SOFTMAX, X_SWIGLU_OAI, SILU, SEP, 1, 0, 0},
        {"swiglu_oai_concat_bias_e6", 7, 8, 12, 6, 2, 0, R_TOPK_SOFTMAX, X_SWIGLU_OAI, SILU, CAT, 1, 0, 0},
        {"swiglu_oai_interleaved_bias_e6", 7, 8, 12, 6, 2, 0, R_TOPK_SOFTMAX, X_SWIGLU_OAI, SILU, INTER, 1, 0, 0},
        {"swiglu_oai_interleaved_nolimit_e6", 7, 8, 12, 6, 2, 0, 0, X_SWIGLU_OAI, SILU, INTER, 0, 1, 0},
        {"custom_expert_e6_k2", 7, 8, 12, 6, 2, 0, 0, X_CUSTOM, SILU, SEP, 0, 0, 0},
        {"k_equals_e_e5_k5", 6, 8, 12, 5, 5, 0, 0, X_FFN, SILU, SEP, 0, 0, 0},
        {"k1_e7", 9, 8, 12, 7, 1, 0, 0, X_GLU, SILU, CAT, 0, 0, 0},
        {"e1_k1", 4, 8, 12, 1, 1, 0, 0, X_FFN, GELU, SEP, 1, 0, 0},
        {"e3_k2", 5, 8, 12, 3, 2, 0, 0, X_FFN, SILU, SEP, 0, 0, 0},
        {"idle_experts_e9_t2_k1", 2, 8, 12, 9, 1, 0, 0, X_FFN, SILU, SEP, 0, 0, 0},
        {"one_token_e6_k2", 1, 8, 12, 6, 2, 0, 0, X_GLU, SILU, SEP, 0, 0, 0},
        {"no_tokens_e6_k2", 0, 8, 12, 6, 2, 0, 0, X_FFN, SILU, SEP, 0, 0, 0},
        {"input_3d_e6_k2", 8, 8, 12, 6, 2, 1, 0, X_FFN, SILU, SEP, 0, 0, 0},
        {"weight_input_ffn_e6_k2", 7, 8, 12, 6, 2, 0, 0, X_FFN, GELU, SEP, 1, 0, 1},
        {"hidden40_e6_k2", 5, 40, 24, 6, 2, 0, R_SOFTMAX_TOPK, X_GLU, SILU, CAT, 1, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ocs_case *c = add(l, &cases[i], OCS_FLOAT, OCS_FLOAT);
        if (cases[i].router == R_SPARSEMIXER)
            ocs_case_xfail(c, "ort", "onnxruntime 1.30's CPU com.microsoft.MoE ignores use_sparse_mixer: its CPU "
                                     "kernel always routes softmax -> top-k (max abs error 0.67 here)");
    }
    static const size_t typed[] = {0, 19, 26};
    for (size_t i = 0; i < sizeof typed / sizeof typed[0]; i++) {
        add(l, &cases[typed[i]], OCS_FLOAT16, OCS_FLOAT16);
        add(l, &cases[typed[i]], OCS_BFLOAT16, OCS_BFLOAT16);
    }
    add(l, &cases[0], OCS_DOUBLE, OCS_DOUBLE);
    add(l, &cases[1], OCS_FLOAT16, OCS_FLOAT);

    /* invalid inputs: the reference must reject each, a backend must return an error */
    ocs_case *c = add(l, &(moe){"error_k0", 4, 8, 12, 6, 0, 0, 0, X_FFN, SILU, SEP, 0, 0, 0}, OCS_FLOAT, OCS_FLOAT);
    ocs_case_expect_error(c, "k = 0");
    c = add(l, &(moe){"error_k_above_e", 4, 8, 12, 6, 7, 0, 0, X_FFN, SILU, SEP, 0, 0, 0}, OCS_FLOAT, OCS_FLOAT);
    ocs_case_expect_error(c, "larger than E");
    c = add(l, &(moe){"error_router_duplicates", 4, 8, 12, 6, 2, 0, R_BAD_DUPLICATES, X_FFN, SILU, SEP, 0, 0, 0},
            OCS_FLOAT, OCS_FLOAT);
    ocs_case_expect_error(c, "twice");
    c = add(l, &(moe){"error_router_out_of_range", 4, 8, 12, 6, 2, 0, R_BAD_OUT_OF_RANGE, X_FFN, SILU, SEP, 0, 0, 0},
            OCS_FLOAT, OCS_FLOAT);
    ocs_case_expect_error(c, "outside [0, 6)");
    c = add(l, &(moe){"error_weight_position", 4, 8, 12, 6, 2, 0, 0, X_FFN, SILU, SEP, 0, 0, 0}, OCS_FLOAT, OCS_FLOAT);
    ocs_case_attr_string(c, "weight_position", "middle");
    ocs_case_expect_error(c, "weight_position");
    /* expert_params whose leading dimension is not E */
    c = ocs_case_add(l, OCS_PREVIEW_DOMAIN, "MoE", 1, "moe_error_params_not_e_f32");
    if (c) {
        c->default_opset = 21;
        ocs_case_input_uniform(c, "input", OCS_FLOAT, 2, OCS_DIMS(4, 8), -1, 1);
        ocs_case_input_uniform(c, "router_logits", OCS_FLOAT, 2, OCS_DIMS(4, 6), -2, 2);
        ocs_case_input_uniform(c, "W1", OCS_FLOAT, 3, OCS_DIMS(5, 12, 8), -0.5, 0.5);
        ocs_case_input_uniform(c, "W2", OCS_FLOAT, 3, OCS_DIMS(6, 8, 12), -0.5, 0.5);
        ocs_case_output(c, "output", OCS_FLOAT);
        ocs_case_attr_int(c, "k", 2);
        ocs_case_attr_graph(c, "expert", expert_fn, X_FFN * 10000 + (int)SILU * 1000);
        ocs_case_expect_error(c, "leading dimension");
    }
    /* router_logits with another token count than input */
    c = ocs_case_add(l, OCS_PREVIEW_DOMAIN, "MoE", 1, "moe_error_token_count_f32");
    if (c) {
        c->default_opset = 21;
        ocs_case_input_uniform(c, "input", OCS_FLOAT, 2, OCS_DIMS(4, 8), -1, 1);
        ocs_case_input_uniform(c, "router_logits", OCS_FLOAT, 2, OCS_DIMS(5, 6), -2, 2);
        ocs_case_input_uniform(c, "W1", OCS_FLOAT, 3, OCS_DIMS(6, 12, 8), -0.5, 0.5);
        ocs_case_input_uniform(c, "W2", OCS_FLOAT, 3, OCS_DIMS(6, 8, 12), -0.5, 0.5);
        ocs_case_output(c, "output", OCS_FLOAT);
        ocs_case_attr_int(c, "k", 2);
        ocs_case_attr_graph(c, "expert", expert_fn, X_FFN * 10000 + (int)SILU * 1000);
        ocs_case_expect_error(c, "router_logits");
    }
}
