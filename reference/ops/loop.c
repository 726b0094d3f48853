/*
 * Loop - runs the body while the trip count and the condition allow.
 *
 *   inputs   M (optional int64 scalar), cond (optional bool scalar), v_initial...
 *   body     (iteration_num, cond_in, v...) -> (cond_out, v..., scan_out...)
 *   outputs  final v..., then each scan_out stacked along a new first axis
 *
 * Without M the trip count is unbounded; without cond the body's condition
 * output is ignored.  A scan output of a loop that ran zero times has shape
 * [0] followed by the body's declared output shape where it is known.
 */
#include "common.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Stacks n same-shaped tensors along a new first axis into *out. */
static ocs_status stack(ocs_kernel_args *a, size_t k, ocs_tensor *const *items, size_t n,
                        const ocs_type *declared, ocs_tensor **out)
{
    int64_t dims[OCS_MAX_RANK];
    if (n == 0) {
        int rank = 1;
        dims[0] = 0;
        ocs_dtype dt = declared && declared->kind == OCS_TYPE_TENSOR ? declared->elem : OCS_FLOAT;
        if (declared && declared->has_shape && declared->rank < OCS_MAX_RANK) {
            for (int i = 0; i < declared->rank; i++)
                dims[1 + i] = declared->dims[i].value >= 0 ? declared->dims[i].value : 0;
            rank += declared->rank;
        }
        return ocs_output(a, k, dt, rank, dims, out);
    }
    const ocs_tensor *first = items[0];
    if (first->rank + 1 > OCS_MAX_RANK)
        return ocs_fail(a->err, OCS_ERR_UNSUPPORTED, "scan output rank exceeds %d", OCS_MAX_RANK);
    for (size_t i = 1; i < n; i++) {
        const ocs_tensor *t = items[i];
        if (t->dtype != first->dtype || t->rank != first->rank ||
            memcmp(t->dims, first->dims, (size_t)t->rank * sizeof *t->dims) != 0)
            return ocs_fail(a->err, OCS_ERR_INVALID,
                            "scan output %zu changes type or shape between iterations 0 and %zu", k, i);
    }
    dims[0] = (int64_t)n;
    memcpy(dims + 1, first->dims, (size_t)first->rank * sizeof *dims);
    ocs_status st = ocs_output(a, k, first->dtype, first->rank + 1, dims, out);
    for (size_t i = 0; i < n && st == OCS_OK; i++)
        st = ocs_copy_elems(*out, i * first->numel, items[i], 0, first->numel, a->err);
    return st;
}

