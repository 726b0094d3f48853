/*
 * reference/ops/pad.c - Pad: grows (or, with negative pads, crops) each axis.
 *
 * For axis k with pads b (before) and e (after), the output has
 * d_k + b + e entries.  Negative pads crop first: the source of axis k is
 * data[max(0,-b) .. d_k - max(0,-e)), of length n.  Output index o maps to
 * source index i = o - max(0, b); when 0 <= i < n it copies that element,
 * otherwise the mode decides:
 *   constant  the constant value (default 0, "" or false)
 *   edge      i clamped to [0, n)
 *   reflect   mirrored about the first and last element without repeating
 *             them (period 2(n-1)); n = 1 repeats the element
 *   wrap      i modulo n (version 19 and later)
 * Versions: 1 (attribute `paddings`), 2 (attributes `pads`, `value`), 11
 * (inputs pads and constant_value), 18 (optional input axes: pads name only
 * those axes, in order).
 */
#include <stdlib.h>
#include <string.h>

#include "movement.h"

typedef enum pad_mode { PAD_CONSTANT, PAD_EDGE, PAD_REFLECT, PAD_WRAP } pad_mode;

/* Maps source index i into [0, n) per mode; returns 0 for "use the constant". */
static int map_index(pad_mode mode, int64_t i, int64_t n, int64_t *out)
{
    if (i >= 0 && i < n) {
        *out = i;
        return 1;
    }
    switch (mode) {
    case PAD_CONSTANT:
        return 0;
    case PAD_EDGE:
        *out = i < 0 ? 0 : n - 1;
        return 1;
    case PAD_REFLECT: {
        if (n == 1) {
            *out = 0;
            return 1;
        }
        int64_t p = 2 * (n - 1);
        int64_t m = ((i % p) + p) % p;
        *out = m < n ? m : p - m;
        return 1;
    }
    case PAD_WRAP:
        *out = ((i % n) + n) % n;
        return 1;
    }
    return 0;
}

/* pads[0..2r): begins then ends, for every axis, from the version's inputs. */
static ocs_status read_pads(ocs_kernel_args *a, const ocs_tensor *x, int64_t *pads)
{
    int r = x->rank;
    memset(pads, 0, 2 * (size_t)r * sizeof *pads);
    const int64_t *attr = NULL;
    size_t n = 0;
    ocs_status st;
    if (a->since_version < 11) {
        int present = 0;
        st = ocs_node_attr_ints(a->node, a->since_version < 2 ? "paddings" : "pads", &attr, &n, &present, a->err);
        if (st != OCS_OK)
            return st;
        if (!present)
            return ocs_fail(a->err, OCS_ERR_INVALID, "attribute %s is required",
                            a->since_version < 2 ? "paddings" : "pads");
        if (n != 2 * (size_t)r)
            return ocs_fail(a->err, OCS_ERR_INVALID, "pads has %zu values, rank %d needs %d", n, r, 2 * r);
        memcpy(pads, attr, n * sizeof *pads);
        return OCS_OK;
    }
    const ocs_tensor *tp = ocs_input(a, 1), *ta = ocs_input(a, 3);
    if (!tp)
        return ocs_fail(a->err, OCS_ERR_INVALID, "input pads is required");
    int64_t *pv = NULL, *av = NULL;
    size_t np = 0, na = 0;
    st = ocs_read_ints(a, tp, "pads", &pv, &np);
    if (st == OCS_OK && ta && a->since_version >= 18)
        st = ocs_read_ints(a, ta, "axes", &av, &na);
    if (st == OCS_OK) {
        if (!ta || a->since_version < 18) {
            if (np != 2 * (size_t)r)
                st = ocs_fail(a->err, OCS_ERR_INVALID, "pads has %zu values, rank %d needs %d", np, r, 2 * r);
            else if (np)
                memcpy(pads, pv, np * sizeof *pads);
        } else if (np != 2 * na) {
            st = ocs_fail(a->err, OCS_ERR_INVALID, "pads has %zu values, %zu axes need %zu", np, na, 2 * na);
        } else {
            for (size_t k = 0; k < na && st == OCS_OK; k++) {
                int ax;
                st = ocs_axis(a, av[k], r, "axes entry", &ax);
                if (st == OCS_OK) {
                    pads[ax] = pv[k];
                    pads[r + ax] = pv[na + k];
                }
            }
        }
    }
    free(pv);
    free(av);
    return st;
}

