/*
** json.c — JSON reading over jsmn (tokens in the caller's array) and a
** small writer into a caller buffer. Pure: no windows.h. Nothing here
** allocates.
**
** jsmn only tokenizes: even in its JSMN_STRICT mode it accepts "[1 2]",
** "tru", "01", several top-level values, and it refuses a bare top-level
** number. So jsmn runs in its default mode and json_parse then checks the
** token tree against the text (validate()): every gap between tokens must be
** exactly the separator JSON requires there, every primitive must be a
** literal or a number in JSON's grammar, every string well escaped and free
** of raw control characters, object keys must be strings with one value, and
** one value fills the document. Semantic checks of string contents (UTF-8,
** surrogate pairs) happen when a string is read, so one odd field does not
** make the whole document unreadable.
**
** json.c is the one translation unit that compiles jsmn's implementation.
*/
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "jsmn.h"
#include "json.h"

/* json_tok is filled by jsmn in place, then its type is renumbered; that
** needs the two structs to have one layout. */
_Static_assert(sizeof(jsmntype_t) == sizeof(int), "jsmntype_t is not int-sized");
_Static_assert(sizeof(json_tok) == sizeof(jsmntok_t), "json_tok does not mirror jsmntok_t");
_Static_assert(offsetof(json_tok, type) == offsetof(jsmntok_t, type), "json_tok.type");
_Static_assert(offsetof(json_tok, start) == offsetof(jsmntok_t, start), "json_tok.start");
_Static_assert(offsetof(json_tok, end) == offsetof(jsmntok_t, end), "json_tok.end");
_Static_assert(offsetof(json_tok, size) == offsetof(jsmntok_t, size), "json_tok.size");
_Static_assert(JSON_MAX_DEPTH <= 64, "json_w.in_obj has 64 bits");

/* ---- parsing ---------------------------------------------------------- */

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Whether js[a..b) is whitespace, then `sep` (when not 0), then whitespace. */
static int gap_ok(const char *js, size_t a, size_t b, char sep)
{
    while (a < b && is_ws(js[a])) a++;
    if (sep) {
        if (a == b || js[a] != sep) return 0;
        a++;
        while (a < b && is_ws(js[a])) a++;
    }
    return a == b;
}

/* Whether s[0..n) is a JSON number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static int number_ok(const char *s, size_t n)
{
    size_t i = 0;
    if (i < n && s[i] == '-') i++;
    if (i == n) return 0;
    if (s[i] == '0') i++;
    else if (is_digit(s[i])) { while (i < n && is_digit(s[i])) i++; }
    else return 0;
    if (i < n && s[i] == '.') {
        i++;
        if (i == n || !is_digit(s[i])) return 0;
        while (i < n && is_digit(s[i])) i++;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) i++;
        if (i == n || !is_digit(s[i])) return 0;
        while (i < n && is_digit(s[i])) i++;
    }
    return i == n;
}

static int primitive_ok(const char *s, size_t n)
{
    if (n == 4 && memcmp(s, "true", 4) == 0) return 1;
    if (n == 5 && memcmp(s, "false", 5) == 0) return 1;
    if (n == 4 && memcmp(s, "null", 4) == 0) return 1;
    return number_ok(s, n);
}

/* Whether the string body s[0..n) has only valid escapes and no raw
** control characters (the grammar; UTF-8 is checked when it is read). */
static int string_ok(const char *s, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20) return 0;
        if (c != '\\') continue;
        if (++i == n) return 0;
        switch (s[i]) {
        case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
            break;
        case 'u':
            if (n - i < 5 || hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0 ||
                hexval(s[i + 3]) < 0 || hexval(s[i + 4]) < 0)
                return 0;
            i += 4;
            break;
        default:
            return 0;
        }
    }
    return 1;
}

/* One open token on validate()'s path from the root. */
typedef struct vframe { int tok, left, first; } vframe;

