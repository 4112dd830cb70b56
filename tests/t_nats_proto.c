/*
** t_nats_proto.c — unit tests for the NATS protocol parser and framing.
** The parser must give the same events whether the input arrives whole,
** one byte at a time, or split in two at any position.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "th.h"
#include "nats_proto.h"

/* ---- an event recorder ---------------------------------------------- */

typedef struct rec {
    char log[131072];
    size_t len;
    unsigned char pay[70000];   /* current message payload */
    int skip;                   /* 1: don't give the parser a destination */
} rec;

static void logf_(rec *r, const char *s, size_t n)
{
    if (n > sizeof r->log - 1 - r->len) n = sizeof r->log - 1 - r->len;
    memcpy(r->log + r->len, s, n);
    r->len += n;
    r->log[r->len] = 0;
}
static void logs(rec *r, const char *s) { logf_(r, s, strlen(s)); }

/*
** Feeds data[0..len) to p, logging every event as text into r. Stops at an
** error (logged as "E<rc>"). Returns the last np_feed status.
*/
static int feed(np_parser *p, rec *r, const char *data, size_t len)
{
    size_t off = 0;
    while (off < len) {
        np_event ev;
        size_t used = 0;
        char t[256];
        int rc = np_feed(p, data + off, len - off, &used, &ev);
        if (used > len - off) { logs(r, "OVERRUN|"); return -1; }
        off += used;
        if (rc) { snprintf(t, sizeof t, "E%d|", rc); logs(r, t); return rc; }
        switch (ev.type) {
        case NP_EV_NONE:
            if (off != len) logs(r, "STALL|");
            return 0;
        case NP_EV_INFO: logs(r, "INFO "); logf_(r, ev.text, ev.text_len); logs(r, "|"); break;
        case NP_EV_ERR: logs(r, "ERR "); logf_(r, ev.text, ev.text_len); logs(r, "|"); break;
        case NP_EV_PING: logs(r, "PING|"); break;
        case NP_EV_PONG: logs(r, "PONG|"); break;
        case NP_EV_OK: logs(r, "OK|"); break;
        case NP_EV_MSG:
            if (ev.total_len > sizeof r->pay) { logs(r, "TOOBIG|"); return -1; }
            memset(r->pay, '#', ev.total_len);
            if (!r->skip) np_set_dest(p, r->pay);
            break;
        case NP_EV_MSG_END:
                logs(r, ev.is_hmsg ? "HMSG " : "MSG ");
            logs(r, ev.subject);
            snprintf(t, sizeof t, " %lu %s %lu %lu ", (unsigned long)ev.sid, ev.reply ? ev.reply : "-",
                     (unsigned long)ev.hdr_len, (unsigned long)ev.total_len);
            logs(r, t);
            if (!r->skip) logf_(r, (const char *)r->pay, ev.total_len > 64 ? 64 : ev.total_len);
            if (ev.total_len > 64) {
                /* long payloads: log a checksum instead of the bytes */
                unsigned long h = 5381; size_t i;
                for (i = 0; i < ev.total_len; i++) h = h * 33 + r->pay[i];
                snprintf(t, sizeof t, "..#%lx", r->skip ? 0ul : h);
                logs(r, t);
            }
            logs(r, "|");
            break;
        default: logs(r, "BADEV|"); return -1;
        }
    }
    return 0;
}

static char linebuf[70000];
static np_parser P;
static rec R, R2;

/* Parses s whole with a fresh parser; returns the event log. */
static const char *parse_whole(const char *s, size_t len, size_t line_size, size_t maxpay)
{
    np_init(&P, linebuf, line_size, maxpay);
    R.len = 0; R.log[0] = 0; R.skip = 0;
    feed(&P, &R, s, len);
    return R.log;
}
#define PARSE(s) parse_whole((s), strlen(s), 8192, 1 << 20)

/* ---- every op ------------------------------------------------------- */

