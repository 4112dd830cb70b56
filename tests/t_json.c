/* t_json.c — json.c: strict parsing over jsmn, lookups, unescaping,
** integers, the writer (escaping, commas, nesting checks, overflow at every
** buffer size) and writer -> parser round trips. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "th.h"
#include "json.h"

#define NTOK 256
static json_tok tok[NTOK];

static int parse(json_doc *d, const char *js)
{
    return json_parse(d, js, strlen(js), tok, NTOK);
}

/* ---- parsing ------------------------------------------------------------- */

static void t_parse_valid(void)
{
    static const struct { const char *js; int ntok; int type0; } ok[] = {
        { "{}", 1, JSON_OBJECT },
        { "[]", 1, JSON_ARRAY },
        { " \t\r\n{ } \n", 1, JSON_OBJECT },
        { "0", 1, JSON_PRIMITIVE },
        { "-0.5e+3", 1, JSON_PRIMITIVE },
        { "\"\"", 1, JSON_STRING },
        { "\"a\\\"b\"", 1, JSON_STRING },
        { "true", 1, JSON_PRIMITIVE },
        { "null", 1, JSON_PRIMITIVE },
        { "{\"a\":1}", 3, JSON_OBJECT },
        { "{\"a\":{},\"b\":[]}", 5, JSON_OBJECT },
        { "[1,\"x\",true,false,null,{},[]]", 8, JSON_ARRAY },
        { "{\"a\":[1,2,{\"b\":null}],\"c\":\"x\"}", 10, JSON_OBJECT },
        { "[ 1 , 2 ]", 3, JSON_ARRAY },
        { "{ \"a\" : 1 , \"b\" : 2 }", 5, JSON_OBJECT },
        { "[[[[]]]]", 4, JSON_ARRAY },
        { "{\"\":\"\"}", 3, JSON_OBJECT },
        { "[1E5,1e-5,0.0,-0,123456789012345678901234567890]", 6, JSON_ARRAY },
        { "\"\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80\"", 1, JSON_STRING },
        { "\"\\u0041\\ud83d\\ude00\\/\\b\\f\\n\\r\\t\"", 1, JSON_STRING },
        { "{\"a\":1,\"a\":2}", 5, JSON_OBJECT },
    };
    size_t i;
    for (i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        json_doc d;
        int rc = parse(&d, ok[i].js);
        if (rc != JSON_OK) fprintf(stderr, "  rejected: %s\n", ok[i].js);
        TH_EQ_INT(rc, JSON_OK);
        TH_EQ_INT(d.ntok, ok[i].ntok);
        TH_EQ_INT(tok[0].type, ok[i].type0);
    }
}

static void t_parse_types_and_positions(void)
{
    json_doc d;
    const char *js = "{\"k\":\"v\",\"n\":[1,2]}";
    TH_EQ_INT(parse(&d, js), JSON_OK);
    TH_EQ_INT(d.ntok, 7);
    TH_EQ_INT(tok[0].type, JSON_OBJECT); TH_EQ_INT(tok[0].size, 2);
    TH_EQ_INT(tok[0].start, 0); TH_EQ_INT(tok[0].end, (int)strlen(js));
    TH_EQ_INT(tok[1].type, JSON_STRING); TH_EQ_INT(tok[1].start, 2); TH_EQ_INT(tok[1].end, 3);
    TH_EQ_INT(tok[2].type, JSON_STRING);
    TH_EQ_INT(tok[4].type, JSON_ARRAY); TH_EQ_INT(tok[4].size, 2);
    TH_EQ_INT(tok[5].type, JSON_PRIMITIVE);
    TH_CHECK(d.js == js && d.len == strlen(js) && d.tok == tok);
}

static void t_parse_malformed(void)
{
    static const char *bad[] = {
        "", " ", "{", "}", "[", "]", "{]", "[}", "{}}", "[]]", "{}{}", "[] []", "1 2",
        "[1 2]", "[1,]", "[,1]", "[1,,2]", "{\"a\":1,}", "{,\"a\":1}", "{\"a\" 1}",
        "{\"a\"}", "{\"a\":}", "{\"a\"::1}", "{\"a\":1 \"b\":2}", "{a:1}", "{1:2}",
        "{\"a\":1:2}", "[1:2]", "[\"a\":1]", "{{}:1}", "{[]:1}", "{null:1}",
        "tru", "nul", "falsey", "True", "NULL", "01", "-", "+1", "1.", ".5", "1e", "1e+",
        "0x10", "1.2.3", "--1", "1-", "Infinity", "NaN", "'a'",
        "\"abc", "\"\\x\"", "\"\\u12\"", "\"\\u12G4\"", "\"\\\"", "\"a\nb\"", "\"a\tb\"",
        "\"\x01\"", "{\"a\":1}x", "{\"a\":1} 1", "[1]\x01", "/*c*/{}", "{}//",
        "\"\":8", "\"a\":1", "\"a\":{}", "[\"a\",]", "{\"a\":[}", "{\"a\":{]}", "[{]}", "[1}", "{\"a\":1]",
        NULL
    };
    int i;
    for (i = 0; bad[i]; i++) {
        json_doc d;
        int rc = parse(&d, bad[i]);
        if (rc != JSON_ERR_PARSE) fprintf(stderr, "  accepted or odd (%d): %s\n", rc, bad[i]);
        TH_EQ_INT(rc, JSON_ERR_PARSE);
        TH_EQ_INT(d.ntok, 0);
    }
    /* an embedded NUL ends nothing: the rest is still there */
    {
        json_doc d;
        TH_EQ_INT(json_parse(&d, "{}\0", 3, tok, NTOK), JSON_ERR_PARSE);
        TH_EQ_INT(json_parse(&d, "[\"a\0\"]", 6, tok, NTOK), JSON_ERR_PARSE);
        TH_EQ_INT(json_parse(&d, "{}  ", 2, tok, NTOK), JSON_OK);   /* len bounds it */
        TH_EQ_INT(json_parse(&d, NULL, 0, tok, NTOK), JSON_ERR_PARSE);
        TH_EQ_INT(json_parse(&d, "{}", 2, NULL, 0), JSON_ERR_TOKENS);
        TH_EQ_INT(json_parse(&d, "{}", 2, tok, 0), JSON_ERR_TOKENS);
    }
}