/* Checks the token tree tok[0..n) against js[0..len) as described at the
** top of the file. Iterative with a bounded stack: keys take a frame of
** their own, hence 2 * JSON_MAX_DEPTH + 1 frames. */
static int validate(const char *js, size_t len, const json_tok *tok, int n)
{
    vframe st[2 * JSON_MAX_DEPTH + 1];
    int sp = 0, depth = 0, i;
    size_t pos = 0;

    if (n <= 0) return JSON_ERR_PARSE;
    for (i = 0; i < n; i++) {
        const json_tok *t = &tok[i];
        int str = t->type == JSON_STRING, cont = t->type == JSON_OBJECT || t->type == JSON_ARRAY;
        size_t ts, te;
        if (t->start < 0 || t->end < t->start || (size_t)t->end > len || t->size < 0) return JSON_ERR_PARSE;
        ts = (size_t)t->start - (str ? 1 : 0);
        te = (size_t)t->end + (str ? 1 : 0);
        if (str && (t->start < 1 || te > len || js[ts] != '"' || js[te - 1] != '"')) return JSON_ERR_PARSE;
        if (ts < pos) return JSON_ERR_PARSE;

        if (sp == 0) {
            if (i > 0 || !gap_ok(js, pos, ts, 0)) return JSON_ERR_PARSE;
            if (str && t->size != 0) return JSON_ERR_PARSE;   /* "a":1 at top level */
        } else {
            vframe *f = &st[sp - 1];
            int ptype = tok[f->tok].type;
            char sep = ptype == JSON_STRING ? ':' : (f->first ? 0 : ',');
            if (!gap_ok(js, pos, ts, sep)) return JSON_ERR_PARSE;
            if (ptype == JSON_OBJECT) {
                if (!str || t->size != 1) return JSON_ERR_PARSE;   /* key + one value */
            } else if (str && t->size != 0) {
                return JSON_ERR_PARSE;
            }
            f->first = 0;
        }

        if (str) {
            if (!string_ok(js + t->start, (size_t)(t->end - t->start))) return JSON_ERR_PARSE;
            pos = te;
        } else if (t->type == JSON_PRIMITIVE) {
            if (t->size != 0 || !primitive_ok(js + ts, te - ts)) return JSON_ERR_PARSE;
            pos = te;
        } else if (cont) {
            if (js[ts] != (t->type == JSON_OBJECT ? '{' : '[')) return JSON_ERR_PARSE;
            if (++depth > JSON_MAX_DEPTH) return JSON_ERR_PARSE;
            pos = ts + 1;
        } else {
            return JSON_ERR_PARSE;
        }

        if (t->size > 0) {
            st[sp].tok = i; st[sp].left = t->size; st[sp].first = 1;
            sp++;
            continue;
        }
        /* t is complete. Close it if it is an empty container, then close
        ** every ancestor whose last child this was. */
        if (cont) {
            if (!gap_ok(js, pos, te - 1, 0) || js[te - 1] != (t->type == JSON_OBJECT ? '}' : ']'))
                return JSON_ERR_PARSE;
            pos = te;
            depth--;
        }
        while (sp > 0) {
            const json_tok *p = &tok[st[sp - 1].tok];
            if (--st[sp - 1].left > 0) break;
            if (p->type != JSON_STRING) {
                size_t pe = (size_t)p->end;
                if (pe < pos + 1 || !gap_ok(js, pos, pe - 1, 0) ||
                    js[pe - 1] != (p->type == JSON_OBJECT ? '}' : ']'))
                    return JSON_ERR_PARSE;
                pos = pe;
                depth--;
            }
            sp--;
        }
    }
    if (sp != 0 || !gap_ok(js, pos, len, 0)) return JSON_ERR_PARSE;
    return JSON_OK;
}

