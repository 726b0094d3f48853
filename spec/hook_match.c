/*
 * spec/hook_match.c - recognising the canonical MoE hooks by structure (see
 * ocs/hook_match.h).
 *
 * Two graphs are compared node by node.  Every value a node reads is
 * resolved to where it comes from (a graph input, an earlier node's output
 * slot, an initializer, or nothing) and both graphs must agree on that; so
 * names never matter, only wiring, operators, attributes and constants.
 * Parameters are recovered with marker values: the candidate is built with
 * markers, compared without looking at initializer values (which pairs each
 * candidate initializer with the given graph's), the markers' partners are
 * read, and the candidate is rebuilt with them and compared in full.
 */
#include "ocs/hook_match.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ocs/build.h"

/* ---- structural comparison ----------------------------------------------------- */

typedef enum ref_kind { REF_NONE, REF_INPUT, REF_INIT, REF_NODE, REF_OUTER } ref_kind;

typedef struct ref {
    ref_kind kind;
    size_t index;   /* input, initializer or node index */
    size_t slot;    /* node output slot */
} ref;

#define MAX_PAIRS 128

/* Initializers of a paired with those of b (loose comparison). */
typedef struct pairing {
    int loose;                 /* 1: do not compare initializer values, record pairs */
    size_t n;
    size_t a[MAX_PAIRS], b[MAX_PAIRS];
} pairing;

/* Where the value `name` read by node `before` (or a graph output when before == n_nodes) comes from. */
static ref resolve(const ocs_graph *g, size_t before, const char *name)
{
    ref r = {REF_NONE, 0, 0};
    if (!name || !*name)
        return r;
    for (size_t j = before; j-- > 0;) {
        const ocs_node *n = &g->nodes[j];
        for (size_t s = 0; s < n->n_outputs; s++)
            if (n->outputs[s] && !strcmp(n->outputs[s], name)) {
                r.kind = REF_NODE;
                r.index = j;
                r.slot = s;
                return r;
            }
    }
    for (size_t i = 0; i < g->n_inputs; i++)
        if (g->inputs[i].name && !strcmp(g->inputs[i].name, name)) {
            r.kind = REF_INPUT;
            r.index = i;
            return r;
        }
    for (size_t i = 0; i < g->n_inits; i++)
        if (g->inits[i].name && !strcmp(g->inits[i].name, name)) {
            r.kind = REF_INIT;
            r.index = i;
            return r;
        }
    r.kind = REF_OUTER;
    return r;
}

static int same_domain(const char *a, const char *b)
{
    if (!a || !strcmp(a, "ai.onnx"))
        a = "";
    if (!b || !strcmp(b, "ai.onnx"))
        b = "";
    return !strcmp(a, b);
}

static int same_str(const ocs_string *a, const ocs_string *b)
{
    return a->len == b->len && (a->len == 0 || !memcmp(a->data, b->data, a->len));
}

static int same_tensor(const ocs_tensor *a, const ocs_tensor *b)
{
    if (!a || !b)
        return a == b;
    return ocs_tensor_equal(a, b);
}

static int same_graph(const ocs_graph *a, const ocs_graph *b, pairing *p);

static int same_attr(const ocs_attr *a, const ocs_attr *b)
{
    if (a->type != b->type || a->ref_attr_name || b->ref_attr_name)
        return 0;
    switch (a->type) {
    case OCS_ATTR_FLOAT:
        return !memcmp(&a->f, &b->f, sizeof a->f);
    case OCS_ATTR_INT:
        return a->i == b->i;
    case OCS_ATTR_STRING:
        return same_str(&a->s, &b->s);
    case OCS_ATTR_TENSOR:
        return same_tensor(a->t, b->t);
    case OCS_ATTR_GRAPH: {
        pairing strict = {0};
        return a->g && b->g && same_graph(a->g, b->g, &strict);
    }
    case OCS_ATTR_FLOATS:
        return a->n == b->n && (a->n == 0 || !memcmp(a->floats, b->floats, a->n * sizeof *a->floats));
    case OCS_ATTR_INTS:
        return a->n == b->n && (a->n == 0 || !memcmp(a->ints, b->ints, a->n * sizeof *a->ints));
    case OCS_ATTR_STRINGS:
        if (a->n != b->n)
            return 0;
        for (size_t i = 0; i < a->n; i++)
            if (!same_str(&a->strings[i], &b->strings[i]))
                return 0;
        return 1;
    case OCS_ATTR_TENSORS:
        if (a->n != b->n)
            return 0;
        for (size_t i = 0; i < a->n; i++)
            if (!same_tensor(a->tensors[i], b->tensors[i]))
                return 0;
        return 1;
    case OCS_ATTR_GRAPHS:
        if (a->n != b->n)
            return 0;
        for (size_t i = 0; i < a->n; i++) {
            pairing strict = {0};
            if (!a->graphs[i] || !b->graphs[i] || !same_graph(a->graphs[i], b->graphs[i], &strict))
                return 0;
        }
        return 1;
    default:
        return 0;   /* sparse tensors and type protos never occur in canonical hooks */
    }
}

