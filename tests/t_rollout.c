/*
** t_rollout.c — halt policy, wave plan, scope fields, failure record keys
** and values, and the halt verdict of rollout.c.
*/
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "th.h"
#include "rollout.h"

static void t_policy(void)
{
    ro_policy p;
    char s[64];
    TH_EQ_INT(ro_policy_parse("3", &p), RO_OK);
    TH_EQ_INT(p.kind, RO_HALT_AFTER); TH_EQ_INT(p.after, 3);
    TH_EQ_INT(ro_policy_threshold(&p), 3);
    TH_EQ_INT(ro_policy_parse("0", &p), RO_OK);
    TH_EQ_INT(p.kind, RO_HALT_OFF); TH_EQ_INT(ro_policy_threshold(&p), 0);
    TH_EQ_INT(ro_policy_parse("off", &p), RO_OK);
    TH_EQ_INT(p.kind, RO_HALT_OFF);
    TH_EQ_INT(ro_policy_parse("5%/100", &p), RO_OK);
    TH_EQ_INT(p.kind, RO_HALT_RATIO); TH_EQ_INT(p.ratio_bp, 500); TH_EQ_INT(p.hosts, 100);
    TH_EQ_INT(ro_policy_threshold(&p), 5);
    TH_EQ_INT(ro_policy_parse("5%/10", &p), RO_OK);
    TH_EQ_INT(ro_policy_threshold(&p), 1);          /* rounds up, at least one */
    TH_EQ_INT(ro_policy_parse("0.5%/1000", &p), RO_OK);
    TH_EQ_INT(p.ratio_bp, 50); TH_EQ_INT(ro_policy_threshold(&p), 5);
    TH_EQ_INT(ro_policy_format(&p, s, sizeof s), RO_OK); TH_EQ_STR(s, "0.50%/1000");
    TH_EQ_INT(ro_policy_parse("12.25%/7", &p), RO_OK);
    TH_EQ_INT(ro_policy_format(&p, s, sizeof s), RO_OK); TH_EQ_STR(s, "12.25%/7");
    TH_EQ_INT(ro_policy_threshold(&p), 1);
    TH_EQ_INT(ro_policy_parse("100%/3", &p), RO_OK); TH_EQ_INT(ro_policy_threshold(&p), 3);
    /* refused, untouched */
    p.kind = 99;
    TH_EQ_INT(ro_policy_parse("", &p), RO_ERR_INVALID);
    TH_EQ_INT(ro_policy_parse("-1", &p), RO_ERR_INVALID);
    TH_EQ_INT(ro_policy_parse("3x", &p), RO_ERR_INVALID);
    TH_EQ_INT(ro_policy_parse("5%", &p), RO_ERR_INVALID);       /* needs /hosts */
    TH_EQ_INT(ro_policy_parse("5%/0", &p), RO_ERR_INVALID);
    TH_EQ_INT(ro_policy_parse("0%/10", &p), RO_ERR_INVALID);
    TH_EQ_INT(ro_policy_parse("101%/10", &p), RO_ERR_INVALID);
    TH_EQ_INT(ro_policy_parse("5.123%/10", &p), RO_ERR_INVALID);
    TH_EQ_INT(ro_policy_parse("5.%/10", &p), RO_ERR_INVALID);
    TH_EQ_INT(ro_policy_parse("5%/10/2", &p), RO_ERR_INVALID);
    TH_EQ_INT(ro_policy_parse("99999999999999999999", &p), RO_ERR_INVALID);
    TH_EQ_INT(ro_policy_parse(" 3", &p), RO_ERR_INVALID);
    TH_EQ_INT(p.kind, 99);
    {
        int bp;
        TH_EQ_INT(ro_parse_ratio("5%", &bp), RO_OK); TH_EQ_INT(bp, 500);
        TH_EQ_INT(ro_parse_ratio("0.01%", &bp), RO_OK); TH_EQ_INT(bp, 1);
        TH_EQ_INT(ro_parse_ratio("5", &bp), RO_ERR_INVALID);
        TH_EQ_INT(ro_parse_ratio("5%/3", &bp), RO_ERR_INVALID);
    }
    p.kind = RO_HALT_UNSET;
    TH_EQ_INT(ro_policy_format(&p, s, sizeof s), RO_OK); TH_EQ_STR(s, "");
    TH_EQ_INT(ro_policy_threshold(&p), 0);
}

