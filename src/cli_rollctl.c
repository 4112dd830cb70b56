/*
** cli_rollctl.c — the operator's side of safe rollouts: `agent rollout
** status [<v>]`, `agent rollout resume <v>` and `agent rollout abort <v>`.
** Formats and decisions are in rollout.h; the records are read the way an
** agent reads them (rollout_kv.c), so status shows what agents will decide.
*/
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "rollout.h"
#include "rollout_kv.h"
#include "trust.h"
#include "win.h"

#define MAX_TARGETS 32
#define MAX_SCOPES  64

/* One target version and what agent_config says about it. */
typedef struct target {
    char version[SCOPE_VERSION_MAX + 1];
    char scopes[MAX_SCOPES][80];
    int nscopes;
    ro_rollout ro;                      /* from the first scope read (global first) */
    char ro_scope[80];
    ro_verdict v;
    int read_ok;
    ro_fail fails[16];
    int nfails;
    int states_n[16];
    char states[16][16];
    int nstates, agents, running;
    int wave_hosts[RO_MAX_WAVES], wave_done[RO_MAX_WAVES];
} target;

typedef struct status_out { target *t; int n; int64_t now; } status_out;

static target *find_target(target *t, int *n, const char *version)
{
    int i;
    for (i = 0; i < *n; i++)
        if (!strcmp(t[i].version, version)) return &t[i];
    if (*n >= MAX_TARGETS) return NULL;
    memset(&t[*n], 0, sizeof t[*n]);
    snprintf(t[*n].version, sizeof t[*n].version, "%s", version);
    return &t[(*n)++];
}

/* Targets from agent_config, with the scopes that set them. */
static int load_targets(const char *only, target *t, int *n)
{
    kv_bucket *b = NULL;
    cli_kv_list l;
    size_t i;
    int code;
    *n = 0;
    if ((code = cli_open_kv(CLI_B_CONFIG, &b)) != CLI_OK) return code;
    code = cli_kv_read_all(b, CLI_B_CONFIG, &l);
    kv_close(b);
    if (code != CLI_OK) return code;
    for (i = 0; i < l.n; i++) {
        char v[SCOPE_VERSION_MAX + 8];
        const char *js = (const char *)l.v[i].value;
        target *x;
        cli_json_field(js, l.v[i].len, "target_version", v, sizeof v);
        if (!v[0] || !scope_valid_version(v) || (only && strcmp(v, only))) continue;
        if ((x = find_target(t, n, v)) == NULL) continue;
        if (x->nscopes < MAX_SCOPES)
            snprintf(x->scopes[x->nscopes++], sizeof x->scopes[0], "%s", l.v[i].key);
        if (!x->ro_scope[0] || !strcmp(l.v[i].key, "global")) {
            ro_read_scope(js, l.v[i].len, &x->ro);
            snprintf(x->ro_scope, sizeof x->ro_scope, "%s", l.v[i].key);
        }
    }
    cli_kv_list_free(&l);
    if (only && *n == 0) {
        find_target(t, n, only);        /* no scope targets it (any more): records only */
    }
    return CLI_OK;
}

static void count_state(target *x, const char *state)
{
    int i;
    for (i = 0; i < x->nstates; i++)
        if (!strcmp(x->states[i], state)) { x->states_n[i]++; return; }
    if (x->nstates == 16) return;
    snprintf(x->states[x->nstates], sizeof x->states[0], "%s", state[0] ? state : "?");
    x->states_n[x->nstates++] = 1;
}

/* Groups of pc from the agent_groups listing. */
static int groups_of(const cli_kv_list *g, const char *pc, char groups[][SCOPE_ID_MAX + 1])
{
    size_t i;
    int n = 0;
    for (i = 0; i < g->n; i++)
        if (!strcmp(g->v[i].key, pc)) {
            scope_parse_groups((const char *)g->v[i].value, g->v[i].len, groups, SCOPE_MAX_GROUPS, &n);
            break;
        }
    return n;
}

