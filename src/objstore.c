/*
** objstore.c — JetStream Object Store (ADR-20). See objstore.h.
**
** An object is a run of chunk messages on $O.<b>.C.<nuid> plus one meta
** message (JSON ObjectInfo) on $O.<b>.M.<padded base64url name>, published
** with Nats-Rollup: sub so only the newest meta survives. Puts stream the
** chunks with a bounded window of PubAcks in flight; gets read the chunks
** with direct gets by next_by_subj (an ordered consumer only for a store
** without allow_direct), hash while writing, and check size, chunk count
** and digest before calling the object good.
*/
#include <windows.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "objstore.h"
#include "json.h"
#include "sha256.h"
#include "win.h"

#define OBJ_NAME_MAX   256      /* object name bytes, with NUL (obj_info.name) */
#define OBJ_BUCKET_MAX 64       /* bucket name, with NUL (obj_info.bucket) */
#define OBJ_SUBJ_MAX   (OBJ_NAME_MAX / 3 * 4 + 8 + OBJ_BUCKET_MAX + 16)
#define OBJ_META_MAX   4096     /* the meta JSON we write */
#define OBJ_WINDOW     16       /* chunk PubAcks in flight during a put */
#define OBJ_STALL_MS   30000    /* a get with no chunk for this long fails */
#define OBJ_NUID_LEN   22

struct obj_store {
    nats_conn *c;
    char name[OBJ_BUCKET_MAX];
    char stream[OBJ_BUCKET_MAX + 4];    /* OBJ_<name> */
    int allow_direct;                   /* gets read with direct gets, no consumer */
    int attached;                       /* obj_attach: meta by direct get too */
};

static int obj_check_name(const char *name, js_err *e)
{
    if (!name || !name[0] || strlen(name) >= OBJ_NAME_MAX)
        return js_fail(e, NATS_ERR_ARG, "invalid object name: it must be 1-255 bytes");
    return NATS_OK;
}

/* "$O.<bucket>.M.<name as base64url with padding>" (nats.go encodeName). */
static int obj_meta_subject(const obj_store *s, const char *name, char *out, size_t cap)
{
    char enc[OBJ_NAME_MAX / 3 * 4 + 8];
    if (b64_encode(name, strlen(name), 1, 1, enc, sizeof enc) != SHA256_OK) return 1;
    return snprintf(out, cap, "$O.%s.M.%s", s->name, enc) >= (int)cap;
}

static void obj_chunk_subject(const obj_store *s, const char *nuid, char *out, size_t cap)
{
    snprintf(out, cap, "$O.%s.C.%s", s->name, nuid);
}

/* ---- open / bind ------------------------------------------------------ */

/* create: 0 = bind only, else create a missing store with that many replicas. */
static int obj_lookup(nats_conn *c, const char *bucket, int create, obj_store **out, js_err *e)
{
    char api[128], body[512];
    json_w w;
    nats_msg *m = NULL;
    obj_store *s;
    int rc;

    *out = NULL;
    js_err_clear(e);
    if (!js_valid_bucket(bucket, OBJ_BUCKET_MAX))
        return js_fail(e, NATS_ERR_ARG, "invalid bucket name \"%.100s\": use 1-63 of A-Z a-z 0-9 _ -",
                        bucket ? bucket : "");
    s = calloc(1, sizeof *s);
    if (!s) return js_fail(e, NATS_ERR_NOMEM, "out of memory");
    s->c = c;
    snprintf(s->name, sizeof s->name, "%s", bucket);
    snprintf(s->stream, sizeof s->stream, "OBJ_%s", bucket);

    snprintf(api, sizeof api, "STREAM.INFO.%s", s->stream);
    rc = js_api(c, api, NULL, 0, &m, e);
    if (rc == NATS_ERR_NOT_FOUND && !create)
        js_fail(e, rc, "object store %s does not exist", bucket);
    if (rc == NATS_ERR_NOT_FOUND && create) {
        char chunks[OBJ_BUCKET_MAX + 16], meta[OBJ_BUCKET_MAX + 16];
        snprintf(chunks, sizeof chunks, "$O.%s.C.>", bucket);
        snprintf(meta, sizeof meta, "$O.%s.M.>", bucket);
        /* nats.go CreateObjectStore / nats.js init: ADR-20's config. */
        json_w_init(&w, body, sizeof body);
        json_w_obj_open(&w);
        json_w_kstr(&w, "name", s->stream);
        json_w_key(&w, "subjects");
        json_w_arr_open(&w);
        json_w_str(&w, chunks);
        json_w_str(&w, meta);
        json_w_arr_close(&w);
        json_w_kint(&w, "max_age", 0);
        json_w_kint(&w, "max_bytes", -1);
        json_w_kstr(&w, "storage", "file");
        json_w_kint(&w, "num_replicas", create);
        json_w_kstr(&w, "discard", "new");
        json_w_kbool(&w, "allow_rollup_hdrs", 1);
        json_w_kbool(&w, "allow_direct", 1);
        json_w_obj_close(&w);
        snprintf(api, sizeof api, "STREAM.CREATE.%s", s->stream);
        rc = js_api(c, api, body, w.len, &m, e);
        if (rc == NATS_ERR_JS && e && e->err_code == 10058) {
            /* Someone created it meanwhile with another config: bind. */
            snprintf(api, sizeof api, "STREAM.INFO.%s", s->stream);
            rc = js_api(c, api, NULL, 0, &m, e);
        }
    }
    if (rc == NATS_OK && m) {
        json_doc d;
        json_tok tok[256], *heap = NULL;
        int cfg;
        if (js_json_parse(&d, m->data, m->len, tok, 256, &heap) == JSON_OK
            && (cfg = json_find(&d, 0, "config")) >= 0)
            json_get_bool(&d, cfg, "allow_direct", &s->allow_direct);
        free(heap);
    }
    nats_msg_free(m);
    if (rc != NATS_OK) { free(s); return rc; }
    *out = s;
    return NATS_OK;
}

