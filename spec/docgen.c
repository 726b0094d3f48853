/*
 * spec/docgen.c - Markdown pages of the proposed operators from their
 * schemas (see ocs/docgen.h), in the layout of ONNX's Operators.md.
 */
#include "ocs/docgen.h"

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Example rows longer than this wrap. */
#define WRAP_COLUMN 100

/* ---- small helpers ------------------------------------------------------------------ */

static const char *or_empty(const char *s)
{
    return s ? s : "";
}

/* Whether s has any non-blank character. */
static int has_text(const char *s)
{
    if (!s)
        return 0;
    for (; *s; s++)
        if (*s != ' ' && *s != '\n' && *s != '\t' && *s != '\r')
            return 1;
    return 0;
}

/* Appends s without trailing blank lines or spaces, then one newline. */
static void put_trimmed(ocs_text *t, const char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        n--;
    ocs_text_putn(t, s, n);
    ocs_text_putc(t, '\n');
}

/* Level of the ATX heading that line (len bytes) is, or 0. */
static int heading_level(const char *line, size_t len)
{
    size_t i = 0;
    while (i < len && i < 3 && line[i] == ' ')
        i++;
    int level = 0;
    while (i < len && line[i] == '#' && level < 7) {
        i++;
        level++;
    }
    if (level == 0 || level > 6 || (i < len && line[i] != ' '))
        return 0;
    return level;
}

/* Whether line opens or closes a code fence (``` or ~~~); *mark receives its character. */
static int is_fence(const char *line, size_t len, char *mark)
{
    size_t i = 0;
    while (i < len && i < 3 && line[i] == ' ')
        i++;
    if (i + 3 > len || (line[i] != '`' && line[i] != '~') || line[i + 1] != line[i] || line[i + 2] != line[i])
        return 0;
    *mark = line[i];
    return 1;
}

/*
 * Appends the Markdown text s: trailing spaces and blank lines dropped,
 * every non-empty line indented by indent spaces, and its headings (outside
 * code fences) moved down so that the shallowest is at level min_level,
 * under the page's own headings.
 */
static void put_markdown(ocs_text *t, const char *s, int indent, int min_level)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        n--;
    int shift = 0;
    for (int pass = 0; pass < 2; pass++) {
        int shallowest = 7;
        char fence = 0;
        size_t i = 0;
        while (i < n) {
            size_t e = i;
            while (e < n && s[e] != '\n')
                e++;
            size_t len = e - i;
            while (len && (s[i + len - 1] == ' ' || s[i + len - 1] == '\r'))
                len--;
            const char *line = s + i;
            char mark;
            int level = fence ? 0 : heading_level(line, len);
            if (is_fence(line, len, &mark))
                fence = !fence ? mark : (fence == mark ? 0 : fence);
            if (pass == 0) {
                if (level && level < shallowest)
                    shallowest = level;
            } else if (len) {
                for (int k = 0; k < indent; k++)
                    ocs_text_putc(t, ' ');
                if (level) {
                    size_t lead = 0;
                    while (line[lead] == ' ')
                        lead++;
                    int to = level + shift > 6 ? 6 : level + shift;
                    for (int k = 0; k < to; k++)
                        ocs_text_putc(t, '#');
                    ocs_text_putn(t, line + lead + (size_t)level, len - lead - (size_t)level);
                } else {
                    ocs_text_putn(t, line, len);
                }
                ocs_text_putc(t, '\n');
            } else {
                ocs_text_putc(t, '\n');
            }
            i = e + 1;
        }
        if (pass == 0 && shallowest < min_level)
            shift = min_level - shallowest;
    }
}

/* The domain as ONNX's pages name it in prose and headings. */
static const char *domain_prefix(const ocs_schema *s)
{
    return s->domain && s->domain[0] ? s->domain : "";
}

/* "ai.onnx.preview.PagedAttention", or just the name in the default domain. */
static void put_qualified(ocs_text *t, const ocs_schema *s, int lower)
{
    const char *d = domain_prefix(s);
    const char *name = or_empty(s->name);
    if (d[0]) {
        ocs_text_puts(t, d);
        ocs_text_putc(t, '.');
    }
    for (const char *p = name; *p; p++)
        ocs_text_putc(t, lower && *p >= 'A' && *p <= 'Z' ? (char)(*p - 'A' + 'a') : *p);
}

char *ocs_schema_page_name(const ocs_schema *s, char *buf, size_t len)
{
    if (len)
        snprintf(buf, len, "%s.md", or_empty(s->name));
    return buf;
}

