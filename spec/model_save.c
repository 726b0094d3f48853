/*
 * spec/model_save.c - OCS structures to ONNX protobuf bytes and files.
 *
 * The writer builds a protobuf-c message tree in which every string, array
 * and sub-message is separately malloc'd, packs it, and frees it with
 * protobuf-c's own free function.  Tensors are written inline as raw_data
 * (little-endian; 4-bit and 2-bit types packed two or four to a byte, the
 * first element in the low bits); STRING tensors use string_data.  Sparse
 * initializers were densified by the loader and are written dense.  Files
 * are replaced atomically (temporary file, fsync, rename).
 */
#include "model_internal.h"
#include "external_data.h"

#include <stdlib.h>
#include <string.h>

/* Allocation failures are recorded here and reported once at the end. */
typedef struct builder {
    int failed;
} builder;

static void *b_alloc(builder *b, size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p)
        b->failed = 1;
    return p;
}

/* A copy of s, or NULL (field absent) when s is NULL or empty. */
static char *b_opt_str(builder *b, const char *s)
{
    if (!s || !*s)
        return NULL;
    char *d = ocs_str_dup(s);
    if (!d)
        b->failed = 1;
    return d;
}

/* A copy of s, "" when s is NULL: for entries that must be present. */
static char *b_str(builder *b, const char *s)
{
    char *d = ocs_str_dup(s ? s : "");
    if (!d)
        b->failed = 1;
    return d;
}

static ProtobufCBinaryData b_bytes(builder *b, const void *p, size_t n)
{
    ProtobufCBinaryData r = { 0, NULL };
    r.data = malloc(n ? n : 1);
    if (!r.data) {
        b->failed = 1;
        return r;
    }
    if (n)
        memcpy(r.data, p, n);
    r.len = n;
    return r;
}

static char **b_strv(builder *b, char *const *v, size_t n)
{
    if (n == 0)
        return NULL;
    char **r = b_alloc(b, n, sizeof *r);
    if (!r)
        return NULL;
    for (size_t i = 0; i < n; i++)
        r[i] = b_str(b, v[i]);
    return r;
}

static Onnx__StringStringEntryProto **b_kv(builder *b, const ocs_kv *kv, size_t n)
{
    if (n == 0)
        return NULL;
    Onnx__StringStringEntryProto **r = b_alloc(b, n, sizeof *r);
    if (!r)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        r[i] = b_alloc(b, 1, sizeof **r);
        if (!r[i])
            continue;
        onnx__string_string_entry_proto__init(r[i]);
        r[i]->key = b_str(b, kv[i].key);
        r[i]->value = b_str(b, kv[i].value);
    }
    return r;
}

/* ---- tensors --------------------------------------------------------------------------- */

static unsigned sub_byte_bits(ocs_dtype t)
{
    switch (t) {
    case OCS_INT4:
    case OCS_UINT4:
    case OCS_FLOAT4E2M1:
        return 4;
    case OCS_INT2:
    case OCS_UINT2:
        return 2;
    default:
        return 0;
    }
}

static int host_little_endian(void)
{
    const uint16_t one = 1;
    unsigned char c;
    memcpy(&c, &one, 1);
    return c == 1;
}

/* Fills raw with the file encoding of t's elements. */
static void encode_raw(const ocs_tensor *t, uint8_t *raw, size_t raw_len)
{
    const uint8_t *src = t->data;
    unsigned bits = sub_byte_bits(t->dtype);
    size_t esz = ocs_dtype_size(t->dtype);
    if (bits) {
        unsigned per = 8 / bits, mask = (1u << bits) - 1;
        memset(raw, 0, raw_len);
        for (size_t i = 0; i < t->numel; i++)
            raw[i / per] |= (uint8_t)((src[i] & mask) << ((i % per) * bits));
    } else if (t->dtype == OCS_BOOL) {
        for (size_t i = 0; i < t->numel; i++)
            raw[i] = src[i] != 0;
    } else if (esz == 1 || host_little_endian()) {
        memcpy(raw, src, raw_len);
    } else {
        for (size_t i = 0; i < t->numel; i++)
            for (size_t k = 0; k < esz; k++)
                raw[i * esz + k] = src[i * esz + (esz - 1 - k)];
    }
}