static void t_plan(void)
{
    ro_plan p;
    char s[128];
    char g1[2][SCOPE_ID_MAX + 1] = { "canary", "lab" };
    char g2[1][SCOPE_ID_MAX + 1] = { "office" };
    char g3[1][SCOPE_ID_MAX + 1] = { "kiosk" };
    char g4[2][SCOPE_ID_MAX + 1] = { "a", "office" };
    memset(&p, 0, sizeof p);
    TH_EQ_INT(ro_plan_parse_waves("canary,office,global", &p), RO_OK);
    TH_EQ_INT(p.nwaves, 3);
    TH_EQ_INT(ro_plan_format_waves(&p, s, sizeof s), RO_OK);
    TH_EQ_STR(s, "canary,office,global");
    TH_EQ_INT(ro_wave_of(&p, g1, 2), 0);
    TH_EQ_INT(ro_wave_of(&p, g2, 1), 1);
    TH_EQ_INT(ro_wave_of(&p, g3, 1), 2);       /* global: everyone not yet targeted */
    TH_EQ_INT(ro_wave_of(&p, NULL, 0), 2);
    TH_EQ_INT(ro_wave_of(&p, g4, 2), 1);
    p.start_ms = 1000000; p.gap_ms = 3600000;
    TH_EQ_INT(ro_wave_start_ms(&p, 0), 1000000);
    TH_EQ_INT(ro_wave_start_ms(&p, 2), 1000000 + 7200000);
    /* schedule: wave start (or now, if later) + own jitter draw */
    TH_EQ_INT(ro_schedule_ms(&p, 1, 5, 40), 1000000 + 3600000 + 40);
    TH_EQ_INT(ro_schedule_ms(&p, 0, 2000000, 40), 2000040);
    TH_EQ_INT(ro_schedule_ms(&p, -1, 5, 40), INT64_MAX);
    TH_EQ_INT(ro_schedule_ms(NULL, 0, 5, 40), 45);
    p.gap_ms = INT64_MAX / 2;
    TH_EQ_INT(ro_wave_start_ms(&p, 7), INT64_MAX);    /* saturates */
    /* without global, the others are left out */
    TH_EQ_INT(ro_plan_parse_waves("canary,office", &p), RO_OK);
    TH_EQ_INT(ro_wave_of(&p, g3, 1), -1);
    /* refused */
    TH_EQ_INT(ro_plan_parse_waves("", &p), RO_ERR_INVALID);
    TH_EQ_INT(ro_plan_parse_waves("a,,b", &p), RO_ERR_INVALID);
    TH_EQ_INT(ro_plan_parse_waves("a,", &p), RO_ERR_INVALID);
    TH_EQ_INT(ro_plan_parse_waves("a,a", &p), RO_ERR_INVALID);
    TH_EQ_INT(ro_plan_parse_waves("global,a", &p), RO_ERR_INVALID);
    TH_EQ_INT(ro_plan_parse_waves("a b", &p), RO_ERR_INVALID);
    TH_EQ_INT(ro_plan_parse_waves("a,b,c,d,e,f,g,h,i", &p), RO_ERR_INVALID);
    TH_EQ_INT(ro_plan_parse_waves("a,b,c,d,e,f,g,h", &p), RO_OK);
    TH_EQ_INT(p.nwaves, 8);
}

