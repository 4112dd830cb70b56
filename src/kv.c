/*
** kv.c — JetStream Key-Value buckets (ADR-8). See kv.h.
**
** A bucket is the stream KV_<bucket> over "$KV.<bucket>.>". Buckets are
** created with exactly the stream config nats.go sends, so nats.go's own
** CreateKeyValue on the same bucket later finds an identical config. Reads
** use direct get when the stream allows it (like nats.go), else
** STREAM.MSG.GET; watches and key listings run on an ordered consumer.
*/
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kv.h"
#include "json.h"
#include "sha256.h"
#include "win.h"

#define KV_NAME_MAX   64        /* bucket name, with NUL */
#define KV_KEY_MAX    256       /* key, with NUL (kv_entry.key) */
#define KV_SUBJ_MAX   (KV_KEY_MAX + 2 * KV_NAME_MAX + 64)
#define KV_MAX_HISTORY 64
#define KV_DUP_WINDOW_NS 120000000000LL   /* nats.go: 2 min, or max_age if smaller */
#define KV_LIST_WAIT_MS (3 * JS_TIMEOUT_MS) /* longest quiet spell in kv_keys */

struct kv_bucket {
    nats_conn *c;
    char name[KV_NAME_MAX];
    char stream[KV_NAME_MAX + 3];       /* KV_<name> */
    char prefix[KV_NAME_MAX + 5];       /* $KV.<name>. */
    int allow_direct;
    int direct_only;                    /* kv_attach: no STREAM.MSG.GET fallback */
};

struct kv_watcher {
    nats_conn *c;
    js_ordered *o;
    char prefix[KV_NAME_MAX + 5];
    uint64_t init_pending;              /* initial values expected */
    uint64_t received;
    int init_state;                     /* 0 waiting, 1 due, 2 signalled */
    uint64_t last_rev;                  /* highest revision handed out */
};

static int kv_key_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9')
        || ch == '-' || ch == '/' || ch == '_' || ch == '=' || ch == '.';
}

/*
** Keys: ^[-/_=\.a-zA-Z0-9]+$, not starting or ending with '.', no "..".
** With spec set, whole tokens may be "*" and the last token ">" (watch).
*/
static int kv_valid_key_(const char *k, int spec)
{
    size_t i, n = k ? strlen(k) : 0, tok = 0;
    if (n == 0 || n >= KV_KEY_MAX || k[0] == '.' || k[n - 1] == '.') return 0;
    for (i = 0; i <= n; i++) {
        if (k[i] == '.' || k[i] == 0) {
            if (i == tok) return 0;                         /* ".." */
            if (spec && i - tok == 1 && (k[tok] == '*' || k[tok] == '>')) {
                if (k[tok] == '>' && k[i] != 0) return 0;   /* '>' only last */
            } else {
                size_t j;
                for (j = tok; j < i; j++) if (!kv_key_char(k[j])) return 0;
            }
            tok = i + 1;
        }
    }
    return 1;
}

static int kv_check_key(const char *key, js_err *e)
{
    if (!kv_valid_key_(key, 0))
        return js_fail(e, NATS_ERR_ARG, "invalid key \"%.200s\": use 1-255 of A-Z a-z 0-9 - / _ = ."
                       " with no leading, trailing or double dot", key ? key : "");
    return NATS_OK;
}

/* Subject of a key: "$KV.<bucket>.<key>". */
static int kv_subject(const kv_bucket *b, const char *key, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s%s", b->prefix, key);
    return n < 0 || (size_t)n >= cap;
}

