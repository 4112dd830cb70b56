/*
** cli_cmd.c — the commands of kanade.exe (issue 5; see cli.h for the
** helpers and conventions). Each cli_cmd_* validates everything the operator
** typed before it connects, and returns a process exit code.
*/
#include <windows.h>
#include <fcntl.h>
#include <io.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "objstore.h"
#include "pe_version.h"
#include "win.h"

/* ============================================================ publish, rollout, current */

/* obj_read_fn over a memory buffer. */
typedef struct mem_reader { const unsigned char *p; size_t len, off; } mem_reader;

static int mem_read(void *arg, void *buf, size_t cap, size_t *got)
{
    mem_reader *m = arg;
    size_t n = m->len - m->off;
    if (n > cap) n = cap;
    memcpy(buf, m->p + m->off, n);
    m->off += n;
    *got = n;
    return 0;
}

typedef struct publish_out {
    const char *status, *version, *digest, *replaced;
    uint64_t size;
} publish_out;

static void render_publish(json_w *w, void *arg)
{
    publish_out *p = arg;
    char name[300];
    snprintf(name, sizeof name, "%s/%s", CLI_B_RELEASES, p->version);
    json_w_obj_open(w);
    json_w_kstr(w, "status", p->status);
    json_w_kstr(w, "version", p->version);
    json_w_kstr(w, "object", name);
    json_w_key(w, "size");
    json_w_uint(w, p->size);
    json_w_kstr(w, "digest", p->digest);
    if (p->replaced) json_w_kstr(w, "replaced_digest", p->replaced);
    json_w_obj_close(w);
}

/*
** Reads the release file at path into *img (malloc'd, the caller frees it)
** and checks it: a PE with a valid version in its VERSIONINFO. Fills ver
** and the SHA-256 d. Returns an exit code; on failure *img is NULL and one
** clear line was printed.
*/
static int load_release(const char *path, char **img, size_t *len, char *ver, size_t vcap,
                        unsigned char d[SHA256_LEN])
{
    int rc;
    *img = NULL;
    if (!win_exists(path))
        return cli_fail(CLI_NOT_FOUND, "%s does not exist; give the path of a kanade-agent.exe build", path);
    if (win_read_all(path, CLI_EXE_MAX, img, len) != 0)
        return cli_fail(CLI_FAIL, "cannot read %s: %s", path, win_last_error());
    rc = pe_version_buf((const unsigned char *)*img, *len, ver, vcap);
    if (rc == PEV_OK && scope_valid_version(ver)) {
        sha256_buf(*img, *len, d);
        return CLI_OK;
    }
    free(*img);
    *img = NULL;
    if (rc == PEV_ERR_NOT_PE || rc == PEV_ERR_TRUNCATED)
        return cli_fail(CLI_FAIL, "%s is not a Windows executable (%s); publish a kanade-agent.exe build",
                        path, pe_version_strerror(rc));
    if (rc == PEV_ERR_NO_VERSION)
        return cli_fail(CLI_FAIL, "%s has no version in its VERSIONINFO resource; build it with one "
                        "(e.g. make VERSION=0.1.1) and publish again", path);
    if (rc != PEV_OK)
        return cli_fail(CLI_FAIL, "cannot read the version of %s: %s", path, pe_version_strerror(rc));
    return cli_fail(CLI_FAIL, "%s carries version '%s', which is not a valid release name (letters, "
                    "digits, '.', '_', '+', '-'; no '..'); rebuild it with a plain version", path, ver);
}

