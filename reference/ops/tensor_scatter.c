/*
 * reference/ops/tensor_scatter.c - TensorScatter (version 24).
 *
 * A functional KV-cache update.  past_cache and update have the same shape
 * except along `axis` (the sequence axis, never 0, the batch axis), where the
 * cache has max_sequence_length and update has sequence_length <= that.
 * present_cache = copy of past_cache; then for every prefix index p over
 * the dimensions before axis (batch = p[0]) and s in [0, sequence_length):
 *     present_cache[p, pos, ...] = update[p, s, ...]
 *     pos = write_indices[batch] + s                            mode "linear"
 *     pos = (write_indices[batch] + s) mod max_sequence_length  mode "circular"
 * write_indices (int64, shape [batch]) defaults to zeros.  In linear mode
 * write_indices[b] + sequence_length must not exceed max_sequence_length and
 * write_indices[b] must not be negative; that is an error otherwise.
 */
#include "movement.h"

#include <string.h>

ocs_status ocs_ref_TensorScatter(ocs_kernel_args *a)
{
    ocs_status s = ocs_need_inputs(a, 2, 3);
    if (s != OCS_OK)
        return s;
    const ocs_tensor *past = a->inputs[0];
    const ocs_tensor *upd = a->inputs[1];
    const ocs_tensor *wi = ocs_input(a, 2);
    if ((s = ocs_mv_check_dtype(a, past, "past_cache")) != OCS_OK)
        return s;
    if (upd->dtype != past->dtype)
        return ocs_fail(a->err, OCS_ERR_INVALID, "TensorScatter: update has type %s but past_cache has %s",
                        ocs_dtype_name(upd->dtype), ocs_dtype_name(past->dtype));

    const char *mode = NULL;
    int64_t axis_attr = -2;
    int axis;
    if ((s = ocs_node_attr_string(a->node, "mode", "linear", &mode, a->err)) != OCS_OK ||
        (s = ocs_node_attr_int(a->node, "axis", -2, &axis_attr, a->err)) != OCS_OK)
        return s;
    int circular = strcmp(mode, "circular") == 0;
    if (!circular && strcmp(mode, "linear") != 0)
        return ocs_fail(a->err, OCS_ERR_INVALID, "TensorScatter: attribute 'mode' is '%s'; expected linear or circular", mode);
    if (past->rank < 2)
        return ocs_fail(a->err, OCS_ERR_INVALID, "TensorScatter: past_cache must have rank >= 2, got %d", past->rank);
    if ((s = ocs_axis(a, axis_attr, past->rank, "attribute 'axis'", &axis)) != OCS_OK)
        return s;
    if (axis == 0)
        return ocs_fail(a->err, OCS_ERR_INVALID, "TensorScatter: attribute 'axis' (%lld) must not be the batch axis 0",
                        (long long)axis_attr);

    int ok = upd->rank == past->rank;
    for (int d = 0; ok && d < past->rank; d++)
        ok = d == axis ? upd->dims[d] <= past->dims[d] : upd->dims[d] == past->dims[d];
    if (!ok) {
        char s1[128], s2[128];
        return ocs_fail(a->err, OCS_ERR_INVALID,
                        "TensorScatter: update shape %s must equal past_cache shape %s except along axis %d, where it may not be larger",
                        ocs_shape_str(upd->rank, upd->dims, s1, sizeof s1),
                        ocs_shape_str(past->rank, past->dims, s2, sizeof s2), axis);
    }
    int64_t batch = past->dims[0];
    if (wi) {
        if (wi->dtype != OCS_INT64 && wi->dtype != OCS_INT32)
            return ocs_fail(a->err, OCS_ERR_INVALID, "TensorScatter: write_indices must be int64, got %s",
                            ocs_dtype_name(wi->dtype));
        if (wi->rank != 1 || wi->dims[0] != batch)
            return ocs_fail(a->err, OCS_ERR_INVALID, "TensorScatter: write_indices must have shape [%lld] (the batch size)",
                            (long long)batch);
    }

    int64_t max_seq = past->dims[axis];
    int64_t seq = upd->dims[axis];
    if (!circular && wi) {
        for (int64_t b = 0; b < batch; b++) {
            int64_t w = ocs_tensor_get_i64(wi, (size_t)b);
            if (w < 0 || w > max_seq - seq)
                return ocs_fail(a->err, OCS_ERR_RUNTIME,
                                "TensorScatter: write_indices[%lld] = %lld; linear mode needs 0 <= index and index + %lld (sequence_length) <= %lld (max_sequence_length)",
                                (long long)b, (long long)w, (long long)seq, (long long)max_seq);
        }
    }

    if ((s = ocs_mv_output_copy(a, 0, past, past->rank, past->dims)) != OCS_OK)
        return s;
    ocs_tensor *out = a->outputs[0];

    /* prefix = dims before axis, inner = elements of one sequence position. */
    size_t prefix, per_batch, inner;
    if ((s = ocs_mv_span(a, past->dims, 0, axis, &prefix)) != OCS_OK ||
        (s = ocs_mv_span(a, past->dims, 1, axis, &per_batch)) != OCS_OK ||
        (s = ocs_mv_span(a, past->dims, axis + 1, past->rank, &inner)) != OCS_OK)
        return s;
    for (size_t p = 0; p < prefix; p++) {
        size_t b = per_batch ? p / per_batch : 0;
        int64_t w = wi ? ocs_tensor_get_i64(wi, b) : 0;
        if (circular && max_seq > 0) {
            w %= max_seq;
            if (w < 0)
                w += max_seq;
        }
        for (int64_t j = 0; j < seq; j++) {
            int64_t pos = circular ? (w + j) % max_seq : w + j;
            size_t dst = (p * (size_t)max_seq + (size_t)pos) * inner;
            size_t src = (p * (size_t)seq + (size_t)j) * inner;
            if ((s = ocs_mv_copy(a, out, dst, upd, src, inner)) != OCS_OK)
                return s;
        }
    }
    return OCS_OK;
}