/*
** Reads allow_direct and max_msgs_per_subject from a StreamInfo reply
** (from STREAM.INFO or STREAM.CREATE) into b.
*/
static int kv_bind_info(kv_bucket *b, const nats_msg *m, js_err *e)
{
    json_doc d;
    json_tok tok[256], *heap = NULL;
    int cfg, direct = 0;
    int64_t hist = 0;

    if (js_json_parse(&d, m->data, m->len, tok, 256, &heap) != JSON_OK
        || (cfg = json_find(&d, 0, "config")) < 0) {
        free(heap);
        return js_fail(e, NATS_ERR_BAD_DATA, "stream info of %s is not valid JSON", b->stream);
    }
    json_get_bool(&d, cfg, "allow_direct", &direct);
    json_get_int(&d, cfg, "max_msgs_per_subject", &hist);
    free(heap);
    if (hist < 1)
        return js_fail(e, NATS_ERR_BAD_DATA, "stream %s is not a KV bucket "
                       "(max_msgs_per_subject < 1)", b->stream);
    b->allow_direct = direct;
    return NATS_OK;
}

static kv_bucket *kv_alloc(nats_conn *c, const char *bucket)
{
    kv_bucket *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    b->c = c;
    snprintf(b->name, sizeof b->name, "%s", bucket);
    snprintf(b->stream, sizeof b->stream, "KV_%s", bucket);
    snprintf(b->prefix, sizeof b->prefix, "$KV.%s.", bucket);
    return b;
}

/* see kv.h */
int kv_bind(nats_conn *c, const char *bucket, kv_bucket **out, js_err *e)
{
    char api[128];
    nats_msg *m = NULL;
    kv_bucket *b;
    int rc;

    *out = NULL;
    js_err_clear(e);
    if (!js_valid_bucket(bucket, KV_NAME_MAX))
        return js_fail(e, NATS_ERR_ARG, "invalid bucket name \"%.100s\": use 1-63 of A-Z a-z 0-9 _ -",
                       bucket ? bucket : "");
    b = kv_alloc(c, bucket);
    if (!b) return js_fail(e, NATS_ERR_NOMEM, "out of memory");
    snprintf(api, sizeof api, "STREAM.INFO.%s", b->stream);
    rc = js_api(c, api, NULL, 0, &m, e);
    if (rc == NATS_ERR_NOT_FOUND) js_fail(e, rc, "KV bucket %s does not exist", bucket);
    if (rc == NATS_OK) rc = kv_bind_info(b, m, e);
    nats_msg_free(m);
    if (rc != NATS_OK) { free(b); return rc; }
    *out = b;
    return NATS_OK;
}

/* see kv.h */
int kv_attach(nats_conn *c, const char *bucket, kv_bucket **out, js_err *e)
{
    kv_bucket *b;
    *out = NULL;
    js_err_clear(e);
    if (!js_valid_bucket(bucket, KV_NAME_MAX))
        return js_fail(e, NATS_ERR_ARG, "invalid bucket name \"%.100s\": use 1-63 of A-Z a-z 0-9 _ -",
                       bucket ? bucket : "");
    b = kv_alloc(c, bucket);
    if (!b) return js_fail(e, NATS_ERR_NOMEM, "out of memory");
    b->allow_direct = 1;
    b->direct_only = 1;
    *out = b;
    return NATS_OK;
}

/*
** The stream config nats.go's CreateKeyValue sends (kv.go), field for
** field, so that either client later finds the config it would create.
*/
static int kv_stream_config(const kv_bucket *b, const kv_config *cfg, int replicas, char *buf,
                            size_t cap, size_t *len)
{
    json_w w;
    int64_t hist = cfg->history > 0 ? cfg->history : 1;
    int64_t max_bytes = cfg->max_bytes > 0 ? cfg->max_bytes : -1;
    int64_t max_age = cfg->max_age_ns > 0 ? cfg->max_age_ns : 0;
    int64_t dup = KV_DUP_WINDOW_NS;
    char subj[KV_NAME_MAX + 8];

    if (max_age > 0 && max_age < dup) dup = max_age;
    snprintf(subj, sizeof subj, "%s>", b->prefix);
    json_w_init(&w, buf, cap);
    json_w_obj_open(&w);
    json_w_kstr(&w, "name", b->stream);
    json_w_key(&w, "subjects");
    json_w_arr_open(&w);
    json_w_str(&w, subj);
    json_w_arr_close(&w);
    json_w_kstr(&w, "retention", "limits");
    json_w_kint(&w, "max_consumers", -1);
    json_w_kint(&w, "max_msgs", -1);
    json_w_kint(&w, "max_bytes", max_bytes);
    json_w_kstr(&w, "discard", "new");
    json_w_kint(&w, "max_age", max_age);
    json_w_kint(&w, "max_msgs_per_subject", hist);
    json_w_kint(&w, "max_msg_size", -1);
    json_w_kstr(&w, "storage", "file");
    json_w_kint(&w, "num_replicas", replicas);
    json_w_kint(&w, "duplicate_window", dup);
    json_w_kbool(&w, "deny_delete", 1);
    json_w_kbool(&w, "allow_rollup_hdrs", 1);
    json_w_kbool(&w, "allow_direct", 1);
    json_w_obj_close(&w);
    *len = w.len;
    return w.err ? NATS_ERR_ARG : NATS_OK;
}