static void test_ops(void)
{
    TH_EQ_STR(PARSE("PING\r\n"), "PING|");
    TH_EQ_STR(PARSE("PONG\r\n"), "PONG|");
    TH_EQ_STR(PARSE("+OK\r\n"), "OK|");
    TH_EQ_STR(PARSE("ping\r\npong\r\n+ok\r\n"), "PING|PONG|OK|");
    TH_EQ_STR(PARSE("PING \r\n"), "PING|");
    TH_EQ_STR(PARSE("PING\n"), "PING|");                 /* bare LF accepted */
    TH_EQ_STR(PARSE("INFO {\"a\":1}\r\n"), "INFO {\"a\":1}|");
    TH_EQ_STR(PARSE("info \t {\"max_payload\":1048576} \r\n"), "INFO {\"max_payload\":1048576}|");
    TH_EQ_STR(PARSE("MSG foo 1 5\r\nhello\r\n"), "MSG foo 1 - 0 5 hello|");
    TH_EQ_STR(PARSE("msg foo.bar 12 _INBOX.x.y 3\r\nabc\r\n"), "MSG foo.bar 12 _INBOX.x.y 0 3 abc|");
    TH_EQ_STR(PARSE("MSG x 1 0\r\n\r\n"), "MSG x 1 - 0 0 |");
    TH_EQ_STR(PARSE("HMSG h 2 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"), "HMSG h 2 - 12 14 NATS/1.0\r\n\r\nhi|");
    TH_EQ_STR(PARSE("HMSG h 2 r.s 12 12\r\nNATS/1.0\r\n\r\n\r\n"), "HMSG h 2 r.s 12 12 NATS/1.0\r\n\r\n|");
    TH_EQ_STR(PARSE("-ERR 'Authorization Violation'\r\n"), "ERR Authorization Violation|");
    TH_EQ_STR(PARSE("-ERR 'Permissions Violation for Publish to \"deny.x\"'\r\n"),
              "ERR Permissions Violation for Publish to \"deny.x\"|");
    TH_EQ_STR(PARSE("-err 'Stale Connection'\r\n"), "ERR Stale Connection|");
    TH_EQ_STR(PARSE("-ERR unquoted text\r\n"), "ERR unquoted text|");
    TH_EQ_STR(PARSE("-ERR\r\n"), "ERR |");
}

/* nats-server 2.9.10 writes two spaces when there is no reply subject. */
static void test_two_spaces(void)
{
    TH_EQ_STR(PARSE("MSG _INBOX.a.b 1  37\r\n{\"stream\":\"KV_agent_config\", \"seq\":1}\r\n"),
              "MSG _INBOX.a.b 1 - 0 37 {\"stream\":\"KV_agent_config\", \"seq\":1}|");
    TH_EQ_STR(PARSE("HMSG _INBOX.a.b 1  12 14\r\nNATS/1.0\r\n\r\nok\r\n"),
              "HMSG _INBOX.a.b 1 - 12 14 NATS/1.0\r\n\r\nok|");
    TH_EQ_STR(PARSE("MSG\t\ta  \t 7 \t 2 \t\r\nab\r\n"), "MSG a 7 - 0 2 ab|");
}

static void test_event_fields(void)
{
    np_event ev;
    size_t used, rest;
    const char *s = "HMSG $KV.b.k 42 $JS.ACK.x 31 36\r\nNATS/1.0\r\nKV-Operation: DEL\r\n\r\nhello\r\n";
    unsigned char dst[64];
    np_init(&P, linebuf, 4096, 1000);
    TH_EQ_INT(np_feed(&P, s, strlen(s), &used, &ev), NP_OK);
    TH_EQ_INT(ev.type, NP_EV_MSG);
    TH_EQ_INT(ev.is_hmsg, 1);
    TH_EQ_STR(ev.subject, "$KV.b.k");
    TH_EQ_STR(ev.reply, "$JS.ACK.x");
    TH_EQ_INT(ev.sid, 42);
    TH_EQ_INT(ev.hdr_len, 31);
    TH_EQ_INT(ev.total_len, 36);
    np_set_dest(&P, dst);
    s += used;
    /* rest in a variable: mingw gcc 12 -O1 miscompiles strlen(s) re-evaluated
    ** after np_feed() wrote `used` (it folds it to 71 - used). */
    rest = strlen(s);
    TH_EQ_INT(np_feed(&P, s, rest, &used, &ev), NP_OK);
    TH_EQ_INT(ev.type, NP_EV_MSG_END);
    TH_EQ_INT(used, rest);
    TH_EQ_STR(ev.subject, "$KV.b.k");       /* still valid at MSG_END */
    TH_CHECK(memcmp(dst, "NATS/1.0\r\nKV-Operation: DEL\r\n\r\nhello", 36) == 0);
    TH_EQ_INT(np_feed(&P, "", 0, &used, &ev), NP_OK);
    TH_EQ_INT(ev.type, NP_EV_NONE);
}

