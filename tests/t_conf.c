/*
** t_conf.c — agent.conf parsing (the TOML subset, line-numbered errors,
** warnings for unknown keys) and conf_write round trips.
*/
#include <string.h>
#include "th.h"
#include "conf.h"

static conf c;
static char err[256];

/* Parses text (NUL-terminated) into c after conf_defaults; returns rc. */
static int parse(const char *text)
{
    conf_defaults(&c);
    err[0] = 'X'; err[1] = 0;
    return conf_parse(text, strlen(text), &c, err, sizeof err);
}

/* Expects a failure with code and exactly the message want. */
static void expect_err(const char *text, int code, const char *want)
{
    int rc = parse(text);
    if (rc != code || strcmp(err, want) != 0)
        fprintf(stderr, "  for input: %s\n", text);
    TH_EQ_INT(rc, code);
    TH_EQ_STR(err, want);
}

static void t_defaults(void)
{
    conf_defaults(&c);
    TH_EQ_STR(c.id, "");
    TH_EQ_STR(c.nats_url, "nats://127.0.0.1:4222");
    TH_EQ_STR(c.ca_file, "");
    TH_EQ_STR(c.user, "");
    TH_EQ_INT(c.health_timeout_s, 120);
    TH_EQ_STR(c.log_level, "info");
    TH_EQ_INT(c.keep_days, 14);
    TH_EQ_STR(c.warnings, "");
    TH_EQ_INT(parse(""), CONF_OK);
    TH_EQ_STR(err, "");
    TH_EQ_STR(c.nats_url, "nats://127.0.0.1:4222");
    TH_EQ_INT(parse("\n\n# only comments\n   \t\n"), CONF_OK);
    TH_EQ_INT(conf_parse(NULL, 0, &c, err, sizeof err), CONF_OK);
}

static void t_full(void)
{
    const char *text =
        "\xef\xbb\xbf# Kanade agent\r\n"
        "[agent]\r\n"
        "id = \"canary-01\"   # trailing comment\r\n"
        "nats_url = \"tls://a:4222,tls://b:4222\"\r\n"
        "\r\n"
        "  [tls]\r\n"
        "ca_file = 'C:\\certs\\ca.pem'\r\n"
        "cert_file='C:\\Program Files\\Kanade\\agent #1.pem' # a '#' inside quotes is text\r\n"
        "\tkey_file\t=\t\"C:\\\\keys\\\\agent.key\"\r\n"
        "[ auth ]\r\n"
        "user = \"agent\"\r\n"
        "password = \"p\\\"w\\\\d'#\"\r\n"
        "token = \"caf\\u00e9-\\U0001F600-\xe2\x82\xac\"\r\n"
        "[update]\r\n"
        "health_timeout = \"2m\"\r\n"
        "[log]\r\n"
        "level = \"debug\"\r\n"
        "keep_days = 30";                  /* no final newline */
    TH_EQ_INT(parse(text), CONF_OK);
    TH_EQ_STR(err, "");
    TH_EQ_STR(c.id, "canary-01");
    TH_EQ_STR(c.nats_url, "tls://a:4222,tls://b:4222");
    TH_EQ_STR(c.ca_file, "C:\\certs\\ca.pem");
    TH_EQ_STR(c.cert_file, "C:\\Program Files\\Kanade\\agent #1.pem");
    TH_EQ_STR(c.key_file, "C:\\keys\\agent.key");
    TH_EQ_STR(c.user, "agent");
    TH_EQ_STR(c.password, "p\"w\\d'#");
    TH_EQ_STR(c.token, "caf\xc3\xa9-\xf0\x9f\x98\x80-\xe2\x82\xac");
    TH_EQ_INT(c.health_timeout_s, 120);
    TH_EQ_STR(c.log_level, "debug");
    TH_EQ_INT(c.keep_days, 30);
    TH_EQ_STR(c.warnings, "");
}

