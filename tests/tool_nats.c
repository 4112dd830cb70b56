/*
** tool_nats.c — a small driver for the NATS client in integration tests
** (tests/it_nats.sh, tests/it_tls.sh). Every result is one line on stdout
** a script can match; failures print "error <CODE>: <message>" and exit 1.
**
**   tool_nats [options] conn                    connect, flush, print server facts
**   tool_nats [options] pub SUBJ DATA [COUNT]   publish DATA COUNT times (default 1)
**   tool_nats [options] sub SUBJ N              print N messages ("msg ...")
**   tool_nats [options] req SUBJ DATA           one request, print the reply
**   tool_nats [options] reply SUBJ N            answer N requests with "re:" + data
**   tool_nats [options] roundtrip SUBJ N        N messages of many sizes to itself, checked
**   tool_nats [options] maxpayload SUBJ         max_payload exactly, then one byte over
**   tool_nats [options] stay SECONDS            stay connected, report PINGs survived
**   tool_nats [options] watch SUBJ N            like sub, printing connection events
**   tool_nats [options] perm DENIED ALLOWED     -ERR permissions: connection stays up
**   tool_nats [options] slow SUBJ               overfill a subscription: slow consumer
**   tool_nats [options] closewake SUBJ          nats_close wakes blocked calls
**   tool_nats [options] bench SUBJ MB SIZE      pub/sub throughput and request latency
**
** Options: --server URLS --user U --pass P --token T --ca F --cert F --key F
**   --timeout MS (requests/waits, default 5000) --ping MS --pings-out N
**   --reconnect-min MS --reconnect-max MS --retry (retry_initial) --no-reconnect
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <windows.h>
#include <process.h>
#include "nats.h"
#include "win.h"

static const char *rc_name(int rc)
{
    static const char *names[] = {
        "OK", "TIMEOUT", "NO_RESPONDERS", "CONN", "AUTH", "TLS", "PROTO", "MAX_PAYLOAD", "ARG",
        "NOMEM", "CLOSED", "PERM", "JS", "NOT_FOUND", "CONFLICT", "EXISTS", "DIGEST", "SIZE",
        "IO", "BAD_DATA"
    };
    return rc >= 0 && rc < (int)(sizeof names / sizeof names[0]) ? names[rc] : "?";
}

static nats_opts O;
static int timeout_ms = 5000;

static int fail(int rc, const char *what, nats_conn *c)
{
    const char *e = c ? nats_last_error(c) : "";
    printf("error %s: %s%s%s\n", rc_name(rc), what, *e ? ": " : "", e);
    return 1;
}

static void on_event(void *arg, int ev)
{
    static const char *n[] = { "?", "connected", "disconnected", "reconnected", "closed" };
    (void)arg;
    printf("event %s\n", ev >= 1 && ev <= 4 ? n[ev] : "?");
}

/* Connects with O; prints the failure line itself. */
static nats_conn *connect_or_print(void)
{
    nats_conn *c = NULL;
    char err[1024];
    int rc = nats_connect(&O, &c, err, sizeof err);
    if (rc) {
        printf("error %s: %s\n", rc_name(rc), err);
        return NULL;
    }
    if (O.retry_initial && nats_wait_connected(c, timeout_ms * 4) != NATS_OK) {
        printf("error CONN: not connected within %d ms: %s\n", timeout_ms * 4, nats_last_error(c));
        nats_close(c);
        return NULL;
    }
    return c;
}

/* Deterministic payload byte i of message k, so the receiver can check it. */
static unsigned char pat(unsigned k, size_t i) { return (unsigned char)(k * 131u + i * 7u + (i >> 9)); }

static unsigned long checksum(const unsigned char *p, size_t n)
{
    unsigned long h = 5381;
    size_t i;
    for (i = 0; i < n; i++) h = h * 33 + p[i];
    return h & 0xffffffffUL;
}

static void print_msg(const nats_msg *m)
{
    printf("msg %s len=%lu sum=%08lx status=%d reply=%s data=%.60s\n", m->subject, (unsigned long)m->len,
           checksum(m->data, m->len), m->status, m->reply ? m->reply : "-", (const char *)m->data);
}

