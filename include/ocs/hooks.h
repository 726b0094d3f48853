/*
 * ocs/hooks.h - the canonical hook library of the MoE operator.
 *
 * ai.onnx.preview MoE takes its routing and its expert computation as GRAPH
 * attributes ("hooks").  The functions below build the canonical ones, the
 * hooks that cover the MoE models in use (Mixtral, Qwen, OLMoE, DBRX, Grok,
 * Switch, Phi-3.5, DeepSeek-V3, GPT-OSS, Llama-4) and every attribute
 * combination of ONNX Runtime's com.microsoft.MoE.  Backends recognise them
 * by structure and run a fused kernel; any other hook still runs, generically.
 * Each builder returns a standalone graph (*out, owned by the caller: hand it
 * to ocs_node_set_graph, or free it with ocs_graph_free).  The graphs use
 * default-domain operators that exist unchanged from opset 13 on.
 *
 * ROUTERS  (logits [T, E]) -> (weights [T, k] float, indices [T, k] int64)
 *
 *   The logits (any float type, declared as logits_type) are first cast to
 *   float; all routing math is float32.  Selection is ONNX TopK (largest,
 *   sorted): row j of the result is the j-th largest score, and equal scores
 *   go to the lower expert index.  With z = float(logits[t]):
 *
 *   softmax_topk     p = softmax(z); (w, i) = TopK(p, k);
 *                    renormalize: w = w / sum(w).  The operator's default
 *                    router is softmax_topk with renormalize = 1.
 *   topk_softmax     (v, i) = TopK(z, k); w = softmax(v)       (GPT-OSS)
 *   topk_sigmoid     (v, i) = TopK(z, k); w = sigmoid(v)       (Llama-4)
 *   sigmoid_grouped  s = sigmoid(z); b = s + bias (bias [E], or 0);
 *                    n_group > 1: view b as [n_group, E / n_group], group
 *                    score = sum of the group's two largest b, keep the
 *                    topk_group best groups (TopK), set b = -inf in every
 *                    other group; i = TopK(b, k) indices; w = s[i] (the
 *                    unbiased scores); renormalize: w = w / (sum(w) + 1e-20);
 *                    w = w * routed_scaling_factor.           (DeepSeek-V3)
 *   sparsemixer      k = 2, two passes (Phi-3.5-MoE inference):
 *                    pass 1: m = max z, i1 = TopK(z, 1);
 *                      mask_x = (m - z_x) > 2 eps max(|z_x|, m);
 *                      w1 = softmax(z with -inf where mask)[i1];
 *                    pass 2: z' = z with z'[i1] = -inf; m' = max z',
 *                      i2 = TopK(z', 1); mask'_x = (m' - z_x) > 2 eps max(|z_x|, m');
 *                      w2 = softmax(z' with -inf where mask')[i2];
 *                    weights [w1, w2], indices [i1, i2], not renormalised.
 *
 * EXPERTS  (x [n, H], p_1, ..., p_m) -> (y [n, H])
 *
 *   Every p is one expert's slice [e] of an expert_params input laid out as
 *   ONNX Runtime's com.microsoft.MoE stores its weights: a projection from
 *   size `in` to size `out` is W [E, out, in] (nn.Linear.weight per expert)
 *   with bias [E, out], so the hook computes x W^T + b (Gemm, transB = 1).
 *   All math is in the input type T (declared as dtype), parameters too.
 *   I is the intermediate size.  With bias = 0 the b inputs are absent.
 *
 *   ffn          inputs x, W1 [I, H], (b1 [I]), W2 [H, I], (b2 [H])
 *                y = act(x W1^T + b1) W2^T + b2
 *   glu          gated FFN, h = act(g) * u with the gate g and up u
 *                projections of x; y = h W2^T + b2.  Layouts:
 *                SEPARATE      x, W1 [I, H], (b1 [I]), W2 [H, I], (b2 [H]),
 *                              W3 [I, H], (b3 [I]); g = x W1^T + b1 (gate),
 *                              u = x W3^T + b3 (up): ORT's fc1, fc2, fc3 order
 *                CONCATENATED  x, W1 [2I, H], (b1 [2I]), W2 [H, I], (b2 [H]);
 *                              rows 0..I-1 are the gate, rows I..2I-1 up
 *                              (ORT swiglu_fusion = 2, HF gate_up_proj)
 *                INTERLEAVED   the same shapes; row 2i is gate i and row
 *                              2i+1 is up i (ORT swiglu_fusion = 1, GPT-OSS)
 *                act = SILU gives SwiGLU, GELU / GELU_TANH GeGLU, RELU ReGLU.
 *   swiglu_oai   glu with h = G sigmoid(alpha G) (L + beta), where
 *                G = min(g, limit) and L = clamp(u, -limit, limit)
 *                (ORT's SwiGLU; GPT-OSS uses alpha 1.702, beta 1, limit 7).
 *                limit = +INFINITY means no clamp.
 *
 *   Activations: RELU max(a, 0); GELU 0.5 a (1 + erf(a / sqrt(2)));
 *   GELU_TANH 0.5 a (1 + tanh(sqrt(2/pi) (a + 0.044715 a^3)));
 *   SILU a sigmoid(a); IDENTITY a.
 */
