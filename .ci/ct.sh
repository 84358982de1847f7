#!/usr/bin/env bash
# Builds the Certificate Transparency log binaries the ctlog integration tests start:
#   posix (TesseraCT, static-ct-api), trillian_log_server, trillian_log_signer, createtree,
#   ct_server (CTFE, RFC 6962).
# Idempotent: a binary already present in $KEYAUDIT_TOOLS/bin is not rebuilt.
# Cold builds take ≈97 s (TesseraCT) and ≈280 s (Trillian + CTFE).
set -euo pipefail

TOOLS="${KEYAUDIT_TOOLS:-$HOME/.cache/keyaudit-tools}"
BIN="$TOOLS/bin"
mkdir -p "$BIN"
export GOBIN="$BIN"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"

need() { [ -x "$BIN/$1" ] && echo "ct.sh: $1 already built" >&2 && return 1; return 0; }

pids=()
if need posix; then
  ( go install github.com/transparency-dev/tesseract/cmd/tesseract/posix@v0.1.1 \
      && echo "ct.sh: built posix" >&2 ) &
  pids+=($!)
fi

trillian=()
for b in trillian_log_server trillian_log_signer createtree; do
  if need "$b"; then trillian+=("github.com/google/trillian/cmd/$b@v1.7.2"); fi
done
if [ ${#trillian[@]} -gt 0 ]; then
  ( go install "${trillian[@]}" && echo "ct.sh: built ${trillian[*]}" >&2 ) &
  pids+=($!)
fi
if need ct_server; then
  ( go install github.com/google/certificate-transparency-go/trillian/ctfe/ct_server@v1.4.0 \
      && echo "ct.sh: built ct_server" >&2 ) &
  pids+=($!)
fi

rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
[ $rc -eq 0 ] || { echo "ct.sh: a build failed" >&2; exit 1; }
# Trillian's PostgreSQL schema, for the tests (no network needed at test time).
if [ ! -f "$TOOLS/trillian-postgresql.sql" ]; then
  dir="$(GOFLAGS=-mod=mod go mod download -json github.com/google/trillian@v1.7.2 | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  cp -f "$dir/storage/postgresql/schema/storage.sql" "$TOOLS/trillian-postgresql.sql"
fi
echo "ct.sh: tools in $BIN" >&2
