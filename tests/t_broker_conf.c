/*
** t_broker_conf.c — PC lists, .auth files, passwords and the two-account
** nats-server.conf of broker_conf.c.
*/
#include <stdlib.h>
#include <string.h>
#include "th.h"
#include "broker_conf.h"

static char ids[8][BCF_USER_MAX + 1];

static void t_pcs(void)
{
    char err[200];
    const char *t = "pc1, pc2\n# a comment, pc9\r\n  pc3\tpc1,,";
    TH_EQ_INT(bcf_parse_pcs(t, strlen(t), ids, 8, err, sizeof err), 3);
    TH_EQ_STR(ids[0], "pc1");
    TH_EQ_STR(ids[1], "pc2");
    TH_EQ_STR(ids[2], "pc3");
    TH_EQ_INT(bcf_parse_pcs("a,b.c", 5, ids, 8, err, sizeof err), -1);
    TH_CHECK(strstr(err, "'b.c'") != NULL);
    TH_EQ_INT(bcf_parse_pcs("a,b,c", 5, ids, 2, err, sizeof err), -1);
    TH_EQ_INT(bcf_parse_pcs(" # only\n", 8, ids, 8, err, sizeof err), -1);
    TH_EQ_INT(bcf_parse_pcs("kanade-operator", 15, ids, 8, err, sizeof err), -1);
    TH_EQ_INT(bcf_parse_pcs("a>", 2, ids, 8, err, sizeof err), -1);
    TH_EQ_INT(bcf_parse_pcs("a\0b", 3, ids, 8, err, sizeof err), -1);
}

static void t_auth(void)
{
    bcf_user u, v;
    char out[200];
    const char *t = "user=pc1\r\npassword=Abc123\r\n";
    TH_EQ_INT(bcf_parse_auth(t, strlen(t), &u), 0);
    TH_EQ_STR(u.name, "pc1");
    TH_EQ_STR(u.pass, "Abc123");
    TH_CHECK(bcf_write_auth(&u, out, sizeof out) > 0);
    TH_EQ_STR(out, "user=pc1\npassword=Abc123\n");
    TH_EQ_INT(bcf_parse_auth(out, strlen(out), &v), 0);
    TH_EQ_STR(v.pass, "Abc123");
    TH_EQ_INT(bcf_write_auth(&u, out, 10), -1);
    TH_EQ_INT(bcf_parse_auth("user=pc1\n", 9, &u), -1);
    TH_EQ_INT(bcf_parse_auth("user=pc1\npassword=a b\n", 22, &u), -1);
    TH_EQ_INT(bcf_parse_auth("user=p.c\npassword=ab\n", 21, &u), -1);
}

static void t_password(void)
{
    unsigned char r[64];
    char p[BCF_PASS_MAX + 1];
    int i;
    for (i = 0; i < 64; i++) r[i] = (unsigned char)(i * 37 + 5);
    TH_CHECK(bcf_password(r, 64, 32, p, sizeof p) >= 32);
    TH_EQ_INT((int)strlen(p), 32);
    TH_CHECK(bcf_valid_pass(p));
    memset(r, 250, sizeof r);               /* all rejected: out of randomness */
    TH_EQ_INT(bcf_password(r, 64, 8, p, sizeof p), -1);
    TH_EQ_INT(bcf_password(r, 64, 8, p, 8), -1);
    TH_CHECK(!bcf_valid_pass(""));
    TH_CHECK(!bcf_valid_pass("a\"b"));
}

static void t_buckets(void)
{
    char s[64];
    const bcf_bucket *b = bcf_bucket_find("agent_releases");
    TH_CHECK(b && b->kind == BCF_OBJ);
    TH_EQ_INT(bcf_stream_name(b, s, sizeof s), 0);
    TH_EQ_STR(s, "OBJ_agent_releases");
    TH_CHECK(bcf_bucket_find("agent_rollouts") != NULL);
    TH_CHECK(bcf_bucket_find("agent_config")->history == 5);
    TH_CHECK(bcf_bucket_find("nope") == NULL);
    TH_EQ_INT(bcf_stream_name(b, s, 5), -1);
}

static int count(const char *h, const char *n)
{
    int k = 0;
    for (; (h = strstr(h, n)) != NULL; h += strlen(n)) k++;
    return k;
}

