/*
 * spec/ops/moe.c - the MoE schema (ai.onnx.preview, version 1): a mixture
 * of experts whose routing and expert computation are subgraph hooks.
 * Documentation, attributes, inputs and outputs, the error conditions, the
 * mapping from ONNX Runtime, vLLM and Hugging Face, the static check, shape
 * inference, the function body in standard ONNX ops and the documentation's
 * worked example.  The canonical hooks are built by spec/hooks.c.
 */
#include "ocs/schema.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ocs/build.h"
#include "ocs/hooks.h"

/* ---- documentation ------------------------------------------------------------ */

static const char summary[] =
    "Mixture of experts (MoE) with pluggable routing and expert computation. Each token is sent to `k` of `E` "
    "experts chosen by a *router*; each chosen *expert* (a small feed-forward network with its own weights) "
    "transforms the token, and the results are mixed with the routing weights. The router and the expert are "
    "graphs given as attributes (hooks), so one operator covers the routing and expert variants of Switch, "
    "Mixtral, Qwen-MoE, OLMoE, DBRX, Grok-1, Phi-3.5-MoE, DeepSeek-V3, GPT-OSS and Llama-4. A library of "
    "*canonical hooks* (listed below) ships with this specification; a backend recognises a canonical hook by "
    "its structure and runs a fused kernel, and still runs any other hook generically.\n"
    "\n"
    "**Notation.** `input` is `[..., H]`; it is viewed as `T` rows `X[t]` of size `H` (`T` is the product of "
    "all dimensions but the last). `router_logits` is `[T, E]`: one score per token and expert, produced by the "
    "router's linear layer, which stays in the surrounding graph. Each `expert_params` input `P_i` "
    "(`i = 1..m`) has leading dimension `E`; `P_i[e]` is its slice `e` (shape `P_i.shape[1:]`), kept in "
    "`P_i`'s own type.\n"
    "\n"
    "**Definition.** The output is computed as if by the following steps.\n"
    "\n"
    "1. *Routing.* `(w, idx) = router(router_logits)`: `w` is `[T, k]` float32 (the routing weights) and `idx` "
    "is `[T, k]` int64 (the chosen experts). Without a `router` attribute the default router is used:\n"
    "   `p = Softmax(Cast<float>(router_logits), axis=-1)`, `(v, idx) = TopK(p, k, axis=-1, largest=1, "
    "sorted=1)`, `w = v / ReduceSum(v, axis=-1)` (softmax over all `E` experts, top-k, renormalise: Mixtral; "
    "identical to the canonical router `softmax_topk` with `renormalize=1`). The `k` indices of every token must "
    "be distinct and lie in `[0, E)`; anything else is an error.\n"
    "2. *Expert calls.* For every expert `e = 0, 1, ..., E-1` that at least one token selects, in ascending "
    "order of `e`, the `expert` graph is called **exactly once**, with inputs\n"
    "   - `x_e`: `[n_e, H]` of the input type, the rows `X[t]` of the `n_e` tokens `t` that select `e` "
    "(`idx[t, j] = e` for some slot `j`), in ascending order of `t`; with `weight_position = \"input\"` the row "
    "of token `t` is `w[t, j] * X[t]`, computed in at least float32 and rounded once to the input type;\n"
    "   - `P_1[e], ..., P_m[e]`, in the order of the `expert_params` inputs, each in its own type;\n"
    "\n"
    "   and returns `y_e`: `[n_e, H]` of the input type, row `r` belonging to the `r`-th of those tokens. An "
    "expert that no token selects is **not called** (a hook may rely on `n_e >= 1`).\n"
    "3. *Combination.* With `r(t, j)` the row of token `t` in the call of expert `idx[t, j]`:\n"
    "\n"
    "   ```\n"
    "   weight_position = \"output\":  output[t] = sum_{j=0}^{k-1} w[t, j] * y_{idx[t,j]}[r(t, j)]\n"
    "   weight_position = \"input\":   output[t] = sum_{j=0}^{k-1}           y_{idx[t,j]}[r(t, j)]\n"
    "   ```\n"
    "\n"
    "   summed over `j` in ascending order, accumulated in at least float32 (the reference accumulates "
    "products and sums in double) and rounded once to the input type. `output` has the shape and type of "
    "`input`.\n"
    "\n"
    "**Hooks.** A hook is a graph; it may read values of the enclosing graph (outer scope), as the branches "
    "of `If` do, so a hook can carry its own constants (a DeepSeek correction bias, for example). The `router` "
    "graph has exactly one input (the logits, `[T, E]`, of `router_logits`' type) and two outputs (weights "
    "float32 `[T, k]`, indices int64 `[T, k]`). The `expert` graph has `1 + m` inputs, bound positionally to "
    "`x_e, P_1[e], ..., P_m[e]`, and one output. Routing is float32 because every model in use routes in "
    "float32; ties in a top-k selection go to the lower expert index, as ONNX `TopK` defines.\n"
    "\n"
    "**weight_position.** `\"output\"` (the default) scales each expert's output by its routing weight "
    "(every model except Llama-4). `\"input\"` scales the expert's input instead, as Llama-4 does "
    "(`routed_in = x * router_scores`); because experts are non-linear the two differ.\n"
    "\n"
    "**Canonical hooks** (built by `include/ocs/hooks.h`; all routing math float32, `z = Cast<float>(logits)`):\n"
    "\n"
    "| Router | Definition | Models |\n"
    "|---|---|---|\n"
    "| `softmax_topk(k, renormalize)` | `p = softmax(z)`; `(w, idx) = TopK(p, k)`; renormalize: `w /= sum(w)` | "
    "Mixtral, Qwen, OLMoE, DBRX, Grok-1, Switch (k=1) |\n"
    "| `topk_softmax(k)` | `(v, idx) = TopK(z, k)`; `w = softmax(v)` (equals `softmax_topk` renormalised up to "
    "rounding) | GPT-OSS |\n"
    "| `topk_sigmoid(k)` | `(v, idx) = TopK(z, k)`; `w = sigmoid(v)` | Llama-4 |\n"
    "| `sigmoid_grouped(k, n_group, topk_group, renormalize, routed_scaling_factor, bias)` | `s = sigmoid(z)`, "
    "`b = s + bias`; groups of `E/n_group` experts scored by the sum of their two largest `b`; the best "
    "`topk_group` groups kept, `b = -inf` elsewhere; `idx = TopK(b, k)`; `w = s[idx]`; renormalize: "
    "`w /= sum(w) + 1e-20`; `w *= routed_scaling_factor` | DeepSeek-V3/R1 (`noaux_tc`) |\n"
    "| `sparsemixer(jitter_eps)` | k = 2; pass 1: `m = max z`, `i1 = argmax z`, mask `x` where "
    "`m - z_x > 2 eps max(abs(z_x), m)`, `w1 = softmax(masked z)[i1]`; pass 2 the same on `z` with `z[i1] = -inf` "
    "(threshold against the original `z`); no renormalisation | Phi-3.5-MoE |\n"
    "\n"
    "| Expert | Parameters (per expert slice) | Definition |\n"
    "|---|---|---|\n"
    "| `ffn(act, bias)` | `W1 [I, H]`, (`b1 [I]`), `W2 [H, I]`, (`b2 [H]`) | "
    "`y = act(x W1^T + b1) W2^T + b2` |\n"
    "| `glu(act, separate, bias)` | `W1 [I, H]` (gate), (`b1`), `W2 [H, I]` (down), (`b2`), `W3 [I, H]` (up), "
    "(`b3`) | `y = (act(x W1^T + b1) * (x W3^T + b3)) W2^T + b2` |\n"
    "| `glu(act, concatenated, bias)` | `W1 [2I, H]` rows `[gate; up]`, (`b1 [2I]`), `W2 [H, I]`, (`b2`) | "
    "the same with `g, u` = the two halves of `x W1^T + b1` |\n"
    "| `glu(act, interleaved, bias)` | `W1 [2I, H]`, row `2i` gate `i`, row `2i+1` up `i`, (`b1`), `W2`, (`b2`) | "
    "the same with `g, u` = the even and odd columns |\n"
    "| `swiglu_oai(layout, bias, alpha, beta, limit)` | as `glu` | `G = min(g, limit)`, "
    "`L = clamp(u, -limit, limit)`, `h = G sigmoid(alpha G) (L + beta)`, `y = h W2^T + b2` |\n"
    "\n"
    "`act` is `relu`, `gelu` (`0.5 a (1 + erf(a/sqrt 2))`), `gelu_tanh` "
    "(`0.5 a (1 + tanh(sqrt(2/pi) (a + 0.044715 a^3)))`), `silu` (`a sigmoid(a)`) or `identity`; `glu` with "
    "`silu` is SwiGLU, with `gelu`/`gelu_tanh` GeGLU, with `relu` ReGLU. Weights are stored `[E, out, in]` "
    "(one `nn.Linear.weight` per expert), the layout of ONNX Runtime's `com.microsoft.MoE`, so its inputs map "
    "onto `expert_params` unchanged. Expert math is in the input type.\n"
    "\n"
    "**Function body.** The operator is a function: the router hook (or the default router) inlined, then a "
    "`Loop` over `e = 0..E-1` whose body finds the tokens routed to `e` (`Equal`, `NonZero`), skips experts "
    "without tokens (`If`), gathers their rows (`Gather`), slices the parameters (`Gather(P_i, e)`), inlines "
    "the expert hook, and writes each `(t, j)` contribution, in double, into a `[T, k, H]` accumulator "
    "(`ScatterND`); after the loop `ReduceSum` over `k` (ascending `j`) and one `CastLike` to the input type. "
    "Its arithmetic is the definition's, operation for operation. The body assumes a valid router output: it "
    "does not detect repeated or out-of-range indices (a repeated index calls the expert with the token "
    "twice; an out-of-range pair is dropped), which the operator reports as errors.\n";

