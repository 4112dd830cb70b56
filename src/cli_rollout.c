/*
** cli_rollout.c — the rollout commands of kanade.exe: rollout (set a target
** version on scopes in agent_config) and current (what each scope targets).
** See cli.h for the helpers and conventions: each cli_cmd_* validates
** everything the operator typed before it connects, and returns a process
** exit code.
*/
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "rollout.h"
#include "trust.h"
#include "win.h"

/* The rollout edit: sets target_version (+ jitter) and the rollout's own
** fields (halt policy, wave plan, previous version), keeps everything else. */
typedef struct rollout_edit {
    const char *version;
    const char *jitter;         /* normalised duration, or NULL to keep */
    const ro_options *ro;       /* what ro_prepare needs */
    char had_jitter[32];        /* the scope's jitter before/after, "" when unset */
    const sig_priv *key;        /* --sign-key: sign the target for scope; NULL = unsigned */
    const char *scope;          /* the KV key being edited */
} rollout_edit;

/*
** With a key, the edited value's target is signed for its scope with a new
** rev (now, in Unix ms: later rollouts get higher revs). An unchanged
** target that this key already signed for this scope is left as it is.
*/
static int rollout_sign(rollout_edit *r, char *out, size_t cap, char *err, size_t errcap)
{
    char *tmp;
    int rc;
    if (!r->key) return 0;
    if ((tmp = malloc(cap)) == NULL) { snprintf(err, errcap, "out of memory"); return -1; }
    rc = trust_target_sign(r->key, r->scope, out, strlen(out), win_unix_ms(), tmp, cap);
    if (rc == TRUST_OK) memcpy(out, tmp, strlen(tmp) + 1);
    free(tmp);
    if (rc != TRUST_OK) {
        snprintf(err, errcap, rc == TRUST_ERR_SPACE ? "value too large to rewrite" : "cannot sign the target");
        return -1;
    }
    return 0;
}

/*
** The rollout fields on top of a value that already has the target: the
** halt policy, the plan and the previous version (ro_prepare reads `cur`,
** the value before this edit). A rerun of the same plan keeps its start,
** so rerunning a rollout to finish it does not restart its waves.
*/
static int rollout_fields(const rollout_edit *r, const char *cur, size_t len, const char *val,
                          char *out, size_t cap, char *err, size_t errcap)
{
    ro_rollout nr, old;
    char msg[160], a[200], b[200];
    if (ro_prepare(r->ro, r->version, cur, cur ? len : 0, &nr, msg, sizeof msg) != RO_OK) {
        snprintf(err, errcap, "%s", msg);
        return -1;
    }
    if (cur && nr.plan.nwaves) {
        char tv[SCOPE_VERSION_MAX + 8];
        cli_json_field(cur, len, "target_version", tv, sizeof tv);
        if (!strcmp(tv, r->version) && ro_read_scope(cur, len, &old) != RO_ERR_JSON
            && old.plan.nwaves && old.plan.gap_ms == nr.plan.gap_ms
            && ro_plan_format_waves(&old.plan, a, sizeof a) == RO_OK
            && ro_plan_format_waves(&nr.plan, b, sizeof b) == RO_OK && !strcmp(a, b))
            nr.plan.start_ms = old.plan.start_ms;
    }
    if (ro_write_scope(val, strlen(val), &nr, out, cap) != RO_OK) {
        snprintf(err, errcap, "value too large to rewrite");
        return -1;
    }
    return 0;
}

static int signed_by(const rollout_edit *r, const char *cur, size_t len)
{
    return r->key && trust_target_check(&r->key->pub, 1, r->scope, cur, len, 0, NULL, NULL, NULL, 0) == TRUST_OK;
}

