/*
 * reference/exec.c - the reference executor.
 *
 * A session plans every graph it may run once: each node resolves to a
 * reference kernel (at the model's opset for its domain) or to a
 * model-local function, and the nodes are put in topological order
 * (Kahn's algorithm; a cycle is an error).  A node that holds subgraphs
 * depends on the outer values those subgraphs read, so a subgraph never runs
 * before the values it captures exist.
 *
 * Running walks the planned order.  Values live in scopes: a hash map from
 * name to tensor with a link to the enclosing scope, which is how subgraphs of
 * If/Loop/Scan see outer values.  A function call runs its body in a fresh
 * scope that sees only the function's formal inputs, with attribute
 * references replaced by the caller's attributes (or the function's
 * defaults).  Intermediate values are freed after their last use.
 *
 * BackendContext regions of the main graph (ocs/backend_context.h) are
 * decided when the session is made: each region's blobs are tried over the
 * session's backends.  An accepted region runs as one step on its backend
 * (bc_run): a BackendContext node keeps its place in the plan and runs the
 * blob instead of its fallback; a scope's nodes are folded into one
 * stand-in node that reads the scope's inputs and produces its outputs, so
 * the topological order and value lifetimes of the rest of the graph are
 * planned as usual.  A region no blob wins runs exactly as it is written.
 */
#include "ocs/exec.h"

#include "ocs/backend.h"
#include "ocs/backend_context.h"
#include "ocs/schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CALL_DEPTH 64

/* ---- plans --------------------------------------------------------------------------- */

typedef struct plan_node {
    const ocs_node *node;
    const ocs_op_def *op;           /* NULL for a function call */
    const ocs_function *fn;         /* the callee, or NULL */
    const ocs_schema *schema;       /* for the proposed operators: checked before each run */
    int64_t since_version;
    size_t n_release;               /* values whose last use is this node */
    const char **release;
    struct backend_state *states;   /* per session backend, what its prepare made */
    struct backend_choice *choice;  /* the backend picked for the last input types seen */
    struct bc_entry *bc;            /* an accepted BackendContext region: runs from its blob */
} plan_node;

typedef struct backend_state {
    void *state;
    int prepared;
} backend_state;

/* supports() is asked again only when a node's input types change. */
typedef struct backend_choice {
    int valid;
    size_t backend;                 /* index into the session's list; SIZE_MAX: none supports it */
    size_t n_in;
    ocs_tensor_type *types;         /* n_in entries */
} backend_choice;

typedef struct plan {
    const void *key;                /* the ocs_graph or ocs_function planned */
    size_t n;
    plan_node *order;
    struct plan *next;              /* session's list of plans */
} plan;

/* A BackendContext region of the main graph and the session's decision. */
typedef struct bc_entry {
    ocs_bc_region *region;
    ocs_bc_view view;
    int has_view;
    ocs_bc_decision decision;
    const ocs_node *node;           /* what stands for an accepted region in the plan */
    ocs_node stand_in;              /* scopes: the folded node (borrows the region's names) */
} bc_entry;

struct ocs_session {
    const ocs_model *model;
    plan *plans;
    ocs_session_options opt;
    ocs_bc_region *bc_regions;
    size_t n_bc;
    bc_entry *bc;
    ocs_node *main_nodes;           /* the main graph with accepted scopes folded, or NULL */
    size_t n_main_nodes;
};

/* An opset context: where a node list takes its opset imports from. */
typedef struct opsets {
    const ocs_opset *list;
    size_t n;
    const ocs_model *model;         /* fallback for domains the list lacks */
} opsets;

static int64_t opset_of(const opsets *o, const char *domain)
{
    if (!domain || !strcmp(domain, "ai.onnx"))
        domain = "";
    for (size_t i = 0; i < o->n; i++)
        if (!strcmp(o->list[i].domain, domain))
            return o->list[i].version;
    return ocs_model_opset(o->model, domain);
}

/* ---- a string set, for planning --------------------------------------------------- */

typedef struct strset {
    const char **keys;
    size_t cap, len;
} strset;

static size_t hash_str(const char *s)
{
    size_t h = 1469598103934665603u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

static int strset_grow(strset *s)
{
    size_t cap = s->cap ? s->cap * 2 : 64;
    const char **keys = calloc(cap, sizeof *keys);
    if (!keys)
        return -1;
    for (size_t i = 0; i < s->cap; i++) {
        if (!s->keys[i])
            continue;
        size_t j = hash_str(s->keys[i]) & (cap - 1);
        while (keys[j])
            j = (j + 1) & (cap - 1);
        keys[j] = s->keys[i];
    }
    free(s->keys);
    s->keys = keys;
    s->cap = cap;
    return 0;
}

/* Index of key, or of the empty slot where it would go. */
static size_t strset_slot(const strset *s, const char *key)
{
    size_t j = hash_str(key) & (s->cap - 1);
    while (s->keys[j] && strcmp(s->keys[j], key))
        j = (j + 1) & (s->cap - 1);
    return j;
}

static int strset_has(const strset *s, const char *key)
{
    return s->cap && s->keys[strset_slot(s, key)] != NULL;
}

/* 1 if added, 0 if present, -1 on allocation failure. */
static int strset_add(strset *s, const char *key)
{
    if ((s->len + 1) * 2 > s->cap && strset_grow(s))
        return -1;
    size_t j = strset_slot(s, key);
    if (s->keys[j])
        return 0;
    s->keys[j] = key;
    s->len++;
    return 1;
}

static void strset_free(strset *s)
{
    free(s->keys);
    memset(s, 0, sizeof *s);
}

/* ---- scopes ------------------------------------------------------------------------- */

/* A named value: a tensor (t), or a sequence or optional (v); never both. */
typedef struct slot {
    const char *name;
    ocs_tensor *t;
    ocs_value *v;
    int owned;
} slot;

struct ocs_scope {
    slot *slots;
    size_t cap, len;
    ocs_scope *parent;               /* NULL for the outermost scope or a function body */
    ocs_session *session;
    const opsets *ops;
    int depth;                       /* nesting of subgraphs and calls */
};

static void scope_init(ocs_scope *sc, ocs_session *s, ocs_scope *parent, const opsets *ops, int depth)
{
    memset(sc, 0, sizeof *sc);
    sc->session = s;
    sc->parent = parent;
    sc->ops = ops;
    sc->depth = depth;
}

static void slot_drop(slot *e)
{
    if (e->owned) {
        ocs_tensor_free(e->t);
        ocs_value_free(e->v);
    }
    memset(e, 0, sizeof *e);
}

static void scope_free(ocs_scope *sc)
{
    for (size_t i = 0; i < sc->cap; i++)
        if (sc->slots[i].name)
            slot_drop(&sc->slots[i]);
    free(sc->slots);
    sc->slots = NULL;
    sc->cap = sc->len = 0;
}

static slot *scope_find_local(const ocs_scope *sc, const char *name)
{
    if (!sc->cap)
        return NULL;
    size_t j = hash_str(name) & (sc->cap - 1);
    while (sc->slots[j].name) {
        if (!strcmp(sc->slots[j].name, name))
            return &sc->slots[j];
        j = (j + 1) & (sc->cap - 1);
    }
    return NULL;
}

/* The value called name in sc or an enclosing scope, or NULL. */
static const slot *scope_lookup(const ocs_scope *sc, const char *name)
{
    for (; sc; sc = sc->parent) {
        slot *e = scope_find_local(sc, name);
        if (e)
            return e;
    }
    return NULL;
}

/*
 * Stores a tensor t or a value v under name, taking ownership when owned
 * (also on failure).  Assigning a name twice is an error; the planner
 * rejects such graphs before they run.
 */
static ocs_status scope_put(ocs_scope *sc, const char *name, ocs_tensor *t, ocs_value *v, int owned,
                            ocs_err *err)
{
    slot e = {name, t, v, owned};
    if ((sc->len + 1) * 2 > sc->cap) {
        size_t cap = sc->cap ? sc->cap * 2 : 64;
        slot *slots = calloc(cap, sizeof *slots);
        if (!slots) {
            slot_drop(&e);
            return ocs_fail(err, OCS_ERR_NOMEM, "out of memory storing value '%s'", name);
        }
        for (size_t i = 0; i < sc->cap; i++) {
            if (!sc->slots[i].name)
                continue;
            size_t j = hash_str(sc->slots[i].name) & (cap - 1);
            while (slots[j].name)
                j = (j + 1) & (cap - 1);
            slots[j] = sc->slots[i];
        }
        free(sc->slots);
        sc->slots = slots;
        sc->cap = cap;
    }
    size_t j = hash_str(name) & (sc->cap - 1);
    while (sc->slots[j].name && strcmp(sc->slots[j].name, name))
        j = (j + 1) & (sc->cap - 1);
    if (sc->slots[j].name) {
        slot_drop(&e);
        return ocs_fail(err, OCS_ERR_INVALID, "value '%s' is assigned twice", name);
    }
    sc->slots[j] = e;
    sc->len++;
    return OCS_OK;
}

/* Frees a local value early (after its last use).  Backward-shift deletion
 * keeps the linear-probing chains intact. */
static void scope_release(ocs_scope *sc, const char *name)
{
    slot *e = scope_find_local(sc, name);
    if (!e)
        return;
    slot_drop(e);
    size_t i = (size_t)(e - sc->slots);
    size_t mask = sc->cap - 1;
    sc->len--;
    for (size_t j = (i + 1) & mask; sc->slots[j].name; j = (j + 1) & mask) {
        size_t home = hash_str(sc->slots[j].name) & mask;
        /* move j into the hole at i when its home is not in (i, j] */
        if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
            sc->slots[i] = sc->slots[j];
            sc->slots[j].name = NULL;
            i = j;
        }
    }
}

