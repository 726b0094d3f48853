/*
 * reference/ops/moe.c - MoE (ai.onnx.preview, version 1): a mixture of
 * experts whose routing and expert computation are GRAPH attributes.
 *
 *   X      = input viewed as [T, H]; logits = router_logits [T, E]
 *   (w, i) = router(logits): weights [T, k] float, indices [T, k] int64;
 *            without a router: softmax over E in float32, TopK k (ties to
 *            the lower index), divide by the sum of the k
 *   for each expert e that some token selects, in ascending e:
 *       rows  = the tokens t with i[t, j] = e, in ascending t
 *       Y_e   = expert(X[rows], p_1[e], ..., p_m[e])
 *               (weight_position = "input": row t is w[t, j] X[t] rounded
 *               to the input type)
 *   output[t] = sum over j = 0..k-1 of w[t, j] Y_{i[t,j]}[row of t]
 *               (weight_position = "input": of Y_{i[t,j]}[row of t]),
 *               accumulated in double, rounded once to the input type.
 *
 * An expert nobody selects is not called.  The router's output is checked:
 * shapes and types, and per token k distinct indices in [0, E).
 */
#include "common.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int is_float_type(ocs_dtype t)
{
    return t == OCS_FLOAT || t == OCS_FLOAT16 || t == OCS_BFLOAT16 || t == OCS_DOUBLE;
}

/* Whether score a ranks strictly before score b in TopK (largest first, NaN above all). */
static int ranks_before(float a, float b)
{
    if (isnan(a))
        return !isnan(b);
    if (isnan(b))
        return 0;
    return a > b;
}

/*
 * The default router, operation for operation as its function body computes
 * it: p = Softmax(Cast<float>(logits)) (each row in double, rounded to
 * float), TopK(p, k) with ties to the lower index, s = ReduceSum of the k
 * (double, rounded to float), w = p / s (rounded to float).
 */
static ocs_status default_router(ocs_kernel_args *a, const ocs_tensor *logits, size_t T, size_t E, size_t k,
                                 float *w, int64_t *idx)
{
    double *z = malloc(E * sizeof *z);
    float *p = malloc(E * sizeof *p);
    unsigned char *taken = malloc(E);
    if (!z || !p || !taken) {
        free(z);
        free(p);
        free(taken);
        return ocs_fail(a->err, OCS_ERR_NOMEM, "out of memory routing %zu experts", E);
    }
    for (size_t t = 0; t < T; t++) {
        double max = -INFINITY;
        for (size_t e = 0; e < E; e++) {
            z[e] = (double)(float)ocs_tensor_get_f64(logits, t * E + e);
            if (z[e] > max || isnan(z[e]))
                max = z[e];
            if (isnan(max))
                break;
        }
        double sum = 0.0;
        for (size_t e = 0; e < E; e++)
            sum += exp(z[e] - max);
        for (size_t e = 0; e < E; e++) {
            p[e] = (float)(exp(z[e] - max) / sum);
            taken[e] = 0;
        }
        double total = 0.0;
        for (size_t j = 0; j < k; j++) {
            size_t best = E;
            for (size_t e = 0; e < E; e++)
                if (!taken[e] && (best == E || ranks_before(p[e], p[best])))
                    best = e;
            taken[best] = 1;
            idx[t * k + j] = (int64_t)best;
            total += p[best];
        }
        float s = (float)total;
        for (size_t j = 0; j < k; j++)
            w[t * k + j] = (float)((double)p[idx[t * k + j]] / (double)s);
    }
    free(z);
    free(p);
    free(taken);
    return OCS_OK;
}

