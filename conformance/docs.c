/*
 * conformance/docs.c - `ocs docs [--check] DIR`: writes the Markdown page of
 * every operator schema (DIR/<Name>.md) and the index (DIR/README.md).
 *
 * For each schema the worked example (schema->example) becomes a model that
 * imports the default domain at 24 and the schema's domain at its version;
 * the reference executor runs it, and the page shows its inputs and the
 * outputs computed.  The function body is the schema's body expanded for the
 * example's node and input types, printed in ONNX's textual syntax.  Pages
 * are written atomically and only when their text changed.  With --check
 * nothing is written: the pages are generated in memory and compared with
 * the files, and every stale, missing or orphaned page is named (exit 1).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "ocs/build.h"
#include "ocs/docgen.h"
#include "ocs/exec.h"
#include "ocs/schema.h"
#include "ocs/text.h"

/* The default-domain opset the examples import. */
#define DOCS_ONNX_OPSET 24
#define DOCS_PATH_MAX 4096
#define INDEX_PAGE "README.md"

typedef struct page {
    char *file;     /* name inside DIR */
    char *text;
} page;

/* What running an example produced; released by example_clear. */
typedef struct example_run {
    ocs_model *model;            /* owns the example graph */
    const ocs_node *node;        /* the operator's node, in model */
    ocs_tensor_type *in_types;   /* one per node input */
    ocs_doc_tensor *inputs;
    size_t n_inputs;
    ocs_tensor **outputs;        /* one per graph output */
    ocs_doc_tensor *named_outputs;
    size_t n_outputs;
    char *node_text;
    char *body_text;
    const char *title;
} example_run;

static void example_clear(example_run *r)
{
    for (size_t i = 0; r->outputs && i < r->n_outputs; i++)
        ocs_tensor_free(r->outputs[i]);
    free(r->outputs);
    free(r->named_outputs);
    free(r->inputs);
    free(r->in_types);
    free(r->node_text);
    free(r->body_text);
    ocs_model_free(r->model);
    memset(r, 0, sizeof *r);
}

static const char *qualified(const ocs_schema *s, char *buf, size_t len)
{
    if (s->domain && s->domain[0])
        snprintf(buf, len, "%s.%s", s->domain, s->name ? s->name : "");
    else
        snprintf(buf, len, "%s", s->name ? s->name : "");
    return buf;
}

static const ocs_tensor *initializer(const ocs_graph *g, const char *name)
{
    for (size_t i = 0; i < g->n_inits; i++)
        if (!strcmp(g->inits[i].name, name))
            return g->inits[i].tensor;
    return NULL;
}


/* ---- opset imports of a body ------------------------------------------------------ */

typedef struct opsets {
    ocs_opset v[16];
    size_t n;
} opsets;

static ocs_status add_domain(opsets *o, const char *domain, int64_t version, ocs_err *err)
{
    for (size_t i = 0; i < o->n; i++)
        if (!strcmp(o->v[i].domain, domain))
            return OCS_OK;
    if (o->n == sizeof o->v / sizeof o->v[0])
        return ocs_fail(err, OCS_ERR_UNSUPPORTED, "function body uses more than %zu domains",
                        sizeof o->v / sizeof o->v[0]);
    o->v[o->n].domain = (char *)domain;
    o->v[o->n].version = version;
    o->n++;
    return OCS_OK;
}

/* Every domain the nodes of g (and of its subgraphs) use. */
static ocs_status collect_domains(const ocs_graph *g, const ocs_schema *s, opsets *o, int depth, ocs_err *err)
{
    if (depth > 100)
        return ocs_fail(err, OCS_ERR_UNSUPPORTED, "function body nests subgraphs deeper than 100 levels");
    for (size_t i = 0; i < g->n_nodes; i++) {
        const ocs_node *n = &g->nodes[i];
        const char *d = n->domain ? n->domain : "";
        ocs_status st = OCS_OK;
        if (d[0])
            st = add_domain(o, d, s->domain && !strcmp(d, s->domain) ? s->since_version : 1, err);
        for (size_t k = 0; k < n->n_attrs && st == OCS_OK; k++) {
            const ocs_attr *a = &n->attrs[k];
            if (a->type == OCS_ATTR_GRAPH && a->g)
                st = collect_domains(a->g, s, o, depth + 1, err);
            for (size_t j = 0; a->type == OCS_ATTR_GRAPHS && j < a->n && st == OCS_OK; j++)
                st = collect_domains(a->graphs[j], s, o, depth + 1, err);
        }
        if (st != OCS_OK)
            return st;
    }
    return OCS_OK;
}

