/*
 * ocs/text.h - models, graphs, functions and nodes in ONNX's textual syntax
 * (onnx/docs/Syntax.md), and the growable text buffer the printers use.
 *
 * The output is deterministic: the same structures give the same bytes on
 * every machine.  Names that are not plain identifiers are quoted; strings
 * are quoted with backslash escapes; floats are printed with the fewest
 * digits that read back to the same value (and always look like floats:
 * "1.0", not "1"); an absent optional input or output prints as "".
 *
 * Layout:
 *   <ir_version: 10, opset_import: ["" : 24, "ai.onnx.preview" : 1]>
 *   main (float[T,4] x, int64[2] axes) => (float[T,4] y) {
 *     y = ai.onnx.preview.Op <alpha = 0.5, mode = "fast"> (x, "", axes)
 *   }
 * Initializers and value_info follow the graph's signature in a <...> list;
 * a node with a subgraph attribute lists its attributes after its inputs,
 * as ONNX's own printer does, with the subgraph nested in braces.
 *
 * Every function that returns text hands back a malloc'd, NUL-terminated
 * string in *out that the caller frees.
 */
#ifndef OCS_TEXT_H
#define OCS_TEXT_H

#include <stddef.h>
#include "ocs/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the text buffer --------------------------------------------------------- */

/*
 * A growable, NUL-terminated string.  Zero-initialise it ({0}); appends
 * that fail to allocate set `failed` and make every later append a no-op,
 * so a caller appends freely and checks once, in ocs_text_finish.
 */
typedef struct ocs_text {
    char *data;     /* NULL until the first append */
    size_t len;
    size_t cap;
    int failed;
} ocs_text;

void ocs_text_putn(ocs_text *t, const char *s, size_t n);
void ocs_text_puts(ocs_text *t, const char *s);
void ocs_text_putc(ocs_text *t, char c);
void ocs_text_printf(ocs_text *t, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/*
 * Hands the text over: *out receives the string (an empty one if nothing
 * was appended), owned by the caller, and t is reset.  Fails with
 * OCS_ERR_NOMEM (and frees the text) when an append failed.
 */
ocs_status ocs_text_finish(ocs_text *t, char **out, ocs_err *err);
/* Releases the text without handing it over. */
void ocs_text_free(ocs_text *t);

/* ---- pieces ---------------------------------------------------------------------- */

/* The syntax's name of an element type ("float", "int64", "bfloat16"), or NULL. */
const char *ocs_text_dtype_name(ocs_dtype t);
/* The syntax's name of an attribute type ("int", "floats", "graph"), or NULL. */
const char *ocs_text_attr_type_name(ocs_attr_type t);
/* Appends a quoted string with backslash escapes ("\"", "\\", "\n", "\x01"). */
void ocs_text_quoted(ocs_text *t, const char *s, size_t len);
/* Appends a name as is when it is an identifier ([A-Za-z_][A-Za-z0-9_]*), else quoted. */
void ocs_text_id(ocs_text *t, const char *name);
/* Appends the shortest decimal that reads back as f, looking like a float ("1.0", "0.1", "nan"). */
void ocs_text_float(ocs_text *t, float f);
/* The same for a double (up to 17 significant digits). */
void ocs_text_double(ocs_text *t, double d);
/*
 * Appends a tensor constant: "float[2,2] {1.0, 2.0, 3.0, 4.0}" (a scalar has
 * no brackets: "int64 {3}").  With name non-NULL, as an initializer:
 * "float[2] w = {1.0, 2.0}".
 */
ocs_status ocs_text_tensor(ocs_text *t, const ocs_tensor *x, const char *name, ocs_err *err);

/* ---- whole structures -------------------------------------------------------------- */

/*
 * A graph.  With n_opsets > 0 the text starts with the header a model of
 * IR version 10 importing those opsets would have, so the result parses as
 * a model.
 */
ocs_status ocs_graph_to_text(const ocs_graph *g, const ocs_opset *opsets, size_t n_opsets, char **out,
                             ocs_err *err);

/* A model: its header (IR version, opset imports, producer), main graph and local functions. */
ocs_status ocs_model_to_text(const ocs_model *m, char **out, ocs_err *err);

/* A model-local function, with its attribute names and defaults. */
ocs_status ocs_function_to_text(const ocs_function *f, char **out, ocs_err *err);

/*
 * A function-like body: the header <domain: "...", opset_import: [...]>,
 * then `name (inputs) => (outputs)` with the typed inputs and outputs of
 * body, then its nodes.  Initializers the body holds are listed, with
 * value_info, in a <...> list before the nodes.
 */
ocs_status ocs_body_to_text(const char *domain, const char *name, const ocs_graph *body,
                            const ocs_opset *opsets, size_t n_opsets, char **out, ocs_err *err);

/* One node on one line (subgraph attributes span several), without a trailing newline. */
ocs_status ocs_node_to_text(const ocs_node *n, char **out, ocs_err *err);

#ifdef __cplusplus
}
#endif
#endif /* OCS_TEXT_H */
