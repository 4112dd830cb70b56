/*
** update.c — the self-update state machine (docs/design.md, Update state machine): the decisions, the
** download worker and the public upd_* API. The persisted state and crash
** recovery are in upd_state.c, the detached swap helper in upd_swap.c;
** upd_int.h holds what the three share.
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
*/
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "update.h"
#include "upd_int.h"
#include "objstore.h"
#include "sha256.h"
#include "pe_version.h"
#include "json.h"
#include "scope.h"
#include "log.h"
#include "win.h"

#define RELEASES_BUCKET  "agent_releases"

static upd_ctx upd_own;
UPD_TLS upd_ctx *upd_cur = &upd_own;

/* ---- small helpers ---------------------------------------------------- */

/* Reads the version of the PE file at path into out. 0 = read. */
int upd_file_version(const char *path, char *out, size_t cap)
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

#ifdef KANADE_TEST_HOOKS
/* Reads test hook `name` (first line) into out; 0 = present. */
int upd_test_hook(const char *name, char *out, size_t cap, char *path, size_t pcap)
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
#endif

/* ---- status and transitions ------------------------------------------- */

/*
** Moves to `state` with `error` ("" or NULL = none) and logs one line. The
** agent is told (on_change) when the public call returns, never under the
** lock, so it may call upd_get_status from on_change.
*/
void upd_set_state(const char *state, const char *error)
{
    char prev[16];
    EnterCriticalSection(&U.lock);
    copy_str(prev, sizeof prev, U.st.state);
    copy_str(U.st.state, sizeof U.st.state, state);
    copy_str(U.st.error, sizeof U.st.error, error ? error : "");
    U.st.percent = streq(state, UPD_DOWNLOADING) ? 0 : -1;
    if (!streq(state, UPD_SCHEDULED)) U.st.scheduled_at_ms = 0;
    upd_q_json(U.st.quarantined, sizeof U.st.quarantined);
    LeaveCriticalSection(&U.lock);
    U.notify = 1;
    if (error && *error)
        log_msg(streq(state, UPD_FAILED) ? LOG_WARN : LOG_INFO, "update: %s -> %s (target %s): %s",
                prev, state, U.st.target[0] ? U.st.target : "-", error);
    else
        log_info("update: %s -> %s (target %s)", prev, state, U.st.target[0] ? U.st.target : "-");
}

void upd_set_target(const char *t)
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
    if (!win_exists(U.old_path) || upd_file_version(U.old_path, v, sizeof v) != 0 || !streq(v, target))
        return 1;
    if (upd_copy_atomic(U.old_path, U.new_path) != 0) {
        log_warn("update: cannot copy %s: %s; downloading instead", U.old_path, win_last_error());
        return 1;
    }
    memset(&e, 0, sizeof e);
    rc = s ? obj_info_get(s, target, 0, &info, &e) : bind_rc;
    if (U.nkeys > 0 && (rc != NATS_OK || upd_release_trusted(&info, target, NULL, 0) != 0)) {
        /* With release keys, .old is reused only for a signed release it matches. */
        win_delete(U.new_path);
        return 1;
    }
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

