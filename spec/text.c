/*
 * spec/text.c - printing models, graphs, functions and nodes in ONNX's
 * textual syntax (see ocs/text.h), and the text buffer behind it.
 */
#include "ocs/text.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Deepest nesting of subgraphs printed; deeper ones are an error, not a stack overflow. */
#define MAX_DEPTH 100
/* Indentation per nesting level. */
#define INDENT 2

/* ---- the text buffer ------------------------------------------------------------ */

static int reserve(ocs_text *t, size_t more)
{
    if (t->failed)
        return 0;
    if (more >= SIZE_MAX - t->len - 1) {
        t->failed = 1;
        return 0;
    }
    size_t need = t->len + more + 1;
    if (need <= t->cap)
        return 1;
    size_t cap = t->cap ? t->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = realloc(t->data, cap);
    if (!p) {
        t->failed = 1;
        return 0;
    }
    t->data = p;
    t->cap = cap;
    return 1;
}

void ocs_text_putn(ocs_text *t, const char *s, size_t n)
{
    if (!reserve(t, n))
        return;
    if (n)
        memcpy(t->data + t->len, s, n);
    t->len += n;
    t->data[t->len] = '\0';
}

void ocs_text_puts(ocs_text *t, const char *s)
{
    ocs_text_putn(t, s, strlen(s));
}

void ocs_text_putc(ocs_text *t, char c)
{
    ocs_text_putn(t, &c, 1);
}

void ocs_text_printf(ocs_text *t, const char *fmt, ...)
{
    if (t->failed)
        return;
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        t->failed = 1;
        return;
    }
    if ((size_t)n < sizeof small) {
        ocs_text_putn(t, small, (size_t)n);
        return;
    }
    if (!reserve(t, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(t->data + t->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    t->len += (size_t)n;
}

ocs_status ocs_text_finish(ocs_text *t, char **out, ocs_err *err)
{
    *out = NULL;
    if (!t->failed && !t->data)
        reserve(t, 0);
    if (t->failed) {
        ocs_text_free(t);
        return ocs_fail(err, OCS_ERR_NOMEM, "out of memory writing text");
    }
    t->data[t->len] = '\0';
    *out = t->data;
    memset(t, 0, sizeof *t);
    return OCS_OK;
}

void ocs_text_free(ocs_text *t)
{
    free(t->data);
    memset(t, 0, sizeof *t);
}

/* ---- pieces ------------------------------------------------------------------------ */

static const char *const dtype_names[OCS_DTYPE_COUNT_] = {
    [OCS_FLOAT] = "float",
    [OCS_UINT8] = "uint8",
    [OCS_INT8] = "int8",
    [OCS_UINT16] = "uint16",
    [OCS_INT16] = "int16",
    [OCS_INT32] = "int32",
    [OCS_INT64] = "int64",
    [OCS_STRING] = "string",
    [OCS_BOOL] = "bool",
    [OCS_FLOAT16] = "float16",
    [OCS_DOUBLE] = "double",
    [OCS_UINT32] = "uint32",
    [OCS_UINT64] = "uint64",
    [OCS_COMPLEX64] = "complex64",
    [OCS_COMPLEX128] = "complex128",
    [OCS_BFLOAT16] = "bfloat16",
    [OCS_FLOAT8E4M3FN] = "float8e4m3fn",
    [OCS_FLOAT8E4M3FNUZ] = "float8e4m3fnuz",
    [OCS_FLOAT8E5M2] = "float8e5m2",
    [OCS_FLOAT8E5M2FNUZ] = "float8e5m2fnuz",
    [OCS_UINT4] = "uint4",
    [OCS_INT4] = "int4",
    [OCS_FLOAT4E2M1] = "float4e2m1",
    [OCS_FLOAT8E8M0] = "float8e8m0",
    [OCS_UINT2] = "uint2",
    [OCS_INT2] = "int2",
};

const char *ocs_text_dtype_name(ocs_dtype t)
{
    if ((int)t <= 0 || (int)t >= OCS_DTYPE_COUNT_)
        return NULL;
    return dtype_names[t];
}

void ocs_text_quoted(ocs_text *t, const char *s, size_t len)
{
    ocs_text_putc(t, '"');
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': ocs_text_puts(t, "\\\""); break;
        case '\\': ocs_text_puts(t, "\\\\"); break;
        case '\n': ocs_text_puts(t, "\\n"); break;
        case '\t': ocs_text_puts(t, "\\t"); break;
        case '\r': ocs_text_puts(t, "\\r"); break;
        default:
            if (c < 0x20 || c == 0x7f)
                ocs_text_printf(t, "\\x%02x", c);
            else
                ocs_text_putc(t, (char)c);
        }
    }
    ocs_text_putc(t, '"');
}

