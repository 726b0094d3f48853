/*
 * tests/test_hook_match.c - recognition of the canonical MoE hooks: every
 * hook ocs/hooks.h builds is recognised with the parameters it was built
 * with, renaming values changes nothing, and near-misses (a changed
 * constant or attribute, swapped inputs, an extra node, another type) are
 * not recognised.
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
#include "ocs/hook_match.h"
#include "ocs/hooks.h"

static const ocs_moe_act all_acts[] = {OCS_MOE_ACT_IDENTITY, OCS_MOE_ACT_RELU, OCS_MOE_ACT_GELU,
                                       OCS_MOE_ACT_GELU_TANH, OCS_MOE_ACT_SILU};
static const ocs_moe_layout all_layouts[] = {OCS_MOE_GATE_UP_SEPARATE, OCS_MOE_GATE_UP_CONCATENATED,
                                             OCS_MOE_GATE_UP_INTERLEAVED};
static const ocs_dtype float_types[] = {OCS_FLOAT, OCS_FLOAT16, OCS_BFLOAT16};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static void check_expert(const ocs_graph *g, const ocs_hook_expert *want)
{
    ocs_hook_expert got;
    memset(&got, 0xff, sizeof got);
    if (!ocs_hook_match_expert(g, &got))
        fail_msg("expert %s not recognised", g->name);
    assert_int_equal(got.kind, want->kind);
    assert_int_equal(got.dtype, want->dtype);
    assert_int_equal(got.bias, want->bias);
    if (want->kind != OCS_HOOK_EXPERT_SWIGLU_OAI)
        assert_int_equal(got.act, want->act);
    if (want->kind != OCS_HOOK_EXPERT_FFN)
        assert_int_equal(got.layout, want->layout);
    if (want->kind == OCS_HOOK_EXPERT_SWIGLU_OAI) {
        assert_true(got.alpha == want->alpha);
        assert_true(got.beta == want->beta);
        assert_true(got.limit == want->limit);
    }
    assert_int_equal(ocs_hook_expert_param_count(&got), g->n_inputs - 1);
}

static void test_experts_recognised(void **state)
{
    (void)state;
    for (size_t t = 0; t < N_OF(float_types); t++)
        for (int bias = 0; bias <= 1; bias++) {
            for (size_t a = 0; a < N_OF(all_acts); a++) {
                ocs_graph *g = NULL;
                assert_int_equal(ocs_moe_expert_ffn(float_types[t], all_acts[a], bias, &g, NULL), OCS_OK);
                ocs_hook_expert want = {OCS_HOOK_EXPERT_FFN, float_types[t], all_acts[a], 0, bias, 0, 0, 0};
                check_expert(g, &want);
                ocs_graph_free(g);
                for (size_t l = 0; l < N_OF(all_layouts); l++) {
                    assert_int_equal(ocs_moe_expert_glu(float_types[t], all_acts[a], all_layouts[l], bias, &g, NULL),
                                     OCS_OK);
                    ocs_hook_expert w2 = {OCS_HOOK_EXPERT_GLU, float_types[t], all_acts[a], all_layouts[l], bias,
                                          0, 0, 0};
                    check_expert(g, &w2);
                    ocs_graph_free(g);
                }
            }
            static const float params[][3] = {{1.702f, 1.0f, 7.0f}, {1.0f, 0.0f, INFINITY}, {0.5f, -2.0f, 0.0f},
                                              {3.0f, 0.25f, 100.0f}};
            for (size_t l = 0; l < N_OF(all_layouts); l++)
                for (size_t p = 0; p < N_OF(params); p++) {
                    ocs_graph *g = NULL;
                    assert_int_equal(ocs_moe_expert_swiglu_oai(float_types[t], all_layouts[l], bias, params[p][0],
                                                               params[p][1], params[p][2], &g, NULL),
                                     OCS_OK);
                    ocs_hook_expert want = {OCS_HOOK_EXPERT_SWIGLU_OAI, float_types[t], OCS_MOE_ACT_SILU,
                                            all_layouts[l], bias, params[p][0], params[p][1], params[p][2]};
                    if (float_types[t] != OCS_FLOAT) {
                        /* the constants are stored in the expert's type */
                        ocs_hook_expert got;
                        assert_true(ocs_hook_match_expert(g, &got));
                        assert_int_equal(got.kind, OCS_HOOK_EXPERT_SWIGLU_OAI);
                        assert_int_equal(got.layout, all_layouts[l]);
                        assert_int_equal(got.bias, bias);
                        assert_true(fabsf(got.alpha - params[p][0]) <= 0.01f * fabsf(params[p][0]));
                        /* the rebuilt graph is the given one */
                        ocs_graph *again = NULL;
                        assert_int_equal(ocs_hook_expert_build(&got, &again, NULL), OCS_OK);
                        assert_true(ocs_graph_same_structure(again, g));
                        ocs_graph_free(again);
                    } else {
                        check_expert(g, &want);
                    }
                    ocs_graph_free(g);
                }
        }
}

