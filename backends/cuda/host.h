/*
 * backends/cuda/host.h - the host-side pieces of the CUDA backend's
 * operators that do not need a device: validation (with the reference's
 * checks, order and messages), PagedAttention's work plan and kernel choice,
 * MoE's grouping of routed tokens by expert; and the device-level entry
 * points the benchmark drives with buffers already on the device.
 *
 * Ownership: every *_free releases what the matching function allocated;
 * borrowed pointers are marked.
 */
#ifndef OCS_CUDA_HOST_H
#define OCS_CUDA_HOST_H

#include <stddef.h>
#include <stdint.h>

#include "ocs/exec.h"
#include "ocs/hook_match.h"
#include "kernels.h"

/* ---- PagedAttention ------------------------------------------------------------------------------ */

/* A validated call, resolved from the node and its inputs. */
typedef struct ocs_cuda_pa_call {
    int64_t H, Hkv, G, D, W, rotary, interleaved;
    float scale, softcap;          /* scale resolved: 0 -> 1/sqrt(D) */
    int64_t T, B, NB, BS, MB, half, max_pos;
    int64_t qwidth;                /* query's row length */
    int packed;
    ocs_dtype dt;
    size_t es;
    const int32_t *cu, *past, *table;   /* borrowed from the inputs */
    int64_t *slot;                 /* [T] the cache slot each new token writes (owned) */
    int32_t *pos;                  /* [T] its position (owned) */
} ocs_cuda_pa_call;

/*
 * The reference's checks, in its order and with its messages (DESIGN.md 4):
 * OCS_ERR_INVALID naming the problem; OCS_ERR_UNSUPPORTED when the call is
 * valid but beyond this backend's index ranges (positions or sizes past
 * 2^31).  On success *c is filled (free with ocs_cuda_pa_call_free).
 */
ocs_status ocs_cuda_pa_validate(ocs_kernel_args *a, ocs_cuda_pa_call *c);
void ocs_cuda_pa_call_free(ocs_cuda_pa_call *c);

/* The attend kernel variant for elements of es bytes and head size D. */
typedef struct ocs_cuda_pa_cfg {
    int stream;                /* the single-pass kernel, else the tiled one */
    int vec, cpl, gs, rows_cap;
    size_t smem;               /* the tiled kernel's dynamic shared memory */
} ocs_cuda_pa_cfg;

/*
 * 1 and *cfg when a variant exists whose shared memory fits smem_limit; 0
 * otherwise.  The single-pass kernel takes the head sizes that groups of 8
 * to 32 lanes cover with one 16-byte chunk a lane (when allow_stream != 0;
 * the backend clears it when OCS_CUDA_PA_TILED is set, so that tests and
 * the benchmark reach the tiled kernel too), the tiled kernel the rest.
 */
int ocs_cuda_pa_choose(size_t es, int64_t D, size_t smem_limit, int allow_stream, ocs_cuda_pa_cfg *cfg);

/*
 * The work plan: each sequence with new tokens has nq * G query rows
 * (token-major); they are cut into chunks of rows_cap rows, and each
 * chunk's key range, from the first visible key of its first row to the
 * position of its last row, into partitions of `part` positions.  A chunk
 * with one partition is one item that writes the output; a chunk with more
 * gets one item per partition, each with its own partial slot, and a merge.
 */
typedef struct ocs_cuda_pa_plan {
    ocs_cuda_pa_item *items;
    size_t n_items;
    ocs_cuda_pa_mergeitem *merges;
    size_t n_merges;
    size_t n_parts;
} ocs_cuda_pa_plan;

ocs_status ocs_cuda_pa_plan_make(int64_t B, const int32_t *cu, const int32_t *past, int64_t G, int64_t W,
                                 int rows_cap, int part, ocs_cuda_pa_plan *p, ocs_err *err);
void ocs_cuda_pa_plan_free(ocs_cuda_pa_plan *p);

/* ---- MoE -------------------------------------------------------------------------------------------- */

