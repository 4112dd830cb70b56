/*
** fsec.h — who owns and who may write the agent's folders and files.
**
** The service runs as SYSTEM and trusts what is under %ProgramData%\Kanade
** (its config, its update state, the helper copy it starts as SYSTEM). A
** folder or file there that another account owns, or may write, lets that
** account run code as SYSTEM. These calls tell the trusted owners
** (SYSTEM, Administrators, TrustedInstaller, and the account running this
** process, which is SYSTEM for the service and an administrator for
** install) from everyone else, and set owner and DACL together.
*/
#ifndef FSEC_H
#define FSEC_H
#include <stddef.h>

/* Folders: SYSTEM and Administrators full control, inherited, protected
** from what the parent would pass down, owner Administrators. */
#define FSEC_SDDL_PRIVATE L"O:BAD:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)"
/* The same, plus read for Users (the root and logs: operators read logs). */
#define FSEC_SDDL_READABLE L"O:BAD:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;FRFX;;;BU)"
/* Files: the private entries without inheritance flags. */
#define FSEC_SDDL_FILE L"O:BAD:P(A;;FA;;;SY)(A;;FA;;;BA)"

/*
** 0 when path's owner is trusted, or path does not exist; 1 when another
** account owns it (its name, or SID string, in who); -1 when the owner
** cannot be read (error recorded).
*/
int fsec_owner_untrusted(const char *path, char *who, size_t cap);

/*
** 1 when an account other than the trusted ones may write, delete or
** re-permission path (or its owner is untrusted, or it has no DACL at
** all); the first such account in who. 0 otherwise, -1 on error.
*/
int fsec_writable_by_others(const char *path, char *who, size_t cap);

/* Sets path's owner and protected DACL from sddl. 0, or 1 (recorded). */
int fsec_apply(const char *path, const wchar_t *sddl);

/* Creates the folder path (its parent must exist) with sddl's owner and
** DACL from the start, never an inherited ACL; an existing folder is left
** as it is. 0, or 1 (recorded). */
int fsec_mkdir(const char *path, const wchar_t *sddl);
#endif
