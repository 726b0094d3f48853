/*
 * backends/cpu/compile.c - the CPU backend's compile step for BackendContext
 * regions, and the loader and runner of what it produces (tuning.h).
 *
 * Compiling a region:
 *   1. checks that every node is an operator with a reference kernel and
 *      that no subgraph reads a value the region itself produces (such a
 *      value lives only inside the plan, where a subgraph cannot see it);
 *   2. orders the nodes topologically and gives every value a slot, reusing
 *      a slot once its value's last reader has run;
 *   3. with sample inputs: runs the region once, choosing for each node the
 *      CPU implementation when it supports the node's actual input types,
 *      else the reference kernel; then, node by node, times the region with
 *      each candidate thread count (and, when the implementations read them,
 *      the other knobs of tuning.h) and keeps the fastest candidate whose
 *      outputs are bit-identical to the first run's.  Without sample inputs
 *      the choices use the declared types and the built-in knobs;
 *   4. writes the plan as text (below), and a compatibility string naming the
 *      architecture, the ISA features the CPU kernels dispatch on, and the
 *      OpenBLAS version and core, all of which decide the exact arithmetic.
 *
 * The payload, version 1 (printable ASCII, one record per line):
 *
 *   ocs-cpu-plan 1
 *   fingerprint <SHA-256 of the region's canonical form>
 *   counts inputs=<n> outputs=<m> consts=<c> slots=<s> steps=<k>
 *   result <slot>,<slot>,...                     one per region output
 *   step <node> <cpu|ref> threads=<t> chunk=<c> stream=<n> in=<slots> out=<slots> free=<slots>
 *   tuned <node> <candidate>:<microseconds>[*|!] ...   (informational)
 *   note <text>                                       (informational)
 *   end
 *
 * Slots 0..n-1 hold the region's inputs, n..n+c-1 its constants; "-" marks
 * an absent input or unused output.  Loading trusts none of it: the
 * fingerprint must match the region being loaded, every count is bounded,
 * and the data flow is replayed: each step's node exists and runs once,
 * each input slot holds exactly the value the node names, each output slot
 * is free, nothing is freed twice or read after being freed, and the result
 * slots hold the region's outputs at the end.
 */
#include "cpu.h"
#include "tuning.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ocs/backend_context.h"
#include "ocs/build.h"
#include "ocs/sha256.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#define PLAN_VERSION 1
#define PLAN_MAX_SLOTS (1 << 20)
#define PLAN_MAX_STEPS (1 << 20)
#define PLAN_MAX_THREADS 256
#define PLAN_MAX_LINE (1 << 20)

char *openblas_get_config(void);
char *openblas_get_corename(void);

/* ---- plans ------------------------------------------------------------------------------------- */

typedef struct step {
    size_t node;                  /* index into the view */
    int cpu;                      /* 1: CPU implementation, 0: reference, -1: decide on the first run */
    ocs_cpu_tuning knobs;
    size_t n_in, n_out, n_free;
    int32_t *in, *out, *fre;
    /* ready to run */
    const ocs_cpu_impl *impl;
    const ocs_op_def *ref;
    const ocs_schema *schema;
    ocs_cpu tuned;                /* the backend with this step's pool */
    void *state;
    int prepared;
    char *tune;                   /* the measurements, for the "tuned" line */
} step;

typedef struct pool_ref {
    size_t threads;
    ocs_pool *pool;
    int owned;
} pool_ref;

typedef struct plan {
    ocs_cpu *cpu;
    const ocs_bc_view *view;
    char fingerprint[65];
    size_t n_slots, n_steps;
    step *steps;
    int32_t *result;
    pool_ref *pools;
    size_t n_pools;
    char note[256];
} plan;

static ocs_status nomem(ocs_err *err)
{
    return ocs_fail(err, OCS_ERR_NOMEM, "cpu compiled region: out of memory");
}

static void step_unprepare(step *s)
{
    if (s->prepared && s->impl)
        s->impl->release(s->state);
    s->state = NULL;
    s->prepared = 0;
}

static void plan_free(plan *p)
{
    if (!p)
        return;
    for (size_t i = 0; p->steps && i < p->n_steps; i++) {
        step_unprepare(&p->steps[i]);
        free(p->steps[i].in);
        free(p->steps[i].out);
        free(p->steps[i].fre);
        free(p->steps[i].tune);
    }
    free(p->steps);
    free(p->result);
    for (size_t i = 0; i < p->n_pools; i++)
        if (p->pools[i].owned)
            ocs_pool_free(p->pools[i].pool);
    free(p->pools);
    free(p);
}

/* The pool with `threads` threads (0: the backend's), made on first use. */
static ocs_status get_pool(plan *p, size_t threads, ocs_pool **out, ocs_err *err)
{
    size_t base = ocs_pool_threads(p->cpu->pool);
    if (threads == 0 || threads == base) {
        *out = p->cpu->pool;
        return OCS_OK;
    }
    for (size_t i = 0; i < p->n_pools; i++)
        if (p->pools[i].threads == threads) {
            *out = p->pools[i].pool;
            return OCS_OK;
        }
    pool_ref *g = realloc(p->pools, (p->n_pools + 1) * sizeof *g);
    if (!g)
        return nomem(err);
    p->pools = g;
    ocs_pool *pool = NULL;
    ocs_status st = ocs_pool_new(threads, &pool, err);
    if (st != OCS_OK)
        return st;
    g[p->n_pools++] = (pool_ref){threads, pool, 1};
    *out = pool;
    return OCS_OK;
}

/* Resolves a step's kernels and, for a CPU step, prepares it with its knobs. */
static ocs_status step_prepare(plan *p, step *s, ocs_err *err)
{
    const ocs_node *n = p->view->nodes[s->node];
    int64_t since = p->view->since_versions[s->node];
    s->ref = ocs_op_find(n->domain, n->op_type);
    if (!s->ref || since < 0)
        return ocs_fail(err, OCS_ERR_INVALID, "node %zu (%s) has no kernel", s->node, n->op_type);
    s->schema = ocs_schema_find(n->domain, n->op_type, since);
    s->impl = ocs_cpu_impl_find(n);
    if (s->cpu == 1 && !s->impl)
        return ocs_fail(err, OCS_ERR_UNSUPPORTED, "this cpu backend does not implement %s", n->op_type);
    if (s->cpu == 0 || s->prepared)
        return OCS_OK;
    if (!s->impl) {
        s->cpu = 0;
        return OCS_OK;
    }
    ocs_pool *pool = NULL;
    ocs_status st = get_pool(p, s->knobs.threads, &pool, err);
    if (st != OCS_OK)
        return st;
    s->tuned = *p->cpu;
    s->tuned.pool = pool;
#ifdef OCS_CPU_HAS_TUNING
    s->tuned.tuning = &s->knobs;
#endif
    st = s->impl->prepare(&s->tuned, n, &s->state, err);
    if (st != OCS_OK)
        return st;
    s->prepared = 1;
    return OCS_OK;
}

/* ---- running a plan ------------------------------------------------------------------------------ */

static int wanted(const ocs_node *n, size_t i)
{
    return i < n->n_outputs && n->outputs[i][0];
}

