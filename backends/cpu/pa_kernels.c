/*
 * backends/cpu/pa_kernels.c - inner loops of the CPU PagedAttention (see
 * pa_kernels.h): portable C, and AVX2/FMA/F16C versions compiled with
 * target attributes so that the rest of the build stays portable.
 *
 * The AVX2 GEMM is a 6x16 register-blocked micro-kernel (12 accumulators)
 * whose B rows are addressed through a pointer per row: the same kernel
 * multiplies Q by a packed K^T tile and P by value rows.  Row and column
 * tails are the same kernel with fewer rows and with 8-wide or masked
 * columns.  The decode kernels walk the cache slots in address order (every
 * KV head of a slot before the next slot) with the dot-product tile (up to 4
 * query rows by 2 keys) and the GEMM tile.
 */
#include "pa_kernels.h"

#include <math.h>
#include <string.h>

#include "ocs/tensor.h"

#if defined(__x86_64__) || defined(__i386__)
#define PA_X86 1
#include <cpuid.h>
#include <immintrin.h>
#endif

/* ---- portable ------------------------------------------------------------------- */

/*
 * Slice g of H of the first bytes of rows pf[j0..j1): asks for its cache
 * lines with the hint for the second-level cache (rows read once do not
 * belong in the first).
 */
static inline void prefetch_slice(const char *const *pf, size_t j0, size_t j1, size_t bytes, size_t g, size_t H)
{
    if (!pf)
        return;
    const size_t lines = (bytes + 63) / 64, l0 = g * lines / H, l1 = (g + 1) * lines / H;
    for (size_t j = j0; j < j1; j++) {
        if (!pf[j])
            continue;
#if defined(__GNUC__)
        for (size_t l = l0; l < l1; l++)
            __builtin_prefetch(pf[j] + l * 64, 0, 2);
#endif
    }
}

static void gemm_c(size_t R, size_t N, size_t K, const float *A, size_t lda, const float *const *B, size_t boff,
                   float *C, size_t ldc, const float *alpha)
{
    for (size_t r = 0; r < R; r++) {
        float *c = C + r * ldc;
        const float s = alpha ? alpha[r] : 0.0f;
        for (size_t j = 0; j < N; j++)
            c[j] = alpha ? s * c[j] : 0.0f;
        const float *a = A + r * lda;
        for (size_t k = 0; k < K; k++) {
            const float x = a[k];
            const float *b = B[k] + boff;
            for (size_t j = 0; j < N; j++)
                c[j] += x * b[j];
        }
    }
}

static void dot_c(size_t R, size_t N, size_t D, const float *Q, size_t ldq, const float *const *Kr, size_t koff,
                  float *S, size_t lds)
{
    for (size_t j = 0; j < N; j++) {
        const float *k = Kr[j] + koff;
        for (size_t r = 0; r < R; r++) {
            const float *q = Q + r * ldq;
            float s = 0.0f;
            for (size_t d = 0; d < D; d++)
                s += q[d] * k[d];
            S[r * lds + j] = s;
        }
    }
}

static void dec_qk_c(size_t H, size_t Rg, size_t N, size_t D, const float *Q, const float *const *Ks, float *S,
                     size_t lds, const char *const *pf, size_t pf_bytes)
{
    for (size_t j = 0; j < N; j++)
        for (size_t g = 0; g < H; g++) {
            prefetch_slice(pf, j, j + 1, pf_bytes, g, H);
            dot_c(Rg, 1, D, Q + g * Rg * D, D, Ks + j, g * D, S + g * Rg * lds + j, lds);
        }
}

static void dec_pv_c(size_t H, size_t Rg, size_t N, size_t D, const float *P, size_t lds, const float *const *Vs,
                     float *O, const float *alpha, const char *const *pf, size_t pf_bytes)
{
    for (size_t g = 0; g < H; g++) {
        prefetch_slice(pf, 0, N, pf_bytes, g, H);
        gemm_c(Rg, D, N, P + g * Rg * lds, lds, Vs, g * D, O + g * Rg * D, D, alpha + g * Rg);
    }
}

static void pack_t_c(size_t N, size_t D, const float *const *Kr, float *Kp, size_t ldk)
{
    for (size_t j = 0; j < N; j++) {
        const float *k = Kr[j];
        for (size_t d = 0; d < D; d++)
            Kp[d * ldk + j] = k[d];
    }
}

static float max_c(const float *x, size_t n)
{
    float m = x[0];
    for (size_t i = 1; i < n; i++)
        if (x[i] > m)
            m = x[i];
    return m;
}

static float exp_sum_c(float *x, size_t n, float m)
{
    float s = 0.0f;
    for (size_t i = 0; i < n; i++) {
        const float e = x[i] == -INFINITY ? 0.0f : expf(x[i] - m);
        x[i] = e;
        s += e;
    }
    return s;
}

static void h2f_c(const uint16_t *src, float *dst, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = ocs_half_to_float(src[i]);
}

static void b2f_c(const uint16_t *src, float *dst, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = ocs_bfloat16_to_float(src[i]);
}

static void f2h_c(const float *src, uint16_t *dst, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = ocs_float_to_half(src[i]);
}

static void f2b_c(const float *src, uint16_t *dst, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = ocs_float_to_bfloat16(src[i]);
}

static const ocs_pa_kernels portable = {
    .name = "portable",
    .gemm = gemm_c,
    .dot = dot_c,
    .dec_qk = dec_qk_c,
    .dec_pv = dec_pv_c,
    .pack_t = pack_t_c,
    .max = max_c,
    .exp_sum = exp_sum_c,
    .h2f = h2f_c,
    .b2f = b2f_c,
    .f2h = f2h_c,
    .f2b = f2b_c,
};