/* ---- running the example ------------------------------------------------------------- */

/* The schema's body for the example's node, in textual syntax, into r->body_text. */
static ocs_status expand_body(const ocs_schema *s, example_run *r, ocs_err *err)
{
    const ocs_node *node = r->node;
    ocs_graph *body = NULL;
    ocs_status st = ocs_graph_new(s->name, &body, err);
    for (size_t k = 0; k < node->n_inputs && st == OCS_OK; k++) {
        const ocs_tensor_type *t = &r->in_types[k];
        if (node->inputs[k][0])
            st = ocs_graph_add_input(body, node->inputs[k], t->dtype, t->rank, t->dims, err);
    }
    if (st == OCS_OK)
        st = s->body(node, node->n_inputs, r->in_types, body, err);
    for (size_t k = 0; k < node->n_outputs && st == OCS_OK; k++) {
        const char *name = node->outputs[k];
        if (!name[0])
            continue;
        const ocs_tensor *x = NULL;
        for (size_t j = 0; j < r->n_outputs && !x; j++)
            if (!strcmp(r->named_outputs[j].name, name))
                x = r->outputs[j];
        if (x)
            st = ocs_graph_add_output(body, name, x->dtype, x->rank, x->dims, err);
        else
            st = ocs_graph_add_output(body, name, OCS_UNDEFINED, -1, NULL, err);
    }
    opsets o = {0};
    if (st == OCS_OK)
        st = add_domain(&o, "", s->body_opset > 0 ? s->body_opset : DOCS_ONNX_OPSET, err);
    if (st == OCS_OK)
        st = collect_domains(body, s, &o, 0, err);
    if (st == OCS_OK)
        st = ocs_body_to_text(s->domain, s->name, body, o.v, o.n, &r->body_text, err);
    ocs_graph_free(body);
    if (st != OCS_OK)
        return ocs_err_prefix(err, st, "function body: ");
    return OCS_OK;
}

/* Builds s's example, runs it on the reference executor and prints its node and body. */
static ocs_status run_example(const ocs_schema *s, example_run *r, ocs_err *err)
{
    ocs_doc_example ex = {0};
    ocs_status st = s->example(&ex, err);
    if (st == OCS_OK && !ex.graph)
        st = ocs_fail(err, OCS_ERR_INVALID, "the example has no graph");
    if (st == OCS_OK)
        st = ocs_model_new(&r->model, err);
    if (st != OCS_OK) {
        ocs_graph_free(ex.graph);
        return st;
    }
    r->title = ex.title;
    ocs_model *m = r->model;
    ocs_graph_free(m->graph);
    m->graph = ex.graph;
    ocs_graph *g = m->graph;

    st = ocs_model_import(m, "", DOCS_ONNX_OPSET, err);
    if (st == OCS_OK && s->domain && s->domain[0])
        st = ocs_model_import(m, s->domain, s->since_version, err);
    if (st != OCS_OK)
        return st;

    const char *domain = s->domain ? s->domain : "";
    for (size_t i = 0; i < g->n_nodes && !r->node; i++)
        if (!strcmp(g->nodes[i].op_type, s->name) && !strcmp(g->nodes[i].domain, domain))
            r->node = &g->nodes[i];
    if (!r->node)
        return ocs_fail(err, OCS_ERR_INVALID, "the example's graph has no %s node", s->name);
    const ocs_node *node = r->node;

    r->in_types = calloc(node->n_inputs + 1, sizeof *r->in_types);
    r->inputs = calloc(node->n_inputs + 1, sizeof *r->inputs);
    if (!r->in_types || !r->inputs)
        return ocs_fail(err, OCS_ERR_NOMEM, "out of memory");
    for (size_t k = 0; k < node->n_inputs; k++) {
        ocs_graph_value_type(g, node->inputs[k], &r->in_types[k]);
        if (node->inputs[k][0]) {
            r->inputs[r->n_inputs].name = node->inputs[k];
            r->inputs[r->n_inputs].tensor = initializer(g, node->inputs[k]);
            r->n_inputs++;
        }
    }

    /* a graph that declares no outputs returns the node's */
    if (g->n_outputs == 0) {
        ocs_tensor_type out[16];
        int inferred = 0;
        if (s->infer && node->n_outputs <= sizeof out / sizeof out[0]) {
            ocs_err ignored;
            inferred = s->infer(node, node->n_inputs, r->in_types, node->n_outputs, out, &ignored) == OCS_OK;
        }
        for (size_t k = 0; k < node->n_outputs && st == OCS_OK; k++) {
            if (!node->outputs[k][0])
                continue;
            if (inferred)
                st = ocs_graph_add_output(g, node->outputs[k], out[k].dtype, out[k].rank, out[k].dims, err);
            else
                st = ocs_graph_add_output(g, node->outputs[k], OCS_UNDEFINED, -1, NULL, err);
        }
        if (st != OCS_OK)
            return st;
    }

    ocs_session *sess = NULL;
    r->outputs = calloc(g->n_outputs + 1, sizeof *r->outputs);
    r->named_outputs = calloc(g->n_outputs + 1, sizeof *r->named_outputs);
    if (!r->outputs || !r->named_outputs)
        return ocs_fail(err, OCS_ERR_NOMEM, "out of memory");
    r->n_outputs = g->n_outputs;
    st = ocs_session_new(m, &sess, err);
    if (st == OCS_OK)
        st = ocs_session_run(sess, 0, NULL, NULL, g->n_outputs, r->outputs, err);
    ocs_session_free(sess);
    if (st != OCS_OK)
        return ocs_err_prefix(err, st, "running the example on the reference: ");
    for (size_t j = 0; j < g->n_outputs; j++) {
        r->named_outputs[j].name = g->outputs[j].name;
        r->named_outputs[j].tensor = r->outputs[j];
    }

    st = ocs_node_to_text(node, &r->node_text, err);
    if (st == OCS_OK && s->body)
        st = expand_body(s, r, err);
    return st;
}

