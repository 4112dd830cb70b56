/*
** scope.c — identifiers, durations, and the layered resolution of the
** agent_config scopes (docs/design.md, Wire contract). See scope.h. Pure: no windows.h, no
** allocation; every buffer is the caller's or on the stack.
**
** Scope values are small JSON objects written by `kanade agent rollout`
** and, possibly, by other tools (the original Rust CLI, nats.js scripts).
** So: every field is optional, unknown fields are left alone, `null` means
** "this layer does not set the field", and one bad value or one bad layer
** never hides the good ones.
*/
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "scope.h"
#include "json.h"

/* Tokens per document. Scope and groups documents hold a handful of
** fields; a document needing more than this is refused as malformed. */
#define SCOPE_TOKENS 1024

/* Shortest heartbeat we accept: a 0s interval would spin the agent. */
#define SCOPE_HEARTBEAT_MIN_MS 1000
#define SCOPE_HEARTBEAT_DEFAULT_MS 30000

static int is_alnum(int c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static int is_ws(int c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

/* 1 if s is a pc id or group name: [A-Za-z0-9_-]{1,64}. */
int scope_valid_id(const char *s)
{
    size_t n;
    if (!s) return 0;
    for (n = 0; s[n]; n++) {
        int c = (unsigned char)s[n];
        if (n >= SCOPE_ID_MAX || !(is_alnum(c) || c == '_' || c == '-')) return 0;
    }
    return n > 0;
}

/* 1 if s is a version: [0-9A-Za-z][0-9A-Za-z._+-]{0,63} without "..".
** Versions become object names and file names, so nothing else passes. */
int scope_valid_version(const char *s)
{
    size_t n;
    if (!s || !is_alnum((unsigned char)s[0])) return 0;
    for (n = 1; s[n]; n++) {
        int c = (unsigned char)s[n];
        if (n >= SCOPE_VERSION_MAX) return 0;
        if (!(is_alnum(c) || c == '.' || c == '_' || c == '+' || c == '-')) return 0;
        if (c == '.' && s[n - 1] == '.') return 0;
    }
    return 1;
}

/*
** Parses "1h30m"-style durations into *ms: one or more <digits><unit>
** groups, units h, m, s in that order and each at most once. No signs,
** spaces, fractions or other units. Returns SCOPE_OK, or SCOPE_ERR_INVALID
** (also when the total does not fit in int64 milliseconds); *ms is only
** written on success.
*/
int scope_parse_duration(const char *s, int64_t *ms)
{
    static const char units[3] = { 'h', 'm', 's' };
    static const int64_t unit_ms[3] = { 3600000, 60000, 1000 };
    int64_t total = 0;
    int next = 0;                       /* first unit still allowed */
    const char *p = s;

    if (!s || !*s) return SCOPE_ERR_INVALID;
    while (*p) {
        int64_t v = 0;
        int digits = 0, u;
        for (; *p >= '0' && *p <= '9'; p++, digits++) {
            int d = *p - '0';
            if (v > (INT64_MAX - d) / 10) return SCOPE_ERR_INVALID;
            v = v * 10 + d;
        }
        if (digits == 0) return SCOPE_ERR_INVALID;
        /* A unit before `next` is a repeat or out of order. */
        for (u = next; u < 3 && units[u] != *p; u++) {}
        if (u == 3) return SCOPE_ERR_INVALID;
        if (v > INT64_MAX / unit_ms[u]) return SCOPE_ERR_INVALID;
        v *= unit_ms[u];
        if (total > INT64_MAX - v) return SCOPE_ERR_INVALID;
        total += v;
        next = u + 1;
        p++;
    }
    if (ms) *ms = total;
    return SCOPE_OK;
}

/*
** Formats ms as the shortest "1h30m" / "45s" / "0s" form that
** scope_parse_duration reads back. Sub-second remainders are dropped
** (durations in scopes are whole seconds). Negative -> SCOPE_ERR_INVALID;
** a too small buffer -> SCOPE_ERR_SPACE with out set to "".
*/
int scope_format_duration(int64_t ms, char *out, size_t cap)
{
    char buf[64];
    int64_t sec, h, m;
    int n = 0;
    if (!out || cap == 0) return SCOPE_ERR_SPACE;
    out[0] = 0;
    if (ms < 0) return SCOPE_ERR_INVALID;
    sec = ms / 1000;
    h = sec / 3600;
    m = (sec / 60) % 60;
    sec %= 60;
    if (h) n += snprintf(buf + n, sizeof buf - (size_t)n, "%lldh", (long long)h);
    if (m) n += snprintf(buf + n, sizeof buf - (size_t)n, "%lldm", (long long)m);
    if (sec || n == 0) n += snprintf(buf + n, sizeof buf - (size_t)n, "%llds", (long long)sec);
    if ((size_t)n >= cap) return SCOPE_ERR_SPACE;
    memcpy(out, buf, (size_t)n + 1);
    return SCOPE_OK;
}

/*
** Appends "; " (unless buf is empty) and the formatted text to the
** NUL-terminated report in buf. A report that does not fit ends in "...";
** later notes are then dropped.
*/
static void note(char *buf, size_t cap, const char *fmt, ...)
{
    char tmp[256];
    size_t len = strlen(buf);
    va_list ap;
    int n;
    if (len + 1 >= cap) return;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    n = snprintf(buf + len, cap - len, "%s%s", len ? "; " : "", tmp);
    if ((n < 0 || (size_t)n >= cap - len) && cap >= 4)
        memcpy(buf + cap - 4, "...", 4);
}

/* Copies at most 32 bytes of s for quoting in a report, with anything but
** printable ASCII (and the quote itself) shown as '?'. */
static void excerpt(const char *s, char out[40])
{
    size_t i;
    for (i = 0; s[i] && i < 32; i++) {
        unsigned char c = (unsigned char)s[i];
        out[i] = (c >= 0x20 && c < 0x7f && c != '"') ? (char)c : '?';
    }
    if (s[i]) { memcpy(out + i, "...", 3); i += 3; }
    out[i] = 0;
}

/*
** Parses js[0..len) as exactly one JSON object (surrounding whitespace
** allowed) into the caller's tokens. Blank text counts as an empty object
** (d->ntok = 0). Returns SCOPE_OK or SCOPE_ERR_JSON.
*/
static int parse_object(json_doc *d, const char *js, size_t len, json_tok *tok, int cap)
{
    size_t k;
    if (!js) len = 0;
    for (k = 0; k < len && is_ws((unsigned char)js[k]); k++) {}
    if (k == len) {
        d->js = js ? js : "";
        d->len = 0;
        d->tok = tok;
        d->ntok = 0;
        return SCOPE_OK;
    }
    if (json_parse(d, js, len, tok, cap) != JSON_OK) return SCOPE_ERR_JSON;
    if (d->ntok < 1 || tok[0].type != JSON_OBJECT) return SCOPE_ERR_JSON;
    if (json_skip(d, 0) != d->ntok) return SCOPE_ERR_JSON;   /* a second value */
    for (k = 0; k < (size_t)tok[0].start; k++)
        if (!is_ws((unsigned char)js[k])) return SCOPE_ERR_JSON;
    for (k = (size_t)tok[0].end; k < len; k++)
        if (!is_ws((unsigned char)js[k])) return SCOPE_ERR_JSON;
    return SCOPE_OK;
}

/* ---- resolution --------------------------------------------------------- */

enum { F_TARGET, F_JITTER, F_HEARTBEAT, F_COUNT };
static const char *const field_name[F_COUNT] = {
    "target_version", "target_version_jitter", "heartbeat_interval"
};

/* What one layer says about one field. */
enum { V_ABSENT, V_NULL, V_SET, V_BAD };

typedef struct fval {
    char str[SCOPE_VERSION_MAX + 1];    /* F_TARGET */
    int64_t ms;                         /* durations */
} fval;

/* The resolution in progress: current value and the key that supplied
** it, per field, and whether that key was a group (for conflicts). */
typedef struct resolver {
    scope_result *out;
    fval cur[F_COUNT];
    char from[F_COUNT][80];
    int by_group[F_COUNT];
} resolver;

/*
** Reads field f of the object at token 0 into *v. Returns V_ABSENT,
** V_NULL, V_SET, or V_BAD after noting why in out->errors.
*/
static int read_field(const json_doc *d, const char *key, int f, fval *v, scope_result *out)
{
    char s[128], ex[40];
    int i;
    if (d->ntok == 0) return V_ABSENT;
    i = json_find(d, 0, field_name[f]);
    if (i < 0) return V_ABSENT;
    if (d->tok[i].type == JSON_PRIMITIVE && json_tok_eq(d, i, "null")) return V_NULL;
    if (d->tok[i].type != JSON_STRING) {
        note(out->errors, sizeof out->errors, "%s: %s is not a string", key, field_name[f]);
        return V_BAD;
    }
    if (json_tok_str(d, i, s, sizeof s) != JSON_OK) {
        note(out->errors, sizeof out->errors, "%s: %s is too long or badly escaped",
             key, field_name[f]);
        return V_BAD;
    }
    if (f == F_TARGET) {
        if (!scope_valid_version(s)) {
            excerpt(s, ex);
            note(out->errors, sizeof out->errors, "%s: target_version \"%s\" is not a valid version",
                 key, ex);
            return V_BAD;
        }
        memcpy(v->str, s, strlen(s) + 1);
    } else if (scope_parse_duration(s, &v->ms) != SCOPE_OK) {
        excerpt(s, ex);
        note(out->errors, sizeof out->errors, "%s: %s \"%s\" is not a duration like 30s, 5m, 1h30m",
             key, field_name[f], ex);
        return V_BAD;
    }
    return V_SET;
}

static int same_value(int f, const fval *a, const fval *b)
{
    return f == F_TARGET ? strcmp(a->str, b->str) == 0 : a->ms == b->ms;
}

/* Applies one layer (key, JSON text) on top of the resolution so far. */
static void apply_layer(resolver *r, const char *key, const char *js, size_t len, int is_group)
{
    json_tok tok[SCOPE_TOKENS];
    json_doc d;
    int f;
    if (parse_object(&d, js, len, tok, SCOPE_TOKENS) != SCOPE_OK) {
        note(r->out->errors, sizeof r->out->errors, "%s: not a JSON object, ignored", key);
        return;
    }
    for (f = 0; f < F_COUNT; f++) {
        fval v;
        if (read_field(&d, key, f, &v, r->out) != V_SET) continue;
        if (is_group && r->by_group[f] && strcmp(r->from[f], key) != 0
            && !same_value(f, &r->cur[f], &v))
            note(r->out->conflicts, sizeof r->out->conflicts, "%s: %s vs %s",
                 field_name[f], r->from[f], key);
        r->cur[f] = v;
        snprintf(r->from[f], sizeof r->from[f], "%s", key);
        r->by_group[f] = is_group;
    }
}

/* Applies every layer whose key equals `key` (normally one). */
static void apply_key(resolver *r, const scope_layer *layers, int nlayers, const char *key,
                      int is_group)
{
    int i;
    for (i = 0; i < nlayers; i++)
        if (layers[i].key && strcmp(layers[i].key, key) == 0)
            apply_layer(r, key, layers[i].json, layers[i].json ? layers[i].len : 0, is_group);
}

/*
** See scope.h. Groups are applied in strcmp order whatever order the caller
** gives them in; duplicates and invalid names in `groups` are skipped. Two
** groups conflict when both set a field to different values (equal values,
** e.g. "5m" and "300s", are not a conflict). Returns SCOPE_OK with *out
** filled (problems in layers are reported in out->errors, not as a status),
** or SCOPE_ERR_INVALID for a missing or invalid pc_id, with *out holding
** the defaults.
*/
int scope_resolve(const scope_layer *layers, int nlayers, const char *pc_id,
                  char groups[][SCOPE_ID_MAX + 1], int ngroups, scope_result *out)
{
    resolver r;
    int order[SCOPE_MAX_GROUPS];
    int n = 0, i, j;
    char key[80];

    if (!out) return SCOPE_ERR_INVALID;
    memset(out, 0, sizeof *out);
    out->heartbeat_ms = SCOPE_HEARTBEAT_DEFAULT_MS;
    if (!pc_id || !scope_valid_id(pc_id)) return SCOPE_ERR_INVALID;
    if (!layers) nlayers = 0;

    memset(&r, 0, sizeof r);
    r.out = out;
    r.cur[F_JITTER].ms = 0;                        /* no jitter by default */
    r.cur[F_HEARTBEAT].ms = SCOPE_HEARTBEAT_DEFAULT_MS;

    apply_key(&r, layers, nlayers, "global", 0);

    /* Sort the valid, distinct group names (insertion sort of indices). */
    for (i = 0; groups && i < ngroups && n < SCOPE_MAX_GROUPS; i++) {
        int dup = 0;
        if (!scope_valid_id(groups[i])) continue;
        for (j = 0; j < n; j++)
            if (strcmp(groups[order[j]], groups[i]) == 0) dup = 1;
        if (dup) continue;
        for (j = n; j > 0 && strcmp(groups[order[j - 1]], groups[i]) > 0; j--)
            order[j] = order[j - 1];
        order[j] = i;
        n++;
    }
    for (i = 0; i < n; i++) {
        snprintf(key, sizeof key, "groups.%s", groups[order[i]]);
        apply_key(&r, layers, nlayers, key, 1);
    }

    snprintf(key, sizeof key, "pcs.%s", pc_id);
    apply_key(&r, layers, nlayers, key, 0);

    memcpy(out->target_version, r.cur[F_TARGET].str, sizeof out->target_version);
    memcpy(out->target_scope, r.from[F_TARGET], sizeof out->target_scope);
    out->jitter_ms = r.cur[F_JITTER].ms;
    memcpy(out->jitter_scope, r.from[F_JITTER], sizeof out->jitter_scope);
    out->heartbeat_ms = r.cur[F_HEARTBEAT].ms;
    if (out->heartbeat_ms < SCOPE_HEARTBEAT_MIN_MS) out->heartbeat_ms = SCOPE_HEARTBEAT_MIN_MS;
    return SCOPE_OK;
}

/* ---- agent_groups ------------------------------------------------------- */

/*
** Inserts name into the sorted list groups[0..*n) unless present. When the
** list is full, the alphabetically last name is dropped (possibly `name`
** itself) and 1 is returned; otherwise 0.
*/
static int insert_sorted(char groups[][SCOPE_ID_MAX + 1], int *n, int cap, const char *name)
{
    int i, pos = 0;
    while (pos < *n && strcmp(groups[pos], name) < 0) pos++;
    if (pos < *n && strcmp(groups[pos], name) == 0) return 0;
    if (pos >= cap) return 1;
    i = *n < cap ? *n : cap - 1;
    for (; i > pos; i--) memcpy(groups[i], groups[i - 1], SCOPE_ID_MAX + 1);
    memcpy(groups[pos], name, strlen(name) + 1);
    if (*n < cap) { (*n)++; return 0; }
    return 1;
}

/*
** See scope.h. A missing or null "groups" is no groups (SCOPE_OK); a
** non-array "groups" or a document that is not one JSON object is
** SCOPE_ERR_JSON. Entries that are not strings or not valid names are
** dropped. More distinct names than cap: the first cap in sorted order
** are kept and SCOPE_ERR_SPACE is returned.
*/
int scope_parse_groups(const char *json, size_t len,
                       char groups[][SCOPE_ID_MAX + 1], int cap, int *n)
{
    json_tok tok[SCOPE_TOKENS];
    json_doc d;
    int arr, i, k, rc = SCOPE_OK;

    if (!n) return SCOPE_ERR_INVALID;
    *n = 0;
    if (!groups) cap = 0;
    if (parse_object(&d, json, len, tok, SCOPE_TOKENS) != SCOPE_OK) return SCOPE_ERR_JSON;
    if (d.ntok == 0) return SCOPE_OK;
    arr = json_find(&d, 0, "groups");
    if (arr < 0 || (tok[arr].type == JSON_PRIMITIVE && json_tok_eq(&d, arr, "null")))
        return SCOPE_OK;
    if (tok[arr].type != JSON_ARRAY) return SCOPE_ERR_JSON;
    for (k = 0, i = arr + 1; k < tok[arr].size && i < d.ntok; k++, i = json_skip(&d, i)) {
        char name[SCOPE_ID_MAX + 1];
        if (tok[i].type != JSON_STRING || json_tok_str(&d, i, name, sizeof name) != JSON_OK
            || !scope_valid_id(name))
            continue;
        if (insert_sorted(groups, n, cap, name)) rc = SCOPE_ERR_SPACE;
    }
    return rc;
}

/*
** See scope.h. Invalid names are left out; the input array is not
** modified (names are emitted by repeated minimum selection, n <= a few
** dozen). Returns SCOPE_OK or SCOPE_ERR_SPACE.
*/
int scope_write_groups(char groups[][SCOPE_ID_MAX + 1], int n, char *out, size_t cap)
{
    json_w w;
    const char *last = NULL;
    if (!out || cap == 0) return SCOPE_ERR_SPACE;
    if (!groups) n = 0;
    json_w_init(&w, out, cap);
    json_w_obj_open(&w);
    json_w_key(&w, "groups");
    json_w_arr_open(&w);
    for (;;) {
        const char *next = NULL;
        int i;
        for (i = 0; i < n; i++) {
            if (!scope_valid_id(groups[i])) continue;
            if (last && strcmp(groups[i], last) <= 0) continue;
            if (!next || strcmp(groups[i], next) < 0) next = groups[i];
        }
        if (!next) break;
        json_w_str(&w, next);
        last = next;
    }
    json_w_arr_close(&w);
    json_w_obj_close(&w);
    return w.err ? SCOPE_ERR_SPACE : SCOPE_OK;
}

/* ---- rewriting one field ------------------------------------------------ */

/* Output cursor over the caller's buffer; keeps room for the NUL. */
typedef struct obuf { char *buf; size_t cap, len; int err; } obuf;

static void put(obuf *o, const char *s, size_t n)
{
    if (o->err) return;
    if (n >= o->cap - o->len) { o->err = 1; return; }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = 0;
}

/* Appends s as an escaped JSON string, or null when s is NULL. */
static void put_json_str(obuf *o, const char *s)
{
    json_w w;
    if (o->err) return;
    if (!s) { put(o, "null", 4); return; }
    json_w_init(&w, o->buf + o->len, o->cap - o->len);
    json_w_str(&w, s);
    if (w.err || w.len >= o->cap - o->len) { o->err = 1; return; }
    o->len += w.len;
}

/* 1 if the (string) key token i, unescaped, equals key. */
static int key_is(const json_doc *d, int i, const char *key)
{
    char buf[256];
    if (strlen(key) >= sizeof buf) return json_tok_eq(d, i, key);
    if (json_tok_str(d, i, buf, sizeof buf) != JSON_OK) return 0;
    return strcmp(buf, key) == 0;
}

/* Token i's text span, with the quotes for a string. */
static size_t tok_begin(const json_tok *t) { return (size_t)t->start - (t->type == JSON_STRING); }
static size_t tok_end(const json_tok *t) { return (size_t)t->end + (t->type == JSON_STRING); }

/*
** See scope.h. Every occurrence of `key` at the top level has its value
** replaced in place; if there is none, `"key":value` is added after the
** last member. All other bytes (other members, nested values, spacing)
** are copied unchanged, so a compare-and-set rewrite never loses fields
** this program does not know. Returns SCOPE_OK; SCOPE_ERR_JSON when json
** is not one JSON object; SCOPE_ERR_SPACE when out is too small (out is
** then ""); SCOPE_ERR_INVALID for a missing key or buffer.
*/
/* Writes the value of scope_set_field / scope_set_raw: a JSON string (or
** null), or raw JSON text as given. */
static void put_value(obuf *o, const char *value, int raw)
{
    if (raw) put(o, value, strlen(value));
    else put_json_str(o, value);
}

static int set_field(const char *json, size_t len, const char *key, const char *value, int raw,
                     char *out, size_t cap)
{
    json_tok tok[SCOPE_TOKENS];
    json_doc d;
    obuf o;
    size_t pos = 0, at;
    int i, k, found = 0;

    if (!key || !out || cap == 0) return SCOPE_ERR_INVALID;
    out[0] = 0;
    o.buf = out; o.cap = cap; o.len = 0; o.err = 0;
    if (!json) len = 0;
    if (parse_object(&d, json, len, tok, SCOPE_TOKENS) != SCOPE_OK) return SCOPE_ERR_JSON;

    if (d.ntok == 0) {
        put(&o, "{", 1);
        put_json_str(&o, key);
        put(&o, ":", 1);
        put_value(&o, value, raw);
        put(&o, "}", 1);
    } else {
        at = (size_t)tok[0].start + 1;          /* just after '{' */
        for (k = 0, i = 1; k < tok[0].size; k++) {
            if (i + 1 >= d.ntok || tok[i].type != JSON_STRING) return SCOPE_ERR_JSON;
            if (key_is(&d, i, key)) {
                put(&o, json + pos, tok_begin(&tok[i + 1]) - pos);
                put_value(&o, value, raw);
                pos = tok_end(&tok[i + 1]);
                found = 1;
            }
            at = tok_end(&tok[i + 1]);
            i = json_skip(&d, i + 1);
        }
        if (!found) {
            put(&o, json + pos, at - pos);
            if (tok[0].size > 0) put(&o, ",", 1);
            put_json_str(&o, key);
            put(&o, ":", 1);
            put_value(&o, value, raw);
            pos = at;
        }
        put(&o, json + pos, len - pos);
    }
    if (o.err) { out[0] = 0; return SCOPE_ERR_SPACE; }
    return SCOPE_OK;
}

/* see scope.h */
int scope_set_field(const char *json, size_t len, const char *key, const char *value,
                    char *out, size_t cap)
{
    return set_field(json, len, key, value, 0, out, cap);
}

/* see scope.h */
int scope_set_raw(const char *json, size_t len, const char *key, const char *raw,
                  char *out, size_t cap)
{
    json_tok tok[4];
    json_doc d;
    /* Only one whole JSON value may go in, so the result stays an object. */
    if (!raw || json_parse(&d, raw, strlen(raw), tok, 4) != JSON_OK || d.ntok != 1
        || tok[0].type == JSON_OBJECT || tok[0].type == JSON_ARRAY) return SCOPE_ERR_INVALID;
    return set_field(json, len, key, raw, 1, out, cap);
}