static const char conventions[] =
    "### ONNX Runtime `com.microsoft.MoE`\n"
    "\n"
    "ORT's inputs are `input`, `router_probs` (despite the name, logits: every kernel applies softmax), "
    "`fc1_experts_weights`, `fc1_experts_bias`, `fc2_experts_weights`, `fc2_experts_bias`, "
    "`fc3_experts_weights`, `fc3_experts_bias`. `input` and `router_probs` map to `input` and "
    "`router_logits`; the weights that are present, in ORT's order, become `expert_params`; `k` stays `k`; "
    "`weight_position` is `\"output\"`. ORT's weights are `[E, out, in]` (`fc1 [E, f*I, H]` with `f = 2` for "
    "fused SwiGLU, `fc2 [E, H, I]`, `fc3 [E, I, H]`), the canonical layout, so no tensor changes.\n"
    "\n"
    "**Router** (`use_sparse_mixer` x `normalize_routing_weights`):\n"
    "\n"
    "| `use_sparse_mixer` | `normalize_routing_weights` | Router hook |\n"
    "|---|---|---|\n"
    "| 0 | 0 (default) | `softmax_topk(k, renormalize=0)` |\n"
    "| 0 | 1 | none: the default router (= `softmax_topk(k, renormalize=1)`) |\n"
    "| 1 (k = 2) | 0 or 1 (ignored by ORT) | `sparsemixer(jitter_eps=0.01)` |\n"
    "\n"
    "**Expert** (`activation_type` x `swiglu_fusion` x `fc3` present; each hook in its bias variant when ORT "
    "has biases):\n"
    "\n"
    "| `activation_type` | `swiglu_fusion` | `fc3` | Expert hook | `expert_params` |\n"
    "|---|---|---|---|---|\n"
    "| `relu` | 0 | absent | `ffn(relu)` | fc1, (fc1_b), fc2, (fc2_b) |\n"
    "| `gelu` | 0 | absent | `ffn(gelu_tanh)` (ORT's kernels use the tanh form, see below) | same |\n"
    "| `silu` | 0 | absent | `ffn(silu)` | same |\n"
    "| `identity` | 0 | absent | `ffn(identity)` | same |\n"
    "| `relu` / `gelu` / `silu` / `identity` | 0 | present | `glu(act, separate)` with `gelu` as `gelu_tanh` (CUDA "
    "concatenates fc1 and fc3; Mixtral is `silu`) | fc1, (fc1_b), fc2, (fc2_b), fc3, (fc3_b) |\n"
    "| `swiglu` | 1 | absent | `swiglu_oai(interleaved, alpha, beta, limit)` | fc1 `[E, 2I, H]`, (fc1_b), fc2, "
    "(fc2_b) |\n"
    "| `swiglu` | 2 | absent | `swiglu_oai(concatenated, alpha, beta, limit)` | same |\n"
    "| `swiglu` | 0 | present | `swiglu_oai(separate, alpha, beta, limit)` | fc1, (fc1_b), fc2, (fc2_b), fc3, "
    "(fc3_b) |\n"
    "| `swiglu` | 0 | absent | not meaningful (no up projection; ORT rejects it) | - |\n"
    "| `swiglu` | 1 or 2 | present | not meaningful: the fused fc1 already holds the up projection | - |\n"
    "\n"
    "`alpha = activation_alpha` (ORT default 1.0), `beta = activation_beta` (0.0), `limit = swiglu_limit` "
    "(unset means +infinity, no clamp). With alpha 1, beta 0 and no limit `swiglu_oai` is plain SwiGLU and the "
    "equivalent `glu(silu, layout)` is the hook to use. Biases: when ORT has every bias of the projections the "
    "hook's bias variant takes them; when it has only some, the bias variant takes zeros for the others. The "
    "**legacy layout** (`fc1 [E, H, I]`, `fc2 [E, I, H]`, the original `MoEBlock`) is `[E, in, out]`: transpose "
    "the last two axes of each weight (`Transpose perm=[0,2,1]`, or once in the initializers). OCS never guesses "
    "the layout from shapes; ORT's heuristic (`moe_helper.h`) is ambiguous when `H = I`. ORT's `T` is float, "
    "float16 or bfloat16; OCS adds double. `input` may be `(T, H)` or `(B, S, H)` in both.\n"
    "\n"
    "**`com.microsoft.QMoE`**: quantized weights are expert parameters in their own type (`uint8` packed "
    "weights, scales, zero points, sliced per expert like any other parameter) with an expert hook that "
    "dequantizes (`DequantizeLinear` or `MatMulNBits`) before the same FFN; its `router_weights` input "
    "(DeepSeek-style selection by one score and weighting by another) is a custom router graph. ORT's "
    "`ShardedMoE` (expert/tensor parallelism) is a deployment concern outside the operator. "
    "`num_shared_experts` and all shared experts are expressed in the surrounding graph.\n"
    "\n"
    "### Where ONNX Runtime's own backends disagree\n"
    "\n"
    "- **Ties in top-k.** CUDA (`moe_topk_softmax.cu`, iterative arg-max) and ONNX `TopK` give ties to the "
    "lower expert index; the CPU `MoE` kernel (`moe_cpu.cc`, `std::partial_sort` of `(value, index)` pairs "
    "with `std::greater`) gives them to the **higher** index. This operator follows ONNX `TopK`: lower index.\n"
    "- **GELU.** ORT's schema says `gelu` without naming an approximation. Its CPU kernel (`moe_utils.cc`) and "
    "its CUDA kernel (the `GELU_taylor` CUTLASS epilogue, `ft_moe/epilogue_helpers.h`) use the tanh form, while "
    "PyTorch's `nn.GELU()` and Hugging Face's `gelu` are the exact (erf) form. The canonical hooks name both: "
    "`gelu` is exact, `gelu_tanh` is the approximation; ORT's `gelu` maps to `gelu_tanh`.\n"
    "- **FC3.** The non-quantized CUDA kernel accepts `fc3` and concatenates it with `fc1` at run time "
    "(simulating `swiglu_fusion = 2`); the CPU `MoE` and `QMoE` kernels do not implement `fc3` and accept "
    "SwiGLU only with `swiglu_fusion = 1`. Here every row of the tables is one well-defined hook pair.\n"
    "- **SwiGLU constants.** Before ORT PR #28467 the CUDA MoE kernel ignored `swiglu_fusion`, "
    "`activation_alpha`, `activation_beta` and `swiglu_limit` and hard-coded GPT-OSS's values (interleaved, "
    "1.702, 1.0, 7.0); some older CPU versions read the linear value at the even index and hard-coded "
    "alpha 1.702 and limit 7. The hook's parameters are explicit, so a model means one thing.\n"
    "- **Zero weights.** The CPU kernel skips routes whose weight is <= 0; this operator calls the expert for "
    "every selected index (a zero weight contributes `0 * y`, which differs only when `y` is infinite or NaN).\n"
    "- **Sparse mixer.** Only CUDA implements `use_sparse_mixer`, and only for `E` in {8, 16} with `jitter_eps` "
    "fixed at 0.01; the canonical hook takes any `E >= 2` and any `jitter_eps`. Hugging Face writes the mask "
    "as `(m - z_x) / max(abs(z_x), m) > 2 eps`, ORT's CUDA kernel as `(m - z_x) > 2 eps max(abs(z_x), m)`; "
    "they differ only by rounding at the threshold, and the hook uses ORT's form (no division).\n"
    "- **Routing history.** `QMoE` on CPU routes top-k of the logits then softmax over the k "
    "(= `softmax_topk` renormalised) whatever `normalize_routing_weights` says; an early CPU `MoE` "
    "(commit 8f1dad80) took top-k of the raw `router_probs` without softmax. Routing is float32 everywhere "
    "(float16 inputs are converted).\n"
    "\n"
    "### Hugging Face, vLLM and other models\n"
    "\n"
    "| Model | Router hook | Expert hook | `weight_position` |\n"
    "|---|---|---|---|\n"
    "| Mixtral, DBRX (`moe_normalize_expert_weights = 1`), Qwen2/3-MoE and OLMoE with `norm_topk_prob` | "
    "default (`softmax_topk`, renormalised) | `glu(silu, separate)` (`w1` gate, `w3` up, `w2` down) or "
    "`concatenated` (`gate_up_proj`) | output |\n"
    "| Qwen2/3-MoE and OLMoE without `norm_topk_prob` | `softmax_topk(k, renormalize=0)` | `glu(silu)` | "
    "output |\n"
    "| Grok-1 | `softmax_topk(2, renormalize=0)` | `glu(gelu_tanh, separate)` | output |\n"
    "| Switch Transformer | `softmax_topk(1, renormalize=0)` | `ffn(relu)` | output (capacity dropping, "
    "where over-capacity tokens keep `x`, belongs to the surrounding graph) |\n"
    "| Phi-3.5-MoE | `sparsemixer(0.01)` | `glu(silu, separate)` | output |\n"
    "| DeepSeek-V3/R1 | `sigmoid_grouped(k=8, n_group=8, topk_group=4, renormalize=norm_topk_prob, "
    "routed_scaling_factor=2.5, bias=e_score_correction_bias)` | `glu(silu)` | output; shared experts added in "
    "the surrounding graph |\n"
    "| DeepSeek-V2 | a custom router (softmax, group score = group maximum, `routed_scaling_factor`) | "
    "`glu(silu)` | output |\n"
    "| GPT-OSS | `topk_softmax(k)` (the router's linear layer, with bias, stays outside) | "
    "`swiglu_oai(interleaved, bias, alpha=1.702, beta=1.0, limit=7.0)` | output |\n"
    "| Llama-4 | `topk_sigmoid(k)` | `glu(silu, concatenated)` | **input**; shared expert outside |\n"
    "\n"
    "DeepSeek-V3 masks the pruned groups with `-inf` in its reference inference code and in vLLM's "
    "`grouped_topk`, as the canonical hook does; Hugging Face's port masks with 0.0, which selects differently "
    "only when biased scores can be <= 0. The canonical hook requires `k <= topk_group * E / n_group`.\n"
    "\n"
    "**vLLM `FusedMoE`**: `renormalize` is the router's `renormalize`; `scoring_func = \"sigmoid\"` with "
    "`use_grouped_topk`, `num_expert_group`, `topk_group`, `e_score_correction_bias` and "
    "`routed_scaling_factor` is `sigmoid_grouped`; `custom_routing_function` is a custom router graph; "
    "`apply_router_weight_on_input` is `weight_position = \"input\"`; `activation` `silu` / `gelu` / "
    "`gelu_tanh` / `swigluoai` are `glu(silu)` / `glu(gelu)` / `glu(gelu_tanh)` / `swiglu_oai` (alpha 1.702, "
    "beta 1, limit 7 unless `swiglu_*` say otherwise), the `_no_mul` variants are `ffn(act)`, and `relu2` "
    "(squared ReLU) needs a custom expert; `has_bias` selects the bias variants; shared experts stay outside. "
    "vLLM's kernels do not specify the order in which they sum the `k` weighted outputs; the operator fixes "
    "ascending `j`.\n"
    "\n"
    "**Storage.** Checkpoints that store a projection `[E, in, out]` (for example Hugging Face's GPT-OSS and "
    "Llama-4 `gate_up_proj [E, H, 2I]` and `down_proj`) need the last two axes transposed once; "
    "`[E, out, in]` checkpoints "
    "(Mixtral `w1/w2/w3`, `MixtralExperts.gate_up_proj`) map directly. llama.cpp's `GGML_OP_MUL_MAT_ID` "
    "stacks the same per-expert matrices.\n";