static int rollout_apply(void *arg, const char *cur, size_t len, char *out, size_t cap,
                         char *err, size_t errcap)
{
    rollout_edit *r = arg;
    char tv[SCOPE_VERSION_MAX + 8] = "", jt[32] = "", *tmp;
    int64_t a, b;
    int rc;
    r->had_jitter[0] = 0;
    if (cur) {
        json_tok tok[256];
        json_doc d;
        if (json_parse(&d, cur, len, tok, 256) != JSON_OK || d.ntok < 1 || tok[0].type != JSON_OBJECT) {
            snprintf(err, errcap, "holds a value that is not a JSON object; fix it, or remove it with "
                     "'kanade jetstream kv del'");
            return -1;
        }
        if (json_get_str(&d, 0, "target_version", tv, sizeof tv) != JSON_OK) tv[0] = 0;
        if (json_get_str(&d, 0, "target_version_jitter", jt, sizeof jt) != JSON_OK) jt[0] = 0;
    }
    snprintf(r->had_jitter, sizeof r->had_jitter, "%s", r->jitter ? r->jitter : jt);
    if ((tmp = malloc(2 * cap)) == NULL) { snprintf(err, errcap, "out of memory"); return -1; }
    rc = scope_set_field(cur, cur ? len : 0, "target_version", r->version, tmp, cap);
    if (rc == SCOPE_OK && r->jitter)
        rc = scope_set_field(tmp, strlen(tmp), "target_version_jitter", r->jitter, tmp + cap, cap);
    else if (rc == SCOPE_OK)
        memcpy(tmp + cap, tmp, strlen(tmp) + 1);
    if (rc != SCOPE_OK) {
        free(tmp);
        snprintf(err, errcap, rc == SCOPE_ERR_SPACE ? "value too large to rewrite"
                              : "holds a value that is not a JSON object; fix it, or remove it "
                                "with 'kanade jetstream kv del'");
        return -1;
    }
    rc = rollout_fields(r, cur, len, tmp + cap, out, cap, err, errcap);
    free(tmp);
    if (rc != 0) return -1;
    /* Same target, jitter, policy and plan, signed by this key when one is
    ** given: nothing to write. */
    if (cur && !strcmp(tv, r->version) && strlen(out) == len && !memcmp(out, cur, len)
        && (!r->jitter || (scope_parse_duration(jt, &a) == SCOPE_OK &&
                           scope_parse_duration(r->jitter, &b) == SCOPE_OK && a == b))
        && (!r->key || signed_by(r, cur, len)))
        return 1;
    return rollout_sign(r, out, cap, err, errcap);
}

typedef struct rollout_line {
    char key[80];
    char jitter[32];
    int changed, retries;
    uint64_t revision;
} rollout_line;

typedef struct rollout_out {
    const char *version;
    rollout_line *lines;
    int n;
    int reach;                  /* agents reached (global/groups), -1 if not counted */
    int warned;
    ro_rollout fields;          /* the rollout fields as written (has: n > 0) */
} rollout_out;

static void render_rollout(json_w *w, void *arg)
{
    rollout_out *r = arg;
    int i;
    json_w_obj_open(w);
    json_w_kstr(w, "version", r->version);
    json_w_key(w, "scopes");
    json_w_arr_open(w);
    for (i = 0; i < r->n; i++) {
        json_w_obj_open(w);
        json_w_kstr(w, "scope", r->lines[i].key);
        json_w_kstr(w, "target_version", r->version);
        json_w_kstr(w, "target_version_jitter", r->lines[i].jitter[0] ? r->lines[i].jitter : "0s");
        json_w_kbool(w, "changed", r->lines[i].changed);
        json_w_kint(w, "retries", r->lines[i].retries);
        json_w_key(w, "revision");
        json_w_uint(w, r->lines[i].revision);
        json_w_obj_close(w);
    }
    json_w_arr_close(w);
    if (r->reach >= 0) json_w_kint(w, "agents_reached", r->reach);
    json_w_kbool(w, "jitter_warning", r->warned);
    if (r->n > 0) {
        char pol[64];
        ro_policy_format(&r->fields.policy, pol, sizeof pol);
        json_w_kstr(w, "halt_policy", pol[0] ? pol : NULL);
        json_w_kint(w, "halt_threshold", ro_policy_threshold(&r->fields.policy));
        json_w_key(w, "waves");
        json_w_arr_open(w);
        for (i = 0; i < r->fields.plan.nwaves; i++) {
            json_w_obj_open(w);
            json_w_kstr(w, "group", r->fields.plan.waves[i]);
            json_w_kint(w, "start_ms", ro_wave_start_ms(&r->fields.plan, i));
            json_w_obj_close(w);
        }
        json_w_arr_close(w);
    }
    json_w_obj_close(w);
}

