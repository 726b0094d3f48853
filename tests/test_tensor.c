/*
 * tests/test_tensor.c - unit tests for element types, the exact narrow-float
 * conversions and the dense tensor (spec/dtype.c, spec/tensor.c).
 *
 * Rounding is checked against an oracle built here from first principles:
 * each format's finite values are listed from its bit layout, and the
 * expected result of a conversion is found by searching that list for the
 * nearest value (ties to the even pattern).  Inputs are every bit pattern
 * where that is feasible, every midpoint between neighbouring values and
 * its two neighbouring doubles, boundaries, and pseudo-random values from a
 * fixed seed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ocs/exec.h"
#include "ocs/tensor.h"

/* ---- helpers --------------------------------------------------------------- */

static uint64_t rng_state = 0x9E3779B97F4A7C15u;

static uint64_t rng_next(void)
{
    /* splitmix64 */
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

static uint32_t flt_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float flt_from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/*
 * A binary format described by its layout: magnitude pattern p (sign bit
 * excluded) has exponent field p >> mbits and mantissa p & (2^mbits - 1).
 * vals[p] for p in 0..max_pat+1 lists every finite magnitude in increasing
 * order plus, at max_pat+1, the value the next pattern would have (the
 * rounding boundary for overflow lies halfway to it).
 */
typedef struct oracle {
    int ebits, mbits, bias;
    unsigned max_pat;
    double *vals;
} oracle;

static double layout_value(int mbits, int bias, unsigned p)
{
    unsigned e = p >> mbits, m = p & ((1u << mbits) - 1u);
    if (e == 0)
        return (double)m * pow(2.0, 1 - bias - mbits);
    return (double)((1u << mbits) + m) * pow(2.0, (int)e - bias - mbits);
}

static oracle oracle_make(int ebits, int mbits, int bias, unsigned max_pat)
{
    oracle o = {ebits, mbits, bias, max_pat, NULL};
    o.vals = malloc(sizeof(double) * (max_pat + 2));
    assert_non_null(o.vals);
    for (unsigned p = 0; p <= max_pat + 1; p++)
        o.vals[p] = layout_value(mbits, bias, p);
    for (unsigned p = 1; p <= max_pat + 1; p++)
        assert_true(o.vals[p] > o.vals[p - 1]);
    return o;
}

/*
 * Pattern index nearest to x >= 0 (finite), ties to the even index;
 * max_pat + 1 means the value rounds beyond the largest finite value.
 */
static unsigned oracle_round(const oracle *o, double x)
{
    unsigned top = o->max_pat + 1;
    if (x >= o->vals[top])
        return top;
    unsigned lo = 0, hi = top;   /* vals[lo] <= x < vals[hi] */
    while (hi - lo > 1) {
        unsigned mid = lo + (hi - lo) / 2;
        if (o->vals[mid] <= x)
            lo = mid;
        else
            hi = mid;
    }
    if (o->vals[lo] == x)
        return lo;
    /* The midpoint of two neighbours is exact in double (few significant bits). */
    double mid = (o->vals[lo] + o->vals[hi]) / 2;
    if (x < mid)
        return lo;
    if (x > mid)
        return hi;
    return (lo & 1u) ? hi : lo;
}

/* ---- element types ------------------------------------------------------------ */

static void test_dtype_names(void **state)
{
    (void)state;
    assert_string_equal(ocs_dtype_name(OCS_FLOAT16), "FLOAT16");
    assert_string_equal(ocs_dtype_name(OCS_FLOAT8E4M3FNUZ), "FLOAT8E4M3FNUZ");
    assert_string_equal(ocs_dtype_name(OCS_FLOAT8E8M0), "FLOAT8E8M0");
    assert_string_equal(ocs_dtype_name(OCS_INT2), "INT2");
    assert_non_null(ocs_dtype_name((ocs_dtype)99));
    assert_non_null(ocs_dtype_name((ocs_dtype)-3));
    assert_int_equal(ocs_dtype_from_name("float16"), OCS_FLOAT16);
    assert_int_equal(ocs_dtype_from_name("FLOAT16"), OCS_FLOAT16);
    assert_int_equal(ocs_dtype_from_name("bfloat16"), OCS_BFLOAT16);
    assert_int_equal(ocs_dtype_from_name("float"), OCS_FLOAT);
    assert_int_equal(ocs_dtype_from_name("float8e5m2fnuz"), OCS_FLOAT8E5M2FNUZ);
    assert_int_equal(ocs_dtype_from_name("uint4"), OCS_UINT4);
    assert_int_equal(ocs_dtype_from_name("string"), OCS_STRING);
    assert_int_equal(ocs_dtype_from_name("float1"), OCS_UNDEFINED);
    assert_int_equal(ocs_dtype_from_name("float166"), OCS_UNDEFINED);
    assert_int_equal(ocs_dtype_from_name(""), OCS_UNDEFINED);
    assert_int_equal(ocs_dtype_from_name(NULL), OCS_UNDEFINED);
    for (int t = 1; t < OCS_DTYPE_COUNT_; t++)
        assert_int_equal(ocs_dtype_from_name(ocs_dtype_name((ocs_dtype)t)), t);
}

static void test_dtype_sizes_and_predicates(void **state)
{
    (void)state;
    static const struct {
        ocs_dtype t;
        size_t size;
        int is_float, is_int, is_signed;
    } rows[] = {
        {OCS_FLOAT, 4, 1, 0, 1},         {OCS_UINT8, 1, 0, 1, 0},
        {OCS_INT8, 1, 0, 1, 1},          {OCS_UINT16, 2, 0, 1, 0},
        {OCS_INT16, 2, 0, 1, 1},         {OCS_INT32, 4, 0, 1, 1},
        {OCS_INT64, 8, 0, 1, 1},         {OCS_STRING, sizeof(ocs_string), 0, 0, 0},
        {OCS_BOOL, 1, 0, 0, 0},          {OCS_FLOAT16, 2, 1, 0, 1},
        {OCS_DOUBLE, 8, 1, 0, 1},        {OCS_UINT32, 4, 0, 1, 0},
        {OCS_UINT64, 8, 0, 1, 0},        {OCS_BFLOAT16, 2, 1, 0, 1},
        {OCS_FLOAT8E4M3FN, 1, 1, 0, 1},  {OCS_FLOAT8E4M3FNUZ, 1, 1, 0, 1},
        {OCS_FLOAT8E5M2, 1, 1, 0, 1},    {OCS_FLOAT8E5M2FNUZ, 1, 1, 0, 1},
        {OCS_UINT4, 1, 0, 1, 0},         {OCS_INT4, 1, 0, 1, 1},
        {OCS_FLOAT4E2M1, 1, 1, 0, 1},    {OCS_FLOAT8E8M0, 1, 1, 0, 1},
        {OCS_UINT2, 1, 0, 1, 0},         {OCS_INT2, 1, 0, 1, 1},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        assert_int_equal(ocs_dtype_size(rows[i].t), rows[i].size);
        assert_int_equal(!!ocs_dtype_is_float(rows[i].t), rows[i].is_float);
        assert_int_equal(!!ocs_dtype_is_integer(rows[i].t), rows[i].is_int);
        assert_int_equal(!!ocs_dtype_is_signed(rows[i].t), rows[i].is_signed);
        assert_true(ocs_dtype_valid(rows[i].t));
    }
    assert_false(ocs_dtype_valid(OCS_UNDEFINED));
    assert_false(ocs_dtype_valid(OCS_COMPLEX64));
    assert_false(ocs_dtype_valid(OCS_COMPLEX128));
    assert_false(ocs_dtype_valid((ocs_dtype)OCS_DTYPE_COUNT_));
    assert_false(ocs_dtype_valid((ocs_dtype)-1));
    assert_int_equal(ocs_dtype_size(OCS_UNDEFINED), 0);
}

/* ---- float16 --------------------------------------------------------------------- */

static int half_is_nan(uint16_t h)
{
    return (h & 0x7C00u) == 0x7C00u && (h & 0x03FFu) != 0;
}

static void test_half_all_patterns(void **state)
{
    (void)state;
    for (unsigned h = 0; h < 65536; h++) {
        float f = ocs_half_to_float((uint16_t)h);
        if (half_is_nan((uint16_t)h)) {
            assert_true(isnan(f));
            assert_int_equal(!!signbit(f), h >> 15);
            uint16_t back = ocs_float_to_half(f);
            assert_true(half_is_nan(back));
            assert_int_equal(back >> 15, h >> 15);
            assert_true(half_is_nan(ocs_double_to_half((double)f)));
            continue;
        }
        /* The value from the layout, independently of the code under test. */
        unsigned mag = h & 0x7FFFu;
        double want = mag == 0x7C00u ? INFINITY : layout_value(10, 15, mag);
        if (h & 0x8000u)
            want = -want;
        assert_true((double)f == want);
        assert_int_equal(!!signbit(f), h >> 15);
        assert_int_equal(ocs_float_to_half(f), h);
        assert_int_equal(ocs_double_to_half((double)f), h);
#ifdef __FLT16_MAX__
        /* The compiler's own half type agrees. */
        _Float16 c;
        uint16_t hb = (uint16_t)h;
        memcpy(&c, &hb, sizeof c);
        assert_true((double)c == want);
#endif
    }
}

/* Checks double->half and, when d is a float, float->half against the oracle. */
static void check_half(const oracle *o, double d)
{
    uint16_t got = ocs_double_to_half(d);
    uint16_t sign = signbit(d) ? 0x8000u : 0;
    unsigned p = oracle_round(o, fabs(d));
    uint16_t want = (uint16_t)(sign | (p > o->max_pat ? 0x7C00u : p));
    if (got != want)
        fail_msg("double_to_half(%a) = 0x%04x, expected 0x%04x", d, got, want);
    float f = (float)d;
    if ((double)f == d) {
        got = ocs_float_to_half(f);
        if (got != want)
            fail_msg("float_to_half(%a) = 0x%04x, expected 0x%04x", d, got, want);
    }
}

static void test_half_rounding(void **state)
{
    (void)state;
    oracle o = oracle_make(5, 10, 15, 0x7BFF);
    assert_true(o.vals[0x7BFF] == 65504.0);
    assert_true(o.vals[1] == 0x1p-24);
    /* Every midpoint, and the doubles and floats just beside it. */
    for (unsigned p = 0; p <= o.max_pat; p++) {
        double mid = (o.vals[p] + o.vals[p + 1]) / 2;
        double around[] = {o.vals[p], mid, nextafter(mid, 0), nextafter(mid, INFINITY),
                           (double)nextafterf((float)mid, 0.0f),
                           (double)nextafterf((float)mid, INFINITY)};
        for (size_t k = 0; k < sizeof around / sizeof around[0]; k++) {
            check_half(&o, around[k]);
            check_half(&o, -around[k]);
        }
    }
    /* Random doubles spanning below the subnormals to beyond the largest value. */
    for (int i = 0; i < 400000; i++) {
        uint64_t r = rng_next();
        int e = (int)(r % 50) - 30;                       /* 2^-30 .. 2^19 */
        double m = 1.0 + (double)(rng_next() >> 12) * 0x1p-52;
        double d = ldexp(m, e);
        check_half(&o, (r >> 40) & 1 ? -d : d);
    }
    /* Random float bit patterns. */
    for (int i = 0; i < 400000; i++) {
        float f = flt_from_bits((uint32_t)rng_next());
        if (isnan(f)) {
            assert_true(half_is_nan(ocs_float_to_half(f)));
            continue;
        }
        if (isinf(f)) {
            assert_int_equal(ocs_float_to_half(f), f < 0 ? 0xFC00 : 0x7C00);
            continue;
        }
        check_half(&o, (double)f);
    }
    /* Boundaries. */
    assert_int_equal(ocs_double_to_half(0.0), 0x0000);
    assert_int_equal(ocs_double_to_half(-0.0), 0x8000);
    assert_int_equal(ocs_double_to_half(65504.0), 0x7BFF);
    assert_int_equal(ocs_double_to_half(65519.99999), 0x7BFF);
    assert_int_equal(ocs_double_to_half(65520.0), 0x7C00);
    assert_int_equal(ocs_double_to_half(1e300), 0x7C00);
    assert_int_equal(ocs_double_to_half(-1e300), 0xFC00);
    assert_int_equal(ocs_double_to_half(INFINITY), 0x7C00);
    assert_int_equal(ocs_double_to_half(-INFINITY), 0xFC00);
    assert_int_equal(ocs_double_to_half(0x1p-25), 0x0000);                 /* tie -> even 0 */
    assert_int_equal(ocs_double_to_half(nextafter(0x1p-25, 1)), 0x0001);
    assert_int_equal(ocs_double_to_half(-0x1p-26), 0x8000);                /* -0 kept */
    assert_int_equal(ocs_double_to_half(1e-300), 0x0000);
    assert_int_equal(ocs_double_to_half(DBL_TRUE_MIN), 0x0000);
    assert_true(half_is_nan(ocs_double_to_half(NAN)));
    assert_true(half_is_nan(ocs_double_to_half(-NAN)));
    assert_int_equal(ocs_double_to_half(-NAN) & 0x8000u, 0x8000u);
    /* A double just above a half midpoint whose nearest float is the midpoint:
     * converting through float would round to even and be wrong. */
    double mid = 1.0 + 0x1p-11;               /* halfway between 1 and 1+2^-10 */
    double above = mid + 0x1p-40;
    assert_true((double)(float)above == mid);
    assert_int_equal(ocs_double_to_half(above), 0x3C01);
    assert_int_equal(ocs_double_to_half(mid), 0x3C00);
    free(o.vals);
}

/* ---- bfloat16 ----------------------------------------------------------------------- */

static int bf16_is_nan(uint16_t b)
{
    return (b & 0x7F80u) == 0x7F80u && (b & 0x007Fu) != 0;
}

static void check_bf16(const oracle *o, double d)
{
    uint16_t got = ocs_double_to_bfloat16(d);
    uint16_t sign = signbit(d) ? 0x8000u : 0;
    unsigned p = oracle_round(o, fabs(d));
    uint16_t want = (uint16_t)(sign | (p > o->max_pat ? 0x7F80u : p));
    if (got != want)
        fail_msg("double_to_bfloat16(%a) = 0x%04x, expected 0x%04x", d, got, want);
    if (fabs(d) <= FLT_MAX && (double)(float)d == d) {
        got = ocs_float_to_bfloat16((float)d);
        if (got != want)
            fail_msg("float_to_bfloat16(%a) = 0x%04x, expected 0x%04x", d, got, want);
    }
}

static void test_bfloat16(void **state)
{
    (void)state;
    oracle o = oracle_make(8, 7, 127, 0x7F7F);
    /* Every pattern: decode is the top half of a float; round trip is exact. */
    for (unsigned b = 0; b < 65536; b++) {
        float f = ocs_bfloat16_to_float((uint16_t)b);
        if (bf16_is_nan((uint16_t)b)) {
            assert_true(isnan(f));
            assert_true(bf16_is_nan(ocs_float_to_bfloat16(f)));
            assert_true(bf16_is_nan(ocs_double_to_bfloat16((double)f)));
            continue;
        }
        assert_int_equal(flt_bits(f), (uint32_t)b << 16);
        assert_int_equal(ocs_float_to_bfloat16(f), b);
        assert_int_equal(ocs_double_to_bfloat16((double)f), b);
    }
    for (unsigned p = 0; p <= o.max_pat; p++) {
        double mid = (o.vals[p] + o.vals[p + 1]) / 2;
        double around[] = {mid, nextafter(mid, 0), nextafter(mid, INFINITY)};
        for (size_t k = 0; k < 3; k++) {
            check_bf16(&o, around[k]);
            check_bf16(&o, -around[k]);
        }
    }
    for (int i = 0; i < 400000; i++) {
        float f = flt_from_bits((uint32_t)rng_next());
        if (isnan(f) || isinf(f))
            continue;
        check_bf16(&o, (double)f);
    }
    for (int i = 0; i < 200000; i++) {
        uint64_t r = rng_next();
        int e = (int)(r % 300) - 150;     /* below the subnormals to beyond the range */
        double d = ldexp(1.0 + (double)(rng_next() >> 12) * 0x1p-52, e);
        check_bf16(&o, d);
    }
    assert_int_equal(ocs_double_to_bfloat16(1e39), 0x7F80);
    assert_int_equal(ocs_double_to_bfloat16(-INFINITY), 0xFF80);
    assert_int_equal(ocs_double_to_bfloat16(-0.0), 0x8000);
    assert_int_equal(ocs_float_to_bfloat16(FLT_MAX), 0x7F80);   /* rounds up to Inf */
    assert_true(bf16_is_nan(ocs_float_to_bfloat16(NAN)));
    assert_true(bf16_is_nan(ocs_double_to_bfloat16(NAN)));
    /* A signalling float NaN whose payload lives in the low bits only. */
    assert_true(bf16_is_nan(ocs_float_to_bfloat16(flt_from_bits(0x7F800001u))));
    free(o.vals);
}

/* ---- float8, float4 -------------------------------------------------------------------- */

typedef struct f8desc {
    ocs_dtype t;
    int ebits, mbits, bias;
    unsigned max_pat;  /* largest finite magnitude pattern */
    double max;        /* its value, from the ONNX specification */
    double min_sub;    /* smallest positive value */
    int fnuz, has_inf;
} f8desc;

static const f8desc f8s[] = {
    {OCS_FLOAT8E4M3FN, 4, 3, 7, 0x7E, 448.0, 0x1p-9, 0, 0},
    {OCS_FLOAT8E4M3FNUZ, 4, 3, 8, 0x7F, 240.0, 0x1p-10, 1, 0},
    {OCS_FLOAT8E5M2, 5, 2, 15, 0x7B, 57344.0, 0x1p-16, 0, 1},
    {OCS_FLOAT8E5M2FNUZ, 5, 2, 16, 0x7F, 57344.0, 0x1p-17, 1, 0},
};

static int f8_is_nan(const f8desc *f, unsigned b)
{
    if (f->fnuz)
        return b == 0x80;
    if (f->has_inf)
        return (b & 0x7Cu) == 0x7Cu && (b & 0x03u) != 0;
    return (b & 0x7Fu) == 0x7Fu;
}

/* What Cast gives for d under ONNX's saturate tables. */
static unsigned f8_expected(const f8desc *f, const oracle *o, double d, int saturate)
{
    int neg = signbit(d) != 0;
    if (isnan(d))
        return f->fnuz ? 0x80u : (neg ? 0xFFu : 0x7Fu) - (f->has_inf ? 1u : 0u);
    unsigned p = isinf(d) ? o->max_pat + 1 : oracle_round(o, fabs(d));
    if (p > o->max_pat) {
        if (saturate)
            p = o->max_pat;
        else if (f->has_inf)
            return (neg ? 0x80u : 0) | 0x7Cu;
        else
            return f->fnuz ? 0x80u : (neg ? 0xFFu : 0x7Fu);
    }
    if (f->fnuz && p == 0)
        return 0;
    return (neg ? 0x80u : 0) | p;
}

static void test_float8(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof f8s / sizeof f8s[0]; k++) {
        const f8desc *f = &f8s[k];
        oracle o = oracle_make(f->ebits, f->mbits, f->bias, f->max_pat);
        assert_true(o.vals[f->max_pat] == f->max);
        assert_true(o.vals[1] == f->min_sub);
        /* Every pattern decodes to its layout value and encodes back. */
        for (unsigned b = 0; b < 256; b++) {
            double v = ocs_minifloat_to_double(f->t, b);
            if (f8_is_nan(f, b)) {
                assert_true(isnan(v));
                assert_true(f8_is_nan(f, ocs_double_to_minifloat(f->t, v, 1)));
                assert_true(f8_is_nan(f, ocs_double_to_minifloat(f->t, v, 0)));
                continue;
            }
            unsigned mag = b & 0x7Fu;
            if (f->has_inf && mag == 0x7C) {
                assert_true(isinf(v));
                assert_int_equal(!!signbit(v), b >> 7);
                assert_int_equal(ocs_double_to_minifloat(f->t, v, 0), b);
                assert_int_equal(ocs_double_to_minifloat(f->t, v, 1), (b & 0x80u) | 0x7Bu);
                continue;
            }
            assert_true(mag <= f->max_pat);
            double want = layout_value(f->mbits, f->bias, mag);
            if (b & 0x80u)
                want = -want;
            assert_true(v == want);
            assert_int_equal(!!signbit(v), b >> 7);
            assert_int_equal(ocs_double_to_minifloat(f->t, v, 1), b);
            assert_int_equal(ocs_double_to_minifloat(f->t, v, 0), b);
        }
        /* Midpoints and neighbours, both signs, with and without saturation. */
        for (unsigned p = 0; p <= f->max_pat; p++) {
            double mid = (o.vals[p] + o.vals[p + 1]) / 2;
            double around[] = {o.vals[p], mid, nextafter(mid, 0), nextafter(mid, INFINITY),
                               o.vals[p + 1]};
            for (size_t i = 0; i < sizeof around / sizeof around[0]; i++)
                for (int s = 0; s < 2; s++)
                    for (int sat = 0; sat < 2; sat++) {
                        double d = s ? -around[i] : around[i];
                        unsigned got = ocs_double_to_minifloat(f->t, d, sat);
                        unsigned want = f8_expected(f, &o, d, sat);
                        if (got != want)
                            fail_msg("%s(%a, saturate=%d) = 0x%02x, expected 0x%02x",
                                     ocs_dtype_name(f->t), d, sat, got, want);
                    }
        }
        for (int i = 0; i < 100000; i++) {
            uint64_t r = rng_next();
            double d = ldexp(1.0 + (double)(rng_next() >> 12) * 0x1p-52, (int)(r % 44) - 24);
            if (r & (1u << 20))
                d = -d;
            for (int sat = 0; sat < 2; sat++)
                assert_int_equal(ocs_double_to_minifloat(f->t, d, sat),
                                 f8_expected(f, &o, d, sat));
        }
        /* The ONNX tables, row by row. */
        double specials[] = {0.0, -0.0, NAN, -NAN, INFINITY, -INFINITY, 1e6, -1e6,
                             f->max * 1.2, -f->max * 1.2, 1e-7, -1e-7};
        for (size_t i = 0; i < sizeof specials / sizeof specials[0]; i++)
            for (int sat = 0; sat < 2; sat++)
                assert_int_equal(ocs_double_to_minifloat(f->t, specials[i], sat),
                                 f8_expected(f, &o, specials[i], sat));
        free(o.vals);
    }
    /* Spot values straight from the ONNX tables. */
    assert_int_equal(ocs_double_to_minifloat(OCS_FLOAT8E4M3FN, INFINITY, 1), 0x7E);
    assert_int_equal(ocs_double_to_minifloat(OCS_FLOAT8E4M3FN, -INFINITY, 1), 0xFE);
    assert_int_equal(ocs_double_to_minifloat(OCS_FLOAT8E4M3FN, INFINITY, 0), 0x7F);
    assert_int_equal(ocs_double_to_minifloat(OCS_FLOAT8E4M3FN, -INFINITY, 0), 0xFF);
    assert_int_equal(ocs_double_to_minifloat(OCS_FLOAT8E4M3FN, -0.0, 1), 0x80);
    assert_int_equal(ocs_double_to_minifloat(OCS_FLOAT8E4M3FNUZ, -0.0, 1), 0x00);
    assert_int_equal(ocs_double_to_minifloat(OCS_FLOAT8E4M3FNUZ, -1e-7, 1), 0x00);
    assert_int_equal(ocs_double_to_minifloat(OCS_FLOAT8E4M3FNUZ, INFINITY, 0), 0x80);
    assert_int_equal(ocs_double_to_minifloat(OCS_FLOAT8E4M3FNUZ, -INFINITY, 1), 0xFF);
    assert_int_equal(ocs_double_to_minifloat(OCS_FLOAT8E5M2, INFINITY, 0), 0x7C);
    assert_int_equal(ocs_double_to_minifloat(OCS_FLOAT8E5M2, -1e6, 0), 0xFC);
    assert_int_equal(ocs_double_to_minifloat(OCS_FLOAT8E5M2, -1e6, 1), 0xFB);
    assert_int_equal(ocs_double_to_minifloat(OCS_FLOAT8E5M2FNUZ, -NAN, 0), 0x80);
    assert_int_equal(ocs_double_to_minifloat(OCS_FLOAT8E5M2FNUZ, 1e6, 0), 0x80);
    assert_int_equal(ocs_double_to_minifloat(OCS_FLOAT8E4M3FN, 464.0, 0), 0x7E);  /* tie, even */
    assert_int_equal(ocs_double_to_minifloat(OCS_FLOAT8E4M3FN, 465.0, 0), 0x7F);
    assert_int_equal(ocs_double_to_minifloat(OCS_FLOAT8E4M3FN, 465.0, 1), 0x7E);
    assert_int_equal(ocs_double_to_minifloat(OCS_FLOAT8E5M2, 61440.0, 0), 0x7C);  /* tie, even */
    assert_int_equal(ocs_double_to_minifloat(OCS_FLOAT8E5M2, 61439.0, 0), 0x7B);
    assert_int_equal(ocs_double_to_minifloat(OCS_FLOAT8E4M3FN, 1.0, 1), 0x38);
    assert_int_equal(ocs_double_to_minifloat(OCS_FLOAT8E5M2, 1.0, 1), 0x3C);
    assert_int_equal(ocs_double_to_minifloat(OCS_FLOAT8E4M3FNUZ, 1.0, 1), 0x40);
    assert_int_equal(ocs_double_to_minifloat(OCS_FLOAT8E5M2FNUZ, 1.0, 1), 0x40);
}