const ocs_pa_kernels *ocs_pa_kernels_portable(void)
{
    return &portable;
}

#ifdef PA_X86
/* ---- AVX2 / FMA / F16C ------------------------------------------------------------ */

#define AVX2_FN __attribute__((target("avx2,fma,f16c")))
#define AVX2_INLINE static inline __attribute__((always_inline, target("avx2,fma,f16c")))

/* Lanes 0..n-1 set, n in 1..7. */
AVX2_INLINE __m256i tail_mask(size_t n)
{
    static const int32_t bits[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    return _mm256_loadu_si256((const __m256i *)(bits + 8 - n));
}

/*
 * One register tile of C: mr rows (1..6) by 16 columns (nv = 2), 8 columns
 * (nv = 1) or fewer than 8 columns under mask (nv = 0).  mr and nv are
 * constants at every call, so the row and column conditions fold away.
 */
AVX2_INLINE void gemm_tile(const int mr, const int nv, __m256i mask, size_t K, const float *A, size_t lda,
                           const float *const *B, size_t c0, float *C, size_t ldc, const float *alpha)
{
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    const float *a0 = A, *a1 = A + lda, *a2 = A + 2 * lda, *a3 = A + 3 * lda, *a4 = A + 4 * lda, *a5 = A + 5 * lda;
    for (size_t k = 0; k < K; k++) {
        const float *b = B[k] + c0;
        __m256 b0, b1 = _mm256_setzero_ps(), x;
        b0 = nv == 0 ? _mm256_maskload_ps(b, mask) : _mm256_loadu_ps(b);
        if (nv == 2)
            b1 = _mm256_loadu_ps(b + 8);
#define PA_ROW(i)                                                   \
    if (mr > i) {                                                   \
        x = _mm256_broadcast_ss(a##i + k);                          \
        c##i##0 = _mm256_fmadd_ps(x, b0, c##i##0);                  \
        if (nv == 2)                                                \
            c##i##1 = _mm256_fmadd_ps(x, b1, c##i##1);              \
    }
        PA_ROW(0)
        PA_ROW(1)
        PA_ROW(2)
        PA_ROW(3)
        PA_ROW(4)
        PA_ROW(5)
#undef PA_ROW
    }
#define PA_STORE(i)                                                                   \
    if (mr > i) {                                                                     \
        float *c = C + (size_t)i * ldc;                                               \
        if (alpha) {                                                                  \
            const __m256 s = _mm256_broadcast_ss(alpha + i);                          \
            if (nv == 0) {                                                            \
                c##i##0 = _mm256_fmadd_ps(s, _mm256_maskload_ps(c, mask), c##i##0);   \
            } else {                                                                  \
                c##i##0 = _mm256_fmadd_ps(s, _mm256_loadu_ps(c), c##i##0);            \
                if (nv == 2)                                                          \
                    c##i##1 = _mm256_fmadd_ps(s, _mm256_loadu_ps(c + 8), c##i##1);    \
            }                                                                         \
        }                                                                             \
        if (nv == 0) {                                                                \
            _mm256_maskstore_ps(c, mask, c##i##0);                                    \
        } else {                                                                      \
            _mm256_storeu_ps(c, c##i##0);                                             \
            if (nv == 2)                                                              \
                _mm256_storeu_ps(c + 8, c##i##1);                                     \
        }                                                                             \
    }
    PA_STORE(0)
    PA_STORE(1)
    PA_STORE(2)
    PA_STORE(3)
    PA_STORE(4)
    PA_STORE(5)
#undef PA_STORE
}

/* All rows of one column strip: 6-row tiles, then the remainder. */
AVX2_INLINE void gemm_strip(const int nv, __m256i mask, size_t R, size_t K, const float *A, size_t lda,
                            const float *const *B, size_t c0, float *C, size_t ldc, const float *alpha)
{
    size_t r = 0;
    for (; r + 6 <= R; r += 6)
        gemm_tile(6, nv, mask, K, A + r * lda, lda, B, c0, C + r * ldc, ldc, alpha ? alpha + r : NULL);
    const float *a = A + r * lda;
    float *c = C + r * ldc;
    const float *al = alpha ? alpha + r : NULL;
    switch (R - r) {
    case 5: gemm_tile(5, nv, mask, K, a, lda, B, c0, c, ldc, al); break;
    case 4: gemm_tile(4, nv, mask, K, a, lda, B, c0, c, ldc, al); break;
    case 3: gemm_tile(3, nv, mask, K, a, lda, B, c0, c, ldc, al); break;
    case 2: gemm_tile(2, nv, mask, K, a, lda, B, c0, c, ldc, al); break;
    case 1: gemm_tile(1, nv, mask, K, a, lda, B, c0, c, ldc, al); break;
    default: break;
    }
}

AVX2_INLINE void gemm_body(size_t R, size_t N, size_t K, const float *A, size_t lda, const float *const *B,
                           size_t boff, float *C, size_t ldc, const float *alpha)
{
    const __m256i all = _mm256_set1_epi32(-1);
    size_t c = 0;
    for (; c + 16 <= N; c += 16)
        gemm_strip(2, all, R, K, A, lda, B, boff + c, C + c, ldc, alpha);
    if (c + 8 <= N) {
        gemm_strip(1, all, R, K, A, lda, B, boff + c, C + c, ldc, alpha);
        c += 8;
    }
    if (c < N)
        gemm_strip(0, tail_mask(N - c), R, K, A, lda, B, boff + c, C + c, ldc, alpha);
}

AVX2_FN static void gemm_avx2(size_t R, size_t N, size_t K, const float *A, size_t lda, const float *const *B,
                              size_t boff, float *C, size_t ldc, const float *alpha)
{
    gemm_body(R, N, K, A, lda, B, boff, C, ldc, alpha);
}

/* Sums of four vectors: lane i of the result is the sum of the lanes of v_i. */
AVX2_INLINE __m128 hsum4(__m256 v0, __m256 v1, __m256 v2, __m256 v3)
{
    const __m256 t0 = _mm256_hadd_ps(v0, v1), t1 = _mm256_hadd_ps(v2, v3);
    const __m256 t2 = _mm256_hadd_ps(t0, t1);
    return _mm_add_ps(_mm256_castps256_ps128(t2), _mm256_extractf128_ps(t2, 1));
}

/* mr query rows (1..4) against nk key rows (1 or 2) at key index j. */
AVX2_INLINE void dot_tile(const int mr, const int nk, size_t D, const float *Q, size_t ldq, const float *const *Kr,
                          size_t koff, size_t j, float *S, size_t lds)
{
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
    const float *k0 = Kr[j] + koff, *k1 = (nk == 2 ? Kr[j + 1] : Kr[j]) + koff;
    const float *q0 = Q, *q1 = Q + ldq, *q2 = Q + 2 * ldq, *q3 = Q + 3 * ldq;
    size_t d = 0;
    __m256 x, v0, v1 = _mm256_setzero_ps();
/* the empty asm keeps x in a register: folded into both FMAs, the load would be issued twice */
#define PA_DROW(i, LOAD)                                        \
    if (mr > i) {                                               \
        x = LOAD(q##i + d);                                     \
        if (nk == 2)                                            \
            __asm__("" : "+x"(x));                              \
        c##i##0 = _mm256_fmadd_ps(x, v0, c##i##0);              \
        if (nk == 2)                                            \
            c##i##1 = _mm256_fmadd_ps(x, v1, c##i##1);          \
    }
    for (; d + 8 <= D; d += 8) {
        v0 = _mm256_loadu_ps(k0 + d);
        if (nk == 2)
            v1 = _mm256_loadu_ps(k1 + d);
        PA_DROW(0, _mm256_loadu_ps)
        PA_DROW(1, _mm256_loadu_ps)
        PA_DROW(2, _mm256_loadu_ps)
        PA_DROW(3, _mm256_loadu_ps)
    }
    if (d < D) {
        const __m256i m = tail_mask(D - d);
#define PA_MLOAD(p) _mm256_maskload_ps(p, m)
        v0 = PA_MLOAD(k0 + d);
        if (nk == 2)
            v1 = PA_MLOAD(k1 + d);
        PA_DROW(0, PA_MLOAD)
        PA_DROW(1, PA_MLOAD)
        PA_DROW(2, PA_MLOAD)
        PA_DROW(3, PA_MLOAD)
#undef PA_MLOAD
    }
#undef PA_DROW
    float out[4];
    _mm_storeu_ps(out, hsum4(c00, c10, c20, c30));
    for (int i = 0; i < mr; i++)
        S[(size_t)i * lds + j] = out[i];
    if (nk == 2) {
        _mm_storeu_ps(out, hsum4(c01, c11, c21, c31));
        for (int i = 0; i < mr; i++)
            S[(size_t)i * lds + j + 1] = out[i];
    }
}

AVX2_INLINE void dot_keys(const int nk, size_t R, size_t D, const float *Q, size_t ldq, const float *const *Kr,
                          size_t koff, size_t j, float *S, size_t lds)
{
    size_t r = 0;
    for (; r + 4 <= R; r += 4)
        dot_tile(4, nk, D, Q + r * ldq, ldq, Kr, koff, j, S + r * lds, lds);
    switch (R - r) {
    case 3: dot_tile(3, nk, D, Q + r * ldq, ldq, Kr, koff, j, S + r * lds, lds); break;
    case 2: dot_tile(2, nk, D, Q + r * ldq, ldq, Kr, koff, j, S + r * lds, lds); break;
    case 1: dot_tile(1, nk, D, Q + r * ldq, ldq, Kr, koff, j, S + r * lds, lds); break;
    default: break;
    }
}

AVX2_FN static void dot_avx2(size_t R, size_t N, size_t D, const float *Q, size_t ldq, const float *const *Kr,
                             size_t koff, float *S, size_t lds)
{
    size_t j = 0;
    for (; j + 2 <= N; j += 2)
        dot_keys(2, R, D, Q, ldq, Kr, koff, j, S, lds);
    if (j < N)
        dot_keys(1, R, D, Q, ldq, Kr, koff, j, S, lds);
}

AVX2_FN static void dec_qk_avx2(size_t H, size_t Rg, size_t N, size_t D, const float *Q, const float *const *Ks,
                                float *S, size_t lds, const char *const *pf, size_t pf_bytes)
{
    size_t j = 0;
    for (; j + 2 <= N; j += 2)
        for (size_t g = 0; g < H; g++) {
            prefetch_slice(pf, j, j + 2, pf_bytes, g, H);
            dot_keys(2, Rg, D, Q + g * Rg * D, D, Ks, g * D, j, S + g * Rg * lds, lds);
        }
    if (j < N)
        for (size_t g = 0; g < H; g++) {
            prefetch_slice(pf, j, j + 1, pf_bytes, g, H);
            dot_keys(1, Rg, D, Q + g * Rg * D, D, Ks, g * D, j, S + g * Rg * lds, lds);
        }
}

/* Groups of 8 slots, every head per group: each group's slots are read front to back. */
AVX2_FN static void dec_pv_avx2(size_t H, size_t Rg, size_t N, size_t D, const float *P, size_t lds,
                                const float *const *Vs, float *O, const float *alpha, const char *const *pf,
                                size_t pf_bytes)
{
    for (size_t j = 0; j < N; j += 8) {
        const size_t n = N - j < 8 ? N - j : 8;
        for (size_t g = 0; g < H; g++) {
            prefetch_slice(pf, j, j + n, pf_bytes, g, H);
            float *o = O + g * Rg * D;
            const float *p = P + g * Rg * lds + j;
            if (j == 0) {
                gemm_body(Rg, D, n, p, lds, Vs + j, g * D, o, D, alpha + g * Rg);
            } else {
                /* accumulate: alpha = 1 */
                float ones[8] = {1, 1, 1, 1, 1, 1, 1, 1};
                for (size_t r = 0; r < Rg; r += 8) {
                    const size_t m = Rg - r < 8 ? Rg - r : 8;
                    gemm_body(m, D, n, p + r * lds, lds, Vs + j, g * D, o + r * D, D, ones);
                }
            }
        }
    }
}

AVX2_FN static void pack_t_avx2(size_t N, size_t D, const float *const *Kr, float *Kp, size_t ldk)
{
    for (size_t j = 0; j < N; j += 8) {
        const float *r0 = Kr[j], *r1 = Kr[j + 1], *r2 = Kr[j + 2], *r3 = Kr[j + 3];
        const float *r4 = Kr[j + 4], *r5 = Kr[j + 5], *r6 = Kr[j + 6], *r7 = Kr[j + 7];
        size_t d = 0;
        for (; d + 8 <= D; d += 8) {
            const __m256 t0 = _mm256_unpacklo_ps(_mm256_loadu_ps(r0 + d), _mm256_loadu_ps(r1 + d));
            const __m256 t1 = _mm256_unpackhi_ps(_mm256_loadu_ps(r0 + d), _mm256_loadu_ps(r1 + d));
            const __m256 t2 = _mm256_unpacklo_ps(_mm256_loadu_ps(r2 + d), _mm256_loadu_ps(r3 + d));
            const __m256 t3 = _mm256_unpackhi_ps(_mm256_loadu_ps(r2 + d), _mm256_loadu_ps(r3 + d));
            const __m256 t4 = _mm256_unpacklo_ps(_mm256_loadu_ps(r4 + d), _mm256_loadu_ps(r5 + d));
            const __m256 t5 = _mm256_unpackhi_ps(_mm256_loadu_ps(r4 + d), _mm256_loadu_ps(r5 + d));
            const __m256 t6 = _mm256_unpacklo_ps(_mm256_loadu_ps(r6 + d), _mm256_loadu_ps(r7 + d));
            const __m256 t7 = _mm256_unpackhi_ps(_mm256_loadu_ps(r6 + d), _mm256_loadu_ps(r7 + d));
            const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
            const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
            const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
            const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
            float *o = Kp + d * ldk + j;
            _mm256_storeu_ps(o, _mm256_permute2f128_ps(u0, u4, 0x20));
            _mm256_storeu_ps(o + ldk, _mm256_permute2f128_ps(u1, u5, 0x20));
            _mm256_storeu_ps(o + 2 * ldk, _mm256_permute2f128_ps(u2, u6, 0x20));
            _mm256_storeu_ps(o + 3 * ldk, _mm256_permute2f128_ps(u3, u7, 0x20));
            _mm256_storeu_ps(o + 4 * ldk, _mm256_permute2f128_ps(u0, u4, 0x31));
            _mm256_storeu_ps(o + 5 * ldk, _mm256_permute2f128_ps(u1, u5, 0x31));
            _mm256_storeu_ps(o + 6 * ldk, _mm256_permute2f128_ps(u2, u6, 0x31));
            _mm256_storeu_ps(o + 7 * ldk, _mm256_permute2f128_ps(u3, u7, 0x31));
        }
        for (; d < D; d++) {
            float *o = Kp + d * ldk + j;
            o[0] = r0[d];
            o[1] = r1[d];
            o[2] = r2[d];
            o[3] = r3[d];
            o[4] = r4[d];
            o[5] = r5[d];
            o[6] = r6[d];
            o[7] = r7[d];
        }
    }
}

AVX2_FN static float max_avx2(const float *x, size_t n)
{
    size_t i = 0;
    float m = x[0];
    if (n >= 8) {
        __m256 v = _mm256_loadu_ps(x);
        for (i = 8; i + 8 <= n; i += 8)
            v = _mm256_max_ps(v, _mm256_loadu_ps(x + i));
        __m128 h = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        h = _mm_max_ps(h, _mm_movehl_ps(h, h));
        h = _mm_max_ss(h, _mm_shuffle_ps(h, h, 1));
        m = _mm_cvtss_f32(h);
    }
    for (; i < n; i++)
        if (x[i] > m)
            m = x[i];
    return m;
}

/* exp(x) for x <= 88 to about 2 ulp (Cephes' expf polynomial); lanes below -87 give 0. */
AVX2_INLINE __m256 exp256(__m256 x)
{
    const __m256 live = _mm256_cmp_ps(x, _mm256_set1_ps(-87.0f), _CMP_GE_OQ);
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.0f)), _mm256_set1_ps(88.0f));
    __m256 n = _mm256_round_ps(_mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f)),
                               _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    x = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    x = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), x);
    __m256 y = _mm256_set1_ps(1.9875691500e-4f);
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507e-3f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073e-3f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894e-2f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459e-1f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201e-1f));
    y = _mm256_fmadd_ps(y, _mm256_mul_ps(x, x), _mm256_add_ps(x, _mm256_set1_ps(1.0f)));
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_and_ps(_mm256_mul_ps(y, _mm256_castsi256_ps(e)), live);
}

