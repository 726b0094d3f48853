/*
 * backends/cuda/gpu_bench.h - the CUDA backend's benchmark: the GPU target
 * cases timed on buffers already on the device, next to ceilings measured
 * in the same run (device-to-device copy bandwidth; cuBLAS GEMM rate at each
 * precision).  `ocs bench` or a small driver calls ocs_cuda_bench_main; the
 * pieces are exported for callers that print their own tables.
 */
#ifndef OCS_CUDA_GPU_BENCH_H
#define OCS_CUDA_GPU_BENCH_H

#include <stddef.h>

#include "ocs/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ocs_cuda_ceilings {
    double copy_gbs;            /* cudaMemcpy device to device: (bytes read + bytes written) / s / 1e9 */
    double gemm_tflops[3];      /* cuBLAS n^3 GEMM, 2 n^3 / s / 1e12: [0] float32 (no TF32), [1] float16,
                                   [2] bfloat16; float32 accumulation, output in the input type */
    size_t copy_bytes;          /* buffer copied */
    int gemm_n;
} ocs_cuda_ceilings;

/* Measures the ceilings on backend b (which must be the cuda backend); each the median of several
 * timed repetitions after a warm-up, on seeded random data. */
ocs_status ocs_cuda_measure_ceilings(ocs_backend *b, size_t copy_bytes, int gemm_n, ocs_cuda_ceilings *out,
                                     ocs_err *err);

typedef enum ocs_cuda_bench_bound {
    OCS_CUDA_BENCH_COPY = 0,    /* rate in GB/s against copy_gbs */
    OCS_CUDA_BENCH_GEMM_F32,    /* rate in TFLOP/s against gemm_tflops[0] */
    OCS_CUDA_BENCH_GEMM_F16,
    OCS_CUDA_BENCH_GEMM_BF16
} ocs_cuda_bench_bound;

typedef struct ocs_cuda_bench_row {
    char name[48];
    int ran;                    /* 0: not run (note says why) */
    double median_ms, min_ms;   /* device time per call (CUDA events) */
    double work;                /* bytes or FLOPs one call must move or do */
    double rate;                /* GB/s or TFLOP/s */
    ocs_cuda_bench_bound bound;
    double ceiling;             /* the ceiling's rate */
    double ratio;               /* rate / ceiling */
    double target;              /* the ratio the issue asks for, 0: none */
    char check[96];             /* the correctness check's result */
    char note[256];
} ocs_cuda_bench_row;

/* Runs the cases (quick: smaller shapes for a smoke run) repeat times each; rows[0..*n) (at most max). */
ocs_status ocs_cuda_bench_cases(ocs_backend *b, int quick, int repeat, const ocs_cuda_ceilings *ceil,
                                ocs_cuda_bench_row *rows, size_t max, size_t *n, ocs_err *err);

/*
 * `ocs cuda-bench [--quick] [--repeat N] [--json FILE]`: opens the cuda backend, measures the ceilings,
 * runs the cases and prints one table (and the JSON document when asked).  Exit status 0 when every case
 * ran and passed its correctness check (a missed speed target is reported, not an error), 1 otherwise,
 * 2 when the backend is not present or the arguments are wrong.
 */
int ocs_cuda_bench_main(int argc, char **argv);

#ifdef __cplusplus
}
#endif
#endif
