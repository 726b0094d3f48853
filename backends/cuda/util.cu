/*
 * backends/cuda/util.cu - small device helpers of the CUDA backend: fill
 * kernels (a word pattern; seeded uniform values, so that the benchmark
 * never times zeros and needs no host-side generation of gigabytes) and the
 * probe that tells whether this build carries code for the device at hand.
 */
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

#include "kernels.h"

namespace {

__global__ void fill_kernel(uint32_t *p, size_t n, uint32_t v)
{
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        p[i] = v;
}

/* splitmix64 of (seed, i): the same values on every device and launch shape */
__device__ __forceinline__ uint64_t mix(uint64_t z)
{
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

__global__ void uniform_kernel(void *p, size_t n, int dtype, uint64_t seed, float lo, float hi)
{
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        const float u = (float)(mix(seed * 0x100000001B3ull + i) >> 40) * (1.0f / 16777216.0f);
        const float v = lo + (hi - lo) * u;
        if (dtype == 10)
            ((__half *)p)[i] = __float2half_rn(v);
        else if (dtype == 16)
            ((__nv_bfloat16 *)p)[i] = __float2bfloat16_rn(v);
        else
            ((float *)p)[i] = v;
    }
}

} /* namespace */

extern "C" cudaError_t ocs_cuda_fill_uniform(void *p, size_t n, int dtype, uint64_t seed, float lo, float hi,
                                             cudaStream_t s)
{
    if (n == 0)
        return cudaSuccess;
    if (dtype != 1 && dtype != 10 && dtype != 16)
        return cudaErrorInvalidValue;
    size_t blocks = (n + 255) / 256;
    if (blocks > 65535)
        blocks = 65535;
    uniform_kernel<<<(unsigned)blocks, 256, 0, s>>>(p, n, dtype, seed, lo, hi);
    return cudaGetLastError();
}

extern "C" cudaError_t ocs_cuda_fill_u32(void *p, size_t n_words, uint32_t v, cudaStream_t s)
{
    if (n_words == 0)
        return cudaSuccess;
    size_t blocks = (n_words + 255) / 256;
    if (blocks > 65535)
        blocks = 65535;
    fill_kernel<<<(unsigned)blocks, 256, 0, s>>>((uint32_t *)p, n_words, v);
    return cudaGetLastError();
}

extern "C" cudaError_t ocs_cuda_probe(void)
{
    cudaFuncAttributes attr;
    return cudaFuncGetAttributes(&attr, fill_kernel);
}
