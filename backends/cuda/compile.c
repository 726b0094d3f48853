/*
 * backends/cuda/compile.c - the CUDA backend's compile step for
 * BackendContext regions, and the loader and runner of what it produces.
 *
 * A region the step compiles is one PagedAttention node (version 1) whose
 * cache input has a static shape [NB, BS, Hkv, D] and an element type of
 * float, float16 or bfloat16.  The step writes CUDA C source for an
 * attention kernel with the head size, the KV heads, the query heads (so
 * the GQA group), the cache block size and the element type as
 * compile-time constants, compiles it with NVRTC for one SM architecture
 * (sm_XX: a cubin, no PTX, so nothing is compiled at load time), and
 * stores the cubin after a short text header.  NVRTC needs no device, so a
 * machine without one compiles for a named target (ocs_cuda_compiler_open).
 *
 * The kernel: one block of 128 threads per (new token, query head).  The
 * query row goes to shared memory; the visible keys [lo, p] (causal, and
 * the local window when there is one) are visited in chunks of 128, one
 * key per thread for the dot product (scale, then softcap), with a running
 * maximum and sum (online softmax) and the value rows accumulated per head
 * element, so a region of any context length fits.  The cache rows of the
 * new tokens are written first by the backend's own write kernel (with
 * RoPE when the node asks for it); the specialised kernel replaces the
 * backend's partitioned attend and merge kernels.
 *
 * The payload, version 1:
 *
 *   ocs-cuda-cubin 1\n
 *   fingerprint <SHA-256 of the region, 64 hex digits>\n
 *   target sm=<NN> cuda=<major>.<minor>\n
 *   kernel <name>\n
 *   spec dtype=<1|10|16> H=<n> Hkv=<n> D=<n> BS=<n>\n
 *   cubin <bytes>\n
 *   <the cubin: exactly that many bytes, to the end>
 *
 * Loading trusts none of it: every line is bounded and parsed exactly, the
 * numbers are range-checked, the kernel name must be the one the spec
 * gives, the cubin must be an ELF image naming that kernel and fill the
 * payload exactly, the fingerprint must match the region being loaded, the
 * spec must match the region's declared cache shape, and the target must
 * be the device's architecture.  Only then does the driver see the cubin
 * (cudaLibraryLoadData, the runtime's form of cuLibraryLoadData).
 *
 * Compatibility string: "cuda-cubin=1;sm=<NN>;cuda=<major>.<minor>": a
 * cubin runs on a device of the same major architecture and an equal or
 * higher minor one, with a driver at least as new as the NVRTC that made it.
 */
#include "compile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nvrtc.h>

#include "cuda.h"
#include "host.h"
#include "kernels.h"
#include "ocs/sha256.h"

#define PAYLOAD_VERSION 1
#define MAX_LINE 256
#define MAX_DIM 65536
#define NT 128

static ocs_status nomem(ocs_err *err)
{
    return ocs_fail(err, OCS_ERR_NOMEM, "out of memory");
}

/* ---- specialised source ---------------------------------------------------------------------- */

static const char *dtype_tag(int dtype)
{
    return dtype == 1 ? "f32" : dtype == 10 ? "f16" : dtype == 16 ? "bf16" : NULL;
}

static int spec_valid(const ocs_cuda_pa_spec *s)
{
    return dtype_tag(s->dtype) && s->H >= 1 && s->H <= MAX_DIM && s->Hkv >= 1 && s->Hkv <= MAX_DIM &&
           s->D >= 1 && s->D <= MAX_DIM && s->BS >= 1 && s->BS <= MAX_DIM && s->H % s->Hkv == 0;
}

static void kernel_name(const ocs_cuda_pa_spec *s, char *name, size_t len)
{
    snprintf(name, len, "ocs_pa_%s_h%d_kv%d_d%d_bs%d", dtype_tag(s->dtype), s->H, s->Hkv, s->D, s->BS);
}

