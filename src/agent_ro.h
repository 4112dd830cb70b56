/*
** agent_ro.h — the agent's side of safe rollouts (docs/rollouts.md): the
** halt policy and wave plan of the scope that sets its target, the moment
** its wave lets it start, and the check of agent_rollouts before it
** downloads and again just before it swaps. The formats and decisions are
** rollout.c's; this module only feeds them what the agent knows.
*/
#ifndef AGENT_RO_H
#define AGENT_RO_H
#include <stddef.h>
#include <stdint.h>
#include "rollout_kv.h"

typedef struct aro {
    char target[SCOPE_VERSION_MAX + 1];  /* the target the fields below are for */
    char scope[80];                      /* the scope key that set it */
    ro_rollout ro;                       /* its rollout fields */
    int bad_policy;                      /* halt_policy present but invalid: hold */
    int wave;                            /* this PC's wave, -1 = none (or no plan) */
    char said[160];                      /* the last plan line logged, to log changes only */
    char held[512];                      /* the last hold reason logged */
} aro;

/*
** After every evaluation: the target, the scope that set it, that scope's
** value (NULL when none) and this PC's groups. Logs the policy and the
** wave once per change, and every field ignored as invalid.
*/
void aro_set(aro *x, const char *target, const char *scope, const char *scope_json, size_t len,
             char groups[][SCOPE_ID_MAX + 1], int ngroups);

/* When this PC may start the download of target (update.c's schedule
** hook): now + draw without a plan; in wave k, max(now, wave start) +
** draw; INT64_MAX when the plan leaves this PC out. */
int64_t aro_schedule(const aro *x, const char *target, int64_t now_ms, int64_t draw_ms);

/*
** Whether this PC may go on with target now (update.c's gate hook): reads
** the failure records in agent_rollouts (binding *b on first use) and
** evaluates them against the policy. 0 = go; 1 = hold, with the reason
** (halted, malformed records under a policy, a policy that cannot be
** read, or records that cannot be read under a policy). No policy: no
** read at all, always 0. c may be NULL (not connected): hold when a
** policy is set.
*/
int aro_gate(aro *x, nats_conn *c, kv_bucket **b, const char *target, char *reason, size_t cap);
#endif
