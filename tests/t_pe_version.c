/* t_pe_version.c — pe_version against real PE images built by mingw +
** windres during the test run (tests/pe_fixtures.sh, into $BUILD/fixtures),
** images built byte by byte here (PE32 and PE32+ with hand-made
** VS_VERSIONINFO trees), and broken images: truncated at every byte, bogus
** offsets, resource loops, random garbage. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "th.h"
#include "pe_version.h"

/* ---- helpers ------------------------------------------------------------ */

static const char *build_dir(void)
{
    const char *b = getenv("BUILD");
    return b && *b ? b : "build";
}

/* Reads a whole file into a malloc'd buffer; NULL if it cannot. */
static unsigned char *load(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf;
    long n;
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) { fclose(f); return NULL; }
    buf = (unsigned char *)malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) { free(buf); buf = NULL; }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* Loads $BUILD/fixtures/<name>; a missing fixture is a failure (run
** `make units`, which runs tests/pe_fixtures.sh first). */
static unsigned char *fixture(const char *name, size_t *len)
{
    char path[512];
    unsigned char *b;
    snprintf(path, sizeof path, "%s/fixtures/%s", build_dir(), name);
    b = load(path, len);
    if (!b) fprintf(stderr, "  missing fixture %s (built by tests/pe_fixtures.sh via make units)\n", path);
    return b;
}

static unsigned rd16(const unsigned char *p) { return (unsigned)p[0] | (unsigned)p[1] << 8; }
static uint32_t rd32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static void wr16(unsigned char *p, unsigned v) { p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8); }
static void wr32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16); p[3] = (unsigned char)(v >> 24);
}

/* Offset of the UTF-16LE form of ascii s in b[0..len), or -1. */
static long find_u16(const unsigned char *b, size_t len, const char *s)
{
    size_t n = strlen(s), i, k;
    for (i = 0; i + 2 * n <= len; i++) {
        for (k = 0; k < n; k++)
            if (b[i + 2 * k] != (unsigned char)s[k] || b[i + 2 * k + 1] != 0) break;
        if (k == n) return (long)i;
    }
    return -1;
}

/* Where things are in an image, found the simple way (the test must not
** lean on the code under test to find what it breaks). */
typedef struct layout {
    size_t pe, opt, sec, nsec, optsize, ddir;   /* ddir: data directory 2 (resources) */
    size_t rsec;                                /* section header holding the resources */
    size_t rsrc;                                /* file offset of the resource root */
    size_t vi, vilen;                           /* VS_VERSIONINFO block, its wLength */
} layout;

static int get_layout(const unsigned char *b, size_t len, layout *l)
{
    uint32_t rva;
    size_t i;
    long v;
    memset(l, 0, sizeof *l);
    if (len < 64) return 0;
    l->pe = rd32(b + 0x3C);
    l->nsec = rd16(b + l->pe + 6);
    l->optsize = rd16(b + l->pe + 20);
    l->opt = l->pe + 24;
    l->sec = l->opt + l->optsize;
    l->ddir = l->opt + (rd16(b + l->opt) == 0x10B ? 96 : 112) + 16;
    rva = rd32(b + l->ddir);
    for (i = 0; i < l->nsec; i++) {
        const unsigned char *s = b + l->sec + 40 * i;
        if (rva >= rd32(s + 12) && rva < rd32(s + 12) + rd32(s + 8)) {
            l->rsec = l->sec + 40 * i;
            l->rsrc = rd32(s + 20) + (rva - rd32(s + 12));
        }
    }
    v = find_u16(b, len, "VS_VERSION_INFO");
    if (v >= 6) { l->vi = (size_t)v - 6; l->vilen = rd16(b + l->vi); }
    return l->rsec != 0;
}

static int valid_rc(int rc)
{
    return rc == PEV_OK || rc == PEV_ERR_NOT_PE || rc == PEV_ERR_TRUNCATED ||
           rc == PEV_ERR_NO_VERSION || rc == PEV_ERR_MALFORMED || rc == PEV_ERR_SPACE;
}

/* pe_version_buf on a private copy of b[0..len) (so ASan sees any read past
** len), also checking the out-buffer contract. */
static int pev(const unsigned char *b, size_t len, char *out, size_t cap)
{
    unsigned char *copy = (unsigned char *)malloc(len ? len : 1);
    int rc;
    if (!copy) return -1;
    if (len) memcpy(copy, b, len);
    memset(out, 'x', cap);
    rc = pe_version_buf(copy, len, out, cap);
    free(copy);
    if (cap && memchr(out, '\0', cap) == NULL) return -2;     /* not terminated */
    if (rc != PEV_OK && cap && out[0] != '\0') return -3;     /* error leaves "" */
    return rc;
}

/* ---- fixtures built by windres ------------------------------------------ */

static void expect_fixture(const char *name, int want_rc, const char *want)
{
    size_t len;
    char out[128];
    unsigned char *b = fixture(name, &len);
    TH_CHECK(b != NULL);
    if (!b) return;
    if (pev(b, len, out, sizeof out) != want_rc || (want && strcmp(out, want) != 0))
        fprintf(stderr, "  %s: got rc %d \"%s\"\n", name, pev(b, len, out, sizeof out), out);
    TH_EQ_INT(pev(b, len, out, sizeof out), want_rc);
    if (want) TH_EQ_STR(out, want);
    free(b);
}

static void t_fixture_layouts(void)
{
    expect_fixture("strings_only.exe", PEV_OK, "3.1.4");
    expect_fixture("fixed_only.exe", PEV_OK, "1.2.3");
    expect_fixture("fixed_d.exe", PEV_OK, "1.2.3.4");
    expect_fixture("disagree.exe", PEV_OK, "2.0.0-beta");
    expect_fixture("file_only.exe", PEV_OK, "5.6.7");
    expect_fixture("spaces.exe", PEV_OK, "4.5.6");
    expect_fixture("empty_product.exe", PEV_OK, "7.7.7");
    expect_fixture("empty_strings.exe", PEV_OK, "8.0.1");
    expect_fixture("unicode.exe", PEV_OK, "1.0-\xC3\xA9\xF0\x9F\x98\x80");
    expect_fixture("no_version.exe", PEV_ERR_NO_VERSION, "");
    expect_fixture("no_rsrc.exe", PEV_ERR_NO_VERSION, "");
}

