/* check.h - the in-repo assert helper for nnport's tests.

   CHECK(cond)            records a pass or a failure (file:line and the text)
   CHECK_EQ_INT(a, b)     integer equality, printing both sides on failure
   CHECK_NEAR(a, b, tol)  |a - b| <= tol, printing both sides on failure
   CHECK_STATUS(expr, s)  expr returns the nn_status s
   check_summary()        prints "N passed, N failed" and returns the exit code

   Every test function is a plain function called from main; a test that
   checks nothing is a defect, so check_summary() also fails a run in which
   no CHECK ran at all. */
#ifndef NN_TESTS_CHECK_H
#define NN_TESTS_CHECK_H

#include <math.h>
#include <stdio.h>

static int check__passed, check__failed;

static void check__record(int ok, const char *file, int line, const char *text) {
    if (ok) { check__passed++; return; }
    check__failed++;
    fprintf(stderr, "FAIL %s:%d: %s\n", file, line, text);
}

#define CHECK(cond) check__record((cond) != 0, __FILE__, __LINE__, #cond)

#define CHECK_EQ_INT(a, b)                                                                   \
    do {                                                                                     \
        long long check__a = (long long)(a), check__b = (long long)(b);                      \
        check__record(check__a == check__b, __FILE__, __LINE__, #a " == " #b);               \
        if (check__a != check__b) fprintf(stderr, "     %lld != %lld\n", check__a, check__b); \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                                 \
    do {                                                                                      \
        double check__a = (double)(a), check__b = (double)(b);                                \
        int check__ok = fabs(check__a - check__b) <= (double)(tol);                           \
        check__record(check__ok, __FILE__, __LINE__, #a " ~= " #b);                           \
        if (!check__ok) fprintf(stderr, "     %.9g vs %.9g (tol %g)\n", check__a, check__b, (double)(tol)); \
    } while (0)

#define CHECK_STATUS(expr, s)                                                                 \
    do {                                                                                      \
        int check__got = (int)(expr);                                                         \
        check__record(check__got == (int)(s), __FILE__, __LINE__, #expr " == " #s);           \
        if (check__got != (int)(s)) fprintf(stderr, "     status %d, wanted %d\n", check__got, (int)(s)); \
    } while (0)

static int check_summary(void) {
    if (check__passed + check__failed == 0) {
        fprintf(stderr, "no checks ran\n");
        check__failed = 1;
    }
    printf("%d passed, %d failed\n", check__passed, check__failed);
    return check__failed ? 1 : 0;
}

#endif