/*
** Before a byte is written: the release's declared size must fit an agent
** exe (the PE reader's cap: nothing larger could pass the checks anyway), and
** the exe's volume must hold it twice (<exe>.new now, <exe>.old at the swap)
** plus DISK_MARGIN, so a bad or hostile release cannot fill the system drive
** of every PC it targets, at every retry. A release whose info cannot be read
** is left to obj_get, which reports that itself. 0 = go on; err otherwise.
*/
#define DISK_MARGIN (32u << 20)
static int check_room(obj_store *s, const char *target, char *err, size_t cap)
{
    obj_info info;
    js_err e;
    wchar_t dir[WIN_PATH_MAX], *slash;
    ULARGE_INTEGER avail;
    memset(&info, 0, sizeof info);
    if (obj_info_get(s, target, 0, &info, &e) != NATS_OK) return 0;
    if (info.size > PEV_MAX_FILE) {
        snprintf(err, cap, "release %s declares %llu bytes, over the %u MiB an agent exe may have; not downloaded",
                 target, (unsigned long long)info.size, PEV_MAX_FILE >> 20);
        return 1;
    }
    if (win_to_wide(U.new_path, dir, WIN_PATH_MAX) == 0 && (slash = wcsrchr(dir, L'\\')) != NULL) {
        slash[1] = 0;
        if (GetDiskFreeSpaceExW(dir, &avail, NULL, NULL) && avail.QuadPart < 2 * info.size + DISK_MARGIN) {
            snprintf(err, cap, "not enough disk space for release %s: %llu bytes free, %llu needed",
                     target, (unsigned long long)avail.QuadPart,
                     (unsigned long long)(2 * info.size + DISK_MARGIN));
            return 1;
        }
    }
    return 0;
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
    rc = obj_attach(c, RELEASES_BUCKET, &s, &e);  /* direct gets only: no consumer, no stream info */
    if (dl_from_old(rc == NATS_OK ? s : NULL, rc, target) == 0) { rc = NATS_OK; goto out; }
    if (rc != NATS_OK) {
        if (rc == NATS_ERR_NOT_FOUND) snprintf(err, sizeof err, "object store %s does not exist", RELEASES_BUCKET);
        else describe(err, sizeof err, what, rc, &e, c);
        goto out;
    }
    if (win_to_wide(U.new_path, wn, WIN_PATH_MAX)) { rc = NATS_ERR_IO; snprintf(err, sizeof err, "path too long: %s", U.new_path); goto out; }
    if (check_room(s, target, err, sizeof err) != 0) { rc = NATS_ERR_BAD_DATA; goto out; }
    if (U.nkeys > 0 && obj_info_get(s, target, 0, &info, &e) == NATS_OK
        && upd_release_trusted(&info, target, err, sizeof err) != 0) {
        rc = NATS_ERR_BAD_DATA;             /* refused before a byte is written */
        U.dl.refused = 1;
        goto out;
    }
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
    } else if (upd_release_trusted(&info, target, err, sizeof err) != 0) {
        rc = NATS_ERR_BAD_DATA;             /* the info the bytes were checked against */
        U.dl.refused = 1;
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
        upd_state_save();
    }
    U.failures = 0;
    U.retry_at_ms = 0;
    U.held_new = 0;
    if (!U.dl.thread) win_delete(U.new_path);
}

/* Backoff after the n-th failure: 15 s, 45 s, then x3 capped at 10 min. */
static int64_t backoff_ms(int n)
{
    int64_t ms = 15000;
    while (--n > 0 && ms < 600000) ms *= 3;
    return ms > 600000 ? 600000 : ms;
}

void upd_fail_attempt(const char *error)
{
    char msg[256];
    int64_t wait;
    U.failures++;
    wait = backoff_ms(U.failures);
    U.retry_at_ms = win_unix_ms() + wait;
    win_delete(U.new_path);
    snprintf(msg, sizeof msg, "%s (retry %d in %llds)", error, U.failures, (long long)(wait / 1000));
    upd_set_state(UPD_FAILED, msg);
    if (U.failures == 1 || U.failures % 5 == 0) log_event(LOG_WARN, "self-update to %s failed: %s", U.st.target, error);
}

/* Puts `version` in quarantine with `reason` and reports it. */
static void quarantine_target(const char *version, const char *reason)
{
    upd_q_add(version, reason);
    if (streq(U.ps.sched_target, version)) U.ps.sched_target[0] = 0;
    upd_state_save();
    U.failures = 0;
    U.retry_at_ms = 0;
    win_delete(U.new_path);
    log_event(LOG_WARN, "self-update: version %s quarantined: %s", version, reason);
    upd_set_state(UPD_QUARANTINED, reason);
}

/* Starts the worker for the current target. Only called with no worker. */
static void launch_worker(nats_conn *c)
{
    memset(&U.dl, 0, sizeof U.dl);
    copy_str(U.dl.target, sizeof U.dl.target, U.st.target);
    U.dl.conn = c;
#ifdef KANADE_TEST_HOOKS
    {
        char v[32], path[PATH_U8];
        if (upd_test_hook("download-delay-ms", v, sizeof v, path, sizeof path) == 0) U.dl.delay_ms = atoi(v);
    }
#endif
    U.last_percent_reported = 0;
    U.dl.thread = CreateThread(NULL, 0, dl_thread, upd_cur, 0, NULL);
    if (!U.dl.thread) {
        char err[256];
        win_err("CreateThread", "download");
        snprintf(err, sizeof err, "cannot start the download: %s", win_last_error());
        upd_fail_attempt(err);
    }
}

