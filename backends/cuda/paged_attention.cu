/*
 * backends/cuda/paged_attention.cu - the PagedAttention kernels of the CUDA
 * backend: cache write (with RoPE), partitioned attention over the paged
 * cache, and the merge of split partitions.  kernels.h describes the three
 * launches; the host plan and the semantics' validation are in
 * paged_attention.c.
 *
 * Both attend kernels run one block of OCS_CUDA_PA_THREADS threads per work
 * item and KV head.  The threads form groups of GS lanes (a power of two,
 * at most a warp); a group handles one key position at a time, each lane
 * holding CPL chunks of VEC consecutive head elements (16-byte loads when
 * the row length allows, VEC = 1 otherwise).
 *
 * The single-pass kernel (CPL = 1, VEC wide: the usual head sizes) keeps
 * the query rows in registers and reads each key and value row once, in
 * one pass with an online softmax; see stream_kernel.
 *
 * The tiled kernel takes every other head size.  Key positions are read in
 * steps of U per group (4, or 2 when CPL > 1 to stay in registers) so that
 * several loads are in flight before the first use.  Shared memory holds
 * the item's query rows (float), the partition's scores (float,
 * OCS_CUDA_PA_PART per row), per-row statistics and row metadata; the
 * query rows' space is reused for the final reduction of the groups'
 * accumulators, which runs in group order so that results do not depend on
 * scheduling.  RMAX, the most rows one item holds, shrinks as CPL grows so
 * that the accumulators stay in registers.
 */
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <math.h>
#include <stdint.h>

#include "kernels.h"