static const char *const errors[] = {
    "Attribute `k` is missing, or `k < 1`, or `k > E` where `E = router_logits.shape[1]`.",
    "Attribute `weight_position` is neither `\"output\"` nor `\"input\"`.",
    "Attribute `expert` is missing, or its graph does not have exactly `1 + m` inputs (`m` = the number of "
    "`expert_params`) and exactly one output.",
    "Attribute `router` is given but its graph does not have exactly one input and two outputs, or it declares "
    "an output type other than float (weights) and int64 (indices), or a second dimension other than `k`.",
    "`input` is a scalar (it needs a last dimension `H`), or `router_logits` is not 2-D.",
    "The number of tokens of `input` (the product of all dimensions but the last) differs from "
    "`router_logits.shape[0]`.",
    "An `expert_params` input is absent, is a scalar, or has a leading dimension other than `E`.",
    "An input type is outside its type constraint (`input` and `router_logits` must be float16, bfloat16, "
    "float or double).",
    "The router returns weights that are not float32 `[T, k]`, or indices that are not int64 `[T, k]`.",
    "A router index lies outside `[0, E)` (the message names the token, the slot and the index).",
    "A token's `k` router indices are not distinct (the message names the token and both slots).",
    "An expert call returns anything but one tensor of the input's type and shape `[n_e, H]`.",
    "The router graph or an expert graph fails while running (the message names the expert and its token "
    "count).",
};

