/*
** jetstream.c — the JetStream API over a nats_conn. See jetstream.h.
**
** Every $JS.API call is a request with a JSON reply; a reply that carries
** "error" becomes NATS_ERR_JS (or a mapped NOT_FOUND/CONFLICT) with js_err
** filled. The ordered push consumer follows ADR-17 the way nats.go's legacy
** client does it: our own subscription queue buffers the deliver subject,
** flow-control requests are answered when the consumer reaches them in
** order, and any gap, stale heartbeat, missed heartbeats or reconnect makes
** us recreate the consumer from the last stream sequence + 1 on a new inbox.
*/
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "jetstream.h"
#include "json.h"
#include "win.h"

#define JS_API_PREFIX "$JS.API."
#define JS_SUBJ_MAX   512
#define JS_ACK_WAIT_NS "79200000000000"   /* 22 h, as nats.go's ordered consumer */

/*
** Fills *e (when non-NULL) with a one-line description and returns rc.
** code/err_code are left 0: this is for failures that are not JetStream
** API errors (timeouts, no responders, bad replies).
*/
int js_fail(js_err *e, int rc, const char *fmt, ...)
{
    va_list ap;
    if (!e) return rc;
    e->code = 0;
    e->err_code = 0;
    va_start(ap, fmt);
    vsnprintf(e->desc, sizeof e->desc, fmt, ap);
    va_end(ap);
    e->desc[sizeof e->desc - 1] = 0;
    return rc;
}

void js_err_clear(js_err *e)
{
    if (e) { e->code = 0; e->err_code = 0; e->desc[0] = 0; }
}

