/*
** agent_run.c — the running agent (see agent_run.h).
**
** Threads
**   Everything below runs on ONE agent thread: the ServiceMain thread under
**   the SCM, the main thread in a console. It sleeps in
**   WaitForMultipleObjects on the stop event, the connection-event event
**   (set by the NATS reader thread from on_event, which must not block),
**   the ping subscription's event and the config-notification event, with a
**   timeout that is the next heartbeat, the next config read or the next
**   update step (upd_next_due_ms). An idle agent therefore wakes for its
**   heartbeat and its periodic config read, nothing else.
**   update.c runs a download on its own worker thread and upd_tick() never
**   blocks, so a stop is seen at once and upd_shutdown() (which cancels
**   the download, bounded) runs here too.
**
** Start-up order
**   config (bad config: one line in the log, on the console for `run`, in
**   the Event Log, and exit ARUN_EXIT_CONFIG), logs, upd_init (it may
**   restore .old and ask for a restart), then the broker with
**   retry_initial: the agent may start before the broker (the original
**   system failed there) and keeps retrying forever.
**
** Once connected
**   heartbeat at once; subscribe agents.<pc_id>.ping; read the config with
**   direct gets and subscribe to its change notifications (agent_sync.c:
**   no JetStream consumer, so a least-privilege credential suffices and the
**   broker keeps no state per agent). The full read runs on every
**   (re)connect and every RESYNC_MS; while JetStream or a bucket is not
**   there it is retried with backoff 1 s doubling to 60 s, ±25 % (the agent
**   never creates a bucket, `kanade broker init` does). The reads feed
**   agent_cfg.c's table, whose per-key revision marks drop any revision
**   already passed (the reconnect-replay guard). After the first full read,
**   and after every later change, the effective config is resolved and
**   handed to upd_on_target().
*/
#include <windows.h>
#include <psapi.h>
#include <stdlib.h>
#include <string.h>
#include "agent_run.h"
#include "agent_cfg.h"
#include "agent_sync.h"
#include "broker_conf.h"
#include "agent_trust.h"
#include "conf.h"
#include "fsec.h"
#include "json.h"
#include "kv.h"
#include "log.h"
#include "nats.h"
#include "agent_ro.h"
#include "rollout_kv.h"
#include "scope.h"
#include "service.h"
#include "sha256.h"
#include "update.h"
#include "url.h"
#include "win.h"

#define CONF_FILE_MAX   (64 * 1024)   /* agent.conf larger than this is not a config */
#define DOC_MAX         4096          /* heartbeat/status document */
#define BACKOFF_MIN_MS  1000          /* config read retries: 1 s doubling ... */
#define BACKOFF_MAX_MS  60000         /* ... to 60 s, ±25 % jitter (docs/design.md, Update state machine) */
/* A full config read this often (±25 %) catches a change notification
** lost while connected (one lost while disconnected is caught by the read
** on reconnect). */
#define RESYNC_MS       (5 * 60 * 1000)
#define HB_MIN_MS       1000
#define HB_MAX_MS       (24 * 3600 * 1000)
#define STATS_EVERY_MS  60000         /* debug line with CPU time and private bytes */

/* Connection events from the reader thread, as bits in a LONG. */
#define EVBIT(ev) (1L << (ev))

/* Everything the agent thread knows. One instance, allocated by new_agent. */
typedef struct agent {
    int under_scm;
    const char *config_path;
    conf cfg;
    char pc_id[SCOPE_ID_MAX + 1];
    char version[SCOPE_VERSION_MAX + 1];
    char hostname[256];
    char exe_path[WIN_PATH_MAX * 3];
    char exe_digest[SHA256_DIGEST_STR_LEN];
    char data_dir[WIN_PATH_MAX * 3];
    char log_dir[WIN_PATH_MAX * 3];
    HANDLE instance_lock;         /* data\agent.lock, held for the process's life */
    char url_shown[sizeof ((conf *)0)->nats_url + 64];  /* nats_url, credentials redacted */
    const char *transport;        /* "tls" or "plaintext", for the fleet view */

    nats_conn *nc;
    HANDLE ev_stop;               /* svc_stop_event(): manual reset, not ours */
    HANDLE ev_conn, ev_ping, ev_note;  /* auto reset, ours */
    volatile LONG conn_bits;      /* EVBIT(NATS_EV_*) set by on_event */
    int connected;
    nats_sub *ping;
    char subj_hb[16 + SCOPE_ID_MAX], subj_ping[16 + SCOPE_ID_MAX];

    kv_bucket *b_status;
    asy *sync;                    /* config reads and notifications */
    uint64_t bucket_due;          /* tick of the next full config read, 0 = none */
    int bucket_backoff, bucket_attempt;
    int ready;                    /* a full read succeeded since the tables were cleared */
    acfg config, groups;          /* agent_config scopes; agent_groups/<pc_id> */
    atr trust;                    /* release keys and the signed-target filter */
    int dirty;                    /* the tables changed since the last evaluation */

    scope_result res;             /* the last resolution */
    char groups_text[SCOPE_MAX_GROUPS * (SCOPE_ID_MAX + 1) + 8];
    int64_t hb_ms;
    uint64_t last_hb, next_hb;    /* ticks; next_hb 0 = not before connecting */
    uint64_t next_stats;
    kv_bucket *b_rollouts;        /* agent_rollouts, opened at the first failure or check */
    aro ro;                       /* the target's halt policy and wave plan */
    char fail_recorded[SCOPE_VERSION_MAX + 20]; /* "<version> <state>" written */
} agent;

/* ---- config ----------------------------------------------------------- */

/* 0 if the file at path opens for reading; otherwise err explains. */
static int check_readable(const char *what, const char *path, char *err, size_t errcap,
                          const char *conf_path)
{
    FILE *f = win_fopen(path, "rb");
    if (!f) {
        snprintf(err, errcap, "config %s: %s %s cannot be read: %s", conf_path, what, path,
                 win_last_error());
        return 1;
    }
    fclose(f);
    return 0;
}

