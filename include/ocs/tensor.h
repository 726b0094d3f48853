/*
 * ocs/tensor.h - element types and the dense tensor every layer past the
 * loader works with.
 *
 * Element-type codes equal ONNX TensorProto.DataType, so converting to and
 * from the protobuf needs no table.  Storage in memory, one element after the
 * other in row-major order:
 *   float/double/intN/uintN     native C type
 *   float16, bfloat16           uint16_t holding the bit pattern
 *   float8 (all four), e8m0     uint8_t holding the bit pattern
 *   float4e2m1, int4, uint4,    one uint8_t/int8_t per element (unpacked; the
 *   int2, uint2                 loader unpacks and the writer packs)
 *   bool                        uint8_t, 0 or 1
 *   string                      ocs_string (owned bytes, explicit length)
 *
 * Ownership: an ocs_tensor owns its data (and, for strings, every string's
 * bytes).  ocs_tensor_free releases both.
 */
#ifndef OCS_TENSOR_H
#define OCS_TENSOR_H

#include <stdint.h>
#include <stddef.h>
#include "ocs/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ocs_dtype {
    OCS_UNDEFINED = 0,
    OCS_FLOAT = 1,
    OCS_UINT8 = 2,
    OCS_INT8 = 3,
    OCS_UINT16 = 4,
    OCS_INT16 = 5,
    OCS_INT32 = 6,
    OCS_INT64 = 7,
    OCS_STRING = 8,
    OCS_BOOL = 9,
    OCS_FLOAT16 = 10,
    OCS_DOUBLE = 11,
    OCS_UINT32 = 12,
    OCS_UINT64 = 13,
    OCS_COMPLEX64 = 14,
    OCS_COMPLEX128 = 15,
    OCS_BFLOAT16 = 16,
    OCS_FLOAT8E4M3FN = 17,
    OCS_FLOAT8E4M3FNUZ = 18,
    OCS_FLOAT8E5M2 = 19,
    OCS_FLOAT8E5M2FNUZ = 20,
    OCS_UINT4 = 21,
    OCS_INT4 = 22,
    OCS_FLOAT4E2M1 = 23,
    OCS_FLOAT8E8M0 = 24,
    OCS_UINT2 = 25,
    OCS_INT2 = 26,
    OCS_DTYPE_COUNT_ = 27
} ocs_dtype;

/* The longest shape OCS accepts; longer ones are rejected with an error. */
#define OCS_MAX_RANK 16

typedef struct ocs_string {
    char *data;   /* owned, NUL-terminated for convenience; may hold NULs */
    size_t len;
} ocs_string;

typedef struct ocs_tensor {
    ocs_dtype dtype;
    int rank;
    int64_t dims[OCS_MAX_RANK];
    size_t numel;   /* product of dims (1 for a scalar) */
    size_t nbytes;  /* numel * ocs_dtype_size(dtype) */
    void *data;     /* owned; never NULL once created, even when numel == 0 */
} ocs_tensor;

/* ---- element types ---------------------------------------------------- */

/* ONNX's upper-case name ("FLOAT16"), or "UNKNOWN" for codes OCS does not know. */
const char *ocs_dtype_name(ocs_dtype t);
/* Parses ONNX's name ("float16", "FLOAT16", "bfloat16" ...); OCS_UNDEFINED if none. */
ocs_dtype ocs_dtype_from_name(const char *name);
/* Bytes one element occupies in memory (see the table above); 0 if unsupported. */
size_t ocs_dtype_size(ocs_dtype t);
int ocs_dtype_is_float(ocs_dtype t);    /* any floating-point format */
int ocs_dtype_is_integer(ocs_dtype t);  /* signed or unsigned, any width */
int ocs_dtype_is_signed(ocs_dtype t);   /* signed integers and all floats */
int ocs_dtype_valid(ocs_dtype t);       /* known to OCS (everything but complex) */

/* ---- exact scalar conversions ---------------------------------------- */
/* All conversions to a narrower format round to nearest, ties to even, keep
 * NaN a NaN, and handle subnormals, signed zeros and infinities exactly.
 * Converting from double rounds once (no double rounding through float). */
