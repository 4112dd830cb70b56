/*
** nats.h — NATS client connection: Winsock, optional TLS (tls.c), auth,
** keepalive, reconnect, queued subscriptions and request/reply.
**
** Threading model
**   Each connection owns one reader thread. It reads the socket, runs the
**   nats_proto parser, answers server PINGs, sends our keepalive PING, and
**   appends every MSG/HMSG to the FIFO queue of the subscription it belongs
**   to. Writers (any thread) serialise on one lock around the socket/TLS
**   engine. No user callback runs on the reader thread except on_event,
**   which must not block. Consumers take messages with nats_sub_next() on
**   their own thread, or wait on the Win32 event given at subscribe time.
**   An idle connection blocks in select() until data or the keepalive tick.
**
**   Reconnect: on a socket error or a stale connection (max_pings_out
**   unanswered PINGs) the reader thread closes the socket and retries the
**   server list in order with capped exponential backoff (±50 % jitter),
**   the configured servers first, then those learned from the INFO's
**   connect_urls (the cluster's other nodes; up to 16 servers in all),
**   then resubscribes every live subscription with its old sid and bumps
**   nats_generation(). Publishes while disconnected fail with
**   NATS_ERR_CONN (nothing is buffered, so nothing is replayed late).
**
** Memory: nats_msg objects are allocated by the connection and owned by the
** caller once returned; free them with nats_msg_free(). All strings are UTF-8.
** Each message is one allocation; hdr (when present) is immediately followed
** by data, so hdr is NOT NUL-terminated: use hdr_len. A subscription queues
** at most 65536 messages / 64 MiB; beyond that messages are dropped and
** nats_last_error() says "slow consumer".
**
** nats_close() flushes (bounded), stops the reader thread, wakes every
** blocked call with NATS_ERR_CLOSED and frees the connection and all queued
** messages. Subscription handles stay valid until nats_unsubscribe(), which
** after a close only frees the handle (so teardown order does not matter).
*/
#ifndef NATS_H
#define NATS_H
#include <stddef.h>
#include <stdint.h>

/* Status codes shared by nats_*, js_*, kv_* and obj_* (0 = success). */
#define NATS_OK               0
#define NATS_ERR_TIMEOUT      1   /* a bounded wait ran out */
#define NATS_ERR_NO_RESPONDERS 2  /* 503 reply: nobody subscribed */
#define NATS_ERR_CONN         3   /* not connected, or the socket failed */
#define NATS_ERR_AUTH         4   /* Authorization Violation */
#define NATS_ERR_TLS          5   /* TLS handshake/verification failed */
#define NATS_ERR_PROTO        6   /* protocol violation from the server */
#define NATS_ERR_MAX_PAYLOAD  7   /* message larger than INFO max_payload */
#define NATS_ERR_ARG          8   /* bad argument (subject, url, ...) */
#define NATS_ERR_NOMEM        9
#define NATS_ERR_CLOSED      10   /* connection closed by nats_close */
#define NATS_ERR_PERM        11   /* -ERR Permissions Violation */
#define NATS_ERR_JS          12   /* JetStream API error: see js_err */
#define NATS_ERR_NOT_FOUND   13   /* stream/key/object/message not found */
#define NATS_ERR_CONFLICT    14   /* KV compare-and-set lost (10071) */
#define NATS_ERR_EXISTS      15   /* key or object already exists */
#define NATS_ERR_DIGEST      16   /* object digest mismatch or malformed */
#define NATS_ERR_SIZE        17   /* object size/chunk count mismatch */
#define NATS_ERR_IO          18   /* local file read/write failed */
#define NATS_ERR_BAD_DATA    19   /* malformed JSON or meta from the broker */

/* Connection events passed to nats_opts.on_event. */
#define NATS_EV_CONNECTED     1
#define NATS_EV_DISCONNECTED  2
#define NATS_EV_RECONNECTED   3
#define NATS_EV_CLOSED        4

typedef struct nats_conn nats_conn;
typedef struct nats_sub nats_sub;

