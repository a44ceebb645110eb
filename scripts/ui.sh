#!/usr/bin/env bash
# Builds the station app's page: TypeScript compiled by tsc into ui/www/js (no bundler, no
# runtime dependencies; typescript and @types/node come from the npm registry, pinned by
# ui/package-lock.json, installed once into ui/node_modules).
set -euo pipefail
cd "$(dirname "$0")/../ui"
if [ ! -x node_modules/.bin/tsc ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund --loglevel=error >&2
fi
node_modules/.bin/tsc -p tsconfig.json
