#!/usr/bin/env bash
# Measures `keyaudit ct sync` ingest in log entries per CPU-second (user +
# system time of the keyaudit process, GNU time), the SQLite store
# included, on a realistic generated log served on loopback by
# keyaudit-ctbench (see cmd/keyaudit-ctbench: ≈46% precertificates, 1–100
# SANs, RSA and ECDSA keys, ≈1.5 KB entries):
#
#   - static-ct-api and RFC 6962, each with 0.1% of the entries matching the
#     watch (--watch target.example) and with every entry matching
#     (--watch example: a sighting, and a store write, per entry);
#   - the same static log at the default --rate, whose wall time shows the
#     ingest cap the rate limit sets;
#   - certspotter v0.18.0 (RFC 6962 only in that version) on the same RFC 6962
#     log, when `make peers` (scripts/build-peers.sh) has built it into
#     $KEYAUDIT_TOOLS/peers: it is not a keyaudit dependency. It runs as a
#     daemon, so it is stopped once its state shows the whole log verified.
#
# Settings (environment): KEYAUDIT_REF=REF measures keyaudit as committed
# at REF (e.g. HEAD, or an older commit to compare), BENCH_CT_ENTRIES (default 131072: 512 tiles),
# BENCH_CT_ROUNDS (default 2; the run with the least CPU is reported),
# BENCH_CT_DIR (work folder, default $TMPDIR/keyaudit-bench-ct; the corpus is
# generated once per size and kept there), BENCH_CT_PEERS=0 to skip
# certspotter, BENCH_CT_PG=0 to skip the PostgreSQL rows (a throwaway
# PostgreSQL 15 on 127.0.0.1, when installed: keyaudit's CPU, and with the
# server's CPU added). Everything listens on and talks to 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS=${KEYAUDIT_TOOLS:-$HOME/.cache/keyaudit-tools}
ENTRIES=${BENCH_CT_ENTRIES:-131072}
ROUNDS=${BENCH_CT_ROUNDS:-2}
WORK=${BENCH_CT_DIR:-${TMPDIR:-/tmp}/keyaudit-bench-ct}
PEERS=${BENCH_CT_PEERS:-1}
export GOFLAGS=${GOFLAGS:--buildvcs=false}

if [ ! -x /usr/bin/time ]; then
	echo "bench-ct: GNU time (/usr/bin/time) is needed to measure CPU time" >&2
	exit 2
fi
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd) # absolute: the build below runs elsewhere
# keyaudit as in the working tree, or as committed at KEYAUDIT_REF; the
# harness is always the working tree's.
. scripts/build-keyaudit.sh
build_keyaudit "$WORK/keyaudit"
label=$KEYAUDIT_LABEL
go build -o "$WORK/keyaudit-ctbench" ./cmd/keyaudit-ctbench
go build -o "$WORK/keyaudit-scalebench" ./cmd/keyaudit-scalebench # its freeport
. scripts/throwaway-pg.sh

corpus=$WORK/log-$ENTRIES
if [ ! -f "$corpus/log.json" ]; then
	rm -rf "$corpus"
	"$WORK/keyaudit-ctbench" gen -dir "$corpus" -entries "$ENTRIES"
fi
field() { sed -n "s/^  \"$1\": \"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}\$/\1/p" "$corpus/log.json"; }
key=$(field key)
origin=$(field origin)
entries=$(field entries)
targets=$(field targets)
precerts=$(field precerts)
leafbytes=$(field leaf_bytes)

server="" spotter=""
cleanup() {
	# $spotter is GNU time: certspotter is its child.
	local child=""
	[ -n "$spotter" ] && child=$(pgrep -P "$spotter" || true)
	[ -n "$child" ] && { kill $child 2>/dev/null || true; }
	for p in $spotter $server; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	pg_stop
}
trap cleanup EXIT
rm -f "$WORK/ready"
"$WORK/keyaudit-ctbench" serve -dir "$corpus" -addr 127.0.0.1:0 -ready "$WORK/ready" >"$WORK/serve.log" 2>&1 &
server=$!
for _ in $(seq 600); do
	[ -s "$WORK/ready" ] && break
	kill -0 "$server" 2>/dev/null || { cat "$WORK/serve.log" >&2; exit 2; }
	sleep 0.1
done
base=$(cat "$WORK/ready")

cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
echo "keyaudit ct sync ingest ($label) — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs ($cpu_model), $(go version | cut -d' ' -f3)"
echo "corpus: $entries entries, $precerts precertificates, $targets match target.example, $((leafbytes / entries)) bytes per entry; best CPU of $ROUNDS runs"
printf '%-44s %9s %9s %8s %14s %8s %8s\n' "run" "entries" "sightings" "CPU-s" "entries/CPU-s" "wall-s" "RSS-MB"

