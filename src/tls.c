/*
** tls.c — TLS 1.2 client over BearSSL (see tls.h for the contract and the
** locking scheme). No sockets here: the owner's tls_io moves the bytes.
**
** Trust anchors come from a PEM bundle: each CERTIFICATE is decoded with
** br_x509_decoder and turned into a br_x509_trust_anchor (subject DN and
** public key copied to the heap; the CA flag from basicConstraints).
** Certificates are validated by br_x509_minimal, wrapped by a small
** X.509 engine of our own that adds what BearSSL lacks: matching an IP
** address host against the certificate's iPAddress SubjectAltNames.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bearssl.h>
#include "tls.h"
#include "win.h"

#define PEM_MAX_FILE  (4u << 20)    /* a CA bundle or key file larger than this is refused */
#define EE_MAX        16384         /* server certificate kept for the IP SAN check */

typedef struct blob { unsigned char *p; size_t len, cap; int oom; } blob;

struct tls_config {
    br_x509_trust_anchor *tas;
    size_t ntas;
    br_x509_certificate *chain;     /* client chain, leaf first */
    size_t nchain;
    int key_type;                   /* 0 (none), BR_KEYTYPE_RSA or BR_KEYTYPE_EC */
    int issuer_key_type;            /* key type of the CA that signed the client cert */
    br_skey_decoder_context skey;   /* holds the client private key */
    char ca_file[300];
};

/* X.509 engine wrapper: br_x509_minimal plus the IP SAN check. */
typedef struct xwrap {
    const br_x509_class *vtable;
    br_x509_minimal_context inner;
    int ncert;                      /* certificates seen in this chain */
    unsigned char ip[16];
    size_t iplen;                   /* 0 when the host is a DNS name */
    unsigned char ee[EE_MAX];       /* the server's own certificate */
    size_t ee_len;
    int ee_overflow;
} xwrap;

struct tls_conn {
    br_ssl_client_context cc;
    xwrap xw;
    tls_io io;
    char host[256];
    char ca_file[300];
    char err[300];
    unsigned char iobuf[BR_SSL_BUFSIZE_BIDI];
};

/* ---- growable byte buffer (PEM objects, DNs) --------------------------- */