/* See agent_run.h. */
int arun_load_config(const char *path, conf *c, char *pc_id, char *err, size_t errcap)
{
    char *text = NULL, perr[256];
    size_t len = 0;
    int rc;

    conf_defaults(c);
    pc_id[0] = 0;
    if (!win_exists(path)) {
        snprintf(err, errcap, "config file not found: %s (create it with "
                 "`kanade-agent install --config <path> --nats-url <url>`)", path);
        return ARUN_EXIT_CONFIG;
    }
    if (win_read_all(path, CONF_FILE_MAX, &text, &len) != 0) {
        snprintf(err, errcap, "config %s cannot be read: %s", path, win_last_error());
        return ARUN_EXIT_CONFIG;
    }
    rc = conf_parse(text, len, c, perr, sizeof perr);
    free(text);
    if (rc != CONF_OK) {
        snprintf(err, errcap, "config %s: %s", path, perr);
        return ARUN_EXIT_CONFIG;
    }
    if (c->id[0]) {
        if (!scope_valid_id(c->id)) {
            snprintf(err, errcap, "config %s: [agent] id \"%s\" is invalid: use 1-64 of "
                     "A-Z a-z 0-9 _ -", path, c->id);
            return ARUN_EXIT_CONFIG;
        }
        snprintf(pc_id, SCOPE_ID_MAX + 1, "%s", c->id);
    } else {
        char name[256];
        if (win_computer_name(name, sizeof name) != 0) {
            snprintf(err, errcap, "config %s: no [agent] id and the computer name is "
                     "unavailable: %s", path, win_last_error());
            return ARUN_EXIT_CONFIG;
        }
        if (!scope_valid_id(name)) {
            snprintf(err, errcap, "config %s: the computer name \"%s\" is not a valid pc id "
                     "(1-64 of A-Z a-z 0-9 _ -); set [agent] id", path, name);
            return ARUN_EXIT_CONFIG;
        }
        snprintf(pc_id, SCOPE_ID_MAX + 1, "%s", name);
    }
    if (!c->nats_url[0]) {
        snprintf(err, errcap, "config %s: [agent] nats_url is not set", path);
        return ARUN_EXIT_CONFIG;
    }
    if (c->ca_file[0] && check_readable("[tls] ca_file", c->ca_file, err, errcap, path))
        return ARUN_EXIT_CONFIG;
    if (!c->cert_file[0] != !c->key_file[0]) {
        snprintf(err, errcap, "config %s: [tls] cert_file and key_file go together", path);
        return ARUN_EXIT_CONFIG;
    }
    if (c->cert_file[0] && check_readable("[tls] cert_file", c->cert_file, err, errcap, path))
        return ARUN_EXIT_CONFIG;
    if (c->key_file[0] && check_readable("[tls] key_file", c->key_file, err, errcap, path))
        return ARUN_EXIT_CONFIG;
    if (c->log_level[0] && log_level_parse(c->log_level) < 0) {
        snprintf(err, errcap, "config %s: [log] level \"%s\" is not one of error, warn, "
                 "info, debug", path, c->log_level);
        return ARUN_EXIT_CONFIG;
    }
    return 0;
}

/* ---- folder ownership ------------------------------------------------- */

/*
** The tree the service trusts, checked and created before anything is
** written into it: the exe's folder, %ProgramData%\Kanade, its config and
** data folders, the helper copy's folder and the config file must be owned
** by SYSTEM or Administrators (or this process's account); otherwise 1 with
** the first foreign one in err, and nothing is written. Then the root and
** data are created with their own ACL when missing, never one inherited
** from %ProgramData% (where Users may create folders): `run` on a host
** without `install` gets the same protection.
*/
static int secure_tree(const agent *a, const char *root, const char *config_path,
                       char *err, size_t cap)
{
    char paths[6][WIN_PATH_MAX * 3], who[300];
    const char *slash = strrchr(a->exe_path, '\\');
    int i, n = 0, rc;
    if (slash && (size_t)(slash - a->exe_path) < sizeof paths[0])
        snprintf(paths[n++], sizeof paths[0], "%.*s", (int)(slash - a->exe_path), a->exe_path);
    snprintf(paths[n++], sizeof paths[0], "%s", root);
    snprintf(paths[n++], sizeof paths[0], "%s\\config", root);
    snprintf(paths[n++], sizeof paths[0], "%s", a->data_dir);
    snprintf(paths[n++], sizeof paths[0], "%s\\updater", a->data_dir);
    snprintf(paths[n++], sizeof paths[0], "%s", config_path);
    for (i = 0; i < n; i++) {
        rc = fsec_owner_untrusted(paths[i], who, sizeof who);
        if (rc < 0) { snprintf(err, cap, "cannot read the owner of %s: %s", paths[i], win_last_error()); return 1; }
        if (rc > 0) {
            snprintf(err, cap, "%s is owned by %s, not SYSTEM or Administrators: refusing to "
                     "run from or write into it (delete it or take ownership, then reinstall)",
                     paths[i], who);
            return 1;
        }
    }
    if (fsec_mkdir(root, FSEC_SDDL_READABLE) != 0 || fsec_mkdir(a->data_dir, FSEC_SDDL_PRIVATE) != 0) {
        snprintf(err, cap, "cannot create %s for SYSTEM and Administrators: %s", a->data_dir, win_last_error());
        return 1;
    }
    return 0;
}

/* A warning for every TLS file that a non-administrator may replace: a
** swapped CA lets them impersonate the broker, a swapped key the agent. */
static void warn_weak_files(const conf *c)
{
    const char *files[3] = { c->ca_file, c->cert_file, c->key_file };
    static const char *const what[3] = { "[tls] ca_file", "[tls] cert_file", "[tls] key_file" };
    char who[300];
    int i;
    for (i = 0; i < 3; i++)
        if (files[i][0] && fsec_writable_by_others(files[i], who, sizeof who) > 0)
            log_event(LOG_WARN, "%s %s may be changed by %s (not SYSTEM or Administrators): "
                      "restrict it to SYSTEM and Administrators", what[i], files[i], who);
}

/* ---- small helpers ---------------------------------------------------- */

/* A delay of `base` ms ±25 %, so a fleet that lost its broker together does
** not come back in lockstep. */
static uint64_t jittered(int base)
{
    uint32_t span = (uint32_t)base / 2 + 1;
    return (uint64_t)base * 3 / 4 + win_random_u32() % span;
}

