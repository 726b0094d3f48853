/*
 * spec/expand.c - replacing proposed operators by their function bodies.
 */
#include "ocs/schema.h"

#include <stdlib.h>
#include <string.h>

#include "model_internal.h"
#include "ocs/build.h"

void ocs_graph_value_type(const ocs_graph *g, const char *name, ocs_tensor_type *t)
{
    memset(t, 0, sizeof *t);
    t->dtype = OCS_UNDEFINED;
    t->rank = -1;
    if (!name[0])
        return;
    for (size_t i = 0; i < g->n_inits; i++)
        if (!strcmp(g->inits[i].name, name)) {
            ocs_tensor_type_of(g->inits[i].tensor, t);
            return;
        }
    const ocs_value_info *lists[] = {g->inputs, g->value_info, g->outputs};
    size_t counts[] = {g->n_inputs, g->n_value_info, g->n_outputs};
    for (size_t l = 0; l < 3; l++)
        for (size_t i = 0; i < counts[l]; i++) {
            const ocs_value_info *vi = &lists[l][i];
            if (strcmp(vi->name, name) || vi->type.kind != OCS_TYPE_TENSOR)
                continue;
            t->dtype = vi->type.elem;
            if (vi->type.has_shape && vi->type.rank <= OCS_MAX_RANK) {
                t->rank = vi->type.rank;
                for (int d = 0; d < t->rank; d++)
                    t->dims[d] = vi->type.dims[d].value;
            }
            return;
        }
}

ocs_status ocs_model_expand(const ocs_model *m, ocs_model **out, ocs_err *err)
{
    *out = NULL;
    void *bytes = NULL;
    size_t len = 0;
    ocs_model *copy = NULL;
    ocs_status st = ocs_model_save_memory(m, &bytes, &len, err);
    if (st == OCS_OK)
        st = ocs_model_load_memory(bytes, len, m->dir && m->dir[0] ? m->dir : NULL, &copy, err);
    free(bytes);
    if (st != OCS_OK)
        return st;

    ocs_graph *g = copy->graph;
    ocs_node *nodes = NULL;
    size_t n_nodes = 0, cap = 0;
    int need_opset = 0;
    for (size_t i = 0; i < g->n_nodes && st == OCS_OK; i++) {
        ocs_node *n = &g->nodes[i];
        const ocs_schema *s = ocs_schema_find(n->domain, n->op_type, ocs_model_opset(copy, n->domain));
        ocs_graph *tmp = NULL;
        if (s && s->body) {
            ocs_tensor_type in[64];
            if (n->n_inputs > sizeof in / sizeof in[0]) {
                st = ocs_fail(err, OCS_ERR_UNSUPPORTED, "too many inputs to expand");
                break;
            }
            for (size_t k = 0; k < n->n_inputs; k++)
                ocs_graph_value_type(g, n->inputs[k], &in[k]);
            st = ocs_graph_new("body", &tmp, err);
            if (st == OCS_OK)
                st = s->body(n, n->n_inputs, in, tmp, err);
            if (st != OCS_OK) {
                char label[256];
                ocs_err_prefix(err, st, "expanding %s: ", ocs_node_label(n, label, sizeof label));
                ocs_graph_free(tmp);
                break;
            }
            if (s->body_opset > need_opset)
                need_opset = s->body_opset;
        }
        size_t add = tmp ? tmp->n_nodes : 1;
        if (n_nodes + add > cap) {
            size_t ncap = (n_nodes + add) * 2;
            ocs_node *grown = realloc(nodes, ncap * sizeof *grown);
            if (!grown) {
                ocs_graph_free(tmp);
                st = ocs_fail(err, OCS_ERR_NOMEM, "out of memory expanding a model");
                break;
            }
            nodes = grown;
            cap = ncap;
        }
        if (!tmp) {
            nodes[n_nodes++] = *n;
            memset(n, 0, sizeof *n);
            continue;
        }
        memcpy(nodes + n_nodes, tmp->nodes, tmp->n_nodes * sizeof *nodes);
        n_nodes += tmp->n_nodes;
        tmp->n_nodes = 0;
        /* initializers the body made move into the graph */
        for (size_t k = 0; k < tmp->n_inits && st == OCS_OK; k++)
            st = ocs_graph_add_initializer(g, tmp->inits[k].name, tmp->inits[k].tensor, err);
        ocs_graph_free(tmp);
        ocs_node_clear(n);
        memset(n, 0, sizeof *n);
    }
    if (st != OCS_OK) {
        for (size_t i = 0; i < n_nodes; i++)
            ocs_node_clear(&nodes[i]);
        free(nodes);
        ocs_model_free(copy);
        return st;
    }
    for (size_t i = 0; i < g->n_nodes; i++)
        ocs_node_clear(&g->nodes[i]);
    free(g->nodes);
    g->nodes = nodes;
    g->n_nodes = n_nodes;
    if (need_opset && ocs_model_opset(copy, "") < need_opset)
        st = ocs_model_import(copy, "", need_opset, err);
    if (st != OCS_OK) {
        ocs_model_free(copy);
        return st;
    }
    *out = copy;
    return OCS_OK;
}
