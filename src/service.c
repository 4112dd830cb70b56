/* service.c: not written yet. */
typedef int service_placeholder;
