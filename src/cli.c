/*
** cli.c — kanade.exe entry point (see docs/operations.md, The CLI): the command line,
** where global options may stand anywhere, the command table, help, and
** wmain. The commands are in cli_<family>.c (see cli.h), the shared helpers in cli_util.c;
** cli.h is the contract between the three.
*/
#include <windows.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "win.h"

cli_state cli_g;

/* Environment twins are copied here; argv strings live for the process. */
static char env_servers[2048], env_user[256], env_pass[256], env_token[1024];
static char env_ca[1024], env_cert[1024], env_key[1024];

/* ============================================================ command line */

typedef struct opt_def { const char *name; int has_val; int global; } opt_def;

/* Every option kanade knows; which command accepts which is in cli_cmd.opts. */
static const opt_def OPT_DEFS[] = {
    { "server", 1, 1 }, { "user", 1, 1 }, { "password", 1, 1 }, { "token", 1, 1 },
    { "tls-ca", 1, 1 }, { "tls-cert", 1, 1 }, { "tls-key", 1, 1 },
    { "json", 0, 1 }, { "timeout", 1, 1 }, { "replicas", 1, 1 }, { "help", 0, 1 }, { "version", 0, 1 },
    { "force", 0, 0 }, { "pcs", 1, 0 }, { "pc", 1, 0 }, { "groups", 1, 0 },
    { "group", 1, 0 }, { "global", 0, 0 }, { "jitter", 1, 0 }, { "stale", 1, 0 },
    { "set", 1, 0 }, { "add", 1, 0 }, { "remove", 1, 0 }, { "out", 1, 0 },
    { "listen", 1, 0 }, { "web-token", 1, 0 },
    { "sign-key", 1, 0 },
    { "halt-after", 1, 0 }, { "halt-ratio", 1, 0 }, { "waves", 1, 0 }, { "wave-gap", 1, 0 },
};

typedef struct cli_cmd {
    const char *words;          /* "agent publish" */
    const char *args;           /* usage after the words */
    const char *opts;           /* accepted command options, " a b " form */
    int minpos, maxpos;         /* positional arguments after the words */
    int (*run)(void);
    const char *summary;
    const char *help;
} cli_cmd;