/* Depth up to JSON_MAX_DEPTH is fine, one more is refused; very deep input
** is refused without recursion (no stack overflow). */
static void t_deep_nesting(void)
{
    static char js[40000];
    static json_tok big[20001];
    json_doc d;
    int depth;
    for (depth = JSON_MAX_DEPTH - 1; depth <= JSON_MAX_DEPTH + 1; depth++) {
        int i, n = 0;
        /* {"k":[{"k":[ ... ]}]}, with a value for an innermost key */
        for (i = 0; i < depth; i++) {
            if (i % 2 == 0) { memcpy(js + n, "{\"k\":", 5); n += 5; }
            else js[n++] = '[';
        }
        if ((depth - 1) % 2 == 0) js[n++] = '1';
        for (i = depth - 1; i >= 0; i--) js[n++] = (char)(i % 2 == 0 ? '}' : ']');
        js[n] = '\0';
        TH_EQ_INT(json_parse(&d, js, (size_t)n, big, 20001), depth <= JSON_MAX_DEPTH ? JSON_OK : JSON_ERR_PARSE);
    }
    /* 20000 open brackets, enough tokens for all of them */
    memset(js, '[', 20000);
    memset(js + 20000, ']', 20000);
    TH_EQ_INT(json_parse(&d, js, 40000, big, 20001), JSON_ERR_PARSE);
    /* unbalanced very deep */
    TH_EQ_INT(json_parse(&d, js, 20000, big, 20001), JSON_ERR_PARSE);
    /* and with too few tokens it is a token shortage first */
    TH_EQ_INT(json_parse(&d, js, 40000, big, 100), JSON_ERR_TOKENS);
}

static void t_token_exhaustion(void)
{
    static const char *docs[] = {
        "{\"a\":[1,2,3],\"b\":{\"c\":\"d\"},\"e\":null}",
        "[[],[[]],{},\"s\",1]",
        "\"lone\"",
    };
    size_t k;
    for (k = 0; k < sizeof docs / sizeof docs[0]; k++) {
        json_doc d;
        int need, cap;
        TH_EQ_INT(parse(&d, docs[k]), JSON_OK);
        need = d.ntok;
        for (cap = 1; cap < need; cap++)
            TH_EQ_INT(json_parse(&d, docs[k], strlen(docs[k]), tok, cap), JSON_ERR_TOKENS);
        TH_EQ_INT(json_parse(&d, docs[k], strlen(docs[k]), tok, need), JSON_OK);
        TH_EQ_INT(d.ntok, need);
    }
}

/* A real JetStream reply (nats-server 2.9.10, from the wire transcripts). */
static void t_real_jetstream_reply(void)
{
    const char *js =
        "{\"type\":\"io.nats.jetstream.api.v1.stream_create_response\",\"config\":{\"name\":"
        "\"KV_agent_config\",\"subjects\":[\"$KV.agent_config.\\u003e\"],\"retention\":\"limits\","
        "\"max_consumers\":-1,\"max_msgs\":-1,\"max_bytes\":-1,\"max_age\":0,\"max_msgs_per_subject\":5,"
        "\"max_msg_size\":-1,\"discard\":\"new\",\"storage\":\"file\",\"num_replicas\":1,"
        "\"duplicate_window\":120000000000,\"allow_rollup_hdrs\":true,\"deny_delete\":true},"
        "\"created\":\"2024-01-01T00:00:00.123456789Z\",\"state\":{\"messages\":0,\"bytes\":0,"
        "\"first_seq\":0,\"last_seq\":0},\"did_create\":true}";
    const char *err = "{\"type\":\"io.nats.jetstream.api.v1.stream_info_response\",\"error\":"
        "{\"code\":404,\"err_code\":10059,\"description\":\"stream not found\"},\"total\":0}";
    json_doc d;
    int cfg, subj, e;
    char s[64];
    int64_t v;
    int b;
    TH_EQ_INT(parse(&d, js), JSON_OK);
    cfg = json_find(&d, 0, "config");
    TH_CHECK(cfg > 0);
    TH_EQ_INT(json_get_str(&d, cfg, "name", s, sizeof s), JSON_OK);
    TH_EQ_STR(s, "KV_agent_config");
    subj = json_find(&d, cfg, "subjects");
    TH_EQ_INT(d.tok[subj].type, JSON_ARRAY);
    TH_EQ_INT(json_tok_str(&d, subj + 1, s, sizeof s), JSON_OK);
    TH_EQ_STR(s, "$KV.agent_config.>");
    TH_EQ_INT(json_get_int(&d, cfg, "duplicate_window", &v), JSON_OK);
    TH_EQ_INT(v, 120000000000LL);
    TH_EQ_INT(json_get_int(&d, cfg, "max_msgs", &v), JSON_OK);
    TH_EQ_INT(v, -1);
    TH_EQ_INT(json_get_bool(&d, 0, "did_create", &b), JSON_OK);
    TH_EQ_INT(b, 1);
    TH_EQ_INT(json_find(&d, 0, "name"), -1);          /* nested keys are not top-level */
    TH_EQ_INT(json_find(&d, 0, "messages"), -1);
    TH_EQ_INT(parse(&d, err), JSON_OK);
    e = json_find(&d, 0, "error");
    TH_EQ_INT(json_get_int(&d, e, "err_code", &v), JSON_OK);
    TH_EQ_INT(v, 10059);
    TH_EQ_INT(json_get_str(&d, e, "description", s, sizeof s), JSON_OK);
    TH_EQ_STR(s, "stream not found");
}

