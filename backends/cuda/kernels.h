/*
 * backends/cuda/kernels.h - the CUDA kernels' C-callable launchers.
 *
 * Included by the host C code and by the .cu files.  Everything crossing
 * here is plain data: device pointers, sizes, and element types given by
 * their ONNX TensorProto codes (1 float, 10 float16, 16 bfloat16, 11 double
 * for MoE logits).  Each launcher enqueues its kernels on the given stream
 * and returns cudaGetLastError() (launch-configuration errors); errors while
 * the kernels run show at the caller's next synchronisation.  Nothing here
 * allocates or synchronises.
 *
 * PagedAttention (paged_attention.cu).  One call is three launches:
 *   write   one block per new token: RoPE (when on) of its query and key
 *           heads in double, rounded once to T, query heads into qrot; the
 *           (rotated) key and the value rows stored at the token's cache
 *           slot, in place in kcache/vcache;
 *   attend  one block per (work item, KV head): the item's query rows (the
 *           query heads of one KV head for a few tokens of one sequence,
 *           token-major) against one partition of at most
 *           OCS_CUDA_PA_PART key positions read through the block table,
 *           float32 throughout.  Each key/value row is loaded once for all
 *           rows of the item (GQA).  Two kernels: the single-pass one
 *           (rows whose 16-byte chunks one group of lanes covers: the query
 *           rows in registers, each key and value row read together, an
 *           online softmax per group, the groups merged at the end) and the
 *           tiled one for every other head size (scores into shared memory,
 *           softmax within the partition, then P x V).  An item that covers
 *           its rows' whole key range writes the output; the others write a
 *           partial (row maximum, row sum, unnormalised accumulator);
 *   merge   one block per (split row chunk, KV head): combines the partials
 *           of the chunk's partitions in ascending order (flash-decoding).
 * The work items and merges come from the host plan (paged_attention.c).
 *
 * MoE (moe.cu): routing on device (one thread per token, every canonical
 * router, float32 with the reference's double steps), the row gather into
 * expert-grouped order (scaled by the routing weight when it applies to the
 * input), the fused activation between the two projections (every canonical
 * expert), and the weighted combination.  The projections are cuBLAS GEMMs
 * issued by moe.c.
 */
#ifndef OCS_CUDA_KERNELS_H
#define OCS_CUDA_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- PagedAttention ------------------------------------------------------------------------- */

#define OCS_CUDA_PA_PART 512      /* key positions per partition */
#define OCS_CUDA_PA_THREADS 128   /* threads per attend / merge / write block */
#define OCS_CUDA_PA_ROWS 8        /* most query rows one item holds */

/* One block of the attend kernel: rows [rho0, rho0 + nrows) of sequence b (row rho is token
 * rho / G of the sequence, query head g * G + rho % G), key positions [k0, k1); part >= 0: the
 * partial slot it writes, -1: it writes the output. */
typedef struct ocs_cuda_pa_item {
    int32_t b, rho0, nrows, k0, k1, part;
} ocs_cuda_pa_item;

/* Rows [rho0, rho0 + nrows) of sequence b were split over partial slots part0 .. part0 + nparts - 1. */
typedef struct ocs_cuda_pa_mergeitem {
    int32_t b, rho0, nrows, part0, nparts;
} ocs_cuda_pa_mergeitem;

typedef struct ocs_cuda_pa_args {
    int dtype;                    /* T: 1, 10 or 16 */
    int H, Hkv, G, D, BS, MB, W;  /* W <= 0: no window */
    float scale, softcap;         /* scale already resolved (0 -> 1/sqrt(D)) */
    int rotary, interleaved, half;
    int T;                        /* new tokens */
    /* kernel variant (ocs_cuda_pa_choose) */
    int stream;                   /* the single-pass kernel (else the tiled one) */
    int vec, cpl, gs, rows_cap;
    size_t smem;                  /* dynamic shared memory of the attend kernel */
    /* device data */
    const void *q;                /* query rows: element (t, h, d) at q[t * q_stride + h * D + d] */
    int64_t q_stride;
    const void *qsrc;             /* the query input (RoPE source) and its row stride */
    int64_t qsrc_stride;
    const void *ksrc, *vsrc;      /* new key / value rows, kv_stride elements apart */
    int64_t kv_stride;
    void *kcache, *vcache;        /* [NB, BS, Hkv, D], written in place */
    const int32_t *cu, *past, *table;
    const int64_t *slot;          /* [T] cache slot of each new token */
    const int32_t *pos;           /* [T] position of each new token */
    const void *cos, *sin;        /* [max_pos, half] */
    void *qrot;                   /* [T, H * D] rotated queries (rotary only) */
    void *out;                    /* [T, H * D] */
    const ocs_cuda_pa_item *items;
    int n_items;
    const ocs_cuda_pa_mergeitem *merges;
    int n_merges;
    float *pm, *pl, *pacc;        /* partials: [n_parts, Hkv, rows_cap] (x D for pacc) */
} ocs_cuda_pa_args;