static void t_scope_fields(void)
{
    ro_rollout r, back;
    char out[2048], st[512];
    const char *orig = "{\"target_version\":\"0.2.0\",\"x\":[1,{\"y\":2}]}";
    memset(&r, 0, sizeof r);
    TH_EQ_INT(ro_policy_parse("5%/100", &r.policy), RO_OK);
    TH_EQ_INT(ro_plan_parse_waves("canary,office,global", &r.plan), RO_OK);
    r.plan.gap_ms = 3600000; r.plan.start_ms = 1764300000000LL;
    r.has_previous = 1; memcpy(r.previous, "0.1.0", 6);
    TH_EQ_INT(ro_write_scope(orig, strlen(orig), &r, out, sizeof out), RO_OK);
    TH_CHECK(strstr(out, "\"x\":[1,{\"y\":2}]") != NULL);
    TH_CHECK(strstr(out, "\"target_version\":\"0.2.0\"") != NULL);
    TH_CHECK(strstr(out, "\"halt_policy\":\"5%/100\"") != NULL);
    TH_CHECK(strstr(out, "\"wave_gap\":\"1h\"") != NULL);
    TH_EQ_INT(ro_read_scope(out, strlen(out), &back), RO_OK);
    TH_EQ_STR(back.errors, "");
    TH_EQ_INT(back.policy.kind, RO_HALT_RATIO); TH_EQ_INT(back.policy.hosts, 100);
    TH_EQ_INT(back.plan.nwaves, 3); TH_EQ_STR(back.plan.waves[2], "global");
    TH_EQ_INT(back.plan.gap_ms, 3600000); TH_EQ_INT(back.plan.start_ms, 1764300000000LL);
    TH_EQ_INT(back.has_previous, 1); TH_EQ_STR(back.previous, "0.1.0");
    TH_EQ_INT(ro_statement_lines(&back, st, sizeof st), RO_OK);
    TH_EQ_STR(st, "halt=5%/100\nwaves=canary,office,global\nwave_gap=1h\nwave_start=1764300000000\n"
                  "previous=0.1.0\n");

    /* clearing: unset fields become null, the rest is kept */
    memset(&r, 0, sizeof r);
    TH_EQ_INT(ro_write_scope(out, strlen(out), &r, st, sizeof st), RO_OK);
    TH_CHECK(strstr(st, "\"halt_policy\":null") != NULL);
    TH_CHECK(strstr(st, "\"waves\":null") != NULL);
    TH_EQ_INT(ro_read_scope(st, strlen(st), &back), RO_OK);
    TH_EQ_INT(back.policy.kind, RO_HALT_UNSET); TH_EQ_INT(back.plan.nwaves, 0);
    TH_EQ_INT(back.has_previous, 0);
    /* unset fields the value does not have are not added */
    TH_EQ_INT(ro_write_scope("{\"target_version\":\"1.0\"}", 24, &r, st, sizeof st), RO_OK);
    TH_EQ_STR(st, "{\"target_version\":\"1.0\"}");
    TH_EQ_INT(ro_write_scope("{\"a\":1,\"waves\":\"x\"}", 19, &r, st, sizeof st), RO_OK);
    TH_EQ_STR(st, "{\"a\":1,\"waves\":null}");
    TH_EQ_INT(ro_write_scope("not json", 8, &r, st, sizeof st), RO_ERR_JSON);
    TH_EQ_INT(ro_statement_lines(&back, st, sizeof st), RO_OK);
    TH_EQ_STR(st, "halt=\nwaves=\nwave_gap=\nwave_start=\nprevious=\n");

    /* blank and empty "previous" (the scope had no target before) */
    TH_EQ_INT(ro_read_scope("", 0, &back), RO_OK);
    TH_EQ_INT(ro_read_scope(" {\"previous_version\":\"\"} ", 25, &back), RO_OK);
    TH_EQ_INT(back.has_previous, 1); TH_EQ_STR(back.previous, "");

    /* bad fields: named, left unset, others still read */
    {
        const char *bad = "{\"halt_policy\":\"lots\",\"waves\":\"a,b\",\"wave_gap\":\"1h\",\"wave_start\":\"12\"}";
        TH_EQ_INT(ro_read_scope(bad, strlen(bad), &back), RO_ERR_INVALID);
        TH_EQ_INT(back.policy.kind, RO_HALT_UNSET);
        TH_EQ_INT(back.plan.nwaves, 2);
        TH_CHECK(strstr(back.errors, "halt_policy") != NULL);
    }
    {
        const char *bad = "{\"halt_policy\":3,\"waves\":\"a\",\"wave_gap\":\"soon\",\"wave_start\":\"12\"}";
        TH_EQ_INT(ro_read_scope(bad, strlen(bad), &back), RO_ERR_INVALID);
        TH_EQ_INT(back.plan.nwaves, 0);
        TH_CHECK(strstr(back.errors, "wave_gap") != NULL);
    }
    {
        const char *bad = "{\"waves\":\"a\",\"wave_gap\":\"1m\"}";   /* no start: no plan */
        TH_EQ_INT(ro_read_scope(bad, strlen(bad), &back), RO_ERR_INVALID);
        TH_EQ_INT(back.plan.nwaves, 0);
    }
    TH_EQ_INT(ro_read_scope("[1]", 3, &back), RO_ERR_JSON);
    TH_EQ_INT(ro_read_scope("{\"a\":", 5, &back), RO_ERR_JSON);
    TH_EQ_INT(ro_write_scope("[1]", 3, &r, out, sizeof out), RO_ERR_JSON);
    TH_EQ_INT(ro_write_scope(orig, strlen(orig), &r, out, 20), RO_ERR_SPACE);
    TH_EQ_STR(out, "");
}

