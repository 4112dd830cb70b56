/*
** cli.h — the private contract between the files of kanade.exe:
**   cli.c       entry point, command line (options anywhere), command table, help
**   cli_util.c  output (console-aware, errors, progress, JSON), connection,
**               bucket opening, NATS error reporting, KV read-all and
**               compare-and-set helpers
**   cli_release.c  publish, releases
**   cli_rollout.c  rollout, current
**   cli_fleet.c    status, agents, groups, ping
**   cli_js.c       the JetStream helpers: obj list, kv get/put/del
**   cli_rollctl.c  rollout status, resume and abort
**   cli_serve.c    serve: the fleet page and JSON API (over http_server.c)
**   cli_sign.c     keygen, sign, and the release key for publish and rollout
**
** Every command returns a process exit code (CLI_OK ... CLI_UNREACH). Errors
** are printed as one stderr line where they are detected, so callers only
** pass the code up. The CLI is single-threaded; cli_g holds the parsed
** command line and the one connection.
*/
#ifndef CLI_H
#define CLI_H
#include <stddef.h>
#include <stdint.h>
#include "kv.h"
#include "nats.h"
#include "objstore.h"
#include "json.h"
#include "scope.h"
#include "sha256.h"
#include "pe_version.h"
#include "sign.h"

/* Exit codes (docs/operations.md, The CLI). */
#define CLI_OK        0
#define CLI_FAIL      1
#define CLI_USAGE     2
#define CLI_NOT_FOUND 3
#define CLI_UNREACH   4

#define CLI_MAX_POS   16
#define CLI_MAX_OPTS  128
#define CLI_MAX_IDS   256          /* scopes per rollout, groups per edit */
#define CLI_CAS_TRIES 20           /* compare-and-set attempts per key */
#define CLI_VALUE_MAX 65536        /* largest KV value we rewrite */
#define CLI_EXE_MAX   PEV_MAX_FILE /* pe_version's own limit */
#define CLI_DEFAULT_TIMEOUT_MS 5000

#define CLI_B_RELEASES "agent_releases"
#define CLI_B_CONFIG   "agent_config"
#define CLI_B_GROUPS   "agent_groups"
#define CLI_B_STATUS   "agent_status"

typedef struct cli_opt { const char *name, *val; } cli_opt;
struct cli_cmd;

/* The parsed command line and process-wide state (defined in cli.c). */
typedef struct cli_state {
    const char *servers, *user, *pass, *token, *ca, *cert, *key;
    int json, help, version;
    int64_t timeout_ms;             /* 0 = the command's default */
    int replicas;                   /* --replicas: buckets this run creates (0 = 1) */
    const char *pos[CLI_MAX_POS];   /* positional words, command words included */
    int npos;
    cli_opt opt[CLI_MAX_OPTS];      /* command options in command-line order */
    int nopt;
    const struct cli_cmd *cmd;
    int nwords;                     /* positional words naming the command */
    int con_out, con_err;           /* stdout / stderr are interactive consoles */
    nats_conn *nc;                  /* opened by cli_connect, closed by wmain */
    int reconnect;                  /* 1: cli_connect reconnects after a loss (serve) */
} cli_state;
extern cli_state cli_g;

/* ---- cli.c: command-line access for the commands */
const char *cli_arg(int i);                 /* i-th argument after the command words */
const char *cli_opt_last(const char *name); /* last value of --name, or NULL */
int cli_opt_has(const char *name);
/* Usage error "kanade: <msg>; see 'kanade <cmd> --help'"; returns CLI_USAGE. */
int cli_usage(const char *fmt, ...);
/*
** Collects the comma lists of every --opt1/--opt2 (alias, may be NULL) into
** ids[] (order kept, duplicates dropped), each checked with scope_valid_id.
** allow_empty accepts "" as no ids. Returns CLI_OK or a printed usage error.
*/
int cli_collect_ids(const char *opt1, const char *opt2, int allow_empty,
                    char ids[][SCOPE_ID_MAX + 1], int cap, int *n);

/* ---- cli_util.c: output */
void cli_out_raw(int to_err, const char *s, size_t n);
void cli_say(const char *fmt, ...);         /* stdout */
void cli_warn(const char *fmt, ...);        /* stderr, as is */
int cli_fail(int code, const char *fmt, ...); /* "kanade: <msg>" on stderr; returns code */
/* Prints "<what>: <why>; <what to do>" for a NATS/JetStream failure and
** returns the matching exit code. e may be NULL. */
int cli_fail_nats(int rc, const js_err *e, const char *fmt, ...);

/* Progress bar on an interactive console only (obj_progress_fn). total is
** the size the caller knows, used when the store reports 0 (unknown);
** last starts at -1. */
typedef struct cli_progress { const char *label; uint64_t total; int last; } cli_progress;
void cli_progress_cb(void *arg, uint64_t done, uint64_t total);
void cli_progress_end(cli_progress *p);

typedef void (*cli_render_fn)(json_w *w, void *arg);
/* Renders JSON into a growing heap buffer and prints it as one line. */
int cli_emit_json(cli_render_fn fn, void *arg);

void cli_digest_str(const unsigned char d[SHA256_LEN], char out[SHA256_DIGEST_STR_LEN]);
/* Age of unix-ms time at_ms as "3m12s"; "?" when !have. */
void cli_fmt_age(int64_t at_ms, int have, char *out, size_t cap);
/* String field of a JSON object; "" when absent, null or not a string. */
void cli_json_field(const char *js, size_t len, const char *key, char *out, size_t cap);