static int next_backoff(int cur)
{
    if (cur < BACKOFF_MIN_MS) return BACKOFF_MIN_MS;
    return cur >= BACKOFF_MAX_MS / 2 ? BACKOFF_MAX_MS : cur * 2;
}

/* One line for a failed NATS/JetStream call: the status, then the
** JetStream description or the connection's last error when there is one. */
static void err_text(agent *a, int rc, const js_err *e, char *out, size_t cap)
{
    const char *detail = "";
    if (rc == NATS_ERR_PERM) {
        /* What was refused and which right is missing, in one line. */
        char subj[256];
        int sub = nats_last_denied(a->nc, subj, sizeof subj);
        if (sub >= 0) { bcf_explain(subj, sub, a->pc_id, out, cap); return; }
    }
    if (e && e->desc[0]) detail = e->desc;
    else if (rc == NATS_ERR_CONN || rc == NATS_ERR_TLS || rc == NATS_ERR_AUTH)
        detail = nats_last_error(a->nc);
    snprintf(out, cap, "%s%s%s", nats_strerror(rc), detail[0] ? ": " : "", detail);
}

/* The exe's digest in the Object Store's own format ("SHA-256=" + base64url
** with padding), so it can be compared with a release's digest as is. */
static void digest_self(agent *a)
{
    unsigned char d[SHA256_LEN];
    FILE *f = win_fopen(a->exe_path, "rb");
    a->exe_digest[0] = 0;
    if (!f) { log_warn("cannot hash own exe: %s", win_last_error()); return; }
    if (sha256_file(f, d, NULL) == SHA256_OK)
        sha256_digest_encode(d, a->exe_digest, sizeof a->exe_digest);
    else
        log_warn("cannot hash own exe %s: read error", a->exe_path);
    fclose(f);
}

static void own_hostname(agent *a)
{
    wchar_t w[256];
    DWORD n = 256;
    if (!GetComputerNameExW(ComputerNameDnsHostname, w, &n) || win_to_utf8(w, a->hostname, sizeof a->hostname))
        snprintf(a->hostname, sizeof a->hostname, "%s", a->pc_id);
}

/* Debug line with the process's CPU time and private bytes: the figures
** behind "an idle agent sleeps". */
static void log_stats(void)
{
    FILETIME c, x, k, u;
    PROCESS_MEMORY_COUNTERS_EX pm;
    ULARGE_INTEGER ku, uu;
    if (!GetProcessTimes(GetCurrentProcess(), &c, &x, &k, &u)) return;
    memset(&pm, 0, sizeof pm);
    pm.cb = sizeof pm;
    if (!GetProcessMemoryInfo(GetCurrentProcess(), (PROCESS_MEMORY_COUNTERS *)&pm, sizeof pm)) return;
    ku.LowPart = k.dwLowDateTime; ku.HighPart = k.dwHighDateTime;
    uu.LowPart = u.dwLowDateTime; uu.HighPart = u.dwHighDateTime;
    /* PrivateUsage and PagefileUsage are the same figure on Windows (the
    ** commit charge); Wine 8 fills in only the latter. */
    log_debug("stats: cpu_ms=%llu (kernel %llu, user %llu) private_bytes=%llu pagefile_bytes=%llu "
              "working_set=%llu",
              (unsigned long long)((ku.QuadPart + uu.QuadPart) / 10000),
              (unsigned long long)(ku.QuadPart / 10000), (unsigned long long)(uu.QuadPart / 10000),
              (unsigned long long)pm.PrivateUsage, (unsigned long long)pm.PagefileUsage,
              (unsigned long long)pm.WorkingSetSize);
}

/* ---- heartbeat, status, ping ------------------------------------------ */

/*
** Writes the heartbeat/status document (docs/design.md, Wire contract) into buf. The update
** fields come from update.c; target and scope fall back to the agent's own
** resolution while update.c has not seen a target. Returns the length, or
** 0 when it does not fit (cannot happen with DOC_MAX; checked anyway).
*/
static size_t build_doc(agent *a, char *buf, size_t cap)
{
    upd_status us;
    json_w w;
    char at[40];
    const char *target, *state;

    memset(&us, 0, sizeof us);
    us.percent = -1;
    upd_get_status(&us);
    target = us.target[0] ? us.target : a->res.target_version;
    state = us.state[0] ? us.state : UPD_IDLE;
    win_rfc3339(win_unix_ms(), at);

    json_w_init(&w, buf, cap);
    json_w_obj_open(&w);
    json_w_kstr(&w, "pc_id", a->pc_id);
    json_w_kstr(&w, "at", at);
    json_w_kstr(&w, "agent_version", a->version);
    json_w_kstr(&w, "hostname", a->hostname);
    json_w_kstr(&w, "os_family", "windows");
    json_w_kstr(&w, "transport", a->transport);
    if (us.quarantined[0] && strcmp(us.quarantined, "[]") != 0) {
        json_w_key(&w, "quarantined_versions");
        json_w_raw(&w, us.quarantined, strlen(us.quarantined));
    }
    if (target[0]) {
        json_w_kstr(&w, "target_version", target);
        if (a->res.target_scope[0] && strcmp(target, a->res.target_version) == 0)
            json_w_kstr(&w, "target_scope", a->res.target_scope);
    }
    json_w_kstr(&w, "update_state", state);
    if (us.error[0]) json_w_kstr(&w, "update_error", us.error);
    if (strcmp(state, UPD_DOWNLOADING) == 0 && us.percent >= 0)
        json_w_kint(&w, "update_percent", us.percent);
    if (strcmp(state, UPD_SCHEDULED) == 0 && us.scheduled_at_ms > 0 && us.scheduled_at_ms < INT64_MAX) {
        char when[40];
        win_rfc3339(us.scheduled_at_ms, when);
        json_w_kstr(&w, "scheduled_at", when);
    }
    if (a->exe_digest[0]) json_w_kstr(&w, "exe_sha256", a->exe_digest);
    json_w_kint(&w, "release_keys", a->trust.nkeys);
    if (a->trust.errors[0]) json_w_kstr(&w, "target_error", a->trust.errors);
    json_w_obj_close(&w);
    if (w.err) { log_error("heartbeat document does not fit in %u bytes", (unsigned)cap); return 0; }
    return w.len;
}