static void t_values(void)
{
    TH_EQ_INT(parse("[update]\nhealth_timeout = 300\n"), CONF_OK);
    TH_EQ_INT(c.health_timeout_s, 300);
    TH_EQ_INT(parse("[update]\nhealth_timeout = \"120s\"\n"), CONF_OK);
    TH_EQ_INT(c.health_timeout_s, 120);
    TH_EQ_INT(parse("[update]\nhealth_timeout = \"1h30m\"\n"), CONF_OK);
    TH_EQ_INT(c.health_timeout_s, 5400);
    TH_EQ_INT(parse("[update]\nhealth_timeout = 86400\n"), CONF_OK);
    TH_EQ_INT(parse("[update]\nhealth_timeout = 1_0\n"), CONF_OK);
    TH_EQ_INT(c.health_timeout_s, 10);
    TH_EQ_INT(parse("[update]\nhealth_timeout = +15\n"), CONF_OK);
    TH_EQ_INT(c.health_timeout_s, 15);
    TH_EQ_INT(parse("[log]\nkeep_days = 0\n"), CONF_OK);
    TH_EQ_INT(c.keep_days, 0);
    TH_EQ_INT(parse("[log]\nkeep_days = 3650\nlevel = 'WARNING'\n"), CONF_OK);
    TH_EQ_INT(c.keep_days, 3650);
    TH_EQ_STR(c.log_level, "warn");
    TH_EQ_INT(parse("[log]\nlevel = \"Error\"\n"), CONF_OK);
    TH_EQ_STR(c.log_level, "error");
    TH_EQ_INT(parse("[log]\nlevel = \"warn\"\n"), CONF_OK);
    TH_EQ_STR(c.log_level, "warn");
    /* Empty optional strings are allowed (= not set). */
    TH_EQ_INT(parse("[tls]\nca_file = ''\n[auth]\ntoken = \"\"\n"), CONF_OK);
    TH_EQ_STR(c.ca_file, "");
    /* An id of exactly 64 characters fits. */
    TH_EQ_INT(parse("[agent]\nid = \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"\n"),
              CONF_OK);
    TH_EQ_INT(strlen(c.id), 64);
    /* Booleans and big integers are fine for keys we do not know. */
    TH_EQ_INT(parse("[agent]\nfuture = true\nother = false\nbig = -9223372036854775808\n"
                    "big2 = 9223372036854775807\n"), CONF_OK);
}

static void t_syntax_errors(void)
{
    expect_err("[agent]\nid = \"a\"\nnats_url \"x\"\n", CONF_ERR_SYNTAX,
               "line 3: expected '=' after key");
    expect_err("[agent]\nid = \"a\n", CONF_ERR_SYNTAX, "line 2: unterminated string");
    expect_err("[agent]\nid = 'a\n", CONF_ERR_SYNTAX, "line 2: unterminated string");
    expect_err("[agent]\nid = \"a\\\"\n", CONF_ERR_SYNTAX, "line 2: unterminated string");
    expect_err("[tls]\nca_file = \"C:\\certs\\ca.pem\"\n", CONF_ERR_SYNTAX,
               "line 2: invalid escape \\c in string (write Windows paths in 'single quotes')");
    expect_err("[auth]\ntoken = \"\\u12\"\n", CONF_ERR_SYNTAX, "line 2: \\u needs 4 hex digits");
    expect_err("[auth]\ntoken = \"\\U0001F60\"\n", CONF_ERR_SYNTAX, "line 2: \\U needs 8 hex digits");
    expect_err("[auth]\ntoken = \"\\ud800\"\n", CONF_ERR_SYNTAX,
               "line 2: \\u escape is not a Unicode scalar value");
    expect_err("[auth]\ntoken = \"\\U00110000\"\n", CONF_ERR_SYNTAX,
               "line 2: \\U escape is not a Unicode scalar value");
    expect_err("[auth]\ntoken = \"\"\"x\"\"\"\n", CONF_ERR_SYNTAX,
               "line 2: multi-line strings are not supported (token)");
    expect_err("[auth]\ntoken = '''x'''\n", CONF_ERR_SYNTAX,
               "line 2: multi-line strings are not supported (token)");
    expect_err("[agent]\nid = [\"a\"]\n", CONF_ERR_VALUE, "line 2: agent.id must be a string, not an array");
    expect_err("[update]\nrelease_keys = [\"a\" \"b\"]\n", CONF_ERR_SYNTAX,
               "line 2: expected ',' or ']' in the array of release_keys");
    expect_err("[update]\nrelease_keys = [1]\n", CONF_ERR_SYNTAX,
               "line 2: the array of release_keys must hold \"strings\" on one line");
    expect_err("[update]\nrelease_keys = [\"a\"\n", CONF_ERR_SYNTAX,
               "line 2: expected ',' or ']' in the array of release_keys");
    expect_err("[x]\ny = {a = 1}\n", CONF_ERR_SYNTAX,
               "line 2: unsupported value for y (use a \"string\", an integer or true/false)");
    expect_err("[log]\nkeep_days = 1.5\n", CONF_ERR_SYNTAX,
               "line 2: unsupported value for keep_days (use a \"string\", an integer or true/false)");
    expect_err("[log]\nkeep_days = 1e3\n", CONF_ERR_SYNTAX,
               "line 2: unsupported value for keep_days (use a \"string\", an integer or true/false)");
    expect_err("[log]\nkeep_days = 2026-11-27\n", CONF_ERR_SYNTAX,
               "line 2: unsupported value for keep_days (use a \"string\", an integer or true/false)");
    expect_err("[log]\nkeep_days = 0x10\n", CONF_ERR_SYNTAX,
               "line 2: unsupported value for keep_days (use a \"string\", an integer or true/false)");
    expect_err("[log]\nkeep_days = 1__0\n", CONF_ERR_SYNTAX,
               "line 2: unsupported value for keep_days (use a \"string\", an integer or true/false)");
    expect_err("[log]\nkeep_days = 10_\n", CONF_ERR_SYNTAX,
               "line 2: unsupported value for keep_days (use a \"string\", an integer or true/false)");
    expect_err("[log]\nkeep_days = -\n", CONF_ERR_SYNTAX,
               "line 2: unsupported value for keep_days (use a \"string\", an integer or true/false)");
    expect_err("[log]\nkeep_days = info\n", CONF_ERR_SYNTAX,
               "line 2: unsupported value for keep_days (use a \"string\", an integer or true/false)");
    expect_err("[log]\nkeep_days = trueish\n", CONF_ERR_SYNTAX,
               "line 2: unsupported value for keep_days (use a \"string\", an integer or true/false)");
    expect_err("[log]\nkeep_days = 014\n", CONF_ERR_SYNTAX,
               "line 2: leading zeros are not allowed in integers (keep_days)");
    expect_err("[log]\nkeep_days = 9223372036854775808\n", CONF_ERR_SYNTAX,
               "line 2: integer for keep_days is out of range");
    expect_err("[log]\nkeep_days = 14 days\n", CONF_ERR_SYNTAX,
               "line 2: unexpected text after the value of keep_days");
    expect_err("[log]\nlevel = \"info\" \"debug\"\n", CONF_ERR_SYNTAX,
               "line 2: unexpected text after the value of level");
    expect_err("[log]\nlevel =\n", CONF_ERR_SYNTAX, "line 2: missing value for level");
    expect_err("[log]\nlevel = # nothing\n", CONF_ERR_SYNTAX, "line 2: missing value for level");
    expect_err("[log]\n\"level\" = \"info\"\n", CONF_ERR_SYNTAX, "line 2: quoted keys are not supported");
    expect_err("[log]\nlog.level = \"info\"\n", CONF_ERR_SYNTAX, "line 2: dotted keys are not supported");
    expect_err("[log]\n= \"info\"\n", CONF_ERR_SYNTAX, "line 2: expected a key or a [section]");
    expect_err("[[agent]]\n", CONF_ERR_SYNTAX,
               "line 1: arrays of tables ([[...]]) are not supported");
    expect_err("[]\n", CONF_ERR_SYNTAX, "line 1: expected a section name like [agent]");
    expect_err("[agent\n", CONF_ERR_SYNTAX, "line 1: expected a section name like [agent]");
    expect_err("[a..b]\n", CONF_ERR_SYNTAX, "line 1: expected a section name like [agent]");
    expect_err("[.a]\n", CONF_ERR_SYNTAX, "line 1: expected a section name like [agent]");
    expect_err("[a b]\n", CONF_ERR_SYNTAX, "line 1: expected a section name like [agent]");
    expect_err("[agent] x\n", CONF_ERR_SYNTAX, "line 1: unexpected text after the section header");
    expect_err("[agent]\nid = \"a\"\n\n# c\nid = \"b\"\n", CONF_ERR_SYNTAX,
               "line 5: duplicate key agent.id (first set on line 2)");
    expect_err("[log]\nlevel = \"info\"\n[agent]\n[log]\n", CONF_ERR_SYNTAX,
               "line 4: section [log] appears twice (first on line 1)");
}

static void t_encoding_errors(void)
{
    static const char nul_text[] = "[agent]\nid = \"a\0b\"\n";
    expect_err("\xff\xfe[\0a\0", CONF_ERR_SYNTAX, "line 1: the file is UTF-16; save it as UTF-8");
    expect_err("[agent]\n# caf\xe9\n", CONF_ERR_SYNTAX, "line 2: invalid UTF-8 (save the file as UTF-8)");
    expect_err("[agent]\nid = \"\xc0\xae\"\n", CONF_ERR_SYNTAX,
               "line 2: invalid UTF-8 (save the file as UTF-8)");
    expect_err("[agent]\nid = \"\xed\xa0\x80\"\n", CONF_ERR_SYNTAX,
               "line 2: invalid UTF-8 (save the file as UTF-8)");
    expect_err("[agent]\nid = \"\xe2\x82\"\n", CONF_ERR_SYNTAX,
               "line 2: invalid UTF-8 (save the file as UTF-8)");
    expect_err("[agent]\nid = \"a\rb\"\n", CONF_ERR_SYNTAX,
               "line 2: control character 0x0d (only tab is allowed)");
    expect_err("[agent]\n\x1b[31m\n", CONF_ERR_SYNTAX,
               "line 2: control character 0x1b (only tab is allowed)");
    /* An embedded NUL is a control character, not the end of the text. */
    conf_defaults(&c);
    TH_EQ_INT(conf_parse(nul_text, sizeof nul_text - 1, &c, err, sizeof err), CONF_ERR_SYNTAX);
    TH_EQ_STR(err, "line 2: control character 0x00 (only tab is allowed)");
    /* A BOM only counts at the very start. */
    expect_err("[agent]\n\xef\xbb\xbf[log]\n", CONF_ERR_SYNTAX, "line 2: expected a key or a [section]");
    /* CRLF, LF and a trailing CR on the last line. */
    TH_EQ_INT(parse("[agent]\r\nid = \"a\"\r\n[log]\nlevel = \"debug\"\r"), CONF_OK);
    TH_EQ_STR(c.log_level, "debug");
}

static void t_value_errors(void)
{
    expect_err("[agent]\nid = \"canary 01\"\n", CONF_ERR_VALUE,
               "line 2: agent.id \"canary 01\" is not a valid pc id: use 1-64 of A-Z a-z 0-9 _ - "
               "(or leave id out to use the computer name)");
    expect_err("[agent]\nid = \"\"\n", CONF_ERR_VALUE,
               "line 2: agent.id \"\" is not a valid pc id: use 1-64 of A-Z a-z 0-9 _ - "
               "(or leave id out to use the computer name)");
    expect_err("[agent]\nid = \"pc.01\"\n", CONF_ERR_VALUE,
               "line 2: agent.id \"pc.01\" is not a valid pc id: use 1-64 of A-Z a-z 0-9 _ - "
               "(or leave id out to use the computer name)");
    expect_err("[agent]\nid = \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"\n",
               CONF_ERR_VALUE, "line 2: agent.id is longer than 64 bytes");
    expect_err("[agent]\nid = 5\n", CONF_ERR_VALUE, "line 2: agent.id must be a string, not an integer");
    expect_err("[agent]\nid = true\n", CONF_ERR_VALUE, "line 2: agent.id must be a string, not a boolean");
    expect_err("[agent]\nid = \"a\\nb\"\n", CONF_ERR_VALUE, "line 2: agent.id contains a control character");
    expect_err("[auth]\npassword = \"a\tb\"\n", CONF_ERR_VALUE,
               "line 2: auth.password contains a control character");
    expect_err("[auth]\npassword = \"a\\u0000b\"\n", CONF_ERR_VALUE,
               "line 2: auth.password contains a control character");
    expect_err("[agent]\nnats_url = \"\"\n", CONF_ERR_VALUE,
               "line 2: agent.nats_url is empty (e.g. \"nats://broker:4222\")");
    expect_err("[update]\nhealth_timeout = 0\n", CONF_ERR_VALUE,
               "line 2: update.health_timeout must be between 1s and 24h");
    expect_err("[update]\nhealth_timeout = 86401\n", CONF_ERR_VALUE,
               "line 2: update.health_timeout must be between 1s and 24h");
    expect_err("[update]\nhealth_timeout = -5\n", CONF_ERR_VALUE,
               "line 2: update.health_timeout must be between 1s and 24h");
    expect_err("[update]\nhealth_timeout = \"0s\"\n", CONF_ERR_VALUE,
               "line 2: update.health_timeout must be between 1s and 24h");
    expect_err("[update]\nhealth_timeout = \"25h\"\n", CONF_ERR_VALUE,
               "line 2: update.health_timeout must be between 1s and 24h");
    expect_err("[update]\nhealth_timeout = \"2 minutes\"\n", CONF_ERR_VALUE,
               "line 2: update.health_timeout must be seconds (120) or a duration (\"2m\")");
    expect_err("[update]\nhealth_timeout = \"120\"\n", CONF_ERR_VALUE,
               "line 2: update.health_timeout must be seconds (120) or a duration (\"2m\")");
    expect_err("[update]\nhealth_timeout = false\n", CONF_ERR_VALUE,
               "line 2: update.health_timeout must be seconds (120) or a duration (\"2m\")");
    expect_err("[log]\nkeep_days = \"14\"\n", CONF_ERR_VALUE,
               "line 2: log.keep_days must be an integer, not a string");
    expect_err("[log]\nkeep_days = -1\n", CONF_ERR_VALUE, "line 2: log.keep_days must be between 0 and 3650");
    expect_err("[log]\nkeep_days = 3651\n", CONF_ERR_VALUE,
               "line 2: log.keep_days must be between 0 and 3650");
    expect_err("[log]\nlevel = \"verbose\"\n", CONF_ERR_VALUE,
               "line 2: log.level \"verbose\" must be error, warn, info or debug");
    expect_err("[log]\nlevel = \"informational\"\n", CONF_ERR_VALUE,
               "line 2: log.level \"informational\" must be error, warn, info or debug");
    expect_err("[log]\nlevel = 3\n", CONF_ERR_VALUE, "line 2: log.level must be a string, not an integer");
    {
        /* A nats_url of 1023 bytes fits, 1024 does not. */
        static char text[1200];
        int n = snprintf(text, sizeof text, "[agent]\nnats_url = \"");
        memset(text + n, 'u', 1023);
        memcpy(text + n + 1023, "\"\n", 3);
        TH_EQ_INT(parse(text), CONF_OK);
        TH_EQ_INT(strlen(c.nats_url), 1023);
        memset(text + n, 'u', 1024);
        memcpy(text + n + 1024, "\"\n", 3);
        expect_err(text, CONF_ERR_VALUE, "line 2: agent.nats_url is longer than 1023 bytes");
        /* The same length for an unknown key is fine: it is dropped. */
        memcpy(text, "[agent]\nnats_uri = \"", 20);
        TH_EQ_INT(parse(text), CONF_OK);
        TH_EQ_STR(c.warnings, "line 2: unknown key agent.nats_uri, ignored");
    }
}

static void t_warnings(void)
{
    const char *text =
        "top = 1\n"                       /* 1 */
        "[agent]\n"                       /* 2 */
        "id = \"pc1\"\n"                  /* 3 */
        "nats-url = \"nats://x\"\n"       /* 4 */
        "[vars]\n"                        /* 5 */
        "hostname = '{{ system.host }}'\n"/* 6: no second warning inside [vars] */
        "[inventory.disks]\n"             /* 7 */
        "[log]\n"                         /* 8 */
        "path = 'C:\\logs\\agent.log'\n"; /* 9 */
    TH_EQ_INT(parse(text), CONF_OK);
    TH_EQ_STR(err, "");
    TH_EQ_STR(c.id, "pc1");
    TH_EQ_STR(c.nats_url, "nats://127.0.0.1:4222");
    TH_EQ_STR(c.warnings, "line 1: key top outside any section, ignored; "
                          "line 4: unknown key agent.nats-url, ignored; "
                          "line 5: unknown section [vars], ignored; "
                          "line 7: unknown section [inventory.disks], ignored; "
                          "line 9: unknown key log.path, ignored");
    /* Many warnings stay bounded and end in "...". */
    {
        static char many[8192];
        size_t n = 0;
        int i;
        n += (size_t)snprintf(many + n, sizeof many - n, "[agent]\n");
        for (i = 0; i < 100; i++)
            n += (size_t)snprintf(many + n, sizeof many - n, "unknown_%d = 1\n", i);
        TH_EQ_INT(parse(many), CONF_OK);
        TH_EQ_INT(strlen(c.warnings), sizeof c.warnings - 1);
        TH_EQ_STR(c.warnings + sizeof c.warnings - 4, "...");
    }
    /* Warnings from an earlier parse do not leak into the next one. */
    TH_EQ_INT(conf_parse("[agent]\n", 8, &c, err, sizeof err), CONF_OK);
    TH_EQ_STR(c.warnings, "");
}

static void t_failure_leaves_conf(void)
{
    conf before;
    TH_EQ_INT(parse("[agent]\nid = \"keep\"\n"), CONF_OK);
    before = c;
    {
        const char *text = "[agent]\nnats_url = \"nats://new\"\n[log]\nlevel = \"loud\"\n";
        TH_EQ_INT(conf_parse(text, strlen(text), &c, err, sizeof err), CONF_ERR_VALUE);
    }
    TH_EQ_STR(err, "line 4: log.level \"loud\" must be error, warn, info or debug");
    TH_CHECK(memcmp(&before, &c, sizeof c) == 0);
    TH_EQ_STR(c.nats_url, "nats://127.0.0.1:4222");
    /* err may be NULL or small. */
    TH_EQ_INT(conf_parse("x", 1, &c, NULL, 0), CONF_ERR_SYNTAX);
    TH_EQ_INT(conf_parse("x", 1, &c, err, 8), CONF_ERR_SYNTAX);
    TH_EQ_STR(err, "line 1:");
    TH_EQ_INT(conf_parse("x", 1, NULL, err, sizeof err), CONF_ERR_VALUE);
}

/* Writes c, parses the text back into a fresh conf and compares. */
static void roundtrip(const conf *in)
{
    char out[8192];
    conf back;
    conf_defaults(&back);
    TH_EQ_INT(conf_write(in, out, sizeof out), CONF_OK);
    TH_EQ_INT(conf_parse(out, strlen(out), &back, err, sizeof err), CONF_OK);
    TH_EQ_STR(err, "");
    TH_EQ_STR(back.warnings, "");
    TH_EQ_STR(back.id, in->id);
    TH_EQ_STR(back.nats_url, in->nats_url);
    TH_EQ_STR(back.ca_file, in->ca_file);
    TH_EQ_STR(back.cert_file, in->cert_file);
    TH_EQ_STR(back.key_file, in->key_file);
    TH_EQ_STR(back.user, in->user);
    TH_EQ_STR(back.password, in->password);
    TH_EQ_STR(back.release_keys, in->release_keys);
    TH_EQ_STR(back.token, in->token);
    TH_EQ_INT(back.health_timeout_s, in->health_timeout_s);
    TH_EQ_STR(back.log_level, in->log_level);
    TH_EQ_INT(back.keep_days, in->keep_days);
}

/* The key of the RFC 6979 P-256 example, and one made by openssl. */
#define KEY_A "P256:BGD+1LolWp0xyWHrdMY1bWjASbiSO2H6bOZpYi5g8p+2eQP+EAi4vJmkGunpVii8ZPLxsgwtfp9Rd6PClNRGIpk="
#define KEY_B "P256:BGADUvzYSMv0jzcgWzsES/QsGriIysT6aSk/laKpGq+jepjpueerC4ZrICqgtWYscNh8lphZs9rla5+v7oHgzPE="

static void t_release_keys(void)
{
    TH_EQ_INT(parse("[update]\nrelease_keys = []\n"), CONF_OK);
    TH_EQ_STR(c.release_keys, "");
    TH_EQ_INT(parse("[update]\nrelease_keys = [ \"" KEY_A "\" , \"" KEY_B "\", ]  # two\n"), CONF_OK);
    TH_EQ_STR(c.release_keys, KEY_A "," KEY_B);
    TH_EQ_INT(parse("[update]\nrelease_keys = \"" KEY_A ", " KEY_B "\"\n"), CONF_OK);
    TH_EQ_STR(c.release_keys, KEY_A "," KEY_B);
    expect_err("[update]\nrelease_keys = [\"P256:AAAA\"]\n", CONF_ERR_VALUE,
               "line 2: update.release_keys: 'P256:AAAA' is not a release key (P256:<base64 of 65 bytes>, "
               "as 'kanade agent keygen' prints it)");
    expect_err("[update]\nrelease_keys = 3\n", CONF_ERR_VALUE,
               "line 2: update.release_keys must be [\"P256:...\", ...]");
    expect_err("[update]\nrelease_keys = [\"" KEY_A "\",\"" KEY_B "\",\"" KEY_A "\",\"" KEY_B "\",\""
               KEY_A "\"]\n", CONF_OK, "");
    TH_EQ_STR(c.release_keys, KEY_A "," KEY_B);
    expect_err("[update]\nrelease_keys = [\"" KEY_A "\"]\nrelease_keys = []\n", CONF_ERR_SYNTAX,
               "line 3: duplicate key update.release_keys (first set on line 2)");
}

static void t_write(void)
{
    conf w;
    char out[4096];
    conf_defaults(&w);
    roundtrip(&w);
    TH_EQ_INT(conf_write(&w, out, sizeof out), CONF_OK);
    TH_CHECK(strstr(out, "[agent]\n# id = ") != NULL);      /* empty: a commented example */
    TH_CHECK(strstr(out, "\nnats_url = \"nats://127.0.0.1:4222\"\n") != NULL);
    TH_CHECK(strstr(out, "\nhealth_timeout = 120\n") != NULL);
    TH_CHECK(strstr(out, "\nlevel = \"info\"\nkeep_days = 14\n") != NULL);

    snprintf(w.id, sizeof w.id, "canary-01");
    snprintf(w.nats_url, sizeof w.nats_url, "tls://broker-a:4222,tls://broker-b:4222");
    snprintf(w.ca_file, sizeof w.ca_file, "C:\\ProgramData\\Kanade\\config\\ca.pem");
    snprintf(w.cert_file, sizeof w.cert_file, "C:\\certs\\it's.pem");        /* ' and \ */
    snprintf(w.key_file, sizeof w.key_file, "/etc/kanade/\"key\".pem");
    snprintf(w.user, sizeof w.user, "agent");
    snprintf(w.password, sizeof w.password, "p\"w\\d'#=[x]");
    snprintf(w.token, sizeof w.token, "caf\xc3\xa9 \xf0\x9f\x98\x80");
    w.health_timeout_s = 86400;
    snprintf(w.log_level, sizeof w.log_level, "debug");
    w.keep_days = 0;
    snprintf(w.release_keys, sizeof w.release_keys, "%s", KEY_A "," KEY_B);
    roundtrip(&w);
    TH_EQ_INT(conf_write(&w, out, sizeof out), CONF_OK);
    TH_CHECK(strstr(out, "\nca_file = 'C:\\ProgramData\\Kanade\\config\\ca.pem'\n") != NULL);
    TH_CHECK(strstr(out, "\ncert_file = \"C:\\\\certs\\\\it's.pem\"\n") != NULL);
    TH_CHECK(strstr(out, "\nid = \"canary-01\"\n") != NULL);
    TH_CHECK(strstr(out, "\nrelease_keys = [\"" KEY_A "\", \"" KEY_B "\"]\n") != NULL);

    /* What conf_parse would refuse is not written. */
    {
        conf bad = w;
        snprintf(bad.id, sizeof bad.id, "bad id");
        TH_EQ_INT(conf_write(&bad, out, sizeof out), CONF_ERR_VALUE);
        TH_EQ_STR(out, "");
        bad = w; bad.nats_url[0] = 0;
        TH_EQ_INT(conf_write(&bad, out, sizeof out), CONF_ERR_VALUE);
        bad = w; snprintf(bad.log_level, sizeof bad.log_level, "loud");
        TH_EQ_INT(conf_write(&bad, out, sizeof out), CONF_ERR_VALUE);
        bad = w; bad.health_timeout_s = 0;
        TH_EQ_INT(conf_write(&bad, out, sizeof out), CONF_ERR_VALUE);
        bad = w; bad.keep_days = -1;
        TH_EQ_INT(conf_write(&bad, out, sizeof out), CONF_ERR_VALUE);
        bad = w; snprintf(bad.password, sizeof bad.password, "a\nb");
        TH_EQ_INT(conf_write(&bad, out, sizeof out), CONF_ERR_VALUE);
        bad = w; snprintf(bad.user, sizeof bad.user, "caf\xe9");
        TH_EQ_INT(conf_write(&bad, out, sizeof out), CONF_ERR_VALUE);
        bad = w; snprintf(bad.release_keys, sizeof bad.release_keys, "P256:AAAA");
        TH_EQ_INT(conf_write(&bad, out, sizeof out), CONF_ERR_VALUE);
        bad = w; memset(bad.token, 'x', sizeof bad.token);     /* not terminated */
        TH_EQ_INT(conf_write(&bad, out, sizeof out), CONF_ERR_VALUE);
    }
    /* Buffer too small: CONF_ERR_SPACE, and out is "". */
    {
        size_t need;
        TH_EQ_INT(conf_write(&w, out, sizeof out), CONF_OK);
        need = strlen(out) + 1;
        TH_EQ_INT(conf_write(&w, out, need), CONF_OK);
        TH_EQ_INT(conf_write(&w, out, need - 1), CONF_ERR_SPACE);
        TH_EQ_STR(out, "");
        TH_EQ_INT(conf_write(&w, out, 10), CONF_ERR_SPACE);
        TH_EQ_INT(conf_write(&w, out, 0), CONF_ERR_SPACE);
    }
    /* Longest values: every field full. */
    {
        conf big = w;
        memset(big.nats_url, 'n', sizeof big.nats_url - 1); big.nats_url[sizeof big.nats_url - 1] = 0;
        memset(big.ca_file, '\\', sizeof big.ca_file - 1); big.ca_file[sizeof big.ca_file - 1] = 0;
        memset(big.password, '"', sizeof big.password - 1); big.password[sizeof big.password - 1] = 0;
        memset(big.id, 'i', sizeof big.id - 1); big.id[sizeof big.id - 1] = 0;
        roundtrip(&big);
    }
}

static int main_(void)
{
    TH_RUN(t_defaults);
    TH_RUN(t_full);
    TH_RUN(t_values);
    TH_RUN(t_syntax_errors);
    TH_RUN(t_encoding_errors);
    TH_RUN(t_value_errors);
    TH_RUN(t_warnings);
    TH_RUN(t_failure_leaves_conf);
    TH_RUN(t_release_keys);
    TH_RUN(t_write);
    return th_summary("t_conf");
}

TH_MAIN
