# shellcheck shell=bash
# Variables set here are read by the scripts that call these functions.
# shellcheck disable=SC2034
# deploy/lib/smtp.sh - a local SMTP server that keeps every message it accepts in a maildir, the
# one way a script starts and stops one: python3 -m aiosmtpd (Debian python3-aiosmtpd) with its
# Mailbox handler. Sourced by deploy/local/lib.sh. (The C++ notify tests start their own,
# tests/notify/smtpserver.h.)
#
# A server belongs to a state folder HOME and has a NAME there:
#
#   HOME/NAME.pid        its pid (fs_spawn)
#   HOME/NAME.port       its port, once it listens
#   HOME/logs/NAME.log
#   MAILDIR/new/         one file per message accepted (RFC 5322, as received plus aiosmtpd's
#                        X-Peer, X-MailFrom and X-RcptTo headers); read it with any mail reader
#                        (mutt -f MAILDIR) or cat. It outlives the server.
#
# Callers: deploy/local/run (the local stack's mail, .flashsale/mail, STARTTLS with the local CA's
# certificate) and tests/notify/test_notifykill.sh (a temporary folder; stopped and started again
# on the same port for the "SMTP server down" case).

# The interpreter: Debian's, where python3-aiosmtpd installs (a python3 earlier on PATH, such as
# pyenv's, may not have it).
FS_SMTP_PYTHON=${FLASHSALE_TEST_PYTHON:-/usr/bin/python3}

# fs_smtp_port HOME NAME - print the port of server NAME of HOME (nothing when it has none).
fs_smtp_port() {
  [[ -s "$1/$2.port" ]] || return 0
  head -n 1 "$1/$2.port"
}

# fs_smtp_running HOME NAME - server NAME of HOME runs and listens on its port.
fs_smtp_running() {
  local port
  port="$(fs_smtp_port "$1" "$2")"
  [[ -n "$port" ]] && fs_pid_alive "$(fs_read_pidfile "$1/$2.pid")" aiosmtpd &&
    fs_port_listening "$port"
}

# fs_smtp_start HOME NAME PORT MAILDIR [--tls CERT KEY] - start server NAME of HOME on
# 127.0.0.1:PORT storing into MAILDIR (made when missing). With --tls it offers STARTTLS with
# CERT and KEY (PEM) and refuses mail before it (530). A server NAME of HOME that still runs is
# stopped first. Returns 0 once it listens, 1 (after printing its log's last lines) when aiosmtpd
# is missing or it does not listen within 10 s.
fs_smtp_start() {
  local home=$1 name=$2 port=$3 maildir=$4 i
  shift 4
  local log="$home/logs/$name.log" args=()
  if [[ "${1:-}" == --tls ]]; then
    args+=(--tlscert "$2" --tlskey "$3")
    shift 3
  fi
  "$FS_SMTP_PYTHON" -c 'import aiosmtpd' 2>/dev/null || {
    fs_warn "$FS_SMTP_PYTHON has no aiosmtpd (Debian python3-aiosmtpd)"
    return 1
  }
  fs_ensure_dir "$home/logs"
  # Python's Maildir makes tmp/, new/ and cur/ only for a folder that does not exist yet.
  mkdir -p "$maildir/tmp" "$maildir/new" "$maildir/cur"
  fs_smtp_stop "$home" "$name"
  fs_spawn "$home/$name.pid" "$log" "$FS_SMTP_PYTHON" -m aiosmtpd -n -l "127.0.0.1:$port" \
    "${args[@]}" -c aiosmtpd.handlers.Mailbox "$maildir"
  for ((i = 0; i < 100; i++)); do
    fs_port_listening "$port" && break
    sleep 0.1
  done
  fs_port_listening "$port" || {
    fs_tail_log "$log"
    fs_warn "the SMTP server $name did not listen on 127.0.0.1:$port"
    return 1
  }
  printf '%s\n' "$port" >"$home/$name.port"
}

# fs_smtp_stop HOME NAME - stop server NAME of HOME; always 0, also when none runs. Its port
# file stays, so that a restart can take the same port; its maildir stays.
fs_smtp_stop() {
  local pid
  pid="$(fs_read_pidfile "$1/$2.pid")"
  [[ -n "$pid" ]] && fs_kill_pid "$pid" aiosmtpd "SMTP server $2"
  rm -f "$1/$2.pid"
}

# fs_smtp_count MAILDIR - print how many messages MAILDIR holds.
fs_smtp_count() {
  local files=("$1"/new/* "$1"/cur/*)
  local n=0 f
  for f in "${files[@]}"; do [[ -f "$f" ]] && n=$((n + 1)); done
  printf '%s' "$n"
}
