/*
 * conformance/cases/backend_context.c - BackendContext cases: small models
 * (a MatMul+Relu region, a PagedAttention decode region, an MoE region)
 * compiled for the cpu backend and encoded as a BackendContext node
 * (function) or as metadata scopes.  Each case checks the reason the cpu
 * backend's selection logs for the region and that the outputs equal the
 * reference's, which always runs the fallback.  Rejections are provoked by
 * editing the compiled blob before it is encoded, or the files beside the
 * model.  The models are built whole, so these cases are not exported.
 */
#include "cases.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ocs/blob.h"
#include "ocs/build.h"
#include "ocs/hooks.h"
#include "ocs/schema.h"
#include "../compile.h"

enum { M_MLP = 0, M_PA = 1, M_MOE = 2 };
enum { V_EMBED = 0, V_EXTERNAL, V_INCOMPATIBLE, V_CHECKSUM, V_MISSING, V_UNSAFE, V_MALFORMED, V_NO_BACKEND };

/* arg = model + 4 * variant + 64 * encoding */
#define BC_ARG(model, variant, enc) ((model) + 4 * (variant) + 64 * (enc))

static ocs_status add_weight(ocs_model *m, ocs_rng *r, const char *name, int rank, const int64_t *dims, double scale,
                             ocs_err *err)
{
    ocs_tensor *t = NULL;
    ocs_status st = ocs_tensor_new(OCS_FLOAT, rank, dims, &t, err);
    for (size_t i = 0; st == OCS_OK && i < t->numel; i++)
        ((float *)t->data)[i] = (float)((ocs_rng_uniform(r) * 2 - 1) * scale);
    if (st == OCS_OK)
        st = ocs_graph_add_initializer(m->graph, name, t, err);
    ocs_tensor_free(t);
    return st;
}

#define L(...) sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *), (const char *const[]){__VA_ARGS__}

static ocs_status node(ocs_model *m, const char *op, const char *domain, const char *name, size_t ni,
                       const char *const *in, size_t no, const char *const *out, ocs_node **n, ocs_err *err)
{
    ocs_node *tmp = NULL;
    return ocs_graph_add_node(m->graph, op, domain, name, ni, in, no, out, n ? n : &tmp, err);
}

