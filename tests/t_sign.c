/* t_sign.c — sign.c: the RFC 6979 P-256/SHA-256 vector (A.2.5, "sample"),
** keys made by openssl in SEC1 and PKCS#8 form, an openssl signature, the
** statements byte for byte, tampering, and that every statement field binds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "th.h"
#include "sign.h"
#include "sha256.h"

/* RFC 6979 A.2.5 key, written by openssl as SEC1 and as PKCS#8. */
static const char pem_sec1[] =
    "-----BEGIN EC PRIVATE KEY-----\n"
    "MHcCAQEEIMmvqdhFunUWa1whV2ex1pNOUMPbNuibEnuKYisSD2choAoGCCqGSM49\n"
    "AwEHoUQDQgAEYP7UuiVanTHJYet0xjVtaMBJuJI7Yfps5mliLmDyn7Z5A/4QCLi8\n"
    "maQa6elWKLxk8vGyDC1+n1F3o8KU1EYimQ==\n"
    "-----END EC PRIVATE KEY-----\n";
static const char pem_p8[] =
    "-----BEGIN PRIVATE KEY-----\r\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgya+p2EW6dRZrXCFX\r\n"
    "Z7HWk05Qw9s26JsSe4piKxIPZyGhRANCAARg/tS6JVqdMclh63TGNW1owEm4kjth\r\n"
    "+mzmaWIuYPKftnkD/hAIuLyZpBrp6VYovGTy8bIMLX6fUXejwpTURiKZ\r\n"
    "-----END PRIVATE KEY-----";   /* CRLF, no final newline */
static const char pub_str[] =
    "P256:BGD+1LolWp0xyWHrdMY1bWjASbiSO2H6bOZpYi5g8p+2eQP+EAi4vJmkGunpVii8ZPLxsgwtfp9Rd6PClNRGIpk=";
static const char pub_id[] = "b18b86ce1389e46d";   /* sha256sum of the 65 bytes, first 16 */
/* r and s from RFC 6979 A.2.5, SHA-256, message "sample". */
static const char rfc_r[] = "efd48b2aacb6a8fd1140dd9cd45e81d69d2c877b56aaf991c34d0ea84eaf3716";
static const char rfc_s[] = "f7cb1c942d657c41d436c7a1b6e29f65f3e900dbb9aff4064dc4ab2f843acda8";
/* `openssl dgst -sha256 -sign` of "sample" with the same key (random k). */
static const char ossl_sig[] =
    "3045022100b5f30bb1147e4aa57a7c338604784a1d1b0be039deb3b8efb351af00192f52ef02207539bbe0873f0ec28f9465f5d2771ffb4ef04dfc4246c3cfacf65baec0cffdf0";

static size_t unhex(const char *h, unsigned char *out)
{
    size_t n = strlen(h) / 2, i;
    for (i = 0; i < n; i++) {
        unsigned v; sscanf(h + 2 * i, "%2x", &v); out[i] = (unsigned char)v;
    }
    return n;
}

static void t_pub(void)
{
    sig_pub k;
    char s[SIG_PUBSTR_MAX], bad[SIG_PUBSTR_MAX];
    TH_EQ_INT(sig_pub_parse(pub_str, &k), SIG_OK);
    TH_EQ_STR(k.id, pub_id);
    TH_EQ_INT(sig_pub_format(&k, s, sizeof s), SIG_OK);
    TH_EQ_STR(s, pub_str);
    TH_EQ_INT(sig_pub_format(&k, s, 50), SIG_ERR_SPACE);
    TH_EQ_INT(sig_pub_parse(pub_str + 1, &k), SIG_ERR_FORMAT);
    TH_EQ_INT(sig_pub_parse("P256:", &k), SIG_ERR_FORMAT);
    TH_EQ_INT(sig_pub_parse(NULL, &k), SIG_ERR_FORMAT);
    /* Off the curve: change one digit of Y. */
    memcpy(bad, pub_str, sizeof pub_str);
    bad[80] = bad[80] == 'A' ? 'B' : 'A';
    TH_EQ_INT(sig_pub_parse(bad, &k), SIG_ERR_CURVE);
    /* Compressed-form prefix (0x02) is refused. */
    memcpy(bad, pub_str, sizeof pub_str);
    bad[5] = 'A'; bad[6] = 'm';
    TH_CHECK(sig_pub_parse(bad, &k) != SIG_OK);
    /* Trailing garbage. */
    snprintf(bad, sizeof bad, "%s ", pub_str);
    TH_EQ_INT(sig_pub_parse(bad, &k), SIG_ERR_FORMAT);
}

