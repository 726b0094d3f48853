/*
 * tests/test_model.c - the ONNX protobuf definition, model and tensor
 * loading and saving, test-data values, and bad input.
 *
 * Tests that read ONNX's node tests look in $OCS_SHARED/onnx-v1.22.0/node
 * (OCS_SHARED defaults to ../shared) and are skipped when it is absent.
 * Malformed files are built here with protobuf-c and written to a mkdtemp
 * folder.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "ocs/model.h"
#include "ocs/value.h"
#include "onnx.pb-c.h"
#include "onnx-data.pb-c.h"

/* ---- helpers ---------------------------------------------------------------------------- */

static const char *shared_dir(void)
{
    const char *s = getenv("OCS_SHARED");
    return s && *s ? s : "../shared";
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted list of the node-test folders (full paths); NULL when absent. */
static char **node_tests(size_t *n)
{
    char root[4096];
    snprintf(root, sizeof root, "%s/onnx-v1.22.0/node", shared_dir());
    *n = 0;
    DIR *d = opendir(root);
    if (!d)
        return NULL;
    size_t cap = 64;
    char **v = malloc(cap * sizeof *v);
    assert_non_null(v);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char p[4096];
        if (snprintf(p, sizeof p, "%s/%s", root, e->d_name) >= (int)sizeof p || !is_dir(p))
            continue;
        if (*n == cap) {
            cap *= 2;
            v = realloc(v, cap * sizeof *v);
            assert_non_null(v);
        }
        v[(*n)++] = strdup(p);
    }
    closedir(d);
    qsort(v, *n, sizeof *v, cmp_str);
    return v;
}

static void free_list(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static uint8_t *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    uint8_t *b = malloc(n > 0 ? (size_t)n : 1);
    assert_non_null(b);
    *len = fread(b, 1, (size_t)n, f);
    fclose(f);
    return b;
}

static void write_all_file(const char *path, const void *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, len, f), len);
    fclose(f);
}

static uint8_t *pack_msg(const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *b = malloc(*len ? *len : 1);
    assert_non_null(b);
    protobuf_c_message_pack(m, b);
    return b;
}

/* Fails the test unless s is an error whose message contains want. */
static void expect_error(ocs_status s, const ocs_err *err, const char *want)
{
    if (s == OCS_OK)
        fail_msg("expected an error mentioning '%s', got success", want);
    if (!strstr(err->msg, want))
        fail_msg("expected an error mentioning '%s', got: %s", want, err->msg);
}

/* ---- structural comparison of models ----------------------------------------------------- */

typedef struct diff {
    char where[1024];
} diff;

static int differ(diff *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->where, sizeof d->where, fmt, ap);
    va_end(ap);
    return 0;
}

static int s_eq(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

static int type_eq(const ocs_type *a, const ocs_type *b, diff *d)
{
    if (a->kind != b->kind || a->elem != b->elem || a->has_shape != b->has_shape)
        return differ(d, "type kind/elem/shape presence");
    if (a->has_shape) {
        if (a->rank != b->rank)
            return differ(d, "type rank %d vs %d", a->rank, b->rank);
        for (int i = 0; i < a->rank; i++)
            if (a->dims[i].value != b->dims[i].value ||
                (a->dims[i].param == NULL) != (b->dims[i].param == NULL) ||
                !s_eq(a->dims[i].param, b->dims[i].param))
                return differ(d, "type dim %d", i);
    }
    if ((a->inner == NULL) != (b->inner == NULL))
        return differ(d, "type inner presence");
    return a->inner ? type_eq(a->inner, b->inner, d) : 1;
}

static int vi_eq(const ocs_value_info *a, const ocs_value_info *b, size_t n, const char *what, diff *d)
{
    for (size_t i = 0; i < n; i++) {
        if (!s_eq(a[i].name, b[i].name) || !s_eq(a[i].doc, b[i].doc))
            return differ(d, "%s #%zu name/doc", what, i);
        if (!type_eq(&a[i].type, &b[i].type, d))
            return differ(d, "%s '%s': %s", what, a[i].name, d->where);
    }
    return 1;
}

static int kv_eq(const ocs_kv *a, size_t na, const ocs_kv *b, size_t nb, diff *d)
{
    if (na != nb)
        return differ(d, "metadata count %zu vs %zu", na, nb);
    for (size_t i = 0; i < na; i++)
        if (!s_eq(a[i].key, b[i].key) || !s_eq(a[i].value, b[i].value))
            return differ(d, "metadata #%zu", i);
    return 1;
}

static int strv_eq(char **a, size_t na, char **b, size_t nb)
{
    if (na != nb)
        return 0;
    for (size_t i = 0; i < na; i++)
        if (!s_eq(a[i], b[i]))
            return 0;
    return 1;
}

static int graph_eq(const ocs_graph *a, const ocs_graph *b, diff *d);

static int sparse_eq(const ocs_sparse *a, const ocs_sparse *b)
{
    if (a->rank != b->rank || memcmp(a->dims, b->dims, (size_t)a->rank * sizeof a->dims[0]) != 0)
        return 0;
    return ocs_tensor_equal(a->values, b->values) && ocs_tensor_equal(a->indices, b->indices);
}

static int attr_eq(const ocs_attr *a, const ocs_attr *b, diff *d)
{
    if (!s_eq(a->name, b->name) || a->type != b->type || !s_eq(a->doc, b->doc))
        return differ(d, "attribute name/type/doc");
    if ((a->ref_attr_name == NULL) != (b->ref_attr_name == NULL) || !s_eq(a->ref_attr_name, b->ref_attr_name))
        return differ(d, "attribute '%s' reference", a->name);
    if (a->ref_attr_name)
        return 1;
    size_t n = a->n;
    switch (a->type) {
    case OCS_ATTR_FLOAT:
        return memcmp(&a->f, &b->f, sizeof a->f) == 0 ? 1 : differ(d, "attribute '%s' f", a->name);
    case OCS_ATTR_INT:
        return a->i == b->i ? 1 : differ(d, "attribute '%s' i", a->name);
    case OCS_ATTR_STRING:
        return a->s.len == b->s.len && memcmp(a->s.data, b->s.data, a->s.len) == 0
                   ? 1 : differ(d, "attribute '%s' s", a->name);
    case OCS_ATTR_TENSOR:
        return ocs_tensor_equal(a->t, b->t) ? 1 : differ(d, "attribute '%s' t", a->name);
    case OCS_ATTR_GRAPH:
        return graph_eq(a->g, b->g, d) ? 1 : differ(d, "attribute '%s': %s", a->name, d->where);
    case OCS_ATTR_SPARSE_TENSOR:
        return sparse_eq(a->sparse, b->sparse) ? 1 : differ(d, "attribute '%s' sparse", a->name);
    case OCS_ATTR_TYPE_PROTO:
        return type_eq(a->tp, b->tp, d);
    default:
        break;
    }
    if (n != b->n)
        return differ(d, "attribute '%s' list length %zu vs %zu", a->name, n, b->n);
    for (size_t i = 0; i < n; i++) {
        int ok = 1;
        switch (a->type) {
        case OCS_ATTR_FLOATS: ok = memcmp(&a->floats[i], &b->floats[i], sizeof(float)) == 0; break;
        case OCS_ATTR_INTS: ok = a->ints[i] == b->ints[i]; break;
        case OCS_ATTR_STRINGS:
            ok = a->strings[i].len == b->strings[i].len &&
                 memcmp(a->strings[i].data, b->strings[i].data, a->strings[i].len) == 0;
            break;
        case OCS_ATTR_TENSORS: ok = ocs_tensor_equal(a->tensors[i], b->tensors[i]); break;
        case OCS_ATTR_GRAPHS: ok = graph_eq(a->graphs[i], b->graphs[i], d); break;
        case OCS_ATTR_SPARSE_TENSORS: ok = sparse_eq(a->sparses[i], b->sparses[i]); break;
        case OCS_ATTR_TYPE_PROTOS: ok = type_eq(&a->tps[i], &b->tps[i], d); break;
        default: break;
        }
        if (!ok)
            return differ(d, "attribute '%s' element %zu", a->name, i);
    }
    return 1;
}

static int nodes_eq(const ocs_node *a, const ocs_node *b, size_t n, diff *d)
{
    for (size_t i = 0; i < n; i++) {
        const ocs_node *x = &a[i], *y = &b[i];
        if (!s_eq(x->name, y->name) || !s_eq(x->op_type, y->op_type) || !s_eq(x->domain, y->domain) ||
            !s_eq(x->overload, y->overload) || !s_eq(x->doc, y->doc))
            return differ(d, "node #%zu header", i);
        if (!strv_eq(x->inputs, x->n_inputs, y->inputs, y->n_inputs) ||
            !strv_eq(x->outputs, x->n_outputs, y->outputs, y->n_outputs))
            return differ(d, "node #%zu inputs/outputs", i);
        if (x->n_attrs != y->n_attrs)
            return differ(d, "node #%zu attribute count", i);
        for (size_t k = 0; k < x->n_attrs; k++)
            if (!attr_eq(&x->attrs[k], &y->attrs[k], d))
                return differ(d, "node #%zu: %s", i, d->where);
        if (!kv_eq(x->meta, x->n_meta, y->meta, y->n_meta, d))
            return differ(d, "node #%zu: %s", i, d->where);
    }
    return 1;
}

static int graph_eq(const ocs_graph *a, const ocs_graph *b, diff *d)
{
    if (!a || !b)
        return a == b ? 1 : differ(d, "graph presence");
    if (!s_eq(a->name, b->name) || !s_eq(a->doc, b->doc))
        return differ(d, "graph name/doc");
    if (a->n_nodes != b->n_nodes || a->n_inits != b->n_inits || a->n_inputs != b->n_inputs ||
        a->n_outputs != b->n_outputs || a->n_value_info != b->n_value_info)
        return differ(d, "graph '%s' counts", a->name);
    if (!nodes_eq(a->nodes, b->nodes, a->n_nodes, d))
        return differ(d, "graph '%s': %s", a->name, d->where);
    for (size_t i = 0; i < a->n_inits; i++)
        if (!s_eq(a->inits[i].name, b->inits[i].name) || !ocs_tensor_equal(a->inits[i].tensor, b->inits[i].tensor))
            return differ(d, "graph '%s' initializer #%zu", a->name, i);
    if (!vi_eq(a->inputs, b->inputs, a->n_inputs, "input", d) ||
        !vi_eq(a->outputs, b->outputs, a->n_outputs, "output", d) ||
        !vi_eq(a->value_info, b->value_info, a->n_value_info, "value_info", d) ||
        !kv_eq(a->meta, a->n_meta, b->meta, b->n_meta, d))
        return differ(d, "graph '%s': %s", a->name, d->where);
    return 1;
}

static int opsets_eq(const ocs_opset *a, size_t na, const ocs_opset *b, size_t nb)
{
    if (na != nb)
        return 0;
    for (size_t i = 0; i < na; i++)
        if (!s_eq(a[i].domain, b[i].domain) || a[i].version != b[i].version)
            return 0;
    return 1;
}

static int model_eq(const ocs_model *a, const ocs_model *b, diff *d)
{
    if (a->ir_version != b->ir_version || a->model_version != b->model_version ||
        !s_eq(a->producer_name, b->producer_name) || !s_eq(a->producer_version, b->producer_version) ||
        !s_eq(a->domain, b->domain) || !s_eq(a->doc, b->doc))
        return differ(d, "model header");
    if (!opsets_eq(a->opsets, a->n_opsets, b->opsets, b->n_opsets))
        return differ(d, "opset_import");
    if (!kv_eq(a->meta, a->n_meta, b->meta, b->n_meta, d))
        return 0;
    if (!graph_eq(a->graph, b->graph, d))
        return 0;
    if (a->n_functions != b->n_functions)
        return differ(d, "function count");
    for (size_t i = 0; i < a->n_functions; i++) {
        const ocs_function *x = &a->functions[i], *y = &b->functions[i];
        if (!s_eq(x->name, y->name) || !s_eq(x->domain, y->domain) || !s_eq(x->overload, y->overload) ||
            !s_eq(x->doc, y->doc) || !strv_eq(x->inputs, x->n_inputs, y->inputs, y->n_inputs) ||
            !strv_eq(x->outputs, x->n_outputs, y->outputs, y->n_outputs) ||
            !strv_eq(x->attr_names, x->n_attr_names, y->attr_names, y->n_attr_names) ||
            !opsets_eq(x->opsets, x->n_opsets, y->opsets, y->n_opsets) || x->n_nodes != y->n_nodes ||
            x->n_attr_defaults != y->n_attr_defaults || x->n_value_info != y->n_value_info)
            return differ(d, "function #%zu header", i);
        for (size_t k = 0; k < x->n_attr_defaults; k++)
            if (!attr_eq(&x->attr_defaults[k], &y->attr_defaults[k], d))
                return differ(d, "function '%s' default: %s", x->name, d->where);
        if (!nodes_eq(x->nodes, y->nodes, x->n_nodes, d) ||
            !vi_eq(x->value_info, y->value_info, x->n_value_info, "value_info", d) ||
            !kv_eq(x->meta, x->n_meta, y->meta, y->n_meta, d))
            return differ(d, "function '%s': %s", x->name, d->where);
    }
    return 1;
}

/* ---- (a) every node-test model ------------------------------------------------------------ */

/*
 * protobuf-c writes fields in field-number order with the packed/unpacked
 * encoding declared in spec/onnx.proto, which is exactly what ONNX's own
 * writer does, so every official file must come back byte for byte.  A
 * wrong field number, type or packed flag in onnx.proto breaks this.
 */
static void test_node_models_roundtrip_bytes(void **state)
{
    (void)state;
    size_t n;
    char **dirs = node_tests(&n);
    if (!dirs)
        skip();
    size_t checked = 0;
    for (size_t i = 0; i < n; i++) {
        char p[4096];
        snprintf(p, sizeof p, "%s/model.onnx", dirs[i]);
        size_t len;
        uint8_t *buf = read_all(p, &len);
        if (!buf)
            continue;
        Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, len, buf);
        if (!m)
            fail_msg("%s: protobuf-c cannot unpack it", p);
        size_t out_len;
        uint8_t *out = pack_msg(&m->base, &out_len);
        if (out_len != len || memcmp(out, buf, len) != 0)
            fail_msg("%s: repacking gives different bytes (%zu vs %zu)", p, out_len, len);
        free(out);
        onnx__model_proto__free_unpacked(m, NULL);
        free(buf);
        checked++;
    }
    assert_true(checked > 1000);
    free_list(dirs, n);
}

