/*
 * spec/backend_context.c - BackendContext regions in both encodings:
 * finding them (discovery), checking a region's shape (interface,
 * convexity, a self-contained fallback), reading a blob's bytes safely,
 * choosing a blob over the session's backends with a reason for every
 * blob, and writing compiled models.  See ocs/backend_context.h.
 *
 * Option F (function): a node ai.onnx.preview.BackendContext with
 *   fallback       GRAPH    the region's nodes; inputs and outputs bind by
 *                           position to the node's
 *   backend_ids    STRINGS  per blob: the backend id
 *   compatibility  STRINGS  per blob: the compatibility string
 *   sha256         STRINGS  per blob: SHA-256 of the container, 64 hex digits
 *   blobs          STRINGS  per blob: the container bytes, or "" when external
 *   locations      STRINGS  per blob: "" when embedded, else a path relative
 *                           to the model's folder
 *   offsets        INTS     per blob: byte offset in the file (default 0)
 *   lengths        INTS     per blob: byte count (default -1: to the end)
 *
 * Option M (scopes): the region's main-graph nodes carry metadata_props
 * "ai.onnx.backend_context.scope" = <scope>; the model's metadata_props has
 * one entry per blob, key "ai.onnx.backend_context.blob.<scope>.<i>" (i a
 * decimal index, blobs tried in ascending i), value a list of fields
 * "name=value" separated by ';': backend, compatibility, sha256, and either
 * data (the container in base64) or location [offset, length].  Values are
 * percent-encoded where they contain '%', ';' or '=' or non-printable bytes.
 */
#include "ocs/backend_context.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "external_data.h"
#include "model_internal.h"
#include "ocs/blob.h"
#include "ocs/build.h"
#include "ocs/sha256.h"

/* ---- names ---------------------------------------------------------------------------- */

const char *ocs_bc_encoding_name(ocs_bc_encoding e)
{
    return e == OCS_BC_SCOPES ? "scopes" : "function";
}

const char *ocs_bc_reason_name(ocs_bc_reason r)
{
    switch (r) {
    case OCS_BC_ACCEPTED: return "accepted";
    case OCS_BC_INCOMPATIBLE: return "incompatible";
    case OCS_BC_CHECKSUM_MISMATCH: return "checksum mismatch";
    case OCS_BC_MISSING_FILE: return "missing file";
    case OCS_BC_UNSAFE_PATH: return "unsafe path";
    case OCS_BC_MALFORMED: return "malformed";
    case OCS_BC_NO_SUCH_BACKEND: return "no such backend";
    case OCS_BC_NOT_TRIED: return "not tried";
    }
    return "unknown";
}

static ocs_status nomem(ocs_err *err)
{
    return ocs_fail(err, OCS_ERR_NOMEM, "out of memory handling BackendContext regions");
}