/* ---- lookups --------------------------------------------------------------- */

static void t_find_and_skip(void)
{
    json_doc d;
    const char *js = "{\"a\":{\"x\":1,\"y\":[1,{\"x\":2}]},\"x\":3,\"k\\u0041\":4,\"d\":5,\"d\":6,"
                     "\"\\\"q\":7,\"\":8}";
    int64_t v;
    int a;
    TH_EQ_INT(parse(&d, js), JSON_OK);
    TH_EQ_INT(json_get_int(&d, 0, "x", &v), JSON_OK);
    TH_EQ_INT(v, 3);                                    /* not the nested "x" */
    a = json_find(&d, 0, "a");
    TH_EQ_INT(d.tok[a].type, JSON_OBJECT);
    TH_EQ_INT(json_get_int(&d, a, "x", &v), JSON_OK);
    TH_EQ_INT(v, 1);
    TH_EQ_INT(json_get_int(&d, 0, "kA", &v), JSON_OK);  /* keys compare unescaped */
    TH_EQ_INT(v, 4);
    TH_EQ_INT(json_find(&d, 0, "k\\u0041"), -1);
    TH_EQ_INT(json_get_int(&d, 0, "d", &v), JSON_OK);   /* first of duplicates */
    TH_EQ_INT(v, 5);
    TH_EQ_INT(json_get_int(&d, 0, "\"q", &v), JSON_OK);
    TH_EQ_INT(v, 7);
    TH_EQ_INT(json_get_int(&d, 0, "", &v), JSON_OK);
    TH_EQ_INT(v, 8);
    TH_EQ_INT(json_find(&d, 0, "y"), -1);
    TH_EQ_INT(json_find(&d, 0, "X"), -1);
    TH_EQ_INT(json_find(&d, 0, "xx"), -1);
    TH_EQ_INT(json_find(&d, 0, NULL), -1);
    TH_EQ_INT(json_find(&d, a + 1, "x"), -1);           /* a key token is not an object */
    TH_EQ_INT(json_find(&d, -1, "x"), -1);
    TH_EQ_INT(json_find(&d, d.ntok, "x"), -1);
    TH_EQ_INT(json_find(&d, 99999, "x"), -1);
    TH_EQ_INT(json_get_int(&d, 0, "zz", &v), JSON_ERR_MISSING);
    /* skip */
    TH_EQ_INT(json_skip(&d, 0), d.ntok);
    TH_EQ_INT(json_skip(&d, a), a + 9);                  /* {"x":1,"y":[1,{"x":2}]}: 9 tokens */
    TH_EQ_INT(json_skip(&d, a + 1), a + 3);              /* a key and its value */
    TH_EQ_INT(json_skip(&d, a + 2), a + 3);
    TH_EQ_INT(json_skip(&d, -1), -1);
    TH_EQ_INT(json_skip(&d, d.ntok), -1);
    /* walking an array with skip */
    TH_EQ_INT(parse(&d, "[{\"a\":[1,2]},3,[4,[5]],\"s\"]"), JSON_OK);
    {
        int i = 1, n = 0;
        while (i < d.ntok) { i = json_skip(&d, i); n++; }
        TH_EQ_INT(n, 4);
        TH_EQ_INT(n, d.tok[0].size);
    }
}