static Onnx__TensorProto *tensor_make(builder *b, const ocs_tensor *t, const char *name, ocs_err *err)
{
    if (!t || !ocs_dtype_valid(t->dtype) || t->rank < 0 || t->rank > OCS_MAX_RANK) {
        b->failed = 2;
        ocs_fail(err, OCS_ERR_INVALID, "tensor '%s' is malformed (no tensor, bad type or rank)",
                 name ? name : "");
        return NULL;
    }
    Onnx__TensorProto *tp = b_alloc(b, 1, sizeof *tp);
    if (!tp)
        return NULL;
    onnx__tensor_proto__init(tp);
    tp->name = b_opt_str(b, name);
    tp->has_data_type = 1;
    tp->data_type = (int32_t)t->dtype;
    if (t->rank > 0) {
        tp->dims = b_alloc(b, (size_t)t->rank, sizeof *tp->dims);
        if (tp->dims) {
            tp->n_dims = (size_t)t->rank;
            memcpy(tp->dims, t->dims, (size_t)t->rank * sizeof *tp->dims);
        }
    }
    if (t->dtype == OCS_STRING) {
        if (t->numel == 0)
            return tp;
        tp->string_data = b_alloc(b, t->numel, sizeof *tp->string_data);
        if (!tp->string_data)
            return tp;
        tp->n_string_data = t->numel;
        const ocs_string *s = t->data;
        for (size_t i = 0; i < t->numel; i++)
            tp->string_data[i] = b_bytes(b, s[i].data, s[i].len);
        return tp;
    }
    unsigned bits = sub_byte_bits(t->dtype);
    size_t raw_len = bits ? (t->numel * bits + 7) / 8 : t->numel * ocs_dtype_size(t->dtype);
    uint8_t *raw = malloc(raw_len ? raw_len : 1);
    if (!raw) {
        b->failed = 1;
        return tp;
    }
    encode_raw(t, raw, raw_len);
    tp->has_raw_data = 1;
    tp->raw_data.data = raw;
    tp->raw_data.len = raw_len;
    return tp;
}

static ocs_status finish(builder *b, ProtobufCMessage *msg, ocs_err *err)
{
    if (!b->failed)
        return OCS_OK;
    protobuf_c_message_free_unpacked(msg, NULL);
    if (b->failed == 1)
        return ocs_fail(err, OCS_ERR_NOMEM, "out of memory while serialising");
    return OCS_ERR_INVALID;   /* reason already in err */
}

ocs_status ocs_pb_tensor_make(const ocs_tensor *t, const char *name, Onnx__TensorProto **out,
                              ocs_err *err)
{
    builder b = { 0 };
    *out = NULL;
    Onnx__TensorProto *tp = tensor_make(&b, t, name, err);
    ocs_status s = finish(&b, tp ? &tp->base : NULL, err);
    if (s == OCS_OK)
        *out = tp;
    return s;
}

/* ---- types ---------------------------------------------------------------------------- */

static Onnx__TensorShapeProto *shape_make(builder *b, const ocs_type *t)
{
    if (!t->has_shape)
        return NULL;
    Onnx__TensorShapeProto *sh = b_alloc(b, 1, sizeof *sh);
    if (!sh)
        return NULL;
    onnx__tensor_shape_proto__init(sh);
    if (t->rank <= 0)
        return sh;
    sh->dim = b_alloc(b, (size_t)t->rank, sizeof *sh->dim);
    if (!sh->dim)
        return sh;
    sh->n_dim = (size_t)t->rank;
    for (int i = 0; i < t->rank; i++) {
        Onnx__TensorShapeProto__Dimension *d = b_alloc(b, 1, sizeof *d);
        sh->dim[i] = d;
        if (!d)
            continue;
        onnx__tensor_shape_proto__dimension__init(d);
        if (t->dims[i].param) {
            d->dim_param = b_str(b, t->dims[i].param);
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
        } else if (t->dims[i].value >= 0) {
            d->dim_value = t->dims[i].value;
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
        }
    }
    return sh;
}