/* The page of s into *text (owned by the caller). */
static ocs_status make_page(const ocs_schema *s, char **text, ocs_err *err)
{
    *text = NULL;
    example_run r = {0};
    ocs_docgen_extra x = {0};
    ocs_status st = OCS_OK;
    if (s->example) {
        st = run_example(s, &r, err);
        if (st != OCS_OK) {
            example_clear(&r);
            return ocs_err_prefix(err, st, "example: ");
        }
        x.example_title = r.title;
        x.example_node = r.node_text;
        x.example_inputs = r.inputs;
        x.n_example_inputs = r.n_inputs;
        x.example_outputs = r.named_outputs;
        x.n_example_outputs = r.n_outputs;
        x.body_text = r.body_text;
    } else {
        x.example_note = "The schema defines no worked example.";
        x.body_note = s->body ? "The operator has a function body; it depends on the node's attributes and "
                                "input types, and the schema defines no example node to expand it for."
                              : "The schema defines no function body.";
    }
    st = ocs_schema_markdown(s, &x, text, err);
    example_clear(&r);
    return st;
}

/* ---- files -------------------------------------------------------------------------------- */

static int join(char *buf, const char *dir, const char *file)
{
    int n = snprintf(buf, DOCS_PATH_MAX, "%s/%s", dir, file);
    return n > 0 && n < DOCS_PATH_MAX;
}

/*
 * Reads path whole into *data (NUL-terminated, owned by the caller).
 * Returns 0, or -1 with errno set (ENOENT when it does not exist).
 */
