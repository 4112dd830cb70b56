/*
** cli_fleet.c — the fleet commands of kanade.exe: status (counts over
** agent_status), agents (one row per agent), groups (a pc's groups in
** agent_groups) and ping (one agent, live).
** See cli.h for the helpers and conventions: each cli_cmd_* validates
** everything the operator typed before it connects, and returns a process
** exit code.
*/
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "win.h"

/* Fills a from the status document of key; an unparsable one keeps the key. */
void cli_agent_parse(const kv_entry *en, cli_agent *a)
{
    json_tok tok[512];
    json_doc d;
    int q;
    memset(a, 0, sizeof *a);
    a->percent = -1;
    a->release_keys = -1;
    a->raw = (const char *)en->value;
    a->raw_len = en->len;
    snprintf(a->pc_id, sizeof a->pc_id, "%s", en->key);
    if (json_parse(&d, a->raw, a->raw_len, tok, 512) != JSON_OK || d.ntok < 1 || tok[0].type != JSON_OBJECT) {
        snprintf(a->state, sizeof a->state, "unknown");
        snprintf(a->error, sizeof a->error, "status is not a JSON object");
        return;
    }
    a->raw_ok = 1;
    json_get_str(&d, 0, "agent_version", a->version, sizeof a->version);
    json_get_str(&d, 0, "target_version", a->target, sizeof a->target);
    json_get_str(&d, 0, "target_scope", a->target_scope, sizeof a->target_scope);
    if (json_get_str(&d, 0, "update_state", a->state, sizeof a->state) != JSON_OK || !a->state[0])
        snprintf(a->state, sizeof a->state, "unknown");
    json_get_str(&d, 0, "hostname", a->hostname, sizeof a->hostname);
    json_get_str(&d, 0, "update_error", a->error, sizeof a->error);
    json_get_str(&d, 0, "exe_sha256", a->exe_sha256, sizeof a->exe_sha256);
    if (json_get_str(&d, 0, "at", a->at, sizeof a->at) == JSON_OK)
        a->have_at = win_parse_rfc3339(a->at, &a->at_ms) == 0;
    if (json_get_int(&d, 0, "update_percent", &a->percent) != JSON_OK) a->percent = -1;
    if (json_get_int(&d, 0, "release_keys", &a->release_keys) != JSON_OK) a->release_keys = -1;
    json_get_str(&d, 0, "target_error", a->target_error, sizeof a->target_error);
    q = json_find(&d, 0, "quarantined_versions");
    if (q > 0 && tok[q].type == JSON_ARRAY) {
        int k, i = q + 1;
        size_t o = 0;
        for (k = 0; k < tok[q].size && i < d.ntok; k++) {
            char v[SCOPE_VERSION_MAX + 8];
            if (json_tok_str(&d, i, v, sizeof v) == JSON_OK && o + strlen(v) + 2 < sizeof a->quarantined)
                o += (size_t)snprintf(a->quarantined + o, sizeof a->quarantined - o, "%s%s", o ? "," : "", v);
            i = json_skip(&d, i);
        }
    }
}

static int cmp_agent(const void *x, const void *y)
{
    return strcmp(((const cli_agent *)x)->pc_id, ((const cli_agent *)y)->pc_id);
}

/*
** Reads every agent_status document into *out (sorted by pc_id). The caller
** frees *out and then the list l, which owns the raw documents.
*/
static int load_agents(cli_kv_list *l, cli_agent **out, size_t *n)
{
    kv_bucket *b = NULL;
    size_t i;
    int code;
    *out = NULL;
    *n = 0;
    if ((code = cli_connect()) != CLI_OK || (code = cli_open_kv(CLI_B_STATUS, &b)) != CLI_OK) return code;
    code = cli_kv_read_all(b, CLI_B_STATUS, l);
    kv_close(b);
    if (code != CLI_OK) return code;
    if ((*out = calloc(l->n + 1, sizeof **out)) == NULL) { cli_kv_list_free(l); return cli_fail(CLI_FAIL, "out of memory"); }
    for (i = 0; i < l->n; i++) cli_agent_parse(&l->v[i], &(*out)[i]);
    *n = l->n;
    qsort(*out, *n, sizeof **out, cmp_agent);
    return CLI_OK;
}

typedef struct agents_out { cli_agent *a; size_t n; } agents_out;

