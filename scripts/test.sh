#!/usr/bin/env bash
# README command two: installs what is missing, type-checks (tsc; deno check, lint, fmt --check, doc --lint and the
# mod.ts examples), runs every test (unit, integration against the real registry / skopeo / umoci / Docker engine,
# the examples under Deno and Node, CLI from source), then the CLI table again against the compiled binary, and ends
# with one line `N passed, N failed`. `bash scripts/test.sh PATH...` runs only those bun tests (after tsc).
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh || { echo "0 passed, 1 failed"; exit 1; }
export PATH="$PWD/node_modules/.bin:$PATH"

total_pass=0
total_fail=0

# Runs `bun test ARGS...` and adds its counts to the totals.
run_bun_tests() {
  local log status pass fail
  log=$(mktemp)
  bun test --timeout 120000 "$@" 2>&1 | tee "$log"
  status=${PIPESTATUS[0]}
  pass=$(grep -Eo '^ *[0-9]+ pass$' "$log" | tail -1 | grep -Eo '[0-9]+' || echo 0)
  fail=$(grep -Eo '^ *[0-9]+ fail$' "$log" | tail -1 | grep -Eo '[0-9]+' || echo 0)
  rm -f "$log"
  if [ "$status" -ne 0 ] && [ "$fail" = 0 ]; then fail=1; fi
  total_pass=$((total_pass + pass))
  total_fail=$((total_fail + fail))
}

echo "== type check (tsc)"
if tsc --noEmit -p .; then total_pass=$((total_pass + 1)); else total_fail=$((total_fail + 1)); fi

# Runs one check command and counts it as one pass or one fail.
run_check() {
  local name=$1
  shift
  echo "-- $name"
  if "$@"; then total_pass=$((total_pass + 1)); else total_fail=$((total_fail + 1)); echo "FAILED: $name"; fi
}

if [ $# -eq 0 ]; then
  echo "== deno: check, lint, fmt, doc"
  run_check "deno check mod.ts cli.ts examples/" deno check --quiet mod.ts cli.ts examples/
  run_check "deno lint" deno lint --quiet
  run_check "deno fmt --check" deno fmt --check --quiet
  run_check "deno doc --lint mod.ts" deno doc --lint mod.ts
  run_check "mod.ts exports: JSDoc with a type-checked @example" bun scripts/check_docs.ts
fi

echo "== bun test (source)"
run_bun_tests "$@"

if [ $# -eq 0 ]; then
  echo "== CLI table against the compiled binary"
  # shellcheck disable=SC2046 # the flags are words
  if bun build $(bun scripts/compile_flags.ts) cli.ts --outfile dist/ferry-linux-x64 >/dev/null; then
    FERRY_BIN="$PWD/dist/ferry-linux-x64" run_bun_tests tests/cli
  else
    total_fail=$((total_fail + 1))
  fi
fi

echo "$total_pass passed, $total_fail failed"
[ "$total_fail" = 0 ] && [ "$total_pass" -gt 1 ]
