/*
** agent_trust.c — signed targets on the agent. See agent_trust.h; the
** checks themselves are trust.c's.
*/
#include <windows.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "agent_trust.h"
#include "json.h"
#include "kv.h"
#include "log.h"
#include "rollout.h"
#include "trust.h"
#include "win.h"

#define MARKS_FILE_MAX 16384

static int64_t *mark_of(atr *t, const char *key, int add)
{
    int i;
    for (i = 0; i < t->nmark; i++)
        if (strcmp(t->mark[i].key, key) == 0) return &t->mark[i].rev;
    if (!add || t->nmark >= ATR_MAX_MARKS) return NULL;
    snprintf(t->mark[t->nmark].key, sizeof t->mark[0].key, "%s", key);
    t->mark[t->nmark].rev = 0;
    return &t->mark[t->nmark++].rev;
}

/* {"global": 1764380000000, "groups.ring1": ...}; a missing file is no marks. */
static void marks_load(atr *t)
{
    char *text = NULL;
    size_t len = 0;
    json_tok tok[2 * ATR_MAX_MARKS + 2];
    json_doc d;
    int i, k;
    if (!win_exists(t->path)) return;
    if (win_read_all(t->path, MARKS_FILE_MAX, &text, &len) != 0
        || json_parse(&d, text, len, tok, (int)(sizeof tok / sizeof tok[0])) != JSON_OK
        || tok[0].type != JSON_OBJECT) {
        /* Refusing every target until an operator looks would turn a
        ** damaged file into a stuck fleet; the signatures still hold. */
        log_event(LOG_WARN, "%s is unreadable or damaged; the replay guard starts again from the targets seen now",
                  t->path);
        free(text);
        return;
    }
    for (k = 0, i = 1; k < tok[0].size && i + 1 < d.ntok; k++) {
        char key[ACFG_KEY_MAX + 1];
        int64_t rev, *m;
        if (json_tok_str(&d, i, key, sizeof key) == JSON_OK && json_tok_int(&d, i + 1, &rev) == JSON_OK
            && (m = mark_of(t, key, 1)) != NULL && rev > *m)
            *m = rev;
        i = json_skip(&d, i + 1);
        if (i < 0) break;
    }
    free(text);
}

static void marks_save(atr *t)
{
    char buf[MARKS_FILE_MAX];
    json_w w;
    int i;
    json_w_init(&w, buf, sizeof buf);
    json_w_obj_open(&w);
    for (i = 0; i < t->nmark; i++) {
        json_w_key(&w, t->mark[i].key);
        json_w_int(&w, t->mark[i].rev);
    }
    json_w_obj_close(&w);
    if (w.err || win_write_atomic(t->path, buf, w.len) != 0)
        log_warn("cannot write %s: %s; the replay guard holds until the next restart only", t->path,
                 win_last_error());
}

/* see agent_trust.h */
int atr_init(atr *t, const char *data_dir, const char *keys, char *err, size_t errcap)
{
    memset(t, 0, sizeof *t);
    if (trust_parse_keys(keys, t->keys, SIG_MAX_KEYS, &t->nkeys, err, errcap) != TRUST_OK) return 1;
    snprintf(t->path, sizeof t->path, "%s\\target-revs.json", data_dir);
    marks_load(t);
    return 0;
}

/* 1 the first time this (key, KV revision) is reported (refused, or its
** rollout fields dropped), so a standing bad value is logged once, not at
** every evaluation. */
static int first_report(atr *t, const acfg_entry *e)
{
    int i;
    for (i = 0; i < t->nlogged; i++)
        if (strcmp(t->logged[i].key, e->key) == 0) {
            if (t->logged[i].kv_rev == e->rev) return 0;
            t->logged[i].kv_rev = e->rev;
            return 1;
        }
    if (t->nlogged < ATR_MAX_MARKS) {
        snprintf(t->logged[t->nlogged].key, sizeof t->logged[0].key, "%s", e->key);
        t->logged[t->nlogged++].kv_rev = e->rev;
    }
    return 1;
}

