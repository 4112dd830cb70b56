/*
** update.c — the self-update state machine (DESIGN §5), the detached swap
** helper, rollback, quarantine, the crash-loop guard and crash recovery.
**
** Two files carry state across processes, both written atomically
** (win_write_atomic: temp file, flush, MoveFileExW REPLACE|WRITE_THROUGH):
**
**   <data>\update-state.json  owned by the agent: quarantine (version,
**       reason, armed), the jitter schedule {target, at_ms}, the "fresh
**       swap" record for the crash-loop guard {version, since_ms, unclean},
**       `running` (1 from upd_init until a clean upd_shutdown), and the last
**       version rolled back (reported as rolled_back, not merely
**       quarantined, while it stays the target, also after a restart). The
**       helper writes it only while the service is stopped (to quarantine).
**   <data>\update.json  one swap: {kind, from, to, phase, exe, new, old,
**       data_dir, log_dir, health_timeout_s, reason, t_* timestamps}.
**       Written by the agent (hand-over), then by the helper at each step,
**       and by the new agent once (phase "healthy"). After the outcome is
**       folded into the agent's state it is renamed to update.last.json.
**
** Threads. Everything runs on the agent thread except the download, which
** runs on one worker thread so the agent keeps answering pings and a target
** change cancels it at once (the obj_get write callback returns non-zero
** when the cancel flag is set). The worker only touches the `dl` block
** under `lock`; the agent thread polls it from upd_tick (upd_next_due_ms
** asks for a tick every 50 ms while a download runs, and only then). A
** cancelled worker is never waited for on the agent thread: a new download
** starts once the old worker has gone, because both write <exe>.new.
** upd_shutdown may run on another thread (the agent's stop callback), so
** every public call holds `api`; on_change is called after it is released.
**
** Decisions. A target equal to the running version, or unset, ends any
** attempt. A quarantined target is refused until the target has moved to
** another version and back (the entry is "armed" by the move, persisted).
** Any other new target replaces the current attempt (scheduled, failed or
** downloading; the download is cancelled) and gets a fresh jitter moment,
** unless the state file already holds one for it (a restart keeps it). A
** swap in progress cannot be cancelled: a target that arrives meanwhile is
** kept and evaluated as soon as the swap has an outcome. Failures retry
** after 15 s, 45 s, then x3 up to 10 min while the target stands; a label/
** binary mismatch is quarantined at once (retrying cannot fix it).
**
** The swap. The agent copies its own exe to <data>\updater\ and starts the
** copy detached with `--swap <update.json>`. The helper holds the named
** mutex SWAP_MUTEX for its whole life, so any agent start can tell "helper
** alive" from "helper gone" (a killed helper abandons the mutex):
**   stopping -> svc_stop (waits on the process handle, terminates past 30 s)
**   stopped  -> copy exe to exe.old (flushed, atomic), then
**               ReplaceFileW(exe, exe.new, NULL): with the backup already on
**               disk, the replacement is a single rename-over, so the exe
**               path always names a complete build (a ReplaceFileW with a
**               backup name renames twice and leaves a window with no exe)
**   replaced -> monitoring (written before svc_start, so the new agent's
**               "healthy" can never be overwritten) -> svc_start
**   monitoring: waits for phase "healthy" (written by the new agent when it
**               runs `to` and reached the broker) within health_timeout,
**               while watching the service process handle (Wine does not
**               report a dead service and ignores failure actions).
**   healthy  -> done.   Not healthy -> rolling_back: svc_stop, exe.old
**               copied over exe (same atomic replace), quarantine `to`,
**               rolled_back, svc_start.
**
** Crash recovery (upd_init, helper gone: killed, crashed or power cut).
** The running version (own VERSIONINFO) tells which build the SCM started:
**   running == from (the old build):
**     handover, stopping, stopped, failed, replaced, monitoring:
**         the new build never ran as the service (a phase written before a
**         lost rename, or a replace that failed): the swap did not happen.
**         Delete exe.new; state failed "swap interrupted at <phase>"; the
**         normal retry backoff applies.
**     rolling_back, rolled_back, restore: the rollback completed (the old
**         build runs): make sure `to` is quarantined; state rolled_back.
**     healthy, done: the crash-loop guard restored .old later; nothing.
**   running == to (the new build):
**     replaced, monitoring, healthy, done, or an earlier phase whose write
**     was lost after the replace: the new build is in place. Without a
**     helper, this agent is its own health gate: reaching the broker makes
**     it done; crashing before that is caught by the crash-loop guard
**     (the fresh-swap record is armed here).
**     rolling_back, rolled_back, restore: a rollback was decided but the old
**     build is not running: write a "restore" job, start the helper (it
**     stops this process, restores .old, starts the service) and return
**     UPD_RESTART.
**   running is neither: a stale record; archived and ignored.
** A power cut inside a step leaves either the old or the new complete file
** under the exe name (copies go to a .tmp, are flushed, then renamed over),
** so one of the cases above always applies: the exe is never missing.
**
** Crash-loop guard: a start whose previous run did not record a clean stop
** counts as unclean; the third unclean start of a freshly swapped version
** within its first hour writes a restore job (as above).
**
** Test-only hooks: files in <data>\test-hooks\ (the data folder is for
** SYSTEM and Administrators only; never present in production). Files, not
** environment variables, because a service inherits the environment of the
** SCM, which a test cannot change between scenarios.
**   swap-abort-at  "stopped", "replaced" or "started": the helper exits
**       right after that step, as if killed. One-shot: deleted as it fires.
**   download-delay-ms  N: the download sleeps N ms per chunk, so a test can
**       act in the middle of a download.
*/
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "update.h"
#include "objstore.h"
#include "service.h"
#include "sha256.h"
#include "pe_version.h"
#include "json.h"
#include "scope.h"
#include "log.h"
#include "win.h"

#define RELEASES_BUCKET  "agent_releases"
#define SWAP_MUTEX       L"Global\\KanadeAgentSwapHelper"
#define MAX_QUARANTINE   16
#define PATH_U8          (WIN_PATH_MAX * 3)
#define VER_CAP          (SCOPE_VERSION_MAX + 8)
#define CRASH_WINDOW_MS  (60LL * 60 * 1000)   /* crash-loop guard: first hour */
#define CRASH_LIMIT      3                     /* unclean starts that roll back */
#define STOP_TIMEOUT_MS  30000
#define START_TIMEOUT_MS 60000   /* starting the old build again: retry long */
/* Starting the NEW build: the SCM has just stopped the service, so it is up
** and a refusal is the build's fault. Past this bound an accepted start
** that is not RUNNING yet is left to the health gate. Kept short because
** svc_start retries StartService, and every retry runs the new build again
** (Wine answers 1053 at once for a process that exits before connecting). */
#define NEW_START_MS     3000
#define POLL_MS          100
#define COPY_BUF         65536

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
    } dl;
};

#ifdef _MSC_VER
#define UPD_TLS __declspec(thread)
#else
#define UPD_TLS _Thread_local
#endif
static upd_ctx upd_own;
static UPD_TLS upd_ctx *upd_cur = &upd_own;
/* Every function below works on the calling thread's state. */
#define U (*upd_cur)

static int job_read(const char *path, swap_job *j);
static int job_write(const char *path, const swap_job *j);

/* ---- small helpers ---------------------------------------------------- */

static void copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = src ? strlen(src) : 0;
    if (cap == 0) return;
    if (n >= cap) n = cap - 1;
    if (n) memcpy(dst, src, n);
    dst[n] = 0;
}

static int streq(const char *a, const char *b) { return strcmp(a, b) == 0; }

static int one_of(const char *s, const char *const *set)
{
    for (; *set; set++) if (streq(s, *set)) return 1;
    return 0;
}

/* Reads the version of the PE file at path into out. 0 = read. */
static int file_version(const char *path, char *out, size_t cap)
{
    FILE *f = win_fopen(path, "rb");
    int rc;
    out[0] = 0;
    if (!f) return 1;
    rc = pe_version_file(f, out, cap);
    fclose(f);
    if (rc != PEV_OK) win_err_set("%s: %s", path, pe_version_strerror(rc));
    return rc;
}

/* SHA-256 of a file, 0 = hashed. */
static int file_sha256(const char *path, unsigned char out[SHA256_LEN])
{
    FILE *f = win_fopen(path, "rb");
    int rc;
    if (!f) return 1;
    rc = sha256_file(f, out, NULL);
    fclose(f);
    return rc;
}

