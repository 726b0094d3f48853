/*
 * spec/model_load.c - ONNX protobuf to OCS structures.
 *
 * Loading is three steps: a walk over the wire format that bounds message
 * nesting (so hostile bytes cannot exhaust the stack inside the protobuf
 * library), protobuf-c unpacking, and a conversion into the structs of
 * ocs/model.h that validates as it goes.  Protobuf structures are freed
 * before returning; nothing past this file sees them.
 *
 * Tensors: every element type of ocs/tensor.h, from raw_data
 * (little-endian; 4-bit and 2-bit types packed, first element in the low
 * bits), from the typed field that belongs to the type, or from external
 * data.  The element count must match the shape exactly.  Sparse
 * initializers are densified; sparse attributes stay sparse.
 */
#include "model_internal.h"
#include "external_data.h"
#include "ocs/value.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Deepest nesting of subgraphs (attribute graphs inside attribute graphs ...). */
#define MAX_GRAPH_DEPTH 32
/* Deepest nesting of types (sequence of optional of ...). */
#define MAX_TYPE_DEPTH 32

typedef struct load_ctx {
    const char *base_dir;   /* external data folder, or NULL */
    int in_function;        /* inside a function body: references allowed */
    int depth;              /* subgraph nesting */
} load_ctx;

static ocs_status graph_load(const Onnx__GraphProto *gp, ocs_graph **out, load_ctx *ctx,
                             ocs_err *err);

static ocs_status nomem(ocs_err *err)
{
    return ocs_fail(err, OCS_ERR_NOMEM, "out of memory while loading the model");
}

/* calloc(n, size) that returns a non-NULL pointer for n == 0 too. */
static void *alloc_array(size_t n, size_t size)
{
    return calloc(n ? n : 1, size);
}

/* ---- wire-format walk ------------------------------------------------------------ */

static int read_varint(const uint8_t *buf, size_t end, size_t *pos, uint64_t *v)
{
    uint64_t r = 0;
    for (unsigned i = 0; i < 10; i++) {
        if (*pos >= end)
            return 0;
        uint8_t b = buf[(*pos)++];
        r |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *v = r;
            return 1;
        }
    }
    return 0;
}

static ocs_status walk(const ProtobufCMessageDescriptor *d, const uint8_t *buf, size_t start,
                       size_t end, int depth, ocs_err *err)
{
    if (depth > OCS_PB_MAX_NESTING)
        return ocs_fail(err, OCS_ERR_PARSE, "messages nested deeper than %d levels (at byte %zu)",
                        OCS_PB_MAX_NESTING, start);
    size_t pos = start;
    while (pos < end) {
        size_t at = pos;
        uint64_t tag, v;
        if (!read_varint(buf, end, &pos, &tag))
            return ocs_fail(err, OCS_ERR_PARSE, "malformed field tag at byte %zu", at);
        uint64_t field = tag >> 3;
        unsigned wt = (unsigned)(tag & 7);
        if (field == 0 || field > 0x1fffffff)
            return ocs_fail(err, OCS_ERR_PARSE, "invalid field number %llu at byte %zu",
                            (unsigned long long)field, at);
        switch (wt) {
        case 0:
            if (!read_varint(buf, end, &pos, &v))
                return ocs_fail(err, OCS_ERR_PARSE, "malformed varint of field %llu at byte %zu",
                                (unsigned long long)field, at);
            break;
        case 1:
        case 5: {
            size_t w = wt == 1 ? 8 : 4;
            if (end - pos < w)
                return ocs_fail(err, OCS_ERR_PARSE, "field %llu at byte %zu runs past the end",
                                (unsigned long long)field, at);
            pos += w;
            break;
        }
        case 2: {
            if (!read_varint(buf, end, &pos, &v))
                return ocs_fail(err, OCS_ERR_PARSE, "malformed length of field %llu at byte %zu",
                                (unsigned long long)field, at);
            if (v > end - pos)
                return ocs_fail(err, OCS_ERR_PARSE,
                                "field %llu at byte %zu claims %llu bytes but only %zu remain",
                                (unsigned long long)field, at, (unsigned long long)v, end - pos);
            const ProtobufCFieldDescriptor *fd =
                d ? protobuf_c_message_descriptor_get_field(d, (unsigned)field) : NULL;
            if (fd && fd->type == PROTOBUF_C_TYPE_MESSAGE) {
                ocs_status s = walk(fd->descriptor, buf, pos, pos + (size_t)v, depth + 1, err);
                if (s != OCS_OK)
                    return s;
            }
            pos += (size_t)v;
            break;
        }
        default:
            return ocs_fail(err, OCS_ERR_PARSE, "unsupported wire type %u of field %llu at byte %zu",
                            wt, (unsigned long long)field, at);
        }
    }
    return OCS_OK;
}

ocs_status ocs_pb_check(const ProtobufCMessageDescriptor *desc, const uint8_t *buf, size_t len,
                        ocs_err *err)
{
    if (!buf && len)
        return ocs_fail(err, OCS_ERR_INVALID, "no buffer");
    return walk(desc, buf, 0, len, 1, err);
}

/* ---- tensors ------------------------------------------------------------------------ */

static const char *tensor_name(const Onnx__TensorProto *tp)
{
    return tp->name && *tp->name ? tp->name : "(unnamed)";
}

static int host_little_endian(void)
{
    const uint16_t one = 1;
    unsigned char c;
    memcpy(&c, &one, 1);
    return c == 1;
}

/* Bits per element of the packed sub-byte types; 0 for the others. */
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

/* Unpacks numel sub-byte elements (first element in the low bits) to one
 * byte each, sign-extending the signed integer types. */
static void unpack_sub_byte(ocs_dtype dt, size_t numel, const uint8_t *src, uint8_t *dst)
{
    unsigned bits = sub_byte_bits(dt), per = 8 / bits, mask = (1u << bits) - 1;
    int is_signed = dt == OCS_INT4 || dt == OCS_INT2;
    for (size_t i = 0; i < numel; i++) {
        unsigned v = (src[i / per] >> ((i % per) * bits)) & mask;
        if (is_signed && (v & (1u << (bits - 1))))
            v |= 0xffu & ~mask;
        dst[i] = (uint8_t)v;
    }
}

/* Which typed field of TensorProto holds each element type. */
enum typed_field { F_NONE, F_FLOAT, F_INT32, F_STRING, F_INT64, F_DOUBLE, F_UINT64 };

