/*
** nats_api.c — the public message API of the NATS client behind nats.h:
** publish, flush, subscribe and sub_next, request/reply over one inbox
** subscription, message headers and the connection's status getters. The
** connection itself (sockets, TLS, handshake, reader thread, reconnect) is
** nats_glue.c; nats_int.h holds what both share, with the lock rules.
*/
#include <winsock2.h>
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nats.h"
#include "nats_int.h"
#include "nats_proto.h"
#include "win.h"

/* Header block sanity: "NATS/1.0..." ending in a blank line. */
static int hdr_ok(const char *hdr, size_t len)
{
    return len >= 12 && memcmp(hdr, "NATS/1.0", 8) == 0 && memcmp(hdr + len - 4, "\r\n\r\n", 4) == 0;
}

/* PUB or HPUB in one gathered write. */
static int pub(nats_conn *c, const char *subj, const char *reply, const char *hdr, size_t hdr_len,
               const void *data, size_t len)
{
    char line[NP_MAX_LINE];
    iov v[4];
    size_t n;
    int rc;
    if (!c || !subj || (len && !data) || (hdr_len && !hdr)) return NATS_ERR_ARG;
    if (hdr_len && !hdr_ok(hdr, hdr_len)) {
        nats_set_err(c, "publish to '%s': header block must start with NATS/1.0 and end with a blank line", subj);
        return NATS_ERR_ARG;
    }
    rc = hdr_len ? np_fmt_hpub(line, sizeof line, subj, reply, hdr_len, hdr_len + len, &n)
                 : np_fmt_pub(line, sizeof line, subj, reply, len, &n);
    if (rc != NP_OK) {
        nats_set_err(c, "publish: invalid or too long subject '%.200s'%s%.200s", subj, reply ? " / reply " : "", reply ? reply : "");
        return NATS_ERR_ARG;
    }
    v[0].p = line; v[0].n = n;
    v[1].p = hdr; v[1].n = hdr_len;
    v[2].p = data; v[2].n = len;
    v[3].p = "\r\n"; v[3].n = 2;
    EnterCriticalSection(&c->wmu);
    if (!c->up) {
        rc = c->closing ? NATS_ERR_CLOSED : NATS_ERR_CONN;
    } else if (hdr_len + len > c->max_payload) {
        rc = NATS_ERR_MAX_PAYLOAD;
        nats_set_err(c, "message of %lu bytes to '%s' exceeds the server's max_payload of %lu bytes",
                (unsigned long)(hdr_len + len), subj, (unsigned long)c->max_payload);
    } else {
        rc = nats_wr_locked(c, v, 4);
    }
    LeaveCriticalSection(&c->wmu);
    return rc;
}

int nats_publish(nats_conn *c, const char *subj, const char *reply, const void *data, size_t len)
{
    return pub(c, subj, reply, NULL, 0, data, len);
}

int nats_hpublish(nats_conn *c, const char *subj, const char *reply,
                  const char *hdr, size_t hdr_len, const void *data, size_t len)
{
    return pub(c, subj, reply, hdr, hdr ? hdr_len : 0, data, len);
}

/* Waits on cv (mu held) until pred-like loop says stop; returns 0 at the deadline. */
static int wait_until(CONDITION_VARIABLE *cv, CRITICAL_SECTION *mu, uint64_t deadline)
{
    uint64_t now = win_tick_ms();
    if (now >= deadline) return 0;
    SleepConditionVariableCS(cv, mu, (DWORD)(deadline - now > 0x7fffffff ? 0x7fffffff : deadline - now));
    return 1;
}

static void waiter_leave(nats_conn *c)
{
    c->waiters--;
    if (c->closing) WakeAllConditionVariable(&c->state_cv);
}

int nats_flush(nats_conn *c, int timeout_ms)
{
    uint64_t target, deadline;
    unsigned gen;
    int rc;
    if (!c || timeout_ms < 0) return NATS_ERR_ARG;
    EnterCriticalSection(&c->wmu);
    if (!c->up) {
        LeaveCriticalSection(&c->wmu);
        return c->closing ? NATS_ERR_CLOSED : NATS_ERR_CONN;
    }
    EnterCriticalSection(&c->mu);
    target = ++c->pings_sent;
    gen = c->gen;
    LeaveCriticalSection(&c->mu);
    rc = nats_wr1_locked(c, "PING\r\n", 6);
    LeaveCriticalSection(&c->wmu);
    if (rc) return rc;
    deadline = win_tick_ms() + (uint64_t)timeout_ms;
    EnterCriticalSection(&c->mu);
    c->waiters++;
    while (c->pongs_recv < target && c->gen == gen && c->up && !c->closing)
        if (!wait_until(&c->state_cv, &c->mu, deadline)) break;
    if (c->gen == gen && c->pongs_recv >= target) rc = NATS_OK;
    else if (c->closing) rc = NATS_ERR_CLOSED;
    else if (c->gen != gen || !c->up) rc = NATS_ERR_CONN;
    else rc = NATS_ERR_TIMEOUT;
    waiter_leave(c);
    LeaveCriticalSection(&c->mu);
    return rc;
}

