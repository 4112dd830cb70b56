/*
** cli_serve.c — `kanade serve`: the fleet page and its JSON API over
** http_server.c (docs/api.md).
**
** One watch thread keeps an in-memory copy of agent_status, agent_groups,
** agent_config and agent_rollouts current from KV watches (no polling), and
** turns every change after the initial load into a Server-Sent Event in a
** ring. /api/rollouts judges each rollout with the pure code of rollout.c
** (ro_read_scope, ro_evaluate, ro_wave_of), as `agent rollout status` and
** the agents do. HTTP threads answer from that copy under a shared lock, so
** /api/agents for 10,000 agents costs no broker round trip; only
** /api/releases asks the broker (object store list), one request at a time.
*/
#include <windows.h>
#include <process.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "http_server.h"
#include "rollout.h"
#include "trust.h"
#include "web_assets.h"
#include "win.h"

#define SV_RING     4096            /* events kept for slow SSE readers */
#define SV_PING_MS  15000           /* SSE comment so proxies keep the stream */
#define SV_DEFAULT_LISTEN "127.0.0.1:8080"
#define SV_CSP "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " \
               "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

/* One KV entry of the copy; a (status) or g/ng (groups) when parsed. */
typedef struct sv_ent {
    char key[256];
    char *val;
    size_t len;
    cli_agent *a;
    char seen[40];                  /* a->at_ms as RFC 3339, made once */
    char *js;                       /* status: the API object's fixed fields, without the
                                    ** closing brace; groups: the JSON array (made once) */
    size_t jslen;
    char (*g)[SCOPE_ID_MAX + 1];
    int ng;
} sv_ent;

/* Entries sorted by key, for binary search and pc_id order. */
typedef struct sv_map { sv_ent **v; size_t n, cap; } sv_map;

static struct {
    SRWLOCK lock;                   /* guards everything below */
    CONDITION_VARIABLE cv;          /* signalled on every new event */
    sv_map status, groups, config, rollouts;
    int init_done;                  /* bit per bucket: initial values loaded */
    char **ring;                    /* SV_RING slots, heap: keeps the exe small */
    uint64_t seq;                   /* events pushed so far */
    volatile LONG stop;
    int64_t stale_ms;
    const char *token;              /* "" = no auth */
    CRITICAL_SECTION js_mu;         /* one object-store list at a time */
    obj_store *releases;
    kv_bucket *b[4];
    HANDLE stop_ev;
    const char *index;              /* the page as served (see page_init) */
    size_t index_len;
} S;

enum { B_STATUS, B_GROUPS, B_CONFIG, B_ROLLOUTS, NB };
static const char *const BUCKETS[NB] = { CLI_B_STATUS, CLI_B_GROUPS, CLI_B_CONFIG, RO_BUCKET };
#define SV_LOADED ((1 << NB) - 1)       /* every bucket's initial values are in */

static sv_map *map_of(int bi)
{
    return bi == B_STATUS ? &S.status : bi == B_GROUPS ? &S.groups : bi == B_CONFIG ? &S.config : &S.rollouts;
}

/* ============================================================ the copy */

/* 1 when key is in m; *at is its index or where it would go. */
static int map_find(const sv_map *m, const char *key, size_t *at)
{
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(m->v[mid]->key, key);
        if (c == 0) { *at = mid; return 1; }
        if (c < 0) lo = mid + 1; else hi = mid;
    }
    *at = lo;
    return 0;
}

static sv_ent *map_get(const sv_map *m, const char *key)
{
    size_t at;
    return map_find(m, key, &at) ? m->v[at] : NULL;
}

static void ent_free(sv_ent *e)
{
    if (!e) return;
    free(e->val);
    free(e->a);
    free(e->g);
    free(e->js);
    free(e);
}

/* Puts e in place of any entry with its key; -1 when out of memory. */
static int map_put(sv_map *m, sv_ent *e)
{
    size_t at;
    if (map_find(m, e->key, &at)) {
        ent_free(m->v[at]);
        m->v[at] = e;
        return 0;
    }
    if (m->n == m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 256;
        sv_ent **nv = realloc(m->v, nc * sizeof *nv);
        if (!nv) return -1;
        m->v = nv;
        m->cap = nc;
    }
    memmove(m->v + at + 1, m->v + at, (m->n - at) * sizeof *m->v);
    m->v[at] = e;
    m->n++;
    return 0;
}

static void map_del(sv_map *m, const char *key)
{
    size_t at;
    if (!map_find(m, key, &at)) return;
    ent_free(m->v[at]);
    memmove(m->v + at, m->v + at + 1, (m->n - at - 1) * sizeof *m->v);
    m->n--;
}

/* ============================================================ JSON */

/* Renders with fn into a growing heap buffer; NULL when out of memory. */
static char *build_json(void (*fn)(json_w *, void *), void *arg, size_t hint, size_t *len)
{
    size_t cap = hint < 4096 ? 4096 : hint;
    for (;;) {
        char *buf = malloc(cap);
        json_w w;
        if (!buf) return NULL;
        json_w_init(&w, buf, cap);
        fn(&w, arg);
        if (!w.err) { *len = w.len; return buf; }
        free(buf);
        if (w.err != JSON_ERR_SPACE || cap >= ((size_t)1 << 30)) return NULL;
        cap *= 2;
    }
}

