/*
** tool_service.c — unit checks of service.c against Wine's real Service
** Control Manager. A tool, not a w_ test: tests/it_agent.sh runs it inside
** its own prefix, where exactly one services.exe runs (a prefix fresh from
** `wineboot -i` runs two, and SCM calls reach either at random).
**
** The test exe registers ITSELF as the KanadeAgent service: svc_install
** writes the binPath `"<this exe>" service --config "C:\with space\<mode>"`,
** and when the SCM starts it, wmain sees `service` and runs svc_run with a
** body chosen by the last path element of --config:
**   normal  reports RUNNING and returns 0 when the stop event is set;
**   hang    reports RUNNING and ignores STOP (svc_stop must terminate it);
**   exit    returns 3 at once, before RUNNING (svc_start must say so).
** A mode read intact also proves the quoting of a path with a space.
**
** service.c belongs to kanade-agent.exe only (AGENT_SRC), so it is
** compiled into this test directly.
*/
#include <windows.h>
#include <string.h>
#include <wchar.h>
#include "th.h"
#include "service.c"

/* ---- the service side ------------------------------------------------- */

static int body_normal(void *arg)
{
    svc_checkpoint();
    svc_report_running();
    WaitForSingleObject(svc_stop_event(), INFINITE);
    return 0;
}

static int body_hang(void *arg)
{
    svc_report_running();
    Sleep(60000);              /* ignores STOP; svc_stop terminates it first */
    return 0;
}

static int body_exit(void *arg) { return 3; }

static int service_entry(const wchar_t *config)
{
    const wchar_t *mode = wcsrchr(config, L'\\');
    mode = mode ? mode + 1 : config;
    if (wcscmp(mode, L"normal") == 0) return svc_run(body_normal, NULL);
    if (wcscmp(mode, L"hang") == 0) return svc_run(body_hang, NULL);
    if (wcscmp(mode, L"exit") == 0) return svc_run(body_exit, NULL);
    return 99;
}

/* ---- the controller side ---------------------------------------------- */

static char self[WIN_PATH_MAX * 3];

static int install_mode(const char *mode)
{
    char conf[64];
    svc_install_opts o;
    snprintf(conf, sizeof conf, "C:\\with space\\%s", mode);
    o.exe_path = self;
    o.config_path = conf;
    return svc_install(&o);
}

/* A handle on the running service's process, or NULL. */
static HANDLE service_process(void)
{
    unsigned long pid = 0;
    if (svc_pid(&pid) != SVC_OK || pid == 0) return NULL;
    return OpenProcess(SYNCHRONIZE | PROCESS_QUERY_LIMITED_INFORMATION, FALSE, (DWORD)pid);
}

static void test_clean_slate(void)
{
    unsigned long pid = 1;
    TH_EQ_INT(svc_uninstall(), SVC_OK);        /* whatever an earlier run left */
    TH_EQ_INT(svc_pid(&pid), SVC_ERR_NOT_INSTALLED);
    TH_EQ_INT((int)pid, 0);
    TH_EQ_INT(svc_start(1000), SVC_ERR_NOT_INSTALLED);
    TH_EQ_INT(svc_stop(1000), SVC_ERR_NOT_INSTALLED);
}

static void test_binpath_rejects(void)
{
    svc_install_opts o;
    o.exe_path = self;
    o.config_path = "C:\\a\"b.conf";
    TH_EQ_INT(svc_install(&o), SVC_ERR_ARG);
    o.config_path = "C:\\dir\\";
    TH_EQ_INT(svc_install(&o), SVC_ERR_ARG);
    o.config_path = "";
    TH_EQ_INT(svc_install(&o), SVC_ERR_ARG);
    TH_EQ_INT(svc_uninstall(), SVC_OK);       /* nothing was created */
}

/* A service that exits before RUNNING: svc_start reports it, not a hang. */
static void test_start_fails_when_it_exits(void)
{
    int rc;
    TH_EQ_INT(install_mode("exit"), SVC_OK);
    rc = svc_start(20000);
    TH_EQ_INT(rc, SVC_ERR_OS);
    TH_CHECK(strstr(win_last_error(), "stopped during start") != NULL);
    TH_CHECK(strstr(win_last_error(), "service code 3") != NULL);
}

/* Re-install over the existing service (ChangeServiceConfigW), start, stop. */
static void test_start_stop(void)
{
    HANDLE proc;
    DWORD code = 99;
    unsigned long pid = 0;
    TH_EQ_INT(install_mode("normal"), SVC_OK);
    TH_EQ_INT(install_mode("normal"), SVC_OK);   /* idempotent */
    TH_EQ_INT(svc_start(20000), SVC_OK);
    TH_EQ_INT(svc_start(20000), SVC_OK);         /* already running: fine */
    TH_EQ_INT(svc_pid(&pid), SVC_OK);
    TH_CHECK(pid != 0 && pid != GetCurrentProcessId());
    proc = service_process();
    TH_CHECK(proc != NULL);
    TH_EQ_INT(svc_stop(10000), SVC_OK);
    if (proc) {
        TH_EQ_INT((int)WaitForSingleObject(proc, 0), (int)WAIT_OBJECT_0);
        TH_CHECK(GetExitCodeProcess(proc, &code));
        TH_EQ_INT((int)code, 0);
        CloseHandle(proc);
    }
    TH_EQ_INT(svc_pid(&pid), SVC_OK);
    TH_EQ_INT((int)pid, 0);
    TH_EQ_INT(svc_stop(1000), SVC_OK);           /* already stopped: fine */
}

/* A service that ignores STOP: svc_stop terminates it past its bound. */
static void test_stop_terminates_a_hung_service(void)
{
    HANDLE proc;
    uint64_t t0, took;
    TH_EQ_INT(install_mode("hang"), SVC_OK);
    TH_EQ_INT(svc_start(20000), SVC_OK);
    proc = service_process();
    TH_CHECK(proc != NULL);
    t0 = win_tick_ms();
    TH_EQ_INT(svc_stop(2000), SVC_OK);
    took = win_tick_ms() - t0;
    TH_CHECK(took >= 1900);                      /* it waited its bound first */
    if (proc) {
        TH_EQ_INT((int)WaitForSingleObject(proc, 0), (int)WAIT_OBJECT_0);
        CloseHandle(proc);
    }
}

static void test_uninstall(void)
{
    unsigned long pid = 1;
    TH_EQ_INT(install_mode("normal"), SVC_OK);
    TH_EQ_INT(svc_start(20000), SVC_OK);
    TH_EQ_INT(svc_uninstall(), SVC_OK);          /* stops it first */
    TH_EQ_INT(svc_pid(&pid), SVC_ERR_NOT_INSTALLED);
    TH_EQ_INT(svc_uninstall(), SVC_OK);          /* gone already: fine */
}

int wmain(int argc, wchar_t **argv)
{
    if (argc == 4 && wcscmp(argv[1], L"service") == 0 && wcscmp(argv[2], L"--config") == 0)
        return service_entry(argv[3]);
    if (win_exe_path(self, sizeof self) != 0) {
        fprintf(stderr, "cannot read own path: %s\n", win_last_error());
        return 1;
    }
    TH_RUN(test_clean_slate);
    TH_RUN(test_binpath_rejects);
    TH_RUN(test_start_fails_when_it_exits);
    TH_RUN(test_start_stop);
    TH_RUN(test_stop_terminates_a_hung_service);
    TH_RUN(test_uninstall);
    return th_summary("tool_service");
}