/*
** Copies src to dst with no window in which dst is missing or partial:
** the bytes go to dst.tmp, are flushed, and dst.tmp then replaces dst in
** one step (ReplaceFileW keeps dst's ACL and attributes; MoveFileExW when
** dst does not exist yet, or when ReplaceFileW refuses). Sharing or lock
** violations (an antivirus scan, a process still closing) are retried for
** a few seconds. 0 = copied; the error is recorded otherwise.
*/
static int copy_atomic(const char *src, const char *dst)
{
    wchar_t ws[WIN_PATH_MAX], wd[WIN_PATH_MAX], wt[WIN_PATH_MAX + 8];
    HANDLE in, out;
    unsigned char *buf = NULL;
    DWORD got, put;
    int rc = 1, tries;
    char tmp[PATH_U8 + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", dst);
    if (win_to_wide(src, ws, WIN_PATH_MAX) || win_to_wide(dst, wd, WIN_PATH_MAX)
        || win_to_wide(tmp, wt, WIN_PATH_MAX + 8)) {
        win_err_set("path too long or not UTF-8: %s", dst);
        return 1;
    }
    in = CreateFileW(ws, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_DELETE, NULL,
                     OPEN_EXISTING, FILE_FLAG_SEQUENTIAL_SCAN, NULL);
    if (in == INVALID_HANDLE_VALUE) { win_err("CreateFileW", src); return 1; }
    out = CreateFileW(wt, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL);
    if (out == INVALID_HANDLE_VALUE) { win_err("CreateFileW", tmp); CloseHandle(in); return 1; }
    buf = malloc(COPY_BUF);
    if (!buf) { win_err_set("out of memory copying %s", src); goto done; }
    for (;;) {
        if (!ReadFile(in, buf, COPY_BUF, &got, NULL)) { win_err("ReadFile", src); goto done; }
        if (got == 0) break;
        if (!WriteFile(out, buf, got, &put, NULL) || put != got) { win_err("WriteFile", tmp); goto done; }
    }
    if (!FlushFileBuffers(out)) { win_err("FlushFileBuffers", tmp); goto done; }
    rc = 0;
done:
    free(buf);
    CloseHandle(in);
    CloseHandle(out);
    if (rc) { DeleteFileW(wt); return rc; }
    for (tries = 0; tries < 25; tries++) {
        if (GetFileAttributesW(wd) != INVALID_FILE_ATTRIBUTES) {
            if (ReplaceFileW(wd, wt, NULL, REPLACEFILE_IGNORE_MERGE_ERRORS, NULL, NULL)) return 0;
            win_err("ReplaceFileW", dst);
        }
        if (MoveFileExW(wt, wd, MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH)) return 0;
        win_err("MoveFileExW", dst);
        if (GetLastError() != ERROR_SHARING_VIOLATION && GetLastError() != ERROR_ACCESS_DENIED
            && GetLastError() != ERROR_LOCK_VIOLATION) break;
        Sleep(200);
    }
    DeleteFileW(wt);
    return 1;
}

/* Reads test hook `name` (first line) into out; 0 = present. */
static int test_hook(const char *name, char *out, size_t cap, char *path, size_t pcap)
{
    char *text = NULL;
    size_t len = 0, n;
    snprintf(path, pcap, "%s\\test-hooks\\%s", U.data_dir, name);
    if (!win_exists(path) || win_read_all(path, 256, &text, &len) != 0) return 1;
    for (n = 0; n < len && text[n] != '\r' && text[n] != '\n' && text[n] != ' '; n++) ;
    text[n] = 0;
    copy_str(out, cap, text);
    free(text);
    return 0;
}

/* Test-only hook, see the header comment: the helper exits after `step`. */
static void test_abort_at(const char *step)
{
    char v[32], path[PATH_U8];
    if (test_hook("swap-abort-at", v, sizeof v, path, sizeof path) == 0 && streq(v, step)) {
        win_delete(path);
        log_warn("swap: TEST HOOK swap-abort-at=%s: the helper exits here", step);
        log_close();
        ExitProcess(99);
    }
}

static void set_paths(const char *data_dir)
{
    copy_str(U.data_dir, sizeof U.data_dir, data_dir);
    snprintf(U.state_path, sizeof U.state_path, "%s\\update-state.json", data_dir);
    snprintf(U.job_path, sizeof U.job_path, "%s\\update.json", data_dir);
    snprintf(U.last_job_path, sizeof U.last_job_path, "%s\\update.last.json", data_dir);
    snprintf(U.updater_dir, sizeof U.updater_dir, "%s\\updater", data_dir);
}

/* <data_dir>\..\logs, the layout of DESIGN §6. */
static void default_log_dir(const char *data_dir, char *out, size_t cap)
{
    const char *slash = strrchr(data_dir, '\\');
    size_t n = slash ? (size_t)(slash - data_dir) : 0;
    if (!slash || n + 6 >= cap) { copy_str(out, cap, data_dir); return; }
    memcpy(out, data_dir, n);
    copy_str(out + n, cap - n, "\\logs");
}

/* ---- update-state.json ------------------------------------------------ */

/* Loads the state file into U.ps; a missing or unreadable file is a fresh
** state (logged when it exists but cannot be parsed). */
static void state_load(void)
{
    char *text = NULL;
    size_t len = 0;
    json_tok tok[256];
    json_doc d;
    int i, k, arr;
    int64_t v;
    memset(&U.ps, 0, sizeof U.ps);
    if (!win_exists(U.state_path)) return;
    if (win_read_all(U.state_path, 65536, &text, &len) != 0) {
        log_warn("update: cannot read %s: %s; starting with an empty state", U.state_path, win_last_error());
        return;
    }
    if (json_parse(&d, text, len, tok, 256) != JSON_OK || d.ntok < 1 || tok[0].type != JSON_OBJECT) {
        log_warn("update: %s is not valid JSON; starting with an empty state", U.state_path);
        free(text);
        return;
    }
    arr = json_find(&d, 0, "quarantine");
    if (arr > 0 && tok[arr].type == JSON_ARRAY) {
        int n = tok[arr].size;
        for (i = arr + 1, k = 0; k < n && i < d.ntok; k++, i = json_skip(&d, i)) {
            quarantine *q;
            int armed = 0;
            if (tok[i].type != JSON_OBJECT || U.ps.nq >= MAX_QUARANTINE) continue;
            q = &U.ps.q[U.ps.nq];
            if (json_get_str(&d, i, "version", q->version, sizeof q->version) != JSON_OK
                || !scope_valid_version(q->version)) continue;
            if (json_get_str(&d, i, "reason", q->reason, sizeof q->reason) != JSON_OK) q->reason[0] = 0;
            json_get_bool(&d, i, "armed", &armed);
            q->armed = armed;
            U.ps.nq++;
        }
    }
    if (json_get_str(&d, 0, "sched_target", U.ps.sched_target, sizeof U.ps.sched_target) == JSON_OK
        && json_get_int(&d, 0, "sched_at_ms", &v) == JSON_OK) U.ps.sched_at_ms = v;
    else U.ps.sched_target[0] = 0;
    if (json_get_str(&d, 0, "fresh_version", U.ps.fresh_version, sizeof U.ps.fresh_version) == JSON_OK) {
        if (json_get_int(&d, 0, "fresh_since_ms", &v) == JSON_OK) U.ps.fresh_since_ms = v;
        if (json_get_int(&d, 0, "fresh_unclean", &v) == JSON_OK) U.ps.fresh_unclean = (int)v;
    } else U.ps.fresh_version[0] = 0;
    json_get_bool(&d, 0, "running", &U.ps.running);
    if (json_get_str(&d, 0, "rb_version", U.ps.rb_version, sizeof U.ps.rb_version) != JSON_OK)
        U.ps.rb_version[0] = 0;
    free(text);
}

/* Writes U.ps atomically. 0 = written (a failure is logged). */
static int state_save(void)
{
    char buf[8192];
    json_w w;
    int i;
    json_w_init(&w, buf, sizeof buf);
    json_w_obj_open(&w);
    json_w_key(&w, "quarantine");
    json_w_arr_open(&w);
    for (i = 0; i < U.ps.nq; i++) {
        json_w_obj_open(&w);
        json_w_kstr(&w, "version", U.ps.q[i].version);
        json_w_kstr(&w, "reason", U.ps.q[i].reason);
        json_w_kbool(&w, "armed", U.ps.q[i].armed);
        json_w_obj_close(&w);
    }
    json_w_arr_close(&w);
    if (U.ps.sched_target[0]) {
        json_w_kstr(&w, "sched_target", U.ps.sched_target);
        json_w_kint(&w, "sched_at_ms", U.ps.sched_at_ms);
    }
    if (U.ps.fresh_version[0]) {
        json_w_kstr(&w, "fresh_version", U.ps.fresh_version);
        json_w_kint(&w, "fresh_since_ms", U.ps.fresh_since_ms);
        json_w_kint(&w, "fresh_unclean", U.ps.fresh_unclean);
    }
    json_w_kbool(&w, "running", U.ps.running);
    if (U.ps.rb_version[0]) json_w_kstr(&w, "rb_version", U.ps.rb_version);
    json_w_obj_close(&w);
    if (w.err) { log_error("update: state too large to write"); return 1; }
    if (win_write_atomic(U.state_path, buf, w.len) != 0) {
        log_error("update: cannot write %s: %s", U.state_path, win_last_error());
        return 1;
    }
    return 0;
}

static quarantine *q_find(const char *version)
{
    int i;
    for (i = 0; i < U.ps.nq; i++)
        if (streq(U.ps.q[i].version, version)) return &U.ps.q[i];
    return NULL;
}

/* Adds (or refreshes) a quarantine entry, dropping the oldest when full. */
static void q_add(const char *version, const char *reason)
{
    quarantine *q = q_find(version);
    if (!q) {
        if (U.ps.nq == MAX_QUARANTINE) {
            memmove(&U.ps.q[0], &U.ps.q[1], sizeof U.ps.q[0] * (MAX_QUARANTINE - 1));
            U.ps.nq--;
        }
        q = &U.ps.q[U.ps.nq++];
        copy_str(q->version, sizeof q->version, version);
    }
    copy_str(q->reason, sizeof q->reason, reason);
    q->armed = 0;
}

static void q_remove(const char *version)
{
    quarantine *q = q_find(version);
    if (!q) return;
    memmove(q, q + 1, sizeof *q * (size_t)(&U.ps.q[U.ps.nq] - (q + 1)));
    U.ps.nq--;
}

/* The quarantine as a JSON array of strings into out. */
static void q_json(char *out, size_t cap)
{
    json_w w;
    int i;
    json_w_init(&w, out, cap);
    json_w_arr_open(&w);
    for (i = 0; i < U.ps.nq; i++) json_w_str(&w, U.ps.q[i].version);
    json_w_arr_close(&w);
    if (w.err) copy_str(out, cap, "[]");
}

/* ---- status and transitions ------------------------------------------- */

/*
** Moves to `state` with `error` ("" or NULL = none) and logs one line. The
** agent is told (on_change) when the public call returns, never under the
** lock, so it may call upd_get_status from on_change.
*/
static void set_state(const char *state, const char *error)
{
    char prev[16];
    EnterCriticalSection(&U.lock);
    copy_str(prev, sizeof prev, U.st.state);
    copy_str(U.st.state, sizeof U.st.state, state);
    copy_str(U.st.error, sizeof U.st.error, error ? error : "");
    U.st.percent = streq(state, UPD_DOWNLOADING) ? 0 : -1;
    if (!streq(state, UPD_SCHEDULED)) U.st.scheduled_at_ms = 0;
    q_json(U.st.quarantined, sizeof U.st.quarantined);
    LeaveCriticalSection(&U.lock);
    U.notify = 1;
    if (error && *error)
        log_msg(streq(state, UPD_FAILED) ? LOG_WARN : LOG_INFO, "update: %s -> %s (target %s): %s",
                prev, state, U.st.target[0] ? U.st.target : "-", error);
    else
        log_info("update: %s -> %s (target %s)", prev, state, U.st.target[0] ? U.st.target : "-");
}

static void set_target(const char *t)
{
    EnterCriticalSection(&U.lock);
    copy_str(U.st.target, sizeof U.st.target, t);
    LeaveCriticalSection(&U.lock);
}

static int state_is(const char *s) { return streq(U.st.state, s); }

/* Calls on_change once if a transition happened during this public call. */
static void notify(void)
{
    if (U.notify && U.cfg.on_change) {
        U.notify = 0;
        U.cfg.on_change(U.cfg.arg);
    }
    U.notify = 0;
}

/* ---- the download worker ---------------------------------------------- */

typedef struct dl_sink {
    HANDLE file;
} dl_sink;

static int dl_write(void *arg, const void *buf, size_t len)
{
    dl_sink *s = arg;
    DWORD put;
    if (InterlockedCompareExchange(&U.dl.cancel, 0, 0)) return 1;
    if (U.dl.delay_ms > 0) {                /* test hook: a slow link */
        int slept;
        for (slept = 0; slept < U.dl.delay_ms; slept += 50) {
            if (InterlockedCompareExchange(&U.dl.cancel, 0, 0)) return 1;
            Sleep(50);
        }
    }
    if (len > 0xffffffffu || !WriteFile(s->file, buf, (DWORD)len, &put, NULL) || put != len) {
        win_err("WriteFile", U.new_path);
        return 1;
    }
    return 0;
}

static void dl_progress(void *arg, uint64_t done, uint64_t total)
{
    (void)arg;
    EnterCriticalSection(&U.lock);
    U.dl.done = done;
    U.dl.total = total;
    LeaveCriticalSection(&U.lock);
}

/* Describes an objstore failure in one line for update_error. */
static void describe(char *out, size_t cap, const char *what, int rc, const js_err *e, nats_conn *c)
{
    if (rc == NATS_ERR_DIGEST)
        snprintf(out, cap, "%s: digest mismatch: the bytes do not match the release's recorded SHA-256 (or it has none)", what);
    else if (rc == NATS_ERR_SIZE)
        snprintf(out, cap, "%s: size or chunk count does not match the release's info", what);
    else if (rc == NATS_ERR_NOT_FOUND)
        snprintf(out, cap, "%s: not found in %s", what, RELEASES_BUCKET);
    else if (rc == NATS_ERR_JS && e && e->desc[0])
        snprintf(out, cap, "%s: %s (%d)", what, e->desc, e->err_code);
    else if (rc == NATS_ERR_IO)
        snprintf(out, cap, "%s: %s", what, win_last_error());
    else {
        const char *last = c ? nats_last_error(c) : "";
        snprintf(out, cap, "%s: %s%s%s", what, nats_strerror(rc), last && *last ? ": " : "", last ? last : "");
    }
}

/*
** Reuses <exe>.old when it is the target build (a rollback to the previous
** version needs no download). It is still checked against the release's
** digest when the release exists; a release that is gone from the store
** does not block it, because .old is this host's own last good build.
** s is the bound store, or NULL with bind_rc saying why. Returns 0 when
** <exe>.new now holds a usable copy, 1 to download.
*/
static int dl_from_old(obj_store *s, int bind_rc, const char *target)
{
    char v[VER_CAP];
    obj_info info;
    js_err e;
    unsigned char want[SHA256_LEN], have[SHA256_LEN];
    int rc;
    if (!win_exists(U.old_path) || file_version(U.old_path, v, sizeof v) != 0 || !streq(v, target))
        return 1;
    if (copy_atomic(U.old_path, U.new_path) != 0) {
        log_warn("update: cannot copy %s: %s; downloading instead", U.old_path, win_last_error());
        return 1;
    }
    memset(&e, 0, sizeof e);
    rc = s ? obj_info_get(s, target, 0, &info, &e) : bind_rc;
    if (rc == NATS_ERR_NOT_FOUND) {
        log_info("update: using %s (version %s, the previous build); the release is no longer in %s",
                 U.old_path, target, RELEASES_BUCKET);
        return 0;
    }
    if (rc == NATS_OK && sha256_digest_decode(info.digest, want) == SHA256_OK
        && file_sha256(U.new_path, have) == 0 && memcmp(want, have, SHA256_LEN) == 0) {
        log_info("update: using %s (version %s, the previous build); matches the release digest, no download",
                 U.old_path, target);
        return 0;
    }
    log_warn("update: %s is version %s but %s; downloading instead", U.old_path, target,
             rc == NATS_OK ? "does not match the release digest" : "the release info could not be read");
    win_delete(U.new_path);
    return 1;
}

/* The worker: <exe>.new from .old or from the store; the result in U.dl. */
static DWORD WINAPI dl_thread(void *arg)
{
    nats_conn *c;
    obj_store *s = NULL;
    js_err e;
    obj_info info;
    dl_sink sink;
    wchar_t wn[WIN_PATH_MAX];
    char err[256] = "";
    char what[128];
    char target[VER_CAP];
    int rc;
    upd_cur = arg;                  /* the state of the agent that started us */
    c = U.dl.conn;
    EnterCriticalSection(&U.lock);
    copy_str(target, sizeof target, U.dl.target);
    LeaveCriticalSection(&U.lock);
    snprintf(what, sizeof what, "download of %s/%s", RELEASES_BUCKET, target);
    memset(&e, 0, sizeof e);
    rc = obj_bind(c, RELEASES_BUCKET, &s, &e);
    if (dl_from_old(rc == NATS_OK ? s : NULL, rc, target) == 0) { rc = NATS_OK; goto out; }
    if (rc != NATS_OK) {
        if (rc == NATS_ERR_NOT_FOUND) snprintf(err, sizeof err, "object store %s does not exist", RELEASES_BUCKET);
        else describe(err, sizeof err, what, rc, &e, c);
        goto out;
    }
    if (win_to_wide(U.new_path, wn, WIN_PATH_MAX)) { rc = NATS_ERR_IO; snprintf(err, sizeof err, "path too long: %s", U.new_path); goto out; }
    sink.file = CreateFileW(wn, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL);
    if (sink.file == INVALID_HANDLE_VALUE) {
        win_err("CreateFileW", U.new_path);
        rc = NATS_ERR_IO;
        snprintf(err, sizeof err, "%s: %s", what, win_last_error());
        goto out;
    }
    memset(&info, 0, sizeof info);
    rc = obj_get(s, target, dl_write, &sink, dl_progress, NULL, &info, &e);
    if (rc == NATS_OK && !FlushFileBuffers(sink.file)) {
        win_err("FlushFileBuffers", U.new_path);
        rc = NATS_ERR_IO;
    }
    CloseHandle(sink.file);
    if (InterlockedCompareExchange(&U.dl.cancel, 0, 0)) {
        rc = NATS_ERR_CLOSED;
        snprintf(err, sizeof err, "cancelled");
    } else if (rc != NATS_OK) {
        describe(err, sizeof err, what, rc, &e, c);
    } else {
        log_info("update: downloaded %s (%llu bytes, %u chunks, %s) to %s", target,
                 (unsigned long long)info.size, (unsigned)info.chunks, info.digest, U.new_path);
    }
out:
    if (rc != NATS_OK) win_delete(U.new_path);
    obj_close(s);
    EnterCriticalSection(&U.lock);
    U.dl.rc = rc;
    copy_str(U.dl.err, sizeof U.dl.err, err);
    U.dl.finished = 1;
    LeaveCriticalSection(&U.lock);
    return 0;
}

/* Reaps a finished worker. Returns 1 when no worker exists any more. */
static int dl_reap(void)
{
    int finished;
    if (!U.dl.thread) return 1;
    EnterCriticalSection(&U.lock);
    finished = U.dl.finished;
    LeaveCriticalSection(&U.lock);
    if (!finished) return 0;
    WaitForSingleObject(U.dl.thread, INFINITE);   /* it has returned already */
    CloseHandle(U.dl.thread);
    U.dl.thread = NULL;
    return 1;
}

/* ---- the attempt ------------------------------------------------------ */

/* Drops the current attempt (target change, unset, quarantine). */
static void cancel_attempt(const char *why)
{
    if (U.dl.thread) {
        InterlockedExchange(&U.dl.cancel, 1);
        log_info("update: cancelling the download of %s: %s", U.dl.target, why);
    }
    if (U.ps.sched_target[0]) {
        U.ps.sched_target[0] = 0;
        U.ps.sched_at_ms = 0;
        state_save();
    }
    U.failures = 0;
    U.retry_at_ms = 0;
    if (!U.dl.thread) win_delete(U.new_path);
}

/* Backoff after the n-th failure: 15 s, 45 s, then x3 capped at 10 min. */
static int64_t backoff_ms(int n)
{
    int64_t ms = 15000;
    while (--n > 0 && ms < 600000) ms *= 3;
    return ms > 600000 ? 600000 : ms;
}

static void fail_attempt(const char *error)
{
    char msg[256];
    int64_t wait;
    U.failures++;
    wait = backoff_ms(U.failures);
    U.retry_at_ms = win_unix_ms() + wait;
    win_delete(U.new_path);
    snprintf(msg, sizeof msg, "%s (retry %d in %llds)", error, U.failures, (long long)(wait / 1000));
    set_state(UPD_FAILED, msg);
    if (U.failures == 1 || U.failures % 5 == 0) log_event(LOG_WARN, "self-update to %s failed: %s", U.st.target, error);
}

/* Puts `version` in quarantine with `reason` and reports it. */
static void quarantine_target(const char *version, const char *reason)
{
    q_add(version, reason);
    if (streq(U.ps.sched_target, version)) U.ps.sched_target[0] = 0;
    state_save();
    U.failures = 0;
    U.retry_at_ms = 0;
    win_delete(U.new_path);
    log_event(LOG_WARN, "self-update: version %s quarantined: %s", version, reason);
    set_state(UPD_QUARANTINED, reason);
}

/* Starts the worker for the current target. Only called with no worker. */
static void launch_worker(nats_conn *c)
{
    char v[32], path[PATH_U8];
    memset(&U.dl, 0, sizeof U.dl);
    copy_str(U.dl.target, sizeof U.dl.target, U.st.target);
    U.dl.conn = c;
    if (test_hook("download-delay-ms", v, sizeof v, path, sizeof path) == 0) U.dl.delay_ms = atoi(v);
    U.last_percent_reported = 0;
    U.dl.thread = CreateThread(NULL, 0, dl_thread, upd_cur, 0, NULL);
    if (!U.dl.thread) {
        char err[256];
        win_err("CreateThread", "download");
        snprintf(err, sizeof err, "cannot start the download: %s", win_last_error());
        fail_attempt(err);
    }
}

/* Enters `downloading`; the worker starts now, or as soon as a cancelled
** one has left (both would write <exe>.new). */
static void start_download(nats_conn *c)
{
    set_state(UPD_DOWNLOADING, NULL);
    if (dl_reap()) launch_worker(c);
}

/* Starts the helper copy detached. 0 = started; *proc gets its handle. */
static int spawn_helper(const char *helper_exe, HANDLE *proc)
{
    wchar_t wexe[WIN_PATH_MAX], wjob[WIN_PATH_MAX], cmd[WIN_PATH_MAX * 2 + 32];
    STARTUPINFOW si;
    PROCESS_INFORMATION pi;
    DWORD flags = DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP;
    if (win_to_wide(helper_exe, wexe, WIN_PATH_MAX) || win_to_wide(U.job_path, wjob, WIN_PATH_MAX)) {
        win_err_set("path too long: %s", helper_exe);
        return 1;
    }
    _snwprintf(cmd, sizeof cmd / sizeof cmd[0], L"\"%ls\" --swap \"%ls\"", wexe, wjob);
    cmd[sizeof cmd / sizeof cmd[0] - 1] = 0;
    memset(&si, 0, sizeof si);
    si.cb = sizeof si;
    /* Break away from a job the service may run in, so stopping the service
    ** cannot take the helper down with it; a job that forbids breakaway
    ** refuses the flag (access denied), and then we go without it. */
    if (!CreateProcessW(wexe, cmd, NULL, NULL, FALSE, flags | CREATE_BREAKAWAY_FROM_JOB,
                        NULL, NULL, &si, &pi)
        && !CreateProcessW(wexe, cmd, NULL, NULL, FALSE, flags, NULL, NULL, &si, &pi)) {
        win_err("CreateProcessW", helper_exe);
        return 1;
    }
    CloseHandle(pi.hThread);
    *proc = pi.hProcess;
    log_info("update: started swap helper %s (pid %lu)", helper_exe, (unsigned long)pi.dwProcessId);
    return 0;
}

/* Copies the running exe to <data>\updater\ and returns its path in out. */
static int make_helper_copy(char *out, size_t cap)
{
    const char *base = strrchr(U.exe, '\\');
    base = base ? base + 1 : U.exe;
    if (win_mkdirs(U.updater_dir) != 0) return 1;
    snprintf(out, cap, "%s\\%s", U.updater_dir, base);
    return copy_atomic(U.exe, out);
}

static void job_init(swap_job *j, const char *kind, const char *from, const char *to)
{
    memset(j, 0, sizeof *j);
    copy_str(j->kind, sizeof j->kind, kind);
    copy_str(j->from, sizeof j->from, from);
    copy_str(j->to, sizeof j->to, to);
    copy_str(j->exe, sizeof j->exe, U.exe);
    copy_str(j->new_, sizeof j->new_, U.new_path);
    copy_str(j->old, sizeof j->old, U.old_path);
    copy_str(j->data_dir, sizeof j->data_dir, U.data_dir);
    copy_str(j->log_dir, sizeof j->log_dir, U.log_dir);
    j->health_timeout_s = U.cfg.health_timeout_s > 0 ? U.cfg.health_timeout_s : 120;
    j->t_created = win_unix_ms();
}

/*
** The fleet simulator's swap (upd_config.sim_swap): no SCM and no helper.
** Success leaves the state a real swap leaves once the new build reports
** healthy (the target runs, done); a failure leaves what a helper rollback
** leaves (the target quarantined and reported rolled_back).
*/
static void sim_hand_over(void)
{
    char to[VER_CAP], err[200] = "", reason[256];
    copy_str(to, sizeof to, U.st.target);
    set_state(UPD_SWAPPING, NULL);
    win_delete(U.new_path);
    if (U.cfg.sim_swap(U.cfg.arg, to, err, sizeof err) == 0) {
        copy_str(U.version, sizeof U.version, to);
        log_info("update: simulated swap: %s runs now", to);
        set_state(UPD_DONE, NULL);
        return;
    }
    snprintf(reason, sizeof reason, "new agent %s did not become healthy: %s", to, err[0] ? err : "simulated failure");
    q_add(to, reason);
    copy_str(U.ps.rb_version, sizeof U.ps.rb_version, to);
    state_save();
    log_warn("update: simulated swap to %s failed; rolled back: %s", to, reason);
    set_state(UPD_ROLLED_BACK, reason);
}

/* The hand-over (DESIGN §5 step 5): helper copy, update.json, spawn. */
static void hand_over(void)
{
    char helper[PATH_U8], err[256];
    swap_job j;
    if (U.cfg.sim_swap) { sim_hand_over(); return; }
    set_state(UPD_SWAPPING, NULL);
    if (make_helper_copy(helper, sizeof helper) != 0) {
        snprintf(err, sizeof err, "cannot copy the agent for the swap helper: %s", win_last_error());
        fail_attempt(err);
        return;
    }
    job_init(&j, "swap", U.version, U.st.target);
    copy_str(j.phase, sizeof j.phase, "handover");
    if (job_write(U.job_path, &j) != 0) {
        snprintf(err, sizeof err, "cannot write %s: %s", U.job_path, win_last_error());
        fail_attempt(err);
        return;
    }
    if (spawn_helper(helper, &U.helper) != 0) {
        snprintf(err, sizeof err, "cannot start the swap helper: %s", win_last_error());
        win_delete(U.job_path);
        fail_attempt(err);
        return;
    }
    log_info("update: handed over to the swap helper: %s -> %s", U.version, U.st.target);
}

/* After a finished download: verifying, the PE version check, then the
** hand-over (or "verified" in console mode). */
static void after_download(void)
{
    char v[VER_CAP], reason[256];
    int rc;
    set_state(UPD_VERIFYING, NULL);
    rc = file_version(U.new_path, v, sizeof v);
    if (rc != 0) {
        snprintf(reason, sizeof reason, "release %s is not a readable agent build: %s", U.st.target, win_last_error());
        fail_attempt(reason);
        return;
    }
    if (!streq(v, U.st.target)) {
        /* Label and binary disagree: downloading it again cannot help, and
        ** swapping would loop forever (the original's v0.13.0 incident). */
        snprintf(reason, sizeof reason, "label/binary mismatch: release %s contains a binary of version %s",
                 U.st.target, v);
        quarantine_target(U.st.target, reason);
        return;
    }
    log_info("update: verified %s: digest and size match the release, VERSIONINFO %s", U.new_path, v);
    if (U.ps.sched_target[0]) { U.ps.sched_target[0] = 0; state_save(); }
    if (!U.cfg.under_scm) {
        log_info("update: console mode (run): %s verified, not swapping: only the service swaps itself through the SCM",
                 U.st.target);
        set_state(UPD_VERIFIED, NULL);
        return;
    }
    hand_over();
}

/* ---- update.json ------------------------------------------------------ */

static int job_read(const char *path, swap_job *j)
{
    char *text = NULL;
    size_t len;
    json_tok tok[96];
    json_doc d;
    int64_t v;
    memset(j, 0, sizeof *j);
    if (win_read_all(path, 65536, &text, &len) != 0) return 1;
    if (json_parse(&d, text, len, tok, 96) != JSON_OK || d.ntok < 1 || tok[0].type != JSON_OBJECT
        || json_get_str(&d, 0, "from", j->from, sizeof j->from) != JSON_OK
        || json_get_str(&d, 0, "to", j->to, sizeof j->to) != JSON_OK
        || json_get_str(&d, 0, "phase", j->phase, sizeof j->phase) != JSON_OK
        || json_get_str(&d, 0, "exe", j->exe, sizeof j->exe) != JSON_OK
        || json_get_str(&d, 0, "new", j->new_, sizeof j->new_) != JSON_OK
        || json_get_str(&d, 0, "old", j->old, sizeof j->old) != JSON_OK
        || json_get_str(&d, 0, "data_dir", j->data_dir, sizeof j->data_dir) != JSON_OK) {
        win_err_set("%s: not a valid swap record", path);
        free(text);
        return 1;
    }
    if (json_get_str(&d, 0, "kind", j->kind, sizeof j->kind) != JSON_OK) copy_str(j->kind, sizeof j->kind, "swap");
    if (json_get_str(&d, 0, "log_dir", j->log_dir, sizeof j->log_dir) != JSON_OK) j->log_dir[0] = 0;
    if (json_get_str(&d, 0, "reason", j->reason, sizeof j->reason) != JSON_OK) j->reason[0] = 0;
    j->health_timeout_s = json_get_int(&d, 0, "health_timeout_s", &v) == JSON_OK ? (int)v : 120;
#define RD(k, f) if (json_get_int(&d, 0, k, &v) == JSON_OK) j->f = v
    RD("t_created", t_created); RD("t_stopped", t_stopped); RD("t_replaced", t_replaced);
    RD("t_started", t_started); RD("t_healthy", t_healthy); RD("t_done", t_done);
#undef RD
    free(text);
    return 0;
}

static int job_write(const char *path, const swap_job *j)
{
    char buf[8192];
    json_w w;
    json_w_init(&w, buf, sizeof buf);
    json_w_obj_open(&w);
    json_w_kstr(&w, "kind", j->kind);
    json_w_kstr(&w, "from", j->from);
    json_w_kstr(&w, "to", j->to);
    json_w_kstr(&w, "phase", j->phase);
    json_w_kstr(&w, "exe", j->exe);
    json_w_kstr(&w, "new", j->new_);
    json_w_kstr(&w, "old", j->old);
    json_w_kstr(&w, "data_dir", j->data_dir);
    json_w_kstr(&w, "log_dir", j->log_dir);
    json_w_kint(&w, "health_timeout_s", j->health_timeout_s);
    json_w_kstr(&w, "reason", j->reason);
    json_w_kint(&w, "t_created", j->t_created);
    json_w_kint(&w, "t_stopped", j->t_stopped);
    json_w_kint(&w, "t_replaced", j->t_replaced);
    json_w_kint(&w, "t_started", j->t_started);
    json_w_kint(&w, "t_healthy", j->t_healthy);
    json_w_kint(&w, "t_done", j->t_done);
    json_w_obj_close(&w);
    if (w.err) { win_err_set("swap record too large"); return 1; }
    return win_write_atomic(path, buf, w.len);
}

/* Keeps the finished record as update.last.json for the operator. */
static void job_archive(void)
{
    wchar_t a[WIN_PATH_MAX], b[WIN_PATH_MAX];
    if (win_to_wide(U.job_path, a, WIN_PATH_MAX) || win_to_wide(U.last_job_path, b, WIN_PATH_MAX)) return;
    if (!MoveFileExW(a, b, MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH)
        && GetLastError() != ERROR_FILE_NOT_FOUND)
        win_delete(U.job_path);
}

/* 1 when a swap helper holds SWAP_MUTEX (is alive), 0 when none does. */
static int helper_alive(void)
{
    HANDLE m = OpenMutexW(SYNCHRONIZE, FALSE, SWAP_MUTEX);
    DWORD w;
    if (!m) return 0;
    w = WaitForSingleObject(m, 0);
    if (w == WAIT_OBJECT_0 || w == WAIT_ABANDONED) {
        ReleaseMutex(m);
        CloseHandle(m);
        return 0;
    }
    CloseHandle(m);
    return 1;
}

/* Writes a restore job and starts the helper for it (crash-loop guard and
** recovery of an interrupted rollback). 0 = the helper runs: the caller
** returns UPD_RESTART so this process ends and the helper can restore. */
static int request_restore(const char *from, const char *reason)
{
    char helper[PATH_U8];
    swap_job j;
    HANDLE h;
    if (!U.cfg.under_scm) {
        log_error("update: %s; console mode cannot restore %s by itself: reinstall it", reason, from);
        return 1;
    }
    job_init(&j, "restore", from, U.version);
    copy_str(j.phase, sizeof j.phase, "restore");
    copy_str(j.reason, sizeof j.reason, reason);
    if (make_helper_copy(helper, sizeof helper) != 0 || job_write(U.job_path, &j) != 0
        || spawn_helper(helper, &h) != 0) {
        log_error("update: cannot start the restore of %s: %s", from, win_last_error());
        return 1;
    }
    CloseHandle(h);
    log_event(LOG_ERROR, "self-update: %s; restoring %s (exiting so the helper can swap)", reason, from);
    return 0;
}

/* ---- crash recovery (see the case analysis at the top) ---------------- */

static const char *const PH_ROLLBACK[] = { "rolling_back", "rolled_back", "restore", NULL };

/* Arms the crash-loop guard for a version that has just been swapped in. */
static void arm_fresh(const char *version, int64_t since_ms)
{
    if (streq(U.ps.fresh_version, version)) return;
    copy_str(U.ps.fresh_version, sizeof U.ps.fresh_version, version);
    U.ps.fresh_since_ms = since_ms ? since_ms : win_unix_ms();
    U.ps.fresh_unclean = 0;
}

/* Returns UPD_RESTART when a restore was started, else 0. */
static int recover(void)
{
    swap_job j;
    int alive, rollback;
    char err[256];
    if (!win_exists(U.job_path)) return 0;
    if (job_read(U.job_path, &j) != 0) {
        log_warn("update: %s; archived", win_last_error());
        job_archive();
        return 0;
    }
    alive = helper_alive();
    rollback = one_of(j.phase, PH_ROLLBACK);
    log_info("update: swap record: %s %s -> %s at phase %s; helper %s; running %s",
             j.kind, j.from, j.to, j.phase, alive ? "alive" : "gone", U.version);
    set_target(j.to);

    if (streq(U.version, j.to) && !rollback) {
        /* The new build is in place and runs. */
        arm_fresh(j.to, j.t_started);
        if (alive) {
            U.swap_target = streq(j.phase, "monitoring");
            set_state(UPD_MONITORING, NULL);  /* tick_swap follows the helper */
        } else if (streq(j.phase, "healthy") || streq(j.phase, "done")) {
            log_info("update: swap %s -> %s completed (phase %s)", j.from, j.to, j.phase);
            job_archive();
            set_state(UPD_DONE, NULL);
        } else {
            log_warn("update: swap helper gone at phase %s; this start of %s completes the swap "
                     "(healthy once it reaches the broker; the crash-loop guard covers a crash)", j.phase, j.to);
            U.self_gate = 1;
            set_state(UPD_MONITORING, NULL);
        }
        return 0;
    }
    if (streq(U.version, j.to)) {
        /* A rollback was decided, yet the bad build runs. */
        if (alive) return 0;                  /* the helper is about to stop us */
        snprintf(err, sizeof err, "%s", j.reason[0] ? j.reason : "rollback interrupted");
        return request_restore(j.from, err) == 0 ? UPD_RESTART : 0;
    }
    if (streq(U.version, j.from)) {
        if (rollback) {
            /* The old build runs again: the rollback is complete. The
            ** helper writes nothing after "rolled_back", so the record can
            ** be archived even while it is still alive. */
            const char *why = j.reason[0] ? j.reason : "rolled back";
            if (!q_find(j.to)) q_add(j.to, why);
            copy_str(U.ps.rb_version, sizeof U.ps.rb_version, j.to);
            state_save();
            log_event(LOG_WARN, "self-update: rolled back from %s to %s: %s", j.to, j.from, why);
            set_state(UPD_ROLLED_BACK, why);
            job_archive();
        } else if (alive) {
            set_state(UPD_SWAPPING, NULL);    /* the helper will stop us */
        } else if (streq(j.phase, "healthy") || streq(j.phase, "done")) {
            log_info("update: %s runs again after the swap to %s (restored since)", j.from, j.to);
            job_archive();
        } else {
            snprintf(err, sizeof err, "swap to %s interrupted at phase %s (helper gone); %s still runs",
                     j.to, j.phase, j.from);
            job_archive();
            U.failures = 0;
            fail_attempt(err);
        }
        return 0;
    }
    log_warn("update: stale swap record (%s -> %s) does not match the running %s; archived", j.from, j.to, U.version);
    set_target("");
    job_archive();
    return 0;
}

/* ---- the public agent-side API ---------------------------------------- */

static void on_target_impl(nats_conn *c, const char *target, const char *scope, int64_t jitter_ms);

/* Once a swap has an outcome, evaluates the target that arrived meanwhile. */
static void apply_deferred(void)
{
    if (!U.has_deferred || state_is(UPD_SWAPPING) || state_is(UPD_MONITORING)) return;
    U.has_deferred = 0;
    on_target_impl(NULL, U.def_target, U.def_scope, U.def_jitter_ms);
}

upd_ctx *upd_ctx_new(void)
{
    return (upd_ctx *)calloc(1, sizeof(upd_ctx));
}

void upd_ctx_use(upd_ctx *x)
{
    upd_cur = x ? x : &upd_own;
}

int upd_init(const upd_config *cfg)
{
    int prev_unclean, rc;
    int64_t now = win_unix_ms();
    if (!U.inited) { InitializeCriticalSection(&U.lock); InitializeCriticalSection(&U.api); }
    U.inited = 1;
    /* A second upd_init in one process (the unit tests' "restart") starts
    ** from a clean slate, like a new process would. */
    memset(&U.st, 0, sizeof U.st);
    U.notify = U.failures = U.last_percent_reported = 0;
    U.swap_target = U.self_gate = U.stopping = U.has_deferred = 0;
    U.retry_at_ms = U.poll_at_ms = 0;
    if (U.helper) { CloseHandle(U.helper); U.helper = NULL; }
    U.cfg = *cfg;
    copy_str(U.exe, sizeof U.exe, cfg->exe_path);
    copy_str(U.version, sizeof U.version, cfg->version);
    copy_str(U.config, sizeof U.config, cfg->config_path ? cfg->config_path : "");
    set_paths(cfg->data_dir);
    if (cfg->log_dir && cfg->log_dir[0]) copy_str(U.log_dir, sizeof U.log_dir, cfg->log_dir);
    else default_log_dir(cfg->data_dir, U.log_dir, sizeof U.log_dir);
    snprintf(U.new_path, sizeof U.new_path, "%s.new", U.exe);
    snprintf(U.old_path, sizeof U.old_path, "%s.old", U.exe);
    U.cfg.exe_path = U.exe; U.cfg.data_dir = U.data_dir; U.cfg.version = U.version;
    U.cfg.config_path = U.config; U.cfg.log_dir = U.log_dir;
    copy_str(U.st.state, sizeof U.st.state, UPD_IDLE);
    U.st.percent = -1;
    if (win_mkdirs(U.data_dir) != 0)
        log_error("update: cannot create %s: %s", U.data_dir, win_last_error());
    state_load();
    q_json(U.st.quarantined, sizeof U.st.quarantined);
    prev_unclean = U.ps.running;
    U.ps.running = 1;

    rc = recover();
    if (rc == UPD_RESTART) { state_save(); return rc; }

    /* Crash-loop guard (DESIGN §5 step 9). */
    if (streq(U.ps.fresh_version, U.version) && now - U.ps.fresh_since_ms < CRASH_WINDOW_MS
        && now >= U.ps.fresh_since_ms) {
        if (prev_unclean) {
            U.ps.fresh_unclean++;
            log_warn("update: unclean start %d of %d of freshly swapped %s (the previous run did not stop cleanly)",
                     U.ps.fresh_unclean, CRASH_LIMIT, U.version);
        }
        if (U.ps.fresh_unclean >= CRASH_LIMIT) {
            char oldv[VER_CAP], reason[256];
            if (file_version(U.old_path, oldv, sizeof oldv) == 0 && !streq(oldv, U.version)) {
                snprintf(reason, sizeof reason, "crash loop: %d unclean starts of %s within its first hour",
                         U.ps.fresh_unclean, U.version);
                U.ps.fresh_version[0] = 0;
                state_save();
                if (request_restore(oldv, reason) == 0) return UPD_RESTART;
            } else {
                log_error("update: crash loop of %s but no usable %s to restore", U.version, U.old_path);
            }
        }
    }
    if (!U.swap_target && !U.self_gate && !U.dl.thread) {
        /* Nothing of a swap is pending: a leftover .new is junk. */
        if (!state_is(UPD_SWAPPING) && win_exists(U.new_path)) win_delete(U.new_path);
    }
    state_save();
    U.notify = 0;
    return 0;
}

static void on_connected_impl(void)
{
    swap_job j;
    if (!U.inited) return;
    if (U.self_gate && state_is(UPD_MONITORING)) {
        U.self_gate = 0;
        log_info("update: %s reached the broker: swap completed without the helper", U.version);
        job_archive();
        set_state(UPD_DONE, NULL);
        apply_deferred();
        return;
    }
    if (!U.swap_target) return;
    U.swap_target = 0;
    if (job_read(U.job_path, &j) != 0 || !streq(j.phase, "monitoring") || !streq(j.to, U.version)) {
        log_warn("update: expected a swap record in phase monitoring for %s; found %s", U.version,
                 j.phase[0] ? j.phase : "none");
        return;
    }
    copy_str(j.phase, sizeof j.phase, "healthy");
    j.t_healthy = win_unix_ms();
    if (job_write(U.job_path, &j) != 0) {
        log_error("update: cannot mark %s healthy: %s", U.job_path, win_last_error());
        return;
    }
    log_info("update: %s reached the broker: marked healthy for the swap helper", U.version);
}

static void on_target_impl(nats_conn *c, const char *target, const char *scope, int64_t jitter_ms)
{
    quarantine *q;
    int i, dirty = 0;
    (void)c;
    if (!U.inited) return;
    if (!target) target = "";
    if (!scope) scope = "";

    /* Quarantine: the operator's "try again" is another target, then this
    ** one again. Arm every entry the target has moved away from. */
    if (target[0]) {
        for (i = 0; i < U.ps.nq; i++)
            if (!U.ps.q[i].armed && !streq(U.ps.q[i].version, target)) { U.ps.q[i].armed = 1; dirty = 1; }
        q = q_find(target);
        if (q && q->armed) {
            log_info("update: quarantine of %s lifted: the operator rolled out another target and then %s again",
                     target, target);
            q_remove(target);
            if (streq(U.ps.rb_version, target)) U.ps.rb_version[0] = 0;
            dirty = 1;
            EnterCriticalSection(&U.lock);
            q_json(U.st.quarantined, sizeof U.st.quarantined);
            LeaveCriticalSection(&U.lock);
            U.notify = 1;
        }
    }
    if (dirty) state_save();

    if (state_is(UPD_SWAPPING) || state_is(UPD_MONITORING)) {
        /* A swap cannot be cancelled half-way: the newest target is kept
        ** and evaluated once this swap has an outcome (apply_deferred). */
        if (!streq(target, U.st.target))
            log_info("update: target is now %s (scope %s); evaluated after the running swap to %s",
                     target[0] ? target : "(unset)", scope, U.st.target);
        U.has_deferred = 1;
        copy_str(U.def_target, sizeof U.def_target, target);
        copy_str(U.def_scope, sizeof U.def_scope, scope);
        U.def_jitter_ms = jitter_ms;
        return;
    }
    if (!target[0] || streq(target, U.version)) {
        /* Nothing to do. "done" when this build came in by a swap (also
        ** after a restart: the fresh-swap record says so), else idle. */
        int had = !state_is(UPD_IDLE) && !state_is(UPD_DONE) && !state_is(UPD_ROLLED_BACK);
        const char *want = target[0] && (streq(U.ps.fresh_version, U.version)
                           || (state_is(UPD_DONE) && streq(U.st.target, target))) ? UPD_DONE : UPD_IDLE;
        if (had || U.dl.thread) cancel_attempt(target[0] ? "target equals the running version" : "target unset");
        set_target(target);
        if (!state_is(want)) set_state(want, NULL);
        return;
    }
    q = q_find(target);
    if (q) {
        if (!streq(U.st.target, target) || (!state_is(UPD_QUARANTINED) && !state_is(UPD_ROLLED_BACK))) {
            if (!streq(U.st.target, target)) cancel_attempt("new target is quarantined");
            set_target(target);
            log_info("update: target %s (scope %s) is quarantined: %s", target, scope, q->reason);
            /* Still the build that was rolled back: keep saying so. */
            set_state(streq(U.ps.rb_version, target) ? UPD_ROLLED_BACK : UPD_QUARANTINED, q->reason);
        }
        return;
    }
    if (streq(U.st.target, target) && !state_is(UPD_IDLE) && !state_is(UPD_DONE)
        && !state_is(UPD_QUARANTINED) && !state_is(UPD_ROLLED_BACK)) {
        return;                                /* this attempt is already under way */
    }
    if (U.st.target[0] && !streq(U.st.target, target)
        && (state_is(UPD_PENDING) || state_is(UPD_SCHEDULED) || state_is(UPD_DOWNLOADING)
            || state_is(UPD_VERIFYING) || state_is(UPD_FAILED) || state_is(UPD_VERIFIED))) {
        char why[160];
        snprintf(why, sizeof why, "target changed from %s to %s", U.st.target, target);
        cancel_attempt(why);
    }
    set_target(target);
    U.failures = 0;
    U.retry_at_ms = 0;
    log_info("update: target %s (scope %s) differs from running %s", target, scope, U.version);
    set_state(UPD_PENDING, NULL);
    {
        int64_t now = win_unix_ms(), at;
        char when[40], span[32];
        if (streq(U.ps.sched_target, target) && U.ps.sched_at_ms > 0) {
            at = U.ps.sched_at_ms;
            win_rfc3339(at, when);
            log_info("update: keeping the moment chosen before the restart: %s", when);
        } else {
            uint64_t span_ms = jitter_ms > 0 ? (uint64_t)jitter_ms : 0;
            uint64_t r = ((uint64_t)win_random_u32() << 32) | win_random_u32();
            at = now + (span_ms ? (int64_t)(r % (span_ms + 1)) : 0);
            copy_str(U.ps.sched_target, sizeof U.ps.sched_target, target);
            U.ps.sched_at_ms = at;
            state_save();
            win_rfc3339(at, when);
            if (scope_format_duration(jitter_ms > 0 ? jitter_ms : 0, span, sizeof span) != SCOPE_OK)
                copy_str(span, sizeof span, "?");
            log_info("update: scheduled %s at %s (jitter window %s, in %llds)", target, when, span,
                     (long long)((at - now) / 1000));
        }
        set_state(UPD_SCHEDULED, NULL);
        EnterCriticalSection(&U.lock);
        U.st.scheduled_at_ms = at;
        LeaveCriticalSection(&U.lock);
    }
}

/* A poll deadline that stays put until upd_tick runs: the agent compares
** the due time with its clock after waking, so "now + period" computed
** afresh on every call would never be due. */
static int64_t poll_due(int64_t now, int period_ms)
{
    if (U.poll_at_ms == 0) U.poll_at_ms = now + period_ms;
    return U.poll_at_ms;
}

static int64_t next_due_impl(void)
{
    int64_t now = win_unix_ms();
    if (state_is(UPD_SCHEDULED)) return U.st.scheduled_at_ms > now ? U.st.scheduled_at_ms : now;
    if (state_is(UPD_DOWNLOADING)) return poll_due(now, 50);
    if (state_is(UPD_FAILED) && U.retry_at_ms) return U.retry_at_ms > now ? U.retry_at_ms : now;
    if (state_is(UPD_SWAPPING) || (state_is(UPD_MONITORING) && !U.self_gate)) return poll_due(now, 500);
    if (U.dl.thread) return poll_due(now, 50);   /* reap a cancelled worker */
    return INT64_MAX;
}

/* Polls the helper while swapping; polls update.json while monitoring. */
static void tick_swap(void)
{
    swap_job j;
    if (state_is(UPD_SWAPPING)) {
        DWORD code = 0;
        char err[256];
        if (U.helper) {
            if (WaitForSingleObject(U.helper, 0) != WAIT_OBJECT_0) return;
            GetExitCodeProcess(U.helper, &code);
            CloseHandle(U.helper);
            U.helper = NULL;
        } else if (helper_alive()) {
            return;                            /* a helper found at start */
        }
        /* The helper ended and we still run: it gave up before the swap. */
        if (job_read(U.job_path, &j) == 0) {
            snprintf(err, sizeof err, "swap helper exited (code %lu) at phase %s%s%s", (unsigned long)code,
                     j.phase, j.reason[0] ? ": " : "", j.reason);
            job_archive();
            fail_attempt(err);
        } else {
            fail_attempt("swap helper exited without a swap record");
        }
        return;
    }
    if (state_is(UPD_MONITORING) && !U.self_gate) {
        int alive;
        if (job_read(U.job_path, &j) != 0) return;
        alive = helper_alive();
        if (streq(j.phase, "done") || (!alive && streq(j.phase, "healthy"))) {
            log_info("update: swap %s -> %s done", j.from, j.to);
            job_archive();
            set_state(UPD_DONE, NULL);
        } else if (!alive) {
            /* The helper died before judging us: we are our own gate now. */
            U.swap_target = 0;
            U.self_gate = 1;
            log_warn("update: swap helper gone at phase %s; done once %s reaches the broker", j.phase, U.version);
        }
    }
}

static void tick_impl(nats_conn *c)
{
    int64_t now = win_unix_ms();
    U.poll_at_ms = 0;
    if (!U.inited) return;
    if (state_is(UPD_SCHEDULED) && now >= U.st.scheduled_at_ms) {
        start_download(c);
    } else if (state_is(UPD_FAILED) && U.retry_at_ms && now >= U.retry_at_ms) {
        U.retry_at_ms = 0;
        log_info("update: retrying %s (attempt %d)", U.st.target, U.failures + 1);
        start_download(c);
    } else if (state_is(UPD_DOWNLOADING)) {
        int finished, rc, pct = -1;
        char err[256];
        if (!U.dl.thread || InterlockedCompareExchange(&U.dl.cancel, 0, 0)) {
            if (dl_reap()) launch_worker(c);  /* a cancelled worker has left */
                return;
        }
        EnterCriticalSection(&U.lock);
        finished = U.dl.finished;
        rc = U.dl.rc;
        copy_str(err, sizeof err, U.dl.err);
        if (U.dl.total > 0) pct = (int)(U.dl.done * 100 / U.dl.total);
        if (pct >= 0) U.st.percent = pct;
        LeaveCriticalSection(&U.lock);
        if (pct >= 0 && pct - U.last_percent_reported >= 25 && !finished) {
            U.last_percent_reported = pct;
            U.notify = 1;
        }
        if (finished) {
            dl_reap();
            if (rc == NATS_OK) after_download();
            else fail_attempt(err);
        }
    } else if (U.dl.thread) {
        dl_reap();
    }
    tick_swap();
}

int64_t upd_next_due_ms(void)
{
    int64_t due;
    if (!U.inited) return INT64_MAX;
    EnterCriticalSection(&U.api);
    due = U.stopping ? INT64_MAX : next_due_impl();
    LeaveCriticalSection(&U.api);
    return due;
}

void upd_get_status(upd_status *out)
{
    if (!U.inited) {
        memset(out, 0, sizeof *out);
        copy_str(out->state, sizeof out->state, UPD_IDLE);
        copy_str(out->quarantined, sizeof out->quarantined, "[]");
        out->percent = -1;
        return;
    }
    EnterCriticalSection(&U.lock);
    *out = U.st;
    LeaveCriticalSection(&U.lock);
}

void upd_shutdown(void)
{
    if (!U.inited) return;
    EnterCriticalSection(&U.api);
    if (U.stopping) { LeaveCriticalSection(&U.api); return; }
    U.stopping = 1;
    if (U.dl.thread) {
        InterlockedExchange(&U.dl.cancel, 1);
        /* obj_get notices the flag at its next chunk; bounded either way. */
        if (WaitForSingleObject(U.dl.thread, 5000) == WAIT_OBJECT_0) {
            CloseHandle(U.dl.thread);
            U.dl.thread = NULL;
        }
    }
    if (U.helper) { CloseHandle(U.helper); U.helper = NULL; }
    U.ps.running = 0;                         /* a clean stop, for the crash-loop guard */
    state_save();
    log_info("update: clean stop recorded");
    LeaveCriticalSection(&U.api);
}

void upd_on_connected(void)
{
    if (!U.inited) return;
    EnterCriticalSection(&U.api);
    if (!U.stopping) on_connected_impl();
    LeaveCriticalSection(&U.api);
    notify();
}

void upd_on_target(nats_conn *c, const char *target, const char *scope, int64_t jitter_ms)
{
    if (!U.inited) return;
    EnterCriticalSection(&U.api);
    if (!U.stopping) on_target_impl(c, target, scope, jitter_ms);
    LeaveCriticalSection(&U.api);
    notify();
}

void upd_tick(nats_conn *c)
{
    if (!U.inited) return;
    EnterCriticalSection(&U.api);
    if (!U.stopping) { tick_impl(c); apply_deferred(); }
    LeaveCriticalSection(&U.api);
    notify();
}

/* ---- the swap helper (kanade-agent.exe --swap <update.json>) ----------- */

/* Writes the job's phase (and logs a failure to write). */
static void phase(swap_job *j, const char *ph)
{
    copy_str(j->phase, sizeof j->phase, ph);
    if (job_write(U.job_path, j) != 0)
        log_error("swap: cannot record phase %s in %s: %s", ph, U.job_path, win_last_error());
}

static int64_t since(int64_t t0) { return win_unix_ms() - t0; }

/*
** The rollback: stop whatever runs, put exe.old back over exe, quarantine
** `to`, record rolled_back (before the start, so the restored agent reads
** it at once), start the service. Returns the helper's exit code.
*/
static int helper_rollback(swap_job *j, const char *reason, int64_t t_fail)
{
    unsigned long pid = 0;
    int64_t t0 = win_unix_ms();
    char v[VER_CAP];
    log_event(LOG_WARN, "rollback: %s; restoring %s", reason, j->from);
    copy_str(j->reason, sizeof j->reason, reason);
    phase(j, "rolling_back");
    if (svc_stop(STOP_TIMEOUT_MS) != 0)
        log_error("rollback: stopping the service failed: %s (continuing)", win_last_error());
    else
        log_info("rollback: service stopped in %lld ms", (long long)since(t0));
    if (file_version(j->old, v, sizeof v) != 0 || !streq(v, j->from)) {
        log_error("rollback: %s is not version %s (%s); cannot restore", j->old, j->from,
                  v[0] ? v : win_last_error());
        phase(j, "failed");
        svc_start(START_TIMEOUT_MS);
        return 3;
    }
    if (copy_atomic(j->old, j->exe) != 0) {
        log_error("rollback: cannot put %s back: %s", j->old, win_last_error());
        phase(j, "failed");
        svc_start(START_TIMEOUT_MS);
        return 3;
    }
    log_info("rollback: restored %s (version %s) from %s in %lld ms", j->exe, j->from, j->old, (long long)since(t0));
    state_load();
    q_add(j->to, reason);
    copy_str(U.ps.rb_version, sizeof U.ps.rb_version, j->to);
    if (streq(U.ps.fresh_version, j->to)) U.ps.fresh_version[0] = 0;
    state_save();
    log_info("rollback: version %s quarantined", j->to);
    j->t_done = win_unix_ms();
    phase(j, "rolled_back");
    if (svc_start(START_TIMEOUT_MS) != 0) {
        log_error("rollback: starting the service failed: %s", win_last_error());
        return 4;
    }
    svc_pid(&pid);
    log_info("rollback: old version %s started (pid %lu) %lld ms after the failure", j->from, pid,
             (long long)since(t_fail));
    return 2;
}

/*
** Waits for the new agent's "healthy" mark while watching its process.
** Returns 0 when healthy; otherwise writes the reason into why and returns
** 1, with *t_fail = when the failure was seen.
*/
static int helper_monitor(swap_job *j, char *why, size_t cap, int64_t *t_fail)
{
    int64_t deadline = win_unix_ms() + (int64_t)j->health_timeout_s * 1000;
    HANDLE proc = NULL;
    unsigned long pid = 0;
    swap_job cur;
    int rc = 1;
    svc_pid(&pid);
    if (pid) proc = OpenProcess(SYNCHRONIZE | PROCESS_QUERY_LIMITED_INFORMATION, FALSE, pid);
    log_info("swap: monitoring %s (pid %lu) for up to %d s", j->to, pid, j->health_timeout_s);
    for (;;) {
        if (job_read(U.job_path, &cur) == 0 && streq(cur.phase, "healthy")) {
            j->t_healthy = cur.t_healthy;
            rc = 0;
            break;
        }
        if (!proc) {
            unsigned long p = 0;
            if (svc_pid(&p) == 0 && p == 0) {
                snprintf(why, cap, "new agent %s is not running (the service stopped)", j->to);
                break;
            }
            if (p) { pid = p; proc = OpenProcess(SYNCHRONIZE | PROCESS_QUERY_LIMITED_INFORMATION, FALSE, p); }
        }
        if (proc && WaitForSingleObject(proc, 0) == WAIT_OBJECT_0) {
            DWORD code = 0;
            GetExitCodeProcess(proc, &code);
            snprintf(why, cap, "new agent %s exited with code %lu %lld ms after its start",
                     j->to, (unsigned long)code, (long long)(win_unix_ms() - j->t_started));
            break;
        }
        if (win_unix_ms() >= deadline) {
            snprintf(why, cap, "new agent %s did not report healthy within %d s (health_timeout)",
                     j->to, j->health_timeout_s);
            break;
        }
        Sleep(POLL_MS);
    }
    if (proc) CloseHandle(proc);
    *t_fail = win_unix_ms();
    if (rc) log_warn("swap: %s", why);
    return rc;
}

/* The forward swap. Returns the helper's exit code (0 = done). */
static int helper_swap(swap_job *j)
{
    int64_t t0 = win_unix_ms(), t;
    char v[VER_CAP], why[256];
    int64_t t_fail;
    wchar_t we[WIN_PATH_MAX], wn[WIN_PATH_MAX];
    int tries, replaced = 0, rc;

    if (file_version(j->new_, v, sizeof v) != 0 || !streq(v, j->to)) {
        log_error("swap: %s is not version %s (%s); nothing changed", j->new_, j->to, v[0] ? v : win_last_error());
        copy_str(j->reason, sizeof j->reason, "the downloaded build is not the target version");
        phase(j, "failed");
        return 3;
    }
    phase(j, "stopping");
    t = win_unix_ms();
    if (svc_stop(STOP_TIMEOUT_MS) != 0) {
        log_error("swap: stopping the service failed: %s", win_last_error());
        snprintf(j->reason, sizeof j->reason, "stopping the service failed: %s", win_last_error());
        phase(j, "failed");
        svc_start(START_TIMEOUT_MS);
        return 3;
    }
    j->t_stopped = win_unix_ms();
    phase(j, "stopped");
    log_info("swap: stop: service stopped in %lld ms", (long long)(j->t_stopped - t));
    test_abort_at("stopped");

    t = win_unix_ms();
    if (copy_atomic(j->exe, j->old) != 0) {
        snprintf(j->reason, sizeof j->reason, "cannot keep the previous build as %s: %s", j->old, win_last_error());
        log_error("swap: %s", j->reason);
        phase(j, "failed");
        svc_start(START_TIMEOUT_MS);
        return 3;
    }
    if (win_to_wide(j->exe, we, WIN_PATH_MAX) || win_to_wide(j->new_, wn, WIN_PATH_MAX)) {
        copy_str(j->reason, sizeof j->reason, "path too long");
        phase(j, "failed");
        svc_start(START_TIMEOUT_MS);
        return 3;
    }
    for (tries = 0; tries < 25 && !replaced; tries++) {
        /* No backup name: exe.old is already on disk, so this is one
        ** rename-over and the exe name never goes missing. */
        if (ReplaceFileW(we, wn, NULL, REPLACEFILE_IGNORE_MERGE_ERRORS, NULL, NULL)) { replaced = 1; break; }
        win_err("ReplaceFileW", j->exe);
        if (GetLastError() != ERROR_SHARING_VIOLATION && GetLastError() != ERROR_ACCESS_DENIED
            && GetLastError() != ERROR_LOCK_VIOLATION) break;
        Sleep(200);                       /* a scanner or a closing handle */
    }
    if (!replaced) {
        snprintf(j->reason, sizeof j->reason, "replace failed: %s", win_last_error());
        log_error("swap: %s", j->reason);
        /* ReplaceFileW without a backup leaves exe as it was; make sure. */
        if (!win_exists(j->exe) && copy_atomic(j->old, j->exe) != 0)
            log_error("swap: restoring %s from %s failed: %s", j->exe, j->old, win_last_error());
        phase(j, "failed");
        svc_start(START_TIMEOUT_MS);
        return 3;
    }
    j->t_replaced = win_unix_ms();
    phase(j, "replaced");
    log_info("swap: replace: %s is now %s (previous build kept as %s) in %lld ms", j->exe, j->to, j->old,
             (long long)(j->t_replaced - t));
    test_abort_at("replaced");

    t = win_unix_ms();
    j->t_started = t;
    phase(j, "monitoring");             /* before the start: the new agent may be quick */
    rc = svc_start(NEW_START_MS);
    if (rc != SVC_OK && rc != SVC_ERR_TIMEOUT) {
        snprintf(why, sizeof why, "new agent %s did not start: %s", j->to, win_last_error());
        log_warn("swap: %s", why);
        return helper_rollback(j, why, win_unix_ms());
    }
    if (rc == SVC_ERR_TIMEOUT)
        log_info("swap: start: %s not RUNNING after %d ms; the health gate decides", j->to, NEW_START_MS);
    else
        log_info("swap: start: service started in %lld ms", (long long)(win_unix_ms() - t));
    test_abort_at("started");
    if (helper_monitor(j, why, sizeof why, &t_fail) != 0) {
        /* Stop first, then look again: a healthy mark may have landed at the
        ** last moment, and nobody can write after the stop. */
        swap_job cur;
        if (svc_stop(STOP_TIMEOUT_MS) == 0 && job_read(U.job_path, &cur) == 0 && streq(cur.phase, "healthy")) {
            log_info("swap: healthy mark arrived at the deadline; starting %s again", j->to);
            j->t_healthy = cur.t_healthy;
            svc_start(START_TIMEOUT_MS);
        } else {
            return helper_rollback(j, why, t_fail);
        }
    }
    j->t_done = win_unix_ms();
    phase(j, "done");
    log_info("swap: healthy: %s reached the broker %lld ms after its start", j->to,
             (long long)(j->t_healthy - j->t_started));
    log_info("swap: done: %s -> %s in %lld ms (stop %lld, replace %lld, start+healthy %lld)", j->from, j->to,
             (long long)since(t0), (long long)(j->t_stopped - t0), (long long)(j->t_replaced - j->t_stopped),
             (long long)(j->t_healthy - j->t_started));
    return 0;
}

int upd_swap_main(int argc, wchar_t **argv)
{
    char path[PATH_U8];
    swap_job j;
    HANDLE mutex;
    DWORD w;
    int i, rc;
    const wchar_t *arg = NULL;
    for (i = 1; i + 1 < argc; i++)
        if (wcscmp(argv[i], L"--swap") == 0) { arg = argv[i + 1]; break; }
    if (!arg || win_to_utf8(arg, path, sizeof path) != 0) {
        fprintf(stderr, "kanade-agent: usage: kanade-agent --swap <update.json>\n");
        return 2;
    }
    if (!U.inited) { InitializeCriticalSection(&U.lock); InitializeCriticalSection(&U.api); U.inited = 1; }
    if (job_read(path, &j) != 0) {
        fprintf(stderr, "kanade-agent: %s\n", win_last_error());
        return 2;
    }
    set_paths(j.data_dir);
    copy_str(U.job_path, sizeof U.job_path, path);
    if (j.log_dir[0]) copy_str(U.log_dir, sizeof U.log_dir, j.log_dir);
    else default_log_dir(j.data_dir, U.log_dir, sizeof U.log_dir);
    log_open(U.log_dir, 14, 0);

    /* One helper at a time; held until exit so agents can tell we live.
    ** An abandoned mutex (a killed helper) is ours all the same. */
    mutex = CreateMutexW(NULL, FALSE, SWAP_MUTEX);
    if (!mutex) { win_err("CreateMutexW", "swap helper"); log_error("swap: %s", win_last_error()); log_close(); return 3; }
    w = WaitForSingleObject(mutex, 60000);
    if (w != WAIT_OBJECT_0 && w != WAIT_ABANDONED) {
        log_error("swap: another swap helper is still running; giving up");
        log_close();
        return 3;
    }
    log_info("swap: helper pid %lu: %s %s -> %s (phase %s)", (unsigned long)GetCurrentProcessId(), j.kind,
             j.from, j.to, j.phase);
    if (streq(j.kind, "restore")) {
        rc = helper_rollback(&j, j.reason[0] ? j.reason : "restore requested", win_unix_ms());
    } else if (streq(j.phase, "handover")) {
        rc = helper_swap(&j);
    } else {
        log_error("swap: record at phase %s is not a new hand-over; nothing to do", j.phase);
        rc = 2;
    }
    log_info("swap: helper exits with code %d", rc);
    log_close();
    ReleaseMutex(mutex);
    CloseHandle(mutex);
    return rc;
}