/* Publishes heartbeat.<pc_id> and puts agent_status/<pc_id>; schedules the
** next tick. Skipped (but rescheduled) while disconnected: nothing is
** buffered, so no stale heartbeat is ever sent late. */
static void heartbeat(agent *a, const char *why)
{
    char doc[DOC_MAX], et[320];
    size_t len;
    uint64_t now = win_tick_ms();
    int rc;

    a->last_hb = now;
    a->next_hb = now + (uint64_t)a->hb_ms;
    if (now >= a->next_stats) { log_stats(); a->next_stats = now + STATS_EVERY_MS; }
    if (!a->connected) return;
    len = build_doc(a, doc, sizeof doc);
    if (!len) return;
    rc = nats_publish(a->nc, a->subj_hb, NULL, doc, len);
    if (rc != NATS_OK) {
        err_text(a, rc, NULL, et, sizeof et);
        log_warn("heartbeat publish failed: %s", et);
        return;
    }
    if (a->b_status) {
        js_err e;
        memset(&e, 0, sizeof e);
        rc = kv_put(a->b_status, a->pc_id, doc, len, NULL, &e);
        if (rc != NATS_OK) {
            err_text(a, rc, &e, et, sizeof et);
            if (rc == NATS_ERR_NO_RESPONDERS)
                log_warn("agent_status/%s put failed: bucket agent_status does not exist on the broker; "
                         "agents do not create buckets: the operator runs `kanade broker init`", a->pc_id);
            else
                log_warn("agent_status/%s put failed: %s", a->pc_id, et);
        }
    }
    log_debug("heartbeat (%s): %.*s", why, (int)len, doc);
}

/*
** Safe rollouts: an update to the target that ended failed, rolled_back or
** quarantined is written to agent_rollouts under this PC's own key, once
** per version and state (a rewrite of the same key would not change the
** count). Not connected, or the write fails: tried again at the next
** transition or connect. Only ever this PC's key: see rollout.h.
*/
static void record_failure(agent *a)
{
    upd_status us;
    ro_fail f;
    char tag[sizeof a->fail_recorded], et[320];
    js_err e;
    int rc;
    upd_get_status(&us);
    if (!a->connected || !us.target[0] || !ro_counts_state(us.state)) return;
    snprintf(tag, sizeof tag, "%s %s", us.target, us.state);
    if (!strcmp(tag, a->fail_recorded)) return;
    memset(&e, 0, sizeof e);
    /* Bound, never created: buckets are the operator's (kanade broker init). */
    if (!a->b_rollouts && (rc = kv_bind(a->nc, RO_BUCKET, &a->b_rollouts, &e)) != NATS_OK) {
        err_text(a, rc, &e, et, sizeof et);
        log_warn("%s: cannot bind: %s (failure of %s not recorded yet; 'kanade broker init' creates it)",
                 RO_BUCKET, et, us.target);
        a->b_rollouts = NULL;
        return;
    }
    memset(&f, 0, sizeof f);
    snprintf(f.pc, sizeof f.pc, "%s", a->pc_id);
    snprintf(f.version, sizeof f.version, "%s", us.target);
    snprintf(f.state, sizeof f.state, "%s", us.state);
    snprintf(f.reason, sizeof f.reason, "%s", us.error);
    f.at_ms = win_unix_ms();
    rc = rokv_record_failure(a->b_rollouts, &f, &e);
    if (rc != NATS_OK) {
        err_text(a, rc, &e, et, sizeof et);
        log_warn("%s: failure of %s not recorded: %s", RO_BUCKET, us.target, et);
        return;
    }
    memcpy(a->fail_recorded, tag, sizeof tag);
    log_info("%s: recorded %s of %s", RO_BUCKET, us.state, us.target);
}

/* update.c calls this on the agent thread after each state transition: the
** fleet sees every transition at once, not at the next tick. */
static void on_update_change(void *arg)
{
    heartbeat((agent *)arg, "update state");
    record_failure((agent *)arg);
}

/* Answers every queued ping with a fresh document, on the request's reply
** subject. Requests without a reply subject are dropped. */
static void drain_ping(agent *a)
{
    nats_msg *m;
    if (!a->ping) return;
    while (nats_sub_next(a->ping, 0, &m) == NATS_OK) {
        if (m->reply && m->reply[0] && a->connected) {
            char doc[DOC_MAX];
            size_t len = build_doc(a, doc, sizeof doc);
            if (len && nats_publish(a->nc, m->reply, NULL, doc, len) == NATS_OK)
                log_debug("answered ping");
        }
        nats_msg_free(m);
    }
}

/* ---- config supervisor ------------------------------------------------ */

/* Safe rollouts: the halt policy and wave plan of the scope that set the
** target (agent_ro.c), read before update.c sees the target, from the
** table the target was resolved from (with release keys, the checked one:
** rollout fields nobody signed are gone from it). */
static void rollout_fields(agent *a, const acfg *tab, const scope_result *r, char groups[][SCOPE_ID_MAX + 1],
                           int ng)
{
    const acfg_entry *se = r->target_scope[0] ? acfg_get(tab, r->target_scope) : NULL;
    aro_set(&a->ro, r->target_version, r->target_scope, se ? se->val : NULL, se ? se->len : 0, groups, ng);
}

/* update.c's hooks (upd_config.schedule and .gate), on the agent thread. */
static int64_t rollout_schedule(void *arg, const char *to, int64_t now_ms, int64_t draw_ms)
{
    return aro_schedule(&((agent *)arg)->ro, to, now_ms, draw_ms);
}

static int rollout_gate(void *arg, const char *to, char *reason, size_t cap, int64_t *recheck_ms)
{
    agent *a = arg;
    /* A halted agent looks again at its heartbeat pace, so a resume is
    ** seen within one interval; the jitter keeps a halted fleet from
    ** reading the records in step. */
    *recheck_ms = (int64_t)jittered((int)(a->hb_ms < 600000 ? a->hb_ms : 600000));
    return aro_gate(&a->ro, a->connected ? a->nc : NULL, &a->b_rollouts, to, reason, cap);
}