/* The fixtures really have the layouts their names claim (else the test
** above would prove less than it says). */
static void t_fixture_layouts_are_real(void)
{
    size_t len;
    layout l;
    unsigned char *b = fixture("disagree.exe", &len);
    if (!b) { TH_CHECK(0); return; }
    TH_CHECK(get_layout(b, len, &l));
    TH_EQ_INT(rd16(b + l.opt), 0x20B);                      /* PE32+ */
    TH_CHECK(l.vi != 0);
    TH_EQ_INT(rd32(b + l.vi + 40), 0xFEEF04BD);             /* after key + pad */
    TH_EQ_INT(rd32(b + l.vi + 40 + 16), 0x00010002);        /* product MS 1.2 */
    TH_EQ_INT(rd32(b + l.vi + 40 + 20), 0x00030004);        /* product LS 3.4 */
    TH_CHECK(find_u16(b, len, "2.0.0-beta") > 0);
    free(b);
    b = fixture("fixed_only.exe", &len);
    if (!b) { TH_CHECK(0); return; }
    TH_CHECK(find_u16(b, len, "StringFileInfo") < 0);
    TH_CHECK(find_u16(b, len, "VS_VERSION_INFO") > 0);
    free(b);
    b = fixture("no_version.exe", &len);
    if (!b) { TH_CHECK(0); return; }
    TH_CHECK(get_layout(b, len, &l));                       /* has a .rsrc */
    TH_CHECK(find_u16(b, len, "VS_VERSION_INFO") < 0);
    free(b);
}

static void t_fixture_pe32(void)
{
    char path[512], out[64];
    size_t len;
    unsigned char *b;
    FILE *skip;
    snprintf(path, sizeof path, "%s/fixtures/pe32.skip", build_dir());
    skip = fopen(path, "r");
    if (skip) {
        char why[256] = "";
        if (!fgets(why, sizeof why, skip)) why[0] = '\0';
        fclose(skip);
        printf("SKIP t_fixture_pe32: %s\n", why);
        return;
    }
    b = fixture("pe32.exe", &len);
    TH_CHECK(b != NULL);
    if (!b) return;
    {
        layout l;
        TH_CHECK(get_layout(b, len, &l));
        TH_EQ_INT(rd16(b + l.opt), 0x10B);                  /* really PE32 */
    }
    TH_EQ_INT(pev(b, len, out, sizeof out), PEV_OK);
    TH_EQ_STR(out, "32.0.1");
    free(b);
}

/* Cut a real image at every length: below the end of the version data the
** answer is "truncated" (or "not a PE" for the empty buffer), from there on
** the version. The switch must happen within the data's alignment. */
static void t_truncated_at_every_byte(void)
{
    size_t len, k, first_ok = 0;
    layout l;
    char out[64];
    int bad = 0;
    unsigned char *b = fixture("disagree.exe", &len);
    if (!b) { TH_CHECK(0); return; }
    TH_CHECK(get_layout(b, len, &l));
    TH_CHECK(l.vi > l.sec);
    for (k = 0; k <= len; k++) {
        int rc = pev(b, k, out, sizeof out);
        int want = k == 0 ? PEV_ERR_NOT_PE : PEV_ERR_TRUNCATED;
        if (rc == PEV_OK) {
            if (!first_ok) first_ok = k;
            if (strcmp(out, "2.0.0-beta") != 0) bad++;
        } else {
            if (first_ok || rc != want) {
                if (bad < 5) fprintf(stderr, "  cut at %lu: rc %d\n", (unsigned long)k, rc);
                bad++;
            }
        }
    }
    TH_EQ_INT(bad, 0);
    TH_CHECK(first_ok >= l.vi + l.vilen && first_ok <= l.vi + l.vilen + 3);
    free(b);
}

/* The same at the named header boundaries, so a failure says where. */
static void t_truncated_at_header_boundaries(void)
{
    size_t len, i;
    layout l;
    char out[64];
    unsigned char *b = fixture("strings_only.exe", &len);
    size_t cuts[16];
    if (!b) { TH_CHECK(0); return; }
    TH_CHECK(get_layout(b, len, &l));
    cuts[0] = 1; cuts[1] = 2; cuts[2] = 0x3C; cuts[3] = 0x40;
    cuts[4] = l.pe; cuts[5] = l.pe + 4; cuts[6] = l.pe + 23; cuts[7] = l.pe + 24;
    cuts[8] = l.opt + l.optsize - 1; cuts[9] = l.sec; cuts[10] = l.sec + 40 * l.nsec - 1;
    cuts[11] = l.rsrc; cuts[12] = l.rsrc + 16; cuts[13] = l.vi; cuts[14] = l.vi + 6;
    cuts[15] = l.vi + l.vilen - 1;
    for (i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        int rc = pev(b, cuts[i], out, sizeof out);
        if (rc != PEV_ERR_TRUNCATED) fprintf(stderr, "  boundary %lu (cut at %lu): rc %d\n",
                                             (unsigned long)i, (unsigned long)cuts[i], rc);
        TH_EQ_INT(rc, PEV_ERR_TRUNCATED);
    }
    TH_EQ_INT(pev(b, 0, out, sizeof out), PEV_ERR_NOT_PE);
    TH_EQ_INT(pe_version_buf(NULL, 0, out, sizeof out), PEV_ERR_NOT_PE);
    free(b);
}

/* ---- bogus offsets in a real image --------------------------------------- */

typedef void (*patch_fn)(unsigned char *b, size_t len, const layout *l);

/* Applies fn to a copy of the fixture and expects rc. */
static void patched(const char *what, patch_fn fn, int want)
{
    size_t len;
    layout l;
    char out[64];
    int rc;
    unsigned char *b = fixture("disagree.exe", &len);
    if (!b) { TH_CHECK(0); return; }
    TH_CHECK(get_layout(b, len, &l));
    fn(b, len, &l);
    rc = pev(b, len, out, sizeof out);
    if (rc != want) fprintf(stderr, "  %s: rc %d, expected %d\n", what, rc, want);
    TH_EQ_INT(rc, want);
    free(b);
}

/* Offsets inside the resource tree as windres lays it out for one
** VERSIONINFO: root dir, its one ID entry (16), then the name and
** language directories. */
static size_t type_entry(const unsigned char *b, const layout *l)
{
    return l->rsrc + 16 + 8 * rd16(b + l->rsrc + 12);
}
static size_t name_dir(const unsigned char *b, const layout *l)
{
    return l->rsrc + (rd32(b + type_entry(b, l) + 4) & 0x7FFFFFFF);
}
static size_t lang_dir(const unsigned char *b, const layout *l)
{
    size_t nd = name_dir(b, l);
    return l->rsrc + (rd32(b + nd + 16 + 4) & 0x7FFFFFFF);
}
static size_t data_entry(const unsigned char *b, const layout *l)
{
    size_t ld = lang_dir(b, l);
    return l->rsrc + rd32(b + ld + 16 + 4);
}