/* Runs the router hook and checks the shapes and types of what it returns. */
static ocs_status custom_router(ocs_kernel_args *a, const ocs_graph *router, const ocs_tensor *logits, size_t T,
                                size_t k, float *w, int64_t *idx)
{
    if (router->n_inputs != 1 || router->n_outputs != 2)
        return ocs_fail(a->err, OCS_ERR_INVALID,
                        "the router graph has %zu inputs and %zu outputs; it must have 1 (logits) and 2 "
                        "(weights, indices)", router->n_inputs, router->n_outputs);
    ocs_tensor *out[2] = {NULL, NULL};
    ocs_status st = ocs_exec_subgraph(a, router, 1, &logits, 2, out);
    if (st != OCS_OK)
        return ocs_err_prefix(a->err, st, "router: ");
    static const char *const what[2] = {"weights", "indices"};
    static const ocs_dtype want[2] = {OCS_FLOAT, OCS_INT64};
    for (int o = 0; o < 2 && st == OCS_OK; o++) {
        const ocs_tensor *r = out[o];
        if (r->dtype != want[o] || r->rank != 2 || r->dims[0] != (int64_t)T || r->dims[1] != (int64_t)k) {
            char got[128];
            st = ocs_fail(a->err, OCS_ERR_INVALID, "router output %d (%s) is %s; it must be %s [%zu, %zu] ([T, k])",
                          o, what[o], ocs_tensor_describe(r, got, sizeof got), ocs_dtype_name(want[o]), T, k);
        }
    }
    if (st == OCS_OK) {
        memcpy(w, out[0]->data, T * k * sizeof *w);
        memcpy(idx, out[1]->data, T * k * sizeof *idx);
    }
    ocs_tensor_free(out[0]);
    ocs_tensor_free(out[1]);
    return st;
}

/* Every token's k indices must be distinct and in [0, E). */
static ocs_status check_routes(ocs_kernel_args *a, size_t T, size_t E, size_t k, const int64_t *idx)
{
    for (size_t t = 0; t < T; t++)
        for (size_t j = 0; j < k; j++) {
            int64_t v = idx[t * k + j];
            if (v < 0 || (uint64_t)v >= E)
                return ocs_fail(a->err, OCS_ERR_INVALID,
                                "router: token %zu, slot %zu selects expert %lld, outside [0, %zu)", t, j,
                                (long long)v, E);
            for (size_t q = 0; q < j; q++)
                if (idx[t * k + q] == v)
                    return ocs_fail(a->err, OCS_ERR_INVALID,
                                    "router: token %zu selects expert %lld twice (slots %zu and %zu); the k "
                                    "indices of a token must be distinct", t, (long long)v, q, j);
        }
    return OCS_OK;
}

/* Slice [e] of p (leading dimension E), in p's own type. */
static ocs_status slice(ocs_kernel_args *a, const ocs_tensor *p, size_t e, ocs_tensor **out)
{
    size_t inner = p->numel / (size_t)p->dims[0];
    ocs_status st = ocs_tensor_new(p->dtype, p->rank - 1, p->dims + 1, out, a->err);
    if (st == OCS_OK && inner)
        st = ocs_copy_elems(*out, 0, p, e * inner, inner, a->err);
    if (st != OCS_OK) {
        ocs_tensor_free(*out);
        *out = NULL;
    }
    return st;
}

/* What the node says: k, the hooks and where the weights apply. */
typedef struct moe_attrs {
    int64_t k;
    const ocs_graph *router;    /* NULL: the default router */
    const ocs_graph *expert;
    int weight_on_input;
} moe_attrs;

static ocs_status read_attrs(ocs_kernel_args *a, moe_attrs *m)
{
    const char *pos = NULL;
    ocs_status st;
    if (!ocs_node_attr(a->node, "k"))
        return ocs_fail(a->err, OCS_ERR_INVALID, "required attribute k is missing");
    if ((st = ocs_node_attr_int(a->node, "k", 1, &m->k, a->err)) != OCS_OK ||
        (st = ocs_node_attr_graph(a->node, "router", &m->router, a->err)) != OCS_OK ||
        (st = ocs_node_attr_graph(a->node, "expert", &m->expert, a->err)) != OCS_OK ||
        (st = ocs_node_attr_string(a->node, "weight_position", "output", &pos, a->err)) != OCS_OK)
        return st;
    if (!m->expert)
        return ocs_fail(a->err, OCS_ERR_INVALID, "required attribute expert (GRAPH) is missing");
    if (!strcmp(pos, "output"))
        m->weight_on_input = 0;
    else if (!strcmp(pos, "input"))
        m->weight_on_input = 1;
    else
        return ocs_fail(a->err, OCS_ERR_INVALID, "weight_position is \"%s\"; it must be \"output\" or \"input\"",
                        pos);
    return OCS_OK;
}