ocs_status ocs_cuda_bc_source(const ocs_cuda_pa_spec *s, char **src, char *name, size_t name_len, ocs_err *err)
{
    *src = NULL;
    if (!spec_valid(s))
        return ocs_fail(err, OCS_ERR_INVALID,
                        "cuda compile: no kernel for dtype %d, %d query heads, %d KV heads, head size %d, block size %d",
                        s->dtype, s->H, s->Hkv, s->D, s->BS);
    if (name_len < OCS_CUDA_BC_MAX_NAME + 1)
        return ocs_fail(err, OCS_ERR_INVALID, "cuda compile: kernel name buffer too small");
    kernel_name(s, name, name_len);
    const char *elem, *load, *store;
    if (s->dtype == 1) {
        elem = "float";
        load = "return x;";
        store = "return f;";
    } else if (s->dtype == 10) {
        elem = "unsigned short";
        load = "float f; asm(\"cvt.f32.f16 %0, %1;\" : \"=f\"(f) : \"h\"(x)); return f;";
        store = "unsigned short h; asm(\"cvt.rn.f16.f32 %0, %1;\" : \"=h\"(h) : \"f\"(f)); return h;";
    } else {
        elem = "unsigned short";
        load = "return __uint_as_float(((unsigned)x) << 16);";
        store = "unsigned short h; asm(\"cvt.rn.bf16.f32 %0, %1;\" : \"=h\"(h) : \"f\"(f)); return h;";
    }
    const char *fmt =
        "/* PagedAttention attend, specialised: %s */\n"
        "typedef %s elem;\n"
        "#define HQ %d\n#define HKV %d\n#define G (HQ / HKV)\n#define D %d\n#define BS %d\n#define NT %d\n"
        "#define ACC ((D + NT - 1) / NT)\n"
        "static __device__ __forceinline__ float ld(elem x) { %s }\n"
        "static __device__ __forceinline__ elem st(float f) { %s }\n"
        "extern \"C\" __global__ void __launch_bounds__(NT)\n"
        "%s(const elem *q, long long q_stride, const elem *kc, const elem *vc, const int *cu,\n"
        "   const int *past, const int *table, int B, int MB, int W, float scale, float cap, elem *out)\n"
        "{\n"
        "    const float NEG = __int_as_float(0xff800000);\n"
        "    __shared__ float q_s[D];\n"
        "    __shared__ float w_s[NT];\n"
        "    __shared__ float red[2];\n"
        "    __shared__ int info[3];\n"
        "    const int t = blockIdx.x, h = blockIdx.y, tid = threadIdx.x, g = h / G;\n"
        "    if (tid == 0) {\n"
        "        int b = 0;\n"
        "        while (b < B - 1 && t >= cu[b + 1])\n"
        "            b++;\n"
        "        const int p = past[b] + (t - cu[b]);\n"
        "        info[0] = b;\n"
        "        info[1] = p;\n"
        "        info[2] = W > 0 && p - W + 1 > 0 ? p - W + 1 : 0;\n"
        "    }\n"
        "    for (int d = tid; d < D; d += NT)\n"
        "        q_s[d] = ld(q[(long long)t * q_stride + (long long)h * D + d]);\n"
        "    __syncthreads();\n"
        "    const int b = info[0], p = info[1], lo = info[2];\n"
        "    const int *trow = table + (long long)b * MB;\n"
        "    const long long row = (long long)HKV * D;\n"
        "    float m = NEG, l = 0.0f, acc[ACC];\n"
        "#pragma unroll\n"
        "    for (int a = 0; a < ACC; a++)\n"
        "        acc[a] = 0.0f;\n"
        "    for (int c0 = lo; c0 <= p; c0 += NT) {\n"
        "        const int j = c0 + tid;\n"
        "        float s = NEG;\n"
        "        if (j <= p) {\n"
        "            const elem *k = kc + ((long long)trow[j / BS] * BS + j %% BS) * row + (long long)g * D;\n"
        "            float dot = 0.0f;\n"
        "            for (int d = 0; d < D; d++)\n"
        "                dot = fmaf(q_s[d], ld(k[d]), dot);\n"
        "            s = dot * scale;\n"
        "            if (cap > 0.0f)\n"
        "                s = cap * tanhf(s / cap);\n"
        "        }\n"
        "        w_s[tid] = s;\n"
        "        __syncthreads();\n"
        "        if (tid == 0) {\n"
        "            float cm = NEG;\n"
        "            for (int x = 0; x < NT; x++)\n"
        "                cm = fmaxf(cm, w_s[x]);\n"
        "            red[0] = cm;\n"
        "        }\n"
        "        __syncthreads();\n"
        "        const float mn = fmaxf(m, red[0]);\n"
        "        const float alpha = m == NEG ? 0.0f : expf(m - mn);\n"
        "        w_s[tid] = j <= p ? expf(s - mn) : 0.0f;\n"
        "        __syncthreads();\n"
        "        if (tid == 0) {\n"
        "            float sum = 0.0f;\n"
        "            for (int x = 0; x < NT; x++)\n"
        "                sum += w_s[x];\n"
        "            red[1] = sum;\n"
        "        }\n"
        "        __syncthreads();\n"
        "        l = l * alpha + red[1];\n"
        "        const int n = p - c0 + 1 < NT ? p - c0 + 1 : NT;\n"
        "#pragma unroll\n"
        "        for (int a = 0; a < ACC; a++) {\n"
        "            const int d = tid + a * NT;\n"
        "            if (d < D) {\n"
        "                float v = acc[a] * alpha;\n"
        "                for (int x = 0; x < n; x++) {\n"
        "                    const int jj = c0 + x;\n"
        "                    const elem *vr = vc + ((long long)trow[jj / BS] * BS + jj %% BS) * row + (long long)g * D;\n"
        "                    v = fmaf(w_s[x], ld(vr[d]), v);\n"
        "                }\n"
        "                acc[a] = v;\n"
        "            }\n"
        "        }\n"
        "        m = mn;\n"
        "        __syncthreads();\n"
        "    }\n"
        "#pragma unroll\n"
        "    for (int a = 0; a < ACC; a++) {\n"
        "        const int d = tid + a * NT;\n"
        "        if (d < D)\n"
        "            out[(long long)t * HQ * D + (long long)h * D + d] = st(acc[a] / l);\n"
        "    }\n"
        "}\n";
    int n = snprintf(NULL, 0, fmt, name, elem, s->H, s->Hkv, s->D, s->BS, NT, load, store, name);
    if (n < 0)
        return ocs_fail(err, OCS_ERR_INVALID, "cuda compile: cannot format the kernel source");
    char *buf = malloc((size_t)n + 1);
    if (!buf)
        return nomem(err);
    snprintf(buf, (size_t)n + 1, fmt, name, elem, s->H, s->Hkv, s->D, s->BS, NT, load, store, name);
    *src = buf;
    return OCS_OK;
}

/* ---- NVRTC ------------------------------------------------------------------------------------- */

