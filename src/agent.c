/*
** agent.c — kanade-agent.exe's entry point: the subcommands.
**
**   install --config PATH [--nats-url URL] [--id ID] [--ca-file FILE]
**           [--token TOKEN | --auth-file FILE] [--force-config]
**   uninstall [--purge]
**   service --config PATH     the SCM's entry (binPath); not for consoles
**   run --config PATH         the same agent in a console; Ctrl+C stops it
**   --version | --help
**   --swap ...                the self-update helper (upd_swap.c)
**   --swap-watch ...          its watchdog (upd_swap.c)
**
** The agent itself lives in agent_run.c and the SCM plumbing in service.c;
** this file only turns command lines into calls and prints the outcome.
** Exit codes: 0 ok, 1 failed, 2 usage or config error.
*/
#include <windows.h>
#include <aclapi.h>
#include <sddl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "agent_run.h"
#include "broker_conf.h"
#include "conf.h"
#include "fsec.h"
#include "trust.h"
#include "log.h"
#include "scope.h"
#include "service.h"
#include "update.h"
#include "url.h"
#include "win.h"

#define EXIT_OK    0
#define EXIT_FAIL  1
#define EXIT_USAGE 2

#define PATH_U8 (WIN_PATH_MAX * 3)   /* a UTF-8 path buffer */

static const char usage_text[] =
    "usage: kanade-agent <command> [options]\n"
    "\n"
    "  install --config PATH [--nats-url URL] [--id ID] [--ca-file FILE]\n"
    "          [--token TOKEN | --auth-file FILE] [--force-config] [--allow-plaintext]\n"
    "          [--release-key P256:... ...]\n"
    "      Creates %ProgramData%\\Kanade\\{config,data,logs}, writes the config when\n"
    "      it does not exist yet (or with --force-config), checks it, and registers\n"
    "      the service KanadeAgent (automatic start, restart on failure). Running it\n"
    "      again updates the service. A nats:// URL to another machine without\n"
    "      --ca-file is refused unless --allow-plaintext is given. --auth-file reads\n"
    "      the PC's user= and password= ('kanade broker config' writes one per PC);\n"
    "      the user is the PC id (--id, when given, must match it). --release-key\n"
    "      (repeatable, up to 4) sets [update] release_keys: the agent then runs only\n"
    "      releases and targets signed by one of them ('kanade agent keygen').\n"
    "  uninstall [--purge]\n"
    "      Stops and deletes the service; --purge also deletes %ProgramData%\\Kanade.\n"
    "  run [--config PATH]\n"
    "      Runs the agent in this console (logs echoed); Ctrl+C stops it. It verifies\n"
    "      updates but never swaps itself.\n"
    "  service [--config PATH]\n"
    "      The entry point the Service Control Manager starts.\n"
    "  --version    prints the version from the exe's VERSIONINFO\n"
    "\n"
    "The config defaults to %ProgramData%\\Kanade\\config\\agent.conf.\n";

/* ---- arguments -------------------------------------------------------- */

typedef struct args {
    int argc;
    char **argv;                 /* UTF-8 copies, owned */
} args;

/* Converts the wide command line to UTF-8. Returns 0, or 1 when a value
** cannot be converted (it cannot come from a valid Windows command line). */
static int args_load(args *a, int argc, wchar_t **wargv)
{
    int i;
    a->argc = 0;
    a->argv = calloc((size_t)argc + 1, sizeof *a->argv);
    if (!a->argv) return 1;
    for (i = 0; i < argc; i++) {
        size_t cap = wcslen(wargv[i]) * 3 + 1;
        a->argv[i] = malloc(cap);
        if (!a->argv[i] || win_to_utf8(wargv[i], a->argv[i], cap) != 0) return 1;
        a->argc = i + 1;
    }
    return 0;
}

static void args_free(args *a)
{
    int i;
    for (i = 0; i < a->argc; i++) free(a->argv[i]);
    free(a->argv);
}

/* The options a command accepts: a name, whether it takes a value, and
** where the value goes. Flags store "1". */
typedef struct opt {
    const char *name;
    int has_value;
    const char **value;
} opt;

