# shellcheck shell=bash
# deploy/lib/nginx.sh - the nginx gateway (deploy/nginx): render its config for a set of API
# processes, start, reload and stop it. deploy/local/run --with-nginx and tests/gateway use it.
# Sourced by deploy/local/lib.sh.
#
# A gateway lives in a folder DIR: the rendered flashsale.conf, copies of the snippets it
# includes, temp/ and nginx.pid; its logs are LOGDIR/nginx-error.log and nginx-access.log. It
# serves HTTPS only (its plain-HTTP port redirects), with the certificate of deploy/lib/tls.sh.

FS_NGINX_SRC="$FS_ROOT/deploy/nginx"

# fs_nginx_bin - print the nginx binary (/usr/sbin is not on a normal user's PATH); 1 if none.
fs_nginx_bin() {
  local c
  for c in "$(command -v nginx 2>/dev/null || true)" /usr/sbin/nginx; do
    if [[ -n "$c" && -x "$c" ]]; then
      printf '%s' "$c"
      return 0
    fi
  done
  return 1
}

# fs_nginx_user_line DIR - the `user` directive for a gateway whose files live in DIR. Only
# root may switch users; as root the workers run as nobody, unless nobody cannot reach DIR
# (e.g. a checkout under /root, mode 700), where they would fail to write temp files: then
# they stay root, which is acceptable for a gateway that listens on loopback only.
fs_nginx_user_line() {
  fs_is_root || return 0
  local group=nogroup
  getent group nogroup >/dev/null 2>&1 || group=nobody
  if getent passwd nobody >/dev/null 2>&1 && getent group "$group" >/dev/null 2>&1 &&
    runuser -u nobody -- test -x "$1" -a -r "$1" 2>/dev/null; then
    printf 'user nobody %s;' "$group"
  else
    fs_log "note: user nobody cannot reach $1; nginx workers run as root"
    printf 'user root root;'
  fi
}

