/*
** nats_glue.c — the NATS connection on Winsock (see nats.h for the
** threading model and memory rules).
**
** Locks: see nats_int.h, beside the struct they guard.
**
** Sockets are non-blocking with WSAEventSelect(FD_READ|FD_CLOSE|FD_CONNECT)
** on one event object. The reader always tries recv() first and waits only
** on WSAEWOULDBLOCK, on {close event, socket event} with a timeout that
** ends at the next keepalive PING, so an idle connection sleeps until then
** and nats_close() wakes it at once. Writers that find the send buffer
** full wait in select() for at most WRITE_TIMEOUT_MS; nats_close() shuts
** the socket down so such a wait ends too.
**
** Inbound messages: the parser copies each payload straight into the one
** malloc'd block that becomes the nats_msg (struct, payload, subject,
** reply, status text), so a 128 KiB chunk costs one allocation and one
** memcpy out of the 256 KiB receive buffer.
*/
#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>
#include <process.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nats.h"
#include "nats_proto.h"
#include "tls.h"
#include "json.h"
#include "win.h"

#define RBUF_SIZE        (256 * 1024)   /* one recv() */
#define PLAIN_SIZE       (64 * 1024)    /* decrypted TLS bytes per step */
#define LINE_SIZE        (64 * 1024 + 2) /* INFO may be long; other lines NP_MAX_LINE */
#define WRITE_TIMEOUT_MS 30000          /* a write blocked longer breaks the connection */
#define CLOSE_FLUSH_MS   2000
#define CLOSE_JOIN_MS    10000
#define INFO_TOKENS      1024
#define SOCK_BUF_BYTES   (1024 * 1024)
#define DEFAULT_MAX_PAYLOAD ((size_t)1 << 20)
#include "nats_int.h"

/* ---- small helpers ----------------------------------------------------- */

char *nats_dupstr(const char *s)
{
    size_t n;
    char *d;
    if (!s) return NULL;
    n = strlen(s) + 1;
    d = (char *)malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* Case-insensitive substring test for server texts. */
static int has_text(const char *s, const char *needle)
{
    size_t n = strlen(needle);
    for (; *s; s++)
        if (_strnicmp(s, needle, n) == 0) return 1;
    return 0;
}

/* Records the connection's last error (any thread; takes mu). */
void nats_set_err(nats_conn *c, const char *fmt, ...)
{
    va_list ap;
    EnterCriticalSection(&c->mu);
    va_start(ap, fmt);
    vsnprintf(c->last_err, sizeof c->last_err, fmt, ap);
    va_end(ap);
    LeaveCriticalSection(&c->mu);
}

static void emit(nats_conn *c, int ev)
{
    if (c->on_event) c->on_event(c->event_arg, ev);
}

static const char B62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
#define NUID_MAX_SEQ 839299365868340224ULL   /* 62^10 */

void nats_b62(uint64_t v, char *out, int n)
{
    int i;
    for (i = n - 1; i >= 0; i--) { out[i] = B62[v % 62]; v /= 62; }
}

/* New random NUID prefix and sequence start (under mu or before sharing). */
static void nuid_reset(nats_conn *c)
{
    unsigned char r[12];
    uint64_t s = 0, inc = 0;
    int i;
    if (win_random(r, sizeof r) != 0)
        for (i = 0; i < 12; i++) r[i] = (unsigned char)(win_random_u32() ^ (GetTickCount() >> i));
    for (i = 0; i < 12; i++) c->nuid_pre[i] = B62[r[i] % 62];
    win_random(&s, sizeof s);
    win_random(&inc, sizeof inc);
    c->nuid_seq = s % NUID_MAX_SEQ;
    c->nuid_inc = 33 + inc % 300;
}

/* Writes a 22-char NUID + NUL into out (under mu). */
void nats_nuid_next(nats_conn *c, char out[23])
{
    c->nuid_seq += c->nuid_inc;
    if (c->nuid_seq >= NUID_MAX_SEQ) nuid_reset(c);
    memcpy(out, c->nuid_pre, 12);
    nats_b62(c->nuid_seq, out + 12, 10);
    out[22] = 0;
}

/* ---- socket I/O -------------------------------------------------------- */

/* sio_recv's results besides a byte count (> 0) and 0 at EOF. */
#define SIO_ERROR   (-1)    /* a socket error, recorded with win_err */
#define SIO_TIMEOUT (-2)    /* the deadline passed */
#define SIO_CLOSING (-3)    /* nats_close was called */

/*
** Receives into buf from the current socket. Waits (on the close event and
** the socket event) only when nothing is there, until `deadline` (tick
** ms). Returns bytes > 0, 0 at EOF, or SIO_ERROR, SIO_TIMEOUT, SIO_CLOSING.
*/
static int sio_recv(nats_conn *c, void *buf, size_t cap, uint64_t deadline)
{
    for (;;) {
        HANDLE hs[2];
        WSANETWORKEVENTS ne;
        uint64_t now;
        DWORD r;
        int n = recv(c->sock, (char *)buf, (int)(cap > 0x7fffffff ? 0x7fffffff : cap), 0);
        if (n >= 0) return n;
        if (WSAGetLastError() != WSAEWOULDBLOCK) { win_err("recv", NULL); return SIO_ERROR; }
        if (c->closing) return SIO_CLOSING;
        now = win_tick_ms();
        if (now >= deadline) return SIO_TIMEOUT;
        hs[0] = c->close_ev;
        hs[1] = c->sev;
        r = WaitForMultipleObjects(2, hs, FALSE, (DWORD)(deadline - now));
        if (r == WAIT_OBJECT_0) return SIO_CLOSING;
        if (r == WAIT_TIMEOUT) return SIO_TIMEOUT;
        if (r != WAIT_OBJECT_0 + 1) { win_err("WaitForMultipleObjects", NULL); return SIO_ERROR; }
        WSAEnumNetworkEvents(c->sock, c->sev, &ne);     /* resets the event */
    }
}

/*
** Sends the buffers in order, all of them, on the current socket (caller
** holds wmu). Waits in select() while the send buffer is full, at most
** WRITE_TIMEOUT_MS overall. Returns 0, or -1 with the cause recorded in
** the thread's win_last_error().
*/
static int sock_sendv(nats_conn *c, const iov *v, int nv)
{
    WSABUF b[8];
    int nb = 0, idx = 0, i;
    uint64_t deadline = win_tick_ms() + WRITE_TIMEOUT_MS;
    for (i = 0; i < nv && nb < 8; i++)
        if (v[i].n) { b[nb].buf = (CHAR *)v[i].p; b[nb].len = (ULONG)v[i].n; nb++; }
    while (idx < nb) {
        DWORD sent = 0;
        fd_set wf, ef;
        struct timeval tv;
        uint64_t now;
        int r;
        if (WSASend(c->sock, b + idx, (DWORD)(nb - idx), &sent, 0, NULL, NULL) == 0) {
            while (idx < nb && sent >= b[idx].len) { sent -= b[idx].len; idx++; }
            if (idx < nb) { b[idx].buf += sent; b[idx].len -= sent; }
            continue;
        }
        if (WSAGetLastError() != WSAEWOULDBLOCK) { win_err("WSASend", NULL); return -1; }
        now = win_tick_ms();
        if (c->closing) { win_err_set("send: connection is closing"); return -1; }
        if (now >= deadline) { win_err_set("send: timed out after %d ms (server not reading)", WRITE_TIMEOUT_MS); return -1; }
        FD_ZERO(&wf); FD_ZERO(&ef);
        FD_SET(c->sock, &wf); FD_SET(c->sock, &ef);
        tv.tv_sec = (long)((deadline - now) / 1000);
        tv.tv_usec = (long)((deadline - now) % 1000) * 1000;
        r = select(0, NULL, &wf, &ef, &tv);
        if (r == SOCKET_ERROR) { win_err("select", NULL); return -1; }
    }
    return 0;
}

/* Shuts the socket down after a write failure so the reader reconnects. */
static void break_conn(nats_conn *c, const char *why)
{
    nats_set_err(c, "%s: write failed: %s", c->cur_srv ? c->cur_srv->url : "nats", why);
    if (c->sock != INVALID_SOCKET) shutdown(c->sock, SD_BOTH);
}

/*
** Writes the buffers through TLS or plain TCP (caller holds wmu). On
** failure the connection is broken for the reader to replace, and
** NATS_ERR_CONN is returned.
*/
int nats_wr_locked(nats_conn *c, const iov *v, int nv)
{
    int i;
    if (c->sock == INVALID_SOCKET) return NATS_ERR_CONN;
    if (c->tls) {
        for (i = 0; i < nv; i++)
            if (v[i].n && tls_send(c->tls, v[i].p, v[i].n) != TLS_OK) break;
        if (i < nv || tls_flush(c->tls) != TLS_OK) {
            break_conn(c, tls_last_error(c->tls));
            return NATS_ERR_CONN;
        }
        return NATS_OK;
    }
    if (sock_sendv(c, v, nv) != 0) {
        break_conn(c, win_last_error());
        return NATS_ERR_CONN;
    }
    return NATS_OK;
}

int nats_wr1_locked(nats_conn *c, const void *p, size_t n)
{
    iov v;
    v.p = p;
    v.n = n;
    return nats_wr_locked(c, &v, 1);
}

/* tls_io callbacks over the current socket. */
static int io_send(void *ctx, const void *buf, size_t n)
{
    iov v;
    v.p = buf;
    v.n = n;
    return sock_sendv((nats_conn *)ctx, &v, 1);
}

static int io_recv(void *ctx, void *buf, size_t cap, int timeout_ms)
{
    int n = sio_recv((nats_conn *)ctx, buf, cap, win_tick_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0));
    return n >= 0 ? n : -1;
}

