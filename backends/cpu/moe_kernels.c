/*
 * backends/cpu/moe_kernels.c - weight-streaming dot-product kernels for
 * the CPU backend's MoE (see moe_kernels.h).
 *
 * The SIMD kernels work on tiles of up to 8 weight rows by up to 3 tokens,
 * or 4 by 4 (AVX-512; 4 by 2 with AVX2): one accumulator per (row, token), each
 * weight vector loaded once and used for every token, each token vector
 * used for every row.  The row and token
 * counts and the weight type are constants at every use of a tile, so the
 * compiler keeps the accumulators in registers and drops the unused ones.
 * The part of K that does not fill a vector is finished in scalar code.
 */
#include "moe_kernels.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define MOE_X86 1
#endif

/* Weight element types as compile-time constants. */
enum { WT_F32 = 0, WT_F16 = 1, WT_BF16 = 2 };

static inline float load1(const void *W, const int wt, size_t i)
{
    if (wt == WT_F32)
        return ((const float *)W)[i];
    uint16_t h = ((const uint16_t *)W)[i];
    if (wt == WT_F16)
        return ocs_half_to_float(h);
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* ---- portable C ------------------------------------------------------------------------- */

static inline void dot_c(const void *W, const int wt, size_t ldw, size_t nr, const float *X, size_t ldx,
                         size_t n, size_t K, float *out, size_t ldo)
{
    for (size_t r = 0; r < nr; r++)
        for (size_t t = 0; t < n; t++) {
            const float *x = X + t * ldx;
            float acc = 0.0f;
            for (size_t q = 0; q < K; q++)
                acc += load1(W, wt, r * ldw + q) * x[q];
            out[t * ldo + r] = acc;
        }
}

static void dot_c_f32(const void *W, size_t ldw, size_t nr, const float *X, size_t ldx, size_t n, size_t K,
                      float *out, size_t ldo)
{
    dot_c(W, WT_F32, ldw, nr, X, ldx, n, K, out, ldo);
}

static void dot_c_f16(const void *W, size_t ldw, size_t nr, const float *X, size_t ldx, size_t n, size_t K,
                      float *out, size_t ldo)
{
    dot_c(W, WT_F16, ldw, nr, X, ldx, n, K, out, ldo);
}

static void dot_c_bf16(const void *W, size_t ldw, size_t nr, const float *X, size_t ldx, size_t n, size_t K,
                       float *out, size_t ldo)
{
    dot_c(W, WT_BF16, ldw, nr, X, ldx, n, K, out, ldo);
}

#ifdef MOE_X86

/* ---- AVX-512F: 8 rows x 3 tokens or 4 x 4, of 16-float vectors ------------------------------------- */

#define AVX512 __attribute__((target("avx512f"), always_inline)) static inline

AVX512 __m512 load16(const void *W, const int wt, size_t i)
{
    if (wt == WT_F32)
        return _mm512_loadu_ps((const float *)W + i);
    __m256i h = _mm256_loadu_si256((const __m256i *)((const uint16_t *)W + i));
    if (wt == WT_F16)
        return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/*
 * Rows r .. r+R-1 by tokens t .. t+NT-1 (R NT <= 24 and R <= 8, NT <= 4):
 * per step the NT token vectors are loaded, then each row's weight vector
 * once for all of them.  Few tokens use 8 rows by up to 3 tokens: eight
 * rows stream at once, which keeps more loads in flight.  Many tokens use
 * 4 rows by 4 tokens, whose weight rows stay in the first-level cache while
 * the tokens pass by.
 */
AVX512 void tile512(const void *W, const int wt, size_t ldw, size_t r, const int R, const float *X, size_t ldx,
                    size_t t, const int NT, size_t K, float *out, size_t ldo)
{
    __m512 acc[8][4];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++)
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++)
            acc[i][j] = _mm512_setzero_ps();
    const float *x = X + t * ldx;
    size_t q = 0;
    for (; q + 16 <= K; q += 16) {
        __m512 y[4];
#pragma GCC unroll 4
        for (int j = 0; j < NT; j++)
            y[j] = _mm512_loadu_ps(x + (size_t)j * ldx + q);
#pragma GCC unroll 8
        for (int i = 0; i < R; i++) {
            __m512 w = load16(W, wt, (r + (size_t)i) * ldw + q);
#pragma GCC unroll 4
            for (int j = 0; j < NT; j++)
                acc[i][j] = _mm512_fmadd_ps(w, y[j], acc[i][j]);
        }
    }
    float s[8][4];
#pragma GCC unroll 8
    for (int i = 0; i < R; i++)
#pragma GCC unroll 4
        for (int j = 0; j < NT; j++)
            s[i][j] = _mm512_reduce_add_ps(acc[i][j]);
    for (int i = 0; i < R; i++)
        for (int j = 0; j < NT; j++) {
            for (size_t p = q; p < K; p++)
                s[i][j] += load1(W, wt, (r + (size_t)i) * ldw + p) * x[(size_t)j * ldx + p];
            out[(t + (size_t)j) * ldo + r + (size_t)i] = s[i][j];
        }
}