/* Calls the expert on its rows and adds the results to contrib [T, k, H]. */
static ocs_status run_expert(ocs_kernel_args *a, const moe_attrs *m, size_t e, const size_t *tok,
                             const size_t *slot, size_t n, size_t H, size_t k, const float *w, double *contrib)
{
    const ocs_tensor *x = a->inputs[0];
    size_t n_params = a->n_inputs - 2;
    const ocs_tensor **ins = calloc(n_params + 1, sizeof *ins);
    ocs_tensor **slices = calloc(n_params + 1, sizeof *slices);
    ocs_tensor *xe = NULL, *y = NULL;
    int64_t dims[2] = {(int64_t)n, (int64_t)H};
    ocs_status st = OCS_OK;
    if (!ins || !slices) {
        st = ocs_fail(a->err, OCS_ERR_NOMEM, "out of memory calling expert %zu", e);
        goto done;
    }
    if ((st = ocs_tensor_new(x->dtype, 2, dims, &xe, a->err)) != OCS_OK)
        goto done;
    for (size_t r = 0; r < n; r++) {
        size_t t = tok[r];
        if (!m->weight_on_input) {
            if ((st = ocs_copy_elems(xe, r * H, x, t * H, H, a->err)) != OCS_OK)
                goto done;
            continue;
        }
        double wt = w[t * k + slot[r]];
        for (size_t h = 0; h < H; h++)
            ocs_tensor_set_f64(xe, r * H + h, wt * ocs_tensor_get_f64(x, t * H + h));
    }
    ins[0] = xe;
    for (size_t i = 0; i < n_params; i++) {
        if ((st = slice(a, a->inputs[2 + i], e, &slices[i])) != OCS_OK)
            goto done;
        ins[1 + i] = slices[i];
    }
    if ((st = ocs_exec_subgraph(a, m->expert, n_params + 1, ins, 1, &y)) != OCS_OK) {
        ocs_err_prefix(a->err, st, "expert %zu (%zu tokens): ", e, n);
        goto done;
    }
    if (y->dtype != x->dtype || y->rank != 2 || y->dims[0] != (int64_t)n || y->dims[1] != (int64_t)H) {
        char got[128];
        st = ocs_fail(a->err, OCS_ERR_INVALID,
                      "expert %zu returned %s; it must return %s [%zu, %zu] (one row per routed token, H = %zu)",
                      e, ocs_tensor_describe(y, got, sizeof got), ocs_dtype_name(x->dtype), n, H, H);
        goto done;
    }
    for (size_t r = 0; r < n; r++) {
        size_t at = (tok[r] * k + slot[r]) * H;
        double wt = m->weight_on_input ? 1.0 : (double)w[tok[r] * k + slot[r]];
        for (size_t h = 0; h < H; h++) {
            double v = ocs_tensor_get_f64(y, r * H + h);
            contrib[at + h] = m->weight_on_input ? v : wt * v;
        }
    }
done:
    for (size_t i = 0; slices && i < n_params; i++)
        ocs_tensor_free(slices[i]);
    ocs_tensor_free(xe);
    ocs_tensor_free(y);
    free(slices);
    free(ins);
    return st;
}