static const ocs_attr_def attrs[] = {
    {"k", OCS_ATTR_INT, 1, NULL,
     "Number of experts each token is routed to, `1 <= k <= E`. A `router` graph must return `k` columns."},
    {"router", OCS_ATTR_GRAPH, 0, NULL,
     "Routing hook `(logits [T, E]) -> (weights [T, k] float, indices [T, k] int64)`. Absent: softmax over "
     "the experts in float32, top-k (ties to the lower index), renormalised to sum 1."},
    {"expert", OCS_ATTR_GRAPH, 1, NULL,
     "Expert hook `(x [n, H], P_1[e], ..., P_m[e]) -> (y [n, H])`, called once per expert that receives at "
     "least one token, with those tokens' rows in ascending token order and slice `e` of each "
     "`expert_params` input."},
    {"weight_position", OCS_ATTR_STRING, 0, "\"output\"",
     "`\"output\"`: the routing weight scales the expert's output. `\"input\"`: it scales the expert's input "
     "(rounded to the input type) and the outputs are summed unscaled (Llama-4)."},
};

static const ocs_param_def inputs[] = {
    {"input", "T", OCS_PARAM_SINGLE, 0, 1, "The tokens, `[..., H]`: `T` rows of size `H`."},
    {"router_logits", "T1", OCS_PARAM_SINGLE, 0, 1,
     "`[T, E]`: the router's score of every expert for every token (the output of the router's linear "
     "layer)."},
    {"expert_params", "T2", OCS_PARAM_VARIADIC, 1, 0,
     "The experts' parameters, zero or more tensors of any types, each `[E, ...]`; the expert hook receives "
     "slice `[e]` of each, in this order."},
};

static const ocs_param_def outputs[] = {
    {"output", "T", OCS_PARAM_SINGLE, 0, 1, "The mixed expert outputs, with the shape and type of `input`."},
};

static const ocs_dtype types_t[] = {OCS_FLOAT16, OCS_BFLOAT16, OCS_FLOAT, OCS_DOUBLE};
static const ocs_dtype types_any[] = {
    OCS_UINT8,  OCS_UINT16, OCS_UINT32,     OCS_UINT64,   OCS_INT8,           OCS_INT16,
    OCS_INT32,  OCS_INT64,  OCS_FLOAT16,    OCS_BFLOAT16, OCS_FLOAT,          OCS_DOUBLE,
    OCS_BOOL,   OCS_STRING, OCS_FLOAT8E4M3FN, OCS_FLOAT8E4M3FNUZ, OCS_FLOAT8E5M2, OCS_FLOAT8E5M2FNUZ,
    OCS_UINT4,  OCS_INT4,   OCS_FLOAT4E2M1, OCS_FLOAT8E8M0, OCS_UINT2,    OCS_INT2,
};

static const ocs_type_constraint constraints[] = {
    {"T", types_t, sizeof types_t / sizeof types_t[0], "The type of the tokens and of the output."},
    {"T1", types_t, sizeof types_t / sizeof types_t[0], "The type of the router logits."},
    {"T2", types_any, sizeof types_any / sizeof types_any[0],
     "Expert parameter types; each input may have its own (quantized weights, scales, ...)."},
};

/* ---- check and inference ---------------------------------------------------------- */

typedef struct moe_attrs {
    int64_t k;
    const ocs_graph *router;
    const ocs_graph *expert;
    int weight_on_input;
} moe_attrs;

static ocs_status read_attrs(const ocs_node *n, moe_attrs *m, ocs_err *err)
{
    char label[256];
    const char *pos = "output";
    ocs_status st;
    memset(m, 0, sizeof *m);
    if ((st = ocs_node_attr_int(n, "k", 0, &m->k, err)) != OCS_OK ||
        (st = ocs_node_attr_graph(n, "router", &m->router, err)) != OCS_OK ||
        (st = ocs_node_attr_graph(n, "expert", &m->expert, err)) != OCS_OK ||
        (st = ocs_node_attr_string(n, "weight_position", "output", &pos, err)) != OCS_OK)
        return st;
    ocs_node_label(n, label, sizeof label);
    if (!ocs_node_attr(n, "k"))
        return ocs_fail(err, OCS_ERR_INVALID, "%s: required attribute 'k' is missing", label);
    if (m->k < 1)
        return ocs_fail(err, OCS_ERR_INVALID, "%s: k = %lld; it must be >= 1", label, (long long)m->k);
    if (!m->expert)
        return ocs_fail(err, OCS_ERR_INVALID, "%s: required attribute 'expert' is missing", label);
    if (!strcmp(pos, "input"))
        m->weight_on_input = 1;
    else if (strcmp(pos, "output"))
        return ocs_fail(err, OCS_ERR_INVALID, "%s: weight_position is \"%s\"; it must be \"output\" or \"input\"",
                        label, pos);
    return OCS_OK;
}

static ocs_status check(const ocs_node *n, ocs_err *err)
{
    char label[256];
    moe_attrs m;
    ocs_status st = read_attrs(n, &m, err);
    if (st != OCS_OK)
        return st;
    ocs_node_label(n, label, sizeof label);
    size_t n_params = n->n_inputs >= 2 ? n->n_inputs - 2 : 0;
    if (m.expert->n_inputs != n_params + 1 || m.expert->n_outputs != 1)
        return ocs_fail(err, OCS_ERR_INVALID,
                        "%s: the expert graph has %zu inputs and %zu outputs; with %zu expert_params it needs %zu "
                        "inputs (x, then one slice per parameter) and 1 output",
                        label, m.expert->n_inputs, m.expert->n_outputs, n_params, n_params + 1);
    if (m.router) {
        const ocs_graph *r = m.router;
        if (r->n_inputs != 1 || r->n_outputs != 2)
            return ocs_fail(err, OCS_ERR_INVALID,
                            "%s: the router graph has %zu inputs and %zu outputs; it needs 1 (logits) and 2 "
                            "(weights, indices)", label, r->n_inputs, r->n_outputs);
        static const ocs_dtype want[2] = {OCS_FLOAT, OCS_INT64};
        static const char *const what[2] = {"weights", "indices"};
        for (int o = 0; o < 2; o++) {
            const ocs_type *t = &r->outputs[o].type;
            if (t->kind != OCS_TYPE_TENSOR)
                continue;
            if (t->elem != OCS_UNDEFINED && t->elem != want[o])
                return ocs_fail(err, OCS_ERR_INVALID, "%s: router output %d (%s) is declared %s; it must be %s",
                                label, o, what[o], ocs_dtype_name(t->elem), ocs_dtype_name(want[o]));
            if (t->has_shape && t->rank != 2)
                return ocs_fail(err, OCS_ERR_INVALID, "%s: router output %d (%s) is declared with rank %d; it "
                                "must be [T, k]", label, o, what[o], t->rank);
            if (t->has_shape && t->dims[1].value >= 0 && t->dims[1].value != m.k)
                return ocs_fail(err, OCS_ERR_INVALID, "%s: router output %d (%s) is declared [_, %lld] but k = %lld",
                                label, o, what[o], (long long)t->dims[1].value, (long long)m.k);
        }
    }
    return OCS_OK;
}

