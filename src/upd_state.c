/*
** upd_state.c — the self-update module's persisted state: update-state.json
** (quarantine, jitter schedule, crash-loop guard), the swap record
** update.json, and crash recovery on every agent start.
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
*/
#include <windows.h>
#include <aclapi.h>
#include <sddl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "update.h"
#include "upd_int.h"
#include "json.h"
#include "scope.h"
#include "log.h"
#include "win.h"

#define CRASH_WINDOW_MS  (60LL * 60 * 1000)   /* crash-loop guard: first hour */
#define CRASH_LIMIT      3                     /* unclean starts that roll back */

static int one_of(const char *s, const char *const *set)
{
    for (; *set; set++) if (streq(s, *set)) return 1;
    return 0;
}

void upd_set_paths(const char *data_dir)
{
    copy_str(U.data_dir, sizeof U.data_dir, data_dir);
    snprintf(U.state_path, sizeof U.state_path, "%s\\update-state.json", data_dir);
    snprintf(U.job_path, sizeof U.job_path, "%s\\update.json", data_dir);
    snprintf(U.last_job_path, sizeof U.last_job_path, "%s\\update.last.json", data_dir);
    snprintf(U.updater_dir, sizeof U.updater_dir, "%s\\updater", data_dir);
}

/* <data_dir>\..\logs, the layout in docs/design.md, Files on a host. */
void upd_default_log_dir(const char *data_dir, char *out, size_t cap)
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
void upd_state_load(void)
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
int upd_state_save(void)
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

quarantine *upd_q_find(const char *version)
{
    int i;
    for (i = 0; i < U.ps.nq; i++)
        if (streq(U.ps.q[i].version, version)) return &U.ps.q[i];
    return NULL;
}

/* Adds (or refreshes) a quarantine entry, dropping the oldest when full. */
void upd_q_add(const char *version, const char *reason)
{
    quarantine *q = upd_q_find(version);
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

void upd_q_remove(const char *version)
{
    quarantine *q = upd_q_find(version);
    if (!q) return;
    memmove(q, q + 1, sizeof *q * (size_t)(&U.ps.q[U.ps.nq] - (q + 1)));
    U.ps.nq--;
}

/* The quarantine as a JSON array of strings into out. */
void upd_q_json(char *out, size_t cap)
{
    json_w w;
    int i;
    json_w_init(&w, out, cap);
    json_w_arr_open(&w);
    for (i = 0; i < U.ps.nq; i++) json_w_str(&w, U.ps.q[i].version);
    json_w_arr_close(&w);
    if (w.err) copy_str(out, cap, "[]");
}

/* ---- update.json ------------------------------------------------------ */

void upd_job_init(swap_job *j, const char *kind, const char *from, const char *to)
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

int upd_job_read(const char *path, swap_job *j)
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

int upd_job_write(const char *path, const swap_job *j)
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
void upd_job_archive(void)
{
    wchar_t a[WIN_PATH_MAX], b[WIN_PATH_MAX];
    if (win_to_wide(U.job_path, a, WIN_PATH_MAX) || win_to_wide(U.last_job_path, b, WIN_PATH_MAX)) return;
    if (!MoveFileExW(a, b, MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH)
        && GetLastError() != ERROR_FILE_NOT_FOUND)
        win_delete(U.job_path);
}

/*
** The swap mutex is created with a DACL for SYSTEM and Administrators only.
** It lives in Global\, where any local user may create a name first: a
** mutex we cannot open, or one whose owner is neither SYSTEM nor the
** Administrators group, is someone else's. That is logged as what it is
** (an attempt to block or fake the swap helper) and never trusted.
*/
#define SWAP_MUTEX_SDDL L"D:P(A;;GA;;;SY)(A;;GA;;;BA)"

/* 1 when sid is this process's user, the default owner of what it creates,
** or its primary group (a service runs as SYSTEM, whose token has SYSTEM in
** all three; Wine stamps new objects with the primary group). */
static int is_own_sid(PSID sid)
{
    HANDLE tok;
    union { TOKEN_USER u; TOKEN_OWNER o; TOKEN_PRIMARY_GROUP g; unsigned char raw[256]; } buf;
    DWORD n;
    int ok = 0;
    if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &tok)) return 0;
    if (GetTokenInformation(tok, TokenUser, &buf, sizeof buf, &n) && EqualSid(sid, buf.u.User.Sid)) ok = 1;
    if (!ok && GetTokenInformation(tok, TokenOwner, &buf, sizeof buf, &n) && EqualSid(sid, buf.o.Owner)) ok = 1;
    if (!ok && GetTokenInformation(tok, TokenPrimaryGroup, &buf, sizeof buf, &n)
        && EqualSid(sid, buf.g.PrimaryGroup)) ok = 1;
    CloseHandle(tok);
    return ok;
}

