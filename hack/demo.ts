// make demo, the whole flow through the local control plane (make dev-up): the seed's VMs are
// created in an opted-in namespace and our webhook injects them through the real apiserver; a
// KubeVirt simulator (test/sim, playing virt-controller and virt-handler) starts their VMIs and
// reports the L2 addresses the seed's guests got from DHCP; our controller publishes them as
// headless Services; CoreDNS answers mongo.vm.svc.cluster.local with the VM's L2 address. Then
// a NetworkAttachmentPolicy: explain tells why a VM with a hand-added network would be refused,
// and the apiserver refuses it.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Resolver } from 'node:dns/promises';
import {
  CoreV1Api,
  CustomObjectsApi,
  DiscoveryV1Api,
  KubeConfig,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { parse } from 'yaml';
import { KubeVirtSimulator } from '../test/sim/kubevirt.js';
import type { VirtualMachine } from '../src/controller/types.js';

const NS = 'vm';

interface TemplateSpec {
  networks: Array<{ name: string; pod?: object; multus?: { networkName: string } }>;
  domain: { devices: { interfaces: Array<{ name: string; masquerade?: object; macAddress?: string }> } };
  volumes: Array<{ cloudInitNoCloud?: { networkData?: string; userDataBase64?: string } }>;
}
const SEED_ADDRESSES: Record<string, string> = { mongodb: '192.168.123.139', nodejs: '192.168.123.140' };

function env(): Record<string, string> {
  const lines = readFileSync('.dev/env', 'utf8').split('\n');
  return Object.fromEntries(
    lines
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}

const say = (s: string): void => void process.stdout.write(`\n\u001b[1m== ${s}\u001b[0m\n`);

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function ignoreConflict(p: Promise<unknown>): Promise<void> {
  await p.catch((e: { code?: number }) => {
    if (e.code !== 409) throw e;
  });
}

async function main(): Promise<void> {
  const e = env();
  const kc = new KubeConfig();
  kc.loadFromFile(e['KUBECONFIG']!);
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const discovery = kc.makeApiClient(DiscoveryV1Api);

  say(`1. Namespace '${NS}' opts in (label kubevirt-net-injector.io/inject=enabled); the NAD ovs-net-br1`);
  await ignoreConflict(
    core.createNamespace({
      body: { metadata: { name: NS, labels: { 'kubevirt-net-injector.io/inject': 'enabled' } } },
    }),
  );
  await ignoreConflict(
    custom.createNamespacedCustomObject({
      group: 'k8s.cni.cncf.io',
      version: 'v1',
      plural: 'network-attachment-definitions',
      namespace: NS,
      body: {
        apiVersion: 'k8s.cni.cncf.io/v1',
        kind: 'NetworkAttachmentDefinition',
        metadata: { name: 'ovs-net-br1' },
        spec: { config: '{"cniVersion": "0.3.1", "type": "ovs", "bridge": "br1"}' },
      },
    }),
  );
  console.log(`kube-apiserver ${kc.getCurrentCluster()?.server}, webhook ${e['WEBHOOK_URL']}`);

  say("2. The seed's VMs, created as the user wrote them (pod network only): the webhook injects them");
  const vms = ['mongodb', 'nodejs'];
  for (const name of vms) {
    const body = parse(readFileSync(`test/testdata/seed/${name}.yaml`, 'utf8')) as KubernetesObject;
    await custom
      .deleteNamespacedCustomObject({
        group: 'kubevirt.io',
        version: 'v1',
        plural: 'virtualmachines',
        namespace: NS,
        name,
      })
      .catch(() => undefined);
    await until(`old ${name} gone`, async () =>
      custom
        .getNamespacedCustomObject({
          group: 'kubevirt.io',
          version: 'v1',
          plural: 'virtualmachines',
          namespace: NS,
          name,
        })
        .then(
          () => undefined,
          () => true,
        ),
    );
    const stored = (await custom.createNamespacedCustomObject({
      group: 'kubevirt.io',
      version: 'v1',
      plural: 'virtualmachines',
      namespace: NS,
      body,
    })) as VirtualMachine;
    const spec = stored.spec!.template!.spec as unknown as TemplateSpec;
    console.log(
      `${name}: ${stored.metadata.annotations?.['kubevirt-net-injector.io/status']} (stored by the apiserver)`,
    );
    for (const n of spec.networks)
      console.log(`  network   ${n.name.padEnd(8)} ${n.pod ? 'pod' : `multus ${n.multus?.networkName}`}`);
    for (const i of spec.domain.devices.interfaces)
      console.log(
        `  interface ${i.name.padEnd(8)} ${i.masquerade ? 'masquerade' : 'bridge'} ${i.macAddress}`,
      );
    const ci = spec.volumes.find((v) => v.cloudInitNoCloud)!.cloudInitNoCloud!;
    console.log(
      `  cloud-init: networkData ${ci.networkData?.length} bytes, user data ${ci.userDataBase64 ? 'gzip+base64' : 'plain'}`,
    );
  }

  say('3. The KubeVirt simulator starts the VMIs; "virt-handler" reports the addresses DHCP gave eth1');
  const sim = new KubeVirtSimulator(kc, {
    namespace: NS,
    addressFor: (vm, network) => (network === 'l2' ? [SEED_ADDRESSES[vm.metadata.name!]!] : undefined),
  });
  await sim.start();
  try {
    for (const name of vms) {
      const vmi = await until(`VMI ${name}`, async () => {
        const v = await sim.getVmi(NS, name);
        return v?.status?.interfaces?.length ? v : undefined;
      });
      for (const i of vmi.status!.interfaces!)
        console.log(
          `  ${name} ${i.interfaceName} ${(i.name ?? '').padEnd(8)} ${i.ipAddress ?? '-'} ${i.mac}`,
        );
    }

    say('4. Our controller publishes them: selector-less headless Services and EndpointSlices');
    for (const svc of ['mongo', 'node']) {
      const s = await until(`Service ${svc}`, () => core.readNamespacedService({ name: svc, namespace: NS }));
      const slices = await until(`EndpointSlice for ${svc}`, async () => {
        const l = await discovery.listNamespacedEndpointSlice({
          namespace: NS,
          labelSelector: `kubernetes.io/service-name=${svc}`,
        });
        return l.items.some((x) => x.endpoints?.length) ? l.items : undefined;
      });
      const ports = s.spec?.ports?.map((p) => `${p.name}:${p.port}`).join(',');
      console.log(
        `Service ${svc}: clusterIP ${s.spec?.clusterIP}, selector ${JSON.stringify(s.spec?.selector ?? null)}, ports ${ports}`,
      );
      for (const sl of slices)
        for (const ep of sl.endpoints ?? [])
          console.log(
            `  EndpointSlice ${sl.metadata?.name}: ${ep.addresses.join(',')} hostname=${ep.hostname} ready=${ep.conditions?.ready}`,
          );
    }

    say("5. Cluster DNS (CoreDNS, kubernetes plugin) answers with the VMs' L2 addresses");
    const resolver = new Resolver();
    resolver.setServers([e['DNS_ADDR']!]);
    for (const host of [
      `mongo.${NS}.svc.cluster.local`,
      `node.${NS}.svc.cluster.local`,
      `mongodb.mongo.${NS}.svc.cluster.local`,
    ]) {
      const answer = await until(host, async () => {
        const a = await resolver.resolve4(host);
        return a.length ? a : undefined;
      });
      console.log(`${host} -> ${answer.join(', ')}`);
    }
  } finally {
    await sim.stop();
  }
  await policyDemo(custom, e['KUBECONFIG']!);
  console.log('\nThe environment keeps running: source .dev/env to use it; make dev-down stops it.');
}

const POLICY = {
  group: 'kubevirt-net-injector.io',
  version: 'v1alpha1',
  plural: 'networkattachmentpolicies',
};

/** A policy restricting the namespace to ovs-net-br1; a VM that adds another network by hand. */
async function policyDemo(custom: CustomObjectsApi, kubeconfig: string): Promise<void> {
  say(`6. The platform team allows only ovs-net-br1 in '${NS}' (NetworkAttachmentPolicy vm-l2-only)`);
  const spec = {
    namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': NS } },
    allowedNetworks: { names: [`${NS}/ovs-net-br1`] },
  };
  await ignoreConflict(
    custom.createClusterCustomObject({
      ...POLICY,
      body: {
        apiVersion: 'kubevirt-net-injector.io/v1alpha1',
        kind: 'NetworkAttachmentPolicy',
        metadata: { name: 'vm-l2-only' },
        spec,
      },
    }),
  );
  console.log(JSON.stringify(spec));
  const rogue = parse(readFileSync('test/testdata/seed/mongodb.yaml', 'utf8')) as {
    metadata: { name: string };
    spec: { template: { spec: { networks?: object[]; domain: { devices: { interfaces?: object[] } } } } };
  };
  rogue.metadata.name = 'rogue';
  rogue.spec.template.spec.networks = [
    { name: 'default', pod: {} },
    { name: 'other', multus: { networkName: 'infra/br9' } },
  ];
  rogue.spec.template.spec.domain.devices.interfaces = [
    { name: 'default', masquerade: {} },
    { name: 'other', bridge: {} },
  ];
  const file = join(mkdtempSync(join(tmpdir(), 'demo-')), 'rogue.yaml');
  writeFileSync(file, JSON.stringify(rogue));

  say('7. Before applying it: kubevirt-net-injector explain -f rogue.yaml --kubeconfig ... (exit 1: denied)');
  try {
    execFileSync(
      process.execPath,
      ['dist/src/cli/main.js', 'explain', '-f', file, '--kubeconfig', kubeconfig, '--network', 'ovs-net-br1'],
      { stdio: 'inherit' },
    );
  } catch (err) {
    console.log(`(exit ${(err as { status?: number }).status})`);
  }

  say('8. Applied anyway: the apiserver refuses it, with the policy, field, network and fix');
  const denied = await until('the policy in force', async () => {
    try {
      await custom.createNamespacedCustomObject({
        group: 'kubevirt.io',
        version: 'v1',
        plural: 'virtualmachines',
        namespace: NS,
        body: rogue,
        dryRun: 'All',
      });
      return undefined;
    } catch (err) {
      const body = (err as { body?: string | { message?: string } }).body;
      const message =
        typeof body === 'string' ? (JSON.parse(body) as { message?: string }).message : body?.message;
      return message && /denied/.test(message) ? message : undefined;
    }
  });
  console.log(denied);
}

main().catch((err: unknown) => {
  console.error(`demo failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