static char *str_printf(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

static char *str_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *s = malloc((size_t)n + 1);
    if (!s)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

/* ---- ordered name sets ----------------------------------------------------------------- */

/* Names (borrowed) in insertion order, with a hash index for lookups. */
typedef struct names {
    const char **v;
    size_t n, cap;
    size_t *slots;          /* index + 1, 0 = empty */
    size_t n_slots;
} names;

static size_t hash_str(const char *s)
{
    size_t h = 1469598103934665603u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

static int names_has(const names *s, const char *k)
{
    if (!s->n_slots)
        return 0;
    for (size_t j = hash_str(k) & (s->n_slots - 1); s->slots[j]; j = (j + 1) & (s->n_slots - 1))
        if (!strcmp(s->v[s->slots[j] - 1], k))
            return 1;
    return 0;
}

/* 1 added, 0 present, -1 out of memory. */
static int names_add(names *s, const char *k)
{
    if (names_has(s, k))
        return 0;
    if ((s->n + 1) * 2 > s->n_slots) {
        size_t ns = s->n_slots ? s->n_slots * 2 : 32;
        size_t *slots = calloc(ns, sizeof *slots);
        if (!slots)
            return -1;
        for (size_t i = 0; i < s->n; i++) {
            size_t j = hash_str(s->v[i]) & (ns - 1);
            while (slots[j])
                j = (j + 1) & (ns - 1);
            slots[j] = i + 1;
        }
        free(s->slots);
        s->slots = slots;
        s->n_slots = ns;
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        const char **v = realloc(s->v, cap * sizeof *v);
        if (!v)
            return -1;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = k;
    size_t j = hash_str(k) & (s->n_slots - 1);
    while (s->slots[j])
        j = (j + 1) & (s->n_slots - 1);
    s->slots[j] = s->n;
    return 1;
}

static void names_free(names *s)
{
    free(s->v);
    free(s->slots);
    memset(s, 0, sizeof *s);
}

static int graph_free_names(const ocs_graph *g, names *out);

/* Adds the names node n reads, including what its subgraphs capture, in reading order. */
static int node_reads(const ocs_node *n, names *out)
{
    for (size_t k = 0; k < n->n_inputs; k++)
        if (n->inputs[k][0] && names_add(out, n->inputs[k]) < 0)
            return -1;
    for (size_t k = 0; k < n->n_attrs; k++) {
        const ocs_attr *at = &n->attrs[k];
        if (at->type == OCS_ATTR_GRAPH && at->g && graph_free_names(at->g, out))
            return -1;
        for (size_t j = 0; at->type == OCS_ATTR_GRAPHS && j < at->n; j++)
            if (at->graphs[j] && graph_free_names(at->graphs[j], out))
                return -1;
    }
    return 0;
}

/* Adds the names g reads from outside itself. */
static int graph_free_names(const ocs_graph *g, names *out)
{
    names local = {0}, reads = {0};
    int rc = 0;
    for (size_t i = 0; i < g->n_inputs && !rc; i++)
        rc = names_add(&local, g->inputs[i].name) < 0;
    for (size_t i = 0; i < g->n_inits && !rc; i++)
        rc = names_add(&local, g->inits[i].name) < 0;
    for (size_t i = 0; i < g->n_nodes && !rc; i++)
        for (size_t k = 0; k < g->nodes[i].n_outputs && !rc; k++)
            if (g->nodes[i].outputs[k][0])
                rc = names_add(&local, g->nodes[i].outputs[k]) < 0;
    for (size_t i = 0; i < g->n_nodes && !rc; i++)
        rc = node_reads(&g->nodes[i], &reads);
    for (size_t i = 0; i < g->n_outputs && !rc; i++)
        rc = names_add(&reads, g->outputs[i].name) < 0;
    for (size_t i = 0; i < reads.n && !rc; i++)
        if (!names_has(&local, reads.v[i]))
            rc = names_add(out, reads.v[i]) < 0;
    names_free(&local);
    names_free(&reads);
    return rc;
}

ocs_status ocs_bc_node_reads(const ocs_node *n, const char ***out, size_t *count, ocs_err *err)
{
    *out = NULL;
    *count = 0;
    names r = {0};
    if (node_reads(n, &r)) {
        names_free(&r);
        return nomem(err);
    }
    free(r.slots);
    *out = r.v ? r.v : calloc(1, sizeof **out);
    if (!*out)
        return nomem(err);
    *count = r.n;
    return OCS_OK;
}

ocs_status ocs_bc_check_fallback(const ocs_graph *g, ocs_err *err)
{
    names fr = {0};
    if (graph_free_names(g, &fr)) {
        names_free(&fr);
        return nomem(err);
    }
    ocs_status st = OCS_OK;
    if (fr.n)
        st = ocs_fail(err, OCS_ERR_INVALID,
                      "the fallback graph reads '%s' from outside itself; a region's fallback may read only its "
                      "inputs and its own initializers", fr.v[0]);
    names_free(&fr);
    return st;
}

/* ---- a region's interface ------------------------------------------------------------- */

static char **dup_list(const char *const *v, size_t n)
{
    char **out = calloc(n ? n : 1, sizeof *out);
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (!(out[i] = ocs_str_dup(v[i]))) {
            ocs_str_array_free(out, i);
            return NULL;
        }
    return out;
}

ocs_status ocs_bc_interface(const ocs_graph *g, size_t n, const size_t *nodes, char ***inputs, size_t *n_in,
                            char ***outputs, size_t *n_out, ocs_err *err)
{
    *inputs = *outputs = NULL;
    *n_in = *n_out = 0;
    if (n == 0)
        return ocs_fail(err, OCS_ERR_INVALID, "the region has no nodes");
    const size_t N = g->n_nodes;
    unsigned char *in_set = calloc(N ? N : 1, 1), *tainted = calloc(N ? N : 1, 1);
    names *reads = calloc(N ? N : 1, sizeof *reads);
    names produced = {0}, tainted_names = {0}, in = {0}, out = {0}, outside_reads = {0};
    ocs_status st = OCS_OK;
    if (!in_set || !tainted || !reads) {
        st = nomem(err);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        if (nodes[i] >= N) {
            st = ocs_fail(err, OCS_ERR_INVALID, "region node index %zu is outside the graph's %zu nodes", nodes[i], N);
            goto done;
        }
        if (in_set[nodes[i]]) {
            st = ocs_fail(err, OCS_ERR_INVALID, "node %zu is listed twice in the region", nodes[i]);
            goto done;
        }
        in_set[nodes[i]] = 1;
    }
    for (size_t i = 0; i < N; i++)
        if (node_reads(&g->nodes[i], &reads[i])) {
            st = nomem(err);
            goto done;
        }
    for (size_t i = 0; i < N; i++)
        for (size_t k = 0; in_set[i] && k < g->nodes[i].n_outputs; k++)
            if (g->nodes[i].outputs[k][0] && names_add(&produced, g->nodes[i].outputs[k]) < 0) {
                st = nomem(err);
                goto done;
            }
    /* inputs: read by the region, not produced in it, in order of first reading */
    for (size_t i = 0; i < N; i++)
        for (size_t k = 0; in_set[i] && k < reads[i].n; k++)
            if (!names_has(&produced, reads[i].v[k]) && names_add(&in, reads[i].v[k]) < 0) {
                st = nomem(err);
                goto done;
            }
    /* outputs: produced in the region and read outside it (or by the graph's outputs) */
    for (size_t i = 0; i < N; i++)
        for (size_t k = 0; !in_set[i] && k < reads[i].n; k++)
            if (names_add(&outside_reads, reads[i].v[k]) < 0) {
                st = nomem(err);
                goto done;
            }
    for (size_t j = 0; j < g->n_outputs; j++)
        if (names_add(&outside_reads, g->outputs[j].name) < 0) {
            st = nomem(err);
            goto done;
        }
    for (size_t i = 0; i < N; i++)
        for (size_t k = 0; in_set[i] && k < g->nodes[i].n_outputs; k++) {
            const char *o = g->nodes[i].outputs[k];
            if (o[0] && names_has(&outside_reads, o) && names_add(&out, o) < 0) {
                st = nomem(err);
                goto done;
            }
        }
    if (out.n == 0) {
        st = ocs_fail(err, OCS_ERR_INVALID, "the region produces nothing that the rest of the graph reads");
        goto done;
    }
    /* convexity: no node outside the region may both depend on it and feed it */
    for (int changed = 1; changed;) {
        changed = 0;
        for (size_t i = 0; i < N; i++) {
            if (in_set[i] || tainted[i])
                continue;
            int t = 0;
            for (size_t k = 0; k < reads[i].n && !t; k++)
                t = names_has(&produced, reads[i].v[k]) || names_has(&tainted_names, reads[i].v[k]);
            if (!t)
                continue;
            tainted[i] = 1;
            changed = 1;
            for (size_t k = 0; k < g->nodes[i].n_outputs; k++)
                if (g->nodes[i].outputs[k][0] && names_add(&tainted_names, g->nodes[i].outputs[k]) < 0) {
                    st = nomem(err);
                    goto done;
                }
        }
    }
    for (size_t i = 0; i < N; i++)
        for (size_t k = 0; in_set[i] && k < reads[i].n; k++)
            if (names_has(&tainted_names, reads[i].v[k])) {
                char label[256];
                st = ocs_fail(err, OCS_ERR_INVALID,
                              "the region is not convex: %s reads '%s', which depends on the region's own outputs "
                              "through nodes outside it", ocs_node_label(&g->nodes[i], label, sizeof label),
                              reads[i].v[k]);
                goto done;
            }
    *inputs = dup_list(in.v, in.n);
    *outputs = dup_list(out.v, out.n);
    if (!*inputs || !*outputs) {
        ocs_str_array_free(*inputs, *inputs ? in.n : 0);
        ocs_str_array_free(*outputs, *outputs ? out.n : 0);
        *inputs = *outputs = NULL;
        st = nomem(err);
        goto done;
    }
    *n_in = in.n;
    *n_out = out.n;
done:
    for (size_t i = 0; reads && i < N; i++)
        names_free(&reads[i]);
    free(reads);
    free(in_set);
    free(tainted);
    names_free(&produced);
    names_free(&tainted_names);
    names_free(&in);
    names_free(&out);
    names_free(&outside_reads);
    return st;
}

/* ---- percent-encoding and base64 -------------------------------------------------------- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decodes n bytes of percent-encoded text; NULL (and *bad set) when malformed. */
static char *pct_decode(const char *s, size_t n, int *bad)
{
    char *out = malloc(n + 1);
    *bad = 0;
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            out[o++] = s[i];
            continue;
        }
        int h1 = i + 2 < n ? hexval(s[i + 1]) : -1, h2 = i + 2 < n ? hexval(s[i + 2]) : -1;
        if (h1 < 0 || h2 < 0 || h1 * 16 + h2 == 0) {
            free(out);
            *bad = 1;
            return NULL;
        }
        out[o++] = (char)(h1 * 16 + h2);
        i += 2;
    }
    out[o] = '\0';
    return out;
}

/* Appends s percent-encoded to buf (grown); returns 0, or -1 when out of memory. */
static int pct_append(char **buf, size_t *len, size_t *cap, const char *s)
{
    static const char digits[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        int esc = c == '%' || c == ';' || c == '=' || c < 0x20 || c > 0x7e;
        if (*len + 4 > *cap) {
            size_t nc = *cap ? *cap * 2 : 256;
            char *p = realloc(*buf, nc);
            if (!p)
                return -1;
            *buf = p;
            *cap = nc;
        }
        if (esc) {
            (*buf)[(*len)++] = '%';
            (*buf)[(*len)++] = digits[c >> 4];
            (*buf)[(*len)++] = digits[c & 15];
        } else {
            (*buf)[(*len)++] = (char)c;
        }
        (*buf)[*len] = '\0';
    }
    return 0;
}

static int b64val(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Strict base64 (RFC 4648, padded); NULL with *bad set when malformed. */
static unsigned char *b64_decode(const char *s, size_t n, size_t *out_len, int *bad)
{
    *bad = 0;
    *out_len = 0;
    if (n % 4 != 0) {
        *bad = 1;
        return NULL;
    }
    size_t pad = 0;
    if (n >= 1 && s[n - 1] == '=')
        pad++;
    if (n >= 2 && s[n - 2] == '=')
        pad++;
    size_t olen = n / 4 * 3 - pad;
    unsigned char *out = malloc(olen ? olen : 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 4) {
        int v[4];
        for (int k = 0; k < 4; k++) {
            int last_block = i + 4 == n;
            if (s[i + k] == '=' && last_block && k >= 2 && (k == 3 || s[i + 3] == '=')) {
                v[k] = 0;
                continue;
            }
            v[k] = b64val(s[i + k]);
            if (v[k] < 0) {
                free(out);
                *bad = 1;
                return NULL;
            }
        }
        unsigned w = (unsigned)v[0] << 18 | (unsigned)v[1] << 12 | (unsigned)v[2] << 6 | (unsigned)v[3];
        unsigned char bytes[3] = {(unsigned char)(w >> 16), (unsigned char)(w >> 8), (unsigned char)w};
        for (int k = 0; k < 3 && o < olen; k++)
            out[o++] = bytes[k];
    }
    *out_len = olen;
    return out;
}

static char *b64_encode(const unsigned char *p, size_t n)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (n > (SIZE_MAX - 1) / 4 * 3 - 3)
        return NULL;
    size_t olen = (n + 2) / 3 * 4;
    char *out = malloc(olen + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned w = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
        out[o++] = a[(w >> 18) & 63];
        out[o++] = a[(w >> 12) & 63];
        out[o++] = i + 1 < n ? a[(w >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? a[w & 63] : '=';
    }
    out[o] = '\0';
    return out;
}

/* ---- discovery ----------------------------------------------------------------------------- */

static int is_hex64(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
            return 0;
    return n == 64;
}

static void blob_clear(ocs_bc_blob *b)
{
    free(b->backend);
    free(b->compat);
    free(b->sha256);
    free(b->owned);
    free(b->location);
    free(b->problem);
    memset(b, 0, sizeof *b);
}

static void region_clear(ocs_bc_region *r)
{
    free(r->name);
    free(r->nodes);
    free(r->node_index);
    ocs_str_array_free(r->inputs, r->inputs ? r->n_inputs : 0);
    ocs_str_array_free(r->outputs, r->outputs ? r->n_outputs : 0);
    ocs_str_array_free(r->inner_inputs, r->inner_inputs ? r->n_inputs : 0);
    ocs_str_array_free(r->inner_outputs, r->inner_outputs ? r->n_outputs : 0);
    free(r->input_types);
    for (size_t i = 0; i < r->n_blobs; i++)
        blob_clear(&r->blobs[i]);
    free(r->blobs);
    free(r->problem);
    memset(r, 0, sizeof *r);
}

void ocs_bc_regions_free(ocs_bc_region *r, size_t n)
{
    for (size_t i = 0; r && i < n; i++)
        region_clear(&r[i]);
    free(r);
}

/* Finishes a blob: fills "" for absent strings and validates what it declares. */
static int blob_finish(ocs_bc_blob *b)
{
    if (!b->backend && !(b->backend = ocs_str_dup("")))
        return -1;
    if (!b->compat && !(b->compat = ocs_str_dup("")))
        return -1;
    if (!b->sha256 && !(b->sha256 = ocs_str_dup("")))
        return -1;
    if (b->problem)
        return 0;
    if (!ocs_blob_id_valid(b->backend, strlen(b->backend)))
        b->problem = str_printf("backend id '%s' is not 1..%d characters of [a-z0-9_.-]", b->backend, OCS_BLOB_MAX_ID);
    else if (!ocs_blob_compat_valid(b->compat, strlen(b->compat)))
        b->problem = str_printf("the compatibility string is longer than %d characters or not printable ASCII",
                                OCS_BLOB_MAX_COMPAT);
    else if (!is_hex64(b->sha256))
        b->problem = str_printf("sha256 '%.80s' is not 64 lower-case hex digits", b->sha256);
    else if (b->external && (b->offset < 0 || b->length < -1))
        b->problem = str_printf("offset %lld / length %lld: must be >= 0", (long long)b->offset, (long long)b->length);
    else
        return 0;
    return b->problem ? 0 : -1;
}

/* Option F: one region per BackendContext node of the main graph. */
static ocs_status discover_function(const ocs_graph *g, size_t i, ocs_bc_region *r, ocs_err *err)
{
    const ocs_node *n = &g->nodes[i];
    r->encoding = OCS_BC_FUNCTION;
    r->node = i;
    r->name = n->name[0] ? ocs_str_dup(n->name) : str_printf("#%zu", i);
    if (!r->name)
        return nomem(err);
    const ocs_attr *fa = ocs_node_attr(n, "fallback");
    const ocs_graph *fb = fa && fa->type == OCS_ATTR_GRAPH ? fa->g : NULL;
    if (!fb) {
        r->problem = ocs_str_dup("the node has no GRAPH attribute 'fallback'");
        return r->problem ? OCS_OK : nomem(err);
    }
    if (fb->n_inputs != n->n_inputs || fb->n_outputs != n->n_outputs) {
        r->problem = str_printf("the fallback has %zu inputs and %zu outputs, the node %zu and %zu", fb->n_inputs,
                                fb->n_outputs, n->n_inputs, n->n_outputs);
        return r->problem ? OCS_OK : nomem(err);
    }
    r->n_nodes = fb->n_nodes;
    r->nodes = calloc(fb->n_nodes ? fb->n_nodes : 1, sizeof *r->nodes);
    r->n_inputs = n->n_inputs;
    r->n_outputs = n->n_outputs;
    r->inputs = dup_list((const char *const *)n->inputs, n->n_inputs);
    r->outputs = dup_list((const char *const *)n->outputs, n->n_outputs);
    r->inner_inputs = calloc(n->n_inputs ? n->n_inputs : 1, sizeof *r->inner_inputs);
    r->inner_outputs = calloc(n->n_outputs ? n->n_outputs : 1, sizeof *r->inner_outputs);
    r->input_types = calloc(n->n_inputs ? n->n_inputs : 1, sizeof *r->input_types);
    if (!r->nodes || !r->inputs || !r->outputs || !r->inner_inputs || !r->inner_outputs || !r->input_types)
        return nomem(err);
    for (size_t k = 0; k < fb->n_nodes; k++)
        r->nodes[k] = &fb->nodes[k];
    for (size_t k = 0; k < n->n_inputs; k++) {
        if (!(r->inner_inputs[k] = ocs_str_dup(fb->inputs[k].name)))
            return nomem(err);
        ocs_graph_value_type(fb, fb->inputs[k].name, &r->input_types[k]);
    }
    for (size_t k = 0; k < n->n_outputs; k++)
        if (!(r->inner_outputs[k] = ocs_str_dup(fb->outputs[k].name)))
            return nomem(err);
    r->n_consts = fb->n_inits;
    r->consts = fb->inits;

    /* the blob table */
    static const char *const str_attrs[] = {"backend_ids", "compatibility", "sha256", "blobs", "locations"};
    static const char *const int_attrs[] = {"offsets", "lengths"};
    const ocs_attr *ids = ocs_node_attr(n, "backend_ids");
    if (!ids)
        return OCS_OK;
    if (ids->type != OCS_ATTR_STRINGS) {
        r->problem = str_printf("attribute 'backend_ids' must be STRINGS, it is %s", ocs_attr_type_name(ids->type));
        return r->problem ? OCS_OK : nomem(err);
    }
    size_t nb = ids->n;
    r->blobs = calloc(nb ? nb : 1, sizeof *r->blobs);
    if (!r->blobs)
        return nomem(err);
    r->n_blobs = nb;
    const ocs_attr *sa[5], *ia[2];
    char *table_problem = NULL;
    for (int k = 0; k < 5; k++) {
        sa[k] = ocs_node_attr(n, str_attrs[k]);
        if (sa[k] && (sa[k]->type != OCS_ATTR_STRINGS || sa[k]->n != nb) && !table_problem)
            table_problem = str_printf("attribute '%s' must be STRINGS with one entry per blob (%zu)", str_attrs[k], nb);
        if (sa[k] && (sa[k]->type != OCS_ATTR_STRINGS || sa[k]->n != nb))
            sa[k] = NULL;
    }
    for (int k = 0; k < 2; k++) {
        ia[k] = ocs_node_attr(n, int_attrs[k]);
        if (ia[k] && (ia[k]->type != OCS_ATTR_INTS || ia[k]->n != nb) && !table_problem)
            table_problem = str_printf("attribute '%s' must be INTS with one entry per blob (%zu)", int_attrs[k], nb);
        if (ia[k] && (ia[k]->type != OCS_ATTR_INTS || ia[k]->n != nb))
            ia[k] = NULL;
    }
    for (size_t b = 0; b < nb; b++) {
        ocs_bc_blob *bl = &r->blobs[b];
        bl->length = -1;
        bl->backend = ocs_mem_dup_str(ids->strings[b].data, ids->strings[b].len);
        if (sa[1])
            bl->compat = ocs_mem_dup_str(sa[1]->strings[b].data, sa[1]->strings[b].len);
        if (sa[2])
            bl->sha256 = ocs_mem_dup_str(sa[2]->strings[b].data, sa[2]->strings[b].len);
        if (!bl->backend || (sa[1] && !bl->compat) || (sa[2] && !bl->sha256))
            return nomem(err);
        /* strings with an embedded NUL would be cut short: treat them as malformed */
        if (strlen(bl->backend) != ids->strings[b].len || (sa[1] && strlen(bl->compat) != sa[1]->strings[b].len))
            bl->problem = ocs_str_dup("a string of the blob table contains a NUL byte");
        size_t elen = sa[3] ? sa[3]->strings[b].len : 0;
        size_t llen = sa[4] ? sa[4]->strings[b].len : 0;
        if (table_problem && !bl->problem)
            bl->problem = ocs_str_dup(table_problem);
        else if (!bl->problem && elen && llen)
            bl->problem = ocs_str_dup("the blob is both embedded and external");
        else if (!bl->problem && !elen && !llen)
            bl->problem = ocs_str_dup("the blob has neither embedded bytes nor a location");
        if (elen) {
            bl->data = (const unsigned char *)sa[3]->strings[b].data;
            bl->len = elen;
        } else if (llen) {
            bl->external = 1;
            bl->location = ocs_mem_dup_str(sa[4]->strings[b].data, llen);
            if (!bl->location)
                return nomem(err);
            if (strlen(bl->location) != llen && !bl->problem)
                bl->problem = ocs_str_dup("the location contains a NUL byte");
            bl->offset = ia[0] ? ia[0]->ints[b] : 0;
            bl->length = ia[1] ? ia[1]->ints[b] : -1;
        }
        if (blob_finish(bl)) {
            free(table_problem);
            return nomem(err);
        }
    }
    free(table_problem);
    return OCS_OK;
}

/* Parses one Option M blob entry's value into b. */
static int parse_entry(const char *v, ocs_bc_blob *b)
{
    static const char *const keys[] = {"backend", "compatibility", "sha256", "data", "location", "offset", "length"};
    int seen[7] = {0};
    b->length = -1;
    char *data_text = NULL;
    const char *p = v;
    while (*p) {
        size_t flen = strcspn(p, ";");
        const char *eq = memchr(p, '=', flen);
        if (!eq) {
            b->problem = str_printf("field '%.*s' has no '='", (int)(flen > 60 ? 60 : flen), p);
            break;
        }
        size_t klen = (size_t)(eq - p);
        int k = -1;
        for (int j = 0; j < 7; j++)
            if (strlen(keys[j]) == klen && !memcmp(keys[j], p, klen))
                k = j;
        if (k < 0) {
            b->problem = str_printf("unknown field '%.*s'", (int)(klen > 60 ? 60 : klen), p);
            break;
        }
        if (seen[k]++) {
            b->problem = str_printf("field '%s' appears twice", keys[k]);
            break;
        }
        int bad = 0;
        char *val = pct_decode(eq + 1, flen - klen - 1, &bad);
        if (!val) {
            if (!bad) {
                free(data_text);
                return -1;
            }
            b->problem = str_printf("field '%s' has a bad percent escape", keys[k]);
            break;
        }
        switch (k) {
        case 0: b->backend = val; break;
        case 1: b->compat = val; break;
        case 2: b->sha256 = val; break;
        case 3: data_text = val; break;
        case 4: b->location = val; b->external = 1; break;
        default: {
            char *end = NULL;
            errno = 0;
            long long x = strtoll(val, &end, 10);
            int ok = val[0] >= '0' && val[0] <= '9' && *end == '\0' && errno == 0;
            if (k == 6 && !strcmp(val, "-1"))
                ok = 1, x = -1;
            free(val);
            if (!ok) {
                b->problem = str_printf("field '%s' is not a non-negative integer", keys[k]);
                break;
            }
            if (k == 5)
                b->offset = x;
            else
                b->length = x;
        }
        }
        if (b->problem)
            break;
        p += flen;
        if (*p == ';')
            p++;
    }
    if (!b->problem) {
        if (data_text && b->location)
            b->problem = ocs_str_dup("the blob has both 'data' and 'location'");
        else if (!data_text && !b->location)
            b->problem = ocs_str_dup("the blob has neither 'data' nor 'location'");
        else if ((seen[5] || seen[6]) && !b->location)
            b->problem = ocs_str_dup("'offset' and 'length' belong to an external blob");
    }
    if (data_text && !b->problem) {
        int bad = 0;
        size_t n = 0;
        unsigned char *bytes = b64_decode(data_text, strlen(data_text), &n, &bad);
        if (!bytes && !bad) {
            free(data_text);
            return -1;
        }
        if (!bytes || n == 0) {
            free(bytes);
            b->problem = ocs_str_dup("field 'data' is not base64");
        } else {
            b->owned = bytes;
            b->data = bytes;
            b->len = n;
        }
    }
    free(data_text);
    return 0;
}

static ocs_bc_region *region_for_scope(ocs_bc_region **rs, size_t *n, size_t *cap, const char *scope)
{
    for (size_t i = 0; i < *n; i++)
        if ((*rs)[i].encoding == OCS_BC_SCOPES && !strcmp((*rs)[i].name, scope))
            return &(*rs)[i];
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 8;
        ocs_bc_region *g = realloc(*rs, nc * sizeof *g);
        if (!g)
            return NULL;
        *rs = g;
        *cap = nc;
    }
    ocs_bc_region *r = &(*rs)[(*n)++];
    memset(r, 0, sizeof *r);
    r->encoding = OCS_BC_SCOPES;
    r->name = ocs_str_dup(scope);
    if (!r->name) {
        (*n)--;
        return NULL;
    }
    return r;
}

static const char *node_scope(const ocs_node *n)
{
    for (size_t k = 0; k < n->n_meta; k++)
        if (!strcmp(n->meta[k].key, OCS_BC_SCOPE_KEY))
            return n->meta[k].value;
    return NULL;
}

/* A blob entry of the model's metadata, before it is sorted into its region. */
typedef struct entry {
    size_t region;
    unsigned long idx;
    ocs_bc_blob b;
} entry;

static int entry_cmp(const void *x, const void *y)
{
    const entry *a = x, *b = y;
    if (a->region != b->region)
        return a->region < b->region ? -1 : 1;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

static ocs_status discover_scopes(const ocs_model *m, ocs_bc_region **rs, size_t *n, size_t *cap, ocs_err *err)
{
    const ocs_graph *g = m->graph;
    size_t first = *n;
    for (size_t i = 0; i < g->n_nodes; i++) {
        const char *sc = node_scope(&g->nodes[i]);
        if (!sc)
            continue;
        ocs_bc_region *r = region_for_scope(rs, n, cap, sc);
        if (!r)
            return nomem(err);
        size_t *ix = realloc(r->node_index, (r->n_nodes + 1) * sizeof *ix);
        if (!ix)
            return nomem(err);
        r->node_index = ix;
        ix[r->n_nodes++] = i;
    }
    /* blob entries */
    const size_t plen = strlen(OCS_BC_BLOB_PREFIX);
    entry *es = NULL;
    size_t ne = 0;
    ocs_status st = OCS_OK;
    for (size_t k = 0; k < m->n_meta && st == OCS_OK; k++) {
        const char *key = m->meta[k].key;
        if (strncmp(key, OCS_BC_BLOB_PREFIX, plen))
            continue;
        const char *rest = key + plen, *dot = strrchr(rest, '.');
        unsigned long idx = 0;
        int key_ok = dot && dot > rest && dot[1] && strlen(dot + 1) <= 6;
        for (const char *d = dot ? dot + 1 : ""; key_ok && *d; d++)
            key_ok = *d >= '0' && *d <= '9';
        if (key_ok)
            idx = strtoul(dot + 1, NULL, 10);
        char *scope = key_ok ? ocs_mem_dup_str(rest, (size_t)(dot - rest)) : ocs_str_dup(rest);
        ocs_bc_region *r = scope ? region_for_scope(rs, n, cap, scope) : NULL;
        free(scope);
        entry *grown = r ? realloc(es, (ne + 1) * sizeof *grown) : NULL;
        if (!grown) {
            st = nomem(err);
            break;
        }
        es = grown;
        entry *e = &es[ne++];
        memset(e, 0, sizeof *e);
        e->region = (size_t)(r - *rs);
        e->idx = idx;
        if (!key_ok)
            e->b.problem = str_printf("metadata key '%s' does not end in .<index>", key);
        else if (parse_entry(m->meta[k].value, &e->b))
            st = nomem(err);
        if (st == OCS_OK && blob_finish(&e->b))
            st = nomem(err);
    }
    if (st == OCS_OK && ne) {
        qsort(es, ne, sizeof *es, entry_cmp);
        for (size_t i = 0; i < ne && st == OCS_OK;) {
            size_t j = i;
            while (j < ne && es[j].region == es[i].region)
                j++;
            ocs_bc_region *r = &(*rs)[es[i].region];
            r->blobs = calloc(j - i, sizeof *r->blobs);
            if (!r->blobs) {
                st = nomem(err);
                break;
            }
            for (size_t k = i; k < j; k++) {
                r->blobs[r->n_blobs++] = es[k].b;
                memset(&es[k].b, 0, sizeof es[k].b);
                ocs_bc_blob *bl = &r->blobs[r->n_blobs - 1];
                if (k > i && es[k].idx == es[k - 1].idx && !bl->problem &&
                    !(bl->problem = str_printf("blob index %lu of scope '%s' appears twice", es[k].idx, r->name)))
                    st = nomem(err);
            }
            i = j;
        }
    }
    for (size_t i = 0; i < ne; i++)
        blob_clear(&es[i].b);
    free(es);
    if (st != OCS_OK)
        return st;
    /* interfaces */
    for (size_t i = first; i < *n; i++) {
        ocs_bc_region *r = &(*rs)[i];
        if (!r->name[0] && !r->problem && !(r->problem = ocs_str_dup("the scope name is empty")))
            return nomem(err);
        if (!r->n_nodes) {
            if (!r->problem && !(r->problem = str_printf("no node of the main graph carries scope '%s'", r->name)))
                return nomem(err);
            continue;
        }
        r->nodes = calloc(r->n_nodes, sizeof *r->nodes);
        if (!r->nodes)
            return nomem(err);
        for (size_t k = 0; k < r->n_nodes; k++)
            r->nodes[k] = &g->nodes[r->node_index[k]];
        ocs_err e;
        ocs_status s2 = ocs_bc_interface(g, r->n_nodes, r->node_index, &r->inputs, &r->n_inputs, &r->outputs,
                                         &r->n_outputs, &e);
        if (s2 == OCS_ERR_NOMEM)
            return nomem(err);
        if (s2 != OCS_OK) {
            if (!r->problem && !(r->problem = ocs_str_dup(e.msg)))
                return nomem(err);
            continue;
        }
        r->inner_inputs = dup_list((const char *const *)r->inputs, r->n_inputs);
        r->inner_outputs = dup_list((const char *const *)r->outputs, r->n_outputs);
        r->input_types = calloc(r->n_inputs ? r->n_inputs : 1, sizeof *r->input_types);
        if (!r->inner_inputs || !r->inner_outputs || !r->input_types)
            return nomem(err);
        for (size_t k = 0; k < r->n_inputs; k++)
            ocs_graph_value_type(g, r->inputs[k], &r->input_types[k]);
    }
    return OCS_OK;
}

ocs_status ocs_bc_discover(const ocs_model *m, ocs_bc_region **out, size_t *n_out, ocs_err *err)
{
    *out = NULL;
    *n_out = 0;
    if (!m || !m->graph)
        return OCS_OK;
    const ocs_graph *g = m->graph;
    ocs_bc_region *rs = NULL;
    size_t n = 0, cap = 0;
    ocs_status st = OCS_OK;
    for (size_t i = 0; i < g->n_nodes && st == OCS_OK; i++) {
        const ocs_node *nd = &g->nodes[i];
        if (strcmp(nd->domain, OCS_PREVIEW_DOMAIN) || strcmp(nd->op_type, OCS_BC_OP))
            continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 8;
            ocs_bc_region *gr = realloc(rs, nc * sizeof *gr);
            if (!gr) {
                st = nomem(err);
                break;
            }
            rs = gr;
            cap = nc;
        }
        memset(&rs[n], 0, sizeof rs[n]);
        st = discover_function(g, i, &rs[n++], err);
    }
    if (st == OCS_OK)
        st = discover_scopes(m, &rs, &n, &cap, err);
    if (st != OCS_OK) {
        ocs_bc_regions_free(rs, n);
        return st;
    }
    *out = rs;
    *n_out = n;
    return OCS_OK;
}

/* ---- reading a blob's bytes ------------------------------------------------------------------ */

ocs_status ocs_bc_blob_bytes(const ocs_model *m, const ocs_bc_blob *b, const unsigned char **bytes, size_t *len,
                             void **owned, ocs_bc_reason *reason, ocs_err *err)
{
    *bytes = NULL;
    *len = 0;
    *owned = NULL;
    *reason = OCS_BC_MALFORMED;
    if (!b->external) {
        *bytes = b->data;
        *len = b->len;
        return OCS_OK;
    }
    const char *dir = m && m->dir && m->dir[0] ? m->dir : NULL;
    if (!dir) {
        *reason = OCS_BC_MISSING_FILE;
        return ocs_fail(err, OCS_ERR_IO,
                        "blob file '%s': the model's folder is unknown (model loaded from memory)", b->location);
    }
    /* the path alone first (no bytes read), so that a bad path is told from a bad range */
    void *probe = NULL;
    size_t plen = 0;
    ocs_status st = ocs_external_data_read(dir, b->location, NULL, "0", &probe, &plen, err);
    free(probe);
    if (st == OCS_ERR_NOMEM)
        return st;
    if (st != OCS_OK) {
        *reason = OCS_BC_UNSAFE_PATH;
        if (st == OCS_ERR_IO) {
            /* classify: the file (after following links) does not exist */
            size_t nd = strlen(dir), nl = strlen(b->location);
            char *joined = malloc(nd + nl + 2);
            if (!joined)
                return nomem(err);
            memcpy(joined, dir, nd);
            joined[nd] = '/';
            memcpy(joined + nd + 1, b->location, nl + 1);
            struct stat sb;
            if (stat(joined, &sb) != 0 && (errno == ENOENT || errno == ENOTDIR))
                *reason = OCS_BC_MISSING_FILE;
            free(joined);
        }
        return st;
    }
    char off[32], lenb[32];
    snprintf(off, sizeof off, "%lld", (long long)b->offset);
    snprintf(lenb, sizeof lenb, "%lld", (long long)b->length);
    void *data = NULL;
    size_t n = 0;
    st = ocs_external_data_read(dir, b->location, off, b->length >= 0 ? lenb : NULL, &data, &n, err);
    if (st == OCS_ERR_NOMEM)
        return st;
    if (st != OCS_OK) {
        *reason = OCS_BC_MALFORMED;
        return st;
    }
    *bytes = data;
    *len = n;
    *owned = data;
    return OCS_OK;
}

/* ---- selection ---------------------------------------------------------------------------- */

static void attempt_set(ocs_bc_attempt *a, size_t blob, ocs_bc_reason r, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

static void attempt_set(ocs_bc_attempt *a, size_t blob, ocs_bc_reason r, const char *fmt, ...)
{
    a->blob = blob;
    a->reason = r;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->detail, sizeof a->detail, fmt, ap);
    va_end(ap);
}

/* Tries blob i of r on backend be.  Returns OCS_OK with the attempt filled
 * (and *state set when accepted); fails only when out of memory. */
static ocs_status try_blob(const ocs_model *m, const ocs_bc_region *r, const ocs_bc_view *v, size_t i,
                           const ocs_backend *be, ocs_bc_attempt *a, void **state, ocs_err *err)
{
    const ocs_bc_blob *b = &r->blobs[i];
    *state = NULL;
    if (b->problem) {
        attempt_set(a, i, OCS_BC_MALFORMED, "%s", b->problem);
        return OCS_OK;
    }
    if (!be->ops->bc_load || !be->ops->bc_run) {
        attempt_set(a, i, OCS_BC_NO_SUCH_BACKEND, "backend %s loads no blobs", be->ops->name);
        return OCS_OK;
    }
    if (be->ops->bc_compatible) {
        char why[300] = "";
        if (!be->ops->bc_compatible(be->ctx, b->compat, why, sizeof why)) {
            attempt_set(a, i, OCS_BC_INCOMPATIBLE, "%s", why[0] ? why : "refused by the backend");
            return OCS_OK;
        }
    }
    const unsigned char *bytes = NULL;
    size_t len = 0;
    void *owned = NULL;
    ocs_bc_reason why_read;
    ocs_err e;
    ocs_err_clear(&e);
    ocs_status st = ocs_bc_blob_bytes(m, b, &bytes, &len, &owned, &why_read, &e);
    if (st == OCS_ERR_NOMEM)
        return ocs_fail(err, st, "%s", e.msg);
    if (st != OCS_OK) {
        attempt_set(a, i, why_read, "%s", e.msg);
        return OCS_OK;
    }
    char hex[65];
    ocs_sha256_hex(bytes, len, hex);
    ocs_blob c;
    if (strcmp(hex, b->sha256) != 0) {
        attempt_set(a, i, OCS_BC_CHECKSUM_MISMATCH, "SHA-256 of the %zu bytes is %.16s..., the model declares %.16s...",
                    len, hex, b->sha256);
    } else if ((st = ocs_blob_parse(bytes, len, &c, &e)) != OCS_OK) {
        attempt_set(a, i, st == OCS_ERR_UNSUPPORTED ? OCS_BC_INCOMPATIBLE : OCS_BC_MALFORMED, "%s", e.msg);
    } else if (ocs_blob_verify(&c, &e) != OCS_OK) {
        attempt_set(a, i, OCS_BC_CHECKSUM_MISMATCH, "%s", e.msg);
    } else if (c.backend_len != strlen(b->backend) || memcmp(c.backend, b->backend, c.backend_len) ||
               c.compat_len != strlen(b->compat) || (c.compat_len && memcmp(c.compat, b->compat, c.compat_len))) {
        attempt_set(a, i, OCS_BC_MALFORMED,
                    "the container declares backend '%.*s' and compatibility '%.*s'; the model says '%s' and '%.200s'",
                    (int)c.backend_len, c.backend, (int)(c.compat_len > 200 ? 200 : c.compat_len), c.compat,
                    b->backend, b->compat);
    } else {
        ocs_err_clear(&e);
        st = be->ops->bc_load(be->ctx, v, c.payload, c.payload_len, state, &e);
        if (st == OCS_ERR_NOMEM) {
            free(owned);
            return ocs_fail(err, st, "%s", e.msg);
        }
        if (st == OCS_OK)
            attempt_set(a, i, OCS_BC_ACCEPTED, "%zu-byte blob loaded by %s", len, be->ops->name);
        else
            attempt_set(a, i, st == OCS_ERR_UNSUPPORTED ? OCS_BC_INCOMPATIBLE : OCS_BC_MALFORMED, "%s", e.msg);
        if (st != OCS_OK)
            *state = NULL;
    }
    free(owned);
    return OCS_OK;
}

ocs_status ocs_bc_select(const ocs_model *m, const ocs_bc_region *r, const ocs_bc_view *v,
                         ocs_backend *const *backends, size_t nb, ocs_bc_decision *out, ocs_err *err)
{
    memset(out, 0, sizeof *out);
    if (!r->n_blobs)
        return OCS_OK;
    out->attempts = calloc(r->n_blobs, sizeof *out->attempts);
    unsigned char *done = calloc(r->n_blobs, 1);
    if (!out->attempts || !done) {
        free(done);
        free(out->attempts);
        out->attempts = NULL;
        return nomem(err);
    }
    ocs_status st = OCS_OK;
    for (size_t k = 0; k < nb && !out->accepted && st == OCS_OK; k++) {
        const ocs_backend *be = backends[k];
        for (size_t i = 0; i < r->n_blobs && !out->accepted; i++) {
            if (done[i] || strcmp(r->blobs[i].backend, be->ops->name))
                continue;
            if (r->problem) {
                attempt_set(&out->attempts[out->n_attempts++], i, OCS_BC_MALFORMED, "%s", r->problem);
                done[i] = 1;
                continue;
            }
            void *state = NULL;
            ocs_bc_attempt *a = &out->attempts[out->n_attempts];
            st = try_blob(m, r, v, i, be, a, &state, err);
            if (st != OCS_OK)
                break;
            out->n_attempts++;
            done[i] = 1;
            if (a->reason == OCS_BC_ACCEPTED) {
                out->accepted = 1;
                out->backend = k;
                out->blob = i;
                out->state = state;
            }
        }
    }
    for (size_t i = 0; i < r->n_blobs && st == OCS_OK; i++) {
        if (done[i])
            continue;
        ocs_bc_attempt *a = &out->attempts[out->n_attempts++];
        int present = 0;
        for (size_t k = 0; k < nb && !present; k++)
            present = !strcmp(backends[k]->ops->name, r->blobs[i].backend);
        if (out->accepted && present)
            attempt_set(a, i, OCS_BC_NOT_TRIED, "blob %zu was accepted first", out->blob);
        else if (r->problem)
            attempt_set(a, i, OCS_BC_MALFORMED, "%s", r->problem);
        else if (r->blobs[i].problem)
            attempt_set(a, i, OCS_BC_MALFORMED, "%s", r->blobs[i].problem);
        else
            attempt_set(a, i, OCS_BC_NO_SUCH_BACKEND, "no backend '%s' in this session", r->blobs[i].backend);
    }
    free(done);
    if (st != OCS_OK)
        ocs_bc_decision_clear(out, backends);
    return st;
}

void ocs_bc_decision_clear(ocs_bc_decision *d, ocs_backend *const *backends)
{
    if (!d)
        return;
    if (d->accepted && d->state && backends) {
        const ocs_backend *be = backends[d->backend];
        if (be->ops->bc_unload)
            be->ops->bc_unload(be->ctx, d->state);
    }
    free(d->attempts);
    memset(d, 0, sizeof *d);
}

void ocs_bc_decision_format(const ocs_bc_region *r, const ocs_bc_decision *d, ocs_backend *const *backends,
                            char *buf, size_t len)
{
    if (!len)
        return;
    size_t o = 0;
#define EMIT(...)                                                                                                \
    do {                                                                                                         \
        if (o < len) {                                                                                           \
            int k_ = snprintf(buf + o, len - o, __VA_ARGS__);                                                    \
            o = k_ < 0 ? len : o + (size_t)k_;                                                                   \
        }                                                                                                        \
    } while (0)
    EMIT("%s region '%s': ", ocs_bc_encoding_name(r->encoding), r->name);
    if (d->accepted)
        EMIT("runs from blob %zu on %s", d->blob, backends ? backends[d->backend]->ops->name : "?");
    else if (r->problem)
        EMIT("runs its fallback (region malformed: %s)", r->problem);
    else if (!r->n_blobs)
        EMIT("runs its fallback (no blobs)");
    else
        EMIT("runs its fallback");
    for (size_t i = 0; i < d->n_attempts; i++) {
        const ocs_bc_attempt *a = &d->attempts[i];
        EMIT("%s blob %zu (%s): %s", i ? ";" : " -", a->blob, r->blobs[a->blob].backend, ocs_bc_reason_name(a->reason));
        if (a->detail[0])
            EMIT(" (%s)", a->detail);
    }
#undef EMIT
    if (o >= len && len > 4)
        memcpy(buf + len - 4, "...", 4);
}

/* ---- writing ---------------------------------------------------------------------------------- */

static int meta_set(ocs_kv **kv, size_t *n, const char *key, const char *value)
{
    for (size_t i = 0; i < *n; i++)
        if (!strcmp((*kv)[i].key, key)) {
            char *v = ocs_str_dup(value);
            if (!v)
                return -1;
            free((*kv)[i].value);
            (*kv)[i].value = v;
            return 0;
        }
    ocs_kv *g = realloc(*kv, (*n + 1) * sizeof *g);
    if (!g)
        return -1;
    *kv = g;
    g[*n].key = ocs_str_dup(key);
    g[*n].value = ocs_str_dup(value);
    if (!g[*n].key || !g[*n].value) {
        free(g[*n].key);
        free(g[*n].value);
        return -1;
    }
    (*n)++;
    return 0;
}

/* Appends an attribute to n; returns it zeroed with its name and type set. */
static ocs_attr *attr_add(ocs_node *n, const char *name, ocs_attr_type t)
{
    ocs_attr *a = realloc(n->attrs, (n->n_attrs + 1) * sizeof *a);
    if (!a)
        return NULL;
    n->attrs = a;
    ocs_attr *at = &a[n->n_attrs];
    memset(at, 0, sizeof *at);
    if (!(at->name = ocs_str_dup(name)))
        return NULL;
    at->type = t;
    n->n_attrs++;
    return at;
}

/* A STRINGS attribute from n byte strings. */
static int attr_strings(ocs_node *nd, const char *name, size_t n, const void *const *v, const size_t *lens)
{
    ocs_attr *a = attr_add(nd, name, OCS_ATTR_STRINGS);
    if (!a)
        return -1;
    a->strings = calloc(n ? n : 1, sizeof *a->strings);
    if (!a->strings)
        return -1;
    a->n = n;
    for (size_t i = 0; i < n; i++) {
        a->strings[i].data = ocs_mem_dup_str(v[i], lens[i]);
        if (!a->strings[i].data)
            return -1;
        a->strings[i].len = lens[i];
    }
    return 0;
}

void ocs_bc_files_free(ocs_bc_file *f, size_t n)
{
    for (size_t i = 0; f && i < n; i++) {
        free(f[i].name);
        free(f[i].data);
    }
    free(f);
}

/* Where each blob goes when external: file index and offset. */
typedef struct placement {
    size_t file;
    uint64_t offset;
} placement;

static ocs_status place_external(const ocs_bc_region_spec *rs, size_t n, const char *stem, placement **pl,
                                 ocs_bc_file **files, size_t *n_files, ocs_err *err)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += rs[i].n_blobs;
    *pl = calloc(total ? total : 1, sizeof **pl);
    if (!*pl)
        return nomem(err);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t b = 0; b < rs[i].n_blobs; b++, k++) {
            const ocs_bc_blob_out *bo = &rs[i].blobs[b];
            size_t f = 0;
            while (f < *n_files && strcmp((*files)[f].name + strlen(stem) + 1, bo->backend) != 0)
                f++;
            if (f == *n_files) {
                ocs_bc_file *g = realloc(*files, (*n_files + 1) * sizeof *g);
                if (!g)
                    return nomem(err);
                *files = g;
                memset(&g[f], 0, sizeof g[f]);
                (*n_files)++;
                /* the name is "<stem>.<backend>" while placing, ".bin" is added after */
                if (!(g[f].name = str_printf("%s.%s", stem, bo->backend)))
                    return nomem(err);
            }
            ocs_bc_file *fl = &(*files)[f];
            size_t off = (fl->len + 4095) / 4096 * 4096;
            if (bo->len > SIZE_MAX - off)
                return nomem(err);
            unsigned char *d = realloc(fl->data, off + bo->len ? off + bo->len : 1);
            if (!d)
                return nomem(err);
            memset(d + fl->len, 0, off - fl->len);
            memcpy(d + off, bo->bytes, bo->len);
            fl->data = d;
            fl->len = off + bo->len;
            (*pl)[k].file = f;
            (*pl)[k].offset = off;
        }
    for (size_t f = 0; f < *n_files; f++) {
        char *nm = str_printf("%s.bin", (*files)[f].name);
        if (!nm)
            return nomem(err);
        free((*files)[f].name);
        (*files)[f].name = nm;
    }
    return OCS_OK;
}