static void p_bad_mz(unsigned char *b, size_t n, const layout *l) { b[1] = 'X'; }
static void p_lfanew_past_end(unsigned char *b, size_t n, const layout *l) { wr32(b + 0x3C, (uint32_t)n + 100); }
static void p_lfanew_max(unsigned char *b, size_t n, const layout *l) { wr32(b + 0x3C, 0xFFFFFFFFu); }
static void p_lfanew_last(unsigned char *b, size_t n, const layout *l) { wr32(b + 0x3C, (uint32_t)n - 2); }
static void p_lfanew_zero(unsigned char *b, size_t n, const layout *l) { wr32(b + 0x3C, 0); }
static void p_bad_pe_sig(unsigned char *b, size_t n, const layout *l) { b[l->pe + 1] = 'F'; }
static void p_opt_magic(unsigned char *b, size_t n, const layout *l) { wr16(b + l->opt, 0x107); }
static void p_nsec_huge(unsigned char *b, size_t n, const layout *l) { wr16(b + l->pe + 6, 0xFFFF); }
static void p_optsize_huge(unsigned char *b, size_t n, const layout *l) { wr16(b + l->pe + 20, 0xFFFF); }
static void p_optsize_tiny(unsigned char *b, size_t n, const layout *l) { wr16(b + l->pe + 20, 8); }
static void p_optsize_no_ddir(unsigned char *b, size_t n, const layout *l) { wr16(b + l->pe + 20, 112 + 16); }
static void p_nrva_two(unsigned char *b, size_t n, const layout *l) { wr32(b + l->ddir - 16 - 4, 2); }
static void p_rsrc_rva_zero(unsigned char *b, size_t n, const layout *l) { wr32(b + l->ddir, 0); }
static void p_rsrc_size_zero(unsigned char *b, size_t n, const layout *l) { wr32(b + l->ddir + 4, 0); }
static void p_rsrc_rva_nowhere(unsigned char *b, size_t n, const layout *l) { wr32(b + l->ddir, 0x7FFF0000u); }
static void p_raw_ptr_past_end(unsigned char *b, size_t n, const layout *l) { wr32(b + l->rsec + 20, (uint32_t)n + 0x1000); }
static void p_raw_ptr_max(unsigned char *b, size_t n, const layout *l) { wr32(b + l->rsec + 20, 0xFFFFFF00u); }
static void p_raw_size_small(unsigned char *b, size_t n, const layout *l) { wr32(b + l->rsec + 16, 8); }
static void p_no_sections(unsigned char *b, size_t n, const layout *l) { wr16(b + l->pe + 6, 0); }
static void p_type_not_version(unsigned char *b, size_t n, const layout *l) { wr32(b + type_entry(b, l), 17); }
static void p_type_no_entries(unsigned char *b, size_t n, const layout *l) { wr16(b + l->rsrc + 14, 0); }
static void p_type_many_entries(unsigned char *b, size_t n, const layout *l) { wr16(b + l->rsrc + 14, 0xFFFF); }
static void p_type_self_loop(unsigned char *b, size_t n, const layout *l) { wr32(b + type_entry(b, l) + 4, 0x80000000u); }
static void p_type_leaf(unsigned char *b, size_t n, const layout *l)
{
    wr32(b + type_entry(b, l) + 4, rd32(b + type_entry(b, l) + 4) & 0x7FFFFFFF);
}
static void p_type_dir_far(unsigned char *b, size_t n, const layout *l) { wr32(b + type_entry(b, l) + 4, 0xFFFFFFF0u); }
static void p_name_self_loop(unsigned char *b, size_t n, const layout *l)
{
    size_t nd = name_dir(b, l);
    wr32(b + nd + 16 + 4, 0x80000000u | (uint32_t)(nd - l->rsrc));
}
static void p_name_to_root(unsigned char *b, size_t n, const layout *l)
{
    wr32(b + name_dir(b, l) + 16 + 4, 0x80000000u);
}
static void p_name_empty(unsigned char *b, size_t n, const layout *l) { wr16(b + name_dir(b, l) + 14, 0); }
static void p_lang_dir_loop(unsigned char *b, size_t n, const layout *l)
{
    size_t ld = lang_dir(b, l);
    wr32(b + ld + 16 + 4, 0x80000000u | (uint32_t)(ld - l->rsrc));
}
static void p_lang_fourth_level(unsigned char *b, size_t n, const layout *l)
{
    /* a subdirectory (not on the path) where the language leaf belongs */
    size_t ld = lang_dir(b, l);
    wr32(b + ld + 16 + 4, 0x80000000u | (uint32_t)(data_entry(b, l) - l->rsrc));
}
static void p_lang_empty(unsigned char *b, size_t n, const layout *l) { wr16(b + lang_dir(b, l) + 14, 0); }
static void p_data_entry_far(unsigned char *b, size_t n, const layout *l)
{
    wr32(b + lang_dir(b, l) + 16 + 4, 0x7FFFFFF0u);
}
static void p_data_rva_nowhere(unsigned char *b, size_t n, const layout *l) { wr32(b + data_entry(b, l), 0x7FFFFFF0u); }
static void p_data_rva_in_text(unsigned char *b, size_t n, const layout *l)
{
    /* the first section (.text) is 0x200 raw bytes; a version blob there
    ** would run past its raw data */
    wr32(b + data_entry(b, l), rd32(b + l->sec + 12) + 0x100);
}
static void p_data_size_zero(unsigned char *b, size_t n, const layout *l) { wr32(b + data_entry(b, l) + 4, 0); }
static void p_data_size_huge(unsigned char *b, size_t n, const layout *l) { wr32(b + data_entry(b, l) + 4, 0xFFFFFFFFu); }
static void p_wlength_over(unsigned char *b, size_t n, const layout *l)
{
    wr16(b + l->vi, rd32(b + data_entry(b, l) + 4) + 4);
}
static void p_wlength_zero(unsigned char *b, size_t n, const layout *l) { wr16(b + l->vi, 0); }
static void p_wlength_five(unsigned char *b, size_t n, const layout *l) { wr16(b + l->vi, 5); }
static void p_wlength_key_cut(unsigned char *b, size_t n, const layout *l) { wr16(b + l->vi, 20); }
static void p_root_key(unsigned char *b, size_t n, const layout *l) { b[l->vi + 6] = 'W'; }
static void p_fixed_sig(unsigned char *b, size_t n, const layout *l) { b[l->vi + 40] ^= 1; }
static void p_fixed_short(unsigned char *b, size_t n, const layout *l) { wr16(b + l->vi + 2, 10); }
static void p_sfi_over_parent(unsigned char *b, size_t n, const layout *l)
{
    size_t s = (size_t)find_u16(b, n, "StringFileInfo") - 6;
    wr16(b + s, rd16(b + l->vi) + 8);
}
static void p_string_zero_len(unsigned char *b, size_t n, const layout *l)
{
    /* CompanyName comes before ProductVersion: the walk must stop on it */
    size_t s = (size_t)find_u16(b, n, "CompanyName") - 6;
    wr16(b + s, 0);
}
static void p_string_key_unterminated(unsigned char *b, size_t n, const layout *l)
{
    size_t s = (size_t)find_u16(b, n, "CompanyName") - 6;
    wr16(b + s, 6 + 2 * 5);     /* ends inside the key */
}
static void p_version_lone_surrogate(unsigned char *b, size_t n, const layout *l)
{
    size_t s = (size_t)find_u16(b, n, "2.0.0-beta");
    wr16(b + s + 2, 0xD800);
}
static void p_product_blank(unsigned char *b, size_t n, const layout *l)
{
    size_t s = (size_t)find_u16(b, n, "2.0.0-beta"), i;
    for (i = 0; i < 10; i++) wr16(b + s + 2 * i, ' ');
}
static void p_sfi_renamed(unsigned char *b, size_t n, const layout *l)
{
    size_t s = (size_t)find_u16(b, n, "StringFileInfo");
    b[s] = 'X';
}