static const char *typed_field_name(enum typed_field f)
{
    switch (f) {
    case F_FLOAT: return "float_data";
    case F_INT32: return "int32_data";
    case F_STRING: return "string_data";
    case F_INT64: return "int64_data";
    case F_DOUBLE: return "double_data";
    case F_UINT64: return "uint64_data";
    default: return "(none)";
    }
}

static enum typed_field typed_field_of(ocs_dtype t)
{
    switch (t) {
    case OCS_FLOAT: return F_FLOAT;
    case OCS_DOUBLE: return F_DOUBLE;
    case OCS_INT64: return F_INT64;
    case OCS_UINT32:
    case OCS_UINT64: return F_UINT64;
    case OCS_STRING: return F_STRING;
    default: return F_INT32;
    }
}

static size_t typed_count(const Onnx__TensorProto *tp, enum typed_field f)
{
    switch (f) {
    case F_FLOAT: return tp->n_float_data;
    case F_INT32: return tp->n_int32_data;
    case F_STRING: return tp->n_string_data;
    case F_INT64: return tp->n_int64_data;
    case F_DOUBLE: return tp->n_double_data;
    case F_UINT64: return tp->n_uint64_data;
    default: return 0;
    }
}

/* The first non-empty typed field, or F_NONE. */
static enum typed_field any_typed(const Onnx__TensorProto *tp)
{
    for (int f = F_FLOAT; f <= F_UINT64; f++)
        if (typed_count(tp, (enum typed_field)f) > 0)
            return (enum typed_field)f;
    return F_NONE;
}

/* Bytes of the raw (file) encoding of numel elements of dt. */
static size_t raw_bytes(ocs_dtype dt, size_t numel)
{
    unsigned bits = sub_byte_bits(dt);
    if (bits) {
        size_t per = 8 / bits;
        return numel / per + (numel % per != 0);
    }
    return numel * ocs_dtype_size(dt);   /* overflow excluded by the caller */
}

/* Fills t from raw little-endian bytes (length already checked). */
static void decode_raw(ocs_tensor *t, const uint8_t *raw)
{
    size_t esz = ocs_dtype_size(t->dtype);
    uint8_t *dst = t->data;
    if (sub_byte_bits(t->dtype)) {
        unpack_sub_byte(t->dtype, t->numel, raw, dst);
    } else if (esz == 1 || host_little_endian()) {
        memcpy(dst, raw, t->numel * esz);
    } else {
        for (size_t i = 0; i < t->numel; i++)
            for (size_t b = 0; b < esz; b++)
                dst[i * esz + b] = raw[i * esz + (esz - 1 - b)];
    }
    if (t->dtype == OCS_BOOL)
        for (size_t i = 0; i < t->numel; i++)
            dst[i] = dst[i] != 0;
}

/* Fills t from the typed field f (count already checked). */
static ocs_status decode_typed(ocs_tensor *t, const Onnx__TensorProto *tp, ocs_err *err)
{
    size_t n = t->numel;
    switch (t->dtype) {
    case OCS_FLOAT:
        if (n)
            memcpy(t->data, tp->float_data, n * sizeof(float));
        return OCS_OK;
    case OCS_DOUBLE:
        if (n)
            memcpy(t->data, tp->double_data, n * sizeof(double));
        return OCS_OK;
    case OCS_INT64:
        if (n)
            memcpy(t->data, tp->int64_data, n * sizeof(int64_t));
        return OCS_OK;
    case OCS_UINT64:
        if (n)
            memcpy(t->data, tp->uint64_data, n * sizeof(uint64_t));
        return OCS_OK;
    case OCS_UINT32:
        for (size_t i = 0; i < n; i++)
            ((uint32_t *)t->data)[i] = (uint32_t)tp->uint64_data[i];
        return OCS_OK;
    case OCS_INT32:
        if (n)
            memcpy(t->data, tp->int32_data, n * sizeof(int32_t));
        return OCS_OK;
    case OCS_INT16:
        for (size_t i = 0; i < n; i++)
            ((int16_t *)t->data)[i] = (int16_t)tp->int32_data[i];
        return OCS_OK;
    case OCS_UINT16:
    case OCS_FLOAT16:
    case OCS_BFLOAT16:
        for (size_t i = 0; i < n; i++)
            ((uint16_t *)t->data)[i] = (uint16_t)((uint32_t)tp->int32_data[i] & 0xffffu);
        return OCS_OK;
    case OCS_BOOL:
        for (size_t i = 0; i < n; i++)
            ((uint8_t *)t->data)[i] = tp->int32_data[i] != 0;
        return OCS_OK;
    case OCS_STRING:
        for (size_t i = 0; i < n; i++) {
            ocs_string *s = (ocs_string *)t->data + i;
            char *copy = ocs_mem_dup_str(tp->string_data[i].data, tp->string_data[i].len);
            if (!copy)
                return nomem(err);
            free(s->data);
            s->data = copy;
            s->len = tp->string_data[i].len;
        }
        return OCS_OK;
    default:
        break;
    }
    if (sub_byte_bits(t->dtype)) {
        size_t nb = tp->n_int32_data;
        uint8_t *packed = malloc(nb ? nb : 1);
        if (!packed)
            return nomem(err);
        for (size_t i = 0; i < nb; i++)
            packed[i] = (uint8_t)((uint32_t)tp->int32_data[i] & 0xffu);
        unpack_sub_byte(t->dtype, n, packed, t->data);
        free(packed);
        return OCS_OK;
    }
    /* the remaining one-byte types: int8, uint8, float8 variants, e8m0 */
    for (size_t i = 0; i < n; i++)
        ((uint8_t *)t->data)[i] = (uint8_t)((uint32_t)tp->int32_data[i] & 0xffu);
    return OCS_OK;
}

static const char *ext_key(const Onnx__TensorProto *tp, const char *key)
{
    const char *v = NULL;
    for (size_t i = 0; i < tp->n_external_data; i++) {
        const Onnx__StringStringEntryProto *e = tp->external_data[i];
        if (e && e->key && strcmp(e->key, key) == 0)
            v = e->value ? e->value : "";
    }
    return v;
}