/*
 * Hands the value called name over to the caller: moved out of sc when sc
 * owns it, copied otherwise.  A tensor goes to *t when t is non-NULL, else
 * into a value; a sequence or optional needs v.
 */
static ocs_status scope_take(ocs_scope *sc, const char *name, ocs_tensor **t, ocs_value **v, ocs_err *err)
{
    slot *local = scope_find_local(sc, name);
    const slot *e = local ? local : scope_lookup(sc, name);
    if (!e || (!e->t && !e->v))
        return ocs_fail(err, OCS_ERR_INVALID, "output '%s' is never produced", name);
    if (e->v && !v)
        return ocs_fail(err, OCS_ERR_UNSUPPORTED, "'%s' is a sequence or optional, where a tensor is expected",
                        name);
    int move = local && local->owned;
    if (e->v) {
        if (move) {
            *v = local->v;
            local->owned = 0;
            return OCS_OK;
        }
        return ocs_value_clone(e->v, v, err);
    }
    ocs_tensor *copy = NULL;
    if (move) {
        copy = local->t;
        local->owned = 0;
    } else {
        ocs_status st = ocs_tensor_clone(e->t, &copy, err);
        if (st != OCS_OK)
            return st;
    }
    if (t) {
        *t = copy;
        return OCS_OK;
    }
    return ocs_value_from_tensor(copy, v, err);
}

/* ---- planning ------------------------------------------------------------------------ */

static ocs_status plan_graph(ocs_session *s, const ocs_graph *g, const opsets *ops, int depth,
                             ocs_err *err);
static ocs_status plan_function(ocs_session *s, const ocs_function *fn, int depth, ocs_err *err);

static plan *find_plan(const ocs_session *s, const void *key)
{
    for (plan *p = s->plans; p; p = p->next)
        if (p->key == key)
            return p;
    return NULL;
}

static void plan_free(const ocs_session *s, plan *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->order[i].release);
        for (size_t b = 0; p->order[i].states && b < s->opt.n_backends; b++) {
            const ocs_backend *be = s->opt.backends[b];
            if (p->order[i].states[b].prepared && be->ops->release)
                be->ops->release(be->ctx, p->order[i].states[b].state);
        }
        free(p->order[i].states);
        if (p->order[i].choice)
            free(p->order[i].choice->types);
        free(p->order[i].choice);
    }
    free(p->order);
    free(p);
}

/* Adds to `used` every name that the subgraph g reads from outside itself. */
static int collect_free_names(const ocs_graph *g, strset *used)
{
    strset local = {0};
    int rc = 0;
    for (size_t i = 0; i < g->n_inputs && !rc; i++)
        rc = strset_add(&local, g->inputs[i].name) < 0;
    for (size_t i = 0; i < g->n_inits && !rc; i++)
        rc = strset_add(&local, g->inits[i].name) < 0;
    for (size_t i = 0; i < g->n_nodes && !rc; i++)
        for (size_t k = 0; k < g->nodes[i].n_outputs && !rc; k++)
            rc = strset_add(&local, g->nodes[i].outputs[k]) < 0;
    for (size_t i = 0; i < g->n_nodes && !rc; i++) {
        const ocs_node *n = &g->nodes[i];
        for (size_t k = 0; k < n->n_inputs && !rc; k++)
            if (n->inputs[k][0] && !strset_has(&local, n->inputs[k]))
                rc = strset_add(used, n->inputs[k]) < 0;
        for (size_t k = 0; k < n->n_attrs && !rc; k++) {
            const ocs_attr *at = &n->attrs[k];
            if (at->type == OCS_ATTR_GRAPH && at->g) {
                strset inner = {0};
                rc = collect_free_names(at->g, &inner);
                for (size_t j = 0; j < inner.cap && !rc; j++)
                    if (inner.keys[j] && !strset_has(&local, inner.keys[j]))
                        rc = strset_add(used, inner.keys[j]) < 0;
                strset_free(&inner);
            } else if (at->type == OCS_ATTR_GRAPHS) {
                for (size_t m = 0; m < at->n && !rc; m++) {
                    strset inner = {0};
                    rc = collect_free_names(at->graphs[m], &inner);
                    for (size_t j = 0; j < inner.cap && !rc; j++)
                        if (inner.keys[j] && !strset_has(&local, inner.keys[j]))
                            rc = strset_add(used, inner.keys[j]) < 0;
                    strset_free(&inner);
                }
            }
        }
    }
    for (size_t i = 0; i < g->n_outputs && !rc; i++)
        if (!strset_has(&local, g->outputs[i].name))
            rc = strset_add(used, g->outputs[i].name) < 0;
    strset_free(&local);
    return rc;
}

