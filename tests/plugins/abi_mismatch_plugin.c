/*
 * tests/plugins/abi_mismatch_plugin.c - a test double built for a future
 * plugin ABI: its table says version OCS_PLUGIN_ABI_VERSION + 1, whatever
 * the host asks for, so the host must refuse it.
 */
#include "ocs/plugin.h"

static int never_supports(void *ctx, const ocs_plugin_node *n, const ocs_plugin_tensor *in)
{
    (void)ctx;
    (void)n;
    (void)in;
    return 0;
}

static int never_infer(void *ctx, void *state, const ocs_plugin_node *n, const ocs_plugin_tensor *in,
                       ocs_plugin_tensor *out, char *err, size_t len)
{
    (void)ctx;
    (void)state;
    (void)n;
    (void)in;
    (void)out;
    (void)err;
    (void)len;
    return OCS_PLUGIN_FAILED;
}

static const ocs_plugin_v1 future_table = {
    .abi_version = OCS_PLUGIN_ABI_VERSION + 1,
    .name = "future",
    .supports = never_supports,
    .infer = never_infer,
    .run = never_infer,
};

OCS_PLUGIN_EXPORT const ocs_plugin_v1 *ocs_plugin_entry(uint32_t abi_version)
{
    (void)abi_version;
    return &future_table;
}