/* All tokens for rows r .. r+R-1, NT at a time (the rest in one smaller tile). */
AVX512 void rows512(const void *W, const int wt, size_t ldw, size_t r, const int R, const int NT, const float *X,
                    size_t ldx, size_t n, size_t K, float *out, size_t ldo)
{
    size_t t = 0;
    for (; t + (size_t)NT <= n; t += (size_t)NT)
        tile512(W, wt, ldw, r, R, X, ldx, t, NT, K, out, ldo);
    switch (n - t) {
    case 3: tile512(W, wt, ldw, r, R, X, ldx, t, 3, K, out, ldo); break;
    case 2: tile512(W, wt, ldw, r, R, X, ldx, t, 2, K, out, ldo); break;
    case 1: tile512(W, wt, ldw, r, R, X, ldx, t, 1, K, out, ldo); break;
    default: break;
    }
}

/* Up to this many tokens take 8-row tiles; more take 4-row tiles. */
#define FEW_TOKENS 8

AVX512 void dot512(const void *W, const int wt, size_t ldw, size_t nr, const float *X, size_t ldx, size_t n,
                   size_t K, float *out, size_t ldo)
{
    size_t r = 0;
    if (n <= FEW_TOKENS)
        for (; r + 8 <= nr; r += 8)
            rows512(W, wt, ldw, r, 8, 3, X, ldx, n, K, out, ldo);
    for (; r + 4 <= nr; r += 4)
        rows512(W, wt, ldw, r, 4, 4, X, ldx, n, K, out, ldo);
    for (; r < nr; r++)
        rows512(W, wt, ldw, r, 1, 4, X, ldx, n, K, out, ldo);
}

/* ---- AVX-512F: 8 rows x 32 tokens, weights broadcast ------------------------------------------------ */

AVX512 __m512 bcast1(const void *W, const int wt, size_t i)
{
    if (wt == WT_F32)
        return _mm512_set1_ps(((const float *)W)[i]);
    uint16_t h = ((const uint16_t *)W)[i];
    if (wt == WT_F16)
        return _mm512_cvtph_ps(_mm256_set1_epi16((short)h));
    return _mm512_castsi512_ps(_mm512_set1_epi32((int)((uint32_t)h << 16)));
}

/* Rows r .. r+R-1 (R <= 8) by the 32 token columns of Xt. */
AVX512 void gtile512(const void *W, const int wt, size_t ldw, size_t r, const int R, const float *Xt, size_t K,
                     float *out, size_t ldo)
{
    __m512 acc[8][2];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) {
        acc[i][0] = _mm512_setzero_ps();
        acc[i][1] = _mm512_setzero_ps();
    }
    for (size_t q = 0; q < K; q++) {
        __m512 b0 = _mm512_loadu_ps(Xt + q * 32), b1 = _mm512_loadu_ps(Xt + q * 32 + 16);
#pragma GCC unroll 8
        for (int i = 0; i < R; i++) {
            __m512 a = bcast1(W, wt, (r + (size_t)i) * ldw + q);
            acc[i][0] = _mm512_fmadd_ps(a, b0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(a, b1, acc[i][1]);
        }
    }
#pragma GCC unroll 8
    for (int i = 0; i < R; i++) {
        _mm512_storeu_ps(out + (r + (size_t)i) * ldo, acc[i][0]);
        _mm512_storeu_ps(out + (r + (size_t)i) * ldo + 16, acc[i][1]);
    }
}

