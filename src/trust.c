/*
** trust.c — release and target checks over sign.c. See trust.h.
**
** A scope value's target is checked as a whole: the statement names the KV
** key it was signed for, the version, the jitter string exactly as stored,
** the rev and the rollout fields (halt policy, wave plan, previous version:
** rollout.h), so a signed value copied to another key, edited, or replayed
** below the highest rev already accepted is refused. A value whose target
** was signed with no rollout fields, and that has some now, keeps its
** target and loses those fields: someone added them after signing, and a
** policy or plan nobody signed must not decide when a PC swaps.
*/
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "trust.h"
#include "json.h"
#include "rollout.h"
#include "sha256.h"

#define TRUST_TOKENS 256

static int refuse(char *why, size_t cap, const char *fmt, const char *a, const char *b)
{
    if (why && cap) snprintf(why, cap, fmt, a ? a : "", b ? b : "");
    return TRUST_REFUSED;
}

/* see trust.h */
int trust_parse_keys(const char *list, sig_pub *keys, int cap, int *n, char *err, size_t errcap)
{
    char one[SIG_PUBSTR_MAX + 1];
    const char *p = list ? list : "";
    int i;
    *n = 0;
    if (err && errcap) err[0] = 0;
    if (cap > SIG_MAX_KEYS) cap = SIG_MAX_KEYS;
    while (*p) {
        size_t len = 0;
        sig_pub k;
        while (*p == ',' || *p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') p++;
        if (!*p) break;
        while (p[len] && p[len] != ',' && p[len] != ' ' && p[len] != '\t' && p[len] != '\r' && p[len] != '\n')
            len++;
        if (len >= sizeof one || (memcpy(one, p, len), one[len] = 0, sig_pub_parse(one, &k) != SIG_OK)) {
            if (err && errcap)
                snprintf(err, errcap, "'%.24s%s' is not a release key (P256:<base64 of 65 bytes>, as "
                         "'kanade agent keygen' prints it)", p, len > 24 ? "..." : "");
            return TRUST_ERR_FORMAT;
        }
        p += len;
        for (i = 0; i < *n; i++)
            if (strcmp(keys[i].id, k.id) == 0) break;
        if (i < *n) continue;
        if (*n >= cap) {
            if (err && errcap) snprintf(err, errcap, "more than %d release keys", cap);
            return TRUST_ERR_FORMAT;
        }
        keys[(*n)++] = k;
    }
    return TRUST_OK;
}

/* see trust.h */
int trust_release(const sig_pub *keys, int n, const char *version, uint64_t size, const char *digest,
                  const char *sig_b64, const char *key_id, char *why, size_t whycap)
{
    unsigned char d[SHA256_LEN];
    char stmt[SIG_STMT_MAX], r[160];
    size_t len = 0;
    if (!digest || sha256_digest_decode(digest, d) != SHA256_OK)
        return refuse(why, whycap, "signature: the release has no valid digest%s%s", NULL, NULL);
    if (sig_release_statement(version, size, d, stmt, sizeof stmt, &len) != SIG_OK)
        return refuse(why, whycap, "signature: '%.80s' is not a valid release name%s", version, NULL);
    if (sig_check(keys, n, stmt, len, sig_b64, key_id, r, sizeof r, NULL) != SIG_OK)
        return refuse(why, whycap, "signature: %s%s", r, NULL);
    if (why && whycap) why[0] = 0;
    return TRUST_OK;
}

/* A string field: "" when absent or null; -1 when another type or too long. */
static int get_opt_str(const json_doc *d, const char *key, char *out, size_t cap)
{
    out[0] = 0;
    if (json_find(d, 0, key) < 0 || json_is_null(d, 0, key)) return 0;
    return json_get_str(d, 0, key, out, cap) == JSON_OK ? 0 : -1;
}

/* see trust.h */
int trust_target_read(const char *json, size_t len, trust_target *t, char *why, size_t whycap)
{
    json_tok tok[TRUST_TOKENS];
    json_doc d;
    memset(t, 0, sizeof *t);
    if (why && whycap) why[0] = 0;
    if (!json || json_parse(&d, json, len, tok, TRUST_TOKENS) != JSON_OK || tok[0].type != JSON_OBJECT)
        return refuse(why, whycap, "not a JSON object%s%s", NULL, NULL);
    if (get_opt_str(&d, "target_version", t->target, sizeof t->target) != 0)
        return refuse(why, whycap, "target_version is not a version string%s%s", NULL, NULL);
    if (!t->target[0]) return TRUST_NONE;
    if (get_opt_str(&d, "target_version_jitter", t->jitter, sizeof t->jitter) != 0)
        return refuse(why, whycap, "target_version_jitter is not a duration string%s%s", NULL, NULL);
    if (get_opt_str(&d, "target_signature", t->sig, sizeof t->sig) != 0)
        return refuse(why, whycap, "malformed signature%s%s", NULL, NULL);
    if (get_opt_str(&d, "target_key_id", t->key_id, sizeof t->key_id) != 0)
        return refuse(why, whycap, "malformed key id%s%s", NULL, NULL);
    if (json_find(&d, 0, "target_rev") >= 0 && !json_is_null(&d, 0, "target_rev")
        && (json_get_int(&d, 0, "target_rev", &t->rev) != JSON_OK || t->rev <= 0))
        return refuse(why, whycap, "target_rev is not a positive integer%s%s", NULL, NULL);
    return TRUST_OK;
}

/* The statement of target t for scope, with the rollout lines of json
** (all empty when `bare`). SIG_OK or an error. */
static int target_statement(const trust_target *t, const char *scope, const char *json, size_t len,
                            int64_t rev, int bare, char *stmt, size_t cap, size_t *slen)
{
    ro_rollout ro;
    char lines[RO_STMT_MAX];
    memset(&ro, 0, sizeof ro);
    if (!bare && ro_read_scope(json, len, &ro) == RO_ERR_JSON) return SIG_ERR_INVALID;
    if (ro_statement_lines(&ro, lines, sizeof lines) != RO_OK) return SIG_ERR_INVALID;
    return sig_target_statement(scope, t->target, t->jitter, rev, lines, stmt, cap, slen);
}

/* see trust.h */
int trust_target_check(const sig_pub *keys, int n, const char *scope, const char *json, size_t len,
                       int64_t min_rev, int64_t *rev, char *key_id, char *why, size_t whycap)
{
    trust_target t;
    char stmt[SIG_STMT_MAX], bare[SIG_STMT_MAX], r[160];
    size_t slen = 0, blen = 0;
    int which = 0, unsigned_ro = 0, rc = trust_target_read(json, len, &t, why, whycap);
    if (rc != TRUST_OK) return rc;
    if (!t.sig[0]) return refuse(why, whycap, "unsigned target %s%s", t.target, NULL);
    if (t.rev <= 0) return refuse(why, whycap, "signed target %s has no target_rev%s", t.target, NULL);
    if (target_statement(&t, scope, json, len, t.rev, 0, stmt, sizeof stmt, &slen) != SIG_OK
        || target_statement(&t, scope, json, len, t.rev, 1, bare, sizeof bare, &blen) != SIG_OK)
        return refuse(why, whycap, "target %.80s cannot be signed for scope %.80s", t.target, scope);
    if (sig_check(keys, n, stmt, slen, t.sig, t.key_id, r, sizeof r, &which) == SIG_OK)
        unsigned_ro = 0;
    else if ((blen != slen || memcmp(bare, stmt, slen) != 0)
             && sig_check(keys, n, bare, blen, t.sig, t.key_id, NULL, 0, &which) == SIG_OK)
        unsigned_ro = 1;
    else {
        char w2[220];
        /* A signature that does not verify is most often a value signed for
        ** another scope (copied), or edited after signing. */
        snprintf(w2, sizeof w2, "%s%s", r,
                 strncmp(r, "bad signature", 13) == 0 ? " (signed for another scope, or edited since)" : "");
        return refuse(why, whycap, "target %s: %s", t.target, w2);
    }
    if (t.rev < min_rev) {
        char a[24], b[24];
        snprintf(a, sizeof a, "%" PRId64, t.rev);
        snprintf(b, sizeof b, "%" PRId64, min_rev);
        return refuse(why, whycap, "replayed target: rev %s is older than rev %s accepted before", a, b);
    }
    if (rev) *rev = t.rev;
    if (key_id) memcpy(key_id, keys[which].id, SIG_KEYID_LEN + 1);
    if (why && whycap) why[0] = 0;
    if (!unsigned_ro) return TRUST_OK;
    if (why && whycap)
        snprintf(why, whycap, "target %s is signed, its halt policy, wave plan and previous version are not "
                 "(set after signing); they are ignored", t.target);
    return TRUST_ROLLOUT_UNSIGNED;
}

/* see trust.h */
int trust_target_sign(const sig_priv *k, const char *scope, const char *json, size_t len, int64_t rev,
                      char *out, size_t cap)
{
    trust_target t;
    char stmt[SIG_STMT_MAX], b64[SIG_B64_MAX], num[24], *a, *b;
    size_t slen = 0;
    int rc;
    if (trust_target_read(json, len, &t, NULL, 0) != TRUST_OK || !scope_valid_version(t.target) || rev <= 0)
        return TRUST_ERR_FORMAT;
    if (target_statement(&t, scope, json, len, rev, 0, stmt, sizeof stmt, &slen) != SIG_OK)
        return TRUST_ERR_FORMAT;
    if (sig_sign_b64(k, stmt, slen, b64, sizeof b64) != SIG_OK) return TRUST_ERR_FORMAT;
    snprintf(num, sizeof num, "%" PRId64, rev);
    /* Three rewrites, through two scratch buffers the size of out. */
    a = (char *)malloc(cap);
    b = (char *)malloc(cap);
    if (!a || !b) { free(a); free(b); return TRUST_ERR_SPACE; }
    rc = scope_set_raw(json, len, "target_rev", num, a, cap);
    if (rc == SCOPE_OK) rc = scope_set_field(a, strlen(a), "target_signature", b64, b, cap);
    if (rc == SCOPE_OK) rc = scope_set_field(b, strlen(b), "target_key_id", k->pub.id, out, cap);
    free(a);
    free(b);
    return rc == SCOPE_OK ? TRUST_OK : rc == SCOPE_ERR_SPACE ? TRUST_ERR_SPACE : TRUST_ERR_FORMAT;
}
