/*
 * Scan - iterates the body over slices of the scan inputs, threading state.
 *
 * Scan-9 and later:
 *   inputs   N initial states, then M scan inputs (num_scan_inputs = M)
 *   body     (state..., slice of each scan input) -> (state..., element of each scan output)
 *   outputs  N final states, then K scan outputs, each the body's elements
 *            stacked along scan_output_axes[k]
 *   A scan input is sliced along scan_input_axes[i] (default 0), forwards or,
 *   with scan_input_directions[i] = 1, backwards; a scan output with
 *   scan_output_directions[k] = 1 is stacked in reverse order.
 * Scan-8: a leading input sequence_lens, and every state and scan input has
 *   a batch dimension first; each batch entry is scanned on its own along
 *   axis 1 (directions come from the `directions` attribute).  Only full
 *   lengths are supported: a shorter sequence_lens entry is reported as
 *   unsupported.
 */
#include "common.h"

#include <stdlib.h>
#include <string.h>

typedef struct scan_spec {
    const ocs_graph *body;
    size_t n_state, n_in, n_out;
    const int64_t *in_axes, *in_dirs, *out_axes, *out_dirs;
    size_t n_in_axes, n_in_dirs, n_out_axes, n_out_dirs;
} scan_spec;

static int64_t pick(const int64_t *v, size_t n, size_t i)
{
    return i < n ? v[i] : 0;
}

static size_t prod(const int64_t *d, int from, int to)
{
    size_t p = 1;
    for (int i = from; i < to; i++)
        p *= (size_t)d[i];
    return p;
}

/* out = x with index t taken along axis ax (rank drops by one). */
static ocs_status take(const ocs_tensor *x, int ax, int64_t t, ocs_tensor **out, ocs_err *err)
{
    int64_t dims[OCS_MAX_RANK];
    int r = 0;
    for (int i = 0; i < x->rank; i++)
        if (i != ax)
            dims[r++] = x->dims[i];
    ocs_status st = ocs_tensor_new(x->dtype, r, dims, out, err);
    size_t outer = prod(x->dims, 0, ax), inner = prod(x->dims, ax + 1, x->rank);
    size_t n = (size_t)x->dims[ax];
    for (size_t o = 0; st == OCS_OK && o < outer; o++)
        st = ocs_copy_elems(*out, o * inner, x, (o * n + (size_t)t) * inner, inner, err);
    return st;
}

/* Writes y as position t of length-T axis ax of out. */
static ocs_status place(ocs_tensor *out, int ax, int64_t t, const ocs_tensor *y, ocs_err *err)
{
    size_t outer = prod(y->dims, 0, ax), inner = prod(y->dims, ax, y->rank);
    size_t n = (size_t)out->dims[ax];
    ocs_status st = OCS_OK;
    for (size_t o = 0; st == OCS_OK && o < outer; o++)
        st = ocs_copy_elems(out, (o * n + (size_t)t) * inner, y, o * inner, inner, err);
    return st;
}

/*
 * One scan over unbatched tensors.  states_out[i] and scan_out[k] receive
 * new tensors owned by the caller.
 */
