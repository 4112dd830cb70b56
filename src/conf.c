/*
** conf.c — agent.conf, a strict TOML subset (docs/design.md, Files on a host). See conf.h.
** Pure: no windows.h, no allocation.
**
** Accepted: `[section]` headers, `key = value` with bare keys, values that
** are basic strings ("..." with \" \\ \b \t \n \f \r \uXXXX \UXXXXXXXX),
** literal strings ('...', no escapes: operators write Windows paths like
** 'C:\certs\ca.pem'), decimal integers (underscores between digits, no
** leading zeros) and true/false; `#` comments, blank lines, LF or CRLF, a
** UTF-8 byte order mark. Everything this parser accepts is valid TOML, so
** operators' TOML tools read the same file. Other TOML (arrays, floats,
** dates, inline tables, multi-line strings, quoted or dotted keys) is a
** syntax error with the line number rather than a silent misreading.
**
** Unknown sections and keys are collected as warnings for the caller to
** log: a typo such as `nats-url` must not pass unnoticed, but must not
** stop an agent that was otherwise configured either.
*/
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "conf.h"
#include "scope.h"
#include "trust.h"

#define CONF_HEALTH_DEFAULT_S 120
#define CONF_HEALTH_MAX_S     86400       /* a day; longer is surely a typo */
#define CONF_KEEP_DEFAULT     14
#define CONF_KEEP_MAX         3650
#define CONF_DEFAULT_URL      "nats://127.0.0.1:4222"

enum { S_NONE = -1, S_UNKNOWN = -2, S_AGENT = 0, S_TLS, S_AUTH, S_UPDATE, S_LOG, S_COUNT };
static const char *const section_name[S_COUNT] = { "agent", "tls", "auth", "update", "log" };

/* How a known key's value is checked and stored. */
enum { KIND_STR, KIND_ID, KIND_URL, KIND_SECONDS, KIND_DAYS, KIND_LEVEL, KIND_KEYS };

typedef struct keydef {
    int section;
    const char *name;
    int kind;
    size_t off, cap;                      /* field in struct conf */
} keydef;

#define FIELD(f) offsetof(conf, f), sizeof(((conf *)0)->f)
static const keydef keys[] = {
    { S_AGENT,  "id",             KIND_ID,      FIELD(id) },
    { S_AGENT,  "nats_url",       KIND_URL,     FIELD(nats_url) },
    { S_TLS,    "ca_file",        KIND_STR,     FIELD(ca_file) },
    { S_TLS,    "cert_file",      KIND_STR,     FIELD(cert_file) },
    { S_TLS,    "key_file",       KIND_STR,     FIELD(key_file) },
    { S_AUTH,   "user",           KIND_STR,     FIELD(user) },
    { S_AUTH,   "password",       KIND_STR,     FIELD(password) },
    { S_AUTH,   "token",          KIND_STR,     FIELD(token) },
    { S_UPDATE, "health_timeout", KIND_SECONDS, FIELD(health_timeout_s) },
    { S_UPDATE, "release_keys",   KIND_KEYS,    FIELD(release_keys) },
    { S_LOG,    "level",          KIND_LEVEL,   FIELD(log_level) },
    { S_LOG,    "keep_days",      KIND_DAYS,    FIELD(keep_days) },
};
#define NKEYS ((int)(sizeof keys / sizeof keys[0]))

/* Longest string value we keep (nats_url); longer ones only for
** unknown keys, whose values are checked but dropped. */
#define CONF_VALUE_MAX 1024

/* A parsed value. Strings may hold NUL (from \u0000): use len. An array
** of strings is kept as its items joined by commas (only release_keys takes
** one, and a key never holds a comma). */
enum { VT_STR, VT_INT, VT_BOOL, VT_ARR };
typedef struct value {
    int type;
    char s[CONF_VALUE_MAX];
    size_t len;
    int over;                             /* string longer than s */
    int64_t i;
} value;

