/*
** w_log.c — log.c under Wine: file names and line format, level filter,
** truncation, retention, rotation at the UTC date change, a log folder
** that cannot be created, console echo, and concurrent writers.
*/
#include <windows.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "th.h"
#include "log.h"
#include "win.h"

#define DAY_MS 86400000LL

static char root[WIN_PATH_MAX * 3];      /* this run's scratch folder */
static volatile int64_t fake_now;
static int64_t fake_clock(void) { return fake_now; }

/* 2026-11-27T03:04:05.123Z */
#define T0 1795748645123LL

/* "<root>\<sub>" into out. */
static void path_in(char *out, size_t cap, const char *sub)
{
    snprintf(out, cap, "%s\\%s", root, sub);
}

/* "YYYY-MM-DD" of a unix ms time. */
static void date_of(int64_t ms, char out[11])
{
    char ts[40];
    win_rfc3339(ms, ts);
    memcpy(out, ts, 10);
    out[10] = 0;
}

/* dir\agent.<date of ms>.log */
static void log_path(char *out, size_t cap, const char *dir, int64_t ms)
{
    char d[11];
    date_of(ms, d);
    snprintf(out, cap, "%s\\agent.%s.log", dir, d);
}

static void touch(const char *path)
{
    TH_EQ_INT(win_write_atomic(path, "old\r\n", 5), 0);
}

/* Reads a whole file ("" if absent); the caller frees. */
static char *slurp(const char *path)
{
    char *buf = NULL;
    size_t len = 0;
    if (win_read_all(path, 64u << 20, &buf, &len) != 0) {
        buf = malloc(1);
        if (buf) buf[0] = 0;
    }
    return buf;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

/* Deletes the files in dir, then dir (one level is all the tests make). */
static void remove_tree(const char *dir)
{
    wchar_t wd[WIN_PATH_MAX], pat[WIN_PATH_MAX], p[WIN_PATH_MAX];
    WIN32_FIND_DATAW fd;
    HANDLE h;
    if (win_to_wide(dir, wd, WIN_PATH_MAX)) return;
    _snwprintf(pat, WIN_PATH_MAX, L"%ls\\*", wd);
    pat[WIN_PATH_MAX - 1] = 0;
    h = FindFirstFileW(pat, &fd);
    if (h != INVALID_HANDLE_VALUE) {
        do {
            if (!wcscmp(fd.cFileName, L".") || !wcscmp(fd.cFileName, L"..")) continue;
            _snwprintf(p, WIN_PATH_MAX, L"%ls\\%ls", wd, fd.cFileName);
            p[WIN_PATH_MAX - 1] = 0;
            if (fd.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) RemoveDirectoryW(p);
            else DeleteFileW(p);
        } while (FindNextFileW(h, &fd));
        FindClose(h);
    }
    RemoveDirectoryW(wd);
}

/* 1 if line (up to its \r\n) is "YYYY-MM-DDTHH:MM:SS.mmmZ LEVEL text". */
static int line_shape_ok(const char *line, const char *level)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ ";
    size_t i, ll = strlen(level);
    for (i = 0; i < sizeof shape - 1; i++) {
        if (shape[i] == 'd' ? (line[i] < '0' || line[i] > '9') : line[i] != shape[i]) return 0;
    }
    return strncmp(line + i, level, ll) == 0 && line[i + ll] == ' ';
}