/* ---- inbound protocol --------------------------------------------------- */

static size_t inbound_limit(size_t max_payload)
{
    /* The server may add headers (direct get, JetStream) on top of a
    ** max_payload message, so accept some slack; still bounded. */
    size_t lim = max_payload * 2 + 65536;
    return lim > ((size_t)256 << 20) ? ((size_t)256 << 20) : lim;
}

/* Applies an INFO (first or asynchronous). Returns 0, or NATS_ERR_PROTO. */
static int handle_info(nats_conn *c, const char *text, size_t len)
{
    json_doc d;
    uint64_t mp = 0;
    int b;
    if (json_parse(&d, text, len, c->tok, INFO_TOKENS) != JSON_OK || d.ntok < 1 || d.tok[0].type != JSON_OBJECT) {
        nats_set_err(c, "%s: the server sent a malformed INFO", c->cur_srv ? c->cur_srv->url : "server");
        return NATS_ERR_PROTO;
    }
    if (json_get_uint(&d, 0, "max_payload", &mp) != JSON_OK || mp == 0) mp = DEFAULT_MAX_PAYLOAD;
    if (mp > ((uint64_t)1 << 30)) mp = (uint64_t)1 << 30;
    c->info_tls_required = json_get_bool(&d, 0, "tls_required", &b) == JSON_OK && b;
    c->info_tls_available = json_get_bool(&d, 0, "tls_available", &b) == JSON_OK && b;
    EnterCriticalSection(&c->wmu);
    EnterCriticalSection(&c->mu);
    c->max_payload = (size_t)mp;
    LeaveCriticalSection(&c->mu);
    LeaveCriticalSection(&c->wmu);
    np_set_max_payload(&c->parser, inbound_limit((size_t)mp));
    nats_srv_learn(c, &d);
    return NATS_OK;
}

/* Fails every pending request whose subject matches (NULL = all) with rc (under mu). */
static void fail_reqs(nats_conn *c, const char *subject, int rc)
{
    req *r;
    for (r = c->reqs; r; r = r->next) {
        if (r->done || (subject && strcmp(r->subject, subject) != 0)) continue;
        r->done = 1;
        r->rc = rc;
        WakeAllConditionVariable(&r->cv);
    }
}

