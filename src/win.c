/*
** win.c — UTF-8/UTF-16 conversion, error recording and small Win32 helpers.
** See win.h. Errors are recorded per thread so concurrent threads (the NATS
** reader, the service control handler) do not overwrite each other's text.
*/
#include <windows.h>
#include <bcrypt.h>
#include <shlobj.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "win.h"
#include "pe_version.h"

#ifdef _MSC_VER
#define WIN_THREAD_LOCAL __declspec(thread)
#else
#define WIN_THREAD_LOCAL _Thread_local
#endif
static WIN_THREAD_LOCAL char last_err[512];

int win_to_wide(const char *utf8, wchar_t *out, size_t cap)
{
    int n;
    if (!utf8 || !out || cap == 0 || cap > 0x7fffffff) return 1;
    n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, utf8, -1, out, (int)cap);
    if (n <= 0) { out[0] = 0; return 1; }
    return 0;
}

int win_to_utf8(const wchar_t *w, char *out, size_t cap)
{
    int n;
    if (!w || !out || cap == 0 || cap > 0x7fffffff) return 1;
    n = WideCharToMultiByte(CP_UTF8, 0, w, -1, out, (int)cap, NULL, NULL);
    if (n <= 0) { out[0] = 0; return 1; }
    return 0;
}

unsigned long win_err(const char *fn, const char *subject)
{
    DWORD code = GetLastError();
    wchar_t wmsg[256];
    char msg[384];
    DWORD n = FormatMessageW(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS,
                             NULL, code, 0, wmsg, 256, NULL);
    if (n == 0 || win_to_utf8(wmsg, msg, sizeof msg) != 0)
        snprintf(msg, sizeof msg, "error");
    /* FormatMessage ends its text with ".\r\n": trim it for one-line logs. */
    for (n = (DWORD)strlen(msg); n > 0 && (msg[n-1] == '\n' || msg[n-1] == '\r'
         || msg[n-1] == '.' || msg[n-1] == ' '); n--) msg[n-1] = 0;
    if (subject && *subject)
        snprintf(last_err, sizeof last_err, "%s(%s): %s (%lu)", fn, subject, msg, (unsigned long)code);
    else
        snprintf(last_err, sizeof last_err, "%s: %s (%lu)", fn, msg, (unsigned long)code);
    SetLastError(code);
    return code;
}

void win_err_set(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_err, sizeof last_err, fmt, ap);
    va_end(ap);
}

const char *win_last_error(void) { return last_err; }

uint64_t win_tick_ms(void) { return GetTickCount64(); }

int64_t win_unix_ms(void)
{
    FILETIME ft;
    ULARGE_INTEGER u;
    GetSystemTimeAsFileTime(&ft);
    u.LowPart = ft.dwLowDateTime;
    u.HighPart = ft.dwHighDateTime;
    /* FILETIME counts 100 ns since 1601; 11644473600 s separate the epochs. */
    return (int64_t)(u.QuadPart / 10000ULL) - 11644473600000LL;
}

void win_rfc3339(int64_t unix_ms, char out[40])
{
    ULARGE_INTEGER u;
    FILETIME ft;
    SYSTEMTIME st;
    u.QuadPart = (ULONGLONG)(unix_ms + 11644473600000LL) * 10000ULL;
    ft.dwLowDateTime = u.LowPart;
    ft.dwHighDateTime = u.HighPart;
    if (!FileTimeToSystemTime(&ft, &st)) { snprintf(out, 40, "1970-01-01T00:00:00Z"); return; }
    snprintf(out, 40, "%04u-%02u-%02uT%02u:%02u:%02u.%03uZ", st.wYear, st.wMonth, st.wDay,
             st.wHour, st.wMinute, st.wSecond, st.wMilliseconds);
}