/* The value_info entry of g called name, or NULL. */
static ocs_value_info *find_vi(ocs_graph *g, const char *name)
{
    for (size_t i = 0; i < g->n_value_info; i++)
        if (!strcmp(g->value_info[i].name, name))
            return &g->value_info[i];
    return NULL;
}

static ocs_status add_typed(ocs_graph *g, int input, const char *name, const ocs_tensor_type *given,
                            const ocs_graph *outer, ocs_err *err)
{
    ocs_tensor_type t;
    if (given && given->dtype != OCS_UNDEFINED)
        t = *given;
    else
        ocs_graph_value_type(outer, name, &t);
    int rank = t.rank;
    return input ? ocs_graph_add_input(g, name, t.dtype, rank, t.dims, err)
                 : ocs_graph_add_output(g, name, t.dtype, rank, t.dims, err);
}

/* Stable topological order of g's nodes (ties keep the original order). */
static ocs_status topo_sort(ocs_graph *g, ocs_err *err)
{
    size_t N = g->n_nodes;
    names *reads = calloc(N ? N : 1, sizeof *reads);
    unsigned char *placed = calloc(N ? N : 1, 1);
    ocs_node *out = malloc((N ? N : 1) * sizeof *out);
    names produced = {0}, avail = {0};
    ocs_status st = OCS_OK;
    if (!reads || !placed || !out) {
        st = nomem(err);
        goto done;
    }
    for (size_t i = 0; i < N && st == OCS_OK; i++)
        if (node_reads(&g->nodes[i], &reads[i]))
            st = nomem(err);
    for (size_t i = 0; i < N && st == OCS_OK; i++)
        for (size_t k = 0; k < g->nodes[i].n_outputs; k++)
            if (g->nodes[i].outputs[k][0] && names_add(&produced, g->nodes[i].outputs[k]) < 0)
                st = nomem(err);
    size_t n_out = 0;
    while (st == OCS_OK && n_out < N) {
        size_t pick = SIZE_MAX;
        for (size_t i = 0; i < N && pick == SIZE_MAX; i++) {
            if (placed[i])
                continue;
            int ready = 1;
            for (size_t k = 0; k < reads[i].n && ready; k++)
                ready = !names_has(&produced, reads[i].v[k]) || names_has(&avail, reads[i].v[k]);
            if (ready)
                pick = i;
        }
        if (pick == SIZE_MAX) {
            st = ocs_fail(err, OCS_ERR_INVALID, "the encoded graph has a cycle");
            break;
        }
        placed[pick] = 1;
        out[n_out++] = g->nodes[pick];
        for (size_t k = 0; k < g->nodes[pick].n_outputs; k++)
            if (g->nodes[pick].outputs[k][0] && names_add(&avail, g->nodes[pick].outputs[k]) < 0)
                st = nomem(err);
    }
    if (st == OCS_OK) {
        memcpy(g->nodes, out, N * sizeof *out);
    }
done:
    for (size_t i = 0; reads && i < N; i++)
        names_free(&reads[i]);
    free(reads);
    free(placed);
    free(out);
    names_free(&produced);
    names_free(&avail);
    return st;
}