AVX512 void gemm512(const void *W, const int wt, size_t ldw, size_t nr, const float *Xt, size_t K, float *out,
                    size_t ldo)
{
    size_t r = 0;
    for (; r + 8 <= nr; r += 8)
        gtile512(W, wt, ldw, r, 8, Xt, K, out, ldo);
    for (; r < nr; r++)
        gtile512(W, wt, ldw, r, 1, Xt, K, out, ldo);
}

__attribute__((target("avx512f"))) static void gemm512_f32(const void *W, size_t ldw, size_t nr, const float *Xt,
                                                           size_t K, float *out, size_t ldo)
{
    gemm512(W, WT_F32, ldw, nr, Xt, K, out, ldo);
}

__attribute__((target("avx512f"))) static void gemm512_f16(const void *W, size_t ldw, size_t nr, const float *Xt,
                                                           size_t K, float *out, size_t ldo)
{
    gemm512(W, WT_F16, ldw, nr, Xt, K, out, ldo);
}

__attribute__((target("avx512f"))) static void gemm512_bf16(const void *W, size_t ldw, size_t nr, const float *Xt,
                                                            size_t K, float *out, size_t ldo)
{
    gemm512(W, WT_BF16, ldw, nr, Xt, K, out, ldo);
}

__attribute__((target("avx512f"))) static void dot512_f32(const void *W, size_t ldw, size_t nr, const float *X,
                                                          size_t ldx, size_t n, size_t K, float *out, size_t ldo)
{
    dot512(W, WT_F32, ldw, nr, X, ldx, n, K, out, ldo);
}

__attribute__((target("avx512f"))) static void dot512_f16(const void *W, size_t ldw, size_t nr, const float *X,
                                                          size_t ldx, size_t n, size_t K, float *out, size_t ldo)
{
    dot512(W, WT_F16, ldw, nr, X, ldx, n, K, out, ldo);
}

__attribute__((target("avx512f"))) static void dot512_bf16(const void *W, size_t ldw, size_t nr, const float *X,
                                                           size_t ldx, size_t n, size_t K, float *out, size_t ldo)
{
    dot512(W, WT_BF16, ldw, nr, X, ldx, n, K, out, ldo);
}

/* ---- AVX2 + FMA + F16C: 4 rows x 2 tokens of 8-float vectors ------------------------------ */

#define AVX2 __attribute__((target("avx2,fma,f16c"), always_inline)) static inline

AVX2 __m256 load8(const void *W, const int wt, size_t i)
{
    if (wt == WT_F32)
        return _mm256_loadu_ps((const float *)W + i);
    __m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)W + i));
    if (wt == WT_F16)
        return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

AVX2 float hsum8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Rows r .. r+R-1 by tokens t .. t+NT-1 (R <= 4, NT <= 2), as tile512 with 8-float vectors. */
AVX2 void tile256(const void *W, const int wt, size_t ldw, size_t r, const int R, const float *X, size_t ldx,
                  size_t t, const int NT, size_t K, float *out, size_t ldo)
{
    __m256 acc[4][2];
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++)
#pragma GCC unroll 2
        for (int j = 0; j < 2; j++)
            acc[i][j] = _mm256_setzero_ps();
    const float *x = X + t * ldx;
    size_t q = 0;
    for (; q + 8 <= K; q += 8) {
        __m256 y[2];
#pragma GCC unroll 2
        for (int j = 0; j < NT; j++)
            y[j] = _mm256_loadu_ps(x + (size_t)j * ldx + q);
#pragma GCC unroll 4
        for (int i = 0; i < R; i++) {
            __m256 w = load8(W, wt, (r + (size_t)i) * ldw + q);
#pragma GCC unroll 2
            for (int j = 0; j < NT; j++)
                acc[i][j] = _mm256_fmadd_ps(w, y[j], acc[i][j]);
        }
    }
    float s[4][2];
#pragma GCC unroll 4
    for (int i = 0; i < R; i++)
#pragma GCC unroll 2
        for (int j = 0; j < NT; j++)
            s[i][j] = hsum8(acc[i][j]);
    for (int i = 0; i < R; i++)
        for (int j = 0; j < NT; j++) {
            for (size_t p = q; p < K; p++)
                s[i][j] += load1(W, wt, (r + (size_t)i) * ldw + p) * x[(size_t)j * ldx + p];
            out[(t + (size_t)j) * ldo + r + (size_t)i] = s[i][j];
        }
}