namespace {

constexpr int NT = OCS_CUDA_PA_THREADS;
constexpr int PART = OCS_CUDA_PA_PART;
constexpr unsigned FULL = 0xffffffffu;

/* ---- element types ------------------------------------------------------------------------ */

template <typename T> __device__ __forceinline__ float to_f(T x);
template <> __device__ __forceinline__ float to_f<float>(float x) { return x; }
template <> __device__ __forceinline__ float to_f<__half>(__half x) { return __half2float(x); }
template <> __device__ __forceinline__ float to_f<__nv_bfloat16>(__nv_bfloat16 x) { return __bfloat162float(x); }

template <typename T> __device__ __forceinline__ T from_f(float x);
template <> __device__ __forceinline__ float from_f<float>(float x) { return x; }
template <> __device__ __forceinline__ __half from_f<__half>(float x) { return __float2half_rn(x); }
template <> __device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(float x) { return __float2bfloat16_rn(x); }

/* One rounding from double, as the reference rounds. */
template <typename T> __device__ __forceinline__ T from_d(double x);
template <> __device__ __forceinline__ float from_d<float>(double x) { return __double2float_rn(x); }
template <> __device__ __forceinline__ __half from_d<__half>(double x) { return __double2half(x); }
template <> __device__ __forceinline__ __nv_bfloat16 from_d<__nv_bfloat16>(double x) { return __double2bfloat16(x); }

/* VEC consecutive elements: one 16-byte load, or one element. */
template <typename T, int VEC> struct Chunk {
    static_assert(VEC == 1 || VEC * sizeof(T) == 16, "a chunk is one element or 16 bytes");
    alignas(VEC == 1 ? alignof(T) : 16) T e[VEC];
    __device__ __forceinline__ void zero()
    {
        if constexpr (VEC == 1)
            e[0] = from_f<T>(0.0f);
        else
            *reinterpret_cast<uint4 *>(e) = make_uint4(0, 0, 0, 0);
    }
    __device__ __forceinline__ void load(const T *p)
    {
        if constexpr (VEC == 1)
            e[0] = p[0];
        else
            *reinterpret_cast<uint4 *>(e) = __ldg(reinterpret_cast<const uint4 *>(p));
    }
    __device__ __forceinline__ void to_float(float *f) const
    {
#pragma unroll
        for (int v = 0; v < VEC; v++)
            f[v] = to_f<T>(e[v]);
    }
};

/* The flat cache slot of position j through a block-table row. */
__device__ __forceinline__ int64_t slot_of(const int32_t *trow, int j, int BS)
{
    return (int64_t)trow[j / BS] * BS + j % BS;
}

/* Row r of an item: its token, query head and visible key range [lo, p], into the block's shared arrays. */
__device__ __forceinline__ void row_meta(const ocs_cuda_pa_args &A, const ocs_cuda_pa_item &it, int g, int r,
                                         int *t_s, int *h_s, int *lo_s, int *p_s)
{
    const int rho = it.rho0 + r, i = rho / A.G;
    const int p = A.past[it.b] + i;
    t_s[r] = A.cu[it.b] + i;
    h_s[r] = g * A.G + rho % A.G;
    p_s[r] = p;
    lo_s[r] = A.W > 0 && p - A.W + 1 > 0 ? p - A.W + 1 : 0;
}

/* ---- write: RoPE and the cache stores ------------------------------------------------------------ */

/*
 * Element d (< 2 half) of the head row x rotated at the position whose
 * cos/sin rows are cs/sn (RotaryEmbedding-23): in double, without
 * contraction, rounded once to T, as the reference computes it.
 */
template <typename T>
__device__ T rope_elem(const T *x, int d, int half, int interleaved, const T *cs, const T *sn)
{
    int k, first;
    double x1, x2;
    if (interleaved) {
        k = d >> 1;
        first = !(d & 1);
        x1 = to_f<T>(x[2 * k]);
        x2 = to_f<T>(x[2 * k + 1]);
    } else {
        first = d < half;
        k = first ? d : d - half;
        x1 = to_f<T>(x[k]);
        x2 = to_f<T>(x[k + half]);
    }
    const double c = to_f<T>(cs[k]), s = to_f<T>(sn[k]);
    const double y = first ? __dsub_rn(__dmul_rn(c, x1), __dmul_rn(s, x2))
                           : __dadd_rn(__dmul_rn(s, x1), __dmul_rn(c, x2));
    return from_d<T>(y);
}

template <typename T>
__global__ void __launch_bounds__(NT) write_kernel(const ocs_cuda_pa_args A)
{
    const int t = blockIdx.x, D = A.D, hd = A.Hkv * A.D, rd = 2 * A.half;
    const int64_t slot = A.slot[t];
    const T *ks = (const T *)A.ksrc + (int64_t)t * A.kv_stride;
    const T *vs = (const T *)A.vsrc + (int64_t)t * A.kv_stride;
    T *kd = (T *)A.kcache + slot * hd;
    T *vd = (T *)A.vcache + slot * hd;
    const T *cs = nullptr, *sn = nullptr;
    if (A.rotary) {
        cs = (const T *)A.cos + (int64_t)A.pos[t] * A.half;
        sn = (const T *)A.sin + (int64_t)A.pos[t] * A.half;
    }
    for (int x = threadIdx.x; x < hd; x += NT) {
        const int d = x % D;
        kd[x] = A.rotary && d < rd ? rope_elem<T>(ks + (x - d), d, A.half, A.interleaved, cs, sn) : ks[x];
        vd[x] = vs[x];
    }
    if (A.rotary) {
        const T *qs = (const T *)A.qsrc + (int64_t)t * A.qsrc_stride;
        T *qd = (T *)A.qrot + (int64_t)t * A.H * D;
        for (int x = threadIdx.x; x < A.H * D; x += NT) {
            const int d = x % D;
            qd[x] = d < rd ? rope_elem<T>(qs + (x - d), d, A.half, A.interleaved, cs, sn) : qs[x];
        }
    }
}

/* ---- attend ------------------------------------------------------------------------------------------ */

template <typename T, int VEC, int CPL>
__global__ void __launch_bounds__(NT, 4) attend_kernel(const ocs_cuda_pa_args A)
{
    constexpr int RMAX = CPL >= 8 ? 1 : 8 / CPL;
    constexpr int U = CPL == 1 ? 4 : 2;   /* key positions per group in flight */
    extern __shared__ __align__(16) float smem[];
    const ocs_cuda_pa_item it = A.items[blockIdx.x];
    const int g = blockIdx.y;
    const int RC = A.rows_cap, D = A.D, BS = A.BS;
    float *q_s = smem;
    float *lg_s = q_s + (size_t)RC * D;
    float *m_s = lg_s + (size_t)RC * PART;
    float *l_s = m_s + RC;
    int *t_s = reinterpret_cast<int *>(l_s + RC);
    int *h_s = t_s + RC, *lo_s = h_s + RC, *p_s = lo_s + RC;
    const int nrows = it.nrows, n = it.k1 - it.k0, k0 = it.k0;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;

    if (tid < nrows)
        row_meta(A, it, g, tid, t_s, h_s, lo_s, p_s);
    __syncthreads();
    {
        const T *q = (const T *)A.q;
        for (int x = tid; x < nrows * D; x += NT) {
            const int r = x / D, d = x - r * D;
            q_s[x] = to_f<T>(q[(int64_t)t_s[r] * A.q_stride + (int64_t)h_s[r] * D + d]);
        }
    }
    __syncthreads();

    const int GS = A.gs, NG = NT / GS, li = tid & (GS - 1), grp = tid / GS;
    const int NCH = D / VEC;
    const int64_t slot_stride = (int64_t)A.Hkv * D;
    const int32_t *trow = A.table + (int64_t)it.b * A.MB;
    const T *kbase = (const T *)A.kcache + (int64_t)g * D;
    const T *vbase = (const T *)A.vcache + (int64_t)g * D;
    const float scale = A.scale, cap = A.softcap;

    /* scores: the loop bounds are uniform over the block (the shuffles need whole warps) */
    for (int jb = 0; jb < n; jb += NG * U) {
        Chunk<T, VEC> kr[U][CPL];
#pragma unroll
        for (int u = 0; u < U; u++) {
            const int jj = jb + u * NG + grp;
            if (jj < n) {
                const T *row = kbase + slot_of(trow, k0 + jj, BS) * slot_stride;
#pragma unroll
                for (int cc = 0; cc < CPL; cc++) {
                    const int c = li + cc * GS;
                    if (c < NCH)
                        kr[u][cc].load(row + c * VEC);
                }
            }
        }
#pragma unroll
        for (int u = 0; u < U; u++) {
            const int jj = jb + u * NG + grp;
            const bool valid = jj < n;
            float dot[RMAX];
#pragma unroll
            for (int r = 0; r < RMAX; r++)
                dot[r] = 0.0f;
#pragma unroll
            for (int cc = 0; cc < CPL; cc++) {
                const int c = li + cc * GS;
                if (valid && c < NCH) {
                    float f[VEC];
                    kr[u][cc].to_float(f);
#pragma unroll
                    for (int r = 0; r < RMAX; r++) {
                        if (r < nrows) {
                            const float *qq = q_s + r * D + c * VEC;
                            if constexpr (VEC % 4 == 0) {
#pragma unroll
                                for (int v = 0; v < VEC; v += 4) {
                                    const float4 q4 = *reinterpret_cast<const float4 *>(qq + v);
                                    dot[r] = fmaf(q4.x, f[v], dot[r]);
                                    dot[r] = fmaf(q4.y, f[v + 1], dot[r]);
                                    dot[r] = fmaf(q4.z, f[v + 2], dot[r]);
                                    dot[r] = fmaf(q4.w, f[v + 3], dot[r]);
                                }
                            } else {
#pragma unroll
                                for (int v = 0; v < VEC; v++)
                                    dot[r] = fmaf(qq[v], f[v], dot[r]);
                            }
                        }
                    }
                }
            }
#pragma unroll
            for (int r = 0; r < RMAX; r++)
                if (r < nrows)
                    for (int off = GS >> 1; off > 0; off >>= 1)
                        dot[r] += __shfl_xor_sync(FULL, dot[r], off);
            if (valid && li == 0) {
                const int j = k0 + jj;
#pragma unroll
                for (int r = 0; r < RMAX; r++) {
                    if (r < nrows) {
                        float s = dot[r] * scale;
                        if (cap > 0.0f)
                            s = cap * tanhf(s / cap);
                        if (j < lo_s[r] || j > p_s[r])
                            s = -INFINITY;
                        lg_s[r * PART + jj] = s;
                    }
                }
            }
        }
    }
    __syncthreads();

    /* softmax within the partition: one warp per row */
    for (int r = warp; r < nrows; r += NT / 32) {
        float m = -INFINITY;
        for (int jj = lane; jj < n; jj += 32)
            m = fmaxf(m, lg_s[r * PART + jj]);
        for (int off = 16; off > 0; off >>= 1)
            m = fmaxf(m, __shfl_xor_sync(FULL, m, off));
        float sum = 0.0f;
        for (int jj = lane; jj < n; jj += 32) {
            const float s = lg_s[r * PART + jj];
            const float e = s == -INFINITY ? 0.0f : expf(s - m);
            lg_s[r * PART + jj] = e;
            sum += e;
        }
        for (int off = 16; off > 0; off >>= 1)
            sum += __shfl_xor_sync(FULL, sum, off);
        if (lane == 0) {
            m_s[r] = m;
            l_s[r] = sum;
        }
    }
    __syncthreads();

    /* P x V: each group accumulates its key positions for every row */
    float acc[RMAX][CPL][VEC];
#pragma unroll
    for (int r = 0; r < RMAX; r++)
#pragma unroll
        for (int cc = 0; cc < CPL; cc++)
#pragma unroll
            for (int v = 0; v < VEC; v++)
                acc[r][cc][v] = 0.0f;
    for (int jb = 0; jb < n; jb += NG * U) {
        Chunk<T, VEC> vr[U][CPL];
#pragma unroll
        for (int u = 0; u < U; u++) {
            const int jj = jb + u * NG + grp;
            if (jj < n) {
                const T *row = vbase + slot_of(trow, k0 + jj, BS) * slot_stride;
#pragma unroll
                for (int cc = 0; cc < CPL; cc++) {
                    const int c = li + cc * GS;
                    if (c < NCH)
                        vr[u][cc].load(row + c * VEC);
                }
            }
        }
#pragma unroll
        for (int u = 0; u < U; u++) {
            const int jj = jb + u * NG + grp;
            if (jj >= n)
                continue;
            float p[RMAX];
#pragma unroll
            for (int r = 0; r < RMAX; r++)
                p[r] = r < nrows ? lg_s[r * PART + jj] : 0.0f;
#pragma unroll
            for (int cc = 0; cc < CPL; cc++) {
                const int c = li + cc * GS;
                if (c < NCH) {
                    float f[VEC];
                    vr[u][cc].to_float(f);
#pragma unroll
                    for (int r = 0; r < RMAX; r++)
                        if (r < nrows)
#pragma unroll
                            for (int v = 0; v < VEC; v++)
                                acc[r][cc][v] = fmaf(p[r], f[v], acc[r][cc][v]);
                }
            }
        }
    }

    /* the groups' sums, in group order, into the query rows' space (no longer read) */
    float *red = q_s;
    for (int s = 0; s < NG; s++) {
        if (grp == s) {
#pragma unroll
            for (int r = 0; r < RMAX; r++) {
                if (r >= nrows)
                    break;
#pragma unroll
                for (int cc = 0; cc < CPL; cc++) {
                    const int c = li + cc * GS;
                    if (c < NCH)
#pragma unroll
                        for (int v = 0; v < VEC; v++) {
                            const int x = r * D + c * VEC + v;
                            red[x] = (s ? red[x] : 0.0f) + acc[r][cc][v];
                        }
                }
            }
        }
        __syncthreads();
    }

    if (it.part < 0) {
        T *out = (T *)A.out;
        const int64_t ostride = (int64_t)A.H * D;
        for (int x = tid; x < nrows * D; x += NT) {
            const int r = x / D, d = x - r * D;
            out[(int64_t)t_s[r] * ostride + (int64_t)h_s[r] * D + d] = from_f<T>(red[x] / l_s[r]);
        }
    } else {
        const int64_t base = ((int64_t)it.part * A.Hkv + g) * RC;
        for (int x = tid; x < nrows * D; x += NT)
            A.pacc[base * D + x] = red[x];
        if (tid < nrows) {
            A.pm[base + tid] = m_s[tid];
            A.pl[base + tid] = l_s[tid];
        }
    }
}

/* ---- attend, single pass ----------------------------------------------------------------------------- */

constexpr float LOG2E = 1.4426950408889634f, LN2 = 0.6931471805599453f;

/*
 * For head sizes whose row one group of GS (8, 16 or 32) lanes covers with
 * one 16-byte chunk a lane (CPL = 1, VEC = 16 / sizeof(T)).  Each lane keeps
 * its chunk of the item's R query rows in registers, pre-multiplied by
 * scale * log2(e) so that scores come out in base 2 (exp2 is one hardware
 * instruction).  A group takes key positions U at a time, loading their
 * key and value chunks together, reduces the dot products over its lanes
 * (every lane gets the same sums), and folds the U scores into its running
 * maximum, sum and accumulator per row (an online softmax, one rescale per
 * U keys).  Steps whose keys every row sees skip the masking.  At the end
 * the groups' states are combined in group order (deterministic) through
 * shared memory; partials store their maximum in natural-log units, as the
 * merge expects.  The block table slice of the item is staged in shared
 * memory first, so that a key's address costs no dependent global load.
 */
template <typename T, int VEC, int GS>
__global__ void __launch_bounds__(NT, 4) stream_kernel(const ocs_cuda_pa_args A)
{
    constexpr int R = 32 / VEC;           /* most rows an item holds: 4 (16-bit types), 8 (float) */
    constexpr int U = R > 4 ? 2 : 4;      /* key positions per group per step (fewer with more rows) */
    constexpr int NG = NT / GS;           /* groups */
    constexpr int STEP = NG * U;          /* key positions per step of the block */
    __shared__ int pg_s[PART + 1];        /* the item's block-table slice */
    __shared__ __align__(16) float part_s[NG * R * GS * VEC];   /* groups x rows x D */
    __shared__ float m_s[NG * R], l_s[NG * R];
    __shared__ float M_s[R], L_s[R];
    __shared__ int t_s[R], h_s[R], lo_s[R], p_s[R];
    static_assert(R <= 8 && VEC * (int)sizeof(T) == 16 && GS >= 8 && GS <= 32, "one 16-byte chunk a lane");

    const ocs_cuda_pa_item it = A.items[blockIdx.x];
    const int g = blockIdx.y, D = A.D, BS = A.BS;
    const int nrows = it.nrows, n = it.k1 - it.k0, k0 = it.k0;
    const int tid = threadIdx.x, li = tid % GS, grp = tid / GS;
    const bool on = li < D / VEC;         /* the lane holds a chunk of the row */
    const int pg0 = k0 / BS, npg = (it.k1 - 1) / BS - pg0 + 1;
    const int32_t *trow = A.table + (int64_t)it.b * A.MB;

    if (tid < nrows)
        row_meta(A, it, g, tid, t_s, h_s, lo_s, p_s);
    for (int x = tid; x < npg; x += NT)
        pg_s[x] = trow[pg0 + x];
    __syncthreads();

    /* keys [vis_lo, vis_hi] are visible to every row of the item */
    int vis_lo = 0, vis_hi = INT32_MAX;
    for (int r = 0; r < nrows; r++) {
        vis_lo = max(vis_lo, lo_s[r]);
        vis_hi = min(vis_hi, p_s[r]);
    }

    const float qscale = A.scale * LOG2E;
    float q[R][VEC];
#pragma unroll
    for (int r = 0; r < R; r++) {
        Chunk<T, VEC> c;
        c.zero();
        if (on && r < nrows)
            c.load((const T *)A.q + (int64_t)t_s[r] * A.q_stride + (int64_t)h_s[r] * D + li * VEC);
        c.to_float(q[r]);
#pragma unroll
        for (int v = 0; v < VEC; v++)
            q[r][v] *= qscale;
    }

    float m[R], l[R], acc[R][VEC];
#pragma unroll
    for (int r = 0; r < R; r++) {
        m[r] = -INFINITY;
        l[r] = 0.0f;
#pragma unroll
        for (int v = 0; v < VEC; v++)
            acc[r][v] = 0.0f;
    }
    const int64_t sstride = (int64_t)A.Hkv * D;
    const T *kb = (const T *)A.kcache + (int64_t)g * D + li * VEC;
    const T *vb = (const T *)A.vcache + (int64_t)g * D + li * VEC;
    const float capl = A.softcap * LOG2E;   /* the cap in base-2 units */

    /* the loop bounds are uniform over the block (the shuffles need whole warps) */
    for (int jb = 0; jb < n; jb += STEP) {
        Chunk<T, VEC> kr[U], vr[U];
#pragma unroll
        for (int u = 0; u < U; u++) {
            const int jj = jb + u * NG + grp;
            kr[u].zero();
            vr[u].zero();
            if (on && jj < n) {
                const int j = k0 + jj;
                const int64_t off = ((int64_t)pg_s[j / BS - pg0] * BS + j % BS) * sstride;
                kr[u].load(kb + off);
                vr[u].load(vb + off);
            }
        }
        float s[U][R];
#pragma unroll
        for (int u = 0; u < U; u++) {
            float f[VEC];
            kr[u].to_float(f);
#pragma unroll
            for (int r = 0; r < R; r++) {
                float d = 0.0f;
#pragma unroll
                for (int v = 0; v < VEC; v++)
                    d = fmaf(q[r][v], f[v], d);
#pragma unroll
                for (int off = GS / 2; off > 0; off >>= 1)
                    d += __shfl_xor_sync(FULL, d, off);
                s[u][r] = d;
            }
        }
        if (capl > 0.0f) {
#pragma unroll
            for (int u = 0; u < U; u++)
#pragma unroll
                for (int r = 0; r < R; r++)
                    s[u][r] = capl * tanhf(s[u][r] / capl);
        }
        /* masking, only where some key of the step is invalid or hidden from some row */
        if (jb + STEP > n || k0 + jb < vis_lo || k0 + jb + STEP - 1 > vis_hi) {
#pragma unroll
            for (int u = 0; u < U; u++) {
                const int jj = jb + u * NG + grp, j = k0 + jj;
#pragma unroll
                for (int r = 0; r < R; r++)
                    if (r < nrows && (jj >= n || j < lo_s[r] || j > p_s[r]))
                        s[u][r] = -INFINITY;
            }
        }
        /* scores -> weights, one rescale of each row's state per step */
#pragma unroll
        for (int r = 0; r < R; r++) {
            float mx = m[r];
#pragma unroll
            for (int u = 0; u < U; u++)
                mx = fmaxf(mx, s[u][r]);
            /* nothing visible yet (mx = -inf): the weights are 0 and the state stays empty */
            const float base = mx == -INFINITY ? 0.0f : mx;
            const float c = exp2f(m[r] - base);   /* 0 while m[r] is -inf */
            float add = 0.0f;
#pragma unroll
            for (int u = 0; u < U; u++) {
                s[u][r] = exp2f(s[u][r] - base);
                add += s[u][r];
            }
            l[r] = fmaf(l[r], c, add);
            m[r] = mx;
#pragma unroll
            for (int v = 0; v < VEC; v++)
                acc[r][v] *= c;
        }
#pragma unroll
        for (int u = 0; u < U; u++) {
            float f[VEC];
            vr[u].to_float(f);
#pragma unroll
            for (int r = 0; r < R; r++)
#pragma unroll
                for (int v = 0; v < VEC; v++)
                    acc[r][v] = fmaf(s[u][r], f[v], acc[r][v]);
        }
    }

    /* the groups' states: the row maxima and sums, then the accumulators rescaled to them */
    if (li == 0) {
#pragma unroll
        for (int r = 0; r < R; r++)
            if (r < nrows) {
                m_s[grp * R + r] = m[r];
                l_s[grp * R + r] = l[r];
            }
    }
    __syncthreads();
    if (tid < nrows) {
        float M = -INFINITY, L = 0.0f;
        for (int q2 = 0; q2 < NG; q2++)
            M = fmaxf(M, m_s[q2 * R + tid]);
        for (int q2 = 0; q2 < NG; q2++) {
            const float mq = m_s[q2 * R + tid];
            if (mq != -INFINITY)
                L += l_s[q2 * R + tid] * exp2f(mq - M);
        }
        M_s[tid] = M;
        L_s[tid] = L;
    }
    __syncthreads();
    if (on) {
#pragma unroll
        for (int r = 0; r < R; r++) {
            if (r < nrows) {
                const float c = m[r] == -INFINITY ? 0.0f : exp2f(m[r] - M_s[r]);
                float *dst = part_s + (grp * R + r) * D + li * VEC;
#pragma unroll
                for (int v = 0; v < VEC; v++)
                    dst[v] = acc[r][v] * c;
            }
        }
    }
    __syncthreads();
    const int64_t base = it.part < 0 ? 0 : ((int64_t)it.part * A.Hkv + g) * A.rows_cap;
    for (int x = tid; x < nrows * D; x += NT) {
        const int r = x / D, d = x - r * D;
        float sum = 0.0f;
#pragma unroll
        for (int q2 = 0; q2 < NG; q2++)
            sum += part_s[(q2 * R + r) * D + d];
        if (it.part < 0)
            ((T *)A.out)[(int64_t)t_s[r] * ((int64_t)A.H * D) + (int64_t)h_s[r] * D + d] = from_f<T>(sum / L_s[r]);
        else
            A.pacc[base * D + x] = sum;
    }
    if (it.part >= 0 && tid < nrows) {
        A.pm[base + tid] = M_s[tid] * LN2;   /* natural-log units, as the tiled kernel writes them */
        A.pl[base + tid] = L_s[tid];
    }
}

/* ---- merge ----------------------------------------------------------------------------------------- */

template <typename T>
__global__ void __launch_bounds__(NT) merge_kernel(const ocs_cuda_pa_args A)
{
    __shared__ float M_s[OCS_CUDA_PA_ROWS], L_s[OCS_CUDA_PA_ROWS];
    __shared__ int t_s[OCS_CUDA_PA_ROWS], h_s[OCS_CUDA_PA_ROWS];
    const ocs_cuda_pa_mergeitem mg = A.merges[blockIdx.x];
    const int g = blockIdx.y, RC = A.rows_cap, D = A.D, G = A.G;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    for (int r = warp; r < mg.nrows; r += NT / 32) {
        float M = -INFINITY;
        for (int q = lane; q < mg.nparts; q += 32)
            M = fmaxf(M, A.pm[((int64_t)(mg.part0 + q) * A.Hkv + g) * RC + r]);
        for (int off = 16; off > 0; off >>= 1)
            M = fmaxf(M, __shfl_xor_sync(FULL, M, off));
        float L = 0.0f;
        for (int q = lane; q < mg.nparts; q += 32) {
            const int64_t ix = ((int64_t)(mg.part0 + q) * A.Hkv + g) * RC + r;
            const float mq = A.pm[ix];
            if (mq != -INFINITY)
                L += A.pl[ix] * expf(mq - M);
        }
        for (int off = 16; off > 0; off >>= 1)
            L += __shfl_xor_sync(FULL, L, off);
        if (lane == 0) {
            const int rho = mg.rho0 + r;
            M_s[r] = M;
            L_s[r] = L;
            t_s[r] = A.cu[mg.b] + rho / G;
            h_s[r] = g * G + rho % G;
        }
    }
    __syncthreads();
    T *out = (T *)A.out;
    const int64_t ostride = (int64_t)A.H * D;
    for (int x = tid; x < mg.nrows * D; x += NT) {
        const int r = x / D, d = x - r * D;
        float acc = 0.0f;
        for (int q = 0; q < mg.nparts; q++) {
            const int64_t ix = ((int64_t)(mg.part0 + q) * A.Hkv + g) * RC + r;
            const float mq = A.pm[ix];
            if (mq != -INFINITY)
                acc += A.pacc[ix * D + d] * expf(mq - M_s[r]);
        }
        out[(int64_t)t_s[r] * ostride + (int64_t)h_s[r] * D + d] = from_f<T>(acc / L_s[r]);
    }
}

/* ---- dispatch ----------------------------------------------------------------------------------------- */

typedef void (*attend_fn)(ocs_cuda_pa_args);

template <typename T> attend_fn pick_attend(int vec, int cpl)
{
    constexpr int WIDE = 16 / sizeof(T);
    if (vec == 1) {
        switch (cpl) {
        case 1: return attend_kernel<T, 1, 1>;
        case 2: return attend_kernel<T, 1, 2>;
        case 4: return attend_kernel<T, 1, 4>;
        case 8: return attend_kernel<T, 1, 8>;
        default: return nullptr;
        }
    }
    if (vec == WIDE) {
        switch (cpl) {
        case 1: return attend_kernel<T, WIDE, 1>;
        case 2: return attend_kernel<T, WIDE, 2>;
        case 4: return attend_kernel<T, WIDE, 4>;
        default: return nullptr;
        }
    }
    return nullptr;
}

template <typename T> attend_fn pick_stream(int vec, int cpl, int gs)
{
    constexpr int WIDE = 16 / sizeof(T);
    if (vec != WIDE || cpl != 1)
        return nullptr;
    switch (gs) {
    case 8: return stream_kernel<T, WIDE, 8>;
    case 16: return stream_kernel<T, WIDE, 16>;
    case 32: return stream_kernel<T, WIDE, 32>;
    default: return nullptr;
    }
}

attend_fn pick(int dtype, int stream, int vec, int cpl, int gs)
{
    switch (dtype) {
    case 1: return stream ? pick_stream<float>(vec, cpl, gs) : pick_attend<float>(vec, cpl);
    case 10: return stream ? pick_stream<__half>(vec, cpl, gs) : pick_attend<__half>(vec, cpl);
    case 16: return stream ? pick_stream<__nv_bfloat16>(vec, cpl, gs) : pick_attend<__nv_bfloat16>(vec, cpl);
    default: return nullptr;
    }
}

} /* namespace */

