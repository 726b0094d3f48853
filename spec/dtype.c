/*
 * spec/dtype.c - element types: names, sizes, predicates, and the exact
 * conversions between double/float and the narrow floating-point formats
 * (float16, bfloat16, the four float8 formats, float4e2m1 and float8e8m0).
 *
 * Every narrowing conversion here works on the exact value: the input is
 * split into a power of two and an integer significand with frexp/ldexp
 * (both exact), the significand is rounded once to the target precision
 * with ties to even, and the result is assembled from integers.  No
 * conversion depends on the floating-point environment's rounding mode.
 */
#include "ocs/tensor.h"

#include <ctype.h>
#include <math.h>
#include <string.h>

/* ---- names, sizes, predicates ------------------------------------------- */

static const char *const dtype_names[OCS_DTYPE_COUNT_] = {
    [OCS_UNDEFINED] = "UNDEFINED",
    [OCS_FLOAT] = "FLOAT",
    [OCS_UINT8] = "UINT8",
    [OCS_INT8] = "INT8",
    [OCS_UINT16] = "UINT16",
    [OCS_INT16] = "INT16",
    [OCS_INT32] = "INT32",
    [OCS_INT64] = "INT64",
    [OCS_STRING] = "STRING",
    [OCS_BOOL] = "BOOL",
    [OCS_FLOAT16] = "FLOAT16",
    [OCS_DOUBLE] = "DOUBLE",
    [OCS_UINT32] = "UINT32",
    [OCS_UINT64] = "UINT64",
    [OCS_COMPLEX64] = "COMPLEX64",
    [OCS_COMPLEX128] = "COMPLEX128",
    [OCS_BFLOAT16] = "BFLOAT16",
    [OCS_FLOAT8E4M3FN] = "FLOAT8E4M3FN",
    [OCS_FLOAT8E4M3FNUZ] = "FLOAT8E4M3FNUZ",
    [OCS_FLOAT8E5M2] = "FLOAT8E5M2",
    [OCS_FLOAT8E5M2FNUZ] = "FLOAT8E5M2FNUZ",
    [OCS_UINT4] = "UINT4",
    [OCS_INT4] = "INT4",
    [OCS_FLOAT4E2M1] = "FLOAT4E2M1",
    [OCS_FLOAT8E8M0] = "FLOAT8E8M0",
    [OCS_UINT2] = "UINT2",
    [OCS_INT2] = "INT2",
};

const char *ocs_dtype_name(ocs_dtype t)
{
    if ((int)t >= 0 && (int)t < OCS_DTYPE_COUNT_ && dtype_names[t])
        return dtype_names[t];
    return "UNKNOWN";
}

ocs_dtype ocs_dtype_from_name(const char *name)
{
    if (!name)
        return OCS_UNDEFINED;
    size_t n = strlen(name);
    for (int t = 1; t < OCS_DTYPE_COUNT_; t++) {
        const char *ref = dtype_names[t];
        if (!ref || strlen(ref) != n)
            continue;
        size_t i = 0;
        while (i < n && toupper((unsigned char)name[i]) == ref[i])
            i++;
        if (i == n)
            return (ocs_dtype)t;
    }
    return OCS_UNDEFINED;
}

size_t ocs_dtype_size(ocs_dtype t)
{
    switch (t) {
    case OCS_FLOAT: return 4;
    case OCS_UINT8: return 1;
    case OCS_INT8: return 1;
    case OCS_UINT16: return 2;
    case OCS_INT16: return 2;
    case OCS_INT32: return 4;
    case OCS_INT64: return 8;
    case OCS_STRING: return sizeof(ocs_string);
    case OCS_BOOL: return 1;
    case OCS_FLOAT16: return 2;
    case OCS_DOUBLE: return 8;
    case OCS_UINT32: return 4;
    case OCS_UINT64: return 8;
    case OCS_BFLOAT16: return 2;
    case OCS_FLOAT8E4M3FN:
    case OCS_FLOAT8E4M3FNUZ:
    case OCS_FLOAT8E5M2:
    case OCS_FLOAT8E5M2FNUZ:
    case OCS_UINT4:
    case OCS_INT4:
    case OCS_FLOAT4E2M1:
    case OCS_FLOAT8E8M0:
    case OCS_UINT2:
    case OCS_INT2:
        return 1;
    default:
        return 0;
    }
}

