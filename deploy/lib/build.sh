# shellcheck shell=bash
# Variables set here are read by the scripts that call these functions.
# shellcheck disable=SC2034
# deploy/lib/build.sh - configure and build the checkout in build/ (FS_BUILD_DIR), and find the
# server binary. Sourced by deploy/local/lib.sh.

# fs_build - configure, then compile; dies on a failure of either.
fs_build() {
  fs_configure
  fs_compile
}

# fs_configure - CMake's configure step (RelWithDebInfo, through ccache); dies when it fails.
fs_configure() {
  [[ -f "$FS_ROOT/CMakeLists.txt" ]] || fs_die "no CMakeLists.txt in $FS_ROOT; nothing to build"
  fs_log "configuring ($FS_BUILD_DIR)"
  cmake -S "$FS_ROOT" -B "$FS_BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_COMPILER_LAUNCHER=ccache </dev/null || fs_die "cmake configure failed"
}

# fs_compile - build everything with FLASHSALE_BUILD_JOBS jobs (default: one per core); dies
# when the build fails.
fs_compile() {
  local jobs
  jobs="${FLASHSALE_BUILD_JOBS:-$(nproc 2>/dev/null || echo 2)}"
  fs_log "building with $jobs jobs"
  cmake --build "$FS_BUILD_DIR" -j "$jobs" </dev/null || fs_die "build failed"
}

# fs_resolve_server_bin - set FS_SERVER_BIN to the built server binary:
# $FLASHSALE_LOCAL_SERVER_BIN if set, else build/bin/flashsale-server. 1 if there is none.
fs_resolve_server_bin() {
  local c
  for c in "${FLASHSALE_LOCAL_SERVER_BIN:-}" "$FS_BUILD_DIR/bin/flashsale-server"; do
    if [[ -n "$c" && -f "$c" && -x "$c" ]]; then
      FS_SERVER_BIN=$c
      return 0
    fi
  done
  return 1
}
