/*
** pe_version.h — reads the version string from a PE image's VERSIONINFO
** resource. Every read is bounds-checked. Pure: no windows.h.
**
** Order: StringFileInfo "ProductVersion", then "FileVersion", then
** VS_FIXEDFILEINFO as "a.b.c" (or "a.b.c.d" when d != 0). Surrounding
** spaces and NULs are trimmed.
*/
#ifndef PE_VERSION_H
#define PE_VERSION_H
#include <stddef.h>
#include <stdio.h>

#define PEV_OK             0
#define PEV_ERR_NOT_PE     1   /* no MZ/PE signature */
#define PEV_ERR_TRUNCATED  2   /* a header or table runs past the end */
#define PEV_ERR_NO_VERSION 3   /* no RT_VERSION resource, or it carries no version */
#define PEV_ERR_MALFORMED  4   /* bad resource tree: loops, offsets out of range */
#define PEV_ERR_SPACE      5   /* out buffer too small */
#define PEV_ERR_IO         6   /* file read failed, or file over 64 MiB */
#define PEV_ERR_NOMEM      7   /* no memory for the file buffer */

/* The largest image read (and so the largest agent exe a release may be). */
#define PEV_MAX_FILE (64u * 1024u * 1024u)

int pe_version_buf(const unsigned char *img, size_t len, char *out, size_t cap);
/* Reads all of f from its start (at most 64 MiB, else PEV_ERR_IO) into a
** temporary buffer and calls pe_version_buf. f stays open, owned by the caller. */
int pe_version_file(FILE *f, char *out, size_t cap);
const char *pe_version_strerror(int rc);
#endif