# report LABEL SIGHTINGS TIMEFILE: one row from GNU time's "%U %S %e %M";
# the row's entries per CPU-second is kept in RATE[LABEL] for the targets.
declare -A RATE
report() {
	local u s e m
	read -r u s e m < <(tail -n 1 "$3")
	RATE[$1]=$(awk -v n="$entries" -v u="$u" -v s="$s" 'BEGIN { c = u + s; if (c <= 0) c = 0.01; printf "%.0f", n / c }')
	awk -v l="$1" -v n="$entries" -v k="$2" -v u="$u" -v s="$s" -v e="$e" -v m="$m" 'BEGIN {
		c = u + s; if (c <= 0) c = 0.01
		printf "%-44s %9d %9d %8.2f %14.0f %8.2f %8.0f\n", l, n, k, c, n / c, e, m / 1024 }'
}

# cpu TIMEFILE: user + system seconds.
cpu() { tail -n 1 "$1" | awk '{ print $1 + $2 }'; }

# timed_sync LABEL WANT STORE SYNC-ARGS...: one `ct sync` from the start of
# the log into STORE, timed by GNU time into $WORK/time; stops the benchmark
# unless it succeeds with WANT sightings.
timed_sync() {
	local label=$1 want=$2 st=$3 k
	shift 3
	if ! /usr/bin/time -f '%U %S %e %M' -o "$WORK/time" "$WORK/keyaudit" --store "$st" ct sync "$@" \
		--from start --format jsonl >"$WORK/out.jsonl" 2>"$WORK/err"; then
		echo "bench-ct: $label failed:" >&2
		cat "$WORK/err" >&2
		exit 1
	fi
	k=$(wc -l <"$WORK/out.jsonl")
	if [ "$k" -ne "$want" ]; then
		echo "bench-ct: $label: $k sightings, want $want" >&2
		exit 1
	fi
}

# better TIMEFILE BEST: whether TIMEFILE took less CPU than BEST (or BEST is "").
better() { [ -z "$2" ] || awk -v a="$(cpu "$1")" -v b="$(cpu "$2")" 'BEGIN { exit !(a < b) }'; }

# keyaudit_run LABEL TYPE URL WATCH WANT RATE: best of ROUNDS fresh syncs.
keyaudit_run() {
	local label=$1 typ=$2 url=$3 watch=$4 want=$5 rate=$6 best=""
	local extra=()
	[ "$typ" = static ] && extra=(--log-origin "$origin")
	for _ in $(seq "$ROUNDS"); do
		rm -f "$WORK/store.db" "$WORK/store.db-wal" "$WORK/store.db-shm"
		timed_sync "$label" "$want" "$WORK/store.db" --log "$url" --log-key "$key" --log-type "$typ" "${extra[@]}" \
			--watch "$watch" --rate "$rate"
		if better "$WORK/time" "$best"; then
			cp "$WORK/time" "$WORK/time.best"
			best=$WORK/time.best
		fi
	done
	report "$label" "$want" "$best"
}

unlimited=1000000
keyaudit_run "keyaudit static-ct-api, 0.1% match" static "${base}static/" target.example "$targets" $unlimited
keyaudit_run "keyaudit static-ct-api, 100% match" static "${base}static/" example "$entries" $unlimited
keyaudit_run "keyaudit RFC 6962, 0.1% match" rfc6962 "${base}rfc/" target.example "$targets" $unlimited
keyaudit_run "keyaudit RFC 6962, 100% match" rfc6962 "${base}rfc/" example "$entries" $unlimited
ROUNDS=1 keyaudit_run "keyaudit static-ct-api, 0.1%, default --rate" static "${base}static/" target.example "$targets" 50

# keyaudit_pg_run LABEL WATCH WANT: the static log into a throwaway
# PostgreSQL, a fresh database per round: one row with keyaudit's CPU, one
# with the server's added (what the at-scale store costs in all).
keyaudit_pg_run() {
	local label=$1 watch=$2 want=$3 best="" bestpg=0
	for r in $(seq "$ROUNDS"); do
		local dsn before after
		dsn=$(pg_newdb "ct$r")
		"$WORK/keyaudit" --store "$dsn" runs >/dev/null # the schema, outside the measurement
		before=$(pg_cpu)
		timed_sync "$label" "$want" "$dsn" --log "${base}static/" --log-key "$key" --log-type static --log-origin "$origin" \
			--watch "$watch" --rate "$unlimited"
		sleep 1 # the backend exits and is reaped: its CPU moves to the postmaster's children
		after=$(pg_cpu)
		if better "$WORK/time" "$best"; then
			cp "$WORK/time" "$WORK/time.pg"
			best=$WORK/time.pg bestpg=$(awk -v a="$after" -v b="$before" 'BEGIN { printf "%.2f", a - b }')
		fi
	done
	report "$label" "$want" "$best"
	# The same row with the server's CPU added to user time.
	awk -v p="$bestpg" '{ $1 = $1 + p; print }' "$best" >"$WORK/time.pgall"
	report "  the same, with the server's CPU" "$want" "$WORK/time.pgall"
}

