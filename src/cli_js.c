/*
** cli_js.c — the JetStream helper commands of kanade.exe: obj list and
** kv get/put/del on any bucket, and the object listing that releases uses.
** See cli.h for the helpers and conventions: each cli_cmd_* validates
** everything the operator typed before it connects, and returns a process
** exit code.
*/
#include <fcntl.h>
#include <io.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "objstore.h"
#include "trust.h"
#include "win.h"

typedef struct obj_rows { obj_info *v; size_t n, cap; int oom, sig; } obj_rows;

static void obj_collect(void *arg, const obj_info *info)
{
    obj_rows *r = arg;
    if (r->n == r->cap) {
        size_t nc = r->cap ? r->cap * 2 : 32;
        obj_info *nv = realloc(r->v, nc * sizeof *nv);
        if (!nv) { r->oom = 1; return; }
        r->v = nv;
        r->cap = nc;
    }
    r->v[r->n++] = *info;
}

/* Newest first by mtime (parsed, since writers differ in fraction digits). */
static int cmp_obj(const void *x, const void *y)
{
    const obj_info *a = x, *b = y;
    int64_t ta = 0, tb = 0;
    int oka = win_parse_rfc3339(a->mtime, &ta) == 0, okb = win_parse_rfc3339(b->mtime, &tb) == 0;
    if (oka != okb) return oka ? -1 : 1;
    if (ta != tb) return ta > tb ? -1 : 1;
    return strcmp(a->name, b->name);
}

static void render_objs(json_w *w, void *arg)
{
    obj_rows *r = arg;
    size_t i;
    json_w_arr_open(w);
    for (i = 0; i < r->n; i++) {
        json_w_obj_open(w);
        json_w_kstr(w, "name", r->v[i].name);
        json_w_key(w, "size");
        json_w_uint(w, r->v[i].size);
        json_w_kstr(w, "digest", r->v[i].digest);
        json_w_kstr(w, "mtime", r->v[i].mtime);
        /* The signer a release names (releases only: trust.h's headers); the
        ** agents verify the signature, this only reports it. */
        if (r->sig) json_w_kstr(w, "key_id", obj_header(&r->v[i], TRUST_HDR_SIG)
                                              ? obj_header(&r->v[i], TRUST_HDR_KEYID) : NULL);
        json_w_obj_close(w);
    }
    json_w_arr_close(w);
}

/* Lists the live objects of bucket, newest first. */
int cli_list_objects(const char *bucket)
{
    obj_store *s = NULL;
    obj_rows r;
    js_err e;
    size_t i;
    int code, rc, wn = 4, wsz = 4;
    if (!scope_valid_id(bucket)) return cli_usage("'%s' is not a valid bucket name", bucket);
    if ((code = cli_connect()) != CLI_OK || (code = cli_open_obj(bucket, &s)) != CLI_OK) return code;
    memset(&r, 0, sizeof r);
    memset(&e, 0, sizeof e);
    r.sig = strcmp(bucket, CLI_B_RELEASES) == 0;
    rc = obj_list(s, 0, obj_collect, &r, &e);
    obj_close(s);
    if (rc != NATS_OK) { free(r.v); return cli_fail_nats(rc, &e, "cannot list %s", bucket); }
    if (r.oom) { free(r.v); return cli_fail(CLI_FAIL, "out of memory listing %s", bucket); }
    qsort(r.v, r.n, sizeof *r.v, cmp_obj);
    if (cli_g.json) { code = cli_emit_json(render_objs, &r); free(r.v); return code; }
    if (r.n == 0) cli_say("no objects in %s\n", bucket);
    for (i = 0; i < r.n; i++) {
        char sz[32];
        if ((int)strlen(r.v[i].name) > wn) wn = (int)strlen(r.v[i].name);
        if (snprintf(sz, sizeof sz, "%" PRIu64, r.v[i].size) > wsz) wsz = (int)strlen(sz);
    }
    if (r.n && !r.sig) cli_say("%-*s  %*s  %-52s  %s\n", wn, "NAME", wsz, "SIZE", "DIGEST", "MTIME");
    if (r.n && r.sig) cli_say("%-*s  %*s  %-52s  %-24s  %s\n", wn, "NAME", wsz, "SIZE", "DIGEST", "MTIME", "SIGNED BY");
    for (i = 0; i < r.n; i++) {
        const char *id = obj_header(&r.v[i], TRUST_HDR_KEYID);
        const char *dg = r.v[i].digest[0] ? r.v[i].digest : "(none)";
        if (!r.sig)
            cli_say("%-*s  %*" PRIu64 "  %-52s  %s\n", wn, r.v[i].name, wsz, r.v[i].size, dg, r.v[i].mtime);
        else
            cli_say("%-*s  %*" PRIu64 "  %-52s  %-24s  %s\n", wn, r.v[i].name, wsz, r.v[i].size, dg, r.v[i].mtime,
                    obj_header(&r.v[i], TRUST_HDR_SIG) && id ? id : "unsigned");
    }
    free(r.v);
    return CLI_OK;
}

int cli_cmd_obj_list(void) { return cli_list_objects(cli_arg(0)); }

static int kv_args(const char **bucket, const char **key)
{
    *bucket = cli_arg(0);
    *key = cli_arg(1);
    if (!scope_valid_id(*bucket)) return cli_usage("'%s' is not a valid bucket name", *bucket);
    if (!cli_valid_kv_key(*key))
        return cli_usage("'%s' is not a valid key (letters, digits, '-', '_', '/', '=', '.'; no leading or trailing '.')", *key);
    return CLI_OK;
}

