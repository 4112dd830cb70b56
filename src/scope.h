/*
** scope.h — identifiers, durations, versions, and the layered resolution of
** agent_config scopes (docs/design.md, Wire contract). Pure: no windows.h.
*/
#ifndef SCOPE_H
#define SCOPE_H
#include <stddef.h>
#include <stdint.h>

#define SCOPE_OK          0
#define SCOPE_ERR_INVALID 1   /* bad identifier, version or duration */
#define SCOPE_ERR_JSON    2   /* a scope value is not a JSON object */
#define SCOPE_ERR_SPACE   3   /* output buffer too small */

#define SCOPE_ID_MAX      64  /* pc ids and group names: [A-Za-z0-9_-]{1,64} */
#define SCOPE_VERSION_MAX 64  /* [0-9A-Za-z][0-9A-Za-z._+-]{0,63}, no ".." */
#define SCOPE_MAX_GROUPS  64

int scope_valid_id(const char *s);        /* 1 if valid */
int scope_valid_version(const char *s);   /* 1 if valid */
/* "0s", "30s", "5m", "1h30m", "2h", "1h5m10s" (units h, m, s, in that order,
** each at most once, at least one). Anything else: SCOPE_ERR_INVALID. */
int scope_parse_duration(const char *s, int64_t *ms);
/* ms -> "1h30m", "45s", "0s" (inverse of parse for whole seconds). */
int scope_format_duration(int64_t ms, char *out, size_t cap);

/* One agent_config entry: key "global", "groups.<g>" or "pcs.<id>". */
typedef struct scope_layer {
    const char *key;
    const char *json; size_t len;         /* JSON object text */
} scope_layer;

typedef struct scope_result {
    char target_version[SCOPE_VERSION_MAX + 1]; /* "" when no layer sets it */
    char target_scope[80];                /* key that supplied it, e.g. "pcs.canary-01" */
    int64_t jitter_ms;                    /* target_version_jitter, default 0 */
    char jitter_scope[80];
    int64_t heartbeat_ms;                 /* heartbeat_interval, default 30000 */
    char conflicts[512];                  /* "target_version: groups.a vs groups.b; ..." or "" */
    char errors[512];                     /* fields ignored as invalid, or "" */
} scope_result;

/*
** Resolves field by field: defaults, "global", the layers "groups.<g>" for
** g in groups (alphabetically; the last wins, conflicts are reported), then
** "pcs.<pc_id>". Layers for other groups and other pcs are ignored. null
** means unset. An invalid value (bad version, bad duration, non-object) is
** skipped and named in out->errors.
*/
int scope_resolve(const scope_layer *layers, int nlayers, const char *pc_id,
                  char groups[][SCOPE_ID_MAX + 1], int ngroups, scope_result *out);

/* Parses {"groups":[...]} into sorted, deduplicated, valid names.
** Unparsable -> 0 groups and SCOPE_ERR_JSON. */
int scope_parse_groups(const char *json, size_t len,
                       char groups[][SCOPE_ID_MAX + 1], int cap, int *n);
/* Writes {"groups":[...]} (sorted, deduplicated) into out. */
int scope_write_groups(char groups[][SCOPE_ID_MAX + 1], int n, char *out, size_t cap);

/*
** Rewrites the JSON object `json` (NULL or "" = {}) with field `key` set to
** the string `value` (NULL writes null), keeping every other field intact.
*/
int scope_set_field(const char *json, size_t len, const char *key, const char *value,
                    char *out, size_t cap);
/* scope_set_field with a raw JSON scalar (a number, true, false, null or a
** JSON string with its quotes) as the value; anything else is
** SCOPE_ERR_INVALID. */
int scope_set_raw(const char *json, size_t len, const char *key, const char *raw,
                  char *out, size_t cap);
#endif
