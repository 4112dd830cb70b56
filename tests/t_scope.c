/*
** t_scope.c — identifiers, durations, layered resolution, groups documents
** and the field-preserving rewrite of scope.c.
*/
#include <stdint.h>
#include <string.h>
#include "th.h"
#include "scope.h"

static void t_valid_id(void)
{
    char s[80];
    TH_CHECK(scope_valid_id("a"));
    TH_CHECK(scope_valid_id("canary-01"));
    TH_CHECK(scope_valid_id("A_b-9"));
    TH_CHECK(scope_valid_id("-"));
    memset(s, 'x', 64); s[64] = 0;
    TH_CHECK(scope_valid_id(s));
    s[64] = 'x'; s[65] = 0;
    TH_CHECK(!scope_valid_id(s));
    TH_CHECK(!scope_valid_id(""));
    TH_CHECK(!scope_valid_id(NULL));
    TH_CHECK(!scope_valid_id("a.b"));
    TH_CHECK(!scope_valid_id("a b"));
    TH_CHECK(!scope_valid_id("a/b"));
    TH_CHECK(!scope_valid_id("a*"));
    TH_CHECK(!scope_valid_id(">"));
    TH_CHECK(!scope_valid_id("caf\xc3\xa9"));
    TH_CHECK(!scope_valid_id("a\n"));
}

static void t_valid_version(void)
{
    char s[80];
    TH_CHECK(scope_valid_version("0.42.2"));
    TH_CHECK(scope_valid_version("1.0.0-rc.1+build.5"));
    TH_CHECK(scope_valid_version("v1"));
    TH_CHECK(scope_valid_version("a"));
    TH_CHECK(scope_valid_version("7"));
    TH_CHECK(scope_valid_version("1_2"));
    TH_CHECK(scope_valid_version("1.2."));
    memset(s, '1', 64); s[64] = 0;
    TH_CHECK(scope_valid_version(s));
    s[64] = '1'; s[65] = 0;
    TH_CHECK(!scope_valid_version(s));
    TH_CHECK(!scope_valid_version(""));
    TH_CHECK(!scope_valid_version(NULL));
    TH_CHECK(!scope_valid_version(".1"));
    TH_CHECK(!scope_valid_version("-1"));
    TH_CHECK(!scope_valid_version("+1"));
    TH_CHECK(!scope_valid_version("_1"));
    TH_CHECK(!scope_valid_version("1..2"));
    TH_CHECK(!scope_valid_version("1.2.."));
    TH_CHECK(!scope_valid_version("../x"));
    TH_CHECK(!scope_valid_version("1/2"));
    TH_CHECK(!scope_valid_version("1\\2"));
    TH_CHECK(!scope_valid_version("1 2"));
    TH_CHECK(!scope_valid_version("1:2"));
    TH_CHECK(!scope_valid_version("1*"));
}

static void t_duration_parse(void)
{
    static const struct { const char *s; int64_t ms; } ok[] = {
        { "0s", 0 }, { "30s", 30000 }, { "5m", 300000 }, { "1h30m", 5400000 },
        { "2h", 7200000 }, { "1h5m10s", 3910000 }, { "1h1s", 3601000 },
        { "90m", 5400000 }, { "007s", 7000 }, { "0h0m0s", 0 }, { "3600s", 3600000 },
        { "9223372036854775s", 9223372036854775000LL },
    };
    static const char *const bad[] = {
        "", "s", "h", "5", "5x", "5ms", "1m1h", "1s1m", "1s1h", "1h1h", "1m1m", "1s1s",
        "1h 30m", " 1h", "1h ", "-5s", "+5s", "1.5h", "1d", "5S", "5M", "1hm", "1h30",
        "m5", "9223372036854776s", "99999999999999999999h", "2562047788016h", "1e3s", "0x10s",
        "\xef\xbc\x95s",
    };
    size_t i;
    for (i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int64_t ms = -1;
        TH_EQ_INT(scope_parse_duration(ok[i].s, &ms), SCOPE_OK);
        TH_EQ_INT(ms, ok[i].ms);
    }
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t ms = 12345;
        int rc = scope_parse_duration(bad[i], &ms);
        if (rc != SCOPE_ERR_INVALID) fprintf(stderr, "  accepted bad duration \"%s\"\n", bad[i]);
        TH_EQ_INT(rc, SCOPE_ERR_INVALID);
        TH_EQ_INT(ms, 12345);              /* untouched on error */
    }
    TH_EQ_INT(scope_parse_duration(NULL, NULL), SCOPE_ERR_INVALID);
    TH_EQ_INT(scope_parse_duration("5m", NULL), SCOPE_OK);
    /* The largest whole-second duration in int64 ms, and one past it. */
    {
        int64_t ms;
        TH_EQ_INT(scope_parse_duration("2562047788015h", &ms), SCOPE_OK);
        TH_EQ_INT(ms, 2562047788015LL * 3600000LL);
        TH_EQ_INT(scope_parse_duration("2562047788015h12m55s", &ms), SCOPE_OK);
        TH_EQ_INT(ms, INT64_MAX / 1000 * 1000);
        TH_EQ_INT(scope_parse_duration("2562047788015h12m56s", &ms), SCOPE_ERR_INVALID);
        TH_EQ_INT(scope_parse_duration("2562047788015h13m", &ms), SCOPE_ERR_INVALID);
    }
}

