/*
 * reference/ops/transpose.c - Transpose (versions 1, 13, 21, 23, 24, 25).
 *
 * output.shape[i] = input.shape[perm[i]] and
 * output[j_0, .., j_{r-1}] = input[k] with k[perm[i]] = j_i.
 * perm must be a permutation of [0, r); it defaults to the reverse order.
 */
#include "movement.h"

ocs_status ocs_ref_Transpose(ocs_kernel_args *a)
{
    ocs_status s = ocs_need_inputs(a, 1, 1);
    if (s != OCS_OK)
        return s;
    const ocs_tensor *x = a->inputs[0];
    if ((s = ocs_mv_check_dtype(a, x, "data")) != OCS_OK)
        return s;
    int r = x->rank;

    const int64_t *pv = NULL;
    size_t pn = 0;
    int present = 0;
    if ((s = ocs_node_attr_ints(a->node, "perm", &pv, &pn, &present, a->err)) != OCS_OK)
        return s;
    int perm[OCS_MAX_RANK];
    if (present) {
        if (pn != (size_t)r)
            return ocs_fail(a->err, OCS_ERR_INVALID, "Transpose: attribute 'perm' has %zu entries but the input has rank %d",
                            pn, r);
        int seen[OCS_MAX_RANK] = {0};
        for (int i = 0; i < r; i++) {
            if (pv[i] < 0 || pv[i] >= r || seen[pv[i]])
                return ocs_fail(a->err, OCS_ERR_INVALID,
                                "Transpose: attribute 'perm' is not a permutation of [0, %d): entry %d is %lld",
                                r, i, (long long)pv[i]);
            seen[pv[i]] = 1;
            perm[i] = (int)pv[i];
        }
    } else {
        for (int i = 0; i < r; i++)
            perm[i] = r - 1 - i;
    }

    int64_t dims[OCS_MAX_RANK], in_strides[OCS_MAX_RANK];
    for (int i = 0; i < r; i++)
        dims[i] = x->dims[perm[i]];
    ocs_strides(r, x->dims, in_strides);

    ocs_tensor *out = NULL;
    if ((s = ocs_output(a, 0, x->dtype, r, dims, &out)) != OCS_OK)
        return s;
    int64_t idx[OCS_MAX_RANK] = {0};
    for (size_t o = 0; o < out->numel; o++) {
        int64_t src = 0;
        for (int i = 0; i < r; i++)
            src += idx[i] * in_strides[perm[i]];
        if ((s = ocs_mv_copy(a, out, o, x, (size_t)src, 1)) != OCS_OK)
            return s;
        ocs_index_next(r, dims, idx);
    }
    return OCS_OK;
}