/* The descriptor a test-data file of this declared type is stored as. */
static const ProtobufCMessageDescriptor *data_descriptor(const ocs_type *t)
{
    switch (t ? t->kind : OCS_TYPE_TENSOR) {
    case OCS_TYPE_SEQUENCE: return &onnx__sequence_proto__descriptor;
    case OCS_TYPE_OPTIONAL: return &onnx__optional_proto__descriptor;
    case OCS_TYPE_MAP: return &onnx__map_proto__descriptor;
    case OCS_TYPE_SPARSE_TENSOR: return &onnx__sparse_tensor_proto__descriptor;
    default: return &onnx__tensor_proto__descriptor;
    }
}

/* The declared type of input_k.pb: inputs that have an initializer are not fed. */
static const ocs_type *fed_input_type(const ocs_graph *g, size_t k)
{
    size_t c = 0;
    for (size_t i = 0; i < g->n_inputs; i++) {
        int init = 0;
        for (size_t j = 0; j < g->n_inits; j++)
            if (strcmp(g->inits[j].name, g->inputs[i].name) == 0)
                init = 1;
        if (init)
            continue;
        if (c++ == k)
            return &g->inputs[i].type;
    }
    return NULL;
}

/* Every test-data file: bytes round trip through the message its declared
 * type selects, and it loads as an ocs_value. */
static void test_node_data_roundtrip(void **state)
{
    (void)state;
    size_t n;
    char **dirs = node_tests(&n);
    if (!dirs)
        skip();
    size_t files = 0;
    for (size_t i = 0; i < n; i++) {
        char p[4096];
        snprintf(p, sizeof p, "%s/model.onnx", dirs[i]);
        ocs_model *m;
        ocs_err err;
        if (ocs_model_load_file(p, &m, &err) != OCS_OK)
            fail_msg("%s", err.msg);
        for (int set = 0; set < 16; set++) {
            for (int io = 0; io < 2; io++) {
                for (size_t k = 0;; k++) {
                    snprintf(p, sizeof p, "%s/test_data_set_%d/%s_%zu.pb", dirs[i], set,
                             io ? "output" : "input", k);
                    size_t len;
                    uint8_t *buf = read_all(p, &len);
                    if (!buf)
                        break;
                    const ocs_type *t = io ? (k < m->graph->n_outputs ? &m->graph->outputs[k].type : NULL)
                                           : fed_input_type(m->graph, k);
                    const ProtobufCMessageDescriptor *desc = data_descriptor(t);
                    ProtobufCMessage *msg = protobuf_c_message_unpack(desc, NULL, len, buf);
                    if (!msg)
                        fail_msg("%s: cannot unpack as %s", p, desc->short_name);
                    size_t out_len;
                    uint8_t *out = pack_msg(msg, &out_len);
                    if (out_len != len || memcmp(out, buf, len) != 0)
                        fail_msg("%s: repacking gives different bytes", p);
                    free(out);
                    protobuf_c_message_free_unpacked(msg, NULL);
                    ocs_value *v;
                    if (ocs_value_load_memory(buf, len, t, NULL, &v, &err) != OCS_OK)
                        fail_msg("%s: %s", p, err.msg);
                    ocs_value_free(v);
                    free(buf);
                    files++;
                }
            }
        }
        ocs_model_free(m);
    }
    assert_true(files > 1000);
    free_list(dirs, n);
}

/* load -> save -> load gives an equal model, and saving again gives the same bytes. */
static void test_node_models_load_save_load(void **state)
{
    (void)state;
    size_t n;
    char **dirs = node_tests(&n);
    if (!dirs)
        skip();
    for (size_t i = 0; i < n; i++) {
        char p[4096];
        snprintf(p, sizeof p, "%s/model.onnx", dirs[i]);
        ocs_model *a, *b;
        ocs_err err;
        if (ocs_model_load_file(p, &a, &err) != OCS_OK)
            fail_msg("%s", err.msg);
        void *buf, *buf2;
        size_t len, len2;
        if (ocs_model_save_memory(a, &buf, &len, &err) != OCS_OK)
            fail_msg("%s: save: %s", p, err.msg);
        if (ocs_model_load_memory(buf, len, dirs[i], &b, &err) != OCS_OK)
            fail_msg("%s: reload: %s", p, err.msg);
        diff d = { "" };
        if (!model_eq(a, b, &d))
            fail_msg("%s: reloaded model differs: %s", p, d.where);
        if (ocs_model_save_memory(b, &buf2, &len2, &err) != OCS_OK)
            fail_msg("%s: save again: %s", p, err.msg);
        if (len != len2 || memcmp(buf, buf2, len) != 0)
            fail_msg("%s: saving twice gives different bytes", p);
        free(buf);
        free(buf2);
        ocs_model_free(a);
        ocs_model_free(b);
    }
    free_list(dirs, n);
}

/* ---- a small model built with protobuf-c ------------------------------------------------ */

typedef struct mini {
    Onnx__ModelProto model;
    Onnx__OperatorSetIdProto opset;
    Onnx__OperatorSetIdProto *opsets[1];
    Onnx__GraphProto graph;
    Onnx__NodeProto node;
    Onnx__NodeProto *nodes[1];
    char *node_in[1], *node_out[1];
    Onnx__AttributeProto attr;
    Onnx__AttributeProto *attrs[1];
    Onnx__ValueInfoProto in, out;
    Onnx__ValueInfoProto *ins[1], *outs[1];
    Onnx__TensorProto init;
    Onnx__TensorProto *inits[1];
    int64_t dims[4];
    float fdata[8];
    Onnx__StringStringEntryProto ext[3];
    Onnx__StringStringEntryProto *exts[3];
} mini;