/* The names node n reads: its inputs plus what its subgraphs capture. */
static int node_reads(const ocs_node *n, strset *reads)
{
    for (size_t k = 0; k < n->n_inputs; k++)
        if (n->inputs[k][0] && strset_add(reads, n->inputs[k]) < 0)
            return -1;
    for (size_t k = 0; k < n->n_attrs; k++) {
        const ocs_attr *at = &n->attrs[k];
        if (at->type == OCS_ATTR_GRAPH && at->g && collect_free_names(at->g, reads))
            return -1;
        if (at->type == OCS_ATTR_GRAPHS)
            for (size_t m = 0; m < at->n; m++)
                if (collect_free_names(at->graphs[m], reads))
                    return -1;
    }
    return 0;
}

/* Resolves one node to a kernel or a function, and plans its subgraphs. */
static ocs_status resolve_node(ocs_session *s, const ocs_node *n, const opsets *ops, int depth,
                               plan_node *pn, ocs_err *err)
{
    char label[256];
    memset(pn, 0, sizeof *pn);
    pn->node = n;
    for (size_t i = 0; i < s->n_bc; i++)
        if (s->bc[i].decision.accepted && s->bc[i].node == n)
            pn->bc = &s->bc[i];
    if (pn->bc && pn->bc->region->encoding == OCS_BC_SCOPES)
        return OCS_OK;   /* a folded scope: its nodes' subgraphs are planned by the session */
    const ocs_function *fn = ocs_model_function(s->model, n->domain, n->op_type, n->overload);
    if (fn) {
        pn->fn = fn;
        ocs_status st = plan_function(s, fn, depth + 1, err);
        if (st != OCS_OK)
            return ocs_err_prefix(err, st, "%s: ", ocs_node_label(n, label, sizeof label));
    } else {
        int64_t v = opset_of(ops, n->domain);
        if (v < 0)
            return ocs_fail(err, OCS_ERR_INVALID, "%s: the model imports no opset for domain '%s'",
                            ocs_node_label(n, label, sizeof label), n->domain);
        const ocs_op_def *op = ocs_op_find(n->domain, n->op_type);
        if (!op)
            return ocs_fail(err, OCS_ERR_UNSUPPORTED, "operator %s%s%s is not implemented",
                            n->domain[0] ? n->domain : "", n->domain[0] ? "." : "", n->op_type);
        int64_t since = ocs_op_since_version(op, v);
        if (since < 0)
            return ocs_fail(err, OCS_ERR_INVALID, "%s: operator %s does not exist at opset %lld",
                            ocs_node_label(n, label, sizeof label), n->op_type, (long long)v);
        pn->op = op;
        pn->since_version = since;
        if (s->opt.n_backends) {
            pn->states = calloc(s->opt.n_backends, sizeof *pn->states);
            pn->choice = calloc(1, sizeof *pn->choice);
            if (!pn->states || !pn->choice)
                return ocs_fail(err, OCS_ERR_NOMEM, "out of memory planning a graph");
        }
        pn->schema = ocs_schema_find(op->domain, n->op_type, v);
        if (pn->schema) {
            ocs_status st = ocs_schema_check_node(pn->schema, n, err);
            if (st != OCS_OK)
                return st;
        }
    }
    for (size_t k = 0; k < n->n_attrs; k++) {
        const ocs_attr *at = &n->attrs[k];
        ocs_status st = OCS_OK;
        if (at->type == OCS_ATTR_GRAPH && at->g)
            st = plan_graph(s, at->g, ops, depth + 1, err);
        for (size_t m = 0; st == OCS_OK && at->type == OCS_ATTR_GRAPHS && m < at->n; m++)
            st = plan_graph(s, at->graphs[m], ops, depth + 1, err);
        if (st != OCS_OK)
            return ocs_err_prefix(err, st, "%s, attribute '%s': ",
                                  ocs_node_label(n, label, sizeof label), at->name);
    }
    return OCS_OK;
}

/* Frees name after pn runs; -1 when out of memory. */
static int add_release(plan_node *pn, const char *name)
{
    const char **r = realloc(pn->release, (pn->n_release + 1) * sizeof *r);
    if (!r)
        return -1;
    r[pn->n_release++] = name;
    pn->release = r;
    return 0;
}

/*
 * Plans a node list: topological order and last uses.  `keep` holds the
 * names that must survive to the end (outputs).  The values the nodes
 * produce, and the inputs of graph `inputs_of` (when not NULL), are released
 * after their last use (releasing frees only what the scope owns: the inputs
 * of a run that handed them over).  Values not defined here (captured from
 * an outer scope) are never released by this plan.
 */
static ocs_status plan_nodes(ocs_session *s, const void *key, const ocs_node *nodes, size_t n_nodes,
                             const strset *keep, const ocs_graph *inputs_of, const opsets *ops, int depth,
                             ocs_err *err)
{
    if (depth > MAX_CALL_DEPTH)
        return ocs_fail(err, OCS_ERR_INVALID, "subgraphs or function calls nest deeper than %d",
                        MAX_CALL_DEPTH);
    if (find_plan(s, key))
        return OCS_OK;

    ocs_status st = OCS_OK;
    plan *p = calloc(1, sizeof *p);
    size_t *indeg = calloc(n_nodes + 1, sizeof *indeg);
    size_t *queue = calloc(n_nodes + 1, sizeof *queue);
    strset *reads = calloc(n_nodes + 1, sizeof *reads);
    strset produced = {0};
    /* producer index of each output name, kept parallel to a name list */
    const char **out_names = NULL;
    size_t *out_owner = NULL, n_out = 0;
    if (!p || !indeg || !queue || !reads) {
        st = ocs_fail(err, OCS_ERR_NOMEM, "out of memory planning a graph");
        goto done;
    }
    p->key = key;
    p->order = calloc(n_nodes + 1, sizeof *p->order);
    for (size_t i = 0; i < n_nodes; i++)
        n_out += nodes[i].n_outputs;
    out_names = calloc(n_out + 1, sizeof *out_names);
    out_owner = calloc(n_out + 1, sizeof *out_owner);
    if (!p->order || !out_names || !out_owner) {
        st = ocs_fail(err, OCS_ERR_NOMEM, "out of memory planning a graph");
        goto done;
    }

    /* Who produces what; every name is assigned once. */
    n_out = 0;
    for (size_t i = 0; i < n_nodes; i++) {
        for (size_t k = 0; k < nodes[i].n_outputs; k++) {
            const char *o = nodes[i].outputs[k];
            if (!o[0])
                continue;
            int r = strset_add(&produced, o);
            if (r < 0) {
                st = ocs_fail(err, OCS_ERR_NOMEM, "out of memory planning a graph");
                goto done;
            }
            if (r == 0) {
                char label[256];
                st = ocs_fail(err, OCS_ERR_INVALID, "%s: value '%s' is produced by more than one node",
                              ocs_node_label(&nodes[i], label, sizeof label), o);
                goto done;
            }
            out_names[n_out] = o;
            out_owner[n_out++] = i;
        }
        if (node_reads(&nodes[i], &reads[i])) {
            st = ocs_fail(err, OCS_ERR_NOMEM, "out of memory planning a graph");
            goto done;
        }
    }

    /* Edges producer -> consumer; in-degree counts distinct producers read. */
    for (size_t i = 0; i < n_nodes; i++)
        for (size_t j = 0; j < n_out; j++)
            if (strset_has(&reads[i], out_names[j]))
                indeg[i]++;

    size_t head = 0, tail = 0;
    for (size_t i = 0; i < n_nodes; i++)
        if (!indeg[i])
            queue[tail++] = i;
    while (head < tail) {
        size_t i = queue[head++];
        p->order[p->n++].node = &nodes[i];
        for (size_t j = 0; j < n_out; j++) {
            if (out_owner[j] != i)
                continue;
            for (size_t c = 0; c < n_nodes; c++)
                if (indeg[c] && strset_has(&reads[c], out_names[j]) && --indeg[c] == 0)
                    queue[tail++] = c;
        }
    }
    if (p->n != n_nodes) {
        char label[256];
        for (size_t i = 0; i < n_nodes; i++)
            if (indeg[i]) {
                st = ocs_fail(err, OCS_ERR_INVALID,
                              "the graph has a cycle: %s depends on its own output", ocs_node_label(&nodes[i], label, sizeof label));
                break;
            }
        goto done;
    }

    /* Resolve kernels (in order, so errors name the first offender). */
    for (size_t i = 0; i < p->n; i++) {
        const ocs_node *n = p->order[i].node;
        st = resolve_node(s, n, ops, depth, &p->order[i], err);
        if (st != OCS_OK)
            goto done;
    }

    /* Last use of each produced value that is not kept. */
    for (size_t j = 0; j < n_out; j++) {
        const char *name = out_names[j];
        if (strset_has(keep, name))
            continue;
        size_t last = SIZE_MAX;
        for (size_t i = 0; i < p->n; i++) {
            size_t idx = (size_t)(p->order[i].node - nodes);
            if (strset_has(&reads[idx], name))
                last = i;
        }
        if (last == SIZE_MAX) {      /* never read: free right after it is made */
            for (size_t i = 0; i < p->n; i++)
                if ((size_t)(p->order[i].node - nodes) == out_owner[j])
                    last = i;
        }
        if (add_release(&p->order[last], name)) {
            st = ocs_fail(err, OCS_ERR_NOMEM, "out of memory planning a graph");
            goto done;
        }
    }
    /* Last use of each graph input that is read and not kept. */
    for (size_t j = 0; inputs_of && j < inputs_of->n_inputs; j++) {
        const char *name = inputs_of->inputs[j].name;
        if (strset_has(keep, name) || strset_has(&produced, name))
            continue;
        size_t last = SIZE_MAX;
        for (size_t i = 0; i < p->n; i++)
            if (strset_has(&reads[(size_t)(p->order[i].node - nodes)], name))
                last = i;
        if (last == SIZE_MAX)
            continue;
        if (add_release(&p->order[last], name)) {
            st = ocs_fail(err, OCS_ERR_NOMEM, "out of memory planning a graph");
            goto done;
        }
    }

    p->next = s->plans;
    s->plans = p;
    p = NULL;
done:
    if (p)
        plan_free(s, p);
    for (size_t i = 0; reads && i < n_nodes; i++)
        strset_free(&reads[i]);
    free(reads);
    strset_free(&produced);
    free(indeg);
    free(queue);
    free(out_names);
    free(out_owner);
    return st;
}