int ocs_dtype_is_float(ocs_dtype t)
{
    switch (t) {
    case OCS_FLOAT:
    case OCS_FLOAT16:
    case OCS_DOUBLE:
    case OCS_BFLOAT16:
    case OCS_FLOAT8E4M3FN:
    case OCS_FLOAT8E4M3FNUZ:
    case OCS_FLOAT8E5M2:
    case OCS_FLOAT8E5M2FNUZ:
    case OCS_FLOAT4E2M1:
    case OCS_FLOAT8E8M0:
        return 1;
    default:
        return 0;
    }
}

int ocs_dtype_is_integer(ocs_dtype t)
{
    switch (t) {
    case OCS_UINT8:
    case OCS_INT8:
    case OCS_UINT16:
    case OCS_INT16:
    case OCS_INT32:
    case OCS_INT64:
    case OCS_UINT32:
    case OCS_UINT64:
    case OCS_UINT4:
    case OCS_INT4:
    case OCS_UINT2:
    case OCS_INT2:
        return 1;
    default:
        return 0;
    }
}

int ocs_dtype_is_signed(ocs_dtype t)
{
    switch (t) {
    case OCS_INT8:
    case OCS_INT16:
    case OCS_INT32:
    case OCS_INT64:
    case OCS_INT4:
    case OCS_INT2:
        return 1;
    default:
        return ocs_dtype_is_float(t);
    }
}

int ocs_dtype_valid(ocs_dtype t)
{
    return t != OCS_UNDEFINED && t != OCS_COMPLEX64 && t != OCS_COMPLEX128 &&
           (int)t > 0 && (int)t < OCS_DTYPE_COUNT_;
}

/* ---- bit access ------------------------------------------------------------ */

static uint64_t double_bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static uint32_t float_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float float_from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/*
 * Rounds the finite, non-negative value a to a binary format with mbits
 * stored significand bits and smallest normal exponent emin (subnormals
 * below 2^emin), ties to even.  Returns the magnitude's bit pattern as the
 * format would store it: ((biased exponent) << mbits) | mantissa, where the
 * biased exponent is 0 for subnormals and 1 for 2^emin.  The caller compares
 * the result against the largest finite pattern to detect overflow, and
 * keeps a below twice the largest finite value so that the pattern stays
 * small.
 */
static uint64_t round_magnitude(double a, int mbits, int emin)
{
    if (a == 0.0)
        return 0;
    int k;
    frexp(a, &k);           /* a = f * 2^k, f in [0.5, 1) */
    int e = k - 1;          /* a in [2^e, 2^(e+1)) */
    if (e < emin)
        e = emin;
    /* a / 2^(e - mbits): below 2^(mbits+1), so exact in a double. */
    double s = ldexp(a, mbits - e);
    double fl = floor(s);
    double rem = s - fl;    /* exact: s has at most 53 significant bits */
    uint64_t n = (uint64_t)fl;
    if (rem > 0.5 || (rem == 0.5 && (n & 1u)))
        n++;
    /* For a normal value n is in [2^mbits, 2^(mbits+1)]; subtracting the
     * implicit bit and adding the exponent field gives the pattern, and a
     * carry out of the mantissa moves into the exponent by itself. */
    return ((uint64_t)(e - emin) << mbits) + n;
}

/* ---- float16 ------------------------------------------------------------------ */

float ocs_half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    unsigned exp = (h >> 10) & 0x1Fu;
    unsigned man = h & 0x3FFu;
    if (exp == 0x1F) {
        if (man == 0)
            return float_from_bits(sign | 0x7F800000u);
        /* NaN: keep sign and payload, make it quiet. */
        return float_from_bits(sign | 0x7FC00000u | ((uint32_t)man << 13));
    }
    double v;
    if (exp == 0)
        v = ldexp((double)man, -24);
    else
        v = ldexp((double)(man | 0x400u), (int)exp - 25);
    float f = (float)v;     /* exact: every half value is a float */
    return sign ? -f : f;
}

