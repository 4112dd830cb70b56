/*
** tool_fleet.c — the fleet simulator: N agents in one process, for
** bench/fleet.sh and tests/it_cluster.sh.
**
**   tool_fleet run URLS N DIR [options]
**       Runs agents sim-00001 .. sim-<N> (see --first) until DIR\stop
**       exists or --seconds pass. Each agent is the real agent loop of
**       agent_run.c (included below: its loop is static) on its own thread,
**       with its own connection, heartbeat, agent_status document, ping
**       subscription, config reads and agent_cfg.c table, and its own
**       update.c state (upd_ctx_use): jitter schedule, the release
**       download with its digest and size checks, the VERSIONINFO check.
**       Only the SCM swap is simulated (update.h, sim_swap): a verified
**       target "runs" at once. Options:
**         --version V      the version the agents start with (default 0.1.0)
**         --first K        number of the first agent (default 1)
**         --fail-swap F    this fraction (0..1) of the agents fails every
**                          swap: rolled back and quarantined, as a build
**                          that never becomes healthy would be
**         --fail-ids LIST  these agents (numbers, "1,2") fail instead
**         --fail-to V      failing agents fail only swaps to version V
**         --spread MS      start the agents over MS milliseconds (default N*5)
**         --seconds S      stop after S seconds (default: only DIR\stop)
**         --log-level L    the shared log DIR\logs (default info)
**       Prints "started N" once every agent thread runs, "stopped" at the end.
**
**   tool_fleet groups URL N GROUPS [--first K]
**       Writes agent_groups/<pc_id> = {"groups":[...]} for N agents; GROUPS
**       is "a,b" (every agent) or "ring%d:M" (agent i in group ring<i mod M>).
**
**   tool_fleet observe URL N TARGET OUT [--timeout S]
**       Subscribes to heartbeat.> and writes one line per simulated agent to
**       OUT when it reaches TARGET:
**         "<pc> <notice_ms> <done_ms> <state> <reported_ms>"
**       (unix ms the observer first saw the agent pending or later for
**       TARGET, and running TARGET; 0 = never; reported_ms is the `at` the
**       agent wrote into that first pending-or-later document, the moment
**       it noticed, before its message waited for the observer's share of
**       this machine). Also subscribes to $KV.agent_config.> and prints
**       "written <unix ms>" when the first write after its start arrives:
**       the rollout's moment, by the same clock. Prints "noticed K" and
**       "converged K" lines as the counts complete, and exits 0 once all N
**       run TARGET, 4 at the timeout (default 600 s).
*/
#include "../src/agent_run.c"
#include <process.h>

#define FLEET_MAX 50000

typedef struct sim {
    int index;
    agent *a;
    upd_ctx *upd;
    int fail;                     /* this agent fails its swaps */
    char dir[WIN_PATH_MAX];
    HANDLE thread;
} sim;

static struct {
    const char *urls;
    const char *version;
    const char *fail_to;          /* NULL = failing agents fail every swap */
    HANDLE stop;                  /* manual reset: every agent's ev_stop */
    volatile LONG running;
} F;

/* The agent this thread runs (update.c calls sim_swap on it). */
static _Thread_local sim *cur_sim;

/* update.c's sim_swap: the SCM swap replaced by a verdict. */
static int sim_swap(void *arg, const char *to, char *err, size_t cap)
{
    agent *a = arg;
    if (cur_sim->fail && (!F.fail_to || !strcmp(F.fail_to, to))) {
        snprintf(err, cap, "simulated: the new build exited at start");
        return 1;
    }
    snprintf(a->version, sizeof a->version, "%s", to);
    return 0;
}

