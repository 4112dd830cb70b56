/*
** nats_int.h — private to the NATS client (nats_glue.c: the connection,
** reader thread and reconnect; nats_api.c: publish, subscribe, request and
** the status getters). nats.h is the public contract.
**
** Locks. `wmu` (the writer lock) serialises everything that writes to the
** socket and every use of the TLS engine. `mu` guards the state: the
** subscription list and queues, pending requests, PING/PONG counters, the
** connected flag and the last error. When both are needed, wmu is taken
** first. No lock is held while the reader waits for input or while
** on_event runs.
*/
#ifndef NATS_INT_H
#define NATS_INT_H
#include <winsock2.h>
#include <windows.h>
#include <stddef.h>
#include <stdint.h>
#include "nats.h"
#include "nats_proto.h"
#include "tls.h"
#include "json.h"

#define MAX_SERVERS      16
#define SUB_MAX_MSGS     65536          /* per-subscription queue bound ... */
#define SUB_MAX_BYTES    ((size_t)64 << 20) /* ... and its bytes */

typedef struct srv {
    char url[300];              /* as given with credentials redacted, for messages */
    char host[256];             /* without IPv6 brackets */
    char port[8];
    int tls;                    /* tls:// */
    char *user, *pass, *token;  /* from the URL's userinfo, or NULL */
    int learned;                /* from an INFO's connect_urls, not configured */
} srv;

typedef struct req {
    struct req *next;
    char token[12];
    const char *subject;        /* for tying a permissions -ERR to it */
    nats_msg *reply;
    int done, rc;
    CONDITION_VARIABLE cv;
} req;

struct nats_sub {
    nats_sub *next;
    nats_conn *c;               /* NULL once the connection is closed */
    uint64_t sid;
    char *subject;
    HANDLE notify;
    nats_msg *head, *tail;
    size_t n_msgs, n_bytes;
    uint64_t dropped;
    int slow;                   /* 1 while dropping for a full queue */
    int denied;                 /* the server refused the SUB (permissions) */
    CONDITION_VARIABLE cv;
};

typedef struct iov { const void *p; size_t n; } iov;

struct nats_conn {
    /* options: owned copies */
    char *user, *pass, *token, *name;
    int connect_timeout_ms, ping_interval_ms, max_pings_out;
    int reconnect_min_ms, reconnect_max_ms, no_reconnect, retry_initial, randomize;
    void (*on_event)(void *arg, int event);
    void *event_arg;
    srv servers[MAX_SERVERS];
    int nservers;
    tls_config *tlscfg;
    char ca_file[300];
    char version[32];

    CRITICAL_SECTION wmu, mu;
    CONDITION_VARIABLE state_cv; /* up/closing/dead, PONGs, waiters leaving */
    HANDLE close_ev;            /* manual-reset; set once by nats_close */
    HANDLE thread;
    WSAEVENT sev;
    int wsa_ok;

    /* the socket: changed by the reader (or the first connect) under wmu+mu */
    SOCKET sock;
    tls_conn *tls;
    const srv *cur_srv;

    /* under mu (writers read up/max_payload under wmu: set under both) */
    int up, dead, ever_up;
    volatile LONG closing;      /* set once by nats_close; also read lock-free */
    unsigned gen;
    uint64_t pings_sent, pongs_recv;
    size_t max_payload;
    int waiters;                /* threads blocked inside nats_* calls */
    nats_sub *subs;
    uint64_t next_sid;
    nats_sub *inbox;            /* "_INBOX.<nuid>.*" for requests */
    char inbox_prefix[40];      /* "_INBOX.<nuid>." */
    req *reqs;
    uint64_t req_seq;
    char nuid_pre[12];
    uint64_t nuid_seq, nuid_inc;
    char last_err[512];
    char denied[256];           /* the last subject the server refused, "" if none */
    int denied_sub;             /* ... 1: for a subscription, 0: for a publish */

    /* reader-thread state */
    np_parser parser;
    char *line;
    unsigned char *rbuf, *plain;
    json_tok *tok;
    nats_msg *cur;              /* message being received, or NULL to skip */
    uint64_t cur_sid;
    int hs, hs_pong, hs_err;    /* CONNECT/PING handshake in progress */
    char hs_text[256];
    int info_tls_required, info_tls_available;
};

/* nats_glue.c, for nats_api.c */
char *nats_dupstr(const char *s);
/* Records the connection's last error (any thread; takes mu). */
void nats_set_err(nats_conn *c, const char *fmt, ...);
void nats_b62(uint64_t v, char *out, int n);
/* Writes a 22-char NUID + NUL into out (under mu). */
void nats_nuid_next(nats_conn *c, char out[23]);
/* Writes the buffers through TLS or plain TCP (caller holds wmu). On
** failure the connection is broken for the reader to replace, and
** NATS_ERR_CONN is returned. */
int nats_wr_locked(nats_conn *c, const iov *v, int nv);
int nats_wr1_locked(nats_conn *c, const void *p, size_t n);
/* The server list (nats_srv.c). */
/* Splits the comma-separated URL list into c->servers. 0, or 1 with err. */
int nats_srv_parse_list(nats_conn *c, const char *list, char *err, size_t cap);
/* Shuffles c->servers (Fisher-Yates), so a fleet given the same URLs spreads. */
void nats_srv_shuffle(nats_conn *c);
/* Adds the nodes an INFO's connect_urls names that the list lacks. */
void nats_srv_learn(nats_conn *c, const json_doc *d);

#endif
