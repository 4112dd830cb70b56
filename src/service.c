/*
** service.c — Service Control Manager helpers (see service.h).
**
** Two halves:
**   - the controller side (svc_install, svc_uninstall, svc_start, svc_stop,
**     svc_pid), used by `kanade-agent.exe install|uninstall` and by the
**     swap helper of update.c;
**   - the service skeleton (svc_run), which runs the agent's body on the
**     ServiceMain thread and reports its state to the SCM.
**
** Wine facts this file respects (docs/style.md, Wine): StartService can fail for a
** few seconds in a fresh prefix, so svc_start retries within its bound; a
** dead service process may still show RUNNING, so svc_stop waits on the
** process handle rather than trusting the SCM state.
*/
#include <windows.h>
#include <stdlib.h>
#include <string.h>
#include "service.h"
#include "win.h"

#define SVC_NAME_W     L"KanadeAgent"
#define SVC_DISPLAY_W  L"Kanade Agent"
#define SVC_DESC_W     L"Kanade fleet agent: heartbeat, config watch and self-update over NATS."

/* How long the SCM should wait between checkpoints while we start or stop
** (ms). The body reports a checkpoint after each start step. */
#define SVC_START_HINT_MS 15000
/* Once STOP is acknowledged the body has this long (ms) to return; past it
** the process reports STOPPED and ends itself, so a wedged network call can
** never keep a stop pending forever. */
#define SVC_STOP_BOUND_MS 20000
/* Poll period (ms) of the bounded waits for an SCM state change. */
#define SVC_POLL_MS 100

/* ---- controller side ------------------------------------------------- */

/*
** Opens the SCM and then the KanadeAgent service with `access`. Returns
** SVC_OK with both handles (the caller closes both), SVC_ERR_NOT_INSTALLED,
** or SVC_ERR_OS with the error recorded.
*/
static int open_service(DWORD scm_access, DWORD access, SC_HANDLE *scm, SC_HANDLE *svc)
{
    *svc = NULL;
    *scm = OpenSCManagerW(NULL, NULL, scm_access);
    if (!*scm) { win_err("OpenSCManagerW", NULL); return SVC_ERR_OS; }
    *svc = OpenServiceW(*scm, SVC_NAME_W, access);
    if (!*svc) {
        DWORD code = GetLastError();
        win_err("OpenServiceW", SVC_NAME);
        CloseServiceHandle(*scm);
        *scm = NULL;
        return code == ERROR_SERVICE_DOES_NOT_EXIST ? SVC_ERR_NOT_INSTALLED : SVC_ERR_OS;
    }
    return SVC_OK;
}

static void close_service(SC_HANDLE scm, SC_HANDLE svc)
{
    if (svc) CloseServiceHandle(svc);
    if (scm) CloseServiceHandle(scm);
}

static int query_status(SC_HANDLE svc, SERVICE_STATUS_PROCESS *st)
{
    DWORD need = 0;
    if (!QueryServiceStatusEx(svc, SC_STATUS_PROCESS_INFO, (LPBYTE)st, sizeof *st, &need)) {
        win_err("QueryServiceStatusEx", SVC_NAME);
        return SVC_ERR_OS;
    }
    return SVC_OK;
}

/*
** Builds the binPath `"<exe>" service --config "<config>"` into out (wide,
** cap chars). Both paths are quoted so spaces are safe. A path holding a
** quote cannot be quoted (and is not a valid Windows file name anyway);
** neither can one ending in a backslash, which would escape the closing
** quote for CommandLineToArgvW. Returns SVC_OK or SVC_ERR_ARG.
*/
static int build_binpath(const char *exe, const char *config, wchar_t *out, size_t cap)
{
    wchar_t wexe[WIN_PATH_MAX], wconf[WIN_PATH_MAX];
    size_t le, lc;
    int n;
    if (!exe || !config || !*exe || !*config) {
        win_err_set("service: exe and config paths are required");
        return SVC_ERR_ARG;
    }
    le = strlen(exe);
    lc = strlen(config);
    if (strchr(exe, '"') || strchr(config, '"') || exe[le - 1] == '\\' || config[lc - 1] == '\\') {
        win_err_set("service: path cannot be quoted for the service command line: %s",
                    strchr(exe, '"') || exe[le - 1] == '\\' ? exe : config);
        return SVC_ERR_ARG;
    }
    if (win_to_wide(exe, wexe, WIN_PATH_MAX) || win_to_wide(config, wconf, WIN_PATH_MAX)) {
        win_err_set("service: path is not valid UTF-8 or too long");
        return SVC_ERR_ARG;
    }
    n = _snwprintf(out, cap, L"\"%ls\" service --config \"%ls\"", wexe, wconf);
    if (n < 0 || (size_t)n >= cap) {
        win_err_set("service: command line too long");
        return SVC_ERR_ARG;
    }
    return SVC_OK;
}

