/*
** t_http_proto.c — the HTTP request parser (http_proto.c), natively under
** ASan/UBSan and under Wine: well-formed heads split at every byte, every
** refusal with its status, path tricks, query decoding, the bearer token
** and the keep-alive decision.
*/
#include <stdlib.h>
#include <string.h>
#include "th.h"
#include "http_proto.h"

static hp_request req;

/* Parses a whole NUL-terminated head in one call. */
static int parse(const char *s)
{
    size_t scan = 0;
    return hp_parse(s, strlen(s), &scan, &req);
}

static void t_simple_get(void)
{
    const char *s = "GET /api/agents?version=1.2.0&stale=true HTTP/1.1\r\nHost: x\r\n"
                    "Authorization: Bearer abc.DEF-_~+/=\r\n\r\n";
    TH_EQ_INT(parse(s), 0);
    TH_EQ_INT(req.method, HP_GET);
    TH_EQ_INT(req.minor, 1);
    TH_EQ_STR(req.path, "/api/agents");
    TH_EQ_STR(req.query, "version=1.2.0&stale=true");
    TH_EQ_INT(req.has_bearer, 1);
    TH_EQ_STR(req.bearer, "abc.DEF-_~+/=");
    TH_EQ_INT(req.keep_alive, 1);
    TH_EQ_INT(req.head_len, strlen(s));
    TH_EQ_INT(parse("HEAD / HTTP/1.0\n\n"), 0);             /* bare LF lines */
    TH_EQ_INT(req.method, HP_HEAD);
    TH_EQ_INT(req.keep_alive, 0);
    TH_EQ_STR(req.path, "/");
    TH_EQ_STR(req.query, "");
    TH_EQ_INT(req.has_bearer, 0);
}

/* Every split point gives HP_MORE until the last byte, then the same
** request; bytes after the head (a pipelined request) are not consumed. */
static void t_incremental(void)
{
    const char *s = "GET /api/agents/PC-1 HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\n\r\nGET /x";
    size_t head = strlen(s) - 6, n, scan = 0;
    for (n = 0; n < head; n++) {
        TH_EQ_INT(hp_parse(s, n, &scan, &req), HP_MORE);
        TH_CHECK(scan <= n);
    }
    TH_EQ_INT(hp_parse(s, head, &scan, &req), 0);
    TH_EQ_STR(req.path, "/api/agents/PC-1");
    TH_EQ_INT(req.head_len, head);
    scan = 0;
    TH_EQ_INT(hp_parse(s, strlen(s), &scan, &req), 0);
    TH_EQ_INT(req.head_len, head);
}

