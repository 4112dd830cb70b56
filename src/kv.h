/*
** kv.h — JetStream Key-Value (ADR-8), wire-compatible with nats.go/nats.js.
*/
#ifndef KV_H
#define KV_H
#include "jetstream.h"

#define KV_OP_PUT   0
#define KV_OP_DEL   1
#define KV_OP_PURGE 2

typedef struct kv_bucket kv_bucket;
typedef struct kv_watcher kv_watcher;

typedef struct kv_config {
    const char *bucket;
    int history;                /* max_msgs_per_subject, 1..64 (0 = 1) */
    int64_t max_age_ns;         /* 0 = none */
    int64_t max_bytes;          /* 0 = unlimited (-1 on the wire) */
} kv_config;

typedef struct kv_entry {
    char key[256];
    int op;                     /* KV_OP_* */
    uint64_t revision;          /* stream sequence */
    int64_t created_ns;         /* Unix time, ns */
    uint64_t delta;             /* pending after this one (watch only) */
    unsigned char *value;       /* malloc'd, NUL-terminated; free with kv_entry_clear */
    size_t len;
} kv_entry;
void kv_entry_clear(kv_entry *e);

/* Creates the bucket with nats.go's exact stream config, or binds to it when it exists. */
int kv_open(nats_conn *c, const kv_config *cfg, kv_bucket **out, js_err *e);
/* kv_open creating a missing bucket with `replicas` stream replicas (1..5). */
int kv_open_replicas(nats_conn *c, const kv_config *cfg, int replicas, kv_bucket **out, js_err *e);
/* Binds to an existing bucket; NATS_ERR_NOT_FOUND when it is missing. */
int kv_bind(nats_conn *c, const char *bucket, kv_bucket **out, js_err *e);
/*
** Attaches to a bucket without asking the server anything: reads use direct
** gets only (the bucket must have allow_direct, as `kanade broker init`
** creates it), writes are plain publishes. For a least-privilege client
** that may not call STREAM.INFO or STREAM.MSG.GET. A missing bucket shows
** on the first read or write as NATS_ERR_NO_RESPONDERS.
*/
int kv_attach(nats_conn *c, const char *bucket, kv_bucket **out, js_err *e);
void kv_close(kv_bucket *b);                /* harmless on NULL */

/* NATS_ERR_NOT_FOUND when absent or deleted/purged. */
int kv_get(kv_bucket *b, const char *key, kv_entry *out, js_err *e);
/* The key's last entry, DEL/PURGE markers included (op tells);
** NATS_ERR_NOT_FOUND when the key has no message at all. */
int kv_get_entry(kv_bucket *b, const char *key, kv_entry *out, js_err *e);
int kv_put(kv_bucket *b, const char *key, const void *val, size_t len, uint64_t *rev, js_err *e);
/* NATS_ERR_EXISTS when the key holds a live value. */
int kv_create(kv_bucket *b, const char *key, const void *val, size_t len, uint64_t *rev, js_err *e);
/* Compare-and-set: NATS_ERR_CONFLICT when the key's last revision != last_rev. */
int kv_update(kv_bucket *b, const char *key, const void *val, size_t len,
              uint64_t last_rev, uint64_t *rev, js_err *e);
int kv_delete(kv_bucket *b, const char *key, js_err *e);
int kv_purge(kv_bucket *b, const char *key, js_err *e);
/* Calls cb once per live key. */
int kv_keys(kv_bucket *b, void (*cb)(void *arg, const char *key), void *arg, js_err *e);

/*
** Watch keyspec (">" for all, or one key) with deliver last_per_subject.
** kv_watch_next returns NATS_OK with an entry (PUT/DEL/PURGE), KV_INIT_DONE
** exactly once when the initial values are delivered (also for an empty
** bucket), or NATS_ERR_TIMEOUT. It resumes after reconnects and gaps
** without delivering a revision twice or skipping one.
*/
#define KV_INIT_DONE 100
int kv_watch(kv_bucket *b, const char *keyspec, void *notify_event, kv_watcher **out, js_err *e);
int kv_watch_next(kv_watcher *w, int timeout_ms, kv_entry *out);
void kv_watch_stop(kv_watcher *w);           /* harmless on NULL */
#endif