typedef struct nats_opts {
    const char *servers;        /* "nats://h:p,tls://h:p"; NULL = nats://127.0.0.1:4222 */
    const char *user, *pass;    /* user/password auth, or NULL */
    const char *token;          /* auth_token, or NULL */
    const char *ca_file;        /* PEM trust anchors for tls://; NULL = TLS refused */
    const char *cert_file, *key_file; /* PEM client cert/key for mTLS, or NULL */
    const char *name;           /* client name sent in CONNECT */
    int connect_timeout_ms;     /* per server attempt (0 = 5000) */
    int ping_interval_ms;       /* keepalive PING period (0 = 120000) */
    int max_pings_out;          /* stale after this many unanswered (0 = 2) */
    int reconnect_min_ms;       /* first reconnect delay (0 = 1000) */
    int reconnect_max_ms;       /* backoff cap (0 = 60000) */
    int no_reconnect;           /* 1: a lost connection is final (CLI use) */
    int retry_initial;          /* 1: nats_connect succeeds at once and keeps
                                   connecting in the background (agent use) */
    int randomize;              /* 1: try the servers in a random order, so a
                                   fleet spreads over a cluster (agent use) */
    void (*on_event)(void *arg, int event); /* reader thread; must not block */
    void *event_arg;
} nats_opts;

typedef struct nats_msg {
    char *subject;              /* NUL-terminated */
    char *reply;                /* NULL when none */
    int status;                 /* inline header status (503, 100, 404...), 0 if none */
    char *status_desc;          /* description after the status, "" if none */
    char *hdr;                  /* raw header block "NATS/1.0...\r\n\r\n", or NULL */
    size_t hdr_len;
    unsigned char *data;        /* payload (NUL-terminated for convenience) */
    size_t len;
    struct nats_msg *next;      /* internal queue link */
} nats_msg;

/*
** Connects to the first reachable server of o->servers. On failure returns
** a NATS_ERR_* code and writes one line saying why into err (may be NULL).
** With o->retry_initial it returns NATS_OK at once with *out set, and the
** connection comes up in the background.
*/
int nats_connect(const nats_opts *o, nats_conn **out, char *err, size_t errcap);
void nats_close(nats_conn *c);               /* harmless on NULL */

int nats_publish(nats_conn *c, const char *subj, const char *reply,
                 const void *data, size_t len);
/* hdr is a complete header block ("NATS/1.0\r\nK: v\r\n\r\n"), or NULL. */
int nats_hpublish(nats_conn *c, const char *subj, const char *reply,
                  const char *hdr, size_t hdr_len, const void *data, size_t len);
int nats_flush(nats_conn *c, int timeout_ms); /* PING and wait for PONG */

/*
** Queued subscription. Each arriving message is appended to the FIFO and,
** if notify_event (a Win32 event HANDLE) is non-NULL, SetEvent is called.
** Subscriptions survive reconnects.
*/
int nats_subscribe(nats_conn *c, const char *subj, void *notify_event, nats_sub **out);
/* Pops the oldest message, waiting up to timeout_ms (0 = poll). NATS_ERR_PERM
** when the server refused the subscription, NATS_ERR_CONN once the connection
** is lost for good (no_reconnect), NATS_ERR_CLOSED after nats_close. */
int nats_sub_next(nats_sub *s, int timeout_ms, nats_msg **out);
int nats_unsubscribe(nats_sub *s);           /* frees s and queued messages */

/*
** Request/reply over the connection's single wildcard inbox subscription.
** Returns NATS_ERR_NO_RESPONDERS for a 503 status, NATS_ERR_TIMEOUT after
** timeout_ms. On NATS_OK *reply is the caller's to free.
*/
int nats_request(nats_conn *c, const char *subj, const char *hdr, size_t hdr_len,
                 const void *data, size_t len, int timeout_ms, nats_msg **reply);

void nats_msg_free(nats_msg *m);             /* harmless on NULL */
/* Copies the first value of header `name` (case-insensitive) into out. 0 = found. */
int nats_msg_header(const nats_msg *m, const char *name, char *out, size_t cap);

void nats_new_inbox(nats_conn *c, char *out, size_t cap); /* "_INBOX.<22 base62>" */
size_t nats_max_payload(nats_conn *c);
int nats_is_connected(nats_conn *c);
unsigned nats_generation(nats_conn *c);      /* +1 on every (re)connect */
/* Waits until connected (e.g. after retry_initial). NATS_ERR_TIMEOUT if not. */
int nats_wait_connected(nats_conn *c, int timeout_ms);
const char *nats_strerror(int rc);
/* The last error text recorded on the connection ("" if none). */
const char *nats_last_error(nats_conn *c);
/* The last subject the server refused with "Permissions Violation", copied
** into subj: returns 0 for a publish, 1 for a subscription, -1 when none. */
int nats_last_denied(nats_conn *c, char *subj, size_t cap);
#endif