ocs_status ocs_pb_tensor_load(const Onnx__TensorProto *tp, const char *base_dir, ocs_tensor **out,
                              ocs_err *err)
{
    *out = NULL;
    const char *nm = tensor_name(tp);
    int32_t code = tp->has_data_type ? tp->data_type : 0;
    if (code == OCS_UNDEFINED)
        return ocs_fail(err, OCS_ERR_INVALID, "tensor '%s' has no data_type (UNDEFINED)", nm);
    if (code == OCS_COMPLEX64 || code == OCS_COMPLEX128)
        return ocs_fail(err, OCS_ERR_UNSUPPORTED, "tensor '%s': complex element types are not supported",
                        nm);
    if (code < 0 || code >= OCS_DTYPE_COUNT_ || !ocs_dtype_valid((ocs_dtype)code))
        return ocs_fail(err, OCS_ERR_INVALID, "tensor '%s' has unknown data_type %d", nm, (int)code);
    ocs_dtype dt = (ocs_dtype)code;
    if (tp->segment)
        return ocs_fail(err, OCS_ERR_UNSUPPORTED,
                        "tensor '%s' is a segment of a larger tensor; segments are not supported", nm);
    if (tp->n_dims > OCS_MAX_RANK)
        return ocs_fail(err, OCS_ERR_UNSUPPORTED, "tensor '%s' has rank %zu; at most %d is supported", nm,
                        tp->n_dims, OCS_MAX_RANK);
    int rank = (int)tp->n_dims;
    for (int i = 0; i < rank; i++)
        if (tp->dims[i] < 0)
            return ocs_fail(err, OCS_ERR_INVALID, "tensor '%s': dimension %d is negative (%lld)", nm, i,
                            (long long)tp->dims[i]);
    size_t numel;
    ocs_status s = ocs_shape_numel(rank, tp->dims, &numel, err);
    if (s != OCS_OK)
        return ocs_err_prefix(err, s, "tensor '%s': ", nm);
    size_t esz = ocs_dtype_size(dt);
    if (esz == 0)
        return ocs_fail(err, OCS_ERR_UNSUPPORTED, "tensor '%s': element type %s is not supported", nm,
                        ocs_dtype_name(dt));
    if (numel > SIZE_MAX / esz)
        return ocs_fail(err, OCS_ERR_INVALID, "tensor '%s': %zu elements of %s overflow the address space",
                        nm, numel, ocs_dtype_name(dt));
    char shp[160];
    ocs_shape_str(rank, tp->dims, shp, sizeof shp);

    enum typed_field mine = typed_field_of(dt), other = any_typed(tp);
    int external = tp->has_data_location && tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    if (tp->has_data_location && !external &&
        tp->data_location != ONNX__TENSOR_PROTO__DATA_LOCATION__DEFAULT)
        return ocs_fail(err, OCS_ERR_INVALID, "tensor '%s' has unknown data_location %d", nm,
                        (int)tp->data_location);

    const uint8_t *raw = NULL;
    size_t raw_len = 0;
    void *ext_buf = NULL;
    if (external) {
        if (tp->has_raw_data || other != F_NONE)
            return ocs_fail(err, OCS_ERR_INVALID,
                            "tensor '%s' is stored externally but also has inline data (%s)", nm,
                            tp->has_raw_data ? "raw_data" : typed_field_name(other));
        if (dt == OCS_STRING)
            return ocs_fail(err, OCS_ERR_INVALID, "tensor '%s': STRING tensors cannot be stored externally",
                            nm);
        s = ocs_external_data_read(base_dir, ext_key(tp, "location"), ext_key(tp, "offset"),
                                   ext_key(tp, "length"), &ext_buf, &raw_len, err);
        if (s != OCS_OK)
            return ocs_err_prefix(err, s, "tensor '%s': ", nm);
        raw = ext_buf;
    } else if (tp->has_raw_data) {
        if (other != F_NONE)
            return ocs_fail(err, OCS_ERR_INVALID, "tensor '%s' has both raw_data and %s", nm,
                            typed_field_name(other));
        if (dt == OCS_STRING)
            return ocs_fail(err, OCS_ERR_INVALID,
                            "tensor '%s': STRING tensors must use string_data, not raw_data", nm);
        raw = tp->raw_data.data;
        raw_len = tp->raw_data.len;
    } else {
        for (int f = F_FLOAT; f <= F_UINT64; f++)
            if (f != (int)mine && typed_count(tp, (enum typed_field)f) > 0)
                return ocs_fail(err, OCS_ERR_INVALID,
                                "tensor '%s' of type %s has values in %s; that type is stored in %s", nm,
                                ocs_dtype_name(dt), typed_field_name((enum typed_field)f),
                                typed_field_name(mine));
        size_t want = numel;
        unsigned bits = sub_byte_bits(dt);
        if (bits)
            want = raw_bytes(dt, numel);   /* one packed byte per int32_data entry */
        size_t have = typed_count(tp, mine);
        if (have != want)
            return ocs_fail(err, OCS_ERR_INVALID,
                            "tensor '%s' (%s%s): %s has %zu values, expected %zu%s", nm,
                            ocs_dtype_name(dt), shp, typed_field_name(mine), have, want,
                            bits ? " (packed bytes)" : "");
    }
    if (raw) {
        size_t want = raw_bytes(dt, numel);
        if (raw_len != want) {
            free(ext_buf);
            return ocs_fail(err, OCS_ERR_INVALID, "tensor '%s' (%s%s): %s has %zu bytes, expected %zu", nm,
                            ocs_dtype_name(dt), shp, external ? "external data" : "raw_data", raw_len,
                            want);
        }
    }
    ocs_tensor *t;
    s = ocs_tensor_new(dt, rank, tp->dims, &t, err);
    if (s != OCS_OK) {
        free(ext_buf);
        return ocs_err_prefix(err, s, "tensor '%s': ", nm);
    }
    if (raw) {
        if (numel)
            decode_raw(t, raw);
        free(ext_buf);
    } else if ((s = decode_typed(t, tp, err)) != OCS_OK) {
        ocs_tensor_free(t);
        return s;
    }
    *out = t;
    return OCS_OK;
}