/* 1 when the kernel object's owner is SYSTEM, Administrators or ourselves. */
static int owned_by_admins(HANDLE h)
{
    PSID owner = NULL;
    PSECURITY_DESCRIPTOR sd = NULL;
    int ok;
    if (GetSecurityInfo(h, SE_KERNEL_OBJECT, OWNER_SECURITY_INFORMATION, &owner, NULL, NULL, NULL, &sd)
        != ERROR_SUCCESS)
        return 0;
    /* Windows gives every named object an owner; Wine gives none to one
    ** created without a security descriptor, and then there is nobody to
    ** judge. */
    ok = !owner || IsWellKnownSid(owner, WinLocalSystemSid) || IsWellKnownSid(owner, WinBuiltinAdministratorsSid)
         || is_own_sid(owner);
    LocalFree(sd);
    return ok;
}

static void log_foreign_mutex(const char *why)
{
    log_error("update: SECURITY: the swap mutex %ls %s; it was not created by this agent's helper"
              " (a local user may be trying to block or fake swaps). It is ignored.", SWAP_MUTEX, why);
}

/* Opens SWAP_MUTEX if it exists: MUTEX_OURS (*out set), MUTEX_NONE or
** MUTEX_FOREIGN (logged). */
static int swap_mutex_open(HANDLE *out)
{
    HANDLE m = OpenMutexW(SYNCHRONIZE | READ_CONTROL, FALSE, SWAP_MUTEX);
    *out = NULL;
    if (!m) {
        if (GetLastError() == ERROR_ACCESS_DENIED) { log_foreign_mutex("exists but cannot be opened"); return MUTEX_FOREIGN; }
        return MUTEX_NONE;
    }
    if (!owned_by_admins(m)) { CloseHandle(m); log_foreign_mutex("is owned by another account"); return MUTEX_FOREIGN; }
    *out = m;
    return MUTEX_OURS;
}

/* see upd_int.h */
int upd_swap_mutex_create(HANDLE *out)
{
    SECURITY_ATTRIBUTES sa;
    PSECURITY_DESCRIPTOR sd = NULL;
    HANDLE m;
    *out = NULL;
    if (!ConvertStringSecurityDescriptorToSecurityDescriptorW(SWAP_MUTEX_SDDL, SDDL_REVISION_1, &sd, NULL)) {
        win_err("ConvertStringSecurityDescriptorToSecurityDescriptorW", "swap mutex");
        return -1;
    }
    sa.nLength = sizeof sa;
    sa.lpSecurityDescriptor = sd;
    sa.bInheritHandle = FALSE;
    m = CreateMutexW(&sa, FALSE, SWAP_MUTEX);
    LocalFree(sd);
    if (!m) {
        if (GetLastError() == ERROR_ACCESS_DENIED) { log_foreign_mutex("exists but cannot be opened"); return MUTEX_FOREIGN; }
        win_err("CreateMutexW", "swap helper");
        return -1;
    }
    if (GetLastError() == ERROR_ALREADY_EXISTS && !owned_by_admins(m)) {
        CloseHandle(m);
        log_foreign_mutex("is owned by another account");
        return MUTEX_FOREIGN;
    }
    *out = m;
    return MUTEX_OURS;
}

