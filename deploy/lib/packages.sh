# shellcheck shell=bash
# deploy/lib/packages.sh - the Debian packages of the one list (FS_PACKAGES, FS_GATEWAY_PACKAGES
# and FS_COMMANDS in deploy/local/lib.sh): which are declared, installing the missing ones,
# checking that a script's programs are there. Sourced by deploy/local/lib.sh.

# fs_declared_packages - print every package of the lists (FS_PACKAGES, FS_GATEWAY_PACKAGES, ...),
# one a line.
fs_declared_packages() {
  local v
  for v in $(compgen -A arrayvar FS_ | grep -E '^FS_([A-Z]+_)?PACKAGES$' || true); do
    local -n fs_list=$v
    printf '%s\n' "${fs_list[@]}"
    unset -n fs_list
  done
}

# fs_require_commands CMD... - die unless each CMD is installed, naming the Debian package of each
# missing one (from FS_COMMANDS). deploy/local/test installs them all; so does deploy/local/run.
fs_require_commands() {
  local cmd entry pkg d search=$PATH:/usr/sbin:/sbin
  local -a missing=()
  for d in /usr/lib/postgresql/*/bin; do [[ -d "$d" ]] && search+=":$d"; done
  for cmd in "$@"; do
    PATH=$search type -P -- "$cmd" >/dev/null 2>&1 && continue
    pkg=""
    for entry in "${FS_COMMANDS[@]}"; do [[ "${entry%%=*}" == "$cmd" ]] && pkg=${entry#*=}; done
    missing+=("$cmd (package ${pkg:-unknown: add it to FS_COMMANDS})")
  done
  ((${#missing[@]} == 0)) && return 0
  fs_die "not installed: ${missing[*]}. deploy/local/test installs every package in" \
    "deploy/local/lib.sh; or: apt-get install --no-install-recommends <package>"
}

# fs_pkg_installed PKG - 0 when dpkg has PKG installed.
fs_pkg_installed() {
  [[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" == installed ]]
}

# fs_apt_get ARGS... - apt-get as root (through sudo when not root), without questions; apt-get's
# status. Dies when not root and there is no sudo.
fs_apt_get() {
  local -a sudo=()
  if ! fs_is_root; then
    command -v sudo >/dev/null 2>&1 || fs_die "not root and sudo is missing; as root: apt-get $*"
    sudo=(sudo)
  fi
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "$@" </dev/null
}

# fs_ensure_packages - install whatever is missing from FS_PACKAGES (--no-install-recommends);
# dies when apt-get fails. Set FLASHSALE_SKIP_APT=1 to only report missing packages (and die).
fs_ensure_packages() {
  if ! command -v dpkg-query >/dev/null 2>&1; then
    fs_warn "dpkg-query not found (not Debian?); skipping the package check"
    return 0
  fi
  local pkg missing=()
  for pkg in "${FS_PACKAGES[@]}"; do
    fs_pkg_installed "$pkg" || missing+=("$pkg")
  done
  if ((${#missing[@]} == 0)); then
    fs_log "all ${#FS_PACKAGES[@]} Debian packages present"
    return 0
  fi
  fs_log "missing Debian packages: ${missing[*]}"
  if [[ "${FLASHSALE_SKIP_APT:-}" == 1 ]]; then
    fs_die "FLASHSALE_SKIP_APT=1 set; install them yourself: apt-get install ${missing[*]}"
  fi
  fs_log "installing them with apt-get (this may take a while)"
  fs_apt_get update || fs_die "apt-get update failed"
  fs_apt_get install -y --no-install-recommends "${missing[@]}" || fs_die "apt-get install failed"
  for pkg in "${missing[@]}"; do
    fs_pkg_installed "$pkg" || fs_die "package $pkg still not installed"
  done
}
