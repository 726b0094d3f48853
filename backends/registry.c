/*
 * backends/registry.c - opening built-in backends by name.
 */
#include <stdlib.h>
#include <string.h>

#include "ocs/backend.h"

#define OCS_BACKEND(name) ocs_status ocs_backend_open_##name(ocs_backend **out, ocs_err *err);
#include "list.h"
#undef OCS_BACKEND

typedef struct builtin {
    const char *name;
    ocs_status (*open)(ocs_backend **out, ocs_err *err);
} builtin;

static const builtin builtins[] = {
#define OCS_BACKEND(name) {#name, ocs_backend_open_##name},
#include "list.h"
#undef OCS_BACKEND
    {NULL, NULL},
};

static const char *const names[] = {
#define OCS_BACKEND(name) #name,
#include "list.h"
#undef OCS_BACKEND
    NULL,
};

const char *const *ocs_backend_names(void)
{
    return names;
}

ocs_status ocs_backend_open(const char *name, ocs_backend **out, ocs_err *err)
{
    *out = NULL;
    for (const builtin *b = builtins; b->name; b++) {
        if (strcmp(b->name, name))
            continue;
        ocs_status st = b->open(out, err);
        if (st == OCS_OK && (*out)->ops->api_version != OCS_BACKEND_API_VERSION) {
            int v = (*out)->ops->api_version;
            ocs_backend_close(*out);
            *out = NULL;
            return ocs_fail(err, OCS_ERR_UNSUPPORTED, "backend %s implements API version %d, OCS speaks %d", name,
                            v, OCS_BACKEND_API_VERSION);
        }
        return st;
    }
    return ocs_fail(err, OCS_ERR_UNSUPPORTED, "no built-in backend is called '%s'", name);
}

void ocs_backend_close(ocs_backend *b)
{
    if (!b)
        return;
    if (b->ops && b->ops->destroy)
        b->ops->destroy(b->ctx);
    free(b);
}
