/*
** nats_srv.c — the NATS client's server list: the URLs given (with their
** credentials, redacted for messages), shuffled so a fleet spreads over a
** cluster, and the nodes learned from INFO connect_urls.
*/
#include <winsock2.h>
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nats.h"
#include "json.h"
#include "url.h"
#include "win.h"
#include "nats_int.h"

/*
** Parses one URL "[nats|tls]://[user:pass@|token@]host[:port]" into sv.
** Returns 0, or 1 with a reason in err.
*/
static int parse_url(const char *u, size_t len, srv *sv, char *err, size_t cap)
{
    const char *p = u, *end = u + len, *at, *h, *he, *colon;
    char given[sizeof sv->url];
    size_t n;
    memset(sv, 0, sizeof sv[0]);
    if (len == 0 || len >= sizeof sv->url) { snprintf(err, cap, "bad server URL (empty or too long)"); return 1; }
    /* sv->url only ever goes into messages and logs: it keeps no secret. */
    memcpy(given, u, len);
    given[len] = 0;
    url_redact(given, sv->url, sizeof sv->url);
    if (len > 7 && _strnicmp(p, "nats://", 7) == 0) p += 7;
    else if (len > 6 && _strnicmp(p, "tls://", 6) == 0) { p += 6; sv->tls = 1; }
    else if (memchr(u, '/', len)) { snprintf(err, cap, "bad server URL '%s': use nats://host:port or tls://host:port", sv->url); return 1; }
    for (at = end; at > p && at[-1] != '@'; at--) {}
    if (at > p) {                                   /* userinfo */
        const char *ui = p, *ue = at - 1, *sep = (const char *)memchr(ui, ':', (size_t)(ue - ui));
        char tmp[256];
        if ((size_t)(ue - ui) >= sizeof tmp) { snprintf(err, cap, "bad server URL '%s': credentials too long", sv->url); return 1; }
        if (sep) {
            memcpy(tmp, ui, (size_t)(sep - ui)); tmp[sep - ui] = 0; sv->user = nats_dupstr(tmp);
            memcpy(tmp, sep + 1, (size_t)(ue - sep - 1)); tmp[ue - sep - 1] = 0; sv->pass = nats_dupstr(tmp);
        } else {
            memcpy(tmp, ui, (size_t)(ue - ui)); tmp[ue - ui] = 0; sv->token = nats_dupstr(tmp);
        }
        p = at;
    }
    if (p < end && *p == '[') {                     /* [v6]:port */
        h = p + 1;
        he = (const char *)memchr(h, ']', (size_t)(end - h));
        if (!he) { snprintf(err, cap, "bad server URL '%s': missing ']'", sv->url); return 1; }
        colon = (he + 1 < end && he[1] == ':') ? he + 1 : NULL;
        if (he + 1 < end && !colon) { snprintf(err, cap, "bad server URL '%s'", sv->url); return 1; }
    } else {
        h = p;
        colon = NULL;
        for (he = p; he < end && *he != '/'; he++) if (*he == ':') colon = he;
        if (colon) he = colon;
    }
    n = (size_t)(he - h);
    if (n == 0 || n >= sizeof sv->host) { snprintf(err, cap, "bad server URL '%s': no host", sv->url); return 1; }
    memcpy(sv->host, h, n);
    sv->host[n] = 0;
    if (colon) {
        const char *q = colon + 1;
        unsigned long port = 0;
        size_t k = 0;
        for (; q < end && *q != '/'; q++, k++) {
            if (*q < '0' || *q > '9' || k >= 5) { snprintf(err, cap, "bad server URL '%s': bad port", sv->url); return 1; }
            port = port * 10 + (unsigned long)(*q - '0');
        }
        if (port == 0 || port > 65535) { snprintf(err, cap, "bad server URL '%s': bad port", sv->url); return 1; }
        snprintf(sv->port, sizeof sv->port, "%lu", port);
    } else {
        snprintf(sv->port, sizeof sv->port, "4222");
    }
    return 0;
}

/* see nats_int.h */
int nats_srv_parse_list(nats_conn *c, const char *list, char *err, size_t cap)
{
    const char *p = list ? list : "nats://127.0.0.1:4222";
    while (*p) {
        const char *e;
        size_t n;
        while (*p == ' ' || *p == ',' || *p == '\t') p++;
        if (!*p) break;
        for (e = p; *e && *e != ','; e++) {}
        n = (size_t)(e - p);
        while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t')) n--;
        if (c->nservers == MAX_SERVERS) { snprintf(err, cap, "too many server URLs (max %d)", MAX_SERVERS); return 1; }
        if (parse_url(p, n, &c->servers[c->nservers], err, cap)) return 1;
        c->nservers++;
        p = e;
    }
    if (c->nservers == 0) { snprintf(err, cap, "no server URL given"); return 1; }
    return 0;
}

/* Shuffles the configured list (Fisher-Yates), so that a fleet given the
** same URLs spreads over the nodes instead of all taking the first. */
void nats_srv_shuffle(nats_conn *c)
{
    int i;
    for (i = c->nservers - 1; i > 0; i--) {
        int j = (int)(win_random_u32() % (uint32_t)(i + 1));
        srv t = c->servers[i];
        c->servers[i] = c->servers[j];
        c->servers[j] = t;
    }
}

/*
** Adds the cluster's other servers from an INFO's connect_urls ("host:port"
** strings) to the list, so a client given one URL can fail over to nodes it
** was never told about. A learned server takes the scheme and credentials
** of the server that announced it. Only the reader (or nats_connect before
** it starts) touches the list, and entries never move, so cur_srv stays
** valid. Full list: the rest are ignored.
*/
void nats_srv_learn(nats_conn *c, const json_doc *d)
{
    const srv *from = c->cur_srv;
    int arr = json_find(d, 0, "connect_urls"), i, k, n;
    if (arr < 0 || d->tok[arr].type != JSON_ARRAY || !from) return;
    n = d->tok[arr].size;
    for (i = arr + 1, k = 0; k < n && i > 0 && i < d->ntok; k++, i = json_skip(d, i)) {
        char hp[280], url[300], err[200];
        srv sv;
        int j, dup = 0;
        if (d->tok[i].type != JSON_STRING || json_tok_str(d, i, hp, sizeof hp) != JSON_OK) continue;
        snprintf(url, sizeof url, "%s://%s", from->tls ? "tls" : "nats", hp);
        if (parse_url(url, strlen(url), &sv, err, sizeof err)) continue;
        for (j = 0; j < c->nservers && !dup; j++)
            dup = _stricmp(c->servers[j].host, sv.host) == 0 && strcmp(c->servers[j].port, sv.port) == 0;
        if (dup) continue;
        if (c->nservers == MAX_SERVERS) break;
        sv.learned = 1;
        sv.user = nats_dupstr(from->user);
        sv.pass = nats_dupstr(from->pass);
        sv.token = nats_dupstr(from->token);
        EnterCriticalSection(&c->mu);
        c->servers[c->nservers++] = sv;
        LeaveCriticalSection(&c->mu);
    }
}