/* NULL for a missing type or one of kind NONE. */
static Onnx__TypeProto *type_make(builder *b, const ocs_type *t)
{
    if (!t || t->kind == OCS_TYPE_NONE)
        return NULL;
    Onnx__TypeProto *tp = b_alloc(b, 1, sizeof *tp);
    if (!tp)
        return NULL;
    onnx__type_proto__init(tp);
    switch (t->kind) {
    case OCS_TYPE_TENSOR: {
        Onnx__TypeProto__Tensor *x = b_alloc(b, 1, sizeof *x);
        if (!x)
            break;
        onnx__type_proto__tensor__init(x);
        x->has_elem_type = 1;
        x->elem_type = (int32_t)t->elem;
        x->shape = shape_make(b, t);
        tp->tensor_type = x;
        tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
        break;
    }
    case OCS_TYPE_SPARSE_TENSOR: {
        Onnx__TypeProto__SparseTensor *x = b_alloc(b, 1, sizeof *x);
        if (!x)
            break;
        onnx__type_proto__sparse_tensor__init(x);
        x->has_elem_type = 1;
        x->elem_type = (int32_t)t->elem;
        x->shape = shape_make(b, t);
        tp->sparse_tensor_type = x;
        tp->value_case = ONNX__TYPE_PROTO__VALUE_SPARSE_TENSOR_TYPE;
        break;
    }
    case OCS_TYPE_SEQUENCE: {
        Onnx__TypeProto__Sequence *x = b_alloc(b, 1, sizeof *x);
        if (!x)
            break;
        onnx__type_proto__sequence__init(x);
        x->elem_type = type_make(b, t->inner);
        tp->sequence_type = x;
        tp->value_case = ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE;
        break;
    }
    case OCS_TYPE_OPTIONAL: {
        Onnx__TypeProto__Optional *x = b_alloc(b, 1, sizeof *x);
        if (!x)
            break;
        onnx__type_proto__optional__init(x);
        x->elem_type = type_make(b, t->inner);
        tp->optional_type = x;
        tp->value_case = ONNX__TYPE_PROTO__VALUE_OPTIONAL_TYPE;
        break;
    }
    case OCS_TYPE_MAP: {
        Onnx__TypeProto__Map *x = b_alloc(b, 1, sizeof *x);
        if (!x)
            break;
        onnx__type_proto__map__init(x);
        x->has_key_type = 1;
        x->key_type = (int32_t)t->elem;
        x->value_type = type_make(b, t->inner);
        tp->map_type = x;
        tp->value_case = ONNX__TYPE_PROTO__VALUE_MAP_TYPE;
        break;
    }
    case OCS_TYPE_NONE:
        break;
    }
    return tp;
}

static Onnx__ValueInfoProto **value_infos_make(builder *b, const ocs_value_info *v, size_t n)
{
    if (n == 0)
        return NULL;
    Onnx__ValueInfoProto **r = b_alloc(b, n, sizeof *r);
    if (!r)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        Onnx__ValueInfoProto *x = b_alloc(b, 1, sizeof *x);
        r[i] = x;
        if (!x)
            continue;
        onnx__value_info_proto__init(x);
        x->name = b_str(b, v[i].name);
        x->doc_string = b_opt_str(b, v[i].doc);
        x->type = type_make(b, &v[i].type);
    }
    return r;
}

/* ---- attributes, nodes, graphs --------------------------------------------------------- */

static Onnx__GraphProto *graph_make(builder *b, const ocs_graph *g, ocs_err *err);

static Onnx__SparseTensorProto *sparse_make(builder *b, const ocs_sparse *sp, ocs_err *err)
{
    if (!sp) {
        b->failed = 2;
        ocs_fail(err, OCS_ERR_INVALID, "missing sparse tensor");
        return NULL;
    }
    Onnx__SparseTensorProto *x = b_alloc(b, 1, sizeof *x);
    if (!x)
        return NULL;
    onnx__sparse_tensor_proto__init(x);
    x->values = tensor_make(b, sp->values, NULL, err);
    x->indices = tensor_make(b, sp->indices, NULL, err);
    if (sp->rank > 0 && sp->rank <= OCS_MAX_RANK) {
        x->dims = b_alloc(b, (size_t)sp->rank, sizeof *x->dims);
        if (x->dims) {
            x->n_dims = (size_t)sp->rank;
            memcpy(x->dims, sp->dims, (size_t)sp->rank * sizeof *x->dims);
        }
    }
    return x;
}