/* ---- cli_util.c: connection and buckets */
int cli_connect(void);                      /* cli_g.nc from the global options */
/* kanade's own KV buckets are created with their config (docs/design.md, Wire contract) on first
** use; other buckets must exist (CLI_NOT_FOUND). */
int cli_open_kv(const char *bucket, kv_bucket **out);
/* agent_releases is created on first use; other stores must exist. */
int cli_open_obj(const char *bucket, obj_store **out);

/* ---- cli_util.c: KV helpers */
typedef struct cli_kv_list { kv_entry *v; size_t n, cap; } cli_kv_list;
void cli_kv_list_free(cli_kv_list *l);
/* Every live value of the bucket; the caller frees l with cli_kv_list_free. */
int cli_kv_read_all(kv_bucket *b, const char *bucket, cli_kv_list *l);

/*
** An edit for cli_kv_cas: given the key's current value (NULL when absent),
** writes the new value (NUL-terminated) into out and returns 0, returns 1
** when nothing changes (no write), or -1 with a message in err.
*/
typedef int (*cli_cas_edit_fn)(void *arg, const char *cur, size_t len, char *out, size_t cap,
                               char *err, size_t errcap);
typedef struct cli_cas_result {
    int changed;                /* 1 when a new revision was written */
    int retries;                /* compare-and-set conflicts survived */
    uint64_t revision;          /* the revision now current */
} cli_cas_result;
/* Read-modify-write under compare-and-set, retried on a lost race. */
int cli_kv_cas(kv_bucket *b, const char *bucket, const char *key, cli_cas_edit_fn edit,
               void *arg, char *out, size_t cap, cli_cas_result *res);
int cli_valid_kv_key(const char *k);        /* NATS KV key rules; 1 = valid */

/* ---- cli_fleet.c: one agent's status document (docs/design.md, Wire
** contract), shared by agent status, agents, ping and serve */
#define CLI_STALE_MS 90000          /* agent status --stale default */
typedef struct cli_agent {
    char pc_id[256];
    char version[SCOPE_VERSION_MAX + 8], target[SCOPE_VERSION_MAX + 8];
    char target_scope[128], exe_sha256[SHA256_DIGEST_STR_LEN + 8];
    char state[32], hostname[256], error[512], at[40], quarantined[512];
    int64_t at_ms;
    int have_at;
    int64_t percent;            /* update_percent, -1 when absent */
    int64_t release_keys;       /* keys the agent holds, -1 when it does not say (older builds) */
    char target_error[512];     /* targets it ignored as unsigned or badly signed */
    const char *raw;            /* the document (owned by the kv_entry) */
    size_t raw_len;
    int raw_ok;                 /* raw parsed as a JSON object */
} cli_agent;
/* Fills a from the document in en (a keeps pointers into en->value); one
** that does not parse keeps the key, state "unknown" and an update_error. */
void cli_agent_parse(const kv_entry *en, cli_agent *a);
/* The staleness rule of agent status: no parsable "at", or older than stale_ms. */
int cli_agent_stale(const cli_agent *a, int64_t stale_ms, int64_t now);
/* failed, rolled_back or quarantined. */
int cli_agent_problem(const cli_agent *a);

/* ---- the commands, one file per family */
int cli_cmd_publish(void);          /* cli_release.c */
int cli_cmd_releases(void);
int cli_cmd_rollout(void);          /* cli_rollout.c */
int cli_cmd_current(void);
int cli_cmd_status(void);           /* cli_fleet.c */
int cli_cmd_agents(void);
int cli_cmd_groups(void);
int cli_cmd_ping(void);
int cli_cmd_obj_list(void);         /* cli_js.c */
int cli_cmd_kv_get(void);
int cli_cmd_kv_put(void);
int cli_cmd_kv_del(void);
/* Lists the live objects of bucket, newest first (obj list, releases). */
int cli_list_objects(const char *bucket);

/* ---- cli_broker.c: broker setup */
int cli_cmd_broker_config(void);
int cli_cmd_broker_init(void);

/* ---- cli_sign.c: the release key */
int cli_cmd_keygen(void);
int cli_cmd_sign(void);
/* The key of --sign-key FILE, else of env KANADE_SIGN_KEY; *have = 0 when
** neither is given. A given key that cannot be read is a printed error. */
int cli_sign_key(sig_priv *k, int *have);
/* The Kanade-Signature and Kanade-Key-Id meta headers of a release. */
int cli_release_sig_hdrs(const sig_priv *k, const char *version, uint64_t size,
                         const unsigned char d[SHA256_LEN], obj_hdr h[2]);
/* 1 when info carries a valid signature by k for this version. */
int cli_release_signed_by(const obj_info *info, const char *version, const sig_priv *k);
/* cli_broker.c: writes a new file readable and writable by its owner only. */
int cli_write_private(const char *path, const char *data, size_t len);

/* ---- cli_rollctl.c: safe rollouts (status, resume, abort) */
int cli_cmd_rollout_status(void);
int cli_cmd_rollout_resume(void);
int cli_cmd_rollout_abort(void);

/* ---- cli_serve.c: the fleet page and its API */
int cli_cmd_serve(void);
#endif
