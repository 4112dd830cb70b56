/* nats_glue.c: not written yet. */
typedef int nats_glue_placeholder;
