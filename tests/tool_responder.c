/*
** tool_responder.c — a stand-in agent for tests/it_cli.sh: answers requests
** on agents.<pc_id>.ping with a heartbeat-like document (docs/design.md, Wire contract), using
** the project's own NATS client (nats.h), until killed or `seconds` pass.
**
**   tool_responder URL PC_ID AGENT_VERSION [TARGET [STATE [SECONDS]]]
**
** Prints "READY" once the subscription is known to the server (after a
** flush), then one "answered N" line per reply. Exit 0 on a clean timeout,
** 1 on any NATS failure.
*/
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "json.h"
#include "nats.h"
#include "win.h"

/* Builds the reply document into buf; returns its length (0 if it did not fit). */
static size_t heartbeat(char *buf, size_t cap, const char *pc, const char *ver,
                        const char *target, const char *state)
{
    json_w w;
    char at[40];
    win_rfc3339(win_unix_ms(), at);
    json_w_init(&w, buf, cap);
    json_w_obj_open(&w);
    json_w_kstr(&w, "pc_id", pc);
    json_w_kstr(&w, "at", at);
    json_w_kstr(&w, "agent_version", ver);
    json_w_kstr(&w, "hostname", "responder-host");
    json_w_kstr(&w, "os_family", "windows");
    if (target[0]) json_w_kstr(&w, "target_version", target);
    json_w_kstr(&w, "update_state", state);
    json_w_obj_close(&w);
    return w.err ? 0 : w.len;
}

int wmain(int argc, wchar_t **argv)
{
    char a[6][256], subj[300], err[256] = "", doc[1024];
    nats_opts o;
    nats_conn *c = NULL;
    nats_sub *s = NULL;
    uint64_t end;
    int i, rc, answered = 0;
    if (argc < 4) {
        fprintf(stderr, "usage: tool_responder URL PC_ID AGENT_VERSION [TARGET [STATE [SECONDS]]]\n");
        return 2;
    }
    for (i = 0; i < 6; i++) {
        a[i][0] = 0;
        if (i + 1 < argc && win_to_utf8(argv[i + 1], a[i], sizeof a[i]) != 0) return 2;
    }
    if (!a[4][0]) snprintf(a[4], sizeof a[4], "idle");
    end = win_tick_ms() + (uint64_t)(a[5][0] ? atoi(a[5]) : 60) * 1000;
    memset(&o, 0, sizeof o);
    o.servers = a[0];
    o.name = "tool_responder";
    if ((rc = nats_connect(&o, &c, err, sizeof err)) != NATS_OK) {
        fprintf(stderr, "connect: %s\n", err);
        return 1;
    }
    snprintf(subj, sizeof subj, "agents.%s.ping", a[1]);
    if ((rc = nats_subscribe(c, subj, NULL, &s)) != NATS_OK || (rc = nats_flush(c, 5000)) != NATS_OK) {
        fprintf(stderr, "subscribe: %s\n", nats_strerror(rc));
        nats_close(c);
        return 1;
    }
    printf("READY\n");
    fflush(stdout);
    while (win_tick_ms() < end) {
        nats_msg *m = NULL;
        size_t n;
        rc = nats_sub_next(s, 200, &m);
        if (rc == NATS_ERR_TIMEOUT) continue;
        if (rc != NATS_OK) { fprintf(stderr, "next: %s\n", nats_strerror(rc)); break; }
        n = heartbeat(doc, sizeof doc, a[1], a[2], a[3], a[4]);
        if (m->reply && n > 0 && nats_publish(c, m->reply, NULL, doc, n) == NATS_OK) {
            printf("answered %d\n", ++answered);
            fflush(stdout);
        }
        nats_msg_free(m);
    }
    nats_unsubscribe(s);
    nats_close(c);
    return rc == NATS_OK || rc == NATS_ERR_TIMEOUT ? 0 : 1;
}