/* One agent: what arun_body does after reading agent.conf, with the
** identity, paths and version of the simulated host. */
static unsigned __stdcall sim_body(void *arg)
{
    sim *s = arg;
    agent *a = s->a;
    upd_config uc;
    nats_opts no;
    char err[512];
    int rc;

    upd_ctx_use(s->upd);
    a->under_scm = 1;
    cur_sim = s;
    a->config_path = "";
    a->hb_ms = 30000;
    conf_defaults(&a->cfg);
    snprintf(a->cfg.nats_url, sizeof a->cfg.nats_url, "%s", F.urls);
    snprintf(a->pc_id, sizeof a->pc_id, "sim-%05d", s->index);
    snprintf(a->version, sizeof a->version, "%s", F.version);
    snprintf(a->hostname, sizeof a->hostname, "%s", a->pc_id);
    snprintf(a->exe_path, sizeof a->exe_path, "%s\\kanade-agent.exe", s->dir);
    snprintf(a->data_dir, sizeof a->data_dir, "%s\\data", s->dir);
    snprintf(a->log_dir, sizeof a->log_dir, "%s\\logs", s->dir);
    snprintf(a->subj_hb, sizeof a->subj_hb, "heartbeat.%s", a->pc_id);
    snprintf(a->subj_ping, sizeof a->subj_ping, "agents.%s.ping", a->pc_id);
    acfg_init(&a->config, a->pc_id);
    acfg_init(&a->groups, "");

    memset(&uc, 0, sizeof uc);
    uc.exe_path = a->exe_path;
    uc.data_dir = a->data_dir;
    uc.version = a->version;
    uc.config_path = "";
    uc.health_timeout_s = 120;
    uc.under_scm = 1;
    uc.on_change = on_update_change;
    uc.arg = a;
    uc.log_dir = a->log_dir;
    uc.sim_swap = sim_swap;
    uc.schedule = rollout_schedule;
    uc.gate = rollout_gate;
    if (upd_init(&uc) != 0) { log_error("%s: upd_init failed", a->pc_id); return 1; }

    a->ev_stop = F.stop;
    a->ev_conn = new_event();
    a->ev_ping = new_event();
    a->ev_note = new_event();
    if (!a->ev_conn || !a->ev_ping || !a->ev_note) {
        log_error("%s: cannot create events: %s", a->pc_id, win_last_error());
        return 1;
    }
    memset(&no, 0, sizeof no);
    no.servers = a->cfg.nats_url;
    no.name = a->pc_id;
    no.retry_initial = 1;
    no.randomize = 1;
    no.on_event = on_nats_event;
    no.event_arg = a;
    rc = nats_connect(&no, &a->nc, err, sizeof err);
    if (rc != NATS_OK) { log_error("%s: connect: %s", a->pc_id, err); return 1; }
    InterlockedIncrement(&F.running);
    SetEvent(a->ev_conn);
    run_loop(a);

    upd_shutdown();
    if (a->ping) nats_unsubscribe(a->ping);
    close_buckets(a);
    nats_close(a->nc);
    acfg_clear(&a->config);
    acfg_clear(&a->groups);
    CloseHandle(a->ev_conn);
    CloseHandle(a->ev_ping);
    CloseHandle(a->ev_note);
    InterlockedDecrement(&F.running);
    return 0;
}

static const char *opt(int argc, char **argv, const char *name, const char *def)
{
    int i;
    for (i = 0; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0) return argv[i + 1];
    return def;
}

/* 1 when number k is in the comma list. */
static int in_list(const char *list, int k)
{
    while (*list) {
        if (atoi(list) == k) return 1;
        list += strcspn(list, ",");
        if (*list == ',') list++;
    }
    return 0;
}

static int cmd_run(int argc, char **argv)
{
    int n = atoi(argv[3]), first = atoi(opt(argc, argv, "--first", "1")), i, started = 0, nfail;
    double fail = atof(opt(argc, argv, "--fail-swap", "0"));
    int spread = atoi(opt(argc, argv, "--spread", "-1")), seconds = atoi(opt(argc, argv, "--seconds", "0"));
    const char *dir = argv[4], *lvl = opt(argc, argv, "--log-level", "info");
    const char *ids = opt(argc, argv, "--fail-ids", NULL);
    char path[WIN_PATH_MAX], stopf[WIN_PATH_MAX];
    sim *sims;
    uint64_t t0, end;

    if (n < 1 || n > FLEET_MAX || first < 1 || fail < 0 || fail > 1 || log_level_parse(lvl) < 0) {
        fprintf(stderr, "tool_fleet run: bad N, --first, --fail-swap or --log-level\n");
        return 2;
    }
    if (spread < 0) spread = n * 5;
    F.urls = argv[2];
    F.version = opt(argc, argv, "--version", "0.1.0");
    F.fail_to = opt(argc, argv, "--fail-to", NULL);
    F.stop = CreateEventW(NULL, TRUE, FALSE, NULL);
    snprintf(path, sizeof path, "%s\\logs", dir);
    snprintf(stopf, sizeof stopf, "%s\\stop", dir);
    win_delete(stopf);
    if (win_mkdirs(path) != 0 || log_open(path, 0, 0) != 0) {
        fprintf(stderr, "tool_fleet: cannot open the log in %s: %s\n", path, win_last_error());
        return 1;
    }
    log_set_level(log_level_parse(lvl));
    sims = calloc((size_t)n, sizeof *sims);
    if (!sims || !F.stop) { fprintf(stderr, "tool_fleet: out of memory\n"); return 1; }
    t0 = win_tick_ms();
    for (i = 0; i < n; i++) {
        sim *s = &sims[i];
        s->index = first + i;
        /* Exactly round(n * fail) agents fail, spread evenly over the fleet. */
        s->fail = (int)((i + 1) * fail) > (int)(i * fail);
        if (ids) s->fail = in_list(ids, s->index);
        snprintf(s->dir, sizeof s->dir, "%s\\sim-%05d", dir, s->index);
        s->a = calloc(1, sizeof *s->a);
        s->upd = upd_ctx_new();
        if (!s->a || !s->upd || win_mkdirs(s->dir) != 0) { fprintf(stderr, "tool_fleet: agent %d: setup failed\n", s->index); break; }
        /* A small stack reservation: thousands of threads share one address space. */
        s->thread = (HANDLE)_beginthreadex(NULL, 256 * 1024, sim_body, s, STACK_SIZE_PARAM_IS_A_RESERVATION, NULL);
        if (!s->thread) { fprintf(stderr, "tool_fleet: agent %d: cannot start its thread\n", s->index); break; }
        started++;
        if (spread > 0) {
            uint64_t due = t0 + (uint64_t)spread * (uint64_t)(i + 1) / (uint64_t)n, now = win_tick_ms();
            if (due > now) Sleep((DWORD)(due - now));
        }
    }
    for (i = 0, nfail = 0; i < started; i++) nfail += sims[i].fail;
    printf("started %d agents (%d fail their swaps) in %llu ms\n", started, nfail,
           (unsigned long long)(win_tick_ms() - t0));
    fflush(stdout);
    end = seconds > 0 ? win_tick_ms() + (uint64_t)seconds * 1000 : 0;
    while (!win_exists(stopf) && (!end || win_tick_ms() < end)) Sleep(500);
    SetEvent(F.stop);
    for (i = 0; i < started; i++) WaitForSingleObject(sims[i].thread, 15000);
    printf("stopped (%ld agents still running)\n", (long)F.running);
    fflush(stdout);
    log_close();
    return 0;
}