/* The fields of the API's agent object (docs/api.md) that only change
** with its status document. */
static void render_agent_fixed(json_w *w, const sv_ent *st)
{
    const cli_agent *a = st->a;
    json_w_kstr(w, "pc_id", a->pc_id);
    json_w_kstr(w, "hostname", a->hostname);
    json_w_kstr(w, "agent_version", a->version);
    json_w_kstr(w, "target_version", a->target);
    json_w_kstr(w, "target_scope", a->target_scope);
    json_w_kstr(w, "update_state", a->state);
    json_w_kstr(w, "update_error", a->error);
    if (a->percent >= 0) json_w_kint(w, "update_percent", a->percent);
    json_w_key(w, "quarantined_versions");
    json_w_arr_open(w);
    {
        const char *p = a->quarantined;
        while (*p) {
            const char *c = strchr(p, ',');
            size_t n = c ? (size_t)(c - p) : strlen(p);
            json_w_strn(w, p, n);
            p += n + (c ? 1 : 0);
        }
    }
    json_w_arr_close(w);
    json_w_key(w, "last_seen");
    if (a->have_at) json_w_str(w, st->seen); else json_w_null(w);
    json_w_kstr(w, "exe_sha256", a->exe_sha256);
    /* Release keys the agent holds (0: it accepts unsigned builds), null
    ** from builds that do not report them; the targets it ignored. */
    json_w_key(w, "release_keys");
    if (a->release_keys >= 0) json_w_int(w, a->release_keys); else json_w_null(w);
    json_w_kstr(w, "target_error", a->target_error);
}

/* The API's agent object; whole adds the status document. */
static void render_agent(json_w *w, const sv_ent *st, int64_t now, int whole)
{
    const cli_agent *a = st->a;
    const sv_ent *g = map_get(&S.groups, st->key);
    int i;
    json_w_obj_open(w);
    render_agent_fixed(w, st);
    json_w_key(w, "groups");
    json_w_arr_open(w);
    for (i = 0; g && i < g->ng; i++) json_w_str(w, g->g[i]);
    json_w_arr_close(w);
    json_w_key(w, "age_s");
    if (a->have_at) json_w_int(w, (now - a->at_ms) / 1000); else json_w_null(w);
    json_w_kbool(w, "stale", cli_agent_stale(a, S.stale_ms, now));
    if (whole) {
        json_w_key(w, "status");
        if (a->raw_ok) json_w_raw(w, a->raw, a->raw_len); else json_w_null(w);
    }
    json_w_obj_close(w);
}

/* The same object from the parts made when the entries arrived: a copy
** and two numbers instead of escaping every string again, which is most
** of the time of /api/agents for a large fleet. */
static void render_agent_fast(json_w *w, const sv_ent *st, int64_t now)
{
    char buf[4096];
    const sv_ent *g = map_get(&S.groups, st->key);
    const cli_agent *a = st->a;
    size_t n = st->jslen, gl = g && g->js ? g->jslen : 2;
    int stale = cli_agent_stale(a, S.stale_ms, now);
    if (!st->js || n + gl + 64 > sizeof buf) { render_agent(w, st, now, 0); return; }
    memcpy(buf, st->js, n);
    memcpy(buf + n, ",\"groups\":", 10);
    memcpy(buf + n + 10, g && g->js ? g->js : "[]", gl);
    n += 10 + gl;
    if (a->have_at)
        n += (size_t)snprintf(buf + n, sizeof buf - n, ",\"age_s\":%lld,\"stale\":%s}",
                              (long long)((now - a->at_ms) / 1000), stale ? "true" : "false");
    else
        n += (size_t)snprintf(buf + n, sizeof buf - n, ",\"age_s\":null,\"stale\":%s}", stale ? "true" : "false");
    json_w_raw(w, buf, n);
}

/* The fixed part of a status entry's object, or a groups entry's array
** (lock held exclusively); left NULL when out of memory (the slow path). */
static void make_js(int is_status, sv_ent *e)
{
    char buf[4096];
    json_w w;
    int i;
    json_w_init(&w, buf, sizeof buf);
    if (is_status) {
        json_w_obj_open(&w);
        render_agent_fixed(&w, e);
        json_w_obj_close(&w);
    } else {
        json_w_arr_open(&w);
        for (i = 0; i < e->ng; i++) json_w_str(&w, e->g[i]);
        json_w_arr_close(&w);
    }
    if (w.err) return;
    e->jslen = is_status ? w.len - 1 : w.len;      /* a status object stays open */
    if ((e->js = malloc(e->jslen)) != NULL) memcpy(e->js, buf, e->jslen);
}

/* ============================================================ events */

/* Appends an event (lock held exclusively); the ring forgets the oldest. */
static void push_event(const char *name, void (*fn)(json_w *, void *), void *arg)
{
    size_t len, nl = strlen(name);
    char *data = build_json(fn, arg, 2048, &len), *ev;
    if (!data) return;
    if ((ev = malloc(nl + len + 32)) != NULL) {
        snprintf(ev, nl + len + 32, "event: %s\ndata: %.*s\n\n", name, (int)len, data);
        free(S.ring[S.seq % SV_RING]);
        S.ring[S.seq % SV_RING] = ev;
        S.seq++;
    }
    free(data);
}

typedef struct ev_arg { const char *key; const sv_ent *e; int deleted; } ev_arg;

static void render_status_ev(json_w *w, void *arg)
{
    ev_arg *x = arg;
    if (x->e) { render_agent(w, x->e, win_unix_ms(), 0); return; }
    json_w_obj_open(w);
    json_w_kstr(w, "pc_id", x->key);
    json_w_kbool(w, "deleted", 1);
    json_w_obj_close(w);
}