static void t_strings(void)
{
    json_doc d;
    char s[64];
    const char *js = "{\"plain\":\"abc\",\"esc\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\","
                     "\"u\":\"\\u0041\\u00e9\\u4E2D\\ud83d\\ude00\",\"raw\":\"\xC3\xA9\xF0\x9F\x98\x80\","
                     "\"empty\":\"\",\"num\":5,\"nul\":null,\"arr\":[\"x\"]}";
    TH_EQ_INT(parse(&d, js), JSON_OK);
    TH_EQ_INT(json_get_str(&d, 0, "plain", s, sizeof s), JSON_OK);
    TH_EQ_STR(s, "abc");
    TH_EQ_INT(json_get_str(&d, 0, "esc", s, sizeof s), JSON_OK);
    TH_EQ_STR(s, "\"\\/\b\f\n\r\t");
    TH_EQ_INT(json_get_str(&d, 0, "u", s, sizeof s), JSON_OK);
    TH_EQ_STR(s, "A\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80");
    TH_EQ_INT(json_get_str(&d, 0, "raw", s, sizeof s), JSON_OK);
    TH_EQ_STR(s, "\xC3\xA9\xF0\x9F\x98\x80");
    TH_EQ_INT(json_get_str(&d, 0, "empty", s, sizeof s), JSON_OK);
    TH_EQ_STR(s, "");
    TH_EQ_INT(json_get_str(&d, 0, "empty", s, 1), JSON_OK);
    TH_EQ_INT(json_get_str(&d, 0, "num", s, sizeof s), JSON_ERR_TYPE);
    TH_EQ_INT(json_get_str(&d, 0, "nul", s, sizeof s), JSON_ERR_TYPE);
    TH_EQ_INT(json_get_str(&d, 0, "arr", s, sizeof s), JSON_ERR_TYPE);
    TH_EQ_INT(json_get_str(&d, 0, "none", s, sizeof s), JSON_ERR_MISSING);
    TH_EQ_STR(s, "");
    TH_EQ_INT(json_tok_str(&d, 0, s, sizeof s), JSON_ERR_TYPE);
    TH_EQ_INT(json_tok_str(&d, -5, s, sizeof s), JSON_ERR_TYPE);
    TH_EQ_INT(json_tok_str(&d, 1, s, sizeof s), JSON_OK);   /* a key token reads too */
    TH_EQ_STR(s, "plain");
}

/* Every output size for a string with multi-byte characters: too small is
** JSON_ERR_SPACE with "" in out, never a cut character. */
static void t_string_space(void)
{
    json_doc d;
    const char *js = "[\"a\\u00e9\\ud83d\\ude00z\"]";     /* a é 😀 z: 1+2+4+1 = 8 bytes */
    char s[16];
    size_t cap;
    TH_EQ_INT(parse(&d, js), JSON_OK);
    for (cap = 0; cap < 9; cap++) {
        memset(s, 'x', sizeof s);
        TH_EQ_INT(json_tok_str(&d, 1, s, cap), JSON_ERR_SPACE);
        if (cap) TH_EQ_INT(s[0], '\0');
        TH_EQ_INT(s[cap], 'x');                 /* nothing past cap */
    }
    TH_EQ_INT(json_tok_str(&d, 1, s, 9), JSON_OK);
    TH_EQ_STR(s, "a\xC3\xA9\xF0\x9F\x98\x80z");
}

static void t_string_rejects(void)
{
    static const char *bad[] = {
        "[\"\\ud83d\"]",            /* lone high */
        "[\"\\ude00\"]",            /* lone low */
        "[\"\\ud83dx\"]",           /* high, then not an escape */
        "[\"\\ud83d\\u0041\"]",     /* high, then not a low */
        "[\"\\ud83d\\ud83d\"]",     /* high, high */
        "[\"\\u0000\"]",            /* NUL into a C string */
        "[\"a\\u0000b\"]",
        "[\"\xC0\x80\"]",           /* overlong NUL */
        "[\"\xC1\xBF\"]",           /* overlong */
        "[\"\xE0\x80\x80\"]",       /* overlong */
        "[\"\xED\xA0\x80\"]",       /* UTF-8 encoded surrogate */
        "[\"\xF4\x90\x80\x80\"]",   /* past U+10FFFF */
        "[\"\xF5\x80\x80\x80\"]",
        "[\"\x80\"]",               /* stray continuation */
        "[\"\xC3\"]",               /* cut sequence */
        "[\"\xE4\xB8\"]",
        "[\"\xFF\"]",
        NULL
    };
    int i;
    for (i = 0; bad[i]; i++) {
        json_doc d;
        char s[32];
        int rc = parse(&d, bad[i]);
        TH_EQ_INT(rc, JSON_OK);                 /* grammar is fine ... */
        rc = json_tok_str(&d, 1, s, sizeof s);  /* ... the content is not */
        if (rc != JSON_ERR_PARSE) fprintf(stderr, "  read: %s\n", bad[i]);
        TH_EQ_INT(rc, JSON_ERR_PARSE);
        TH_EQ_STR(s, "");
    }
    /* a key with bad content never matches, and does not stop the search */
    {
        json_doc d;
        int64_t v;
        TH_EQ_INT(parse(&d, "{\"\\ud800\":1,\"ok\":2}"), JSON_OK);
        TH_EQ_INT(json_get_int(&d, 0, "ok", &v), JSON_OK);
        TH_EQ_INT(v, 2);
    }
}