static void t_pem(void)
{
    sig_priv a, b, c;
    char pem[SIG_PEM_MAX];
    size_t n = 0;
    unsigned char x[32];
    TH_EQ_INT(sig_priv_from_pem(pem_sec1, strlen(pem_sec1), &a), SIG_OK);
    TH_EQ_INT(sig_priv_from_pem(pem_p8, strlen(pem_p8), &b), SIG_OK);
    unhex("c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721", x);
    TH_CHECK(memcmp(a.x, x, 32) == 0);
    TH_CHECK(memcmp(b.x, x, 32) == 0);
    TH_EQ_STR(a.pub.id, pub_id);
    TH_EQ_STR(b.pub.id, pub_id);
    /* Our own writer reads back, and openssl wrote the same SEC1 text. */
    TH_EQ_INT(sig_priv_to_pem(&a, pem, sizeof pem, &n), SIG_OK);
    TH_EQ_INT(n, strlen(pem));
    TH_EQ_STR(pem, pem_sec1);
    TH_EQ_INT(sig_priv_from_pem(pem, n, &c), SIG_OK);
    TH_CHECK(memcmp(c.x, x, 32) == 0);
    TH_EQ_INT(sig_priv_to_pem(&a, pem, 100, &n), SIG_ERR_SPACE);
    /* Not a key, a truncated key, a certificate-like object, empty. */
    TH_EQ_INT(sig_priv_from_pem("hello", 5, &c), SIG_ERR_FORMAT);
    TH_EQ_INT(sig_priv_from_pem(pem_sec1, 60, &c), SIG_ERR_FORMAT);
    TH_EQ_INT(sig_priv_from_pem("", 0, &c), SIG_ERR_FORMAT);
    {
        char other[600];
        snprintf(other, sizeof other, "%s", pem_sec1);
        memcpy(other + 11, "CERTIFICATE   ", 14);   /* same length, other name */
        TH_CHECK(sig_priv_from_pem(other, strlen(other), &c) != SIG_OK);
    }
}

/* A P-384 key (openssl ecparam -name secp384r1 -genkey) is refused as the wrong curve. */
static const char pem_p384[] =
    "-----BEGIN EC PRIVATE KEY-----\n"
    "MIGkAgEBBDDHROz8dcMukR0iu90jQvY7yGNC92mOKelcjr4ppFmbJakSQyEckBWN\n"
    "n3goXj2VVoSgBwYFK4EEACKhZANiAAQnED9emrTFaLpVreGKNNeMATyi3k6F5V24\n"
    "i73Pvm/zA5BFMgWnBBScULk/W38qBgbwKKfKO+tLuG4Q9we94bSaIYD/zvcbqPEJ\n"
    "QJX8ML8f0Wa2dmltC9xsVkDlXDjjXXU=\n"
    "-----END EC PRIVATE KEY-----\n";

static void t_curve(void)
{
    sig_priv k;
    TH_EQ_INT(sig_priv_from_pem(pem_p384, strlen(pem_p384), &k), SIG_ERR_CURVE);
}

static void t_rfc6979(void)
{
    sig_priv k;
    sig_pub p;
    unsigned char der[SIG_DER_MAX], want[80], osig[80];
    size_t n = 0, wn = 0, on;
    TH_EQ_INT(sig_priv_from_pem(pem_sec1, strlen(pem_sec1), &k), SIG_OK);
    TH_EQ_INT(sig_sign(&k, "sample", 6, der, sizeof der, &n), SIG_OK);
    /* DER of (r, s): both have their top bit set, so both get a 0x00 pad. */
    want[wn++] = 0x30; want[wn++] = 0x46; want[wn++] = 0x02; want[wn++] = 0x21; want[wn++] = 0x00;
    wn += unhex(rfc_r, want + wn);
    want[wn++] = 0x02; want[wn++] = 0x21; want[wn++] = 0x00;
    wn += unhex(rfc_s, want + wn);
    TH_EQ_INT(n, wn);
    TH_CHECK(n == wn && memcmp(der, want, n) == 0);
    TH_EQ_INT(sig_pub_parse(pub_str, &p), SIG_OK);
    TH_EQ_INT(sig_verify(&p, "sample", 6, der, n), SIG_OK);
    TH_EQ_INT(sig_verify(&p, "samplE", 6, der, n), SIG_ERR_VERIFY);
    on = unhex(ossl_sig, osig);
    TH_EQ_INT(sig_verify(&p, "sample", 6, osig, on), SIG_OK);
    osig[10] ^= 1;
    TH_EQ_INT(sig_verify(&p, "sample", 6, osig, on), SIG_ERR_VERIFY);
    TH_EQ_INT(sig_verify(&p, "sample", 6, osig, 0), SIG_ERR_FORMAT);
    TH_EQ_INT(sig_sign(&k, "sample", 6, der, 10, &n), SIG_ERR_SPACE);
}

