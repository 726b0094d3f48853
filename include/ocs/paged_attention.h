/*
 * include/ocs/paged_attention.h - validation of a PagedAttention
 * (ai.onnx.preview, 1) call, shared by every implementation: each error
 * condition of the schema (spec/ops/paged_attention.c), in one order and
 * with one message, and the dimensions the kernels need.
 */
#ifndef OCS_PAGED_ATTENTION_H
#define OCS_PAGED_ATTENTION_H

#include <stddef.h>
#include <stdint.h>

#include "ocs/model.h"
#include "ocs/status.h"
#include "ocs/tensor.h"

/* A validated call.  Notation of the schema: H = num_heads, Hkv =
 * kv_num_heads, G = H / Hkv, D = head_size, W = local_window_size, caches
 * [NB, BS, Hkv, D], B sequences, T packed tokens, block_table [B, MB],
 * rotary tables [max_pos, half] (half and max_pos are 0 without do_rotary).
 * The tensors and index arrays are borrowed from the inputs. */
typedef struct ocs_pa_dims {
    int64_t H, Hkv, G, D, W, rotary, interleaved;
    float scale, softcap;   /* the attributes as given: scale 0 means 1/sqrt(D) */
    int64_t T, B, NB, BS, MB, half, max_pos;
    int64_t qwidth;         /* query's row length */
    int packed;             /* key and value absent: query is [T, (H + 2*Hkv)*D] */
    ocs_dtype dt;           /* T */
    size_t es;              /* bytes per element of T */
    const ocs_tensor *query, *key, *value, *kc, *vc, *cos, *sin;
    const int32_t *cu, *past, *table;
} ocs_pa_dims;

/* A cache slot written by a new token. */
typedef struct ocs_pa_write {
    uint64_t slot;
    int64_t token;
} ocs_pa_write;

/*
 * Checks the node's attributes and its n_in inputs (in[i] NULL when absent;
 * at most 10, input 0 present) and fills *out.  When writes is not NULL, on
 * success *writes holds the T written slots sorted by slot then token
 * (malloc'd, the caller frees it; NULL when T is 0).  Fails with
 * OCS_ERR_INVALID naming the first error condition met.
 */
ocs_status ocs_paged_attention_check(const ocs_node *n, size_t n_in, const ocs_tensor *const *in, ocs_pa_dims *out,
                                     ocs_pa_write **writes, ocs_err *err);

/* The sequence holding packed token t of a validated call. */
int64_t ocs_pa_seq_of(const ocs_pa_dims *c, int64_t t);

#endif
