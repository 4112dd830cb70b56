/* jetstream.c: not written yet. */
typedef int jetstream_placeholder;
