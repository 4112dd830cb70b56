/*
** cli_sign.c — the release key on the operator's side: agent keygen, the
** --sign-key / KANADE_SIGN_KEY loading shared by publish, sign and rollout,
** the release's signature headers, and agent sign (sign a release already
** in the store). What is signed and why is in trust.h and docs/security.md.
*/
#include <windows.h>
#include <bearssl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "trust.h"
#include "win.h"

#define KEY_FILE_MAX 16384
#define PATH_U8      (WIN_PATH_MAX * 3)

/* see cli.h */
int cli_sign_key(sig_priv *k, int *have)
{
    char env[PATH_U8], *pem = NULL;
    const char *path = cli_opt_last("sign-key");
    size_t len = 0;
    int rc;
    *have = 0;
    if (!path && win_getenv("KANADE_SIGN_KEY", env, sizeof env) == 0 && env[0]) path = env;
    if (!path) return CLI_OK;
    if (!path[0]) return cli_usage("--sign-key needs the path of a private key PEM file");
    if (!win_exists(path))
        return cli_fail(CLI_NOT_FOUND, "release key %s does not exist; make one with 'kanade agent keygen --out %s'",
                        path, path);
    if (win_read_all(path, KEY_FILE_MAX, &pem, &len) != 0)
        return cli_fail(CLI_FAIL, "cannot read release key %s: %s", path, win_last_error());
    rc = sig_priv_from_pem(pem, len, k);
    SecureZeroMemory(pem, len);
    free(pem);
    if (rc == SIG_ERR_CURVE)
        return cli_fail(CLI_FAIL, "%s is not a P-256 key; make one with 'kanade agent keygen' or "
                        "'openssl ecparam -name prime256v1 -genkey'", path);
    if (rc != SIG_OK)
        return cli_fail(CLI_FAIL, "%s holds no EC PRIVATE KEY or PRIVATE KEY PEM block that can be read", path);
    *have = 1;
    return CLI_OK;
}

/* see cli.h */
int cli_release_sig_hdrs(const sig_priv *k, const char *version, uint64_t size,
                         const unsigned char d[SHA256_LEN], obj_hdr h[2])
{
    char stmt[SIG_STMT_MAX];
    size_t len = 0;
    memset(h, 0, 2 * sizeof *h);
    if (sig_release_statement(version, size, d, stmt, sizeof stmt, &len) != SIG_OK
        || sig_sign_b64(k, stmt, len, h[0].value, sizeof h[0].value) != SIG_OK)
        return cli_fail(CLI_FAIL, "cannot sign release %s", version);
    snprintf(h[0].name, sizeof h[0].name, "%s", TRUST_HDR_SIG);
    snprintf(h[1].name, sizeof h[1].name, "%s", TRUST_HDR_KEYID);
    snprintf(h[1].value, sizeof h[1].value, "%s", k->pub.id);
    return CLI_OK;
}

/* 1 when info already carries a signature by k over exactly this release. */
int cli_release_signed_by(const obj_info *info, const char *version, const sig_priv *k)
{
    return trust_release(&k->pub, 1, version, info->size, info->digest, obj_header(info, TRUST_HDR_SIG),
                         obj_header(info, TRUST_HDR_KEYID), NULL, 0) == TRUST_OK;
}

typedef struct keygen_out { const char *path, *pub, *id; } keygen_out;

static void render_keygen(json_w *w, void *arg)
{
    keygen_out *o = arg;
    json_w_obj_open(w);
    json_w_kstr(w, "private_key_file", o->path);
    json_w_kstr(w, "public_key", o->pub);
    json_w_kstr(w, "key_id", o->id);
    json_w_obj_close(w);
}

/*
** agent keygen --out FILE: a new P-256 key from the system RNG (BearSSL's
** seeder into an HMAC-DRBG), written as SEC1 PEM to a new file readable by
** its owner only. An existing file is never overwritten: losing the old key
** would lock the fleet out of updates signed by it.
*/
int cli_cmd_keygen(void)
{
    const char *path = cli_opt_last("out");
    br_hmac_drbg_context rng;
    br_prng_seeder seeder;
    unsigned char seed[48];
    char pem[SIG_PEM_MAX], pub[SIG_PUBSTR_MAX];
    size_t len = 0;
    sig_priv k;
    keygen_out o;
    int rc;

    if (!path || !path[0]) return cli_usage("give the file to write the private key to with --out FILE");
    if (win_exists(path))
        return cli_fail(CLI_FAIL, "%s already exists; keygen never overwrites a key (move it away first, or "
                        "pick another name)", path);
    seeder = br_prng_seeder_system(NULL);
    br_hmac_drbg_init(&rng, &br_sha256_vtable, NULL, 0);
    if (!seeder || !seeder(&rng.vtable))
        return cli_fail(CLI_FAIL, "the system random number generator is not available; no key written");
    br_hmac_drbg_generate(&rng, seed, sizeof seed);
    rc = sig_keygen(seed, sizeof seed, &k);
    SecureZeroMemory(seed, sizeof seed);
    SecureZeroMemory(&rng, sizeof rng);
    if (rc == SIG_OK) rc = sig_priv_to_pem(&k, pem, sizeof pem, &len);
    if (rc == SIG_OK) rc = sig_pub_format(&k.pub, pub, sizeof pub);
    if (rc != SIG_OK) return cli_fail(CLI_FAIL, "cannot make a key (error %d); no key written", rc);
    rc = cli_write_private(path, pem, len);
    SecureZeroMemory(pem, sizeof pem);
    SecureZeroMemory(&k.x, sizeof k.x);
    if (rc != 0) return cli_fail(CLI_FAIL, "cannot write %s: %s", path, win_last_error());
    o.path = path; o.pub = pub; o.id = k.pub.id;
    if (cli_g.json) return cli_emit_json(render_keygen, &o);
    cli_say("wrote the private release key to %s (readable by you only; keep it offline)\n", path);
    cli_say("public key: %s\n", pub);
    cli_say("key id:     %s\n", k.pub.id);
    cli_say("  install agents with: kanade-agent.exe install ... --release-key %s\n", pub);
    return CLI_OK;
}