ocs_status ocs_cuda_bc_nvrtc(const char *src, const char *name, int sm, void **cubin, size_t *len, ocs_err *err)
{
    *cubin = NULL;
    *len = 0;
    if (sm < 50 || sm > 199)
        return ocs_fail(err, OCS_ERR_INVALID, "cuda compile: sm_%d is not an SM architecture NVRTC targets", sm);
    char arch[48];
    snprintf(arch, sizeof arch, "--gpu-architecture=sm_%d", sm);
    const char *opts[] = {arch, "-std=c++17"};
    nvrtcProgram prog = NULL;
    nvrtcResult r = nvrtcCreateProgram(&prog, src, name, 0, NULL, NULL);
    if (r != NVRTC_SUCCESS)
        return ocs_fail(err, OCS_ERR_RUNTIME, "nvrtcCreateProgram: %s", nvrtcGetErrorString(r));
    ocs_status st = OCS_OK;
    r = nvrtcCompileProgram(prog, 2, opts);
    if (r != NVRTC_SUCCESS) {
        size_t ll = 0;
        char log[1024] = "";
        if (nvrtcGetProgramLogSize(prog, &ll) == NVRTC_SUCCESS && ll > 0) {
            char *full = malloc(ll);
            if (full && nvrtcGetProgramLog(prog, full) == NVRTC_SUCCESS)
                snprintf(log, sizeof log, "%s", full);
            free(full);
        }
        st = ocs_fail(err, OCS_ERR_RUNTIME, "NVRTC could not compile %s for sm_%d: %s: %s", name, sm,
                      nvrtcGetErrorString(r), log);
        goto done;
    }
    size_t n = 0;
    if ((r = nvrtcGetCUBINSize(prog, &n)) != NVRTC_SUCCESS || n == 0) {
        st = ocs_fail(err, OCS_ERR_RUNTIME, "nvrtcGetCUBINSize: %s (%zu bytes)", nvrtcGetErrorString(r), n);
        goto done;
    }
    void *b = malloc(n);
    if (!b) {
        st = nomem(err);
        goto done;
    }
    if ((r = nvrtcGetCUBIN(prog, b)) != NVRTC_SUCCESS) {
        free(b);
        st = ocs_fail(err, OCS_ERR_RUNTIME, "nvrtcGetCUBIN: %s", nvrtcGetErrorString(r));
        goto done;
    }
    *cubin = b;
    *len = n;
done:
    nvrtcDestroyProgram(&prog);
    return st;
}

/* ---- compatibility strings ---------------------------------------------------------------------- */

ocs_status ocs_cuda_bc_compat(int sm, char *buf, size_t len, ocs_err *err)
{
    int major = 0, minor = 0;
    nvrtcResult r = nvrtcVersion(&major, &minor);
    if (r != NVRTC_SUCCESS)
        return ocs_fail(err, OCS_ERR_RUNTIME, "nvrtcVersion: %s", nvrtcGetErrorString(r));
    snprintf(buf, len, "cuda-cubin=%d;sm=%d;cuda=%d.%d", PAYLOAD_VERSION, sm, major, minor);
    return OCS_OK;
}

/* Exactly digits, value in [lo, hi]; advances *s.  0 on failure. */
static int parse_num(const char **s, long lo, long hi, long *out)
{
    const char *p = *s;
    long v = 0;
    if (*p < '0' || *p > '9')
        return 0;
    while (*p >= '0' && *p <= '9') {
        v = v * 10 + (*p - '0');
        if (v > hi)
            return 0;
        p++;
    }
    if (v < lo)
        return 0;
    *out = v;
    *s = p;
    return 1;
}

static int parse_key(const char **s, const char *key, long lo, long hi, long *out)
{
    size_t n = strlen(key);
    if (strncmp(*s, key, n))
        return 0;
    const char *p = *s + n;
    if (!parse_num(&p, lo, hi, out))
        return 0;
    *s = p;
    return 1;
}

int ocs_cuda_bc_parse_arch(const char *s)
{
    long v = 0;
    if (!s)
        return -1;
    if (!strncmp(s, "sm_", 3))
        s += 3;
    const char *p = s;
    if (!parse_num(&p, 0, 999, &v))
        return -1;
    if (*p == '.') {
        long minor = 0;
        p++;
        if (v > 19 || !parse_num(&p, 0, 9, &minor) || *p)
            return -1;
        v = v * 10 + minor;
    } else if (*p && strcmp(p, "a")) {
        return -1;
    }
    return v >= 50 && v <= 199 ? (int)v : -1;
}

/* "cuda-cubin=1;sm=NN;cuda=M.m" -> sm, major, minor; 0 when malformed. */
static int compat_parse(const char *c, long *sm, long *major, long *minor)
{
    long ver = 0;
    const char *p = c;
    if (!parse_key(&p, "cuda-cubin=", 1, 1000, &ver) || ver != PAYLOAD_VERSION || *p++ != ';' ||
        !parse_key(&p, "sm=", 50, 199, sm) || *p++ != ';' || !parse_key(&p, "cuda=", 1, 99, major) ||
        *p++ != '.' || !parse_num(&p, 0, 99, minor) || *p)
        return 0;
    return 1;
}

/* ---- payloads ---------------------------------------------------------------------------------------- */

ocs_status ocs_cuda_bc_payload_write(const ocs_cuda_payload *p, void **out, size_t *len, ocs_err *err)
{
    *out = NULL;
    *len = 0;
    char head[1024];
    int n = snprintf(head, sizeof head,
                     "ocs-cuda-cubin %d\nfingerprint %s\ntarget sm=%d cuda=%d.%d\nkernel %s\n"
                     "spec dtype=%d H=%d Hkv=%d D=%d BS=%d\ncubin %zu\n",
                     PAYLOAD_VERSION, p->fingerprint, p->sm, p->cuda_major, p->cuda_minor, p->kernel, p->spec.dtype,
                     p->spec.H, p->spec.Hkv, p->spec.D, p->spec.BS, p->cubin_len);
    if (n < 0 || (size_t)n >= sizeof head)
        return ocs_fail(err, OCS_ERR_INVALID, "cuda payload: header too long");
    if (p->cubin_len > SIZE_MAX - (size_t)n)
        return ocs_fail(err, OCS_ERR_INVALID, "cuda payload: cubin too large");
    unsigned char *b = malloc((size_t)n + p->cubin_len);
    if (!b)
        return nomem(err);
    memcpy(b, head, (size_t)n);
    memcpy(b + n, p->cubin, p->cubin_len);
    *out = b;
    *len = (size_t)n + p->cubin_len;
    return OCS_OK;
}

typedef struct reader {
    const unsigned char *b;
    size_t len, at;
    int line;
} reader;

/* The next line, NUL-terminated in buf (at most MAX_LINE - 1 characters, printable ASCII). */
static int next_line(reader *r, char *buf)
{
    size_t i = 0;
    r->line++;
    while (r->at < r->len) {
        unsigned char c = r->b[r->at++];
        if (c == '\n') {
            buf[i] = '\0';
            return 1;
        }
        if (c < 0x20 || c > 0x7e || i + 1 >= MAX_LINE)
            return 0;
        buf[i++] = (char)c;
    }
    return 0;
}

