/*
** js_ack.h — the reply subject of a JetStream delivery ($JS.ACK....), parsed
** into its metadata. Pure: no windows.h; built natively for the sanitizers
** and fuzzed (tests/fuzz_js_ack.c), since every message of an ordered
** consumer passes through it and the broker, or anyone who may publish to
** the deliver inbox, chooses the subject.
*/
#ifndef JS_ACK_H
#define JS_ACK_H
#include <stdint.h>

/* Ack-reply metadata of a delivered message. */
typedef struct js_meta {
    uint64_t stream_seq, consumer_seq, pending, delivered;
    int64_t ts_ns;
} js_meta;

/* Longest subject we look at, in dot-separated tokens. The v2 form has 12;
** anything longer is not an ack subject. */
#define JSA_MAX_TOKENS 12

/*
** Two forms are accepted:
**   v1: $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<dseq>.<ts>.<pending>
**   v2: $JS.ACK.<domain>.<acchash>.<stream>.<consumer>.<delivered>.<sseq>
**       .<dseq>.<ts>.<pending>[.<random>]
** Returns 0 and fills *out, or 1 (out untouched) for anything else.
*/
int jsa_parse(const char *reply, js_meta *out);

/* Parses the decimal token [s, end) into *v: digits only, no sign, no
** spaces, no overflow. 0 = ok; *v is untouched otherwise. */
int jsa_parse_u64(const char *s, const char *end, uint64_t *v);
#endif