static ocs_status encode_function(ocs_model *m, const ocs_bc_region_spec *rs, size_t n, const placement *pl,
                                  const ocs_bc_file *files, ocs_err *err)
{
    ocs_graph *g = m->graph;
    const size_t N = g->n_nodes;
    int *owner = malloc((N ? N : 1) * sizeof *owner);
    if (!owner)
        return nomem(err);
    for (size_t i = 0; i < N; i++)
        owner[i] = -1;
    for (size_t r = 0; r < n; r++)
        for (size_t k = 0; k < rs[r].n_nodes; k++)
            owner[rs[r].nodes[k]] = (int)r;
    ocs_status st = OCS_OK;
    ocs_graph **fallbacks = calloc(n ? n : 1, sizeof *fallbacks);
    char ***ins = calloc(n ? n : 1, sizeof *ins), ***outs = calloc(n ? n : 1, sizeof *outs);
    size_t *n_ins = calloc(n ? n : 1, sizeof *n_ins), *n_outs = calloc(n ? n : 1, sizeof *n_outs);
    if (!fallbacks || !ins || !outs || !n_ins || !n_outs) {
        st = nomem(err);
        goto done;
    }
    /* interfaces first, while the graph is whole */
    for (size_t r = 0; r < n && st == OCS_OK; r++)
        st = ocs_bc_interface(g, rs[r].n_nodes, rs[r].nodes, &ins[r], &n_ins[r], &outs[r], &n_outs[r], err);
    for (size_t r = 0; r < n && st == OCS_OK; r++) {
        st = ocs_graph_new(rs[r].name, &fallbacks[r], err);
        for (size_t k = 0; k < n_ins[r] && st == OCS_OK; k++)
            st = add_typed(fallbacks[r], 1, ins[r][k], rs[r].input_types ? &rs[r].input_types[k] : NULL, g, err);
        for (size_t k = 0; k < n_outs[r] && st == OCS_OK; k++)
            st = add_typed(fallbacks[r], 0, outs[r][k], rs[r].output_types ? &rs[r].output_types[k] : NULL, g, err);
    }
    if (st != OCS_OK)
        goto done;
    /* move the nodes */
    size_t kept = 0;
    for (size_t i = 0; i < N && st == OCS_OK; i++) {
        if (owner[i] < 0) {
            g->nodes[kept++] = g->nodes[i];
            continue;
        }
        ocs_graph *fb = fallbacks[owner[i]];
        ocs_node *grown = realloc(fb->nodes, (fb->n_nodes + 1) * sizeof *grown);
        if (!grown) {
            st = nomem(err);
            /* keep the node where it is so it is freed with the graph */
            g->nodes[kept++] = g->nodes[i];
            continue;
        }
        fb->nodes = grown;
        grown[fb->n_nodes++] = g->nodes[i];
        /* node metadata that names a scope does not belong in a fallback */
        ocs_node *moved = &grown[fb->n_nodes - 1];
        for (size_t k = 0; k < moved->n_meta; k++)
            if (!strcmp(moved->meta[k].key, OCS_BC_SCOPE_KEY)) {
                free(moved->meta[k].key);
                free(moved->meta[k].value);
                moved->meta[k] = moved->meta[--moved->n_meta];
                break;
            }
    }
    g->n_nodes = kept;
    if (st != OCS_OK)
        goto done;
    /* value_info of values now inside a fallback moves with them */
    for (size_t r = 0; r < n && st == OCS_OK; r++) {
        ocs_graph *fb = fallbacks[r];
        for (size_t i = 0; i < fb->n_nodes && st == OCS_OK; i++)
            for (size_t k = 0; k < fb->nodes[i].n_outputs && st == OCS_OK; k++) {
                const char *o = fb->nodes[i].outputs[k];
                ocs_value_info *vi = o[0] ? find_vi(g, o) : NULL;
                int is_out = 0;
                for (size_t j = 0; j < n_outs[r]; j++)
                    is_out |= !strcmp(outs[r][j], o);
                if (!vi || is_out)
                    continue;
                ocs_value_info *grown = realloc(fb->value_info, (fb->n_value_info + 1) * sizeof *grown);
                if (!grown) {
                    st = nomem(err);
                    break;
                }
                fb->value_info = grown;
                grown[fb->n_value_info++] = *vi;
                *vi = g->value_info[--g->n_value_info];
            }
    }
    /* the BackendContext nodes */
    size_t k_blob = 0;
    for (size_t r = 0; r < n && st == OCS_OK; r++) {
        ocs_node *nd = NULL;
        st = ocs_graph_add_node(g, OCS_BC_OP, OCS_PREVIEW_DOMAIN, rs[r].name, n_ins[r], (const char *const *)ins[r],
                                n_outs[r], (const char *const *)outs[r], &nd, err);
        if (st != OCS_OK)
            break;
        st = ocs_node_set_graph(nd, "fallback", fallbacks[r], err);
        fallbacks[r] = NULL;
        if (st != OCS_OK || !rs[r].n_blobs) {
            k_blob += rs[r].n_blobs;
            continue;
        }
        size_t nb = rs[r].n_blobs;
        const void **ids = calloc(nb, sizeof *ids), **cps = calloc(nb, sizeof *cps), **shas = calloc(nb, sizeof *shas),
                   **data = calloc(nb, sizeof *data), **locs = calloc(nb, sizeof *locs);
        size_t *l_ids = calloc(nb, sizeof *l_ids), *l_cps = calloc(nb, sizeof *l_cps),
               *l_shas = calloc(nb, sizeof *l_shas), *l_data = calloc(nb, sizeof *l_data),
               *l_locs = calloc(nb, sizeof *l_locs);
        int64_t *offs = calloc(nb, sizeof *offs), *lens = calloc(nb, sizeof *lens);
        char (*hex)[65] = calloc(nb, sizeof *hex);
        int ok = ids && cps && shas && data && locs && l_ids && l_cps && l_shas && l_data && l_locs && offs && lens && hex;
        for (size_t b = 0; ok && b < nb; b++, k_blob++) {
            const ocs_bc_blob_out *bo = &rs[r].blobs[b];
            ocs_sha256_hex(bo->bytes, bo->len, hex[b]);
            ids[b] = bo->backend;
            l_ids[b] = strlen(bo->backend);
            cps[b] = bo->compat;
            l_cps[b] = strlen(bo->compat);
            shas[b] = hex[b];
            l_shas[b] = 64;
            if (pl) {
                data[b] = "";
                locs[b] = files[pl[k_blob].file].name;
                l_locs[b] = strlen(files[pl[k_blob].file].name);
                offs[b] = (int64_t)pl[k_blob].offset;
                lens[b] = (int64_t)bo->len;
            } else {
                data[b] = bo->bytes;
                l_data[b] = bo->len;
                locs[b] = "";
                lens[b] = -1;
            }
        }
        nd = &g->nodes[g->n_nodes - 1];
        if (!ok || attr_strings(nd, "backend_ids", nb, ids, l_ids) || attr_strings(nd, "compatibility", nb, cps, l_cps) ||
            attr_strings(nd, "sha256", nb, shas, l_shas) || (!pl && attr_strings(nd, "blobs", nb, data, l_data)) ||
            (pl && attr_strings(nd, "locations", nb, locs, l_locs)))
            st = nomem(err);
        if (st == OCS_OK && pl)
            st = ocs_node_set_ints(nd, "offsets", nb, offs, err);
        if (st == OCS_OK && pl)
            st = ocs_node_set_ints(nd, "lengths", nb, lens, err);
        free(ids);
        free(cps);
        free(shas);
        free(data);
        free(locs);
        free(l_ids);
        free(l_cps);
        free(l_shas);
        free(l_data);
        free(l_locs);
        free(offs);
        free(lens);
        free(hex);
    }
    if (st == OCS_OK)
        st = topo_sort(g, err);
    if (st == OCS_OK && ocs_model_opset(m, OCS_PREVIEW_DOMAIN) < 1)
        st = ocs_model_import(m, OCS_PREVIEW_DOMAIN, 1, err);
done:
    for (size_t r = 0; r < n; r++) {
        if (fallbacks)
            ocs_graph_free(fallbacks[r]);
        if (ins && ins[r])
            ocs_str_array_free(ins[r], n_ins[r]);
        if (outs && outs[r])
            ocs_str_array_free(outs[r], n_outs[r]);
    }
    free(fallbacks);
    free(ins);
    free(outs);
    free(n_ins);
    free(n_outs);
    free(owner);
    return st;
}