int win_parse_rfc3339(const char *s, int64_t *unix_ms)
{
    SYSTEMTIME st;
    FILETIME ft;
    ULARGE_INTEGER u;
    unsigned y, mo, d, h, mi, se;
    int ms = 0, n = 0;
    const char *p;
    if (!s || sscanf(s, "%4u-%2u-%2uT%2u:%2u:%2u%n", &y, &mo, &d, &h, &mi, &se, &n) != 6)
        return 1;
    p = s + n;
    if (*p == '.') {
        int digits = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, digits++)
            if (digits < 3) ms = ms * 10 + (*p - '0');
        while (digits > 0 && digits < 3) { ms *= 10; digits++; }
    }
    if (*p != 'Z' && *p != 'z' && strcmp(p, "+00:00") != 0) return 1;
    memset(&st, 0, sizeof st);
    st.wYear = (WORD)y; st.wMonth = (WORD)mo; st.wDay = (WORD)d;
    st.wHour = (WORD)h; st.wMinute = (WORD)mi; st.wSecond = (WORD)se;
    st.wMilliseconds = (WORD)ms;
    if (!SystemTimeToFileTime(&st, &ft)) return 1;
    u.LowPart = ft.dwLowDateTime;
    u.HighPart = ft.dwHighDateTime;
    *unix_ms = (int64_t)(u.QuadPart / 10000ULL) - 11644473600000LL;
    return 0;
}

int win_random(void *buf, size_t len)
{
    if (len > 0xffffffffu) return 1;
    if (!BCRYPT_SUCCESS(BCryptGenRandom(NULL, (PUCHAR)buf, (ULONG)len,
                                        BCRYPT_USE_SYSTEM_PREFERRED_RNG))) {
        win_err_set("BCryptGenRandom failed");
        return 1;
    }
    return 0;
}

uint32_t win_random_u32(void)
{
    uint32_t v = 0;
    if (win_random(&v, sizeof v) != 0)
        v = (uint32_t)(GetTickCount64() * 2654435761u) ^ GetCurrentProcessId();
    return v;
}

FILE *win_fopen(const char *path_utf8, const char *mode)
{
    wchar_t wp[WIN_PATH_MAX], wm[16];
    FILE *f;
    if (win_to_wide(path_utf8, wp, WIN_PATH_MAX) || win_to_wide(mode, wm, 16)) {
        win_err_set("path is not valid UTF-8 or too long: %s", path_utf8);
        return NULL;
    }
    f = _wfopen(wp, wm);
    if (!f) win_err_set("cannot open %s: %s", path_utf8, strerror(errno));
    return f;
}

int win_exists(const char *path_utf8)
{
    wchar_t wp[WIN_PATH_MAX];
    if (win_to_wide(path_utf8, wp, WIN_PATH_MAX)) return 0;
    return GetFileAttributesW(wp) != INVALID_FILE_ATTRIBUTES;
}

int win_delete(const char *path_utf8)
{
    wchar_t wp[WIN_PATH_MAX];
    if (win_to_wide(path_utf8, wp, WIN_PATH_MAX)) return 1;
    if (DeleteFileW(wp)) return 0;
    if (GetLastError() == ERROR_FILE_NOT_FOUND || GetLastError() == ERROR_PATH_NOT_FOUND) return 0;
    win_err("DeleteFileW", path_utf8);
    return 1;
}

int win_write_atomic(const char *path_utf8, const void *data, size_t len)
{
    wchar_t wp[WIN_PATH_MAX], wt[WIN_PATH_MAX + 8];
    HANDLE h;
    DWORD put = 0;
    if (len > 0xffffffffu || win_to_wide(path_utf8, wp, WIN_PATH_MAX)) return 1;
    _snwprintf(wt, WIN_PATH_MAX + 8, L"%ls.tmp", wp);
    wt[WIN_PATH_MAX + 7] = 0;
    h = CreateFileW(wt, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL);
    if (h == INVALID_HANDLE_VALUE) { win_err("CreateFileW", path_utf8); return 1; }
    if (!WriteFile(h, data, (DWORD)len, &put, NULL) || put != len) {
        win_err("WriteFile", path_utf8);
        CloseHandle(h);
        DeleteFileW(wt);
        return 1;
    }
    /* Flush before the rename, so a power cut leaves the old file or the
    ** whole new one, never a renamed empty file. */
    if (!FlushFileBuffers(h)) win_err("FlushFileBuffers", path_utf8);
    CloseHandle(h);
    if (!MoveFileExW(wt, wp, MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH)) {
        win_err("MoveFileExW", path_utf8);
        DeleteFileW(wt);
        return 1;
    }
    return 0;
}

