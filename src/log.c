/*
** log.c — the agent's log: daily files agent.YYYY-MM-DD.log (UTC date),
** one line per event, optional console echo, the Windows Event Log for
** critical events. See log.h.
**
** The log must never be the reason the agent stops: every failure here
** (disk full, folder deleted, no console, no event source) drops the line
** and carries on, and GetLastError() is left as the caller had it.
**
** Each line is formatted whole and written with one WriteFile on a handle
** opened with FILE_APPEND_DATA, under one process-wide critical section:
** lines from several threads never interleave, and lines from another
** process appending to the same file (the swap helper) land whole too.
** WriteFile has no user-space buffer, so a killed agent loses no line
** that was logged before it died.
*/
#include <windows.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "log.h"
#include "win.h"

#define LOG_MSG_MAX   2048                /* bytes of message text per line */
#define LOG_LINE_MAX  (LOG_MSG_MAX + 64)  /* timestamp, level, end of line */
#define LOG_DAY_MS    86400000LL
#define LOG_RETRY_MS  1000                /* pause between attempts to reopen a file */
#define LOG_TRUNC     " [truncated]"
#define LOG_EVENT_ID  1

static INIT_ONCE log_once = INIT_ONCE_STATIC_INIT;
static CRITICAL_SECTION log_cs;
static volatile LONG log_level_v = LOG_INFO;

/* Everything below is guarded by log_cs. */
static struct {
    int echo;                       /* copy lines to stderr */
    int keep_days;                  /* <= 0: never delete */
    int have_dir;                   /* file logging is on */
    wchar_t dir[WIN_PATH_MAX];      /* the folder, without a trailing slash */
    HANDLE file;                    /* the current day's file, or NULL */
    int64_t day;                    /* UTC day number the file belongs to */
    uint64_t retry_at;              /* tick before which a failed open is not retried */
    HANDLE event_src;               /* RegisterEventSourceW, or NULL */
    int event_tried;
    int64_t (*clock)(void);         /* wall clock in unix ms (tests replace it) */
} L;

static const char *const level_name[4] = { "ERROR", "WARN", "INFO", "DEBUG" };

static BOOL CALLBACK init_cs(PINIT_ONCE once, PVOID param, PVOID *ctx)
{
    (void)once; (void)param; (void)ctx;
    InitializeCriticalSection(&log_cs);
    return TRUE;
}

/* The critical section lives for the whole process, so a thread that
** logs while another calls log_close never touches a deleted one. */
static void lock(void)
{
    InitOnceExecuteOnce(&log_once, init_cs, NULL, NULL);
    EnterCriticalSection(&log_cs);
}

static void unlock(void) { LeaveCriticalSection(&log_cs); }

static int64_t now_ms(void) { return L.clock ? L.clock() : win_unix_ms(); }

static int64_t day_of(int64_t ms)
{
    return ms >= 0 ? ms / LOG_DAY_MS : -((-ms + LOG_DAY_MS - 1) / LOG_DAY_MS);
}

/* "agent.YYYY-MM-DD.log" for a UTC day number, as a wide string. */
static void file_name(int64_t day, wchar_t out[32])
{
    char ts[40];
    char name[32];
    int i;
    win_rfc3339(day * LOG_DAY_MS, ts);
    snprintf(name, sizeof name, "agent.%.10s.log", ts);
    for (i = 0; name[i]; i++) out[i] = (wchar_t)(unsigned char)name[i];
    out[i] = 0;
}

/* dir + '\' + name into out (WIN_PATH_MAX); 0 = fits. */
static int join(const wchar_t *name, wchar_t *out)
{
    size_t d = wcslen(L.dir), n = wcslen(name);
    if (d + 1 + n + 1 > WIN_PATH_MAX) return 1;
    memcpy(out, L.dir, d * sizeof(wchar_t));
    out[d] = L'\\';
    memcpy(out + d + 1, name, (n + 1) * sizeof(wchar_t));
    return 0;
}

/*
** The UTC day number of a file named exactly agent.YYYY-MM-DD.log (case
** aside, as Windows compares names), in *day; 0 if the name is anything
** else, so that other files in the folder are never deleted.
*/
static int name_day(const wchar_t *name, int64_t *day)
{
    char s[32], ts[40];
    int64_t ms;
    int i;
    if (wcslen(name) != 20) return 0;
    for (i = 0; i < 20; i++) {
        if (name[i] > 0x7f) return 0;
        s[i] = (char)name[i];
    }
    s[20] = 0;
    if (_strnicmp(s, "agent.", 6) != 0 || _stricmp(s + 16, ".log") != 0) return 0;
    for (i = 6; i < 16; i++) {
        int dash = i == 10 || i == 13;
        if (dash ? s[i] != '-' : (s[i] < '0' || s[i] > '9')) return 0;
    }
    snprintf(ts, sizeof ts, "%.10sT00:00:00Z", s + 6);
    if (win_parse_rfc3339(ts, &ms) != 0) return 0;    /* e.g. month 13 */
    *day = day_of(ms);
    return 1;
}

