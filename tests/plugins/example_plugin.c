/*
 * tests/plugins/example_plugin.c - a small backend built only against
 * ocs/plugin.h: float32 Softmax, RMSNormalization and Relu on the CPU.
 * It shows the whole ABI: the entry point, a context made by init, per-node
 * state made by prepare, output shapes from infer, and run writing into the
 * buffers the host allocated.
 */
#include <stdlib.h>

#include "plugin_kernels.h"

typedef struct example_ctx {
    char description[96];
} example_ctx;

/* Per-node state: what prepare learned once, checked again by run. */
typedef struct example_state {
    kern_op op;
} example_state;

static int example_init(void **ctx, char *err, size_t len)
{
    example_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return kern_fail(err, len, "example: out of memory");
    snprintf(c->description, sizeof c->description, "example plugin, ABI %u: float32 Softmax, "
             "RMSNormalization, Relu", OCS_PLUGIN_ABI_VERSION);
    *ctx = c;
    return OCS_PLUGIN_OK;
}

static void example_fini(void *ctx)
{
    free(ctx);
}

static const char *example_describe(void *ctx)
{
    return ((example_ctx *)ctx)->description;
}

static int example_prepare(void *ctx, const ocs_plugin_node *n, void **state, char *err, size_t len)
{
    (void)ctx;
    example_state *s = malloc(sizeof *s);
    if (!s)
        return kern_fail(err, len, "example: out of memory preparing %s", n->op_type);
    s->op = kern_which(n);
    *state = s;
    return OCS_PLUGIN_OK;
}

static void example_release(void *ctx, void *state)
{
    (void)ctx;
    free(state);
}

static int example_run(void *ctx, void *state, const ocs_plugin_node *n, const ocs_plugin_tensor *in,
                       ocs_plugin_tensor *out, char *err, size_t len)
{
    const example_state *s = state;
    if (!s || s->op != kern_which(n))
        return kern_fail(err, len, "example: %s ran without its prepared state", n->op_type);
    return kern_run(ctx, state, n, in, out, err, len);
}

static const ocs_plugin_v1 example_table = {
    .abi_version = OCS_PLUGIN_ABI_VERSION,
    .name = "example",
    .init = example_init,
    .fini = example_fini,
    .describe = example_describe,
    .supports = kern_supports,
    .prepare = example_prepare,
    .infer = kern_infer,
    .run = example_run,
    .release = example_release,
};

OCS_PLUGIN_EXPORT const ocs_plugin_v1 *ocs_plugin_entry(uint32_t abi_version)
{
    return abi_version == OCS_PLUGIN_ABI_VERSION ? &example_table : NULL;
}
