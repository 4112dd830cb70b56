/*
** tool_agentcheck.c — helper for tests/it_agent.sh.
**
**   tool_agentcheck sub URL SUBJECT TIMEOUT_MS
**       Subscribes to SUBJECT and prints the payload of the first message
**       (one line). Exit 0, or 4 when nothing arrived within TIMEOUT_MS,
**       or 1 when the broker cannot be reached.
**   tool_agentcheck svc NAME
**       Prints the service's state (STOPPED, START_PENDING, STOP_PENDING,
**       RUNNING, ...) and its pid, or NOT_INSTALLED (exit 3). `wine sc
**       query` sometimes prints nothing under Wine 8, so tests use this.
**   tool_agentcheck dacl PATH
**       Prints the file's DACL as SDDL ("D:P(A;;FA;;;SY)..."), exit 0, or
**       exit 1 with the error when it cannot be read.
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

static int cmd_svc(const wchar_t *name)
{
    static const char *const states[] = { "?", "STOPPED", "START_PENDING", "STOP_PENDING",
                                          "RUNNING", "CONTINUE_PENDING", "PAUSE_PENDING", "PAUSED" };
    SC_HANDLE scm = OpenSCManagerW(NULL, NULL, SC_MANAGER_CONNECT), svc;
    SERVICE_STATUS_PROCESS st;
    DWORD need = 0;
    if (!scm) { fprintf(stderr, "OpenSCManagerW: %lu\n", (unsigned long)GetLastError()); return 1; }
    svc = OpenServiceW(scm, name, SERVICE_QUERY_STATUS);
    if (!svc) {
        DWORD code = GetLastError();
        CloseServiceHandle(scm);
        if (code == ERROR_SERVICE_DOES_NOT_EXIST) { printf("NOT_INSTALLED\n"); return 3; }
        fprintf(stderr, "OpenServiceW: %lu\n", (unsigned long)code);
        return 1;
    }
    if (!QueryServiceStatusEx(svc, SC_STATUS_PROCESS_INFO, (LPBYTE)&st, sizeof st, &need)) {
        fprintf(stderr, "QueryServiceStatusEx: %lu\n", (unsigned long)GetLastError());
        CloseServiceHandle(svc);
        CloseServiceHandle(scm);
        return 1;
    }
    printf("%s %lu\n", st.dwCurrentState < 8 ? states[st.dwCurrentState] : "?",
           (unsigned long)st.dwProcessId);
    CloseServiceHandle(svc);
    CloseServiceHandle(scm);
    return 0;
}

static int cmd_dacl(const wchar_t *path)
{
    PSECURITY_DESCRIPTOR sd = NULL;
    PACL dacl = NULL;
    LPWSTR text = NULL;
    DWORD rc = GetNamedSecurityInfoW(path, SE_FILE_OBJECT, DACL_SECURITY_INFORMATION, NULL, NULL, &dacl, NULL, &sd);
    if (rc != ERROR_SUCCESS) { fprintf(stderr, "GetNamedSecurityInfo: error %lu\n", (unsigned long)rc); return 1; }
    if (!ConvertSecurityDescriptorToStringSecurityDescriptorW(sd, SDDL_REVISION_1, DACL_SECURITY_INFORMATION,
                                                              &text, NULL)) {
        fprintf(stderr, "ConvertSecurityDescriptorToStringSecurityDescriptor: error %lu\n", GetLastError());
        LocalFree(sd);
        return 1;
    }
    printf("%ls\n", text);
    LocalFree(text);
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
    if (argc == 3 && wcscmp(argv[1], L"svc") == 0) return cmd_svc(argv[2]);
    if (argc == 3 && wcscmp(argv[1], L"dacl") == 0) return cmd_dacl(argv[2]);
    fprintf(stderr, "usage: tool_agentcheck sub URL SUBJECT TIMEOUT_MS | svc NAME | dacl PATH\n");
    return 2;
}