int win_read_all(const char *path_utf8, size_t max, char **out, size_t *len)
{
    FILE *f = win_fopen(path_utf8, "rb");
    char *buf = NULL;
    size_t n = 0, cap = 0;
    int rc = 1;
    *out = NULL;
    if (len) *len = 0;
    if (!f) return 1;
    /* Read up to max + 1 bytes: the extra byte tells "too large" apart. */
    for (;;) {
        size_t got;
        if (n == cap) {
            char *nb;
            if (cap > max) { win_err_set("%s: larger than %zu bytes", path_utf8, max); goto done; }
            cap = cap == 0 ? 4096 : cap * 2;
            if (cap > max + 1) cap = max + 1;
            nb = realloc(buf, cap + 1);
            if (!nb) { win_err_set("%s: out of memory", path_utf8); goto done; }
            buf = nb;
        }
        got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f)) { win_err_set("read %s failed", path_utf8); goto done; }
            break;
        }
    }
    if (n > max) { win_err_set("%s: larger than %zu bytes", path_utf8, max); goto done; }
    buf[n] = 0;
    *out = buf;
    buf = NULL;
    if (len) *len = n;
    rc = 0;
done:
    free(buf);
    fclose(f);
    return rc;
}

int win_mkdirs(const char *path_utf8)
{
    wchar_t wp[WIN_PATH_MAX];
    size_t i, n;
    if (win_to_wide(path_utf8, wp, WIN_PATH_MAX)) return 1;
    n = wcslen(wp);
    for (i = 1; i <= n; i++) {
        if (wp[i] == L'\\' || wp[i] == L'/' || wp[i] == 0) {
            wchar_t save = wp[i];
            if (i == 2 && wp[1] == L':') continue;   /* "C:" */
            wp[i] = 0;
            if (!CreateDirectoryW(wp, NULL) && GetLastError() != ERROR_ALREADY_EXISTS) {
                win_err("CreateDirectoryW", path_utf8);
                return 1;
            }
            wp[i] = save;
        }
    }
    return 0;
}

int win_exe_path(char *out, size_t cap)
{
    wchar_t wp[WIN_PATH_MAX];
    DWORD n = GetModuleFileNameW(NULL, wp, WIN_PATH_MAX);
    if (n == 0 || n >= WIN_PATH_MAX) { win_err("GetModuleFileNameW", NULL); return 1; }
    return win_to_utf8(wp, out, cap);
}

int win_self_version(char *out, size_t cap)
{
    char path[WIN_PATH_MAX * 3];
    FILE *f;
    int rc;
    if (win_exe_path(path, sizeof path)) return 1;
    f = win_fopen(path, "rb");
    if (!f) return 1;
    rc = pe_version_file(f, out, cap);
    fclose(f);
    if (rc != PEV_OK) win_err_set("%s: %s", path, pe_version_strerror(rc));
    return rc;
}

int win_program_data(char *out, size_t cap)
{
    wchar_t wp[MAX_PATH];
    if (SHGetFolderPathW(NULL, CSIDL_COMMON_APPDATA, NULL, 0, wp) != S_OK) {
        DWORD n = GetEnvironmentVariableW(L"ProgramData", wp, MAX_PATH);
        if (n == 0 || n >= MAX_PATH) { win_err("SHGetFolderPathW", NULL); return 1; }
    }
    return win_to_utf8(wp, out, cap);
}

int win_computer_name(char *out, size_t cap)
{
    wchar_t w[MAX_COMPUTERNAME_LENGTH + 1];
    DWORD n = MAX_COMPUTERNAME_LENGTH + 1;
    char *p;
    if (!GetComputerNameW(w, &n)) { win_err("GetComputerNameW", NULL); return 1; }
    if (win_to_utf8(w, out, cap)) return 1;
    for (p = out; *p; p++)
        if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
    return 0;
}

int win_getenv(const char *name, char *out, size_t cap)
{
    wchar_t wn[128], wv[4096];
    DWORD n;
    if (win_to_wide(name, wn, 128)) return 1;
    n = GetEnvironmentVariableW(wn, wv, 4096);
    if (n == 0 || n >= 4096) return 1;
    return win_to_utf8(wv, out, cap);
}
