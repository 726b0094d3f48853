/*
 * conformance/bench.c - `ocs bench`: the target cases on the reference and
 * on each backend, side by side with ceilings measured in the same run.
 *
 * Cases (fp32, fixed-seed random data, every tensor a graph input):
 *   pa_decode_ctx2048/8192  PagedAttention decode: batch 8, 32 query heads,
 *                           8 KV heads, head_size 128, block_size 16, one new
 *                           token per sequence, context (past + 1) 2048/8192;
 *                           blocks shuffled.  Memory-bound: the rate counts
 *                           the K and V cache bytes the context must read.
 *   pa_prefill_2048         one sequence of 2048 new tokens, causal, same
 *                           heads.  Compute-bound: causal attention FLOPs,
 *                           4 * head_size * sum over queries of the keys seen,
 *                           per query head (Q K^T and P V).
 *   moe_t512/t16/t1         MoE, H 1024, I 2816, E 8, k 2, default router,
 *                           SwiGLU expert (hooks.h, gate/up/down separate).
 *                           512 tokens: compute-bound, 2 T k (3 H I) FLOPs;
 *                           16 and 1 token: memory-bound, the weight bytes of
 *                           every expert the router selects.
 *
 * Ceilings: N-thread memory read bandwidth and sgemm GFLOP/s (ceilings.c),
 * measured before the first case and after each case; the best of these
 * medians is the run's ceiling, reported in the JSON ("of best" column).
 * Because the machine may be shared, each backend's ratio pairs every timed
 * run with a probe pass (memory read for memory-bound cases, sgemm for
 * compute-bound ones) made right before and right after it in the same
 * process: the run's rate over the better of the two passes, median over
 * the runs.  The pass also leaves the caches cold, as the other layers of a
 * real model would; N threads means the backend's pool and OpenBLAS alike.
 *
 * Each measurement runs in a child process, so that a crash or a timeout
 * ends one measurement, not the run, and so that memory is measured per
 * case and backend.  Peak extra memory is the growth of the resident set
 * from just before the backend is opened until its last run ends: the
 * child returns free heap pages to the system (malloc_trim), resets the
 * peak through /proc/self/clear_refs, and reports VmHWM at the end minus
 * VmRSS at the reset.  It counts everything the backend and the executor
 * allocate and touch (per-session state, scratch, thread stacks, the output
 * tensors), not the inputs, which exist already.  PagedAttention's cache
 * outputs are not requested (a real engine updates the cache in place), so
 * an allocation proportional to the KV cache would show as hundreds of MiB.
 *
 * Timing: each backend runs once to warm up, then --repeat times, and the
 * median counts.  The reference is slow: when its first run takes longer
 * than a second, that run is its only sample, and the two largest
 * compute-bound cases run it on a smaller proxy (512 prefill tokens, 64 MoE
 * tokens) whose time is scaled by the ratio of the work, labelled as such;
 * --ref-full runs it at full size instead.  Every backend's output is
 * compared with the reference's on the shape the reference ran (the proxy
 * gets one extra backend run for that).
 */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */

#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <regex.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "ocs/backend.h"
#include "ocs/build.h"
#include "ocs/exec.h"
#include "ocs/hooks.h"
#include "ocs/schema.h"

#define MAX_REPEAT 1000
#define BENCH_SEED 20240611u
#define LONG_RUN_S 1.0          /* a first run this long is the only sample */
#define CEILING_TIMEOUT_S 600  /* for measuring the ceilings, whatever --timeout says */
#define CHECK_ATOL 1e-4
#define CHECK_RTOL 1e-3

/* ---- small machinery (unit-tested) ------------------------------------------------ */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double ocs_bench_median(double *v, size_t n)
{
    if (n == 0)
        return NAN;
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

void ocs_bench_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\b': fputs("\\b", f); break;
        case '\f': fputs("\\f", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (*p < 0x20)
                fprintf(f, "\\u%04x", *p);
            else
                fputc(*p, f);
        }
    }
    fputc('"', f);
}

void ocs_bench_json_number(FILE *f, double v)
{
    if (!isfinite(v)) {
        fputs("null", f);
        return;
    }
    if (v == floor(v) && fabs(v) < 9e15)
        fprintf(f, "%.0f", v);
    else
        fprintf(f, "%.17g", v);
}

const char *ocs_bench_unit(ocs_bench_bound b)
{
    return b == OCS_BENCH_COMPUTE ? "GFLOP/s" : "GB/s";
}

void ocs_bench_write_json(FILE *f, const ocs_ceilings *c, const ocs_bench_row *rows, size_t n)
{
    fputs("{\n  \"ceilings\": {\"membw_gbs\": ", f);
    ocs_bench_json_number(f, c->membw_gbs);
    fputs(", \"membw_1t_gbs\": ", f);
    ocs_bench_json_number(f, c->membw_1t_gbs);
    fputs(", \"sgemm_gflops\": ", f);
    ocs_bench_json_number(f, c->sgemm_gflops);
    fputs(", \"threads\": ", f);
    ocs_bench_json_number(f, c->threads);
    fputs("},\n  \"cases\": [", f);
    for (size_t i = 0; i < n; i++) {
        const ocs_bench_row *r = &rows[i];
        int ran = r->outcome == OCS_BENCH_DONE;
        fputs(i ? ",\n    {\"name\": " : "\n    {\"name\": ", f);
        ocs_bench_json_string(f, r->name);
        fputs(", \"backend\": ", f);
        ocs_bench_json_string(f, r->backend);
        fputs(", \"median_ms\": ", f);
        ocs_bench_json_number(f, ran ? r->median_ms : NAN);
        fputs(", \"rate\": ", f);
        ocs_bench_json_number(f, ran ? r->rate : NAN);
        fputs(", \"unit\": ", f);
        ocs_bench_json_string(f, ocs_bench_unit(r->bound));
        fputs(", \"ratio_to_ceiling\": ", f);
        ocs_bench_json_number(f, ran ? r->ratio_to_ceiling : NAN);
        fputs(", \"speedup_vs_reference\": ", f);
        ocs_bench_json_number(f, ran ? r->speedup_vs_reference : NAN);
        fputs(", \"peak_extra_bytes\": ", f);
        ocs_bench_json_number(f, ran && r->peak_extra_bytes >= 0 ? (double)r->peak_extra_bytes : NAN);
        fputc('}', f);
    }
    fputs(n ? "\n  ]\n}\n" : "]\n}\n", f);
}

/* "--name VALUE" or "--name=VALUE": the value, advancing *i; NULL if this is not the option. */
static const char *opt_value(int argc, char **argv, int *i, const char *name, int *missing)
{
    size_t len = strlen(name);
    const char *a = argv[*i];
    if (strncmp(a, name, len))
        return NULL;
    if (a[len] == '=')
        return a + len + 1;
    if (a[len])
        return NULL;
    if (*i + 1 >= argc) {
        *missing = 1;
        return NULL;
    }
    return argv[++*i];
}