static const cli_cmd CMDS[] = {
    { "agent publish", "<exe> [--force] [--sign-key FILE]", " force sign-key ", 1, 1, cli_cmd_publish,
      "upload a kanade-agent.exe build to agent_releases",
      "Reads the version from the file's VERSIONINFO and uploads the file to the\n"
      "object store agent_releases under that bare version. Publishing the same\n"
      "build again changes nothing. A different build under an existing version is\n"
      "refused (releases are immutable) unless --force replaces it. No target\n"
      "version is written anywhere: use 'kanade agent rollout' for that.\n"
      "--sign-key FILE (or env KANADE_SIGN_KEY) signs the release with the release\n"
      "key: meta headers Kanade-Signature and Kanade-Key-Id over its version, size\n"
      "and SHA-256. Agents with release keys run signed releases only.\n" },
    { "agent keygen", "--out FILE", " out ", 0, 0, cli_cmd_keygen,
      "make a new release key (P-256) and print its public key and key id",
      "Writes a new P-256 private key as PEM to FILE (never over an existing file;\n"
      "readable by you only) and prints the public key as P256:<base64> and its key\n"
      "id. Give the public key to agents (kanade-agent.exe install --release-key);\n"
      "keep FILE offline. Keys made by openssl (ecparam -name prime256v1 -genkey,\n"
      "or genpkey -algorithm EC) work as well.\n" },
    { "agent sign", "<version> --sign-key FILE", " sign-key ", 1, 1, cli_cmd_sign,
      "sign a release that is already in agent_releases",
      "Reads the release's bytes back (checked against its size and digest), checks\n"
      "that it is an agent build of <version>, and writes its Kanade-Signature and\n"
      "Kanade-Key-Id meta headers. The data is not uploaded again.\n" },
    { "agent rollout", "<version> (--pcs a,b | --groups g1,g2 | --global | --waves g1,g2,global) "
      "[--jitter 5m] [--halt-after N | --halt-ratio P%] [--wave-gap 1h] [--sign-key FILE]",
      " pcs pc groups group global jitter halt-after halt-ratio waves wave-gap sign-key ", 1, 1, cli_cmd_rollout,
      "set the target version for pcs, groups or the whole fleet",
      "Writes target_version (and target_version_jitter with --jitter) into each\n"
      "named scope of agent_config, keeping every other field. Exactly one scope\n"
      "kind: --pcs/--pc or --groups/--group (comma lists, repeatable) or --global.\n"
      "The version must be published in agent_releases. Writes are compare-and-set\n"
      "on the key revision, so concurrent rollouts never lose each other's fields.\n"
      "--jitter spreads each agent's swap over a random delay in [0, jitter]\n"
      "(durations like 30s, 5m, 1h30m); recommended for 100 agents or more.\n"
      "Safe rollouts (docs/rollouts.md): the rollout halts itself once --halt-after\n"
      "N hosts failed it (default 3 for --groups, --global and --waves; none for\n"
      "--pcs; 0 disables it), or --halt-ratio P% of the hosts targeted now. Agents\n"
      "that have not swapped then stay on their version in state halted. --waves\n"
      "canary,office,global targets the whole fleet (global scope) in waves: wave k\n"
      "starts --wave-gap (default 1h) after wave k-1; global = every PC not in an\n"
      "earlier wave. The scope records the version it had, for 'rollout abort'.\n"
      "--sign-key FILE (or env KANADE_SIGN_KEY) signs each scope's target for that\n"
      "scope (target_rev, target_signature, target_key_id); agents with release\n"
      "keys act only on signed targets.\n" },
    { "agent rollout status", "[<version>]", " ", 0, 1, cli_cmd_rollout_status,
      "safe rollouts: halt state, agent states, failed hosts and waves per target",
      "For each target version in agent_config (or just <version>): whether its\n"
      "rollout is halted and why, the halt policy and the scopes that set it, how\n"
      "many agents are in each update state, which hosts failed with their reasons\n"
      "(failure records in agent_rollouts), and each wave of its plan: when it\n"
      "starts and how many of its hosts run the version. With --json too.\n" },
    { "agent rollout resume", "<version>", " ", 1, 1, cli_cmd_rollout_resume,
      "clear the halt of a rollout",
      "The failures recorded so far for <version> stop counting: agents held in\n"
      "state halted swap at their next check, and the rollout halts again only when\n"
      "the threshold is reached by new failures.\n" },
    { "agent rollout abort", "<version> [--sign-key FILE]", " sign-key ", 1, 1, cli_cmd_rollout_abort,
      "set every scope that targets <version> back to the version it had before",
      "Each scope of agent_config whose target_version is <version> gets the\n"
      "previous_version the rollout recorded when it overwrote it (or no target if\n"
      "it had none), compare-and-set. Agents that already swapped go back to their\n"
      ".old build without a download. A signed target needs --sign-key FILE (or env\n"
      "KANADE_SIGN_KEY): the restored target is signed for its scope; without a key\n"
      "a signed scope is refused, since agents with release keys would ignore it.\n" },
    { "agent current", "", " ", 0, 0, cli_cmd_current,
      "show the global target version and every scope that sets one",
      "Prints the global target, then each group and pc scope in agent_config that\n"
      "sets target_version, with the jitter it sets (or inherits from global).\n" },
    { "agent status", "[--stale 90s]", " stale ", 0, 0, cli_cmd_status,
      "fleet summary from agent_status: versions, update states, stale and failed agents",
      "Reads every agent's latest status from agent_status and prints the version\n"
      "distribution, the count per update state, agents whose last heartbeat is\n"
      "older than --stale (default 90s), and agents that failed, rolled back or\n"
      "quarantined a version, with their update_error.\n" },
    { "agents", "", " ", 0, 0, cli_cmd_agents,
      "one line per agent: version, target, update state, heartbeat age",
      "Lists agent_status: pc_id, agent_version, target_version, update_state and\n"
      "the age of the last heartbeat.\n" },
    { "agent groups", "<pc_id> [--set a,b | --add g | --remove g]", " set add remove ", 1, 1,
      cli_cmd_groups, "show or edit a pc's groups in agent_groups",
      "Without options, shows the pc's groups. --set replaces them (--set \"\" clears),\n"
      "--add and --remove (comma lists, repeatable) edit them. The list is stored\n"
      "sorted and deduplicated, written with compare-and-set.\n" },
    { "agent releases", "", " ", 0, 0, cli_cmd_releases,
      "list published agent versions, newest first",
      "Name, size, digest, modification time and the key id of the release key\n"
      "that signed it (or 'unsigned'), newest first.\n" },
    { "ping", "<pc_id> [--timeout 5s]", " ", 1, 1, cli_cmd_ping,
      "ask one agent for a fresh heartbeat",
      "Sends a request on agents.<pc_id>.ping and prints the agent's answer and the\n"
      "round-trip time. Exit 4 when no agent answers within --timeout (default 5s).\n" },
    { "broker init", "[--replicas N]", " ", 0, 0, cli_cmd_broker_init,
      "create every bucket kanade uses, with its settings; report existing ones that differ",
      "Creates agent_config, agent_groups, agent_status, agent_rollouts (KV) and\n"
      "agent_releases (object store) with their history, max_age and allow_direct\n"
      "(agents read with direct gets), and --replicas stream replicas (default 1).\n"
      "A bucket that exists is never changed: each setting that differs is printed\n"
      "on its own line and the command exits 1. Running it again is harmless.\n"
      "Agents do not create buckets: run this once before the first agent starts.\n" },
    { "serve", "[--listen 127.0.0.1:8080] [--web-token T] [--stale 90s]", " listen web-token stale ", 0, 0,
      cli_cmd_serve, "serve the live fleet page and its JSON API over HTTP",
      "Serves the fleet page (versions, update states, rollouts in progress,\n"
      "failures, every agent) and the read-only JSON API of docs/api.md, kept live\n"
      "from KV watches of agent_status, agent_groups and agent_config. Listens on\n"
      "--listen (default 127.0.0.1:8080; port 0 picks a free one) and prints the\n"
      "URL. Any address other than loopback needs --web-token (or KANADE_WEB_TOKEN):\n"
      "the API then wants 'Authorization: Bearer <token>' and the page asks for it\n"
      "once. (--token is the broker's token, as for every command.) --stale sets\n"
      "when an agent counts as stale, as in 'agent status'. One line per request\n"
      "on stderr: method, path, status, bytes, ms. Ctrl-C stops it.\n" },
    { "broker config", "--pcs FILE|a,b,c --out DIR", " pcs out ", 0, 0, cli_cmd_broker_config,
      "write a least-privilege nats-server.conf, the operator's and each pc's credentials",
      "Writes DIR/nats-server.conf (two accounts: FLEET holds JetStream and the\n"
      "operator; AGENTS holds one user per pc, allowed to read only its own config\n"
      "keys and releases and to write only its own status, heartbeat and failure\n"
      "records), DIR/operator.env (KANADE_NATS_USER=, KANADE_NATS_PASSWORD=) and\n"
      "DIR/agents/<pc_id>.auth (user=, password=) for 'kanade-agent install\n"
      "--auth-file'. --pcs is a file (ids separated by commas, spaces or lines;\n"
      "'#' comments) or a comma list. Passwords come from the system RNG; files are\n"
      "readable by their owner only. Running it again keeps every existing\n"
      "password and adds the new pcs. No broker is contacted.\n" },
    { "jetstream object list", "<bucket>", " ", 1, 1, cli_cmd_obj_list,
      "list the objects of an object store, newest first",
      "Lists name, size, digest and modification time of each live object.\n" },
    { "jetstream kv get", "<bucket> <key>", " ", 2, 2, cli_cmd_kv_get,
      "print the value of a KV key",
      "Prints the value as stored (with --json: value, revision and time).\n" },
    { "jetstream kv put", "<bucket> <key> <value|->", " ", 3, 3, cli_cmd_kv_put,
      "write a KV key ('-' reads the value from stdin)",
      "Writes the value unconditionally. kanade's own buckets are created on first\n"
      "use; other buckets must exist.\n" },
    { "jetstream kv del", "<bucket> <key>", " ", 2, 2, cli_cmd_kv_del,
      "delete a KV key", "Writes a delete marker for the key; exit 3 if it holds no value.\n" },
};
#define NCMDS ((int)(sizeof CMDS / sizeof CMDS[0]))

