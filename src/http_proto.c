/*
** http_proto.c — HTTP/1.x request parser. See http_proto.h.
**
** The head is parsed only once its end (an empty line) has been seen, so
** a request split at any byte parses exactly like the whole one, and the
** parser needs no state beyond the scan offset. Everything that is not
** plainly what a browser or curl sends is refused rather than interpreted:
** a lenient parser in front of a token check is where request smuggling and
** path tricks live.
*/
#include <string.h>
#include "http_proto.h"

static int lower(int c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

/* Case-insensitive compare of [s, s+n) with the NUL-terminated word w. */
static int ieq(const char *s, size_t n, const char *w)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (!w[i] || lower((unsigned char)s[i]) != lower((unsigned char)w[i])) return 0;
    return w[n] == 0;
}

/* RFC 9110 tchar: the bytes of a method or a header name. */
static int is_tchar(int c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return 1;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    c = lower(c);
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* Percent-decodes [s, s+n) into out[cap]; plus_space turns '+' into ' '.
** Returns the decoded length, or -1 for a bad escape, a decoded NUL or
** no room (out always ends in a NUL when cap > 0). */
static long pct_decode(const char *s, size_t n, char *out, size_t cap, int plus_space)
{
    size_t i, o = 0;
    if (cap == 0) return -1;
    out[0] = 0;
    for (i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            int h, l;
            if (i + 2 >= n) { out[0] = 0; return -1; }
            h = hexval((unsigned char)s[i + 1]);
            l = hexval((unsigned char)s[i + 2]);
            if (h < 0 || l < 0) { out[0] = 0; return -1; }
            c = h * 16 + l;
            i += 2;
        } else if (c == '+' && plus_space) {
            c = ' ';
        }
        if (c == 0 || o + 1 >= cap) { out[0] = 0; return -1; }
        out[o++] = (char)c;
    }
    out[o] = 0;
    return (long)o;
}

/* 1 when [s, s+n) holds "..", a backslash or a control byte. */
static int bad_path_bytes(const char *s, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f || c == '\\') return 1;
        if (c == '.' && i + 1 < n && s[i + 1] == '.') return 1;
    }
    return 0;
}

/* Finds the end of the head (just past the empty line) from *scan on.
** Returns its length, 0 while it is not there yet. */
static size_t find_end(const char *buf, size_t len, size_t *scan)
{
    size_t i;
    for (i = *scan; i < len; i++) {
        if (buf[i] != '\n') continue;
        if (i + 1 >= len) break;                        /* cannot tell yet */
        if (buf[i + 1] == '\n') return i + 2;
        if (buf[i + 1] == '\r') {
            if (i + 2 >= len) break;
            if (buf[i + 2] == '\n') return i + 3;
        }
    }
    *scan = i;
    return 0;
}

/* Request target: path and query, validated and split. 0 or a status. */
static int parse_target(const char *t, size_t n, hp_request *req)
{
    size_t i, plen;
    const char *q;
    if (n > HP_MAX_TARGET) return 414;
    if (n == 0 || t[0] != '/') return 400;          /* origin-form only */
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)t[i];
        if (c <= 0x20 || c >= 0x7f || c == '#') return 400;
    }
    q = memchr(t, '?', n);
    plen = q ? (size_t)(q - t) : n;
    if (bad_path_bytes(t, plen)) return 400;
    if (pct_decode(t, plen, req->path, sizeof req->path, 0) < 0) return 400;
    if (bad_path_bytes(req->path, strlen(req->path))) return 400;
    if (q) {
        size_t qn = n - plen - 1;
        memcpy(req->query, q + 1, qn);
        req->query[qn] = 0;
    }
    return 0;
}

/* Request line: METHOD SP target SP HTTP/1.x. 0, 405 (only a well-formed
** line with another method) or another status. */
static int parse_request_line(const char *s, size_t n, hp_request *req)
{
    const char *sp1 = memchr(s, ' ', n), *sp2, *v;
    size_t mlen, vlen, i;
    int st, other = 0;
    if (!sp1) return 400;
    mlen = (size_t)(sp1 - s);
    if (mlen == 0 || mlen > 16) return 400;
    for (i = 0; i < mlen; i++) if (!is_tchar((unsigned char)s[i])) return 400;
    if (mlen == 3 && memcmp(s, "GET", 3) == 0) req->method = HP_GET;
    else if (mlen == 4 && memcmp(s, "HEAD", 4) == 0) req->method = HP_HEAD;
    else other = 1;
    sp2 = memchr(sp1 + 1, ' ', n - mlen - 1);
    if (!sp2) return 400;
    v = sp2 + 1;
    vlen = n - (size_t)(v - s);
    if (vlen != 8 || memcmp(v, "HTTP/", 5) != 0 || v[6] != '.' ||
        v[5] < '0' || v[5] > '9' || v[7] < '0' || v[7] > '9') return 400;
    if (v[5] != '1' || (v[7] != '0' && v[7] != '1')) return 505;
    req->minor = v[7] - '0';
    st = parse_target(sp1 + 1, (size_t)(sp2 - sp1 - 1), req);
    if (st) return st;
    return other ? 405 : 0;
}

