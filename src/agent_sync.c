/*
** agent_sync.c — the agent's config read path: direct gets and change
** notifications, no consumers. See agent_sync.h.
*/
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "agent_sync.h"
#include "log.h"
#include "scope.h"

#define ASY_NSUBS  4
#define ASY_NSEEN  (SCOPE_MAX_GROUPS + 3)
#define ASY_BATCH  (SCOPE_MAX_GROUPS + 3) /* distinct keys answered per drain */
#define B_CONFIG   0
#define B_GROUPS   1

/* The revision and write time last applied for one key: a lower revision
** written later means the bucket was recreated. */
typedef struct asy_seen {
    int bucket;
    char key[ACFG_KEY_MAX + 1];
    uint64_t rev;
    int64_t at_ns;
} asy_seen;

/* One key named by notifications, with the last one's operation and value. */
typedef struct asy_note {
    int bucket;
    char key[ACFG_KEY_MAX + 1];
    int op;
    unsigned char *val;         /* malloc'd copy of the notification payload */
    size_t len;
} asy_note;

struct asy {
    nats_conn *c;
    kv_bucket *b[2];
    acfg *t[2];
    char pc[SCOPE_ID_MAX + 1];
    nats_sub *subs[ASY_NSUBS];
    char groups[SCOPE_MAX_GROUPS][SCOPE_ID_MAX + 1];
    int ngroups;
    asy_seen seen[ASY_NSEEN];
    int nseen;
    asy_note notes[ASY_BATCH];  /* asy_drain's batch: per agent, since the fleet
                                ** simulator runs many agents in one process */
    int failed;                 /* bucket of the last failure */
};

static const char *const bucket_name[2] = { "agent_config", "agent_groups" };

const char *asy_failed_bucket(const asy *s)
{
    return bucket_name[s && s->failed == B_GROUPS ? B_GROUPS : B_CONFIG];
}

void asy_close(asy *s)
{
    int i;
    if (!s) return;
    for (i = 0; i < ASY_NSUBS; i++)
        if (s->subs[i]) nats_unsubscribe(s->subs[i]);
    kv_close(s->b[0]);
    kv_close(s->b[1]);
    free(s);
}

int asy_open(nats_conn *c, const char *pc_id, acfg *config, acfg *groups, void *notify_event,
             asy **out)
{
    char subj[4][96];
    asy *s;
    int i, rc;
    js_err e;
    *out = NULL;
    s = calloc(1, sizeof *s);
    if (!s) return NATS_ERR_NOMEM;
    s->c = c;
    s->t[B_CONFIG] = config;
    s->t[B_GROUPS] = groups;
    snprintf(s->pc, sizeof s->pc, "%s", pc_id);
    memset(&e, 0, sizeof e);
    rc = kv_attach(c, bucket_name[B_CONFIG], &s->b[B_CONFIG], &e);
    if (rc == NATS_OK) rc = kv_attach(c, bucket_name[B_GROUPS], &s->b[B_GROUPS], &e);
    /* Exactly the subjects a PC may subscribe to under `kanade broker config`. */
    snprintf(subj[0], sizeof subj[0], "$KV.agent_config.global");
    snprintf(subj[1], sizeof subj[1], "$KV.agent_config.groups.*");
    snprintf(subj[2], sizeof subj[2], "$KV.agent_config.pcs.%s", pc_id);
    snprintf(subj[3], sizeof subj[3], "$KV.agent_groups.%s", pc_id);
    for (i = 0; rc == NATS_OK && i < ASY_NSUBS; i++)
        rc = nats_subscribe(c, subj[i], notify_event, &s->subs[i]);
    if (rc != NATS_OK) { asy_close(s); return rc; }
    *out = s;
    return NATS_OK;
}

static asy_seen *find_seen(asy *s, int bucket, const char *key)
{
    int i;
    for (i = 0; i < s->nseen; i++)
        if (s->seen[i].bucket == bucket && !strcmp(s->seen[i].key, key)) return &s->seen[i];
    return NULL;
}

