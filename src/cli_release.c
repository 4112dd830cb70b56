/*
** cli_release.c — the release commands of kanade.exe: publish (an agent build into
** agent_releases, keyed by its own VERSIONINFO) and releases (the list).
** See cli.h for the helpers and conventions: each cli_cmd_* validates
** everything the operator typed before it connects, and returns a process
** exit code.
*/
#include <windows.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "objstore.h"
#include "pe_version.h"
#include "win.h"

/* obj_read_fn over a memory buffer. */
typedef struct mem_reader { const unsigned char *p; size_t len, off; } mem_reader;

static int mem_read(void *arg, void *buf, size_t cap, size_t *got)
{
    mem_reader *m = arg;
    size_t n = m->len - m->off;
    if (n > cap) n = cap;
    memcpy(buf, m->p + m->off, n);
    m->off += n;
    *got = n;
    return 0;
}

typedef struct publish_out {
    const char *status, *version, *digest, *replaced;
    const char *key_id;         /* the signer, NULL when unsigned */
    uint64_t size;
} publish_out;

static void render_publish(json_w *w, void *arg)
{
    publish_out *p = arg;
    char name[300];
    snprintf(name, sizeof name, "%s/%s", CLI_B_RELEASES, p->version);
    json_w_obj_open(w);
    json_w_kstr(w, "status", p->status);
    json_w_kstr(w, "version", p->version);
    json_w_kstr(w, "object", name);
    json_w_key(w, "size");
    json_w_uint(w, p->size);
    json_w_kstr(w, "digest", p->digest);
    if (p->replaced) json_w_kstr(w, "replaced_digest", p->replaced);
    json_w_kstr(w, "key_id", p->key_id);
    json_w_obj_close(w);
}

/*
** Reads the release file at path into *img (malloc'd, the caller frees it)
** and checks it: a PE with a valid version in its VERSIONINFO. Fills ver
** and the SHA-256 d. Returns an exit code; on failure *img is NULL and one
** clear line was printed.
*/
static int load_release(const char *path, char **img, size_t *len, char *ver, size_t vcap,
                        unsigned char d[SHA256_LEN])
{
    int rc;
    *img = NULL;
    if (!win_exists(path))
        return cli_fail(CLI_NOT_FOUND, "%s does not exist; give the path of a kanade-agent.exe build", path);
    if (win_read_all(path, CLI_EXE_MAX, img, len) != 0)
        return cli_fail(CLI_FAIL, "cannot read %s: %s", path, win_last_error());
    rc = pe_version_buf((const unsigned char *)*img, *len, ver, vcap);
    if (rc == PEV_OK && scope_valid_version(ver)) {
        sha256_buf(*img, *len, d);
        return CLI_OK;
    }
    free(*img);
    *img = NULL;
    if (rc == PEV_ERR_NOT_PE || rc == PEV_ERR_TRUNCATED)
        return cli_fail(CLI_FAIL, "%s is not a Windows executable (%s); publish a kanade-agent.exe build",
                        path, pe_version_strerror(rc));
    if (rc == PEV_ERR_NO_VERSION)
        return cli_fail(CLI_FAIL, "%s has no version in its VERSIONINFO resource; build it with one "
                        "(e.g. make VERSION=0.1.1) and publish again", path);
    if (rc != PEV_OK)
        return cli_fail(CLI_FAIL, "cannot read the version of %s: %s", path, pe_version_strerror(rc));
    return cli_fail(CLI_FAIL, "%s carries version '%s', which is not a valid release name (letters, "
                    "digits, '.', '_', '+', '-'; no '..'); rebuild it with a plain version", path, ver);
}

/*
** The same build is already stored: with a key, signs it in place unless
** that key already signed it. Returns an exit code.
*/
static int publish_unchanged(obj_store *s, const obj_info *info, publish_out *po, const sig_priv *k,
                             const unsigned char d[SHA256_LEN])
{
    obj_hdr h[2];
    js_err e;
    int rc, code;
    po->status = "unchanged";
    if (k && !cli_release_signed_by(info, po->version, k)) {
        if ((code = cli_release_sig_hdrs(k, po->version, po->size, d, h)) != CLI_OK) return code;
        memset(&e, 0, sizeof e);
        rc = obj_set_headers(s, po->version, h, 2, NULL, &e);
        if (rc != NATS_OK)
            return cli_fail_nats(rc, &e, "cannot write the signature of %s/%s", CLI_B_RELEASES, po->version);
        po->status = "signed";
    }
    if (cli_g.json) return cli_emit_json(render_publish, po);
    if (!strcmp(po->status, "signed"))
        cli_say("%s/%s already holds this build (%" PRIu64 " bytes, %s); signed it with key %s\n",
                CLI_B_RELEASES, po->version, po->size, po->digest, po->key_id);
    else
        cli_say("%s/%s already holds this build (%" PRIu64 " bytes, %s); nothing written\n",
                CLI_B_RELEASES, po->version, po->size, po->digest);
    return CLI_OK;
}

