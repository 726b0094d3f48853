/*
 * backends/cuda/cuda.c - the CUDA backend: device discovery, the context
 * (stream, cuBLAS handle, device arenas), error checking and the dispatch
 * of supported nodes to their implementations (ops.h).
 *
 * The backend is present only when a device answers: ocs_backend_open_cuda
 * checks the return code of cudaGetDeviceCount (error 35, "CUDA driver
 * version is insufficient", where no driver is installed), then the count,
 * then that this build carries code the device can run; each failure is
 * OCS_ERR_UNSUPPORTED with the reason, which callers report as skipped.
 * OCS_CUDA_DEVICE selects the device (default 0).
 */
#include "cuda.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compile.h"
#include "kernels.h"

/* ---- errors ------------------------------------------------------------------------------- */

ocs_status ocs_cuda_check(cudaError_t e, const char *call, const char *file, int line, ocs_err *err)
{
    if (e == cudaSuccess)
        return OCS_OK;
    return ocs_fail(err, OCS_ERR_RUNTIME, "CUDA error %d (%s: %s) in %s at %s:%d", (int)e, cudaGetErrorName(e),
                    cudaGetErrorString(e), call, file, line);
}

ocs_status ocs_cuda_check_blas(cublasStatus_t s, const char *call, const char *file, int line, ocs_err *err)
{
    if (s == CUBLAS_STATUS_SUCCESS)
        return OCS_OK;
    return ocs_fail(err, OCS_ERR_RUNTIME, "cuBLAS error %d (%s: %s) in %s at %s:%d", (int)s, cublasGetStatusName(s),
                    cublasGetStatusString(s), call, file, line);
}

/* ---- device memory ---------------------------------------------------------------------------- */

ocs_status ocs_cuda_buf_reserve(ocs_cuda_buf *b, size_t bytes, ocs_err *err)
{
    if (bytes <= b->size)
        return OCS_OK;
    ocs_cuda_buf_free(b);
    /* grow by at least a quarter, so that slowly growing calls do not reallocate each time */
    size_t want = bytes + bytes / 4 < bytes ? bytes : bytes + bytes / 4;
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, want);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();   /* an allocation failure is not sticky: clear it */
        want = bytes;
        e = cudaMalloc(&p, want);
    }
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        return ocs_fail(err, OCS_ERR_NOMEM, "CUDA: cannot allocate %zu bytes of device memory (%s)", bytes,
                        cudaGetErrorString(e));
    }
    b->ptr = p;
    b->size = want;
    return OCS_OK;
}

void ocs_cuda_buf_free(ocs_cuda_buf *b)
{
    if (b->ptr)
        (void)cudaFree(b->ptr);
    b->ptr = NULL;
    b->size = 0;
}

void *ocs_cuda_carve(ocs_cuda_carver *c, size_t n, size_t sz)
{
    const size_t at = (c->used + 255) & ~(size_t)255;
    if (at < c->used || (sz && n > (SIZE_MAX - at) / sz)) {
        c->overflow = 1;
        return NULL;
    }
    c->used = at + n * sz;
    return c->base ? c->base + at : NULL;
}

ocs_status ocs_cuda_poison(ocs_cuda *c, void *p, size_t n, ocs_err *err)
{
    if (!c->poison || !n)
        return OCS_OK;
    return OCS_CU(cudaMemsetAsync(p, 0xff, n, c->stream));
}

ocs_status ocs_cuda_blas(ocs_cuda *c, cublasHandle_t *out, ocs_err *err)
{
    ocs_status st;
    if (!c->blas) {
        cublasHandle_t h = NULL;
        if ((st = OCS_CUBLAS(cublasCreate(&h))) != OCS_OK)
            return st;
        if ((st = OCS_CUBLAS(cublasSetStream(h, c->stream))) != OCS_OK) {
            cublasDestroy(h);
            return st;
        }
        c->blas = h;
    }
    *out = c->blas;
    return OCS_OK;
}

/* ---- dispatch ---------------------------------------------------------------------------------- */

typedef struct cuda_op {
    const char *domain, *name;
    int (*supports)(ocs_cuda *, const ocs_node *, int64_t, size_t, const ocs_tensor_type *);
    ocs_status (*prepare)(ocs_cuda *, const ocs_node *, void **, ocs_err *);
    ocs_status (*run)(ocs_cuda *, void *, ocs_kernel_args *);
    void (*release)(void *);
} cuda_op;

