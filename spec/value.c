/*
 * spec/value.c - test-data values (tensors, sequences, optionals, maps) and
 * single-tensor files.
 *
 * A test-data file holds one protobuf message whose kind is not recorded in
 * the file: the declared type of the graph input or output decides whether
 * it is read as TensorProto, SparseTensorProto, SequenceProto, OptionalProto
 * or MapProto (see ocs/value.h).  Inside sequences and optionals the
 * elem_type field of the message tells the kind of each element.
 */
#include "ocs/value.h"
#include "model_internal.h"
#include "external_data.h"
#include "onnx-data.pb-c.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static ocs_status nomem(ocs_err *err)
{
    return ocs_fail(err, OCS_ERR_NOMEM, "out of memory while loading a value");
}

/* ---- building and freeing values ------------------------------------------------------- */

static ocs_value *value_new(ocs_value_kind kind, const char *name)
{
    ocs_value *v = calloc(1, sizeof *v);
    if (!v)
        return NULL;
    v->kind = kind;
    v->name = ocs_str_dup(name);
    if (!v->name) {
        free(v);
        return NULL;
    }
    return v;
}

void ocs_value_free(ocs_value *v)
{
    if (!v)
        return;
    free(v->name);
    ocs_tensor_free(v->tensor);
    if (v->items) {
        for (size_t i = 0; i < v->n_items; i++)
            ocs_value_free(v->items[i]);
        free(v->items);
    }
    ocs_tensor_free(v->keys);
    ocs_value_free(v->inner);
    free(v);
}

ocs_status ocs_value_from_tensor(ocs_tensor *t, ocs_value **out, ocs_err *err)
{
    *out = NULL;
    if (!t)
        return ocs_fail(err, OCS_ERR_INVALID, "no tensor to wrap");
    ocs_value *v = value_new(OCS_VALUE_TENSOR, "");
    if (!v) {
        ocs_tensor_free(t);
        return nomem(err);
    }
    v->tensor = t;
    *out = v;
    return OCS_OK;
}

ocs_status ocs_value_clone(const ocs_value *src, ocs_value **out, ocs_err *err)
{
    *out = NULL;
    if (!src)
        return ocs_fail(err, OCS_ERR_INVALID, "no value to copy");
    ocs_value *v = value_new(src->kind, src->name);
    if (!v)
        return nomem(err);
    ocs_status s = OCS_OK;
    if (src->tensor)
        s = ocs_tensor_clone(src->tensor, &v->tensor, err);
    if (s == OCS_OK && src->keys)
        s = ocs_tensor_clone(src->keys, &v->keys, err);
    if (s == OCS_OK && src->inner)
        s = ocs_value_clone(src->inner, &v->inner, err);
    if (s == OCS_OK && src->n_items) {
        v->items = calloc(src->n_items, sizeof *v->items);
        if (!v->items)
            s = nomem(err);
        else
            v->n_items = src->n_items;
        for (size_t i = 0; i < v->n_items && s == OCS_OK; i++)
            s = ocs_value_clone(src->items[i], &v->items[i], err);
    }
    if (s != OCS_OK) {
        ocs_value_free(v);
        return s;
    }
    *out = v;
    return OCS_OK;
}

/* ---- protobuf messages to values -------------------------------------------------------- */

static ocs_status tensor_value(const Onnx__TensorProto *tp, const char *base_dir, ocs_value **out,
                               ocs_err *err)
{
    ocs_tensor *t;
    ocs_status s = ocs_pb_tensor_load(tp, base_dir, &t, err);
    if (s != OCS_OK)
        return s;
    ocs_value *v = value_new(OCS_VALUE_TENSOR, tp->name);
    if (!v) {
        ocs_tensor_free(t);
        return nomem(err);
    }
    v->tensor = t;
    *out = v;
    return OCS_OK;
}