static int read_file(const char *path, char **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n + 1 >= cap) {
            char *grown = cap < SIZE_MAX / 2 ? realloc(buf, cap * 2) : NULL;
            if (!grown) {
                free(buf);
                buf = NULL;
                errno = ENOMEM;
                break;
            }
            buf = grown;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - 1 - n, f);
        n += got;
        if (got == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (!buf || bad) {
        free(buf);
        if (bad)
            errno = EIO;
        return -1;
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return 0;
}

/* 1 when path holds exactly text, 0 when it differs, -1 when missing, -2 on a read error. */
static int same_content(const char *path, const char *text)
{
    char *data;
    size_t len;
    if (read_file(path, &data, &len) < 0)
        return errno == ENOENT ? -1 : -2;
    int same = len == strlen(text) && !memcmp(data, text, len);
    free(data);
    return same;
}

/* Writes text to dir/file through a temporary file and a rename. */
static ocs_status write_atomic(const char *dir, const char *file, const char *text, ocs_err *err)
{
    char path[DOCS_PATH_MAX], tmp[DOCS_PATH_MAX];
    int n = snprintf(tmp, sizeof tmp, "%s/.%s.XXXXXX", dir, file);
    if (!join(path, dir, file) || n < 0 || n >= (int)sizeof tmp)
        return ocs_fail(err, OCS_ERR_IO, "%s/%s: path too long", dir, file);
    int fd = mkstemp(tmp);
    if (fd < 0)
        return ocs_fail(err, OCS_ERR_IO, "%s: cannot create a temporary file: %s", path, strerror(errno));
    size_t len = strlen(text), done = 0;
    while (done < len) {
        ssize_t w = write(fd, text + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        done += (size_t)w;
    }
    int ok = done == len && fchmod(fd, 0644) == 0;
    int saved = errno;
    if (close(fd) != 0 && ok) {
        ok = 0;
        saved = errno;
    }
    if (ok && rename(tmp, path) != 0) {
        ok = 0;
        saved = errno;
    }
    if (!ok) {
        unlink(tmp);
        return ocs_fail(err, OCS_ERR_IO, "%s: cannot write: %s", path, strerror(saved));
    }
    return OCS_OK;
}

/* Whether path is a page this command generated (its first line is the marker). */
static int is_generated(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    char head[64] = {0};
    size_t want = strlen(OCS_DOCGEN_MARKER);
    size_t got = fread(head, 1, want, f);
    fclose(f);
    return got == want && !memcmp(head, OCS_DOCGEN_MARKER, want);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Generated .md files in dir that no schema produces any more, sorted;
 * NULL with *count 0 when there are none or dir cannot be read.
 */
static char **orphans(const char *dir, const page *pages, size_t n_pages, size_t *count)
{
    *count = 0;
    DIR *d = opendir(dir);
    if (!d)
        return NULL;
    char **names = NULL;
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.' || len < 4 || strcmp(e->d_name + len - 3, ".md"))
            continue;
        int known = 0;
        for (size_t i = 0; i < n_pages && !known; i++)
            known = !strcmp(pages[i].file, e->d_name);
        char path[DOCS_PATH_MAX];
        if (known || !join(path, dir, e->d_name) || !is_generated(path))
            continue;
        if (*count == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            char **grown = realloc(names, ncap * sizeof *grown);
            if (!grown)
                break;
            names = grown;
            cap = ncap;
        }
        names[*count] = strdup(e->d_name);
        if (!names[*count])
            break;
        (*count)++;
    }
    closedir(d);
    if (*count)
        qsort(names, *count, sizeof *names, cmp_names);
    return names;
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* ---- the command ------------------------------------------------------------------------ */

static void free_pages(page *pages, size_t n)
{
    for (size_t i = 0; pages && i < n; i++) {
        free(pages[i].file);
        free(pages[i].text);
    }
    free(pages);
}

/* Every page in memory: one per schema, then the index. */
static ocs_status generate(page **out, size_t *n_out, ocs_err *err)
{
    *out = NULL;
    *n_out = 0;
    size_t n = 0;
    while (ocs_schema_at(n))
        n++;
    const ocs_schema **schemas = calloc(n + 1, sizeof *schemas);
    page *pages = calloc(n + 1, sizeof *pages);
    if (!schemas || !pages) {
        free(schemas);
        free(pages);
        return ocs_fail(err, OCS_ERR_NOMEM, "out of memory");
    }
    ocs_status st = OCS_OK;
    size_t made = 0;
    for (size_t i = 0; i < n && st == OCS_OK; i++) {
        const ocs_schema *s = schemas[i] = ocs_schema_at(i);
        char file[256], q[256];
        ocs_schema_page_name(s, file, sizeof file);
        for (size_t j = 0; j < made && st == OCS_OK; j++)
            if (!strcmp(pages[j].file, file))
                st = ocs_fail(err, OCS_ERR_INVALID, "two schemas would write %s", file);
        if (st != OCS_OK)
            break;
        pages[made].file = strdup(file);
        if (!pages[made].file) {
            st = ocs_fail(err, OCS_ERR_NOMEM, "out of memory");
            break;
        }
        made++;
        st = make_page(s, &pages[made - 1].text, err);
        if (st != OCS_OK)
            ocs_err_prefix(err, st, "%s: ", qualified(s, q, sizeof q));
    }
    if (st == OCS_OK) {
        pages[made].file = strdup(INDEX_PAGE);
        if (!pages[made].file)
            st = ocs_fail(err, OCS_ERR_NOMEM, "out of memory");
        else
            made++;
    }
    if (st == OCS_OK)
        st = ocs_schema_index_markdown(schemas, n, &pages[made - 1].text, err);
    free(schemas);
    if (st != OCS_OK) {
        free_pages(pages, made);
        return st;
    }
    *out = pages;
    *n_out = made;
    return OCS_OK;
}

static int check_pages(const char *dir, const page *pages, size_t n, FILE *out, FILE *errs)
{
    size_t stale = 0;
    for (size_t i = 0; i < n; i++) {
        char path[DOCS_PATH_MAX];
        if (!join(path, dir, pages[i].file)) {
            if (errs)
                fprintf(errs, "ocs docs: %s/%s: path too long\n", dir, pages[i].file);
            return 2;
        }
        int same = same_content(path, pages[i].text);
        if (same == 1)
            continue;
        stale++;
        if (errs)
            fprintf(errs, "%s: %s\n", path,
                    same == 0 ? "stale" : same == -1 ? "missing" : "cannot be read");
    }
    size_t n_orphans = 0;
    char **extra = orphans(dir, pages, n, &n_orphans);
    for (size_t i = 0; i < n_orphans; i++)
        if (errs)
            fprintf(errs, "%s/%s: generated page of an operator that has no schema\n", dir, extra[i]);
    free_names(extra, n_orphans);
    stale += n_orphans;
    if (stale) {
        if (errs)
            fprintf(errs, "ocs docs: %zu page%s in %s %s out of date; run `make docs`\n", stale,
                    stale == 1 ? "" : "s", dir, stale == 1 ? "is" : "are");
        return 1;
    }
    if (out)
        fprintf(out, "docs: %zu pages in %s are up to date\n", n, dir);
    return 0;
}

static int write_pages(const char *dir, const page *pages, size_t n, FILE *out, FILE *errs)
{
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        if (errs)
            fprintf(errs, "ocs docs: cannot create %s: %s\n", dir, strerror(errno));
        return 2;
    }
    size_t written = 0;
    for (size_t i = 0; i < n; i++) {
        char path[DOCS_PATH_MAX];
        if (!join(path, dir, pages[i].file)) {
            if (errs)
                fprintf(errs, "ocs docs: %s/%s: path too long\n", dir, pages[i].file);
            return 2;
        }
        if (same_content(path, pages[i].text) == 1)
            continue;
        ocs_err err;
        ocs_err_clear(&err);
        if (write_atomic(dir, pages[i].file, pages[i].text, &err) != OCS_OK) {
            if (errs)
                fprintf(errs, "ocs docs: %s\n", err.msg);
            return 2;
        }
        written++;
        if (out)
            fprintf(out, "wrote %s\n", path);
    }
    size_t n_orphans = 0;
    char **extra = orphans(dir, pages, n, &n_orphans);
    for (size_t i = 0; i < n_orphans; i++) {
        char path[DOCS_PATH_MAX];
        if (join(path, dir, extra[i]) && unlink(path) == 0 && out)
            fprintf(out, "removed %s (no schema generates it)\n", path);
    }
    free_names(extra, n_orphans);
    if (out)
        fprintf(out, "docs: %zu pages in %s, %zu written\n", n, dir, written);
    return 0;
}

int ocs_docs(const char *dir, int check, FILE *out, FILE *errs)
{
    /* "spec/docs/" names the same folder as "spec/docs" */
    char folder[DOCS_PATH_MAX];
    size_t len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/')
        len--;
    if (len == 0 || len >= sizeof folder) {
        if (errs)
            fprintf(errs, "ocs docs: bad folder name '%s'\n", dir);
        return 2;
    }
    memcpy(folder, dir, len);
    folder[len] = '\0';

    page *pages = NULL;
    size_t n = 0;
    ocs_err err;
    ocs_err_clear(&err);
    if (generate(&pages, &n, &err) != OCS_OK) {
        if (errs)
            fprintf(errs, "ocs docs: %s\n", err.msg);
        return 2;
    }
    int rc = check ? check_pages(folder, pages, n, out, errs) : write_pages(folder, pages, n, out, errs);
    free_pages(pages, n);
    return rc;
}

static void docs_usage(FILE *f)
{
    fprintf(f, "usage: ocs docs [--check] DIR\n\n"
               "Writes the Markdown page of every operator schema (DIR/<Name>.md) and the index\n"
               "(DIR/README.md).  With --check, writes nothing: compares the pages with the files,\n"
               "names every stale one and exits 1 when any is (run `make docs`).\n");
}

int ocs_cmd_docs(int argc, char **argv)
{
    int check = 0;
    const char *dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--check")) {
            check = 1;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            docs_usage(stdout);
            return 0;
        } else if (argv[i][0] == '-' || dir) {
            fprintf(stderr, "ocs docs: unexpected argument '%s'\n", argv[i]);
            docs_usage(stderr);
            return 2;
        } else {
            dir = argv[i];
        }
    }
    if (!dir) {
        docs_usage(stderr);
        return 2;
    }
    return ocs_docs(dir, check, stdout, stderr);
}