static ocs_status infer(const ocs_node *n, size_t n_in, const ocs_tensor_type *in, size_t n_out,
                        ocs_tensor_type *out, ocs_err *err)
{
    char label[256];
    moe_attrs m;
    ocs_status st = read_attrs(n, &m, err);
    if (st != OCS_OK)
        return st;
    ocs_node_label(n, label, sizeof label);
    if (n_in < 2)
        return ocs_fail(err, OCS_ERR_INVALID, "%s: MoE needs input and router_logits", label);
    const ocs_tensor_type *x = &in[0], *lg = &in[1];
    if (x->rank == 0)
        return ocs_fail(err, OCS_ERR_INVALID, "%s: input is a scalar; it must be [..., H]", label);
    if (lg->rank >= 0 && lg->rank != 2)
        return ocs_fail(err, OCS_ERR_INVALID, "%s: router_logits has rank %d; it must be [T, E]", label, lg->rank);
    int64_t T = lg->rank == 2 ? lg->dims[0] : -1, E = lg->rank == 2 ? lg->dims[1] : -1;
    if (E >= 0 && m.k > E)
        return ocs_fail(err, OCS_ERR_INVALID, "%s: k = %lld is larger than E = %lld (router_logits.shape[1])",
                        label, (long long)m.k, (long long)E);
    if (x->rank > 0 && T >= 0) {
        int64_t rows = 1;
        int known = 1;
        for (int d = 0; d < x->rank - 1 && known; d++) {
            if (x->dims[d] < 0)
                known = 0;
            else if (x->dims[d] > 0 && rows > INT64_MAX / x->dims[d])
                known = 0;
            else
                rows *= x->dims[d];
        }
        if (known && rows != T)
            return ocs_fail(err, OCS_ERR_INVALID,
                            "%s: input holds %lld tokens but router_logits has T = %lld rows", label,
                            (long long)rows, (long long)T);
    }
    for (size_t i = 2; i < n_in; i++) {
        const ocs_tensor_type *p = &in[i];
        if (p->dtype == OCS_UNDEFINED && p->rank < 0)
            continue;
        if (p->rank == 0)
            return ocs_fail(err, OCS_ERR_INVALID, "%s: expert_params %zu (input %zu) is a scalar; it must be [E, ...]",
                            label, i - 2, i);
        if (p->rank > 0 && p->dims[0] >= 0 && E >= 0 && p->dims[0] != E)
            return ocs_fail(err, OCS_ERR_INVALID,
                            "%s: expert_params %zu (input %zu) has leading dimension %lld; it must be E = %lld",
                            label, i - 2, i, (long long)p->dims[0], (long long)E);
    }
    for (size_t o = 0; o < n_out; o++)
        out[o] = *x;
    return OCS_OK;
}

/* ---- function body ---------------------------------------------------------------- */

/* Building state: names start with the node's first output and "__". */
typedef struct body_ctx {
    const char *prefix;
    ocs_err *err;
    ocs_status st;
    char **names;              /* every generated name, freed at the end */
    size_t n_names, cap;
} body_ctx;

#define NAMES(...) \
    (sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *)), ((const char *const[]){__VA_ARGS__})

static char *dup_str(const char *s)
{
    size_t len = strlen(s);
    char *d = malloc(len + 1);
    if (d)
        memcpy(d, s, len + 1);
    return d;
}

/* prefix + "__" + suffix, owned by c; "" after a failure. */
static const char *nm(body_ctx *c, const char *suffix)
{
    if (c->st != OCS_OK)
        return "";
    if (c->n_names == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        char **grown = realloc(c->names, cap * sizeof *grown);
        if (!grown) {
            c->st = ocs_fail(c->err, OCS_ERR_NOMEM, "out of memory building the MoE body");
            return "";
        }
        c->names = grown;
        c->cap = cap;
    }
    size_t len = strlen(c->prefix) + 2 + strlen(suffix) + 1;
    char *s = malloc(len);
    if (!s) {
        c->st = ocs_fail(c->err, OCS_ERR_NOMEM, "out of memory building the MoE body");
        return "";
    }
    snprintf(s, len, "%s__%s", c->prefix, suffix);
    c->names[c->n_names++] = s;
    return s;
}

static ocs_node *node(body_ctx *c, ocs_graph *g, const char *op, size_t ni, const char *const *in, size_t no,
                      const char *const *out)
{
    ocs_node *n = NULL;
    if (c->st == OCS_OK)
        c->st = ocs_graph_add_node(g, op, "", NULL, ni, in, no, out, &n, c->err);
    return c->st == OCS_OK ? n : NULL;
}

static void set_int(body_ctx *c, ocs_node *n, const char *name, int64_t v)
{
    if (c->st == OCS_OK && n)
        c->st = ocs_node_set_int(n, name, v, c->err);
}

static void set_graph(body_ctx *c, ocs_node *n, const char *name, ocs_graph *g)
{
    if (c->st == OCS_OK && n)
        c->st = ocs_node_set_graph(n, name, g, c->err);
    else
        ocs_graph_free(g);
}

/* A Constant node in g: a tensor of dtype with n values (rank 1), or a scalar when rank0. */
static const char *constant(body_ctx *c, ocs_graph *g, const char *suffix, ocs_dtype dtype, int rank0, size_t n,
                            const double *v)
{
    const char *name = nm(c, suffix);
    if (c->st != OCS_OK)
        return name;
    int64_t d = (int64_t)n;
    ocs_tensor *t = NULL;
    c->st = ocs_tensor_new(dtype, rank0 ? 0 : 1, &d, &t, c->err);
    for (size_t i = 0; c->st == OCS_OK && i < (rank0 ? 1 : n); i++)
        ocs_tensor_set_f64(t, i, v[i]);
    ocs_node *k = node(c, g, "Constant", 0, NULL, NAMES(name));
    if (c->st == OCS_OK && k)
        c->st = ocs_node_set_tensor(k, "value", t, c->err);
    ocs_tensor_free(t);
    return name;
}

static const char *ints1(body_ctx *c, ocs_graph *g, const char *suffix, int64_t v)
{
    double d = (double)v;
    return constant(c, g, suffix, OCS_INT64, 0, 1, &d);
}

static const char *scalar_i64(body_ctx *c, ocs_graph *g, const char *suffix, int64_t v)
{
    double d = (double)v;
    return constant(c, g, suffix, OCS_INT64, 1, 1, &d);
}

/* Shape(x) restricted to [start, end) (end 0: to the last axis). */
static const char *shape_part(body_ctx *c, ocs_graph *g, const char *suffix, const char *x, int64_t start,
                              int64_t end)
{
    const char *name = nm(c, suffix);
    ocs_node *n = node(c, g, "Shape", NAMES(x), NAMES(name));
    set_int(c, n, "start", start);
    if (end)
        set_int(c, n, "end", end);
    return name;
}

/* ---- inlining a hook graph ---- */

/* A deep copy of g (through the protobuf form, which carries every attribute kind). */
static ocs_status copy_graph(const ocs_graph *g, ocs_graph **out, ocs_err *err)
{
    *out = NULL;
    ocs_model *holder = NULL, *copy = NULL;
    void *bytes = NULL;
    size_t len = 0;
    ocs_status st = ocs_model_new(&holder, err);
    if (st != OCS_OK)
        return st;
    ocs_graph *empty = holder->graph;
    holder->graph = (ocs_graph *)g;   /* only read by the writer */
    st = ocs_model_save_memory(holder, &bytes, &len, err);
    holder->graph = empty;
    ocs_model_free(holder);
    if (st == OCS_OK)
        st = ocs_model_load_memory(bytes, len, NULL, &copy, err);
    free(bytes);
    if (st != OCS_OK)
        return st;
    *out = copy->graph;
    copy->graph = NULL;
    ocs_model_free(copy);
    return OCS_OK;
}