static ocs_status sparse_value(const Onnx__SparseTensorProto *sp, const char *base_dir,
                               ocs_value **out, ocs_err *err)
{
    ocs_sparse *sparse;
    ocs_status s = ocs_pb_sparse_load(sp, base_dir, &sparse, err);
    if (s != OCS_OK)
        return s;
    ocs_tensor *t;
    s = ocs_sparse_to_dense(sparse, &t, err);
    ocs_sparse_free(sparse);
    if (s != OCS_OK)
        return s;
    ocs_value *v = value_new(OCS_VALUE_TENSOR, sp->values ? sp->values->name : "");
    if (!v) {
        ocs_tensor_free(t);
        return nomem(err);
    }
    v->tensor = t;
    *out = v;
    return OCS_OK;
}

static ocs_status sequence_value(const Onnx__SequenceProto *sp, const char *base_dir, ocs_value **out,
                                 ocs_err *err);
static ocs_status map_value(const Onnx__MapProto *mp, const char *base_dir, ocs_value **out,
                            ocs_err *err);
static ocs_status optional_value(const Onnx__OptionalProto *op, const char *base_dir, ocs_value **out,
                                 ocs_err *err);

/* Element kinds shared by SequenceProto.DataType and OptionalProto.DataType. */
enum elem_kind { K_UNDEFINED = 0, K_TENSOR = 1, K_SPARSE = 2, K_SEQUENCE = 3, K_MAP = 4, K_OPTIONAL = 5 };

static const char *elem_kind_name(int k)
{
    switch (k) {
    case K_UNDEFINED: return "UNDEFINED";
    case K_TENSOR: return "TENSOR";
    case K_SPARSE: return "SPARSE_TENSOR";
    case K_SEQUENCE: return "SEQUENCE";
    case K_MAP: return "MAP";
    case K_OPTIONAL: return "OPTIONAL";
    }
    return "UNKNOWN";
}

static ocs_status sequence_value(const Onnx__SequenceProto *sp, const char *base_dir, ocs_value **out,
                                 ocs_err *err)
{
    *out = NULL;
    size_t counts[6] = { 0, sp->n_tensor_values, sp->n_sparse_tensor_values, sp->n_sequence_values,
                         sp->n_map_values, sp->n_optional_values };
    int kind = sp->has_elem_type ? sp->elem_type : K_UNDEFINED;
    if (kind < K_UNDEFINED || kind > K_OPTIONAL)
        return ocs_fail(err, OCS_ERR_INVALID, "sequence has unknown elem_type %d", kind);
    if (kind == K_UNDEFINED)   /* old files: the one list in use decides */
        for (int k = K_TENSOR; k <= K_OPTIONAL; k++)
            if (counts[k]) {
                kind = k;
                break;
            }
    for (int k = K_TENSOR; k <= K_OPTIONAL; k++)
        if (k != kind && counts[k])
            return ocs_fail(err, OCS_ERR_INVALID,
                            "sequence with elem_type %s also holds %zu %s elements", elem_kind_name(kind),
                            counts[k], elem_kind_name(k));
    size_t n = kind == K_UNDEFINED ? 0 : counts[kind];
    ocs_value *v = value_new(OCS_VALUE_SEQUENCE, sp->name);
    if (!v)
        return nomem(err);
    v->items = calloc(n ? n : 1, sizeof *v->items);
    if (!v->items) {
        ocs_value_free(v);
        return nomem(err);
    }
    v->n_items = n;
    for (size_t i = 0; i < n; i++) {
        ocs_status s = OCS_OK;
        switch (kind) {
        case K_TENSOR: s = tensor_value(sp->tensor_values[i], base_dir, &v->items[i], err); break;
        case K_SPARSE: s = sparse_value(sp->sparse_tensor_values[i], base_dir, &v->items[i], err); break;
        case K_SEQUENCE: s = sequence_value(sp->sequence_values[i], base_dir, &v->items[i], err); break;
        case K_MAP: s = map_value(sp->map_values[i], base_dir, &v->items[i], err); break;
        case K_OPTIONAL: s = optional_value(sp->optional_values[i], base_dir, &v->items[i], err); break;
        }
        if (s != OCS_OK) {
            ocs_value_free(v);
            return ocs_err_prefix(err, s, "sequence element %zu: ", i);
        }
    }
    *out = v;
    return OCS_OK;
}