ocs_status ocs_pb_sparse_load(const Onnx__SparseTensorProto *sp, const char *base_dir,
                              ocs_sparse **out, ocs_err *err)
{
    *out = NULL;
    const char *nm = sp->values && sp->values->name && *sp->values->name ? sp->values->name : "(unnamed)";
    if (!sp->values || !sp->indices)
        return ocs_fail(err, OCS_ERR_INVALID, "sparse tensor '%s' lacks %s", nm,
                        sp->values ? "indices" : "values");
    if (sp->n_dims > OCS_MAX_RANK)
        return ocs_fail(err, OCS_ERR_UNSUPPORTED, "sparse tensor '%s' has rank %zu; at most %d is supported",
                        nm, sp->n_dims, OCS_MAX_RANK);
    for (size_t i = 0; i < sp->n_dims; i++)
        if (sp->dims[i] < 0)
            return ocs_fail(err, OCS_ERR_INVALID, "sparse tensor '%s': dimension %zu is negative (%lld)",
                            nm, i, (long long)sp->dims[i]);
    size_t numel;
    ocs_status s = ocs_shape_numel((int)sp->n_dims, sp->dims, &numel, err);
    if (s != OCS_OK)
        return ocs_err_prefix(err, s, "sparse tensor '%s': ", nm);
    ocs_sparse *r = calloc(1, sizeof *r);
    if (!r)
        return nomem(err);
    r->rank = (int)sp->n_dims;
    for (int i = 0; i < r->rank; i++)
        r->dims[i] = sp->dims[i];
    if ((s = ocs_pb_tensor_load(sp->values, base_dir, &r->values, err)) != OCS_OK ||
        (s = ocs_pb_tensor_load(sp->indices, base_dir, &r->indices, err)) != OCS_OK) {
        ocs_sparse_free(r);
        return ocs_err_prefix(err, s, "sparse tensor '%s': ", nm);
    }
    const ocs_tensor *v = r->values, *ix = r->indices;
    size_t nnz = v->numel;
    char a[128];
    if (v->rank != 1)
        s = ocs_fail(err, OCS_ERR_INVALID, "sparse tensor '%s': values must be 1-D, not rank %d", nm,
                     v->rank);
    else if (ix->dtype != OCS_INT64)
        s = ocs_fail(err, OCS_ERR_INVALID, "sparse tensor '%s': indices must be INT64, not %s", nm,
                     ocs_dtype_name(ix->dtype));
    else if (!((ix->rank == 1 && (size_t)ix->dims[0] == nnz) ||
               (ix->rank == 2 && (size_t)ix->dims[0] == nnz && ix->dims[1] == r->rank)))
        s = ocs_fail(err, OCS_ERR_INVALID,
                     "sparse tensor '%s': indices have shape %s; expected [%zu] or [%zu,%d]", nm,
                     ocs_shape_str(ix->rank, ix->dims, a, sizeof a), nnz, nnz, (int)sp->n_dims);
    if (s != OCS_OK) {
        ocs_sparse_free(r);
        return s;
    }
    *out = r;
    return OCS_OK;
}

/* ---- types ---------------------------------------------------------------------------- */

static ocs_status elem_type_check(int32_t code, const char *what, ocs_dtype *out, ocs_err *err)
{
    if (code < 0 || code >= OCS_DTYPE_COUNT_)
        return ocs_fail(err, OCS_ERR_INVALID, "%s has unknown element type %d", what, (int)code);
    *out = (ocs_dtype)code;
    return OCS_OK;
}

static ocs_status shape_load(const Onnx__TensorShapeProto *sh, ocs_type *t, ocs_err *err)
{
    if (!sh)
        return OCS_OK;
    if (sh->n_dim > INT_MAX)
        return ocs_fail(err, OCS_ERR_INVALID, "shape of rank %zu", sh->n_dim);
    t->has_shape = 1;
    t->dims = alloc_array(sh->n_dim, sizeof *t->dims);
    if (!t->dims)
        return nomem(err);
    t->rank = (int)sh->n_dim;
    for (size_t i = 0; i < sh->n_dim; i++) {
        const Onnx__TensorShapeProto__Dimension *d = sh->dim[i];
        t->dims[i].value = -1;
        if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE && d->dim_value >= 0) {
            t->dims[i].value = d->dim_value;
        } else if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM) {
            t->dims[i].param = ocs_str_dup(d->dim_param);
            if (!t->dims[i].param)
                return nomem(err);
        }
    }
    return OCS_OK;
}

static ocs_status type_load(const Onnx__TypeProto *tp, ocs_type *out, int depth, ocs_err *err)
{
    memset(out, 0, sizeof *out);
    if (!tp)
        return OCS_OK;
    if (depth > MAX_TYPE_DEPTH)
        return ocs_fail(err, OCS_ERR_INVALID, "type nested deeper than %d levels", MAX_TYPE_DEPTH);
    const Onnx__TypeProto *inner = NULL;
    int has_inner = 0;
    ocs_status s = OCS_OK;
    switch (tp->value_case) {
    case ONNX__TYPE_PROTO__VALUE__NOT_SET:
        out->kind = OCS_TYPE_NONE;
        return OCS_OK;
    case ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE:
        out->kind = OCS_TYPE_TENSOR;
        s = elem_type_check(tp->tensor_type->has_elem_type ? tp->tensor_type->elem_type : 0,
                            "tensor type", &out->elem, err);
        if (s == OCS_OK)
            s = shape_load(tp->tensor_type->shape, out, err);
        break;
    case ONNX__TYPE_PROTO__VALUE_SPARSE_TENSOR_TYPE:
        out->kind = OCS_TYPE_SPARSE_TENSOR;
        s = elem_type_check(tp->sparse_tensor_type->has_elem_type ? tp->sparse_tensor_type->elem_type : 0,
                            "sparse tensor type", &out->elem, err);
        if (s == OCS_OK)
            s = shape_load(tp->sparse_tensor_type->shape, out, err);
        break;
    case ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE:
        out->kind = OCS_TYPE_SEQUENCE;
        inner = tp->sequence_type->elem_type;
        has_inner = 1;
        break;
    case ONNX__TYPE_PROTO__VALUE_OPTIONAL_TYPE:
        out->kind = OCS_TYPE_OPTIONAL;
        inner = tp->optional_type->elem_type;
        has_inner = 1;
        break;
    case ONNX__TYPE_PROTO__VALUE_MAP_TYPE:
        out->kind = OCS_TYPE_MAP;
        s = elem_type_check(tp->map_type->has_key_type ? tp->map_type->key_type : 0, "map key", &out->elem,
                            err);
        inner = tp->map_type->value_type;
        has_inner = 1;
        break;
    case ONNX__TYPE_PROTO__VALUE_OPAQUE_TYPE:
        return ocs_fail(err, OCS_ERR_UNSUPPORTED, "opaque types (ONNX-ML) are not supported");
    default:
        return ocs_fail(err, OCS_ERR_INVALID, "type with unknown kind %d", (int)tp->value_case);
    }
    if (s == OCS_OK && has_inner) {
        /* Never NULL for container kinds; kind NONE when the file leaves it out. */
        out->inner = calloc(1, sizeof *out->inner);
        if (!out->inner)
            s = nomem(err);
        else
            s = type_load(inner, out->inner, depth + 1, err);
    }
    if (s != OCS_OK)
        ocs_type_clear(out);
    return s;
}

ocs_status ocs_pb_type_load(const Onnx__TypeProto *tp, ocs_type *out, ocs_err *err)
{
    return type_load(tp, out, 0, err);
}

/* ---- small pieces ------------------------------------------------------------------------ */

