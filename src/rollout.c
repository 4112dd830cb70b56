/*
** rollout.c — halt policy, wave plan, failure records and the halt
** verdict. See rollout.h for the formats. Pure: no windows.h, no
** allocation.
**
** Why counting keys and not a shared counter: a counter needs a
** read-modify-write, and two agents failing at the same moment would race
** (one increment lost, or one retry loop per failure against the broker).
** One key per version and PC needs no coordination at all: each failing
** agent creates its own key, the reader counts them. A PC that fails twice
** rewrites its own key and still counts once.
*/
#include <stdio.h>
#include <string.h>
#include "rollout.h"
#include "json.h"

#define RO_TOKENS 1024

static int is_digit(int c) { return c >= '0' && c <= '9'; }
static int is_ws(int c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

/* Copies s into out[cap] or fails with RO_ERR_SPACE (out = ""). */
static int put_str(char *out, size_t cap, const char *s)
{
    size_t n = strlen(s);
    if (!out || cap == 0) return RO_ERR_SPACE;
    if (n >= cap) { out[0] = 0; return RO_ERR_SPACE; }
    memcpy(out, s, n + 1);
    return RO_OK;
}

/* Non-negative decimal integer, at most 18 digits, the whole string. */
static int parse_u(const char *s, size_t n, int64_t *v)
{
    size_t i;
    int64_t x = 0;
    if (n == 0 || n > 18) return -1;
    for (i = 0; i < n; i++) {
        if (!is_digit((unsigned char)s[i])) return -1;
        x = x * 10 + (s[i] - '0');
    }
    *v = x;
    return 0;
}

/* Parses js as one JSON object (surrounding whitespace allowed). */
static int parse_object(json_doc *d, const char *js, size_t len, json_tok *tok, int cap)
{
    if (!js) return RO_ERR_JSON;
    if (json_parse(d, js, len, tok, cap) != JSON_OK) return RO_ERR_JSON;
    if (d->ntok < 1 || tok[0].type != JSON_OBJECT) return RO_ERR_JSON;
    return RO_OK;
}

/* ---- policy ------------------------------------------------------------- */

/* "5", "5.5", "0.25" followed by '%' -> basis points; *end past the '%'. */
static int parse_percent(const char *s, int *bp, const char **end)
{
    int64_t whole = 0, frac = 0;
    int nd = 0, nf = 0;
    while (is_digit((unsigned char)*s) && nd < 4) { whole = whole * 10 + (*s++ - '0'); nd++; }
    if (nd == 0 || is_digit((unsigned char)*s)) return RO_ERR_INVALID;
    if (*s == '.') {
        s++;
        while (is_digit((unsigned char)*s) && nf < 2) { frac = frac * 10 + (*s++ - '0'); nf++; }
        if (nf == 0 || is_digit((unsigned char)*s)) return RO_ERR_INVALID;
        if (nf == 1) frac *= 10;
    }
    if (*s != '%') return RO_ERR_INVALID;
    whole = whole * 100 + frac;
    if (whole < 1 || whole > 10000) return RO_ERR_INVALID;
    *bp = (int)whole;
    *end = s + 1;
    return RO_OK;
}

int ro_parse_ratio(const char *s, int *bp)
{
    const char *end;
    int v;
    if (!s || !bp || parse_percent(s, &v, &end) != RO_OK || *end) return RO_ERR_INVALID;
    *bp = v;
    return RO_OK;
}

int ro_policy_parse(const char *s, ro_policy *p)
{
    ro_policy q;
    const char *slash;
    int64_t v;
    if (!s || !p) return RO_ERR_INVALID;
    memset(&q, 0, sizeof q);
    slash = strchr(s, '/');
    if (strcmp(s, "off") == 0) {
        q.kind = RO_HALT_OFF;
    } else if (slash) {
        const char *end;
        if (parse_percent(s, &q.ratio_bp, &end) != RO_OK || end != slash) return RO_ERR_INVALID;
        if (parse_u(slash + 1, strlen(slash + 1), &v) || v < 1 || v > 1000000) return RO_ERR_INVALID;
        q.kind = RO_HALT_RATIO;
        q.hosts = (int)v;
    } else {
        if (parse_u(s, strlen(s), &v) || v > 1000000) return RO_ERR_INVALID;
        q.kind = v ? RO_HALT_AFTER : RO_HALT_OFF;
        q.after = (int)v;
    }
    *p = q;
    return RO_OK;
}

int ro_policy_format(const ro_policy *p, char *out, size_t cap)
{
    char buf[64];
    if (!p || !out || cap == 0) return RO_ERR_SPACE;
    switch (p->kind) {
    case RO_HALT_UNSET: buf[0] = 0; break;
    case RO_HALT_OFF: snprintf(buf, sizeof buf, "off"); break;
    case RO_HALT_AFTER:
        if (p->after < 1) return RO_ERR_INVALID;
        snprintf(buf, sizeof buf, "%d", p->after);
        break;
    case RO_HALT_RATIO:
        if (p->ratio_bp < 1 || p->ratio_bp > 10000 || p->hosts < 1) return RO_ERR_INVALID;
        if (p->ratio_bp % 100)
            snprintf(buf, sizeof buf, "%d.%02d%%/%d", p->ratio_bp / 100, p->ratio_bp % 100, p->hosts);
        else
            snprintf(buf, sizeof buf, "%d%%/%d", p->ratio_bp / 100, p->hosts);
        break;
    default: return RO_ERR_INVALID;
    }
    return put_str(out, cap, buf);
}

int ro_policy_threshold(const ro_policy *p)
{
    int64_t t;
    if (!p) return 0;
    if (p->kind == RO_HALT_AFTER) return p->after > 0 ? p->after : 0;
    if (p->kind != RO_HALT_RATIO || p->hosts < 1 || p->ratio_bp < 1) return 0;
    t = ((int64_t)p->ratio_bp * p->hosts + 9999) / 10000;
    return t < 1 ? 1 : (int)t;
}

/* ---- plan --------------------------------------------------------------- */

int ro_plan_parse_waves(const char *list, ro_plan *p)
{
    ro_plan q;
    const char *s = list;
    if (!list || !p || !*list) return RO_ERR_INVALID;
    memset(&q, 0, sizeof q);
    for (;;) {
        const char *comma = strchr(s, ',');
        size_t n = comma ? (size_t)(comma - s) : strlen(s);
        char name[SCOPE_ID_MAX + 1];
        int k;
        if (n == 0 || n > SCOPE_ID_MAX || q.nwaves == RO_MAX_WAVES) return RO_ERR_INVALID;
        memcpy(name, s, n);
        name[n] = 0;
        if (!scope_valid_id(name)) return RO_ERR_INVALID;
        for (k = 0; k < q.nwaves; k++)
            if (strcmp(q.waves[k], name) == 0 || strcmp(q.waves[k], "global") == 0)
                return RO_ERR_INVALID;   /* a repeat, or a wave after global */
        memcpy(q.waves[q.nwaves++], name, n + 1);
        if (!comma) break;
        s = comma + 1;
    }
    p->nwaves = q.nwaves;
    memcpy(p->waves, q.waves, sizeof q.waves);
    return RO_OK;
}

int ro_plan_format_waves(const ro_plan *p, char *out, size_t cap)
{
    size_t len = 0;
    int k;
    if (!p || !out || cap == 0) return RO_ERR_SPACE;
    out[0] = 0;
    for (k = 0; k < p->nwaves && k < RO_MAX_WAVES; k++) {
        size_t n = strlen(p->waves[k]);
        if (len + n + 2 > cap) { out[0] = 0; return RO_ERR_SPACE; }
        if (k) out[len++] = ',';
        memcpy(out + len, p->waves[k], n + 1);
        len += n;
    }
    return RO_OK;
}

int ro_wave_of(const ro_plan *p, char groups[][SCOPE_ID_MAX + 1], int ngroups)
{
    int k, i;
    if (!p) return -1;
    for (k = 0; k < p->nwaves && k < RO_MAX_WAVES; k++) {
        if (strcmp(p->waves[k], "global") == 0) return k;
        for (i = 0; groups && i < ngroups; i++)
            if (strcmp(groups[i], p->waves[k]) == 0) return k;
    }
    return -1;
}

int64_t ro_wave_start_ms(const ro_plan *p, int k)
{
    if (!p || k <= 0 || p->gap_ms <= 0) return p ? p->start_ms : 0;
    if (p->gap_ms > (INT64_MAX - p->start_ms) / k) return INT64_MAX;
    return p->start_ms + p->gap_ms * k;
}

int64_t ro_schedule_ms(const ro_plan *p, int wave, int64_t now_ms, int64_t draw_ms)
{
    int64_t at = now_ms;
    if (draw_ms < 0) draw_ms = 0;
    if (p && p->nwaves > 0) {
        int64_t w;
        if (wave < 0) return INT64_MAX;
        w = ro_wave_start_ms(p, wave);
        if (w > at) at = w;
    }
    if (at > INT64_MAX - draw_ms) return INT64_MAX;
    return at + draw_ms;
}

/* ---- scope fields ------------------------------------------------------- */

/* The string value of field key in the object: 1 set, 0 absent/null,
** -1 present but not a string (or too long). */
static int str_field(const json_doc *d, const char *key, char *out, size_t cap)
{
    int i = json_find(d, 0, key);
    out[0] = 0;
    if (i < 0) return 0;
    if (d->tok[i].type == JSON_PRIMITIVE && json_tok_eq(d, i, "null")) return 0;
    if (d->tok[i].type != JSON_STRING || json_tok_str(d, i, out, cap) != JSON_OK) {
        out[0] = 0;
        return -1;
    }
    return 1;
}

static void note(char *buf, size_t cap, const char *what)
{
    size_t len = strlen(buf);
    snprintf(buf + len, cap - len, "%s%s", len ? "; " : "", what);
}

/* Reads waves/wave_gap/wave_start: all three or the plan is dropped. */
static int read_plan(const json_doc *d, ro_rollout *r)
{
    char w[RO_MAX_WAVES * (SCOPE_ID_MAX + 1) + 8], gap[32], start[32];
    int hw = str_field(d, "waves", w, sizeof w);
    int hg = str_field(d, "wave_gap", gap, sizeof gap);
    int hs = str_field(d, "wave_start", start, sizeof start);
    ro_plan p;
    memset(&p, 0, sizeof p);
    if (hw == 0 && hg == 0 && hs == 0) return RO_OK;
    if (hw != 1 || ro_plan_parse_waves(w, &p) != RO_OK) {
        note(r->errors, sizeof r->errors, "waves is not a list of group names, plan ignored");
        return RO_ERR_INVALID;
    }
    if (hg != 1 || scope_parse_duration(gap, &p.gap_ms) != SCOPE_OK) {
        note(r->errors, sizeof r->errors, "wave_gap is not a duration, plan ignored");
        return RO_ERR_INVALID;
    }
    if (hs != 1 || parse_u(start, strlen(start), &p.start_ms)) {
        note(r->errors, sizeof r->errors, "wave_start is not unix milliseconds, plan ignored");
        return RO_ERR_INVALID;
    }
    r->plan = p;
    return RO_OK;
}

int ro_read_scope(const char *json, size_t len, ro_rollout *r)
{
    json_tok tok[RO_TOKENS];
    json_doc d;
    char s[SCOPE_VERSION_MAX + 8];
    int rc = RO_OK, h;
    size_t k;
    if (!r) return RO_ERR_INVALID;
    memset(r, 0, sizeof *r);
    for (k = 0; json && k < len && is_ws((unsigned char)json[k]); k++) {}
    if (!json || k == len) return RO_OK;              /* blank = {} */
    if (parse_object(&d, json, len, tok, RO_TOKENS) != RO_OK) return RO_ERR_JSON;

    h = str_field(&d, "halt_policy", s, sizeof s);
    if (h == 1 && ro_policy_parse(s, &r->policy) != RO_OK) h = -1;
    if (h < 0) {
        note(r->errors, sizeof r->errors, "halt_policy is not off, N or P%/H");
        rc = RO_ERR_INVALID;
    }
    if (read_plan(&d, r) != RO_OK) rc = RO_ERR_INVALID;
    h = str_field(&d, "previous_version", s, sizeof s);
    if (h == 1 && (s[0] == 0 || scope_valid_version(s))) {
        r->has_previous = 1;
        memcpy(r->previous, s, strlen(s) + 1);
    } else if (h != 0) {
        note(r->errors, sizeof r->errors, "previous_version is not a version");
        rc = RO_ERR_INVALID;
    }
    return rc;
}

/* Which of the keys the object has. A value that is not an object counts
** as having them all, so the rewrite reports it instead of passing it on. */
static void fields_present(const char *json, size_t len, const char *const *names, int n, int *present)
{
    json_tok tok[RO_TOKENS];
    json_doc d;
    size_t k;
    int i, obj;
    for (k = 0; json && k < len && is_ws((unsigned char)json[k]); k++) {}
    if (!json || k == len) return;                    /* blank = {} */
    obj = parse_object(&d, json, len, tok, RO_TOKENS) == RO_OK;
    for (i = 0; i < n; i++) present[i] = !obj || json_find(&d, 0, names[i]) >= 0;
}

int ro_write_scope(const char *json, size_t len, const ro_rollout *r, char *out, size_t cap)
{
    char a[4096], b[4096], v[RO_MAX_WAVES * (SCOPE_ID_MAX + 1) + 8];
    const char *cur = json;
    size_t curlen = json ? len : 0;
    int i;
    const char *names[5] = { "halt_policy", "waves", "wave_gap", "wave_start", "previous_version" };
    int present[5] = { 0, 0, 0, 0, 0 };
    if (!r || !out || cap == 0) return RO_ERR_INVALID;
    out[0] = 0;
    fields_present(json, curlen, names, 5, present);
    for (i = 0; i < 5; i++) {
        const char *val = NULL;
        char *dst = (i % 2) ? b : a;
        int rc;
        v[0] = 0;
        if (i == 0 && r->policy.kind != RO_HALT_UNSET) {
            if (ro_policy_format(&r->policy, v, sizeof v) != RO_OK) return RO_ERR_INVALID;
            val = v;
        } else if (i >= 1 && i <= 3 && r->plan.nwaves > 0) {
            if (i == 1 && ro_plan_format_waves(&r->plan, v, sizeof v) != RO_OK) return RO_ERR_INVALID;
            if (i == 2 && scope_format_duration(r->plan.gap_ms, v, sizeof v) != SCOPE_OK)
                return RO_ERR_INVALID;
            if (i == 3) snprintf(v, sizeof v, "%lld", (long long)r->plan.start_ms);
            val = v;
        } else if (i == 4 && r->has_previous) {
            val = r->previous;
        }
        if (!val && !present[i]) {
            /* Unset and absent: nothing to clear, so nothing is added. */
            char *to = i == 4 ? out : dst;
            size_t tocap = i == 4 ? cap : sizeof a;
            if (curlen >= tocap) { out[0] = 0; return RO_ERR_SPACE; }
            if (cur != to) memmove(to, cur ? cur : "", curlen);
            to[curlen] = 0;
            cur = to;
            continue;
        }
        rc = scope_set_field(cur, curlen, names[i], val, i == 4 ? out : dst, i == 4 ? cap : sizeof a);
        if (rc == SCOPE_ERR_JSON) return RO_ERR_JSON;
        if (rc != SCOPE_OK) { out[0] = 0; return RO_ERR_SPACE; }
        cur = dst;
        curlen = strlen(dst);
    }
    return RO_OK;
}

int ro_statement_lines(const ro_rollout *r, char *out, size_t cap)
{
    char pol[64] = "", waves[RO_MAX_WAVES * (SCOPE_ID_MAX + 1) + 8] = "", gap[64] = "", start[32] = "";
    int n;
    if (!r || !out || cap == 0) return RO_ERR_INVALID;
    out[0] = 0;
    if (ro_policy_format(&r->policy, pol, sizeof pol) != RO_OK) return RO_ERR_INVALID;
    if (r->plan.nwaves > 0) {
        if (ro_plan_format_waves(&r->plan, waves, sizeof waves) != RO_OK
            || scope_format_duration(r->plan.gap_ms, gap, sizeof gap) != SCOPE_OK)
            return RO_ERR_INVALID;
        snprintf(start, sizeof start, "%lld", (long long)r->plan.start_ms);
    }
    n = snprintf(out, cap, "halt=%s\nwaves=%s\nwave_gap=%s\nwave_start=%s\nprevious=%s\n", pol, waves, gap,
                 start, r->previous);
    if (n < 0 || (size_t)n >= cap) { out[0] = 0; return RO_ERR_SPACE; }
    return RO_OK;
}

/* ---- keys --------------------------------------------------------------- */

int ro_escape_version(const char *version, char *out, size_t cap)
{
    size_t i, n = 0;
    if (!out || cap == 0) return RO_ERR_SPACE;
    out[0] = 0;
    if (!scope_valid_version(version)) return RO_ERR_INVALID;
    for (i = 0; version[i]; i++) {
        const char *rep = NULL;
        char one[2] = { version[i], 0 };
        size_t m;
        if (version[i] == '.') rep = "_";
        else if (version[i] == '_') rep = "=5F";
        else if (version[i] == '+') rep = "=2B";
        else rep = one;
        m = strlen(rep);
        if (n + m >= cap) { out[0] = 0; return RO_ERR_SPACE; }
        memcpy(out + n, rep, m);
        n += m;
    }
    out[n] = 0;
    return RO_OK;
}

int ro_unescape_version(const char *esc, char *out, size_t cap)
{
    char buf[SCOPE_VERSION_MAX + 1], back[RO_ESC_MAX];
    size_t i, n = 0;
    if (!esc || !out || cap == 0) return RO_ERR_INVALID;
    out[0] = 0;
    for (i = 0; esc[i]; i++) {
        char c = esc[i];
        if (n >= SCOPE_VERSION_MAX) return RO_ERR_INVALID;
        if (c == '_') c = '.';
        else if (c == '=') {
            if (strncmp(esc + i, "=5F", 3) == 0) c = '_';
            else if (strncmp(esc + i, "=2B", 3) == 0) c = '+';
            else return RO_ERR_INVALID;
            i += 2;
        }
        buf[n++] = c;
    }
    buf[n] = 0;
    /* Only the one spelling ro_escape_version produces is accepted. */
    if (ro_escape_version(buf, back, sizeof back) != RO_OK || strcmp(back, esc) != 0)
        return RO_ERR_INVALID;
    return put_str(out, cap, buf);
}

static int make_key(const char *kind, const char *version, const char *pc, char *out, size_t cap)
{
    char esc[RO_ESC_MAX];
    int n;
    if (!out || cap == 0) return RO_ERR_SPACE;
    out[0] = 0;
    if (ro_escape_version(version, esc, sizeof esc) != RO_OK) return RO_ERR_INVALID;
    if (pc && *pc && !scope_valid_id(pc)) return RO_ERR_INVALID;
    n = snprintf(out, cap, "%s.%s%s%s", kind, esc, pc ? "." : "", pc ? pc : "");
    if (n < 0 || (size_t)n >= cap) { out[0] = 0; return RO_ERR_SPACE; }
    return RO_OK;
}

int ro_fail_key(const char *version, const char *pc, char *out, size_t cap)
{
    if (!pc || !scope_valid_id(pc)) { if (out && cap) out[0] = 0; return RO_ERR_INVALID; }
    return make_key("fail", version, pc, out, cap);
}

int ro_fail_prefix(const char *version, char *out, size_t cap)
{
    return make_key("fail", version, "", out, cap);
}

int ro_ctl_key(const char *version, char *out, size_t cap)
{
    return make_key("ctl", version, NULL, out, cap);
}

/* ---- records ------------------------------------------------------------ */

int ro_counts_state(const char *state)
{
    return state && (strcmp(state, "failed") == 0 || strcmp(state, "rolled_back") == 0
                     || strcmp(state, "quarantined") == 0);
}

int ro_fail_write(const ro_fail *f, char *out, size_t cap)
{
    json_w w;
    if (!f || !out || cap == 0) return RO_ERR_INVALID;
    out[0] = 0;
    if (!scope_valid_id(f->pc) || !scope_valid_version(f->version) || !ro_counts_state(f->state))
        return RO_ERR_INVALID;
    json_w_init(&w, out, cap);
    json_w_obj_open(&w);
    json_w_kstr(&w, "pc", f->pc);
    json_w_kstr(&w, "version", f->version);
    json_w_kstr(&w, "state", f->state);
    json_w_kstr(&w, "reason", f->reason);
    json_w_kint(&w, "at_ms", f->at_ms);
    json_w_obj_close(&w);
    if (w.err) { out[0] = 0; return RO_ERR_SPACE; }
    return RO_OK;
}

int ro_fail_parse(const char *js, size_t len, ro_fail *f)
{
    json_tok tok[64];
    json_doc d;
    char reason[2048];
    int64_t at = 0;
    if (!f) return RO_ERR_INVALID;
    memset(f, 0, sizeof *f);
    if (parse_object(&d, js, len, tok, 64) != RO_OK) return RO_ERR_JSON;
    if (json_get_str(&d, 0, "pc", f->pc, sizeof f->pc) != JSON_OK || !scope_valid_id(f->pc)
        || json_get_str(&d, 0, "version", f->version, sizeof f->version) != JSON_OK
        || !scope_valid_version(f->version)
        || json_get_str(&d, 0, "state", f->state, sizeof f->state) != JSON_OK
        || !ro_counts_state(f->state)) {
        memset(f, 0, sizeof *f);
        return RO_ERR_JSON;
    }
    /* The reason and time are informative: a missing one is not malformed. */
    if (json_get_str(&d, 0, "reason", reason, sizeof reason) == JSON_OK) {
        size_t n = strlen(reason);
        if (n >= sizeof f->reason) {
            n = sizeof f->reason - 1;
            while (n > 0 && ((unsigned char)reason[n] & 0xC0) == 0x80) n--;   /* whole UTF-8 */
        }
        memcpy(f->reason, reason, n);
        f->reason[n] = 0;
    }
    if (json_get_int(&d, 0, "at_ms", &at) == JSON_OK && at > 0) f->at_ms = at;
    return RO_OK;
}

int ro_ctl_write(int baseline, const char *by, char *out, size_t cap)
{
    json_w w;
    if (!out || cap == 0 || baseline < 0) return RO_ERR_INVALID;
    json_w_init(&w, out, cap);
    json_w_obj_open(&w);
    json_w_kint(&w, "baseline", baseline);
    json_w_kstr(&w, "by", by ? by : "");
    json_w_obj_close(&w);
    if (w.err) { out[0] = 0; return RO_ERR_SPACE; }
    return RO_OK;
}

int ro_ctl_parse(const char *js, size_t len, int *baseline)
{
    json_tok tok[64];
    json_doc d;
    int64_t b;
    if (!baseline) return RO_ERR_INVALID;
    if (parse_object(&d, js, len, tok, 64) != RO_OK) return RO_ERR_JSON;
    if (json_get_int(&d, 0, "baseline", &b) != JSON_OK || b < 0 || b > 1000000) return RO_ERR_JSON;
    *baseline = (int)b;
    return RO_OK;
}

/* ---- verdict ------------------------------------------------------------ */

/* The first reasons by time: keeps up to FIRST records with the smallest
** at_ms (ties by pc) in order. */
#define FIRST 3
typedef struct firsts { ro_fail f[FIRST]; int n; } firsts;

static int earlier(const ro_fail *a, const ro_fail *b)
{
    if (a->at_ms != b->at_ms) return a->at_ms < b->at_ms;
    return strcmp(a->pc, b->pc) < 0;
}

static void keep_first(firsts *fs, const ro_fail *f)
{
    int i = fs->n < FIRST ? fs->n : FIRST - 1;
    if (fs->n == FIRST && !earlier(f, &fs->f[FIRST - 1])) return;
    for (; i > 0 && earlier(f, &fs->f[i - 1]); i--) fs->f[i] = fs->f[i - 1];
    fs->f[i] = *f;
    if (fs->n < FIRST) fs->n++;
}

static void excerpt_key(const char *key, char out[48])
{
    size_t i;
    for (i = 0; key[i] && i < 40; i++) {
        unsigned char c = (unsigned char)key[i];
        out[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    out[i] = 0;
}

/* Looks at one bucket entry for `version`: counts it, keeps it among the
** first reasons, or notes it as malformed. */
static void take_entry(const ro_entry *e, const char *prefix, const char *ctl,
                       const char *version, ro_verdict *v, firsts *fs)
{
    size_t pl = strlen(prefix);
    char ex[48], what[96];
    ro_fail f;
    if (!e->key) return;
    if (strcmp(e->key, ctl) == 0) {
        if (ro_ctl_parse(e->val, e->val ? e->len : 0, &v->baseline) != RO_OK) {
            v->malformed++;
            excerpt_key(e->key, ex);
            snprintf(what, sizeof what, "%s: not {\"baseline\":N}", ex);
            note(v->problems, sizeof v->problems, what);
        }
        return;
    }
    if (strncmp(e->key, prefix, pl) != 0) return;
    if (ro_fail_parse(e->val, e->val ? e->len : 0, &f) != RO_OK
        || strcmp(f.pc, e->key + pl) != 0 || strcmp(f.version, version) != 0) {
        v->malformed++;
        excerpt_key(e->key, ex);
        snprintf(what, sizeof what, "%s: not a failure record of this pc and version", ex);
        note(v->problems, sizeof v->problems, what);
        return;
    }
    v->failures++;
    keep_first(fs, &f);
}

int ro_evaluate(const ro_policy *policy, const char *version,
                const ro_entry *e, int n, ro_verdict *v)
{
    char prefix[RO_KEY_MAX], ctl[RO_KEY_MAX];
    firsts fs;
    int i, eff;
    size_t len;
    if (!v) return RO_ERR_INVALID;
    memset(v, 0, sizeof *v);
    if (ro_fail_prefix(version, prefix, sizeof prefix) != RO_OK
        || ro_ctl_key(version, ctl, sizeof ctl) != RO_OK)
        return RO_ERR_INVALID;
    memset(&fs, 0, sizeof fs);
    for (i = 0; e && i < n; i++) take_entry(&e[i], prefix, ctl, version, v, &fs);

    v->threshold = ro_policy_threshold(policy);
    eff = v->failures - v->baseline;
    if (v->threshold > 0 && eff >= v->threshold) {
        v->halted = v->hold = 1;
        len = (size_t)snprintf(v->reason, sizeof v->reason,
                               "rollout of %s halted: %d host%s failed (threshold %d%s)",
                               version, v->failures, v->failures == 1 ? "" : "s", v->threshold,
                               v->baseline ? ", counted after a resume" : "");
        for (i = 0; i < fs.n && len < sizeof v->reason; i++)
            len += (size_t)snprintf(v->reason + len, sizeof v->reason - len, "%s %s: %s: %s",
                                    i ? ";" : ":", fs.f[i].pc, fs.f[i].state,
                                    fs.f[i].reason[0] ? fs.f[i].reason : "(no reason)");
    } else if (v->threshold > 0 && v->malformed > 0) {
        v->hold = 1;
        snprintf(v->reason, sizeof v->reason,
                 "rollout of %s held back: %d record%s in %s cannot be read (%s)",
                 version, v->malformed, v->malformed == 1 ? "" : "s", RO_BUCKET, v->problems);
    }
    return RO_OK;
}

/* ---- what `kanade agent rollout` writes --------------------------------- */

static int prep_policy(const ro_options *o, ro_policy *p, char *msg, size_t cap)
{
    int bp;
    memset(p, 0, sizeof *p);
    if (o->halt_after && o->halt_ratio) {
        snprintf(msg, cap, "use --halt-after or --halt-ratio, not both");
        return RO_ERR_INVALID;
    }
    if (o->halt_after) {
        if (ro_policy_parse(o->halt_after, p) != RO_OK || p->kind == RO_HALT_RATIO
            || !strcmp(o->halt_after, "off")) {
            snprintf(msg, cap, "--halt-after '%.40s' is not a number of hosts (0 disables the halt)",
                     o->halt_after);
            return RO_ERR_INVALID;
        }
        if (p->kind == RO_HALT_OFF)
            snprintf(msg, cap, "--halt-after 0: automatic halt disabled for this rollout");
    } else if (o->halt_ratio) {
        if (ro_parse_ratio(o->halt_ratio, &bp) != RO_OK) {
            snprintf(msg, cap, "--halt-ratio '%.40s' is not a percentage like 5%% or 0.5%%", o->halt_ratio);
            return RO_ERR_INVALID;
        }
        p->kind = RO_HALT_RATIO;
        p->ratio_bp = bp;
        p->hosts = o->hosts > 0 ? o->hosts : 1;
    } else if (strcmp(o->kind, "pcs") != 0) {
        p->kind = RO_HALT_AFTER;
        p->after = RO_DEFAULT_HALT_AFTER;
    }
    return RO_OK;
}

int ro_prepare(const ro_options *o, const char *version, const char *cur, size_t len,
               ro_rollout *out, char *msg, size_t cap)
{
    json_tok tok[RO_TOKENS];
    json_doc d;
    char tv[SCOPE_VERSION_MAX + 8];
    ro_rollout old;
    int rc;
    if (!o || !o->kind || !out || !msg || cap == 0) return RO_ERR_INVALID;
    msg[0] = 0;
    memset(out, 0, sizeof *out);
    if (!scope_valid_version(version)) {
        snprintf(msg, cap, "'%.70s' is not a valid version", version ? version : "");
        return RO_ERR_INVALID;
    }
    if ((rc = prep_policy(o, &out->policy, msg, cap)) != RO_OK) return rc;
    if (!strcmp(o->kind, "waves")) {
        if (!o->waves || ro_plan_parse_waves(o->waves, &out->plan) != RO_OK) {
            snprintf(msg, cap, "--waves '%.60s' is not a comma list of groups (global only last)",
                     o->waves ? o->waves : "");
            return RO_ERR_INVALID;
        }
        out->plan.gap_ms = 3600000;
        if (o->wave_gap && (scope_parse_duration(o->wave_gap, &out->plan.gap_ms) != SCOPE_OK
                            || out->plan.gap_ms <= 0)) {
            snprintf(msg, cap, "--wave-gap '%.40s' is not a duration like 30m or 1h", o->wave_gap);
            return RO_ERR_INVALID;
        }
        out->plan.start_ms = o->now_ms;
    } else if (o->waves || o->wave_gap) {
        snprintf(msg, cap, "--wave-gap needs --waves");
        return RO_ERR_INVALID;
    }
    /* previous: the scope's target before this rollout */
    out->has_previous = 1;
    tv[0] = 0;
    if (cur && len && parse_object(&d, cur, len, tok, RO_TOKENS) == RO_OK
        && str_field(&d, "target_version", tv, sizeof tv) != 1)
        tv[0] = 0;
    if (!scope_valid_version(tv)) tv[0] = 0;
    if (tv[0] && !strcmp(tv, version)) {
        if (ro_read_scope(cur, len, &old) != RO_ERR_JSON && old.has_previous)
            memcpy(out->previous, old.previous, sizeof out->previous);
        else
            out->has_previous = 0;      /* re-rolled without a record: abort cannot know */
    } else {
        memcpy(out->previous, tv, strlen(tv) + 1);
    }
    return RO_OK;
}