/* Without a destination the payload is skipped, and parsing continues. */
static void test_skip_payload(void)
{
    const char *s = "MSG a 1 5\r\nhello\r\nPING\r\n";
    np_init(&P, linebuf, 4096, 1000);
    R.len = 0; R.log[0] = 0; R.skip = 1;
    feed(&P, &R, s, strlen(s));
    TH_EQ_STR(R.log, "MSG a 1 - 0 5 |PING|");
    R.skip = 0;
}

/* ---- splits ---------------------------------------------------------- */

static char stream[40000];
static size_t stream_len;

/* A stream like the real transcripts, with a large payload in the middle. */
static void build_stream(void)
{
    static const char *parts[] = {
        "INFO {\"server_id\":\"NDOP\",\"version\":\"2.9.10\",\"proto\":1,\"headers\":true,\"max_payload\":1048576}\r\n",
        "PONG\r\n",
        "MSG _INBOX.ACsEips5sre6FcIboeuxsa.wPLIz2jK 1 23\r\n{\"type\":\"x\",\"memory\":0}\r\n",
        "MSG _INBOX.ACsEips5sre6FcIboeuxsa.72ViYnXv 1  37\r\n{\"stream\":\"KV_agent_config\", \"seq\":1}\r\n",
        "HMSG _INBOX.ACsEips5sre6FcIboeuxsa.QXBBKRMB 1  148 204\r\nNATS/1.0\r\nNats-Stream: KV_agent_config\r\n"
        "Nats-Subject: $KV.agent_config.global\r\nNats-Sequence: 1\r\nNats-Time-Stamp: 2026-11-27T02:43:17.582293793Z\r\n"
        "\r\n{\"target_version\":\"0.42.2\",\"target_version_jitter\":\"5m\"}\r\n",
        "PING\r\n",
        "HMSG $KV.agent_config.pcs.nobody 2 $JS.ACK.KV_agent_config.oc_1.1.3.2.1795747397590789093.0 31 31\r\n"
        "NATS/1.0\r\nKV-Operation: DEL\r\n\r\n\r\n",
        "HMSG _INBOX.x.y 1 16 16\r\nNATS/1.0 503\r\n\r\n\r\n",
        "HMSG _INBOX.d 9  75 75\r\nNATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: 3\r\nNats-Last-Stream: 7\r\n\r\n\r\n",
        "-ERR 'Permissions Violation for Publish to \"deny.x\"'\r\n",
        "+OK\r\n",
        NULL
    };
    int i;
    stream_len = 0;
    for (i = 0; parts[i]; i++) {
        memcpy(stream + stream_len, parts[i], strlen(parts[i]));
        stream_len += strlen(parts[i]);
    }
    /* a 20000-byte payload spanning many reads */
    {
        const char *hd = "MSG $O.agent_releases.C.n 2 $JS.ACK.OBJ.oc.1.1.1.1.0 20000\r\n";
        memcpy(stream + stream_len, hd, strlen(hd));
        stream_len += strlen(hd);
        for (i = 0; i < 20000; i++) stream[stream_len++] = (char)('A' + i % 26);
        memcpy(stream + stream_len, "\r\nPING\r\n", 8);
        stream_len += 8;
    }
}

static void test_byte_at_a_time(void)
{
    size_t i;
    static char ref[131072];
    build_stream();
    snprintf(ref, sizeof ref, "%s", parse_whole(stream, stream_len, 8192, 1 << 20));
    TH_CHECK(strstr(ref, "E") != ref);
    TH_CHECK(strstr(ref, "PING|") != NULL);
    TH_CHECK(strstr(ref, "ERR Permissions Violation") != NULL);
    TH_CHECK(strstr(ref, "MSG $O.agent_releases.C.n 2") != NULL);
    TH_CHECK(strstr(ref, "|PING|") != NULL);
    np_init(&P, linebuf, 8192, 1 << 20);
    R2.len = 0; R2.log[0] = 0; R2.skip = 0;
    for (i = 0; i < stream_len; i++)
        if (feed(&P, &R2, stream + i, 1) != 0) break;
    TH_EQ_STR(R2.log, ref);
}

