/*
 * backends/cpu/tuning.h - compiled regions on the CPU backend (compile.c):
 * the per-node choices a compiled plan makes, and the BackendContext entry
 * points the backend's ops table points to.
 *
 * A compiled region (a BackendContext blob for backend "cpu") is a plan:
 * the region's nodes in a fixed order, each value in a numbered slot freed
 * after its last use, each node on the CPU implementation or the reference
 * kernel, and for each CPU node the knobs below, chosen by measuring the
 * region on sample inputs of its shapes.  A knob value is kept only if the
 * region's outputs stay bit-identical to those of the backend's built-in
 * choices, so a blob never changes results, only speed.
 *
 * Knobs.  `threads` is applied by the plan itself: the node runs with an
 * ocs_cpu whose pool has that many threads.  The other knobs are read by
 * the operator implementations: when cpu.h gives ocs_cpu a member
 *     const struct ocs_cpu_tuning *tuning;   (NULL: built-in choices)
 * and defines OCS_CPU_HAS_TUNING, the plan points it at the node's knobs;
 * PagedAttention then uses pa_split_chunk as its split-KV chunk length and
 * MoE uses moe_stream_max_tokens as its streaming/GEMM threshold whenever
 * they are non-zero.
 */
#ifndef OCS_CPU_TUNING_H
#define OCS_CPU_TUNING_H

#include <stddef.h>
#include <stdint.h>

#include "ocs/backend.h"

typedef struct ocs_cpu_tuning {
    size_t threads;                  /* pool threads the node runs on; 0: the backend's pool */
    int64_t pa_split_chunk;          /* PagedAttention: key positions per split-KV task; 0: built-in */
    int64_t moe_stream_max_tokens;   /* MoE: an expert with at most this many tokens streams; 0: built-in */
} ocs_cpu_tuning;

/* The ocs_backend_ops members of the cpu backend (ctx is its ocs_cpu). */
ocs_status ocs_cpu_bc_compile(void *ctx, const ocs_bc_view *r, const ocs_tensor *const *sample, void **payload,
                              size_t *len, char **compat, ocs_err *err);
int ocs_cpu_bc_compatible(void *ctx, const char *compat, char *why, size_t why_len);
ocs_status ocs_cpu_bc_load(void *ctx, const ocs_bc_view *r, const void *payload, size_t len, void **state,
                           ocs_err *err);
ocs_status ocs_cpu_bc_run(void *ctx, void *state, ocs_kernel_args *a);
void ocs_cpu_bc_unload(void *ctx, void *state);

/* This machine's compatibility string (what a plan compiled here needs) into buf. */
void ocs_cpu_bc_compat_here(char *buf, size_t len);

#endif
