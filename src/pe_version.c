/*
** pe_version.c — the version string of a PE image, read from its
** VERSIONINFO resource. Pure: no windows.h, so the same code runs under
** ASan/UBSan and libFuzzer on Linux.
**
** Path through the image:
**   DOS header (e_lfanew) -> "PE\0\0" + COFF header -> optional header
**   (PE32 or PE32+) -> data directory 2 (resources) -> section table
**   (RVA -> file offset) -> resource tree: type 16 (RT_VERSION) -> first
**   name -> first language -> data entry -> VS_VERSIONINFO block tree.
**
** Every read goes through a bounds check written so that it cannot
** overflow (off <= lim && n <= lim - off). Two limits matter: the end of
** the buffer (running past it means the file was cut: PEV_ERR_TRUNCATED)
** and the end of the structure a value claims to live in (running past
** that means the structure lies: PEV_ERR_MALFORMED). The resource walk is
** fixed at three levels and remembers the directories it visited, so a
** directory that points at itself or at an ancestor is reported, not
** followed.
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "pe_version.h"

#define RT_VERSION      16u
#define FIXED_SIG       0xFEEF04BDu
#define FIXED_LEN       52u          /* sizeof(VS_FIXEDFILEINFO) */
#define HIGH_BIT        0x80000000u

/* Whether [off, off+n) lies within [0, lim), without overflow. */
static int fits(size_t lim, size_t off, size_t n)
{
    return off <= lim && n <= lim - off;
}

static unsigned le16(const unsigned char *p)
{
    return (unsigned)p[0] | ((unsigned)p[1] << 8);
}

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* The parts of the headers the resource walk needs. */
typedef struct pev {
    const unsigned char *img;
    size_t len;
    size_t sec_off;         /* file offset of the section table */
    unsigned nsec;
} pev;

/* Maps [rva, rva+size) to a file offset through the section table.
** *avail (may be NULL) gets how many bytes of the section's raw data lie at
** and after rva. Returns PEV_OK; PEV_ERR_MALFORMED when no section holds the
** range in its raw data; PEV_ERR_TRUNCATED when a section does but the
** buffer ends first. */
static int rva_map(const pev *p, uint32_t rva, uint32_t size, size_t *off, size_t *avail)
{
    unsigned i;
    for (i = 0; i < p->nsec; i++) {
        const unsigned char *s = p->img + p->sec_off + (size_t)i * 40;
        uint32_t vsize = le32(s + 8), va = le32(s + 12);
        uint32_t rawsize = le32(s + 16), rawptr = le32(s + 20);
        uint32_t extent = vsize ? vsize : rawsize;
        uint32_t delta;
        uint64_t foff;
        if (rva < va || rva - va >= extent) continue;
        delta = rva - va;
        if (delta > rawsize || size > rawsize - delta) return PEV_ERR_MALFORMED;
        foff = (uint64_t)rawptr + delta;
        if (foff > p->len || (uint64_t)size > (uint64_t)p->len - foff) return PEV_ERR_TRUNCATED;
        *off = (size_t)foff;
        if (avail) *avail = rawsize - delta;
        return PEV_OK;
    }
    return PEV_ERR_MALFORMED;
}

