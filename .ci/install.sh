#!/usr/bin/env bash
# Installs what keyaudit's tests and demo need on a fresh Debian 12 machine,
# idempotently: Debian packages (only when one is missing) and Go tools
# (only when not already built into $KEYAUDIT_TOOLS/bin).
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS="${KEYAUDIT_TOOLS:-$HOME/.cache/keyaudit-tools}"
BIN="$TOOLS/bin"
mkdir -p "$BIN"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

packages=(softhsm2 opensc knot postfix dovecot-imapd dovecot-pop3d dovecot-lmtpd slapd ldap-utils postgresql sqlite3 openssl ca-certificates chromium python3-pykmip systemd)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install: apt packages: ${missing[*]}" >&2
  $SUDO apt-get update -qq
  echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
  # Debian packages must not start their daemons here: tests start their own.
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    -o DPkg::Lock::Timeout=600 "${missing[@]}" >/dev/null
fi

if [ ! -x "$BIN/staticcheck" ]; then
  echo "install: staticcheck" >&2
  GOBIN="$BIN" go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
fi

# helm and promtool check deploy/ (chart lint/template, alerting rules and
# the dashboard's queries); rebuilt only when missing or another version.
go_tool() { # go_tool BINARY MODULE VERSION PACKAGE
  if ! go version -m "$BIN/$1" 2>/dev/null | grep -Eq "^[[:space:]]+mod[[:space:]]+$2[[:space:]]+$3([[:space:]]|$)"; then
    echo "install: $1 $3" >&2
    GOBIN="$BIN" go install "$4@$3"
  fi
}
go_tool helm helm.sh/helm/v4 v4.3.2 helm.sh/helm/v4/cmd/helm
go_tool promtool github.com/prometheus/prometheus v0.316.0 github.com/prometheus/prometheus/cmd/promtool
# actionlint checks action.yml and the example GitHub workflow.
go_tool actionlint github.com/rhysd/actionlint v1.7.12 github.com/rhysd/actionlint/cmd/actionlint

# Component-specific builds (CT logs, ACME CA …), each idempotent.
for s in .ci/ct.sh .ci/caa.sh .ci/softhsm.sh .ci/pebble.sh .ci/postgres.sh; do
  [ -e "$s" ] || continue
  bash "$s"
done
echo "$BIN"