/*
** -ERR from the server. During the handshake it ends the attempt. After
** it, permission errors and 'Invalid Subject' leave the connection up;
** anything else is recorded and the server closes the connection.
*/
static void handle_err(nats_conn *c, const char *text)
{
    if (c->hs) {
        snprintf(c->hs_text, sizeof c->hs_text, "%s", text);
        c->hs_err = has_text(text, "Authorization Violation") || has_text(text, "Authentication")
                    ? NATS_ERR_AUTH : NATS_ERR_CONN;
        return;
    }
    nats_set_err(c, "server error: %s", text);
    if (has_text(text, "Permissions Violation")) {
        /* "Permissions Violation for Publish to "subj"" / "... Subscription to "subj"" */
        const char *q = strchr(text, '"'), *qe = q ? strchr(q + 1, '"') : NULL;
        char subj[512];
        if (!q || !qe || (size_t)(qe - q - 1) >= sizeof subj) return;
        memcpy(subj, q + 1, (size_t)(qe - q - 1));
        subj[qe - q - 1] = 0;
        EnterCriticalSection(&c->mu);
        snprintf(c->denied, sizeof c->denied, "%s", subj);
        c->denied_sub = has_text(text, "for Subscription");
        if (has_text(text, "for Publish")) {
            fail_reqs(c, subj, NATS_ERR_PERM);
        } else if (has_text(text, "for Subscription")) {
            nats_sub *s;
            for (s = c->subs; s; s = s->next) {
                if (strcmp(s->subject, subj) != 0) continue;
                if (s == c->inbox) fail_reqs(c, NULL, NATS_ERR_PERM);
                s->denied = 1;                      /* nats_sub_next reports it */
                WakeAllConditionVariable(&s->cv);
                if (s->notify) SetEvent((HANDLE)s->notify);
            }
        }
        LeaveCriticalSection(&c->mu);
    }
}

static nats_sub *find_sub(nats_conn *c, uint64_t sid)
{
    nats_sub *s;
    for (s = c->subs; s; s = s->next)
        if (s->sid == sid) return s;
    return NULL;
}

static req *find_req(nats_conn *c, const char *subject)
{
    size_t pl = strlen(c->inbox_prefix);
    req *r;
    if (strncmp(subject, c->inbox_prefix, pl) != 0) return NULL;
    for (r = c->reqs; r; r = r->next)
        if (strcmp(r->token, subject + pl) == 0) return r;
    return NULL;
}

/*
** Allocates the one block for a message announced by ev: struct, payload
** (+ NUL), subject, reply and room for the status text. Returns NULL when
** out of memory. The parser fills the payload.
*/
static nats_msg *alloc_msg(const np_event *ev)
{
    size_t sl = strlen(ev->subject), rl = ev->reply ? strlen(ev->reply) + 1 : 0;
    size_t sz = sizeof(nats_msg) + ev->total_len + 1 + sl + 1 + rl + ev->hdr_len + 1;
    nats_msg *m = (nats_msg *)malloc(sz);
    unsigned char *pay;
    char *p;
    if (!m) return NULL;
    pay = (unsigned char *)(m + 1);
    p = (char *)pay + ev->total_len + 1;
    memcpy(p, ev->subject, sl + 1);
    m->subject = p;
    p += sl + 1;
    m->reply = NULL;
    if (ev->reply) { memcpy(p, ev->reply, rl); m->reply = p; p += rl; }
    m->status_desc = p;
    p[0] = 0;
    m->status = 0;
    m->hdr = ev->hdr_len ? (char *)pay : NULL;
    m->hdr_len = ev->hdr_len;
    m->data = pay + ev->hdr_len;
    m->len = ev->total_len - ev->hdr_len;
    pay[ev->total_len] = 0;
    m->next = NULL;
    return m;
}

/* MSG/HMSG line: decide whether to keep the message and give the parser a destination. */
static void on_msg(nats_conn *c, const np_event *ev)
{
    nats_sub *s;
    int keep = 0;
    EnterCriticalSection(&c->mu);
    s = find_sub(c, ev->sid);
    if (s && s == c->inbox) {
        req *r = find_req(c, ev->subject);
        keep = r && !r->done;
    } else if (s) {
        if (s->n_msgs >= SUB_MAX_MSGS || s->n_bytes + ev->total_len > SUB_MAX_BYTES) {
            s->dropped++;
            if (!s->slow) {
                s->slow = 1;
                snprintf(c->last_err, sizeof c->last_err,
                         "slow consumer on '%s': %lu messages / %lu bytes queued, dropping messages",
                         s->subject, (unsigned long)s->n_msgs, (unsigned long)s->n_bytes);
            }
        } else {
            keep = 1;
        }
    }
    LeaveCriticalSection(&c->mu);
    c->cur = keep ? alloc_msg(ev) : NULL;
    c->cur_sid = ev->sid;
    if (keep && !c->cur) nats_set_err(c, "out of memory: dropped a %lu-byte message on '%s'",
                                 (unsigned long)ev->total_len, ev->subject);
    np_set_dest(&c->parser, c->cur ? (void *)(c->cur + 1) : NULL);
}

/* Payload complete: hand the message to its request or subscription queue. */
static void on_msg_end(nats_conn *c)
{
    nats_msg *m = c->cur;
    nats_sub *s;
    c->cur = NULL;
    if (!m) return;
    if (m->hdr) {
        int st;
        const char *d;
        size_t dl;
        if (np_hdr_status(m->hdr, m->hdr_len, &st, &d, &dl) == NP_OK) {
            m->status = st;
            memcpy(m->status_desc, d, dl);          /* room: hdr_len + 1 */
            m->status_desc[dl] = 0;
        }
    }
    EnterCriticalSection(&c->mu);
    s = find_sub(c, c->cur_sid);
    if (s && s == c->inbox) {
        req *r = find_req(c, m->subject);
        if (r && !r->done) {
            r->reply = m;
            r->rc = NATS_OK;
            r->done = 1;
            WakeAllConditionVariable(&r->cv);
            m = NULL;
        }
    } else if (s) {
        if (s->tail) s->tail->next = m; else s->head = m;
        s->tail = m;
        s->n_msgs++;
        s->n_bytes += m->hdr_len + m->len;
        if (s->notify) SetEvent((HANDLE)s->notify);
        WakeAllConditionVariable(&s->cv);
        m = NULL;
    }
    LeaveCriticalSection(&c->mu);
    free(m);                                        /* nobody wanted it */
}

