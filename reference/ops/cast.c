/*
 * reference/ops/cast.c - Cast (versions 1, 6, 9, 13, 19, 21, 23, 24, 25) and
 * the element conversion it shares with CastLike.
 *
 * Every value is converted exactly once from its exact source value:
 *   - floating-point sources decode exactly to double; integers stay int64
 *     (uint64 above 2^63 keeps its own path);
 *   - to an integer: floats truncate toward zero and then, like integers,
 *     wrap to the target width (two's complement); NaN and +-Inf give 0
 *     (ONNX leaves out-of-range float-to-integer casts undefined);
 *   - to bool: zero is false, everything else (NaN included) is true;
 *   - to a float format: round to nearest even once; float8 targets follow
 *     the saturate attribute (ONNX's tables), float4e2m1 always saturates
 *     (NaN becomes 0x8, the -0 pattern, as in ONNX's test data), float8e8m0
 *     follows saturate and round_mode;
 *   - to string: integers in decimal, bool as "True"/"False", floats with
 *     the fewest significant digits that read back to the same value of the
 *     source type, positional unless below 1e-4 or from 1e16 on ("1e-05",
 *     "0.5", "3.0", "inf", "nan"), as numpy's astype(str) writes them;
 *   - from string: decimal or scientific notation, "INF"/"+INF"/"-INF"/"NaN"
 *     in any case; integer literals convert exactly; a string that is not a
 *     number is an error naming it.
 */
#include "cast.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- versions and attributes ------------------------------------------------ */

/* The first Cast/CastLike version whose type constraints list dtype t; 0 if none. */
static int64_t first_version(ocs_dtype t, int castlike)
{
    switch (t) {
    case OCS_FLOAT16: case OCS_FLOAT: case OCS_DOUBLE:
    case OCS_INT8: case OCS_INT16: case OCS_INT32: case OCS_INT64:
    case OCS_UINT8: case OCS_UINT16: case OCS_UINT32: case OCS_UINT64:
    case OCS_BOOL:
        return castlike ? 15 : 1;
    case OCS_STRING:
        return castlike ? 15 : 9;
    case OCS_BFLOAT16:
        return castlike ? 15 : 13;
    case OCS_FLOAT8E4M3FN: case OCS_FLOAT8E4M3FNUZ:
    case OCS_FLOAT8E5M2: case OCS_FLOAT8E5M2FNUZ:
        return 19;
    case OCS_UINT4: case OCS_INT4:
        return 21;
    case OCS_FLOAT4E2M1:
        return 23;
    case OCS_FLOAT8E8M0:
        return 24;
    case OCS_UINT2: case OCS_INT2:
        return 25;
    default:
        return 0;
    }
}

ocs_status ocs_cast_check_dtype(const ocs_kernel_args *a, ocs_dtype t, const char *what)
{
    int castlike = strcmp(a->node->op_type, "CastLike") == 0;
    int64_t v = first_version(t, castlike);
    if (v == 0)
        return ocs_fail(a->err, OCS_ERR_UNSUPPORTED, "%s: %s type %s is not supported",
                        a->node->op_type, what, ocs_dtype_name(t));
    if (a->since_version < v)
        return ocs_fail(a->err, OCS_ERR_INVALID,
                        "%s-%lld does not allow %s type %s (allowed from version %lld)",
                        a->node->op_type, (long long)a->since_version, what, ocs_dtype_name(t),
                        (long long)v);
    return OCS_OK;
}

ocs_status ocs_cast_round_mode(const ocs_kernel_args *a, ocs_e8m0_round *out)
{
    *out = OCS_E8M0_UP;
    if (a->since_version < 24)
        return OCS_OK;
    const char *s = "up";
    ocs_status st = ocs_node_attr_string(a->node, "round_mode", "up", &s, a->err);
    if (st != OCS_OK)
        return st;
    if (strcmp(s, "up") == 0)
        *out = OCS_E8M0_UP;
    else if (strcmp(s, "down") == 0)
        *out = OCS_E8M0_DOWN;
    else if (strcmp(s, "nearest") == 0)
        *out = OCS_E8M0_NEAREST;
    else
        return ocs_fail(a->err, OCS_ERR_INVALID,
                        "%s: attribute round_mode is '%s'; expected 'up', 'down' or 'nearest'",
                        a->node->op_type, s);
    return OCS_OK;
}

