/*
** agent_sync.h — the agent's read path for its config, without a single
** JetStream consumer: direct gets of exactly the keys it may read
** (agent_config global, pcs.<pc> and groups.<g> of its groups, and
** agent_groups/<pc>), and core subscriptions to their change notifications
** ($KV.agent_config.global, .groups.*, .pcs.<pc>, $KV.agent_groups.<pc>).
**
** A notification carries no stream sequence, so each one is answered by a
** direct get of the key, and the (value, revision) it returns goes through
** the acfg table, whose per-key marks drop any revision at or below one
** already applied (the reconnect-replay guard). A full read runs on every
** (re)connect and every few minutes, covering a notification lost while
** disconnected.
**
** A revision below a key's mark that was written after the marked one
** means the bucket was deleted and created again (revisions restart at 1):
** ASY_RESET, and the caller forgets the marks.
*/
#ifndef AGENT_SYNC_H
#define AGENT_SYNC_H
#include <stddef.h>
#include "agent_cfg.h"
#include "kv.h"
#include "nats.h"

#define ASY_RESET 100           /* a bucket was recreated: forget the marks */

typedef struct asy asy;

/*
** Attaches agent_config and agent_groups (no server call) and subscribes to
** the notifications; notify_event (a Win32 event, may be NULL) is set when
** one is queued. The tables are the caller's. Returns NATS_OK or an error.
*/
int asy_open(nats_conn *c, const char *pc_id, acfg *config, acfg *groups, void *notify_event,
             asy **out);
void asy_close(asy *s);                      /* harmless on NULL */

/*
** Reads every key. *changed is set when a table changed. Returns NATS_OK,
** ASY_RESET, or the failing call's status with a one-line message in err
** (NATS_ERR_NO_RESPONDERS: the bucket named in err does not exist).
*/
int asy_sync(asy *s, int *changed, char *err, size_t cap);

/* Answers the queued notifications (each changed key read once). Same
** results as asy_sync; with nothing queued, NATS_OK at once. */
int asy_drain(asy *s, int *changed, char *err, size_t cap);

/* The bucket a failure was about ("agent_config" / "agent_groups"). */
const char *asy_failed_bucket(const asy *s);
#endif
