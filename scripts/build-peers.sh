#!/usr/bin/env bash
# Builds the peer scanners that `make bench` compares keyaudit with:
# zgrab2, tlsx and certspotter. They are not dependencies of keyaudit, so
# each is built from its own module: `go mod download -json` gives the
# module's (read-only) folder, a writable copy of it goes to a scratch
# folder, and `go build` of the command there uses the module's own go.mod
# and go.sum. Binaries land in $KEYAUDIT_TOOLS/peers (default
# ~/.cache/keyaudit-tools/peers); one already there is not rebuilt.
# A peer that fails to build is reported and skipped; the exit status is 0
# when at least one peer is available, 1 otherwise.
set -uo pipefail

TOOLS=${KEYAUDIT_TOOLS:-$HOME/.cache/keyaudit-tools}
PEERS=$TOOLS/peers
mkdir -p "$PEERS"
export GOFLAGS=-buildvcs=false
# The peers' go directives are older than the installed Go: build with it.
export GOTOOLCHAIN=local

# name  module@version  package inside the module
PEER_LIST=(
	"zgrab2 github.com/zmap/zgrab2@v1.0.0 ./cmd/zgrab2"
	"tlsx github.com/projectdiscovery/tlsx@v1.2.1 ./cmd/tlsx"
	"certspotter software.sslmate.com/src/certspotter@v0.18.0 ./cmd/certspotter"
)

scratch=$(mktemp -d "${TMPDIR:-/tmp}/keyaudit-peers.XXXXXX")
trap 'chmod -R u+w "$scratch" 2>/dev/null; rm -rf "$scratch"' EXIT

# moddir MODULE@VERSION prints the module's folder in the module cache.
moddir() {
	local out
	out=$(cd "$scratch" && go mod download -json "$1" 2>&1) || {
		echo "$out" >&2
		return 1
	}
	# -json prints "Dir" only when the download succeeded, "Error" otherwise.
	local dir
	dir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p' <<<"$out")
	if [ -z "$dir" ]; then
		sed -n 's/^[[:space:]]*"Error": //p' <<<"$out" >&2
		return 1
	fi
	echo "$dir"
}

built=0 failed=()
for entry in "${PEER_LIST[@]}"; do
	read -r name modver pkg <<<"$entry"
	bin=$PEERS/$name
	stamp=$PEERS/$name.version
	if [ -x "$bin" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$modver" ]; then
		echo "peers: $name ($modver) already built: $bin"
		built=$((built + 1))
		continue
	fi
	echo "peers: building $name from $modver"
	if ! dir=$(moddir "$modver"); then
		echo "peers: $name: go mod download $modver failed (see above); skipping" >&2
		failed+=("$name")
		continue
	fi
	src=$scratch/$name
	cp -r "$dir" "$src" && chmod -R u+w "$src"
	log=$scratch/$name.log
	if (cd "$src" && go build -trimpath -o "$bin.tmp" "$pkg") >"$log" 2>&1; then
		mv "$bin.tmp" "$bin"
		echo "$modver" >"$stamp"
		echo "peers: $name built: $bin"
		built=$((built + 1))
	else
		rm -f "$bin.tmp"
		echo "peers: $name: go build $pkg in $modver failed:" >&2
		tail -n 20 "$log" >&2
		failed+=("$name")
	fi
done

if [ ${#failed[@]} -gt 0 ]; then
	echo "peers: not built: ${failed[*]}" >&2
fi
[ "$built" -gt 0 ]