typedef struct kv_get_out { const char *bucket; const kv_entry *e; } kv_get_out;

static void render_kv_get(json_w *w, void *arg)
{
    kv_get_out *o = arg;
    char t[40];
    win_rfc3339(o->e->created_ns / 1000000, t);
    json_w_obj_open(w);
    json_w_kstr(w, "bucket", o->bucket);
    json_w_kstr(w, "key", o->e->key);
    json_w_key(w, "revision");
    json_w_uint(w, o->e->revision);
    json_w_kstr(w, "created", t);
    json_w_key(w, "value");
    json_w_strn(w, (const char *)o->e->value, o->e->len);
    json_w_obj_close(w);
}

/* jetstream kv get <bucket> <key>: the value as stored, then a newline. */
int cli_cmd_kv_get(void)
{
    const char *bucket, *key;
    kv_bucket *b = NULL;
    kv_entry en;
    js_err e;
    int code, rc;
    if ((code = kv_args(&bucket, &key)) != CLI_OK) return code;
    if ((code = cli_connect()) != CLI_OK || (code = cli_open_kv(bucket, &b)) != CLI_OK) return code;
    memset(&en, 0, sizeof en);
    memset(&e, 0, sizeof e);
    rc = kv_get(b, key, &en, &e);
    kv_close(b);
    if (rc == NATS_ERR_NOT_FOUND) return cli_fail(CLI_NOT_FOUND, "%s/%s holds no value", bucket, key);
    if (rc != NATS_OK) return cli_fail_nats(rc, &e, "cannot read %s/%s", bucket, key);
    if (cli_g.json) {
        kv_get_out o;
        o.bucket = bucket;
        o.e = &en;
        code = cli_emit_json(render_kv_get, &o);
    } else {
        /* Binary stdout when redirected, so the value arrives byte for byte. */
        if (!cli_g.con_out) { fflush(stdout); _setmode(_fileno(stdout), _O_BINARY); }
        cli_out_raw(0, (const char *)en.value, en.len);
        cli_out_raw(0, "\n", 1);
    }
    kv_entry_clear(&en);
    return code;
}

/* jetstream kv put <bucket> <key> <value|->: an unconditional write. */
int cli_cmd_kv_put(void)
{
    const char *bucket, *key, *value = cli_arg(2);
    char *buf = NULL;
    size_t len = strlen(value);
    kv_bucket *b = NULL;
    uint64_t rev = 0;
    js_err e;
    int code, rc;
    if ((code = kv_args(&bucket, &key)) != CLI_OK) return code;
    if (!strcmp(value, "-")) {
        size_t cap = 0, got;
        _setmode(_fileno(stdin), _O_BINARY);
        len = 0;
        do {
            if (len == cap) {
                char *nb = cap >= (8u << 20) ? NULL : realloc(buf, cap = cap ? cap * 2 : 4096);
                if (!nb) { free(buf); return cli_fail(CLI_FAIL, "value on stdin is larger than 8 MiB"); }
                buf = nb;
            }
            got = fread(buf + len, 1, cap - len, stdin);
            len += got;
        } while (got > 0);
        value = buf ? buf : "";
    }
    if ((code = cli_connect()) != CLI_OK || (code = cli_open_kv(bucket, &b)) != CLI_OK) { free(buf); return code; }
    memset(&e, 0, sizeof e);
    rc = kv_put(b, key, value, len, &rev, &e);
    kv_close(b);
    free(buf);
    if (rc != NATS_OK) return cli_fail_nats(rc, &e, "cannot write %s/%s", bucket, key);
    if (cli_g.json) cli_say("{\"bucket\":\"%s\",\"key\":\"%s\",\"revision\":%" PRIu64 "}\n", bucket, key, rev);
    else cli_say("put %s/%s (revision %" PRIu64 ")\n", bucket, key, rev);
    return CLI_OK;
}

/* jetstream kv del <bucket> <key>: a delete marker; exit 3 when nothing is there. */
int cli_cmd_kv_del(void)
{
    const char *bucket, *key;
    kv_bucket *b = NULL;
    kv_entry en;
    js_err e;
    int code, rc;
    if ((code = kv_args(&bucket, &key)) != CLI_OK) return code;
    if ((code = cli_connect()) != CLI_OK || (code = cli_open_kv(bucket, &b)) != CLI_OK) return code;
    memset(&en, 0, sizeof en);
    memset(&e, 0, sizeof e);
    rc = kv_get(b, key, &en, &e);
    kv_entry_clear(&en);
    if (rc == NATS_OK) { memset(&e, 0, sizeof e); rc = kv_delete(b, key, &e); }
    kv_close(b);
    if (rc == NATS_ERR_NOT_FOUND) return cli_fail(CLI_NOT_FOUND, "%s/%s holds no value", bucket, key);
    if (rc != NATS_OK) return cli_fail_nats(rc, &e, "cannot delete %s/%s", bucket, key);
    if (cli_g.json) cli_say("{\"bucket\":\"%s\",\"key\":\"%s\",\"deleted\":true}\n", bucket, key);
    else cli_say("deleted %s/%s\n", bucket, key);
    return CLI_OK;
}
