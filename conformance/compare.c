/*
 * conformance/compare.c - the output comparison rule (see compare.h).
 */
#include "compare.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ocs_tolerance_init(ocs_tolerance *tol)
{
    tol->rtol = 1e-3;
    tol->atol = 1e-7;
    for (int i = 0; i < OCS_DTYPE_COUNT_; i++)
        tol->rtol_for[i] = tol->atol_for[i] = -1.0;
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

static void mismatch(ocs_diff *d, size_t i)
{
    if (d->n_bad++ == 0)
        d->first_bad = i;
}

void ocs_compare(const ocs_tensor *got, const ocs_tensor *want, const ocs_tolerance *tol, ocs_diff *d)
{
    memset(d, 0, sizeof *d);
    char a[128], b[128];
    if (got->dtype != want->dtype) {
        snprintf(d->reason, sizeof d->reason, "type %s, expected %s", ocs_dtype_name(got->dtype),
                 ocs_dtype_name(want->dtype));
        return;
    }
    if (got->rank != want->rank || memcmp(got->dims, want->dims, (size_t)got->rank * sizeof got->dims[0])) {
        snprintf(d->reason, sizeof d->reason, "shape %s, expected %s",
                 ocs_shape_str(got->rank, got->dims, a, sizeof a), ocs_shape_str(want->rank, want->dims, b, sizeof b));
        return;
    }
    ocs_dtype t = want->dtype;
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
        double rtol = tol->rtol_for[t] >= 0 ? tol->rtol_for[t] : tol->rtol;
        double atol = tol->atol_for[t] >= 0 ? tol->atol_for[t] : tol->atol;
        for (size_t i = 0; i < want->numel; i++) {
            double x = ocs_tensor_get_f64(got, i), y = ocs_tensor_get_f64(want, i);
            if (isnan(x) || isnan(y)) {
                if (!(isnan(x) && isnan(y)))
                    mismatch(d, i);
                continue;
            }
            if (isinf(x) || isinf(y)) {
                if (x != y)
                    mismatch(d, i);
                continue;
            }
            double diff = fabs(x - y);
            if (diff > d->max_abs)
                d->max_abs = diff;
            if (y != 0 && diff / fabs(y) > d->max_rel)
                d->max_rel = diff / fabs(y);
            if (diff > atol + rtol * fabs(y))
                mismatch(d, i);
        }
    }
    d->equal = d->n_bad == 0;
    if (!d->equal) {
        size_t i = d->first_bad;
        if (t == OCS_STRING)
            snprintf(d->reason, sizeof d->reason, "%zu of %zu elements differ, first at index %zu", d->n_bad,
                     want->numel, i);
        else
            snprintf(d->reason, sizeof d->reason,
                     "%zu of %zu elements differ, first at index %zu (got %.9g, expected %.9g); max abs %.3g, max rel %.3g",
                     d->n_bad, want->numel, i, ocs_tensor_get_f64(got, i), ocs_tensor_get_f64(want, i), d->max_abs,
                     d->max_rel);
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
    case OCS_VALUE_SEQUENCE:
        if (got->n_items != want->n_items) {
            snprintf(d->reason, sizeof d->reason, "sequence of %zu, expected %zu", got->n_items, want->n_items);
            return;
        }
        for (size_t i = 0; i < want->n_items; i++) {
            ocs_compare_values(got->items[i], want->items[i], tol, d);
            if (!d->equal) {
                char inner[sizeof d->reason];
                memcpy(inner, d->reason, sizeof inner);
                snprintf(d->reason, sizeof d->reason, "element %zu: %.200s", i, inner);
                return;
            }
        }
        d->equal = 1;
        return;
    case OCS_VALUE_MAP:
        snprintf(d->reason, sizeof d->reason, "maps are not compared");
        return;
    }
}