static ocs_status optional_value(const Onnx__OptionalProto *op, const char *base_dir, ocs_value **out,
                                 ocs_err *err)
{
    *out = NULL;
    int present = K_UNDEFINED, n_present = 0;
    if (op->tensor_value) { present = K_TENSOR; n_present++; }
    if (op->sparse_tensor_value) { present = K_SPARSE; n_present++; }
    if (op->sequence_value) { present = K_SEQUENCE; n_present++; }
    if (op->map_value) { present = K_MAP; n_present++; }
    if (op->optional_value) { present = K_OPTIONAL; n_present++; }
    int kind = op->has_elem_type ? op->elem_type : K_UNDEFINED;
    if (kind < K_UNDEFINED || kind > K_OPTIONAL)
        return ocs_fail(err, OCS_ERR_INVALID, "optional has unknown elem_type %d", kind);
    if (n_present > 1)
        return ocs_fail(err, OCS_ERR_INVALID, "optional holds more than one value");
    if (n_present == 1 && kind != K_UNDEFINED && kind != present)
        return ocs_fail(err, OCS_ERR_INVALID, "optional with elem_type %s holds a %s value",
                        elem_kind_name(kind), elem_kind_name(present));
    ocs_value *v = value_new(OCS_VALUE_OPTIONAL, op->name);
    if (!v)
        return nomem(err);
    ocs_status s = OCS_OK;
    switch (present) {   /* nothing set: an empty optional, whatever elem_type says */
    case K_TENSOR: s = tensor_value(op->tensor_value, base_dir, &v->inner, err); break;
    case K_SPARSE: s = sparse_value(op->sparse_tensor_value, base_dir, &v->inner, err); break;
    case K_SEQUENCE: s = sequence_value(op->sequence_value, base_dir, &v->inner, err); break;
    case K_MAP: s = map_value(op->map_value, base_dir, &v->inner, err); break;
    case K_OPTIONAL: s = optional_value(op->optional_value, base_dir, &v->inner, err); break;
    }
    if (s != OCS_OK) {
        ocs_value_free(v);
        return ocs_err_prefix(err, s, "optional value: ");
    }
    *out = v;
    return OCS_OK;
}

static ocs_status map_value(const Onnx__MapProto *mp, const char *base_dir, ocs_value **out,
                            ocs_err *err)
{
    *out = NULL;
    int code = mp->has_key_type ? mp->key_type : 0;
    if (code <= 0 || code >= OCS_DTYPE_COUNT_ ||
        !(code == OCS_STRING || ocs_dtype_is_integer((ocs_dtype)code)))
        return ocs_fail(err, OCS_ERR_INVALID, "map key_type %d is not an integer type or STRING", code);
    ocs_dtype kt = (ocs_dtype)code;
    size_t nk = kt == OCS_STRING ? mp->n_string_keys : mp->n_keys;
    if (kt == OCS_STRING ? mp->n_keys != 0 : mp->n_string_keys != 0)
        return ocs_fail(err, OCS_ERR_INVALID, "map with %s keys also has %s", ocs_dtype_name(kt),
                        kt == OCS_STRING ? "integer keys" : "string keys");
    if (!mp->values && nk)
        return ocs_fail(err, OCS_ERR_INVALID, "map has %zu keys but no values", nk);
    ocs_value *seq = NULL;
    ocs_status s;
    if (mp->values && (s = sequence_value(mp->values, base_dir, &seq, err)) != OCS_OK)
        return ocs_err_prefix(err, s, "map values: ");
    size_t nv = seq ? seq->n_items : 0;
    if (nv != nk) {
        ocs_value_free(seq);
        return ocs_fail(err, OCS_ERR_INVALID, "map has %zu keys but %zu values", nk, nv);
    }
    ocs_value *v = value_new(OCS_VALUE_MAP, mp->name);
    if (!v) {
        ocs_value_free(seq);
        return nomem(err);
    }
    int64_t dim = (int64_t)nk;
    if ((s = ocs_tensor_new(kt, 1, &dim, &v->keys, err)) != OCS_OK) {
        ocs_value_free(seq);
        ocs_value_free(v);
        return s;
    }
    for (size_t i = 0; i < nk; i++) {
        if (kt == OCS_STRING) {
            ocs_string *dst = (ocs_string *)v->keys->data + i;
            char *copy = ocs_mem_dup_str(mp->string_keys[i].data, mp->string_keys[i].len);
            if (!copy) {
                ocs_value_free(seq);
                ocs_value_free(v);
                return nomem(err);
            }
            free(dst->data);
            dst->data = copy;
            dst->len = mp->string_keys[i].len;
        } else {
            ocs_tensor_set_i64(v->keys, i, mp->keys[i]);
        }
    }
    if (seq) {   /* the values move from the sequence into the map */
        v->items = seq->items;
        v->n_items = seq->n_items;
        seq->items = NULL;
        seq->n_items = 0;
        ocs_value_free(seq);
    }
    *out = v;
    return OCS_OK;
}