/* Old and new names of the values a hook defines. */
typedef struct rename_map {
    char **from, **to;
    size_t n, cap;
} rename_map;

static void map_free(rename_map *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->from[i]);
        free(r->to[i]);
    }
    free(r->from);
    free(r->to);
    memset(r, 0, sizeof *r);
}

static const char *map_find(const rename_map *r, const char *name)
{
    for (size_t i = 0; i < r->n; i++)
        if (!strcmp(r->from[i], name))
            return r->to[i];
    return NULL;
}

/* Adds name -> to (or prefix + name when to is NULL) unless name is empty or mapped. */
static int map_add(rename_map *r, const char *name, const char *to, const char *prefix)
{
    if (!name[0] || map_find(r, name))
        return 0;
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 32;
        char **f = realloc(r->from, cap * sizeof *f);
        if (!f)
            return -1;
        r->from = f;
        char **t = realloc(r->to, cap * sizeof *t);
        if (!t)
            return -1;
        r->to = t;
        r->cap = cap;
    }
    char *from = dup_str(name), *dest = NULL;
    if (to) {
        dest = dup_str(to);
    } else {
        size_t len = strlen(prefix) + strlen(name) + 1;
        dest = malloc(len);
        if (dest)
            snprintf(dest, len, "%s%s", prefix, name);
    }
    if (!from || !dest) {
        free(from);
        free(dest);
        return -1;
    }
    r->from[r->n] = from;
    r->to[r->n] = dest;
    r->n++;
    return 0;
}

/* Maps every value g and its subgraphs define (inputs, initializers, node outputs). */
static int map_defined(rename_map *r, const ocs_graph *g, const char *prefix)
{
    int rc = 0;
    for (size_t i = 0; i < g->n_inputs && !rc; i++)
        rc = map_add(r, g->inputs[i].name, NULL, prefix);
    for (size_t i = 0; i < g->n_inits && !rc; i++)
        rc = map_add(r, g->inits[i].name, NULL, prefix);
    for (size_t i = 0; i < g->n_nodes && !rc; i++) {
        const ocs_node *n = &g->nodes[i];
        for (size_t k = 0; k < n->n_outputs && !rc; k++)
            rc = map_add(r, n->outputs[k], NULL, prefix);
        for (size_t k = 0; k < n->n_attrs && !rc; k++) {
            const ocs_attr *at = &n->attrs[k];
            if (at->type == OCS_ATTR_GRAPH && at->g)
                rc = map_defined(r, at->g, prefix);
            for (size_t j = 0; at->type == OCS_ATTR_GRAPHS && j < at->n && !rc; j++)
                rc = map_defined(r, at->graphs[j], prefix);
        }
    }
    return rc;
}

/* Replaces *s by its mapped name, if it has one. */
static int rename_one(const rename_map *r, char **s)
{
    const char *to = map_find(r, *s);
    if (!to)
        return 0;
    char *d = dup_str(to);
    if (!d)
        return -1;
    free(*s);
    *s = d;
    return 0;
}

/* Renames every reference and definition in g and its subgraphs. */
static int rename_graph(const rename_map *r, ocs_graph *g)
{
    int rc = 0;
    for (size_t i = 0; i < g->n_inputs && !rc; i++)
        rc = rename_one(r, &g->inputs[i].name);
    for (size_t i = 0; i < g->n_outputs && !rc; i++)
        rc = rename_one(r, &g->outputs[i].name);
    for (size_t i = 0; i < g->n_value_info && !rc; i++)
        rc = rename_one(r, &g->value_info[i].name);
    for (size_t i = 0; i < g->n_inits && !rc; i++)
        rc = rename_one(r, &g->inits[i].name);
    for (size_t i = 0; i < g->n_nodes && !rc; i++) {
        ocs_node *n = &g->nodes[i];
        for (size_t k = 0; k < n->n_inputs && !rc; k++)
            rc = rename_one(r, &n->inputs[k]);
        for (size_t k = 0; k < n->n_outputs && !rc; k++)
            rc = rename_one(r, &n->outputs[k]);
        for (size_t k = 0; k < n->n_attrs && !rc; k++) {
            ocs_attr *at = &n->attrs[k];
            if (at->type == OCS_ATTR_GRAPH && at->g)
                rc = rename_graph(r, at->g);
            for (size_t j = 0; at->type == OCS_ATTR_GRAPHS && j < at->n && !rc; j++)
                rc = rename_graph(r, at->graphs[j]);
        }
    }
    return rc;
}

/*
 * Appends hook's nodes to host: its inputs become the values named in,
 * its outputs the values named out (through Identity), its initializers
 * Constant nodes; every other value it defines is renamed to
 * prefix + "__" + tag + "__" + name.  Names it reads from outside itself
 * stay as they are.
 */
static void inline_hook(body_ctx *c, ocs_graph *host, const ocs_graph *hook, const char *tag, size_t n_in,
                        const char *const *in, size_t n_out, const char *const *out)
{
    if (c->st != OCS_OK)
        return;
    if (hook->n_inputs != n_in || hook->n_outputs != n_out) {
        c->st = ocs_fail(c->err, OCS_ERR_INVALID, "the %s graph has %zu inputs and %zu outputs, expected %zu and %zu",
                         tag, hook->n_inputs, hook->n_outputs, n_in, n_out);
        return;
    }
    ocs_graph *copy = NULL;
    rename_map r = {0};
    char prefix[512];
    snprintf(prefix, sizeof prefix, "%s__%s__", c->prefix, tag);
    if ((c->st = copy_graph(hook, &copy, c->err)) != OCS_OK)
        return;
    int rc = 0;
    for (size_t i = 0; i < n_in && !rc; i++)
        rc = map_add(&r, copy->inputs[i].name, in[i], prefix);
    if (!rc)
        rc = map_defined(&r, copy, prefix);
    if (!rc)
        rc = rename_graph(&r, copy);
    if (rc) {
        c->st = ocs_fail(c->err, OCS_ERR_NOMEM, "out of memory inlining the %s graph", tag);
        goto done;
    }
    for (size_t i = 0; i < copy->n_inits && c->st == OCS_OK; i++) {
        ocs_node *k = node(c, host, "Constant", 0, NULL, NAMES(copy->inits[i].name));
        if (c->st == OCS_OK && k)
            c->st = ocs_node_set_tensor(k, "value", copy->inits[i].tensor, c->err);
    }
    if (c->st != OCS_OK)
        goto done;
    if (copy->n_nodes) {
        ocs_node *grown = realloc(host->nodes, (host->n_nodes + copy->n_nodes) * sizeof *grown);
        if (!grown) {
            c->st = ocs_fail(c->err, OCS_ERR_NOMEM, "out of memory inlining the %s graph", tag);
            goto done;
        }
        host->nodes = grown;
        memcpy(host->nodes + host->n_nodes, copy->nodes, copy->n_nodes * sizeof *grown);
        host->n_nodes += copy->n_nodes;
        copy->n_nodes = 0;   /* the nodes now belong to host */
    }
    for (size_t i = 0; i < n_out; i++)
        node(c, host, "Identity", NAMES(copy->outputs[i].name), NAMES(out[i]));
done:
    map_free(&r);
    ocs_graph_free(copy);
}

/* ---- the body ---- */

