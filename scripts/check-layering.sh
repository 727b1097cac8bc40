#!/bin/bash
# check-layering.sh [ROOT] — checks that every #include in ROOT/formats and
# ROOT/orchestrator (default: the source tree) keeps to the architecture
# (docs/architecture.md). Prints each offending line as FILE:LINE and fails.
#
# The rules, in words:
#   1. formats/ is pure data transformation: it includes only its own
#      headers, and no orchestrator, libvirt or libguestfs header.
#   2. orchestrator/ is one folder per layer and holds no source of its own.
#      A layer includes only its own headers and those of the layers below it:
#        cli/                     on top: may include every layer
#        fleet/                   many builds over several hosts: build/ (whose
#                                 processes it runs and places) and below it
#        build/, backup/,         the pipelines: the stages and everything
#        publish/                 below them, never cli/ and never each other
#        install/, import/,       the stages: recipe/, the adapters, util/;
#        customize/               never cli/, a pipeline or another stage
#        virt/, guestfs/,         the adapters: util/ only, no stage header
#        openstack/
#        recipe/                  util/ and formats/
#        util/                    formats/ only, no stage header
#   3. recipe/, util/ (and formats/) include no libvirt or libguestfs header:
#      they build and run without a hypervisor (the fuzzers link them).
#   4. A header of another folder is named with its folder
#      ("util/progress.h", "formats/engine.h"); a bare name is one of the
#      including file's own folder (or the generated vmforge-config.h).
set -u
root=${1:-$(dirname "$0")/..}

# Rule 2 as data: LAYER: the folders it may include besides its own.
rules='
formats:
util: formats
recipe: util formats
virt: util
guestfs: util
openstack: util
install: recipe virt util formats
import: recipe guestfs util formats
customize: recipe virt guestfs util formats
build: install import customize recipe virt guestfs util formats
backup: customize recipe virt guestfs util formats
publish: openstack recipe virt util formats
fleet: build install import customize recipe virt guestfs util formats
cli: fleet build backup publish install import customize recipe virt guestfs openstack util formats
'
# Rules 1 and 3: the layers that include no hypervisor library.
no_hypervisor='formats util recipe'

declare -A may
while read -r layer list; do
    [ -n "$layer" ] && may[${layer%:}]=" $list "
done <<<"$rules"

allowed() { # allowed LAYER FOLDER
    [ "$1" = "$2" ] || [[ ${may[$1]} == *" $2 "* ]]
}

known_layer() {
    [ -n "${may[$1]+set}" ]
}

status=0
bad() { # bad FILE LINE MESSAGE
    echo "$1:$2: $3" >&2
    status=1
}

# check_includes LAYER FILE...: every #include line of the files, in one grep.
check_includes() {
    local layer=$1 file dir n line target folder
    shift
    [ $# -gt 0 ] || return 0
    while IFS=: read -r file n line; do
        dir=${file%/*}
        if [[ $line =~ ^[[:space:]]*#[[:space:]]*include[[:space:]]*\<([^>]+)\> ]]; then
            target=${BASH_REMATCH[1]}
            case " $no_hypervisor " in *" $layer "*)
                case "$target" in libvirt/* | guestfs.h | libguestfs/*)
                    bad "$file" "$n" "$layer/ must not include <$target>: it builds without libvirt and libguestfs"
                    ;;
                esac
                ;;
            esac
        elif [[ $line =~ ^[[:space:]]*#[[:space:]]*include[[:space:]]*\"([^\"]+)\" ]]; then
            target=${BASH_REMATCH[1]}
            if [[ $target != */* ]]; then
                [ "$target" = vmforge-config.h ] || [ -f "$dir/$target" ] ||
                    bad "$file" "$n" "\"$target\" is not in $layer/: name its folder (\"FOLDER/$target\")"
                continue
            fi
            folder=${target%%/*}
            if ! known_layer "$folder"; then
                bad "$file" "$n" "\"$target\": $folder/ is not a layer (see the rules in $0)"
            elif ! allowed "$layer" "$folder"; then
                bad "$file" "$n" "$layer/ must not include \"$target\": $layer/ may use only$(printf '%s' "${may[$layer]:- nothing else}" | sed 's/ *$//')"
            elif [ ! -f "$root/$target" ] && [ ! -f "$root/orchestrator/$target" ]; then
                bad "$file" "$n" "\"$target\" does not exist"
            fi
        fi
    done < <(grep -H -n '^[[:space:]]*#[[:space:]]*include' "$@")
}

shopt -s nullglob
check_includes formats "$root"/formats/*.[ch]
for f in "$root"/orchestrator/*.c "$root"/orchestrator/*.h; do
    bad "$f" 1 "orchestrator/ holds only its layers' folders: move this file into one"
done
for d in "$root"/orchestrator/*/; do
    layer=$(basename "$d")
    if ! known_layer "$layer"; then
        bad "$d" 1 "orchestrator/$layer/ is not a layer: add it to the rules of $0 (and docs/architecture.md)"
        continue
    fi
    check_includes "$layer" "$d"*.[ch]
done
[ $status = 0 ] || echo "layering: see the rules at the top of $0 and docs/architecture.md" >&2
exit $status