ocs_status ocs_ref_MoE(ocs_kernel_args *a)
{
    moe_attrs m;
    ocs_status st = ocs_need_inputs(a, 2, SIZE_MAX);
    if (st != OCS_OK || (st = read_attrs(a, &m)) != OCS_OK)
        return st;
    const ocs_tensor *x = a->inputs[0], *logits = a->inputs[1];
    if (!is_float_type(x->dtype))
        return ocs_dtype_unsupported(a, x, "input 0 (input)");
    if (!is_float_type(logits->dtype))
        return ocs_dtype_unsupported(a, logits, "input 1 (router_logits)");
    if (x->rank < 1)
        return ocs_fail(a->err, OCS_ERR_INVALID, "input must have rank >= 1 ([..., H]), it is a scalar");
    if (logits->rank != 2)
        return ocs_fail(a->err, OCS_ERR_INVALID, "router_logits must be 2-D [T, E], it has rank %d", logits->rank);
    size_t T = (size_t)logits->dims[0], E = (size_t)logits->dims[1], H = (size_t)x->dims[x->rank - 1], rows = 0;
    if ((st = ocs_shape_numel(x->rank - 1, x->dims, &rows, a->err)) != OCS_OK)
        return st;
    if (rows != T) {
        char shape[128];
        return ocs_fail(a->err, OCS_ERR_INVALID, "input %s holds %zu tokens but router_logits has T = %zu rows",
                        ocs_shape_str(x->rank, x->dims, shape, sizeof shape), rows, T);
    }
    if (m.k < 1 || (uint64_t)m.k > E)
        return ocs_fail(a->err, OCS_ERR_INVALID, "k = %lld is outside [1, E] = [1, %zu]", (long long)m.k, E);
    size_t k = (size_t)m.k, n_params = a->n_inputs - 2;
    for (size_t i = 0; i < n_params; i++) {
        const ocs_tensor *p = a->inputs[2 + i];
        if (!p)
            return ocs_fail(a->err, OCS_ERR_INVALID, "expert_params %zu (input %zu) is absent", i, 2 + i);
        if (p->rank < 1 || p->dims[0] != (int64_t)E) {
            char shape[128];
            return ocs_fail(a->err, OCS_ERR_INVALID,
                            "expert_params %zu (input %zu) has shape %s; its leading dimension must be E = %zu", i,
                            2 + i, ocs_shape_str(p->rank, p->dims, shape, sizeof shape), E);
        }
    }
    if (m.expert->n_inputs != n_params + 1 || m.expert->n_outputs != 1)
        return ocs_fail(a->err, OCS_ERR_INVALID,
                        "the expert graph has %zu inputs and %zu outputs; with %zu expert_params it must have %zu "
                        "and 1", m.expert->n_inputs, m.expert->n_outputs, n_params, n_params + 1);

    /* contrib [T, k, H]: each routed token's weighted expert output */
    const int64_t cdims[3] = {(int64_t)T, (int64_t)k, (int64_t)H};
    size_t n_contrib = 0;
    if ((st = ocs_shape_numel(3, cdims, &n_contrib, a->err)) != OCS_OK)
        return st;
    if (n_contrib > SIZE_MAX / sizeof(double) || T * k > SIZE_MAX / sizeof(int64_t))
        return ocs_fail(a->err, OCS_ERR_NOMEM, "[T, k, H] = [%zu, %zu, %zu] is too large", T, k, H);
    float *w = malloc((T * k + 1) * sizeof *w);
    int64_t *idx = malloc((T * k + 1) * sizeof *idx);
    size_t *count = calloc(E + 1, sizeof *count), *start = calloc(E + 2, sizeof *start);
    size_t *tok = malloc((T * k + 1) * sizeof *tok), *slot = malloc((T * k + 1) * sizeof *slot);
    double *contrib = calloc(n_contrib + 1, sizeof *contrib);
    ocs_tensor *out = NULL;
    if (!w || !idx || !count || !start || !tok || !slot || !contrib) {
        st = ocs_fail(a->err, OCS_ERR_NOMEM, "out of memory for %zu tokens and %zu experts", T, E);
        goto done;
    }

    st = m.router ? custom_router(a, m.router, logits, T, k, w, idx) : default_router(a, logits, T, E, k, w, idx);
    if (st != OCS_OK || (st = check_routes(a, T, E, k, idx)) != OCS_OK)
        goto done;

    /* Group the (token, slot) pairs by expert, tokens ascending within each. */
    for (size_t q = 0; q < T * k; q++)
        count[idx[q]]++;
    for (size_t e = 0; e < E; e++)
        start[e + 1] = start[e] + count[e];
    memset(count, 0, E * sizeof *count);
    for (size_t t = 0; t < T; t++)
        for (size_t j = 0; j < k; j++) {
            size_t e = (size_t)idx[t * k + j], at = start[e] + count[e]++;
            tok[at] = t;
            slot[at] = j;
        }

    for (size_t e = 0; e < E && st == OCS_OK; e++)
        if (count[e])
            st = run_expert(a, &m, e, tok + start[e], slot + start[e], count[e], H, k, w, contrib);
    if (st != OCS_OK)
        goto done;

    if ((st = ocs_output(a, 0, x->dtype, x->rank, x->dims, &out)) != OCS_OK)
        goto done;
    for (size_t t = 0; t < T; t++)
        for (size_t h = 0; h < H; h++) {
            double sum = 0.0;
            for (size_t j = 0; j < k; j++)
                sum += contrib[(t * k + j) * H + h];
            ocs_tensor_set_f64(out, t * H + h, sum);
        }
done:
    free(w);
    free(idx);
    free(count);
    free(start);
    free(tok);
    free(slot);
    free(contrib);
    return st;
}