static ocs_status parse_backends(const char *list, ocs_bench_opts *o, ocs_err *err)
{
    o->n_backends = 0;
    const char *p = list;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == 0)
            return ocs_fail(err, OCS_ERR_INVALID, "--backends '%s': empty backend name", list);
        if (len >= OCS_BENCH_NAME_MAX)
            return ocs_fail(err, OCS_ERR_INVALID, "--backends '%s': name '%.*s' is too long", list, (int)len, p);
        if (o->n_backends == OCS_BENCH_MAX_BACKENDS)
            return ocs_fail(err, OCS_ERR_INVALID, "--backends '%s': more than %d backends", list,
                            OCS_BENCH_MAX_BACKENDS);
        char name[OCS_BENCH_NAME_MAX];
        memcpy(name, p, len);
        name[len] = 0;
        for (size_t i = 0; i < o->n_backends; i++)
            if (!strcmp(o->backends[i], name))
                return ocs_fail(err, OCS_ERR_INVALID, "--backends '%s': '%s' is listed twice", list, name);
        memcpy(o->backends[o->n_backends++], name, len + 1);
        if (!end)
            return OCS_OK;
        p = end + 1;
    }
}

static ocs_status parse_int(const char *opt, const char *v, int lo, int hi, int *out, ocs_err *err)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (!*v || *end || errno || x < lo || x > hi)
        return ocs_fail(err, OCS_ERR_INVALID, "%s '%s': expected an integer in %d..%d", opt, v, lo, hi);
    *out = (int)x;
    return OCS_OK;
}

ocs_status ocs_bench_parse_args(int argc, char **argv, ocs_bench_opts *o, ocs_err *err)
{
    memset(o, 0, sizeof *o);
    o->repeat = 5;
    o->timeout_s = 900;
    ocs_status st = parse_backends("reference,cpu", o, err);
    for (int i = 1; i < argc && st == OCS_OK; i++) {
        const char *a = argv[i], *v;
        int missing = 0;
        if (!strcmp(a, "-h") || !strcmp(a, "--help"))
            o->help = 1;
        else if (!strcmp(a, "--quick"))
            o->quick = 1;
        else if (!strcmp(a, "--ref-full"))
            o->ref_full = 1;
        else if (!strcmp(a, "--list"))
            o->list = 1;
        else if ((v = opt_value(argc, argv, &i, "--cases", &missing)))
            o->cases = v;
        else if ((v = opt_value(argc, argv, &i, "--backends", &missing)))
            st = parse_backends(v, o, err);
        else if ((v = opt_value(argc, argv, &i, "--repeat", &missing)))
            st = parse_int("--repeat", v, 1, MAX_REPEAT, &o->repeat, err);
        else if ((v = opt_value(argc, argv, &i, "--timeout", &missing)))
            st = parse_int("--timeout", v, 1, 86400, &o->timeout_s, err);
        else if ((v = opt_value(argc, argv, &i, "--json", &missing))) {
            if (!*v)
                st = ocs_fail(err, OCS_ERR_INVALID, "--json needs a file name");
            o->json = v;
        } else if (missing)
            st = ocs_fail(err, OCS_ERR_INVALID, "%s needs a value", a);
        else
            st = ocs_fail(err, OCS_ERR_INVALID, "unknown argument '%s'", a);
    }
    return st;
}

/* ---- cases ------------------------------------------------------------------------ */

typedef enum case_kind { PA_DECODE, PA_PREFILL, MOE } case_kind;

typedef struct shape {
    int64_t batch, heads, kv_heads, head_size, block_size;
    int64_t past, tokens;         /* PagedAttention: per sequence; MoE: tokens */
    int64_t hidden, inter, experts, k;
} shape;

typedef struct bench_case {
    const char *name;
    case_kind kind;
    ocs_bench_bound bound;
    shape full, quick;
    shape proxy;                  /* the reference's stand-in at full size; tokens 0: none */
} bench_case;

#define PA(B, past, T) {B, 32, 8, 128, 16, past, T, 0, 0, 0, 0}
#define PA_Q(B, past, T) {B, 8, 2, 64, 16, past, T, 0, 0, 0, 0}
#define MOE_S(T) {0, 0, 0, 0, 0, 0, T, 1024, 2816, 8, 2}
#define MOE_Q(T) {0, 0, 0, 0, 0, 0, T, 256, 704, 8, 2}
#define NONE {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}

static const bench_case cases[] = {
    {"pa_decode_ctx2048", PA_DECODE, OCS_BENCH_MEMORY, PA(8, 2047, 1), PA_Q(2, 255, 1), NONE},
    {"pa_decode_ctx8192", PA_DECODE, OCS_BENCH_MEMORY, PA(8, 8191, 1), PA_Q(2, 1023, 1), NONE},
    {"pa_prefill_2048", PA_PREFILL, OCS_BENCH_COMPUTE, PA(1, 0, 2048), PA_Q(1, 0, 256), PA(1, 0, 512)},
    {"moe_t512", MOE, OCS_BENCH_COMPUTE, MOE_S(512), MOE_Q(64), MOE_S(64)},
    {"moe_t16", MOE, OCS_BENCH_MEMORY, MOE_S(16), MOE_Q(4), NONE},
    {"moe_t1", MOE, OCS_BENCH_MEMORY, MOE_S(1), MOE_Q(1), NONE},
};
#define N_CASES (sizeof cases / sizeof cases[0])

static void describe_shape(case_kind kind, const shape *s, char *buf, size_t len)
{
    if (kind == MOE)
        snprintf(buf, len, "MoE fp32, %lld token%s, H %lld, I %lld, E %lld, k %lld, SwiGLU",
                 (long long)s->tokens, s->tokens == 1 ? "" : "s", (long long)s->hidden, (long long)s->inter,
                 (long long)s->experts, (long long)s->k);
    else
        snprintf(buf, len, "PagedAttention fp32, batch %lld x %lld new tokens, past %lld, heads %lld/%lld, "
                 "head_size %lld, block %lld", (long long)s->batch, (long long)s->tokens, (long long)s->past,
                 (long long)s->heads, (long long)s->kv_heads, (long long)s->head_size, (long long)s->block_size);
}

/* splitmix64: a fixed, fast stream per tensor. */
static uint64_t next64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [-scale, scale). */
static void fill_uniform(ocs_tensor *t, uint64_t seed, float scale)
{
    float *p = t->data;
    uint64_t s = seed;
    size_t i = 0;
    for (; i + 2 <= t->numel; i += 2) {
        uint64_t r = next64(&s);
        p[i] = ((float)(uint32_t)(r >> 40) * (1.0f / 8388608.0f) - 1.0f) * scale;
        p[i + 1] = ((float)(uint32_t)((r >> 8) & 0xFFFFFF) * (1.0f / 8388608.0f) - 1.0f) * scale;
    }
    if (i < t->numel)
        p[i] = ((float)(uint32_t)(next64(&s) >> 40) * (1.0f / 8388608.0f) - 1.0f) * scale;
}