/*
** Parses argv[first..] against opts ("--name VALUE", "--name=VALUE",
** "--flag"). Returns 0, or EXIT_USAGE after printing one line naming the
** bad argument.
*/
static int parse_opts(const args *a, int first, const opt *opts, int nopts, const char *cmd)
{
    int i, j;
    for (i = first; i < a->argc; i++) {
        const char *arg = a->argv[i], *eq = strchr(arg, '=');
        size_t nl = eq ? (size_t)(eq - arg) : strlen(arg);
        for (j = 0; j < nopts; j++)
            if (strlen(opts[j].name) == nl && strncmp(arg, opts[j].name, nl) == 0) break;
        if (j == nopts) {
            fprintf(stderr, "kanade-agent %s: unknown argument \"%s\" (see kanade-agent --help)\n", cmd, arg);
            return EXIT_USAGE;
        }
        if (!opts[j].has_value) {
            if (eq) { fprintf(stderr, "kanade-agent %s: %s takes no value\n", cmd, opts[j].name); return EXIT_USAGE; }
            *opts[j].value = "1";
        } else if (eq) {
            *opts[j].value = eq + 1;
        } else if (i + 1 < a->argc) {
            *opts[j].value = a->argv[++i];
        } else {
            fprintf(stderr, "kanade-agent %s: %s needs a value\n", cmd, opts[j].name);
            return EXIT_USAGE;
        }
        if (opts[j].has_value && !**opts[j].value) {
            fprintf(stderr, "kanade-agent %s: %s is empty\n", cmd, opts[j].name);
            return EXIT_USAGE;
        }
    }
    return 0;
}

/*
** Every --release-key value (the option is repeatable; parse_opts keeps
** only the last) as a comma list in out, checked. 0, or EXIT_USAGE after
** printing why.
*/
static int collect_release_keys(const args *a, char *out, size_t cap)
{
    sig_pub k[SIG_MAX_KEYS];
    char err[200];
    size_t n = 0;
    int i, nk = 0;
    out[0] = 0;
    for (i = 2; i < a->argc; i++) {
        const char *arg = a->argv[i], *v = NULL;
        if (strncmp(arg, "--release-key=", 14) == 0) v = arg + 14;
        else if (strcmp(arg, "--release-key") == 0 && i + 1 < a->argc) v = a->argv[++i];
        if (!v) continue;
        if (n + strlen(v) + 2 > cap) {
            fprintf(stderr, "kanade-agent install: more than %d release keys\n", SIG_MAX_KEYS);
            return EXIT_USAGE;
        }
        n += (size_t)snprintf(out + n, cap - n, "%s%s", n ? "," : "", v);
    }
    if (trust_parse_keys(out, k, SIG_MAX_KEYS, &nk, err, sizeof err) != TRUST_OK) {
        fprintf(stderr, "kanade-agent install: --release-key %s\n", err);
        return EXIT_USAGE;
    }
    return 0;
}

/* ---- paths ------------------------------------------------------------ */

/* %ProgramData%\Kanade into out. 0 = ok. */
static int kanade_root(char *out, size_t cap)
{
    char pd[PATH_U8];
    if (win_program_data(pd, sizeof pd) != 0) return 1;
    return snprintf(out, cap, "%s\\Kanade", pd) >= (int)cap;
}

/* An absolute form of path (the service does not run in our current
** folder, so a relative path in binPath or agent.conf would break). */
static int full_path(const char *path, char *out, size_t cap)
{
    wchar_t w[WIN_PATH_MAX], full[WIN_PATH_MAX];
    DWORD n;
    if (win_to_wide(path, w, WIN_PATH_MAX) != 0) {
        win_err_set("path is not valid UTF-8 or too long: %s", path);
        return 1;
    }
    n = GetFullPathNameW(w, WIN_PATH_MAX, full, NULL);
    if (n == 0 || n >= WIN_PATH_MAX) { win_err("GetFullPathNameW", path); return 1; }
    return win_to_utf8(full, out, cap);
}

/* The --config value made absolute, or the default path. */
static int config_path(const char *given, char *out, size_t cap)
{
    char root[PATH_U8];
    if (given) return full_path(given, out, cap);
    if (kanade_root(root, sizeof root) != 0) return 1;
    return snprintf(out, cap, "%s\\config\\agent.conf", root) >= (int)cap;
}