/* Parses js[0..len) into tok[0..cap). Returns JSON_OK with d->ntok set,
** JSON_ERR_TOKENS when cap tokens are not enough, or JSON_ERR_PARSE. d keeps
** pointers to js and tok, which the caller owns and must keep alive while
** d is used. On error d->ntok is 0. */
int json_parse(json_doc *d, const char *js, size_t len, json_tok *tok, int cap)
{
    jsmn_parser p;
    int r, i, rc;

    d->js = js;
    d->len = len;
    d->tok = tok;
    d->ntok = 0;
    if (!js || len > 0x7FFFFFFF) return JSON_ERR_PARSE;
    if (!tok || cap <= 0) return JSON_ERR_TOKENS;
    jsmn_init(&p);
    /* The static asserts above make this in-place use sound in layout. */
    r = jsmn_parse(&p, js, len, (jsmntok_t *)(void *)tok, (unsigned)cap);
    if (r == JSMN_ERROR_NOMEM) return JSON_ERR_TOKENS;
    if (r < 0 || r > cap) return JSON_ERR_PARSE;
    for (i = 0; i < r; i++) {
        jsmntok_t jt;
        memcpy(&jt, &tok[i], sizeof jt);
        switch (jt.type) {
        case JSMN_OBJECT:    tok[i].type = JSON_OBJECT; break;
        case JSMN_ARRAY:     tok[i].type = JSON_ARRAY; break;
        case JSMN_STRING:    tok[i].type = JSON_STRING; break;
        case JSMN_PRIMITIVE: tok[i].type = JSON_PRIMITIVE; break;
        default:             tok[i].type = JSON_UNDEFINED; break;
        }
        tok[i].start = jt.start;
        tok[i].end = jt.end;
        tok[i].size = jt.size;
    }
    rc = validate(js, len, tok, r);
    if (rc) return rc;
    d->ntok = r;
    return JSON_OK;
}

static int tok_ok(const json_doc *d, int i)
{
    return d && d->tok && i >= 0 && i < d->ntok;
}

/* Index just past the subtree rooted at i, or -1 when i is not a token.
** Iterative: every token's size counts its direct children (a key's one
** child is its value), so "open" tracks the tokens still owed. */
int json_skip(const json_doc *d, int i)
{
    long open = 1;
    if (!tok_ok(d, i)) return -1;
    while (open > 0 && i < d->ntok) {
        open += d->tok[i].size - 1;
        i++;
    }
    return i;
}

/* Length of the valid UTF-8 sequence at s[0..n), or 0 if it is not one. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    size_t len, k;
    unsigned char lo = 0x80, hi = 0xBF;
    if (s[0] >= 0xC2 && s[0] <= 0xDF) len = 2;
    else if (s[0] >= 0xE0 && s[0] <= 0xEF) len = 3;
    else if (s[0] >= 0xF0 && s[0] <= 0xF4) len = 4;
    else return 0;
    if (s[0] == 0xE0) lo = 0xA0;
    else if (s[0] == 0xED) hi = 0x9F;
    else if (s[0] == 0xF0) lo = 0x90;
    else if (s[0] == 0xF4) hi = 0x8F;
    if (n < len) return 0;
    for (k = 1; k < len; k++)
        if (s[k] < (k == 1 ? lo : 0x80) || s[k] > (k == 1 ? hi : 0xBF)) return 0;
    return len;
}

/* Decodes one character of the string body js[*p..end) into u[0..*n):
** an escape (\uXXXX pairs joined), or one UTF-8 sequence checked for
** validity (no overlongs, surrogates or values past U+10FFFF). Rejects lone
** surrogates, U+0000 (out is a C string) and raw control characters.
** Returns JSON_OK or JSON_ERR_PARSE. */
static int str_next(const char *js, size_t *p, size_t end, unsigned char u[4], size_t *n)
{
    size_t i = *p;
    unsigned char c = (unsigned char)js[i];
    uint32_t cp;

    if (c < 0x20) return JSON_ERR_PARSE;
    if (c == '\\') {
        if (end - i < 2) return JSON_ERR_PARSE;
        switch (js[i + 1]) {
        case '"':  u[0] = '"'; break;
        case '\\': u[0] = '\\'; break;
        case '/':  u[0] = '/'; break;
        case 'b':  u[0] = '\b'; break;
        case 'f':  u[0] = '\f'; break;
        case 'n':  u[0] = '\n'; break;
        case 'r':  u[0] = '\r'; break;
        case 't':  u[0] = '\t'; break;
        case 'u': {
            int k;
            if (end - i < 6) return JSON_ERR_PARSE;
            cp = 0;
            for (k = 2; k < 6; k++) {
                int h = hexval(js[i + k]);
                if (h < 0) return JSON_ERR_PARSE;
                cp = cp << 4 | (uint32_t)h;
            }
            i += 6;
            if (cp >= 0xDC00 && cp <= 0xDFFF) return JSON_ERR_PARSE;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                uint32_t lo = 0;
                if (end - i < 6 || js[i] != '\\' || js[i + 1] != 'u') return JSON_ERR_PARSE;
                for (k = 2; k < 6; k++) {
                    int h = hexval(js[i + k]);
                    if (h < 0) return JSON_ERR_PARSE;
                    lo = lo << 4 | (uint32_t)h;
                }
                if (lo < 0xDC00 || lo > 0xDFFF) return JSON_ERR_PARSE;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                i += 6;
            }
            if (cp == 0) return JSON_ERR_PARSE;
            if (cp < 0x80) { u[0] = (unsigned char)cp; *n = 1; }
            else if (cp < 0x800) {
                u[0] = (unsigned char)(0xC0 | (cp >> 6));
                u[1] = (unsigned char)(0x80 | (cp & 0x3F)); *n = 2;
            } else if (cp < 0x10000) {
                u[0] = (unsigned char)(0xE0 | (cp >> 12));
                u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
                u[2] = (unsigned char)(0x80 | (cp & 0x3F)); *n = 3;
            } else {
                u[0] = (unsigned char)(0xF0 | (cp >> 18));
                u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
                u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
                u[3] = (unsigned char)(0x80 | (cp & 0x3F)); *n = 4;
            }
            *p = i;
            return JSON_OK;
        }
        default:
            return JSON_ERR_PARSE;
        }
        *n = 1;
        *p = i + 2;
        return JSON_OK;
    }
    if (c < 0x80) {
        u[0] = c; *n = 1; *p = i + 1;
        return JSON_OK;
    }
    {
        size_t len = utf8_seq((const unsigned char *)js + i, end - i);
        if (len == 0) return JSON_ERR_PARSE;
        memcpy(u, js + i, len);
        *n = len;
        *p = i + len;
        return JSON_OK;
    }
}