static void check_router(const ocs_graph *g, const ocs_hook_router *want)
{
    ocs_hook_router got;
    memset(&got, 0xff, sizeof got);
    if (!ocs_hook_match_router(g, &got))
        fail_msg("router %s not recognised", g->name);
    assert_int_equal(got.kind, want->kind);
    assert_int_equal(got.logits_type, want->logits_type);
    assert_int_equal(got.k, want->k);
    switch (want->kind) {
    case OCS_HOOK_ROUTER_SOFTMAX_TOPK:
        assert_int_equal(got.renormalize, want->renormalize);
        break;
    case OCS_HOOK_ROUTER_SIGMOID_GROUPED:
        assert_int_equal(got.grouped.k, want->grouped.k);
        assert_int_equal(got.grouped.n_group, want->grouped.n_group);
        assert_int_equal(got.grouped.topk_group, want->grouped.topk_group);
        assert_int_equal(got.grouped.renormalize, want->grouped.renormalize);
        assert_true(got.grouped.routed_scaling_factor == want->grouped.routed_scaling_factor);
        assert_int_equal(got.grouped.n_bias, want->grouped.n_bias);
        if (want->grouped.bias)
            assert_memory_equal(got.grouped.bias, want->grouped.bias, want->grouped.n_bias * sizeof(float));
        else
            assert_null(got.grouped.bias);
        break;
    case OCS_HOOK_ROUTER_SPARSEMIXER:
        assert_true(got.jitter_eps == want->jitter_eps);
        break;
    default:
        break;
    }
}

static void test_routers_recognised(void **state)
{
    (void)state;
    for (size_t t = 0; t < N_OF(float_types); t++) {
        ocs_dtype lt = float_types[t];
        for (int64_t k = 1; k <= 4; k++) {
            ocs_graph *g = NULL;
            for (int renorm = 0; renorm <= 1; renorm++) {
                assert_int_equal(ocs_moe_router_softmax_topk(lt, k, renorm, &g, NULL), OCS_OK);
                ocs_hook_router want = {.kind = OCS_HOOK_ROUTER_SOFTMAX_TOPK, .logits_type = lt, .k = k,
                                        .renormalize = renorm};
                check_router(g, &want);
                ocs_graph_free(g);
            }
            assert_int_equal(ocs_moe_router_topk_softmax(lt, k, &g, NULL), OCS_OK);
            ocs_hook_router w1 = {.kind = OCS_HOOK_ROUTER_TOPK_SOFTMAX, .logits_type = lt, .k = k};
            check_router(g, &w1);
            ocs_graph_free(g);
            assert_int_equal(ocs_moe_router_topk_sigmoid(lt, k, &g, NULL), OCS_OK);
            ocs_hook_router w2 = {.kind = OCS_HOOK_ROUTER_TOPK_SIGMOID, .logits_type = lt, .k = k};
            check_router(g, &w2);
            ocs_graph_free(g);
        }
        static const float eps[] = {0.01f, 0.0f, 0.2f};
        for (size_t e = 0; e < N_OF(eps); e++) {
            ocs_graph *g = NULL;
            assert_int_equal(ocs_moe_router_sparsemixer(lt, eps[e], &g, NULL), OCS_OK);
            ocs_hook_router want = {.kind = OCS_HOOK_ROUTER_SPARSEMIXER, .logits_type = lt, .k = 2,
                                    .jitter_eps = eps[e]};
            check_router(g, &want);
            ocs_graph_free(g);
        }
        static const float bias6[] = {0.5f, -0.25f, 0.125f, 0.0f, 1.0f, -1.0f};
        static const float bias12[] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, -0.1f, -0.2f, -0.3f, -0.4f, -0.5f, 2.0f};
        for (int f = 0; f < 16; f++) {
            int bias = f & 1, groups = (f >> 1) & 1, renorm = (f >> 2) & 1, scale = (f >> 3) & 1;
            ocs_moe_grouped cfg = {.k = groups ? 3 : 2,
                                   .n_group = groups ? 4 : 1,
                                   .topk_group = groups ? 2 : 1,
                                   .renormalize = renorm,
                                   .routed_scaling_factor = scale ? 2.5f : 1.0f,
                                   .bias = bias ? (groups ? bias12 : bias6) : NULL,
                                   .n_bias = bias ? (groups ? 12 : 6) : 0};
            ocs_graph *g = NULL;
            assert_int_equal(ocs_moe_router_sigmoid_grouped(lt, &cfg, &g, NULL), OCS_OK);
            ocs_hook_router want = {.kind = OCS_HOOK_ROUTER_SIGMOID_GROUPED, .logits_type = lt, .k = cfg.k,
                                    .grouped = cfg};
            check_router(g, &want);
            ocs_graph_free(g);
        }
    }
}