/* Per target: agent states (agents that target it or already run it) and
** wave progress. */
static int load_agents(target *t, int n)
{
    kv_bucket *b = NULL;
    cli_kv_list l, g;
    size_t i;
    int code, k;
    memset(&g, 0, sizeof g);
    if ((code = cli_open_kv(CLI_B_STATUS, &b)) != CLI_OK) return code;
    code = cli_kv_read_all(b, CLI_B_STATUS, &l);
    kv_close(b);
    if (code != CLI_OK) return code;
    if ((code = cli_open_kv(CLI_B_GROUPS, &b)) == CLI_OK) {
        code = cli_kv_read_all(b, CLI_B_GROUPS, &g);
        kv_close(b);
    }
    if (code != CLI_OK) { cli_kv_list_free(&l); return code; }
    for (i = 0; i < l.n; i++) {
        char pc[SCOPE_ID_MAX + 8], tv[80], av[80], st[32];
        char groups[SCOPE_MAX_GROUPS][SCOPE_ID_MAX + 1];
        const char *js = (const char *)l.v[i].value;
        cli_json_field(js, l.v[i].len, "pc_id", pc, sizeof pc);
        cli_json_field(js, l.v[i].len, "target_version", tv, sizeof tv);
        cli_json_field(js, l.v[i].len, "agent_version", av, sizeof av);
        cli_json_field(js, l.v[i].len, "update_state", st, sizeof st);
        if (!pc[0]) snprintf(pc, sizeof pc, "%s", l.v[i].key);
        for (k = 0; k < n; k++) {
            target *x = &t[k];
            int w;
            if (strcmp(tv, x->version) && strcmp(av, x->version)) continue;
            x->agents++;
            if (!strcmp(av, x->version)) x->running++;
            count_state(x, st);
            if (x->ro.plan.nwaves == 0) continue;
            w = ro_wave_of(&x->ro.plan, groups, groups_of(&g, pc, groups));
            if (w < 0) continue;
            x->wave_hosts[w]++;
            if (!strcmp(av, x->version)) x->wave_done[w]++;
        }
    }
    cli_kv_list_free(&g);
    cli_kv_list_free(&l);
    return CLI_OK;
}

/* Failure records and the verdict, as an agent would compute them. */
static int load_records(target *t, int n)
{
    kv_bucket *b = NULL;
    rokv_list *l = malloc(sizeof *l);
    ro_entry *e = malloc(sizeof *e * (ROKV_MAX_RECORDS + 1));
    js_err err;
    int k, i, rc = NATS_OK;
    if (!l || !e) { free(l); free(e); return cli_fail(CLI_FAIL, "out of memory"); }
    memset(&err, 0, sizeof err);
    rc = rokv_open(cli_g.nc, cli_g.replicas, &b, &err);
    for (k = 0; k < n && rc == NATS_OK; k++) {
        target *x = &t[k];
        rc = rokv_read(cli_g.nc, b, x->version, l, &err);
        if (rc != NATS_OK) break;
        for (i = 0; i < l->n; i++) {
            ro_fail f;
            e[i].key = l->v[i].key;
            e[i].val = (const char *)l->v[i].value;
            e[i].len = l->v[i].len;
            if (x->nfails < 16 && !strncmp(l->v[i].key, "fail.", 5)
                && ro_fail_parse(e[i].val, e[i].len, &f) == RO_OK && !strcmp(f.version, x->version))
                x->fails[x->nfails++] = f;
        }
        ro_evaluate(&x->ro.policy, x->version, e, l->n, &x->v);
        x->read_ok = 1;
        rokv_list_free(l);
    }
    kv_close(b);
    free(l);
    free(e);
    if (rc != NATS_OK) return cli_fail_nats(rc, &err, "cannot read KV bucket %s", RO_BUCKET);
    return CLI_OK;
}

static void fmt_time(int64_t ms, char *out, size_t cap)
{
    int64_t s = ms / 1000, days = s / 86400, rem = s % 86400;
    /* civil from days (proleptic Gregorian), so no time zone is involved */
    int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097, yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9, y = yoe + era * 400 + (m <= 2);
    snprintf(out, cap, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lldZ", (long long)y, (long long)m,
             (long long)d, (long long)(rem / 3600), (long long)(rem / 60 % 60), (long long)(rem % 60));
}