/*
** Deletes agent.YYYY-MM-DD.log files dated keep_days or more days before
** `today` (today's file is age 0, so keep_days files remain). Files dated
** in the future are kept. Failures are skipped: the next rotation tries
** again.
*/
static void prune(int64_t today)
{
    WIN32_FIND_DATAW fd;
    wchar_t pattern[WIN_PATH_MAX], path[WIN_PATH_MAX];
    HANDLE h;
    if (L.keep_days <= 0 || join(L"agent.*.log", pattern)) return;
    h = FindFirstFileW(pattern, &fd);
    if (h == INVALID_HANDLE_VALUE) return;
    do {
        int64_t d;
        if (fd.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) continue;
        if (!name_day(fd.cFileName, &d) || today - d < L.keep_days) continue;
        if (join(fd.cFileName, path) == 0) DeleteFileW(path);
    } while (FindNextFileW(h, &fd));
    FindClose(h);
}

/* Closes the current file, if any. */
static void close_file(void)
{
    if (L.file) CloseHandle(L.file);
    L.file = NULL;
}

/*
** Opens (appending, creating) the file of `day`. Returns 0, or 1 with the
** Win32 error recorded by win_err when `record` is set (log_open wants the
** reason; a failing log line must not overwrite the caller's error text).
*/
static int open_day(int64_t day, int record)
{
    wchar_t name[32], path[WIN_PATH_MAX];
    close_file();
    L.day = day;
    file_name(day, name);
    if (join(name, path)) {
        if (record) win_err_set("log folder path is too long");
        return 1;
    }
    L.file = CreateFileW(path, FILE_APPEND_DATA, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                         NULL, OPEN_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL);
    if (L.file == INVALID_HANDLE_VALUE) {
        L.file = NULL;
        L.retry_at = GetTickCount64() + LOG_RETRY_MS;
        if (record) {
            char p8[WIN_PATH_MAX * 3];
            if (win_to_utf8(path, p8, sizeof p8)) p8[0] = 0;
            win_err("CreateFileW", p8);
        }
        return 1;
    }
    return 0;
}

/* Moves to a new file when the UTC date has changed (pruning then), and
** retries a file that could not be opened, at most once a second. */
static void rotate(int64_t now)
{
    int64_t day = day_of(now);
    if (!L.have_dir) return;
    if (day != L.day) {
        open_day(day, 0);
        prune(day);
    } else if (!L.file && GetTickCount64() >= L.retry_at) {
        open_day(day, 0);
    }
}

/*
** See log.h. A NULL or empty dir_utf8 means console only (never the root
** of the current drive). Re-opening is allowed (the previous file is
** closed). Returns
** 0, or 1 when the folder cannot be created or today's file not opened;
** win_last_error() then says why. After a failure log_msg is still safe:
** with an uncreatable folder lines go to the console only (when echo is
** on); with an unopenable file they are dropped and the open is retried.
*/
int log_open(const char *dir_utf8, int keep_days, int echo_console)
{
    DWORD saved = GetLastError();
    size_t n;
    int rc = 0;
    lock();
    close_file();
    L.have_dir = 0;
    L.echo = echo_console;
    L.keep_days = keep_days;
    if (dir_utf8 && dir_utf8[0]) {
        if (win_to_wide(dir_utf8, L.dir, WIN_PATH_MAX - 32) != 0) {
            win_err_set("log folder path is not UTF-8 or too long: %s", dir_utf8);
            rc = 1;
        } else if (win_mkdirs(dir_utf8) != 0) {
            rc = 1;                       /* win_mkdirs recorded why */
        } else {
            for (n = wcslen(L.dir); n > 0 && (L.dir[n - 1] == L'\\' || L.dir[n - 1] == L'/'); n--)
                L.dir[n - 1] = 0;
            L.have_dir = 1;
            rc = open_day(day_of(now_ms()), 1);
            prune(L.day);
        }
    }
    unlock();
    if (rc == 0) SetLastError(saved);
    return rc;
}

/* See log.h. Closes the file and the event source; the console echo and
** the level stay as they were. */
void log_close(void)
{
    lock();
    close_file();
    L.have_dir = 0;
    if (L.event_src) DeregisterEventSource(L.event_src);
    L.event_src = NULL;
    L.event_tried = 0;
    unlock();
}

/* Levels outside LOG_ERROR..LOG_DEBUG (e.g. -1 from a failed
** log_level_parse) are ignored. */
void log_set_level(int level)
{
    if (level >= LOG_ERROR && level <= LOG_DEBUG) InterlockedExchange(&log_level_v, level);
}