/* Authorization value: "Bearer" 1*SP token68. Other schemes are kept as
** "no bearer" so the server answers 401, not 400. */
static void parse_auth(const char *v, size_t n, hp_request *req)
{
    size_t i = 6, tl;
    if (n < 7 || !ieq(v, 6, "bearer") || v[6] != ' ') return;
    while (i < n && v[i] == ' ') i++;
    tl = n - i;
    if (tl == 0) return;
    for (; i < n; i++) {
        int c = (unsigned char)v[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr("-._~+/=", c))) return;
    }
    req->has_bearer = 1;
    if (tl > HP_MAX_TOKEN) { req->bearer_too_long = 1; return; }
    memcpy(req->bearer, v + n - tl, tl);
    req->bearer[tl] = 0;
}

/* Connection: a comma-separated list of tokens. */
static void parse_connection(const char *v, size_t n, int *close, int *keep)
{
    size_t i = 0;
    while (i < n) {
        size_t s, e;
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ',')) i++;
        s = i;
        while (i < n && v[i] != ',') i++;
        e = i;
        while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t')) e--;
        if (ieq(v + s, e - s, "close")) *close = 1;
        else if (ieq(v + s, e - s, "keep-alive")) *keep = 1;
    }
}

typedef struct hdr_seen { int host, clen, auth, close, keep; } hdr_seen;

/* One header line (CR already stripped). 0 or 400. */
static int parse_header(const char *s, size_t n, hp_request *req, hdr_seen *seen)
{
    const char *colon = memchr(s, ':', n), *v, *e;
    size_t nl, i;
    if (!colon || colon == s) return 400;            /* also obs-fold: no name */
    nl = (size_t)(colon - s);
    for (i = 0; i < nl; i++) if (!is_tchar((unsigned char)s[i])) return 400;
    v = colon + 1;
    e = s + n;
    for (i = 0; v + i < e; i++) {
        unsigned char c = (unsigned char)v[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f) return 400;
    }
    while (v < e && (*v == ' ' || *v == '\t')) v++;
    while (e > v && (e[-1] == ' ' || e[-1] == '\t')) e--;
    if (ieq(s, nl, "host")) {
        if (seen->host++) return 400;
    } else if (ieq(s, nl, "content-length")) {
        /* GET/HEAD with a body: refused, so nothing unread is left behind
        ** to be taken for the next request. */
        if (seen->clen++ || e == v) return 400;
        for (; v < e; v++) if (*v != '0') return 400;
    } else if (ieq(s, nl, "transfer-encoding")) {
        return 400;
    } else if (ieq(s, nl, "authorization")) {
        if (seen->auth++) return 400;
        parse_auth(v, (size_t)(e - v), req);
    } else if (ieq(s, nl, "connection")) {
        parse_connection(v, (size_t)(e - v), &seen->close, &seen->keep);
    }
    return 0;
}

/* see http_proto.h */
int hp_parse(const char *buf, size_t len, size_t *scan, hp_request *req)
{
    size_t end, pos = 0;
    int line = 0, st = 0, method_st = 0;
    hdr_seen seen = { 0, 0, 0, 0, 0 };

    end = find_end(buf, len, scan);
    if (end == 0) return len >= HP_MAX_HEAD ? 431 : HP_MORE;
    if (end > HP_MAX_HEAD) return 431;
    memset(req, 0, sizeof *req);
    while (pos < end) {
        const char *s = buf + pos, *nlp = memchr(s, '\n', end - pos);
        size_t n = (size_t)(nlp - s);
        pos += n + 1;
        if (n > 0 && s[n - 1] == '\r') n--;
        if (memchr(s, '\r', n)) return 400;          /* a bare CR inside a line */
        if (line++ == 0) {
            st = parse_request_line(s, n, req);
            if (st == 405) method_st = 405;
            else if (st) return st;
        } else if (n == 0) {
            break;                                   /* the empty line: end of head */
        } else if ((st = parse_header(s, n, req, &seen)) != 0) {
            return st;
        }
    }
    if (req->minor == 1 && seen.host == 0) return 400;  /* RFC 9112: Host is required */
    if (method_st) return method_st;
    req->head_len = end;
    req->keep_alive = req->minor == 1 ? !seen.close : (seen.keep && !seen.close);
    return 0;
}

/* see http_proto.h */
int hp_query_get(const char *query, const char *name, char *out, size_t cap)
{
    const char *p = query;
    size_t nl = strlen(name);
    if (cap) out[0] = 0;
    while (p && *p) {
        const char *amp = strchr(p, '&');
        size_t n = amp ? (size_t)(amp - p) : strlen(p);
        if (n >= nl && memcmp(p, name, nl) == 0 && (n == nl || p[nl] == '=')) {
            size_t off = n == nl ? nl : nl + 1;
            return pct_decode(p + off, n - off, out, cap, 1) < 0 ? -1 : 0;
        }
        p = amp ? amp + 1 : NULL;
    }
    return 1;
}

/* see http_proto.h */
int hp_token_eq(const char *presented, const char *expected)
{
    size_t lp = strlen(presented), le = strlen(expected), i;
    unsigned diff = lp != le;
    if (le == 0) return 0;
    for (i = 0; i < le; i++) {
        unsigned char a = i < lp ? (unsigned char)presented[i] : 0;
        diff |= (unsigned)(a ^ (unsigned char)expected[i]);
    }
    return diff == 0;
}

/* see http_proto.h */
const char *hp_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Error";
    }
}