AVX2 void rows256(const void *W, const int wt, size_t ldw, size_t r, const int R, const float *X, size_t ldx,
                  size_t n, size_t K, float *out, size_t ldo)
{
    size_t t = 0;
    for (; t + 2 <= n; t += 2)
        tile256(W, wt, ldw, r, R, X, ldx, t, 2, K, out, ldo);
    if (t < n)
        tile256(W, wt, ldw, r, R, X, ldx, t, 1, K, out, ldo);
}

AVX2 void dot256(const void *W, const int wt, size_t ldw, size_t nr, const float *X, size_t ldx, size_t n,
                 size_t K, float *out, size_t ldo)
{
    size_t r = 0;
    for (; r + 4 <= nr; r += 4)
        rows256(W, wt, ldw, r, 4, X, ldx, n, K, out, ldo);
    for (; r < nr; r++)
        rows256(W, wt, ldw, r, 1, X, ldx, n, K, out, ldo);
}

__attribute__((target("avx2,fma,f16c"))) static void dot256_f32(const void *W, size_t ldw, size_t nr,
                                                                const float *X, size_t ldx, size_t n, size_t K,
                                                                float *out, size_t ldo)
{
    dot256(W, WT_F32, ldw, nr, X, ldx, n, K, out, ldo);
}

__attribute__((target("avx2,fma,f16c"))) static void dot256_f16(const void *W, size_t ldw, size_t nr,
                                                                const float *X, size_t ldx, size_t n, size_t K,
                                                                float *out, size_t ldo)
{
    dot256(W, WT_F16, ldw, nr, X, ldx, n, K, out, ldo);
}

__attribute__((target("avx2,fma,f16c"))) static void dot256_bf16(const void *W, size_t ldw, size_t nr,
                                                                 const float *X, size_t ldx, size_t n, size_t K,
                                                                 float *out, size_t ldo)
{
    dot256(W, WT_BF16, ldw, nr, X, ldx, n, K, out, ldo);
}
#endif

/* ---- activations and conversion --------------------------------------------------------------- */

static inline float silu_mul1(float g, float u)
{
    float s = 1.0f / (1.0f + expf(-g));
    return (g * s) * u;
}

static inline float oai1(float g, float u, float alpha, float beta, float limit)
{
    float G = g > limit ? limit : g;        /* NaN stays NaN */
    float L = u < -limit ? -limit : u;
    L = L > limit ? limit : L;
    float s = 1.0f / (1.0f + expf(-(G * alpha)));
    return (G * s) * (L + beta);
}

#ifdef MOE_X86
/*
 * e^x for 16 floats: x = n ln2 + r with |r| <= ln2 / 2, e^r by the
 * degree-6 polynomial of Cephes' expf, scaled by 2^n with vscalefps.
 * Beyond 88.72 the result is +inf, below -87.34 it is at most FLT_MIN
 * (both as expf, up to the subnormal range); NaN stays NaN.
 */
AVX512 __m512 exp16(__m512 x)
{
    const __m512 hi = _mm512_set1_ps(88.7228394f), lo = _mm512_set1_ps(-87.3365479f);
    __m512 xc = _mm512_max_ps(lo, _mm512_min_ps(hi, x));   /* NaN passes (second operand) */
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(xc, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), xc);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    __m512 y = _mm512_scalef_ps(p, n);
    return _mm512_mask_mov_ps(y, _mm512_cmp_ps_mask(x, hi, _CMP_GT_OQ), _mm512_set1_ps(INFINITY));
}

AVX512 __m512 sigmoid16(__m512 g)
{
    const __m512 one = _mm512_set1_ps(1.0f);
    __m512 e = exp16(_mm512_sub_ps(_mm512_setzero_ps(), g));
    return _mm512_div_ps(one, _mm512_add_ps(one, e));
}

__attribute__((target("avx512f"))) static void silu_mul512(const float *g, const float *u, size_t n, float *h)
{
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 x = _mm512_loadu_ps(g + i);
        __m512 a = _mm512_mul_ps(x, sigmoid16(x));
        if (u)
            a = _mm512_mul_ps(a, _mm512_loadu_ps(u + i));
        _mm512_storeu_ps(h + i, a);
    }
    for (; i < n; i++)
        h[i] = silu_mul1(g[i], u ? u[i] : 1.0f);
}

