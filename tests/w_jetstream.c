/*
** w_jetstream.c — unit tests of jetstream.c's broker-free parts (JSON
** parsing with the heap fallback, PubAck replies); ack subjects are in
** t_js_ack.c. The broker-facing parts are
** covered by tests/it_kv.sh, it_obj.sh and it_interop.sh.
*/
#include <stdlib.h>
#include <string.h>
#include "th.h"
#include "jetstream.h"

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
    TH_RUN(test_json_fallback);
    TH_RUN(test_puback);
    return th_summary("w_jetstream");
}

TH_MAIN