static ocs_status bad(ocs_err *err, const reader *r, const char *what)
{
    return ocs_fail(err, OCS_ERR_INVALID, "cuda payload, line %d: %s", r->line, what);
}

static int contains(const unsigned char *hay, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    if (k == 0 || k > n)
        return 0;
    for (size_t i = 0; i + k <= n; i++)
        if (hay[i] == (unsigned char)needle[0] && !memcmp(hay + i, needle, k))
            return 1;
    return 0;
}

ocs_status ocs_cuda_bc_payload_parse(const void *buf, size_t len, ocs_cuda_payload *p, ocs_err *err)
{
    memset(p, 0, sizeof *p);
    reader r = {buf, len, 0, 0};
    char ln[MAX_LINE];
    const char *s;
    long v = 0, a = 0, b = 0, c = 0, d = 0, e = 0;
    if (!buf)
        return ocs_fail(err, OCS_ERR_INVALID, "cuda payload: no bytes");
    if (!next_line(&r, ln) || strcmp(ln, "ocs-cuda-cubin 1"))
        return bad(err, &r, "expected 'ocs-cuda-cubin 1'");
    if (!next_line(&r, ln) || strncmp(ln, "fingerprint ", 12) || strlen(ln + 12) != 64)
        return bad(err, &r, "expected 'fingerprint <64 hex digits>'");
    for (int i = 0; i < 64; i++) {
        char x = ln[12 + i];
        if (!((x >= '0' && x <= '9') || (x >= 'a' && x <= 'f')))
            return bad(err, &r, "the fingerprint is not 64 lower-case hex digits");
    }
    memcpy(p->fingerprint, ln + 12, 65);
    s = ln;
    if (!next_line(&r, ln) || !parse_key(&s, "target sm=", 50, 199, &v) || strncmp(s, " cuda=", 6))
        return bad(err, &r, "expected 'target sm=<50..199> cuda=<major>.<minor>'");
    s += 6;
    if (!parse_num(&s, 1, 99, &a) || *s++ != '.' || !parse_num(&s, 0, 99, &b) || *s)
        return bad(err, &r, "expected 'target sm=<50..199> cuda=<major>.<minor>'");
    p->sm = (int)v;
    p->cuda_major = (int)a;
    p->cuda_minor = (int)b;
    if (!next_line(&r, ln) || strncmp(ln, "kernel ", 7))
        return bad(err, &r, "expected 'kernel <name>'");
    {
        size_t n = strlen(ln + 7);
        if (n == 0 || n > OCS_CUDA_BC_MAX_NAME)
            return bad(err, &r, "the kernel name is empty or too long");
        for (size_t i = 0; i < n; i++) {
            char x = ln[7 + i];
            if (!((x >= 'a' && x <= 'z') || (x >= 'A' && x <= 'Z') || (x >= '0' && x <= '9') || x == '_'))
                return bad(err, &r, "the kernel name has a character other than [A-Za-z0-9_]");
        }
        memcpy(p->kernel, ln + 7, n + 1);
    }
    s = ln;
    if (!next_line(&r, ln) || !parse_key(&s, "spec dtype=", 1, 16, &v) || !parse_key(&s, " H=", 1, MAX_DIM, &a) ||
        !parse_key(&s, " Hkv=", 1, MAX_DIM, &b) || !parse_key(&s, " D=", 1, MAX_DIM, &c) ||
        !parse_key(&s, " BS=", 1, MAX_DIM, &d) || *s)
        return bad(err, &r, "expected 'spec dtype=<1|10|16> H=<n> Hkv=<n> D=<n> BS=<n>' (each 1..65536)");
    p->spec = (ocs_cuda_pa_spec){(int)v, (int)a, (int)b, (int)c, (int)d};
    if (!spec_valid(&p->spec))
        return bad(err, &r, "the spec names no kernel (dtype not 1, 10 or 16, or H not a multiple of Hkv)");
    {
        char want[OCS_CUDA_BC_MAX_NAME + 1];
        kernel_name(&p->spec, want, sizeof want);
        if (strcmp(want, p->kernel))
            return bad(err, &r, "the kernel name does not match the spec");
    }
    s = ln;
    if (!next_line(&r, ln) || !parse_key(&s, "cubin ", 1, 1L << 30, &e) || *s)
        return bad(err, &r, "expected 'cubin <1..2^30 bytes>'");
    if ((size_t)e != len - r.at)
        return ocs_fail(err, OCS_ERR_INVALID, "cuda payload: the cubin is declared as %ld bytes, %zu follow", e,
                        len - r.at);
    p->cubin = r.b + r.at;
    p->cubin_len = (size_t)e;
    if (p->cubin_len < 64 || memcmp(p->cubin, "\x7f" "ELF", 4))
        return ocs_fail(err, OCS_ERR_INVALID, "cuda payload: the cubin is not an ELF image");
    if (!contains(p->cubin, p->cubin_len, p->kernel))
        return ocs_fail(err, OCS_ERR_INVALID, "cuda payload: the cubin has no kernel named %s", p->kernel);
    return OCS_OK;
}

/* ---- regions ------------------------------------------------------------------------------------ */

static void put_str(ocs_sha256 *h, const char *s)
{
    s = s ? s : "";
    ocs_sha256_update(h, s, strlen(s) + 1);
}

static void put_i64(ocs_sha256 *h, int64_t v)
{
    unsigned char b[8];
    for (int k = 0; k < 8; k++)
        b[k] = (unsigned char)((uint64_t)v >> (8 * k));
    ocs_sha256_update(h, b, 8);
}

/* SHA-256 over what the kernel depends on: the nodes (domain, type, version, wiring and the attributes
 * the semantics read), and the region's interface with its declared types. */