static void t_duration_format(void)
{
    static const struct { int64_t ms; const char *s; } cases[] = {
        { 0, "0s" }, { 45000, "45s" }, { 5400000, "1h30m" }, { 3601000, "1h1s" },
        { 3910000, "1h5m10s" }, { 7200000, "2h" }, { 300000, "5m" }, { 1500, "1s" },
        { 999, "0s" }, { 90061000, "25h1m1s" },
    };
    char out[32];
    size_t i;
    int64_t ms;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        TH_EQ_INT(scope_format_duration(cases[i].ms, out, sizeof out), SCOPE_OK);
        TH_EQ_STR(out, cases[i].s);
    }
    TH_EQ_INT(scope_format_duration(-1000, out, sizeof out), SCOPE_ERR_INVALID);
    TH_EQ_INT(scope_format_duration(45000, out, 3), SCOPE_ERR_SPACE);
    TH_EQ_STR(out, "");
    TH_EQ_INT(scope_format_duration(45000, out, 4), SCOPE_OK);
    TH_EQ_STR(out, "45s");
    TH_EQ_INT(scope_format_duration(45000, out, 0), SCOPE_ERR_SPACE);
    TH_EQ_INT(scope_format_duration(INT64_MAX, out, sizeof out), SCOPE_OK);
    TH_EQ_INT(scope_parse_duration(out, &ms), SCOPE_OK);
    TH_EQ_INT(ms, INT64_MAX / 1000 * 1000);
    /* parse(format(x)) == x for whole seconds. */
    for (ms = 0; ms < 200000000; ms = ms * 3 + 7000) {
        int64_t back = -1;
        TH_EQ_INT(scope_format_duration(ms, out, sizeof out), SCOPE_OK);
        TH_EQ_INT(scope_parse_duration(out, &back), SCOPE_OK);
        TH_EQ_INT(back, ms);
    }
}

/* ---- resolution -------------------------------------------------------- */

#define L(k, j) { k, j, sizeof(j) - 1 }

static void t_resolve_defaults(void)
{
    scope_result r;
    char g[1][SCOPE_ID_MAX + 1] = { "canary" };
    TH_EQ_INT(scope_resolve(NULL, 0, "pc1", NULL, 0, &r), SCOPE_OK);
    TH_EQ_STR(r.target_version, "");
    TH_EQ_STR(r.target_scope, "");
    TH_EQ_INT(r.jitter_ms, 0);             /* default jitter 0, not 10m */
    TH_EQ_STR(r.jitter_scope, "");
    TH_EQ_INT(r.heartbeat_ms, 30000);
    TH_EQ_STR(r.conflicts, "");
    TH_EQ_STR(r.errors, "");
    {
        scope_layer l[] = { L("global", "{}"), L("groups.canary", "{\"other\":1}"),
                            L("pcs.pc1", "  ") };
        TH_EQ_INT(scope_resolve(l, 3, "pc1", g, 1, &r), SCOPE_OK);
        TH_EQ_STR(r.target_version, "");
        TH_EQ_INT(r.jitter_ms, 0);
        TH_EQ_INT(r.heartbeat_ms, 30000);
        TH_EQ_STR(r.errors, "");
    }
}

