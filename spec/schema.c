/*
 * spec/schema.c - the schema registry and the generic node checker.
 */
#include "ocs/schema.h"

#include <stdio.h>
#include <string.h>

#define OCS_SCHEMA(name) extern const ocs_schema ocs_schema_##name;
#include "ops/schemas.h"
#undef OCS_SCHEMA

static const ocs_schema *const schemas[] = {
#define OCS_SCHEMA(name) &ocs_schema_##name,
#include "ops/schemas.h"
#undef OCS_SCHEMA
};

#define N_SCHEMAS (sizeof schemas / sizeof schemas[0])

const ocs_schema *ocs_schema_at(size_t i)
{
    return i < N_SCHEMAS ? schemas[i] : NULL;
}

const ocs_schema *ocs_schema_find(const char *domain, const char *name, int64_t version)
{
    const ocs_schema *best = NULL;
    for (size_t i = 0; i < N_SCHEMAS; i++) {
        const ocs_schema *s = schemas[i];
        if (strcmp(s->domain, domain) || strcmp(s->name, name) || s->since_version > version)
            continue;
        if (!best || s->since_version > best->since_version)
            best = s;
    }
    return best;
}

void ocs_tensor_type_of(const ocs_tensor *t, ocs_tensor_type *out)
{
    memset(out, 0, sizeof *out);
    if (!t) {
        out->dtype = OCS_UNDEFINED;
        out->rank = -1;
        return;
    }
    out->dtype = t->dtype;
    out->rank = t->rank;
    memcpy(out->dims, t->dims, (size_t)t->rank * sizeof t->dims[0]);
}

/* Fewest and most inputs (or outputs) a list of parameters admits. */
static void arity(const ocs_param_def *p, size_t n, size_t *min, size_t *max)
{
    *min = 0;
    *max = n;
    for (size_t i = 0; i < n; i++) {
        if (p[i].option == OCS_PARAM_SINGLE)
            *min = i + 1;
        if (p[i].option == OCS_PARAM_VARIADIC) {
            *min = i + (size_t)p[i].min_arity;
            *max = SIZE_MAX;
        }
    }
}

/* The declaration of position i, or NULL past the end. */
static const ocs_param_def *param_at(const ocs_param_def *p, size_t n, size_t i)
{
    if (i < n)
        return &p[i];
    if (n && p[n - 1].option == OCS_PARAM_VARIADIC)
        return &p[n - 1];
    return NULL;
}

static ocs_status check_params(const ocs_schema *s, const ocs_node *n, const char *what,
                               const ocs_param_def *p, size_t np, char *const *names, size_t count,
                               const char *label, ocs_err *err)
{
    size_t min, max;
    arity(p, np, &min, &max);
    if (count < min || count > max) {
        if (max == SIZE_MAX)
            return ocs_fail(err, OCS_ERR_INVALID, "%s: %s takes at least %zu %ss, the node has %zu", label,
                            s->name, min, what, count);
        return ocs_fail(err, OCS_ERR_INVALID, "%s: %s takes %zu to %zu %ss, the node has %zu", label, s->name,
                        min, max, what, count);
    }
    for (size_t i = 0; i < count; i++) {
        const ocs_param_def *d = param_at(p, np, i);
        if (!names[i][0] && d->option != OCS_PARAM_OPTIONAL)
            return ocs_fail(err, OCS_ERR_INVALID, "%s: %s %zu (%s) is required but empty", label, what, i, d->name);
    }
    (void)n;
    return OCS_OK;
}

