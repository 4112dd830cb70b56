/*
** broker_conf.h — the least-privilege broker layout as data and text:
** the table of kanade's buckets and their settings (the one place they
** live), the table of per-PC rights, and the nats-server configuration
** built from them for two accounts:
**   FLEET   JetStream and the operator user;
**   AGENTS  one user per PC, reaching FLEET only through the service and
**           stream imports below.
** One account is not enough on nats-server 2.9: a client allowed to publish
** only its own status key can give JetStream any reply subject, and the
** PubAck is then stored by whichever stream captures that reply. Across a
** service import the server rewrites the reply to an _R_ subject that lands
** in AGENTS, where no stream exists.
** Pure: no windows.h. Passwords are produced by the caller (system RNG).
*/
#ifndef BROKER_CONF_H
#define BROKER_CONF_H
#include <stddef.h>
#include <stdint.h>

#define BCF_PASS_MAX 64            /* password characters */
#define BCF_USER_MAX 64            /* a PC id (scope_valid_id) */
#define BCF_MAX_PCS  100000

#define BCF_KV  0
#define BCF_OBJ 1

/* A bucket kanade owns and the settings `kanade broker init` gives it. */
typedef struct bcf_bucket {
    const char *name;
    int kind;                  /* BCF_KV or BCF_OBJ */
    int history;               /* KV max_msgs_per_subject (1 for OBJ) */
    int64_t max_age_ns;        /* 0 = none */
} bcf_bucket;
extern const bcf_bucket bcf_buckets[];
extern const int bcf_nbuckets;
const bcf_bucket *bcf_bucket_find(const char *name);
/* "KV_<name>" or "OBJ_<name>". Returns 0, -1 when it does not fit. */
int bcf_stream_name(const bcf_bucket *b, char *out, size_t cap);

/*
** One right of an agent. subject may contain "%p", replaced by the PC id.
** How it reaches FLEET (export/import) is derived from `via`:
**   BCF_SVC     FLEET exports the subject as a service, AGENTS imports it;
**               the PC may publish the subject (with %p filled in).
**   BCF_NOTIFY  FLEET exports the subject pattern `export` as a stream,
**               AGENTS imports it; the PC may subscribe to the subject.
**   BCF_OWN     a right inside AGENTS only (heartbeat, ping answer).
** Adding a right is one line in bcf_rights[] (broker_conf.c).
*/
#define BCF_SVC    0
#define BCF_NOTIFY 1
#define BCF_OWN_PUB 2
#define BCF_OWN_SUB 3
typedef struct bcf_right {
    int via;
    const char *subject;       /* per-PC permission subject, may hold %p */
    const char *export_subj;   /* FLEET export (NULL for BCF_OWN_*) */
    const char *why;           /* the comment written above it */
} bcf_right;
extern const bcf_right bcf_rights[];
extern const int bcf_nrights;

typedef struct bcf_user { char name[BCF_USER_MAX + 1]; char pass[BCF_PASS_MAX + 1]; } bcf_user;

/* Splits a PC list (comma, whitespace or newline separated; '#' starts a
** comment to the end of the line) into ids, each checked with
** scope_valid_id, duplicates dropped. Returns the count, or -1 with a
** message in err (a bad id names it). */
int bcf_parse_pcs(const char *text, size_t len, char (*ids)[BCF_USER_MAX + 1], int cap,
                  char *err, size_t errcap);

/* Parses an .auth file ("user=NAME\npassword=PASS\n", CRLF accepted).
** Returns 0, -1 when either line is missing or invalid. */
int bcf_parse_auth(const char *text, size_t len, bcf_user *u);
/* Writes the .auth text for u. Returns its length, -1 when it does not fit. */
int bcf_write_auth(const bcf_user *u, char *out, size_t cap);

/* Turns `n` random bytes into a password of [A-Za-z0-9] (rejection sampling,
** no bias). out gets at most BCF_PASS_MAX chars. Returns the number of
** random bytes consumed, or -1 when they ran out before the length. */
int bcf_password(const unsigned char *rnd, size_t n, size_t want, char *out, size_t cap);
/* 1 when s is a password this module would write (non-empty, [A-Za-z0-9]). */
int bcf_valid_pass(const char *s);

/*
** One line saying what a refused subject was and which right is missing,
** for a "Permissions Violation" from the server, e.g.
**   "put agent_status/pc2 refused: this account may write only agent_status/pc1".
** user is the connection's user (a PC id for an agent; may be NULL or "").
** is_sub: the refusal was for a subscription. Returns the length written
** (truncated to cap, always NUL-terminated when cap > 0).
*/
int bcf_explain(const char *subject, int is_sub, const char *user, char *out, size_t cap);

/*
** The complete nats-server.conf. Returns the text length, -1 when cap is too
** small (call with a bigger buffer: bcf_conf_size gives a safe size).
*/
size_t bcf_conf_size(int npcs);
int bcf_write_conf(const bcf_user *op, const bcf_user *pcs, int npcs, char *out, size_t cap);
#endif