/*
** 1 after printing why, when path exists and another account than SYSTEM,
** Administrators (or this administrator) owns it: whoever created
** %ProgramData%\Kanade before install, or after a purge, may have planted
** a config, an update job or a helper copy the service would trust.
*/
static int foreign_owner(const char *cmd, const char *path)
{
    char who[300];
    int rc = fsec_owner_untrusted(path, who, sizeof who);
    if (rc == 0) return 0;
    if (rc < 0) fprintf(stderr, "kanade-agent %s: cannot read the owner of %s: %s\n", cmd, path, win_last_error());
    else fprintf(stderr, "kanade-agent %s: %s is owned by %s, not SYSTEM or Administrators: "
                 "another account may have put files in it; delete it (or take ownership) "
                 "and try again\n", cmd, path, who);
    return 1;
}

/* The folder part of path (up to the last backslash) into out. */
static void dir_of(const char *path, char *out, size_t cap)
{
    const char *s = strrchr(path, '\\');
    size_t n = s ? (size_t)(s - path) : 0;
    if (n >= cap) n = cap - 1;
    memcpy(out, path, n);
    out[n] = 0;
}

/*
** Deletes dir and everything under it. A reparse point (junction, link)
** is removed itself, never followed. Returns 0 when dir is gone (or was
** never there), else 1 with the first error recorded.
*/
static int rm_tree(const wchar_t *dir)
{
    wchar_t pat[WIN_PATH_MAX], child[WIN_PATH_MAX];
    WIN32_FIND_DATAW fd;
    HANDLE h;
    int rc = 0, n;
    DWORD attr = GetFileAttributesW(dir);
    if (attr == INVALID_FILE_ATTRIBUTES) return 0;
    if (!(attr & FILE_ATTRIBUTE_REPARSE_POINT)) {
        n = _snwprintf(pat, WIN_PATH_MAX, L"%ls\\*", dir);
        h = n < 0 || n >= WIN_PATH_MAX ? INVALID_HANDLE_VALUE : FindFirstFileW(pat, &fd);
        if (h != INVALID_HANDLE_VALUE) {
            do {
                if (wcscmp(fd.cFileName, L".") == 0 || wcscmp(fd.cFileName, L"..") == 0) continue;
                /* A name that does not fit is left alone (and reported):
                ** acting on a truncated path could hit another file. */
                n = _snwprintf(child, WIN_PATH_MAX, L"%ls\\%ls", dir, fd.cFileName);
                if (n < 0 || n >= WIN_PATH_MAX) {
                    if (!rc) win_err_set("path too long under the folder being deleted");
                    rc = 1;
                    continue;
                }
                if (fd.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) {
                    if (rm_tree(child) != 0) rc = 1;
                } else {
                    if (fd.dwFileAttributes & FILE_ATTRIBUTE_READONLY)
                        SetFileAttributesW(child, FILE_ATTRIBUTE_NORMAL);
                    if (!DeleteFileW(child)) {
                        char u[PATH_U8];
                        win_to_utf8(child, u, sizeof u);
                        if (!rc) win_err("DeleteFileW", u);
                        rc = 1;
                    }
                }
            } while (FindNextFileW(h, &fd));
            FindClose(h);
        }
    }
    if (!RemoveDirectoryW(dir)) {
        char u[PATH_U8];
        win_to_utf8(dir, u, sizeof u);
        if (!rc) win_err("RemoveDirectoryW", u);
        rc = 1;
    }
    return rc;
}

/* ---- commands --------------------------------------------------------- */

static int cmd_version(void)
{
    char v[80];
    if (win_self_version(v, sizeof v) != 0) {
        fprintf(stderr, "kanade-agent: cannot read own version: %s\n", win_last_error());
        return EXIT_FAIL;
    }
    printf("kanade-agent %s\n", v);
    return EXIT_OK;
}

/* Copies an install option into its conf field. Returns 1, or 0 after
** printing why when it does not fit (never silently truncated). */
static int put_field(const char *opt, const char *val, char *field, size_t cap)
{
    size_t n = val ? strlen(val) : 0;
    if (n >= cap) {
        fprintf(stderr, "kanade-agent install: %s is longer than %u bytes\n", opt, (unsigned)cap - 1);
        return 0;
    }
    if (n) memcpy(field, val, n);
    field[n] = 0;
    return 1;
}

