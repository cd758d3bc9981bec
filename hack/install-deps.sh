#!/usr/bin/env bash
# What the tests need from the machine, installed when it can be and checked either way:
#   - Node.js 20.11 or newer and Go 1.24 or newer on PATH (they come with the machine);
#   - the Debian packages listed in hack/packages/LIST.txt (one per line, # comments),
#     installed with apt-get when missing (needs root, as on CI and the dev machines);
#   - that what they provide works (cloud-init's Python library, podman's storage).
# On a problem it cannot fix it prints ONE line, "prereqs: <what is missing>; fix: <command>",
# and exits 1, so `make test` stops before running anything.
#
# usage: hack/install-deps.sh [LIST...]   (default: every list; make test passes the lists its
#        suites need, make test-guests passes "guests")
set -euo pipefail
cd "$(dirname "$0")/.."

fail() {
  echo "prereqs: $1; fix: $2" >&2
  exit 1
}

lists=("$@")
((${#lists[@]})) || mapfile -t lists < <(basename -s .txt hack/packages/*.txt)
files=()
for l in "${lists[@]}"; do
  [[ -f "hack/packages/$l.txt" ]] || fail "no package list hack/packages/$l.txt" "name one of: $(basename -s .txt hack/packages/*.txt | tr '\n' ' ')"
  files+=("hack/packages/$l.txt")
done

# Toolchains that come with the machine: checked, never installed here.
node_version="$(node --version 2>/dev/null || true)"
if [[ ! "$node_version" =~ ^v([0-9]+)\.([0-9]+) ]] ||
  ((BASH_REMATCH[1] < 20 || (BASH_REMATCH[1] == 20 && BASH_REMATCH[2] < 11))); then
  fail "Node.js 20.11 or newer (found ${node_version:-none})" "install Node.js 20 (e.g. the nodejs package from NodeSource) and put node on PATH"
fi
command -v go >/dev/null || export PATH="$PATH:/usr/local/go/bin"
go_version="$(go env GOVERSION 2>/dev/null || true)"
if [[ ! "$go_version" =~ ^go1\.([0-9]+) ]] || ((BASH_REMATCH[1] < 24)); then
  fail "Go 1.24 or newer (found ${go_version:-none})" "install Go 1.24+ and put it on PATH (or in /usr/local/go)"
fi

mapfile -t wanted < <(cat "${files[@]}" | sed 's/#.*//' | awk 'NF{print $1}' | sort -u)
missing=()
for p in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ "$(id -u)" != 0 ]]; then
    fail "Debian packages ${missing[*]} (not root, cannot install)" "sudo bash hack/install-deps.sh ${lists[*]}"
  fi
  echo "prereqs: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  log="$(mktemp)"
  if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
    tail -5 "$log" >&2
    rm -f "$log"
    fail "Debian packages ${missing[*]} (apt-get failed, its last lines above)" "apt-get update && apt-get install ${missing[*]}"
  fi
  rm -f "$log"
fi

# What the packages provide, checked where a broken install was seen or is likely.
for l in "${lists[@]}"; do
  case "$l" in
  core)
    /usr/bin/python3 -c 'import cloudinit' 2>/dev/null ||
      fail "cloud-init's Python library (import cloudinit fails in /usr/bin/python3)" "apt-get install --reinstall cloud-init"
    ;;
  image)
    podman --runtime runc --cgroup-manager=cgroupfs info >/dev/null 2>&1 ||
      fail "a working podman ('podman info' fails)" "apt-get install --reinstall podman runc, then run 'podman --runtime runc --cgroup-manager=cgroupfs info' to see why"
    ;;
  esac
done
echo "prereqs: ok (${lists[*]}: ${#wanted[@]} Debian packages, node $node_version, $go_version)"
