/*
** url.c — broker URL lists: redaction and plaintext detection (see url.h).
** The grammar follows the client's own parser (nats_glue.c): an optional
** scheme, userinfo up to the LAST '@', then host[:port] or [v6]:port.
*/
#include <string.h>
#include "url.h"

/* Appends [s, s+n) to out at *len, cut at cap-1. 1 when something was cut. */
static int put(char *out, size_t cap, size_t *len, const char *s, size_t n)
{
    size_t room = cap - 1 - *len;
    int cut = n > room;
    if (cut) n = room;
    memcpy(out + *len, s, n);
    *len += n;
    out[*len] = 0;
    return cut;
}

static int ieq_prefix(const char *s, const char *end, const char *pre)
{
    size_t n = strlen(pre), i;
    if ((size_t)(end - s) < n) return 0;
    for (i = 0; i < n; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
        if (c != pre[i]) return 0;
    }
    return 1;
}

/* Length of the scheme prefix ("nats://", "tls://") of [u, end), or 0. */
static size_t scheme_len(const char *u, const char *end, int *tls)
{
    *tls = 0;
    if (ieq_prefix(u, end, "nats://")) return 7;
    if (ieq_prefix(u, end, "tls://")) { *tls = 1; return 6; }
    return 0;
}

/* The userinfo's end ('@') in [p, end): the last '@', as the client reads
** it; NULL when there is none. */
static const char *last_at(const char *p, const char *end)
{
    const char *at = NULL;
    for (; p < end; p++) if (*p == '@') at = p;
    return at;
}

/* Redacts one URL [u, end) into out. */
static int redact_one(const char *u, const char *end, char *out, size_t cap, size_t *len)
{
    int tls, cut = 0;
    size_t sl = scheme_len(u, end, &tls);
    const char *p = u + sl, *at = last_at(p, end), *colon;
    cut |= put(out, cap, len, u, sl);
    if (at) {
        colon = memchr(p, ':', (size_t)(at - p));
        if (colon) {
            cut |= put(out, cap, len, p, (size_t)(colon + 1 - p));
            cut |= put(out, cap, len, URL_REDACTED, strlen(URL_REDACTED));
        } else {
            cut |= put(out, cap, len, URL_REDACTED, strlen(URL_REDACTED));
        }
        p = at;                               /* '@' and the host follow */
    }
    cut |= put(out, cap, len, p, (size_t)(end - p));
    return cut;
}

int url_redact(const char *in, char *out, size_t cap)
{
    size_t len = 0;
    int cut = 0;
    if (!out || cap == 0) return 1;
    out[0] = 0;
    if (!in) return 0;
    while (*in && !cut) {
        const char *e = strchr(in, ',');
        if (!e) e = in + strlen(in);
        cut |= redact_one(in, e, out, cap, &len);
        if (*e && !cut) cut |= put(out, cap, &len, ",", 1);
        in = *e ? e + 1 : e;
    }
    return cut;
}

/* 1 when [h, he) is a dotted IPv4 address in 127.0.0.0/8. */
static int is_127(const char *h, const char *he)
{
    int parts = 0, digits = 0;
    unsigned v = 0;
    if (!ieq_prefix(h, he, "127.")) return 0;
    for (; h <= he; h++) {
        if (h == he || *h == '.') {
            if (!digits || v > 255) return 0;
            parts++;
            digits = 0;
            v = 0;
            if (h == he) break;
        } else if (*h >= '0' && *h <= '9' && digits < 3) {
            v = v * 10 + (unsigned)(*h - '0');
            digits++;
        } else {
            return 0;
        }
    }
    return parts == 4;
}

int url_is_loopback(const char *u, const char *end)
{
    int tls;
    const char *p, *at, *h, *he;
    while (u < end && (*u == ' ' || *u == '\t')) u++;
    while (end > u && (end[-1] == ' ' || end[-1] == '\t')) end--;
    p = u + scheme_len(u, end, &tls);
    at = last_at(p, end);
    if (at) p = at + 1;
    if (p < end && *p == '[') {
        h = p + 1;
        for (he = h; he < end && *he != ']'; he++) {}
        if (he == end) return 0;
    } else {
        h = p;
        for (he = p; he < end && *he != ':' && *he != '/'; he++) {}
    }
    if ((size_t)(he - h) == 9 && ieq_prefix(h, he, "localhost")) return 1;
    if ((size_t)(he - h) == 3 && memcmp(h, "::1", 3) == 0) return 1;
    return is_127(h, he);
}

int url_plaintext_remote(const char *list, int has_ca, char *first, size_t cap)
{
    const char *p = list ? list : "";
    if (first && cap) first[0] = 0;
    if (has_ca) return 0;
    while (*p) {
        const char *e = strchr(p, ',');
        int tls;
        if (!e) e = p + strlen(p);
        while (p < e && (*p == ' ' || *p == '\t')) p++;
        scheme_len(p, e, &tls);
        if (p < e && !tls && !url_is_loopback(p, e)) {
            if (first && cap) {
                size_t len = 0;
                const char *t = e;
                while (t > p && (t[-1] == ' ' || t[-1] == '\t')) t--;
                redact_one(p, t, first, cap, &len);
            }
            return 1;
        }
        p = *e ? e + 1 : e;
    }
    return 0;
}