/* Whether the string token i, unescaped, equals the C string s. */
static int str_tok_eq(const json_doc *d, int i, const char *s)
{
    size_t p = (size_t)d->tok[i].start, end = (size_t)d->tok[i].end, o = 0, slen = strlen(s);
    while (p < end) {
        unsigned char u[4];
        size_t n;
        if (str_next(d->js, &p, end, u, &n)) return 0;
        if (n > slen - o || memcmp(s + o, u, n) != 0) return 0;
        o += n;
    }
    return o == slen;
}

/* Index of the value of key in the object at token obj (its own keys only,
** not nested ones), or -1 when obj is not an object or has no such key.
** Keys are compared unescaped; the first match wins. */
int json_find(const json_doc *d, int obj, const char *key)
{
    int i, k;
    if (!key || !tok_ok(d, obj) || d->tok[obj].type != JSON_OBJECT) return -1;
    i = obj + 1;
    for (k = 0; k < d->tok[obj].size; k++) {
        if (!tok_ok(d, i + 1)) return -1;
        if (d->tok[i].type == JSON_STRING && str_tok_eq(d, i, key)) return i + 1;
        i = json_skip(d, i + 1);
        if (i < 0) return -1;
    }
    return -1;
}

/* Unescapes the string token i into out (UTF-8, NUL-terminated). Returns
** JSON_OK, JSON_ERR_TYPE when i is not a string, JSON_ERR_PARSE on bad UTF-8,
** a lone surrogate or \u0000, JSON_ERR_SPACE when out is too small. On
** error out holds "" (when cap > 0). */
int json_tok_str(const json_doc *d, int i, char *out, size_t cap)
{
    size_t p, end, o = 0;
    if (cap) out[0] = '\0';
    if (!tok_ok(d, i) || d->tok[i].type != JSON_STRING) return JSON_ERR_TYPE;
    if (cap == 0) return JSON_ERR_SPACE;
    p = (size_t)d->tok[i].start;
    end = (size_t)d->tok[i].end;
    while (p < end) {
        unsigned char u[4];
        size_t n;
        int rc = str_next(d->js, &p, end, u, &n);
        if (rc) { out[0] = '\0'; return rc; }
        if (n > cap - 1 - o) { out[0] = '\0'; return JSON_ERR_SPACE; }
        memcpy(out + o, u, n);
        o += n;
    }
    out[o] = '\0';
    return JSON_OK;
}