static int same_attrs(const ocs_node *a, const ocs_node *b)
{
    if (a->n_attrs != b->n_attrs)
        return 0;
    for (size_t i = 0; i < a->n_attrs; i++) {
        const ocs_attr *x = &a->attrs[i], *y = NULL;
        for (size_t j = 0; j < b->n_attrs && !y; j++)
            if (!strcmp(b->attrs[j].name, x->name))
                y = &b->attrs[j];
        if (!y || !same_attr(x, y))
            return 0;
    }
    return 1;
}

/* Initializer ia of a and ib of b stand at the same place. */
static int pair_inits(const ocs_graph *a, size_t ia, const ocs_graph *b, size_t ib, pairing *p)
{
    if (!p->loose)
        return same_tensor(a->inits[ia].tensor, b->inits[ib].tensor);
    for (size_t i = 0; i < p->n; i++) {
        if (p->a[i] == ia || p->b[i] == ib)
            return p->a[i] == ia && p->b[i] == ib;
    }
    if (p->n == MAX_PAIRS)
        return 0;
    p->a[p->n] = ia;
    p->b[p->n] = ib;
    p->n++;
    return 1;
}

static int same_ref(const ocs_graph *a, const char *na, ref ra, const ocs_graph *b, const char *nb, ref rb,
                    pairing *p)
{
    if (ra.kind != rb.kind)
        return 0;
    switch (ra.kind) {
    case REF_NONE:
        return 1;
    case REF_INPUT:
        return ra.index == rb.index;
    case REF_NODE:
        return ra.index == rb.index && ra.slot == rb.slot;
    case REF_INIT:
        return pair_inits(a, ra.index, b, rb.index, p);
    case REF_OUTER:
        return !strcmp(na, nb);
    }
    return 0;
}

static int same_value_type(const ocs_value_info *a, const ocs_value_info *b)
{
    if (a->type.kind != b->type.kind)
        return 0;
    if (a->type.kind == OCS_TYPE_TENSOR || a->type.kind == OCS_TYPE_SPARSE_TENSOR)
        return a->type.elem == b->type.elem;
    return a->type.kind == OCS_TYPE_NONE;
}

static int same_graph(const ocs_graph *a, const ocs_graph *b, pairing *p)
{
    if (a->n_inputs != b->n_inputs || a->n_outputs != b->n_outputs || a->n_nodes != b->n_nodes ||
        a->n_inits != b->n_inits)
        return 0;
    for (size_t i = 0; i < a->n_inputs; i++)
        if (!same_value_type(&a->inputs[i], &b->inputs[i]))
            return 0;
    for (size_t i = 0; i < a->n_nodes; i++) {
        const ocs_node *x = &a->nodes[i], *y = &b->nodes[i];
        if (strcmp(x->op_type, y->op_type) || !same_domain(x->domain, y->domain) ||
            x->n_inputs != y->n_inputs || x->n_outputs != y->n_outputs)
            return 0;
        for (size_t s = 0; s < x->n_outputs; s++)
            if (!*x->outputs[s] != !*y->outputs[s])
                return 0;
        for (size_t s = 0; s < x->n_inputs; s++) {
            ref rx = resolve(a, i, x->inputs[s]), ry = resolve(b, i, y->inputs[s]);
            if (!same_ref(a, x->inputs[s], rx, b, y->inputs[s], ry, p))
                return 0;
        }
        if (!same_attrs(x, y))
            return 0;
    }
    for (size_t i = 0; i < a->n_outputs; i++) {
        const char *na = a->outputs[i].name, *nb = b->outputs[i].name;
        ref ra = resolve(a, a->n_nodes, na), rb = resolve(b, b->n_nodes, nb);
        if (ra.kind == REF_NONE || !same_ref(a, na, ra, b, nb, rb, p))
            return 0;
        if (a->outputs[i].type.kind != OCS_TYPE_NONE && b->outputs[i].type.kind != OCS_TYPE_NONE &&
            !same_value_type(&a->outputs[i], &b->outputs[i]))
            return 0;
    }
    return 1;
}

int ocs_graph_same_structure(const ocs_graph *a, const ocs_graph *b)
{
    pairing strict = {0};
    return a && b && same_graph(a, b, &strict);
}

/*
 * After a loose comparison of candidate c with g: the pair whose candidate
 * initializer holds `marker` (in any of its first elements), and that
 * element's index; -1 when no candidate initializer holds it.
 */
static long marked_pair(const ocs_graph *c, const pairing *p, double marker, size_t *elem)
{
    for (size_t i = 0; i < p->n; i++) {
        const ocs_tensor *t = c->inits[p->a[i]].tensor;
        if (!t || (!ocs_dtype_is_float(t->dtype) && !ocs_dtype_is_integer(t->dtype)))
            continue;
        for (size_t e = 0; e < t->numel && e < 16; e++)
            if (ocs_tensor_get_f64(t, e) == marker) {
                *elem = e;
                return (long)i;
            }
    }
    return -1;
}