static ocs_status plan_graph(ocs_session *s, const ocs_graph *g, const opsets *ops, int depth,
                             ocs_err *err)
{
    strset keep = {0};
    for (size_t i = 0; i < g->n_outputs; i++)
        if (strset_add(&keep, g->outputs[i].name) < 0) {
            strset_free(&keep);
            return ocs_fail(err, OCS_ERR_NOMEM, "out of memory planning graph '%s'", g->name);
        }
    ocs_status st = plan_nodes(s, g, g->nodes, g->n_nodes, &keep, g, ops, depth, err);
    strset_free(&keep);
    return st;
}

static ocs_status plan_function(ocs_session *s, const ocs_function *fn, int depth, ocs_err *err)
{
    if (find_plan(s, fn))
        return OCS_OK;
    /* A plan is registered only once complete, so a function that calls
     * itself keeps descending until the depth bound stops it. */
    if (depth > MAX_CALL_DEPTH)
        return ocs_fail(err, OCS_ERR_INVALID, "function '%s' calls itself (directly or not)", fn->name);
    strset keep = {0};
    for (size_t i = 0; i < fn->n_outputs; i++)
        if (strset_add(&keep, fn->outputs[i]) < 0) {
            strset_free(&keep);
            return ocs_fail(err, OCS_ERR_NOMEM, "out of memory planning function '%s'", fn->name);
        }
    opsets ops = {fn->opsets, fn->n_opsets, s->model};
    ocs_status st = plan_nodes(s, fn, fn->nodes, fn->n_nodes, &keep, NULL, &ops, depth, err);
    strset_free(&keep);
    if (st != OCS_OK)
        return ocs_err_prefix(err, st, "function %s: ", fn->name);
    return OCS_OK;
}

/* ---- running ------------------------------------------------------------------------- */

static ocs_status run_nodes(ocs_scope *sc, const plan *p, ocs_err *err);

int ocs_kernel_output_wanted(const ocs_kernel_args *a, size_t i)
{
    return i < a->node->n_outputs && a->node->outputs[i][0] != '\0';
}

/*
 * Builds the node a function body sees: attribute references replaced by the
 * caller's attribute of that name, or the function's default, or dropped.
 * The copy shares every pointer with its sources; free only its attrs array.
 */
static ocs_status bind_attrs(const ocs_node *body, const ocs_node *caller, const ocs_function *fn,
                             ocs_node *out, ocs_err *err)
{
    *out = *body;
    int refs = 0;
    for (size_t k = 0; k < body->n_attrs; k++)
        refs |= body->attrs[k].ref_attr_name != NULL && body->attrs[k].ref_attr_name[0];
    if (!refs)
        return OCS_OK;
    ocs_attr *attrs = calloc(body->n_attrs ? body->n_attrs : 1, sizeof *attrs);
    if (!attrs)
        return ocs_fail(err, OCS_ERR_NOMEM, "out of memory binding attributes");
    size_t n = 0;
    for (size_t k = 0; k < body->n_attrs; k++) {
        const ocs_attr *at = &body->attrs[k];
        if (!at->ref_attr_name || !at->ref_attr_name[0]) {
            attrs[n++] = *at;
            continue;
        }
        const ocs_attr *src = ocs_node_attr(caller, at->ref_attr_name);
        for (size_t d = 0; !src && d < fn->n_attr_defaults; d++)
            if (!strcmp(fn->attr_defaults[d].name, at->ref_attr_name))
                src = &fn->attr_defaults[d];
        if (!src)
            continue;
        attrs[n] = *src;
        attrs[n].name = at->name;
        attrs[n].ref_attr_name = NULL;
        n++;
    }
    out->attrs = attrs;
    out->n_attrs = n;
    return OCS_OK;
}

/* The inputs of one node as the kernel sees them. */
typedef struct node_inputs {
    const ocs_tensor **t;
    const ocs_value **v;
} node_inputs;