typedef struct parser {
    conf *c;
    char *err; size_t errcap;
    int line;
    int section;                          /* S_* */
    int section_line[S_COUNT];            /* where each header was, 0 = not yet */
    int key_line[NKEYS];                  /* where each key was set, 0 = not yet */
} parser;

/* One line without its end of line; i is the cursor. */
typedef struct cursor { const char *s; size_t n, i; } cursor;

void conf_defaults(conf *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->nats_url, sizeof c->nats_url, "%s", CONF_DEFAULT_URL);
    c->health_timeout_s = CONF_HEALTH_DEFAULT_S;
    snprintf(c->log_level, sizeof c->log_level, "info");
    c->keep_days = CONF_KEEP_DEFAULT;
}

/* Writes "line N: <message>" into the caller's err and returns code. */
static int fail(parser *ps, int code, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (ps->err && ps->errcap) snprintf(ps->err, ps->errcap, "line %d: %s", ps->line, msg);
    return code;
}

/* Appends "line N: <message>" to c->warnings, "; "-separated; a full
** buffer ends in "..." and drops the rest. */
static void warn(parser *ps, const char *fmt, ...)
{
    char msg[200];
    char *w = ps->c->warnings;
    size_t cap = sizeof ps->c->warnings, len = strlen(w);
    va_list ap;
    int n;
    if (len + 1 >= cap) return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    n = snprintf(w + len, cap - len, "%sline %d: %s", len ? "; " : "", ps->line, msg);
    if (n < 0 || (size_t)n >= cap - len) memcpy(w + cap - 4, "...", 4);
}

/* Printable-ASCII excerpt of s[0..n) for error messages (at most 40). */
static void excerpt(const char *s, size_t n, char out[48])
{
    size_t i;
    for (i = 0; i < n && i < 40; i++) {
        unsigned char ch = (unsigned char)s[i];
        out[i] = (ch >= 0x20 && ch < 0x7f && ch != '"') ? (char)ch : '?';
    }
    if (i < n) { memcpy(out + i, "...", 3); i += 3; }
    out[i] = 0;
}

