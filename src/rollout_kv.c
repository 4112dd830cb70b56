/*
** rollout_kv.c — failure records in KV agent_rollouts. See rollout_kv.h.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "rollout_kv.h"

#define STREAM  "KV_" RO_BUCKET
#define SUBJ    "$KV." RO_BUCKET "."

int rokv_open(nats_conn *c, int replicas, kv_bucket **out, js_err *e)
{
    kv_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.bucket = RO_BUCKET;
    cfg.history = 1;
    return kv_open_replicas(c, &cfg, replicas > 0 ? replicas : 1, out, e);
}

int rokv_record_failure(kv_bucket *b, const ro_fail *f, js_err *e)
{
    char key[RO_KEY_MAX], val[1024];
    uint64_t rev;
    js_err_clear(e);
    if (ro_fail_key(f->version, f->pc, key, sizeof key) != RO_OK
        || ro_fail_write(f, val, sizeof val) != RO_OK)
        return js_fail(e, NATS_ERR_ARG, "not a failure record of a valid pc and version");
    return kv_put(b, key, val, strlen(val), &rev, e);
}

void rokv_list_free(rokv_list *l)
{
    int i;
    if (!l) return;
    for (i = 0; i < l->n; i++) kv_entry_clear(&l->v[i]);
    l->n = 0;
}

/* Gets key into the next slot of l; an absent (deleted) key is skipped. */
static int take(kv_bucket *b, const char *key, rokv_list *l, js_err *e)
{
    int rc;
    if (l->n >= ROKV_MAX_RECORDS + 1) { l->truncated = 1; return NATS_OK; }
    memset(&l->v[l->n], 0, sizeof l->v[l->n]);
    rc = kv_get(b, key, &l->v[l->n], e);
    if (rc == NATS_ERR_NOT_FOUND) { js_err_clear(e); return NATS_OK; }
    if (rc != NATS_OK) return rc;
    l->n++;
    return NATS_OK;
}

/*
** The keys under fail.<ver>. from one STREAM.INFO with subjects_filter
** (the server lists every subject with a message; a deleted key's marker
** is one, and take() skips it).
*/
static int list_fail_keys(nats_conn *c, kv_bucket *b, const char *prefix, rokv_list *l, js_err *e)
{
    char body[RO_KEY_MAX + 64];
    nats_msg *m = NULL;
    json_tok tok[256], *heap = NULL;
    json_doc d;
    int rc, st, subs, k, i;

    snprintf(body, sizeof body, "{\"subjects_filter\":\"" SUBJ "%s*\"}", prefix);
    rc = js_api(c, "STREAM.INFO." STREAM, body, strlen(body), &m, e);
    if (rc != NATS_OK) return rc;
    if (js_json_parse(&d, m->data, m->len, tok, 256, &heap) != JSON_OK) {
        nats_msg_free(m);
        return js_fail(e, NATS_ERR_PROTO, "stream info of %s is not JSON", STREAM);
    }
    st = json_find(&d, 0, "state");
    subs = st < 0 ? -1 : json_find(&d, st, "subjects");
    rc = NATS_OK;
    if (subs >= 0 && d.tok[subs].type == JSON_OBJECT) {
        for (k = 0, i = subs + 1; k < d.tok[subs].size && i < d.ntok && rc == NATS_OK;
             k++, i = json_skip(&d, i + 1)) {
            char subj[300];
            if (json_tok_str(&d, i, subj, sizeof subj) != JSON_OK) continue;
            if (strncmp(subj, SUBJ, strlen(SUBJ)) != 0) continue;
            rc = take(b, subj + strlen(SUBJ), l, e);
        }
    }
    free(heap);
    nats_msg_free(m);
    return rc;
}

int rokv_read(nats_conn *c, kv_bucket *b, const char *version, rokv_list *l, js_err *e)
{
    char prefix[RO_KEY_MAX], ctl[RO_KEY_MAX];
    int rc;
    js_err_clear(e);
    l->n = 0;
    l->truncated = 0;
    if (ro_fail_prefix(version, prefix, sizeof prefix) != RO_OK
        || ro_ctl_key(version, ctl, sizeof ctl) != RO_OK)
        return js_fail(e, NATS_ERR_ARG, "not a valid version");
    rc = take(b, ctl, l, e);
    if (rc == NATS_OK) rc = list_fail_keys(c, b, prefix, l, e);
    if (rc != NATS_OK) rokv_list_free(l);
    return rc;
}

int rokv_check(nats_conn *c, kv_bucket *b, const ro_policy *p, const char *version,
               ro_verdict *v, js_err *e)
{
    rokv_list *l = malloc(sizeof *l);
    ro_entry *ents;
    int rc, i;
    memset(v, 0, sizeof *v);
    ents = l ? malloc(sizeof *ents * (ROKV_MAX_RECORDS + 1)) : NULL;
    rc = ents ? rokv_read(c, b, version, l, e) : js_fail(e, NATS_ERR_NOMEM, "out of memory");
    if (rc == NATS_OK) {
        for (i = 0; i < l->n; i++) {
            ents[i].key = l->v[i].key;
            ents[i].val = (const char *)l->v[i].value;
            ents[i].len = l->v[i].len;
        }
        ro_evaluate(p, version, ents, l->n, v);
        rokv_list_free(l);
    } else if (ro_policy_threshold(p) > 0) {
        v->threshold = ro_policy_threshold(p);
        v->hold = 1;
        snprintf(v->reason, sizeof v->reason, "rollout of %s held back: cannot read %s: %s",
                 version, RO_BUCKET, e && e->desc[0] ? e->desc : nats_strerror(rc));
    }
    free(ents);
    free(l);
    return rc;
}

int rokv_resume(nats_conn *c, kv_bucket *b, const char *version, const char *by,
                int *baseline, js_err *e)
{
    ro_verdict v;
    ro_policy none;
    char key[RO_KEY_MAX], val[256];
    uint64_t rev;
    int rc;
    memset(&none, 0, sizeof none);
    rc = rokv_check(c, b, &none, version, &v, e);
    if (rc != NATS_OK) return rc;
    if (ro_ctl_key(version, key, sizeof key) != RO_OK
        || ro_ctl_write(v.failures, by, val, sizeof val) != RO_OK)
        return js_fail(e, NATS_ERR_ARG, "not a valid version");
    if (baseline) *baseline = v.failures;
    return kv_put(b, key, val, strlen(val), &rev, e);
}
