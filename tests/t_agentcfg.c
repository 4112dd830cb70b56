/*
** t_agentcfg.c — the agent's config table: per-key revision marks (the
** reconnect-replay guard, a bug of the original system), DEL/PURGE, the key filter,
** and the resolution over the table with group membership.
**
** agent_cfg.c belongs to kanade-agent.exe only (AGENT_SRC), so it is
** compiled into this test directly; scope.c comes from PURE_SRC.
*/
#include <string.h>
#include "th.h"
#include "agent_cfg.c"

#define PUT(t, k, r, v) acfg_apply(t, k, KV_OP_PUT, r, v, strlen(v))

static void test_marks(void)
{
    acfg t;
    acfg_init(&t, "pc-1");
    TH_EQ_INT(PUT(&t, "global", 3, "{\"target_version\":\"1.0.0\"}"), ACFG_APPLIED);
    TH_EQ_INT(PUT(&t, "global", 3, "{\"target_version\":\"0.9.0\"}"), ACFG_STALE);
    TH_EQ_INT(PUT(&t, "global", 2, "{\"target_version\":\"0.9.0\"}"), ACFG_STALE);
    TH_CHECK(acfg_get(&t, "global") != NULL);
    TH_EQ_STR(acfg_get(&t, "global")->val, "{\"target_version\":\"1.0.0\"}");
    TH_EQ_INT(PUT(&t, "global", 7, "{}"), ACFG_APPLIED);
    TH_EQ_STR(acfg_get(&t, "global")->val, "{}");
    TH_EQ_INT((int)acfg_get(&t, "global")->len, 2);
    acfg_clear(&t);
}

/* A target A, then B; a broker restart replays A: it must not come back. */
static void test_replay_after_reconnect(void)
{
    acfg t;
    acfg_init(&t, "pc-1");
    TH_EQ_INT(PUT(&t, "pcs.pc-1", 10, "{\"target_version\":\"A\"}"), ACFG_APPLIED);
    TH_EQ_INT(PUT(&t, "pcs.pc-1", 11, "{\"target_version\":\"B\"}"), ACFG_APPLIED);
    TH_EQ_INT(PUT(&t, "pcs.pc-1", 10, "{\"target_version\":\"A\"}"), ACFG_STALE);
    TH_EQ_STR(acfg_get(&t, "pcs.pc-1")->val, "{\"target_version\":\"B\"}");
    /* Keys are independent: a low revision of another key still applies. */
    TH_EQ_INT(PUT(&t, "global", 2, "{}"), ACFG_APPLIED);
    acfg_clear(&t);
}

static void test_delete_keeps_mark(void)
{
    acfg t;
    acfg_init(&t, "pc-1");
    TH_EQ_INT(PUT(&t, "groups.canary", 4, "{\"target_version\":\"2.0\"}"), ACFG_APPLIED);
    TH_EQ_INT(acfg_apply(&t, "groups.canary", KV_OP_DEL, 5, NULL, 0), ACFG_APPLIED);
    TH_CHECK(acfg_get(&t, "groups.canary") == NULL);
    /* The PUT before the delete, replayed, must not resurrect the scope. */
    TH_EQ_INT(PUT(&t, "groups.canary", 4, "{\"target_version\":\"2.0\"}"), ACFG_STALE);
    TH_CHECK(acfg_get(&t, "groups.canary") == NULL);
    TH_EQ_INT(PUT(&t, "groups.canary", 6, "{\"target_version\":\"2.1\"}"), ACFG_APPLIED);
    TH_CHECK(acfg_get(&t, "groups.canary") != NULL);
    TH_EQ_INT(acfg_apply(&t, "groups.canary", KV_OP_PURGE, 9, NULL, 0), ACFG_APPLIED);
    TH_CHECK(acfg_get(&t, "groups.canary") == NULL);
    TH_EQ_INT(acfg_apply(&t, "groups.canary", KV_OP_DEL, 8, NULL, 0), ACFG_STALE);
    /* A bucket that was deleted and recreated starts its revisions again:
    ** clearing the table forgets the marks. */
    acfg_clear(&t);
    TH_EQ_INT(PUT(&t, "groups.canary", 1, "{}"), ACFG_APPLIED);
    acfg_clear(&t);
}

