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
  . scripts/throwaway-pg.sh
  pg_available || { echo "bench-scale: PostgreSQL 15 not installed (bash .ci/install.sh installs it)" >&2; exit 2; }
  trap pg_stop EXIT
  pg_start keyaudit-scalebench "bin/keyaudit-scalebench freeport"
  DSN=$PG_DSN
fi
bin/keyaudit-scalebench -keyaudit bin/keyaudit -store "$DSN" "$@"
