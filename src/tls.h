/*
** tls.h — TLS 1.2 client over BearSSL for the NATS connection: trust
** anchors from a PEM CA bundle, server name (or IP address) verification,
** an optional client certificate chain and key (RSA or EC) for mutual TLS,
** and handshake failures named by cause.
**
** No socket code lives here: the owner passes send/recv callbacks
** (tls_io), so the module only drives the BearSSL engine.
**
** Locking scheme (the BearSSL engine is not thread-safe)
**   One engine serves both directions, so every tls_send/tls_flush/tls_recv
**   call on a tls_conn must hold the owner's single lock (nats_glue.c uses
**   its writer lock). The owner's reader thread waits for and receives raw
**   socket bytes WITHOUT the lock, then takes the lock only to hand them to
**   tls_recv(), which decrypts into a caller buffer and sends any records
**   the engine produced (alerts). Writers take the lock, tls_send() the
**   plaintext and tls_flush(), which encrypts and sends the records. So no
**   thread ever blocks in recv() while holding the lock, and a writer
**   blocked in send() only waits for the peer to read. The handshake runs
**   before the connection is shared, on one thread.
**
** Time and entropy: on Windows BearSSL reads the clock for certificate
** validity itself (GetSystemTimeAsFileTime, BR_USE_WIN32_TIME) and seeds
** its PRNG from the system (RDRAND or CryptGenRandom); tls_connect also
** injects 32 bytes from the OS RNG, so a missing seeder cannot stall it.
*/
#ifndef TLS_H
#define TLS_H
#include <stddef.h>

#define TLS_OK            0
#define TLS_ERR_CONFIG    1   /* CA/cert/key file unreadable or invalid */
#define TLS_ERR_HANDSHAKE 2   /* handshake or certificate check failed */
#define TLS_ERR_IO        3   /* the transport failed or timed out */
#define TLS_ERR_CLOSED    4   /* the peer ended the TLS session */
#define TLS_ERR_NOMEM     5

/* Trust anchors and client credentials, loaded once, read-only after. */
typedef struct tls_config tls_config;

/*
** Loads ca_file (PEM, one or more CERTIFICATE blocks; required) and, if
** both are given, the client chain cert_file and key_file (PEM: RSA
** PRIVATE KEY, EC PRIVATE KEY or PRIVATE KEY). Returns TLS_OK with *out
** owned by the caller (free with tls_config_free), or an error with a
** one-line reason in err.
*/
int tls_config_load(const char *ca_file, const char *cert_file, const char *key_file,
                    tls_config **out, char *err, size_t errcap);
void tls_config_free(tls_config *cfg);          /* harmless on NULL */

/* Transport callbacks supplied by the owner. */
typedef struct tls_io {
    void *ctx;
    /* Sends all n bytes; 0 = sent, non-zero = the transport failed. */
    int (*send_all)(void *ctx, const void *buf, size_t n);
    /* Receives up to cap bytes within timeout_ms: > 0 bytes, 0 at EOF,
    ** -1 on error or timeout. */
    int (*recv_some)(void *ctx, void *buf, size_t cap, int timeout_ms);
} tls_io;

typedef struct tls_conn tls_conn;

/*
** Runs a client handshake over io within timeout_ms. host (a DNS name or
** an IPv4/IPv6 literal) is checked against the server certificate; a DNS
** name is also sent as SNI. On TLS_OK *out is the caller's (tls_close).
** On failure err names the cause, e.g. "certificate not trusted (unknown
** CA)", "certificate does not match host ...", "certificate expired or
** not yet valid", or the alert the server sent.
*/
int tls_connect(const tls_config *cfg, const char *host, const tls_io *io,
                int timeout_ms, tls_conn **out, char *err, size_t errcap);
/* Queues plaintext; sends full records as they fill. Owner's lock held. */
int tls_send(tls_conn *t, const void *data, size_t len);
/* Sends every queued byte as records. Owner's lock held. */
int tls_flush(tls_conn *t);
/*
** Feeds raw bytes in[0..in_len) from the socket (may be 0 bytes, to drain
** what the engine holds) and decrypts into out[0..out_cap). *in_used and
** *out_len say how much was consumed and produced; call again while input
** remains or out came back full. Owner's lock held.
*/
int tls_recv(tls_conn *t, const void *in, size_t in_len, size_t *in_used,
             void *out, size_t out_cap, size_t *out_len);
/* The reason for the last failure on t ("" if none). */
const char *tls_last_error(const tls_conn *t);
void tls_close(tls_conn *t);                    /* frees; harmless on NULL */
#endif