static const char *halt_word(const target *x)
{
    if (x->v.halted) return "halted";
    if (x->v.hold) return "held back";
    return "not halted";
}

static void render_status(json_w *w, void *arg)
{
    status_out *so = arg;
    char s[128];
    int k, i;
    json_w_obj_open(w);
    json_w_key(w, "rollouts");
    json_w_arr_open(w);
    for (k = 0; k < so->n; k++) {
        target *x = &so->t[k];
        json_w_obj_open(w);
        json_w_kstr(w, "version", x->version);
        json_w_key(w, "scopes");
        json_w_arr_open(w);
        for (i = 0; i < x->nscopes; i++) json_w_str(w, x->scopes[i]);
        json_w_arr_close(w);
        ro_policy_format(&x->ro.policy, s, sizeof s);
        json_w_kstr(w, "halt_policy", s[0] ? s : NULL);
        json_w_kstr(w, "previous_version", x->ro.has_previous ? x->ro.previous : NULL);
        json_w_kbool(w, "halted", x->v.halted);
        json_w_kbool(w, "held_back", x->v.hold);
        json_w_kstr(w, "reason", x->v.reason);
        json_w_kint(w, "failures", x->v.failures);
        json_w_kint(w, "baseline", x->v.baseline);
        json_w_kint(w, "threshold", x->v.threshold);
        json_w_kint(w, "malformed", x->v.malformed);
        json_w_kint(w, "agents", x->agents);
        json_w_kint(w, "running", x->running);
        json_w_key(w, "states");
        json_w_obj_open(w);
        for (i = 0; i < x->nstates; i++) json_w_kint(w, x->states[i], x->states_n[i]);
        json_w_obj_close(w);
        json_w_key(w, "failed");
        json_w_arr_open(w);
        for (i = 0; i < x->nfails; i++) {
            json_w_obj_open(w);
            json_w_kstr(w, "pc_id", x->fails[i].pc);
            json_w_kstr(w, "state", x->fails[i].state);
            json_w_kstr(w, "reason", x->fails[i].reason);
            json_w_kint(w, "at_ms", x->fails[i].at_ms);
            json_w_obj_close(w);
        }
        json_w_arr_close(w);
        json_w_key(w, "waves");
        json_w_arr_open(w);
        for (i = 0; i < x->ro.plan.nwaves; i++) {
            int64_t at = ro_wave_start_ms(&x->ro.plan, i);
            json_w_obj_open(w);
            json_w_kstr(w, "group", x->ro.plan.waves[i]);
            json_w_kint(w, "start_ms", at);
            json_w_kbool(w, "due", at <= so->now && !x->v.hold);
            json_w_kint(w, "hosts", x->wave_hosts[i]);
            json_w_kint(w, "done", x->wave_done[i]);
            json_w_obj_close(w);
        }
        json_w_arr_close(w);
        json_w_obj_close(w);
    }
    json_w_arr_close(w);
    json_w_obj_close(w);
}

static void print_target(const target *x, int64_t now)
{
    char s[128];
    int i;
    ro_policy_format(&x->ro.policy, s, sizeof s);
    cli_say("rollout of %s: %s", x->version, halt_word(x));
    if (x->v.threshold > 0)
        cli_say(" (%d failed, halts at %d%s)", x->v.failures, x->v.threshold,
                x->v.baseline ? " counted after the resume" : "");
    else
        cli_say(" (%d failed, no halt policy)", x->v.failures);
    cli_say("\n  scopes: ");
    for (i = 0; i < x->nscopes; i++) cli_say("%s%s", i ? ", " : "", x->scopes[i]);
    cli_say("%s\n", x->nscopes ? "" : "(none targets it now)");
    if (x->ro.has_previous)
        cli_say("  previous version: %s (abort goes back to it)\n", x->ro.previous[0] ? x->ro.previous : "none");
    if (x->v.reason[0]) cli_say("  %s\n", x->v.reason);
    cli_say("  agents: %d (%d run it)", x->agents, x->running);
    for (i = 0; i < x->nstates; i++) cli_say("%s %s %d", i ? "," : ":", x->states[i], x->states_n[i]);
    cli_say("\n");
    if (x->nfails) cli_say("  failed hosts:\n");
    for (i = 0; i < x->nfails; i++)
        cli_say("    %s  %s  %s\n", x->fails[i].pc, x->fails[i].state,
                x->fails[i].reason[0] ? x->fails[i].reason : "(no reason)");
    for (i = 0; i < x->ro.plan.nwaves; i++) {
        int64_t at = ro_wave_start_ms(&x->ro.plan, i);
        fmt_time(at, s, sizeof s);
        cli_say("  wave %d %-12s starts %s  %s  %d/%d done\n", i + 1, x->ro.plan.waves[i], s,
                x->v.hold ? "stopped" : at <= now ? "due" : "waiting", x->wave_done[i], x->wave_hosts[i]);
    }
    if (x->ro.errors[0]) cli_say("  ignored in %s: %s\n", x->ro_scope, x->ro.errors);
}

