/*
 * reference/registry.c - the operator registry, generated from ops/oplist.h.
 */
#include <string.h>

#include "ops/common.h"

#define OCS_OP(domain, name, ...) static const int versions_##name[] = {__VA_ARGS__};
#define OCS_OP_V OCS_OP
#include "ops/oplist.h"
#undef OCS_OP
#undef OCS_OP_V

#define ENTRY(domain, name, values) \
    {domain, #name, versions_##name, sizeof versions_##name / sizeof versions_##name[0], ocs_ref_##name, values},
static const ocs_op_def registry[] = {
#define OCS_OP(domain, name, ...) ENTRY(domain, name, 0)
#define OCS_OP_V(domain, name, ...) ENTRY(domain, name, 1)
#include "ops/oplist.h"
#undef OCS_OP
#undef OCS_OP_V
};

#define REGISTRY_SIZE (sizeof registry / sizeof registry[0])

static int same_domain(const char *a, const char *b)
{
    if (!a || !*a || !strcmp(a, "ai.onnx"))
        a = "";
    if (!b || !*b || !strcmp(b, "ai.onnx"))
        b = "";
    return strcmp(a, b) == 0;
}

const ocs_op_def *ocs_op_find(const char *domain, const char *name)
{
    for (size_t i = 0; i < REGISTRY_SIZE; i++)
        if (same_domain(registry[i].domain, domain) && strcmp(registry[i].name, name) == 0)
            return &registry[i];
    return NULL;
}

int64_t ocs_op_since_version(const ocs_op_def *op, int64_t opset)
{
    int64_t best = -1;
    for (size_t i = 0; i < op->n_versions; i++)
        if (op->versions[i] <= opset)
            best = op->versions[i];
    return best;
}

const ocs_op_def *ocs_op_at(size_t i)
{
    return i < REGISTRY_SIZE ? &registry[i] : NULL;
}