static ocs_status fingerprint(const ocs_bc_view *v, char hex[65], ocs_err *err)
{
    static const char *const ints[] = {"num_heads", "kv_num_heads", "local_window_size", "do_rotary",
                                       "rotary_interleaved"};
    static const char *const floats[] = {"scale", "softcap"};
    ocs_sha256 h;
    ocs_sha256_init(&h);
    put_str(&h, "ocs-cuda-region-1");
    put_i64(&h, (int64_t)v->n_nodes);
    for (size_t i = 0; i < v->n_nodes; i++) {
        const ocs_node *n = v->nodes[i];
        put_str(&h, n->domain);
        put_str(&h, n->op_type);
        put_i64(&h, v->since_versions[i]);
        put_i64(&h, (int64_t)n->n_inputs);
        for (size_t k = 0; k < n->n_inputs; k++)
            put_str(&h, n->inputs[k]);
        put_i64(&h, (int64_t)n->n_outputs);
        for (size_t k = 0; k < n->n_outputs; k++)
            put_str(&h, n->outputs[k]);
        for (size_t k = 0; k < sizeof ints / sizeof *ints; k++) {
            int64_t x = 0;
            ocs_status st = ocs_node_attr_int(n, ints[k], -12345, &x, err);
            if (st != OCS_OK)
                return st;
            put_i64(&h, x);
        }
        for (size_t k = 0; k < sizeof floats / sizeof *floats; k++) {
            float f = 0;
            ocs_status st = ocs_node_attr_float(n, floats[k], -12345.0f, &f, err);
            if (st != OCS_OK)
                return st;
            uint32_t bits;
            memcpy(&bits, &f, 4);
            put_i64(&h, bits);
        }
    }
    put_i64(&h, (int64_t)v->n_inputs);
    for (size_t i = 0; i < v->n_inputs; i++) {
        put_str(&h, v->inputs[i]);
        const ocs_tensor_type *t = v->input_types ? &v->input_types[i] : NULL;
        put_i64(&h, t ? (int64_t)t->dtype : -1);
        put_i64(&h, t ? t->rank : -1);
        for (int k = 0; t && k < t->rank && k < OCS_MAX_RANK; k++)
            put_i64(&h, t->dims[k]);
    }
    put_i64(&h, (int64_t)v->n_outputs);
    for (size_t i = 0; i < v->n_outputs; i++)
        put_str(&h, v->outputs[i]);
    put_i64(&h, (int64_t)v->n_consts);
    unsigned char dg[32];
    ocs_sha256_final(&h, dg);
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = digits[dg[i] >> 4];
        hex[2 * i + 1] = digits[dg[i] & 15];
    }
    hex[64] = '\0';
    return OCS_OK;
}

static long view_input(const ocs_bc_view *v, const char *name)
{
    if (!name || !*name)
        return -1;
    for (size_t i = 0; i < v->n_inputs; i++)
        if (!strcmp(v->inputs[i], name))
            return (long)i;
    return -1;
}

/* The spec of region v: UNSUPPORTED when it is not a PagedAttention node with a static cache shape. */
static ocs_status region_spec(const ocs_bc_view *v, ocs_cuda_pa_spec *s, ocs_err *err)
{
    if (v->n_nodes != 1 || strcmp(v->nodes[0]->op_type, "PagedAttention") || v->since_versions[0] != 1)
        return ocs_fail(err, OCS_ERR_UNSUPPORTED,
                        "the cuda compile step specialises regions of one PagedAttention node (version 1); this "
                        "region has %zu node(s), the first %s",
                        v->n_nodes, v->n_nodes ? v->nodes[0]->op_type : "-");
    const ocs_node *n = v->nodes[0];
    if (n->n_inputs < 8 || v->n_consts)
        return ocs_fail(err, OCS_ERR_UNSUPPORTED, "cuda compile: PagedAttention with %zu inputs (needs 8..10)%s",
                        n->n_inputs, v->n_consts ? " and region constants" : "");
    long kc = view_input(v, n->inputs[3]), vc = view_input(v, n->inputs[4]);
    if (kc < 0 || vc < 0 || !v->input_types)
        return ocs_fail(err, OCS_ERR_UNSUPPORTED, "cuda compile: the KV caches are not region inputs with declared types");
    const ocs_tensor_type *t = &v->input_types[kc], *u = &v->input_types[vc];
    if (t->rank != 4 || u->rank != 4)
        return ocs_fail(err, OCS_ERR_UNSUPPORTED, "cuda compile: the key cache '%s' has no declared rank-4 shape",
                        n->inputs[3]);
    for (int k = 0; k < 4; k++)
        if (t->dims[k] != u->dims[k] || (k && (t->dims[k] < 1 || t->dims[k] > MAX_DIM)))
            return ocs_fail(err, OCS_ERR_UNSUPPORTED,
                            "cuda compile: the cache shape [?, BS, Hkv, D] must be static and the same for key and "
                            "value (dimension %d: %lld and %lld)",
                            k, (long long)t->dims[k], (long long)u->dims[k]);
    if (t->dtype != u->dtype || !dtype_tag((int)t->dtype))
        return ocs_fail(err, OCS_ERR_UNSUPPORTED, "cuda compile: cache element type %d (needs float, float16 or bfloat16)",
                        (int)t->dtype);
    int64_t H = 0, Hkv = 0;
    ocs_status st;
    if ((st = ocs_node_attr_int(n, "num_heads", 0, &H, err)) != OCS_OK ||
        (st = ocs_node_attr_int(n, "kv_num_heads", 0, &Hkv, err)) != OCS_OK)
        return st;
    if (H < 1 || H > MAX_DIM || Hkv != t->dims[2] || H % Hkv)
        return ocs_fail(err, OCS_ERR_UNSUPPORTED,
                        "cuda compile: num_heads %lld, kv_num_heads %lld and the cache's %lld KV heads do not agree",
                        (long long)H, (long long)Hkv, (long long)t->dims[2]);
    *s = (ocs_cuda_pa_spec){(int)t->dtype, (int)H, (int)Hkv, (int)t->dims[3], (int)t->dims[1]};
    return OCS_OK;
}