static void t_ints(void)
{
    static const struct { const char *num; int rc; int64_t v; } c[] = {
        { "0", JSON_OK, 0 }, { "-0", JSON_OK, 0 }, { "7", JSON_OK, 7 }, { "-7", JSON_OK, -7 },
        { "9223372036854775807", JSON_OK, INT64_MAX },
        { "-9223372036854775808", JSON_OK, INT64_MIN },
        { "9223372036854775808", JSON_ERR_TYPE, 0 },
        { "-9223372036854775809", JSON_ERR_TYPE, 0 },
        { "18446744073709551616", JSON_ERR_TYPE, 0 },
        { "100000000000000000000000000000", JSON_ERR_TYPE, 0 },
        { "1.0", JSON_OK, 1 }, { "1.5", JSON_ERR_TYPE, 0 }, { "-2.000", JSON_OK, -2 },
        { "1e3", JSON_OK, 1000 }, { "1E+2", JSON_OK, 100 }, { "2.5e1", JSON_OK, 25 },
        { "25e-1", JSON_ERR_TYPE, 0 }, { "100e-2", JSON_OK, 1 }, { "0.0", JSON_OK, 0 },
        { "0e999999999999", JSON_OK, 0 }, { "1e400", JSON_ERR_TYPE, 0 },
        { "1e-400", JSON_ERR_TYPE, 0 }, { "1e18", JSON_OK, 1000000000000000000LL },
        { "1e19", JSON_ERR_TYPE, 0 },
        { "1000000000000000000000e-3", JSON_OK, 1000000000000000000LL },
        { "0.000000000000000000000000000001e30", JSON_OK, 1 },
        { "12345678901234567890123e-10", JSON_ERR_TYPE, 0 },
        { "9223372036854775807.0", JSON_OK, INT64_MAX },
        { "922337203685477580.7e1", JSON_OK, INT64_MAX },
        { "true", JSON_ERR_TYPE, 0 }, { "null", JSON_ERR_TYPE, 0 },
        { "\"5\"", JSON_ERR_TYPE, 0 }, { "[5]", JSON_ERR_TYPE, 0 }, { "{}", JSON_ERR_TYPE, 0 },
    };
    size_t i;
    for (i = 0; i < sizeof c / sizeof c[0]; i++) {
        char js[128];
        json_doc d;
        int64_t v = 12345;
        int rc;
        snprintf(js, sizeof js, "{\"n\":%s}", c[i].num);
        TH_EQ_INT(parse(&d, js), JSON_OK);
        rc = json_get_int(&d, 0, "n", &v);
        if (rc != c[i].rc || (rc == JSON_OK && v != c[i].v))
            fprintf(stderr, "  %s: rc %d\n", c[i].num, rc);
        TH_EQ_INT(rc, c[i].rc);
        if (c[i].rc == JSON_OK) TH_CHECK(v == c[i].v);
        else TH_EQ_INT(v, 12345);                /* untouched */
    }
}

static void t_uints(void)
{
    static const struct { const char *num; int rc; uint64_t v; } c[] = {
        { "0", JSON_OK, 0 }, { "-0", JSON_OK, 0 }, { "-0.0e5", JSON_OK, 0 },
        { "18446744073709551615", JSON_OK, UINT64_MAX },
        { "18446744073709551616", JSON_ERR_TYPE, 0 },
        { "1844674407370955161.5e1", JSON_OK, UINT64_MAX },
        { "-1", JSON_ERR_TYPE, 0 }, { "1.5", JSON_ERR_TYPE, 0 }, { "1e19", JSON_OK, 10000000000000000000ULL },
        { "false", JSON_ERR_TYPE, 0 }, { "\"1\"", JSON_ERR_TYPE, 0 },
    };
    size_t i;
    for (i = 0; i < sizeof c / sizeof c[0]; i++) {
        char js[128];
        json_doc d;
        uint64_t v = 12345;
        int rc;
        snprintf(js, sizeof js, "{\"n\":%s}", c[i].num);
        TH_EQ_INT(parse(&d, js), JSON_OK);
        rc = json_get_uint(&d, 0, "n", &v);
        TH_EQ_INT(rc, c[i].rc);
        if (c[i].rc == JSON_OK) TH_CHECK(v == c[i].v);
        else TH_CHECK(v == 12345);
    }
    {
        json_doc d;
        uint64_t v;
        TH_EQ_INT(parse(&d, "{}"), JSON_OK);
        TH_EQ_INT(json_get_uint(&d, 0, "n", &v), JSON_ERR_MISSING);
    }
}

static void t_bool_null_eq(void)
{
    json_doc d;
    int b = 7;
    TH_EQ_INT(parse(&d, "{\"t\":true,\"f\":false,\"n\":null,\"s\":\"true\",\"z\":0,\"o\":{\"n\":null}}"), JSON_OK);
    TH_EQ_INT(json_get_bool(&d, 0, "t", &b), JSON_OK); TH_EQ_INT(b, 1);
    TH_EQ_INT(json_get_bool(&d, 0, "f", &b), JSON_OK); TH_EQ_INT(b, 0);
    b = 7;
    TH_EQ_INT(json_get_bool(&d, 0, "s", &b), JSON_ERR_TYPE);
    TH_EQ_INT(json_get_bool(&d, 0, "z", &b), JSON_ERR_TYPE);
    TH_EQ_INT(json_get_bool(&d, 0, "n", &b), JSON_ERR_TYPE);
    TH_EQ_INT(json_get_bool(&d, 0, "x", &b), JSON_ERR_MISSING);
    TH_EQ_INT(b, 7);
    TH_EQ_INT(json_is_null(&d, 0, "n"), 1);
    TH_EQ_INT(json_is_null(&d, 0, "t"), 0);
    TH_EQ_INT(json_is_null(&d, 0, "s"), 0);
    TH_EQ_INT(json_is_null(&d, 0, "x"), 0);
    TH_EQ_INT(json_is_null(&d, 0, "o"), 0);
    TH_EQ_INT(json_is_null(&d, json_find(&d, 0, "o"), "n"), 1);
    TH_EQ_INT(json_tok_eq(&d, json_find(&d, 0, "t"), "true"), 1);
    TH_EQ_INT(json_tok_eq(&d, json_find(&d, 0, "t"), "tru"), 0);
    TH_EQ_INT(json_tok_eq(&d, json_find(&d, 0, "t"), "truex"), 0);
    TH_EQ_INT(json_tok_eq(&d, json_find(&d, 0, "s"), "true"), 1);   /* raw compare */
    TH_EQ_INT(json_tok_eq(&d, -1, "true"), 0);
    TH_EQ_INT(json_tok_eq(&d, 1, NULL), 0);
}