static ocs_status encode_scopes(ocs_model *m, const ocs_bc_region_spec *rs, size_t n, const placement *pl,
                                const ocs_bc_file *files, ocs_err *err)
{
    ocs_graph *g = m->graph;
    size_t k_blob = 0;
    for (size_t r = 0; r < n; r++) {
        char **ins = NULL, **outs = NULL;
        size_t ni = 0, no = 0;
        /* the scope must be a valid region */
        ocs_status st = ocs_bc_interface(g, rs[r].n_nodes, rs[r].nodes, &ins, &ni, &outs, &no, err);
        if (st != OCS_OK)
            return ocs_err_prefix(err, st, "region '%s': ", rs[r].name);
        ocs_str_array_free(ins, ni);
        ocs_str_array_free(outs, no);
        for (size_t k = 0; k < rs[r].n_nodes; k++) {
            ocs_node *nd = &g->nodes[rs[r].nodes[k]];
            if (meta_set(&nd->meta, &nd->n_meta, OCS_BC_SCOPE_KEY, rs[r].name))
                return nomem(err);
        }
        for (size_t b = 0; b < rs[r].n_blobs; b++, k_blob++) {
            const ocs_bc_blob_out *bo = &rs[r].blobs[b];
            char hex[65];
            ocs_sha256_hex(bo->bytes, bo->len, hex);
            char *v = NULL;
            size_t len = 0, cap = 0;
            int rc = pct_append(&v, &len, &cap, bo->backend);
            /* the separators themselves are written raw */
            if (!rc) {
                char *key = str_printf("%s%s.%zu", OCS_BC_BLOB_PREFIX, rs[r].name, b);
                char *cp = NULL;
                size_t cl = 0, cc = 0;
                rc = !key || pct_append(&cp, &cl, &cc, bo->compat ? bo->compat : "");
                char *loc = NULL;
                size_t ll = 0, lc = 0;
                if (!rc && pl)
                    rc = pct_append(&loc, &ll, &lc, files[pl[k_blob].file].name);
                char *data = !rc && !pl ? b64_encode(bo->bytes, bo->len) : NULL;
                if (!rc && !pl && !data)
                    rc = 1;
                char *value = NULL;
                if (!rc)
                    value = pl ? str_printf("backend=%s;compatibility=%s;sha256=%s;location=%s;offset=%llu;length=%zu",
                                            v, cp ? cp : "", hex, loc, (unsigned long long)pl[k_blob].offset, bo->len)
                               : str_printf("backend=%s;compatibility=%s;sha256=%s;data=%s", v, cp ? cp : "", hex,
                                            data);
                if (!rc && (!value || meta_set(&m->meta, &m->n_meta, key, value)))
                    rc = 1;
                free(key);
                free(cp);
                free(loc);
                free(data);
                free(value);
            }
            free(v);
            if (rc)
                return nomem(err);
        }
    }
    return OCS_OK;
}

