/*
 * backends/cuda/moe.cu - the MoE kernels of the CUDA backend: routing, the
 * row gather into expert-grouped order, the activation between the two
 * projections, and the weighted combination (kernels.h).  The projections
 * themselves are cuBLAS GEMMs issued by moe.c.
 *
 * The arithmetic follows the reference operator by operator, as the CPU
 * backend does (backends/cpu/moe.c): routing in float32 with the steps the
 * reference computes in double done in double (softmax, sigmoid, sums), so
 * that the chosen experts agree; the expert math rounds to the storage type
 * T wherever the canonical graph's operators round (each projection's
 * output, each step of the activation), and the combination accumulates in
 * float32 and rounds once.
 */
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <math.h>
#include <stdint.h>

#include "kernels.h"

namespace {

/* ocs_hook_router_kind and ocs_hook_expert_kind / ocs_moe_act values (ocs/hook_match.h, ocs/hooks.h) */
enum { R_SOFTMAX_TOPK = 0, R_TOPK_SOFTMAX = 1, R_TOPK_SIGMOID = 2, R_SIGMOID_GROUPED = 3, R_SPARSEMIXER = 4 };
enum { X_FFN = 0, X_GLU = 1, X_SWIGLU_OAI = 2 };
enum { A_IDENTITY = 0, A_RELU = 1, A_GELU = 2, A_GELU_TANH = 3, A_SILU = 4 };

/* ---- element types ------------------------------------------------------------------------ */

template <typename T> __device__ __forceinline__ float to_f(T x);
template <> __device__ __forceinline__ float to_f<float>(float x) { return x; }
template <> __device__ __forceinline__ float to_f<__half>(__half x) { return __half2float(x); }
template <> __device__ __forceinline__ float to_f<__nv_bfloat16>(__nv_bfloat16 x) { return __bfloat162float(x); }

template <typename T> __device__ __forceinline__ T from_f(float x);
template <> __device__ __forceinline__ float from_f<float>(float x) { return x; }
template <> __device__ __forceinline__ __half from_f<__half>(float x) { return __float2half_rn(x); }
template <> __device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(float x) { return __float2bfloat16_rn(x); }

template <typename T> __device__ __forceinline__ T from_d(double x);
template <> __device__ __forceinline__ float from_d<float>(double x) { return __double2float_rn(x); }
template <> __device__ __forceinline__ __half from_d<__half>(double x) { return __double2half(x); }
template <> __device__ __forceinline__ __nv_bfloat16 from_d<__nv_bfloat16>(double x) { return __double2bfloat16(x); }

/* v rounded to T and back. */
template <typename T> __device__ __forceinline__ float rnd(float v) { return to_f<T>(from_f<T>(v)); }

/* Any logits type, as float (double rounds once). */
__device__ __forceinline__ float load_logit(const void *p, int dtype, size_t i)
{
    switch (dtype) {
    case 10: return __half2float(((const __half *)p)[i]);
    case 16: return __bfloat162float(((const __nv_bfloat16 *)p)[i]);
    case 11: return __double2float_rn(((const double *)p)[i]);
    default: return ((const float *)p)[i];
    }
}

/* ---- routing: the reference's steps ------------------------------------------------------- */

/* TopK order: NaN first, then larger; equal values keep the lower index. */
__device__ __forceinline__ bool ranks_before(float a, float b)
{
    if (isnan(a))
        return !isnan(b);
    if (isnan(b))
        return false;
    return a > b;
}

__device__ void top_k(const float *s, int n, int k, int32_t *idx, float *val, unsigned char *taken)
{
    for (int e = 0; e < n; e++)
        taken[e] = 0;
    for (int j = 0; j < k; j++) {
        int best = n;
        for (int e = 0; e < n; e++)
            if (!taken[e] && (best == n || ranks_before(s[e], s[best])))
                best = e;
        taken[best] = 1;
        idx[j] = best;
        if (val)
            val[j] = s[best];
    }
}

/* Softmax: the maximum and the sum of exponentials in double, each result rounded to float. */
__device__ void softmax(const float *x, int n, float *y)
{
    double max = -INFINITY;
    for (int j = 0; j < n; j++) {
        const double e = x[j];
        if (e > max || isnan(e))
            max = e;
        if (isnan(max))
            break;
    }
    double sum = 0.0;
    for (int j = 0; j < n; j++)
        sum += exp((double)x[j] - max);
    for (int j = 0; j < n; j++)
        y[j] = __double2float_rn(exp((double)x[j] - max) / sum);
}

__device__ float sigmoid_ref(float v)
{
    const double x = v;
    return __double2float_rn(x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x)));
}

