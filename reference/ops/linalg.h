/*
 * reference/ops/linalg.h - routines shared by the matrix and
 * normalisation kernels (MatMul, Gemm, LayerNormalization, RMSNormalization,
 * RotaryEmbedding, Attention): type-constraint checks, exact 64-bit integer
 * element access and overflow-checked size products.  Internal to reference/.
 */
#ifndef OCS_REF_OPS_LINALG_H
#define OCS_REF_OPS_LINALG_H

#include "common.h"

/* The floating-point types most of these ops accept. */
#define OCS_LINALG_FLOATS OCS_FLOAT16, OCS_FLOAT, OCS_DOUBLE, OCS_BFLOAT16

/*
 * Fails with "<op>: <what> has type X; allowed: A, B, ..." unless t's dtype
 * is one of the n types in allowed.
 */
ocs_status ocs_linalg_check_type(const ocs_kernel_args *a, const ocs_tensor *t, const char *what,
                                 const ocs_dtype *allowed, size_t n);

/* 1 for int32, int64, uint32, uint64 (the integer types MatMul and Gemm allow). */
int ocs_linalg_is_int(ocs_dtype t);

/*
 * Integer element i of t as a 64-bit two's-complement pattern (signed types
 * sign-extend).  Products and sums of these patterns in uint64_t arithmetic,
 * truncated to the element width, equal the wrapped integer results.
 */
uint64_t ocs_linalg_get_bits(const ocs_tensor *t, size_t i);
/* Stores the low bits of v into integer element i of t (wraps to the width). */
void ocs_linalg_set_bits(ocs_tensor *t, size_t i, uint64_t v);

/* *out = x * y; fails with OCS_ERR_NOMEM naming what when size_t overflows. */
ocs_status ocs_linalg_mul_size(const ocs_kernel_args *a, size_t x, size_t y, const char *what,
                               size_t *out);

#endif /* OCS_REF_OPS_LINALG_H */
