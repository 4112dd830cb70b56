/* t_trust.c — trust.c: release key lists, the release check over the meta
** header values, and signed targets (copied to another scope, edited,
** replayed below the accepted rev, unsigned, or a key rotation). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "th.h"
#include "trust.h"
#include "sha256.h"

/* The RFC 6979 A.2.5 key (SEC1), and a second key made by openssl. */
static const char pem_a[] =
    "-----BEGIN EC PRIVATE KEY-----\n"
    "MHcCAQEEIMmvqdhFunUWa1whV2ex1pNOUMPbNuibEnuKYisSD2choAoGCCqGSM49\n"
    "AwEHoUQDQgAEYP7UuiVanTHJYet0xjVtaMBJuJI7Yfps5mliLmDyn7Z5A/4QCLi8\n"
    "maQa6elWKLxk8vGyDC1+n1F3o8KU1EYimQ==\n"
    "-----END EC PRIVATE KEY-----\n";
#define PUB_A "P256:BGD+1LolWp0xyWHrdMY1bWjASbiSO2H6bOZpYi5g8p+2eQP+EAi4vJmkGunpVii8ZPLxsgwtfp9Rd6PClNRGIpk="
#define ID_A  "b18b86ce1389e46d"
#define PUB_B "P256:BGADUvzYSMv0jzcgWzsES/QsGriIysT6aSk/laKpGq+jepjpueerC4ZrICqgtWYscNh8lphZs9rla5+v7oHgzPE="

static sig_priv ka, kb;
static sig_pub pa, pb;

static void setup(void)
{
    unsigned char seed[32];
    memset(seed, 7, sizeof seed);
    TH_EQ_INT(sig_priv_from_pem(pem_a, strlen(pem_a), &ka), SIG_OK);
    TH_EQ_INT(sig_keygen(seed, sizeof seed, &kb), SIG_OK);
    pa = ka.pub;
    pb = kb.pub;
}

static void t_parse_keys(void)
{
    sig_pub k[SIG_MAX_KEYS];
    char err[200];
    int n = -1;
    TH_EQ_INT(trust_parse_keys("", k, SIG_MAX_KEYS, &n, err, sizeof err), TRUST_OK);
    TH_EQ_INT(n, 0);
    TH_EQ_INT(trust_parse_keys(NULL, k, SIG_MAX_KEYS, &n, err, sizeof err), TRUST_OK);
    TH_EQ_INT(n, 0);
    TH_EQ_INT(trust_parse_keys(" " PUB_A ",\t" PUB_B " ," PUB_A ",", k, SIG_MAX_KEYS, &n, err, sizeof err), TRUST_OK);
    TH_EQ_INT(n, 2);
    TH_EQ_STR(k[0].id, ID_A);
    TH_CHECK(memcmp(k[0].q, pa.q, SIG_PUB_LEN) == 0);
    TH_EQ_INT(trust_parse_keys(PUB_A ",P256:AAAA", k, SIG_MAX_KEYS, &n, err, sizeof err), TRUST_ERR_FORMAT);
    TH_EQ_STR(err, "'P256:AAAA' is not a release key (P256:<base64 of 65 bytes>, as 'kanade agent keygen' prints it)");
    TH_EQ_INT(trust_parse_keys(PUB_A " " PUB_B, k, 1, &n, err, sizeof err), TRUST_ERR_FORMAT);
    TH_EQ_STR(err, "more than 1 release keys");
    /* "P256:" + the base64 of a point off the curve. */
    TH_EQ_INT(trust_parse_keys("P256:BAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
                               k, SIG_MAX_KEYS, &n, NULL, 0), TRUST_ERR_FORMAT);
}

