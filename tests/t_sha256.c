/* t_sha256.c — SHA-256 (FIPS 180-4 vectors, streaming), the NATS digest
** string, base64 in both alphabets, and sha256_file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "th.h"
#include "sha256.h"

static void hex_of(const void *data, size_t len, char out[65])
{
    unsigned char d[SHA256_LEN];
    sha256_buf(data, len, d);
    sha256_hex(d, out);
}

static void t_fips_vectors(void)
{
    static const char m448[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    char hx[65];
    hex_of("abc", 3, hx);
    TH_EQ_STR(hx, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    hex_of(m448, strlen(m448), hx);
    TH_EQ_INT(strlen(m448) * 8, 448);
    TH_EQ_STR(hx, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    hex_of("", 0, hx);
    TH_EQ_STR(hx, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    hex_of(NULL, 0, hx);    /* len 0 never touches the pointer */
    TH_EQ_STR(hx, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

/* One million 'a', fed in pieces of 1, 2, 3, 5, 7, ... 127 bytes (odd sizes
** that straddle the 64-byte block boundary in every possible way). */
static void t_million_a_streamed(void)
{
    static const size_t sizes[] = { 1, 2, 3, 5, 7, 11, 13, 63, 64, 65, 127, 0 };
    char chunk[128], hx[65];
    unsigned char d[SHA256_LEN];
    sha256_ctx c;
    size_t left = 1000000, k = 0, pieces = 0;
    memset(chunk, 'a', sizeof chunk);
    sha256_init(&c);
    while (left) {
        size_t n = sizes[k];
        if (n == 0) { k = 0; n = sizes[0]; }
        if (n > left) n = left;
        sha256_update(&c, chunk, n);
        left -= n;
        k++;
        pieces++;
    }
    sha256_final(&c, d);
    sha256_hex(d, hx);
    TH_EQ_STR(hx, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    TH_CHECK(pieces > 20000);
}

/* final() leaves the context usable: a partial digest, then more data. */
static void t_final_is_not_destructive(void)
{
    sha256_ctx c;
    unsigned char d1[SHA256_LEN], d2[SHA256_LEN], e[SHA256_LEN];
    sha256_init(&c);
    sha256_update(&c, "ab", 2);
    sha256_final(&c, d1);
    sha256_update(&c, "c", 1);
    sha256_final(&c, d2);
    sha256_buf("ab", 2, e);
    TH_CHECK(memcmp(d1, e, SHA256_LEN) == 0);
    sha256_buf("abc", 3, e);
    TH_CHECK(memcmp(d2, e, SHA256_LEN) == 0);
    /* zero-length updates change nothing */
    sha256_init(&c);
    sha256_update(&c, NULL, 0);
    sha256_update(&c, "abc", 3);
    sha256_update(&c, "", 0);
    sha256_final(&c, d1);
    TH_CHECK(memcmp(d1, e, SHA256_LEN) == 0);
}

static void t_empty_object_digest(void)
{
    unsigned char d[SHA256_LEN], back[SHA256_LEN];
    char s[SHA256_DIGEST_STR_LEN];
    sha256_buf("", 0, d);
    TH_EQ_INT(sha256_digest_encode(d, s, sizeof s), SHA256_OK);
    TH_EQ_STR(s, "SHA-256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU=");
    TH_EQ_INT(strlen(s), 52);
    TH_EQ_INT(sha256_digest_decode(s, back), SHA256_OK);
    TH_CHECK(memcmp(d, back, SHA256_LEN) == 0);
}

static void t_encode_space(void)
{
    unsigned char d[SHA256_LEN];
    char s[64];
    size_t cap;
    sha256_buf("abc", 3, d);
    for (cap = 0; cap < 53; cap++) {
        memset(s, 'x', sizeof s);
        TH_EQ_INT(sha256_digest_encode(d, s, cap), SHA256_ERR_SPACE);
        if (cap) TH_EQ_INT(s[0], '\0');
        if (cap) TH_EQ_INT(s[cap], 'x');          /* nothing past cap */
    }
    TH_EQ_INT(sha256_digest_encode(d, s, 53), SHA256_OK);
    TH_EQ_INT(strlen(s), 52);
    TH_CHECK(SHA256_DIGEST_STR_LEN >= 53);
}

/* Deterministic bytes for round trips (xorshift). */
static unsigned long long rng_state = 0x9E3779B97F4A7C15ULL;
static unsigned rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (unsigned)(rng_state >> 32);
}

/* The standard-alphabet, unpadded and lowercase-prefix spellings of one
** digest all decode to the same bytes (compare bytes, never strings). */
static void t_digest_forms_round_trip(void)
{
    int round;
    for (round = 0; round < 200; round++) {
        unsigned char d[SHA256_LEN], a[SHA256_LEN], b[SHA256_LEN], c[SHA256_LEN], e[SHA256_LEN];
        char s[SHA256_DIGEST_STR_LEN], std[80], nopad[80], lower[80];
        size_t i;
        for (i = 0; i < SHA256_LEN; i++) d[i] = (unsigned char)rnd();
        if (round == 0) memset(d, 0xFF, sizeof d);     /* all '_' / '/' */
        if (round == 1) memset(d, 0xFB, sizeof d);     /* '-' / '+' */
        TH_EQ_INT(sha256_digest_encode(d, s, sizeof s), SHA256_OK);
        TH_EQ_INT(strncmp(s, "SHA-256=", 8), 0);
        TH_EQ_INT(s[51], '=');
        TH_CHECK(strchr(s + 8, '+') == NULL && strchr(s + 8, '/') == NULL);
        /* standard alphabet */
        snprintf(std, sizeof std, "SHA-256=");
        TH_EQ_INT(b64_encode(d, SHA256_LEN, 0, 1, std + 8, sizeof std - 8), SHA256_OK);
        /* unpadded url */
        snprintf(nopad, sizeof nopad, "%.51s", s);
        /* lowercase prefix */
        snprintf(lower, sizeof lower, "sha-256=%s", s + 8);
        TH_EQ_INT(sha256_digest_decode(s, a), SHA256_OK);
        TH_EQ_INT(sha256_digest_decode(std, b), SHA256_OK);
        TH_EQ_INT(sha256_digest_decode(nopad, c), SHA256_OK);
        TH_EQ_INT(sha256_digest_decode(lower, e), SHA256_OK);
        TH_CHECK(memcmp(a, d, SHA256_LEN) == 0);
        TH_CHECK(memcmp(b, d, SHA256_LEN) == 0);
        TH_CHECK(memcmp(c, d, SHA256_LEN) == 0);
        TH_CHECK(memcmp(e, d, SHA256_LEN) == 0);
        if (round == 0) {
            TH_CHECK(strchr(std + 8, '/') != NULL);
            TH_CHECK(strchr(s + 8, '_') != NULL);
        }
    }
}

static void t_digest_rejects(void)
{
    static const char *bad[] = {
        "",
        "SHA-256=",
        "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU=",             /* no prefix */
        "SHA256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU=",
        "SHA-256:47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU=",
        "Sha-256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU=",
        "SHA-512=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU=",
        " SHA-256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU=",
        "SHA-256= 47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU=",
        "SHA-256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU=\n",   /* trailing newline */
        "SHA-256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU= ",
        "SHA-256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSu.U=",     /* bad char */
        "SHA-256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSu!U=",
        "SHA-256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMp JWZG3hSuFU",
        "SHA-256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU==",    /* too much padding */
        "SHA-256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuF=",      /* 31 bytes worth */
        "SHA-256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFUA",     /* 33 bytes, unpadded */
        "SHA-256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFUAAA=",
        "SHA-256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFV=",     /* stray low bits */
        "SHA-256=47DEQpj8HBSa=_TImW-5JCeuQeRkm5NMpJWZG3hSuFU=",     /* embedded '=' */
        "SHA-256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU=A",
        "SHA-256=47DEQpj8HBSa-/TImW-5JCeuQeRkm5NMpJWZG3hSuFU=",     /* mixed alphabets */
        "SHA-256=47DEQpj8HBSa+_TImW-5JCeuQeRkm5NMpJWZG3hSuFU=",
        "SHA-256=====================================================",
        NULL
    };
    unsigned char d[SHA256_LEN], keep[SHA256_LEN];
    int i;
    memset(keep, 0xA5, sizeof keep);
    for (i = 0; bad[i]; i++) {
        memcpy(d, keep, sizeof d);
        if (sha256_digest_decode(bad[i], d) != SHA256_ERR_FORMAT)
            fprintf(stderr, "  accepted: \"%s\"\n", bad[i]);
        TH_EQ_INT(sha256_digest_decode(bad[i], d), SHA256_ERR_FORMAT);
        TH_CHECK(memcmp(d, keep, sizeof d) == 0);          /* untouched on error */
    }
    TH_EQ_INT(sha256_digest_decode(NULL, d), SHA256_ERR_FORMAT);

    /* 31 and 33 real bytes, properly encoded: valid base64, wrong length. */
    {
        unsigned char raw[33];
        char s[80];
        memset(raw, 0x42, sizeof raw);
        memcpy(s, "SHA-256=", 8);
        TH_EQ_INT(b64_encode(raw, 31, 1, 1, s + 8, sizeof s - 8), SHA256_OK);
        TH_EQ_INT(sha256_digest_decode(s, d), SHA256_ERR_FORMAT);
        TH_EQ_INT(b64_encode(raw, 33, 1, 1, s + 8, sizeof s - 8), SHA256_OK);
        TH_EQ_INT(sha256_digest_decode(s, d), SHA256_ERR_FORMAT);
        TH_EQ_INT(b64_encode(raw, 32, 1, 0, s + 8, sizeof s - 8), SHA256_OK);
        TH_EQ_INT(sha256_digest_decode(s, d), SHA256_OK);
    }
}

static void t_b64_rfc4648(void)
{
    static const char *in[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
    static const char *pad[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" };
    static const char *nopad[] = { "", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy" };
    int i;
    for (i = 0; i < 7; i++) {
        char o[16];
        unsigned char back[16];
        size_t n = 99;
        TH_EQ_INT(b64_encode(in[i], strlen(in[i]), 0, 1, o, sizeof o), SHA256_OK);
        TH_EQ_STR(o, pad[i]);
        TH_EQ_INT(b64_encode(in[i], strlen(in[i]), 1, 0, o, sizeof o), SHA256_OK);
        TH_EQ_STR(o, nopad[i]);
        TH_EQ_INT(b64_decode(pad[i], strlen(pad[i]), back, sizeof back, &n), SHA256_OK);
        TH_EQ_INT(n, strlen(in[i]));
        TH_CHECK(memcmp(back, in[i], n) == 0);
        TH_EQ_INT(b64_decode(nopad[i], strlen(nopad[i]), back, sizeof back, &n), SHA256_OK);
        TH_EQ_INT(n, strlen(in[i]));
        TH_CHECK(memcmp(back, in[i], n) == 0);
    }
}

static void t_b64_alphabets(void)
{
    static const unsigned char b[] = { 0xFB, 0xFF, 0xBF };
    char o[16];
    unsigned char back[8];
    size_t n;
    TH_EQ_INT(b64_encode(b, 3, 0, 1, o, sizeof o), SHA256_OK);
    TH_EQ_STR(o, "+/+/");
    TH_EQ_INT(b64_encode(b, 3, 1, 1, o, sizeof o), SHA256_OK);
    TH_EQ_STR(o, "-_-_");
    TH_EQ_INT(b64_encode(b, 2, 1, 1, o, sizeof o), SHA256_OK);
    TH_EQ_STR(o, "-_8=");
    TH_EQ_INT(b64_decode("+/+/", 4, back, sizeof back, &n), SHA256_OK);
    TH_CHECK(n == 3 && memcmp(back, b, 3) == 0);
    TH_EQ_INT(b64_decode("-_-_", 4, back, sizeof back, &n), SHA256_OK);
    TH_CHECK(n == 3 && memcmp(back, b, 3) == 0);
    TH_EQ_INT(b64_decode("+_+_", 4, back, sizeof back, &n), SHA256_ERR_FORMAT);
    TH_EQ_INT(b64_decode("-/AA", 4, back, sizeof back, &n), SHA256_ERR_FORMAT);
    /* NATS object names: "agent 0.1.0" has a space; the URL alphabet keeps
    ** '/' out of subjects. */
    TH_EQ_INT(b64_encode("0.42.2", 6, 1, 1, o, sizeof o), SHA256_OK);
    TH_EQ_STR(o, "MC40Mi4y");
    TH_EQ_INT(b64_encode("ab?", 3, 1, 1, o, sizeof o), SHA256_OK);
    TH_EQ_STR(o, "YWI_");
}

static void t_b64_rejects(void)
{
    static const char *bad[] = {
        "Z", "Zg=", "Zg===", "Z===", "=", "==", "===", "====", "Zm9v=", "Zm9v====",
        "Zh==", "Zm9=", "Zm 9v", " Zm9v", "Zm9v ", "Zm9v\n", "Zm=9", "Z=g=", "Zm9v!",
        "Zm\x80v", "Zm.v", NULL
    };
    unsigned char out[16];
    size_t n = 77;
    int i;
    for (i = 0; bad[i]; i++) {
        int rc = b64_decode(bad[i], strlen(bad[i]), out, sizeof out, &n);
        if (rc != SHA256_ERR_FORMAT) fprintf(stderr, "  accepted: \"%s\"\n", bad[i]);
        TH_EQ_INT(rc, SHA256_ERR_FORMAT);
    }
    TH_EQ_INT(n, 77);                       /* not written on error */
    /* An embedded NUL is a bad character, not an end. */
    TH_EQ_INT(b64_decode("Zm\0v", 4, out, sizeof out, &n), SHA256_ERR_FORMAT);
    /* Empty input is zero bytes. */
    TH_EQ_INT(b64_decode("", 0, out, sizeof out, &n), SHA256_OK);
    TH_EQ_INT(n, 0);
    TH_EQ_INT(b64_decode("", 0, NULL, 0, NULL), SHA256_OK);
}

static void t_b64_space(void)
{
    unsigned char out[8];
    char o[9];
    size_t n;
    TH_EQ_INT(b64_decode("Zm9vYmFy", 8, out, 5, &n), SHA256_ERR_SPACE);
    TH_EQ_INT(b64_decode("Zm9vYmFy", 8, out, 6, &n), SHA256_OK);
    TH_EQ_INT(n, 6);
    TH_EQ_INT(b64_decode("Zm9vYg==", 8, out, 3, &n), SHA256_ERR_SPACE);
    TH_EQ_INT(b64_decode("Zm9vYg==", 8, out, 4, &n), SHA256_OK);
    TH_EQ_INT(b64_decode("Zm9vYg", 6, out, 4, &n), SHA256_OK);
    TH_EQ_INT(n, 4);
    /* encode needs the text plus a NUL, exactly */
    TH_EQ_INT(b64_encode("foobar", 6, 0, 1, o, 8), SHA256_ERR_SPACE);
    TH_EQ_STR(o, "");
    TH_EQ_INT(b64_encode("foobar", 6, 0, 1, o, 9), SHA256_OK);
    TH_EQ_INT(b64_encode("fooba", 5, 0, 1, o, 8), SHA256_ERR_SPACE);
    TH_EQ_INT(b64_encode("fooba", 5, 0, 1, o, 9), SHA256_OK);
    TH_EQ_INT(b64_encode("fooba", 5, 0, 0, o, 7), SHA256_ERR_SPACE);
    TH_EQ_INT(b64_encode("fooba", 5, 0, 0, o, 8), SHA256_OK);
    TH_EQ_STR(o, "Zm9vYmE");
    TH_EQ_INT(b64_encode("", 0, 0, 1, o, 1), SHA256_OK);
    TH_EQ_STR(o, "");
    TH_EQ_INT(b64_encode("", 0, 0, 1, NULL, 0), SHA256_ERR_SPACE);
}

/* Every length 0..64, every alphabet and padding choice, random bytes. */
static void t_b64_round_trips(void)
{
    size_t len;
    int bad = 0;
    for (len = 0; len <= 64; len++) {
        int url, pad;
        for (url = 0; url < 2; url++)
            for (pad = 0; pad < 2; pad++) {
                unsigned char in[64], back[64];
                char enc[100];
                size_t i, n = 0, want = len / 3 * 4 + (len % 3 ? (pad ? 4 : len % 3 + 1) : 0);
                for (i = 0; i < len; i++) in[i] = (unsigned char)rnd();
                if (b64_encode(in, len, url, pad, enc, sizeof enc) != SHA256_OK) bad++;
                if (strlen(enc) != want) bad++;
                if (b64_decode(enc, strlen(enc), back, sizeof back, &n) != SHA256_OK) bad++;
                if (n != len || memcmp(in, back, len) != 0) bad++;
                /* exact-size output buffer is enough */
                if (b64_decode(enc, strlen(enc), back, len, &n) != SHA256_OK) bad++;
            }
    }
    TH_EQ_INT(bad, 0);
}

/* A file in the build folder: the tests may run from the repo root natively
** and under Wine at once, so the two get different names. */
static void tmp_path(char *out, size_t cap, const char *tag)
{
    const char *b = getenv("BUILD");
#ifdef _WIN32
    const char *os = "win";
#else
    const char *os = "native";
#endif
    snprintf(out, cap, "%s/t_sha256-%s-%s.tmp", b && *b ? b : "build", os, tag);
}

static void t_sha256_file(void)
{
    char path[512];
    unsigned char *data, d[SHA256_LEN], e[SHA256_LEN];
    unsigned long long size = 0;
    size_t n = 300007, i;
    FILE *f;

    tmp_path(path, sizeof path, "data");
    data = (unsigned char *)malloc(n);
    TH_CHECK(data != NULL);
    if (!data) return;
    for (i = 0; i < n; i++) data[i] = (unsigned char)(i * 31 + (i >> 8));
    f = fopen(path, "wb");
    TH_CHECK(f != NULL);
    if (!f) { fprintf(stderr, "  cannot create %s\n", path); free(data); return; }
    TH_EQ_INT(fwrite(data, 1, n, f), n);
    fclose(f);

    f = fopen(path, "rb");
    TH_CHECK(f != NULL);
    if (f) {
        TH_EQ_INT(sha256_file(f, d, &size), SHA256_OK);
        TH_EQ_INT(size, n);
        sha256_buf(data, n, e);
        TH_CHECK(memcmp(d, e, SHA256_LEN) == 0);
        /* from the current position to EOF */
        TH_EQ_INT(fseek(f, 1000, SEEK_SET), 0);
        TH_EQ_INT(sha256_file(f, d, NULL), SHA256_OK);
        sha256_buf(data + 1000, n - 1000, e);
        TH_CHECK(memcmp(d, e, SHA256_LEN) == 0);
        /* at EOF: the empty digest */
        TH_EQ_INT(sha256_file(f, d, &size), SHA256_OK);
        TH_EQ_INT(size, 0);
        sha256_buf("", 0, e);
        TH_CHECK(memcmp(d, e, SHA256_LEN) == 0);
        fclose(f);
    }

    /* An empty file. */
    f = fopen(path, "wb");
    if (f) fclose(f);
    f = fopen(path, "rb");
    TH_CHECK(f != NULL);
    if (f) {
        char s[SHA256_DIGEST_STR_LEN];
        TH_EQ_INT(sha256_file(f, d, &size), SHA256_OK);
        TH_EQ_INT(size, 0);
        TH_EQ_INT(sha256_digest_encode(d, s, sizeof s), SHA256_OK);
        TH_EQ_STR(s, "SHA-256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU=");
        fclose(f);
    }

    /* A read error: the stream is open for writing only. */
    f = fopen(path, "wb");
    TH_CHECK(f != NULL);
    if (f) {
        TH_EQ_INT(fputs("x", f) >= 0, 1);
        TH_EQ_INT(sha256_file(f, d, &size), SHA256_ERR_IO);
        fclose(f);
    }
    remove(path);
    free(data);
}

static int main_(void)
{
    TH_RUN(t_fips_vectors);
    TH_RUN(t_million_a_streamed);
    TH_RUN(t_final_is_not_destructive);
    TH_RUN(t_empty_object_digest);
    TH_RUN(t_encode_space);
    TH_RUN(t_digest_forms_round_trip);
    TH_RUN(t_digest_rejects);
    TH_RUN(t_b64_rfc4648);
    TH_RUN(t_b64_alphabets);
    TH_RUN(t_b64_rejects);
    TH_RUN(t_b64_space);
    TH_RUN(t_b64_round_trips);
    TH_RUN(t_sha256_file);
    return th_summary("t_sha256");
}

TH_MAIN