AVX2_FN static float exp_sum_avx2(float *x, size_t n, float m)
{
    const __m256 mv = _mm256_set1_ps(m);
    __m256 acc = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 e = exp256(_mm256_sub_ps(_mm256_loadu_ps(x + i), mv));
        _mm256_storeu_ps(x + i, e);
        acc = _mm256_add_ps(acc, e);
    }
    if (i < n) {
        const __m256i mask = tail_mask(n - i);
        const __m256 e = _mm256_and_ps(exp256(_mm256_sub_ps(_mm256_maskload_ps(x + i, mask), mv)),
                                       _mm256_castsi256_ps(mask));
        _mm256_maskstore_ps(x + i, mask, e);
        acc = _mm256_add_ps(acc, e);
    }
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
    return _mm_cvtss_f32(h);
}

AVX2_FN static void h2f_avx2(const uint16_t *src, float *dst, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
    for (; i < n; i++)
        dst[i] = ocs_half_to_float(src[i]);
}

AVX2_FN static void b2f_avx2(const uint16_t *src, float *dst, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(src + i)));
        _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(_mm256_slli_epi32(w, 16)));
    }
    for (; i < n; i++)
        dst[i] = ocs_bfloat16_to_float(src[i]);
}

AVX2_FN static void f2h_avx2(const float *src, uint16_t *dst, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(dst + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    for (; i < n; i++)
        dst[i] = ocs_float_to_half(src[i]);
}

/* Round to nearest even on the upper 16 bits; NaN stays a quiet NaN. */
AVX2_FN static void f2b_avx2(const float *src, uint16_t *dst, size_t n)
{
    size_t i = 0;
    const __m256i one = _mm256_set1_epi32(1), bias = _mm256_set1_epi32(0x7FFF);
    const __m256i abs = _mm256_set1_epi32(0x7FFFFFFF), inf = _mm256_set1_epi32(0x7F800000);
    const __m256i quiet = _mm256_set1_epi32(0x40);
    for (; i + 8 <= n; i += 8) {
        const __m256i b = _mm256_castps_si256(_mm256_loadu_ps(src + i));
        const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(b, 16), one);
        const __m256i rounded = _mm256_srli_epi32(_mm256_add_epi32(b, _mm256_add_epi32(bias, lsb)), 16);
        const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(b, abs), inf);
        const __m256i qnan = _mm256_or_si256(_mm256_srli_epi32(b, 16), quiet);
        const __m256i r = _mm256_blendv_epi8(rounded, qnan, nan);
        _mm_storeu_si128((__m128i *)(dst + i),
                         _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1)));
    }
    for (; i < n; i++)
        dst[i] = ocs_float_to_bfloat16(src[i]);
}

