#!/usr/bin/env bash
# README command one: installs the npm packages if missing, then runs `ferry demo` (ferry's embedded registry,
# seeded with the sample multi-arch image, exported to ./ferry-demo/image-<arch>.tar.gz).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x node_modules/.bin/bun ]; then npm ci --no-audit --no-fund --loglevel=error >&2; fi
exec node_modules/.bin/bun cli.ts demo "$@"