static ocs_status call_function(ocs_scope *sc, const plan_node *pn, const ocs_node *node,
                                const node_inputs *in, ocs_tensor **out, ocs_value **out_v, ocs_err *err)
{
    const ocs_function *fn = pn->fn;
    const plan *body = find_plan(sc->session, fn);
    if (!body)
        return ocs_fail(err, OCS_ERR_INVALID, "function '%s' was not planned", fn->name);
    if (sc->depth >= MAX_CALL_DEPTH)
        return ocs_fail(err, OCS_ERR_INVALID, "calls nest deeper than %d", MAX_CALL_DEPTH);
    if (node->n_inputs > fn->n_inputs || node->n_outputs > fn->n_outputs)
        return ocs_fail(err, OCS_ERR_INVALID,
                        "the call passes %zu inputs and %zu outputs; function '%s' has %zu and %zu",
                        node->n_inputs, node->n_outputs, fn->name, fn->n_inputs, fn->n_outputs);

    opsets ops = {fn->opsets, fn->n_opsets, sc->session->model};
    ocs_scope inner;
    scope_init(&inner, sc->session, NULL, &ops, sc->depth + 1);
    ocs_status st = OCS_OK;
    for (size_t i = 0; i < node->n_inputs && st == OCS_OK; i++)
        if (in->t[i] || in->v[i])
            st = scope_put(&inner, fn->inputs[i], (ocs_tensor *)in->t[i], (ocs_value *)in->v[i], 0, err);

    /* Run the body with each node's attribute references bound. */
    for (size_t i = 0; i < body->n && st == OCS_OK; i++) {
        plan_node bound = body->order[i];
        ocs_node tmp;
        st = bind_attrs(bound.node, node, fn, &tmp, err);
        if (st != OCS_OK)
            break;
        bound.node = &tmp;
        plan one = {fn, 1, &bound, NULL};
        st = run_nodes(&inner, &one, err);
        if (tmp.attrs != body->order[i].node->attrs)
            free(tmp.attrs);
    }
    for (size_t i = 0; i < node->n_outputs && st == OCS_OK; i++)
        if (node->outputs[i][0])
            st = scope_take(&inner, fn->outputs[i], NULL, &out_v[i], err);
    /* tensors travel as tensors */
    for (size_t i = 0; i < node->n_outputs && st == OCS_OK; i++)
        if (out_v[i] && out_v[i]->kind == OCS_VALUE_TENSOR) {
            out[i] = out_v[i]->tensor;
            out_v[i]->tensor = NULL;
            ocs_value_free(out_v[i]);
            out_v[i] = NULL;
        }
    scope_free(&inner);
    return st;
}

/*
 * Runs a node on the first backend of the session's list that supports it,
 * preparing its per-node state on first use, or else on the reference
 * kernel (unless the session forbids the fallback).
 */
static ocs_status run_kernel(ocs_session *s, const plan_node *pn, ocs_kernel_args *a,
                             const ocs_tensor *const *in)
{
    const ocs_node *n = pn->node;
    if (pn->bc) {
        const bc_entry *e = pn->bc;
        const ocs_backend *be = s->opt.backends[e->decision.backend];
        ocs_status st = be->ops->bc_run(be->ctx, e->decision.state, a);
        return st == OCS_OK ? OCS_OK
                            : ocs_err_prefix(a->err, st, "backend %s, compiled region '%s': ", be->ops->name,
                                             e->region->name);
    }
    if (s->opt.n_backends) {
        ocs_tensor_type types[64];
        size_t n_in = n->n_inputs < 64 ? n->n_inputs : 64;
        for (size_t i = 0; i < n_in; i++)
            ocs_tensor_type_of(in[i], &types[i]);
        backend_choice *c = pn->choice;
        if (!c->valid || c->n_in != n_in || memcmp(c->types, types, n_in * sizeof *types)) {
            c->backend = SIZE_MAX;
            for (size_t b = 0; b < s->opt.n_backends && c->backend == SIZE_MAX; b++) {
                const ocs_backend *be = s->opt.backends[b];
                if (be->ops->supports(be->ctx, n, pn->since_version, n_in, types))
                    c->backend = b;
            }
            ocs_tensor_type *keep = realloc(c->types, (n_in ? n_in : 1) * sizeof *keep);
            if (keep) {
                memcpy(keep, types, n_in * sizeof *types);
                c->types = keep;
                c->n_in = n_in;
            }
            c->valid = keep != NULL;
        }
        if (c->backend != SIZE_MAX) {
            const ocs_backend *be = s->opt.backends[c->backend];
            backend_state *bs = &pn->states[c->backend];
            if (!bs->prepared && be->ops->prepare) {
                ocs_status st = be->ops->prepare(be->ctx, n, pn->since_version, &bs->state, a->err);
                if (st != OCS_OK)
                    return ocs_err_prefix(a->err, st, "backend %s: ", be->ops->name);
            }
            bs->prepared = 1;
            ocs_status st = be->ops->run(be->ctx, bs->state, a);
            return st == OCS_OK ? OCS_OK : ocs_err_prefix(a->err, st, "backend %s: ", be->ops->name);
        }
    }
    if (s->opt.no_reference_fallback)
        return ocs_fail(a->err, OCS_ERR_UNSUPPORTED, "no backend of this session supports %s here", n->op_type);
    return pn->op->kernel(a);
}

static const char *value_kind_name(const ocs_value *v)
{
    switch (v->kind) {
    case OCS_VALUE_SEQUENCE: return "sequence";
    case OCS_VALUE_OPTIONAL: return "optional";
    case OCS_VALUE_MAP: return "map";
    default: return "tensor";
    }
}

/*
 * Which inputs of pn a kernel may take over (ocs_kernel_args.donatable):
 * tensors owned by this scope whose last use is this node, named once among
 * its inputs.
 */
static void donatable_inputs(ocs_scope *sc, const plan_node *pn, const ocs_tensor *const *t, unsigned char *donated)
{
    const ocs_node *n = pn->node;
    for (size_t i = 0; i < n->n_inputs; i++) {
        donated[i] = 0;
        if (!t[i] || !n->inputs[i][0])
            continue;
        const slot *e = scope_find_local(sc, n->inputs[i]);
        if (!e || !e->owned || e->t != t[i])
            continue;
        int last = 0, once = 1;
        for (size_t r = 0; r < pn->n_release && !last; r++)
            last = !strcmp(pn->release[r], n->inputs[i]);
        for (size_t k = 0; k < n->n_inputs && once; k++)
            once = k == i || strcmp(n->inputs[k], n->inputs[i]) != 0;
        donated[i] = (unsigned char)(last && once);
    }
}

/*
 * After a kernel succeeded: an input it stored as an output changes owner
 * (the scope forgets it, so releasing the name frees nothing).  Storing an
 * input that was not donated, or one input as two outputs, is the kernel's
 * error: then no input changes owner, and every output that is an input is
 * dropped from out (the scope still owns it).
 */
static ocs_status hand_over_inputs(ocs_scope *sc, const plan_node *pn, const ocs_tensor *const *t,
                                   const unsigned char *donated, ocs_tensor **out, ocs_err *err)
{
    const ocs_node *n = pn->node;
    ocs_status st = OCS_OK;
    for (size_t j = 0; j < n->n_outputs && st == OCS_OK; j++)
        for (size_t i = 0; out[j] && i < n->n_inputs && st == OCS_OK; i++) {
            if (out[j] != t[i])
                continue;
            int twice = 0;
            for (size_t k = 0; k < j && !twice; k++)
                twice = out[k] == out[j];
            if (!donated[i] || twice)
                st = ocs_fail(err, OCS_ERR_RUNTIME, "the kernel returned input %zu '%s' as output %zu, which it "
                              "may not take", i, n->inputs[i], j);
        }
    for (size_t j = 0; j < n->n_outputs; j++)
        for (size_t i = 0; out[j] && i < n->n_inputs; i++) {
            if (out[j] != t[i])
                continue;
            if (st != OCS_OK) {
                out[j] = NULL;
                break;
            }
            slot *e = scope_find_local(sc, n->inputs[i]);
            e->owned = 0;
            e->t = NULL;
        }
    return st;
}