if [ "${BENCH_CT_PG:-1}" != 0 ] && pg_available; then
	pg_start keyaudit-bench-ct "$WORK/keyaudit-scalebench freeport"
	keyaudit_pg_run "keyaudit static-ct-api, 100%, PostgreSQL" example "$entries"
	pg_stop
elif [ "${BENCH_CT_PG:-1}" != 0 ]; then
	echo "(PostgreSQL 15 not installed: no PostgreSQL rows; bash .ci/install.sh installs it)"
fi

# certspotter_run LABEL WATCH: one run, stopped once the log is verified.
certspotter_run() {
	local label=$1 watch=$2 bin=$TOOLS/peers/certspotter
	local dir=$WORK/certspotter
	rm -rf "$dir"
	mkdir -p "$dir/state" "$dir/config"
	echo "$watch" >"$dir/watchlist"
	local id
	id=$(field log_id)
	cat >"$dir/loglist.json" <<EOF
{"version":"1","operators":[{"name":"bench","email":["ct@bench.test"],"logs":[{"description":"ctbench","log_id":"$id","key":"$key","url":"${base}rfc/","mmd":86400,"state":{"usable":{"timestamp":"2026-01-01T00:00:00Z"}}}]}]}
EOF
	local statefile
	statefile="$dir/state/logs/$(printf '%s' "$id" | tr '+/' '-_' | tr -d '=')/state.json"
	CERTSPOTTER_CONFIG_DIR=$dir/config /usr/bin/time -f '%U %S %e %M' -o "$dir/time" "$bin" -logs "$dir/loglist.json" \
		-watchlist "$dir/watchlist" -state_dir "$dir/state" -stdout >"$dir/out" 2>"$dir/err" &
	spotter=$!
	local done=0
	for _ in $(seq 36000); do
		if [ -f "$statefile" ] && grep -q "\"size\":$entries[,}]" <(sed -n 's/.*"verified_position":\({[^}]*}\).*/\1/p' "$statefile"); then
			done=1
			break
		fi
		kill -0 "$spotter" 2>/dev/null || break
		sleep 0.1
	done
	# $spotter is GNU time: stop certspotter, its child, so time reports.
	local child
	child=$(pgrep -P "$spotter" || true)
	kill -TERM ${child:-$spotter} 2>/dev/null || true
	wait "$spotter" 2>/dev/null || true
	spotter=""
	if [ "$done" != 1 ]; then
		echo "bench-ct: $label did not finish; stderr:" >&2
		tail -n 20 "$dir/err" >&2
		return
	fi
	report "$label" "$(grep -c '^[0-9a-f]\{64\}:' "$dir/out" || true)" "$dir/time"
}

if [ "$PEERS" != 0 ] && [ -x "$TOOLS/peers/certspotter" ]; then
	certspotter_run "certspotter v0.18.0 RFC 6962, 0.1% match" .target.example
	certspotter_run "certspotter v0.18.0 RFC 6962, 100% match" .example
elif [ "$PEERS" != 0 ]; then
	echo "(certspotter not built: make peers builds it into $TOOLS/peers)"
fi

# target LABEL MEASURED-KEY OP LIMIT [OTHER-KEY]: one row of the targets
# table. OP is ">=" (entries/CPU-s at least LIMIT) or "x>=" (at least LIMIT
# times OTHER-KEY's entries/CPU-s, the same as at most 1/LIMIT of its CPU).
target() {
	local label=$1 key=$2 op=$3 limit=$4 other=${5:-}
	local v=${RATE[$key]:-} w=""
	[ "$op" = "x>=" ] && w=${RATE[$other]:-}
	if [ -z "$v" ] || { [ "$op" = "x>=" ] && [ -z "$w" ]; }; then
		printf '| %s | – | not measured |\n' "$label"
		return
	fi
	awk -v l="$label" -v v="$v" -v w="$w" -v op="$op" -v lim="$limit" 'BEGIN {
		if (op == ">=") { m = sprintf("%d entries/CPU-s", v); ok = v >= lim }
		else { r = v / w; m = sprintf("%.1f×", r); ok = r >= lim }
		printf "| %s | %s | %s |\n", l, m, ok ? "holds" : "does not hold" }'
}

echo
echo "| target | measured | verdict |"
echo "|---|---:|---|"
target "static-ct-api, every entry matching: ≥ 35,000 entries/CPU-s" "keyaudit static-ct-api, 100% match" ">=" 35000
target "static-ct-api, 0.1% matching: ≥ 90,000 entries/CPU-s" "keyaudit static-ct-api, 0.1% match" ">=" 90000
target "RFC 6962, 0.1%: ≥ 2× certspotter's entries/CPU-s" "keyaudit RFC 6962, 0.1% match" "x>=" 2 "certspotter v0.18.0 RFC 6962, 0.1% match"
target "RFC 6962, every entry: ≥ 2× certspotter's entries/CPU-s" "keyaudit RFC 6962, 100% match" "x>=" 2 "certspotter v0.18.0 RFC 6962, 100% match"