static void test_all_two_way_splits(void)
{
    size_t k;
    static char ref[131072];
    int bad = 0;
    build_stream();
    snprintf(ref, sizeof ref, "%s", parse_whole(stream, stream_len, 8192, 1 << 20));
    for (k = 0; k <= stream_len; k++) {
        np_init(&P, linebuf, 8192, 1 << 20);
        R2.len = 0; R2.log[0] = 0; R2.skip = 0;
        if (feed(&P, &R2, stream, k) == 0)
            feed(&P, &R2, stream + k, stream_len - k);
        if (strcmp(R2.log, ref) != 0) {
            if (!bad) fprintf(stderr, "  split at %lu differs:\n  %s\n  %s\n", (unsigned long)k, R2.log, ref);
            bad++;
        }
    }
    TH_EQ_INT(bad, 0);
}

/* Three-way splits over a short stream of every op kind. */
static void test_three_way_splits(void)
{
    const char *s = "INFO {}\r\nMSG a 1  2\r\nab\r\nHMSG b 2 r 12 13\r\nNATS/1.0\r\n\r\nx\r\n-ERR 'x'\r\nPING\r\n";
    size_t n = strlen(s), i, j;
    char ref[1024];
    int bad = 0;
    snprintf(ref, sizeof ref, "%s", parse_whole(s, n, 4096, 100));
    TH_EQ_STR(ref, "INFO {}|MSG a 1 - 0 2 ab|HMSG b 2 r 12 13 NATS/1.0\r\n\r\nx|ERR x|PING|");
    for (i = 0; i <= n; i++)
        for (j = i; j <= n; j++) {
            np_init(&P, linebuf, 4096, 100);
            R2.len = 0; R2.log[0] = 0;
            if (feed(&P, &R2, s, i) == 0 && feed(&P, &R2, s + i, j - i) == 0)
                feed(&P, &R2, s + j, n - j);
            if (strcmp(R2.log, ref) != 0) bad++;
        }
    TH_EQ_INT(bad, 0);
}

/* ---- limits and bad input -------------------------------------------- */

/* Builds "<prefix><fill x n><suffix>" in a static buffer. */
static char big[80000];
static size_t make_line(const char *prefix, char fill, size_t n, const char *suffix)
{
    size_t a = strlen(prefix), b = strlen(suffix);
    memcpy(big, prefix, a);
    memset(big + a, fill, n);
    memcpy(big + a + n, suffix, b);
    big[a + n + b] = 0;
    return a + n + b;
}

static void check_both_ways(const char *what, size_t len, size_t line_size, const char *want)
{
    size_t i;
    const char *whole = parse_whole(big, len, line_size, 1 << 20);
    if (strcmp(whole, want) != 0) {
        fprintf(stderr, "  %s whole: %.200s\n", what, whole);
        TH_CHECK(0);
    }
    np_init(&P, linebuf, line_size, 1 << 20);
    R2.len = 0; R2.log[0] = 0;
    for (i = 0; i < len; i++)
        if (feed(&P, &R2, big + i, 1) != 0) break;
    if (strcmp(R2.log, want) != 0) {
        fprintf(stderr, "  %s bytewise: %.200s\n", what, R2.log);
        TH_CHECK(0);
    }
}

