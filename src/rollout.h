/*
** rollout.h — safe rollouts without a controller process: the halt policy
** and the wave plan carried in a scope value, the failure records agents
** write to KV `agent_rollouts`, and the decisions made from them (which
** wave a PC is in, when it may start, whether a rollout is halted).
** Pure: no windows.h, no allocation, caller-owned buffers.
**
** Scope value fields (strings, next to target_version; null = unset):
**   "halt_policy"       "off" | "<N>" (halt after N failed hosts)
**                       | "<P>%/<H>" (P percent, up to two decimals, of the
**                         H hosts the rollout targeted when it was issued)
**   "waves"             "canary,office,global": wave k (0-based) is the
**                       k-th group; "global" means every PC not in an
**                       earlier wave
**   "wave_gap"          duration, "1h": wave k starts at wave_start + k*gap
**   "wave_start"        unix milliseconds, decimal
**   "previous_version"  the target the scope held before this rollout
**                       ("" when it had none): what `rollout abort` restores
**
** KV `agent_rollouts` keys (a version's '.' '_' '+' escaped, see
** ro_escape_version, because '.' separates key tokens and '+' is not a
** key character):
**   fail.<ver>.<pc>   written once by <pc> when its update to <ver> ends
**                     failed, rolled_back or quarantined:
**                     {"pc":..,"version":..,"state":..,"reason":..,"at_ms":..}
**                     One key per PC: concurrent failures never collide,
**                     and a PC can only ever (re)write its own key.
**   ctl.<ver>         written by the operator: {"baseline":N,"by":..}.
**                     `resume` sets baseline to the failure count at that
**                     moment; a rollout is halted while
**                     count - baseline >= threshold.
** Records can only hold an update back: nothing here ever starts one.
*/
#ifndef ROLLOUT_H
#define ROLLOUT_H
#include <stddef.h>
#include <stdint.h>
#include "scope.h"

#define RO_OK          0
#define RO_ERR_INVALID 1   /* bad policy, plan, version or pc id */
#define RO_ERR_JSON    2   /* a record or scope value is not what it should be */
#define RO_ERR_SPACE   3   /* output buffer too small */

#define RO_BUCKET      "agent_rollouts"
#define RO_MAX_WAVES   8
#define RO_ESC_MAX     (SCOPE_VERSION_MAX * 3 + 1)  /* escaped version, NUL included */
#define RO_KEY_MAX     (RO_ESC_MAX + SCOPE_ID_MAX + 8)
#define RO_REASON_MAX  200
#define RO_STMT_MAX    832   /* ro_statement_lines with every field at its longest */
#define RO_DEFAULT_HALT_AFTER 3   /* --groups and --global without a policy */

/* ---- halt policy -------------------------------------------------------- */

enum { RO_HALT_UNSET, RO_HALT_OFF, RO_HALT_AFTER, RO_HALT_RATIO };

typedef struct ro_policy {
    int kind;           /* RO_HALT_* */
    int after;          /* RO_HALT_AFTER: failed hosts that halt (>= 1) */
    int ratio_bp;       /* RO_HALT_RATIO: basis points (5% = 500), 1..10000 */
    int hosts;          /* RO_HALT_RATIO: hosts targeted, >= 1 */
} ro_policy;

/* "off", "0" (= off), "3", "5%/100", "0.5%/1000". Anything else (or a
** value out of range) is RO_ERR_INVALID, *p untouched. */
int ro_policy_parse(const char *s, ro_policy *p);
/* The inverse ("" for RO_HALT_UNSET). */
int ro_policy_format(const ro_policy *p, char *out, size_t cap);
/* Failed hosts that halt the rollout: 0 = never (unset or off). A ratio
** rounds up and is at least 1: 5% of 100 = 5, 5% of 10 = 1. */
int ro_policy_threshold(const ro_policy *p);
/* The CLI's --halt-ratio "5%" or "0.5%" (no host count) -> basis points. */
int ro_parse_ratio(const char *s, int *bp);

/* ---- wave plan ---------------------------------------------------------- */

typedef struct ro_plan {
    int nwaves;                         /* 0 = no plan */
    char waves[RO_MAX_WAVES][SCOPE_ID_MAX + 1];
    int64_t start_ms;                   /* unix ms */
    int64_t gap_ms;
} ro_plan;

/* "canary,office,global": 1..RO_MAX_WAVES valid group names, no repeats,
** "global" only last. Sets nwaves/waves only. */
int ro_plan_parse_waves(const char *list, ro_plan *p);
int ro_plan_format_waves(const ro_plan *p, char *out, size_t cap);
/* The wave of a PC with these groups: the first wave naming one of its
** groups, or the "global" wave; -1 when the plan leaves it out. */
int ro_wave_of(const ro_plan *p, char groups[][SCOPE_ID_MAX + 1], int ngroups);
/* When wave k starts (start + k * gap; saturates instead of overflowing). */
int64_t ro_wave_start_ms(const ro_plan *p, int k);
/*
** The moment a PC may start the download: with no plan, now + draw; in
** wave k, max(now, wave start) + draw, where draw in [0, jitter) is the
** caller's random pick. A PC outside the plan: INT64_MAX (never).
*/
int64_t ro_schedule_ms(const ro_plan *p, int wave, int64_t now_ms, int64_t draw_ms);