/* ---- groups ------------------------------------------------------------ */

static int connect_cli(const char *url, nats_conn **c)
{
    nats_opts o;
    char err[512];
    int rc;
    memset(&o, 0, sizeof o);
    o.servers = url;
    o.name = "tool_fleet";
    rc = nats_connect(&o, c, err, sizeof err);
    if (rc != NATS_OK) fprintf(stderr, "connect: %s\n", err);
    return rc;
}

static int cmd_groups(int argc, char **argv)
{
    int n = atoi(argv[3]), first = atoi(opt(argc, argv, "--first", "1")), i, ring = 0, rc = NATS_OK;
    const char *spec = argv[4];
    char ringfmt[64] = "", key[32], val[512];
    nats_conn *c = NULL;
    kv_bucket *b = NULL;
    js_err e;
    static const kv_config cfg = { "agent_groups", 5, 0, 0 };
    const char *colon = strchr(spec, ':');
    if (colon && strstr(spec, "%d")) {
        ring = atoi(colon + 1);
        snprintf(ringfmt, sizeof ringfmt, "%.*s", (int)(colon - spec), spec);
        if (ring < 1) { fprintf(stderr, "tool_fleet groups: ring%%d:M needs M >= 1\n"); return 2; }
    }
    if (connect_cli(argv[2], &c) != NATS_OK) return 1;
    memset(&e, 0, sizeof e);
    if ((rc = kv_open(c, &cfg, &b, &e)) != NATS_OK) {
        fprintf(stderr, "agent_groups: %s %s\n", nats_strerror(rc), e.desc);
        nats_close(c);
        return 1;
    }
    for (i = 0; i < n && rc == NATS_OK; i++) {
        char gs[SCOPE_MAX_GROUPS][SCOPE_ID_MAX + 1];
        int ng = 0;
        snprintf(key, sizeof key, "sim-%05d", first + i);
        if (ring) {
            snprintf(gs[0], sizeof gs[0], ringfmt, (first + i) % ring);
            ng = 1;
        } else {
            const char *p = spec;
            while (*p && ng < SCOPE_MAX_GROUPS) {
                size_t l = strcspn(p, ",");
                snprintf(gs[ng++], sizeof gs[0], "%.*s", (int)l, p);
                p += l + (p[l] == ',');
            }
        }
        if (scope_write_groups(gs, ng, val, sizeof val) != SCOPE_OK) { fprintf(stderr, "bad groups\n"); rc = NATS_ERR_ARG; break; }
        rc = kv_put(b, key, val, strlen(val), NULL, &e);
        if (rc != NATS_OK) fprintf(stderr, "put %s: %s %s\n", key, nats_strerror(rc), e.desc);
    }
    kv_close(b);
    nats_close(c);
    if (rc != NATS_OK) return 1;
    printf("groups written for %d agents\n", n);
    return 0;
}

/* ---- observe ----------------------------------------------------------- */

typedef struct seen {
    int64_t notice, done, reported;
    char state[16];
} seen;