static ocs_status kv_load(Onnx__StringStringEntryProto *const *src, size_t n, ocs_kv **out,
                          size_t *n_out, ocs_err *err)
{
    *out = NULL;
    *n_out = 0;
    if (n == 0)
        return OCS_OK;
    ocs_kv *kv = alloc_array(n, sizeof *kv);
    if (!kv)
        return nomem(err);
    for (size_t i = 0; i < n; i++) {
        kv[i].key = ocs_str_dup(src[i]->key);
        kv[i].value = ocs_str_dup(src[i]->value);
        if (!kv[i].key || !kv[i].value) {
            ocs_kv_array_free(kv, n);
            return nomem(err);
        }
    }
    *out = kv;
    *n_out = n;
    return OCS_OK;
}

static ocs_status strv_load(char *const *src, size_t n, char ***out, size_t *n_out, ocs_err *err)
{
    *out = NULL;
    *n_out = 0;
    if (n == 0)
        return OCS_OK;
    char **v = alloc_array(n, sizeof *v);
    if (!v)
        return nomem(err);
    for (size_t i = 0; i < n; i++) {
        v[i] = ocs_str_dup(src[i]);
        if (!v[i]) {
            ocs_str_array_free(v, n);
            return nomem(err);
        }
    }
    *out = v;
    *n_out = n;
    return OCS_OK;
}

static const char *norm_domain(const char *d)
{
    if (!d || strcmp(d, "ai.onnx") == 0)
        return "";
    return d;
}

static ocs_status value_info_load(const Onnx__ValueInfoProto *vp, ocs_value_info *v, const char *what,
                                  size_t index, ocs_err *err)
{
    if (!vp->name || !*vp->name)
        return ocs_fail(err, OCS_ERR_INVALID, "%s #%zu has no name", what, index);
    v->name = ocs_str_dup(vp->name);
    v->doc = ocs_str_dup(vp->doc_string);
    if (!v->name || !v->doc)
        return nomem(err);
    ocs_status s = ocs_pb_type_load(vp->type, &v->type, err);
    if (s != OCS_OK)
        return ocs_err_prefix(err, s, "%s '%s': ", what, vp->name);
    return OCS_OK;
}

static ocs_status value_info_array_load(Onnx__ValueInfoProto *const *src, size_t n,
                                        ocs_value_info **out, size_t *n_out, const char *what,
                                        ocs_err *err)
{
    *out = alloc_array(n, sizeof **out);
    if (!*out)
        return nomem(err);
    *n_out = n;
    for (size_t i = 0; i < n; i++) {
        ocs_status s = value_info_load(src[i], &(*out)[i], what, i, err);
        if (s != OCS_OK)
            return s;
    }
    return OCS_OK;
}

/* ---- attributes ------------------------------------------------------------------------- */

/* Bit mask of the value fields that are set, one bit per ocs_attr_type. */
static unsigned attr_set_fields(const Onnx__AttributeProto *ap)
{
    unsigned m = 0;
    if (ap->has_f) m |= 1u << OCS_ATTR_FLOAT;
    if (ap->has_i) m |= 1u << OCS_ATTR_INT;
    if (ap->has_s) m |= 1u << OCS_ATTR_STRING;
    if (ap->t) m |= 1u << OCS_ATTR_TENSOR;
    if (ap->g) m |= 1u << OCS_ATTR_GRAPH;
    if (ap->sparse_tensor) m |= 1u << OCS_ATTR_SPARSE_TENSOR;
    if (ap->tp) m |= 1u << OCS_ATTR_TYPE_PROTO;
    if (ap->n_floats) m |= 1u << OCS_ATTR_FLOATS;
    if (ap->n_ints) m |= 1u << OCS_ATTR_INTS;
    if (ap->n_strings) m |= 1u << OCS_ATTR_STRINGS;
    if (ap->n_tensors) m |= 1u << OCS_ATTR_TENSORS;
    if (ap->n_graphs) m |= 1u << OCS_ATTR_GRAPHS;
    if (ap->n_sparse_tensors) m |= 1u << OCS_ATTR_SPARSE_TENSORS;
    if (ap->n_type_protos) m |= 1u << OCS_ATTR_TYPE_PROTOS;
    return m;
}

static int is_list_type(ocs_attr_type t)
{
    return t == OCS_ATTR_FLOATS || t == OCS_ATTR_INTS || t == OCS_ATTR_STRINGS || t == OCS_ATTR_TENSORS ||
           t == OCS_ATTR_GRAPHS || t == OCS_ATTR_SPARSE_TENSORS || t == OCS_ATTR_TYPE_PROTOS;
}

static int lowest_bit(unsigned m)
{
    int i = 0;
    while (!(m & 1u)) {
        m >>= 1;
        i++;
    }
    return i;
}