static const ocs_pa_kernels avx2 = {
    .name = "avx2",
    .gemm = gemm_avx2,
    .dot = dot_avx2,
    .dec_qk = dec_qk_avx2,
    .dec_pv = dec_pv_avx2,
    .pack_t = pack_t_avx2,
    .max = max_avx2,
    .exp_sum = exp_sum_avx2,
    .h2f = h2f_avx2,
    .b2f = b2f_avx2,
    .f2h = f2h_avx2,
    .f2b = f2b_avx2,
};
/* ---- AVX-512 decode ------------------------------------------------------------- */

/*
 * The decode kernels again, on 512-bit registers.  Decode streams every key
 * and value row from memory once; a core keeps only as many of those reads
 * in flight as its reorder window holds instructions, so the fewer
 * instructions per byte, the more of the memory latency is covered.  Here a
 * key row is dotted with up to 4 query rows 4 keys at a time (8
 * instructions per 64 bytes of keys, against 14 for the AVX2 tile), and the
 * value tile keeps a 4-row by 64-column block of the output in registers
 * over all the tile's keys, broadcasting P from memory.
 */
#define PA_PVG 8   /* value slots per pass over the heads: each pass reads 8 slots front to back */
#define AVX512_FN __attribute__((target("avx512f,avx2,fma,f16c")))
#define AVX512_INLINE static inline __attribute__((always_inline, target("avx512f,avx2,fma,f16c")))