static ocs_status run_node(ocs_scope *sc, const plan_node *pn, ocs_err *err)
{
    const ocs_node *n = pn->node;
    char label[256];
    size_t ni = n->n_inputs + 1, no = n->n_outputs + 1;
    node_inputs in = {calloc(ni, sizeof *in.t), calloc(ni, sizeof *in.v)};
    ocs_tensor **out = calloc(no, sizeof *out);
    ocs_value **out_v = calloc(no, sizeof *out_v);
    unsigned char *donated = calloc(ni, 1);
    ocs_status st = OCS_OK;
    if (!in.t || !in.v || !out || !out_v || !donated) {
        st = ocs_fail(err, OCS_ERR_NOMEM, "out of memory running %s", ocs_node_label(n, label, sizeof label));
        goto done;
    }
    for (size_t i = 0; i < n->n_inputs; i++) {
        if (!n->inputs[i][0])
            continue;
        const slot *e = scope_lookup(sc, n->inputs[i]);
        if (!e) {
            st = ocs_fail(err, OCS_ERR_INVALID, "%s: input %zu '%s' is not defined",
                          ocs_node_label(n, label, sizeof label), i, n->inputs[i]);
            goto done;
        }
        in.t[i] = e->t;
        in.v[i] = e->v;
        if (e->v && pn->bc) {
            st = ocs_fail(err, OCS_ERR_UNSUPPORTED, "%s: input %zu '%s' is a %s; a compiled region takes tensors only",
                          ocs_node_label(n, label, sizeof label), i, n->inputs[i], value_kind_name(e->v));
            goto done;
        }
        if (e->v && !pn->fn && !pn->op->takes_values) {
            st = ocs_fail(err, OCS_ERR_UNSUPPORTED, "%s: input %zu '%s' is a %s; the %s kernel takes tensors only",
                          ocs_node_label(n, label, sizeof label), i, n->inputs[i], value_kind_name(e->v),
                          n->op_type);
            goto done;
        }
    }

    if (pn->schema && !pn->bc) {
        ocs_tensor_type types[64];
        if (n->n_inputs > sizeof types / sizeof types[0]) {
            st = ocs_fail(err, OCS_ERR_UNSUPPORTED, "%s: too many inputs", ocs_node_label(n, label, sizeof label));
            goto done;
        }
        for (size_t i = 0; i < n->n_inputs; i++)
            ocs_tensor_type_of(in.t[i], &types[i]);
        st = ocs_schema_check_types(pn->schema, n, n->n_inputs, types, err);
        if (st != OCS_OK)
            goto done;
    }
    if (pn->fn && !pn->bc) {
        st = call_function(sc, pn, n, &in, out, out_v, err);
    } else {
        donatable_inputs(sc, pn, in.t, donated);
        ocs_kernel_args a = {
            .node = n,
            .since_version = pn->since_version,
            .n_inputs = n->n_inputs,
            .inputs = in.t,
            .values = in.v,
            .n_outputs = n->n_outputs,
            .outputs = out,
            .out_values = out_v,
            .scope = sc,
            .err = err,
            .donatable = donated,
        };
        ocs_err_clear(err);
        st = run_kernel(sc->session, pn, &a, in.t);
        if (st == OCS_OK)
            st = hand_over_inputs(sc, pn, in.t, donated, out, err);
        else
            for (size_t j = 0; j < n->n_outputs; j++)   /* the scope still owns any input stored here */
                for (size_t i = 0; out[j] && i < n->n_inputs; i++)
                    if (out[j] == in.t[i])
                        out[j] = NULL;
    }
    if (st != OCS_OK) {
        ocs_err_prefix(err, st, "%s: ", ocs_node_label(n, label, sizeof label));
        goto done;
    }
    for (size_t i = 0; i < n->n_outputs; i++) {
        if (!n->outputs[i][0])
            continue;
        if (!out[i] && !out_v[i]) {
            st = ocs_fail(err, OCS_ERR_RUNTIME, "%s: output %zu '%s' was not produced",
                          ocs_node_label(n, label, sizeof label), i, n->outputs[i]);
            goto done;
        }
        st = scope_put(sc, n->outputs[i], out[i], out[i] ? NULL : out_v[i], 1, err);
        if (out[i])
            ocs_value_free(out_v[i]);
        out[i] = NULL;
        out_v[i] = NULL;
        if (st != OCS_OK) {
            ocs_err_prefix(err, st, "%s: ", ocs_node_label(n, label, sizeof label));
            goto done;
        }
    }
done:
    for (size_t i = 0; out && out_v && i < n->n_outputs; i++) {
        ocs_tensor_free(out[i]);
        ocs_value_free(out_v[i]);
    }
    free(out);
    free(out_v);
    free(donated);
    free(in.t);
    free(in.v);
    return st;
}

static ocs_status run_nodes(ocs_scope *sc, const plan *p, ocs_err *err)
{
    for (size_t i = 0; i < p->n; i++) {
        ocs_status st = run_node(sc, &p->order[i], err);
        if (st != OCS_OK)
            return st;
        for (size_t r = 0; r < p->order[i].n_release; r++)
            scope_release(sc, p->order[i].release[r]);
    }
    return OCS_OK;
}

/*
 * Binds initializers not overridden by an input, runs, and hands the outputs
 * over: as tensors into outputs (when non-NULL) or as values into values.
 */
static ocs_status run_graph(ocs_scope *sc, const ocs_graph *g, size_t n_out, ocs_tensor **outputs,
                            ocs_value **values, ocs_err *err)
{
    const plan *p = find_plan(sc->session, g);
    if (!p)
        return ocs_fail(err, OCS_ERR_INVALID, "graph '%s' was not planned", g->name);
    if (n_out != g->n_outputs)
        return ocs_fail(err, OCS_ERR_INVALID, "graph '%s' has %zu outputs, %zu requested", g->name,
                        g->n_outputs, n_out);
    for (size_t i = 0; i < g->n_inits; i++) {
        if (scope_find_local(sc, g->inits[i].name))
            continue;
        ocs_status st = scope_put(sc, g->inits[i].name, g->inits[i].tensor, NULL, 0, err);
        if (st != OCS_OK)
            return st;
    }
    ocs_status st = run_nodes(sc, p, err);
    for (size_t j = 0; j < n_out && st == OCS_OK; j++)
        st = scope_take(sc, g->outputs[j].name, outputs ? &outputs[j] : NULL, values ? &values[j] : NULL, err);
    if (st != OCS_OK)
        for (size_t j = 0; j < n_out; j++) {
            if (outputs) {
                ocs_tensor_free(outputs[j]);
                outputs[j] = NULL;
            }
            if (values) {
                ocs_value_free(values[j]);
                values[j] = NULL;
            }
        }
    return st;
}