/*
 * Runs the plan on inputs[0..n_in) (region input order) into outputs
 * (region output order, owned by the caller).  scope is the enclosing
 * scope for kernels that run subgraphs (NULL when there is none).
 */
static ocs_status plan_run(plan *p, const ocs_tensor *const *inputs, ocs_tensor **outputs, ocs_scope *scope,
                           ocs_err *err)
{
    const ocs_bc_view *v = p->view;
    const ocs_tensor **val = calloc(p->n_slots + 1, sizeof *val);
    ocs_tensor **own = calloc(p->n_slots + 1, sizeof *own);
    ocs_status st = OCS_OK;
    if (!val || !own) {
        free(val);
        free(own);
        return nomem(err);
    }
    for (size_t i = 0; i < v->n_inputs; i++)
        val[i] = inputs[i];
    for (size_t c = 0; c < v->n_consts; c++)
        val[v->n_inputs + c] = v->consts[c].tensor;
    for (size_t k = 0; k < p->n_steps && st == OCS_OK; k++) {
        step *s = &p->steps[k];
        const ocs_node *n = v->nodes[s->node];
        size_t ni = s->n_in, no = s->n_out;
        const ocs_tensor **ins = calloc(ni + 1, sizeof *ins);
        const ocs_value **vals = calloc(ni + 1, sizeof *vals);
        ocs_tensor **outs = calloc(no + 1, sizeof *outs);
        ocs_value **outv = calloc(no + 1, sizeof *outv);
        ocs_tensor_type *types = calloc(ni + 1, sizeof *types);
        char label[256];
        if (!ins || !vals || !outs || !outv || !types) {
            st = nomem(err);
        } else {
            for (size_t i = 0; i < ni; i++) {
                ins[i] = s->in[i] >= 0 ? val[s->in[i]] : NULL;
                ocs_tensor_type_of(ins[i], &types[i]);
            }
            if (s->schema)
                st = ocs_schema_check_types(s->schema, n, ni, types, err);
            ocs_kernel_args a = {
                .node = n,
                .since_version = v->since_versions[s->node],
                .n_inputs = ni,
                .inputs = ins,
                .values = vals,
                .n_outputs = no,
                .outputs = outs,
                .out_values = outv,
                .scope = scope,
                .err = err,
            };
            if (st == OCS_OK) {
                int use_cpu = s->cpu != 0 && s->impl &&
                              s->impl->supports(p->cpu, n, a.since_version, ni, types);
                if (s->cpu == -1) {
                    s->cpu = use_cpu;
                    if (use_cpu && !s->prepared)
                        st = step_prepare(p, s, err);
                }
                if (st == OCS_OK) {
                    ocs_err_clear(err);
                    st = use_cpu && s->prepared ? s->impl->run(&s->tuned, s->state, &a) : s->ref->kernel(&a);
                }
            }
            for (size_t j = 0; j < no && st == OCS_OK; j++) {
                if (outv[j]) {
                    st = ocs_fail(err, OCS_ERR_UNSUPPORTED, "a compiled region carries tensors only; output %zu is "
                                  "a sequence or optional", j);
                } else if (wanted(n, j) && !outs[j]) {
                    st = ocs_fail(err, OCS_ERR_RUNTIME, "output %zu '%s' was not produced", j, n->outputs[j]);
                } else if (s->out[j] >= 0) {
                    own[s->out[j]] = outs[j];
                    val[s->out[j]] = outs[j];
                    outs[j] = NULL;
                }
            }
            if (st != OCS_OK)
                ocs_err_prefix(err, st, "%s: ", ocs_node_label(n, label, sizeof label));
            for (size_t j = 0; j < no; j++) {
                ocs_tensor_free(outs[j]);
                ocs_value_free(outv[j]);
            }
            for (size_t f = 0; f < s->n_free && st == OCS_OK; f++) {
                ocs_tensor_free(own[s->fre[f]]);
                own[s->fre[f]] = NULL;
                val[s->fre[f]] = NULL;
            }
        }
        free(ins);
        free(vals);
        free(outs);
        free(outv);
        free(types);
    }
    for (size_t j = 0; j < v->n_outputs && st == OCS_OK; j++) {
        int32_t r = p->result[j];
        if (own[r]) {
            outputs[j] = own[r];
            own[r] = NULL;
        } else if (val[r]) {
            st = ocs_tensor_clone(val[r], &outputs[j], err);
        } else {
            st = ocs_fail(err, OCS_ERR_RUNTIME, "region output %zu '%s' was not produced", j, v->outputs[j]);
        }
    }
    if (st != OCS_OK)
        for (size_t j = 0; j < v->n_outputs; j++) {
            ocs_tensor_free(outputs[j]);
            outputs[j] = NULL;
        }
    for (size_t i = 0; i < p->n_slots; i++)
        ocs_tensor_free(own[i]);
    free(own);
    free(val);
    return st;
}

/* ---- the region's fingerprint ------------------------------------------------------------------- */

/* SHA-256 of the region as the protobuf writer serialises it (nodes without
 * their metadata, inputs with their element types, outputs, constants),
 * followed by the operator versions. */
static ocs_status fingerprint(const ocs_bc_view *v, char hex[65], ocs_err *err)
{
    ocs_model *holder = NULL;
    ocs_status st = ocs_model_new(&holder, err);
    if (st != OCS_OK)
        return st;
    ocs_node *nodes = calloc(v->n_nodes + 1, sizeof *nodes);
    ocs_value_info *ins = calloc(v->n_inputs + 1, sizeof *ins), *outs = calloc(v->n_outputs + 1, sizeof *outs);
    if (!nodes || !ins || !outs) {
        free(nodes);
        free(ins);
        free(outs);
        ocs_model_free(holder);
        return nomem(err);
    }
    for (size_t i = 0; i < v->n_nodes; i++) {
        nodes[i] = *v->nodes[i];
        nodes[i].n_meta = 0;
        nodes[i].meta = NULL;
    }
    for (size_t i = 0; i < v->n_inputs; i++) {
        ins[i].name = (char *)v->inputs[i];
        ins[i].doc = (char *)"";
        ins[i].type.kind = OCS_TYPE_TENSOR;
        ins[i].type.elem = v->input_types ? v->input_types[i].dtype : OCS_UNDEFINED;
    }
    for (size_t i = 0; i < v->n_outputs; i++) {
        outs[i].name = (char *)v->outputs[i];
        outs[i].doc = (char *)"";
        outs[i].type.kind = OCS_TYPE_NONE;
    }
    ocs_graph g = {0};
    g.name = (char *)"region";
    g.doc = (char *)"";
    g.n_nodes = v->n_nodes;
    g.nodes = nodes;
    g.n_inputs = v->n_inputs;
    g.inputs = ins;
    g.n_outputs = v->n_outputs;
    g.outputs = outs;
    g.n_inits = v->n_consts;
    g.inits = (ocs_initializer *)v->consts;
    ocs_graph *empty = holder->graph;
    holder->graph = &g;
    void *bytes = NULL;
    size_t len = 0;
    st = ocs_model_save_memory(holder, &bytes, &len, err);
    holder->graph = empty;
    ocs_model_free(holder);
    free(nodes);
    free(ins);
    free(outs);
    if (st != OCS_OK)
        return st;
    ocs_sha256 s;
    unsigned char d[32];
    ocs_sha256_init(&s);
    ocs_sha256_update(&s, "ocs-cpu-region-1", 16);
    ocs_sha256_update(&s, bytes, len);
    for (size_t i = 0; i < v->n_nodes; i++) {
        unsigned char b[8];
        for (int k = 0; k < 8; k++)
            b[k] = (unsigned char)((uint64_t)v->since_versions[i] >> (8 * k));
        ocs_sha256_update(&s, b, 8);
    }
    ocs_sha256_final(&s, d);
    free(bytes);
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = digits[d[i] >> 4];
        hex[2 * i + 1] = digits[d[i] & 15];
    }
    hex[64] = '\0';
    return OCS_OK;
}

