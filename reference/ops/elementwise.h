/*
 * reference/ops/elementwise.h - the machinery shared by the elementwise
 * reference kernels (Add, Less, Max, Where, Sqrt ...): sets of element types,
 * exact per-element access, ONNX broadcasting loops and the engines that
 * apply a per-element formula to every element.  Internal to reference/ops.
 *
 * Every numeric element type is computed in one of three C domains:
 *   float16, bfloat16, float, double   in double; the result is rounded once
 *                                      to the output type (nearest-even)
 *   int8, int16, int32, int64          in int64_t
 *   uint8 ... uint64, bool             in uint64_t (bool is 0 or 1)
 * Integer results are stored modulo 2^width, like C unsigned arithmetic, so
 * that overflow wraps around.  A formula that can overflow int64_t computes
 * through uint64_t (see ocs_ew_wrap) to stay free of undefined behaviour.
 */
#ifndef OCS_REF_OPS_ELEMENTWISE_H
#define OCS_REF_OPS_ELEMENTWISE_H

#include <stdint.h>

#include "common.h"

/* ---- sets of element types (a bit per ocs_dtype code) ---------------------------- */

#define OCS_EW_T(dtype) (UINT32_C(1) << (dtype))

#define OCS_EW_BOOL     OCS_EW_T(OCS_BOOL)
#define OCS_EW_STRING   OCS_EW_T(OCS_STRING)
#define OCS_EW_BFLOAT16 OCS_EW_T(OCS_BFLOAT16)
/* The float types of most ops before opset 13 (bfloat16 came later). */
#define OCS_EW_FLOAT3   (OCS_EW_T(OCS_FLOAT16) | OCS_EW_T(OCS_FLOAT) | OCS_EW_T(OCS_DOUBLE))
#define OCS_EW_FLOATS   (OCS_EW_FLOAT3 | OCS_EW_BFLOAT16)
#define OCS_EW_SIGNED   (OCS_EW_T(OCS_INT8) | OCS_EW_T(OCS_INT16) | OCS_EW_T(OCS_INT32) | \
                         OCS_EW_T(OCS_INT64))
#define OCS_EW_UNSIGNED (OCS_EW_T(OCS_UINT8) | OCS_EW_T(OCS_UINT16) | OCS_EW_T(OCS_UINT32) | \
                         OCS_EW_T(OCS_UINT64))
#define OCS_EW_INTS     (OCS_EW_SIGNED | OCS_EW_UNSIGNED)
/* The 32- and 64-bit integers, the only ones many ops took before opset 14. */
#define OCS_EW_WIDE_INTS (OCS_EW_T(OCS_INT32) | OCS_EW_T(OCS_INT64) | OCS_EW_T(OCS_UINT32) | \
                          OCS_EW_T(OCS_UINT64))
#define OCS_EW_NUMERIC  (OCS_EW_INTS | OCS_EW_FLOATS)
/* "All numeric types" as listed before bfloat16 joined them. */
#define OCS_EW_NUMERIC_NO_BF16 (OCS_EW_INTS | OCS_EW_FLOAT3)

/* The float types of a float-only op whose list gained bfloat16 at version bf16_since. */
uint32_t ocs_ew_float_types(int64_t version, int64_t bf16_since);
/* The types of Add, Sub, Mul and Div at a version: floats (1); 32/64-bit integers
 * (6); bfloat16 (13); every numeric type (14). */
uint32_t ocs_ew_arith_types(int64_t version);

/* Fails, naming the op, its version and the input, unless t's dtype is in types. */
ocs_status ocs_ew_check_type(const ocs_kernel_args *a, size_t input, const ocs_tensor *t,
                             uint32_t types);

/* ---- element access ------------------------------------------------------------- */

typedef enum ocs_ew_domain {
    OCS_EW_IN_DOUBLE,   /* the float types */
    OCS_EW_IN_INT64,    /* the signed integers */
    OCS_EW_IN_UINT64,   /* the unsigned integers and bool */
    OCS_EW_IN_NONE      /* strings and everything not computed on */
} ocs_ew_domain;

ocs_ew_domain ocs_ew_domain_of(ocs_dtype t);

/* Exact reads of integer (and bool) elements by flat index. */
int64_t ocs_ew_get_int(const ocs_tensor *t, size_t i);
uint64_t ocs_ew_get_uint(const ocs_tensor *t, size_t i);
/* Stores v modulo 2^width (bool stores v != 0).  set_int stores v's two's complement. */
void ocs_ew_set_uint(ocs_tensor *t, size_t i, uint64_t v);
void ocs_ew_set_int(ocs_tensor *t, size_t i, int64_t v);

/* The int64_t whose two's complement is v (no implementation-defined conversion). */
int64_t ocs_ew_wrap(uint64_t v);

