/*
 * conformance/bench.h - `ocs bench`: the benchmark's internal interface.
 *
 * bench.c runs the target cases (PagedAttention decode and prefill, MoE with
 * a SwiGLU expert) on the reference and on each backend, side by side with
 * ceilings measured in the same run by ceilings.c: streaming memory read
 * bandwidth with 1 and N threads, and OpenBLAS sgemm GFLOP/s.  The small
 * pieces below (option parsing, median, the JSON document) are declared here
 * so that the unit tests can reach them; they do no timing of their own.
 */
#ifndef OCS_BENCH_H
#define OCS_BENCH_H

#include <stddef.h>
#include <stdio.h>

#include "ocs/status.h"

#define OCS_BENCH_MAX_BACKENDS 8
#define OCS_BENCH_NAME_MAX 32

typedef struct ocs_bench_opts {
    const char *cases;          /* POSIX extended regex on case names, NULL: all */
    char backends[OCS_BENCH_MAX_BACKENDS][OCS_BENCH_NAME_MAX];
    size_t n_backends;          /* "reference" is one of them, or absent */
    int repeat;                 /* timed runs per backend after one warm-up */
    const char *json;           /* NULL: no JSON */
    int quick;                  /* shrunken sizes for a smoke run */
    int ref_full;               /* run the reference at full size, never on a proxy */
    int timeout_s;              /* per case and backend, in its child process */
    int list;                   /* print the cases and exit */
    int help;
} ocs_bench_opts;

/*
 * Parses the arguments after "bench" (argv[0] is "bench").  Defaults: every
 * case, backends "reference,cpu", repeat 5, timeout 900 s.  Options take
 * "--opt VALUE" or "--opt=VALUE".  On a bad argument returns
 * OCS_ERR_INVALID naming it.  o->cases and o->json point into argv.
 */
ocs_status ocs_bench_parse_args(int argc, char **argv, ocs_bench_opts *o, ocs_err *err);

/* Median of v[0..n) (mean of the two middle values when n is even); v is
 * sorted in place.  NaN when n == 0. */
double ocs_bench_median(double *v, size_t n);

/* Writes s as a JSON string literal: quotes included, '"' and '\\' and
 * control characters (below 0x20) escaped, other bytes (UTF-8) as they are. */
void ocs_bench_json_string(FILE *f, const char *s);
/* Writes v as a JSON number with enough digits to round-trip, or null when
 * v is NaN or infinite (JSON has neither). */
void ocs_bench_json_number(FILE *f, double v);

/* The ceilings measured in the same run. */
typedef struct ocs_ceilings {
    double membw_gbs;           /* streaming read, `threads` threads, GB/s (1e9 bytes) */
    double membw_1t_gbs;        /* the same with one thread */
    double sgemm_gflops;        /* cblas_sgemm n^3, `threads` OpenBLAS threads */
    int threads;
    size_t membw_bytes;         /* buffer size read */
    int sgemm_n;                /* matrix size */
    int avx2;                   /* the read loop used AVX2 */
} ocs_ceilings;

/* What the ratio to the ceiling divides by. */
typedef enum ocs_bench_bound {
    OCS_BENCH_MEMORY = 0,       /* rate in GB/s, against membw_gbs */
    OCS_BENCH_COMPUTE           /* rate in GFLOP/s, against sgemm_gflops */
} ocs_bench_bound;

typedef enum ocs_bench_outcome {
    OCS_BENCH_DONE = 0,
    OCS_BENCH_UNSUPPORTED,      /* the backend does not run this case */
    OCS_BENCH_ERROR             /* it failed, crashed or timed out */
} ocs_bench_outcome;

/* One line of the table and one entry of the JSON "cases" array. */
typedef struct ocs_bench_row {
    char name[OCS_BENCH_NAME_MAX];
    char backend[OCS_BENCH_NAME_MAX];
    ocs_bench_outcome outcome;
    double median_ms;           /* NaN when not run */
    double rate;                /* GB/s or GFLOP/s */
    ocs_bench_bound bound;
    double ratio_to_ceiling;    /* paired: median over the runs of the run's rate over the
                                   better probe pass around it; else ratio_to_best */
    double ratio_to_best;       /* rate over the run's best ceiling */
    int paired;                 /* ratio_to_ceiling came from probe passes */
    double speedup_vs_reference;   /* NaN when the reference did not run */
    long long peak_extra_bytes; /* -1 when unknown */
    int proxy;                  /* the time is scaled from a smaller proxy case */
    char note[OCS_ERR_MAX + 512];  /* why not run, the proxy used, the check result */
} ocs_bench_row;

/* "GB/s" or "GFLOP/s". */
const char *ocs_bench_unit(ocs_bench_bound b);

/*
 * Writes the JSON document:
 *   {"ceilings": {"membw_gbs", "membw_1t_gbs", "sgemm_gflops", "threads"},
 *    "cases": [{"name", "backend", "median_ms", "rate", "unit",
 *               "ratio_to_ceiling", "speedup_vs_reference", "peak_extra_bytes"}]}
 * Values that were not measured are null.
 */
void ocs_bench_write_json(FILE *f, const ocs_ceilings *c, const ocs_bench_row *rows, size_t n);

/*
 * Measures the ceilings: the read bandwidth of a buffer of `bytes` (much
 * larger than the last-level cache) with one and with `threads` threads,
 * and cblas_sgemm GFLOP/s on n x n matrices with `threads` OpenBLAS
 * threads; each the median of several passes after a warm-up.
 */
ocs_status ocs_bench_ceilings(size_t bytes, int n, int threads, ocs_ceilings *out, ocs_err *err);

/*
 * Probes, kept alive next to the code they are compared with.  A bandwidth
 * probe owns a buffer of `bytes` and threads-1 sleeping threads; each pass
 * reads the whole buffer with `threads` of them (at most the probe's) and
 * returns GB/s.  A GEMM probe owns three n x n matrices; each pass is one
 * cblas_sgemm (OpenBLAS set to `threads` threads) and returns GFLOP/s.
 */
typedef struct ocs_bw_probe ocs_bw_probe;
ocs_status ocs_bw_probe_new(size_t bytes, int threads, ocs_bw_probe **out, ocs_err *err);
double ocs_bw_probe_pass(ocs_bw_probe *p, int threads);
size_t ocs_bw_probe_bytes(const ocs_bw_probe *p);
int ocs_bw_probe_avx2(const ocs_bw_probe *p);
void ocs_bw_probe_free(ocs_bw_probe *p);

typedef struct ocs_gemm_probe ocs_gemm_probe;
ocs_status ocs_gemm_probe_new(int n, int threads, ocs_gemm_probe **out, ocs_err *err);
double ocs_gemm_probe_pass(ocs_gemm_probe *g);
void ocs_gemm_probe_free(ocs_gemm_probe *g);

/* Sets OpenBLAS's thread count. */
void ocs_bench_blas_threads(int threads);

/* The thread count the CPU backend uses: OCS_NUM_THREADS, else every online core. */
int ocs_bench_threads(void);

/* Monotonic clock in seconds. */
double ocs_bench_now(void);

#endif /* OCS_BENCH_H */