/*
** Sets the description, the failure actions (restart after 5 s, 15 s, 60 s;
** the failure count resets after one day) and the failure-actions flag, so
** that a stop with a non-zero exit code also counts as a failure: that is
** how the agent asks to be restarted after restoring an old exe.
*/
static int configure_extras(SC_HANDLE svc)
{
    SERVICE_DESCRIPTIONW desc;
    SERVICE_FAILURE_ACTIONSW fa;
    SERVICE_FAILURE_ACTIONS_FLAG flag;
    SC_ACTION actions[3];

    desc.lpDescription = (LPWSTR)SVC_DESC_W;
    if (!ChangeServiceConfig2W(svc, SERVICE_CONFIG_DESCRIPTION, &desc)) {
        win_err("ChangeServiceConfig2W(DESCRIPTION)", SVC_NAME);
        return SVC_ERR_OS;
    }
    actions[0].Type = SC_ACTION_RESTART; actions[0].Delay = 5000;
    actions[1].Type = SC_ACTION_RESTART; actions[1].Delay = 15000;
    actions[2].Type = SC_ACTION_RESTART; actions[2].Delay = 60000;
    memset(&fa, 0, sizeof fa);
    fa.dwResetPeriod = 86400;              /* seconds */
    fa.cActions = 3;
    fa.lpsaActions = actions;
    if (!ChangeServiceConfig2W(svc, SERVICE_CONFIG_FAILURE_ACTIONS, &fa)) {
        win_err("ChangeServiceConfig2W(FAILURE_ACTIONS)", SVC_NAME);
        return SVC_ERR_OS;
    }
    flag.fFailureActionsOnNonCrashFailures = TRUE;
    /* Windows has had this level since Vista. Wine answers
    ** ERROR_INVALID_LEVEL (it implements no failure actions at all, see
    ** docs/style.md, Wine), and only that answer is let through. */
    if (!ChangeServiceConfig2W(svc, SERVICE_CONFIG_FAILURE_ACTIONS_FLAG, &flag)
        && GetLastError() != ERROR_INVALID_LEVEL) {
        win_err("ChangeServiceConfig2W(FAILURE_ACTIONS_FLAG)", SVC_NAME);
        return SVC_ERR_OS;
    }
    return SVC_OK;
}

/* See service.h. Creates the service, or rewrites the configuration of the
** existing one, so that running install twice is harmless. */
int svc_install(const svc_install_opts *o)
{
    wchar_t bin[2 * WIN_PATH_MAX + 64];
    SC_HANDLE scm, svc;
    int rc;

    rc = build_binpath(o->exe_path, o->config_path, bin, sizeof bin / sizeof bin[0]);
    if (rc) return rc;
    scm = OpenSCManagerW(NULL, NULL, SC_MANAGER_CONNECT | SC_MANAGER_CREATE_SERVICE);
    if (!scm) { win_err("OpenSCManagerW", NULL); return SVC_ERR_OS; }
    /* LocalSystem (account NULL): the agent must replace its own exe under
    ** Program Files and manage its own service. */
    svc = CreateServiceW(scm, SVC_NAME_W, SVC_DISPLAY_W, SERVICE_ALL_ACCESS,
                         SERVICE_WIN32_OWN_PROCESS, SERVICE_AUTO_START, SERVICE_ERROR_NORMAL,
                         bin, NULL, NULL, NULL, NULL, NULL);
    if (!svc) {
        DWORD code = GetLastError();
        if (code == ERROR_SERVICE_MARKED_FOR_DELETE) {
            win_err_set("service %s is marked for deletion; close any tool holding it "
                        "(services.msc) and run install again", SVC_NAME);
            CloseServiceHandle(scm);
            return SVC_ERR_OS;
        }
        if (code != ERROR_SERVICE_EXISTS) {
            win_err("CreateServiceW", SVC_NAME);
            CloseServiceHandle(scm);
            return SVC_ERR_OS;
        }
        svc = OpenServiceW(scm, SVC_NAME_W, SERVICE_ALL_ACCESS);
        if (!svc) { win_err("OpenServiceW", SVC_NAME); CloseServiceHandle(scm); return SVC_ERR_OS; }
        if (!ChangeServiceConfigW(svc, SERVICE_WIN32_OWN_PROCESS, SERVICE_AUTO_START,
                                  SERVICE_ERROR_NORMAL, bin, NULL, NULL, NULL, NULL, NULL,
                                  SVC_DISPLAY_W)) {
            win_err("ChangeServiceConfigW", SVC_NAME);
            close_service(scm, svc);
            return SVC_ERR_OS;
        }
    }
    rc = configure_extras(svc);
    close_service(scm, svc);
    return rc;
}