/*
** How many agents a --global (agent_status keys) or --groups (agent_groups
** members) rollout reaches, for the no-jitter warning. -1 when unknown;
** counting is advisory, so failures here never stop the rollout.
*/
static int count_reach(int global, char groups[][SCOPE_ID_MAX + 1], int ngroups)
{
    kv_bucket *b = NULL;
    cli_kv_list l;
    size_t i;
    int n = 0;
    if (cli_open_kv(global ? CLI_B_STATUS : CLI_B_GROUPS, &b) != CLI_OK) return -1;
    if (cli_kv_read_all(b, global ? CLI_B_STATUS : CLI_B_GROUPS, &l) != CLI_OK) { kv_close(b); return -1; }
    for (i = 0; i < l.n; i++) {
        char mine[SCOPE_MAX_GROUPS][SCOPE_ID_MAX + 1];
        int nm = 0, j, k, hit = 0;
        if (global) { n++; continue; }
        scope_parse_groups((const char *)l.v[i].value, l.v[i].len, mine, SCOPE_MAX_GROUPS, &nm);
        for (j = 0; j < nm && !hit; j++)
            for (k = 0; k < ngroups && !hit; k++) hit = !strcmp(mine[j], groups[k]);
        n += hit;
    }
    cli_kv_list_free(&l);
    kv_close(b);
    return n;
}

/*
** 1 when some scope just written leaves its agents without a jitter: its
** own target_version_jitter, or for a group scope the global one, is unset
** or zero. A rollout without --jitter keeps a scope's existing jitter.
*/
static int swaps_at_once(kv_bucket *cfg, const rollout_out *ro)
{
    char gj[32] = "";
    kv_entry en;
    js_err e;
    int i;
    int64_t ms;
    memset(&en, 0, sizeof en);
    memset(&e, 0, sizeof e);
    if (kv_get(cfg, "global", &en, &e) == NATS_OK)
        cli_json_field((const char *)en.value, en.len, "target_version_jitter", gj, sizeof gj);
    kv_entry_clear(&en);
    for (i = 0; i < ro->n; i++) {
        const char *j = ro->lines[i].jitter[0] ? ro->lines[i].jitter : gj;
        if (scope_parse_duration(j, &ms) != SCOPE_OK || ms == 0) return 1;
    }
    return 0;
}

/*
** The safe-rollout options, checked before any connection: a dry
** ro_prepare with no current value. *o is filled for the edits; hosts (for
** a ratio) is counted once connected.
*/
static int rollout_options(const char *version, const char *kind, ro_options *o, char *note, size_t cap)
{
    ro_rollout tmp;
    memset(o, 0, sizeof *o);
    o->kind = kind;
    o->halt_after = cli_opt_last("halt-after");
    o->halt_ratio = cli_opt_last("halt-ratio");
    o->waves = cli_opt_last("waves");
    o->wave_gap = cli_opt_last("wave-gap");
    o->hosts = 1;
    o->now_ms = win_unix_ms();
    if (ro_prepare(o, version, NULL, 0, &tmp, note, cap) != RO_OK) return cli_usage("%s", note);
    return CLI_OK;
}

/* Says what the scopes now carry: the halt policy and the plan, as read
** back from the last value written (or found unchanged). */
static void say_policy(const ro_rollout *r)
{
    char when[40];
    int k, th = ro_policy_threshold(&r->policy);
    if (r->policy.kind == RO_HALT_AFTER)
        cli_say("halt policy: halts after %d failed host%s\n", th, th == 1 ? "" : "s");
    else if (r->policy.kind == RO_HALT_RATIO)
        cli_say("halt policy: halts after %d.%02d%% of %d hosts failed (%d host%s)\n", r->policy.ratio_bp / 100,
                r->policy.ratio_bp % 100, r->policy.hosts, th, th == 1 ? "" : "s");
    else if (r->policy.kind == RO_HALT_OFF)
        cli_say("halt policy: off: failures never halt this rollout\n");
    /* none (--pcs without a policy): nothing to say */
    for (k = 0; k < r->plan.nwaves; k++) {
        win_rfc3339(ro_wave_start_ms(&r->plan, k), when);
        cli_say("wave %d: %s from %s\n", k + 1, r->plan.waves[k], when);
    }
}

