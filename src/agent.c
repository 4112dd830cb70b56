/* kanade-agent.exe entry (placeholder until the agent issue lands). */
#include <stdio.h>
#include <string.h>
#include <wchar.h>
#include "win.h"

int wmain(int argc, wchar_t **argv)
{
    char v[80];
    if (argc > 1 && wcscmp(argv[1], L"--version") == 0) {
        if (win_self_version(v, sizeof v)) { fprintf(stderr, "kanade-agent: %s\n", win_last_error()); return 1; }
        printf("kanade-agent %s\n", v);
        return 0;
    }
    fprintf(stderr, "usage: kanade-agent --version\n");
    return 2;
}