/* ---- compatibility --------------------------------------------------------------------------------- */

static const char *arch_name(void)
{
#if defined(__x86_64__)
    return "x86_64";
#elif defined(__aarch64__)
    return "aarch64";
#elif defined(__i386__)
    return "i386";
#else
    return "other";
#endif
}

/* The ISA features the kernels choose between, as "avx512f+avx2+fma+f16c" (or "none"). */
static void isa_here(char *buf, size_t len)
{
    buf[0] = '\0';
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    static const char *const feats[] = {"avx512f", "avx2", "fma", "f16c"};
    /* f16c through cpuid (leaf 1, ECX bit 29): not every compiler's __builtin_cpu_supports knows it */
    unsigned a = 0, b = 0, c = 0, d = 0;
    const int f16c = __get_cpuid(1, &a, &b, &c, &d) && (c >> 29 & 1u);
    const int have[] = {__builtin_cpu_supports("avx512f"), __builtin_cpu_supports("avx2"),
                        __builtin_cpu_supports("fma"), f16c};
    size_t o = 0;
    for (size_t i = 0; i < sizeof feats / sizeof feats[0]; i++)
        if (have[i] && o < len)
            o += (size_t)snprintf(buf + o, len - o, "%s%s", o ? "+" : "", feats[i]);
#endif
    if (!buf[0])
        snprintf(buf, len, "none");
}

