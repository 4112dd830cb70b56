/* scope.c: not written yet. */
typedef int scope_placeholder;
