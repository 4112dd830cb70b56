/*
** log.h — daily log files agent.YYYY-MM-DD.log, ISO-8601 UTC timestamps,
** retention by keep_days, optional console echo, and the Windows Event Log
** (source KanadeAgent) for critical events. A write failure never stops
** the caller. One process-wide logger; thread-safe.
*/
#ifndef LOG_H
#define LOG_H
#include <stdint.h>

#define LOG_ERROR 0
#define LOG_WARN  1
#define LOG_INFO  2
#define LOG_DEBUG 3

/* dir_utf8 may be NULL (console only). Creates the folder; prunes old files. */
int log_open(const char *dir_utf8, int keep_days, int echo_console);
void log_close(void);
void log_set_level(int level);
int log_level_parse(const char *s);          /* "info" -> LOG_INFO; -1 if bad */
void log_msg(int level, const char *fmt, ...);
/* Also reports to the Event Log (source KanadeAgent). */
void log_event(int level, const char *fmt, ...);
/* For tests: replaces the wall clock (unix ms) used for timestamps and
** the daily rotation; NULL restores it. */
void log_set_clock(int64_t (*now_ms)(void));
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#endif