/*
** Creates a subscription and sends SUB if connected. internal = the
** request inbox: returns the existing one if another thread won the race.
*/
static int add_sub(nats_conn *c, const char *subj, void *notify, int internal, nats_sub **out)
{
    nats_sub *s = (nats_sub *)calloc(1, sizeof *s);
    char line[NP_MAX_LINE];
    size_t n = 0;
    int up;
    if (!s || !(s->subject = nats_dupstr(subj))) { free(s); return NATS_ERR_NOMEM; }
    s->notify = (HANDLE)notify;
    InitializeConditionVariable(&s->cv);
    EnterCriticalSection(&c->wmu);
    EnterCriticalSection(&c->mu);
    if (c->closing || (internal && c->inbox)) {
        nats_sub *have = internal ? c->inbox : NULL;
        int closing = c->closing;
        LeaveCriticalSection(&c->mu);
        LeaveCriticalSection(&c->wmu);
        free(s->subject);
        free(s);
        *out = have;
        return closing ? NATS_ERR_CLOSED : NATS_OK;
    }
    s->c = c;
    s->sid = ++c->next_sid;
    s->next = c->subs;
    c->subs = s;
    if (internal) {
        size_t l = strlen(subj);            /* "_INBOX.<nuid>.*" -> "_INBOX.<nuid>." */
        c->inbox = s;
        memcpy(c->inbox_prefix, subj, l - 1);
        c->inbox_prefix[l - 1] = 0;
    }
    up = c->up;
    LeaveCriticalSection(&c->mu);
    if (up && np_fmt_sub(line, sizeof line, subj, NULL, s->sid, &n) == NP_OK)
        nats_wr1_locked(c, line, n);                     /* on failure the reconnect resubscribes */
    LeaveCriticalSection(&c->wmu);
    *out = s;
    return NATS_OK;
}

int nats_subscribe(nats_conn *c, const char *subj, void *notify_event, nats_sub **out)
{
    if (!c || !out) return NATS_ERR_ARG;
    *out = NULL;
    if (!np_subject_ok(subj) || strlen(subj) > NP_MAX_LINE - 64) {
        nats_set_err(c, "subscribe: invalid subject '%.200s'", subj ? subj : "");
        return NATS_ERR_ARG;
    }
    return add_sub(c, subj, notify_event, 0, out);
}

int nats_sub_next(nats_sub *s, int timeout_ms, nats_msg **out)
{
    nats_conn *c;
    uint64_t deadline;
    int rc;
    if (!s || !out || timeout_ms < 0) return NATS_ERR_ARG;
    *out = NULL;
    c = s->c;
    if (!c) return NATS_ERR_CLOSED;
    deadline = win_tick_ms() + (uint64_t)timeout_ms;
    EnterCriticalSection(&c->mu);
    c->waiters++;
    while (!s->head && !c->closing && !c->dead && !s->denied)
        if (!wait_until(&s->cv, &c->mu, deadline)) break;
    if (s->head && !c->closing) {
        nats_msg *m = s->head;
        s->head = m->next;
        if (!s->head) s->tail = NULL;
        m->next = NULL;
        s->n_msgs--;
        s->n_bytes -= m->hdr_len + m->len;
        if (s->slow && s->n_msgs < SUB_MAX_MSGS / 2 && s->n_bytes < SUB_MAX_BYTES / 2) s->slow = 0;
        *out = m;
        rc = NATS_OK;
    } else {
        rc = c->closing ? NATS_ERR_CLOSED : c->dead ? NATS_ERR_CONN : s->denied ? NATS_ERR_PERM : NATS_ERR_TIMEOUT;
    }
    waiter_leave(c);
    LeaveCriticalSection(&c->mu);
    return rc;
}