static void test_line_caps(void)
{
    size_t n;
    char want[256];
    /* "MSG " + subject + " 1 0" is exactly NP_MAX_LINE: accepted */
    n = make_line("MSG ", 's', NP_MAX_LINE - 8, " 1 0\r\n\r\n");
    {
        const char *got = parse_whole(big, n, 70000, 100);
        TH_CHECK(strncmp(got, "MSG sss", 7) == 0);
        TH_CHECK(strstr(got, " 1 - 0 0 |") != NULL);
    }
    n = make_line("MSG ", 's', NP_MAX_LINE - 7, " 1 0\r\n\r\n");
    snprintf(want, sizeof want, "E%d|", NP_ERR_LINE);
    check_both_ways("MSG over cap", n, 70000, want);
    /* a runaway line without LF is cut off at the cap, not buffered */
    n = make_line("", 'x', 10000, "");
    check_both_ways("runaway", n, 70000, want);
    n = make_line("PING", ' ', 5000, "\r\n");
    check_both_ways("spaces", n, 70000, want);
    /* INFO may use the whole buffer, but no more */
    n = make_line("INFO {\"a\":\"", 'i', 60000, "\"}\r\n");
    {
        const char *got = parse_whole(big, n, 70000, 100);
        TH_CHECK(strncmp(got, "INFO {\"a\":\"iii", 14) == 0);
        TH_EQ_INT(strlen(got), n - 2 - 5 + 6);
    }
    n = make_line("INFO {\"a\":\"", 'i', 69990, "\"}\r\n");
    check_both_ways("INFO over cap", n, 70000, want);
    /* a small line buffer caps INFO too */
    n = make_line("INFO {\"a\":\"", 'i', 100, "\"}\r\n");
    check_both_ways("INFO small buffer", n, 64, want);
}

static void test_bad_sizes(void)
{
    char e_size[16], e_proto[16];
    snprintf(e_size, sizeof e_size, "E%d|", NP_ERR_SIZE);
    snprintf(e_proto, sizeof e_proto, "E%d|", NP_ERR_PROTO);
    TH_EQ_STR(parse_whole("MSG a 1 abc\r\n", 13, 4096, 100), e_size);
    TH_EQ_STR(parse_whole("MSG a 1 -1\r\n", 12, 4096, 100), e_size);
    TH_EQ_STR(parse_whole("MSG a 1 +5\r\n", 12, 4096, 100), e_size);
    TH_EQ_STR(parse_whole("MSG a 1 99999999999999999999999\r\n", 33, 4096, 100), e_size);
    TH_EQ_STR(parse_whole("MSG a 1 18446744073709551616\r\n", 30, 4096, (size_t)-1), e_size);
    TH_EQ_STR(parse_whole("MSG a 1 101\r\n", 13, 4096, 100), e_size);
    TH_EQ_STR(parse_whole("MSG a 1 100\r\n", 13, 4096, 100), "");        /* at the limit: waits */
    TH_EQ_STR(parse_whole("HMSG a 1 x 5\r\n", 14, 4096, 100), e_size);
    TH_EQ_STR(parse_whole("HMSG a 1 6 5\r\n", 14, 4096, 100), e_proto);
    TH_EQ_STR(parse_whole("MSG a x 5\r\n", 11, 4096, 100), e_proto);
    /* the size is a lie: the byte after the payload is not CRLF */
    TH_EQ_STR(PARSE("MSG a 1 3\r\nhello\r\n"), e_proto);
    TH_EQ_STR(PARSE("MSG a 1 7\r\nhello\r\nPING\r\n"), e_proto);
}

static void test_garbage(void)
{
    char e_proto[16];
    static const char bin[] = "\x01\x02\xff\xfe\r\n";
    snprintf(e_proto, sizeof e_proto, "E%d|", NP_ERR_PROTO);
    TH_EQ_STR(PARSE("FOO\r\n"), e_proto);
    TH_EQ_STR(PARSE("\r\n"), e_proto);
    TH_EQ_STR(PARSE("PINGX\r\n"), e_proto);
    TH_EQ_STR(PARSE("PING now\r\n"), e_proto);
    TH_EQ_STR(PARSE("INFO\r\n"), e_proto);
    TH_EQ_STR(PARSE("MSG\r\n"), e_proto);
    TH_EQ_STR(PARSE("MSG a\r\n"), e_proto);
    TH_EQ_STR(PARSE("MSG a b c d e 1\r\n"), e_proto);
    TH_EQ_STR(PARSE("HMSG a 1 2\r\n"), e_proto);
    TH_EQ_STR(PARSE("HMSG a 1 b c 2 3 4\r\n"), e_proto);
    TH_EQ_STR(PARSE(bin), e_proto);
    TH_EQ_STR(parse_whole("MSG a\0b 1 1\r\nx\r\n", 16, 4096, 100), e_proto);
    /* errors are sticky until np_reset */
    {
        np_event ev;
        size_t used;
        np_init(&P, linebuf, 4096, 100);
        TH_EQ_INT(np_feed(&P, "BAD\r\nPING\r\n", 11, &used, &ev), NP_ERR_PROTO);
        TH_EQ_INT(np_feed(&P, "PING\r\n", 6, &used, &ev), NP_ERR_PROTO);
        TH_EQ_INT(used, 0);
        TH_CHECK(strlen(np_why(&P)) > 0);
        np_reset(&P);
        TH_EQ_INT(np_feed(&P, "PING\r\n", 6, &used, &ev), NP_OK);
        TH_EQ_INT(ev.type, NP_EV_PING);
    }
}

