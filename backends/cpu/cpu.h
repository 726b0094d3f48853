/*
 * backends/cpu/cpu.h - internal interface of the CPU backend.
 *
 * The backend (cpu.c) owns the thread pool and the CPU-feature probe and
 * dispatches each supported node to one operator implementation, listed in
 * ops.h.  An implementation provides four functions named by its prefix:
 *
 *   int        P_supports(ocs_cpu *c, const ocs_node *n, int64_t since_version,
 *                         size_t n_in, const ocs_tensor_type *in);
 *   ocs_status P_prepare(ocs_cpu *c, const ocs_node *n, void **state, ocs_err *err);
 *   ocs_status P_run(ocs_cpu *c, void *state, ocs_kernel_args *a);
 *   void       P_release(void *state);
 *
 * with the contracts of ocs_backend_ops (backend.h): prepare runs once per
 * node and session; run has the reference-kernel contract.
 */
#ifndef OCS_CPU_H
#define OCS_CPU_H

#include "ocs/backend.h"
#include "pool.h"

typedef struct ocs_cpu {
    ocs_pool *pool;
    int avx2, fma, avx512f; /* what this processor offers (runtime probe) */
    char desc[256];
} ocs_cpu;

#define OCS_CPU_OP(domain, name, prefix)                                                          \
    int prefix##_supports(ocs_cpu *c, const ocs_node *n, int64_t since_version, size_t n_in,       \
                          const ocs_tensor_type *in);                                             \
    ocs_status prefix##_prepare(ocs_cpu *c, const ocs_node *n, void **state, ocs_err *err);        \
    ocs_status prefix##_run(ocs_cpu *c, void *state, ocs_kernel_args *a);                          \
    void prefix##_release(void *state);
#include "ops.h"
#undef OCS_CPU_OP

/* One operator implementation, as ops.h lists them. */
typedef struct ocs_cpu_impl {
    const char *domain, *name;
    int (*supports)(ocs_cpu *, const ocs_node *, int64_t, size_t, const ocs_tensor_type *);
    ocs_status (*prepare)(ocs_cpu *, const ocs_node *, void **, ocs_err *);
    ocs_status (*run)(ocs_cpu *, void *, ocs_kernel_args *);
    void (*release)(void *);
} ocs_cpu_impl;

/* The implementation for n's domain and op type, or NULL (the backend and its compiled plans). */
const ocs_cpu_impl *ocs_cpu_impl_find(const ocs_node *n);

#endif