/* see kv.h */
int kv_open(nats_conn *c, const kv_config *cfg, kv_bucket **out, js_err *e)
{
    return kv_open_replicas(c, cfg, 1, out, e);
}

/* see kv.h */
int kv_open_replicas(nats_conn *c, const kv_config *cfg, int replicas, kv_bucket **out, js_err *e)
{
    char api[128], body[1024];
    size_t len = 0;
    nats_msg *m = NULL;
    kv_bucket *b;
    int rc;

    *out = NULL;
    js_err_clear(e);
    if (!cfg || !js_valid_bucket(cfg->bucket, KV_NAME_MAX))
        return js_fail(e, NATS_ERR_ARG, "invalid bucket name \"%.100s\": use 1-63 of A-Z a-z 0-9 _ -",
                       cfg && cfg->bucket ? cfg->bucket : "");
    if (cfg->history < 0 || cfg->history > KV_MAX_HISTORY)
        return js_fail(e, NATS_ERR_ARG, "KV history must be 1..64");
    if (replicas < 1 || replicas > 5)
        return js_fail(e, NATS_ERR_ARG, "replicas must be 1..5");
    b = kv_alloc(c, cfg->bucket);
    if (!b) return js_fail(e, NATS_ERR_NOMEM, "out of memory");

    /* Bind when it exists (like nats.js), create only when it is missing. */
    snprintf(api, sizeof api, "STREAM.INFO.%s", b->stream);
    rc = js_api(c, api, NULL, 0, &m, e);
    if (rc == NATS_ERR_NOT_FOUND) {
        if (kv_stream_config(b, cfg, replicas, body, sizeof body, &len) != NATS_OK) {
            free(b);
            return js_fail(e, NATS_ERR_ARG, "bucket config too long");
        }
        snprintf(api, sizeof api, "STREAM.CREATE.%s", b->stream);
        rc = js_api(c, api, body, len, &m, e);
        if (rc == NATS_ERR_JS && e && e->err_code == 10058) {
            /* Created meanwhile, by someone with another config: use it. */
            snprintf(api, sizeof api, "STREAM.INFO.%s", b->stream);
            rc = js_api(c, api, NULL, 0, &m, e);
        }
    }
    if (rc == NATS_OK) rc = kv_bind_info(b, m, e);
    nats_msg_free(m);
    if (rc != NATS_OK) { free(b); return rc; }
    *out = b;
    return NATS_OK;
}

/* see kv.h */
void kv_close(kv_bucket *b)
{
    free(b);
}

/* see kv.h */
void kv_entry_clear(kv_entry *e)
{
    if (!e) return;
    free(e->value);
    memset(e, 0, sizeof *e);
}

/* KV-Operation header of m: KV_OP_PUT when absent. */
static int kv_op_of(const nats_msg *m)
{
    char v[32];
    if (!m->hdr || nats_msg_header(m, "KV-Operation", v, sizeof v) != 0) return KV_OP_PUT;
    if (strcmp(v, "DEL") == 0) return KV_OP_DEL;
    if (strcmp(v, "PURGE") == 0) return KV_OP_PURGE;
    return KV_OP_PUT;
}