/*
** Writes a fresh agent.conf from the install options. The caller checked
** that nats_url is given and the id is valid. Returns 0, or 1 with a line
** printed.
*/
static int write_config(const char *path, const char *nats_url, const char *id,
                        const char *ca_file, const char *token, const bcf_user *auth,
                        const char *keys)
{
    conf c;
    char text[4096], dir[PATH_U8];
    conf_defaults(&c);
    if (!put_field("--nats-url", nats_url, c.nats_url, sizeof c.nats_url)
        || !put_field("--id", id, c.id, sizeof c.id)
        || !put_field("--ca-file", ca_file, c.ca_file, sizeof c.ca_file)
        || !put_field("--token", token, c.token, sizeof c.token)
        || !put_field("--auth-file user", auth ? auth->name : NULL, c.user, sizeof c.user)
        || !put_field("--auth-file password", auth ? auth->pass : NULL, c.password, sizeof c.password)
        || !put_field("--release-key", keys, c.release_keys, sizeof c.release_keys))
        return 1;
    if (conf_write(&c, text, sizeof text) != CONF_OK) {
        fprintf(stderr, "kanade-agent install: cannot render the config (a value is invalid "
                "or too long)\n");
        return 1;
    }
    dir_of(path, dir, sizeof dir);
    if (dir[0] && win_mkdirs(dir) != 0) {
        fprintf(stderr, "kanade-agent install: cannot create %s: %s\n", dir, win_last_error());
        return 1;
    }
    if (win_write_atomic(path, text, strlen(text)) != 0) {
        fprintf(stderr, "kanade-agent install: cannot write %s: %s\n", path, win_last_error());
        return 1;
    }
    return 0;
}

/*
** Reads an .auth file of `kanade broker config` into *u and checks it
** against --id: the broker grants this credential the rights of PC
** <user> only, so the agent must run under that id. Returns 0, or
** EXIT_USAGE after printing why.
*/
static int read_auth_file(const char *path, const char **id, bcf_user *u)
{
    char *t = NULL;
    size_t len = 0;
    int rc;
    if (win_read_all(path, 4096, &t, &len) != 0) {
        fprintf(stderr, "kanade-agent install: --auth-file %s cannot be read: %s\n", path, win_last_error());
        return EXIT_USAGE;
    }
    rc = bcf_parse_auth(t, len, u);
    SecureZeroMemory(t, len);
    free(t);
    if (rc != 0 || !scope_valid_id(u->name)) {
        fprintf(stderr, "kanade-agent install: --auth-file %s is not an .auth file (two lines, "
                "user=<pc id> and password=<letters and digits>)\n", path);
        return EXIT_USAGE;
    }
    if (*id && strcmp(*id, u->name) != 0) {
        fprintf(stderr, "kanade-agent install: --auth-file %s is pc %s's credential but --id is %s: "
                "the broker lets it act only as %s\n", path, u->name, *id, u->name);
        return EXIT_USAGE;
    }
    *id = u->name;
    return 0;
}

/* 1 after printing why, when the URL list would carry the token, the
** config and the binaries in the clear to another machine. */
static int plaintext_refused(const char *urls, int has_ca)
{
    char first[256];
    if (!url_plaintext_remote(urls, has_ca, first, sizeof first)) return 0;
    fprintf(stderr, "kanade-agent install: %s is plaintext to a non-loopback host: use tls:// "
            "with --ca-file, or pass --allow-plaintext\n", first);
    return 1;
}

/* What `install` was given, checked, and the paths it works on. */
typedef struct install_req {
    const char *config, *url, *id, *ca, *token, *force, *plain, *auth_file, *key;
    char keys[sizeof ((conf *)0)->release_keys * 2];   /* every --release-key, a comma list */
    bcf_user auth;                                     /* --auth-file's user and password */
    char cfg[PATH_U8], root[PATH_U8], exe[PATH_U8], ca_full[PATH_U8];
    char version[80];
} install_req;

/*
** The options, each checked on its own and against the others (--id,
** --auth-file with --token, the .auth file against --id). 0, or EXIT_USAGE
** after printing why.
*/
static int install_args(const args *a, install_req *r)
{
    opt opts[] = {
        { "--config", 1, &r->config }, { "--nats-url", 1, &r->url }, { "--id", 1, &r->id },
        { "--ca-file", 1, &r->ca }, { "--token", 1, &r->token }, { "--force-config", 0, &r->force },
        { "--allow-plaintext", 0, &r->plain }, { "--auth-file", 1, &r->auth_file },
        { "--release-key", 1, &r->key },
    };
    if (parse_opts(a, 2, opts, (int)(sizeof opts / sizeof opts[0]), "install")) return EXIT_USAGE;
    if (collect_release_keys(a, r->keys, sizeof r->keys) != 0) return EXIT_USAGE;
    if (r->id && !scope_valid_id(r->id)) {
        fprintf(stderr, "kanade-agent install: --id \"%s\" is invalid: use 1-64 of A-Z a-z 0-9 _ -\n", r->id);
        return EXIT_USAGE;
    }
    if (r->auth_file && r->token) {
        fprintf(stderr, "kanade-agent install: give --auth-file or --token, not both\n");
        return EXIT_USAGE;
    }
    if (r->auth_file) return read_auth_file(r->auth_file, &r->id, &r->auth);
    return 0;
}

