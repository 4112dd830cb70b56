/* pe_version.c: not written yet. */
typedef int pe_version_placeholder;
