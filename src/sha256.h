/*
** sha256.h — streaming SHA-256 over BearSSL's br_sha256_*, file hashing,
** and the NATS Object Store digest string "SHA-256=<base64url, padded>".
** Pure: no windows.h.
*/
#ifndef SHA256_H
#define SHA256_H
#include <stddef.h>
#include <stdio.h>

#define SHA256_LEN 32
#define SHA256_DIGEST_STR_LEN 56    /* "SHA-256=" + 44 chars + NUL (53), rounded up */

#define SHA256_OK        0
#define SHA256_ERR_FORMAT 1         /* malformed digest string */
#define SHA256_ERR_IO     2         /* read error */
#define SHA256_ERR_SPACE  3         /* output buffer too small */

/* Holds a br_sha256_context (checked by a static assert in sha256.c). The
** anonymous union only gives `opaque` the alignment of a pointer/uint64. */
typedef struct sha256_ctx {
    union { unsigned char opaque[128]; unsigned long long align_u64; void *align_ptr; };
} sha256_ctx;

void sha256_init(sha256_ctx *c);
void sha256_update(sha256_ctx *c, const void *data, size_t len);
void sha256_final(sha256_ctx *c, unsigned char out[SHA256_LEN]);
void sha256_buf(const void *data, size_t len, unsigned char out[SHA256_LEN]);
/* Hashes f from its current position to EOF; *size (may be NULL) gets the byte count. */
int sha256_file(FILE *f, unsigned char out[SHA256_LEN], unsigned long long *size);

/* "SHA-256=" + base64url with padding into out (cap >= SHA256_DIGEST_STR_LEN). */
int sha256_digest_encode(const unsigned char d[SHA256_LEN], char *out, size_t cap);
/* Accepts "SHA-256="/"sha-256=" + base64url or standard base64, padded or not.
** Exactly 32 decoded bytes, or SHA256_ERR_FORMAT. */
int sha256_digest_decode(const char *s, unsigned char out[SHA256_LEN]);
/* Lowercase hex (65 bytes with NUL). */
void sha256_hex(const unsigned char d[SHA256_LEN], char out[65]);

/* base64 helpers shared with objstore (names) : url=1 selects the URL alphabet. */
int b64_encode(const void *in, size_t len, int url, int pad, char *out, size_t cap);
/* Decodes url or std alphabet, padding optional; *outlen gets the byte count. */
int b64_decode(const char *in, size_t inlen, unsigned char *out, size_t cap, size_t *outlen);
#endif