ocs_status ocs_ref_Loop(ocs_kernel_args *a)
{
    const ocs_graph *body = NULL;
    ocs_status st = ocs_node_attr_graph(a->node, "body", &body, a->err);
    if (st != OCS_OK)
        return st;
    if (!body)
        return ocs_fail(a->err, OCS_ERR_INVALID, "attribute body is missing");
    if (a->n_inputs < 2)
        return ocs_fail(a->err, OCS_ERR_INVALID, "Loop needs inputs M and cond (either may be empty)");
    size_t n_carried = a->n_inputs - 2;
    if (body->n_inputs != n_carried + 2 || body->n_outputs < n_carried + 1)
        return ocs_fail(a->err, OCS_ERR_INVALID,
                        "the body has %zu inputs and %zu outputs; %zu loop-carried values need %zu and at least %zu",
                        body->n_inputs, body->n_outputs, n_carried, n_carried + 2, n_carried + 1);
    size_t n_scan = body->n_outputs - 1 - n_carried;
    if (a->n_outputs > n_carried + n_scan)
        return ocs_fail(a->err, OCS_ERR_INVALID, "the node has %zu outputs, the body yields %zu",
                        a->n_outputs, n_carried + n_scan);

    int64_t trip = INT64_MAX;
    if (a->inputs[0]) {
        if (a->inputs[0]->numel != 1)
            return ocs_fail(a->err, OCS_ERR_INVALID, "M must be a scalar");
        trip = ocs_tensor_get_i64(a->inputs[0], 0);
    }
    int cond = 1;
    if (a->inputs[1]) {
        if (a->inputs[1]->numel != 1)
            return ocs_fail(a->err, OCS_ERR_INVALID, "cond must be a scalar");
        cond = ocs_tensor_get_f64(a->inputs[1], 0) != 0.0;
    }

    /* carried[i] is owned once an iteration has produced it */
    const ocs_tensor **carried = calloc(n_carried + 1, sizeof *carried);
    int *owned = calloc(n_carried + 1, sizeof *owned);
    const ocs_tensor **in = calloc(n_carried + 2, sizeof *in);
    ocs_tensor **out = calloc(body->n_outputs + 1, sizeof *out);
    ocs_tensor ***scans = calloc(n_scan + 1, sizeof *scans);
    size_t iters = 0, cap = 0;
    ocs_tensor *iter_t = NULL, *cond_t = NULL;
    if (!carried || !owned || !in || !out || !scans) {
        st = ocs_fail(a->err, OCS_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n_carried; i++) {
        carried[i] = a->inputs[2 + i];
        if (!carried[i]) {
            st = ocs_fail(a->err, OCS_ERR_UNSUPPORTED, "loop-carried value %zu is absent", i);
            goto done;
        }
    }
    st = ocs_tensor_new(OCS_INT64, 0, NULL, &iter_t, a->err);
    if (st == OCS_OK)
        st = ocs_tensor_new(OCS_BOOL, 0, NULL, &cond_t, a->err);

    for (int64_t it = 0; st == OCS_OK && it < trip && cond; it++) {
        ((int64_t *)iter_t->data)[0] = it;
        ((uint8_t *)cond_t->data)[0] = 1;
        in[0] = iter_t;
        in[1] = cond_t;
        for (size_t i = 0; i < n_carried; i++)
            in[2 + i] = carried[i];
        st = ocs_exec_subgraph(a, body, n_carried + 2, in, body->n_outputs, out);
        if (st != OCS_OK)
            break;
        if (a->inputs[1]) {
            if (out[0]->numel != 1) {
                st = ocs_fail(a->err, OCS_ERR_INVALID, "the body's condition output is not a scalar");
                break;
            }
            cond = ocs_tensor_get_f64(out[0], 0) != 0.0;
        }
        ocs_tensor_free(out[0]);
        out[0] = NULL;
        for (size_t i = 0; i < n_carried; i++) {
            if (owned[i])
                ocs_tensor_free((ocs_tensor *)carried[i]);
            carried[i] = out[1 + i];
            owned[i] = 1;
            out[1 + i] = NULL;
        }
        if (iters == cap) {
            cap = cap ? cap * 2 : 16;
            for (size_t k = 0; k < n_scan; k++) {
                ocs_tensor **grown = realloc(scans[k], cap * sizeof *grown);
                if (!grown) {
                    st = ocs_fail(a->err, OCS_ERR_NOMEM, "out of memory");
                    break;
                }
                scans[k] = grown;
            }
            if (st != OCS_OK)
                break;
        }
        for (size_t k = 0; k < n_scan; k++) {
            scans[k][iters] = out[1 + n_carried + k];
            out[1 + n_carried + k] = NULL;
        }
        iters++;
    }

    for (size_t i = 0; st == OCS_OK && i < n_carried && i < a->n_outputs; i++) {
        if (owned[i]) {
            a->outputs[i] = (ocs_tensor *)carried[i];
            owned[i] = 0;
        } else {
            st = ocs_tensor_clone(carried[i], &a->outputs[i], a->err);
        }
    }
    for (size_t k = 0; st == OCS_OK && k < n_scan && n_carried + k < a->n_outputs; k++) {
        ocs_tensor *t = NULL;
        st = stack(a, n_carried + k, scans[k], iters, &body->outputs[1 + n_carried + k].type, &t);
    }
done:
    for (size_t i = 0; carried && owned && i < n_carried; i++)
        if (owned[i])
            ocs_tensor_free((ocs_tensor *)carried[i]);
    for (size_t i = 0; out && i < body->n_outputs; i++)
        ocs_tensor_free(out[i]);
    for (size_t k = 0; scans && k < n_scan; k++) {
        for (size_t i = 0; scans[k] && i < iters; i++)
            ocs_tensor_free(scans[k][i]);
        free(scans[k]);
    }
    ocs_tensor_free(iter_t);
    ocs_tensor_free(cond_t);
    free(scans);
    free(out);
    free(in);
    free(owned);
    free(carried);
    return st;
}