static void render_agent(json_w *w, const cli_agent *a)
{
    int64_t now = win_unix_ms();
    json_w_obj_open(w);
    json_w_kstr(w, "pc_id", a->pc_id);
    json_w_kstr(w, "agent_version", a->version);
    json_w_kstr(w, "target_version", a->target);
    json_w_kstr(w, "update_state", a->state);
    json_w_kstr(w, "hostname", a->hostname);
    json_w_kstr(w, "at", a->at);
    json_w_key(w, "age_s");
    if (a->have_at) json_w_int(w, (now - a->at_ms) / 1000); else json_w_null(w);
    json_w_kstr(w, "update_error", a->error);
    json_w_key(w, "release_keys");
    if (a->release_keys >= 0) json_w_int(w, a->release_keys); else json_w_null(w);
    if (a->target_error[0]) json_w_kstr(w, "target_error", a->target_error);
    json_w_obj_close(w);
}

/* Agents by release keys: 0 = accepts unsigned builds, -1 = does not say. */
static int count_keys(const cli_agent *a, size_t n, int64_t want)
{
    size_t i;
    int c = 0;
    for (i = 0; i < n; i++) c += a[i].release_keys == want || (want > 0 && a[i].release_keys > 0);
    return c;
}

static void render_agents(json_w *w, void *arg)
{
    agents_out *o = arg;
    size_t i;
    json_w_arr_open(w);
    for (i = 0; i < o->n; i++) render_agent(w, &o->a[i]);
    json_w_arr_close(w);
}

/* agents: one line per agent in agent_status. */
int cli_cmd_agents(void)
{
    cli_kv_list l;
    cli_agent *a;
    size_t n, i;
    int code, wid = 5, wv = 13, wt = 14, ws = 12;
    if ((code = load_agents(&l, &a, &n)) != CLI_OK) return code;
    if (cli_g.json) {
        agents_out o;
        o.a = a;
        o.n = n;
        code = cli_emit_json(render_agents, &o);
    } else if (n == 0) {
        cli_say("no agents in %s yet\n", CLI_B_STATUS);
    } else {
        for (i = 0; i < n; i++) {
            if ((int)strlen(a[i].pc_id) > wid) wid = (int)strlen(a[i].pc_id);
            if ((int)strlen(a[i].version) > wv) wv = (int)strlen(a[i].version);
            if ((int)strlen(a[i].target) > wt) wt = (int)strlen(a[i].target);
            if ((int)strlen(a[i].state) > ws) ws = (int)strlen(a[i].state);
        }
        cli_say("%-*s  %-*s  %-*s  %-*s  %s\n", wid, "PC_ID", wv, "AGENT_VERSION", wt, "TARGET_VERSION",
                ws, "UPDATE_STATE", "HEARTBEAT");
        for (i = 0; i < n; i++) {
            char age[40];
            cli_fmt_age(a[i].at_ms, a[i].have_at, age, sizeof age);
            cli_say("%-*s  %-*s  %-*s  %-*s  %s%s\n", wid, a[i].pc_id, wv, a[i].version[0] ? a[i].version : "-",
                    wt, a[i].target[0] ? a[i].target : "-", ws, a[i].state, age, a[i].have_at ? " ago" : "");
        }
    }
    free(a);
    cli_kv_list_free(&l);
    return code;
}

typedef struct count_row { const char *name; int count; } count_row;

static int cmp_count(const void *x, const void *y)
{
    const count_row *a = x, *b = y;
    if (a->count != b->count) return a->count > b->count ? -1 : 1;
    return strcmp(a->name, b->name);
}

/* Tallies field values (at offset off in cli_agent) into rows; returns the row count. */
static int tally(const cli_agent *a, size_t n, size_t off, count_row *rows)
{
    size_t i;
    int nr = 0, j;
    for (i = 0; i < n; i++) {
        const char *v = (const char *)&a[i] + off;
        if (!*v) v = "(unknown)";
        for (j = 0; j < nr && strcmp(rows[j].name, v) != 0; j++) {}
        if (j == nr) { rows[nr].name = v; rows[nr].count = 0; nr++; }
        rows[j].count++;
    }
    qsort(rows, (size_t)nr, sizeof *rows, cmp_count);
    return nr;
}

/* Held back by a safe rollout (docs/rollouts.md): not swapped, not failed. */
static int is_halted(const cli_agent *a)
{
    return !strcmp(a->state, "halted");
}

/* The one staleness rule, shared with kanade serve: no parsable "at", or
** older than stale_ms. */
int cli_agent_stale(const cli_agent *a, int64_t stale_ms, int64_t now)
{
    return !a->have_at || now - a->at_ms > stale_ms;
}