static const char GLOBAL_HELP[] =
    "global options (before or after the command):\n"
    "  --server URL[,URL]      NATS servers (env KANADE_NATS_URL, then NATS_URL;\n"
    "                          default nats://127.0.0.1:4222)\n"
    "  --user U --password P   user/password auth (KANADE_NATS_USER, KANADE_NATS_PASSWORD)\n"
    "  --token T               token auth (KANADE_NATS_TOKEN)\n"
    "  --tls-ca FILE           PEM trust anchors for tls:// servers (KANADE_TLS_CA)\n"
    "  --tls-cert FILE --tls-key FILE   client certificate (KANADE_TLS_CERT, KANADE_TLS_KEY)\n"
    "  --json                  machine-readable output\n"
    "  --timeout DUR           connect/answer timeout, e.g. 5s (default 5s)\n"
    "  --replicas N            a bucket this command creates gets N replicas (a JetStream\n"
    "                          cluster; default 1); existing buckets are used as they are\n"
    "  --help, --version\n"
    "\n"
    "exit codes: 0 ok, 1 failed, 2 usage error, 3 not found, 4 timeout or unreachable\n";

static int word_count(const char *words)
{
    int n = 1;
    for (; *words; words++) n += *words == ' ';
    return n;
}

/* 1 when the first k positional words equal the first k words of `words`. */
static int words_match(const char *words, int k)
{
    int i;
    for (i = 0; i < k; i++) {
        const char *sp = strchr(words, ' ');
        size_t len = sp ? (size_t)(sp - words) : strlen(words);
        if (i >= cli_g.npos || strlen(cli_g.pos[i]) != len || memcmp(cli_g.pos[i], words, len) != 0) return 0;
        if (!sp) return i == k - 1;
        words = sp + 1;
    }
    return 1;
}

