/*
 * backends/cpu/moe_kernels.h - the weight-streaming dot-product kernels of
 * the CPU backend's MoE (moe.c), private to the backend.
 *
 * A kernel computes, for a block of weight rows and a few tokens,
 *
 *   out[t * ldo + r] = sum over q < K of W[r * ldw + q] * X[t * ldx + q]
 *
 * for r < nr and t < n, in float32, with W stored as float, float16 or
 * bfloat16 and X float.  Each weight element is loaded once for all n
 * tokens (several rows at a time, so every token vector loaded is used for
 * each of those rows), which keeps the work bound by the bandwidth that
 * streams the weights when n is small.  Variants: AVX-512F, AVX2+FMA+F16C,
 * and portable C; the caller picks one by what the processor offers.
 */
#ifndef OCS_CPU_MOE_KERNELS_H
#define OCS_CPU_MOE_KERNELS_H

#include <stddef.h>

#include "ocs/tensor.h"

typedef void (*ocs_moe_dot_fn)(const void *W, size_t ldw, size_t nr, const float *X, size_t ldx, size_t n,
                               size_t K, float *out, size_t ldo);

/* Instruction-set levels, best last. */
enum { OCS_MOE_ISA_C = 0, OCS_MOE_ISA_AVX2 = 1, OCS_MOE_ISA_AVX512 = 2 };

/* The best level this processor runs (runtime probe). */
int ocs_moe_isa_probe(void);

/* The kernel for weights of type wt (FLOAT, FLOAT16 or BFLOAT16) at level isa (or lower when not built). */
ocs_moe_dot_fn ocs_moe_dot_kernel(ocs_dtype wt, int isa);

/*
 * Many tokens: out[r * ldo + j] = sum over q < K of W[r * ldw + q] * Xt[q * 32 + j]
 * for r < nr and the 32 token columns j of Xt (tokens padded with zeros),
 * W float, float16 or bfloat16.  Register tiles of 8 rows by 32 tokens:
 * each weight element is broadcast once against two 16-token vectors, so
 * the work runs at arithmetic speed.  NULL when the processor lacks AVX-512.
 */
typedef void (*ocs_moe_gemm32_fn)(const void *W, size_t ldw, size_t nr, const float *Xt, size_t K, float *out,
                                  size_t ldo);
ocs_moe_gemm32_fn ocs_moe_gemm32_kernel(ocs_dtype wt, int isa);

/*
 * Gated activations in float32, each operation rounded to float as the
 * canonical graph's nodes do; only e^x differs from expf (a polynomial
 * within 2 ulp when vectorised).  u may be NULL (no up projection: u = 1).
 *   silu_mul:    h = (g * (1 / (1 + e^-g))) * u
 *   swiglu_oai:  G = min(g, limit), L = clamp(u, -limit, limit),
 *                h = (G * (1 / (1 + e^-(G alpha)))) * (L + beta)
 */
void ocs_moe_silu_mul(const float *g, const float *u, size_t n, float *h, int isa);
void ocs_moe_swiglu_oai(const float *g, const float *u, size_t n, float alpha, float beta, float limit, float *h,
                        int isa);

/* dst[i] = src[i] converted to float, src FLOAT, FLOAT16 or BFLOAT16. */
void ocs_moe_to_float(const void *src, ocs_dtype t, size_t n, float *dst, int isa);

#endif
