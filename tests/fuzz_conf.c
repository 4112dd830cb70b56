/*
** fuzz_conf.c — libFuzzer target for conf.c. conf_parse must never crash
** or read out of bounds on any input; whatever it accepts, conf_write must
** write, and conf_parse must read that text back to the same values.
*/
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "conf.h"

/* Field-by-field equality (the bytes after each string's NUL may differ). */
static int same(const conf *a, const conf *b)
{
    return strcmp(a->id, b->id) == 0 && strcmp(a->nats_url, b->nats_url) == 0
        && strcmp(a->ca_file, b->ca_file) == 0 && strcmp(a->cert_file, b->cert_file) == 0
        && strcmp(a->key_file, b->key_file) == 0 && strcmp(a->user, b->user) == 0
        && strcmp(a->password, b->password) == 0 && strcmp(a->token, b->token) == 0
        && a->health_timeout_s == b->health_timeout_s
        && strcmp(a->log_level, b->log_level) == 0 && a->keep_days == b->keep_days;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char out[65536];
    char err[256];
    conf c, back;
    int rc;

    conf_defaults(&c);
    rc = conf_parse((const char *)data, size, &c, err, sizeof err);
    if (rc != CONF_OK) {
        /* Every failure explains itself with a line number. */
        if (strncmp(err, "line ", 5) != 0) abort();
        return 0;
    }
    if (conf_write(&c, out, sizeof out) != CONF_OK) abort();
    conf_defaults(&back);
    if (conf_parse(out, strlen(out), &back, err, sizeof err) != CONF_OK) abort();
    if (back.warnings[0] || !same(&c, &back)) abort();
    return 0;
}
