/*
 * reference/ops/common.h - small helpers shared by the reference kernels:
 * argument checks, axis handling, ONNX multidirectional broadcasting and
 * reading shape-like integer tensors.  Internal to reference/.
 */
#ifndef OCS_REF_OPS_COMMON_H
#define OCS_REF_OPS_COMMON_H

#include "ocs/exec.h"

/* Declarations of every kernel, generated from the op list. */
#define OCS_OP(domain, name, ...) ocs_status ocs_ref_##name(ocs_kernel_args *a);
#define OCS_OP_V OCS_OP
#include "oplist.h"
#undef OCS_OP
#undef OCS_OP_V

/*
 * Fails unless the node has at least min_present leading inputs that are all
 * present, and at most max inputs in total.
 */
ocs_status ocs_need_inputs(const ocs_kernel_args *a, size_t min_present, size_t max);
/* Input i, or NULL when absent or beyond the node's inputs. */
const ocs_tensor *ocs_input(const ocs_kernel_args *a, size_t i);

/* Fails unless every present input in [first, last] has the dtype of input first. */
ocs_status ocs_same_dtype(const ocs_kernel_args *a, size_t first, size_t last);

/* Maps axis in [-rank, rank) to [0, rank); fails naming the attribute otherwise. */
ocs_status ocs_axis(const ocs_kernel_args *a, int64_t axis, int rank, const char *what, int *out);

/* Row-major strides in elements for dims. */
void ocs_strides(int rank, const int64_t *dims, int64_t *strides);

/* Advances a row-major multi-index; returns 0 after the last one. */
int ocs_index_next(int rank, const int64_t *dims, int64_t *idx);

/* ONNX multidirectional (numpy) broadcasting of n shapes. */
ocs_status ocs_broadcast_shapes(const ocs_kernel_args *a, size_t n, const ocs_tensor *const *ts,
                                int *rank, int64_t *dims);

/*
 * A view of tensor t broadcast to an output shape: offset() gives t's flat
 * index for an output multi-index.  t must be broadcast-compatible.
 */
typedef struct ocs_bview {
    int out_rank;
    int64_t strides[OCS_MAX_RANK];   /* 0 along broadcast dimensions */
} ocs_bview;
void ocs_bview_init(ocs_bview *v, const ocs_tensor *t, int out_rank, const int64_t *out_dims);
size_t ocs_bview_offset(const ocs_bview *v, const int64_t *idx);

/*
 * Reads a 1-D (or scalar) integer tensor into a freshly malloc'd int64 array
 * (*out, caller frees; NULL when empty).  what names it in messages.
 */
ocs_status ocs_read_ints(const ocs_kernel_args *a, const ocs_tensor *t, const char *what,
                         int64_t **out, size_t *count);

/* Allocates output i with dtype and shape (a thin wrapper over ocs_tensor_new). */
ocs_status ocs_output(ocs_kernel_args *a, size_t i, ocs_dtype t, int rank, const int64_t *dims,
                      ocs_tensor **out);

/* Fails with "dtype X is not supported by <op>" style text. */
ocs_status ocs_dtype_unsupported(const ocs_kernel_args *a, const ocs_tensor *t, const char *what);

/*
 * Copies n elements src[si..] to dst[di..] (same dtype; strings deep-copied,
 * replacing what dst held).  Indices are flat element indices.
 */
ocs_status ocs_copy_elems(ocs_tensor *dst, size_t di, const ocs_tensor *src, size_t si, size_t n,
                          ocs_err *err);

#endif /* OCS_REF_OPS_COMMON_H */
