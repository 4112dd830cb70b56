/*
** nats_proto.c — incremental NATS protocol parser and framing. See
** nats_proto.h for the contract. Pure: no windows.h, no allocation.
*/
#include <string.h>
#include "nats_proto.h"
#include "json.h"

enum { ST_LINE, ST_PAYLOAD, ST_PAY_CR, ST_PAY_LF };

static int is_ws(int c) { return c == ' ' || c == '\t'; }

static int lower(int c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

/* Case-insensitive compare of s[0..n) with the NUL-terminated lit. */
static int ieq(const char *s, size_t n, const char *lit)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (lit[i] == 0 || lower((unsigned char)s[i]) != lower((unsigned char)lit[i])) return 0;
    return lit[n] == 0;
}

/* Records the sticky error and returns it. */
static int fail(np_parser *p, int err, const char *why)
{
    p->err = err;
    p->why = why;
    return err;
}

void np_init(np_parser *p, char *line, size_t line_size, size_t max_payload)
{
    memset(p, 0, sizeof *p);
    p->line = line;
    p->line_size = line_size;
    p->max_payload = max_payload;
    p->why = "";
    p->state = ST_LINE;
}

void np_reset(np_parser *p)
{
    np_init(p, p->line, p->line_size, p->max_payload);
}

void np_set_max_payload(np_parser *p, size_t max_payload) { p->max_payload = max_payload; }

void np_set_dest(np_parser *p, void *dest) { p->dest = (unsigned char *)dest; }

const char *np_why(const np_parser *p) { return p->why ? p->why : ""; }

const char *np_strerror(int rc)
{
    switch (rc) {
    case NP_OK:            return "ok";
    case NP_ERR_LINE:      return "protocol line too long";
    case NP_ERR_SIZE:      return "bad payload size";
    case NP_ERR_PROTO:     return "malformed protocol input";
    case NP_ERR_SPACE:     return "output buffer too small";
    case NP_ERR_ARG:       return "invalid argument";
    case NP_ERR_NOT_FOUND: return "not found";
    default:               return "unknown error";
    }
}

