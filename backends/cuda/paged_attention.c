/*
 * backends/cuda/paged_attention.c - PagedAttention (ai.onnx.preview, 1) on
 * the CUDA backend: validation, the work plan, and the run.  Semantics and
 * errors are those of the reference kernel (reference/ops/paged_attention.c,
 * DESIGN.md section 4); the kernels are in paged_attention.cu.
 *
 * A run:
 *   1. validation on the host, before anything is copied or launched: the
 *      shared checks (include/ocs/paged_attention.h), then this backend's
 *      32-bit index ranges;
 *   2. the inputs go to the device; the cache inputs are copied straight
 *      into the device buffers that become the cache outputs, so the
 *      functional outputs need no extra copy: the host inputs are never
 *      modified, and the device copies are written in place;
 *   3. write, attend and merge kernels (kernels.h): every new key and value
 *      is stored first, then attention reads the written caches, exactly the
 *      reference's order (a token that writes a slot another sequence reads
 *      as past is seen by that sequence);
 *   4. the output, and each cache output that is wanted, come back; the
 *      stream is synchronised and checked before returning.
 * A call with no new tokens never touches the device: its outputs are the
 * inputs' copies and an empty output.
 *
 * In place: at the device level (ocs_cuda_pa_stage / ocs_cuda_pa_launch, what
 * an engine that keeps its cache on the device would call) the caches are
 * updated in place; the functional outputs come from giving the kernels a
 * copy, which is what step 2 does.
 */
#include "cuda.h"
#include "host.h"
#include "ocs/paged_attention.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const ocs_tensor *input(const ocs_kernel_args *a, size_t i)
{
    return i < a->n_inputs ? a->inputs[i] : NULL;
}

/* ---- validation: the shared checks (include/ocs/paged_attention.h), then this backend's ranges --- */

/* *c from a validated call, with the slot and position each new token writes. */
static ocs_status fill_call(ocs_kernel_args *a, const ocs_pa_dims *d, ocs_cuda_pa_call *c)
{
    c->H = d->H;
    c->Hkv = d->Hkv;
    c->G = d->G;
    c->D = d->D;
    c->W = d->W;
    c->rotary = d->rotary;
    c->interleaved = d->interleaved;
    c->scale = d->scale;
    c->softcap = d->softcap;
    c->T = d->T;
    c->B = d->B;
    c->NB = d->NB;
    c->BS = d->BS;
    c->MB = d->MB;
    c->half = d->half;
    c->max_pos = d->max_pos;
    c->qwidth = d->qwidth;
    c->packed = d->packed;
    c->dt = d->dt;
    c->es = d->es;
    c->cu = d->cu;
    c->past = d->past;
    c->table = d->table;
    if (c->T == 0)
        return OCS_OK;
    c->slot = malloc((size_t)c->T * sizeof *c->slot);
    c->pos = malloc((size_t)c->T * sizeof *c->pos);
    if (!c->slot || !c->pos)
        return ocs_fail(a->err, OCS_ERR_NOMEM, "PagedAttention: out of memory for %lld written slots",
                        (long long)c->T);
    for (int64_t b = 0; b < c->B; b++)
        for (int64_t t = c->cu[b]; t < c->cu[b + 1]; t++) {
            const int64_t p = c->past[b] + (t - c->cu[b]);
            c->slot[t] = c->table[b * c->MB + p / c->BS] * c->BS + p % c->BS;
            c->pos[t] = (int32_t)(p > INT32_MAX ? INT32_MAX : p);
        }
    return OCS_OK;
}

/* What the kernels index with 32-bit integers must fit; a valid call beyond that is unsupported. */
static ocs_status check_ranges(ocs_kernel_args *a, const ocs_cuda_pa_call *c)
{
    int64_t longest = 0, rows = 0;
    for (int64_t b = 0; b < c->B; b++) {
        const int64_t n = (int64_t)c->cu[b + 1] - c->cu[b];
        if (n > 0 && c->past[b] + n > longest)
            longest = c->past[b] + n;
        if (n * c->G > rows)
            rows = n * c->G;
    }
    if (longest > INT32_MAX || rows > INT32_MAX || c->H * c->D > INT32_MAX || c->BS > INT32_MAX ||
        c->MB > INT32_MAX || c->Hkv > 65535 || c->half > INT32_MAX)
        return ocs_fail(a->err, OCS_ERR_UNSUPPORTED,
                        "PagedAttention: the cuda backend indexes positions, heads and rows with 32 bits and at "
                        "most 65535 KV heads (longest sequence %lld, %lld query rows in one sequence, "
                        "num_heads*head_size %lld, kv_num_heads %lld)",
                        (long long)longest, (long long)rows, (long long)(c->H * c->D), (long long)c->Hkv);
    return OCS_OK;
}