float ocs_half_to_float(uint16_t h);
uint16_t ocs_float_to_half(float f);
uint16_t ocs_double_to_half(double d);
float ocs_bfloat16_to_float(uint16_t b);
uint16_t ocs_float_to_bfloat16(float f);
uint16_t ocs_double_to_bfloat16(double d);

/* Decodes any 8-bit or 4-bit float format's bit pattern to double. */
double ocs_minifloat_to_double(ocs_dtype t, unsigned bits);
/*
 * Encodes d into a float8/float4/e8m0 format, rounding to nearest even.
 * saturate != 0 clamps out-of-range values (and, for formats without
 * infinities, +-Inf) to the largest finite value, as Cast does by default;
 * saturate == 0 gives Inf where the format has it and NaN otherwise.
 * FLOAT4E2M1 has neither NaN nor Inf: it always saturates, and NaN encodes
 * as 0x8 (the -0 pattern), as ONNX's test data expects.  FLOAT8E8M0 (powers
 * of two only, no zero, sign ignored) rounds up, Cast's default round_mode;
 * Cast implements its other modes by snapping to a power of two first.
 */
unsigned ocs_double_to_minifloat(ocs_dtype t, double d, int saturate);

/* ---- tensors ------------------------------------------------------------- */

/* numel = product of dims, checked for negative dims and overflow of size_t. */
ocs_status ocs_shape_numel(int rank, const int64_t *dims, size_t *numel, ocs_err *err);

/*
 * Zeroed memory for nbytes of tensor data, released with free().  In
 * blocks of 4 MiB and more, the 2 MiB-aligned interior is marked for
 * transparent huge pages where the system has them (Linux madvise), so
 * that scattered reads into them, such as a paged KV cache read through
 * its block table, miss the TLB far less.  Every tensor's data comes from here, and so does
 * the buffer `ocs bench` measures memory bandwidth on, so that its ceiling
 * sees the same kind of pages as the operators.  NULL when out of memory.
 */
void *ocs_tensor_alloc_data(size_t nbytes);

/* New tensor of zeros (empty strings).  *out is owned by the caller. */
ocs_status ocs_tensor_new(ocs_dtype t, int rank, const int64_t *dims,
                          ocs_tensor **out, ocs_err *err);
/* Deep copy.  *out is owned by the caller. */
ocs_status ocs_tensor_clone(const ocs_tensor *src, ocs_tensor **out, ocs_err *err);
/* Frees the tensor and its data; NULL is allowed. */
void ocs_tensor_free(ocs_tensor *t);

/* Same dtype, shape and bytes (strings by content; NaNs by bit pattern). */
int ocs_tensor_equal(const ocs_tensor *a, const ocs_tensor *b);
/* "FLOAT16[2,3]" into buf; returns buf. */
char *ocs_tensor_describe(const ocs_tensor *t, char *buf, size_t len);
/* "[2,3,4]" into buf; returns buf. */
char *ocs_shape_str(int rank, const int64_t *dims, char *buf, size_t len);

/*
 * Element access by flat index, for reference kernels that favour clarity.
 * get_f64 decodes any numeric type exactly (64-bit integers beyond 2^53
 * round once);
 * get_i64 returns integers exactly (a UINT64 above INT64_MAX as the same
 * bits, so get/set round-trips) and truncates floats toward zero (NaN gives
 * 0, out-of-range values the clamped bound);
 * set_f64 rounds to the element type (nearest-even for floats; integers
 * truncate toward zero, then wrap to the type's width, and NaN or +-Inf
 * store 0; BOOL stores v != 0, so NaN is true, as Cast defines);
 * set_i64 stores integers wrapped to the type's width and floats rounded.
 * Strings are not numeric: these return 0 / do nothing for them.
 * A new FLOAT8E8M0 tensor holds the all-zero pattern, which is 2^-127.
 */
double ocs_tensor_get_f64(const ocs_tensor *t, size_t i);
int64_t ocs_tensor_get_i64(const ocs_tensor *t, size_t i);
void ocs_tensor_set_f64(ocs_tensor *t, size_t i, double v);
void ocs_tensor_set_i64(ocs_tensor *t, size_t i, int64_t v);

#ifdef __cplusplus
}
#endif
#endif /* OCS_TENSOR_H */