static Onnx__AttributeProto *attr_make(builder *b, const ocs_attr *a, ocs_err *err)
{
    Onnx__AttributeProto *x = b_alloc(b, 1, sizeof *x);
    if (!x)
        return NULL;
    onnx__attribute_proto__init(x);
    x->name = b_str(b, a->name);
    x->doc_string = b_opt_str(b, a->doc);
    x->has_type = 1;
    x->type = (Onnx__AttributeProto__AttributeType)a->type;
    if (a->ref_attr_name) {
        x->ref_attr_name = b_str(b, a->ref_attr_name);
        return x;
    }
    size_t n = a->n;
    switch (a->type) {
    case OCS_ATTR_FLOAT:
        x->has_f = 1;
        x->f = a->f;
        break;
    case OCS_ATTR_INT:
        x->has_i = 1;
        x->i = a->i;
        break;
    case OCS_ATTR_STRING:
        x->has_s = 1;
        x->s = b_bytes(b, a->s.data, a->s.len);
        break;
    case OCS_ATTR_TENSOR:
        x->t = tensor_make(b, a->t, NULL, err);
        break;
    case OCS_ATTR_GRAPH:
        x->g = graph_make(b, a->g, err);
        break;
    case OCS_ATTR_SPARSE_TENSOR:
        x->sparse_tensor = sparse_make(b, a->sparse, err);
        break;
    case OCS_ATTR_TYPE_PROTO:
        x->tp = type_make(b, a->tp);
        if (!x->tp && !b->failed) {   /* a type of kind NONE: keep the value present */
            x->tp = b_alloc(b, 1, sizeof *x->tp);
            if (x->tp)
                onnx__type_proto__init(x->tp);
        }
        break;
    case OCS_ATTR_FLOATS:
        if (n && (x->floats = b_alloc(b, n, sizeof(float))) != NULL) {
            memcpy(x->floats, a->floats, n * sizeof(float));
            x->n_floats = n;
        }
        break;
    case OCS_ATTR_INTS:
        if (n && (x->ints = b_alloc(b, n, sizeof(int64_t))) != NULL) {
            memcpy(x->ints, a->ints, n * sizeof(int64_t));
            x->n_ints = n;
        }
        break;
    case OCS_ATTR_STRINGS:
        if (n && (x->strings = b_alloc(b, n, sizeof *x->strings)) != NULL) {
            x->n_strings = n;
            for (size_t i = 0; i < n; i++)
                x->strings[i] = b_bytes(b, a->strings[i].data, a->strings[i].len);
        }
        break;
    case OCS_ATTR_TENSORS:
        if (n && (x->tensors = b_alloc(b, n, sizeof *x->tensors)) != NULL) {
            x->n_tensors = n;
            for (size_t i = 0; i < n; i++)
                x->tensors[i] = tensor_make(b, a->tensors[i], NULL, err);
        }
        break;
    case OCS_ATTR_GRAPHS:
        if (n && (x->graphs = b_alloc(b, n, sizeof *x->graphs)) != NULL) {
            x->n_graphs = n;
            for (size_t i = 0; i < n; i++)
                x->graphs[i] = graph_make(b, a->graphs[i], err);
        }
        break;
    case OCS_ATTR_SPARSE_TENSORS:
        if (n && (x->sparse_tensors = b_alloc(b, n, sizeof *x->sparse_tensors)) != NULL) {
            x->n_sparse_tensors = n;
            for (size_t i = 0; i < n; i++)
                x->sparse_tensors[i] = sparse_make(b, a->sparses[i], err);
        }
        break;
    case OCS_ATTR_TYPE_PROTOS:
        if (n && (x->type_protos = b_alloc(b, n, sizeof *x->type_protos)) != NULL) {
            x->n_type_protos = n;
            for (size_t i = 0; i < n; i++) {
                x->type_protos[i] = type_make(b, &a->tps[i]);
                if (!x->type_protos[i] && !b->failed &&
                    (x->type_protos[i] = b_alloc(b, 1, sizeof **x->type_protos)) != NULL)
                    onnx__type_proto__init(x->type_protos[i]);
            }
        }
        break;
    case OCS_ATTR_UNDEFINED:
        b->failed = 2;
        ocs_fail(err, OCS_ERR_INVALID, "attribute '%s' has no type", a->name ? a->name : "");
        break;
    }
    return x;
}

static Onnx__AttributeProto **attrs_make(builder *b, const ocs_attr *a, size_t n, ocs_err *err)
{
    if (n == 0)
        return NULL;
    Onnx__AttributeProto **r = b_alloc(b, n, sizeof *r);
    if (!r)
        return NULL;
    for (size_t i = 0; i < n; i++)
        r[i] = attr_make(b, &a[i], err);
    return r;
}

