/*
** agent_trust.h — the agent's side of signed targets: the release keys from
** agent.conf, and the filter that hands acfg_resolve only targets signed by
** one of them, for the scope they were read from, with a rev at least the
** highest this host accepted before for that scope (kept in
** <data>\target-revs.json, so a restart cannot be used to replay an older
** signed value). With no keys the filter is not used and every target
** counts, as before signing existed (docs/security.md).
*/
#ifndef AGENT_TRUST_H
#define AGENT_TRUST_H
#include <stdint.h>
#include "agent_cfg.h"
#include "sign.h"

#define ATR_MAX_MARKS (2 * SCOPE_MAX_GROUPS + 2)   /* global, groups (now and before), the pc */

typedef struct atr {
    sig_pub keys[SIG_MAX_KEYS];
    int nkeys;
    char path[3072];                          /* target-revs.json */
    struct { char key[ACFG_KEY_MAX + 1]; int64_t rev; } mark[ATR_MAX_MARKS];
    int nmark;
    struct { char key[ACFG_KEY_MAX + 1]; uint64_t kv_rev; } logged[ATR_MAX_MARKS];
    int nlogged;
    char errors[512];                         /* "global: unsigned target 1.2.3; ..." or "" */
} atr;

/* Parses the comma-separated keys and loads the marks from data_dir. A bad
** key list fills err (the config was checked already, so this is rare). */
int atr_init(atr *t, const char *data_dir, const char *keys, char *err, size_t errcap);

/*
** Copies the live entries of in that apply to this agent (global, its pc,
** the groups of groups_json, may be NULL) into out (initialised by the
** caller with acfg_init), each refused target replaced by target_version
** null, so the layer sets no target. Accepted revs raise the marks
** (persisted). Refusals are logged once per value and listed in t->errors.
*/
void atr_filter(atr *t, const acfg *in, const char *groups_json, size_t groups_len, acfg *out);
#endif
