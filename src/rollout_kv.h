/*
** rollout_kv.h — the failure records of safe rollouts in KV
** `agent_rollouts` (formats and decisions in rollout.h): an agent writes
** its own record and reads the count just before a swap; the operator
** reads the same count for `rollout status` and resets it with `resume`.
**
** Reading is a plain read at that moment, never a long-lived watch or a
** consumer: one STREAM.INFO with a subjects filter names the version's
** keys, then one direct get per key. So the read fits a least-privilege
** agent that may only get keys and ask for stream info.
*/
#ifndef ROLLOUT_KV_H
#define ROLLOUT_KV_H
#include "kv.h"
#include "rollout.h"

#define ROKV_MAX_RECORDS 512   /* records read per version (far past any threshold) */

/* Creates agent_rollouts (history 1) or binds to it. */
int rokv_open(nats_conn *c, int replicas, kv_bucket **out, js_err *e);

/* Writes f as fail.<version>.<pc> (a put: a PC that fails again rewrites
** only its own key). */
int rokv_record_failure(kv_bucket *b, const ro_fail *f, js_err *e);

/* The version's records as bucket entries: keys and values (malloc'd;
** free with rokv_list_free). *truncated = 1 when more keys than the cap
** exist. */
typedef struct rokv_list {
    int n, truncated;
    kv_entry v[ROKV_MAX_RECORDS + 1];   /* + the ctl key */
} rokv_list;
int rokv_read(nats_conn *c, kv_bucket *b, const char *version, rokv_list *l, js_err *e);
void rokv_list_free(rokv_list *l);

/* Reads and evaluates in one go. A read that fails leaves *v with
** hold = 1 when a policy is set (do not guess), and returns the error. */
int rokv_check(nats_conn *c, kv_bucket *b, const ro_policy *p, const char *version,
               ro_verdict *v, js_err *e);

/* `resume`: the current failure count becomes the baseline. */
int rokv_resume(nats_conn *c, kv_bucket *b, const char *version, const char *by,
                int *baseline, js_err *e);
#endif
