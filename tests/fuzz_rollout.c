/*
** fuzz_rollout.c — libFuzzer target for rollout.c. On any input: no crash,
** and
**  - a scope value read without error writes back and reads the same;
**  - a policy, wave list or escaped version that parses formats back to
**    the same text (one spelling each);
**  - a failure record that parses writes back and parses the same;
**  - the verdict over the input as every kind of record never halts with
**    fewer failures than the threshold, and only holds with a policy.
*/
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "rollout.h"

static void roundtrip_scope(const char *js, size_t size)
{
    static char out[8192];
    ro_rollout r, back;
    char st1[1024], st2[1024];
    if (ro_read_scope(js, size, &r) != RO_OK) return;
    if (ro_write_scope(js, size, &r, out, sizeof out) == RO_ERR_SPACE) return;
    if (ro_read_scope(out, strlen(out), &back) != RO_OK) abort();
    if (ro_statement_lines(&r, st1, sizeof st1) != RO_OK) abort();
    if (ro_statement_lines(&back, st2, sizeof st2) != RO_OK) abort();
    if (strcmp(st1, st2) != 0 || r.has_previous != back.has_previous
        || strcmp(r.previous, back.previous) != 0)
        abort();
}

static void roundtrip_text(const char *text)
{
    char out[1024], out2[1024];
    ro_policy p;
    ro_plan plan;
    if (ro_policy_parse(text, &p) == RO_OK) {
        if (ro_policy_format(&p, out, sizeof out) != RO_OK) abort();
        /* "0" reads as off and formats as "off"; "5%" spellings may differ */
        if (ro_policy_parse(out, &p) != RO_OK) abort();
        if (ro_policy_format(&p, out2, sizeof out2) != RO_OK || strcmp(out, out2) != 0) abort();
        if (ro_policy_threshold(&p) < 0) abort();
    }
    memset(&plan, 0, sizeof plan);
    if (ro_plan_parse_waves(text, &plan) == RO_OK) {
        if (ro_plan_format_waves(&plan, out, sizeof out) != RO_OK || strcmp(out, text) != 0) abort();
    }
    if (ro_unescape_version(text, out, sizeof out) == RO_OK) {
        if (ro_escape_version(out, out2, sizeof out2) != RO_OK || strcmp(out2, text) != 0) abort();
        if (strchr(out2, '.') || strchr(out2, '+')) abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char text[4096], rec[2048];
    const char *js = (const char *)data;
    ro_entry e[3];
    ro_verdict v;
    ro_policy p;
    ro_fail f, g;

    roundtrip_scope(js, size);
    if (size < sizeof text) {
        memcpy(text, data, size);
        text[size] = 0;
        roundtrip_text(text);
    }
    if (ro_fail_parse(js, size, &f) == RO_OK) {
        if (ro_fail_write(&f, rec, sizeof rec) != RO_OK) abort();
        if (ro_fail_parse(rec, strlen(rec), &g) != RO_OK) abort();
        if (strcmp(f.pc, g.pc) || strcmp(f.reason, g.reason) || f.at_ms != g.at_ms) abort();
    }

    e[0].key = "fail.1_0.pc-a"; e[1].key = "fail.1_0.pc-b"; e[2].key = "ctl.1_0";
    e[0].val = e[1].val = e[2].val = js;
    e[0].len = e[1].len = e[2].len = size;
    memset(&p, 0, sizeof p);
    if (ro_evaluate(&p, "1.0", e, 3, &v) != RO_OK || v.hold || v.halted) abort();
    ro_policy_parse("2", &p);
    if (ro_evaluate(&p, "1.0", e, 3, &v) != RO_OK) abort();
    if (v.failures > 2 || v.malformed > 3) abort();
    if (v.halted && v.failures - v.baseline < 2) abort();
    if (v.hold && !v.halted && v.malformed == 0) abort();
    return 0;
}
