/*
 * reference/ops/gelu.c - Gelu, the Gaussian error linear unit, elementwise:
 *
 *   approximate = "none" (default):  Y = X/2 * (1 + erf(X / sqrt(2)))
 *   approximate = "tanh":            Y = X/2 * (1 + tanh(sqrt(2/pi) * (X + 0.044715 X^3)))
 *
 * Types: float16, float, double, bfloat16.
 */
#include <math.h>
#include <string.h>

#include "elementwise.h"

static double gelu_erf(double x) { return 0.5 * x * (1.0 + erf(x / sqrt(2.0))); }

static double gelu_tanh(double x)
{
    double pi = acos(-1.0);
    return 0.5 * x * (1.0 + tanh(sqrt(2.0 / pi) * (x + 0.044715 * x * x * x)));
}

ocs_status ocs_ref_Gelu(ocs_kernel_args *a)
{
    static const ocs_ew_unary_fns exact = {gelu_erf, NULL, NULL};
    static const ocs_ew_unary_fns approx = {gelu_tanh, NULL, NULL};
    const char *approximate;
    ocs_status s = ocs_node_attr_string(a->node, "approximate", "none", &approximate, a->err);
    if (s != OCS_OK)
        return s;
    if (strcmp(approximate, "none") != 0 && strcmp(approximate, "tanh") != 0)
        return ocs_fail(a->err, OCS_ERR_INVALID,
                        "Gelu: attribute approximate is '%s'; it must be 'none' or 'tanh'",
                        approximate);
    const ocs_ew_unary_fns *fns = strcmp(approximate, "tanh") == 0 ? &approx : &exact;
    return ocs_ew_unary(a, ocs_ew_float_types(a->since_version, 20), fns);
}