/* ---- writer ----------------------------------------------------------------- */

static void t_writer_basic(void)
{
    char buf[256];
    json_w w;
    json_w_init(&w, buf, sizeof buf);
    json_w_obj_open(&w);
    json_w_kstr(&w, "pc_id", "canary-01");
    json_w_kint(&w, "n", -42);
    json_w_kbool(&w, "ok", 1);
    json_w_kbool(&w, "no", 0);
    json_w_key(&w, "u"); json_w_uint(&w, UINT64_MAX);
    json_w_key(&w, "min"); json_w_int(&w, INT64_MIN);
    json_w_key(&w, "zero"); json_w_int(&w, 0);
    json_w_key(&w, "nil"); json_w_null(&w);
    json_w_key(&w, "nul"); json_w_str(&w, NULL);
    json_w_key(&w, "a"); json_w_arr_open(&w);
    json_w_arr_open(&w); json_w_arr_close(&w);
    json_w_obj_open(&w); json_w_obj_close(&w);
    json_w_str(&w, "x");
    json_w_raw(&w, "{\"r\":[1]}", 9);
    json_w_arr_close(&w);
    json_w_key(&w, "e"); json_w_obj_open(&w); json_w_kint(&w, "i", 1); json_w_obj_close(&w);
    json_w_obj_close(&w);
    TH_EQ_INT(w.err, 0);
    TH_EQ_STR(buf, "{\"pc_id\":\"canary-01\",\"n\":-42,\"ok\":true,\"no\":false,"
                   "\"u\":18446744073709551615,\"min\":-9223372036854775808,\"zero\":0,"
                   "\"nil\":null,\"nul\":null,\"a\":[[],{},\"x\",{\"r\":[1]}],\"e\":{\"i\":1}}");
    TH_EQ_INT(w.len, strlen(buf));
    TH_EQ_INT(w.depth, 0);
}

static void t_writer_escaping(void)
{
    char buf[512], in[40];
    json_w w;
    int c;
    /* every control character, then quote, backslash, slash, DEL */
    for (c = 1; c < 32; c++) in[c - 1] = (char)c;
    in[31] = '"'; in[32] = '\\'; in[33] = '/'; in[34] = 0x7F; in[35] = '\0';
    json_w_init(&w, buf, sizeof buf);
    json_w_str(&w, in);
    TH_EQ_INT(w.err, 0);
    TH_EQ_STR(buf, "\"\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\u0008\\t\\n\\u000b\\u000c\\r"
                   "\\u000e\\u000f\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017\\u0018"
                   "\\u0019\\u001a\\u001b\\u001c\\u001d\\u001e\\u001f\\\"\\\\/\x7F\"");
    /* embedded NUL via strn */
    json_w_init(&w, buf, sizeof buf);
    json_w_strn(&w, "a\0b", 3);
    TH_EQ_STR(buf, "\"a\\u0000b\"");
    /* valid UTF-8 passes, invalid bytes become U+FFFD */
    json_w_init(&w, buf, sizeof buf);
    json_w_str(&w, "\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80");
    TH_EQ_STR(buf, "\"\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80\"");
    json_w_init(&w, buf, sizeof buf);
    json_w_str(&w, "a\xFF" "b\xC3" "c\xED\xA0\x80" "d\xC0\x80" "e\xF0\x9F\x98");
    TH_EQ_STR(buf, "\"a\\ufffdb\\ufffdc\\ufffd\\ufffd\\ufffdd\\ufffd\\ufffde\\ufffd\\ufffd\\ufffd\"");
    TH_EQ_INT(w.err, 0);
    /* keys are escaped the same way */
    json_w_init(&w, buf, sizeof buf);
    json_w_obj_open(&w);
    json_w_kint(&w, "a\"b\n", 1);
    json_w_obj_close(&w);
    TH_EQ_STR(buf, "{\"a\\\"b\\n\":1}");
}

