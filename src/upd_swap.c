/*
** upd_swap.c — the detached swap helper: another process's main
** (`kanade-agent.exe --swap <update.json>`), how the agent launches it, and
** the atomic file copy both sides use.
**
** The swap. The agent copies its own exe to <data>\updater\ and starts the
** copy detached with `--swap <update.json>`. The helper holds the named
** mutex SWAP_MUTEX for its whole life, so any agent start can tell "helper
** alive" from "helper gone" (a killed helper abandons the mutex):
**   stopping -> svc_stop (waits on the process handle, terminates past 30 s)
**   stopped  -> copy exe to exe.old (flushed, atomic), then
**               MoveFileExW(exe.new, exe, REPLACE_EXISTING | WRITE_THROUGH):
**               one rename over the old name within one folder, so the exe
**               path names the old build or the new one, never nothing.
**               ReplaceFileW is not used: with a backup name it renames
**               twice, and without one it is documented to fail with
**               ERROR_UNABLE_TO_MOVE_REPLACEMENT after the original is
**               already gone. exe.new was created in the exe's folder, so it
**               carries the same inherited ACL the exe had.
**   replaced -> monitoring (written before svc_start, so the new agent's
**               "healthy" can never be overwritten) -> svc_start
**   monitoring: waits for phase "healthy" (written by the new agent when it
**               runs `to` and reached the broker) within health_timeout,
**               while watching the service process handle (Wine does not
**               report a dead service and ignores failure actions).
**   healthy  -> done.   Not healthy -> rolling_back: svc_stop, exe.old
**               copied over exe (same atomic replace), quarantine `to`,
**               rolled_back, svc_start.
*/
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "update.h"
#include "upd_int.h"
#include "service.h"
#include "log.h"
#include "win.h"

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

/*
** Renames from over to in one step (MoveFileExW, REPLACE_EXISTING and
** WRITE_THROUGH; see the header for why not ReplaceFileW). Sharing, lock
** and access violations (an antivirus scan, a handle still closing) are
** retried for about 5 s. 0 = renamed; the error is recorded for name.
*/
static int rename_over(const wchar_t *from, const wchar_t *to, const char *name)
{
    int tries;
    for (tries = 0; tries < 25; tries++) {
        if (MoveFileExW(from, to, MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH)) return 0;
        win_err("MoveFileExW", name);
        if (GetLastError() != ERROR_SHARING_VIOLATION && GetLastError() != ERROR_ACCESS_DENIED
            && GetLastError() != ERROR_LOCK_VIOLATION) break;
        Sleep(200);
    }
    return 1;
}

/*
** Copies src to dst with no window in which dst is missing or partial:
** the bytes go to dst.tmp, are flushed, and dst.tmp then replaces dst in
** one step (MoveFileExW with REPLACE_EXISTING; see the header for why not
** ReplaceFileW). Sharing or lock
** violations (an antivirus scan, a process still closing) are retried for
** a few seconds. 0 = copied; the error is recorded otherwise.
*/
int upd_copy_atomic(const char *src, const char *dst)
{
    wchar_t ws[WIN_PATH_MAX], wd[WIN_PATH_MAX], wt[WIN_PATH_MAX + 8];
    HANDLE in, out;
    unsigned char *buf = NULL;
    DWORD got, put;
    int rc = 1;
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
    if (rename_over(wt, wd, dst) == 0) return 0;
    DeleteFileW(wt);
    return 1;
}

#ifdef KANADE_TEST_HOOKS
/* Test-only hook, see the header comment: the helper exits after `step`. */
static void test_abort_at(const char *step)
{
    char v[32], path[PATH_U8];
    if (upd_test_hook("swap-abort-at", v, sizeof v, path, sizeof path) == 0 && streq(v, step)) {
        win_delete(path);
        log_warn("swap: TEST HOOK swap-abort-at=%s: the helper exits here", step);
        log_close();
        ExitProcess(UPD_SWAP_TEST_ABORT);
    }
}
#else
#define test_abort_at(step) ((void)0)
#endif