/* Bucket names (KV and Object Store): ^[a-zA-Z0-9_-]+$ (ADR-8/ADR-20),
** shorter than max bytes so the stream and subject names built from them fit. */
int js_valid_bucket(const char *b, size_t max)
{
    size_t i, n = b ? strlen(b) : 0;
    if (n == 0 || n >= max) return 0;
    for (i = 0; i < n; i++) {
        char ch = b[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')
              || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-'))
            return 0;
    }
    return 1;
}

/* Maps a JetStream err_code to our status code. */
static int js_map_err_code(int err_code)
{
    switch (err_code) {
    case 10059: case 10037: case 10014: return NATS_ERR_NOT_FOUND;
    case 10071: case 10164: return NATS_ERR_CONFLICT;
    default: return NATS_ERR_JS;
    }
}

/* see jetstream.h */
int js_json_parse(json_doc *d, const void *js, size_t len, json_tok *tok, int cap,
                  json_tok **heap)
{
    int rc;
    size_t need;
    *heap = NULL;
    rc = json_parse(d, (const char *)js, len, tok, cap);
    if (rc != JSON_ERR_TOKENS) return rc;
    /* Every token but the first takes at least two characters (text plus
    ** a separator), so len/2 + 2 tokens always suffice. */
    need = len / 2 + 2;
    if (need > 0x7fffffff / sizeof(json_tok)) return JSON_ERR_TOKENS;
    *heap = malloc(need * sizeof(json_tok));
    if (!*heap) return JSON_ERR_TOKENS;
    rc = json_parse(d, (const char *)js, len, *heap, (int)need);
    if (rc != JSON_OK) { free(*heap); *heap = NULL; }
    return rc;
}

/*
** Looks for a top-level "error" object in a parsed reply. Returns
** NATS_OK when there is none, else the mapped status with *e filled.
*/
static int js_check_error(const json_doc *d, js_err *e)
{
    int err = json_find(d, 0, "error");
    int64_t v;
    if (err < 0 || d->tok[err].type != JSON_OBJECT) return NATS_OK;
    if (e) {
        e->code = json_get_int(d, err, "code", &v) == JSON_OK ? (int)v : 0;
        e->err_code = json_get_int(d, err, "err_code", &v) == JSON_OK ? (int)v : 0;
        if (json_get_str(d, err, "description", e->desc, sizeof e->desc) != JSON_OK)
            snprintf(e->desc, sizeof e->desc, "JetStream error %d", e->err_code);
        return js_map_err_code(e->err_code);
    }
    if (json_get_int(d, err, "err_code", &v) == JSON_OK) return js_map_err_code((int)v);
    return NATS_ERR_JS;
}

/* see jetstream.h */
int js_api(nats_conn *c, const char *api, const char *body, size_t len,
           nats_msg **reply, js_err *e)
{
    char subj[JS_SUBJ_MAX];
    nats_msg *m = NULL;
    json_doc d;
    json_tok tok[64], *heap = NULL;
    int rc, n;

    *reply = NULL;
    js_err_clear(e);
    n = snprintf(subj, sizeof subj, JS_API_PREFIX "%s", api);
    if (n < 0 || (size_t)n >= sizeof subj)
        return js_fail(e, NATS_ERR_ARG, "JetStream API subject too long: %s", api);
    rc = nats_request(c, subj, NULL, 0, body, body ? len : 0, JS_TIMEOUT_MS, &m);
    if (rc == NATS_ERR_NO_RESPONDERS)
        return js_fail(e, rc, "JetStream is not enabled on the server "
                       "(no responders for %s)", subj);
    if (rc == NATS_ERR_TIMEOUT)
        return js_fail(e, rc, "JetStream did not answer %s within %d ms", subj, JS_TIMEOUT_MS);
    if (rc != NATS_OK)
        return js_fail(e, rc, "%s: %s", subj, nats_strerror(rc));
    if (m->status != 0 && m->len == 0) {
        rc = js_fail(e, NATS_ERR_JS, "%s: status %d %s", subj, m->status, m->status_desc);
        nats_msg_free(m);
        return rc;
    }
    if (js_json_parse(&d, m->data, m->len, tok, 64, &heap) != JSON_OK
        || d.ntok < 1 || d.tok[0].type != JSON_OBJECT) {
        rc = js_fail(e, NATS_ERR_BAD_DATA, "%s: reply is not a JSON object", subj);
        free(heap);
        nats_msg_free(m);
        return rc;
    }
    rc = js_check_error(&d, e);
    free(heap);
    if (rc != NATS_OK) { nats_msg_free(m); return rc; }
    *reply = m;
    return NATS_OK;
}

/* see jetstream.h */
int js_puback_parse(const nats_msg *m, uint64_t *seq, js_err *e)
{
    json_doc d;
    json_tok tok[32], *heap = NULL;
    int rc;

    *seq = 0;
    if (m->status == 503)
        return js_fail(e, NATS_ERR_NO_RESPONDERS, "no stream accepts %s", m->subject);
    if (m->status != 0 && m->len == 0)
        return js_fail(e, NATS_ERR_JS, "publish: status %d %s", m->status, m->status_desc);
    if (js_json_parse(&d, m->data, m->len, tok, 32, &heap) != JSON_OK
        || d.ntok < 1 || d.tok[0].type != JSON_OBJECT) {
        free(heap);
        return js_fail(e, NATS_ERR_BAD_DATA, "publish acknowledgement is not JSON");
    }
    rc = js_check_error(&d, e);
    if (rc == NATS_OK && (json_get_uint(&d, 0, "seq", seq) != JSON_OK || *seq == 0))
        rc = js_fail(e, NATS_ERR_BAD_DATA, "publish acknowledgement has no sequence");
    free(heap);
    return rc;
}

/* see jetstream.h */
int js_publish(nats_conn *c, const char *subj, const char *hdr, size_t hdr_len,
               const void *data, size_t len, uint64_t *seq, js_err *e)
{
    nats_msg *m = NULL;
    int rc;
    uint64_t s = 0;

    js_err_clear(e);
    if (seq) *seq = 0;
    rc = nats_request(c, subj, hdr, hdr ? hdr_len : 0, data, len, JS_TIMEOUT_MS, &m);
    if (rc == NATS_ERR_NO_RESPONDERS)
        return js_fail(e, rc, "no stream accepts %s (or JetStream is not enabled)", subj);
    if (rc == NATS_ERR_TIMEOUT)
        return js_fail(e, rc, "no acknowledgement for %s within %d ms", subj, JS_TIMEOUT_MS);
    if (rc != NATS_OK)
        return js_fail(e, rc, "publish %s: %s", subj, nats_strerror(rc));
    rc = js_puback_parse(m, &s, e);
    nats_msg_free(m);
    if (rc == NATS_OK && seq) *seq = s;
    return rc;
}

/* see jetstream.h */
int js_stream_purge(nats_conn *c, const char *stream, const char *filter, js_err *e)
{
    char api[JS_SUBJ_MAX], body[JS_SUBJ_MAX + 32];
    json_w w;
    nats_msg *m = NULL;
    int rc;

    snprintf(api, sizeof api, "STREAM.PURGE.%s", stream);
    json_w_init(&w, body, sizeof body);
    json_w_obj_open(&w);
    if (filter) json_w_kstr(&w, "filter", filter);
    json_w_obj_close(&w);
    if (w.err) return js_fail(e, NATS_ERR_ARG, "purge filter too long");
    rc = js_api(c, api, body, w.len, &m, e);
    nats_msg_free(m);
    return rc;
}

/* ---- ordered push consumer ------------------------------------------- */

struct js_ordered {
    nats_conn *c;
    char stream[128];
    char filter[JS_SUBJ_MAX];
    char policy[32];            /* the caller's deliver_policy */
    int headers_only;
    int hb_ms;
    void *notify_event;

    nats_sub *sub;              /* the current deliver subject's queue */
    char consumer[128];         /* current consumer's name, "" if unknown */
    unsigned gen;               /* nats_generation() when it was created */
    uint64_t last_sseq;         /* stream seq of the last data message handed out */
    uint64_t last_dseq;         /* its consumer seq (on the current consumer) */
    int resume;                 /* 1: recreate from last_sseq + 1 */
    uint64_t last_rx;           /* tick of the last message of any kind */
    int need_reset;
    uint64_t retry_at;          /* tick before which no recreate is tried */
    int backoff_ms;
};

/*
** Best effort removal of a consumer we abandon: fire the DELETE request
** with a reply subject nobody listens to, so no round trip is waited for.
** It is ephemeral anyway; the server would drop it once interest is gone.
*/
static void ord_delete_consumer(js_ordered *o)
{
    char subj[JS_SUBJ_MAX], inbox[128];
    if (!o->consumer[0]) return;
    snprintf(subj, sizeof subj, JS_API_PREFIX "CONSUMER.DELETE.%s.%s", o->stream, o->consumer);
    nats_new_inbox(o->c, inbox, sizeof inbox);
    nats_publish(o->c, subj, inbox, NULL, 0);
    o->consumer[0] = 0;
}

/*
** Creates a consumer on a fresh inbox, subscribing first so that nothing
** the server pushes before the create reply is lost (our queue holds it).
** On success the old subscription (if any) is gone with whatever stale
** messages it still held. *pending gets num_pending + delivered.consumer_seq.
*/
static int ord_create(js_ordered *o, uint64_t *pending, js_err *e)
{
    char inbox[128], api[JS_SUBJ_MAX], body[2 * JS_SUBJ_MAX + 512];
    json_w w;
    nats_sub *sub = NULL;
    nats_msg *m = NULL;
    json_doc d;
    json_tok tok[256], *heap = NULL;
    unsigned gen;
    int rc, dl;
    uint64_t np = 0, cseq = 0, sseq = 0;

    nats_new_inbox(o->c, inbox, sizeof inbox);
    json_w_init(&w, body, sizeof body);
    json_w_obj_open(&w);
    json_w_kstr(&w, "stream_name", o->stream);
    json_w_key(&w, "config");
    json_w_obj_open(&w);
    json_w_kstr(&w, "deliver_subject", inbox);
    if (o->resume) {
        json_w_kstr(&w, "deliver_policy", "by_start_sequence");
        json_w_key(&w, "opt_start_seq");
        json_w_uint(&w, o->last_sseq + 1);
    } else {
        json_w_kstr(&w, "deliver_policy", o->policy);
    }
    json_w_kstr(&w, "ack_policy", "none");
    json_w_key(&w, "ack_wait");
    json_w_raw(&w, JS_ACK_WAIT_NS, strlen(JS_ACK_WAIT_NS));
    json_w_kint(&w, "max_deliver", 1);
    if (o->filter[0]) json_w_kstr(&w, "filter_subject", o->filter);
    json_w_kstr(&w, "replay_policy", "instant");
    json_w_kbool(&w, "flow_control", 1);
    json_w_kint(&w, "idle_heartbeat", (int64_t)o->hb_ms * 1000000);
    if (o->headers_only) json_w_kbool(&w, "headers_only", 1);
    json_w_kbool(&w, "mem_storage", 1);
    json_w_kint(&w, "num_replicas", 1);
    json_w_obj_close(&w);
    json_w_obj_close(&w);
    if (w.err) return js_fail(e, NATS_ERR_ARG, "consumer config too long");

    rc = nats_subscribe(o->c, inbox, o->notify_event, &sub);
    if (rc != NATS_OK) return js_fail(e, rc, "subscribe %s: %s", inbox, nats_strerror(rc));
    /* Take the generation before the request: a reconnect while it is in
    ** flight then shows up as a change and triggers another recreate. */
    gen = nats_generation(o->c);
    snprintf(api, sizeof api, "CONSUMER.CREATE.%s", o->stream);
    rc = js_api(o->c, api, body, w.len, &m, e);
    if (rc != NATS_OK) { nats_unsubscribe(sub); return rc; }

    if (js_json_parse(&d, m->data, m->len, tok, 256, &heap) != JSON_OK) {
        nats_msg_free(m);
        nats_unsubscribe(sub);
        return js_fail(e, NATS_ERR_BAD_DATA, "consumer create reply is not JSON");
    }
    json_get_uint(&d, 0, "num_pending", &np);
    dl = json_find(&d, 0, "delivered");
    if (dl >= 0) {
        json_get_uint(&d, dl, "consumer_seq", &cseq);
        json_get_uint(&d, dl, "stream_seq", &sseq);
    }
    ord_delete_consumer(o);
    if (json_get_str(&d, 0, "name", o->consumer, sizeof o->consumer) != JSON_OK)
        o->consumer[0] = 0;
    free(heap);
    nats_msg_free(m);

    if (o->sub) nats_unsubscribe(o->sub);
    o->sub = sub;
    o->gen = gen;
    o->last_dseq = 0;
    o->last_rx = win_tick_ms();
    /* "new" starts after the stream's last message at creation: remember
    ** that point so a recreate before the first message loses nothing. */
    if (!o->resume && strcmp(o->policy, "new") == 0) {
        o->last_sseq = sseq;
        o->resume = 1;
    }
    if (pending) *pending = np + cseq;
    return NATS_OK;
}

/* see jetstream.h */
int js_ordered_start(nats_conn *c, const js_ordered_cfg *cfg, js_ordered **out,
                     uint64_t *initial_pending, js_err *e)
{
    js_ordered *o;
    int rc, tries;

    *out = NULL;
    js_err_clear(e);
    if (!cfg || !cfg->stream || strlen(cfg->stream) >= sizeof o->stream
        || (cfg->filter && strlen(cfg->filter) >= sizeof o->filter)
        || (cfg->deliver_policy && strlen(cfg->deliver_policy) >= sizeof o->policy))
        return js_fail(e, NATS_ERR_ARG, "bad ordered consumer configuration");
    o = calloc(1, sizeof *o);
    if (!o) return js_fail(e, NATS_ERR_NOMEM, "out of memory");
    o->c = c;
    memcpy(o->stream, cfg->stream, strlen(cfg->stream) + 1);
    if (cfg->filter) memcpy(o->filter, cfg->filter, strlen(cfg->filter) + 1);
    snprintf(o->policy, sizeof o->policy, "%s", cfg->deliver_policy ? cfg->deliver_policy : "all");
    o->headers_only = cfg->headers_only;
    o->hb_ms = cfg->heartbeat_ms > 0 ? cfg->heartbeat_ms : 5000;
    if (o->hb_ms < 100) o->hb_ms = 100;   /* server minimum (10083) */
    o->notify_event = cfg->notify_event;
    /* An unanswered create is tried again at once (3 tries in all): a
    ** nats-server before 2.12 may place an R1 ephemeral consumer on a
    ** cluster node that is down, and the create then never gets a reply
    ** (tests/it_cluster.sh, one node down). Each try has a fresh inbox, so
    ** a late consumer from an earlier try delivers to nobody. */
    for (tries = 0; tries < 3; tries++) {
        rc = ord_create(o, initial_pending, e);
        if (rc != NATS_ERR_TIMEOUT) break;
    }
    if (rc != NATS_OK) { free(o); return rc; }
    *out = o;
    return NATS_OK;
}

/* Recreate failures worth retrying: the broker is away or restarting. */
static int ord_transient(int rc, const js_err *e)
{
    return rc == NATS_ERR_TIMEOUT || rc == NATS_ERR_CONN || rc == NATS_ERR_NO_RESPONDERS
        || (rc == NATS_ERR_JS && e->code == 503);
}

/*
** Handles a control message (status 100): answers flow control and stalls,
** and checks a heartbeat's Nats-Last-Consumer against what we handed out.
*/
static void ord_control(js_ordered *o, const nats_msg *m)
{
    char v[256];
    uint64_t last;
    if (m->reply && m->reply[0]) {
        /* Flow-control request: everything before it has been consumed,
        ** since the queue is FIFO and we are popping it now. */
        nats_publish(o->c, m->reply, NULL, NULL, 0);
        return;
    }
    if (nats_msg_header(m, "Nats-Consumer-Stalled", v, sizeof v) == 0 && v[0])
        nats_publish(o->c, v, NULL, NULL, 0);
    if (nats_msg_header(m, "Nats-Last-Consumer", v, sizeof v) == 0
        && jsa_parse_u64(v, v + strlen(v), &last) == 0 && last != o->last_dseq)
        o->need_reset = 1;
}

/* see jetstream.h */
int js_ordered_next(js_ordered *o, int timeout_ms, nats_msg **msg, js_meta *meta)
{
    uint64_t deadline = win_tick_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
    js_err e;

    *msg = NULL;
    for (;;) {
        uint64_t now = win_tick_ms(), until;
        nats_msg *m = NULL;
        js_meta mt;
        int rc;

        if (!o->need_reset && nats_generation(o->c) != o->gen) o->need_reset = 1;
        if (o->need_reset && now >= o->retry_at) {
            o->resume = o->resume || o->last_sseq > 0;
            rc = ord_create(o, NULL, &e);
            if (rc == NATS_OK) {
                o->need_reset = 0;
                o->backoff_ms = 0;
            } else if (!ord_transient(rc, &e)) {
                return rc;
            } else {
                o->backoff_ms = o->backoff_ms ? o->backoff_ms * 2 : 250;
                if (o->backoff_ms > 5000) o->backoff_ms = 5000;
                o->retry_at = win_tick_ms() + (uint64_t)o->backoff_ms;
            }
            now = win_tick_ms();
        }

        until = deadline;
        if (o->need_reset) {
            if (o->retry_at < until) until = o->retry_at;
        } else if (o->last_rx + 2 * (uint64_t)o->hb_ms + 500 < until) {
            until = o->last_rx + 2 * (uint64_t)o->hb_ms + 500;
        }
        rc = nats_sub_next(o->sub, until > now ? (int)(until - now) : 0, &m);
        if (rc == NATS_ERR_TIMEOUT) {
            /* Only an empty queue counts as silence: messages that waited
            ** while the caller was busy were heartbeats all the same. */
            now = win_tick_ms();
            if (!o->need_reset && now > o->last_rx + 2 * (uint64_t)o->hb_ms + 500)
                o->need_reset = 1;   /* two heartbeat intervals of silence */
            if (now >= deadline) return NATS_ERR_TIMEOUT;
            continue;
        }
        if (rc != NATS_OK) return rc;
        if (o->need_reset) { nats_msg_free(m); continue; }  /* stale, about to be replaced */
        o->last_rx = win_tick_ms();

        if (m->status == 100) {
            ord_control(o, m);
            nats_msg_free(m);
            continue;
        }
        if (m->status != 0) {          /* e.g. 409 Consumer Deleted */
            o->need_reset = 1;
            nats_msg_free(m);
            continue;
        }
        if (jsa_parse(m->reply, &mt) != 0) { nats_msg_free(m); continue; }
        if (mt.consumer_seq != o->last_dseq + 1) {
            o->need_reset = 1;         /* a gap: this one is dropped too */
            nats_msg_free(m);
            continue;
        }
        o->last_dseq = mt.consumer_seq;
        o->last_sseq = mt.stream_seq;
        o->resume = 1;
        *msg = m;
        if (meta) *meta = mt;
        return NATS_OK;
    }
}

/* see jetstream.h */
void js_ordered_stop(js_ordered *o)
{
    if (!o) return;
    if (o->sub) nats_unsubscribe(o->sub);
    if (nats_is_connected(o->c)) ord_delete_consumer(o);
    free(o);
}

/* see jetstream.h */
int js_last_per_subject(nats_conn *c, const char *stream, const char *filter, int headers_only,
                        int wait_ms, const char *what, void (*each)(void *arg, const nats_msg *m),
                        void *arg, js_err *e)
{
    js_ordered_cfg cfg;
    js_ordered *o = NULL;
    uint64_t pending = 0, got = 0;
    int rc;

    memset(&cfg, 0, sizeof cfg);
    cfg.stream = stream;
    cfg.filter = filter;
    cfg.deliver_policy = "last_per_subject";
    cfg.headers_only = headers_only;
    rc = js_ordered_start(c, &cfg, &o, &pending, e);
    if (rc != NATS_OK) return rc;
    /* pending counts the subjects at the start: later writes are not waited for. */
    while (pending > 0) {
        nats_msg *m = NULL;
        js_meta mt;
        rc = js_ordered_next(o, wait_ms, &m, &mt);
        if (rc != NATS_OK) {
            js_fail(e, rc, "listing %s stopped: %s", what, nats_strerror(rc));
            break;
        }
        got++;
        each(arg, m);
        nats_msg_free(m);
        if (mt.pending == 0 || got >= pending) break;
    }
    js_ordered_stop(o);
    return rc;
}