/*
** RFC 3339 (Go RFC3339Nano, UTC) to Unix ns. win_parse_rfc3339 gives whole
** ms; the sub-ms digits of the fraction are added here. 0 = ok.
*/
static int kv_parse_time_ns(const char *s, int64_t *ns)
{
    int64_t ms;
    const char *dot;
    int digits = 0, extra = 0;
    if (win_parse_rfc3339(s, &ms) != 0) return 1;
    dot = strchr(s, '.');
    if (dot) {
        const char *p;
        for (p = dot + 1; *p >= '0' && *p <= '9'; p++, digits++)
            if (digits >= 3 && digits < 9) extra = extra * 10 + (*p - '0');
        for (; digits < 9; digits++) if (digits >= 3) extra *= 10;
    }
    *ns = ms * 1000000 + extra;
    return 0;
}

static int kv_set_value(kv_entry *out, const void *data, size_t len)
{
    out->value = malloc(len + 1);
    if (!out->value) return NATS_ERR_NOMEM;
    if (len) memcpy(out->value, data, len);
    out->value[len] = 0;
    out->len = len;
    return NATS_OK;
}

/* Last message of key via direct get; NATS_ERR_NO_RESPONDERS lets the
** caller fall back to STREAM.MSG.GET. */
static int kv_get_direct(kv_bucket *b, const char *key, kv_entry *out, js_err *e)
{
    char subj[KV_SUBJ_MAX + 64], keysubj[KV_SUBJ_MAX], v[64];
    nats_msg *m = NULL;
    int rc;
    uint64_t seq = 0;

    kv_subject(b, key, keysubj, sizeof keysubj);
    snprintf(subj, sizeof subj, "$JS.API.DIRECT.GET.%s.%s", b->stream, keysubj);
    /* The subject form takes an EMPTY body: any body earns a 408. */
    rc = nats_request(b->c, subj, NULL, 0, NULL, 0, JS_TIMEOUT_MS, &m);
    if (rc == NATS_ERR_NO_RESPONDERS) return rc;
    if (rc == NATS_ERR_TIMEOUT) return js_fail(e, rc, "direct get of %s timed out", keysubj);
    if (rc != NATS_OK) return js_fail(e, rc, "direct get: %s", nats_strerror(rc));
    if (m->status == 404) {
        nats_msg_free(m);
        return js_fail(e, NATS_ERR_NOT_FOUND, "key %.200s not found", key);
    }
    if (m->status != 0) {
        if (e) {
            e->code = m->status;
            e->err_code = 0;
            snprintf(e->desc, sizeof e->desc, "direct get of %s: %d %s", keysubj, m->status,
                     m->status_desc ? m->status_desc : "");
        }
        nats_msg_free(m);
        return NATS_ERR_JS;
    }
    if (nats_msg_header(m, "Nats-Sequence", v, sizeof v) != 0
        || sscanf(v, "%" SCNu64, &seq) != 1 || seq == 0) {
        nats_msg_free(m);
        return js_fail(e, NATS_ERR_BAD_DATA, "direct get of %s: no Nats-Sequence", keysubj);
    }
    snprintf(out->key, sizeof out->key, "%s", key);
    out->revision = seq;
    out->op = kv_op_of(m);
    if (nats_msg_header(m, "Nats-Time-Stamp", v, sizeof v) == 0)
        kv_parse_time_ns(v, &out->created_ns);
    rc = kv_set_value(out, m->data, m->len);
    nats_msg_free(m);
    return rc;
}