/* Fewest and most (SIZE_MAX: unbounded) inputs or outputs a list of parameters admits. */
static void arity(const ocs_param_def *p, size_t n, size_t *min, size_t *max)
{
    *min = 0;
    *max = n;
    for (size_t i = 0; i < n; i++) {
        if (p[i].option == OCS_PARAM_SINGLE)
            *min = i + 1;
        if (p[i].option == OCS_PARAM_VARIADIC) {
            *min = i + (size_t)(p[i].min_arity > 0 ? p[i].min_arity : 0);
            *max = SIZE_MAX;
        }
    }
}

/* ---- the schema's sections ------------------------------------------------------------ */

static int cmp_attr(const void *a, const void *b)
{
    const ocs_attr_def *x = *(const ocs_attr_def *const *)a, *y = *(const ocs_attr_def *const *)b;
    return strcmp(or_empty(x->name), or_empty(y->name));
}

static ocs_status put_attributes(ocs_text *t, const ocs_schema *s, ocs_err *err)
{
    if (!s->n_attrs)
        return OCS_OK;
    const ocs_attr_def **sorted = malloc(s->n_attrs * sizeof *sorted);
    if (!sorted)
        return ocs_fail(err, OCS_ERR_NOMEM, "out of memory sorting the attributes of %s", or_empty(s->name));
    for (size_t i = 0; i < s->n_attrs; i++)
        sorted[i] = &s->attrs[i];
    /* ONNX lists attributes by name */
    qsort(sorted, s->n_attrs, sizeof *sorted, cmp_attr);
    ocs_text_puts(t, "#### Attributes\n\n<dl>\n");
    ocs_status st = OCS_OK;
    for (size_t i = 0; i < s->n_attrs; i++) {
        const ocs_attr_def *a = sorted[i];
        const char *type = ocs_text_attr_type_name(a->type);
        if (!type) {
            st = ocs_fail(err, OCS_ERR_INVALID, "%s: attribute '%s' has unknown type %d", or_empty(s->name),
                          or_empty(a->name), (int)a->type);
            break;
        }
        ocs_text_printf(t, "<dt><tt>%s</tt> : %s", or_empty(a->name), type);
        if (a->required)
            ocs_text_puts(t, " (required)");
        else if (a->default_text)
            ocs_text_printf(t, " (default is %s)", a->default_text);
        ocs_text_puts(t, "</dt>\n<dd>");
        ocs_text_puts(t, or_empty(a->doc));
        ocs_text_puts(t, "</dd>\n");
    }
    free(sorted);
    ocs_text_puts(t, "</dl>\n\n");
    return st;
}

static void put_count(ocs_text *t, size_t n, const char *what)
{
    ocs_text_printf(t, "%zu %s%s", n, what, n == 1 ? "" : "s");
}

/* "#### Inputs (2 - 3)", the counts sentence, then the list. */
static void put_params(ocs_text *t, const char *heading, const char *what, const ocs_param_def *p, size_t n)
{
    if (!n)
        return;
    size_t min, max;
    arity(p, n, &min, &max);
    ocs_text_printf(t, "#### %s", heading);
    if (min != max) {
        if (max == SIZE_MAX)
            ocs_text_printf(t, " (%zu - &#8734;)", min);
        else
            ocs_text_printf(t, " (%zu - %zu)", min, max);
    }
    ocs_text_puts(t, "\n\n");
    if (max == SIZE_MAX && min == 0) {
        ocs_text_printf(t, "Zero or more %ss", what);
    } else if (max == SIZE_MAX) {
        ocs_text_puts(t, "At least ");
        put_count(t, min, what);
    } else if (min == max) {
        ocs_text_puts(t, "Exactly ");
        put_count(t, min, what);
    } else {
        ocs_text_printf(t, "Between %zu and ", min);
        put_count(t, max, what);
    }
    ocs_text_puts(t, ".\n\n<dl>\n");
    for (size_t i = 0; i < n; i++) {
        ocs_text_printf(t, "<dt><tt>%s</tt>", or_empty(p[i].name));
        if (p[i].option == OCS_PARAM_OPTIONAL)
            ocs_text_puts(t, " (optional)");
        else if (p[i].option == OCS_PARAM_VARIADIC)
            ocs_text_puts(t, p[i].heterogeneous ? " (variadic, heterogeneous)" : " (variadic)");
        ocs_text_printf(t, " : %s</dt>\n<dd>%s</dd>\n", or_empty(p[i].type_str), or_empty(p[i].doc));
    }
    ocs_text_puts(t, "</dl>\n\n");
}

