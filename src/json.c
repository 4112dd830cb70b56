/* json.c: not written yet. */
typedef int json_placeholder;
