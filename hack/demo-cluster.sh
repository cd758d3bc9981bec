#!/usr/bin/env bash
# The end-to-end demo: make dev-up (control plane, CoreDNS, webhook, controller), then the
# seed's scenario through it (hack/demo.ts). DEMO_OFFLINE=1 make demo shows the CLI-only flow.
set -euo pipefail
cd "$(dirname "$0")/.."
make --no-print-directory dev-up
node dist/hack/demo.js