static void t_resolve_precedence(void)
{
    scope_layer l[] = {
        L("pcs.pc1", "{\"target_version_jitter\":\"30s\"}"),
        L("groups.canary", "{\"target_version\":\"0.2.0\",\"target_version_jitter\":\"5m\"}"),
        L("global", "{\"target_version\":\"0.1.0\",\"target_version_jitter\":\"1h\","
                    "\"heartbeat_interval\":\"15s\"}"),
    };
    char g[1][SCOPE_ID_MAX + 1] = { "canary" };
    scope_result r;

    /* global only */
    TH_EQ_INT(scope_resolve(l + 2, 1, "pc1", g, 1, &r), SCOPE_OK);
    TH_EQ_STR(r.target_version, "0.1.0");
    TH_EQ_STR(r.target_scope, "global");
    TH_EQ_INT(r.jitter_ms, 3600000);
    TH_EQ_STR(r.jitter_scope, "global");
    TH_EQ_INT(r.heartbeat_ms, 15000);

    /* group over global */
    TH_EQ_INT(scope_resolve(l + 1, 2, "pc1", g, 1, &r), SCOPE_OK);
    TH_EQ_STR(r.target_version, "0.2.0");
    TH_EQ_STR(r.target_scope, "groups.canary");
    TH_EQ_INT(r.jitter_ms, 300000);
    TH_EQ_STR(r.jitter_scope, "groups.canary");
    TH_EQ_INT(r.heartbeat_ms, 15000);      /* only global sets it */

    /* pc over group, field by field: the pc sets jitter only. */
    TH_EQ_INT(scope_resolve(l, 3, "pc1", g, 1, &r), SCOPE_OK);
    TH_EQ_STR(r.target_version, "0.2.0");
    TH_EQ_STR(r.target_scope, "groups.canary");
    TH_EQ_INT(r.jitter_ms, 30000);
    TH_EQ_STR(r.jitter_scope, "pcs.pc1");
    TH_EQ_STR(r.conflicts, "");
    TH_EQ_STR(r.errors, "");

    /* Not in the group: its layer is ignored. */
    TH_EQ_INT(scope_resolve(l, 3, "pc1", NULL, 0, &r), SCOPE_OK);
    TH_EQ_STR(r.target_version, "0.1.0");
    TH_EQ_STR(r.target_scope, "global");
    TH_EQ_INT(r.jitter_ms, 30000);

    /* Another pc: the pcs.pc1 layer is ignored. */
    TH_EQ_INT(scope_resolve(l, 3, "pc2", g, 1, &r), SCOPE_OK);
    TH_EQ_STR(r.target_version, "0.2.0");
    TH_EQ_INT(r.jitter_ms, 300000);
    TH_EQ_STR(r.jitter_scope, "groups.canary");
}

static void t_resolve_pc_target(void)
{
    scope_layer l[] = {
        L("global", "{\"target_version\":\"0.1.0\"}"),
        L("groups.canary", "{\"target_version\":\"0.2.0\"}"),
        L("pcs.canary-01", "{\"target_version\":\"0.3.0\"}"),
        L("pcs.canary-010", "{\"target_version\":\"9.9.9\"}"),
        L("pcs.canary", "{\"target_version\":\"8.8.8\"}"),
        L("groups.canary-01", "{\"target_version\":\"7.7.7\"}"),
        L("target_version", "0.0.1"),           /* legacy key: not a scope */
        L("groups.", "{\"target_version\":\"6.6.6\"}"),
    };
    char g[1][SCOPE_ID_MAX + 1] = { "canary" };
    scope_result r;
    TH_EQ_INT(scope_resolve(l, 8, "canary-01", g, 1, &r), SCOPE_OK);
    TH_EQ_STR(r.target_version, "0.3.0");
    TH_EQ_STR(r.target_scope, "pcs.canary-01");
    TH_EQ_STR(r.conflicts, "");
    TH_EQ_STR(r.errors, "");
}

static void t_resolve_group_order(void)
{
    /* Layers in an arbitrary order, groups given unsorted and with a
    ** duplicate: applied canary, office, wave1; wave1 wins. */
    scope_layer l[] = {
        L("groups.wave1", "{\"target_version\":\"3.0.0\"}"),
        L("groups.canary", "{\"target_version\":\"1.0.0\",\"heartbeat_interval\":\"10s\"}"),
        L("groups.office", "{\"target_version\":\"2.0.0\",\"heartbeat_interval\":\"10s\"}"),
        L("groups.zzz", "{\"target_version\":\"9.0.0\"}"),
    };
    char g[5][SCOPE_ID_MAX + 1] = { "wave1", "office", "canary", "office", "bad name" };
    char g2[2][SCOPE_ID_MAX + 1] = { "office", "canary" };
    char g3[2][SCOPE_ID_MAX + 1] = { "Zeta", "alpha" };
    scope_layer l3[] = {
        L("groups.alpha", "{\"target_version\":\"1.0.0\"}"),
        L("groups.Zeta", "{\"target_version\":\"2.0.0\"}"),
    };
    scope_result r;
    TH_EQ_INT(scope_resolve(l, 4, "pc1", g, 5, &r), SCOPE_OK);
    TH_EQ_STR(r.target_version, "3.0.0");
    TH_EQ_STR(r.target_scope, "groups.wave1");
    TH_EQ_INT(r.heartbeat_ms, 10000);
    TH_EQ_STR(r.conflicts, "target_version: groups.canary vs groups.office; "
                           "target_version: groups.office vs groups.wave1");
    TH_EQ_STR(r.errors, "");

    TH_EQ_INT(scope_resolve(l, 4, "pc1", g2, 2, &r), SCOPE_OK);
    TH_EQ_STR(r.target_version, "2.0.0");
    TH_EQ_STR(r.target_scope, "groups.office");
    TH_EQ_STR(r.conflicts, "target_version: groups.canary vs groups.office");

    /* Byte order: "Zeta" sorts before "alpha", so alpha wins. */
    TH_EQ_INT(scope_resolve(l3, 2, "pc1", g3, 2, &r), SCOPE_OK);
    TH_EQ_STR(r.target_version, "1.0.0");
    TH_EQ_STR(r.conflicts, "target_version: groups.Zeta vs groups.alpha");
}