/* Resolves the effective config from the tables and hands the target to
** update.c. Logs the evaluation every time, as the runbook expects. */
static void evaluate(agent *a)
{
    const acfg_entry *g = acfg_get(&a->groups, a->pc_id);
    char groups[SCOPE_MAX_GROUPS][SCOPE_ID_MAX + 1];
    char gtext[sizeof a->groups_text];
    scope_result r;
    acfg eff;
    const acfg *tab = &a->config;
    int ng = 0, i, rc;
    size_t gl = 0;
    int64_t hb;

    memset(&r, 0, sizeof r);
    acfg_init(&eff, a->pc_id);
    if (a->trust.nkeys > 0) {
        /* With release keys only signed targets count (agent_trust.h). */
        char before[sizeof a->trust.errors];
        memcpy(before, a->trust.errors, sizeof before);
        atr_filter(&a->trust, &a->config, g ? g->val : NULL, g ? g->len : 0, &eff);
        tab = &eff;
        /* The fleet sees an ignored target at once, not at the next beat. */
        if (strcmp(before, a->trust.errors) != 0 && a->connected) heartbeat(a, "target check");
    }
    rc = acfg_resolve(tab, a->pc_id, g ? g->val : NULL, g ? g->len : 0, groups, &ng, &r);
    if (rc == SCOPE_ERR_JSON)
        log_warn("agent_groups/%s is not {\"groups\":[...]}: treated as no groups", a->pc_id);
    else if (rc != SCOPE_OK)
        log_warn("config resolution reported error %d", rc);
    gtext[0] = 0;
    for (i = 0; i < ng && gl + SCOPE_ID_MAX + 2 < sizeof gtext; i++) {
        int n = snprintf(gtext + gl, sizeof gtext - gl, "%s%s", i ? "," : "", groups[i]);
        if (n > 0) gl += (size_t)n;
    }
    if (strcmp(gtext, a->groups_text) != 0) {
        log_info("groups: %s", gtext[0] ? gtext : "(none)");
        memcpy(a->groups_text, gtext, sizeof gtext);
    }
    if (r.conflicts[0]) log_warn("config conflict between groups (the last alphabetically wins): %s", r.conflicts);
    if (r.errors[0]) log_warn("config values ignored as invalid: %s", r.errors);

    hb = r.heartbeat_ms;
    if (hb < HB_MIN_MS) hb = HB_MIN_MS;
    if (hb > HB_MAX_MS) hb = HB_MAX_MS;
    if (hb != a->hb_ms) {
        log_info("heartbeat_interval: %lld ms", (long long)hb);
        a->hb_ms = hb;
        if (a->next_hb) a->next_hb = a->last_hb + (uint64_t)hb;
    }
    a->res = r;
    a->dirty = 0;
    log_info("checking target_version: running=%s target=%s scope=%s", a->version,
             r.target_version[0] ? r.target_version : "(none)",
             r.target_scope[0] ? r.target_scope : "(none)");
    rollout_fields(a, tab, &r, groups, ng);
    acfg_clear(&eff);
    upd_on_target(a->nc, r.target_version, r.target_scope, r.jitter_ms);
}

static void close_buckets(agent *a)
{
    asy_close(a->sync); a->sync = NULL;
    kv_close(a->b_status); a->b_status = NULL;
    kv_close(a->b_rollouts); a->b_rollouts = NULL;
}

/* The next full read in about `ms` (±25 %). */
static void schedule_read(agent *a, int ms)
{
    a->bucket_due = win_tick_ms() + jittered(ms);
}

/* A failed read: one line for this attempt, the next one with backoff. */
static void read_failed(agent *a, int rc, const char *err)
{
    char et[320];
    a->bucket_attempt++;
    a->bucket_backoff = next_backoff(a->bucket_backoff);
    schedule_read(a, a->bucket_backoff);
    /* A direct get of a stream that does not exist gets no answer at all
    ** (JetStream ignores it): a timeout names the likely cause too. */
    if (rc == NATS_ERR_NO_RESPONDERS || rc == NATS_ERR_TIMEOUT) {
        log_warn("bucket %s does not answer (it does not exist, or JetStream is down); agents do "
                 "not create buckets: the operator runs `kanade broker init` (attempt %d, retrying "
                 "in about %d s)", asy_failed_bucket(a->sync), a->bucket_attempt, a->bucket_backoff / 1000);
        return;
    }
    if (rc == NATS_ERR_PERM) err_text(a, rc, NULL, et, sizeof et);
    else snprintf(et, sizeof et, "%s", err);
    log_warn("reading bucket %s failed (attempt %d): %s; retrying in about %d s",
             asy_failed_bucket(a->sync), a->bucket_attempt, et, a->bucket_backoff / 1000);
}

/*
** A bucket was deleted and created again (or a broker lost its store): its
** revisions start again from 1, so the marks are forgotten together with
** the values, and everything is read again.
*/
static void bucket_lost(agent *a, const char *why)
{
    log_warn("%s; forgetting the config and reading the buckets again", why);
    close_buckets(a);
    acfg_clear(&a->config);
    acfg_clear(&a->groups);
    a->ready = 0;
    a->dirty = 1;
    a->bucket_backoff = 0;
    a->bucket_attempt = 0;
    schedule_read(a, BACKOFF_MIN_MS);
}

/*
** The full read: attaches the buckets (no server call) and subscribes to
** the notifications the first time, then direct-gets every key this agent
** reads. On failure logs the attempt and schedules the next with backoff;
** on success schedules the periodic read.
*/
static void read_config(agent *a)
{
    char err[512];
    js_err e;
    int rc, changed = 0;
    a->bucket_due = 0;
    if (!a->connected) return;        /* the next (re)connect schedules it */
    memset(&e, 0, sizeof e);
    rc = a->b_status ? NATS_OK : kv_attach(a->nc, "agent_status", &a->b_status, &e);
    if (rc == NATS_OK && !a->sync)
        rc = asy_open(a->nc, a->pc_id, &a->config, &a->groups, a->ev_note, &a->sync);
    if (rc != NATS_OK) {
        err_text(a, rc, &e, err, sizeof err);
        read_failed(a, rc, err);
        return;
    }
    rc = asy_sync(a->sync, &changed, err, sizeof err);
    if (rc == ASY_RESET) { bucket_lost(a, err); return; }
    if (rc != NATS_OK) { read_failed(a, rc, err); return; }
    if (changed) a->dirty = 1;
    if (!a->ready) {
        log_info("buckets ready: agent_config, agent_groups, agent_status (direct gets, notifications)");
        a->ready = 1;
        a->dirty = 1;                 /* evaluate at least once per (re)start */
        heartbeat(a, "config read");
    }
    a->bucket_backoff = 0;
    a->bucket_attempt = 0;
    schedule_read(a, RESYNC_MS);
}