/* ---- header blocks ---------------------------------------------------- */

static int status_of(const char *h, char *desc, size_t cap)
{
    int st = -1;
    const char *d;
    size_t dl;
    if (np_hdr_status(h, strlen(h), &st, &d, &dl) != NP_OK) return -1;
    if (dl >= cap) dl = cap - 1;
    memcpy(desc, d, dl);
    desc[dl] = 0;
    return st;
}

static void test_status(void)
{
    char d[64];
    TH_EQ_INT(status_of("NATS/1.0 503\r\n\r\n", d, sizeof d), 503);
    TH_EQ_STR(d, "");
    TH_EQ_INT(status_of("NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: 3\r\nNats-Last-Stream: 7\r\n\r\n", d, sizeof d), 100);
    TH_EQ_STR(d, "Idle Heartbeat");
    TH_EQ_INT(status_of("NATS/1.0 100 FlowControl Request\r\n\r\n", d, sizeof d), 100);
    TH_EQ_STR(d, "FlowControl Request");
    TH_EQ_INT(status_of("NATS/1.0 404 Message Not Found\r\n\r\n", d, sizeof d), 404);
    TH_EQ_STR(d, "Message Not Found");
    TH_EQ_INT(status_of("NATS/1.0 408 Request Timeout\r\n\r\n", d, sizeof d), 408);
    TH_EQ_STR(d, "Request Timeout");
    TH_EQ_INT(status_of("NATS/1.0  409   Consumer Deleted  \r\n\r\n", d, sizeof d), 409);
    TH_EQ_STR(d, "Consumer Deleted");
    TH_EQ_INT(status_of("NATS/1.0\r\nNats-Rollup: sub\r\n\r\n", d, sizeof d), 0);
    TH_EQ_INT(status_of("NATS/1.0 \r\n\r\n", d, sizeof d), 0);
    TH_EQ_INT(status_of("NATS/1.0 5x3\r\n\r\n", d, sizeof d), -1);
    TH_EQ_INT(status_of("NATS/1.0 50\r\n\r\n", d, sizeof d), -1);
    TH_EQ_INT(status_of("NATS/1.0 5034\r\n\r\n", d, sizeof d), -1);
    TH_EQ_INT(status_of("NATS/1.0503\r\n\r\n", d, sizeof d), -1);
    TH_EQ_INT(status_of("NATS/2.0\r\n\r\n", d, sizeof d), -1);
    TH_EQ_INT(status_of("NATS/1.0 503", d, sizeof d), -1);            /* unterminated */
    TH_EQ_INT(status_of("", d, sizeof d), -1);
}

static int get_hdr(const char *h, const char *name, int idx, char *out, size_t cap)
{
    const char *v;
    size_t vl;
    int rc = np_hdr_get(h, strlen(h), name, idx, &v, &vl);
    if (rc) return rc;
    if (vl >= cap) vl = cap - 1;
    memcpy(out, v, vl);
    out[vl] = 0;
    return 0;
}