__device__ float sum_ref(const float *v, int n)
{
    double s = 0.0;
    for (int j = 0; j < n; j++)
        s += v[j];
    return __double2float_rn(s);
}

__device__ float max_ref(float x, float y)
{
    if (isnan(x) || isnan(y))
        return isnan(x) ? x : y;
    return x > y ? x : y;
}

__global__ void route_kernel(const void *logits, int ldt, int T, int E, int k, const ocs_cuda_router R,
                             float *scratch, unsigned char *taken_all, int32_t *gi_all, float *w_all,
                             int32_t *idx_all)
{
    const int t = blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= T)
        return;
    float *z = scratch + (size_t)t * 4 * E, *a = z + E, *b = a + E, *c = b + E;
    unsigned char *taken = taken_all + (size_t)t * E;
    int32_t *gi = gi_all + (size_t)t * E;
    float *w = w_all + (size_t)t * k;
    int32_t *idx = idx_all + (size_t)t * k;
    for (int e = 0; e < E; e++)
        z[e] = load_logit(logits, ldt, (size_t)t * E + e);

    switch (R.kind) {
    case R_TOPK_SOFTMAX:
        top_k(z, E, k, idx, b, taken);
        softmax(b, k, w);
        return;
    case R_TOPK_SIGMOID:
        top_k(z, E, k, idx, b, taken);
        for (int j = 0; j < k; j++)
            w[j] = sigmoid_ref(b[j]);
        return;
    case R_SIGMOID_GROUPED: {
        float *sc = a, *choice = b;
        for (int e = 0; e < E; e++) {
            sc[e] = sigmoid_ref(z[e]);
            choice[e] = R.bias ? __double2float_rn((double)sc[e] + (double)R.bias[R.n_bias == 1 ? 0 : e]) : sc[e];
        }
        if (R.n_group > 1) {
            const int G = R.n_group, gs = E / G;
            float *gscore = c, top2[2];
            int32_t two[2];
            for (int q = 0; q < G; q++) {
                top_k(choice + q * gs, gs, 2, two, top2, taken);
                gscore[q] = sum_ref(top2, 2);
            }
            top_k(gscore, G, R.topk_group, gi, nullptr, taken);
            unsigned char *keep = taken;
            for (int q = 0; q < G; q++)
                keep[q] = 0;
            for (int q = 0; q < R.topk_group; q++)
                keep[gi[q]] = 1;
            for (int e = 0; e < E; e++)
                if (!keep[e / gs])
                    choice[e] = -INFINITY;
        }
        top_k(choice, E, k, idx, nullptr, taken);
        for (int j = 0; j < k; j++)
            w[j] = sc[idx[j]];
        if (R.g_renormalize) {
            const float den = __double2float_rn((double)sum_ref(w, k) + (double)1e-20f);
            for (int j = 0; j < k; j++)
                w[j] = __double2float_rn((double)w[j] / (double)den);
        }
        if (R.scaling != 1.0f)
            for (int j = 0; j < k; j++)
                w[j] = __double2float_rn((double)w[j] * (double)R.scaling);
        return;
    }
    case R_SPARSEMIXER: {
        const float two_eps = __double2float_rn(2.0 * (double)R.jitter_eps);
        float *z2 = a, *gates = b, *probs = c;
        float top = 0.0f;
        int32_t pick = 0;
        for (int pass = 0; pass < 2; pass++) {
            const float *cand = pass ? z2 : z;
            top_k(cand, E, 1, &pick, &top, taken);
            for (int e = 0; e < E; e++) {
                const float threshold = __double2float_rn((double)max_ref(fabsf(z[e]), top) * (double)two_eps);
                const float gap = __double2float_rn((double)top - (double)z[e]);
                gates[e] = gap > threshold ? -INFINITY : cand[e];
            }
            softmax(gates, E, probs);
            w[pass] = probs[pick];
            idx[pass] = pick;
            if (!pass) {
                for (int e = 0; e < E; e++)
                    z2[e] = z[e];
                z2[pick] = -INFINITY;
            }
        }
        return;
    }
    default: { /* the operator's default router, or softmax_topk */
        const int renorm = R.kind == OCS_CUDA_ROUTER_DEFAULT || R.renormalize;
        softmax(z, E, a);
        top_k(a, E, k, idx, w, taken);
        if (renorm) {
            const float total = sum_ref(w, k);
            for (int j = 0; j < k; j++)
                w[j] = __double2float_rn((double)w[j] / (double)total);
        }
        return;
    }
    }
}

/* ---- gather ------------------------------------------------------------------------------------- */