/* Answers the queued change notifications. */
static void drain_notes(agent *a)
{
    char err[512];
    int rc, changed = 0;
    if (!a->sync || !a->connected) return;
    rc = asy_drain(a->sync, &changed, err, sizeof err);
    if (changed) a->dirty = 1;
    if (rc == ASY_RESET) bucket_lost(a, err);
    else if (rc != NATS_OK) read_failed(a, rc, err);   /* a full read catches up */
}

/* ---- connection ------------------------------------------------------- */

/* Reader thread: record the event and wake the agent thread. Must not block. */
static void on_nats_event(void *arg, int ev)
{
    agent *a = arg;
    if (ev < 0 || ev > 30) return;
    InterlockedOr(&a->conn_bits, EVBIT(ev));
    SetEvent(a->ev_conn);
}

/* Runs on every connect and reconnect. */
static void on_connected(agent *a)
{
    char et[320];
    a->connected = 1;
    upd_on_connected();
    if (!a->ping) {
        int rc = nats_subscribe(a->nc, a->subj_ping, a->ev_ping, &a->ping);
        if (rc != NATS_OK) {
            err_text(a, rc, NULL, et, sizeof et);
            log_warn("subscribe %s failed: %s (retried on the next reconnect)", a->subj_ping, et);
            a->ping = NULL;
        }
    }
    /* Notifications sent while disconnected are lost: read everything. */
    a->bucket_due = win_tick_ms();
    heartbeat(a, "connected");
    record_failure(a);       /* a rollback decided before this start */
}

/* Logs what the reader thread reported and follows the connection state. */
static void handle_conn_events(agent *a)
{
    LONG bits = InterlockedExchange(&a->conn_bits, 0);
    int now;
    if (bits & EVBIT(NATS_EV_DISCONNECTED))
        log_warn("disconnected from broker: %s", nats_last_error(a->nc));
    if (bits & EVBIT(NATS_EV_CONNECTED)) log_info("connected to broker %s", a->url_shown);
    if (bits & EVBIT(NATS_EV_RECONNECTED)) log_info("reconnected to broker");
    if (bits & EVBIT(NATS_EV_CLOSED)) log_warn("broker connection closed");
    now = nats_is_connected(a->nc);
    if (now && (!a->connected || (bits & (EVBIT(NATS_EV_CONNECTED) | EVBIT(NATS_EV_RECONNECTED)))))
        on_connected(a);
    else if (!now)
        a->connected = 0;
}

/* ---- the loop --------------------------------------------------------- */

static void min_due(uint64_t due, uint64_t now, uint64_t *best)
{
    uint64_t d;
    if (!due) return;
    d = due > now ? due - now : 0;
    if (d < *best) *best = d;
}

/* Milliseconds until the next thing that is due, INFINITE if none. */
static DWORD wait_timeout(agent *a)
{
    uint64_t now = win_tick_ms(), best = (uint64_t)INFINITE;
    int64_t upd = upd_next_due_ms();
    min_due(a->next_hb, now, &best);
    min_due(a->bucket_due, now, &best);
    if (upd != INT64_MAX) {
        int64_t d = upd - win_unix_ms();
        if (d < 0) d = 0;
        if ((uint64_t)d < best) best = (uint64_t)d;
    }
    return best >= (uint64_t)INFINITE ? INFINITE - 1 : (DWORD)best;
}

static int due(uint64_t at) { return at && win_tick_ms() >= at; }

/* The agent thread's loop; returns when the stop event is set. */
static void run_loop(agent *a)
{
    HANDLE hs[4];
    hs[0] = a->ev_stop;          /* first: a stop wins over pending work */
    hs[1] = a->ev_conn;
    hs[2] = a->ev_ping;
    hs[3] = a->ev_note;
    for (;;) {
        DWORD w = WaitForMultipleObjects(4, hs, FALSE, wait_timeout(a));
        if (w == WAIT_OBJECT_0) return;
        if (w == WAIT_FAILED) {
            win_err("WaitForMultipleObjects", NULL);
            log_error("%s", win_last_error());
            if (WaitForSingleObject(a->ev_stop, 1000) == WAIT_OBJECT_0) return;
        }
        handle_conn_events(a);
        drain_ping(a);
        if (due(a->bucket_due)) read_config(a);
        drain_notes(a);
        if (a->dirty && a->ready) evaluate(a);
        if (due(a->next_hb)) heartbeat(a, "tick");
        if (upd_next_due_ms() <= win_unix_ms()) upd_tick(a->nc);
    }
}

/* ---- start and stop --------------------------------------------------- */

/*
** One agent per data folder. `run` in a console and the service share
** data\ (the verified download, update-state.json, update.json): a second
** agent would delete the first one's download or rewrite its state. The
** lock is data\agent.lock opened with no sharing for the process's life;
** the OS drops it when the process ends, so a crash never leaves it stale,
** and only SYSTEM and Administrators may create files in data\, so no
** other account can hold it to keep the agent out.
*/
static int hold_instance_lock(agent *a, char *err, size_t cap)
{
    char path[sizeof a->data_dir + 16];
    wchar_t wp[WIN_PATH_MAX];
    if (snprintf(path, sizeof path, "%s\\agent.lock", a->data_dir) >= (int)sizeof path
        || win_to_wide(path, wp, WIN_PATH_MAX) != 0) {
        snprintf(err, cap, "data folder path too long: %s", a->data_dir);
        return 1;
    }
    a->instance_lock = CreateFileW(wp, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_ALWAYS,
                                   FILE_ATTRIBUTE_NORMAL, NULL);
    if (a->instance_lock != INVALID_HANDLE_VALUE) return 0;
    a->instance_lock = NULL;
    if (GetLastError() == ERROR_SHARING_VIOLATION) {
        snprintf(err, cap, "another kanade-agent (the service, or `run` in another console) is "
                 "using %s: stop it first", a->data_dir);
    } else {
        win_err("CreateFileW", path);
        snprintf(err, cap, "cannot open %s: %s", path, win_last_error());
    }
    return 1;
}