uint16_t ocs_double_to_half(double d)
{
    uint64_t bits = double_bits(d);
    uint16_t sign = (bits >> 63) ? 0x8000u : 0;
    if (isnan(d))
        return (uint16_t)(sign | 0x7E00u | ((bits >> 42) & 0x1FFu));
    double a = fabs(d);
    if (isinf(a) || a >= 65536.0)
        return (uint16_t)(sign | 0x7C00u);
    uint64_t m = round_magnitude(a, 10, -14);
    if (m > 0x7BFFu)
        return (uint16_t)(sign | 0x7C00u);
    return (uint16_t)(sign | m);
}

uint16_t ocs_float_to_half(float f)
{
    if (isnan(f)) {
        uint32_t u = float_bits(f);
        uint16_t sign = (u >> 31) ? 0x8000u : 0;
        return (uint16_t)(sign | 0x7E00u | ((u >> 13) & 0x1FFu));
    }
    return ocs_double_to_half((double)f);
}

/* ---- bfloat16 ----------------------------------------------------------------- */

float ocs_bfloat16_to_float(uint16_t b)
{
    uint32_t u = (uint32_t)b << 16;
    if ((u & 0x7F800000u) == 0x7F800000u && (u & 0x007FFFFFu))
        u |= 0x00400000u;   /* NaN stays NaN, quiet */
    return float_from_bits(u);
}

uint16_t ocs_double_to_bfloat16(double d)
{
    uint64_t bits = double_bits(d);
    uint16_t sign = (bits >> 63) ? 0x8000u : 0;
    if (isnan(d))
        return (uint16_t)(sign | 0x7FC0u | ((bits >> 45) & 0x3Fu));
    double a = fabs(d);
    if (isinf(a) || a >= 0x1p129)
        return (uint16_t)(sign | 0x7F80u);
    uint64_t m = round_magnitude(a, 7, -126);
    if (m > 0x7F7Fu)
        return (uint16_t)(sign | 0x7F80u);
    return (uint16_t)(sign | m);
}

uint16_t ocs_float_to_bfloat16(float f)
{
    if (isnan(f)) {
        uint32_t u = float_bits(f);
        return (uint16_t)(((u >> 16) & 0xFFFFu) | 0x0040u);
    }
    return ocs_double_to_bfloat16((double)f);
}

/* ---- float8, float4, e8m0 ------------------------------------------------------- */

/*
 * A small float format.  Values are sign-magnitude; the magnitude pattern
 * has mbits mantissa bits and an exponent biased so that pattern
 * (1 << mbits) is 2^emin.  max_bits is the largest finite magnitude pattern.
 */
typedef struct minifmt {
    int mbits;
    int ebits;
    int emin;
    unsigned max_bits;
    int has_inf;       /* IEEE-like: exponent all ones is Inf (mantissa 0) or NaN */
    int nan_is_80;     /* FNUZ: the only NaN is 0x80, and there is no -0 */
    int nan_all_ones;  /* FN: S.1111.111 is NaN, no Inf */
    int no_nan;        /* float4e2m1: neither NaN nor Inf */
} minifmt;

static const minifmt *minifmt_of(ocs_dtype t)
{
    static const minifmt e4m3fn = {3, 4, -6, 0x7E, 0, 0, 1, 0};
    static const minifmt e4m3fnuz = {3, 4, -7, 0x7F, 0, 1, 0, 0};
    static const minifmt e5m2 = {2, 5, -14, 0x7B, 1, 0, 0, 0};
    static const minifmt e5m2fnuz = {2, 5, -15, 0x7F, 0, 1, 0, 0};
    static const minifmt e2m1 = {1, 2, 0, 0x7, 0, 0, 0, 1};
    switch (t) {
    case OCS_FLOAT8E4M3FN: return &e4m3fn;
    case OCS_FLOAT8E4M3FNUZ: return &e4m3fnuz;
    case OCS_FLOAT8E5M2: return &e5m2;
    case OCS_FLOAT8E5M2FNUZ: return &e5m2fnuz;
    case OCS_FLOAT4E2M1: return &e2m1;
    default: return NULL;
    }
}