/*
** The config path, the root, this exe and its version; --ca-file made
** absolute (the service does not run in this folder) and readable. 0,
** EXIT_FAIL or EXIT_USAGE after printing why.
*/
static int install_paths(install_req *r)
{
    FILE *f;
    if (config_path(r->config, r->cfg, sizeof r->cfg) != 0 || kanade_root(r->root, sizeof r->root) != 0
        || win_exe_path(r->exe, sizeof r->exe) != 0 || win_self_version(r->version, sizeof r->version) != 0) {
        fprintf(stderr, "kanade-agent install: %s\n", win_last_error());
        return EXIT_FAIL;
    }
    if (!r->ca) return 0;
    if (full_path(r->ca, r->ca_full, sizeof r->ca_full) != 0 || (f = win_fopen(r->ca_full, "rb")) == NULL) {
        fprintf(stderr, "kanade-agent install: --ca-file cannot be read: %s\n", win_last_error());
        return EXIT_USAGE;
    }
    fclose(f);
    r->ca = r->ca_full;
    return 0;
}

/*
** Folders: nothing is adopted from another owner, and everything is
** created with its final owner and ACL (the root protected, so nothing
** from %ProgramData%, where Users may create folders, leaks in). config
** and data hold credentials and update state; logs are readable. Every
** owner is checked before the first folder is created. 0, or EXIT_FAIL
** after printing why.
*/
static int install_folders(const install_req *r)
{
    static const char *const subdirs[3] = { "config", "data", "logs" };
    char sub[PATH_U8];
    int i;
    if (dir_of(r->exe, sub, sizeof sub), foreign_owner("install", sub) || foreign_owner("install", r->root))
        return EXIT_FAIL;
    for (i = 0; i < 3; i++) {
        if (snprintf(sub, sizeof sub, "%s\\%s", r->root, subdirs[i]) >= (int)sizeof sub) return EXIT_FAIL;
        if (foreign_owner("install", sub)) return EXIT_FAIL;
    }
    if (foreign_owner("install", r->cfg)) return EXIT_FAIL;
    if (win_mkdirs(r->root) != 0 || fsec_apply(r->root, FSEC_SDDL_READABLE) != 0) {
        fprintf(stderr, "kanade-agent install: cannot create %s owned by Administrators: %s\n",
                r->root, win_last_error());
        return EXIT_FAIL;
    }
    for (i = 0; i < 3; i++) {
        const wchar_t *sddl = i < 2 ? FSEC_SDDL_PRIVATE : FSEC_SDDL_READABLE;
        snprintf(sub, sizeof sub, "%s\\%s", r->root, subdirs[i]);
        if (fsec_mkdir(sub, sddl) != 0 || fsec_apply(sub, sddl) != 0) {
            fprintf(stderr, "kanade-agent install: cannot create %s for SYSTEM and "
                    "Administrators: %s\n", sub, win_last_error());
            return EXIT_FAIL;
        }
    }
    return 0;
}

/*
** The config: written only when missing (or with --force-config), so a
** re-install never clobbers an operator's edits; then restricted to SYSTEM
** and Administrators either way. *wrote says which. 0, or EXIT_USAGE or
** EXIT_FAIL after printing why.
*/
static int install_config(install_req *r, int *wrote)
{
    int rc;
    *wrote = 0;
    if (!win_exists(r->cfg) || r->force) {
        if (!r->url) {
            fprintf(stderr, "kanade-agent install: %s does not exist: pass --nats-url "
                    "(and optionally --id, --ca-file, --token or --auth-file) to write it\n", r->cfg);
            return EXIT_USAGE;
        }
        rc = write_config(r->cfg, r->url, r->id, r->ca, r->token, r->auth_file ? &r->auth : NULL, r->keys);
        SecureZeroMemory(&r->auth, sizeof r->auth);
        if (rc != 0) return EXIT_FAIL;
        *wrote = 1;
    } else if (r->url || r->id || r->ca || r->token || r->auth_file || r->key) {
        printf("note: %s exists and was kept; --force-config rewrites it\n", r->cfg);
    }
    if (fsec_apply(r->cfg, FSEC_SDDL_FILE) != 0) {
        fprintf(stderr, "kanade-agent install: cannot restrict %s to SYSTEM and "
                "Administrators: %s\n", r->cfg, win_last_error());
        return EXIT_FAIL;
    }
    return 0;
}