static void print_cmd_help(const cli_cmd *c)
{
    cli_say("usage: kanade %s%s%s\n\n%s.\n\n%s\n%s", c->words, c->args[0] ? " " : "", c->args,
            c->summary, c->help, GLOBAL_HELP);
}

/* Top-level help, or the commands under a prefix such as "agent". */
static void print_help(int prefix_words)
{
    int i;
    cli_say("kanade — operator CLI for Kanade agent self-update\n\n"
            "usage: kanade [global options] <command> [arguments]\n\ncommands:\n");
    for (i = 0; i < NCMDS; i++) {
        if (prefix_words > 0 && !words_match(CMDS[i].words, prefix_words)) continue;
        cli_say("  kanade %s%s%s\n      %s\n", CMDS[i].words, CMDS[i].args[0] ? " " : "", CMDS[i].args,
                CMDS[i].summary);
    }
    cli_say("\n'kanade <command> --help' explains one command.\n\n%s", GLOBAL_HELP);
}

int cli_usage(const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (cli_g.cmd) cli_warn("kanade: %s; see 'kanade %s --help'\n", msg, cli_g.cmd->words);
    else cli_warn("kanade: %s; see 'kanade --help'\n", msg);
    return CLI_USAGE;
}

/* Timeouts: a duration ("5s", "1m") or a bare number of seconds. */
static int parse_timeout(const char *s, int64_t *ms)
{
    const char *p = s;
    if (*p) {
        int64_t v = 0;
        while (*p >= '0' && *p <= '9' && v < 1000000) v = v * 10 + (*p++ - '0');
        if (*p == 0) { *ms = v * 1000; return *ms > 0 ? 0 : 1; }
    }
    if (scope_parse_duration(s, ms) != SCOPE_OK || *ms <= 0) return 1;
    return 0;
}

