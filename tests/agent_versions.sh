# agent_versions.sh — sourced by tests/it_update.sh and bench/rollout.sh:
# builds differently versioned kanade-agent.exe images and the failing-build
# fixtures. Needs ROOT (the repository) and BUILD (a finished build folder).
#
# agent_version V OUT   links $BUILD's agent objects with VERSIONINFO V: the
#                       same objects and link line as `make VERSION=V`, only
#                       without compiling everything again, and with the
#                       test hooks (the objects of build/test/kanade-agent.exe).
# agent_fixture NAME V OUT   tests/fixtures/NAME.c with VERSIONINFO V.

_av_res() {   # V OUT.o: src/version.rc compiled for version V
    local v=$1 num
    num=$(echo "$v" | awk -F. '{printf "%d,%d,%d,0", $1, $2, $3}')
    x86_64-w64-mingw32-windres -DKVER_STR="\\\"$v\\\"" -DKVER_NUM="$num" \
        -DKEXE_NAME='\"kanade-agent.exe\"' -DKEXE_DESC='\"kanade-agent\"' \
        -O coff "$ROOT/src/version.rc" -o "$2"
}

agent_version() {
    local v=$1 out=$2 o objs=() vars srcs ldflags libs
    # The source list, link flags and libraries come from the Makefile itself.
    vars=$(make -s -C "$ROOT" -f Makefile -f - print-link-vars <<'MK'
print-link-vars: ; @echo '$(AGENT_SRC)|$(LDFLAGS)|$(LIBS)'
MK
) || return 1
    IFS='|' read -r srcs ldflags libs <<<"$vars"
    # The test build: update.c compiled with the test hooks (see Makefile).
    for o in $srcs; do o=${o#src/}; o=${o%.c}; case $o in update|upd_swap) o=$o-hooks ;; esac; objs+=("$BUILD/obj/$o.o"); done
    _av_res "$v" "$out.res.o" || return 1
    # shellcheck disable=SC2086  # flags are word lists
    (cd "$ROOT" && x86_64-w64-mingw32-gcc $ldflags -o "$out" "${objs[@]}" "$out.res.o" "$BUILD/libkanade.a" $libs)
    local rc=$?
    rm -f "$out.res.o"
    return $rc
}

agent_fixture() {
    local name=$1 v=$2 out=$3
    _av_res "$v" "$out.res.o" || return 1
    x86_64-w64-mingw32-gcc -std=c11 -Os -Wall -Wextra -Werror -municode -static -s \
        -o "$out" "$ROOT/tests/fixtures/$name.c" "$out.res.o" -ladvapi32
    local rc=$?
    rm -f "$out.res.o"
    return $rc
}