static void t_format_and_levels(void)
{
    char dir[WIN_PATH_MAX * 3], path[WIN_PATH_MAX * 3], *text;
    const char *want =
        "2026-11-27T03:04:05.123Z INFO hello 42 caf\xc3\xa9\r\n"
        "2026-11-27T03:04:05.123Z WARN careful\r\n"
        "2026-11-27T03:04:05.123Z ERROR broken: disk\r\n"
        "2026-11-27T03:04:05.124Z DEBUG now visible\r\n"
        "2026-11-27T03:04:05.124Z ERROR only errors\r\n"
        "2026-11-27T03:04:05.124Z ERROR line one line two  three\r\n"
        "2026-11-27T03:04:05.124Z INFO tab\tkept\r\n";
    path_in(dir, sizeof dir, "fmt");
    fake_now = T0;
    log_set_clock(fake_clock);
    log_set_level(LOG_INFO);
    TH_EQ_INT(log_open(dir, 14, 0), 0);
    log_info("hello %d %s", 42, "caf\xc3\xa9");
    log_debug("hidden");
    log_warn("careful");
    log_error("broken: %s", "disk");
    fake_now = T0 + 1;
    log_set_level(LOG_DEBUG);
    log_debug("now visible");
    log_set_level(LOG_ERROR);
    log_info("dropped");
    log_warn("dropped");
    log_error("only errors");
    log_set_level(-1);                    /* ignored: still ERROR */
    log_set_level(7);
    log_info("dropped");
    log_error("line one\nline two\r\nthree");
    log_set_level(LOG_INFO);
    log_info("tab\tkept");
    log_msg(99, "level out of range is clamped to DEBUG, so dropped");
    log_close();
    log_info("after close: dropped, harmless");

    log_path(path, sizeof path, dir, T0);
    TH_CHECK(strstr(path, "\\agent.2026-11-27.log") != NULL);
    text = slurp(path);
    TH_EQ_STR(text, want);
    free(text);

    TH_EQ_INT(log_level_parse("error"), LOG_ERROR);
    TH_EQ_INT(log_level_parse("WARN"), LOG_WARN);
    TH_EQ_INT(log_level_parse("warning"), LOG_WARN);
    TH_EQ_INT(log_level_parse("Info"), LOG_INFO);
    TH_EQ_INT(log_level_parse("debug"), LOG_DEBUG);
    TH_EQ_INT(log_level_parse("trace"), -1);
    TH_EQ_INT(log_level_parse(""), -1);
    TH_EQ_INT(log_level_parse(NULL), -1);
}

static void t_real_clock(void)
{
    /* With the wall clock: today's UTC date names the file and the
    ** timestamp is near now (either side of a midnight is accepted). */
    char dir[WIN_PATH_MAX * 3], p1[WIN_PATH_MAX * 3], p2[WIN_PATH_MAX * 3], *text;
    int64_t before, after, stamp;
    path_in(dir, sizeof dir, "real");
    log_set_clock(NULL);
    before = win_unix_ms();
    TH_EQ_INT(log_open(dir, 14, 0), 0);
    log_info("real clock");
    log_close();
    after = win_unix_ms();
    log_path(p1, sizeof p1, dir, before);
    log_path(p2, sizeof p2, dir, after);
    text = slurp(p1);
    if (!text[0]) { free(text); text = slurp(p2); }
    TH_CHECK(line_shape_ok(text, "INFO"));
    TH_CHECK(strstr(text, " INFO real clock\r\n") != NULL);
    text[24] = 0;
    TH_EQ_INT(win_parse_rfc3339(text, &stamp), 0);
    TH_CHECK(stamp >= before - 1 && stamp <= after + 1);
    free(text);
}

static void t_truncation(void)
{
    char dir[WIN_PATH_MAX * 3], path[WIN_PATH_MAX * 3], *text, *big;
    wchar_t w[4096];
    size_t n;
    path_in(dir, sizeof dir, "trunc");
    fake_now = T0;
    log_set_clock(fake_clock);
    TH_EQ_INT(log_open(dir, 14, 0), 0);
    big = malloc(10001);
    memset(big, 'x', 10000);
    big[10000] = 0;
    log_info("%s", big);
    /* 2-byte characters: the cut must not split one. */
    for (n = 0; n + 1 < 10000; n += 2) { big[n] = '\xc3'; big[n + 1] = '\xa9'; }
    big[n] = 0;
    log_info("%s", big);                  /* a cut at 2035 would split a character */
    log_info("short");
    log_close();
    free(big);

    log_path(path, sizeof path, dir, T0);
    text = slurp(path);
    TH_EQ_INT(count_lines(text), 3);
    {
        char *l1 = text, *l2 = strstr(l1, "\r\n") + 2, *l3 = strstr(l2, "\r\n") + 2;
        size_t len1 = (size_t)(l2 - l1), len2 = (size_t)(l3 - l2);
        TH_CHECK(len1 < 2200 && len1 > 2000);
        TH_CHECK(strncmp(l2 - 14, " [truncated]\r\n", 14) == 0);
        TH_CHECK(len2 < 2200 && len2 > 2000);
        TH_CHECK(strncmp(l3 - 14, " [truncated]\r\n", 14) == 0);
        /* Line 2 is still valid UTF-8. */
        TH_CHECK(MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, l2, (int)len2, w, 4096) > 0);
        TH_EQ_STR(l3, "2026-11-27T03:04:05.123Z INFO short\r\n");
    }
    free(text);
}

