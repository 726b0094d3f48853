/*
 * reference/ops/scatter_nd.c - ScatterND (versions 11, 13, 16, 18).
 *
 * output = copy of data; then for every index tuple idx of indices
 * (indices.shape[:-1], in row-major order):
 *     output[indices[idx]] = reduce(output[indices[idx]], updates[idx])
 * where each k-tuple (k = indices.shape[-1], 1 <= k <= rank(data)) selects an
 * element (k = r) or a slice data[i_1..i_k, :] (k < r), and
 *     updates.shape = indices.shape[:-1] ++ data.shape[k:]
 * reduction: none (replace; duplicates: the last write wins), add, mul
 * (version 16 on), max, min (version 18 on).  Index values lie in [-s, s-1]
 * along their axis of size s; anything else is an error.
 */
#include "movement.h"

ocs_status ocs_ref_ScatterND(ocs_kernel_args *a)
{
    ocs_status s = ocs_need_inputs(a, 3, 3);
    if (s != OCS_OK)
        return s;
    const ocs_tensor *data = a->inputs[0];
    const ocs_tensor *ind = a->inputs[1];
    const ocs_tensor *upd = a->inputs[2];
    if ((s = ocs_mv_check_dtype(a, data, "data")) != OCS_OK ||
        (s = ocs_mv_check_index_dtype(a, ind, "indices")) != OCS_OK)
        return s;
    if (upd->dtype != data->dtype)
        return ocs_fail(a->err, OCS_ERR_INVALID, "ScatterND: updates have type %s but data has %s",
                        ocs_dtype_name(upd->dtype), ocs_dtype_name(data->dtype));
    ocs_mv_reduction red;
    if ((s = ocs_mv_reduction_attr(a, &red)) != OCS_OK)
        return s;

    int r = data->rank, q = ind->rank;
    if (r < 1 || q < 1)
        return ocs_fail(a->err, OCS_ERR_INVALID, "ScatterND: data and indices need rank >= 1, got %d and %d", r, q);
    int64_t k = ind->dims[q - 1];
    if (k < 1 || k > r)
        return ocs_fail(a->err, OCS_ERR_INVALID,
                        "ScatterND: the last dimension of indices is %lld; it must be in [1, rank(data)] = [1, %d]",
                        (long long)k, r);
    int nk = (int)k;

    /* updates.shape must be indices.shape[:-1] ++ data.shape[k:]. */
    int want_rank = q - 1 + r - nk;
    int ok = upd->rank == want_rank;
    for (int i = 0; ok && i < q - 1; i++)
        ok = upd->dims[i] == ind->dims[i];
    for (int i = 0; ok && i < r - nk; i++)
        ok = upd->dims[q - 1 + i] == data->dims[nk + i];
    if (!ok) {
        char s1[128], s2[128], s3[128];
        return ocs_fail(a->err, OCS_ERR_INVALID,
                        "ScatterND: updates shape %s does not equal indices.shape[:-1] ++ data.shape[k:] (indices %s, data %s)",
                        ocs_shape_str(upd->rank, upd->dims, s1, sizeof s1),
                        ocs_shape_str(q, ind->dims, s2, sizeof s2), ocs_shape_str(r, data->dims, s3, sizeof s3));
    }

    if ((s = ocs_mv_output_copy(a, 0, data, data->rank, data->dims)) != OCS_OK)
        return s;
    ocs_tensor *out = a->outputs[0];

    size_t n_tuples, slice;
    if ((s = ocs_mv_span(a, ind->dims, 0, q - 1, &n_tuples)) != OCS_OK ||
        (s = ocs_mv_span(a, data->dims, nk, r, &slice)) != OCS_OK)
        return s;
    int64_t strides[OCS_MAX_RANK];
    ocs_strides(r, data->dims, strides);

    for (size_t n = 0; n < n_tuples; n++) {
        size_t dst = 0;
        for (int j = 0; j < nk; j++) {
            int64_t v;
            if ((s = ocs_mv_index(a, ind, n * (size_t)nk + (size_t)j, data->dims[j], 1, "indices", &v)) != OCS_OK)
                return s;
            dst += (size_t)(v * strides[j]);
        }
        for (size_t e = 0; e < slice; e++)
            if ((s = ocs_mv_combine(a, out, dst + e, upd, n * slice + e, red)) != OCS_OK)
                return s;
    }
    return OCS_OK;
}
