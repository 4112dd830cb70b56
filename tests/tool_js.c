/*
** tool_js.c — test driver for jetstream.c, kv.c and objstore.c, run under
** Wine by tests/it_kv.sh, tests/it_obj.sh, tests/it_interop.sh and
** bench/obj_bench.sh. One subcommand per run; results go to stdout as
** machine-checkable lines, errors to stderr as one line.
**
**   tool_js [-s URL] [--mem] [--slow MS] <command> args...   (URL defaults to $NATS_URL)
**   --mem prints the peak working set at exit; --slow sleeps MS per chunk
**   of an obj-get (so a test can restart the server in the middle).
**
** Exit codes: 0 ok, 1 failure, 2 usage, 3 not found, 4 timeout/unreachable,
** 5 conflict, 6 exists, 7 digest, 8 size, 9 bad data.
*/
#include <windows.h>
#include <psapi.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nats.h"
#include "jetstream.h"
#include "kv.h"
#include "objstore.h"
#include "win.h"

#define MAXARGS 32

static nats_conn *conn;
static int slow_ms;             /* --slow MS: sleep this long per chunk of a get */

/* Progress callback of obj-get --slow: stretches a get so that a test can
** restart the server while it runs. */
static void slow_progress(void *arg, uint64_t done, uint64_t total)
{
    (void)arg; (void)done; (void)total;
    Sleep((DWORD)slow_ms);
}

static int exit_code(int rc)
{
    switch (rc) {
    case NATS_OK: return 0;
    case NATS_ERR_NOT_FOUND: return 3;
    case NATS_ERR_TIMEOUT: case NATS_ERR_CONN: case NATS_ERR_NO_RESPONDERS: return 4;
    case NATS_ERR_CONFLICT: return 5;
    case NATS_ERR_EXISTS: return 6;
    case NATS_ERR_DIGEST: return 7;
    case NATS_ERR_SIZE: return 8;
    case NATS_ERR_BAD_DATA: return 9;
    default: return 1;
    }
}

static int fail(int rc, const js_err *e)
{
    fprintf(stderr, "error: %s: %s\n", nats_strerror(rc), e && e->desc[0] ? e->desc : "");
    return exit_code(rc);
}

static const char *op_name(int op)
{
    return op == KV_OP_DEL ? "DEL" : op == KV_OP_PURGE ? "PURGE" : "PUT";
}

static int open_kv(const char *bucket, kv_bucket **b, js_err *e)
{
    return kv_bind(conn, bucket, b, e);
}

/* kv-open B [HISTORY [MAX_AGE_SECONDS]] */
static int cmd_kv_open(int argc, char **argv)
{
    kv_config cfg;
    kv_bucket *b = NULL;
    js_err e;
    int rc;
    memset(&cfg, 0, sizeof cfg);
    cfg.bucket = argv[0];
    cfg.history = argc > 1 ? atoi(argv[1]) : 1;
    cfg.max_age_ns = argc > 2 ? (int64_t)atoi(argv[2]) * 1000000000LL : 0;
    rc = kv_open(conn, &cfg, &b, &e);
    if (rc != NATS_OK) return fail(rc, &e);
    printf("ok\n");
    kv_close(b);
    return 0;
}

static int cmd_kv_bind(int argc, char **argv)
{
    kv_bucket *b = NULL;
    js_err e;
    int rc = open_kv(argv[0], &b, &e);
    if (rc != NATS_OK) return fail(rc, &e);
    printf("ok\n");
    kv_close(b);
    return 0;
}

/* kv-get B K: "<rev> <created_ns> <value>" */
static int cmd_kv_get(int argc, char **argv)
{
    kv_bucket *b = NULL;
    kv_entry ent;
    js_err e;
    int rc = open_kv(argv[0], &b, &e);
    if (rc == NATS_OK) rc = kv_get(b, argv[1], &ent, &e);
    if (rc == NATS_OK) {
        printf("%" PRIu64 " %" PRId64 " %s\n", ent.revision, ent.created_ns, (const char *)ent.value);
        kv_entry_clear(&ent);
    }
    kv_close(b);
    return rc == NATS_OK ? 0 : fail(rc, &e);
}

