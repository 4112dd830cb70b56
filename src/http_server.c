/*
** http_server.c — see http_server.h.
**
** Why a thread per connection and not a select loop: the connections are
** few (HS_MAX_CONNS) and some live long (Server-Sent Events that wait on
** the fleet cache, answers that wait on the broker). With a thread each,
** every handler is plain blocking code; a select loop would need each of
** them rewritten as a resumable state machine. The cost is one thread with
** a small stack per connection, capped by a counter the accept thread
** checks before it starts one. The accept thread itself never blocks on a
** client for more than HS_REJECT_WAIT_MS, so a flood cannot stall it.
*/
#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>
#include <process.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "http_server.h"
#include "win.h"

#define HS_STACK          (256 * 1024)
#define HS_REJECT_WAIT_MS 20
#define HS_SEND_CHUNK     (1024 * 1024)  /* bytes per send() */

struct hs_server {
    SOCKET ls;
    int port;
    hs_opts o;
    char csp[1024];
    HANDLE thread;
    volatile LONG stopping;
    volatile LONG active;               /* connection threads alive */
    CRITICAL_SECTION mu;                /* guards slots */
    SOCKET slots[HS_MAX_CONNS];         /* open connections, for hs_stop */
    int wsa_ok;
};

struct hs_conn {
    hs_server *s;
    SOCKET sock;
    int slot;
    int method;                         /* of the current request */
    int keep;                           /* answer says keep-alive */
    int status;                         /* answered status, 0 = none yet */
    size_t bytes;                       /* body bytes sent */
    char buf[HP_MAX_HEAD + 1];
    size_t have;
};

/* Splits "host:port" / "[v6]:port" and resolves the numeric host. */
static int parse_listen(const char *listen, struct addrinfo **res)
{
    char host[256], port[16];
    const char *colon;
    struct addrinfo hints;
    size_t hl;
    if (!listen || !*listen) return -1;
    colon = strrchr(listen, ':');
    if (!colon || !colon[1] || strlen(colon + 1) >= sizeof port) return -1;
    if (listen[0] == '[') {
        if (colon == listen || colon[-1] != ']') return -1;
        hl = (size_t)(colon - listen) - 2;
        if (hl >= sizeof host) return -1;
        memcpy(host, listen + 1, hl);
    } else {
        hl = (size_t)(colon - listen);
        if (hl >= sizeof host || memchr(listen, ':', hl)) return -1;
        memcpy(host, listen, hl);
    }
    host[hl] = 0;
    memcpy(port, colon + 1, strlen(colon + 1) + 1);
    if (strspn(port, "0123456789") != strlen(port) || atoi(port) > 65535) return -1;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
    return getaddrinfo(host[0] ? host : NULL, port, &hints, res) == 0 ? 0 : -1;
}

static int wsa_up(void)
{
    WSADATA wd;
    return WSAStartup(MAKEWORD(2, 2), &wd) == 0 ? 0 : -1;
}