/* g's initializer at the place of the candidate's initializer holding `marker`, or NULL. */
static const ocs_tensor *partner(const ocs_graph *c, const ocs_graph *g, const pairing *p, double marker,
                                 size_t *elem)
{
    long i = marked_pair(c, p, marker, elem);
    return i < 0 ? NULL : g->inits[p->b[i]].tensor;
}

/* A parameter read from g where the candidate holds `marker`: same dtype, same shape. */
static int read_marked(const ocs_graph *c, const ocs_graph *g, const pairing *p, double marker, double *v)
{
    size_t e = 0;
    long i = marked_pair(c, p, marker, &e);
    if (i < 0)
        return 0;
    const ocs_tensor *t = c->inits[p->a[i]].tensor, *u = g->inits[p->b[i]].tensor;
    if (!u || u->dtype != t->dtype || u->rank != t->rank || u->numel != t->numel)
        return 0;
    for (int d = 0; d < u->rank; d++)
        if (u->dims[d] != t->dims[d])
            return 0;
    *v = ocs_tensor_get_f64(u, e);
    return 1;
}

/* ---- building from parameters ------------------------------------------------------- */

ocs_status ocs_hook_router_build(const ocs_hook_router *r, ocs_graph **out, ocs_err *err)
{
    switch (r->kind) {
    case OCS_HOOK_ROUTER_SOFTMAX_TOPK:
        return ocs_moe_router_softmax_topk(r->logits_type, r->k, r->renormalize, out, err);
    case OCS_HOOK_ROUTER_TOPK_SOFTMAX:
        return ocs_moe_router_topk_softmax(r->logits_type, r->k, out, err);
    case OCS_HOOK_ROUTER_TOPK_SIGMOID:
        return ocs_moe_router_topk_sigmoid(r->logits_type, r->k, out, err);
    case OCS_HOOK_ROUTER_SIGMOID_GROUPED:
        return ocs_moe_router_sigmoid_grouped(r->logits_type, &r->grouped, out, err);
    case OCS_HOOK_ROUTER_SPARSEMIXER:
        return ocs_moe_router_sparsemixer(r->logits_type, r->jitter_eps, out, err);
    }
    *out = NULL;
    return ocs_fail(err, OCS_ERR_INVALID, "unknown router kind %d", (int)r->kind);
}

ocs_status ocs_hook_expert_build(const ocs_hook_expert *x, ocs_graph **out, ocs_err *err)
{
    switch (x->kind) {
    case OCS_HOOK_EXPERT_FFN:
        return ocs_moe_expert_ffn(x->dtype, x->act, x->bias, out, err);
    case OCS_HOOK_EXPERT_GLU:
        return ocs_moe_expert_glu(x->dtype, x->act, x->layout, x->bias, out, err);
    case OCS_HOOK_EXPERT_SWIGLU_OAI:
        return ocs_moe_expert_swiglu_oai(x->dtype, x->layout, x->bias, x->alpha, x->beta, x->limit, out, err);
    }
    *out = NULL;
    return ocs_fail(err, OCS_ERR_INVALID, "unknown expert kind %d", (int)x->kind);
}

size_t ocs_hook_expert_param_count(const ocs_hook_expert *x)
{
    return ocs_moe_expert_param_count(x->kind != OCS_HOOK_EXPERT_FFN, x->layout, x->bias);
}

/* ---- matching ---------------------------------------------------------------------------- */

/* Marker values: exact in float16 and bfloat16, and unlike any constant a hook uses. */
#define MARK_K 977
#define MARK_GROUPS 1009
#define MARK_TOPK_GROUP 1007
#define MARK_SCALE 3.140625
#define MARK_BIAS (-7.25)
#define MARK_EPS 0.15625
#define MARK_ALPHA (-13.5)
#define MARK_BETA 21.25
#define MARK_LIMIT 37.5

static int strict_router(const ocs_graph *g, const ocs_hook_router *r)
{
    ocs_graph *c = NULL;
    if (ocs_hook_router_build(r, &c, NULL) != OCS_OK)
        return 0;
    int same = ocs_graph_same_structure(c, g);
    ocs_graph_free(c);
    return same;
}

static int strict_expert(const ocs_graph *g, const ocs_hook_expert *x)
{
    ocs_graph *c = NULL;
    if (ocs_hook_expert_build(x, &c, NULL) != OCS_OK)
        return 0;
    int same = ocs_graph_same_structure(c, g);
    ocs_graph_free(c);
    return same;
}

/* Builds r (holding markers), compares loosely with g; *c receives the candidate on success. */
static int loose_router(const ocs_graph *g, const ocs_hook_router *r, ocs_graph **c, pairing *p)
{
    *c = NULL;
    if (ocs_hook_router_build(r, c, NULL) != OCS_OK)
        return 0;
    memset(p, 0, sizeof *p);
    p->loose = 1;
    if (same_graph(*c, g, p))
        return 1;
    ocs_graph_free(*c);
    *c = NULL;
    return 0;
}

