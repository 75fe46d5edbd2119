/* test_flowcli.c - the flows' shared comparison helpers (examples/nnport/cli.c):
   the greedy CTC reading behind lvm_flow --gate ctc and `nnport quantize
   search --metric ctc`, and cli_agree's counts.  Every expected value is
   worked out by hand in the comments: a "frame" is one row of scores, its
   reading the top class; class 0 is the CTC blank. */
#include "nnport/cli.h"
#include "check.h"
#include <string.h>

#define C 4 /* classes: 0 blank, 1 'a', 2 'b', 3 'c' */

/* Fills rows frames of C scores: frame t puts 0.7 on cls[t], 0.1 elsewhere. */
static void frames(float *s, const int *cls, int rows) {
    for (int t = 0; t < rows; t++)
        for (int k = 0; k < C; k++) s[t * C + k] = k == cls[t] ? 0.7f : 0.1f;
}

static int same(const int *x, const int *y, int rows) {
    float a[16 * C], b[16 * C];
    frames(a, x, rows);
    frames(b, y, rows);
    return cli_ctc_same(a, b, (size_t)rows, C);
}

static void test_ctc_reading(void) {
    /* "ab" both: the 'a' moved one frame later and the 'b' doubled (repeats merge) */
    const int ab1[6] = {0, 1, 0, 2, 0, 0}, ab2[6] = {0, 0, 1, 0, 2, 2};
    CHECK_EQ_INT(same(ab1, ab2, 6), 1);
    /* "aab" needs a blank between the two a's: a,0,a,b reads "aab", a,a,a,b reads "ab" */
    const int aab[6] = {1, 0, 1, 2, 0, 0}, ab3[6] = {1, 1, 1, 2, 0, 0};
    CHECK_EQ_INT(same(aab, ab3, 6), 0);
    CHECK_EQ_INT(same(aab, aab, 6), 1);
    /* one character changed: "ab" against "cb" */
    const int cb[6] = {0, 3, 0, 2, 0, 0};
    CHECK_EQ_INT(same(ab1, cb, 6), 0);
    /* a prefix is not the same text: "ab" against "a" */
    const int a_only[6] = {0, 1, 0, 0, 0, 0};
    CHECK_EQ_INT(same(ab1, a_only, 6), 0);
    CHECK_EQ_INT(same(a_only, ab1, 6), 0);
    /* all blank against all blank: both empty */
    const int none[3] = {0, 0, 0};
    CHECK_EQ_INT(same(none, none, 3), 1);
    /* ties go to the lower class: 0.4 on 'a' and on 'b' reads 'a' */
    float t1[C] = {0.1f, 0.4f, 0.4f, 0.1f}, t2[C] = {0.1f, 0.6f, 0.2f, 0.1f}, t3[C] = {0.1f, 0.2f, 0.6f, 0.1f};
    CHECK_EQ_INT((int)cli_argmax(t1, C), 1);
    CHECK_EQ_INT(cli_ctc_same(t1, t2, 1, C), 1);
    CHECK_EQ_INT(cli_ctc_same(t1, t3, 1, C), 0);
}

/* cli_agree with ctc set counts outputs and equal readings; the cosine is
   still the worst over the outputs, and reset keeps the flag. */
static void test_agree_counts(void) {
    const int ab1[6] = {0, 1, 0, 2, 0, 0}, ab2[6] = {0, 0, 1, 0, 2, 2}, cb[6] = {0, 3, 0, 2, 0, 0};
    float r[6 * C], g1[6 * C], g2[6 * C];
    int64_t dims[3] = {1, 6, C};
    frames(r, ab1, 6);
    frames(g1, ab2, 6);
    frames(g2, cb, 6);
    nn_shape sh = nn_shape_make(3, dims);
    nn_value vr = nn_value_make(NN_DTYPE_FLOAT, sh, r), v1 = nn_value_make(NN_DTYPE_FLOAT, sh, g1),
             v2 = nn_value_make(NN_DTYPE_FLOAT, sh, g2);
    cli_agreement a = {.ctc = 1};
    cli_agreement_reset(&a);
    CHECK_EQ_INT(a.ctc, 1);
    cli_agree(&a, &vr, &vr);
    CHECK_EQ_INT(a.ctc_same, 1);
    CHECK_NEAR(a.cos, 1.0, 1e-12);
    cli_agree(&a, &vr, &v1); /* same text, frames moved */
    CHECK_EQ_INT(a.ctc_same, 2);
    CHECK_EQ_INT(a.ctc_outputs, 2);
    /* cosine of ab1 against ab2, frame by frame: 0|0 1|0 0|1 2|0 0|2 0|2,
       so one equal frame and five that differ.  Each frame's |f|^2 is
       0.49 + 3 * 0.01 = 0.52; an equal frame's dot is 0.52, a differing
       one's 0.7 * 0.1 * 2 + 0.1 * 0.1 * 2 = 0.16.  cos = (0.52 + 5 * 0.16) /
       (6 * 0.52) = 1.32 / 3.12 */
    CHECK_NEAR(a.cos, 1.32 / 3.12, 1e-6);
    cli_agree(&a, &vr, &v2); /* "cb" */
    CHECK_EQ_INT(a.ctc_same, 2);
    CHECK_EQ_INT(a.ctc_outputs, 3);
    cli_agreement_reset(&a);
    CHECK_EQ_INT(a.ctc_outputs, 0);
    CHECK_EQ_INT(a.ctc, 1);
    /* without ctc nothing is counted */
    cli_agreement b = {.cos = 1};
    cli_agree(&b, &vr, &v2);
    CHECK_EQ_INT(b.ctc_outputs, 0);
    CHECK_EQ_INT(b.ctc_same, 0);
}

int main(void) {
    test_ctc_reading();
    test_agree_counts();
    return check_summary();
}