/* ---- near-misses ---------------------------------------------------------------------- */

static ocs_graph *glu_silu(void)
{
    ocs_graph *g = NULL;
    assert_int_equal(ocs_moe_expert_glu(OCS_FLOAT, OCS_MOE_ACT_SILU, OCS_MOE_GATE_UP_SEPARATE, 0, &g, NULL), OCS_OK);
    return g;
}

static ocs_node *find_node(ocs_graph *g, const char *op, int nth)
{
    for (size_t i = 0; i < g->n_nodes; i++)
        if (!strcmp(g->nodes[i].op_type, op) && nth-- == 0)
            return &g->nodes[i];
    fail_msg("no %s node", op);
    return NULL;
}

static ocs_tensor *find_init(ocs_graph *g, const char *name)
{
    for (size_t i = 0; i < g->n_inits; i++)
        if (!strcmp(g->inits[i].name, name))
            return g->inits[i].tensor;
    fail_msg("no initializer %s", name);
    return NULL;
}

static void swap_str(char **a, char **b)
{
    char *t = *a;
    *a = *b;
    *b = t;
}

static void test_renamed_values_still_match(void **state)
{
    (void)state;
    ocs_graph *g = NULL;
    assert_int_equal(ocs_moe_expert_swiglu_oai(OCS_FLOAT, OCS_MOE_GATE_UP_INTERLEAVED, 1, 1.702f, 1.0f, 7.0f, &g,
                                               NULL),
                     OCS_OK);
    /* rename every value by prefixing "r_" */
    char buf[256];
#define RENAME(p)                                               \
    do {                                                        \
        if (*(p) && **(p)) {                                    \
            snprintf(buf, sizeof buf, "r_%s", *(p));            \
            char *n = malloc(strlen(buf) + 1);                  \
            assert_non_null(n);                                 \
            strcpy(n, buf);                                     \
            free(*(p));                                         \
            *(p) = n;                                           \
        }                                                       \
    } while (0)
    for (size_t i = 0; i < g->n_inputs; i++)
        RENAME(&g->inputs[i].name);
    for (size_t i = 0; i < g->n_outputs; i++)
        RENAME(&g->outputs[i].name);
    for (size_t i = 0; i < g->n_inits; i++)
        RENAME(&g->inits[i].name);
    for (size_t i = 0; i < g->n_nodes; i++) {
        for (size_t s = 0; s < g->nodes[i].n_inputs; s++)
            RENAME(&g->nodes[i].inputs[s]);
        for (size_t s = 0; s < g->nodes[i].n_outputs; s++)
            RENAME(&g->nodes[i].outputs[s]);
    }
#undef RENAME
    ocs_hook_expert got;
    assert_true(ocs_hook_match_expert(g, &got));
    assert_int_equal(got.kind, OCS_HOOK_EXPERT_SWIGLU_OAI);
    assert_int_equal(got.layout, OCS_MOE_GATE_UP_INTERLEAVED);
    assert_true(got.alpha == 1.702f && got.beta == 1.0f && got.limit == 7.0f);
    ocs_graph_free(g);
}