/* Ends arun_body: closes the log, drops the instance lock, frees the agent. */
static int finish(agent *a, int exit_code)
{
    log_close();
    if (a->instance_lock) CloseHandle(a->instance_lock);
    free(a);
    return exit_code;
}

/*
** Paths, the tree check, the instance lock and the log. A foreign-owned
** tree or a second agent gets no log file: the refusal goes to the Event
** Log (and the console), and 2 is returned.
*/
static int start_logs(agent *a, const char *config_path, int keep_days, int echo,
                      char *err, size_t cap)
{
    char root[WIN_PATH_MAX * 3];
    err[0] = 0;
    if (win_exe_path(a->exe_path, sizeof a->exe_path) != 0) a->exe_path[0] = 0;
    if (win_program_data(root, sizeof root) != 0
        || snprintf(a->log_dir, sizeof a->log_dir, "%s\\Kanade\\logs", root) >= (int)sizeof a->log_dir
        || snprintf(a->data_dir, sizeof a->data_dir, "%s\\Kanade\\data", root) >= (int)sizeof a->data_dir
        || strlen(root) + 8 >= sizeof root) {
        snprintf(err, cap, "%%ProgramData%% is unknown or too long");
        log_open(NULL, 0, echo);
        return 2;
    }
    strncat(root, "\\Kanade", sizeof root - strlen(root) - 1);
    if (secure_tree(a, root, config_path, err, cap) != 0 || hold_instance_lock(a, err, cap) != 0) {
        log_open(NULL, 0, echo);
        return 2;
    }
    return log_open(a->log_dir, keep_days, echo);
}

static HANDLE new_event(void)
{
    HANDLE h = CreateEventW(NULL, FALSE, FALSE, NULL);
    if (!h) win_err("CreateEventW", NULL);
    return h;
}

/* A zeroed agent with the defaults; NULL when out of memory. */
static agent *new_agent(const arun_opts *o)
{
    /* The agent struct holds a few KiB of paths; keep it off the stack of
    ** the ServiceMain thread. */
    agent *a = calloc(1, sizeof *a);
    if (!a) return NULL;
    a->under_scm = o->under_scm;
    a->config_path = o->config_path;
    a->hb_ms = 30000;
    acfg_init(&a->config, NULL);
    acfg_init(&a->groups, "");
    return a;
}

/*
** The config, then the log (opened even for a bad config, so that the
** refusal is in it), then the config's log settings. ARUN_EXIT_OK, or
** ARUN_EXIT_CONFIG after saying why in the Event Log (and the console).
*/
static int start_config(agent *a)
{
    char err[1024], terr[1024];
    int rc = arun_load_config(a->config_path, &a->cfg, a->pc_id, err, sizeof err);
    int lrc = start_logs(a, a->config_path, rc ? 14 : a->cfg.keep_days, !a->under_scm,
                         terr, sizeof terr);
    if (lrc == 2) {
        log_event(LOG_ERROR, "%s", terr);
        return ARUN_EXIT_CONFIG;
    }
    if (lrc != 0 && !a->under_scm)
        fprintf(stderr, "kanade-agent: cannot open the log folder: %s\n", win_last_error());
    if (rc) {
        log_event(LOG_ERROR, "%s", err);
        return ARUN_EXIT_CONFIG;
    }
    acfg_init(&a->config, a->pc_id);
    if (a->cfg.log_level[0]) log_set_level(log_level_parse(a->cfg.log_level));
    if (a->cfg.warnings[0]) log_warn("config %s: %s", a->config_path, a->cfg.warnings);
    return ARUN_EXIT_OK;
}

/*
** Who this agent is (version, hostname, own digest, its subjects, the
** broker as shown) and the start line that says it. ARUN_EXIT_OK, or
** ARUN_EXIT_FAIL when the exe's own version cannot be read.
*/
static int identify(agent *a)
{
    char first[256];
    if (win_self_version(a->version, sizeof a->version) != 0) {
        log_event(LOG_ERROR, "cannot read own version: %s", win_last_error());
        return ARUN_EXIT_FAIL;
    }
    own_hostname(a);
    digest_self(a);
    snprintf(a->subj_hb, sizeof a->subj_hb, "heartbeat.%s", a->pc_id);
    snprintf(a->subj_ping, sizeof a->subj_ping, "agents.%s.ping", a->pc_id);
    url_redact(a->cfg.nats_url, a->url_shown, sizeof a->url_shown);
    a->transport = a->cfg.ca_file[0] ? "tls" : "plaintext";
    log_info("starting kanade-agent version=%s pc_id=%s nats_url=%s mode=%s pid=%lu config=%s "
             "log_dir=%s keep_days=%d exe_sha256=%s", a->version, a->pc_id, a->url_shown,
             a->under_scm ? "service" : "console", (unsigned long)GetCurrentProcessId(),
             a->config_path, a->log_dir, a->cfg.keep_days,
             a->exe_digest[0] ? a->exe_digest : "(unknown)");
    /* Every start, so the warning is in each day's log: the token, the
    ** config and the binaries travel in the clear. */
    if (url_plaintext_remote(a->cfg.nats_url, a->cfg.ca_file[0] != 0, first, sizeof first))
        log_event(LOG_WARN, "plaintext connection to a non-loopback broker (%s): the token, "
                  "the config and the updates travel unencrypted; use tls:// with [tls] ca_file", first);
    return ARUN_EXIT_OK;
}