ocs_status ocs_bc_encode(const ocs_model *m, const ocs_bc_region_spec *regions, size_t n, ocs_bc_encoding enc,
                         const char *external_stem, ocs_model **out, ocs_bc_file **files, size_t *n_files,
                         ocs_err *err)
{
    *out = NULL;
    *files = NULL;
    *n_files = 0;
    /* every node belongs to at most one region, and every name is a usable scope */
    const size_t N = m->graph->n_nodes;
    unsigned char *used = calloc(N ? N : 1, 1);
    if (!used)
        return nomem(err);
    for (size_t r = 0; r < n; r++) {
        const char *nm = regions[r].name;
        int ok = nm && nm[0];
        for (const char *c = nm; ok && *c; c++)
            ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '_' ||
                 *c == '-' || *c == '.' || *c == '/';
        if (!ok) {
            free(used);
            return ocs_fail(err, OCS_ERR_INVALID, "region name '%s' must be [A-Za-z0-9_./-]+", nm ? nm : "");
        }
        for (size_t k = 0; k < regions[r].n_nodes; k++) {
            size_t i = regions[r].nodes[k];
            if (i >= N || used[i]) {
                free(used);
                return ocs_fail(err, OCS_ERR_INVALID, "region '%s': node %zu is out of range or in another region",
                                nm, i);
            }
            used[i] = 1;
        }
    }
    free(used);
    void *bytes = NULL;
    size_t len = 0;
    ocs_model *copy = NULL;
    placement *pl = NULL;
    ocs_status st = ocs_model_save_memory(m, &bytes, &len, err);
    if (st == OCS_OK)
        st = ocs_model_load_memory(bytes, len, m->dir && m->dir[0] ? m->dir : NULL, &copy, err);
    free(bytes);
    if (st == OCS_OK && external_stem)
        st = place_external(regions, n, external_stem, &pl, files, n_files, err);
    if (st == OCS_OK)
        st = enc == OCS_BC_SCOPES ? encode_scopes(copy, regions, n, pl, *files, err)
                                  : encode_function(copy, regions, n, pl, *files, err);
    free(pl);
    if (st != OCS_OK) {
        ocs_model_free(copy);
        ocs_bc_files_free(*files, *n_files);
        *files = NULL;
        *n_files = 0;
        return st;
    }
    *out = copy;
    return OCS_OK;
}

