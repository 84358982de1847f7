#!/usr/bin/env bash
# Runs every Fuzz target of the module for FUZZTIME each (default 15s).
# New findings land in the package's testdata/fuzz/ and become regression
# seeds of the normal test run.
set -euo pipefail
cd "$(dirname "$0")/.."
t="${FUZZTIME:-15s}"
for f in $(grep -rl --include='*_test.go' '^func Fuzz' .); do
  pkg="./$(dirname "${f#./}")"
  for fn in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | sed 's/^func //'); do
    echo "== $pkg $fn"
    go test -run '^$' -fuzz "^${fn}\$" -fuzztime "$t" "$pkg"
  done
done