/* The target_version of a scope value, "" when unset or unreadable. */
static void scope_target(const sv_ent *e, char *out, size_t cap)
{
    out[0] = 0;
    if (e && e->val) cli_json_field(e->val, e->len, "target_version", out, cap);
}

static void render_config_ev(json_w *w, void *arg)
{
    ev_arg *x = arg;
    char t[SCOPE_VERSION_MAX + 8];
    scope_target(x->e, t, sizeof t);
    json_w_obj_open(w);
    json_w_kstr(w, "scope", x->key);
    json_w_kstr(w, "target_version", t);
    json_w_kbool(w, "deleted", x->deleted);
    json_w_obj_close(w);
}

/* A failure record or a resume: its key and the version it is about. */
static void render_rollouts_ev(json_w *w, void *arg)
{
    ev_arg *x = arg;
    const char *tok = strchr(x->key, '.'), *end;
    char esc[RO_ESC_MAX], v[SCOPE_VERSION_MAX + 1];
    v[0] = 0;
    if (tok) {
        tok++;
        end = strchr(tok, '.');
        snprintf(esc, sizeof esc, "%.*s", (int)(end ? (size_t)(end - tok) : strlen(tok)), tok);
        if (ro_unescape_version(esc, v, sizeof v) != RO_OK) v[0] = 0;
    }
    json_w_obj_open(w);
    json_w_kstr(w, "key", x->key);
    json_w_kstr(w, "version", v);
    json_w_kbool(w, "deleted", x->deleted);
    json_w_obj_close(w);
}

/* Applies one watched entry to the copy (lock held exclusively). */
static void apply(int bi, kv_entry *en)
{
    sv_ent *e = NULL;
    ev_arg x;
    int live = en->op == KV_OP_PUT, evented = (S.init_done >> bi) & 1;
    if (live) {
        if ((e = calloc(1, sizeof *e)) == NULL) return;
        snprintf(e->key, sizeof e->key, "%s", en->key);
        e->val = (char *)en->value;     /* taken over from the entry */
        e->len = en->len;
        en->value = NULL;
        if (bi == B_STATUS) {
            kv_entry tmp;
            if ((e->a = malloc(sizeof *e->a)) == NULL) { ent_free(e); return; }
            memset(&tmp, 0, sizeof tmp);
            snprintf(tmp.key, sizeof tmp.key, "%s", e->key);
            tmp.value = (unsigned char *)e->val;
            tmp.len = e->len;
            cli_agent_parse(&tmp, e->a);
            if (e->a->have_at) win_rfc3339(e->a->at_ms, e->seen);
            make_js(1, e);
        } else if (bi == B_GROUPS) {
            char g[SCOPE_MAX_GROUPS][SCOPE_ID_MAX + 1];
            if (scope_parse_groups(e->val, e->len, g, SCOPE_MAX_GROUPS, &e->ng) != SCOPE_OK) e->ng = 0;
            if (e->ng && (e->g = malloc((size_t)e->ng * sizeof *e->g)) != NULL) memcpy(e->g, g, (size_t)e->ng * sizeof *e->g);
            else e->ng = 0;
            make_js(0, e);
        }
        if (map_put(map_of(bi), e) != 0) {
            ent_free(e);
            return;
        }
    } else {
        map_del(map_of(bi), en->key);
    }
    if (!evented) return;
    x.key = en->key;
    x.deleted = !live;
    if (bi == B_CONFIG || bi == B_ROLLOUTS) {
        x.e = e;
        push_event(bi == B_CONFIG ? "agent_config" : "agent_rollouts",
                   bi == B_CONFIG ? render_config_ev : render_rollouts_ev, &x);
        return;
    }
    /* A group change shows as a change of that agent's object. */
    x.e = map_get(&S.status, en->key);
    if (bi == B_GROUPS && !x.e) return;
    push_event("agent_status", render_status_ev, &x);
}

static unsigned __stdcall watch_main(void *arg)
{
    HANDLE ev = arg;
    kv_watcher *w[NB] = { NULL, NULL, NULL, NULL };
    int i;
    for (i = 0; i < NB; i++) {
        js_err e;
        memset(&e, 0, sizeof e);
        if (kv_watch(S.b[i], ">", ev, &w[i], &e) != NATS_OK) {
            cli_warn("kanade: serve: cannot watch %s: %s\n", BUCKETS[i], e.desc[0] ? e.desc : "broker error");
            w[i] = NULL;
        }
    }
    while (!S.stop) {
        int any = 0;
        WaitForSingleObject(ev, 500);
        AcquireSRWLockExclusive(&S.lock);
        for (i = 0; i < NB; i++) {
            int n;
            /* Bounded batches keep readers from waiting behind the initial load. */
            for (n = 0; w[i] && n < 512; n++) {
                kv_entry en;
                int rc;
                memset(&en, 0, sizeof en);
                rc = kv_watch_next(w[i], 0, &en);
                if (rc == KV_INIT_DONE) S.init_done |= 1 << i;
                else if (rc == NATS_OK) apply(i, &en);
                else break;
                kv_entry_clear(&en);
                any = 1;
            }
        }
        ReleaseSRWLockExclusive(&S.lock);
        WakeAllConditionVariable(&S.cv);
        if (any) SetEvent(ev);          /* more may be queued past the batch */
    }
    for (i = 0; i < NB; i++) kv_watch_stop(w[i]);
    return 0;
}