template <typename T>
__global__ void gather_kernel(const T *x, int64_t P, int H, int k, const int32_t *row_pair, const float *w,
                              int weight_on_input, T *xg)
{
    for (int64_t row = blockIdx.x; row < P; row += gridDim.x) {
        const int32_t pair = row_pair[row];
        const T *src = x + (int64_t)(pair / k) * H;
        T *dst = xg + row * H;
        if (!weight_on_input) {
            for (int h = threadIdx.x; h < H; h += blockDim.x)
                dst[h] = src[h];
        } else {
            const double wt = w[pair];
            for (int h = threadIdx.x; h < H; h += blockDim.x)
                dst[h] = from_d<T>(wt * (double)to_f<T>(src[h]));
        }
    }
}

/* ---- activation ------------------------------------------------------------------------------------ */

template <typename T> __device__ __forceinline__ float bias_at(const void *b, int64_t stride, int bcast, int slot, int64_t j)
{
    return to_f<T>(((const T *)b)[(int64_t)slot * stride + (bcast ? 0 : j)]);
}

/* act(g) with the canonical graph's roundings (the CPU backend's act_one). */
template <typename T> __device__ float act_one(const ocs_cuda_moe_act &A, float g)
{
    switch (A.act) {
    case A_RELU:
        return g > 0 ? g : (isnan(g) ? g : 0.0f);
    case A_SILU: {
        const float s = rnd<T>(1.0f / (1.0f + expf(-g)));
        return rnd<T>(g * s);
    }
    case A_GELU: {
        const float n1 = rnd<T>(g / A.c_sqrt2);
        const float n2 = rnd<T>(erff(n1));
        const float n3 = rnd<T>(n2 + A.c_one);
        const float n4 = rnd<T>(g * n3);
        return rnd<T>(n4 * A.c_half);
    }
    case A_GELU_TANH: {
        const float n1 = rnd<T>(g * g);
        const float n2 = rnd<T>(n1 * g);
        const float n3 = rnd<T>(n2 * A.c_tanh1);
        const float n4 = rnd<T>(g + n3);
        const float n5 = rnd<T>(n4 * A.c_tanh0);
        const float n6 = rnd<T>(tanhf(n5));
        const float n7 = rnd<T>(n6 + A.c_one);
        const float n8 = rnd<T>(g * n7);
        return rnd<T>(n8 * A.c_half);
    }
    default:
        return g;
    }
}

template <typename T> __device__ __forceinline__ float load_z(const ocs_cuda_moe_act &A, int64_t i)
{
    return A.z_float ? ((const float *)A.z)[i] : to_f<T>(((const T *)A.z)[i]);
}

template <typename T> __global__ void act_kernel(const ocs_cuda_moe_act A)
{
    const int64_t n = A.P * A.I;
    for (int64_t x = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; x < n; x += (int64_t)gridDim.x * blockDim.x) {
        const int64_t row = x / A.I, i = x - row * A.I;
        const int slot = A.row_slot[row];
        const int64_t zr = row * A.zcols;
        float g = load_z<T>(A, zr + A.gs * i);
        if (A.bg)
            g += bias_at<T>(A.bg, A.bg_stride, A.bg_bcast, slot, A.gb0 + A.bstride * i);
        g = rnd<T>(g);
        float u = 0.0f;
        if (A.gated) {
            u = load_z<T>(A, zr + A.us + A.gs * i);
            if (A.bu)
                u += bias_at<T>(A.bu, A.bu_stride, A.bu_bcast, slot, A.ub0 + A.bstride * i);
            u = rnd<T>(u);
        }
        float v;
        if (A.expert_kind == X_SWIGLU_OAI) {
            float G = g, L = u;
            if (isfinite(A.limit)) {
                G = g > A.limit ? A.limit : g;      /* Clip(g, max = limit) */
                L = u < -A.limit ? -A.limit : u;    /* Clip(u, -limit, limit) */
                L = L > A.limit ? A.limit : L;
            }
            const float gsc = rnd<T>(G * A.alpha);
            const float sg = rnd<T>(1.0f / (1.0f + expf(-gsc)));
            const float a = rnd<T>(G * sg);
            const float us2 = rnd<T>(L + A.beta);
            v = rnd<T>(a * us2);
        } else if (A.gated) {
            v = rnd<T>(act_one<T>(A, g) * u);
        } else {
            v = act_one<T>(A, g);
        }
        ((T *)A.h)[x] = from_f<T>(v);
    }
}

/* ---- combination ------------------------------------------------------------------------------------ */

