/*
 * reference/ops/div.c - Div: C = A / B, elementwise with broadcasting.
 *
 * Floats follow IEEE 754 (x / 0 is +-Inf or NaN).  Integer division
 * truncates toward zero, as ONNX states and C does.  ONNX leaves integer
 * division by zero undefined; here x / 0 = 0.  The one quotient that does
 * not fit, INT64_MIN / -1 (and its narrower kin), wraps around to the
 * dividend.  Types by version: see ocs_ew_arith_types.  Versions 1 and 6
 * broadcast only with the attribute broadcast=1.
 */
#include "elementwise.h"

static double div_f(double x, double y) { return x / y; }

static int64_t div_i(int64_t x, int64_t y)
{
    if (y == 0)
        return 0;
    if (y == -1)
        return ocs_ew_wrap(0 - (uint64_t)x);
    return x / y;
}

static uint64_t div_u(uint64_t x, uint64_t y) { return y == 0 ? 0 : x / y; }

ocs_status ocs_ref_Div(ocs_kernel_args *a)
{
    static const ocs_ew_binary_fns divide = {div_f, div_i, div_u};
    return ocs_ew_binary(a, ocs_ew_arith_types(a->since_version), &divide);
}