static int cmd_conn(void)
{
    nats_conn *c = connect_or_print();
    int rc;
    if (!c) return 1;
    rc = nats_flush(c, timeout_ms);
    if (rc) { int r = fail(rc, "flush", c); nats_close(c); return r; }
    printf("connected max_payload=%lu gen=%u\n", (unsigned long)nats_max_payload(c), nats_generation(c));
    nats_close(c);
    return 0;
}

static int cmd_pub(const char *subj, const char *data, int count)
{
    nats_conn *c = connect_or_print();
    int i, rc = 0;
    if (!c) return 1;
    for (i = 0; i < count && rc == 0; i++) rc = nats_publish(c, subj, NULL, data, strlen(data));
    if (rc == 0) rc = nats_flush(c, timeout_ms);
    if (rc) { int r = fail(rc, "publish", c); nats_close(c); return r; }
    printf("published %d\n", count);
    nats_close(c);
    return 0;
}

static int cmd_sub(const char *subj, int n, int events)
{
    nats_conn *c;
    nats_sub *s = NULL;
    int got = 0, rc;
    uint64_t deadline;
    if (events) { O.on_event = on_event; }
    c = connect_or_print();
    if (!c) return 1;
    rc = nats_subscribe(c, subj, NULL, &s);
    if (rc == 0) rc = nats_flush(c, timeout_ms);
    if (rc) { int r = fail(rc, "subscribe", c); nats_close(c); return r; }
    printf("ready\n");
    deadline = win_tick_ms() + (uint64_t)timeout_ms;
    while (got < n && win_tick_ms() < deadline) {
        nats_msg *m = NULL;
        rc = nats_sub_next(s, 200, &m);
        if (rc == NATS_ERR_TIMEOUT) continue;
        if (rc) { fail(rc, "next", c); break; }
        print_msg(m);
        nats_msg_free(m);
        got++;
    }
    printf("received %d gen=%u\n", got, nats_generation(c));
    nats_unsubscribe(s);
    nats_close(c);
    return got == n ? 0 : 1;
}

static int cmd_req(const char *subj, const char *data)
{
    nats_conn *c = connect_or_print();
    nats_msg *m = NULL;
    int rc;
    uint64_t t0;
    if (!c) return 1;
    t0 = win_tick_ms();
    rc = nats_request(c, subj, NULL, 0, data, strlen(data), timeout_ms, &m);
    if (rc) {
        printf("error %s: %s (after %lu ms)\n", rc_name(rc), nats_last_error(c), (unsigned long)(win_tick_ms() - t0));
        nats_close(c);
        return 1;
    }
    printf("reply %.*s\n", (int)m->len, (const char *)m->data);
    nats_msg_free(m);
    nats_close(c);
    return 0;
}

static int cmd_reply(const char *subj, int n)
{
    nats_conn *c = connect_or_print();
    nats_sub *s = NULL;
    int got = 0, rc;
    uint64_t deadline;
    if (!c) return 1;
    rc = nats_subscribe(c, subj, NULL, &s);
    if (rc == 0) rc = nats_flush(c, timeout_ms);
    if (rc) { int r = fail(rc, "subscribe", c); nats_close(c); return r; }
    printf("ready\n");
    deadline = win_tick_ms() + (uint64_t)timeout_ms;
    while (got < n && win_tick_ms() < deadline) {
        nats_msg *m = NULL;
        char out[512];
        int k;
        if (nats_sub_next(s, 200, &m) != NATS_OK) continue;
        k = snprintf(out, sizeof out, "re:%.400s", (const char *)m->data);
        if (m->reply) nats_publish(c, m->reply, NULL, out, (size_t)k);
        nats_msg_free(m);
        got++;
    }
    nats_flush(c, timeout_ms);
    printf("answered %d\n", got);
    nats_unsubscribe(s);
    nats_close(c);
    return got == n ? 0 : 1;
}

#define RT_HDR "NATS/1.0\r\nX-Seq: 1\r\nx-seq: 2\r\n\r\n"
#define RT_HL (sizeof RT_HDR - 1)