static void test_near_miss_experts(void **state)
{
    (void)state;
    ocs_hook_expert got;

    /* swapped inputs of the gate * up product */
    ocs_graph *g = glu_silu();
    ocs_node *mul = NULL;
    for (size_t i = 0; i < g->n_nodes; i++)
        if (!strcmp(g->nodes[i].op_type, "Mul"))
            mul = &g->nodes[i];   /* the last Mul is act * up */
    assert_non_null(mul);
    swap_str(&mul->inputs[0], &mul->inputs[1]);
    assert_false(ocs_hook_match_expert(g, &got));
    ocs_graph_free(g);

    /* W1 and W3 swapped as graph inputs: the gate would read the up weights */
    g = glu_silu();
    ocs_node *gemm = find_node(g, "Gemm", 0);
    ocs_node *gemm3 = find_node(g, "Gemm", 1);
    swap_str(&gemm->inputs[1], &gemm3->inputs[1]);
    assert_false(ocs_hook_match_expert(g, &got));
    ocs_graph_free(g);

    /* an attribute changed: transB = 0 */
    g = glu_silu();
    gemm = find_node(g, "Gemm", 0);
    for (size_t a = 0; a < gemm->n_attrs; a++)
        if (!strcmp(gemm->attrs[a].name, "transB"))
            gemm->attrs[a].i = 0;
    assert_false(ocs_hook_match_expert(g, &got));
    ocs_graph_free(g);

    /* an extra node before the output */
    g = glu_silu();
    {
        ocs_node *last = &g->nodes[g->n_nodes - 1];
        char *y = last->outputs[0];
        last->outputs[0] = malloc(8);
        assert_non_null(last->outputs[0]);
        strcpy(last->outputs[0], "y_pre");
        const char *in[] = {"y_pre"}, *out[] = {y};
        assert_int_equal(ocs_graph_add_node(g, "Identity", "", NULL, 1, in, 1, out, NULL, NULL), OCS_OK);
        free(y);
    }
    assert_false(ocs_hook_match_expert(g, &got));
    ocs_graph_free(g);

    /* a changed constant in exact GELU */
    assert_int_equal(ocs_moe_expert_ffn(OCS_FLOAT, OCS_MOE_ACT_GELU, 0, &g, NULL), OCS_OK);
    assert_true(ocs_hook_match_expert(g, &got));
    ocs_tensor *c0 = find_init(g, "act_c0");
    ((float *)c0->data)[0] = 1.4142f;
    assert_false(ocs_hook_match_expert(g, &got));
    ocs_graph_free(g);

    /* the tanh-GELU cubic coefficient changed */
    assert_int_equal(ocs_moe_expert_glu(OCS_FLOAT, OCS_MOE_ACT_GELU_TANH, OCS_MOE_GATE_UP_CONCATENATED, 1, &g, NULL),
                     OCS_OK);
    assert_true(ocs_hook_match_expert(g, &got));
    ((float *)find_init(g, "act_c1")->data)[0] = 0.05f;
    assert_false(ocs_hook_match_expert(g, &got));
    ocs_graph_free(g);

    /* OpenAI SwiGLU whose lower clamp is not -limit */
    assert_int_equal(ocs_moe_expert_swiglu_oai(OCS_FLOAT, OCS_MOE_GATE_UP_INTERLEAVED, 1, 1.702f, 1.0f, 7.0f, &g,
                                               NULL),
                     OCS_OK);
    assert_true(ocs_hook_match_expert(g, &got));
    ((float *)find_init(g, "neg_limit")->data)[0] = -6.0f;
    assert_false(ocs_hook_match_expert(g, &got));
    ocs_graph_free(g);

    /* interleaved gather indices exchanged: gate and up swap roles */
    assert_int_equal(ocs_moe_expert_glu(OCS_FLOAT, OCS_MOE_ACT_SILU, OCS_MOE_GATE_UP_INTERLEAVED, 0, &g, NULL),
                     OCS_OK);
    ((int64_t *)find_init(g, "gate_index")->data)[0] = 1;
    ((int64_t *)find_init(g, "up_index")->data)[0] = 0;
    assert_false(ocs_hook_match_expert(g, &got));
    ocs_graph_free(g);

    /* a different op in place of Sigmoid */
    g = glu_silu();
    ocs_node *sig = find_node(g, "Sigmoid", 0);
    free(sig->op_type);
    sig->op_type = malloc(8);
    assert_non_null(sig->op_type);
    strcpy(sig->op_type, "Tanh");
    assert_false(ocs_hook_match_expert(g, &got));
    ocs_graph_free(g);

    /* a double-typed expert is still canonical; an integer one is not a graph we accept */
    assert_int_equal(ocs_moe_expert_ffn(OCS_DOUBLE, OCS_MOE_ACT_RELU, 1, &g, NULL), OCS_OK);
    assert_true(ocs_hook_match_expert(g, &got));
    assert_int_equal(got.dtype, OCS_DOUBLE);
    g->inputs[0].type.elem = OCS_INT32;
    assert_false(ocs_hook_match_expert(g, &got));
    ocs_graph_free(g);

    /* a router is not an expert and an expert is not a router */
    ocs_hook_router r;
    g = glu_silu();
    assert_false(ocs_hook_match_router(g, &r));
    ocs_graph_free(g);
    assert_int_equal(ocs_moe_router_softmax_topk(OCS_FLOAT, 2, 1, &g, NULL), OCS_OK);
    assert_false(ocs_hook_match_expert(g, &got));
    ocs_graph_free(g);
}

