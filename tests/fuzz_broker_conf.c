/*
** fuzz_broker_conf.c — libFuzzer target for broker_conf.c: any PC list and
** any .auth text parse without out-of-bounds access; parsed ids make a
** config that fits bcf_conf_size, a parsed .auth writes back the same, and
** any subject is explained within the buffer.
*/
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "broker_conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char ids[64][BCF_USER_MAX + 1], err[200], out[256];
    static bcf_user pcs[64];
    bcf_user op = { "kanade-operator", "x1" }, u, v;
    int n = bcf_parse_pcs((const char *)data, size, ids, 64, err, sizeof err), i;
    if (n > 0) {
        size_t cap = bcf_conf_size(n);
        char *c = malloc(cap);
        for (i = 0; i < n; i++) {
            memcpy(pcs[i].name, ids[i], sizeof pcs[i].name);
            memcpy(pcs[i].pass, "abc", 4);
        }
        if (!c || bcf_write_conf(&op, pcs, n, c, cap) < 0) abort();
        free(c);
    }
    {
        /* any subject explains without overflow, and the line ends in cap */
        char subj[300], line[120];
        size_t n = size < sizeof subj - 1 ? size : sizeof subj - 1;
        memcpy(subj, data, n);
        subj[n] = 0;
        if ((size_t)bcf_explain(subj, size & 1, "pc1", line, sizeof line) >= sizeof line) abort();
        if (strlen(line) >= sizeof line) abort();
    }
    if (bcf_parse_auth((const char *)data, size, &u) == 0) {
        if (bcf_write_auth(&u, out, sizeof out) < 0) abort();
        if (bcf_parse_auth(out, strlen(out), &v) != 0 || memcmp(&u, &v, sizeof u) != 0) abort();
    }
    return 0;
}
