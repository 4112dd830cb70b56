/* sha256.c: not written yet. */
typedef int sha256_placeholder;
