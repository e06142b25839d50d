#!/usr/bin/env bash
# Layers point one way: a module of shared/ includes only modules of lower layers, in the order
# docs/ARCHITECTURE.md gives under "Layers". Fails, naming file and line, when an #include points
# up or sideways, when a module has no layer, or when the table names a module that does not
# exist. Then proves it can fail: each kind of violation, planted in a copy of the tree, must be
# caught.
#
# Usage: tests/architecture/test_layers.sh [--check ROOT]   (--check: only check ROOT, no self-test)
set -euo pipefail

# shellcheck source=deploy/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../deploy/local/lib.sh"
fs_trap_errors

say() { printf '[layers] %s\n' "$*" >&2; }

# check ROOT - prints one line per violation in ROOT's shared/ against ROOT's docs; 1 if any.
check() {
  local root=$1 doc="$1/docs/ARCHITECTURE.md" line layer mod dir file n inc target bad=0
  local -A layer_of=()
  [[ -f "$doc" ]] || fs_die "no $doc"
  # The table is the first fenced block after the "## Layers" heading: "N  mod/ mod/ ...".
  while IFS= read -r line; do
    read -r layer line <<<"$line"
    for mod in $line; do
      layer_of[${mod%/}]=$layer
    done
  done < <(awk '/^## Layers/ { s = 1; next }
                s == 1 && /^```/ { s = 2; next }
                s == 2 && /^```/ { exit }
                s == 2 && $1 ~ /^[0-9]+$/ { print }' "$doc")
  ((${#layer_of[@]})) || {
    echo "$doc: no layer table under '## Layers'"
    return 1
  }
  for mod in "${!layer_of[@]}"; do
    [[ -d "$root/shared/$mod" ]] || {
      echo "docs/ARCHITECTURE.md: layer table names $mod/, which is not a module of shared/"
      bad=1
    }
  done
  for dir in "$root"/shared/*/; do
    mod=$(basename "$dir")
    [[ -n "${layer_of[$mod]:-}" ]] || {
      echo "shared/$mod/: no layer in docs/ARCHITECTURE.md"
      bad=1
    }
  done
  while IFS=: read -r file n inc; do
    mod=${file#"$root"/shared/}
    mod=${mod%%/*}
    target=${inc#*\"}
    target=${target%%\"*}
    [[ "$target" == */* ]] || continue # the module's own header
    target=${target%%/*}
    [[ "$target" != "$mod" && -n "${layer_of[$mod]:-}" ]] || continue
    if [[ -z "${layer_of[$target]:-}" ]]; then
      echo "${file#"$root"/}:$n includes $target/, which has no layer"
      bad=1
    elif ((layer_of[$target] >= layer_of[$mod])); then
      echo "${file#"$root"/}:$n: $mod/ (layer ${layer_of[$mod]}) includes $target/ (layer ${layer_of[$target]}): not below"
      bad=1
    fi
  done < <(grep -rnE --include='*.h' --include='*.cpp' '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$root/shared")
  return "$bad"
}

if [[ "${1:-}" == --check ]]; then
  check "${2:?usage: $0 --check ROOT}"
  exit
fi

FAILED=0
if OUT=$(check "$FS_ROOT"); then
  say "ok: every #include in shared/ points down a layer"
else
  say "FAILED: includes against the layer order of docs/ARCHITECTURE.md:"
  printf '%s\n' "$OUT" >&2
  FAILED=1
fi

# The self-test: a copy of the tree with one planted violation each must fail, naming it.
DIR="$(mktemp -d "${TMPDIR:-/tmp}/flashsale-layers.XXXXXX")"
trap 'rm -rf "$DIR"' EXIT
# plant NAME EXPECTED EDIT - copy the tree, apply EDIT (a shell snippet run in the copy), and
# expect check to fail with a line matching EXPECTED.
plant() {
  local name=$1 expected=$2 edit=$3 copy="$DIR/$1" out
  mkdir -p "$copy/docs"
  cp -r "$FS_ROOT/shared" "$copy/"
  cp "$FS_ROOT/docs/ARCHITECTURE.md" "$copy/docs/"
  (cd "$copy" && eval "$edit")
  if out=$(check "$copy"); then
    say "FAILED: planted $name passed the check"
    FAILED=1
  elif grep -qE -- "$expected" <<<"$out"; then
    say "ok: planted $name is caught"
  else
    say "FAILED: planted $name failed without naming it; got: $out"
    FAILED=1
  fi
}
plant "upward include" 'shared/core/logging.h:[0-9]+: core/ \(layer [0-9]+\) includes api/' \
  'printf "#include \"api/apiroutes.h\"\n" >>shared/core/logging.h'
plant "sideways include" 'shared/payment/[a-z]+\.cpp:[0-9]+: payment/ .* includes worker/' \
  'f=$(ls shared/payment/*.cpp | head -1); printf "#include \"worker/streamworker.h\"\n" >>"$f"'
plant "module without a layer" 'shared/newmodule/: no layer' \
  'mkdir shared/newmodule && printf "#include \"core/result.h\"\n" >shared/newmodule/a.cpp'
plant "table naming no module" 'names gone/' \
  'sed -i "/^## Layers/,/^\`\`\`\$/!b; /^\`\`\`\$/a 99 gone/" docs/ARCHITECTURE.md'

exit "$FAILED"
