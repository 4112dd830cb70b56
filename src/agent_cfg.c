/*
** agent_cfg.c — the agent's table of agent_config scopes with per-key
** revision marks, and the resolution over it. See agent_cfg.h.
**
** Why a mark per key and not one for the whole bucket: the watch delivers
** the newest value of each key first (deliver last_per_subject), so the
** revisions seen across keys are not in order; only per key does "a lower
** revision is older" hold.
*/
#include <stdlib.h>
#include <string.h>
#include "agent_cfg.h"
#include "kv.h"

void acfg_init(acfg *t, const char *pc_id)
{
    size_t n = pc_id ? strlen(pc_id) : 0;
    memset(t, 0, sizeof *t);
    if (n > SCOPE_ID_MAX) n = SCOPE_ID_MAX;
    if (n) memcpy(t->pc_id, pc_id, n);
    t->pc_id[n] = 0;
}

void acfg_clear(acfg *t)
{
    int i;
    for (i = 0; i < t->n; i++) free(t->e[i].val);
    free(t->e);
    t->e = NULL;
    t->n = t->cap = 0;
}

/* 1 if key can affect the resolution for the table's pc_id. */
static int relevant(const acfg *t, const char *key)
{
    if (!t->pc_id[0]) return 1;
    if (strcmp(key, "global") == 0) return 1;
    if (strncmp(key, "groups.", 7) == 0) return scope_valid_id(key + 7);
    if (strncmp(key, "pcs.", 4) == 0) return strcmp(key + 4, t->pc_id) == 0;
    return 0;
}

static acfg_entry *find(const acfg *t, const char *key)
{
    int i;
    for (i = 0; i < t->n; i++)
        if (strcmp(t->e[i].key, key) == 0) return &t->e[i];
    return NULL;
}

/* See agent_cfg.h. The table is small (global, the group scopes, one pc
** scope), so a linear search is the simple and sufficient choice. */
int acfg_apply(acfg *t, const char *key, int op, uint64_t rev, const void *val, size_t len)
{
    acfg_entry *e;
    size_t klen;
    if (!key || rev == 0 || (klen = strlen(key)) == 0 || klen > ACFG_KEY_MAX) return ACFG_ERR_ARG;
    if (op == KV_OP_PUT && !val && len) return ACFG_ERR_ARG;
    if (!relevant(t, key)) return ACFG_IGNORED;
    e = find(t, key);
    if (e && rev <= e->rev) return ACFG_STALE;
    if (!e) {
        if (t->n == t->cap) {
            int ncap = t->cap ? t->cap * 2 : 8;
            acfg_entry *ne = realloc(t->e, (size_t)ncap * sizeof *ne);
            if (!ne) return ACFG_ERR_NOMEM;
            t->e = ne;
            t->cap = ncap;
        }
        e = &t->e[t->n++];
        memset(e, 0, sizeof *e);
        memcpy(e->key, key, klen + 1);
    }
    if (op == KV_OP_PUT) {
        char *copy = malloc(len + 1);
        if (!copy) {
            /* A new entry that never got a value would still hold rev 0,
            ** which acfg_apply treats as "never seen": harmless. */
            return ACFG_ERR_NOMEM;
        }
        if (len) memcpy(copy, val, len);
        copy[len] = 0;
        free(e->val);
        e->val = copy;
        e->len = len;
        e->live = 1;
    } else {
        free(e->val);
        e->val = NULL;
        e->len = 0;
        e->live = 0;
    }
    e->rev = rev;
    return ACFG_APPLIED;
}

const acfg_entry *acfg_get(const acfg *t, const char *key)
{
    const acfg_entry *e = find(t, key);
    return e && e->live ? e : NULL;
}

/* See agent_cfg.h. Only the layers that can apply are handed to
** scope_resolve: global, the scopes of this pc's groups, and its pc scope
** (at most SCOPE_MAX_GROUPS + 2), so the layer array lives on the stack. */
int acfg_resolve(const acfg *config, const char *pc_id, const char *groups_json,
                 size_t groups_len, char groups[][SCOPE_ID_MAX + 1], int *ngroups,
                 scope_result *out)
{
    char mine[SCOPE_MAX_GROUPS][SCOPE_ID_MAX + 1];
    scope_layer layers[SCOPE_MAX_GROUPS + 2];
    char pckey[4 + SCOPE_ID_MAX + 1];
    int n = 0, ng = 0, i, grc = SCOPE_OK, rc;
    const acfg_entry *e;

    if (groups_json && groups_len) {
        grc = scope_parse_groups(groups_json, groups_len, mine, SCOPE_MAX_GROUPS, &ng);
        if (grc != SCOPE_OK) ng = 0;
    }
    if ((e = acfg_get(config, "global")) != NULL) {
        layers[n].key = e->key; layers[n].json = e->val; layers[n].len = e->len; n++;
    }
    for (i = 0; i < ng; i++) {
        char gkey[7 + SCOPE_ID_MAX + 1];
        size_t gl = strlen(mine[i]);
        memcpy(gkey, "groups.", 7);
        memcpy(gkey + 7, mine[i], gl + 1);
        if ((e = acfg_get(config, gkey)) != NULL) {
            layers[n].key = e->key; layers[n].json = e->val; layers[n].len = e->len; n++;
        }
    }
    if (strlen(pc_id) <= SCOPE_ID_MAX) {
        memcpy(pckey, "pcs.", 4);
        memcpy(pckey + 4, pc_id, strlen(pc_id) + 1);
        if ((e = acfg_get(config, pckey)) != NULL) {
            layers[n].key = e->key; layers[n].json = e->val; layers[n].len = e->len; n++;
        }
    }
    rc = scope_resolve(layers, n, pc_id, mine, ng, out);
    if (groups) for (i = 0; i < ng; i++) memcpy(groups[i], mine[i], SCOPE_ID_MAX + 1);
    if (ngroups) *ngroups = ng;
    return rc != SCOPE_OK ? rc : grc;
}