/* The lanes of a and b summed pairwise: in each 128-bit chunk, [a0+a2, b0+b2, a1+a3, b1+b3]. */
AVX512_INLINE __m512 pair_add(__m512 a, __m512 b)
{
    return _mm512_add_ps(_mm512_unpacklo_ps(a, b), _mm512_unpackhi_ps(a, b));
}

/*
 * The horizontal sums of 16 vectors, v[r][i] -> lane 4r + i, by a tree of
 * adds over shuffles (45 instructions, against 92 for folding each vector
 * and summing groups of four).
 */
AVX512_INLINE __m512 sum16(__m512 v[4][4])
{
    __m512 q[4];
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++) {
        /* per 128-bit chunk c: [v0_c, v1_c, v2_c, v3_c], each the sum of that chunk of v[r][i] */
        const __m512 t0 = pair_add(v[r][0], v[r][1]), t1 = pair_add(v[r][2], v[r][3]);
        q[r] = _mm512_add_ps(_mm512_shuffle_ps(t0, t1, 0x44), _mm512_shuffle_ps(t0, t1, 0xEE));
    }
    /* chunks: [q0 c0+c2, q0 c1+c3, q1 c0+c2, q1 c1+c3], the same for q2, q3 */
    const __m512 h0 = _mm512_add_ps(_mm512_shuffle_f32x4(q[0], q[1], 0x44), _mm512_shuffle_f32x4(q[0], q[1], 0xEE));
    const __m512 h1 = _mm512_add_ps(_mm512_shuffle_f32x4(q[2], q[3], 0x44), _mm512_shuffle_f32x4(q[2], q[3], 0xEE));
    /* chunks: the totals of q0, q1, q2, q3 */
    return _mm512_add_ps(_mm512_shuffle_f32x4(h0, h1, 0x88), _mm512_shuffle_f32x4(h0, h1, 0xDD));
}

