/*
 * conformance/compare.c - the output comparison rule and its error
 * measures (see compare.h).
 */
#include "compare.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void tolerance_clear(ocs_tolerance *tol)
{
    tol->rtol = 1e-3;
    tol->atol = 1e-7;
    for (int i = 0; i < OCS_DTYPE_COUNT_; i++)
        tol->rtol_for[i] = tol->atol_for[i] = -1.0;
    tol->max_ulp = -1.0;
    tol->max_nmse = -1.0;
}

void ocs_tolerance_init(ocs_tolerance *tol)
{
    tolerance_clear(tol);
}

void ocs_tolerance_init_backend(ocs_tolerance *tol)
{
    static const struct {
        ocs_dtype t;
        double rtol, atol;
    } table[] = {
        {OCS_DOUBLE, 1e-9, 1e-12},
        {OCS_FLOAT, 1e-4, 1e-5},
        {OCS_FLOAT16, 1e-3, 2.5e-3},
        {OCS_BFLOAT16, 1e-2, 2e-2},
        {OCS_FLOAT8E4M3FN, 1.25e-1, 1.6e-2},
        {OCS_FLOAT8E4M3FNUZ, 1.25e-1, 1.6e-2},
        {OCS_FLOAT8E5M2, 2.5e-1, 3.2e-2},
        {OCS_FLOAT8E5M2FNUZ, 2.5e-1, 3.2e-2},
        {OCS_FLOAT8E8M0, 1.0, 0.0},
        {OCS_FLOAT4E2M1, 5e-1, 5e-1},
    };
    tolerance_clear(tol);
    tol->rtol = 1e-4;
    tol->atol = 1e-5;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        tol->rtol_for[table[i].t] = table[i].rtol;
        tol->atol_for[table[i].t] = table[i].atol;
    }
}

int ocs_tolerance_parse(ocs_tolerance *tol, int is_rtol, const char *text)
{
    const char *eq = strchr(text, '=');
    const char *num = eq ? eq + 1 : text;
    char *end;
    double v = strtod(num, &end);
    if (end == num || *end || !(v >= 0) || isinf(v))
        return -1;
    if (!eq) {
        *(is_rtol ? &tol->rtol : &tol->atol) = v;
        return 0;
    }
    char name[32];
    size_t len = (size_t)(eq - text);
    if (len == 0 || len >= sizeof name)
        return -1;
    memcpy(name, text, len);
    name[len] = '\0';
    ocs_dtype t = ocs_dtype_from_name(name);
    if (t == OCS_UNDEFINED)
        return -1;
    (is_rtol ? tol->rtol_for : tol->atol_for)[t] = v;
    return 0;
}

void ocs_tolerance_override(ocs_tolerance *tol, double rtol, double atol, double max_ulp, double max_nmse)
{
    for (int i = 0; i < OCS_DTYPE_COUNT_; i++) {
        if (rtol >= 0)
            tol->rtol_for[i] = rtol;
        if (atol >= 0)
            tol->atol_for[i] = atol;
    }
    if (rtol >= 0)
        tol->rtol = rtol;
    if (atol >= 0)
        tol->atol = atol;
    if (max_ulp >= 0)
        tol->max_ulp = max_ulp;
    if (max_nmse >= 0)
        tol->max_nmse = max_nmse;
}

double ocs_tolerance_rtol(const ocs_tolerance *tol, ocs_dtype t)
{
    return t > 0 && t < OCS_DTYPE_COUNT_ && tol->rtol_for[t] >= 0 ? tol->rtol_for[t] : tol->rtol;
}

double ocs_tolerance_atol(const ocs_tolerance *tol, ocs_dtype t)
{
    return t > 0 && t < OCS_DTYPE_COUNT_ && tol->atol_for[t] >= 0 ? tol->atol_for[t] : tol->atol;
}

/* ---- ULP distance ------------------------------------------------------------ */

/* The sign bit of a float format's bit pattern; 0 for unsigned formats. */
static uint64_t sign_mask(ocs_dtype t)
{
    switch (t) {
    case OCS_DOUBLE: return (uint64_t)1 << 63;
    case OCS_FLOAT: return (uint64_t)1 << 31;
    case OCS_FLOAT16:
    case OCS_BFLOAT16: return 0x8000;
    case OCS_FLOAT8E4M3FN:
    case OCS_FLOAT8E4M3FNUZ:
    case OCS_FLOAT8E5M2:
    case OCS_FLOAT8E5M2FNUZ: return 0x80;
    case OCS_FLOAT4E2M1: return 0x8;
    default: return 0;
    }
}

