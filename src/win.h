/*
** win.h — the one place for UTF-8 <-> UTF-16 conversion, Win32 error
** recording, clocks, randomness and small file helpers. Everything above
** this layer speaks UTF-8.
*/
#ifndef WIN_H
#define WIN_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <wchar.h>

#define WIN_PATH_MAX 1024          /* wide chars; UTF-8 paths use 3x */

/* 0 = converted; non-zero when the output does not fit or input is invalid. */
int win_to_wide(const char *utf8, wchar_t *out, size_t cap);
int win_to_utf8(const wchar_t *w, char *out, size_t cap);

/*
** Records GetLastError() for the failed call `fn` (and an optional subject,
** e.g. a path) into this thread's last-error slot, as
** "fn(subject): <FormatMessageW text> (code)". Returns the code.
*/
unsigned long win_err(const char *fn, const char *subject);
/* Records a message that does not come from GetLastError. */
void win_err_set(const char *fmt, ...);
const char *win_last_error(void);         /* this thread's last recorded error */

uint64_t win_tick_ms(void);               /* monotonic */
int64_t win_unix_ms(void);                /* wall clock, ms since 1970 UTC */
void win_rfc3339(int64_t unix_ms, char out[40]);  /* "2026-11-27T03:04:05.123Z" */
/* Parses RFC 3339 UTC ("...Z", optional fraction) to unix ms; 0 = ok. */
int win_parse_rfc3339(const char *s, int64_t *unix_ms);
int win_random(void *buf, size_t len);    /* BCryptGenRandom; 0 = ok */
uint32_t win_random_u32(void);

FILE *win_fopen(const char *path_utf8, const char *mode);
int win_exists(const char *path_utf8);
int win_delete(const char *path_utf8);    /* 0 = deleted or absent */
/* Writes data to path atomically: path.tmp, flush, MoveFileExW(REPLACE|WRITE_THROUGH). */
int win_write_atomic(const char *path_utf8, const void *data, size_t len);
/* Reads a whole (small) file into a malloc'd, NUL-terminated buffer. */
int win_read_all(const char *path_utf8, size_t max, char **out, size_t *len);
int win_mkdirs(const char *path_utf8);    /* like mkdir -p; 0 = exists now */
int win_exe_path(char *out, size_t cap);  /* this process's exe, UTF-8 */
/* Version from this exe's own VERSIONINFO (via pe_version.c). */
int win_self_version(char *out, size_t cap);
/* %ProgramData% (CSIDL_COMMON_APPDATA) in UTF-8. */
int win_program_data(char *out, size_t cap);
int win_computer_name(char *out, size_t cap); /* lowercased */
/* Environment variable in UTF-8; 0 = set and fits. */
int win_getenv(const char *name, char *out, size_t cap);
#endif