static void test_float4(void **state)
{
    (void)state;
    static const double vals[8] = {0, 0.5, 1, 1.5, 2, 3, 4, 6};
    for (unsigned b = 0; b < 16; b++) {
        double v = ocs_minifloat_to_double(OCS_FLOAT4E2M1, b);
        double want = (b & 8u) ? -vals[b & 7u] : vals[b & 7u];
        assert_true(v == want);
        assert_int_equal(!!signbit(v), b >> 3);
        assert_int_equal(ocs_double_to_minifloat(OCS_FLOAT4E2M1, v, 1), b);
        assert_int_equal(ocs_double_to_minifloat(OCS_FLOAT4E2M1, v, 0), b);
    }
    oracle o = oracle_make(2, 1, 1, 7);
    for (unsigned p = 0; p < 8; p++)
        assert_true(o.vals[p] == vals[p]);
    for (int i = 0; i < 100000; i++) {
        double d = ldexp(1.0 + (double)(rng_next() >> 12) * 0x1p-52, (int)(rng_next() % 8) - 4);
        unsigned p = oracle_round(&o, d);
        if (p > 7)
            p = 7;
        assert_int_equal(ocs_double_to_minifloat(OCS_FLOAT4E2M1, d, 1), p);
        assert_int_equal(ocs_double_to_minifloat(OCS_FLOAT4E2M1, -d, 1), p | 8u);
    }
    /* The rows of ONNX's cast test: ties to even, saturation, NaN -> 0x8 (-0). */
    static const struct { double in; unsigned out; } rows[] = {
        {0.48, 0x1}, {0.25, 0x0}, {0.75, 0x2}, {1.25, 0x2}, {1.75, 0x4}, {2.5, 0x4},
        {3.5, 0x6}, {5.0, 0x6}, {5.01, 0x7}, {1.05, 0x2}, {-3.5, 0xE}, {-8, 0xF},
        {9, 0x7}, {1e6, 0x7}, {1e-7, 0x0}, {INFINITY, 0x7}, {-INFINITY, 0xF}, {-4, 0xE},
        {0.01, 0x0}, {-0.0, 0x8}, {NAN, 0x8}, {-NAN, 0x8},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        for (int sat = 0; sat < 2; sat++)
            if (ocs_double_to_minifloat(OCS_FLOAT4E2M1, rows[i].in, sat) != rows[i].out)
                fail_msg("float4e2m1(%g) = 0x%x, expected 0x%x", rows[i].in,
                         ocs_double_to_minifloat(OCS_FLOAT4E2M1, rows[i].in, sat), rows[i].out);
    free(o.vals);
}

static void test_e8m0(void **state)
{
    (void)state;
    for (unsigned b = 0; b < 255; b++) {
        double v = ocs_minifloat_to_double(OCS_FLOAT8E8M0, b);
        assert_true(v == ldexp(1.0, (int)b - 127));
        assert_int_equal(ocs_double_to_minifloat(OCS_FLOAT8E8M0, v, 1), b);
        assert_int_equal(ocs_double_to_minifloat(OCS_FLOAT8E8M0, v, 0), b);
        /* Anything strictly between two powers of two rounds up. */
        if (b < 254) {
            double next = ldexp(1.0, (int)b - 126);
            assert_int_equal(ocs_double_to_minifloat(OCS_FLOAT8E8M0, nextafter(v, 1e300), 1),
                             b + 1);
            assert_int_equal(ocs_double_to_minifloat(OCS_FLOAT8E8M0, (v + next) / 2, 1), b + 1);
            assert_int_equal(ocs_double_to_minifloat(OCS_FLOAT8E8M0, nextafter(next, 0), 1),
                             b + 1);
        }
    }
    assert_true(isnan(ocs_minifloat_to_double(OCS_FLOAT8E8M0, 0xFF)));
    /* ONNX's test_cast_e8m0_FLOAT_to_FLOAT8E8M0 (saturate, round up). */
    static const double in[8] = {0.0, 0.124, 0.25, 0.5, 1.1, 2.0, 4.0, 8.0};
    static const unsigned out[8] = {0x00, 0x7C, 0x7D, 0x7E, 0x80, 0x80, 0x81, 0x82};
    for (int i = 0; i < 8; i++)
        assert_int_equal(ocs_double_to_minifloat(OCS_FLOAT8E8M0, in[i], 1), out[i]);
    /* Out of range, per the Cast table. */
    assert_int_equal(ocs_double_to_minifloat(OCS_FLOAT8E8M0, NAN, 1), 0xFF);
    assert_int_equal(ocs_double_to_minifloat(OCS_FLOAT8E8M0, INFINITY, 1), 0xFE);
    assert_int_equal(ocs_double_to_minifloat(OCS_FLOAT8E8M0, INFINITY, 0), 0xFF);
    assert_int_equal(ocs_double_to_minifloat(OCS_FLOAT8E8M0, 0x1.8p127, 1), 0xFE);
    assert_int_equal(ocs_double_to_minifloat(OCS_FLOAT8E8M0, 0x1.8p127, 0), 0xFF);
    assert_int_equal(ocs_double_to_minifloat(OCS_FLOAT8E8M0, 0x1p127, 0), 0xFE);
    assert_int_equal(ocs_double_to_minifloat(OCS_FLOAT8E8M0, 1e300, 1), 0xFE);
    assert_int_equal(ocs_double_to_minifloat(OCS_FLOAT8E8M0, 0.0, 1), 0x00);
    assert_int_equal(ocs_double_to_minifloat(OCS_FLOAT8E8M0, 0.0, 0), 0xFF);
    assert_int_equal(ocs_double_to_minifloat(OCS_FLOAT8E8M0, 1e-300, 1), 0x00);
    assert_int_equal(ocs_double_to_minifloat(OCS_FLOAT8E8M0, -4.0, 1), 0x81);   /* sign ignored */
}

/* ---- shapes and tensors ------------------------------------------------------------------ */

static void test_shape_numel(void **state)
{
    (void)state;
    ocs_err err;
    size_t n = 99;
    int64_t d3[3] = {2, 3, 4};
    assert_int_equal(ocs_shape_numel(3, d3, &n, &err), OCS_OK);
    assert_int_equal(n, 24);
    assert_int_equal(ocs_shape_numel(0, NULL, &n, &err), OCS_OK);
    assert_int_equal(n, 1);
    int64_t dz[3] = {5, 0, 7};
    assert_int_equal(ocs_shape_numel(3, dz, &n, &err), OCS_OK);
    assert_int_equal(n, 0);

    int64_t neg[2] = {3, -1};
    err.msg[0] = '\0';
    assert_int_equal(ocs_shape_numel(2, neg, &n, &err), OCS_ERR_INVALID);
    assert_non_null(strstr(err.msg, "-1"));
    assert_int_equal(ocs_shape_numel(2, neg, &n, NULL), OCS_ERR_INVALID);

    int64_t big[2] = {INT64_C(1) << 62, 8};
    err.msg[0] = '\0';
    ocs_status st = ocs_shape_numel(2, big, &n, &err);
    assert_true(st == OCS_ERR_NOMEM || st == OCS_ERR_INVALID);
    assert_true(strlen(err.msg) > 0);
    int64_t huge[3] = {INT64_MAX, INT64_MAX, 2};
    assert_int_not_equal(ocs_shape_numel(3, huge, &n, &err), OCS_OK);
    /* The product wraps to a small number if computed carelessly. */
    int64_t wrap[2] = {INT64_C(1) << 32, INT64_C(1) << 32};
    assert_int_not_equal(ocs_shape_numel(2, wrap, &n, &err), OCS_OK);
    int64_t justfits[2] = {INT64_C(1) << 31, INT64_C(1) << 32};
    if (sizeof(size_t) == 8) {
        assert_int_equal(ocs_shape_numel(2, justfits, &n, &err), OCS_OK);
        assert_int_equal(n, (size_t)1 << 63);
    }

    int64_t many[OCS_MAX_RANK + 1];
    for (int i = 0; i <= OCS_MAX_RANK; i++)
        many[i] = 1;
    assert_int_equal(ocs_shape_numel(OCS_MAX_RANK, many, &n, &err), OCS_OK);
    err.msg[0] = '\0';
    assert_int_equal(ocs_shape_numel(OCS_MAX_RANK + 1, many, &n, &err), OCS_ERR_INVALID);
    assert_true(strlen(err.msg) > 0);
    assert_int_equal(ocs_shape_numel(-1, many, &n, &err), OCS_ERR_INVALID);
}

static void test_tensor_new(void **state)
{
    (void)state;
    ocs_err err;
    ocs_tensor *t = NULL;
    int64_t dims[2] = {3, 5};
    for (int dt = 1; dt < OCS_DTYPE_COUNT_; dt++) {
        if (!ocs_dtype_valid((ocs_dtype)dt))
            continue;
        assert_int_equal(ocs_tensor_new((ocs_dtype)dt, 2, dims, &t, &err), OCS_OK);
        assert_non_null(t);
        assert_int_equal(t->dtype, dt);
        assert_int_equal(t->rank, 2);
        assert_int_equal(t->numel, 15);
        assert_int_equal(t->nbytes, 15 * ocs_dtype_size((ocs_dtype)dt));
        assert_non_null(t->data);
        if (dt == OCS_STRING) {
            const ocs_string *s = t->data;
            for (size_t i = 0; i < 15; i++) {
                assert_int_equal(s[i].len, 0);
                assert_non_null(s[i].data);
                assert_string_equal(s[i].data, "");
            }
        } else {
            const unsigned char *p = t->data;
            for (size_t i = 0; i < t->nbytes; i++)
                assert_int_equal(p[i], 0);
            /* float8e8m0 has no zero: its all-zero pattern is 2^-127. */
            double zero = dt == OCS_FLOAT8E8M0 ? 0x1p-127 : 0.0;
            for (size_t i = 0; i < 15; i++)
                assert_true(ocs_tensor_get_f64(t, i) == zero);
        }
        ocs_tensor_free(t);
    }
    /* Scalars and empty tensors still own a buffer. */
    assert_int_equal(ocs_tensor_new(OCS_FLOAT, 0, NULL, &t, &err), OCS_OK);
    assert_int_equal(t->numel, 1);
    ocs_tensor_free(t);
    int64_t empty[3] = {4, 0, 2};
    assert_int_equal(ocs_tensor_new(OCS_INT64, 3, empty, &t, &err), OCS_OK);
    assert_int_equal(t->numel, 0);
    assert_int_equal(t->nbytes, 0);
    assert_non_null(t->data);
    ocs_tensor_free(t);
    assert_int_equal(ocs_tensor_new(OCS_STRING, 3, empty, &t, &err), OCS_OK);
    assert_non_null(t->data);
    ocs_tensor_free(t);

    /* Failures leave *out NULL and explain themselves. */
    int64_t bytes_overflow[2] = {INT64_C(1) << 61, 4};   /* numel fits, bytes do not */
    t = (ocs_tensor *)&err;
    err.msg[0] = '\0';
    ocs_status st = ocs_tensor_new(OCS_INT64, 2, bytes_overflow, &t, &err);
    assert_true(st == OCS_ERR_NOMEM || st == OCS_ERR_INVALID);
    assert_null(t);
    assert_true(strlen(err.msg) > 0);
    int64_t negd[1] = {-2};
    assert_int_equal(ocs_tensor_new(OCS_FLOAT, 1, negd, &t, &err), OCS_ERR_INVALID);
    assert_null(t);
    int64_t r17[OCS_MAX_RANK + 1] = {0};
    assert_int_not_equal(ocs_tensor_new(OCS_FLOAT, OCS_MAX_RANK + 1, r17, &t, &err), OCS_OK);
    assert_null(t);
    assert_int_not_equal(ocs_tensor_new(OCS_COMPLEX64, 1, dims, &t, &err), OCS_OK);
    assert_null(t);
    assert_int_not_equal(ocs_tensor_new(OCS_UNDEFINED, 1, dims, &t, &err), OCS_OK);
    assert_null(t);
    ocs_tensor_free(NULL);
}

static void test_describe(void **state)
{
    (void)state;
    char buf[64];
    int64_t d[3] = {2, 3, 4};
    assert_string_equal(ocs_shape_str(3, d, buf, sizeof buf), "[2,3,4]");
    assert_string_equal(ocs_shape_str(0, NULL, buf, sizeof buf), "[]");
    int64_t big[2] = {INT64_MAX, 0};
    assert_string_equal(ocs_shape_str(2, big, buf, sizeof buf), "[9223372036854775807,0]");
    char small[5];
    memset(small, 'x', sizeof small);
    ocs_shape_str(3, d, small, sizeof small);
    assert_int_equal(strlen(small), 4);
    assert_memory_equal(small, "[2,3", 4);
    ocs_shape_str(3, d, small, 1);
    assert_int_equal(small[0], '\0');

    ocs_tensor *t;
    ocs_err err;
    int64_t d2[2] = {2, 3};
    assert_int_equal(ocs_tensor_new(OCS_FLOAT16, 2, d2, &t, &err), OCS_OK);
    assert_string_equal(ocs_tensor_describe(t, buf, sizeof buf), "FLOAT16[2,3]");
    ocs_tensor_free(t);
    assert_int_equal(ocs_tensor_new(OCS_FLOAT8E4M3FN, 0, NULL, &t, &err), OCS_OK);
    assert_string_equal(ocs_tensor_describe(t, buf, sizeof buf), "FLOAT8E4M3FN[]");
    ocs_tensor_free(t);
}

static ocs_tensor *vec(ocs_dtype dt, int64_t n)
{
    ocs_tensor *t = NULL;
    ocs_err err;
    assert_int_equal(ocs_tensor_new(dt, 1, &n, &t, &err), OCS_OK);
    return t;
}

static void test_integer_access(void **state)
{
    (void)state;
    /* set_i64 wraps to the width; get_i64 reads back exactly. */
    static const struct {
        ocs_dtype t;
        int64_t in, out;
    } wraps[] = {
        {OCS_INT8, 127, 127},          {OCS_INT8, 128, -128},
        {OCS_INT8, -129, 127},         {OCS_INT8, 200, -56},
        {OCS_UINT8, 256, 0},           {OCS_UINT8, -1, 255},
        {OCS_INT16, 32768, -32768},    {OCS_UINT16, 65537, 1},
        {OCS_INT32, INT64_C(2147483648), INT64_C(-2147483648)},
        {OCS_UINT32, -1, INT64_C(4294967295)},
        {OCS_INT64, INT64_MIN, INT64_MIN},
        {OCS_INT64, INT64_MAX, INT64_MAX},
        {OCS_INT4, 7, 7},              {OCS_INT4, 8, -8},
        {OCS_INT4, -9, 7},             {OCS_INT4, 15, -1},
        {OCS_UINT4, 16, 0},            {OCS_UINT4, -1, 15},
        {OCS_INT2, 2, -2},             {OCS_INT2, -3, 1},
        {OCS_UINT2, 5, 1},             {OCS_UINT2, -1, 3},
        {OCS_BOOL, 2, 1},              {OCS_BOOL, INT64_MIN, 1},
        {OCS_BOOL, 0, 0},
    };
    for (size_t k = 0; k < sizeof wraps / sizeof wraps[0]; k++) {
        ocs_tensor *t = vec(wraps[k].t, 3);
        ocs_tensor_set_i64(t, 1, wraps[k].in);
        if (ocs_tensor_get_i64(t, 1) != wraps[k].out)
            fail_msg("%s: set_i64(%lld) read back %lld, expected %lld", ocs_dtype_name(wraps[k].t),
                     (long long)wraps[k].in, (long long)ocs_tensor_get_i64(t, 1),
                     (long long)wraps[k].out);
        assert_true(ocs_tensor_get_f64(t, 1) == (double)wraps[k].out);
        assert_int_equal(ocs_tensor_get_i64(t, 0), 0);
        assert_int_equal(ocs_tensor_get_i64(t, 2), 0);
        ocs_tensor_free(t);
    }
    /* Storage layout of the sub-byte integers: one sign-extended byte each. */
    ocs_tensor *t = vec(OCS_INT4, 1);
    ocs_tensor_set_i64(t, 0, -3);
    assert_int_equal(((int8_t *)t->data)[0], -3);
    ocs_tensor_free(t);
    t = vec(OCS_UINT4, 1);
    ocs_tensor_set_i64(t, 0, 0x1F);
    assert_int_equal(((uint8_t *)t->data)[0], 0x0F);
    ocs_tensor_free(t);

    /* uint64: exact bits through set/get, and exact doubles above 2^63. */
    t = vec(OCS_UINT64, 2);
    ocs_tensor_set_i64(t, 0, -1);
    assert_true(((uint64_t *)t->data)[0] == UINT64_MAX);
    assert_int_equal(ocs_tensor_get_i64(t, 0), -1);   /* same bits, two's complement */
    assert_true(ocs_tensor_get_f64(t, 0) == 18446744073709551616.0);
    ocs_tensor_set_f64(t, 1, 18446744073709549568.0);  /* 2^64 - 2048, exact */
    assert_true(((uint64_t *)t->data)[1] == UINT64_C(18446744073709549568));
    ocs_tensor_set_f64(t, 1, 18446744073709551616.0);  /* 2^64 wraps to 0 */
    assert_true(((uint64_t *)t->data)[1] == 0);
    ocs_tensor_set_f64(t, 1, -1.0);
    assert_true(((uint64_t *)t->data)[1] == UINT64_MAX);
    ocs_tensor_free(t);

    /* set_f64 on integers: truncate toward zero, then wrap; NaN stores 0. */
    static const struct {
        ocs_dtype t;
        double in;
        int64_t out;
    } fl[] = {
        {OCS_INT32, 2.9, 2},              {OCS_INT32, -2.9, -2},
        {OCS_INT32, -0.5, 0},             {OCS_INT32, NAN, 0},
        {OCS_INT32, 2147483648.0, INT64_C(-2147483648)},
        {OCS_INT8, 300.7, 44},            {OCS_INT8, -129.9, 127},
        {OCS_UINT8, -1.5, 255},           {OCS_INT64, 9223372036854775808.0, INT64_MIN},
        {OCS_INT64, -9223372036854775808.0, INT64_MIN},
        {OCS_INT64, 1e19, INT64_C(-8446744073709551616)},
        {OCS_INT64, 1e300, 0},            {OCS_INT64, INFINITY, 0},
        {OCS_INT64, -INFINITY, 0},        {OCS_INT4, 8.5, -8},
        {OCS_UINT2, 4.0, 0},              {OCS_BOOL, 0.0, 0},
        {OCS_BOOL, -0.0, 0},              {OCS_BOOL, 0.25, 1},
        {OCS_BOOL, NAN, 1},
    };
    for (size_t k = 0; k < sizeof fl / sizeof fl[0]; k++) {
        t = vec(fl[k].t, 1);
        ocs_tensor_set_f64(t, 0, fl[k].in);
        if (ocs_tensor_get_i64(t, 0) != fl[k].out)
            fail_msg("%s: set_f64(%g) read back %lld, expected %lld", ocs_dtype_name(fl[k].t),
                     fl[k].in, (long long)ocs_tensor_get_i64(t, 0), (long long)fl[k].out);
        ocs_tensor_free(t);
    }
}

static void test_float_access(void **state)
{
    (void)state;
    /* get_i64 on floats truncates toward zero and clamps; NaN gives 0. */
    static const struct {
        double in;
        int64_t out;
    } rows[] = {
        {2.75, 2}, {-2.75, -2}, {NAN, 0}, {1e30, INT64_MAX}, {-1e30, INT64_MIN},
        {INFINITY, INT64_MAX}, {-INFINITY, INT64_MIN}, {9223372036854775808.0, INT64_MAX},
        {-9223372036854775808.0, INT64_MIN}, {9223372036854774784.0, INT64_C(9223372036854774784)},
    };
    ocs_tensor *t = vec(OCS_DOUBLE, 1);
    for (size_t k = 0; k < sizeof rows / sizeof rows[0]; k++) {
        ocs_tensor_set_f64(t, 0, rows[k].in);
        assert_int_equal(ocs_tensor_get_i64(t, 0), rows[k].out);
    }
    ocs_tensor_free(t);

    /* float: overflow becomes Inf only past the rounding boundary. */
    t = vec(OCS_FLOAT, 1);
    ocs_tensor_set_f64(t, 0, 1e39);
    assert_true(isinf(((float *)t->data)[0]));
    ocs_tensor_set_f64(t, 0, -1e39);
    assert_true(isinf(((float *)t->data)[0]) && ((float *)t->data)[0] < 0);
    ocs_tensor_set_f64(t, 0, (double)FLT_MAX + 0x1p100);
    assert_true(((float *)t->data)[0] == FLT_MAX);
    ocs_tensor_set_f64(t, 0, 0x1.ffffffp127);   /* halfway to 2^128: ties to even = Inf */
    assert_true(isinf(((float *)t->data)[0]));
    ocs_tensor_set_f64(t, 0, NAN);
    assert_true(isnan(((float *)t->data)[0]));
    ocs_tensor_set_f64(t, 0, 1e-50);
    assert_true(((float *)t->data)[0] == 0.0f);
    ocs_tensor_set_i64(t, 0, INT64_MAX);
    assert_true(((float *)t->data)[0] == 0x1p63f);
    ocs_tensor_free(t);

    /* Every narrow float type: set_f64 rounds like the conversion functions. */
    static const ocs_dtype narrow[] = {OCS_FLOAT16, OCS_BFLOAT16, OCS_FLOAT8E4M3FN,
                                       OCS_FLOAT8E4M3FNUZ, OCS_FLOAT8E5M2, OCS_FLOAT8E5M2FNUZ,
                                       OCS_FLOAT4E2M1, OCS_FLOAT8E8M0};
    for (size_t k = 0; k < sizeof narrow / sizeof narrow[0]; k++) {
        t = vec(narrow[k], 1);
        for (int i = 0; i < 2000; i++) {
            double d = ldexp(1.0 + (double)(rng_next() >> 12) * 0x1p-52,
                             (int)(rng_next() % 40) - 20);
            ocs_tensor_set_f64(t, 0, d);
            double got = ocs_tensor_get_f64(t, 0);
            double want;
            if (narrow[k] == OCS_FLOAT16)
                want = ocs_half_to_float(ocs_double_to_half(d));
            else if (narrow[k] == OCS_BFLOAT16)
                want = ocs_bfloat16_to_float(ocs_double_to_bfloat16(d));
            else
                want = ocs_minifloat_to_double(narrow[k], ocs_double_to_minifloat(narrow[k], d, 1));
            assert_true(got == want || (isnan(got) && isnan(want)));
            assert_int_equal(ocs_tensor_get_i64(t, 0),
                             isnan(want) ? 0 : (want >= 0x1p63 ? INT64_MAX : (int64_t)want));
        }
        ocs_tensor_free(t);
    }

    /* set_i64 to narrow floats rounds once, even beyond 2^53. */
    t = vec(OCS_BFLOAT16, 1);
    int64_t v = (INT64_C(1) << 60) + (INT64_C(1) << 52) + 1;   /* just above a bf16 midpoint */
    ocs_tensor_set_i64(t, 0, v);
    assert_true(ocs_tensor_get_f64(t, 0) == 0x1p60 + 0x1p53);
    ocs_tensor_set_i64(t, 0, (INT64_C(1) << 60) + (INT64_C(1) << 52));  /* exact tie: even */
    assert_true(ocs_tensor_get_f64(t, 0) == 0x1p60);
    ocs_tensor_set_i64(t, 0, INT64_MIN);
    assert_true(ocs_tensor_get_f64(t, 0) == -0x1p63);
    ocs_tensor_free(t);
    t = vec(OCS_FLOAT16, 1);
    ocs_tensor_set_i64(t, 0, 65519);
    assert_int_equal(((uint16_t *)t->data)[0], 0x7BFF);
    ocs_tensor_set_i64(t, 0, 65520);
    assert_int_equal(((uint16_t *)t->data)[0], 0x7C00);
    ocs_tensor_set_i64(t, 0, -2049);   /* tie between -2048 and -2050: even is -2048 */
    assert_true(ocs_tensor_get_f64(t, 0) == -2048.0);
    ocs_tensor_free(t);
    t = vec(OCS_FLOAT8E4M3FN, 1);
    ocs_tensor_set_i64(t, 0, 1000);    /* saturates like Cast */
    assert_true(ocs_tensor_get_f64(t, 0) == 448.0);
    ocs_tensor_free(t);

    /* Strings are not numeric. */
    t = vec(OCS_STRING, 1);
    ocs_tensor_set_f64(t, 0, 3.0);
    ocs_tensor_set_i64(t, 0, 3);
    assert_true(ocs_tensor_get_f64(t, 0) == 0.0);
    assert_int_equal(ocs_tensor_get_i64(t, 0), 0);
    assert_int_equal(((ocs_string *)t->data)[0].len, 0);
    ocs_tensor_free(t);
}

static void put_string(ocs_tensor *t, size_t i, const char *s, size_t len)
{
    ocs_string *p = (ocs_string *)t->data + i;
    free(p->data);
    p->data = malloc(len + 1);
    assert_non_null(p->data);
    memcpy(p->data, s, len);
    p->data[len] = '\0';
    p->len = len;
}

static void test_clone_equal(void **state)
{
    (void)state;
    ocs_err err;
    int64_t dims[2] = {2, 2};
    ocs_tensor *a, *b, *c;
    assert_int_equal(ocs_tensor_new(OCS_FLOAT, 2, dims, &a, &err), OCS_OK);
    float *fa = a->data;
    fa[0] = 1.5f;
    fa[1] = flt_from_bits(0x7FC00001u);   /* a NaN with a payload */
    fa[2] = -0.0f;
    fa[3] = 3.0f;
    assert_int_equal(ocs_tensor_clone(a, &b, &err), OCS_OK);
    assert_ptr_not_equal(a->data, b->data);
    assert_true(ocs_tensor_equal(a, b));
    assert_true(ocs_tensor_equal(b, a));
    ((float *)b->data)[1] = flt_from_bits(0x7FC00002u);   /* another NaN */
    assert_false(ocs_tensor_equal(a, b));
    ((float *)b->data)[1] = fa[1];
    ((float *)b->data)[2] = 0.0f;                          /* +0 is not -0 */
    assert_false(ocs_tensor_equal(a, b));
    ((float *)b->data)[2] = -0.0f;
    assert_true(ocs_tensor_equal(a, b));
    b->dims[0] = 4;
    b->dims[1] = 1;
    assert_false(ocs_tensor_equal(a, b));                  /* same count, other shape */
    b->dims[0] = 2;
    b->dims[1] = 2;
    b->dtype = OCS_INT32;
    assert_false(ocs_tensor_equal(a, b));                  /* same bytes, other dtype */
    b->dtype = OCS_FLOAT;
    assert_true(ocs_tensor_equal(a, b));
    assert_false(ocs_tensor_equal(a, NULL));
    assert_true(ocs_tensor_equal(NULL, NULL));
    ocs_tensor_free(b);

    /* Empty and scalar tensors. */
    int64_t z = 0;
    assert_int_equal(ocs_tensor_new(OCS_DOUBLE, 1, &z, &b, &err), OCS_OK);
    assert_int_equal(ocs_tensor_clone(b, &c, &err), OCS_OK);
    assert_true(ocs_tensor_equal(b, c));
    assert_false(ocs_tensor_equal(a, c));
    ocs_tensor_free(b);
    ocs_tensor_free(c);
    ocs_tensor_free(a);

    /* Strings: deep copies, compared by content (embedded NULs included). */
    assert_int_equal(ocs_tensor_new(OCS_STRING, 2, dims, &a, &err), OCS_OK);
    put_string(a, 0, "hello", 5);
    put_string(a, 1, "a\0b", 3);
    put_string(a, 3, "", 0);
    assert_int_equal(ocs_tensor_clone(a, &b, &err), OCS_OK);
    assert_true(ocs_tensor_equal(a, b));
    const ocs_string *sa = a->data, *sb = b->data;
    for (int i = 0; i < 4; i++) {
        assert_ptr_not_equal(sa[i].data, sb[i].data);
        assert_int_equal(sa[i].len, sb[i].len);
        assert_int_equal(sb[i].data[sb[i].len], '\0');
    }
    assert_memory_equal(sb[1].data, "a\0b", 3);
    put_string(b, 1, "a\0c", 3);
    assert_false(ocs_tensor_equal(a, b));
    put_string(b, 1, "a\0b", 3);
    assert_true(ocs_tensor_equal(a, b));
    put_string(b, 0, "hello!", 6);
    assert_false(ocs_tensor_equal(a, b));
    ocs_tensor_free(b);
    ocs_tensor_free(a);

    assert_int_not_equal(ocs_tensor_clone(NULL, &b, &err), OCS_OK);
    assert_null(b);
}

/* ---- Cast and CastLike kernels --------------------------------------------------------- */

ocs_status ocs_ref_Cast(ocs_kernel_args *a);
ocs_status ocs_ref_CastLike(ocs_kernel_args *a);

/*
 * Runs Cast-version on in.  to < 0 leaves 'to' out; to_name sets it as a
 * string (Cast-1); saturate < 0 leaves it out; round_mode NULL leaves it out.
 */
static ocs_status run_cast(int64_t version, const char *to_name, int to, int saturate,
                           const char *round_mode, const ocs_tensor *in, ocs_tensor **out,
                           ocs_err *err)
{
    ocs_attr attrs[3];
    size_t n = 0;
    memset(attrs, 0, sizeof attrs);
    if (to_name) {
        attrs[n].name = "to";
        attrs[n].type = OCS_ATTR_STRING;
        attrs[n].s.data = (char *)to_name;
        attrs[n].s.len = strlen(to_name);
        n++;
    } else if (to >= 0) {
        attrs[n].name = "to";
        attrs[n].type = OCS_ATTR_INT;
        attrs[n].i = to;
        n++;
    }
    if (saturate >= 0) {
        attrs[n].name = "saturate";
        attrs[n].type = OCS_ATTR_INT;
        attrs[n].i = saturate;
        n++;
    }
    if (round_mode) {
        attrs[n].name = "round_mode";
        attrs[n].type = OCS_ATTR_STRING;
        attrs[n].s.data = (char *)round_mode;
        attrs[n].s.len = strlen(round_mode);
        n++;
    }
    char *ins[1] = {"x"}, *outs[1] = {"y"};
    ocs_node node;
    memset(&node, 0, sizeof node);
    node.name = "cast";
    node.op_type = "Cast";
    node.domain = "";
    node.n_inputs = 1;
    node.inputs = ins;
    node.n_outputs = 1;
    node.outputs = outs;
    node.n_attrs = n;
    node.attrs = attrs;
    const ocs_tensor *inputs[1] = {in};
    ocs_tensor *outputs[1] = {NULL};
    ocs_kernel_args a;
    memset(&a, 0, sizeof a);
    a.node = &node;
    a.since_version = version;
    a.n_inputs = 1;
    a.inputs = inputs;
    a.n_outputs = 1;
    a.outputs = outputs;
    a.err = err;
    ocs_status st = ocs_ref_Cast(&a);
    *out = outputs[0];
    if (st != OCS_OK) {
        ocs_tensor_free(outputs[0]);
        *out = NULL;
    }
    return st;
}

static ocs_tensor *f64_vec(ocs_dtype dt, const double *v, size_t n)
{
    ocs_tensor *t = vec(dt, (int64_t)n);
    for (size_t i = 0; i < n; i++)
        ocs_tensor_set_f64(t, i, v[i]);
    return t;
}

static ocs_tensor *str_vec(const char *const *v, size_t n)
{
    ocs_tensor *t = vec(OCS_STRING, (int64_t)n);
    for (size_t i = 0; i < n; i++)
        put_string(t, i, v[i], strlen(v[i]));
    return t;
}

static void expect_strings(const ocs_tensor *t, const char *const *want, size_t n)
{
    assert_int_equal(t->dtype, OCS_STRING);
    assert_int_equal(t->numel, n);
    const ocs_string *s = t->data;
    for (size_t i = 0; i < n; i++) {
        if (s[i].len != strlen(want[i]) || memcmp(s[i].data, want[i], s[i].len) != 0)
            fail_msg("string %zu is '%s', expected '%s'", i, s[i].data, want[i]);
    }
}

static void test_cast_to_string(void **state)
{
    (void)state;
    ocs_err err;
    ocs_tensor *in, *out;
    static const double fv[] = {0.47892547, 1.0, -0.0, 1e-5, 1e16, NAN, -INFINITY, 100.5,
                                0.0001, 3.0e38, 123456.0, FLT_MAX, -FLT_TRUE_MIN};
    static const char *const fs[] = {"0.47892547", "1.0", "-0.0", "1e-05", "1e+16", "nan",
                                     "-inf", "100.5", "1e-04", "3e+38", "123456.0",
                                     "3.4028235e+38", "-1e-45"};
    in = f64_vec(OCS_FLOAT, fv, 13);
    assert_int_equal(run_cast(13, NULL, OCS_STRING, -1, NULL, in, &out, &err), OCS_OK);
    expect_strings(out, fs, 13);
    ocs_tensor_free(out);
    ocs_tensor_free(in);

    static const double dv[] = {0.1, 1e-4, 123456789012345678.0, -2.5, 1e300, 5e-324};
    static const char *const ds[] = {"0.1", "0.0001", "1.2345678901234568e+17", "-2.5",
                                     "1e+300", "5e-324"};
    in = f64_vec(OCS_DOUBLE, dv, 6);
    assert_int_equal(run_cast(9, NULL, OCS_STRING, -1, NULL, in, &out, &err), OCS_OK);
    expect_strings(out, ds, 6);
    ocs_tensor_free(out);
    ocs_tensor_free(in);

    static const double hv[] = {65504.0, 0.1, 123.456};
    static const char *const hs[] = {"65500.0", "0.1", "123.44"};
    in = f64_vec(OCS_FLOAT16, hv, 3);
    assert_int_equal(run_cast(9, NULL, OCS_STRING, -1, NULL, in, &out, &err), OCS_OK);
    expect_strings(out, hs, 3);
    ocs_tensor_free(out);
    ocs_tensor_free(in);

    in = vec(OCS_INT64, 3);
    ((int64_t *)in->data)[0] = INT64_MIN;
    ((int64_t *)in->data)[1] = 42;
    static const char *const is[] = {"-9223372036854775808", "42", "0"};
    assert_int_equal(run_cast(9, NULL, OCS_STRING, -1, NULL, in, &out, &err), OCS_OK);
    expect_strings(out, is, 3);
    ocs_tensor_free(out);
    ocs_tensor_free(in);

    in = vec(OCS_UINT64, 1);
    ((uint64_t *)in->data)[0] = UINT64_MAX;
    static const char *const us[] = {"18446744073709551615"};
    assert_int_equal(run_cast(9, NULL, OCS_STRING, -1, NULL, in, &out, &err), OCS_OK);
    expect_strings(out, us, 1);
    ocs_tensor_free(out);
    ocs_tensor_free(in);

    in = vec(OCS_BOOL, 2);
    ((uint8_t *)in->data)[0] = 1;
    static const char *const bs[] = {"True", "False"};
    assert_int_equal(run_cast(9, NULL, OCS_STRING, -1, NULL, in, &out, &err), OCS_OK);
    expect_strings(out, bs, 2);
    ocs_tensor_free(out);
    ocs_tensor_free(in);

    /* Strings are not allowed before Cast-9. */
    in = vec(OCS_FLOAT, 1);
    assert_int_not_equal(run_cast(6, NULL, OCS_STRING, -1, NULL, in, &out, &err), OCS_OK);
    ocs_tensor_free(in);
}

static void test_cast_from_string(void **state)
{
    (void)state;
    ocs_err err;
    ocs_tensor *in, *out;
    static const char *const fs[] = {"3.14", "1e-5", "1E8", "+INF", "inf", "-INF", "NaN",
                                     "nan", " 2.5 ", "-0", "100"};
    in = str_vec(fs, 11);
    assert_int_equal(run_cast(13, NULL, OCS_FLOAT, -1, NULL, in, &out, &err), OCS_OK);
    const float *f = out->data;
    assert_true(f[0] == 3.14f && f[1] == 1e-5f && f[2] == 1e8f);
    assert_true(isinf(f[3]) && f[3] > 0 && isinf(f[4]) && f[4] > 0);
    assert_true(isinf(f[5]) && f[5] < 0);
    assert_true(isnan(f[6]) && isnan(f[7]));
    assert_true(f[8] == 2.5f && f[9] == 0.0f && signbit(f[9]) && f[10] == 100.0f);
    ocs_tensor_free(out);
    assert_int_equal(run_cast(13, NULL, OCS_FLOAT16, -1, NULL, in, &out, &err), OCS_OK);
    assert_int_equal(((uint16_t *)out->data)[0], ocs_double_to_half(3.14));
    assert_int_equal(((uint16_t *)out->data)[3], 0x7C00);
    ocs_tensor_free(out);
    ocs_tensor_free(in);

    static const char *const is[] = {"9223372036854775807", "-9223372036854775808", "100.5",
                                     "-7.9", "18446744073709551615", "200"};
    in = str_vec(is, 6);
    assert_int_equal(run_cast(13, NULL, OCS_INT64, -1, NULL, in, &out, &err), OCS_OK);
    const int64_t *q = out->data;
    assert_true(q[0] == INT64_MAX && q[1] == INT64_MIN && q[2] == 100 && q[3] == -7);
    assert_true(q[4] == -1 && q[5] == 200);
    ocs_tensor_free(out);
    assert_int_equal(run_cast(13, NULL, OCS_UINT64, -1, NULL, in, &out, &err), OCS_OK);
    assert_true(((uint64_t *)out->data)[4] == UINT64_MAX);
    assert_true(((uint64_t *)out->data)[0] == (uint64_t)INT64_MAX);
    ocs_tensor_free(out);
    assert_int_equal(run_cast(13, NULL, OCS_INT8, -1, NULL, in, &out, &err), OCS_OK);
    assert_int_equal(((int8_t *)out->data)[5], -56);
    ocs_tensor_free(out);
    ocs_tensor_free(in);

    static const char *const bs[] = {"True", "false", "0", "0.5", "-1"};
    in = str_vec(bs, 5);
    assert_int_equal(run_cast(13, NULL, OCS_BOOL, -1, NULL, in, &out, &err), OCS_OK);
    const uint8_t *b = out->data;
    assert_true(b[0] == 1 && b[1] == 0 && b[2] == 0 && b[3] == 1 && b[4] == 1);
    ocs_tensor_free(out);
    ocs_tensor_free(in);

    /* Not a number: a clear error naming the string. */
    static const char *const bad[] = {"1.5", "hello"};
    in = str_vec(bad, 2);
    err.msg[0] = '\0';
    assert_int_equal(run_cast(13, NULL, OCS_FLOAT, -1, NULL, in, &out, &err), OCS_ERR_INVALID);
    assert_null(out);
    assert_non_null(strstr(err.msg, "hello"));
    ocs_tensor_free(in);

    /* String to string copies bytes, embedded NULs included. */
    in = vec(OCS_STRING, 1);
    put_string(in, 0, "a\0b", 3);
    assert_int_equal(run_cast(13, NULL, OCS_STRING, -1, NULL, in, &out, &err), OCS_OK);
    assert_true(ocs_tensor_equal(in, out));
    ocs_tensor_free(out);
    ocs_tensor_free(in);
}

static void test_cast_numbers(void **state)
{
    (void)state;
    ocs_err err;
    ocs_tensor *in, *out;

    /* Cast-1 names the type with a string. */
    static const double v1[] = {1.5, -2.5, 1e10, NAN};
    in = f64_vec(OCS_DOUBLE, v1, 4);
    assert_int_equal(run_cast(1, "FLOAT", -1, -1, NULL, in, &out, &err), OCS_OK);
    assert_int_equal(out->dtype, OCS_FLOAT);
    assert_true(((float *)out->data)[1] == -2.5f);
    ocs_tensor_free(out);
    assert_int_equal(run_cast(1, "NOTATYPE", -1, -1, NULL, in, &out, &err), OCS_ERR_INVALID);
    assert_int_equal(run_cast(6, NULL, -1, -1, NULL, in, &out, &err), OCS_ERR_INVALID);
    assert_int_equal(run_cast(6, NULL, 99, -1, NULL, in, &out, &err), OCS_ERR_INVALID);

    /* Float to integer: truncate toward zero, wrap; NaN gives 0. */
    assert_int_equal(run_cast(13, NULL, OCS_INT32, -1, NULL, in, &out, &err), OCS_OK);
    const int32_t *i32 = out->data;
    assert_true(i32[0] == 1 && i32[1] == -2 && i32[2] == 1410065408 && i32[3] == 0);
    ocs_tensor_free(out);
    assert_int_equal(run_cast(13, NULL, OCS_BOOL, -1, NULL, in, &out, &err), OCS_OK);
    assert_true(((uint8_t *)out->data)[3] == 1);   /* NaN is true */
    ocs_tensor_free(out);
    ocs_tensor_free(in);

    /* Integers to narrow floats round once, from the exact integer. */
    in = vec(OCS_INT64, 2);
    ((int64_t *)in->data)[0] = (INT64_C(1) << 60) + (INT64_C(1) << 52) + 1;
    ((int64_t *)in->data)[1] = -1000;
    assert_int_equal(run_cast(13, NULL, OCS_BFLOAT16, -1, NULL, in, &out, &err), OCS_OK);
    assert_true(ocs_tensor_get_f64(out, 0) == 0x1p60 + 0x1p53);
    ocs_tensor_free(out);
    assert_int_equal(run_cast(19, NULL, OCS_FLOAT8E4M3FN, 0, NULL, in, &out, &err), OCS_OK);
    assert_int_equal(((uint8_t *)out->data)[0], 0x7F);   /* NaN without saturation */
    assert_int_equal(((uint8_t *)out->data)[1], 0xFF);
    ocs_tensor_free(out);
    assert_int_equal(run_cast(19, NULL, OCS_FLOAT8E4M3FN, 1, NULL, in, &out, &err), OCS_OK);
    assert_int_equal(((uint8_t *)out->data)[0], 0x7E);
    assert_int_equal(((uint8_t *)out->data)[1], 0xFE);
    ocs_tensor_free(out);
    assert_int_equal(run_cast(19, NULL, OCS_FLOAT8E5M2, 0, NULL, in, &out, &err), OCS_OK);
    assert_int_equal(((uint8_t *)out->data)[0], 0x7C);   /* Inf */
    ocs_tensor_free(out);
    /* float8 is not a Cast-13 type. */
    assert_int_not_equal(run_cast(13, NULL, OCS_FLOAT8E5M2, -1, NULL, in, &out, &err), OCS_OK);
    ocs_tensor_free(in);

    in = vec(OCS_UINT64, 2);
    ((uint64_t *)in->data)[0] = UINT64_MAX;
    ((uint64_t *)in->data)[1] = (UINT64_C(1) << 63) + 1;
    assert_int_equal(run_cast(13, NULL, OCS_DOUBLE, -1, NULL, in, &out, &err), OCS_OK);
    assert_true(((double *)out->data)[0] == 0x1p64 && ((double *)out->data)[1] == 0x1p63);
    ocs_tensor_free(out);
    assert_int_equal(run_cast(13, NULL, OCS_INT64, -1, NULL, in, &out, &err), OCS_OK);
    assert_true(((int64_t *)out->data)[0] == -1 && ((int64_t *)out->data)[1] == INT64_MIN + 1);
    ocs_tensor_free(out);
    assert_int_equal(run_cast(13, NULL, OCS_FLOAT16, -1, NULL, in, &out, &err), OCS_OK);
    assert_int_equal(((uint16_t *)out->data)[0], 0x7C00);
    ocs_tensor_free(out);
    ocs_tensor_free(in);

    /* int4 wraps like the other integers (ONNX's test_cast_FLOAT_to_INT4). */
    static const double i4[] = {-9, -8, 7, 8, 15};
    in = f64_vec(OCS_FLOAT, i4, 5);
    assert_int_equal(run_cast(21, NULL, OCS_INT4, -1, NULL, in, &out, &err), OCS_OK);
    const int8_t *p4 = out->data;
    assert_true(p4[0] == 7 && p4[1] == -8 && p4[2] == 7 && p4[3] == -8 && p4[4] == -1);
    ocs_tensor_free(out);
    assert_int_not_equal(run_cast(19, NULL, OCS_INT4, -1, NULL, in, &out, &err), OCS_OK);
    ocs_tensor_free(in);
}

static void test_cast_e8m0_modes(void **state)
{
    (void)state;
    ocs_err err;
    ocs_tensor *in, *out;
    static const double v[] = {1.5, 1.4, 1.0, 0x1.8p127, 0.0, 1e-40, 3.0, INFINITY, NAN};
    static const struct {
        const char *mode;
        int sat;
        unsigned want[9];
    } rows[] = {
        {"up", 1, {0x80, 0x80, 0x7F, 0xFE, 0x00, 0x00, 0x81, 0xFE, 0xFF}},
        {"up", 0, {0x80, 0x80, 0x7F, 0xFF, 0xFF, 0x00, 0x81, 0xFF, 0xFF}},
        {"down", 1, {0x7F, 0x7F, 0x7F, 0xFE, 0x00, 0x00, 0x80, 0xFE, 0xFF}},
        {"down", 0, {0x7F, 0x7F, 0x7F, 0xFE, 0xFF, 0xFF, 0x80, 0xFF, 0xFF}},
        {"nearest", 1, {0x80, 0x7F, 0x7F, 0xFE, 0x00, 0x00, 0x81, 0xFE, 0xFF}},
        {"nearest", 0, {0x80, 0x7F, 0x7F, 0xFF, 0xFF, 0xFF, 0x81, 0xFF, 0xFF}},
    };
    in = f64_vec(OCS_DOUBLE, v, 9);
    for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
        assert_int_equal(run_cast(24, NULL, OCS_FLOAT8E8M0, rows[r].sat, rows[r].mode, in, &out,
                                  &err),
                         OCS_OK);
        for (int i = 0; i < 9; i++)
            if (((uint8_t *)out->data)[i] != rows[r].want[i])
                fail_msg("e8m0 %s saturate=%d of %a: 0x%02x, expected 0x%02x", rows[r].mode,
                         rows[r].sat, v[i], ((uint8_t *)out->data)[i], rows[r].want[i]);
        ocs_tensor_free(out);
    }
    assert_int_equal(run_cast(24, NULL, OCS_FLOAT8E8M0, 1, "sideways", in, &out, &err),
                     OCS_ERR_INVALID);
    assert_int_not_equal(run_cast(23, NULL, OCS_FLOAT8E8M0, 1, NULL, in, &out, &err), OCS_OK);
    ocs_tensor_free(in);
}

