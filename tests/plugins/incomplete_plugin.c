/*
 * tests/plugins/incomplete_plugin.c - a test double whose table lacks the
 * required run callback, so the host must refuse it.
 */
#include "ocs/plugin.h"

static int incomplete_supports(void *ctx, const ocs_plugin_node *n, const ocs_plugin_tensor *in)
{
    (void)ctx;
    (void)n;
    (void)in;
    return 1;
}

static int incomplete_infer(void *ctx, void *state, const ocs_plugin_node *n, const ocs_plugin_tensor *in,
                            ocs_plugin_tensor *out, char *err, size_t len)
{
    (void)ctx;
    (void)state;
    (void)n;
    (void)in;
    (void)out;
    (void)err;
    (void)len;
    return OCS_PLUGIN_OK;
}

static const ocs_plugin_v1 incomplete_table = {
    .abi_version = OCS_PLUGIN_ABI_VERSION,
    .name = "incomplete",
    .supports = incomplete_supports,
    .infer = incomplete_infer,
};

OCS_PLUGIN_EXPORT const ocs_plugin_v1 *ocs_plugin_entry(uint32_t abi_version)
{
    return abi_version == OCS_PLUGIN_ABI_VERSION ? &incomplete_table : NULL;
}
