/*
 * reference/ops/movement.h - element copying and index handling shared by
 * the data-movement kernels (Gather*, Scatter*, Concat, Slice, Tile, ...).
 *
 * These kernels move whole elements and never do arithmetic on them, except
 * for the reductions of ScatterND / ScatterElements.  Elements are copied by
 * their byte size (ocs_dtype_size); string elements are deep-copied, so every
 * output owns its strings.  Internal to reference/ops/.
 */
#ifndef OCS_REF_OPS_MOVEMENT_H
#define OCS_REF_OPS_MOVEMENT_H

#include "common.h"

/* Fails unless t's element type can be moved (has a known element size). */
ocs_status ocs_mv_check_dtype(const ocs_kernel_args *a, const ocs_tensor *t, const char *what);

/* Fails unless t holds integer indices (int32 or int64). */
ocs_status ocs_mv_check_index_dtype(const ocs_kernel_args *a, const ocs_tensor *t, const char *what);

/*
 * Copies the n elements src[si .. si+n) to dst[di .. di+n).  Both tensors have
 * the same dtype and the ranges lie inside them.  Strings are deep-copied and
 * the strings they replace in dst are freed.
 */
ocs_status ocs_mv_copy(const ocs_kernel_args *a, ocs_tensor *dst, size_t di, const ocs_tensor *src,
                       size_t si, size_t n);

/*
 * Allocates output i with src's dtype and the given shape (same element
 * count as src) and copies every element of src into it, in order.
 */
ocs_status ocs_mv_output_copy(ocs_kernel_args *a, size_t i, const ocs_tensor *src, int rank,
                              const int64_t *dims);

/*
 * Reads element k of the index tensor ind and returns it in [0, dim).
 * Negative values count back from dim when allow_negative is set.  A value
 * outside the range fails with a message naming what, the value and dim.
 */
ocs_status ocs_mv_index(const ocs_kernel_args *a, const ocs_tensor *ind, size_t k, int64_t dim,
                        int allow_negative, const char *what, int64_t *out);

/* out = product of dims[first .. last), checked against overflow. */
ocs_status ocs_mv_span(const ocs_kernel_args *a, const int64_t *dims, int first, int last, size_t *out);

/* Reduction applied when a scatter writes an element. */
typedef enum ocs_mv_reduction {
    OCS_MV_NONE = 0,   /* replace */
    OCS_MV_ADD,
    OCS_MV_MUL,
    OCS_MV_MAX,
    OCS_MV_MIN
} ocs_mv_reduction;

/*
 * Reads the `reduction` attribute of ScatterND / ScatterElements as its
 * version allows it: absent before 16, none/add/mul from 16, max/min from 18.
 */
ocs_status ocs_mv_reduction_attr(const ocs_kernel_args *a, ocs_mv_reduction *out);

/*
 * dst[di] = reduce(dst[di], src[si]) for one element of the same dtype.
 * OCS_MV_NONE copies.  Integers are combined exactly and wrap to the type's
 * width; floats are combined in double and rounded once; bool uses or (add,
 * max) and and (mul, min); max/min propagate NaN.  Strings allow only NONE.
 */
ocs_status ocs_mv_combine(const ocs_kernel_args *a, ocs_tensor *dst, size_t di, const ocs_tensor *src,
                          size_t si, ocs_mv_reduction r);

#endif /* OCS_REF_OPS_MOVEMENT_H */
