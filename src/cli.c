/* kanade.exe entry (placeholder until the CLI issue lands). */
#include <stdio.h>
#include <string.h>
#include <wchar.h>
#include "win.h"

int wmain(int argc, wchar_t **argv)
{
    char v[80];
    if (argc > 1 && wcscmp(argv[1], L"--version") == 0) {
        if (win_self_version(v, sizeof v)) { fprintf(stderr, "kanade: %s\n", win_last_error()); return 1; }
        printf("kanade %s\n", v);
        return 0;
    }
    fprintf(stderr, "usage: kanade --version\n");
    return 2;
}