static void t_keys(void)
{
    char k[RO_KEY_MAX], v[80];
    TH_EQ_INT(ro_escape_version("1.0.0-rc.1+b_5", k, sizeof k), RO_OK);
    TH_EQ_STR(k, "1_0_0-rc_1=2Bb=5F5");
    TH_EQ_INT(ro_unescape_version(k, v, sizeof v), RO_OK);
    TH_EQ_STR(v, "1.0.0-rc.1+b_5");
    TH_EQ_INT(ro_unescape_version("1=5Fx", v, sizeof v), RO_OK); TH_EQ_STR(v, "1_x");
    TH_EQ_INT(ro_unescape_version("1=2C", v, sizeof v), RO_ERR_INVALID);
    TH_EQ_INT(ro_unescape_version("1=5", v, sizeof v), RO_ERR_INVALID);
    TH_EQ_INT(ro_unescape_version("_1", v, sizeof v), RO_ERR_INVALID);      /* ".1" */
    TH_EQ_INT(ro_unescape_version("1__2", v, sizeof v), RO_ERR_INVALID);    /* "1..2" */
    TH_EQ_INT(ro_unescape_version("", v, sizeof v), RO_ERR_INVALID);
    TH_EQ_INT(ro_fail_key("0.1.1", "pc-01", k, sizeof k), RO_OK);
    TH_EQ_STR(k, "fail.0_1_1.pc-01");
    TH_EQ_INT(ro_fail_prefix("0.1.1", k, sizeof k), RO_OK);
    TH_EQ_STR(k, "fail.0_1_1.");
    TH_EQ_INT(ro_ctl_key("0.1.1", k, sizeof k), RO_OK);
    TH_EQ_STR(k, "ctl.0_1_1");
    TH_EQ_INT(ro_fail_key("0.1.1", "a.b", k, sizeof k), RO_ERR_INVALID);
    TH_EQ_INT(ro_fail_key("0.1.1", ">", k, sizeof k), RO_ERR_INVALID);
    TH_EQ_INT(ro_fail_key("0.1.1", "", k, sizeof k), RO_ERR_INVALID);
    TH_EQ_INT(ro_fail_key("..", "pc", k, sizeof k), RO_ERR_INVALID);
    TH_EQ_INT(ro_fail_key("0.1.1", "pc-01", k, 10), RO_ERR_SPACE);
    TH_EQ_STR(k, "");
}