/* Model: y = Relu(x) with attribute "alpha" (FLOAT 0.5) and no initializer. */
static void mini_init(mini *m)
{
    memset(m, 0, sizeof *m);
    onnx__model_proto__init(&m->model);
    onnx__operator_set_id_proto__init(&m->opset);
    onnx__graph_proto__init(&m->graph);
    onnx__node_proto__init(&m->node);
    onnx__attribute_proto__init(&m->attr);
    onnx__value_info_proto__init(&m->in);
    onnx__value_info_proto__init(&m->out);
    onnx__tensor_proto__init(&m->init);
    m->model.has_ir_version = 1;
    m->model.ir_version = 10;
    m->opset.domain = "";
    m->opset.has_version = 1;
    m->opset.version = 21;
    m->opsets[0] = &m->opset;
    m->model.opset_import = m->opsets;
    m->model.n_opset_import = 1;
    m->model.graph = &m->graph;
    m->graph.name = "g";
    m->node_in[0] = "x";
    m->node_out[0] = "y";
    m->node.input = m->node_in;
    m->node.n_input = 1;
    m->node.output = m->node_out;
    m->node.n_output = 1;
    m->node.op_type = "Relu";
    m->node.name = "relu0";
    m->attr.name = "alpha";
    m->attr.has_type = 1;
    m->attr.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
    m->attr.has_f = 1;
    m->attr.f = 0.5f;
    m->attrs[0] = &m->attr;
    m->node.attribute = m->attrs;
    m->node.n_attribute = 1;
    m->nodes[0] = &m->node;
    m->graph.node = m->nodes;
    m->graph.n_node = 1;
    m->in.name = "x";
    m->out.name = "y";
    m->ins[0] = &m->in;
    m->outs[0] = &m->out;
    m->graph.input = m->ins;
    m->graph.n_input = 1;
    m->graph.output = m->outs;
    m->graph.n_output = 1;
    m->init.name = "w";
    m->init.has_data_type = 1;
    m->init.data_type = OCS_FLOAT;
    m->init.dims = m->dims;
    m->init.n_dims = 1;
    m->dims[0] = 4;
    m->inits[0] = &m->init;
    for (int i = 0; i < 3; i++) {
        onnx__string_string_entry_proto__init(&m->ext[i]);
        m->exts[i] = &m->ext[i];
    }
}

/* Adds the initializer "w" to the graph. */
static void mini_with_init(mini *m)
{
    m->graph.initializer = m->inits;
    m->graph.n_initializer = 1;
}

/* Makes "w" external: location plus optional offset/length (NULL: key absent). */
static void mini_external(mini *m, const char *location, const char *offset, const char *length)
{
    mini_with_init(m);
    m->init.has_data_location = 1;
    m->init.data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    size_t n = 0;
    const char *keys[3] = { "location", "offset", "length" };
    const char *vals[3] = { location, offset, length };
    for (int i = 0; i < 3; i++) {
        if (!vals[i])
            continue;
        m->ext[n].key = (char *)keys[i];
        m->ext[n].value = (char *)vals[i];
        m->exts[n] = &m->ext[n];
        n++;
    }
    m->init.external_data = m->exts;
    m->init.n_external_data = n;
}

static ocs_status mini_load(mini *m, const char *base_dir, ocs_model **out, ocs_err *err)
{
    size_t len;
    uint8_t *buf = pack_msg(&m->model.base, &len);
    ocs_status s = ocs_model_load_memory(buf, len, base_dir, out, err);
    free(buf);
    return s;
}

static void mini_expect_error(mini *m, const char *want)
{
    ocs_model *om = NULL;
    ocs_err err;
    ocs_status s = mini_load(m, NULL, &om, &err);
    ocs_model_free(om);
    expect_error(s, &err, want);
}

static void test_mini_loads(void **state)
{
    (void)state;
    mini m;
    mini_init(&m);
    m.init.float_data = m.fdata;
    m.init.n_float_data = 4;
    m.fdata[2] = 2.5f;
    mini_with_init(&m);
    m.opset.domain = "ai.onnx";
    ocs_model *om;
    ocs_err err;
    assert_int_equal(mini_load(&m, NULL, &om, &err), OCS_OK);
    assert_int_equal(ocs_model_opset(om, ""), 21);
    assert_int_equal(ocs_model_opset(om, "ai.onnx"), 21);
    assert_int_equal(ocs_model_opset(om, "com.example"), -1);
    assert_string_equal(om->opsets[0].domain, "");
    assert_string_equal(om->dir, "");
    const ocs_graph *g = om->graph;
    assert_int_equal(g->n_inits, 1);
    assert_int_equal(g->inits[0].tensor->dtype, OCS_FLOAT);
    assert_true(((float *)g->inits[0].tensor->data)[2] == 2.5f);
    assert_string_equal(g->nodes[0].domain, "");
    assert_null(g->nodes[0].attrs[0].ref_attr_name);
    char label[128];
    assert_string_equal(ocs_node_label(&g->nodes[0], label, sizeof label), "Relu node 'relu0'");
    ocs_model_free(om);
}

/* ---- (b) malformed input ------------------------------------------------------------------- */

static uint8_t *small_model(size_t *len, const char *test)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/onnx-v1.22.0/node/%s/model.onnx", shared_dir(), test);
    return read_all(p, len);
}

static void test_truncated_models(void **state)
{
    (void)state;
    size_t len;
    uint8_t *buf = small_model(&len, "test_if");
    if (!buf)
        skip();
    size_t failures = 0;
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *copy = malloc(cut ? cut : 1);   /* exact size, so ASan sees any over-read */
        assert_non_null(copy);
        memcpy(copy, buf, cut);
        ocs_model *m = NULL;
        ocs_err err = { "" };
        ocs_status s = ocs_model_load_memory(copy, cut, NULL, &m, &err);
        if (s != OCS_OK) {
            assert_null(m);
            assert_true(strlen(err.msg) > 0);
            failures++;
        } else {
            ocs_model_free(m);
        }
        free(copy);
    }
    /* Cutting at a field boundary can leave a valid (smaller) model; most cuts cannot. */
    assert_true(failures > len / 2);
    free(buf);
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static void test_corrupted_models(void **state)
{
    (void)state;
    const char *names[] = { "test_if", "test_constant", "test_loop11", "test_cast_FLOAT_to_INT4" };
    uint64_t seed = 0x5eed1234abcdULL;
    int any = 0;
    for (size_t t = 0; t < sizeof names / sizeof names[0]; t++) {
        size_t len;
        uint8_t *orig = small_model(&len, names[t]);
        if (!orig)
            continue;
        any = 1;
        for (int it = 0; it < 1500; it++) {
            uint8_t *b = malloc(len);
            assert_non_null(b);
            memcpy(b, orig, len);
            int flips = 1 + (int)(rng_next(&seed) % 4);
            for (int f = 0; f < flips; f++)
                b[rng_next(&seed) % len] = (uint8_t)rng_next(&seed);
            ocs_model *m = NULL;
            ocs_err err = { "" };
            if (ocs_model_load_memory(b, len, NULL, &m, &err) == OCS_OK) {
                void *out;
                size_t out_len;
                if (ocs_model_save_memory(m, &out, &out_len, &err) == OCS_OK)
                    free(out);
                ocs_model_free(m);
            } else {
                assert_null(m);
                assert_true(strlen(err.msg) > 0);
            }
            free(b);
        }
        free(orig);
    }
    if (!any)
        skip();
}

/* The same for test-data values: an optional of a sequence, and a sequence. */
static void test_corrupted_values(void **state)
{
    (void)state;
    const char *tests[] = { "test_if_opt", "test_sequence_map_add_2_sequences" };
    const char *files[] = { "output_0.pb", "input_0.pb" };
    ocs_type_kind kinds[] = { OCS_TYPE_OPTIONAL, OCS_TYPE_SEQUENCE };
    uint64_t seed = 0xfeedbeef1234ULL;
    int any = 0;
    for (size_t t = 0; t < 2; t++) {
        char p[4096];
        snprintf(p, sizeof p, "%s/onnx-v1.22.0/node/%s/test_data_set_0/%s", shared_dir(), tests[t], files[t]);
        size_t len;
        uint8_t *orig = read_all(p, &len);
        if (!orig)
            continue;
        any = 1;
        ocs_type ty = { 0 };
        ty.kind = kinds[t];
        for (int it = 0; it < 1500; it++) {
            uint8_t *b = malloc(len);
            assert_non_null(b);
            memcpy(b, orig, len);
            int flips = 1 + (int)(rng_next(&seed) % 3);
            for (int f = 0; f < flips; f++)
                b[rng_next(&seed) % len] = (uint8_t)rng_next(&seed);
            size_t cut = it % 3 == 0 ? (size_t)(rng_next(&seed) % len) : len;
            ocs_value *v = NULL;
            ocs_err err = { "" };
            if (ocs_value_load_memory(b, cut, &ty, NULL, &v, &err) == OCS_OK) {
                char desc[256];
                ocs_value_describe(v, desc, sizeof desc);
                ocs_value *c;
                assert_int_equal(ocs_value_clone(v, &c, &err), OCS_OK);
                ocs_value_free(c);
                ocs_value_free(v);
            } else {
                assert_null(v);
                assert_true(strlen(err.msg) > 0);
            }
            free(b);
        }
        free(orig);
    }
    if (!any)
        skip();
}