/* agent rollout <version> (--pcs a,b | --groups g1,g2 | --global | --waves w1,w2,global)
**   [--jitter 5m] [--halt-after N | --halt-ratio P%] [--wave-gap 1h] */
int cli_cmd_rollout(void)
{
    static char ids[CLI_MAX_IDS][SCOPE_ID_MAX + 1];
    static rollout_line lines[CLI_MAX_IDS];
    const char *version = cli_arg(0), *jit = cli_opt_last("jitter");
    char jitter[32], val[CLI_VALUE_MAX], note[160];
    int npcs = 0, ngroups = 0, global = cli_opt_has("global"), waves = cli_opt_has("waves"), kinds, i, code, rc;
    int64_t jms = 0;
    obj_store *s = NULL;
    kv_bucket *cfg = NULL;
    obj_info info;
    unsigned char dd[SHA256_LEN];
    js_err e;
    rollout_out ro;
    sig_priv key;
    int signing = 0;
    ro_options opt;

    /* Everything the operator typed is checked before any connection. */
    if (!scope_valid_version(version))
        return cli_usage("'%s' is not a valid version (letters, digits, '.', '_', '+', '-'; no '..')", version);
    if ((code = cli_collect_ids("pcs", "pc", 0, ids, CLI_MAX_IDS, &npcs)) != CLI_OK) return code;
    if (npcs == 0 && (code = cli_collect_ids("groups", "group", 0, ids, CLI_MAX_IDS, &ngroups)) != CLI_OK) return code;
    kinds = (npcs > 0 || cli_opt_has("pcs") || cli_opt_has("pc")) + (cli_opt_has("groups") || cli_opt_has("group"))
            + (global || waves);
    if (kinds != 1)
        return cli_usage(kinds == 0 ? "pick a scope: --pcs <pc_id,...>, --groups <group,...>, --global or --waves <group,...,global>"
                                     : "pick exactly one scope kind: --pcs, --groups or --global (--waves is global)");
    if (jit) {
        if (scope_parse_duration(jit, &jms) != SCOPE_OK || scope_format_duration(jms, jitter, sizeof jitter) != SCOPE_OK)
            return cli_usage("--jitter '%s' is not a duration like 0s, 30s, 5m or 1h30m", jit);
    }
    if ((code = cli_sign_key(&key, &signing)) != CLI_OK) return code;
    if ((code = rollout_options(version, waves ? "waves" : global ? "global" : npcs ? "pcs" : "groups",
                                &opt, note, sizeof note)) != CLI_OK)
        return code;
    global = global || waves;

    if ((code = cli_connect()) != CLI_OK || (code = cli_open_obj(CLI_B_RELEASES, &s)) != CLI_OK) return code;
    memset(&e, 0, sizeof e);
    rc = obj_info_get(s, version, 0, &info, &e);
    obj_close(s);
    if (rc == NATS_ERR_NOT_FOUND)
        return cli_fail(CLI_NOT_FOUND, "version %s not in %s; run 'kanade agent publish' first", version, CLI_B_RELEASES);
    if (rc != NATS_OK) return cli_fail_nats(rc, &e, "cannot look up %s/%s", CLI_B_RELEASES, version);
    if (sha256_digest_decode(info.digest, dd) != SHA256_OK)
        return cli_fail(CLI_FAIL, "%s/%s has no valid SHA-256 digest, so agents would refuse it; "
                        "republish it with 'kanade agent publish --force'", CLI_B_RELEASES, version);
    if (signing && !cli_release_signed_by(&info, version, &key))
        cli_warn("kanade: warning: %s/%s is not signed by key %s; agents holding only that key will refuse "
                 "it (sign it with 'kanade agent sign %s --sign-key FILE')\n", CLI_B_RELEASES, version,
                 key.pub.id, version);
    if (opt.halt_ratio) {
        /* A ratio is of the hosts targeted now, stored with the policy. */
        opt.hosts = npcs ? npcs : count_reach(global, ids, ngroups);
        if (opt.hosts <= 0) {
            cli_warn("kanade: warning: no agent of this rollout is known yet; --halt-ratio counts 1 host, "
                     "so the first failure halts\n");
            opt.hosts = 1;
        }
    }

    /* Agents under the least-privilege broker may read agent_rollouts but
    ** not create it, and an agent that cannot read it under a policy holds
    ** back: so the bucket exists before any scope carries a policy. */
    if ((code = cli_open_kv(RO_BUCKET, &cfg)) != CLI_OK) return code;
    kv_close(cfg);
    memset(&ro, 0, sizeof ro);
    ro.version = version;
    ro.lines = lines;
    ro.reach = -1;
    if ((code = cli_open_kv(CLI_B_CONFIG, &cfg)) != CLI_OK) return code;
    for (i = 0; i < (global ? 1 : npcs + ngroups); i++) {
        rollout_edit ed;
        cli_cas_result res;
        rollout_line *ln = &lines[ro.n];
        if (global) snprintf(ln->key, sizeof ln->key, "global");
        else snprintf(ln->key, sizeof ln->key, "%s.%s", npcs ? "pcs" : "groups", ids[i]);
        memset(&ed, 0, sizeof ed);
        ed.version = version;
        ed.jitter = jit ? jitter : NULL;
        ed.key = signing ? &key : NULL;
        ed.scope = ln->key;
        ed.ro = &opt;
        code = cli_kv_cas(cfg, CLI_B_CONFIG, ln->key, rollout_apply, &ed, val, sizeof val, &res);
        if (code != CLI_OK) {
            if (ro.n > 0)
                cli_warn("kanade: %d of %d scopes were written before this failure; rerun the same rollout "
                         "to finish (done scopes stay unchanged)\n", ro.n, global ? 1 : npcs + ngroups);
            kv_close(cfg);
            return code;
        }
        snprintf(ln->jitter, sizeof ln->jitter, "%s", ed.had_jitter);
        ln->changed = res.changed;
        ln->retries = res.retries;
        ln->revision = res.revision;
        ro.n++;
        if (!cli_g.json)
            cli_say("%s.target_version = %s (jitter %s%s%s%s)\n", ln->key, version,
                    ln->jitter[0] ? ln->jitter : "0s", ln->changed ? "" : ", unchanged",
                    signing ? ", signed by " : "", signing ? key.pub.id : "");
    }
    if (!jit && (global || ngroups > 0) && swaps_at_once(cfg, &ro)) {
        ro.reach = count_reach(global, ids, ngroups);
        ro.warned = ro.reach >= 100;
    }
    kv_close(cfg);
    SecureZeroMemory(&key, sizeof key);
    if (ro.warned)
        cli_warn("kanade: warning: this rollout reaches %d agents with jitter 0s, so they all swap at once; "
                 "pass --jitter (e.g. --jitter 30m) to spread the swaps\n", ro.reach);
    if (ro.n > 0) ro_read_scope(val, strlen(val), &ro.fields);
    if (!cli_g.json && ro.n > 0) say_policy(&ro.fields);
    if (note[0]) cli_warn("kanade: %s\n", note);
    return cli_g.json ? cli_emit_json(render_rollout, &ro) : CLI_OK;
}