static void t_statements(void)
{
    unsigned char sha[32];
    char s[SIG_STMT_MAX];
    size_t n = 0;
    int i;
    for (i = 0; i < 32; i++) sha[i] = (unsigned char)(i * 7 + 1);
    TH_EQ_INT(sig_release_statement("1.2.3", 123456, sha, s, sizeof s, &n), SIG_OK);
    TH_EQ_STR(s, "kanade-release-v1\nversion=1.2.3\nsize=123456\n"
                 "sha256=01080f161d242b323940474e555c636a71787f868d949ba2a9b0b7bec5ccd3da\n");
    TH_EQ_INT(n, strlen(s));
    TH_EQ_INT(sig_release_statement("1.2\n3", 1, sha, s, sizeof s, &n), SIG_ERR_INVALID);
    TH_EQ_INT(sig_release_statement("", 1, sha, s, sizeof s, &n), SIG_ERR_INVALID);
    TH_EQ_INT(sig_release_statement("1.2.3", 1, sha, s, 20, &n), SIG_ERR_SPACE);
    TH_EQ_INT(sig_target_statement("groups.canary", "2.0.0", "5m", 1700000000123LL, "halt=3\n", s, sizeof s, &n),
              SIG_OK);
    TH_EQ_STR(s, "kanade-target-v2\nscope=groups.canary\ntarget=2.0.0\njitter=5m\nrev=1700000000123\nhalt=3\n");
    TH_EQ_INT(sig_target_statement("global", "2.0.0", NULL, 0, NULL, s, sizeof s, &n), SIG_OK);
    TH_EQ_STR(s, "kanade-target-v2\nscope=global\ntarget=2.0.0\njitter=\nrev=0\n");
    TH_EQ_INT(sig_target_statement("pcs.a b", "2.0.0", "", 1, NULL, s, sizeof s, &n), SIG_ERR_INVALID);
    TH_EQ_INT(sig_target_statement("other", "2.0.0", "", 1, NULL, s, sizeof s, &n), SIG_ERR_INVALID);
    TH_EQ_INT(sig_target_statement("global", "2.0.0", "5m\nrev=9", 1, NULL, s, sizeof s, &n), SIG_ERR_INVALID);
    TH_EQ_INT(sig_target_statement("global", "2.0.0", "", -1, NULL, s, sizeof s, &n), SIG_ERR_INVALID);
}

/* Each field of each statement changes the signed bytes: a signature over
** one statement fails for a statement that differs in any one field. */
static void t_binding(void)
{
    sig_priv k;
    sig_pub keys[2];
    unsigned char sha[32], sha2[32];
    char base[SIG_STMT_MAX], alt[SIG_STMT_MAX], b64[SIG_B64_MAX], why[80];
    size_t n = 0, an = 0;
    int which = -1;
    memset(sha, 0x11, 32); memcpy(sha2, sha, 32); sha2[31] ^= 1;
    TH_EQ_INT(sig_priv_from_pem(pem_p8, strlen(pem_p8), &k), SIG_OK);
    keys[1] = k.pub;
    {
        unsigned char seed[48];
        sig_priv other;
        memset(seed, 0x5a, sizeof seed);
        TH_EQ_INT(sig_keygen(seed, sizeof seed, &other), SIG_OK);
        keys[0] = other.pub;
    }
    TH_EQ_INT(sig_release_statement("1.0.0", 1000, sha, base, sizeof base, &n), SIG_OK);
    TH_EQ_INT(sig_sign_b64(&k, base, n, b64, sizeof b64), SIG_OK);
    TH_EQ_INT(sig_check(keys, 2, base, n, b64, k.pub.id, why, sizeof why, &which), SIG_OK);
    TH_EQ_INT(which, 1);
    TH_EQ_STR(why, "");
#define FAILS(stmt_call) do { TH_EQ_INT(stmt_call, SIG_OK); \
    TH_EQ_INT(sig_check(keys, 2, alt, an, b64, k.pub.id, why, sizeof why, NULL), SIG_ERR_VERIFY); } while (0)
    FAILS(sig_release_statement("1.0.1", 1000, sha, alt, sizeof alt, &an));
    FAILS(sig_release_statement("1.0.0", 1001, sha, alt, sizeof alt, &an));
    FAILS(sig_release_statement("1.0.0", 1000, sha2, alt, sizeof alt, &an));
    TH_CHECK(strncmp(why, "bad signature", 13) == 0);

    TH_EQ_INT(sig_target_statement("pcs.canary-01", "1.0.0", "1m", 5, NULL, base, sizeof base, &n), SIG_OK);
    TH_EQ_INT(sig_sign_b64(&k, base, n, b64, sizeof b64), SIG_OK);
    TH_EQ_INT(sig_check(keys, 2, base, n, b64, k.pub.id, why, sizeof why, NULL), SIG_OK);
    FAILS(sig_target_statement("global", "1.0.0", "1m", 5, NULL, alt, sizeof alt, &an));
    FAILS(sig_target_statement("pcs.canary-01", "1.0.1", "1m", 5, NULL, alt, sizeof alt, &an));
    FAILS(sig_target_statement("pcs.canary-01", "1.0.0", "", 5, NULL, alt, sizeof alt, &an));
    FAILS(sig_target_statement("pcs.canary-01", "1.0.0", "1m", 6, NULL, alt, sizeof alt, &an));
    FAILS(sig_target_statement("pcs.canary-01", "1.0.0", "1m", 5, "halt=3\n", alt, sizeof alt, &an));
