/*
 * reference/ops/cast.h - the element conversion behind Cast and CastLike.
 * Internal to reference/ops.
 */
#ifndef OCS_REF_OPS_CAST_H
#define OCS_REF_OPS_CAST_H

#include "common.h"

/* Rounding of values cast to float8e8m0 (Cast-24 round_mode). */
typedef enum ocs_e8m0_round {
    OCS_E8M0_UP = 0,       /* towards the larger power of two ("up", the default) */
    OCS_E8M0_DOWN = 1,     /* towards the smaller power of two */
    OCS_E8M0_NEAREST = 2   /* nearer power of two by value, ties up */
} ocs_e8m0_round;

/* Reads the round_mode attribute ("up", "down", "nearest"; default "up"). */
ocs_status ocs_cast_round_mode(const ocs_kernel_args *a, ocs_e8m0_round *out);

/*
 * Fails unless dtype t may appear as input or output of Cast/CastLike at
 * schema version v.  what names the tensor in the message.
 */
ocs_status ocs_cast_check_dtype(const ocs_kernel_args *a, ocs_dtype t, const char *what);

/*
 * Converts every element of in into out (same element count, out already
 * allocated with the target dtype), with ONNX Cast semantics.  saturate
 * applies to the float8 targets and float8e8m0; rmode to float8e8m0 only.
 */
ocs_status ocs_cast_tensor(const ocs_kernel_args *a, const ocs_tensor *in, ocs_tensor *out,
                           int saturate, ocs_e8m0_round rmode);

#endif /* OCS_REF_OPS_CAST_H */