/*
** Decodes the std-base64 JSON string token i of d into a malloc'd,
** NUL-terminated buffer (*out, *len). An absent token gives "".
*/
static int kv_b64_field(const json_doc *d, int obj, const char *key, unsigned char **out, size_t *len)
{
    int i = json_find(d, obj, key);
    size_t n = 0;
    const char *s;
    size_t slen;
    *out = NULL;
    *len = 0;
    if (i >= 0 && d->tok[i].type != JSON_STRING) return NATS_ERR_BAD_DATA;
    s = i >= 0 ? d->js + d->tok[i].start : "";
    slen = i >= 0 ? (size_t)(d->tok[i].end - d->tok[i].start) : 0;
    *out = malloc(slen / 4 * 3 + 4);
    if (!*out) return NATS_ERR_NOMEM;
    if (slen && b64_decode(s, slen, *out, slen / 4 * 3 + 3, &n) != 0) {
        free(*out);
        *out = NULL;
        return NATS_ERR_BAD_DATA;
    }
    (*out)[n] = 0;
    *len = n;
    return NATS_OK;
}

/* Last message of key via STREAM.MSG.GET {"last_by_subj": ...}. */
static int kv_get_msgget(kv_bucket *b, const char *key, kv_entry *out, js_err *e)
{
    char api[128], keysubj[KV_SUBJ_MAX], body[KV_SUBJ_MAX + 32], t[64];
    json_w w;
    nats_msg *m = NULL, hm;
    json_doc d;
    json_tok tok[64], *heap = NULL;
    unsigned char *hdrs = NULL, *data = NULL;
    size_t hlen = 0, dlen = 0;
    int rc, msg;
    uint64_t seq = 0;

    kv_subject(b, key, keysubj, sizeof keysubj);
    json_w_init(&w, body, sizeof body);
    json_w_obj_open(&w);
    json_w_kstr(&w, "last_by_subj", keysubj);
    json_w_obj_close(&w);
    snprintf(api, sizeof api, "STREAM.MSG.GET.%s", b->stream);
    rc = js_api(b->c, api, body, w.len, &m, e);
    if (rc == NATS_ERR_NOT_FOUND) return js_fail(e, rc, "key %.200s not found", key);
    if (rc != NATS_OK) return rc;
    rc = NATS_ERR_BAD_DATA;
    if (js_json_parse(&d, m->data, m->len, tok, 64, &heap) == JSON_OK
        && (msg = json_find(&d, 0, "message")) >= 0
        && json_get_uint(&d, msg, "seq", &seq) == JSON_OK
        && kv_b64_field(&d, msg, "hdrs", &hdrs, &hlen) == NATS_OK
        && kv_b64_field(&d, msg, "data", &data, &dlen) == NATS_OK) {
        snprintf(out->key, sizeof out->key, "%s", key);
        out->revision = seq;
        memset(&hm, 0, sizeof hm);
        hm.hdr = (char *)hdrs;
        hm.hdr_len = hlen;
        hm.data = (unsigned char *)"";
        out->op = hlen ? kv_op_of(&hm) : KV_OP_PUT;
        if (json_get_str(&d, msg, "time", t, sizeof t) == JSON_OK)
            kv_parse_time_ns(t, &out->created_ns);
        out->value = data;     /* already NUL-terminated */
        out->len = dlen;
        data = NULL;
        rc = NATS_OK;
    } else {
        js_fail(e, rc, "STREAM.MSG.GET reply for %.200s is malformed", keysubj);
    }
    free(hdrs);
    free(data);
    free(heap);
    nats_msg_free(m);
    return rc;
}

/* The last entry of key, DEL/PURGE markers included. */
static int kv_get_last(kv_bucket *b, const char *key, kv_entry *out, js_err *e)
{
    int rc;
    memset(out, 0, sizeof *out);
    if (b->allow_direct) {
        rc = kv_get_direct(b, key, out, e);
        if (rc == NATS_ERR_NO_RESPONDERS && b->direct_only)
            return js_fail(e, rc, "no stream answers direct gets for KV bucket %s: it does not exist "
                           "(or JetStream is down)", b->name);
        if (rc != NATS_ERR_NO_RESPONDERS) return rc;
        /* allow_direct is set but nobody answers: use the stream leader. */
    }
    return kv_get_msgget(b, key, out, e);
}

/* see kv.h */
int kv_get_entry(kv_bucket *b, const char *key, kv_entry *out, js_err *e)
{
    int rc;
    memset(out, 0, sizeof *out);
    js_err_clear(e);
    if ((rc = kv_check_key(key, e)) != NATS_OK) return rc;
    return kv_get_last(b, key, out, e);
}