static void t_records(void)
{
    ro_fail f, g;
    char out[1024];
    memset(&f, 0, sizeof f);
    memcpy(f.pc, "pc-7", 5); memcpy(f.version, "0.1.1", 6);
    memcpy(f.state, "rolled_back", 12);
    snprintf(f.reason, sizeof f.reason, "not healthy within 20 s: \"exited\" 1");
    f.at_ms = 1764300000123LL;
    TH_EQ_INT(ro_fail_write(&f, out, sizeof out), RO_OK);
    TH_EQ_INT(ro_fail_parse(out, strlen(out), &g), RO_OK);
    TH_EQ_STR(g.pc, "pc-7"); TH_EQ_STR(g.state, "rolled_back");
    TH_EQ_STR(g.reason, f.reason); TH_EQ_INT(g.at_ms, f.at_ms);
    memcpy(f.state, "done", 5);
    TH_EQ_INT(ro_fail_write(&f, out, sizeof out), RO_ERR_INVALID);   /* only failures */
    TH_CHECK(ro_counts_state("failed") && ro_counts_state("quarantined"));
    TH_CHECK(!ro_counts_state("halted") && !ro_counts_state(NULL));
    TH_EQ_INT(ro_fail_parse("{\"pc\":\"a\",\"version\":\"1\",\"state\":\"failed\"}", strlen("{\"pc\":\"a\",\"version\":\"1\",\"state\":\"failed\"}"), &g), RO_OK);
    TH_EQ_STR(g.reason, "");
    TH_EQ_INT(ro_fail_parse("{\"pc\":\"a\",\"version\":\"1\",\"state\":\"done\"}", strlen("{\"pc\":\"a\",\"version\":\"1\",\"state\":\"done\"}"), &g), RO_ERR_JSON);
    TH_EQ_INT(ro_fail_parse("{\"pc\":\"a.b\",\"version\":\"1\",\"state\":\"failed\"}", strlen("{\"pc\":\"a.b\",\"version\":\"1\",\"state\":\"failed\"}"), &g), RO_ERR_JSON);
    TH_EQ_INT(ro_fail_parse("{\"pc\":\"a\",\"version\":1,\"state\":\"failed\"}", strlen("{\"pc\":\"a\",\"version\":1,\"state\":\"failed\"}"), &g), RO_ERR_JSON);
    TH_EQ_INT(ro_fail_parse("garbage", strlen("garbage"), &g), RO_ERR_JSON);
    TH_EQ_INT(ro_fail_parse(NULL, 0, &g), RO_ERR_JSON);
    {   /* a long reason is cut on a UTF-8 boundary */
        char big[1200];
        size_t n;
        int i;
        n = (size_t)snprintf(big, sizeof big, "{\"pc\":\"a\",\"version\":\"1\",\"state\":\"failed\",\"reason\":\"");
        for (i = 0; i < 300; i++) { memcpy(big + n, "\xc3\xa9", 2); n += 2; }
        memcpy(big + n, "\"}", 3); n += 2;
        TH_EQ_INT(ro_fail_parse(big, n, &g), RO_OK);
        TH_CHECK(strlen(g.reason) < RO_REASON_MAX);
        TH_EQ_INT(strlen(g.reason) % 2, 0);
    }
    {
        int b = -1;
        TH_EQ_INT(ro_ctl_write(4, "op", out, sizeof out), RO_OK);
        TH_EQ_INT(ro_ctl_parse(out, strlen(out), &b), RO_OK); TH_EQ_INT(b, 4);
        TH_EQ_INT(ro_ctl_parse("{\"baseline\":-1}", strlen("{\"baseline\":-1}"), &b), RO_ERR_JSON);
        TH_EQ_INT(ro_ctl_parse("{}", strlen("{}"), &b), RO_ERR_JSON);
    }
}

/* Builds failure records pc-0..pc-(n-1) for version into ents. */
static char recs[16][256], keys[16][RO_KEY_MAX];
static int make_fails(ro_entry *e, int n, const char *version)
{
    int i;
    for (i = 0; i < n; i++) {
        ro_fail f;
        memset(&f, 0, sizeof f);
        snprintf(f.pc, sizeof f.pc, "pc-%d", i);
        snprintf(f.version, sizeof f.version, "%s", version);
        snprintf(f.state, sizeof f.state, "%s", i % 2 ? "failed" : "rolled_back");
        snprintf(f.reason, sizeof f.reason, "reason %d", i);
        f.at_ms = 1000 - i;          /* the last one failed first */
        ro_fail_write(&f, recs[i], sizeof recs[i]);
        ro_fail_key(version, f.pc, keys[i], sizeof keys[i]);
        e[i].key = keys[i]; e[i].val = recs[i]; e[i].len = strlen(recs[i]);
    }
    return n;
}

static void t_verdict(void)
{
    ro_entry e[20];
    ro_verdict v;
    ro_policy p;
    char ctl[64];
    int n = make_fails(e, 4, "0.1.1");

    ro_policy_parse("3", &p);
    TH_EQ_INT(ro_evaluate(&p, "0.1.1", e, 2, &v), RO_OK);
    TH_EQ_INT(v.failures, 2); TH_EQ_INT(v.halted, 0); TH_EQ_INT(v.hold, 0);
    TH_EQ_STR(v.reason, "");
    TH_EQ_INT(ro_evaluate(&p, "0.1.1", e, n, &v), RO_OK);
    TH_EQ_INT(v.failures, 4); TH_EQ_INT(v.halted, 1); TH_EQ_INT(v.hold, 1);
    /* first reasons, earliest first */
    TH_CHECK(strstr(v.reason, "4 hosts failed (threshold 3): pc-3: failed: reason 3; pc-2: rolled_back") != NULL);
    TH_CHECK(strstr(v.reason, "pc-0") == NULL);

    /* other versions' records and unrelated keys do not count */
    TH_EQ_INT(ro_evaluate(&p, "0.1.2", e, n, &v), RO_OK);
    TH_EQ_INT(v.failures, 0); TH_EQ_INT(v.hold, 0); TH_EQ_INT(v.malformed, 0);
    TH_EQ_INT(ro_evaluate(&p, "0.1", e, n, &v), RO_OK);      /* fail.0_1. is not a prefix of fail.0_1_1. */
    TH_EQ_INT(v.failures, 0);

    /* resume: baseline */
    ro_ctl_write(4, "op", ctl, sizeof ctl);
    e[n].key = "ctl.0_1_1"; e[n].val = ctl; e[n].len = strlen(ctl);
    TH_EQ_INT(ro_evaluate(&p, "0.1.1", e, n + 1, &v), RO_OK);
    TH_EQ_INT(v.baseline, 4); TH_EQ_INT(v.halted, 0); TH_EQ_INT(v.hold, 0);

    /* no policy / off: never halts, even with many failures */
    memset(&p, 0, sizeof p);
    TH_EQ_INT(ro_evaluate(&p, "0.1.1", e, n, &v), RO_OK);
    TH_EQ_INT(v.failures, 4); TH_EQ_INT(v.hold, 0);
    ro_policy_parse("off", &p);
    TH_EQ_INT(ro_evaluate(&p, "0.1.1", e, n, &v), RO_OK);
    TH_EQ_INT(v.hold, 0);

    /* ratio */
    ro_policy_parse("5%/100", &p);
    TH_EQ_INT(ro_evaluate(&p, "0.1.1", e, n, &v), RO_OK);
    TH_EQ_INT(v.threshold, 5); TH_EQ_INT(v.halted, 0);
}