/* kv-put / kv-create B K V, kv-update B K V REV: prints the new revision. */
static int cmd_kv_write(const char *cmd, int argc, char **argv)
{
    kv_bucket *b = NULL;
    js_err e;
    uint64_t rev = 0;
    int rc = open_kv(argv[0], &b, &e);
    if (rc == NATS_OK) {
        const char *v = argv[2];
        if (strcmp(cmd, "kv-put") == 0) rc = kv_put(b, argv[1], v, strlen(v), &rev, &e);
        else if (strcmp(cmd, "kv-create") == 0) rc = kv_create(b, argv[1], v, strlen(v), &rev, &e);
        else rc = kv_update(b, argv[1], v, strlen(v), _strtoui64(argv[3], NULL, 10), &rev, &e);
    }
    kv_close(b);
    if (rc != NATS_OK) return fail(rc, &e);
    printf("%" PRIu64 "\n", rev);
    return 0;
}

static int cmd_kv_del(const char *cmd, int argc, char **argv)
{
    kv_bucket *b = NULL;
    js_err e;
    int rc = open_kv(argv[0], &b, &e);
    if (rc == NATS_OK)
        rc = strcmp(cmd, "kv-del") == 0 ? kv_delete(b, argv[1], &e) : kv_purge(b, argv[1], &e);
    kv_close(b);
    if (rc != NATS_OK) return fail(rc, &e);
    printf("ok\n");
    return 0;
}

static void print_key(void *arg, const char *key)
{
    (void)arg;
    printf("%s\n", key);
}

static int cmd_kv_keys(int argc, char **argv)
{
    kv_bucket *b = NULL;
    js_err e;
    int rc = open_kv(argv[0], &b, &e);
    if (rc == NATS_OK) rc = kv_keys(b, print_key, NULL, &e);
    kv_close(b);
    if (rc != NATS_OK) return fail(rc, &e);
    printf("END\n");
    return 0;
}

/*
** kv-watch B SPEC COUNT SECONDS: prints "<rev> <op> <key> <value>" per
** entry and "INIT_DONE" once; exits 0 once it has seen INIT_DONE and COUNT
** entries, 4 when SECONDS pass first. "READY" comes when the watch is set.
*/
static int cmd_kv_watch(int argc, char **argv)
{
    kv_bucket *b = NULL;
    kv_watcher *w = NULL;
    js_err e;
    int count = atoi(argv[2]), got = 0, init = 0, rc;
    uint64_t deadline = win_tick_ms() + (uint64_t)atoi(argv[3]) * 1000;

    rc = open_kv(argv[0], &b, &e);
    if (rc == NATS_OK) rc = kv_watch(b, argv[1], NULL, &w, &e);
    if (rc != NATS_OK) { kv_close(b); return fail(rc, &e); }
    printf("READY\n");
    fflush(stdout);
    while (got < count || !init) {
        kv_entry ent;
        uint64_t now = win_tick_ms();
        if (now >= deadline) { rc = NATS_ERR_TIMEOUT; break; }
        rc = kv_watch_next(w, (int)(deadline - now), &ent);
        if (rc == KV_INIT_DONE) {
            printf("INIT_DONE\n");
            init = 1;
        } else if (rc == NATS_OK) {
            printf("%" PRIu64 " %s %s %s\n", ent.revision, op_name(ent.op), ent.key,
                   (const char *)ent.value);
            kv_entry_clear(&ent);
            got++;
        } else if (rc != NATS_ERR_TIMEOUT) {
            break;
        }
        fflush(stdout);
        rc = NATS_OK;
    }
    kv_watch_stop(w);
    kv_close(b);
    if (rc != NATS_OK) {
        fprintf(stderr, "error: watch ended after %d entries: %s\n", got, nats_strerror(rc));
        return exit_code(rc);
    }
    return 0;
}

