/*
 * spec/build.c - building models in C (see ocs/build.h).
 */
#include "ocs/build.h"

#include <stdlib.h>
#include <string.h>

#include "model_internal.h"

/* Grows *arr (of *n elements of size sz) by one zeroed element; returns it. */
static void *grow(void *arrp, size_t *n, size_t sz)
{
    void **arr = arrp;
    if (*n >= SIZE_MAX / sz - 1)
        return NULL;
    char *p = realloc(*arr, (*n + 1) * sz);
    if (!p)
        return NULL;
    *arr = p;
    memset(p + *n * sz, 0, sz);
    return p + (*n)++ * sz;
}

static ocs_status nomem(ocs_err *err)
{
    return ocs_fail(err, OCS_ERR_NOMEM, "out of memory building a model");
}

ocs_status ocs_model_new(ocs_model **out, ocs_err *err)
{
    *out = NULL;
    ocs_model *m = calloc(1, sizeof *m);
    if (!m)
        return nomem(err);
    m->ir_version = 10;
    m->producer_name = ocs_str_dup("ocs");
    m->producer_version = ocs_str_dup("");
    m->domain = ocs_str_dup("");
    m->doc = ocs_str_dup("");
    m->dir = ocs_str_dup("");
    ocs_status st = ocs_graph_new("main", &m->graph, err);
    if (st != OCS_OK || !m->producer_name || !m->producer_version || !m->domain || !m->doc || !m->dir) {
        ocs_model_free(m);
        return st != OCS_OK ? st : nomem(err);
    }
    *out = m;
    return OCS_OK;
}

ocs_status ocs_model_import(ocs_model *m, const char *domain, int64_t version, ocs_err *err)
{
    if (!strcmp(domain, "ai.onnx"))
        domain = "";
    for (size_t i = 0; i < m->n_opsets; i++)
        if (!strcmp(m->opsets[i].domain, domain)) {
            m->opsets[i].version = version;
            return OCS_OK;
        }
    char *d = ocs_str_dup(domain);
    ocs_opset *o = d ? grow(&m->opsets, &m->n_opsets, sizeof *o) : NULL;
    if (!o) {
        free(d);
        return nomem(err);
    }
    o->domain = d;
    o->version = version;
    return OCS_OK;
}

ocs_status ocs_graph_new(const char *name, ocs_graph **out, ocs_err *err)
{
    *out = NULL;
    ocs_graph *g = calloc(1, sizeof *g);
    if (!g)
        return nomem(err);
    g->name = ocs_str_dup(name);
    g->doc = ocs_str_dup("");
    if (!g->name || !g->doc) {
        ocs_graph_free(g);
        return nomem(err);
    }
    *out = g;
    return OCS_OK;
}

static ocs_status add_value(ocs_value_info **arr, size_t *n, const char *name, ocs_dtype t, int rank,
                            const int64_t *dims, ocs_err *err)
{
    if (rank > OCS_MAX_RANK)
        return ocs_fail(err, OCS_ERR_INVALID, "value '%s': rank %d exceeds %d", name, rank, OCS_MAX_RANK);
    ocs_value_info vi = {0};
    vi.name = ocs_str_dup(name);
    vi.doc = ocs_str_dup("");
    vi.type.kind = OCS_TYPE_TENSOR;
    vi.type.elem = t;
    if (rank >= 0) {
        vi.type.has_shape = 1;
        vi.type.rank = rank;
        vi.type.dims = calloc((size_t)rank + 1, sizeof *vi.type.dims);
        for (int i = 0; vi.type.dims && i < rank; i++)
            vi.type.dims[i].value = dims[i] >= 0 ? dims[i] : -1;
    }
    ocs_value_info *slot = NULL;
    if (vi.name && vi.doc && (rank < 0 || vi.type.dims))
        slot = grow(arr, n, sizeof *slot);
    if (!slot) {
        ocs_value_info_clear(&vi);
        return nomem(err);
    }
    *slot = vi;
    return OCS_OK;
}

ocs_status ocs_graph_add_input(ocs_graph *g, const char *name, ocs_dtype t, int rank, const int64_t *dims,
                               ocs_err *err)
{
    return add_value(&g->inputs, &g->n_inputs, name, t, rank, dims, err);
}

ocs_status ocs_graph_add_output(ocs_graph *g, const char *name, ocs_dtype t, int rank, const int64_t *dims,
                                ocs_err *err)
{
    return add_value(&g->outputs, &g->n_outputs, name, t, rank, dims, err);
}

ocs_status ocs_graph_add_initializer(ocs_graph *g, const char *name, const ocs_tensor *t, ocs_err *err)
{
    ocs_tensor *copy = NULL;
    ocs_status st = ocs_tensor_clone(t, &copy, err);
    if (st != OCS_OK)
        return st;
    char *n = ocs_str_dup(name);
    ocs_initializer *slot = n ? grow(&g->inits, &g->n_inits, sizeof *slot) : NULL;
    if (!slot) {
        free(n);
        ocs_tensor_free(copy);
        return nomem(err);
    }
    slot->name = n;
    slot->tensor = copy;
    return OCS_OK;
}

static char **dup_names(size_t n, const char *const *names)
{
    char **v = calloc(n + 1, sizeof *v);
    for (size_t i = 0; v && i < n; i++) {
        v[i] = ocs_str_dup(names[i]);
        if (!v[i]) {
            ocs_str_array_free(v, i);
            return NULL;
        }
    }
    return v;
}