# fs_nginx_render [--include FILE]... DIR LOGDIR TLS_HOME LISTEN HTTP_LISTEN UPSTREAM... - write
# DIR/flashsale.conf from deploy/nginx/flashsale.conf.template, with copies of the snippets it
# includes beside it. LISTEN (host:port) serves HTTPS with TLS_HOME's server certificate
# (deploy/lib/tls.sh: fs_tls_ensure TLS_HOME first); HTTP_LISTEN (host:port) answers every
# request with a 308 redirect to LISTEN's port. Each UPSTREAM is a host:port of an API process.
# Each --include FILE is copied beside the config and included in the HTTPS server block (tests
# use it, e.g. to take the client address from a header). Logs go to LOGDIR/nginx-error.log and
# LOGDIR/nginx-access.log.
fs_nginx_render() {
  local -a extra=()
  while [[ "${1:-}" == --include ]]; do
    extra+=("$2")
    shift 2
  done
  local dir=$1 logdir=$2 tls=$3 listen=$4 http_listen=$5 conf f servers="" up tpl includes=""
  shift 5
  (($#)) || fs_die "fs_nginx_render: no upstream servers"
  [[ "$dir$logdir$tls" != *'"'* ]] || fs_die "nginx paths must not contain a double quote: $dir"
  [[ -s "$(fs_tls_dir "$tls")/server.crt" ]] || fs_die "fs_nginx_render: no certificate in $tls (fs_tls_ensure)"
  fs_ensure_dir "$dir"
  fs_ensure_dir "$dir/temp"
  fs_ensure_dir "$logdir"
  for f in "$FS_NGINX_SRC"/flashsale-*.conf "${extra[@]}"; do
    cp -f "$f" "$dir/"
    chmod 644 "$dir/${f##*/}"
    [[ "$f" == "$FS_NGINX_SRC"/* ]] || includes+="        include ${f##*/};"$'\n'
  done
  for up in "$@"; do
    servers+="        server $up max_fails=1 fail_timeout=5s;"$'\n'
  done
  tpl="$(cat "$FS_NGINX_SRC/flashsale.conf.template")"
  # Quoted replacements: bash 5.2 would otherwise expand & in them.
  tpl="${tpl//@USER@/"$(fs_nginx_user_line "$dir")"}"
  tpl="${tpl//@ERROR_LOG@/"$logdir/nginx-error.log"}"
  tpl="${tpl//@ACCESS_LOG@/"$logdir/nginx-access.log"}"
  tpl="${tpl//@TEMP_DIR@/"$dir/temp"}"
  tpl="${tpl//@LISTEN@/"$listen"}"
  tpl="${tpl//@HTTP_LISTEN@/"$http_listen"}"
  tpl="${tpl//@HTTPS_PORT@/"${listen##*:}"}"
  tpl="${tpl//@TLS_CERT@/"$(fs_tls_dir "$tls")/server.crt"}"
  tpl="${tpl//@TLS_KEY@/"$(fs_tls_dir "$tls")/server.key"}"
  tpl="${tpl//@SERVER_INCLUDES@/"${includes%$'\n'}"}"
  tpl="${tpl//@UPSTREAM_SERVERS@/"${servers%$'\n'}"}"
  conf="$dir/flashsale.conf"
  printf '%s\n' "$tpl" >"$conf.tmp"
  chmod 644 "$conf.tmp"
  mv -f "$conf.tmp" "$conf"
}

# fs_nginx_cmd DIR LOGDIR ARGS... - run nginx on the config in DIR (-p/-c/-e/-g filled in).
fs_nginx_cmd() {
  local dir=$1 logdir=$2 bin
  shift 2
  bin="$(fs_nginx_bin)" || fs_die "nginx not found (apt-get install nginx)"
  "$bin" -p "$dir/" -c "$dir/flashsale.conf" -e "$logdir/nginx-error.log" \
    -g "daemon on; pid \"$dir/nginx.pid\";" "$@"
}

fs_nginx_pid() { fs_read_pidfile "$1/nginx.pid"; }

fs_nginx_alive() { fs_pid_alive "$(fs_nginx_pid "$1")" nginx; }

# fs_nginx_start DIR LOGDIR - check and start the rendered config; 0 once the master runs.
fs_nginx_start() {
  local dir=$1 logdir=$2 log="$2/nginx-error.log" offset i
  touch "$log"
  offset="$(fs_file_size "$log")"
  if ! fs_nginx_cmd "$dir" "$logdir" -q -t </dev/null >>"$log" 2>&1 7>&- 8>&- 9>&-; then
    fs_tail_log "$log" "$offset"
    fs_die "nginx rejected $dir/flashsale.conf"
  fi
  rm -f "$dir/nginx.pid"
  # The master daemonizes itself (its own session) and writes the pid file.
  if ! fs_nginx_cmd "$dir" "$logdir" </dev/null >>"$log" 2>&1 7>&- 8>&- 9>&-; then
    fs_tail_log "$log" "$offset"
    fs_die "nginx failed to start"
  fi
  for ((i = 0; i < 50; i++)); do
    fs_nginx_alive "$dir" && return 0
    sleep 0.1
  done
  fs_tail_log "$log" "$offset"
  fs_die "nginx did not start (no pid file in $dir)"
}

# fs_nginx_reload DIR LOGDIR - check the rendered config and have the running master load it.
fs_nginx_reload() {
  local dir=$1 logdir=$2 log="$2/nginx-error.log" offset
  offset="$(fs_file_size "$log")"
  if ! fs_nginx_cmd "$dir" "$logdir" -q -t </dev/null >>"$log" 2>&1 7>&- 8>&- 9>&-; then
    fs_tail_log "$log" "$offset"
    fs_die "nginx rejected $dir/flashsale.conf"
  fi
  kill -HUP "$(fs_nginx_pid "$dir")"
}

# fs_nginx_stop DIR - stop the master of DIR (TERM: a fast shutdown that also ends WebSockets).
fs_nginx_stop() {
  local pid
  pid="$(fs_nginx_pid "$1")"
  [[ -n "$pid" ]] && fs_kill_pid "$pid" nginx nginx
  rm -f "$1/nginx.pid"
}