/* see kv.h */
int kv_get(kv_bucket *b, const char *key, kv_entry *out, js_err *e)
{
    int rc;
    memset(out, 0, sizeof *out);
    js_err_clear(e);
    if ((rc = kv_check_key(key, e)) != NATS_OK) return rc;
    rc = kv_get_last(b, key, out, e);
    if (rc == NATS_OK && out->op != KV_OP_PUT) {
        kv_entry_clear(out);
        return js_fail(e, NATS_ERR_NOT_FOUND, "key %.200s was deleted", key);
    }
    return rc;
}

/* Publishes to key's subject with an optional header block. */
static int kv_pub(kv_bucket *b, const char *key, const char *hdr, const void *val, size_t len,
                  uint64_t *rev, js_err *e)
{
    char subj[KV_SUBJ_MAX];
    if (kv_check_key(key, e) != NATS_OK) return NATS_ERR_ARG;
    kv_subject(b, key, subj, sizeof subj);
    return js_publish(b->c, subj, hdr, hdr ? strlen(hdr) : 0, val, len, rev, e);
}

/* see kv.h */
int kv_put(kv_bucket *b, const char *key, const void *val, size_t len, uint64_t *rev, js_err *e)
{
    return kv_pub(b, key, NULL, val, len, rev, e);
}

/* see kv.h */
int kv_update(kv_bucket *b, const char *key, const void *val, size_t len,
              uint64_t last_rev, uint64_t *rev, js_err *e)
{
    char hdr[96];
    int rc;
    snprintf(hdr, sizeof hdr, "NATS/1.0\r\nNats-Expected-Last-Subject-Sequence: %" PRIu64 "\r\n\r\n",
             last_rev);
    rc = kv_pub(b, key, hdr, val, len, rev, e);
    return rc;
}

/* see kv.h */
int kv_create(kv_bucket *b, const char *key, const void *val, size_t len, uint64_t *rev, js_err *e)
{
    kv_entry last;
    js_err e2;
    int rc = kv_update(b, key, val, len, 0, rev, e);
    if (rc != NATS_ERR_CONFLICT) return rc;
    /* The subject has messages: a create may still go over a DEL/PURGE
    ** marker, expecting exactly that marker's revision. */
    rc = kv_get_last(b, key, &last, &e2);
    if (rc == NATS_OK && last.op != KV_OP_PUT) {
        uint64_t mrev = last.revision;
        kv_entry_clear(&last);
        rc = kv_update(b, key, val, len, mrev, rev, e);
        if (rc != NATS_ERR_CONFLICT) return rc;
    } else {
        kv_entry_clear(&last);
    }
    return js_fail(e, NATS_ERR_EXISTS, "key %.200s already exists", key);
}

/* see kv.h */
int kv_delete(kv_bucket *b, const char *key, js_err *e)
{
    return kv_pub(b, key, "NATS/1.0\r\nKV-Operation: DEL\r\n\r\n", NULL, 0, NULL, e);
}

/* see kv.h */
int kv_purge(kv_bucket *b, const char *key, js_err *e)
{
    return kv_pub(b, key, "NATS/1.0\r\nKV-Operation: PURGE\r\nNats-Rollup: sub\r\n\r\n",
                  NULL, 0, NULL, e);
}

/*
** Fills out from a delivered message: key from the subject, op from
** KV-Operation, revision/created/delta from the ack metadata. The value
** is copied (the message stays the caller's).
*/
static int kv_entry_from_msg(const char *prefix, const nats_msg *m, const js_meta *mt,
                             kv_entry *out)
{
    size_t pl = strlen(prefix), kl;
    memset(out, 0, sizeof *out);
    if (strncmp(m->subject, prefix, pl) != 0) return NATS_ERR_BAD_DATA;
    kl = strlen(m->subject + pl);
    if (kl == 0 || kl >= sizeof out->key) return NATS_ERR_BAD_DATA;
    memcpy(out->key, m->subject + pl, kl + 1);
    out->op = kv_op_of(m);
    out->revision = mt->stream_seq;
    out->created_ns = mt->ts_ns;
    out->delta = mt->pending;
    return kv_set_value(out, m->data, m->len);
}

