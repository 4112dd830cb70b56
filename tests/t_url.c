/*
** t_url.c — broker URL redaction and plaintext detection (url.c), natively
** under ASan/UBSan and under Wine.
*/
#include <string.h>
#include "th.h"
#include "url.h"

static void t_redact(void)
{
    char out[256];
    TH_EQ_INT(url_redact("nats://alice:s3cret@nats.example:4222", out, sizeof out), 0);
    TH_EQ_STR(out, "nats://alice:***@nats.example:4222");
    TH_EQ_INT(url_redact("tls://tok3n@h:1,nats://127.0.0.1:4222", out, sizeof out), 0);
    TH_EQ_STR(out, "tls://***@h:1,nats://127.0.0.1:4222");
    /* The client reads userinfo up to the LAST '@': so does the redactor. */
    TH_EQ_INT(url_redact("nats://u:p@ss@h", out, sizeof out), 0);
    TH_EQ_STR(out, "nats://u:***@h");
    TH_EQ_INT(url_redact("u:pw@h:4222", out, sizeof out), 0);
    TH_EQ_STR(out, "u:***@h:4222");
    TH_EQ_INT(url_redact("nats://h:4222", out, sizeof out), 0);
    TH_EQ_STR(out, "nats://h:4222");
    TH_EQ_INT(url_redact("", out, sizeof out), 0);
    TH_EQ_STR(out, "");
    TH_EQ_INT(url_redact(NULL, out, sizeof out), 0);
    TH_EQ_STR(out, "");
}

/* A buffer too small cuts the output, never lets a secret byte through. */
static void t_redact_small(void)
{
    char out[16];
    size_t cap;
    for (cap = 1; cap <= sizeof out; cap++) {
        memset(out, 'x', sizeof out);
        url_redact("nats://alice:s3cret@h:4222", out, cap);
        TH_CHECK(strlen(out) < cap);
        TH_CHECK(strstr(out, "s3c") == NULL);
    }
    TH_EQ_INT(url_redact("nats://alice:s3cret@h:4222", out, 10), 1);
    TH_EQ_STR(out, "nats://al");
}

static void t_loopback(void)
{
    static const char *const yes[] = {
        "nats://127.0.0.1:4222", "127.0.0.1", "nats://localhost:4222", "tls://LOCALHOST",
        "nats://[::1]:4222", "nats://127.255.0.9", "nats://u:p@127.0.0.1:1",
    };
    static const char *const no[] = {
        "nats://10.0.0.1:4222", "nats://nats.example", "nats://127.0.0.1.evil.example",
        "nats://localhost.evil.example:4222", "nats://127.0.0.256", "nats://[::2]:4222",
        "nats://127.1", "nats://localhost@evil.example", "nats://[::1", "nats://",
    };
    size_t i;
    for (i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (!url_is_loopback(yes[i], yes[i] + strlen(yes[i]))) fprintf(stderr, "  %s\n", yes[i]);
        TH_CHECK(url_is_loopback(yes[i], yes[i] + strlen(yes[i])));
    }
    for (i = 0; i < sizeof no / sizeof no[0]; i++) {
        if (url_is_loopback(no[i], no[i] + strlen(no[i]))) fprintf(stderr, "  %s\n", no[i]);
        TH_CHECK(!url_is_loopback(no[i], no[i] + strlen(no[i])));
    }
}

static void t_plaintext(void)
{
    char first[64];
    TH_EQ_INT(url_plaintext_remote("nats://127.0.0.1:4222", 0, first, sizeof first), 0);
    TH_EQ_INT(url_plaintext_remote("nats://127.0.0.1:4222, nats://u:pw@nats.example:4222", 0,
                                   first, sizeof first), 1);
    TH_EQ_STR(first, "nats://u:***@nats.example:4222");
    TH_EQ_INT(url_plaintext_remote("nats.example:4222", 0, NULL, 0), 1);
    /* tls:// is never plaintext (without a CA the client refuses it). */
    TH_EQ_INT(url_plaintext_remote("tls://nats.example:4222", 0, first, sizeof first), 0);
    /* With a CA file every URL goes through TLS. */
    TH_EQ_INT(url_plaintext_remote("nats://nats.example:4222", 1, first, sizeof first), 0);
    TH_EQ_INT(url_plaintext_remote("", 0, first, sizeof first), 0);
    TH_EQ_INT(url_plaintext_remote(NULL, 0, first, sizeof first), 0);
}

static int main_(void)
{
    TH_RUN(t_redact);
    TH_RUN(t_redact_small);
    TH_RUN(t_loopback);
    TH_RUN(t_plaintext);
    return th_summary("t_url");
}

TH_MAIN
