/*
** th.h — the project's tiny test harness (header only).
**
** A test file defines test functions and lists them in main() with TH_RUN.
** TH_CHECK records a failure with file:line and keeps going, so one run
** reports every broken assertion. th_summary() prints the suite's closing
** line "<suite>: N passed, N failed" (tests/run.sh adds the suites up) and
** returns the exit status.
*/
#ifndef TH_H
#define TH_H
#include <stdio.h>
#include <string.h>

static int th_passed, th_failed, th_cur_failed;
static const char *th_cur;

#define TH_CHECK(cond) do { if (!(cond)) { th_cur_failed++; \
    fprintf(stderr, "  FAIL %s:%d in %s: %s\n", __FILE__, __LINE__, th_cur, #cond); } } while (0)
#define TH_EQ_INT(a, b) do { long long th_a = (long long)(a), th_b = (long long)(b); \
    if (th_a != th_b) { th_cur_failed++; fprintf(stderr, "  FAIL %s:%d in %s: %s == %lld, expected %lld\n", \
    __FILE__, __LINE__, th_cur, #a, th_a, th_b); } } while (0)
#define TH_EQ_STR(a, b) do { const char *th_a = (a), *th_b = (b); \
    if (!th_a || !th_b || strcmp(th_a, th_b) != 0) { th_cur_failed++; \
    fprintf(stderr, "  FAIL %s:%d in %s: %s == \"%s\", expected \"%s\"\n", __FILE__, __LINE__, th_cur, \
    #a, th_a ? th_a : "(null)", th_b ? th_b : "(null)"); } } while (0)

#define TH_RUN(fn) do { th_cur = #fn; th_cur_failed = 0; fn(); \
    if (th_cur_failed) { th_failed++; fprintf(stderr, "not ok %s\n", #fn); } \
    else { th_passed++; } } while (0)

/* The entry point of a unit test whose body is `static int main_(void)`:
** wmain under mingw's -municode, main natively. */
#ifdef _WIN32
#define TH_MAIN int wmain(void) { return main_(); }
#else
#define TH_MAIN int main(void) { return main_(); }
#endif

static int th_summary(const char *suite)
{
    printf("%s: %d passed, %d failed\n", suite, th_passed, th_failed);
    fflush(stdout);
    return th_failed ? 1 : 0;
}
#endif
