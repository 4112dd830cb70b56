/*
** fuzz_sign.c — libFuzzer target for sign.c's parsers. On any input: no
** crash, and
**  - a "P256:" key that parses formats back to the same bytes' encoding and
**    reparses to the same point and id;
**  - a PEM that yields a private key yields one whose signature verifies
**    under its own public key;
**  - arbitrary DER never verifies against a fixed key as a signature over the
**    input (the chance of a forgery is nil), and sig_check never reports OK
**    for it.
*/
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "sign.h"
#include "sha256.h"

static const char fixed_pub[] =
    "P256:BGD+1LolWp0xyWHrdMY1bWjASbiSO2H6bOZpYi5g8p+2eQP+EAi4vJmkGunpVii8ZPLxsgwtfp9Rd6PClNRGIpk=";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char s[4096], out[SIG_PUBSTR_MAX], b64[8192];
    sig_pub p, p2, fixed;
    sig_priv k;
    unsigned char der[SIG_DER_MAX];
    size_t dn = 0, n = size < sizeof s - 1 ? size : sizeof s - 1;

    memcpy(s, data, n);
    s[n] = '\0';
    if (sig_pub_parse(s, &p) == SIG_OK) {
        if (sig_pub_format(&p, out, sizeof out) != SIG_OK) abort();
        if (sig_pub_parse(out, &p2) != SIG_OK) abort();
        if (memcmp(p.q, p2.q, SIG_PUB_LEN) != 0 || strcmp(p.id, p2.id) != 0) abort();
    }
    if (sig_priv_from_pem((const char *)data, size, &k) == SIG_OK) {
        if (sig_sign(&k, data, size, der, sizeof der, &dn) != SIG_OK) abort();
        if (sig_verify(&k.pub, data, size, der, dn) != SIG_OK) abort();
    }
    if (sig_pub_parse(fixed_pub, &fixed) != SIG_OK) abort();
    if (sig_verify(&fixed, "m", 1, data, size) == SIG_OK) abort();
    if (b64_encode(data, size, 0, 1, b64, sizeof b64) == SHA256_OK &&
        sig_check(&fixed, 1, "m", 1, b64, fixed.id, NULL, 0, NULL) == SIG_OK) abort();
    if (sig_check(&fixed, 1, "m", 1, s, fixed.id, NULL, 0, NULL) == SIG_OK) abort();
    return 0;
}
