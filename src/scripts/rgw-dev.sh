#!/usr/bin/env bash
# Runs a throw-away Ceph RADOS Gateway (a real S3) on loopback for Silo's S3 integration tests.
#
#   src/scripts/rgw-dev.sh start [DIR]   bring up mon + memstore OSD + radosgw in DIR, create two S3 users,
#                                        print the endpoint and the credentials as shell exports
#   src/scripts/rgw-dev.sh env [DIR]     print those exports again (source them: eval "$(... env DIR)")
#   src/scripts/rgw-dev.sh stop [DIR]    stop the three daemons (by their recorded PIDs) and delete DIR's data
#
# DIR defaults to $SILO_RGW_DIR, else .silo-data/rgw in the checkout. Ports: SILO_RGW_PORT (S3) and
# SILO_RGW_MON_PORT (monitor); each defaults to a free loopback port, so several checkouts can run one each.
# Needs: apt-get install -y radosgw ceph-mon ceph-osd ceph-common (Debian's Ceph 16.2; ~70 s, 69 MB).
#
# The recipe is the one measured in ../shared/DESIGN.md: one monitor speaking msgr v1 on 127.0.0.1 with cephx
# (with "auth none" the OSD aborted in 4 of 10 bring-ups), paxos_propose_interval 0.05 so map changes commit fast,
# one OSD on memstore (objects live in RAM, nothing on disk but keys and maps), pool size 1, the seven rgw pools
# made up front in one ceph CLI session (rgw would otherwise create them one by one at start), and radosgw's beast
# frontend with tcp_nodelay=1 (without it every small request waits ~40 ms for Nagle). No systemd, no mgr.
# The users' keys are fixed test values: this S3 holds nothing but test data and is reachable only from loopback.
set -euo pipefail

repo="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.." && pwd)"
cmd="${1:-start}"
dir="${2:-${SILO_RGW_DIR:-$repo/.silo-data/rgw}}"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
conf="$dir/ceph.conf"
envfile="$dir/rgw.env"

# Fixed test identities. User A is the tenant side, user B a stranger for cross-user isolation checks.
user_a=silo-test-a
access_a=SILOTESTA00000000001
secret_a=silo-test-a-secret-0000000000000000000001
user_b=silo-test-b
access_b=SILOTESTB00000000002
secret_b=silo-test-b-secret-0000000000000000000002
# The one KMS key of the testing backend (id=base64 of 32 bytes), fixed like the users' keys.
kms_key_id=silo-test-key
kms_key=c2lsby10ZXN0LWtleS0wMDAwMDAwMDAwMDAwMDAwMDE=

need_packages() {
  local missing=()
  for bin in ceph-mon ceph-osd radosgw radosgw-admin ceph ceph-authtool monmaptool; do
    command -v "$bin" >/dev/null 2>&1 || missing+=("$bin")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "rgw-dev: missing ${missing[*]}; install with: apt-get install -y radosgw ceph-mon ceph-osd ceph-common" >&2
    exit 3
  fi
}

free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