/* mr query rows (1..4) against nk keys (1..4) from key index j: S[r*lds + j + i] = Q_r . K_{j+i}. */
AVX512_INLINE void dot_tile512(const int mr, const int nk, size_t D, const float *Q, size_t ldq,
                               const float *const *Kr, size_t koff, size_t j, float *S, size_t lds)
{
    __m512 acc[4][4];
    const float *k[4];
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        k[i] = Kr[j + (i < nk ? i : 0)] + koff;
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++)
            acc[r][i] = _mm512_setzero_ps();
    }
    size_t d = 0;
    __mmask16 m = 0xFFFF;
    for (;;) {
        if (d + 16 > D) {
            if (d >= D)
                break;
            m = (__mmask16)((1u << (D - d)) - 1);
        }
        __m512 kv[4];
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++)
            if (i < nk)
                kv[i] = _mm512_maskz_loadu_ps(m, k[i] + d);
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++)
            if (r < mr) {
                const __m512 q = _mm512_maskz_loadu_ps(m, Q + (size_t)r * ldq + d);
#pragma GCC unroll 4
                for (int i = 0; i < 4; i++)
                    if (i < nk)
                        acc[r][i] = _mm512_fmadd_ps(q, kv[i], acc[r][i]);
            }
        d += 16;
    }
    /* 16 dot products in one vector, 128-bit chunk r = row r's nk keys */
    const __m512 sums = sum16(acc);
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++)
        if (r < mr) {
            float *s = S + (size_t)r * lds + j;
            const __m128 v = r == 0 ? _mm512_castps512_ps128(sums) : _mm512_extractf32x4_ps(sums, r);
            if (nk == 4) {
                _mm_storeu_ps(s, v);
            } else {
                float out[4];
                _mm_storeu_ps(out, v);
#pragma GCC unroll 4
                for (int i = 0; i < 4; i++)
                    if (i < nk)
                        s[i] = out[i];
            }
        }
}

/* Every row block of 4 (then the remainder) against nk keys from j. */
AVX512_INLINE void dot_keys512(const int nk, size_t R, size_t D, const float *Q, size_t ldq, const float *const *Kr,
                               size_t koff, size_t j, float *S, size_t lds)
{
    size_t r = 0;
    for (; r + 4 <= R; r += 4)
        dot_tile512(4, nk, D, Q + r * ldq, ldq, Kr, koff, j, S + r * lds, lds);
    switch (R - r) {
    case 3: dot_tile512(3, nk, D, Q + r * ldq, ldq, Kr, koff, j, S + r * lds, lds); break;
    case 2: dot_tile512(2, nk, D, Q + r * ldq, ldq, Kr, koff, j, S + r * lds, lds); break;
    case 1: dot_tile512(1, nk, D, Q + r * ldq, ldq, Kr, koff, j, S + r * lds, lds); break;
    default: break;
    }
}

AVX512_FN static void dec_qk_avx512(size_t H, size_t Rg, size_t N, size_t D, const float *Q,
                                    const float *const *Ks, float *S, size_t lds, const char *const *pf,
                                    size_t pf_bytes)
{
    size_t j = 0;
    for (; j + 4 <= N; j += 4)
        for (size_t g = 0; g < H; g++) {
            prefetch_slice(pf, j, j + 4, pf_bytes, g, H);
            dot_keys512(4, Rg, D, Q + g * Rg * D, D, Ks, g * D, j, S + g * Rg * lds, lds);
        }
    if (j == N)
        return;
    for (size_t g = 0; g < H; g++) {
        prefetch_slice(pf, j, N, pf_bytes, g, H);
        const float *q = Q + g * Rg * D;
        float *s = S + g * Rg * lds;
        switch (N - j) {
        case 3: dot_keys512(3, Rg, D, q, D, Ks, g * D, j, s, lds); break;
        case 2: dot_keys512(2, Rg, D, q, D, Ks, g * D, j, s, lds); break;
        default: dot_keys512(1, Rg, D, q, D, Ks, g * D, j, s, lds); break;
        }
    }
}

/*
 * O[r*ldo + c] = alpha[r] * O[..] + sum_{j<N} P[r*lds + j] * V[j][voff + c] for mr rows (1..4) and nc
 * vectors of 16 columns (1..4), the last under mask `last`.
 */
