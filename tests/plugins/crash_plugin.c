/*
 * tests/plugins/crash_plugin.c - a test double that dies of SIGSEGV in run.
 * It runs the example plugin's kernels honestly, except for the operator
 * named by the environment variable OCS_PLUGIN_MISBEHAVE_OP (Softmax when
 * unset), on which it crashes.  Isolating the crash is the runner's job.
 */
#include <signal.h>
#include <stdlib.h>

#include "plugin_kernels.h"

static int crash_run(void *ctx, void *state, const ocs_plugin_node *n, const ocs_plugin_tensor *in,
                     ocs_plugin_tensor *out, char *err, size_t len)
{
    const char *op = getenv("OCS_PLUGIN_MISBEHAVE_OP");
    if (!strcmp(n->op_type, op && op[0] ? op : "Softmax")) {
        /* the default action, whatever handler a sanitizer installed */
        signal(SIGSEGV, SIG_DFL);
        raise(SIGSEGV);
        abort();
    }
    return kern_run(ctx, state, n, in, out, err, len);
}

static const ocs_plugin_v1 crash_table = {
    .abi_version = OCS_PLUGIN_ABI_VERSION,
    .name = "crash",
    .supports = kern_supports,
    .infer = kern_infer,
    .run = crash_run,
};

OCS_PLUGIN_EXPORT const ocs_plugin_v1 *ocs_plugin_entry(uint32_t abi_version)
{
    return abi_version == OCS_PLUGIN_ABI_VERSION ? &crash_table : NULL;
}
