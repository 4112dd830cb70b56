/*
** cli_broker.c — `kanade broker init`: creates every bucket of
** bcf_buckets[] with its settings, and reports (never changes) an existing
** bucket whose settings differ.
** `kanade broker config`: writes the two-account
** nats-server.conf (broker_conf.c), the operator's credentials and one
** .auth file per PC. Passwords come from BCryptGenRandom; every file is
** created with a protected DACL that grants only its owner access. A PC
** (or the operator) whose credentials already exist in DIR keeps them, so
** re-running with more PCs only adds users.
*/
#include <windows.h>
#include <sddl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "broker_conf.h"
#include "cli.h"
#include "jetstream.h"
#include "win.h"

#define PASS_LEN 32
#define OP_USER  "kanade-operator"

/*
** The DACL "only the current user, full access, nothing inherited". The
** user's own SID rather than OWNER RIGHTS: Wine maps an ACE for the process
** user to the file's owner bits (0600), and Windows treats both the same.
*/
static int private_sddl(wchar_t *out, size_t cap)
{
    HANDLE tok;
    unsigned char ti[256];
    DWORD got = 0;
    wchar_t *sid = NULL;
    int ok;
    if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &tok)) return -1;
    ok = GetTokenInformation(tok, TokenUser, ti, sizeof ti, &got) &&
         ConvertSidToStringSidW(((TOKEN_USER *)ti)->User.Sid, &sid);
    CloseHandle(tok);
    if (!ok) return -1;
    ok = _snwprintf(out, cap, L"D:P(A;;FA;;;%ls)", sid) > 0;
    LocalFree(sid);
    return ok ? 0 : -1;
}

/* see cli.h: no inherited ACEs; the release key (cli_sign.c) uses it too. */
int cli_write_private(const char *path, const char *data, size_t len)
{
    wchar_t wp[MAX_PATH], sddl[256];
    SECURITY_ATTRIBUTES sa;
    PSECURITY_DESCRIPTOR sd = NULL;
    HANDLE h;
    DWORD put = 0;
    int ok;
    if (win_to_wide(path, wp, MAX_PATH) != 0 || private_sddl(sddl, 256) != 0) return -1;
    if (!ConvertStringSecurityDescriptorToSecurityDescriptorW(sddl, SDDL_REVISION_1, &sd, NULL))
        return -1;
    sa.nLength = sizeof sa; sa.lpSecurityDescriptor = sd; sa.bInheritHandle = FALSE;
    DeleteFileW(wp);                /* CREATE_ALWAYS would keep an old file's DACL */
    h = CreateFileW(wp, GENERIC_WRITE, 0, &sa, CREATE_NEW, FILE_ATTRIBUTE_NORMAL, NULL);
    LocalFree(sd);
    if (h == INVALID_HANDLE_VALUE) return -1;
    ok = WriteFile(h, data, (DWORD)len, &put, NULL) && put == len && FlushFileBuffers(h);
    CloseHandle(h);
    return ok ? 0 : -1;
}

static int new_password(char *out, size_t cap)
{
    unsigned char r[PASS_LEN * 2];
    int tries;
    for (tries = 0; tries < 8; tries++) {
        if (win_random(r, sizeof r) != 0) return -1;
        if (bcf_password(r, sizeof r, PASS_LEN, out, cap) > 0) return 0;
    }
    return -1;
}

/* KANADE_NATS_USER= / KANADE_NATS_PASSWORD= from DIR/operator.env, if any. */
static int load_operator(const char *path, bcf_user *op)
{
    char *t = NULL, *s, *e;
    size_t len = 0;
    memset(op, 0, sizeof *op);
    if (!win_exists(path)) return 1;
    if (win_read_all(path, 4096, &t, &len) != 0) return -1;
    for (s = t; s < t + len; s = e + 1) {
        size_t n;
        e = memchr(s, '\n', (size_t)(t + len - s));
        if (!e) e = t + len;
        n = (size_t)(e - s) - (e > s && e[-1] == '\r');
        if (n > 17 && !memcmp(s, "KANADE_NATS_USER=", 17) && n - 17 <= BCF_USER_MAX)
            { memcpy(op->name, s + 17, n - 17); op->name[n - 17] = 0; }
        else if (n > 21 && !memcmp(s, "KANADE_NATS_PASSWORD=", 21) && n - 21 <= BCF_PASS_MAX)
            { memcpy(op->pass, s + 21, n - 21); op->pass[n - 21] = 0; }
    }
    free(t);
    return op->name[0] && bcf_valid_pass(op->pass) ? 0 : -1;
}

