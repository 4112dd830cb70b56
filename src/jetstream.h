/*
** jetstream.h — the JetStream API ($JS.API.*) over a nats_conn: JSON
** requests, error parsing, stream create/info/purge, JS publish with
** expectations, and ordered push consumers (used by kv.c and objstore.c).
*/
#ifndef JETSTREAM_H
#define JETSTREAM_H
#include "nats.h"
#include "json.h"
#include "js_ack.h"

#define JS_TIMEOUT_MS 5000

/* A JetStream API error, filled when a call returns NATS_ERR_JS (or
** NATS_ERR_NOT_FOUND / NATS_ERR_CONFLICT mapped from one). */
typedef struct js_err {
    int code;                   /* HTTP-like code, e.g. 404 */
    int err_code;               /* 10059 stream not found, 10037 no message, 10071 wrong last seq */
    char desc[200];
} js_err;

/*
** Sends `$JS.API.<api>` with body (may be NULL/0) and returns the reply
** in *reply. If the reply JSON carries "error", returns NATS_ERR_JS
** (NATS_ERR_NOT_FOUND for 10059/10037/10014) with *e filled.
*/
int js_api(nats_conn *c, const char *api, const char *body, size_t len,
           nats_msg **reply, js_err *e);

/* JS publish: `hdr` may be NULL. Returns the stream sequence in *seq.
** 10071/10164 -> NATS_ERR_CONFLICT. */
int js_publish(nats_conn *c, const char *subj, const char *hdr, size_t hdr_len,
               const void *data, size_t len, uint64_t *seq, js_err *e);

/* Fills *e (may be NULL) with a one-line message, code/err_code 0; returns rc.
** For failures that are not JetStream API errors. */
int js_fail(js_err *e, int rc, const char *fmt, ...);
void js_err_clear(js_err *e);                /* harmless on NULL */
/* 1 if b matches ^[a-zA-Z0-9_-]+$ and is shorter than max bytes. */
int js_valid_bucket(const char *b, size_t max);

int js_stream_purge(nats_conn *c, const char *stream, const char *filter, js_err *e);

/* Parses a PubAck reply (from a publish with our own reply subject, for
** pipelined publishes). Same results as js_publish. */
int js_puback_parse(const nats_msg *m, uint64_t *seq, js_err *e);

/* Parses JSON with the caller's tokens (cap entries), falling back to a
** heap array large enough for the text when they are too few. *heap is
** NULL or the caller's to free(). Returns a JSON_* code. */
int js_json_parse(json_doc *d, const void *js, size_t len, json_tok *tok, int cap,
                  json_tok **heap);

/* js_meta and the ack-subject parser jsa_parse() are in js_ack.h. */

/*
** Ordered push consumer (ADR-17): flow control answered in order, gap and
** missed-heartbeat detection, and recreation from the last stream sequence
** + 1 on a gap, a stall or a reconnect. Data messages only come out of
** js_ordered_next; control messages are consumed inside. Memory: the
** subscription queue holds at most the server's flow-control window
** (nats-server grows it up to 32 MiB), never a whole large object.
*/
typedef struct js_ordered js_ordered;
typedef struct js_ordered_cfg {
    const char *stream;
    const char *filter;         /* filter_subject */
    const char *deliver_policy; /* "all", "last_per_subject", "new" */
    int headers_only;
    int heartbeat_ms;           /* idle_heartbeat (0 = 5000) */
    void *notify_event;         /* optional Win32 event set when data may be ready */
} js_ordered_cfg;
/* *initial_pending = num_pending + delivered.consumer_seq from the create reply. */
int js_ordered_start(nats_conn *c, const js_ordered_cfg *cfg, js_ordered **out,
                     uint64_t *initial_pending, js_err *e);
/* Next data message and its parsed ack metadata; NATS_ERR_TIMEOUT after timeout_ms. */
int js_ordered_next(js_ordered *o, int timeout_ms, nats_msg **msg, js_meta *meta);
void js_ordered_stop(js_ordered *o);        /* harmless on NULL */

/*
** One pass over the last message of every subject matching filter (an
** ordered consumer delivering last_per_subject): each(arg, m) for each
** message, which is freed after the call. wait_ms bounds the wait for each
** message. NATS_OK, or the error that cut the listing short (in e, naming
** what).
*/
int js_last_per_subject(nats_conn *c, const char *stream, const char *filter, int headers_only,
                        int wait_ms, const char *what, void (*each)(void *arg, const nats_msg *m),
                        void *arg, js_err *e);
#endif
