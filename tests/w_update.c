/*
** w_update.c — unit tests of update.c's agent-side logic under Wine, without
** a broker: the jitter schedule and its persistence across a restart, the
** quarantine and its lifting, the backoff, atomic copies, the helper-alive
** mutex, the crash-loop counter, and crash recovery from each phase of a
** swap record (update.json) left by a helper that is gone. The swap itself
** (SCM, ReplaceFileW, rollback) is exercised end to end by it_update.sh.
**
** The update module keeps its helpers static, so this file includes its
** three files (and service.c, which they call) instead of linking them.
*/
#define KANADE_TEST_HOOKS 1   /* the hooks are part of what this suite exercises */
#include "../src/update.c"
#include "../src/upd_state.c"
#include "../src/upd_swap.c"
#include "../src/upd_trust.c"
#include "../src/service.c"
#include <stdlib.h>
#include "th.h"

static char base[600], data[700], exe[700], version[80];
static int changes;

static void on_change(void *arg) { (void)arg; changes++; }

static void write_file(const char *path, const char *text)
{
    FILE *f = win_fopen(path, "wb");
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

/* Reads the state file into a malloc'd string ("" when absent). */
static char *state_text(void)
{
    char *t = NULL, path[800];
    size_t n;
    snprintf(path, sizeof path, "%s\\update-state.json", data);
    if (win_read_all(path, 65536, &t, &n) != 0) { t = malloc(1); t[0] = 0; }
    return t;
}

static int state_has(const char *needle)
{
    char *t = state_text();
    int r = strstr(t, needle) != NULL;
    free(t);
    return r;
}

/* A fresh "host": data folder and an exe that is a real versioned build. */
static void fresh(void)
{
    char cmd[800], src[700], *slash;
    static int n;
    snprintf(base, sizeof base, "%s\\w_update-%lu-%d", getenv("TEMP") ? getenv("TEMP") : "C:\\windows\\temp",
             (unsigned long)GetCurrentProcessId(), n++);
    snprintf(data, sizeof data, "%s\\data", base);
    snprintf(exe, sizeof exe, "%s\\kanade-agent.exe", base);
    win_mkdirs(data);
    /* build/wtest/w_update.exe -> build/kanade-agent.exe */
    win_exe_path(src, sizeof src);
    slash = strrchr(src, '\\'); if (slash) *slash = 0;
    slash = strrchr(src, '\\'); if (slash) *slash = 0;
    snprintf(cmd, sizeof cmd, "%s\\kanade-agent.exe", src);
    TH_EQ_INT(upd_copy_atomic(cmd, exe), 0);
    TH_EQ_INT(upd_file_version(exe, version, sizeof version), 0);
}

static int init(int under_scm)
{
    upd_config c;
    memset(&c, 0, sizeof c);
    c.exe_path = exe;
    c.data_dir = data;
    c.version = version;
    c.config_path = "C:\\nowhere\\agent.conf";
    c.health_timeout_s = 20;
    c.under_scm = under_scm;
    c.on_change = on_change;
    c.log_dir = base;
    changes = 0;
    return upd_init(&c);
}

static void job(const char *from, const char *to, const char *phase_, const char *reason)
{
    char text[4096], path[800];
    {
        json_w w;
        json_w_init(&w, text, sizeof text);
        json_w_obj_open(&w);
        json_w_kstr(&w, "kind", "swap");
        json_w_kstr(&w, "from", from);
        json_w_kstr(&w, "to", to);
        json_w_kstr(&w, "phase", phase_);
        json_w_kstr(&w, "exe", exe);
        snprintf(path, sizeof path, "%s.new", exe); json_w_kstr(&w, "new", path);
        snprintf(path, sizeof path, "%s.old", exe); json_w_kstr(&w, "old", path);
        json_w_kstr(&w, "data_dir", data);
        json_w_kstr(&w, "reason", reason);
        json_w_obj_close(&w);
    }
    snprintf(path, sizeof path, "%s\\update.json", data);
    write_file(path, text);
}

static int exists_in_data(const char *name)
{
    char p[800];
    snprintf(p, sizeof p, "%s\\%s", data, name);
    return win_exists(p);
}

static void t_backoff(void)
{
    TH_EQ_INT(backoff_ms(1), 15000);
    TH_EQ_INT(backoff_ms(2), 45000);
    TH_EQ_INT(backoff_ms(3), 135000);
    TH_EQ_INT(backoff_ms(4), 405000);
    TH_EQ_INT(backoff_ms(5), 600000);
    TH_EQ_INT(backoff_ms(40), 600000);
}

static void t_copy_atomic(void)
{
    char a[800], b[800], bt[800], *t = NULL;
    size_t n;
    fresh();
    snprintf(a, sizeof a, "%s\\a.bin", base);
    snprintf(b, sizeof b, "%s\\b.bin", base);
    snprintf(bt, sizeof bt, "%s.tmp", b);
    write_file(a, "first version");
    TH_EQ_INT(upd_copy_atomic(a, b), 0);              /* dst absent: MoveFileExW */
    TH_EQ_INT(win_read_all(b, 1000, &t, &n), 0);
    TH_EQ_STR(t, "first version");
    free(t);
    write_file(a, "second, longer version");
    TH_EQ_INT(upd_copy_atomic(a, b), 0);              /* dst present: ReplaceFileW */
    TH_EQ_INT(win_read_all(b, 1000, &t, &n), 0);
    TH_EQ_STR(t, "second, longer version");
    free(t);
    TH_CHECK(!win_exists(bt));
    snprintf(a, sizeof a, "%s\\missing.bin", base);
    TH_CHECK(upd_copy_atomic(a, b) != 0);             /* a failed copy keeps dst */
    TH_EQ_INT(win_read_all(b, 1000, &t, &n), 0);
    TH_EQ_STR(t, "second, longer version");
    free(t);
}

static void t_schedule_persists(void)
{
    upd_status st;
    int64_t t0, at;
    fresh();
    TH_EQ_INT(init(1), 0);
    upd_get_status(&st);
    TH_EQ_STR(st.state, UPD_IDLE);
    TH_EQ_STR(st.quarantined, "[]");
    t0 = win_unix_ms();
    upd_on_target(NULL, "9.9.9", "pcs.x", 3600000);
    upd_get_status(&st);
    TH_EQ_STR(st.state, UPD_SCHEDULED);
    TH_EQ_STR(st.target, "9.9.9");
    at = st.scheduled_at_ms;
    TH_CHECK(at >= t0 && at <= t0 + 3600000 + 1000);
    TH_EQ_INT(upd_next_due_ms(), at);
    TH_CHECK(changes >= 1);
    TH_CHECK(state_has("\"sched_target\":\"9.9.9\""));
    /* The same target again changes nothing. */
    changes = 0;
    upd_on_target(NULL, "9.9.9", "pcs.x", 3600000);
    TH_EQ_INT(changes, 0);
    /* A restart keeps the moment. */
    upd_shutdown();
    TH_CHECK(state_has("\"running\":false"));
    TH_EQ_INT(init(1), 0);
    upd_on_target(NULL, "9.9.9", "pcs.x", 3600000);
    upd_get_status(&st);
    TH_EQ_STR(st.state, UPD_SCHEDULED);
    TH_EQ_INT(st.scheduled_at_ms, at);
    /* A newer target replaces the scheduled one. */
    upd_on_target(NULL, "9.9.8", "global", 0);
    upd_get_status(&st);
    TH_EQ_STR(st.target, "9.9.8");
    TH_CHECK(st.scheduled_at_ms <= win_unix_ms());
    TH_CHECK(state_has("\"sched_target\":\"9.9.8\""));
    /* The target equal to the running version: idle, schedule dropped. */
    upd_on_target(NULL, version, "global", 0);
    upd_get_status(&st);
    TH_EQ_STR(st.state, UPD_IDLE);
    TH_CHECK(!state_has("sched_target"));
    TH_EQ_INT(upd_next_due_ms(), INT64_MAX);
    upd_shutdown();
}

static void t_quarantine_lift(void)
{
    char path[800];
    upd_status st;
    fresh();
    snprintf(path, sizeof path, "%s\\update-state.json", data);
    write_file(path, "{\"quarantine\":[{\"version\":\"9.9.7\",\"reason\":\"it crashed\",\"armed\":false}],\"running\":false}");
    TH_EQ_INT(init(1), 0);
    upd_on_target(NULL, "9.9.7", "global", 0);
    upd_get_status(&st);
    TH_EQ_STR(st.state, UPD_QUARANTINED);
    TH_EQ_STR(st.error, "it crashed");
    TH_EQ_STR(st.quarantined, "[\"9.9.7\"]");
    upd_on_target(NULL, "9.9.7", "global", 0);       /* the same target: still refused */
    upd_get_status(&st);
    TH_EQ_STR(st.state, UPD_QUARANTINED);
    upd_on_target(NULL, "", "global", 0);             /* unset is not "another target" */
    upd_on_target(NULL, "9.9.7", "global", 0);
    upd_on_target(NULL, version, "global", 0);        /* the running version: idle */
    upd_get_status(&st);
    TH_EQ_STR(st.state, UPD_IDLE);
    upd_on_target(NULL, "9.9.7", "global", 0);        /* back: lifted (the move armed it) */
    upd_get_status(&st);
    TH_EQ_STR(st.state, UPD_SCHEDULED);
    upd_on_target(NULL, version, "global", 0);
    upd_q_add("9.9.7", "it crashed");                 /* re-quarantine for the rest */
    upd_state_save();
    upd_on_target(NULL, "", "global", 0);
    TH_CHECK(state_has("\"armed\":false"));
    upd_on_target(NULL, "9.9.6", "global", 3600000);  /* another target arms it ... */
    TH_CHECK(state_has("\"armed\":true"));
    upd_shutdown();
    TH_EQ_INT(init(1), 0);                             /* ... across a restart */
    upd_on_target(NULL, "9.9.7", "global", 3600000);  /* ... and this one again lifts it */
    upd_get_status(&st);
    TH_EQ_STR(st.state, UPD_SCHEDULED);
    TH_EQ_STR(st.quarantined, "[]");
    TH_CHECK(!state_has("9.9.7\",\"reason"));
    upd_shutdown();
}

static void t_recover_interrupted_before_replace(void)
{
    upd_status st;
    fresh();
    job(version, "9.9.5", "stopped", "");
    TH_EQ_INT(init(1), 0);
    upd_get_status(&st);
    TH_EQ_STR(st.state, UPD_FAILED);
    TH_EQ_STR(st.target, "9.9.5");
    TH_CHECK(strstr(st.error, "interrupted at phase stopped") != NULL);
    TH_CHECK(!exists_in_data("update.json"));
    TH_CHECK(exists_in_data("update.last.json"));
    /* The retry is 15 s away. */
    TH_CHECK(upd_next_due_ms() > win_unix_ms() + 10000);
    /* The operator's target is the same: the attempt stands (no reset). */
    upd_on_target(NULL, "9.9.5", "global", 0);
    upd_get_status(&st);
    TH_EQ_STR(st.state, UPD_FAILED);
    upd_shutdown();
}

static void t_recover_rolled_back(void)
{
    upd_status st;
    fresh();
    job(version, "9.9.4", "rolled_back", "new agent 9.9.4 exited with code 1 12 ms after its start");
    TH_EQ_INT(init(1), 0);
    upd_get_status(&st);
    TH_EQ_STR(st.state, UPD_ROLLED_BACK);
    TH_CHECK(strstr(st.error, "exited with code 1") != NULL);
    TH_EQ_STR(st.quarantined, "[\"9.9.4\"]");
    TH_CHECK(!exists_in_data("update.json"));
    /* The target still names the bad build: nothing new, still rolled_back. */
    changes = 0;
    upd_on_target(NULL, "9.9.4", "pcs.x", 0);
    upd_get_status(&st);
    TH_EQ_STR(st.state, UPD_ROLLED_BACK);
    TH_EQ_INT(upd_next_due_ms(), INT64_MAX);
    upd_shutdown();
    /* Survives a restart: still reported as rolled back, with the reason. */
    TH_EQ_INT(init(1), 0);
    upd_on_target(NULL, "9.9.4", "pcs.x", 0);
    upd_get_status(&st);
    TH_EQ_STR(st.state, UPD_ROLLED_BACK);
    TH_CHECK(strstr(st.error, "exited with code 1") != NULL);
    upd_shutdown();
}

static void t_recover_new_build_without_helper(void)
{
    upd_status st;
    char path[800], *t = NULL;
    size_t n;
    fresh();
    job("9.9.3", version, "replaced", "");
    TH_EQ_INT(init(1), 0);
    upd_get_status(&st);
    TH_EQ_STR(st.state, UPD_MONITORING);
    TH_CHECK(state_has("\"fresh_version\""));
    TH_EQ_INT(upd_next_due_ms(), INT64_MAX);          /* waits for the broker, no polling */
    upd_on_connected();
    upd_get_status(&st);
    TH_EQ_STR(st.state, UPD_DONE);
    TH_CHECK(!exists_in_data("update.json"));
    snprintf(path, sizeof path, "%s\\update.last.json", data);
    TH_EQ_INT(win_read_all(path, 65536, &t, &n), 0);
    TH_CHECK(t && strstr(t, "\"phase\":\"replaced\"") != NULL);
    free(t);
    upd_on_target(NULL, version, "global", 0);         /* the target it reached: stays done */
    upd_get_status(&st);
    TH_EQ_STR(st.state, UPD_DONE);
    upd_shutdown();
}

static HANDLE hold_ready, hold_release, hold_mutex;
static DWORD WINAPI holder(void *arg)
{
    HANDLE m = CreateMutexW(NULL, TRUE, SWAP_MUTEX);
    (void)arg;
    hold_mutex = m;                            /* closed by the test once abandoned */
    SetEvent(hold_ready);
    WaitForSingleObject(hold_release, 10000);
    return 0;
}

static void t_recover_with_live_helper(void)
{
    upd_status st;
    HANDLE th;
    char path[800], *t = NULL;
    size_t n;
    fresh();
    TH_EQ_INT(upd_helper_alive(), 0);
    hold_ready = CreateEventW(NULL, TRUE, FALSE, NULL);
    hold_release = CreateEventW(NULL, TRUE, FALSE, NULL);
    th = CreateThread(NULL, 0, holder, NULL, 0, NULL);
    WaitForSingleObject(hold_ready, 5000);
    TH_EQ_INT(upd_helper_alive(), 1);
    job("9.9.2", version, "monitoring", "");
    TH_EQ_INT(init(1), 0);
    upd_get_status(&st);
    TH_EQ_STR(st.state, UPD_MONITORING);
    upd_on_connected();                           /* tells the helper: healthy */
    snprintf(path, sizeof path, "%s\\update.json", data);
    TH_EQ_INT(win_read_all(path, 65536, &t, &n), 0);
    TH_CHECK(t && strstr(t, "\"phase\":\"healthy\"") != NULL);
    free(t);
    {   /* the poll deadline holds still until the tick runs (the agent
        ** compares it with its clock after waking up) */
        int64_t d1 = upd_next_due_ms(), d2;
        TH_CHECK(d1 != INT64_MAX && d1 <= win_unix_ms() + 500);
        Sleep(30);
        d2 = upd_next_due_ms();
        TH_EQ_INT(d2, d1);
    }
    upd_tick(NULL);                               /* helper alive, not done: wait */
    upd_get_status(&st);
    TH_EQ_STR(st.state, UPD_MONITORING);
    /* A new target during the swap waits for its outcome. */
    upd_on_target(NULL, "9.9.0", "global", 3600000);
    upd_get_status(&st);
    TH_EQ_STR(st.state, UPD_MONITORING);
    SetEvent(hold_release);                       /* the helper dies before "done" */
    WaitForSingleObject(th, 5000);                /* exits holding it: abandoned */
    CloseHandle(th);
    TH_EQ_INT(upd_helper_alive(), 0);
    CloseHandle(hold_mutex);
    upd_tick(NULL);                               /* done, then the deferred target */
    upd_get_status(&st);
    TH_EQ_STR(st.state, UPD_SCHEDULED);
    TH_EQ_STR(st.target, "9.9.0");
    TH_CHECK(!exists_in_data("update.json"));
    upd_shutdown();
}

static void t_crash_loop_counter(void)
{
    char path[800], text[512];
    upd_status st;
    fresh();
    snprintf(path, sizeof path, "%s\\update-state.json", data);
    snprintf(text, sizeof text, "{\"quarantine\":[],\"fresh_version\":\"%s\",\"fresh_since_ms\":%lld,"
             "\"fresh_unclean\":0,\"running\":false}", version, (long long)(win_unix_ms() - 1000));
    write_file(path, text);
    TH_EQ_INT(init(1), 0);                 /* previous run stopped cleanly */
    TH_CHECK(state_has("\"fresh_unclean\":0"));
    TH_EQ_INT(init(1), 0);                 /* no upd_shutdown: an unclean start */
    TH_CHECK(state_has("\"fresh_unclean\":1"));
    TH_EQ_INT(init(1), 0);
    TH_CHECK(state_has("\"fresh_unclean\":2"));
    /* Third unclean start, but .old is the same version: nothing to restore. */
    {
        char old[800];
        snprintf(old, sizeof old, "%s.old", exe);
        TH_EQ_INT(upd_copy_atomic(exe, old), 0);
    }
    TH_EQ_INT(init(1), 0);
    TH_CHECK(state_has("\"fresh_unclean\":3"));
    upd_get_status(&st);
    TH_EQ_STR(st.state, UPD_IDLE);
    upd_shutdown();
    /* Outside its first hour the guard is off. */
    snprintf(text, sizeof text, "{\"fresh_version\":\"%s\",\"fresh_since_ms\":%lld,\"fresh_unclean\":2,"
             "\"running\":true}", version, (long long)(win_unix_ms() - 2 * 3600 * 1000));
    write_file(path, text);
    TH_EQ_INT(init(1), 0);
    TH_CHECK(state_has("\"fresh_unclean\":2"));
    upd_shutdown();
}

static void t_console_mode_never_restores(void)
{
    fresh();
    /* A rollback decided while the bad build (this one) runs: under the SCM
    ** the helper would be started; in console mode it only logs. */
    job("9.9.1", version, "rolling_back", "crash loop");
    TH_EQ_INT(init(0), 0);
    upd_shutdown();
}

static void t_stale_record(void)
{
    upd_status st;
    fresh();
    job("1.0.0", "2.0.0", "monitoring", "");
    TH_EQ_INT(init(1), 0);
    upd_get_status(&st);
    TH_EQ_STR(st.state, UPD_IDLE);
    TH_EQ_STR(st.target, "");
    TH_CHECK(!exists_in_data("update.json"));
    upd_shutdown();
}

/* A swap mutex squatted by someone else, with a DACL that lets nobody in:
** the helper refuses to run (nothing stopped yet), the agent does not take
** it for a live helper, and both log it. Once it is gone, ours works. */
static void t_foreign_swap_mutex(void)
{
    SECURITY_ATTRIBUTES sa;
    PSECURITY_DESCRIPTOR sd = NULL;
    HANDLE squat, m = NULL;
    fresh();
    TH_CHECK(ConvertStringSecurityDescriptorToSecurityDescriptorW(L"D:P", SDDL_REVISION_1, &sd, NULL));
    sa.nLength = sizeof sa; sa.lpSecurityDescriptor = sd; sa.bInheritHandle = FALSE;
    squat = CreateMutexW(&sa, FALSE, SWAP_MUTEX);
    LocalFree(sd);
    TH_CHECK(squat != NULL);
    TH_EQ_INT(upd_swap_mutex_create(&m), MUTEX_FOREIGN);
    TH_CHECK(m == NULL);
    TH_EQ_INT(upd_helper_alive(), 0);
    CloseHandle(squat);
    TH_EQ_INT(upd_swap_mutex_create(&m), MUTEX_OURS);
    TH_CHECK(m != NULL);
    TH_EQ_INT(swap_mutex_open(&squat), MUTEX_OURS);   /* ours: created by this account */
    CloseHandle(squat);
    CloseHandle(m);
}

static int main_(void)
{
    TH_RUN(t_backoff);
    TH_RUN(t_copy_atomic);
    TH_RUN(t_schedule_persists);
    TH_RUN(t_quarantine_lift);
    TH_RUN(t_recover_interrupted_before_replace);
    TH_RUN(t_recover_rolled_back);
    TH_RUN(t_recover_new_build_without_helper);
    TH_RUN(t_recover_with_live_helper);
    TH_RUN(t_crash_loop_counter);
    TH_RUN(t_console_mode_never_restores);
    TH_RUN(t_stale_record);
    TH_RUN(t_foreign_swap_mutex);
    return th_summary("w_update");
}

#ifdef _WIN32
TH_MAIN
#else
int main(void) { return main_(); }
#endif