#define MAX_INPUTS 8

/* A case made concrete: the model, its inputs, and the work it represents. */
typedef struct built {
    ocs_model *model;
    size_t n_inputs, n_outputs;
    const char *names[MAX_INPUTS];
    ocs_tensor *inputs[MAX_INPUTS];
    size_t out_numel;             /* elements of output 0 (float) */
    double work;                  /* bytes or FLOPs */
} built;

static void built_free(built *b)
{
    ocs_model_free(b->model);
    for (size_t i = 0; i < b->n_inputs; i++)
        ocs_tensor_free(b->inputs[i]);
    memset(b, 0, sizeof *b);
}

static ocs_status add_input(built *b, const char *name, ocs_dtype t, int rank, const int64_t *dims,
                            ocs_tensor **out, ocs_err *err)
{
    ocs_status st = ocs_graph_add_input(b->model->graph, name, t, rank, dims, err);
    if (st == OCS_OK)
        st = ocs_tensor_new(t, rank, dims, out, err);
    if (st == OCS_OK) {
        b->names[b->n_inputs] = name;
        b->inputs[b->n_inputs++] = *out;
    }
    return st;
}

static ocs_status build_pa(const shape *s, built *b, ocs_err *err)
{
    const int64_t B = s->batch, H = s->heads, Hk = s->kv_heads, D = s->head_size, BS = s->block_size;
    const int64_t T = B * s->tokens, ctx = s->past + s->tokens;
    const int64_t MB = (ctx + BS - 1) / BS, NB = B * MB;
    ocs_status st = ocs_model_new(&b->model, err);
    if (st == OCS_OK)
        st = ocs_model_import(b->model, "", 21, err);
    if (st == OCS_OK)
        st = ocs_model_import(b->model, OCS_PREVIEW_DOMAIN, 1, err);
    ocs_tensor *q = NULL, *k = NULL, *v = NULL, *kc = NULL, *vc = NULL, *cu = NULL, *past = NULL, *table = NULL;
    const int64_t dq[2] = {T, H * D}, dkv[2] = {T, Hk * D}, dc[4] = {NB, BS, Hk, D}, dcu[1] = {B + 1},
                  dp[1] = {B}, dt[2] = {B, MB};
    if (st == OCS_OK)
        st = add_input(b, "query", OCS_FLOAT, 2, dq, &q, err);
    if (st == OCS_OK)
        st = add_input(b, "key", OCS_FLOAT, 2, dkv, &k, err);
    if (st == OCS_OK)
        st = add_input(b, "value", OCS_FLOAT, 2, dkv, &v, err);
    if (st == OCS_OK)
        st = add_input(b, "key_cache", OCS_FLOAT, 4, dc, &kc, err);
    if (st == OCS_OK)
        st = add_input(b, "value_cache", OCS_FLOAT, 4, dc, &vc, err);
    if (st == OCS_OK)
        st = add_input(b, "cumulative_sequence_length", OCS_INT32, 1, dcu, &cu, err);
    if (st == OCS_OK)
        st = add_input(b, "past_seqlens", OCS_INT32, 1, dp, &past, err);
    if (st == OCS_OK)
        st = add_input(b, "block_table", OCS_INT32, 2, dt, &table, err);
    if (st != OCS_OK)
        return st;
    if (ctx > INT32_MAX || NB > INT32_MAX || T > INT32_MAX)
        return ocs_fail(err, OCS_ERR_INVALID, "PagedAttention bench shape exceeds int32 indices");

    fill_uniform(q, BENCH_SEED + 1, 1.0f);
    fill_uniform(k, BENCH_SEED + 2, 1.0f);
    fill_uniform(v, BENCH_SEED + 3, 1.0f);
    fill_uniform(kc, BENCH_SEED + 4, 1.0f);
    fill_uniform(vc, BENCH_SEED + 5, 1.0f);
    int32_t *pcu = cu->data, *pp = past->data, *pt = table->data;
    for (int64_t i = 0; i <= B; i++)
        pcu[i] = (int32_t)(i * s->tokens);
    for (int64_t i = 0; i < B; i++)
        pp[i] = (int32_t)s->past;
    /* every block used once, in shuffled order (pages are not contiguous) */
    for (int64_t i = 0; i < NB; i++)
        pt[i] = (int32_t)i;
    uint64_t rs = BENCH_SEED + 6;
    for (int64_t i = NB - 1; i > 0; i--) {
        int64_t j = (int64_t)(next64(&rs) % (uint64_t)(i + 1));
        int32_t x = pt[i];
        pt[i] = pt[j];
        pt[j] = x;
    }

    const char *ins[8] = {"query", "key", "value", "key_cache", "value_cache", "cumulative_sequence_length",
                          "past_seqlens", "block_table"};
    const char *outs[1] = {"output"};
    ocs_node *n = NULL;
    st = ocs_graph_add_node(b->model->graph, "PagedAttention", OCS_PREVIEW_DOMAIN, "pa", 8, ins, 1, outs, &n, err);
    if (st == OCS_OK)
        st = ocs_node_set_int(n, "num_heads", H, err);
    if (st == OCS_OK)
        st = ocs_node_set_int(n, "kv_num_heads", Hk, err);
    if (st == OCS_OK)
        st = ocs_graph_add_output(b->model->graph, "output", OCS_FLOAT, 2, dq, err);
    b->n_outputs = 1;
    b->out_numel = (size_t)(T * H * D);
    if (s->tokens == 1) {
        /* decode: every K and V row of the context is read once */
        b->work = (double)B * (double)ctx * (double)Hk * (double)D * sizeof(float) * 2.0;
    } else {
        /* causal: query i of a sequence sees past + i + 1 keys; Q K^T and P V, 2 FLOPs per MAC */
        double keys = 0;
        for (int64_t i = 0; i < s->tokens; i++)
            keys += (double)(s->past + i + 1);
        b->work = (double)B * (double)H * 4.0 * (double)D * keys;
    }
    return st;
}