static void openblas_here(char *buf, size_t len)
{
    const char *cfg = openblas_get_config();
    const char *core = openblas_get_corename();
    char ver[64] = "unknown";
    if (cfg && !strncmp(cfg, "OpenBLAS ", 9)) {
        size_t n = strcspn(cfg + 9, " ");
        if (n > 0 && n < sizeof ver) {
            memcpy(ver, cfg + 9, n);
            ver[n] = '\0';
        }
    }
    snprintf(buf, len, "%s/%s", ver, core && core[0] ? core : "unknown");
    for (char *c = buf; *c; c++)
        if (*c == ';' || *c == '=' || (unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
            *c = '_';
}

void ocs_cpu_bc_compat_here(char *buf, size_t len)
{
    char isa[128], blas[128];
    isa_here(isa, sizeof isa);
    openblas_here(blas, sizeof blas);
    snprintf(buf, len, "cpu-plan=%d;arch=%s;isa=%s;openblas=%s", PLAN_VERSION, arch_name(), isa, blas);
}

int ocs_cpu_bc_compatible(void *ctx, const char *compat, char *why, size_t why_len)
{
    (void)ctx;
    char isa[128], blas[128];
    isa_here(isa, sizeof isa);
    openblas_here(blas, sizeof blas);
    char plan_v[16];
    snprintf(plan_v, sizeof plan_v, "%d", PLAN_VERSION);
    const char *const keys[] = {"cpu-plan", "arch", "isa", "openblas"};
    const char *const here[] = {plan_v, arch_name(), isa, blas};
    int seen[4] = {0};
    const char *p = compat ? compat : "";
    while (*p) {
        size_t flen = strcspn(p, ";");
        const char *eq = memchr(p, '=', flen);
        if (!eq) {
            snprintf(why, why_len, "compatibility field '%.*s' has no '='", (int)(flen > 60 ? 60 : flen), p);
            return 0;
        }
        size_t klen = (size_t)(eq - p), vlen = flen - klen - 1;
        int k = -1;
        for (int j = 0; j < 4; j++)
            if (strlen(keys[j]) == klen && !memcmp(keys[j], p, klen))
                k = j;
        if (k < 0) {
            snprintf(why, why_len, "unknown requirement '%.*s'", (int)(klen > 60 ? 60 : klen), p);
            return 0;
        }
        if (seen[k]++) {
            snprintf(why, why_len, "requirement '%s' appears twice", keys[k]);
            return 0;
        }
        if (strlen(here[k]) != vlen || memcmp(here[k], eq + 1, vlen)) {
            snprintf(why, why_len, "the blob needs %s=%.*s; this machine has %s=%s", keys[k],
                     (int)(vlen > 120 ? 120 : vlen), eq + 1, keys[k], here[k]);
            return 0;
        }
        p += flen;
        if (*p == ';')
            p++;
    }
    for (int k = 0; k < 4; k++)
        if (!seen[k]) {
            snprintf(why, why_len, "the compatibility string does not state '%s'", keys[k]);
            return 0;
        }
    return 1;
}

/* ---- making a plan --------------------------------------------------------------------------------- */

/* Checks the region, orders its nodes and assigns slots (steps undecided: cpu = -1). */
static ocs_status plan_make(ocs_cpu *cpu, const ocs_bc_view *v, plan **out, ocs_err *err)
{
    *out = NULL;
    const size_t N = v->n_nodes, base = v->n_inputs + v->n_consts;
    plan *p = calloc(1, sizeof *p);
    if (!p)
        return nomem(err);
    p->cpu = cpu;
    p->view = v;
    char label[256];
    ocs_status st = OCS_OK;
    /* names: the region's values, each with the step that produces it */
    const char ***reads = calloc(N + 1, sizeof *reads);
    size_t *n_reads = calloc(N + 1, sizeof *n_reads);
    unsigned char *placed = calloc(N + 1, 1);
    const char **defined = calloc(base + 1, sizeof *defined);
    size_t n_def = 0, cap_def = base + 1;
    int32_t *def_slot = calloc(base + 1, sizeof *def_slot);
    size_t *last_use = NULL;
    int32_t *free_stack = NULL;
    size_t n_free_stack = 0;
    p->steps = calloc(N + 1, sizeof *p->steps);
    p->result = calloc(v->n_outputs + 1, sizeof *p->result);
    if (!reads || !n_reads || !placed || !defined || !def_slot || !p->steps || !p->result) {
        st = nomem(err);
        goto done;
    }
    if (N == 0 || v->n_outputs == 0) {
        st = ocs_fail(err, OCS_ERR_UNSUPPORTED, "an empty region has nothing to compile");
        goto done;
    }
    for (size_t i = 0; i < v->n_inputs; i++) {
        defined[n_def] = v->inputs[i];
        def_slot[n_def++] = (int32_t)i;
    }
    for (size_t c = 0; c < v->n_consts; c++) {
        defined[n_def] = v->consts[c].name;
        def_slot[n_def++] = (int32_t)(v->n_inputs + c);
    }
    for (size_t i = 0; i < N && st == OCS_OK; i++) {
        const ocs_node *n = v->nodes[i];
        const ocs_op_def *op = ocs_op_find(n->domain, n->op_type);
        if (v->since_versions[i] < 0 || !op)
            st = ocs_fail(err, OCS_ERR_UNSUPPORTED, "%s: the cpu compile step plans operators only (not "
                          "model-local functions or unknown operators)", ocs_node_label(n, label, sizeof label));
        else if (op->takes_values)
            st = ocs_fail(err, OCS_ERR_UNSUPPORTED, "%s: operators on sequences or optionals are not compiled",
                          ocs_node_label(n, label, sizeof label));
        else
            st = ocs_bc_node_reads(n, &reads[i], &n_reads[i], err);
    }
    /* a subgraph (beyond the node's own inputs) may read only what exists outside the plan */
    for (size_t i = 0; i < N && st == OCS_OK; i++) {
        const ocs_node *n = v->nodes[i];
        for (size_t k = n->n_inputs; k < n_reads[i] && st == OCS_OK; k++) {
            int own_input = 0;
            for (size_t j = 0; j < n->n_inputs; j++)
                own_input |= !strcmp(n->inputs[j], reads[i][k]);
            if (own_input)
                continue;
            for (size_t m = 0; m < N && st == OCS_OK; m++)
                for (size_t o = 0; o < v->nodes[m]->n_outputs; o++)
                    if (!strcmp(v->nodes[m]->outputs[o], reads[i][k])) {
                        st = ocs_fail(err, OCS_ERR_UNSUPPORTED,
                                      "%s: a subgraph reads '%s', which the region itself produces",
                                      ocs_node_label(n, label, sizeof label), reads[i][k]);
                        break;
                    }
        }
    }
    if (st != OCS_OK)
        goto done;
    /* topological order: the first ready node in view order, repeatedly */
    size_t next_slot = base;
    last_use = calloc(N + 1, sizeof *last_use);
    if (!last_use) {
        st = nomem(err);
        goto done;
    }
    for (size_t k = 0; k < N && st == OCS_OK; k++) {
        size_t pick = SIZE_MAX;
        for (size_t i = 0; i < N && pick == SIZE_MAX; i++) {
            if (placed[i])
                continue;
            int ready = 1;
            const ocs_node *n = v->nodes[i];
            for (size_t j = 0; j < n->n_inputs && ready; j++) {
                if (!n->inputs[j][0])
                    continue;
                int found = 0;
                for (size_t d = 0; d < n_def && !found; d++)
                    found = !strcmp(defined[d], n->inputs[j]);
                ready = found;
            }
            if (ready)
                pick = i;
        }
        if (pick == SIZE_MAX) {
            st = ocs_fail(err, OCS_ERR_UNSUPPORTED,
                          "the region's nodes cannot be ordered (a cycle, or an input that is never defined)");
            break;
        }
        placed[pick] = 1;
        step *s = &p->steps[k];
        const ocs_node *n = v->nodes[pick];
        s->node = pick;
        s->cpu = -1;
        s->ref = ocs_op_find(n->domain, n->op_type);
        s->impl = ocs_cpu_impl_find(n);
        s->schema = ocs_schema_find(n->domain, n->op_type, v->since_versions[pick]);
        s->n_in = n->n_inputs;
        s->n_out = n->n_outputs;
        s->in = calloc(s->n_in + 1, sizeof *s->in);
        s->out = calloc(s->n_out + 1, sizeof *s->out);
        s->fre = calloc(s->n_out + s->n_in + 1, sizeof *s->fre);
        if (!s->in || !s->out || !s->fre) {
            st = nomem(err);
            break;
        }
        for (size_t j = 0; j < n->n_inputs; j++) {
            s->in[j] = -1;
            for (size_t d = 0; d < n_def && n->inputs[j][0]; d++)
                if (!strcmp(defined[d], n->inputs[j]))
                    s->in[j] = def_slot[d];
        }
        for (size_t j = 0; j < n->n_outputs && st == OCS_OK; j++) {
            s->out[j] = -1;
            if (!n->outputs[j][0])
                continue;
            int32_t slot = -1;
            if (n_free_stack)
                slot = free_stack[--n_free_stack];
            else if (next_slot >= PLAN_MAX_SLOTS)
                st = ocs_fail(err, OCS_ERR_UNSUPPORTED, "the region needs more than %d values", PLAN_MAX_SLOTS);
            else
                slot = (int32_t)next_slot++;
            if (st != OCS_OK)
                break;
            s->out[j] = slot;
            if (n_def == cap_def) {
                cap_def *= 2;
                const char **gd = realloc(defined, cap_def * sizeof *gd);
                int32_t *gs = gd ? realloc(def_slot, cap_def * sizeof *gs) : NULL;
                if (gd)
                    defined = gd;
                if (gs)
                    def_slot = gs;
                if (!gd || !gs) {
                    st = nomem(err);
                    break;
                }
            }
            defined[n_def] = n->outputs[j];
            def_slot[n_def++] = slot;
        }
        if (st != OCS_OK)
            break;
        /* values whose last reader is this step (region outputs stay) */
        for (size_t d = base; d < n_def; d++) {
            if (def_slot[d] < 0)
                continue;
            const char *name = defined[d];
            int is_result = 0;
            for (size_t o = 0; o < v->n_outputs; o++)
                is_result |= !strcmp(v->outputs[o], name);
            if (is_result)
                continue;
            int read_later = 0;
            for (size_t i = 0; i < N && !read_later; i++)
                if (!placed[i])
                    for (size_t r = 0; r < n_reads[i] && !read_later; r++)
                        read_later = !strcmp(reads[i][r], name);
            if (read_later)
                continue;
            s->fre[s->n_free++] = def_slot[d];
            int32_t *fs = realloc(free_stack, (n_free_stack + 1) * sizeof *fs);
            if (!fs) {
                st = nomem(err);
                break;
            }
            free_stack = fs;
            free_stack[n_free_stack++] = def_slot[d];
            def_slot[d] = -1;   /* the name stays, its slot is gone */
        }
    }
    if (st != OCS_OK)
        goto done;
    p->n_steps = N;
    p->n_slots = next_slot;
    for (size_t o = 0; o < v->n_outputs && st == OCS_OK; o++) {
        p->result[o] = -1;
        for (size_t d = base; d < n_def; d++)
            if (!strcmp(defined[d], v->outputs[o]))
                p->result[o] = def_slot[d];
        if (p->result[o] < 0)
            st = ocs_fail(err, OCS_ERR_UNSUPPORTED, "region output '%s' is produced by none of its nodes",
                          v->outputs[o]);
    }
done:
    for (size_t i = 0; reads && i < N; i++)
        free(reads[i]);
    free(reads);
    free(n_reads);
    free(placed);
    free(defined);
    free(def_slot);
    free(last_use);
    free(free_stack);
    if (st != OCS_OK) {
        plan_free(p);
        return st;
    }
    *out = p;
    return OCS_OK;
}

/* ---- measuring ---------------------------------------------------------------------------------- */

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static int dbl_cmp(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

static void outputs_free(ocs_tensor **o, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        ocs_tensor_free(o[i]);
        o[i] = NULL;
    }
}

/*
 * Median time of the region over several runs (after one warm-up), and
 * whether its outputs equal ref (when ref is non-NULL) on every run.
 */
static ocs_status measure(plan *p, const ocs_tensor *const *sample, ocs_tensor *const *ref, double *median_us,
                          int *identical, ocs_err *err)
{
    const size_t no = p->view->n_outputs;
    ocs_tensor **out = calloc(no + 1, sizeof *out);
    double times[32];
    size_t n = 0;
    double total = 0.0;
    ocs_status st = out ? OCS_OK : nomem(err);
    *identical = 1;
    for (int run = 0; st == OCS_OK && run < 33; run++) {
        double t0 = now_us();
        st = plan_run(p, sample, out, NULL, err);
        double t = now_us() - t0;
        if (st != OCS_OK)
            break;
        for (size_t j = 0; ref && j < no; j++)
            *identical &= ocs_tensor_equal(out[j], ref[j]);
        outputs_free(out, no);
        if (run == 0)
            continue;   /* warm-up */
        times[n++] = t;
        total += t;
        if ((n >= 5 && total >= 20000.0) || n == sizeof times / sizeof times[0] || (n >= 3 && total >= 200000.0))
            break;
    }
    free(out);
    if (st != OCS_OK)
        return st;
    qsort(times, n, sizeof *times, dbl_cmp);
    *median_us = n ? times[n / 2] : 0.0;
    return OCS_OK;
}

static int append(char **s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static int append(char **s, const char *fmt, ...)
{
    size_t old = *s ? strlen(*s) : 0;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    char *g = realloc(*s, old + (size_t)n + 1);
    if (!g)
        return -1;
    va_start(ap, fmt);
    vsnprintf(g + old, (size_t)n + 1, fmt, ap);
    va_end(ap);
    *s = g;
    return 0;
}

/* Thread counts worth trying: 1, 2, 4, ... up to the cores, and the cores. */
static size_t thread_candidates(size_t *c, size_t max)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    size_t nc = cores > 0 ? (size_t)cores : 1, n = 0;
    if (nc > PLAN_MAX_THREADS)
        nc = PLAN_MAX_THREADS;
    for (size_t t = 1; t < nc && n + 1 < max; t *= 2)
        c[n++] = t;
    c[n++] = nc;
    return n;
}

/* Whether the operator implementations read the knobs other than threads (see tuning.h). */
#ifdef OCS_CPU_HAS_TUNING
#define IMPL_KNOBS 1
#else
#define IMPL_KNOBS 0
#endif

enum { KNOB_THREADS, KNOB_CHUNK, KNOB_STREAM };

static int64_t knob_get(const step *s, int k)
{
    return k == KNOB_THREADS ? (int64_t)s->knobs.threads
                             : k == KNOB_CHUNK ? s->knobs.pa_split_chunk : s->knobs.moe_stream_max_tokens;
}

static void knob_set(step *s, int k, int64_t v)
{
    if (k == KNOB_THREADS)
        s->knobs.threads = (size_t)v;
    else if (k == KNOB_CHUNK)
        s->knobs.pa_split_chunk = v;
    else
        s->knobs.moe_stream_max_tokens = v;
}

/*
 * Tries each candidate value of knob k on step s (the others as chosen so
 * far): keeps the fastest whose outputs equal ref bit for bit, if it beats
 * the current choice by 3%.  *best_us is the region's time with the current
 * choices.  Value 0 is the built-in choice.
 */
static ocs_status tune_knob(plan *p, step *s, int k, const char *name, const int64_t *cand, size_t n_cand,
                            const ocs_tensor *const *sample, ocs_tensor *const *ref, double *best_us, ocs_err *err)
{
    int64_t best = knob_get(s, k);
    if (append(&s->tune, "%s%s %lld:%.0f", s->tune ? " " : "", name, (long long)best, *best_us))
        return nomem(err);
    ocs_status st = OCS_OK;
    for (size_t c = 0; c < n_cand && st == OCS_OK; c++) {
        if (cand[c] == best)
            continue;
        step_unprepare(s);
        knob_set(s, k, cand[c]);
        st = step_prepare(p, s, err);
        double us = 0.0;
        int ident = 0;
        if (st == OCS_OK)
            st = measure(p, sample, ref, &us, &ident, err);
        if (st != OCS_OK)
            break;
        if (append(&s->tune, " %lld:%.0f%s", (long long)cand[c], us, ident ? "" : "!"))
            return nomem(err);
        if (ident && us < *best_us * 0.97) {
            *best_us = us;
            best = cand[c];
        }
    }
    if (st != OCS_OK)
        return st;
    step_unprepare(s);
    knob_set(s, k, best);
    st = step_prepare(p, s, err);
    if (st == OCS_OK && append(&s->tune, " chosen=%lld", (long long)best))
        st = nomem(err);
    return st;
}

/* Tunes the CPU steps of p on sample, one knob of one step at a time. */
static ocs_status tune(plan *p, const ocs_tensor *const *sample, ocs_err *err)
{
    const size_t no = p->view->n_outputs;
    ocs_tensor **ref = calloc(no + 1, sizeof *ref);
    if (!ref)
        return nomem(err);
    /* the first run decides CPU or reference per step, and gives the outputs to keep */
    ocs_status st = plan_run(p, sample, ref, NULL, err);
    if (st != OCS_OK) {
        free(ref);
        return st;
    }
    double best_us = 0.0;
    int same = 1;
    st = measure(p, sample, ref, &best_us, &same, err);
    if (st == OCS_OK && !same) {
        snprintf(p->note, sizeof p->note, "untuned: the region's outputs differ between two runs");
        outputs_free(ref, no);
        free(ref);
        return OCS_OK;
    }
    /* threads: 0 stands for the backend's own pool */
    size_t tc[16];
    size_t n_tc = thread_candidates(tc, 16);
    size_t base = ocs_pool_threads(p->cpu->pool);
    int64_t threads[17];
    size_t n_threads = 0;
    threads[n_threads++] = 0;
    for (size_t i = 0; i < n_tc; i++)
        if (tc[i] != base)
            threads[n_threads++] = (int64_t)tc[i];
    static const int64_t chunks[] = {0, 64, 128, 256, 512, 1024, 2048};
    static const int64_t streams[] = {0, 1, 2, 4, 8, 16, 32, 64};
    for (size_t k = 0; k < p->n_steps && st == OCS_OK; k++) {
        step *s = &p->steps[k];
        if (s->cpu != 1)
            continue;
        const ocs_node *n = p->view->nodes[s->node];
        st = tune_knob(p, s, KNOB_THREADS, "threads", threads, n_threads, sample, ref, &best_us, err);
        if (st == OCS_OK && IMPL_KNOBS && !strcmp(n->op_type, "PagedAttention"))
            st = tune_knob(p, s, KNOB_CHUNK, "chunk", chunks, sizeof chunks / sizeof chunks[0], sample, ref,
                           &best_us, err);
        if (st == OCS_OK && IMPL_KNOBS && !strcmp(n->op_type, "MoE"))
            st = tune_knob(p, s, KNOB_STREAM, "stream", streams, sizeof streams / sizeof streams[0], sample, ref,
                           &best_us, err);
    }
    if (st == OCS_OK)
        snprintf(p->note, sizeof p->note, "tuned on the sample inputs (threads 0 = the backend's %zu%s): median "
                 "region time %.0f us", base, IMPL_KNOBS ? "" : "; chunk and stream knobs not read by this build",
                 best_us);
    outputs_free(ref, no);
    free(ref);
    return st;
}

/* ---- the payload text ---------------------------------------------------------------------------- */

static int put_list(char **s, const char *key, const int32_t *v, size_t n)
{
    if (append(s, " %s=", key))
        return -1;
    for (size_t i = 0; i < n; i++)
        if (v[i] < 0 ? append(s, "%s-", i ? "," : "") : append(s, "%s%d", i ? "," : "", (int)v[i]))
            return -1;
    return 0;
}

static ocs_status plan_write(const plan *p, char **out, ocs_err *err)
{
    const ocs_bc_view *v = p->view;
    char *s = NULL;
    int rc = append(&s, "ocs-cpu-plan %d\nfingerprint %s\n", PLAN_VERSION, p->fingerprint) ||
             append(&s, "counts inputs=%zu outputs=%zu consts=%zu slots=%zu steps=%zu\nresult ", v->n_inputs,
                    v->n_outputs, v->n_consts, p->n_slots, p->n_steps);
    for (size_t j = 0; j < v->n_outputs && !rc; j++)
        rc = append(&s, "%s%d", j ? "," : "", (int)p->result[j]);
    rc = rc || append(&s, "\n");
    for (size_t k = 0; k < p->n_steps && !rc; k++) {
        const step *st = &p->steps[k];
        rc = append(&s, "step %zu %s threads=%zu chunk=%lld stream=%lld", st->node, st->cpu == 1 ? "cpu" : "ref",
                    st->knobs.threads, (long long)st->knobs.pa_split_chunk,
                    (long long)st->knobs.moe_stream_max_tokens) ||
             put_list(&s, "in", st->in, st->n_in) || put_list(&s, "out", st->out, st->n_out) ||
             put_list(&s, "free", st->fre, st->n_free) || append(&s, "\n");
    }
    for (size_t k = 0; k < p->n_steps && !rc; k++)
        if (p->steps[k].tune)
            rc = append(&s, "tuned %zu %s\n", p->steps[k].node, p->steps[k].tune);
    if (!rc && p->note[0])
        rc = append(&s, "note %s\n", p->note);
    rc = rc || append(&s, "end\n");
    if (rc) {
        free(s);
        return nomem(err);
    }
    *out = s;
    return OCS_OK;
}

/* A cursor over the payload's lines. */
typedef struct reader {
    const char *p, *end;
    char line[1024];
    char *big;              /* lines longer than `line` */
    size_t lineno;
} reader;

/* The next line (NUL-terminated, without '\n'), or NULL at the end. */
static const char *next_line(reader *r, ocs_err *err, ocs_status *st)
{
    *st = OCS_OK;
    if (r->p >= r->end)
        return NULL;
    const char *nl = memchr(r->p, '\n', (size_t)(r->end - r->p));
    if (!nl) {
        *st = ocs_fail(err, OCS_ERR_INVALID, "cpu plan: line %zu does not end with a newline", r->lineno + 1);
        return NULL;
    }
    size_t n = (size_t)(nl - r->p);
    if (n > PLAN_MAX_LINE) {
        *st = ocs_fail(err, OCS_ERR_INVALID, "cpu plan: line %zu is longer than %d bytes", r->lineno + 1,
                       PLAN_MAX_LINE);
        return NULL;
    }
    char *buf = r->line;
    if (n >= sizeof r->line) {
        free(r->big);
        r->big = malloc(n + 1);
        if (!r->big) {
            *st = nomem(err);
            return NULL;
        }
        buf = r->big;
    }
    memcpy(buf, r->p, n);
    buf[n] = '\0';
    r->p = nl + 1;
    r->lineno++;
    return buf;
}

/* Parses a decimal count in [0, max] at *s, advancing it. */
static int parse_count(const char **s, int64_t max, int64_t *out)
{
    const char *p = *s;
    if (*p < '0' || *p > '9')
        return -1;
    int64_t v = 0;
    while (*p >= '0' && *p <= '9') {
        v = v * 10 + (*p - '0');
        if (v > max)
            return -1;
        p++;
    }
    *s = p;
    *out = v;
    return 0;
}

/* "key=<count>" at *s (after optional spaces). */
static int parse_kv(const char **s, const char *key, int64_t max, int64_t *out)
{
    const char *p = *s;
    while (*p == ' ')
        p++;
    size_t kl = strlen(key);
    if (strncmp(p, key, kl) || p[kl] != '=')
        return -1;
    p += kl + 1;
    if (parse_count(&p, max, out))
        return -1;
    *s = p;
    return 0;
}

/* "key=a,b,-,c" into a malloc'd array of exactly `want` entries (want < 0: any count). */
static int parse_list(const char **s, const char *key, int64_t max, int allow_absent, int32_t **out, size_t *n,
                      int64_t want)
{
    const char *p = *s;
    while (*p == ' ')
        p++;
    size_t kl = strlen(key);
    if (strncmp(p, key, kl) || p[kl] != '=')
        return -1;
    p += kl + 1;
    size_t cap = 8, cnt = 0;
    int32_t *v = malloc(cap * sizeof *v);
    if (!v)
        return -2;
    while (*p && *p != ' ') {
        if (cnt == cap) {
            if (cap > (size_t)PLAN_MAX_SLOTS) {
                free(v);
                return -1;
            }
            cap *= 2;
            int32_t *g = realloc(v, cap * sizeof *g);
            if (!g) {
                free(v);
                return -2;
            }
            v = g;
        }
        if (*p == '-' && allow_absent) {
            v[cnt++] = -1;
            p++;
        } else {
            int64_t x;
            if (parse_count(&p, max, &x)) {
                free(v);
                return -1;
            }
            v[cnt++] = (int32_t)x;
        }
        if (*p == ',')
            p++;
        else if (*p && *p != ' ') {
            free(v);
            return -1;
        }
    }
    if (want >= 0 && (int64_t)cnt != want) {
        free(v);
        return -1;
    }
    *out = v;
    *n = cnt;
    *s = p;
    return 0;
}

static ocs_status bad(ocs_err *err, const reader *r, const char *what)
{
    return ocs_fail(err, OCS_ERR_INVALID, "cpu plan, line %zu: %s", r->lineno, what);
}

/* Parses a payload into a plan for view v (no kernels resolved yet). */
static ocs_status plan_parse(ocs_cpu *cpu, const ocs_bc_view *v, const void *payload, size_t len, plan **out,
                             ocs_err *err)
{
    *out = NULL;
    const unsigned char *b = payload;
    for (size_t i = 0; i < len; i++)
        if ((b[i] < 0x20 && b[i] != '\n') || b[i] > 0x7e)
            return ocs_fail(err, OCS_ERR_INVALID, "cpu plan: byte %zu (0x%02x) is not printable text", i, b[i]);
    plan *p = calloc(1, sizeof *p);
    if (!p)
        return nomem(err);
    p->cpu = cpu;
    p->view = v;
    reader r = {(const char *)payload, (const char *)payload + len, {0}, NULL, 0};
    ocs_status st = OCS_OK;
    const char *ln = next_line(&r, err, &st);
    int64_t ni, no, nc, ns, nk;
    if (!ln || strcmp(ln, "ocs-cpu-plan 1")) {
        if (st == OCS_OK)
            st = ln && !strncmp(ln, "ocs-cpu-plan ", 13)
                     ? ocs_fail(err, OCS_ERR_UNSUPPORTED, "cpu plan: format '%.40s' is not version 1", ln)
                     : ocs_fail(err, OCS_ERR_INVALID, "cpu plan: the first line is not 'ocs-cpu-plan 1'");
        goto fail;
    }
    if (!(ln = next_line(&r, err, &st)) || strncmp(ln, "fingerprint ", 12) || strlen(ln + 12) != 64) {
        st = st != OCS_OK ? st : bad(err, &r, "expected 'fingerprint <64 hex digits>'");
        goto fail;
    }
    memcpy(p->fingerprint, ln + 12, 65);
    if (!(ln = next_line(&r, err, &st)) || strncmp(ln, "counts", 6)) {
        st = st != OCS_OK ? st : bad(err, &r, "expected 'counts ...'");
        goto fail;
    }
    const char *c = ln + 6;
    if (parse_kv(&c, "inputs", PLAN_MAX_SLOTS, &ni) || parse_kv(&c, "outputs", PLAN_MAX_SLOTS, &no) ||
        parse_kv(&c, "consts", PLAN_MAX_SLOTS, &nc) || parse_kv(&c, "slots", PLAN_MAX_SLOTS, &ns) ||
        parse_kv(&c, "steps", PLAN_MAX_STEPS, &nk) || *c) {
        st = bad(err, &r, "malformed 'counts' line");
        goto fail;
    }
    if ((size_t)ni != v->n_inputs || (size_t)no != v->n_outputs || (size_t)nc != v->n_consts ||
        (size_t)nk != v->n_nodes || ns < ni + nc) {
        st = ocs_fail(err, OCS_ERR_INVALID,
                      "cpu plan: counts (inputs %lld, outputs %lld, consts %lld, steps %lld, slots %lld) do not fit "
                      "the region (%zu, %zu, %zu, %zu nodes)", (long long)ni, (long long)no, (long long)nc,
                      (long long)nk, (long long)ns, v->n_inputs, v->n_outputs, v->n_consts, v->n_nodes);
        goto fail;
    }
    p->n_slots = (size_t)ns;
    if (!(ln = next_line(&r, err, &st)) || strncmp(ln, "result ", 7)) {
        st = st != OCS_OK ? st : bad(err, &r, "expected 'result ...'");
        goto fail;
    }
    {
        /* "result a,b,c": parsed as the list "result=a,b,c" */
        size_t cnt = 0;
        char *copy = malloc(strlen(ln) + 1);
        if (!copy) {
            st = nomem(err);
            goto fail;
        }
        strcpy(copy, ln);
        copy[6] = '=';
        const char *q = copy;
        int rc = parse_list(&q, "result", ns - 1, 0, &p->result, &cnt, no);
        int trailing = rc == 0 && *q;
        free(copy);
        if (rc == -2) {
            st = nomem(err);
            goto fail;
        }
        if (rc || trailing) {
            st = bad(err, &r, "malformed 'result' line");
            goto fail;
        }
    }
    p->steps = calloc((size_t)nk + 1, sizeof *p->steps);
    if (!p->steps) {
        st = nomem(err);
        goto fail;
    }
    p->n_steps = (size_t)nk;
    for (size_t k = 0; k < p->n_steps; k++) {
        if (!(ln = next_line(&r, err, &st)) || strncmp(ln, "step ", 5)) {
            st = st != OCS_OK ? st : bad(err, &r, "expected 'step ...'");
            goto fail;
        }
        step *s = &p->steps[k];
        const char *q = ln + 5;
        int64_t node, thr, chunk, stream;
        if (parse_count(&q, (int64_t)v->n_nodes - 1, &node) || *q != ' ') {
            st = bad(err, &r, "the step's node index is missing or out of range");
            goto fail;
        }
        q++;
        if (!strncmp(q, "cpu", 3))
            s->cpu = 1;
        else if (!strncmp(q, "ref", 3))
            s->cpu = 0;
        else {
            st = bad(err, &r, "the kernel must be 'cpu' or 'ref'");
            goto fail;
        }
        q += 3;
        s->node = (size_t)node;
        const ocs_node *n = v->nodes[s->node];
        if (parse_kv(&q, "threads", PLAN_MAX_THREADS, &thr) || parse_kv(&q, "chunk", INT32_MAX, &chunk) ||
            parse_kv(&q, "stream", INT32_MAX, &stream)) {
            st = bad(err, &r, "malformed or out-of-range knobs (threads <= 256)");
            goto fail;
        }
        s->knobs.threads = (size_t)thr;
        s->knobs.pa_split_chunk = chunk;
        s->knobs.moe_stream_max_tokens = stream;
        int rc = parse_list(&q, "in", ns - 1, 1, &s->in, &s->n_in, (int64_t)n->n_inputs);
        if (!rc)
            rc = parse_list(&q, "out", ns - 1, 1, &s->out, &s->n_out, (int64_t)n->n_outputs);
        if (!rc)
            rc = parse_list(&q, "free", ns - 1, 0, &s->fre, &s->n_free, -1);
        if (rc == -2) {
            st = nomem(err);
            goto fail;
        }
        if (rc || *q) {
            st = bad(err, &r, "malformed in/out/free lists (or a count that does not match the node)");
            goto fail;
        }
    }
    for (;;) {
        ln = next_line(&r, err, &st);
        if (!ln) {
            st = st != OCS_OK ? st : ocs_fail(err, OCS_ERR_INVALID, "cpu plan: no 'end' line (truncated?)");
            goto fail;
        }
        if (!strcmp(ln, "end"))
            break;
        if (strncmp(ln, "tuned ", 6) && strncmp(ln, "note ", 5)) {
            st = bad(err, &r, "unknown record");
            goto fail;
        }
    }
    if (r.p != r.end) {
        st = ocs_fail(err, OCS_ERR_INVALID, "cpu plan: %zu bytes follow the 'end' line", (size_t)(r.end - r.p));
        goto fail;
    }
    free(r.big);
    *out = p;
    return OCS_OK;
fail:
    free(r.big);
    plan_free(p);
    return st;
}

/* Replays the data flow of a parsed plan against its region (see the top of the file). */
static ocs_status plan_verify(const plan *p, ocs_err *err)
{
    const ocs_bc_view *v = p->view;
    const size_t S = p->n_slots, base = v->n_inputs + v->n_consts;
    const char **name = calloc(S + 1, sizeof *name);
    unsigned char *live = calloc(S + 1, 1), *seen = calloc(v->n_nodes + 1, 1);
    ocs_status st = OCS_OK;
    if (!name || !live || !seen) {
        st = nomem(err);
        goto done;
    }
    for (size_t i = 0; i < v->n_inputs; i++) {
        name[i] = v->inputs[i];
        live[i] = 1;
    }
    for (size_t c = 0; c < v->n_consts; c++) {
        name[v->n_inputs + c] = v->consts[c].name;
        live[v->n_inputs + c] = 1;
    }
    for (size_t j = 0; j < v->n_outputs; j++)
        if (p->result[j] < (int32_t)base) {
            st = ocs_fail(err, OCS_ERR_INVALID, "cpu plan: result %zu is an input or constant slot", j);
            goto done;
        }
    for (size_t k = 0; k < p->n_steps; k++) {
        const step *s = &p->steps[k];
        if (seen[s->node]) {
            st = ocs_fail(err, OCS_ERR_INVALID, "cpu plan: node %zu is run twice", s->node);
            goto done;
        }
        seen[s->node] = 1;
        const ocs_node *n = v->nodes[s->node];
        for (size_t i = 0; i < s->n_in; i++) {
            int absent = !n->inputs[i][0];
            if (absent != (s->in[i] < 0) ||
                (!absent && (!live[s->in[i]] || !name[s->in[i]] || strcmp(name[s->in[i]], n->inputs[i])))) {
                st = ocs_fail(err, OCS_ERR_INVALID,
                              "cpu plan: step %zu input %zu does not hold '%s' when the node runs", k, i, n->inputs[i]);
                goto done;
            }
        }
        for (size_t o = 0; o < s->n_out; o++) {
            int unused = !n->outputs[o][0];
            if (unused != (s->out[o] < 0) || (!unused && (s->out[o] < (int32_t)base || live[s->out[o]]))) {
                st = ocs_fail(err, OCS_ERR_INVALID, "cpu plan: step %zu output %zu goes to a slot in use", k, o);
                goto done;
            }
            if (!unused) {
                live[s->out[o]] = 1;
                name[s->out[o]] = n->outputs[o];
            }
        }
        for (size_t f = 0; f < s->n_free; f++) {
            int32_t x = s->fre[f];
            int holds_result = 0;
            for (size_t j = 0; live[x] && j < v->n_outputs; j++)
                holds_result |= name[x] && !strcmp(name[x], v->outputs[j]);
            if (x < (int32_t)base || !live[x] || holds_result) {
                st = ocs_fail(err, OCS_ERR_INVALID, "cpu plan: step %zu frees slot %d, which it may not", k, (int)x);
                goto done;
            }
            live[x] = 0;
        }
    }
    for (size_t j = 0; j < v->n_outputs; j++) {
        int32_t x = p->result[j];
        if (!live[x] || !name[x] || strcmp(name[x], v->outputs[j])) {
            st = ocs_fail(err, OCS_ERR_INVALID, "cpu plan: result %zu does not hold '%s' at the end", j, v->outputs[j]);
            goto done;
        }
    }
done:
    free(name);
    free(live);
    free(seen);
    return st;
}

/* ---- the ocs_backend_ops members ---------------------------------------------------------------- */

ocs_status ocs_cpu_bc_compile(void *ctx, const ocs_bc_view *r, const ocs_tensor *const *sample, void **payload,
                              size_t *len, char **compat, ocs_err *err)
{
    *payload = NULL;
    *len = 0;
    *compat = NULL;
    plan *p = NULL;
    ocs_status st = plan_make(ctx, r, &p, err);
    if (st == OCS_OK)
        st = fingerprint(r, p->fingerprint, err);
    if (st == OCS_OK && sample) {
        for (size_t k = 0; k < p->n_steps; k++)
            p->steps[k].cpu = -1;
        ocs_err e;
        ocs_status ts = tune(p, sample, &e);
        if (ts == OCS_ERR_NOMEM)
            st = ocs_fail(err, ts, "%s", e.msg);
        else if (ts != OCS_OK) {
            /* a region that cannot run outside a session (control flow on the
             * reference, say) is planned with the built-in choices */
            for (size_t k = 0; k < p->n_steps; k++) {
                step_unprepare(&p->steps[k]);
                p->steps[k].cpu = p->steps[k].cpu == 1;
                p->steps[k].knobs.threads = 0;
                free(p->steps[k].tune);
                p->steps[k].tune = NULL;
            }
            snprintf(p->note, sizeof p->note, "untuned: the sample run failed: %.200s", e.msg);
        }
    } else if (st == OCS_OK) {
        /* no samples: decide from the declared input types */
        for (size_t k = 0; k < p->n_steps; k++) {
            step *s = &p->steps[k];
            const ocs_node *n = r->nodes[s->node];
            const ocs_cpu_impl *impl = ocs_cpu_impl_find(n);
            ocs_tensor_type types[64];
            size_t ni = n->n_inputs < 64 ? n->n_inputs : 64;
            for (size_t i = 0; i < ni; i++) {
                memset(&types[i], 0, sizeof types[i]);
                types[i].dtype = OCS_UNDEFINED;
                types[i].rank = -1;
                if (s->in[i] >= 0 && (size_t)s->in[i] < r->n_inputs && r->input_types)
                    types[i] = r->input_types[s->in[i]];
            }
            s->cpu = impl && impl->supports(ctx, n, r->since_versions[s->node], ni, types);
        }
        snprintf(p->note, sizeof p->note, "untuned: no sample inputs; built-in choices");
    }
    char *text = NULL;
    if (st == OCS_OK)
        st = plan_write(p, &text, err);
    if (st == OCS_OK) {
        char buf[512];
        ocs_cpu_bc_compat_here(buf, sizeof buf);
        *compat = malloc(strlen(buf) + 1);
        if (!*compat) {
            st = nomem(err);
        } else {
            strcpy(*compat, buf);
            *payload = text;
            *len = strlen(text);
            text = NULL;
        }
    }
    free(text);
    plan_free(p);
    return st;
}

ocs_status ocs_cpu_bc_load(void *ctx, const ocs_bc_view *r, const void *payload, size_t len, void **state,
                           ocs_err *err)
{
    *state = NULL;
    plan *p = NULL;
    ocs_status st = plan_parse(ctx, r, payload, len, &p, err);
    if (st != OCS_OK)
        return st;
    char here[65];
    st = fingerprint(r, here, err);
    if (st == OCS_OK && strcmp(here, p->fingerprint))
        st = ocs_fail(err, OCS_ERR_INVALID,
                      "cpu plan: compiled for another region (fingerprint %.16s..., this region %.16s...)",
                      p->fingerprint, here);
    if (st == OCS_OK)
        st = plan_verify(p, err);
    for (size_t k = 0; k < p->n_steps && st == OCS_OK; k++)
        st = step_prepare(p, &p->steps[k], err);
    if (st != OCS_OK) {
        plan_free(p);
        return st;
    }
    *state = p;
    return OCS_OK;
}

ocs_status ocs_cpu_bc_run(void *ctx, void *state, ocs_kernel_args *a)
{
    (void)ctx;
    plan *p = state;
    if (a->n_inputs != p->view->n_inputs || a->n_outputs != p->view->n_outputs)
        return ocs_fail(a->err, OCS_ERR_INVALID, "the compiled region takes %zu inputs and %zu outputs, given %zu and %zu",
                        p->view->n_inputs, p->view->n_outputs, a->n_inputs, a->n_outputs);
    return plan_run(p, a->inputs, a->outputs, a->scope, a->err);
}

void ocs_cpu_bc_unload(void *ctx, void *state)
{
    (void)ctx;
    plan_free(state);
}
