/*
** w_jetstream.c — unit tests of jetstream.c's pure parts (ack subjects,
** JSON parsing with the heap fallback). The broker-facing parts are
** covered by tests/it_kv.sh, it_obj.sh and it_interop.sh.
*/
#include <stdlib.h>
#include <string.h>
#include "th.h"
#include "jetstream.h"

static void test_ack_v1(void)
{
    js_meta m;
    /* From wire-transcripts/kv-nats.js-3.4.0.txt. */
    TH_EQ_INT(js_parse_ack("$JS.ACK.KV_agent_config.oc_ACsEips5sre6FcIboeuy28_1.1.2.1.1795747397587966720.1", &m), 0);
    TH_EQ_INT(m.delivered, 1);
    TH_EQ_INT(m.stream_seq, 2);
    TH_EQ_INT(m.consumer_seq, 1);
    TH_CHECK(m.ts_ns == 1795747397587966720LL);
    TH_EQ_INT(m.pending, 1);
    TH_EQ_INT(js_parse_ack("$JS.ACK.S.C.3.18446744073709551615.7.0.0", &m), 0);
    TH_CHECK(m.stream_seq == UINT64_MAX);
    TH_EQ_INT(m.consumer_seq, 7);
    TH_EQ_INT(m.pending, 0);
}

static void test_ack_v2(void)
{
    js_meta m;
    /* $JS.ACK.<domain>.<acchash>.<stream>.<consumer>.<delivered>.<sseq>.<dseq>.<ts>.<pending>.<random> */
    TH_EQ_INT(js_parse_ack("$JS.ACK._.ACCHASH.OBJ_x.oc_1.1.40.39.1700000000000000000.5.rnd", &m), 0);
    TH_EQ_INT(m.delivered, 1);
    TH_EQ_INT(m.stream_seq, 40);
    TH_EQ_INT(m.consumer_seq, 39);
    TH_EQ_INT(m.pending, 5);
    /* 11 tokens (no random token) is valid too. */
    TH_EQ_INT(js_parse_ack("$JS.ACK.hub.H.S.C.2.9.8.1.0", &m), 0);
    TH_EQ_INT(m.stream_seq, 9);
    TH_EQ_INT(m.pending, 0);
}

static void test_ack_bad(void)
{
    js_meta m;
    TH_CHECK(js_parse_ack(NULL, &m) != 0);
    TH_CHECK(js_parse_ack("", &m) != 0);
    TH_CHECK(js_parse_ack("_INBOX.abc", &m) != 0);
    TH_CHECK(js_parse_ack("$JS.ACK.S.C.1.2.3.4", &m) != 0);          /* 8 tokens */
    TH_CHECK(js_parse_ack("$JS.ACK.d.h.S.C.1.2.3.4", &m) != 0);      /* 10 tokens */
    TH_CHECK(js_parse_ack("$JS.ACK.S.C.1.x.3.4.5", &m) != 0);        /* not a number */
    TH_CHECK(js_parse_ack("$JS.ACK.S.C.1..3.4.5", &m) != 0);         /* empty token */
    TH_CHECK(js_parse_ack("$JS.ACK.S.C.1.-2.3.4.5", &m) != 0);
    TH_CHECK(js_parse_ack("$JS.ACK.S.C.1.18446744073709551616.3.4.5", &m) != 0); /* overflow */
    TH_CHECK(js_parse_ack("$JS.NAK.S.C.1.2.3.4.5", &m) != 0);
    TH_CHECK(js_parse_ack("$JS.ACK.a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q", &m) != 0); /* too many */
}

static void test_json_fallback(void)
{
    json_doc d;
    json_tok tok[4], *heap = NULL;
    char big[4096];
    size_t n = 0;
    int i;
    uint64_t v = 0;
    /* 200 keys: far more tokens than the caller's 4. */
    n += (size_t)snprintf(big + n, sizeof big - n, "{");
    for (i = 0; i < 200; i++)
        n += (size_t)snprintf(big + n, sizeof big - n, "%s\"k%d\":%d", i ? "," : "", i, i);
    n += (size_t)snprintf(big + n, sizeof big - n, "}");
    TH_EQ_INT(js_json_parse(&d, big, n, tok, 4, &heap), JSON_OK);
    TH_CHECK(heap != NULL);
    TH_EQ_INT(json_get_uint(&d, 0, "k199", &v), JSON_OK);
    TH_EQ_INT(v, 199);
    free(heap);
    /* Small documents stay in the caller's array. */
    TH_EQ_INT(js_json_parse(&d, "{\"seq\":5}", 9, tok, 4, &heap), JSON_OK);
    TH_CHECK(heap == NULL);
    /* Malformed JSON is an error either way, and nothing leaks. */
    TH_CHECK(js_json_parse(&d, "{\"a\":", 5, tok, 4, &heap) != JSON_OK);
    TH_CHECK(heap == NULL);
}

static void test_puback(void)
{
    nats_msg m;
    uint64_t seq = 0;
    js_err e;
    static char ok[] = "{\"stream\":\"KV_agent_config\", \"seq\":1}";
    static char cas[] = "{\"error\":{\"code\":400,\"err_code\":10071,\"description\":\"wrong last sequence: 2\"},"
                        "\"stream\":\"KV_agent_config\",\"seq\":0}";
    static char other[] = "{\"error\":{\"code\":400,\"err_code\":10054,\"description\":\"message size exceeds maximum allowed\"},\"seq\":0}";
    memset(&m, 0, sizeof m);
    m.subject = "_INBOX.x.1";
    m.status_desc = "";
    m.data = (unsigned char *)ok;
    m.len = strlen(ok);
    TH_EQ_INT(js_puback_parse(&m, &seq, &e), NATS_OK);
    TH_EQ_INT(seq, 1);
    m.data = (unsigned char *)cas;
    m.len = strlen(cas);
    TH_EQ_INT(js_puback_parse(&m, &seq, &e), NATS_ERR_CONFLICT);
    TH_EQ_INT(e.err_code, 10071);
    TH_EQ_INT(e.code, 400);
    TH_EQ_STR(e.desc, "wrong last sequence: 2");
    m.data = (unsigned char *)other;
    m.len = strlen(other);
    TH_EQ_INT(js_puback_parse(&m, &seq, &e), NATS_ERR_JS);
    TH_EQ_INT(e.err_code, 10054);
    m.data = (unsigned char *)"";
    m.len = 0;
    m.status = 503;
    TH_EQ_INT(js_puback_parse(&m, &seq, &e), NATS_ERR_NO_RESPONDERS);
    m.status = 0;
    m.data = (unsigned char *)"nope";
    m.len = 4;
    TH_EQ_INT(js_puback_parse(&m, &seq, &e), NATS_ERR_BAD_DATA);
}

static int main_(void)
{
    TH_RUN(test_ack_v1);
    TH_RUN(test_ack_v2);
    TH_RUN(test_ack_bad);
    TH_RUN(test_json_fallback);
    TH_RUN(test_puback);
    return th_summary("w_jetstream");
}

int wmain(void) { return main_(); }