static int is_identifier(const char *s)
{
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
        return 0;
    for (s++; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return 0;
    return 1;
}

void ocs_text_id(ocs_text *t, const char *name)
{
    if (!name)
        name = "";
    if (is_identifier(name))
        ocs_text_puts(t, name);
    else
        ocs_text_quoted(t, name, strlen(name));
}

/* Makes a printed finite number read as a float: "1" becomes "1.0". */
static void float_look(char *buf, size_t len)
{
    if (strpbrk(buf, ".eE"))
        return;
    size_t n = strlen(buf);
    if (n + 3 <= len)
        memcpy(buf + n, ".0", 3);
}

/*
 * v with p significant digits, in fixed notation when its decimal exponent
 * is in [-4, 16) ("100", "0.0001") and in scientific notation otherwise
 * ("1e+16", "1e-45").
 */
static void render(char *buf, size_t len, double v, int p)
{
    snprintf(buf, len, "%.*e", p - 1, v);
    const char *e = strchr(buf, 'e');
    int exp10 = e ? atoi(e + 1) : 0;
    if (exp10 >= -4 && exp10 < 16)
        snprintf(buf, len, "%.*f", p - 1 - exp10 > 0 ? p - 1 - exp10 : 0, v);
}

/* "nan", "inf", "-inf" for the non-finite; 0 when v is finite. */
static int special(ocs_text *t, double v)
{
    if (isnan(v)) {
        ocs_text_puts(t, "nan");
        return 1;
    }
    if (isinf(v)) {
        ocs_text_puts(t, v < 0 ? "-inf" : "inf");
        return 1;
    }
    return 0;
}

void ocs_text_float(ocs_text *t, float f)
{
    if (special(t, f))
        return;
    char buf[64];
    for (int p = 1; p <= 9; p++) {
        render(buf, sizeof buf, f, p);
        if (strtof(buf, NULL) == f)
            break;
    }
    float_look(buf, sizeof buf);
    ocs_text_puts(t, buf);
}

void ocs_text_double(ocs_text *t, double d)
{
    if (special(t, d))
        return;
    char buf[64];
    for (int p = 1; p <= 17; p++) {
        render(buf, sizeof buf, d, p);
        if (strtod(buf, NULL) == d)
            break;
    }
    float_look(buf, sizeof buf);
    ocs_text_puts(t, buf);
}

/* Shortest decimal that encodes back to the same 16-bit pattern (float16 or bfloat16). */
static void put_half(ocs_text *t, uint16_t bits, int bf16)
{
    float v = bf16 ? ocs_bfloat16_to_float(bits) : ocs_half_to_float(bits);
    if (special(t, v))
        return;
    char buf[64];
    for (int p = 1; p <= 9; p++) {
        render(buf, sizeof buf, v, p);
        float back = strtof(buf, NULL);
        if ((bf16 ? ocs_float_to_bfloat16(back) : ocs_float_to_half(back)) == bits)
            break;
    }
    float_look(buf, sizeof buf);
    ocs_text_puts(t, buf);
}

/* The same for the 8-bit and 4-bit float formats. */
static void put_minifloat(ocs_text *t, ocs_dtype type, unsigned bits)
{
    double v = ocs_minifloat_to_double(type, bits);
    if (special(t, v))
        return;
    char buf[64];
    for (int p = 1; p <= 17; p++) {
        render(buf, sizeof buf, v, p);
        if (ocs_double_to_minifloat(type, strtod(buf, NULL), 0) == bits)
            break;
    }
    float_look(buf, sizeof buf);
    ocs_text_puts(t, buf);
}

/* Element i of x in the syntax. */
static void put_element(ocs_text *t, const ocs_tensor *x, size_t i)
{
    switch (x->dtype) {
    case OCS_FLOAT:
        ocs_text_float(t, ((const float *)x->data)[i]);
        break;
    case OCS_DOUBLE:
        ocs_text_double(t, ((const double *)x->data)[i]);
        break;
    case OCS_FLOAT16:
        put_half(t, ((const uint16_t *)x->data)[i], 0);
        break;
    case OCS_BFLOAT16:
        put_half(t, ((const uint16_t *)x->data)[i], 1);
        break;
    case OCS_FLOAT8E4M3FN:
    case OCS_FLOAT8E4M3FNUZ:
    case OCS_FLOAT8E5M2:
    case OCS_FLOAT8E5M2FNUZ:
    case OCS_FLOAT4E2M1:
    case OCS_FLOAT8E8M0:
        put_minifloat(t, x->dtype, ((const uint8_t *)x->data)[i]);
        break;
    case OCS_STRING: {
        const ocs_string *s = &((const ocs_string *)x->data)[i];
        ocs_text_quoted(t, s->data ? s->data : "", s->data ? s->len : 0);
        break;
    }
    case OCS_UINT64:
        ocs_text_printf(t, "%" PRIu64, ((const uint64_t *)x->data)[i]);
        break;
    default:
        ocs_text_printf(t, "%" PRId64, ocs_tensor_get_i64(x, i));
        break;
    }
}

static ocs_status put_tensor_type(ocs_text *t, ocs_dtype dtype, int rank, const int64_t *dims, ocs_err *err)
{
    const char *name = ocs_text_dtype_name(dtype);
    if (!name || dtype == OCS_COMPLEX64 || dtype == OCS_COMPLEX128)
        return ocs_fail(err, OCS_ERR_UNSUPPORTED, "element type %d has no textual form", (int)dtype);
    ocs_text_puts(t, name);
    if (rank > 0) {
        ocs_text_putc(t, '[');
        for (int d = 0; d < rank; d++)
            ocs_text_printf(t, "%s%" PRId64, d ? "," : "", dims[d]);
        ocs_text_putc(t, ']');
    }
    return OCS_OK;
}

ocs_status ocs_text_tensor(ocs_text *t, const ocs_tensor *x, const char *name, ocs_err *err)
{
    ocs_status st = put_tensor_type(t, x->dtype, x->rank, x->dims, err);
    if (st != OCS_OK)
        return name ? ocs_err_prefix(err, st, "tensor '%s': ", name) : st;
    if (name) {
        ocs_text_putc(t, ' ');
        ocs_text_id(t, name);
        ocs_text_puts(t, " =");
    }
    ocs_text_puts(t, " {");
    for (size_t i = 0; i < x->numel; i++) {
        if (i)
            ocs_text_puts(t, ", ");
        put_element(t, x, i);
    }
    ocs_text_putc(t, '}');
    return OCS_OK;
}

/* ---- types and value infos --------------------------------------------------------- */

static ocs_status put_type(ocs_text *t, const ocs_type *ty, int depth, ocs_err *err)
{
    if (depth > MAX_DEPTH)
        return ocs_fail(err, OCS_ERR_UNSUPPORTED, "type nested deeper than %d levels", MAX_DEPTH);
    switch (ty->kind) {
    case OCS_TYPE_TENSOR:
    case OCS_TYPE_SPARSE_TENSOR: {
        const char *name = ocs_text_dtype_name(ty->elem);
        if (!name)
            return ocs_fail(err, OCS_ERR_UNSUPPORTED, "element type %d has no textual form", (int)ty->elem);
        if (ty->kind == OCS_TYPE_SPARSE_TENSOR)
            ocs_text_puts(t, "sparse_tensor(");
        ocs_text_puts(t, name);
        if (ty->has_shape) {
            ocs_text_putc(t, '[');
            for (int d = 0; d < ty->rank; d++) {
                if (d)
                    ocs_text_putc(t, ',');
                const ocs_dim *dim = &ty->dims[d];
                if (dim->param && dim->param[0])
                    ocs_text_id(t, dim->param);
                else if (dim->value >= 0)
                    ocs_text_printf(t, "%" PRId64, dim->value);
                else
                    ocs_text_putc(t, '?');
            }
            ocs_text_putc(t, ']');
        }
        if (ty->kind == OCS_TYPE_SPARSE_TENSOR)
            ocs_text_putc(t, ')');
        return OCS_OK;
    }
    case OCS_TYPE_SEQUENCE:
    case OCS_TYPE_OPTIONAL:
        if (!ty->inner)
            return ocs_fail(err, OCS_ERR_INVALID, "%s type without an element type",
                            ty->kind == OCS_TYPE_SEQUENCE ? "sequence" : "optional");
        ocs_text_puts(t, ty->kind == OCS_TYPE_SEQUENCE ? "seq(" : "optional(");
        {
            ocs_status st = put_type(t, ty->inner, depth + 1, err);
            if (st != OCS_OK)
                return st;
        }
        ocs_text_putc(t, ')');
        return OCS_OK;
    case OCS_TYPE_MAP: {
        const char *key = ocs_text_dtype_name(ty->elem);
        if (!key || !ty->inner)
            return ocs_fail(err, OCS_ERR_INVALID, "map type without a key or value type");
        ocs_text_printf(t, "map(%s, ", key);
        ocs_status st = put_type(t, ty->inner, depth + 1, err);
        if (st != OCS_OK)
            return st;
        ocs_text_putc(t, ')');
        return OCS_OK;
    }
    case OCS_TYPE_NONE:
        return OCS_OK;
    }
    return ocs_fail(err, OCS_ERR_INVALID, "unknown type kind %d", (int)ty->kind);
}

/* "float[N,4] x", or just "x" when the type (or a tensor's element type) is not set. */
static ocs_status put_value_info(ocs_text *t, const ocs_value_info *vi, ocs_err *err)
{
    int untyped = vi->type.kind == OCS_TYPE_NONE ||
                  (vi->type.kind == OCS_TYPE_TENSOR && vi->type.elem == OCS_UNDEFINED);
    if (!untyped) {
        ocs_status st = put_type(t, &vi->type, 0, err);
        if (st != OCS_OK)
            return ocs_err_prefix(err, st, "value '%s': ", vi->name ? vi->name : "");
        ocs_text_putc(t, ' ');
    }
    ocs_text_id(t, vi->name);
    return OCS_OK;
}

static ocs_status put_value_infos(ocs_text *t, const ocs_value_info *v, size_t n, ocs_err *err)
{
    ocs_text_putc(t, '(');
    for (size_t i = 0; i < n; i++) {
        if (i)
            ocs_text_puts(t, ", ");
        ocs_status st = put_value_info(t, &v[i], err);
        if (st != OCS_OK)
            return st;
    }
    ocs_text_putc(t, ')');
    return OCS_OK;
}

static void put_names(ocs_text *t, char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (i)
            ocs_text_puts(t, ", ");
        ocs_text_id(t, names[i]);
    }
}