static void note_seen(asy *s, int bucket, const char *key, uint64_t rev, int64_t at_ns)
{
    asy_seen *x = find_seen(s, bucket, key);
    if (!x) {
        if (s->nseen >= ASY_NSEEN) return;  /* more groups than a pc can have: no reset check */
        x = &s->seen[s->nseen++];
        x->bucket = bucket;
        snprintf(x->key, sizeof x->key, "%s", key);
    }
    x->rev = rev;
    x->at_ns = at_ns;
}

/* The groups this pc is in, from its agent_groups entry. */
static void load_groups(asy *s)
{
    const acfg_entry *g = acfg_get(s->t[B_GROUPS], s->pc);
    s->ngroups = 0;
    if (g && g->val) scope_parse_groups(g->val, g->len, s->groups, SCOPE_MAX_GROUPS, &s->ngroups);
}

static int in_groups(const asy *s, const char *g)
{
    int i;
    for (i = 0; i < s->ngroups; i++)
        if (!strcmp(s->groups[i], g)) return 1;
    return 0;
}

/*
** Direct-gets one key and applies it. A key with no message at all that
** had one, or a lower revision written later than the one applied, means
** the bucket was recreated: ASY_RESET.
*/
static int read_key(asy *s, int bucket, const char *key, int *changed, char *err, size_t cap)
{
    kv_entry en;
    js_err e;
    asy_seen *x = find_seen(s, bucket, key);
    int rc, r;
    memset(&e, 0, sizeof e);
    rc = kv_get_entry(s->b[bucket], key, &en, &e);
    if (rc == NATS_ERR_NOT_FOUND) {
        if (x && x->rev) {
            snprintf(err, cap, "%s/%s has no revision any more (%llu was applied): the bucket was "
                     "recreated", bucket_name[bucket], key, (unsigned long long)x->rev);
            return ASY_RESET;
        }
        return NATS_OK;
    }
    if (rc != NATS_OK) {
        s->failed = bucket;
        snprintf(err, cap, "direct get of %s/%s: %s", bucket_name[bucket], key,
                 e.desc[0] ? e.desc : nats_strerror(rc));
        return rc;
    }
    if (x && en.revision < x->rev && en.created_ns > x->at_ns) {
        snprintf(err, cap, "%s/%s revision %llu was written after revision %llu: the bucket was "
                 "recreated", bucket_name[bucket], key, (unsigned long long)en.revision,
                 (unsigned long long)x->rev);
        kv_entry_clear(&en);
        return ASY_RESET;
    }
    r = acfg_apply(s->t[bucket], key, en.op, en.revision, en.value, en.len);
    if (r == ACFG_APPLIED) {
        *changed = 1;
        note_seen(s, bucket, key, en.revision, en.created_ns);
        log_debug("%s/%s revision %llu: %s", bucket_name[bucket], key, (unsigned long long)en.revision,
                  en.op == KV_OP_PUT ? "put" : en.op == KV_OP_DEL ? "deleted" : "purged");
    } else if (r == ACFG_STALE && x && en.revision < x->rev) {
        log_info("%s/%s: ignored revision %llu (already applied %llu)", bucket_name[bucket], key,
                 (unsigned long long)en.revision, (unsigned long long)x->rev);
    } else if (r == ACFG_ERR_NOMEM) {
        log_error("%s/%s: out of memory applying revision %llu", bucket_name[bucket], key,
                  (unsigned long long)en.revision);
    }
    kv_entry_clear(&en);
    return NATS_OK;
}

/* Reads the config keys of this pc's groups (after its group list changed). */
static int read_group_keys(asy *s, int *changed, char *err, size_t cap)
{
    char key[ACFG_KEY_MAX + 1];
    int i, rc = NATS_OK;
    load_groups(s);
    for (i = 0; rc == NATS_OK && i < s->ngroups; i++) {
        snprintf(key, sizeof key, "groups.%s", s->groups[i]);
        rc = read_key(s, B_CONFIG, key, changed, err, cap);
    }
    return rc;
}

int asy_sync(asy *s, int *changed, char *err, size_t cap)
{
    char key[ACFG_KEY_MAX + 1];
    int rc;
    *changed = 0;
    err[0] = 0;
    rc = read_key(s, B_CONFIG, "global", changed, err, cap);
    snprintf(key, sizeof key, "pcs.%s", s->pc);
    if (rc == NATS_OK) rc = read_key(s, B_CONFIG, key, changed, err, cap);
    if (rc == NATS_OK) rc = read_key(s, B_GROUPS, s->pc, changed, err, cap);
    if (rc == NATS_OK) rc = read_group_keys(s, changed, err, cap);
    return rc;
}

