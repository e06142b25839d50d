# shellcheck shell=bash
# deploy/lib/log.sh - messages, and a script that fails saying why. Sourced by deploy/local/lib.sh.
#
# fs_log, fs_warn and fs_die write to stderr with the [flashsale] prefix; fs_die then exits 1.
# (A closed terminal must not abort a cleanup: logging never fails.)

fs_log() { printf '[flashsale] %s\n' "$*" >&2 || true; }
fs_warn() { printf '[flashsale] warning: %s\n' "$*" >&2 || true; }
fs_die() {
  printf '[flashsale] error: %s\n' "$*" >&2
  exit 1
}

# fs_trap_errors - make a script that `set -e` ends say why: the file, line, command and status
# of the failure and the functions it was in. Call it once, after `set -euo pipefail`. (A status
# of 141 is SIGPIPE: a reader such as head or grep -q left a pipe its writer still wrote to.)
fs_trap_errors() {
  set -o errtrace
  trap 'fs_on_error "$?" "$BASH_COMMAND" "${BASH_SOURCE[0]:-}" "$LINENO"' ERR
}

fs_on_error() {
  local rc=$1 cmd=$2 src=${3#"$FS_ROOT"/} line=$4 why="" i stack=""
  [[ $- == *e* ]] || return 0 # a cleanup that ignores errors (set +e): nothing ends here
  ((rc > 128)) && why=" (killed by SIG$(kill -l "$((rc - 128))" 2>/dev/null || echo "$((rc - 128))"))"
  for ((i = 1; i < ${#FUNCNAME[@]} - 1; i++)); do
    stack+=" < ${FUNCNAME[i]} (${BASH_SOURCE[i + 1]#"$FS_ROOT"/}:${BASH_LINENO[i]})"
  done
  printf '[flashsale] error: %s:%s: status %s%s from: %s%s\n' \
    "$src" "$line" "$rc" "$why" "$cmd" "${stack:+ in$stack}" >&2 || true
}

# fs_tail_log FILE [OFFSET] - print the last 40 lines of FILE (from byte OFFSET on) to stderr;
# nothing when FILE does not exist.
fs_tail_log() {
  local file=$1 offset=${2:-0}
  [[ -f "$file" ]] || return 0
  printf '[flashsale] ---- last lines of %s ----\n' "$file" >&2
  tail -c +"$((offset + 1))" "$file" | tail -n 40 >&2 || true
  printf '[flashsale] ----\n' >&2
}