/*
** Starts exe detached with the given arguments (after the quoted exe
** name). 0 = started; *proc gets its handle when proc is not NULL.
*/
static int spawn_detached(const char *exe, const wchar_t *args, HANDLE *proc)
{
    wchar_t wexe[WIN_PATH_MAX], cmd[WIN_PATH_MAX * 2 + 64];
    STARTUPINFOW si;
    PROCESS_INFORMATION pi;
    DWORD flags = DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP;
    int n;
    if (win_to_wide(exe, wexe, WIN_PATH_MAX)) { win_err_set("path too long: %s", exe); return 1; }
    n = _snwprintf(cmd, sizeof cmd / sizeof cmd[0], L"\"%ls\" %ls", wexe, args);
    if (n < 0 || (size_t)n >= sizeof cmd / sizeof cmd[0]) { win_err_set("command line too long: %s", exe); return 1; }
    memset(&si, 0, sizeof si);
    si.cb = sizeof si;
    /* Break away from a job the service may run in, so stopping the service
    ** cannot take the helper down with it; a job that forbids breakaway
    ** refuses the flag (access denied), and then we go without it. */
    if (!CreateProcessW(wexe, cmd, NULL, NULL, FALSE, flags | CREATE_BREAKAWAY_FROM_JOB,
                        NULL, NULL, &si, &pi)
        && !CreateProcessW(wexe, cmd, NULL, NULL, FALSE, flags, NULL, NULL, &si, &pi)) {
        win_err("CreateProcessW", exe);
        return 1;
    }
    CloseHandle(pi.hThread);
    if (proc) *proc = pi.hProcess; else CloseHandle(pi.hProcess);
    return 0;
}

/* Starts the helper copy detached. 0 = started; *proc gets its handle. */
int upd_spawn_helper(const char *helper_exe, HANDLE *proc)
{
    wchar_t wjob[WIN_PATH_MAX], args[WIN_PATH_MAX + 16];
    if (win_to_wide(U.job_path, wjob, WIN_PATH_MAX)) { win_err_set("path too long: %s", U.job_path); return 1; }
    _snwprintf(args, sizeof args / sizeof args[0], L"--swap \"%ls\"", wjob);
    args[sizeof args / sizeof args[0] - 1] = 0;
    if (spawn_detached(helper_exe, args, proc) != 0) return 1;
    log_info("update: started swap helper %s (pid %lu)", helper_exe, (unsigned long)GetProcessId(*proc));
    return 0;
}

/* Copies the running exe to <data>\updater\ and returns its path in out. */
int upd_make_helper_copy(char *out, size_t cap)
{
    const char *base = strrchr(U.exe, '\\');
    base = base ? base + 1 : U.exe;
    if (win_mkdirs(U.updater_dir) != 0) return 1;
    snprintf(out, cap, "%s\\%s", U.updater_dir, base);
    return upd_copy_atomic(U.exe, out);
}

/* ---- the swap helper (kanade-agent.exe --swap <update.json>) ----------- */