AVX512_INLINE void pv_tile512(const int mr, const int nc, __mmask16 last, size_t N, const float *P, size_t lds,
                              const float *const *V, size_t voff, float *O, size_t ldo, const float *alpha)
{
    __m512 acc[4][4];
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++)
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++)
            acc[r][c] = _mm512_setzero_ps();
    for (size_t j = 0; j < N; j++) {
        const float *v = V[j] + voff;
        __m512 vv[4];
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++)
            if (c < nc)
                vv[c] = c == nc - 1 ? _mm512_maskz_loadu_ps(last, v + 16 * c) : _mm512_loadu_ps(v + 16 * c);
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++)
            if (r < mr) {
                const __m512 p = _mm512_set1_ps(P[(size_t)r * lds + j]);
#pragma GCC unroll 4
                for (int c = 0; c < 4; c++)
                    if (c < nc)
                        acc[r][c] = _mm512_fmadd_ps(p, vv[c], acc[r][c]);
            }
    }
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++)
        if (r < mr) {
            const __m512 a = _mm512_set1_ps(alpha[r]);
            float *o = O + (size_t)r * ldo;
#pragma GCC unroll 4
            for (int c = 0; c < 4; c++)
                if (c < nc) {
                    const __mmask16 mk = c == nc - 1 ? last : (__mmask16)0xFFFF;
                    const __m512 x = _mm512_fmadd_ps(a, _mm512_maskz_loadu_ps(mk, o + 16 * c), acc[r][c]);
                    _mm512_mask_storeu_ps(o + 16 * c, mk, x);
                }
        }
}

/* All columns of mr rows: blocks of 64, then one block of the remaining 1..63. */
AVX512_INLINE void pv_rows512(const int mr, size_t N, size_t D, const float *P, size_t lds, const float *const *V,
                              size_t voff, float *O, size_t ldo, const float *alpha)
{
    size_t c = 0;
    for (; c + 64 <= D; c += 64)
        pv_tile512(mr, 4, 0xFFFF, N, P, lds, V, voff + c, O + c, ldo, alpha);
    if (c == D)
        return;
    const size_t rest = D - c, nv = (rest + 15) / 16;
    const __mmask16 last = (__mmask16)(rest % 16 ? (1u << (rest % 16)) - 1 : 0xFFFF);
    switch (nv) {
    case 3: pv_tile512(mr, 3, last, N, P, lds, V, voff + c, O + c, ldo, alpha); break;
    case 2: pv_tile512(mr, 2, last, N, P, lds, V, voff + c, O + c, ldo, alpha); break;
    default: pv_tile512(mr, 1, last, N, P, lds, V, voff + c, O + c, ldo, alpha); break;
    }
}

AVX512_FN static void dec_pv_avx512(size_t H, size_t Rg, size_t N, size_t D, const float *P, size_t lds,
                                    const float *const *Vs, float *O, const float *alpha, const char *const *pf,
                                    size_t pf_bytes)
{
    static const float ones[4] = {1.0f, 1.0f, 1.0f, 1.0f};
    for (size_t j = 0; j < N; j += PA_PVG) {
        const size_t n = N - j < PA_PVG ? N - j : PA_PVG;
        for (size_t g = 0; g < H; g++) {
            prefetch_slice(pf, j, j + n, pf_bytes, g, H);
            const float *p = P + g * Rg * lds + j, *al = alpha + g * Rg;
            float *o = O + g * Rg * D;
            size_t r = 0;
            for (; r + 4 <= Rg; r += 4)
                pv_rows512(4, n, D, p + r * lds, lds, Vs + j, g * D, o + r * D, D, j ? ones : al + r);
            switch (Rg - r) {
            case 3: pv_rows512(3, n, D, p + r * lds, lds, Vs + j, g * D, o + r * D, D, j ? ones : al + r); break;
            case 2: pv_rows512(2, n, D, p + r * lds, lds, Vs + j, g * D, o + r * D, D, j ? ones : al + r); break;
            case 1: pv_rows512(1, n, D, p + r * lds, lds, Vs + j, g * D, o + r * D, D, j ? ones : al + r); break;
            default: break;
            }
        }
    }
}

/*
 * One register tile of C for the prefill GEMM: mr rows (1..12) by nv
 * vectors of 16 columns (1 or 2), the last under mask `last`; per k, the
 * nv B vectors are loaded once and each row's A element is broadcast
 * against them (24 accumulators at full size).
 */
AVX512_INLINE void gemm_tile512(const int mr, const int nv, __mmask16 last, size_t K, const float *A, size_t lda,
                                const float *const *B, size_t c0, float *C, size_t ldc, const float *alpha)
{
    __m512 acc[12][2];
#pragma GCC unroll 12
    for (int i = 0; i < 12; i++) {
        acc[i][0] = _mm512_setzero_ps();
        acc[i][1] = _mm512_setzero_ps();
    }
    const __mmask16 m0 = nv == 1 ? last : (__mmask16)0xFFFF;
    for (size_t k = 0; k < K; k++) {
        const float *b = B[k] + c0;
        const __m512 b0 = _mm512_maskz_loadu_ps(m0, b);
        const __m512 b1 = nv == 2 ? _mm512_maskz_loadu_ps(last, b + 16) : _mm512_setzero_ps();
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++)
            if (i < mr) {
                const __m512 a = _mm512_set1_ps(A[(size_t)i * lda + k]);
                acc[i][0] = _mm512_fmadd_ps(a, b0, acc[i][0]);
                if (nv == 2)
                    acc[i][1] = _mm512_fmadd_ps(a, b1, acc[i][1]);
            }
    }
#pragma GCC unroll 12
    for (int i = 0; i < 12; i++)
        if (i < mr) {
            float *c = C + (size_t)i * ldc;
            if (alpha) {
                const __m512 s = _mm512_set1_ps(alpha[i]);
                acc[i][0] = _mm512_fmadd_ps(s, _mm512_maskz_loadu_ps(m0, c), acc[i][0]);
                if (nv == 2)
                    acc[i][1] = _mm512_fmadd_ps(s, _mm512_maskz_loadu_ps(last, c + 16), acc[i][1]);
            }
            _mm512_mask_storeu_ps(c, m0, acc[i][0]);
            if (nv == 2)
                _mm512_mask_storeu_ps(c + 16, last, acc[i][1]);
        }
}