/* Signs the release statement of (version, size, data's digest) with k. */
static void sign_release(const sig_priv *k, const char *version, const char *data, char *digest, char *b64)
{
    unsigned char d[SHA256_LEN];
    char stmt[SIG_STMT_MAX];
    size_t len;
    sha256_buf(data, strlen(data), d);
    TH_EQ_INT(sha256_digest_encode(d, digest, 64), SHA256_OK);
    TH_EQ_INT(sig_release_statement(version, strlen(data), d, stmt, sizeof stmt, &len), SIG_OK);
    TH_EQ_INT(sig_sign_b64(k, stmt, len, b64, SIG_B64_MAX), SIG_OK);
}

static void t_release(void)
{
    sig_pub both[2];
    char dg[64], sig[SIG_B64_MAX], dg2[64], sig2[SIG_B64_MAX], why[200];
    both[0] = pb;
    both[1] = pa;
    sign_release(&ka, "1.2.3", "the build", dg, sig);
    TH_EQ_INT(trust_release(both, 2, "1.2.3", 9, dg, sig, pa.id, why, sizeof why), TRUST_OK);
    TH_EQ_STR(why, "");
    TH_EQ_INT(trust_release(&pa, 1, "1.2.3", 9, dg, "", "", why, sizeof why), TRUST_REFUSED);
    TH_EQ_STR(why, "signature: unsigned");
    TH_EQ_INT(trust_release(&pa, 1, "1.2.3", 9, dg, NULL, NULL, why, sizeof why), TRUST_REFUSED);
    TH_EQ_STR(why, "signature: unsigned");
    TH_EQ_INT(trust_release(&pb, 1, "1.2.3", 9, dg, sig, pa.id, why, sizeof why), TRUST_REFUSED);
    TH_EQ_STR(why, "signature: unknown key " ID_A);
    /* The same signature claimed by key B: B cannot verify it. */
    TH_EQ_INT(trust_release(both, 2, "1.2.3", 9, dg, sig, pb.id, why, sizeof why), TRUST_REFUSED);
    TH_CHECK(strncmp(why, "signature: bad signature by key ", 32) == 0);
    /* A signature copied from another version, or another size or digest. */
    sign_release(&ka, "1.2.4", "other build", dg2, sig2);
    TH_EQ_INT(trust_release(&pa, 1, "1.2.3", 9, dg, sig2, pa.id, why, sizeof why), TRUST_REFUSED);
    TH_EQ_STR(why, "signature: bad signature by key " ID_A);
    TH_EQ_INT(trust_release(&pa, 1, "1.2.4", 9, dg, sig, pa.id, why, sizeof why), TRUST_REFUSED);
    TH_EQ_INT(trust_release(&pa, 1, "1.2.3", 10, dg, sig, pa.id, why, sizeof why), TRUST_REFUSED);
    TH_EQ_INT(trust_release(&pa, 1, "1.2.3", 9, dg2, sig, pa.id, why, sizeof why), TRUST_REFUSED);
    /* A flipped byte of the DER (base64 character changed). */
    sig[10] = sig[10] == 'A' ? 'B' : 'A';
    TH_EQ_INT(trust_release(&pa, 1, "1.2.3", 9, dg, sig, pa.id, why, sizeof why), TRUST_REFUSED);
    TH_CHECK(strncmp(why, "signature: ", 11) == 0);
    TH_EQ_INT(trust_release(&pa, 1, "1.2.3", 9, dg, "!!!", pa.id, why, sizeof why), TRUST_REFUSED);
    TH_EQ_STR(why, "signature: malformed signature");
    TH_EQ_INT(trust_release(&pa, 1, "1.2.3", 9, "", sig, pa.id, why, sizeof why), TRUST_REFUSED);
    TH_EQ_STR(why, "signature: the release has no valid digest");
    TH_EQ_INT(trust_release(&pa, 1, "1.2.3", 9, dg, sig, "xyz", why, sizeof why), TRUST_REFUSED);
    TH_EQ_STR(why, "signature: malformed key id");
}