static ocs_status compile_for(int sm, const ocs_bc_view *r, void **payload, size_t *len, char **compat, ocs_err *err)
{
    *payload = NULL;
    *len = 0;
    *compat = NULL;
    ocs_cuda_payload p;
    memset(&p, 0, sizeof p);
    ocs_status st = region_spec(r, &p.spec, err);
    if (st != OCS_OK)
        return st;
    if ((st = fingerprint(r, p.fingerprint, err)) != OCS_OK)
        return st;
    char cs[96];
    if ((st = ocs_cuda_bc_compat(sm, cs, sizeof cs, err)) != OCS_OK)
        return st;
    if (nvrtcVersion(&p.cuda_major, &p.cuda_minor) != NVRTC_SUCCESS)
        return ocs_fail(err, OCS_ERR_RUNTIME, "nvrtcVersion failed");
    p.sm = sm;
    char *src = NULL;
    void *cubin = NULL;
    size_t n = 0;
    if ((st = ocs_cuda_bc_source(&p.spec, &src, p.kernel, sizeof p.kernel, err)) != OCS_OK)
        return st;
    st = ocs_cuda_bc_nvrtc(src, p.kernel, sm, &cubin, &n, err);
    free(src);
    if (st != OCS_OK)
        return st;
    p.cubin = cubin;
    p.cubin_len = n;
    st = ocs_cuda_bc_payload_write(&p, payload, len, err);
    free(cubin);
    if (st != OCS_OK)
        return st;
    size_t cl = strlen(cs) + 1;
    if (!(*compat = malloc(cl))) {
        free(*payload);
        *payload = NULL;
        *len = 0;
        return nomem(err);
    }
    memcpy(*compat, cs, cl);
    return OCS_OK;
}

/* The payload's structure, its fingerprint against r, and its spec against r's shapes. */
static ocs_status check_payload(const ocs_bc_view *r, const void *payload, size_t len, ocs_cuda_payload *p,
                                ocs_err *err)
{
    ocs_status st = ocs_cuda_bc_payload_parse(payload, len, p, err);
    if (st != OCS_OK)
        return st;
    char here[65];
    if ((st = fingerprint(r, here, err)) != OCS_OK)
        return st;
    if (strcmp(here, p->fingerprint))
        return ocs_fail(err, OCS_ERR_INVALID,
                        "cuda payload: compiled for another region (fingerprint %.16s..., this region %.16s...)",
                        p->fingerprint, here);
    ocs_cuda_pa_spec s;
    if ((st = region_spec(r, &s, err)) != OCS_OK)
        return ocs_fail(err, OCS_ERR_INVALID, "cuda payload: the region is not one this backend compiles");
    if (memcmp(&s, &p->spec, sizeof s))
        return ocs_fail(err, OCS_ERR_INVALID, "cuda payload: specialised for another shape than the region's");
    return OCS_OK;
}

/* ---- the device backend's members ------------------------------------------------------------------- */

typedef struct loaded {
    ocs_cuda_payload p;
    cudaLibrary_t lib;
    cudaKernel_t kernel;
    const ocs_node *node;
    long in_map[10];              /* node input -> region input, -1 absent */
    long out_map[3];              /* node output -> region output, -1 not exported */
} loaded;

ocs_status ocs_cuda_bc_compile(void *ctx, const ocs_bc_view *r, const ocs_tensor *const *sample, void **payload,
                               size_t *len, char **compat, ocs_err *err)
{
    (void)sample;   /* the specialisation is on static shapes; nothing is measured */
    const ocs_cuda *c = ctx;
    return compile_for(c->cc_major * 10 + c->cc_minor, r, payload, len, compat, err);
}

static int compatible_with(int sm_here, int drv, const char *compat, char *why, size_t why_len)
{
    long sm = 0, major = 0, minor = 0;
    if (!compat_parse(compat, &sm, &major, &minor)) {
        snprintf(why, why_len, "not a cuda-cubin compatibility string: '%.100s'", compat);
        return 0;
    }
    if (sm / 10 != sm_here / 10 || sm % 10 > sm_here % 10) {
        snprintf(why, why_len, "cubin for sm_%ld; this device is sm_%d", sm, sm_here);
        return 0;
    }
    if (drv < major * 1000 + minor * 10) {
        snprintf(why, why_len, "cubin from CUDA %ld.%ld; the driver supports CUDA %d.%d", major, minor, drv / 1000,
                 drv % 1000 / 10);
        return 0;
    }
    return 1;
}

int ocs_cuda_bc_compatible(void *ctx, const char *compat, char *why, size_t why_len)
{
    const ocs_cuda *c = ctx;
    int drv = 0;
    if (cudaDriverGetVersion(&drv) != cudaSuccess) {
        (void)cudaGetLastError();
        snprintf(why, why_len, "cudaDriverGetVersion failed");
        return 0;
    }
    return compatible_with(c->cc_major * 10 + c->cc_minor, drv, compat, why, why_len);
}

ocs_status ocs_cuda_bc_load(void *ctx, const ocs_bc_view *r, const void *payload, size_t len, void **state,
                            ocs_err *err)
{
    ocs_cuda *c = ctx;
    *state = NULL;
    loaded *l = calloc(1, sizeof *l);
    if (!l)
        return nomem(err);
    ocs_status st = check_payload(r, payload, len, &l->p, err);
    if (st != OCS_OK) {
        free(l);
        return st;
    }
    const int here = c->cc_major * 10 + c->cc_minor;
    if (l->p.sm / 10 != here / 10 || l->p.sm % 10 > here % 10) {
        const int sm = l->p.sm;
        free(l);
        return ocs_fail(err, OCS_ERR_UNSUPPORTED, "cuda payload: cubin for sm_%d, this device is sm_%d", sm, here);
    }
    const ocs_node *n = r->nodes[0];
    l->node = n;
    for (size_t i = 0; i < 10; i++)
        l->in_map[i] = i < n->n_inputs ? view_input(r, n->inputs[i]) : -1;
    for (size_t j = 0; j < 3; j++) {
        l->out_map[j] = -1;
        for (size_t k = 0; j < n->n_outputs && *n->outputs[j] && k < r->n_outputs; k++)
            if (!strcmp(r->outputs[k], n->outputs[j]))
                l->out_map[j] = (long)k;
    }
    pthread_mutex_lock(&c->lock);
    cudaError_t e = cudaSetDevice(c->device);
    if (e == cudaSuccess)
        e = cudaLibraryLoadData(&l->lib, l->p.cubin, NULL, NULL, 0, NULL, NULL, 0);
    if (e == cudaSuccess) {
        e = cudaLibraryGetKernel(&l->kernel, l->lib, l->p.kernel);
        if (e != cudaSuccess)
            (void)cudaLibraryUnload(l->lib);
    }
    pthread_mutex_unlock(&c->lock);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        free(l);
        return ocs_fail(err, OCS_ERR_UNSUPPORTED, "cuda payload: the driver refused the cubin (%s: %s)",
                        cudaGetErrorName(e), cudaGetErrorString(e));
    }
    *state = l;
    return OCS_OK;
}

