/*
 * reference/ops/hard_sigmoid.c - HardSigmoid: Y = max(0, min(1, alpha * X + beta)),
 * elementwise, with float attributes alpha (default 0.2) and beta (default 0.5).
 *
 * NaN stays NaN.  Version 1's consumed_inputs attribute has no effect.
 * Types: float16, float, double; plus bfloat16 from version 22.
 */
#include "elementwise.h"

ocs_status ocs_ref_HardSigmoid(ocs_kernel_args *a)
{
    float alpha, beta;
    const ocs_tensor *x;
    ocs_tensor *y;
    ocs_status s = ocs_node_attr_float(a->node, "alpha", 0.2f, &alpha, a->err);
    if (s == OCS_OK)
        s = ocs_node_attr_float(a->node, "beta", 0.5f, &beta, a->err);
    if (s == OCS_OK)
        s = ocs_ew_unary_prepare(a, ocs_ew_float_types(a->since_version, 22), &x, &y);
    if (s != OCS_OK)
        return s;
    for (size_t i = 0; i < x->numel; i++) {
        double v = (double)alpha * ocs_tensor_get_f64(x, i) + (double)beta;
        ocs_tensor_set_f64(y, i, ocs_ew_max_f64(0.0, ocs_ew_min_f64(1.0, v)));
    }
    return OCS_OK;
}