static int cmd_observe(int argc, char **argv)
{
    int n = atoi(argv[3]), timeout = atoi(opt(argc, argv, "--timeout", "600"));
    const char *target = argv[4], *out = argv[5];
    int noticed = 0, converged = 0, i, rc;
    seen *tab;
    nats_conn *c = NULL;
    nats_sub *s = NULL, *w = NULL;
    uint64_t end;
    int64_t written = 0;
    FILE *f;
    if (n < 1 || n > FLEET_MAX) { fprintf(stderr, "tool_fleet observe: bad N\n"); return 2; }
    tab = calloc((size_t)n + 1, sizeof *tab);
    if (!tab || connect_cli(argv[2], &c) != NATS_OK) return 1;
    if (nats_subscribe(c, "heartbeat.>", NULL, &s) != NATS_OK
        || nats_subscribe(c, "$KV.agent_config.>", NULL, &w) != NATS_OK || nats_flush(c, 5000) != NATS_OK) {
        fprintf(stderr, "subscribe heartbeat.> and $KV.agent_config.>: %s\n", nats_last_error(c));
        return 1;
    }
    printf("observing\n");
    fflush(stdout);
    end = win_tick_ms() + (uint64_t)timeout * 1000;
    while (converged < n && win_tick_ms() < end) {
        nats_msg *m;
        json_tok tok[64];
        json_doc d;
        char ver[80] = "", tgt[80] = "", st[16] = "";
        int idx;
        int64_t now;
        if (!written && nats_sub_next(w, 0, &m) == NATS_OK) {
            written = win_unix_ms();
            printf("written %lld\n", (long long)written);
            fflush(stdout);
            nats_msg_free(m);
        }
        rc = nats_sub_next(s, written ? 1000 : 10, &m);
        if (rc == NATS_ERR_TIMEOUT) continue;
        if (rc != NATS_OK) { fprintf(stderr, "observe: %s\n", nats_strerror(rc)); break; }
        now = win_unix_ms();
        idx = strncmp(m->subject, "heartbeat.sim-", 14) == 0 ? atoi(m->subject + 14) : 0;
        if (idx >= 1 && idx <= n && json_parse(&d, (const char *)m->data, m->len, tok, 64) == JSON_OK) {
            seen *x = &tab[idx];
            json_get_str(&d, 0, "agent_version", ver, sizeof ver);
            json_get_str(&d, 0, "target_version", tgt, sizeof tgt);
            json_get_str(&d, 0, "update_state", st, sizeof st);
            snprintf(x->state, sizeof x->state, "%s", st);
            if (!x->notice && (strcmp(ver, target) == 0 || (strcmp(tgt, target) == 0 && strcmp(st, UPD_IDLE) != 0))) {
                char at[40] = "";
                x->notice = now;
                if (json_get_str(&d, 0, "at", at, sizeof at) != JSON_OK || win_parse_rfc3339(at, &x->reported) != 0)
                    x->reported = 0;
                if (++noticed == n) { printf("noticed %d\n", n); fflush(stdout); }
            }
            if (!x->done && strcmp(ver, target) == 0) {
                x->done = now;
                if (++converged == n) { printf("converged %d\n", n); fflush(stdout); }
            }
        }
        nats_msg_free(m);
    }
    f = win_fopen(out, "wb");
    for (i = 1; f && i <= n; i++)
        fprintf(f, "sim-%05d %lld %lld %s %lld\n", i, (long long)tab[i].notice, (long long)tab[i].done,
                tab[i].state[0] ? tab[i].state : "-", (long long)tab[i].reported);
    if (f) fclose(f);
    if (converged < n) printf("timeout: noticed %d, converged %d of %d\n", noticed, converged, n);
    nats_unsubscribe(s);
    nats_unsubscribe(w);
    nats_close(c);
    return converged == n ? 0 : 4;
}

int wmain(int argc, wchar_t **wargv)
{
    char **argv = calloc((size_t)argc + 1, sizeof *argv);
    int i;
    for (i = 0; argv && i < argc; i++) {
        argv[i] = malloc(4096);
        if (!argv[i] || win_to_utf8(wargv[i], argv[i], 4096) != 0) return 2;
    }
    if (argc >= 5 && strcmp(argv[1], "run") == 0) return cmd_run(argc, argv);
    if (argc >= 5 && strcmp(argv[1], "groups") == 0) return cmd_groups(argc, argv);
    if (argc >= 6 && strcmp(argv[1], "observe") == 0) return cmd_observe(argc, argv);
    fprintf(stderr, "usage: tool_fleet run URLS N DIR [--version V] [--first K] [--fail-swap F] "
            "[--spread MS] [--seconds S] [--log-level L]\n"
            "       tool_fleet groups URL N GROUPS [--first K]\n"
            "       tool_fleet observe URL N TARGET OUT [--timeout S]\n");
    return 2;
}