/* 1 when a swap helper holds SWAP_MUTEX (is alive), 0 when none does. A
** foreign mutex says nothing about our helper: 0, logged. */
int upd_helper_alive(void)
{
    HANDLE m;
    DWORD w;
    if (swap_mutex_open(&m) != MUTEX_OURS) return 0;
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
    upd_job_init(&j, "restore", from, U.version);
    copy_str(j.phase, sizeof j.phase, "restore");
    copy_str(j.reason, sizeof j.reason, reason);
    if (upd_make_helper_copy(helper, sizeof helper) != 0 || upd_job_write(U.job_path, &j) != 0
        || upd_spawn_helper(helper, &h) != 0) {
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
int upd_recover(void)
{
    swap_job j;
    int alive, rollback;
    char err[256];
    if (!win_exists(U.job_path)) return 0;
    if (upd_job_read(U.job_path, &j) != 0) {
        log_warn("update: %s; archived", win_last_error());
        upd_job_archive();
        return 0;
    }
    alive = upd_helper_alive();
    rollback = one_of(j.phase, PH_ROLLBACK);
    log_info("update: swap record: %s %s -> %s at phase %s; helper %s; running %s",
             j.kind, j.from, j.to, j.phase, alive ? "alive" : "gone", U.version);
    upd_set_target(j.to);

    if (streq(U.version, j.to) && !rollback) {
        /* The new build is in place and runs. */
        arm_fresh(j.to, j.t_started);
        if (alive) {
            U.swap_target = streq(j.phase, "monitoring");
            upd_set_state(UPD_MONITORING, NULL);  /* tick_swap follows the helper */
        } else if (streq(j.phase, "healthy") || streq(j.phase, "done")) {
            log_info("update: swap %s -> %s completed (phase %s)", j.from, j.to, j.phase);
            upd_job_archive();
            upd_set_state(UPD_DONE, NULL);
        } else {
            log_warn("update: swap helper gone at phase %s; this start of %s completes the swap "
                     "(healthy once it reaches the broker; the crash-loop guard covers a crash)", j.phase, j.to);
            U.self_gate = 1;
            upd_set_state(UPD_MONITORING, NULL);
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
            if (!upd_q_find(j.to)) upd_q_add(j.to, why);
            copy_str(U.ps.rb_version, sizeof U.ps.rb_version, j.to);
            upd_state_save();
            log_event(LOG_WARN, "self-update: rolled back from %s to %s: %s", j.to, j.from, why);
            upd_set_state(UPD_ROLLED_BACK, why);
            upd_job_archive();
        } else if (alive) {
            upd_set_state(UPD_SWAPPING, NULL);    /* the helper will stop us */
        } else if (streq(j.phase, "healthy") || streq(j.phase, "done")) {
            log_info("update: %s runs again after the swap to %s (restored since)", j.from, j.to);
            upd_job_archive();
        } else {
            snprintf(err, sizeof err, "swap to %s interrupted at phase %s (helper gone); %s still runs",
                     j.to, j.phase, j.from);
            upd_job_archive();
            U.failures = 0;
            upd_fail_attempt(err);
        }
        return 0;
    }
    log_warn("update: stale swap record (%s -> %s) does not match the running %s; archived", j.from, j.to, U.version);
    upd_set_target("");
    upd_job_archive();
    return 0;
}

/* The crash-loop guard (docs/design.md, Swap and crash recovery), on every start after recover:
** UPD_RESTART when a restore was started, else 0. prev_unclean: the
** previous run did not record a clean stop. */
int upd_crash_guard(int prev_unclean, int64_t now)
{
    if (streq(U.ps.fresh_version, U.version) && now - U.ps.fresh_since_ms < CRASH_WINDOW_MS
        && now >= U.ps.fresh_since_ms) {
        if (prev_unclean) {
            U.ps.fresh_unclean++;
            log_warn("update: unclean start %d of %d of freshly swapped %s (the previous run did not stop cleanly)",
                     U.ps.fresh_unclean, CRASH_LIMIT, U.version);
        }
        if (U.ps.fresh_unclean >= CRASH_LIMIT) {
            char oldv[VER_CAP], reason[256];
            if (upd_file_version(U.old_path, oldv, sizeof oldv) == 0 && !streq(oldv, U.version)) {
                snprintf(reason, sizeof reason, "crash loop: %d unclean starts of %s within its first hour",
                         U.ps.fresh_unclean, U.version);
                U.ps.fresh_version[0] = 0;
                upd_state_save();
                if (request_restore(oldv, reason) == 0) return UPD_RESTART;
            } else {
                log_error("update: crash loop of %s but no usable %s to restore", U.version, U.old_path);
            }
        }
    }
    return 0;
}