static void t_writer_state_errors(void)
{
    char buf[256];
    json_w w;
    int i;

    json_w_init(&w, buf, sizeof buf);
    json_w_key(&w, "k");                                   /* key at top level */
    TH_EQ_INT(w.err, JSON_ERR_STATE);

    json_w_init(&w, buf, sizeof buf);
    json_w_obj_open(&w); json_w_int(&w, 1);                /* value without key */
    TH_EQ_INT(w.err, JSON_ERR_STATE);

    json_w_init(&w, buf, sizeof buf);
    json_w_arr_open(&w); json_w_key(&w, "k");              /* key in an array */
    TH_EQ_INT(w.err, JSON_ERR_STATE);

    json_w_init(&w, buf, sizeof buf);
    json_w_obj_open(&w); json_w_key(&w, "a"); json_w_key(&w, "b");
    TH_EQ_INT(w.err, JSON_ERR_STATE);

    json_w_init(&w, buf, sizeof buf);
    json_w_obj_open(&w); json_w_key(&w, "a"); json_w_obj_close(&w);   /* dangling key */
    TH_EQ_INT(w.err, JSON_ERR_STATE);

    json_w_init(&w, buf, sizeof buf);
    json_w_obj_open(&w); json_w_arr_close(&w);             /* mismatched close */
    TH_EQ_INT(w.err, JSON_ERR_STATE);

    json_w_init(&w, buf, sizeof buf);
    json_w_obj_close(&w);                                  /* close at depth 0 */
    TH_EQ_INT(w.err, JSON_ERR_STATE);

    json_w_init(&w, buf, sizeof buf);
    json_w_int(&w, 1); json_w_int(&w, 2);                  /* two top-level values */
    TH_EQ_INT(w.err, JSON_ERR_STATE);
    TH_EQ_STR(buf, "1");

    json_w_init(&w, buf, sizeof buf);
    json_w_obj_open(&w); json_w_key(&w, NULL);
    TH_EQ_INT(w.err, JSON_ERR_STATE);

    json_w_init(&w, buf, sizeof buf);
    for (i = 0; i < JSON_MAX_DEPTH; i++) json_w_arr_open(&w);
    TH_EQ_INT(w.err, 0);
    json_w_arr_open(&w);
    TH_EQ_INT(w.err, JSON_ERR_STATE);

    /* errors stick: nothing more is written */
    json_w_init(&w, buf, sizeof buf);
    json_w_arr_open(&w); json_w_key(&w, "k"); json_w_int(&w, 5); json_w_arr_close(&w);
    TH_EQ_INT(w.err, JSON_ERR_STATE);
    TH_EQ_STR(buf, "[");

    /* a JSON_MAX_DEPTH deep document written, then parsed */
    {
        json_doc d;
        json_w_init(&w, buf, sizeof buf);
        for (i = 0; i < JSON_MAX_DEPTH; i++) json_w_arr_open(&w);
        for (i = 0; i < JSON_MAX_DEPTH; i++) json_w_arr_close(&w);
        TH_EQ_INT(w.err, 0);
        TH_EQ_INT(json_parse(&d, buf, w.len, tok, NTOK), JSON_OK);
    }
}

/* Writes the same document into every buffer size from 0 up: too small is
** JSON_ERR_SPACE with a NUL-terminated prefix of the full text and nothing
** written past cap; big enough is the full text. */
static void write_doc(json_w *w)
{
    json_w_obj_open(w);
    json_w_kstr(w, "s", "quote\" back\\ nl\n \x01 \xC3\xA9 \xF0\x9F\x98\x80 \xFF");
    json_w_kint(w, "i", -1234567890123LL);
    json_w_key(w, "a");
    json_w_arr_open(w);
    json_w_uint(w, 42); json_w_bool(w, 0); json_w_null(w);
    json_w_obj_open(w); json_w_kbool(w, "deep", 1); json_w_obj_close(w);
    json_w_arr_close(w);
    json_w_key(w, "r"); json_w_raw(w, "[1,2]", 5);
    json_w_obj_close(w);
}

static void t_writer_overflow_every_size(void)
{
    char full[512], buf[600];
    json_w w;
    size_t cap, n;
    int bad = 0;
    json_w_init(&w, full, sizeof full);
    write_doc(&w);
    TH_EQ_INT(w.err, 0);
    n = w.len;
    TH_EQ_INT(n, strlen(full));
    for (cap = 0; cap <= n + 2; cap++) {
        memset(buf, '#', sizeof buf);
        json_w_init(&w, cap ? buf : NULL, cap);
        if (cap == 0) json_w_init(&w, buf, 0);
        write_doc(&w);
        if (cap <= n) {
            if (w.err != JSON_ERR_SPACE) bad++;
            if (cap > 0 && (memchr(buf, '\0', cap) == NULL || strncmp(buf, full, strlen(buf)) != 0)) bad++;
            if (cap > 0 && w.len != strlen(buf)) bad++;
        } else {
            if (w.err != 0 || strcmp(buf, full) != 0) bad++;
        }
        if (buf[cap] != '#') bad++;                       /* nothing past cap */
    }
    TH_EQ_INT(bad, 0);
    /* NULL buffer with a size is treated as no buffer */
    json_w_init(&w, NULL, 100);
    json_w_int(&w, 1);
    TH_EQ_INT(w.err, JSON_ERR_SPACE);
}

/* ---- round trips ------------------------------------------------------------ */

static unsigned long long rng = 0x853C49E6748FEA9BULL;
static unsigned rnd(void)
{
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (unsigned)(rng >> 32);
}