/*
** agent publish <exe> [--force] [--sign-key FILE]: the whole file is read
** and checked in memory first, and exactly those bytes are uploaded, so a
** file changing under us cannot publish bytes that do not match the
** version and digest we checked. A signed release gets its headers in the
** same meta message as its data, so no agent ever sees it unsigned.
*/
int cli_cmd_publish(void)
{
    const char *path = cli_arg(0);
    char *img = NULL, ver[128], digest[SHA256_DIGEST_STR_LEN], old_digest[SHA256_DIGEST_STR_LEN];
    char label[160];
    unsigned char d[SHA256_LEN], od[SHA256_LEN];
    size_t len = 0;
    obj_store *s = NULL;
    obj_info info, put;
    js_err e;
    mem_reader mr;
    cli_progress pg;
    publish_out po;
    sig_priv k;
    obj_hdr h[2];
    int rc, code, signing = 0;

    if ((code = cli_sign_key(&k, &signing)) != CLI_OK) return code;
    if ((code = load_release(path, &img, &len, ver, sizeof ver, d)) != CLI_OK) return code;
    cli_digest_str(d, digest);
    memset(&po, 0, sizeof po);
    po.version = ver;
    po.digest = digest;
    po.size = len;
    if (signing) {
        po.key_id = k.pub.id;
        if ((code = cli_release_sig_hdrs(&k, ver, len, d, h)) != CLI_OK) goto done;
    }
    if ((code = cli_connect()) != CLI_OK || (code = cli_open_obj(CLI_B_RELEASES, &s)) != CLI_OK) goto done;

    memset(&e, 0, sizeof e);
    rc = obj_info_get(s, ver, 0, &info, &e);
    if (rc != NATS_OK && rc != NATS_ERR_NOT_FOUND) {
        code = cli_fail_nats(rc, &e, "cannot look up %s/%s", CLI_B_RELEASES, ver);
        goto done;
    }
    if (rc == NATS_OK) {
        /* Compare decoded digest bytes, never the strings (a string compare was a bug of the original system). */
        int same = info.size == len && sha256_digest_decode(info.digest, od) == SHA256_OK
                   && memcmp(od, d, SHA256_LEN) == 0;
        snprintf(old_digest, sizeof old_digest, "%s", info.digest[0] ? info.digest : "(no digest)");
        if (same) {
            code = publish_unchanged(s, &info, &po, signing ? &k : NULL, d);
            goto done;
        }
        if (!cli_opt_has("force")) {
            code = cli_fail(CLI_FAIL, "%s/%s already holds a different build (%s, this file is %s); "
                            "releases are immutable: bump the version, or pass --force to replace it",
                            CLI_B_RELEASES, ver, old_digest, digest);
            goto done;
        }
        po.replaced = old_digest;
    }

    mr.p = (const unsigned char *)img;
    mr.len = len;
    mr.off = 0;
    snprintf(label, sizeof label, "uploading %s", ver);
    pg.label = label;
    pg.total = len;
    pg.last = -1;
    memset(&e, 0, sizeof e);
    rc = obj_put_hdrs(s, ver, h, signing ? 2 : 0, mem_read, &mr, cli_progress_cb, &pg, &put, &e);
    cli_progress_end(&pg);
    if (rc != NATS_OK) {
        code = cli_fail_nats(rc, &e, "uploading %s to %s/%s failed", path, CLI_B_RELEASES, ver);
        goto done;
    }
    /* The store hashed what it received; it must be what we checked. */
    if (put.size != len || sha256_digest_decode(put.digest, od) != SHA256_OK || memcmp(od, d, SHA256_LEN) != 0) {
        code = cli_fail(CLI_FAIL, "%s/%s was stored as %s (%" PRIu64 " bytes) but the file is %s (%" PRIu64
                        " bytes); publish again with --force", CLI_B_RELEASES, ver, put.digest, put.size,
                        digest, (uint64_t)len);
        goto done;
    }
    po.status = po.replaced ? "replaced" : "published";
    if (cli_g.json) {
        code = cli_emit_json(render_publish, &po);
    } else {
        cli_say("published %s (%" PRIu64 " bytes, %s) to %s/%s\n", ver, (uint64_t)len, digest, CLI_B_RELEASES, ver);
        if (signing) cli_say("  signed with key %s\n", k.pub.id);
        else cli_say("  unsigned: agents with release keys will refuse it (sign it with 'kanade agent sign %s --sign-key FILE')\n", ver);
        if (po.replaced) cli_say("  replaced the previous build %s\n", po.replaced);
        cli_say("  roll it out with: kanade agent rollout %s --pcs <canary-pc>\n", ver);
    }
done:
    SecureZeroMemory(&k, sizeof k);
    obj_close(s);
    free(img);
    return code;
}

int cli_cmd_releases(void) { return cli_list_objects(CLI_B_RELEASES); }