static void t_resolve_conflicts(void)
{
    char g[3][SCOPE_ID_MAX + 1] = { "a", "b", "c" };
    scope_result r;
    /* Same value in two groups (even spelled differently) is no conflict. */
    scope_layer same[] = {
        L("groups.a", "{\"target_version\":\"1.0.0\",\"target_version_jitter\":\"5m\"}"),
        L("groups.b", "{\"target_version\":\"1.0.0\",\"target_version_jitter\":\"300s\"}"),
    };
    scope_layer diff[] = {
        L("groups.a", "{\"target_version_jitter\":\"5m\",\"heartbeat_interval\":\"20s\"}"),
        L("groups.c", "{\"target_version_jitter\":\"1m\",\"heartbeat_interval\":\"40s\"}"),
        L("global", "{\"target_version_jitter\":\"2h\"}"),
        L("pcs.pc1", "{\"heartbeat_interval\":\"1m\"}"),
    };
    TH_EQ_INT(scope_resolve(same, 2, "pc1", g, 3, &r), SCOPE_OK);
    TH_EQ_STR(r.conflicts, "");
    TH_EQ_STR(r.jitter_scope, "groups.b");
    TH_EQ_INT(r.jitter_ms, 300000);

    /* global vs group and group vs pc are overrides, not conflicts. */
    TH_EQ_INT(scope_resolve(diff, 4, "pc1", g, 3, &r), SCOPE_OK);
    TH_EQ_STR(r.conflicts, "target_version_jitter: groups.a vs groups.c; "
                           "heartbeat_interval: groups.a vs groups.c");
    TH_EQ_INT(r.jitter_ms, 60000);
    TH_EQ_INT(r.heartbeat_ms, 60000);
    TH_EQ_STR(r.target_version, "");
}

static void t_resolve_null(void)
{
    scope_layer l[] = {
        L("global", "{\"target_version\":\"0.1.0\",\"heartbeat_interval\":\"20s\"}"),
        L("groups.canary", "{\"target_version\":null,\"target_version_jitter\":\"2m\"}"),
        L("pcs.pc1", "{\"target_version\":null,\"target_version_jitter\":null,"
                     "\"heartbeat_interval\":null}"),
    };
    char g[1][SCOPE_ID_MAX + 1] = { "canary" };
    scope_result r;
    TH_EQ_INT(scope_resolve(l, 3, "pc1", g, 1, &r), SCOPE_OK);
    TH_EQ_STR(r.target_version, "0.1.0");
    TH_EQ_STR(r.target_scope, "global");
    TH_EQ_INT(r.jitter_ms, 120000);
    TH_EQ_STR(r.jitter_scope, "groups.canary");
    TH_EQ_INT(r.heartbeat_ms, 20000);
    TH_EQ_STR(r.errors, "");
}

static void t_resolve_invalid_values(void)
{
    scope_layer l[] = {
        L("global", "{\"target_version\":\"0.1.0\",\"target_version_jitter\":\"1m\"}"),
        L("groups.canary", "{\"target_version\":\"1..2\",\"target_version_jitter\":\"10 minutes\"}"),
        L("pcs.pc1", "{\"target_version\":5,\"heartbeat_interval\":true,"
                     "\"target_version_jitter\":[\"5m\"]}"),
    };
    char g[1][SCOPE_ID_MAX + 1] = { "canary" };
    scope_result r;
    TH_EQ_INT(scope_resolve(l, 3, "pc1", g, 1, &r), SCOPE_OK);
    TH_EQ_STR(r.target_version, "0.1.0");
    TH_EQ_STR(r.target_scope, "global");
    TH_EQ_INT(r.jitter_ms, 60000);
    TH_EQ_INT(r.heartbeat_ms, 30000);
    TH_EQ_STR(r.errors,
        "groups.canary: target_version \"1..2\" is not a valid version; "
        "groups.canary: target_version_jitter \"10 minutes\" is not a duration like 30s, 5m, 1h30m; "
        "pcs.pc1: target_version is not a string; "
        "pcs.pc1: target_version_jitter is not a string; "
        "pcs.pc1: heartbeat_interval is not a string");
    TH_EQ_STR(r.conflicts, "");
}

