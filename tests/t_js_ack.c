/*
** t_js_ack.c — the JetStream ack-subject parser (js_ack.c), natively under
** ASan/UBSan and under Wine. A subject with many dots must be refused
** without a write past the parser's token arrays.
*/
#include <stdlib.h>
#include <string.h>
#include "th.h"
#include "js_ack.h"

static void t_ack_v1(void)
{
    js_meta m;
    /* As nats.js 3.4.0 receives it from nats-server 2.9. */
    TH_EQ_INT(jsa_parse("$JS.ACK.KV_agent_config.oc_ACsEips5sre6FcIboeuy28_1.1.2.1.1795747397587966720.1", &m), 0);
    TH_EQ_INT(m.delivered, 1);
    TH_EQ_INT(m.stream_seq, 2);
    TH_EQ_INT(m.consumer_seq, 1);
    TH_CHECK(m.ts_ns == 1795747397587966720LL);
    TH_EQ_INT(m.pending, 1);
    TH_EQ_INT(jsa_parse("$JS.ACK.S.C.3.18446744073709551615.7.0.0", &m), 0);
    TH_CHECK(m.stream_seq == UINT64_MAX);
    TH_EQ_INT(m.consumer_seq, 7);
    TH_EQ_INT(m.pending, 0);
}

static void t_ack_v2(void)
{
    js_meta m;
    /* $JS.ACK.<domain>.<acchash>.<stream>.<consumer>.<delivered>.<sseq>.<dseq>.<ts>.<pending>.<random> */
    TH_EQ_INT(jsa_parse("$JS.ACK._.ACCHASH.OBJ_x.oc_1.1.40.39.1700000000000000000.5.rnd", &m), 0);
    TH_EQ_INT(m.delivered, 1);
    TH_EQ_INT(m.stream_seq, 40);
    TH_EQ_INT(m.consumer_seq, 39);
    TH_EQ_INT(m.pending, 5);
    /* 11 tokens (no random token) is valid too. */
    TH_EQ_INT(jsa_parse("$JS.ACK.hub.H.S.C.2.9.8.1.0", &m), 0);
    TH_EQ_INT(m.stream_seq, 9);
    TH_EQ_INT(m.pending, 0);
}

static void t_ack_bad(void)
{
    js_meta m;
    TH_CHECK(jsa_parse(NULL, &m) != 0);
    TH_CHECK(jsa_parse("", &m) != 0);
    TH_CHECK(jsa_parse("_INBOX.abc", &m) != 0);
    TH_CHECK(jsa_parse("$JS.ACK.S.C.1.2.3.4", &m) != 0);          /* 8 tokens */
    TH_CHECK(jsa_parse("$JS.ACK.d.h.S.C.1.2.3.4", &m) != 0);      /* 10 tokens */
    TH_CHECK(jsa_parse("$JS.ACK.S.C.1.x.3.4.5", &m) != 0);        /* not a number */
    TH_CHECK(jsa_parse("$JS.ACK.S.C.1..3.4.5", &m) != 0);         /* empty token */
    TH_CHECK(jsa_parse("$JS.ACK.S.C.1.-2.3.4.5", &m) != 0);
    TH_CHECK(jsa_parse("$JS.ACK.S.C.1.18446744073709551616.3.4.5", &m) != 0); /* overflow */
    TH_CHECK(jsa_parse("$JS.NAK.S.C.1.2.3.4.5", &m) != 0);
    TH_CHECK(jsa_parse("$JS.ACK.a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q", &m) != 0); /* too many */
}

/* Every dot count from 0 to 40, and one subject of 4,000 dots: only 9 and
** 11..12 tokens parse, nothing else, and nothing writes out of bounds
** (ASan in the native build catches a stray write). */
static void t_ack_many_dots(void)
{
    static char s[8200];
    js_meta m;
    int dots, i, parsed;
    for (dots = 0; dots <= 40; dots++) {
        size_t n = 0;
        memcpy(s, "$JS.ACK", 7); n = 7;
        for (i = 2; i <= dots; i++) { s[n++] = '.'; s[n++] = '1'; }
        s[n] = 0;
        parsed = jsa_parse(s, &m) == 0;
        TH_EQ_INT(parsed, dots == 8 || dots == 10 || dots == 11);
    }
    /* The reviewed case: 16 and 17 dots after a valid prefix. */
    TH_CHECK(jsa_parse("$JS.ACK.a.b.1.2.3.4.5.6.7.8.9.10.11.12.13.14", &m) != 0);
    TH_CHECK(jsa_parse("$JS.ACK.a.b.1.2.3.4.5.6.7.8.9.10.11.12.13.14.15", &m) != 0);
    memcpy(s, "$JS.ACK", 7);
    for (i = 7; i < 8007; i++) s[i] = '.';
    s[8007] = 0;
    TH_CHECK(jsa_parse(s, &m) != 0);
}

static int main_(void)
{
    TH_RUN(t_ack_v1);
    TH_RUN(t_ack_v2);
    TH_RUN(t_ack_bad);
    TH_RUN(t_ack_many_dots);
    return th_summary("t_js_ack");
}

TH_MAIN