/* Writes the job's phase (and logs a failure to write). */
static void phase(swap_job *j, const char *ph)
{
    copy_str(j->phase, sizeof j->phase, ph);
    if (upd_job_write(U.job_path, j) != 0)
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
    if (upd_file_version(j->old, v, sizeof v) != 0 || !streq(v, j->from)) {
        log_error("rollback: %s is not version %s (%s); cannot restore", j->old, j->from,
                  v[0] ? v : win_last_error());
        phase(j, "failed");
        svc_start(START_TIMEOUT_MS);
        return UPD_SWAP_FAILED;
    }
    if (upd_copy_atomic(j->old, j->exe) != 0) {
        log_error("rollback: cannot put %s back: %s", j->old, win_last_error());
        phase(j, "failed");
        svc_start(START_TIMEOUT_MS);
        return UPD_SWAP_FAILED;
    }
    log_info("rollback: restored %s (version %s) from %s in %lld ms", j->exe, j->from, j->old, (long long)since(t0));
    upd_state_load();
    upd_q_add(j->to, reason);
    copy_str(U.ps.rb_version, sizeof U.ps.rb_version, j->to);
    if (streq(U.ps.fresh_version, j->to)) U.ps.fresh_version[0] = 0;
    upd_state_save();
    log_info("rollback: version %s quarantined", j->to);
    j->t_done = win_unix_ms();
    phase(j, "rolled_back");
    if (svc_start(START_TIMEOUT_MS) != 0) {
        log_error("rollback: starting the service failed: %s", win_last_error());
        return UPD_SWAP_NO_START;
    }
    svc_pid(&pid);
    log_info("rollback: old version %s started (pid %lu) %lld ms after the failure", j->from, pid,
             (long long)since(t_fail));
    return UPD_SWAP_ROLLED_BACK;
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
        if (upd_job_read(U.job_path, &cur) == 0 && streq(cur.phase, "healthy")) {
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
    int rc;

    if (upd_file_version(j->new_, v, sizeof v) != 0 || !streq(v, j->to)) {
        log_error("swap: %s is not version %s (%s); nothing changed", j->new_, j->to, v[0] ? v : win_last_error());
        copy_str(j->reason, sizeof j->reason, "the downloaded build is not the target version");
        phase(j, "failed");
        return UPD_SWAP_FAILED;
    }
    phase(j, "stopping");
    t = win_unix_ms();
    if (svc_stop(STOP_TIMEOUT_MS) != 0) {
        log_error("swap: stopping the service failed: %s", win_last_error());
        snprintf(j->reason, sizeof j->reason, "stopping the service failed: %s", win_last_error());
        phase(j, "failed");
        svc_start(START_TIMEOUT_MS);
        return UPD_SWAP_FAILED;
    }
    j->t_stopped = win_unix_ms();
    phase(j, "stopped");
    log_info("swap: stop: service stopped in %lld ms", (long long)(j->t_stopped - t));
    test_abort_at("stopped");

    t = win_unix_ms();
    if (upd_copy_atomic(j->exe, j->old) != 0) {
        snprintf(j->reason, sizeof j->reason, "cannot keep the previous build as %s: %s", j->old, win_last_error());
        log_error("swap: %s", j->reason);
        phase(j, "failed");
        svc_start(START_TIMEOUT_MS);
        return UPD_SWAP_FAILED;
    }
    if (win_to_wide(j->exe, we, WIN_PATH_MAX) || win_to_wide(j->new_, wn, WIN_PATH_MAX)) {
        copy_str(j->reason, sizeof j->reason, "path too long");
        phase(j, "failed");
        svc_start(START_TIMEOUT_MS);
        return UPD_SWAP_FAILED;
    }
    /* exe.old is already on disk; this is one rename over the exe name, so
    ** that name never goes missing. */
    if (rename_over(wn, we, j->exe) != 0) {
        snprintf(j->reason, sizeof j->reason, "replace failed: %s", win_last_error());
        log_error("swap: %s", j->reason);
        /* A failed rename leaves exe as it was; make sure all the same. */
        if (!win_exists(j->exe) && upd_copy_atomic(j->old, j->exe) != 0)
            log_error("swap: restoring %s from %s failed: %s", j->exe, j->old, win_last_error());
        phase(j, "failed");
        svc_start(START_TIMEOUT_MS);
        return UPD_SWAP_FAILED;
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
        if (svc_stop(STOP_TIMEOUT_MS) == 0 && upd_job_read(U.job_path, &cur) == 0 && streq(cur.phase, "healthy")) {
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
    return UPD_SWAP_OK;
}

/* ---- the watchdog (kanade-agent.exe --swap-watch <pid> <update.json>) -- */

/*
** The helper stops the service, and only the helper starts it again. If it
** dies in between (a crash, a kill, an antivirus removing its copy), the
** host would have no agent until the next boot: Wine ignores failure
** actions, and on Windows they only act when the service itself fails, not
** after a clean stop. So once it holds the swap mutex the helper starts a
** second copy of itself that only waits for the helper's process to end.
** When the helper ended before update.json reached a final phase and the
** service is not running, the watchdog starts the service; the agent's
** crash recovery (upd_init) then finishes or undoes the swap from the
** recorded phase. The helper's pid is looked up at once, while the helper
** is certainly alive (it waits for nothing before the stop).
*/
#define WATCH_MAX_MS (30 * 60 * 1000)   /* far beyond a swap plus a rollback */

static int phase_final(const char *ph)
{
    return streq(ph, "done") || streq(ph, "failed") || streq(ph, "rolled_back");
}

static void start_watchdog(void)
{
    char self[PATH_U8];
    wchar_t wjob[WIN_PATH_MAX], args[WIN_PATH_MAX + 48];
    if (win_exe_path(self, sizeof self) != 0 || win_to_wide(U.job_path, wjob, WIN_PATH_MAX) != 0) {
        log_warn("swap: cannot start the watchdog: %s", win_last_error());
        return;
    }
    _snwprintf(args, sizeof args / sizeof args[0], L"--swap-watch %lu \"%ls\"",
               (unsigned long)GetCurrentProcessId(), wjob);
    args[sizeof args / sizeof args[0] - 1] = 0;
    if (spawn_detached(self, args, NULL) != 0)
        log_warn("swap: cannot start the watchdog (%s): if this helper dies after the stop, "
                 "the service stays stopped until the next boot", win_last_error());
}

int upd_watch_main(int argc, wchar_t **argv)
{
    char path[PATH_U8];
    swap_job j;
    unsigned long pid, spid = 0;
    HANDLE h;
    if (argc < 4 || (pid = wcstoul(argv[2], NULL, 10)) == 0 || win_to_utf8(argv[3], path, sizeof path) != 0) {
        fprintf(stderr, "kanade-agent: usage: kanade-agent --swap-watch <pid> <update.json>\n");
        return UPD_SWAP_USAGE;
    }
    h = OpenProcess(SYNCHRONIZE, FALSE, (DWORD)pid);
    if (h) {
        DWORD w = WaitForSingleObject(h, WATCH_MAX_MS);
        CloseHandle(h);
        if (w != WAIT_OBJECT_0) return UPD_SWAP_OK; /* a helper that hangs is not dead */
    }
    if (upd_job_read(path, &j) == 0 && phase_final(j.phase)) return UPD_SWAP_OK;
    if (svc_pid(&spid) == 0 && spid != 0) return UPD_SWAP_OK; /* running: the agent recovers itself */
    {
        char data[PATH_U8], logs[PATH_U8];
        const char *slash = strrchr(path, '\\');
        copy_str(data, sizeof data, path);
        if (slash) data[slash - path] = 0;
        upd_default_log_dir(data, logs, sizeof logs);
        log_open(logs, 14, 0);
    }
    log_event(LOG_WARN, "swap watchdog: the helper (pid %lu) ended at phase %s; starting the service "
              "so that it recovers", pid, j.phase[0] ? j.phase : "(unreadable)");
    if (svc_start(START_TIMEOUT_MS) != 0) {
        log_error("swap watchdog: starting the service failed: %s", win_last_error());
        log_close();
        return UPD_SWAP_NO_START;
    }
    log_info("swap watchdog: service started");
    log_close();
    return UPD_SWAP_OK;
}

/*
** The helper runs as SYSTEM and acts on the paths in update.json, a file
** that only SYSTEM and Administrators may write, but it trusts nothing it
** can check: the exe must be the one the service's binPath names, .new and
** .old beside it, and the job must be %ProgramData%\Kanade\data\update.json.
** 0 = trusted; 1 with the reason in why.
*/
static int job_trusted(const swap_job *j, const char *job_path, char *why, size_t cap)
{
    char want[PATH_U8 + 32];
    if (svc_exe_path(want, sizeof want) != 0) {
        snprintf(why, cap, "cannot read the service's exe path: %s", win_last_error());
        return 1;
    }
    if (_stricmp(j->exe, want) != 0) {
        snprintf(why, cap, "exe %s is not the service's exe %s", j->exe, want);
        return 1;
    }
    snprintf(want, sizeof want, "%s.new", j->exe);
    if (_stricmp(j->new_, want) != 0) { snprintf(why, cap, "new build %s is not %s", j->new_, want); return 1; }
    snprintf(want, sizeof want, "%s.old", j->exe);
    if (_stricmp(j->old, want) != 0) { snprintf(why, cap, "previous build %s is not %s", j->old, want); return 1; }
    if (win_program_data(want, sizeof want) != 0
        || strlen(want) + 13 >= sizeof want) { snprintf(why, cap, "%%ProgramData%% is unknown"); return 1; }
    strncat(want, "\\Kanade\\data", sizeof want - strlen(want) - 1);
    if (_stricmp(j->data_dir, want) != 0) { snprintf(why, cap, "data folder %s is not %s", j->data_dir, want); return 1; }
    strncat(want, "\\update.json", sizeof want - strlen(want) - 1);
    if (_stricmp(job_path, want) != 0) { snprintf(why, cap, "job %s is not %s", job_path, want); return 1; }
    return 0;
}

int upd_swap_main(int argc, wchar_t **argv)
{
    char path[PATH_U8], why[PATH_U8 * 2];
    swap_job j;
    HANDLE mutex;
    DWORD w;
    int i, rc;
    const wchar_t *arg = NULL;
    for (i = 1; i + 1 < argc; i++)
        if (wcscmp(argv[i], L"--swap") == 0) { arg = argv[i + 1]; break; }
    if (!arg || win_to_utf8(arg, path, sizeof path) != 0) {
        fprintf(stderr, "kanade-agent: usage: kanade-agent --swap <update.json>\n");
        return UPD_SWAP_USAGE;
    }
    if (!U.inited) { InitializeCriticalSection(&U.lock); InitializeCriticalSection(&U.api); U.inited = 1; }
    if (upd_job_read(path, &j) != 0) {
        fprintf(stderr, "kanade-agent: %s\n", win_last_error());
        return UPD_SWAP_USAGE;
    }
    if (job_trusted(&j, path, why, sizeof why) != 0) {
        /* Nothing is written: not even a log file in a folder the job names. */
        log_open(NULL, 0, 1);
        log_event(LOG_ERROR, "swap: refusing %s: %s", path, why);
        log_close();
        return UPD_SWAP_FAILED;
    }
    upd_set_paths(j.data_dir);
    upd_default_log_dir(j.data_dir, U.log_dir, sizeof U.log_dir);
    log_open(U.log_dir, 14, 0);

    /* One helper at a time; held until exit so agents can tell we live.
    ** An abandoned mutex (a killed helper) is ours all the same. */
    rc = upd_swap_mutex_create(&mutex);
    if (rc != MUTEX_OURS) {
        /* Nothing was stopped yet: failing here leaves the service running
        ** the old build, which is the safe side. */
        if (rc < 0) log_error("swap: %s", win_last_error());
        copy_str(j.reason, sizeof j.reason, rc == MUTEX_FOREIGN ? "the swap mutex is held by another account"
                                                                 : "cannot create the swap mutex");
        phase(&j, "failed");
        log_close();
        return UPD_SWAP_FAILED;
    }
    w = WaitForSingleObject(mutex, 60000);
    if (w != WAIT_OBJECT_0 && w != WAIT_ABANDONED) {
        log_error("swap: another swap helper is still running; giving up");
        log_close();
        return UPD_SWAP_FAILED;
    }
    log_info("swap: helper pid %lu: %s %s -> %s (phase %s)", (unsigned long)GetCurrentProcessId(), j.kind,
             j.from, j.to, j.phase);
    start_watchdog();
    if (streq(j.kind, "restore")) {
        rc = helper_rollback(&j, j.reason[0] ? j.reason : "restore requested", win_unix_ms());
    } else if (streq(j.phase, "handover")) {
        rc = helper_swap(&j);
    } else {
        log_error("swap: record at phase %s is not a new hand-over; nothing to do", j.phase);
        rc = UPD_SWAP_FAILED;
    }
    log_info("swap: helper exits with code %d", rc);
    log_close();
    ReleaseMutex(mutex);
    CloseHandle(mutex);
    return rc;
}