double ocs_minifloat_to_double(ocs_dtype t, unsigned bits)
{
    if (t == OCS_FLOAT8E8M0) {
        bits &= 0xFFu;
        if (bits == 0xFFu)
            return NAN;
        return ldexp(1.0, (int)bits - 127);
    }
    const minifmt *f = minifmt_of(t);
    if (!f)
        return NAN;
    int width = 1 + f->ebits + f->mbits;
    bits &= (1u << width) - 1u;
    unsigned sign_bit = 1u << (width - 1);
    unsigned mag = bits & (sign_bit - 1u);
    int neg = (bits & sign_bit) != 0;
    unsigned exp = mag >> f->mbits;
    unsigned man = mag & ((1u << f->mbits) - 1u);
    unsigned exp_max = (1u << f->ebits) - 1u;
    if (f->nan_is_80 && bits == sign_bit)
        return NAN;
    if (f->nan_all_ones && mag == (sign_bit - 1u))
        return neg ? -NAN : NAN;
    if (f->has_inf && exp == exp_max)
        return man ? (neg ? -NAN : NAN) : (neg ? -INFINITY : INFINITY);
    double v;
    if (exp == 0)
        v = ldexp((double)man, f->emin - f->mbits);
    else
        v = ldexp((double)(man | (1u << f->mbits)), (int)exp - 1 + f->emin - f->mbits);
    return neg ? -v : v;
}

/*
 * Encodes |d| to e8m0 (powers of two 2^-127 .. 2^127, 0xFF is NaN) rounding
 * up: any value strictly between two powers of two takes the larger one.
 * The sign is ignored, as ONNX does (negative input is unspecified).  Any
 * positive value up to 2^-127 rounds up to 2^-127.  Zero, +-Inf and values
 * above 2^127 are out of range: saturate gives the nearest end of the range
 * (2^-127 or 2^127), otherwise NaN.
 */
static unsigned double_to_e8m0_up(double d, int saturate)
{
    if (isnan(d))
        return 0xFFu;
    double a = fabs(d);
    if (isinf(a))
        return saturate ? 0xFEu : 0xFFu;
    if (a == 0.0)
        return saturate ? 0x00u : 0xFFu;
    int k;
    double f = frexp(a, &k);   /* a = f * 2^k, f in [0.5, 1) */
    int e = (f == 0.5) ? k - 1 : k;
    if (e > 127)
        return saturate ? 0xFEu : 0xFFu;
    if (e < -127)
        return 0x00u;
    return (unsigned)(e + 127);
}

unsigned ocs_double_to_minifloat(ocs_dtype t, double d, int saturate)
{
    if (t == OCS_FLOAT8E8M0)
        return double_to_e8m0_up(d, saturate);
    const minifmt *f = minifmt_of(t);
    if (!f)
        return 0;
    int width = 1 + f->ebits + f->mbits;
    unsigned sign_bit = 1u << (width - 1);
    int neg = (double_bits(d) >> 63) != 0;
    unsigned sign = neg ? sign_bit : 0;

    if (f->no_nan) {
        /* float4e2m1 has neither NaN nor Inf and always saturates.  NaN
         * becomes 0x8 (the pattern of -0), as in ONNX's Cast test data. */
        if (isnan(d))
            return sign_bit;
        saturate = 1;
    }
    if (isnan(d)) {
        if (f->nan_is_80)
            return 0x80u;
        if (f->nan_all_ones)
            return sign | 0x7Fu;
        return sign | 0x7Eu;   /* e5m2: quiet NaN */
    }

    /* Magnitude pattern, or overflow. */
    double a = fabs(d);
    double maxv = ocs_minifloat_to_double(t, f->max_bits);
    int overflow = 0;
    unsigned mag = 0;
    if (isinf(a)) {
        overflow = 1;
    } else if (a >= 2.0 * maxv) {
        overflow = 1;
    } else {
        uint64_t m = round_magnitude(a, f->mbits, f->emin);
        if (m > f->max_bits)
            overflow = 1;
        else
            mag = (unsigned)m;
    }
    if (overflow) {
        if (saturate)
            mag = f->max_bits;
        else if (f->has_inf)
            return sign | 0x7Cu;
        else if (f->nan_is_80)
            return 0x80u;
        else
            return sign | 0x7Fu;
    }
    if (f->nan_is_80 && mag == 0)
        return 0;              /* no negative zero */
    return sign | mag;
}
