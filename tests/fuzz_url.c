/*
** fuzz_url.c — libFuzzer target for url.c. On any input: no crash, no
** out-of-bounds access, the redacted form is NUL-terminated within its
** buffer, input without userinfo is unchanged and redaction is idempotent
** (what is left of a secret is the marker only).
*/
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char s[2048], out[2048], small[24];
    char first[64];
    size_t n = size < sizeof s - 1 ? size : sizeof s - 1, cap = 1 + (size % sizeof small);
    memcpy(s, data, n);
    s[n] = 0;
    url_redact(s, out, sizeof out);
    if (strlen(out) >= sizeof out) abort();
    url_redact(s, small, cap);
    if (strlen(small) >= cap) abort();
    /* Without userinfo nothing changes; redacting again changes nothing
    ** (the marker is all that is left of a secret). */
    if (!strchr(s, '@') && strcmp(out, s) != 0) abort();
    {
        static char again[2048];
        if (strlen(out) < sizeof out - 1) {
            url_redact(out, again, sizeof again);
            if (strcmp(again, out) != 0) abort();
        }
    }
    url_plaintext_remote(s, (int)(size & 1), first, sizeof first);
    if (strlen(first) >= sizeof first) abort();
    url_is_loopback(s, s + n);
    return 0;
}