/* The original model (graph inputs in the case's input order) and its region spec. */
static ocs_status build_original(const ocs_case *c, int which, ocs_model **out, const char **spec, ocs_err *err)
{
    ocs_model *m = NULL;
    ocs_rng r;
    ocs_rng_init(&r, c->seed ^ 0x5EEDBC00ull);
    ocs_status st = ocs_model_new(&m, err);
    for (size_t i = 0; i < c->n_inputs && st == OCS_OK; i++)
        st = ocs_graph_add_input(m->graph, c->inputs[i].name, c->inputs[i].dtype, c->inputs[i].rank,
                                 c->inputs[i].dims, err);
    for (size_t j = 0; j < c->n_outputs && st == OCS_OK; j++)
        st = ocs_graph_add_output(m->graph, c->outputs[j], c->output_types[j], -1, NULL, err);
    if (which == M_MLP) {
        *spec = "mlp=mm1,act,mm2";
        if (st == OCS_OK)
            st = ocs_model_import(m, "", 17, err);
        if (st == OCS_OK)
            st = add_weight(m, &r, "W1", 2, OCS_DIMS(8, 16), 0.3, err);
        if (st == OCS_OK)
            st = add_weight(m, &r, "W2", 2, OCS_DIMS(16, 8), 0.3, err);
        if (st == OCS_OK)
            st = node(m, "MatMul", "", "mm1", L("x", "W1"), L("h"), NULL, err);
        if (st == OCS_OK)
            st = node(m, "Relu", "", "act", L("h"), L("a"), NULL, err);
        if (st == OCS_OK)
            st = node(m, "MatMul", "", "mm2", L("a", "W2"), L("z"), NULL, err);
        if (st == OCS_OK)
            st = node(m, "Abs", "", "post", L("z"), L("y"), NULL, err);
    } else if (which == M_PA) {
        *spec = "attn=q_proj,k_proj,v_proj,pa,o_proj";
        ocs_node *pa = NULL;
        if (st == OCS_OK)
            st = ocs_model_import(m, "", 24, err);
        if (st == OCS_OK)
            st = ocs_model_import(m, OCS_PREVIEW_DOMAIN, 1, err);
        if (st == OCS_OK)
            st = add_weight(m, &r, "Wq", 2, OCS_DIMS(16, 16), 0.3, err);
        if (st == OCS_OK)
            st = add_weight(m, &r, "Wk", 2, OCS_DIMS(16, 8), 0.3, err);
        if (st == OCS_OK)
            st = add_weight(m, &r, "Wv", 2, OCS_DIMS(16, 8), 0.3, err);
        if (st == OCS_OK)
            st = add_weight(m, &r, "Wo", 2, OCS_DIMS(16, 16), 0.3, err);
        if (st == OCS_OK)
            st = node(m, "MatMul", "", "q_proj", L("x", "Wq"), L("q"), NULL, err);
        if (st == OCS_OK)
            st = node(m, "MatMul", "", "k_proj", L("x", "Wk"), L("k"), NULL, err);
        if (st == OCS_OK)
            st = node(m, "MatMul", "", "v_proj", L("x", "Wv"), L("v"), NULL, err);
        if (st == OCS_OK)
            st = node(m, "PagedAttention", OCS_PREVIEW_DOMAIN, "pa",
                      L("q", "k", "v", "key_cache", "value_cache", "cu", "past", "block_table"),
                      L("o", "key_cache_out", "value_cache_out"), &pa, err);
        if (st == OCS_OK)
            st = ocs_node_set_int(pa, "num_heads", 2, err);
        if (st == OCS_OK)
            st = ocs_node_set_int(pa, "kv_num_heads", 1, err);
        if (st == OCS_OK)
            st = node(m, "MatMul", "", "o_proj", L("o", "Wo"), L("y"), NULL, err);
    } else {
        *spec = "moe=router,moe";
        ocs_node *moe = NULL;
        ocs_graph *expert = NULL;
        if (st == OCS_OK)
            st = ocs_model_import(m, "", 24, err);
        if (st == OCS_OK)
            st = ocs_model_import(m, OCS_PREVIEW_DOMAIN, 1, err);
        if (st == OCS_OK)
            st = add_weight(m, &r, "Wr", 2, OCS_DIMS(8, 4), 0.5, err);
        if (st == OCS_OK)
            st = add_weight(m, &r, "W1", 3, OCS_DIMS(4, 16, 8), 0.3, err);
        if (st == OCS_OK)
            st = add_weight(m, &r, "W2", 3, OCS_DIMS(4, 8, 16), 0.3, err);
        if (st == OCS_OK)
            st = node(m, "MatMul", "", "router", L("x", "Wr"), L("logits"), NULL, err);
        if (st == OCS_OK)
            st = node(m, "MoE", OCS_PREVIEW_DOMAIN, "moe", L("x", "logits", "W1", "W2"), L("mo"), &moe, err);
        if (st == OCS_OK)
            st = ocs_node_set_int(moe, "k", 2, err);
        if (st == OCS_OK)
            st = ocs_moe_expert_ffn(OCS_FLOAT, OCS_MOE_ACT_RELU, 0, &expert, err);
        if (st == OCS_OK)
            st = ocs_node_set_graph(moe, "expert", expert, err);
        if (st == OCS_OK)
            st = node(m, "Add", "", "residual", L("mo", "x"), L("y"), NULL, err);
    }
    if (st != OCS_OK) {
        ocs_model_free(m);
        return st;
    }
    *out = m;
    return OCS_OK;
}

/* Replaces blob bo with a container rewritten from its parts, compat edited and/or its bytes edited. */
static ocs_status edit_blob(ocs_bc_blob_out *bo, int variant, ocs_err *err)
{
    unsigned char *bytes = malloc(bo->len ? bo->len : 1);
    if (!bytes)
        return ocs_fail(err, OCS_ERR_NOMEM, "out of memory");
    memcpy(bytes, bo->bytes, bo->len);
    size_t len = bo->len;
    if (variant == V_INCOMPATIBLE) {
        ocs_blob b;
        ocs_status st = ocs_blob_parse(bytes, len, &b, err);
        const char *isa = strstr(bo->compat, "isa=");
        if (st == OCS_OK && !isa)
            st = ocs_fail(err, OCS_ERR_INVALID, "the cpu compatibility string '%s' names no isa", bo->compat);
        char *compat = st == OCS_OK ? malloc(strlen(bo->compat) + 16) : NULL;
        if (st == OCS_OK && !compat)
            st = ocs_fail(err, OCS_ERR_NOMEM, "out of memory");
        void *rewritten = NULL;
        size_t rlen = 0;
        if (st == OCS_OK) {
            /* a feature this machine does not have */
            sprintf(compat, "%.*sisa=sve2+%s", (int)(isa - bo->compat), bo->compat, isa + 4);
            st = ocs_blob_write("cpu", compat, b.payload, b.payload_len, &rewritten, &rlen, err);
        }
        free(bytes);
        if (st != OCS_OK) {
            free(compat);
            return st;
        }
        free((void *)bo->compat);
        free((void *)bo->bytes);
        bo->compat = compat;
        bo->bytes = rewritten;
        bo->len = rlen;
        return OCS_OK;
    }
    if (variant == V_CHECKSUM)
        bytes[len - 1] ^= 1;            /* the container's own SHA-256 no longer matches */
    else if (variant == V_MALFORMED)
        bytes[1] = 'X';                 /* wrong magic */
    else if (variant == V_NO_BACKEND)
        bo->backend = "nosuch";         /* declared for a backend no session has */
    free((void *)bo->bytes);
    bo->bytes = bytes;
    bo->len = len;
    return OCS_OK;
}