/* The width k from the candidate's marker; 0 when absent or out of range. */
static int read_k(const ocs_graph *c, const ocs_graph *g, const pairing *p, int64_t *k)
{
    double v;
    if (!read_marked(c, g, p, MARK_K, &v) || !(v >= 1 && v <= 1e15))
        return 0;
    *k = (int64_t)v;
    return (double)*k == v;
}

/* softmax_topk, topk_softmax, topk_sigmoid: the only parameter is k. */
static int match_plain_router(const ocs_graph *g, ocs_hook_router *r)
{
    ocs_graph *c = NULL;
    pairing p;
    r->k = MARK_K;
    if (!loose_router(g, r, &c, &p))
        return 0;
    int ok = read_k(c, g, &p, &r->k);
    ocs_graph_free(c);
    return ok && strict_router(g, r);
}

static int match_grouped(const ocs_graph *g, ocs_hook_router *r, int bias, int groups, int renorm, int scale)
{
    const float marker_bias = (float)MARK_BIAS;
    ocs_moe_grouped *q = &r->grouped;
    memset(q, 0, sizeof *q);
    q->k = MARK_K;
    q->n_group = groups ? MARK_GROUPS : 1;
    q->topk_group = groups ? MARK_TOPK_GROUP : 1;
    q->renormalize = renorm;
    q->routed_scaling_factor = scale ? (float)MARK_SCALE : 1.0f;
    q->bias = bias ? &marker_bias : NULL;
    q->n_bias = bias ? 1 : 0;
    ocs_graph *c = NULL;
    pairing p;
    if (!loose_router(g, r, &c, &p))
        return 0;
    int ok = read_k(c, g, &p, &q->k);
    double v;
    if (ok && groups) {
        ok = read_marked(c, g, &p, MARK_GROUPS, &v) && v >= 2 && v <= 1e9;
        q->n_group = ok ? (int64_t)v : 1;
        ok = ok && read_marked(c, g, &p, MARK_TOPK_GROUP, &v) && v >= 1 && v <= 1e9;
        q->topk_group = ok ? (int64_t)v : 1;
    }
    if (ok && scale) {
        ok = read_marked(c, g, &p, MARK_SCALE, &v);
        q->routed_scaling_factor = (float)v;
    }
    if (ok && bias) {
        size_t e = 0;
        const ocs_tensor *u = partner(c, g, &p, MARK_BIAS, &e);
        ok = u && u->dtype == OCS_FLOAT && u->rank == 1 && u->numel >= 1 && e == 0;
        q->bias = ok ? (const float *)u->data : NULL;
        q->n_bias = ok ? u->numel : 0;
    }
    ocs_graph_free(c);
    if (!ok)
        return 0;
    r->k = q->k;
    r->renormalize = 0;
    return strict_router(g, r);
}

static int match_sparsemixer(const ocs_graph *g, ocs_hook_router *r)
{
    ocs_graph *c = NULL;
    pairing p;
    r->jitter_eps = (float)MARK_EPS;
    r->k = 2;
    if (!loose_router(g, r, &c, &p))
        return 0;
    double v;
    int ok = read_marked(c, g, &p, 2.0 * MARK_EPS, &v);
    ocs_graph_free(c);
    if (!ok)
        return 0;
    r->jitter_eps = (float)(v / 2.0);
    return strict_router(g, r);
}

static int input_dtype(const ocs_graph *g, ocs_dtype *t)
{
    if (!g || g->n_inputs < 1 || g->inputs[0].type.kind != OCS_TYPE_TENSOR)
        return 0;
    *t = g->inputs[0].type.elem;
    return ocs_dtype_is_float(*t);
}

/*
 * Candidates are tried most likely first.  The order comes from which
 * operators the graph uses; it only saves time (a graph that matches is
 * usually found with one or two builds), since every candidate is still
 * decided by the full comparison.  A graph that matches nothing tries every
 * candidate, but such a hook then runs on the generic path, which costs far
 * more.
 */

/* Position of the first node running op, or n_nodes when there is none. */
static size_t first_op(const ocs_graph *g, const char *op)
{
    for (size_t i = 0; i < g->n_nodes; i++)
        if (!strcmp(g->nodes[i].op_type, op))
            return i;
    return g->n_nodes;
}

static int has_op(const ocs_graph *g, const char *op)
{
    return first_op(g, op) < g->n_nodes;
}

typedef struct router_cand {
    ocs_hook_router_kind kind;
    int flags;      /* renormalize (softmax_topk); bias|groups|renorm|scale bits (sigmoid_grouped) */
    int score;
} router_cand;