/* Nested subgraphs 5000 deep: rejected before protobuf-c can recurse that far. */
static void test_nesting_bomb(void **state)
{
    (void)state;
    /* Built from the inside out: Graph{node: Node{attribute: Attr{g: Graph{...}}}} */
    size_t cap = 1 << 20, len = 0;
    uint8_t *cur = malloc(cap), *next = malloc(cap);
    assert_non_null(cur);
    assert_non_null(next);
    for (int level = 0; level < 5000; level++) {
        /* wrap cur as field `field` (length-delimited) */
        const unsigned fields[3] = { 6, 5, 1 };   /* Attr.g, Node.attribute, Graph.node */
        for (int f = 0; f < 3; f++) {
            size_t n = 0;
            next[n++] = (uint8_t)(fields[f] << 3 | 2);
            size_t v = len;
            do {
                next[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
                v >>= 7;
            } while (v);
            assert_true(n + len < cap);
            memcpy(next + n, cur, len);
            len += n;
            uint8_t *tmp = cur;
            cur = next;
            next = tmp;
        }
    }
    /* ModelProto.graph = 7 */
    size_t n = 0;
    next[n++] = 7 << 3 | 2;
    size_t v = len;
    do {
        next[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    memcpy(next + n, cur, len);
    ocs_model *m;
    ocs_err err;
    expect_error(ocs_model_load_memory(next, len + n, NULL, &m, &err), &err, "nested deeper");
    free(cur);
    free(next);
}

static void test_not_a_model(void **state)
{
    (void)state;
    ocs_model *m;
    ocs_err err;
    const char junk[] = "this is not a protobuf \xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff";
    assert_int_not_equal(ocs_model_load_memory(junk, sizeof junk, NULL, &m, &err), OCS_OK);
    assert_true(strlen(err.msg) > 0);
    expect_error(ocs_model_load_memory("", 0, NULL, &m, &err), &err, "no graph");
    expect_error(ocs_model_load_file("/nonexistent/model.onnx", &m, &err), &err, "/nonexistent/model.onnx");
    expect_error(ocs_model_load_file("/", &m, &err), &err, "directory");
}

static void test_attribute_getters(void **state)
{
    (void)state;
    int64_t ints[3] = { 1, 2, 3 };
    ocs_attr attrs[4];
    memset(attrs, 0, sizeof attrs);
    attrs[0].name = "axis";
    attrs[0].type = OCS_ATTR_INT;
    attrs[0].i = -1;
    attrs[1].name = "alpha";
    attrs[1].type = OCS_ATTR_FLOAT;
    attrs[1].f = 0.25f;
    attrs[2].name = "perm";
    attrs[2].type = OCS_ATTR_INTS;
    attrs[2].ints = ints;
    attrs[2].n = 3;
    attrs[3].name = "mode";
    attrs[3].type = OCS_ATTR_STRING;
    attrs[3].s.data = "linear";
    attrs[3].s.len = 6;
    ocs_node node;
    memset(&node, 0, sizeof node);
    node.name = "n1";
    node.op_type = "Softmax";
    node.attrs = attrs;
    node.n_attrs = 4;
    ocs_err err;
    int64_t i;
    float f;
    const char *s;
    const int64_t *iv;
    const float *fv;
    size_t cnt;
    int present;
    const ocs_tensor *t;
    const ocs_graph *g;

    assert_int_equal(ocs_node_attr_int(&node, "axis", 7, &i, &err), OCS_OK);
    assert_int_equal(i, -1);
    assert_int_equal(ocs_node_attr_int(&node, "absent", 7, &i, &err), OCS_OK);
    assert_int_equal(i, 7);
    assert_int_equal(ocs_node_attr_float(&node, "alpha", 1.0f, &f, &err), OCS_OK);
    assert_true(f == 0.25f);
    assert_int_equal(ocs_node_attr_string(&node, "mode", "x", &s, &err), OCS_OK);
    assert_string_equal(s, "linear");
    assert_int_equal(ocs_node_attr_string(&node, "nope", "dflt", &s, &err), OCS_OK);
    assert_string_equal(s, "dflt");
    assert_int_equal(ocs_node_attr_ints(&node, "perm", &iv, &cnt, &present, &err), OCS_OK);
    assert_int_equal(cnt, 3);
    assert_int_equal(present, 1);
    assert_int_equal(iv[2], 3);
    assert_int_equal(ocs_node_attr_ints(&node, "nope", &iv, &cnt, &present, &err), OCS_OK);
    assert_null(iv);
    assert_int_equal(cnt, 0);
    assert_int_equal(present, 0);

    expect_error(ocs_node_attr_float(&node, "axis", 0, &f, &err), &err, "attribute 'axis' is INT, expected FLOAT");
    assert_non_null(strstr(err.msg, "Softmax node 'n1'"));
    expect_error(ocs_node_attr_int(&node, "alpha", 0, &i, &err), &err, "'alpha' is FLOAT, expected INT");
    expect_error(ocs_node_attr_string(&node, "axis", "", &s, &err), &err, "expected STRING");
    expect_error(ocs_node_attr_ints(&node, "axis", &iv, &cnt, NULL, &err), &err, "expected INTS");
    expect_error(ocs_node_attr_floats(&node, "perm", &fv, &cnt, NULL, &err), &err, "'perm' is INTS, expected FLOATS");
    expect_error(ocs_node_attr_tensor(&node, "mode", &t, &err), &err, "expected TENSOR");
    expect_error(ocs_node_attr_graph(&node, "alpha", &g, &err), &err, "expected GRAPH");
    node.name = "";
    char out0[] = "y";
    char *outs[1] = { out0 };
    node.outputs = outs;
    node.n_outputs = 1;
    expect_error(ocs_node_attr_int(&node, "alpha", 0, &i, &err), &err, "Softmax node (unnamed, output 'y')");
    assert_string_equal(ocs_attr_type_name(OCS_ATTR_SPARSE_TENSORS), "SPARSE_TENSORS");
}

static void test_attribute_type_checks(void **state)
{
    (void)state;
    mini m;
    /* declared INT but the value is in f */
    mini_init(&m);
    m.attr.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    mini_expect_error(&m, "attribute 'alpha' is declared INT but holds a FLOAT value");
    /* two values */
    mini_init(&m);
    m.attr.has_i = 1;
    mini_expect_error(&m, "holds more than one value");
    /* declared scalar, no value */
    mini_init(&m);
    m.attr.has_f = 0;
    mini_expect_error(&m, "declared FLOAT but has no value");
    /* unknown type code */
    mini_init(&m);
    m.attr.type = (Onnx__AttributeProto__AttributeType)99;
    mini_expect_error(&m, "unknown type 99");
    /* no name */
    mini_init(&m);
    m.attr.name = NULL;
    mini_expect_error(&m, "attribute without a name");
    /* reference outside a function */
    mini_init(&m);
    m.attr.has_f = 0;
    m.attr.ref_attr_name = "a";
    mini_expect_error(&m, "only in function bodies");
    /* empty op_type, graph name, input name */
    mini_init(&m);
    m.node.op_type = "";
    mini_expect_error(&m, "node #0 'relu0' (): node has no op_type");
    mini_init(&m);
    m.graph.name = NULL;
    mini_expect_error(&m, "graph has no name");
    mini_init(&m);
    m.in.name = "";
    mini_expect_error(&m, "input #0 has no name");
    /* duplicate attribute */
    mini_init(&m);
    Onnx__AttributeProto *two[2] = { &m.attr, &m.attr };
    m.node.attribute = two;
    m.node.n_attribute = 2;
    mini_expect_error(&m, "attribute 'alpha' appears twice");
    /* duplicate opset domain ("" and "ai.onnx" are the same) */
    mini_init(&m);
    Onnx__OperatorSetIdProto o2 = ONNX__OPERATOR_SET_ID_PROTO__INIT;
    o2.domain = "ai.onnx";
    o2.has_version = 1;
    o2.version = 13;
    Onnx__OperatorSetIdProto *os[2] = { &m.opset, &o2 };
    m.model.opset_import = os;
    m.model.n_opset_import = 2;
    mini_expect_error(&m, "lists domain '' twice");
    /* no graph */
    mini_init(&m);
    m.model.graph = NULL;
    mini_expect_error(&m, "model has no graph");

    /* old files: no type, inferred from the value field */
    mini_init(&m);
    m.attr.has_type = 0;
    m.attr.has_f = 0;
    int64_t iv[2] = { 4, 5 };
    m.attr.ints = iv;
    m.attr.n_ints = 2;
    ocs_model *om;
    ocs_err err;
    assert_int_equal(mini_load(&m, NULL, &om, &err), OCS_OK);
    assert_int_equal(om->graph->nodes[0].attrs[0].type, OCS_ATTR_INTS);
    assert_int_equal(om->graph->nodes[0].attrs[0].n, 2);
    assert_int_equal(om->graph->nodes[0].attrs[0].ints[1], 5);
    ocs_model_free(om);
    /* an empty list with a declared type is fine */
    mini_init(&m);
    m.attr.has_f = 0;
    m.attr.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS;
    assert_int_equal(mini_load(&m, NULL, &om, &err), OCS_OK);
    assert_int_equal(om->graph->nodes[0].attrs[0].type, OCS_ATTR_FLOATS);
    assert_int_equal(om->graph->nodes[0].attrs[0].n, 0);
    ocs_model_free(om);
    /* no type and no value */
    mini_init(&m);
    m.attr.has_type = 0;
    m.attr.has_f = 0;
    mini_expect_error(&m, "neither a type nor a value");
}

static void test_bad_tensors(void **state)
{
    (void)state;
    mini m;
    uint8_t raw[64] = { 0 };
    /* dims whose product overflows */
    mini_init(&m);
    mini_with_init(&m);
    m.init.n_dims = 4;
    m.dims[0] = m.dims[1] = m.dims[2] = m.dims[3] = (int64_t)1 << 40;
    mini_expect_error(&m, "tensor 'w'");
    /* negative dim */
    mini_init(&m);
    mini_with_init(&m);
    m.dims[0] = -3;
    mini_expect_error(&m, "dimension 0 is negative (-3)");
    /* huge but representable shape with no data: rejected before allocating */
    mini_init(&m);
    mini_with_init(&m);
    m.init.n_dims = 2;
    m.dims[0] = m.dims[1] = (int64_t)1 << 30;
    m.init.has_raw_data = 1;
    m.init.raw_data.data = raw;
    m.init.raw_data.len = 16;
    mini_expect_error(&m, "raw_data has 16 bytes, expected");
    /* raw_data of the wrong length */
    mini_init(&m);
    mini_with_init(&m);
    m.init.has_raw_data = 1;
    m.init.raw_data.data = raw;
    m.init.raw_data.len = 15;
    mini_expect_error(&m, "tensor 'w' (FLOAT[4]): raw_data has 15 bytes, expected 16");
    /* typed data of the wrong count */
    mini_init(&m);
    mini_with_init(&m);
    m.init.float_data = m.fdata;
    m.init.n_float_data = 3;
    mini_expect_error(&m, "float_data has 3 values, expected 4");
    /* no data at all */
    mini_init(&m);
    mini_with_init(&m);
    mini_expect_error(&m, "float_data has 0 values, expected 4");
    /* data in the wrong field */
    mini_init(&m);
    mini_with_init(&m);
    int64_t i64[4] = { 1, 2, 3, 4 };
    m.init.int64_data = i64;
    m.init.n_int64_data = 4;
    mini_expect_error(&m, "has values in int64_data; that type is stored in float_data");
    /* both raw and typed */
    mini_init(&m);
    mini_with_init(&m);
    m.init.float_data = m.fdata;
    m.init.n_float_data = 4;
    m.init.has_raw_data = 1;
    m.init.raw_data.data = raw;
    m.init.raw_data.len = 16;
    mini_expect_error(&m, "both raw_data and float_data");
    /* unknown / missing / complex data types */
    mini_init(&m);
    mini_with_init(&m);
    m.init.data_type = 99;
    mini_expect_error(&m, "unknown data_type 99");
    mini_init(&m);
    mini_with_init(&m);
    m.init.has_data_type = 0;
    mini_expect_error(&m, "has no data_type");
    mini_init(&m);
    mini_with_init(&m);
    m.init.data_type = OCS_COMPLEX64;
    mini_expect_error(&m, "complex");
    /* rank beyond OCS_MAX_RANK */
    mini_init(&m);
    mini_with_init(&m);
    int64_t many[20];
    for (int k = 0; k < 20; k++)
        many[k] = 1;
    m.init.dims = many;
    m.init.n_dims = 20;
    mini_expect_error(&m, "rank 20");
    /* segments */
    mini_init(&m);
    mini_with_init(&m);
    Onnx__TensorProto__Segment seg = ONNX__TENSOR_PROTO__SEGMENT__INIT;
    m.init.segment = &seg;
    mini_expect_error(&m, "segment");
    /* strings in raw_data */
    mini_init(&m);
    mini_with_init(&m);
    m.init.data_type = OCS_STRING;
    m.init.has_raw_data = 1;
    m.init.raw_data.data = raw;
    m.init.raw_data.len = 4;
    mini_expect_error(&m, "STRING tensors must use string_data");
    /* initializer without a name */
    mini_init(&m);
    mini_with_init(&m);
    m.init.name = NULL;
    m.init.float_data = m.fdata;
    m.init.n_float_data = 4;
    mini_expect_error(&m, "initializer #0 has no name");
}

/* ---- external data ------------------------------------------------------------------------ */

typedef struct ext_fixture {
    char dir[256];
    char outside[256];
    char model[512];
} ext_fixture;

static void ext_setup(ext_fixture *fx)
{
    strcpy(fx->dir, "/tmp/ocs-model-XXXXXX");
    strcpy(fx->outside, "/tmp/ocs-outside-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    assert_non_null(mkdtemp(fx->outside));
    char p[600];
    float w[4] = { 1.0f, -2.0f, 3.5f, 8.0f };
    snprintf(p, sizeof p, "%s/w.bin", fx->dir);
    write_all_file(p, w, sizeof w);
    snprintf(p, sizeof p, "%s/secret.bin", fx->outside);
    write_all_file(p, w, sizeof w);
    snprintf(p, sizeof p, "%s/sub", fx->dir);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(p, sizeof p, "%s/sub/w2.bin", fx->dir);
    write_all_file(p, w, sizeof w);
    char target[600];
    snprintf(target, sizeof target, "%s/secret.bin", fx->outside);
    snprintf(p, sizeof p, "%s/out_link", fx->dir);
    assert_int_equal(symlink(target, p), 0);
    snprintf(p, sizeof p, "%s/in_link", fx->dir);
    assert_int_equal(symlink("w.bin", p), 0);
    snprintf(p, sizeof p, "%s/dir_link", fx->dir);
    assert_int_equal(symlink(fx->outside, p), 0);
    snprintf(p, sizeof p, "%s/fifo", fx->dir);
    assert_int_equal(mkfifo(p, 0600), 0);
    snprintf(fx->model, sizeof fx->model, "%s/model.onnx", fx->dir);
}

static void ext_teardown(ext_fixture *fx)
{
    const char *files[] = { "w.bin", "sub/w2.bin", "out_link", "in_link", "dir_link", "fifo",
                            "model.onnx", "saved.onnx", "t.pb" };
    char p[600];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", fx->dir, files[i]);
        unlink(p);
    }
    snprintf(p, sizeof p, "%s/sub", fx->dir);
    rmdir(p);
    rmdir(fx->dir);
    snprintf(p, sizeof p, "%s/secret.bin", fx->outside);
    unlink(p);
    rmdir(fx->outside);
}

/* Writes the mini model with external "w" and loads it from its file. */
static ocs_status ext_load(ext_fixture *fx, const char *loc, const char *off, const char *len,
                           ocs_model **out, ocs_err *err)
{
    mini m;
    mini_init(&m);
    mini_external(&m, loc, off, len);
    size_t n;
    uint8_t *buf = pack_msg(&m.model.base, &n);
    write_all_file(fx->model, buf, n);
    free(buf);
    *out = NULL;
    return ocs_model_load_file(fx->model, out, err);
}

static void ext_expect(ext_fixture *fx, const char *loc, const char *off, const char *len, const char *want)
{
    ocs_model *m;
    ocs_err err;
    ocs_status s = ext_load(fx, loc, off, len, &m, &err);
    ocs_model_free(m);
    expect_error(s, &err, want);
}

static void ext_expect_ok(ext_fixture *fx, const char *loc, const char *off, const char *len)
{
    ocs_model *m;
    ocs_err err;
    if (ext_load(fx, loc, off, len, &m, &err) != OCS_OK)
        fail_msg("location '%s': %s", loc, err.msg);
    const ocs_tensor *t = m->graph->inits[0].tensor;
    assert_int_equal(t->numel, 4);
    assert_true(((float *)t->data)[2] == 3.5f);
    ocs_model_free(m);
}

static void test_external_data(void **state)
{
    (void)state;
    ext_fixture fx;
    ext_setup(&fx);
    ext_expect_ok(&fx, "w.bin", NULL, NULL);
    ext_expect_ok(&fx, "w.bin", "0", "16");
    ext_expect_ok(&fx, "sub/w2.bin", NULL, "16");
    ext_expect_ok(&fx, "./w.bin", NULL, NULL);
    ext_expect_ok(&fx, "in_link", NULL, NULL);   /* a symlink that stays inside */

    char abs[600];
    snprintf(abs, sizeof abs, "%s/w.bin", fx.dir);
    ext_expect(&fx, abs, NULL, NULL, "is an absolute path");
    ext_expect(&fx, "../w.bin", NULL, NULL, "'..' component");
    ext_expect(&fx, "sub/../w.bin", NULL, NULL, "'..' component");
    ext_expect(&fx, "sub\\..\\w.bin", NULL, NULL, "'..' component");
    ext_expect(&fx, "out_link", NULL, NULL, "outside the model's folder");
    ext_expect(&fx, "dir_link/secret.bin", NULL, NULL, "outside the model's folder");
    ext_expect(&fx, "sub", NULL, NULL, "a directory, not a regular file");
    ext_expect(&fx, "fifo", NULL, NULL, "a FIFO, not a regular file");
    ext_expect(&fx, "missing.bin", NULL, NULL, "No such file");
    ext_expect(&fx, "", NULL, NULL, "no 'location'");
    ext_expect(&fx, NULL, "0", NULL, "no 'location'");
    ext_expect(&fx, "w.bin", "17", NULL, "offset 17 is beyond the end of the file (16 bytes)");
    ext_expect(&fx, "w.bin", "8", "16", "offset 8 + length 16 is beyond the end of the file");
    ext_expect(&fx, "w.bin", "0", "99999999999999999999999", "too large");
    ext_expect(&fx, "w.bin", "-4", NULL, "not a non-negative integer");
    ext_expect(&fx, "w.bin", "abc", NULL, "not a non-negative integer");
    ext_expect(&fx, "w.bin", "4", NULL, "external data has 12 bytes, expected 16");
    ext_expect(&fx, "w.bin", "0", "8", "external data has 8 bytes, expected 16");

    /* external data and inline data together */
    mini m;
    mini_init(&m);
    mini_external(&m, "w.bin", NULL, NULL);
    m.init.float_data = m.fdata;
    m.init.n_float_data = 4;
    ocs_model *om;
    ocs_err err;
    expect_error(mini_load(&m, fx.dir, &om, &err), &err, "also has inline data");
    /* from memory without a folder */
    mini_init(&m);
    mini_external(&m, "w.bin", NULL, NULL);
    expect_error(mini_load(&m, NULL, &om, &err), &err, "folder is unknown");
    /* from memory with the folder */
    assert_int_equal(mini_load(&m, fx.dir, &om, &err), OCS_OK);
    assert_string_equal(om->dir, fx.dir);

    /* saving writes the data inline; the saved file loads without the data file */
    char saved[600];
    snprintf(saved, sizeof saved, "%s/saved.onnx", fx.dir);
    assert_int_equal(ocs_model_save_file(om, saved, &err), OCS_OK);
    ocs_model *back;
    assert_int_equal(ocs_model_load_file(saved, &back, &err), OCS_OK);
    diff d = { "" };
    if (!model_eq(om, back, &d))
        fail_msg("saved model differs: %s", d.where);
    ocs_model_free(back);
    struct stat st;
    assert_int_equal(stat(saved, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    /* saving into a folder that does not exist fails cleanly */
    expect_error(ocs_model_save_file(om, "/nonexistent-dir/x.onnx", &err), &err, "temporary file");
    ocs_model_free(om);
    ext_teardown(&fx);
}

/* ---- (c) tensors from typed fields and raw data ------------------------------------------- */

static ocs_tensor *load_tp(Onnx__TensorProto *tp, ocs_err *err, ocs_status *st)
{
    size_t len;
    uint8_t *buf = pack_msg(&tp->base, &len);
    ocs_tensor *t = NULL;
    char *name = NULL;
    *st = ocs_tensor_load_memory(buf, len, NULL, &t, &name, err);
    free(buf);
    if (*st == OCS_OK)
        assert_string_equal(name, tp->name ? tp->name : "");
    free(name);
    return t;
}

/* Loads the same values once from int32_data and once from raw_data. */
static void typed_vs_raw(ocs_dtype dt, const int32_t *typed, size_t n_typed, const uint8_t *raw,
                         size_t raw_len, int64_t dim, ocs_tensor **a, ocs_tensor **b)
{
    Onnx__TensorProto tp = ONNX__TENSOR_PROTO__INIT;
    int64_t dims[1] = { dim };
    tp.name = "v";
    tp.has_data_type = 1;
    tp.data_type = (int32_t)dt;
    tp.dims = dims;
    tp.n_dims = 1;
    tp.int32_data = (int32_t *)typed;
    tp.n_int32_data = n_typed;
    ocs_err err;
    ocs_status st;
    *a = load_tp(&tp, &err, &st);
    if (st != OCS_OK)
        fail_msg("%s from int32_data: %s", ocs_dtype_name(dt), err.msg);
    tp.int32_data = NULL;
    tp.n_int32_data = 0;
    tp.has_raw_data = 1;
    tp.raw_data.data = (uint8_t *)raw;
    tp.raw_data.len = raw_len;
    *b = load_tp(&tp, &err, &st);
    if (st != OCS_OK)
        fail_msg("%s from raw_data: %s", ocs_dtype_name(dt), err.msg);
    assert_true(ocs_tensor_equal(*a, *b));
}

/* Saves t to a file and loads it back: must be equal. */
static void save_reload(const ocs_tensor *t)
{
    char dir[] = "/tmp/ocs-tensor-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char p[128];
    snprintf(p, sizeof p, "%s/t.pb", dir);
    ocs_err err;
    if (ocs_tensor_save_file(t, "saved", p, &err) != OCS_OK)
        fail_msg("save: %s", err.msg);
    ocs_tensor *back;
    char *name;
    if (ocs_tensor_load_file(p, &back, &name, &err) != OCS_OK)
        fail_msg("reload: %s", err.msg);
    assert_string_equal(name, "saved");
    assert_true(ocs_tensor_equal(t, back));
    free(name);
    ocs_tensor_free(back);
    unlink(p);
    rmdir(dir);
}

static void test_float16_typed_vs_raw(void **state)
{
    (void)state;
    /* 1.0, -2.0, 65504 (max), smallest subnormal, NaN */
    const uint16_t bits[5] = { 0x3c00, 0xc000, 0x7bff, 0x0001, 0x7e00 };
    int32_t typed[5];
    uint8_t raw[10];
    for (int i = 0; i < 5; i++) {
        typed[i] = bits[i];
        raw[2 * i] = (uint8_t)(bits[i] & 0xff);
        raw[2 * i + 1] = (uint8_t)(bits[i] >> 8);
    }
    ocs_tensor *a, *b;
    typed_vs_raw(OCS_FLOAT16, typed, 5, raw, 10, 5, &a, &b);
    const uint16_t *h = a->data;
    for (int i = 0; i < 5; i++)
        assert_int_equal(h[i], bits[i]);
    assert_true(ocs_half_to_float(h[1]) == -2.0f);
    save_reload(a);
    ocs_tensor_free(a);
    ocs_tensor_free(b);
    /* bfloat16 the same way */
    typed_vs_raw(OCS_BFLOAT16, typed, 5, raw, 10, 5, &a, &b);
    save_reload(a);
    ocs_tensor_free(a);
    ocs_tensor_free(b);
}

static void test_int4_typed_vs_raw(void **state)
{
    (void)state;
    /* elements -8, -1, 0, 7, 3: packed low nibble first, odd count pads the last byte */
    const int8_t want[5] = { -8, -1, 0, 7, 3 };
    const uint8_t packed[3] = { 0xf8, 0x70, 0x03 };
    int32_t typed[3] = { packed[0], packed[1], packed[2] };
    ocs_tensor *a, *b;
    typed_vs_raw(OCS_INT4, typed, 3, packed, 3, 5, &a, &b);
    for (int i = 0; i < 5; i++)
        assert_int_equal(((int8_t *)a->data)[i], want[i]);
    save_reload(a);
    ocs_tensor_free(a);
    ocs_tensor_free(b);
    /* UINT4: the same bits, no sign */
    typed_vs_raw(OCS_UINT4, typed, 3, packed, 3, 5, &a, &b);
    const uint8_t uwant[5] = { 8, 15, 0, 7, 3 };
    for (int i = 0; i < 5; i++)
        assert_int_equal(((uint8_t *)a->data)[i], uwant[i]);
    save_reload(a);
    ocs_tensor_free(a);
    ocs_tensor_free(b);
    /* INT2: four per byte; 0b11 = -1, 0b10 = -2, 0b01 = 1, 0b00 = 0 */
    const uint8_t p2[2] = { 0x1e /* 00 01 11 10 -> -2, -1, 1, 0 */, 0x01 };
    int32_t t2[2] = { p2[0], p2[1] };
    typed_vs_raw(OCS_INT2, t2, 2, p2, 2, 5, &a, &b);
    const int8_t w2[5] = { -2, -1, 1, 0, 1 };
    for (int i = 0; i < 5; i++)
        assert_int_equal(((int8_t *)a->data)[i], w2[i]);
    save_reload(a);
    ocs_tensor_free(a);
    ocs_tensor_free(b);
    /* wrong packed counts */
    Onnx__TensorProto tp = ONNX__TENSOR_PROTO__INIT;
    int64_t dims[1] = { 5 };
    tp.has_data_type = 1;
    tp.data_type = OCS_INT4;
    tp.dims = dims;
    tp.n_dims = 1;
    tp.int32_data = typed;
    tp.n_int32_data = 2;
    ocs_err err;
    ocs_status st;
    ocs_tensor *t = load_tp(&tp, &err, &st);
    assert_null(t);
    expect_error(st, &err, "int32_data has 2 values, expected 3 (packed bytes)");
    tp.n_int32_data = 0;
    tp.has_raw_data = 1;
    tp.raw_data.data = (uint8_t *)packed;
    tp.raw_data.len = 2;
    t = load_tp(&tp, &err, &st);
    expect_error(st, &err, "raw_data has 2 bytes, expected 3");
}

static void test_other_typed_fields(void **state)
{
    (void)state;
    ocs_err err;
    ocs_status st;
    int64_t dims[1] = { 3 };
    Onnx__TensorProto tp = ONNX__TENSOR_PROTO__INIT;
    tp.has_data_type = 1;
    tp.dims = dims;
    tp.n_dims = 1;
    /* UINT32 and UINT64 from uint64_data */
    uint64_t u64[3] = { 0, 4000000000ULL, 18446744073709551615ULL };
    tp.data_type = OCS_UINT64;
    tp.uint64_data = u64;
    tp.n_uint64_data = 3;
    ocs_tensor *t = load_tp(&tp, &err, &st);
    assert_int_equal(st, OCS_OK);
    assert_true(((uint64_t *)t->data)[2] == 18446744073709551615ULL);
    save_reload(t);
    ocs_tensor_free(t);
    tp.data_type = OCS_UINT32;
    t = load_tp(&tp, &err, &st);
    assert_int_equal(st, OCS_OK);
    assert_true(((uint32_t *)t->data)[1] == 4000000000U);
    ocs_tensor_free(t);
    tp.uint64_data = NULL;
    tp.n_uint64_data = 0;
    /* BOOL and INT8 from int32_data */
    int32_t i32[3] = { 0, 1, -5 };
    tp.int32_data = i32;
    tp.n_int32_data = 3;
    tp.data_type = OCS_BOOL;
    t = load_tp(&tp, &err, &st);
    assert_int_equal(st, OCS_OK);
    assert_int_equal(((uint8_t *)t->data)[2], 1);
    ocs_tensor_free(t);
    tp.data_type = OCS_INT8;
    t = load_tp(&tp, &err, &st);
    assert_int_equal(st, OCS_OK);
    assert_int_equal(((int8_t *)t->data)[2], -5);
    save_reload(t);
    ocs_tensor_free(t);
    tp.int32_data = NULL;
    tp.n_int32_data = 0;
    /* DOUBLE */
    double dv[3] = { 0.1, -1e300, 5 };
    tp.data_type = OCS_DOUBLE;
    tp.double_data = dv;
    tp.n_double_data = 3;
    t = load_tp(&tp, &err, &st);
    assert_int_equal(st, OCS_OK);
    assert_true(((double *)t->data)[1] == -1e300);
    save_reload(t);
    ocs_tensor_free(t);
    tp.double_data = NULL;
    tp.n_double_data = 0;
    /* STRING, with an embedded NUL */
    ProtobufCBinaryData sv[3] = { { 0, (uint8_t *)"" }, { 3, (uint8_t *)"a\0b" }, { 5, (uint8_t *)"hello" } };
    tp.data_type = OCS_STRING;
    tp.string_data = sv;
    tp.n_string_data = 3;
    t = load_tp(&tp, &err, &st);
    assert_int_equal(st, OCS_OK);
    const ocs_string *s = t->data;
    assert_int_equal(s[1].len, 3);
    assert_memory_equal(s[1].data, "a\0b", 3);
    assert_string_equal(s[2].data, "hello");
    save_reload(t);
    ocs_tensor_free(t);
    /* scalar and empty tensors */
    tp.string_data = NULL;
    tp.n_string_data = 0;
    tp.data_type = OCS_FLOAT;
    float one = 1.0f;
    tp.n_dims = 0;
    tp.float_data = &one;
    tp.n_float_data = 1;
    t = load_tp(&tp, &err, &st);
    assert_int_equal(st, OCS_OK);
    assert_int_equal(t->rank, 0);
    assert_int_equal(t->numel, 1);
    save_reload(t);
    ocs_tensor_free(t);
    int64_t zdims[2] = { 3, 0 };
    tp.dims = zdims;
    tp.n_dims = 2;
    tp.float_data = NULL;
    tp.n_float_data = 0;
    t = load_tp(&tp, &err, &st);
    assert_int_equal(st, OCS_OK);
    assert_int_equal(t->numel, 0);
    save_reload(t);
    ocs_tensor_free(t);
    /* not a TensorProto at all */
    ocs_tensor *bad;
    expect_error(ocs_tensor_load_memory("\xff\xff\xff", 3, NULL, &bad, NULL, &err), &err, "TensorProto");
}

/* ---- sparse initializers and model-local functions ---------------------------------------- */

static void test_sparse_initializer(void **state)
{
    (void)state;
    mini m;
    mini_init(&m);
    /* dense [2,3]; values at (0,1)=5 and (1,2)=7 */
    float vals[2] = { 5.0f, 7.0f };
    int64_t vdims[1] = { 2 }, idims[2] = { 2, 2 }, ind[4] = { 0, 1, 1, 2 }, dense[2] = { 2, 3 };
    Onnx__TensorProto values = ONNX__TENSOR_PROTO__INIT, indices = ONNX__TENSOR_PROTO__INIT;
    values.name = "sp";
    values.has_data_type = 1;
    values.data_type = OCS_FLOAT;
    values.dims = vdims;
    values.n_dims = 1;
    values.float_data = vals;
    values.n_float_data = 2;
    indices.has_data_type = 1;
    indices.data_type = OCS_INT64;
    indices.dims = idims;
    indices.n_dims = 2;
    indices.int64_data = ind;
    indices.n_int64_data = 4;
    Onnx__SparseTensorProto sp = ONNX__SPARSE_TENSOR_PROTO__INIT;
    sp.values = &values;
    sp.indices = &indices;
    sp.dims = dense;
    sp.n_dims = 2;
    Onnx__SparseTensorProto *sps[1] = { &sp };
    m.graph.sparse_initializer = sps;
    m.graph.n_sparse_initializer = 1;
    ocs_model *om;
    ocs_err err;
    assert_int_equal(mini_load(&m, NULL, &om, &err), OCS_OK);
    assert_int_equal(om->graph->n_inits, 1);
    assert_string_equal(om->graph->inits[0].name, "sp");
    const ocs_tensor *t = om->graph->inits[0].tensor;
    assert_int_equal(t->rank, 2);
    const float want[6] = { 0, 5, 0, 0, 0, 7 };
    assert_memory_equal(t->data, want, sizeof want);
    ocs_model_free(om);
    /* linearised indices */
    int64_t lin[2] = { 1, 5 }, ldims[1] = { 2 };
    indices.int64_data = lin;
    indices.n_int64_data = 2;
    indices.dims = ldims;
    indices.n_dims = 1;
    assert_int_equal(mini_load(&m, NULL, &om, &err), OCS_OK);
    assert_memory_equal(om->graph->inits[0].tensor->data, want, sizeof want);
    ocs_model_free(om);
    /* an index out of range */
    lin[1] = 6;
    mini_expect_error(&m, "sparse tensor index 6 (entry 1) is outside");
    lin[1] = 5;
    /* indices of the wrong shape */
    ldims[0] = 3;
    int64_t lin3[3] = { 0, 1, 2 };
    indices.int64_data = lin3;
    indices.n_int64_data = 3;
    mini_expect_error(&m, "indices have shape [3]");
}

static void test_functions(void **state)
{
    (void)state;
    mini m;
    mini_init(&m);
    m.node.op_type = "MyRelu";
    m.node.domain = "com.example";
    m.node.overload = "v2";
    Onnx__OperatorSetIdProto ex = ONNX__OPERATOR_SET_ID_PROTO__INIT;
    ex.domain = "com.example";
    ex.has_version = 1;
    ex.version = 1;
    Onnx__OperatorSetIdProto *os[2] = { &m.opset, &ex };
    m.model.opset_import = os;
    m.model.n_opset_import = 2;

    /* body: Y = LeakyRelu(X) with alpha referring to the function's "alpha" */
    Onnx__FunctionProto fn = ONNX__FUNCTION_PROTO__INIT;
    fn.name = "MyRelu";
    fn.domain = "com.example";
    fn.overload = "v2";
    char *fin[1] = { "X" }, *fout[1] = { "Y" }, *fattr[1] = { "beta" };
    fn.input = fin;
    fn.n_input = 1;
    fn.output = fout;
    fn.n_output = 1;
    fn.attribute = fattr;
    fn.n_attribute = 1;
    Onnx__AttributeProto dflt = ONNX__ATTRIBUTE_PROTO__INIT;
    dflt.name = "alpha";
    dflt.has_type = 1;
    dflt.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
    dflt.has_f = 1;
    dflt.f = 0.1f;
    Onnx__AttributeProto *dflts[1] = { &dflt };
    fn.attribute_proto = dflts;
    fn.n_attribute_proto = 1;
    Onnx__NodeProto body = ONNX__NODE_PROTO__INIT;
    body.op_type = "LeakyRelu";
    body.input = fin;
    body.n_input = 1;
    body.output = fout;
    body.n_output = 1;
    Onnx__AttributeProto ref = ONNX__ATTRIBUTE_PROTO__INIT;
    ref.name = "alpha";
    ref.has_type = 1;
    ref.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
    ref.ref_attr_name = "alpha";
    Onnx__AttributeProto *refs[1] = { &ref };
    body.attribute = refs;
    body.n_attribute = 1;
    Onnx__NodeProto *bodies[1] = { &body };
    fn.node = bodies;
    fn.n_node = 1;
    Onnx__OperatorSetIdProto *fos[1] = { &m.opset };
    fn.opset_import = fos;
    fn.n_opset_import = 1;
    Onnx__FunctionProto *fns[2] = { &fn, &fn };
    m.model.functions = fns;
    m.model.n_functions = 1;

    ocs_model *om;
    ocs_err err;
    if (mini_load(&m, NULL, &om, &err) != OCS_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(ocs_model_opset(om, "com.example"), 1);
    const ocs_function *f = ocs_model_function(om, "com.example", "MyRelu", "v2");
    assert_non_null(f);
    assert_null(ocs_model_function(om, "com.example", "MyRelu", NULL));
    assert_null(ocs_model_function(om, "", "MyRelu", "v2"));
    assert_int_equal(f->n_attr_defaults, 1);
    assert_true(f->attr_defaults[0].f == 0.1f);
    assert_int_equal(f->n_attr_names, 1);
    assert_string_equal(f->attr_names[0], "beta");
    assert_string_equal(f->nodes[0].attrs[0].ref_attr_name, "alpha");
    assert_int_equal(f->nodes[0].attrs[0].type, OCS_ATTR_FLOAT);
    assert_string_equal(om->graph->nodes[0].overload, "v2");
    /* the getter refuses an unresolved reference */
    float fv;
    expect_error(ocs_node_attr_float(&f->nodes[0], "alpha", 0, &fv, &err), &err, "not resolved");

    /* load -> save -> load keeps functions */
    void *buf;
    size_t len;
    assert_int_equal(ocs_model_save_memory(om, &buf, &len, &err), OCS_OK);
    ocs_model *back;
    assert_int_equal(ocs_model_load_memory(buf, len, NULL, &back, &err), OCS_OK);
    diff d = { "" };
    if (!model_eq(om, back, &d))
        fail_msg("reloaded model differs: %s", d.where);
    free(buf);
    ocs_model_free(back);
    ocs_model_free(om);

    /* the same function twice */
    m.model.n_functions = 2;
    mini_expect_error(&m, "is defined twice");
    m.model.n_functions = 1;
    /* a name both with and without a default */
    fattr[0] = "alpha";
    mini_expect_error(&m, "listed both with and without a default");
    fattr[0] = "beta";
    /* a reference without a type */
    ref.has_type = 0;
    mini_expect_error(&m, "refers to 'alpha' but has no type");
}

/* Every attribute kind through save and load. */
static void test_all_attribute_kinds(void **state)
{
    (void)state;
    ocs_model *om;
    ocs_err err;
    mini m;
    mini_init(&m);
    Onnx__AttributeProto a[14];
    Onnx__AttributeProto *ap[14];
    for (int i = 0; i < 14; i++) {
        onnx__attribute_proto__init(&a[i]);
        a[i].has_type = 1;
        ap[i] = &a[i];
    }
    float fl[2] = { 1.5f, -2.0f };
    int64_t il[3] = { 1, -2, 3 };
    ProtobufCBinaryData sl[2] = { { 1, (uint8_t *)"a" }, { 2, (uint8_t *)"bc" } };
    Onnx__TensorProto t = ONNX__TENSOR_PROTO__INIT;
    float tv[2] = { 1, 2 };
    int64_t td[1] = { 2 };
    t.has_data_type = 1;
    t.data_type = OCS_FLOAT;
    t.dims = td;
    t.n_dims = 1;
    t.float_data = tv;
    t.n_float_data = 2;
    Onnx__TensorProto *tl[2] = { &t, &t };
    Onnx__GraphProto sub = ONNX__GRAPH_PROTO__INIT;
    sub.name = "sub";
    Onnx__GraphProto *gl[2] = { &sub, &sub };
    Onnx__TensorProto ind = ONNX__TENSOR_PROTO__INIT;
    int64_t iv[2] = { 0, 3 };
    ind.has_data_type = 1;
    ind.data_type = OCS_INT64;
    ind.dims = td;
    ind.n_dims = 1;
    ind.int64_data = iv;
    ind.n_int64_data = 2;
    Onnx__SparseTensorProto sp = ONNX__SPARSE_TENSOR_PROTO__INIT;
    int64_t sd[1] = { 4 };
    sp.values = &t;
    sp.indices = &ind;
    sp.dims = sd;
    sp.n_dims = 1;
    Onnx__SparseTensorProto *spl[1] = { &sp };
    Onnx__TypeProto tp = ONNX__TYPE_PROTO__INIT, inner = ONNX__TYPE_PROTO__INIT;
    Onnx__TypeProto__Sequence seq = ONNX__TYPE_PROTO__SEQUENCE__INIT;
    Onnx__TypeProto__Tensor tt = ONNX__TYPE_PROTO__TENSOR__INIT;
    Onnx__TensorShapeProto shape = ONNX__TENSOR_SHAPE_PROTO__INIT;
    Onnx__TensorShapeProto__Dimension d0 = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__INIT,
                                      d1 = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__INIT;
    d0.value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
    d0.dim_param = "N";
    d1.value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
    d1.dim_value = 8;
    Onnx__TensorShapeProto__Dimension *dl[2] = { &d0, &d1 };
    shape.dim = dl;
    shape.n_dim = 2;
    tt.has_elem_type = 1;
    tt.elem_type = OCS_FLOAT16;
    tt.shape = &shape;
    inner.value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    inner.tensor_type = &tt;
    seq.elem_type = &inner;
    tp.value_case = ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE;
    tp.sequence_type = &seq;
    Onnx__TypeProto *tpl[2] = { &tp, &inner };

    const char *names[14] = { "f", "i", "s", "t", "g", "fs", "is", "ss", "ts", "gs", "sp", "sps", "tp", "tps" };
    for (int i = 0; i < 14; i++)
        a[i].name = (char *)names[i];
    a[0].type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT; a[0].has_f = 1; a[0].f = 3.25f;
    a[1].type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT; a[1].has_i = 1; a[1].i = -9;
    a[2].type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING; a[2].has_s = 1; a[2].s = sl[1];
    a[3].type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR; a[3].t = &t;
    a[4].type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH; a[4].g = &sub;
    a[5].type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS; a[5].floats = fl; a[5].n_floats = 2;
    a[6].type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS; a[6].ints = il; a[6].n_ints = 3;
    a[7].type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS; a[7].strings = sl; a[7].n_strings = 2;
    a[8].type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSORS; a[8].tensors = tl; a[8].n_tensors = 2;
    a[9].type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPHS; a[9].graphs = gl; a[9].n_graphs = 2;
    a[10].type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSOR; a[10].sparse_tensor = &sp;
    a[11].type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSORS; a[11].sparse_tensors = spl;
    a[11].n_sparse_tensors = 1;
    a[12].type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TYPE_PROTO; a[12].tp = &tp;
    a[13].type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TYPE_PROTOS; a[13].type_protos = tpl;
    a[13].n_type_protos = 2;
    m.node.attribute = ap;
    m.node.n_attribute = 14;
    /* graph output with a map type */
    Onnx__TypeProto mt = ONNX__TYPE_PROTO__INIT;
    Onnx__TypeProto__Map map = ONNX__TYPE_PROTO__MAP__INIT;
    map.has_key_type = 1;
    map.key_type = OCS_STRING;
    map.value_type = &inner;
    mt.value_case = ONNX__TYPE_PROTO__VALUE_MAP_TYPE;
    mt.map_type = &map;
    m.out.type = &mt;

    if (mini_load(&m, NULL, &om, &err) != OCS_OK)
        fail_msg("%s", err.msg);
    const ocs_node *n = &om->graph->nodes[0];
    for (int i = 0; i < 14; i++)
        assert_int_equal(n->attrs[i].type, (ocs_attr_type)a[i].type);
    assert_int_equal(n->attrs[2].s.len, 2);
    assert_string_equal(n->attrs[4].g->name, "sub");
    assert_int_equal(n->attrs[9].n, 2);
    assert_int_equal(n->attrs[10].sparse->rank, 1);
    ocs_tensor *dense;
    assert_int_equal(ocs_sparse_to_dense(n->attrs[10].sparse, &dense, &err), OCS_OK);
    const float dw[4] = { 1, 0, 0, 2 };
    assert_memory_equal(dense->data, dw, sizeof dw);
    ocs_tensor_free(dense);
    const ocs_type *ty = n->attrs[12].tp;
    assert_int_equal(ty->kind, OCS_TYPE_SEQUENCE);
    assert_int_equal(ty->inner->kind, OCS_TYPE_TENSOR);
    assert_int_equal(ty->inner->elem, OCS_FLOAT16);
    assert_int_equal(ty->inner->rank, 2);
    assert_int_equal(ty->inner->dims[0].value, -1);
    assert_string_equal(ty->inner->dims[0].param, "N");
    assert_int_equal(ty->inner->dims[1].value, 8);
    const ocs_type *ot = &om->graph->outputs[0].type;
    assert_int_equal(ot->kind, OCS_TYPE_MAP);
    assert_int_equal(ot->elem, OCS_STRING);
    assert_int_equal(ot->inner->kind, OCS_TYPE_TENSOR);
    const ocs_graph *g;
    assert_int_equal(ocs_node_attr_graph(n, "g", &g, &err), OCS_OK);
    assert_string_equal(g->name, "sub");
    const ocs_tensor *at;
    assert_int_equal(ocs_node_attr_tensor(n, "t", &at, &err), OCS_OK);
    assert_int_equal(at->numel, 2);

    void *buf;
    size_t len;
    assert_int_equal(ocs_model_save_memory(om, &buf, &len, &err), OCS_OK);
    ocs_model *back;
    assert_int_equal(ocs_model_load_memory(buf, len, NULL, &back, &err), OCS_OK);
    diff d = { "" };
    if (!model_eq(om, back, &d))
        fail_msg("reloaded model differs: %s", d.where);
    free(buf);
    ocs_model_free(back);
    ocs_model_free(om);
}

/* ---- (d) sequences, optionals and maps as test data ---------------------------------------- */

static ocs_value *load_node_value(const char *test, const char *file, int output, size_t index)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/onnx-v1.22.0/node/%s/model.onnx", shared_dir(), test);
    ocs_model *m;
    ocs_err err;
    if (ocs_model_load_file(p, &m, &err) != OCS_OK)
        fail_msg("%s", err.msg);
    const ocs_type *t = output ? &m->graph->outputs[index].type : &m->graph->inputs[index].type;
    snprintf(p, sizeof p, "%s/onnx-v1.22.0/node/%s/test_data_set_0/%s", shared_dir(), test, file);
    ocs_value *v;
    if (ocs_value_load_file(p, t, &v, &err) != OCS_OK)
        fail_msg("%s", err.msg);
    ocs_model_free(m);
    return v;
}

static void test_sequence_optional_data(void **state)
{
    (void)state;
    char root[4096];
    snprintf(root, sizeof root, "%s/onnx-v1.22.0/node/test_optional_get_element_sequence", shared_dir());
    if (!is_dir(root))
        skip();
    char desc[256];

    /* a sequence of one INT32[4] tensor */
    ocs_value *v = load_node_value("test_optional_get_element_sequence", "input_0.pb", 0, 0);
    assert_int_equal(v->kind, OCS_VALUE_SEQUENCE);
    assert_int_equal(v->n_items, 1);
    assert_int_equal(v->items[0]->kind, OCS_VALUE_TENSOR);
    assert_int_equal(v->items[0]->tensor->dtype, OCS_INT32);
    assert_string_equal(ocs_value_describe(v, desc, sizeof desc), "sequence(1)<INT32[4]>");
    ocs_value_free(v);

    /* an empty optional */
    v = load_node_value("test_optional_has_element_empty_optional_input", "input_0.pb", 0, 0);
    assert_int_equal(v->kind, OCS_VALUE_OPTIONAL);
    assert_null(v->inner);
    assert_string_equal(ocs_value_describe(v, desc, sizeof desc), "optional<none>");
    ocs_value_free(v);

    /* an optional holding a tensor */
    v = load_node_value("test_optional_get_element_optional_tensor", "input_0.pb", 0, 0);
    assert_int_equal(v->kind, OCS_VALUE_OPTIONAL);
    assert_non_null(v->inner);
    assert_int_equal(v->inner->kind, OCS_VALUE_TENSOR);
    ocs_value_free(v);

    /* an optional holding a sequence (If output) */
    v = load_node_value("test_if_opt", "output_0.pb", 1, 0);
    assert_int_equal(v->kind, OCS_VALUE_OPTIONAL);
    assert_int_equal(v->inner->kind, OCS_VALUE_SEQUENCE);
    assert_string_equal(ocs_value_describe(v, desc, sizeof desc), "optional<sequence(1)<FLOAT[5]>>");
    ocs_value_free(v);

    /* a sequence read as a tensor is an error, not a crash */
    snprintf(root, sizeof root, "%s/onnx-v1.22.0/node/test_identity_sequence/test_data_set_0/input_0.pb",
             shared_dir());
    ocs_err err;
    ocs_tensor *t;
    assert_int_not_equal(ocs_tensor_load_file(root, &t, NULL, &err), OCS_OK);
    assert_true(strlen(err.msg) > 0);
}

static void test_map_and_built_values(void **state)
{
    (void)state;
    /* map<INT64, tensor>: keys 3, 9 */
    Onnx__TensorProto t1 = ONNX__TENSOR_PROTO__INIT, t2 = ONNX__TENSOR_PROTO__INIT;
    float a = 1, b = 2;
    t1.has_data_type = t2.has_data_type = 1;
    t1.data_type = t2.data_type = OCS_FLOAT;
    t1.float_data = &a;
    t2.float_data = &b;
    t1.n_float_data = t2.n_float_data = 1;
    Onnx__TensorProto *tl[2] = { &t1, &t2 };
    Onnx__SequenceProto seq = ONNX__SEQUENCE_PROTO__INIT;
    seq.has_elem_type = 1;
    seq.elem_type = ONNX__SEQUENCE_PROTO__DATA_TYPE__TENSOR;
    seq.tensor_values = tl;
    seq.n_tensor_values = 2;
    Onnx__MapProto mp = ONNX__MAP_PROTO__INIT;
    int64_t keys[2] = { 3, 9 };
    mp.has_key_type = 1;
    mp.key_type = OCS_INT64;
    mp.keys = keys;
    mp.n_keys = 2;
    mp.values = &seq;
    size_t len;
    uint8_t *buf = pack_msg(&mp.base, &len);
    ocs_type mt = { 0 };
    mt.kind = OCS_TYPE_MAP;
    ocs_value *v;
    ocs_err err;
    assert_int_equal(ocs_value_load_memory(buf, len, &mt, NULL, &v, &err), OCS_OK);
    assert_int_equal(v->kind, OCS_VALUE_MAP);
    assert_int_equal(v->n_items, 2);
    assert_int_equal(((int64_t *)v->keys->data)[1], 9);
    assert_true(*(float *)v->items[1]->tensor->data == 2.0f);
    char desc[128];
    assert_string_equal(ocs_value_describe(v, desc, sizeof desc), "map(2)<INT64 -> FLOAT[]>");
    ocs_value_free(v);
    free(buf);
    /* keys and values of different counts */
    mp.n_keys = 1;
    buf = pack_msg(&mp.base, &len);
    expect_error(ocs_value_load_memory(buf, len, &mt, NULL, &v, &err), &err, "1 keys but 2 values");
    free(buf);

    /* a sequence with elements in the wrong list */
    seq.elem_type = ONNX__SEQUENCE_PROTO__DATA_TYPE__SEQUENCE;
    buf = pack_msg(&seq.base, &len);
    ocs_type st = { 0 };
    st.kind = OCS_TYPE_SEQUENCE;
    expect_error(ocs_value_load_memory(buf, len, &st, NULL, &v, &err), &err, "also holds 2 TENSOR elements");
    free(buf);

    /* an optional whose elem_type disagrees with its value */
    Onnx__OptionalProto op = ONNX__OPTIONAL_PROTO__INIT;
    op.has_elem_type = 1;
    op.elem_type = ONNX__OPTIONAL_PROTO__DATA_TYPE__SEQUENCE;
    op.tensor_value = &t1;
    buf = pack_msg(&op.base, &len);
    ocs_type ot = { 0 };
    ot.kind = OCS_TYPE_OPTIONAL;
    expect_error(ocs_value_load_memory(buf, len, &ot, NULL, &v, &err), &err, "SEQUENCE holds a TENSOR");
    free(buf);

    /* wrapping a tensor */
    ocs_tensor *t;
    int64_t dim = 2;
    assert_int_equal(ocs_tensor_new(OCS_INT64, 1, &dim, &t, &err), OCS_OK);
    assert_int_equal(ocs_value_from_tensor(t, &v, &err), OCS_OK);
    assert_string_equal(ocs_value_describe(v, desc, sizeof desc), "INT64[2]");
    ocs_value_free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mini_loads),
        cmocka_unit_test(test_not_a_model),
        cmocka_unit_test(test_attribute_getters),
        cmocka_unit_test(test_attribute_type_checks),
        cmocka_unit_test(test_bad_tensors),
        cmocka_unit_test(test_external_data),
        cmocka_unit_test(test_float16_typed_vs_raw),
        cmocka_unit_test(test_int4_typed_vs_raw),
        cmocka_unit_test(test_other_typed_fields),
        cmocka_unit_test(test_sparse_initializer),
        cmocka_unit_test(test_functions),
        cmocka_unit_test(test_all_attribute_kinds),
        cmocka_unit_test(test_map_and_built_values),
        cmocka_unit_test(test_nesting_bomb),
        cmocka_unit_test(test_truncated_models),
        cmocka_unit_test(test_corrupted_models),
        cmocka_unit_test(test_corrupted_values),
        cmocka_unit_test(test_sequence_optional_data),
        cmocka_unit_test(test_node_models_roundtrip_bytes),
        cmocka_unit_test(test_node_data_roundtrip),
        cmocka_unit_test(test_node_models_load_save_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