static void put_indent(ocs_text *t, int level)
{
    for (int i = 0; i < level * INDENT; i++)
        ocs_text_putc(t, ' ');
}

static void put_opsets(ocs_text *t, const ocs_opset *opsets, size_t n)
{
    ocs_text_puts(t, "opset_import: [");
    for (size_t i = 0; i < n; i++) {
        if (i)
            ocs_text_puts(t, ", ");
        const char *d = opsets[i].domain ? opsets[i].domain : "";
        ocs_text_quoted(t, d, strlen(d));
        ocs_text_printf(t, " : %" PRId64, opsets[i].version);
    }
    ocs_text_putc(t, ']');
}

/* ---- attributes, nodes, graphs ------------------------------------------------------- */

static ocs_status put_graph(ocs_text *t, const ocs_graph *g, int level, ocs_err *err);

const char *ocs_text_attr_type_name(ocs_attr_type type)
{
    switch (type) {
    case OCS_ATTR_FLOAT: return "float";
    case OCS_ATTR_INT: return "int";
    case OCS_ATTR_STRING: return "string";
    case OCS_ATTR_TENSOR: return "tensor";
    case OCS_ATTR_GRAPH: return "graph";
    case OCS_ATTR_FLOATS: return "floats";
    case OCS_ATTR_INTS: return "ints";
    case OCS_ATTR_STRINGS: return "strings";
    case OCS_ATTR_TENSORS: return "tensors";
    case OCS_ATTR_GRAPHS: return "graphs";
    case OCS_ATTR_SPARSE_TENSOR: return "sparse_tensor";
    case OCS_ATTR_SPARSE_TENSORS: return "sparse_tensors";
    case OCS_ATTR_TYPE_PROTO: return "type_proto";
    case OCS_ATTR_TYPE_PROTOS: return "type_protos";
    case OCS_ATTR_UNDEFINED: break;
    }
    return NULL;
}

