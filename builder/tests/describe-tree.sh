#!/bin/sh
# Describes a tree, one line per path, for comparing an extracted or mounted
# tree with the one that was packed:
#   path|type|mode|uid|gid|mtime|size-or-target-or-rdev|content-hash
# Directory sizes and link counts are left out (they depend on the filesystem).
set -eu
cd "$1"
find . ! -name . | LC_ALL=C sort | while IFS= read -r p; do
    line=$(stat -c '%n|%F|%a|%u|%g|%Y' -- "$p")
    if [ -L "$p" ]; then
        line="$line|$(readlink -- "$p")|"
    elif [ -b "$p" ] || [ -c "$p" ]; then
        line="$line|$(stat -c '%t:%T' -- "$p")|"
    elif [ -f "$p" ]; then
        line="$line|$(stat -c '%s/%h' -- "$p")|$(sha256sum < "$p" | cut -c1-16)"
    else
        line="$line||"
    fi
    printf '%s\n' "$line"
done
