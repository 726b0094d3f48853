/*
 * spec/tensor.c - the dense tensor: creation with checked sizes, copying,
 * comparison, formatting, and element access by flat index for every dtype.
 *
 * Element access never relies on conversions the C standard leaves
 * undefined: a float is range-checked before it becomes an integer, and an
 * integer is narrowed by masking and explicit sign extension.
 */
#define _DEFAULT_SOURCE 1 /* madvise(MADV_HUGEPAGE) */
#include "ocs/tensor.h"

#include <sys/mman.h>

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- shapes and allocation ---------------------------------------------- */

ocs_status ocs_shape_numel(int rank, const int64_t *dims, size_t *numel, ocs_err *err)
{
    if (rank < 0 || rank > OCS_MAX_RANK)
        return ocs_fail(err, OCS_ERR_INVALID, "rank %d is outside 0..%d", rank, OCS_MAX_RANK);
    if (rank > 0 && !dims)
        return ocs_fail(err, OCS_ERR_INVALID, "rank %d shape has no dimensions", rank);
    size_t n = 1;
    int zero = 0;
    for (int i = 0; i < rank; i++) {
        if (dims[i] < 0)
            return ocs_fail(err, OCS_ERR_INVALID, "dimension %d is negative (%lld)",
                            i, (long long)dims[i]);
        if (dims[i] == 0)
            zero = 1;
    }
    /* Any dimension that does not fit size_t overflows, even next to a zero:
     * such a shape is not something this implementation can hold. */
    for (int i = 0; i < rank; i++) {
        uint64_t d = (uint64_t)dims[i];
        if (d > (uint64_t)SIZE_MAX)
            return ocs_fail(err, OCS_ERR_NOMEM, "dimension %d (%lld) does not fit in memory",
                            i, (long long)dims[i]);
        if (zero)
            continue;
        if (d != 0 && n > SIZE_MAX / (size_t)d)
            return ocs_fail(err, OCS_ERR_NOMEM,
                            "shape's element count overflows at dimension %d (%lld)",
                            i, (long long)dims[i]);
        n *= (size_t)d;
    }
    *numel = zero ? 0 : n;
    return OCS_OK;
}

static void free_strings(ocs_string *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(s[i].data);
}

#define OCS_HUGE_PAGE ((size_t)2 << 20)
#define OCS_HUGE_MIN ((size_t)4 << 20)
void *ocs_tensor_alloc_data(size_t nbytes)
{
    /* calloc, not memset after an aligned allocation: a large block is
     * normally a fresh mapping the kernel zeroes as pages are first touched,
     * and the hint then comes before that touch */
    void *p = calloc(nbytes ? nbytes : 1, 1);
#ifdef MADV_HUGEPAGE
    if (p && nbytes >= OCS_HUGE_MIN) {
        const uintptr_t lo = ((uintptr_t)p + OCS_HUGE_PAGE - 1) & ~(uintptr_t)(OCS_HUGE_PAGE - 1);
        const uintptr_t hi = ((uintptr_t)p + nbytes) & ~(uintptr_t)(OCS_HUGE_PAGE - 1);
        if (hi > lo)
            madvise((void *)lo, hi - lo, MADV_HUGEPAGE);   /* a hint: without huge pages the block still works */
    }
#endif
    return p;
}

static ocs_status alloc_tensor(ocs_dtype t, int rank, const int64_t *dims, int fill_strings,
                               ocs_tensor **out, ocs_err *err)
{
    *out = NULL;
    if (!ocs_dtype_valid(t))
        return ocs_fail(err, OCS_ERR_UNSUPPORTED, "element type %s (%d) is not supported",
                        ocs_dtype_name(t), (int)t);
    size_t numel;
    ocs_status st = ocs_shape_numel(rank, dims, &numel, err);
    if (st != OCS_OK)
        return st;
    size_t esize = ocs_dtype_size(t);
    if (esize != 0 && numel > SIZE_MAX / esize)
        return ocs_fail(err, OCS_ERR_NOMEM, "tensor of %zu %s elements overflows size_t",
                        numel, ocs_dtype_name(t));
    size_t nbytes = numel * esize;
    ocs_tensor *x = calloc(1, sizeof *x);
    if (!x)
        return ocs_fail(err, OCS_ERR_NOMEM, "out of memory allocating a tensor");
    x->data = ocs_tensor_alloc_data(nbytes);
    if (!x->data) {
        free(x);
        return ocs_fail(err, OCS_ERR_NOMEM, "out of memory allocating %zu bytes for %s tensor",
                        nbytes, ocs_dtype_name(t));
    }
    x->dtype = t;
    x->rank = rank;
    for (int i = 0; i < rank; i++)
        x->dims[i] = dims[i];
    x->numel = numel;
    x->nbytes = nbytes;
    if (t == OCS_STRING && fill_strings) {
        ocs_string *s = x->data;
        for (size_t i = 0; i < numel; i++) {
            s[i].data = calloc(1, 1);
            if (!s[i].data) {
                free_strings(s, i);
                free(x->data);
                free(x);
                return ocs_fail(err, OCS_ERR_NOMEM, "out of memory allocating strings");
            }
            s[i].len = 0;
        }
    }
    *out = x;
    return OCS_OK;
}