static int note_op(const nats_msg *m)
{
    char v[32];
    if (!m->hdr || nats_msg_header(m, "KV-Operation", v, sizeof v) != 0) return KV_OP_PUT;
    return !strcmp(v, "DEL") ? KV_OP_DEL : !strcmp(v, "PURGE") ? KV_OP_PURGE : KV_OP_PUT;
}

/* Records the key a notification names in notes[] (the last value wins). */
static void collect(asy *s, const nats_msg *m, asy_note *notes, int *n, int *overflow)
{
    static const char cfgp[] = "$KV.agent_config.", grpp[] = "$KV.agent_groups.";
    const char *k;
    asy_note *x = NULL;
    int i, bucket;
    if (!strncmp(m->subject, grpp, sizeof grpp - 1)) {
        k = m->subject + sizeof grpp - 1;
        if (strcmp(k, s->pc) != 0) return;
        bucket = B_GROUPS;
    } else if (!strncmp(m->subject, cfgp, sizeof cfgp - 1)) {
        k = m->subject + sizeof cfgp - 1;
        /* Notifications come for every group; only this pc's groups matter. */
        if (!strncmp(k, "groups.", 7) && !in_groups(s, k + 7)) return;
        bucket = B_CONFIG;
    } else {
        return;
    }
    if (strlen(k) > ACFG_KEY_MAX) return;
    for (i = 0; i < *n && !x; i++)
        if (notes[i].bucket == bucket && !strcmp(notes[i].key, k)) x = &notes[i];
    if (!x) {
        if (*n >= ASY_BATCH) { *overflow = 1; return; }
        x = &notes[(*n)++];
        x->bucket = bucket;
        snprintf(x->key, sizeof x->key, "%s", k);
    }
    free(x->val);
    x->op = note_op(m);
    x->len = m->len;
    x->val = malloc(m->len + 1);
    if (x->val && m->len) memcpy(x->val, m->data, m->len);
}

/* 1 when the table holds what the notification announced. */
static int holds(const asy *s, const asy_note *x)
{
    const acfg_entry *en = acfg_get(s->t[x->bucket], x->key);
    if (x->op != KV_OP_PUT) return en == NULL;
    return en && x->val && en->len == x->len && !memcmp(en->val, x->val, x->len);
}

/*
** Reads a notified key. The notification reaches the agent while the
** stream may still be storing that very message, so a direct get can
** answer the previous revision: read again, briefly, until the table holds
** what was announced (a later resync covers the rest).
*/
static int read_noted(asy *s, const asy_note *x, int *changed, char *err, size_t cap)
{
    int tries, rc = NATS_OK;
    for (tries = 0; tries < 20; tries++) {
        if (tries) Sleep(25);
        rc = read_key(s, x->bucket, x->key, changed, err, cap);
        if (rc != NATS_OK || holds(s, x)) break;
    }
    /* A group joined: its config key was never read. */
    if (rc == NATS_OK && x->bucket == B_GROUPS) rc = read_group_keys(s, changed, err, cap);
    return rc;
}

int asy_drain(asy *s, int *changed, char *err, size_t cap)
{
    asy_note *notes = s->notes;
    int n = 0, overflow = 0, i, rc = NATS_OK;
    *changed = 0;
    err[0] = 0;
    for (i = 0; i < ASY_NSUBS; i++) {
        nats_msg *m;
        while (s->subs[i] && nats_sub_next(s->subs[i], 0, &m) == NATS_OK) {
            collect(s, m, notes, &n, &overflow);
            nats_msg_free(m);
        }
    }
    if (overflow) {
        rc = asy_sync(s, changed, err, cap);
    } else {
        for (i = 0; rc == NATS_OK && i < n; i++) rc = read_noted(s, &notes[i], changed, err, cap);
    }
    for (i = 0; i < n; i++) { free(notes[i].val); notes[i].val = NULL; }
    return rc;
}
