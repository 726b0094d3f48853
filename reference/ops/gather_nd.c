/*
 * reference/ops/gather_nd.c - GatherND (versions 11, 12, 13).
 *
 * data has rank r >= 1, indices rank q >= 1, and the last dimension of
 * indices, k, is the length of each index tuple.  The first b = batch_dims
 * dimensions (version 12 on; 0 before) are batch dimensions shared by data
 * and indices.  Each k-tuple selects the slice data[batch, i_1..i_k, :], so
 *     output shape = indices.shape[:q-1] ++ data.shape[b+k:]
 * Index values lie in [-s, s-1] along their axis of size s; anything else is
 * an error.
 */
#include "movement.h"

ocs_status ocs_ref_GatherND(ocs_kernel_args *a)
{
    ocs_status s = ocs_need_inputs(a, 2, 2);
    if (s != OCS_OK)
        return s;
    const ocs_tensor *data = a->inputs[0];
    const ocs_tensor *ind = a->inputs[1];
    if ((s = ocs_mv_check_dtype(a, data, "data")) != OCS_OK ||
        (s = ocs_mv_check_index_dtype(a, ind, "indices")) != OCS_OK)
        return s;
    int r = data->rank, q = ind->rank;
    if (r < 1 || q < 1)
        return ocs_fail(a->err, OCS_ERR_INVALID, "GatherND: data and indices need rank >= 1, got %d and %d", r, q);

    int64_t b = 0;
    if (a->since_version >= 12) {
        if ((s = ocs_node_attr_int(a->node, "batch_dims", 0, &b, a->err)) != OCS_OK)
            return s;
    } else if (ocs_node_attr(a->node, "batch_dims")) {
        return ocs_fail(a->err, OCS_ERR_INVALID, "GatherND-11 has no attribute 'batch_dims' (added in version 12)");
    }
    if (b < 0 || b >= r || b >= q)
        return ocs_fail(a->err, OCS_ERR_INVALID,
                        "GatherND: batch_dims %lld must be in [0, min(rank(data), rank(indices))) = [0, %d)",
                        (long long)b, r < q ? r : q);
    int nb = (int)b;
    for (int i = 0; i < nb; i++)
        if (data->dims[i] != ind->dims[i])
            return ocs_fail(a->err, OCS_ERR_INVALID,
                            "GatherND: batch dimension %d differs: data has %lld, indices %lld",
                            i, (long long)data->dims[i], (long long)ind->dims[i]);
    int64_t k = ind->dims[q - 1];
    if (k < 1 || k > r - nb)
        return ocs_fail(a->err, OCS_ERR_INVALID,
                        "GatherND: the last dimension of indices is %lld; it must be in [1, rank(data) - batch_dims] = [1, %d]",
                        (long long)k, r - nb);
    int nk = (int)k;

    int out_rank = (q - 1) + (r - nb - nk);
    if (out_rank > OCS_MAX_RANK)
        return ocs_fail(a->err, OCS_ERR_UNSUPPORTED, "GatherND: output rank %d exceeds %d", out_rank, OCS_MAX_RANK);
    int64_t dims[OCS_MAX_RANK];
    int o = 0;
    for (int i = 0; i < q - 1; i++)
        dims[o++] = ind->dims[i];
    for (int i = nb + nk; i < r; i++)
        dims[o++] = data->dims[i];

    ocs_tensor *out = NULL;
    if ((s = ocs_output(a, 0, data->dtype, out_rank, dims, &out)) != OCS_OK)
        return s;

    size_t batches, per_batch, slice, data_batch;
    if ((s = ocs_mv_span(a, data->dims, 0, nb, &batches)) != OCS_OK ||
        (s = ocs_mv_span(a, ind->dims, nb, q - 1, &per_batch)) != OCS_OK ||
        (s = ocs_mv_span(a, data->dims, nb + nk, r, &slice)) != OCS_OK ||
        (s = ocs_mv_span(a, data->dims, nb, r, &data_batch)) != OCS_OK)
        return s;
    int64_t strides[OCS_MAX_RANK];
    ocs_strides(r, data->dims, strides);

    for (size_t bi = 0; bi < batches; bi++) {
        for (size_t n = 0; n < per_batch; n++) {
            size_t tuple = (bi * per_batch + n) * (size_t)nk;
            size_t src = bi * data_batch;
            for (int j = 0; j < nk; j++) {
                int64_t v;
                if ((s = ocs_mv_index(a, ind, tuple + (size_t)j, data->dims[nb + j], 1, "indices", &v)) != OCS_OK)
                    return s;
                src += (size_t)(v * strides[nb + j]);
            }
            if ((s = ocs_mv_copy(a, out, (bi * per_batch + n) * slice, data, src, slice)) != OCS_OK)
                return s;
        }
    }
    return OCS_OK;
}