/* Enters `downloading`; the worker starts now, or as soon as a cancelled
** one has left (both would write <exe>.new). */
static void start_download(nats_conn *c)
{
    upd_set_state(UPD_DOWNLOADING, NULL);
    if (dl_reap()) launch_worker(c);
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
    upd_set_state(UPD_SWAPPING, NULL);
    win_delete(U.new_path);
    if (U.cfg.sim_swap(U.cfg.arg, to, err, sizeof err) == 0) {
        copy_str(U.version, sizeof U.version, to);
        log_info("update: simulated swap: %s runs now", to);
        upd_set_state(UPD_DONE, NULL);
        return;
    }
    snprintf(reason, sizeof reason, "new agent %s did not become healthy: %s", to, err[0] ? err : "simulated failure");
    upd_q_add(to, reason);
    copy_str(U.ps.rb_version, sizeof U.ps.rb_version, to);
    upd_state_save();
    log_warn("update: simulated swap to %s failed; rolled back: %s", to, reason);
    upd_set_state(UPD_ROLLED_BACK, reason);
}

/* The hand-over (docs/design.md, Swap and crash recovery): helper copy, update.json, spawn. */
static void hand_over(void)
{
    char helper[PATH_U8], err[256];
    swap_job j;
    if (U.cfg.sim_swap) { sim_hand_over(); return; }
    upd_set_state(UPD_SWAPPING, NULL);
    if (upd_make_helper_copy(helper, sizeof helper) != 0) {
        snprintf(err, sizeof err, "cannot copy the agent for the swap helper: %s", win_last_error());
        upd_fail_attempt(err);
        return;
    }
    upd_job_init(&j, "swap", U.version, U.st.target);
    copy_str(j.phase, sizeof j.phase, "handover");
    if (upd_job_write(U.job_path, &j) != 0) {
        snprintf(err, sizeof err, "cannot write %s: %s", U.job_path, win_last_error());
        upd_fail_attempt(err);
        return;
    }
    if (upd_spawn_helper(helper, &U.helper) != 0) {
        snprintf(err, sizeof err, "cannot start the swap helper: %s", win_last_error());
        win_delete(U.job_path);
        upd_fail_attempt(err);
        return;
    }
    log_info("update: handed over to the swap helper: %s -> %s", U.version, U.st.target);
}

/*
** Safe rollouts: asks the agent's gate whether the current target may go
** on. 1 = held: state halted with the reason (set again only when the
** reason changes, so a long halt is not a transition per check), and the
** next check planned.
*/
static int held_back(void)
{
    char reason[256];
    int64_t recheck = 30000;
    if (!U.cfg.gate || U.cfg.gate(U.cfg.arg, U.st.target, reason, sizeof reason, &recheck) == 0) return 0;
    if (recheck < 1000) recheck = 1000;
    U.retry_at_ms = win_unix_ms() + recheck;
    if (!state_is(UPD_HALTED) || !streq(U.st.error, reason)) upd_set_state(UPD_HALTED, reason);
    return 1;
}