int cli_agent_problem(const cli_agent *a)
{
    return !strcmp(a->state, "failed") || !strcmp(a->state, "rolled_back") || !strcmp(a->state, "quarantined");
}

typedef struct status_out {
    cli_agent *a;
    size_t n;
    count_row *versions, *states;
    int nv, ns;
    int64_t stale_ms;
} status_out;

static void render_status(json_w *w, void *arg)
{
    status_out *s = arg;
    int64_t now = win_unix_ms();
    size_t i;
    int j;
    char st[40];
    json_w_obj_open(w);
    json_w_kint(w, "agents", (int64_t)s->n);
    json_w_key(w, "versions");
    json_w_obj_open(w);
    for (j = 0; j < s->nv; j++) json_w_kint(w, s->versions[j].name, s->versions[j].count);
    json_w_obj_close(w);
    json_w_key(w, "update_states");
    json_w_obj_open(w);
    for (j = 0; j < s->ns; j++) json_w_kint(w, s->states[j].name, s->states[j].count);
    json_w_obj_close(w);
    scope_format_duration(s->stale_ms, st, sizeof st);
    json_w_kstr(w, "stale_after", st);
    json_w_key(w, "stale");
    json_w_arr_open(w);
    for (i = 0; i < s->n; i++) if (cli_agent_stale(&s->a[i], s->stale_ms, now)) render_agent(w, &s->a[i]);
    json_w_arr_close(w);
    json_w_key(w, "problems");
    json_w_arr_open(w);
    for (i = 0; i < s->n; i++) if (cli_agent_problem(&s->a[i])) render_agent(w, &s->a[i]);
    json_w_arr_close(w);
    json_w_key(w, "release_keys");
    json_w_obj_open(w);
    json_w_kint(w, "with_keys", count_keys(s->a, s->n, 1));
    json_w_kint(w, "without_keys", count_keys(s->a, s->n, 0));
    json_w_kint(w, "not_reported", count_keys(s->a, s->n, -1));
    json_w_obj_close(w);
    json_w_key(w, "target_errors");
    json_w_arr_open(w);
    for (i = 0; i < s->n; i++) if (s->a[i].target_error[0]) render_agent(w, &s->a[i]);
    json_w_arr_close(w);
    json_w_key(w, "halted");
    json_w_arr_open(w);
    for (i = 0; i < s->n; i++) if (is_halted(&s->a[i])) render_agent(w, &s->a[i]);
    json_w_arr_close(w);
    json_w_obj_close(w);
}

static void print_counts(const char *title, const count_row *rows, int nr, int bars)
{
    int j, w = 1, max = 1;
    cli_say("%s:\n", title);
    for (j = 0; j < nr; j++) {
        if ((int)strlen(rows[j].name) > w) w = (int)strlen(rows[j].name);
        if (rows[j].count > max) max = rows[j].count;
    }
    for (j = 0; j < nr; j++) {
        char bar[41];
        int k, len = bars ? (rows[j].count * 40 + max - 1) / max : 0;
        for (k = 0; k < len; k++) bar[k] = '#';
        bar[len] = 0;
        cli_say("  %-*s  %5d  %s\n", w, rows[j].name, rows[j].count, bar);
    }
}

