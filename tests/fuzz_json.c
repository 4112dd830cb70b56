/* fuzz_json.c — libFuzzer target for json.c. Parses the input, calls every
** getter on every token and key, then rewrites the document with the writer
** and checks the copy parses to the same tree with the same string values
** (the writer -> parser round trip). Invariant breaks abort(). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "json.h"

#define NTOK 512
#define SBUF 4096

static json_tok tok[NTOK], tok2[NTOK];
static char out[1 << 16];
static char s1[SBUF], s2[SBUF];

/* Writes the subtree at i to w; returns the index after it. Recursion is
** bounded by JSON_MAX_DEPTH, which json_parse enforces. Strings that do not
** unescape (lone surrogates, \u0000, bad UTF-8) are written as null and
** *lossy is set, so the comparison below knows to skip them. */
static int rewrite(const json_doc *d, int i, json_w *w, int *lossy)
{
    const json_tok *t = &d->tok[i];
    int k, j = i + 1;
    switch (t->type) {
    case JSON_OBJECT:
        json_w_obj_open(w);
        for (k = 0; k < t->size; k++) {
            if (json_tok_str(d, j, s1, sizeof s1) != JSON_OK) { *lossy = 1; s1[0] = '\0'; }
            json_w_key(w, s1);
            j = rewrite(d, j + 1, w, lossy);
        }
        json_w_obj_close(w);
        return j;
    case JSON_ARRAY:
        json_w_arr_open(w);
        for (k = 0; k < t->size; k++) j = rewrite(d, j, w, lossy);
        json_w_arr_close(w);
        return j;
    case JSON_STRING:
        if (json_tok_str(d, i, s1, sizeof s1) == JSON_OK) json_w_str(w, s1);
        else { *lossy = 1; json_w_null(w); }
        return j;
    default:
        json_w_raw(w, d->js + t->start, (size_t)(t->end - t->start));
        return j;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_doc d, d2;
    json_w w;
    int rc, i, lossy = 0;

    rc = json_parse(&d, (const char *)data, size, tok, NTOK);
    if (rc != JSON_OK) {
        if (rc != JSON_ERR_PARSE && rc != JSON_ERR_TOKENS) abort();
        if (d.ntok != 0) abort();
        return 0;
    }
    if (d.ntok < 1 || d.ntok > NTOK || json_skip(&d, 0) != d.ntok) abort();

    /* Every getter on every token. */
    for (i = 0; i < d.ntok; i++) {
        int64_t iv;
        int r = json_tok_str(&d, i, s1, sizeof s1);
        if (r == JSON_OK && strlen(s1) >= sizeof s1) abort();
        if (r != JSON_OK && s1[0] != '\0') abort();
        if (r == JSON_OK && d.tok[i].type != JSON_STRING) abort();
        r = json_tok_int(&d, i, &iv);
        if (r == JSON_OK && d.tok[i].type != JSON_PRIMITIVE) abort();
        if (json_skip(&d, i) <= i || json_skip(&d, i) > d.ntok) abort();
        json_tok_eq(&d, i, "true");
        if (d.tok[i].type == JSON_OBJECT) {
            int k, j = i + 1;
            for (k = 0; k < d.tok[i].size; k++) {
                uint64_t uv;
                int b, v;
                if (json_tok_str(&d, j, s2, sizeof s2) == JSON_OK) {
                    v = json_find(&d, i, s2);
                    /* the first key that unescapes equal wins: at or before j */
                    if (v < 0 || v > j + 1) abort();
                    json_get_str(&d, i, s2, s1, sizeof s1);
                    json_get_int(&d, i, s2, &iv);
                    json_get_uint(&d, i, s2, &uv);
                    json_get_bool(&d, i, s2, &b);
                    json_is_null(&d, i, s2);
                }
                j = json_skip(&d, j + 1);
                if (j < 0) abort();
            }
        }
    }

    /* Rewrite and compare. */
    json_w_init(&w, out, sizeof out);
    if (rewrite(&d, 0, &w, &lossy) != d.ntok) abort();
    if (w.err == JSON_ERR_SPACE) return 0;
    if (w.err != 0 || w.depth != 0) abort();
    rc = json_parse(&d2, out, w.len, tok2, NTOK);
    if (rc != JSON_OK || d2.ntok != d.ntok) abort();
    for (i = 0; i < d.ntok; i++) {
        if (d.tok[i].size != d2.tok[i].size) abort();
        if (lossy) continue;
        if (d.tok[i].type != d2.tok[i].type) abort();
        if (d.tok[i].type == JSON_STRING) {
            if (json_tok_str(&d, i, s1, sizeof s1) != JSON_OK) abort();
            if (json_tok_str(&d2, i, s2, sizeof s2) != JSON_OK) abort();
            if (strcmp(s1, s2) != 0) abort();
        } else if (d.tok[i].type == JSON_PRIMITIVE) {
            if (d.tok[i].end - d.tok[i].start != d2.tok[i].end - d2.tok[i].start) abort();
            if (memcmp(d.js + d.tok[i].start, d2.js + d2.tok[i].start,
                       (size_t)(d.tok[i].end - d.tok[i].start)) != 0) abort();
        }
    }
    return 0;
}