/* Unpacks buf as message desc after bounding its nesting. */
static ocs_status unpack(const ProtobufCMessageDescriptor *desc, const void *buf, size_t len,
                         ProtobufCMessage **msg, ocs_err *err)
{
    *msg = NULL;
    ocs_status s = ocs_pb_check(desc, buf, len, err);
    if (s != OCS_OK)
        return ocs_err_prefix(err, s, "not a valid %s: ", desc->short_name);
    *msg = protobuf_c_message_unpack(desc, NULL, len, buf);
    if (!*msg)
        return ocs_fail(err, OCS_ERR_PARSE, "the bytes do not parse as a %s", desc->short_name);
    return OCS_OK;
}

ocs_status ocs_value_load_memory(const void *buf, size_t len, const ocs_type *declared,
                                 const char *base_dir, ocs_value **out, ocs_err *err)
{
    if (!out)
        return ocs_fail(err, OCS_ERR_INVALID, "no output pointer");
    *out = NULL;
    ocs_type_kind kind = declared ? declared->kind : OCS_TYPE_NONE;
    const ProtobufCMessageDescriptor *desc;
    switch (kind) {
    case OCS_TYPE_NONE:
    case OCS_TYPE_TENSOR: desc = &onnx__tensor_proto__descriptor; break;
    case OCS_TYPE_SPARSE_TENSOR: desc = &onnx__sparse_tensor_proto__descriptor; break;
    case OCS_TYPE_SEQUENCE: desc = &onnx__sequence_proto__descriptor; break;
    case OCS_TYPE_OPTIONAL: desc = &onnx__optional_proto__descriptor; break;
    case OCS_TYPE_MAP: desc = &onnx__map_proto__descriptor; break;
    default: return ocs_fail(err, OCS_ERR_INVALID, "declared type has unknown kind %d", (int)kind);
    }
    ProtobufCMessage *msg;
    ocs_status s = unpack(desc, buf, len, &msg, err);
    if (s != OCS_OK)
        return s;
    switch (kind) {
    case OCS_TYPE_NONE:
    case OCS_TYPE_TENSOR: s = tensor_value((Onnx__TensorProto *)msg, base_dir, out, err); break;
    case OCS_TYPE_SPARSE_TENSOR: s = sparse_value((Onnx__SparseTensorProto *)msg, base_dir, out, err); break;
    case OCS_TYPE_SEQUENCE: s = sequence_value((Onnx__SequenceProto *)msg, base_dir, out, err); break;
    case OCS_TYPE_OPTIONAL: s = optional_value((Onnx__OptionalProto *)msg, base_dir, out, err); break;
    case OCS_TYPE_MAP: s = map_value((Onnx__MapProto *)msg, base_dir, out, err); break;
    }
    protobuf_c_message_free_unpacked(msg, NULL);
    return s;
}

ocs_status ocs_value_load_file(const char *path, const ocs_type *declared, ocs_value **out,
                               ocs_err *err)
{
    if (!out)
        return ocs_fail(err, OCS_ERR_INVALID, "no output pointer");
    *out = NULL;
    void *buf;
    size_t len;
    ocs_status s = ocs_file_read(path, &buf, &len, err);
    if (s != OCS_OK)
        return s;
    char *dir = ocs_path_dirname(path);
    if (!dir) {
        free(buf);
        return nomem(err);
    }
    s = ocs_value_load_memory(buf, len, declared, dir, out, err);
    free(dir);
    free(buf);
    if (s != OCS_OK)
        return ocs_err_prefix(err, s, "'%s': ", path);
    return OCS_OK;
}

