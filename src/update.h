/*
** update.h — the self-update state machine (docs/design.md, Update state machine), the swap helper,
** rollback, quarantine and crash recovery. agent.c owns the main loop and
** the broker connection; it feeds this module the resolved target on every
** evaluation and calls upd_tick when upd_next_due_ms says work is due. The
** state machine is update.c; the persisted state and the case analysis for
** crash recovery are in upd_state.c; the swap helper is upd_swap.c.
*/
#ifndef UPDATE_H
#define UPDATE_H
#include <stddef.h>
#include <stdint.h>
#include <wchar.h>
#include "nats.h"
#include "sign.h"

/* Update states as reported in heartbeat/status (docs/design.md, Update state machine). */
#define UPD_IDLE        "idle"
#define UPD_PENDING     "pending"
#define UPD_SCHEDULED   "scheduled"
#define UPD_DOWNLOADING "downloading"
#define UPD_VERIFYING   "verifying"
#define UPD_SWAPPING    "swapping"
#define UPD_MONITORING  "monitoring"
#define UPD_DONE        "done"
#define UPD_FAILED      "failed"
#define UPD_ROLLED_BACK "rolled_back"
#define UPD_QUARANTINED "quarantined"
/* `run` (console) mode: downloaded and verified, deliberately not swapped. */
#define UPD_VERIFIED    "verified"
/* Safe rollouts: the rollout of the target is halted (or its records cannot
** be read under a halt policy); not swapped, checked again periodically. */
#define UPD_HALTED      "halted"

typedef struct upd_config {
    const char *exe_path;       /* running exe, UTF-8 */
    const char *data_dir;       /* %ProgramData%\Kanade\data */
    const char *version;        /* running version (own VERSIONINFO) */
    const char *config_path;    /* agent.conf, passed on to the helper */
    int health_timeout_s;       /* [update] health_timeout */
    int under_scm;              /* 1 = service: may swap; 0 = `run`: verify only */
    /* Called (on the agent thread) after every state transition, so the
    ** agent can publish a heartbeat at once. */
    void (*on_change)(void *arg);
    void *arg;
    const char *log_dir;        /* optional: where the swap helper logs;
                                   NULL = <data_dir>\..\logs (docs/design.md, Files on a host) */
    /* The fleet simulator only (NULL in the agent): called instead of the
    ** SCM swap once the target is downloaded and verified. 0 = the target
    ** runs now (done); otherwise err says why and the target is rolled
    ** back and quarantined as after a real failed swap. */
    int (*sim_swap)(void *arg, const char *to, char *err, size_t cap);
    /* [update] release_keys: with any, a release must carry a valid
    ** signature by one of them (trust.h) before it is downloaded and again
    ** over the bytes obj_get verified; otherwise it is quarantined with a
    ** reason starting "signature:". None: releases are not checked. */
    const sig_pub *release_keys;
    int nrelease_keys;
    /*
    ** Safe rollouts (agent_ro.c; both optional, called on the agent thread).
    ** schedule: the moment the download of `to` may start, given now and
    ** the jitter draw (NULL = now + draw; INT64_MAX = never: a PC the wave
    ** plan leaves out). gate: 0 = go on with `to`; non-zero = hold (state
    ** halted, with reason), asked again after *recheck_ms. Asked when the
    ** scheduled moment comes, before the download, and again just before
    ** the swap.
    */
    int64_t (*schedule)(void *arg, const char *to, int64_t now_ms, int64_t draw_ms);
    int (*gate)(void *arg, const char *to, char *reason, size_t cap, int64_t *recheck_ms);
} upd_config;

/* A snapshot for the heartbeat/status document. */
typedef struct upd_status {
    char state[16];             /* UPD_* */
    char target[72];            /* resolved target, "" if none */
    char error[256];            /* update_error, "" if none */
    int percent;                /* download progress, -1 if n/a */
    int64_t scheduled_at_ms;    /* unix ms when state == scheduled, else 0 */
    char quarantined[512];      /* JSON array text of quarantined versions, "[]" */
} upd_status;

/*
** Several agents in one process (the fleet simulator): the module's state
** is per thread. upd_ctx_new allocates a zeroed state (never freed: the
** download worker may outlive a stop); upd_ctx_use makes the calling
** thread's upd_* calls work on it (NULL = the process's own, the default
** of every thread). The download worker inherits its agent's state.
*/
typedef struct upd_ctx upd_ctx;
upd_ctx *upd_ctx_new(void);
void upd_ctx_use(upd_ctx *x);

/*
** Called first thing on every agent start, before connecting: reads
** update.json and the state file, finishes or undoes an interrupted swap,
** applies the crash-loop guard. May restore .old and return UPD_RESTART,
** in which case the agent exits non-zero so the SCM (or the helper) starts
** the restored exe.
*/
#define UPD_RESTART 100
int upd_init(const upd_config *cfg);

/* The agent reached the broker and runs `version`: if this start is the
** target of a swap, mark update.json healthy for the waiting helper. */
void upd_on_connected(void);

/* Every evaluation of the resolved target ("" = none set). */
void upd_on_target(nats_conn *c, const char *target, const char *scope, int64_t jitter_ms);

/* Unix ms when upd_tick should next run (INT64_MAX if nothing is due). */
int64_t upd_next_due_ms(void);
/* Runs whatever is due: the scheduled download, a retry, or the hand-over. */
void upd_tick(nats_conn *c);

void upd_get_status(upd_status *out);
/* Stop any running download promptly (service STOP). */
void upd_shutdown(void);

/* Exit codes of the swap helper and its watchdog (the agent logs them). */
#define UPD_SWAP_OK           0   /* swapped and healthy, or nothing to do */
#define UPD_SWAP_USAGE        1   /* bad arguments or an unreadable job */
#define UPD_SWAP_ROLLED_BACK  2   /* the new build failed; the old one runs again */
#define UPD_SWAP_FAILED       3   /* refused or gave up: see the job's reason */
#define UPD_SWAP_NO_START     4   /* the service could not be started again */
#define UPD_SWAP_TEST_ABORT  99   /* the test build's swap-abort-at hook */

/* Entry of `kanade-agent.exe --swap <update.json path>`: the detached helper. */
int upd_swap_main(int argc, wchar_t **argv);
/* Entry of `kanade-agent.exe --swap-watch <helper pid> <update.json path>`:
** starts the service when the helper died before a final phase. */
int upd_watch_main(int argc, wchar_t **argv);
#endif