/* agent status [--stale 90s]: the fleet-wide spot-check. */
int cli_cmd_status(void)
{
    const char *sv = cli_opt_last("stale");
    int64_t stale_ms = CLI_STALE_MS, now;
    cli_kv_list l;
    cli_agent *a;
    size_t n, i;
    int code, nstale = 0, nprob = 0;
    count_row *rows;
    status_out so;
    char st[40], age[40];
    if (sv && (scope_parse_duration(sv, &stale_ms) != SCOPE_OK || stale_ms <= 0))
        return cli_usage("--stale '%s' is not a duration like 90s or 5m", sv);
    if ((code = load_agents(&l, &a, &n)) != CLI_OK) return code;
    if ((rows = calloc(2 * n + 2, sizeof *rows)) == NULL) {
        free(a);
        cli_kv_list_free(&l);
        return cli_fail(CLI_FAIL, "out of memory");
    }
    memset(&so, 0, sizeof so);
    so.a = a;
    so.n = n;
    so.stale_ms = stale_ms;
    so.versions = rows;
    so.states = rows + n + 1;
    so.nv = tally(a, n, offsetof(cli_agent, version), so.versions);
    so.ns = tally(a, n, offsetof(cli_agent, state), so.states);
    now = win_unix_ms();
    if (cli_g.json) {
        code = cli_emit_json(render_status, &so);
        goto done;
    }
    cli_say("%d agent%s in %s\n\n", (int)n, n == 1 ? "" : "s", CLI_B_STATUS);
    if (n == 0) goto done;
    print_counts("agent versions", so.versions, so.nv, 1);
    cli_say("\n");
    print_counts("update states", so.states, so.ns, 0);
    scope_format_duration(stale_ms, st, sizeof st);
    for (i = 0; i < n; i++) { nstale += cli_agent_stale(&a[i], stale_ms, now); nprob += cli_agent_problem(&a[i]); }
    cli_say("\nstale (no heartbeat for %s): %d\n", st, nstale);
    for (i = 0; i < n; i++) {
        if (!cli_agent_stale(&a[i], stale_ms, now)) continue;
        cli_fmt_age(a[i].at_ms, a[i].have_at, age, sizeof age);
        cli_say("  %s  %s  last heartbeat %s%s (%s)\n", a[i].pc_id, a[i].version[0] ? a[i].version : "-",
                age, a[i].have_at ? " ago" : "", a[i].at[0] ? a[i].at : "no time");
    }
    cli_say("\nfailed, rolled back or quarantined: %d\n", nprob);
    for (i = 0; i < n; i++) {
        if (!cli_agent_problem(&a[i])) continue;
        cli_say("  %s  %s  %s -> %s: %s%s%s\n", a[i].pc_id, a[i].state, a[i].version[0] ? a[i].version : "-",
                a[i].target[0] ? a[i].target : "-", a[i].error[0] ? a[i].error : "(no update_error)",
                a[i].quarantined[0] ? "; quarantined: " : "", a[i].quarantined);
    }
    cli_say("\nrelease keys: %d with, %d without (they accept unsigned builds)%s", count_keys(a, n, 1),
            count_keys(a, n, 0), count_keys(a, n, -1) ? "" : "\n");
    if (count_keys(a, n, -1)) cli_say(", %d not reporting\n", count_keys(a, n, -1));
    for (i = 0; i < n; i++)
        if (a[i].release_keys == 0) cli_say("  %s  accepts unsigned builds\n", a[i].pc_id);
    for (i = 0; i < n; i++)
        if (a[i].target_error[0]) cli_say("  %s  ignored targets: %s\n", a[i].pc_id, a[i].target_error);
    for (i = 0, nprob = 0; i < n; i++) nprob += is_halted(&a[i]);
    if (nprob) cli_say("\nhalted by a rollout (not swapped; see 'kanade agent rollout status'): %d\n", nprob);
    for (i = 0; i < n; i++) {
        if (!is_halted(&a[i])) continue;
        cli_say("  %s  %s -> %s: %s\n", a[i].pc_id, a[i].version[0] ? a[i].version : "-",
                a[i].target[0] ? a[i].target : "-", a[i].error[0] ? a[i].error : "(no update_error)");
    }
done:
    free(rows);
    free(a);
    cli_kv_list_free(&l);
    return code;
}

/* The groups edit: --set replaces, then --add/--remove apply in order. */
typedef struct groups_edit {
    char (*set)[SCOPE_ID_MAX + 1];
    int nset, has_set;
    char (*add)[SCOPE_ID_MAX + 1];
    int nadd;
    char (*rem)[SCOPE_ID_MAX + 1];
    int nrem;
    char now[SCOPE_MAX_GROUPS][SCOPE_ID_MAX + 1];   /* the resulting groups */
    int nnow;
    int was_bad;                /* the old value did not parse */
} groups_edit;

