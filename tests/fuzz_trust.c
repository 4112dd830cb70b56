/*
** fuzz_trust.c — libFuzzer target for trust.c. On any input: no crash, and
**  - a key list that parses holds at most SIG_MAX_KEYS distinct keys;
**  - the input as a scope value never passes trust_target_check against a
**    fixed key unless it carries a real signature (it cannot: the chance of
**    a forgery is nil), for any scope;
**  - trust_target_sign of a value that reads as a target gives a value
**    that checks under the signing key with exactly that rev.
*/
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "trust.h"

static const char pem[] =
    "-----BEGIN EC PRIVATE KEY-----\n"
    "MHcCAQEEIMmvqdhFunUWa1whV2ex1pNOUMPbNuibEnuKYisSD2choAoGCCqGSM49\n"
    "AwEHoUQDQgAEYP7UuiVanTHJYet0xjVtaMBJuJI7Yfps5mliLmDyn7Z5A/4QCLi8\n"
    "maQa6elWKLxk8vGyDC1+n1F3o8KU1EYimQ==\n"
    "-----END EC PRIVATE KEY-----\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char s[4096], out[8192], why[256];
    static sig_priv k;
    static int have;
    sig_pub keys[SIG_MAX_KEYS];
    trust_target t;
    int64_t rev = 0;
    int n = 0, i, j;
    size_t len = size < sizeof s - 1 ? size : sizeof s - 1;

    if (!have) { if (sig_priv_from_pem(pem, strlen(pem), &k) != SIG_OK) abort(); have = 1; }
    memcpy(s, data, len);
    s[len] = '\0';
    if (trust_parse_keys(s, keys, SIG_MAX_KEYS, &n, why, sizeof why) == TRUST_OK) {
        if (n < 0 || n > SIG_MAX_KEYS) abort();
        for (i = 0; i < n; i++)
            for (j = i + 1; j < n; j++)
                if (strcmp(keys[i].id, keys[j].id) == 0) abort();
    }
    i = trust_target_check(&k.pub, 1, "global", s, len, 0, &rev, NULL, why, sizeof why);
    if ((i == TRUST_OK || i == TRUST_ROLLOUT_UNSIGNED) && strstr(s, "target_signature") == NULL) abort();
    if (trust_target_read(s, len, &t, why, sizeof why) == TRUST_OK && scope_valid_version(t.target)) {
        if (trust_target_sign(&k, "groups.g", s, len, 42, out, sizeof out) == TRUST_OK) {
            if (trust_target_check(&k.pub, 1, "groups.g", out, strlen(out), 42, &rev, NULL, why, sizeof why)
                != TRUST_OK || rev != 42) abort();
        }
    }
    return 0;
}