/* The config loaded the way the service will load it, into *c and pc_id;
** a kept config is held to the same plaintext rule as a new one. 0, or
** EXIT_FAIL or EXIT_USAGE after printing why. */
static int install_check_config(const install_req *r, conf *c, char *pc_id)
{
    char err[1024];
    if (arun_load_config(r->cfg, c, pc_id, err, sizeof err) != 0) {
        fprintf(stderr, "kanade-agent install: %s\n", err);
        return EXIT_FAIL;
    }
    if (!r->plain && plaintext_refused(c->nats_url, c->ca_file[0] != 0)) return EXIT_USAGE;
    return 0;
}

/* Registers (or updates) the service and prints what was installed. */
static int install_service(const install_req *r, const conf *c, const char *pc_id, int wrote)
{
    char shown[sizeof ((conf *)0)->nats_url + 64];
    svc_install_opts so;
    int rc;
    so.exe_path = r->exe;
    so.config_path = r->cfg;
    rc = svc_install(&so);
    if (rc != SVC_OK) {
        fprintf(stderr, "kanade-agent install: %s\n", win_last_error());
        return rc == SVC_ERR_ARG ? EXIT_USAGE : EXIT_FAIL;
    }
    printf("config   : %s (%s)\n", r->cfg, wrote ? "written" : "kept");
    printf("pc_id    : %s\n", pc_id);
    url_redact(c->nats_url, shown, sizeof shown);
    printf("nats_url : %s (%s)\n", shown, c->ca_file[0] ? "tls" : "plaintext");
    printf("service  : %s installed: \"%s\" service --config \"%s\"\n", SVC_NAME, r->exe, r->cfg);
    printf("version  : %s\n", r->version);
    return EXIT_OK;
}

/*
** install: the inputs checked, then folders with their ACLs, the config
** (only when missing, or with --force-config), a check of that config
** exactly as the service will load it, then the service. Bad input is
** refused before anything is created, and a config that would not start
** is refused before the service is touched.
*/
static int cmd_install(const args *a)
{
    install_req r;
    conf c;
    char pc_id[SCOPE_ID_MAX + 1];
    int rc, wrote = 0;

    memset(&r, 0, sizeof r);
    if ((rc = install_args(a, &r)) != 0 || (rc = install_paths(&r)) != 0) return rc;
    /* Refused before anything is created: nothing half-done. */
    if (r.url && !r.plain && (!win_exists(r.cfg) || r.force) && plaintext_refused(r.url, r.ca != NULL))
        return EXIT_USAGE;
    if ((rc = install_folders(&r)) != 0 || (rc = install_config(&r, &wrote)) != 0
        || (rc = install_check_config(&r, &c, pc_id)) != 0)
        return rc;
    return install_service(&r, &c, pc_id, wrote);
}

static int cmd_uninstall(const args *a)
{
    const char *o_purge = NULL;
    opt opts[] = { { "--purge", 0, &o_purge } };
    char root[PATH_U8];
    wchar_t wroot[WIN_PATH_MAX];
    if (parse_opts(a, 2, opts, 1, "uninstall")) return EXIT_USAGE;
    if (kanade_root(root, sizeof root) != 0) {
        fprintf(stderr, "kanade-agent uninstall: %s\n", win_last_error());
        return EXIT_FAIL;
    }
    if (svc_uninstall() != SVC_OK) {
        fprintf(stderr, "kanade-agent uninstall: %s\n", win_last_error());
        return EXIT_FAIL;
    }
    printf("service  : %s removed\n", SVC_NAME);
    if (!o_purge) {
        printf("kept     : %s (config, data, logs); --purge deletes it\n", root);
        return EXIT_OK;
    }
    if (win_to_wide(root, wroot, WIN_PATH_MAX) != 0 || rm_tree(wroot) != 0) {
        fprintf(stderr, "kanade-agent uninstall: cannot delete %s: %s\n", root, win_last_error());
        return EXIT_FAIL;
    }
    printf("purged   : %s\n", root);
    return EXIT_OK;
}

