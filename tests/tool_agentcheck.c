/*
** tool_agentcheck.c — helper for tests/it_agent.sh.
**
**   tool_agentcheck sub URL SUBJECT TIMEOUT_MS
**       Subscribes to SUBJECT and prints the payload of the first message
**       (one line). Exit 0, or 4 when nothing arrived within TIMEOUT_MS,
**       or 1 when the broker cannot be reached.
**   tool_agentcheck acl PATH
**       Prints the DACL of PATH as SDDL (exit 0), to check install's ACLs.
*/
#include <windows.h>
#include <aclapi.h>
#include <sddl.h>
#include <stdio.h>
#include <stdlib.h>
#include <wchar.h>
#include "nats.h"
#include "win.h"

static int cmd_sub(const char *url, const char *subject, int timeout_ms)
{
    nats_opts o;
    nats_conn *c = NULL;
    nats_sub *s = NULL;
    nats_msg *m = NULL;
    char err[256];
    int rc;

    memset(&o, 0, sizeof o);
    o.servers = url;
    o.name = "tool_agentcheck";
    o.no_reconnect = 1;
    rc = nats_connect(&o, &c, err, sizeof err);
    if (rc != NATS_OK) { fprintf(stderr, "connect: %s\n", err); return 1; }
    rc = nats_subscribe(c, subject, NULL, &s);
    if (rc == NATS_OK) rc = nats_flush(c, 5000);
    if (rc != NATS_OK) { fprintf(stderr, "subscribe: %s\n", nats_strerror(rc)); nats_close(c); return 1; }
    rc = nats_sub_next(s, timeout_ms, &m);
    if (rc == NATS_OK) {
        printf("%.*s\n", (int)m->len, (const char *)m->data);
        nats_msg_free(m);
    } else {
        fprintf(stderr, "no message on %s within %d ms: %s\n", subject, timeout_ms, nats_strerror(rc));
    }
    nats_unsubscribe(s);
    nats_close(c);
    return rc == NATS_OK ? 0 : 4;
}

static int cmd_acl(const wchar_t *path)
{
    PSECURITY_DESCRIPTOR sd = NULL;
    PACL dacl = NULL;
    LPWSTR sddl = NULL;
    char out[2048];
    DWORD rc = GetNamedSecurityInfoW(path, SE_FILE_OBJECT, DACL_SECURITY_INFORMATION,
                                     NULL, NULL, &dacl, NULL, &sd);
    if (rc != ERROR_SUCCESS) { fprintf(stderr, "GetNamedSecurityInfoW: %lu\n", (unsigned long)rc); return 1; }
    if (!ConvertSecurityDescriptorToStringSecurityDescriptorW(sd, SDDL_REVISION_1,
                                                              DACL_SECURITY_INFORMATION, &sddl, NULL)) {
        fprintf(stderr, "ConvertSecurityDescriptorToStringSecurityDescriptorW: %lu\n",
                (unsigned long)GetLastError());
        LocalFree(sd);
        return 1;
    }
    win_to_utf8(sddl, out, sizeof out);
    printf("%s\n", out);
    LocalFree(sddl);
    LocalFree(sd);
    return 0;
}

int wmain(int argc, wchar_t **argv)
{
    char a2[1024], a3[1024];
    if (argc == 5 && wcscmp(argv[1], L"sub") == 0) {
        if (win_to_utf8(argv[2], a2, sizeof a2) || win_to_utf8(argv[3], a3, sizeof a3)) return 2;
        return cmd_sub(a2, a3, _wtoi(argv[4]));
    }
    if (argc == 3 && wcscmp(argv[1], L"acl") == 0) return cmd_acl(argv[2]);
    fprintf(stderr, "usage: tool_agentcheck sub URL SUBJECT TIMEOUT_MS | acl PATH\n");
    return 2;
}