/*
** Length of the UTF-8 sequence at s[0..n), or 0 when it is not valid
** (overlong forms, surrogates and code points past U+10FFFF included).
*/
static size_t utf8_len(const unsigned char *s, size_t n)
{
    uint32_t cp;
    size_t k, len;
    if (s[0] < 0x80) return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf) { len = 2; cp = s[0] & 0x1f; }
    else if (s[0] >= 0xe0 && s[0] <= 0xef) { len = 3; cp = s[0] & 0x0f; }
    else if (s[0] >= 0xf0 && s[0] <= 0xf4) { len = 4; cp = s[0] & 0x07; }
    else return 0;
    if (n < len) return 0;
    for (k = 1; k < len; k++) {
        if ((s[k] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (s[k] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000)) return 0;
    if ((cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) return 0;
    return len;
}

/* 0 if the line is UTF-8 without control characters (tab allowed, as in
** TOML); otherwise the error has been written. */
static int check_line(parser *ps, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char ch = (unsigned char)s[i];
        size_t k;
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
            return fail(ps, CONF_ERR_SYNTAX, "control character 0x%02x (only tab is allowed)", ch);
        k = utf8_len((const unsigned char *)s + i, n - i);
        if (k == 0) return fail(ps, CONF_ERR_SYNTAX, "invalid UTF-8 (save the file as UTF-8)");
        i += k;
    }
    return 0;
}

static int is_bare(int ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')
        || ch == '_' || ch == '-';
}

static void skip_ws(cursor *cu)
{
    while (cu->i < cu->n && (cu->s[cu->i] == ' ' || cu->s[cu->i] == '\t')) cu->i++;
}

/* 1 if only whitespace and an optional comment remain. */
static int at_end(cursor *cu)
{
    skip_ws(cu);
    return cu->i == cu->n || cu->s[cu->i] == '#';
}

/* Appends bytes to a string value, remembering when it no longer fits. */
static void emit(value *v, const char *b, size_t n)
{
    if (v->over || n > sizeof v->s - 1 - v->len) { v->over = 1; return; }
    memcpy(v->s + v->len, b, n);
    v->len += n;
    v->s[v->len] = 0;
}

static void emit_cp(value *v, uint32_t cp)
{
    char b[4];
    size_t n;
    if (cp < 0x80) { b[0] = (char)cp; n = 1; }
    else if (cp < 0x800) { b[0] = (char)(0xc0 | (cp >> 6)); b[1] = (char)(0x80 | (cp & 0x3f)); n = 2; }
    else if (cp < 0x10000) {
        b[0] = (char)(0xe0 | (cp >> 12)); b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        b[2] = (char)(0x80 | (cp & 0x3f)); n = 3;
    } else {
        b[0] = (char)(0xf0 | (cp >> 18)); b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        b[2] = (char)(0x80 | ((cp >> 6) & 0x3f)); b[3] = (char)(0x80 | (cp & 0x3f)); n = 4;
    }
    emit(v, b, n);
}

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* Parses a basic string; the cursor is on the opening quote. */
static int parse_basic(parser *ps, cursor *cu, value *v)
{
    cu->i++;
    for (;;) {
        size_t start = cu->i;
        char ch;
        while (cu->i < cu->n && cu->s[cu->i] != '"' && cu->s[cu->i] != '\\') cu->i++;
        emit(v, cu->s + start, cu->i - start);
        if (cu->i == cu->n) return fail(ps, CONF_ERR_SYNTAX, "unterminated string");
        if (cu->s[cu->i++] == '"') return 0;
        if (cu->i == cu->n) return fail(ps, CONF_ERR_SYNTAX, "unterminated string");
        ch = cu->s[cu->i++];
        switch (ch) {
        case '"': emit(v, "\"", 1); break;
        case '\\': emit(v, "\\", 1); break;
        case 'b': emit(v, "\b", 1); break;
        case 't': emit(v, "\t", 1); break;
        case 'n': emit(v, "\n", 1); break;
        case 'f': emit(v, "\f", 1); break;
        case 'r': emit(v, "\r", 1); break;
        case 'u': case 'U': {
            int digits = ch == 'u' ? 4 : 8, k;
            uint32_t cp = 0;
            for (k = 0; k < digits; k++) {
                int h = cu->i < cu->n ? hexval((unsigned char)cu->s[cu->i]) : -1;
                if (h < 0)
                    return fail(ps, CONF_ERR_SYNTAX, "\\%c needs %d hex digits", ch, digits);
                cp = (cp << 4) | (uint32_t)h;
                cu->i++;
            }
            if ((cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
                return fail(ps, CONF_ERR_SYNTAX, "\\%c escape is not a Unicode scalar value", ch);
            emit_cp(v, cp);
            break;
        }
        default:
            if ((unsigned char)ch >= 0x20 && (unsigned char)ch < 0x7f)
                return fail(ps, CONF_ERR_SYNTAX, "invalid escape \\%c in string "
                            "(write Windows paths in 'single quotes')", ch);
            return fail(ps, CONF_ERR_SYNTAX, "invalid escape in string");
        }
    }
}

/* Parses an integer: [+-]?digits with single underscores between digits,
** no leading zeros; overflow-checked. Floats, dates and hex are refused. */
static int parse_int(parser *ps, cursor *cu, const char *key, value *v)
{
    int neg = 0, digits = 0, last_us = 0;
    uint64_t u = 0, limit;
    size_t first;
    if (cu->s[cu->i] == '+' || cu->s[cu->i] == '-') neg = cu->s[cu->i++] == '-';
    first = cu->i;
    limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; cu->i < cu->n; cu->i++) {
        char ch = cu->s[cu->i];
        if (ch == '_') {
            if (digits == 0 || last_us) break;
            last_us = 1;
            continue;
        }
        if (ch < '0' || ch > '9') break;
        if (u > (limit - (uint64_t)(ch - '0')) / 10)
            return fail(ps, CONF_ERR_SYNTAX, "integer for %s is out of range", key);
        u = u * 10 + (uint64_t)(ch - '0');
        digits++;
        last_us = 0;
    }
    if (digits == 0 || last_us || (cu->i < cu->n && (is_bare((unsigned char)cu->s[cu->i])
        || cu->s[cu->i] == '.' || cu->s[cu->i] == ':' || cu->s[cu->i] == '+')))
        return fail(ps, CONF_ERR_SYNTAX, "unsupported value for %s "
                    "(use a \"string\", an integer or true/false)", key);
    if (cu->s[first] == '0' && digits > 1)
        return fail(ps, CONF_ERR_SYNTAX, "leading zeros are not allowed in integers (%s)", key);
    v->type = VT_INT;
    if (!neg) v->i = (int64_t)u;
    else v->i = u > (uint64_t)INT64_MAX ? INT64_MIN : -(int64_t)u;
    return 0;
}

/* A one-line array of basic strings: ["a", "b",] (a trailing comma is
** TOML); the cursor is on '['. */
static int parse_array(parser *ps, cursor *cu, const char *key, value *v)
{
    int items = 0;
    cu->i++;
    v->type = VT_ARR;
    for (;;) {
        skip_ws(cu);
        if (cu->i < cu->n && cu->s[cu->i] == ']') { cu->i++; return 0; }
        if (cu->i == cu->n || cu->s[cu->i] != '"')
            return fail(ps, CONF_ERR_SYNTAX, "the array of %s must hold \"strings\" on one line", key);
        if (items++) emit(v, ",", 1);
        if (parse_basic(ps, cu, v) != 0) return CONF_ERR_SYNTAX;
        skip_ws(cu);
        if (cu->i < cu->n && cu->s[cu->i] == ',') { cu->i++; continue; }
        if (cu->i < cu->n && cu->s[cu->i] == ']') { cu->i++; return 0; }
        return fail(ps, CONF_ERR_SYNTAX, "expected ',' or ']' in the array of %s", key);
    }
}

/* Parses the value at the cursor into *v (any of the supported types). */
static int parse_value(parser *ps, cursor *cu, const char *key, value *v)
{
    const char *s = cu->s + cu->i;
    size_t rest = cu->n - cu->i;
    v->type = VT_STR;
    v->len = 0;
    v->over = 0;
    v->s[0] = 0;
    if (rest == 0 || s[0] == '#')
        return fail(ps, CONF_ERR_SYNTAX, "missing value for %s", key);
    if (s[0] == '[') return parse_array(ps, cu, key, v);
    if (s[0] == '"' || s[0] == '\'') {
        if (rest >= 3 && s[1] == s[0] && s[2] == s[0])
            return fail(ps, CONF_ERR_SYNTAX, "multi-line strings are not supported (%s)", key);
        if (s[0] == '"') return parse_basic(ps, cu, v);
        {
            const char *q = memchr(s + 1, '\'', rest - 1);
            if (!q) return fail(ps, CONF_ERR_SYNTAX, "unterminated string");
            emit(v, s + 1, (size_t)(q - s - 1));
            cu->i += (size_t)(q - s) + 1;
            return 0;
        }
    }
    if (rest >= 4 && memcmp(s, "true", 4) == 0 && (rest == 4 || !is_bare((unsigned char)s[4]))) {
        v->type = VT_BOOL; v->i = 1; cu->i += 4; return 0;
    }
    if (rest >= 5 && memcmp(s, "false", 5) == 0 && (rest == 5 || !is_bare((unsigned char)s[5]))) {
        v->type = VT_BOOL; v->i = 0; cu->i += 5; return 0;
    }
    if ((s[0] >= '0' && s[0] <= '9') || s[0] == '+' || s[0] == '-')
        return parse_int(ps, cu, key, v);
    return fail(ps, CONF_ERR_SYNTAX, "unsupported value for %s "
                "(use a \"string\", an integer or true/false)", key);
}

static const char *type_name(int t)
{
    return t == VT_STR ? "a string" : t == VT_INT ? "an integer" : t == VT_ARR ? "an array" : "a boolean";
}

/* Checks and stores the value of known key k into the conf. */
static int store(parser *ps, int k, const value *v)
{
    const keydef *kd = &keys[k];
    char full[32], ex[48];
    char *dst = (char *)ps->c + kd->off;
    size_t i;

    snprintf(full, sizeof full, "%s.%s", section_name[kd->section], kd->name);
    if (kd->kind == KIND_SECONDS) {
        int64_t ms;
        if (v->type == VT_INT)
            ms = v->i >= 0 && v->i <= CONF_HEALTH_MAX_S ? v->i * 1000 : -1;
        else if (v->type != VT_STR || v->over || strlen(v->s) != v->len
                 || scope_parse_duration(v->s, &ms) != SCOPE_OK)
            return fail(ps, CONF_ERR_VALUE, "%s must be seconds (120) or a duration (\"2m\")", full);
        if (ms < 1000 || ms > (int64_t)CONF_HEALTH_MAX_S * 1000)
            return fail(ps, CONF_ERR_VALUE, "%s must be between 1s and 24h", full);
        *(int *)(void *)dst = (int)(ms / 1000);
        return 0;
    }
    if (kd->kind == KIND_DAYS) {
        if (v->type != VT_INT)
            return fail(ps, CONF_ERR_VALUE, "%s must be an integer, not %s", full, type_name(v->type));
        if (v->i < 0 || v->i > CONF_KEEP_MAX)
            return fail(ps, CONF_ERR_VALUE, "%s must be between 0 and %d", full, CONF_KEEP_MAX);
        *(int *)(void *)dst = (int)v->i;
        return 0;
    }
    if (kd->kind == KIND_KEYS) {
        sig_pub k[SIG_MAX_KEYS];
        char why[160];
        int n = 0;
        /* A string with comma-separated keys is taken too. */
        if ((v->type != VT_ARR && v->type != VT_STR) || v->over || strlen(v->s) != v->len)
            return fail(ps, CONF_ERR_VALUE, "%s must be [\"P256:...\", ...]", full);
        if (trust_parse_keys(v->s, k, SIG_MAX_KEYS, &n, why, sizeof why) != TRUST_OK)
            return fail(ps, CONF_ERR_VALUE, "%s: %s", full, why);
        /* Kept normalised: each key once, "P256:a,P256:b" (4 keys fit). */
        dst[0] = 0;
        for (i = 0; i < (size_t)n; i++) {
            size_t at = strlen(dst);
            if (i) dst[at++] = ',';
            sig_pub_format(&k[i], dst + at, kd->cap - at);
        }
        return 0;
    }
    if (v->type != VT_STR)
        return fail(ps, CONF_ERR_VALUE, "%s must be a string, not %s", full, type_name(v->type));
    if (v->over || v->len >= kd->cap)
        return fail(ps, CONF_ERR_VALUE, "%s is longer than %u bytes", full, (unsigned)(kd->cap - 1));
    for (i = 0; i < v->len; i++)
        if ((unsigned char)v->s[i] < 0x20 || v->s[i] == 0x7f)
            return fail(ps, CONF_ERR_VALUE, "%s contains a control character", full);
    excerpt(v->s, v->len, ex);
    switch (kd->kind) {
    case KIND_ID:
        if (!scope_valid_id(v->s))
            return fail(ps, CONF_ERR_VALUE, "%s \"%s\" is not a valid pc id: use 1-64 of A-Z a-z "
                        "0-9 _ - (or leave id out to use the computer name)", full, ex);
        break;
    case KIND_URL:
        if (v->len == 0)
            return fail(ps, CONF_ERR_VALUE, "%s is empty (e.g. \"nats://broker:4222\")", full);
        break;
    case KIND_LEVEL: {
        static const char *const levels[] = { "error", "warn", "info", "debug", "warning" };
        char low[16];
        size_t j;
        for (j = 0; j < v->len && j < sizeof low - 1; j++)
            low[j] = (char)(v->s[j] >= 'A' && v->s[j] <= 'Z' ? v->s[j] - 'A' + 'a' : v->s[j]);
        low[j] = 0;
        for (j = 0; j < 5 && strcmp(low, levels[j]) != 0; j++) {}
        if (j == 5 || v->len != strlen(low))
            return fail(ps, CONF_ERR_VALUE, "%s \"%s\" must be error, warn, info or debug", full, ex);
        snprintf(dst, kd->cap, "%s", levels[j == 4 ? 1 : j]);
        return 0;
    }
    default:
        break;
    }
    memcpy(dst, v->s, v->len + 1);
    return 0;
}

/* Handles a `[section]` line; the cursor is on '['. */
static int parse_section(parser *ps, cursor *cu)
{
    size_t start, end, k;
    char name[64];
    int s;
    cu->i++;
    if (cu->i < cu->n && cu->s[cu->i] == '[')
        return fail(ps, CONF_ERR_SYNTAX, "arrays of tables ([[...]]) are not supported");
    skip_ws(cu);
    start = cu->i;
    while (cu->i < cu->n && (is_bare((unsigned char)cu->s[cu->i]) || cu->s[cu->i] == '.')) cu->i++;
    end = cu->i;
    skip_ws(cu);
    if (end == start || cu->i == cu->n || cu->s[cu->i] != ']')
        return fail(ps, CONF_ERR_SYNTAX, "expected a section name like [agent]");
    for (k = start; k < end; k++)           /* dotted names: a.b, not .a, a. or a..b */
        if (cu->s[k] == '.' && (k == start || k + 1 == end || cu->s[k + 1] == '.'))
            return fail(ps, CONF_ERR_SYNTAX, "expected a section name like [agent]");
    cu->i++;
    if (!at_end(cu)) return fail(ps, CONF_ERR_SYNTAX, "unexpected text after the section header");
    excerpt(cu->s + start, end - start, name);
    for (s = 0; s < S_COUNT; s++)
        if (strlen(section_name[s]) == end - start
            && memcmp(section_name[s], cu->s + start, end - start) == 0)
            break;
    if (s == S_COUNT) {
        warn(ps, "unknown section [%s], ignored", name);
        ps->section = S_UNKNOWN;
        return 0;
    }
    if (ps->section_line[s])
        return fail(ps, CONF_ERR_SYNTAX, "section [%s] appears twice (first on line %d)",
                    name, ps->section_line[s]);
    ps->section_line[s] = ps->line;
    ps->section = s;
    return 0;
}

/* Handles one line (without its end of line). */
static int parse_line(parser *ps, const char *s, size_t n)
{
    cursor cu;
    size_t kstart, kend;
    char key[64];
    value v;
    int rc, k;

    if ((rc = check_line(ps, s, n)) != 0) return rc;
    cu.s = s; cu.n = n; cu.i = 0;
    if (at_end(&cu)) return 0;
    if (s[cu.i] == '[') return parse_section(ps, &cu);
    if (s[cu.i] == '"' || s[cu.i] == '\'')
        return fail(ps, CONF_ERR_SYNTAX, "quoted keys are not supported");
    kstart = cu.i;
    while (cu.i < n && is_bare((unsigned char)s[cu.i])) cu.i++;
    kend = cu.i;
    if (kend == kstart) return fail(ps, CONF_ERR_SYNTAX, "expected a key or a [section]");
    excerpt(s + kstart, kend - kstart, key);
    skip_ws(&cu);
    if (cu.i < n && s[cu.i] == '.')
        return fail(ps, CONF_ERR_SYNTAX, "dotted keys are not supported");
    if (cu.i == n || s[cu.i] != '=') return fail(ps, CONF_ERR_SYNTAX, "expected '=' after key");
    cu.i++;
    skip_ws(&cu);
    if ((rc = parse_value(ps, &cu, key, &v)) != 0) return rc;
    if (!at_end(&cu)) return fail(ps, CONF_ERR_SYNTAX, "unexpected text after the value of %s", key);

    if (ps->section == S_UNKNOWN) return 0;    /* already reported once */
    if (ps->section == S_NONE) {
        warn(ps, "key %s outside any section, ignored", key);
        return 0;
    }
    for (k = 0; k < NKEYS; k++)
        if (keys[k].section == ps->section && strlen(keys[k].name) == kend - kstart
            && memcmp(keys[k].name, s + kstart, kend - kstart) == 0)
            break;
    if (k == NKEYS) {
        warn(ps, "unknown key %s.%s, ignored", section_name[ps->section], key);
        return 0;
    }
    if (ps->key_line[k])
        return fail(ps, CONF_ERR_SYNTAX, "duplicate key %s.%s (first set on line %d)",
                    section_name[ps->section], key, ps->key_line[k]);
    ps->key_line[k] = ps->line;
    return store(ps, k, &v);
}

/*
** See conf.h. Parses into a copy of *c and copies it back only on success,
** so a bad file leaves *c as it was. c->warnings is replaced by this
** file's warnings. Returns CONF_OK, CONF_ERR_SYNTAX or CONF_ERR_VALUE with
** "line N: ..." in err (err may be NULL).
*/
int conf_parse(const char *text, size_t len, conf *c, char *err, size_t errcap)
{
    parser ps;
    conf t;
    const char *p, *end;
    if (err && errcap) err[0] = 0;
    if (!c) return CONF_ERR_VALUE;
    if (!text) len = 0;
    t = *c;
    t.warnings[0] = 0;
    memset(&ps, 0, sizeof ps);
    ps.c = &t;
    ps.err = err;
    ps.errcap = errcap;
    ps.section = S_NONE;
    ps.line = 1;
    p = text;
    end = text + len;
    if (len >= 2 && (((unsigned char)p[0] == 0xff && (unsigned char)p[1] == 0xfe)
                     || ((unsigned char)p[0] == 0xfe && (unsigned char)p[1] == 0xff)))
        return fail(&ps, CONF_ERR_SYNTAX, "the file is UTF-16; save it as UTF-8");
    if (len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0) p += 3;
    for (; p < end; ps.line++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = (size_t)((nl ? nl : end) - p);
        int rc;
        if (n > 0 && p[n - 1] == '\r') n--;
        if ((rc = parse_line(&ps, p, n)) != 0) return rc;
        if (!nl) break;
        p = nl + 1;
    }
    *c = t;
    return CONF_OK;
}

/* ---- writing ------------------------------------------------------------ */

typedef struct wbuf { char *buf; size_t cap, len; int err; } wbuf;

static void wput(wbuf *w, const char *fmt, ...)
{
    va_list ap;
    int n;
    if (w->err) return;
    va_start(ap, fmt);
    n = vsnprintf(w->buf + w->len, w->cap - w->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= w->cap - w->len) { w->err = CONF_ERR_SPACE; return; }
    w->len += (size_t)n;
}

/* 1 if s is valid UTF-8. */
static int valid_utf8(const char *s)
{
    size_t n = strlen(s), i = 0;
    while (i < n) {
        size_t k = utf8_len((const unsigned char *)s + i, n - i);
        if (!k) return 0;
        i += k;
    }
    return 1;
}

/*
** Writes `name = <value>` as a TOML string: a literal '...' string when the
** value has a backslash but no single quote (Windows paths stay readable),
** else a basic "..." string with \" and \\ escaped. An empty value is
** written as a commented-out example so the operator sees the key.
** Control characters and invalid UTF-8 set CONF_ERR_VALUE: conf_parse
** refuses them, so writing them would make a file the agent cannot read.
*/
static void put_str(wbuf *w, const char *name, const char *val, const char *example)
{
    const char *p;
    if (!val[0]) {
        if (example) wput(w, "# %s = %s\n", name, example);
        return;
    }
    for (p = val; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) break;
    if (*p || !valid_utf8(val)) { if (!w->err) w->err = CONF_ERR_VALUE; return; }
    if (strchr(val, '\\') && !strchr(val, '\'')) { wput(w, "%s = '%s'\n", name, val); return; }
    wput(w, "%s = \"", name);
    for (p = val; *p; p++) {
        if (*p == '"' || *p == '\\') wput(w, "\\%c", *p);
        else wput(w, "%c", *p);
    }
    wput(w, "\"\n");
}

/*
** release_keys as an array, one key per item; none written as a commented
** example. A list conf_parse would refuse sets CONF_ERR_VALUE.
*/
static void put_keys(wbuf *w, const char *list)
{
    sig_pub k[SIG_MAX_KEYS];
    char s[SIG_PUBSTR_MAX];
    int n = 0, i;
    if (trust_parse_keys(list, k, SIG_MAX_KEYS, &n, NULL, 0) != TRUST_OK) { if (!w->err) w->err = CONF_ERR_VALUE; return; }
    if (n == 0) {
        wput(w, "# release_keys = [\"P256:...\"]    (none: unsigned releases and targets are accepted)\n");
        return;
    }
    wput(w, "release_keys = [");
    for (i = 0; i < n; i++) {
        if (sig_pub_format(&k[i], s, sizeof s) != SIG_OK) { if (!w->err) w->err = CONF_ERR_VALUE; return; }
        wput(w, "%s\"%s\"", i ? ", " : "", s);
    }
    wput(w, "]\n");
}

/*
** See conf.h. Writes a complete agent.conf for c into out (cap bytes,
** NUL-terminated). Returns CONF_OK; CONF_ERR_VALUE when c holds something
** conf_parse would refuse (invalid id, bad level, out-of-range numbers,
** invalid UTF-8); CONF_ERR_SPACE when out is too small. On error out is "".
*/
int conf_write(const conf *c, char *out, size_t cap)
{
    wbuf w;
    int j, level_ok = 0;
    static const char *const levels[] = { "error", "warn", "info", "debug" };
    if (!c || !out || cap == 0) return CONF_ERR_SPACE;
    w.buf = out; w.cap = cap; w.len = 0; w.err = 0;
    out[0] = 0;
    for (j = 0; j < NKEYS; j++)             /* every string must be terminated in its field */
        if (keys[j].kind != KIND_SECONDS && keys[j].kind != KIND_DAYS
            && !memchr((const char *)c + keys[j].off, 0, keys[j].cap))
            return CONF_ERR_VALUE;
    for (j = 0; j < 4; j++) if (strcmp(c->log_level, levels[j]) == 0) level_ok = 1;
    if ((c->id[0] && !scope_valid_id(c->id)) || !c->nats_url[0] || !level_ok
        || c->health_timeout_s < 1 || c->health_timeout_s > CONF_HEALTH_MAX_S
        || c->keep_days < 0 || c->keep_days > CONF_KEEP_MAX)
        return CONF_ERR_VALUE;

    wput(&w, "# Kanade agent configuration (TOML). Paths may be written as 'C:\\dir\\file'.\n"
             "[agent]\n");
    put_str(&w, "id", c->id, "\"pc-01\"    (default: the computer name)");
    put_str(&w, "nats_url", c->nats_url, NULL);
    wput(&w, "\n[tls]\n");
    put_str(&w, "ca_file", c->ca_file, "'C:\\ProgramData\\Kanade\\config\\ca.pem'");
    put_str(&w, "cert_file", c->cert_file, "'C:\\ProgramData\\Kanade\\config\\agent.pem'");
    put_str(&w, "key_file", c->key_file, "'C:\\ProgramData\\Kanade\\config\\agent.key'");
    wput(&w, "\n[auth]\n");
    put_str(&w, "user", c->user, "\"agent\"");
    put_str(&w, "password", c->password, "\"secret\"");
    put_str(&w, "token", c->token, "\"token\"");
    wput(&w, "\n[update]\nhealth_timeout = %d\n", c->health_timeout_s);
    put_keys(&w, c->release_keys);
    wput(&w, "\n[log]\nlevel = \"%s\"\nkeep_days = %d\n", c->log_level, c->keep_days);
    if (w.err) { out[0] = 0; return w.err; }
    return CONF_OK;
}