static void t_methods(void)
{
    TH_EQ_INT(parse("POST /api/agents HTTP/1.1\r\nHost: h\r\n\r\n"), 405);
    TH_EQ_INT(parse("DELETE / HTTP/1.1\r\nHost: h\r\n\r\n"), 405);
    TH_EQ_INT(parse("get / HTTP/1.1\r\nHost: h\r\n\r\n"), 405);   /* methods are case-sensitive */
    TH_EQ_INT(parse("G(T / HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
    TH_EQ_INT(parse("POST /../x HTTP/1.1\r\nHost: h\r\n\r\n"), 400); /* malformed beats 405 */
    TH_EQ_INT(parse("ABCDEFGHIJKLMNOPQ / HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
}

static void t_versions(void)
{
    TH_EQ_INT(parse("GET / HTTP/2.0\r\n\r\n"), 505);
    TH_EQ_INT(parse("GET / HTTP/1.2\r\n\r\n"), 505);
    TH_EQ_INT(parse("GET / HTTP/1.1\r\n\r\n"), 400);             /* no Host */
    TH_EQ_INT(parse("GET / HTTP/1.0\r\n\r\n"), 0);
    TH_EQ_INT(parse("GET / HTTP/1\r\n\r\n"), 400);
    TH_EQ_INT(parse("GET / http/1.1\r\nHost: h\r\n\r\n"), 400);
    TH_EQ_INT(parse("GET /\r\n\r\n"), 400);                      /* HTTP/0.9 */
    TH_EQ_INT(parse("GET  / HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
    TH_EQ_INT(parse("GET / HTTP/1.1 \r\nHost: h\r\n\r\n"), 400);
}

static void t_paths(void)
{
    static const char *bad[] = {
        "/..", "/../etc/passwd", "/a/../b", "/%2e%2e/x", "/%2E%2e/x", "/%2e%2E", "/.%2e/",
        "/%2e./", "/a\\b", "/%5c", "/%5Cwindows", "/a%00b", "/%0a", "/%", "/%4", "/%zz",
        "/%7f", "api", "*", "http://host/", "/a#frag", "/\x01", "/\xc3\xa9",
    };
    static const char *good[] = { "/", "/api/agents", "/%41pi", "/a.b/c.d", "/.x", "/a-b_c~d" };
    char buf[256];
    size_t i;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(buf, sizeof buf, "GET %s HTTP/1.1\r\nHost: h\r\n\r\n", bad[i]);
        if (parse(buf) != 400) { th_cur_failed++; fprintf(stderr, "  FAIL path %s not refused\n", bad[i]); }
    }
    for (i = 0; i < sizeof good / sizeof good[0]; i++) {
        snprintf(buf, sizeof buf, "GET %s HTTP/1.1\r\nHost: h\r\n\r\n", good[i]);
        if (parse(buf) != 0) { th_cur_failed++; fprintf(stderr, "  FAIL path %s refused\n", good[i]); }
    }
    TH_EQ_INT(parse("GET /%41pi HTTP/1.0\r\n\r\n"), 0);
    TH_EQ_STR(req.path, "/Api");
    /* A NUL byte in the raw request line. */
    {
        const char raw[] = "GET /a\0b HTTP/1.0\r\n\r\n";
        size_t scan = 0;
        TH_EQ_INT(hp_parse(raw, sizeof raw - 1, &scan, &req), 400);
    }
    /* The query may hold dots and escapes: only the path is a path. */
    TH_EQ_INT(parse("GET /api/agents?version=1.2.0..x&group=%2e%2e HTTP/1.0\r\n\r\n"), 0);
    TH_EQ_STR(req.query, "version=1.2.0..x&group=%2e%2e");
}

static void t_limits(void)
{
    static char big[HP_MAX_HEAD + 64];
    size_t scan = 0, n;
    /* Exactly HP_MAX_HEAD bytes is fine; one more is 431. */
    n = (size_t)snprintf(big, sizeof big, "GET / HTTP/1.0\r\nX: ");
    memset(big + n, 'a', HP_MAX_HEAD - n - 4);
    memcpy(big + HP_MAX_HEAD - 4, "\r\n\r\n", 4);
    TH_EQ_INT(hp_parse(big, HP_MAX_HEAD, &scan, &req), 0);
    memmove(big + 20, big + 19, HP_MAX_HEAD - 19);
    scan = 0;
    TH_EQ_INT(hp_parse(big, HP_MAX_HEAD + 1, &scan, &req), 431);
    /* No end in sight at the limit: 431 without waiting for more. */
    memset(big, 'a', sizeof big);
    scan = 0;
    TH_EQ_INT(hp_parse(big, HP_MAX_HEAD - 1, &scan, &req), HP_MORE);
    TH_EQ_INT(hp_parse(big, HP_MAX_HEAD, &scan, &req), 431);
    /* Target over HP_MAX_TARGET: 414. */
    n = (size_t)snprintf(big, sizeof big, "GET /");
    memset(big + n, 'b', HP_MAX_TARGET);
    snprintf(big + n + HP_MAX_TARGET, sizeof big - n - HP_MAX_TARGET, " HTTP/1.0\r\n\r\n");
    TH_EQ_INT(parse(big), 414);
    memcpy(big + n + HP_MAX_TARGET - 1, " HTTP/1.0\r\n\r\n", sizeof " HTTP/1.0\r\n\r\n");
    TH_EQ_INT(parse(big), 0);
}

static void t_headers(void)
{
    TH_EQ_INT(parse("GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n"), 400);
    TH_EQ_INT(parse("GET / HTTP/1.1\r\nHost : h\r\n\r\n"), 400);
    TH_EQ_INT(parse("GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n"), 400);
    TH_EQ_INT(parse("GET / HTTP/1.1\r\nHost: h\r\nHost: i\r\n\r\n"), 400);
    TH_EQ_INT(parse("GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n"), 400);
    TH_EQ_INT(parse("GET / HTTP/1.1\r\nHost: h\r\nX: a\x01\r\n\r\n"), 400);
    TH_EQ_INT(parse("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"), 400);
    TH_EQ_INT(parse("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n"), 0);
    TH_EQ_INT(parse("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\ncontent-length: 0\r\n\r\n"), 400);
    TH_EQ_INT(parse("GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"), 400);
    TH_EQ_INT(parse("GET / HTTP/1.1\r\nHost: h\r\nX-Unknown: \xc3\xa9\t\r\n\r\n"), 0);
}

static void t_keepalive(void)
{
    TH_EQ_INT(parse("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"), 0);
    TH_EQ_INT(req.keep_alive, 0);
    TH_EQ_INT(parse("GET / HTTP/1.1\r\nHost: h\r\nconnection: Upgrade, CLOSE\r\n\r\n"), 0);
    TH_EQ_INT(req.keep_alive, 0);
    TH_EQ_INT(parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"), 0);
    TH_EQ_INT(req.keep_alive, 1);
    TH_EQ_INT(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive, close\r\n\r\n"), 0);
    TH_EQ_INT(req.keep_alive, 0);
}

static void t_bearer(void)
{
    static char big[HP_MAX_TOKEN + 128];
    size_t n;
    TH_EQ_INT(parse("GET / HTTP/1.0\r\nAuthorization: bearer   tok\r\n\r\n"), 0);
    TH_EQ_INT(req.has_bearer, 1);
    TH_EQ_STR(req.bearer, "tok");
    TH_EQ_INT(parse("GET / HTTP/1.0\r\nAuthorization: Basic dXNlcjpw\r\n\r\n"), 0);
    TH_EQ_INT(req.has_bearer, 0);
    TH_EQ_INT(parse("GET / HTTP/1.0\r\nAuthorization: Bearer\r\n\r\n"), 0);
    TH_EQ_INT(req.has_bearer, 0);
    TH_EQ_INT(parse("GET / HTTP/1.0\r\nAuthorization: Bearer a b\r\n\r\n"), 0);
    TH_EQ_INT(req.has_bearer, 0);
    TH_EQ_INT(parse("GET / HTTP/1.0\r\nAuthorization: Bearer a\r\nAuthorization: Bearer a\r\n\r\n"), 400);
    n = (size_t)snprintf(big, sizeof big, "GET / HTTP/1.0\r\nAuthorization: Bearer ");
    memset(big + n, 'k', HP_MAX_TOKEN + 1);
    snprintf(big + n + HP_MAX_TOKEN + 1, sizeof big - n - HP_MAX_TOKEN - 1, "\r\n\r\n");
    TH_EQ_INT(parse(big), 0);
    TH_EQ_INT(req.has_bearer, 1);
    TH_EQ_INT(req.bearer_too_long, 1);
    TH_EQ_STR(req.bearer, "");
    TH_EQ_INT(hp_token_eq("secret", "secret"), 1);
    TH_EQ_INT(hp_token_eq("secreT", "secret"), 0);
    TH_EQ_INT(hp_token_eq("secret1", "secret"), 0);
    TH_EQ_INT(hp_token_eq("secre", "secret"), 0);
    TH_EQ_INT(hp_token_eq("", ""), 0);
    TH_EQ_INT(hp_token_eq("", "x"), 0);
}

static void t_query(void)
{
    char v[16];
    const char *q = "version=1.2.0&state=failed&group=site%20a&stale=true&g2=a+b&flag&e=";
    TH_EQ_INT(hp_query_get(q, "version", v, sizeof v), 0);
    TH_EQ_STR(v, "1.2.0");
    TH_EQ_INT(hp_query_get(q, "group", v, sizeof v), 0);
    TH_EQ_STR(v, "site a");
    TH_EQ_INT(hp_query_get(q, "g2", v, sizeof v), 0);
    TH_EQ_STR(v, "a b");
    TH_EQ_INT(hp_query_get(q, "flag", v, sizeof v), 0);
    TH_EQ_STR(v, "");
    TH_EQ_INT(hp_query_get(q, "e", v, sizeof v), 0);
    TH_EQ_STR(v, "");
    TH_EQ_INT(hp_query_get(q, "stat", v, sizeof v), 1);        /* prefix is not a match */
    TH_EQ_INT(hp_query_get(q, "missing", v, sizeof v), 1);
    TH_EQ_INT(hp_query_get("", "x", v, sizeof v), 1);
    TH_EQ_INT(hp_query_get("x=%zz", "x", v, sizeof v), -1);
    TH_EQ_STR(v, "");
    TH_EQ_INT(hp_query_get("x=%", "x", v, sizeof v), -1);
    TH_EQ_INT(hp_query_get("x=a%00", "x", v, sizeof v), -1);
    TH_EQ_INT(hp_query_get("x=0123456789abcdef", "x", v, sizeof v), -1); /* does not fit */
    TH_EQ_INT(hp_query_get("x=0123456789abcde", "x", v, sizeof v), 0);
    TH_EQ_INT(hp_query_get("x=1&x=2", "x", v, sizeof v), 0);
    TH_EQ_STR(v, "1");
}

static void t_reason(void)
{
    TH_EQ_STR(hp_reason(431), "Request Header Fields Too Large");
    TH_EQ_STR(hp_reason(503), "Service Unavailable");
    TH_EQ_STR(hp_reason(999), "Error");
}

/* Random bytes, whole and split at a random point: never a crash, and the
** split parse agrees with the whole one. */
static void t_random(void)
{
    static char buf[512];
    hp_request a;
    int i;
    srand(7);
    for (i = 0; i < 20000; i++) {
        size_t n = (size_t)(rand() % (int)sizeof buf), k, cut, scan = 0, scan2 = 0;
        int r1, r2;
        static const char alpha[] = "GET HEAD/ .%2e\\\r\n:HTTP/1.1Host:x?=&";
        for (k = 0; k < n; k++)
            buf[k] = (rand() % 4) ? alpha[rand() % (int)(sizeof alpha - 1)] : (char)rand();
        r1 = hp_parse(buf, n, &scan, &a);
        cut = n ? (size_t)rand() % n : 0;
        r2 = hp_parse(buf, cut, &scan2, &req);
        if (r2 == HP_MORE) r2 = hp_parse(buf, n, &scan2, &req);
        TH_EQ_INT(r1, r2);
        if (r1 == 0) TH_CHECK(strstr(a.path, "..") == NULL && a.path[0] == '/');
    }
}

static int main_(void)
{
    TH_RUN(t_simple_get);
    TH_RUN(t_incremental);
    TH_RUN(t_methods);
    TH_RUN(t_versions);
    TH_RUN(t_paths);
    TH_RUN(t_limits);
    TH_RUN(t_headers);
    TH_RUN(t_keepalive);
    TH_RUN(t_bearer);
    TH_RUN(t_query);
    TH_RUN(t_reason);
    TH_RUN(t_random);
    return th_summary("t_http_proto");
}

TH_MAIN
