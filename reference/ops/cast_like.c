/*
 * reference/ops/cast_like.c - CastLike (versions 15, 19, 21, 23, 24, 25):
 * Cast to the element type of the second input.  saturate (19 on) and
 * round_mode (24 on) mean what they mean for Cast.
 */
#include "cast.h"

ocs_status ocs_ref_CastLike(ocs_kernel_args *a)
{
    ocs_status st = ocs_need_inputs(a, 2, 2);
    if (st != OCS_OK)
        return st;
    const ocs_tensor *x = a->inputs[0];
    ocs_dtype to = a->inputs[1]->dtype;

    int64_t saturate = 1;
    if (a->since_version >= 19) {
        st = ocs_node_attr_int(a->node, "saturate", 1, &saturate, a->err);
        if (st != OCS_OK)
            return st;
    }
    ocs_e8m0_round rmode;
    if ((st = ocs_cast_round_mode(a, &rmode)) != OCS_OK)
        return st;
    if ((st = ocs_cast_check_dtype(a, x->dtype, "input")) != OCS_OK ||
        (st = ocs_cast_check_dtype(a, to, "target_type")) != OCS_OK)
        return st;

    ocs_tensor *y;
    st = ocs_output(a, 0, to, x->rank, x->dims, &y);
    if (st != OCS_OK)
        return st;
    return ocs_cast_tensor(a, x, y, saturate != 0, rmode);
}