/* ============================================================ endpoints */

static void answer_json(hs_conn *c, int status, char *body, size_t len)
{
    if (!body) { hs_respond(c, 500, "application/json", NULL, "{\"error\":\"out of memory\"}\n", 26); return; }
    hs_respond(c, status, "application/json; charset=utf-8", NULL, body, len);
    free(body);
}

static void answer_error(hs_conn *c, int status, const char *msg)
{
    char body[512];
    json_w w;
    json_w_init(&w, body, sizeof body);
    json_w_obj_open(&w);
    json_w_kstr(&w, "error", msg);
    json_w_obj_close(&w);
    hs_respond(c, status, "application/json; charset=utf-8",
               status == 401 ? "WWW-Authenticate: Bearer realm=\"kanade\"\r\n" : NULL, body, w.len);
}

typedef struct agents_q {
    char version[SCOPE_VERSION_MAX + 8], state[32], group[SCOPE_ID_MAX + 1];
    int stale;                      /* -1 any, 0 fresh, 1 stale */
} agents_q;

static int in_groups(const char *pc, const char *group)
{
    const sv_ent *g = map_get(&S.groups, pc);
    int i;
    for (i = 0; g && i < g->ng; i++) if (!strcmp(g->g[i], group)) return 1;
    return 0;
}

static void render_agents(json_w *w, void *arg)
{
    const agents_q *q = arg;
    int64_t now = win_unix_ms();
    size_t i, n = 0;
    json_w_obj_open(w);
    json_w_kint(w, "stale_after_s", S.stale_ms / 1000);
    json_w_key(w, "agents");
    json_w_arr_open(w);
    for (i = 0; i < S.status.n; i++) {
        const sv_ent *e = S.status.v[i];
        const cli_agent *a = e->a;
        if (q->version[0] && strcmp(a->version, q->version)) continue;
        if (q->state[0] && strcmp(a->state, q->state)) continue;
        if (q->group[0] && !in_groups(e->key, q->group)) continue;
        if (q->stale >= 0 && cli_agent_stale(a, S.stale_ms, now) != q->stale) continue;
        render_agent_fast(w, e, now);
        n++;
    }
    json_w_arr_close(w);
    json_w_kint(w, "count", (int64_t)n);
    json_w_obj_close(w);
}

static void api_agents(hs_conn *c, const hp_request *r)
{
    agents_q q;
    char st[16];
    char *body;
    size_t len;
    memset(&q, 0, sizeof q);
    q.stale = -1;
    if (hp_query_get(r->query, "version", q.version, sizeof q.version) < 0 ||
        hp_query_get(r->query, "state", q.state, sizeof q.state) < 0 ||
        hp_query_get(r->query, "group", q.group, sizeof q.group) < 0 ||
        hp_query_get(r->query, "stale", st, sizeof st) < 0) {
        answer_error(c, 400, "a query parameter is malformed or too long");
        return;
    }
    if (st[0]) {
        if (!strcmp(st, "true")) q.stale = 1;
        else if (!strcmp(st, "false")) q.stale = 0;
        else { answer_error(c, 400, "stale must be true or false"); return; }
    }
    AcquireSRWLockShared(&S.lock);
    body = build_json(render_agents, &q, S.status.n * 700 + 1024, &len);
    ReleaseSRWLockShared(&S.lock);
    answer_json(c, 200, body, len);
}

static void render_one(json_w *w, void *arg) { render_agent(w, arg, win_unix_ms(), 1); }

static void api_agent(hs_conn *c, const char *pc)
{
    const sv_ent *e;
    char *body = NULL, msg[160];
    size_t len = 0;
    AcquireSRWLockShared(&S.lock);
    e = scope_valid_id(pc) ? map_get(&S.status, pc) : NULL;
    if (e) body = build_json(render_one, (void *)e, 8192, &len);
    ReleaseSRWLockShared(&S.lock);
    if (e) { answer_json(c, 200, body, len); return; }
    snprintf(msg, sizeof msg, "no agent '%.64s' in %s", pc, CLI_B_STATUS);
    answer_error(c, 404, msg);
}

static void render_config(json_w *w, void *arg)
{
    size_t i;
    char t[SCOPE_VERSION_MAX + 8];
    scope_target(map_get(&S.config, "global"), t, sizeof t);
    json_w_obj_open(w);
    json_w_kstr(w, "global_target", t);
    json_w_key(w, "scopes");
    json_w_arr_open(w);
    for (i = 0; i < S.config.n; i++) {
        const sv_ent *e = S.config.v[i];
        json_tok tok[256];
        json_doc d;
        int ok = json_parse(&d, e->val, e->len, tok, 256) == JSON_OK && tok[0].type == JSON_OBJECT;
        scope_target(e, t, sizeof t);
        json_w_obj_open(w);
        json_w_kstr(w, "scope", e->key);
        json_w_kstr(w, "target_version", t);
        json_w_key(w, "value");
        if (ok) json_w_raw(w, e->val, e->len); else json_w_null(w);
        json_w_kbool(w, "valid", ok);
        json_w_obj_close(w);
    }
    json_w_arr_close(w);
    json_w_obj_close(w);
}

