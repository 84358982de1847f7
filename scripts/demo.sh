#!/usr/bin/env bash
# The keyaudit demo: start the demo estate on loopback — TLS and STARTTLS
# servers with generated chains, hostile servers, real Postfix, Dovecot and
# a Knot DNS server for example.test (with CAA records), a SoftHSM token,
# a TesseraCT CT log — then run the full audit against it.
# Run through `make demo`, which installs and builds first.
set -euo pipefail
cd "$(dirname "$0")/.."

DEMO="${DEMO_DIR:-$PWD/.demo}"
# An estate left over from an interrupted earlier demo would hold the
# ports: stop it by the PID it was started with (it stops its servers).
if [ -s "$DEMO.pid" ]; then
  old=$(cat "$DEMO.pid")
  if kill -0 "$old" 2>/dev/null; then
    kill "$old" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$old" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$DEMO.pid"
fi
rm -rf "$DEMO"
mkdir -p "$DEMO/reports"

bin/keyaudit-demo -dir "$DEMO/estate" -reports "$DEMO/reports" -ready-file "$DEMO/manifest.json" 2>"$DEMO/estate.log" &
estate=$!
echo $estate > "$DEMO.pid"
trap 'kill $estate 2>/dev/null; wait $estate 2>/dev/null || true; rm -f "$DEMO.pid"' EXIT
for _ in $(seq 1 600); do
  [ -s "$DEMO/manifest.json" ] && break
  kill -0 $estate 2>/dev/null || { cat "$DEMO/estate.log" >&2; exit 2; }
  sleep 0.1
done
[ -s "$DEMO/manifest.json" ] || { echo "demo: the estate did not start" >&2; cat "$DEMO/estate.log" >&2; exit 2; }
cat "$DEMO/estate.log" >&2

# The token's configuration; its PIN is in a file named by the config's
# pkcs11 URI (pin-source=file:…), never on a command line.
export SOFTHSM2_CONF="$DEMO/softhsm/softhsm2.conf"
# The AWS KMS emulator's dummy credentials, read by AWS's standard chain
# (environment first); no instance metadata, no profile files.
export AWS_ACCESS_KEY_ID=AKIAKEYAUDITDEMO AWS_SECRET_ACCESS_KEY=demo-not-a-secret AWS_EC2_METADATA_DISABLED=true \
  AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL AWS_ENDPOINT_URL_KMS AWS_WEB_IDENTITY_TOKEN_FILE AWS_ROLE_ARN

set +e
bin/keyaudit audit --config "$DEMO/keyaudit.yaml"
rc=$?
set -e
echo
echo "config: $DEMO/keyaudit.yaml   reports: $DEMO/reports/   store: $DEMO/keyaudit.db"
if [ -s "$DEMO/notifications.jsonl" ]; then
  echo "notifications: $(grep -c . "$DEMO/notifications.jsonl") sent to web-team's hook, one JSON line each, in $DEMO/notifications.jsonl"
fi
echo "drill down: bin/keyaudit --config $DEMO/keyaudit.yaml report --format table"
case $rc in
  0) echo "audit exit 0: nothing at or above --fail-on" ;;
  1) echo "audit exit 1: findings at or above --fail-on (expected: the demo estate is full of problems)"; rc=0 ;;
  *) echo "audit exit $rc: a stage failed or the audit could not run" ;;
esac
exit $rc