/* Checks the DOS, PE, optional headers and section table, and finds the
** resource directory: *rva and *rsize from data directory 2. Returns PEV_OK,
** PEV_ERR_NO_VERSION when the image has no resource directory, or the error
** of the first header that is missing or wrong. */
static int pe_headers(pev *p, uint32_t *rva, uint32_t *rsize)
{
    const unsigned char *img = p->img;
    size_t len = p->len, pe, opt, ddoff;
    unsigned optsize, magic;
    uint32_t nrva;

    if (len == 0) return PEV_ERR_NOT_PE;
    if (img[0] != 'M' || (len > 1 && img[1] != 'Z')) return PEV_ERR_NOT_PE;
    if (len < 64) return PEV_ERR_TRUNCATED;
    pe = le32(img + 0x3C);
    if (!fits(len, pe, 4)) return PEV_ERR_TRUNCATED;
    if (memcmp(img + pe, "PE\0\0", 4) != 0) return PEV_ERR_NOT_PE;
    if (!fits(len, pe, 24)) return PEV_ERR_TRUNCATED;
    p->nsec = le16(img + pe + 6);
    optsize = le16(img + pe + 20);
    opt = pe + 24;
    if (!fits(len, opt, optsize)) return PEV_ERR_TRUNCATED;
    if (optsize < 2) return PEV_ERR_MALFORMED;
    magic = le16(img + opt);
    if (magic == 0x10B) ddoff = 96;          /* PE32 */
    else if (magic == 0x20B) ddoff = 112;    /* PE32+ */
    else return PEV_ERR_MALFORMED;
    if (optsize < ddoff) return PEV_ERR_MALFORMED;
    p->sec_off = opt + optsize;
    if (!fits(len, p->sec_off, (size_t)p->nsec * 40)) return PEV_ERR_TRUNCATED;
    nrva = le32(img + opt + ddoff - 4);
    if (nrva < 3) return PEV_ERR_NO_VERSION;
    if (optsize < ddoff + 3 * 8) return PEV_ERR_MALFORMED;
    *rva = le32(img + opt + ddoff + 16);
    *rsize = le32(img + opt + ddoff + 20);
    if (*rva == 0 || *rsize == 0) return PEV_ERR_NO_VERSION;
    return PEV_OK;
}

/* A window onto the resource section: offsets in the tree are relative to
** base; lim is how far the section's raw data reaches. */
typedef struct rsrc {
    const pev *p;
    size_t base, lim;
} rsrc;

/* Checks that [off, off+n) of the resource window is readable. */
static int rs_need(const rsrc *r, size_t off, size_t n)
{
    if (!fits(r->lim, off, n)) return PEV_ERR_MALFORMED;
    if (!fits(r->p->len, r->base + off, n)) return PEV_ERR_TRUNCATED;
    return PEV_OK;
}

/* Reads the directory at dir: *first gets the offset of its first entry,
** *nnamed and *nid the entry counts. Returns PEV_OK or an error. */
static int rs_dir(const rsrc *r, size_t dir, size_t *first, unsigned *nnamed, unsigned *nid)
{
    const unsigned char *d;
    int rc = rs_need(r, dir, 16);
    if (rc) return rc;
    d = r->p->img + r->base + dir;
    *nnamed = le16(d + 12);
    *nid = le16(d + 14);
    *first = dir + 16;
    return rs_need(r, *first, ((size_t)*nnamed + *nid) * 8);
}

/* Follows entry e (8 bytes at offset e) to the subdirectory it names,
** refusing leaf entries and directories already on the path (loops). */
static int rs_subdir(const rsrc *r, size_t e, size_t *visited, int depth, size_t *dir)
{
    uint32_t v = le32(r->p->img + r->base + e + 4);
    int i;
    if (!(v & HIGH_BIT)) return PEV_ERR_MALFORMED;
    *dir = v & ~HIGH_BIT;
    for (i = 0; i < depth; i++)
        if (visited[i] == *dir) return PEV_ERR_MALFORMED;
    visited[depth] = *dir;
    return PEV_OK;
}

/* Walks type RT_VERSION -> first name -> first language and maps the data
** entry it ends on: *off and *size locate the VS_VERSIONINFO bytes. */
static int find_version_data(const pev *p, uint32_t rva, size_t *off, size_t *size)
{
    rsrc r;
    size_t visited[3], dir = 0, first, e = 0, leaf;
    unsigned nnamed, nid, i;
    uint32_t drva, dsize;
    int rc;

    r.p = p;
    rc = rva_map(p, rva, 16, &r.base, &r.lim);
    if (rc) return rc;
    visited[0] = 0;

    /* Level 1: the type directory. RT_VERSION is an integer ID, and ID
    ** entries follow the named ones. */
    if ((rc = rs_dir(&r, dir, &first, &nnamed, &nid)) != 0) return rc;
    for (i = 0; i < nid; i++) {
        e = first + ((size_t)nnamed + i) * 8;
        if (le32(p->img + r.base + e) == RT_VERSION) break;
    }
    if (i == nid) return PEV_ERR_NO_VERSION;
    if ((rc = rs_subdir(&r, e, visited, 1, &dir)) != 0) return rc;

    /* Level 2: names (normally the one ID 1), take the first. */
    if ((rc = rs_dir(&r, dir, &first, &nnamed, &nid)) != 0) return rc;
    if (nnamed + nid == 0) return PEV_ERR_NO_VERSION;
    if ((rc = rs_subdir(&r, first, visited, 2, &dir)) != 0) return rc;

    /* Level 3: languages, take the first; it must be a leaf. */
    if ((rc = rs_dir(&r, dir, &first, &nnamed, &nid)) != 0) return rc;
    if (nnamed + nid == 0) return PEV_ERR_NO_VERSION;
    leaf = le32(p->img + r.base + first + 4);
    if (leaf & HIGH_BIT) return PEV_ERR_MALFORMED;   /* a fourth level */
    if ((rc = rs_need(&r, leaf, 16)) != 0) return rc;
    drva = le32(p->img + r.base + leaf);
    dsize = le32(p->img + r.base + leaf + 4);
    if (dsize == 0) return PEV_ERR_NO_VERSION;
    *size = dsize;
    return rva_map(p, drva, dsize, off, NULL);
}

