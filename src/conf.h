/*
** conf.h — agent.conf parser, a TOML subset: [section], key = "string",
** integers, booleans, # comments. Pure: no windows.h.
*/
#ifndef CONF_H
#define CONF_H
#include <stddef.h>

#define CONF_OK        0
#define CONF_ERR_SYNTAX 1      /* err = "line N: what" */
#define CONF_ERR_VALUE  2      /* a known key with a bad value (e.g. invalid id) */
#define CONF_ERR_SPACE  3      /* conf_write: output buffer too small */

#define CONF_PATH_MAX 780      /* UTF-8 bytes for a MAX_PATH path */

typedef struct conf {
    char id[65];               /* [agent] id; "" = computer name (caller fills) */
    char nats_url[1024];       /* [agent] nats_url; comma list allowed; default nats://127.0.0.1:4222 */
    char ca_file[CONF_PATH_MAX];   /* [tls] */
    char cert_file[CONF_PATH_MAX];
    char key_file[CONF_PATH_MAX];
    char user[128];            /* [auth] */
    char password[128];
    char token[256];
    int health_timeout_s;      /* [update] health_timeout, default 120 */
    char release_keys[400];    /* [update] release_keys: the "P256:..." keys, comma-separated
                                  ("" = none: unsigned releases and targets are accepted) */
    char log_level[16];        /* [log] level: error|warn|info|debug, default info */
    int keep_days;             /* [log] keep_days, default 14; 0 = never delete */
    char warnings[512];        /* unknown keys/sections, "line N: unknown key x; ..." */
} conf;

void conf_defaults(conf *c);
/* Parses text into c (after conf_defaults). Errors carry the line number. */
int conf_parse(const char *text, size_t len, conf *c, char *err, size_t errcap);
/* Writes a fresh agent.conf for install (values may be NULL/""). */
int conf_write(const conf *c, char *out, size_t cap);
#endif