/* Reads the number s[0..n) as an integer: *neg and *mag get its sign and
** magnitude. Fractions and exponents are fine when the value is integral
** ("1.0" and "2.5e1" are, "25e-1" is not). Returns JSON_OK, or JSON_ERR_TYPE
** for non-numbers, non-integral values and magnitudes past 2^64-1.
**
** The digits (integer and fraction part as one string) accumulate into v,
** but a run of zeros is only counted and multiplied in when a non-zero
** digit follows. So v never ends in a zero, the value is v * 10^exp, and it
** is integral exactly when exp >= 0 (or v == 0). */
static int num_integral(const char *s, size_t n, int *neg, uint64_t *mag)
{
    size_t i = 0;
    long long exp = 0, zeros = 0, e = 0;
    int in_frac = 0, eneg = 0;
    uint64_t v = 0;

    if (!number_ok(s, n)) return JSON_ERR_TYPE;
    *neg = s[0] == '-';
    if (*neg) i++;
    for (; i < n && (is_digit(s[i]) || s[i] == '.'); i++) {
        uint64_t d;
        if (s[i] == '.') { in_frac = 1; continue; }
        if (in_frac) exp--;
        d = (uint64_t)(s[i] - '0');
        if (d == 0) {
            if (v) zeros++;
            continue;
        }
        for (; zeros > 0; zeros--) {
            if (v > UINT64_MAX / 10) return JSON_ERR_TYPE;
            v *= 10;
        }
        if (v > (UINT64_MAX - d) / 10) return JSON_ERR_TYPE;
        v = v * 10 + d;
    }
    if (i < n) {                /* the exponent; number_ok vouched for its form */
        i++;
        if (s[i] == '+' || s[i] == '-') { eneg = s[i] == '-'; i++; }
        for (; i < n; i++)
            if (e < 1000000) e = e * 10 + (s[i] - '0');
    }
    *mag = 0;
    if (v == 0) return JSON_OK;
    exp += zeros + (eneg ? -e : e);
    if (exp < 0) return JSON_ERR_TYPE;
    for (; exp > 0; exp--) {
        if (v > UINT64_MAX / 10) return JSON_ERR_TYPE;
        v *= 10;
    }
    *mag = v;
    return JSON_OK;
}

/* The primitive token i as int64. JSON_ERR_TYPE unless it is an integral
** number within range. */
int json_tok_int(const json_doc *d, int i, int64_t *out)
{
    int neg, rc;
    uint64_t mag;
    if (!tok_ok(d, i) || d->tok[i].type != JSON_PRIMITIVE) return JSON_ERR_TYPE;
    rc = num_integral(d->js + d->tok[i].start, (size_t)(d->tok[i].end - d->tok[i].start), &neg, &mag);
    if (rc) return rc;
    if (neg) {
        if (mag > (uint64_t)INT64_MAX + 1) return JSON_ERR_TYPE;
        *out = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
    } else {
        if (mag > (uint64_t)INT64_MAX) return JSON_ERR_TYPE;
        *out = (int64_t)mag;
    }
    return JSON_OK;
}

/* Whether the token i is exactly the raw text s (no unescaping). */
int json_tok_eq(const json_doc *d, int i, const char *s)
{
    size_t n;
    if (!tok_ok(d, i) || !s) return 0;
    n = (size_t)(d->tok[i].end - d->tok[i].start);
    return strlen(s) == n && memcmp(d->js + d->tok[i].start, s, n) == 0;
}

int json_get_str(const json_doc *d, int obj, const char *key, char *out, size_t cap)
{
    int i = json_find(d, obj, key);
    if (cap) out[0] = '\0';
    if (i < 0) return JSON_ERR_MISSING;
    return json_tok_str(d, i, out, cap);
}

int json_get_int(const json_doc *d, int obj, const char *key, int64_t *out)
{
    int i = json_find(d, obj, key);
    if (i < 0) return JSON_ERR_MISSING;
    return json_tok_int(d, i, out);
}