static ocs_status write_files(const char *dir, const ocs_cli_compiled *cc, ocs_err *err)
{
    ocs_status st = OCS_OK;
    for (size_t i = 0; i < cc->n_files && st == OCS_OK; i++) {
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", dir, cc->files[i].name);
        st = ocs_write_atomic(path, cc->files[i].data, cc->files[i].len, err);
    }
    return st;
}

/* Moves the blob files out of the model's folder and links them back: a symbolic link leaving the folder. */
static ocs_status escape_files(const char *root, const char *dir, const ocs_cli_compiled *cc, ocs_err *err)
{
    ocs_status st = OCS_OK;
    for (size_t i = 0; i < cc->n_files && st == OCS_OK; i++) {
        char outside[4400], link[4400];
        snprintf(outside, sizeof outside, "%s/%s", root, cc->files[i].name);
        snprintf(link, sizeof link, "%s/%s", dir, cc->files[i].name);
        st = ocs_write_atomic(outside, cc->files[i].data, cc->files[i].len, err);
        if (st == OCS_OK && symlink(outside, link) != 0)
            st = ocs_fail(err, OCS_ERR_IO, "cannot link %s to %s", link, outside);
    }
    return st;
}

static ocs_status build_compiled(const ocs_case *c, ocs_case_inst *ci, ocs_err *err)
{
    int which = c->model_arg % 4, variant = (c->model_arg / 4) % 16;
    ocs_bc_encoding enc = c->model_arg / 64 ? OCS_BC_SCOPES : OCS_BC_FUNCTION;
    int external = variant == V_EXTERNAL || variant == V_MISSING || variant == V_UNSAFE;
    ocs_model *orig = NULL;
    const char *spec = NULL;
    ocs_backend **bes = NULL;
    size_t nb = 0;
    ocs_cli_blobs blobs;
    ocs_cli_compiled cc;
    memset(&blobs, 0, sizeof blobs);
    memset(&cc, 0, sizeof cc);
    ocs_status st = build_original(c, which, &orig, &spec, err);
    if (st == OCS_OK)
        st = ocs_cli_bc_open("cpu", &bes, &nb, NULL, err);
    if (st == OCS_OK && nb == 0)
        st = ocs_fail(err, OCS_ERR_UNSUPPORTED, "the cpu backend is not present to compile the region");
    if (st == OCS_OK)
        st = ocs_cli_bc_compile_regions(orig, bes, nb, NULL, &spec, 1, &blobs, NULL, err);
    if (st == OCS_OK && (blobs.n_regions != 1 || blobs.specs[0].n_blobs != 1))
        st = ocs_fail(err, OCS_ERR_UNSUPPORTED, "the cpu backend made %zu blobs for %zu regions; want one",
                      blobs.n_blobs, blobs.n_regions);
    if (st == OCS_OK && variant != V_EMBED && variant != V_EXTERNAL)
        st = edit_blob(&blobs.blobs[0][0], variant, err);
    if (st == OCS_OK)
        st = ocs_cli_bc_encode(&blobs, enc, external ? "blobs" : NULL, &cc, err);
    char root[4096] = "", dir[4200] = "";
    if (st == OCS_OK && external) {
        snprintf(root, sizeof root, "%s/ocs-bc-case-XXXXXX", ocs_temp_base());
        if (!mkdtemp(root)) {
            st = ocs_fail(err, OCS_ERR_IO, "cannot create a temporary folder under %s", ocs_temp_base());
            root[0] = '\0';
        } else if (!(ci->tmpdir = strdup(root))) {
            st = ocs_fail(err, OCS_ERR_NOMEM, "out of memory");
        }
        snprintf(dir, sizeof dir, "%s/model", root);
        if (st == OCS_OK)
            st = ocs_path_mkdirs(dir, err);
        if (st == OCS_OK && variant == V_EXTERNAL)
            st = write_files(dir, &cc, err);
        else if (st == OCS_OK && variant == V_UNSAFE)
            st = escape_files(root, dir, &cc, err);
        /* V_MISSING: the files are never written */
        if (st == OCS_OK) {
            free(cc.model->dir);
            if (!(cc.model->dir = strdup(dir)))
                st = ocs_fail(err, OCS_ERR_NOMEM, "out of memory");
        }
    }
    if (st == OCS_OK) {
        ci->model = cc.model;
        cc.model = NULL;
    }
    ocs_cli_compiled_free(&cc);
    ocs_cli_blobs_free(&blobs);
    if (bes)
        ocs_cli_bc_close(bes, nb);
    ocs_model_free(orig);
    return st == OCS_OK ? OCS_OK : ocs_err_prefix(err, st, "case %s: ", c->name);
}