/* Per target version: agents in each update state, who failed why, and
** the safe-rollout side (halt policy, verdict, waves). */
#define SV_MAX_TARGETS 256
#define SV_MAX_STATES  16
#define SV_MAX_RECORDS 16               /* failure records listed per version */
typedef struct ro_row {
    char version[SCOPE_VERSION_MAX + 8];
    int total, on_target, nstates;
    const char *state[SV_MAX_STATES];
    int count[SV_MAX_STATES];
} ro_row;

typedef struct ro_ctx {
    ro_row rows[SV_MAX_TARGETS];
    ro_entry *ent;                      /* room for every agent_rollouts entry */
    int64_t now;
} ro_ctx;

static ro_row *row_of(ro_ctx *x, int *nr, const char *version)
{
    int r;
    for (r = 0; r < *nr && strcmp(x->rows[r].version, version); r++) {}
    if (r < *nr) return &x->rows[r];
    if (*nr == SV_MAX_TARGETS) return NULL;
    memset(&x->rows[r], 0, sizeof x->rows[r]);
    snprintf(x->rows[r].version, sizeof x->rows[r].version, "%s", version);
    (*nr)++;
    return &x->rows[r];
}

/* The scopes that target version, and the rollout fields that apply: those
** of the global scope when it targets the version, else of the first such
** scope (the rule of `agent rollout status`). */
static void render_ro_scopes(json_w *w, const char *version, ro_rollout *ro)
{
    const sv_ent *pick = NULL;
    char t[SCOPE_VERSION_MAX + 8];
    size_t i;
    json_w_key(w, "scopes");
    json_w_arr_open(w);
    for (i = 0; i < S.config.n; i++) {
        const sv_ent *e = S.config.v[i];
        scope_target(e, t, sizeof t);
        if (strcmp(t, version)) continue;
        json_w_str(w, e->key);
        if (!pick || !strcmp(e->key, "global")) pick = e;
    }
    json_w_arr_close(w);
    memset(ro, 0, sizeof *ro);
    if (pick) ro_read_scope(pick->val, pick->len, ro);
}

/* The failure records of version and its ctl key, as the entries that
** ro_evaluate reads; the first SV_MAX_RECORDS valid records are listed. */
static void render_ro_verdict(json_w *w, ro_ctx *x, const char *version, const ro_rollout *ro)
{
    char prefix[RO_KEY_MAX], ctl[RO_KEY_MAX], pol[64];
    size_t at, pl, i;
    int n = 0, listed = 0;
    const sv_ent *c;
    ro_verdict v;
    if (ro_fail_prefix(version, prefix, sizeof prefix) != RO_OK || ro_ctl_key(version, ctl, sizeof ctl) != RO_OK)
        prefix[0] = ctl[0] = 0;
    pl = strlen(prefix);
    json_w_key(w, "failure_records");
    json_w_arr_open(w);
    map_find(&S.rollouts, prefix, &at);
    for (i = at; pl && i < S.rollouts.n && !strncmp(S.rollouts.v[i]->key, prefix, pl); i++) {
        const sv_ent *e = S.rollouts.v[i];
        ro_fail f;
        x->ent[n].key = e->key;
        x->ent[n].val = e->val;
        x->ent[n++].len = e->len;
        if (listed == SV_MAX_RECORDS || ro_fail_parse(e->val, e->len, &f) != RO_OK
            || strcmp(f.pc, e->key + pl) || strcmp(f.version, version))
            continue;
        listed++;
        json_w_obj_open(w);
        json_w_kstr(w, "pc_id", f.pc);
        json_w_kstr(w, "state", f.state);
        json_w_kstr(w, "reason", f.reason);
        json_w_kint(w, "at_ms", f.at_ms);
        json_w_obj_close(w);
    }
    json_w_arr_close(w);
    if (ctl[0] && (c = map_get(&S.rollouts, ctl)) != NULL) {
        x->ent[n].key = c->key;
        x->ent[n].val = c->val;
        x->ent[n++].len = c->len;
    }
    ro_evaluate(&ro->policy, version, x->ent, n, &v);
    ro_policy_format(&ro->policy, pol, sizeof pol);
    json_w_kstr(w, "halt_policy", pol[0] ? pol : NULL);
    json_w_kstr(w, "previous_version", ro->has_previous ? ro->previous : NULL);
    json_w_kbool(w, "halted", v.halted);
    json_w_kbool(w, "held_back", v.hold);
    json_w_kstr(w, "reason", v.reason);
    json_w_kint(w, "failures", v.failures);
    json_w_kint(w, "baseline", v.baseline);
    json_w_kint(w, "threshold", v.threshold);
    json_w_kint(w, "malformed", v.malformed);
    json_w_kstr(w, "scope_errors", ro->errors);
    json_w_key(w, "waves");
    json_w_arr_open(w);
    for (n = 0; n < ro->plan.nwaves; n++) {
        int64_t start = ro_wave_start_ms(&ro->plan, n);
        int hosts = 0, done = 0;
        char when[40] = "";
        /* Hosts in the wave: agents that target the version or run it. */
        for (i = 0; i < S.status.n; i++) {
            const cli_agent *a = S.status.v[i]->a;
            const sv_ent *g;
            if (strcmp(a->target, version) && strcmp(a->version, version)) continue;
            g = map_get(&S.groups, S.status.v[i]->key);
            if (ro_wave_of(&ro->plan, g ? g->g : NULL, g ? g->ng : 0) != n) continue;
            hosts++;
            done += !strcmp(a->version, version);
        }
        if (start < INT64_MAX) win_rfc3339(start, when);
        json_w_obj_open(w);
        json_w_kstr(w, "group", ro->plan.waves[n]);
        json_w_kint(w, "start_ms", start);
        json_w_kstr(w, "start", when);
        json_w_kbool(w, "due", start <= x->now && !v.hold);
        json_w_kint(w, "hosts", hosts);
        json_w_kint(w, "done", done);
        json_w_obj_close(w);
    }
    json_w_arr_close(w);
}