static ocs_status put_constraints(ocs_text *t, const ocs_schema *s, ocs_err *err)
{
    if (!s->n_constraints)
        return OCS_OK;
    ocs_text_puts(t, "#### Type Constraints\n\n<dl>\n");
    for (size_t i = 0; i < s->n_constraints; i++) {
        const ocs_type_constraint *c = &s->constraints[i];
        ocs_text_printf(t, "<dt><tt>%s</tt> : ", or_empty(c->name));
        for (size_t j = 0; j < c->n_allowed; j++) {
            const char *name = ocs_text_dtype_name(c->allowed[j]);
            if (!name)
                return ocs_fail(err, OCS_ERR_INVALID, "%s: type constraint %s allows unknown element type %d",
                                or_empty(s->name), or_empty(c->name), (int)c->allowed[j]);
            ocs_text_printf(t, "%stensor(%s)", j ? ", " : "", name);
        }
        ocs_text_printf(t, "</dt>\n<dd>%s</dd>\n", or_empty(c->doc));
    }
    ocs_text_puts(t, "</dl>\n\n");
    return OCS_OK;
}

static void put_errors(ocs_text *t, const ocs_schema *s)
{
    ocs_text_puts(t, "#### Errors\n\n");
    if (!s->n_errors) {
        ocs_text_puts(t, "The schema lists no error conditions.\n\n");
        return;
    }
    ocs_text_puts(t, "An implementation reports an error, without reading or writing out of bounds, when:\n\n");
    for (size_t i = 0; i < s->n_errors; i++) {
        ocs_text_puts(t, "- ");
        put_trimmed(t, or_empty(s->errors[i]));
    }
    ocs_text_putc(t, '\n');
}

/* ---- example tensors ---------------------------------------------------------------------- */

/* Element i of x as the Example section prints it. */
static void format_value(const ocs_tensor *x, size_t i, char *buf, size_t len)
{
    if (x->dtype == OCS_STRING) {
        buf[0] = '\0';
        return;
    }
    if (x->dtype == OCS_BOOL) {
        snprintf(buf, len, "%s", ocs_tensor_get_i64(x, i) ? "true" : "false");
        return;
    }
    if (x->dtype == OCS_UINT64) {
        snprintf(buf, len, "%" PRIu64, ((const uint64_t *)x->data)[i]);
        return;
    }
    if (!ocs_dtype_is_float(x->dtype)) {
        snprintf(buf, len, "%" PRId64, ocs_tensor_get_i64(x, i));
        return;
    }
    double v = ocs_tensor_get_f64(x, i);
    /* a double goes through float first, so that its last bits (which libms
       may compute differently) do not reach the printed digits */
    if (fabs(v) <= FLT_MAX)
        v = (double)(float)v;
    if (isnan(v))
        snprintf(buf, len, "nan");
    else if (isinf(v))
        snprintf(buf, len, "%s", v < 0 ? "-inf" : "inf");
    else if (v == 0)
        snprintf(buf, len, "0");
    else
        snprintf(buf, len, "%.6g", v);
}

/* Column of the end of t (characters since the last newline). */
static size_t column(const ocs_text *t)
{
    size_t c = 0;
    while (c < t->len && t->data[t->len - 1 - c] != '\n')
        c++;
    return c;
}

typedef struct tensor_printer {
    ocs_text *t;
    const ocs_tensor *x;
    int width;       /* of the widest number */
    size_t next;     /* flat index of the next element */
} tensor_printer;

static void put_example_value(tensor_printer *p)
{
    const ocs_tensor *x = p->x;
    size_t i = p->next++;
    if (x->dtype == OCS_STRING) {
        const ocs_string *s = &((const ocs_string *)x->data)[i];
        ocs_text_quoted(p->t, s->data ? s->data : "", s->data ? s->len : 0);
        return;
    }
    char buf[64];
    format_value(x, i, buf, sizeof buf);
    ocs_text_printf(p->t, "%*s", p->width, buf);
}

