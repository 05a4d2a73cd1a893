#!/usr/bin/env bash
# Runs a real KMIP server (Debian's python3-pykmip) on loopback for Silo's kmip provider in development.
#
#   src/scripts/kmip-dev.sh [start]   make certificates once, (re)write the config, start unless running; prints the PID
#   src/scripts/kmip-dev.sh stop      stop it (SIGINT: PyKMIP 0.10 may ignore SIGTERM)
#   src/scripts/kmip-dev.sh status    print the PID if running
#
# Environment: SILO_KMIP_DIR (default .silo-data/kmip in the checkout), SILO_KMIP_PORT (default 5696).
# Needs: apt-get install -y python3-pykmip openssl. It runs Debian's /usr/bin/python3 on purpose: a pyenv python
# earlier on PATH does not have the kmip module.
# Point Silo at it with kmsProviders.kmip.endpoint = 127.0.0.1:$SILO_KMIP_PORT and a TLS context made from
# $SILO_KMIP_DIR/client.pem, client.key and ca.pem.
set -euo pipefail

repo="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.." && pwd)"
dir="${SILO_KMIP_DIR:-$repo/.silo-data/kmip}"
port="${SILO_KMIP_PORT:-5696}"
python=/usr/bin/python3
pidfile="$dir/pykmip.pid"

running_pid() {
  if [ -f "$pidfile" ]; then
    local pid
    pid="$(cat "$pidfile")"
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -q kmip "/proc/$pid/cmdline" 2>/dev/null; then
      echo "$pid"
      return 0
    fi
  fi
  return 1
}

make_certs() {
  # Only what is missing, so a second run keeps the CA that clients were configured with.
  umask 077
  if [ ! -f "$dir/ca.pem" ] || [ ! -f "$dir/ca.key" ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 825 -subj "/CN=Silo dev KMIP CA" \
      -keyout "$dir/ca.key" -out "$dir/ca.pem" \
      -addext "basicConstraints=critical,CA:TRUE,pathlen:0" -addext "keyUsage=critical,keyCertSign,cRLSign" \
      2>/dev/null
    rm -f "$dir/server.pem" "$dir/client.pem"
  fi
  if [ ! -f "$dir/server.pem" ]; then
    openssl req -newkey rsa:2048 -nodes -sha256 -subj "/CN=localhost" \
      -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
    printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
      "extendedKeyUsage=serverAuth" "subjectAltName=IP:127.0.0.1,DNS:localhost" >"$dir/server.ext"
    openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial -days 825 \
      -sha256 -extfile "$dir/server.ext" -out "$dir/server.pem" 2>/dev/null
    rm -f "$dir/server.csr" "$dir/server.ext"
  fi
  if [ ! -f "$dir/client.pem" ]; then
    # PyKMIP takes the client identity from the certificate's common name and requires clientAuth usage.
    openssl req -newkey rsa:2048 -nodes -sha256 -subj "/CN=silo-client" \
      -keyout "$dir/client.key" -out "$dir/client.csr" 2>/dev/null
    printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
      "extendedKeyUsage=clientAuth" >"$dir/client.ext"
    openssl x509 -req -in "$dir/client.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial -days 825 \
      -sha256 -extfile "$dir/client.ext" -out "$dir/client.pem" 2>/dev/null
    rm -f "$dir/client.csr" "$dir/client.ext"
  fi
}

write_config() {
  mkdir -p "$dir/policies"
  # TLS1.2 suite with ECDHE-RSA suites that Java 17's default client offers; the default "Basic" suite asks for
  # TLS 1.0-era ciphers that neither Debian's OpenSSL 3 nor Java enable any more.
  cat >"$dir/server.conf" <<EOF
[server]
hostname=127.0.0.1
port=$port
certificate_path=$dir/server.pem
key_path=$dir/server.key
ca_path=$dir/ca.pem
auth_suite=TLS1.2
policy_path=$dir/policies
enable_tls_client_auth=True
tls_cipher_suites=
    TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384
    TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256
    TLS_RSA_WITH_AES_256_CBC_SHA256
    TLS_RSA_WITH_AES_128_CBC_SHA256
logging_level=INFO
database_path=$dir/pykmip.sqlite
EOF
}

wait_ready() {
  local pid="$1"
  for _ in $(seq 1 100); do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "kmip-dev: PyKMIP exited during start-up; see $dir/server.log and $dir/stdout.log" >&2
      tail -n 20 "$dir/stdout.log" >&2 || true
      return 1
    fi
    if echo | timeout 5 openssl s_client -connect "127.0.0.1:$port" -CAfile "$dir/ca.pem" \
      -cert "$dir/client.pem" -key "$dir/client.key" -verify_return_error -brief </dev/null >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.2
  done
  echo "kmip-dev: PyKMIP did not accept TLS on 127.0.0.1:$port within 20 s" >&2
  return 1
}

start() {
  if ! "$python" -c 'import kmip' 2>/dev/null; then
    echo "kmip-dev: $python cannot import kmip; install it with: apt-get install -y python3-pykmip" >&2
    exit 1
  fi
  mkdir -p "$dir"
  if pid="$(running_pid)"; then
    echo "$pid"
    return 0
  fi
  make_certs
  write_config
  # setsid: its own process group, so a Ctrl-C in this shell later does not reach it.
  setsid "$python" -c 'import sys; from kmip.services.server.server import main; sys.exit(main())' \
    -f "$dir/server.conf" -l "$dir/server.log" >"$dir/stdout.log" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$pidfile"
  wait_ready "$pid"
  echo "$pid"
}

stop() {
  if ! pid="$(running_pid)"; then
    rm -f "$pidfile"
    echo "kmip-dev: not running" >&2
    return 0
  fi
  kill -INT "$pid"
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "kmip-dev: PID $pid ignored SIGINT for 10 s; sending SIGKILL" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
  echo "kmip-dev: stopped $pid" >&2
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  status) running_pid || { echo "kmip-dev: not running" >&2; exit 1; } ;;
  *) echo "usage: $0 [start|stop|status]" >&2; exit 2 ;;
esac
