#!/usr/bin/env bash
# include-graph.sh — prints which src/ file includes which project header,
# grouped by layer, and checks the layering rules (docs/design.md, "Modules
# and layers"). Exit 0 when every rule holds, 1 with one line per violation.
#
# Layers, lowest first:
#   pure       PURE_SRC in sources.mk: parsers, crypto, JSON, scope logic
#   win32      the Win32 boundary: win, log, tls, service
#   nats       the connection: nats_glue, nats_api (nats.h, nats_int.h)
#   jetstream  jetstream, kv, objstore, rollout_kv
#   agent      kanade-agent.exe only (AGENT_SRC, except service)
#   cli        kanade.exe only (CLI_SRC)
# Rules:
#   1. a pure file (.c or .h) includes only pure project headers and the
#      C standard headers, bearssl.h and jsmn.h: no windows.h, no Win32 module
#   2. a file includes no project header of a higher layer
#   3. nothing outside the CLI includes cli*.h; the CLI includes no agent header
# A new file in WIN_SRC that the table below does not name is placed in the
# jetstream layer (it may include every shared layer) and named in a note.
#
# Usage: scripts/include-graph.sh [-q]    (-q: violations and notes only)
set -uo pipefail
cd "$(dirname "$0")/.."
QUIET=${1:-}

# The variable's value from sources.mk (continuation lines joined).
mk_list() {
    sed -e ':a' -e '/\\$/N; s/\\\n/ /; ta' sources.mk | sed -n "s/^$1[[:space:]]*=//p" | tr -s ' \t' '\n' |
        sed -n 's#^src/\(.*\)\.c$#\1#p'
}

declare -A LAYER RANK=([pure]=0 [win32]=1 [nats]=2 [jetstream]=3 [agent]=4 [cli]=4)
NOTES=()
for m in $(mk_list PURE_SRC); do LAYER[$m]=pure; done
for m in $(mk_list WIN_SRC); do
    case $m in
        win|log|tls) LAYER[$m]=win32 ;;
        nats_glue|nats_api|nats_srv) LAYER[$m]=nats ;;
        jetstream|kv|objstore|rollout_kv) LAYER[$m]=jetstream ;;
        *) LAYER[$m]=jetstream; NOTES+=("note: $m.c (WIN_SRC) is not placed in scripts/include-graph.sh; checked as jetstream") ;;
    esac
done
for m in $(mk_list AGENT_SRC); do
    case $m in service) LAYER[$m]=win32 ;; *) LAYER[$m]=agent ;; esac
done
for m in $(mk_list CLI_SRC); do LAYER[$m]=cli; done

# The layer of a project header: its module's, or by name for headers that
# belong to several files (nats.h, nats_int.h, cli.h, upd_int.h), or are
# generated for one (web_assets.h: the fleet page, for cli_serve.c).
header_layer() {
    local h=${1%.h}
    if [ -n "${LAYER[$h]:-}" ]; then echo "${LAYER[$h]}"; return; fi
    case $h in
        nats|nats_*) echo nats ;;
        cli|cli_*|web_assets) echo cli ;;
        upd|upd_*|update|agent|agent_*) echo agent ;;
        *) echo unknown ;;
    esac
}

PURE_SYS=' assert.h ctype.h errno.h float.h inttypes.h limits.h math.h stdarg.h stdbool.h stddef.h stdint.h stdio.h stdlib.h string.h time.h wchar.h bearssl.h jsmn.h '
BAD=0
violation() { echo "include-graph: VIOLATION: $*"; BAD=1; }

check_file() {
    local f=$1 layer=$2 inc hl
    local base; base=$(basename "$f")
    local edges=()
    while IFS= read -r inc; do
        case $inc in
            \<*)
                inc=${inc#<}; inc=${inc%>}
                if [ "$layer" = pure ] && [[ $PURE_SYS != *" $inc "* ]]; then
                    violation "$f is pure and includes <$inc> (pure files include only C standard headers, bearssl.h and jsmn.h)"
                fi ;;
            \"*)
                inc=${inc#\"}; inc=${inc%\"}
                [ -f "src/$inc" ] || continue         # jsmn.h and other dependency headers
                [ "$inc" = "$base" ] && continue
                hl=$(header_layer "$inc")
                edges+=("$inc")
                if [ "$hl" = unknown ]; then
                    NOTES+=("note: $inc is included by $f but belongs to no module in sources.mk")
                    continue
                fi
                if [ "$layer" = pure ] && [ "$hl" != pure ]; then
                    violation "$f is pure and includes $inc ($hl layer)"
                elif [ "$layer" != cli ] && [ "$hl" = cli ]; then
                    violation "$f ($layer layer) includes the CLI header $inc"
                elif [ "$layer" = cli ] && [ "$hl" = agent ]; then
                    violation "$f (cli layer) includes the agent header $inc"
                elif [ "${RANK[$hl]}" -gt "${RANK[$layer]}" ]; then
                    violation "$f ($layer layer) includes $inc from the higher $hl layer"
                fi ;;
        esac
    done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*\([<"][^>"]*[>"]\).*/\1/p' "$f")
    [ -z "$QUIET" ] && printf '  %-16s -> %s\n' "$base" "${edges[*]:-(none)}"
}

for layer in pure win32 nats jetstream agent cli; do
    [ -z "$QUIET" ] && echo "$layer:"
    for m in $(printf '%s\n' "${!LAYER[@]}" | sort); do
        [ "${LAYER[$m]}" = "$layer" ] || continue
        [ -f "src/$m.h" ] && check_file "src/$m.h" "$layer"
        check_file "src/$m.c" "$layer"
    done
    # Headers shared by several files of this layer (nats.h, cli.h, *_int.h).
    for h in src/*.h; do
        b=$(basename "$h" .h)
        [ -n "${LAYER[$b]:-}" ] && continue
        [ "$(header_layer "$b.h")" = "$layer" ] && check_file "$h" "$layer"
    done
done
for n in "${NOTES[@]}"; do echo "include-graph: $n"; done
if [ "$BAD" -eq 0 ]; then
    [ -z "$QUIET" ] && echo "include-graph: layering rules hold"
    exit 0
fi
exit 1