/* All rows of one column strip: 12-row tiles, then the remainder. */
AVX512_INLINE void gemm_strip512(const int nv, __mmask16 last, size_t R, size_t K, const float *A, size_t lda,
                                 const float *const *B, size_t c0, float *C, size_t ldc, const float *alpha)
{
    size_t r = 0;
    for (; r + 12 <= R; r += 12)
        gemm_tile512(12, nv, last, K, A + r * lda, lda, B, c0, C + r * ldc, ldc, alpha ? alpha + r : NULL);
    const float *a = A + r * lda, *al = alpha ? alpha + r : NULL;
    float *c = C + r * ldc;
    switch (R - r) {
    case 11: gemm_tile512(11, nv, last, K, a, lda, B, c0, c, ldc, al); break;
    case 10: gemm_tile512(10, nv, last, K, a, lda, B, c0, c, ldc, al); break;
    case 9: gemm_tile512(9, nv, last, K, a, lda, B, c0, c, ldc, al); break;
    case 8: gemm_tile512(8, nv, last, K, a, lda, B, c0, c, ldc, al); break;
    case 7: gemm_tile512(7, nv, last, K, a, lda, B, c0, c, ldc, al); break;
    case 6: gemm_tile512(6, nv, last, K, a, lda, B, c0, c, ldc, al); break;
    case 5: gemm_tile512(5, nv, last, K, a, lda, B, c0, c, ldc, al); break;
    case 4: gemm_tile512(4, nv, last, K, a, lda, B, c0, c, ldc, al); break;
    case 3: gemm_tile512(3, nv, last, K, a, lda, B, c0, c, ldc, al); break;
    case 2: gemm_tile512(2, nv, last, K, a, lda, B, c0, c, ldc, al); break;
    case 1: gemm_tile512(1, nv, last, K, a, lda, B, c0, c, ldc, al); break;
    default: break;
    }
}

AVX512_FN static void gemm_avx512(size_t R, size_t N, size_t K, const float *A, size_t lda, const float *const *B,
                                  size_t boff, float *C, size_t ldc, const float *alpha)
{
    size_t c = 0;
    for (; c + 32 <= N; c += 32)
        gemm_strip512(2, 0xFFFF, R, K, A, lda, B, boff + c, C + c, ldc, alpha);
    const size_t rest = N - c;
    if (rest > 16)
        gemm_strip512(2, (__mmask16)((1u << (rest - 16)) - 1), R, K, A, lda, B, boff + c, C + c, ldc, alpha);
    else if (rest > 0)
        gemm_strip512(1, (__mmask16)(rest == 16 ? 0xFFFF : (1u << rest) - 1), R, K, A, lda, B, boff + c, C + c,
                      ldc, alpha);
}

/* exp256 on 16 lanes (the same steps, so the same values lane by lane). */
AVX512_INLINE __m512 exp512(__m512 x)
{
    const __mmask16 live = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.0f), _CMP_GE_OQ);
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.0f)), _mm512_set1_ps(88.0f));
    __m512 n = _mm512_roundscale_ps(_mm512_fmadd_ps(x, _mm512_set1_ps(1.44269504088896341f), _mm512_set1_ps(0.5f)),
                                    _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    x = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    x = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), x);
    __m512 y = _mm512_set1_ps(1.9875691500e-4f);
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(1.3981999507e-3f));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(8.3334519073e-3f));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(4.1665795894e-2f));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(1.6666665459e-1f));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(5.0000001201e-1f));
    y = _mm512_fmadd_ps(y, _mm512_mul_ps(x, x), _mm512_add_ps(x, _mm512_set1_ps(1.0f)));
    const __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
    return _mm512_maskz_mul_ps(live, y, _mm512_castsi512_ps(e));
}

AVX512_FN static float exp_sum_avx512(float *x, size_t n, float m)
{
    const __m512 mv = _mm512_set1_ps(m);
    __m512 acc = _mm512_setzero_ps();
    for (size_t i = 0; i < n; i += 16) {
        const __mmask16 k = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        const __m512 e = _mm512_maskz_mov_ps(k, exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + i), mv)));
        _mm512_mask_storeu_ps(x + i, k, e);
        acc = _mm512_add_ps(acc, e);
    }
    return _mm512_reduce_add_ps(acc);
}

AVX512_FN static float max_avx512(const float *x, size_t n)
{
    __m512 v = _mm512_set1_ps(x[0]);
    for (size_t i = 0; i < n; i += 16) {
        const __mmask16 k = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        v = _mm512_mask_max_ps(v, k, v, _mm512_maskz_loadu_ps(k, x + i));
    }
    return _mm512_reduce_max_ps(v);
}

static const ocs_pa_kernels avx512 = {
    .name = "avx512",
    .gemm = gemm_avx512,
    .dot = dot_avx2,
    .dec_qk = dec_qk_avx512,
    .dec_pv = dec_pv_avx512,
    .pack_t = pack_t_avx2,
    .max = max_avx512,
    .exp_sum = exp_sum_avx512,
    .h2f = h2f_avx2,
    .b2f = b2f_avx2,
    .f2h = f2h_avx2,
    .f2b = f2b_avx2,
};
#endif /* PA_X86 */

const ocs_pa_kernels *ocs_pa_kernels_select(int has_avx2, int has_fma, int has_avx512f)
{
#ifdef PA_X86
    unsigned a, b, c, d;
    const int f16c = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C) != 0;
    if (has_avx2 && has_fma && f16c)
        return has_avx512f ? &avx512 : &avx2;
#else
    (void)has_avx2;
    (void)has_fma;
    (void)has_avx512f;
#endif
    return &portable;
}
