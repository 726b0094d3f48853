/*
 * conformance/compare.h - comparing an output against its expected value.
 *
 * The rule is ONNX's: exact dtype and shape; integers, booleans and strings
 * exactly; floats pass when |got - want| <= atol + rtol * |want| (want is
 * the reference), NaN matches NaN, and an infinity matches only the same
 * infinity.  Beside the verdict the comparison measures, over the finite
 * pairs, the largest absolute and relative error, the largest distance in
 * units in the last place of the element type (ULP), and the normalised
 * mean squared error NMSE = sum (got - want)^2 / sum want^2, whose
 * denominator is floored at OCS_NMSE_FLOOR so that an all-zero reference
 * gives 0 when matched exactly and a large value otherwise.
 *
 * Tolerances come per element type.  ocs_tolerance_init gives ONNX's
 * node-test rule (rtol 1e-3, atol 1e-7 for every type), which `ocs
 * onnx-test` and `ocs run --tests` use against stored outputs;
 * ocs_tolerance_init_backend gives the defaults for a backend compared
 * with the reference on generated cases:
 *
 *   type                 rtol      atol
 *   double               1e-9      1e-12
 *   float                1e-4      1e-5
 *   float16              1e-3      2.5e-3
 *   bfloat16             1e-2      2e-2
 *   float8 e4m3 (fn/uz)  1.25e-1   1.6e-2
 *   float8 e5m2 (fn/uz)  2.5e-1    3.2e-2
 *   float8 e8m0          1.0       0
 *   float4 e2m1          5e-1      5e-1
 *
 * A case may override rtol and atol (for every float type) and add limits
 * on ULP distance and NMSE (ocs_tolerance_override).
 */
#ifndef OCS_COMPARE_H
#define OCS_COMPARE_H

#include "ocs/tensor.h"
#include "ocs/value.h"

#define OCS_NMSE_FLOOR 1e-30

/* Tolerances per element type; a negative entry means "use the default". */
typedef struct ocs_tolerance {
    double rtol, atol;                      /* defaults for types without an entry */
    double rtol_for[OCS_DTYPE_COUNT_];
    double atol_for[OCS_DTYPE_COUNT_];
    double max_ulp;                         /* < 0: no limit on the ULP distance */
    double max_nmse;                        /* < 0: no limit on NMSE */
} ocs_tolerance;

/* ONNX's node-test rule: rtol 1e-3, atol 1e-7 for every type, no ULP/NMSE limit. */
void ocs_tolerance_init(ocs_tolerance *tol);
/* The per-type defaults for backends against the reference (table above). */
void ocs_tolerance_init_backend(ocs_tolerance *tol);
/*
 * Parses one --rtol/--atol argument: "1e-3" sets the default, "float16=2e-3"
 * one element type.  Returns 0 on success, -1 on malformed text.
 */
int ocs_tolerance_parse(ocs_tolerance *tol, int is_rtol, const char *text);
/*
 * A case's overrides: rtol/atol >= 0 replace the tolerance of every type;
 * max_ulp/max_nmse >= 0 set those limits.  Negative arguments change nothing.
 */
void ocs_tolerance_override(ocs_tolerance *tol, double rtol, double atol, double max_ulp, double max_nmse);
/* The tolerance that applies to type t. */
double ocs_tolerance_rtol(const ocs_tolerance *tol, ocs_dtype t);
double ocs_tolerance_atol(const ocs_tolerance *tol, ocs_dtype t);

typedef struct ocs_diff {
    int equal;              /* 1 when the tensors compare equal under the rule */
    double max_abs;         /* largest |got - want| over finite pairs */
    double max_rel;         /* largest |got - want| / |want| over finite pairs, want != 0 */
    double max_ulp;         /* largest ULP distance over finite pairs (floats only) */
    double nmse;            /* sum (got-want)^2 / max(sum want^2, OCS_NMSE_FLOOR) */
    size_t n_compared;      /* elements compared */
    size_t n_bad;           /* elements outside tolerance (or not equal) */
    size_t first_bad;       /* flat index of the first one */
    size_t n_special;       /* of n_bad: NaN/Inf that did not match */
    char reason[512];       /* why not equal: dtype, shape, or the first bad element */
} ocs_diff;

/* Compares got against want (the reference) with tol; fills *d. */
void ocs_compare(const ocs_tensor *got, const ocs_tensor *want, const ocs_tolerance *tol, ocs_diff *d);

/* The same for values: kinds must agree, sequences element by element,
 * optionals both empty or with equal contents. */
void ocs_compare_values(const ocs_value *got, const ocs_value *want, const ocs_tolerance *tol, ocs_diff *d);

/*
 * Distance in units in the last place between two elements of float type t
 * given as bit patterns (as stored in ocs_tensor data, zero-extended):
 * how many representable values lie between them; +0 and -0 are 0 apart.
 * Returns -1 when either is NaN.
 */
double ocs_ulp_distance(ocs_dtype t, uint64_t a_bits, uint64_t b_bits);

#endif
