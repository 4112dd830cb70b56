/*
** cli_util.c — kanade.exe helpers shared by the commands (see cli.h):
** console-aware output, one-line errors, the progress bar, JSON emission,
** the connection from the global options, bucket opening with the
** documented configs, NATS error reporting, reading a whole KV bucket, and the
** compare-and-set read-modify-write loop.
*/
#include <windows.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "broker_conf.h"
#include "cli.h"
#include "win.h"

/* ============================================================ output */

/*
** Writes n bytes of UTF-8 text to stdout or stderr. On an interactive
** console the text goes through WriteConsoleW so non-ASCII shows correctly
** whatever the console code page; otherwise the bytes go out unchanged.
*/
void cli_out_raw(int to_err, const char *s, size_t n)
{
    if (to_err ? cli_g.con_err : cli_g.con_out) {
        wchar_t *w = malloc((n + 1) * sizeof *w);
        if (w && win_to_wide(s, w, n + 1) == 0) {
            DWORD put;
            WriteConsoleW(GetStdHandle(to_err ? STD_ERROR_HANDLE : STD_OUTPUT_HANDLE),
                          w, (DWORD)wcslen(w), &put, NULL);
            free(w);
            return;
        }
        free(w);
    }
    fwrite(s, 1, n, to_err ? stderr : stdout);
    if (to_err) fflush(stderr);
}

/* printf to stdout (to_err = 0) or stderr; long lines get a heap buffer. */
static void out_v(int to_err, const char *fmt, va_list ap)
{
    char stackbuf[2048], *p = stackbuf;
    va_list ap2;
    int n;
    va_copy(ap2, ap);
    n = vsnprintf(stackbuf, sizeof stackbuf, fmt, ap);
    if (n >= (int)sizeof stackbuf && (p = malloc((size_t)n + 1)) != NULL)
        vsnprintf(p, (size_t)n + 1, fmt, ap2);
    else if (n >= (int)sizeof stackbuf) { p = stackbuf; n = (int)sizeof stackbuf - 1; }
    va_end(ap2);
    if (n > 0) cli_out_raw(to_err, p, (size_t)n);
    if (p != stackbuf) free(p);
}

void cli_say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    out_v(0, fmt, ap);
    va_end(ap);
}

void cli_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    out_v(1, fmt, ap);
    va_end(ap);
}

/* Prints "kanade: <message>" as one stderr line and returns code. */
int cli_fail(int code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cli_warn("kanade: %s\n", msg);
    return code;
}