/*
** agent publish <exe> [--force]: the whole file is read and checked in
** memory first, and exactly those bytes are uploaded, so a file changing
** under us cannot publish bytes that do not match the version and digest
** we checked.
*/
int cli_cmd_publish(void)
{
    const char *path = cli_arg(0);
    char *img = NULL, ver[128], digest[SHA256_DIGEST_STR_LEN], old_digest[SHA256_DIGEST_STR_LEN];
    char label[160];
    unsigned char d[SHA256_LEN], od[SHA256_LEN];
    size_t len = 0;
    obj_store *s = NULL;
    obj_info info, put;
    js_err e;
    mem_reader mr;
    cli_progress pg;
    publish_out po;
    int rc, code;

    if ((code = load_release(path, &img, &len, ver, sizeof ver, d)) != CLI_OK) return code;
    cli_digest_str(d, digest);
    memset(&po, 0, sizeof po);
    po.version = ver;
    po.digest = digest;
    po.size = len;
    if ((code = cli_connect()) != CLI_OK || (code = cli_open_obj(CLI_B_RELEASES, &s)) != CLI_OK) goto done;

    memset(&e, 0, sizeof e);
    rc = obj_info_get(s, ver, 0, &info, &e);
    if (rc != NATS_OK && rc != NATS_ERR_NOT_FOUND) {
        code = cli_fail_nats(rc, &e, "cannot look up %s/%s", CLI_B_RELEASES, ver);
        goto done;
    }
    if (rc == NATS_OK) {
        /* Compare decoded digest bytes, never the strings (the original's #546). */
        int same = info.size == len && sha256_digest_decode(info.digest, od) == SHA256_OK
                   && memcmp(od, d, SHA256_LEN) == 0;
        snprintf(old_digest, sizeof old_digest, "%s", info.digest[0] ? info.digest : "(no digest)");
        if (same) {
            po.status = "unchanged";
            if (cli_g.json) code = cli_emit_json(render_publish, &po);
            else cli_say("%s/%s already holds this build (%" PRIu64 " bytes, %s); nothing written\n",
                         CLI_B_RELEASES, ver, (uint64_t)len, digest);
            goto done;
        }
        if (!cli_opt_has("force")) {
            code = cli_fail(CLI_FAIL, "%s/%s already holds a different build (%s, this file is %s); "
                            "releases are immutable: bump the version, or pass --force to replace it",
                            CLI_B_RELEASES, ver, old_digest, digest);
            goto done;
        }
        po.replaced = old_digest;
    }

    mr.p = (const unsigned char *)img;
    mr.len = len;
    mr.off = 0;
    snprintf(label, sizeof label, "uploading %s", ver);
    pg.label = label;
    pg.total = len;
    pg.last = -1;
    memset(&e, 0, sizeof e);
    rc = obj_put(s, ver, mem_read, &mr, cli_progress_cb, &pg, &put, &e);
    cli_progress_end(&pg);
    if (rc != NATS_OK) {
        code = cli_fail_nats(rc, &e, "uploading %s to %s/%s failed", path, CLI_B_RELEASES, ver);
        goto done;
    }
    /* The store hashed what it received; it must be what we checked. */
    if (put.size != len || sha256_digest_decode(put.digest, od) != SHA256_OK || memcmp(od, d, SHA256_LEN) != 0) {
        code = cli_fail(CLI_FAIL, "%s/%s was stored as %s (%" PRIu64 " bytes) but the file is %s (%" PRIu64
                        " bytes); publish again with --force", CLI_B_RELEASES, ver, put.digest, put.size,
                        digest, (uint64_t)len);
        goto done;
    }
    po.status = po.replaced ? "replaced" : "published";
    if (cli_g.json) {
        code = cli_emit_json(render_publish, &po);
    } else {
        cli_say("published %s (%" PRIu64 " bytes, %s) to %s/%s\n", ver, (uint64_t)len, digest, CLI_B_RELEASES, ver);
        if (po.replaced) cli_say("  replaced the previous build %s\n", po.replaced);
        cli_say("  roll it out with: kanade agent rollout %s --pcs <canary-pc>\n", ver);
    }
done:
    obj_close(s);
    free(img);
    return code;
}

