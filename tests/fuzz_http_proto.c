/*
** fuzz_http_proto.c — libFuzzer target for http_proto.c. On any input: no
** crash, no out-of-bounds access; the input split at a point chosen by its
** first byte parses exactly like the whole; an accepted request has a GET
** or HEAD method, a head within HP_MAX_HEAD and a path that starts with '/'
** and holds no "..", backslash or control byte; query lookups stay inside
** their buffer.
*/
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "http_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static hp_request a, b;
    char v[64];
    size_t scan = 0, scan2 = 0, cut, i;
    int r1, r2;
    const char *buf = (const char *)data;

    r1 = hp_parse(buf, size, &scan, &a);
    cut = size ? data[0] % (size + 1) : 0;
    r2 = hp_parse(buf, cut, &scan2, &b);
    if (r2 == HP_MORE) r2 = hp_parse(buf, size, &scan2, &b);
    if (r1 != r2) abort();
    if (r1 != 0) return 0;
    if (memcmp(&a, &b, sizeof a) != 0) abort();
    if (a.method != HP_GET && a.method != HP_HEAD) abort();
    if (a.head_len == 0 || a.head_len > size || a.head_len > HP_MAX_HEAD) abort();
    if (a.path[0] != '/' || strstr(a.path, "..")) abort();
    for (i = 0; a.path[i]; i++)
        if ((unsigned char)a.path[i] < 0x20 || a.path[i] == '\\') abort();
    if (hp_query_get(a.query, "version", v, sizeof v) == 0 && strlen(v) >= sizeof v) abort();
    hp_query_get(a.query, "token", v, sizeof v);
    return 0;
}
