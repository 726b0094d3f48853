/*
 * spec/model.c - ownership of the model structures, lookups, and the
 * attribute getters kernels use.
 *
 * Nothing here knows about protobuf: loading and saving are in
 * model_load.c and model_save.c.  Every free function accepts structures
 * that were only partly filled (the loader frees what it built so far when
 * it fails half way).
 */
#include "model_internal.h"
#include "ocs/value.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- strings ------------------------------------------------------------------ */

char *ocs_mem_dup_str(const void *p, size_t n)
{
    if (n == SIZE_MAX)
        return NULL;
    char *d = malloc(n + 1);
    if (!d)
        return NULL;
    if (n)
        memcpy(d, p, n);
    d[n] = '\0';
    return d;
}

char *ocs_str_dup(const char *s)
{
    if (!s)
        s = "";
    return ocs_mem_dup_str(s, strlen(s));
}

void ocs_kv_array_free(ocs_kv *kv, size_t n)
{
    if (!kv)
        return;
    for (size_t i = 0; i < n; i++) {
        free(kv[i].key);
        free(kv[i].value);
    }
    free(kv);
}

void ocs_str_array_free(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* ---- freeing ---------------------------------------------------------------------- */

void ocs_type_clear(ocs_type *t)
{
    if (!t)
        return;
    if (t->dims) {
        for (int i = 0; i < t->rank; i++)
            free(t->dims[i].param);
        free(t->dims);
    }
    if (t->inner) {
        ocs_type_clear(t->inner);
        free(t->inner);
    }
    memset(t, 0, sizeof *t);
}

void ocs_value_info_clear(ocs_value_info *v)
{
    if (!v)
        return;
    free(v->name);
    free(v->doc);
    ocs_type_clear(&v->type);
    memset(v, 0, sizeof *v);
}

void ocs_sparse_free(ocs_sparse *sp)
{
    if (!sp)
        return;
    ocs_tensor_free(sp->values);
    ocs_tensor_free(sp->indices);
    free(sp);
}

void ocs_attr_clear(ocs_attr *a)
{
    if (!a)
        return;
    free(a->name);
    free(a->ref_attr_name);
    free(a->doc);
    free(a->s.data);
    ocs_tensor_free(a->t);
    ocs_graph_free(a->g);
    ocs_sparse_free(a->sparse);
    if (a->tp) {
        ocs_type_clear(a->tp);
        free(a->tp);
    }
    free(a->floats);
    free(a->ints);
    if (a->strings) {
        for (size_t i = 0; i < a->n; i++)
            free(a->strings[i].data);
        free(a->strings);
    }
    if (a->tensors) {
        for (size_t i = 0; i < a->n; i++)
            ocs_tensor_free(a->tensors[i]);
        free(a->tensors);
    }
    if (a->graphs) {
        for (size_t i = 0; i < a->n; i++)
            ocs_graph_free(a->graphs[i]);
        free(a->graphs);
    }
    if (a->sparses) {
        for (size_t i = 0; i < a->n; i++)
            ocs_sparse_free(a->sparses[i]);
        free(a->sparses);
    }
    if (a->tps) {
        for (size_t i = 0; i < a->n; i++)
            ocs_type_clear(&a->tps[i]);
        free(a->tps);
    }
    memset(a, 0, sizeof *a);
}

void ocs_node_clear(ocs_node *n)
{
    if (!n)
        return;
    free(n->name);
    free(n->op_type);
    free(n->domain);
    free(n->overload);
    free(n->doc);
    ocs_str_array_free(n->inputs, n->n_inputs);
    ocs_str_array_free(n->outputs, n->n_outputs);
    if (n->attrs) {
        for (size_t i = 0; i < n->n_attrs; i++)
            ocs_attr_clear(&n->attrs[i]);
        free(n->attrs);
    }
    ocs_kv_array_free(n->meta, n->n_meta);
    memset(n, 0, sizeof *n);
}

static void value_info_array_free(ocs_value_info *v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        ocs_value_info_clear(&v[i]);
    free(v);
}

void ocs_graph_free(ocs_graph *g)
{
    if (!g)
        return;
    free(g->name);
    free(g->doc);
    if (g->nodes) {
        for (size_t i = 0; i < g->n_nodes; i++)
            ocs_node_clear(&g->nodes[i]);
        free(g->nodes);
    }
    if (g->inits) {
        for (size_t i = 0; i < g->n_inits; i++) {
            free(g->inits[i].name);
            ocs_tensor_free(g->inits[i].tensor);
        }
        free(g->inits);
    }
    value_info_array_free(g->inputs, g->n_inputs);
    value_info_array_free(g->outputs, g->n_outputs);
    value_info_array_free(g->value_info, g->n_value_info);
    ocs_kv_array_free(g->meta, g->n_meta);
    free(g);
}

void ocs_function_clear(ocs_function *f)
{
    if (!f)
        return;
    free(f->name);
    free(f->domain);
    free(f->overload);
    free(f->doc);
    ocs_str_array_free(f->inputs, f->n_inputs);
    ocs_str_array_free(f->outputs, f->n_outputs);
    ocs_str_array_free(f->attr_names, f->n_attr_names);
    if (f->attr_defaults) {
        for (size_t i = 0; i < f->n_attr_defaults; i++)
            ocs_attr_clear(&f->attr_defaults[i]);
        free(f->attr_defaults);
    }
    if (f->nodes) {
        for (size_t i = 0; i < f->n_nodes; i++)
            ocs_node_clear(&f->nodes[i]);
        free(f->nodes);
    }
    if (f->opsets) {
        for (size_t i = 0; i < f->n_opsets; i++)
            free(f->opsets[i].domain);
        free(f->opsets);
    }
    value_info_array_free(f->value_info, f->n_value_info);
    ocs_kv_array_free(f->meta, f->n_meta);
    memset(f, 0, sizeof *f);
}

void ocs_model_free(ocs_model *m)
{
    if (!m)
        return;
    free(m->producer_name);
    free(m->producer_version);
    free(m->domain);
    free(m->doc);
    if (m->opsets) {
        for (size_t i = 0; i < m->n_opsets; i++)
            free(m->opsets[i].domain);
        free(m->opsets);
    }
    ocs_graph_free(m->graph);
    if (m->functions) {
        for (size_t i = 0; i < m->n_functions; i++)
            ocs_function_clear(&m->functions[i]);
        free(m->functions);
    }
    ocs_kv_array_free(m->meta, m->n_meta);
    free(m->dir);
    free(m);
}

/* ---- lookups ------------------------------------------------------------------------ */

/* "" and "ai.onnx" name the same (default) domain. */
static const char *norm_domain(const char *d)
{
    if (!d || strcmp(d, "ai.onnx") == 0)
        return "";
    return d;
}

int64_t ocs_model_opset(const ocs_model *m, const char *domain)
{
    if (!m)
        return -1;
    const char *want = norm_domain(domain);
    for (size_t i = 0; i < m->n_opsets; i++)
        if (strcmp(norm_domain(m->opsets[i].domain), want) == 0)
            return m->opsets[i].version;
    return -1;
}

const ocs_function *ocs_model_function(const ocs_model *m, const char *domain,
                                       const char *name, const char *overload)
{
    if (!m || !name)
        return NULL;
    const char *d = norm_domain(domain);
    const char *o = overload ? overload : "";
    for (size_t i = 0; i < m->n_functions; i++) {
        const ocs_function *f = &m->functions[i];
        if (strcmp(f->name ? f->name : "", name) == 0 && strcmp(norm_domain(f->domain), d) == 0 &&
            strcmp(f->overload ? f->overload : "", o) == 0)
            return f;
    }
    return NULL;
}

/* ---- attribute access ---------------------------------------------------------------- */

const char *ocs_attr_type_name(ocs_attr_type t)
{
    switch (t) {
    case OCS_ATTR_UNDEFINED: return "UNDEFINED";
    case OCS_ATTR_FLOAT: return "FLOAT";
    case OCS_ATTR_INT: return "INT";
    case OCS_ATTR_STRING: return "STRING";
    case OCS_ATTR_TENSOR: return "TENSOR";
    case OCS_ATTR_GRAPH: return "GRAPH";
    case OCS_ATTR_FLOATS: return "FLOATS";
    case OCS_ATTR_INTS: return "INTS";
    case OCS_ATTR_STRINGS: return "STRINGS";
    case OCS_ATTR_TENSORS: return "TENSORS";
    case OCS_ATTR_GRAPHS: return "GRAPHS";
    case OCS_ATTR_SPARSE_TENSOR: return "SPARSE_TENSOR";
    case OCS_ATTR_SPARSE_TENSORS: return "SPARSE_TENSORS";
    case OCS_ATTR_TYPE_PROTO: return "TYPE_PROTO";
    case OCS_ATTR_TYPE_PROTOS: return "TYPE_PROTOS";
    }
    return "UNKNOWN";
}

const char *ocs_node_label(const ocs_node *n, char *buf, size_t len)
{
    if (!buf || len == 0)
        return "";
    if (!n) {
        snprintf(buf, len, "(no node)");
        return buf;
    }
    const char *op = n->op_type && *n->op_type ? n->op_type : "(no op_type)";
    if (n->name && *n->name)
        snprintf(buf, len, "%s node '%s'", op, n->name);
    else if (n->n_outputs > 0 && n->outputs[0] && *n->outputs[0])
        snprintf(buf, len, "%s node (unnamed, output '%s')", op, n->outputs[0]);
    else
        snprintf(buf, len, "%s node (unnamed)", op);
    return buf;
}

const ocs_attr *ocs_node_attr(const ocs_node *n, const char *name)
{
    if (!n || !name)
        return NULL;
    for (size_t i = 0; i < n->n_attrs; i++)
        if (n->attrs[i].name && strcmp(n->attrs[i].name, name) == 0)
            return &n->attrs[i];
    return NULL;
}

/* Finds name on n; fails when it is present with a type other than want. */
static ocs_status attr_typed(const ocs_node *n, const char *name, ocs_attr_type want,
                             const ocs_attr **out, ocs_err *err)
{
    *out = NULL;
    const ocs_attr *a = ocs_node_attr(n, name);
    if (!a)
        return OCS_OK;
    char label[256];
    if (a->ref_attr_name)
        return ocs_fail(err, OCS_ERR_INVALID,
                        "%s: attribute '%s' refers to function attribute '%s' that was not resolved",
                        ocs_node_label(n, label, sizeof label), name, a->ref_attr_name);
    if (a->type != want)
        return ocs_fail(err, OCS_ERR_INVALID, "%s: attribute '%s' is %s, expected %s",
                        ocs_node_label(n, label, sizeof label), name, ocs_attr_type_name(a->type),
                        ocs_attr_type_name(want));
    *out = a;
    return OCS_OK;
}

ocs_status ocs_node_attr_int(const ocs_node *n, const char *name, int64_t dflt, int64_t *out,
                             ocs_err *err)
{
    const ocs_attr *a;
    ocs_status s = attr_typed(n, name, OCS_ATTR_INT, &a, err);
    if (s != OCS_OK)
        return s;
    *out = a ? a->i : dflt;
    return OCS_OK;
}

ocs_status ocs_node_attr_float(const ocs_node *n, const char *name, float dflt, float *out,
                               ocs_err *err)
{
    const ocs_attr *a;
    ocs_status s = attr_typed(n, name, OCS_ATTR_FLOAT, &a, err);
    if (s != OCS_OK)
        return s;
    *out = a ? a->f : dflt;
    return OCS_OK;
}

ocs_status ocs_node_attr_string(const ocs_node *n, const char *name, const char *dflt,
                                const char **out, ocs_err *err)
{
    const ocs_attr *a;
    ocs_status s = attr_typed(n, name, OCS_ATTR_STRING, &a, err);
    if (s != OCS_OK)
        return s;
    *out = a ? (a->s.data ? a->s.data : "") : dflt;
    return OCS_OK;
}

ocs_status ocs_node_attr_ints(const ocs_node *n, const char *name, const int64_t **vals,
                              size_t *count, int *present, ocs_err *err)
{
    const ocs_attr *a;
    *vals = NULL;
    *count = 0;
    if (present)
        *present = 0;
    ocs_status s = attr_typed(n, name, OCS_ATTR_INTS, &a, err);
    if (s != OCS_OK || !a)
        return s;
    *vals = a->ints;
    *count = a->n;
    if (present)
        *present = 1;
    return OCS_OK;
}

ocs_status ocs_node_attr_floats(const ocs_node *n, const char *name, const float **vals,
                                size_t *count, int *present, ocs_err *err)
{
    const ocs_attr *a;
    *vals = NULL;
    *count = 0;
    if (present)
        *present = 0;
    ocs_status s = attr_typed(n, name, OCS_ATTR_FLOATS, &a, err);
    if (s != OCS_OK || !a)
        return s;
    *vals = a->floats;
    *count = a->n;
    if (present)
        *present = 1;
    return OCS_OK;
}

ocs_status ocs_node_attr_tensor(const ocs_node *n, const char *name, const ocs_tensor **out,
                                ocs_err *err)
{
    const ocs_attr *a;
    *out = NULL;
    ocs_status s = attr_typed(n, name, OCS_ATTR_TENSOR, &a, err);
    if (s == OCS_OK && a)
        *out = a->t;
    return s;
}

ocs_status ocs_node_attr_graph(const ocs_node *n, const char *name, const ocs_graph **out,
                               ocs_err *err)
{
    const ocs_attr *a;
    *out = NULL;
    ocs_status s = attr_typed(n, name, OCS_ATTR_GRAPH, &a, err);
    if (s == OCS_OK && a)
        *out = a->g;
    return s;
}

/* ---- sparse tensors ---------------------------------------------------------------- */

ocs_status ocs_sparse_to_dense(const ocs_sparse *sp, ocs_tensor **out, ocs_err *err)
{
    *out = NULL;
    if (!sp || !sp->values || !sp->indices)
        return ocs_fail(err, OCS_ERR_INVALID, "sparse tensor without values or indices");
    const ocs_tensor *v = sp->values, *ix = sp->indices;
    if (sp->rank < 0 || sp->rank > OCS_MAX_RANK)
        return ocs_fail(err, OCS_ERR_INVALID, "sparse tensor of rank %d", sp->rank);
    if (v->rank != 1)
        return ocs_fail(err, OCS_ERR_INVALID, "sparse tensor values must be 1-D, not rank %d", v->rank);
    if (ix->dtype != OCS_INT64)
        return ocs_fail(err, OCS_ERR_INVALID, "sparse tensor indices must be INT64, not %s",
                        ocs_dtype_name(ix->dtype));
    size_t nnz = v->numel;
    int linear;
    if (ix->rank == 1 && (size_t)ix->dims[0] == nnz) {
        linear = 1;
    } else if (ix->rank == 2 && (size_t)ix->dims[0] == nnz && ix->dims[1] == sp->rank) {
        linear = 0;
    } else {
        char a[128], b[128];
        return ocs_fail(err, OCS_ERR_INVALID,
                        "sparse tensor indices have shape %s; expected [%zu] or [%zu,%d] for values %s",
                        ocs_shape_str(ix->rank, ix->dims, a, sizeof a), nnz, nnz, sp->rank,
                        ocs_shape_str(v->rank, v->dims, b, sizeof b));
    }
    ocs_tensor *d;
    ocs_status s = ocs_tensor_new(v->dtype, sp->rank, sp->dims, &d, err);
    if (s != OCS_OK)
        return s;
    const int64_t *ind = ix->data;
    size_t esz = ocs_dtype_size(v->dtype);
    for (size_t k = 0; k < nnz; k++) {
        size_t lin = 0;
        if (linear) {
            if (ind[k] < 0 || (uint64_t)ind[k] >= d->numel) {
                size_t numel = d->numel;
                ocs_tensor_free(d);
                return ocs_fail(err, OCS_ERR_INVALID,
                                "sparse tensor index %lld (entry %zu) is outside 0..%zu",
                                (long long)ind[k], k, numel - 1);
            }
            lin = (size_t)ind[k];
        } else {
            for (int j = 0; j < sp->rank; j++) {
                int64_t x = ind[k * (size_t)sp->rank + (size_t)j];
                if (x < 0 || x >= sp->dims[j]) {
                    ocs_tensor_free(d);
                    return ocs_fail(err, OCS_ERR_INVALID,
                                    "sparse tensor index %lld on axis %d (entry %zu) is outside 0..%lld",
                                    (long long)x, j, k, (long long)sp->dims[j] - 1);
                }
                lin = lin * (size_t)sp->dims[j] + (size_t)x;
            }
        }
        if (v->dtype == OCS_STRING) {
            const ocs_string *src = (const ocs_string *)v->data + k;
            ocs_string *dst = (ocs_string *)d->data + lin;
            char *copy = ocs_mem_dup_str(src->data, src->len);
            if (!copy) {
                ocs_tensor_free(d);
                return ocs_fail(err, OCS_ERR_NOMEM, "no memory for a sparse tensor string");
            }
            free(dst->data);
            dst->data = copy;
            dst->len = src->len;
        } else {
            memcpy((unsigned char *)d->data + lin * esz, (const unsigned char *)v->data + k * esz, esz);
        }
    }
    *out = d;
    return OCS_OK;
}