extern "C" int ocs_cuda_pa_have_variant(int dtype, int stream, int vec, int cpl, int gs)
{
    return pick(dtype, stream, vec, cpl, gs) != nullptr;
}

extern "C" cudaError_t ocs_cuda_pa_write(const ocs_cuda_pa_args *a, cudaStream_t s)
{
    if (a->T <= 0)
        return cudaSuccess;
    switch (a->dtype) {
    case 1: write_kernel<float><<<a->T, NT, 0, s>>>(*a); break;
    case 10: write_kernel<__half><<<a->T, NT, 0, s>>>(*a); break;
    case 16: write_kernel<__nv_bfloat16><<<a->T, NT, 0, s>>>(*a); break;
    default: return cudaErrorInvalidValue;
    }
    return cudaGetLastError();
}

extern "C" cudaError_t ocs_cuda_pa_attend(const ocs_cuda_pa_args *a, cudaStream_t s)
{
    if (a->n_items <= 0)
        return cudaSuccess;
    attend_fn k = pick(a->dtype, a->stream, a->vec, a->cpl, a->gs);
    if (!k)
        return cudaErrorInvalidValue;
    if (!a->stream && a->smem > 48 * 1024) {
        cudaError_t e = cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)a->smem);
        if (e != cudaSuccess)
            return e;
    }
    const dim3 grid((unsigned)a->n_items, (unsigned)a->Hkv);
    k<<<grid, NT, a->stream ? 0 : a->smem, s>>>(*a);
    return cudaGetLastError();
}

extern "C" cudaError_t ocs_cuda_pa_merge(const ocs_cuda_pa_args *a, cudaStream_t s)
{
    if (a->n_merges <= 0)
        return cudaSuccess;
    const dim3 grid((unsigned)a->n_merges, (unsigned)a->Hkv);
    switch (a->dtype) {
    case 1: merge_kernel<float><<<grid, NT, 0, s>>>(*a); break;
    case 10: merge_kernel<__half><<<grid, NT, 0, s>>>(*a); break;
    case 16: merge_kernel<__nv_bfloat16><<<grid, NT, 0, s>>>(*a); break;
    default: return cudaErrorInvalidValue;
    }
    return cudaGetLastError();
}