static void test_castlike(void **state)
{
    (void)state;
    ocs_err err;
    static const double v[] = {1000.0, -0.3};
    ocs_tensor *x = f64_vec(OCS_FLOAT, v, 2);
    ocs_tensor *like = vec(OCS_FLOAT8E5M2FNUZ, 1);
    ocs_attr sat;
    memset(&sat, 0, sizeof sat);
    sat.name = "saturate";
    sat.type = OCS_ATTR_INT;
    sat.i = 0;
    char *ins[2] = {"x", "like"}, *outs[1] = {"y"};
    ocs_node node;
    memset(&node, 0, sizeof node);
    node.op_type = "CastLike";
    node.domain = "";
    node.n_inputs = 2;
    node.inputs = ins;
    node.n_outputs = 1;
    node.outputs = outs;
    node.n_attrs = 1;
    node.attrs = &sat;
    const ocs_tensor *inputs[2] = {x, like};
    ocs_tensor *outputs[1] = {NULL};
    ocs_kernel_args a;
    memset(&a, 0, sizeof a);
    a.node = &node;
    a.since_version = 19;
    a.n_inputs = 2;
    a.inputs = inputs;
    a.n_outputs = 1;
    a.outputs = outputs;
    a.err = &err;
    assert_int_equal(ocs_ref_CastLike(&a), OCS_OK);
    assert_int_equal(outputs[0]->dtype, OCS_FLOAT8E5M2FNUZ);
    assert_int_equal(((uint8_t *)outputs[0]->data)[0], 0x68);   /* 1024 = 2^(26-16) */
    assert_int_equal(((uint8_t *)outputs[0]->data)[1],
                     ocs_double_to_minifloat(OCS_FLOAT8E5M2FNUZ, (double)-0.3f, 0));
    ocs_tensor_free(outputs[0]);
    outputs[0] = NULL;
    a.since_version = 15;   /* no float8 before CastLike-19 */
    assert_int_not_equal(ocs_ref_CastLike(&a), OCS_OK);
    ocs_tensor_free(outputs[0]);
    ocs_tensor_free(like);
    ocs_tensor_free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dtype_names),
        cmocka_unit_test(test_dtype_sizes_and_predicates),
        cmocka_unit_test(test_half_all_patterns),
        cmocka_unit_test(test_half_rounding),
        cmocka_unit_test(test_bfloat16),
        cmocka_unit_test(test_float8),
        cmocka_unit_test(test_float4),
        cmocka_unit_test(test_e8m0),
        cmocka_unit_test(test_shape_numel),
        cmocka_unit_test(test_tensor_new),
        cmocka_unit_test(test_describe),
        cmocka_unit_test(test_integer_access),
        cmocka_unit_test(test_float_access),
        cmocka_unit_test(test_clone_equal),
        cmocka_unit_test(test_cast_to_string),
        cmocka_unit_test(test_cast_from_string),
        cmocka_unit_test(test_cast_numbers),
        cmocka_unit_test(test_cast_e8m0_modes),
        cmocka_unit_test(test_castlike),
    };
    return cmocka_run_group_tests_name("tensor", tests, NULL, NULL);
}