/*
** Parses a decimal number token. Returns 0 and *out on success, 1 when the
** token is empty, has a non-digit or exceeds `max`.
*/
static int parse_num(const char *s, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    if (!*s) return 1;
    for (; *s; s++) {
        unsigned d;
        if (*s < '0' || *s > '9') return 1;
        d = (unsigned)(*s - '0');
        if (v > (max - d) / 10) return 1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/*
** Splits args (NUL-terminated, no leading whitespace) in place at runs of
** spaces/tabs into at most cap tokens. Returns the count, or cap + 1 when
** there are more.
*/
static int split(char *args, char **tok, int cap)
{
    int n = 0;
    char *s = args;
    while (*s) {
        if (n == cap) return cap + 1;
        tok[n++] = s;
        while (*s && !is_ws((unsigned char)*s)) s++;
        if (!*s) break;
        *s++ = 0;
        while (is_ws((unsigned char)*s)) s++;
    }
    return n;
}

/* MSG/HMSG arguments: fills p->msg and enters the payload state. */
static int parse_msg_args(np_parser *p, char *args, int hmsg, np_event *ev)
{
    char *tok[6];
    int n = split(args, tok, 5);
    uint64_t sid, hdr = 0, total;
    int base = hmsg ? 4 : 3;     /* token count without a reply subject */
    const char *reply = NULL;

    if (n != base && n != base + 1)
        return fail(p, NP_ERR_PROTO, hmsg ? "HMSG needs <subject> <sid> [reply] <#hdr> <#total>"
                                          : "MSG needs <subject> <sid> [reply] <#bytes>");
    if (parse_num(tok[1], UINT64_MAX, &sid))
        return fail(p, NP_ERR_PROTO, "sid is not a decimal number");
    if (n == base + 1) reply = tok[2];
    if (parse_num(tok[n - 1], UINT64_MAX, &total))
        return fail(p, NP_ERR_SIZE, "payload size is not a decimal number");
    if (hmsg && parse_num(tok[n - 2], UINT64_MAX, &hdr))
        return fail(p, NP_ERR_SIZE, "header size is not a decimal number");
    if (total > (uint64_t)p->max_payload)
        return fail(p, NP_ERR_SIZE, "payload size exceeds the limit");
    if (hdr > total)
        return fail(p, NP_ERR_PROTO, "header size exceeds total size");

    memset(&p->msg, 0, sizeof p->msg);
    p->msg.type = NP_EV_MSG;
    p->msg.is_hmsg = hmsg;
    p->msg.subject = tok[0];
    p->msg.reply = reply;
    p->msg.sid = sid;
    p->msg.hdr_len = (size_t)hdr;
    p->msg.total_len = (size_t)total;
    p->dest = NULL;
    p->pay_total = (size_t)total;
    p->pay_got = 0;
    p->state = ST_PAYLOAD;
    *ev = p->msg;
    return NP_OK;
}

/*
** Interprets the complete control line in p->line[0..line_len) (without
** its LF). Returns NP_OK with *ev filled, or a sticky error.
*/
static int process_line(np_parser *p, np_event *ev)
{
    char *s = p->line;
    size_t n = p->line_len, op_len, a;
    int is_info;

    if (memchr(s, 0, n)) return fail(p, NP_ERR_PROTO, "NUL byte in a control line");
    if (n > 0 && s[n - 1] == '\r') n--;
    while (n > 0 && is_ws((unsigned char)s[n - 1])) n--;
    s[n] = 0;
    for (op_len = 0; op_len < n && !is_ws((unsigned char)s[op_len]); op_len++) {}
    is_info = ieq(s, op_len, "INFO");
    if (n > (is_info ? p->line_size - 2 : NP_MAX_LINE))
        return fail(p, NP_ERR_LINE, is_info ? "INFO line too long" : "control line too long");
    for (a = op_len; a < n && is_ws((unsigned char)s[a]); a++) {}

    memset(ev, 0, sizeof *ev);
    if (op_len == 0)
        return fail(p, NP_ERR_PROTO, "empty control line");
    if (ieq(s, op_len, "MSG") || ieq(s, op_len, "HMSG"))
        return parse_msg_args(p, s + a, op_len == 4, ev);
    if (ieq(s, op_len, "PING") || ieq(s, op_len, "PONG") || ieq(s, op_len, "+OK")) {
        if (a != n) return fail(p, NP_ERR_PROTO, "unexpected arguments after PING/PONG/+OK");
        ev->type = ieq(s, op_len, "PING") ? NP_EV_PING : ieq(s, op_len, "PONG") ? NP_EV_PONG : NP_EV_OK;
        return NP_OK;
    }
    if (is_info) {
        if (a == n) return fail(p, NP_ERR_PROTO, "INFO without a JSON argument");
        ev->type = NP_EV_INFO;
        ev->text = s + a;
        ev->text_len = n - a;
        return NP_OK;
    }
    if (ieq(s, op_len, "-ERR")) {
        size_t b = a, e = n;
        /* "-ERR 'Authorization Violation'": hand out the text without quotes. */
        if (e - b >= 2 && s[b] == '\'' && s[e - 1] == '\'') { b++; e--; }
        s[e] = 0;
        ev->type = NP_EV_ERR;
        ev->text = s + b;
        ev->text_len = e - b;
        return NP_OK;
    }
    return fail(p, NP_ERR_PROTO, "unknown protocol operation");
}

/* Cap that applies to the line accumulated so far (INFO gets the buffer). */
static size_t line_cap(const np_parser *p)
{
    size_t info_cap = p->line_size - 2;
    if (p->line_len >= 4 && !ieq(p->line, 4, "INFO")) return NP_MAX_LINE < info_cap ? NP_MAX_LINE : info_cap;
    return info_cap;
}

int np_feed(np_parser *p, const void *buf, size_t len, size_t *used, np_event *ev)
{
    const unsigned char *b = (const unsigned char *)buf;
    size_t i = 0;

    memset(ev, 0, sizeof *ev);
    *used = 0;
    if (p->err) return p->err;
    if (p->line_size < 64) return fail(p, NP_ERR_ARG, "line buffer smaller than 64 bytes");

    while (i < len) {
        switch (p->state) {
        case ST_LINE: {
            const unsigned char *nl = (const unsigned char *)memchr(b + i, '\n', len - i);
            size_t take = nl ? (size_t)(nl - (b + i)) : len - i;
            /* +1: the CR before LF is stored too and stripped at the end. */
            if (take > p->line_size - 1 - p->line_len) {
                *used = i;
                return fail(p, NP_ERR_LINE, "control line too long");
            }
            memcpy(p->line + p->line_len, b + i, take);
            p->line_len += take;
            i += take;
            if (p->line_len > line_cap(p) + 1) {
                *used = i;
                return fail(p, NP_ERR_LINE, "control line too long");
            }
            if (!nl) break;
            i++;                                        /* the LF */
            {
                int rc = process_line(p, ev);
                p->line_len = 0;
                *used = i;
                return rc;
            }
        }
        case ST_PAYLOAD: {
            size_t n = p->pay_total - p->pay_got;
            if (n > len - i) n = len - i;
            if (p->dest && n) memcpy(p->dest + p->pay_got, b + i, n);
            p->pay_got += n;
            i += n;
            if (p->pay_got == p->pay_total) p->state = ST_PAY_CR;
            break;
        }
        case ST_PAY_CR:
            /* A bare LF also ends the payload, hence the fall-through. */
            if (b[i] == '\r') { p->state = ST_PAY_LF; i++; break; }
            /* fall through */
        case ST_PAY_LF:
            if (b[i] != '\n') {
                *used = i;
                return fail(p, NP_ERR_PROTO, "payload not followed by CRLF (wrong size?)");
            }
            i++;
            p->state = ST_LINE;
            p->line_len = 0;
            p->dest = NULL;
            *ev = p->msg;
            ev->type = NP_EV_MSG_END;
            *used = i;
            return NP_OK;
        default:
            return fail(p, NP_ERR_PROTO, "bad parser state");
        }
    }
    *used = i;
    return NP_OK;
}

/* ---- header blocks ---------------------------------------------------- */

/* End of the line starting at i (index of its CR or LF), or len. */
static size_t line_end(const char *h, size_t len, size_t i)
{
    while (i < len && h[i] != '\r' && h[i] != '\n') i++;
    return i;
}

/* Index just past the line terminator at e (CRLF or LF). */
static size_t next_line(const char *h, size_t len, size_t e)
{
    if (e < len && h[e] == '\r') e++;
    if (e < len && h[e] == '\n') e++;
    return e;
}

int np_hdr_status(const char *hdr, size_t len, int *status,
                  const char **desc, size_t *desc_len)
{
    size_t e, i;
    *status = 0;
    *desc = hdr;
    *desc_len = 0;
    if (!hdr || len < 8 || memcmp(hdr, "NATS/1.0", 8) != 0) return NP_ERR_PROTO;
    e = line_end(hdr, len, 8);
    if (e == len) return NP_ERR_PROTO;          /* the first line must end */
    i = 8;
    if (i == e) return NP_OK;
    if (!is_ws((unsigned char)hdr[i])) return NP_ERR_PROTO;
    while (i < e && is_ws((unsigned char)hdr[i])) i++;
    if (i == e) return NP_OK;
    if (e - i < 3 || hdr[i] < '0' || hdr[i] > '9' || hdr[i + 1] < '0' || hdr[i + 1] > '9'
        || hdr[i + 2] < '0' || hdr[i + 2] > '9' || (e - i > 3 && !is_ws((unsigned char)hdr[i + 3])))
        return NP_ERR_PROTO;
    *status = (hdr[i] - '0') * 100 + (hdr[i + 1] - '0') * 10 + (hdr[i + 2] - '0');
    i += 3;
    while (i < e && is_ws((unsigned char)hdr[i])) i++;
    while (e > i && is_ws((unsigned char)hdr[e - 1])) e--;
    *desc = hdr + i;
    *desc_len = e - i;
    return NP_OK;
}

int np_hdr_get(const char *hdr, size_t len, const char *name, int index,
               const char **val, size_t *val_len)
{
    size_t i, nlen = strlen(name);
    if (!hdr || len < 8 || memcmp(hdr, "NATS/1.0", 8) != 0 || index < 0) return NP_ERR_NOT_FOUND;
    i = next_line(hdr, len, line_end(hdr, len, 0));
    while (i < len) {
        size_t e = line_end(hdr, len, i), c = i, ne, vs, ve;
        if (e == i) break;                      /* the blank line ends the block */
        while (c < e && hdr[c] != ':') c++;
        if (c < e) {
            for (ne = c; ne > i && is_ws((unsigned char)hdr[ne - 1]); ne--) {}
            if (ieq(hdr + i, ne - i, name) && ne - i == nlen) {
                if (index == 0) {
                    for (vs = c + 1; vs < e && is_ws((unsigned char)hdr[vs]); vs++) {}
                    for (ve = e; ve > vs && is_ws((unsigned char)hdr[ve - 1]); ve--) {}
                    *val = hdr + vs;
                    *val_len = ve - vs;
                    return NP_OK;
                }
                index--;
            }
        }
        i = next_line(hdr, len, e);
    }
    return NP_ERR_NOT_FOUND;
}

/* ---- framing ---------------------------------------------------------- */

int np_subject_ok(const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t tok = 0;
    if (!s || !*s) return 0;
    for (; *u; u++) {
        if (*u <= 0x20 || *u == 0x7f) return 0;
        if (*u == '.') {
            if (tok == 0) return 0;
            tok = 0;
        } else {
            tok++;
        }
    }
    return tok > 0;
}

/* Bounded output builder: the first overflow sets err and sticks. */
typedef struct ob { char *p; size_t cap, len; int err; } ob;

static void ob_put(ob *o, const char *s, size_t n)
{
    if (o->err) return;
    if (n >= o->cap - o->len) { o->err = NP_ERR_SPACE; return; }
    memcpy(o->p + o->len, s, n);
    o->len += n;
    o->p[o->len] = 0;
}

static void ob_str(ob *o, const char *s) { ob_put(o, s, strlen(s)); }

static void ob_u64(ob *o, uint64_t v)
{
    char t[24];
    size_t i = sizeof t;
    do { t[--i] = (char)('0' + v % 10); v /= 10; } while (v);
    ob_put(o, t + i, sizeof t - i);
}

/* Starts a line into out; NP_ERR_SPACE up front when cap is 0. */
static int ob_init(ob *o, char *out, size_t cap)
{
    o->p = out; o->cap = cap; o->len = 0; o->err = 0;
    if (!out || cap == 0) return NP_ERR_SPACE;
    out[0] = 0;
    return NP_OK;
}

/* Finishes a line: *n on success, "" and the error otherwise. */
static int ob_done(ob *o, size_t *n)
{
    if (o->err) { o->p[0] = 0; *n = 0; return o->err; }
    *n = o->len;
    return NP_OK;
}

static int reply_ok(const char *r) { return !r || !*r || np_subject_ok(r); }

int np_fmt_pub(char *out, size_t cap, const char *subj, const char *reply,
               size_t len, size_t *n)
{
    ob o;
    *n = 0;
    if (ob_init(&o, out, cap)) return NP_ERR_SPACE;
    if (!np_subject_ok(subj) || !reply_ok(reply)) return NP_ERR_ARG;
    ob_put(&o, "PUB ", 4);
    ob_str(&o, subj);
    if (reply && *reply) { ob_put(&o, " ", 1); ob_str(&o, reply); }
    ob_put(&o, " ", 1);
    ob_u64(&o, len);
    ob_put(&o, "\r\n", 2);
    return ob_done(&o, n);
}

int np_fmt_hpub(char *out, size_t cap, const char *subj, const char *reply,
                size_t hdr_len, size_t total_len, size_t *n)
{
    ob o;
    *n = 0;
    if (ob_init(&o, out, cap)) return NP_ERR_SPACE;
    if (!np_subject_ok(subj) || !reply_ok(reply) || hdr_len > total_len) return NP_ERR_ARG;
    ob_put(&o, "HPUB ", 5);
    ob_str(&o, subj);
    if (reply && *reply) { ob_put(&o, " ", 1); ob_str(&o, reply); }
    ob_put(&o, " ", 1);
    ob_u64(&o, hdr_len);
    ob_put(&o, " ", 1);
    ob_u64(&o, total_len);
    ob_put(&o, "\r\n", 2);
    return ob_done(&o, n);
}

int np_fmt_sub(char *out, size_t cap, const char *subj, const char *queue,
               uint64_t sid, size_t *n)
{
    ob o;
    *n = 0;
    if (ob_init(&o, out, cap)) return NP_ERR_SPACE;
    if (!np_subject_ok(subj) || !reply_ok(queue)) return NP_ERR_ARG;
    ob_put(&o, "SUB ", 4);
    ob_str(&o, subj);
    if (queue && *queue) { ob_put(&o, " ", 1); ob_str(&o, queue); }
    ob_put(&o, " ", 1);
    ob_u64(&o, sid);
    ob_put(&o, "\r\n", 2);
    return ob_done(&o, n);
}

int np_fmt_unsub(char *out, size_t cap, uint64_t sid, uint64_t max, size_t *n)
{
    ob o;
    *n = 0;
    if (ob_init(&o, out, cap)) return NP_ERR_SPACE;
    ob_put(&o, "UNSUB ", 6);
    ob_u64(&o, sid);
    if (max) { ob_put(&o, " ", 1); ob_u64(&o, max); }
    ob_put(&o, "\r\n", 2);
    return ob_done(&o, n);
}

int np_fmt_ping(char *out, size_t cap, size_t *n)
{
    ob o;
    *n = 0;
    if (ob_init(&o, out, cap)) return NP_ERR_SPACE;
    ob_put(&o, "PING\r\n", 6);
    return ob_done(&o, n);
}

int np_fmt_pong(char *out, size_t cap, size_t *n)
{
    ob o;
    *n = 0;
    if (ob_init(&o, out, cap)) return NP_ERR_SPACE;
    ob_put(&o, "PONG\r\n", 6);
    return ob_done(&o, n);
}

int np_fmt_connect(char *out, size_t cap, const np_connect *c, size_t *n)
{
    json_w w;
    *n = 0;
    /* "CONNECT " + JSON + "\r\n" + NUL */
    if (!out || cap < 8 + 3 + 2) { if (out && cap) out[0] = 0; return NP_ERR_SPACE; }
    memcpy(out, "CONNECT ", 8);
    json_w_init(&w, out + 8, cap - 8 - 2);
    json_w_obj_open(&w);
    json_w_kbool(&w, "verbose", 0);
    json_w_kbool(&w, "pedantic", 0);
    json_w_kbool(&w, "tls_required", c->tls_required ? 1 : 0);
    if (c->name) json_w_kstr(&w, "name", c->name);
    json_w_kstr(&w, "lang", "c");
    json_w_kstr(&w, "version", c->version ? c->version : "0");
    json_w_kint(&w, "protocol", 1);
    json_w_kbool(&w, "headers", 1);
    json_w_kbool(&w, "no_responders", 1);
    if (c->user) json_w_kstr(&w, "user", c->user);
    if (c->pass) json_w_kstr(&w, "pass", c->pass);
    if (c->token) json_w_kstr(&w, "auth_token", c->token);
    json_w_obj_close(&w);
    if (w.err) { out[0] = 0; return NP_ERR_SPACE; }
    memcpy(out + 8 + w.len, "\r\n", 3);
    *n = 8 + w.len + 2;
    return NP_OK;
}