static void blob_add(void *ctx, const void *data, size_t n)
{
    blob *b = (blob *)ctx;
    if (b->oom || n == 0) return;
    if (n > b->cap - b->len) {
        size_t cap = b->cap ? b->cap : 1024;
        unsigned char *p;
        while (cap - b->len < n) {
            if (cap > ((size_t)64 << 20)) { b->oom = 1; return; }
            cap *= 2;
        }
        p = (unsigned char *)realloc(b->p, cap);
        if (!p) { b->oom = 1; return; }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

static unsigned char *memdup(const void *p, size_t n)
{
    unsigned char *d = (unsigned char *)malloc(n ? n : 1);
    if (d && n) memcpy(d, p, n);
    return d;
}

/* ---- PEM files ----------------------------------------------------------- */

typedef int (*pem_fn)(void *ctx, const char *name, const unsigned char *der, size_t len,
                      char *err, size_t errcap);

typedef struct pem_state {
    br_pem_decoder_context pc;
    blob obj;                       /* DER of the current object */
    char name[128];
    int in_obj;
    pem_fn fn;
    void *ctx;
    const char *what, *path;
} pem_state;

/* Pushes text through the PEM decoder, handing each finished object to fn. */
static int pem_feed(pem_state *s, const char *data, size_t len, char *err, size_t errcap)
{
    while (len > 0) {
        size_t n = br_pem_decoder_push(&s->pc, data, len);
        int ev = br_pem_decoder_event(&s->pc), rc;
        data += n;
        len -= n;
        switch (ev) {
        case BR_PEM_BEGIN_OBJ:
            snprintf(s->name, sizeof s->name, "%s", br_pem_decoder_name(&s->pc));
            s->obj.len = 0;
            br_pem_decoder_setdest(&s->pc, blob_add, &s->obj);
            s->in_obj = 1;
            break;
        case BR_PEM_END_OBJ:
            s->in_obj = 0;
            if (s->obj.oom) {
                snprintf(err, errcap, "out of memory reading %s '%s'", s->what, s->path);
                return TLS_ERR_NOMEM;
            }
            rc = s->fn(s->ctx, s->name, s->obj.p, s->obj.len, err, errcap);
            if (rc) return rc;
            break;
        case BR_PEM_ERROR:
            snprintf(err, errcap, "%s '%s' is not valid PEM", s->what, s->path);
            return TLS_ERR_CONFIG;
        default:
            if (n == 0) {                   /* cannot happen per the API; never spin */
                snprintf(err, errcap, "%s '%s': PEM decoder stalled", s->what, s->path);
                return TLS_ERR_CONFIG;
            }
        }
    }
    return TLS_OK;
}

/*
** Reads the PEM file at path and calls fn for every object with its name
** ("CERTIFICATE", "EC PRIVATE KEY", ...) and decoded DER. Returns 0, or
** TLS_ERR_CONFIG / TLS_ERR_NOMEM with the reason in err (fn's own errors
** pass through).
*/
static int pem_each(const char *path, const char *what, pem_fn fn, void *ctx, char *err, size_t errcap)
{
    pem_state *s;
    char *text = NULL;
    size_t len = 0;
    int rc;

    if (win_read_all(path, PEM_MAX_FILE, &text, &len) != 0) {
        snprintf(err, errcap, "cannot read %s '%s': %s", what, path, win_last_error());
        return TLS_ERR_CONFIG;
    }
    s = (pem_state *)calloc(1, sizeof *s);
    if (!s) { free(text); snprintf(err, errcap, "out of memory"); return TLS_ERR_NOMEM; }
    br_pem_decoder_init(&s->pc);
    s->fn = fn;
    s->ctx = ctx;
    s->what = what;
    s->path = path;
    rc = pem_feed(s, text, len, err, errcap);
    /* The END line is only recognised with a newline after it. */
    if (rc == TLS_OK) rc = pem_feed(s, "\n", 1, err, errcap);
    if (rc == TLS_OK && s->in_obj) {
        snprintf(err, errcap, "%s '%s': truncated PEM object '%s'", what, path, s->name);
        rc = TLS_ERR_CONFIG;
    }
    free(s->obj.p);
    free(s);
    free(text);
    return rc;
}

/* ---- trust anchors ------------------------------------------------------- */

typedef struct ta_ctx { tls_config *cfg; const char *path; size_t seen; } ta_ctx;

/* One CERTIFICATE of the CA bundle -> one trust anchor (copies on the heap). */
static int add_anchor(void *vctx, const char *name, const unsigned char *der, size_t len,
                      char *err, size_t errcap)
{
    ta_ctx *t = (ta_ctx *)vctx;
    tls_config *cfg = t->cfg;
    br_x509_decoder_context dc;
    blob dn = { NULL, 0, 0, 0 };
    const br_x509_pkey *pk;
    br_x509_trust_anchor *ta, *grown;

    if (strcmp(name, "CERTIFICATE") != 0 && strcmp(name, "X509 CERTIFICATE") != 0
        && strcmp(name, "TRUSTED CERTIFICATE") != 0) return TLS_OK;   /* other objects: skip */
    t->seen++;
    br_x509_decoder_init(&dc, blob_add, &dn);
    br_x509_decoder_push(&dc, der, len);
    pk = br_x509_decoder_get_pkey(&dc);
    if (!pk || dn.oom) {
        snprintf(err, errcap, "CA file '%s': certificate #%lu cannot be decoded (BearSSL error %d)",
                 t->path, (unsigned long)t->seen, br_x509_decoder_last_error(&dc));
        free(dn.p);
        return dn.oom ? TLS_ERR_NOMEM : TLS_ERR_CONFIG;
    }
    grown = (br_x509_trust_anchor *)realloc(cfg->tas, (cfg->ntas + 1) * sizeof *cfg->tas);
    if (!grown) { free(dn.p); snprintf(err, errcap, "out of memory"); return TLS_ERR_NOMEM; }
    cfg->tas = grown;
    ta = &cfg->tas[cfg->ntas];
    memset(ta, 0, sizeof *ta);
    ta->dn.data = dn.p ? dn.p : memdup("", 0);
    ta->dn.len = dn.len;
    ta->flags = br_x509_decoder_isCA(&dc) ? BR_X509_TA_CA : 0;
    ta->pkey.key_type = pk->key_type;
    if (pk->key_type == BR_KEYTYPE_RSA) {
        ta->pkey.key.rsa.n = memdup(pk->key.rsa.n, pk->key.rsa.nlen);
        ta->pkey.key.rsa.nlen = pk->key.rsa.nlen;
        ta->pkey.key.rsa.e = memdup(pk->key.rsa.e, pk->key.rsa.elen);
        ta->pkey.key.rsa.elen = pk->key.rsa.elen;
        cfg->ntas++;                            /* counted now so free() sees it */
        if (!ta->pkey.key.rsa.n || !ta->pkey.key.rsa.e || !ta->dn.data) { snprintf(err, errcap, "out of memory"); return TLS_ERR_NOMEM; }
    } else if (pk->key_type == BR_KEYTYPE_EC) {
        ta->pkey.key.ec.curve = pk->key.ec.curve;
        ta->pkey.key.ec.q = memdup(pk->key.ec.q, pk->key.ec.qlen);
        ta->pkey.key.ec.qlen = pk->key.ec.qlen;
        cfg->ntas++;
        if (!ta->pkey.key.ec.q || !ta->dn.data) { snprintf(err, errcap, "out of memory"); return TLS_ERR_NOMEM; }
    } else {
        free(dn.p);
        snprintf(err, errcap, "CA file '%s': certificate #%lu has an unsupported key type", t->path, (unsigned long)t->seen);
        return TLS_ERR_CONFIG;
    }
    return TLS_OK;
}

/* ---- client certificate and key ----------------------------------------- */

typedef struct chain_ctx { tls_config *cfg; const char *path; } chain_ctx;

static int add_chain_cert(void *vctx, const char *name, const unsigned char *der, size_t len,
                          char *err, size_t errcap)
{
    chain_ctx *t = (chain_ctx *)vctx;
    tls_config *cfg = t->cfg;
    br_x509_certificate *grown;
    if (strcmp(name, "CERTIFICATE") != 0 && strcmp(name, "X509 CERTIFICATE") != 0) return TLS_OK;
    grown = (br_x509_certificate *)realloc(cfg->chain, (cfg->nchain + 1) * sizeof *cfg->chain);
    if (!grown) { snprintf(err, errcap, "out of memory"); return TLS_ERR_NOMEM; }
    cfg->chain = grown;
    cfg->chain[cfg->nchain].data = memdup(der, len);
    cfg->chain[cfg->nchain].data_len = len;
    if (!cfg->chain[cfg->nchain].data) { snprintf(err, errcap, "out of memory"); return TLS_ERR_NOMEM; }
    cfg->nchain++;
    return TLS_OK;
}

static int add_key(void *vctx, const char *name, const unsigned char *der, size_t len,
                   char *err, size_t errcap)
{
    chain_ctx *t = (chain_ctx *)vctx;
    tls_config *cfg = t->cfg;
    int e;
    if (strcmp(name, "ENCRYPTED PRIVATE KEY") == 0) {
        snprintf(err, errcap, "key file '%s': encrypted private keys are not supported", t->path);
        return TLS_ERR_CONFIG;
    }
    if (strcmp(name, "RSA PRIVATE KEY") != 0 && strcmp(name, "EC PRIVATE KEY") != 0
        && strcmp(name, "PRIVATE KEY") != 0) return TLS_OK;          /* e.g. EC PARAMETERS */
    if (cfg->key_type) {
        snprintf(err, errcap, "key file '%s' holds more than one private key", t->path);
        return TLS_ERR_CONFIG;
    }
    br_skey_decoder_init(&cfg->skey);
    br_skey_decoder_push(&cfg->skey, der, len);
    e = br_skey_decoder_last_error(&cfg->skey);
    if (e != 0) {
        snprintf(err, errcap, "key file '%s': cannot decode the private key (BearSSL error %d)", t->path, e);
        return TLS_ERR_CONFIG;
    }
    cfg->key_type = br_skey_decoder_key_type(&cfg->skey);
    return TLS_OK;
}

void tls_config_free(tls_config *cfg)
{
    size_t i;
    if (!cfg) return;
    for (i = 0; i < cfg->ntas; i++) {
        br_x509_trust_anchor *ta = &cfg->tas[i];
        free(ta->dn.data);
        if (ta->pkey.key_type == BR_KEYTYPE_RSA) { free(ta->pkey.key.rsa.n); free(ta->pkey.key.rsa.e); }
        else free(ta->pkey.key.ec.q);
    }
    free(cfg->tas);
    for (i = 0; i < cfg->nchain; i++) free(cfg->chain[i].data);
    free(cfg->chain);
    memset(&cfg->skey, 0, sizeof cfg->skey);        /* no private key left in freed memory */
    free(cfg);
}

int tls_config_load(const char *ca_file, const char *cert_file, const char *key_file,
                    tls_config **out, char *err, size_t errcap)
{
    tls_config *cfg;
    ta_ctx tc;
    int rc;
    char tmp[300];
    if (!err || errcap == 0) { err = tmp; errcap = sizeof tmp; }
    err[0] = 0;
    *out = NULL;
    if (!ca_file || !*ca_file) { snprintf(err, errcap, "TLS needs a CA file"); return TLS_ERR_CONFIG; }
    if ((cert_file && *cert_file) != (key_file && *key_file)) {
        snprintf(err, errcap, "a client certificate needs both a cert file and a key file");
        return TLS_ERR_CONFIG;
    }
    cfg = (tls_config *)calloc(1, sizeof *cfg);
    if (!cfg) { snprintf(err, errcap, "out of memory"); return TLS_ERR_NOMEM; }
    snprintf(cfg->ca_file, sizeof cfg->ca_file, "%s", ca_file);
    tc.cfg = cfg;
    tc.path = ca_file;
    tc.seen = 0;
    rc = pem_each(ca_file, "CA file", add_anchor, &tc, err, errcap);
    if (rc == TLS_OK && cfg->ntas == 0) {
        snprintf(err, errcap, "CA file '%s' contains no certificate", ca_file);
        rc = TLS_ERR_CONFIG;
    }
    if (rc == TLS_OK && cert_file && *cert_file) {
        chain_ctx cc;
        cc.cfg = cfg;
        cc.path = cert_file;
        rc = pem_each(cert_file, "certificate file", add_chain_cert, &cc, err, errcap);
        if (rc == TLS_OK && cfg->nchain == 0) {
            snprintf(err, errcap, "certificate file '%s' contains no certificate", cert_file);
            rc = TLS_ERR_CONFIG;
        }
        if (rc == TLS_OK) {
            br_x509_decoder_context dc;
            br_x509_decoder_init(&dc, NULL, NULL);
            br_x509_decoder_push(&dc, cfg->chain[0].data, cfg->chain[0].data_len);
            if (!br_x509_decoder_get_pkey(&dc)) {
                snprintf(err, errcap, "certificate file '%s': the first certificate cannot be decoded", cert_file);
                rc = TLS_ERR_CONFIG;
            }
            cfg->issuer_key_type = br_x509_decoder_get_signer_key_type(&dc);
        }
        cc.path = key_file;
        if (rc == TLS_OK) rc = pem_each(key_file, "key file", add_key, &cc, err, errcap);
        if (rc == TLS_OK && cfg->key_type != BR_KEYTYPE_RSA && cfg->key_type != BR_KEYTYPE_EC) {
            snprintf(err, errcap, "key file '%s' contains no RSA or EC private key", key_file);
            rc = TLS_ERR_CONFIG;
        }
    }
    if (rc != TLS_OK) { tls_config_free(cfg); return rc; }
    *out = cfg;
    return TLS_OK;
}

/* ---- IP address hosts ------------------------------------------------------ */

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Dotted-quad IPv4 -> 4 bytes. 0 = parsed. */
static int parse_ipv4(const char *s, unsigned char out[4])
{
    int i;
    for (i = 0; i < 4; i++) {
        unsigned v = 0, digits = 0;
        while (*s >= '0' && *s <= '9' && digits < 4) { v = v * 10 + (unsigned)(*s++ - '0'); digits++; }
        if (digits == 0 || digits > 3 || v > 255) return 1;
        out[i] = (unsigned char)v;
        if (i < 3 && *s++ != '.') return 1;
    }
    return *s ? 1 : 0;
}

/* IPv6 text (with "::" and an optional trailing IPv4) -> 16 bytes. 0 = parsed. */
static int parse_ipv6(const char *s, unsigned char out[16])
{
    unsigned char b[16];
    int n = 0, gap = -1, i;
    if (s[0] == ':' && s[1] == ':') { gap = 0; s += 2; }
    while (*s) {
        unsigned v = 0;
        int d = 0;
        if (n < 13 && strchr(s, '.') && !strchr(s, ':')) {   /* embedded IPv4 */
            if (parse_ipv4(s, b + n)) return 1;
            n += 4;
            break;
        }
        while (hexval((unsigned char)*s) >= 0 && d < 4) { v = v * 16 + (unsigned)hexval((unsigned char)*s++); d++; }
        if (d == 0 || n > 14) return 1;
        b[n++] = (unsigned char)(v >> 8);
        b[n++] = (unsigned char)v;
        if (!*s) break;
        if (*s++ != ':') return 1;
        if (*s == ':') {
            if (gap >= 0) return 1;
            gap = n;
            s++;
        } else if (!*s) {
            return 1;
        }
    }
    if (gap < 0 && n != 16) return 1;
    if (gap >= 0) {
        if (n > 14) return 1;
        memset(out, 0, 16);
        memcpy(out, b, (size_t)gap);
        for (i = 0; i < n - gap; i++) out[16 - (n - gap) + i] = b[gap + i];
        return 0;
    }
    memcpy(out, b, 16);
    return 0;
}

/* ---- minimal DER walk for iPAddress SubjectAltNames ----------------------- */

/*
** Reads one DER TLV at *p (< end): single-byte tag, definite length.
** Returns 0 with *tag, *val, *vlen and *p advanced past it, 1 if malformed.
*/
static int der_tlv(const unsigned char **p, const unsigned char *end, int *tag,
                   const unsigned char **val, size_t *vlen)
{
    const unsigned char *q = *p;
    size_t len;
    if (end - q < 2) return 1;
    *tag = *q++;
    if ((*tag & 0x1f) == 0x1f) return 1;
    len = *q++;
    if (len & 0x80) {
        int k = (int)(len & 0x7f);
        if (k == 0 || k > 3 || end - q < k) return 1;
        len = 0;
        while (k-- > 0) len = (len << 8) | *q++;
    }
    if ((size_t)(end - q) < len) return 1;
    *val = q;
    *vlen = len;
    *p = q + len;
    return 0;
}

/*
** 1 when the certificate cert[0..len) lists ip (4 or 16 bytes) among the
** iPAddress entries of its SubjectAltName extension; 0 otherwise or when
** the certificate cannot be walked.
*/
static int san_has_ip(const unsigned char *cert, size_t len, const unsigned char *ip, size_t iplen)
{
    static const unsigned char san_oid[] = { 0x55, 0x1d, 0x11 };   /* 2.5.29.17 */
    const unsigned char *p = cert, *end = cert + len, *v, *tbs, *tend;
    size_t vl;
    int tag;
    if (der_tlv(&p, end, &tag, &v, &vl) || tag != 0x30) return 0;            /* Certificate */
    p = v; end = v + vl;
    if (der_tlv(&p, end, &tag, &v, &vl) || tag != 0x30) return 0;            /* TBSCertificate */
    tbs = v; tend = v + vl;
    while (tbs < tend) {
        const unsigned char *exts, *eend;
        if (der_tlv(&tbs, tend, &tag, &v, &vl)) return 0;
        if (tag != 0xa3) continue;                                           /* [3] extensions */
        exts = v; eend = v + vl;
        if (der_tlv(&exts, eend, &tag, &v, &vl) || tag != 0x30) return 0;
        exts = v; eend = v + vl;
        while (exts < eend) {
            const unsigned char *e, *ee, *oid, *gn, *gend;
            size_t oidl;
            if (der_tlv(&exts, eend, &tag, &v, &vl) || tag != 0x30) return 0; /* Extension */
            e = v; ee = v + vl;
            if (der_tlv(&e, ee, &tag, &oid, &oidl) || tag != 0x06) return 0;
            if (oidl != sizeof san_oid || memcmp(oid, san_oid, oidl) != 0) continue;
            if (der_tlv(&e, ee, &tag, &v, &vl)) return 0;
            if (tag == 0x01 && der_tlv(&e, ee, &tag, &v, &vl)) return 0;      /* critical */
            if (tag != 0x04) return 0;                                        /* extnValue */
            gn = v; gend = v + vl;
            if (der_tlv(&gn, gend, &tag, &v, &vl) || tag != 0x30) return 0;  /* GeneralNames */
            gn = v; gend = v + vl;
            while (gn < gend) {
                if (der_tlv(&gn, gend, &tag, &v, &vl)) return 0;
                if (tag == 0x87 && vl == iplen && memcmp(v, ip, iplen) == 0) return 1;
            }
            return 0;
        }
        return 0;
    }
    return 0;
}

/* ---- the X.509 wrapper engine --------------------------------------------- */

static void xw_start_chain(const br_x509_class **ctx, const char *server_name)
{
    xwrap *x = (xwrap *)(void *)ctx;
    x->ncert = 0;
    x->ee_len = 0;
    x->ee_overflow = 0;
    x->inner.vtable->start_chain(&x->inner.vtable, x->iplen ? NULL : server_name);
}

static void xw_start_cert(const br_x509_class **ctx, uint32_t length)
{
    xwrap *x = (xwrap *)(void *)ctx;
    x->inner.vtable->start_cert(&x->inner.vtable, length);
}

static void xw_append(const br_x509_class **ctx, const unsigned char *buf, size_t len)
{
    xwrap *x = (xwrap *)(void *)ctx;
    if (x->ncert == 0 && x->iplen) {
        if (len > sizeof x->ee - x->ee_len) x->ee_overflow = 1;
        else { memcpy(x->ee + x->ee_len, buf, len); x->ee_len += len; }
    }
    x->inner.vtable->append(&x->inner.vtable, buf, len);
}

static void xw_end_cert(const br_x509_class **ctx)
{
    xwrap *x = (xwrap *)(void *)ctx;
    x->inner.vtable->end_cert(&x->inner.vtable);
    x->ncert++;
}

static unsigned xw_end_chain(const br_x509_class **ctx)
{
    xwrap *x = (xwrap *)(void *)ctx;
    unsigned err = x->inner.vtable->end_chain(&x->inner.vtable);
    if (err == BR_ERR_OK && x->iplen
        && (x->ee_overflow || !san_has_ip(x->ee, x->ee_len, x->ip, x->iplen)))
        err = BR_ERR_X509_BAD_SERVER_NAME;
    return err;
}

static const br_x509_pkey *xw_get_pkey(const br_x509_class *const *ctx, unsigned *usages)
{
    const xwrap *x = (const xwrap *)(const void *)ctx;
    return x->inner.vtable->get_pkey(&x->inner.vtable, usages);
}

static const br_x509_class xw_vtable = {
    sizeof(xwrap), xw_start_chain, xw_start_cert, xw_append, xw_end_cert, xw_end_chain, xw_get_pkey
};

/* ---- errors ------------------------------------------------------------------ */

static const char *alert_name(int a)
{
    switch (a) {
    case 0: return "close_notify";
    case 10: return "unexpected_message";
    case 20: return "bad_record_mac";
    case 40: return "handshake_failure";
    case 42: return "bad_certificate";
    case 43: return "unsupported_certificate";
    case 44: return "certificate_revoked";
    case 45: return "certificate_expired";
    case 46: return "certificate_unknown";
    case 47: return "illegal_parameter";
    case 48: return "unknown_ca";
    case 49: return "access_denied";
    case 50: return "decode_error";
    case 51: return "decrypt_error";
    case 70: return "protocol_version";
    case 71: return "insufficient_security";
    case 80: return "internal_error";
    case 90: return "user_canceled";
    case 100: return "no_renegotiation";
    case 116: return "certificate_required";
    default: return "alert";
    }
}

/* Puts a one-line cause for BearSSL error `e` into t->err. */
static void describe(tls_conn *t, int e)
{
    char *o = t->err;
    size_t n = sizeof t->err;
    switch (e) {
    case BR_ERR_X509_NOT_TRUSTED:
        snprintf(o, n, "certificate not trusted (unknown CA): the server's chain does not lead to a CA in '%s'", t->ca_file);
        break;
    case BR_ERR_X509_BAD_SERVER_NAME:
        snprintf(o, n, "certificate name mismatch: the server certificate is not valid for host '%s'", t->host);
        break;
    case BR_ERR_X509_EXPIRED:
        snprintf(o, n, "certificate expired or not yet valid (check the server certificate dates and this machine's clock)");
        break;
    case BR_ERR_X509_NOT_CA:
        snprintf(o, n, "certificate chain invalid: an issuer is not a CA");
        break;
    case BR_ERR_X509_BAD_SIGNATURE:
        snprintf(o, n, "certificate chain invalid: bad signature");
        break;
    case BR_ERR_X509_WEAK_PUBLIC_KEY:
        snprintf(o, n, "certificate rejected: public key too weak");
        break;
    case BR_ERR_X509_TIME_UNKNOWN:
        snprintf(o, n, "certificate validity cannot be checked: current time unknown");
        break;
    case BR_ERR_X509_FORBIDDEN_KEY_USAGE:
    case BR_ERR_WRONG_KEY_USAGE:
        snprintf(o, n, "certificate key usage does not allow this TLS use");
        break;
    case BR_ERR_BAD_VERSION:
    case BR_ERR_UNSUPPORTED_VERSION:
        snprintf(o, n, "the server does not speak TLS 1.2 (BearSSL error %d)", e);
        break;
    case BR_ERR_BAD_CIPHER_SUITE:
        snprintf(o, n, "no common cipher suite with the server");
        break;
    case BR_ERR_NO_RANDOM:
        snprintf(o, n, "no entropy source for TLS");
        break;
    default:
        if (e >= BR_ERR_RECV_FATAL_ALERT && e < BR_ERR_SEND_FATAL_ALERT) {
            int a = e - BR_ERR_RECV_FATAL_ALERT;
            snprintf(o, n, "the server refused the handshake: alert %d (%s)%s", a, alert_name(a),
                     a == 40 ? "; no common cipher suite (this client offers only ECDHE with AES-GCM or"
                               " ChaCha20-Poly1305), or it requires a client certificate (cert/key)"
                     : (a == 42 || a == 46 || a == 48 || a == 116)
                         ? "; it may require a client certificate (cert/key) or reject the one given"
                     : a == 51 ? "; the client key may not match the client certificate" : "");
        } else if (e >= BR_ERR_SEND_FATAL_ALERT) {
            snprintf(o, n, "handshake aborted: sent alert %d (%s)", e - BR_ERR_SEND_FATAL_ALERT,
                     alert_name(e - BR_ERR_SEND_FATAL_ALERT));
        } else if (e >= BR_ERR_X509_OK) {
            snprintf(o, n, "server certificate rejected (BearSSL X.509 error %d)", e);
        } else {
            snprintf(o, n, "TLS failure (BearSSL error %d)", e);
        }
    }
}

/* ---- the engine ------------------------------------------------------------ */

/*
** The client profile: TLS 1.2 with forward-secret key exchange (ECDHE,
** signed by an RSA or ECDSA server key) and AEAD ciphers only. Static RSA,
** static ECDH, CBC, CCM and 3DES are not offered, so a server that offers
** nothing else is refused with "no common cipher suite". This replaces
** br_ssl_client_init_full, which enables all of them; leaving them out
** also keeps their code out of the exes.
*/
static void init_client(br_ssl_client_context *cc, br_x509_minimal_context *xc,
                        const br_x509_trust_anchor *tas, size_t ntas)
{
    static const uint16_t suites[] = {
        BR_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        BR_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        BR_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        BR_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        BR_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        BR_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    };
    /* SHA-1 stays for X.509 only: a CA certificate may still carry a SHA-1
    ** self-signature, which nothing checks, or sign intermediates with it. */
    static const struct { int id; const br_hash_class *hc; } hashes[] = {
        { br_sha1_ID, &br_sha1_vtable },     { br_sha224_ID, &br_sha224_vtable },
        { br_sha256_ID, &br_sha256_vtable }, { br_sha384_ID, &br_sha384_vtable },
        { br_sha512_ID, &br_sha512_vtable },
    };
    size_t i;

    br_ssl_client_zero(cc);
    br_ssl_engine_set_versions(&cc->eng, BR_TLS12, BR_TLS12);   /* nothing older */
    br_x509_minimal_init(xc, &br_sha256_vtable, tas, ntas);
    br_ssl_engine_set_suites(&cc->eng, suites, sizeof suites / sizeof suites[0]);
    br_ssl_engine_set_default_rsavrfy(&cc->eng);
    br_ssl_engine_set_default_ecdsa(&cc->eng);
    br_x509_minimal_set_rsa(xc, br_ssl_engine_get_rsavrfy(&cc->eng));
    br_x509_minimal_set_ecdsa(xc, br_ssl_engine_get_ec(&cc->eng), br_ssl_engine_get_ecdsa(&cc->eng));
    for (i = 0; i < sizeof hashes / sizeof hashes[0]; i++) {
        br_ssl_engine_set_hash(&cc->eng, hashes[i].id, hashes[i].hc);
        br_x509_minimal_set_hash(xc, hashes[i].id, hashes[i].hc);
    }
    br_ssl_engine_set_prf_sha256(&cc->eng, &br_tls12_sha256_prf);
    br_ssl_engine_set_prf_sha384(&cc->eng, &br_tls12_sha384_prf);
    br_ssl_engine_set_default_aes_gcm(&cc->eng);
    br_ssl_engine_set_default_chapol(&cc->eng);
}

/* Sends every pending record. 0 = ok, else TLS_ERR_IO with t->err set. */
static int send_records(tls_conn *t)
{
    br_ssl_engine_context *eng = &t->cc.eng;
    while (br_ssl_engine_current_state(eng) & BR_SSL_SENDREC) {
        size_t len;
        unsigned char *buf = br_ssl_engine_sendrec_buf(eng, &len);
        if (t->io.send_all(t->io.ctx, buf, len) != 0) {
            snprintf(t->err, sizeof t->err, "sending TLS records failed: %s", win_last_error());
            return TLS_ERR_IO;
        }
        br_ssl_engine_sendrec_ack(eng, len);
    }
    return TLS_OK;
}

/* The engine is closed: TLS_ERR_CLOSED for a clean close, else the cause. */
static int closed_error(tls_conn *t)
{
    int e = br_ssl_engine_last_error(&t->cc.eng);
    if (e == BR_ERR_OK) {
        snprintf(t->err, sizeof t->err, "the server closed the TLS session");
        return TLS_ERR_CLOSED;
    }
    describe(t, e);
    return TLS_ERR_HANDSHAKE;
}

/*
** A send failed during the handshake: the server has most likely sent a
** fatal alert and closed. Reads what is left (briefly) so the alert, if it
** arrived, names the cause instead of "connection reset".
*/
static void salvage_alert(tls_conn *t, int have_cert)
{
    br_ssl_engine_context *eng = &t->cc.eng;
    int i;
    for (i = 0; i < 8; i++) {
        unsigned st = br_ssl_engine_current_state(eng);
        size_t len;
        unsigned char *buf;
        int n;
        if (st & BR_SSL_CLOSED) {
            int e = br_ssl_engine_last_error(eng);
            if (e >= BR_ERR_RECV_FATAL_ALERT && e < BR_ERR_SEND_FATAL_ALERT) { describe(t, e); return; }
            break;
        }
        if (!(st & BR_SSL_RECVREC)) break;
        buf = br_ssl_engine_recvrec_buf(eng, &len);
        n = t->io.recv_some(t->io.ctx, buf, len, 300);
        if (n <= 0) break;
        br_ssl_engine_recvrec_ack(eng, (size_t)n);
    }
    snprintf(t->err, sizeof t->err, "the server dropped the connection during the TLS handshake%s",
             have_cert ? " (it may have refused the client certificate)"
                       : " (does it require a client certificate?)");
}

int tls_connect(const tls_config *cfg, const char *host, const tls_io *io,
                int timeout_ms, tls_conn **out, char *err, size_t errcap)
{
    tls_conn *t;
    br_ssl_engine_context *eng;
    unsigned char seed[32];
    uint64_t deadline = win_tick_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 1);
    int rc = TLS_OK;
    char tmp[300];

    if (!err || errcap == 0) { err = tmp; errcap = sizeof tmp; }
    err[0] = 0;
    *out = NULL;
    if (!cfg || !host || !io || strlen(host) >= sizeof t->host) {
        snprintf(err, errcap, "bad TLS arguments");
        return TLS_ERR_CONFIG;
    }
    t = (tls_conn *)calloc(1, sizeof *t);
    if (!t) { snprintf(err, errcap, "out of memory"); return TLS_ERR_NOMEM; }
    t->io = *io;
    snprintf(t->host, sizeof t->host, "%s", host);
    snprintf(t->ca_file, sizeof t->ca_file, "%s", cfg->ca_file);
    if (parse_ipv4(host, t->xw.ip) == 0) t->xw.iplen = 4;
    else if (parse_ipv6(host, t->xw.ip) == 0) t->xw.iplen = 16;

    init_client(&t->cc, &t->xw.inner, cfg->tas, cfg->ntas);
    t->xw.vtable = &xw_vtable;
    eng = &t->cc.eng;
    br_ssl_engine_set_x509(eng, &t->xw.vtable);
    if (cfg->key_type == BR_KEYTYPE_RSA) {
        br_ssl_client_set_single_rsa(&t->cc, cfg->chain, cfg->nchain,
                                     br_skey_decoder_get_rsa(&cfg->skey), br_rsa_pkcs1_sign_get_default());
    } else if (cfg->key_type == BR_KEYTYPE_EC) {
        br_ssl_client_set_single_ec(&t->cc, cfg->chain, cfg->nchain, br_skey_decoder_get_ec(&cfg->skey),
                                    BR_KEYTYPE_KEYX | BR_KEYTYPE_SIGN,
                                    cfg->issuer_key_type ? (unsigned)cfg->issuer_key_type : BR_KEYTYPE_EC,
                                    br_ec_get_default(), br_ecdsa_sign_asn1_get_default());
    }
    br_ssl_engine_set_buffer(eng, t->iobuf, sizeof t->iobuf, 1);
    /* BearSSL seeds itself from the OS; this makes sure, whatever the build. */
    if (win_random(seed, sizeof seed) == 0) br_ssl_engine_inject_entropy(eng, seed, sizeof seed);
    memset(seed, 0, sizeof seed);
    /* An IP address is neither sent as SNI nor matched as a DNS name. */
    if (!br_ssl_client_reset(&t->cc, t->xw.iplen ? NULL : host, 0)) {
        describe(t, br_ssl_engine_last_error(eng));
        snprintf(err, errcap, "%s", t->err);
        free(t);
        return TLS_ERR_HANDSHAKE;
    }

    for (;;) {
        unsigned st = br_ssl_engine_current_state(eng);
        uint64_t now;
        if (st & BR_SSL_CLOSED) { rc = closed_error(t); if (rc == TLS_ERR_CLOSED) rc = TLS_ERR_HANDSHAKE; break; }
        if (st & BR_SSL_SENDREC) {
            rc = send_records(t);
            if (rc) { salvage_alert(t, cfg->key_type != 0); rc = TLS_ERR_HANDSHAKE; break; }
            continue;
        }
        if (st & BR_SSL_SENDAPP) break;                                 /* handshake done */
        if (st & BR_SSL_RECVREC) {
            size_t len;
            unsigned char *buf = br_ssl_engine_recvrec_buf(eng, &len);
            int n;
            now = win_tick_ms();
            if (now >= deadline) { snprintf(t->err, sizeof t->err, "TLS handshake timed out"); rc = TLS_ERR_IO; break; }
            n = t->io.recv_some(t->io.ctx, buf, len, (int)(deadline - now));
            if (n == 0) {
                snprintf(t->err, sizeof t->err, "the server closed the connection during the TLS handshake"
                         "%s", cfg->key_type ? "" : " (does it require a client certificate?)");
                rc = TLS_ERR_HANDSHAKE;
                break;
            }
            if (n < 0) {
                snprintf(t->err, sizeof t->err, "%s", win_tick_ms() >= deadline ? "TLS handshake timed out"
                         : "the connection failed during the TLS handshake");
                rc = TLS_ERR_IO;
                break;
            }
            br_ssl_engine_recvrec_ack(eng, (size_t)n);
            continue;
        }
        snprintf(t->err, sizeof t->err, "TLS engine stalled (state %u)", st);
        rc = TLS_ERR_HANDSHAKE;
        break;
    }
    if (rc != TLS_OK) {
        snprintf(err, errcap, "%s", t->err);
        free(t);
        return rc;
    }
    *out = t;
    return TLS_OK;
}

int tls_send(tls_conn *t, const void *data, size_t len)
{
    br_ssl_engine_context *eng = &t->cc.eng;
    const unsigned char *p = (const unsigned char *)data;
    while (len > 0) {
        unsigned st = br_ssl_engine_current_state(eng);
        if (st & BR_SSL_CLOSED) return closed_error(t);
        if (st & BR_SSL_SENDREC) {
            int rc = send_records(t);
            if (rc) return rc;
            continue;
        }
        if (st & BR_SSL_SENDAPP) {
            size_t room;
            unsigned char *buf = br_ssl_engine_sendapp_buf(eng, &room);
            size_t n = len < room ? len : room;
            memcpy(buf, p, n);
            br_ssl_engine_sendapp_ack(eng, n);
            p += n;
            len -= n;
            continue;
        }
        /* Only a renegotiation would need input first; servers in Go never ask. */
        snprintf(t->err, sizeof t->err, "TLS engine cannot take data now (state %u)", st);
        return TLS_ERR_IO;
    }
    return TLS_OK;
}

int tls_flush(tls_conn *t)
{
    br_ssl_engine_context *eng = &t->cc.eng;
    if (br_ssl_engine_current_state(eng) & BR_SSL_CLOSED) return closed_error(t);
    br_ssl_engine_flush(eng, 0);
    return send_records(t);
}

int tls_recv(tls_conn *t, const void *in, size_t in_len, size_t *in_used,
             void *out, size_t out_cap, size_t *out_len)
{
    br_ssl_engine_context *eng = &t->cc.eng;
    const unsigned char *src = (const unsigned char *)in;
    unsigned char *dst = (unsigned char *)out;
    *in_used = 0;
    *out_len = 0;
    for (;;) {
        unsigned st = br_ssl_engine_current_state(eng);
        if (st & BR_SSL_CLOSED) return closed_error(t);
        if (st & BR_SSL_SENDREC) {
            int rc = send_records(t);
            if (rc) return rc;
            continue;
        }
        if ((st & BR_SSL_RECVAPP) && *out_len < out_cap) {
            size_t avail;
            unsigned char *buf = br_ssl_engine_recvapp_buf(eng, &avail);
            size_t n = out_cap - *out_len < avail ? out_cap - *out_len : avail;
            memcpy(dst + *out_len, buf, n);
            br_ssl_engine_recvapp_ack(eng, n);
            *out_len += n;
            continue;
        }
        if ((st & BR_SSL_RECVREC) && *in_used < in_len) {
            size_t room;
            unsigned char *buf = br_ssl_engine_recvrec_buf(eng, &room);
            size_t n = in_len - *in_used < room ? in_len - *in_used : room;
            memcpy(buf, src + *in_used, n);
            br_ssl_engine_recvrec_ack(eng, n);
            *in_used += n;
            continue;
        }
        return TLS_OK;
    }
}

const char *tls_last_error(const tls_conn *t) { return t ? t->err : ""; }

void tls_close(tls_conn *t)
{
    if (!t) return;
    memset(t, 0, sizeof *t);                /* session keys do not linger */
    free(t);
}
