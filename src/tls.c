/*
** tls.c — BearSSL client glue (see tls.h). Interim version: TLS is not
** built yet, so every entry point refuses with a clear message.
*/
#include <stdio.h>
#include "tls.h"

int tls_config_load(const char *ca_file, const char *cert_file, const char *key_file,
                    tls_config **out, char *err, size_t errcap)
{
    *out = NULL;
    if (err && errcap) snprintf(err, errcap, "TLS is not available in this build yet");
    return TLS_ERR_CONFIG;
}
void tls_config_free(tls_config *cfg) { (void)cfg; }
int tls_connect(const tls_config *cfg, const char *host, const tls_io *io,
                int timeout_ms, tls_conn **out, char *err, size_t errcap)
{
    *out = NULL;
    if (err && errcap) snprintf(err, errcap, "TLS is not available in this build yet");
    return TLS_ERR_HANDSHAKE;
}
int tls_send(tls_conn *t, const void *data, size_t len) { return TLS_ERR_IO; }
int tls_flush(tls_conn *t) { return TLS_ERR_IO; }
int tls_recv(tls_conn *t, const void *in, size_t in_len, size_t *in_used,
             void *out, size_t out_cap, size_t *out_len) { *in_used = 0; *out_len = 0; return TLS_ERR_IO; }
const char *tls_last_error(const tls_conn *t) { return "TLS is not available in this build yet"; }
void tls_close(tls_conn *t) { (void)t; }