alive() { # pid-file name
  local f="$dir/run/$1.pid" pid
  [ -f "$f" ] || return 1
  pid="$(cat "$f")"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

print_env() {
  [ -f "$envfile" ] || { echo "rgw-dev: not started in $dir" >&2; exit 1; }
  cat "$envfile"
}

stop_all() {
  # radosgw first, then the OSD, the monitor last: each daemon still has its peers while it shuts down.
  local name pid
  for name in radosgw osd mon; do
    if alive "$name"; then
      pid="$(cat "$dir/run/$name.pid")"
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$dir/run/$name.pid"
  done
  # Everything here is disposable (memstore objects die with the OSD anyway); a fresh start is the only mode.
  rm -rf "$dir/mon" "$dir/osd0" "$dir/run" "$dir/keyring" "$dir/monmap" "$dir/ceph.conf" "$envfile"
}

ceph_cli() { ceph -c "$conf" -n client.admin --connect-timeout 20 "$@"; }

start_all() {
  need_packages
  if alive radosgw; then
    print_env
    return 0
  fi
  stop_all
  local t0 port mon_port fsid osd_uuid
  t0=$(date +%s%N)
  port="${SILO_RGW_PORT:-$(free_port)}"
  mon_port="${SILO_RGW_MON_PORT:-$(free_port)}"
  fsid="$(cat /proc/sys/kernel/random/uuid)"
  osd_uuid="$(cat /proc/sys/kernel/random/uuid)"
  mkdir -p "$dir/mon" "$dir/osd0" "$dir/run" "$dir/log"

  cat >"$conf" <<EOF
[global]
fsid = $fsid
mon_host = v1:127.0.0.1:$mon_port
mon_initial_members = a
public_addr = 127.0.0.1
ms_bind_msgr2 = false
ms_bind_ipv6 = false
auth_cluster_required = cephx
auth_service_required = cephx
auth_client_required = cephx
keyring = $dir/keyring
run_dir = $dir/run
admin_socket = $dir/run/\$name.asok
log_file = $dir/log/\$name.log
pid_file = $dir/run/\$name.ceph.pid
paxos_propose_interval = 0.05
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_autoscale_mode = off
osd_crush_chooseleaf_type = 0
osd_objectstore = memstore
memstore_device_bytes = 4294967296
mon_data_avail_warn = 1
mon_data_avail_crit = 0

[mon.a]
mon_data = $dir/mon

[osd.0]
osd_data = $dir/osd0

[client.rgw]
rgw_frontends = beast endpoint=127.0.0.1:$port tcp_nodelay=1
rgw_data = $dir/rgw
rgw_dns_name = 127.0.0.1
rgw_lc_debug_interval = 10
# SSE-KMS with RGW's static "testing" key store, over plain HTTP: RGW 16.2 has no SSE-S3 (AES256 answers 400), so
# this is the only server-side encryption a test can ask for, and what lets a bucket whose policy demands an
# encryption header accept any write at all. Test-only key material, never for real data.
rgw_crypt_require_ssl = false
rgw_crypt_s3_kms_backend = testing
rgw_crypt_s3_kms_encryption_keys = $kms_key_id=$kms_key
EOF

  # All keys in one keyring; mon --mkfs imports them with their caps, so no "auth add" round-trips are needed.
  ceph-authtool --create-keyring "$dir/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  ceph-authtool "$dir/keyring" --gen-key -n client.admin \
    --cap mon 'allow *' --cap osd 'allow *' --cap mds 'allow *' --cap mgr 'allow *' >/dev/null
  ceph-authtool "$dir/keyring" --gen-key -n osd.0 --cap mon 'allow profile osd' --cap osd 'allow *' >/dev/null
  ceph-authtool "$dir/keyring" --gen-key -n client.rgw --cap mon 'allow rw' --cap osd 'allow rwx' >/dev/null
  monmaptool --create --fsid "$fsid" --addv a "[v1:127.0.0.1:$mon_port]" "$dir/monmap" >/dev/null
  ceph-mon -c "$conf" --mkfs -i a --monmap "$dir/monmap" --keyring "$dir/keyring"

  ceph-mon -c "$conf" -i a -f >>"$dir/log/mon.a.out" 2>&1 &
  echo $! >"$dir/run/mon.pid"

  # One CLI session (commands on stdin) for the OSD id and the seven pools: each separate `ceph` call would pay
  # a Python start and a monitor handshake.
  {
    echo "osd new $osd_uuid 0"
    for pool in .rgw.root default.rgw.log default.rgw.control default.rgw.meta \
                default.rgw.buckets.index default.rgw.buckets.data default.rgw.buckets.non-ec; do
      echo "osd pool create $pool 8 8"
      echo "osd pool set $pool size 1 --yes-i-really-mean-it"
      echo "osd pool application enable $pool rgw"
    done
  } | ceph_cli >"$dir/log/ceph-setup.out" 2>&1

  ceph-osd -c "$conf" -i 0 --mkfs --osd-uuid "$osd_uuid" >>"$dir/log/osd.0.out" 2>&1
  ceph-osd -c "$conf" -i 0 -f >>"$dir/log/osd.0.out" 2>&1 &
  echo $! >"$dir/run/osd.pid"

  radosgw -c "$conf" -n client.rgw -f >>"$dir/log/radosgw.out" 2>&1 &
  echo $! >"$dir/run/radosgw.pid"

  # radosgw answers once the OSD has the pools' placement groups active.
  local ok=""
  for _ in $(seq 1 300); do
    if ! alive radosgw; then break; fi
    if curl -s -o /dev/null "http://127.0.0.1:$port/"; then ok=1; break; fi
    sleep 0.1
  done
  if [ -z "$ok" ]; then
    echo "rgw-dev: radosgw did not answer on 127.0.0.1:$port; logs in $dir/log" >&2
    tail -n 20 "$dir/log/radosgw.out" "$dir/log/osd.0.out" >&2 || true
    stop_all
    exit 1
  fi

  radosgw-admin -c "$conf" -n client.admin user create --uid="$user_a" --display-name="Silo test A" \
    --access-key="$access_a" --secret-key="$secret_a" >/dev/null
  radosgw-admin -c "$conf" -n client.admin user create --uid="$user_b" --display-name="Silo test B" \
    --access-key="$access_b" --secret-key="$secret_b" >/dev/null

  cat >"$envfile" <<EOF
export SILO_TEST_RGW_ENDPOINT=http://127.0.0.1:$port
export SILO_TEST_RGW_REGION=us-east-1
export SILO_TEST_RGW_ACCESS_KEY=$access_a
export SILO_TEST_RGW_SECRET_KEY=$secret_a
export SILO_TEST_RGW_ACCESS_KEY_B=$access_b
export SILO_TEST_RGW_SECRET_KEY_B=$secret_b
export SILO_TEST_RGW_KMS_KEY_ID=$kms_key_id
export SILO_TEST_RGW_DIR=$dir
EOF
  cat "$envfile"
  echo "rgw-dev: up in $(( ($(date +%s%N) - t0) / 1000000 )) ms at http://127.0.0.1:$port (data $dir)" >&2
}

case "$cmd" in
  start) start_all ;;
  env) print_env ;;
  stop) stop_all ;;
  *) echo "usage: $0 start|env|stop [DIR]" >&2; exit 2 ;;
esac