/* see http_server.h */
int hs_listen_is_loopback(const char *listen, int *loopback)
{
    struct addrinfo *ai = NULL;
    int rc;
    if (wsa_up() != 0) return -1;
    rc = parse_listen(listen, &ai);
    if (rc == 0) {
        if (ai->ai_family == AF_INET) {
            const struct sockaddr_in *a = (const struct sockaddr_in *)ai->ai_addr;
            *loopback = (ntohl(a->sin_addr.s_addr) >> 24) == 127;
        } else {
            const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ai->ai_addr;
            static const unsigned char one[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
            *loopback = memcmp(&a->sin6_addr, one, 16) == 0;
        }
        freeaddrinfo(ai);
    }
    WSACleanup();
    return rc;
}

/* Sends all of data; -1 when the peer is gone or too slow (SO_SNDTIMEO).
** Large pieces: under Wine every send() is a trip through the wineserver,
** and /api/agents for 10,000 agents is several MB. */
static int send_all(SOCKET s, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        int n = send(s, p, len > HS_SEND_CHUNK ? HS_SEND_CHUNK : (int)len, 0);
        if (n <= 0) return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* The head of every answer: status line, the fixed security headers. */
static int write_head(hs_conn *c, int status, const char *ctype, const char *framing,
                      const char *extra, char *out, size_t cap)
{
    int n = snprintf(out, cap,
        "HTTP/1.1 %d %s\r\n"
        "Content-Type: %s\r\n"
        "%s"
        "Cache-Control: no-store\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        "X-Frame-Options: DENY\r\n"
        "Referrer-Policy: no-referrer\r\n"
        "Content-Security-Policy: %s\r\n"
        "%s"
        "\r\n",
        status, hp_reason(status), ctype, framing, c->s->csp, extra ? extra : "");
    return n > 0 && (size_t)n < cap ? n : -1;
}

/* see http_server.h */
int hs_respond(hs_conn *c, int status, const char *ctype, const char *extra_hdrs,
               const void *body, size_t len)
{
    char head[2048], framing[96];
    int n;
    if (c->status) return -1;
    c->status = status;
    snprintf(framing, sizeof framing, "Content-Length: %lu\r\nConnection: %s\r\n",
             (unsigned long)len, c->keep ? "keep-alive" : "close");
    if ((n = write_head(c, status, ctype, framing, extra_hdrs, head, sizeof head)) < 0) {
        c->keep = 0;
        return -1;
    }
    if (send_all(c->sock, head, (size_t)n) != 0) { c->keep = 0; return -1; }
    if (c->method == HP_HEAD || len == 0) return 0;
    if (send_all(c->sock, body, len) != 0) { c->keep = 0; return -1; }
    c->bytes = len;
    return 0;
}

/* see http_server.h */
int hs_stream_begin(hs_conn *c, const char *ctype)
{
    char head[2048];
    int n;
    if (c->status) return -1;
    c->status = 200;
    c->keep = 0;
    if ((n = write_head(c, 200, ctype, "Connection: close\r\n", NULL, head, sizeof head)) < 0) return -1;
    if (send_all(c->sock, head, (size_t)n) != 0) return -1;
    return c->method == HP_HEAD ? -1 : 0;
}

/* see http_server.h */
int hs_stream_send(hs_conn *c, const void *data, size_t len)
{
    if (c->s->stopping || send_all(c->sock, data, len) != 0) return -1;
    c->bytes += len;
    return 0;
}

/* see http_server.h */
int hs_stopping(const hs_conn *c) { return c->s->stopping != 0; }

static void log_line(hs_conn *c, const char *method, const char *path, uint64_t t0)
{
    char line[HP_MAX_TARGET + 128];
    if (!c->s->o.log) return;
    snprintf(line, sizeof line, "%s %s %d %lu %lums", method, path, c->status, (unsigned long)c->bytes,
             (unsigned long)(win_tick_ms() - t0));
    c->s->o.log(c->s->o.log_arg, line);
}

/* An answer to a request the parser refused; the connection then closes. */
static void reject(hs_conn *c, int status, uint64_t t0)
{
    char body[128];
    int n = snprintf(body, sizeof body, "{\"error\":\"%s\"}\n", hp_reason(status));
    c->keep = 0;
    c->method = HP_GET;
    hs_respond(c, status, "application/json", NULL, body, (size_t)n);
    log_line(c, "-", "-", t0);
}

/*
** Reads until a whole head is in c->buf, within HS_HEAD_TIMEOUT_MS.
** Returns 0 with *req filled, 1 when the connection should just close
** (peer gone, idle keep-alive, stopping), or an HTTP status to answer.
*/
static int read_head(hs_conn *c, hp_request *req, int first)
{
    uint64_t deadline = win_tick_ms() + HS_HEAD_TIMEOUT_MS;
    size_t scan = 0;
    for (;;) {
        fd_set rd;
        struct timeval tv;
        uint64_t now;
        int n, rc;
        if (c->have > 0) {
            rc = hp_parse(c->buf, c->have, &scan, req);
            if (rc != HP_MORE) return rc;
        }
        if (c->s->stopping) return 1;
        now = win_tick_ms();
        /* An idle keep-alive connection closes quietly; a client that
        ** started a request, or never sent one, learns why. */
        if (now >= deadline) return c->have || first ? 408 : 1;
        /* Wake at least every second to notice hs_stop. */
        n = (int)(deadline - now > 1000 ? 1000 : deadline - now);
        FD_ZERO(&rd);
        FD_SET(c->sock, &rd);
        tv.tv_sec = n / 1000;
        tv.tv_usec = (n % 1000) * 1000;
        rc = select(0, &rd, NULL, NULL, &tv);
        if (rc < 0) return 1;
        if (rc == 0) continue;
        n = recv(c->sock, c->buf + c->have, (int)(sizeof c->buf - c->have), 0);
        if (n <= 0) return 1;
        c->have += (size_t)n;
    }
}

static const char *method_name(int m) { return m == HP_HEAD ? "HEAD" : "GET"; }

static void serve_conn(hs_conn *c)
{
    hp_request *r = malloc(sizeof *r);   /* 4 KiB: off the small stack */
    int nreq = 0;
    if (!r) return;
    while (nreq < HS_MAX_REQUESTS && !c->s->stopping) {
        int rc = read_head(c, r, nreq == 0);
        uint64_t t0 = win_tick_ms();     /* the time to answer, not to wait */
        if (rc == 1) break;
        if (rc != 0) {
            reject(c, rc, t0);
            break;
        }
        nreq++;
        c->method = r->method;
        c->keep = r->keep_alive && nreq < HS_MAX_REQUESTS;
        c->status = 0;
        c->bytes = 0;
        c->s->o.handler(c->s->o.handler_arg, c, r);
        if (!c->status) hs_respond(c, 500, "application/json", NULL, "{\"error\":\"no answer\"}\n", 22);
        log_line(c, method_name(r->method), r->path, t0);
        if (!c->keep) break;
        c->have -= r->head_len;
        memmove(c->buf, c->buf + r->head_len, c->have);
    }
    free(r);
}

/* Reads and drops input until the peer closes or wait_ms pass. */
static void drain(SOCKET sock, int wait_ms)
{
    uint64_t deadline = win_tick_ms() + (uint64_t)wait_ms;
    char junk[4096];
    for (;;) {
        fd_set rd;
        struct timeval tv;
        uint64_t now = win_tick_ms();
        if (now >= deadline) return;
        FD_ZERO(&rd);
        FD_SET(sock, &rd);
        tv.tv_sec = (long)((deadline - now) / 1000);
        tv.tv_usec = (long)((deadline - now) % 1000) * 1000;
        if (select(0, &rd, NULL, NULL, &tv) <= 0 || recv(sock, junk, sizeof junk, 0) <= 0) return;
    }
}

static unsigned __stdcall conn_main(void *arg)
{
    hs_conn *c = arg;
    hs_server *s = c->s;
    DWORD tmo = HS_SEND_TIMEOUT_MS;
    BOOL one = TRUE;
    setsockopt(c->sock, SOL_SOCKET, SO_SNDTIMEO, (const char *)&tmo, sizeof tmo);
    /* Head and body go out in separate sends: without this, Nagle holds
    ** the body until the client's delayed ACK of the head. */
    setsockopt(c->sock, IPPROTO_TCP, TCP_NODELAY, (const char *)&one, sizeof one);
    serve_conn(c);
    /* Graceful close: the answer, then the FIN. What the client still sends
    ** is read and dropped for a moment, since closing with unread bytes
    ** sends a reset that can destroy the answer before the client reads it
    ** (a 431 while it is still sending its oversized head). */
    shutdown(c->sock, SD_SEND);
    drain(c->sock, 1000);
    EnterCriticalSection(&s->mu);
    s->slots[c->slot] = INVALID_SOCKET;
    LeaveCriticalSection(&s->mu);
    closesocket(c->sock);
    free(c);
    InterlockedDecrement(&s->active);
    return 0;
}

/* Past HS_MAX_CONNS: a 503 from the accept thread, without a thread. What
** the client already sent is drained first so the close is a FIN, not a
** reset that could swallow the answer. */
static void reject_busy(hs_server *s, SOCKET cs)
{
    static const char busy[] =
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
        "Content-Length: 32\r\nConnection: close\r\nRetry-After: 1\r\n\r\n"
        "{\"error\":\"too many connections\"}";
    char junk[4096];
    fd_set rd;
    struct timeval tv = { 0, HS_REJECT_WAIT_MS * 1000 };
    u_long nb = 1;
    FD_ZERO(&rd);
    FD_SET(cs, &rd);
    if (select(0, &rd, NULL, NULL, &tv) > 0) recv(cs, junk, sizeof junk, 0);
    ioctlsocket(cs, FIONBIO, &nb);
    send(cs, busy, (int)sizeof busy - 1, 0);
    shutdown(cs, SD_SEND);
    while (recv(cs, junk, sizeof junk, 0) > 0) {}
    closesocket(cs);
    if (s->o.log) s->o.log(s->o.log_arg, "- - 503 32 0ms (too many connections)");
}

static unsigned __stdcall accept_main(void *arg)
{
    hs_server *s = arg;
    while (!s->stopping) {
        SOCKET cs = accept(s->ls, NULL, NULL);
        hs_conn *c;
        HANDLE th;
        int i;
        if (cs == INVALID_SOCKET) {
            if (s->stopping) break;
            Sleep(10);                  /* e.g. out of descriptors: do not spin */
            continue;
        }
        if (InterlockedIncrement(&s->active) > HS_MAX_CONNS || (c = calloc(1, sizeof *c)) == NULL) {
            InterlockedDecrement(&s->active);
            reject_busy(s, cs);
            continue;
        }
        c->s = s;
        c->sock = cs;
        EnterCriticalSection(&s->mu);
        for (i = 0; i < HS_MAX_CONNS && s->slots[i] != INVALID_SOCKET; i++) {}
        c->slot = i;                    /* a free slot exists: active <= HS_MAX_CONNS */
        s->slots[i] = cs;
        LeaveCriticalSection(&s->mu);
        th = (HANDLE)_beginthreadex(NULL, HS_STACK, conn_main, c, STACK_SIZE_PARAM_IS_A_RESERVATION, NULL);
        if (!th) {
            EnterCriticalSection(&s->mu);
            s->slots[i] = INVALID_SOCKET;
            LeaveCriticalSection(&s->mu);
            free(c);
            InterlockedDecrement(&s->active);
            reject_busy(s, cs);
            continue;
        }
        CloseHandle(th);
    }
    return 0;
}

/* see http_server.h */
int hs_start(const hs_opts *o, hs_server **out, char *err, size_t errcap)
{
    hs_server *s;
    struct addrinfo *ai = NULL;
    struct sockaddr_storage ss;
    int sl = sizeof ss, i, yes = 1;
    *out = NULL;
    if ((s = calloc(1, sizeof *s)) == NULL) { snprintf(err, errcap, "out of memory"); return -1; }
    s->o = *o;
    snprintf(s->csp, sizeof s->csp, "%s", o->csp ? o->csp : "default-src 'none'");
    s->ls = INVALID_SOCKET;
    for (i = 0; i < HS_MAX_CONNS; i++) s->slots[i] = INVALID_SOCKET;
    InitializeCriticalSection(&s->mu);
    if (wsa_up() != 0) { snprintf(err, errcap, "WSAStartup failed"); goto fail; }
    s->wsa_ok = 1;
    if (parse_listen(o->listen, &ai) != 0) {
        snprintf(err, errcap, "'%s' is not an address like 127.0.0.1:8080", o->listen ? o->listen : "");
        goto fail;
    }
    s->ls = socket(ai->ai_family, SOCK_STREAM, IPPROTO_TCP);
    if (s->ls == INVALID_SOCKET) { snprintf(err, errcap, "socket: error %d", WSAGetLastError()); goto fail; }
    /* Another process must not be able to bind the same port and steal requests. */
    setsockopt(s->ls, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, (const char *)&yes, sizeof yes);
    if (bind(s->ls, ai->ai_addr, (int)ai->ai_addrlen) != 0) {
        snprintf(err, errcap, "cannot listen on %s (error %d; is the port in use?)", o->listen, WSAGetLastError());
        goto fail;
    }
    if (listen(s->ls, SOMAXCONN) != 0 || getsockname(s->ls, (struct sockaddr *)&ss, &sl) != 0) {
        snprintf(err, errcap, "cannot listen on %s (error %d)", o->listen, WSAGetLastError());
        goto fail;
    }
    s->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                             : ((struct sockaddr_in *)&ss)->sin_port);
    freeaddrinfo(ai);
    ai = NULL;
    s->thread = (HANDLE)_beginthreadex(NULL, 0, accept_main, s, 0, NULL);
    if (!s->thread) { snprintf(err, errcap, "cannot start the accept thread"); goto fail; }
    *out = s;
    return 0;
fail:
    if (ai) freeaddrinfo(ai);
    if (s->ls != INVALID_SOCKET) closesocket(s->ls);
    if (s->wsa_ok) WSACleanup();
    DeleteCriticalSection(&s->mu);
    free(s);
    return -1;
}

/* see http_server.h */
int hs_port(const hs_server *s) { return s->port; }

/* see http_server.h */
void hs_stop(hs_server *s, int wait_ms)
{
    uint64_t deadline;
    int i;
    if (!s) return;
    InterlockedExchange(&s->stopping, 1);
    closesocket(s->ls);                 /* wakes accept() */
    WaitForSingleObject(s->thread, 5000);
    CloseHandle(s->thread);
    EnterCriticalSection(&s->mu);
    for (i = 0; i < HS_MAX_CONNS; i++)
        if (s->slots[i] != INVALID_SOCKET) shutdown(s->slots[i], SD_BOTH);
    LeaveCriticalSection(&s->mu);
    deadline = win_tick_ms() + (uint64_t)wait_ms;
    while (s->active > 0 && win_tick_ms() < deadline) Sleep(10);
    /* Threads still running (a handler blocked on the broker) keep using s:
    ** leak it rather than free memory under them; the process is ending. */
    if (s->active > 0) return;
    DeleteCriticalSection(&s->mu);
    WSACleanup();
    free(s);
}