static void t_resolve_bad_layers(void)
{
    /* A broken layer is skipped and reported; the others still apply. */
    scope_layer l[] = {
        L("global", "{\"target_version\":\"0.1.0\""),
        L("groups.a", "\"0.9.0\""),
        L("groups.b", "[{\"target_version\":\"0.9.0\"}]"),
        L("groups.c", "{\"target_version\":\"0.2.0\"} {\"x\":1}"),
        L("groups.d", "{\"heartbeat_interval\":\"5s\"}"),
        L("pcs.pc1", "{\"target_version\":\"0.3.0\",}x"),
    };
    char g[4][SCOPE_ID_MAX + 1] = { "a", "b", "c", "d" };
    scope_result r;
    TH_EQ_INT(scope_resolve(l, 6, "pc1", g, 4, &r), SCOPE_OK);
    TH_EQ_STR(r.target_version, "");
    TH_EQ_STR(r.target_scope, "");
    TH_EQ_INT(r.heartbeat_ms, 5000);
    TH_EQ_STR(r.errors, "global: not a JSON object, ignored; groups.a: not a JSON object, ignored; "
                        "groups.b: not a JSON object, ignored; groups.c: not a JSON object, ignored; "
                        "pcs.pc1: not a JSON object, ignored");
}

static void t_resolve_misc(void)
{
    char g[1][SCOPE_ID_MAX + 1] = { "canary" };
    scope_result r;
    /* Unknown fields, escapes, surrounding whitespace. */
    scope_layer l[] = {
        L("global", " \r\n{\"max_local_concurrent\":4,\"nested\":{\"target_version\":\"9.9.9\"},"
                    "\"target_version\":\"0.4\\u002e2\",\"heartbeat_interval\":\"0s\"}\n"),
    };
    TH_EQ_INT(scope_resolve(l, 1, "pc1", g, 1, &r), SCOPE_OK);
    TH_EQ_STR(r.target_version, "0.4.2");
    TH_EQ_INT(r.heartbeat_ms, 1000);       /* clamped to the minimum */
    TH_EQ_STR(r.errors, "");

    /* Invalid pc id: an error, with the defaults in *out. */
    TH_EQ_INT(scope_resolve(l, 1, "bad id", g, 1, &r), SCOPE_ERR_INVALID);
    TH_EQ_STR(r.target_version, "");
    TH_EQ_INT(r.heartbeat_ms, 30000);
    TH_EQ_INT(scope_resolve(l, 1, NULL, g, 1, &r), SCOPE_ERR_INVALID);
    TH_EQ_INT(scope_resolve(l, 1, "pc1", g, 1, NULL), SCOPE_ERR_INVALID);

    /* A long garbage value is quoted shortened and sanitised. */
    {
        scope_layer b[] = { L("global", "{\"target_version\":\"\\\"abcdefghijklmnopqrstuvwxyz0123456789\"}") };
        TH_EQ_INT(scope_resolve(b, 1, "pc1", NULL, 0, &r), SCOPE_OK);
        TH_EQ_STR(r.errors, "global: target_version \"?abcdefghijklmnopqrstuvwxyz01234...\" "
                            "is not a valid version");
    }
    /* A value longer than a version can be is rejected, not truncated. */
    {
        scope_layer b[] = { L("global", "{\"target_version\":\"1111111111111111111111111111111111"
                                        "1111111111111111111111111111111\"}") };
        TH_EQ_INT(scope_resolve(b, 1, "pc1", NULL, 0, &r), SCOPE_OK);
        TH_EQ_STR(r.target_version, "");
        TH_CHECK(strstr(r.errors, "is not a valid version") != NULL);
    }
}

static void t_resolve_report_overflow(void)
{
    /* Many bad layers: the report stays bounded and ends with "...". */
    scope_layer l[40];
    char keys[40][24];
    char g[40][SCOPE_ID_MAX + 1];
    scope_result r;
    int i;
    for (i = 0; i < 40; i++) {
        snprintf(g[i], sizeof g[i], "g%02d", i);
        snprintf(keys[i], sizeof keys[i], "groups.g%02d", i);
        l[i].key = keys[i];
        l[i].json = i % 2 ? "{\"target_version\":\"1.0\"}" : "{\"target_version\":\"2.0\"}";
        l[i].len = strlen(l[i].json);
        if (i == 39) { l[i].json = "nope"; l[i].len = 4; }
    }
    TH_EQ_INT(scope_resolve(l, 40, "pc1", g, 40, &r), SCOPE_OK);
    TH_EQ_STR(r.target_version, "2.0");    /* g38 is the last valid */
    TH_EQ_STR(r.target_scope, "groups.g38");
    TH_EQ_INT(strlen(r.conflicts), sizeof r.conflicts - 1);
    TH_CHECK(strcmp(r.conflicts + sizeof r.conflicts - 4, "...") == 0);
    TH_CHECK(strncmp(r.conflicts, "target_version: groups.g00 vs groups.g01; ", 42) == 0);
    TH_EQ_STR(r.errors, "groups.g39: not a JSON object, ignored");
}

