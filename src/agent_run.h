/*
** agent_run.h — the running agent: config loading, the broker connection,
** heartbeat and agent_status, ping, the config supervisor (watches on
** agent_config and agent_groups), and the hooks of the self-update state
** machine (update.c). agent.c (the exe's entry) calls it for `service`
** (under svc_run) and for `run` (in a console).
*/
#ifndef AGENT_RUN_H
#define AGENT_RUN_H
#include <stddef.h>
#include "conf.h"
#include "scope.h"

/* Exit codes of the agent body (non-zero makes the SCM restart it). */
#define ARUN_EXIT_OK      0
#define ARUN_EXIT_FAIL    1   /* runtime failure (logs, connection setup) */
#define ARUN_EXIT_CONFIG  2   /* bad config: fix it, then start again */
#define ARUN_EXIT_RESTART 3   /* update.c restored an exe: start it again */

typedef struct arun_opts {
    const char *config_path;    /* UTF-8 */
    int under_scm;              /* 1 = `service`, 0 = `run` (console echo) */
} arun_opts;

/*
** Reads and checks agent.conf: the file exists and parses, the id (or the
** computer name, lowercased, when none is set) is valid, the TLS files can
** be read. On success c and pc_id (SCOPE_ID_MAX + 1 bytes) are filled;
** otherwise err gets one line saying what is wrong and where. Returns 0
** or ARUN_EXIT_CONFIG.
*/
int arun_load_config(const char *path, conf *c, char *pc_id, char *err, size_t errcap);

/*
** The agent. `arg` is an arun_opts*. Runs until svc_stop_event() is set
** and returns an ARUN_EXIT_* code; it never waits forever on a bad config.
*/
int arun_body(void *arg);
#endif
