/*
** http_proto.h — the request side of HTTP/1.x for `kanade serve`, without
** I/O: finding the end of a request head in bytes that arrive in pieces,
** parsing the request line and headers, validating the path, splitting and
** percent-decoding the query string and deciding keep-alive. Pure: no
** windows.h, no malloc; built natively for the sanitizers and fuzzed
** (tests/fuzz_http_proto.c), since every byte a client sends passes
** through it before anything else looks at it.
**
** Use
**   The server appends received bytes to a buffer of at least HP_MAX_HEAD
**   bytes and calls hp_parse() with everything it holds after each read.
**   *scan (0 for a new request) remembers how far the search for the end
**   of the head got, so each byte is looked at once while waiting.
**
**   hp_parse() returns
**     HP_MORE   the head is not complete yet and still under HP_MAX_HEAD;
**     0         *req is filled; req->head_len bytes belong to this request
**               (GET and HEAD have no body here: one with a body is a 400);
**     an HTTP status for the error answer: 400 (malformed, bad path),
**               405 (a well-formed method other than GET/HEAD), 414 (target
**               over HP_MAX_TARGET), 431 (head over HP_MAX_HEAD), 505
**               (HTTP version other than 1.0/1.1). After an error the
**               connection must be closed: the framing of what follows is
**               unknown.
**
** Paths
**   req->path is the percent-decoded path without the query. A path that
**   does not start with '/', or whose raw or decoded form holds "..", a
**   backslash, a NUL, a control byte or a bad %-escape, is a 400; so
**   "%2e%2e", "%2E%2e", ".%2e" and "%5c" are refused the same as the plain
**   bytes. There is no file-system behind the server, so this is defence in
**   depth, and it keeps the router's job to exact string compares.
*/
#ifndef HTTP_PROTO_H
#define HTTP_PROTO_H
#include <stddef.h>

#define HP_MORE (-1)

/* Request line plus headers, CRLFs included (431 past it). */
#define HP_MAX_HEAD 8192
/* Request target (path and query) as sent (414 past it). */
#define HP_MAX_TARGET 2048
/* Bearer token bytes kept; a longer one never matches (see hp_token_eq). */
#define HP_MAX_TOKEN 256

enum { HP_GET = 1, HP_HEAD = 2 };

typedef struct hp_request {
    int method;                     /* HP_GET or HP_HEAD */
    int minor;                      /* 0 for HTTP/1.0, 1 for HTTP/1.1 */
    int keep_alive;                 /* 1: the client may send another request */
    int has_bearer;                 /* 1: Authorization: Bearer <token> was sent */
    int bearer_too_long;            /* 1: the token was longer than HP_MAX_TOKEN */
    size_t head_len;                /* bytes of the head, final empty line included */
    char path[HP_MAX_TARGET + 1];   /* decoded path, NUL-terminated */
    char query[HP_MAX_TARGET + 1];  /* raw query after '?', "" if none */
    char bearer[HP_MAX_TOKEN + 1];  /* the token, "" if none */
} hp_request;

/* See the top of this file. buf need not be NUL-terminated. */
int hp_parse(const char *buf, size_t len, size_t *scan, hp_request *req);

/*
** Looks up the first parameter called name in a raw query string
** ("a=1&b=x%20y"), percent-decoding its value ('+' is a space) into
** out[cap]. Returns 0 when found, 1 when absent, and -1 when the value has
** a bad escape, decodes to a NUL or does not fit (out is then "").
** A parameter without '=' has the value "".
*/
int hp_query_get(const char *query, const char *name, char *out, size_t cap);

/*
** Compares a presented token with the configured one in time that does not
** depend on where they differ. 1 = equal. An empty configured token never
** matches.
*/
int hp_token_eq(const char *presented, const char *expected);

/* The reason phrase for the statuses the server sends ("Not Found"). */
const char *hp_reason(int status);
#endif
