/*
 * reference/ops/reduce.h - machinery shared by the reduction family
 * (ReduceSum, ReduceMax, ReduceMean), the single-axis ops (ArgMax, TopK,
 * CumSum) and the softmax family (Softmax, LogSoftmax).  Internal to
 * reference/ops.
 *
 * Three pieces:
 *   - a reduction plan: which axes a Reduce* node reduces (axes attribute in
 *     older versions, axes input in newer ones, keepdims,
 *     noop_with_empty_axes), the output shape, and a walk that maps
 *     (output element, position in its reduced set) to an input element;
 *   - the outer x n x inner view of a tensor around one axis, used by the
 *     ops that work along a single axis;
 *   - exact element comparison and exact summation for every numeric dtype.
 */
#ifndef OCS_REF_OPS_REDUCE_H
#define OCS_REF_OPS_REDUCE_H

#include "common.h"

/* ---- reduction plan ------------------------------------------------------ */

typedef struct ocs_red_plan {
    int rank;                        /* input rank */
    int64_t dims[OCS_MAX_RANK];      /* input shape */
    int reduced[OCS_MAX_RANK];       /* 1 where axis i is reduced */
    int out_rank;                    /* output shape (keepdims applied) */
    int64_t out_dims[OCS_MAX_RANK];
    size_t n_red;                    /* elements in each reduced set; 0 if a reduced axis is empty */
    int n_kept, kept[OCS_MAX_RANK];  /* kept axes, ascending */
    int n_rax, rax[OCS_MAX_RANK];    /* reduced axes, ascending */
    int64_t strides[OCS_MAX_RANK];   /* input strides in elements */
} ocs_red_plan;

/*
 * Builds the plan for a Reduce* node over input 0.  Versions below
 * axes_input_since take `axes` as an attribute (absent or empty: every axis);
 * from axes_input_since on, axes is optional input 1 and an absent or empty
 * axes means every axis, or no axis at all (the identity) when
 * noop_with_empty_axes is 1.  Axes must be in [-r, r-1] and distinct.
 */
ocs_status ocs_red_plan_init(ocs_kernel_args *a, int64_t axes_input_since, ocs_red_plan *p);

/* Flat input index of element j (row-major over the reduced axes) of the
 * reduced set that belongs to flat output element out_i. */
size_t ocs_red_plan_index(const ocs_red_plan *p, size_t out_i, size_t j);

/* ---- one axis ----------------------------------------------------------- */

/*
 * t viewed as [outer, n, inner] around axis: outer = product of the
 * dimensions before axis, n = dims[axis], inner = product of those after.
 * Element (o, j, i) is at flat index (o * n + j) * inner + i.
 */
typedef struct ocs_axis_view {
    size_t outer, n, inner;
} ocs_axis_view;

void ocs_axis_view_init(ocs_axis_view *v, const ocs_tensor *t, int axis);
size_t ocs_axis_view_index(const ocs_axis_view *v, size_t o, size_t j, size_t i);

/* ---- dtypes, comparison, summation -------------------------------------------- */

/* float16, bfloat16, float, double. */
int ocs_red_is_std_float(ocs_dtype t);
/* int8..int64, uint8..uint64 (the standard integer widths). */
int ocs_red_is_std_int(ocs_dtype t);

/*
 * Compares elements i and j of t exactly, in t's own type: -1, 0 or 1.
 * Floats: NaN sorts above every number and equal to other NaNs; -0 == +0.
 * Integers compare as integers (uint64 and int64 exactly); bool as 0 < 1.
 */
int ocs_red_cmp(const ocs_tensor *t, size_t i, size_t j);

/* Copies element i of src into element o of dst (same dtype; strings deep). */
ocs_status ocs_red_copy_elem(ocs_kernel_args *a, ocs_tensor *dst, size_t o,
                             const ocs_tensor *src, size_t i);

/*
 * An exact running sum: double for floating-point types, and for integers
 * the 64-bit two's-complement sum (exact unless it leaves int64/uint64).
 */
typedef struct ocs_red_sum {
    ocs_dtype dtype;
    int is_float;
    double f;
    uint64_t u;
} ocs_red_sum;

void ocs_red_sum_init(ocs_red_sum *s, ocs_dtype t);
void ocs_red_sum_add(ocs_red_sum *s, const ocs_tensor *t, size_t i);
/* Stores the sum, rounded once to dst's type, into element o. */
void ocs_red_sum_store(const ocs_red_sum *s, ocs_tensor *dst, size_t o);
/* Stores sum / count: floats divide in double and round once; integers
 * divide exactly and truncate toward zero.  count == 0 stores NaN for
 * floats and 0 for integers (ONNX leaves an empty mean undefined). */
void ocs_red_sum_store_mean(const ocs_red_sum *s, ocs_tensor *dst, size_t o, size_t count);

/* ---- the softmax family ------------------------------------------------------ */

/*
 * Softmax (log_form 0) or LogSoftmax (log_form 1) of input 0 into output 0.
 * Versions 1 and 11 coerce the input to 2-D [a_0*...*a_{k-1}, a_k*...*a_{n-1}]
 * at `axis` (default 1) and normalise each row; version 13 normalises along
 * the single axis `axis` (default -1).  Computed in double, rounded once.
 */
ocs_status ocs_red_softmax(ocs_kernel_args *a, int log_form);

#endif /* OCS_REF_OPS_REDUCE_H */
