/*
 * conformance/cases/rotary.c - RotaryEmbedding-23: 4-D and 3-D inputs,
 * position_ids present (caches indexed by position) and absent (caches per
 * batch and token), half-split and interleaved pairs, partial rotation
 * (rotary_embedding_dim < head size; the rest passes through), head size
 * 40, one token, and float16/bfloat16.
 */
#include "cases.h"

typedef struct rope {
    const char *tag;
    int rank3;                   /* 3-D input [B, S, H*D] with num_heads */
    int64_t B, S, H, D;
    int64_t rotary_dim;          /* 0: the whole head */
    int interleaved;
    int position_ids;
    int64_t max_pos;
} rope;

static void add(ocs_case_list *l, const rope *r, ocs_dtype t)
{
    ocs_case *c = ocs_case_add(l, "", "RotaryEmbedding", 23, "rotary_%s_%s", r->tag, ocs_cases_type_tag(t));
    int64_t rd = r->rotary_dim ? r->rotary_dim : r->D;
    if (r->rank3)
        ocs_case_input_uniform(c, "X", t, 3, OCS_DIMS(r->B, r->S, r->H * r->D), -1, 1);
    else
        ocs_case_input_uniform(c, "X", t, 4, OCS_DIMS(r->B, r->H, r->S, r->D), -1, 1);
    if (r->position_ids) {
        ocs_case_input_uniform(c, "cos_cache", t, 2, OCS_DIMS(r->max_pos, rd / 2), -1, 1);
        ocs_case_input_uniform(c, "sin_cache", t, 2, OCS_DIMS(r->max_pos, rd / 2), -1, 1);
        ocs_case_input_uniform(c, "position_ids", OCS_INT64, 2, OCS_DIMS(r->B, r->S), 0, (double)(r->max_pos - 1));
    } else {
        ocs_case_input_uniform(c, "cos_cache", t, 3, OCS_DIMS(r->B, r->S, rd / 2), -1, 1);
        ocs_case_input_uniform(c, "sin_cache", t, 3, OCS_DIMS(r->B, r->S, rd / 2), -1, 1);
    }
    ocs_case_output(c, "Y", t);
    if (r->interleaved)
        ocs_case_attr_int(c, "interleaved", 1);
    if (r->rank3)
        ocs_case_attr_int(c, "num_heads", r->H);
    if (r->rotary_dim)
        ocs_case_attr_int(c, "rotary_embedding_dim", r->rotary_dim);
}

void ocs_cases_rotary(ocs_case_list *l)
{
    static const rope cases[] = {
        {"4d_pos_2x3x5x8", 0, 2, 3, 5, 8, 0, 0, 1, 11},
        {"4d_pos_interleaved_2x3x5x8", 0, 2, 3, 5, 8, 0, 1, 1, 11},
        {"4d_no_pos_2x3x5x8", 0, 2, 3, 5, 8, 0, 0, 0, 0},
        {"4d_no_pos_interleaved_2x3x5x8", 0, 2, 3, 5, 8, 0, 1, 0, 0},
        {"3d_pos_2x5_h4x16", 1, 2, 5, 4, 16, 0, 0, 1, 9},
        {"3d_pos_interleaved_2x5_h4x16", 1, 2, 5, 4, 16, 0, 1, 1, 9},
        {"3d_no_pos_1x7_h2x8", 1, 1, 7, 2, 8, 0, 0, 0, 0},
        {"partial_4d_pos_2x3x5x40_rd16", 0, 2, 3, 5, 40, 16, 0, 1, 8},
        {"partial_interleaved_3d_2x4_h3x40_rd24", 1, 2, 4, 3, 40, 24, 1, 1, 6},
        {"head40_4d_pos_1x2x5x40", 0, 1, 2, 5, 40, 0, 0, 1, 5},
        {"one_token_4d_pos_3x4x1x16", 0, 3, 4, 1, 16, 0, 0, 1, 64},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        add(l, &cases[i], OCS_FLOAT);
    add(l, &cases[0], OCS_FLOAT16);
    add(l, &cases[5], OCS_FLOAT16);
    add(l, &cases[7], OCS_BFLOAT16);
    add(l, &cases[2], OCS_BFLOAT16);
}
