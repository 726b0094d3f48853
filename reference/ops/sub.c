/*
 * reference/ops/sub.c - Sub: C = A - B, elementwise with broadcasting.
 *
 * Integers wrap around at their width.  Types by version: see
 * ocs_ew_arith_types.  Versions 1 and 6 broadcast only with the attribute
 * broadcast=1 (see ocs_ew_binary_operands).
 */
#include "elementwise.h"

static double sub_f(double x, double y) { return x - y; }
static int64_t sub_i(int64_t x, int64_t y) { return ocs_ew_wrap((uint64_t)x - (uint64_t)y); }
static uint64_t sub_u(uint64_t x, uint64_t y) { return x - y; }

ocs_status ocs_ref_Sub(ocs_kernel_args *a)
{
    static const ocs_ew_binary_fns sub = {sub_f, sub_i, sub_u};
    return ocs_ew_binary(a, ocs_ew_arith_types(a->since_version), &sub);
}