static int groups_apply(void *arg, const char *cur, size_t len, char *out, size_t cap,
                        char *err, size_t errcap)
{
    groups_edit *g = arg;
    char old[SCOPE_MAX_GROUPS][SCOPE_ID_MAX + 1];
    int nold = 0, i, j, same;
    g->was_bad = 0;
    if (cur && scope_parse_groups(cur, len, old, SCOPE_MAX_GROUPS, &nold) != SCOPE_OK) {
        g->was_bad = 1;
        nold = 0;
    }
    g->nnow = 0;
    if (g->has_set) {
        for (i = 0; i < g->nset; i++) memcpy(g->now[g->nnow++], g->set[i], SCOPE_ID_MAX + 1);
    } else {
        for (i = 0; i < nold; i++) memcpy(g->now[g->nnow++], old[i], SCOPE_ID_MAX + 1);
    }
    for (i = 0; i < g->nadd; i++) {
        for (j = 0; j < g->nnow && strcmp(g->now[j], g->add[i]) != 0; j++) {}
        if (j < g->nnow) continue;
        if (g->nnow >= SCOPE_MAX_GROUPS) { snprintf(err, errcap, "more than %d groups", SCOPE_MAX_GROUPS); return -1; }
        memcpy(g->now[g->nnow++], g->add[i], SCOPE_ID_MAX + 1);
    }
    for (i = 0; i < g->nrem; i++)
        for (j = 0; j < g->nnow; j++)
            if (!strcmp(g->now[j], g->rem[i])) { memcpy(g->now[j], g->now[--g->nnow], SCOPE_ID_MAX + 1); j--; }
    if (scope_write_groups(g->now, g->nnow, out, cap) != SCOPE_OK) {
        snprintf(err, errcap, "cannot encode the group list");
        return -1;
    }
    /* Re-read what we wrote so g->now is sorted and deduplicated. */
    scope_parse_groups(out, strlen(out), g->now, SCOPE_MAX_GROUPS, &g->nnow);
    same = cur && !g->was_bad && nold == g->nnow;
    for (i = 0; same && i < nold; i++) same = !strcmp(old[i], g->now[i]);
    if (!cur && g->nnow == 0 && !g->has_set) return 1;  /* nothing to show or write */
    return same ? 1 : 0;
}

typedef struct groups_out { const char *pc; groups_edit *g; int changed; } groups_out;

static void render_groups(json_w *w, void *arg)
{
    groups_out *o = arg;
    int i;
    json_w_obj_open(w);
    json_w_kstr(w, "pc_id", o->pc);
    json_w_key(w, "groups");
    json_w_arr_open(w);
    for (i = 0; i < o->g->nnow; i++) json_w_str(w, o->g->now[i]);
    json_w_arr_close(w);
    json_w_kbool(w, "changed", o->changed);
    json_w_obj_close(w);
}

/* agent groups <pc_id> [--set a,b | --add g | --remove g] */
int cli_cmd_groups(void)
{
    static char set[CLI_MAX_IDS][SCOPE_ID_MAX + 1], add[CLI_MAX_IDS][SCOPE_ID_MAX + 1];
    static char rem[CLI_MAX_IDS][SCOPE_ID_MAX + 1];
    static groups_edit g;
    const char *pc = cli_arg(0);
    char val[CLI_VALUE_MAX];
    kv_bucket *b = NULL;
    cli_cas_result res;
    groups_out o;
    int code, i, editing;
    memset(&g, 0, sizeof g);
    if (!scope_valid_id(pc)) return cli_usage("'%s' is not a valid pc_id (letters, digits, '_' and '-')", pc);
    g.has_set = cli_opt_has("set");
    if (g.has_set && (cli_opt_has("add") || cli_opt_has("remove")))
        return cli_usage("--set replaces the list; use it without --add/--remove");
    if ((code = cli_collect_ids("set", NULL, 1, set, CLI_MAX_IDS, &g.nset)) != CLI_OK ||
        (code = cli_collect_ids("add", NULL, 0, add, CLI_MAX_IDS, &g.nadd)) != CLI_OK ||
        (code = cli_collect_ids("remove", NULL, 0, rem, CLI_MAX_IDS, &g.nrem)) != CLI_OK)
        return code;
    if (g.nset > SCOPE_MAX_GROUPS) return cli_usage("--set: more than %d groups", SCOPE_MAX_GROUPS);
    g.set = set;
    g.add = add;
    g.rem = rem;
    editing = g.has_set || g.nadd || g.nrem;
    if ((code = cli_connect()) != CLI_OK || (code = cli_open_kv(CLI_B_GROUPS, &b)) != CLI_OK) return code;
    if (editing) {
        code = cli_kv_cas(b, CLI_B_GROUPS, pc, groups_apply, &g, val, sizeof val, &res);
    } else {
        kv_entry en;
        js_err e;
        int rc;
        memset(&en, 0, sizeof en);
        memset(&e, 0, sizeof e);
        memset(&res, 0, sizeof res);
        rc = kv_get(b, pc, &en, &e);
        if (rc == NATS_OK) {
            if (scope_parse_groups((const char *)en.value, en.len, g.now, SCOPE_MAX_GROUPS, &g.nnow) != SCOPE_OK)
                cli_warn("kanade: warning: %s/%s is not a valid group list; agents treat it as no groups\n", CLI_B_GROUPS, pc);
        } else if (rc != NATS_ERR_NOT_FOUND) {
            code = cli_fail_nats(rc, &e, "cannot read %s/%s", CLI_B_GROUPS, pc);
        }
        kv_entry_clear(&en);
    }
    kv_close(b);
    if (code != CLI_OK) return code;
    o.pc = pc;
    o.g = &g;
    o.changed = res.changed;
    if (cli_g.json) return cli_emit_json(render_groups, &o);
    cli_say("%s: ", pc);
    for (i = 0; i < g.nnow; i++) cli_say("%s%s", i ? ", " : "", g.now[i]);
    cli_say("%s%s\n", g.nnow ? "" : "(no groups)", editing && !res.changed ? " (unchanged)" : "");
    return CLI_OK;
}

