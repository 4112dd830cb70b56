/*
** fuzz_scope.c — libFuzzer target for scope.c. On any input: no crash, and
**  - scope_set_field either refuses it as not-an-object or produces an
**    object in which the field resolves to exactly the value set (and to
**    nothing after setting null);
**  - scope_parse_groups output written by scope_write_groups reads back
**    the same;
**  - durations that parse format back to the same value.
*/
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "scope.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char out[1 << 16], out2[1 << 16], text[4096];
    static char g[SCOPE_MAX_GROUPS][SCOPE_ID_MAX + 1], g2[SCOPE_MAX_GROUPS][SCOPE_ID_MAX + 1];
    char mine[2][SCOPE_ID_MAX + 1] = { "canary", "office" };
    const char *js = (const char *)data;
    scope_layer l[4];
    scope_result r;
    int n = 0, n2 = 0, rc, i;
    int64_t ms, back;

    /* Resolution over the input as every kind of layer. */
    l[0].key = "global"; l[1].key = "groups.canary"; l[2].key = "groups.office"; l[3].key = "pcs.pc1";
    for (i = 0; i < 4; i++) { l[i].json = js; l[i].len = size; }
    if (scope_resolve(l, 4, "pc1", mine, 2, &r) != SCOPE_OK) abort();
    if (r.target_version[0] && !scope_valid_version(r.target_version)) abort();
    if (r.heartbeat_ms < 1000 || r.jitter_ms < 0) abort();

    /* set_field, then resolve what it wrote. */
    rc = scope_set_field(js, size, "target_version", "1.2.3", out, sizeof out);
    if (rc == SCOPE_OK) {
        l[0].json = out; l[0].len = strlen(out);
        if (scope_resolve(l, 1, "pc1", NULL, 0, &r) != SCOPE_OK) abort();
        if (strcmp(r.target_version, "1.2.3") != 0
            || strncmp(r.errors, "global: not a JSON object", 25) == 0) abort();
        if (scope_set_field(out, strlen(out), "target_version", NULL, out2, sizeof out2) != SCOPE_OK) abort();
        l[0].json = out2; l[0].len = strlen(out2);
        if (scope_resolve(l, 1, "pc1", NULL, 0, &r) != SCOPE_OK || r.target_version[0]) abort();
    } else if (rc != SCOPE_ERR_JSON) {
        abort();
    }

    /* groups: parse, write, parse again. */
    rc = scope_parse_groups(js, size, g, SCOPE_MAX_GROUPS, &n);
    if (rc == SCOPE_OK || rc == SCOPE_ERR_SPACE) {
        if (scope_write_groups(g, n, out, sizeof out) != SCOPE_OK) abort();
        if (scope_parse_groups(out, strlen(out), g2, SCOPE_MAX_GROUPS, &n2) != SCOPE_OK) abort();
        if (n != n2) abort();
        for (i = 0; i < n; i++) {
            if (strcmp(g[i], g2[i]) != 0 || !scope_valid_id(g[i])) abort();
            if (i > 0 && strcmp(g[i - 1], g[i]) >= 0) abort();
        }
    } else if (n != 0) {
        abort();
    }

    /* durations */
    if (size < sizeof text) {
        memcpy(text, data, size);
        text[size] = 0;
        if (scope_parse_duration(text, &ms) == SCOPE_OK) {
            char f[64];
            if (ms < 0 || ms % 1000 != 0) abort();
            if (scope_format_duration(ms, f, sizeof f) != SCOPE_OK) abort();
            if (scope_parse_duration(f, &back) != SCOPE_OK || back != ms) abort();
        }
        if (scope_valid_version(text) && (strlen(text) > 64 || strstr(text, ".."))) abort();
    }
    return 0;
}
