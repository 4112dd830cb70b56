/*
** objstore.h — JetStream Object Store (ADR-20), wire-compatible with
** nats.go/nats.js: 128 KiB chunks, padded base64url names and digests.
*/
#ifndef OBJSTORE_H
#define OBJSTORE_H
#include "jetstream.h"

#define OBJ_CHUNK_SIZE 131072
#define OBJ_MAX_HDRS   4        /* meta headers kept per object */

/* One meta header ("headers" of the ObjectInfo: name -> [values]); only
** the first value of a name is kept. */
typedef struct obj_hdr {
    char name[48];
    char value[160];
} obj_hdr;

typedef struct obj_store obj_store;

typedef struct obj_info {
    char name[256];
    char bucket[64];
    char nuid[32];
    uint64_t size;
    uint32_t chunks;
    char digest[64];            /* "SHA-256=<base64url padded>", "" when absent */
    char mtime[40];             /* RFC 3339 */
    int deleted;
    obj_hdr hdr[OBJ_MAX_HDRS];  /* meta headers, in stored order */
    int nhdr;
} obj_info;

/* The first value of meta header `name` (case-insensitive), or NULL. */
const char *obj_header(const obj_info *info, const char *name);

/* Called as bytes move; total is the object size (0 when unknown). */
typedef void (*obj_progress_fn)(void *arg, uint64_t done, uint64_t total);
/* Reads up to cap bytes into buf; *got = 0 at end. Non-zero = abort. */
typedef int (*obj_read_fn)(void *arg, void *buf, size_t cap, size_t *got);
/* Consumes len bytes. Non-zero = abort. */
typedef int (*obj_write_fn)(void *arg, const void *buf, size_t len);

int obj_open(nats_conn *c, const char *bucket, obj_store **out, js_err *e); /* create or bind */
/* obj_open creating a missing store with `replicas` stream replicas (1..5). */
int obj_open_replicas(nats_conn *c, const char *bucket, int replicas, obj_store **out, js_err *e);
int obj_bind(nats_conn *c, const char *bucket, obj_store **out, js_err *e); /* NOT_FOUND if missing */
/* Attaches without asking the server: meta and chunks are read with direct
** gets only (the store needs allow_direct, as `kanade broker init` makes
** it). For a least-privilege client; a missing store shows on the first
** read as NATS_ERR_NO_RESPONDERS. */
int obj_attach(nats_conn *c, const char *bucket, obj_store **out, js_err *e);
void obj_close(obj_store *s);               /* harmless on NULL */

/* Info of `name`; NATS_ERR_NOT_FOUND when absent, or deleted unless show_deleted. */
int obj_info_get(obj_store *s, const char *name, int show_deleted, obj_info *out, js_err *e);

/* Puts the stream as `name`, replacing (and purging) any previous object. */
int obj_put(obj_store *s, const char *name, obj_read_fn rd, void *rarg,
            obj_progress_fn pr, void *parg, obj_info *out, js_err *e);
/* obj_put writing the n meta headers h (n <= OBJ_MAX_HDRS) with the object,
** in the same meta message, so the object is never seen without them. */
int obj_put_hdrs(obj_store *s, const char *name, const obj_hdr *h, int n, obj_read_fn rd, void *rarg,
                 obj_progress_fn pr, void *parg, obj_info *out, js_err *e);
/* Rewrites the meta of the live object `name` with the n headers h in place
** of its old ones; the data (nuid, chunks, digest) stays as it is. */
int obj_set_headers(obj_store *s, const char *name, const obj_hdr *h, int n, obj_info *out, js_err *e);
int obj_put_file(obj_store *s, const char *name, const char *path_utf8,
                 obj_progress_fn pr, void *parg, obj_info *out, js_err *e);

/*
** Streams `name` to wr while hashing; verifies size, chunk count and digest
** at the end (NATS_ERR_SIZE / NATS_ERR_DIGEST). A missing or malformed
** digest is NATS_ERR_DIGEST. *info (may be NULL) receives the object's info.
*/
int obj_get(obj_store *s, const char *name, obj_write_fn wr, void *warg,
            obj_progress_fn pr, void *parg, obj_info *info, js_err *e);
/* obj_get into path (flushed to disk); on any failure after the file was
** created it is deleted. A missing or deleted object leaves path untouched. */
int obj_get_file(obj_store *s, const char *name, const char *path_utf8,
                 obj_progress_fn pr, void *parg, obj_info *info, js_err *e);

/* Calls cb for each object (deleted ones only if include_deleted). */
int obj_list(obj_store *s, int include_deleted,
             void (*cb)(void *arg, const obj_info *info), void *arg, js_err *e);
int obj_delete(obj_store *s, const char *name, js_err *e);
#endif