/* A deep copy of g, through the protobuf form (which carries every attribute kind). */
static ocs_status copy_graph(const ocs_graph *g, ocs_graph **out, ocs_err *err)
{
    *out = NULL;
    ocs_model *holder = NULL, *copy = NULL;
    void *bytes = NULL;
    size_t len = 0;
    ocs_status st = ocs_model_new(&holder, err);
    if (st != OCS_OK)
        return st;
    ocs_graph *empty = holder->graph;
    holder->graph = (ocs_graph *)g;
    st = ocs_model_save_memory(holder, &bytes, &len, err);
    holder->graph = empty;
    ocs_model_free(holder);
    if (st == OCS_OK)
        st = ocs_model_load_memory(bytes, len, NULL, &copy, err);
    free(bytes);
    if (st != OCS_OK)
        return st;
    *out = copy->graph;
    copy->graph = NULL;
    ocs_model_free(copy);
    return OCS_OK;
}

/* The function of node n (region name rname): the fallback's nodes, its initializers as Constants. */
static ocs_status local_function(const ocs_model *m, const ocs_graph *fb, const char *rname, ocs_function *f,
                                 ocs_err *err)
{
    memset(f, 0, sizeof *f);
    ocs_graph *g = NULL;
    ocs_status st = copy_graph(fb, &g, err);
    if (st != OCS_OK)
        return st;
    for (size_t i = 0; i < g->n_inits && st == OCS_OK; i++) {
        ocs_node *k = NULL;
        const char *outs[1] = {g->inits[i].name};
        st = ocs_graph_add_node(g, "Constant", "", NULL, 0, NULL, 1, outs, &k, err);
        if (st == OCS_OK)
            st = ocs_node_set_tensor(k, "value", g->inits[i].tensor, err);
    }
    if (st != OCS_OK) {
        ocs_graph_free(g);
        return st;
    }
    f->name = ocs_str_dup(OCS_BC_OP);
    f->domain = ocs_str_dup(OCS_PREVIEW_DOMAIN);
    f->overload = ocs_str_dup(rname);
    f->doc = ocs_str_dup("The region's fallback, for runtimes without a BackendContext implementation.");
    f->inputs = calloc(g->n_inputs + 1, sizeof *f->inputs);
    f->outputs = calloc(g->n_outputs + 1, sizeof *f->outputs);
    f->opsets = calloc(m->n_opsets + 1, sizeof *f->opsets);
    int ok = f->name && f->domain && f->overload && f->doc && f->inputs && f->outputs && f->opsets;
    for (size_t i = 0; ok && i < g->n_inputs; i++)
        ok = (f->inputs[f->n_inputs++] = ocs_str_dup(g->inputs[i].name)) != NULL;
    for (size_t i = 0; ok && i < g->n_outputs; i++)
        ok = (f->outputs[f->n_outputs++] = ocs_str_dup(g->outputs[i].name)) != NULL;
    for (size_t i = 0; ok && i < m->n_opsets; i++) {
        f->opsets[i].version = m->opsets[i].version;
        ok = (f->opsets[f->n_opsets++].domain = ocs_str_dup(m->opsets[i].domain)) != NULL;
    }
    if (ok) {
        /* the Constants made from initializers come last in g: move them first */
        size_t nc = g->n_inits, nn = g->n_nodes;
        f->nodes = malloc((nn ? nn : 1) * sizeof *f->nodes);
        ok = f->nodes != NULL;
        if (ok) {
            memcpy(f->nodes, g->nodes + (nn - nc), nc * sizeof *f->nodes);
            memcpy(f->nodes + nc, g->nodes, (nn - nc) * sizeof *f->nodes);
            f->n_nodes = nn;
            g->n_nodes = 0;
        }
    }
    ocs_graph_free(g);
    if (!ok) {
        ocs_function_clear(f);
        return nomem(err);
    }
    return OCS_OK;
}

