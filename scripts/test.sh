#!/usr/bin/env bash
# README command two: installs what is missing, type-checks, runs every test (unit, integration against the real
# registry / skopeo / umoci / Docker engine, CLI) and ends with one line `N passed, N failed`.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh || { echo "0 passed, 1 failed"; exit 1; }
export PATH="$PWD/node_modules/.bin:$PATH"

failed_checks=0
echo "== type check (tsc)"
if ! tsc --noEmit -p .; then failed_checks=$((failed_checks + 1)); fi

echo "== bun test"
log=$(mktemp)
bun test --timeout 120000 "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
pass=$(grep -Eo '^ *[0-9]+ pass$' "$log" | tail -1 | grep -Eo '[0-9]+' || echo 0)
fail=$(grep -Eo '^ *[0-9]+ fail$' "$log" | tail -1 | grep -Eo '[0-9]+' || echo 0)
rm -f "$log"
if [ "$status" -ne 0 ] && [ "$fail" = 0 ]; then fail=1; fi
fail=$((fail + failed_checks))
echo "$pass passed, $fail failed"
[ "$fail" = 0 ] && [ "$pass" -gt 0 ]
