#!/usr/bin/env bash
# make dev-down: stops everything make dev-up started and removes .dev/.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -f dist/test/harness/dev.js ]]; then
  exec node dist/test/harness/dev.js down
fi
# Without the compiled script: stop the recorded process groups by hand.
for f in .dev/apps/*.pgid .dev/controlplane/*.pgid; do
  [[ -f "$f" ]] && kill -TERM -- "-$(cat "$f")" 2>/dev/null || true
done
rm -rf .dev
echo "dev: removed .dev/"
