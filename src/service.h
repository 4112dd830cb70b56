/*
** service.h — Service Control Manager helpers: install/uninstall the
** KanadeAgent service, start/stop it with bounded waits, and the service
** skeleton that runs the agent under the SCM.
*/
#ifndef SERVICE_H
#define SERVICE_H
#include <stddef.h>

#define SVC_NAME "KanadeAgent"

/* Status codes of svc_* (0 = success); details in win_last_error(). */
#define SVC_OK                0
#define SVC_ERR_OS            1   /* a Win32 call failed */
#define SVC_ERR_TIMEOUT       2   /* a bounded wait ran out */
#define SVC_ERR_NOT_INSTALLED 3   /* the service does not exist */
#define SVC_ERR_ARG           4   /* a path cannot be put in the binPath */

typedef struct svc_install_opts {
    const char *exe_path;       /* UTF-8, quoted into binPath */
    const char *config_path;    /* binPath: "<exe>" service --config "<config>" */
} svc_install_opts;

/* Creates or updates the service: auto start, description, failure actions
** restart/5s, restart/15s, restart/60s, reset 1 day, failure-actions flag. */
int svc_install(const svc_install_opts *o);
/* Stops (bounded) and deletes the service. 0 also when it did not exist. */
int svc_uninstall(void);

/*
** Starts the service and waits (bounded) until it reports RUNNING. Retries
** StartService for a few seconds while the SCM is still coming up (a fresh
** Wine prefix refuses it for ~3 s). 0 = running.
*/
int svc_start(int timeout_ms);
/*
** Asks the SCM to stop the service, then waits on the service's process
** handle (pid from QueryServiceStatusEx), not on the SCM state alone (Wine
** may show a dead service as RUNNING). Past timeout_ms the process is
** terminated. 0 = the process is gone.
*/
int svc_stop(int timeout_ms);
/* Process id of the running service, 0 when stopped. 0 = queried. */
int svc_pid(unsigned long *pid);
/* The exe the service's binPath names, UTF-8. 0 = found. */
int svc_exe_path(char *out, size_t cap);

/* Runs body() under StartServiceCtrlDispatcherW: START_PENDING with
** checkpoints, RUNNING, STOP acknowledged at once. body polls
** svc_stop_event(), a Win32 event HANDLE, to learn of a stop request.
** Returns the exit code reported to the SCM. */
int svc_run(int (*body)(void *arg), void *arg);
/* Manual-reset stop event, created on first use; also usable outside the
** SCM (console mode sets it from its Ctrl+C handler). */
void *svc_stop_event(void);
/* Called by body while starting: one more START_PENDING checkpoint, then
** RUNNING once it is up. Both are no-ops outside svc_run. */
void svc_checkpoint(void);
void svc_report_running(void);
#endif
