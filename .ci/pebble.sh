#!/usr/bin/env bash
# Builds Pebble v2.10.1 (the ACME test CA) and pebble-challtestsrv into
# $KEYAUDIT_TOOLS/bin, and copies Pebble's own HTTPS certificate, key and
# the CA that signed them (shipped in the module's test/certs) into
# $KEYAUDIT_TOOLS/pebble, so tests need no module cache at run time.
# Idempotent: nothing present is rebuilt or recopied.
set -euo pipefail

VERSION=v2.10.1
TOOLS="${KEYAUDIT_TOOLS:-$HOME/.cache/keyaudit-tools}"
BIN="$TOOLS/bin"
CERTS="$TOOLS/pebble"
mkdir -p "$BIN" "$CERTS"
export GOBIN="$BIN"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"

pkgs=()
for b in pebble pebble-challtestsrv; do
  if [ -x "$BIN/$b" ]; then
    echo "pebble.sh: $b already built" >&2
  else
    pkgs+=("github.com/letsencrypt/pebble/v2/cmd/$b@$VERSION")
  fi
done
if [ ${#pkgs[@]} -gt 0 ]; then
  go install "${pkgs[@]}"
  echo "pebble.sh: built ${pkgs[*]}" >&2
fi

if [ ! -s "$CERTS/cert.pem" ] || [ ! -s "$CERTS/key.pem" ] || [ ! -s "$CERTS/pebble.minica.pem" ]; then
  src="$(go env GOMODCACHE)/github.com/letsencrypt/pebble/v2@$VERSION/test/certs"
  if [ ! -d "$src" ]; then
    # go install does not always leave the module extracted: fetch it.
    (cd "$(mktemp -d)" && go mod download -x "github.com/letsencrypt/pebble/v2@$VERSION" >/dev/null 2>&1) || true
  fi
  if [ ! -d "$src" ]; then
    echo "pebble.sh: $src missing after download" >&2
    exit 1
  fi
  cp -f "$src/localhost/cert.pem" "$src/localhost/key.pem" "$src/pebble.minica.pem" "$CERTS/"
  chmod 0644 "$CERTS"/*.pem
  echo "pebble.sh: copied Pebble's HTTPS certificate to $CERTS" >&2
fi
echo "$BIN"