static Onnx__NodeProto **nodes_make(builder *b, const ocs_node *nodes, size_t n, ocs_err *err)
{
    if (n == 0)
        return NULL;
    Onnx__NodeProto **r = b_alloc(b, n, sizeof *r);
    if (!r)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        const ocs_node *nd = &nodes[i];
        Onnx__NodeProto *x = b_alloc(b, 1, sizeof *x);
        r[i] = x;
        if (!x)
            continue;
        onnx__node_proto__init(x);
        if ((x->input = b_strv(b, nd->inputs, nd->n_inputs)) != NULL)
            x->n_input = nd->n_inputs;
        if ((x->output = b_strv(b, nd->outputs, nd->n_outputs)) != NULL)
            x->n_output = nd->n_outputs;
        x->name = b_opt_str(b, nd->name);
        x->op_type = b_str(b, nd->op_type);
        if ((x->attribute = attrs_make(b, nd->attrs, nd->n_attrs, err)) != NULL)
            x->n_attribute = nd->n_attrs;
        x->doc_string = b_opt_str(b, nd->doc);
        x->domain = b_opt_str(b, nd->domain);
        x->overload = b_opt_str(b, nd->overload);
        if ((x->metadata_props = b_kv(b, nd->meta, nd->n_meta)) != NULL)
            x->n_metadata_props = nd->n_meta;
    }
    return r;
}

static Onnx__GraphProto *graph_make(builder *b, const ocs_graph *g, ocs_err *err)
{
    if (!g) {
        b->failed = 2;
        ocs_fail(err, OCS_ERR_INVALID, "missing graph");
        return NULL;
    }
    Onnx__GraphProto *x = b_alloc(b, 1, sizeof *x);
    if (!x)
        return NULL;
    onnx__graph_proto__init(x);
    if ((x->node = nodes_make(b, g->nodes, g->n_nodes, err)) != NULL)
        x->n_node = g->n_nodes;
    x->name = b_str(b, g->name);
    if (g->n_inits && (x->initializer = b_alloc(b, g->n_inits, sizeof *x->initializer)) != NULL) {
        x->n_initializer = g->n_inits;
        for (size_t i = 0; i < g->n_inits; i++)
            x->initializer[i] = tensor_make(b, g->inits[i].tensor, g->inits[i].name, err);
    }
    x->doc_string = b_opt_str(b, g->doc);
    if ((x->input = value_infos_make(b, g->inputs, g->n_inputs)) != NULL)
        x->n_input = g->n_inputs;
    if ((x->output = value_infos_make(b, g->outputs, g->n_outputs)) != NULL)
        x->n_output = g->n_outputs;
    if ((x->value_info = value_infos_make(b, g->value_info, g->n_value_info)) != NULL)
        x->n_value_info = g->n_value_info;
    if ((x->metadata_props = b_kv(b, g->meta, g->n_meta)) != NULL)
        x->n_metadata_props = g->n_meta;
    return x;
}

static Onnx__OperatorSetIdProto **opsets_make(builder *b, const ocs_opset *o, size_t n)
{
    if (n == 0)
        return NULL;
    Onnx__OperatorSetIdProto **r = b_alloc(b, n, sizeof *r);
    if (!r)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        Onnx__OperatorSetIdProto *x = b_alloc(b, 1, sizeof *x);
        r[i] = x;
        if (!x)
            continue;
        onnx__operator_set_id_proto__init(x);
        x->domain = b_str(b, o[i].domain);
        x->has_version = 1;
        x->version = o[i].version;
    }
    return r;
}

static Onnx__FunctionProto *function_make(builder *b, const ocs_function *f, ocs_err *err)
{
    Onnx__FunctionProto *x = b_alloc(b, 1, sizeof *x);
    if (!x)
        return NULL;
    onnx__function_proto__init(x);
    x->name = b_str(b, f->name);
    if ((x->input = b_strv(b, f->inputs, f->n_inputs)) != NULL)
        x->n_input = f->n_inputs;
    if ((x->output = b_strv(b, f->outputs, f->n_outputs)) != NULL)
        x->n_output = f->n_outputs;
    if ((x->attribute = b_strv(b, f->attr_names, f->n_attr_names)) != NULL)
        x->n_attribute = f->n_attr_names;
    if ((x->node = nodes_make(b, f->nodes, f->n_nodes, err)) != NULL)
        x->n_node = f->n_nodes;
    x->doc_string = b_opt_str(b, f->doc);
    if ((x->opset_import = opsets_make(b, f->opsets, f->n_opsets)) != NULL)
        x->n_opset_import = f->n_opsets;
    x->domain = b_opt_str(b, f->domain);
    if ((x->attribute_proto = attrs_make(b, f->attr_defaults, f->n_attr_defaults, err)) != NULL)
        x->n_attribute_proto = f->n_attr_defaults;
    if ((x->value_info = value_infos_make(b, f->value_info, f->n_value_info)) != NULL)
        x->n_value_info = f->n_value_info;
    x->overload = b_opt_str(b, f->overload);
    if ((x->metadata_props = b_kv(b, f->meta, f->n_meta)) != NULL)
        x->n_metadata_props = f->n_meta;
    return x;
}

