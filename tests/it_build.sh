#!/usr/bin/env bash
# Build checks: both exes are x86-64 PE, import only DLLs Windows ships,
# print the version their own VERSIONINFO carries (under Wine), a second
# VERSION build prints the other version, and the GNU and nmake builds list
# the same sources (nmake.mak is read the way nmake reads it: !include, then
# macro substitution of .c -> .obj).
source "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."

for exe in kanade-agent kanade; do
    f="$BUILD/$exe.exe"
    check "$exe.exe exists" test -s "$f"
    check_match "$exe.exe is PE32+ x86-64" "$(file -b "$f")" 'PE32\+ executable.*x86-64'
    dlls=$(x86_64-w64-mingw32-objdump -p "$f" | sed -n 's/^\s*DLL Name: //p' | tr 'A-Z' 'a-z' | sort -u | tr '\n' ' ')
    extra=$(printf '%s\n' $dlls | grep -vxE 'kernel32.dll|advapi32.dll|ws2_32.dll|bcrypt.dll|shell32.dll|ole32.dll|msvcrt.dll|user32.dll|crypt32.dll' || true)
    check_eq "$exe.exe imports only system DLLs ($dlls)" "$extra" ""
    check "$exe.exe is stripped (no symbol table)" sh -c "! x86_64-w64-mingw32-objdump -t '$f' | grep -q ' F .text'"
done

# The test hooks (files in data\test-hooks that slow a download or stop the
# swap helper midway) exist only in the test build: the shipped agent has
# neither the code nor its names. The test build is checked too, so that
# this check would notice if the names changed.
hooks='test-hooks|swap-abort-at|download-delay-ms'
check_eq "shipped kanade-agent.exe holds no test-hook code" \
    "$(strings -a "$BUILD/kanade-agent.exe" | grep -Ec "$hooks")" 0
check "the test build (build/test/kanade-agent.exe) does hold them" \
    sh -c "strings -a '$BUILD/test/kanade-agent.exe' | grep -Eq '$hooks'"

export WINEPREFIX="$T_DIR/wp" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
want=$(cat VERSION)
check_eq "kanade-agent --version" "$(w "$BUILD/kanade-agent.exe" --version)" "kanade-agent $want"
check_eq "kanade --version" "$(w "$BUILD/kanade.exe" --version)" "kanade $want"

# A second build with another VERSION, into its own folder.
other="$T_DIR/build-9.8.7"
make -s VERSION=9.8.7 BUILD="$other" "$other/kanade-agent.exe" "$other/kanade.exe" >/dev/null 2>"$T_DIR/make-9.8.7.log"
check_eq "VERSION=9.8.7 kanade-agent --version" "$(w "$other/kanade-agent.exe" --version)" "kanade-agent 9.8.7"
check_eq "VERSION=9.8.7 kanade --version" "$(w "$other/kanade.exe" --version)" "kanade 9.8.7"
check_eq "first build untouched" "$(w "$BUILD/kanade-agent.exe" --version)" "kanade-agent $want"

# Source lists: GNU make's view versus nmake.mak's.
gnu=$(make -s print-sources)
nm=$(python3 - <<'PY'
import re
def macros(path, env):
    for line in open(path).read().replace('\\\n', ' ').splitlines():
        line = line.split('#')[0].rstrip()
        m = re.match(r'!include\s+(\S+)', line, re.I)
        if m: macros(m.group(1), env); continue
        m = re.match(r'^([A-Z_]+)\s*=\s*(.*)$', line)
        if m: env[m.group(1)] = m.group(2)
    return env
env = macros('nmake.mak', {})
def expand(s):
    # $(NAME:.c=.obj) and $(NAME)
    s = re.sub(r'\$\((\w+):\.c=\.obj\)', lambda m: ' '.join(w[:-2] + '.obj' for w in expand(env.get(m.group(1), '')).split()), s)
    return re.sub(r'\$\((\w+)\)', lambda m: expand(env.get(m.group(1), '')), s)
def objs(*names):
    return sorted(w.replace('.obj', '.c') for n in names for w in expand(env[n]).split())
print('agent: ' + ' '.join(objs('LIB_OBJS', 'AGENT_OBJS')))
print('cli: ' + ' '.join(objs('LIB_OBJS', 'CLI_OBJS')))
PY
)
check_eq "nmake.mak and Makefile build the same sources" "$nm" "$gnu"
orphans=$(for f in src/*.c; do grep -qw "$f" <<<"$gnu" || echo "$f"; done)
check_eq "every src/*.c is in sources.mk" "$orphans" ""
bash scripts/webgen.sh "$T_DIR/web_assets.h" src/web/index.html src/web/app.css src/web/app.js
check "src/web_assets.h is current (make regenerates it from src/web/)" cmp -s "$T_DIR/web_assets.h" src/web_assets.h
check "build.bat passes VERSION to nmake.mak" grep -q 'nmake /nologo /f nmake.mak VERSION=' build.bat

# Layering (docs/design.md, "Modules and layers"): pure files include no
# Win32 header, no layer includes a higher one, nothing below the CLI cli*.h.
layering=$(bash scripts/include-graph.sh -q 2>&1 | grep VIOLATION)
check_eq "include graph: the layering rules hold" "$layering" ""
# The check itself must be able to fail: a pure copy that includes windows.h.
fake="$T_DIR/layering"; rm -rf "$fake"; mkdir -p "$fake"
cp -r scripts sources.mk src "$fake/"
sed -i '0,/#include/s//#include <windows.h>\n#include/' "$fake/src/scope.c"
check_match "include graph: a pure module including windows.h is refused" \
    "$(bash "$fake/scripts/include-graph.sh" -q 2>&1)" 'VIOLATION: src/scope.c is pure and includes <windows.h>'

t_summary