void ocs_cuda_bc_unload(void *ctx, void *state)
{
    (void)ctx;
    loaded *l = state;
    if (!l)
        return;
    (void)cudaLibraryUnload(l->lib);
    free(l);
}

static ocs_status run_locked(ocs_cuda *c, loaded *l, ocs_kernel_args *ra, ocs_kernel_args *a,
                             ocs_tensor **outs)
{
    ocs_err *err = a->err;
    ocs_cuda_pa_call call;
    memset(&call, 0, sizeof call);
    ocs_status st = ocs_cuda_pa_validate(a, &call);
    if (st != OCS_OK)
        return st;
    const ocs_tensor *t[10];
    for (size_t i = 0; i < 10; i++)
        t[i] = i < a->n_inputs ? a->inputs[i] : NULL;
    const ocs_cuda_pa_spec *s = &l->p.spec;
    if ((int)call.dt != s->dtype || call.H != s->H || call.Hkv != s->Hkv || call.D != s->D || call.BS != s->BS) {
        st = ocs_fail(err, OCS_ERR_INVALID,
                      "cuda blob: kernel %s is specialised for another shape (dtype %d, H %lld, Hkv %lld, D %lld, BS %lld)",
                      l->p.kernel, (int)call.dt, (long long)call.H, (long long)call.Hkv, (long long)call.D,
                      (long long)call.BS);
        goto done;
    }
    const int64_t odims[2] = {call.T, call.H * call.D};
    if ((st = ocs_tensor_new(call.dt, 2, odims, &outs[0], err)) != OCS_OK ||
        (st = ocs_tensor_new(call.dt, 4, t[3]->dims, &outs[1], err)) != OCS_OK ||
        (st = ocs_tensor_new(call.dt, 4, t[4]->dims, &outs[2], err)) != OCS_OK)
        goto done;
    if (call.T == 0) {
        memcpy(outs[1]->data, t[3]->data, t[3]->nbytes);
        memcpy(outs[2]->data, t[4]->data, t[4]->nbytes);
        goto done;
    }
    ocs_cuda_pa_dev d;
    memset(&d, 0, sizeof d);
    ocs_cuda_carver cv = {NULL, 0, 0};
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            if (cv.overflow) {
                st = ocs_fail(err, OCS_ERR_NOMEM, "cuda blob: device buffer sizes overflow");
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
        d.out = ocs_cuda_carve(&cv, outs[0]->nbytes, 1);
    }
    const struct {
        const void *dst, *src;
        size_t n;
    } up[] = {
        {d.query, t[0]->data, t[0]->nbytes},
        {call.packed ? NULL : d.key, t[1] ? t[1]->data : NULL, !call.packed && t[1] ? t[1]->nbytes : 0},
        {call.packed ? NULL : d.value, t[2] ? t[2]->data : NULL, !call.packed && t[2] ? t[2]->nbytes : 0},
        {d.kcache, t[3]->data, t[3]->nbytes},
        {d.vcache, t[4]->data, t[4]->nbytes},
        {d.cu, t[5]->data, t[5]->nbytes},
        {d.past, t[6]->data, t[6]->nbytes},
        {d.table, t[7]->data, t[7]->nbytes},
        {d.cos, call.rotary ? t[8]->data : NULL, call.rotary ? t[8]->nbytes : 0},
        {d.sin, call.rotary ? t[9]->data : NULL, call.rotary ? t[9]->nbytes : 0},
    };
    for (size_t i = 0; i < sizeof up / sizeof *up; i++)
        if (up[i].n &&
            (st = OCS_CU(cudaMemcpyAsync((void *)up[i].dst, up[i].src, up[i].n, cudaMemcpyHostToDevice, c->stream))) !=
                OCS_OK)
            goto done;
    if (call.packed)
        d.key = d.value = NULL;
    ocs_cuda_pa_args args;
    if ((st = ocs_cuda_poison(c, d.out, outs[0]->nbytes, err)) != OCS_OK ||
        (st = ocs_cuda_pa_stage(c, &call, &d, &args, err)) != OCS_OK ||
        (st = OCS_CU(ocs_cuda_pa_write(&args, c->stream))) != OCS_OK)
        goto done;
    {
        long long q_stride = args.q_stride;
        int B = (int)call.B, MB = args.MB, W = args.W;
        float scale = args.scale, cap = args.softcap;
        const void *q = args.q, *kc = args.kcache, *vc = args.vcache, *cu = args.cu, *past = args.past,
                   *table = args.table;
        void *out = args.out;
        void *kargs[] = {&q, &q_stride, &kc, &vc, &cu, &past, &table, &B, &MB, &W, &scale, &cap, &out};
        dim3 grid = {(unsigned)call.T, (unsigned)call.H, 1}, block = {NT, 1, 1};
        if ((st = OCS_CU(cudaLaunchKernel((const void *)l->kernel, grid, block, kargs, 0, c->stream))) != OCS_OK)
            goto done;
    }
    if ((st = OCS_CU(cudaMemcpyAsync(outs[0]->data, d.out, outs[0]->nbytes, cudaMemcpyDeviceToHost, c->stream))) !=
            OCS_OK ||
        (st = OCS_CU(cudaMemcpyAsync(outs[1]->data, d.kcache, outs[1]->nbytes, cudaMemcpyDeviceToHost, c->stream))) !=
            OCS_OK ||
        (st = OCS_CU(cudaMemcpyAsync(outs[2]->data, d.vcache, outs[2]->nbytes, cudaMemcpyDeviceToHost, c->stream))) !=
            OCS_OK)
        goto done;
    st = OCS_CU(cudaStreamSynchronize(c->stream));
done:
    (void)ra;
    if (st != OCS_OK)
        (void)cudaStreamSynchronize(c->stream);
    ocs_cuda_pa_call_free(&call);
    return st;
}