/* After a finished download: verifying, the PE version check, then the
** hand-over (or "verified" in console mode). */
static void after_download(void)
{
    char v[VER_CAP], reason[256];
    int rc;
    upd_set_state(UPD_VERIFYING, NULL);
    rc = upd_file_version(U.new_path, v, sizeof v);
    if (rc != 0) {
        snprintf(reason, sizeof reason, "release %s is not a readable agent build: %s", U.st.target, win_last_error());
        upd_fail_attempt(reason);
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
    if (U.ps.sched_target[0]) { U.ps.sched_target[0] = 0; upd_state_save(); }
    if (!U.cfg.under_scm) {
        log_info("update: console mode (run): %s verified, not swapping: only the service swaps itself through the SCM",
                 U.st.target);
        upd_set_state(UPD_VERIFIED, NULL);
        return;
    }
    /* The last look at the rollout's failure records, just before the swap:
    ** .new is kept, so a resume swaps without downloading again. */
    U.held_new = held_back();
    if (U.held_new) return;
    hand_over();
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
    U.nkeys = cfg->release_keys && cfg->nrelease_keys > 0 ? cfg->nrelease_keys : 0;
    if (U.nkeys > SIG_MAX_KEYS) U.nkeys = SIG_MAX_KEYS;
    if (U.nkeys) memcpy(U.keys, cfg->release_keys, (size_t)U.nkeys * sizeof U.keys[0]);
    U.cfg.release_keys = U.keys;
    copy_str(U.exe, sizeof U.exe, cfg->exe_path);
    copy_str(U.version, sizeof U.version, cfg->version);
    copy_str(U.config, sizeof U.config, cfg->config_path ? cfg->config_path : "");
    upd_set_paths(cfg->data_dir);
    if (cfg->log_dir && cfg->log_dir[0]) copy_str(U.log_dir, sizeof U.log_dir, cfg->log_dir);
    else upd_default_log_dir(cfg->data_dir, U.log_dir, sizeof U.log_dir);
    snprintf(U.new_path, sizeof U.new_path, "%s.new", U.exe);
    snprintf(U.old_path, sizeof U.old_path, "%s.old", U.exe);
    U.cfg.exe_path = U.exe; U.cfg.data_dir = U.data_dir; U.cfg.version = U.version;
    U.cfg.config_path = U.config; U.cfg.log_dir = U.log_dir;
    copy_str(U.st.state, sizeof U.st.state, UPD_IDLE);
    U.st.percent = -1;
    if (win_mkdirs(U.data_dir) != 0)
        log_error("update: cannot create %s: %s", U.data_dir, win_last_error());
    upd_state_load();
    upd_q_json(U.st.quarantined, sizeof U.st.quarantined);
    prev_unclean = U.ps.running;
    U.ps.running = 1;

    rc = upd_recover();
    if (rc == UPD_RESTART) { upd_state_save(); return rc; }

    if (upd_crash_guard(prev_unclean, now) == UPD_RESTART) return UPD_RESTART;
    if (!U.swap_target && !U.self_gate && !U.dl.thread) {
        /* Nothing of a swap is pending: a leftover .new is junk. */
        if (!state_is(UPD_SWAPPING) && win_exists(U.new_path)) win_delete(U.new_path);
    }
    upd_state_save();
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
        upd_job_archive();
        upd_set_state(UPD_DONE, NULL);
        apply_deferred();
        return;
    }
    if (!U.swap_target) return;
    U.swap_target = 0;
    if (upd_job_read(U.job_path, &j) != 0 || !streq(j.phase, "monitoring") || !streq(j.to, U.version)) {
        log_warn("update: expected a swap record in phase monitoring for %s; found %s", U.version,
                 j.phase[0] ? j.phase : "none");
        return;
    }
    copy_str(j.phase, sizeof j.phase, "healthy");
    j.t_healthy = win_unix_ms();
    if (upd_job_write(U.job_path, &j) != 0) {
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
        q = upd_q_find(target);
        if (q && q->armed) {
            log_info("update: quarantine of %s lifted: the operator rolled out another target and then %s again",
                     target, target);
            upd_q_remove(target);
            if (streq(U.ps.rb_version, target)) U.ps.rb_version[0] = 0;
            dirty = 1;
            EnterCriticalSection(&U.lock);
            upd_q_json(U.st.quarantined, sizeof U.st.quarantined);
            LeaveCriticalSection(&U.lock);
            U.notify = 1;
        }
    }
    if (dirty) upd_state_save();

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
        upd_set_target(target);
        if (!state_is(want)) upd_set_state(want, NULL);
        return;
    }
    q = upd_q_find(target);
    if (q) {
        if (!streq(U.st.target, target) || (!state_is(UPD_QUARANTINED) && !state_is(UPD_ROLLED_BACK))) {
            if (!streq(U.st.target, target)) cancel_attempt("new target is quarantined");
            upd_set_target(target);
            log_info("update: target %s (scope %s) is quarantined: %s", target, scope, q->reason);
            /* Still the build that was rolled back: keep saying so. */
            upd_set_state(streq(U.ps.rb_version, target) ? UPD_ROLLED_BACK : UPD_QUARANTINED, q->reason);
        }
        return;
    }
    if (streq(U.st.target, target) && !state_is(UPD_IDLE) && !state_is(UPD_DONE)
        && !state_is(UPD_QUARANTINED) && !state_is(UPD_ROLLED_BACK)) {
        return;                                /* this attempt is already under way */
    }
    if (U.st.target[0] && !streq(U.st.target, target)
        && (state_is(UPD_PENDING) || state_is(UPD_SCHEDULED) || state_is(UPD_DOWNLOADING)
            || state_is(UPD_VERIFYING) || state_is(UPD_FAILED) || state_is(UPD_VERIFIED)
            || state_is(UPD_HALTED))) {
        char why[160];
        snprintf(why, sizeof why, "target changed from %s to %s", U.st.target, target);
        cancel_attempt(why);
    }
    upd_set_target(target);
    U.failures = 0;
    U.retry_at_ms = 0;
    log_info("update: target %s (scope %s) differs from running %s", target, scope, U.version);
    upd_set_state(UPD_PENDING, NULL);
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
            int64_t draw = span_ms ? (int64_t)(r % (span_ms + 1)) : 0;
            /* A wave plan moves the moment to the PC's wave (or to never). */
            at = U.cfg.schedule ? U.cfg.schedule(U.cfg.arg, target, now, draw) : now + draw;
            if (scope_format_duration(jitter_ms > 0 ? jitter_ms : 0, span, sizeof span) != SCOPE_OK)
                copy_str(span, sizeof span, "?");
            if (at == INT64_MAX) {
                log_info("update: %s not scheduled: the rollout's wave plan leaves this PC out", target);
            } else {
                copy_str(U.ps.sched_target, sizeof U.ps.sched_target, target);
                U.ps.sched_at_ms = at;
                upd_state_save();
                win_rfc3339(at, when);
                log_info("update: scheduled %s at %s (jitter window %s, in %llds)", target, when, span,
                         (long long)((at - now) / 1000));
            }
        }
        upd_set_state(UPD_SCHEDULED, NULL);
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
    if ((state_is(UPD_FAILED) || state_is(UPD_HALTED)) && U.retry_at_ms)
        return U.retry_at_ms > now ? U.retry_at_ms : now;
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
        } else if (upd_helper_alive()) {
            return;                            /* a helper found at start */
        }
        /* The helper ended and we still run: it gave up before the swap. */
        if (upd_job_read(U.job_path, &j) == 0) {
            snprintf(err, sizeof err, "swap helper exited (code %lu) at phase %s%s%s", (unsigned long)code,
                     j.phase, j.reason[0] ? ": " : "", j.reason);
            upd_job_archive();
            upd_fail_attempt(err);
        } else {
            upd_fail_attempt("swap helper exited without a swap record");
        }
        return;
    }
    if (state_is(UPD_MONITORING) && !U.self_gate) {
        int alive;
        if (upd_job_read(U.job_path, &j) != 0) return;
        alive = upd_helper_alive();
        if (streq(j.phase, "done") || (!alive && streq(j.phase, "healthy"))) {
            log_info("update: swap %s -> %s done", j.from, j.to);
            upd_job_archive();
            upd_set_state(UPD_DONE, NULL);
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
        if (!held_back()) start_download(c);
    } else if (state_is(UPD_HALTED) && U.retry_at_ms && now >= U.retry_at_ms) {
        U.retry_at_ms = 0;
        /* Still halted: no transition, so no log line or heartbeat per check.
        ** Released: a .new verified before the halt is verified again (and
        ** looked at once more) before the swap; otherwise download now. */
        if (held_back()) {}
        else if (U.held_new && win_exists(U.new_path)) after_download();
        else { U.held_new = 0; start_download(c); }
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
            else if (U.dl.refused) quarantine_target(U.st.target, err);  /* retrying cannot fix it */
            else upd_fail_attempt(err);
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
    upd_state_save();
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