ocs_status ocs_ref_Pad(ocs_kernel_args *a)
{
    ocs_status st = ocs_need_inputs(a, 1, a->since_version >= 18 ? 4 : a->since_version >= 11 ? 3 : 1);
    if (st != OCS_OK)
        return st;
    const ocs_tensor *x = a->inputs[0];
    st = ocs_mv_check_dtype(a, x, "data");
    if (st != OCS_OK)
        return st;
    const char *mode_s;
    st = ocs_node_attr_string(a->node, "mode", "constant", &mode_s, a->err);
    if (st != OCS_OK)
        return st;
    pad_mode mode;
    if (!strcmp(mode_s, "constant"))
        mode = PAD_CONSTANT;
    else if (!strcmp(mode_s, "edge"))
        mode = PAD_EDGE;
    else if (!strcmp(mode_s, "reflect"))
        mode = PAD_REFLECT;
    else if (!strcmp(mode_s, "wrap") && a->since_version >= 19)
        mode = PAD_WRAP;
    else
        return ocs_fail(a->err, OCS_ERR_INVALID, "mode '%s' is not defined at version %lld", mode_s,
                        (long long)a->since_version);

    int r = x->rank;
    int64_t pads[2 * OCS_MAX_RANK];
    st = read_pads(a, x, pads);
    if (st != OCS_OK)
        return st;
    int64_t dims[OCS_MAX_RANK], lo[OCS_MAX_RANK], len[OCS_MAX_RANK], before[OCS_MAX_RANK];
    for (int k = 0; k < r; k++) {
        int64_t b = pads[k], e = pads[r + k];
        dims[k] = x->dims[k] + b + e;
        lo[k] = b < 0 ? -b : 0;
        len[k] = x->dims[k] - lo[k] - (e < 0 ? -e : 0);
        before[k] = b > 0 ? b : 0;
        if (dims[k] < 0 || len[k] < 0)
            return ocs_fail(a->err, OCS_ERR_INVALID, "pads %lld and %lld crop axis %d of size %lld below zero",
                            (long long)b, (long long)e, k, (long long)x->dims[k]);
        if (mode != PAD_CONSTANT && len[k] == 0 && dims[k] > 0)
            return ocs_fail(a->err, OCS_ERR_INVALID, "mode %s cannot pad axis %d: it has no elements", mode_s, k);
    }

    /* the constant, as a one-element tensor of x's type (zero / "" by default) */
    ocs_tensor *value = NULL;
    st = ocs_tensor_new(x->dtype, 0, NULL, &value, a->err);
    if (st != OCS_OK)
        return st;
    const ocs_tensor *cv = a->since_version >= 11 ? ocs_input(a, 2) : NULL;
    if (cv) {
        if (cv->dtype != x->dtype || cv->numel != 1)
            st = ocs_fail(a->err, OCS_ERR_INVALID, "constant_value must be one %s element", ocs_dtype_name(x->dtype));
        else
            st = ocs_mv_copy(a, value, 0, cv, 0, 1);
    } else if (a->since_version < 11) {
        float v;
        st = ocs_node_attr_float(a->node, "value", 0.0f, &v, a->err);
        if (st == OCS_OK)
            ocs_tensor_set_f64(value, 0, v);
    }
    ocs_tensor *y = NULL;
    if (st == OCS_OK)
        st = ocs_output(a, 0, x->dtype, r, dims, &y);
    int64_t xs[OCS_MAX_RANK], idx[OCS_MAX_RANK] = {0};
    ocs_strides(r, x->dims, xs);
    for (size_t o = 0; st == OCS_OK && o < y->numel; o++) {
        int64_t src = 0;
        int inside = 1;
        for (int k = 0; k < r && inside; k++) {
            int64_t i = 0;
            inside = map_index(mode, idx[k] - before[k], len[k], &i);
            src += (lo[k] + i) * xs[k];
        }
        st = inside ? ocs_mv_copy(a, y, o, x, (size_t)src, 1) : ocs_mv_copy(a, y, o, value, 0, 1);
        ocs_index_next(r, dims, idx);
    }
    ocs_tensor_free(value);
    return st;
}
