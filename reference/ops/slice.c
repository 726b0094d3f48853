/*
 * reference/ops/slice.c - Slice (versions 1, 10, 11, 13).
 *
 * Version 1 takes starts, ends and axes as attributes (step 1); version 10
 * on takes starts, ends and the optional axes and steps as int32/int64
 * inputs.  For each listed axis of size d (axes default to 0..n-1, steps to
 * 1, a step may not be 0 and an axis may not repeat):
 *   negative starts/ends have d added; then for step > 0 start and end are
 *   clamped to [0, d], for step < 0 start to [0, d-1] and end to [-1, d-1];
 *   the axis keeps start, start+step, ... while before end.
 * Axes not listed are kept whole.
 */
#include "movement.h"

#include <stdlib.h>

static int64_t clamp(int64_t v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

ocs_status ocs_ref_Slice(ocs_kernel_args *a)
{
    ocs_status s;
    const ocs_tensor *x;
    int64_t *buf[4] = {NULL, NULL, NULL, NULL};
    const int64_t *starts = NULL, *ends = NULL, *axes = NULL, *steps = NULL;
    size_t n_starts = 0, n_ends = 0, n_axes = 0, n_steps = 0;
    int has_axes = 0, has_steps = 0;

    if (a->since_version < 10) {
        if ((s = ocs_need_inputs(a, 1, 1)) != OCS_OK)
            return s;
        int p_starts = 0, p_ends = 0;
        if ((s = ocs_node_attr_ints(a->node, "starts", &starts, &n_starts, &p_starts, a->err)) != OCS_OK ||
            (s = ocs_node_attr_ints(a->node, "ends", &ends, &n_ends, &p_ends, a->err)) != OCS_OK ||
            (s = ocs_node_attr_ints(a->node, "axes", &axes, &n_axes, &has_axes, a->err)) != OCS_OK)
            return s;
        if (!p_starts || !p_ends)
            return ocs_fail(a->err, OCS_ERR_INVALID, "Slice-1 requires attributes 'starts' and 'ends'");
    } else {
        if ((s = ocs_need_inputs(a, 3, 5)) != OCS_OK)
            return s;
        static const char *const names[4] = {"Slice input 1 (starts)", "Slice input 2 (ends)",
                                             "Slice input 3 (axes)", "Slice input 4 (steps)"};
        size_t counts[4] = {0, 0, 0, 0};
        for (int i = 0; i < 4; i++) {
            const ocs_tensor *t = ocs_input(a, (size_t)i + 1);
            if (!t)
                continue;
            if ((s = ocs_read_ints(a, t, names[i], &buf[i], &counts[i])) != OCS_OK)
                goto done;
        }
        starts = buf[0], n_starts = counts[0];
        ends = buf[1], n_ends = counts[1];
        axes = buf[2], n_axes = counts[2], has_axes = ocs_input(a, 3) != NULL;
        steps = buf[3], n_steps = counts[3], has_steps = ocs_input(a, 4) != NULL;
    }
    x = a->inputs[0];
    if ((s = ocs_mv_check_dtype(a, x, "data")) != OCS_OK)
        goto done;
    int r = x->rank;
    size_t n = n_starts;
    if (n_ends != n || (has_axes && n_axes != n) || (has_steps && n_steps != n)) {
        s = ocs_fail(a->err, OCS_ERR_INVALID, "Slice: starts, ends, axes and steps must have the same length (%zu, %zu, %zu, %zu)",
                     n_starts, n_ends, has_axes ? n_axes : n, has_steps ? n_steps : n);
        goto done;
    }
    if (n > (size_t)r) {
        s = ocs_fail(a->err, OCS_ERR_INVALID, "Slice: %zu axes given for an input of rank %d", n, r);
        goto done;
    }

    int64_t first[OCS_MAX_RANK], step[OCS_MAX_RANK], dims[OCS_MAX_RANK];
    int seen[OCS_MAX_RANK] = {0};
    for (int d = 0; d < r; d++) {
        first[d] = 0;
        step[d] = 1;
        dims[d] = x->dims[d];
    }
    for (size_t i = 0; i < n; i++) {
        int ax;
        if ((s = ocs_axis(a, has_axes ? axes[i] : (int64_t)i, r, "Slice axis", &ax)) != OCS_OK)
            goto done;
        if (seen[ax]) {
            s = ocs_fail(a->err, OCS_ERR_INVALID, "Slice: axis %d is listed more than once", ax);
            goto done;
        }
        seen[ax] = 1;
        int64_t st = has_steps ? steps[i] : 1;
        if (st == 0) {
            s = ocs_fail(a->err, OCS_ERR_INVALID, "Slice: steps[%zu] is 0", i);
            goto done;
        }
        int64_t d = x->dims[ax];
        int64_t b = starts[i], e = ends[i];
        if (b < 0)
            b += d;
        if (e < 0)
            e += d;
        int64_t count;
        if (st > 0) {
            b = clamp(b, 0, d);
            e = clamp(e, 0, d);
            count = e > b ? (e - b - 1) / st + 1 : 0;
        } else {
            b = clamp(b, 0, d - 1);
            e = clamp(e, -1, d - 1);
            /* -st cannot overflow: count only matters when b > e, and a step of
             * INT64_MIN then still selects the single element b. */
            count = b > e ? (st == INT64_MIN ? 1 : (b - e - 1) / (-st) + 1) : 0;
        }
        first[ax] = b;
        step[ax] = st;
        dims[ax] = count;
    }

    ocs_tensor *out = NULL;
    if ((s = ocs_output(a, 0, x->dtype, r, dims, &out)) != OCS_OK)
        goto done;
    int64_t strides[OCS_MAX_RANK];
    ocs_strides(r, x->dims, strides);
    int64_t idx[OCS_MAX_RANK] = {0};
    for (size_t o = 0; o < out->numel; o++) {
        int64_t src = 0;
        for (int d = 0; d < r; d++)
            src += (first[d] + idx[d] * step[d]) * strides[d];
        if ((s = ocs_mv_copy(a, out, o, x, (size_t)src, 1)) != OCS_OK)
            goto done;
        ocs_index_next(r, dims, idx);
    }
    s = OCS_OK;
done:
    for (int i = 0; i < 4; i++)
        free(buf[i]);
    return s;
}