/* see objstore.h */
int obj_attach(nats_conn *c, const char *bucket, obj_store **out, js_err *e)
{
    obj_store *s;
    *out = NULL;
    js_err_clear(e);
    if (!js_valid_bucket(bucket, OBJ_BUCKET_MAX))
        return js_fail(e, NATS_ERR_ARG, "invalid bucket name \"%.100s\": use 1-63 of A-Z a-z 0-9 _ -",
                        bucket ? bucket : "");
    s = calloc(1, sizeof *s);
    if (!s) return js_fail(e, NATS_ERR_NOMEM, "out of memory");
    s->c = c;
    snprintf(s->name, sizeof s->name, "%s", bucket);
    snprintf(s->stream, sizeof s->stream, "OBJ_%s", bucket);
    s->allow_direct = 1;
    s->attached = 1;
    *out = s;
    return NATS_OK;
}

/* see objstore.h */
int obj_open(nats_conn *c, const char *bucket, obj_store **out, js_err *e)
{
    return obj_lookup(c, bucket, 1, out, e);
}

/* see objstore.h */
int obj_open_replicas(nats_conn *c, const char *bucket, int replicas, obj_store **out, js_err *e)
{
    if (replicas < 1 || replicas > 5) {
        if (out) *out = NULL;
        return js_fail(e, NATS_ERR_ARG, "replicas must be 1..5");
    }
    return obj_lookup(c, bucket, replicas, out, e);
}

/* see objstore.h */
int obj_bind(nats_conn *c, const char *bucket, obj_store **out, js_err *e)
{
    return obj_lookup(c, bucket, 0, out, e);
}

/* see objstore.h */
void obj_close(obj_store *s)
{
    free(s);
}

/* ---- meta ------------------------------------------------------------- */

/* see objstore.h */
const char *obj_header(const obj_info *info, const char *name)
{
    int i;
    for (i = 0; i < info->nhdr; i++)
        if (_stricmp(info->hdr[i].name, name) == 0) return info->hdr[i].value;
    return NULL;
}

/*
** "headers": {"Name": ["value", ...], ...} as nats.go and nats.js write it:
** the first value of each name is kept, up to OBJ_MAX_HDRS names. Names or
** values too long for obj_hdr are dropped rather than cut, so a cut value
** can never be mistaken for the real one.
*/
static void obj_parse_headers(const json_doc *d, int obj, obj_info *out)
{
    int i, end;
    if (obj < 0 || d->tok[obj].type != JSON_OBJECT) return;
    end = json_skip(d, obj);
    for (i = obj + 1; i < end && out->nhdr < OBJ_MAX_HDRS; ) {
        int val = i + 1;
        obj_hdr *h = &out->hdr[out->nhdr];
        if (val < end && d->tok[i].type == JSON_STRING
            && json_tok_str(d, i, h->name, sizeof h->name) == JSON_OK) {
            int v = d->tok[val].type == JSON_ARRAY && val + 1 < json_skip(d, val) ? val + 1
                    : d->tok[val].type == JSON_STRING ? val : -1;
            if (v >= 0 && d->tok[v].type == JSON_STRING
                && json_tok_str(d, v, h->value, sizeof h->value) == JSON_OK)
                out->nhdr++;
        }
        i = val < end ? json_skip(d, val) : end;
    }
}