/* Random valid UTF-8 (no NUL, no surrogates), with control characters,
** quotes and backslashes mixed in; returns its length. */
static size_t rand_utf8(char *s, size_t max)
{
    size_t n = 0;
    while (n + 4 < max && rnd() % 20) {
        unsigned kind = rnd() % 6;
        uint32_t cp;
        if (kind == 0) cp = 1 + rnd() % 31;
        else if (kind == 1) cp = "\"\\/"[rnd() % 3];
        else if (kind == 2) cp = 0x20 + rnd() % 95;
        else if (kind == 3) cp = 0x80 + rnd() % 0x780;
        else if (kind == 4) { do cp = 0x800 + rnd() % 0xF800; while (cp >= 0xD800 && cp <= 0xDFFF); }
        else cp = 0x10000 + rnd() % 0x100000;
        if (cp < 0x80) s[n++] = (char)cp;
        else if (cp < 0x800) { s[n++] = (char)(0xC0 | cp >> 6); s[n++] = (char)(0x80 | (cp & 0x3F)); }
        else if (cp < 0x10000) {
            s[n++] = (char)(0xE0 | cp >> 12); s[n++] = (char)(0x80 | ((cp >> 6) & 0x3F));
            s[n++] = (char)(0x80 | (cp & 0x3F));
        } else {
            s[n++] = (char)(0xF0 | cp >> 18); s[n++] = (char)(0x80 | ((cp >> 12) & 0x3F));
            s[n++] = (char)(0x80 | ((cp >> 6) & 0x3F)); s[n++] = (char)(0x80 | (cp & 0x3F));
        }
    }
    s[n] = '\0';
    return n;
}

static void t_round_trip(void)
{
    static char buf[8192];
    int round, bad = 0;
    for (round = 0; round < 300; round++) {
        char key[3][80], val[3][200], back[200];
        int64_t iv = (int64_t)(((uint64_t)rnd() << 32) | rnd()), gi;
        uint64_t uv = ((uint64_t)rnd() << 32) | rnd(), gu;
        int bv = (int)(rnd() & 1), gb, k, arr, i;
        json_doc d;
        json_w w;
        if (round == 0) { iv = INT64_MIN; uv = UINT64_MAX; }
        if (round == 1) { iv = INT64_MAX; uv = 0; }
        for (k = 0; k < 3; k++) {
            snprintf(key[k], sizeof key[k], "k%d-", k);
            rand_utf8(key[k] + 4, sizeof key[k] - 4);
            rand_utf8(val[k], sizeof val[k]);
        }
        json_w_init(&w, buf, sizeof buf);
        json_w_obj_open(&w);
        for (k = 0; k < 3; k++) json_w_kstr(&w, key[k], val[k]);
        json_w_kint(&w, "i", iv);
        json_w_key(&w, "u"); json_w_uint(&w, uv);
        json_w_kbool(&w, "b", bv);
        json_w_key(&w, "n"); json_w_null(&w);
        json_w_key(&w, "arr"); json_w_arr_open(&w);
        for (k = 0; k < 3; k++) json_w_str(&w, val[k]);
        json_w_arr_close(&w);
        json_w_obj_close(&w);
        if (w.err) { bad++; continue; }
        if (json_parse(&d, buf, w.len, tok, NTOK) != JSON_OK) { bad++; fprintf(stderr, "  %s\n", buf); continue; }
        for (k = 0; k < 3; k++) {
            if (json_get_str(&d, 0, key[k], back, sizeof back) != JSON_OK || strcmp(back, val[k]) != 0) bad++;
        }
        if (json_get_int(&d, 0, "i", &gi) != JSON_OK || gi != iv) bad++;
        if (json_get_uint(&d, 0, "u", &gu) != JSON_OK || gu != uv) bad++;
        if (json_get_bool(&d, 0, "b", &gb) != JSON_OK || gb != bv) bad++;
        if (!json_is_null(&d, 0, "n")) bad++;
        arr = json_find(&d, 0, "arr");
        if (arr < 0 || d.tok[arr].size != 3) { bad++; continue; }
        for (i = arr + 1, k = 0; k < 3; k++, i = json_skip(&d, i))
            if (json_tok_str(&d, i, back, sizeof back) != JSON_OK || strcmp(back, val[k]) != 0) bad++;
    }
    TH_EQ_INT(bad, 0);
}

/* Invalid UTF-8 written comes back as U+FFFD, and the document parses. */
static void t_round_trip_invalid_utf8(void)
{
    char buf[128], back[64];
    json_doc d;
    json_w w;
    json_w_init(&w, buf, sizeof buf);
    json_w_obj_open(&w);
    json_w_kstr(&w, "h", "pc-\xE9t\xE9");                  /* Latin-1, not UTF-8 */
    json_w_obj_close(&w);
    TH_EQ_INT(json_parse(&d, buf, w.len, tok, NTOK), JSON_OK);
    TH_EQ_INT(json_get_str(&d, 0, "h", back, sizeof back), JSON_OK);
    TH_EQ_STR(back, "pc-\xEF\xBF\xBDt\xEF\xBF\xBD");
}

static int main_(void)
{
    TH_RUN(t_parse_valid);
    TH_RUN(t_parse_types_and_positions);
    TH_RUN(t_parse_malformed);
    TH_RUN(t_deep_nesting);
    TH_RUN(t_token_exhaustion);
    TH_RUN(t_real_jetstream_reply);
    TH_RUN(t_find_and_skip);
    TH_RUN(t_strings);
    TH_RUN(t_string_space);
    TH_RUN(t_string_rejects);
    TH_RUN(t_ints);
    TH_RUN(t_uints);
    TH_RUN(t_bool_null_eq);
    TH_RUN(t_writer_basic);
    TH_RUN(t_writer_escaping);
    TH_RUN(t_writer_state_errors);
    TH_RUN(t_writer_overflow_every_size);
    TH_RUN(t_round_trip);
    TH_RUN(t_round_trip_invalid_utf8);
    return th_summary("t_json");
}

TH_MAIN