/* Sends PING (caller holds nothing). Counts it for stale detection. */
static int send_ping(nats_conn *c)
{
    int rc;
    EnterCriticalSection(&c->wmu);
    EnterCriticalSection(&c->mu);
    c->pings_sent++;
    LeaveCriticalSection(&c->mu);
    rc = nats_wr1_locked(c, "PING\r\n", 6);
    LeaveCriticalSection(&c->wmu);
    return rc;
}

static int handle_event(nats_conn *c, const np_event *ev)
{
    int rc = NATS_OK;
    switch (ev->type) {
    case NP_EV_MSG: on_msg(c, ev); break;
    case NP_EV_MSG_END: on_msg_end(c); break;
    case NP_EV_PING:
        EnterCriticalSection(&c->wmu);
        rc = nats_wr1_locked(c, "PONG\r\n", 6);
        LeaveCriticalSection(&c->wmu);
        break;
    case NP_EV_PONG:
        if (c->hs) { c->hs_pong = 1; break; }
        EnterCriticalSection(&c->mu);
        c->pongs_recv++;
        WakeAllConditionVariable(&c->state_cv);
        LeaveCriticalSection(&c->mu);
        break;
    case NP_EV_INFO: rc = handle_info(c, ev->text, ev->text_len); break;
    case NP_EV_ERR: handle_err(c, ev->text); break;
    default: break;                                 /* +OK */
    }
    return rc;
}

/* Parses plaintext protocol bytes. Returns 0 or a NATS_ERR_* (recorded). */
static int process(nats_conn *c, const unsigned char *p, size_t n)
{
    while (n > 0) {
        np_event ev;
        size_t used = 0;
        int rc = np_feed(&c->parser, p, n, &used, &ev);
        p += used;
        n -= used;
        if (rc) {
            nats_set_err(c, "protocol error from %s: %s", c->cur_srv ? c->cur_srv->url : "server", np_why(&c->parser));
            return NATS_ERR_PROTO;
        }
        if (ev.type == NP_EV_NONE) break;
        rc = handle_event(c, &ev);
        if (rc) return rc;
    }
    return NATS_OK;
}

/* Raw socket bytes: decrypted first when the connection is TLS. */
static int feed_raw(nats_conn *c, const unsigned char *raw, size_t n)
{
    size_t off = 0;
    if (!c->tls) return process(c, raw, n);
    for (;;) {
        size_t used = 0, got = 0;
        int rc;
        EnterCriticalSection(&c->wmu);
        rc = tls_recv(c->tls, raw + off, n - off, &used, c->plain, PLAIN_SIZE, &got);
        if (rc != TLS_OK) nats_set_err(c, "%s: TLS: %s", c->cur_srv ? c->cur_srv->url : "server", tls_last_error(c->tls));
        LeaveCriticalSection(&c->wmu);
        if (rc != TLS_OK) return NATS_ERR_CONN;
        off += used;
        if (got) {
            rc = process(c, c->plain, got);
            if (rc) return rc;
        }
        if (got == 0 && off == n) break;
        if (got == 0 && used == 0) {                /* never drop bytes silently */
            nats_set_err(c, "%s: TLS engine stopped taking input", c->cur_srv ? c->cur_srv->url : "server");
            return NATS_ERR_CONN;
        }
    }
    return NATS_OK;
}

/* ---- connecting ---------------------------------------------------------- */

/* Closes the current socket and TLS session (caller holds wmu and mu). */
static void close_sock_locked(nats_conn *c)
{
    if (c->tls) { tls_close(c->tls); c->tls = NULL; }
    if (c->sock != INVALID_SOCKET) { closesocket(c->sock); c->sock = INVALID_SOCKET; }
}

static void close_attempt(nats_conn *c)
{
    EnterCriticalSection(&c->wmu);
    EnterCriticalSection(&c->mu);
    close_sock_locked(c);
    LeaveCriticalSection(&c->mu);
    LeaveCriticalSection(&c->wmu);
}

/*
** Opens a TCP connection to one resolved address within the deadline and
** installs it as the current socket. Returns 0, NATS_ERR_CONN or
** NATS_ERR_TIMEOUT (reason in err), or NATS_ERR_CLOSED.
*/
static int tcp_connect(nats_conn *c, const srv *sv, const ADDRINFOW *ai, uint64_t deadline,
                       char *err, size_t cap)
{
    SOCKET s = socket(ai->ai_family, SOCK_STREAM, IPPROTO_TCP);
    int one = 1, bufsz = SOCK_BUF_BYTES;
    if (s == INVALID_SOCKET) {
        win_err("socket", NULL);
        snprintf(err, cap, "%s: %s", sv->url, win_last_error());
        return NATS_ERR_CONN;
    }
    /* The agent starts helper processes: keep the socket out of them. */
    SetHandleInformation((HANDLE)s, HANDLE_FLAG_INHERIT, 0);
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, (const char *)&one, sizeof one);
    setsockopt(s, SOL_SOCKET, SO_RCVBUF, (const char *)&bufsz, sizeof bufsz);
    setsockopt(s, SOL_SOCKET, SO_SNDBUF, (const char *)&bufsz, sizeof bufsz);
    WSAResetEvent(c->sev);
    if (WSAEventSelect(s, c->sev, FD_CONNECT | FD_READ | FD_CLOSE) != 0) {
        win_err("WSAEventSelect", NULL);
        snprintf(err, cap, "%s: %s", sv->url, win_last_error());
        closesocket(s);
        return NATS_ERR_CONN;
    }
    EnterCriticalSection(&c->wmu);
    EnterCriticalSection(&c->mu);
    c->sock = s;
    c->cur_srv = sv;
    LeaveCriticalSection(&c->mu);
    LeaveCriticalSection(&c->wmu);
    if (connect(s, ai->ai_addr, (int)ai->ai_addrlen) == 0) return NATS_OK;
    if (WSAGetLastError() != WSAEWOULDBLOCK) {
        win_err("connect", sv->url);
        snprintf(err, cap, "%s", win_last_error());
        close_attempt(c);
        return NATS_ERR_CONN;
    }
    for (;;) {
        HANDLE hs[2];
        WSANETWORKEVENTS ne;
        uint64_t now = win_tick_ms();
        DWORD r;
        if (now >= deadline) {
            snprintf(err, cap, "%s: connect timed out after %d ms", sv->url, c->connect_timeout_ms);
            close_attempt(c);
            return NATS_ERR_TIMEOUT;
        }
        hs[0] = c->close_ev;
        hs[1] = c->sev;
        r = WaitForMultipleObjects(2, hs, FALSE, (DWORD)(deadline - now));
        if (r == WAIT_OBJECT_0) { close_attempt(c); return NATS_ERR_CLOSED; }
        if (r != WAIT_OBJECT_0 + 1) continue;
        if (WSAEnumNetworkEvents(s, c->sev, &ne) != 0) continue;
        if (ne.lNetworkEvents & FD_CONNECT) {
            int e = ne.iErrorCode[FD_CONNECT_BIT];
            if (e == 0) return NATS_OK;
            WSASetLastError(e);
            win_err("connect", sv->url);
            snprintf(err, cap, "%s", win_last_error());
            close_attempt(c);
            return NATS_ERR_CONN;
        }
    }
}

