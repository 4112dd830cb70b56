/* update.c: not written yet. */
typedef int update_placeholder;