static void test_header_lookup(void)
{
    const char *h = "NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: 3\r\nNats-Last-Stream:  7 \r\n"
                    "X-Multi: one\r\nx-multi:two\r\nEmpty:\r\nNoColonLine\r\n\r\nAfter: blank\r\n";
    char v[64];
    TH_EQ_INT(get_hdr(h, "Nats-Last-Consumer", 0, v, sizeof v), 0);
    TH_EQ_STR(v, "3");
    TH_EQ_INT(get_hdr(h, "nats-last-stream", 0, v, sizeof v), 0);
    TH_EQ_STR(v, "7");
    TH_EQ_INT(get_hdr(h, "X-MULTI", 0, v, sizeof v), 0);
    TH_EQ_STR(v, "one");
    TH_EQ_INT(get_hdr(h, "X-Multi", 1, v, sizeof v), 0);
    TH_EQ_STR(v, "two");
    TH_EQ_INT(get_hdr(h, "X-Multi", 2, v, sizeof v), NP_ERR_NOT_FOUND);
    TH_EQ_INT(get_hdr(h, "Empty", 0, v, sizeof v), 0);
    TH_EQ_STR(v, "");
    TH_EQ_INT(get_hdr(h, "Nats-Last", 0, v, sizeof v), NP_ERR_NOT_FOUND);   /* no prefix match */
    TH_EQ_INT(get_hdr(h, "After", 0, v, sizeof v), NP_ERR_NOT_FOUND);       /* past the block */
    TH_EQ_INT(get_hdr(h, "NATS/1.0 100 Idle Heartbeat", 0, v, sizeof v), NP_ERR_NOT_FOUND);
    TH_EQ_INT(get_hdr("NATS/1.0\r\nKV-Operation: PURGE\r\nNats-Rollup: sub\r\n\r\n", "kv-operation", 0, v, sizeof v), 0);
    TH_EQ_STR(v, "PURGE");
    TH_EQ_INT(get_hdr("garbage\r\nA: b\r\n\r\n", "A", 0, v, sizeof v), NP_ERR_NOT_FOUND);
    TH_EQ_INT(get_hdr("NATS/1.0\r\nA: unterminated", "A", 0, v, sizeof v), 0);
    TH_EQ_STR(v, "unterminated");
}

/* ---- framing ---------------------------------------------------------- */

static void test_framing(void)
{
    char out[256];
    size_t n;
    TH_EQ_INT(np_fmt_pub(out, sizeof out, "foo.bar", NULL, 5, &n), NP_OK);
    TH_EQ_STR(out, "PUB foo.bar 5\r\n");
    TH_EQ_INT(n, strlen(out));
    TH_EQ_INT(np_fmt_pub(out, sizeof out, "X", "", 0, &n), NP_OK);
    TH_EQ_STR(out, "PUB X 0\r\n");
    TH_EQ_INT(np_fmt_pub(out, sizeof out, "$JS.API.INFO", "_INBOX.a.b", 0, &n), NP_OK);
    TH_EQ_STR(out, "PUB $JS.API.INFO _INBOX.a.b 0\r\n");
    TH_EQ_INT(np_fmt_hpub(out, sizeof out, "FOO", NULL, 22, 33, &n), NP_OK);
    TH_EQ_STR(out, "HPUB FOO 22 33\r\n");
    TH_EQ_INT(np_fmt_hpub(out, sizeof out, "$KV.b.k", "_INBOX.x.1", 52, 79, &n), NP_OK);
    TH_EQ_STR(out, "HPUB $KV.b.k _INBOX.x.1 52 79\r\n");
    TH_EQ_INT(np_fmt_hpub(out, sizeof out, "FOO", NULL, 34, 33, &n), NP_ERR_ARG);
    TH_EQ_INT(np_fmt_sub(out, sizeof out, "_INBOX.abc.*", NULL, 1, &n), NP_OK);
    TH_EQ_STR(out, "SUB _INBOX.abc.* 1\r\n");
    TH_EQ_INT(np_fmt_sub(out, sizeof out, "work.>", "q1", 18446744073709551615ull, &n), NP_OK);
    TH_EQ_STR(out, "SUB work.> q1 18446744073709551615\r\n");
    TH_EQ_INT(np_fmt_unsub(out, sizeof out, 2, 0, &n), NP_OK);
    TH_EQ_STR(out, "UNSUB 2\r\n");
    TH_EQ_INT(np_fmt_unsub(out, sizeof out, 7, 1, &n), NP_OK);
    TH_EQ_STR(out, "UNSUB 7 1\r\n");
    TH_EQ_INT(np_fmt_ping(out, sizeof out, &n), NP_OK);
    TH_EQ_STR(out, "PING\r\n");
    TH_EQ_INT(np_fmt_pong(out, sizeof out, &n), NP_OK);
    TH_EQ_STR(out, "PONG\r\n");
    /* invalid subjects never reach the wire (no injection of a 2nd op) */
    TH_EQ_INT(np_fmt_pub(out, sizeof out, "a b", NULL, 1, &n), NP_ERR_ARG);
    TH_EQ_INT(np_fmt_pub(out, sizeof out, "a\r\nPUB x 0", NULL, 1, &n), NP_ERR_ARG);
    TH_EQ_INT(np_fmt_pub(out, sizeof out, "", NULL, 1, &n), NP_ERR_ARG);
    TH_EQ_INT(np_fmt_pub(out, sizeof out, "a", "r\tx", 1, &n), NP_ERR_ARG);
    TH_EQ_INT(np_fmt_sub(out, sizeof out, "a..b", NULL, 1, &n), NP_ERR_ARG);
    TH_EQ_INT(np_fmt_sub(out, sizeof out, "a", "q q", 1, &n), NP_ERR_ARG);
    TH_EQ_INT(np_subject_ok("a.b.c"), 1);
    TH_EQ_INT(np_subject_ok(".a"), 0);
    TH_EQ_INT(np_subject_ok("a."), 0);
    TH_EQ_INT(np_subject_ok("a\x7f"), 0);
    TH_EQ_INT(np_subject_ok("$O.b.M.MC40Mi4y"), 1);
    TH_EQ_INT(np_subject_ok("caf\xc3\xa9"), 1);
    TH_EQ_INT(np_subject_ok(NULL), 0);
    /* bounded: exact fit works, one byte short fails with "" */
    TH_EQ_INT(np_fmt_pub(out, 16, "foo.bar", NULL, 5, &n), NP_OK);   /* 15 + NUL */
    TH_EQ_INT(np_fmt_pub(out, 15, "foo.bar", NULL, 5, &n), NP_ERR_SPACE);
    TH_EQ_STR(out, "");
    TH_EQ_INT(n, 0);
    TH_EQ_INT(np_fmt_unsub(out, 0, 1, 0, &n), NP_ERR_SPACE);
}