ocs_status ocs_cuda_pa_validate(ocs_kernel_args *a, ocs_cuda_pa_call *c)
{
    memset(c, 0, sizeof *c);
    if (a->n_inputs > 10)
        return ocs_fail(a->err, OCS_ERR_INVALID, "%s takes at most %zu inputs, the node has %zu", a->node->op_type,
                        (size_t)10, a->n_inputs);
    if (!input(a, 0))
        return ocs_fail(a->err, OCS_ERR_INVALID, "%s requires input %zu, which is missing", a->node->op_type,
                        (size_t)0);
    ocs_pa_dims d;
    ocs_status st;
    if ((st = ocs_paged_attention_check(a->node, a->n_inputs, a->inputs, &d, NULL, a->err)) != OCS_OK)
        return st;
    if ((st = fill_call(a, &d, c)) != OCS_OK || (st = check_ranges(a, c)) != OCS_OK) {
        ocs_cuda_pa_call_free(c);
        return st;
    }
    if (c->scale == 0.0f)
        c->scale = (float)(1.0 / sqrt((double)c->D));
    return OCS_OK;
}

void ocs_cuda_pa_call_free(ocs_cuda_pa_call *c)
{
    free(c->slot);
    free(c->pos);
    c->slot = NULL;
    c->pos = NULL;
}

/* ---- kernel choice and plan ---------------------------------------------------------------------- */

static size_t attend_smem(int rows, int64_t D)
{
    return (size_t)rows * ((size_t)D + OCS_CUDA_PA_PART + 6) * sizeof(float);
}

int ocs_cuda_pa_choose(size_t es, int64_t D, size_t smem_limit, int allow_stream, ocs_cuda_pa_cfg *cfg)
{
    if (D < 1 || D > 65536 || (es != 2 && es != 4))
        return 0;
    const int vec = ((size_t)D * es) % 16 == 0 ? (int)(16 / es) : 1;
    const int64_t nch = D / vec;
    int gs = 1;
    while (gs < 32 && gs < nch)
        gs <<= 1;
    const int64_t need = (nch + gs - 1) / gs;
    int cpl = 1;
    while (cpl < need)
        cpl <<= 1;
    if (cpl > (vec == 1 ? 8 : 4))
        return 0;
    if (allow_stream && vec > 1 && cpl == 1 && gs >= 8) {
        /* the single-pass kernel: its shared memory is static, its rows fill 32 registers of query */
        cfg->stream = 1;
        cfg->vec = vec;
        cfg->cpl = 1;
        cfg->gs = gs;
        cfg->rows_cap = 32 / vec;
        cfg->smem = 0;
        return 1;
    }
    int rows = cpl >= 8 ? 1 : 8 / cpl;
    while (rows > 1 && attend_smem(rows, D) > 48 * 1024)
        rows /= 2;
    if (attend_smem(rows, D) > smem_limit)
        return 0;
    cfg->stream = 0;
    cfg->vec = vec;
    cfg->cpl = cpl;
    cfg->gs = gs;
    cfg->rows_cap = rows;
    cfg->smem = attend_smem(rows, D);
    return 1;
}

static int64_t key_lo(int64_t W, int64_t p)
{
    return W >= 1 && p - W + 1 > 0 ? p - W + 1 : 0;
}

