#!/usr/bin/env bash
# deploy/compose/make-secrets.sh [DIR] - make the secret files docker-compose.yml mounts, in DIR
# (default $FLASHSALE_SECRETS_DIR, else deploy/compose/secrets), keeping those that exist:
# random hex passwords and keys (openssl rand), and, unless DIR already has a certificate, a
# self-signed one from the local stack's CA code (deploy/lib/tls.sh) for localhost only: replace
# tls_fullchain.pem and tls_privkey.pem with your real certificate chain and key.
# DIR is mode 700; the files mode 644 inside it (the TLS key 600) (see docs/DEPLOY.md, "Secrets": the containers'
# users differ, and a compose secret keeps the host file's owner and mode).
set -euo pipefail
# shellcheck source=deploy/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../local/lib.sh"

dir="${1:-${FLASHSALE_SECRETS_DIR:-$FS_ROOT/deploy/compose/secrets}}"
mkdir -p "$dir"
chmod 700 "$dir"

put() { # NAME BYTES
  [[ -s "$dir/$1" ]] && return 0
  fs_random_hex "$2" >"$dir/$1.tmp"
  printf '\n' >>"$dir/$1.tmp"
  mv -f "$dir/$1.tmp" "$dir/$1"
  fs_log "made $dir/$1"
}
put redis_password 32
put pg_superuser_password 24
put pg_app_password 24
put admin_token 16
put buyer_token_secret 32
put grafana_admin_password 16

if [[ ! -s "$dir/tls_fullchain.pem" || ! -s "$dir/tls_privkey.pem" ]]; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  fs_tls_ensure "$tmp" >/dev/null
  cat "$(fs_tls_dir "$tmp")/server.crt" "$(fs_tls_ca_file "$tmp")" >"$dir/tls_fullchain.pem"
  cp "$(fs_tls_dir "$tmp")/server.key" "$dir/tls_privkey.pem"
  cp "$(fs_tls_ca_file "$tmp")" "$dir/tls_ca.crt"
  fs_log "made a self-signed certificate for localhost in $dir (clients trust $dir/tls_ca.crt)"
fi
chmod 644 "$dir"/*
# Read by nginx's master process only, which runs as root.
chmod 600 "$dir/tls_privkey.pem"