static void test_near_miss_routers(void **state)
{
    (void)state;
    ocs_hook_router r;
    ocs_graph *g = NULL;

    /* softmax over another axis */
    assert_int_equal(ocs_moe_router_softmax_topk(OCS_FLOAT, 2, 1, &g, NULL), OCS_OK);
    ocs_node *sm = find_node(g, "Softmax", 0);
    sm->attrs[0].i = 0;
    assert_false(ocs_hook_match_router(g, &r));
    ocs_graph_free(g);

    /* TopK of the smallest */
    assert_int_equal(ocs_moe_router_topk_softmax(OCS_FLOAT, 2, &g, NULL), OCS_OK);
    ocs_node *tk = find_node(g, "TopK", 0);
    for (size_t a = 0; a < tk->n_attrs; a++)
        if (!strcmp(tk->attrs[a].name, "largest"))
            tk->attrs[a].i = 0;
    assert_false(ocs_hook_match_router(g, &r));
    ocs_graph_free(g);

    /* Div operands swapped in the renormalisation */
    assert_int_equal(ocs_moe_router_softmax_topk(OCS_FLOAT, 2, 1, &g, NULL), OCS_OK);
    ocs_node *div = find_node(g, "Div", 0);
    swap_str(&div->inputs[0], &div->inputs[1]);
    assert_false(ocs_hook_match_router(g, &r));
    ocs_graph_free(g);

    /* outputs exchanged */
    assert_int_equal(ocs_moe_router_topk_sigmoid(OCS_FLOAT, 2, &g, NULL), OCS_OK);
    swap_str(&g->outputs[0].name, &g->outputs[1].name);
    assert_false(ocs_hook_match_router(g, &r));
    ocs_graph_free(g);

    /* DeepSeek: renormalisation epsilon changed */
    static const float bias[] = {0.1f, 0.2f, 0.3f, 0.4f};
    ocs_moe_grouped cfg = {.k = 2, .n_group = 2, .topk_group = 1, .renormalize = 1,
                           .routed_scaling_factor = 2.5f, .bias = bias, .n_bias = 4};
    assert_int_equal(ocs_moe_router_sigmoid_grouped(OCS_FLOAT, &cfg, &g, NULL), OCS_OK);
    assert_true(ocs_hook_match_router(g, &r));
    ((float *)find_init(g, "tiny")->data)[0] = 1e-6f;
    assert_false(ocs_hook_match_router(g, &r));
    ocs_graph_free(g);

    /* DeepSeek: group scores from the top 3 instead of the top 2 */
    assert_int_equal(ocs_moe_router_sigmoid_grouped(OCS_FLOAT, &cfg, &g, NULL), OCS_OK);
    ((int64_t *)find_init(g, "two")->data)[0] = 3;
    assert_false(ocs_hook_match_router(g, &r));
    ocs_graph_free(g);

    /* SparseMixer: -inf filler replaced */
    assert_int_equal(ocs_moe_router_sparsemixer(OCS_FLOAT, 0.01f, &g, NULL), OCS_OK);
    assert_true(ocs_hook_match_router(g, &r));
    ((float *)find_init(g, "neg_inf")->data)[0] = -1e9f;
    assert_false(ocs_hook_match_router(g, &r));
    ocs_graph_free(g);

    /* an extra input */
    assert_int_equal(ocs_moe_router_topk_softmax(OCS_FLOAT, 2, &g, NULL), OCS_OK);
    assert_int_equal(ocs_graph_add_input(g, "extra", OCS_FLOAT, -1, NULL, NULL), OCS_OK);
    assert_false(ocs_hook_match_router(g, &r));
    ocs_graph_free(g);
}