/* ---- exact numeric helpers ----------------------------------------------------- */

static int is_float8(ocs_dtype t)
{
    return t == OCS_FLOAT8E4M3FN || t == OCS_FLOAT8E4M3FNUZ || t == OCS_FLOAT8E5M2 ||
           t == OCS_FLOAT8E5M2FNUZ;
}

/*
 * An unsigned magnitude as a double rounded to odd at 53 bits, with sign
 * neg.  Rounding that double to any format of at most 51 significand bits
 * gives the correctly rounded result of the integer itself.
 */
static double u64_to_f64_odd(uint64_t mag, int neg)
{
    double d;
    if (mag < ((uint64_t)1 << 53)) {
        d = (double)mag;
    } else {
        int shift = 0;
        while ((mag >> shift) >= ((uint64_t)1 << 53))
            shift++;
        uint64_t kept = mag >> shift;
        if (mag & (((uint64_t)1 << shift) - 1u))
            kept |= 1u;
        d = ldexp((double)kept, shift);
    }
    return neg ? -d : d;
}

/* float8e8m0 with a rounding mode: snap |d| to a power of two, then encode. */
static uint8_t to_e8m0(double d, int saturate, ocs_e8m0_round mode)
{
    if (mode == OCS_E8M0_UP || isnan(d) || isinf(d) || d == 0.0)
        return (uint8_t)ocs_double_to_minifloat(OCS_FLOAT8E8M0, d, saturate);
    double a = fabs(d);
    int k;
    double f = frexp(a, &k);      /* a = f * 2^k, f in [0.5, 1) */
    double p = ldexp(1.0, k - 1); /* largest power of two <= a */
    if (mode == OCS_E8M0_NEAREST && f >= 0.75)
        p = ldexp(1.0, k);        /* a >= 1.5 * 2^(k-1): the upper power, ties up */
    if (p < 0x1p-127)
        return saturate ? 0x00 : 0xFF;
    return (uint8_t)ocs_double_to_minifloat(OCS_FLOAT8E8M0, p, saturate);
}

/* Stores the (exact or round-to-odd) value d into element i of a float tensor. */
static void store_float(ocs_tensor *out, size_t i, double d, int saturate, ocs_e8m0_round mode)
{
    uint8_t *p8 = out->data;
    if (is_float8(out->dtype))
        p8[i] = (uint8_t)ocs_double_to_minifloat(out->dtype, d, saturate);
    else if (out->dtype == OCS_FLOAT8E8M0)
        p8[i] = to_e8m0(d, saturate, mode);
    else
        ocs_tensor_set_f64(out, i, d);   /* float, double, float16, bfloat16, float4e2m1 */
}

/* ---- numbers to text -------------------------------------------------------------- */

/* v rounded to the float type t (the value a string must read back to). */
static double quantize(ocs_dtype t, double v)
{
    switch (t) {
    case OCS_DOUBLE: return v;
    case OCS_FLOAT:
        if (fabs(v) > FLT_MAX) {
            /* Beyond FLT_MAX, float rounds to FLT_MAX until halfway to 2^128. */
            double r = fabs(v) < 0x1.ffffffp127 ? (double)FLT_MAX : INFINITY;
            return v < 0 ? -r : r;
        }
        return (double)(float)v;
    case OCS_FLOAT16: return ocs_half_to_float(ocs_double_to_half(v));
    case OCS_BFLOAT16: return ocs_bfloat16_to_float(ocs_double_to_bfloat16(v));
    default: return ocs_minifloat_to_double(t, ocs_double_to_minifloat(t, v, 1));
    }
}