static ocs_status attr_load(const Onnx__AttributeProto *ap, ocs_attr *a, load_ctx *ctx, ocs_err *err)
{
    if (!ap->name || !*ap->name)
        return ocs_fail(err, OCS_ERR_INVALID, "attribute without a name");
    const char *nm = ap->name;
    a->name = ocs_str_dup(nm);
    a->doc = ocs_str_dup(ap->doc_string);
    if (!a->name || !a->doc)
        return nomem(err);
    int code = ap->has_type ? (int)ap->type : 0;
    if (code < 0 || code > OCS_ATTR_TYPE_PROTOS)
        return ocs_fail(err, OCS_ERR_INVALID, "attribute '%s' has unknown type %d", nm, code);
    ocs_attr_type type = (ocs_attr_type)code;
    unsigned set = attr_set_fields(ap);
    int count = 0;
    for (unsigned m = set; m; m &= m - 1)
        count++;

    if (ap->ref_attr_name) {
        if (!ctx->in_function)
            return ocs_fail(err, OCS_ERR_INVALID,
                            "attribute '%s' refers to '%s', but references are allowed only in function "
                            "bodies", nm, ap->ref_attr_name);
        if (!*ap->ref_attr_name)
            return ocs_fail(err, OCS_ERR_INVALID, "attribute '%s' has an empty ref_attr_name", nm);
        if (count > 0)
            return ocs_fail(err, OCS_ERR_INVALID, "attribute '%s' refers to '%s' and also carries a value",
                            nm, ap->ref_attr_name);
        if (type == OCS_ATTR_UNDEFINED)
            return ocs_fail(err, OCS_ERR_INVALID, "attribute '%s' refers to '%s' but has no type", nm,
                            ap->ref_attr_name);
        a->type = type;
        a->ref_attr_name = ocs_str_dup(ap->ref_attr_name);
        return a->ref_attr_name ? OCS_OK : nomem(err);
    }
    if (count > 1) {
        int first = lowest_bit(set), second = lowest_bit(set & ~(1u << first));
        return ocs_fail(err, OCS_ERR_INVALID, "attribute '%s' holds more than one value (%s and %s)", nm,
                        ocs_attr_type_name((ocs_attr_type)first), ocs_attr_type_name((ocs_attr_type)second));
    }
    if (type == OCS_ATTR_UNDEFINED) {
        /* Files from before the type field: the value field decides. */
        if (count == 0)
            return ocs_fail(err, OCS_ERR_INVALID, "attribute '%s' has neither a type nor a value", nm);
        type = (ocs_attr_type)lowest_bit(set);
    } else if (count == 1 && lowest_bit(set) != (int)type) {
        return ocs_fail(err, OCS_ERR_INVALID, "attribute '%s' is declared %s but holds a %s value", nm,
                        ocs_attr_type_name(type), ocs_attr_type_name((ocs_attr_type)lowest_bit(set)));
    } else if (count == 0 && !is_list_type(type)) {
        return ocs_fail(err, OCS_ERR_INVALID, "attribute '%s' is declared %s but has no value", nm,
                        ocs_attr_type_name(type));
    }
    a->type = type;

    ocs_status s = OCS_OK;
    switch (type) {
    case OCS_ATTR_FLOAT:
        a->f = ap->f;
        break;
    case OCS_ATTR_INT:
        a->i = ap->i;
        break;
    case OCS_ATTR_STRING:
        a->s.data = ocs_mem_dup_str(ap->s.data, ap->s.len);
        a->s.len = ap->s.len;
        if (!a->s.data)
            s = nomem(err);
        break;
    case OCS_ATTR_TENSOR:
        s = ocs_pb_tensor_load(ap->t, ctx->base_dir, &a->t, err);
        break;
    case OCS_ATTR_GRAPH:
        s = graph_load(ap->g, &a->g, ctx, err);
        break;
    case OCS_ATTR_SPARSE_TENSOR:
        s = ocs_pb_sparse_load(ap->sparse_tensor, ctx->base_dir, &a->sparse, err);
        break;
    case OCS_ATTR_TYPE_PROTO:
        a->tp = calloc(1, sizeof *a->tp);
        s = a->tp ? ocs_pb_type_load(ap->tp, a->tp, err) : nomem(err);
        break;
    case OCS_ATTR_FLOATS:
        a->floats = alloc_array(ap->n_floats, sizeof(float));
        if (!a->floats)
            return nomem(err);
        a->n = ap->n_floats;
        if (a->n)
            memcpy(a->floats, ap->floats, a->n * sizeof(float));
        break;
    case OCS_ATTR_INTS:
        a->ints = alloc_array(ap->n_ints, sizeof(int64_t));
        if (!a->ints)
            return nomem(err);
        a->n = ap->n_ints;
        if (a->n)
            memcpy(a->ints, ap->ints, a->n * sizeof(int64_t));
        break;
    case OCS_ATTR_STRINGS:
        a->strings = alloc_array(ap->n_strings, sizeof *a->strings);
        if (!a->strings)
            return nomem(err);
        a->n = ap->n_strings;
        for (size_t i = 0; i < a->n; i++) {
            a->strings[i].data = ocs_mem_dup_str(ap->strings[i].data, ap->strings[i].len);
            a->strings[i].len = ap->strings[i].len;
            if (!a->strings[i].data)
                return nomem(err);
        }
        break;
    case OCS_ATTR_TENSORS:
        a->tensors = alloc_array(ap->n_tensors, sizeof *a->tensors);
        if (!a->tensors)
            return nomem(err);
        a->n = ap->n_tensors;
        for (size_t i = 0; i < a->n && s == OCS_OK; i++)
            s = ocs_pb_tensor_load(ap->tensors[i], ctx->base_dir, &a->tensors[i], err);
        break;
    case OCS_ATTR_GRAPHS:
        a->graphs = alloc_array(ap->n_graphs, sizeof *a->graphs);
        if (!a->graphs)
            return nomem(err);
        a->n = ap->n_graphs;
        for (size_t i = 0; i < a->n && s == OCS_OK; i++)
            s = graph_load(ap->graphs[i], &a->graphs[i], ctx, err);
        break;
    case OCS_ATTR_SPARSE_TENSORS:
        a->sparses = alloc_array(ap->n_sparse_tensors, sizeof *a->sparses);
        if (!a->sparses)
            return nomem(err);
        a->n = ap->n_sparse_tensors;
        for (size_t i = 0; i < a->n && s == OCS_OK; i++)
            s = ocs_pb_sparse_load(ap->sparse_tensors[i], ctx->base_dir, &a->sparses[i], err);
        break;
    case OCS_ATTR_TYPE_PROTOS:
        a->tps = alloc_array(ap->n_type_protos, sizeof *a->tps);
        if (!a->tps)
            return nomem(err);
        a->n = ap->n_type_protos;
        for (size_t i = 0; i < a->n && s == OCS_OK; i++)
            s = ocs_pb_type_load(ap->type_protos[i], &a->tps[i], err);
        break;
    case OCS_ATTR_UNDEFINED:
        break;
    }
    if (s != OCS_OK)
        return ocs_err_prefix(err, s, "attribute '%s': ", nm);
    return OCS_OK;
}

static ocs_status attr_array_load(Onnx__AttributeProto *const *src, size_t n, ocs_attr **out,
                                  size_t *n_out, load_ctx *ctx, ocs_err *err)
{
    *out = alloc_array(n, sizeof **out);
    if (!*out)
        return nomem(err);
    *n_out = n;
    for (size_t i = 0; i < n; i++) {
        ocs_status s = attr_load(src[i], &(*out)[i], ctx, err);
        if (s != OCS_OK)
            return s;
        for (size_t j = 0; j < i; j++)
            if (strcmp((*out)[j].name, (*out)[i].name) == 0)
                return ocs_fail(err, OCS_ERR_INVALID, "attribute '%s' appears twice", (*out)[i].name);
    }
    return OCS_OK;
}

/* ---- nodes and graphs ----------------------------------------------------------------- */

