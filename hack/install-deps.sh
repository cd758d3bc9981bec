#!/usr/bin/env bash
# Installs the Debian packages listed in hack/packages/*.txt (one per line, # comments)
# when any is missing. Needs root (CI and the dev machines run as root).
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t wanted < <(cat hack/packages/*.txt | sed 's/#.*//' | awk 'NF{print $1}' | sort -u)
missing=()
for p in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
