/* kv.c: not written yet. */
typedef int kv_placeholder;