ocs_status ocs_cuda_bc_run(void *ctx, void *state, ocs_kernel_args *ra)
{
    ocs_cuda *c = ctx;
    loaded *l = state;
    const ocs_tensor *in[10] = {0};
    for (size_t i = 0; i < 10; i++)
        if (l->in_map[i] >= 0 && (size_t)l->in_map[i] < ra->n_inputs)
            in[i] = ra->inputs[l->in_map[i]];
    ocs_tensor *outs[3] = {NULL, NULL, NULL};
    ocs_kernel_args a = *ra;
    a.node = l->node;
    a.since_version = 1;
    a.n_inputs = l->node->n_inputs < 10 ? l->node->n_inputs : 10;
    a.inputs = in;
    a.values = NULL;
    a.n_outputs = 3;
    a.outputs = outs;
    a.out_values = NULL;
    pthread_mutex_lock(&c->lock);
    ocs_status st = run_locked(c, l, ra, &a, outs);
    pthread_mutex_unlock(&c->lock);
    for (size_t j = 0; j < 3; j++) {
        if (st == OCS_OK && l->out_map[j] >= 0 && (size_t)l->out_map[j] < ra->n_outputs && outs[j]) {
            ra->outputs[l->out_map[j]] = outs[j];
            outs[j] = NULL;
        }
        ocs_tensor_free(outs[j]);
    }
    return st;
}

/* ---- the compile-only backend ------------------------------------------------------------------------- */

typedef struct compiler {
    int sm;
    char desc[160];
} compiler;

static const char *compiler_describe(void *ctx)
{
    return ((compiler *)ctx)->desc;
}

static int compiler_supports(void *ctx, const ocs_node *n, int64_t since, size_t n_in, const ocs_tensor_type *in)
{
    (void)ctx;
    (void)n;
    (void)since;
    (void)n_in;
    (void)in;
    return 0;
}

static ocs_status compiler_run(void *ctx, void *state, ocs_kernel_args *a)
{
    (void)ctx;
    (void)state;
    return ocs_fail(a->err, OCS_ERR_UNSUPPORTED, "cuda (compile only): no CUDA device answers here");
}

static void compiler_destroy(void *ctx)
{
    free(ctx);
}

static ocs_status compiler_bc_compile(void *ctx, const ocs_bc_view *r, const ocs_tensor *const *sample,
                                      void **payload, size_t *len, char **compat, ocs_err *err)
{
    (void)sample;
    return compile_for(((compiler *)ctx)->sm, r, payload, len, compat, err);
}

static int compiler_bc_compatible(void *ctx, const char *compat, char *why, size_t why_len)
{
    (void)ctx;
    long sm = 0, major = 0, minor = 0;
    if (!compat_parse(compat, &sm, &major, &minor))
        snprintf(why, why_len, "not a cuda-cubin compatibility string: '%.100s'", compat);
    else
        snprintf(why, why_len, "cubin for sm_%ld (CUDA %ld.%ld), but no CUDA device answers here", sm, major, minor);
    return 0;
}

static ocs_status compiler_bc_load(void *ctx, const ocs_bc_view *r, const void *payload, size_t len, void **state,
                                   ocs_err *err)
{
    (void)ctx;
    *state = NULL;
    ocs_cuda_payload p;
    ocs_status st = check_payload(r, payload, len, &p, err);
    if (st != OCS_OK)
        return st;
    return ocs_fail(err, OCS_ERR_UNSUPPORTED, "cuda payload for sm_%d is well formed, but no CUDA device answers here",
                    p.sm);
}

static ocs_status compiler_bc_run(void *ctx, void *state, ocs_kernel_args *a)
{
    return compiler_run(ctx, state, a);
}

static void compiler_bc_unload(void *ctx, void *state)
{
    (void)ctx;
    (void)state;
}

static const ocs_backend_ops compiler_ops = {
    .api_version = OCS_BACKEND_API_VERSION,
    .name = "cuda",
    .describe = compiler_describe,
    .supports = compiler_supports,
    .run = compiler_run,
    .destroy = compiler_destroy,
    .bc_compile = compiler_bc_compile,
    .bc_compatible = compiler_bc_compatible,
    .bc_load = compiler_bc_load,
    .bc_run = compiler_bc_run,
    .bc_unload = compiler_bc_unload,
};

ocs_status ocs_cuda_compiler_open(const char *arch, ocs_backend **out, ocs_err *err)
{
    *out = NULL;
    int sm = ocs_cuda_bc_parse_arch(arch);
    if (sm < 0)
        return ocs_fail(err, OCS_ERR_INVALID, "'%s' is not an SM architecture (e.g. sm_90, 90 or 9.0)",
                        arch ? arch : "(null)");
    compiler *c = calloc(1, sizeof *c);
    ocs_backend *b = calloc(1, sizeof *b);
    if (!c || !b) {
        free(c);
        free(b);
        return nomem(err);
    }
    int major = 0, minor = 0;
    (void)nvrtcVersion(&major, &minor);
    c->sm = sm;
    snprintf(c->desc, sizeof c->desc, "compile only: NVRTC %d.%d for sm_%d, no device", major, minor, sm);
    b->ops = &compiler_ops;
    b->ctx = c;
    *out = b;
    return OCS_OK;
}
