/*
** fsec.c — folder and file ownership and DACL checks (see fsec.h).
*/
#include <windows.h>
#include <aclapi.h>
#include <sddl.h>
#include <stdio.h>
#include "fsec.h"
#include "win.h"

/* TrustedInstaller's service SID (owns system files on Windows). */
static const wchar_t TI_SID[] =
    L"S-1-5-80-956008885-3425965500-3651549556-3357045380-2538917862";

/* 1 when sid is the current process's own user. */
static int is_self(PSID sid)
{
    HANDLE tok;
    BYTE buf[256];
    DWORD n = 0;
    int yes = 0;
    if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &tok)) return 0;
    if (GetTokenInformation(tok, TokenUser, buf, sizeof buf, &n))
        yes = EqualSid(sid, ((TOKEN_USER *)buf)->User.Sid) != 0;
    CloseHandle(tok);
    return yes;
}

/* 1 for SYSTEM, Administrators, TrustedInstaller and this process's user. */
static int trusted_sid(PSID sid)
{
    PSID ti = NULL;
    int yes;
    if (IsWellKnownSid(sid, WinLocalSystemSid) || IsWellKnownSid(sid, WinBuiltinAdministratorsSid))
        return 1;
    if (ConvertStringSidToSidW(TI_SID, &ti)) {
        yes = EqualSid(sid, ti) != 0;
        LocalFree(ti);
        if (yes) return 1;
    }
    return is_self(sid);
}

/* "DOMAIN\name (SID)" or the SID string alone into out. */
static void describe(PSID sid, char *out, size_t cap)
{
    wchar_t name[128], dom[128], *str = NULL;
    DWORD nn = 128, dn = 128;
    SID_NAME_USE use;
    char un[512] = "", ud[512] = "", us[200] = "?";
    if (ConvertSidToStringSidW(sid, &str)) { win_to_utf8(str, us, sizeof us); LocalFree(str); }
    if (LookupAccountSidW(NULL, sid, name, &nn, dom, &dn, &use)
        && win_to_utf8(name, un, sizeof un) == 0 && win_to_utf8(dom, ud, sizeof ud) == 0)
        snprintf(out, cap, "%s%s%s (%s)", ud, ud[0] ? "\\" : "", un, us);
    else
        snprintf(out, cap, "%s", us);
}

/* Owner and DACL of path into *sd (LocalFree it). 0, 2 = not there, 1 = error. */
static int read_sd(const char *path, PSID *owner, PACL *dacl, PSECURITY_DESCRIPTOR *sd)
{
    wchar_t wp[WIN_PATH_MAX];
    DWORD rc;
    if (win_to_wide(path, wp, WIN_PATH_MAX) != 0) { win_err_set("path too long: %s", path); return 1; }
    if (GetFileAttributesW(wp) == INVALID_FILE_ATTRIBUTES) return 2;
    rc = GetNamedSecurityInfoW(wp, SE_FILE_OBJECT, OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION,
                               owner, NULL, dacl, NULL, sd);
    if (rc != ERROR_SUCCESS) { SetLastError(rc); win_err("GetNamedSecurityInfoW", path); return 1; }
    return 0;
}

int fsec_owner_untrusted(const char *path, char *who, size_t cap)
{
    PSID owner = NULL;
    PACL dacl = NULL;
    PSECURITY_DESCRIPTOR sd = NULL;
    int rc = read_sd(path, &owner, &dacl, &sd), bad = 0;
    if (rc == 2) return 0;
    if (rc) return -1;
    if (!owner || !trusted_sid(owner)) {
        bad = 1;
        if (owner) describe(owner, who, cap); else snprintf(who, cap, "nobody");
    }
    LocalFree(sd);
    return bad;
}

/* Rights that let an account change what the service reads or runs. */
#define WRITE_RIGHTS (FILE_WRITE_DATA | FILE_APPEND_DATA | FILE_WRITE_EA | FILE_WRITE_ATTRIBUTES \
                      | FILE_DELETE_CHILD | DELETE | WRITE_DAC | WRITE_OWNER | GENERIC_WRITE | GENERIC_ALL)