/* ---- VS_VERSIONINFO -------------------------------------------------- */

/* One block of the version tree: wLength, wValueLength, wType, a
** NUL-terminated UTF-16 key, padding to 32 bits, the value, padding, then
** child blocks up to end. Offsets are relative to the resource data, which
** the linker aligns, so "aligned" means aligned relative to it. */
typedef struct vblk {
    size_t off, end;        /* the block is [off, end) */
    size_t key, nkey;       /* key offset and length in UTF-16 units */
    size_t val, vend;       /* value [val, vend), clipped to the block */
    size_t child;           /* first child offset (may equal end) */
    unsigned vlen, type;
} vblk;

static size_t align4(size_t x)
{
    return (x + 3) & ~(size_t)3;
}

/* Reads the block at off, which must end by lim. Returns PEV_OK or
** PEV_ERR_MALFORMED (too short, longer than its parent, key unterminated). */
static int vblk_read(const unsigned char *v, size_t lim, size_t off, vblk *b)
{
    size_t wlen, k, vbytes;
    if (!fits(lim, off, 6)) return PEV_ERR_MALFORMED;
    wlen = le16(v + off);
    if (wlen < 6 || !fits(lim, off, wlen)) return PEV_ERR_MALFORMED;
    b->off = off;
    b->end = off + wlen;
    b->vlen = le16(v + off + 2);
    b->type = le16(v + off + 4);
    b->key = off + 6;
    for (k = b->key; ; k += 2) {
        if (!fits(b->end, k, 2)) return PEV_ERR_MALFORMED;
        if (le16(v + k) == 0) break;
    }
    b->nkey = (k - b->key) / 2;
    b->val = align4(k + 2);
    if (b->val > b->end) b->val = b->end;
    /* wType 1 is text, wValueLength in UTF-16 units; 0 is binary, in bytes. */
    vbytes = b->type == 1 ? (size_t)b->vlen * 2 : b->vlen;
    b->vend = vbytes <= b->end - b->val ? b->val + vbytes : b->end;
    b->child = align4(b->vend);
    if (b->child > b->end) b->child = b->end;
    return PEV_OK;
}

/* Whether the block's key equals the ASCII string s. */
static int vblk_key_is(const unsigned char *v, const vblk *b, const char *s)
{
    size_t i, n = strlen(s);
    if (b->nkey != n) return 0;
    for (i = 0; i < n; i++)
        if (le16(v + b->key + 2 * i) != (unsigned char)s[i]) return 0;
    return 1;
}

/* Finds the first child of parent whose key is `key` (any child if key is
** NULL). Returns PEV_OK with *out filled, PEV_ERR_NO_VERSION if none, or
** PEV_ERR_MALFORMED when a child block is broken. */
static int vblk_child(const unsigned char *v, const vblk *parent, const char *key, vblk *out)
{
    size_t c = parent->child;
    while (c < parent->end) {
        int rc = vblk_read(v, parent->end, c, out);
        if (rc) return rc;
        if (!key || vblk_key_is(v, out, key)) return PEV_OK;
        c = align4(out->end);   /* wLength >= 6, so this always advances */
    }
    return PEV_ERR_NO_VERSION;
}