static void test_filter(void)
{
    acfg t;
    char longkey[300];
    acfg_init(&t, "pc-1");
    TH_EQ_INT(PUT(&t, "pcs.pc-2", 1, "{}"), ACFG_IGNORED);
    TH_EQ_INT(PUT(&t, "pcs.pc-10", 1, "{}"), ACFG_IGNORED);
    TH_EQ_INT(PUT(&t, "pcs.pc-1", 1, "{}"), ACFG_APPLIED);
    TH_EQ_INT(PUT(&t, "target_version", 2, "0.1.0"), ACFG_IGNORED);   /* legacy key */
    TH_EQ_INT(PUT(&t, "groups.a.b", 3, "{}"), ACFG_IGNORED);
    TH_EQ_INT(PUT(&t, "groups.office", 4, "{}"), ACFG_APPLIED);
    TH_EQ_INT(PUT(&t, "global", 0, "{}"), ACFG_ERR_ARG);
    memset(longkey, 'k', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = 0;
    TH_EQ_INT(PUT(&t, longkey, 5, "{}"), ACFG_ERR_ARG);
    TH_EQ_INT(t.n, 2);
    acfg_clear(&t);
    /* Without a pc id (the groups table) every key is kept. */
    acfg_init(&t, "");
    TH_EQ_INT(PUT(&t, "pc-1", 1, "{\"groups\":[]}"), ACFG_APPLIED);
    acfg_clear(&t);
}

static void test_resolve(void)
{
    acfg t;
    scope_result r;
    char groups[SCOPE_MAX_GROUPS][SCOPE_ID_MAX + 1];
    int ng = -1;
    const char *gj = "{\"groups\":[\"office\",\"canary\"]}";

    acfg_init(&t, "pc-1");
    PUT(&t, "global", 1, "{\"target_version\":\"0.1.0\",\"heartbeat_interval\":\"10s\"}");
    PUT(&t, "groups.canary", 2, "{\"target_version\":\"0.1.1\",\"target_version_jitter\":\"5m\"}");
    PUT(&t, "groups.other", 3, "{\"target_version\":\"9.9.9\"}");

    TH_EQ_INT(acfg_resolve(&t, "pc-1", NULL, 0, groups, &ng, &r), SCOPE_OK);
    TH_EQ_INT(ng, 0);
    TH_EQ_STR(r.target_version, "0.1.0");
    TH_EQ_STR(r.target_scope, "global");
    TH_EQ_INT((int)r.heartbeat_ms, 10000);

    TH_EQ_INT(acfg_resolve(&t, "pc-1", gj, strlen(gj), groups, &ng, &r), SCOPE_OK);
    TH_EQ_INT(ng, 2);
    TH_EQ_STR(groups[0], "canary");
    TH_EQ_STR(groups[1], "office");
    TH_EQ_STR(r.target_version, "0.1.1");
    TH_EQ_STR(r.target_scope, "groups.canary");
    TH_EQ_INT((int)(r.jitter_ms / 1000), 300);

    PUT(&t, "pcs.pc-1", 4, "{\"target_version\":\"0.1.2\"}");
    TH_EQ_INT(acfg_resolve(&t, "pc-1", gj, strlen(gj), NULL, NULL, &r), SCOPE_OK);
    TH_EQ_STR(r.target_version, "0.1.2");
    TH_EQ_STR(r.target_scope, "pcs.pc-1");

    /* pc scope deleted: back to the group. */
    acfg_apply(&t, "pcs.pc-1", KV_OP_DEL, 5, NULL, 0);
    TH_EQ_INT(acfg_resolve(&t, "pc-1", gj, strlen(gj), NULL, NULL, &r), SCOPE_OK);
    TH_EQ_STR(r.target_scope, "groups.canary");

    /* Unparsable membership counts as none, and says so. */
    TH_EQ_INT(acfg_resolve(&t, "pc-1", "not json", 8, groups, &ng, &r), SCOPE_ERR_JSON);
    TH_EQ_INT(ng, 0);
    TH_EQ_STR(r.target_version, "0.1.0");

    /* Nothing set anywhere. */
    acfg_clear(&t);
    TH_EQ_INT(acfg_resolve(&t, "pc-1", NULL, 0, NULL, NULL, &r), SCOPE_OK);
    TH_EQ_STR(r.target_version, "");
    TH_EQ_INT((int)r.heartbeat_ms, 30000);
    acfg_clear(&t);
}

static int main_(void)
{
    TH_RUN(test_marks);
    TH_RUN(test_replay_after_reconnect);
    TH_RUN(test_delete_keeps_mark);
    TH_RUN(test_filter);
    TH_RUN(test_resolve);
    return th_summary("t_agentcfg");
}

TH_MAIN