static void t_conf(void)
{
    bcf_user op = { "kanade-operator", "OpPass1" };
    bcf_user pcs[2] = { { "pc1", "P1pass" }, { "pc2", "P2pass" } };
    size_t cap = bcf_conf_size(2);
    char *c = malloc(cap);
    int n;
    TH_CHECK(c != NULL);
    if (!c) return;
    n = bcf_write_conf(&op, pcs, 2, c, cap);
    TH_CHECK(n > 0 && (size_t)n == strlen(c));
    TH_CHECK(strstr(c, "FLEET {") && strstr(c, "AGENTS {"));
    TH_EQ_INT(count(c, "jetstream: enabled"), 1);
    TH_CHECK(strstr(c, "user: \"kanade-operator\", password: \"OpPass1\"") != NULL);
    TH_CHECK(strstr(c, "\"$KV.agent_status.pc1\"") && strstr(c, "\"$KV.agent_status.pc2\""));
    TH_CHECK(strstr(c, "\"$JS.API.DIRECT.GET.KV_agent_config.$KV.agent_config.pcs.pc2\"") != NULL);
    TH_CHECK(strstr(c, "\"$KV.agent_rollouts.fail.*.pc1\"") != NULL);
    TH_EQ_INT(count(c, "allow_responses: true"), 2);
    /* every export once, imported once */
    TH_EQ_INT(count(c, "{ service: \"$JS.API.DIRECT.GET.KV_agent_config.>\" }"), 1);
    TH_EQ_INT(count(c, "{ stream: \"$KV.agent_config.>\" }"), 1);
    TH_EQ_INT(count(c, "subject: \"$JS.API.DIRECT.GET.KV_agent_config.>\""), 1);
    /* no PC may publish on _INBOX (forged answers to the operator) */
    TH_CHECK(strstr(c, "publish: { allow: [\n            # ") != NULL);
    TH_CHECK(strstr(strstr(c, "publish: { allow"), "\"_INBOX.>\"") > strstr(strstr(c, "publish: { allow"), "subscribe"));
    TH_EQ_INT(bcf_write_conf(&op, pcs, 2, c, 100), -1);
    TH_EQ_STR(c, "");
    pcs[1].pass[0] = 0;
    TH_EQ_INT(bcf_write_conf(&op, pcs, 2, c, cap), -1);
    TH_CHECK(bcf_write_conf(&op, pcs, 1, c, cap) > 0);
    TH_CHECK(strstr(c, "pc2") == NULL);
    free(c);
}

static void t_explain(void)
{
    char o[400];
    bcf_explain("$KV.agent_status.pc2", 0, "pc1", o, sizeof o);
    TH_EQ_STR(o, "put agent_status/pc2 refused: this account may write only agent_status/pc1");
    bcf_explain("$KV.agent_config.global", 0, "pc1", o, sizeof o);
    TH_EQ_STR(o, "put agent_config/global refused: this account may write only agent_status/pc1");
    bcf_explain("$JS.API.DIRECT.GET.KV_agent_config.$KV.agent_config.pcs.pc2", 0, "pc1", o, sizeof o);
    TH_EQ_STR(o, "read agent_config/pcs.pc2 refused: this account may read only agent_config global, groups.* and pcs.pc1");
    bcf_explain("$JS.API.DIRECT.GET.KV_agent_groups.$KV.agent_groups.pc2", 0, "pc1", o, sizeof o);
    TH_EQ_STR(o, "read agent_groups/pc2 refused: this account may read only agent_groups/pc1");
    bcf_explain("$JS.API.DIRECT.GET.KV_agent_status.$KV.agent_status.pc2", 0, "pc1", o, sizeof o);
    TH_EQ_STR(o, "read agent_status/pc2 refused: this account may not read agent_status");
    bcf_explain("$JS.API.STREAM.CREATE.KV_agent_config", 0, "pc1", o, sizeof o);
    TH_EQ_STR(o, "create or change stream KV_agent_config refused: this account may not create buckets; the operator runs `kanade broker init`");
    bcf_explain("$JS.API.STREAM.INFO.KV_agent_config", 0, "pc1", o, sizeof o);
    TH_CHECK(strstr(o, "stream info of KV_agent_config refused") == o);
    bcf_explain("$JS.API.CONSUMER.CREATE.KV_agent_config", 0, "pc1", o, sizeof o);
    TH_CHECK(strstr(o, "consumer call CREATE.KV_agent_config refused: this account may not create") == o);
    bcf_explain("$JS.API.STREAM.PURGE.KV_agent_config", 0, "pc1", o, sizeof o);
    TH_CHECK(strstr(o, "JetStream call STREAM.PURGE.KV_agent_config refused") == o);
    bcf_explain("$O.agent_releases.C.x", 0, "pc1", o, sizeof o);
    TH_EQ_STR(o, "write to object store agent_releases refused: this account may not write objects");
    bcf_explain("heartbeat.pc2", 0, "pc1", o, sizeof o);
    TH_EQ_STR(o, "publish heartbeat.pc2 refused: this account may publish only heartbeat.pc1");
    bcf_explain("agents.pc2.ping", 1, "pc1", o, sizeof o);
    TH_CHECK(strstr(o, "subscribe to agents.pc2.ping refused: this account may subscribe only to its own ping (agents.pc1.ping)") == o);
    bcf_explain("$KV.agent_rollouts.fail.1_0.pc2", 0, NULL, o, sizeof o);
    TH_CHECK(strstr(o, "agent_rollouts/fail.<version>.<its own pc>") != NULL);
    bcf_explain("foo", 0, "pc1", o, sizeof o);
    TH_EQ_STR(o, "publish foo refused: this account has no right to that subject");
    /* odd inputs: no crash, always terminated */
    TH_EQ_INT(bcf_explain("$JS.API.DIRECT.GET.", 0, "", o, sizeof o) > 0, 1);
    TH_EQ_INT(bcf_explain("$KV.", 0, "", o, sizeof o) > 0, 1);
    TH_EQ_INT(bcf_explain(NULL, 0, NULL, o, 8), 7);
    TH_EQ_INT((int)strlen(o), 7);
    TH_EQ_INT(bcf_explain("x", 0, "", o, 0), 0);
}

static int main_(void)
{
    TH_RUN(t_pcs);
    TH_RUN(t_auth);
    TH_RUN(t_password);
    TH_RUN(t_buckets);
    TH_RUN(t_conf);
    TH_RUN(t_explain);
    return th_summary("t_broker_conf");
}

TH_MAIN
