/*
** agent_cfg.h — the agent's copy of the agent_config bucket (and of its own
** agent_groups key): key -> (value, revision), with a per-key revision
** high-water mark so that a revision at or below one already seen is never
** applied again (a bug of the original system: a reconnect replayed old history and
** flapped agents back to an old target). Pure: no windows.h.
*/
#ifndef AGENT_CFG_H
#define AGENT_CFG_H
#include <stddef.h>
#include <stdint.h>
#include "scope.h"

#define ACFG_APPLIED   0   /* the table changed */
#define ACFG_STALE     1   /* revision <= the key's mark: dropped */
#define ACFG_IGNORED   2   /* a key that cannot affect this agent */
#define ACFG_ERR_NOMEM 3
#define ACFG_ERR_ARG   4   /* key too long, or revision 0 */

#define ACFG_KEY_MAX 255

typedef struct acfg_entry {
    char key[ACFG_KEY_MAX + 1];
    char *val;                  /* malloc'd, NUL-terminated; NULL when not live */
    size_t len;
    uint64_t rev;               /* the mark: highest revision seen for the key */
    int live;                   /* 0 after DEL/PURGE: the scope is unset */
} acfg_entry;

typedef struct acfg {
    acfg_entry *e;              /* owned; grows by doubling */
    int n, cap;
    char pc_id[SCOPE_ID_MAX + 1]; /* "" = keep every key */
} acfg;

/*
** pc_id non-empty: only "global", "groups.<valid name>" and "pcs.<pc_id>"
** are kept (the watch sees every pc's scope; storing them all would make
** the agent's memory grow with the fleet). Empty: every key is kept.
*/
void acfg_init(acfg *t, const char *pc_id);
/* Frees values and marks; t can be used again (same filter). */
void acfg_clear(acfg *t);

/*
** Applies one watch entry. op is KV_OP_PUT, KV_OP_DEL or KV_OP_PURGE; DEL
** and PURGE unset the scope but keep the key's mark. Returns ACFG_APPLIED,
** ACFG_STALE, ACFG_IGNORED or an ACFG_ERR_*. val is copied.
*/
int acfg_apply(acfg *t, const char *key, int op, uint64_t rev, const void *val, size_t len);
/* The live entry for key, or NULL. Owned by the table. */
const acfg_entry *acfg_get(const acfg *t, const char *key);

/*
** Resolves the effective config of pc_id from the agent_config table and
** the agent's agent_groups value (groups_json may be NULL = no groups; an
** unparsable value counts as no groups, and SCOPE_ERR_JSON is returned
** after the resolution is still written). groups/ngroups (may be NULL)
** receive the parsed membership. Returns SCOPE_OK or a SCOPE_ERR_*.
*/
int acfg_resolve(const acfg *config, const char *pc_id, const char *groups_json,
                 size_t groups_len, char groups[][SCOPE_ID_MAX + 1], int *ngroups,
                 scope_result *out);
#endif