/* Nested brackets for dimensions d.. of x, numpy style. */
static void put_nested(tensor_printer *p, int d)
{
    const ocs_tensor *x = p->x;
    ocs_text_putc(p->t, '[');
    for (int64_t j = 0; j < x->dims[d]; j++) {
        if (d == x->rank - 1) {
            if (j) {
                ocs_text_putc(p->t, ',');
                if (column(p->t) + 1 + (size_t)p->width >= WRAP_COLUMN) {
                    ocs_text_putc(p->t, '\n');
                    for (int k = 0; k < x->rank; k++)
                        ocs_text_putc(p->t, ' ');
                } else {
                    ocs_text_putc(p->t, ' ');
                }
            }
            put_example_value(p);
        } else {
            if (j) {
                ocs_text_putc(p->t, ',');
                for (int k = d; k < x->rank - 1; k++)
                    ocs_text_putc(p->t, '\n');
                for (int k = 0; k <= d; k++)
                    ocs_text_putc(p->t, ' ');
            }
            put_nested(p, d + 1);
        }
    }
    ocs_text_putc(p->t, ']');
}

void ocs_doc_tensor_text(ocs_text *t, const char *name, const ocs_tensor *x)
{
    const char *type = ocs_text_dtype_name(x->dtype);
    ocs_text_printf(t, "%s: %s[", or_empty(name), type ? type : "unknown");
    for (int d = 0; d < x->rank; d++)
        ocs_text_printf(t, "%s%" PRId64, d ? "," : "", x->dims[d]);
    ocs_text_puts(t, "]\n");
    tensor_printer p = {t, x, 0, 0};
    for (size_t i = 0; i < x->numel && x->dtype != OCS_STRING; i++) {
        char buf[64];
        format_value(x, i, buf, sizeof buf);
        int w = (int)strlen(buf);
        if (w > p.width)
            p.width = w;
    }
    if (x->rank == 0)
        put_example_value(&p);
    else
        put_nested(&p, 0);
    ocs_text_putc(t, '\n');
}

static void put_tensor_block(ocs_text *t, const ocs_doc_tensor *v, size_t n)
{
    ocs_text_puts(t, "```\n");
    for (size_t i = 0; i < n; i++) {
        if (i)
            ocs_text_putc(t, '\n');
        if (v[i].tensor)
            ocs_doc_tensor_text(t, v[i].name, v[i].tensor);
        else
            ocs_text_printf(t, "%s: (absent)\n", or_empty(v[i].name));
    }
    ocs_text_puts(t, "```\n\n");
}

static void put_example(ocs_text *t, const ocs_docgen_extra *x)
{
    ocs_text_puts(t, "#### Example\n\n");
    if (!x || !x->example_node) {
        put_trimmed(t, x && has_text(x->example_note) ? x->example_note : "The schema defines no worked example.");
        ocs_text_putc(t, '\n');
        return;
    }
    if (has_text(x->example_title)) {
        put_trimmed(t, x->example_title);
        ocs_text_putc(t, '\n');
    }
    ocs_text_puts(t, "The node, in ONNX textual syntax:\n\n```\n");
    put_trimmed(t, x->example_node);
    ocs_text_puts(t, "```\n\n");
    if (x->n_example_inputs) {
        ocs_text_puts(t, "Inputs:\n\n");
        put_tensor_block(t, x->example_inputs, x->n_example_inputs);
    }
    if (x->n_example_outputs) {
        ocs_text_puts(t, "Outputs, as the OCS reference implementation computes them (six significant digits):\n\n");
        put_tensor_block(t, x->example_outputs, x->n_example_outputs);
    }
}

static void put_body(ocs_text *t, const ocs_schema *s, const ocs_docgen_extra *x)
{
    ocs_text_puts(t, "#### Function body\n\n");
    if (!x || !x->body_text) {
        const char *note = x && has_text(x->body_note) ? x->body_note
                           : s->body ? "The operator has a function body, but the schema defines no example node "
                                       "to expand it for."
                                     : "The schema defines no function body.";
        put_trimmed(t, note);
        ocs_text_putc(t, '\n');
        return;
    }
    ocs_text_puts(t, "The operator is defined by a function body in standard ONNX operators. The body depends on "
                     "the node's attributes and input types; for the example's node it is:\n\n```\n");
    put_trimmed(t, x->body_text);
    ocs_text_puts(t, "```\n\n");
}

/* ---- pages ---------------------------------------------------------------------------------- */

