/*
** upd_int.h — private to the self-update module (update.c, upd_state.c,
** upd_swap.c): the persisted records, the per-agent state U and the calls
** the three files make into each other. update.h is the public contract.
**
** Test-only hooks, compiled only into the test build of the agent
** (-DKANADE_TEST_HOOKS: build/test/kanade-agent.exe; the shipped exe has no
** such code, which tests/it_build.sh checks): files in <data>\test-hooks\.
** Files, not environment variables, because a service inherits the
** environment of the SCM, which a test cannot change between scenarios.
**   swap-abort-at  "stopped", "replaced" or "started": the helper exits
**       right after that step, as if killed. One-shot: deleted as it fires.
**   download-delay-ms  N: the download sleeps N ms per chunk, so a test can
**       act in the middle of a download.
*/
#ifndef UPD_INT_H
#define UPD_INT_H
#include <windows.h>
#include <string.h>
#include "update.h"
#include "scope.h"
#include "win.h"

#define SWAP_MUTEX       L"Global\\KanadeAgentSwapHelper"
/* upd_swap_mutex_create results (the mutex's DACL and the squatting check
** are in upd_state.c). */
#define MUTEX_OURS    0
#define MUTEX_NONE    1     /* no such mutex */
#define MUTEX_FOREIGN 2     /* exists, but not created by SYSTEM/Administrators/us */
#define MAX_QUARANTINE   16
#define PATH_U8          (WIN_PATH_MAX * 3)
#define VER_CAP          (SCOPE_VERSION_MAX + 8)

/* ---- persistent agent state (update-state.json) ------------------------ */

typedef struct quarantine {
    char version[VER_CAP];
    char reason[256];
    int armed;          /* the target moved away since: rolling it out again clears it */
} quarantine;

typedef struct pstate {
    quarantine q[MAX_QUARANTINE];
    int nq;
    char sched_target[VER_CAP];     /* jitter schedule, kept across restarts */
    int64_t sched_at_ms;
    char fresh_version[VER_CAP];    /* crash-loop guard */
    int64_t fresh_since_ms;
    int fresh_unclean;
    int running;                    /* 1 until a clean stop */
    char rb_version[VER_CAP];       /* the last version rolled back: reported as
                                       rolled_back (not just quarantined) while
                                       it stays the target, across restarts */
} pstate;

/* ---- one swap (update.json) ------------------------------------------- */

typedef struct swap_job {
    char kind[16];                  /* "swap" or "restore" */
    char from[VER_CAP], to[VER_CAP];
    char phase[24];
    char exe[PATH_U8], new_[PATH_U8], old[PATH_U8];
    char data_dir[PATH_U8], log_dir[PATH_U8];
    int health_timeout_s;
    char reason[256];
    int64_t t_created, t_stopped, t_replaced, t_started, t_healthy, t_done;
} swap_job;

/* ---- the module ------------------------------------------------------- */

/* One agent's update state. A process has its own (upd_own); the fleet
** simulator runs many agents in one process and gives each agent thread
** its own through upd_ctx_use (see update.h). */
struct upd_ctx {
    int inited;
    upd_config cfg;
    char exe[PATH_U8], data_dir[PATH_U8], log_dir[PATH_U8], config[PATH_U8];
    char version[VER_CAP];
    char state_path[PATH_U8], job_path[PATH_U8], last_job_path[PATH_U8];
    char new_path[PATH_U8], old_path[PATH_U8], updater_dir[PATH_U8];
    pstate ps;
    sig_pub keys[SIG_MAX_KEYS];     /* upd_config.release_keys, copied */
    int nkeys;

    CRITICAL_SECTION api;           /* one public call at a time (upd_shutdown
                                       runs on a thread-pool thread) */
    int stopping;                   /* upd_shutdown ran: start nothing new */
    CRITICAL_SECTION lock;          /* guards st and dl (the worker's share) */
    upd_status st;
    int notify;                     /* a transition happened: call on_change */

    /* the current attempt (agent thread only) */
    int failures;
    int64_t retry_at_ms;
    int64_t poll_at_ms;             /* next poll of the worker/helper; 0 = unset */
    int last_percent_reported;
    HANDLE helper;                  /* swap helper process, while swapping */
    int swap_target;                /* this start is the `to` of a live swap */
    int has_deferred;               /* a target that arrived during a swap */
    char def_target[VER_CAP], def_scope[80];
    int64_t def_jitter_ms;
    int self_gate;                  /* helper gone: reaching the broker = done */
    int held_new;                   /* halted with a verified <exe>.new kept */

    /* the download worker (shared under lock) */
    struct {
        HANDLE thread;
        volatile LONG cancel;
        int finished;
        int rc;
        char target[VER_CAP];
        char err[256];
        uint64_t done, total;
        nats_conn *conn;
        int delay_ms;               /* test hook */
        int refused;                /* the release failed its signature check */
    } dl;
};

#ifdef _MSC_VER
#define UPD_TLS __declspec(thread)
#else
#define UPD_TLS _Thread_local
#endif
extern UPD_TLS upd_ctx *upd_cur;
/* Every function below works on the calling thread's state. */
#define U (*upd_cur)

static inline void copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = src ? strlen(src) : 0;
    if (cap == 0) return;
    if (n >= cap) n = cap - 1;
    if (n) memcpy(dst, src, n);
    dst[n] = 0;
}

static inline int streq(const char *a, const char *b) { return strcmp(a, b) == 0; }

/* update.c: the state machine */
int upd_file_version(const char *path, char *out, size_t cap);
#ifdef KANADE_TEST_HOOKS
int upd_test_hook(const char *name, char *out, size_t cap, char *path, size_t pcap);
#endif
void upd_set_state(const char *state, const char *error);
void upd_set_target(const char *t);
void upd_fail_attempt(const char *error);

/* upd_trust.c: the release signature check (0 = trusted, or no keys) */
struct obj_info;
int upd_release_trusted(const struct obj_info *info, const char *target, char *why, size_t cap);

/* upd_state.c: update-state.json, update.json, crash recovery */
void upd_set_paths(const char *data_dir);
void upd_default_log_dir(const char *data_dir, char *out, size_t cap);
void upd_state_load(void);
int upd_state_save(void);
quarantine *upd_q_find(const char *version);
void upd_q_add(const char *version, const char *reason);
void upd_q_remove(const char *version);
void upd_q_json(char *out, size_t cap);
void upd_job_init(swap_job *j, const char *kind, const char *from, const char *to);
int upd_job_read(const char *path, swap_job *j);
int upd_job_write(const char *path, const swap_job *j);
void upd_job_archive(void);
int upd_helper_alive(void);
/* The helper's side: creates (or opens) SWAP_MUTEX with a DACL for SYSTEM
** and Administrators. MUTEX_OURS with *out set, MUTEX_FOREIGN (logged), or
** -1 on another error (recorded). */
int upd_swap_mutex_create(HANDLE *out);
int upd_recover(void);
int upd_crash_guard(int prev_unclean, int64_t now);

/* upd_swap.c: the swap helper process and its launch */
int upd_copy_atomic(const char *src, const char *dst);
int upd_spawn_helper(const char *helper_exe, HANDLE *proc);
int upd_make_helper_copy(char *out, size_t cap);
#endif
