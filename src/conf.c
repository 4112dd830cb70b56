/* conf.c: not written yet. */
typedef int conf_placeholder;