/*
** Parses an ObjectInfo JSON document into *out. Unknown fields
** (description, metadata) are ignored; links are refused since nothing
** here follows them. NATS_ERR_BAD_DATA with a one-line reason.
*/
static int obj_parse_meta(const char *js, size_t len, obj_info *out, js_err *e)
{
    json_doc d;
    json_tok tok[128], *heap = NULL;
    int rc = NATS_ERR_BAD_DATA, opt, i;
    uint64_t chunks = 0;
    const char *why = NULL;

    memset(out, 0, sizeof *out);
    if (js_json_parse(&d, js, len, tok, 128, &heap) != JSON_OK
        || d.ntok < 1 || d.tok[0].type != JSON_OBJECT) {
        why = "not a JSON object";
    } else if (json_get_str(&d, 0, "name", out->name, sizeof out->name) != JSON_OK
               || !out->name[0]) {
        why = "no valid name";
    } else if ((i = json_find(&d, 0, "nuid")) >= 0
               && json_get_str(&d, 0, "nuid", out->nuid, sizeof out->nuid) != JSON_OK) {
        why = "bad nuid";
    } else if ((i = json_find(&d, 0, "size")) >= 0 && json_get_uint(&d, 0, "size", &out->size) != JSON_OK) {
        why = "bad size";
    } else if ((i = json_find(&d, 0, "chunks")) >= 0
               && (json_get_uint(&d, 0, "chunks", &chunks) != JSON_OK || chunks > 0xffffffffu)) {
        why = "bad chunk count";
    } else if ((i = json_find(&d, 0, "digest")) >= 0 && !json_is_null(&d, 0, "digest")
               && json_get_str(&d, 0, "digest", out->digest, sizeof out->digest) != JSON_OK) {
        why = "bad digest field";
    } else if ((i = json_find(&d, 0, "deleted")) >= 0 && !json_is_null(&d, 0, "deleted")
               && json_get_bool(&d, 0, "deleted", &out->deleted) != JSON_OK) {
        why = "bad deleted flag";
    } else if ((opt = json_find(&d, 0, "options")) >= 0 && d.tok[opt].type == JSON_OBJECT
               && (i = json_find(&d, opt, "link")) >= 0 && d.tok[i].type == JSON_OBJECT) {
        why = "it is a link, and links are not supported";
    } else {
        out->chunks = (uint32_t)chunks;
        if (json_get_str(&d, 0, "bucket", out->bucket, sizeof out->bucket) != JSON_OK)
            out->bucket[0] = 0;
        if (json_get_str(&d, 0, "mtime", out->mtime, sizeof out->mtime) != JSON_OK)
            out->mtime[0] = 0;
        obj_parse_headers(&d, json_find(&d, 0, "headers"), out);
        if (!out->deleted && !out->nuid[0]) why = "no nuid";
        else rc = NATS_OK;
    }
    free(heap);
    if (rc != NATS_OK)
        js_fail(e, rc, "object meta%s%s is malformed: %s", out->name[0] ? " of " : "",
                 out->name, why);
    return rc;
}

/* One direct get on $JS.API.DIRECT.GET.<stream>[.<subj>] with body (may be
** NULL). A 404 is NATS_ERR_NOT_FOUND, no responders a missing store. */
static int obj_direct(obj_store *s, const char *subj, const char *body, size_t len, nats_msg **m,
                      js_err *e)
{
    char api[OBJ_SUBJ_MAX + 96];
    int rc;
    *m = NULL;
    if (subj) snprintf(api, sizeof api, "$JS.API.DIRECT.GET.%s.%s", s->stream, subj);
    else snprintf(api, sizeof api, "$JS.API.DIRECT.GET.%s", s->stream);
    rc = nats_request(s->c, api, NULL, 0, body, len, JS_TIMEOUT_MS, m);
    if (rc == NATS_ERR_NO_RESPONDERS)
        return js_fail(e, rc, "no stream answers direct gets for object store %s: it does not exist "
                       "(or JetStream is down)", s->name);
    if (rc != NATS_OK) return js_fail(e, rc, "direct get from %s: %s", s->stream, nats_strerror(rc));
    if ((*m)->status == 404) {
        nats_msg_free(*m);
        *m = NULL;
        return js_fail(e, NATS_ERR_NOT_FOUND, "no such message in %s", s->stream);
    }
    if ((*m)->status != 0) {
        if (e) {
            e->code = (*m)->status;
            e->err_code = 0;
            snprintf(e->desc, sizeof e->desc, "direct get from %s: %d %s", s->stream, (*m)->status,
                     (*m)->status_desc ? (*m)->status_desc : "");
        }
        nats_msg_free(*m);
        *m = NULL;
        return NATS_ERR_JS;
    }
    return NATS_OK;
}

/* The object's meta by direct get of the last message on its meta subject. */
static int obj_meta_direct(obj_store *s, const char *name, const char *subj, obj_info *out, js_err *e)
{
    nats_msg *m = NULL;
    int rc = obj_direct(s, subj, NULL, 0, &m, e);
    if (rc == NATS_ERR_NOT_FOUND) return js_fail(e, rc, "object %.200s not found in %s", name, s->name);
    if (rc != NATS_OK) return rc;
    rc = obj_parse_meta((const char *)m->data, m->len, out, e);
    nats_msg_free(m);
    return rc;
}