/* UTF-16LE units v[a..b) (trimmed of surrounding spaces and NULs, and cut at
** an interior NUL) as UTF-8 into out. Returns PEV_OK, PEV_ERR_NO_VERSION when
** nothing is left, PEV_ERR_MALFORMED on a lone surrogate, PEV_ERR_SPACE when
** out is too small. */
static int utf16_value(const unsigned char *v, size_t a, size_t b, char *out, size_t cap)
{
    size_t i, e, o = 0;
    b = a + (b - a) / 2 * 2;
    while (a < b && (le16(v + a) == 0 || le16(v + a) == ' ')) a += 2;
    for (e = a; e < b && le16(v + e) != 0; e += 2) { }
    while (e > a && le16(v + e - 2) == ' ') e -= 2;
    if (a == e) return PEV_ERR_NO_VERSION;
    for (i = a; i < e; i += 2) {
        uint32_t cp = le16(v + i);
        unsigned char u[4];
        size_t n;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            uint32_t lo;
            if (i + 2 >= e) return PEV_ERR_MALFORMED;
            lo = le16(v + i + 2);
            if (lo < 0xDC00 || lo > 0xDFFF) return PEV_ERR_MALFORMED;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            i += 2;
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return PEV_ERR_MALFORMED;
        }
        if (cp < 0x80) { u[0] = (unsigned char)cp; n = 1; }
        else if (cp < 0x800) {
            u[0] = (unsigned char)(0xC0 | (cp >> 6));
            u[1] = (unsigned char)(0x80 | (cp & 0x3F)); n = 2;
        } else if (cp < 0x10000) {
            u[0] = (unsigned char)(0xE0 | (cp >> 12));
            u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
            u[2] = (unsigned char)(0x80 | (cp & 0x3F)); n = 3;
        } else {
            u[0] = (unsigned char)(0xF0 | (cp >> 18));
            u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
            u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
            u[3] = (unsigned char)(0x80 | (cp & 0x3F)); n = 4;
        }
        if (cap == 0 || n > cap - 1 - o) return PEV_ERR_SPACE;
        memcpy(out + o, u, n);
        o += n;
    }
    out[o] = '\0';
    return PEV_OK;
}

/* The value of String `name` in the first StringTable, or
** PEV_ERR_NO_VERSION when it is absent or empty. */
static int string_value(const unsigned char *v, const vblk *table, const char *name,
                        char *out, size_t cap)
{
    vblk s;
    int rc = vblk_child(v, table, name, &s);
    if (rc) return rc;
    return utf16_value(v, s.val, s.vend, out, cap);
}

/* Formats a fixed version pair (MS, LS dwords) as a.b.c or a.b.c.d.
** PEV_ERR_NO_VERSION when it is all zero. */
static int fixed_value(uint32_t ms, uint32_t ls, char *out, size_t cap)
{
    unsigned a = ms >> 16, b = ms & 0xFFFF, c = ls >> 16, d = ls & 0xFFFF;
    int n;
    if (ms == 0 && ls == 0) return PEV_ERR_NO_VERSION;
    if (d) n = snprintf(out, cap, "%u.%u.%u.%u", a, b, c, d);
    else n = snprintf(out, cap, "%u.%u.%u", a, b, c);
    if (n < 0 || (size_t)n >= cap) { if (cap) out[0] = '\0'; return PEV_ERR_SPACE; }
    return PEV_OK;
}

