/*
** broker_conf.c — bucket and rights tables, and the two-account
** nats-server.conf built from them. See broker_conf.h.
*/
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "broker_conf.h"
#include "scope.h"

#define DAY_NS (86400LL * 1000000000LL)

/* Every bucket kanade uses, with the settings `broker init` creates it with.
** A feature that adds a bucket adds one line here. */
const bcf_bucket bcf_buckets[] = {
    { "agent_config",   BCF_KV,  5, 0 },
    { "agent_groups",   BCF_KV,  5, 0 },
    { "agent_status",   BCF_KV,  1, DAY_NS },
    { "agent_rollouts", BCF_KV,  1, 0 },
    { "agent_releases", BCF_OBJ, 1, 0 },
};
const int bcf_nbuckets = (int)(sizeof bcf_buckets / sizeof bcf_buckets[0]);

#define DG "$JS.API.DIRECT.GET."
/*
** What one PC may do, and how each right crosses from AGENTS to FLEET.
** A PC only ever publishes into a FLEET service import (the reply is then
** rewritten by the server) or within AGENTS; it never publishes on _INBOX.>
** (that would let it forge answers to the operator).
*/
const bcf_right bcf_rights[] = {
    { BCF_SVC, DG "KV_agent_config.$KV.agent_config.global", DG "KV_agent_config.>",
      "direct-get the fleet-wide config key" },
    { BCF_SVC, DG "KV_agent_config.$KV.agent_config.groups.*", DG "KV_agent_config.>",
      "direct-get any group's config key (group membership is not secret)" },
    { BCF_SVC, DG "KV_agent_config.$KV.agent_config.pcs.%p", DG "KV_agent_config.>",
      "direct-get this PC's own config key, no other PC's" },
    { BCF_SVC, DG "KV_agent_groups.$KV.agent_groups.%p", DG "KV_agent_groups.>",
      "direct-get this PC's own group list" },
    { BCF_SVC, DG "OBJ_agent_releases", DG "OBJ_agent_releases",
      "direct-get release chunks by sequence and next_by_subj" },
    { BCF_SVC, DG "OBJ_agent_releases.>", DG "OBJ_agent_releases.>",
      "direct-get release meta records by subject" },
    { BCF_SVC, "$KV.agent_status.%p", "$KV.agent_status.*",
      "put this PC's own status key, no other PC's" },
    { BCF_SVC, "$KV.agent_rollouts.fail.*.%p", "$KV.agent_rollouts.fail.>",
      "write this PC's own rollout failure record fail.<version>.<pc>" },
    { BCF_SVC, DG "KV_agent_rollouts.>", DG "KV_agent_rollouts.>",
      "direct-get rollout failure records and the ctl key to count failures" },
    { BCF_SVC, "$JS.API.STREAM.INFO.KV_agent_rollouts", "$JS.API.STREAM.INFO.KV_agent_rollouts",
      "list the failure-record keys of a version (stream info, read only)" },
    { BCF_NOTIFY, "$KV.agent_config.global", "$KV.agent_config.>",
      "change notifications of the fleet-wide config key" },
    { BCF_NOTIFY, "$KV.agent_config.groups.*", "$KV.agent_config.>",
      "change notifications of group config keys" },
    { BCF_NOTIFY, "$KV.agent_config.pcs.%p", "$KV.agent_config.>",
      "change notifications of this PC's own config key" },
    { BCF_NOTIFY, "$KV.agent_groups.%p", "$KV.agent_groups.>",
      "change notifications of this PC's own group list" },
    { BCF_OWN_PUB, "heartbeat.%p", NULL, "publish this PC's own heartbeat" },
    { BCF_OWN_SUB, "agents.%p.ping", NULL, "receive pings for this PC only" },
    { BCF_OWN_SUB, "_INBOX.>", NULL, "receive answers to its own requests" },
};
const int bcf_nrights = (int)(sizeof bcf_rights / sizeof bcf_rights[0]);

const bcf_bucket *bcf_bucket_find(const char *name)
{
    int i;
    for (i = 0; name && i < bcf_nbuckets; i++)
        if (!strcmp(bcf_buckets[i].name, name)) return &bcf_buckets[i];
    return NULL;
}