ocs_status ocs_tensor_new(ocs_dtype t, int rank, const int64_t *dims, ocs_tensor **out,
                          ocs_err *err)
{
    if (!out)
        return ocs_fail(err, OCS_ERR_INVALID, "ocs_tensor_new: no output pointer");
    return alloc_tensor(t, rank, dims, 1, out, err);
}

ocs_status ocs_tensor_clone(const ocs_tensor *src, ocs_tensor **out, ocs_err *err)
{
    if (!out)
        return ocs_fail(err, OCS_ERR_INVALID, "ocs_tensor_clone: no output pointer");
    *out = NULL;
    if (!src)
        return ocs_fail(err, OCS_ERR_INVALID, "ocs_tensor_clone: no source tensor");
    ocs_tensor *x;
    ocs_status st = alloc_tensor(src->dtype, src->rank, src->dims, 0, &x, err);
    if (st != OCS_OK)
        return st;
    if (src->dtype == OCS_STRING) {
        const ocs_string *s = src->data;
        ocs_string *d = x->data;
        for (size_t i = 0; i < x->numel; i++) {
            size_t len = s[i].len;
            d[i].data = malloc(len + 1);
            if (!d[i].data) {
                ocs_tensor_free(x);
                return ocs_fail(err, OCS_ERR_NOMEM, "out of memory copying a string of %zu bytes",
                                len);
            }
            if (len)
                memcpy(d[i].data, s[i].data, len);
            d[i].data[len] = '\0';
            d[i].len = len;
        }
    } else if (x->nbytes) {
        memcpy(x->data, src->data, x->nbytes);
    }
    *out = x;
    return OCS_OK;
}

void ocs_tensor_free(ocs_tensor *t)
{
    if (!t)
        return;
    if (t->dtype == OCS_STRING && t->data)
        free_strings(t->data, t->numel);
    free(t->data);
    free(t);
}

int ocs_tensor_equal(const ocs_tensor *a, const ocs_tensor *b)
{
    if (!a || !b)
        return a == b;
    if (a->dtype != b->dtype || a->rank != b->rank || a->numel != b->numel)
        return 0;
    for (int i = 0; i < a->rank; i++)
        if (a->dims[i] != b->dims[i])
            return 0;
    if (a->dtype == OCS_STRING) {
        const ocs_string *x = a->data, *y = b->data;
        for (size_t i = 0; i < a->numel; i++) {
            if (x[i].len != y[i].len)
                return 0;
            if (x[i].len && memcmp(x[i].data, y[i].data, x[i].len) != 0)
                return 0;
        }
        return 1;
    }
    if (a->nbytes != b->nbytes)
        return 0;
    return a->nbytes == 0 || memcmp(a->data, b->data, a->nbytes) == 0;
}

char *ocs_shape_str(int rank, const int64_t *dims, char *buf, size_t len)
{
    if (!buf || len == 0)
        return buf;
    size_t pos = 0;
    buf[0] = '\0';
#define APPEND(...)                                                        \
    do {                                                                   \
        if (pos < len) {                                                   \
            int w_ = snprintf(buf + pos, len - pos, __VA_ARGS__);          \
            pos = w_ < 0 ? len : pos + (size_t)w_;                         \
        }                                                                  \
    } while (0)
    APPEND("[");
    for (int i = 0; i < rank && dims; i++)
        APPEND(i ? ",%lld" : "%lld", (long long)dims[i]);
    APPEND("]");
#undef APPEND
    return buf;
}

char *ocs_tensor_describe(const ocs_tensor *t, char *buf, size_t len)
{
    if (!buf || len == 0)
        return buf;
    if (!t) {
        snprintf(buf, len, "(null)");
        return buf;
    }
    char shape[OCS_MAX_RANK * 22 + 3];
    ocs_shape_str(t->rank, t->dims, shape, sizeof shape);
    snprintf(buf, len, "%s%s", ocs_dtype_name(t->dtype), shape);
    return buf;
}

/* ---- integer narrowing without implementation-defined conversions ----------- */

