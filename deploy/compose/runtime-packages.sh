#!/usr/bin/env bash
# deploy/compose/runtime-packages.sh BINARY... - print the Debian packages that hold the shared
# libraries BINARY... load (ldd, then dpkg -S), one a line, sorted. The Dockerfile's build stage
# runs it so that the runtime stage installs exactly those, not a hand-kept list.
set -euo pipefail

(($#)) || {
  echo "usage: $0 BINARY..." >&2
  exit 2
}

# owner PATH - the package that installed PATH. Debian 12 is usr-merged: ldd may name /lib/...
# while dpkg recorded /usr/lib/... (or the other way round), and a path may be a symlink.
owner() {
  local p=$1 c out
  for c in "$p" "$(readlink -f "$p")" "${p#/usr}" "/usr$p"; do
    if out="$(dpkg -S "$c" 2>/dev/null)"; then
      printf '%s\n' "${out%%:*}"
      return 0
    fi
  done
  echo "runtime-packages: no package owns $p" >&2
  return 1
}

declare -A seen=()
for bin in "$@"; do
  [[ -x "$bin" ]] || {
    echo "runtime-packages: $bin is not an executable" >&2
    exit 1
  }
  if ldd "$bin" | grep -q 'not found'; then
    ldd "$bin" >&2
    echo "runtime-packages: $bin has unresolved libraries" >&2
    exit 1
  fi
  while read -r lib; do
    pkg="$(owner "$lib")"
    seen[$pkg]=1
  done < <(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')
done
printf '%s\n' "${!seen[@]}" | sort