static double bits_value(ocs_dtype t, uint64_t bits)
{
    switch (t) {
    case OCS_DOUBLE: {
        double d;
        memcpy(&d, &bits, sizeof d);
        return d;
    }
    case OCS_FLOAT: {
        uint32_t u = (uint32_t)bits;
        float f;
        memcpy(&f, &u, sizeof f);
        return f;
    }
    case OCS_FLOAT16: return ocs_half_to_float((uint16_t)bits);
    case OCS_BFLOAT16: return ocs_bfloat16_to_float((uint16_t)bits);
    default: return ocs_minifloat_to_double(t, (unsigned)bits);
    }
}

double ocs_ulp_distance(ocs_dtype t, uint64_t a, uint64_t b)
{
    if (isnan(bits_value(t, a)) || isnan(bits_value(t, b)))
        return -1;
    uint64_t s = sign_mask(t);
    uint64_t ma = a & ~s, mb = b & ~s;
    int na = s && (a & s), nb = s && (b & s);
    /* Sign-magnitude: consecutive magnitudes are consecutive values, and
     * across the sign the distance is the sum of the magnitudes. */
    if (na != nb)
        return (double)ma + (double)mb;
    return ma > mb ? (double)(ma - mb) : (double)(mb - ma);
}

static uint64_t elem_bits(const ocs_tensor *t, size_t i)
{
    size_t es = ocs_dtype_size(t->dtype);
    const unsigned char *p = (const unsigned char *)t->data + i * es;
    switch (es) {
    case 1: return p[0];
    case 2: {
        uint16_t v;
        memcpy(&v, p, 2);
        return v;
    }
    case 4: {
        uint32_t v;
        memcpy(&v, p, 4);
        return v;
    }
    default: {
        uint64_t v;
        memcpy(&v, p, 8);
        return v;
    }
    }
}

/* ---- comparison ----------------------------------------------------------------- */

static void mismatch(ocs_diff *d, size_t i)
{
    if (d->n_bad++ == 0)
        d->first_bad = i;
}

static void compare_floats(const ocs_tensor *got, const ocs_tensor *want, const ocs_tolerance *tol, ocs_diff *d)
{
    ocs_dtype t = want->dtype;
    double rtol = ocs_tolerance_rtol(tol, t), atol = ocs_tolerance_atol(tol, t);
    double err2 = 0, ref2 = 0;
    for (size_t i = 0; i < want->numel; i++) {
        double x = ocs_tensor_get_f64(got, i), y = ocs_tensor_get_f64(want, i);
        if (isnan(x) || isnan(y)) {
            if (!(isnan(x) && isnan(y))) {
                mismatch(d, i);
                d->n_special++;
            }
            continue;
        }
        if (isinf(x) || isinf(y)) {
            if (x != y) {
                mismatch(d, i);
                d->n_special++;
            }
            continue;
        }
        double diff = fabs(x - y);
        if (diff > d->max_abs)
            d->max_abs = diff;
        if (y != 0 && diff / fabs(y) > d->max_rel)
            d->max_rel = diff / fabs(y);
        double ulp = ocs_ulp_distance(t, elem_bits(got, i), elem_bits(want, i));
        if (ulp > d->max_ulp)
            d->max_ulp = ulp;
        err2 += diff * diff;
        ref2 += y * y;
        int bad = diff > atol + rtol * fabs(y);
        if (tol->max_ulp >= 0 && ulp > tol->max_ulp)
            bad = 1;
        if (bad)
            mismatch(d, i);
    }
    d->nmse = err2 / (ref2 > OCS_NMSE_FLOOR ? ref2 : OCS_NMSE_FLOOR);
}