static const char *const model_names[3] = {"mlp", "paged_attention", "moe"};

static ocs_case *add_case(ocs_case_list *l, int which, int variant, ocs_bc_encoding enc, const char *tag,
                          const char *reason)
{
    ocs_case *c = ocs_case_add(l, "", OCS_BC_OP, 1, "backend_context_%s_%s_%s", model_names[which], tag,
                               ocs_bc_encoding_name(enc));
    if (!c)
        return NULL;
    ocs_case_set_model(c, build_compiled, BC_ARG(which, variant, (int)enc));
    ocs_case_expect_selection(c, "cpu", reason);
    if (which == M_MLP) {
        ocs_case_input_uniform(c, "x", OCS_FLOAT, 2, OCS_DIMS(4, 8), -1, 1);
    } else if (which == M_PA) {
        /* decode: 2 sequences of one new token each, past 5 and 9, blocks of 4 */
        ocs_case_input_uniform(c, "x", OCS_FLOAT, 2, OCS_DIMS(2, 16), -1, 1);
        ocs_case_input_uniform(c, "key_cache", OCS_FLOAT, 4, OCS_DIMS(8, 4, 1, 8), -1, 1);
        ocs_case_input_uniform(c, "value_cache", OCS_FLOAT, 4, OCS_DIMS(8, 4, 1, 8), -1, 1);
        ocs_case_input_ints(c, "cu", OCS_INT32, 1, OCS_DIMS(3), (const int64_t[]){0, 1, 2});
        ocs_case_input_ints(c, "past", OCS_INT32, 1, OCS_DIMS(2), (const int64_t[]){5, 9});
        ocs_case_input_ints(c, "block_table", OCS_INT32, 2, OCS_DIMS(2, 4),
                            (const int64_t[]){0, 1, -1, -1, 2, 3, 4, -1});
    } else {
        ocs_case_input_uniform(c, "x", OCS_FLOAT, 2, OCS_DIMS(4, 8), -1, 1);
    }
    ocs_case_output(c, "y", OCS_FLOAT);
    if (which == M_PA) {
        ocs_case_output(c, "key_cache_out", OCS_FLOAT);
        ocs_case_output(c, "value_cache_out", OCS_FLOAT);
    }
    return c;
}

void ocs_cases_backend_context(ocs_case_list *l)
{
    static const struct {
        int variant;
        const char *tag;
        ocs_bc_reason reason;
    } rejected[] = {
        {V_INCOMPATIBLE, "incompatible_isa", OCS_BC_INCOMPATIBLE},
        {V_CHECKSUM, "checksum_mismatch", OCS_BC_CHECKSUM_MISMATCH},
        {V_MISSING, "missing_file", OCS_BC_MISSING_FILE},
        {V_UNSAFE, "unsafe_symlink", OCS_BC_UNSAFE_PATH},
        {V_MALFORMED, "wrong_magic", OCS_BC_MALFORMED},
        {V_NO_BACKEND, "no_such_backend", OCS_BC_NO_SUCH_BACKEND},
    };
    for (int e = 0; e < 2; e++) {
        ocs_bc_encoding enc = e ? OCS_BC_SCOPES : OCS_BC_FUNCTION;
        for (int which = 0; which < 3; which++)
            add_case(l, which, V_EMBED, enc, "embedded", ocs_bc_reason_name(OCS_BC_ACCEPTED));
        add_case(l, M_MLP, V_EXTERNAL, enc, "external", ocs_bc_reason_name(OCS_BC_ACCEPTED));
        for (size_t k = 0; k < sizeof rejected / sizeof rejected[0]; k++)
            add_case(l, M_MLP, rejected[k].variant, enc, rejected[k].tag, ocs_bc_reason_name(rejected[k].reason));
    }
}