/* See service.h. */
int svc_uninstall(void)
{
    SC_HANDLE scm, svc;
    int rc = open_service(SC_MANAGER_CONNECT, DELETE | SERVICE_QUERY_STATUS, &scm, &svc);
    if (rc == SVC_ERR_NOT_INSTALLED) return SVC_OK;
    if (rc) return rc;
    close_service(scm, svc);
    rc = svc_stop(30000);
    if (rc) return rc;
    rc = open_service(SC_MANAGER_CONNECT, DELETE, &scm, &svc);
    if (rc == SVC_ERR_NOT_INSTALLED) return SVC_OK;
    if (rc) return rc;
    if (!DeleteService(svc) && GetLastError() != ERROR_SERVICE_MARKED_FOR_DELETE) {
        win_err("DeleteService", SVC_NAME);
        rc = SVC_ERR_OS;
    }
    close_service(scm, svc);
    return rc;
}

/* Errors of StartServiceW that waiting will not cure. Anything else (the
** SCM of a fresh Wine prefix still settling, a previous instance still
** stopping) is retried until the deadline. */
static int start_error_is_final(DWORD code)
{
    return code == ERROR_SERVICE_DISABLED || code == ERROR_ACCESS_DENIED
        || code == ERROR_SERVICE_MARKED_FOR_DELETE || code == ERROR_FILE_NOT_FOUND
        || code == ERROR_PATH_NOT_FOUND || code == ERROR_BAD_EXE_FORMAT
        || code == ERROR_SERVICE_LOGON_FAILED;
}

/* See service.h. Returns SVC_OK once the service reports RUNNING,
** SVC_ERR_TIMEOUT, SVC_ERR_NOT_INSTALLED, or SVC_ERR_OS (error recorded;
** also when the service stopped again during its start). */
int svc_start(int timeout_ms)
{
    SC_HANDLE scm, svc;
    SERVICE_STATUS_PROCESS st;
    uint64_t deadline = win_tick_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
    int rc = open_service(SC_MANAGER_CONNECT, SERVICE_START | SERVICE_QUERY_STATUS, &scm, &svc);
    if (rc) return rc;

    for (;;) {
        DWORD code;
        if (StartServiceW(svc, 0, NULL)) break;
        code = GetLastError();
        if (code == ERROR_SERVICE_ALREADY_RUNNING) break;
        win_err("StartServiceW", SVC_NAME);
        if (start_error_is_final(code) || win_tick_ms() >= deadline) {
            close_service(scm, svc);
            return SVC_ERR_OS;
        }
        Sleep(250);
    }
    for (;;) {
        rc = query_status(svc, &st);
        if (rc) break;
        if (st.dwCurrentState == SERVICE_RUNNING) break;
        if (st.dwCurrentState == SERVICE_STOPPED) {
            win_err_set("service %s stopped during start (exit code %lu, service code %lu)",
                        SVC_NAME, (unsigned long)st.dwWin32ExitCode,
                        (unsigned long)st.dwServiceSpecificExitCode);
            rc = SVC_ERR_OS;
            break;
        }
        if (win_tick_ms() >= deadline) {
            win_err_set("service %s did not report RUNNING within %d ms", SVC_NAME, timeout_ms);
            rc = SVC_ERR_TIMEOUT;
            break;
        }
        Sleep(SVC_POLL_MS);
    }
    close_service(scm, svc);
    return rc;
}

