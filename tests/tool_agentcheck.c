/*
** tool_agentcheck.c — helper for tests/it_agent.sh.
**
**   tool_agentcheck sub URL SUBJECT TIMEOUT_MS
**       Subscribes to SUBJECT and prints the payload of the first message
**       (one line). Exit 0, or 4 when nothing arrived within TIMEOUT_MS,
**       or 1 when the broker cannot be reached.
*/
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>
#include <wchar.h>
#include "nats.h"
#include "win.h"

static int cmd_sub(const char *url, const char *subject, int timeout_ms)
{
    nats_opts o;
    nats_conn *c = NULL;
    nats_sub *s = NULL;
    nats_msg *m = NULL;
    char err[256];
    int rc;

    memset(&o, 0, sizeof o);
    o.servers = url;
    o.name = "tool_agentcheck";
    o.no_reconnect = 1;
    rc = nats_connect(&o, &c, err, sizeof err);
    if (rc != NATS_OK) { fprintf(stderr, "connect: %s\n", err); return 1; }
    rc = nats_subscribe(c, subject, NULL, &s);
    if (rc == NATS_OK) rc = nats_flush(c, 5000);
    if (rc != NATS_OK) { fprintf(stderr, "subscribe: %s\n", nats_strerror(rc)); nats_close(c); return 1; }
    rc = nats_sub_next(s, timeout_ms, &m);
    if (rc == NATS_OK) {
        printf("%.*s\n", (int)m->len, (const char *)m->data);
        nats_msg_free(m);
    } else {
        fprintf(stderr, "no message on %s within %d ms: %s\n", subject, timeout_ms, nats_strerror(rc));
    }
    nats_unsubscribe(s);
    nats_close(c);
    return rc == NATS_OK ? 0 : 4;
}

int wmain(int argc, wchar_t **argv)
{
    char a2[1024], a3[1024];
    if (argc == 5 && wcscmp(argv[1], L"sub") == 0) {
        if (win_to_utf8(argv[2], a2, sizeof a2) || win_to_utf8(argv[3], a3, sizeof a3)) return 2;
        return cmd_sub(a2, a3, _wtoi(argv[4]));
    }
    fprintf(stderr, "usage: tool_agentcheck sub URL SUBJECT TIMEOUT_MS\n");
    return 2;
}