ocs_status ocs_bc_add_local_functions(ocs_model *m, ocs_err *err)
{
    ocs_graph *g = m->graph;
    for (size_t i = 0; i < g->n_nodes; i++) {
        ocs_node *n = &g->nodes[i];
        if (strcmp(n->domain, OCS_PREVIEW_DOMAIN) || strcmp(n->op_type, OCS_BC_OP))
            continue;
        const ocs_attr *fa = ocs_node_attr(n, "fallback");
        if (!fa || fa->type != OCS_ATTR_GRAPH || !fa->g)
            return ocs_fail(err, OCS_ERR_INVALID, "BackendContext node %zu has no fallback graph", i);
        char *rname = n->name[0] ? ocs_str_dup(n->name) : str_printf("region%zu", i);
        if (!rname)
            return nomem(err);
        if (ocs_model_function(m, OCS_PREVIEW_DOMAIN, OCS_BC_OP, rname)) {
            ocs_status st = ocs_fail(err, OCS_ERR_INVALID, "the model already has a function BackendContext:%s", rname);
            free(rname);
            return st;
        }
        ocs_function f;
        ocs_status st = local_function(m, fa->g, rname, &f, err);
        if (st == OCS_OK) {
            ocs_function *grown = realloc(m->functions, (m->n_functions + 1) * sizeof *grown);
            if (!grown) {
                ocs_function_clear(&f);
                st = nomem(err);
            } else {
                m->functions = grown;
                grown[m->n_functions++] = f;
                free(n->overload);
                n->overload = rname;
                rname = NULL;
            }
        }
        free(rname);
        if (st != OCS_OK)
            return st;
    }
    return OCS_OK;
}

ocs_status ocs_bc_save(const ocs_model *m, const char *path, const ocs_bc_file *files, size_t n_files, ocs_err *err)
{
    char *dir = ocs_path_dirname(path);
    if (!dir)
        return nomem(err);
    ocs_status st = OCS_OK;
    for (size_t i = 0; i < n_files && st == OCS_OK; i++) {
        char *p = str_printf("%s/%s", dir, files[i].name);
        if (!p) {
            st = nomem(err);
            break;
        }
        st = ocs_file_write_atomic(p, files[i].data, files[i].len, err);
        free(p);
    }
    free(dir);
    if (st == OCS_OK)
        st = ocs_model_save_file(m, path, err);
    return st;
}
