#!/usr/bin/env bash
# pe_fixtures.sh OUTDIR: builds the small PE images tests/t_pe_version.c reads,
# with the real toolchain (mingw-w64 gcc + windres), so no binary fixture is
# committed. Each fixture is a tiny exe (no CRT, one stub function) carrying
# one VERSIONINFO layout; its name says what t_pe_version expects from it.
#
#   strings_only.exe   ProductVersion "3.1.4", FileVersion "3.1.4-file", fixed 0.0.0.0
#   fixed_only.exe     no StringFileInfo, fixed 1.2.3.0           -> "1.2.3"
#   fixed_d.exe        no StringFileInfo, fixed 1.2.3.4           -> "1.2.3.4"
#   disagree.exe       ProductVersion "2.0.0-beta", fixed 1.2.3.4 -> "2.0.0-beta"
#   file_only.exe      FileVersion "5.6.7" only, fixed 9.9.9.9    -> "5.6.7"
#   spaces.exe         ProductVersion "  4.5.6  "                 -> "4.5.6"
#   empty_product.exe  ProductVersion "   ", FileVersion "7.7.7"  -> "7.7.7"
#   empty_strings.exe  both strings blank, fixed 8.0.1.0          -> "8.0.1"
#   unicode.exe        ProductVersion L"1.0-\x00e9\xd83d\xde00"   -> "1.0-é😀" in UTF-8
#   no_version.exe     resources (RCDATA) but no VERSIONINFO
#   no_rsrc.exe        no resource section at all
#   pe32.exe           PE32 (not PE32+) with ProductVersion "32.0.1": built by
#                      i686-w64-mingw32-gcc when installed, else the x86-64
#                      image rewritten by objcopy -O pei-i386 (a PE32 written by
#                      binutils). If neither works, pe32.skip says why.
set -eu
out=${1:?usage: pe_fixtures.sh OUTDIR}
CC=${MINGW_CC:-x86_64-w64-mingw32-gcc}
RC=${MINGW_WINDRES:-x86_64-w64-mingw32-windres}
mkdir -p "$out"
tmp="$out/src"
rm -rf "$tmp"; mkdir -p "$tmp"
rm -f "$out"/*.exe "$out"/pe32.skip

printf 'int entry(void) { return 0; }\n' > "$tmp/stub.c"
"$CC" -c -Os "$tmp/stub.c" -o "$tmp/stub.o"

# versioninfo NAME FIXED STRINGS_BLOCK_BODY (empty body: no StringFileInfo)
versioninfo() {
    local name=$1 fixed=$2 body=$3
    {
        echo '#include <winver.h>'
        echo '1 VERSIONINFO'
        echo "FILEVERSION $fixed"
        echo "PRODUCTVERSION $fixed"
        echo 'FILEOS VOS_NT_WINDOWS32'
        echo 'FILETYPE VFT_APP'
        echo 'BEGIN'
        if [ -n "$body" ]; then
            echo '  BLOCK "StringFileInfo"'
            echo '  BEGIN'
            echo '    BLOCK "040904b0"'
            echo '    BEGIN'
            echo '      VALUE "CompanyName", "Kanade test"'
            printf '%s\n' "$body"
            echo '    END'
            echo '  END'
        fi
        echo '  BLOCK "VarFileInfo"'
        echo '  BEGIN'
        echo '    VALUE "Translation", 0x409, 1200'
        echo '  END'
        echo 'END'
    } > "$tmp/$name.rc"
}

# link NAME: NAME.rc (if any) + the stub -> OUTDIR/NAME.exe
link() {
    local name=$1 objs="$tmp/stub.o"
    if [ -f "$tmp/$name.rc" ]; then
        "$RC" "$tmp/$name.rc" -O coff -o "$tmp/$name-res.o"
        objs="$objs $tmp/$name-res.o"
    fi
    # shellcheck disable=SC2086
    "$CC" -nostdlib -Wl,-e,entry -s -o "$out/$name.exe" $objs
}

versioninfo strings_only  '0,0,0,0' '      VALUE "ProductVersion", "3.1.4"
      VALUE "FileVersion", "3.1.4-file"'
versioninfo fixed_only    '1,2,3,0' ''
versioninfo fixed_d       '1,2,3,4' ''
versioninfo disagree      '1,2,3,4' '      VALUE "FileVersion", "1.2.3.4"
      VALUE "ProductVersion", "2.0.0-beta"'
versioninfo file_only     '9,9,9,9' '      VALUE "FileVersion", "5.6.7"'
versioninfo spaces        '0,0,0,0' '      VALUE "ProductVersion", "  4.5.6  "'
versioninfo empty_product '0,0,0,0' '      VALUE "ProductVersion", "   "
      VALUE "FileVersion", "7.7.7"'
versioninfo empty_strings '8,0,1,0' '      VALUE "ProductVersion", ""
      VALUE "FileVersion", " "'
versioninfo unicode       '0,0,0,0' '      VALUE "ProductVersion", L"1.0-\x00e9\xd83d\xde00"'
printf '1 RCDATA { "not a version" }\n' > "$tmp/no_version.rc"
for n in strings_only fixed_only fixed_d disagree file_only spaces empty_product \
         empty_strings unicode no_version no_rsrc; do
    link "$n"
done

versioninfo pe32 '0,0,0,0' '      VALUE "ProductVersion", "32.0.1"'
if command -v i686-w64-mingw32-gcc >/dev/null 2>&1 && command -v i686-w64-mingw32-windres >/dev/null 2>&1; then
    i686-w64-mingw32-gcc -c -Os "$tmp/stub.c" -o "$tmp/stub32.o"
    i686-w64-mingw32-windres "$tmp/pe32.rc" -O coff -o "$tmp/pe32-res.o"
    i686-w64-mingw32-gcc -nostdlib -Wl,-e,_entry -s -o "$out/pe32.exe" "$tmp/stub32.o" "$tmp/pe32-res.o"
else
    link pe32
    mv "$out/pe32.exe" "$tmp/pe32-64.exe"
    if ! x86_64-w64-mingw32-objcopy -O pei-i386 "$tmp/pe32-64.exe" "$out/pe32.exe" 2>"$tmp/pe32.err"; then
        rm -f "$out/pe32.exe"
        echo "no i686-w64-mingw32-gcc and objcopy -O pei-i386 failed: $(head -c 200 "$tmp/pe32.err")" > "$out/pe32.skip"
    fi
fi
echo "pe_fixtures: $(ls "$out"/*.exe | wc -l) fixture exes in $out"
