/*
 * backends/cuda/cuda.h - internal interface of the CUDA backend (host C).
 *
 * The backend (cuda.c) owns one device, one stream, a cuBLAS handle made on
 * first use, and two growable device buffers ("arenas"): io for the copies
 * of a node's inputs and outputs, scratch for the intermediates of one call.
 * A call runs under the context's lock, reserves what it needs, enqueues
 * copies and kernels on the stream, copies the outputs back and waits, so
 * that nothing of it is in flight when it returns.  Host/device movement
 * happens only in this backend's run functions: tensors cross the backend
 * interface in host memory.
 *
 * Every CUDA and cuBLAS call is checked with OCS_CU / OCS_CUBLAS, which turn
 * a failure into an ocs_status with the call's text, file, line and the
 * library's own description of the error.  Kernel launchers (kernels.h)
 * return cudaGetLastError() after the launch and are checked the same way;
 * errors raised while a kernel runs surface at the next synchronisation,
 * which is checked too.
 *
 * Operator implementations follow the CPU backend's pattern: four functions
 * per operator, named by a prefix and listed in ops.h.
 */
#ifndef OCS_CUDA_H
#define OCS_CUDA_H

#include <pthread.h>
#include <stddef.h>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "ocs/backend.h"

/* A growable device buffer. */
typedef struct ocs_cuda_buf {
    void *ptr;
    size_t size;
} ocs_cuda_buf;

typedef struct ocs_cuda {
    int device;
    int cc_major, cc_minor;      /* compute capability */
    int sm_count;
    size_t smem_optin;           /* largest dynamic shared memory one block may opt in to */
    size_t global_mem;
    cudaStream_t stream;
    cublasHandle_t blas;         /* made on first use (ocs_cuda_blas) */
    pthread_mutex_t lock;        /* one call at a time uses the stream and the arenas */
    ocs_cuda_buf io, scratch;
    int poison;                  /* OCS_CUDA_POISON set: fill output buffers with NaN before the kernels */
    char desc[512];
} ocs_cuda;

/* ---- error checking ----------------------------------------------------------------- */

/* OCS_OK when e is cudaSuccess, else an OCS_ERR_RUNTIME naming the call, file, line and error. */
ocs_status ocs_cuda_check(cudaError_t e, const char *call, const char *file, int line, ocs_err *err);
ocs_status ocs_cuda_check_blas(cublasStatus_t s, const char *call, const char *file, int line, ocs_err *err);

/* Both expect `err` (an ocs_err *) in scope. */
#define OCS_CU(call) ocs_cuda_check((call), #call, __FILE__, __LINE__, err)
#define OCS_CUBLAS(call) ocs_cuda_check_blas((call), #call, __FILE__, __LINE__, err)

/* ---- device memory ---------------------------------------------------------------------- */

/* Makes b at least `bytes` large (contents are not kept when it grows). */
ocs_status ocs_cuda_buf_reserve(ocs_cuda_buf *b, size_t bytes, ocs_err *err);
void ocs_cuda_buf_free(ocs_cuda_buf *b);

/*
 * Carving one buffer into aligned parts: first a layout pass with base NULL
 * (offsets only) that totals the bytes, then the same calls with the real
 * base.  ocs_cuda_carve returns base + offset of n elements of size sz
 * (256-byte aligned), or NULL when base is NULL; *overflow is set when the
 * sizes do not fit size_t.
 */
typedef struct ocs_cuda_carver {
    char *base;
    size_t used;
    int overflow;
} ocs_cuda_carver;

void *ocs_cuda_carve(ocs_cuda_carver *c, size_t n, size_t sz);

/* With c->poison, fills n device bytes at p with 0xff (NaN in every float type), so that an output
 * element no kernel writes shows; otherwise nothing. */
ocs_status ocs_cuda_poison(ocs_cuda *c, void *p, size_t n, ocs_err *err);

/* The cuBLAS handle (created on first use, bound to the stream). */
ocs_status ocs_cuda_blas(ocs_cuda *c, cublasHandle_t *out, ocs_err *err);

/* ---- operators ------------------------------------------------------------------------------ */

#define OCS_CUDA_OP(domain, name, prefix)                                                          \
    int prefix##_supports(ocs_cuda *c, const ocs_node *n, int64_t since_version, size_t n_in,       \
                          const ocs_tensor_type *in);                                              \
    ocs_status prefix##_prepare(ocs_cuda *c, const ocs_node *n, void **state, ocs_err *err);        \
    ocs_status prefix##_run(ocs_cuda *c, void *state, ocs_kernel_args *a);                          \
    void prefix##_release(void *state);
#include "ops.h"
#undef OCS_CUDA_OP

#endif