static ocs_status build_moe(const shape *s, ocs_bench_bound bound, built *b, ocs_err *err)
{
    const int64_t T = s->tokens, Hd = s->hidden, I = s->inter, E = s->experts, K = s->k;
    ocs_status st = ocs_model_new(&b->model, err);
    if (st == OCS_OK)
        st = ocs_model_import(b->model, "", 21, err);
    if (st == OCS_OK)
        st = ocs_model_import(b->model, OCS_PREVIEW_DOMAIN, 1, err);
    ocs_tensor *x = NULL, *logits = NULL, *w1 = NULL, *w2 = NULL, *w3 = NULL;
    const int64_t dx[2] = {T, Hd}, dl[2] = {T, E}, d1[3] = {E, I, Hd}, d2[3] = {E, Hd, I};
    if (st == OCS_OK)
        st = add_input(b, "input", OCS_FLOAT, 2, dx, &x, err);
    if (st == OCS_OK)
        st = add_input(b, "router_logits", OCS_FLOAT, 2, dl, &logits, err);
    if (st == OCS_OK)
        st = add_input(b, "gate_weight", OCS_FLOAT, 3, d1, &w1, err);
    if (st == OCS_OK)
        st = add_input(b, "down_weight", OCS_FLOAT, 3, d2, &w2, err);
    if (st == OCS_OK)
        st = add_input(b, "up_weight", OCS_FLOAT, 3, d1, &w3, err);
    if (st != OCS_OK)
        return st;
    fill_uniform(x, BENCH_SEED + 11, 1.0f);
    fill_uniform(logits, BENCH_SEED + 12, 2.0f);
    fill_uniform(w1, BENCH_SEED + 13, 1.0f / sqrtf((float)Hd));
    fill_uniform(w2, BENCH_SEED + 14, 1.0f / sqrtf((float)I));
    fill_uniform(w3, BENCH_SEED + 15, 1.0f / sqrtf((float)Hd));

    ocs_graph *expert = NULL;
    st = ocs_moe_expert_glu(OCS_FLOAT, OCS_MOE_ACT_SILU, OCS_MOE_GATE_UP_SEPARATE, 0, &expert, err);
    if (st != OCS_OK)
        return st;
    /* SEPARATE layout: x, W1 (gate), W2 (down), W3 (up) */
    const char *ins[5] = {"input", "router_logits", "gate_weight", "down_weight", "up_weight"};
    const char *outs[1] = {"output"};
    ocs_node *n = NULL;
    st = ocs_graph_add_node(b->model->graph, "MoE", OCS_PREVIEW_DOMAIN, "moe", 5, ins, 1, outs, &n, err);
    if (st != OCS_OK) {
        ocs_graph_free(expert);
        return st;
    }
    st = ocs_node_set_int(n, "k", K, err);
    if (st == OCS_OK)
        st = ocs_node_set_graph(n, "expert", expert, err);
    else
        ocs_graph_free(expert);
    if (st == OCS_OK)
        st = ocs_graph_add_output(b->model->graph, "output", OCS_FLOAT, 2, dx, err);
    b->n_outputs = 1;
    b->out_numel = (size_t)(T * Hd);
    if (bound == OCS_BENCH_COMPUTE) {
        b->work = 2.0 * (double)T * (double)K * 3.0 * (double)Hd * (double)I;
    } else {
        /* the weights of every expert the router picks (top-k of the logits, ties to the lower index) */
        const float *l = logits->data;
        int hit[256] = {0};
        for (int64_t t = 0; t < T; t++) {
            int taken[256] = {0};
            for (int64_t j = 0; j < K && j < E; j++) {
                int64_t best = -1;
                for (int64_t e = 0; e < E && e < 256; e++)
                    if (!taken[e] && (best < 0 || l[t * E + e] > l[t * E + best]))
                        best = e;
                if (best >= 0)
                    taken[best] = hit[best] = 1;
            }
        }
        int n_hit = 0;
        for (int e = 0; e < 256; e++)
            n_hit += hit[e];
        b->work = (double)n_hit * 3.0 * (double)Hd * (double)I * sizeof(float);
    }
    return st;
}

static ocs_status build_case(const bench_case *c, const shape *s, built *b, ocs_err *err)
{
    memset(b, 0, sizeof *b);
    if (c->kind == MOE && (s->experts > 256 || s->k > s->experts))
        return ocs_fail(err, OCS_ERR_INVALID, "MoE bench shape: E %lld, k %lld", (long long)s->experts,
                        (long long)s->k);
    ocs_status st = c->kind == MOE ? build_moe(s, c->bound, b, err) : build_pa(s, b, err);
    if (st != OCS_OK)
        built_free(b);
    return st;
}

/* ---- measuring in a child process ------------------------------------------------ */

/* What a child hands back, in memory shared with the parent. */
typedef struct child_result {
    int finished;                 /* the child got to the end */
    ocs_bench_outcome outcome;
    int n_ms;
    double ms[MAX_REPEAT];
    int n_ceil;                   /* paired: a ceiling pass before each timed run and after the last */
    double ceil[MAX_REPEAT + 1];
    long long peak_extra;         /* -1: unknown */
    char msg[OCS_ERR_MAX];
    char describe[256];
    size_t out_numel;             /* floats of output 0 copied after the header */
} child_result;

static size_t header_size(void)
{
    return (sizeof(child_result) + 63) / 64 * 64;
}

/* A value in kB from /proc/self/status ("VmRSS:", "VmHWM:"), in bytes; -1 if absent. */
static long long proc_status_bytes(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[256];
    long long v = -1;
    size_t len = strlen(key);
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, len)) {
            v = strtoll(line + len, NULL, 10) * 1024;
            break;
        }
    fclose(f);
    return v;
}

/* Resets the peak resident set size to the current one (Linux 4.0+). */
static int reset_peak_rss(void)
{
    int fd = open("/proc/self/clear_refs", O_WRONLY);
    if (fd < 0)
        return -1;
    int ok = write(fd, "5", 1) == 1;
    close(fd);
    return ok ? 0 : -1;
}

typedef struct run_spec {
    const built *b;
    const char *backend;          /* "reference" or a built-in backend */
    int repeat;
    int single_if_long;           /* a long first run is the only sample */
    int paired;                   /* pass a ceiling probe around every timed run */
    ocs_bench_bound bound;        /* which probe */
    size_t bw_bytes;
    int gemm_n, threads;
} run_spec;

static void child_measure(const run_spec *rs, child_result *r, float *out)
{
    ocs_err err = {{0}};
    ocs_backend *be = NULL;
    ocs_session *s = NULL;
    const int is_ref = !strcmp(rs->backend, "reference");
    r->peak_extra = -1;
    /* N threads everywhere: the backend's pool and OpenBLAS alike */
    ocs_bench_blas_threads(rs->threads);
    ocs_bw_probe *bw = NULL;
    ocs_gemm_probe *gemm = NULL;
    ocs_status st = OCS_OK;
    if (rs->paired && rs->bound == OCS_BENCH_MEMORY)
        st = ocs_bw_probe_new(rs->bw_bytes, rs->threads, &bw, &err);
    else if (rs->paired)
        st = ocs_gemm_probe_new(rs->gemm_n, rs->threads, &gemm, &err);
    /* one untimed pass first: OpenBLAS allocates its work buffers (tens of
     * MiB) on its first sgemm, which would otherwise count as the case's
     * growth */
    if (gemm)
        (void)ocs_gemm_probe_pass(gemm);
    /* the shared page(s) that take the first run's output back to the parent
     * count in this process's resident set once written: touched now, they
     * are in the base */
    memset(out, 0, rs->b->out_numel * sizeof *out);
#ifdef __GLIBC__
    /* free heap pages inherited from the parent go back to the system, so
     * that reusing them counts as growth */
    malloc_trim(0);
#endif
    int can_peak = reset_peak_rss() == 0;
    long long base = proc_status_bytes("VmRSS:");

    if (st == OCS_OK && !is_ref) {
        st = ocs_backend_open(rs->backend, &be, &err);
        if (st == OCS_OK && be->ops->describe)
            snprintf(r->describe, sizeof r->describe, "%s", be->ops->describe(be->ctx));
    }
    if (st == OCS_OK) {
        ocs_session_options so = {&be, be ? 1 : 0, be ? 1 : 0};
        st = ocs_session_new_with(rs->b->model, is_ref ? NULL : &so, &s, &err);
    }
    const int runs = rs->repeat + 1;
    for (int i = 0; i < runs && st == OCS_OK; i++) {
        ocs_tensor *outs[4] = {NULL, NULL, NULL, NULL};
        if (i > 0 && (bw || gemm))
            r->ceil[r->n_ceil++] = bw ? ocs_bw_probe_pass(bw, rs->threads) : ocs_gemm_probe_pass(gemm);
        double t0 = ocs_bench_now();
        st = ocs_session_run(s, rs->b->n_inputs, rs->b->names, (const ocs_tensor *const *)rs->b->inputs,
                             rs->b->n_outputs, outs, &err);
        double ms = (ocs_bench_now() - t0) * 1e3;
        if (st == OCS_OK && i == 0 && outs[0] && outs[0]->dtype == OCS_FLOAT &&
            outs[0]->numel == rs->b->out_numel) {
            memcpy(out, outs[0]->data, outs[0]->nbytes);
            r->out_numel = outs[0]->numel;
        }
        for (size_t j = 0; j < rs->b->n_outputs; j++)
            ocs_tensor_free(outs[j]);
        if (st != OCS_OK)
            break;
        if (i == 0 && rs->single_if_long && ms > LONG_RUN_S * 1e3) {
            r->ms[r->n_ms++] = ms;
            break;
        }
        if (i > 0)
            r->ms[r->n_ms++] = ms;
    }
    if (st == OCS_OK) {
        r->outcome = OCS_BENCH_DONE;
        long long hwm = proc_status_bytes("VmHWM:");
        if (can_peak && base >= 0 && hwm >= base)
            r->peak_extra = hwm - base;
        if (r->n_ceil > 0)
            r->ceil[r->n_ceil++] = bw ? ocs_bw_probe_pass(bw, rs->threads) : ocs_gemm_probe_pass(gemm);
    } else {
        r->outcome = st == OCS_ERR_UNSUPPORTED ? OCS_BENCH_UNSUPPORTED : OCS_BENCH_ERROR;
        snprintf(r->msg, sizeof r->msg, "%s", err.msg[0] ? err.msg : ocs_status_name(st));
    }
    ocs_session_free(s);
    ocs_backend_close(be);
    ocs_bw_probe_free(bw);
    ocs_gemm_probe_free(gemm);
}

/* Shared anonymous memory for one child's result and output. */
static child_result *shared_new(size_t out_numel, size_t *size)
{
    *size = header_size() + out_numel * sizeof(float);
    void *p = mmap(NULL, *size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static float *shared_out(child_result *r)
{
    return (float *)((char *)r + header_size());
}

/* Explains how a child ended when it did not finish. */
static void child_status(int status, int timeout_s, char *msg, size_t len)
{
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
        snprintf(msg, len, "timed out after %d s", timeout_s);
    else if (WIFSIGNALED(status))
        snprintf(msg, len, "crashed: signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else if (WIFEXITED(status))
        snprintf(msg, len, "exited with status %d before reporting", WEXITSTATUS(status));
    else
        snprintf(msg, len, "ended abnormally");
}

/* Runs fn(arg, r) in a child process; returns 0 when the child finished. */
static int in_child(void (*fn)(void *arg, child_result *r), void *arg, child_result *r, int timeout_s)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(r->msg, sizeof r->msg, "fork failed: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        alarm((unsigned)timeout_s);
        fn(arg, r);
        r->finished = 1;
        _exit(0);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) {
            snprintf(r->msg, sizeof r->msg, "waitpid failed: %s", strerror(errno));
            return -1;
        }
    if (r->finished && WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    child_status(status, timeout_s, r->msg, sizeof r->msg);
    return -1;
}

static void run_case_child(void *arg, child_result *r)
{
    child_measure(arg, r, shared_out(r));
}

typedef struct ceiling_job {
    size_t bytes;
    int n, threads;
} ceiling_job;

static void run_ceilings_child(void *arg, child_result *r)
{
    ceiling_job *j = arg;
    ocs_err err = {{0}};
    ocs_ceilings c;
    ocs_status st = ocs_bench_ceilings(j->bytes, j->n, j->threads, &c, &err);
    if (st == OCS_OK)
        memcpy(shared_out(r), &c, sizeof c);
    r->outcome = st == OCS_OK ? OCS_BENCH_DONE : OCS_BENCH_ERROR;
    snprintf(r->msg, sizeof r->msg, "%s", err.msg);
}

/* ---- printing ------------------------------------------------------------------------ */

static void fmt_ms(double ms, char *buf, size_t len)
{
    if (!isfinite(ms))
        snprintf(buf, len, "-");
    else if (ms >= 100)
        snprintf(buf, len, "%.0f", ms);
    else if (ms >= 10)
        snprintf(buf, len, "%.1f", ms);
    else if (ms >= 1)
        snprintf(buf, len, "%.2f", ms);
    else
        snprintf(buf, len, "%.3f", ms);
}

static void fmt_bytes(long long b, char *buf, size_t len)
{
    if (b < 0)
        snprintf(buf, len, "n/a");
    else if (b >= 1 << 30)
        snprintf(buf, len, "%.2f GiB", (double)b / (1 << 30));
    else if (b >= 1 << 20)
        snprintf(buf, len, "%.1f MiB", (double)b / (1 << 20));
    else
        snprintf(buf, len, "%.0f KiB", (double)b / 1024);
}

static void print_header(void)
{
    printf("%-18s %-10s %10s %16s %8s %8s %9s %11s  %s\n", "case", "backend", "median ms", "rate", "ceiling",
           "of best", "speed-up", "peak extra", "note");
}

static void print_row(const ocs_bench_row *r)
{
    char ms[32], rate[48], ratio[32], best[32], sp[32], peak[32];
    if (r->outcome != OCS_BENCH_DONE) {
        printf("%-18s %-10s %10s %16s %8s %8s %9s %11s  %s: %s\n", r->name, r->backend, "-", "-", "-", "-", "-",
               "-", r->outcome == OCS_BENCH_UNSUPPORTED ? "not supported" : "ERROR", r->note);
        return;
    }
    fmt_ms(r->median_ms, ms, sizeof ms);
    if (r->proxy)
        strcat(ms, "*");
    snprintf(rate, sizeof rate, "%.3g %s", r->rate, ocs_bench_unit(r->bound));
    snprintf(ratio, sizeof ratio, "%.1f%%", 100.0 * r->ratio_to_ceiling);
    snprintf(best, sizeof best, "%.1f%%", 100.0 * r->ratio_to_best);
    if (isfinite(r->speedup_vs_reference))
        snprintf(sp, sizeof sp, "%.3gx", r->speedup_vs_reference);
    else
        snprintf(sp, sizeof sp, "-");
    fmt_bytes(r->peak_extra_bytes, peak, sizeof peak);
    printf("%-18s %-10s %10s %16s %8s %8s %9s %11s  %s\n", r->name, r->backend, ms, rate, ratio, best, sp, peak,
           r->note);
}

static int write_json_file(const char *path, const ocs_ceilings *c, const ocs_bench_row *rows, size_t n)
{
    size_t len = strlen(path) + 32;
    char *tmp = malloc(len);
    if (!tmp)
        return -1;
    snprintf(tmp, len, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) {
        fprintf(stderr, "ocs bench: cannot write %s: %s\n", tmp, strerror(errno));
        free(tmp);
        return -1;
    }
    ocs_bench_write_json(f, c, rows, n);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad || rename(tmp, path) != 0) {
        fprintf(stderr, "ocs bench: cannot write %s: %s\n", path, strerror(errno));
        remove(tmp);
        free(tmp);
        return -1;
    }
    free(tmp);
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: ocs bench [--cases REGEX] [--backends reference,cpu] [--repeat N] [--json FILE]\n"
            "                 [--quick] [--ref-full] [--timeout S] [--list]\n"
            "\n"
            "Times the target cases on the reference and on each backend, next to ceilings measured\n"
            "in the same run (memory read bandwidth with 1 and N threads, OpenBLAS sgemm).  Prints the\n"
            "median of --repeat runs after a warm-up (default 5), the effective rate (GB/s of bytes\n"
            "that must be read, or GFLOP/s), its ratio to the ceiling, the speed-up over the reference\n"
            "and the peak extra resident memory.  N threads: OCS_NUM_THREADS, else every core.\n"
            "\n"
            "  --cases REGEX    only cases whose name matches (POSIX extended regex)\n"
            "  --backends LIST  comma-separated, in order; 'reference' is the reference executor\n"
            "  --quick          small shapes, for a smoke run (same case names)\n"
            "  --ref-full       run the reference at full size instead of on a scaled proxy\n"
            "  --timeout S      limit per case and backend (default 900)\n"
            "  --json FILE      also write the results as JSON\n"
            "  --list           print the cases and exit\n");
}

/* ---- the command ------------------------------------------------------------------------ */

typedef struct bench_state {
    const ocs_bench_opts *o;
    size_t bw_bytes;              /* probe sizes, as for the ceilings */
    int gemm_n, threads;
    ocs_ceilings ceil;
    ocs_bench_row *rows;
    size_t n_rows, cap_rows;
    int failures;
    char described[OCS_BENCH_MAX_BACKENDS][256];   /* each backend's describe() line */
} bench_state;

static ocs_bench_row *new_row(bench_state *bs, const bench_case *c, const char *backend)
{
    if (bs->n_rows == bs->cap_rows) {
        size_t cap = bs->cap_rows ? bs->cap_rows * 2 : 16;
        ocs_bench_row *r = realloc(bs->rows, cap * sizeof *r);
        if (!r)
            return NULL;
        bs->rows = r;
        bs->cap_rows = cap;
    }
    ocs_bench_row *r = &bs->rows[bs->n_rows++];
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", c->name);
    snprintf(r->backend, sizeof r->backend, "%s", backend);
    r->bound = c->bound;
    r->median_ms = r->rate = r->ratio_to_ceiling = r->speedup_vs_reference = NAN;
    r->peak_extra_bytes = -1;
    return r;
}

/*
 * The ratio of n runs of `work` (bytes or FLOPs) taking ms[k] each, to the
 * probe passes around them (ceil[k] before run k, ceil[k + 1] after it, in
 * GB/s or GFLOP/s): the median over the runs of the run's rate over the
 * better of its two passes.
 */
static double paired_ratio(double work, const double *ms, size_t n, const double *ceil)
{
    double ratio[MAX_REPEAT];
    if (n == 0 || n > MAX_REPEAT)
        return NAN;
    for (size_t k = 0; k < n; k++) {
        double rate = ms[k] > 0 ? work / (ms[k] * 1e-3) * 1e-9 : NAN;
        double ceiling = fmax(ceil[k], ceil[k + 1]);
        ratio[k] = ceiling > 0 ? rate / ceiling : NAN;
    }
    return ocs_bench_median(ratio, n);
}

/*
 * Runs one backend (or the reference) on b in a child: repeat timed runs
 * after a warm-up (repeat 0: one run, for its output only).  Fills r from
 * the child's result; *out_copy (if out_copy) receives output 0.
 */
static void measure(bench_state *bs, const built *b, const char *backend, int repeat, int single_if_long,
                    int paired, ocs_bench_row *r, float **out_copy)
{
    size_t size;
    child_result *cr = shared_new(b->out_numel, &size);
    if (!cr) {
        r->outcome = OCS_BENCH_ERROR;
        snprintf(r->note, sizeof r->note, "cannot map shared memory: %s", strerror(errno));
        return;
    }
    run_spec rs = {b, backend, repeat, single_if_long, paired, r->bound, bs->bw_bytes, bs->gemm_n, bs->threads};
    if (in_child(run_case_child, &rs, cr, bs->o->timeout_s) != 0) {
        r->outcome = OCS_BENCH_ERROR;
        snprintf(r->note, sizeof r->note, "%s", cr->msg);
    } else if (cr->outcome != OCS_BENCH_DONE) {
        r->outcome = cr->outcome;
        snprintf(r->note, sizeof r->note, "%s", cr->msg);
    } else {
        r->outcome = OCS_BENCH_DONE;
        r->median_ms = ocs_bench_median(cr->ms, (size_t)cr->n_ms);
        r->peak_extra_bytes = cr->peak_extra;
        if (cr->n_ms == 1 && repeat > 1)
            snprintf(r->note, sizeof r->note, "1 run");
        if (cr->n_ms > 0 && cr->n_ceil == cr->n_ms + 1) {
            r->ratio_to_ceiling = paired_ratio(b->work, cr->ms, (size_t)cr->n_ms, cr->ceil);
            r->paired = 1;
        }
        if (out_copy && cr->out_numel == b->out_numel && (*out_copy = malloc(b->out_numel * sizeof(float))))
            memcpy(*out_copy, shared_out(cr), b->out_numel * sizeof(float));
    }
    for (size_t i = 0; i < bs->o->n_backends && cr->describe[0]; i++)
        if (!strcmp(bs->o->backends[i], backend) && !bs->described[i][0])
            snprintf(bs->described[i], sizeof bs->described[i], "%s", cr->describe);
    munmap(cr, size);
}

/* Scales the time (proxy), then derives the rate and the speed-up; the ratio comes at the end. */
static void finish_rate(const built *b, ocs_bench_row *r, double scale, double ref_ms)
{
    if (r->outcome != OCS_BENCH_DONE)
        return;
    r->median_ms *= scale;
    double secs = r->median_ms * 1e-3;
    r->rate = secs > 0 ? b->work / secs * 1e-9 : NAN;
    r->speedup_vs_reference = isfinite(ref_ms) && r->median_ms > 0 ? ref_ms / r->median_ms : NAN;
}

static void append_note(ocs_bench_row *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void append_note(ocs_bench_row *r, const char *fmt, ...)
{
    size_t len = strlen(r->note);
    if (len && len + 2 < sizeof r->note) {
        memcpy(r->note + len, "; ", 3);
        len += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->note + len, sizeof r->note - len, fmt, ap);
    va_end(ap);
}

/* Compares a backend's output with the reference's: |a - r| <= atol + rtol |r|, NaN only where NaN. */
static void check_output(ocs_bench_row *r, const float *ref, const float *got, size_t n, const char *where,
                         bench_state *bs)
{
    double max_abs = 0;
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(got[i]) || isnan(ref[i])) {
            bad += isnan(got[i]) != isnan(ref[i]);
            continue;
        }
        double d = fabs((double)got[i] - (double)ref[i]);
        if (!(d <= CHECK_ATOL + CHECK_RTOL * fabs((double)ref[i])))
            bad++;
        if (d > max_abs)
            max_abs = d;
    }
    if (bad) {
        append_note(r, "MISMATCH%s: %zu of %zu elements differ from the reference, max abs err %.3g", where, bad,
                    n, max_abs);
        bs->failures++;
    } else {
        append_note(r, "matches the reference%s (max abs err %.2g)", where, max_abs);
    }
}

/* One line on stderr per measurement, while the run goes on. */
static void progress(const ocs_bench_row *r)
{
    char ms[32];
    fmt_ms(r->median_ms, ms, sizeof ms);
    fprintf(stderr, "  %s on %s: %s\n", r->name, r->backend,
            r->outcome == OCS_BENCH_DONE          ? strcat(ms, " ms")
            : r->outcome == OCS_BENCH_UNSUPPORTED ? "not supported"
                                                  : "ERROR");
}

static void error_rows(bench_state *bs, const bench_case *c, const char *what, const ocs_err *err)
{
    for (size_t i = 0; i < bs->o->n_backends; i++) {
        ocs_bench_row *r = new_row(bs, c, bs->o->backends[i]);
        if (!r)
            break;
        r->outcome = OCS_BENCH_ERROR;
        snprintf(r->note, sizeof r->note, "%s: %s", what, err->msg);
        progress(r);
    }
    bs->failures++;
}

static void run_one_case(bench_state *bs, const bench_case *c)
{
    const ocs_bench_opts *o = bs->o;
    ocs_err err = {{0}};
    built b, p;
    memset(&p, 0, sizeof p);
    if (build_case(c, o->quick ? &c->quick : &c->full, &b, &err) != OCS_OK) {
        error_rows(bs, c, "building the case", &err);
        return;
    }
    /* the largest cases run the reference on a proxy; backends are checked on it too */
    const int use_proxy = !o->quick && !o->ref_full && c->proxy.tokens > 0;
    if (use_proxy && build_case(c, &c->proxy, &p, &err) != OCS_OK) {
        error_rows(bs, c, "building the proxy", &err);
        built_free(&b);
        return;
    }
    const built *on_ref = use_proxy ? &p : &b;

    double ref_ms = NAN;
    float *ref_out = NULL;
    /* the reference first, so that every backend has a speed-up and a check */
    for (size_t i = 0; i < o->n_backends; i++) {
        if (strcmp(o->backends[i], "reference"))
            continue;
        ocs_bench_row *r = new_row(bs, c, "reference");
        if (!r)
            break;
        measure(bs, on_ref, "reference", o->repeat, 1, 0, r, &ref_out);
        double scale = b.work / on_ref->work;
        finish_rate(&b, r, scale, NAN);
        if (use_proxy && r->outcome == OCS_BENCH_DONE) {
            r->proxy = 1;
            append_note(r, "*proxy of %lld %s, time x%.2f (work ratio)",
                        (long long)(c->kind == PA_DECODE ? c->proxy.past + c->proxy.tokens : c->proxy.tokens),
                        c->kind == PA_DECODE ? "positions" : "tokens", scale);
        }
        if (r->outcome == OCS_BENCH_DONE) {
            ref_ms = r->median_ms;
            r->speedup_vs_reference = 1.0;
        } else if (r->outcome == OCS_BENCH_ERROR) {
            bs->failures++;
        }
        progress(r);
    }
    for (size_t i = 0; i < o->n_backends; i++) {
        if (!strcmp(o->backends[i], "reference"))
            continue;
        ocs_bench_row *r = new_row(bs, c, o->backends[i]);
        if (!r)
            break;
        float *got = NULL;
        measure(bs, &b, o->backends[i], o->repeat, 0, 1, r, ref_out && !use_proxy ? &got : NULL);
        finish_rate(&b, r, 1.0, ref_ms);
        if (r->outcome == OCS_BENCH_DONE && ref_out && use_proxy) {
            /* one more run, on the proxy, for the check */
            ocs_bench_row pr = *r;
            measure(bs, &p, o->backends[i], 0, 0, 0, &pr, &got);
            if (pr.outcome != OCS_BENCH_DONE) {
                append_note(r, "the check on the proxy failed: %s", pr.note);
                bs->failures++;
            }
        }
        if (r->outcome == OCS_BENCH_DONE && ref_out && got)
            check_output(r, ref_out, got, on_ref->out_numel, use_proxy ? " on the proxy" : "", bs);
        if (r->outcome == OCS_BENCH_ERROR)
            bs->failures++;
        free(got);
        progress(r);
    }
    free(ref_out);
    built_free(&b);
    built_free(&p);
}

/* The ceilings, measured in a child process; 0 when done. */
static int measure_ceilings(const ceiling_job *cj, int timeout_s, ocs_ceilings *out)
{
    size_t size;
    child_result *cr = shared_new((sizeof(ocs_ceilings) + sizeof(float) - 1) / sizeof(float), &size);
    if (!cr) {
        fprintf(stderr, "ocs bench: cannot map shared memory: %s\n", strerror(errno));
        return -1;
    }
    int rc = 0;
    if (in_child(run_ceilings_child, (void *)cj, cr, timeout_s) != 0 || cr->outcome != OCS_BENCH_DONE) {
        fprintf(stderr, "ocs bench: measuring the ceilings failed: %s\n", cr->msg);
        rc = -1;
    } else {
        memcpy(out, shared_out(cr), sizeof *out);
    }
    munmap(cr, size);
    return rc;
}

int ocs_cmd_bench(int argc, char **argv)
{
    ocs_bench_opts o;
    ocs_err err = {{0}};
    if (ocs_bench_parse_args(argc, argv, &o, &err) != OCS_OK) {
        fprintf(stderr, "ocs bench: %s\n", err.msg);
        usage(stderr);
        return 2;
    }
    if (o.help) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < o.n_backends; i++) {
        int known = !strcmp(o.backends[i], "reference");
        for (const char *const *n = ocs_backend_names(); *n && !known; n++)
            known = !strcmp(*n, o.backends[i]);
        if (!known) {
            fprintf(stderr, "ocs bench: unknown backend '%s' (built in: reference", o.backends[i]);
            for (const char *const *n = ocs_backend_names(); *n; n++)
                fprintf(stderr, ", %s", *n);
            fprintf(stderr, ")\n");
            return 2;
        }
    }
    regex_t re;
    if (o.cases) {
        int rc = regcomp(&re, o.cases, REG_EXTENDED | REG_NOSUB);
        if (rc) {
            char msg[256];
            regerror(rc, &re, msg, sizeof msg);
            fprintf(stderr, "ocs bench: --cases '%s': %s\n", o.cases, msg);
            return 2;
        }
    }
    const bench_case *selected[N_CASES];
    size_t n_sel = 0;
    for (size_t i = 0; i < N_CASES; i++)
        if (!o.cases || regexec(&re, cases[i].name, 0, NULL, 0) == 0)
            selected[n_sel++] = &cases[i];
    if (o.cases)
        regfree(&re);
    if (o.list) {
        for (size_t i = 0; i < n_sel; i++) {
            char desc[256];
            describe_shape(selected[i]->kind, o.quick ? &selected[i]->quick : &selected[i]->full, desc,
                           sizeof desc);
            printf("%-18s %s\n", selected[i]->name, desc);
        }
        return 0;
    }
    if (!n_sel) {
        fprintf(stderr, "ocs bench: no case matches '%s'\n", o.cases);
        return 2;
    }

    bench_state bs = {0};
    bs.o = &o;
    int threads = ocs_bench_threads();
    ceiling_job cj = {o.quick ? (size_t)128 << 20 : (size_t)512 << 20, o.quick ? 1024 : 2048, threads};
    bs.bw_bytes = cj.bytes;
    bs.gemm_n = cj.n;
    bs.threads = threads;
    printf("ocs bench%s: %zu case%s, backends", o.quick ? " --quick" : "", n_sel, n_sel == 1 ? "" : "s");
    for (size_t i = 0; i < o.n_backends; i++)
        printf("%s%s", i ? "," : " ", o.backends[i]);
    printf(", median of %d run%s after a warm-up, %d threads\n", o.repeat, o.repeat == 1 ? "" : "s", threads);

    for (size_t i = 0; i < n_sel; i++) {
        char desc[256];
        describe_shape(selected[i]->kind, o.quick ? &selected[i]->quick : &selected[i]->full, desc, sizeof desc);
        printf("  %-18s %s\n", selected[i]->name, desc);
    }
    if (o.quick)
        printf("  (--quick: small shapes that may fit in the caches; the ratios are not meaningful)\n");
    fflush(stdout);

    /* The ceilings are measured before the first case and after every
     * case; the best of each counts, so that a noisy moment (the machine
     * is shared) cannot make the ratios look better than they are. */
    ocs_ceilings lo, c;
    size_t n_ceil = 0;
    fprintf(stderr, "  measuring the ceilings\n");
    if (measure_ceilings(&cj, CEILING_TIMEOUT_S, &c) != 0)
        return 1;
    bs.ceil = lo = c;
    n_ceil = 1;
    for (size_t i = 0; i < n_sel; i++) {
        run_one_case(&bs, selected[i]);
        fprintf(stderr, "  measuring the ceilings again\n");
        if (measure_ceilings(&cj, CEILING_TIMEOUT_S, &c) != 0) {
            bs.failures++;
            continue;
        }
        n_ceil++;
        bs.ceil.membw_gbs = fmax(bs.ceil.membw_gbs, c.membw_gbs);
        bs.ceil.membw_1t_gbs = fmax(bs.ceil.membw_1t_gbs, c.membw_1t_gbs);
        bs.ceil.sgemm_gflops = fmax(bs.ceil.sgemm_gflops, c.sgemm_gflops);
        lo.membw_gbs = fmin(lo.membw_gbs, c.membw_gbs);
        lo.membw_1t_gbs = fmin(lo.membw_1t_gbs, c.membw_1t_gbs);
        lo.sgemm_gflops = fmin(lo.sgemm_gflops, c.sgemm_gflops);
    }
    for (size_t i = 0; i < bs.n_rows; i++) {
        ocs_bench_row *r = &bs.rows[i];
        double ceiling = r->bound == OCS_BENCH_COMPUTE ? bs.ceil.sgemm_gflops : bs.ceil.membw_gbs;
        r->ratio_to_best = r->outcome == OCS_BENCH_DONE && ceiling > 0 ? r->rate / ceiling : NAN;
        if (!r->paired)
            r->ratio_to_ceiling = r->ratio_to_best;
    }

    printf("\nceilings (best of %zu measurements, before the first case and after each; lowest in brackets):\n"
           "  memory read, %d threads  %6.1f GB/s    (%.1f; %zu MiB, %s)\n"
           "  memory read, 1 thread   %6.1f GB/s    (%.1f)\n"
           "  sgemm %d^3, %d threads %6.1f GFLOP/s (%.1f)\n\n",
           n_ceil, bs.ceil.threads, bs.ceil.membw_gbs, lo.membw_gbs, bs.ceil.membw_bytes >> 20,
           bs.ceil.avx2 ? "AVX2" : "scalar", bs.ceil.membw_1t_gbs, lo.membw_1t_gbs, bs.ceil.sgemm_n,
           bs.ceil.threads, bs.ceil.sgemm_gflops, lo.sgemm_gflops);
    print_header();
    for (size_t i = 0; i < bs.n_rows; i++)
        print_row(&bs.rows[i]);
    printf("\nrate: GB/s of the K/V cache bytes (decode) or expert weight bytes (MoE) that must be read;\n"
           "  GFLOP/s of causal attention (prefill) or 2*T*k*3*H*I (MoE).\n"
           "ceiling: for a backend, the median over its runs of the run's rate over an N-thread memory read\n"
           "  or sgemm pass made right before and right after it (the better of the two), so that both see\n"
           "  the same load on a shared machine; for the reference, as 'of best'.\n"
           "of best: rate over the best ceiling of the run (above).\n"
           "peak extra: resident memory growth from opening the backend to its last run (outputs included).\n");
    for (size_t i = 0; i < o.n_backends; i++)
        if (bs.described[i][0])
            printf("%s: %s\n", o.backends[i], bs.described[i]);
    int rc = bs.failures ? 1 : 0;
    if (o.json && write_json_file(o.json, &bs.ceil, bs.rows, bs.n_rows) != 0)
        rc = 1;
    free(bs.rows);
    return rc;
}
