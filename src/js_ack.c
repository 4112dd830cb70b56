/*
** js_ack.c — JetStream ack-subject parser. See js_ack.h.
**
** The subject is split in one pass into at most JSA_MAX_TOKENS (start, end)
** pairs; the bound is checked before a slot is written, so a subject with
** any number of dots never writes past the arrays.
*/
#include <stddef.h>
#include <string.h>
#include "js_ack.h"

/* see js_ack.h */
int jsa_parse_u64(const char *s, const char *end, uint64_t *v)
{
    uint64_t n = 0;
    if (s >= end) return 1;
    for (; s < end; s++) {
        unsigned d;
        if (*s < '0' || *s > '9') return 1;
        d = (unsigned)(*s - '0');
        if (n > UINT64_MAX / 10 || (n == UINT64_MAX / 10 && d > UINT64_MAX % 10)) return 1;
        n = n * 10 + d;
    }
    *v = n;
    return 0;
}

/* see js_ack.h */
int jsa_parse(const char *reply, js_meta *out)
{
    const char *start[JSA_MAX_TOKENS], *end[JSA_MAX_TOKENS];
    const char *p, *tok;
    int n = 0, base, i;
    uint64_t v[5];

    if (!reply || strncmp(reply, "$JS.ACK.", 8) != 0) return 1;
    for (tok = p = reply; ; p++) {
        if (*p != '.' && *p != 0) continue;
        if (n == JSA_MAX_TOKENS) return 1;      /* one token too many */
        start[n] = tok;
        end[n++] = p;
        if (*p == 0) break;
        tok = p + 1;
    }
    if (n == 9) base = 4;                       /* v1 */
    else if (n >= 11) base = 6;                 /* v2, with or without <random> */
    else return 1;
    for (i = 0; i < 5; i++)
        if (jsa_parse_u64(start[base + i], end[base + i], &v[i])) return 1;
    out->delivered = v[0];
    out->stream_seq = v[1];
    out->consumer_seq = v[2];
    out->ts_ns = (int64_t)v[3];
    out->pending = v[4];
    return 0;
}