/* The array of a list attribute, or NULL when a is not a list (or has none). */
static const void *list_of(const ocs_attr *a)
{
    switch (a->type) {
    case OCS_ATTR_FLOATS: return a->floats;
    case OCS_ATTR_INTS: return a->ints;
    case OCS_ATTR_STRINGS: return a->strings;
    case OCS_ATTR_TENSORS: return a->tensors;
    case OCS_ATTR_GRAPHS: return a->graphs;
    case OCS_ATTR_SPARSE_TENSORS: return a->sparses;
    case OCS_ATTR_TYPE_PROTOS: return a->tps;
    default: return NULL;
    }
}

static int attr_is_list(ocs_attr_type type)
{
    return type == OCS_ATTR_FLOATS || type == OCS_ATTR_INTS || type == OCS_ATTR_STRINGS ||
           type == OCS_ATTR_TENSORS || type == OCS_ATTR_GRAPHS || type == OCS_ATTR_SPARSE_TENSORS ||
           type == OCS_ATTR_TYPE_PROTOS;
}

/* sparse_tensor(float[3,4]) {values: float[2] {...}, indices: int64[2,2] {...}} */
static ocs_status put_sparse(ocs_text *t, const ocs_sparse *sp, ocs_err *err)
{
    if (!sp || !sp->values || !sp->indices)
        return ocs_fail(err, OCS_ERR_INVALID, "sparse tensor without values or indices");
    ocs_text_puts(t, "sparse_tensor(");
    ocs_status st = put_tensor_type(t, sp->values->dtype, sp->rank, sp->dims, err);
    if (st != OCS_OK)
        return st;
    ocs_text_puts(t, ") {values: ");
    st = ocs_text_tensor(t, sp->values, NULL, err);
    if (st != OCS_OK)
        return st;
    ocs_text_puts(t, ", indices: ");
    st = ocs_text_tensor(t, sp->indices, NULL, err);
    if (st != OCS_OK)
        return st;
    ocs_text_putc(t, '}');
    return OCS_OK;
}