/* ---- agent_groups ------------------------------------------------------ */

static void t_parse_groups(void)
{
    char g[8][SCOPE_ID_MAX + 1];
    char small[2][SCOPE_ID_MAX + 1];
    int n = -1;
    const char *doc = "{\"x\":{\"groups\":[\"zz\"]},\"groups\":[\"office\",\"canary\",\"office\","
                      "\"bad name\",5,null,[\"nested\"],\"wave1\",\"can\\u0061ry\",\"\","
                      "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"],\"v\":2}";
    TH_EQ_INT(scope_parse_groups(doc, strlen(doc), g, 8, &n), SCOPE_OK);
    TH_EQ_INT(n, 3);
    TH_EQ_STR(g[0], "canary");
    TH_EQ_STR(g[1], "office");
    TH_EQ_STR(g[2], "wave1");

    TH_EQ_INT(scope_parse_groups("{}", 2, g, 8, &n), SCOPE_OK);
    TH_EQ_INT(n, 0);
    TH_EQ_INT(scope_parse_groups("{\"groups\":null}", 15, g, 8, &n), SCOPE_OK);
    TH_EQ_INT(n, 0);
    TH_EQ_INT(scope_parse_groups("{\"groups\":[]}", 13, g, 8, &n), SCOPE_OK);
    TH_EQ_INT(n, 0);
    TH_EQ_INT(scope_parse_groups("", 0, g, 8, &n), SCOPE_OK);
    TH_EQ_INT(n, 0);

    n = 5;
    TH_EQ_INT(scope_parse_groups("not json", 8, g, 8, &n), SCOPE_ERR_JSON);
    TH_EQ_INT(n, 0);
    n = 5;
    TH_EQ_INT(scope_parse_groups("{\"groups\":\"canary\"}", 19, g, 8, &n), SCOPE_ERR_JSON);
    TH_EQ_INT(n, 0);
    TH_EQ_INT(scope_parse_groups("[\"canary\"]", 10, g, 8, &n), SCOPE_ERR_JSON);
    TH_EQ_INT(scope_parse_groups("{\"groups\":[\"a\"]", 15, g, 8, &n), SCOPE_ERR_JSON);
    TH_EQ_INT(n, 0);
    /* len bounds the text: the valid prefix is not a whole object. */
    TH_EQ_INT(scope_parse_groups(doc, 20, g, 8, &n), SCOPE_ERR_JSON);

    /* Too many: the alphabetically first cap are kept. */
    {
        const char *d3 = "{\"groups\":[\"c\",\"a\",\"d\",\"b\"]}";
        TH_EQ_INT(scope_parse_groups(d3, strlen(d3), small, 2, &n), SCOPE_ERR_SPACE);
        TH_EQ_INT(n, 2);
        TH_EQ_STR(small[0], "a");
        TH_EQ_STR(small[1], "b");
    }
}

static void t_write_groups(void)
{
    char in[6][SCOPE_ID_MAX + 1] = { "wave1", "canary", "bad name", "office", "canary", "" };
    char copy[6][SCOPE_ID_MAX + 1];
    char back[8][SCOPE_ID_MAX + 1];
    char out[128];
    int n = 0;
    memcpy(copy, in, sizeof in);
    TH_EQ_INT(scope_write_groups(in, 6, out, sizeof out), SCOPE_OK);
    TH_EQ_STR(out, "{\"groups\":[\"canary\",\"office\",\"wave1\"]}");
    TH_CHECK(memcmp(copy, in, sizeof in) == 0);   /* input untouched */
    TH_EQ_INT(scope_parse_groups(out, strlen(out), back, 8, &n), SCOPE_OK);
    TH_EQ_INT(n, 3);
    TH_EQ_STR(back[0], "canary");
    TH_EQ_STR(back[2], "wave1");

    TH_EQ_INT(scope_write_groups(in, 0, out, sizeof out), SCOPE_OK);
    TH_EQ_STR(out, "{\"groups\":[]}");
    TH_EQ_INT(scope_write_groups(NULL, 0, out, sizeof out), SCOPE_OK);
    TH_EQ_STR(out, "{\"groups\":[]}");

    /* 38 bytes of output need 39 bytes of buffer. */
    TH_EQ_INT(scope_write_groups(in, 6, out, 39), SCOPE_OK);
    TH_EQ_INT(scope_write_groups(in, 6, out, 38), SCOPE_ERR_SPACE);
    TH_EQ_INT(scope_write_groups(in, 6, out, 5), SCOPE_ERR_SPACE);
}