static const cuda_op cuda_ops[] = {
#define OCS_CUDA_OP(domain, name, prefix) \
    {domain, #name, prefix##_supports, prefix##_prepare, prefix##_run, prefix##_release},
#include "ops.h"
#undef OCS_CUDA_OP
    {NULL, NULL, NULL, NULL, NULL, NULL},
};

typedef struct node_state {
    const cuda_op *op;
    void *state;
} node_state;

static const cuda_op *find_op(const ocs_node *n)
{
    for (const cuda_op *op = cuda_ops; op->name; op++)
        if (!strcmp(op->domain, n->domain) && !strcmp(op->name, n->op_type))
            return op;
    return NULL;
}

static const char *cuda_describe(void *ctx)
{
    return ((ocs_cuda *)ctx)->desc;
}

static int cuda_supports(void *ctx, const ocs_node *n, int64_t since, size_t n_in, const ocs_tensor_type *in)
{
    const cuda_op *op = find_op(n);
    return op && op->supports(ctx, n, since, n_in, in);
}

static ocs_status cuda_prepare(void *ctx, const ocs_node *n, int64_t since, void **state, ocs_err *err)
{
    (void)since;
    const cuda_op *op = find_op(n);
    if (!op)
        return ocs_fail(err, OCS_ERR_UNSUPPORTED, "the cuda backend does not implement %s", n->op_type);
    node_state *ns = calloc(1, sizeof *ns);
    if (!ns)
        return ocs_fail(err, OCS_ERR_NOMEM, "out of memory");
    ns->op = op;
    ocs_status st = op->prepare(ctx, n, &ns->state, err);
    if (st != OCS_OK) {
        free(ns);
        return st;
    }
    *state = ns;
    return OCS_OK;
}

static ocs_status cuda_run(void *ctx, void *state, ocs_kernel_args *a)
{
    ocs_cuda *c = ctx;
    node_state *ns = state;
    pthread_mutex_lock(&c->lock);
    ocs_status st = ns->op->run(c, ns->state, a);
    pthread_mutex_unlock(&c->lock);
    return st;
}

static void cuda_release(void *ctx, void *state)
{
    (void)ctx;
    node_state *ns = state;
    if (!ns)
        return;
    ns->op->release(ns->state);
    free(ns);
}

static void cuda_destroy(void *ctx)
{
    ocs_cuda *c = ctx;
    if (!c)
        return;
    if (c->stream)
        (void)cudaStreamSynchronize(c->stream);
    ocs_cuda_buf_free(&c->io);
    ocs_cuda_buf_free(&c->scratch);
    if (c->blas)
        cublasDestroy(c->blas);
    if (c->stream)
        (void)cudaStreamDestroy(c->stream);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static const ocs_backend_ops cuda_backend_ops = {
    .api_version = OCS_BACKEND_API_VERSION,
    .name = "cuda",
    .describe = cuda_describe,
    .supports = cuda_supports,
    .prepare = cuda_prepare,
    .run = cuda_run,
    .release = cuda_release,
    .destroy = cuda_destroy,
    .bc_compile = ocs_cuda_bc_compile,
    .bc_compatible = ocs_cuda_bc_compatible,
    .bc_load = ocs_cuda_bc_load,
    .bc_run = ocs_cuda_bc_run,
    .bc_unload = ocs_cuda_bc_unload,
};

/* ---- sanitizer builds --------------------------------------------------------------------------- */

#ifdef __SANITIZE_ADDRESS__
/*
 * AddressSanitizer and the CUDA driver: ASan protects a "shadow gap" that
 * covers the address range the driver reserves for device mappings, so
 * under ASan the driver's initialisation or the first cudaMalloc fails
 * (out of memory) unless protect_shadow_gap=0; and the driver, cuBLAS and
 * NVRTC keep allocations for the life of the process that LeakSanitizer
 * reports at exit.  In sanitizer builds these hooks make both the default
 * for every program linked with this backend; ASAN_OPTIONS and
 * LSAN_OPTIONS still override them.  Allocations with none of those
 * libraries on their stack are still reported.
 */
const char *__asan_default_options(void);
const char *__lsan_default_suppressions(void);

const char *__asan_default_options(void)
{
    return "protect_shadow_gap=0";
}

const char *__lsan_default_suppressions(void)
{
    return "leak:libcuda.so\nleak:libcudart.so\nleak:libcublas.so\nleak:libcublasLt.so\nleak:libnvrtc.so\n";
}
#endif

/* ---- opening ------------------------------------------------------------------------------------- */

/*
 * The device to use: OCS_CUDA_DEVICE or 0.  Fails (unsupported) when no
 * device answers; the reason names the CUDA error or the empty count.
 */
static ocs_status find_device(int *device, ocs_err *err)
{
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        return ocs_fail(err, OCS_ERR_UNSUPPORTED, "cudaGetDeviceCount failed: error %d (%s: %s)", (int)e,
                        cudaGetErrorName(e), cudaGetErrorString(e));
    }
    if (n <= 0)
        return ocs_fail(err, OCS_ERR_UNSUPPORTED, "no CUDA device (cudaGetDeviceCount found %d)", n);
    const char *env = getenv("OCS_CUDA_DEVICE");
    long d = 0;
    if (env && *env) {
        char *end = NULL;
        d = strtol(env, &end, 10);
        if (*end || d < 0 || d >= n)
            return ocs_fail(err, OCS_ERR_UNSUPPORTED, "OCS_CUDA_DEVICE=%s does not name one of the %d CUDA devices",
                            env, n);
    }
    *device = (int)d;
    return OCS_OK;
}

ocs_status ocs_backend_open_cuda(ocs_backend **out, ocs_err *err)
{
    *out = NULL;
    int device = 0;
    ocs_status st = find_device(&device, err);
    if (st != OCS_OK)
        return st;

    ocs_cuda *c = calloc(1, sizeof *c);
    ocs_backend *b = calloc(1, sizeof *b);
    if (!c || !b) {
        free(c);
        free(b);
        return ocs_fail(err, OCS_ERR_NOMEM, "out of memory opening the cuda backend");
    }
    pthread_mutex_init(&c->lock, NULL);
    c->device = device;
    {
        const char *poison = getenv("OCS_CUDA_POISON");
        c->poison = poison && *poison && strcmp(poison, "0") != 0;
    }
    struct cudaDeviceProp prop;
    int rt = 0, drv = 0;
    if ((st = OCS_CU(cudaSetDevice(device))) != OCS_OK || (st = OCS_CU(cudaGetDeviceProperties(&prop, device))) != OCS_OK ||
        (st = OCS_CU(cudaRuntimeGetVersion(&rt))) != OCS_OK || (st = OCS_CU(cudaDriverGetVersion(&drv))) != OCS_OK)
        goto fail;
    c->cc_major = prop.major;
    c->cc_minor = prop.minor;
    c->sm_count = prop.multiProcessorCount;
    c->smem_optin = prop.sharedMemPerBlockOptin;
    c->global_mem = prop.totalGlobalMem;
    {
        /* the kernels must have code for this device (the build targets sm_80 and sm_90) */
        cudaError_t e = ocs_cuda_probe();
        if (e != cudaSuccess) {
            (void)cudaGetLastError();
            st = ocs_fail(err, OCS_ERR_UNSUPPORTED,
                          "the cuda backend was not built for %s (compute capability %d.%d): %s", prop.name,
                          prop.major, prop.minor, cudaGetErrorString(e));
            goto fail;
        }
    }
    if ((st = OCS_CU(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking))) != OCS_OK)
        goto fail;
    snprintf(c->desc, sizeof c->desc, "%.200s, compute capability %d.%d, %d SMs, %.1f GiB, CUDA runtime %d.%d, driver %d.%d",
             prop.name, prop.major, prop.minor, prop.multiProcessorCount,
             (double)prop.totalGlobalMem / (1024.0 * 1024.0 * 1024.0), rt / 1000, rt % 1000 / 10, drv / 1000,
             drv % 1000 / 10);
    b->ops = &cuda_backend_ops;
    b->ctx = c;
    *out = b;
    return OCS_OK;
fail:
    cuda_destroy(c);
    free(b);
    return st;
}