/* One agent_config scope, as shown by 'agent current'. */
typedef struct scope_row {
    char key[256], target[SCOPE_VERSION_MAX + 8], jitter[32];
    char signer[SIG_KEYID_LEN + 8];     /* target_key_id of a signed target, "" when unsigned */
} scope_row;

static int cmp_scope_row(const void *a, const void *b)
{
    const scope_row *x = a, *y = b;
    /* groups.* before pcs.*, each alphabetically. */
    return strcmp(x->key, y->key);
}

typedef struct current_out {
    scope_row global;
    scope_row *rows;
    int n;
} current_out;

static void render_current(json_w *w, void *arg)
{
    current_out *c = arg;
    int i;
    json_w_obj_open(w);
    json_w_key(w, "global");
    json_w_obj_open(w);
    json_w_key(w, "target_version");
    if (c->global.target[0]) json_w_str(w, c->global.target); else json_w_null(w);
    json_w_key(w, "target_version_jitter");
    if (c->global.jitter[0]) json_w_str(w, c->global.jitter); else json_w_null(w);
    json_w_key(w, "signed_by");
    if (c->global.signer[0]) json_w_str(w, c->global.signer); else json_w_null(w);
    json_w_obj_close(w);
    json_w_key(w, "scopes");
    json_w_arr_open(w);
    for (i = 0; i < c->n; i++) {
        json_w_obj_open(w);
        json_w_kstr(w, "scope", c->rows[i].key);
        json_w_kstr(w, "target_version", c->rows[i].target);
        json_w_key(w, "target_version_jitter");
        if (c->rows[i].jitter[0]) json_w_str(w, c->rows[i].jitter); else json_w_null(w);
        json_w_key(w, "signed_by");
        if (c->rows[i].signer[0]) json_w_str(w, c->rows[i].signer); else json_w_null(w);
        json_w_obj_close(w);
    }
    json_w_arr_close(w);
    json_w_obj_close(w);
}

