#!/usr/bin/env bash
# Scan benchmark (make bench). Builds keyaudit, keyaudit-bench and the
# peer scanners (scripts/build-peers.sh), then, inside a network namespace
# of its own that has only the loopback interface (unshare -n), starts a
# loopback farm of TLS endpoints (mixed RSA/ECDSA/Ed25519 leaves, chains
# of 1-3 certificates, 70% offering TLS 1.3, 30% stopping at 1.2) and
# times, in alternating rounds: `keyaudit scan`, a bare crypto/tls
# handshake loop, `zgrab2 tls` and `tlsx`, then a growth run (10x the
# endpoints) and a tarpit run (10% of endpoints never answer, 2 s
# timeout). Every target is a loopback address; keyaudit-bench refuses
# anything else.
#
# Knobs (environment):
#   ENDPOINTS=2000       live endpoints in the farm
#   ROUNDS=5             alternating rounds (medians over them)
#   CONC=200             concurrency of the comparison
#   CONC_HIGH=1000       second concurrency for keyaudit and the bare loop (0: skip)
#   GROWTH=10            target growth factor of the RSS check (1: skip)
#   TARPIT_PERCENT=10    share of tarpits in the tarpit run (0: skip)
#   TIMEOUT=10s          per-endpoint timeout (the tarpit run uses TARPIT_TIMEOUT=2s)
#   BENCH_JSON=FILE      also write every sample as JSON
#   KEYAUDIT_REF=REF     measure keyaudit as committed at REF (e.g. HEAD) instead of the working tree
#   KEYAUDIT_BIN=PATH    measure this keyaudit binary
#   REQUIRE_NETNS=1      fail instead of running without a network namespace
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS=${KEYAUDIT_TOOLS:-$HOME/.cache/keyaudit-tools}
export GOFLAGS=${GOFLAGS:--buildvcs=false}

# Which keyaudit is measured: the working tree (default), a commit
# (KEYAUDIT_REF=HEAD, built from `git archive`, so uncommitted work in
# the tree is left out), or a binary built elsewhere (KEYAUDIT_BIN).
if [ -n "${KEYAUDIT_BIN:-}" ]; then
	keyaudit=$KEYAUDIT_BIN
	label="$KEYAUDIT_BIN"
else
	. scripts/build-keyaudit.sh
	keyaudit=bin/keyaudit
	[ -n "${KEYAUDIT_REF:-}" ] && keyaudit=bin/keyaudit-ref
	build_keyaudit "$keyaudit"
	label=$KEYAUDIT_LABEL
fi
go build -o bin/keyaudit-bench ./cmd/keyaudit-bench
bash scripts/build-peers.sh || echo "bench: no peer scanner could be built; comparing keyaudit with the bare loop only" >&2

# Descriptors: listeners, farm-side and client-side connections. Raise
# the soft limit to the hard one (Go does so for its own processes too).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

args=(run
	-endpoints "${ENDPOINTS:-2000}" -rounds "${ROUNDS:-5}"
	-conc "${CONC:-200}" -conc-high "${CONC_HIGH:-1000}"
	-growth "${GROWTH:-10}" -tarpit-percent "${TARPIT_PERCENT:-10}"
	-timeout "${TIMEOUT:-10s}" -tarpit-timeout "${TARPIT_TIMEOUT:-2s}"
	-keyaudit "$keyaudit" -keyaudit-label "$label" -peers "$TOOLS/peers" -pki "$TOOLS/bench-pki")
if [ -n "${BENCH_JSON:-}" ]; then
	args+=(-json "$BENCH_JSON")
fi

# A network namespace with only lo: nothing the farm or the scanners do
# can leave the machine, and the farm's addresses collide with nobody's.
if netns_err=$(unshare -n sh -c 'ip link set lo up' 2>&1); then
	echo "bench: running in a new network namespace (unshare -n, lo only)" >&2
	unshare -n sh -c 'ip link set lo up && exec "$@"' sh bin/keyaudit-bench "${args[@]}"
	exit
fi
echo "bench: cannot create a network namespace (unshare -n: ${netns_err:-failed})." >&2
if [ "${REQUIRE_NETNS:-0}" = 1 ]; then
	echo "bench: REQUIRE_NETNS=1: not running" >&2
	exit 2
fi
echo "bench: running in this network namespace instead; every target is still checked to be loopback (127.0.0.0/8)" >&2
bin/keyaudit-bench "${args[@]}"
