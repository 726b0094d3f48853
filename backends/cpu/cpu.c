/*
 * backends/cpu/cpu.c - the CPU backend: OpenBLAS for GEMM-shaped work, a
 * thread pool, AVX2/FMA kernels chosen at run time with portable fallbacks.
 */
#include "cpu.h"
#include "tuning.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const ocs_cpu_impl cpu_ops[] = {
#define OCS_CPU_OP(domain, name, prefix) \
    {domain, #name, prefix##_supports, prefix##_prepare, prefix##_run, prefix##_release},
#include "ops.h"
#undef OCS_CPU_OP
    {NULL, NULL, NULL, NULL, NULL, NULL},
};

/* What prepare hands the executor: the implementation and its state. */
typedef struct node_state {
    const ocs_cpu_impl *op;
    void *state;
} node_state;

const ocs_cpu_impl *ocs_cpu_impl_find(const ocs_node *n)
{
    for (const ocs_cpu_impl *op = cpu_ops; op->name; op++)
        if (!strcmp(op->domain, n->domain) && !strcmp(op->name, n->op_type))
            return op;
    return NULL;
}

static const char *cpu_describe(void *ctx)
{
    return ((ocs_cpu *)ctx)->desc;
}

static int cpu_supports(void *ctx, const ocs_node *n, int64_t since, size_t n_in, const ocs_tensor_type *in)
{
    const ocs_cpu_impl *op = ocs_cpu_impl_find(n);
    return op && op->supports(ctx, n, since, n_in, in);
}

static ocs_status cpu_prepare(void *ctx, const ocs_node *n, int64_t since, void **state, ocs_err *err)
{
    (void)since;
    const ocs_cpu_impl *op = ocs_cpu_impl_find(n);
    if (!op)
        return ocs_fail(err, OCS_ERR_UNSUPPORTED, "the cpu backend does not implement %s", n->op_type);
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

static ocs_status cpu_run(void *ctx, void *state, ocs_kernel_args *a)
{
    node_state *ns = state;
    return ns->op->run(ctx, ns->state, a);
}

static void cpu_release(void *ctx, void *state)
{
    (void)ctx;
    node_state *ns = state;
    if (!ns)
        return;
    ns->op->release(ns->state);
    free(ns);
}

static void cpu_destroy(void *ctx)
{
    ocs_cpu *c = ctx;
    if (!c)
        return;
    ocs_pool_free(c->pool);
    free(c);
}

static const ocs_backend_ops cpu_backend_ops = {
    .api_version = OCS_BACKEND_API_VERSION,
    .name = "cpu",
    .describe = cpu_describe,
    .supports = cpu_supports,
    .prepare = cpu_prepare,
    .run = cpu_run,
    .release = cpu_release,
    .destroy = cpu_destroy,
    .bc_compile = ocs_cpu_bc_compile,
    .bc_compatible = ocs_cpu_bc_compatible,
    .bc_load = ocs_cpu_bc_load,
    .bc_run = ocs_cpu_bc_run,
    .bc_unload = ocs_cpu_bc_unload,
};

/* OpenBLAS reports its build configuration ("OpenBLAS 0.3.21 ... Haswell"). */
char *openblas_get_config(void);

ocs_status ocs_backend_open_cpu(ocs_backend **out, ocs_err *err)
{
    *out = NULL;
    ocs_cpu *c = calloc(1, sizeof *c);
    ocs_backend *b = calloc(1, sizeof *b);
    if (!c || !b) {
        free(c);
        free(b);
        return ocs_fail(err, OCS_ERR_NOMEM, "out of memory opening the cpu backend");
    }
    ocs_status st = ocs_pool_new(0, &c->pool, err);
    if (st != OCS_OK) {
        free(c);
        free(b);
        return st;
    }
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    c->avx2 = __builtin_cpu_supports("avx2");
    c->fma = __builtin_cpu_supports("fma");
    c->avx512f = __builtin_cpu_supports("avx512f");
#endif
    const char *blas = openblas_get_config();
    snprintf(c->desc, sizeof c->desc, "%zu threads, %s%s%s, %s", ocs_pool_threads(c->pool),
             c->avx2 ? "AVX2" : "no AVX2", c->fma ? "+FMA" : "", c->avx512f ? "+AVX-512F" : "",
             blas ? blas : "OpenBLAS");
    b->ops = &cpu_backend_ops;
    b->ctx = c;
    *out = b;
    return OCS_OK;
}