/* obj_write_fn into a bounded memory buffer. */
typedef struct mem_sink { unsigned char *p; size_t len, cap; } mem_sink;

static int mem_write(void *arg, const void *buf, size_t len)
{
    mem_sink *m = arg;
    if (len > m->cap - m->len) return 1;
    memcpy(m->p + m->len, buf, len);
    m->len += len;
    return 0;
}

typedef struct sign_out { const char *version, *status, *key_id; uint64_t size; const char *digest; } sign_out;

static void render_sign(json_w *w, void *arg)
{
    sign_out *o = arg;
    json_w_obj_open(w);
    json_w_kstr(w, "status", o->status);
    json_w_kstr(w, "version", o->version);
    json_w_key(w, "size");
    json_w_uint(w, o->size);
    json_w_kstr(w, "digest", o->digest);
    json_w_kstr(w, "key_id", o->key_id);
    json_w_obj_close(w);
}

/*
** agent sign <version> --sign-key FILE: signs a release already in the
** store. Its bytes are read back first (obj_get checks them against the
** stored size and digest) and must be an agent build of that version, so
** the key never vouches for bytes nobody looked at.
*/
int cli_cmd_sign(void)
{
    const char *ver = cli_arg(0);
    obj_store *s = NULL;
    obj_info info, put;
    obj_hdr h[2];
    mem_sink m;
    js_err e;
    sig_priv k;
    char pver[128];
    unsigned char d[SHA256_LEN];
    sign_out o;
    int have = 0, code, rc;

    if (!scope_valid_version(ver)) return cli_usage("'%s' is not a valid version name", ver);
    if ((code = cli_sign_key(&k, &have)) != CLI_OK) return code;
    if (!have) return cli_usage("give the release key with --sign-key FILE (or KANADE_SIGN_KEY)");
    memset(&m, 0, sizeof m);
    if ((code = cli_connect()) != CLI_OK || (code = cli_open_obj(CLI_B_RELEASES, &s)) != CLI_OK) goto done;
    memset(&e, 0, sizeof e);
    rc = obj_info_get(s, ver, 0, &info, &e);
    if (rc != NATS_OK) {
        code = rc == NATS_ERR_NOT_FOUND ? cli_fail(CLI_NOT_FOUND, "%s/%s does not exist; publish it first",
                                                   CLI_B_RELEASES, ver)
                                        : cli_fail_nats(rc, &e, "cannot look up %s/%s", CLI_B_RELEASES, ver);
        goto done;
    }
    if (info.size > CLI_EXE_MAX) {
        code = cli_fail(CLI_FAIL, "%s/%s is %" PRIu64 " bytes, larger than an agent build can be; not signed",
                        CLI_B_RELEASES, ver, info.size);
        goto done;
    }
    m.cap = (size_t)info.size;
    if ((m.p = malloc(m.cap ? m.cap : 1)) == NULL) { code = cli_fail(CLI_FAIL, "out of memory"); goto done; }
    rc = obj_get(s, ver, mem_write, &m, NULL, NULL, &info, &e);
    if (rc != NATS_OK) { code = cli_fail_nats(rc, &e, "cannot read %s/%s back", CLI_B_RELEASES, ver); goto done; }
    sha256_buf(m.p, m.len, d);
    if (pe_version_buf(m.p, m.len, pver, sizeof pver) != PEV_OK || strcmp(pver, ver) != 0) {
        code = cli_fail(CLI_FAIL, "%s/%s is not a kanade-agent build of version %s (its VERSIONINFO says '%s'); "
                        "not signed", CLI_B_RELEASES, ver, ver, pver);
        goto done;
    }
    o.version = ver; o.size = info.size; o.digest = info.digest; o.key_id = k.pub.id;
    if (cli_release_signed_by(&info, ver, &k)) {
        o.status = "unchanged";
    } else {
        if ((code = cli_release_sig_hdrs(&k, ver, m.len, d, h)) != CLI_OK) goto done;
        rc = obj_set_headers(s, ver, h, 2, &put, &e);
        if (rc != NATS_OK) { code = cli_fail_nats(rc, &e, "cannot write the signature of %s/%s", CLI_B_RELEASES, ver); goto done; }
        o.status = "signed";
    }
    if (cli_g.json) code = cli_emit_json(render_sign, &o);
    else if (!strcmp(o.status, "signed"))
        cli_say("signed %s/%s (%" PRIu64 " bytes, %s) with key %s\n", CLI_B_RELEASES, ver, info.size, info.digest, k.pub.id);
    else
        cli_say("%s/%s is already signed with key %s; nothing written\n", CLI_B_RELEASES, ver, k.pub.id);
done:
    SecureZeroMemory(&k, sizeof k);
    free(m.p);
    obj_close(s);
    return code;
}