__attribute__((target("avx512f"))) static void oai512(const float *g, const float *u, size_t n, float alpha,
                                                      float beta, float limit, float *h)
{
    const __m512 vl = _mm512_set1_ps(limit), vnl = _mm512_set1_ps(-limit), va = _mm512_set1_ps(alpha),
                 vb = _mm512_set1_ps(beta);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 G = _mm512_min_ps(vl, _mm512_loadu_ps(g + i));
        __m512 L = _mm512_min_ps(vl, _mm512_max_ps(vnl, _mm512_loadu_ps(u + i)));
        __m512 a = _mm512_mul_ps(G, sigmoid16(_mm512_mul_ps(G, va)));
        _mm512_storeu_ps(h + i, _mm512_mul_ps(a, _mm512_add_ps(L, vb)));
    }
    for (; i < n; i++)
        h[i] = oai1(g[i], u[i], alpha, beta, limit);
}

__attribute__((target("avx512f"))) static void to_float512(const void *src, ocs_dtype t, size_t n, float *dst)
{
    const uint16_t *p = src;
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(p + i));
        __m512 f = t == OCS_FLOAT16 ? _mm512_cvtph_ps(v)
                                    : _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(v), 16));
        _mm512_storeu_ps(dst + i, f);
    }
    for (; i < n; i++)
        dst[i] = load1(src, t == OCS_FLOAT16 ? WT_F16 : WT_BF16, i);
}
#endif

void ocs_moe_silu_mul(const float *g, const float *u, size_t n, float *h, int isa)
{
#ifdef MOE_X86
    if (isa >= OCS_MOE_ISA_AVX512) {
        silu_mul512(g, u, n, h);
        return;
    }
#endif
    (void)isa;
    for (size_t i = 0; i < n; i++)
        h[i] = silu_mul1(g[i], u ? u[i] : 1.0f);
}

void ocs_moe_swiglu_oai(const float *g, const float *u, size_t n, float alpha, float beta, float limit, float *h,
                        int isa)
{
#ifdef MOE_X86
    if (isa >= OCS_MOE_ISA_AVX512) {
        oai512(g, u, n, alpha, beta, limit, h);
        return;
    }
#endif
    (void)isa;
    for (size_t i = 0; i < n; i++)
        h[i] = oai1(g[i], u[i], alpha, beta, limit);
}

void ocs_moe_to_float(const void *src, ocs_dtype t, size_t n, float *dst, int isa)
{
    if (t == OCS_FLOAT) {
        memcpy(dst, src, n * sizeof *dst);
        return;
    }
#ifdef MOE_X86
    if (isa >= OCS_MOE_ISA_AVX512) {
        to_float512(src, t, n, dst);
        return;
    }
#endif
    (void)isa;
    int w = t == OCS_FLOAT16 ? WT_F16 : WT_BF16;
    for (size_t i = 0; i < n; i++)
        dst[i] = load1(src, w, i);
}

int ocs_moe_isa_probe(void)
{
#ifdef MOE_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        return OCS_MOE_ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c"))
        return OCS_MOE_ISA_AVX2;
#endif
    return OCS_MOE_ISA_C;
}

ocs_moe_gemm32_fn ocs_moe_gemm32_kernel(ocs_dtype wt, int isa)
{
#ifdef MOE_X86
    static const ocs_moe_gemm32_fn k[3] = {gemm512_f32, gemm512_f16, gemm512_bf16};
    if (isa >= OCS_MOE_ISA_AVX512)
        return k[wt == OCS_FLOAT16 ? WT_F16 : wt == OCS_BFLOAT16 ? WT_BF16 : WT_F32];
#else
    (void)wt;
#endif
    (void)isa;
    return NULL;
}

ocs_moe_dot_fn ocs_moe_dot_kernel(ocs_dtype wt, int isa)
{
    int w = wt == OCS_FLOAT16 ? WT_F16 : wt == OCS_BFLOAT16 ? WT_BF16 : WT_F32;
#ifdef MOE_X86
    static const ocs_moe_dot_fn k512[3] = {dot512_f32, dot512_f16, dot512_bf16};
    static const ocs_moe_dot_fn k256[3] = {dot256_f32, dot256_f16, dot256_bf16};
    if (isa >= OCS_MOE_ISA_AVX512)
        return k512[w];
    if (isa >= OCS_MOE_ISA_AVX2)
        return k256[w];
#else
    (void)isa;
#endif
    static const ocs_moe_dot_fn kc[3] = {dot_c_f32, dot_c_f16, dot_c_bf16};
    return kc[w];
}