ocs_status ocs_schema_markdown(const ocs_schema *s, const ocs_docgen_extra *extra, char **out, ocs_err *err)
{
    *out = NULL;
    ocs_text t = {0};
    ocs_text_puts(&t, OCS_DOCGEN_MARKER " from the operator's schema; do not edit, run `make docs`. -->\n");
    if (domain_prefix(s)[0])
        ocs_text_printf(&t, "## %s\n", domain_prefix(s));
    ocs_text_puts(&t, "### <a name=\"");
    put_qualified(&t, s, 0);
    ocs_text_puts(&t, "\"></a><a name=\"");
    put_qualified(&t, s, 1);
    ocs_text_puts(&t, "\">**");
    put_qualified(&t, s, 0);
    ocs_text_puts(&t, "**</a>\n\n");

    put_markdown(&t, has_text(s->summary) ? s->summary : "The schema gives no summary.", 2, 5);
    ocs_text_puts(&t, "\n#### Version\n\n");
    if (domain_prefix(s)[0])
        ocs_text_printf(&t,
                        "This version of the operator has been available since version %d of the '%s' operator "
                        "set.\n\n",
                        s->since_version, domain_prefix(s));
    else
        ocs_text_printf(&t,
                        "This version of the operator has been available since version %d of the default ONNX "
                        "operator set.\n\n",
                        s->since_version);

    ocs_status st = put_attributes(&t, s, err);
    if (st == OCS_OK) {
        put_params(&t, "Inputs", "input", s->inputs, s->n_inputs);
        put_params(&t, "Outputs", "output", s->outputs, s->n_outputs);
        st = put_constraints(&t, s, err);
    }
    if (st != OCS_OK) {
        ocs_text_free(&t);
        return st;
    }
    put_errors(&t, s);
    put_example(&t, extra);
    put_body(&t, s, extra);
    ocs_text_puts(&t, "#### Conventions\n\n");
    put_markdown(&t, has_text(s->conventions) ? s->conventions : "The schema records no conventions.", 0, 5);
    return ocs_text_finish(&t, out, err);
}

/* The first sentence of a summary, on one line, safe inside a table cell. */
static void put_first_sentence(ocs_text *t, const char *s)
{
    if (!s)
        return;
    while (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r')
        s++;
    int space = 0;
    for (const char *p = s; *p; p++) {
        if (*p == '\n' && p[1] == '\n')
            break;          /* end of the first paragraph */
        if (*p == '\n' || *p == ' ' || *p == '\t' || *p == '\r') {
            space = 1;
            continue;
        }
        if (space)
            ocs_text_putc(t, ' ');
        space = 0;
        if (*p == '|')
            ocs_text_putc(t, '\\');
        ocs_text_putc(t, *p);
        if (*p == '.' && (p[1] == '\0' || p[1] == ' ' || p[1] == '\n'))
            break;
    }
}

ocs_status ocs_schema_index_markdown(const ocs_schema *const *schemas, size_t n, char **out, ocs_err *err)
{
    *out = NULL;
    ocs_text t = {0};
    ocs_text_puts(&t, OCS_DOCGEN_MARKER " from the operator schemas; do not edit, run `make docs`. -->\n");
    ocs_text_puts(&t, "## Proposed operator schemas\n\n"
                      "*These pages are generated from the machine-readable schemas in `spec/ops/` by "
                      "`ocs docs`, in the layout of ONNX's Operators.md. Do not edit them; edit the schemas and "
                      "run `make docs`.*\n\n"
                      "Each page gives the operator's attributes, inputs, outputs and type constraints as ONNX "
                      "does, then the error conditions, a worked example whose outputs the reference "
                      "implementation computed, the function body in ONNX textual syntax, and the conventions "
                      "that relate the proposal to existing implementations.\n");
    for (size_t i = 0; i < n; i++) {
        const char *d = domain_prefix(schemas[i]);
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++)
            seen = !strcmp(domain_prefix(schemas[j]), d);
        if (seen)
            continue;
        ocs_text_printf(&t, "\n### %s\n", d[0] ? d : "ai.onnx (default)");
        ocs_text_puts(&t, "|**Operator**|**Since version**|**Function body**|**Summary**|\n|-|-|-|-|\n");
        for (size_t j = i; j < n; j++) {
            const ocs_schema *s = schemas[j];
            if (strcmp(domain_prefix(s), d))
                continue;
            char page[256];
            ocs_text_printf(&t, "|<a href=\"%s\">", ocs_schema_page_name(s, page, sizeof page));
            put_qualified(&t, s, 0);
            ocs_text_printf(&t, "</a>|%d|%s|", s->since_version, s->body ? "yes" : "no");
            put_first_sentence(&t, s->summary);
            ocs_text_puts(&t, "|\n");
        }
    }
    return ocs_text_finish(&t, out, err);
}