/* Waits (bounded) for the SCM to show STOPPED, so that a StartService that
** follows does not meet ERROR_SERVICE_ALREADY_RUNNING. */
static void wait_scm_stopped(SC_HANDLE svc, int timeout_ms)
{
    SERVICE_STATUS_PROCESS st;
    uint64_t deadline = win_tick_ms() + (uint64_t)timeout_ms;
    while (query_status(svc, &st) == SVC_OK && st.dwCurrentState != SERVICE_STOPPED
           && win_tick_ms() < deadline)
        Sleep(SVC_POLL_MS);
}

/* See service.h. Returns SVC_OK when the service process is gone (also when
** it was not running), SVC_ERR_NOT_INSTALLED, SVC_ERR_TIMEOUT when even
** TerminateProcess did not end it, or SVC_ERR_OS. */
int svc_stop(int timeout_ms)
{
    SC_HANDLE scm, svc;
    SERVICE_STATUS_PROCESS st;
    SERVICE_STATUS ss;
    HANDLE proc = NULL;
    DWORD wait;
    int rc = open_service(SC_MANAGER_CONNECT, SERVICE_STOP | SERVICE_QUERY_STATUS, &scm, &svc);
    if (rc) return rc;
    rc = query_status(svc, &st);
    if (rc) { close_service(scm, svc); return rc; }
    if (st.dwCurrentState == SERVICE_STOPPED && st.dwProcessId == 0) {
        close_service(scm, svc);
        return SVC_OK;
    }
    /* Take the process handle before asking it to stop, so that a reused
    ** pid can never make us wait on (or kill) an unrelated process. */
    if (st.dwProcessId != 0) {
        proc = OpenProcess(SYNCHRONIZE | PROCESS_TERMINATE, FALSE, st.dwProcessId);
        if (!proc && GetLastError() != ERROR_INVALID_PARAMETER)  /* invalid = already gone */
            win_err("OpenProcess", SVC_NAME);
    }
    if (!ControlService(svc, SERVICE_CONTROL_STOP, &ss)) {
        DWORD code = GetLastError();
        /* Not active: already stopping or stopped. Cannot accept: still
        ** starting or already stopping; the wait below covers both. */
        if (code != ERROR_SERVICE_NOT_ACTIVE && code != ERROR_SERVICE_CANNOT_ACCEPT_CTRL
            && code != ERROR_SERVICE_REQUEST_TIMEOUT) {
            win_err("ControlService(STOP)", SVC_NAME);
            if (proc) CloseHandle(proc);
            close_service(scm, svc);
            return SVC_ERR_OS;
        }
    }
    if (proc) {
        wait = WaitForSingleObject(proc, (DWORD)(timeout_ms > 0 ? timeout_ms : 0));
        if (wait != WAIT_OBJECT_0) {
            /* Past the bound: the service did not honour STOP. End it, so
            ** the caller (the swap helper) can go on replacing the exe. */
            if (!TerminateProcess(proc, ERROR_PROCESS_ABORTED))
                win_err("TerminateProcess", SVC_NAME);
            if (WaitForSingleObject(proc, 5000) != WAIT_OBJECT_0) {
                win_err_set("service %s process %lu did not end after TerminateProcess",
                            SVC_NAME, (unsigned long)st.dwProcessId);
                rc = SVC_ERR_TIMEOUT;
            }
        }
        CloseHandle(proc);
        if (rc == SVC_OK) wait_scm_stopped(svc, 3000);
    } else {
        /* No process to watch (no pid yet, or it is gone): the SCM state is
        ** all there is. */
        wait_scm_stopped(svc, timeout_ms > 0 ? timeout_ms : 0);
        if (query_status(svc, &st) == SVC_OK && st.dwCurrentState != SERVICE_STOPPED
            && st.dwProcessId != 0) {
            win_err_set("service %s did not stop within %d ms", SVC_NAME, timeout_ms);
            rc = SVC_ERR_TIMEOUT;
        }
    }
    close_service(scm, svc);
    return rc;
}

/* See service.h. */
int svc_pid(unsigned long *pid)
{
    SC_HANDLE scm, svc;
    SERVICE_STATUS_PROCESS st;
    int rc;
    *pid = 0;
    rc = open_service(SC_MANAGER_CONNECT, SERVICE_QUERY_STATUS, &scm, &svc);
    if (rc) return rc;
    rc = query_status(svc, &st);
    if (rc == SVC_OK && st.dwCurrentState != SERVICE_STOPPED) *pid = st.dwProcessId;
    close_service(scm, svc);
    return rc;
}

