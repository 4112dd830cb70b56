/* fuzz_pe_version.c — libFuzzer target: the input is a PE image. Every
** answer must be one of the documented codes, out must stay NUL-terminated
** within cap and hold "" on error, and a smaller out may only turn the
** answer into PEV_ERR_SPACE, never into another one. ASan/UBSan do the rest.
** Seeds: tests/corpus/fuzz_pe_version/ plus the fixture exes that
** tests/pe_fixtures.sh builds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "pe_version.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char big[256], small[8];
    size_t n;
    int rc, rc2;

    memset(big, 'x', sizeof big);
    rc = pe_version_buf(data, size, big, sizeof big);
    if (rc < PEV_OK || rc > PEV_ERR_SPACE) abort();
    n = strnlen(big, sizeof big);
    if (n == sizeof big) abort();                       /* not terminated */
    if (rc != PEV_OK && n != 0) abort();
    if (rc == PEV_OK && n == 0) abort();                /* OK means a version */

    /* The same image into a small buffer: same answer, or "no room". */
    memset(small, 'x', sizeof small);
    rc2 = pe_version_buf(data, size, small, sizeof small);
    if (strnlen(small, sizeof small) == sizeof small) abort();
    if (rc == PEV_OK) {
        if (n < sizeof small ? (rc2 != PEV_OK || strcmp(small, big) != 0) : rc2 != PEV_ERR_SPACE) abort();
    } else if (rc2 != rc && rc2 != PEV_ERR_SPACE) {
        abort();    /* a small buffer may run out before a later error shows */
    }
    /* No room at all. */
    rc2 = pe_version_buf(data, size, small, 0);
    if (rc == PEV_OK && rc2 != PEV_ERR_SPACE) abort();
    return 0;
}