int fsec_writable_by_others(const char *path, char *who, size_t cap)
{
    PSID owner = NULL;
    PACL dacl = NULL;
    PSECURITY_DESCRIPTOR sd = NULL;
    int rc = read_sd(path, &owner, &dacl, &sd), bad = 0;
    DWORD i;
    if (rc == 2) return 0;
    if (rc) return -1;
    if (owner && !trusted_sid(owner)) {
        describe(owner, who, cap);          /* an owner may always rewrite the DACL */
        bad = 1;
    } else if (!dacl) {
        snprintf(who, cap, "Everyone (no DACL)");
        bad = 1;
    }
    for (i = 0; !bad && dacl && i < dacl->AceCount; i++) {
        ACE_HEADER *h;
        ACCESS_ALLOWED_ACE *a;
        if (!GetAce(dacl, i, (void **)&h) || h->AceType != ACCESS_ALLOWED_ACE_TYPE) continue;
        if (h->AceFlags & INHERIT_ONLY_ACE) continue;
        a = (ACCESS_ALLOWED_ACE *)h;
        if ((a->Mask & WRITE_RIGHTS) && !trusted_sid((PSID)&a->SidStart)) {
            describe((PSID)&a->SidStart, who, cap);
            bad = 1;
        }
    }
    LocalFree(sd);
    return bad;
}

int fsec_apply(const char *path, const wchar_t *sddl)
{
    wchar_t wp[WIN_PATH_MAX];
    PSECURITY_DESCRIPTOR sd = NULL;
    PACL dacl = NULL;
    PSID owner = NULL;
    BOOL present = FALSE, defaulted = FALSE;
    DWORD rc;
    if (win_to_wide(path, wp, WIN_PATH_MAX) != 0) { win_err_set("path too long: %s", path); return 1; }
    if (!ConvertStringSecurityDescriptorToSecurityDescriptorW(sddl, SDDL_REVISION_1, &sd, NULL)) {
        win_err("ConvertStringSecurityDescriptorToSecurityDescriptorW", path);
        return 1;
    }
    if (!GetSecurityDescriptorDacl(sd, &present, &dacl, &defaulted) || !present
        || !GetSecurityDescriptorOwner(sd, &owner, &defaulted)) {
        win_err("GetSecurityDescriptorDacl", path);
        LocalFree(sd);
        return 1;
    }
    rc = SetNamedSecurityInfoW(wp, SE_FILE_OBJECT,
                               OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION
                               | PROTECTED_DACL_SECURITY_INFORMATION, owner, NULL, dacl, NULL);
    LocalFree(sd);
    if (rc != ERROR_SUCCESS) { SetLastError(rc); win_err("SetNamedSecurityInfoW", path); return 1; }
    return 0;
}

int fsec_mkdir(const char *path, const wchar_t *sddl)
{
    wchar_t wp[WIN_PATH_MAX];
    SECURITY_ATTRIBUTES sa;
    PSECURITY_DESCRIPTOR sd = NULL;
    int rc = 0;
    if (win_to_wide(path, wp, WIN_PATH_MAX) != 0) { win_err_set("path too long: %s", path); return 1; }
    if (!ConvertStringSecurityDescriptorToSecurityDescriptorW(sddl, SDDL_REVISION_1, &sd, NULL)) {
        win_err("ConvertStringSecurityDescriptorToSecurityDescriptorW", path);
        return 1;
    }
    sa.nLength = sizeof sa;
    sa.lpSecurityDescriptor = sd;
    sa.bInheritHandle = FALSE;
    if (!CreateDirectoryW(wp, &sa) && GetLastError() != ERROR_ALREADY_EXISTS) {
        win_err("CreateDirectoryW", path);
        rc = 1;
    }
    LocalFree(sd);
    return rc;
}