static void render_ro_row(json_w *w, ro_ctx *x, const ro_row *row)
{
    ro_rollout ro;
    size_t i;
    int k;
    json_w_obj_open(w);
    json_w_kstr(w, "target_version", row->version);
    json_w_kint(w, "agents", row->total);
    json_w_kint(w, "on_target", row->on_target);
    json_w_key(w, "states");
    json_w_obj_open(w);
    for (k = 0; k < row->nstates; k++) json_w_kint(w, row->state[k], row->count[k]);
    json_w_obj_close(w);
    json_w_key(w, "failing");
    json_w_arr_open(w);
    for (i = 0; i < S.status.n; i++) {
        const cli_agent *a = S.status.v[i]->a;
        if (strcmp(a->target, row->version) || !cli_agent_problem(a)) continue;
        json_w_obj_open(w);
        json_w_kstr(w, "pc_id", a->pc_id);
        json_w_kstr(w, "hostname", a->hostname);
        json_w_kstr(w, "update_state", a->state);
        json_w_kstr(w, "reason", a->error);
        json_w_obj_close(w);
    }
    json_w_arr_close(w);
    render_ro_scopes(w, row->version, &ro);
    render_ro_verdict(w, x, row->version, &ro);
    json_w_obj_close(w);
}

static void render_rollouts(json_w *w, void *arg)
{
    ro_ctx *x = arg;
    char t[SCOPE_VERSION_MAX + 8];
    int nr = 0, r, k;
    size_t i;
    for (i = 0; i < S.status.n; i++) {
        const cli_agent *a = S.status.v[i]->a;
        ro_row *row;
        if (!a->target[0] || (row = row_of(x, &nr, a->target)) == NULL) continue;
        row->total++;
        row->on_target += !strcmp(a->version, a->target);
        for (k = 0; k < row->nstates && strcmp(row->state[k], a->state); k++) {}
        if (k == row->nstates) {
            if (k == SV_MAX_STATES) continue;
            row->state[row->nstates++] = a->state;
        }
        row->count[k]++;
    }
    /* A target no agent reports yet (a rollout just written, or held). */
    for (i = 0; i < S.config.n; i++) {
        scope_target(S.config.v[i], t, sizeof t);
        if (t[0] && scope_valid_version(t)) row_of(x, &nr, t);
    }
    json_w_obj_open(w);
    json_w_key(w, "rollouts");
    json_w_arr_open(w);
    for (r = 0; r < nr; r++) render_ro_row(w, x, &x->rows[r]);
    json_w_arr_close(w);
    json_w_obj_close(w);
}

static void api_from_copy(hs_conn *c, void (*fn)(json_w *, void *), void *arg)
{
    char *body;
    size_t len;
    AcquireSRWLockShared(&S.lock);
    body = build_json(fn, arg, S.status.n * 200 + 4096, &len);
    ReleaseSRWLockShared(&S.lock);
    answer_json(c, 200, body, len);
}

static void api_rollouts(hs_conn *c)
{
    ro_ctx *x = malloc(sizeof *x);
    char *body = NULL;
    size_t len = 0;
    if (!x) { answer_error(c, 500, "out of memory"); return; }
    x->now = win_unix_ms();
    AcquireSRWLockShared(&S.lock);
    if ((x->ent = malloc((S.rollouts.n + 1) * sizeof *x->ent)) != NULL)
        body = build_json(render_rollouts, x, S.status.n * 200 + 4096, &len);
    ReleaseSRWLockShared(&S.lock);
    free(x->ent);
    free(x);
    answer_json(c, 200, body, len);
}

typedef struct rel_list { obj_info *v; size_t n, cap; } rel_list;

static void rel_add(void *arg, const obj_info *in)
{
    rel_list *l = arg;
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 32;
        obj_info *nv = realloc(l->v, nc * sizeof *nv);
        if (!nv) return;
        l->v = nv;
        l->cap = nc;
    }
    l->v[l->n++] = *in;
}

static int cmp_rel(const void *x, const void *y)
{
    return strcmp(((const obj_info *)y)->mtime, ((const obj_info *)x)->mtime);
}

static void render_releases(json_w *w, void *arg)
{
    rel_list *l = arg;
    size_t i;
    json_w_obj_open(w);
    json_w_key(w, "releases");
    json_w_arr_open(w);
    for (i = 0; i < l->n; i++) {
        json_w_obj_open(w);
        json_w_kstr(w, "version", l->v[i].name);
        json_w_key(w, "size");
        json_w_uint(w, l->v[i].size);
        json_w_kstr(w, "digest", l->v[i].digest);
        json_w_kstr(w, "published", l->v[i].mtime);
        /* The signer the release names, as `agent releases` shows it; the
        ** agents verify the signature, this only reports it. */
        json_w_kstr(w, "signing_key_id", obj_header(&l->v[i], TRUST_HDR_SIG)
                                         ? obj_header(&l->v[i], TRUST_HDR_KEYID) : NULL);
        json_w_obj_close(w);
    }
    json_w_arr_close(w);
    json_w_obj_close(w);
}