/* ---- scope_set_field --------------------------------------------------- */

static void check_set(const char *in, const char *key, const char *value, const char *want)
{
    char out[512];
    int rc = scope_set_field(in, in ? strlen(in) : 0, key, value, out, sizeof out);
    TH_EQ_INT(rc, SCOPE_OK);
    TH_EQ_STR(out, want);
}

static void t_set_field(void)
{
    check_set(NULL, "target_version", "0.2.0", "{\"target_version\":\"0.2.0\"}");
    check_set("", "target_version", "0.2.0", "{\"target_version\":\"0.2.0\"}");
    check_set(" \n", "target_version", "0.2.0", "{\"target_version\":\"0.2.0\"}");
    check_set("{}", "target_version", "0.2.0", "{\"target_version\":\"0.2.0\"}");
    check_set("{ }", "target_version", "0.2.0", "{\"target_version\":\"0.2.0\" }");
    check_set("{\"a\":1}", "target_version", "0.2.0", "{\"a\":1,\"target_version\":\"0.2.0\"}");
    check_set(" { \"a\" : 1 } \n", "target_version", "0.2.0",
              " { \"a\" : 1,\"target_version\":\"0.2.0\" } \n");
    /* Replace in place; everything else byte for byte. */
    check_set("{ \"a\": {\"x\":[1, 2,{\"y\":null}]}, \"target_version\" : \"0.1.0\",\n"
              "  \"z\":true, \"u\":\"caf\xc3\xa9 \\u00e9\\n\", \"n\": -1.5e3 }",
              "target_version", "0.2.0",
              "{ \"a\": {\"x\":[1, 2,{\"y\":null}]}, \"target_version\" : \"0.2.0\",\n"
              "  \"z\":true, \"u\":\"caf\xc3\xa9 \\u00e9\\n\", \"n\": -1.5e3 }");
    /* Unset with null. */
    check_set("{\"target_version\":\"0.1.0\",\"b\":2}", "target_version", NULL,
              "{\"target_version\":null,\"b\":2}");
    check_set("{\"b\":2}", "target_version", NULL, "{\"b\":2,\"target_version\":null}");
    /* Replace values of any type. */
    check_set("{\"target_version\":null}", "target_version", "1", "{\"target_version\":\"1\"}");
    check_set("{\"target_version\":{\"a\":[1]},\"k\":0}", "target_version", "1",
              "{\"target_version\":\"1\",\"k\":0}");
    check_set("{\"target_version\":[],\"k\":0}", "target_version", "1",
              "{\"target_version\":\"1\",\"k\":0}");
    check_set("{\"k\":0,\"target_version\":12}", "target_version", "1",
              "{\"k\":0,\"target_version\":\"1\"}");
    /* An escaped key is the same key. */
    check_set("{\"target\\u005fversion\":\"0.1\"}", "target_version", "0.2",
              "{\"target\\u005fversion\":\"0.2\"}");
    /* Duplicates: all replaced, so no reader sees the old value. */
    check_set("{\"t\":\"1\",\"x\":0,\"t\":\"2\"}", "t", "3", "{\"t\":\"3\",\"x\":0,\"t\":\"3\"}");
    /* Nested keys with the same name are not ours. */
    check_set("{\"x\":{\"target_version\":\"0.1\"}}", "target_version", "0.2",
              "{\"x\":{\"target_version\":\"0.1\"},\"target_version\":\"0.2\"}");
    check_set("{\"target_version_jitter\":\"5m\"}", "target_version", "0.2",
              "{\"target_version_jitter\":\"5m\",\"target_version\":\"0.2\"}");
    /* The value is escaped. */
    check_set("{}", "k", "a\"b\\c\n", "{\"k\":\"a\\\"b\\\\c\\n\"}");
    check_set("{}", "k", "", "{\"k\":\"\"}");
    check_set("{}", "odd\"key", "v", "{\"odd\\\"key\":\"v\"}");
}

