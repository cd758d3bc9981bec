#!/usr/bin/env bash
# make dev-up: the local control plane, CoreDNS, our webhook (registered) and the controller in
# the background; .dev/kubeconfig and .dev/env for scripts. Idempotent. NETWORK= picks the network.
set -euo pipefail
cd "$(dirname "$0")/.."
exec node dist/test/harness/dev.js up
