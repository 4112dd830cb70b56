/*
** sign.h — release and target signatures: ECDSA P-256 over SHA-256 of a
** fixed text statement, DER-encoded (the form `openssl dgst -sha256 -sign`
** writes). Public keys travel as "P256:<base64 of the 65-byte uncompressed
** point>", named by a key id (first 8 bytes of SHA-256 over those 65 bytes,
** 16 lowercase hex digits). Pure: no windows.h, no RNG seeding (the caller
** passes seed bytes to sig_keygen).
*/
#ifndef SIGN_H
#define SIGN_H
#include <stddef.h>
#include <stdint.h>

#define SIG_OK          0
#define SIG_ERR_FORMAT  1   /* malformed key, PEM, base64 or DER */
#define SIG_ERR_SPACE   2   /* output buffer too small */
#define SIG_ERR_CURVE   3   /* a key that is not P-256 (or not EC) */
#define SIG_ERR_VERIFY  4   /* the signature does not verify */
#define SIG_ERR_INVALID 5   /* a statement field is not acceptable */

#define SIG_PUB_LEN     65  /* 0x04 || X || Y */
#define SIG_PRIV_LEN    32
#define SIG_KEYID_LEN   16  /* hex digits */
#define SIG_DER_MAX     72  /* largest DER ECDSA P-256 signature */
#define SIG_B64_MAX     100 /* base64 of SIG_DER_MAX, with NUL */
#define SIG_PUBSTR_MAX  96  /* "P256:" + 88 + NUL */
#define SIG_STMT_MAX    1280   /* a target statement with the longest rollout lines fits */
#define SIG_PEM_MAX     512
#define SIG_MAX_KEYS    4

typedef struct sig_pub {
    unsigned char q[SIG_PUB_LEN];
    char id[SIG_KEYID_LEN + 1];
} sig_pub;

typedef struct sig_priv {
    unsigned char x[SIG_PRIV_LEN];
    sig_pub pub;
} sig_priv;

/* "kanade-release-v1\nversion=..\nsize=..\nsha256=<hex>\n" into out,
** NUL-terminated; *len (may be NULL) gets its length. The version must be
** a valid version name (scope_valid_version). */
int sig_release_statement(const char *version, unsigned long long size,
                          const unsigned char sha[32], char *out, size_t cap, size_t *len);
/* "kanade-target-v2\nscope=..\ntarget=..\njitter=..\nrev=..\n" followed by
** `rollout`, the rollout's own lines ("name=value\n" each, rollout.h's
** ro_statement_lines; NULL = none). jitter may be NULL or "" (written
** empty). scope is the KV key; no field may hold a newline. */
int sig_target_statement(const char *scope, const char *target, const char *jitter,
                         int64_t rev, const char *rollout, char *out, size_t cap, size_t *len);

/* "P256:<base64>" -> point (checked on the curve) and key id. */
int sig_pub_parse(const char *s, sig_pub *out);
int sig_pub_format(const sig_pub *k, char *out, size_t cap);
void sig_key_id(const unsigned char q[SIG_PUB_LEN], char id[SIG_KEYID_LEN + 1]);

/* A PEM text holding "EC PRIVATE KEY" (SEC1) or "PRIVATE KEY" (PKCS#8) for
** P-256. The first private key object found is used. */
int sig_priv_from_pem(const char *pem, size_t len, sig_priv *out);
/* Writes k as a SEC1 "EC PRIVATE KEY" PEM (with the public key). */
int sig_priv_to_pem(const sig_priv *k, char *out, size_t cap, size_t *len);
/* A new key from seed bytes (at least 32, from the system RNG). */
int sig_keygen(const void *seed, size_t seedlen, sig_priv *out);

/* Deterministic (RFC 6979) signature of SHA-256(msg), DER. */
int sig_sign(const sig_priv *k, const void *msg, size_t len,
             unsigned char *der, size_t cap, size_t *derlen);
int sig_verify(const sig_pub *k, const void *msg, size_t len,
               const unsigned char *der, size_t derlen);

/* Signs msg and writes the base64 (standard, padded) DER into b64. */
int sig_sign_b64(const sig_priv *k, const void *msg, size_t len, char *b64, size_t cap);

/*
** The agent's check: signature b64 (may be NULL/"") by key id (may be
** NULL/"") over msg, against keys[0..n). Returns SIG_OK, or an error with
** a reason ("unsigned", "unknown key <id>", "malformed signature", "bad
** signature") in why (may be NULL). *which (may be NULL) gets the index of
** the key that verified.
*/
int sig_check(const sig_pub *keys, int n, const void *msg, size_t len,
              const char *b64, const char *key_id, char *why, size_t whycap, int *which);
#endif
