/*
** sign.c — ECDSA P-256 signatures over release and target statements.
** BearSSL does the curve arithmetic (i31, constant-time), the RFC 6979
** nonces, the PEM and private-key decoding. Pure: no windows.h; keygen takes
** seed bytes so the system RNG stays with the caller.
*/
#include <stdio.h>
#include <string.h>
#include <bearssl.h>
#include "sign.h"
#include "sha256.h"
#include "scope.h"

static const char pub_prefix[] = "P256:";
#define PUB_PREFIX_LEN 5

/* A field of a statement: printable ASCII, no newline, bounded. */
static int field_ok(const char *s, size_t max)
{
    size_t i;
    if (!s) return 0;
    for (i = 0; s[i]; i++)
        if (i >= max || (unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e) return 0;
    return 1;
}

static int finish(int n, size_t cap, char *out, size_t *len)
{
    if (n < 0 || (size_t)n >= cap) { if (cap) out[0] = '\0'; return SIG_ERR_SPACE; }
    if (len) *len = (size_t)n;
    return SIG_OK;
}

int sig_release_statement(const char *version, unsigned long long size,
                          const unsigned char sha[32], char *out, size_t cap, size_t *len)
{
    char hx[65];
    if (!version || !scope_valid_version(version) || !sha) return SIG_ERR_INVALID;
    sha256_hex(sha, hx);
    return finish(snprintf(out, cap, "kanade-release-v1\nversion=%s\nsize=%llu\nsha256=%s\n",
                           version, size, hx), cap, out, len);
}

/* "global", "groups.<id>" or "pcs.<id>". */
static int scope_key_ok(const char *s)
{
    if (!s) return 0;
    if (strcmp(s, "global") == 0) return 1;
    if (strncmp(s, "groups.", 7) == 0) return scope_valid_id(s + 7);
    if (strncmp(s, "pcs.", 4) == 0) return scope_valid_id(s + 4);
    return 0;
}

int sig_target_statement(const char *scope, const char *target, const char *jitter,
                         int64_t rev, const char *rollout, char *out, size_t cap, size_t *len)
{
    if (!jitter) jitter = "";
    if (!rollout) rollout = "";
    if (!scope_key_ok(scope) || !target || !scope_valid_version(target) ||
        !field_ok(jitter, 64) || rev < 0)
        return SIG_ERR_INVALID;
    return finish(snprintf(out, cap, "kanade-target-v2\nscope=%s\ntarget=%s\njitter=%s\nrev=%lld\n%s",
                           scope, target, jitter, (long long)rev, rollout), cap, out, len);
}

void sig_key_id(const unsigned char q[SIG_PUB_LEN], char id[SIG_KEYID_LEN + 1])
{
    unsigned char d[SHA256_LEN];
    char hx[65];
    sha256_buf(q, SIG_PUB_LEN, d);
    sha256_hex(d, hx);
    memcpy(id, hx, SIG_KEYID_LEN);
    id[SIG_KEYID_LEN] = '\0';
}

/* A point is accepted only if BearSSL decodes it as on the curve: mul by 1
** runs its full point validation. */
static int point_ok(const unsigned char q[SIG_PUB_LEN])
{
    unsigned char tmp[SIG_PUB_LEN];
    static const unsigned char one[1] = { 1 };
    if (q[0] != 0x04) return 0;
    memcpy(tmp, q, SIG_PUB_LEN);
    return br_ec_p256_m31.mul(tmp, SIG_PUB_LEN, one, 1, BR_EC_secp256r1) == 1;
}

int sig_pub_parse(const char *s, sig_pub *out)
{
    unsigned char q[SIG_PUB_LEN + 3];
    size_t n = 0, len;
    if (!s || strncmp(s, pub_prefix, PUB_PREFIX_LEN) != 0) return SIG_ERR_FORMAT;
    s += PUB_PREFIX_LEN;
    len = strlen(s);
    if (len < 87 || len > 88) return SIG_ERR_FORMAT;
    if (b64_decode(s, len, q, sizeof q, &n) != SHA256_OK || n != SIG_PUB_LEN) return SIG_ERR_FORMAT;
    if (!point_ok(q)) return SIG_ERR_CURVE;
    memcpy(out->q, q, SIG_PUB_LEN);
    sig_key_id(out->q, out->id);
    return SIG_OK;
}

int sig_pub_format(const sig_pub *k, char *out, size_t cap)
{
    if (cap < PUB_PREFIX_LEN + 1) { if (cap) out[0] = '\0'; return SIG_ERR_SPACE; }
    memcpy(out, pub_prefix, PUB_PREFIX_LEN);
    if (b64_encode(k->q, SIG_PUB_LEN, 0, 1, out + PUB_PREFIX_LEN, cap - PUB_PREFIX_LEN) != SHA256_OK) {
        out[0] = '\0';
        return SIG_ERR_SPACE;
    }
    return SIG_OK;
}

/* Fills k->pub from k->x; 0 when x is not a valid scalar (0 or >= n). */
static int derive_pub(sig_priv *k)
{
    br_ec_private_key sk;
    br_ec_public_key pk;
    unsigned char q[BR_EC_KBUF_PUB_MAX_SIZE];
    sk.curve = BR_EC_secp256r1; sk.x = k->x; sk.xlen = SIG_PRIV_LEN;
    if (br_ec_compute_pub(&br_ec_p256_m31, &pk, q, &sk) != SIG_PUB_LEN) return 0;
    memcpy(k->pub.q, pk.q, SIG_PUB_LEN);
    sig_key_id(k->pub.q, k->pub.id);
    return 1;
}

/* PEM decoding state: the first private-key object's DER. */
typedef struct pem_sink {
    unsigned char buf[1024];
    size_t len;
    int overflow;
} pem_sink;

static void pem_dest(void *ctx, const void *src, size_t len)
{
    pem_sink *s = (pem_sink *)ctx;
    if (len > sizeof s->buf - s->len) { s->overflow = 1; return; }
    memcpy(s->buf + s->len, src, len);
    s->len += len;
}

/* Feeds the text without its '\r' (BearSSL's decoder wants LF line ends and
** a key saved by Notepad has CRLF), plus a final newline so an unterminated
** last line still closes the object. Returns 1 once a key object has been
** read whole. */
static int pem_find_key(const char *pem, size_t len, pem_sink *sink)
{
    br_pem_decoder_context pc;
    size_t i = 0;
    int inkey = 0;
    br_pem_decoder_init(&pc);
    while (i <= len) {
        const char *p;
        size_t left;
        if (i == len) { p = "\n"; left = 1; i++; }
        else if (pem[i] == '\r') { i++; continue; }
        else {
            const char *cr = memchr(pem + i, '\r', len - i);
            p = pem + i;
            left = (cr ? (size_t)(cr - p) : len - i);
            i += left;
        }
        while (left > 0) {
            size_t n = br_pem_decoder_push(&pc, p, left);
            p += n; left -= n;
            switch (br_pem_decoder_event(&pc)) {
            case BR_PEM_BEGIN_OBJ: {
                const char *name = br_pem_decoder_name(&pc);
                inkey = strcmp(name, "EC PRIVATE KEY") == 0 || strcmp(name, "PRIVATE KEY") == 0;
                sink->len = 0; sink->overflow = 0;
                br_pem_decoder_setdest(&pc, inkey ? pem_dest : NULL, sink);
                break;
            }
            case BR_PEM_END_OBJ:
                if (inkey && !sink->overflow) return 1;
                inkey = 0;
                break;
            case BR_PEM_ERROR:
                return 0;
            default:
                break;
            }
        }
    }
    return 0;
}

int sig_priv_from_pem(const char *pem, size_t len, sig_priv *out)
{
    static pem_sink zero_sink;
    pem_sink sink = zero_sink;
    br_skey_decoder_context dc;
    const br_ec_private_key *ek;
    sig_priv k;
    int rc = SIG_ERR_FORMAT;
    if (!pem || !pem_find_key(pem, len, &sink)) goto out;
    br_skey_decoder_init(&dc);
    br_skey_decoder_push(&dc, sink.buf, sink.len);
    if (br_skey_decoder_last_error(&dc) != 0) goto out;
    rc = SIG_ERR_CURVE;
    if (br_skey_decoder_key_type(&dc) != BR_KEYTYPE_EC) goto out;
    ek = br_skey_decoder_get_ec(&dc);
    if (!ek || ek->curve != BR_EC_secp256r1 || ek->xlen == 0 || ek->xlen > SIG_PRIV_LEN) goto out;
    memset(k.x, 0, sizeof k.x);
    memcpy(k.x + SIG_PRIV_LEN - ek->xlen, ek->x, ek->xlen);
    rc = SIG_ERR_FORMAT;
    if (!derive_pub(&k)) goto out;
    *out = k;
    rc = SIG_OK;
out:
    memset(&dc, 0, sizeof dc);
    memset(&sink, 0, sizeof sink);
    memset(&k, 0, sizeof k);
    return rc;
}

int sig_priv_to_pem(const sig_priv *k, char *out, size_t cap, size_t *len)
{
    br_ec_private_key sk;
    br_ec_public_key pk;
    unsigned char der[160];
    size_t dlen, plen;
    sk.curve = BR_EC_secp256r1; sk.x = (unsigned char *)k->x; sk.xlen = SIG_PRIV_LEN;
    pk.curve = BR_EC_secp256r1; pk.q = (unsigned char *)k->pub.q; pk.qlen = SIG_PUB_LEN;
    dlen = br_encode_ec_raw_der(NULL, &sk, &pk);
    if (dlen == 0 || dlen > sizeof der) return SIG_ERR_FORMAT;
    br_encode_ec_raw_der(der, &sk, &pk);
    plen = br_pem_encode(NULL, der, dlen, "EC PRIVATE KEY", BR_PEM_LINE64);
    if (plen + 1 > cap) { memset(der, 0, sizeof der); if (cap) out[0] = '\0'; return SIG_ERR_SPACE; }
    br_pem_encode(out, der, dlen, "EC PRIVATE KEY", BR_PEM_LINE64);
    memset(der, 0, sizeof der);
    if (len) *len = plen;
    return SIG_OK;
}

int sig_keygen(const void *seed, size_t seedlen, sig_priv *out)
{
    br_hmac_drbg_context d;
    br_ec_private_key sk;
    sig_priv k;
    int rc = SIG_ERR_INVALID;
    if (!seed || seedlen < 32) return SIG_ERR_INVALID;
    br_hmac_drbg_init(&d, &br_sha256_vtable, seed, seedlen);
    if (br_ec_keygen(&d.vtable, &br_ec_p256_m31, &sk, k.x, BR_EC_secp256r1) == SIG_PRIV_LEN &&
        derive_pub(&k)) {
        *out = k;
        rc = SIG_OK;
    }
    memset(&d, 0, sizeof d);
    memset(&k, 0, sizeof k);
    return rc;
}

int sig_sign(const sig_priv *k, const void *msg, size_t len,
             unsigned char *der, size_t cap, size_t *derlen)
{
    unsigned char h[SHA256_LEN], buf[SIG_DER_MAX + 8];
    br_ec_private_key sk;
    size_t n;
    sha256_buf(msg, len, h);
    sk.curve = BR_EC_secp256r1; sk.x = (unsigned char *)k->x; sk.xlen = SIG_PRIV_LEN;
    n = br_ecdsa_i31_sign_asn1(&br_ec_p256_m31, &br_sha256_vtable, h, &sk, buf);
    if (n == 0) return SIG_ERR_FORMAT;
    if (n > cap) return SIG_ERR_SPACE;
    memcpy(der, buf, n);
    *derlen = n;
    return SIG_OK;
}

int sig_verify(const sig_pub *k, const void *msg, size_t len,
               const unsigned char *der, size_t derlen)
{
    unsigned char h[SHA256_LEN];
    br_ec_public_key pk;
    if (!der || derlen < 8 || derlen > SIG_DER_MAX) return SIG_ERR_FORMAT;
    sha256_buf(msg, len, h);
    pk.curve = BR_EC_secp256r1; pk.q = (unsigned char *)k->q; pk.qlen = SIG_PUB_LEN;
    return br_ecdsa_i31_vrfy_asn1(&br_ec_p256_m31, h, SHA256_LEN, &pk, der, derlen) == 1
        ? SIG_OK : SIG_ERR_VERIFY;
}

int sig_sign_b64(const sig_priv *k, const void *msg, size_t len, char *b64, size_t cap)
{
    unsigned char der[SIG_DER_MAX];
    size_t n = 0;
    int rc = sig_sign(k, msg, len, der, sizeof der, &n);
    if (rc != SIG_OK) return rc;
    return b64_encode(der, n, 0, 1, b64, cap) == SHA256_OK ? SIG_OK : SIG_ERR_SPACE;
}

static int why_set(char *why, size_t cap, int rc, const char *text, const char *arg)
{
    if (why && cap) snprintf(why, cap, "%s%s", text, arg ? arg : "");
    return rc;
}

static int hex16_ok(const char *s)
{
    size_t i;
    for (i = 0; i < SIG_KEYID_LEN; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return s[SIG_KEYID_LEN] == '\0';
}

int sig_check(const sig_pub *keys, int n, const void *msg, size_t len,
              const char *b64, const char *key_id, char *why, size_t whycap, int *which)
{
    unsigned char der[SIG_DER_MAX + 3];
    size_t dlen = 0, blen;
    int i;
    if (!b64 || !*b64) return why_set(why, whycap, SIG_ERR_VERIFY, "unsigned", NULL);
    if (!key_id || !hex16_ok(key_id))
        return why_set(why, whycap, SIG_ERR_FORMAT, "malformed key id", NULL);
    for (i = 0; i < n; i++)
        if (strcmp(keys[i].id, key_id) == 0) break;
    if (i == n) return why_set(why, whycap, SIG_ERR_VERIFY, "unknown key ", key_id);
    blen = strlen(b64);
    if (blen > SIG_B64_MAX || b64_decode(b64, blen, der, sizeof der, &dlen) != SHA256_OK ||
        dlen > SIG_DER_MAX)
        return why_set(why, whycap, SIG_ERR_FORMAT, "malformed signature", NULL);
    if (sig_verify(&keys[i], msg, len, der, dlen) != SIG_OK)
        return why_set(why, whycap, SIG_ERR_VERIFY, "bad signature by key ", key_id);
    if (which) *which = i;
    if (why && whycap) why[0] = '\0';
    return SIG_OK;
}