/* The routed pairs (token t, slot j), q = t k + j, grouped by expert, tokens ascending within one. */
typedef struct ocs_cuda_moe_groups {
    size_t E, P;
    size_t *start;             /* [E + 1] first grouped row of each expert */
    int32_t *row_pair;         /* [P] pair q of each grouped row */
    int32_t *pos;              /* [P] grouped row of each pair */
    int32_t *row_expert;       /* [P] expert of each grouped row */
    int32_t *row_slot;         /* [P] parameter slot of each row's expert (see slot_of) */
    size_t n_active;
    int32_t *active;           /* [n_active] experts with rows, ascending */
    int32_t *slot_of;          /* [E] expert -> its rank among the active ones, or -1 */
} ocs_cuda_moe_groups;

/*
 * Groups T k routed pairs (idx [T, k]).  Fails with the reference's message
 * when an index is outside [0, E) or repeats within a token.  slot_of and
 * row_slot number the active experts 0, 1, ... (compact parameter slots).
 */
ocs_status ocs_cuda_moe_group(size_t T, size_t E, size_t k, const int32_t *idx, ocs_cuda_moe_groups *g,
                              ocs_err *err);
void ocs_cuda_moe_groups_free(ocs_cuda_moe_groups *g);

/* The node's hooks and attributes (ocs_hook_match_moe), read once per node. */
typedef ocs_hook_moe ocs_cuda_moe_plan;

/* A validated MoE call (sizes, layout, the borrowed input and parameter tensors). */
typedef ocs_hook_moe_call ocs_cuda_moe_call;

/* The reference's checks (ocs_hook_moe_check) for a node with canonical hooks, then this backend's limits. */
ocs_status ocs_cuda_moe_validate(ocs_kernel_args *a, const ocs_cuda_moe_plan *p, ocs_cuda_moe_call *m);

/* ---- device-level entry points (buffers already on the device; the benchmark) ---------------------- */

typedef struct ocs_cuda ocs_cuda;

/* Device copies of a PagedAttention call's inputs and outputs. */
typedef struct ocs_cuda_pa_dev {
    const void *query, *key, *value;   /* key/value NULL when packed */
    void *kcache, *vcache;             /* written in place */
    const int32_t *cu, *past, *table;
    const void *cos, *sin;
    void *out;
} ocs_cuda_pa_dev;

/* Plans the call, uploads the plan into the scratch arena and fills *args (no launch). */
ocs_status ocs_cuda_pa_stage(ocs_cuda *c, const ocs_cuda_pa_call *call, const ocs_cuda_pa_dev *d,
                             ocs_cuda_pa_args *args, ocs_err *err);
/* The three launches on the backend's stream (write, attend, merge), each checked. */
ocs_status ocs_cuda_pa_launch(ocs_cuda *c, const ocs_cuda_pa_args *args, ocs_err *err);

/* Device copies of a MoE call's inputs; params[i] holds the parameter tensors' slices for the
 * experts in slot order (slot s at s * slice elements); slot_of maps expert -> slot (NULL: s = e). */
typedef struct ocs_cuda_moe_dev {
    const void *x, *logits;
    ocs_dtype logits_type;
    const void *W1, *b1, *W2, *b2, *W3, *b3;
    const float *router_bias;          /* sigmoid_grouped's correction bias, or NULL */
    void *out;
} ocs_cuda_moe_dev;

/* Routing on the device, then the grouping on the host (*g); ends with a synchronisation. */
ocs_status ocs_cuda_moe_route_group(ocs_cuda *c, const ocs_cuda_moe_plan *p, const ocs_cuda_moe_call *m,
                                    const ocs_cuda_moe_dev *d, ocs_cuda_moe_groups *g, ocs_err *err);
/* Gather, projections, activation and combination; enqueued, not synchronised.  identity_slots:
 * the parameters hold every expert (slot = expert), else the compact slots of g. */
ocs_status ocs_cuda_moe_experts(ocs_cuda *c, const ocs_cuda_moe_plan *p, const ocs_cuda_moe_call *m,
                                const ocs_cuda_moe_dev *d, const ocs_cuda_moe_groups *g, int identity_slots,
                                ocs_err *err);

#endif
