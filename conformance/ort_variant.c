/*
 * conformance/ort_variant.c - a case expressed with ONNX Runtime's contrib
 * operators, so that ORT runs its own kernel rather than our function body.
 *
 * Today this covers MoE: an ai.onnx.preview MoE node whose hooks are
 * canonical (include/ocs/hook_match.h) and fit com.microsoft.MoE's attributes
 * becomes one com.microsoft.MoE node reading the same graph inputs:
 *
 *   router                              ORT attributes
 *   absent (default) or softmax_topk    normalize_routing_weights = renormalize
 *   sparsemixer (k = 2)                 use_sparse_mixer = 1
 *
 *   expert                              ORT attributes          ORT inputs
 *   ffn relu / gelu_tanh / silu / id    activation_type         fc1 = W1, fc2 = W2
 *   glu silu (SwiGLU), any layout       swiglu, alpha 1, beta 0 fc1 (+ fc3 when separate)
 *   swiglu_oai                          swiglu, alpha, beta, limit
 *   layout separate / interleaved /     swiglu_fusion 0 / 1 / 2
 *   concatenated
 *
 * ORT's "gelu" is the tanh approximation, so an erf-gelu expert has no
 * contrib form; nor do GeGLU/ReGLU, the other routers, weight_position
 * "input", or logits whose type differs from the input's.  Those cases keep
 * the function body as ORT's only route.
 */
#include "ort_variant.h"

#include <math.h>
#include <string.h>

#include "ocs/build.h"
#include "ocs/hook_match.h"
#include "ocs/schema.h"

/* The single node of a one-node case, or NULL. */
static const ocs_node *single_node(const ocs_model *m)
{
    return m->graph->n_nodes == 1 ? &m->graph->nodes[0] : NULL;
}

static const char *activation_name(ocs_moe_act act)
{
    switch (act) {
    case OCS_MOE_ACT_RELU: return "relu";
    case OCS_MOE_ACT_GELU_TANH: return "gelu";
    case OCS_MOE_ACT_SILU: return "silu";
    case OCS_MOE_ACT_IDENTITY: return "identity";
    default: return NULL;
    }
}

/* The element type a graph value is declared or initialised with. */
static ocs_dtype value_dtype(const ocs_graph *g, const char *name)
{
    for (size_t i = 0; i < g->n_inputs; i++)
        if (!strcmp(g->inputs[i].name, name))
            return g->inputs[i].type.elem;
    for (size_t i = 0; i < g->n_inits; i++)
        if (!strcmp(g->inits[i].name, name))
            return g->inits[i].tensor->dtype;
    return OCS_UNDEFINED;
}

typedef struct ort_moe {
    const char *activation;
    int64_t k, normalize, sparse_mixer, fusion;
    int swiglu_params;                 /* alpha, beta and limit apply */
    float alpha, beta, limit;
    const char *in[8];                 /* ORT inputs 0..7, "" when absent */
} ort_moe;

/* Maps the MoE node n to ORT's form; 0 when it has none. */
static int map_moe(const ocs_graph *g, const ocs_node *n, ort_moe *o)
{
    memset(o, 0, sizeof *o);
    for (int i = 0; i < 8; i++)
        o->in[i] = "";
    const ocs_attr *wp = ocs_node_attr(n, "weight_position");
    if (wp && (wp->type != OCS_ATTR_STRING || strcmp(wp->s.data, "output")))
        return 0;
    const ocs_attr *k = ocs_node_attr(n, "k");
    const ocs_attr *router = ocs_node_attr(n, "router");
    const ocs_attr *expert = ocs_node_attr(n, "expert");
    if (!k || k->type != OCS_ATTR_INT || !expert || expert->type != OCS_ATTR_GRAPH || n->n_inputs < 3)
        return 0;
    o->k = k->i;
    if (value_dtype(g, n->inputs[0]) != value_dtype(g, n->inputs[1]))
        return 0;

    o->normalize = 1;                  /* the default router renormalises */
    if (router) {
        ocs_hook_router r;
        if (router->type != OCS_ATTR_GRAPH || !ocs_hook_match_router(router->g, &r) || r.k != o->k)
            return 0;
        if (r.kind == OCS_HOOK_ROUTER_SOFTMAX_TOPK)
            o->normalize = r.renormalize;
        else if (r.kind == OCS_HOOK_ROUTER_SPARSEMIXER && r.k == 2)
            o->sparse_mixer = 1, o->normalize = 0;
        else
            return 0;
    }

    ocs_hook_expert x;
    if (!ocs_hook_match_expert(expert->g, &x))
        return 0;
    size_t np = n->n_inputs - 2;
    if (np != ocs_hook_expert_param_count(&x))
        return 0;
    const char *const *p = (const char *const *)n->inputs + 2;
    o->in[0] = n->inputs[0];
    o->in[1] = n->inputs[1];
    if (x.kind == OCS_HOOK_EXPERT_FFN) {
        o->activation = activation_name(x.act);
        if (!o->activation)
            return 0;
        /* ffn params: W1, (b1), W2, (b2) */
        o->in[2] = p[0];
        o->in[3] = x.bias ? p[1] : "";
        o->in[4] = p[x.bias ? 2 : 1];
        o->in[5] = x.bias ? p[3] : "";
        return 1;
    }
    if (x.kind == OCS_HOOK_EXPERT_GLU && x.act != OCS_MOE_ACT_SILU)
        return 0;
    o->activation = "swiglu";
    o->swiglu_params = 1;
    o->alpha = x.kind == OCS_HOOK_EXPERT_SWIGLU_OAI ? x.alpha : 1.0f;
    o->beta = x.kind == OCS_HOOK_EXPERT_SWIGLU_OAI ? x.beta : 0.0f;
    o->limit = x.kind == OCS_HOOK_EXPERT_SWIGLU_OAI ? x.limit : INFINITY;
    o->fusion = x.layout == OCS_MOE_GATE_UP_SEPARATE ? 0 : x.layout == OCS_MOE_GATE_UP_INTERLEAVED ? 1 : 2;
    /* glu params: W1, (b1), W2, (b2) [, W3, (b3) when separate] */
    size_t i = 0;
    o->in[2] = p[i++];
    o->in[3] = x.bias ? p[i++] : "";
    o->in[4] = p[i++];
    o->in[5] = x.bias ? p[i++] : "";
    if (x.layout == OCS_MOE_GATE_UP_SEPARATE) {
        o->in[6] = p[i++];
        o->in[7] = x.bias ? p[i++] : "";
    }
    return 1;
}

