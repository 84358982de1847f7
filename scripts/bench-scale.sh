#!/usr/bin/env bash
# Scale benchmark: 65,536 loopback endpoints (127.30.0.0/16, port 4433; one
# address in 64 serves TLS, the rest are closed) scanned by the real
# keyaudit binary into PostgreSQL — by one process, then by two shard
# processes of one run group — plus PostgreSQL's bare write rate, and peak
# RSS as the target space grows (/18 to /14: 16,384 to 262,144 endpoints).
#
# Uses $KEYAUDIT_BENCH_STORE (a postgres:// URL) when set; otherwise starts
# a throwaway PostgreSQL 15 (Debian's, default durability settings) in a
# temp dir on 127.0.0.1 and stops it at the end. Loopback only. Takes about
# a minute on 2 cores.
#
#   bash scripts/bench-scale.sh
#   SCALEBENCH_JSON=out.json bash scripts/bench-scale.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ulimit -n 65536 2>/dev/null || true
export GOFLAGS="${GOFLAGS:--buildvcs=false}"
go build -o bin/keyaudit ./cmd/keyaudit
go build -o bin/keyaudit-scalebench ./cmd/keyaudit-scalebench

DSN="${KEYAUDIT_BENCH_STORE:-}"
if [ -z "$DSN" ]; then
  PGBIN=/usr/lib/postgresql/15/bin
  [ -x "$PGBIN/initdb" ] || { echo "bench-scale: PostgreSQL 15 not installed (bash .ci/install.sh installs it)" >&2; exit 2; }
  T="$(mktemp -d /tmp/keyaudit-scalebench-XXXXXX)"
  chmod 755 "$T"
  mkdir "$T/data" "$T/sock"
  AS=(sh -c)
  if [ "$(id -u)" = 0 ]; then
    chown postgres:postgres "$T/data" "$T/sock"
    AS=(su postgres -s /bin/sh -c)
  fi
  "${AS[@]}" "'$PGBIN/initdb' -D '$T/data' -A trust -U postgres --no-sync -E UTF8 --locale=C" >/dev/null
  # A free port: let the kernel pick one.
  PORT="$(bin/keyaudit-scalebench freeport 2>/dev/null || echo 55432)"
  cat >>"$T/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$T/sock'
max_connections = 200
log_min_messages = warning
CONF
  touch "$T/pg.log"; [ "$(id -u)" = 0 ] && chown postgres:postgres "$T/pg.log"
  "${AS[@]}" "'$PGBIN/pg_ctl' -D '$T/data' -l '$T/pg.log' -w -t 60 start" >/dev/null
  cleanup() {
    "${AS[@]}" "'$PGBIN/pg_ctl' -D '$T/data' -m fast -w stop" >/dev/null 2>&1 || true
    rm -rf "$T"
  }
  trap cleanup EXIT
  DSN="postgres://postgres@127.0.0.1:$PORT/postgres?sslmode=disable"
fi
bin/keyaudit-scalebench -keyaudit bin/keyaudit -store "$DSN" "$@"