static void t_bogus_offsets(void)
{
    patched("MZ broken", p_bad_mz, PEV_ERR_NOT_PE);
    patched("e_lfanew past end", p_lfanew_past_end, PEV_ERR_TRUNCATED);
    patched("e_lfanew 0xFFFFFFFF", p_lfanew_max, PEV_ERR_TRUNCATED);
    patched("e_lfanew at the last 2 bytes", p_lfanew_last, PEV_ERR_TRUNCATED);
    patched("e_lfanew 0", p_lfanew_zero, PEV_ERR_NOT_PE);
    patched("PE signature broken", p_bad_pe_sig, PEV_ERR_NOT_PE);
    patched("optional header magic 0x107", p_opt_magic, PEV_ERR_MALFORMED);
    patched("65535 sections", p_nsec_huge, PEV_ERR_TRUNCATED);
    patched("optional header 65535 bytes", p_optsize_huge, PEV_ERR_TRUNCATED);
    patched("optional header 8 bytes", p_optsize_tiny, PEV_ERR_MALFORMED);
    patched("optional header ends before data dir 2", p_optsize_no_ddir, PEV_ERR_MALFORMED);
    patched("2 data directories", p_nrva_two, PEV_ERR_NO_VERSION);
    patched("resource RVA 0", p_rsrc_rva_zero, PEV_ERR_NO_VERSION);
    patched("resource size 0", p_rsrc_size_zero, PEV_ERR_NO_VERSION);
    patched("resource RVA in no section", p_rsrc_rva_nowhere, PEV_ERR_MALFORMED);
    patched("no sections", p_no_sections, PEV_ERR_MALFORMED);
    patched("section raw pointer past end", p_raw_ptr_past_end, PEV_ERR_TRUNCATED);
    patched("section raw pointer 0xFFFFFF00", p_raw_ptr_max, PEV_ERR_TRUNCATED);
    patched("section raw size 8", p_raw_size_small, PEV_ERR_MALFORMED);
    patched("no RT_VERSION type", p_type_not_version, PEV_ERR_NO_VERSION);
    patched("type directory empty", p_type_no_entries, PEV_ERR_NO_VERSION);
    patched("type directory 65535 entries", p_type_many_entries, PEV_ERR_MALFORMED);
    patched("RT_VERSION entry points at its own directory", p_type_self_loop, PEV_ERR_MALFORMED);
    patched("RT_VERSION entry is a leaf", p_type_leaf, PEV_ERR_MALFORMED);
    patched("RT_VERSION directory far outside", p_type_dir_far, PEV_ERR_MALFORMED);
    patched("name entry points at itself", p_name_self_loop, PEV_ERR_MALFORMED);
    patched("name entry points at the root", p_name_to_root, PEV_ERR_MALFORMED);
    patched("name directory empty", p_name_empty, PEV_ERR_NO_VERSION);
    patched("language entry points at itself", p_lang_dir_loop, PEV_ERR_MALFORMED);
    patched("language entry is a fourth level", p_lang_fourth_level, PEV_ERR_MALFORMED);
    patched("language directory empty", p_lang_empty, PEV_ERR_NO_VERSION);
    patched("data entry far outside", p_data_entry_far, PEV_ERR_MALFORMED);
    patched("data RVA outside any section", p_data_rva_nowhere, PEV_ERR_MALFORMED);
    patched("data runs past its section's raw data", p_data_rva_in_text, PEV_ERR_MALFORMED);
    patched("data size 0", p_data_size_zero, PEV_ERR_NO_VERSION);
    patched("data size 0xFFFFFFFF", p_data_size_huge, PEV_ERR_MALFORMED);
    patched("wLength larger than the data", p_wlength_over, PEV_ERR_MALFORMED);
    patched("wLength 0", p_wlength_zero, PEV_ERR_MALFORMED);
    patched("wLength 5", p_wlength_five, PEV_ERR_MALFORMED);
    patched("wLength ends inside the key", p_wlength_key_cut, PEV_ERR_MALFORMED);
    patched("root key not VS_VERSION_INFO", p_root_key, PEV_ERR_MALFORMED);
    patched("fixed info signature", p_fixed_sig, PEV_ERR_MALFORMED);
    patched("fixed info 10 bytes", p_fixed_short, PEV_ERR_MALFORMED);
    patched("StringFileInfo longer than its parent", p_sfi_over_parent, PEV_ERR_MALFORMED);
    patched("String wLength 0", p_string_zero_len, PEV_ERR_MALFORMED);
    patched("String key unterminated", p_string_key_unterminated, PEV_ERR_MALFORMED);
    patched("lone surrogate in ProductVersion", p_version_lone_surrogate, PEV_ERR_MALFORMED);
}