/* Whether an attend kernel exists for (dtype, stream, vec, cpl, gs). */
int ocs_cuda_pa_have_variant(int dtype, int stream, int vec, int cpl, int gs);
cudaError_t ocs_cuda_pa_write(const ocs_cuda_pa_args *a, cudaStream_t s);
cudaError_t ocs_cuda_pa_attend(const ocs_cuda_pa_args *a, cudaStream_t s);
cudaError_t ocs_cuda_pa_merge(const ocs_cuda_pa_args *a, cudaStream_t s);

/* ---- MoE -------------------------------------------------------------------------------------- */

/* Router kinds: the ocs_hook_router_kind values, and the operator's default. */
#define OCS_CUDA_ROUTER_DEFAULT (-1)

typedef struct ocs_cuda_router {
    int kind;                     /* OCS_CUDA_ROUTER_DEFAULT or an ocs_hook_router_kind */
    int renormalize;              /* softmax_topk */
    int n_group, topk_group, g_renormalize;   /* sigmoid_grouped */
    float scaling;                /* routed_scaling_factor */
    const float *bias;            /* device [n_bias], or NULL */
    int n_bias;
    float jitter_eps;             /* sparsemixer */
} ocs_cuda_router;

/*
 * Routes T tokens: logits [T, E] of logits_dtype (1, 10, 16 or 11) -> w [T, k] float and
 * idx [T, k] int32.  scratch holds T * (4 E) floats, taken T * E bytes, gi T * E ints.
 */
cudaError_t ocs_cuda_moe_route(const void *logits, int logits_dtype, int T, int E, int k,
                               const ocs_cuda_router *r, float *scratch, unsigned char *taken, int32_t *gi,
                               float *w, int32_t *idx, cudaStream_t s);

/* xg[row] = x[row_pair[row] / k] (times w[row_pair[row]], rounded to dtype, when weight_on_input). */
cudaError_t ocs_cuda_moe_gather(int dtype, const void *x, int64_t P, int H, int k, const int32_t *row_pair,
                                const float *w, int weight_on_input, void *xg, cudaStream_t s);

/* The activation between the projections (see moe.cu for the exact roundings). */
typedef struct ocs_cuda_moe_act {
    int dtype;                    /* T */
    int expert_kind;              /* ocs_hook_expert_kind */
    int act;                      /* ocs_moe_act */
    int gated;
    int64_t P;                    /* rows */
    int I;                        /* activations per row */
    const void *z;                /* [P, zcols] projection rows */
    int z_float;                  /* z holds float (else T) */
    int64_t zcols;
    int gs, us;                   /* gate of activation i at z[gs * i], up at z[us + gs * i] */
    const void *bg, *bu;          /* biases (T), NULL when absent: element (slot, j) at slot * stride + j */
    int64_t bg_stride, bu_stride;
    int bg_bcast, bu_bcast;       /* one value per expert */
    int64_t gb0, ub0, bstride;    /* bias element of activation i: gb0 + bstride * i (ub0 ... for up) */
    const int32_t *row_slot;      /* [P] parameter slot of each row's expert */
    float c_sqrt2, c_half, c_one, c_tanh0, c_tanh1, alpha, beta, limit;
    void *h;                      /* [P, I] out, T */
} ocs_cuda_moe_act;

cudaError_t ocs_cuda_moe_activate(const ocs_cuda_moe_act *a, cudaStream_t s);

/*
 * out[t, h] = sum_j (weight_on_input ? 1 : w[t, j]) * round(y[pos[t, j], h] + b2), accumulated in float
 * and rounded to dtype; y holds float when y_float, else dtype; b2 (dtype, may be NULL) per row slot.
 */
cudaError_t ocs_cuda_moe_combine(int dtype, int T, int H, int k, const void *y, int y_float,
                                 const int32_t *pos, const int32_t *row_slot, const float *w,
                                 int weight_on_input, const void *b2, int64_t b2_stride, int b2_bcast,
                                 void *out, cudaStream_t s);

/* Fills n bytes with a pattern (for tests of unwritten elements). */
cudaError_t ocs_cuda_fill_u32(void *p, size_t n_words, uint32_t v, cudaStream_t s);

/* n elements of dtype (1, 10, 16) uniform in [lo, hi), a fixed function of (seed, index). */
cudaError_t ocs_cuda_fill_uniform(void *p, size_t n, int dtype, uint64_t seed, float lo, float hi, cudaStream_t s);

/* Whether the module carries code the current device runs (a cudaFuncGetAttributes probe). */
cudaError_t ocs_cuda_probe(void);

#ifdef __cplusplus
}
#endif
#endif
