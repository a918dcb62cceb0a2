#!/usr/bin/env bash
# The folders depend one way (issue 12): common is the base;
# kernels and datasets build on common alone; variants/core on kernels, datasets and common;
# harness on datasets and common. Every quoted #include of every source is resolved (relative
# to its file, else to the repository root, as -I. does) and checked against its folder's
# allowed set; a violation names the file, the line and the header.
set -u
cd "$(dirname "$0")/../.."
allowed() {  # folder of the including file -> folders it may include
    case $1 in
        common) echo "common" ;;
        kernels) echo "kernels common" ;;
        datasets) echo "datasets common" ;;
        variants) echo "variants kernels datasets common" ;;
        harness) echo "harness datasets common" ;;
    esac
}
fail=0 checked=0
for top in common kernels datasets variants harness; do
    while IFS= read -r f; do
        dir=$(dirname "$f")
        while IFS=: read -r line inc; do
            [ -n "$inc" ] || continue
            if [ -e "$dir/$inc" ]; then path=$(realpath --relative-to=. "$dir/$inc")
            elif [ -e "$inc" ]; then path=$(realpath --relative-to=. "$inc")
            else echo "FAIL $f:$line includes \"$inc\", which does not resolve"; fail=1; continue; fi
            target=${path%%/*}
            checked=$((checked + 1))
            ok=0
            for a in $(allowed "$top"); do [ "$target" = "$a" ] && ok=1; done
            if [ $ok = 0 ]; then
                echo "FAIL $f:$line ($top/) includes $path ($target/), outside $(allowed "$top")"; fail=1
            fi
        done < <(grep -n '^#include "' "$f" | sed -E 's/^([0-9]+):#include "([^"]+)".*/\1:\2/')
    done < <(find $top -name '*.c' -o -name '*.h' -o -name '*.cu' -o -name '*.cuh' | sort)
done
if [ $fail = 0 ]; then echo "PASS layering: $checked project includes of common, kernels, datasets, variants and harness stay within their allowed folders"; fi
# The link order of the Makefile needs no --start-group (a cycle would need one).
if grep -v '^[[:space:]]*#' Makefile tests/tests.mk | grep -q -- '--start-group'; then echo "FAIL layering: the Makefile links with --start-group"; fail=1
else echo "PASS layering: no --start-group in the link lines"; fi
exit $fail