/* Changes that leave a readable image pick the next source in order. */
static void fall(const char *what, patch_fn fn, const char *want)
{
    size_t len;
    layout l;
    char out[64];
    unsigned char *b = fixture("disagree.exe", &len);
    if (!b) { TH_CHECK(0); return; }
    TH_CHECK(get_layout(b, len, &l));
    fn(b, len, &l);
    if (pev(b, len, out, sizeof out) != PEV_OK || strcmp(out, want) != 0)
        fprintf(stderr, "  %s: got \"%s\"\n", what, out);
    TH_EQ_INT(pev(b, len, out, sizeof out), PEV_OK);
    TH_EQ_STR(out, want);
    free(b);
}

static void t_fall_through(void)
{
    fall("blank ProductVersion -> FileVersion", p_product_blank, "1.2.3.4");
    fall("no StringFileInfo -> fixed", p_sfi_renamed, "1.2.3.4");
}

/* ---- images built here ---------------------------------------------------- */

/* A VS_VERSIONINFO tree under construction. */
typedef struct blob { unsigned char b[2048]; size_t len; } blob;

static void b_align(blob *x)
{
    while (x->len % 4) x->b[x->len++] = 0;
}

/* Starts a block; returns its offset for b_close. val is vbytes bytes,
** wValueLength is written as wvl. */
static size_t b_open(blob *x, const char *key, unsigned type, const void *val, size_t vbytes, unsigned wvl)
{
    size_t start, i;
    b_align(x);
    start = x->len;
    wr16(x->b + start + 2, wvl);
    wr16(x->b + start + 4, type);
    x->len += 6;
    for (i = 0; key[i]; i++) { wr16(x->b + x->len, (unsigned char)key[i]); x->len += 2; }
    wr16(x->b + x->len, 0); x->len += 2;
    b_align(x);
    if (vbytes) { memcpy(x->b + x->len, val, vbytes); x->len += vbytes; }
    return start;
}

static void b_close(blob *x, size_t start)
{
    wr16(x->b + start, (unsigned)(x->len - start));
}

/* A String child with UTF-16 value v[0..n) (n counts what wValueLength says). */
static void b_string(blob *x, const char *key, const uint16_t *v, size_t n)
{
    unsigned char tmp[256];
    size_t i, s;
    for (i = 0; i < n; i++) wr16(tmp + 2 * i, v[i]);
    s = b_open(x, key, 1, tmp, 2 * n, (unsigned)n);
    b_close(x, s);
}

/* ASCII string value plus its NUL. */
static void b_astring(blob *x, const char *key, const char *v)
{
    uint16_t u[128];
    size_t i, n = strlen(v);
    for (i = 0; i < n; i++) u[i] = (unsigned char)v[i];
    u[n] = 0;
    b_string(x, key, u, n + 1);
}

/* The root block with fixed info (product a.b.c.d, file version f), open. */
static size_t b_root(blob *x, uint32_t pms, uint32_t pls, uint32_t fms, uint32_t fls, int with_fixed)
{
    unsigned char fx[52];
    memset(fx, 0, sizeof fx);
    wr32(fx, 0xFEEF04BD);
    wr32(fx + 4, 0x00010000);
    wr32(fx + 8, fms); wr32(fx + 12, fls);
    wr32(fx + 16, pms); wr32(fx + 20, pls);
    x->len = 0;
    return b_open(x, "VS_VERSION_INFO", 0, fx, with_fixed ? 52 : 0, with_fixed ? 52 : 0);
}

/* A PE image around one resource tree RT_VERSION/1/0x409 -> vi[0..n).
** Layout (file offsets): headers, .rsrc raw data at 0x200 mapped at RVA
** 0x1000: root dir (+2 entries' room) at 0x00, name dir 0x20, language dir
** 0x38, data entry 0x50, a resource name string 0x60, the blob at 0x80.
** named: put a named type entry ("FOO") before the ID entry. */
#define RS 0x200u
static size_t build_pe(unsigned char *img, size_t cap, int pe32, int named, const unsigned char *vi, size_t n)
{
    size_t optsize = pe32 ? 224 : 240, opt = 0x58, sec = opt + optsize;
    size_t rsize = 0x80 + n, raw = (rsize + 0x1FF) & ~(size_t)0x1FF;
    unsigned char *r = img + RS;
    if (RS + raw > cap) return 0;
    memset(img, 0, RS + raw);
    img[0] = 'M'; img[1] = 'Z';
    wr32(img + 0x3C, 0x40);
    memcpy(img + 0x40, "PE\0\0", 4);
    wr16(img + 0x44, pe32 ? 0x14C : 0x8664);
    wr16(img + 0x46, 1);
    wr16(img + 0x54, (unsigned)optsize);
    wr16(img + 0x56, 0x22);
    wr16(img + opt, pe32 ? 0x10B : 0x20B);
    wr32(img + opt + (pe32 ? 92 : 108), 16);
    wr32(img + opt + (pe32 ? 96 : 112) + 16, 0x1000);
    wr32(img + opt + (pe32 ? 96 : 112) + 20, (uint32_t)rsize);
    memcpy(img + sec, ".rsrc", 5);
    wr32(img + sec + 8, (uint32_t)rsize);
    wr32(img + sec + 12, 0x1000);
    wr32(img + sec + 16, (uint32_t)raw);
    wr32(img + sec + 20, RS);
    /* root */
    if (named) {
        wr16(r + 12, 1); wr16(r + 14, 1);
        wr32(r + 16, 0x80000000u | 0x60); wr32(r + 20, 0x80000000u | 0x20);
        wr32(r + 24, 16); wr32(r + 28, 0x80000000u | 0x20);
        wr16(r + 0x60, 3); wr16(r + 0x62, 'F'); wr16(r + 0x64, 'O'); wr16(r + 0x66, 'O');
    } else {
        wr16(r + 14, 1);
        wr32(r + 16, 16); wr32(r + 20, 0x80000000u | 0x20);
    }
    wr16(r + 0x20 + 14, 1); wr32(r + 0x20 + 16, 1); wr32(r + 0x20 + 20, 0x80000000u | 0x38);
    wr16(r + 0x38 + 14, 1); wr32(r + 0x38 + 16, 0x409); wr32(r + 0x38 + 20, 0x50);
    wr32(r + 0x50, 0x1000 + 0x80); wr32(r + 0x54, (uint32_t)n);
    memcpy(r + 0x80, vi, n);
    return RS + raw;
}

static unsigned char img_buf[8192];