ocs_status ocs_cuda_pa_plan_make(int64_t B, const int32_t *cu, const int32_t *past, int64_t G, int64_t W,
                                 int rows_cap, int part, ocs_cuda_pa_plan *p, ocs_err *err)
{
    memset(p, 0, sizeof *p);
    if (rows_cap < 1 || part < 1 || G < 1)
        return ocs_fail(err, OCS_ERR_INVALID, "PagedAttention plan: rows_cap %d, part %d, G %lld", rows_cap, part,
                        (long long)G);
    /* count */
    size_t n_items = 0, n_merges = 0, n_parts = 0;
    for (int64_t b = 0; b < B; b++) {
        const int64_t rows = ((int64_t)cu[b + 1] - cu[b]) * G;
        for (int64_t r0 = 0; r0 < rows; r0 += rows_cap) {
            const int64_t nr = rows - r0 < rows_cap ? rows - r0 : rows_cap;
            const int64_t klo = key_lo(W, past[b] + r0 / G), khi = past[b] + (r0 + nr - 1) / G + 1;
            const size_t np = (size_t)((khi - klo + part - 1) / part);
            n_items += np;
            if (np > 1) {
                n_merges++;
                n_parts += np;
            }
        }
    }
    if (n_items > INT32_MAX || n_merges > INT32_MAX || n_parts > INT32_MAX)
        return ocs_fail(err, OCS_ERR_UNSUPPORTED, "PagedAttention: %zu work items are more than one launch holds",
                        n_items);
    if (n_items == 0)
        return OCS_OK;
    p->items = malloc(n_items * sizeof *p->items);
    p->merges = n_merges ? malloc(n_merges * sizeof *p->merges) : NULL;
    if (!p->items || (n_merges && !p->merges)) {
        ocs_cuda_pa_plan_free(p);
        return ocs_fail(err, OCS_ERR_NOMEM, "PagedAttention: out of memory for %zu work items", n_items);
    }
    /* fill */
    size_t it = 0, mg = 0, pt = 0;
    for (int64_t b = 0; b < B; b++) {
        const int64_t rows = ((int64_t)cu[b + 1] - cu[b]) * G;
        for (int64_t r0 = 0; r0 < rows; r0 += rows_cap) {
            const int64_t nr = rows - r0 < rows_cap ? rows - r0 : rows_cap;
            const int64_t klo = key_lo(W, past[b] + r0 / G), khi = past[b] + (r0 + nr - 1) / G + 1;
            const int64_t np = (khi - klo + part - 1) / part;
            if (np > 1)
                p->merges[mg++] = (ocs_cuda_pa_mergeitem){(int32_t)b, (int32_t)r0, (int32_t)nr, (int32_t)pt,
                                                          (int32_t)np};
            for (int64_t q = 0; q < np; q++) {
                const int64_t k0 = klo + q * part, k1 = k0 + part < khi ? k0 + part : khi;
                p->items[it++] = (ocs_cuda_pa_item){(int32_t)b, (int32_t)r0, (int32_t)nr, (int32_t)k0, (int32_t)k1,
                                                    np > 1 ? (int32_t)(pt + (size_t)q) : -1};
            }
            if (np > 1)
                pt += (size_t)np;
        }
    }
    p->n_items = it;
    p->n_merges = mg;
    p->n_parts = pt;
    return OCS_OK;
}

void ocs_cuda_pa_plan_free(ocs_cuda_pa_plan *p)
{
    free(p->items);
    free(p->merges);
    memset(p, 0, sizeof *p);
}

/* ---- device level --------------------------------------------------------------------------------- */

static int onnx_code(ocs_dtype t)
{
    return (int)t;   /* the kernels take TensorProto codes, which ocs_dtype equals */
}