/* Describes the credentials we sent, for the authorization error. */
static void auth_hint(nats_conn *c, const srv *sv, char *out, size_t cap)
{
    const char *user = c->user ? c->user : sv->user;
    if (user) snprintf(out, cap, "the server rejected user \"%s\" and its password", user);
    else if (c->token || sv->token) snprintf(out, cap, "the server rejected the token");
    else snprintf(out, cap, "the server requires credentials (user/password or token) and none were given");
}

/*
** Step 1 of the handshake: reads the server's INFO, in plaintext, and
** applies it. What arrived after the INFO stays in c->rbuf[*off, *len).
*/
static int read_info(nats_conn *c, const srv *sv, uint64_t deadline, size_t *off, size_t *len,
                     char *err, size_t cap)
{
    np_event ev;
    size_t used = 0;
    int rc;
    /* A message half-read when the last attempt failed is dropped with the
    ** parser state; it was ours to free. */
    np_reset(&c->parser);
    np_set_max_payload(&c->parser, inbound_limit(DEFAULT_MAX_PAYLOAD));
    free(c->cur);
    c->cur = NULL;
    *off = *len = 0;
    for (;;) {
        int r;
        if (*off == *len) {
            r = sio_recv(c, c->rbuf, RBUF_SIZE, deadline);
            if (r == SIO_CLOSING) return NATS_ERR_CLOSED;
            if (r == SIO_TIMEOUT) { snprintf(err, cap, "%s: no INFO from the server within %d ms (not a NATS server?)", sv->url, c->connect_timeout_ms); return NATS_ERR_TIMEOUT; }
            if (r == 0) { snprintf(err, cap, "%s: the server closed the connection before INFO", sv->url); return NATS_ERR_CONN; }
            if (r < 0) { snprintf(err, cap, "%s: %s", sv->url, win_last_error()); return NATS_ERR_CONN; }
            *off = 0;
            *len = (size_t)r;
        }
        rc = np_feed(&c->parser, c->rbuf + *off, *len - *off, &used, &ev);
        *off += used;
        if (rc) { snprintf(err, cap, "%s: not a NATS server (%s)", sv->url, np_why(&c->parser)); return NATS_ERR_PROTO; }
        if (ev.type == NP_EV_NONE) continue;
        if (ev.type != NP_EV_INFO) { snprintf(err, cap, "%s: expected INFO from the server", sv->url); return NATS_ERR_PROTO; }
        break;
    }
    if (handle_info(c, ev.text, ev.text_len) != NATS_OK) {
        snprintf(err, cap, "%s: the server sent a malformed INFO", sv->url);
        return NATS_ERR_PROTO;
    }
    return NATS_OK;
}

/* Step 2: TLS, asked for by the URL, the server, or a configured CA file. */
static int start_tls(nats_conn *c, const srv *sv, uint64_t deadline, char *err, size_t cap)
{
    tls_io io;
    tls_conn *t = NULL;
    char terr[300];
    uint64_t now = win_tick_ms();
    int rc;
    if (!c->tlscfg) {
        snprintf(err, cap, "%s: the server requires TLS but no CA file is configured (set the TLS CA option)", sv->url);
        return NATS_ERR_TLS;
    }
    if (!c->info_tls_required && !c->info_tls_available) {
        snprintf(err, cap, "%s: TLS was requested but the server does not offer TLS", sv->url);
        return NATS_ERR_TLS;
    }
    io.ctx = c;
    io.send_all = io_send;
    io.recv_some = io_recv;
    rc = tls_connect(c->tlscfg, sv->host, &io, now < deadline ? (int)(deadline - now) : 1, &t, terr, sizeof terr);
    if (c->closing) { tls_close(t); return NATS_ERR_CLOSED; }
    if (rc != TLS_OK) { snprintf(err, cap, "%s: TLS handshake failed: %s", sv->url, terr); return NATS_ERR_TLS; }
    EnterCriticalSection(&c->wmu);
    c->tls = t;
    LeaveCriticalSection(&c->wmu);
    return NATS_OK;
}

