/*
 * backends/cuda/compile.h - the CUDA backend's compile step for
 * BackendContext regions (compile.c): NVRTC-compiled specialised kernels
 * (cubin) in a checked payload, and the members of the backend table that
 * compile, check, load and run them.
 */
#ifndef OCS_CUDA_COMPILE_H
#define OCS_CUDA_COMPILE_H

#include <stddef.h>
#include <stdint.h>

#include "ocs/backend.h"

#define OCS_CUDA_BC_MAX_NAME 128

/* The static shape a PagedAttention kernel is specialised on. */
typedef struct ocs_cuda_pa_spec {
    int dtype;                    /* 1 float, 10 float16, 16 bfloat16 */
    int H, Hkv, D, BS;            /* query heads, KV heads, head size, cache block size */
} ocs_cuda_pa_spec;

/* A parsed payload: views into the payload bytes, names NUL-terminated copies. */
typedef struct ocs_cuda_payload {
    char fingerprint[65];
    int sm;                       /* e.g. 90 */
    int cuda_major, cuda_minor;   /* NVRTC version that compiled it */
    char kernel[OCS_CUDA_BC_MAX_NAME + 1];
    ocs_cuda_pa_spec spec;
    const unsigned char *cubin;
    size_t cubin_len;
} ocs_cuda_payload;

/* The CUDA C source of the kernel specialised on s and its name (name_len >= OCS_CUDA_BC_MAX_NAME + 1).
 * *src is malloc'd. */
ocs_status ocs_cuda_bc_source(const ocs_cuda_pa_spec *s, char **src, char *name, size_t name_len, ocs_err *err);
/* NVRTC: src to a cubin for sm_<sm> (malloc'd). OCS_ERR_RUNTIME with the compile log on failure. */
ocs_status ocs_cuda_bc_nvrtc(const char *src, const char *name, int sm, void **cubin, size_t *len, ocs_err *err);
/* Serialises / checks a payload (nothing in it trusted). */
ocs_status ocs_cuda_bc_payload_write(const ocs_cuda_payload *p, void **out, size_t *len, ocs_err *err);
ocs_status ocs_cuda_bc_payload_parse(const void *buf, size_t len, ocs_cuda_payload *p, ocs_err *err);
/* The compatibility string of a blob for sm_<sm> made by this NVRTC: "cuda-cubin=1;sm=90;cuda=13.0". */
ocs_status ocs_cuda_bc_compat(int sm, char *buf, size_t len, ocs_err *err);
/* "sm_90" / "90" / "9.0" -> 90; -1 when malformed. */
int ocs_cuda_bc_parse_arch(const char *s);

/*
 * A compile-only "cuda" backend for machines without a device: it compiles
 * regions for sm_<arch> with NVRTC, supports no node, and refuses every blob
 * (no device answers).  Closed with ocs_backend_close.
 */
ocs_status ocs_cuda_compiler_open(const char *arch, ocs_backend **out, ocs_err *err);

/* The members of the device backend's table (ctx: ocs_cuda). */
ocs_status ocs_cuda_bc_compile(void *ctx, const ocs_bc_view *r, const ocs_tensor *const *sample, void **payload,
                               size_t *len, char **compat, ocs_err *err);
int ocs_cuda_bc_compatible(void *ctx, const char *compat, char *why, size_t why_len);
ocs_status ocs_cuda_bc_load(void *ctx, const ocs_bc_view *r, const void *payload, size_t len, void **state,
                            ocs_err *err);
ocs_status ocs_cuda_bc_run(void *ctx, void *state, ocs_kernel_args *a);
void ocs_cuda_bc_unload(void *ctx, void *state);

#endif