/*
** Publishes n messages of varied sizes (0 .. max_payload, many larger
** than one socket read) to a subject it is subscribed to, and checks
** every byte and the order on the way back.
*/
static int cmd_roundtrip(const char *subj, int n)
{
    static const size_t sizes[] = { 0, 1, 2, 100, 1000, 4095, 4096, 65535, 65536, 65537, 131072,
                                    200000, 262143, 262144, 262145, 500001 };
    nats_conn *c = connect_or_print();
    nats_sub *s = NULL;
    unsigned char *buf;
    size_t maxp, total = 0;
    int i, rc, bad = 0;
    HANDLE ev = CreateEventW(NULL, FALSE, FALSE, NULL);
    if (!c) return 1;
    maxp = nats_max_payload(c);
    buf = (unsigned char *)malloc(maxp + 1);
    rc = nats_subscribe(c, subj, ev, &s);
    if (rc == 0) rc = nats_flush(c, timeout_ms);
    if (rc || !buf) { int r = fail(rc, "subscribe", c); nats_close(c); return r; }
    for (i = 0; i < n; i++) {
        size_t len = i == n - 1 ? maxp : sizes[i % (int)(sizeof sizes / sizeof sizes[0])], j;
        if (len > maxp) len = maxp;
        for (j = 0; j < len; j++) buf[j] = pat((unsigned)i, j);
        if (i % 3 == 1) {
            /* with headers too */
            rc = nats_hpublish(c, subj, "reply.x", RT_HDR, RT_HL, buf, len > maxp - RT_HL ? maxp - RT_HL : len);
        } else {
            rc = nats_publish(c, subj, NULL, buf, len);
        }
        if (rc) { fail(rc, "publish", c); bad++; break; }
    }
    for (i = 0; i < n && !bad; i++) {
        nats_msg *m = NULL;
        size_t want = i == n - 1 ? maxp : sizes[i % (int)(sizeof sizes / sizeof sizes[0])], j;
        if (want > maxp) want = maxp;
        if (i % 3 == 1 && want > maxp - RT_HL) want = maxp - RT_HL;
        if (WaitForSingleObject(ev, 0) == WAIT_FAILED) bad++;
        rc = nats_sub_next(s, timeout_ms, &m);
        if (rc) { fail(rc, "receive", c); bad++; break; }
        if (m->len != want) { printf("bad length at %d: %lu != %lu\n", i, (unsigned long)m->len, (unsigned long)want); bad++; }
        for (j = 0; j < m->len && j < want; j++)
            if (m->data[j] != pat((unsigned)i, j)) { printf("bad byte %lu in message %d\n", (unsigned long)j, i); bad++; break; }
        if (m->data[m->len] != 0) { printf("payload not NUL-terminated at %d\n", i); bad++; }
        if (i % 3 == 1) {
            char v[16];
            if (!m->hdr || m->hdr_len != RT_HL || !m->reply || strcmp(m->reply, "reply.x") != 0
                || nats_msg_header(m, "X-SEQ", v, sizeof v) != 0 || strcmp(v, "1") != 0) {
                printf("bad headers/reply at %d\n", i);
                bad++;
            }
        } else if (m->hdr || m->reply) {
            printf("unexpected header/reply at %d\n", i);
            bad++;
        }
        total += m->len;
        nats_msg_free(m);
    }
    printf("roundtrip %s %d messages %lu bytes max_payload=%lu\n", bad ? "FAILED" : "ok", n,
           (unsigned long)total, (unsigned long)maxp);
    free(buf);
    nats_unsubscribe(s);
    nats_close(c);
    CloseHandle(ev);
    return bad ? 1 : 0;
}

/* max_payload bytes pass; one more is refused locally; the connection stays. */
static int cmd_maxpayload(const char *subj)
{
    nats_conn *c = connect_or_print();
    nats_sub *s = NULL;
    nats_msg *m = NULL;
    unsigned char *buf;
    size_t maxp;
    int rc;
    if (!c) return 1;
    maxp = nats_max_payload(c);
    buf = (unsigned char *)calloc(1, maxp + 1);
    if (!buf) return fail(NATS_ERR_NOMEM, "alloc", c);
    rc = nats_subscribe(c, subj, NULL, &s);
    if (rc == 0) rc = nats_flush(c, timeout_ms);
    if (rc) return fail(rc, "subscribe", c);
    memset(buf, 'm', maxp + 1);
    rc = nats_publish(c, subj, NULL, buf, maxp);
    printf("exact rc=%s\n", rc_name(rc));
    rc = nats_sub_next(s, timeout_ms, &m);
    printf("exact received rc=%s len=%lu\n", rc_name(rc), (unsigned long)(m ? m->len : 0));
    nats_msg_free(m);
    m = NULL;
    rc = nats_publish(c, subj, NULL, buf, maxp + 1);
    printf("over rc=%s error=%s\n", rc_name(rc), nats_last_error(c));
    rc = nats_hpublish(c, subj, NULL, "NATS/1.0\r\n\r\n", 12, buf, maxp - 11);
    printf("hdr over rc=%s\n", rc_name(rc));
    rc = nats_publish(c, subj, NULL, "after", 5);
    if (rc == 0) rc = nats_sub_next(s, timeout_ms, &m);
    printf("after rc=%s data=%s connected=%d gen=%u\n", rc_name(rc), m ? (const char *)m->data : "-",
           nats_is_connected(c), nats_generation(c));
    nats_msg_free(m);
    free(buf);
    nats_unsubscribe(s);
    nats_close(c);
    return 0;
}