static int router_score(const ocs_graph *g, const router_cand *c)
{
    int softmax_first = has_op(g, "Softmax") && first_op(g, "Softmax") < first_op(g, "TopK");
    int topk_first = has_op(g, "Softmax") && !softmax_first;
    int gather = has_op(g, "GatherElements"), sigmoid = has_op(g, "Sigmoid");
    switch (c->kind) {
    case OCS_HOOK_ROUTER_SOFTMAX_TOPK:
        return 8 * softmax_first + 2 * (has_op(g, "ReduceSum") == c->flags);
    case OCS_HOOK_ROUTER_TOPK_SOFTMAX:
        return 8 * topk_first;
    case OCS_HOOK_ROUTER_TOPK_SIGMOID:
        return 8 * (sigmoid && !gather);
    case OCS_HOOK_ROUTER_SPARSEMIXER:
        return 16 * has_op(g, "Abs");
    case OCS_HOOK_ROUTER_SIGMOID_GROUPED:
        return 8 * (sigmoid && gather) + 2 * (has_op(g, "Reshape") == ((c->flags >> 1) & 1)) +
               (has_op(g, "Mul") == ((c->flags >> 3) & 1)) + (has_op(g, "Div") == ((c->flags >> 2) & 1));
    }
    return 0;
}

int ocs_hook_match_router(const ocs_graph *g, ocs_hook_router *out)
{
    ocs_hook_router r;
    memset(&r, 0, sizeof r);
    if (!input_dtype(g, &r.logits_type) || g->n_inputs != 1 || g->n_outputs != 2)
        return 0;
    router_cand c[24];
    size_t n = 0;
    for (int renorm = 0; renorm <= 1; renorm++)
        c[n++] = (router_cand){OCS_HOOK_ROUTER_SOFTMAX_TOPK, renorm, 0};
    c[n++] = (router_cand){OCS_HOOK_ROUTER_TOPK_SOFTMAX, 0, 0};
    c[n++] = (router_cand){OCS_HOOK_ROUTER_TOPK_SIGMOID, 0, 0};
    c[n++] = (router_cand){OCS_HOOK_ROUTER_SPARSEMIXER, 0, 0};
    for (int f = 0; f < 16; f++)
        c[n++] = (router_cand){OCS_HOOK_ROUTER_SIGMOID_GROUPED, f, 0};
    for (size_t i = 0; i < n; i++)
        c[i].score = router_score(g, &c[i]);
    /* stable insertion sort, highest score first */
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && c[j].score > c[j - 1].score; j--) {
            router_cand t = c[j];
            c[j] = c[j - 1];
            c[j - 1] = t;
        }
    for (size_t i = 0; i < n; i++) {
        ocs_hook_router_kind kind = c[i].kind;
        int f = c[i].flags, ok;
        memset(&r.grouped, 0, sizeof r.grouped);
        r.kind = kind;
        r.renormalize = kind == OCS_HOOK_ROUTER_SOFTMAX_TOPK ? f : 0;
        r.jitter_eps = 0.0f;
        if (kind == OCS_HOOK_ROUTER_SPARSEMIXER)
            ok = match_sparsemixer(g, &r);
        else if (kind == OCS_HOOK_ROUTER_SIGMOID_GROUPED)
            ok = match_grouped(g, &r, f & 1, (f >> 1) & 1, (f >> 2) & 1, (f >> 3) & 1);
        else
            ok = match_plain_router(g, &r);
        if (ok) {
            *out = r;
            return 1;
        }
    }
    return 0;
}

static int match_oai(const ocs_graph *g, ocs_hook_expert *x, int clamp)
{
    x->alpha = (float)MARK_ALPHA;
    x->beta = (float)MARK_BETA;
    x->limit = clamp ? (float)MARK_LIMIT : INFINITY;
    ocs_graph *c = NULL;
    if (ocs_hook_expert_build(x, &c, NULL) != OCS_OK)
        return 0;
    pairing p;
    memset(&p, 0, sizeof p);
    p.loose = 1;
    double a = 0, b = 0, l = INFINITY;
    int ok = same_graph(c, g, &p) && read_marked(c, g, &p, MARK_ALPHA, &a) && read_marked(c, g, &p, MARK_BETA, &b) &&
             (!clamp || read_marked(c, g, &p, MARK_LIMIT, &l));
    ocs_graph_free(c);
    if (!ok || (clamp && !isfinite(l)))
        return 0;
    x->alpha = (float)a;
    x->beta = (float)b;
    x->limit = (float)l;
    return strict_expert(g, x);
}

typedef struct expert_cand {
    ocs_hook_expert x;
    int clamp;      /* swiglu_oai: limit finite */
    int score;
} expert_cand;

static int expert_score(const ocs_graph *g, const expert_cand *c)
{
    ocs_moe_act hint = OCS_MOE_ACT_IDENTITY;
    if (has_op(g, "Erf"))
        hint = OCS_MOE_ACT_GELU;
    else if (has_op(g, "Tanh"))
        hint = OCS_MOE_ACT_GELU_TANH;
    else if (has_op(g, "Sigmoid"))
        hint = OCS_MOE_ACT_SILU;
    else if (has_op(g, "Relu"))
        hint = OCS_MOE_ACT_RELU;
    int split = c->x.kind != OCS_HOOK_EXPERT_FFN && c->x.layout != OCS_MOE_GATE_UP_SEPARATE;
    int clip = c->x.kind == OCS_HOOK_EXPERT_SWIGLU_OAI && c->clamp;
    return 8 * (has_op(g, "Reshape") == split) + 4 * (c->x.act == hint) + 2 * (has_op(g, "Clip") == clip) +
           (c->x.kind != OCS_HOOK_EXPERT_SWIGLU_OAI);
}

