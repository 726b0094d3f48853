/*
 * ocs/hook_match.h - structural recognition of the MoE operator's canonical
 * hooks (the graphs ocs/hooks.h builds).
 *
 * A backend that runs a fused MoE kernel must know that a router or expert
 * GRAPH attribute computes exactly what one of the canonical hooks computes,
 * and with which parameters.  The matcher knows no hook structure of its
 * own: for every candidate hook and choice of parameters it builds the
 * canonical graph with the hooks.h builder and compares the two graphs
 * structurally (ocs_graph_same_structure).  Numeric parameters stored in the
 * graph (k, alpha, beta, limit, the DeepSeek bias and group counts, the
 * SparseMixer epsilon) are found by building the candidate with marker
 * values, locating the markers, reading the values at the same places of the
 * given graph, and then rebuilding with those values and comparing again, so
 * that a recognised graph is always one the builder produces for the
 * reported parameters.
 *
 * Every function here is pure (no state, no allocation visible to the
 * caller).  "Not canonical" is a normal answer, not an error.
 */
#ifndef OCS_HOOK_MATCH_H
#define OCS_HOOK_MATCH_H

#include <stdint.h>
#include "ocs/hooks.h"
#include "ocs/model.h"
#include "ocs/schema.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ocs_hook_router_kind {
    OCS_HOOK_ROUTER_SOFTMAX_TOPK = 0,  /* ocs_moe_router_softmax_topk */
    OCS_HOOK_ROUTER_TOPK_SOFTMAX,      /* ocs_moe_router_topk_softmax */
    OCS_HOOK_ROUTER_TOPK_SIGMOID,      /* ocs_moe_router_topk_sigmoid */
    OCS_HOOK_ROUTER_SIGMOID_GROUPED,   /* ocs_moe_router_sigmoid_grouped */
    OCS_HOOK_ROUTER_SPARSEMIXER        /* ocs_moe_router_sparsemixer */
} ocs_hook_router_kind;

/* The parameters of a recognised router: the builder's arguments. */
typedef struct ocs_hook_router {
    ocs_hook_router_kind kind;
    ocs_dtype logits_type;
    int64_t k;                  /* the width the router returns (2 for sparsemixer) */
    int renormalize;            /* softmax_topk; sigmoid_grouped uses grouped.renormalize */
    /* sigmoid_grouped: grouped.bias points into the matched graph's
     * initializer (borrowed, valid while that graph lives), NULL when the
     * router has no bias; grouped.k equals k. */
    ocs_moe_grouped grouped;
    float jitter_eps;           /* sparsemixer */
} ocs_hook_router;

typedef enum ocs_hook_expert_kind {
    OCS_HOOK_EXPERT_FFN = 0,    /* ocs_moe_expert_ffn */
    OCS_HOOK_EXPERT_GLU,        /* ocs_moe_expert_glu */
    OCS_HOOK_EXPERT_SWIGLU_OAI  /* ocs_moe_expert_swiglu_oai */
} ocs_hook_expert_kind;

/* The parameters of a recognised expert: the builder's arguments. */
typedef struct ocs_hook_expert {
    ocs_hook_expert_kind kind;
    ocs_dtype dtype;
    ocs_moe_act act;            /* ffn, glu; SILU for swiglu_oai */
    ocs_moe_layout layout;      /* glu, swiglu_oai; SEPARATE for ffn */
    int bias;
    float alpha, beta, limit;   /* swiglu_oai (limit = +INFINITY: no clamp) */
} ocs_hook_expert;

/*
 * Whether a and b compute the same thing by construction: the same inputs
 * (count and element types), the same nodes in the same order (operator,
 * domain, attributes by value, subgraph attributes recursively), the same
 * wiring (each node input is the same graph input, the same output of the
 * same earlier node, an initializer of equal value, or absent in both), the
 * same outputs, and the same number of initializers.  Value and node names
 * and declared shapes may differ.  Returns 1 or 0.
 */
int ocs_graph_same_structure(const ocs_graph *a, const ocs_graph *b);

/* 1 and *out filled when g is a canonical router; 0 otherwise. */
int ocs_hook_match_router(const ocs_graph *g, ocs_hook_router *out);

/* 1 and *out filled when g is a canonical expert; 0 otherwise. */
int ocs_hook_match_expert(const ocs_graph *g, ocs_hook_expert *out);

/* Rebuilds the canonical graph a match describes (*out owned by the caller). */
ocs_status ocs_hook_router_build(const ocs_hook_router *r, ocs_graph **out, ocs_err *err);
ocs_status ocs_hook_expert_build(const ocs_hook_expert *x, ocs_graph **out, ocs_err *err);

/*
 * What a backend with a fused MoE kernel needs to know of an MoE node:
 * its attributes as read (k, weight_position; *_ok = 0 when absent or
 * malformed, for the backend's own error messages) and its hooks.
 */
typedef struct ocs_hook_moe {
    int64_t k;
    int k_ok;                   /* attribute k present and INT */
    int weight_on_input;
    int position_ok;            /* weight_position "output" or "input" */
    const char *position;
    int has_router;             /* 0: the default router */
    ocs_hook_router router;     /* router.grouped.bias borrows the node's router graph */
    ocs_hook_expert expert;
} ocs_hook_moe;

/* 1 and *out filled when n's expert (and router, if any) are canonical; 0 otherwise. */
int ocs_hook_match_moe(const ocs_node *n, ocs_hook_moe *out);

/*
 * Whether the input types in[0..n_in) of a MoE node matched as m suit a
 * fused implementation: input float, float16 or bfloat16 and the expert's
 * type, router logits of a storage type or double (the router's type when
 * it has one), every expert parameter present of the input's type.  (A
 * parameter count that does not match is left to run to report.)
 */
int ocs_hook_moe_types_fused(const ocs_hook_moe *m, size_t n_in, const ocs_tensor_type *in);

/*
 * An MoE call on a node matched as m, resolved for a fused kernel: sizes,
 * layout and the parameter tensors (borrowed from the inputs).
 */
typedef struct ocs_hook_moe_call {
    ocs_dtype t;                /* input, parameter and output type */
    size_t T, E, H, k, P;       /* P = T k routed pairs */
    size_t inter;               /* I, the intermediate size */
    size_t r1;                  /* rows of W1: I, or 2 I when gate and up share it */
    int gated;                  /* glu or swiglu_oai */
    ocs_moe_layout layout;      /* SEPARATE for ffn */
    /* W3/b3: the separate layout's up projection; b*: NULL without biases */
    const ocs_tensor *x, *logits, *W1, *b1, *W2, *b2, *W3, *b3;
} ocs_hook_moe_call;

/*
 * The reference's checks of an MoE call, in its order and with its
 * messages (OCS_ERR_INVALID), for a node whose hooks matched as m: the
 * attributes, the input and logits shapes, k, the router's width and group
 * counts, the number, presence, type and shape of the expert parameters.
 * On success *c is filled.  Limits of a backend's own (index widths) are
 * the backend's to add.
 */
ocs_status ocs_hook_moe_check(const ocs_hook_moe *m, size_t n_in, const ocs_tensor *const *in, ocs_hook_moe_call *c,
                              ocs_err *err);

/* How many expert_params the expert takes (ocs_moe_expert_param_count). */
size_t ocs_hook_expert_param_count(const ocs_hook_expert *x);

#ifdef __cplusplus
}
#endif
#endif /* OCS_HOOK_MATCH_H */