int nats_unsubscribe(nats_sub *s)
{
    nats_conn *c;
    nats_msg *m, *mn;
    if (!s) return NATS_OK;
    c = s->c;
    if (c) {
        nats_sub **pp;
        char line[64];
        size_t n;
        int up;
        EnterCriticalSection(&c->wmu);
        EnterCriticalSection(&c->mu);
        for (pp = &c->subs; *pp; pp = &(*pp)->next)
            if (*pp == s) { *pp = s->next; break; }
        up = c->up;
        LeaveCriticalSection(&c->mu);
        if (up && np_fmt_unsub(line, sizeof line, s->sid, 0, &n) == NP_OK) nats_wr1_locked(c, line, n);
        LeaveCriticalSection(&c->wmu);
    }
    for (m = s->head; m; m = mn) { mn = m->next; free(m); }
    free(s->subject);
    free(s);
    return NATS_OK;
}

/* Creates the "_INBOX.<nuid>.*" subscription on first use. */
static int ensure_inbox(nats_conn *c)
{
    nats_sub *s = NULL;
    char nuid[23], subj[48];
    EnterCriticalSection(&c->mu);
    if (c->inbox) { LeaveCriticalSection(&c->mu); return NATS_OK; }
    nats_nuid_next(c, nuid);
    LeaveCriticalSection(&c->mu);
    snprintf(subj, sizeof subj, "_INBOX.%s.*", nuid);
    if (add_sub(c, subj, NULL, 1, &s) != NATS_OK) return c->closing ? NATS_ERR_CLOSED : NATS_ERR_NOMEM;
    return NATS_OK;
}

int nats_request(nats_conn *c, const char *subj, const char *hdr, size_t hdr_len,
                 const void *data, size_t len, int timeout_ms, nats_msg **reply)
{
    req r, **pp;
    char rsubj[64];
    uint64_t deadline;
    int rc;
    if (!reply) return NATS_ERR_ARG;
    *reply = NULL;
    if (!c || !subj || timeout_ms < 0) return NATS_ERR_ARG;
    if (!np_subject_ok(subj)) { nats_set_err(c, "request: invalid subject '%.200s'", subj); return NATS_ERR_ARG; }
    rc = ensure_inbox(c);
    if (rc) return rc;
    memset(&r, 0, sizeof r);
    InitializeConditionVariable(&r.cv);
    r.subject = subj;
    EnterCriticalSection(&c->mu);
    if (c->closing) { LeaveCriticalSection(&c->mu); return NATS_ERR_CLOSED; }
    nats_b62(++c->req_seq, r.token, 8);
    r.token[8] = 0;
    snprintf(rsubj, sizeof rsubj, "%s%s", c->inbox_prefix, r.token);
    r.next = c->reqs;
    c->reqs = &r;
    c->waiters++;
    LeaveCriticalSection(&c->mu);

    rc = pub(c, subj, rsubj, hdr, hdr ? hdr_len : 0, data, len);

    deadline = win_tick_ms() + (uint64_t)timeout_ms;
    EnterCriticalSection(&c->mu);
    if (rc == NATS_OK) {
        while (!r.done && !c->closing)
            if (!wait_until(&r.cv, &c->mu, deadline)) break;
        if (r.done) rc = r.rc;
        else if (c->closing) rc = NATS_ERR_CLOSED;
        else {
            rc = NATS_ERR_TIMEOUT;
            snprintf(c->last_err, sizeof c->last_err, "request to '%.200s' timed out after %d ms", subj, timeout_ms);
        }
        if (rc == NATS_ERR_PERM)
            snprintf(c->last_err, sizeof c->last_err, "request to '%.200s': permissions violation (publish refused by the server)", subj);
    }
    for (pp = &c->reqs; *pp; pp = &(*pp)->next)
        if (*pp == &r) { *pp = r.next; break; }
    waiter_leave(c);
    LeaveCriticalSection(&c->mu);
    if (rc == NATS_OK && r.reply && r.reply->status == 503) {
        nats_msg_free(r.reply);
        nats_set_err(c, "no responders for '%.200s'", subj);
        return NATS_ERR_NO_RESPONDERS;
    }
    if (rc != NATS_OK) { nats_msg_free(r.reply); return rc; }
    *reply = r.reply;
    return NATS_OK;
}

void nats_msg_free(nats_msg *m) { free(m); }