/* see kv.h */
/* kv_keys's pass over the bucket: a key per live (PUT) entry. */
typedef struct keys_pass {
    const kv_bucket *b;
    void (*cb)(void *arg, const char *key);
    void *arg;
} keys_pass;

static void key_of(void *arg, const nats_msg *m)
{
    const keys_pass *p = arg;
    size_t n = strlen(p->b->prefix);
    if (kv_op_of(m) == KV_OP_PUT && strncmp(m->subject, p->b->prefix, n) == 0)
        p->cb(p->arg, m->subject + n);
}

int kv_keys(kv_bucket *b, void (*cb)(void *arg, const char *key), void *arg, js_err *e)
{
    char filter[KV_NAME_MAX + 8];
    keys_pass p;
    js_err_clear(e);
    snprintf(filter, sizeof filter, "%s>", b->prefix);
    p.b = b;
    p.cb = cb;
    p.arg = arg;
    return js_last_per_subject(b->c, b->stream, filter, 1, KV_LIST_WAIT_MS, "keys", key_of, &p, e);
}

/* see kv.h */
int kv_watch(kv_bucket *b, const char *keyspec, void *notify_event, kv_watcher **out, js_err *e)
{
    char filter[KV_SUBJ_MAX];
    js_ordered_cfg cfg;
    kv_watcher *w;
    int rc;

    *out = NULL;
    js_err_clear(e);
    if (!keyspec || !kv_valid_key_(keyspec, 1))
        return js_fail(e, NATS_ERR_ARG, "invalid watch key \"%.200s\"", keyspec ? keyspec : "");
    w = calloc(1, sizeof *w);
    if (!w) return js_fail(e, NATS_ERR_NOMEM, "out of memory");
    w->c = b->c;
    memcpy(w->prefix, b->prefix, sizeof w->prefix);
    kv_subject(b, keyspec, filter, sizeof filter);
    memset(&cfg, 0, sizeof cfg);
    cfg.stream = b->stream;
    cfg.filter = filter;
    cfg.deliver_policy = "last_per_subject";
    cfg.notify_event = notify_event;
    rc = js_ordered_start(b->c, &cfg, &w->o, &w->init_pending, e);
    if (rc != NATS_OK) { free(w); return rc; }
    /* Nothing to deliver: the initial values are done right away. */
    if (w->init_pending == 0) w->init_state = 1;
    *out = w;
    return NATS_OK;
}

/* see kv.h */
int kv_watch_next(kv_watcher *w, int timeout_ms, kv_entry *out)
{
    uint64_t deadline = win_tick_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
    memset(out, 0, sizeof *out);
    if (w->init_state == 1) { w->init_state = 2; return KV_INIT_DONE; }
    for (;;) {
        nats_msg *m = NULL;
        js_meta mt;
        uint64_t now = win_tick_ms();
        int rc = js_ordered_next(w->o, now < deadline ? (int)(deadline - now) : 0, &m, &mt);
        if (rc != NATS_OK) return rc;
        /* The ordered consumer resumes after the last stream sequence, so
        ** this only guards against a server that replays anyway. */
        if (mt.stream_seq <= w->last_rev
            || kv_entry_from_msg(w->prefix, m, &mt, out) != NATS_OK) {
            kv_entry_clear(out);
            nats_msg_free(m);
            continue;
        }
        nats_msg_free(m);
        w->last_rev = mt.stream_seq;
        if (w->init_state == 0) {
            w->received++;
            if (w->received >= w->init_pending || mt.pending == 0) w->init_state = 1;
        }
        return NATS_OK;
    }
}

/* see kv.h */
void kv_watch_stop(kv_watcher *w)
{
    if (!w) return;
    js_ordered_stop(w->o);
    free(w);
}