/* Builds the image (PE32+ unless pe32) and reads it. */
static int run_blob(const blob *x, int pe32, char *out, size_t cap)
{
    size_t n = build_pe(img_buf, sizeof img_buf, pe32, 0, x->b, x->len);
    if (!n) return -1;
    return pev(img_buf, n, out, cap);
}

/* One StringFileInfo with one table holding the given strings, no fixed. */
static void blob_with_strings(blob *x, const char *pv, const char *fv, int with_fixed)
{
    size_t root = b_root(x, 0x00010002, 0x00030004, 0x00050006, 0x00070000, with_fixed);
    size_t sfi = b_open(x, "StringFileInfo", 1, NULL, 0, 0);
    size_t tab = b_open(x, "040904b0", 1, NULL, 0, 0);
    b_astring(x, "CompanyName", "Kanade");
    if (fv) b_astring(x, "FileVersion", fv);
    if (pv) b_astring(x, "ProductVersion", pv);
    b_close(x, tab);
    b_close(x, sfi);
    b_close(x, root);
}

static void t_built_pe32_and_pe32plus(void)
{
    blob x;
    char out[64];
    int pe32;
    for (pe32 = 0; pe32 < 2; pe32++) {
        blob_with_strings(&x, "9.8.7", "1.1.1", 1);
        TH_EQ_INT(run_blob(&x, pe32, out, sizeof out), PEV_OK);
        TH_EQ_STR(out, "9.8.7");
        blob_with_strings(&x, NULL, "1.1.1", 1);
        TH_EQ_INT(run_blob(&x, pe32, out, sizeof out), PEV_OK);
        TH_EQ_STR(out, "1.1.1");
        blob_with_strings(&x, NULL, NULL, 1);
        TH_EQ_INT(run_blob(&x, pe32, out, sizeof out), PEV_OK);
        TH_EQ_STR(out, "1.2.3.4");
        blob_with_strings(&x, NULL, NULL, 0);
        TH_EQ_INT(run_blob(&x, pe32, out, sizeof out), PEV_ERR_NO_VERSION);
        TH_EQ_STR(out, "");
    }
    /* a named type entry before the RT_VERSION ID entry is skipped over */
    blob_with_strings(&x, "9.8.7", NULL, 0);
    {
        size_t n = build_pe(img_buf, sizeof img_buf, 0, 1, x.b, x.len);
        TH_EQ_INT(pev(img_buf, n, out, sizeof out), PEV_OK);
        TH_EQ_STR(out, "9.8.7");
    }
}

static void t_built_fixed_variants(void)
{
    blob x;
    char out[64];
    size_t r;
    /* product fixed zero: the file fixed version is next */
    r = b_root(&x, 0, 0, 0x00040005, 0x00060000, 1); b_close(&x, r);
    TH_EQ_INT(run_blob(&x, 0, out, sizeof out), PEV_OK);
    TH_EQ_STR(out, "4.5.6");
    /* all zero: no version */
    r = b_root(&x, 0, 0, 0, 0, 1); b_close(&x, r);
    TH_EQ_INT(run_blob(&x, 0, out, sizeof out), PEV_ERR_NO_VERSION);
    /* largest fields */
    r = b_root(&x, 0xFFFFFFFF, 0xFFFFFFFF, 0, 0, 1); b_close(&x, r);
    TH_EQ_INT(run_blob(&x, 0, out, sizeof out), PEV_OK);
    TH_EQ_STR(out, "65535.65535.65535.65535");
    /* d == 0 drops the fourth field, c == 0 does not */
    r = b_root(&x, 0x00000000, 0x00000000 | 0x00000001, 0, 0, 1); b_close(&x, r);
    TH_EQ_INT(run_blob(&x, 0, out, sizeof out), PEV_OK);
    TH_EQ_STR(out, "0.0.0.1");
    r = b_root(&x, 0x00020000, 0x00000000, 0, 0, 1); b_close(&x, r);
    TH_EQ_INT(run_blob(&x, 0, out, sizeof out), PEV_OK);
    TH_EQ_STR(out, "2.0.0");
    /* out buffer exactly big enough, and one byte short */
    r = b_root(&x, 0x00010002, 0x00030000, 0, 0, 1); b_close(&x, r);
    TH_EQ_INT(run_blob(&x, 0, out, 6), PEV_OK);
    TH_EQ_STR(out, "1.2.3");
    TH_EQ_INT(run_blob(&x, 0, out, 5), PEV_ERR_SPACE);
    TH_EQ_INT(run_blob(&x, 0, out, 1), PEV_ERR_SPACE);
    TH_EQ_INT(run_blob(&x, 0, out, 0), PEV_ERR_SPACE);
}

static void t_built_string_values(void)
{
    blob x;
    char out[64];
    size_t root, sfi, tab;
    static const uint16_t nuls[] = { '1', '.', '2', '.', '3', 0, 0, 0 };
    static const uint16_t lead[] = { 0, ' ', '1', '.', '2', ' ', 0 };
    static const uint16_t interior[] = { '1', '.', '2', 0, 'x', 'y', 0 };
    static const uint16_t astral[] = { '1', '-', 0xD83D, 0xDE00, 0 };
    static const uint16_t bmp[] = { 'v', 0x00E9, 0x4E2D, 0 };
    static const uint16_t lone_hi[] = { '1', 0xD83D, 0 };
    static const uint16_t lone_hi_end[] = { '1', 0xD83D };
    static const uint16_t lone_lo[] = { '1', 0xDE00, '2', 0 };
    static const uint16_t blanks[] = { ' ', 0, ' ', 0 };
    static const uint16_t no_nul[] = { '3', '.', '3' };
    struct { const uint16_t *v; size_t n; int rc; const char *want; } cases[] = {
        { nuls, 8, PEV_OK, "1.2.3" },
        { lead, 7, PEV_OK, "1.2" },
        { interior, 7, PEV_OK, "1.2" },
        { astral, 5, PEV_OK, "1-\xF0\x9F\x98\x80" },
        { bmp, 4, PEV_OK, "v\xC3\xA9\xE4\xB8\xAD" },
        { lone_hi, 3, PEV_ERR_MALFORMED, "" },
        { lone_hi_end, 2, PEV_ERR_MALFORMED, "" },
        { lone_lo, 4, PEV_ERR_MALFORMED, "" },
        { blanks, 4, PEV_OK, "1.2.3.4" },     /* blank: falls to fixed */
        { no_nul, 3, PEV_OK, "3.3" },
    };
    size_t i;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc;
        root = b_root(&x, 0x00010002, 0x00030004, 0, 0, 1);
        sfi = b_open(&x, "StringFileInfo", 1, NULL, 0, 0);
        tab = b_open(&x, "040904b0", 1, NULL, 0, 0);
        b_string(&x, "ProductVersion", cases[i].v, cases[i].n);
        b_close(&x, tab); b_close(&x, sfi); b_close(&x, root);
        rc = run_blob(&x, 0, out, sizeof out);
        if (rc != cases[i].rc || strcmp(out, cases[i].want) != 0)
            fprintf(stderr, "  case %lu: rc %d \"%s\"\n", (unsigned long)i, rc, out);
        TH_EQ_INT(rc, cases[i].rc);
        TH_EQ_STR(out, cases[i].want);
    }
    /* A 3-byte UTF-8 character needs its whole room. */
    root = b_root(&x, 0, 0, 0, 0, 0);
    sfi = b_open(&x, "StringFileInfo", 1, NULL, 0, 0);
    tab = b_open(&x, "040904b0", 1, NULL, 0, 0);
    b_string(&x, "ProductVersion", bmp, 4);
    b_close(&x, tab); b_close(&x, sfi); b_close(&x, root);
    TH_EQ_INT(run_blob(&x, 0, out, 7), PEV_OK);
    TH_EQ_INT(run_blob(&x, 0, out, 6), PEV_ERR_SPACE);
    TH_EQ_INT(run_blob(&x, 0, out, 4), PEV_ERR_SPACE);
}