/* Shortest decimal text of v (a value of float type t), numpy style. */
static void format_float(char *buf, size_t len, double v, ocs_dtype t)
{
    if (isnan(v)) {
        snprintf(buf, len, "nan");
        return;
    }
    if (isinf(v)) {
        snprintf(buf, len, v < 0 ? "-inf" : "inf");
        return;
    }
    if (v == 0.0) {
        snprintf(buf, len, signbit(v) ? "-0.0" : "0.0");
        return;
    }
    char sci[64];
    for (int p = 1; p <= 17; p++) {
        snprintf(sci, sizeof sci, "%.*e", p - 1, v);
        if (quantize(t, strtod(sci, NULL)) == v)
            break;
    }
    /* sci is "-d.ddde+XX": collect the digits and the decimal exponent. */
    char digits[32];
    size_t nd = 0;
    const char *s = sci;
    int neg = 0;
    if (*s == '-') {
        neg = 1;
        s++;
    }
    while (*s && *s != 'e') {
        if (isdigit((unsigned char)*s) && nd < sizeof digits - 1)
            digits[nd++] = *s;
        s++;
    }
    int exp10 = *s == 'e' ? atoi(s + 1) : 0;
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    digits[nd] = '\0';

    char out[96];
    size_t o = 0;
    if (neg)
        out[o++] = '-';
    double a = fabs(v);
    if (a < 1e-4 || a >= 1e16) {
        out[o++] = digits[0];
        if (nd > 1) {
            out[o++] = '.';
            for (size_t i = 1; i < nd; i++)
                out[o++] = digits[i];
        }
        snprintf(out + o, sizeof out - o, "e%c%02d", exp10 < 0 ? '-' : '+', abs(exp10));
    } else if (exp10 >= 0) {
        for (int i = 0; i <= exp10; i++)
            out[o++] = (size_t)i < nd ? digits[i] : '0';
        out[o++] = '.';
        if ((size_t)exp10 + 1 < nd) {
            for (size_t i = (size_t)exp10 + 1; i < nd; i++)
                out[o++] = digits[i];
        } else {
            out[o++] = '0';
        }
        out[o] = '\0';
    } else {
        out[o++] = '0';
        out[o++] = '.';
        for (int i = 0; i < -exp10 - 1; i++)
            out[o++] = '0';
        for (size_t i = 0; i < nd; i++)
            out[o++] = digits[i];
        out[o] = '\0';
    }
    snprintf(buf, len, "%s", out);
}

static ocs_status set_string(const ocs_kernel_args *a, ocs_tensor *out, size_t i, const char *s,
                             size_t len)
{
    ocs_string *dst = (ocs_string *)out->data + i;
    char *p = malloc(len + 1);
    if (!p)
        return ocs_fail(a->err, OCS_ERR_NOMEM, "%s: out of memory for a string of %zu bytes",
                        a->node->op_type, len);
    if (len)
        memcpy(p, s, len);
    p[len] = '\0';
    free(dst->data);
    dst->data = p;
    dst->len = len;
    return OCS_OK;
}

static ocs_status to_string(const ocs_kernel_args *a, const ocs_tensor *in, size_t i,
                            ocs_tensor *out)
{
    char buf[96];
    ocs_dtype t = in->dtype;
    if (t == OCS_BOOL)
        snprintf(buf, sizeof buf, "%s", ((const uint8_t *)in->data)[i] ? "True" : "False");
    else if (t == OCS_UINT64)
        snprintf(buf, sizeof buf, "%" PRIu64, ((const uint64_t *)in->data)[i]);
    else if (ocs_dtype_is_integer(t))
        snprintf(buf, sizeof buf, "%" PRId64, ocs_tensor_get_i64(in, i));
    else
        format_float(buf, sizeof buf, ocs_tensor_get_f64(in, i), t);
    return set_string(a, out, i, buf, strlen(buf));
}

/* ---- text to numbers ---------------------------------------------------------------- */

static int ieq(const char *x, const char *y)
{
    for (; *x && *y; x++, y++)
        if (tolower((unsigned char)*x) != tolower((unsigned char)*y))
            return 0;
    return *x == *y;
}