/* Element i of a list attribute (or the single value, for i == SIZE_MAX). */
static ocs_status put_attr_value(ocs_text *t, const ocs_attr *a, size_t i, int level, ocs_err *err)
{
    int one = i == SIZE_MAX;
    switch (a->type) {
    case OCS_ATTR_FLOAT:
        ocs_text_float(t, a->f);
        return OCS_OK;
    case OCS_ATTR_FLOATS:
        ocs_text_float(t, a->floats[i]);
        return OCS_OK;
    case OCS_ATTR_INT:
        ocs_text_printf(t, "%" PRId64, a->i);
        return OCS_OK;
    case OCS_ATTR_INTS:
        ocs_text_printf(t, "%" PRId64, a->ints[i]);
        return OCS_OK;
    case OCS_ATTR_STRING:
    case OCS_ATTR_STRINGS: {
        const ocs_string *s = one ? &a->s : &a->strings[i];
        ocs_text_quoted(t, s->data ? s->data : "", s->data ? s->len : 0);
        return OCS_OK;
    }
    case OCS_ATTR_TENSOR:
    case OCS_ATTR_TENSORS: {
        const ocs_tensor *x = one ? a->t : a->tensors[i];
        if (!x)
            return ocs_fail(err, OCS_ERR_INVALID, "tensor attribute without a tensor");
        return ocs_text_tensor(t, x, NULL, err);
    }
    case OCS_ATTR_GRAPH:
    case OCS_ATTR_GRAPHS: {
        const ocs_graph *g = one ? a->g : a->graphs[i];
        if (!g)
            return ocs_fail(err, OCS_ERR_INVALID, "graph attribute without a graph");
        return put_graph(t, g, level, err);
    }
    case OCS_ATTR_SPARSE_TENSOR:
        return put_sparse(t, a->sparse, err);
    case OCS_ATTR_SPARSE_TENSORS:
        return put_sparse(t, a->sparses[i], err);
    case OCS_ATTR_TYPE_PROTO:
        if (!a->tp)
            return ocs_fail(err, OCS_ERR_INVALID, "type attribute without a type");
        return put_type(t, a->tp, 0, err);
    case OCS_ATTR_TYPE_PROTOS:
        return put_type(t, &a->tps[i], 0, err);
    case OCS_ATTR_UNDEFINED:
        break;
    }
    return ocs_fail(err, OCS_ERR_INVALID, "attribute of unknown type %d", (int)a->type);
}