static ocs_status scan_once(const ocs_kernel_args *a, const scan_spec *sp, const ocs_tensor *const *states,
                            const ocs_tensor *const *xs, ocs_tensor **states_out, ocs_tensor **scan_out)
{
    ocs_err *err = a->err;
    int64_t T = -1;
    int in_ax[OCS_MAX_RANK * 4];
    if (sp->n_in > sizeof in_ax / sizeof in_ax[0])
        return ocs_fail(err, OCS_ERR_UNSUPPORTED, "too many scan inputs");
    for (size_t i = 0; i < sp->n_in; i++) {
        int64_t ax = pick(sp->in_axes, sp->n_in_axes, i);
        if (xs[i]->rank < 1 || ax < -xs[i]->rank || ax >= xs[i]->rank)
            return ocs_fail(err, OCS_ERR_INVALID, "scan input %zu: axis %lld is out of range for rank %d", i,
                            (long long)ax, xs[i]->rank);
        in_ax[i] = (int)(ax < 0 ? ax + xs[i]->rank : ax);
        int64_t len = xs[i]->dims[in_ax[i]];
        if (T >= 0 && len != T)
            return ocs_fail(err, OCS_ERR_INVALID, "scan inputs disagree on the sequence length (%lld vs %lld)",
                            (long long)T, (long long)len);
        T = len;
    }
    if (T < 0)
        return ocs_fail(err, OCS_ERR_INVALID, "Scan needs at least one scan input");

    size_t nb_in = sp->n_state + sp->n_in, nb_out = sp->n_state + sp->n_out;
    const ocs_tensor **in = calloc(nb_in + 1, sizeof *in);
    ocs_tensor **out = calloc(nb_out + 1, sizeof *out);
    ocs_tensor **slices = calloc(sp->n_in + 1, sizeof *slices);
    ocs_tensor **cur = calloc(sp->n_state + 1, sizeof *cur);   /* owned states after iteration 0 */
    ocs_status st = OCS_OK;
    if (!in || !out || !slices || !cur) {
        st = ocs_fail(err, OCS_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int64_t t = 0; t < T && st == OCS_OK; t++) {
        for (size_t i = 0; i < sp->n_state; i++)
            in[i] = cur[i] ? cur[i] : states[i];
        for (size_t i = 0; i < sp->n_in && st == OCS_OK; i++) {
            int64_t at = pick(sp->in_dirs, sp->n_in_dirs, i) ? T - 1 - t : t;
            ocs_tensor_free(slices[i]);
            slices[i] = NULL;
            st = take(xs[i], in_ax[i], at, &slices[i], err);
            in[sp->n_state + i] = slices[i];
        }
        if (st == OCS_OK)
            st = ocs_exec_subgraph(a, sp->body, nb_in, in, nb_out, out);
        if (st != OCS_OK)
            break;
        for (size_t i = 0; i < sp->n_state; i++) {
            ocs_tensor_free(cur[i]);
            cur[i] = out[i];
            out[i] = NULL;
        }
        for (size_t k = 0; k < sp->n_out && st == OCS_OK; k++) {
            const ocs_tensor *y = out[sp->n_state + k];
            if (t == 0) {
                int64_t ax = pick(sp->out_axes, sp->n_out_axes, k);
                int r = y->rank + 1;
                if (ax < -r || ax >= r || r > OCS_MAX_RANK) {
                    st = ocs_fail(err, OCS_ERR_INVALID, "scan output %zu: axis %lld is out of range", k,
                                  (long long)ax);
                    break;
                }
                int a_ = (int)(ax < 0 ? ax + r : ax);
                int64_t dims[OCS_MAX_RANK];
                for (int i = 0, j = 0; i < r; i++)
                    dims[i] = i == a_ ? T : y->dims[j++];
                st = ocs_tensor_new(y->dtype, r, dims, &scan_out[k], err);
            } else {
                const ocs_tensor *o = scan_out[k];
                int same = y->dtype == o->dtype && y->rank + 1 == o->rank;
                if (!same)
                    st = ocs_fail(err, OCS_ERR_INVALID, "scan output %zu changes type or rank between iterations", k);
            }
            if (st != OCS_OK)
                break;
            /* find the stacking axis again from the allocated shape */
            int64_t ax = pick(sp->out_axes, sp->n_out_axes, k);
            int r = scan_out[k]->rank;
            int a_ = (int)(ax < 0 ? ax + r : ax);
            for (int i = 0, j = 0; i < r && st == OCS_OK; i++) {
                if (i == a_)
                    continue;
                if (scan_out[k]->dims[i] != y->dims[j++])
                    st = ocs_fail(err, OCS_ERR_INVALID, "scan output %zu changes shape between iterations", k);
            }
            int64_t at = pick(sp->out_dirs, sp->n_out_dirs, k) ? T - 1 - t : t;
            if (st == OCS_OK)
                st = place(scan_out[k], a_, at, y, err);
            ocs_tensor_free(out[sp->n_state + k]);
            out[sp->n_state + k] = NULL;
        }
    }
    if (st == OCS_OK && T == 0)
        st = ocs_fail(err, OCS_ERR_UNSUPPORTED, "a scan over an empty sequence has no known output shape");
    for (size_t i = 0; st == OCS_OK && i < sp->n_state; i++) {
        if (cur[i]) {
            states_out[i] = cur[i];
            cur[i] = NULL;
        } else {
            st = ocs_tensor_clone(states[i], &states_out[i], err);
        }
    }
done:
    for (size_t i = 0; cur && i < sp->n_state; i++)
        ocs_tensor_free(cur[i]);
    for (size_t i = 0; slices && i < sp->n_in; i++)
        ocs_tensor_free(slices[i]);
    for (size_t i = 0; out && i < nb_out; i++)
        ocs_tensor_free(out[i]);
    free(cur);
    free(slices);
    free(out);
    free(in);
    return st;
}

static ocs_status read_spec(ocs_kernel_args *a, scan_spec *sp, size_t n_inputs_after_lens)
{
    ocs_status st = ocs_node_attr_graph(a->node, "body", &sp->body, a->err);
    if (st != OCS_OK)
        return st;
    if (!sp->body)
        return ocs_fail(a->err, OCS_ERR_INVALID, "attribute body is missing");
    int64_t m = 0;
    st = ocs_node_attr_int(a->node, "num_scan_inputs", -1, &m, a->err);
    if (st != OCS_OK)
        return st;
    if (m < 1 || (size_t)m > n_inputs_after_lens)
        return ocs_fail(a->err, OCS_ERR_INVALID, "num_scan_inputs %lld does not fit %zu inputs", (long long)m,
                        n_inputs_after_lens);
    sp->n_in = (size_t)m;
    sp->n_state = n_inputs_after_lens - sp->n_in;
    if (sp->body->n_inputs != n_inputs_after_lens || sp->body->n_outputs < sp->n_state)
        return ocs_fail(a->err, OCS_ERR_INVALID, "the body takes %zu inputs and yields %zu outputs; expected %zu and at least %zu",
                        sp->body->n_inputs, sp->body->n_outputs, n_inputs_after_lens, sp->n_state);
    sp->n_out = sp->body->n_outputs - sp->n_state;
    if (a->n_outputs > sp->body->n_outputs)
        return ocs_fail(a->err, OCS_ERR_INVALID, "the node has more outputs than the body");
    return OCS_OK;
}

static ocs_status scan9(ocs_kernel_args *a)
{
    scan_spec sp = {0};
    ocs_status st = read_spec(a, &sp, a->n_inputs);
    if (st == OCS_OK)
        st = ocs_node_attr_ints(a->node, "scan_input_axes", &sp.in_axes, &sp.n_in_axes, NULL, a->err);
    if (st == OCS_OK)
        st = ocs_node_attr_ints(a->node, "scan_input_directions", &sp.in_dirs, &sp.n_in_dirs, NULL, a->err);
    if (st == OCS_OK)
        st = ocs_node_attr_ints(a->node, "scan_output_axes", &sp.out_axes, &sp.n_out_axes, NULL, a->err);
    if (st == OCS_OK)
        st = ocs_node_attr_ints(a->node, "scan_output_directions", &sp.out_dirs, &sp.n_out_dirs, NULL, a->err);
    if (st != OCS_OK)
        return st;
    for (size_t i = 0; i < a->n_inputs; i++)
        if (!a->inputs[i])
            return ocs_fail(a->err, OCS_ERR_INVALID, "input %zu is missing", i);
    ocs_tensor **res = calloc(sp.n_state + sp.n_out + 1, sizeof *res);
    if (!res)
        return ocs_fail(a->err, OCS_ERR_NOMEM, "out of memory");
    st = scan_once(a, &sp, a->inputs, a->inputs + sp.n_state, res, res + sp.n_state);
    for (size_t i = 0; i < sp.n_state + sp.n_out; i++) {
        if (st == OCS_OK && i < a->n_outputs)
            a->outputs[i] = res[i];
        else
            ocs_tensor_free(res[i]);
    }
    free(res);
    return st;
}

/* Scan-8: every input has a batch dimension; scan each batch entry along axis 1. */
static ocs_status scan8(ocs_kernel_args *a)
{
    if (a->n_inputs < 1)
        return ocs_fail(a->err, OCS_ERR_INVALID, "Scan-8 needs the sequence_lens input (it may be empty)");
    scan_spec sp = {0};
    ocs_status st = read_spec(a, &sp, a->n_inputs - 1);
    if (st == OCS_OK)
        st = ocs_node_attr_ints(a->node, "directions", &sp.in_dirs, &sp.n_in_dirs, NULL, a->err);
    if (st != OCS_OK)
        return st;
    const ocs_tensor *const *ins = a->inputs + 1;
    size_t n_all = sp.n_state + sp.n_in;
    int64_t B = -1;
    for (size_t i = 0; i < n_all; i++) {
        if (!ins[i] || ins[i]->rank < 1)
            return ocs_fail(a->err, OCS_ERR_INVALID, "input %zu must have a batch dimension", i + 1);
        if (B >= 0 && ins[i]->dims[0] != B)
            return ocs_fail(a->err, OCS_ERR_INVALID, "inputs disagree on the batch size");
        B = ins[i]->dims[0];
    }
    if (a->inputs[0]) {
        for (size_t b = 0; b < a->inputs[0]->numel; b++) {
            int64_t len = ocs_tensor_get_i64(a->inputs[0], b);
            if (sp.n_in && ins[sp.n_state]->rank > 1 && len != ins[sp.n_state]->dims[1])
                return ocs_fail(a->err, OCS_ERR_UNSUPPORTED, "sequence_lens shorter than the sequence axis");
        }
    }

    size_t n_res = sp.n_state + sp.n_out;
    const ocs_tensor **sub = calloc(n_all + 1, sizeof *sub);
    ocs_tensor **subs = calloc(n_all + 1, sizeof *subs);
    ocs_tensor **res = calloc(n_res + 1, sizeof *res);
    if (!sub || !subs || !res) {
        st = ocs_fail(a->err, OCS_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int64_t b = 0; b < B && st == OCS_OK; b++) {
        for (size_t i = 0; i < n_all && st == OCS_OK; i++) {
            ocs_tensor_free(subs[i]);
            subs[i] = NULL;
            st = take(ins[i], 0, b, &subs[i], a->err);
            sub[i] = subs[i];
        }
        if (st != OCS_OK)
            break;
        st = scan_once(a, &sp, sub, sub + sp.n_state, res, res + sp.n_state);
        for (size_t i = 0; i < n_res && st == OCS_OK; i++) {
            if (i >= a->n_outputs)
                continue;
            if (b == 0) {
                int64_t dims[OCS_MAX_RANK];
                if (res[i]->rank + 1 > OCS_MAX_RANK) {
                    st = ocs_fail(a->err, OCS_ERR_UNSUPPORTED, "rank too large");
                    break;
                }
                dims[0] = B;
                memcpy(dims + 1, res[i]->dims, (size_t)res[i]->rank * sizeof *dims);
                st = ocs_output(a, i, res[i]->dtype, res[i]->rank + 1, dims, NULL);
            }
            if (st == OCS_OK && a->outputs[i]->numel != (size_t)B * res[i]->numel)
                st = ocs_fail(a->err, OCS_ERR_INVALID, "output %zu changes shape between batch entries", i);
            if (st == OCS_OK)
                st = ocs_copy_elems(a->outputs[i], (size_t)b * res[i]->numel, res[i], 0, res[i]->numel, a->err);
        }
        for (size_t i = 0; i < n_res; i++) {
            ocs_tensor_free(res[i]);
            res[i] = NULL;
        }
    }
done:
    for (size_t i = 0; subs && i < n_all; i++)
        ocs_tensor_free(subs[i]);
    free(subs);
    free(sub);
    free(res);
    return st;
}

ocs_status ocs_ref_Scan(ocs_kernel_args *a)
{
    return a->since_version < 9 ? scan8(a) : scan9(a);
}