static void test_connect(void)
{
    char out[512];
    size_t n;
    np_connect c;
    memset(&c, 0, sizeof c);
    c.name = "kanade";
    c.version = "0.1.0";
    TH_EQ_INT(np_fmt_connect(out, sizeof out, &c, &n), NP_OK);
    TH_EQ_STR(out, "CONNECT {\"verbose\":false,\"pedantic\":false,\"tls_required\":false,\"name\":\"kanade\","
              "\"lang\":\"c\",\"version\":\"0.1.0\",\"protocol\":1,\"headers\":true,\"no_responders\":true}\r\n");
    TH_EQ_INT(n, strlen(out));
    c.user = "a\"b";
    c.pass = "p\\w\n";
    c.tls_required = 1;
    TH_EQ_INT(np_fmt_connect(out, sizeof out, &c, &n), NP_OK);
    TH_CHECK(strstr(out, "\"user\":\"a\\\"b\",\"pass\":\"p\\\\w\\n\"}\r\n") != NULL);
    TH_CHECK(strstr(out, "\"tls_required\":true") != NULL);
    TH_CHECK(strstr(out, "auth_token") == NULL);
    memset(&c, 0, sizeof c);
    c.token = "s3cr3t";
    TH_EQ_INT(np_fmt_connect(out, sizeof out, &c, &n), NP_OK);
    TH_CHECK(strstr(out, "\"auth_token\":\"s3cr3t\"}\r\n") != NULL);
    TH_CHECK(strstr(out, "\"user\"") == NULL);
    TH_EQ_INT(np_fmt_connect(out, 60, &c, &n), NP_ERR_SPACE);
    TH_EQ_STR(out, "");
    /* The CONNECT line parses as JSON-ish text a server accepts: one line. */
    TH_CHECK(strchr(out, '\n') == NULL);
}

static int main_(void)
{
    TH_RUN(test_ops);
    TH_RUN(test_two_spaces);
    TH_RUN(test_event_fields);
    TH_RUN(test_skip_payload);
    TH_RUN(test_byte_at_a_time);
    TH_RUN(test_all_two_way_splits);
    TH_RUN(test_three_way_splits);
    TH_RUN(test_line_caps);
    TH_RUN(test_bad_sizes);
    TH_RUN(test_garbage);
    TH_RUN(test_status);
    TH_RUN(test_header_lookup);
    TH_RUN(test_framing);
    TH_RUN(test_connect);
    return th_summary("t_nats_proto");
}

TH_MAIN