/* name = value, name = [v, ...], name: ints = [] or name: int = @ref. */
static ocs_status put_attr(ocs_text *t, const ocs_attr *a, int level, ocs_err *err)
{
    const char *word = ocs_text_attr_type_name(a->type);
    if (!word)
        return ocs_fail(err, OCS_ERR_INVALID, "attribute '%s' has unknown type %d", a->name, (int)a->type);
    ocs_text_id(t, a->name);
    if (a->ref_attr_name && a->ref_attr_name[0]) {
        ocs_text_printf(t, ": %s = @", word);
        ocs_text_id(t, a->ref_attr_name);
        return OCS_OK;
    }
    ocs_status st = OCS_OK;
    if (!attr_is_list(a->type)) {
        ocs_text_puts(t, " = ");
        st = put_attr_value(t, a, SIZE_MAX, level, err);
    } else {
        if (a->n && !list_of(a))
            return ocs_fail(err, OCS_ERR_INVALID, "attribute '%s' has %zu values but no array", a->name, a->n);
        /* an empty list says its type, since "[]" alone could be any */
        if (a->n == 0)
            ocs_text_printf(t, ": %s", word);
        ocs_text_puts(t, " = [");
        for (size_t i = 0; i < a->n && st == OCS_OK; i++) {
            if (i)
                ocs_text_puts(t, ", ");
            st = put_attr_value(t, a, i, level, err);
        }
        ocs_text_putc(t, ']');
    }
    if (st != OCS_OK)
        return ocs_err_prefix(err, st, "attribute '%s': ", a->name);
    return OCS_OK;
}

static ocs_status put_attrs(ocs_text *t, const ocs_node *n, int level, ocs_err *err)
{
    ocs_text_puts(t, " <");
    for (size_t k = 0; k < n->n_attrs; k++) {
        if (k)
            ocs_text_puts(t, ", ");
        ocs_status st = put_attr(t, &n->attrs[k], level, err);
        if (st != OCS_OK)
            return st;
    }
    ocs_text_putc(t, '>');
    return OCS_OK;
}

/* One node at indentation level (its subgraphs nest one level deeper). */
static ocs_status put_node(ocs_text *t, const ocs_node *n, int level, ocs_err *err)
{
    if (level > MAX_DEPTH)
        return ocs_fail(err, OCS_ERR_UNSUPPORTED, "subgraphs nested deeper than %d levels", MAX_DEPTH);
    if (n->name && n->name[0]) {
        ocs_text_putc(t, '[');
        ocs_text_id(t, n->name);
        ocs_text_puts(t, "] ");
    }
    put_names(t, n->outputs, n->n_outputs);
    ocs_text_puts(t, n->n_outputs ? " = " : "= ");
    if (n->domain && n->domain[0]) {
        ocs_text_puts(t, n->domain);
        ocs_text_putc(t, '.');
    }
    ocs_text_id(t, n->op_type);
    if (n->overload && n->overload[0]) {
        ocs_text_putc(t, ':');
        ocs_text_id(t, n->overload);
    }
    int has_graph = 0;
    for (size_t k = 0; k < n->n_attrs; k++)
        if (n->attrs[k].type == OCS_ATTR_GRAPH || n->attrs[k].type == OCS_ATTR_GRAPHS)
            has_graph = 1;
    ocs_status st = OCS_OK;
    if (n->n_attrs && !has_graph)
        st = put_attrs(t, n, level, err);
    ocs_text_puts(t, " (");
    put_names(t, n->inputs, n->n_inputs);
    ocs_text_putc(t, ')');
    if (st == OCS_OK && n->n_attrs && has_graph)
        st = put_attrs(t, n, level, err);
    if (st != OCS_OK) {
        char label[256];
        return ocs_err_prefix(err, st, "%s: ", ocs_node_label(n, label, sizeof label));
    }
    return OCS_OK;
}

static ocs_status put_nodes(ocs_text *t, const ocs_node *nodes, size_t n, int level, ocs_err *err)
{
    for (size_t i = 0; i < n; i++) {
        put_indent(t, level);
        ocs_status st = put_node(t, &nodes[i], level, err);
        if (st != OCS_OK)
            return st;
        ocs_text_putc(t, '\n');
    }
    return OCS_OK;
}