/* The PCs named by --pcs: a file when one exists under that name, else a list. */
static int read_pcs(const char *arg, char (*ids)[BCF_USER_MAX + 1], int cap)
{
    char err[200], *t = NULL;
    size_t len = 0;
    int n;
    if (win_exists(arg)) {
        if (win_read_all(arg, 16u << 20, &t, &len) != 0)
            return -cli_fail(CLI_FAIL, "cannot read pc list %s", arg);
        n = bcf_parse_pcs(t, len, ids, cap, err, sizeof err);
        free(t);
    } else {
        n = bcf_parse_pcs(arg, strlen(arg), ids, cap, err, sizeof err);
    }
    if (n < 0) return -cli_usage("--pcs: %s", err);
    return n;
}

/* Adds every DIR/agents/<pc>.auth not named in users[0..n) (an earlier run's PCs). */
static int add_existing(const char *dir, bcf_user *users, int *n, int cap)
{
    char pat[MAX_PATH * 3], name[MAX_PATH * 3], path[MAX_PATH * 3], *t;
    wchar_t wpat[MAX_PATH];
    WIN32_FIND_DATAW fd;
    HANDLE h;
    size_t len;
    snprintf(pat, sizeof pat, "%s\\agents\\*.auth", dir);
    if (win_to_wide(pat, wpat, MAX_PATH) != 0) return -1;
    h = FindFirstFileW(wpat, &fd);
    if (h == INVALID_HANDLE_VALUE) return 0;
    do {
        bcf_user u;
        int k;
        if (win_to_utf8(fd.cFileName, name, sizeof name) != 0) continue;
        if (snprintf(path, sizeof path, "%s\\agents\\%s", dir, name) >= (int)sizeof path) {
            cli_warn("kanade: %s\\agents\\%s: path too long; left out\n", dir, name);
            continue;
        }
        t = NULL;
        if (win_read_all(path, 4096, &t, &len) != 0) continue;
        k = bcf_parse_auth(t, len, &u);
        free(t);
        if (k != 0) { cli_warn("kanade: %s is not a valid .auth file; left out\n", path); continue; }
        for (k = 0; k < *n && strcmp(users[k].name, u.name); k++) {}
        if (k < *n) continue;
        if (*n >= cap) break;
        users[(*n)++] = u;
    } while (FindNextFileW(h, &fd));
    FindClose(h);
    return 0;
}

static int write_outputs(const char *dir, const bcf_user *op, const bcf_user *users, int n,
                         int new_op, int nnew)
{
    char path[MAX_PATH * 3], line[256];
    size_t cap = bcf_conf_size(n);
    char *conf = malloc(cap);
    int len, i;
    if (!conf) return cli_fail(CLI_FAIL, "out of memory");
    len = bcf_write_conf(op, users, n, conf, cap);
    snprintf(path, sizeof path, "%s\\nats-server.conf", dir);
    if (len < 0 || cli_write_private(path, conf, (size_t)len) != 0) {
        free(conf);
        return cli_fail(CLI_FAIL, "cannot write %s", path);
    }
    free(conf);
    snprintf(path, sizeof path, "%s\\operator.env", dir);
    len = snprintf(line, sizeof line, "KANADE_NATS_USER=%s\nKANADE_NATS_PASSWORD=%s\n", op->name, op->pass);
    if (cli_write_private(path, line, (size_t)len) != 0) return cli_fail(CLI_FAIL, "cannot write %s", path);
    for (i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s\\agents\\%s.auth", dir, users[i].name);
        len = bcf_write_auth(&users[i], line, sizeof line);
        if (len < 0 || cli_write_private(path, line, (size_t)len) != 0)
            return cli_fail(CLI_FAIL, "cannot write %s", path);
    }
    cli_say("wrote %s\\nats-server.conf: %d pcs (%d new, %d kept), operator %s %s\n", dir, n, nnew,
            n - nnew, op->name, new_op ? "created" : "kept");
    return CLI_OK;
}

static int broker_config(char (*ids)[BCF_USER_MAX + 1], bcf_user *users);

