/*
** trust.h — what the release key vouches for, on top of sign.c: the list of
** release keys an agent trusts, the check of a release's meta headers, and
** the signing and checking of a scope's target (target_rev,
** target_signature, target_key_id beside target_version). Pure: no
** windows.h. docs/security.md says what these checks stop and what not.
*/
#ifndef TRUST_H
#define TRUST_H
#include <stddef.h>
#include <stdint.h>
#include "sign.h"
#include "scope.h"

#define TRUST_OK         0
#define TRUST_NONE       1  /* the scope value sets no target: nothing to check */
#define TRUST_REFUSED    2  /* not acceptable; why says so */
#define TRUST_ERR_FORMAT 3  /* a bad key list, a bad value to sign */
#define TRUST_ERR_SPACE  4
#define TRUST_ROLLOUT_UNSIGNED 5  /* the target is signed, its rollout fields are not */

/* The object meta headers a signed release carries. */
#define TRUST_HDR_SIG    "Kanade-Signature"
#define TRUST_HDR_KEYID  "Kanade-Key-Id"

/* "P256:..." keys separated by commas and/or white space (at most cap, and
** at most SIG_MAX_KEYS; a repeated key counts once). "" gives 0 keys. A bad
** key is TRUST_ERR_FORMAT with err naming it. */
int trust_parse_keys(const char *list, sig_pub *keys, int cap, int *n, char *err, size_t errcap);

/*
** The release check: the signature (base64 DER, may be NULL) by key_id
** (may be NULL) over the release statement of version, size and the
** object's digest field ("SHA-256=<base64url>"). TRUST_OK, or
** TRUST_REFUSED with why = "signature: <reason>" (unsigned, unknown key
** <id>, malformed signature, bad signature by key <id>, no digest).
*/
int trust_release(const sig_pub *keys, int n, const char *version, uint64_t size, const char *digest,
                  const char *sig_b64, const char *key_id, char *why, size_t whycap);

/* The target fields of one scope value. */
typedef struct trust_target {
    char target[SCOPE_VERSION_MAX + 1];   /* target_version, "" when absent or null */
    char jitter[32];                      /* target_version_jitter as stored, "" when absent or null */
    int64_t rev;                          /* target_rev, 0 when absent */
    char sig[SIG_B64_MAX];                /* target_signature, "" when absent */
    char key_id[SIG_KEYID_LEN + 1];       /* target_key_id, "" when absent */
} trust_target;

/* Reads the target fields of the JSON object json. TRUST_NONE when it sets
** no target; TRUST_REFUSED (why) when a field has the wrong type or size. */
int trust_target_read(const char *json, size_t len, trust_target *t, char *why, size_t whycap);

/*
** The agent's check of the scope value json read from KV key `scope`:
** TRUST_NONE (no target: nothing to check), TRUST_OK (signed by one of the
** keys, for this scope, with a rev at least min_rev, the rollout fields
** included; *rev and key_id (may be NULL, SIG_KEYID_LEN + 1 bytes) get its
** rev and signer), TRUST_ROLLOUT_UNSIGNED (as TRUST_OK, but the signature
** covers the target with no rollout fields: they were added or changed
** since, and are to be ignored; why says so), or TRUST_REFUSED with a
** one-line why.
*/
int trust_target_check(const sig_pub *keys, int n, const char *scope, const char *json, size_t len,
                       int64_t min_rev, int64_t *rev, char *key_id, char *why, size_t whycap);

/*
** The operator's side: json (a scope value setting target_version) with
** target_rev = rev, target_signature and target_key_id set for scope, every
** other field kept; the rollout fields (rollout.h) as they are in json are
** signed too. TRUST_ERR_FORMAT when json sets no valid target.
*/
int trust_target_sign(const sig_priv *k, const char *scope, const char *json, size_t len, int64_t rev,
                      char *out, size_t cap);
#endif