/* ---- the rollout fields of a scope value -------------------------------- */

typedef struct ro_rollout {
    ro_policy policy;
    ro_plan plan;
    int has_previous;
    char previous[SCOPE_VERSION_MAX + 1];
    char errors[256];                   /* fields ignored as invalid, or "" */
} ro_rollout;

/*
** Reads the rollout fields of one scope value (JSON object). Missing or
** null fields stay unset; an invalid one is left unset and named in
** r->errors (a bad plan drops the whole plan; a bad policy is reported by
** RO_ERR_INVALID so the caller can hold back rather than guess).
** Returns RO_OK, RO_ERR_INVALID (some field invalid, rest read) or
** RO_ERR_JSON (not an object; *r has nothing set).
*/
int ro_read_scope(const char *json, size_t len, ro_rollout *r);
/* Rewrites the scope value with r's fields set (unset ones written as
** null where the value has them, left out where it has not, so a rollout
** without a policy or plan adds nothing), every other field kept byte for
** byte. */
int ro_write_scope(const char *json, size_t len, const ro_rollout *r, char *out, size_t cap);
/*
** The lines the signed target statement carries for these fields, in this
** order, each "name=value\n" ("" for an unset one):
**   halt=<policy>\nwaves=<list>\nwave_gap=<dur>\nwave_start=<ms>\nprevious=<v>\n
** Appended to the statement so a changed policy, plan or previous version
** breaks the signature like a changed target. Written from the fields as
** read (one spelling each), so an invalid field counts as unset.
*/
int ro_statement_lines(const ro_rollout *r, char *out, size_t cap);

/* ---- failure records ---------------------------------------------------- */

/* '.' -> '_', '_' -> "=5F", '+' -> "=2B" (injective; the result is one KV
** key token). Inverse: ro_unescape_version. */
int ro_escape_version(const char *version, char *out, size_t cap);
int ro_unescape_version(const char *esc, char *out, size_t cap);
int ro_fail_key(const char *version, const char *pc, char *out, size_t cap);
/* "fail.<ver>." — list keys with this prefix (subject $KV.<b>.fail.<ver>.*) */
int ro_fail_prefix(const char *version, char *out, size_t cap);
int ro_ctl_key(const char *version, char *out, size_t cap);

typedef struct ro_fail {
    char pc[SCOPE_ID_MAX + 1];
    char version[SCOPE_VERSION_MAX + 1];
    char state[16];                     /* failed | rolled_back | quarantined */
    char reason[RO_REASON_MAX];
    int64_t at_ms;
} ro_fail;

/* 1 if an update ending in this state is a failure that counts. */
int ro_counts_state(const char *state);
int ro_fail_write(const ro_fail *f, char *out, size_t cap);
/* RO_ERR_JSON for anything but a record with a valid pc, version and a
** counting state; the reason is cut to fit. */
int ro_fail_parse(const char *js, size_t len, ro_fail *f);
int ro_ctl_write(int baseline, const char *by, char *out, size_t cap);
int ro_ctl_parse(const char *js, size_t len, int *baseline);

/* ---- the verdict -------------------------------------------------------- */

typedef struct ro_entry { const char *key; const char *val; size_t len; } ro_entry;

typedef struct ro_verdict {
    int failures;        /* valid failure records for the version */
    int baseline;        /* from ctl.<ver>, 0 if none */
    int threshold;       /* 0 = the policy never halts */
    int malformed;       /* records that could not be read */
    int halted;          /* failures - baseline >= threshold > 0 */
    int hold;            /* do not swap: halted, or malformed under a policy */
    char reason[512];    /* why hold, "" if not: counts and first reasons */
    char problems[256];  /* the malformed records, for the log, or "" */
} ro_verdict;

/*
** Counts the records of `version` among the entries (any keys of the
** bucket; other versions' and unknown keys are skipped) against policy.
** A failure record counts when its key is fail.<ver>.<pc> and its value is
** a record of that same pc and version. Malformed ones (or a bad ctl) are
** listed in v->problems; they hold the swap back only when a policy is set.
*/
int ro_evaluate(const ro_policy *policy, const char *version,
                const ro_entry *e, int n, ro_verdict *v);
/* ---- what `kanade agent rollout` writes ---------------------------------- */

typedef struct ro_options {
    const char *kind;           /* "pcs", "groups", "global" or "waves" */
    const char *halt_after;     /* --halt-after N, NULL when absent */
    const char *halt_ratio;     /* --halt-ratio P%, NULL when absent */
    int hosts;                  /* hosts the rollout targets (for a ratio) */
    const char *waves;          /* --waves list (kind "waves") */
    const char *wave_gap;       /* --wave-gap, NULL = 1h */
    int64_t now_ms;             /* the plan starts now */
} ro_options;

/*
** The rollout fields one scope value gets when `version` is rolled out to
** it: the halt policy (--halt-after 3 by default for groups, global and
** waves; none for pcs; --halt-after 0 = off), the wave plan, and
** previous_version = the scope's current target ("" when it has none; a
** scope that already targets `version` keeps the previous it recorded).
** msg receives a note for the operator ("" if none) or, with
** RO_ERR_INVALID, the one-line usage error.
*/
int ro_prepare(const ro_options *o, const char *version, const char *cur, size_t len,
               ro_rollout *out, char *msg, size_t cap);
#endif