/* The id and user arrays are on the heap: 100000 pcs would be 20 MB. */
int cli_cmd_broker_config(void)
{
    char (*ids)[BCF_USER_MAX + 1] = calloc(BCF_MAX_PCS, sizeof *ids);
    bcf_user *users = calloc(BCF_MAX_PCS, sizeof *users);
    int rc = ids && users ? broker_config(ids, users) : cli_fail(CLI_FAIL, "out of memory");
    free(ids);
    free(users);
    return rc;
}

static int broker_config(char (*ids)[BCF_USER_MAX + 1], bcf_user *users)
{
    const char *pcs = cli_opt_last("pcs"), *dir = cli_opt_last("out");
    char path[MAX_PATH * 3], *t;
    bcf_user op;
    size_t len;
    int n, i, nnew = 0, new_op = 0, nusers = 0;
    if (!pcs || !dir || !*dir) return cli_usage("give --pcs FILE|a,b,c and --out DIR");
    /* Every path below is DIR plus at most \agents\<pc id>.auth: with
    ** this bound none of them can be cut short and name another file. */
    if (strlen(dir) + sizeof "\\agents\\.auth" + BCF_USER_MAX >= sizeof path)
        return cli_usage("--out '%.80s...' is too long", dir);
    n = read_pcs(pcs, ids, BCF_MAX_PCS);
    if (n < 0) return -n;
    snprintf(path, sizeof path, "%s\\agents", dir);
    if (win_mkdirs(path) != 0) return cli_fail(CLI_FAIL, "cannot create %s", path);
    snprintf(path, sizeof path, "%s\\operator.env", dir);
    i = load_operator(path, &op);
    if (i < 0) return cli_fail(CLI_FAIL, "%s is not a valid operator.env; fix or remove it", path);
    if (i > 0) {
        snprintf(op.name, sizeof op.name, "%s", OP_USER);
        if (new_password(op.pass, sizeof op.pass) != 0) return cli_fail(CLI_FAIL, "system RNG failed");
        new_op = 1;
    }
    for (i = 0; i < n; i++) {
        bcf_user *u = &users[nusers];
        snprintf(path, sizeof path, "%s\\agents\\%s.auth", dir, ids[i]);
        memset(u, 0, sizeof *u);
        if (win_exists(path)) {
            t = NULL;
            if (win_read_all(path, 4096, &t, &len) != 0 || bcf_parse_auth(t, len, u) != 0 ||
                strcmp(u->name, ids[i]) != 0) {
                free(t);
                return cli_fail(CLI_FAIL, "%s is not a valid .auth file for %s; fix or remove it", path, ids[i]);
            }
            free(t);
        } else {
            snprintf(u->name, sizeof u->name, "%s", ids[i]);
            if (new_password(u->pass, sizeof u->pass) != 0) return cli_fail(CLI_FAIL, "system RNG failed");
            nnew++;
        }
        nusers++;
    }
    if (add_existing(dir, users, &nusers, BCF_MAX_PCS) != 0) return cli_fail(CLI_FAIL, "cannot list %s\\agents", dir);
    return write_outputs(dir, &op, users, nusers, new_op, nnew);
}

/* ============================================================ broker init */

/* The settings of one stream that broker init cares about. */
typedef struct stream_set { int direct; int64_t history, max_age, replicas; } stream_set;

static int parse_settings(const nats_msg *m, stream_set *s)
{
    json_doc d;
    json_tok tok[512], *heap = NULL;
    int cfg;
    memset(s, 0, sizeof *s);
    if (js_json_parse(&d, m->data, m->len, tok, 512, &heap) != JSON_OK
        || (cfg = json_find(&d, 0, "config")) < 0) {
        free(heap);
        return -1;
    }
    json_get_bool(&d, cfg, "allow_direct", &s->direct);
    json_get_int(&d, cfg, "max_msgs_per_subject", &s->history);
    json_get_int(&d, cfg, "max_age", &s->max_age);
    json_get_int(&d, cfg, "num_replicas", &s->replicas);
    free(heap);
    return 0;
}

