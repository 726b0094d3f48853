/*
 * conformance/cases/scatter_nd.c - ScatterND: index depth 1, 2 and the
 * full rank (element updates), scattering into a KV-cache-like tensor,
 * every reduction (none, add, mul, max, min; duplicates only where the
 * reduction makes them well defined), and the opset 11/16/18 schemas.
 */
#include "cases.h"

static ocs_case *add(ocs_case_list *l, int64_t opset, const char *tag, ocs_dtype t, int rank, const int64_t *dims,
                     int irank, const int64_t *idims, const int64_t *indices, int urank, const int64_t *udims,
                     const char *reduction)
{
    ocs_case *c = ocs_case_add(l, "", "ScatterND", opset, "scatternd_%s%s%s_%s", tag, reduction ? "_" : "",
                               reduction ? reduction : "", ocs_cases_type_tag(t));
    double lo = ocs_dtype_is_float(t) ? -1 : -20, hi = ocs_dtype_is_float(t) ? 1 : 20;
    ocs_case_input_uniform(c, "data", t, rank, dims, lo, hi);
    ocs_case_input_ints(c, "indices", OCS_INT64, irank, idims, indices);
    ocs_case_input_uniform(c, "updates", t, urank, udims, lo, hi);
    ocs_case_output(c, "output", t);
    if (reduction)
        ocs_case_attr_string(c, "reduction", reduction);
    return c;
}

void ocs_cases_scatter_nd(ocs_case_list *l)
{
    const int64_t *d456 = OCS_DIMS(4, 5, 6);
    static const int64_t rows[] = {3, 0, 2};
    add(l, 18, "depth1_4x5x6", OCS_FLOAT, 3, d456, 2, OCS_DIMS(3, 1), rows, 3, OCS_DIMS(3, 5, 6), NULL);
    static const int64_t pairs[] = {0, 4, 3, 1, 2, 2, 3, 4};
    add(l, 18, "depth2_4x5x6", OCS_FLOAT, 3, d456, 2, OCS_DIMS(4, 2), pairs, 2, OCS_DIMS(4, 6), NULL);
    static const int64_t elems[] = {0, 0, 0, 3, 4, 5, 1, 2, 3, 2, 0, 5, 3, 4, 0};
    add(l, 18, "depth3_4x5x6", OCS_FLOAT, 3, d456, 2, OCS_DIMS(5, 3), elems, 1, OCS_DIMS(5), NULL);
    /* indices [2, 2, 1]: a batch of index tuples */
    static const int64_t batch[] = {1, 3, 0, 2};
    add(l, 18, "batched_idx_4x5x6", OCS_FLOAT, 3, d456, 3, OCS_DIMS(2, 2, 1), batch, 4, OCS_DIMS(2, 2, 5, 6),
        NULL);
    /* a KV cache [layers=1, heads=2, seq=8, dim=4] with two positions written per head */
    static const int64_t kv[] = {0, 0, 5, 0, 0, 6, 0, 1, 5, 0, 1, 6};
    add(l, 18, "kv_cache_1x2x8x4", OCS_FLOAT, 4, OCS_DIMS(1, 2, 8, 4), 3, OCS_DIMS(2, 2, 3), kv, 3,
        OCS_DIMS(2, 2, 4), NULL);
    add(l, 18, "depth1_4x5x6", OCS_FLOAT16, 3, d456, 2, OCS_DIMS(3, 1), rows, 3, OCS_DIMS(3, 5, 6), NULL);
    add(l, 18, "depth2_4x5x6", OCS_INT64, 3, d456, 2, OCS_DIMS(4, 2), pairs, 2, OCS_DIMS(4, 6), NULL);
    /* reductions, with a repeated index */
    static const int64_t dup[] = {1, 3, 1, 0};
    static const char *const reds[] = {"add", "mul", "max", "min"};
    for (size_t r = 0; r < 4; r++) {
        add(l, 18, "dup_4x5x6", OCS_FLOAT, 3, d456, 2, OCS_DIMS(4, 1), dup, 3, OCS_DIMS(4, 5, 6), reds[r]);
        add(l, 18, "dup_4x5x6", OCS_INT32, 3, d456, 2, OCS_DIMS(4, 1), dup, 3, OCS_DIMS(4, 5, 6), reds[r]);
    }
    add(l, 16, "opset16_dup_4x5x6", OCS_FLOAT, 3, d456, 2, OCS_DIMS(4, 1), dup, 3, OCS_DIMS(4, 5, 6), "add");
    add(l, 11, "opset11_depth1_4x5x6", OCS_FLOAT, 3, d456, 2, OCS_DIMS(3, 1), rows, 3, OCS_DIMS(3, 5, 6), NULL);
}
