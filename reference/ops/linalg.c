/*
 * reference/ops/linalg.c - routines shared by the matrix and normalisation
 * kernels (see linalg.h).
 */
#include "linalg.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

ocs_status ocs_linalg_check_type(const ocs_kernel_args *a, const ocs_tensor *t, const char *what,
                                 const ocs_dtype *allowed, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (t->dtype == allowed[i])
            return OCS_OK;
    char list[256];
    size_t used = 0;
    list[0] = '\0';
    for (size_t i = 0; i < n && used < sizeof list; i++) {
        int w = snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "",
                         ocs_dtype_name(allowed[i]));
        if (w < 0)
            break;
        used += (size_t)w;
    }
    return ocs_fail(a->err, OCS_ERR_INVALID, "%s-%lld: %s has type %s; allowed: %s",
                    a->node->op_type, (long long)a->since_version, what,
                    ocs_dtype_name(t->dtype), list);
}

int ocs_linalg_is_int(ocs_dtype t)
{
    return t == OCS_INT32 || t == OCS_INT64 || t == OCS_UINT32 || t == OCS_UINT64;
}

uint64_t ocs_linalg_get_bits(const ocs_tensor *t, size_t i)
{
    switch (t->dtype) {
    case OCS_INT32: {
        int32_t v;
        memcpy(&v, (const char *)t->data + i * sizeof v, sizeof v);
        return (uint64_t)(int64_t)v;
    }
    case OCS_INT64: {
        int64_t v;
        memcpy(&v, (const char *)t->data + i * sizeof v, sizeof v);
        return (uint64_t)v;
    }
    case OCS_UINT32: {
        uint32_t v;
        memcpy(&v, (const char *)t->data + i * sizeof v, sizeof v);
        return v;
    }
    case OCS_UINT64: {
        uint64_t v;
        memcpy(&v, (const char *)t->data + i * sizeof v, sizeof v);
        return v;
    }
    default:
        return (uint64_t)ocs_tensor_get_i64(t, i);
    }
}

void ocs_linalg_set_bits(ocs_tensor *t, size_t i, uint64_t v)
{
    switch (t->dtype) {
    case OCS_INT32:
    case OCS_UINT32: {
        uint32_t w = (uint32_t)v;   /* the low 32 bits; int32 storage shares the pattern */
        memcpy((char *)t->data + i * sizeof w, &w, sizeof w);
        return;
    }
    case OCS_INT64:
    case OCS_UINT64:
        memcpy((char *)t->data + i * sizeof v, &v, sizeof v);
        return;
    default:
        ocs_tensor_set_i64(t, i, (int64_t)v);
        return;
    }
}

ocs_status ocs_linalg_mul_size(const ocs_kernel_args *a, size_t x, size_t y, const char *what,
                               size_t *out)
{
    if (x != 0 && y > SIZE_MAX / x)
        return ocs_fail(a->err, OCS_ERR_NOMEM, "%s: size of %s overflows (%zu x %zu)",
                        a->node->op_type, what, x, y);
    *out = x * y;
    return OCS_OK;
}