/* Prints one line per setting of an existing bucket that is not what
** bcf_buckets[] says; returns how many differ. Replicas count only when
** --replicas was given: an operator may have scaled a stream on purpose. */
static int report_diffs(const bcf_bucket *b, const stream_set *s, int replicas)
{
    int n = 0;
    if (!s->direct) {
        cli_say("  %s: allow_direct is false, kanade needs true (agents read with direct gets)\n", b->name);
        n++;
    }
    if (b->kind == BCF_KV && s->history != b->history) {
        cli_say("  %s: history (max_msgs_per_subject) is %lld, kanade uses %d\n", b->name,
                (long long)s->history, b->history);
        n++;
    }
    if (s->max_age != b->max_age_ns) {
        cli_say("  %s: max_age is %lld s, kanade uses %lld s\n", b->name,
                (long long)(s->max_age / 1000000000LL), (long long)(b->max_age_ns / 1000000000LL));
        n++;
    }
    if (replicas && s->replicas != replicas) {
        cli_say("  %s: replicas is %lld, --replicas asked for %d\n", b->name, (long long)s->replicas,
                replicas);
        n++;
    }
    return n;
}

/* Creates b with its settings (kv.c / objstore.c write the stream config,
** allow_direct included). */
static int create_bucket(const bcf_bucket *b, int replicas, js_err *e)
{
    if (b->kind == BCF_KV) {
        kv_config cfg;
        kv_bucket *kb = NULL;
        int rc;
        memset(&cfg, 0, sizeof cfg);
        cfg.bucket = b->name;
        cfg.history = b->history;
        cfg.max_age_ns = b->max_age_ns;
        rc = kv_open_replicas(cli_g.nc, &cfg, replicas, &kb, e);
        kv_close(kb);
        return rc;
    } else {
        obj_store *os = NULL;
        int rc = obj_open_replicas(cli_g.nc, b->name, replicas, &os, e);
        obj_close(os);
        return rc;
    }
}

/*
** Every bucket of bcf_buckets[]: created when missing, compared when it
** exists. An existing bucket is never changed: editing a stream's settings
** under a running fleet is the operator's decision, so a difference is
** printed and the command exits 1.
*/
int cli_cmd_broker_init(void)
{
    int i, rc, ndiff = 0, created = 0, replicas = cli_g.replicas;
    if ((rc = cli_connect()) != CLI_OK) return rc;
    for (i = 0; i < bcf_nbuckets; i++) {
        const bcf_bucket *b = &bcf_buckets[i];
        const char *kind = b->kind == BCF_KV ? "KV bucket" : "object store";
        char stream[80], api[128];
        nats_msg *m = NULL;
        stream_set s;
        js_err e;
        int n;
        memset(&e, 0, sizeof e);
        if (bcf_stream_name(b, stream, sizeof stream) != 0) return cli_fail(CLI_FAIL, "bucket name too long");
        snprintf(api, sizeof api, "STREAM.INFO.%s", stream);
        rc = js_api(cli_g.nc, api, NULL, 0, &m, &e);
        if (rc == NATS_ERR_NOT_FOUND) {
            nats_msg_free(m);
            memset(&e, 0, sizeof e);
            rc = create_bucket(b, replicas ? replicas : 1, &e);
            if (rc != NATS_OK) return cli_fail_nats(rc, &e, "cannot create %s %s", kind, b->name);
            cli_say("created %s %s (history %d, max_age %lld s, replicas %d, allow_direct)\n", kind,
                    b->name, b->history, (long long)(b->max_age_ns / 1000000000LL), replicas ? replicas : 1);
            created++;
            continue;
        }
        if (rc != NATS_OK) {
            nats_msg_free(m);
            return cli_fail_nats(rc, &e, "cannot read the settings of %s %s", kind, b->name);
        }
        n = parse_settings(m, &s);
        nats_msg_free(m);
        if (n != 0) return cli_fail(CLI_FAIL, "stream info of %s is not valid JSON", stream);
        n = report_diffs(b, &s, replicas);
        if (n == 0) cli_say("found %s %s: settings match\n", kind, b->name);
        else cli_say("found %s %s: %d setting%s differ%s (left unchanged)\n", kind, b->name, n,
                     n == 1 ? "" : "s", n == 1 ? "s" : "");
        ndiff += n;
    }
    if (ndiff)
        return cli_fail(CLI_FAIL, "%d setting%s of existing buckets differ from kanade's; broker init "
                        "changes no existing bucket: edit the stream (nats stream edit) or, on a broker "
                        "without data to keep, delete it and run broker init again", ndiff, ndiff == 1 ? "" : "s");
    cli_say("broker ready: %d bucket%s created, %d already there\n", created, created == 1 ? "" : "s",
            bcf_nbuckets - created);
    return CLI_OK;
}
