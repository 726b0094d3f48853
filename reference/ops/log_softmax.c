/*
 * reference/ops/log_softmax.c - LogSoftmax: (x - max) - log(sum(exp(x - max)))
 * over each normalised group, i.e. log(Softmax(x)) without forming the
 * quotient.  Versions 1 and 11 coerce the input to 2-D at `axis` (default 1);
 * version 13 uses the single axis `axis` (default -1).  The family's shared
 * walk is ocs_red_softmax in reduce.c.
 */
#include "reduce.h"

ocs_status ocs_ref_LogSoftmax(ocs_kernel_args *a)
{
    return ocs_red_softmax(a, 1);
}
