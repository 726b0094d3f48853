/*
 * reference/ops/concat.c - Concat (versions 1, 4, 11, 13).
 *
 * Joins the inputs along `axis`: every input has the same type and rank (at
 * least 1) and the same dimensions except along axis, whose sizes add up.
 * Version 1 defaults axis to 1; version 4 on requires it; negative values
 * count from the back.  Inputs with size 0 along axis contribute nothing.
 */
#include "movement.h"

ocs_status ocs_ref_Concat(ocs_kernel_args *a)
{
    if (a->n_inputs < 1)
        return ocs_fail(a->err, OCS_ERR_INVALID, "Concat needs at least one input");
    ocs_status s = ocs_need_inputs(a, a->n_inputs, a->n_inputs);
    if (s != OCS_OK)
        return s;
    const ocs_tensor *first = a->inputs[0];
    if ((s = ocs_mv_check_dtype(a, first, "input 0")) != OCS_OK ||
        (s = ocs_same_dtype(a, 0, a->n_inputs - 1)) != OCS_OK)
        return s;
    int r = first->rank;
    if (r < 1)
        return ocs_fail(a->err, OCS_ERR_INVALID, "Concat: inputs must have rank >= 1, input 0 is a scalar");

    int64_t axis_attr = 1;
    if (a->since_version >= 4 && !ocs_node_attr(a->node, "axis"))
        return ocs_fail(a->err, OCS_ERR_INVALID, "Concat-%lld requires attribute 'axis'", (long long)a->since_version);
    int axis;
    if ((s = ocs_node_attr_int(a->node, "axis", 1, &axis_attr, a->err)) != OCS_OK ||
        (s = ocs_axis(a, axis_attr, r, "attribute 'axis'", &axis)) != OCS_OK)
        return s;

    int64_t dims[OCS_MAX_RANK];
    for (int d = 0; d < r; d++)
        dims[d] = first->dims[d];
    for (size_t k = 1; k < a->n_inputs; k++) {
        const ocs_tensor *t = a->inputs[k];
        int ok = t->rank == r;
        for (int d = 0; ok && d < r; d++)
            ok = d == axis || t->dims[d] == first->dims[d];
        if (!ok) {
            char s1[128], s2[128];
            return ocs_fail(a->err, OCS_ERR_INVALID,
                            "Concat: input %zu has shape %s, which does not match input 0's %s except along axis %d",
                            k, ocs_shape_str(t->rank, t->dims, s1, sizeof s1),
                            ocs_shape_str(r, first->dims, s2, sizeof s2), axis);
        }
        if (t->dims[axis] > INT64_MAX - dims[axis])
            return ocs_fail(a->err, OCS_ERR_NOMEM, "Concat: the size along axis %d overflows", axis);
        dims[axis] += t->dims[axis];
    }

    ocs_tensor *out = NULL;
    if ((s = ocs_output(a, 0, first->dtype, r, dims, &out)) != OCS_OK)
        return s;
    size_t outer, inner;
    if ((s = ocs_mv_span(a, dims, 0, axis, &outer)) != OCS_OK ||
        (s = ocs_mv_span(a, dims, axis + 1, r, &inner)) != OCS_OK)
        return s;
    size_t dst = 0;
    for (size_t o = 0; o < outer; o++) {
        for (size_t k = 0; k < a->n_inputs; k++) {
            const ocs_tensor *t = a->inputs[k];
            size_t run = (size_t)t->dims[axis] * inner;
            if ((s = ocs_mv_copy(a, out, dst, t, o * run, run)) != OCS_OK)
                return s;
            dst += run;
        }
    }
    return OCS_OK;
}