static void t_built_tree_shapes(void)
{
    blob x;
    char out[64];
    size_t root, sfi, tab, vfi, s;
    /* VarFileInfo first, then StringFileInfo */
    root = b_root(&x, 0, 0, 0, 0, 1);
    vfi = b_open(&x, "VarFileInfo", 1, NULL, 0, 0);
    { unsigned char tr[4] = { 0x09, 0x04, 0xB0, 0x04 };
      s = b_open(&x, "Translation", 0, tr, 4, 4); b_close(&x, s); }
    b_close(&x, vfi);
    sfi = b_open(&x, "StringFileInfo", 1, NULL, 0, 0);
    tab = b_open(&x, "040904b0", 1, NULL, 0, 0);
    b_astring(&x, "ProductVersion", "6.6.6");
    b_close(&x, tab); b_close(&x, sfi); b_close(&x, root);
    TH_EQ_INT(run_blob(&x, 0, out, sizeof out), PEV_OK);
    TH_EQ_STR(out, "6.6.6");

    /* Only the first StringTable counts. */
    root = b_root(&x, 0x00010000, 0, 0, 0, 1);
    sfi = b_open(&x, "StringFileInfo", 1, NULL, 0, 0);
    tab = b_open(&x, "040904b0", 1, NULL, 0, 0);
    b_astring(&x, "CompanyName", "A");
    b_close(&x, tab);
    tab = b_open(&x, "040704b0", 1, NULL, 0, 0);
    b_astring(&x, "ProductVersion", "7.7");
    b_close(&x, tab);
    b_close(&x, sfi); b_close(&x, root);
    TH_EQ_INT(run_blob(&x, 0, out, sizeof out), PEV_OK);
    TH_EQ_STR(out, "1.0.0");

    /* Empty StringFileInfo: fixed info. */
    root = b_root(&x, 0x00030000, 0, 0, 0, 1);
    sfi = b_open(&x, "StringFileInfo", 1, NULL, 0, 0);
    b_close(&x, sfi); b_close(&x, root);
    TH_EQ_INT(run_blob(&x, 0, out, sizeof out), PEV_OK);
    TH_EQ_STR(out, "3.0.0");

    /* wValueLength claiming more than the block: clipped to the block. */
    root = b_root(&x, 0, 0, 0, 0, 0);
    sfi = b_open(&x, "StringFileInfo", 1, NULL, 0, 0);
    tab = b_open(&x, "040904b0", 1, NULL, 0, 0);
    {
        static const unsigned char v44[] = { '4', 0, '.', 0, '4', 0, 0, 0 };
        s = b_open(&x, "ProductVersion", 1, v44, sizeof v44, 500);
        b_close(&x, s);
    }
    b_close(&x, tab); b_close(&x, sfi); b_close(&x, root);
    TH_EQ_INT(run_blob(&x, 0, out, sizeof out), PEV_OK);
    TH_EQ_STR(out, "4.4");

    /* Key of the root only "VS_VERSION_INF": malformed. */
    x.len = 0;
    root = b_open(&x, "VS_VERSION_INF", 0, NULL, 0, 0);
    b_close(&x, root);
    TH_EQ_INT(run_blob(&x, 0, out, sizeof out), PEV_ERR_MALFORMED);

    /* Fixed info cut short by the block's end. */
    root = b_root(&x, 0x00010000, 0, 0, 0, 1);
    x.len -= 8;
    b_close(&x, root);
    TH_EQ_INT(run_blob(&x, 0, out, sizeof out), PEV_ERR_MALFORMED);

    /* A block with no room for its key at all. */
    x.len = 0;
    wr16(x.b, 6); wr16(x.b + 2, 0); wr16(x.b + 4, 0);
    x.len = 6;
    TH_EQ_INT(run_blob(&x, 0, out, sizeof out), PEV_ERR_MALFORMED);
}

/* ---- garbage ------------------------------------------------------------- */

static unsigned long long rng = 0x243F6A8885A308D3ULL;
static unsigned rnd(void)
{
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (unsigned)(rng >> 32);
}

static void t_random_garbage(void)
{
    static unsigned char g[4096];
    char out[64];
    int i, bad = 0;
    for (i = 0; i < 3000; i++) {
        size_t n = rnd() % sizeof g, k;
        int rc;
        for (k = 0; k < n; k++) g[k] = (unsigned char)rnd();
        if (i % 3 >= 1 && n >= 64) { g[0] = 'M'; g[1] = 'Z'; wr32(g + 0x3C, rnd() % 128); }
        if (i % 3 == 2 && n >= 256) {   /* plausible headers, random rest */
            wr32(g + 0x3C, 0x40); memcpy(g + 0x40, "PE\0\0", 4);
            wr16(g + 0x46, 1 + rnd() % 4); wr16(g + 0x54, 240); wr16(g + 0x58, 0x20B);
        }
        rc = pev(g, n, out, sizeof out);
        if (!valid_rc(rc)) bad++;
    }
    TH_EQ_INT(bad, 0);
}