ocs_status ocs_cuda_pa_stage(ocs_cuda *c, const ocs_cuda_pa_call *call, const ocs_cuda_pa_dev *d,
                             ocs_cuda_pa_args *args, ocs_err *err)
{
    ocs_status st;
    ocs_cuda_pa_cfg cfg;
    memset(args, 0, sizeof *args);
    const char *tiled = getenv("OCS_CUDA_PA_TILED");
    const int allow_stream = !(tiled && *tiled && strcmp(tiled, "0") != 0);
    if (!ocs_cuda_pa_choose(call->es, call->D, c->smem_optin, allow_stream, &cfg) ||
        !ocs_cuda_pa_have_variant(onnx_code(call->dt), cfg.stream, cfg.vec, cfg.cpl, cfg.gs))
        return ocs_fail(err, OCS_ERR_UNSUPPORTED,
                        "PagedAttention: the cuda backend has no kernel for head_size %lld with %s elements",
                        (long long)call->D, ocs_dtype_name(call->dt));
    ocs_cuda_pa_plan plan;
    if ((st = ocs_cuda_pa_plan_make(call->B, call->cu, call->past, call->G, call->W, cfg.rows_cap,
                                    OCS_CUDA_PA_PART, &plan, err)) != OCS_OK)
        return st;

    /* scratch: rotated queries, slots, positions, items, merges, partials */
    const size_t T = (size_t)call->T, HD = (size_t)(call->H * call->D);
    const size_t part_rows = plan.n_parts * (size_t)call->Hkv * (size_t)cfg.rows_cap;
    ocs_cuda_carver cv = {NULL, 0, 0};
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            if (cv.overflow) {
                ocs_cuda_pa_plan_free(&plan);
                return ocs_fail(err, OCS_ERR_NOMEM, "PagedAttention: scratch size overflows");
            }
            if ((st = ocs_cuda_buf_reserve(&c->scratch, cv.used, err)) != OCS_OK) {
                ocs_cuda_pa_plan_free(&plan);
                return st;
            }
            cv = (ocs_cuda_carver){c->scratch.ptr, 0, 0};
        }
        args->qrot = ocs_cuda_carve(&cv, call->rotary ? T * HD : 0, call->es);
        args->slot = ocs_cuda_carve(&cv, T, sizeof(int64_t));
        args->pos = ocs_cuda_carve(&cv, T, sizeof(int32_t));
        args->items = ocs_cuda_carve(&cv, plan.n_items, sizeof(ocs_cuda_pa_item));
        args->merges = ocs_cuda_carve(&cv, plan.n_merges, sizeof(ocs_cuda_pa_mergeitem));
        args->pm = ocs_cuda_carve(&cv, part_rows, sizeof(float));
        args->pl = ocs_cuda_carve(&cv, part_rows, sizeof(float));
        args->pacc = ocs_cuda_carve(&cv, part_rows > SIZE_MAX / (size_t)call->D ? SIZE_MAX : part_rows * (size_t)call->D,
                                    sizeof(float));
    }
    cudaStream_t s = c->stream;
    if ((st = ocs_cuda_poison(c, args->pm, part_rows * sizeof(float), err)) != OCS_OK ||
        (st = ocs_cuda_poison(c, args->pl, part_rows * sizeof(float), err)) != OCS_OK ||
        (st = ocs_cuda_poison(c, args->pacc, part_rows * (size_t)call->D * sizeof(float), err)) != OCS_OK ||
        (call->rotary && (st = ocs_cuda_poison(c, args->qrot, T * HD * call->es, err)) != OCS_OK)) {
        ocs_cuda_pa_plan_free(&plan);
        return st;
    }
    if ((T && ((st = OCS_CU(cudaMemcpyAsync((void *)args->slot, call->slot, T * sizeof(int64_t),
                                            cudaMemcpyHostToDevice, s))) != OCS_OK ||
               (st = OCS_CU(cudaMemcpyAsync((void *)args->pos, call->pos, T * sizeof(int32_t), cudaMemcpyHostToDevice,
                                            s))) != OCS_OK)) ||
        (plan.n_items && (st = OCS_CU(cudaMemcpyAsync((void *)args->items, plan.items,
                                                      plan.n_items * sizeof(ocs_cuda_pa_item),
                                                      cudaMemcpyHostToDevice, s))) != OCS_OK) ||
        (plan.n_merges && (st = OCS_CU(cudaMemcpyAsync((void *)args->merges, plan.merges,
                                                       plan.n_merges * sizeof(ocs_cuda_pa_mergeitem),
                                                       cudaMemcpyHostToDevice, s))) != OCS_OK)) {
        ocs_cuda_pa_plan_free(&plan);
        return st;
    }

    args->dtype = onnx_code(call->dt);
    args->H = (int)call->H;
    args->Hkv = (int)call->Hkv;
    args->G = (int)call->G;
    args->D = (int)call->D;
    args->BS = (int)call->BS;
    args->MB = (int)call->MB;
    args->W = call->W >= 1 ? (int)(call->W > INT32_MAX ? INT32_MAX : call->W) : 0;
    args->scale = call->scale;
    args->softcap = call->softcap;
    args->rotary = (int)call->rotary;
    args->interleaved = (int)call->interleaved;
    args->half = (int)call->half;
    args->T = (int)call->T;
    args->stream = cfg.stream;
    args->vec = cfg.vec;
    args->cpl = cfg.cpl;
    args->gs = cfg.gs;
    args->rows_cap = cfg.rows_cap;
    args->smem = cfg.smem;
    const size_t es = call->es;
    args->qsrc = d->query;
    args->qsrc_stride = call->qwidth;
    if (call->rotary) {
        args->q = args->qrot;
        args->q_stride = (int64_t)HD;
    } else {
        args->q = d->query;
        args->q_stride = call->qwidth;
    }
    if (call->packed) {
        args->ksrc = (const char *)d->query + (size_t)(call->H * call->D) * es;
        args->vsrc = (const char *)d->query + (size_t)((call->H + call->Hkv) * call->D) * es;
        args->kv_stride = call->qwidth;
    } else {
        args->ksrc = d->key;
        args->vsrc = d->value;
        args->kv_stride = call->Hkv * call->D;
    }
    args->kcache = d->kcache;
    args->vcache = d->vcache;
    args->cu = d->cu;
    args->past = d->past;
    args->table = d->table;
    args->cos = d->cos;
    args->sin = d->sin;
    args->out = d->out;
    args->n_items = (int)plan.n_items;
    args->n_merges = (int)plan.n_merges;
    ocs_cuda_pa_plan_free(&plan);
    return OCS_OK;
}