/* As json_get_int, for unsigned values: negatives (other than -0) are
** JSON_ERR_TYPE, values up to 2^64-1 are fine. */
int json_get_uint(const json_doc *d, int obj, const char *key, uint64_t *out)
{
    int i = json_find(d, obj, key), neg, rc;
    uint64_t mag;
    if (i < 0) return JSON_ERR_MISSING;
    if (d->tok[i].type != JSON_PRIMITIVE) return JSON_ERR_TYPE;
    rc = num_integral(d->js + d->tok[i].start, (size_t)(d->tok[i].end - d->tok[i].start), &neg, &mag);
    if (rc) return rc;
    if (neg && mag != 0) return JSON_ERR_TYPE;
    *out = mag;
    return JSON_OK;
}

int json_get_bool(const json_doc *d, int obj, const char *key, int *out)
{
    int i = json_find(d, obj, key);
    if (i < 0) return JSON_ERR_MISSING;
    if (d->tok[i].type != JSON_PRIMITIVE) return JSON_ERR_TYPE;
    if (json_tok_eq(d, i, "true")) { *out = 1; return JSON_OK; }
    if (json_tok_eq(d, i, "false")) { *out = 0; return JSON_OK; }
    return JSON_ERR_TYPE;
}

/* 1 when key is present in obj with the value null; 0 otherwise (absent
** counts as 0: callers treating null as "unset" test for both). */
int json_is_null(const json_doc *d, int obj, const char *key)
{
    int i = json_find(d, obj, key);
    return i >= 0 && d->tok[i].type == JSON_PRIMITIVE && json_tok_eq(d, i, "null");
}

/* ---- writer ----------------------------------------------------------- */

void json_w_init(json_w *w, char *buf, size_t cap)
{
    w->buf = buf;
    w->cap = buf ? cap : 0;
    w->len = 0;
    w->err = 0;
    w->need_comma = 0;
    w->depth = 0;
    w->in_obj = 0;
    w->after_key = 0;
    if (w->cap) buf[0] = '\0';
}

/* Appends s[0..n) whole, or sets JSON_ERR_SPACE and appends nothing; the
** buffer stays NUL-terminated either way. */
static void put(json_w *w, const char *s, size_t n)
{
    if (w->err) return;
    if (w->cap == 0 || n > w->cap - 1 - w->len) { w->err = JSON_ERR_SPACE; return; }
    memcpy(w->buf + w->len, s, n);
    w->len += n;
    w->buf[w->len] = '\0';
}

static int top_is_obj(const json_w *w)
{
    return w->depth > 0 && ((w->in_obj >> (w->depth - 1)) & 1);
}

static void fail_state(json_w *w)
{
    if (!w->err) w->err = JSON_ERR_STATE;
}

/* Checks that a value may come now and writes the comma it needs. Returns
** 1 to go on, 0 when the writer is (or just went) into an error. */
static int value_begin(json_w *w)
{
    if (w->err) return 0;
    if (w->depth == 0) {
        if (w->need_comma) { fail_state(w); return 0; }   /* second top-level value */
    } else if (top_is_obj(w)) {
        if (!w->after_key) { fail_state(w); return 0; }   /* value without a key */
    } else if (w->need_comma) {
        put(w, ",", 1);
    }
    w->after_key = 0;
    return !w->err;
}

static void value_end(json_w *w)
{
    w->need_comma = 1;
}

static void open_(json_w *w, int obj)
{
    if (!value_begin(w)) return;
    if (w->depth >= JSON_MAX_DEPTH) { fail_state(w); return; }
    put(w, obj ? "{" : "[", 1);
    if (obj) w->in_obj |= (uint64_t)1 << w->depth;
    else w->in_obj &= ~((uint64_t)1 << w->depth);
    w->depth++;
    w->need_comma = 0;
}

static void close_(json_w *w, int obj)
{
    if (w->err) return;
    if (w->depth == 0 || top_is_obj(w) != obj || w->after_key) { fail_state(w); return; }
    put(w, obj ? "}" : "]", 1);
    w->depth--;
    value_end(w);
}

void json_w_obj_open(json_w *w)  { open_(w, 1); }
void json_w_obj_close(json_w *w) { close_(w, 1); }
void json_w_arr_open(json_w *w)  { open_(w, 0); }
void json_w_arr_close(json_w *w) { close_(w, 0); }