int ocs_hook_match_expert(const ocs_graph *g, ocs_hook_expert *out)
{
    ocs_hook_expert x;
    memset(&x, 0, sizeof x);
    if (!input_dtype(g, &x.dtype) || g->n_outputs != 1)
        return 0;
    static const ocs_moe_act acts[] = {OCS_MOE_ACT_SILU, OCS_MOE_ACT_GELU, OCS_MOE_ACT_GELU_TANH,
                                       OCS_MOE_ACT_RELU, OCS_MOE_ACT_IDENTITY};
    static const ocs_moe_layout layouts[] = {OCS_MOE_GATE_UP_SEPARATE, OCS_MOE_GATE_UP_CONCATENATED,
                                             OCS_MOE_GATE_UP_INTERLEAVED};
    expert_cand c[64];
    size_t n = 0;
    /* the parameter count (the graph's inputs but x) rules most candidates out at once */
    for (int bias = 0; bias <= 1; bias++) {
        x.bias = bias;
        x.kind = OCS_HOOK_EXPERT_FFN;
        x.layout = OCS_MOE_GATE_UP_SEPARATE;
        if (g->n_inputs == 1 + ocs_hook_expert_param_count(&x))
            for (size_t a = 0; a < sizeof acts / sizeof *acts; a++) {
                x.act = acts[a];
                c[n++] = (expert_cand){x, 0, 0};
            }
        for (size_t l = 0; l < sizeof layouts / sizeof *layouts; l++) {
            x.layout = layouts[l];
            x.kind = OCS_HOOK_EXPERT_GLU;
            if (g->n_inputs != 1 + ocs_hook_expert_param_count(&x))
                continue;
            for (size_t a = 0; a < sizeof acts / sizeof *acts; a++) {
                x.act = acts[a];
                c[n++] = (expert_cand){x, 0, 0};
            }
            x.kind = OCS_HOOK_EXPERT_SWIGLU_OAI;
            x.act = OCS_MOE_ACT_SILU;
            for (int clamp = 1; clamp >= 0; clamp--)
                c[n++] = (expert_cand){x, clamp, 0};
        }
    }
    for (size_t i = 0; i < n; i++)
        c[i].score = expert_score(g, &c[i]);
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && c[j].score > c[j - 1].score; j--) {
            expert_cand t = c[j];
            c[j] = c[j - 1];
            c[j - 1] = t;
        }
    for (size_t i = 0; i < n; i++) {
        x = c[i].x;
        int ok = x.kind == OCS_HOOK_EXPERT_SWIGLU_OAI ? match_oai(g, &x, c[i].clamp) : strict_expert(g, &x);
        if (ok) {
            *out = x;
            return 1;
        }
    }
    return 0;
}

int ocs_hook_match_moe(const ocs_node *n, ocs_hook_moe *s)
{
    memset(s, 0, sizeof *s);
    const ocs_attr *k = ocs_node_attr(n, "k");
    s->k_ok = k && k->type == OCS_ATTR_INT;
    s->k = s->k_ok ? k->i : 0;
    const ocs_attr *pos = ocs_node_attr(n, "weight_position");
    s->position = "output";
    s->position_ok = 1;
    if (pos) {
        s->position_ok = pos->type == OCS_ATTR_STRING;
        s->position = s->position_ok ? pos->s.data : "(not a string)";
    }
    if (s->position_ok && !strcmp(s->position, "input"))
        s->weight_on_input = 1;
    else if (!s->position_ok || strcmp(s->position, "output"))
        s->position_ok = 0;
    const ocs_attr *expert = ocs_node_attr(n, "expert"), *router = ocs_node_attr(n, "router");
    if (!expert || expert->type != OCS_ATTR_GRAPH || !expert->g || !ocs_hook_match_expert(expert->g, &s->expert))
        return 0;
    if (router) {
        if (router->type != OCS_ATTR_GRAPH || !router->g || !ocs_hook_match_router(router->g, &s->router))
            return 0;
        s->has_router = 1;
    }
    return 1;
}

static int moe_storage_type(ocs_dtype t)
{
    return t == OCS_FLOAT || t == OCS_FLOAT16 || t == OCS_BFLOAT16;
}

int ocs_hook_moe_types_fused(const ocs_hook_moe *m, size_t n_in, const ocs_tensor_type *in)
{
    if (n_in < 2)
        return 0;
    const ocs_dtype t = in[0].dtype, lt = in[1].dtype;
    if (!moe_storage_type(t) || m->expert.dtype != t || !(moe_storage_type(lt) || lt == OCS_DOUBLE))
        return 0;
    if (m->has_router && m->router.logits_type != lt)
        return 0;
    for (size_t i = 2; i < n_in; i++)
        if (in[i].dtype != OCS_UNDEFINED && in[i].dtype != t)
            return 0;
    return 1;
}