/*
** kv-incr B K N: N read-modify-write increments of a decimal counter,
** retrying on a lost compare-and-set. Prints "done conflicts=<n>".
*/
static int cmd_kv_incr(int argc, char **argv)
{
    kv_bucket *b = NULL;
    js_err e;
    int n = atoi(argv[2]), i, conflicts = 0, rc;

    rc = open_kv(argv[0], &b, &e);
    if (rc != NATS_OK) return fail(rc, &e);
    for (i = 0; i < n && rc == NATS_OK; ) {
        kv_entry ent;
        char val[32];
        uint64_t rev = 0;
        rc = kv_get(b, argv[1], &ent, &e);
        if (rc == NATS_ERR_NOT_FOUND) {
            rc = kv_create(b, argv[1], "1", 1, &rev, &e);
            if (rc == NATS_ERR_EXISTS) { conflicts++; rc = NATS_OK; continue; }
        } else if (rc == NATS_OK) {
            snprintf(val, sizeof val, "%lld", atoll((const char *)ent.value) + 1);
            rc = kv_update(b, argv[1], val, strlen(val), ent.revision, &rev, &e);
            kv_entry_clear(&ent);
            if (rc == NATS_ERR_CONFLICT) { conflicts++; rc = NATS_OK; continue; }
        }
        if (rc == NATS_OK) i++;
    }
    kv_close(b);
    if (rc != NATS_OK) return fail(rc, &e);
    printf("done conflicts=%d\n", conflicts);
    return 0;
}

static int open_obj(const char *bucket, obj_store **s, js_err *e)
{
    return obj_bind(conn, bucket, s, e);
}

static int cmd_obj_open(int argc, char **argv)
{
    obj_store *s = NULL;
    js_err e;
    int rc = obj_open(conn, argv[0], &s, &e);
    if (rc != NATS_OK) return fail(rc, &e);
    printf("ok\n");
    obj_close(s);
    return 0;
}

static void print_info(const obj_info *i)
{
    printf("%s %" PRIu64 " %u %s %s %s\n", i->name, i->size, (unsigned)i->chunks,
           i->digest[0] ? i->digest : "-", i->deleted ? "deleted" : "live", i->nuid);
}

/* obj-put B NAME FILE: "<name> <size> <chunks> <digest> live <nuid>"; the
** elapsed time goes to stderr as "time_ms=<n>". */
static int cmd_obj_put(int argc, char **argv)
{
    obj_store *s = NULL;
    obj_info inf;
    js_err e;
    uint64_t t0;
    int rc = obj_open(conn, argv[0], &s, &e);
    if (rc != NATS_OK) return fail(rc, &e);
    t0 = win_tick_ms();
    rc = obj_put_file(s, argv[1], argv[2], NULL, NULL, &inf, &e);
    obj_close(s);
    if (rc != NATS_OK) return fail(rc, &e);
    fprintf(stderr, "time_ms=%" PRIu64 "\n", win_tick_ms() - t0);
    print_info(&inf);
    return 0;
}

static int cmd_obj_get(int argc, char **argv)
{
    obj_store *s = NULL;
    obj_info inf;
    js_err e;
    uint64_t t0;
    int rc = open_obj(argv[0], &s, &e);
    if (rc != NATS_OK) return fail(rc, &e);
    t0 = win_tick_ms();
    rc = obj_get_file(s, argv[1], argv[2], slow_ms ? slow_progress : NULL, NULL, &inf, &e);
    obj_close(s);
    if (rc != NATS_OK) return fail(rc, &e);
    fprintf(stderr, "time_ms=%" PRIu64 "\n", win_tick_ms() - t0);
    print_info(&inf);
    return 0;
}

/* obj-info B NAME [--deleted] */
static int cmd_obj_info(int argc, char **argv)
{
    obj_store *s = NULL;
    obj_info inf;
    js_err e;
    int rc = open_obj(argv[0], &s, &e);
    if (rc == NATS_OK)
        rc = obj_info_get(s, argv[1], argc > 2 && strcmp(argv[2], "--deleted") == 0, &inf, &e);
    obj_close(s);
    if (rc != NATS_OK) return fail(rc, &e);
    print_info(&inf);
    return 0;
}