ocs_status ocs_schema_check_node(const ocs_schema *s, const ocs_node *n, ocs_err *err)
{
    char label[256];
    ocs_node_label(n, label, sizeof label);
    ocs_status st = check_params(s, n, "input", s->inputs, s->n_inputs, n->inputs, n->n_inputs, label, err);
    if (st == OCS_OK)
        st = check_params(s, n, "output", s->outputs, s->n_outputs, n->outputs, n->n_outputs, label, err);
    if (st != OCS_OK)
        return st;
    for (size_t k = 0; k < n->n_attrs; k++) {
        const ocs_attr *a = &n->attrs[k];
        const ocs_attr_def *d = NULL;
        for (size_t j = 0; j < s->n_attrs && !d; j++)
            if (!strcmp(s->attrs[j].name, a->name))
                d = &s->attrs[j];
        if (!d)
            return ocs_fail(err, OCS_ERR_INVALID, "%s: %s has no attribute '%s'", label, s->name, a->name);
        if (a->type != d->type)
            return ocs_fail(err, OCS_ERR_INVALID, "%s: attribute '%s' must be %s, it is %s", label, a->name,
                            ocs_attr_type_name(d->type), ocs_attr_type_name(a->type));
    }
    for (size_t j = 0; j < s->n_attrs; j++)
        if (s->attrs[j].required && !ocs_node_attr(n, s->attrs[j].name))
            return ocs_fail(err, OCS_ERR_INVALID, "%s: required attribute '%s' is missing", label,
                            s->attrs[j].name);
    return s->check ? s->check(n, err) : OCS_OK;
}

/* The dtype a fixed type string like "tensor(int32)" names, or OCS_UNDEFINED. */
static ocs_dtype fixed_type(const char *type_str)
{
    const char *open = strchr(type_str, '(');
    if (strncmp(type_str, "tensor(", 7) || !open)
        return OCS_UNDEFINED;
    char name[32];
    size_t len = strcspn(open + 1, ")");
    if (len == 0 || len >= sizeof name)
        return OCS_UNDEFINED;
    memcpy(name, open + 1, len);
    name[len] = '\0';
    return ocs_dtype_from_name(name);
}

ocs_status ocs_schema_check_types(const ocs_schema *s, const ocs_node *n, size_t n_in,
                                  const ocs_tensor_type *in, ocs_err *err)
{
    char label[256];
    ocs_node_label(n, label, sizeof label);
    ocs_dtype bound[16] = {0};
    if (s->n_constraints > sizeof bound / sizeof bound[0])
        return ocs_fail(err, OCS_ERR_INVALID, "%s: too many type constraints", s->name);
    for (size_t i = 0; i < n_in; i++) {
        if (in[i].dtype == OCS_UNDEFINED)
            continue;
        const ocs_param_def *d = param_at(s->inputs, s->n_inputs, i);
        if (!d)
            return ocs_fail(err, OCS_ERR_INVALID, "%s: %s has no input %zu", label, s->name, i);
        ocs_dtype fixed = fixed_type(d->type_str);
        if (fixed != OCS_UNDEFINED) {
            if (in[i].dtype != fixed)
                return ocs_fail(err, OCS_ERR_INVALID, "%s: input %zu (%s) must be %s, it is %s", label, i, d->name,
                                ocs_dtype_name(fixed), ocs_dtype_name(in[i].dtype));
            continue;
        }
        size_t c = 0;
        while (c < s->n_constraints && strcmp(s->constraints[c].name, d->type_str))
            c++;
        if (c == s->n_constraints)
            return ocs_fail(err, OCS_ERR_INVALID, "%s: input %s has unknown type constraint %s", s->name, d->name,
                            d->type_str);
        const ocs_type_constraint *tc = &s->constraints[c];
        int ok = 0;
        for (size_t j = 0; j < tc->n_allowed && !ok; j++)
            ok = tc->allowed[j] == in[i].dtype;
        if (!ok)
            return ocs_fail(err, OCS_ERR_INVALID, "%s: input %zu (%s) has type %s, which %s does not allow", label,
                            i, d->name, ocs_dtype_name(in[i].dtype), tc->name);
        if (d->heterogeneous)
            continue;
        if (bound[c] == OCS_UNDEFINED)
            bound[c] = in[i].dtype;
        else if (bound[c] != in[i].dtype)
            return ocs_fail(err, OCS_ERR_INVALID, "%s: input %zu (%s) has type %s but %s is already bound to %s",
                            label, i, d->name, ocs_dtype_name(in[i].dtype), tc->name, ocs_dtype_name(bound[c]));
    }
    if (!s->infer)
        return OCS_OK;
    ocs_tensor_type out[16];
    if (n->n_outputs > sizeof out / sizeof out[0])
        return ocs_fail(err, OCS_ERR_INVALID, "%s: too many outputs", label);
    return s->infer(n, n_in, in, n->n_outputs, out, err);
}
