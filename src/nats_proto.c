/* nats_proto.c: not written yet. */
typedef int nats_proto_placeholder;