static void api_releases(hs_conn *c)
{
    rel_list l;
    js_err e;
    char *body;
    size_t len;
    int rc;
    memset(&l, 0, sizeof l);
    memset(&e, 0, sizeof e);
    EnterCriticalSection(&S.js_mu);
    rc = obj_list(S.releases, 0, rel_add, &l, &e);
    LeaveCriticalSection(&S.js_mu);
    if (rc != NATS_OK) {
        char msg[300];
        snprintf(msg, sizeof msg, "cannot list %s: %s", CLI_B_RELEASES, e.desc[0] ? e.desc : nats_strerror(rc));
        free(l.v);
        answer_error(c, 502, msg);
        return;
    }
    qsort(l.v, l.n, sizeof *l.v, cmp_rel);
    body = build_json(render_releases, &l, l.n * 300 + 256, &len);
    free(l.v);
    answer_json(c, 200, body, len);
}

/* Server-Sent Events: every change after the client connected. A client
** that falls SV_RING events behind is cut off; EventSource reconnects and
** the page reloads everything once. */
static void api_events(hs_conn *c)
{
    static const char hello[] = "retry: 2000\n: connected\n\n";
    uint64_t next, last_send = win_tick_ms();
    if (hs_stream_begin(c, "text/event-stream; charset=utf-8") != 0) return;
    if (hs_stream_send(c, hello, sizeof hello - 1) != 0) return;
    AcquireSRWLockShared(&S.lock);
    next = S.seq;
    ReleaseSRWLockShared(&S.lock);
    while (!hs_stopping(c) && !S.stop) {
        char *out = NULL;
        size_t len = 0, cap = 0;
        int lost = 0;
        AcquireSRWLockShared(&S.lock);
        if (next == S.seq) SleepConditionVariableSRW(&S.cv, &S.lock, 1000, CONDITION_VARIABLE_LOCKMODE_SHARED);
        if (S.seq - next > SV_RING) lost = 1;
        for (; !lost && next < S.seq; next++) {
            const char *ev = S.ring[next % SV_RING];
            size_t n = strlen(ev);
            if (len + n + 1 > cap) {
                size_t nc = (len + n + 1) * 2;
                char *nb = realloc(out, nc);
                if (!nb) { lost = 1; break; }
                out = nb;
                cap = nc;
            }
            memcpy(out + len, ev, n);
            len += n;
        }
        ReleaseSRWLockShared(&S.lock);
        if (lost) { free(out); break; }
        if (len) {
            int rc = hs_stream_send(c, out, len);
            free(out);
            if (rc != 0) break;
            last_send = win_tick_ms();
        } else if (win_tick_ms() - last_send > SV_PING_MS) {
            if (hs_stream_send(c, ": ping\n\n", 8) != 0) break;
            last_send = win_tick_ms();
        }
    }
}

static int authorized(const hp_request *r, int allow_query)
{
    char q[HP_MAX_TOKEN + 1];
    if (!S.token[0]) return 1;
    if (r->has_bearer && !r->bearer_too_long) return hp_token_eq(r->bearer, S.token);
    return allow_query && hp_query_get(r->query, "token", q, sizeof q) == 0 && hp_token_eq(q, S.token);
}

static void handle(void *arg, hs_conn *c, const hp_request *r)
{
    const char *p = r->path;
    if (!strcmp(p, "/") || !strcmp(p, "/index.html")) {
        hs_respond(c, 200, "text/html; charset=utf-8", NULL, S.index, S.index_len);
    } else if (!strcmp(p, "/app.css")) {
        hs_respond(c, 200, "text/css; charset=utf-8", NULL, web_app_css, web_app_css_len);
    } else if (!strcmp(p, "/app.js")) {
        hs_respond(c, 200, "text/javascript; charset=utf-8", NULL, web_app_js, web_app_js_len);
    } else if (!strcmp(p, "/healthz")) {
        int up;
        AcquireSRWLockShared(&S.lock);
        up = S.init_done == SV_LOADED && nats_is_connected(cli_g.nc);
        ReleaseSRWLockShared(&S.lock);
        if (up) hs_respond(c, 200, "text/plain; charset=utf-8", NULL, "ok\n", 3);
        else hs_respond(c, 503, "text/plain; charset=utf-8", NULL, "broker not reached\n", 19);
    } else if (strncmp(p, "/api/", 5) != 0) {
        answer_error(c, 404, "not found");
    } else if (!authorized(r, !strcmp(p, "/api/events"))) {
        answer_error(c, 401, "missing or wrong token: send Authorization: Bearer <token>");
    } else if (!strcmp(p, "/api/agents")) {
        api_agents(c, r);
    } else if (!strncmp(p, "/api/agents/", 12)) {
        api_agent(c, p + 12);
    } else if (!strcmp(p, "/api/config")) {
        api_from_copy(c, render_config, NULL);
    } else if (!strcmp(p, "/api/rollouts")) {
        api_rollouts(c);
    } else if (!strcmp(p, "/api/releases")) {
        api_releases(c);
    } else if (!strcmp(p, "/api/events")) {
        api_events(c);
    } else {
        answer_error(c, 404, "not found");
    }
}

/* ============================================================ command */

static void log_request(void *arg, const char *line) { cli_warn("serve: %s\n", line); }

static BOOL WINAPI on_ctrl(DWORD type)
{
    if (type != CTRL_C_EVENT && type != CTRL_BREAK_EVENT && type != CTRL_CLOSE_EVENT) return FALSE;
    InterlockedExchange(&S.stop, 1);
    SetEvent(S.stop_ev);
    return TRUE;
}

