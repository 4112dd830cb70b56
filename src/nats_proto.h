/*
** nats_proto.h — the NATS client protocol without I/O: an incremental
** parser for what the server sends (INFO, MSG, HMSG, PING, PONG, +OK,
** -ERR), helpers for HMSG header blocks, and framing of what the client
** sends (CONNECT, PUB, HPUB, SUB, UNSUB). Pure: no windows.h, no malloc.
**
** Parser design (pull events, caller-owned buffers)
**   np_init() takes the caller's control-line buffer. np_feed() consumes
**   input that may be split at any byte and stops at each event:
**
**     NP_EV_INFO / NP_EV_ERR   text/text_len: the INFO JSON, or the -ERR
**                              text without its single quotes
**     NP_EV_PING / PONG / OK   no arguments
**     NP_EV_MSG                a MSG or HMSG control line was parsed:
**                              subject, sid, reply (NULL if none), hdr_len
**                              (0 for MSG) and total_len. Before the next
**                              np_feed() call the caller may hand the parser
**                              a destination of at least total_len bytes
**                              with np_set_dest(); the payload (headers +
**                              data, exactly as on the wire) is then copied
**                              there in bulk with memcpy. Without a
**                              destination the payload is skipped.
**     NP_EV_MSG_END            the payload and its CRLF have been consumed;
**                              the destination is complete.
**
**   Strings in an event point into the caller's line buffer and are
**   NUL-terminated there. They stay valid until np_feed() is called again
**   after NP_EV_MSG_END or after a non-MSG event (the next control line
**   reuses the buffer), so they can still be read at NP_EV_MSG_END.
**
**   np_feed() returns NP_OK with *used set to the bytes it consumed; call it
**   again with the rest. ev->type == NP_EV_NONE means all input was
**   consumed and more is needed. Any error is sticky until np_reset():
**   NP_ERR_LINE (control line over its cap), NP_ERR_SIZE (payload size not
**   a number or over max_payload), NP_ERR_PROTO (anything else malformed);
**   np_why() says exactly what.
**
**   Lines end in CRLF (a bare LF is accepted too). Op names are
**   case-insensitive and arguments are separated by runs of spaces/tabs
**   (nats-server 2.9.10 writes "MSG <subj> <sid>  <len>" with two spaces).
**   An INFO line may use the whole line buffer (minus 2 bytes); every
**   other control line is capped at NP_MAX_LINE. Sids must be decimal:
**   this client only ever sends numeric sids.
*/
#ifndef NATS_PROTO_H
#define NATS_PROTO_H
#include <stddef.h>
#include <stdint.h>

#define NP_OK            0
#define NP_ERR_LINE      1   /* control line longer than its cap */
#define NP_ERR_SIZE      2   /* bad or oversized payload length */
#define NP_ERR_PROTO     3   /* malformed input */
#define NP_ERR_SPACE     4   /* framing: output buffer too small */
#define NP_ERR_ARG       5   /* framing: invalid subject, sid, ... */
#define NP_ERR_NOT_FOUND 6   /* header lookup: no such header */

#define NP_MAX_LINE   4096   /* cap for every control line but INFO */

#define NP_EV_NONE     0
#define NP_EV_INFO     1
#define NP_EV_MSG      2
#define NP_EV_MSG_END  3
#define NP_EV_PING     4
#define NP_EV_PONG     5
#define NP_EV_OK       6
#define NP_EV_ERR      7

typedef struct np_event {
    int type;                   /* NP_EV_* */
    int is_hmsg;                /* MSG events: 1 for HMSG */
    const char *subject;        /* MSG events */
    const char *reply;          /* MSG events; NULL when none */
    uint64_t sid;               /* MSG events */
    size_t hdr_len;             /* HMSG: #hdr; MSG: 0 */
    size_t total_len;           /* payload bytes (headers + data) */
    const char *text;           /* INFO JSON / -ERR text, NUL-terminated */
    size_t text_len;
} np_event;