static ocs_status body(const ocs_node *n, size_t n_in, const ocs_tensor_type *in, ocs_graph *g, ocs_err *err)
{
    moe_attrs m;
    ocs_status st = read_attrs(n, &m, err);
    if (st != OCS_OK)
        return st;
    if (n_in < 2 || n->n_outputs < 1 || !n->outputs[0][0])
        return ocs_fail(err, OCS_ERR_INVALID, "MoE needs inputs input and router_logits and an output");
    body_ctx c = {n->outputs[0], err, OCS_OK, NULL, 0, 0};
    size_t n_params = n_in - 2;
    const char *X = n->inputs[0], *L = n->inputs[1], *Y = n->outputs[0];
    ocs_graph *loop = NULL, *then_g = NULL, *else_g = NULL, *default_router = NULL;

    /* Shapes: T, E, H and the input as [T, H]. */
    const char *T1 = shape_part(&c, g, "T", L, 0, 1);
    const char *E1 = shape_part(&c, g, "E", L, 1, 2);
    const char *H1 = shape_part(&c, g, "H", X, -1, 0);
    const char *x2_shape = nm(&c, "x2d_shape"), *X2 = nm(&c, "x2d");
    set_int(&c, node(&c, g, "Concat", NAMES(T1, H1), NAMES(x2_shape)), "axis", 0);
    set_int(&c, node(&c, g, "Reshape", NAMES(X, x2_shape), NAMES(X2)), "allowzero", 1);

    /* Routing. */
    const char *W = nm(&c, "weights"), *I = nm(&c, "indices");
    const ocs_graph *router = m.router;
    if (!router && c.st == OCS_OK) {
        ocs_dtype lt = in[1].dtype == OCS_FLOAT16 || in[1].dtype == OCS_BFLOAT16 || in[1].dtype == OCS_DOUBLE
                           ? in[1].dtype : OCS_FLOAT;
        c.st = ocs_moe_router_softmax_topk(lt, m.k, 1, &default_router, err);
        router = default_router;
    }
    inline_hook(&c, g, router, "router", NAMES(L), NAMES(W, I));

    /* The accumulator: one row per (token, slot), in double. */
    const char *kc = ints1(&c, g, "k", m.k);
    const char *acc_shape = nm(&c, "acc_shape"), *acc0 = nm(&c, "acc_init");
    set_int(&c, node(&c, g, "Concat", NAMES(T1, kc, H1), NAMES(acc_shape)), "axis", 0);
    ocs_node *cos = node(&c, g, "ConstantOfShape", NAMES(acc_shape), NAMES(acc0));
    if (c.st == OCS_OK && cos) {
        int64_t one = 1;
        ocs_tensor *zero = NULL;
        c.st = ocs_tensor_new(OCS_DOUBLE, 1, &one, &zero, err);
        if (c.st == OCS_OK)
            c.st = ocs_node_set_tensor(cos, "value", zero, err);
        ocs_tensor_free(zero);
    }
    const char *axis0 = ints1(&c, g, "axis0", 0), *E0 = nm(&c, "E_scalar");
    node(&c, g, "Squeeze", NAMES(E1, axis0), NAMES(E0));

    /* The loop body: (e, cond, acc) -> (cond, acc). */
    const char *e = nm(&c, "e"), *cond_in = nm(&c, "cond_in"), *cond_out = nm(&c, "cond_out");
    const char *acc_in = nm(&c, "acc_in"), *acc_out = nm(&c, "acc_out");
    const int64_t acc_dims[3] = {-1, m.k, -1};
    if (c.st == OCS_OK)
        c.st = ocs_graph_new("moe_expert_loop", &loop, err);
    if (c.st == OCS_OK)
        c.st = ocs_graph_add_input(loop, e, OCS_INT64, 0, NULL, err);
    if (c.st == OCS_OK)
        c.st = ocs_graph_add_input(loop, cond_in, OCS_BOOL, 0, NULL, err);
    if (c.st == OCS_OK)
        c.st = ocs_graph_add_input(loop, acc_in, OCS_DOUBLE, 3, acc_dims, err);
    if (c.st == OCS_OK)
        c.st = ocs_graph_add_output(loop, cond_out, OCS_BOOL, 0, NULL, err);
    if (c.st == OCS_OK)
        c.st = ocs_graph_add_output(loop, acc_out, OCS_DOUBLE, 3, acc_dims, err);
    node(&c, loop, "Identity", NAMES(cond_in), NAMES(cond_out));
    const char *mask = nm(&c, "mask"), *nz = nm(&c, "routed"), *pairs = nm(&c, "pairs");
    const char *cnt = nm(&c, "routed_count"), *any = nm(&c, "any_routed");
    node(&c, loop, "Equal", NAMES(I, e), NAMES(mask));
    node(&c, loop, "NonZero", NAMES(mask), NAMES(nz));
    ocs_node *tr = node(&c, loop, "Transpose", NAMES(nz), NAMES(pairs));
    if (c.st == OCS_OK && tr) {
        const int64_t perm[2] = {1, 0};
        c.st = ocs_node_set_ints(tr, "perm", 2, perm, err);
    }
    node(&c, loop, "Size", NAMES(nz), NAMES(cnt));
    const char *zero_i = scalar_i64(&c, loop, "zero", 0);
    node(&c, loop, "Greater", NAMES(cnt, zero_i), NAMES(any));

    /* then: call the expert on its tokens and scatter the contributions */
    const char *acc_then = nm(&c, "acc_then"), *acc_else = nm(&c, "acc_else");
    if (c.st == OCS_OK)
        c.st = ocs_graph_new("moe_call_expert", &then_g, err);
    if (c.st == OCS_OK)
        c.st = ocs_graph_add_output(then_g, acc_then, OCS_DOUBLE, 3, acc_dims, err);
    const char *row0 = scalar_i64(&c, then_g, "token_row", 0), *tok = nm(&c, "tokens"), *xe = nm(&c, "x_e");
    const char *we = nm(&c, "w_e"), *we2 = nm(&c, "w_e_col"), *wd = nm(&c, "w_e_double");
    const char *axis1 = ints1(&c, then_g, "axis1", 1);
    set_int(&c, node(&c, then_g, "Gather", NAMES(nz, row0), NAMES(tok)), "axis", 0);
    set_int(&c, node(&c, then_g, "Gather", NAMES(X2, tok), NAMES(xe)), "axis", 0);
    node(&c, then_g, "GatherND", NAMES(W, pairs), NAMES(we));
    node(&c, then_g, "Unsqueeze", NAMES(we, axis1), NAMES(we2));
    set_int(&c, node(&c, then_g, "Cast", NAMES(we2), NAMES(wd)), "to", OCS_DOUBLE);
    const char *x_in = xe;
    if (m.weight_on_input) {
        const char *xd = nm(&c, "x_e_double"), *xw = nm(&c, "x_e_weighted"), *xr = nm(&c, "x_e_in");
        set_int(&c, node(&c, then_g, "Cast", NAMES(xe), NAMES(xd)), "to", OCS_DOUBLE);
        node(&c, then_g, "Mul", NAMES(xd, wd), NAMES(xw));
        node(&c, then_g, "CastLike", NAMES(xw, xe), NAMES(xr));
        x_in = xr;
    }
    const char **expert_in = calloc(n_params + 1, sizeof *expert_in);
    if (!expert_in && c.st == OCS_OK)
        c.st = ocs_fail(err, OCS_ERR_NOMEM, "out of memory building the MoE body");
    if (expert_in) {
        expert_in[0] = x_in;
        for (size_t i = 0; i < n_params; i++) {
            char suffix[48];
            snprintf(suffix, sizeof suffix, "param%zu_e", i);
            expert_in[1 + i] = nm(&c, suffix);
            set_int(&c, node(&c, then_g, "Gather", NAMES(n->inputs[2 + i], e), NAMES(expert_in[1 + i])), "axis",
                    0);
        }
        const char *ye = nm(&c, "y_e");
        inline_hook(&c, then_g, m.expert, "expert", n_params + 1, expert_in, NAMES(ye));
        const char *yd = nm(&c, "y_e_double"), *contrib = yd;
        set_int(&c, node(&c, then_g, "Cast", NAMES(ye), NAMES(yd)), "to", OCS_DOUBLE);
        if (!m.weight_on_input) {
            contrib = nm(&c, "y_e_weighted");
            node(&c, then_g, "Mul", NAMES(yd, wd), NAMES(contrib));
        }
        node(&c, then_g, "ScatterND", NAMES(acc_in, pairs, contrib), NAMES(acc_then));
        free(expert_in);
    }

    /* else: nothing routed to e */
    if (c.st == OCS_OK)
        c.st = ocs_graph_new("moe_skip_expert", &else_g, err);
    if (c.st == OCS_OK)
        c.st = ocs_graph_add_output(else_g, acc_else, OCS_DOUBLE, 3, acc_dims, err);
    node(&c, else_g, "Identity", NAMES(acc_in), NAMES(acc_else));

    ocs_node *iff = node(&c, loop, "If", NAMES(any), NAMES(acc_out));
    set_graph(&c, iff, "then_branch", then_g);
    then_g = NULL;
    iff = c.st == OCS_OK ? &loop->nodes[loop->n_nodes - 1] : NULL;
    set_graph(&c, iff, "else_branch", else_g);
    else_g = NULL;

    /* The loop over experts, then the sum over slots and one rounding. */
    const char *acc_final = nm(&c, "acc"), *sum = nm(&c, "sum"), *y2 = nm(&c, "output2d");
    const char *x_shape = nm(&c, "input_shape");
    ocs_node *lp = node(&c, g, "Loop", NAMES(E0, "", acc0), NAMES(acc_final));
    set_graph(&c, lp, "body", loop);
    loop = NULL;
    const char *axis1_outer = ints1(&c, g, "slot_axis", 1);
    set_int(&c, node(&c, g, "ReduceSum", NAMES(acc_final, axis1_outer), NAMES(sum)), "keepdims", 0);
    node(&c, g, "CastLike", NAMES(sum, X), NAMES(y2));
    node(&c, g, "Shape", NAMES(X), NAMES(x_shape));
    set_int(&c, node(&c, g, "Reshape", NAMES(y2, x_shape), NAMES(Y)), "allowzero", 1);

    ocs_graph_free(loop);
    ocs_graph_free(then_g);
    ocs_graph_free(else_g);
    ocs_graph_free(default_router);
    for (size_t i = 0; i < c.n_names; i++)
        free(c.names[i]);
    free(c.names);
    return c.st;
}

