/*
** fuzz_nats_proto.c — libFuzzer target for the NATS protocol parser.
**
** Input: two control bytes, then server bytes. Byte 0 picks the line
** buffer size (INFO cap), byte 1 the chunk pattern. The bytes are parsed
** twice, whole and in chunks; every event (and the final error) must be
** identical both ways — the "split at any byte" property — and every
** event must respect its bounds. HMSG header blocks are run through the
** header helpers, and framing is exercised with subjects from the input.
*/
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "nats_proto.h"

#define MAX_PAY 65536

static char line_a[9000], line_b[9000];
static unsigned char pay_a[MAX_PAY], pay_b[MAX_PAY];

typedef struct digest { uint64_t h; unsigned events; } digest;

static void mix(digest *d, const void *p, size_t n)
{
    const unsigned char *b = (const unsigned char *)p;
    size_t i;
    for (i = 0; i < n; i++) d->h = (d->h ^ b[i]) * 1099511628211ULL;
}

static void mix_u(digest *d, uint64_t v) { mix(d, &v, sizeof v); }

/* Header helpers on a finished HMSG payload; results go into the digest. */
static void check_headers(digest *d, const unsigned char *hdr, size_t len)
{
    int st = -1, i;
    const char *desc = NULL, *v = NULL;
    size_t dl = 0, vl = 0;
    static const char *names[] = { "Nats-Last-Stream", "nats-last-consumer", "KV-Operation", "a", "" };
    int rc = np_hdr_status((const char *)hdr, len, &st, &desc, &dl);
    mix_u(d, (uint64_t)rc);
    if (rc == NP_OK) {
        if (st < 0 || st > 999 || desc < (const char *)hdr || desc + dl > (const char *)hdr + len) abort();
        mix_u(d, (uint64_t)st);
        mix(d, desc, dl);
    }
    for (i = 0; i < 5; i++) {
        int k;
        for (k = 0; k < 3; k++) {
            rc = np_hdr_get((const char *)hdr, len, names[i], k, &v, &vl);
            mix_u(d, (uint64_t)rc);
            if (rc == NP_OK) {
                if (v < (const char *)hdr || v + vl > (const char *)hdr + len) abort();
                mix(d, v, vl);
            }
        }
    }
}

/*
** Parses data[0..size) in chunks following `pattern` (0 = whole) and
** returns a digest of every event and the final status.
*/
static digest run(const uint8_t *data, size_t size, size_t line_size, unsigned pattern,
                  char *line, unsigned char *pay)
{
    np_parser p;
    digest d = { 1469598103934665603ULL, 0 };
    size_t off = 0, step = 0, cur_total = 0;
    int rc = NP_OK, in_msg = 0, cur_hmsg = 0;
    size_t cur_hdr = 0;
    np_init(&p, line, line_size, MAX_PAY);
    while (off < size && rc == NP_OK) {
        size_t chunk = pattern == 0 ? size - off : 1 + (step++ * pattern) % 97;
        size_t end, pos;
        if (chunk > size - off) chunk = size - off;
        end = off + chunk;
        pos = off;
        while (pos < end) {
            np_event ev;
            size_t used = 0;
            rc = np_feed(&p, data + pos, end - pos, &used, &ev);
            if (used > end - pos) abort();
            pos += used;
            if (rc != NP_OK) {
                np_event ev2;
                size_t used2 = 1;
                /* sticky: the same error, nothing consumed */
                if (np_feed(&p, data, size, &used2, &ev2) != rc || used2 != 0) abort();
                if (!np_why(&p)[0]) abort();
                break;
            }
            if (ev.type == NP_EV_NONE) {
                if (pos != end) abort();
                break;
            }
            d.events++;
            mix_u(&d, (uint64_t)ev.type);
            switch (ev.type) {
            case NP_EV_MSG:
                if (in_msg || ev.total_len > MAX_PAY || ev.hdr_len > ev.total_len) abort();
                if (!ev.subject || strlen(ev.subject) == 0 || strlen(ev.subject) > NP_MAX_LINE) abort();
                if (ev.subject < line || ev.subject >= line + line_size) abort();
                mix(&d, ev.subject, strlen(ev.subject));
                mix_u(&d, ev.sid);
                if (ev.reply) mix(&d, ev.reply, strlen(ev.reply) + 1);
                mix_u(&d, ev.hdr_len);
                mix_u(&d, ev.total_len);
                memset(pay, 0xAA, ev.total_len);
                np_set_dest(&p, pay);
                in_msg = 1;
                cur_total = ev.total_len;
                cur_hdr = ev.hdr_len;
                cur_hmsg = ev.is_hmsg;
                break;
            case NP_EV_MSG_END:
                if (!in_msg || ev.total_len != cur_total) abort();
                mix(&d, pay, cur_total);
                if (cur_hmsg) check_headers(&d, pay, cur_hdr);
                in_msg = 0;
                break;
            case NP_EV_INFO:
            case NP_EV_ERR:
                if (in_msg || !ev.text || strlen(ev.text) != ev.text_len || ev.text_len > line_size) abort();
                mix(&d, ev.text, ev.text_len);
                break;
            default:
                if (in_msg) abort();
            }
        }
        off = end;
    }
    mix_u(&d, (uint64_t)rc);
    return d;
}

/* Framing with a subject taken from the input must never overflow or emit CR/LF. */
static void framing(const uint8_t *data, size_t size)
{
    char subj[64], out[160];
    size_t n = size < sizeof subj - 1 ? size : sizeof subj - 1, len = 0;
    memcpy(subj, data, n);
    subj[n] = 0;
    if (np_fmt_pub(out, sizeof out, subj, subj, n, &len) == NP_OK) {
        if (len >= sizeof out || strlen(out) != len || len < 2 || out[len - 2] != '\r' || out[len - 1] != '\n') abort();
        if (memchr(out, '\n', len - 1) || memchr(out, '\r', len - 2)) abort();
        if (!np_subject_ok(subj)) abort();
    }
    if (np_fmt_sub(out, 24, subj, NULL, 1, &len) == NP_OK && (len >= 24 || strlen(out) != len)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t line_size;
    unsigned pattern;
    digest whole, split;
    if (size < 2) return 0;
    line_size = 64 + (size_t)(data[0] % 9) * 1000;          /* 64 .. 8064 */
    pattern = 1 + data[1] % 31;
    framing(data + 2, size - 2);
    whole = run(data + 2, size - 2, line_size, 0, line_a, pay_a);
    split = run(data + 2, size - 2, line_size, pattern, line_b, pay_b);
    if (whole.h != split.h || whole.events != split.events) abort();
    return 0;
}