int cli_cmd_rollout_status(void)
{
    const char *only = cli_arg(0);
    status_out so;
    target *t;
    int n = 0, code, k;
    if (only && !scope_valid_version(only)) return cli_usage("'%s' is not a valid version", only);
    if ((t = calloc(MAX_TARGETS, sizeof *t)) == NULL) return cli_fail(CLI_FAIL, "out of memory");
    if ((code = cli_connect()) != CLI_OK || (code = load_targets(only, t, &n)) != CLI_OK
        || (code = load_agents(t, n)) != CLI_OK || (code = load_records(t, n)) != CLI_OK)
        goto done;
    so.t = t;
    so.n = n;
    so.now = win_unix_ms();
    if (cli_g.json) { code = cli_emit_json(render_status, &so); goto done; }
    if (n == 0) cli_say("no scope in %s sets a target version\n", CLI_B_CONFIG);
    for (k = 0; k < n; k++) print_target(&t[k], so.now);
done:
    free(t);
    return code;
}

int cli_cmd_rollout_resume(void)
{
    const char *v = cli_arg(0);
    kv_bucket *b = NULL;
    js_err e;
    int rc, code, base = 0;
    char by[128];
    if (!scope_valid_version(v)) return cli_usage("'%s' is not a valid version", v);
    if ((code = cli_connect()) != CLI_OK) return code;
    memset(&e, 0, sizeof e);
    snprintf(by, sizeof by, "kanade %s", "resume");
    rc = rokv_open(cli_g.nc, cli_g.replicas, &b, &e);
    if (rc == NATS_OK) rc = rokv_resume(cli_g.nc, b, v, by, &base, &e);
    kv_close(b);
    if (rc != NATS_OK) return cli_fail_nats(rc, &e, "cannot resume the rollout of %s", v);
    cli_say("resumed %s: the %d failure%s so far no longer count; agents that were halted swap "
            "at their next check\n", v, base, base == 1 ? "" : "s");
    return CLI_OK;
}

/* The abort edit: target_version back to previous_version (null when the
** scope had none), and the rollout's own fields cleared. With a key, the
** restored target is signed for its scope, and only if the value verifies
** under that key: previous_version is then the one the key signed, not one
** a broker writer put there. Without a key, a scope whose target is signed
** is left as it is, since agents with release keys ignore an unsigned
** target and the abort would stop nothing. */
typedef struct abort_edit {
    const char *version, *scope;
    const sig_priv *key;                /* NULL: no --sign-key */
    char restored[SCOPE_VERSION_MAX + 1];
} abort_edit;