template <typename T>
__global__ void combine_kernel(int T_, int H, int k, const void *y, int y_float, const int32_t *pos,
                               const int32_t *row_slot, const float *w, int weight_on_input, const T *b2,
                               int64_t b2_stride, int b2_bcast, T *out)
{
    const int64_t n = (int64_t)T_ * H;
    for (int64_t x = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; x < n; x += (int64_t)gridDim.x * blockDim.x) {
        const int64_t t = x / H, h = x - t * H;
        float acc = 0.0f;
        for (int j = 0; j < k; j++) {
            const int64_t pair = t * k + j;
            const int64_t row = pos[pair];
            float v = y_float ? ((const float *)y)[row * H + h] : to_f<T>(((const T *)y)[row * H + h]);
            if (b2)
                v += to_f<T>(b2[(int64_t)row_slot[row] * b2_stride + (b2_bcast ? 0 : h)]);
            v = rnd<T>(v);
            acc += weight_on_input ? v : w[pair] * v;
        }
        out[x] = from_f<T>(acc);
    }
}

unsigned grid_for(int64_t n, int threads)
{
    const int64_t blocks = (n + threads - 1) / threads;
    return (unsigned)(blocks < 1 ? 1 : blocks > 0x7fffffff ? 0x7fffffff : blocks);
}

} /* namespace */

extern "C" cudaError_t ocs_cuda_moe_route(const void *logits, int logits_dtype, int T, int E, int k,
                                          const ocs_cuda_router *r, float *scratch, unsigned char *taken,
                                          int32_t *gi, float *w, int32_t *idx, cudaStream_t s)
{
    if (T <= 0)
        return cudaSuccess;
    route_kernel<<<grid_for(T, 128), 128, 0, s>>>(logits, logits_dtype, T, E, k, *r, scratch, taken, gi, w, idx);
    return cudaGetLastError();
}

extern "C" cudaError_t ocs_cuda_moe_gather(int dtype, const void *x, int64_t P, int H, int k,
                                           const int32_t *row_pair, const float *w, int weight_on_input, void *xg,
                                           cudaStream_t s)
{
    if (P <= 0 || H <= 0)
        return cudaSuccess;
    const unsigned grid = (unsigned)(P > 0x7fffffff ? 0x7fffffff : P);
    switch (dtype) {
    case 1:
        gather_kernel<float><<<grid, 256, 0, s>>>((const float *)x, P, H, k, row_pair, w, weight_on_input, (float *)xg);
        break;
    case 10:
        gather_kernel<__half><<<grid, 256, 0, s>>>((const __half *)x, P, H, k, row_pair, w, weight_on_input, (__half *)xg);
        break;
    case 16:
        gather_kernel<__nv_bfloat16><<<grid, 256, 0, s>>>((const __nv_bfloat16 *)x, P, H, k, row_pair, w,
                                                           weight_on_input, (__nv_bfloat16 *)xg);
        break;
    default: return cudaErrorInvalidValue;
    }
    return cudaGetLastError();
}

extern "C" cudaError_t ocs_cuda_moe_activate(const ocs_cuda_moe_act *a, cudaStream_t s)
{
    const int64_t n = a->P * a->I;
    if (n <= 0)
        return cudaSuccess;
    const unsigned grid = grid_for(n, 256);
    switch (a->dtype) {
    case 1: act_kernel<float><<<grid, 256, 0, s>>>(*a); break;
    case 10: act_kernel<__half><<<grid, 256, 0, s>>>(*a); break;
    case 16: act_kernel<__nv_bfloat16><<<grid, 256, 0, s>>>(*a); break;
    default: return cudaErrorInvalidValue;
    }
    return cudaGetLastError();
}

extern "C" cudaError_t ocs_cuda_moe_combine(int dtype, int T, int H, int k, const void *y, int y_float,
                                            const int32_t *pos, const int32_t *row_slot, const float *w,
                                            int weight_on_input, const void *b2, int64_t b2_stride, int b2_bcast,
                                            void *out, cudaStream_t s)
{
    const int64_t n = (int64_t)T * H;
    if (n <= 0)
        return cudaSuccess;
    const unsigned grid = grid_for(n, 256);
    switch (dtype) {
    case 1:
        combine_kernel<float><<<grid, 256, 0, s>>>(T, H, k, y, y_float, pos, row_slot, w, weight_on_input,
                                                   (const float *)b2, b2_stride, b2_bcast, (float *)out);
        break;
    case 10:
        combine_kernel<__half><<<grid, 256, 0, s>>>(T, H, k, y, y_float, pos, row_slot, w, weight_on_input,
                                                    (const __half *)b2, b2_stride, b2_bcast, (__half *)out);
        break;
    case 16:
        combine_kernel<__nv_bfloat16><<<grid, 256, 0, s>>>(T, H, k, y, y_float, pos, row_slot, w, weight_on_input,
                                                           (const __nv_bfloat16 *)b2, b2_stride, b2_bcast,
                                                           (__nv_bfloat16 *)out);
        break;
    default: return cudaErrorInvalidValue;
    }
    return cudaGetLastError();
}