/* see objstore.h */
int obj_info_get(obj_store *s, const char *name, int show_deleted, obj_info *out, js_err *e)
{
    char api[128], subj[OBJ_SUBJ_MAX], body[OBJ_SUBJ_MAX + 32];
    json_w w;
    nats_msg *m = NULL;
    json_doc d;
    json_tok tok[64], *heap = NULL;
    unsigned char *meta = NULL;
    size_t mlen = 0;
    int rc, msg, di;

    memset(out, 0, sizeof *out);
    js_err_clear(e);
    if ((rc = obj_check_name(name, e)) != NATS_OK) return rc;
    if (obj_meta_subject(s, name, subj, sizeof subj))
        return js_fail(e, NATS_ERR_ARG, "object name too long");
    if (s->attached) {
        rc = obj_meta_direct(s, name, subj, out, e);
        if (rc == NATS_OK && out->deleted && !show_deleted)
            return js_fail(e, NATS_ERR_NOT_FOUND, "object %.200s was deleted from %s", name, s->name);
        return rc;
    }
    /* STREAM.MSG.GET last_by_subj, as nats.js and nats.go's legacy API do:
    ** it reads from the stream leader, so a put just made is seen. */
    json_w_init(&w, body, sizeof body);
    json_w_obj_open(&w);
    json_w_kstr(&w, "last_by_subj", subj);
    json_w_obj_close(&w);
    snprintf(api, sizeof api, "STREAM.MSG.GET.%s", s->stream);
    rc = js_api(s->c, api, body, w.len, &m, e);
    if (rc == NATS_ERR_NOT_FOUND)
        return js_fail(e, rc, "object %.200s not found in %s", name, s->name);
    if (rc != NATS_OK) return rc;

    rc = NATS_ERR_BAD_DATA;
    if (js_json_parse(&d, m->data, m->len, tok, 64, &heap) == JSON_OK
        && (msg = json_find(&d, 0, "message")) >= 0
        && (di = json_find(&d, msg, "data")) >= 0 && d.tok[di].type == JSON_STRING) {
        size_t slen = (size_t)(d.tok[di].end - d.tok[di].start);
        meta = malloc(slen / 4 * 3 + 4);
        if (!meta) rc = js_fail(e, NATS_ERR_NOMEM, "out of memory");
        else if (b64_decode(d.js + d.tok[di].start, slen, meta, slen / 4 * 3 + 3, &mlen) == SHA256_OK)
            rc = obj_parse_meta((const char *)meta, mlen, out, e);
    }
    if (rc == NATS_ERR_BAD_DATA && e && !e->desc[0])
        js_fail(e, rc, "meta message of %.200s is malformed", name);
    free(meta);
    free(heap);
    nats_msg_free(m);
    if (rc == NATS_OK && out->deleted && !show_deleted)
        return js_fail(e, NATS_ERR_NOT_FOUND, "object %.200s was deleted from %s", name, s->name);
    return rc;
}

/*
** Writes the meta JSON of *in into buf, in nats.go's field order. The
** digest is left out when empty (deleted objects), like nats.go does.
*/
static int obj_meta_json(const obj_info *in, uint32_t chunk_size, char *buf, size_t cap, size_t *len)
{
    json_w w;
    json_w_init(&w, buf, cap);
    json_w_obj_open(&w);
    json_w_kstr(&w, "name", in->name);
    if (in->nhdr > 0) {
        int i;
        json_w_key(&w, "headers");
        json_w_obj_open(&w);
        for (i = 0; i < in->nhdr && i < OBJ_MAX_HDRS; i++) {
            json_w_key(&w, in->hdr[i].name);
            json_w_arr_open(&w);
            json_w_str(&w, in->hdr[i].value);
            json_w_arr_close(&w);
        }
        json_w_obj_close(&w);
    }
    json_w_key(&w, "options");
    json_w_obj_open(&w);
    json_w_kint(&w, "max_chunk_size", chunk_size);
    json_w_obj_close(&w);
    json_w_kstr(&w, "bucket", in->bucket);
    json_w_kstr(&w, "nuid", in->nuid);
    json_w_key(&w, "size");
    json_w_uint(&w, in->size);
    json_w_kstr(&w, "mtime", in->mtime);
    json_w_kint(&w, "chunks", in->chunks);
    if (in->digest[0]) json_w_kstr(&w, "digest", in->digest);
    if (in->deleted) json_w_kbool(&w, "deleted", 1);
    json_w_obj_close(&w);
    *len = w.len;
    return w.err ? NATS_ERR_ARG : NATS_OK;
}

/* Publishes the meta of *in with Nats-Rollup: sub (older metas go). */
static int obj_publish_meta(obj_store *s, const obj_info *in, uint32_t chunk_size, js_err *e)
{
    static const char hdr[] = "NATS/1.0\r\nNats-Rollup: sub\r\n\r\n";
    char subj[OBJ_SUBJ_MAX], *json;
    size_t len = 0;
    int rc;

    if (obj_meta_subject(s, in->name, subj, sizeof subj))
        return js_fail(e, NATS_ERR_ARG, "object name too long");
    json = malloc(OBJ_META_MAX);
    if (!json) return js_fail(e, NATS_ERR_NOMEM, "out of memory");
    rc = obj_meta_json(in, chunk_size, json, OBJ_META_MAX, &len);
    if (rc != NATS_OK) js_fail(e, rc, "object meta too long");
    else rc = js_publish(s->c, subj, hdr, sizeof hdr - 1, json, len, NULL, e);
    free(json);
    return rc;
}

/* Removes every chunk of nuid; best effort on failure paths. */
static int obj_purge_chunks(obj_store *s, const char *nuid, js_err *e)
{
    char subj[OBJ_SUBJ_MAX];
    obj_chunk_subject(s, nuid, subj, sizeof subj);
    return js_stream_purge(s->c, s->stream, subj, e);
}

/* ---- put -------------------------------------------------------------- */