int bcf_stream_name(const bcf_bucket *b, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s_%s", b->kind == BCF_KV ? "KV" : "OBJ", b->name);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* ============================================================ lists */

static int is_sep(char c) { return c == ',' || c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

int bcf_parse_pcs(const char *text, size_t len, char (*ids)[BCF_USER_MAX + 1], int cap,
                  char *err, size_t errcap)
{
    size_t i = 0;
    int n = 0, k;
    if (err && errcap) err[0] = 0;
    while (i < len) {
        char id[BCF_USER_MAX + 1];
        size_t s;
        if (text[i] == '#') { while (i < len && text[i] != '\n') i++; continue; }
        if (is_sep(text[i])) { i++; continue; }
        for (s = i; i < len && !is_sep(text[i]) && text[i] != '#'; i++) {}
        if (i - s > BCF_USER_MAX || memchr(text + s, 0, i - s)) {
            snprintf(err, errcap, "pc id '%.*s...' is not a valid id", 20, text + s);
            return -1;
        }
        memcpy(id, text + s, i - s);
        id[i - s] = 0;
        if (!scope_valid_id(id) || !strcmp(id, "kanade-operator")) {
            snprintf(err, errcap, "pc id '%s' is not a valid id (letters, digits, '-', '_')", id);
            return -1;
        }
        for (k = 0; k < n && strcmp(ids[k], id); k++) {}
        if (k < n) continue;
        if (n >= cap) { snprintf(err, errcap, "more than %d pcs", cap); return -1; }
        memcpy(ids[n++], id, i - s + 1);
    }
    if (n == 0) { snprintf(err, errcap, "no pc ids given"); return -1; }
    return n;
}

int bcf_valid_pass(const char *s)
{
    size_t i, n = s ? strlen(s) : 0;
    if (n == 0 || n > BCF_PASS_MAX) return 0;
    for (i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9')))
            return 0;
    return 1;
}

/* Copies the value of "key=" from one line [s, e) into out. 1 = it was that key. */
static int take_line(const char *s, const char *e, const char *key, char *out, size_t cap)
{
    size_t kl = strlen(key), vl;
    if ((size_t)(e - s) < kl || memcmp(s, key, kl) != 0) return 0;
    vl = (size_t)(e - s) - kl;
    if (vl >= cap || memchr(s + kl, 0, vl)) vl = 0;   /* left empty: rejected below */
    memset(out, 0, cap);            /* a later line replaces an earlier one whole */
    memcpy(out, s + kl, vl);
    out[vl] = 0;
    return 1;
}

int bcf_parse_auth(const char *text, size_t len, bcf_user *u)
{
    size_t i = 0;
    memset(u, 0, sizeof *u);
    while (i < len) {
        const char *s = text + i, *e;
        while (i < len && text[i] != '\n') i++;
        e = text + i;
        if (i < len) i++;
        if (e > s && e[-1] == '\r') e--;
        if (!take_line(s, e, "user=", u->name, sizeof u->name))
            take_line(s, e, "password=", u->pass, sizeof u->pass);
    }
    return scope_valid_id(u->name) && bcf_valid_pass(u->pass) ? 0 : -1;
}

int bcf_write_auth(const bcf_user *u, char *out, size_t cap)
{
    int n = snprintf(out, cap, "user=%s\npassword=%s\n", u->name, u->pass);
    return n < 0 || (size_t)n >= cap ? -1 : n;
}

int bcf_password(const unsigned char *rnd, size_t n, size_t want, char *out, size_t cap)
{
    static const char AL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    size_t i = 0, got = 0;
    if (want > BCF_PASS_MAX) want = BCF_PASS_MAX;
    if (cap <= want || want == 0) return -1;
    /* 62 * 4 = 248: bytes 248..255 are dropped so every letter is equally likely. */
    while (got < want && i < n) {
        unsigned char b = rnd[i++];
        if (b < 248) out[got++] = AL[b % 62];
    }
    if (got < want) return -1;
    out[got] = 0;
    return (int)i;
}

/* ============================================================ config text */

typedef struct buf { char *p; size_t n, cap; int over; } buf;

static void put(buf *b, const char *fmt, ...)
{
    va_list ap;
    int k;
    if (b->over) return;
    va_start(ap, fmt);
    k = vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap);
    va_end(ap);
    if (k < 0 || (size_t)k >= b->cap - b->n) { b->over = 1; return; }
    b->n += (size_t)k;
}

/* Writes subject with %p replaced by pc. */
static void put_subj(buf *b, const char *subj, const char *pc)
{
    const char *p = strstr(subj, "%p");
    if (!p) { put(b, "%s", subj); return; }
    put(b, "%.*s%s%s", (int)(p - subj), subj, pc, p + 2);
}

/* 1 when rights[i]'s export already appeared in an earlier right. */
static int export_seen(int i)
{
    int j;
    for (j = 0; j < i; j++)
        if (bcf_rights[j].via == bcf_rights[i].via && bcf_rights[j].export_subj &&
            !strcmp(bcf_rights[j].export_subj, bcf_rights[i].export_subj))
            return 1;
    return 0;
}

size_t bcf_conf_size(int npcs)
{
    return 16384 + (size_t)(npcs > 0 ? npcs : 0) * 3072;
}

static void put_header(buf *b)
{
    put(b, "# nats-server.conf for a kanade fleet, written by 'kanade broker config'.\n"
           "# Re-run that command to add PCs; existing passwords are kept.\n"
           "#\n"
           "# Port, listen address, TLS and the JetStream store directory are left at\n"
           "# nats-server's defaults; override them on the command line, for example\n"
           "#   nats-server -c nats-server.conf -a 0.0.0.0 -p 4222 -sd D:\\nats\n"
           "#   (TLS: --tls --tlscert FILE --tlskey FILE)\n"
           "#\n"
           "# Two accounts. FLEET holds JetStream and the operator; AGENTS holds one\n"
           "# user per PC. One account is not enough: in one account a user allowed to\n"
           "# publish only its own status key can name any reply subject, and JetStream\n"
           "# stores its answer wherever a stream captures that reply (for example\n"
           "# agent_config/global). A request that crosses a service import gets its\n"
           "# reply rewritten by the server, so a forged reply lands in AGENTS, where no\n"
           "# stream exists.\n\n");
    put(b, "# JetStream on; limits and store directory at their defaults (-sd overrides).\n"
           "jetstream {}\n\n");
    put(b, "accounts {\n");
}

static void put_fleet(buf *b, const bcf_user *op)
{
    int i;
    put(b, "  # The operator's account: every stream lives here.\n"
           "  FLEET {\n"
           "    # JetStream is enabled for this account only.\n"
           "    jetstream: enabled\n"
           "    # The operator (kanade.exe); full rights inside FLEET.\n"
           "    users: [\n"
           "      { user: \"%s\", password: \"%s\" }\n"
           "    ]\n", op->name, op->pass);
    put(b, "    # What AGENTS may reach in FLEET; each PC's user narrows it further.\n"
           "    exports: [\n");
    for (i = 0; i < bcf_nrights; i++) {
        const bcf_right *r = &bcf_rights[i];
        if ((r->via != BCF_SVC && r->via != BCF_NOTIFY) || export_seen(i)) continue;
        put(b, "      # %s\n", r->why);
        put(b, "      { %s: \"%s\" }\n", r->via == BCF_SVC ? "service" : "stream", r->export_subj);
    }
    put(b, "    ]\n"
           "    # Heartbeats and ping answers come from AGENTS.\n"
           "    imports: [\n"
           "      # every PC's heartbeat.<pc>\n"
           "      { stream: { account: AGENTS, subject: \"heartbeat.>\" } }\n"
           "      # 'kanade ping <pc>' asks the PC through this service\n"
           "      { service: { account: AGENTS, subject: \"agents.*.ping\" } }\n"
           "    ]\n"
           "  }\n\n");
}

static void put_user(buf *b, const bcf_user *u)
{
    int i, pass;
    put(b, "      # PC %s\n      {\n        user: \"%s\", password: \"%s\"\n"
           "        permissions: {\n", u->name, u->name, u->pass);
    for (pass = 0; pass < 2; pass++) {
        int first = 1;
        put(b, "          %s: { allow: [\n", pass ? "subscribe" : "publish");
        for (i = 0; i < bcf_nrights; i++) {
            const bcf_right *r = &bcf_rights[i];
            int is_pub = r->via == BCF_SVC || r->via == BCF_OWN_PUB;
            if (is_pub == pass) continue;
            put(b, "%s            # %s\n            \"", first ? "" : ",\n", r->why);
            put_subj(b, r->subject, u->name);
            put(b, "\"");
            first = 0;
        }
        put(b, "\n          ] }\n");
    }
    put(b, "          # one answer per request received (pings), nothing else on _INBOX\n"
           "          allow_responses: true\n"
           "        }\n      }\n");
}

static void put_agents(buf *b, const bcf_user *pcs, int npcs)
{
    int i;
    put(b, "  # The PCs' account: no JetStream, only what FLEET exports.\n"
           "  AGENTS {\n"
           "    # One user per PC; a PC reads only its own keys and writes only its\n"
           "    # own status, heartbeat and failure records.\n"
           "    users: [\n");
    for (i = 0; i < npcs; i++) put_user(b, &pcs[i]);
    put(b, "    ]\n"
           "    # FLEET's exports, seen under the same subjects here.\n"
           "    imports: [\n");
    for (i = 0; i < bcf_nrights; i++) {
        const bcf_right *r = &bcf_rights[i];
        if ((r->via != BCF_SVC && r->via != BCF_NOTIFY) || export_seen(i)) continue;
        put(b, "      # %s\n", r->why);
        put(b, "      { %s: { account: FLEET, subject: \"%s\" } }\n",
            r->via == BCF_SVC ? "service" : "stream", r->export_subj);
    }
    put(b, "    ]\n"
           "    exports: [\n"
           "      # heartbeats, read by the operator in FLEET\n"
           "      { stream: \"heartbeat.>\" }\n"
           "      # pings from the operator, answered by the PC\n"
           "      { service: \"agents.*.ping\" }\n"
           "    ]\n"
           "  }\n"
           "}\n");
}

int bcf_write_conf(const bcf_user *op, const bcf_user *pcs, int npcs, char *out, size_t cap)
{
    buf b;
    int i;
    if (!op || !out || cap == 0 || npcs < 0 || (npcs && !pcs)) return -1;
    if (!scope_valid_id(op->name) || !bcf_valid_pass(op->pass)) return -1;
    for (i = 0; i < npcs; i++)
        if (!scope_valid_id(pcs[i].name) || !bcf_valid_pass(pcs[i].pass) ||
            !strcmp(pcs[i].name, op->name))
            return -1;
    b.p = out; b.n = 0; b.cap = cap; b.over = 0;
    put_header(&b);
    put_fleet(&b, op);
    put_agents(&b, pcs, npcs);
    if (b.over) { out[0] = 0; return -1; }
    return (int)b.n;
}

/* ============================================================ refusals */

/* "a.b.c" with prefix "a." -> "b.c"; NULL when s does not start with it. */
static const char *after(const char *s, const char *prefix)
{
    size_t n = strlen(prefix);
    return strncmp(s, prefix, n) == 0 ? s + n : NULL;
}

/* The bucket of a KV or object stream name ("KV_x" -> "x"), else the name. */
static void bucket_of(const char *stream, size_t n, char *out, size_t cap)
{
    const char *b = stream;
    if (n > 3 && !strncmp(stream, "KV_", 3)) { b += 3; n -= 3; }
    else if (n > 4 && !strncmp(stream, "OBJ_", 4)) { b += 4; n -= 4; }
    snprintf(out, cap, "%.*s", (int)n, b);
}

static int say(char *out, size_t cap, const char *fmt, ...)
{
    va_list ap;
    int n;
    if (!cap) return 0;
    va_start(ap, fmt);
    n = vsnprintf(out, cap, fmt, ap);
    va_end(ap);
    if (n < 0) { out[0] = 0; return 0; }
    return (size_t)n >= cap ? (int)cap - 1 : n;
}

/* A direct get: "$JS.API.DIRECT.GET.<stream>[.<subject>]". */
static int explain_get(const char *rest, const char *me, char *out, size_t cap)
{
    const char *dot = strchr(rest, '.'), *key;
    size_t sl = dot ? (size_t)(dot - rest) : strlen(rest);
    char b[80];
    bucket_of(rest, sl, b, sizeof b);
    if (!dot) return say(out, cap, "direct get from %s refused: this account has no read right on it", b);
    key = dot + 1;
    if (after(key, "$KV.") && (key = strchr(key + 4, '.')) != NULL) key++;
    else key = dot + 1;
    if (!strcmp(b, "agent_config"))
        return say(out, cap, "read agent_config/%s refused: this account may read only agent_config "
                   "global, groups.* and pcs.%s", key, me);
    if (!strcmp(b, "agent_groups"))
        return say(out, cap, "read agent_groups/%s refused: this account may read only agent_groups/%s",
                   key, me);
    return say(out, cap, "read %s/%s refused: this account may not read %s", b, key, b);
}

int bcf_explain(const char *subject, int is_sub, const char *user, char *out, size_t cap)
{
    const char *me = user && user[0] ? user : "<its own pc>", *r;
    if (!subject) subject = "";
    if (is_sub)
        return say(out, cap, "subscribe to %s refused: this account may subscribe only to its own ping "
                   "(agents.%s.ping), _INBOX.> and the notifications of the config keys it may read",
                   subject, me);
    if ((r = after(subject, "$JS.API.DIRECT.GET.")) != NULL) return explain_get(r, me, out, cap);
    if ((r = after(subject, "$JS.API.STREAM.CREATE.")) != NULL || (r = after(subject, "$JS.API.STREAM.UPDATE.")) != NULL)
        return say(out, cap, "create or change stream %s refused: this account may not create buckets; "
                   "the operator runs `kanade broker init`", r);
    if ((r = after(subject, "$JS.API.STREAM.INFO.")) != NULL)
        return say(out, cap, "stream info of %s refused: this account may read only the stream info of "
                   "KV_agent_rollouts", r);
    if ((r = after(subject, "$JS.API.CONSUMER.")) != NULL)
        return say(out, cap, "consumer call %s refused: this account may not create or delete JetStream "
                   "consumers; it reads with direct gets", r);
    if ((r = after(subject, "$JS.API.")) != NULL)
        return say(out, cap, "JetStream call %s refused: this account may make no JetStream call but "
                   "direct gets", r);
    if ((r = after(subject, "$KV.agent_status.")) != NULL)
        return say(out, cap, "put agent_status/%s refused: this account may write only agent_status/%s", r, me);
    if ((r = after(subject, "$KV.agent_rollouts.")) != NULL)
        return say(out, cap, "put agent_rollouts/%s refused: this account may write only its own failure "
                   "records agent_rollouts/fail.<version>.%s", r, me);
    if ((r = after(subject, "$KV.")) != NULL) {
        const char *dot = strchr(r, '.');
        return say(out, cap, "put %.*s/%s refused: this account may write only agent_status/%s",
                   dot ? (int)(dot - r) : (int)strlen(r), r, dot ? dot + 1 : "", me);
    }
    if ((r = after(subject, "$O.")) != NULL) {
        const char *dot = strchr(r, '.');
        return say(out, cap, "write to object store %.*s refused: this account may not write objects",
                   dot ? (int)(dot - r) : (int)strlen(r), r);
    }
    if (after(subject, "heartbeat."))
        return say(out, cap, "publish %s refused: this account may publish only heartbeat.%s", subject, me);
    if (after(subject, "_INBOX."))
        return say(out, cap, "publish %s refused: this account may not publish on _INBOX.> (it answers "
                   "only the requests it receives)", subject);
    return say(out, cap, "publish %s refused: this account has no right to that subject", subject);
}
