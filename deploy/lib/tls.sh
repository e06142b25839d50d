# shellcheck shell=bash
# deploy/lib/tls.sh - the local stack's TLS material: a self-signed certificate authority and a
# server certificate it signs for localhost, 127.0.0.1 and ::1, made with `openssl`. The nginx
# gateway (deploy/lib/nginx.sh) serves the server certificate; clients (curl --cacert,
# flashsale-ctl --ca-file, the console) trust the CA file. Sourced by deploy/local/lib.sh.
#
# The material of a state folder HOME lives in HOME/tls/ (mode 700):
#
#   ca.key      the CA's private key (EC P-256, mode 600); never leaves this folder
#   ca.crt      the CA certificate (FS_TLS_CA_DAYS, default 3650 days): what clients trust
#   server.key  the server's private key (EC P-256, mode 600), read by nginx's master process
#   server.crt  the server certificate (FS_TLS_SERVER_DAYS, default 90 days), signed by ca.crt,
#               subjectAltName DNS:localhost, IP:127.0.0.1, IP:::1
#
# fs_tls_ensure reuses what is there and renews what is near its end: the CA when it expires
# within FS_TLS_CA_RENEW_DAYS (default 30; a new CA also means a new server certificate, and
# clients must fetch the new ca.crt), the server certificate when it expires within
# FS_TLS_SERVER_RENEW_DAYS (default 14), no longer matches its key, or no longer verifies
# against ca.crt. Rotation by hand: remove HOME/tls/server.* (or the whole folder, CA included)
# and start the stack again.

FS_TLS_CA_DAYS=${FS_TLS_CA_DAYS:-3650}
FS_TLS_SERVER_DAYS=${FS_TLS_SERVER_DAYS:-90}
FS_TLS_CA_RENEW_DAYS=${FS_TLS_CA_RENEW_DAYS:-30}
FS_TLS_SERVER_RENEW_DAYS=${FS_TLS_SERVER_RENEW_DAYS:-14}

fs_tls_dir() { printf '%s/tls' "$1"; }

# fs_tls_ca_file HOME - print the path of HOME's CA certificate (what clients trust).
fs_tls_ca_file() { printf '%s/tls/ca.crt' "$1"; }

# fs_tls_valid_for CERT DAYS - CERT exists, parses, and is still valid DAYS days from now.
fs_tls_valid_for() {
  [[ -s "$1" ]] && openssl x509 -in "$1" -noout -checkend "$(($2 * 86400))" >/dev/null 2>&1
}

# fs_tls_new_key FILE - write a new EC P-256 private key to FILE, mode 600 from the start.
fs_tls_new_key() {
  rm -f "$1"
  (umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" \
    2>/dev/null) || fs_die "openssl could not make a key in $1"
  chmod 600 "$1"
}

# fs_tls_key_matches CERT KEY - the public key of CERT is the one of KEY.
fs_tls_key_matches() {
  local a b
  a="$(openssl x509 -in "$1" -noout -pubkey 2>/dev/null)" || return 1
  b="$(openssl pkey -in "$2" -pubout 2>/dev/null)" || return 1
  [[ -n "$a" && "$a" == "$b" ]]
}

# fs_tls_ensure HOME - make or renew HOME/tls/ as described above; dies when openssl fails.
# Sets FS_TLS_RENEWED to 1 when it wrote a new server certificate (a running nginx must reload).
fs_tls_ensure() {
  local dir ca_key ca_crt key crt csr ext
  dir="$(fs_tls_dir "$1")"
  ca_key="$dir/ca.key" ca_crt="$dir/ca.crt" key="$dir/server.key" crt="$dir/server.crt"
  FS_TLS_RENEWED=0
  fs_require_commands openssl
  mkdir -p "$dir"
  chmod 700 "$dir"

  if [[ ! -s "$ca_key" ]] || ! fs_tls_valid_for "$ca_crt" "$FS_TLS_CA_RENEW_DAYS" ||
    ! fs_tls_key_matches "$ca_crt" "$ca_key"; then
    fs_log "making a local certificate authority in $dir (valid $FS_TLS_CA_DAYS days)"
    fs_tls_new_key "$ca_key"
    openssl req -new -x509 -key "$ca_key" -out "$ca_crt.tmp" -days "$FS_TLS_CA_DAYS" -sha256 \
      -subj "/O=flashsale local stack/CN=flashsale local CA $(date -u +%Y-%m-%d)" \
      -addext 'basicConstraints=critical,CA:TRUE,pathlen:0' \
      -addext 'keyUsage=critical,keyCertSign,cRLSign' \
      -addext 'subjectKeyIdentifier=hash' 2>/dev/null || fs_die "openssl could not make the CA"
    chmod 644 "$ca_crt.tmp"
    mv -f "$ca_crt.tmp" "$ca_crt"
    rm -f "$crt" # signed by the old CA
  fi

  if [[ -s "$key" ]] && fs_tls_valid_for "$crt" "$FS_TLS_SERVER_RENEW_DAYS" &&
    fs_tls_key_matches "$crt" "$key" &&
    openssl verify -CAfile "$ca_crt" "$crt" >/dev/null 2>&1; then
    chmod 600 "$ca_key" "$key"
    return 0
  fi
  fs_log "making the gateway's server certificate in $dir (valid $FS_TLS_SERVER_DAYS days)"
  fs_tls_new_key "$key"
  csr="$dir/server.csr" ext="$dir/server.ext"
  openssl req -new -key "$key" -out "$csr" -subj '/O=flashsale local stack/CN=localhost' \
    2>/dev/null || fs_die "openssl could not make the certificate request"
  cat >"$ext" <<'EOF'
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
authorityKeyIdentifier = keyid
subjectKeyIdentifier = hash
EOF
  openssl x509 -req -in "$csr" -CA "$ca_crt" -CAkey "$ca_key" -CAcreateserial \
    -out "$crt.tmp" -days "$FS_TLS_SERVER_DAYS" -sha256 -extfile "$ext" 2>/dev/null ||
    fs_die "openssl could not sign the server certificate"
  rm -f "$csr" "$ext" "$dir/ca.srl"
  chmod 644 "$crt.tmp"
  mv -f "$crt.tmp" "$crt"
  FS_TLS_RENEWED=1
}
