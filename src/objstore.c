/* objstore.c: not written yet. */
typedef int objstore_placeholder;
