/*
 * reference/ops/identity.c - Identity (versions 1, 13, 14, 16, 19, 21, 23, 24, 25).
 *
 * Outputs a copy of the input: a tensor of any element type (strings
 * included), from version 14 also a sequence, and from version 16 also an
 * optional (copied as it is, empty or not).
 */
#include "movement.h"

ocs_status ocs_ref_Identity(ocs_kernel_args *a)
{
    if (a->n_inputs != 1)
        return ocs_fail(a->err, OCS_ERR_INVALID, "Identity takes one input, the node has %zu", a->n_inputs);
    const ocs_tensor *x = a->inputs[0];
    ocs_status s;
    if (x) {
        if ((s = ocs_mv_check_dtype(a, x, "input")) != OCS_OK)
            return s;
        return ocs_mv_output_copy(a, 0, x, x->rank, x->dims);
    }
    const ocs_value *v = a->values ? a->values[0] : NULL;
    if (!v)
        return ocs_fail(a->err, OCS_ERR_INVALID, "Identity requires input 0, which is missing");
    if (a->n_outputs < 1 || !a->out_values)
        return ocs_fail(a->err, OCS_ERR_INVALID, "Identity has no output to write");
    if (v->kind == OCS_VALUE_SEQUENCE && a->since_version < 14)
        return ocs_fail(a->err, OCS_ERR_INVALID, "Identity-%lld takes tensors only; sequences need version 14",
                        (long long)a->since_version);
    if (v->kind == OCS_VALUE_OPTIONAL && a->since_version < 16)
        return ocs_fail(a->err, OCS_ERR_INVALID, "Identity-%lld takes no optionals; they need version 16",
                        (long long)a->since_version);
    if (v->kind != OCS_VALUE_SEQUENCE && v->kind != OCS_VALUE_OPTIONAL && v->kind != OCS_VALUE_TENSOR)
        return ocs_fail(a->err, OCS_ERR_INVALID, "Identity: input 0 is neither a tensor, a sequence nor an optional");
    ocs_value *copy = NULL;
    if ((s = ocs_value_clone(v, &copy, a->err)) != OCS_OK)
        return s;
    ocs_value_free(a->out_values[0]);
    a->out_values[0] = copy;
    return OCS_OK;
}
