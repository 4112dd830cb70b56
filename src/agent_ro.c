/*
** agent_ro.c — the agent's side of safe rollouts. See agent_ro.h.
**
** Everything here runs on the agent thread (evaluate() and update.c's
** hooks, which update.c calls from upd_on_target and upd_tick).
*/
#include <stdio.h>
#include <string.h>
#include "agent_ro.h"
#include "log.h"
#include "win.h"

void aro_set(aro *x, const char *target, const char *scope, const char *scope_json, size_t len,
             char groups[][SCOPE_ID_MAX + 1], int ngroups)
{
    char line[sizeof x->said], pol[64], waves[160], when[40];
    int rc;
    snprintf(x->target, sizeof x->target, "%s", target ? target : "");
    snprintf(x->scope, sizeof x->scope, "%s", scope ? scope : "");
    memset(&x->ro, 0, sizeof x->ro);
    x->bad_policy = 0;
    x->wave = -1;
    if (!x->target[0]) { x->said[0] = 0; return; }
    rc = scope_json ? ro_read_scope(scope_json, len, &x->ro) : RO_OK;
    if (rc == RO_ERR_JSON) memset(&x->ro, 0, sizeof x->ro);
    /* A policy we cannot read must not be guessed past: hold (aro_gate). */
    x->bad_policy = rc == RO_ERR_INVALID && strstr(x->ro.errors, "halt_policy") != NULL;
    if (x->ro.plan.nwaves > 0) x->wave = ro_wave_of(&x->ro.plan, groups, ngroups);
    ro_policy_format(&x->ro.policy, pol, sizeof pol);
    waves[0] = 0;
    if (x->ro.plan.nwaves > 0) {
        ro_plan_format_waves(&x->ro.plan, waves, sizeof waves);
        if (x->wave >= 0) win_rfc3339(ro_wave_start_ms(&x->ro.plan, x->wave), when);
    }
    if (x->ro.plan.nwaves == 0)
        snprintf(line, sizeof line, "%s: halt policy %s, no waves", x->target, pol[0] ? pol : "none");
    else if (x->wave < 0)
        snprintf(line, sizeof line, "%s: halt policy %s, waves %s: this PC is in none of them",
                 x->target, pol[0] ? pol : "none", waves);
    else
        snprintf(line, sizeof line, "%s: halt policy %s, waves %s: wave %d (%s) from %s", x->target,
                 pol[0] ? pol : "none", waves, x->wave + 1, x->ro.plan.waves[x->wave], when);
    if (strcmp(line, x->said) != 0) {
        log_info("rollout of %s", line);
        memcpy(x->said, line, sizeof line);
        if (x->ro.errors[0])
            log_warn("rollout fields of %s ignored as invalid: %s%s", x->scope, x->ro.errors,
                     x->bad_policy ? " (the swap is held back until the policy is fixed)" : "");
    }
}

int64_t aro_schedule(const aro *x, const char *target, int64_t now_ms, int64_t draw_ms)
{
    if (strcmp(target, x->target) != 0 || x->ro.plan.nwaves == 0) return now_ms + draw_ms;
    return ro_schedule_ms(&x->ro.plan, x->wave, now_ms, draw_ms);
}

/* Logs a hold reason once per change (a halted agent checks again and again). */
static int hold(aro *x, const char *why, char *reason, size_t cap)
{
    snprintf(reason, cap, "%s", why);
    if (strcmp(why, x->held) != 0) {
        log_warn("%s", why);
        snprintf(x->held, sizeof x->held, "%s", why);
    }
    return 1;
}

int aro_gate(aro *x, nats_conn *c, kv_bucket **b, const char *target, char *reason, size_t cap)
{
    ro_verdict v;
    js_err e;
    char why[sizeof v.reason];
    int rc;
    reason[0] = 0;
    if (strcmp(target, x->target) != 0) return 0;      /* fields of another target: none apply */
    if (x->bad_policy) {
        snprintf(why, sizeof why, "rollout of %s held back: the halt_policy of %s cannot be read (%s)",
                 target, x->scope, x->ro.errors);
        return hold(x, why, reason, cap);
    }
    if (ro_policy_threshold(&x->ro.policy) == 0) return 0;
    memset(&e, 0, sizeof e);
    if (!c) {
        snprintf(why, sizeof why, "rollout of %s held back: not connected, so %s cannot be read",
                 target, RO_BUCKET);
        return hold(x, why, reason, cap);
    }
    /* Bound, never created (kanade broker init and agent rollout create it). */
    if (!*b && (rc = kv_bind(c, RO_BUCKET, b, &e)) != NATS_OK) {
        *b = NULL;
        snprintf(why, sizeof why, "rollout of %s held back: cannot bind %s: %s", target, RO_BUCKET,
                 e.desc[0] ? e.desc : nats_strerror(rc));
        return hold(x, why, reason, cap);
    }
    rc = rokv_check(c, *b, &x->ro.policy, target, &v, &e);
    if (v.problems[0]) log_warn("%s: records of %s that cannot be read: %s", RO_BUCKET, target, v.problems);
    if (rc != NATS_OK && !v.hold)
        snprintf(v.reason, sizeof v.reason, "rollout of %s held back: cannot read %s: %s", target,
                 RO_BUCKET, nats_strerror(rc));
    if (rc != NATS_OK || v.hold) return hold(x, v.reason, reason, cap);
    if (x->held[0]) {
        log_info("rollout of %s: no longer held back (%d failed, threshold %d, %d before the resume)",
                 target, v.failures, v.threshold, v.baseline);
        x->held[0] = 0;
    }
    log_debug("rollout of %s: %d failed of threshold %d: go", target, v.failures - v.baseline, v.threshold);
    return 0;
}