/*
** [update] release_keys into a->trust, and a line saying what they mean
** for this host. 0, or 1 after logging why (a config error).
*/
static int load_release_keys(agent *a)
{
    char err[1024], ids[SIG_MAX_KEYS * (SIG_KEYID_LEN + 2) + 1] = "";
    int i;
    if (atr_init(&a->trust, a->data_dir, a->cfg.release_keys, err, sizeof err) != 0) {
        log_event(LOG_ERROR, "config %s: [update] release_keys: %s", a->config_path, err);
        return 1;
    }
    if (a->trust.nkeys == 0) {
        /* Every start, like the plaintext warning: whoever can write
        ** agent_releases and agent_config decides what this PC runs. */
        log_event(LOG_WARN, "no release keys ([update] release_keys): this agent accepts unsigned releases "
                  "and targets; anyone with write access to the broker's agent_releases and agent_config "
                  "can choose what it runs (docs/security.md)");
        return 0;
    }
    for (i = 0; i < a->trust.nkeys; i++) {
        size_t n = strlen(ids);
        snprintf(ids + n, sizeof ids - n, "%s%s", i ? "," : "", a->trust.keys[i].id);
    }
    log_info("release keys: %s; only releases and targets signed by one of them are used", ids);
    return 0;
}

/* upd_init with this agent's paths, keys and rollout hooks; its result
** (UPD_RESTART: crash recovery restored the previous exe). */
static int start_updates(agent *a)
{
    upd_config uc;
    memset(&uc, 0, sizeof uc);
    uc.release_keys = a->trust.keys;
    uc.nrelease_keys = a->trust.nkeys;
    uc.exe_path = a->exe_path;
    uc.data_dir = a->data_dir;
    uc.version = a->version;
    uc.config_path = a->config_path;
    uc.health_timeout_s = a->cfg.health_timeout_s;
    uc.under_scm = a->under_scm;
    uc.on_change = on_update_change;
    uc.arg = a;
    uc.log_dir = a->log_dir;
    uc.schedule = rollout_schedule;
    uc.gate = rollout_gate;
    return upd_init(&uc);
}

/* The events run_loop waits on. 0, or 1 after logging why. */
static int create_events(agent *a)
{
    a->ev_stop = svc_stop_event();
    a->ev_conn = new_event();
    a->ev_ping = new_event();
    a->ev_note = new_event();
    if (a->ev_stop && a->ev_conn && a->ev_ping && a->ev_note) return 0;
    log_event(LOG_ERROR, "cannot create events: %s", win_last_error());
    return 1;
}

/*
** The connection, with retry_initial: it returns at once and the reader
** thread keeps trying (and reconnecting) in the background. ARUN_EXIT_OK,
** or ARUN_EXIT_CONFIG after logging why.
*/
static int connect_broker(agent *a)
{
    nats_opts no;
    char err[1024];
    int rc;
    memset(&no, 0, sizeof no);
    no.servers = a->cfg.nats_url;
    no.user = a->cfg.user[0] ? a->cfg.user : NULL;
    no.pass = a->cfg.password[0] ? a->cfg.password : NULL;
    no.token = a->cfg.token[0] ? a->cfg.token : NULL;
    no.ca_file = a->cfg.ca_file[0] ? a->cfg.ca_file : NULL;
    no.cert_file = a->cfg.cert_file[0] ? a->cfg.cert_file : NULL;
    no.key_file = a->cfg.key_file[0] ? a->cfg.key_file : NULL;
    no.name = "kanade-agent";
    no.retry_initial = 1;
    no.randomize = 1;
    no.on_event = on_nats_event;
    no.event_arg = a;
    rc = nats_connect(&no, &a->nc, err, sizeof err);
    if (rc == NATS_OK) return ARUN_EXIT_OK;
    /* With retry_initial only a bad argument fails here (a URL that
    ** cannot be parsed, TLS files that do not load): a config error. */
    log_event(LOG_ERROR, "config %s: cannot set up the broker connection: %s",
              a->config_path, err[0] ? err : nats_strerror(rc));
    return ARUN_EXIT_CONFIG;
}

/* Running: tells the SCM, then the loop until the stop event. */
static void run_until_stopped(agent *a)
{
    svc_report_running();
    /* A reachable broker answers within milliseconds; only a longer wait
    ** is worth a line (the connection keeps retrying in the background). */
    if (nats_wait_connected(a->nc, 500) != NATS_OK)
        log_info("waiting for broker %s (retrying in the background)", a->url_shown);
    /* Whatever the reader thread already reported is handled on entry. */
    SetEvent(a->ev_conn);
    run_loop(a);
    log_info("stopping");
}

/* Undoes start_updates, create_events and connect_broker, each as far as
** it got. */
static void shut_down(agent *a, int exit_code)
{
    upd_shutdown();
    if (a->ping) nats_unsubscribe(a->ping);
    close_buckets(a);
    nats_close(a->nc);
    acfg_clear(&a->config);
    acfg_clear(&a->groups);
    if (a->ev_conn) CloseHandle(a->ev_conn);
    if (a->ev_ping) CloseHandle(a->ev_ping);
    if (a->ev_note) CloseHandle(a->ev_note);
    log_info("stopped (exit code %d)", exit_code);
}

/* See agent_run.h. The start-up order is the file's header's. */
int arun_body(void *arg)
{
    agent *a = new_agent(arg);
    int exit_code;

    if (!a) return ARUN_EXIT_FAIL;
    exit_code = start_config(a);
    if (exit_code != ARUN_EXIT_OK) return finish(a, exit_code);
    svc_checkpoint();
    exit_code = identify(a);
    if (exit_code != ARUN_EXIT_OK) return finish(a, exit_code);
    warn_weak_files(&a->cfg);
    if (load_release_keys(a) != 0) return finish(a, ARUN_EXIT_CONFIG);
    if (start_updates(a) == UPD_RESTART) {
        log_event(LOG_WARN, "update recovery restored the previous exe; exiting so it starts");
        return finish(a, ARUN_EXIT_RESTART);
    }
    svc_checkpoint();

    exit_code = create_events(a) != 0 ? ARUN_EXIT_FAIL : connect_broker(a);
    if (exit_code == ARUN_EXIT_OK) run_until_stopped(a);
    shut_down(a, exit_code);
    return finish(a, exit_code);
}