static const opt_def *find_opt(const char *name, size_t len)
{
    size_t i;
    for (i = 0; i < sizeof OPT_DEFS / sizeof OPT_DEFS[0]; i++)
        if (strlen(OPT_DEFS[i].name) == len && memcmp(OPT_DEFS[i].name, name, len) == 0)
            return &OPT_DEFS[i];
    return NULL;
}

static void set_global(const char *name, const char *val)
{
    if (!strcmp(name, "server")) cli_g.servers = val;
    else if (!strcmp(name, "user")) cli_g.user = val;
    else if (!strcmp(name, "password")) cli_g.pass = val;
    else if (!strcmp(name, "token")) cli_g.token = val;
    else if (!strcmp(name, "tls-ca")) cli_g.ca = val;
    else if (!strcmp(name, "tls-cert")) cli_g.cert = val;
    else if (!strcmp(name, "tls-key")) cli_g.key = val;
    else if (!strcmp(name, "json")) cli_g.json = 1;
    else if (!strcmp(name, "help")) cli_g.help = 1;
    else if (!strcmp(name, "version")) cli_g.version = 1;
}

/*
** Splits argv (UTF-8) into global options, command options and positional
** words. Options may stand anywhere; "--" ends option parsing. Returns
** CLI_OK or a usage error (printed). The strings stay owned by argv.
*/
static int parse_args(int argc, char **argv)
{
    int i, only_pos = 0;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *name, *eq, *val = NULL;
        const opt_def *d;
        size_t len;
        if (only_pos || a[0] != '-' || a[1] == 0) {
            if (cli_g.npos >= CLI_MAX_POS) return cli_usage("too many arguments");
            cli_g.pos[cli_g.npos++] = a;
            continue;
        }
        if (!strcmp(a, "--")) { only_pos = 1; continue; }
        if (!strcmp(a, "-h")) { cli_g.help = 1; continue; }
        if (a[1] != '-') return cli_usage("unknown option '%s' (options start with --)", a);
        name = a + 2;
        eq = strchr(name, '=');
        len = eq ? (size_t)(eq - name) : strlen(name);
        d = find_opt(name, len);
        if (!d) return cli_usage("unknown option '%.*s'", (int)len + 2, a);
        if (d->has_val) {
            if (eq) val = eq + 1;
            else if (i + 1 < argc) val = argv[++i];
            else return cli_usage("option --%s needs a value", d->name);
        } else if (eq) {
            return cli_usage("option --%s takes no value", d->name);
        }
        if (d->global) {
            set_global(d->name, val);
            if (!strcmp(d->name, "timeout") && parse_timeout(val, &cli_g.timeout_ms))
                return cli_usage("--timeout '%s' is not a duration like 5s or 1m", val);
            if (!strcmp(d->name, "replicas")) {
                char *end = NULL;
                long r = strtol(val, &end, 10);
                if (!val[0] || *end || r < 1 || r > 5)
                    return cli_usage("--replicas '%s' is not a number from 1 to 5", val);
                cli_g.replicas = (int)r;
            }
        } else {
            if (cli_g.nopt >= CLI_MAX_OPTS) return cli_usage("too many options");
            cli_g.opt[cli_g.nopt].name = d->name;
            cli_g.opt[cli_g.nopt].val = val ? val : "";
            cli_g.nopt++;
        }
    }
    return CLI_OK;
}

/* Picks the command whose words are the longest match of the positionals. */
static const cli_cmd *match_cmd(int *nwords)
{
    const cli_cmd *best = NULL;
    int i, bestn = 0;
    for (i = 0; i < NCMDS; i++) {
        int k = word_count(CMDS[i].words);
        if (k > bestn && words_match(CMDS[i].words, k)) { best = &CMDS[i]; bestn = k; }
    }
    *nwords = bestn;
    return best;
}