/* Stays connected for `secs`, then proves the connection still works. */
static int cmd_stay(int secs)
{
    nats_conn *c;
    int rc;
    O.on_event = on_event;
    c = connect_or_print();
    if (!c) return 1;
    Sleep((DWORD)secs * 1000);
    rc = nats_flush(c, timeout_ms);
    printf("stayed %d s flush=%s connected=%d gen=%u\n", secs, rc_name(rc), nats_is_connected(c), nats_generation(c));
    nats_close(c);
    return rc ? 1 : 0;
}

/* A denied publish is reported; the connection stays; a denied request fails fast. */
static int cmd_perm(const char *denied, const char *allowed)
{
    nats_conn *c = connect_or_print();
    nats_msg *m = NULL;
    int rc;
    uint64_t t0;
    if (!c) return 1;
    rc = nats_publish(c, denied, NULL, "x", 1);
    nats_flush(c, timeout_ms);
    Sleep(200);
    printf("denied pub rc=%s error=%s\n", rc_name(rc), nats_last_error(c));
    t0 = win_tick_ms();
    rc = nats_request(c, denied, NULL, 0, "x", 1, timeout_ms, &m);
    printf("denied req rc=%s ms=%lu\n", rc_name(rc), (unsigned long)(win_tick_ms() - t0));
    nats_msg_free(m);
    rc = nats_publish(c, allowed, NULL, "y", 1);
    if (rc == 0) rc = nats_flush(c, timeout_ms);
    printf("allowed pub rc=%s connected=%d gen=%u\n", rc_name(rc), nats_is_connected(c), nats_generation(c));
    nats_close(c);
    return 0;
}

/* Publishes past the queue bound without reading: drops, slow consumer. */
static int cmd_slow(const char *subj)
{
    nats_conn *c = connect_or_print();
    nats_sub *s = NULL;
    nats_msg *m = NULL;
    int i, rc, got = 0;
    if (!c) return 1;
    rc = nats_subscribe(c, subj, NULL, &s);
    for (i = 0; i < 70000 && rc == 0; i++) rc = nats_publish(c, subj, NULL, "0123456789", 10);
    if (rc == 0) rc = nats_flush(c, 30000);
    if (rc) return fail(rc, "publish", c);
    printf("error after overfill: %s\n", nats_last_error(c));
    while (nats_sub_next(s, 0, &m) == NATS_OK) { nats_msg_free(m); got++; }
    printf("queued %d of 70000\n", got);
    rc = nats_publish(c, subj, NULL, "again", 5);
    if (rc == 0) rc = nats_sub_next(s, timeout_ms, &m);
    printf("after draining rc=%s data=%s\n", rc_name(rc), rc == 0 ? (const char *)m->data : "-");
    nats_msg_free(m);
    nats_unsubscribe(s);
    nats_close(c);
    return 0;
}

typedef struct waiter { nats_conn *c; nats_sub *s; const char *subj; int rc; uint64_t ms; } waiter;

static unsigned __stdcall wait_next(void *arg)
{
    waiter *w = (waiter *)arg;
    nats_msg *m = NULL;
    uint64_t t0 = win_tick_ms();
    w->rc = nats_sub_next(w->s, 30000, &m);
    w->ms = win_tick_ms() - t0;
    nats_msg_free(m);
    return 0;
}

