/*
** json.h — small helpers over jsmn (caller-owned tokens) and a JSON writer
** into a caller buffer. Pure: no windows.h.
*/
#ifndef JSON_H
#define JSON_H
#include <stddef.h>
#include <stdint.h>

#define JSON_OK          0
#define JSON_ERR_PARSE   1   /* malformed JSON */
#define JSON_ERR_TOKENS  2   /* more tokens than the caller's array holds */
#define JSON_ERR_MISSING 3   /* key not present */
#define JSON_ERR_TYPE    4   /* present but of another type */
#define JSON_ERR_SPACE   5   /* output buffer too small */
#define JSON_ERR_STATE   6   /* writer calls out of order (key outside an object, unbalanced close) */

/* json_parse refuses documents nested deeper than this (objects + arrays). */
#define JSON_MAX_DEPTH   64

/* Mirrors jsmntok_t so callers need not include jsmn.h. */
typedef struct json_tok { int type, start, end, size; } json_tok;
#define JSON_UNDEFINED 0
#define JSON_OBJECT    1
#define JSON_ARRAY     2
#define JSON_STRING    4
#define JSON_PRIMITIVE 8

typedef struct json_doc {
    const char *js; size_t len;
    json_tok *tok; int ntok;    /* caller's array; ntok = tokens parsed */
} json_doc;

/* Parses js[0..len) into the caller's token array (cap entries). Strict
** RFC 8259: one value of any type, no trailing commas or garbage, nesting at
** most JSON_MAX_DEPTH. A string token's start/end exclude its quotes. */
int json_parse(json_doc *d, const char *js, size_t len, json_tok *tok, int cap);
/* Index of the value of `key` in the object at token obj (its own keys, not
** nested ones; keys compare unescaped; first match wins), or -1. */
int json_find(const json_doc *d, int obj, const char *key);
/* Index of the token after the subtree at i (for walking arrays/objects),
** or -1 when i is not a token. */
int json_skip(const json_doc *d, int i);
/* Typed reads of the value of `key` in object obj: JSON_ERR_MISSING when
** absent, JSON_ERR_TYPE when present with another type (null included, test
** json_is_null for "unset"). Integers must be integral ("1.0" and "1e3" are)
** and in range. Strings come out unescaped, UTF-8, NUL-terminated; a lone
** surrogate, \u0000 or invalid UTF-8 is JSON_ERR_PARSE; out is "" on error. */
int json_get_str(const json_doc *d, int obj, const char *key, char *out, size_t cap);
int json_get_int(const json_doc *d, int obj, const char *key, int64_t *out);
int json_get_uint(const json_doc *d, int obj, const char *key, uint64_t *out);
int json_get_bool(const json_doc *d, int obj, const char *key, int *out);
int json_is_null(const json_doc *d, int obj, const char *key); /* 1 if key: null */
/* Unescapes the string token i (\uXXXX incl. surrogate pairs -> UTF-8). */
int json_tok_str(const json_doc *d, int i, char *out, size_t cap);
int json_tok_int(const json_doc *d, int i, int64_t *out);
int json_tok_eq(const json_doc *d, int i, const char *s); /* raw token == s */

/* Writer: appends into buf; overflow sets w->err = JSON_ERR_SPACE and keeps
** the buffer NUL-terminated. Commas are inserted automatically. */
typedef struct json_w {
    char *buf; size_t cap, len;
    int err;
    int need_comma;
    /* Nesting state, so misuse is caught (err = JSON_ERR_STATE): depth of
    ** open containers, bit k of in_obj set when level k+1 is an object, and
    ** whether a key is waiting for its value. */
    int depth;
    uint64_t in_obj;
    int after_key;
} json_w;
void json_w_init(json_w *w, char *buf, size_t cap);
void json_w_obj_open(json_w *w);
void json_w_obj_close(json_w *w);
void json_w_arr_open(json_w *w);
void json_w_arr_close(json_w *w);
void json_w_key(json_w *w, const char *k);
void json_w_str(json_w *w, const char *s);                  /* escaped; NULL writes null */
void json_w_strn(json_w *w, const char *s, size_t n);
void json_w_int(json_w *w, int64_t v);
void json_w_uint(json_w *w, uint64_t v);
void json_w_bool(json_w *w, int v);
void json_w_null(json_w *w);
void json_w_raw(json_w *w, const char *raw, size_t n);     /* pre-encoded JSON value */
/* Shorthands for "key": value inside an object. */
void json_w_kstr(json_w *w, const char *k, const char *s);
void json_w_kint(json_w *w, const char *k, int64_t v);
void json_w_kbool(json_w *w, const char *k, int v);
#endif