/* The exe named in the service's binPath (its first, quoted token), UTF-8. */
int svc_exe_path(char *out, size_t cap)
{
    SC_HANDLE scm, svc;
    QUERY_SERVICE_CONFIGW *qc;
    DWORD need = 0;
    const wchar_t *b, *e;
    wchar_t exe[WIN_PATH_MAX];
    int rc;
    out[0] = 0;
    rc = open_service(SC_MANAGER_CONNECT, SERVICE_QUERY_CONFIG, &scm, &svc);
    if (rc) return rc;
    QueryServiceConfigW(svc, NULL, 0, &need);
    qc = need ? malloc(need) : NULL;
    if (!qc || !QueryServiceConfigW(svc, qc, need, &need)) {
        win_err("QueryServiceConfigW", SVC_NAME);
        free(qc);
        close_service(scm, svc);
        return SVC_ERR_OS;
    }
    b = qc->lpBinaryPathName;
    if (*b == L'"') { b++; e = wcschr(b, L'"'); } else e = wcschr(b, L' ');
    if (!e) e = b + wcslen(b);
    rc = SVC_ERR_ARG;
    if ((size_t)(e - b) < WIN_PATH_MAX) {
        wmemcpy(exe, b, (size_t)(e - b));
        exe[e - b] = 0;
        rc = win_to_utf8(exe, out, cap) == 0 ? SVC_OK : SVC_ERR_ARG;
    }
    if (rc) win_err_set("the service's binPath is too long");
    free(qc);
    close_service(scm, svc);
    return rc;
}

/* ---- service side ---------------------------------------------------- */

/* The SCM hands ServiceMain no user pointer, so the skeleton's state is
** process-wide (one service per process: SERVICE_WIN32_OWN_PROCESS). */
static struct {
    int (*body)(void *arg);
    void *arg;
    int exit_code;
    SERVICE_STATUS_HANDLE handle;   /* NULL when not under the SCM */
    SERVICE_STATUS status;
    CRITICAL_SECTION lock;          /* status is set from two threads */
    HANDLE watchdog;                /* timer queue timer armed at STOP */
} g_svc;

static HANDLE volatile g_stop_event;

/* See service.h. The event is manual-reset and created on first use, so
** console mode (`run`) and service mode share one stop signal. */
void *svc_stop_event(void)
{
    if (!g_stop_event) {
        HANDLE h = CreateEventW(NULL, TRUE, FALSE, NULL);
        if (!h) { win_err("CreateEventW", "stop"); return NULL; }
        if (InterlockedCompareExchangePointer((PVOID volatile *)&g_stop_event, h, NULL) != NULL)
            CloseHandle(h);
    }
    return g_stop_event;
}

/* Reports `state` to the SCM. Pending states count checkpoints; the other
** states reset them, as the SCM expects. No-op outside the SCM. */
static void report(DWORD state, DWORD exit_code, DWORD specific, DWORD hint_ms)
{
    if (!g_svc.handle) return;
    EnterCriticalSection(&g_svc.lock);
    /* Never move back from STOP_PENDING/STOPPED to an earlier state: the
    ** body may report progress after STOP was acknowledged. */
    if ((g_svc.status.dwCurrentState == SERVICE_STOP_PENDING && state != SERVICE_STOPPED
         && state != SERVICE_STOP_PENDING) || g_svc.status.dwCurrentState == SERVICE_STOPPED) {
        LeaveCriticalSection(&g_svc.lock);
        return;
    }
    if (state == SERVICE_START_PENDING || state == SERVICE_STOP_PENDING) {
        g_svc.status.dwCheckPoint = g_svc.status.dwCurrentState == state
                                  ? g_svc.status.dwCheckPoint + 1 : 1;
    } else {
        g_svc.status.dwCheckPoint = 0;
    }
    g_svc.status.dwCurrentState = state;
    g_svc.status.dwWin32ExitCode = exit_code;
    g_svc.status.dwServiceSpecificExitCode = specific;
    g_svc.status.dwWaitHint = hint_ms;
    /* No controls while starting (the SCM convention); STOP and SHUTDOWN
    ** once running. */
    g_svc.status.dwControlsAccepted = state == SERVICE_RUNNING
                                    ? SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN : 0;
    if (!SetServiceStatus(g_svc.handle, &g_svc.status))
        win_err("SetServiceStatus", SVC_NAME);
    LeaveCriticalSection(&g_svc.lock);
}

