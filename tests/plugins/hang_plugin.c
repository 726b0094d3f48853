/*
 * tests/plugins/hang_plugin.c - a test double that never returns from run.
 * It runs the example plugin's kernels honestly, except for the operator
 * named by the environment variable OCS_PLUGIN_MISBEHAVE_OP (Softmax when
 * unset), on which it sleeps forever.  Timing it out is the runner's job.
 */
#include <stdlib.h>
#include <time.h>

#include "plugin_kernels.h"

static int hang_run(void *ctx, void *state, const ocs_plugin_node *n, const ocs_plugin_tensor *in,
                    ocs_plugin_tensor *out, char *err, size_t len)
{
    const char *op = getenv("OCS_PLUGIN_MISBEHAVE_OP");
    if (!strcmp(n->op_type, op && op[0] ? op : "Softmax")) {
        for (;;) {
            struct timespec ts = {1, 0};
            nanosleep(&ts, NULL);
        }
    }
    return kern_run(ctx, state, n, in, out, err, len);
}

static const ocs_plugin_v1 hang_table = {
    .abi_version = OCS_PLUGIN_ABI_VERSION,
    .name = "hang",
    .supports = kern_supports,
    .infer = kern_infer,
    .run = hang_run,
};

OCS_PLUGIN_EXPORT const ocs_plugin_v1 *ocs_plugin_entry(uint32_t abi_version)
{
    return abi_version == OCS_PLUGIN_ABI_VERSION ? &hang_table : NULL;
}