ocs_status ocs_exec_subgraph(const ocs_kernel_args *a, const ocs_graph *g, size_t n_inputs,
                             const ocs_tensor *const *inputs, size_t n_outputs, ocs_tensor **outputs)
{
    ocs_scope *outer = a->scope;
    if (!outer)
        return ocs_fail(a->err, OCS_ERR_INVALID, "subgraph call without a scope");
    if (n_inputs != g->n_inputs)
        return ocs_fail(a->err, OCS_ERR_INVALID, "subgraph '%s' takes %zu inputs, given %zu", g->name,
                        g->n_inputs, n_inputs);
    ocs_scope sc;
    scope_init(&sc, outer->session, outer, outer->ops, outer->depth + 1);
    ocs_status st = OCS_OK;
    for (size_t i = 0; i < n_inputs && st == OCS_OK; i++)
        if (inputs[i])
            st = scope_put(&sc, g->inputs[i].name, (ocs_tensor *)inputs[i], NULL, 0, a->err);
    if (st == OCS_OK)
        st = run_graph(&sc, g, n_outputs, outputs, NULL, a->err);
    scope_free(&sc);
    if (st != OCS_OK)
        return ocs_err_prefix(a->err, st, "subgraph '%s': ", g->name);
    return OCS_OK;
}

/* ---- sessions ------------------------------------------------------------------------ */

ocs_status ocs_session_new(const ocs_model *m, ocs_session **out, ocs_err *err)
{
    return ocs_session_new_with(m, NULL, out, err);
}

ocs_status ocs_session_new_with(const ocs_model *m, const ocs_session_options *opt, ocs_session **out,
                                ocs_err *err)
{
    return ocs_session_new_bc(m, opt, NULL, out, err);
}

/* ---- BackendContext regions ------------------------------------------------------------ */

ocs_status ocs_bc_view_make(const ocs_model *m, const ocs_bc_region *r, ocs_bc_view *v, ocs_err *err)
{
    memset(v, 0, sizeof *v);
    int64_t *since = calloc(r->n_nodes ? r->n_nodes : 1, sizeof *since);
    if (!since)
        return ocs_fail(err, OCS_ERR_NOMEM, "out of memory describing region '%s'", r->name);
    opsets ops = {m->opsets, m->n_opsets, m};
    for (size_t i = 0; i < r->n_nodes; i++) {
        const ocs_node *n = r->nodes[i];
        since[i] = -1;
        if (ocs_model_function(m, n->domain, n->op_type, n->overload))
            continue;
        const ocs_op_def *op = ocs_op_find(n->domain, n->op_type);
        int64_t ver = opset_of(&ops, n->domain);
        if (op && ver >= 0)
            since[i] = ocs_op_since_version(op, ver);
    }
    v->n_nodes = r->n_nodes;
    v->nodes = r->nodes;
    v->since_versions = since;
    v->n_inputs = r->n_inputs;
    v->inputs = (const char *const *)r->inner_inputs;
    v->input_types = r->input_types;
    v->n_outputs = r->n_outputs;
    v->outputs = (const char *const *)r->inner_outputs;
    v->n_consts = r->n_consts;
    v->consts = r->consts;
    return OCS_OK;
}

void ocs_bc_view_free(ocs_bc_view *v)
{
    if (!v)
        return;
    free((void *)v->since_versions);
    memset(v, 0, sizeof *v);
}

/* Finds the main graph's regions, decides each one, and folds accepted scopes. */
static ocs_status bc_decide(ocs_session *s, const ocs_bc_options *bc, ocs_err *err)
{
    const ocs_model *m = s->model;
    ocs_status st = ocs_bc_discover(m, &s->bc_regions, &s->n_bc, err);
    if (st != OCS_OK || !s->n_bc)
        return st;
    s->bc = calloc(s->n_bc, sizeof *s->bc);
    if (!s->bc)
        return ocs_fail(err, OCS_ERR_NOMEM, "out of memory deciding BackendContext regions");
    size_t folded = 0;
    for (size_t i = 0; i < s->n_bc; i++) {
        bc_entry *e = &s->bc[i];
        e->region = &s->bc_regions[i];
        if (!e->region->problem && e->region->nodes) {
            st = ocs_bc_view_make(m, e->region, &e->view, err);
            if (st != OCS_OK)
                return st;
            e->has_view = 1;
        }
        if (!bc || !bc->disable) {
            if (e->has_view)
                st = ocs_bc_select(m, e->region, &e->view, s->opt.backends, s->opt.n_backends, &e->decision, err);
            else
                st = ocs_bc_select(m, e->region, NULL, NULL, 0, &e->decision, err);
            if (st != OCS_OK)
                return st;
        }
        char line[2048];
        ocs_bc_decision_format(e->region, &e->decision, s->opt.backends, line, sizeof line);
        if (bc && bc->log)
            bc->log(bc->log_user, line);
        if (bc && bc->strict && !e->decision.accepted)
            return ocs_fail(err, OCS_ERR_UNSUPPORTED, "strict BackendContext: %s", line);
        if (!e->decision.accepted)
            continue;
        if (e->region->encoding == OCS_BC_FUNCTION) {
            e->node = &m->graph->nodes[e->region->node];
            continue;
        }
        ocs_node *sn = &e->stand_in;
        sn->name = e->region->name;
        sn->op_type = (char *)OCS_BC_OP;
        sn->domain = (char *)"";
        sn->overload = (char *)"";
        sn->doc = (char *)"";
        sn->n_inputs = e->region->n_inputs;
        sn->inputs = e->region->inputs;
        sn->n_outputs = e->region->n_outputs;
        sn->outputs = e->region->outputs;
        e->node = sn;
        folded++;
    }
    if (!folded)
        return OCS_OK;
    /* the main graph's node list with each accepted scope replaced by its stand-in */
    const ocs_graph *g = m->graph;
    s->main_nodes = calloc(g->n_nodes + 1, sizeof *s->main_nodes);
    if (!s->main_nodes)
        return ocs_fail(err, OCS_ERR_NOMEM, "out of memory folding BackendContext regions");
    for (size_t k = 0; k < g->n_nodes; k++) {
        const bc_entry *owner = NULL;
        for (size_t i = 0; i < s->n_bc && !owner; i++) {
            const bc_entry *e = &s->bc[i];
            if (!e->decision.accepted || e->region->encoding != OCS_BC_SCOPES)
                continue;
            for (size_t j = 0; j < e->region->n_nodes && !owner; j++)
                if (e->region->node_index[j] == k)
                    owner = e;
        }
        if (!owner) {
            s->main_nodes[s->n_main_nodes++] = g->nodes[k];
        } else if (owner->region->node_index[0] == k) {
            s->main_nodes[s->n_main_nodes++] = owner->stand_in;
        }
    }
    /* the stand-ins in the list are copies: point the entries at them */
    for (size_t k = 0; k < s->n_main_nodes; k++)
        for (size_t i = 0; i < s->n_bc; i++) {
            bc_entry *e = &s->bc[i];
            if (!e->decision.accepted)
                continue;
            const ocs_node *orig = e->region->encoding == OCS_BC_SCOPES ? &e->stand_in
                                                                        : &g->nodes[e->region->node];
            if (s->main_nodes[k].inputs == orig->inputs && s->main_nodes[k].outputs == orig->outputs)
                e->node = &s->main_nodes[k];
        }
    return OCS_OK;
}