#ifndef OCS_HOOKS_H
#define OCS_HOOKS_H

#include <stdint.h>
#include "ocs/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ocs_moe_act {
    OCS_MOE_ACT_IDENTITY = 0,
    OCS_MOE_ACT_RELU,
    OCS_MOE_ACT_GELU,          /* exact (erf) */
    OCS_MOE_ACT_GELU_TANH,     /* tanh approximation */
    OCS_MOE_ACT_SILU
} ocs_moe_act;

/* Where a gated expert's gate and up projections sit in its parameters. */
typedef enum ocs_moe_layout {
    OCS_MOE_GATE_UP_SEPARATE = 0,
    OCS_MOE_GATE_UP_CONCATENATED,
    OCS_MOE_GATE_UP_INTERLEAVED
} ocs_moe_layout;

/* "relu", "gelu", "gelu_tanh", "silu", "identity"; "separate", "concatenated", "interleaved". */
const char *ocs_moe_act_name(ocs_moe_act act);
const char *ocs_moe_layout_name(ocs_moe_layout layout);

/* ---- routers ----------------------------------------------------------------------- */

/* Softmax over all experts, then top-k; renormalize != 0 divides by the sum of the k. */
ocs_status ocs_moe_router_softmax_topk(ocs_dtype logits_type, int64_t k, int renormalize, ocs_graph **out,
                                       ocs_err *err);
/* Top-k of the logits, then softmax over the k (GPT-OSS). */
ocs_status ocs_moe_router_topk_softmax(ocs_dtype logits_type, int64_t k, ocs_graph **out, ocs_err *err);
/* Top-k of the logits, then sigmoid of each (Llama-4). */
ocs_status ocs_moe_router_topk_sigmoid(ocs_dtype logits_type, int64_t k, ocs_graph **out, ocs_err *err);

/* DeepSeek-V3 routing (noaux_tc).  n_group = topk_group = 1 turns grouping off. */
typedef struct ocs_moe_grouped {
    int64_t k;
    int64_t n_group;                 /* >= 1; E must be a multiple, each group >= 2 experts when > 1 */
    int64_t topk_group;              /* 1..n_group; k <= topk_group * E / n_group */
    int renormalize;
    float routed_scaling_factor;     /* 1.0 for none */
    const float *bias;               /* e_score_correction_bias [n_bias] (= E), or NULL */
    size_t n_bias;
} ocs_moe_grouped;
ocs_status ocs_moe_router_sigmoid_grouped(ocs_dtype logits_type, const ocs_moe_grouped *cfg, ocs_graph **out,
                                          ocs_err *err);

/* Phi-3.5-MoE SparseMixer at inference, k = 2 (jitter_eps 0.01 in Phi-3.5 and ORT). */
ocs_status ocs_moe_router_sparsemixer(ocs_dtype logits_type, float jitter_eps, ocs_graph **out, ocs_err *err);

/* ---- experts ----------------------------------------------------------------------- */

ocs_status ocs_moe_expert_ffn(ocs_dtype dtype, ocs_moe_act act, int bias, ocs_graph **out, ocs_err *err);
ocs_status ocs_moe_expert_glu(ocs_dtype dtype, ocs_moe_act act, ocs_moe_layout layout, int bias,
                              ocs_graph **out, ocs_err *err);
ocs_status ocs_moe_expert_swiglu_oai(ocs_dtype dtype, ocs_moe_layout layout, int bias, float alpha, float beta,
                                     float limit, ocs_graph **out, ocs_err *err);

/* How many expert_params a canonical expert takes (for building nodes). */
size_t ocs_moe_expert_param_count(int gated, ocs_moe_layout layout, int bias);

#ifdef __cplusplus
}
#endif
#endif /* OCS_HOOKS_H */
