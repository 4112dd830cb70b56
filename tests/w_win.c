/* w_win.c — unit tests of win.c under Wine: UTF-8/UTF-16 conversion, RFC
** 3339 round trips, atomic writes, mkdirs, error recording. */
#include <windows.h>
#include <stdlib.h>
#include "th.h"
#include "win.h"

static char dir[600];

static void t_convert(void)
{
    wchar_t w[16];
    char u[32];
    TH_EQ_INT(win_to_wide("h\xc3\xa9llo \xe2\x82\xac", w, 16), 0);
    TH_CHECK(w[1] == 0x00e9 && w[6] == 0x20ac);
    TH_EQ_INT(win_to_utf8(w, u, sizeof u), 0);
    TH_EQ_STR(u, "h\xc3\xa9llo \xe2\x82\xac");
    TH_CHECK(win_to_wide("\xff\xfe bad", w, 16) != 0);          /* invalid UTF-8 */
    TH_CHECK(win_to_wide("0123456789abcdefXYZ", w, 16) != 0);   /* does not fit */
    TH_CHECK(win_to_utf8(L"0123456789", u, 4) != 0);
}

static void t_time(void)
{
    char s[40];
    int64_t ms = 0;
    win_rfc3339(1700000000123LL, s);
    TH_EQ_STR(s, "2023-11-14T22:13:20.123Z");
    TH_EQ_INT(win_parse_rfc3339(s, &ms), 0);
    TH_EQ_INT(ms, 1700000000123LL);
    TH_EQ_INT(win_parse_rfc3339("2023-01-05T10:11:12.123456789Z", &ms), 0);
    TH_EQ_INT(ms, 1672913472123LL);
    TH_EQ_INT(win_parse_rfc3339("2023-01-05T10:11:12Z", &ms), 0);
    TH_EQ_INT(ms, 1672913472000LL);
    TH_CHECK(win_parse_rfc3339("2023-01-05 10:11:12", &ms) != 0);
    TH_CHECK(win_parse_rfc3339("", &ms) != 0);
    TH_CHECK(win_unix_ms() > 1700000000000LL);
}

static void t_files(void)
{
    char p[700], sub[700], *buf = NULL;
    size_t n = 0;
    snprintf(sub, sizeof sub, "%s\\a\\b c\\d", dir);
    TH_EQ_INT(win_mkdirs(sub), 0);
    TH_EQ_INT(win_mkdirs(sub), 0);                      /* exists: fine */
    snprintf(p, sizeof p, "%s\\f\xc3\xa9.json", sub);
    TH_EQ_INT(win_write_atomic(p, "{\"a\":1}", 7), 0);
    TH_EQ_INT(win_write_atomic(p, "{\"a\":22}", 8), 0);  /* replaces */
    TH_EQ_INT(win_read_all(p, 1 << 20, &buf, &n), 0);
    TH_EQ_INT(n, 8);
    TH_EQ_STR(buf, "{\"a\":22}");
    free(buf);
    TH_CHECK(win_read_all(p, 4, &buf, &n) != 0);       /* larger than max */
    TH_CHECK(win_exists(p));
    TH_EQ_INT(win_delete(p), 0);
    TH_CHECK(!win_exists(p));
    TH_EQ_INT(win_delete(p), 0);                        /* absent: fine */
    TH_CHECK(win_read_all(p, 100, &buf, &n) != 0);
    TH_CHECK(strstr(win_last_error(), "cannot open") != NULL);
}

static void t_errors(void)
{
    SetLastError(ERROR_FILE_NOT_FOUND);
    TH_EQ_INT(win_err("CreateFileW", "C:\\x"), ERROR_FILE_NOT_FOUND);
    TH_CHECK(strncmp(win_last_error(), "CreateFileW(C:\\x): ", 19) == 0);
    TH_CHECK(strstr(win_last_error(), "(2)") != NULL);
}

static void t_misc(void)
{
    char name[128], pd[600];
    unsigned char r1[16], r2[16];
    char *q;
    TH_EQ_INT(win_computer_name(name, sizeof name), 0);
    for (q = name; *q; q++) TH_CHECK(!(*q >= 'A' && *q <= 'Z'));
    TH_EQ_INT(win_program_data(pd, sizeof pd), 0);
    TH_CHECK(pd[0] != 0);
    TH_EQ_INT(win_random(r1, sizeof r1), 0);
    TH_EQ_INT(win_random(r2, sizeof r2), 0);
    TH_CHECK(memcmp(r1, r2, sizeof r1) != 0);
}

int wmain(void)
{
    wchar_t tmp[MAX_PATH];
    GetTempPathW(MAX_PATH, tmp);
    win_to_utf8(tmp, dir, sizeof dir);
    snprintf(dir + strlen(dir), sizeof dir - strlen(dir), "w_win-%lu", (unsigned long)GetCurrentProcessId());
    TH_RUN(t_convert);
    TH_RUN(t_time);
    TH_RUN(t_files);
    TH_RUN(t_errors);
    TH_RUN(t_misc);
    return th_summary("w_win");
}