/* The page preloads /api/agents, so the fleet's largest answer travels
** while the CSS and JS load. A preload cannot send the token: with one,
** the page is served without that line, or the browser would hand the
** page's authorised fetch a 401. */
static int page_init(void)
{
    static const char pre[] = "<link rel=\"preload\" href=\"/api/agents\" as=\"fetch\" crossorigin=\"anonymous\">\n";
    const char *html = (const char *)web_index_html, *at = NULL;
    size_t n = web_index_html_len, i, pl = sizeof pre - 1;
    char *copy;
    S.index = html;
    S.index_len = n;
    if (!S.token[0]) return 0;
    for (i = 0; !at && i + pl <= n; i++) if (!memcmp(html + i, pre, pl)) at = html + i;
    if (!at) return 0;
    if ((copy = malloc(n - pl)) == NULL) return -1;
    memcpy(copy, html, (size_t)(at - html));
    memcpy(copy + (at - html), at + pl, n - (size_t)(at - html) - pl);
    S.index = copy;
    S.index_len = n - pl;
    return 0;
}

/* The token: printable ASCII without spaces, so it survives a header. */
static int valid_token(const char *t)
{
    size_t n = strlen(t), i;
    if (n == 0 || n > HP_MAX_TOKEN) return 0;
    for (i = 0; i < n; i++) if (t[i] <= ' ' || t[i] > '~') return 0;
    return 1;
}

/* serve [--listen 127.0.0.1:8080] [--web-token T] [--stale 90s] */
int cli_cmd_serve(void)
{
    static char env_tok[HP_MAX_TOKEN + 2];
    const char *listen = cli_opt_last("listen"), *tok = cli_opt_last("web-token"), *sv = cli_opt_last("stale");
    hs_opts o;
    hs_server *srv = NULL;
    HANDLE wev = NULL, wth = NULL;
    char err[300];
    int loop = 0, code, i;
    if (!listen) listen = SV_DEFAULT_LISTEN;
    if (!tok && win_getenv("KANADE_WEB_TOKEN", env_tok, sizeof env_tok) == 0 && env_tok[0]) tok = env_tok;
    if (!tok) tok = "";
    if (tok[0] && !valid_token(tok))
        return cli_usage("the web token must be 1-%d printable characters without spaces", HP_MAX_TOKEN);
    S.stale_ms = CLI_STALE_MS;
    if (sv && (scope_parse_duration(sv, &S.stale_ms) != SCOPE_OK || S.stale_ms <= 0))
        return cli_usage("--stale '%s' is not a duration like 90s or 5m", sv);
    if (hs_listen_is_loopback(listen, &loop) != 0)
        return cli_usage("--listen '%s' is not an address like 127.0.0.1:8080 or [::1]:8080", listen);
    if (!loop && !tok[0])
        return cli_usage("--listen %s is not a loopback address: set --web-token (or KANADE_WEB_TOKEN) "
                         "so only holders of the token can read the fleet", listen);
    S.token = tok;
    /* A long-running server rides out broker restarts; the watches resume. */
    cli_g.reconnect = 1;
    if ((code = cli_connect()) != CLI_OK) return code;
    for (i = 0; i < NB; i++) if ((code = cli_open_kv(BUCKETS[i], &S.b[i])) != CLI_OK) goto done;
    if ((code = cli_open_obj(CLI_B_RELEASES, &S.releases)) != CLI_OK) goto done;
    if ((S.ring = calloc(SV_RING, sizeof *S.ring)) == NULL || page_init() != 0) {
        code = cli_fail(CLI_FAIL, "out of memory");
        goto done;
    }
    InitializeSRWLock(&S.lock);
    InitializeConditionVariable(&S.cv);
    InitializeCriticalSection(&S.js_mu);
    S.stop_ev = CreateEventW(NULL, TRUE, FALSE, NULL);
    wev = CreateEventW(NULL, FALSE, FALSE, NULL);
    if (!S.stop_ev || !wev || (wth = (HANDLE)_beginthreadex(NULL, 0, watch_main, wev, 0, NULL)) == NULL) {
        code = cli_fail(CLI_FAIL, "cannot start the watch thread: %s", win_last_error());
        goto done;
    }
    memset(&o, 0, sizeof o);
    o.listen = listen;
    o.handler = handle;
    o.log = log_request;
    o.csp = SV_CSP;
    if (hs_start(&o, &srv, err, sizeof err) != 0) { code = cli_fail(CLI_FAIL, "%s", err); goto done; }
    SetConsoleCtrlHandler(on_ctrl, TRUE);
    {
        char host[256];
        const char *colon = strrchr(listen, ':');
        snprintf(host, sizeof host, "%.*s", (int)(colon - listen), listen);
        cli_say("kanade: serving the fleet page on http://%s:%d/%s (Ctrl-C stops)\n", host, hs_port(srv),
                tok[0] ? "; the API needs the token" : "");
        fflush(stdout);
    }
    WaitForSingleObject(S.stop_ev, INFINITE);
    cli_warn("kanade: serve: stopping\n");
    hs_stop(srv, 3000);
    code = CLI_OK;
done:
    InterlockedExchange(&S.stop, 1);
    if (wth) { WaitForSingleObject(wth, 5000); CloseHandle(wth); }
    if (wev) CloseHandle(wev);
    return code;
}