#undef FAILS
    /* The reasons of sig_check. */
    TH_EQ_INT(sig_check(keys, 2, base, n, "", k.pub.id, why, sizeof why, NULL), SIG_ERR_VERIFY);
    TH_EQ_STR(why, "unsigned");
    TH_EQ_INT(sig_check(keys, 2, base, n, NULL, NULL, why, sizeof why, NULL), SIG_ERR_VERIFY);
    TH_EQ_STR(why, "unsigned");
    TH_EQ_INT(sig_check(keys, 1, base, n, b64, k.pub.id, why, sizeof why, NULL), SIG_ERR_VERIFY);
    TH_CHECK(strncmp(why, "unknown key ", 12) == 0);
    TH_EQ_INT(sig_check(keys, 2, base, n, b64, "XYZ", why, sizeof why, NULL), SIG_ERR_FORMAT);
    TH_EQ_INT(sig_check(keys, 2, base, n, "!!!!", k.pub.id, why, sizeof why, NULL), SIG_ERR_FORMAT);
    TH_EQ_STR(why, "malformed signature");
    /* A flipped byte anywhere in the DER. */
    {
        unsigned char der[SIG_DER_MAX + 3];
        size_t dn = 0, i;
        char t[SIG_B64_MAX];
        int bad = 0;
        b64_decode(b64, strlen(b64), der, sizeof der, &dn);
        for (i = 0; i < dn; i++) {
            der[i] ^= 0x01;
            b64_encode(der, dn, 0, 1, t, sizeof t);
            if (sig_check(keys, 2, base, n, t, k.pub.id, NULL, 0, NULL) == SIG_OK) bad++;
            der[i] ^= 0x01;
        }
        TH_EQ_INT(bad, 0);
    }
    /* The other key does not verify it even under its own id. */
    TH_EQ_INT(sig_check(keys, 2, base, n, b64, keys[0].id, why, sizeof why, NULL), SIG_ERR_VERIFY);
}

static void t_keygen(void)
{
    unsigned char seed[32];
    sig_priv a, b, c;
    char pem[SIG_PEM_MAX], s[SIG_STMT_MAX];
    unsigned char der[SIG_DER_MAX];
    size_t n = 0, dn = 0;
    memset(seed, 1, sizeof seed);
    TH_EQ_INT(sig_keygen(seed, sizeof seed, &a), SIG_OK);
    TH_EQ_INT(sig_keygen(seed, sizeof seed, &b), SIG_OK);
    TH_CHECK(memcmp(a.x, b.x, 32) == 0);           /* deterministic from the seed */
    seed[0] = 2;
    TH_EQ_INT(sig_keygen(seed, sizeof seed, &b), SIG_OK);
    TH_CHECK(memcmp(a.x, b.x, 32) != 0);
    TH_EQ_INT(sig_keygen(seed, 16, &b), SIG_ERR_INVALID);
    TH_EQ_INT(sig_priv_to_pem(&a, pem, sizeof pem, &n), SIG_OK);
    TH_EQ_INT(sig_priv_from_pem(pem, n, &c), SIG_OK);
    TH_EQ_STR(c.pub.id, a.pub.id);
    TH_EQ_INT(sig_sign(&c, "x", 1, der, sizeof der, &dn), SIG_OK);
    TH_EQ_INT(sig_verify(&a.pub, "x", 1, der, dn), SIG_OK);
    (void)s;
}

static int main_(void)
{
    TH_RUN(t_pub);
    TH_RUN(t_pem);
    TH_RUN(t_curve);
    TH_RUN(t_rfc6979);
    TH_RUN(t_statements);
    TH_RUN(t_binding);
    TH_RUN(t_keygen);
    return th_summary("t_sign");
}

TH_MAIN