/* Parser state. Fields are private; the struct is public so callers can
** embed it without allocation. */
typedef struct np_parser {
    char *line;                 /* caller's control-line buffer */
    size_t line_size;           /* its size in bytes */
    size_t line_len;            /* bytes of the current line so far */
    size_t max_payload;         /* largest accepted total_len */
    int state;
    int err;                    /* sticky NP_ERR_*, 0 if none */
    const char *why;            /* static text for err */
    unsigned char *dest;        /* payload destination or NULL (skip) */
    size_t pay_total, pay_got;
    np_event msg;               /* the MSG event, repeated at MSG_END */
} np_parser;

/*
** Prepares p over the caller's line buffer (line_size >= 64; INFO lines
** may be up to line_size - 2 bytes, other lines NP_MAX_LINE). max_payload
** bounds total_len of MSG/HMSG. Nothing is allocated.
*/
void np_init(np_parser *p, char *line, size_t line_size, size_t max_payload);
/* Forgets any partial input and a sticky error (e.g. for a new socket). */
void np_reset(np_parser *p);
/* Changes the payload bound (e.g. after INFO max_payload). */
void np_set_max_payload(np_parser *p, size_t max_payload);
/* Parses from buf[0..len); see the header comment for the contract. */
int np_feed(np_parser *p, const void *buf, size_t len, size_t *used, np_event *ev);
/* After NP_EV_MSG: where to copy the payload (>= total_len bytes), or NULL. */
void np_set_dest(np_parser *p, void *dest);
/* Static text for the sticky error ("" if none). */
const char *np_why(const np_parser *p);
const char *np_strerror(int rc);

/*
** Header blocks ("NATS/1.0[ <status>[ <description>]]\r\nK: v\r\n...\r\n").
** np_hdr_status: NP_OK when the block starts with "NATS/1.0"; *status is the
** 3-digit inline status or 0, *desc and *desc_len the trimmed description (a
** pointer into hdr, length 0 if none). NP_ERR_PROTO otherwise.
*/
int np_hdr_status(const char *hdr, size_t len, int *status,
                  const char **desc, size_t *desc_len);
/*
** Finds the index-th (0-based) value of header `name`, compared
** case-insensitively; *val points into hdr, trimmed, not NUL-terminated.
** NP_ERR_NOT_FOUND when there is no such value.
*/
int np_hdr_get(const char *hdr, size_t len, const char *name, int index,
               const char **val, size_t *val_len);

/*
** 1 when s can go on the wire as a subject: non-empty, no whitespace or
** control characters, no empty tokens ("a..b", ".a", "a.").
*/
int np_subject_ok(const char *s);

/*
** Framing into out[0..cap): each writes one control line ending in CRLF,
** NUL-terminates it and stores its length (without the NUL) in *n.
** NP_ERR_ARG for an invalid subject/reply/queue, NP_ERR_SPACE when it does
** not fit (out is then ""). The payload is written by the caller after the
** line, followed by "\r\n".
*/
int np_fmt_pub(char *out, size_t cap, const char *subj, const char *reply,
               size_t len, size_t *n);
int np_fmt_hpub(char *out, size_t cap, const char *subj, const char *reply,
                size_t hdr_len, size_t total_len, size_t *n);
int np_fmt_sub(char *out, size_t cap, const char *subj, const char *queue,
               uint64_t sid, size_t *n);
/* max 0 = no auto-unsubscribe count. */
int np_fmt_unsub(char *out, size_t cap, uint64_t sid, uint64_t max, size_t *n);
int np_fmt_ping(char *out, size_t cap, size_t *n);
int np_fmt_pong(char *out, size_t cap, size_t *n);

/* CONNECT options; NULL strings are left out of the JSON. */
typedef struct np_connect {
    const char *user, *pass;    /* user/password auth */
    const char *token;          /* auth_token */
    const char *name;           /* client name */
    const char *version;        /* client version */
    int tls_required;           /* 1 when the connection is TLS */
} np_connect;
/*
** Writes "CONNECT {json}\r\n" with verbose:false, pedantic:false,
** headers:true, no_responders:true, protocol:1, lang:"c", the given fields
** (JSON-escaped) and tls_required. NP_ERR_SPACE when it does not fit.
*/
int np_fmt_connect(char *out, size_t cap, const np_connect *c, size_t *n);
#endif