/* Step 3: CONNECT + PING, then the PONG (or an -ERR). */
static int send_connect(nats_conn *c, const srv *sv, uint64_t deadline, char *err, size_t cap)
{
    char connect_line[4096 + 16];
    np_connect cp;
    size_t n;
    int rc;
    memset(&cp, 0, sizeof cp);
    cp.user = c->user ? c->user : sv->user;
    cp.pass = c->user ? c->pass : sv->pass;
    cp.token = c->token ? c->token : sv->token;
    cp.name = c->name;
    cp.version = c->version;
    cp.tls_required = c->tls != NULL;
    if (np_fmt_connect(connect_line, sizeof connect_line - 6, &cp, &n) != NP_OK) {
        snprintf(err, cap, "%s: credentials too long for CONNECT", sv->url);
        return NATS_ERR_ARG;
    }
    memcpy(connect_line + n, "PING\r\n", 6);
    n += 6;
    EnterCriticalSection(&c->wmu);
    rc = nats_wr1_locked(c, connect_line, n);
    LeaveCriticalSection(&c->wmu);
    if (rc) { snprintf(err, cap, "%s", nats_last_error(c)); return NATS_ERR_CONN; }
    c->hs = 1;
    c->hs_pong = 0;
    c->hs_err = 0;
    c->hs_text[0] = 0;
    while (!c->hs_pong && !c->hs_err) {
        int r = sio_recv(c, c->rbuf, RBUF_SIZE, deadline);
        if (r == SIO_CLOSING) { c->hs = 0; return NATS_ERR_CLOSED; }
        if (r == SIO_TIMEOUT) { c->hs = 0; snprintf(err, cap, "%s: no reply to CONNECT within %d ms", sv->url, c->connect_timeout_ms); return NATS_ERR_TIMEOUT; }
        if (r == 0) { c->hs = 0; snprintf(err, cap, "%s: the server closed the connection during CONNECT", sv->url); return NATS_ERR_CONN; }
        if (r < 0) { c->hs = 0; snprintf(err, cap, "%s: %s", sv->url, win_last_error()); return NATS_ERR_CONN; }
        rc = feed_raw(c, c->rbuf, (size_t)r);
        if (rc) { c->hs = 0; snprintf(err, cap, "%s", nats_last_error(c)); return rc; }
    }
    c->hs = 0;
    if (c->hs_err == NATS_ERR_AUTH) {
        char hint[200];
        auth_hint(c, sv, hint, sizeof hint);
        snprintf(err, cap, "%s: authorization failed ('%s'): %s", sv->url, c->hs_text, hint);
        return NATS_ERR_AUTH;
    }
    if (c->hs_err) {
        snprintf(err, cap, "%s: the server refused the connection: '%s'", sv->url, c->hs_text);
        return c->hs_err;
    }
    return NATS_OK;
}

/*
** After TCP connect: reads INFO, upgrades to TLS when wanted, sends
** CONNECT + PING and waits for PONG, all before `deadline`. Returns 0 or
** a NATS_ERR_* with a reason in err.
*/
static int handshake(nats_conn *c, const srv *sv, uint64_t deadline, char *err, size_t cap)
{
    size_t off, len;
    int rc = read_info(c, sv, deadline, &off, &len, err, cap);
    if (rc) return rc;
    if (sv->tls || c->info_tls_required || c->tlscfg) {
        if (off != len) { snprintf(err, cap, "%s: unexpected data before the TLS handshake", sv->url); return NATS_ERR_PROTO; }
        rc = start_tls(c, sv, deadline, err, cap);
        if (rc) return rc;
    } else if (off != len) {
        c->hs = 1;
        rc = process(c, c->rbuf + off, len - off);
        c->hs = 0;
        if (rc) { snprintf(err, cap, "%s", nats_last_error(c)); return rc; }
    }
    return send_connect(c, sv, deadline, err, cap);
}

/* One server: resolve, try each address, handshake. 0 or NATS_ERR_* (err set). */
static int try_server(nats_conn *c, const srv *sv, char *err, size_t cap)
{
    ADDRINFOW hints, *res = NULL, *ai;
    wchar_t whost[256], wport[8];
    uint64_t deadline = win_tick_ms() + (uint64_t)c->connect_timeout_ms;
    int rc = NATS_ERR_CONN, gai;

    if (win_to_wide(sv->host, whost, 256) || win_to_wide(sv->port, wport, 8)) {
        snprintf(err, cap, "%s: bad host name", sv->url);
        return NATS_ERR_ARG;
    }
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    gai = GetAddrInfoW(whost, wport, &hints, &res);
    if (gai != 0) {
        WSASetLastError(gai);
        win_err("GetAddrInfoW", sv->host);
        snprintf(err, cap, "%s: cannot resolve host: %s", sv->url, win_last_error());
        return NATS_ERR_CONN;
    }
    snprintf(err, cap, "%s: no usable address", sv->url);
    for (ai = res; ai; ai = ai->ai_next) {
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
        rc = tcp_connect(c, sv, ai, deadline, err, cap);
        if (rc == NATS_OK || rc == NATS_ERR_CLOSED || rc == NATS_ERR_TIMEOUT) break;
    }
    FreeAddrInfoW(res);
    if (rc) return rc;
    rc = handshake(c, sv, deadline, err, cap);
    if (rc) close_attempt(c);
    return rc;
}

/*
** The attempt succeeded: mark the connection up, bump the generation and
** resubscribe every live subscription with its sid. Holding wmu across
** the snapshot and the SUB writes means a concurrent nats_subscribe either
** is in the snapshot or sends its own SUB after, never both or neither.
*/
static void install(nats_conn *c)
{
    nats_sub *s;
    size_t cap = 0, n = 0, k;
    char *buf;
    EnterCriticalSection(&c->wmu);
    EnterCriticalSection(&c->mu);
    c->up = 1;
    c->dead = 0;
    c->gen++;
    c->pings_sent = c->pongs_recv = 0;
    for (s = c->subs; s; s = s->next) {
        cap += strlen(s->subject) + 32;
        s->denied = 0;                              /* the server decides again */
    }
    buf = cap ? (char *)malloc(cap) : NULL;
    if (buf)
        for (s = c->subs; s; s = s->next)
            if (np_fmt_sub(buf + n, cap - n, s->subject, NULL, s->sid, &k) == NP_OK) n += k;
    if (cap && !buf) snprintf(c->last_err, sizeof c->last_err, "out of memory resubscribing");
    WakeAllConditionVariable(&c->state_cv);
    LeaveCriticalSection(&c->mu);
    if (n) nats_wr1_locked(c, buf, n);                   /* a failure shows up as a lost connection */
    LeaveCriticalSection(&c->wmu);
    free(buf);
}

/* The connection is gone: close it, fail what waited on it. */
static void drop(nats_conn *c)
{
    EnterCriticalSection(&c->wmu);
    EnterCriticalSection(&c->mu);
    c->up = 0;
    close_sock_locked(c);
    fail_reqs(c, NULL, c->closing ? NATS_ERR_CLOSED : NATS_ERR_CONN);
    WakeAllConditionVariable(&c->state_cv);
    LeaveCriticalSection(&c->mu);
    LeaveCriticalSection(&c->wmu);
    free(c->cur);
    c->cur = NULL;
}

