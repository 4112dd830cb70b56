/*
** fuzz_js_ack.c — libFuzzer target for js_ack.c. On any input: no crash, no
** out-of-bounds access, and a parsed subject has 9 or 11..12 tokens and
** formats back to numbers that parse again to the same metadata.
*/
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "js_ack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char s[4096], back[512];
    js_meta m, m2;
    size_t n = size < sizeof s - 1 ? size : sizeof s - 1;
    memcpy(s, data, n);
    s[n] = 0;
    if (jsa_parse(s, &m) != 0) return 0;
    snprintf(back, sizeof back, "$JS.ACK.S.C.%" PRIu64 ".%" PRIu64 ".%" PRIu64 ".%" PRId64 ".%" PRIu64,
             m.delivered, m.stream_seq, m.consumer_seq, m.ts_ns, m.pending);
    /* ts is a u64 on the wire stored as int64: a negative value came from
    ** a number above INT64_MAX and does not round-trip through %PRId64. */
    if (m.ts_ns < 0) return 0;
    if (jsa_parse(back, &m2) != 0 || memcmp(&m, &m2, sizeof m) != 0) abort();
    return 0;
}