/* ---- models ------------------------------------------------------------------------- */

ocs_status ocs_model_save_memory(const ocs_model *m, void **buf, size_t *len, ocs_err *err)
{
    if (!buf || !len)
        return ocs_fail(err, OCS_ERR_INVALID, "no output buffer");
    *buf = NULL;
    *len = 0;
    if (!m || !m->graph)
        return ocs_fail(err, OCS_ERR_INVALID, "cannot save a model without a graph");
    builder b = { 0 };
    Onnx__ModelProto *x = b_alloc(&b, 1, sizeof *x);
    if (!x)
        return ocs_fail(err, OCS_ERR_NOMEM, "out of memory while serialising");
    onnx__model_proto__init(x);
    x->has_ir_version = 1;
    x->ir_version = m->ir_version;
    x->producer_name = b_opt_str(&b, m->producer_name);
    x->producer_version = b_opt_str(&b, m->producer_version);
    x->domain = b_opt_str(&b, m->domain);
    if (m->model_version) {
        x->has_model_version = 1;
        x->model_version = m->model_version;
    }
    x->doc_string = b_opt_str(&b, m->doc);
    x->graph = graph_make(&b, m->graph, err);
    if ((x->opset_import = opsets_make(&b, m->opsets, m->n_opsets)) != NULL)
        x->n_opset_import = m->n_opsets;
    if ((x->metadata_props = b_kv(&b, m->meta, m->n_meta)) != NULL)
        x->n_metadata_props = m->n_meta;
    if (m->n_functions &&
        (x->functions = b_alloc(&b, m->n_functions, sizeof *x->functions)) != NULL) {
        x->n_functions = m->n_functions;
        for (size_t i = 0; i < m->n_functions; i++)
            x->functions[i] = function_make(&b, &m->functions[i], err);
    }
    ocs_status s = finish(&b, &x->base, err);
    if (s != OCS_OK)
        return ocs_err_prefix(err, s, "saving model: ");
    size_t n = onnx__model_proto__get_packed_size(x);
    uint8_t *out = malloc(n ? n : 1);
    if (!out) {
        onnx__model_proto__free_unpacked(x, NULL);
        return ocs_fail(err, OCS_ERR_NOMEM, "out of memory for %zu bytes of model", n);
    }
    size_t packed = onnx__model_proto__pack(x, out);
    onnx__model_proto__free_unpacked(x, NULL);
    if (packed != n) {
        free(out);
        return ocs_fail(err, OCS_ERR_INVALID, "serialising the model gave %zu bytes, expected %zu", packed,
                        n);
    }
    *buf = out;
    *len = n;
    return OCS_OK;
}

ocs_status ocs_model_save_file(const ocs_model *m, const char *path, ocs_err *err)
{
    void *buf;
    size_t len;
    ocs_status s = ocs_model_save_memory(m, &buf, &len, err);
    if (s != OCS_OK)
        return s;
    s = ocs_file_write_atomic(path, buf, len, err);
    free(buf);
    return s;
}

ocs_status ocs_tensor_save_file(const ocs_tensor *t, const char *name, const char *path, ocs_err *err)
{
    Onnx__TensorProto *tp;
    ocs_status s = ocs_pb_tensor_make(t, name, &tp, err);
    if (s != OCS_OK)
        return s;
    size_t n = onnx__tensor_proto__get_packed_size(tp);
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) {
        onnx__tensor_proto__free_unpacked(tp, NULL);
        return ocs_fail(err, OCS_ERR_NOMEM, "out of memory for %zu bytes of tensor", n);
    }
    onnx__tensor_proto__pack(tp, buf);
    onnx__tensor_proto__free_unpacked(tp, NULL);
    s = ocs_file_write_atomic(path, buf, n, err);
    free(buf);
    return s;
}