/*
** Backoff before reconnect round `round`: min*2^round capped, ±50 %. A
** fleet loses a server all at the same moment; the jitter is what spreads
** its reconnects, so it is wide: ±25 % put 100 agents' first attempts into
** half a second (bench/fleet.sh, the storm line).
*/
static DWORD backoff_ms(nats_conn *c, int round)
{
    uint64_t d = (uint64_t)c->reconnect_min_ms;
    int i;
    for (i = 0; i < round && d < (uint64_t)c->reconnect_max_ms; i++) d *= 2;
    if (d > (uint64_t)c->reconnect_max_ms) d = (uint64_t)c->reconnect_max_ms;
    return (DWORD)(d * (50 + win_random_u32() % 101) / 100);
}

/*
** Tries every server in order, round after round, sleeping the backoff
** before each round but the first of an initial connect. Returns 0 once
** installed, 1 when nats_close was called.
*/
static int reconnect(nats_conn *c, int initial)
{
    int round = 0, i;
    char err[512];
    for (;; round++) {
        if (!initial || round > 0)
            if (WaitForSingleObject(c->close_ev, backoff_ms(c, initial ? round - 1 : round)) == WAIT_OBJECT_0)
                return 1;
        for (i = 0; i < c->nservers; i++) {
            int rc = try_server(c, &c->servers[i], err, sizeof err);
            if (rc == NATS_OK) { install(c); return 0; }
            if (rc == NATS_ERR_CLOSED || c->closing) return 1;
            nats_set_err(c, "%s", err);
        }
    }
}

/*
** Reads and dispatches until the connection fails or nats_close. Sends
** the keepalive PING every ping_interval and declares the connection
** stale after max_pings_out unanswered ones.
*/
static void serve(nats_conn *c)
{
    uint64_t next_ping = win_tick_ms() + (uint64_t)c->ping_interval_ms;
    const char *url = c->cur_srv ? c->cur_srv->url : "server";
    for (;;) {
        int n;
        if (win_tick_ms() >= next_ping) {
            uint64_t out;
            EnterCriticalSection(&c->mu);
            out = c->pings_sent - c->pongs_recv;
            LeaveCriticalSection(&c->mu);
            if (out >= (uint64_t)c->max_pings_out) {
                nats_set_err(c, "%s: stale connection: %d PINGs unanswered", url, c->max_pings_out);
                return;
            }
            if (send_ping(c)) return;
            next_ping = win_tick_ms() + (uint64_t)c->ping_interval_ms;
        }
        n = sio_recv(c, c->rbuf, RBUF_SIZE, next_ping);
        if (n == SIO_TIMEOUT) continue;
        if (n == SIO_CLOSING) return;
        if (n == 0) { nats_set_err(c, "%s: the server closed the connection", url); return; }
        if (n < 0) { nats_set_err(c, "%s: %s", url, win_last_error()); return; }
        if (feed_raw(c, c->rbuf, (size_t)n)) return;
    }
}

static unsigned __stdcall reader_main(void *arg)
{
    nats_conn *c = (nats_conn *)arg;
    if (c->up) {
        c->ever_up = 1;
        emit(c, NATS_EV_CONNECTED);
    }
    for (;;) {
        if (!c->up) {
            if (reconnect(c, !c->ever_up)) break;
            emit(c, c->ever_up ? NATS_EV_RECONNECTED : NATS_EV_CONNECTED);
            c->ever_up = 1;
        }
        serve(c);
        drop(c);
        if (c->closing) break;
        emit(c, NATS_EV_DISCONNECTED);
        if (c->no_reconnect) {
            EnterCriticalSection(&c->mu);
            c->dead = 1;
            WakeAllConditionVariable(&c->state_cv);
            {
                nats_sub *s;
                for (s = c->subs; s; s = s->next) WakeAllConditionVariable(&s->cv);
            }
            LeaveCriticalSection(&c->mu);
            break;
        }
    }
    drop(c);
    emit(c, NATS_EV_CLOSED);
    return 0;
}

/* ---- public API ----------------------------------------------------------- */

static void conn_free(nats_conn *c)
{
    nats_sub *s, *sn;
    int i;
    if (!c) return;
    for (s = c->subs; s; s = sn) {
        nats_msg *m, *mn;
        sn = s->next;
        for (m = s->head; m; m = mn) { mn = m->next; free(m); }
        s->head = s->tail = NULL;
        s->n_msgs = s->n_bytes = 0;
        s->c = NULL;                /* user handles stay valid for nats_unsubscribe */
        s->next = NULL;
        if (s == c->inbox) { free(s->subject); free(s); }
    }
    if (c->sock != INVALID_SOCKET) closesocket(c->sock);
    tls_close(c->tls);
    tls_config_free(c->tlscfg);
    for (i = 0; i < MAX_SERVERS; i++) {            /* also a half-parsed entry */
        free(c->servers[i].user);
        free(c->servers[i].pass);
        free(c->servers[i].token);
    }
    free(c->user); free(c->pass); free(c->token); free(c->name);
    free(c->line); free(c->rbuf); free(c->plain); free(c->tok);
    free(c->cur);
    if (c->sev != WSA_INVALID_EVENT && c->sev) WSACloseEvent(c->sev);
    if (c->close_ev) CloseHandle(c->close_ev);
    DeleteCriticalSection(&c->mu);
    DeleteCriticalSection(&c->wmu);
    if (c->wsa_ok) WSACleanup();
    free(c);
}