ocs_status ocs_session_new_bc(const ocs_model *m, const ocs_session_options *opt, const ocs_bc_options *bc,
                              ocs_session **out, ocs_err *err)
{
    *out = NULL;
    if (!m || !m->graph)
        return ocs_fail(err, OCS_ERR_INVALID, "the model has no graph");
    ocs_session *s = calloc(1, sizeof *s);
    if (!s)
        return ocs_fail(err, OCS_ERR_NOMEM, "out of memory creating a session");
    s->model = m;
    if (opt)
        s->opt = *opt;
    opsets ops = {m->opsets, m->n_opsets, m};
    ocs_status st = bc_decide(s, bc, err);
    if (st == OCS_OK && s->main_nodes) {
        /* folded scopes: plan the main graph from the folded list, and the
         * subgraphs of the folded nodes, which a compiled region may run */
        strset keep = {0};
        for (size_t i = 0; i < m->graph->n_outputs && st == OCS_OK; i++)
            if (strset_add(&keep, m->graph->outputs[i].name) < 0)
                st = ocs_fail(err, OCS_ERR_NOMEM, "out of memory planning the main graph");
        if (st == OCS_OK)
            st = plan_nodes(s, m->graph, s->main_nodes, s->n_main_nodes, &keep, m->graph, &ops, 0, err);
        strset_free(&keep);
        for (size_t i = 0; i < s->n_bc && st == OCS_OK; i++) {
            const bc_entry *e = &s->bc[i];
            if (!e->decision.accepted || e->region->encoding != OCS_BC_SCOPES)
                continue;
            for (size_t j = 0; j < e->region->n_nodes && st == OCS_OK; j++) {
                const ocs_node *n = e->region->nodes[j];
                for (size_t k = 0; k < n->n_attrs && st == OCS_OK; k++) {
                    const ocs_attr *at = &n->attrs[k];
                    if (at->type == OCS_ATTR_GRAPH && at->g)
                        st = plan_graph(s, at->g, &ops, 1, err);
                    for (size_t q = 0; st == OCS_OK && at->type == OCS_ATTR_GRAPHS && q < at->n; q++)
                        st = plan_graph(s, at->graphs[q], &ops, 1, err);
                }
            }
        }
    } else if (st == OCS_OK) {
        st = plan_graph(s, m->graph, &ops, 0, err);
    }
    if (st != OCS_OK) {
        ocs_session_free(s);
        return st;
    }
    *out = s;
    return OCS_OK;
}

size_t ocs_session_bc_count(const ocs_session *s)
{
    return s ? s->n_bc : 0;
}

const ocs_bc_region *ocs_session_bc_region(const ocs_session *s, size_t i)
{
    return s && i < s->n_bc ? &s->bc_regions[i] : NULL;
}

const ocs_bc_decision *ocs_session_bc_decision(const ocs_session *s, size_t i)
{
    return s && i < s->n_bc ? &s->bc[i].decision : NULL;
}

/* Runs the main graph with inputs given as tensors (ts) or values (vs). */
/* owned: the tensors ts are handed over (freed here, on failure too, or passed on as outputs). */
static ocs_status session_run(ocs_session *s, size_t n_inputs, const char *const *names,
                              const ocs_tensor *const *ts, const ocs_value *const *vs, int owned, size_t n_outputs,
                              ocs_tensor **outputs, ocs_value **values, ocs_err *err)
{
    const ocs_graph *g = s->model->graph;
    for (size_t j = 0; j < n_outputs; j++) {
        if (outputs)
            outputs[j] = NULL;
        if (values)
            values[j] = NULL;
    }
    opsets ops = {s->model->opsets, s->model->n_opsets, s->model};
    ocs_scope sc;
    scope_init(&sc, s, NULL, &ops, 0);
    ocs_status st = OCS_OK;
    for (size_t i = 0; i < n_inputs; i++) {
        if (st != OCS_OK) {
            if (owned && ts)
                ocs_tensor_free((ocs_tensor *)ts[i]);
            continue;
        }
        int known = 0;
        for (size_t k = 0; k < g->n_inputs && !known; k++)
            known = !strcmp(g->inputs[k].name, names[i]);
        if (!known) {
            st = ocs_fail(err, OCS_ERR_INVALID, "the graph has no input named '%s'", names[i]);
            if (owned && ts)
                ocs_tensor_free((ocs_tensor *)ts[i]);
        } else if (ts && ts[i]) {
            st = scope_put(&sc, names[i], (ocs_tensor *)ts[i], NULL, owned, err);
        } else if (vs && vs[i]) {
            /* a tensor travels as a tensor; other values as they are */
            if (vs[i]->kind == OCS_VALUE_TENSOR)
                st = scope_put(&sc, names[i], vs[i]->tensor, NULL, 0, err);
            else
                st = scope_put(&sc, names[i], NULL, (ocs_value *)vs[i], 0, err);
        }
    }
    for (size_t k = 0; k < g->n_inputs && st == OCS_OK; k++) {
        if (scope_find_local(&sc, g->inputs[k].name))
            continue;
        int has_init = 0;
        for (size_t i = 0; i < g->n_inits && !has_init; i++)
            has_init = !strcmp(g->inits[i].name, g->inputs[k].name);
        if (!has_init)
            st = ocs_fail(err, OCS_ERR_INVALID, "graph input '%s' was not given", g->inputs[k].name);
    }
    if (st == OCS_OK)
        st = run_graph(&sc, g, n_outputs, outputs, values, err);
    scope_free(&sc);
    return st;
}

ocs_status ocs_session_run(ocs_session *s, size_t n_inputs, const char *const *names,
                           const ocs_tensor *const *inputs, size_t n_outputs, ocs_tensor **outputs,
                           ocs_err *err)
{
    return session_run(s, n_inputs, names, inputs, NULL, 0, n_outputs, outputs, NULL, err);
}

ocs_status ocs_session_run_donated(ocs_session *s, size_t n_inputs, const char *const *names,
                                   ocs_tensor **inputs, size_t n_outputs, ocs_tensor **outputs, ocs_err *err)
{
    /* a tensor given twice would be freed twice: refuse, freeing each once */
    for (size_t i = 0; i < n_inputs; i++)
        for (size_t k = 0; inputs[i] && k < i; k++)
            if (inputs[k] == inputs[i]) {
                for (size_t a = 0; a < n_inputs; a++) {
                    int first = 1;
                    for (size_t b = 0; b < a && first; b++)
                        first = inputs[b] != inputs[a];
                    if (first)
                        ocs_tensor_free(inputs[a]);
                }
                for (size_t j = 0; outputs && j < n_outputs; j++)
                    outputs[j] = NULL;
                return ocs_fail(err, OCS_ERR_INVALID, "inputs '%s' and '%s' are the same tensor; a run that takes "
                                "its inputs over needs each once", names[k], names[i]);
            }
    return session_run(s, n_inputs, names, (const ocs_tensor *const *)inputs, NULL, 1, n_outputs, outputs, NULL,
                       err);
}

ocs_status ocs_session_run_values(ocs_session *s, size_t n_inputs, const char *const *names,
                                  const ocs_value *const *inputs, size_t n_outputs, ocs_value **outputs,
                                  ocs_err *err)
{
    return session_run(s, n_inputs, names, NULL, inputs, 0, n_outputs, NULL, outputs, err);
}

void ocs_session_free(ocs_session *s)
{
    if (!s)
        return;
    while (s->plans) {
        plan *p = s->plans;
        s->plans = p->next;
        plan_free(s, p);
    }
    for (size_t i = 0; s->bc && i < s->n_bc; i++) {
        ocs_bc_decision_clear(&s->bc[i].decision, s->opt.backends);
        ocs_bc_view_free(&s->bc[i].view);
    }
    free(s->bc);
    free(s->main_nodes);
    ocs_bc_regions_free(s->bc_regions, s->n_bc);
    free(s);
}