/* Copies graph inputs, outputs and initializers of src into dst. */
static ocs_status copy_interface(const ocs_graph *src, ocs_graph *dst, ocs_err *err)
{
    ocs_status st = OCS_OK;
    const ocs_value_info *lists[2] = {src->inputs, src->outputs};
    size_t counts[2] = {src->n_inputs, src->n_outputs};
    for (int l = 0; l < 2 && st == OCS_OK; l++)
        for (size_t i = 0; i < counts[l] && st == OCS_OK; i++) {
            const ocs_value_info *vi = &lists[l][i];
            int64_t dims[OCS_MAX_RANK];
            int rank = vi->type.has_shape && vi->type.rank <= OCS_MAX_RANK ? vi->type.rank : -1;
            for (int d = 0; d < rank; d++)
                dims[d] = vi->type.dims[d].value;
            st = (l == 0 ? ocs_graph_add_input : ocs_graph_add_output)(dst, vi->name, vi->type.elem, rank, dims, err);
        }
    for (size_t i = 0; i < src->n_inits && st == OCS_OK; i++)
        st = ocs_graph_add_initializer(dst, src->inits[i].name, src->inits[i].tensor, err);
    return st;
}

ocs_status ocs_ort_variant(const ocs_model *m, ocs_model **out, ocs_err *err)
{
    *out = NULL;
    const ocs_node *n = single_node(m);
    ort_moe o;
    if (!n || strcmp(n->domain, OCS_PREVIEW_DOMAIN) || strcmp(n->op_type, "MoE") || !map_moe(m->graph, n, &o))
        return ocs_fail(err, OCS_ERR_UNSUPPORTED, "no com.microsoft form");

    ocs_model *v = NULL;
    ocs_status st = ocs_model_new(&v, err);
    if (st == OCS_OK)
        st = ocs_model_import(v, "", 17, err);
    if (st == OCS_OK)
        st = ocs_model_import(v, "com.microsoft", 1, err);
    if (st == OCS_OK)
        st = copy_interface(m->graph, v->graph, err);
    size_t n_in = 8;
    while (n_in > 3 && !o.in[n_in - 1][0])
        n_in--;
    ocs_node *moe = NULL;
    if (st == OCS_OK)
        st = ocs_graph_add_node(v->graph, "MoE", "com.microsoft", n->name, n_in, o.in, 1,
                                (const char *const *)n->outputs, &moe, err);
    if (st == OCS_OK)
        st = ocs_node_set_string(moe, "activation_type", o.activation, err);
    if (st == OCS_OK)
        st = ocs_node_set_int(moe, "k", o.k, err);
    if (st == OCS_OK)
        st = ocs_node_set_int(moe, "normalize_routing_weights", o.normalize, err);
    if (st == OCS_OK && o.sparse_mixer)
        st = ocs_node_set_int(moe, "use_sparse_mixer", 1, err);
    if (st == OCS_OK && o.swiglu_params) {
        st = ocs_node_set_int(moe, "swiglu_fusion", o.fusion, err);
        if (st == OCS_OK)
            st = ocs_node_set_float(moe, "activation_alpha", o.alpha, err);
        if (st == OCS_OK)
            st = ocs_node_set_float(moe, "activation_beta", o.beta, err);
        if (st == OCS_OK && isfinite(o.limit))
            st = ocs_node_set_float(moe, "swiglu_limit", o.limit, err);
    }
    if (st != OCS_OK) {
        ocs_model_free(v);
        return st;
    }
    *out = v;
    return OCS_OK;
}
