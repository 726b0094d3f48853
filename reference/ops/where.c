/*
 * reference/ops/where.c - Where: Y = condition ? X : Y, elementwise, with
 * the three inputs broadcast together (numpy.where).
 *
 * condition is bool; X and Y share any type from the list (strings and
 * bool included).  Types: every numeric type but bfloat16, bool, string
 * (9); plus bfloat16 (16).  ONNX also lists complex types, which OCS does
 * not represent.
 */
#include "elementwise.h"

ocs_status ocs_ref_Where(ocs_kernel_args *a)
{
    uint32_t types = OCS_EW_NUMERIC_NO_BF16 | OCS_EW_BOOL | OCS_EW_STRING;
    if (a->since_version >= 16)
        types |= OCS_EW_BFLOAT16;
    ocs_ew_iter it;
    ocs_tensor *out;
    ocs_status s = ocs_need_inputs(a, 3, 3);
    if (s == OCS_OK)
        s = ocs_ew_check_type(a, 0, a->inputs[0], OCS_EW_BOOL);
    if (s == OCS_OK)
        s = ocs_same_dtype(a, 1, 2);
    if (s == OCS_OK)
        s = ocs_ew_check_type(a, 1, a->inputs[1], types);
    if (s == OCS_OK)
        s = ocs_ew_iter_init(a, 3, a->inputs, &it);
    if (s == OCS_OK)
        s = ocs_output(a, 0, a->inputs[1]->dtype, it.rank, it.dims, &out);
    if (s != OCS_OK)
        return s;
    const ocs_tensor *cond = a->inputs[0], *x = a->inputs[1], *y = a->inputs[2];
    while (ocs_ew_iter_next(&it)) {
        if (ocs_ew_get_uint(cond, it.off[0]))
            s = ocs_ew_copy_element(a, out, it.pos, x, it.off[1]);
        else
            s = ocs_ew_copy_element(a, out, it.pos, y, it.off[2]);
        if (s != OCS_OK)
            return s;
    }
    return OCS_OK;
}