ocs_status ocs_cuda_pa_launch(ocs_cuda *c, const ocs_cuda_pa_args *args, ocs_err *err)
{
    ocs_status st;
    if ((st = OCS_CU(ocs_cuda_pa_write(args, c->stream))) != OCS_OK ||
        (st = OCS_CU(ocs_cuda_pa_attend(args, c->stream))) != OCS_OK ||
        (st = OCS_CU(ocs_cuda_pa_merge(args, c->stream))) != OCS_OK)
        return st;
    return OCS_OK;
}

/* ---- the backend's entry points -------------------------------------------------------------------- */

int ocs_cuda_pa_supports(ocs_cuda *c, const ocs_node *n, int64_t since_version, size_t n_in,
                         const ocs_tensor_type *in)
{
    (void)c;
    (void)n;
    (void)n_in;
    (void)in;
    /* every node of version 1: bad inputs get the reference's errors from run */
    return since_version == 1;
}

ocs_status ocs_cuda_pa_prepare(ocs_cuda *c, const ocs_node *n, void **state, ocs_err *err)
{
    (void)c;
    (void)n;
    (void)err;
    *state = NULL;
    return OCS_OK;
}

void ocs_cuda_pa_release(void *state)
{
    (void)state;
}

/* Uploads n bytes of host data to a carved device pointer (nothing when n is 0). */
static ocs_status upload(ocs_cuda *c, void *dst, const void *src, size_t n, ocs_err *err)
{
    if (!n)
        return OCS_OK;
    return OCS_CU(cudaMemcpyAsync(dst, src, n, cudaMemcpyHostToDevice, c->stream));
}

static ocs_status download(ocs_cuda *c, void *dst, const void *src, size_t n, ocs_err *err)
{
    if (!n)
        return OCS_OK;
    return OCS_CU(cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToHost, c->stream));
}

