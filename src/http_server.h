/*
** http_server.h — the small HTTP/1.1 server behind `kanade serve`: Winsock,
** one thread per connection, at most HS_MAX_CONNS of them. Requests are
** parsed by http_proto.c; this module owns the sockets, the limits and the
** response framing, and hands each well-formed GET/HEAD to one handler.
**
** Limits (every one answers with a status and closes the connection):
**   a head over HP_MAX_HEAD bytes            431 (http_proto.c)
**   a head not complete within 10 s          408 (slowloris)
**   a connection past HS_MAX_CONNS           503, from the accept thread
**   a malformed request / other method       400 / 405 ...
** Keep-alive is bounded: at most HS_MAX_REQUESTS requests per connection,
** and an idle connection is closed after the same 10 s. A client that does
** not read its answer is dropped after HS_SEND_TIMEOUT_MS. There is no
** file-system access: the handler answers from memory.
*/
#ifndef HTTP_SERVER_H
#define HTTP_SERVER_H
#include <stddef.h>
#include "http_proto.h"

#define HS_MAX_CONNS       64
#define HS_HEAD_TIMEOUT_MS 10000
#define HS_SEND_TIMEOUT_MS 10000
#define HS_MAX_REQUESTS    100

typedef struct hs_server hs_server;
typedef struct hs_conn hs_conn;

/* Answers one request by calling hs_respond once, or hs_stream_begin and
** then hs_stream_send until it fails or hs_stopping says so. Runs on the
** connection's thread; any number run at once. */
typedef void (*hs_handler_fn)(void *arg, hs_conn *c, const hp_request *req);
/* One finished request, for the log: "GET /api/agents 200 1234 5ms". */
typedef void (*hs_log_fn)(void *arg, const char *line);

typedef struct hs_opts {
    const char *listen;         /* "127.0.0.1:8080", "[::1]:0" (0: any free port) */
    hs_handler_fn handler;
    void *handler_arg;
    hs_log_fn log;              /* may be NULL */
    void *log_arg;
    const char *csp;            /* Content-Security-Policy of every answer */
} hs_opts;

/* Whether listen ("host:port", numeric host) is a loopback address.
** Returns 0 and sets *loopback, or -1 when it is not a valid address. */
int hs_listen_is_loopback(const char *listen, int *loopback);

/* Binds, listens and starts the accept thread. On failure returns non-zero
** with one line in err. */
int hs_start(const hs_opts *o, hs_server **out, char *err, size_t errcap);
int hs_port(const hs_server *s);            /* the bound port */
/* Stops accepting, wakes every connection (streams see hs_stopping), waits
** up to wait_ms for them to end, and frees s. */
void hs_stop(hs_server *s, int wait_ms);

/*
** Sends a whole answer: status, Content-Type, Content-Length, the security
** headers, extra_hdrs (complete "Name: value\r\n" lines, or NULL) and body
** (left out for HEAD). Returns 0 when sent.
*/
int hs_respond(hs_conn *c, int status, const char *ctype, const char *extra_hdrs,
               const void *body, size_t len);
/* Starts an answer of unknown length that ends with the connection
** (Server-Sent Events). Returns 0 when the head was sent. */
int hs_stream_begin(hs_conn *c, const char *ctype);
int hs_stream_send(hs_conn *c, const void *data, size_t len);
int hs_stopping(const hs_conn *c);          /* 1 once hs_stop was called */
#endif