/* The rollout edit: sets target_version (+ jitter), keeps everything else. */
typedef struct rollout_edit {
    const char *version;
    const char *jitter;         /* normalised duration, or NULL to keep */
    char had_jitter[32];        /* the scope's jitter before/after, "" when unset */
} rollout_edit;

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
    if (!strcmp(tv, r->version) &&
        (!r->jitter || (scope_parse_duration(jt, &a) == SCOPE_OK &&
                        scope_parse_duration(r->jitter, &b) == SCOPE_OK && a == b)))
        return 1;
    if ((tmp = malloc(cap)) == NULL) { snprintf(err, errcap, "out of memory"); return -1; }
    rc = scope_set_field(cur, cur ? len : 0, "target_version", r->version, tmp, cap);
    if (rc == SCOPE_OK && r->jitter)
        rc = scope_set_field(tmp, strlen(tmp), "target_version_jitter", r->jitter, out, cap);
    else if (rc == SCOPE_OK)
        memcpy(out, tmp, strlen(tmp) + 1);
    free(tmp);
    if (rc != SCOPE_OK) {
        snprintf(err, errcap, rc == SCOPE_ERR_SPACE ? "value too large to rewrite"
                              : "holds a value that is not a JSON object; fix it, or remove it "
                                "with 'kanade jetstream kv del'");
        return -1;
    }
    return 0;
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

/* agent rollout <version> (--pcs a,b | --groups g1,g2 | --global) [--jitter 5m] */
int cli_cmd_rollout(void)
{
    static char ids[CLI_MAX_IDS][SCOPE_ID_MAX + 1];
    static rollout_line lines[CLI_MAX_IDS];
    const char *version = cli_arg(0), *jit = cli_opt_last("jitter");
    char jitter[32], val[CLI_VALUE_MAX];
    int npcs = 0, ngroups = 0, global = cli_opt_has("global"), kinds, i, code, rc;
    int64_t jms = 0;
    obj_store *s = NULL;
    kv_bucket *cfg = NULL;
    obj_info info;
    unsigned char dd[SHA256_LEN];
    js_err e;
    rollout_out ro;

    /* Everything the operator typed is checked before any connection. */
    if (!scope_valid_version(version))
        return cli_usage("'%s' is not a valid version (letters, digits, '.', '_', '+', '-'; no '..')", version);
    if ((code = cli_collect_ids("pcs", "pc", 0, ids, CLI_MAX_IDS, &npcs)) != CLI_OK) return code;
    if (npcs == 0 && (code = cli_collect_ids("groups", "group", 0, ids, CLI_MAX_IDS, &ngroups)) != CLI_OK) return code;
    kinds = (npcs > 0 || cli_opt_has("pcs") || cli_opt_has("pc")) + (cli_opt_has("groups") || cli_opt_has("group")) + global;
    if (kinds != 1)
        return cli_usage(kinds == 0 ? "pick a scope: --pcs <pc_id,...>, --groups <group,...> or --global"
                                     : "pick exactly one scope kind: --pcs, --groups or --global");
    if (jit) {
        if (scope_parse_duration(jit, &jms) != SCOPE_OK || scope_format_duration(jms, jitter, sizeof jitter) != SCOPE_OK)
            return cli_usage("--jitter '%s' is not a duration like 0s, 30s, 5m or 1h30m", jit);
    }

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
        ed.version = version;
        ed.jitter = jit ? jitter : NULL;
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
            cli_say("%s.target_version = %s (jitter %s%s)\n", ln->key, version,
                    ln->jitter[0] ? ln->jitter : "0s", ln->changed ? "" : ", unchanged");
    }
    if (!jit && (global || ngroups > 0) && swaps_at_once(cfg, &ro)) {
        ro.reach = count_reach(global, ids, ngroups);
        ro.warned = ro.reach >= 100;
    }
    kv_close(cfg);
    if (ro.warned)
        cli_warn("kanade: warning: this rollout reaches %d agents with jitter 0s, so they all swap at once; "
                 "pass --jitter (e.g. --jitter 30m) to spread the swaps\n", ro.reach);
    return cli_g.json ? cli_emit_json(render_rollout, &ro) : CLI_OK;
}