/* "error", "warn"/"warning", "info", "debug" in any case; -1 otherwise. */
int log_level_parse(const char *s)
{
    static const char *const names[] = { "error", "warn", "info", "debug" };
    int i;
    if (!s) return -1;
    if (_stricmp(s, "warning") == 0) return LOG_WARN;
    for (i = 0; i < 4; i++)
        if (_stricmp(s, names[i]) == 0) return i;
    return -1;
}

/* For tests: replaces the wall clock (unix ms); NULL restores it. */
void log_set_clock(int64_t (*now)(void))
{
    lock();
    L.clock = now;
    unlock();
}

/*
** Formats the message into out[LOG_MSG_MAX]: control characters become
** spaces (one event, one line; nothing can forge a second line), and an
** overlong message is cut at a UTF-8 character boundary and marked.
*/
static void format_msg(char *out, const char *fmt, va_list ap)
{
    size_t cap = LOG_MSG_MAX, len, i;
    int n;
    out[0] = 0;
    n = vsnprintf(out, cap, fmt ? fmt : "", ap);
    out[cap - 1] = 0;                     /* older CRTs do not terminate on overflow */
    len = strlen(out);
    if (n < 0 && len < cap - 1) {         /* an encoding error, not an overflow */
        snprintf(out, cap, "(unformattable log message: %s)", fmt ? fmt : "");
        len = strlen(out);
    } else if (n < 0 || (size_t)n >= cap) {
        len = cap - sizeof LOG_TRUNC;
        while (len > 0 && ((unsigned char)out[len] & 0xc0) == 0x80) len--;
        memcpy(out + len, LOG_TRUNC, sizeof LOG_TRUNC);
        len += sizeof LOG_TRUNC - 1;
    }
    for (i = 0; i < len; i++)
        if ((unsigned char)out[i] < 0x20 && out[i] != '\t') out[i] = ' ';
}

/* UTF-8 to UTF-16, replacing invalid bytes, for the console and Event Log. */
static void widen(const char *s, wchar_t *out, int cap)
{
    int n = MultiByteToWideChar(CP_UTF8, 0, s, -1, out, cap);
    if (n <= 0) out[0] = 0;
    out[cap - 1] = 0;
}

/* Writes the line to stderr: WriteConsoleW on a console (the code page
** would garble UTF-8), the bytes as they are into a pipe or file. */
static void echo_line(const char *line, size_t len)
{
    HANDLE h = GetStdHandle(STD_ERROR_HANDLE);
    DWORD mode, put;
    if (h == NULL || h == INVALID_HANDLE_VALUE) return;
    if (GetConsoleMode(h, &mode)) {
        wchar_t w[LOG_LINE_MAX];
        widen(line, w, LOG_LINE_MAX);
        WriteConsoleW(h, w, (DWORD)wcslen(w), &put, NULL);
    } else {
        WriteFile(h, line, (DWORD)len, &put, NULL);
    }
}

static void report_event(int level, const char *msg)
{
    wchar_t w[LOG_MSG_MAX];
    LPCWSTR strings[1];
    WORD type = level == LOG_ERROR ? EVENTLOG_ERROR_TYPE
              : level == LOG_WARN ? EVENTLOG_WARNING_TYPE : EVENTLOG_INFORMATION_TYPE;
    if (!L.event_src && !L.event_tried) {
        L.event_tried = 1;
        L.event_src = RegisterEventSourceW(NULL, L"KanadeAgent");
    }
    if (!L.event_src) return;
    widen(msg, w, LOG_MSG_MAX);
    strings[0] = w;
    ReportEventW(L.event_src, type, 0, LOG_EVENT_ID, NULL, 1, 0, strings, NULL);
}

/* The common path of log_msg and log_event. */
static void log_v(int level, int event, const char *fmt, va_list ap)
{
    DWORD saved = GetLastError();
    char msg[LOG_MSG_MAX], line[LOG_LINE_MAX], ts[40];
    int pass;                             /* passes the level filter */
    size_t len;
    if (level < LOG_ERROR) level = LOG_ERROR;
    if (level > LOG_DEBUG) level = LOG_DEBUG;
    pass = level <= InterlockedCompareExchange(&log_level_v, 0, 0);
    if (!pass && !event) return;
    format_msg(msg, fmt, ap);
    lock();
    if (pass) {
        int64_t now = now_ms();
        rotate(now);
        win_rfc3339(now, ts);
        snprintf(line, sizeof line, "%s %s %s\r\n", ts, level_name[level], msg);
        len = strlen(line);
        if (L.file) {
            DWORD put;
            WriteFile(L.file, line, (DWORD)len, &put, NULL);
        }
        if (L.echo) echo_line(line, len);
    }
    if (event) report_event(level, msg);
    unlock();
    SetLastError(saved);
}

void log_msg(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_v(level, 0, fmt, ap);
    va_end(ap);
}

/* See log.h. The Event Log gets the message whatever the level filter
** says: callers use log_event for what an administrator must see. */
void log_event(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_v(level, 1, fmt, ap);
    va_end(ap);
}