/* A new NUID-like token: 22 base-62 characters from the system RNG. */
static int obj_new_nuid(char out[OBJ_NUID_LEN + 1])
{
    static const char digits[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    unsigned char r[OBJ_NUID_LEN];
    int i;
    if (win_random(r, sizeof r) != 0) return 1;
    /* 256 % 62 leaves a slight bias; uniqueness, not uniformity, matters. */
    for (i = 0; i < OBJ_NUID_LEN; i++) out[i] = digits[r[i] % 62];
    out[OBJ_NUID_LEN] = 0;
    return 0;
}

/* Waits for one PubAck of the put's pipeline. */
static int obj_wait_ack(nats_sub *acks, js_err *e)
{
    nats_msg *m = NULL;
    uint64_t seq;
    int rc = nats_sub_next(acks, JS_TIMEOUT_MS, &m);
    if (rc == NATS_ERR_TIMEOUT)
        return js_fail(e, rc, "no acknowledgement for a chunk within %d ms", JS_TIMEOUT_MS);
    if (rc != NATS_OK) return js_fail(e, rc, "waiting for a chunk acknowledgement: %s", nats_strerror(rc));
    rc = js_puback_parse(m, &seq, e);
    nats_msg_free(m);
    return rc;
}

/* Reads until buf is full or the reader reports the end. */
static int obj_fill(obj_read_fn rd, void *rarg, unsigned char *buf, size_t cap, size_t *got)
{
    *got = 0;
    while (*got < cap) {
        size_t n = 0;
        if (rd(rarg, buf + *got, cap - *got, &n) != 0) return 1;
        if (n == 0) break;
        *got += n;
    }
    return 0;
}

/*
** The put itself; total is the expected size for progress (0 = unknown).
** Chunks go out with distinct reply subjects on one ack subscription, at
** most OBJ_WINDOW unacknowledged, so the broker's storing overlaps our
** reading instead of costing one round trip per chunk.
*/
static int obj_put_impl(obj_store *s, const char *name, const obj_hdr *h, int nh, obj_read_fn rd,
                        void *rarg, uint64_t total, obj_progress_fn pr, void *parg, obj_info *out, js_err *e)
{
    obj_info old, inf;
    js_err e2;
    char inbox[128], ackwild[140], reply[160], chunk_subj[OBJ_SUBJ_MAX];
    unsigned char *buf = NULL, digest[SHA256_LEN];
    nats_sub *acks = NULL;
    sha256_ctx sha;
    size_t chunk_size, maxp, got;
    int rc, inflight = 0, published = 0, had_old;
    uint64_t idx = 0;

    js_err_clear(e);
    if ((rc = obj_check_name(name, e)) != NATS_OK) return rc;
    if (nh < 0 || nh > OBJ_MAX_HDRS) return js_fail(e, NATS_ERR_ARG, "too many object headers");
    rc = obj_info_get(s, name, 1, &old, e);
    if (rc != NATS_OK && rc != NATS_ERR_NOT_FOUND) return rc;
    had_old = rc == NATS_OK && !old.deleted && old.nuid[0];
    js_err_clear(e);

    memset(&inf, 0, sizeof inf);
    snprintf(inf.name, sizeof inf.name, "%s", name);
    snprintf(inf.bucket, sizeof inf.bucket, "%s", s->name);
    if (nh > 0) memcpy(inf.hdr, h, (size_t)nh * sizeof *h);
    inf.nhdr = nh;
    if (obj_new_nuid(inf.nuid) != 0) return js_fail(e, NATS_ERR_IO, "no random numbers for a NUID");
    obj_chunk_subject(s, inf.nuid, chunk_subj, sizeof chunk_subj);

    chunk_size = OBJ_CHUNK_SIZE;
    maxp = nats_max_payload(s->c);
    if (maxp > 0 && maxp < chunk_size) chunk_size = maxp;
    buf = malloc(chunk_size);
    if (!buf) return js_fail(e, NATS_ERR_NOMEM, "out of memory");

    nats_new_inbox(s->c, inbox, sizeof inbox);
    snprintf(ackwild, sizeof ackwild, "%s.*", inbox);
    rc = nats_subscribe(s->c, ackwild, NULL, &acks);
    if (rc != NATS_OK) {
        free(buf);
        return js_fail(e, rc, "subscribe for acknowledgements: %s", nats_strerror(rc));
    }

    sha256_init(&sha);
    for (;;) {
        if (obj_fill(rd, rarg, buf, chunk_size, &got) != 0) {
            rc = js_fail(e, NATS_ERR_IO, "reading the object's data failed%s%s",
                          win_last_error()[0] ? ": " : "", win_last_error());
            break;
        }
        if (got == 0) break;
        sha256_update(&sha, buf, got);
        while (inflight >= OBJ_WINDOW && rc == NATS_OK) {
            rc = obj_wait_ack(acks, e);
            inflight--;
        }
        if (rc != NATS_OK) break;
        snprintf(reply, sizeof reply, "%s.%" PRIu64, inbox, idx);
        rc = nats_publish(s->c, chunk_subj, reply, buf, got);
        if (rc != NATS_OK) {
            js_fail(e, rc, "publishing a chunk of %.200s failed: %s", name, nats_strerror(rc));
            break;
        }
        published = 1;
        inflight++;
        idx++;
        inf.size += got;
        if (pr) pr(parg, inf.size, total);
        if (got < chunk_size) break;
    }
    while (rc == NATS_OK && inflight > 0) {
        rc = obj_wait_ack(acks, e);
        inflight--;
    }
    nats_unsubscribe(acks);
    free(buf);

    if (rc == NATS_OK && idx > 0xffffffffu) rc = js_fail(e, NATS_ERR_ARG, "object too large");
    if (rc == NATS_OK) {
        sha256_final(&sha, digest);
        sha256_digest_encode(digest, inf.digest, sizeof inf.digest);
        inf.chunks = (uint32_t)idx;
        win_rfc3339(win_unix_ms(), inf.mtime);
        rc = obj_publish_meta(s, &inf, (uint32_t)chunk_size, e);
    }
    if (rc != NATS_OK) {
        /* Leave nothing half-done: the new chunks go, the old object stays. */
        if (published) obj_purge_chunks(s, inf.nuid, &e2);
        return rc;
    }
    if (had_old && strcmp(old.nuid, inf.nuid) != 0) {
        rc = obj_purge_chunks(s, old.nuid, e);
        if (rc != NATS_OK) return rc;
    }
    if (out) *out = inf;
    return NATS_OK;
}

/* see objstore.h */
int obj_put(obj_store *s, const char *name, obj_read_fn rd, void *rarg,
            obj_progress_fn pr, void *parg, obj_info *out, js_err *e)
{
    return obj_put_impl(s, name, NULL, 0, rd, rarg, 0, pr, parg, out, e);
}

/* see objstore.h */
int obj_put_hdrs(obj_store *s, const char *name, const obj_hdr *h, int n, obj_read_fn rd, void *rarg,
                 obj_progress_fn pr, void *parg, obj_info *out, js_err *e)
{
    return obj_put_impl(s, name, h, n, rd, rarg, 0, pr, parg, out, e);
}

/* see objstore.h */
int obj_set_headers(obj_store *s, const char *name, const obj_hdr *h, int n, obj_info *out, js_err *e)
{
    obj_info inf;
    int rc;
    if (n < 0 || n > OBJ_MAX_HDRS) return js_fail(e, NATS_ERR_ARG, "too many object headers");
    if ((rc = obj_info_get(s, name, 0, &inf, e)) != NATS_OK) return rc;
    memset(inf.hdr, 0, sizeof inf.hdr);
    if (n > 0) memcpy(inf.hdr, h, (size_t)n * sizeof *h);
    inf.nhdr = n;
    /* The chunk size is not kept in obj_info; readers take chunks as they come. */
    rc = obj_publish_meta(s, &inf, OBJ_CHUNK_SIZE, e);
    if (rc == NATS_OK && out) *out = inf;
    return rc;
}

/* obj_read_fn over a Win32 file handle. */
static int obj_read_handle(void *arg, void *buf, size_t cap, size_t *got)
{
    DWORD n = 0;
    if (cap > 0x40000000) cap = 0x40000000;
    if (!ReadFile((HANDLE)arg, buf, (DWORD)cap, &n, NULL)) {
        win_err("ReadFile", NULL);
        return 1;
    }
    *got = n;
    return 0;
}

/* see objstore.h */
int obj_put_file(obj_store *s, const char *name, const char *path_utf8,
                 obj_progress_fn pr, void *parg, obj_info *out, js_err *e)
{
    wchar_t wp[WIN_PATH_MAX];
    HANDLE h;
    LARGE_INTEGER size;
    int rc;

    js_err_clear(e);
    if (!path_utf8 || win_to_wide(path_utf8, wp, WIN_PATH_MAX) != 0)
        return js_fail(e, NATS_ERR_ARG, "bad path: %.200s", path_utf8 ? path_utf8 : "");
    h = CreateFileW(wp, GENERIC_READ, FILE_SHARE_READ, NULL, OPEN_EXISTING,
                    FILE_ATTRIBUTE_NORMAL | FILE_FLAG_SEQUENTIAL_SCAN, NULL);
    if (h == INVALID_HANDLE_VALUE) {
        win_err("CreateFileW", path_utf8);
        return js_fail(e, NATS_ERR_IO, "%s", win_last_error());
    }
    if (!GetFileSizeEx(h, &size)) size.QuadPart = 0;
    rc = obj_put_impl(s, name, NULL, 0, obj_read_handle, h, (uint64_t)size.QuadPart, pr, parg, out, e);
    CloseHandle(h);
    return rc;
}

/* ---- get -------------------------------------------------------------- */

/* A download's running totals. */
typedef struct obj_dl {
    sha256_ctx sha;
    uint64_t bytes, chunks;
} obj_dl;

/* Hashes, writes and counts one chunk. */
static int obj_take_chunk(const obj_info *inf, obj_dl *d, const nats_msg *m, obj_write_fn wr,
                          void *warg, obj_progress_fn pr, void *parg, js_err *e)
{
    if (m->len > inf->size - d->bytes)
        return js_fail(e, NATS_ERR_SIZE, "object %.200s has more data than its size %" PRIu64,
                       inf->name, inf->size);
    sha256_update(&d->sha, m->data, m->len);
    if (m->len && wr(warg, m->data, m->len) != 0)
        return js_fail(e, NATS_ERR_IO, "writing %.200s failed%s%s", inf->name,
                       win_last_error()[0] ? ": " : "", win_last_error());
    d->bytes += m->len;
    d->chunks++;
    if (pr) pr(parg, d->bytes, inf->size);
    return NATS_OK;
}

/*
** The chunks by direct get, each request {"seq":n,"next_by_subj":<chunk
** subject>} answering the first chunk at or after n: no consumer exists on
** the server, so a least-privilege client can download and the broker keeps
** no state per download. A lost connection or a slow answer is retried from
** the same sequence until no chunk arrived for OBJ_STALL_MS.
*/
static int obj_direct_chunks(obj_store *s, const obj_info *inf, obj_dl *d, obj_write_fn wr,
                             void *warg, obj_progress_fn pr, void *parg, js_err *e)
{
    char subj[OBJ_SUBJ_MAX], body[OBJ_SUBJ_MAX + 64], v[32];
    uint64_t seq = 1, stall = win_tick_ms() + OBJ_STALL_MS;
    obj_chunk_subject(s, inf->nuid, subj, sizeof subj);
    while (d->chunks < inf->chunks) {
        nats_msg *m = NULL;
        uint64_t got = 0;
        json_w w;
        int rc;
        json_w_init(&w, body, sizeof body);
        json_w_obj_open(&w);
        json_w_kint(&w, "seq", (int64_t)seq);
        json_w_kstr(&w, "next_by_subj", subj);
        json_w_obj_close(&w);
        rc = obj_direct(s, NULL, body, w.len, &m, e);
        if (rc == NATS_ERR_TIMEOUT || rc == NATS_ERR_CONN || rc == NATS_ERR_NO_RESPONDERS) {
            if (win_tick_ms() >= stall)
                return js_fail(e, rc, "download of %.200s stalled for %d s: %s", inf->name,
                               OBJ_STALL_MS / 1000, nats_strerror(rc));
            Sleep(250);
            continue;
        }
        if (rc == NATS_ERR_NOT_FOUND)
            return js_fail(e, NATS_ERR_SIZE, "object %.200s is short: %" PRIu64 " of %u chunks found",
                           inf->name, d->chunks, (unsigned)inf->chunks);
        if (rc != NATS_OK) return rc;
        if (nats_msg_header(m, "Nats-Sequence", v, sizeof v) != 0
            || sscanf(v, "%" SCNu64, &got) != 1 || got < seq) {
            nats_msg_free(m);
            return js_fail(e, NATS_ERR_BAD_DATA, "direct get of a chunk of %.200s: no valid Nats-Sequence",
                           inf->name);
        }
        rc = obj_take_chunk(inf, d, m, wr, warg, pr, parg, e);
        nats_msg_free(m);
        if (rc != NATS_OK) return rc;
        seq = got + 1;
        stall = win_tick_ms() + OBJ_STALL_MS;
    }
    return NATS_OK;
}

/*
** Streams the object described by *inf (already fetched) to wr and checks
** it. The digest is decoded first: without a usable one nothing could be
** verified, so nothing is downloaded.
*/
static int obj_get_with_info(obj_store *s, const obj_info *inf, obj_write_fn wr, void *warg,
                             obj_progress_fn pr, void *parg, js_err *e)
{
    unsigned char want[SHA256_LEN], have[SHA256_LEN];
    char filter[OBJ_SUBJ_MAX];
    js_ordered_cfg cfg;
    js_ordered *o = NULL;
    uint64_t pending = 0;
    obj_dl d;
    int rc = NATS_OK;

    if (sha256_digest_decode(inf->digest, want) != SHA256_OK)
        return js_fail(e, NATS_ERR_DIGEST, "object %.200s has %s digest \"%s\"", inf->name,
                        inf->digest[0] ? "a malformed" : "no", inf->digest);
    memset(&d, 0, sizeof d);
    sha256_init(&d.sha);
    if (inf->size > 0 && s->allow_direct) {
        rc = obj_direct_chunks(s, inf, &d, wr, warg, pr, parg, e);
        if (rc != NATS_OK) return rc;
    } else if (inf->size > 0) {
        /* A store without allow_direct (made by another tool): an ordered consumer. */
        obj_chunk_subject(s, inf->nuid, filter, sizeof filter);
        memset(&cfg, 0, sizeof cfg);
        cfg.stream = s->stream;
        cfg.filter = filter;
        cfg.deliver_policy = "all";
        rc = js_ordered_start(s->c, &cfg, &o, &pending, e);
        if (rc != NATS_OK) return rc;
        if (pending == 0)
            rc = js_fail(e, NATS_ERR_SIZE, "object %.200s has no chunks (expected %" PRIu64 " bytes)",
                          inf->name, inf->size);
        while (rc == NATS_OK) {
            nats_msg *m = NULL;
            js_meta mt;
            rc = js_ordered_next(o, OBJ_STALL_MS, &m, &mt);
            if (rc == NATS_ERR_TIMEOUT) {
                js_fail(e, rc, "download of %.200s stalled for %d s", inf->name, OBJ_STALL_MS / 1000);
                break;
            }
            if (rc != NATS_OK) {
                js_fail(e, rc, "download of %.200s failed: %s", inf->name, nats_strerror(rc));
                break;
            }
            rc = obj_take_chunk(inf, &d, m, wr, warg, pr, parg, e);
            nats_msg_free(m);
            if (rc == NATS_OK && mt.pending == 0) break;
        }
        js_ordered_stop(o);
        if (rc != NATS_OK) return rc;
    }
    if (d.bytes != inf->size || d.chunks != inf->chunks)
        return js_fail(e, NATS_ERR_SIZE, "object %.200s is short: %" PRIu64 " bytes in %" PRIu64
                        " chunks, expected %" PRIu64 " in %u", inf->name, d.bytes, d.chunks,
                        inf->size, (unsigned)inf->chunks);
    sha256_final(&d.sha, have);
    if (memcmp(have, want, SHA256_LEN) != 0)
        return js_fail(e, NATS_ERR_DIGEST, "object %.200s does not match its digest", inf->name);
    return NATS_OK;
}

/* see objstore.h */
int obj_get(obj_store *s, const char *name, obj_write_fn wr, void *warg,
            obj_progress_fn pr, void *parg, obj_info *info, js_err *e)
{
    obj_info inf;
    int rc = obj_info_get(s, name, 0, &inf, e);
    if (rc != NATS_OK) return rc;
    if (info) *info = inf;
    return obj_get_with_info(s, &inf, wr, warg, pr, parg, e);
}

/* obj_write_fn over a Win32 file handle. */
static int obj_write_handle(void *arg, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    while (len > 0) {
        DWORD n = 0, want = len > 0x40000000 ? 0x40000000 : (DWORD)len;
        if (!WriteFile((HANDLE)arg, p, want, &n, NULL) || n == 0) {
            win_err("WriteFile", NULL);
            return 1;
        }
        p += n;
        len -= n;
    }
    return 0;
}

/* see objstore.h */
int obj_get_file(obj_store *s, const char *name, const char *path_utf8,
                 obj_progress_fn pr, void *parg, obj_info *info, js_err *e)
{
    wchar_t wp[WIN_PATH_MAX];
    obj_info inf;
    HANDLE h;
    int rc;

    if (!path_utf8 || win_to_wide(path_utf8, wp, WIN_PATH_MAX) != 0)
        return js_fail(e, NATS_ERR_ARG, "bad path: %.200s", path_utf8 ? path_utf8 : "");
    /* Info first: a missing object must not create or truncate the file. */
    rc = obj_info_get(s, name, 0, &inf, e);
    if (rc != NATS_OK) return rc;
    if (info) *info = inf;
    h = CreateFileW(wp, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS,
                    FILE_ATTRIBUTE_NORMAL | FILE_FLAG_SEQUENTIAL_SCAN, NULL);
    if (h == INVALID_HANDLE_VALUE) {
        win_err("CreateFileW", path_utf8);
        return js_fail(e, NATS_ERR_IO, "%s", win_last_error());
    }
    rc = obj_get_with_info(s, &inf, obj_write_handle, h, pr, parg, e);
    if (rc == NATS_OK && !FlushFileBuffers(h)) {
        win_err("FlushFileBuffers", path_utf8);
        rc = js_fail(e, NATS_ERR_IO, "%s", win_last_error());
    }
    CloseHandle(h);
    if (rc != NATS_OK && !DeleteFileW(wp)) win_err("DeleteFileW", path_utf8);
    return rc;
}

/* ---- list / delete ---------------------------------------------------- */

/* see objstore.h */
/* obj_list's pass over the meta subjects. */
typedef struct list_pass {
    int include_deleted;
    void (*cb)(void *arg, const obj_info *info);
    void *arg;
} list_pass;

static void info_of(void *arg, const nats_msg *m)
{
    const list_pass *p = arg;
    obj_info inf;
    js_err e2;
    /* A malformed meta is skipped here; obj_info_get reports it. */
    if (obj_parse_meta((const char *)m->data, m->len, &inf, &e2) == NATS_OK
        && (p->include_deleted || !inf.deleted))
        p->cb(p->arg, &inf);
}

int obj_list(obj_store *s, int include_deleted,
             void (*cb)(void *arg, const obj_info *info), void *arg, js_err *e)
{
    char filter[OBJ_BUCKET_MAX + 16];
    list_pass p;
    js_err_clear(e);
    snprintf(filter, sizeof filter, "$O.%s.M.>", s->name);
    p.include_deleted = include_deleted;
    p.cb = cb;
    p.arg = arg;
    return js_last_per_subject(s->c, s->stream, filter, 0, 3 * JS_TIMEOUT_MS, s->name, info_of, &p, e);
}

/* see objstore.h */
int obj_delete(obj_store *s, const char *name, js_err *e)
{
    obj_info inf;
    int rc = obj_info_get(s, name, 0, &inf, e);
    if (rc != NATS_OK) return rc;
    inf.deleted = 1;
    inf.nhdr = 0;
    inf.size = 0;
    inf.chunks = 0;
    inf.digest[0] = 0;
    win_rfc3339(win_unix_ms(), inf.mtime);
    rc = obj_publish_meta(s, &inf, OBJ_CHUNK_SIZE, e);
    if (rc != NATS_OK) return rc;
    return obj_purge_chunks(s, inf.nuid, e);
}
