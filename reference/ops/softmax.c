/*
 * reference/ops/softmax.c - Softmax: exp(x - max) / sum(exp(x - max)) over
 * each normalised group.  Versions 1 and 11 coerce the input to 2-D at
 * `axis` (default 1) and normalise each row of that matrix; version 13
 * normalises along the single axis `axis` (default -1).  The family's
 * shared walk is ocs_red_softmax in reduce.c.
 */
#include "reduce.h"

ocs_status ocs_ref_Softmax(ocs_kernel_args *a)
{
    return ocs_red_softmax(a, 0);
}