/* Writes s[0..n) as a quoted JSON string: '"' and '\' escaped, \n \r \t by
** name, other control characters (and NUL) as \u00XX, valid UTF-8 as is,
** and each byte of invalid UTF-8 as \ufffd, so the output is always valid
** JSON and valid UTF-8. */
static void put_escaped(json_w *w, const char *s, size_t n)
{
    static const char hx[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, run = 0;
    put(w, "\"", 1);
    while (i < n && !w->err) {
        unsigned char c = p[i];
        char esc[7];
        size_t elen = 0, seq = 1;
        if (c == '"' || c == '\\') { esc[0] = '\\'; esc[1] = (char)c; elen = 2; }
        else if (c == '\n') { esc[0] = '\\'; esc[1] = 'n'; elen = 2; }
        else if (c == '\r') { esc[0] = '\\'; esc[1] = 'r'; elen = 2; }
        else if (c == '\t') { esc[0] = '\\'; esc[1] = 't'; elen = 2; }
        else if (c < 0x20) {
            memcpy(esc, "\\u00", 4);
            esc[4] = hx[c >> 4]; esc[5] = hx[c & 15]; elen = 6;
        } else if (c >= 0x80) {
            seq = utf8_seq(p + i, n - i);
            if (seq == 0) { memcpy(esc, "\\ufffd", 6); elen = 6; seq = 1; }
        }
        if (elen == 0) { run += seq; i += seq; continue; }
        /* Flush the run of plain bytes before the escape. */
        put(w, s + i - run, run);
        run = 0;
        put(w, esc, elen);
        i += seq;
    }
    put(w, s + i - run, run);
    put(w, "\"", 1);
}

void json_w_key(json_w *w, const char *k)
{
    if (w->err) return;
    if (!top_is_obj(w) || w->after_key || !k) { fail_state(w); return; }
    if (w->need_comma) put(w, ",", 1);
    put_escaped(w, k, strlen(k));
    put(w, ":", 1);
    w->after_key = 1;
    w->need_comma = 0;
}

void json_w_strn(json_w *w, const char *s, size_t n)
{
    if (!value_begin(w)) return;
    if (s) put_escaped(w, s, n);
    else put(w, "null", 4);
    value_end(w);
}

/* A NULL s is written as null. */
void json_w_str(json_w *w, const char *s)
{
    json_w_strn(w, s, s ? strlen(s) : 0);
}

/* Decimal digits of v at the end of buf[0..24); returns the first one. */
static char *u64_digits(uint64_t v, char buf[24])
{
    char *p = buf + 24;
    do { *--p = (char)('0' + v % 10); v /= 10; } while (v);
    return p;
}

void json_w_uint(json_w *w, uint64_t v)
{
    char buf[24], *p;
    if (!value_begin(w)) return;
    p = u64_digits(v, buf);
    put(w, p, (size_t)(buf + 24 - p));
    value_end(w);
}

void json_w_int(json_w *w, int64_t v)
{
    char buf[24], *p;
    uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    if (!value_begin(w)) return;
    p = u64_digits(mag, buf);
    if (v < 0) *--p = '-';
    put(w, p, (size_t)(buf + 24 - p));
    value_end(w);
}

void json_w_bool(json_w *w, int v)
{
    if (!value_begin(w)) return;
    if (v) put(w, "true", 4);
    else put(w, "false", 5);
    value_end(w);
}

void json_w_null(json_w *w)
{
    if (!value_begin(w)) return;
    put(w, "null", 4);
    value_end(w);
}

/* raw must be one complete JSON value; it is copied unchecked. */
void json_w_raw(json_w *w, const char *raw, size_t n)
{
    if (!value_begin(w)) return;
    put(w, raw, n);
    value_end(w);
}

void json_w_kstr(json_w *w, const char *k, const char *s)
{
    json_w_key(w, k);
    json_w_str(w, s);
}

void json_w_kint(json_w *w, const char *k, int64_t v)
{
    json_w_key(w, k);
    json_w_int(w, v);
}

void json_w_kbool(json_w *w, const char *k, int v)
{
    json_w_key(w, k);
    json_w_bool(w, v);
}