int nats_connect(const nats_opts *o, nats_conn **out, char *err, size_t errcap)
{
    nats_conn *c;
    WSADATA wd;
    char tmp[512], all[1024];
    int i, rc = NATS_ERR_CONN;

    if (!err || errcap == 0) { err = tmp; errcap = sizeof tmp; }
    err[0] = 0;
    if (!o || !out) { snprintf(err, errcap, "nats_connect: missing options"); return NATS_ERR_ARG; }
    *out = NULL;
    c = (nats_conn *)calloc(1, sizeof *c);
    if (!c) { snprintf(err, errcap, "out of memory"); return NATS_ERR_NOMEM; }
    InitializeCriticalSection(&c->mu);
    InitializeCriticalSection(&c->wmu);
    InitializeConditionVariable(&c->state_cv);
    c->sock = INVALID_SOCKET;
    c->sev = WSA_INVALID_EVENT;
    c->connect_timeout_ms = o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 5000;
    c->ping_interval_ms = o->ping_interval_ms > 0 ? o->ping_interval_ms : 120000;
    c->max_pings_out = o->max_pings_out > 0 ? o->max_pings_out : 2;
    c->reconnect_min_ms = o->reconnect_min_ms > 0 ? o->reconnect_min_ms : 1000;
    c->reconnect_max_ms = o->reconnect_max_ms > 0 ? o->reconnect_max_ms : 60000;
    if (c->reconnect_max_ms < c->reconnect_min_ms) c->reconnect_max_ms = c->reconnect_min_ms;
    c->no_reconnect = o->no_reconnect;
    c->retry_initial = o->retry_initial;
    c->randomize = o->randomize;
    c->on_event = o->on_event;
    c->event_arg = o->event_arg;
    c->max_payload = DEFAULT_MAX_PAYLOAD;
    c->user = nats_dupstr(o->user);
    c->pass = nats_dupstr(o->pass ? o->pass : (o->user ? "" : NULL));
    c->token = nats_dupstr(o->token);
    c->name = nats_dupstr(o->name ? o->name : "kanade");
    if (win_self_version(c->version, sizeof c->version) != 0) snprintf(c->version, sizeof c->version, "0.0.0");
    c->line = (char *)malloc(LINE_SIZE);
    c->rbuf = (unsigned char *)malloc(RBUF_SIZE);
    c->plain = (unsigned char *)malloc(PLAIN_SIZE);
    c->tok = (json_tok *)malloc(sizeof(json_tok) * INFO_TOKENS);
    c->close_ev = CreateEventW(NULL, TRUE, FALSE, NULL);
    if (!c->line || !c->rbuf || !c->plain || !c->tok || !c->name || !c->close_ev
        || (o->user && !c->user) || (o->token && !c->token)) {
        snprintf(err, errcap, "out of memory");
        conn_free(c);
        return NATS_ERR_NOMEM;
    }
    np_init(&c->parser, c->line, LINE_SIZE, inbound_limit(DEFAULT_MAX_PAYLOAD));
    nuid_reset(c);
    if (nats_srv_parse_list(c, o->servers, err, errcap)) { conn_free(c); return NATS_ERR_ARG; }
    if (c->randomize) nats_srv_shuffle(c);
    if (o->ca_file && *o->ca_file) {
        if (tls_config_load(o->ca_file, o->cert_file, o->key_file, &c->tlscfg, err, errcap) != TLS_OK) {
            conn_free(c);
            return NATS_ERR_TLS;
        }
    } else if ((o->cert_file && *o->cert_file) || (o->key_file && *o->key_file)) {
        snprintf(err, errcap, "a client certificate needs a CA file too (TLS CA option)");
        conn_free(c);
        return NATS_ERR_ARG;
    }
    if (WSAStartup(MAKEWORD(2, 2), &wd) != 0) {
        snprintf(err, errcap, "WSAStartup failed");
        conn_free(c);
        return NATS_ERR_CONN;
    }
    c->wsa_ok = 1;
    c->sev = WSACreateEvent();
    if (c->sev == WSA_INVALID_EVENT) {
        win_err("WSACreateEvent", NULL);
        snprintf(err, errcap, "%s", win_last_error());
        conn_free(c);
        return NATS_ERR_CONN;
    }

    if (!c->retry_initial) {
        size_t used = 0;
        all[0] = 0;
        for (i = 0; i < c->nservers; i++) {
            int k;
            rc = try_server(c, &c->servers[i], tmp, sizeof tmp);
            if (rc == NATS_OK) break;
            /* one line naming every server's failure */
            k = snprintf(all + used, sizeof all - used, "%s%s", used ? "; " : "", tmp);
            if (k > 0) used = used + (size_t)k < sizeof all ? used + (size_t)k : sizeof all - 1;
        }
        if (rc != NATS_OK) {
            snprintf(err, errcap, "%s", all);
            conn_free(c);
            return rc == NATS_ERR_TIMEOUT ? NATS_ERR_CONN : rc;
        }
        install(c);
    }
    c->thread = (HANDLE)_beginthreadex(NULL, 0, reader_main, c, 0, NULL);
    if (!c->thread) {
        snprintf(err, errcap, "cannot start the NATS reader thread");
        conn_free(c);
        return NATS_ERR_NOMEM;
    }
    *out = c;
    return NATS_OK;
}

void nats_close(nats_conn *c)
{
    nats_sub *s;
    req *r;
    uint64_t deadline;
    int stuck;
    if (!c) return;
    if (nats_is_connected(c)) nats_flush(c, CLOSE_FLUSH_MS);   /* what we sent is processed */
    EnterCriticalSection(&c->mu);
    InterlockedExchange(&c->closing, 1);
    if (c->sock != INVALID_SOCKET) shutdown(c->sock, SD_BOTH); /* ends writers' waits */
    WakeAllConditionVariable(&c->state_cv);
    for (s = c->subs; s; s = s->next) WakeAllConditionVariable(&s->cv);
    for (r = c->reqs; r; r = r->next) WakeAllConditionVariable(&r->cv);
    LeaveCriticalSection(&c->mu);
    SetEvent(c->close_ev);
    if (c->thread) {
        if (WaitForSingleObject(c->thread, CLOSE_JOIN_MS) != WAIT_OBJECT_0) {
            /* Freeing under a live reader would crash; leaking is the safe failure. */
            nats_set_err(c, "nats_close: the reader thread did not stop within %d ms", CLOSE_JOIN_MS);
            return;
        }
        CloseHandle(c->thread);
        c->thread = NULL;
    }
    deadline = win_tick_ms() + CLOSE_JOIN_MS;
    EnterCriticalSection(&c->mu);
    while (c->waiters > 0 && win_tick_ms() < deadline)
        SleepConditionVariableCS(&c->state_cv, &c->mu, 100);
    stuck = c->waiters > 0;
    LeaveCriticalSection(&c->mu);
    if (stuck) return;                              /* a caller is stuck inside: leak, don't crash */
    conn_free(c);
}
