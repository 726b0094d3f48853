/*
 * tests/plugins/plugin_kernels.h - float32 Softmax (1, 11, 13),
 * RMSNormalization (23) and Relu (6, 13, 14) written against ocs/plugin.h
 * alone, shared by the example plugin and the test doubles built on it.
 *
 * Each plugin includes this file once and puts kern_supports, kern_infer
 * and kern_run (or a wrapper of kern_run) in its function table.
 */
#ifndef OCS_TEST_PLUGIN_KERNELS_H
#define OCS_TEST_PLUGIN_KERNELS_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ocs/plugin.h"

static int kern_fail(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int kern_fail(char *err, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
    return OCS_PLUGIN_FAILED;
}

typedef enum kern_op { KERN_NONE, KERN_SOFTMAX, KERN_RMSNORM, KERN_RELU } kern_op;

static kern_op kern_which(const ocs_plugin_node *n)
{
    if (strcmp(n->domain, ""))
        return KERN_NONE;
    if (!strcmp(n->op_type, "Softmax") && (n->since_version == 1 || n->since_version == 11 ||
                                           n->since_version == 13))
        return KERN_SOFTMAX;
    if (!strcmp(n->op_type, "RMSNormalization") && n->since_version == 23)
        return KERN_RMSNORM;
    if (!strcmp(n->op_type, "Relu") && (n->since_version == 6 || n->since_version == 13 ||
                                        n->since_version == 14))
        return KERN_RELU;
    return KERN_NONE;
}

/* Whether attribute name is absent or has type t. */
static int kern_attr_ok(const ocs_plugin_node *n, const char *name, int t)
{
    int have = n->attr_type(n, name);
    return have == OCS_PLUGIN_ATTR_UNDEFINED || have == t;
}

/* Whether every attribute of n is one of the NULL-terminated names. */
static int kern_attrs_known(const ocs_plugin_node *n, const char *const *names)
{
    for (size_t i = 0; i < n->n_attrs; i++) {
        const char *a = n->attr_name(n, i);
        int known = 0;
        for (const char *const *k = names; *k && !known; k++)
            known = !strcmp(a, *k);
        if (!known)
            return 0;
    }
    return 1;
}

static int kern_supports(void *ctx, const ocs_plugin_node *n, const ocs_plugin_tensor *in)
{
    (void)ctx;
    static const char *const softmax_attrs[] = {"axis", NULL};
    static const char *const rms_attrs[] = {"axis", "epsilon", "stash_type", NULL};
    static const char *const no_attrs[] = {NULL};
    size_t want_inputs;
    switch (kern_which(n)) {
    case KERN_SOFTMAX:
        if (!kern_attrs_known(n, softmax_attrs) || !kern_attr_ok(n, "axis", OCS_PLUGIN_ATTR_INT))
            return 0;
        want_inputs = 1;
        break;
    case KERN_RMSNORM: {
        int64_t stash = 1;
        if (!kern_attrs_known(n, rms_attrs) || !kern_attr_ok(n, "axis", OCS_PLUGIN_ATTR_INT) ||
            !kern_attr_ok(n, "epsilon", OCS_PLUGIN_ATTR_FLOAT) || n->attr_int(n, "stash_type", &stash) < 0 ||
            stash != 1)
            return 0;   /* only float32 stashing */
        want_inputs = 2;
        break;
    }
    case KERN_RELU:
        if (!kern_attrs_known(n, no_attrs))
            return 0;
        want_inputs = 1;
        break;
    default:
        return 0;
    }
    if (n->n_inputs != want_inputs || n->n_outputs != 1)
        return 0;
    for (size_t i = 0; i < n->n_inputs; i++)
        if (in[i].dtype != OCS_PLUGIN_FLOAT)
            return 0;
    return 1;
}

/* axis in [-rank, rank) made non-negative into *out. */
static int kern_axis(int64_t axis, int32_t rank, const char *op, int64_t *out, char *err, size_t len)
{
    if (axis < -(int64_t)rank || axis >= rank)
        return kern_fail(err, len, "%s: axis %lld is out of range for rank %d", op, (long long)axis, (int)rank);
    *out = axis < 0 ? axis + rank : axis;
    return OCS_PLUGIN_OK;
}

static size_t kern_prod(const int64_t *dims, int32_t from, int32_t to)
{
    size_t p = 1;
    for (int32_t d = from; d < to; d++)
        p *= (size_t)dims[d];
    return p;
}

static int kern_infer(void *ctx, void *state, const ocs_plugin_node *n, const ocs_plugin_tensor *in,
                      ocs_plugin_tensor *out, char *err, size_t len)
{
    (void)ctx;
    (void)state;
    const ocs_plugin_tensor *x = &in[0];
    int64_t axis;
    switch (kern_which(n)) {
    case KERN_SOFTMAX:
        axis = n->since_version < 13 ? 1 : -1;
        n->attr_int(n, "axis", &axis);
        if (kern_axis(axis, x->rank, "Softmax", &axis, err, len) != OCS_PLUGIN_OK)
            return OCS_PLUGIN_FAILED;
        break;
    case KERN_RMSNORM: {
        const ocs_plugin_tensor *s = &in[1];
        axis = -1;
        n->attr_int(n, "axis", &axis);
        if (kern_axis(axis, x->rank, "RMSNormalization", &axis, err, len) != OCS_PLUGIN_OK)
            return OCS_PLUGIN_FAILED;
        if (s->rank > x->rank)
            return kern_fail(err, len, "RMSNormalization: scale has rank %d, more than X's %d", (int)s->rank,
                             (int)x->rank);
        for (int32_t d = 0; d < s->rank; d++) {
            int64_t sd = s->dims[s->rank - 1 - d], xd = x->dims[x->rank - 1 - d];
            if (sd != 1 && sd != xd)
                return kern_fail(err, len,
                                 "RMSNormalization: scale dimension %d (%lld) does not broadcast to X's %lld",
                                 (int)(s->rank - 1 - d), (long long)sd, (long long)xd);
        }
        break;
    }
    case KERN_RELU:
        break;
    default:
        return kern_fail(err, len, "%s is not implemented here", n->op_type);
    }
    out[0].dtype = OCS_PLUGIN_FLOAT;
    out[0].rank = x->rank;
    memcpy(out[0].dims, x->dims, sizeof x->dims);
    return OCS_PLUGIN_OK;
}

/* Softmax over len elements spaced stride apart. */
static void kern_softmax_line(const float *x, float *y, size_t len, size_t stride)
{
    double mx = -INFINITY, sum = 0.0;
    for (size_t k = 0; k < len; k++)
        if (x[k * stride] > mx)
            mx = x[k * stride];
    for (size_t k = 0; k < len; k++)
        sum += exp((double)x[k * stride] - mx);
    for (size_t k = 0; k < len; k++)
        y[k * stride] = (float)(exp((double)x[k * stride] - mx) / sum);
}

static void kern_softmax(const ocs_plugin_node *n, const ocs_plugin_tensor *x, float *y)
{
    int64_t axis = n->since_version < 13 ? 1 : -1;
    n->attr_int(n, "axis", &axis);
    if (axis < 0)
        axis += x->rank;
    const float *xd = x->data;
    if (n->since_version < 13) {
        /* the input is read as a 2-D matrix [outer, rest] */
        size_t outer = kern_prod(x->dims, 0, (int32_t)axis), rest = kern_prod(x->dims, (int32_t)axis, x->rank);
        for (size_t o = 0; o < outer; o++)
            kern_softmax_line(xd + o * rest, y + o * rest, rest, 1);
        return;
    }
    size_t outer = kern_prod(x->dims, 0, (int32_t)axis), len = (size_t)x->dims[axis];
    size_t inner = kern_prod(x->dims, (int32_t)axis + 1, x->rank);
    for (size_t o = 0; o < outer; o++)
        for (size_t i = 0; i < inner; i++)
            kern_softmax_line(xd + o * len * inner + i, y + o * len * inner + i, len, inner);
}

/* Flat index into scale (unidirectionally broadcast to x) of x's element at flat index j. */
static size_t kern_scale_index(const ocs_plugin_tensor *x, const ocs_plugin_tensor *s, size_t j)
{
    size_t idx = 0, s_stride = 1;
    for (int32_t d = x->rank - 1, e = s->rank - 1; d >= 0; d--, e--) {
        size_t coord = j % (size_t)x->dims[d];
        j /= (size_t)x->dims[d];
        if (e < 0)
            continue;
        if (s->dims[e] != 1)
            idx += coord * s_stride;
        s_stride *= (size_t)s->dims[e];
    }
    return idx;
}

static void kern_rmsnorm(const ocs_plugin_node *n, const ocs_plugin_tensor *x, const ocs_plugin_tensor *s,
                         float *y)
{
    int64_t axis = -1;
    float eps = 1e-5f;
    n->attr_int(n, "axis", &axis);
    n->attr_float(n, "epsilon", &eps);
    if (axis < 0)
        axis += x->rank;
    size_t outer = kern_prod(x->dims, 0, (int32_t)axis), len = kern_prod(x->dims, (int32_t)axis, x->rank);
    const float *xd = x->data, *sd = s->data;
    for (size_t o = 0; o < outer; o++) {
        const float *row = xd + o * len;
        double ss = 0.0;
        for (size_t k = 0; k < len; k++)
            ss += (double)row[k] * row[k];
        float rms = (float)sqrt(ss / (double)len + (double)eps);
        for (size_t k = 0; k < len; k++) {
            size_t j = o * len + k;
            y[j] = (row[k] / rms) * sd[kern_scale_index(x, s, j)];
        }
    }
}

static int kern_run(void *ctx, void *state, const ocs_plugin_node *n, const ocs_plugin_tensor *in,
                    ocs_plugin_tensor *out, char *err, size_t len)
{
    (void)ctx;
    (void)state;
    float *y = out[0].data;
    if (!y)
        return OCS_PLUGIN_OK;   /* output unused */
    switch (kern_which(n)) {
    case KERN_SOFTMAX:
        kern_softmax(n, &in[0], y);
        return OCS_PLUGIN_OK;
    case KERN_RMSNORM:
        kern_rmsnorm(n, &in[0], &in[1], y);
        return OCS_PLUGIN_OK;
    case KERN_RELU: {
        const float *x = in[0].data;
        for (size_t i = 0; i < in[0].numel; i++)
            y[i] = x[i] < 0.0f ? 0.0f : x[i];   /* NaN stays NaN */
        return OCS_PLUGIN_OK;
    }
    default:
        return kern_fail(err, len, "%s is not implemented here", n->op_type);
    }
}

#endif /* OCS_TEST_PLUGIN_KERNELS_H */