static void list_cb(void *arg, const obj_info *i)
{
    (void)arg;
    print_info(i);
}

/* obj-list B [--deleted] */
static int cmd_obj_list(int argc, char **argv)
{
    obj_store *s = NULL;
    js_err e;
    int rc = open_obj(argv[0], &s, &e);
    if (rc == NATS_OK)
        rc = obj_list(s, argc > 1 && strcmp(argv[1], "--deleted") == 0, list_cb, NULL, &e);
    obj_close(s);
    if (rc != NATS_OK) return fail(rc, &e);
    printf("END\n");
    return 0;
}

static int cmd_obj_del(int argc, char **argv)
{
    obj_store *s = NULL;
    js_err e;
    int rc = open_obj(argv[0], &s, &e);
    if (rc == NATS_OK) rc = obj_delete(s, argv[1], &e);
    obj_close(s);
    if (rc != NATS_OK) return fail(rc, &e);
    printf("ok\n");
    return 0;
}

/* api API [BODY]: a raw $JS.API request; prints the reply JSON. */
static int cmd_api(int argc, char **argv)
{
    nats_msg *m = NULL;
    js_err e;
    int rc = js_api(conn, argv[0], argc > 1 ? argv[1] : NULL, argc > 1 ? strlen(argv[1]) : 0, &m, &e);
    if (rc != NATS_OK) return fail(rc, &e);
    fwrite(m->data, 1, m->len, stdout);
    printf("\n");
    nats_msg_free(m);
    return 0;
}

/* pub SUBJ FILE [rollup]: JS-publishes FILE's bytes raw; prints the seq. */
static int cmd_pub(int argc, char **argv)
{
    static const char rollup[] = "NATS/1.0\r\nNats-Rollup: sub\r\n\r\n";
    char *data = NULL;
    size_t len = 0;
    uint64_t seq = 0;
    js_err e;
    int rc, roll = argc > 2 && strcmp(argv[2], "rollup") == 0;
    if (win_read_all(argv[1], 16u << 20, &data, &len) != 0) {
        fprintf(stderr, "error: %s\n", win_last_error());
        return 1;
    }
    rc = js_publish(conn, argv[0], roll ? rollup : NULL, roll ? sizeof rollup - 1 : 0,
                    data, len, &seq, &e);
    free(data);
    if (rc != NATS_OK) return fail(rc, &e);
    printf("%" PRIu64 "\n", seq);
    return 0;
}

static void print_peak_memory(void)
{
    PROCESS_MEMORY_COUNTERS pmc;
    memset(&pmc, 0, sizeof pmc);
    pmc.cb = sizeof pmc;
    if (GetProcessMemoryInfo(GetCurrentProcess(), &pmc, sizeof pmc))
        fprintf(stderr, "peak_ws_kb=%lu\n", (unsigned long)(pmc.PeakWorkingSetSize / 1024));
}

static int usage(void)
{
    fprintf(stderr,
        "usage: tool_js [-s URL] [--mem] [--slow MS] COMMAND ARGS\n"
        "  kv-open B [HIST [MAX_AGE_S]] | kv-bind B | kv-get B K | kv-put B K V\n"
        "  kv-create B K V | kv-update B K V REV | kv-del B K | kv-purge B K\n"
        "  kv-keys B | kv-watch B SPEC COUNT SECONDS | kv-incr B K N\n"
        "  obj-open B | obj-put B NAME FILE | obj-get B NAME FILE\n"
        "  obj-info B NAME [--deleted] | obj-list B [--deleted] | obj-del B NAME\n"
        "  api API [BODY] | pub SUBJ FILE [rollup]\n");
    return 2;
}

static const struct { const char *name; int nargs; } cmds[] = {
    {"kv-open", 1}, {"kv-bind", 1}, {"kv-get", 2}, {"kv-put", 3}, {"kv-create", 3},
    {"kv-update", 4}, {"kv-del", 2}, {"kv-purge", 2}, {"kv-keys", 1}, {"kv-watch", 4},
    {"kv-incr", 3}, {"obj-open", 1}, {"obj-put", 3}, {"obj-get", 3}, {"obj-info", 2},
    {"obj-list", 1}, {"obj-del", 2}, {"api", 1}, {"pub", 2},
};