ocs_status ocs_graph_add_node(ocs_graph *g, const char *op_type, const char *domain, const char *name,
                              size_t n_inputs, const char *const *inputs, size_t n_outputs,
                              const char *const *outputs, ocs_node **out, ocs_err *err)
{
    if (out)
        *out = NULL;
    ocs_node n = {0};
    n.op_type = ocs_str_dup(op_type);
    n.domain = ocs_str_dup(domain && strcmp(domain, "ai.onnx") ? domain : "");
    n.name = ocs_str_dup(name ? name : "");
    n.overload = ocs_str_dup("");
    n.doc = ocs_str_dup("");
    n.inputs = dup_names(n_inputs, inputs);
    n.n_inputs = n.inputs ? n_inputs : 0;
    n.outputs = dup_names(n_outputs, outputs);
    n.n_outputs = n.outputs ? n_outputs : 0;
    ocs_node *slot = NULL;
    if (n.op_type && n.domain && n.name && n.overload && n.doc && n.inputs && n.outputs)
        slot = grow(&g->nodes, &g->n_nodes, sizeof *slot);
    if (!slot) {
        ocs_node_clear(&n);
        return nomem(err);
    }
    *slot = n;
    if (out)
        *out = slot;
    return OCS_OK;
}

/* A fresh attribute named name of type t on n, replacing one of that name. */
static ocs_attr *new_attr(ocs_node *n, const char *name, ocs_attr_type t, ocs_err *err)
{
    for (size_t i = 0; i < n->n_attrs; i++)
        if (!strcmp(n->attrs[i].name, name)) {
            ocs_attr_clear(&n->attrs[i]);
            memset(&n->attrs[i], 0, sizeof n->attrs[i]);
            n->attrs[i].name = ocs_str_dup(name);
            n->attrs[i].doc = ocs_str_dup("");
            n->attrs[i].type = t;
            if (!n->attrs[i].name || !n->attrs[i].doc) {
                nomem(err);
                return NULL;
            }
            return &n->attrs[i];
        }
    char *nm = ocs_str_dup(name), *doc = ocs_str_dup("");
    ocs_attr *a = nm && doc ? grow(&n->attrs, &n->n_attrs, sizeof *a) : NULL;
    if (!a) {
        free(nm);
        free(doc);
        nomem(err);
        return NULL;
    }
    a->name = nm;
    a->doc = doc;
    a->type = t;
    return a;
}

ocs_status ocs_node_set_int(ocs_node *n, const char *name, int64_t v, ocs_err *err)
{
    ocs_attr *a = new_attr(n, name, OCS_ATTR_INT, err);
    if (!a)
        return OCS_ERR_NOMEM;
    a->i = v;
    return OCS_OK;
}

ocs_status ocs_node_set_float(ocs_node *n, const char *name, float v, ocs_err *err)
{
    ocs_attr *a = new_attr(n, name, OCS_ATTR_FLOAT, err);
    if (!a)
        return OCS_ERR_NOMEM;
    a->f = v;
    return OCS_OK;
}

ocs_status ocs_node_set_string(ocs_node *n, const char *name, const char *v, ocs_err *err)
{
    ocs_attr *a = new_attr(n, name, OCS_ATTR_STRING, err);
    if (!a)
        return OCS_ERR_NOMEM;
    a->s.data = ocs_str_dup(v);
    if (!a->s.data)
        return nomem(err);
    a->s.len = strlen(v);
    return OCS_OK;
}

ocs_status ocs_node_set_ints(ocs_node *n, const char *name, size_t count, const int64_t *v, ocs_err *err)
{
    ocs_attr *a = new_attr(n, name, OCS_ATTR_INTS, err);
    if (!a)
        return OCS_ERR_NOMEM;
    a->ints = malloc((count ? count : 1) * sizeof *a->ints);
    if (!a->ints)
        return nomem(err);
    if (count)
        memcpy(a->ints, v, count * sizeof *v);
    a->n = count;
    return OCS_OK;
}

ocs_status ocs_node_set_floats(ocs_node *n, const char *name, size_t count, const float *v, ocs_err *err)
{
    ocs_attr *a = new_attr(n, name, OCS_ATTR_FLOATS, err);
    if (!a)
        return OCS_ERR_NOMEM;
    a->floats = malloc((count ? count : 1) * sizeof *a->floats);
    if (!a->floats)
        return nomem(err);
    if (count)
        memcpy(a->floats, v, count * sizeof *v);
    a->n = count;
    return OCS_OK;
}

ocs_status ocs_node_set_tensor(ocs_node *n, const char *name, const ocs_tensor *t, ocs_err *err)
{
    ocs_tensor *copy = NULL;
    ocs_status st = ocs_tensor_clone(t, &copy, err);
    if (st != OCS_OK)
        return st;
    ocs_attr *a = new_attr(n, name, OCS_ATTR_TENSOR, err);
    if (!a) {
        ocs_tensor_free(copy);
        return OCS_ERR_NOMEM;
    }
    a->t = copy;
    return OCS_OK;
}

ocs_status ocs_node_set_graph(ocs_node *n, const char *name, ocs_graph *g, ocs_err *err)
{
    ocs_attr *a = new_attr(n, name, OCS_ATTR_GRAPH, err);
    if (!a) {
        ocs_graph_free(g);
        return OCS_ERR_NOMEM;
    }
    a->g = g;
    return OCS_OK;
}