/* ---- worked example ---------------------------------------------------------------- */

static ocs_status add_init(ocs_graph *g, const char *name, int rank, const int64_t *dims, const float *v,
                           ocs_err *err)
{
    ocs_tensor *t = NULL;
    ocs_status st = ocs_tensor_new(OCS_FLOAT, rank, dims, &t, err);
    if (st != OCS_OK)
        return st;
    memcpy(t->data, v, t->numel * sizeof *v);
    st = ocs_graph_add_initializer(g, name, t, err);
    ocs_tensor_free(t);
    return st;
}

static ocs_status example(ocs_doc_example *ex, ocs_err *err)
{
    /* T = 3 tokens, E = 3 experts, k = 2, H = 4, a ReLU FFN expert with I = 2 */
    static const float x[12] = {1.0f, 0.0f, -1.0f, 2.0f, 0.5f, 1.0f, 1.0f, -0.5f, -1.0f, 2.0f, 0.0f, 1.0f};
    static const float logits[9] = {2.0f, 1.0f, 0.0f, 1.0f, 1.0f, 1.0f, 0.0f, 0.5f, 3.0f};
    static const float w1[24] = {
        1, 0, 0, 0, 0, 1, 0, 0,      /* expert 0: h = (x0, x1) */
        0, 0, 1, 0, 0, 0, 0, 1,      /* expert 1: h = (x2, x3) */
        1, 1, 0, 0, 0, 0, 1, 1,      /* expert 2: h = (x0 + x1, x2 + x3) */
    };
    static const float w2[24] = {
        1, 0, 0, 1, 1, 0, 0, 1,              /* expert 0: y = (h0, h1, h0, h1) */
        1, 1, 0, 0, 0, 0, 1, -1,             /* expert 1: y = (h0 + h1, 0, 0, h0 - h1) */
        0.5f, 0, 0, 0.5f, 0.5f, 0, 0, 0.5f,  /* expert 2: y = (h0, h1, h0, h1) / 2 */
    };
    static const int64_t x_dims[2] = {3, 4}, l_dims[2] = {3, 3}, w1_dims[3] = {3, 2, 4}, w2_dims[3] = {3, 4, 2};
    ocs_graph *g = NULL, *expert = NULL;
    ocs_node *n = NULL;
    ocs_status st = ocs_graph_new("moe_example", &g, err);
    if (st == OCS_OK)
        st = add_init(g, "input", 2, x_dims, x, err);
    if (st == OCS_OK)
        st = add_init(g, "router_logits", 2, l_dims, logits, err);
    if (st == OCS_OK)
        st = add_init(g, "W1", 3, w1_dims, w1, err);
    if (st == OCS_OK)
        st = add_init(g, "W2", 3, w2_dims, w2, err);
    if (st == OCS_OK)
        st = ocs_graph_add_output(g, "output", OCS_FLOAT, 2, x_dims, err);
    if (st == OCS_OK)
        st = ocs_graph_add_node(g, "MoE", OCS_PREVIEW_DOMAIN, "moe", 4,
                                (const char *const[]){"input", "router_logits", "W1", "W2"}, 1,
                                (const char *const[]){"output"}, &n, err);
    if (st == OCS_OK)
        st = ocs_node_set_int(n, "k", 2, err);
    if (st == OCS_OK)
        st = ocs_moe_expert_ffn(OCS_FLOAT, OCS_MOE_ACT_RELU, 0, &expert, err);
    if (st == OCS_OK)
        st = ocs_node_set_graph(n, "expert", expert, err);
    if (st != OCS_OK) {
        ocs_graph_free(g);
        return st;
    }
    ex->title = "Mixtral-style routing (the default router: softmax, top-2, renormalised) with a ReLU FFN "
                "expert (`ffn(relu)`, I = 2). Token 1 scores all three experts equally: the tie goes to the "
                "lower indices, experts 0 and 1, with weight 0.5 each.";
    ex->graph = g;
    return OCS_OK;
}

/* ---- the schema -------------------------------------------------------------------- */

const ocs_schema ocs_schema_MoE = {
    .domain = OCS_PREVIEW_DOMAIN,
    .name = "MoE",
    .since_version = 1,
    .summary = summary,
    .attrs = attrs,
    .n_attrs = sizeof attrs / sizeof attrs[0],
    .inputs = inputs,
    .n_inputs = sizeof inputs / sizeof inputs[0],
    .outputs = outputs,
    .n_outputs = sizeof outputs / sizeof outputs[0],
    .constraints = constraints,
    .n_constraints = sizeof constraints / sizeof constraints[0],
    .errors = errors,
    .n_errors = sizeof errors / sizeof errors[0],
    .conventions = conventions,
    .check = check,
    .infer = infer,
    .body = body,
    .body_opset = 15,
    .example = example,
};