static int run(int argc, char **argv)
{
    const char *url = NULL, *cmd;
    char envurl[512], err[256];
    nats_opts o;
    int i, rc, mem = 0, known = 0;

    for (;;) {
        if (argc > 0 && strcmp(argv[0], "--mem") == 0) { mem = 1; argc--; argv++; }
        else if (argc > 1 && strcmp(argv[0], "-s") == 0) { url = argv[1]; argc -= 2; argv += 2; }
        else if (argc > 1 && strcmp(argv[0], "--slow") == 0) { slow_ms = atoi(argv[1]); argc -= 2; argv += 2; }
        else break;
    }
    if (argc < 1) return usage();
    cmd = argv[0];
    for (i = 0; i < (int)(sizeof cmds / sizeof cmds[0]); i++)
        if (strcmp(cmds[i].name, cmd) == 0) { known = 1; if (argc - 1 < cmds[i].nargs) return usage(); }
    if (!known) return usage();
    if (!url && win_getenv("NATS_URL", envurl, sizeof envurl) == 0) url = envurl;

    memset(&o, 0, sizeof o);
    o.servers = url;
    o.name = "tool_js";
    rc = nats_connect(&o, &conn, err, sizeof err);
    if (rc != NATS_OK) {
        fprintf(stderr, "error: connect: %s\n", err);
        return exit_code(rc);
    }
    argc--; argv++;
    if (strcmp(cmd, "kv-open") == 0) rc = cmd_kv_open(argc, argv);
    else if (strcmp(cmd, "kv-bind") == 0) rc = cmd_kv_bind(argc, argv);
    else if (strcmp(cmd, "kv-get") == 0) rc = cmd_kv_get(argc, argv);
    else if (strcmp(cmd, "kv-put") == 0 || strcmp(cmd, "kv-create") == 0
             || strcmp(cmd, "kv-update") == 0) rc = cmd_kv_write(cmd, argc, argv);
    else if (strcmp(cmd, "kv-del") == 0 || strcmp(cmd, "kv-purge") == 0) rc = cmd_kv_del(cmd, argc, argv);
    else if (strcmp(cmd, "kv-keys") == 0) rc = cmd_kv_keys(argc, argv);
    else if (strcmp(cmd, "kv-watch") == 0) rc = cmd_kv_watch(argc, argv);
    else if (strcmp(cmd, "kv-incr") == 0) rc = cmd_kv_incr(argc, argv);
    else if (strcmp(cmd, "obj-open") == 0) rc = cmd_obj_open(argc, argv);
    else if (strcmp(cmd, "obj-put") == 0) rc = cmd_obj_put(argc, argv);
    else if (strcmp(cmd, "obj-get") == 0) rc = cmd_obj_get(argc, argv);
    else if (strcmp(cmd, "obj-info") == 0) rc = cmd_obj_info(argc, argv);
    else if (strcmp(cmd, "obj-list") == 0) rc = cmd_obj_list(argc, argv);
    else if (strcmp(cmd, "obj-del") == 0) rc = cmd_obj_del(argc, argv);
    else if (strcmp(cmd, "api") == 0) rc = cmd_api(argc, argv);
    else rc = cmd_pub(argc, argv);
    fflush(stdout);
    if (mem) print_peak_memory();
    nats_close(conn);
    return rc;
}

int wmain(int argc, wchar_t **wargv)
{
    static char buf[MAXARGS][4096];
    char *argv[MAXARGS];
    int i;
    if (argc > MAXARGS) argc = MAXARGS;
    for (i = 1; i < argc; i++) {
        if (win_to_utf8(wargv[i], buf[i], sizeof buf[i]) != 0) {
            fprintf(stderr, "error: argument %d is too long or not valid\n", i);
            return 2;
        }
        argv[i - 1] = buf[i];
    }
    return run(argc - 1, argv);
}
