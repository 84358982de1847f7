#!/usr/bin/env bash
# The keyaudit demo: start the demo estate on loopback (TLS and STARTTLS
# servers with generated chains, hostile servers, real Postfix, Dovecot and
# a Knot DNS server for example.test), then audit it with keyaudit.
# Run through `make demo`, which installs and builds first.
set -euo pipefail
cd "$(dirname "$0")/.."

DEMO="${DEMO_DIR:-$PWD/.demo}"
rm -rf "$DEMO/estate" "$DEMO/manifest.json"
mkdir -p "$DEMO"
export XDG_STATE_HOME="$DEMO/state"

bin/keyaudit-demo -dir "$DEMO/estate" -ready-file "$DEMO/manifest.json" 2>"$DEMO/estate.log" &
estate=$!
trap 'kill $estate 2>/dev/null; wait $estate 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do
  [ -s "$DEMO/manifest.json" ] && break
  kill -0 $estate 2>/dev/null || { cat "$DEMO/estate.log" >&2; exit 2; }
  sleep 0.1
done
[ -s "$DEMO/manifest.json" ] || { echo "demo: estate did not start" >&2; cat "$DEMO/estate.log" >&2; exit 2; }

echo "== keyaudit scan of the demo estate (127.0.1.0/27, example.test names, [::1]) =="
set +e
bin/keyaudit scan --resolver 127.0.2.53:53 --timeout 3s \
  --ports 443,8443,25,143,110,21,5432,389 \
  127.0.1.0/27 www.example.test mail.example.test:25 imap.example.test:143 '[::1]:9443' \
  mysql://127.0.1.10:3306 xmpp://127.0.1.10:5222 | grep -v "connection refused"
rc=${PIPESTATUS[0]}
set -e
echo "(closed ports — refused — omitted from this table; every endpoint is in the store at $XDG_STATE_HOME/keyaudit/keyaudit.db)"
echo "JSON Lines of the same scan: bin/keyaudit scan --format jsonl … ; exit code $rc"
exit $rc