static unsigned __stdcall wait_req(void *arg)
{
    waiter *w = (waiter *)arg;
    nats_msg *m = NULL;
    uint64_t t0 = win_tick_ms();
    w->rc = nats_request(w->c, w->subj, NULL, 0, "x", 1, 30000, &m);
    w->ms = win_tick_ms() - t0;
    nats_msg_free(m);
    return 0;
}

/* Two threads block (sub_next, request to a silent subscriber); nats_close wakes both. */
static int cmd_closewake(const char *subj)
{
    nats_conn *c = connect_or_print();
    waiter a, b;
    HANDLE th[2];
    nats_sub *silent = NULL;
    uint64_t t0;
    int rc;
    if (!c) return 1;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    rc = nats_subscribe(c, subj, NULL, &a.s);
    if (rc == 0) rc = nats_subscribe(c, "closewake.silent", NULL, &silent);
    if (rc == 0) rc = nats_flush(c, timeout_ms);
    if (rc) return fail(rc, "subscribe", c);
    b.c = c;
    b.subj = "closewake.silent";
    th[0] = (HANDLE)_beginthreadex(NULL, 0, wait_next, &a, 0, NULL);
    th[1] = (HANDLE)_beginthreadex(NULL, 0, wait_req, &b, 0, NULL);
    Sleep(700);
    t0 = win_tick_ms();
    nats_close(c);
    printf("close took %lu ms\n", (unsigned long)(win_tick_ms() - t0));
    WaitForMultipleObjects(2, th, TRUE, 10000);
    printf("sub_next rc=%s after %lu ms\n", rc_name(a.rc), (unsigned long)a.ms);
    printf("request rc=%s after %lu ms\n", rc_name(b.rc), (unsigned long)b.ms);
    {
        nats_msg *m = NULL;
        int r1 = nats_sub_next(a.s, 0, &m);     /* the handle outlives the connection */
        int r2 = nats_unsubscribe(a.s);
        printf("after close: sub_next rc=%s unsubscribe rc=%s\n", rc_name(r1), rc_name(r2));
    }
    nats_unsubscribe(silent);
    CloseHandle(th[0]);
    CloseHandle(th[1]);
    return 0;
}

/* Throughput of MB megabytes in SIZE-byte messages through one connection, and request RTT. */
static int cmd_bench(const char *subj, int mb, int size)
{
    nats_conn *c = connect_or_print();
    nats_sub *s = NULL;
    unsigned char *buf;
    int n, i, got = 0, rc;
    uint64_t t0, t1, bytes = 0;
    if (!c) return 1;
    if (size <= 0 || (size_t)size > nats_max_payload(c)) size = (int)nats_max_payload(c);
    n = (int)(((uint64_t)mb << 20) / (uint64_t)size);
    buf = (unsigned char *)malloc((size_t)size);
    if (!buf) return fail(NATS_ERR_NOMEM, "alloc", c);
    memset(buf, 'b', (size_t)size);
    rc = nats_subscribe(c, subj, NULL, &s);
    if (rc == 0) rc = nats_flush(c, timeout_ms);
    if (rc) return fail(rc, "subscribe", c);
    t0 = win_tick_ms();
    for (i = 0; i < n; i++) {
        nats_msg *m = NULL;
        rc = nats_publish(c, subj, NULL, buf, (size_t)size);
        if (rc) return fail(rc, "publish", c);
        /* keep at most 16 in flight so the queue stays small */
        while (i - got >= 16 && nats_sub_next(s, timeout_ms, &m) == NATS_OK) { bytes += m->len; nats_msg_free(m); got++; }
    }
    while (got < n) {
        nats_msg *m = NULL;
        if (nats_sub_next(s, timeout_ms, &m) != NATS_OK) break;
        bytes += m->len;
        nats_msg_free(m);
        got++;
    }
    t1 = win_tick_ms();
    printf("pubsub %d x %d bytes: %.1f MB/s (%lu ms)\n", got, size,
           (double)bytes / 1048576.0 / ((double)(t1 - t0 ? t1 - t0 : 1) / 1000.0), (unsigned long)(t1 - t0));
    t0 = win_tick_ms();
    for (i = 0; i < 500; i++) {
        nats_msg *m = NULL;
        rc = nats_request(c, "$JS.API.INFO", NULL, 0, NULL, 0, timeout_ms, &m);
        nats_msg_free(m);
        if (rc) { printf("request rc=%s: %s\n", rc_name(rc), nats_last_error(c)); break; }
    }
    t1 = win_tick_ms();
    printf("request round trip: %.3f ms average over %d\n", (double)(t1 - t0) / (i ? i : 1), i);
    free(buf);
    nats_unsubscribe(s);
    nats_close(c);
    return got == n ? 0 : 1;
}

