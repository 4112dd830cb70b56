/*
** url.h — what the agent and the CLI need to know about a broker URL list
** ("nats://h:p,tls://user:pass@h:p") without connecting: a form safe to
** log, and whether it talks plaintext to another machine. Pure: no
** windows.h; built natively for the sanitizers and fuzzed
** (tests/fuzz_url.c).
*/
#ifndef URL_H
#define URL_H
#include <stddef.h>

/* What replaces a password or a token in a redacted URL. */
#define URL_REDACTED "***"

/*
** Copies the comma-separated URL list `in` into out (cap bytes, always
** NUL-terminated) with every credential replaced: "user:pass@" becomes
** "user:***@" and "token@" becomes "***@". Everything else is kept as
** given. Returns 0, or 1 when out was too small (out then holds a
** truncated but still redacted prefix: no secret byte is ever copied).
*/
int url_redact(const char *in, char *out, size_t cap);

/* 1 when the host of the single URL [u, end) is loopback (localhost,
** 127.0.0.0/8, ::1), else 0. */
int url_is_loopback(const char *u, const char *end);

/*
** 1 when the client would talk to a non-loopback host without TLS: the
** client uses TLS for every URL once a CA file is configured (has_ca),
** and refuses tls:// without one, so plaintext means no CA and a URL that
** is not tls://. The first such URL (redacted) goes to first (cap bytes)
** when first is not NULL. 0 otherwise.
*/
int url_plaintext_remote(const char *list, int has_ca, char *first, size_t cap);
#endif