static void t_retention(void)
{
    static const int keep_ages[] = { 13, 1, 0, -1 };       /* -1: dated tomorrow */
    static const int old_ages[] = { 14, 20, 400 };
    static const char *const others[] = {
        "agent.log", "notes.txt", "agent.2026-13-01.log", "agent.20x6-01-01.log",
        "agent.2026-1-01.log", "agent.2026-01-01.log.bak", "xagent.2020-01-01.log",
        "agent.2020-01-01.txt",
    };
    char dir[WIN_PATH_MAX * 3], p[WIN_PATH_MAX * 3];
    int64_t today = T0;
    size_t i;
    path_in(dir, sizeof dir, "retention");
    TH_EQ_INT(win_mkdirs(dir), 0);
    for (i = 0; i < 4; i++) { log_path(p, sizeof p, dir, today - keep_ages[i] * DAY_MS); touch(p); }
    for (i = 0; i < 3; i++) { log_path(p, sizeof p, dir, today - old_ages[i] * DAY_MS); touch(p); }
    for (i = 0; i < sizeof others / sizeof others[0]; i++) {
        snprintf(p, sizeof p, "%s\\%s", dir, others[i]);
        touch(p);
    }
    /* An old-dated name that is a folder is not touched either. */
    log_path(p, sizeof p, dir, today - 30 * DAY_MS);
    TH_EQ_INT(win_mkdirs(p), 0);
    /* Upper-case name, as Windows matches names without case. */
    snprintf(p, sizeof p, "%s\\AGENT.2020-02-02.LOG", dir);
    touch(p);

    fake_now = today;
    log_set_clock(fake_clock);
    /* keep_days 0: nothing is deleted. */
    TH_EQ_INT(log_open(dir, 0, 0), 0);
    log_close();
    for (i = 0; i < 3; i++) {
        log_path(p, sizeof p, dir, today - old_ages[i] * DAY_MS);
        TH_CHECK(win_exists(p));
    }
    TH_EQ_INT(log_open(dir, 14, 0), 0);
    log_info("after retention");
    log_close();
    for (i = 0; i < 4; i++) {
        log_path(p, sizeof p, dir, today - keep_ages[i] * DAY_MS);
        if (!win_exists(p)) fprintf(stderr, "  deleted %s\n", p);
        TH_CHECK(win_exists(p));
    }
    for (i = 0; i < 3; i++) {
        log_path(p, sizeof p, dir, today - old_ages[i] * DAY_MS);
        if (win_exists(p)) fprintf(stderr, "  kept %s\n", p);
        TH_CHECK(!win_exists(p));
    }
    for (i = 0; i < sizeof others / sizeof others[0]; i++) {
        snprintf(p, sizeof p, "%s\\%s", dir, others[i]);
        TH_CHECK(win_exists(p));
    }
    log_path(p, sizeof p, dir, today - 30 * DAY_MS);
    TH_CHECK(win_exists(p));
    snprintf(p, sizeof p, "%s\\AGENT.2020-02-02.LOG", dir);
    TH_CHECK(!win_exists(p));
    /* Today's file got the line after the old ones. */
    {
        char *text;
        log_path(p, sizeof p, dir, today);
        text = slurp(p);
        TH_EQ_STR(text, "old\r\n2026-11-27T03:04:05.123Z INFO after retention\r\n");
        free(text);
    }
}

static void t_rotation(void)
{
    char dir[WIN_PATH_MAX * 3], p1[WIN_PATH_MAX * 3], p2[WIN_PATH_MAX * 3], old[WIN_PATH_MAX * 3];
    char *text;
    int64_t midnight = (T0 / DAY_MS + 1) * DAY_MS;   /* 2026-11-28T00:00:00Z */
    path_in(dir, sizeof dir, "rotation");
    TH_EQ_INT(win_mkdirs(dir), 0);
    /* 13 days old on the 27th, 14 days old on the 28th. */
    log_path(old, sizeof old, dir, midnight - 14 * DAY_MS);
    touch(old);
    fake_now = midnight - 100;
    log_set_clock(fake_clock);
    TH_EQ_INT(log_open(dir, 14, 0), 0);
    TH_CHECK(win_exists(old));
    log_info("last of the 27th");
    fake_now = midnight + 100;
    log_info("first of the 28th");
    TH_CHECK(!win_exists(old));           /* pruned at the rotation */
    fake_now = midnight + 200;
    log_warn("second of the 28th");
    log_close();

    log_path(p1, sizeof p1, dir, midnight - 100);
    log_path(p2, sizeof p2, dir, midnight + 100);
    TH_CHECK(strstr(p1, "agent.2026-11-27.log") != NULL);
    TH_CHECK(strstr(p2, "agent.2026-11-28.log") != NULL);
    text = slurp(p1);
    TH_EQ_STR(text, "2026-11-27T23:59:59.900Z INFO last of the 27th\r\n");
    free(text);
    text = slurp(p2);
    TH_EQ_STR(text, "2026-11-28T00:00:00.100Z INFO first of the 28th\r\n"
                    "2026-11-28T00:00:00.200Z WARN second of the 28th\r\n");
    free(text);
}