static void t_set_field_errors(void)
{
    char out[64];
    static const char *const bad[] = {
        "[1]", "{", "}", "\"str\"", "12", "null", "{\"a\":1} x", "{\"a\":1}{}",
        "{\"a\" 1}", "{\"a\":}", "x{\"a\":1}",
    };
    size_t i;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = scope_set_field(bad[i], strlen(bad[i]), "k", "v", out, sizeof out);
        if (rc != SCOPE_ERR_JSON) fprintf(stderr, "  accepted bad scope %s\n", bad[i]);
        TH_EQ_INT(rc, SCOPE_ERR_JSON);
    }
    TH_EQ_INT(scope_set_field("{}", 2, NULL, "v", out, sizeof out), SCOPE_ERR_INVALID);
    TH_EQ_INT(scope_set_field("{}", 2, "k", "v", NULL, 10), SCOPE_ERR_INVALID);
    TH_EQ_INT(scope_set_field("{}", 2, "k", "v", out, 0), SCOPE_ERR_INVALID);

    /* {"a":1,"k":"v"} is 15 bytes: 16 fit, 15 do not (out is then ""). */
    TH_EQ_INT(scope_set_field("{\"a\":1}", 7, "k", "v", out, 16), SCOPE_OK);
    TH_EQ_STR(out, "{\"a\":1,\"k\":\"v\"}");
    TH_EQ_INT(scope_set_field("{\"a\":1}", 7, "k", "v", out, 15), SCOPE_ERR_SPACE);
    TH_EQ_STR(out, "");
    TH_EQ_INT(scope_set_field("{\"k\":\"old\",\"z\":1}", 17, "k", "v", out, 16), SCOPE_OK);
    TH_EQ_STR(out, "{\"k\":\"v\",\"z\":1}");
    TH_EQ_INT(scope_set_field("{\"k\":\"old\",\"z\":1}", 17, "k", "v", out, 15), SCOPE_ERR_SPACE);
    TH_EQ_INT(scope_set_field(NULL, 0, "k", "v", out, 9), SCOPE_ERR_SPACE);
    TH_EQ_INT(scope_set_field(NULL, 0, "k", "v", out, 10), SCOPE_OK);
    TH_EQ_STR(out, "{\"k\":\"v\"}");
    TH_EQ_INT(scope_set_field(NULL, 0, "k", "v", out, 3), SCOPE_ERR_SPACE);
    TH_EQ_INT(scope_set_field("{\"a\":1}", 7, "k", "a much longer value than fits", out, 20),
              SCOPE_ERR_SPACE);
}

static void t_set_then_resolve(void)
{
    /* The rollout flow: read a scope, set target_version, resolve. */
    char a[256], b[256];
    const char *orig = "{\"heartbeat_interval\":\"20s\",\"client_display_name\":\"Front desk\"}";
    scope_layer l[1];
    scope_result r;
    TH_EQ_INT(scope_set_field(orig, strlen(orig), "target_version", "0.42.2", a, sizeof a), SCOPE_OK);
    TH_EQ_INT(scope_set_field(a, strlen(a), "target_version_jitter", "5m", b, sizeof b), SCOPE_OK);
    TH_EQ_STR(b, "{\"heartbeat_interval\":\"20s\",\"client_display_name\":\"Front desk\","
                 "\"target_version\":\"0.42.2\",\"target_version_jitter\":\"5m\"}");
    l[0].key = "pcs.canary-01"; l[0].json = b; l[0].len = strlen(b);
    TH_EQ_INT(scope_resolve(l, 1, "canary-01", NULL, 0, &r), SCOPE_OK);
    TH_EQ_STR(r.target_version, "0.42.2");
    TH_EQ_STR(r.target_scope, "pcs.canary-01");
    TH_EQ_INT(r.jitter_ms, 300000);
    TH_EQ_INT(r.heartbeat_ms, 20000);
    /* Unset again: the pc then follows nothing. */
    TH_EQ_INT(scope_set_field(b, strlen(b), "target_version", NULL, a, sizeof a), SCOPE_OK);
    l[0].json = a; l[0].len = strlen(a);
    TH_EQ_INT(scope_resolve(l, 1, "canary-01", NULL, 0, &r), SCOPE_OK);
    TH_EQ_STR(r.target_version, "");
    TH_EQ_INT(r.jitter_ms, 300000);
}

static int main_(void)
{
    TH_RUN(t_valid_id);
    TH_RUN(t_valid_version);
    TH_RUN(t_duration_parse);
    TH_RUN(t_duration_format);
    TH_RUN(t_resolve_defaults);
    TH_RUN(t_resolve_precedence);
    TH_RUN(t_resolve_pc_target);
    TH_RUN(t_resolve_group_order);
    TH_RUN(t_resolve_conflicts);
    TH_RUN(t_resolve_null);
    TH_RUN(t_resolve_invalid_values);
    TH_RUN(t_resolve_bad_layers);
    TH_RUN(t_resolve_misc);
    TH_RUN(t_resolve_report_overflow);
    TH_RUN(t_parse_groups);
    TH_RUN(t_write_groups);
    TH_RUN(t_set_field);
    TH_RUN(t_set_field_errors);
    TH_RUN(t_set_then_resolve);
    return th_summary("t_scope");
}

TH_MAIN
