/*
** sha256.c — streaming SHA-256 (BearSSL's br_sha256_* does the hashing),
** file hashing, base64 in both alphabets, and the NATS Object Store digest
** string "SHA-256=<base64url, padded>". Pure: no windows.h.
**
** The decoders are strict on purpose: a digest is compared by its decoded
** bytes (the original system broke on a string compare), so two strings
** must decode to the same bytes only if they really name the same digest.
** Hence non-canonical encodings (stray bits after the last byte, misplaced
** '=', mixed alphabets) are rejected rather than silently normalised.
*/
#include <string.h>
#include <bearssl.h>
#include "sha256.h"

_Static_assert(sizeof(((sha256_ctx *)0)->opaque) >= sizeof(br_sha256_context),
               "sha256_ctx.opaque too small for br_sha256_context");
_Static_assert(_Alignof(sha256_ctx) >= _Alignof(br_sha256_context),
               "sha256_ctx not aligned enough for br_sha256_context");

#define BR(c) ((br_sha256_context *)(void *)(c)->opaque)

static const char b64_std[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const char digest_prefix[] = "SHA-256=";
#define DIGEST_PREFIX_LEN 8

void sha256_init(sha256_ctx *c)
{
    br_sha256_init(BR(c));
}

void sha256_update(sha256_ctx *c, const void *data, size_t len)
{
    if (len) br_sha256_update(BR(c), data, len);
}

/* Writes the digest of everything fed so far. The context is left as it was
** (BearSSL's out() does not modify it), so more data could still follow. */
void sha256_final(sha256_ctx *c, unsigned char out[SHA256_LEN])
{
    br_sha256_out(BR(c), out);
}

void sha256_buf(const void *data, size_t len, unsigned char out[SHA256_LEN])
{
    sha256_ctx c;
    sha256_init(&c);
    sha256_update(&c, data, len);
    sha256_final(&c, out);
}

/* Hashes f from its current position to EOF. Returns SHA256_OK, or
** SHA256_ERR_IO if a read fails (out is then unspecified). *size, when not
** NULL, gets the number of bytes hashed. The caller keeps owning f. */
int sha256_file(FILE *f, unsigned char out[SHA256_LEN], unsigned long long *size)
{
    unsigned char buf[16384];
    unsigned long long total = 0;
    sha256_ctx c;
    size_t n;
    sha256_init(&c);
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        sha256_update(&c, buf, n);
        total += n;
    }
    if (ferror(f)) return SHA256_ERR_IO;
    sha256_final(&c, out);
    if (size) *size = total;
    return SHA256_OK;
}

/* Base64 of in[0..len) into out, NUL-terminated. url selects "-_" over
** "+/"; pad adds '=' up to a multiple of 4. Returns SHA256_OK or
** SHA256_ERR_SPACE (out then holds "" when cap > 0). */
int b64_encode(const void *in, size_t len, int url, int pad, char *out, size_t cap)
{
    const unsigned char *p = (const unsigned char *)in;
    const char *abc = url ? b64_url : b64_std;
    size_t full = len / 3, rest = len % 3, need, o = 0, i;
    if (full > ((size_t)-1 - 8) / 4) { if (cap) out[0] = '\0'; return SHA256_ERR_SPACE; }
    need = full * 4 + (rest ? (pad ? 4 : rest + 1) : 0) + 1;
    if (cap < need) { if (cap) out[0] = '\0'; return SHA256_ERR_SPACE; }
    for (i = 0; i < full; i++, p += 3) {
        unsigned long v = ((unsigned long)p[0] << 16) | ((unsigned long)p[1] << 8) | p[2];
        out[o++] = abc[(v >> 18) & 63];
        out[o++] = abc[(v >> 12) & 63];
        out[o++] = abc[(v >> 6) & 63];
        out[o++] = abc[v & 63];
    }
    if (rest) {
        unsigned long v = (unsigned long)p[0] << 16;
        if (rest == 2) v |= (unsigned long)p[1] << 8;
        out[o++] = abc[(v >> 18) & 63];
        out[o++] = abc[(v >> 12) & 63];
        if (rest == 2) out[o++] = abc[(v >> 6) & 63];
        if (pad) {
            if (rest == 1) out[o++] = '=';
            out[o++] = '=';
        }
    }
    out[o] = '\0';
    return SHA256_OK;
}