/* ---- the checks of a fused call ------------------------------------------------------------------- */

static const char *param_name(const ocs_hook_moe *m, size_t i)
{
    static const char *const with_bias[] = {"W1", "b1", "W2", "b2", "W3", "b3"};
    static const char *const no_bias[] = {"W1", "W2", "W3"};
    return m->expert.bias ? with_bias[i] : no_bias[i];
}

/* expert_params i must be [E, rows, cols]. */
static ocs_status check_matrix(const ocs_hook_moe *m, const ocs_tensor *const *in, const ocs_hook_moe_call *c,
                               size_t i, size_t rows, size_t cols, const char *what, ocs_err *err)
{
    const ocs_tensor *p = in[2 + i];
    if (p->rank != 3 || p->dims[0] != (int64_t)c->E || p->dims[1] != (int64_t)rows || p->dims[2] != (int64_t)cols) {
        char shape[128];
        return ocs_fail(err, OCS_ERR_INVALID,
                        "expert_params %zu (%s, input %zu) has shape %s; the %s expert needs %s = [%zu, %zu, %zu]",
                        i, param_name(m, i), 2 + i, ocs_shape_str(p->rank, p->dims, shape, sizeof shape),
                        ocs_moe_act_name(m->expert.act), what, c->E, rows, cols);
    }
    return OCS_OK;
}

/* A bias slice broadcasts to [n, len] as Gemm's C does: [E], [E, 1], [E, len] or [E, 1, len]. */
static ocs_status check_bias(const ocs_hook_moe *m, const ocs_tensor *const *in, const ocs_hook_moe_call *c, size_t i,
                             size_t len, ocs_err *err)
{
    const ocs_tensor *p = in[2 + i];
    int ok = p->rank >= 1 && p->rank <= 3 && p->dims[0] == (int64_t)c->E;
    if (ok && p->rank >= 2) {
        const int64_t last = p->dims[p->rank - 1];
        ok = (last == 1 || last == (int64_t)len) && (p->rank == 2 || p->dims[1] == 1);
    }
    if (!ok) {
        char shape[128];
        return ocs_fail(err, OCS_ERR_INVALID,
                        "expert_params %zu (%s, input %zu) has shape %s; a bias must be [E, %zu] (E = %zu)", i,
                        param_name(m, i), 2 + i, ocs_shape_str(p->rank, p->dims, shape, sizeof shape), len, c->E);
    }
    return OCS_OK;
}

/* The grouped router's bias length and group counts against E. */
static ocs_status check_grouped(const ocs_moe_grouped *g, size_t E, ocs_err *err)
{
    if (g->bias && g->n_bias != 1 && g->n_bias != E)
        return ocs_fail(err, OCS_ERR_INVALID,
                        "router (sigmoid_grouped): the correction bias has %zu values; it must have E = %zu (or 1)",
                        g->n_bias, E);
    if (g->n_group > 1) {
        if (E % (size_t)g->n_group)
            return ocs_fail(err, OCS_ERR_INVALID,
                            "router (sigmoid_grouped): E = %zu experts cannot form n_group = %lld equal groups", E,
                            (long long)g->n_group);
        if (E / (size_t)g->n_group < 2)
            return ocs_fail(err, OCS_ERR_INVALID,
                            "router (sigmoid_grouped): groups of %zu expert; the group score needs the top 2",
                            E / (size_t)g->n_group);
    }
    return OCS_OK;
}