static void t_target(void)
{
    static const char val[] = "{\"target_version\":\"1.2.3\",\"target_version_jitter\":\"5m\",\"heartbeat_interval\":\"30s\"}";
    char out[1024], tmp[1024], why[256], id[SIG_KEYID_LEN + 1];
    int64_t rev = 0;
    trust_target t;

    TH_EQ_INT(trust_target_sign(&ka, "global", val, strlen(val), 1700000000123LL, out, sizeof out), TRUST_OK);
    TH_CHECK(strstr(out, "\"heartbeat_interval\":\"30s\"") != NULL);
    TH_CHECK(strstr(out, "\"target_rev\":1700000000123") != NULL);
    TH_CHECK(strstr(out, "\"target_key_id\":\"" ID_A "\"") != NULL);
    TH_EQ_INT(trust_target_read(out, strlen(out), &t, why, sizeof why), TRUST_OK);
    TH_EQ_STR(t.jitter, "5m");
    TH_EQ_INT(t.rev, 1700000000123LL);

    TH_EQ_INT(trust_target_check(&pa, 1, "global", out, strlen(out), 0, &rev, id, why, sizeof why), TRUST_OK);
    TH_EQ_INT(rev, 1700000000123LL);
    TH_EQ_STR(id, ID_A);
    TH_EQ_INT(trust_target_check(&pa, 1, "global", out, strlen(out), 1700000000123LL, &rev, id, why, sizeof why), TRUST_OK);
    /* Replayed below what was accepted. */
    TH_EQ_INT(trust_target_check(&pa, 1, "global", out, strlen(out), 1700000000124LL, &rev, id, why, sizeof why),
              TRUST_REFUSED);
    TH_EQ_STR(why, "replayed target: rev 1700000000123 is older than rev 1700000000124 accepted before");
    /* Copied into another scope. */
    TH_EQ_INT(trust_target_check(&pa, 1, "pcs.other", out, strlen(out), 0, &rev, id, why, sizeof why), TRUST_REFUSED);
    TH_EQ_STR(why, "target 1.2.3: bad signature by key " ID_A " (signed for another scope, or edited since)");
    /* Edited after signing: the jitter, the version, the rev. */
    TH_EQ_INT(scope_set_field(out, strlen(out), "target_version_jitter", "0s", tmp, sizeof tmp), SCOPE_OK);
    TH_EQ_INT(trust_target_check(&pa, 1, "global", tmp, strlen(tmp), 0, &rev, id, why, sizeof why), TRUST_REFUSED);
    TH_EQ_INT(scope_set_field(out, strlen(out), "target_version", "1.2.2", tmp, sizeof tmp), SCOPE_OK);
    TH_EQ_INT(trust_target_check(&pa, 1, "global", tmp, strlen(tmp), 0, &rev, id, why, sizeof why), TRUST_REFUSED);
    TH_EQ_INT(scope_set_raw(out, strlen(out), "target_rev", "1800000000000", tmp, sizeof tmp), SCOPE_OK);
    TH_EQ_INT(trust_target_check(&pa, 1, "global", tmp, strlen(tmp), 0, &rev, id, why, sizeof why), TRUST_REFUSED);
    /* Other fields may change: they are not part of the target. */
    TH_EQ_INT(scope_set_field(out, strlen(out), "heartbeat_interval", "1m", tmp, sizeof tmp), SCOPE_OK);
    TH_EQ_INT(trust_target_check(&pa, 1, "global", tmp, strlen(tmp), 0, &rev, id, why, sizeof why), TRUST_OK);
    /* The rollout fields are signed with the target: a policy, plan or
    ** previous version changed since is refused; added to a value signed
    ** without any, the target stands and they are reported unsigned. */
    {
        static const char ro[] = "{\"target_version\":\"1.2.3\",\"halt_policy\":\"3\",\"waves\":\"canary,global\","
                                 "\"wave_gap\":\"1h\",\"wave_start\":\"1764300000000\",\"previous_version\":\"1.2.2\"}";
        char signed_ro[1024];
        TH_EQ_INT(trust_target_sign(&ka, "global", ro, strlen(ro), 7, signed_ro, sizeof signed_ro), TRUST_OK);
        TH_EQ_INT(trust_target_check(&pa, 1, "global", signed_ro, strlen(signed_ro), 0, &rev, id, why, sizeof why),
                  TRUST_OK);
        TH_EQ_INT(scope_set_field(signed_ro, strlen(signed_ro), "halt_policy", "off", tmp, sizeof tmp), SCOPE_OK);
        TH_EQ_INT(trust_target_check(&pa, 1, "global", tmp, strlen(tmp), 0, &rev, id, why, sizeof why), TRUST_REFUSED);
        TH_EQ_INT(scope_set_field(signed_ro, strlen(signed_ro), "halt_policy", NULL, tmp, sizeof tmp), SCOPE_OK);
        TH_EQ_INT(trust_target_check(&pa, 1, "global", tmp, strlen(tmp), 0, &rev, id, why, sizeof why), TRUST_REFUSED);
        TH_EQ_INT(scope_set_field(signed_ro, strlen(signed_ro), "waves", "global", tmp, sizeof tmp), SCOPE_OK);
        TH_EQ_INT(trust_target_check(&pa, 1, "global", tmp, strlen(tmp), 0, &rev, id, why, sizeof why), TRUST_REFUSED);
        TH_EQ_INT(scope_set_field(signed_ro, strlen(signed_ro), "wave_start", "1764300000001", tmp, sizeof tmp),
                  SCOPE_OK);
        TH_EQ_INT(trust_target_check(&pa, 1, "global", tmp, strlen(tmp), 0, &rev, id, why, sizeof why), TRUST_REFUSED);
        TH_EQ_INT(scope_set_field(signed_ro, strlen(signed_ro), "previous_version", "0.0.1", tmp, sizeof tmp),
                  SCOPE_OK);
        TH_EQ_INT(trust_target_check(&pa, 1, "global", tmp, strlen(tmp), 0, &rev, id, why, sizeof why), TRUST_REFUSED);
        /* Stripping every rollout field from a value signed with them is an edit too. */
        TH_EQ_INT(scope_set_field(signed_ro, strlen(signed_ro), "halt_policy", NULL, tmp, sizeof tmp), SCOPE_OK);
        TH_EQ_INT(scope_set_field(tmp, strlen(tmp), "waves", NULL, signed_ro, sizeof signed_ro), SCOPE_OK);
        TH_EQ_INT(scope_set_field(signed_ro, strlen(signed_ro), "previous_version", NULL, tmp, sizeof tmp), SCOPE_OK);
        TH_EQ_INT(trust_target_check(&pa, 1, "global", tmp, strlen(tmp), 0, &rev, id, why, sizeof why), TRUST_REFUSED);
        /* Added to `out` (signed with none): the target stands, the fields are unsigned. */
        TH_EQ_INT(scope_set_field(out, strlen(out), "halt_policy", "off", tmp, sizeof tmp), SCOPE_OK);
        TH_EQ_INT(trust_target_check(&pa, 1, "global", tmp, strlen(tmp), 0, &rev, id, why, sizeof why),
                  TRUST_ROLLOUT_UNSIGNED);
        TH_EQ_STR(why, "target 1.2.3 is signed, its halt policy, wave plan and previous version are not "
                       "(set after signing); they are ignored");
        TH_EQ_INT(rev, 1700000000123LL);
        TH_EQ_STR(id, ID_A);
        /* ...but never for another scope or another key. */
        TH_EQ_INT(trust_target_check(&pa, 1, "pcs.other", tmp, strlen(tmp), 0, &rev, id, why, sizeof why),
                  TRUST_REFUSED);
        TH_EQ_INT(trust_target_check(&pb, 1, "global", tmp, strlen(tmp), 0, &rev, id, why, sizeof why),
                  TRUST_REFUSED);
        /* An invalid field reads as unset, so it changes nothing signed. */
        TH_EQ_INT(scope_set_field(out, strlen(out), "waves", "not a plan!", tmp, sizeof tmp), SCOPE_OK);
        TH_EQ_INT(trust_target_check(&pa, 1, "global", tmp, strlen(tmp), 0, &rev, id, why, sizeof why), TRUST_OK);
    }
    /* A key the agent does not hold; rotation: either key of two. */
    TH_EQ_INT(trust_target_check(&pb, 1, "global", out, strlen(out), 0, &rev, id, why, sizeof why), TRUST_REFUSED);
    TH_EQ_STR(why, "target 1.2.3: unknown key " ID_A);
    {
        sig_pub both[2];
        both[0] = pb; both[1] = pa;
        TH_EQ_INT(trust_target_check(both, 2, "global", out, strlen(out), 0, &rev, id, why, sizeof why), TRUST_OK);
        TH_EQ_STR(id, ID_A);
        TH_EQ_INT(trust_target_sign(&kb, "groups.ring1", val, strlen(val), 5, tmp, sizeof tmp), TRUST_OK);
        TH_EQ_INT(trust_target_check(both, 2, "groups.ring1", tmp, strlen(tmp), 0, &rev, id, why, sizeof why), TRUST_OK);
        TH_EQ_STR(id, pb.id);
        TH_EQ_INT(rev, 5);
    }
    /* Unsigned, no target, bad fields. */
    TH_EQ_INT(trust_target_check(&pa, 1, "global", val, strlen(val), 0, &rev, id, why, sizeof why), TRUST_REFUSED);
    TH_EQ_STR(why, "unsigned target 1.2.3");
    TH_EQ_INT(trust_target_check(&pa, 1, "global", "{}", 2, 0, &rev, id, why, sizeof why), TRUST_NONE);
    TH_EQ_INT(trust_target_check(&pa, 1, "global", "{\"target_version\":null}", 23, 0, &rev, id, why, sizeof why),
              TRUST_NONE);
    TH_EQ_INT(trust_target_check(&pa, 1, "global", "[1]", 3, 0, &rev, id, why, sizeof why), TRUST_REFUSED);
    TH_EQ_STR(why, "not a JSON object");
    TH_EQ_INT(scope_set_raw(out, strlen(out), "target_rev", "\"1700000000123\"", tmp, sizeof tmp), SCOPE_OK);
    TH_EQ_INT(trust_target_check(&pa, 1, "global", tmp, strlen(tmp), 0, &rev, id, why, sizeof why), TRUST_REFUSED);
    TH_EQ_STR(why, "target_rev is not a positive integer");
    TH_EQ_INT(scope_set_raw(out, strlen(out), "target_rev", "null", tmp, sizeof tmp), SCOPE_OK);
    TH_EQ_INT(trust_target_check(&pa, 1, "global", tmp, strlen(tmp), 0, &rev, id, why, sizeof why), TRUST_REFUSED);
    TH_EQ_STR(why, "signed target 1.2.3 has no target_rev");
    /* Signing needs a target; scope_set_raw takes scalars only. */
    TH_EQ_INT(trust_target_sign(&ka, "global", "{}", 2, 1, out, sizeof out), TRUST_ERR_FORMAT);
    TH_EQ_INT(trust_target_sign(&ka, "global", val, strlen(val), 0, out, sizeof out), TRUST_ERR_FORMAT);
    TH_EQ_INT(trust_target_sign(&ka, "global", val, strlen(val), 1, out, 40), TRUST_ERR_SPACE);
    TH_EQ_INT(scope_set_raw("{}", 2, "a", "{\"b\":1}", tmp, sizeof tmp), SCOPE_ERR_INVALID);
    TH_EQ_INT(scope_set_raw("{}", 2, "a", "1 2", tmp, sizeof tmp), SCOPE_ERR_INVALID);
    TH_EQ_INT(scope_set_raw("{\"a\":\"x\"}", 9, "a", "12", tmp, sizeof tmp), SCOPE_OK);
    TH_EQ_STR(tmp, "{\"a\":12}");
}

static int main_(void)
{
    TH_RUN(setup);
    TH_RUN(t_parse_keys);
    TH_RUN(t_release);
    TH_RUN(t_target);
    return th_summary("t_trust");
}

TH_MAIN