void ocs_compare(const ocs_tensor *got, const ocs_tensor *want, const ocs_tolerance *tol, ocs_diff *d)
{
    memset(d, 0, sizeof *d);
    char a[128], b[128];
    if (!got || !want) {
        snprintf(d->reason, sizeof d->reason, "%s", got ? "no expected value" : "no output");
        return;
    }
    if (got->dtype != want->dtype) {
        snprintf(d->reason, sizeof d->reason, "type %s, expected %s", ocs_dtype_name(got->dtype),
                 ocs_dtype_name(want->dtype));
        return;
    }
    if (got->rank != want->rank || memcmp(got->dims, want->dims, (size_t)got->rank * sizeof got->dims[0]) ||
        got->numel != want->numel) {
        snprintf(d->reason, sizeof d->reason, "shape %s, expected %s",
                 ocs_shape_str(got->rank, got->dims, a, sizeof a), ocs_shape_str(want->rank, want->dims, b, sizeof b));
        return;
    }
    ocs_dtype t = want->dtype;
    d->n_compared = want->numel;
    if (t == OCS_STRING) {
        const ocs_string *x = got->data, *y = want->data;
        for (size_t i = 0; i < want->numel; i++)
            if (x[i].len != y[i].len || memcmp(x[i].data, y[i].data, x[i].len))
                mismatch(d, i);
    } else if (!ocs_dtype_is_float(t)) {
        /* integers and booleans: bitwise equality of the stored elements */
        size_t es = ocs_dtype_size(t);
        for (size_t i = 0; i < want->numel; i++)
            if (memcmp((const char *)got->data + i * es, (const char *)want->data + i * es, es))
                mismatch(d, i);
    } else {
        compare_floats(got, want, tol, d);
    }
    int nmse_bad = ocs_dtype_is_float(t) && tol->max_nmse >= 0 && d->nmse > tol->max_nmse;
    d->equal = d->n_bad == 0 && !nmse_bad;
    if (d->equal)
        return;
    if (d->n_bad == 0) {
        snprintf(d->reason, sizeof d->reason, "NMSE %.3g exceeds the limit %.3g (max abs %.3g, max rel %.3g)", d->nmse,
                 tol->max_nmse, d->max_abs, d->max_rel);
        return;
    }
    size_t i = d->first_bad;
    if (t == OCS_STRING) {
        snprintf(d->reason, sizeof d->reason, "%zu of %zu elements differ, first at index %zu", d->n_bad,
                 want->numel, i);
    } else if (!ocs_dtype_is_float(t)) {
        snprintf(d->reason, sizeof d->reason, "%zu of %zu elements differ, first at index %zu (got %lld, expected %lld)",
                 d->n_bad, want->numel, i, (long long)ocs_tensor_get_i64(got, i),
                 (long long)ocs_tensor_get_i64(want, i));
    } else {
        snprintf(d->reason, sizeof d->reason,
                 "%zu of %zu elements differ, first at index %zu (got %.9g, expected %.9g); "
                 "max abs %.3g, max rel %.3g, max ulp %.0f, nmse %.3g",
                 d->n_bad, want->numel, i, ocs_tensor_get_f64(got, i), ocs_tensor_get_f64(want, i), d->max_abs,
                 d->max_rel, d->max_ulp, d->nmse);
    }
}

void ocs_compare_values(const ocs_value *got, const ocs_value *want, const ocs_tolerance *tol, ocs_diff *d)
{
    memset(d, 0, sizeof *d);
    char a[128], b[128];
    if (!got || !want || got->kind != want->kind) {
        snprintf(d->reason, sizeof d->reason, "got %s, expected %s",
                 got ? ocs_value_describe(got, a, sizeof a) : "nothing",
                 want ? ocs_value_describe(want, b, sizeof b) : "nothing");
        return;
    }
    switch (want->kind) {
    case OCS_VALUE_TENSOR:
        ocs_compare(got->tensor, want->tensor, tol, d);
        return;
    case OCS_VALUE_OPTIONAL:
        if (!got->inner || !want->inner) {
            d->equal = !got->inner && !want->inner;
            if (!d->equal)
                snprintf(d->reason, sizeof d->reason, "got %s, expected %s", ocs_value_describe(got, a, sizeof a),
                         ocs_value_describe(want, b, sizeof b));
            return;
        }
        ocs_compare_values(got->inner, want->inner, tol, d);
        return;
    case OCS_VALUE_SEQUENCE: {
        if (got->n_items != want->n_items) {
            snprintf(d->reason, sizeof d->reason, "sequence of %zu, expected %zu", got->n_items, want->n_items);
            return;
        }
        ocs_diff worst;
        memset(&worst, 0, sizeof worst);
        for (size_t i = 0; i < want->n_items; i++) {
            ocs_compare_values(got->items[i], want->items[i], tol, d);
            if (!d->equal) {
                char inner[sizeof d->reason];
                memcpy(inner, d->reason, sizeof inner);
                snprintf(d->reason, sizeof d->reason, "element %zu: %.400s", i, inner);
                return;
            }
            if (d->max_abs > worst.max_abs)
                worst.max_abs = d->max_abs;
            if (d->max_rel > worst.max_rel)
                worst.max_rel = d->max_rel;
            if (d->max_ulp > worst.max_ulp)
                worst.max_ulp = d->max_ulp;
            if (d->nmse > worst.nmse)
                worst.nmse = d->nmse;
            worst.n_compared += d->n_compared;
        }
        *d = worst;
        d->equal = 1;
        return;
    }
    case OCS_VALUE_MAP:
        snprintf(d->reason, sizeof d->reason, "maps are not compared");
        return;
    }
}