/* Sign-extends the low `bits` bits of u. */
static int64_t sext(uint64_t u, int bits)
{
    if (bits < 64) {
        u &= ((uint64_t)1 << bits) - 1u;
        if (u & ((uint64_t)1 << (bits - 1)))
            return -(int64_t)(((uint64_t)1 << bits) - u);
        return (int64_t)u;
    }
    if (u <= (uint64_t)INT64_MAX)
        return (int64_t)u;
    return -(int64_t)(~u) - 1;
}

/* Two's complement bits of v. */
static uint64_t ubits(int64_t v)
{
    return (uint64_t)v;   /* conversion to unsigned is defined as modulo 2^64 */
}

/* A double truncated toward zero, reduced modulo 2^64 (NaN and +-Inf give 0). */
static uint64_t f64_wrap(double v)
{
    if (isnan(v) || isinf(v))
        return 0;
    double t = trunc(v);
    const double two64 = 18446744073709551616.0;
    if (t >= 0)
        return (uint64_t)fmod(t, two64);
    return (uint64_t)0 - (uint64_t)fmod(-t, two64);
}

/* A double truncated toward zero and clamped to int64 (NaN gives 0). */
static int64_t f64_to_i64_clamp(double v)
{
    if (isnan(v))
        return 0;
    if (v >= 9223372036854775808.0)
        return INT64_MAX;
    if (v < -9223372036854775808.0)
        return INT64_MIN;
    return (int64_t)v;    /* in range: truncates toward zero */
}

/* float from double, with overflow handled explicitly (round to nearest). */
static float f64_to_f32(double v)
{
    if (isnan(v))
        return (float)v;
    double a = fabs(v);
    if (a > FLT_MAX) {
        /* The rounding boundary is halfway between FLT_MAX and 2^128. */
        float r = a >= 0x1.ffffffp127 ? INFINITY : FLT_MAX;
        return v < 0 ? -r : r;
    }
    return (float)v;
}

/*
 * An int64 as a double rounded to odd at 53 bits: converting that double to
 * any format with at most 51 significand bits then rounds exactly once.
 */
static double i64_to_f64_odd(int64_t v)
{
    uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
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
    return v < 0 ? -d : d;
}

/* ---- element access ------------------------------------------------------------ */

double ocs_tensor_get_f64(const ocs_tensor *t, size_t i)
{
    const void *p = t->data;
    switch (t->dtype) {
    case OCS_FLOAT: return ((const float *)p)[i];
    case OCS_DOUBLE: return ((const double *)p)[i];
    case OCS_UINT8: return ((const uint8_t *)p)[i];
    case OCS_INT8: return ((const int8_t *)p)[i];
    case OCS_UINT16: return ((const uint16_t *)p)[i];
    case OCS_INT16: return ((const int16_t *)p)[i];
    case OCS_INT32: return ((const int32_t *)p)[i];
    case OCS_INT64: return (double)((const int64_t *)p)[i];
    case OCS_UINT32: return ((const uint32_t *)p)[i];
    case OCS_UINT64: return (double)((const uint64_t *)p)[i];
    case OCS_BOOL: return ((const uint8_t *)p)[i] ? 1.0 : 0.0;
    case OCS_FLOAT16: return ocs_half_to_float(((const uint16_t *)p)[i]);
    case OCS_BFLOAT16: return ocs_bfloat16_to_float(((const uint16_t *)p)[i]);
    case OCS_FLOAT8E4M3FN:
    case OCS_FLOAT8E4M3FNUZ:
    case OCS_FLOAT8E5M2:
    case OCS_FLOAT8E5M2FNUZ:
    case OCS_FLOAT4E2M1:
    case OCS_FLOAT8E8M0:
        return ocs_minifloat_to_double(t->dtype, ((const uint8_t *)p)[i]);
    case OCS_UINT4: return ((const uint8_t *)p)[i] & 0x0Fu;
    case OCS_INT4: return (double)sext(((const uint8_t *)p)[i], 4);
    case OCS_UINT2: return ((const uint8_t *)p)[i] & 0x03u;
    case OCS_INT2: return (double)sext(((const uint8_t *)p)[i], 2);
    default: return 0.0;
    }
}

