/*
** tool_statusfill.c — writes a synthetic fleet into agent_status and
** agent_groups for tests/it_serve.sh and bench/serve.sh, in one process
** (one kanade.exe per key under Wine would take minutes).
**
**   tool_statusfill URL fill COUNT     pc-0000 .. pc-<COUNT-1>; prints each
**                                      "pc_id<TAB>status<TAB>groups" line, so
**                                      the test checks the API against it
**   tool_statusfill URL put BUCKET KEY VALUE
**                                      one put; prints the unix ms when the
**                                      broker acknowledged it
**
** The fleet varies with the index: three versions, target 0.3.0 (none for
** every fifth), every update state, errors on failures, groups on half,
** a heartbeat an hour old on every tenth and an unreadable time on every
** 97th (both stale).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "json.h"
#include "kv.h"
#include "win.h"

static const char *const VERSIONS[] = { "0.1.0", "0.2.0", "0.3.0" };
static const char *const MOVING[] = { "pending", "downloading", "failed", "rolled_back", "quarantined", "scheduled" };

static int doc_for(int i, int64_t now, char *out, size_t cap, char *groups, size_t gcap)
{
    json_w w;
    char pc[32], host[32], at[40], err[80];
    const char *ver = VERSIONS[i % 3], *target = i % 5 ? "0.3.0" : NULL, *state;
    snprintf(pc, sizeof pc, "pc-%04d", i);
    snprintf(host, sizeof host, "HOST-%04d", i);
    state = !target ? "idle" : !strcmp(ver, target) ? (i % 2 ? "done" : "idle") : MOVING[(i / 3) % 6];
    win_rfc3339(now - (i % 10 == 0 ? 3600000 : 2000), at);
    json_w_init(&w, out, cap);
    json_w_obj_open(&w);
    json_w_kstr(&w, "pc_id", pc);
    json_w_kstr(&w, "at", i % 97 == 0 ? "not-a-time" : at);
    json_w_kstr(&w, "agent_version", ver);
    json_w_kstr(&w, "hostname", host);
    json_w_kstr(&w, "os_family", "windows");
    json_w_kstr(&w, "transport", "plaintext");
    if (!strcmp(state, "quarantined")) { json_w_key(&w, "quarantined_versions"); json_w_raw(&w, "[\"0.3.0\"]", 9); }
    if (target) { json_w_kstr(&w, "target_version", target); json_w_kstr(&w, "target_scope", "global"); }
    json_w_kstr(&w, "update_state", state);
    if (!strcmp(state, "failed") || !strcmp(state, "rolled_back") || !strcmp(state, "quarantined")) {
        snprintf(err, sizeof err, "swap of %s failed on %s", target, pc);
        json_w_kstr(&w, "update_error", err);
    }
    if (!strcmp(state, "downloading")) json_w_kint(&w, "update_percent", i % 100);
    json_w_kstr(&w, "exe_sha256", "SHA-256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU=");
    /* Older builds do not report release keys (every third). */
    if (i % 3) json_w_kint(&w, "release_keys", i % 3 - 1);
    if (i % 3 == 2 && i % 7 == 0) json_w_kstr(&w, "target_error", "global: target 0.4.0 is not signed");
    json_w_obj_close(&w);
    snprintf(groups, gcap, "%s", i % 4 == 0 ? "{\"groups\":[\"canary\",\"office\"]}" : i % 4 == 1 ? "{\"groups\":[\"office\"]}" : "");
    return w.err;
}

/* The buckets must exist (kanade broker init), as for the agents. */
static int open_bucket(nats_conn *c, const char *name, kv_bucket **b)
{
    js_err e;
    int rc;
    memset(&e, 0, sizeof e);
    if ((rc = kv_bind(c, name, b, &e)) != NATS_OK)
        fprintf(stderr, "bind %s: %s %s (run kanade broker init first)\n", name, nats_strerror(rc), e.desc);
    return rc;
}

static int put(kv_bucket *b, const char *key, const char *val)
{
    js_err e;
    int rc;
    memset(&e, 0, sizeof e);
    if ((rc = kv_put(b, key, val, strlen(val), NULL, &e)) != NATS_OK)
        fprintf(stderr, "put %s: %s %s\n", key, nats_strerror(rc), e.desc);
    return rc;
}

int wmain(int argc, wchar_t **argv)
{
    char a[6][2048], err[256] = "", doc[2048], groups[128], pc[32];
    nats_opts o;
    nats_conn *c = NULL;
    kv_bucket *bs = NULL, *bg = NULL;
    int i, n, rc = NATS_OK;
    int64_t now;
    if (argc < 3 || argc > 7) {
        fprintf(stderr, "usage: tool_statusfill URL fill COUNT | URL put BUCKET KEY VALUE\n");
        return 2;
    }
    for (i = 1; i < argc; i++)
        if (win_to_utf8(argv[i], a[i - 1], sizeof a[i - 1]) != 0) return 2;
    memset(&o, 0, sizeof o);
    o.servers = a[0];
    o.name = "tool_statusfill";
    if (nats_connect(&o, &c, err, sizeof err) != NATS_OK) { fprintf(stderr, "connect: %s\n", err); return 1; }
    if (!strcmp(a[1], "put") && argc == 6) {
        if ((rc = open_bucket(c, a[2], &bs)) == NATS_OK && (rc = put(bs, a[3], a[4])) == NATS_OK)
            printf("%lld\n", (long long)win_unix_ms());
    } else if (!strcmp(a[1], "fill") && argc == 4) {
        n = atoi(a[2]);
        now = win_unix_ms();
        if ((rc = open_bucket(c, "agent_status", &bs)) == NATS_OK && (rc = open_bucket(c, "agent_groups", &bg)) == NATS_OK) {
            for (i = 0; i < n && rc == NATS_OK; i++) {
                snprintf(pc, sizeof pc, "pc-%04d", i);
                if (doc_for(i, now, doc, sizeof doc, groups, sizeof groups) != 0) { rc = NATS_ERR_ARG; break; }
                if (groups[0] && (rc = put(bg, pc, groups)) != NATS_OK) break;
                if ((rc = put(bs, pc, doc)) != NATS_OK) break;
                printf("%s\t%s\t%s\n", pc, doc, groups);
            }
        }
    } else {
        fprintf(stderr, "usage: tool_statusfill URL fill COUNT | URL put BUCKET KEY VALUE\n");
        rc = NATS_ERR_ARG;
    }
    kv_close(bs);
    kv_close(bg);
    nats_close(c);
    return rc == NATS_OK ? 0 : 1;
}