/* One agent_config scope, as shown by 'agent current'. */
typedef struct scope_row { char key[256], target[SCOPE_VERSION_MAX + 8], jitter[32]; } scope_row;

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
    json_w_obj_close(w);
    json_w_key(w, "scopes");
    json_w_arr_open(w);
    for (i = 0; i < c->n; i++) {
        json_w_obj_open(w);
        json_w_kstr(w, "scope", c->rows[i].key);
        json_w_kstr(w, "target_version", c->rows[i].target);
        json_w_key(w, "target_version_jitter");
        if (c->rows[i].jitter[0]) json_w_str(w, c->rows[i].jitter); else json_w_null(w);
        json_w_obj_close(w);
    }
    json_w_arr_close(w);
    json_w_obj_close(w);
}

/* agent current: the global target, then each group/pc scope that sets one. */
int cli_cmd_current(void)
{
    kv_bucket *b = NULL;
    cli_kv_list l;
    current_out c;
    size_t i;
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
        if (is_global) c.global = r;
        else if (r.target[0]) c.rows[c.n++] = r;
    }
    cli_kv_list_free(&l);
    qsort(c.rows, (size_t)c.n, sizeof *c.rows, cmp_scope_row);
    if (cli_g.json) { code = cli_emit_json(render_current, &c); free(c.rows); return code; }
    if (c.global.target[0] && c.global.jitter[0])
        cli_say("target_version = %s (global, jitter %s)\n", c.global.target, c.global.jitter);
    else
        cli_say("target_version = %s (global)\n", c.global.target[0] ? c.global.target : "(unset)");
    for (i = 0; i < (size_t)c.n; i++) {
        const scope_row *r = &c.rows[i];
        if (r->jitter[0]) cli_say("target_version = %s (%s, jitter %s)\n", r->target, r->key, r->jitter);
        else if (c.global.jitter[0]) cli_say("target_version = %s (%s, jitter %s from global)\n", r->target, r->key, c.global.jitter);
        else cli_say("target_version = %s (%s, jitter 0s)\n", r->target, r->key);
    }
    free(c.rows);
    return CLI_OK;
}

/* One agent's status document (DESIGN §4 heartbeat fields + update state). */
typedef struct agent_rec {
    char pc_id[256];
    char version[SCOPE_VERSION_MAX + 8], target[SCOPE_VERSION_MAX + 8];
    char state[32], hostname[256], error[512], at[40], quarantined[512];
    int64_t at_ms;
    int have_at;
    int64_t percent;            /* update_percent, -1 when absent */
    const char *raw;            /* the document (owned by the cli_kv_list) */
    size_t raw_len;
    int raw_ok;                 /* raw parsed as a JSON object */
} agent_rec;

/* Fills a from the status document of key; an unparsable one keeps the key. */
static void agent_parse(const kv_entry *en, agent_rec *a)
{
    json_tok tok[512];
    json_doc d;
    int q;
    memset(a, 0, sizeof *a);
    a->percent = -1;
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
    if (json_get_str(&d, 0, "update_state", a->state, sizeof a->state) != JSON_OK || !a->state[0])
        snprintf(a->state, sizeof a->state, "unknown");
    json_get_str(&d, 0, "hostname", a->hostname, sizeof a->hostname);
    json_get_str(&d, 0, "update_error", a->error, sizeof a->error);
    if (json_get_str(&d, 0, "at", a->at, sizeof a->at) == JSON_OK)
        a->have_at = win_parse_rfc3339(a->at, &a->at_ms) == 0;
    if (json_get_int(&d, 0, "update_percent", &a->percent) != JSON_OK) a->percent = -1;
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
    return strcmp(((const agent_rec *)x)->pc_id, ((const agent_rec *)y)->pc_id);
}

/*
** Reads every agent_status document into *out (sorted by pc_id). The caller
** frees *out and then the list l, which owns the raw documents.
*/
static int load_agents(cli_kv_list *l, agent_rec **out, size_t *n)
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
    for (i = 0; i < l->n; i++) agent_parse(&l->v[i], &(*out)[i]);
    *n = l->n;
    qsort(*out, *n, sizeof **out, cmp_agent);
    return CLI_OK;
}

