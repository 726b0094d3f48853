/*
 * conformance/cases/cases.h - the case generators, one file per operator.
 *
 * Each generator appends its grid to the list: deliberately odd shapes
 * (sizes 1, primes, empty dimensions where the operator allows them), every
 * attribute that changes the semantics, every schema version the reference
 * implements, and the edge cases of the operator's page.  Cases stay small:
 * the whole default set runs on every backend in well under two minutes.
 */
#ifndef OCS_CASES_H
#define OCS_CASES_H

#include "../case.h"

#define OCS_CASE_GENERATOR(name) void ocs_cases_##name(ocs_case_list *l);
#include "list.h"
#undef OCS_CASE_GENERATOR

/* Appends every generator's cases, in the order of list.h. */
void ocs_cases_all(ocs_case_list *l);

/* Small helpers for generators. */
#define OCS_DIMS(...) ((const int64_t[]){__VA_ARGS__})
/* "f32", "f16", "bf16", "f64", "i32", ... for case names. */
const char *ocs_cases_type_tag(ocs_dtype t);

#endif