typedef struct ping_out { const nats_msg *m; double rtt_ms; } ping_out;

static void render_ping(json_w *w, void *arg)
{
    ping_out *p = arg;
    char num[32];
    snprintf(num, sizeof num, "%.3f", p->rtt_ms);
    json_w_obj_open(w);
    json_w_key(w, "rtt_ms");
    json_w_raw(w, num, strlen(num));
    json_w_key(w, "heartbeat");
    json_w_raw(w, (const char *)p->m->data, p->m->len);
    json_w_obj_close(w);
}

/* ping <pc_id>: one request on agents.<pc_id>.ping, answer and round trip. */
int cli_cmd_ping(void)
{
    const char *pc = cli_arg(0);
    char subj[128], tbuf[40];
    int64_t tmo = cli_g.timeout_ms ? cli_g.timeout_ms : CLI_DEFAULT_TIMEOUT_MS;
    LARGE_INTEGER f, t0, t1;
    nats_msg *m = NULL;
    kv_entry fake;
    cli_agent a;
    ping_out po;
    int rc, code;
    if (!scope_valid_id(pc)) return cli_usage("'%s' is not a valid pc_id (letters, digits, '_' and '-')", pc);
    if ((code = cli_connect()) != CLI_OK) return code;
    snprintf(subj, sizeof subj, "agents.%s.ping", pc);
    QueryPerformanceFrequency(&f);
    QueryPerformanceCounter(&t0);
    rc = nats_request(cli_g.nc, subj, NULL, 0, "", 0, (int)tmo, &m);
    QueryPerformanceCounter(&t1);
    if (rc == NATS_ERR_TIMEOUT || rc == NATS_ERR_NO_RESPONDERS) {
        if (scope_format_duration(tmo, tbuf, sizeof tbuf) != SCOPE_OK || tmo % 1000)
            snprintf(tbuf, sizeof tbuf, "%dms", (int)tmo);
        return cli_fail(CLI_UNREACH, "no answer from %s within %s%s", pc, tbuf,
                        rc == NATS_ERR_NO_RESPONDERS ? " (no agent subscribed: is it running and connected?)"
                                                 : "; check that the agent runs and reaches this broker");
    }
    if (rc != NATS_OK) return cli_fail_nats(rc, NULL, "ping %s failed", pc);
    po.m = m;
    po.rtt_ms = (double)(t1.QuadPart - t0.QuadPart) * 1000.0 / (double)f.QuadPart;
    memset(&fake, 0, sizeof fake);
    snprintf(fake.key, sizeof fake.key, "%s", pc);
    fake.value = m->data;
    fake.len = m->len;
    cli_agent_parse(&fake, &a);
    if (!a.raw_ok) {
        nats_msg_free(m);
        return cli_fail(CLI_FAIL, "%s answered with something that is not a JSON heartbeat", pc);
    }
    if (cli_g.json) { code = cli_emit_json(render_ping, &po); nats_msg_free(m); return code; }
    cli_say("pc_id           %s\n", a.pc_id);
    cli_say("agent_version   %s\n", a.version[0] ? a.version : "-");
    cli_say("target_version  %s\n", a.target[0] ? a.target : "-");
    cli_say("update_state    %s\n", a.state);
    if (a.error[0]) cli_say("update_error    %s\n", a.error);
    if (a.quarantined[0]) cli_say("quarantined     %s\n", a.quarantined);
    cli_say("hostname        %s\n", a.hostname[0] ? a.hostname : "-");
    cli_say("rtt             %.1f ms\n", po.rtt_ms);
    nats_msg_free(m);
    return CLI_OK;
}