static void t_bad_folder(void)
{
    char blocker[WIN_PATH_MAX * 3], dir[WIN_PATH_MAX * 3], p[WIN_PATH_MAX * 3];
    wchar_t wp[WIN_PATH_MAX];
    char *text;

    /* Before any log_open, and with no folder at all: harmless. */
    log_close();
    log_info("nobody listens %d", 1);
    TH_EQ_INT(log_open(NULL, 14, 0), 0);
    log_error("console only, echo off");
    TH_EQ_INT(log_open("", 14, 0), 0);    /* empty: console only as well */
    log_error("console only, echo off");
    log_close();

    /* A plain file where a folder must go: the folder cannot be created. */
    path_in(blocker, sizeof blocker, "blocker");
    touch(blocker);
    snprintf(dir, sizeof dir, "%s\\logs", blocker);
    win_err_set("");
    TH_EQ_INT(log_open(dir, 14, 0), 1);
    TH_CHECK(strstr(win_last_error(), "CreateDirectoryW") != NULL);
    log_info("dropped");
    log_event(LOG_ERROR, "dropped too, and reported to the event log");
    log_close();

    /* The folder exists but today's file cannot be opened (a folder has
    ** its name): log_open fails, lines are dropped, and once the obstacle
    ** is gone the file is opened again (retried after a second). */
    path_in(dir, sizeof dir, "blocked");
    fake_now = T0;
    log_set_clock(fake_clock);
    log_path(p, sizeof p, dir, T0);
    TH_EQ_INT(win_mkdirs(p), 0);
    TH_EQ_INT(log_open(dir, 14, 0), 1);
    TH_CHECK(strstr(win_last_error(), "CreateFileW") != NULL);
    log_info("lost");
    TH_EQ_INT(win_to_wide(p, wp, WIN_PATH_MAX), 0);
    TH_CHECK(RemoveDirectoryW(wp));
    Sleep(1500);
    log_info("back");
    log_close();
    text = slurp(p);
    TH_EQ_STR(text, "2026-11-27T03:04:05.123Z INFO back\r\n");
    free(text);
}

static void t_keeps_last_error(void)
{
    char dir[WIN_PATH_MAX * 3];
    path_in(dir, sizeof dir, "lasterror");
    TH_EQ_INT(log_open(dir, 14, 0), 0);
    SetLastError(1234);
    log_info("does not disturb GetLastError");
    log_event(LOG_WARN, "nor does an event");
    TH_EQ_INT(GetLastError(), 1234);
    log_close();
}

static void t_echo(void)
{
    /* stderr redirected to a file: the echo writes the same line there. */
    char path[WIN_PATH_MAX * 3], dir[WIN_PATH_MAX * 3], *text;
    wchar_t wp[WIN_PATH_MAX];
    HANDLE f, saved = GetStdHandle(STD_ERROR_HANDLE);
    path_in(path, sizeof path, "stderr.txt");
    path_in(dir, sizeof dir, "echo");
    TH_EQ_INT(win_to_wide(path, wp, WIN_PATH_MAX), 0);
    f = CreateFileW(wp, GENERIC_WRITE, FILE_SHARE_READ, NULL, CREATE_ALWAYS, 0, NULL);
    TH_CHECK(f != INVALID_HANDLE_VALUE);
    SetStdHandle(STD_ERROR_HANDLE, f);
    fake_now = T0;
    log_set_clock(fake_clock);
    TH_EQ_INT(log_open(NULL, 14, 1), 0);
    log_info("to the console");
    log_debug("filtered");
    TH_EQ_INT(log_open(dir, 14, 1), 0);
    log_warn("to both");
    TH_EQ_INT(log_open(dir, 14, 0), 0);
    log_warn("file only");
    log_close();
    SetStdHandle(STD_ERROR_HANDLE, saved);
    CloseHandle(f);
    text = slurp(path);
    TH_EQ_STR(text, "2026-11-27T03:04:05.123Z INFO to the console\r\n"
                    "2026-11-27T03:04:05.123Z WARN to both\r\n");
    free(text);
    log_path(path, sizeof path, dir, T0);
    text = slurp(path);
    TH_EQ_STR(text, "2026-11-27T03:04:05.123Z WARN to both\r\n"
                    "2026-11-27T03:04:05.123Z WARN file only\r\n");
    free(text);
}