int64_t ocs_tensor_get_i64(const ocs_tensor *t, size_t i)
{
    const void *p = t->data;
    switch (t->dtype) {
    case OCS_UINT8: return ((const uint8_t *)p)[i];
    case OCS_INT8: return ((const int8_t *)p)[i];
    case OCS_UINT16: return ((const uint16_t *)p)[i];
    case OCS_INT16: return ((const int16_t *)p)[i];
    case OCS_INT32: return ((const int32_t *)p)[i];
    case OCS_INT64: return ((const int64_t *)p)[i];
    case OCS_UINT32: return ((const uint32_t *)p)[i];
    case OCS_UINT64: return sext(((const uint64_t *)p)[i], 64);
    case OCS_BOOL: return ((const uint8_t *)p)[i] ? 1 : 0;
    case OCS_UINT4: return ((const uint8_t *)p)[i] & 0x0Fu;
    case OCS_INT4: return sext(((const uint8_t *)p)[i], 4);
    case OCS_UINT2: return ((const uint8_t *)p)[i] & 0x03u;
    case OCS_INT2: return sext(((const uint8_t *)p)[i], 2);
    case OCS_FLOAT:
    case OCS_DOUBLE:
    case OCS_FLOAT16:
    case OCS_BFLOAT16:
    case OCS_FLOAT8E4M3FN:
    case OCS_FLOAT8E4M3FNUZ:
    case OCS_FLOAT8E5M2:
    case OCS_FLOAT8E5M2FNUZ:
    case OCS_FLOAT4E2M1:
    case OCS_FLOAT8E8M0:
        return f64_to_i64_clamp(ocs_tensor_get_f64(t, i));
    default: return 0;
    }
}

/* Stores the integer whose two's complement bits are u, wrapped to the type. */
static void store_int_bits(ocs_tensor *t, size_t i, uint64_t u)
{
    void *p = t->data;
    switch (t->dtype) {
    case OCS_UINT8: ((uint8_t *)p)[i] = (uint8_t)u; break;
    case OCS_INT8: ((int8_t *)p)[i] = (int8_t)sext(u, 8); break;
    case OCS_UINT16: ((uint16_t *)p)[i] = (uint16_t)u; break;
    case OCS_INT16: ((int16_t *)p)[i] = (int16_t)sext(u, 16); break;
    case OCS_INT32: ((int32_t *)p)[i] = (int32_t)sext(u, 32); break;
    case OCS_INT64: ((int64_t *)p)[i] = sext(u, 64); break;
    case OCS_UINT32: ((uint32_t *)p)[i] = (uint32_t)u; break;
    case OCS_UINT64: ((uint64_t *)p)[i] = u; break;
    case OCS_UINT4: ((uint8_t *)p)[i] = (uint8_t)(u & 0x0Fu); break;
    case OCS_INT4: ((int8_t *)p)[i] = (int8_t)sext(u, 4); break;
    case OCS_UINT2: ((uint8_t *)p)[i] = (uint8_t)(u & 0x03u); break;
    case OCS_INT2: ((int8_t *)p)[i] = (int8_t)sext(u, 2); break;
    default: break;
    }
}

/* Stores v into a floating-point element, rounding once. */
static void store_float(ocs_tensor *t, size_t i, double v)
{
    void *p = t->data;
    switch (t->dtype) {
    case OCS_FLOAT: ((float *)p)[i] = f64_to_f32(v); break;
    case OCS_DOUBLE: ((double *)p)[i] = v; break;
    case OCS_FLOAT16: ((uint16_t *)p)[i] = ocs_double_to_half(v); break;
    case OCS_BFLOAT16: ((uint16_t *)p)[i] = ocs_double_to_bfloat16(v); break;
    case OCS_FLOAT8E4M3FN:
    case OCS_FLOAT8E4M3FNUZ:
    case OCS_FLOAT8E5M2:
    case OCS_FLOAT8E5M2FNUZ:
    case OCS_FLOAT4E2M1:
    case OCS_FLOAT8E8M0:
        ((uint8_t *)p)[i] = (uint8_t)ocs_double_to_minifloat(t->dtype, v, 1);
        break;
    default: break;
    }
}

void ocs_tensor_set_f64(ocs_tensor *t, size_t i, double v)
{
    if (t->dtype == OCS_BOOL) {
        ((uint8_t *)t->data)[i] = v != 0.0;   /* NaN is true, as in ONNX's Cast */
        return;
    }
    if (ocs_dtype_is_float(t->dtype)) {
        store_float(t, i, v);
        return;
    }
    if (ocs_dtype_is_integer(t->dtype))
        store_int_bits(t, i, f64_wrap(v));
}

void ocs_tensor_set_i64(ocs_tensor *t, size_t i, int64_t v)
{
    if (t->dtype == OCS_BOOL) {
        ((uint8_t *)t->data)[i] = v != 0;
        return;
    }
    if (ocs_dtype_is_integer(t->dtype)) {
        store_int_bits(t, i, ubits(v));
        return;
    }
    if (t->dtype == OCS_DOUBLE) {
        ((double *)t->data)[i] = (double)v;   /* one rounding */
        return;
    }
    if (t->dtype == OCS_FLOAT) {
        ((float *)t->data)[i] = (float)v;     /* one rounding, always in range */
        return;
    }
    if (ocs_dtype_is_float(t->dtype))
        store_float(t, i, i64_to_f64_odd(v));
}