/* ---- single tensors ------------------------------------------------------------------- */

ocs_status ocs_tensor_load_memory(const void *buf, size_t len, const char *base_dir,
                                  ocs_tensor **out, char **name, ocs_err *err)
{
    if (!out)
        return ocs_fail(err, OCS_ERR_INVALID, "no output pointer");
    *out = NULL;
    if (name)
        *name = NULL;
    ProtobufCMessage *msg;
    ocs_status s = unpack(&onnx__tensor_proto__descriptor, buf, len, &msg, err);
    if (s != OCS_OK)
        return s;
    Onnx__TensorProto *tp = (Onnx__TensorProto *)msg;
    ocs_tensor *t;
    s = ocs_pb_tensor_load(tp, base_dir, &t, err);
    if (s == OCS_OK && name && !(*name = ocs_str_dup(tp->name))) {
        ocs_tensor_free(t);
        s = nomem(err);
    }
    protobuf_c_message_free_unpacked(msg, NULL);
    if (s == OCS_OK)
        *out = t;
    return s;
}

ocs_status ocs_tensor_load_file(const char *path, ocs_tensor **out, char **name, ocs_err *err)
{
    if (!out)
        return ocs_fail(err, OCS_ERR_INVALID, "no output pointer");
    *out = NULL;
    if (name)
        *name = NULL;
    void *buf;
    size_t len;
    ocs_status s = ocs_file_read(path, &buf, &len, err);
    if (s != OCS_OK)
        return s;
    char *dir = ocs_path_dirname(path);
    if (!dir) {
        free(buf);
        return nomem(err);
    }
    s = ocs_tensor_load_memory(buf, len, dir, out, name, err);
    free(dir);
    free(buf);
    if (s != OCS_OK)
        return ocs_err_prefix(err, s, "'%s': ", path);
    return OCS_OK;
}

/* ---- description ------------------------------------------------------------------------ */

typedef struct text {
    char *buf;
    size_t len, pos;
} text;

static void put(text *t, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static void put(text *t, const char *fmt, ...)
{
    if (t->pos + 1 >= t->len)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->buf + t->pos, t->len - t->pos, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    t->pos += (size_t)n;
    if (t->pos >= t->len)
        t->pos = t->len - 1;
}

static void describe(const ocs_value *v, text *t, int depth)
{
    if (!v) {
        put(t, "(null)");
        return;
    }
    if (depth > 8) {
        put(t, "...");
        return;
    }
    char tmp[256];
    switch (v->kind) {
    case OCS_VALUE_TENSOR:
        put(t, "%s", v->tensor ? ocs_tensor_describe(v->tensor, tmp, sizeof tmp) : "(no tensor)");
        return;
    case OCS_VALUE_SEQUENCE:
        put(t, "sequence(%zu)<", v->n_items);
        for (size_t i = 0; i < v->n_items; i++) {
            if (i == 4) {
                put(t, ",...");
                break;
            }
            if (i)
                put(t, ",");
            describe(v->items[i], t, depth + 1);
        }
        put(t, ">");
        return;
    case OCS_VALUE_OPTIONAL:
        put(t, "optional<");
        if (v->inner)
            describe(v->inner, t, depth + 1);
        else
            put(t, "none");
        put(t, ">");
        return;
    case OCS_VALUE_MAP:
        put(t, "map(%zu)<%s -> ", v->n_items, v->keys ? ocs_dtype_name(v->keys->dtype) : "?");
        if (v->n_items)
            describe(v->items[0], t, depth + 1);
        else
            put(t, "?");
        put(t, ">");
        return;
    }
    put(t, "(unknown value kind %d)", (int)v->kind);
}

char *ocs_value_describe(const ocs_value *v, char *buf, size_t len)
{
    if (!buf || len == 0)
        return buf;
    buf[0] = '\0';
    text t = { buf, len, 0 };
    describe(v, &t, 0);
    return buf;
}