ocs_status ocs_cuda_pa_run(ocs_cuda *c, void *state, ocs_kernel_args *a)
{
    (void)state;
    ocs_err *err = a->err;
    ocs_cuda_pa_call call;
    ocs_status st = ocs_cuda_pa_validate(a, &call);
    if (st != OCS_OK)
        return st;
    const ocs_tensor *t[10];
    for (size_t i = 0; i < 10; i++)
        t[i] = input(a, i);
    const int want_k = ocs_kernel_output_wanted(a, 1), want_v = ocs_kernel_output_wanted(a, 2);
    ocs_tensor *out = NULL, *kco = NULL, *vco = NULL;
    const int64_t odims[2] = {call.T, call.H * call.D};
    if ((st = ocs_tensor_new(call.dt, 2, odims, &out, err)) != OCS_OK ||
        (want_k && (st = ocs_tensor_new(call.dt, 4, t[3]->dims, &kco, err)) != OCS_OK) ||
        (want_v && (st = ocs_tensor_new(call.dt, 4, t[4]->dims, &vco, err)) != OCS_OK))
        goto done;

    if (call.T == 0) {
        /* nothing is written or read: the cache outputs are the inputs */
        if (kco)
            memcpy(kco->data, t[3]->data, t[3]->nbytes);
        if (vco)
            memcpy(vco->data, t[4]->data, t[4]->nbytes);
    } else {
        /* device copies of the inputs and of the output */
        ocs_cuda_pa_dev d;
        memset(&d, 0, sizeof d);
        ocs_cuda_carver cv = {NULL, 0, 0};
        for (int pass = 0; pass < 2; pass++) {
            if (pass == 1) {
                if (cv.overflow) {
                    st = ocs_fail(err, OCS_ERR_NOMEM, "PagedAttention: device buffer sizes overflow");
                    goto done;
                }
                if ((st = ocs_cuda_buf_reserve(&c->io, cv.used, err)) != OCS_OK)
                    goto done;
                cv = (ocs_cuda_carver){c->io.ptr, 0, 0};
            }
            d.query = ocs_cuda_carve(&cv, t[0]->nbytes, 1);
            d.key = ocs_cuda_carve(&cv, t[1] ? t[1]->nbytes : 0, 1);
            d.value = ocs_cuda_carve(&cv, t[2] ? t[2]->nbytes : 0, 1);
            d.kcache = ocs_cuda_carve(&cv, t[3]->nbytes, 1);
            d.vcache = ocs_cuda_carve(&cv, t[4]->nbytes, 1);
            d.cu = ocs_cuda_carve(&cv, t[5]->nbytes, 1);
            d.past = ocs_cuda_carve(&cv, t[6]->nbytes, 1);
            d.table = ocs_cuda_carve(&cv, t[7]->nbytes, 1);
            d.cos = ocs_cuda_carve(&cv, call.rotary ? t[8]->nbytes : 0, 1);
            d.sin = ocs_cuda_carve(&cv, call.rotary ? t[9]->nbytes : 0, 1);
            d.out = ocs_cuda_carve(&cv, out->nbytes, 1);
        }
        if (!call.packed) {
            if ((st = upload(c, (void *)d.key, t[1]->data, t[1]->nbytes, err)) != OCS_OK ||
                (st = upload(c, (void *)d.value, t[2]->data, t[2]->nbytes, err)) != OCS_OK)
                goto done;
        } else {
            d.key = d.value = NULL;
        }
        if (call.rotary) {
            if ((st = upload(c, (void *)d.cos, t[8]->data, t[8]->nbytes, err)) != OCS_OK ||
                (st = upload(c, (void *)d.sin, t[9]->data, t[9]->nbytes, err)) != OCS_OK)
                goto done;
        }
        ocs_cuda_pa_args args;
        if ((st = upload(c, (void *)d.query, t[0]->data, t[0]->nbytes, err)) != OCS_OK ||
            (st = upload(c, d.kcache, t[3]->data, t[3]->nbytes, err)) != OCS_OK ||
            (st = upload(c, d.vcache, t[4]->data, t[4]->nbytes, err)) != OCS_OK ||
            (st = upload(c, (void *)d.cu, t[5]->data, t[5]->nbytes, err)) != OCS_OK ||
            (st = upload(c, (void *)d.past, t[6]->data, t[6]->nbytes, err)) != OCS_OK ||
            (st = upload(c, (void *)d.table, t[7]->data, t[7]->nbytes, err)) != OCS_OK ||
            (st = ocs_cuda_poison(c, d.out, out->nbytes, err)) != OCS_OK ||
            (st = ocs_cuda_pa_stage(c, &call, &d, &args, err)) != OCS_OK ||
            (st = ocs_cuda_pa_launch(c, &args, err)) != OCS_OK ||
            (st = download(c, out->data, d.out, out->nbytes, err)) != OCS_OK ||
            (kco && (st = download(c, kco->data, d.kcache, kco->nbytes, err)) != OCS_OK) ||
            (vco && (st = download(c, vco->data, d.vcache, vco->nbytes, err)) != OCS_OK))
            goto done;
        if ((st = OCS_CU(cudaStreamSynchronize(c->stream))) != OCS_OK)
            goto done;
    }
    a->outputs[0] = out;
    out = NULL;
    if (kco) {
        a->outputs[1] = kco;
        kco = NULL;
    }
    if (vco) {
        a->outputs[2] = vco;
        vco = NULL;
    }
done:
    if (st != OCS_OK)
        (void)cudaStreamSynchronize(c->stream);   /* nothing of this call stays in flight */
    ocs_cuda_pa_call_free(&call);
    ocs_tensor_free(out);
    ocs_tensor_free(kco);
    ocs_tensor_free(vco);
    return st;
}
