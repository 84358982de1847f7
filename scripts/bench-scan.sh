#!/usr/bin/env bash
# Scan benchmark: a loopback farm of 1,024 TLS endpoints, scanned by the
# keyaudit scanner (recording every observation as JSON) and by a bare
# crypto/tls handshake loop, at concurrency 50, 200 and 1000; then the
# same scan with 10x the targets to show RSS stays flat.
set -euo pipefail
cd "$(dirname "$0")/.."
ulimit -n 65536 2>/dev/null || true
go build -o bin/keyaudit-bench ./cmd/keyaudit-bench
bin/keyaudit-bench -endpoints "${ENDPOINTS:-1024}" -conc "${CONC:-50,200,1000}" -growth "${GROWTH:-10}"
echo
echo "go test -bench (compare with benchstat):"
go test -run '^$' -bench 'BenchmarkScan|BenchmarkBareHandshake' -benchtime 2000x -count "${COUNT:-1}" ./scanner