/* The <initializers, value_info> list of a graph or body; nothing when both are empty. */
static ocs_status put_graph_extras(ocs_text *t, const ocs_graph *g, ocs_err *err)
{
    ocs_text_putc(t, '<');
    for (size_t i = 0; i < g->n_inits; i++) {
        if (i)
            ocs_text_puts(t, ", ");
        ocs_status st = ocs_text_tensor(t, g->inits[i].tensor, g->inits[i].name, err);
        if (st != OCS_OK)
            return st;
    }
    for (size_t i = 0; i < g->n_value_info; i++) {
        if (i || g->n_inits)
            ocs_text_puts(t, ", ");
        ocs_status st = put_value_info(t, &g->value_info[i], err);
        if (st != OCS_OK)
            return st;
    }
    ocs_text_putc(t, '>');
    return OCS_OK;
}

/*
 * name (inputs) => (outputs) {       the graph's header at the current column,
 *   nodes                            its nodes one level deeper than level,
 * }                                  the closing brace at level.
 */
static ocs_status put_graph(ocs_text *t, const ocs_graph *g, int level, ocs_err *err)
{
    if (level > MAX_DEPTH)
        return ocs_fail(err, OCS_ERR_UNSUPPORTED, "subgraphs nested deeper than %d levels", MAX_DEPTH);
    ocs_text_id(t, g->name);
    ocs_text_putc(t, ' ');
    ocs_status st = put_value_infos(t, g->inputs, g->n_inputs, err);
    if (st != OCS_OK)
        return st;
    ocs_text_puts(t, " => ");
    st = put_value_infos(t, g->outputs, g->n_outputs, err);
    if (st != OCS_OK)
        return st;
    if (g->n_inits || g->n_value_info) {
        ocs_text_putc(t, '\n');
        put_indent(t, level + 1);
        st = put_graph_extras(t, g, err);
        if (st != OCS_OK)
            return st;
        ocs_text_putc(t, '\n');
        put_indent(t, level);
        ocs_text_puts(t, "{\n");
    } else {
        ocs_text_puts(t, " {\n");
    }
    st = put_nodes(t, g->nodes, g->n_nodes, level + 1, err);
    if (st != OCS_OK)
        return st;
    put_indent(t, level);
    ocs_text_putc(t, '}');
    return OCS_OK;
}

static ocs_status finish(ocs_text *t, ocs_status st, char **out, ocs_err *err)
{
    if (st != OCS_OK) {
        ocs_text_free(t);
        return st;
    }
    return ocs_text_finish(t, out, err);
}

/* ---- whole structures ------------------------------------------------------------------ */

ocs_status ocs_graph_to_text(const ocs_graph *g, const ocs_opset *opsets, size_t n_opsets, char **out,
                             ocs_err *err)
{
    *out = NULL;
    ocs_text t = {0};
    if (n_opsets) {
        ocs_text_puts(&t, "<ir_version: 10, ");
        put_opsets(&t, opsets, n_opsets);
        ocs_text_puts(&t, ">\n");
    }
    ocs_status st = put_graph(&t, g, 0, err);
    ocs_text_putc(&t, '\n');
    return finish(&t, st, out, err);
}

static ocs_status put_function(ocs_text *t, const ocs_function *f, ocs_err *err)
{
    ocs_text_puts(t, "<domain: ");
    ocs_text_quoted(t, f->domain ? f->domain : "", f->domain ? strlen(f->domain) : 0);
    if (f->overload && f->overload[0]) {
        ocs_text_puts(t, ", overload: ");
        ocs_text_quoted(t, f->overload, strlen(f->overload));
    }
    ocs_text_puts(t, ", ");
    put_opsets(t, f->opsets, f->n_opsets);
    ocs_text_puts(t, ">\n");
    ocs_text_id(t, f->name);
    if (f->n_attr_names || f->n_attr_defaults) {
        ocs_text_puts(t, " <");
        for (size_t i = 0; i < f->n_attr_names; i++) {
            if (i)
                ocs_text_puts(t, ", ");
            ocs_text_id(t, f->attr_names[i]);
        }
        for (size_t i = 0; i < f->n_attr_defaults; i++) {
            if (i || f->n_attr_names)
                ocs_text_puts(t, ", ");
            ocs_status st = put_attr(t, &f->attr_defaults[i], 0, err);
            if (st != OCS_OK)
                return st;
        }
        ocs_text_putc(t, '>');
    }
    ocs_text_puts(t, " (");
    put_names(t, f->inputs, f->n_inputs);
    ocs_text_puts(t, ") => (");
    put_names(t, f->outputs, f->n_outputs);
    ocs_text_putc(t, ')');
    if (f->n_value_info) {
        ocs_text_puts(t, "\n<");
        for (size_t i = 0; i < f->n_value_info; i++) {
            if (i)
                ocs_text_puts(t, ", ");
            ocs_status st = put_value_info(t, &f->value_info[i], err);
            if (st != OCS_OK)
                return st;
        }
        ocs_text_putc(t, '>');
    }
    ocs_text_puts(t, "\n{\n");
    ocs_status st = put_nodes(t, f->nodes, f->n_nodes, 1, err);
    if (st != OCS_OK)
        return ocs_err_prefix(err, st, "function '%s': ", f->name ? f->name : "");
    ocs_text_puts(t, "}\n");
    return OCS_OK;
}

