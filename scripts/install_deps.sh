#!/usr/bin/env bash
# Installs what ferry's tests need on a fresh Debian machine: npm packages (bun, deno, typescript) and the real
# components the tests use: the CNCF distribution registry, skopeo, umoci, the Docker engine
# a static busybox (a real amd64 binary for the exported image to run) and qemu-user (runs the other
# architectures' programs of lib/testing/static_program.ts) and tmux (a pseudo-terminal for the progress display tests). Idempotent: installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# node_modules matches the lock when npm's record of what it installed (node_modules/.package-lock.json) has every
# package of package-lock.json at its version (optional ones are per platform). Compared by content, not by mtime:
# a fresh clone or worktree has a newer lock file than a node_modules that already matches it.
installed_matches_lock() {
  [ -x node_modules/.bin/bun ] && [ -x node_modules/.bin/deno ] && [ -f node_modules/.package-lock.json ] || return 1
  node -e '
    const want = require("./package-lock.json").packages, have = require("./node_modules/.package-lock.json").packages;
    const stale = Object.entries(want).filter(([path, p]) => path && !p.optional && have[path]?.version !== p.version);
    process.exit(stale.length ? 1 : 0);
  '
}
if ! installed_matches_lock; then
  echo "ferry: installing npm packages" >&2
  # npm ci installs exactly package-lock.json (it records every platform's bun/deno/typescript package) and never
  # rewrites it.
  npm ci --no-audit --no-fund --loglevel=error >&2
fi

need=()
command -v docker-registry >/dev/null || need+=(docker-registry)
command -v skopeo >/dev/null || need+=(skopeo)
command -v umoci >/dev/null || need+=(umoci)
command -v dockerd >/dev/null || need+=(docker.io)
[ -x /bin/busybox ] && file -L /bin/busybox 2>/dev/null | grep -q static || need+=(busybox-static)
command -v file >/dev/null || need+=(file)
command -v pigz >/dev/null || need+=(pigz)
command -v qemu-aarch64 >/dev/null || need+=(qemu-user)
command -v tmux >/dev/null || need+=(tmux)
if [ ${#need[@]} -gt 0 ]; then
  echo "ferry: installing Debian packages: ${need[*]}" >&2
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi
