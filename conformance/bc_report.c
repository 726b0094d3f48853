/*
 * conformance/bc_report.c - `ocs bc-report`: the two BackendContext
 * encodings compared on the same models, written as Markdown.
 *
 *   ocs bc-report [-o FILE] [--work DIR] [--runs N] [--ort-modules DIR] [--ort-script FILE]
 *
 * (DIR defaults to $OCS_BUILD/bc-report, else a new folder under /tmp;
 * --ort-modules to $OCS_BUILD/ort/node_modules.)
 *
 * Builds three models, each with one region (an MLP of standard ops; q/k/v
 * projections + PagedAttention + output projection; router projection +
 * MoE + residual Add), saves each with sample inputs in the ONNX
 * backend-test layout under DIR, compiles it with `ocs compile`'s code for
 * the cpu and cuda backends (a backend absent here, or without a compile
 * step, is reported) into four files (function / scopes, embedded /
 * external), and measures on each: file sizes, the median time to load the
 * file and make a session with the blob, with the blob ignored, and to
 * compile instead; that the outputs from the blob and from the fallback are
 * bit-identical; what happens when no backend takes the blob (and under the
 * strict flag); that the weights are not duplicated; and whether ONNX
 * Runtime loads the file (conformance/ort/ort-load.js with onnxruntime-node).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "compile.h"
#include "ocs/blob.h"
#include "ocs/build.h"
#include "ocs/hooks.h"
#include "../backends/cpu/tuning.h"

#define N_VARIANTS 5
#define N_MODELS 3

static const struct {
    const char *name;
    const char *title;
    ocs_bc_encoding enc;
    int external;
    int local_fn;          /* plus a model-local function holding the fallback (function encoding) */
} variants[N_VARIANTS] = {
    {"function_embedded", "function, embedded", OCS_BC_FUNCTION, 0, 0},
    {"function_external", "function, external", OCS_BC_FUNCTION, 1, 0},
    {"function_embedded_localfn", "function, embedded, + local function", OCS_BC_FUNCTION, 0, 1},
    {"scopes_embedded", "scopes, embedded", OCS_BC_SCOPES, 0, 0},
    {"scopes_external", "scopes, external", OCS_BC_SCOPES, 1, 0},
};

/* ---- models ------------------------------------------------------------------------------------ */

typedef struct rmodel {
    const char *name;
    const char *what;
    ocs_model *m;
    ocs_cli_inputs in;
    size_t n_out;
} rmodel;

static uint64_t rng;

static double urand(void)
{
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(rng >> 11) / 9007199254740992.0;
}

static ocs_status rand_tensor(int rank, const int64_t *dims, double scale, ocs_tensor **t, ocs_err *err)
{
    ocs_status st = ocs_tensor_new(OCS_FLOAT, rank, dims, t, err);
    for (size_t i = 0; st == OCS_OK && i < (*t)->numel; i++)
        ((float *)(*t)->data)[i] = (float)((urand() * 2.0 - 1.0) * scale);
    return st;
}

typedef struct mb {
    rmodel *r;
    ocs_status st;
    ocs_err *err;
} mb;

static void init(mb *b, const char *name, int rank, const int64_t *dims, double scale)
{
    ocs_tensor *t = NULL;
    if (b->st == OCS_OK)
        b->st = rand_tensor(rank, dims, scale, &t, b->err);
    if (b->st == OCS_OK)
        b->st = ocs_graph_add_initializer(b->r->m->graph, name, t, b->err);
    ocs_tensor_free(t);
}

static void input(mb *b, const char *name, ocs_tensor *t)
{
    if (b->st == OCS_OK && t)
        b->st = ocs_graph_add_input(b->r->m->graph, name, t->dtype, t->rank, t->dims, b->err);
    if (b->st != OCS_OK || !t) {
        ocs_tensor_free(t);
        return;
    }
    ocs_cli_inputs *in = &b->r->in;
    const char **nn = realloc(in->names, (in->n + 1) * sizeof *nn);
    ocs_tensor **nt = nn ? realloc(in->tensors, (in->n + 1) * sizeof *nt) : NULL;
    if (nn)
        in->names = nn;
    if (nt)
        in->tensors = nt;
    if (!nn || !nt) {
        ocs_tensor_free(t);
        b->st = ocs_fail(b->err, OCS_ERR_NOMEM, "out of memory");
        return;
    }
    in->names[in->n] = name;
    in->tensors[in->n++] = t;
}

static ocs_node *add(mb *b, const char *op, const char *domain, const char *name, size_t ni, const char *const *inp,
                     size_t no, const char *const *out, const char *scope)
{
    ocs_node *n = NULL;
    if (b->st == OCS_OK)
        b->st = ocs_graph_add_node(b->r->m->graph, op, domain, name, ni, inp, no, out, &n, b->err);
    if (b->st == OCS_OK && scope) {
        n->meta = malloc(sizeof *n->meta);
        if (n->meta) {
            n->meta[0].key = malloc(strlen(OCS_BC_SCOPE_KEY) + 1);
            n->meta[0].value = malloc(strlen(scope) + 1);
        }
        if (!n->meta || !n->meta[0].key || !n->meta[0].value) {
            b->st = ocs_fail(b->err, OCS_ERR_NOMEM, "out of memory");
            return NULL;
        }
        strcpy(n->meta[0].key, OCS_BC_SCOPE_KEY);
        strcpy(n->meta[0].value, scope);
        n->n_meta = 1;
    }
    return b->st == OCS_OK ? n : NULL;
}

#define L(...) sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *), (const char *const[]){__VA_ARGS__}

static ocs_status build_mlp(rmodel *r, ocs_err *err)
{
    rng = 101;
    r->name = "mlp";
    r->what = "MatMul, Relu, MatMul (standard ops; x [16, 256], weights 256x1024 and 1024x256)";
    r->n_out = 1;
    mb b = {r, ocs_model_new(&r->m, err), err};
    if (b.st == OCS_OK)
        b.st = ocs_model_import(r->m, "", 17, err);
    static const int64_t xd[] = {16, 256}, w1[] = {256, 1024}, w2[] = {1024, 256};
    ocs_tensor *x = NULL;
    if (b.st == OCS_OK)
        b.st = rand_tensor(2, xd, 1.0, &x, err);
    input(&b, "x", x);
    init(&b, "W1", 2, w1, 0.05);
    init(&b, "W2", 2, w2, 0.05);
    if (b.st == OCS_OK)
        b.st = ocs_graph_add_output(r->m->graph, "y", OCS_FLOAT, 2, xd, err);
    add(&b, "MatMul", "", "mm1", L("x", "W1"), L("h"), "mlp");
    add(&b, "Relu", "", "act", L("h"), L("a"), "mlp");
    add(&b, "MatMul", "", "mm2", L("a", "W2"), L("z"), "mlp");
    add(&b, "Abs", "", "post", L("z"), L("y"), NULL);
    return b.st;
}

static ocs_status build_pa(rmodel *r, ocs_err *err)
{
    rng = 202;
    r->name = "paged_attention";
    r->what = "q/k/v projections, PagedAttention (decode, 4 sequences, 8 heads / 2 KV heads, head 64, "
              "block 16, contexts 50..1000), output projection";
    r->n_out = 3;
    enum { B = 4, T = 4, H = 8, HKV = 2, D = 64, BS = 16, NB = 128, MB = 64 };
    mb b = {r, ocs_model_new(&r->m, err), err};
    if (b.st == OCS_OK)
        b.st = ocs_model_import(r->m, "", 24, err);
    if (b.st == OCS_OK)
        b.st = ocs_model_import(r->m, OCS_PREVIEW_DOMAIN, 1, err);
    static const int64_t xd[] = {T, H * D}, wq[] = {H * D, H * D}, wk[] = {H * D, HKV * D}, cd[] = {NB, BS, HKV, D},
                         cud[] = {B + 1}, pd[] = {B}, btd[] = {B, MB};
    static const int32_t past[B] = {500, 300, 1000, 50};
    int32_t cu[B + 1], bt[B * MB];
    int32_t next = 0;
    cu[0] = 0;
    for (int s = 0; s < B; s++) {
        cu[s + 1] = cu[s] + 1;
        int need = (past[s] + 1 + BS - 1) / BS;
        for (int k = 0; k < MB; k++)
            bt[s * MB + k] = k < need ? next++ : -1;
    }
    ocs_tensor *t = NULL;
    if (b.st == OCS_OK)
        b.st = rand_tensor(2, xd, 1.0, &t, err);
    input(&b, "x", t);
    t = NULL;
    if (b.st == OCS_OK)
        b.st = rand_tensor(4, cd, 1.0, &t, err);
    input(&b, "key_cache", t);
    t = NULL;
    if (b.st == OCS_OK)
        b.st = rand_tensor(4, cd, 1.0, &t, err);
    input(&b, "value_cache", t);
    const int32_t *src[3] = {cu, past, bt};
    const int64_t *dims[3] = {cud, pd, btd};
    const char *nm[3] = {"cu", "past", "block_table"};
    for (int i = 0; i < 3; i++) {
        t = NULL;
        if (b.st == OCS_OK)
            b.st = ocs_tensor_new(OCS_INT32, i == 2 ? 2 : 1, dims[i], &t, err);
        if (b.st == OCS_OK)
            memcpy(t->data, src[i], t->nbytes);
        input(&b, nm[i], t);
    }
    init(&b, "Wq", 2, wq, 0.05);
    init(&b, "Wk", 2, wk, 0.05);
    init(&b, "Wv", 2, wk, 0.05);
    init(&b, "Wo", 2, wq, 0.05);
    if (b.st == OCS_OK)
        b.st = ocs_graph_add_output(r->m->graph, "y", OCS_FLOAT, 2, xd, err);
    if (b.st == OCS_OK)
        b.st = ocs_graph_add_output(r->m->graph, "key_cache_out", OCS_FLOAT, 4, cd, err);
    if (b.st == OCS_OK)
        b.st = ocs_graph_add_output(r->m->graph, "value_cache_out", OCS_FLOAT, 4, cd, err);
    add(&b, "MatMul", "", "q_proj", L("x", "Wq"), L("q"), "attn");
    add(&b, "MatMul", "", "k_proj", L("x", "Wk"), L("k"), "attn");
    add(&b, "MatMul", "", "v_proj", L("x", "Wv"), L("v"), "attn");
    ocs_node *pa = add(&b, "PagedAttention", OCS_PREVIEW_DOMAIN, "pa",
                       L("q", "k", "v", "key_cache", "value_cache", "cu", "past", "block_table"),
                       L("o", "key_cache_out", "value_cache_out"), "attn");
    if (pa)
        b.st = ocs_node_set_int(pa, "num_heads", H, err);
    if (b.st == OCS_OK && pa)
        b.st = ocs_node_set_int(pa, "kv_num_heads", HKV, err);
    add(&b, "MatMul", "", "o_proj", L("o", "Wo"), L("y"), "attn");
    return b.st;
}

static ocs_status build_moe(rmodel *r, ocs_err *err)
{
    rng = 303;
    r->name = "moe";
    r->what = "router projection, MoE (16 tokens, 8 experts, top-2, ReLU FFN 256 -> 512 -> 256), residual Add";
    r->n_out = 1;
    enum { T = 16, H = 256, E = 8, I = 512 };
    mb b = {r, ocs_model_new(&r->m, err), err};
    if (b.st == OCS_OK)
        b.st = ocs_model_import(r->m, "", 24, err);
    if (b.st == OCS_OK)
        b.st = ocs_model_import(r->m, OCS_PREVIEW_DOMAIN, 1, err);
    static const int64_t xd[] = {T, H}, wr[] = {H, E}, w1[] = {E, I, H}, w2[] = {E, H, I};
    ocs_tensor *x = NULL;
    if (b.st == OCS_OK)
        b.st = rand_tensor(2, xd, 1.0, &x, err);
    input(&b, "x", x);
    init(&b, "Wr", 2, wr, 0.3);
    init(&b, "W1", 3, w1, 0.05);
    init(&b, "W2", 3, w2, 0.05);
    if (b.st == OCS_OK)
        b.st = ocs_graph_add_output(r->m->graph, "y", OCS_FLOAT, 2, xd, err);
    add(&b, "MatMul", "", "router", L("x", "Wr"), L("logits"), "moe");
    ocs_node *moe = add(&b, "MoE", OCS_PREVIEW_DOMAIN, "moe", L("x", "logits", "W1", "W2"), L("m"), "moe");
    ocs_graph *expert = NULL;
    if (moe)
        b.st = ocs_node_set_int(moe, "k", 2, err);
    if (b.st == OCS_OK && moe)
        b.st = ocs_moe_expert_ffn(OCS_FLOAT, OCS_MOE_ACT_RELU, 0, &expert, err);
    if (b.st == OCS_OK && moe)
        b.st = ocs_node_set_graph(moe, "expert", expert, err);
    add(&b, "Add", "", "residual", L("m", "x"), L("y"), "moe");
    return b.st;
}

/* ---- measurements ----------------------------------------------------------------------------- */

typedef struct vres {
    char path[1024];
    size_t model_bytes, file_bytes;   /* the .onnx, and beside it the blob files */
    size_t blob_bytes;
    double load_blob_ms, load_fallback_ms;
    double sess_blob_ms, sess_fallback_ms;   /* session only, the model already in memory */
    int accepted;
    char decision[1024];
    int identical;                    /* blob vs fallback on the cpu backend, bitwise */
    double max_diff_ref;              /* blob vs the reference alone */
    char absent[1024];                /* decision with no backend */
    int absent_ran;
    char strict_absent[600];
    size_t n_inits, init_bytes, weight_hits;
    char ort[512];
} vres;

typedef struct mres {
    size_t orig_bytes;
    double load_orig_ms, sess_orig_ms, compile_ms, compile_total_ms;
    size_t n_inits, init_bytes;
    char compile_log[4096];
    char ort[512];
    int tuned;
    char plan[4096];
    vres v[N_VARIANTS];
} mres;

static size_t file_size(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 ? (size_t)sb.st_size : 0;
}

static int dbl_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* One measurement: read the file and make a session (blobs used, or ignored). */
static double time_once(const char *path, ocs_backend *const *bes, size_t nb, int disable)
{
    ocs_err e;
    ocs_model *m = NULL;
    ocs_session *s = NULL;
    ocs_session_options opt = {bes, nb, 0};
    ocs_bc_options bc = {0, disable, NULL, NULL};
    double t0 = ocs_cli_now_ms();
    ocs_status st = ocs_model_load_file(path, &m, &e);
    if (st == OCS_OK)
        st = ocs_session_new_bc(m, &opt, &bc, &s, &e);
    double t = ocs_cli_now_ms() - t0;
    ocs_session_free(s);
    ocs_model_free(m);
    return st == OCS_OK ? t : NAN;
}

/* Median time to make a session (blobs used or ignored) for a model already in memory: what
 * BackendContext itself costs (discovery, selection, reading and checking the blob, loading the
 * plan), without the file reading that every variant shares. */
static double time_sessions(const char *path, ocs_backend *const *bes, size_t nb, int disable, int runs)
{
    ocs_err e;
    ocs_model *m = NULL;
    if (ocs_model_load_file(path, &m, &e) != OCS_OK)
        return NAN;
    double t[64];
    if (runs > 64)
        runs = 64;
    ocs_session_options opt = {bes, nb, 0};
    ocs_bc_options bc = {0, disable, NULL, NULL};
    for (int i = -1; i < runs; i++) {
        ocs_session *s = NULL;
        double t0 = ocs_cli_now_ms();
        ocs_status st = ocs_session_new_bc(m, &opt, &bc, &s, &e);
        double x = ocs_cli_now_ms() - t0;
        ocs_session_free(s);
        if (i >= 0)
            t[i] = st == OCS_OK ? x : NAN;
    }
    ocs_model_free(m);
    qsort(t, (size_t)runs, sizeof *t, dbl_cmp);
    return t[runs / 2];
}

/* A load-time measurement to take: the file, blobs ignored or not, where the median goes. */
typedef struct timing {
    const char *path;
    int disable;
    double *median;
} timing;

/* Measures every job `runs` times, interleaved (one round over all jobs at a time, after a
 * warm-up round, each round rotated by one), so that drift and the allocator's state touch
 * every job alike. */
static void time_all(timing *jobs, size_t n, ocs_backend *const *bes, size_t nb, int runs)
{
    double *t = calloc(n * (size_t)runs + 1, sizeof *t);
    if (!t)
        return;
    for (int r = -1; r < runs; r++)
        for (size_t i = 0; i < n; i++) {
            /* each round starts one job later, so no job always follows the same one */
            size_t j = (i + (size_t)(r + 1)) % n;
            double x = time_once(jobs[j].path, bes, nb, jobs[j].disable);
            if (r >= 0)
                t[j * (size_t)runs + (size_t)r] = x;
        }
    for (size_t j = 0; j < n; j++) {
        qsort(t + j * (size_t)runs, (size_t)runs, sizeof *t, dbl_cmp);
        *jobs[j].median = t[j * (size_t)runs + (size_t)runs / 2];
    }
    free(t);
}

typedef struct run_out {
    ocs_status st;
    ocs_tensor *out[4];
    char decision[1024];
    int accepted;
    char err[600];
} run_out;

static void log_line(void *user, const char *line)
{
    run_out *r = user;
    if (!r->decision[0])
        snprintf(r->decision, sizeof r->decision, "%s", line);
}

static void run_file(const char *path, const rmodel *rm, ocs_backend *const *bes, size_t nb, int strict, int disable,
                     run_out *r)
{
    memset(r, 0, sizeof *r);
    ocs_err e;
    ocs_err_clear(&e);
    ocs_model *m = NULL;
    ocs_session *s = NULL;
    ocs_session_options opt = {bes, nb, 0};
    ocs_bc_options bc = {strict, disable, log_line, r};
    r->st = ocs_model_load_file(path, &m, &e);
    if (r->st == OCS_OK)
        r->st = ocs_session_new_bc(m, &opt, &bc, &s, &e);
    if (r->st == OCS_OK && ocs_session_bc_count(s))
        r->accepted = ocs_session_bc_decision(s, 0)->accepted;
    if (r->st == OCS_OK)
        r->st = ocs_session_run(s, rm->in.n, rm->in.names, (const ocs_tensor *const *)rm->in.tensors, rm->n_out,
                                r->out, &e);
    if (r->st != OCS_OK)
        snprintf(r->err, sizeof r->err, "%.590s", e.msg);
    ocs_session_free(s);
    ocs_model_free(m);
}

static void run_free(run_out *r)
{
    for (int i = 0; i < 4; i++)
        ocs_tensor_free(r->out[i]);
}

static int same_outputs(const run_out *a, const run_out *b, size_t n)
{
    if (a->st != OCS_OK || b->st != OCS_OK)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!ocs_tensor_equal(a->out[i], b->out[i]))
            return 0;
    return 1;
}

static double max_diff(const run_out *a, const run_out *b, size_t n)
{
    double w = 0.0;
    if (a->st != OCS_OK || b->st != OCS_OK)
        return NAN;
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < a->out[i]->numel && k < b->out[i]->numel; k++) {
            double d = fabs(ocs_tensor_get_f64(a->out[i], k) - ocs_tensor_get_f64(b->out[i], k));
            w = d > w ? d : w;
        }
    return w;
}

/* Initializer count and bytes, and how many initializers' first 64 bytes occur inside the blobs. */
static void weights(const char *path, size_t *n, size_t *bytes, size_t *hits)
{
    *n = *bytes = *hits = 0;
    ocs_model *m = NULL;
    ocs_err e;
    if (ocs_model_load_file(path, &m, &e) != OCS_OK)
        return;
    *n = m->graph->n_inits;
    for (size_t i = 0; i < *n; i++)
        *bytes += m->graph->inits[i].tensor->nbytes;
    ocs_bc_region *rs = NULL;
    size_t nr = 0;
    if (ocs_bc_discover(m, &rs, &nr, &e) == OCS_OK)
        for (size_t r = 0; r < nr; r++)
            for (size_t b = 0; b < rs[r].n_blobs; b++) {
                const unsigned char *data = NULL;
                size_t len = 0;
                void *owned = NULL;
                ocs_bc_reason why;
                if (ocs_bc_blob_bytes(m, &rs[r].blobs[b], &data, &len, &owned, &why, &e) != OCS_OK)
                    continue;
                for (size_t i = 0; i < *n; i++) {
                    const ocs_tensor *t = m->graph->inits[i].tensor;
                    if (t->nbytes < 64 || len < 64)
                        continue;
                    for (size_t off = 0; off + 64 <= len; off++)
                        if (!memcmp(data + off, t->data, 64)) {
                            (*hits)++;
                            break;
                        }
                }
                free(owned);
            }
    ocs_bc_regions_free(rs, nr);
    ocs_model_free(m);
}

static size_t blob_files_bytes(const ocs_cli_compiled *c)
{
    size_t n = 0;
    for (size_t i = 0; i < c->n_files; i++)
        n += c->files[i].len;
    return n;
}

/* Captures what a FILE stream gets (the compile log) into buf. */
static FILE *log_stream(char *buf, size_t len)
{
    FILE *f = fmemopen(buf, len, "w");
    if (f)
        setvbuf(f, NULL, _IONBF, 0);
    return f;
}

/* ---- ONNX Runtime --------------------------------------------------------------------------------- */

/* Runs the loader script on the files; fills each result line ("OK" or the error). */
static void ort_check(const char *script, const char *modules, char paths[][1024], char **results, size_t n,
                      char *version, size_t vlen)
{
    snprintf(version, vlen, "not run");
    for (size_t i = 0; i < n; i++)
        snprintf(results[i], 512, "not run");
    if (access(script, R_OK) != 0) {
        snprintf(version, vlen, "not run: %s not found", script);
        return;
    }
    size_t cap = 256 + strlen(script) + strlen(modules);
    for (size_t i = 0; i < n; i++)
        cap += strlen(paths[i]) + 4;
    char *cmd = malloc(cap);
    if (!cmd)
        return;
    int o = snprintf(cmd, cap, "NODE_PATH='%s' node '%s'", modules, script);
    for (size_t i = 0; i < n; i++)
        o += snprintf(cmd + o, cap - (size_t)o, " '%s'", paths[i]);
    snprintf(cmd + o, cap - (size_t)o, " 2>&1");
    FILE *p = popen(cmd, "r");
    free(cmd);
    if (!p) {
        snprintf(version, vlen, "not run: cannot start node");
        return;
    }
    char line[2048];
    while (fgets(line, sizeof line, p)) {
        line[strcspn(line, "\n")] = '\0';
        if (!strncmp(line, "ORT ", 4)) {
            snprintf(version, vlen, "onnxruntime-node %.100s", line + 4);
            continue;
        }
        for (size_t i = 0; i < n; i++) {
            size_t pl = strlen(paths[i]);
            if (!strncmp(line, "OK ", 3) && !strcmp(line + 3, paths[i]))
                snprintf(results[i], 512, "loads");
            else if (!strncmp(line, "ERROR ", 6) && !strncmp(line + 6, paths[i], pl) && line[6 + pl] == ':')
                snprintf(results[i], 512, "fails: %.400s", line + 6 + pl + 2);
        }
        if (!strncmp(line, "ERROR onnxruntime-node", 22))
            snprintf(version, vlen, "not run: %.200s", line + 6);
    }
    pclose(p);
}

/* ---- the report -------------------------------------------------------------------------------------- */

static void md_escape(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '|')
            fputs("\\|", f);
        else if (*s == '\n')
            fputc(' ', f);
        else
            fputc(*s, f);
    }
}

static const char *kb(size_t n, char *buf, size_t len)
{
    if (n < 10 * 1024)
        snprintf(buf, len, "%zu B", n);
    else
        snprintf(buf, len, "%.1f KiB", (double)n / 1024.0);
    return buf;
}

static void bc_report_usage(FILE *f)
{
    fprintf(f, "usage: ocs bc-report [-o FILE] [--work DIR] [--runs N] [--ort-modules DIR] [--ort-script FILE]\n");
}

int ocs_cmd_bc_report(int argc, char **argv)
{
    const char *out_path = "reports/backend_context.md", *work = NULL, *ort_script = "conformance/ort/ort-load.js";
    char ort_modules[1024];
    const char *build = getenv("OCS_BUILD");
    snprintf(ort_modules, sizeof ort_modules, "%s/ort/node_modules", build && build[0] ? build : "build");
    int runs = 7;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            bc_report_usage(stdout);
            return 0;
        } else if (i + 1 < argc && !strcmp(a, "-o")) {
            out_path = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--work")) {
            work = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--runs")) {
            runs = atoi(argv[++i]);
        } else if (i + 1 < argc && !strcmp(a, "--ort-modules")) {
            snprintf(ort_modules, sizeof ort_modules, "%s", argv[++i]);
        } else if (i + 1 < argc && !strcmp(a, "--ort-script")) {
            ort_script = argv[++i];
        } else {
            bc_report_usage(stderr);
            return 2;
        }
    }
    if (runs < 1 || runs > 64) {
        fprintf(stderr, "ocs bc-report: --runs must be 1..64\n");
        return 2;
    }
    char workdir[1024];
    if (!work && build && build[0]) {
        /* under make: beside the build's other outputs */
        snprintf(workdir, sizeof workdir, "%.1000s/bc-report", build);
        mkdir(workdir, 0755);
    } else if (work) {
        snprintf(workdir, sizeof workdir, "%s", work);
        mkdir(workdir, 0755);
    } else {
        snprintf(workdir, sizeof workdir, "/tmp/ocs-bc-report-XXXXXX");
        if (!mkdtemp(workdir)) {
            fprintf(stderr, "ocs bc-report: mkdtemp: %s\n", strerror(errno));
            return 1;
        }
    }
    ocs_err err;
    ocs_err_clear(&err);
    ocs_backend **cpu = NULL, **all = NULL;
    size_t n_cpu = 0, n_all = 0;
    char open_log[1024] = "";
    FILE *ol = log_stream(open_log, sizeof open_log);
    ocs_cli_bc_open("cpu", &cpu, &n_cpu, ol, &err);
    ocs_cli_bc_open("cpu,cuda", &all, &n_all, ol, &err);
    if (ol)
        fclose(ol);
    if (n_cpu != 1) {
        fprintf(stderr, "ocs bc-report: the cpu backend is needed: %s\n", open_log);
        ocs_cli_bc_close(cpu, n_cpu);
        ocs_cli_bc_close(all, n_all);
        return 1;
    }
    rmodel models[N_MODELS];
    mres res[N_MODELS];
    memset(models, 0, sizeof models);
    memset(res, 0, sizeof res);
    ocs_status (*builders[N_MODELS])(rmodel *, ocs_err *) = {build_mlp, build_pa, build_moe};
    int rc = 1;
    char ort_version[256] = "not run";
    char all_paths[N_MODELS * (N_VARIANTS + 1)][1024];
    char *ort_results[N_MODELS * (N_VARIANTS + 1)];
    for (size_t i = 0; i < N_MODELS * (N_VARIANTS + 1); i++)
        ort_results[i] = NULL;
    size_t n_paths = 0;
    timing jobs[N_MODELS * (2 * N_VARIANTS + 1)];
    size_t n_jobs = 0;
    for (size_t k = 0; k < N_MODELS; k++) {
        rmodel *rm = &models[k];
        mres *mr = &res[k];
        if (builders[k](rm, &err) != OCS_OK) {
            fprintf(stderr, "ocs bc-report: building model %zu: %s\n", k, err.msg);
            goto done;
        }
        char dir[960], path[1024];
        snprintf(dir, sizeof dir, "%.900s/%.50s", workdir, rm->name);
        mkdir(dir, 0755);
        snprintf(path, sizeof path, "%s/test_data_set_0", dir);
        mkdir(path, 0755);
        for (size_t i = 0; i < rm->in.n; i++) {
            snprintf(path, sizeof path, "%s/test_data_set_0/input_%zu.pb", dir, i);
            if (ocs_tensor_save_file(rm->in.tensors[i], rm->in.names[i], path, &err) != OCS_OK) {
                fprintf(stderr, "ocs bc-report: %s\n", err.msg);
                goto done;
            }
        }
        snprintf(path, sizeof path, "%s/model.onnx", dir);
        if (ocs_model_save_file(rm->m, path, &err) != OCS_OK) {
            fprintf(stderr, "ocs bc-report: %s\n", err.msg);
            goto done;
        }
        snprintf(all_paths[n_paths++], 1024, "%.1000s", path);
        mr->orig_bytes = file_size(path);
        jobs[n_jobs++] = (timing){all_paths[n_paths - 1], 0, &mr->load_orig_ms};
        mr->sess_orig_ms = time_sessions(all_paths[n_paths - 1], cpu, n_cpu, 0, runs);
        ocs_model *orig = NULL;
        if (ocs_model_load_file(path, &orig, &err) != OCS_OK) {
            fprintf(stderr, "ocs bc-report: %s\n", err.msg);
            goto done;
        }
        mr->n_inits = orig->graph->n_inits;
        for (size_t i = 0; i < mr->n_inits; i++)
            mr->init_bytes += orig->graph->inits[i].tensor->nbytes;
        run_out fb, refonly;
        run_file(path, rm, cpu, n_cpu, 0, 1, &fb);
        run_file(path, rm, NULL, 0, 0, 0, &refonly);
        if (fb.st != OCS_OK || refonly.st != OCS_OK) {
            fprintf(stderr, "ocs bc-report: running %s: %s%s\n", path, fb.err, refonly.err);
            run_free(&fb);
            run_free(&refonly);
            ocs_model_free(orig);
            goto done;
        }
        /* one compilation; every variant encodes the same blobs */
        ocs_cli_blobs blobs;
        char clog[4096] = "";
        FILE *lf = log_stream(clog, sizeof clog);
        double t0 = ocs_cli_now_ms();
        ocs_status cst = ocs_cli_bc_compile_regions(orig, all, n_all, &rm->in, NULL, 0, &blobs, lf ? lf : stderr, &err);
        mr->compile_total_ms = ocs_cli_now_ms() - t0;
        if (lf)
            fclose(lf);
        if (cst != OCS_OK) {
            fprintf(stderr, "ocs bc-report: compiling %s: %s\n", path, err.msg);
            run_free(&fb);
            run_free(&refonly);
            ocs_model_free(orig);
            goto done;
        }
        snprintf(mr->compile_log, sizeof mr->compile_log, "%s", clog);
        mr->compile_ms = blobs.compile_ms;
        mr->tuned = blobs.tuned;
        for (size_t v = 0; v < N_VARIANTS; v++) {
            vres *vr = &mr->v[v];
            char stem[256];
            snprintf(stem, sizeof stem, "%s", variants[v].name);
            snprintf(vr->path, sizeof vr->path, "%.900s/%.60s.onnx", dir, variants[v].name);
            ocs_cli_compiled c = {0};
            ocs_status st = ocs_cli_bc_encode(&blobs, variants[v].enc, variants[v].external ? stem : NULL, &c, &err);
            if (st == OCS_OK && variants[v].local_fn)
                st = ocs_bc_add_local_functions(c.model, &err);
            if (st == OCS_OK)
                st = ocs_bc_save(c.model, vr->path, c.files, c.n_files, &err);
            if (st != OCS_OK) {
                fprintf(stderr, "ocs bc-report: encoding %s: %s\n", vr->path, err.msg);
                ocs_cli_compiled_free(&c);
                ocs_cli_blobs_free(&blobs);
                run_free(&fb);
                run_free(&refonly);
                ocs_model_free(orig);
                goto done;
            }
            vr->blob_bytes = c.blob_bytes;
            vr->model_bytes = file_size(vr->path);
            vr->file_bytes = blob_files_bytes(&c);
            ocs_cli_compiled_free(&c);
            snprintf(all_paths[n_paths++], 1024, "%s", vr->path);
            jobs[n_jobs++] = (timing){vr->path, 0, &vr->load_blob_ms};
            jobs[n_jobs++] = (timing){vr->path, 1, &vr->load_fallback_ms};
            vr->sess_blob_ms = time_sessions(vr->path, cpu, n_cpu, 0, runs);
            vr->sess_fallback_ms = time_sessions(vr->path, cpu, n_cpu, 1, runs);
            run_out blob, none, strict;
            run_file(vr->path, rm, cpu, n_cpu, 0, 0, &blob);
            run_file(vr->path, rm, NULL, 0, 0, 0, &none);
            run_file(vr->path, rm, NULL, 0, 1, 0, &strict);
            vr->accepted = blob.accepted;
            snprintf(vr->decision, sizeof vr->decision, "%s", blob.decision);
            vr->identical = blob.accepted && same_outputs(&blob, &fb, rm->n_out);
            vr->max_diff_ref = max_diff(&blob, &refonly, rm->n_out);
            snprintf(vr->absent, sizeof vr->absent, "%s", none.decision);
            vr->absent_ran = none.st == OCS_OK && same_outputs(&none, &refonly, rm->n_out);
            snprintf(vr->strict_absent, sizeof vr->strict_absent, "%s",
                     strict.st == OCS_OK ? "ran (unexpected)" : strict.err);
            weights(vr->path, &vr->n_inits, &vr->init_bytes, &vr->weight_hits);
            if (v == 0 && blob.accepted) {
                /* the plan the cpu backend tuned, from the embedded blob */
                ocs_model *cm = NULL;
                ocs_bc_region *rs = NULL;
                size_t nr = 0;
                if (ocs_model_load_file(vr->path, &cm, &err) == OCS_OK && ocs_bc_discover(cm, &rs, &nr, &err) == OCS_OK &&
                    nr)
                    for (size_t b = 0; b < rs[0].n_blobs; b++) {
                        ocs_blob cb;
                        if (!strcmp(rs[0].blobs[b].backend, "cpu") &&
                            ocs_blob_parse(rs[0].blobs[b].data, rs[0].blobs[b].len, &cb, &err) == OCS_OK)
                            snprintf(mr->plan, sizeof mr->plan, "%.*s", (int)cb.payload_len, (const char *)cb.payload);
                    }
                ocs_bc_regions_free(rs, nr);
                ocs_model_free(cm);
            }
            run_free(&blob);
            run_free(&none);
            run_free(&strict);
        }
        ocs_cli_blobs_free(&blobs);
        run_free(&fb);
        run_free(&refonly);
        ocs_model_free(orig);
    }
    time_all(jobs, n_jobs, cpu, n_cpu, runs);
    for (size_t i = 0; i < n_paths; i++) {
        ort_results[i] = calloc(512, 1);
        if (!ort_results[i])
            goto done;
    }
    ort_check(ort_script, ort_modules, all_paths, ort_results, n_paths, ort_version, sizeof ort_version);

    /* ---- write ---- */
    FILE *f = fopen(out_path, "w");
    if (!f) {
        fprintf(stderr, "ocs bc-report: %s: %s\n", out_path, strerror(errno));
        goto done;
    }
    char compat[512], b1[64], b2[64], b3[64];
    ocs_cpu_bc_compat_here(compat, sizeof compat);
    fprintf(f, "# BackendContext: function node (Option F) versus metadata scopes (Option M)\n\n");
    fprintf(f, "Generated by `ocs bc-report` (conformance/bc_report.c). The numbers are measured on the machine that "
               "ran it; rerun to reproduce (commands at the end).\n\n");
    fprintf(f, "- cpu backend: %s\n", cpu[0]->ops->describe ? cpu[0]->ops->describe(cpu[0]->ctx) : "cpu");
    fprintf(f, "- a cpu blob compiled here needs: `%s`\n", compat);
    fprintf(f, "- backends opened for compiling: ");
    for (size_t b = 0; b < n_all; b++)
        fprintf(f, "%s%s", b ? ", " : "", all[b]->ops->name);
    fprintf(f, "%s\n", open_log[0] ? " (see below for absent ones)" : "");
    if (open_log[0]) {
        fprintf(f, "- ");
        md_escape(f, open_log);
        fprintf(f, "\n");
    }
    fprintf(f, "- load times are medians of %d runs of: read the file, make a session with the cpu backend "
               "(discovery, selection, blob read and checks, plan load).\n\n", runs);

    fprintf(f, "## The models\n\nEach model has one region; weights are initializers of the main graph and are "
               "passed to the region as inputs.\n\n| model | region | initializers | weights | cpu blob | compile step |\n"
               "|---|---|---|---|---|---|\n");
    for (size_t k = 0; k < N_MODELS; k++)
        fprintf(f, "| %s | %s | %zu | %s | %s | %.1f ms (%s) |\n", models[k].name, models[k].what, res[k].n_inits,
                kb(res[k].init_bytes, b1, sizeof b1), kb(res[k].v[0].blob_bytes, b2, sizeof b2), res[k].compile_ms,
                res[k].tuned ? "tuned on the sample inputs" : "untuned");
    fprintf(f, "\nWhat the compile step logged:\n\n```\n");
    for (size_t k = 0; k < N_MODELS; k++)
        fprintf(f, "%s", res[k].compile_log);
    fprintf(f, "```\n\n");
    for (size_t k = 0; k < N_MODELS; k++)
        if (res[k].plan[0])
            fprintf(f, "The cpu plan of `%s` (the blob's payload):\n\n```\n%s```\n\n", models[k].name, res[k].plan);

    fprintf(f, "## File size overhead\n\nBytes on disk: the model file, plus the blob file(s) beside it for the "
               "external variants. Overhead is against the original model.\n\n| model | original |");
    for (size_t v = 0; v < N_VARIANTS; v++)
        fprintf(f, " %s |", variants[v].title);
    fprintf(f, "\n|---|---|");
    for (size_t v = 0; v < N_VARIANTS; v++)
        fprintf(f, "---|");
    fprintf(f, "\n");
    for (size_t k = 0; k < N_MODELS; k++) {
        fprintf(f, "| %s | %zu |", models[k].name, res[k].orig_bytes);
        for (size_t v = 0; v < N_VARIANTS; v++) {
            const vres *vr = &res[k].v[v];
            size_t total = vr->model_bytes + vr->file_bytes;
            long long over = (long long)total - (long long)res[k].orig_bytes;
            if (variants[v].external)
                fprintf(f, " %zu + %zu (%+lld, %+.2f%%) |", vr->model_bytes, vr->file_bytes, over,
                        100.0 * (double)over / (double)res[k].orig_bytes);
            else
                fprintf(f, " %zu (%+lld, %+.2f%%) |", total, over, 100.0 * (double)over / (double)res[k].orig_bytes);
        }
        fprintf(f, "\n");
    }
    fprintf(f, "\nThe container of a blob is the same bytes in every variant (%s for the MLP). Embedded, the function "
               "node stores them as raw bytes in a STRINGS attribute; the scopes encoding stores them base64 in a "
               "metadata string (4/3 of the size). External, both store a path, offset, length and digest; blob files "
               "are padded to 4096-byte offsets per ONNX's external-data advice. The \"+ local function\" variant also "
               "stores the fallback as a model-local function (so the region's nodes are stored twice).\n\n",
            kb(res[0].v[0].blob_bytes, b1, sizeof b1));

    for (int table = 0; table < 2; table++) {
        if (table == 0)
            fprintf(f, "## Load time: with the blob, ignoring it, compiling instead\n\nMaking a session for a model "
                       "already in memory (discovery, selection, reading and checking the blob, loading the plan): "
                       "with the blob / with blobs ignored (fallback). This is what each encoding itself costs.\n\n");
        else
            fprintf(f, "\nThe same including reading the file (`ocs_model_load_file`); on files of megabytes, page "
                       "faults and the allocator's state move these by a millisecond or two either way.\n\n");
        fprintf(f, "| model | original (no blobs) |");
        for (size_t v = 0; v < N_VARIANTS; v++)
            fprintf(f, " %s |", variants[v].title);
        fprintf(f, " compiling instead |\n|---|---|");
        for (size_t v = 0; v < N_VARIANTS; v++)
            fprintf(f, "---|");
        fprintf(f, "---|\n");
        for (size_t k = 0; k < N_MODELS; k++) {
            fprintf(f, "| %s | %.3f ms |", models[k].name, table ? res[k].load_orig_ms : res[k].sess_orig_ms);
            for (size_t v = 0; v < N_VARIANTS; v++)
                fprintf(f, " %.3f / %.3f ms |", table ? res[k].v[v].load_blob_ms : res[k].v[v].sess_blob_ms,
                        table ? res[k].v[v].load_fallback_ms : res[k].v[v].sess_fallback_ms);
            fprintf(f, " %.1f ms (compile steps %.1f ms) |\n", res[k].compile_total_ms, res[k].compile_ms);
        }
    }
    fprintf(f, "\n\"Compiling instead\" is what a runtime without the blob pays, on top of the fallback's session, to "
               "get the same plan: finding the region, one run of the model on the sample inputs, and the backend's "
               "measurements (the compile steps alone in parentheses).\n\n");

    fprintf(f, "## Outputs: blob versus fallback\n\nThe blob runs on the cpu backend; the fallback is the same file "
               "with blobs ignored, on the same backend. Bit-identical means every output has the same dtype, shape "
               "and bytes. The last column compares the blob with the reference executor alone (float32 vs double "
               "accumulation).\n\n| model | variant | decision | bit-identical to the fallback | max abs diff to the reference |\n"
               "|---|---|---|---|---|\n");
    for (size_t k = 0; k < N_MODELS; k++)
        for (size_t v = 0; v < N_VARIANTS; v++) {
            const vres *vr = &res[k].v[v];
            fprintf(f, "| %s | %s | ", models[k].name, variants[v].name);
            md_escape(f, vr->accepted ? "runs from the cpu blob" : vr->decision);
            fprintf(f, " | %s | %.3g |\n", vr->identical ? "yes" : "NO", vr->max_diff_ref);
        }
    fprintf(f, "\nDecision lines as logged (function, embedded):\n\n");
    for (size_t k = 0; k < N_MODELS; k++) {
        fprintf(f, "- %s: ", models[k].name);
        md_escape(f, res[k].v[0].decision);
        fprintf(f, "\n");
    }

    fprintf(f, "\n## When no backend takes the blob\n\nThe same files on a session with no backend (the reference "
               "executor only), then with the strict flag.\n\n| model | variant | decision | fallback ran, outputs = "
               "reference | strict |\n|---|---|---|---|---|\n");
    for (size_t k = 0; k < N_MODELS; k++)
        for (size_t v = 0; v < N_VARIANTS; v++) {
            const vres *vr = &res[k].v[v];
            fprintf(f, "| %s | %s | ", models[k].name, variants[v].name);
            md_escape(f, vr->absent);
            fprintf(f, " | %s | ", vr->absent_ran ? "yes" : "NO");
            md_escape(f, vr->strict_absent);
            fprintf(f, " |\n");
        }
    fprintf(f, "\nOption F needs an implementation of the BackendContext operator (here the reference kernel runs "
               "the `fallback` graph); a runtime that does not know the operator cannot fall back at all. Option M "
               "needs nothing: a runtime that ignores the metadata runs the region's nodes as they are.\n\n");

    fprintf(f, "## Weight duplication\n\n| model | original: initializers, bytes | variant | initializers, bytes | "
               "initializers found inside a blob |\n|---|---|---|---|---|\n");
    for (size_t k = 0; k < N_MODELS; k++)
        for (size_t v = 0; v < N_VARIANTS; v++) {
            const vres *vr = &res[k].v[v];
            fprintf(f, "| %s | %zu, %s | %s | %zu, %s | %zu |\n", models[k].name, res[k].n_inits,
                    kb(res[k].init_bytes, b1, sizeof b1), variants[v].name, vr->n_inits,
                    kb(vr->init_bytes, b2, sizeof b2), vr->weight_hits);
        }
    fprintf(f, "\nNone allowed, none found: in both encodings the weights stay main-graph initializers that the region "
               "reads as inputs, and the cpu blob (%s) holds a plan, never tensor data (the last column searches each "
               "blob for the first 64 bytes of every initializer).\n\n", kb(res[1].v[0].blob_bytes, b3, sizeof b3));

    fprintf(f, "## Does ONNX Runtime still load the file?\n\n%s, CPU provider, session creation only "
               "(`conformance/ort/ort-load.js`).\n\n| model | original |", ort_version);
    for (size_t v = 0; v < N_VARIANTS; v++)
        fprintf(f, " %s |", variants[v].title);
    fprintf(f, "\n|---|---|");
    for (size_t v = 0; v < N_VARIANTS; v++)
        fprintf(f, "---|");
    fprintf(f, "\n");
    for (size_t k = 0; k < N_MODELS; k++) {
        fprintf(f, "| %s |", models[k].name);
        for (size_t v = 0; v <= N_VARIANTS; v++) {
            fprintf(f, " ");
            md_escape(f, ort_results[k * (N_VARIANTS + 1) + v] ? ort_results[k * (N_VARIANTS + 1) + v] : "not run");
            fprintf(f, " |");
        }
        fprintf(f, "\n");
    }
    fprintf(f, "\nThe models with PagedAttention or MoE do not load in ONNX Runtime in any form, since ORT implements "
               "neither proposed operator in `ai.onnx.preview`; the MLP (standard ops only) isolates what each "
               "encoding itself costs a standard tool.\n\n");

    fprintf(f, "## Commands used\n\n```\n");
    fprintf(f, "ocs bc-report -o %s --work %s --runs %d --ort-modules %s\n", out_path, workdir, runs, ort_modules);
    fprintf(f, "# the same steps by hand, for one model:\n");
    fprintf(f, "ocs compile %s/paged_attention/model.onnx --backends cpu,cuda --encoding function -o "
               "%s/paged_attention/function_embedded.onnx\n", workdir, workdir);
    fprintf(f, "ocs compile %s/paged_attention/model.onnx --backends cpu,cuda --encoding scopes --external -o "
               "%s/paged_attention/scopes_external.onnx\n", workdir, workdir);
    fprintf(f, "ocs inspect %s/paged_attention/scopes_external.onnx --time\n", workdir);
    fprintf(f, "ocs inspect %s/paged_attention/function_embedded.onnx --backends cuda --strict\n", workdir);
    fprintf(f, "NODE_PATH=%s node %s %s/mlp/*.onnx\n", ort_modules, ort_script, workdir);
    fprintf(f, "```\n");
    fclose(f);
    printf("wrote %s (models and compiled files in %s)\n", out_path, workdir);
    rc = 0;
done:
    for (size_t i = 0; i < N_MODELS * (N_VARIANTS + 1); i++)
        free(ort_results[i]);
    for (size_t k = 0; k < N_MODELS; k++) {
        ocs_model_free(models[k].m);
        ocs_cli_inputs_free(&models[k].in);
    }
    ocs_cli_bc_close(cpu, n_cpu);
    ocs_cli_bc_close(all, n_all);
    return rc;
}