/* Random byte changes in a real image: any answer, but never a crash (ASan
** watches), always a terminated out, and a version only when it is text. */
static void t_random_mutations(void)
{
    size_t len;
    char out[64];
    int i, bad = 0, ok = 0;
    layout l;
    unsigned char *b = fixture("disagree.exe", &len), *m;
    if (!b) { TH_CHECK(0); return; }
    m = (unsigned char *)malloc(len);
    if (!m) { free(b); TH_CHECK(0); return; }
    TH_CHECK(get_layout(b, len, &l));
    for (i = 0; i < 4000; i++) {
        int k, nflip = 1 + (int)(rnd() % 4), rc;
        memcpy(m, b, len);
        for (k = 0; k < nflip; k++) {
            /* aim most changes at the headers and the resource data */
            size_t at = (i & 1) ? l.rsrc + rnd() % (len - l.rsrc) : rnd() % (l.sec + 40 * l.nsec);
            m[at] = (unsigned char)rnd();
        }
        rc = pev(m, len, out, sizeof out);
        if (!valid_rc(rc)) bad++;
        if (rc == PEV_OK) { ok++; if (out[0] == '\0') bad++; }
    }
    TH_EQ_INT(bad, 0);
    TH_CHECK(ok > 0);
    free(m);
    free(b);
}

/* ---- pe_version_file ----------------------------------------------------- */

static void t_file_real_exe(void)
{
    char path[512], out[64], out2[64];
    FILE *f;
    size_t len;
    unsigned char *b;
    snprintf(path, sizeof path, "%s/kanade-agent.exe", build_dir());
    f = fopen(path, "rb");
    if (!f) { printf("SKIP t_file_real_exe: %s not built\n", path); return; }
    TH_EQ_INT(pe_version_file(f, out, sizeof out), PEV_OK);
    TH_CHECK(out[0] >= '0' && out[0] <= '9');
    /* the file is read from its start, wherever the stream stood */
    fseek(f, 0, SEEK_END);
    TH_EQ_INT(pe_version_file(f, out2, sizeof out2), PEV_OK);
    TH_EQ_STR(out2, out);
    fclose(f);
    b = load(path, &len);
    TH_CHECK(b != NULL);
    if (b) {
        TH_EQ_INT(pev(b, len, out2, sizeof out2), PEV_OK);
        TH_EQ_STR(out2, out);
        free(b);
    }
    printf("  %s: version %s\n", path, out);
}

static void t_file_fixture_and_errors(void)
{
    char path[512], out[64];
    FILE *f;
    snprintf(path, sizeof path, "%s/fixtures/disagree.exe", build_dir());
    f = fopen(path, "rb");
    TH_CHECK(f != NULL);
    if (f) {
        TH_EQ_INT(pe_version_file(f, out, sizeof out), PEV_OK);
        TH_EQ_STR(out, "2.0.0-beta");
        TH_EQ_INT(pe_version_file(f, out, 4), PEV_ERR_SPACE);
        fclose(f);
    }
    snprintf(path, sizeof path, "%s/fixtures/no_rsrc.exe", build_dir());
    f = fopen(path, "rb");
    TH_CHECK(f != NULL);
    if (f) {
        TH_EQ_INT(pe_version_file(f, out, sizeof out), PEV_ERR_NO_VERSION);
        fclose(f);
    }
    /* a text file, an empty file */
#ifdef _WIN32
    snprintf(path, sizeof path, "%s/t_pe_version-win.tmp", build_dir());
#else
    snprintf(path, sizeof path, "%s/t_pe_version-native.tmp", build_dir());
#endif
    f = fopen(path, "wb");
    TH_CHECK(f != NULL);
    if (!f) return;
    fputs("MZ but then just text, far too short for a PE header", f);
    fclose(f);
    f = fopen(path, "rb");
    if (f) { TH_EQ_INT(pe_version_file(f, out, sizeof out), PEV_ERR_TRUNCATED); fclose(f); }
    f = fopen(path, "wb");
    if (f) fclose(f);
    f = fopen(path, "rb");
    if (f) { TH_EQ_INT(pe_version_file(f, out, sizeof out), PEV_ERR_NOT_PE); fclose(f); }
#ifndef _WIN32
    /* A read error. (msvcrt's fread on a write-only stream, after the seek
    ** to the start, returns 0 without setting the error flag, so this case
    ** runs natively only.) */
    f = fopen(path, "wb");
    if (f) {
        fputs("MZ", f);
        TH_EQ_INT(pe_version_file(f, out, sizeof out), PEV_ERR_IO);
        fclose(f);
    }
#endif
    /* over 64 MiB: refused, not parsed from a prefix (a sparse file) */
    f = fopen(path, "wb");
    if (f) {
        TH_EQ_INT(fseek(f, 64L * 1024 * 1024, SEEK_SET), 0);
        fputc('x', f);
        fclose(f);
        f = fopen(path, "rb");
        TH_CHECK(f != NULL);
        if (f) { TH_EQ_INT(pe_version_file(f, out, sizeof out), PEV_ERR_IO); fclose(f); }
    }
    remove(path);
}

static void t_strerror(void)
{
    int rc;
    for (rc = 0; rc <= 7; rc++) {
        TH_CHECK(pe_version_strerror(rc) != NULL);
        TH_CHECK(strcmp(pe_version_strerror(rc), "unknown pe_version error") != 0);
    }
    TH_EQ_STR(pe_version_strerror(99), "unknown pe_version error");
    TH_CHECK(strcmp(pe_version_strerror(PEV_ERR_TRUNCATED), pe_version_strerror(PEV_ERR_MALFORMED)) != 0);
}

static int main_(void)
{
    TH_RUN(t_fixture_layouts);
    TH_RUN(t_fixture_layouts_are_real);
    TH_RUN(t_fixture_pe32);
    TH_RUN(t_truncated_at_every_byte);
    TH_RUN(t_truncated_at_header_boundaries);
    TH_RUN(t_bogus_offsets);
    TH_RUN(t_fall_through);
    TH_RUN(t_built_pe32_and_pe32plus);
    TH_RUN(t_built_fixed_variants);
    TH_RUN(t_built_string_values);
    TH_RUN(t_built_tree_shapes);
    TH_RUN(t_random_garbage);
    TH_RUN(t_random_mutations);
    TH_RUN(t_file_real_exe);
    TH_RUN(t_file_fixture_and_errors);
    TH_RUN(t_strerror);
    return th_summary("t_pe_version");
}

TH_MAIN
