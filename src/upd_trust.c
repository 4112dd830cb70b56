/*
** upd_trust.c — the release signature check of the self-update (update.c
** calls it before a download and again over the info obj_get verified the
** bytes against, so a meta rewritten between the two cannot slip through).
*/
#include "upd_int.h"
#include "objstore.h"
#include "trust.h"

/* see upd_int.h */
int upd_release_trusted(const struct obj_info *info, const char *target, char *why, size_t cap)
{
    if (U.nkeys == 0) return 0;
    return trust_release(U.keys, U.nkeys, target, info->size, info->digest, obj_header(info, TRUST_HDR_SIG),
                         obj_header(info, TRUST_HDR_KEYID), why, cap) == TRUST_OK ? 0 : 1;
}