static int abort_apply(void *arg, const char *cur, size_t len, char *out, size_t cap,
                       char *err, size_t errcap)
{
    abort_edit *a = arg;
    ro_rollout r, none;
    trust_target tt;
    char why[200];
    char tv[80], *tmp;
    int rc;
    if (!cur) return 1;
    cli_json_field(cur, len, "target_version", tv, sizeof tv);
    if (strcmp(tv, a->version)) return 1;               /* moved on meanwhile */
    if (ro_read_scope(cur, len, &r) == RO_ERR_JSON || !r.has_previous) {
        snprintf(err, errcap, "no previous version recorded (rolled out by an older kanade?); "
                 "use 'kanade agent rollout <version>' instead");
        return -1;
    }
    if (!a->key && trust_target_read(cur, len, &tt, NULL, 0) == TRUST_OK && tt.sig[0]) {
        snprintf(err, errcap, "its target is signed by key %s, and agents with release keys ignore an "
                 "unsigned one: give the key with --sign-key FILE (or KANADE_SIGN_KEY)", tt.key_id);
        return -1;
    }
    if (a->key && trust_target_check(&a->key->pub, 1, a->scope, cur, len, 0, NULL, NULL, why, sizeof why)
                  != TRUST_OK) {
        snprintf(err, errcap, "not signed as it stands by key %s (%s), so its previous_version is not vouched "
                 "for; roll out the version you want with 'kanade agent rollout <version> --sign-key FILE'",
                 a->key->pub.id, why[0] ? why : "its rollout fields were set after signing");
        return -1;
    }
    if ((tmp = malloc(cap)) == NULL) { snprintf(err, errcap, "out of memory"); return -1; }
    memset(&none, 0, sizeof none);
    rc = scope_set_field(cur, len, "target_version", r.previous[0] ? r.previous : NULL, tmp, cap);
    if (rc == SCOPE_OK) rc = ro_write_scope(tmp, strlen(tmp), &none, out, cap) == RO_OK ? SCOPE_OK : SCOPE_ERR_SPACE;
    if (rc == SCOPE_OK && a->key && r.previous[0]) {
        rc = trust_target_sign(a->key, a->scope, out, strlen(out), win_unix_ms(), tmp, cap) == TRUST_OK
             ? SCOPE_OK : SCOPE_ERR_SPACE;
        if (rc == SCOPE_OK) memcpy(out, tmp, strlen(tmp) + 1);
    }
    free(tmp);
    if (rc != SCOPE_OK) { snprintf(err, errcap, "the scope value cannot be rewritten"); return -1; }
    snprintf(a->restored, sizeof a->restored, "%s", r.previous);
    return 0;
}

int cli_cmd_rollout_abort(void)
{
    const char *v = cli_arg(0);
    target *t;
    kv_bucket *b = NULL;
    sig_priv key;
    int n = 0, code, i, bad = 0, signing = 0;
    char *out;
    if (!scope_valid_version(v)) return cli_usage("'%s' is not a valid version", v);
    memset(&key, 0, sizeof key);
    if ((t = calloc(MAX_TARGETS, sizeof *t)) == NULL) return cli_fail(CLI_FAIL, "out of memory");
    if ((out = malloc(CLI_VALUE_MAX)) == NULL) { free(t); return cli_fail(CLI_FAIL, "out of memory"); }
    if ((code = cli_sign_key(&key, &signing)) != CLI_OK) goto done;
    if ((code = cli_connect()) != CLI_OK || (code = load_targets(v, t, &n)) != CLI_OK) goto done;
    if (t[0].nscopes == 0) { code = cli_fail(CLI_NOT_FOUND, "no scope targets %s", v); goto done; }
    if ((code = cli_open_kv(CLI_B_CONFIG, &b)) != CLI_OK) goto done;
    for (i = 0; i < t[0].nscopes; i++) {
        abort_edit a;
        cli_cas_result res;
        memset(&a, 0, sizeof a);
        a.version = v;
        a.scope = t[0].scopes[i];
        a.key = signing ? &key : NULL;
        code = cli_kv_cas(b, CLI_B_CONFIG, t[0].scopes[i], abort_apply, &a, out, CLI_VALUE_MAX, &res);
        if (code != CLI_OK) { bad++; continue; }
        if (res.changed)
            cli_say("%s: %s -> %s%s%s\n", t[0].scopes[i], v, a.restored[0] ? a.restored : "(no target)",
                    signing && a.restored[0] ? ", signed by " : "", signing && a.restored[0] ? key.pub.id : "");
    }
    code = bad ? CLI_FAIL : CLI_OK;
    if (!bad) cli_say("aborted %s: agents that swapped go back to their .old build\n", v);
done:
    SecureZeroMemory(&key, sizeof key);
    kv_close(b);
    free(out);
    free(t);
    return code;
}