/* Value of one base64 digit, noting which alphabet-specific character it
** was in *alpha (bit 1: "+/", bit 2: "-_"); -1 for anything else. */
static int b64_val(unsigned char ch, int *alpha)
{
    if (ch >= 'A' && ch <= 'Z') return ch - 'A';
    if (ch >= 'a' && ch <= 'z') return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9') return ch - '0' + 52;
    if (ch == '+') { *alpha |= 1; return 62; }
    if (ch == '/') { *alpha |= 1; return 63; }
    if (ch == '-') { *alpha |= 2; return 62; }
    if (ch == '_') { *alpha |= 2; return 63; }
    return -1;
}

/* Decodes in[0..inlen) (URL or standard alphabet, not mixed; padding
** optional but, when present, exactly right) into out[0..cap). Rejects
** whitespace, stray characters, a length of 4k+1 digits and non-zero unused
** bits. Returns SHA256_OK, SHA256_ERR_FORMAT or SHA256_ERR_SPACE;
** *outlen (may be NULL) gets the byte count on success. */
int b64_decode(const char *in, size_t inlen, unsigned char *out, size_t cap, size_t *outlen)
{
    size_t ndig = inlen, npad = 0, nout, i, o = 0;
    unsigned long acc = 0;
    int bits = 0, alpha = 0;

    while (ndig > 0 && in[ndig - 1] == '=') { ndig--; npad++; }
    if (npad > 2 || ndig % 4 == 1) return SHA256_ERR_FORMAT;
    /* With padding, digits + '=' must fill whole quads, and exactly. */
    if (npad && (ndig % 4 == 0 || (ndig + npad) % 4 != 0)) return SHA256_ERR_FORMAT;
    nout = ndig / 4 * 3 + (ndig % 4 ? ndig % 4 - 1 : 0);
    if (nout > cap) return SHA256_ERR_SPACE;

    for (i = 0; i < ndig; i++) {
        int v = b64_val((unsigned char)in[i], &alpha);
        if (v < 0 || alpha == 3) return SHA256_ERR_FORMAT;
        acc = ((acc << 6) | (unsigned long)v) & 0xFFFFFFUL;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    /* Leftover bits (2 or 4) must be zero in a canonical encoding. */
    if (bits && (acc & ((1UL << bits) - 1))) return SHA256_ERR_FORMAT;
    if (outlen) *outlen = o;
    return SHA256_OK;
}

/* "SHA-256=" + padded base64url of d, NUL-terminated, into out. Returns
** SHA256_OK or SHA256_ERR_SPACE when cap < 53 (the string is 52 chars; SHA256_DIGEST_STR_LEN is enough). */
int sha256_digest_encode(const unsigned char d[SHA256_LEN], char *out, size_t cap)
{
    if (cap < DIGEST_PREFIX_LEN + 44 + 1) { if (cap) out[0] = '\0'; return SHA256_ERR_SPACE; }
    memcpy(out, digest_prefix, DIGEST_PREFIX_LEN);
    return b64_encode(d, SHA256_LEN, 1, 1, out + DIGEST_PREFIX_LEN, cap - DIGEST_PREFIX_LEN);
}

/* Parses a NATS digest string s into 32 bytes. Returns SHA256_OK or
** SHA256_ERR_FORMAT (prefix not "SHA-256="/"sha-256=", bad base64, or not
** exactly 32 bytes); out is untouched on error. */
int sha256_digest_decode(const char *s, unsigned char out[SHA256_LEN])
{
    unsigned char tmp[SHA256_LEN + 3];
    size_t n = 0, len;
    if (!s) return SHA256_ERR_FORMAT;
    if (strncmp(s, digest_prefix, DIGEST_PREFIX_LEN) != 0 &&
        strncmp(s, "sha-256=", DIGEST_PREFIX_LEN) != 0)
        return SHA256_ERR_FORMAT;
    s += DIGEST_PREFIX_LEN;
    len = strlen(s);
    if (len < 43 || len > 44) return SHA256_ERR_FORMAT;
    if (b64_decode(s, len, tmp, sizeof tmp, &n) != SHA256_OK || n != SHA256_LEN)
        return SHA256_ERR_FORMAT;
    memcpy(out, tmp, SHA256_LEN);
    return SHA256_OK;
}

void sha256_hex(const unsigned char d[SHA256_LEN], char out[65])
{
    static const char hx[] = "0123456789abcdef";
    int i;
    for (i = 0; i < SHA256_LEN; i++) {
        out[2 * i] = hx[d[i] >> 4];
        out[2 * i + 1] = hx[d[i] & 15];
    }
    out[64] = '\0';
}