#define NTHREADS 6
#define NLINES   400

static DWORD WINAPI writer(LPVOID arg)
{
    int id = (int)(INT_PTR)arg, i;
    char pad[301];
    memset(pad, 'a' + id, 300);
    pad[300] = 0;
    for (i = 0; i < NLINES; i++) {
        log_info("thread=%d seq=%04d %s end", id, i, pad);
        if (i % 50 == 0) fake_now += 1;   /* racy on purpose: any value is a valid time */
    }
    return 0;
}

static void t_threads(void)
{
    char dir[WIN_PATH_MAX * 3], path[WIN_PATH_MAX * 3], *text, *line;
    HANDLE th[NTHREADS];
    static unsigned char seen[NTHREADS][NLINES];
    int i, bad = 0, total = 0;
    path_in(dir, sizeof dir, "threads");
    fake_now = T0;
    log_set_clock(fake_clock);
    TH_EQ_INT(log_open(dir, 14, 0), 0);
    for (i = 0; i < NTHREADS; i++) {
        th[i] = CreateThread(NULL, 0, writer, (LPVOID)(INT_PTR)i, 0, NULL);
        TH_CHECK(th[i] != NULL);
    }
    WaitForMultipleObjects(NTHREADS, th, TRUE, INFINITE);
    for (i = 0; i < NTHREADS; i++) CloseHandle(th[i]);
    log_close();

    log_path(path, sizeof path, dir, T0);
    text = slurp(path);
    memset(seen, 0, sizeof seen);
    for (line = text; *line; ) {
        char *end = strstr(line, "\r\n");
        int id = -1, seq = -1, k, n = 0;
        if (!end) { bad++; break; }
        *end = 0;
        if (!line_shape_ok(line, "INFO")
            || sscanf(line + 30, "thread=%d seq=%d %n", &id, &seq, &n) != 2
            || id < 0 || id >= NTHREADS || seq < 0 || seq >= NLINES
            || strlen(line + 30 + n) != 304 || strcmp(line + 30 + n + 300, " end") != 0) {
            bad++;
        } else {
            for (k = 0; k < 300; k++) if (line[30 + n + k] != 'a' + id) { bad++; break; }
            seen[id][seq]++;
        }
        total++;
        line = end + 2;
    }
    free(text);
    TH_EQ_INT(bad, 0);
    TH_EQ_INT(total, NTHREADS * NLINES);
    {
        int missing = 0, dup = 0, j;
        for (i = 0; i < NTHREADS; i++)
            for (j = 0; j < NLINES; j++) { missing += seen[i][j] == 0; dup += seen[i][j] > 1; }
        TH_EQ_INT(missing, 0);
        TH_EQ_INT(dup, 0);
    }
}

static int main_(void)
{
    wchar_t tmp[MAX_PATH];
    char t8[WIN_PATH_MAX * 3];
    DWORD n = GetTempPathW(MAX_PATH, tmp);
    if (n == 0 || n >= MAX_PATH || win_to_utf8(tmp, t8, sizeof t8)) {
        fprintf(stderr, "no temp folder\n");
        return 1;
    }
    /* A non-ASCII folder name checks the UTF-8 <-> UTF-16 paths too. */
    snprintf(root, sizeof root, "%skanade-w_log-\xc3\xbc-%lu", t8, (unsigned long)GetCurrentProcessId());
    TH_RUN(t_format_and_levels);
    TH_RUN(t_real_clock);
    TH_RUN(t_truncation);
    TH_RUN(t_retention);
    TH_RUN(t_rotation);
    TH_RUN(t_bad_folder);
    TH_RUN(t_keeps_last_error);
    TH_RUN(t_echo);
    TH_RUN(t_threads);
    log_set_clock(NULL);
    {
        static const char *const subs[] = { "fmt", "real", "trunc", "retention", "rotation",
                                            "blocked", "lasterror", "echo", "threads" };
        char p[WIN_PATH_MAX * 3];
        size_t i;
        for (i = 0; i < sizeof subs / sizeof subs[0]; i++) {
            path_in(p, sizeof p, subs[i]);
            remove_tree(p);
        }
        remove_tree(root);
    }
    return th_summary("w_log");
}

TH_MAIN