ocs_status ocs_function_to_text(const ocs_function *f, char **out, ocs_err *err)
{
    *out = NULL;
    ocs_text t = {0};
    ocs_status st = put_function(&t, f, err);
    return finish(&t, st, out, err);
}

ocs_status ocs_model_to_text(const ocs_model *m, char **out, ocs_err *err)
{
    *out = NULL;
    ocs_text t = {0};
    ocs_text_printf(&t, "<ir_version: %" PRId64 ", ", m->ir_version);
    put_opsets(&t, m->opsets, m->n_opsets);
    if (m->producer_name && m->producer_name[0]) {
        ocs_text_puts(&t, ", producer_name: ");
        ocs_text_quoted(&t, m->producer_name, strlen(m->producer_name));
    }
    if (m->producer_version && m->producer_version[0]) {
        ocs_text_puts(&t, ", producer_version: ");
        ocs_text_quoted(&t, m->producer_version, strlen(m->producer_version));
    }
    if (m->domain && m->domain[0]) {
        ocs_text_puts(&t, ", domain: ");
        ocs_text_quoted(&t, m->domain, strlen(m->domain));
    }
    if (m->model_version)
        ocs_text_printf(&t, ", model_version: %" PRId64, m->model_version);
    ocs_text_puts(&t, ">\n");
    ocs_status st = m->graph ? put_graph(&t, m->graph, 0, err)
                             : ocs_fail(err, OCS_ERR_INVALID, "model without a main graph");
    ocs_text_putc(&t, '\n');
    for (size_t i = 0; i < m->n_functions && st == OCS_OK; i++) {
        ocs_text_putc(&t, '\n');
        st = put_function(&t, &m->functions[i], err);
    }
    return finish(&t, st, out, err);
}

ocs_status ocs_body_to_text(const char *domain, const char *name, const ocs_graph *body,
                            const ocs_opset *opsets, size_t n_opsets, char **out, ocs_err *err)
{
    *out = NULL;
    ocs_text t = {0};
    ocs_text_puts(&t, "<domain: ");
    ocs_text_quoted(&t, domain ? domain : "", domain ? strlen(domain) : 0);
    ocs_text_puts(&t, ", ");
    put_opsets(&t, opsets, n_opsets);
    ocs_text_puts(&t, ">\n");
    ocs_text_id(&t, name);
    ocs_text_putc(&t, ' ');
    ocs_status st = put_value_infos(&t, body->inputs, body->n_inputs, err);
    if (st == OCS_OK) {
        ocs_text_puts(&t, " => ");
        st = put_value_infos(&t, body->outputs, body->n_outputs, err);
    }
    if (st == OCS_OK && (body->n_inits || body->n_value_info)) {
        ocs_text_putc(&t, '\n');
        st = put_graph_extras(&t, body, err);
    }
    ocs_text_puts(&t, "\n{\n");
    if (st == OCS_OK)
        st = put_nodes(&t, body->nodes, body->n_nodes, 1, err);
    ocs_text_puts(&t, "}\n");
    if (st != OCS_OK)
        ocs_err_prefix(err, st, "body of %s: ", name ? name : "");
    return finish(&t, st, out, err);
}

ocs_status ocs_node_to_text(const ocs_node *n, char **out, ocs_err *err)
{
    *out = NULL;
    ocs_text t = {0};
    ocs_status st = put_node(&t, n, 0, err);
    return finish(&t, st, out, err);
}
