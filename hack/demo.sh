#!/usr/bin/env bash
# make demo: the seed's two VMs (mongodb, nodejs) through the injection, and what their guests
# make of the result. When the local control plane is available (make dev-up), the same VMs go
# through the real kube-apiserver and our webhook instead: see hack/demo-cluster.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=(node dist/src/cli/main.js)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

if [ -x hack/demo-cluster.sh ] && [ "${DEMO_OFFLINE:-}" != 1 ]; then
  exec hack/demo-cluster.sh
fi

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "1. The seed's VMs as a user writes them: pod network only, no Multus network"
grep -HE '^kind|^  name:|networks:|multus' test/testdata/seed/*.yaml || true

say "2. kubevirt-net-injector mutate -f test/testdata/seed/ --network ovs-net-br1"
for vm in mongodb nodejs; do
  "${bin[@]}" mutate -f "test/testdata/seed/$vm.yaml" --network ovs-net-br1 -o json > "$out/$vm.json"
  "${bin[@]}" mutate -f "test/testdata/seed/$vm.yaml" --network ovs-net-br1 -o patch > "$out/$vm.patch"
  node -e '
    const vm = require(process.argv[1]);
    const s = vm.spec.template.spec;
    console.log(`${vm.metadata.name}: ${vm.metadata.annotations["kubevirt-net-injector.io/status"]}`);
    for (const n of s.networks) console.log(`  network   ${n.name.padEnd(8)} ${n.pod ? "pod" : "multus " + n.multus.networkName}`);
    for (const i of s.domain.devices.interfaces) console.log(`  interface ${i.name.padEnd(8)} ${Object.keys(i).find(k => k !== "name" && k !== "macAddress")} ${i.macAddress}`);
    console.log(`  patch: ${require("fs").readFileSync(process.argv[2], "utf8").length} bytes of JSON Patch`);
  ' "$out/$vm.json" "$out/$vm.patch"
done

say "3. What the mongodb guest renders from the injected network data (cloud-init devel net-convert)"
node -e '
  const vm = require(process.argv[1]);
  const v = vm.spec.template.spec.volumes.find(v => v.cloudInitNoCloud).cloudInitNoCloud;
  require("fs").writeFileSync(process.argv[2], v.networkData);
  require("fs").writeFileSync(process.argv[3], Buffer.from(v.userDataBase64 ?? Buffer.from(v.userData).toString("base64"), "base64"));
' "$out/mongodb.json" "$out/net.yaml" "$out/user-data"
for r in "networkd debian" "sysconfig rhel"; do
  set -- $r
  cloud-init devel net-convert -p "$out/net.yaml" -k yaml -D "$2" -O "$1" -d "$out/$1" >/dev/null 2>&1
  echo "--- $1 ($2):"
  find "$out/$1" -name '*eth1*' -type f -exec sh -c 'echo "$1:"; sed "s/^/    /" "$1"' _ {} \; | sed "s#$out/$1##"
done

say "4. The user data cloud-init will act on: the user's parts first, then ours (merged by cloud-init's own library)"
/usr/bin/python3 test/cloudinit/userdata_probe.py "$out/user-data" | node -e '
  let s = ""; process.stdin.on("data", d => s += d).on("end", () => {
    const r = JSON.parse(s);
    console.log("parts:", r.parts.map(p => p.type).join(", "));
    console.log("write_files:"); for (const f of r.cloudConfig.write_files) console.log("  " + f.path);
    console.log("runcmd:", r.cloudConfig.runcmd.length, "commands (the user\u0027s first)");
  });'

say "5. Idempotent: the injected VM through mutate again gives an empty patch"
"${bin[@]}" mutate -f "$out/mongodb.json" --network ovs-net-br1 -o patch