/* Whether s is an optional sign followed by decimal digits only. */
static int is_int_literal(const char *s)
{
    if (*s == '+' || *s == '-')
        s++;
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return 0;
    return 1;
}

static ocs_status from_string(const ocs_kernel_args *a, const ocs_tensor *in, size_t i,
                              ocs_tensor *out, int saturate, ocs_e8m0_round mode)
{
    const ocs_string *src = (const ocs_string *)in->data + i;
    if (out->dtype == OCS_STRING)
        return set_string(a, out, i, src->data ? src->data : "", src->len);

    /* A trimmed, NUL-terminated copy. */
    const char *d = src->data ? src->data : "";
    size_t len = src->len;
    if (memchr(d, '\0', len))
        return ocs_fail(a->err, OCS_ERR_INVALID, "%s: string at index %zu contains a NUL byte",
                        a->node->op_type, i);
    while (len && isspace((unsigned char)d[0])) {
        d++;
        len--;
    }
    while (len && isspace((unsigned char)d[len - 1]))
        len--;
    char small[128];
    char *s = len < sizeof small ? small : malloc(len + 1);
    if (!s)
        return ocs_fail(a->err, OCS_ERR_NOMEM, "%s: out of memory", a->node->op_type);
    memcpy(s, d, len);
    s[len] = '\0';

    ocs_status st = OCS_OK;
    ocs_dtype t = out->dtype;
    char *end = NULL;
    if (t == OCS_BOOL && (ieq(s, "true") || ieq(s, "false"))) {
        ((uint8_t *)out->data)[i] = ieq(s, "true");
    } else if (ocs_dtype_is_integer(t) && is_int_literal(s)) {
        /* Exact: wrap the integer to the target width. */
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (errno == 0) {
            ocs_tensor_set_i64(out, i, (int64_t)v);
        } else {
            errno = 0;
            unsigned long long u = s[0] == '-' ? 0 : strtoull(s, &end, 10);
            if (s[0] != '-' && errno == 0)
                ocs_tensor_set_i64(out, i, (int64_t)(u - (1ULL << 63)) + INT64_MIN);
            else
                ocs_tensor_set_f64(out, i, strtod(s, NULL));   /* wraps like any float */
        }
    } else if (t == OCS_FLOAT) {
        float f = strtof(s, &end);   /* one rounding, straight from the decimal */
        if (end == s || *end)
            st = OCS_ERR_INVALID;
        else
            ((float *)out->data)[i] = f;
    } else {
        double v = strtod(s, &end);
        if (end == s || *end)
            st = OCS_ERR_INVALID;
        else if (t == OCS_BOOL)
            ((uint8_t *)out->data)[i] = v != 0.0;
        else if (ocs_dtype_is_integer(t))
            ocs_tensor_set_f64(out, i, v);
        else
            store_float(out, i, v, saturate, mode);
    }
    if (st != OCS_OK)
        ocs_fail(a->err, st, "%s: string '%.64s' at index %zu is not a number", a->node->op_type,
                 s, i);
    if (s != small)
        free(s);
    return st;
}

/* ---- one element ------------------------------------------------------------------ */