static void add_error(atr *t, const char *key, const char *why)
{
    size_t n = strlen(t->errors);
    if (n + 8 >= sizeof t->errors) return;
    snprintf(t->errors + n, sizeof t->errors - n, "%s%s: %s", n ? "; " : "", key, why);
}

/* A signed target whose rollout fields nobody signed: the layer counts
** with its target, its halt policy, plan and previous version cleared
** (logged once per value). */
static void apply_without_rollout(atr *t, const acfg_entry *e, const char *why, acfg *out)
{
    ro_rollout none;
    size_t cap = e->len + 64;
    char *v = malloc(cap);
    if (first_report(t, e)) log_event(LOG_WARN, "agent_config/%s: %s", e->key, why);
    memset(&none, 0, sizeof none);
    if (v && ro_write_scope(e->val, e->len, &none, v, cap) == RO_OK)
        acfg_apply(out, e->key, KV_OP_PUT, e->rev, v, strlen(v));
    free(v);
}

/* 1 for the scopes that can apply to this agent: global, pcs.* (the table
** keeps only its own) and the groups it belongs to. */
static int applies(const char *key, char groups[][SCOPE_ID_MAX + 1], int ng)
{
    int i;
    if (strncmp(key, "groups.", 7) != 0) return 1;
    for (i = 0; i < ng; i++)
        if (strcmp(key + 7, groups[i]) == 0) return 1;
    return 0;
}

/* see agent_trust.h */
void atr_filter(atr *t, const acfg *in, const char *groups_json, size_t groups_len, acfg *out)
{
    char groups[SCOPE_MAX_GROUPS][SCOPE_ID_MAX + 1];
    int i, ng = 0, dirty = 0;
    t->errors[0] = 0;
    if (groups_json && scope_parse_groups(groups_json, groups_len, groups, SCOPE_MAX_GROUPS, &ng) != SCOPE_OK)
        ng = 0;
    for (i = 0; i < in->n; i++) {
        const acfg_entry *e = &in->e[i];
        char why[256], id[SIG_KEYID_LEN + 1];
        int64_t rev = 0, *m;
        int rc;
        if (!e->live || !applies(e->key, groups, ng)) continue;
        m = mark_of(t, e->key, 0);
        rc = trust_target_check(t->keys, t->nkeys, e->key, e->val, e->len, m ? *m : 0, &rev, id, why, sizeof why);
        if (rc == TRUST_OK || rc == TRUST_NONE || rc == TRUST_ROLLOUT_UNSIGNED) {
            if (rc != TRUST_NONE && (!m || rev > *m)) {
                log_info("target of %s signed by key %s accepted (rev %" PRId64 ")", e->key, id, rev);
                /* Room for every scope that applies: global, SCOPE_MAX_GROUPS, the pc;
                ** marks of groups left since stay (a later rejoin keeps its guard). */
                if (m || (m = mark_of(t, e->key, 1)) != NULL) { *m = rev; dirty = 1; }
                else log_warn("no room to remember the rev of %s: an older signed value of it would not be refused",
                              e->key);
            }
            if (rc == TRUST_ROLLOUT_UNSIGNED) apply_without_rollout(t, e, why, out);
            else acfg_apply(out, e->key, KV_OP_PUT, e->rev, e->val, e->len);
        } else {
            char *v = malloc(e->len + 32);
            add_error(t, e->key, why);
            if (first_report(t, e))
                log_event(LOG_WARN, "agent_config/%s: %s; its target is ignored", e->key, why);
            /* The layer stays (its other fields still count) without a target. */
            if (v && scope_set_field(e->val, e->len, "target_version", NULL, v, e->len + 32) == SCOPE_OK)
                acfg_apply(out, e->key, KV_OP_PUT, e->rev, v, strlen(v));
            free(v);
        }
    }
    if (dirty) marks_save(t);
}
