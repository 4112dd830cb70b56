/*
** tool_rollout.c — drives rollout_kv.c against a real nats-server, for
** tests/it_rollout.sh (the agent code that writes and reads the failure
** records, without a Wine service per host).
**
**   tool_rollout URL fail VERSION PC STATE REASON [AT_MS]
**       writes PC's failure record; with AT_MS, first sleeps until that
**       unix ms, so separate processes write at the same moment
**   tool_rollout URL race VERSION N
**       N threads, one connection each, released together, each writing
**       the record of pc-race-<i>
**   tool_rollout URL check VERSION POLICY      (POLICY "-" = none)
**       prints "failures=F baseline=B threshold=T malformed=M halted=H hold=X",
**       then "reason: ..." and "problems: ..."
**   tool_rollout URL resume VERSION
**       prints "baseline=N"
*/
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "rollout_kv.h"
#include "win.h"

static const char *g_url;
static const char *g_version;
static HANDLE g_go;

static int connect_bucket(nats_conn **c, kv_bucket **b)
{
    char err[256] = "";
    nats_opts o;
    js_err e;
    int rc;
    memset(&o, 0, sizeof o);
    o.servers = g_url;
    o.name = "tool_rollout";
    if ((rc = nats_connect(&o, c, err, sizeof err)) != NATS_OK) {
        fprintf(stderr, "connect: %s\n", err);
        return 1;
    }
    if ((rc = rokv_open(*c, 1, b, &e)) != NATS_OK) {
        fprintf(stderr, "open %s: %s %s\n", RO_BUCKET, nats_strerror(rc), e.desc);
        nats_close(*c);
        return 1;
    }
    return 0;
}

static int write_fail(kv_bucket *b, const char *pc, const char *state, const char *reason)
{
    ro_fail f;
    js_err e;
    int rc;
    memset(&f, 0, sizeof f);
    snprintf(f.pc, sizeof f.pc, "%s", pc);
    snprintf(f.version, sizeof f.version, "%s", g_version);
    snprintf(f.state, sizeof f.state, "%s", state);
    snprintf(f.reason, sizeof f.reason, "%s", reason);
    f.at_ms = win_unix_ms();
    if ((rc = rokv_record_failure(b, &f, &e)) != NATS_OK) {
        fprintf(stderr, "record %s: %s %s\n", pc, nats_strerror(rc), e.desc);
        return 1;
    }
    return 0;
}

static DWORD WINAPI race_thread(void *arg)
{
    nats_conn *c = NULL;
    kv_bucket *b = NULL;
    char pc[32];
    int rc;
    snprintf(pc, sizeof pc, "pc-race-%d", (int)(intptr_t)arg);
    if (connect_bucket(&c, &b)) return 1;
    WaitForSingleObject(g_go, INFINITE);
    rc = write_fail(b, pc, "rolled_back", "race");
    kv_close(b);
    nats_close(c);
    return (DWORD)rc;
}

static int race(int n)
{
    HANDLE th[64];
    int i, bad = 0;
    if (n < 1 || n > 64) return 2;
    g_go = CreateEventW(NULL, TRUE, FALSE, NULL);
    for (i = 0; i < n; i++) th[i] = CreateThread(NULL, 0, race_thread, (void *)(intptr_t)i, 0, NULL);
    Sleep(1500);                      /* every thread connected and waiting */
    SetEvent(g_go);
    for (i = 0; i < n; i++) {
        DWORD code = 1;
        WaitForSingleObject(th[i], INFINITE);
        GetExitCodeThread(th[i], &code);
        if (code) bad++;
        CloseHandle(th[i]);
    }
    printf("raced %d, %d failed to write\n", n, bad);
    return bad ? 1 : 0;
}

int wmain(int argc, wchar_t **argv)
{
    char a[8][512];
    nats_conn *c = NULL;
    kv_bucket *b = NULL;
    js_err e;
    int i, rc = 0;
    if (argc < 4 || argc > 9) {
        fprintf(stderr, "usage: tool_rollout URL fail|race|check|resume VERSION ...\n");
        return 2;
    }
    for (i = 1; i < argc; i++)
        if (win_to_utf8(argv[i], a[i - 1], sizeof a[i - 1]) != 0) return 2;
    g_url = a[0];
    g_version = a[2];
    if (!strcmp(a[1], "race") && argc == 5) return race(atoi(a[3]));
    if (connect_bucket(&c, &b)) return 1;
    if (!strcmp(a[1], "fail") && argc >= 7) {
        if (argc == 8) {
            int64_t at = _atoi64(a[6]), now = win_unix_ms();
            if (at > now) Sleep((DWORD)(at - now));
        }
        rc = write_fail(b, a[3], a[4], a[5]);
    } else if (!strcmp(a[1], "check") && argc == 5) {
        ro_policy p;
        ro_verdict v;
        memset(&p, 0, sizeof p);
        if (strcmp(a[3], "-") && ro_policy_parse(a[3], &p) != RO_OK) {
            fprintf(stderr, "bad policy %s\n", a[3]);
            rc = 2;
        } else {
            rc = rokv_check(c, b, &p, g_version, &v, &e);
            if (rc != NATS_OK) fprintf(stderr, "check: %s %s\n", nats_strerror(rc), e.desc);
            printf("failures=%d baseline=%d threshold=%d malformed=%d halted=%d hold=%d\n",
                   v.failures, v.baseline, v.threshold, v.malformed, v.halted, v.hold);
            printf("reason: %s\nproblems: %s\n", v.reason, v.problems);
            rc = rc ? 1 : 0;
        }
    } else if (!strcmp(a[1], "resume") && argc == 4) {
        int base = 0;
        rc = rokv_resume(c, b, g_version, "tool_rollout", &base, &e);
        if (rc != NATS_OK) fprintf(stderr, "resume: %s %s\n", nats_strerror(rc), e.desc);
        else printf("baseline=%d\n", base);
        rc = rc ? 1 : 0;
    } else {
        fprintf(stderr, "usage: tool_rollout URL fail|race|check|resume VERSION ...\n");
        rc = 2;
    }
    kv_close(b);
    nats_close(c);
    return rc;
}
