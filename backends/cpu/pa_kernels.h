/*
 * backends/cpu/pa_kernels.h - the inner loops of the CPU PagedAttention:
 * a small GEMM whose B rows come from a pointer per row (so key and value
 * rows are read where they lie in the paged cache), dot products of query
 * rows with key rows, the transposed packing of a key tile, the softmax
 * exponentials, and float16/bfloat16 conversions.
 *
 * Three implementations sit behind one table: portable C, AVX2/FMA/F16C,
 * and the same with AVX-512 GEMM, decode, max and exp kernels (the last two
 * compiled with target attributes and chosen at run time).  All compute in float32; they
 * differ only in rounding order.
 */
#ifndef OCS_CPU_PA_KERNELS_H
#define OCS_CPU_PA_KERNELS_H

#include <stddef.h>
#include <stdint.h>

typedef struct ocs_pa_kernels {
    const char *name;   /* "avx2" or "portable" */
    /*
     * C[r*ldc + c] = (alpha ? alpha[r] * C[r*ldc + c] : 0) + sum_k A[r*lda + k] * B[k][boff + c]
     * for r < R, c < N, k < K.
     */
    void (*gemm)(size_t R, size_t N, size_t K, const float *A, size_t lda, const float *const *B, size_t boff,
                 float *C, size_t ldc, const float *alpha);
    /* S[r*lds + j] = sum_d Q[r*ldq + d] * Kr[j][koff + d], for r < R, j < N, d < D. */
    void (*dot)(size_t R, size_t N, size_t D, const float *Q, size_t ldq, const float *const *Kr, size_t koff,
                float *S, size_t lds);
    /*
     * Decode, every KV head at once, reading key/value slots in address order
     * (slot j holds H heads of D floats):
     *   dec_qk: S[(g*Rg + r)*lds + j] = sum_d Q[(g*Rg + r)*D + d] * Ks[j][g*D + d]
     *   dec_pv: O[(g*Rg + r)*D + c] = alpha[g*Rg + r] * O[..] + sum_j P[(g*Rg + r)*lds + j] * Vs[j][g*D + c]
     * for g < H, r < Rg, j < N, c < D.
     * While they compute, both ask for the first pf_bytes of the rows pf[j],
     * j < N, to be brought into the cache (pf NULL, or pf[j] NULL: none), a
     * slice per KV head, so that the requests for a later tile are spread over
     * the work on this one instead of issued in a burst.
     */
    void (*dec_qk)(size_t H, size_t Rg, size_t N, size_t D, const float *Q, const float *const *Ks, float *S,
                   size_t lds, const char *const *pf, size_t pf_bytes);
    void (*dec_pv)(size_t H, size_t Rg, size_t N, size_t D, const float *P, size_t lds, const float *const *Vs,
                   float *O, const float *alpha, const char *const *pf, size_t pf_bytes);
    /* Kp[d*ldk + j] = Kr[j][d] for j < N (N a multiple of 8), d < D. */
    void (*pack_t)(size_t N, size_t D, const float *const *Kr, float *Kp, size_t ldk);
    /* Largest of x[0..n), n >= 1. */
    float (*max)(const float *x, size_t n);
    /* x[i] = exp(x[i] - m) (0 where x[i] is -inf); returns the sum. */
    float (*exp_sum)(float *x, size_t n, float m);
    /* Conversions of n elements. */
    void (*h2f)(const uint16_t *src, float *dst, size_t n);
    void (*b2f)(const uint16_t *src, float *dst, size_t n);
    void (*f2h)(const float *src, uint16_t *dst, size_t n);
    void (*f2b)(const float *src, uint16_t *dst, size_t n);
} ocs_pa_kernels;

/* The AVX2 table when avx2 and fma are present (the caller's probe) and the
 * processor has F16C, the AVX-512 one when avx512f is present too, else the
 * portable one. */
const ocs_pa_kernels *ocs_pa_kernels_select(int avx2, int fma, int avx512f);
/* The portable table (tests compare both). */
const ocs_pa_kernels *ocs_pa_kernels_portable(void);

#endif