/*
** The key a scope's target names as its signer. Only the agents hold the
** public keys and verify; this shows what the value claims, so an operator
** sees which scopes a keyed agent would ignore as unsigned.
*/
static void scope_signer(const kv_entry *en, scope_row *r)
{
    trust_target t;
    r->signer[0] = 0;
    if (trust_target_read((const char *)en->value, en->len, &t, NULL, 0) == TRUST_OK && t.sig[0] && t.key_id[0])
        snprintf(r->signer, sizeof r->signer, "%s", t.key_id);
}

/* " [signed by <id>]" or " [unsigned]" after a target. */
static const char *sign_tag(const scope_row *r, char *buf, size_t cap)
{
    if (!r->target[0]) return "";
    if (!r->signer[0]) return " [unsigned]";
    snprintf(buf, cap, " [signed by %s]", r->signer);
    return buf;
}

/* agent current: the global target, then each group/pc scope that sets one. */
int cli_cmd_current(void)
{
    kv_bucket *b = NULL;
    cli_kv_list l;
    current_out c;
    size_t i;
    char tag[48];
    int code;
    if ((code = cli_connect()) != CLI_OK || (code = cli_open_kv(CLI_B_CONFIG, &b)) != CLI_OK) return code;
    code = cli_kv_read_all(b, CLI_B_CONFIG, &l);
    kv_close(b);
    if (code != CLI_OK) return code;
    memset(&c, 0, sizeof c);
    c.rows = calloc(l.n + 1, sizeof *c.rows);
    if (!c.rows) { cli_kv_list_free(&l); return cli_fail(CLI_FAIL, "out of memory"); }
    for (i = 0; i < l.n; i++) {
        const kv_entry *en = &l.v[i];
        scope_row r;
        int is_global = !strcmp(en->key, "global");
        if (!is_global && strncmp(en->key, "groups.", 7) != 0 && strncmp(en->key, "pcs.", 4) != 0)
            continue;           /* e.g. the legacy raw "target_version" key */
        snprintf(r.key, sizeof r.key, "%s", en->key);
        cli_json_field((const char *)en->value, en->len, "target_version", r.target, sizeof r.target);
        cli_json_field((const char *)en->value, en->len, "target_version_jitter", r.jitter, sizeof r.jitter);
        scope_signer(en, &r);
        if (is_global) c.global = r;
        else if (r.target[0]) c.rows[c.n++] = r;
    }
    cli_kv_list_free(&l);
    qsort(c.rows, (size_t)c.n, sizeof *c.rows, cmp_scope_row);
    if (cli_g.json) { code = cli_emit_json(render_current, &c); free(c.rows); return code; }
    if (c.global.target[0] && c.global.jitter[0])
        cli_say("target_version = %s (global, jitter %s)%s\n", c.global.target, c.global.jitter,
                sign_tag(&c.global, tag, sizeof tag));
    else
        cli_say("target_version = %s (global)%s\n", c.global.target[0] ? c.global.target : "(unset)",
                sign_tag(&c.global, tag, sizeof tag));
    for (i = 0; i < (size_t)c.n; i++) {
        const scope_row *r = &c.rows[i];
        const char *t = sign_tag(r, tag, sizeof tag);
        if (r->jitter[0]) cli_say("target_version = %s (%s, jitter %s)%s\n", r->target, r->key, r->jitter, t);
        else if (c.global.jitter[0]) cli_say("target_version = %s (%s, jitter %s from global)%s\n", r->target, r->key, c.global.jitter, t);
        else cli_say("target_version = %s (%s, jitter 0s)%s\n", r->target, r->key, t);
    }
    free(c.rows);
    return CLI_OK;
}