void cli_progress_cb(void *arg, uint64_t done, uint64_t total)
{
    cli_progress *p = arg;
    char bar[31];
    int pct, fill, i;
    if (total == 0) total = p->total;
    if (!cli_g.con_err || cli_g.json || total == 0) return;
    if (done > total) done = total;
    pct = (int)(done * 100 / total);
    if (pct == p->last) return;
    p->last = pct;
    fill = pct * 30 / 100;
    for (i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '-';
    bar[30] = 0;
    cli_warn("\r%s [%s] %3d%%  %" PRIu64 " / %" PRIu64 " KiB", p->label, bar, pct,
             (done + 1023) / 1024, (total + 1023) / 1024);
}

void cli_progress_end(cli_progress *p)
{
    if (cli_g.con_err && !cli_g.json && p->last >= 0) cli_warn("\r%78s\r", "");
}

/*
** Renders JSON with fn into a growing heap buffer and prints it as one line.
** Returns CLI_OK, or CLI_FAIL when memory runs out.
*/
int cli_emit_json(cli_render_fn fn, void *arg)
{
    size_t cap = 16384;
    for (;;) {
        char *buf = malloc(cap);
        json_w w;
        if (!buf) return cli_fail(CLI_FAIL, "out of memory writing JSON output");
        json_w_init(&w, buf, cap);
        fn(&w, arg);
        if (!w.err) {
            cli_out_raw(0, buf, w.len);
            cli_out_raw(0, "\n", 1);
            free(buf);
            return CLI_OK;
        }
        free(buf);
        if (w.err != JSON_ERR_SPACE || cap >= ((size_t)1 << 30))
            return cli_fail(CLI_FAIL, "cannot write JSON output");
        cap *= 4;
    }
}

/* "SHA-256=..." into out from raw digest bytes. */
void cli_digest_str(const unsigned char d[SHA256_LEN], char out[SHA256_DIGEST_STR_LEN])
{
    if (sha256_digest_encode(d, out, SHA256_DIGEST_STR_LEN) != SHA256_OK) out[0] = 0;
}

/* Age "3m12s" of an RFC 3339 time; "?" when it does not parse. */
void cli_fmt_age(int64_t at_ms, int have, char *out, size_t cap)
{
    int64_t age = win_unix_ms() - at_ms;
    if (!have) { snprintf(out, cap, "?"); return; }
    if (age < 0) age = 0;
    if (scope_format_duration(age / 1000 * 1000, out, cap) != SCOPE_OK) snprintf(out, cap, "?");
}

/* ============================================================ connection, buckets, errors */

static int nats_exit_code(int rc)
{
    switch (rc) {
    case NATS_ERR_TIMEOUT: case NATS_ERR_NO_RESPONDERS: case NATS_ERR_CONN:
    case NATS_ERR_AUTH: case NATS_ERR_TLS: case NATS_ERR_CLOSED:
        return CLI_UNREACH;
    case NATS_ERR_NOT_FOUND:
        return CLI_NOT_FOUND;
    default:
        return CLI_FAIL;
    }
}

/*
** Prints "<what>: <why>; <what to do>" for a failed NATS/JetStream call and
** returns the matching exit code. e may be NULL.
*/
int cli_fail_nats(int rc, const js_err *e, const char *fmt, ...)
{
    char what[512], why[512];
    const char *hint = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (rc == NATS_ERR_PERM && cli_g.nc) {
        /* What was refused and which right is missing, in one line. */
        char subj[256], line[512];
        int sub = nats_last_denied(cli_g.nc, subj, sizeof subj);
        if (sub >= 0) {
            bcf_explain(subj, sub, cli_g.user, line, sizeof line);
            return cli_fail(CLI_FAIL, "%s: %s", what, line);
        }
    }
    if (e && e->code && e->desc[0])
        snprintf(why, sizeof why, "%s (%s, code %d/%d)", nats_strerror(rc), e->desc, e->code, e->err_code);
    else if (cli_g.nc && nats_last_error(cli_g.nc)[0] && nats_exit_code(rc) == CLI_UNREACH)
        snprintf(why, sizeof why, "%s (%s)", nats_strerror(rc), nats_last_error(cli_g.nc));
    else
        snprintf(why, sizeof why, "%s", nats_strerror(rc));
    switch (rc) {
    case NATS_ERR_NO_RESPONDERS: hint = "; is JetStream enabled on the server (nats-server -js)?"; break;
    case NATS_ERR_TIMEOUT: hint = "; the server did not answer in time: retry, or raise --timeout"; break;
    case NATS_ERR_CONN: case NATS_ERR_CLOSED: hint = "; the connection to the server was lost: retry"; break;
    case NATS_ERR_PERM: hint = "; this user lacks permission for that subject: check the server's authorization"; break;
    default: break;
    }
    return cli_fail(nats_exit_code(rc), "%s: %s%s", what, why, hint);
}

/* Copies a server list with any "user:pass@" credentials masked. */
static void redact_servers(const char *in, char *out, size_t cap)
{
    size_t o = 0;
    while (*in && o + 1 < cap) {
        const char *end = strchr(in, ','), *scheme = strstr(in, "://"), *at;
        size_t len = end ? (size_t)(end - in) : strlen(in);
        at = memchr(in, '@', len);
        if (scheme && at && scheme < at) {
            size_t pre = (size_t)(scheme + 3 - in);
            o += (size_t)snprintf(out + o, cap - o, "%.*s***%.*s", (int)pre, in,
                                  (int)(len - (size_t)(at - in)), at);
        } else {
            o += (size_t)snprintf(out + o, cap - o, "%.*s", (int)len, in);
        }
        if (o >= cap) { o = cap - 1; break; }
        if (!end) break;
        if (o + 1 < cap) out[o++] = ',';
        in = end + 1;
    }
    out[o < cap ? o : cap - 1] = 0;
}

/* Masks "user:pass@" after every "://" in text, in place (error texts
** from the connection may quote a server URL verbatim). */
static void redact_text(char *text)
{
    char *p = text;
    while ((p = strstr(p, "://")) != NULL) {
        char *start = p + 3, *q = start;
        while (*q && *q != '@' && *q != '/' && *q != ' ' && *q != ')' && *q != ',') q++;
        if (*q == '@' && q > start) {
            memmove(start + 3, q, strlen(q) + 1);
            memcpy(start, "***", 3);
            q = start + 3;
        }
        p = q;
    }
}

static const char *nz(const char *s) { return s && *s ? s : NULL; }

/* Connects cli_g.nc with the global options. Returns CLI_OK or a printed error. */
int cli_connect(void)
{
    nats_opts o;
    char err[512] = "", shown[1024];
    int rc;
    memset(&o, 0, sizeof o);
    o.servers = cli_g.servers;
    o.user = nz(cli_g.user);
    o.pass = nz(cli_g.pass);
    o.token = nz(cli_g.token);
    o.ca_file = nz(cli_g.ca);
    o.cert_file = nz(cli_g.cert);
    o.key_file = nz(cli_g.key);
    o.name = "kanade-cli";
    o.connect_timeout_ms = (int)(cli_g.timeout_ms ? cli_g.timeout_ms : CLI_DEFAULT_TIMEOUT_MS);
    o.no_reconnect = !cli_g.reconnect;
    rc = nats_connect(&o, &cli_g.nc, err, sizeof err);
    if (rc == NATS_OK) return CLI_OK;
    cli_g.nc = NULL;
    if (!err[0]) snprintf(err, sizeof err, "%s", nats_strerror(rc));
    redact_text(err);
    redact_servers(cli_g.servers, shown, sizeof shown);
    switch (rc) {
    case NATS_ERR_AUTH:
        return cli_fail(CLI_UNREACH, "authorization failed at %s (%s); pass --user/--password or --token "
                        "(or KANADE_NATS_USER/KANADE_NATS_PASSWORD, KANADE_NATS_TOKEN)", shown, err);
    case NATS_ERR_TLS:
        return cli_fail(CLI_UNREACH, "TLS with %s failed (%s); check --tls-ca, --tls-cert and --tls-key", shown, err);
    case NATS_ERR_ARG:
        return cli_fail(CLI_USAGE, "cannot use server list '%s' (%s); give --server nats://host:4222", shown, err);
    default:
        return cli_fail(CLI_UNREACH, "cannot reach NATS at %s (%s); check --server or KANADE_NATS_URL "
                        "and that nats-server is running", shown, err);
    }
}

/*
** Opens a KV bucket: kanade's own buckets (bcf_buckets[], the settings
** `kanade broker init` uses) are created on first use (an existing one is
** used as is); others must exist.
*/
int cli_open_kv(const char *bucket, kv_bucket **out)
{
    const bcf_bucket *own = bcf_bucket_find(bucket);
    kv_config kc, *cfg = NULL;
    js_err e;
    int rc;
    memset(&e, 0, sizeof e);
    if (own && own->kind == BCF_KV) {
        memset(&kc, 0, sizeof kc);
        kc.bucket = own->name;
        kc.history = own->history;
        kc.max_age_ns = own->max_age_ns;
        cfg = &kc;
    }
    rc = cfg ? kv_open_replicas(cli_g.nc, cfg, cli_g.replicas ? cli_g.replicas : 1, out, &e)
             : kv_bind(cli_g.nc, bucket, out, &e);
    if (rc == NATS_OK) return CLI_OK;
    if (rc == NATS_ERR_NOT_FOUND)
        return cli_fail(CLI_NOT_FOUND, "KV bucket %s does not exist; check the name", bucket);
    return cli_fail_nats(rc, &e, "cannot open KV bucket %s", bucket);
}

int cli_open_obj(const char *bucket, obj_store **out)
{
    js_err e;
    int rc;
    memset(&e, 0, sizeof e);
    rc = !strcmp(bucket, CLI_B_RELEASES) ? obj_open_replicas(cli_g.nc, bucket, cli_g.replicas ? cli_g.replicas : 1, out, &e)
                                         : obj_bind(cli_g.nc, bucket, out, &e);
    if (rc == NATS_OK) return CLI_OK;
    if (rc == NATS_ERR_NOT_FOUND)
        return cli_fail(CLI_NOT_FOUND, "object store %s does not exist; check the name", bucket);
    return cli_fail_nats(rc, &e, "cannot open object store %s", bucket);
}

/* ============================================================ KV helpers */

void cli_kv_list_free(cli_kv_list *l)
{
    size_t i;
    for (i = 0; i < l->n; i++) kv_entry_clear(&l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

/*
** Reads the live value of every key of b (one ordered consumer, last value
** per subject) into l, whose entries the caller frees with cli_kv_list_free.
*/
int cli_kv_read_all(kv_bucket *b, const char *bucket, cli_kv_list *l)
{
    kv_watcher *w = NULL;
    js_err e;
    int rc;
    int64_t wait = cli_g.timeout_ms ? cli_g.timeout_ms : CLI_DEFAULT_TIMEOUT_MS;
    memset(&e, 0, sizeof e);
    memset(l, 0, sizeof *l);
    rc = kv_watch(b, ">", NULL, &w, &e);
    if (rc != NATS_OK) return cli_fail_nats(rc, &e, "cannot read KV bucket %s", bucket);
    for (;;) {
        kv_entry ent;
        memset(&ent, 0, sizeof ent);
        rc = kv_watch_next(w, (int)wait, &ent);
        if (rc == KV_INIT_DONE) break;
        if (rc != NATS_OK) {
            kv_watch_stop(w);
            cli_kv_list_free(l);
            return cli_fail_nats(rc, NULL, "reading KV bucket %s", bucket);
        }
        if (ent.op != KV_OP_PUT) { kv_entry_clear(&ent); continue; }
        if (l->n == l->cap) {
            size_t nc = l->cap ? l->cap * 2 : 64;
            kv_entry *nv = realloc(l->v, nc * sizeof *nv);
            if (!nv) {
                kv_entry_clear(&ent);
                kv_watch_stop(w);
                cli_kv_list_free(l);
                return cli_fail(CLI_FAIL, "out of memory reading %s", bucket);
            }
            l->v = nv;
            l->cap = nc;
        }
        l->v[l->n++] = ent;
    }
    kv_watch_stop(w);
    return CLI_OK;
}

/* Test hook: holds the first read-modify-write open between its read and
** its write, so tests/it_cli.sh can force two writers to overlap. */
static int cas_delay_ms(void)
{
    char v[32];
    if (win_getenv("KANADE_TEST_CAS_DELAY_MS", v, sizeof v) != 0) return 0;
    return atoi(v);
}

/*
** Read-modify-write of bucket/key under compare-and-set on the revision:
** reads, applies edit, writes with kv_update (or kv_create when absent),
** and on a lost race (NATS_ERR_CONFLICT/EXISTS) starts over, at most
** CLI_CAS_TRIES times. The new value is left in out. Returns an exit code.
*/
int cli_kv_cas(kv_bucket *b, const char *bucket, const char *key, cli_cas_edit_fn edit,
                  void *arg, char *out, size_t cap, cli_cas_result *res)
{
    int attempt, delay = cas_delay_ms();
    memset(res, 0, sizeof *res);
    for (attempt = 0; attempt < CLI_CAS_TRIES; attempt++) {
        kv_entry cur;
        js_err e;
        char err[512] = "";
        int rc, er;
        memset(&cur, 0, sizeof cur);
        memset(&e, 0, sizeof e);
        rc = kv_get(b, key, &cur, &e);
        if (rc != NATS_OK && rc != NATS_ERR_NOT_FOUND)
            return cli_fail_nats(rc, &e, "cannot read %s/%s", bucket, key);
        er = edit(arg, rc == NATS_OK ? (const char *)cur.value : NULL, rc == NATS_OK ? cur.len : 0,
                  out, cap, err, sizeof err);
        if (er < 0) { kv_entry_clear(&cur); return cli_fail(CLI_FAIL, "%s/%s: %s", bucket, key, err); }
        if (er > 0) { res->revision = cur.revision; kv_entry_clear(&cur); return CLI_OK; }
        if (delay > 0 && attempt == 0) Sleep((DWORD)delay);
        memset(&e, 0, sizeof e);
        if (rc == NATS_OK) rc = kv_update(b, key, out, strlen(out), cur.revision, &res->revision, &e);
        else rc = kv_create(b, key, out, strlen(out), &res->revision, &e);
        kv_entry_clear(&cur);
        if (rc == NATS_OK) { res->changed = 1; return CLI_OK; }
        if (rc != NATS_ERR_CONFLICT && rc != NATS_ERR_EXISTS)
            return cli_fail_nats(rc, &e, "cannot write %s/%s", bucket, key);
        /* Someone else wrote in between: back off a little and redo the edit
        ** on their value, so neither write is lost. */
        res->retries++;
        Sleep(10 + win_random_u32() % 40);
    }
    return cli_fail(CLI_FAIL, "%s/%s kept changing under %d attempts; retry later", bucket, key, CLI_CAS_TRIES);
}

/* 1 when bucket names and KV keys are within the NATS KV rules. */
int cli_valid_kv_key(const char *k)
{
    size_t n = strlen(k), i;
    if (n == 0 || n > 255 || k[0] == '.' || k[n - 1] == '.') return 0;
    for (i = 0; i < n; i++) {
        char c = k[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '/' || c == '=' || c == '.')) return 0;
    }
    return 1;
}

/* See cli.h. */
void cli_json_field(const char *js, size_t len, const char *key, char *out, size_t cap)
{
    json_tok tok[256];
    json_doc d;
    out[0] = 0;
    if (json_parse(&d, js, len, tok, 256) != JSON_OK || d.ntok < 1 || tok[0].type != JSON_OBJECT) return;
    if (json_get_str(&d, 0, key, out, cap) != JSON_OK) out[0] = 0;
}