/* Ctrl+C, Ctrl+Break and closing the console stop `run` cleanly: the same
** stop event the SCM's STOP sets. */
static BOOL WINAPI console_ctrl(DWORD type)
{
    SetEvent(svc_stop_event());
    return TRUE;
}

static int body_ran;

/* svc_run's body: remembers that the SCM got as far as ServiceMain. */
static int service_body(void *arg)
{
    body_ran = 1;
    return arun_body(arg);
}

/* run and service: both take only --config. */
static int cmd_agent(const args *a, int under_scm)
{
    const char *o_config = NULL;
    opt opts[] = { { "--config", 1, &o_config } };
    char cfg[PATH_U8];
    arun_opts ro;
    int rc;
    if (parse_opts(a, 2, opts, 1, a->argv[1])) return EXIT_USAGE;
    if (config_path(o_config, cfg, sizeof cfg) != 0) {
        fprintf(stderr, "kanade-agent: %s\n", win_last_error());
        return EXIT_FAIL;
    }
    ro.config_path = cfg;
    ro.under_scm = under_scm;
    if (!svc_stop_event()) {
        fprintf(stderr, "kanade-agent: %s\n", win_last_error());
        return EXIT_FAIL;
    }
    if (!under_scm) {
        SetConsoleCtrlHandler(console_ctrl, TRUE);
        return arun_body(&ro);
    }
    rc = svc_run(service_body, &ro);
    if (!body_ran) fprintf(stderr, "kanade-agent service: %s\n", win_last_error());
    return rc;
}

/*
** Last words of a crashing process: one line in the log and the Event Log
** with the exception code and the faulting address relative to the exe's
** base (what a symbol map of the build resolves), then the default
** handling (the process ends; under the SCM the failure actions restart
** it). A crash while logging must not recurse into the logger.
*/
static LONG WINAPI crash_filter(EXCEPTION_POINTERS *ep)
{
    static volatile LONG entered;
    const EXCEPTION_RECORD *er = ep ? ep->ExceptionRecord : NULL;
    if (er && InterlockedExchange(&entered, 1) == 0) {
        uintptr_t base = (uintptr_t)GetModuleHandleW(NULL);
        uintptr_t at = (uintptr_t)er->ExceptionAddress;
        log_event(LOG_ERROR, "crashed: exception 0x%08lx at exe+0x%llx (thread %lu)",
                  (unsigned long)er->ExceptionCode,
                  (unsigned long long)(at >= base ? at - base : at),
                  (unsigned long)GetCurrentThreadId());
        log_close();
    }
    return EXCEPTION_CONTINUE_SEARCH;
}

int wmain(int argc, wchar_t **argv)
{
    args a;
    const char *cmd;
    int rc;

    SetUnhandledExceptionFilter(crash_filter);

    /* The swap helper parses its own (wide) arguments. */
    if (argc > 1 && wcscmp(argv[1], L"--swap") == 0) return upd_swap_main(argc, argv);
    if (argc > 1 && wcscmp(argv[1], L"--swap-watch") == 0) return upd_watch_main(argc, argv);
    if (args_load(&a, argc, argv) != 0) {
        fprintf(stderr, "kanade-agent: cannot read the command line\n");
        return EXIT_FAIL;
    }
    cmd = a.argc > 1 ? a.argv[1] : "";
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) rc = cmd_version();
    else if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        fputs(usage_text, stdout);
        rc = EXIT_OK;
    }
    else if (strcmp(cmd, "install") == 0) rc = cmd_install(&a);
    else if (strcmp(cmd, "uninstall") == 0) rc = cmd_uninstall(&a);
    else if (strcmp(cmd, "run") == 0) rc = cmd_agent(&a, 0);
    else if (strcmp(cmd, "service") == 0) rc = cmd_agent(&a, 1);
    else {
        if (*cmd) fprintf(stderr, "kanade-agent: unknown command \"%s\"\n", cmd);
        fputs(usage_text, stderr);
        rc = EXIT_USAGE;
    }
    args_free(&a);
    return rc;
}