ocs_status ocs_hook_moe_check(const ocs_hook_moe *m, size_t n_in, const ocs_tensor *const *in, ocs_hook_moe_call *c,
                              ocs_err *err)
{
    memset(c, 0, sizeof *c);
    if (!m->k_ok)
        return ocs_fail(err, OCS_ERR_INVALID, "required attribute k (INT) is missing");
    if (!m->position_ok)
        return ocs_fail(err, OCS_ERR_INVALID, "weight_position is \"%s\"; it must be \"output\" or \"input\"",
                        m->position);
    if (n_in < 2 || !in[0] || !in[1])
        return ocs_fail(err, OCS_ERR_INVALID, "MoE needs inputs 0 (input) and 1 (router_logits)");
    const ocs_tensor *x = in[0], *logits = in[1];
    if (x->dtype != m->expert.dtype)
        return ocs_fail(err, OCS_ERR_INVALID, "input is %s but the expert graph takes %s", ocs_dtype_name(x->dtype),
                        ocs_dtype_name(m->expert.dtype));
    if (x->rank < 1)
        return ocs_fail(err, OCS_ERR_INVALID, "input must have rank >= 1 ([..., H]), it is a scalar");
    if (logits->rank != 2)
        return ocs_fail(err, OCS_ERR_INVALID, "router_logits must be 2-D [T, E], it has rank %d", logits->rank);
    size_t rows = 0;
    ocs_status st = ocs_shape_numel(x->rank - 1, x->dims, &rows, err);
    if (st != OCS_OK)
        return st;
    c->t = x->dtype;
    c->x = x;
    c->logits = logits;
    c->T = (size_t)logits->dims[0];
    c->E = (size_t)logits->dims[1];
    c->H = (size_t)x->dims[x->rank - 1];
    if (rows != c->T) {
        char shape[128];
        return ocs_fail(err, OCS_ERR_INVALID, "input %s holds %zu tokens but router_logits has T = %zu rows",
                        ocs_shape_str(x->rank, x->dims, shape, sizeof shape), rows, c->T);
    }
    if (m->k < 1 || (uint64_t)m->k > c->E)
        return ocs_fail(err, OCS_ERR_INVALID, "k = %lld is outside [1, E] = [1, %zu]", (long long)m->k, c->E);
    c->k = (size_t)m->k;
    if (m->has_router && m->router.k != m->k)
        return ocs_fail(err, OCS_ERR_INVALID,
                        "router output 0 (weights) is FLOAT [%zu, %lld]; it must be FLOAT [%zu, %zu] ([T, k])", c->T,
                        (long long)m->router.k, c->T, c->k);
    if (m->has_router && m->router.kind == OCS_HOOK_ROUTER_SIGMOID_GROUPED &&
        (st = check_grouped(&m->router.grouped, c->E, err)) != OCS_OK)
        return st;

    const ocs_hook_expert *xp = &m->expert;
    const size_t n_params = n_in - 2, want = ocs_hook_expert_param_count(xp);
    if (n_params != want)
        return ocs_fail(err, OCS_ERR_INVALID,
                        "the expert graph has %zu inputs and 1 outputs; with %zu expert_params it must have %zu and 1",
                        want + 1, n_params, n_params + 1);
    for (size_t i = 0; i < n_params; i++) {
        const ocs_tensor *p = in[2 + i];
        if (!p)
            return ocs_fail(err, OCS_ERR_INVALID, "expert_params %zu (input %zu) is absent", i, 2 + i);
        if (p->rank < 1 || p->dims[0] != (int64_t)c->E) {
            char shape[128];
            return ocs_fail(err, OCS_ERR_INVALID,
                            "expert_params %zu (input %zu) has shape %s; its leading dimension must be E = %zu", i,
                            2 + i, ocs_shape_str(p->rank, p->dims, shape, sizeof shape), c->E);
        }
        if (p->dtype != c->t)
            return ocs_fail(err, OCS_ERR_INVALID, "expert_params %zu (input %zu) is %s; the expert takes %s", i, 2 + i,
                            ocs_dtype_name(p->dtype), ocs_dtype_name(c->t));
    }
    const size_t b = xp->bias ? 1 : 0;
    c->W1 = in[2];
    c->b1 = b ? in[3] : NULL;
    c->W2 = in[3 + b];
    c->b2 = b ? in[5] : NULL;
    c->gated = xp->kind != OCS_HOOK_EXPERT_FFN;
    c->layout = c->gated ? xp->layout : OCS_MOE_GATE_UP_SEPARATE;
    c->W3 = c->gated && c->layout == OCS_MOE_GATE_UP_SEPARATE ? in[4 + 2 * b] : NULL;
    c->b3 = c->W3 && b ? in[7] : NULL;
    if (c->W1->rank != 3) {
        char shape[128];
        return ocs_fail(err, OCS_ERR_INVALID, "expert_params 0 (W1, input 2) has shape %s; it must be 3-D [E, %s, H]",
                        ocs_shape_str(c->W1->rank, c->W1->dims, shape, sizeof shape),
                        c->gated && c->layout != OCS_MOE_GATE_UP_SEPARATE ? "2 I" : "I");
    }
    c->r1 = (size_t)c->W1->dims[1];
    const int shared = c->gated && c->layout != OCS_MOE_GATE_UP_SEPARATE;
    if (shared && c->r1 % 2)
        return ocs_fail(err, OCS_ERR_INVALID,
                        "expert_params 0 (W1) has %zu rows per expert; the %s gate/up layout needs an even count "
                        "(2 I)", c->r1, ocs_moe_layout_name(c->layout));
    c->inter = shared ? c->r1 / 2 : c->r1;
    if ((st = check_matrix(m, in, c, 0, c->r1, c->H, shared ? "[E, 2 I, H]" : "[E, I, H]", err)) != OCS_OK ||
        (st = check_matrix(m, in, c, b ? 2 : 1, c->H, c->inter, "[E, H, I]", err)) != OCS_OK)
        return st;
    if (c->W3 && (st = check_matrix(m, in, c, b ? 4 : 2, c->inter, c->H, "[E, I, H]", err)) != OCS_OK)
        return st;
    if (b && ((st = check_bias(m, in, c, 1, c->r1, err)) != OCS_OK || (st = check_bias(m, in, c, 3, c->H, err)) != OCS_OK))
        return st;
    if (c->b3 && (st = check_bias(m, in, c, 5, c->inter, err)) != OCS_OK)
        return st;
    c->P = c->T * c->k;
    return OCS_OK;
}