/* How many leading positionals form a prefix of some command ("agent"). */
static int prefix_len(void)
{
    int i, k, best = 0;
    for (i = 0; i < NCMDS; i++)
        for (k = 1; k <= word_count(CMDS[i].words); k++)
            if (words_match(CMDS[i].words, k) && k > best) best = k;
    return best;
}

const char *cli_opt_last(const char *name)
{
    int i;
    const char *v = NULL;
    for (i = 0; i < cli_g.nopt; i++) if (!strcmp(cli_g.opt[i].name, name)) v = cli_g.opt[i].val;
    return v;
}

int cli_opt_has(const char *name) { return cli_opt_last(name) != NULL; }

/* The i-th positional argument after the command words. */
const char *cli_arg(int i) { return cli_g.pos[cli_g.nwords + i]; }

/* Fills the connection globals from the environment where no flag gave them. */
static void apply_env(void)
{
    if (!cli_g.servers) {
        if (win_getenv("KANADE_NATS_URL", env_servers, sizeof env_servers) == 0 && env_servers[0])
            cli_g.servers = env_servers;
        else if (win_getenv("NATS_URL", env_servers, sizeof env_servers) == 0 && env_servers[0])
            cli_g.servers = env_servers;
        else
            cli_g.servers = "nats://127.0.0.1:4222";
    }
    if (!cli_g.user && win_getenv("KANADE_NATS_USER", env_user, sizeof env_user) == 0) cli_g.user = env_user;
    if (!cli_g.pass && win_getenv("KANADE_NATS_PASSWORD", env_pass, sizeof env_pass) == 0) cli_g.pass = env_pass;
    if (!cli_g.token && win_getenv("KANADE_NATS_TOKEN", env_token, sizeof env_token) == 0) cli_g.token = env_token;
    if (!cli_g.ca && win_getenv("KANADE_TLS_CA", env_ca, sizeof env_ca) == 0) cli_g.ca = env_ca;
    if (!cli_g.cert && win_getenv("KANADE_TLS_CERT", env_cert, sizeof env_cert) == 0) cli_g.cert = env_cert;
    if (!cli_g.key && win_getenv("KANADE_TLS_KEY", env_key, sizeof env_key) == 0) cli_g.key = env_key;
}

/*
** Appends the comma-separated ids in list to ids[] (order kept, duplicates
** dropped), checking each against the id rules (docs/design.md, Wire contract). An empty list is allowed only
** when allow_empty. Returns CLI_OK or a printed usage error.
*/
static int add_ids(const char *opt, const char *list, int allow_empty,
                   char ids[][SCOPE_ID_MAX + 1], int cap, int *n)
{
    const char *p = list;
    if (*p == 0 && allow_empty) return CLI_OK;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char id[SCOPE_ID_MAX + 1];
        int j;
        if (len == 0) return cli_usage("--%s has an empty name in '%s'", opt, list);
        if (len > SCOPE_ID_MAX)
            return cli_usage("--%s: '%.*s...' is longer than %d characters", opt, 20, p, SCOPE_ID_MAX);
        memcpy(id, p, len);
        id[len] = 0;
        if (!scope_valid_id(id))
            return cli_usage("--%s: '%s' is not a valid name (letters, digits, '_' and '-' only)", opt, id);
        for (j = 0; j < *n && strcmp(ids[j], id) != 0; j++) {}
        if (j == *n) {
            if (*n >= cap) return cli_usage("--%s: more than %d names", opt, cap);
            memcpy(ids[(*n)++], id, len + 1);
        }
        if (!comma) break;
        p = comma + 1;
    }
    return CLI_OK;
}

/* Collects every value of the given options (aliases) into ids[]. */
int cli_collect_ids(const char *opt1, const char *opt2, int allow_empty,
                       char ids[][SCOPE_ID_MAX + 1], int cap, int *n)
{
    int i, rc;
    for (i = 0; i < cli_g.nopt; i++) {
        if (strcmp(cli_g.opt[i].name, opt1) != 0 && !(opt2 && !strcmp(cli_g.opt[i].name, opt2))) continue;
        if ((rc = add_ids(cli_g.opt[i].name, cli_g.opt[i].val, allow_empty, ids, cap, n)) != CLI_OK) return rc;
    }
    return CLI_OK;
}