typedef struct agents_out { agent_rec *a; size_t n; } agents_out;

static void render_agent(json_w *w, const agent_rec *a)
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
    json_w_obj_close(w);
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
    agent_rec *a;
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

/* Tallies field values (at offset off in agent_rec) into rows; returns the row count. */
static int tally(const agent_rec *a, size_t n, size_t off, count_row *rows)
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

static int is_problem(const agent_rec *a)
{
    return !strcmp(a->state, "failed") || !strcmp(a->state, "rolled_back") || !strcmp(a->state, "quarantined");
}

static int is_stale(const agent_rec *a, int64_t stale_ms, int64_t now)
{
    return !a->have_at || now - a->at_ms > stale_ms;
}

typedef struct status_out {
    agent_rec *a;
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
    for (i = 0; i < s->n; i++) if (is_stale(&s->a[i], s->stale_ms, now)) render_agent(w, &s->a[i]);
    json_w_arr_close(w);
    json_w_key(w, "problems");
    json_w_arr_open(w);
    for (i = 0; i < s->n; i++) if (is_problem(&s->a[i])) render_agent(w, &s->a[i]);
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
    int64_t stale_ms = 90000, now;
    cli_kv_list l;
    agent_rec *a;
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
    so.nv = tally(a, n, offsetof(agent_rec, version), so.versions);
    so.ns = tally(a, n, offsetof(agent_rec, state), so.states);
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
    for (i = 0; i < n; i++) { nstale += is_stale(&a[i], stale_ms, now); nprob += is_problem(&a[i]); }
    cli_say("\nstale (no heartbeat for %s): %d\n", st, nstale);
    for (i = 0; i < n; i++) {
        if (!is_stale(&a[i], stale_ms, now)) continue;
        cli_fmt_age(a[i].at_ms, a[i].have_at, age, sizeof age);
        cli_say("  %s  %s  last heartbeat %s%s (%s)\n", a[i].pc_id, a[i].version[0] ? a[i].version : "-",
                age, a[i].have_at ? " ago" : "", a[i].at[0] ? a[i].at : "no time");
    }
    cli_say("\nfailed, rolled back or quarantined: %d\n", nprob);
    for (i = 0; i < n; i++) {
        if (!is_problem(&a[i])) continue;
        cli_say("  %s  %s  %s -> %s: %s%s%s\n", a[i].pc_id, a[i].state, a[i].version[0] ? a[i].version : "-",
                a[i].target[0] ? a[i].target : "-", a[i].error[0] ? a[i].error : "(no update_error)",
                a[i].quarantined[0] ? "; quarantined: " : "", a[i].quarantined);
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

typedef struct obj_rows { obj_info *v; size_t n, cap; int oom; } obj_rows;

static void obj_collect(void *arg, const obj_info *info)
{
    obj_rows *r = arg;
    if (r->n == r->cap) {
        size_t nc = r->cap ? r->cap * 2 : 32;
        obj_info *nv = realloc(r->v, nc * sizeof *nv);
        if (!nv) { r->oom = 1; return; }
        r->v = nv;
        r->cap = nc;
    }
    r->v[r->n++] = *info;
}

/* Newest first by mtime (parsed, since writers differ in fraction digits). */
static int cmp_obj(const void *x, const void *y)
{
    const obj_info *a = x, *b = y;
    int64_t ta = 0, tb = 0;
    int oka = win_parse_rfc3339(a->mtime, &ta) == 0, okb = win_parse_rfc3339(b->mtime, &tb) == 0;
    if (oka != okb) return oka ? -1 : 1;
    if (ta != tb) return ta > tb ? -1 : 1;
    return strcmp(a->name, b->name);
}

static void render_objs(json_w *w, void *arg)
{
    obj_rows *r = arg;
    size_t i;
    json_w_arr_open(w);
    for (i = 0; i < r->n; i++) {
        json_w_obj_open(w);
        json_w_kstr(w, "name", r->v[i].name);
        json_w_key(w, "size");
        json_w_uint(w, r->v[i].size);
        json_w_kstr(w, "digest", r->v[i].digest);
        json_w_kstr(w, "mtime", r->v[i].mtime);
        json_w_obj_close(w);
    }
    json_w_arr_close(w);
}

/* Lists the live objects of bucket, newest first. */
static int list_objects(const char *bucket)
{
    obj_store *s = NULL;
    obj_rows r;
    js_err e;
    size_t i;
    int code, rc, wn = 4, wsz = 4;
    if (!scope_valid_id(bucket)) return cli_usage("'%s' is not a valid bucket name", bucket);
    if ((code = cli_connect()) != CLI_OK || (code = cli_open_obj(bucket, &s)) != CLI_OK) return code;
    memset(&r, 0, sizeof r);
    memset(&e, 0, sizeof e);
    rc = obj_list(s, 0, obj_collect, &r, &e);
    obj_close(s);
    if (rc != NATS_OK) { free(r.v); return cli_fail_nats(rc, &e, "cannot list %s", bucket); }
    if (r.oom) { free(r.v); return cli_fail(CLI_FAIL, "out of memory listing %s", bucket); }
    qsort(r.v, r.n, sizeof *r.v, cmp_obj);
    if (cli_g.json) { code = cli_emit_json(render_objs, &r); free(r.v); return code; }
    if (r.n == 0) cli_say("no objects in %s\n", bucket);
    for (i = 0; i < r.n; i++) {
        char sz[32];
        if ((int)strlen(r.v[i].name) > wn) wn = (int)strlen(r.v[i].name);
        if (snprintf(sz, sizeof sz, "%" PRIu64, r.v[i].size) > wsz) wsz = (int)strlen(sz);
    }
    if (r.n) cli_say("%-*s  %*s  %-52s  %s\n", wn, "NAME", wsz, "SIZE", "DIGEST", "MTIME");
    for (i = 0; i < r.n; i++)
        cli_say("%-*s  %*" PRIu64 "  %-52s  %s\n", wn, r.v[i].name, wsz, r.v[i].size,
                r.v[i].digest[0] ? r.v[i].digest : "(none)", r.v[i].mtime);
    free(r.v);
    return CLI_OK;
}

int cli_cmd_releases(void) { return list_objects(CLI_B_RELEASES); }
int cli_cmd_obj_list(void) { return list_objects(cli_arg(0)); }

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
    agent_rec a;
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
    agent_parse(&fake, &a);
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

static int kv_args(const char **bucket, const char **key)
{
    *bucket = cli_arg(0);
    *key = cli_arg(1);
    if (!scope_valid_id(*bucket)) return cli_usage("'%s' is not a valid bucket name", *bucket);
    if (!cli_valid_kv_key(*key))
        return cli_usage("'%s' is not a valid key (letters, digits, '-', '_', '/', '=', '.'; no leading or trailing '.')", *key);
    return CLI_OK;
}

typedef struct kv_get_out { const char *bucket; const kv_entry *e; } kv_get_out;

static void render_kv_get(json_w *w, void *arg)
{
    kv_get_out *o = arg;
    char t[40];
    win_rfc3339(o->e->created_ns / 1000000, t);
    json_w_obj_open(w);
    json_w_kstr(w, "bucket", o->bucket);
    json_w_kstr(w, "key", o->e->key);
    json_w_key(w, "revision");
    json_w_uint(w, o->e->revision);
    json_w_kstr(w, "created", t);
    json_w_key(w, "value");
    json_w_strn(w, (const char *)o->e->value, o->e->len);
    json_w_obj_close(w);
}

/* jetstream kv get <bucket> <key>: the value as stored, then a newline. */
int cli_cmd_kv_get(void)
{
    const char *bucket, *key;
    kv_bucket *b = NULL;
    kv_entry en;
    js_err e;
    int code, rc;
    if ((code = kv_args(&bucket, &key)) != CLI_OK) return code;
    if ((code = cli_connect()) != CLI_OK || (code = cli_open_kv(bucket, &b)) != CLI_OK) return code;
    memset(&en, 0, sizeof en);
    memset(&e, 0, sizeof e);
    rc = kv_get(b, key, &en, &e);
    kv_close(b);
    if (rc == NATS_ERR_NOT_FOUND) return cli_fail(CLI_NOT_FOUND, "%s/%s holds no value", bucket, key);
    if (rc != NATS_OK) return cli_fail_nats(rc, &e, "cannot read %s/%s", bucket, key);
    if (cli_g.json) {
        kv_get_out o;
        o.bucket = bucket;
        o.e = &en;
        code = cli_emit_json(render_kv_get, &o);
    } else {
        /* Binary stdout when redirected, so the value arrives byte for byte. */
        if (!cli_g.con_out) { fflush(stdout); _setmode(_fileno(stdout), _O_BINARY); }
        cli_out_raw(0, (const char *)en.value, en.len);
        cli_out_raw(0, "\n", 1);
    }
    kv_entry_clear(&en);
    return code;
}

/* jetstream kv put <bucket> <key> <value|->: an unconditional write. */
int cli_cmd_kv_put(void)
{
    const char *bucket, *key, *value = cli_arg(2);
    char *buf = NULL;
    size_t len = strlen(value);
    kv_bucket *b = NULL;
    uint64_t rev = 0;
    js_err e;
    int code, rc;
    if ((code = kv_args(&bucket, &key)) != CLI_OK) return code;
    if (!strcmp(value, "-")) {
        size_t cap = 0, got;
        _setmode(_fileno(stdin), _O_BINARY);
        len = 0;
        do {
            if (len == cap) {
                char *nb = cap >= (8u << 20) ? NULL : realloc(buf, cap = cap ? cap * 2 : 4096);
                if (!nb) { free(buf); return cli_fail(CLI_FAIL, "value on stdin is larger than 8 MiB"); }
                buf = nb;
            }
            got = fread(buf + len, 1, cap - len, stdin);
            len += got;
        } while (got > 0);
        value = buf ? buf : "";
    }
    if ((code = cli_connect()) != CLI_OK || (code = cli_open_kv(bucket, &b)) != CLI_OK) { free(buf); return code; }
    memset(&e, 0, sizeof e);
    rc = kv_put(b, key, value, len, &rev, &e);
    kv_close(b);
    free(buf);
    if (rc != NATS_OK) return cli_fail_nats(rc, &e, "cannot write %s/%s", bucket, key);
    if (cli_g.json) cli_say("{\"bucket\":\"%s\",\"key\":\"%s\",\"revision\":%" PRIu64 "}\n", bucket, key, rev);
    else cli_say("put %s/%s (revision %" PRIu64 ")\n", bucket, key, rev);
    return CLI_OK;
}

/* jetstream kv del <bucket> <key>: a delete marker; exit 3 when nothing is there. */
int cli_cmd_kv_del(void)
{
    const char *bucket, *key;
    kv_bucket *b = NULL;
    kv_entry en;
    js_err e;
    int code, rc;
    if ((code = kv_args(&bucket, &key)) != CLI_OK) return code;
    if ((code = cli_connect()) != CLI_OK || (code = cli_open_kv(bucket, &b)) != CLI_OK) return code;
    memset(&en, 0, sizeof en);
    memset(&e, 0, sizeof e);
    rc = kv_get(b, key, &en, &e);
    kv_entry_clear(&en);
    if (rc == NATS_OK) { memset(&e, 0, sizeof e); rc = kv_delete(b, key, &e); }
    kv_close(b);
    if (rc == NATS_ERR_NOT_FOUND) return cli_fail(CLI_NOT_FOUND, "%s/%s holds no value", bucket, key);
    if (rc != NATS_OK) return cli_fail_nats(rc, &e, "cannot delete %s/%s", bucket, key);
    if (cli_g.json) cli_say("{\"bucket\":\"%s\",\"key\":\"%s\",\"deleted\":true}\n", bucket, key);
    else cli_say("deleted %s/%s\n", bucket, key);
    return CLI_OK;
}