int wmain(int argc, wchar_t **argv)
{
    static char args[64][1024];
    char *a[64];
    int n = 0, i;
    const char *cmd;
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc > 64) argc = 64;
    for (i = 1; i < argc; i++) {
        if (win_to_utf8(argv[i], args[i], sizeof args[i])) { printf("error ARG: bad argument\n"); return 2; }
    }
    memset(&O, 0, sizeof O);
    O.connect_timeout_ms = 5000;
    for (i = 1; i < argc; i++) {
        const char *k = args[i], *v = i + 1 < argc ? args[i + 1] : NULL;
        if (strcmp(k, "--retry") == 0) { O.retry_initial = 1; continue; }
        if (strcmp(k, "--no-reconnect") == 0) { O.no_reconnect = 1; continue; }
        if (strncmp(k, "--", 2) == 0 && !v) { printf("error ARG: %s needs a value\n", k); return 2; }
        if (strcmp(k, "--server") == 0) O.servers = v;
        else if (strcmp(k, "--user") == 0) O.user = v;
        else if (strcmp(k, "--pass") == 0) O.pass = v;
        else if (strcmp(k, "--token") == 0) O.token = v;
        else if (strcmp(k, "--ca") == 0) O.ca_file = v;
        else if (strcmp(k, "--cert") == 0) O.cert_file = v;
        else if (strcmp(k, "--key") == 0) O.key_file = v;
        else if (strcmp(k, "--timeout") == 0) timeout_ms = atoi(v);
        else if (strcmp(k, "--ping") == 0) O.ping_interval_ms = atoi(v);
        else if (strcmp(k, "--pings-out") == 0) O.max_pings_out = atoi(v);
        else if (strcmp(k, "--reconnect-min") == 0) O.reconnect_min_ms = atoi(v);
        else if (strcmp(k, "--reconnect-max") == 0) O.reconnect_max_ms = atoi(v);
        else if (strcmp(k, "--connect-timeout") == 0) O.connect_timeout_ms = atoi(v);
        else { a[n++] = args[i]; continue; }
        i++;
    }
    O.name = "tool_nats";
    if (n < 1) { printf("usage: tool_nats [options] conn|pub|sub|req|reply|roundtrip|maxpayload|stay|watch|perm ...\n"); return 2; }
    cmd = a[0];
    if (strcmp(cmd, "conn") == 0) return cmd_conn();
    if (strcmp(cmd, "pub") == 0 && n >= 3) return cmd_pub(a[1], a[2], n >= 4 ? atoi(a[3]) : 1);
    if (strcmp(cmd, "sub") == 0 && n >= 3) return cmd_sub(a[1], atoi(a[2]), 0);
    if (strcmp(cmd, "watch") == 0 && n >= 3) return cmd_sub(a[1], atoi(a[2]), 1);
    if (strcmp(cmd, "req") == 0 && n >= 3) return cmd_req(a[1], a[2]);
    if (strcmp(cmd, "reply") == 0 && n >= 3) return cmd_reply(a[1], atoi(a[2]));
    if (strcmp(cmd, "roundtrip") == 0 && n >= 3) return cmd_roundtrip(a[1], atoi(a[2]));
    if (strcmp(cmd, "maxpayload") == 0 && n >= 2) return cmd_maxpayload(a[1]);
    if (strcmp(cmd, "stay") == 0 && n >= 2) return cmd_stay(atoi(a[1]));
    if (strcmp(cmd, "perm") == 0 && n >= 3) return cmd_perm(a[1], a[2]);
    if (strcmp(cmd, "slow") == 0 && n >= 2) return cmd_slow(a[1]);
    if (strcmp(cmd, "closewake") == 0 && n >= 2) return cmd_closewake(a[1]);
    if (strcmp(cmd, "bench") == 0 && n >= 4) return cmd_bench(a[1], atoi(a[2]), atoi(a[3]));
    printf("error ARG: unknown command or missing arguments: %s\n", cmd);
    return 2;
}