/* max/min that return NaN when either side is NaN, as numpy.maximum/minimum do. */
double ocs_ew_max_f64(double x, double y);
double ocs_ew_min_f64(double x, double y);

/*
 * Copies element si of src to element di of dst (same dtype, any type;
 * strings are duplicated).  Fails only when memory runs out.
 */
ocs_status ocs_ew_copy_element(const ocs_kernel_args *a, ocs_tensor *dst, size_t di,
                               const ocs_tensor *src, size_t si);

/* ---- broadcasting ----------------------------------------------------------------- */

#define OCS_EW_MAX_OPERANDS 3

/*
 * Walks the broadcast shape of n (<= 3) operands in row-major order:
 *     ocs_ew_iter it;
 *     if ((s = ocs_ew_iter_init(a, n, ops, &it)) != OCS_OK) return s;
 *     ... allocate the output with it.rank, it.dims ...
 *     while (ocs_ew_iter_next(&it))
 *         out[it.pos] = f(ops[0][it.off[0]], ops[1][it.off[1]], ...);
 */
typedef struct ocs_ew_iter {
    size_t n;                              /* operands */
    int rank;                              /* the broadcast output shape */
    int64_t dims[OCS_MAX_RANK];
    size_t numel;
    size_t pos;                            /* flat index into the output */
    size_t off[OCS_EW_MAX_OPERANDS];       /* flat index into each operand */
    size_t next_;
    int64_t idx_[OCS_MAX_RANK];
    ocs_bview view_[OCS_EW_MAX_OPERANDS];
} ocs_ew_iter;

ocs_status ocs_ew_iter_init(const ocs_kernel_args *a, size_t n, const ocs_tensor *const *ops,
                            ocs_ew_iter *it);
/* Moves to the next output element; returns 0 when all have been visited. */
int ocs_ew_iter_next(ocs_ew_iter *it);

/*
 * The two operands of a binary op.  From version 7 on they broadcast both
 * ways (numpy rules).  Before version 7 (Add, Sub, Mul, Div, Pow, And, Or,
 * Equal, Less, Greater) B broadcasts onto A only when the attribute
 * broadcast=1, and only if B holds one element or its shape equals A's dims
 * from attribute axis on (by default A's trailing dims); *b_view is then B
 * reshaped to A's rank.  *x and *y point at A and at B (or *b_view).
 */
ocs_status ocs_ew_binary_operands(const ocs_kernel_args *a, const ocs_tensor **x,
                                  const ocs_tensor **y, ocs_tensor *b_view);

/* ---- engines: one formula applied to every element -------------------------------- */

/*
 * Formulas, one per computing domain.  A NULL integer formula means the
 * integers allowed by the op go through the double formula (the result is
 * truncated toward zero and wrapped to the width).
 */
typedef struct ocs_ew_unary_fns {
    double (*f)(double x);
    int64_t (*i)(int64_t x);
    uint64_t (*u)(uint64_t x);
} ocs_ew_unary_fns;

typedef struct ocs_ew_binary_fns {
    double (*f)(double x, double y);
    int64_t (*i)(int64_t x, int64_t y);
    uint64_t (*u)(uint64_t x, uint64_t y);
} ocs_ew_binary_fns;

/* Y = fns(X): one input of a type in types, one output of the same type and shape. */
ocs_status ocs_ew_unary(ocs_kernel_args *a, uint32_t types, const ocs_ew_unary_fns *fns);

/*
 * For kernels with their own loop: checks the single input X against types
 * and allocates output Y with X's type and shape.
 */
ocs_status ocs_ew_unary_prepare(ocs_kernel_args *a, uint32_t types, const ocs_tensor **x,
                                ocs_tensor **y);

/* C = fns(A, B) with broadcasting; A and B share a type in types, C has it too. */
ocs_status ocs_ew_binary(ocs_kernel_args *a, uint32_t types, const ocs_ew_binary_fns *fns);

/*
 * Comparison C = (A ? B) with broadcasting, C bool.  holds_when is the set
 * of orderings for which the result is true; NaN is ordered with nothing,
 * so every comparison with NaN is false.  Strings compare as byte strings.
 */
#define OCS_EW_LT 1u
#define OCS_EW_EQ 2u
#define OCS_EW_GT 4u
ocs_status ocs_ew_compare(ocs_kernel_args *a, uint32_t types, unsigned holds_when);

/*
 * Variadic fold Y = f(...f(f(X0, X1), X2)..., Xn-1) over one or more inputs
 * of one type.  broadcast != 0: numpy broadcasting of all inputs;
 * broadcast == 0: every input must have X0's shape.
 */
ocs_status ocs_ew_fold(ocs_kernel_args *a, uint32_t types, const ocs_ew_binary_fns *fns,
                       int broadcast);

#endif /* OCS_REF_OPS_ELEMENTWISE_H */
