/*
 * reference/ops/sigmoid.c - Sigmoid: Y = 1 / (1 + e^-X), elementwise.
 *
 * For X < 0 the equal form e^X / (1 + e^X) avoids overflowing e^-X.
 * Types: float16, float, double; plus bfloat16 from version 13.
 */
#include <math.h>

#include "elementwise.h"

static double sigmoid_f(double x)
{
    if (x >= 0)
        return 1.0 / (1.0 + exp(-x));
    return exp(x) / (1.0 + exp(x));
}

ocs_status ocs_ref_Sigmoid(ocs_kernel_args *a)
{
    static const ocs_ew_unary_fns fns = {sigmoid_f, NULL, NULL};
    return ocs_ew_unary(a, ocs_ew_float_types(a->since_version, 13), &fns);
}