static void t_malformed(void)
{
    ro_entry e[8];
    ro_verdict v;
    ro_policy p;
    int n = make_fails(e, 1, "0.1.1");
    /* not JSON; a record under another pc's key (an agent cannot count
    ** twice by writing someone else's name); another version's record */
    e[n].key = "fail.0_1_1.pc-x"; e[n].val = "{oops"; e[n].len = 5; n++;
    e[n].key = "fail.0_1_1.pc-y"; e[n].val = recs[0]; e[n].len = strlen(recs[0]); n++;
    e[n].key = "ctl.0_1_1"; e[n].val = "[]"; e[n].len = 2; n++;

    ro_policy_parse("3", &p);
    TH_EQ_INT(ro_evaluate(&p, "0.1.1", e, n, &v), RO_OK);
    TH_EQ_INT(v.failures, 1); TH_EQ_INT(v.malformed, 3);
    TH_EQ_INT(v.halted, 0); TH_EQ_INT(v.hold, 1);       /* a policy: hold back, do not guess */
    TH_CHECK(strstr(v.reason, "held back: 3 records") != NULL);
    TH_CHECK(strstr(v.problems, "fail.0_1_1.pc-x") != NULL);
    TH_CHECK(strstr(v.problems, "ctl.0_1_1") != NULL);

    memset(&p, 0, sizeof p);                             /* no policy: no halt */
    TH_EQ_INT(ro_evaluate(&p, "0.1.1", e, n, &v), RO_OK);
    TH_EQ_INT(v.malformed, 3); TH_EQ_INT(v.hold, 0);
    TH_CHECK(v.problems[0] != 0);                        /* still reported for the log */

    /* a NULL value (a deleted key in a listing) is malformed, not a crash */
    e[0].val = NULL; e[0].len = 0;
    ro_policy_parse("1", &p);
    TH_EQ_INT(ro_evaluate(&p, "0.1.1", e, 1, &v), RO_OK);
    TH_EQ_INT(v.malformed, 1); TH_EQ_INT(v.hold, 1);
    TH_EQ_INT(ro_evaluate(&p, "..", e, 1, &v), RO_ERR_INVALID);
}