/* Which input types a fused MoE implementation takes (ocs_hook_moe_types_fused). */
static void test_types_for_a_fused_moe(void **state)
{
    (void)state;
    ocs_hook_moe m;
    memset(&m, 0, sizeof m);
    m.expert.dtype = OCS_FLOAT16;
    ocs_tensor_type in[5];
    memset(in, 0, sizeof in);
    const ocs_dtype ok[5] = {OCS_FLOAT16, OCS_DOUBLE, OCS_FLOAT16, OCS_UNDEFINED, OCS_FLOAT16};
    for (int i = 0; i < 5; i++)
        in[i].dtype = ok[i];
    assert_true(ocs_hook_moe_types_fused(&m, 5, in));
    assert_false(ocs_hook_moe_types_fused(&m, 1, in));          /* no logits */
    in[0].dtype = OCS_FLOAT;                                     /* input not the expert's type */
    assert_false(ocs_hook_moe_types_fused(&m, 5, in));
    m.expert.dtype = OCS_FLOAT;
    assert_false(ocs_hook_moe_types_fused(&m, 5, in));          /* parameters in float16 */
    in[2].dtype = in[4].dtype = OCS_FLOAT;
    assert_true(ocs_hook_moe_types_fused(&m, 5, in));
    in[1].dtype = OCS_INT32;                                     /* logits of no float type */
    assert_false(ocs_hook_moe_types_fused(&m, 5, in));
    in[1].dtype = OCS_BFLOAT16;
    m.has_router = 1;                                            /* a router fixes the logits' type */
    m.router.logits_type = OCS_FLOAT;
    assert_false(ocs_hook_moe_types_fused(&m, 5, in));
    m.router.logits_type = OCS_BFLOAT16;
    assert_true(ocs_hook_moe_types_fused(&m, 5, in));
    m.expert.dtype = in[0].dtype = in[2].dtype = in[4].dtype = OCS_DOUBLE;   /* no double experts */
    assert_false(ocs_hook_moe_types_fused(&m, 5, in));
}

static void test_same_structure(void **state)
{
    (void)state;
    ocs_graph *a = glu_silu(), *b = glu_silu(), *c = NULL;
    assert_true(ocs_graph_same_structure(a, b));
    assert_int_equal(ocs_moe_expert_glu(OCS_FLOAT, OCS_MOE_ACT_SILU, OCS_MOE_GATE_UP_SEPARATE, 1, &c, NULL), OCS_OK);
    assert_false(ocs_graph_same_structure(a, c));
    assert_false(ocs_graph_same_structure(a, NULL));
    ocs_graph_free(a);
    ocs_graph_free(b);
    ocs_graph_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_experts_recognised),
        cmocka_unit_test(test_routers_recognised),
        cmocka_unit_test(test_renamed_values_still_match),
        cmocka_unit_test(test_near_miss_experts),
        cmocka_unit_test(test_near_miss_routers),
        cmocka_unit_test(test_same_structure),
        cmocka_unit_test(test_types_for_a_fused_moe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
