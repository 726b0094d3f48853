/*
 * tests/plugins/bad_plugin.c - a test double whose results are wrong in the
 * three ways the runner must catch.  By operator:
 *   Softmax            one element off by +1 (a planted error)
 *   RMSNormalization   the last element left unwritten
 *   Relu               one float written past the end of the output
 * The environment variable OCS_PLUGIN_BAD_MODE (planted, unwritten,
 * overflow or none) applies one behaviour to every operator instead.
 */
#include <stdlib.h>

#include "plugin_kernels.h"

typedef enum bad_mode { BAD_NONE, BAD_PLANTED, BAD_UNWRITTEN, BAD_OVERFLOW } bad_mode;

static bad_mode bad_mode_for(const ocs_plugin_node *n)
{
    const char *m = getenv("OCS_PLUGIN_BAD_MODE");
    if (m && m[0]) {
        if (!strcmp(m, "planted"))
            return BAD_PLANTED;
        if (!strcmp(m, "unwritten"))
            return BAD_UNWRITTEN;
        if (!strcmp(m, "overflow"))
            return BAD_OVERFLOW;
        return BAD_NONE;
    }
    switch (kern_which(n)) {
    case KERN_SOFTMAX: return BAD_PLANTED;
    case KERN_RMSNORM: return BAD_UNWRITTEN;
    case KERN_RELU: return BAD_OVERFLOW;
    default: return BAD_NONE;
    }
}

static int bad_run(void *ctx, void *state, const ocs_plugin_node *n, const ocs_plugin_tensor *in,
                   ocs_plugin_tensor *out, char *err, size_t len)
{
    float *y = out[0].data;
    size_t numel = out[0].numel;
    bad_mode mode = y ? bad_mode_for(n) : BAD_NONE;
    if (mode != BAD_UNWRITTEN) {
        int r = kern_run(ctx, state, n, in, out, err, len);
        if (r != OCS_PLUGIN_OK)
            return r;
        if (mode == BAD_PLANTED && numel)
            y[numel / 2] += 1.0f;
        if (mode == BAD_OVERFLOW) {
            volatile float *past = y + numel;
            *past = 0.0f;
        }
        return OCS_PLUGIN_OK;
    }
    /* compute into scratch, then copy all but the last element */
    ocs_plugin_tensor scratch = out[0];
    scratch.data = malloc(out[0].nbytes ? out[0].nbytes : 1);
    if (!scratch.data)
        return kern_fail(err, len, "bad: out of memory");
    int r = kern_run(ctx, state, n, in, &scratch, err, len);
    if (r == OCS_PLUGIN_OK && numel)
        memcpy(y, scratch.data, (numel - 1) * sizeof *y);
    free(scratch.data);
    return r;
}

static const ocs_plugin_v1 bad_table = {
    .abi_version = OCS_PLUGIN_ABI_VERSION,
    .name = "bad",
    .supports = kern_supports,
    .infer = kern_infer,
    .run = bad_run,
};

OCS_PLUGIN_EXPORT const ocs_plugin_v1 *ocs_plugin_entry(uint32_t abi_version)
{
    return abi_version == OCS_PLUGIN_ABI_VERSION ? &bad_table : NULL;
}