static ocs_status node_load(const Onnx__NodeProto *np, ocs_node *n, load_ctx *ctx, ocs_err *err)
{
    if (!np->op_type || !*np->op_type)
        return ocs_fail(err, OCS_ERR_INVALID, "node has no op_type");
    n->name = ocs_str_dup(np->name);
    n->op_type = ocs_str_dup(np->op_type);
    n->domain = ocs_str_dup(norm_domain(np->domain));
    n->overload = ocs_str_dup(np->overload);
    n->doc = ocs_str_dup(np->doc_string);
    if (!n->name || !n->op_type || !n->domain || !n->overload || !n->doc)
        return nomem(err);
    ocs_status s;
    if ((s = strv_load(np->input, np->n_input, &n->inputs, &n->n_inputs, err)) != OCS_OK ||
        (s = strv_load(np->output, np->n_output, &n->outputs, &n->n_outputs, err)) != OCS_OK ||
        (s = kv_load(np->metadata_props, np->n_metadata_props, &n->meta, &n->n_meta, err)) != OCS_OK)
        return s;
    return attr_array_load(np->attribute, np->n_attribute, &n->attrs, &n->n_attrs, ctx, err);
}

static ocs_status node_array_load(Onnx__NodeProto *const *src, size_t n, ocs_node **out,
                                  size_t *n_out, const char *where, load_ctx *ctx, ocs_err *err)
{
    *out = alloc_array(n, sizeof **out);
    if (!*out)
        return nomem(err);
    *n_out = n;
    for (size_t i = 0; i < n; i++) {
        ocs_status s = node_load(src[i], &(*out)[i], ctx, err);
        if (s != OCS_OK) {
            const Onnx__NodeProto *np = src[i];
            if (np->name && *np->name)
                return ocs_err_prefix(err, s, "%s: node #%zu '%s' (%s): ", where, i, np->name,
                                      np->op_type ? np->op_type : "");
            return ocs_err_prefix(err, s, "%s: node #%zu (%s): ", where, i,
                                  np->op_type ? np->op_type : "");
        }
    }
    return OCS_OK;
}

static ocs_status graph_fill(const Onnx__GraphProto *gp, ocs_graph *g, load_ctx *ctx, ocs_err *err)
{
    if (!gp->name || !*gp->name)
        return ocs_fail(err, OCS_ERR_INVALID, "graph has no name");
    char where[300];
    snprintf(where, sizeof where, "graph '%s'", gp->name);
    g->name = ocs_str_dup(gp->name);
    g->doc = ocs_str_dup(gp->doc_string);
    if (!g->name || !g->doc)
        return nomem(err);
    ocs_status s;
    if ((s = node_array_load(gp->node, gp->n_node, &g->nodes, &g->n_nodes, where, ctx, err)) != OCS_OK)
        return s;
    size_t n_init = gp->n_initializer + gp->n_sparse_initializer;
    g->inits = alloc_array(n_init, sizeof *g->inits);
    if (!g->inits)
        return nomem(err);
    g->n_inits = n_init;
    for (size_t i = 0; i < gp->n_initializer; i++) {
        const Onnx__TensorProto *tp = gp->initializer[i];
        if (!tp->name || !*tp->name)
            return ocs_fail(err, OCS_ERR_INVALID, "%s: initializer #%zu has no name", where, i);
        g->inits[i].name = ocs_str_dup(tp->name);
        if (!g->inits[i].name)
            return nomem(err);
        if ((s = ocs_pb_tensor_load(tp, ctx->base_dir, &g->inits[i].tensor, err)) != OCS_OK)
            return ocs_err_prefix(err, s, "%s: initializer: ", where);
    }
    for (size_t k = 0; k < gp->n_sparse_initializer; k++) {
        const Onnx__SparseTensorProto *sp = gp->sparse_initializer[k];
        ocs_initializer *in = &g->inits[gp->n_initializer + k];
        if (!sp->values || !sp->values->name || !*sp->values->name)
            return ocs_fail(err, OCS_ERR_INVALID, "%s: sparse initializer #%zu has no name", where, k);
        in->name = ocs_str_dup(sp->values->name);
        if (!in->name)
            return nomem(err);
        ocs_sparse *sparse;
        if ((s = ocs_pb_sparse_load(sp, ctx->base_dir, &sparse, err)) != OCS_OK)
            return ocs_err_prefix(err, s, "%s: sparse initializer: ", where);
        s = ocs_sparse_to_dense(sparse, &in->tensor, err);
        ocs_sparse_free(sparse);
        if (s != OCS_OK)
            return ocs_err_prefix(err, s, "%s: sparse initializer '%s': ", where, in->name);
    }
    for (size_t i = 0; i < n_init; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(g->inits[i].name, g->inits[j].name) == 0)
                return ocs_fail(err, OCS_ERR_INVALID, "%s: initializer '%s' appears twice", where,
                                g->inits[i].name);
    if ((s = value_info_array_load(gp->input, gp->n_input, &g->inputs, &g->n_inputs, "input", err)) !=
            OCS_OK ||
        (s = value_info_array_load(gp->output, gp->n_output, &g->outputs, &g->n_outputs, "output", err)) !=
            OCS_OK ||
        (s = value_info_array_load(gp->value_info, gp->n_value_info, &g->value_info, &g->n_value_info,
                                   "value_info", err)) != OCS_OK)
        return ocs_err_prefix(err, s, "%s: ", where);
    return kv_load(gp->metadata_props, gp->n_metadata_props, &g->meta, &g->n_meta, err);
}

static ocs_status graph_load(const Onnx__GraphProto *gp, ocs_graph **out, load_ctx *ctx, ocs_err *err)
{
    *out = NULL;
    if (ctx->depth >= MAX_GRAPH_DEPTH)
        return ocs_fail(err, OCS_ERR_INVALID, "subgraphs nested deeper than %d levels", MAX_GRAPH_DEPTH);
    ocs_graph *g = calloc(1, sizeof *g);
    if (!g)
        return nomem(err);
    ctx->depth++;
    ocs_status s = graph_fill(gp, g, ctx, err);
    ctx->depth--;
    if (s != OCS_OK) {
        ocs_graph_free(g);
        return s;
    }
    *out = g;
    return OCS_OK;
}

/* ---- opsets, functions, the model -------------------------------------------------- */

static ocs_status opsets_load(Onnx__OperatorSetIdProto *const *src, size_t n, ocs_opset **out,
                              size_t *n_out, ocs_err *err)
{
    *out = alloc_array(n, sizeof **out);
    if (!*out)
        return nomem(err);
    *n_out = n;
    for (size_t i = 0; i < n; i++) {
        const char *d = norm_domain(src[i]->domain);
        (*out)[i].domain = ocs_str_dup(d);
        if (!(*out)[i].domain)
            return nomem(err);
        (*out)[i].version = src[i]->has_version ? src[i]->version : 0;
        if ((*out)[i].version < 0)
            return ocs_fail(err, OCS_ERR_INVALID, "opset_import of domain '%s' has negative version %lld", d,
                            (long long)(*out)[i].version);
        for (size_t j = 0; j < i; j++)
            if (strcmp((*out)[j].domain, d) == 0)
                return ocs_fail(err, OCS_ERR_INVALID, "opset_import lists domain '%s' twice", d);
    }
    return OCS_OK;
}

