/*
** tool_kvfill.c — writes many keys into an existing KV bucket in one process,
** for tests that need a large fleet (tests/it_cli.sh: the rollout warning at
** 100 agents). Starting one kanade.exe per key under Wine would take minutes.
**
**   tool_kvfill URL BUCKET PREFIX COUNT VALUE
**
** Puts PREFIX0 .. PREFIX<COUNT-1>, each with VALUE. Prints "filled COUNT".
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kv.h"
#include "win.h"

int wmain(int argc, wchar_t **argv)
{
    char a[5][1024], err[256] = "", key[1100];
    nats_opts o;
    nats_conn *c = NULL;
    kv_bucket *b = NULL;
    js_err e;
    uint64_t rev = 0;
    int i, n, rc;
    if (argc != 6) {
        fprintf(stderr, "usage: tool_kvfill URL BUCKET PREFIX COUNT VALUE\n");
        return 2;
    }
    for (i = 0; i < 5; i++)
        if (win_to_utf8(argv[i + 1], a[i], sizeof a[i]) != 0) return 2;
    n = atoi(a[3]);
    memset(&o, 0, sizeof o);
    memset(&e, 0, sizeof e);
    o.servers = a[0];
    o.name = "tool_kvfill";
    if ((rc = nats_connect(&o, &c, err, sizeof err)) != NATS_OK) {
        fprintf(stderr, "connect: %s\n", err);
        return 1;
    }
    if ((rc = kv_bind(c, a[1], &b, &e)) != NATS_OK) {
        fprintf(stderr, "bind %s: %s %s\n", a[1], nats_strerror(rc), e.desc);
        nats_close(c);
        return 1;
    }
    for (i = 0; i < n; i++) {
        snprintf(key, sizeof key, "%s%d", a[2], i);
        if ((rc = kv_put(b, key, a[4], strlen(a[4]), &rev, &e)) != NATS_OK) {
            fprintf(stderr, "put %s: %s %s\n", key, nats_strerror(rc), e.desc);
            break;
        }
    }
    kv_close(b);
    nats_close(c);
    if (rc != NATS_OK) return 1;
    printf("filled %d\n", n);
    return 0;
}