/* See service.h. */
void svc_checkpoint(void) { report(SERVICE_START_PENDING, NO_ERROR, 0, SVC_START_HINT_MS); }

/* See service.h. */
void svc_report_running(void) { report(SERVICE_RUNNING, NO_ERROR, 0, 0); }

/* Fires SVC_STOP_BOUND_MS after STOP was acknowledged if the body has not
** returned: reports STOPPED with a failure code and ends the process. */
static VOID CALLBACK stop_watchdog(PVOID arg, BOOLEAN fired)
{
    report(SERVICE_STOPPED, ERROR_SERVICE_SPECIFIC_ERROR, 1, 0);
    TerminateProcess(GetCurrentProcess(), 1);
}

/* The control handler runs on the dispatcher thread. It acknowledges STOP
** at once (STOP_PENDING, then the event, as the SCM sample warns: in the
** other order the body could report STOPPED before STOP_PENDING). */
static DWORD WINAPI ctrl_handler(DWORD ctrl, DWORD type, LPVOID data, LPVOID ctx)
{
    switch (ctrl) {
    case SERVICE_CONTROL_STOP:
    case SERVICE_CONTROL_SHUTDOWN:
        report(SERVICE_STOP_PENDING, NO_ERROR, 0, SVC_STOP_BOUND_MS);
        if (!g_svc.watchdog)
            CreateTimerQueueTimer(&g_svc.watchdog, NULL, stop_watchdog, NULL,
                                  SVC_STOP_BOUND_MS, 0, WT_EXECUTEONLYONCE);
        SetEvent(svc_stop_event());
        return NO_ERROR;
    case SERVICE_CONTROL_INTERROGATE:
        return NO_ERROR;
    default:
        return ERROR_CALL_NOT_IMPLEMENTED;
    }
}

/* ServiceMain: registers the handler, reports START_PENDING, runs the body
** and reports STOPPED with its exit code (a non-zero code as a service-
** specific error, which the failure-actions flag turns into a restart). */
static VOID WINAPI service_main(DWORD argc, LPWSTR *argv)
{
    DWORD specific;
    g_svc.handle = RegisterServiceCtrlHandlerExW(SVC_NAME_W, ctrl_handler, NULL);
    if (!g_svc.handle) {
        win_err("RegisterServiceCtrlHandlerExW", SVC_NAME);
        g_svc.exit_code = 1;
        return;
    }
    g_svc.status.dwServiceType = SERVICE_WIN32_OWN_PROCESS;
    report(SERVICE_START_PENDING, NO_ERROR, 0, SVC_START_HINT_MS);
    g_svc.exit_code = g_svc.body(g_svc.arg);
    specific = (DWORD)g_svc.exit_code;
    if (g_svc.watchdog) {
        /* INVALID_HANDLE_VALUE: wait for a callback already running. */
        DeleteTimerQueueTimer(NULL, g_svc.watchdog, NULL);
        g_svc.watchdog = NULL;
    }
    report(SERVICE_STOPPED, specific ? ERROR_SERVICE_SPECIFIC_ERROR : NO_ERROR, specific, 0);
}

/* See service.h. Returns body's exit code, or 1 when the dispatcher could
** not start (error recorded; ERROR_FAILED_SERVICE_CONTROLLER_CONNECT means
** the exe was started from a console rather than by the SCM). */
int svc_run(int (*body)(void *arg), void *arg)
{
    SERVICE_TABLE_ENTRYW table[2];
    table[0].lpServiceName = (LPWSTR)SVC_NAME_W;
    table[0].lpServiceProc = service_main;
    table[1].lpServiceName = NULL;
    table[1].lpServiceProc = NULL;
    g_svc.body = body;
    g_svc.arg = arg;
    g_svc.exit_code = 1;
    InitializeCriticalSection(&g_svc.lock);
    if (!svc_stop_event()) return 1;
    if (!StartServiceCtrlDispatcherW(table)) {
        if (GetLastError() == ERROR_FAILED_SERVICE_CONTROLLER_CONNECT)
            win_err_set("`service` is started by the Service Control Manager; "
                        "use `kanade-agent run` in a console");
        else
            win_err("StartServiceCtrlDispatcherW", SVC_NAME);
        return 1;
    }
    return g_svc.exit_code;
}