static void t_prepare(void)
{
    ro_options o;
    ro_rollout r;
    char msg[200], out[1024];
    const char *cur = "{\"target_version\":\"0.9.0\",\"heartbeat_interval\":\"30s\"}";
    memset(&o, 0, sizeof o);
    o.kind = "global"; o.now_ms = 5000; o.hosts = 40;
    TH_EQ_INT(ro_prepare(&o, "1.0.0", cur, strlen(cur), &r, msg, sizeof msg), RO_OK);
    TH_EQ_INT(r.policy.kind, RO_HALT_AFTER); TH_EQ_INT(r.policy.after, 3);   /* default */
    TH_EQ_INT(r.has_previous, 1); TH_EQ_STR(r.previous, "0.9.0");
    TH_EQ_STR(msg, "");
    /* the same rollout again keeps the recorded previous */
    TH_EQ_INT(ro_write_scope(cur, strlen(cur), &r, out, sizeof out), RO_OK);
    {
        char again[1024];
        TH_EQ_INT(scope_set_field(out, strlen(out), "target_version", "1.0.0", again, sizeof again), SCOPE_OK);
        TH_EQ_INT(ro_prepare(&o, "1.0.0", again, strlen(again), &r, msg, sizeof msg), RO_OK);
        TH_EQ_STR(r.previous, "0.9.0");
    }
    o.kind = "pcs";                                  /* no default for pcs */
    TH_EQ_INT(ro_prepare(&o, "1.0.0", NULL, 0, &r, msg, sizeof msg), RO_OK);
    TH_EQ_INT(r.policy.kind, RO_HALT_UNSET); TH_EQ_INT(r.has_previous, 1); TH_EQ_STR(r.previous, "");
    o.kind = "groups"; o.halt_after = "0";
    TH_EQ_INT(ro_prepare(&o, "1.0.0", cur, strlen(cur), &r, msg, sizeof msg), RO_OK);
    TH_EQ_INT(r.policy.kind, RO_HALT_OFF);
    TH_CHECK(strstr(msg, "automatic halt disabled") != NULL);  /* the CLI says so */
    o.halt_after = NULL; o.halt_ratio = "5%";
    TH_EQ_INT(ro_prepare(&o, "1.0.0", cur, strlen(cur), &r, msg, sizeof msg), RO_OK);
    TH_EQ_INT(r.policy.kind, RO_HALT_RATIO); TH_EQ_INT(ro_policy_threshold(&r.policy), 2);
    o.kind = "waves"; o.halt_ratio = NULL; o.waves = "canary,office,global"; o.wave_gap = "10m";
    TH_EQ_INT(ro_prepare(&o, "1.0.0", cur, strlen(cur), &r, msg, sizeof msg), RO_OK);
    TH_EQ_INT(r.plan.nwaves, 3); TH_EQ_INT(r.plan.gap_ms, 600000); TH_EQ_INT(r.plan.start_ms, 5000);
    TH_EQ_INT(r.policy.after, 3);
    /* usage errors */
    o.halt_after = "2"; o.halt_ratio = "5%";
    TH_EQ_INT(ro_prepare(&o, "1.0.0", cur, strlen(cur), &r, msg, sizeof msg), RO_ERR_INVALID);
    TH_CHECK(strstr(msg, "not both") != NULL);
    o.halt_ratio = NULL; o.halt_after = "many";
    TH_EQ_INT(ro_prepare(&o, "1.0.0", cur, strlen(cur), &r, msg, sizeof msg), RO_ERR_INVALID);
    o.halt_after = "5%/3";
    TH_EQ_INT(ro_prepare(&o, "1.0.0", cur, strlen(cur), &r, msg, sizeof msg), RO_ERR_INVALID);
    o.halt_after = NULL; o.halt_ratio = "5";
    TH_EQ_INT(ro_prepare(&o, "1.0.0", cur, strlen(cur), &r, msg, sizeof msg), RO_ERR_INVALID);
    o.halt_ratio = NULL; o.wave_gap = "0s";
    TH_EQ_INT(ro_prepare(&o, "1.0.0", cur, strlen(cur), &r, msg, sizeof msg), RO_ERR_INVALID);
    o.wave_gap = NULL; o.waves = "global,canary";
    TH_EQ_INT(ro_prepare(&o, "1.0.0", cur, strlen(cur), &r, msg, sizeof msg), RO_ERR_INVALID);
    o.kind = "global"; o.waves = NULL; o.wave_gap = "1h";
    TH_EQ_INT(ro_prepare(&o, "1.0.0", cur, strlen(cur), &r, msg, sizeof msg), RO_ERR_INVALID);
    TH_EQ_STR(msg, "--wave-gap needs --waves");
    o.wave_gap = NULL;
    TH_EQ_INT(ro_prepare(&o, "1..0", cur, strlen(cur), &r, msg, sizeof msg), RO_ERR_INVALID);
}

static int main_(void)
{
    TH_RUN(t_policy);
    TH_RUN(t_plan);
    TH_RUN(t_scope_fields);
    TH_RUN(t_keys);
    TH_RUN(t_records);
    TH_RUN(t_verdict);
    TH_RUN(t_malformed);
    TH_RUN(t_prepare);
    return th_summary("t_rollout");
}

TH_MAIN