/* Picks the version out of the VS_VERSIONINFO bytes v[0..len). */
static int parse_versioninfo(const unsigned char *v, size_t len, char *out, size_t cap)
{
    vblk root, sfi, table;
    int rc;

    if ((rc = vblk_read(v, len, 0, &root)) != 0) return rc;
    if (!vblk_key_is(v, &root, "VS_VERSION_INFO")) return PEV_ERR_MALFORMED;
    if (root.vlen != 0) {
        if (root.vlen < FIXED_LEN || root.vend - root.val < FIXED_LEN) return PEV_ERR_MALFORMED;
        if (le32(v + root.val) != FIXED_SIG) return PEV_ERR_MALFORMED;
    }

    rc = vblk_child(v, &root, "StringFileInfo", &sfi);
    if (rc == PEV_OK) rc = vblk_child(v, &sfi, NULL, &table);
    if (rc == PEV_OK) {
        rc = string_value(v, &table, "ProductVersion", out, cap);
        if (rc == PEV_ERR_NO_VERSION) rc = string_value(v, &table, "FileVersion", out, cap);
    }
    if (rc != PEV_ERR_NO_VERSION) return rc;

    if (root.vlen == 0) return PEV_ERR_NO_VERSION;
    /* VS_FIXEDFILEINFO: dwFileVersionMS/LS at 8/12, dwProductVersionMS/LS at 16/20. */
    rc = fixed_value(le32(v + root.val + 16), le32(v + root.val + 20), out, cap);
    if (rc == PEV_ERR_NO_VERSION)
        rc = fixed_value(le32(v + root.val + 8), le32(v + root.val + 12), out, cap);
    return rc;
}

/* Reads the version of the PE image img[0..len) into out (UTF-8,
** NUL-terminated). Returns PEV_OK or a PEV_ERR_* code; on error out holds
** "" when cap > 0. Nothing is allocated; img is only read. */
int pe_version_buf(const unsigned char *img, size_t len, char *out, size_t cap)
{
    pev p;
    uint32_t rva = 0, rsize = 0;
    size_t voff = 0, vsize = 0;
    int rc;

    if (cap) out[0] = '\0';
    if (!img) len = 0;
    p.img = img;
    p.len = len;
    p.sec_off = 0;
    p.nsec = 0;
    rc = pe_headers(&p, &rva, &rsize);
    if (rc == PEV_OK) rc = find_version_data(&p, rva, &voff, &vsize);
    if (rc == PEV_OK) {
        if (cap == 0) return PEV_ERR_SPACE;
        rc = parse_versioninfo(img + voff, vsize, out, cap);
    }
    if (rc != PEV_OK && cap) out[0] = '\0';
    return rc;
}

/* Reads the whole of f (from its start, at most 64 MiB) into a temporary
** heap buffer, freed before returning, and calls pe_version_buf. Returns
** PEV_ERR_IO when reading fails or the file is larger than 64 MiB,
** PEV_ERR_NOMEM when the buffer cannot be allocated. f stays the caller's. */
int pe_version_file(FILE *f, char *out, size_t cap)
{
    unsigned char *buf = NULL;
    size_t have = 0, size = 0;
    int rc;

    if (cap) out[0] = '\0';
    if (fseek(f, 0, SEEK_SET) != 0) return PEV_ERR_IO;
    for (;;) {
        size_t n;
        if (have == size) {
            unsigned char *nb;
            if (size == PEV_MAX_FILE) {
                /* Full: one byte more means the file is over the limit. */
                if (fgetc(f) != EOF) { free(buf); return PEV_ERR_IO; }
                break;
            }
            size = size ? size * 2 : 256u * 1024u;
            if (size > PEV_MAX_FILE) size = PEV_MAX_FILE;
            nb = (unsigned char *)realloc(buf, size);
            if (!nb) { free(buf); return PEV_ERR_NOMEM; }
            buf = nb;
        }
        n = fread(buf + have, 1, size - have, f);
        have += n;
        if (n == 0) break;
    }
    if (ferror(f)) { free(buf); return PEV_ERR_IO; }
    rc = pe_version_buf(buf, have, out, cap);
    free(buf);
    return rc;
}

const char *pe_version_strerror(int rc)
{
    switch (rc) {
    case PEV_OK:             return "ok";
    case PEV_ERR_NOT_PE:     return "not a PE image (no MZ/PE signature)";
    case PEV_ERR_TRUNCATED:  return "PE image is truncated";
    case PEV_ERR_NO_VERSION: return "PE image has no version resource with a version in it";
    case PEV_ERR_MALFORMED:  return "PE version resource is malformed";
    case PEV_ERR_SPACE:      return "version string too long for the buffer";
    case PEV_ERR_IO:         return "cannot read the file (read error, or larger than 64 MiB)";
    case PEV_ERR_NOMEM:      return "out of memory reading the file";
    default:                 return "unknown pe_version error";
    }
}