int nats_msg_header(const nats_msg *m, const char *name, char *out, size_t cap)
{
    const char *v;
    size_t vl;
    if (!m || !name || !out || cap == 0) return NATS_ERR_ARG;
    out[0] = 0;
    if (!m->hdr || np_hdr_get(m->hdr, m->hdr_len, name, 0, &v, &vl) != NP_OK) return NATS_ERR_NOT_FOUND;
    if (vl >= cap) return NATS_ERR_ARG;
    memcpy(out, v, vl);
    out[vl] = 0;
    return NATS_OK;
}

void nats_new_inbox(nats_conn *c, char *out, size_t cap)
{
    char nuid[23];
    if (!out || cap == 0) return;
    if (!c) { out[0] = 0; return; }
    EnterCriticalSection(&c->mu);
    nats_nuid_next(c, nuid);
    LeaveCriticalSection(&c->mu);
    snprintf(out, cap, "_INBOX.%s", nuid);
}

size_t nats_max_payload(nats_conn *c)
{
    size_t v;
    if (!c) return 0;
    EnterCriticalSection(&c->mu);
    v = c->max_payload;
    LeaveCriticalSection(&c->mu);
    return v;
}

int nats_is_connected(nats_conn *c)
{
    int v;
    if (!c) return 0;
    EnterCriticalSection(&c->mu);
    v = c->up;
    LeaveCriticalSection(&c->mu);
    return v;
}

unsigned nats_generation(nats_conn *c)
{
    unsigned v;
    if (!c) return 0;
    EnterCriticalSection(&c->mu);
    v = c->gen;
    LeaveCriticalSection(&c->mu);
    return v;
}

int nats_wait_connected(nats_conn *c, int timeout_ms)
{
    uint64_t deadline;
    int rc;
    if (!c || timeout_ms < 0) return NATS_ERR_ARG;
    deadline = win_tick_ms() + (uint64_t)timeout_ms;
    EnterCriticalSection(&c->mu);
    c->waiters++;
    while (!c->up && !c->closing && !c->dead)
        if (!wait_until(&c->state_cv, &c->mu, deadline)) break;
    rc = c->up ? NATS_OK : c->closing ? NATS_ERR_CLOSED : c->dead ? NATS_ERR_CONN : NATS_ERR_TIMEOUT;
    waiter_leave(c);
    LeaveCriticalSection(&c->mu);
    return rc;
}

const char *nats_strerror(int rc)
{
    switch (rc) {
    case NATS_OK: return "ok";
    case NATS_ERR_TIMEOUT: return "timed out";
    case NATS_ERR_NO_RESPONDERS: return "no responders";
    case NATS_ERR_CONN: return "not connected to the NATS server";
    case NATS_ERR_AUTH: return "authorization failed";
    case NATS_ERR_TLS: return "TLS handshake or certificate check failed";
    case NATS_ERR_PROTO: return "NATS protocol error";
    case NATS_ERR_MAX_PAYLOAD: return "message larger than the server's max_payload";
    case NATS_ERR_ARG: return "invalid argument";
    case NATS_ERR_NOMEM: return "out of memory";
    case NATS_ERR_CLOSED: return "connection closed";
    case NATS_ERR_PERM: return "permissions violation";
    case NATS_ERR_JS: return "JetStream API error";
    case NATS_ERR_NOT_FOUND: return "not found";
    case NATS_ERR_CONFLICT: return "revision conflict";
    case NATS_ERR_EXISTS: return "already exists";
    case NATS_ERR_DIGEST: return "digest mismatch";
    case NATS_ERR_SIZE: return "size mismatch";
    case NATS_ERR_IO: return "local file I/O failed";
    case NATS_ERR_BAD_DATA: return "malformed data from the server";
    default: return "unknown error";
    }
}

int nats_last_denied(nats_conn *c, char *subj, size_t cap)
{
    int r;
    if (!c || !cap) return -1;
    EnterCriticalSection(&c->mu);
    snprintf(subj, cap, "%s", c->denied);
    r = c->denied[0] ? c->denied_sub : -1;
    LeaveCriticalSection(&c->mu);
    return r;
}

const char *nats_last_error(nats_conn *c)
{
#ifdef _MSC_VER
    static __declspec(thread) char copy[512];
#else
    static _Thread_local char copy[512];
#endif
    if (!c) return "";
    /* A per-thread copy: the reader may record a new error at any time. */
    EnterCriticalSection(&c->mu);
    memcpy(copy, c->last_err, sizeof copy);
    LeaveCriticalSection(&c->mu);
    return copy;
}