static int is_console(DWORD which)
{
    DWORD mode;
    return GetConsoleMode(GetStdHandle(which), &mode) != 0;
}

/* Dispatches the parsed command line; returns the exit code. */
static int run(int argc, char **argv)
{
    int code, i, nposargs;
    if ((code = parse_args(argc, argv)) != CLI_OK) return code;
    if (cli_g.npos > 0 && !strcmp(cli_g.pos[0], "help")) {
        /* "kanade help agent rollout" == "kanade agent rollout --help" */
        memmove(cli_g.pos, cli_g.pos + 1, (size_t)(cli_g.npos - 1) * sizeof cli_g.pos[0]);
        cli_g.npos--;
        cli_g.help = 1;
    }
    if (cli_g.version && cli_g.npos == 0) {
        char v[80];
        if (win_self_version(v, sizeof v) != 0)
            return cli_fail(CLI_FAIL, "cannot read my own version: %s", win_last_error());
        cli_say("kanade %s\n", v);
        return CLI_OK;
    }
    cli_g.cmd = match_cmd(&cli_g.nwords);
    if (cli_g.help) {
        if (cli_g.cmd) print_cmd_help(cli_g.cmd);
        else print_help(prefix_len());
        return CLI_OK;
    }
    if (cli_g.npos == 0) return cli_usage("no command given");
    if (!cli_g.cmd) {
        int k = prefix_len(), j;
        char prefix[128] = "";
        size_t o = 0;
        if (k == 0) return cli_usage("unknown command '%s'", cli_g.pos[0]);
        for (j = 0; j < k && o < sizeof prefix; j++)
            o += (size_t)snprintf(prefix + o, sizeof prefix - o, "%s%s", j ? " " : "", cli_g.pos[j]);
        if (k < cli_g.npos)
            cli_warn("kanade: unknown command '%s %s'; see 'kanade %s --help'\n", prefix, cli_g.pos[k], prefix);
        else
            cli_warn("kanade: '%s' needs a subcommand; see 'kanade %s --help'\n", prefix, prefix);
        return CLI_USAGE;
    }
    if (cli_g.version) return cli_usage("--version takes no command");
    for (i = 0; i < cli_g.nopt; i++) {
        char pat[40];
        snprintf(pat, sizeof pat, " %s ", cli_g.opt[i].name);
        if (!strstr(cli_g.cmd->opts, pat)) return cli_usage("option --%s does not apply here", cli_g.opt[i].name);
    }
    nposargs = cli_g.npos - cli_g.nwords;
    if (nposargs < cli_g.cmd->minpos) return cli_usage("missing argument: kanade %s %s", cli_g.cmd->words, cli_g.cmd->args);
    if (nposargs > cli_g.cmd->maxpos) return cli_usage("unexpected argument '%s'", cli_g.pos[cli_g.nwords + cli_g.cmd->maxpos]);
    apply_env();
    return cli_g.cmd->run();
}

int wmain(int argc, wchar_t **argv)
{
    char **u;
    int i, code;
    cli_g.con_out = is_console(STD_OUTPUT_HANDLE);
    cli_g.con_err = is_console(STD_ERROR_HANDLE);
    u = calloc((size_t)argc + 1, sizeof *u);
    if (!u) return cli_fail(CLI_FAIL, "out of memory");
    for (i = 0; i < argc; i++) {
        size_t cap = wcslen(argv[i]) * 3 + 1;
        if ((u[i] = malloc(cap)) == NULL) return cli_fail(CLI_FAIL, "out of memory");
        if (win_to_utf8(argv[i], u[i], cap) != 0)
            return cli_fail(CLI_USAGE, "argument %d is not valid Unicode", i);
    }
    code = run(argc, u);
    nats_close(cli_g.nc);
    cli_g.nc = NULL;
    for (i = 0; i < argc; i++) free(u[i]);
    free(u);
    fflush(stdout);
    return code;
}