static ocs_status function_fill(const Onnx__FunctionProto *fp, ocs_function *f, load_ctx *ctx,
                                ocs_err *err)
{
    f->name = ocs_str_dup(fp->name);
    f->domain = ocs_str_dup(norm_domain(fp->domain));
    f->overload = ocs_str_dup(fp->overload);
    f->doc = ocs_str_dup(fp->doc_string);
    if (!f->name || !f->domain || !f->overload || !f->doc)
        return nomem(err);
    ocs_status s;
    if ((s = strv_load(fp->input, fp->n_input, &f->inputs, &f->n_inputs, err)) != OCS_OK ||
        (s = strv_load(fp->output, fp->n_output, &f->outputs, &f->n_outputs, err)) != OCS_OK ||
        (s = strv_load(fp->attribute, fp->n_attribute, &f->attr_names, &f->n_attr_names, err)) != OCS_OK ||
        (s = kv_load(fp->metadata_props, fp->n_metadata_props, &f->meta, &f->n_meta, err)) != OCS_OK ||
        (s = opsets_load(fp->opset_import, fp->n_opset_import, &f->opsets, &f->n_opsets, err)) != OCS_OK)
        return s;
    for (size_t i = 0; i < f->n_attr_names; i++)
        if (!*f->attr_names[i])
            return ocs_fail(err, OCS_ERR_INVALID, "attribute parameter #%zu has no name", i);
    /* Defaults are plain values: references make no sense there. */
    load_ctx plain = *ctx;
    plain.in_function = 0;
    if ((s = attr_array_load(fp->attribute_proto, fp->n_attribute_proto, &f->attr_defaults,
                             &f->n_attr_defaults, &plain, err)) != OCS_OK)
        return ocs_err_prefix(err, s, "attribute default: ");
    for (size_t i = 0; i < f->n_attr_defaults; i++)
        for (size_t j = 0; j < f->n_attr_names; j++)
            if (strcmp(f->attr_defaults[i].name, f->attr_names[j]) == 0)
                return ocs_fail(err, OCS_ERR_INVALID,
                                "attribute '%s' is listed both with and without a default", f->attr_names[j]);
    load_ctx body = *ctx;
    body.in_function = 1;
    if ((s = node_array_load(fp->node, fp->n_node, &f->nodes, &f->n_nodes, "body", &body, err)) != OCS_OK)
        return s;
    return value_info_array_load(fp->value_info, fp->n_value_info, &f->value_info, &f->n_value_info,
                                 "value_info", err);
}

static ocs_status model_fill(const Onnx__ModelProto *mp, ocs_model *m, const char *base_dir,
                             ocs_err *err)
{
    m->ir_version = mp->has_ir_version ? mp->ir_version : 0;
    m->model_version = mp->has_model_version ? mp->model_version : 0;
    m->producer_name = ocs_str_dup(mp->producer_name);
    m->producer_version = ocs_str_dup(mp->producer_version);
    m->domain = ocs_str_dup(mp->domain);
    m->doc = ocs_str_dup(mp->doc_string);
    m->dir = ocs_str_dup(base_dir ? base_dir : "");
    if (!m->producer_name || !m->producer_version || !m->domain || !m->doc || !m->dir)
        return nomem(err);
    ocs_status s;
    if ((s = opsets_load(mp->opset_import, mp->n_opset_import, &m->opsets, &m->n_opsets, err)) != OCS_OK ||
        (s = kv_load(mp->metadata_props, mp->n_metadata_props, &m->meta, &m->n_meta, err)) != OCS_OK)
        return s;
    if (!mp->graph)
        return ocs_fail(err, OCS_ERR_INVALID, "model has no graph");
    load_ctx ctx = { base_dir, 0, 0 };
    if ((s = graph_load(mp->graph, &m->graph, &ctx, err)) != OCS_OK)
        return s;
    m->functions = alloc_array(mp->n_functions, sizeof *m->functions);
    if (!m->functions)
        return nomem(err);
    m->n_functions = mp->n_functions;
    for (size_t i = 0; i < mp->n_functions; i++) {
        const Onnx__FunctionProto *fp = mp->functions[i];
        if (!fp->name || !*fp->name)
            return ocs_fail(err, OCS_ERR_INVALID, "function #%zu has no name", i);
        if ((s = function_fill(fp, &m->functions[i], &ctx, err)) != OCS_OK)
            return ocs_err_prefix(err, s, "function '%s': ", fp->name);
        const ocs_function *f = &m->functions[i];
        for (size_t j = 0; j < i; j++) {
            const ocs_function *o = &m->functions[j];
            if (strcmp(o->name, f->name) == 0 && strcmp(o->domain, f->domain) == 0 &&
                strcmp(o->overload, f->overload) == 0)
                return ocs_fail(err, OCS_ERR_INVALID,
                                "function '%s' (domain '%s', overload '%s') is defined twice", f->name,
                                f->domain, f->overload);
        }
    }
    return OCS_OK;
}

ocs_status ocs_model_load_memory(const void *buf, size_t len, const char *base_dir,
                                 ocs_model **out, ocs_err *err)
{
    if (!out)
        return ocs_fail(err, OCS_ERR_INVALID, "no output pointer");
    *out = NULL;
    ocs_status s = ocs_pb_check(&onnx__model_proto__descriptor, buf, len, err);
    if (s != OCS_OK)
        return ocs_err_prefix(err, s, "not a valid ONNX model: ");
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, len, buf);
    if (!mp)
        return ocs_fail(err, OCS_ERR_PARSE,
                        "not a valid ONNX model: the bytes do not parse as a ModelProto");
    ocs_model *m = calloc(1, sizeof *m);
    if (!m) {
        onnx__model_proto__free_unpacked(mp, NULL);
        return nomem(err);
    }
    s = model_fill(mp, m, base_dir, err);
    onnx__model_proto__free_unpacked(mp, NULL);
    if (s != OCS_OK) {
        ocs_model_free(m);
        return s;
    }
    *out = m;
    return OCS_OK;
}

ocs_status ocs_model_load_file(const char *path, ocs_model **out, ocs_err *err)
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
    s = ocs_model_load_memory(buf, len, dir, out, err);
    free(dir);
    free(buf);
    if (s != OCS_OK)
        return ocs_err_prefix(err, s, "'%s': ", path);
    return OCS_OK;
}