static void cast_number(const ocs_tensor *in, size_t i, ocs_tensor *out, int saturate,
                        ocs_e8m0_round mode)
{
    ocs_dtype from = in->dtype, to = out->dtype;
    if (to == OCS_BOOL) {
        int nz = ocs_dtype_is_float(from) ? ocs_tensor_get_f64(in, i) != 0.0
                                          : ocs_tensor_get_i64(in, i) != 0;
        ((uint8_t *)out->data)[i] = (uint8_t)nz;
        return;
    }
    if (!ocs_dtype_is_float(from)) {
        /* Integer or bool source: its exact value. */
        if (ocs_dtype_is_integer(to)) {
            ocs_tensor_set_i64(out, i, ocs_tensor_get_i64(in, i));   /* wraps */
            return;
        }
        uint64_t mag;
        int neg = 0;
        if (from == OCS_UINT64) {
            mag = ((const uint64_t *)in->data)[i];
        } else {
            int64_t v = ocs_tensor_get_i64(in, i);
            neg = v < 0;
            mag = neg ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
        }
        if (to == OCS_DOUBLE) {
            double d = (double)mag;   /* one rounding */
            ((double *)out->data)[i] = neg ? -d : d;
        } else if (to == OCS_FLOAT) {
            float f = (float)mag;     /* one rounding; every uint64 is in float's range */
            ((float *)out->data)[i] = neg ? -f : f;
        } else {
            store_float(out, i, u64_to_f64_odd(mag, neg), saturate, mode);
        }
        return;
    }
    /* Floating-point source: decoded exactly. */
    double d = ocs_tensor_get_f64(in, i);
    if (ocs_dtype_is_integer(to))
        ocs_tensor_set_f64(out, i, d);   /* truncates, wraps; NaN and Inf give 0 */
    else
        store_float(out, i, d, saturate, mode);
}

ocs_status ocs_cast_tensor(const ocs_kernel_args *a, const ocs_tensor *in, ocs_tensor *out,
                           int saturate, ocs_e8m0_round rmode)
{
    if (in->numel != out->numel)
        return ocs_fail(a->err, OCS_ERR_INVALID, "%s: output has %zu elements, input %zu",
                        a->node->op_type, out->numel, in->numel);
    for (size_t i = 0; i < in->numel; i++) {
        ocs_status st = OCS_OK;
        if (in->dtype == OCS_STRING)
            st = from_string(a, in, i, out, saturate, rmode);
        else if (out->dtype == OCS_STRING)
            st = to_string(a, in, i, out);
        else
            cast_number(in, i, out, saturate, rmode);
        if (st != OCS_OK)
            return st;
    }
    return OCS_OK;
}

/* ---- Cast ------------------------------------------------------------------------------ */

ocs_status ocs_ref_Cast(ocs_kernel_args *a)
{
    ocs_status st = ocs_need_inputs(a, 1, 1);
    if (st != OCS_OK)
        return st;
    const ocs_tensor *x = a->inputs[0];

    /* 'to': a type name (Cast-1) or a TensorProto.DataType code (Cast-6 on). */
    ocs_dtype to;
    const ocs_attr *to_attr = ocs_node_attr(a->node, "to");
    if (!to_attr)
        return ocs_fail(a->err, OCS_ERR_INVALID, "Cast: required attribute 'to' is missing");
    if (a->since_version < 6 && to_attr->type == OCS_ATTR_STRING) {
        to = ocs_dtype_from_name(to_attr->s.data);
        if (to == OCS_UNDEFINED)
            return ocs_fail(a->err, OCS_ERR_INVALID, "Cast: attribute 'to' names no type ('%s')",
                            to_attr->s.data ? to_attr->s.data : "");
    } else {
        int64_t code;
        st = ocs_node_attr_int(a->node, "to", 0, &code, a->err);
        if (st != OCS_OK)
            return st;
        if (code <= 0 || code >= OCS_DTYPE_COUNT_)
            return ocs_fail(a->err, OCS_ERR_INVALID, "Cast: attribute 'to' is %lld, not a type",
                            (long long)code);
        to = (ocs_dtype)code;
    }

    int64_t saturate = 1;
    if (a->since_version >= 19) {
        st = ocs_node_attr_int(a->node, "saturate", 1, &saturate, a->err);
        if (st != OCS_OK)
            return st;
    }
    ocs_e8m0_round rmode;
    if ((st = ocs_cast_round_mode(a, &rmode)) != OCS_OK)
        return st;
    if ((st = ocs_cast_check_dtype(a, x->dtype, "input")) != OCS_OK ||
        (st = ocs_cast_check_dtype(a, to, "target")) != OCS_OK)
        return st;

    ocs_tensor *y;
    st = ocs_output(a, 0, to, x->rank, x->dims, &y);
    if (st != OCS_OK)
        return st;
    return ocs_cast_tensor(a, x, y, saturate != 0, rmode);
}
