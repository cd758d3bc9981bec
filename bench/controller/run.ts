// Controller benchmark against a real kube-apiserver (test/harness) with the controller run
// as its own process (the CLI), so its RSS is its own.
//  1. latency: a VMI's address written (the replace request sent) -> the EndpointSlice
//     carrying it seen by a watch, and -> CoreDNS answering it; p50/p99 over many changes;
//  2. scale: N VMs and Running VMIs with addresses exist before the controller starts;
//     time until every Service and slice exists, and the controller's peak RSS.
// Usage: node dist/bench/controller/run.js [samples=200] [sizes=1000,10000]
// Prints its tables (current results: bench/README.md).
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Resolver } from 'node:dns/promises';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { CoreV1Api, CustomObjectsApi, DiscoveryV1Api, Watch } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { withSharedAgents } from '../../src/controller/kube.js';
import { startControlPlane, startCoreDNS, waitFor } from '../../test/harness/index.js';
import { seedVm } from '../../test/sim/vms.js';
import type { VirtualMachine, VirtualMachineInstance } from '../../src/controller/types.js';

const SAMPLES = Number(process.argv[2] ?? 200);
const SIZES = (process.argv[3] ?? '1000,10000').split(',').map(Number);
const LATENCY_VMS = 20;
const GROUP = { group: 'kubevirt.io', version: 'v1' };

function pct(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

function ipFor(i: number): string {
  return `10.${100 + Math.floor(i / 65536)}.${Math.floor(i / 256) % 256}.${i % 256}`;
}

function vmiFor(vm: VirtualMachine, ip: string): VirtualMachineInstance {
  const name = vm.metadata.name!;
  return {
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachineInstance',
    metadata: {
      name,
      namespace: vm.metadata.namespace,
      ownerReferences: [
        {
          apiVersion: 'kubevirt.io/v1',
          kind: 'VirtualMachine',
          name,
          uid: vm.metadata.uid!,
          controller: true,
        },
      ],
    },
    spec: structuredClone(vm.spec!.template!.spec!) as Record<string, unknown>,
    status: {
      phase: 'Running',
      interfaces: [
        { name: 'default', interfaceName: 'eth0', ipAddress: '10.244.0.9', ipAddresses: ['10.244.0.9'] },
        {
          name: 'l2',
          interfaceName: 'eth1',
          ipAddress: ip,
          ipAddresses: [ip],
          infoSource: 'domain, guest-agent',
        },
      ],
    },
  };
}

async function pool<T>(items: T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

/** N publishing VMs and their Running VMIs, written straight to the apiserver. */
async function populate(kc: KubeConfig, namespace: string, n: number): Promise<void> {
  const custom = kc.makeApiClient(CustomObjectsApi);
  await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: namespace } } });
  const indexes = Array.from({ length: n }, (_, i) => i);
  await pool(indexes, 48, async (i) => {
    const name = `vm-${i}`;
    const body = seedVm(name, namespace, {
      'kubevirt-net-injector.io/service-name': `svc-${i}`,
      'kubevirt-net-injector.io/service-ports': 'app:8080',
    });
    body.spec!.running = false; // nobody runs a simulator here: the VMI is written below
    const vm = (await custom.createNamespacedCustomObject({
      ...GROUP,
      plural: 'virtualmachines',
      namespace,
      body,
    })) as VirtualMachine;
    await custom.createNamespacedCustomObject({
      ...GROUP,
      plural: 'virtualmachineinstances',
      namespace,
      body: vmiFor(vm, ipFor(i)),
    });
  });
}

function startControllerProcess(kubeconfig: string, namespace: string): ChildProcess {
  const child = spawn(
    process.execPath,
    [
      fileURLToPath(new URL('../../src/cli/main.js', import.meta.url)),
      'controller',
      `--kubeconfig=${kubeconfig}`,
      `--namespace=${namespace}`,
      '--log-level=warn',
      '--workers=8',
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  return child;
}

function rssMb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(status);
  return m ? Number(m[1]) / 1024 : NaN;
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

/**
 * How many slices and Services the namespace holds (it holds only ours), from lists with
 * limit=1: 1 + remainingItemCount (the apiserver leaves that count out when a label selector
 * is given). A watch would be cheaper, but the apiserver closes watchers that fall behind a
 * burst of 20,000 events.
 */
async function countMatching(kc: KubeConfig, namespace: string): Promise<number> {
  const count = (l: { items: unknown[]; metadata?: { remainingItemCount?: number } }) =>
    l.items.length + (l.metadata?.remainingItemCount ?? 0);
  const slices = await kc.makeApiClient(DiscoveryV1Api).listNamespacedEndpointSlice({ namespace, limit: 1 });
  const services = await kc.makeApiClient(CoreV1Api).listNamespacedService({ namespace, limit: 1 });
  return Math.min(count(slices), count(services));
}

async function latency(
  kc: KubeConfig,
  kubeconfigPath: string,
  processes: Parameters<typeof startCoreDNS>[0]['processes'],
) {
  const ns = 'latency';
  await populate(kc, ns, LATENCY_VMS);
  const ctl = startControllerProcess(kubeconfigPath, ns);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const seen = new Map<string, { ip: string; at: number }[]>();
  const watch = await new Watch(kc).watch(
    `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`,
    {},
    (
      _phase,
      obj: {
        metadata?: { name?: string };
        endpoints?: { addresses?: string[]; conditions?: { ready?: boolean } }[];
      },
    ) => {
      const e = obj.endpoints?.[0];
      if (!e?.addresses?.[0] || e.conditions?.ready !== true) return;
      const list = seen.get(obj.metadata?.name ?? '') ?? [];
      list.push({ ip: e.addresses[0], at: performance.now() });
      seen.set(obj.metadata?.name ?? '', list);
    },
    () => undefined,
  );
  await waitFor('latency slices', async () => (seen.size >= LATENCY_VMS ? true : undefined), {
    timeoutMs: 60_000,
  });
  const dns = await startCoreDNS({ kubeconfigPath, processes });
  const resolver = new Resolver({ timeout: 500, tries: 1 });
  resolver.setServers([dns.address]);
  const toSlice: number[] = [];
  const toDns: number[] = [];
  for (let s = 0; s < SAMPLES; s++) {
    const i = s % LATENCY_VMS;
    const name = `vm-${i}`;
    const ip = `172.16.${Math.floor(s / 250)}.${(s % 250) + 1}`;
    const vmi = (await custom.getNamespacedCustomObject({
      ...GROUP,
      plural: 'virtualmachineinstances',
      namespace: ns,
      name,
    })) as VirtualMachineInstance;
    vmi.status!.interfaces![1]!.ipAddress = ip;
    vmi.status!.interfaces![1]!.ipAddresses = [ip];
    const t0 = performance.now();
    await custom.replaceNamespacedCustomObject({
      ...GROUP,
      plural: 'virtualmachineinstances',
      namespace: ns,
      name,
      body: vmi,
    });
    const hit = await waitFor(
      `slice ${name} = ${ip}`,
      async () => seen.get(`${name}-ipv4`)?.find((x) => x.ip === ip && x.at >= t0),
      { timeoutMs: 10_000, intervalMs: 1 },
    );
    toSlice.push(hit.at - t0);
    const answered = await waitFor(
      `DNS svc-${i} = ${ip}`,
      async () => {
        const a = await resolver.resolve4(`svc-${i}.${ns}.svc.cluster.local`).catch((): string[] => []);
        return a.includes(ip) ? performance.now() : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 2 },
    );
    toDns.push(answered - t0);
  }
  watch.abort();
  await dns.stop();
  await stopProcess(ctl);
  return { toSlice, toDns };
}

async function scale(kc: KubeConfig, kubeconfigPath: string, n: number) {
  const ns = `scale-${n}`;
  const t = performance.now();
  await populate(kc, ns, n);
  const populateS = (performance.now() - t) / 1000;
  const count = () => countMatching(kc, ns);
  const t0 = performance.now();
  const ctl = startControllerProcess(kubeconfigPath, ns);
  let peakRss = 0;
  const sampler = setInterval(() => {
    try {
      peakRss = Math.max(peakRss, rssMb(ctl.pid!, 'VmRSS'));
    } catch {
      /* exited */
    }
  }, 200);
  await waitFor(`${n} slices and Services`, async () => ((await count()) >= n ? true : undefined), {
    timeoutMs: 30 * 60_000,
    intervalMs: 250,
    failIf: () => (ctl.exitCode !== null ? `controller exited ${ctl.exitCode}` : undefined),
  });
  const convergeS = (performance.now() - t0) / 1000;
  const hwm = rssMb(ctl.pid!, 'VmHWM');
  clearInterval(sampler);
  await stopProcess(ctl);
  return { n, populateS, convergeS, peakRssMb: Math.max(peakRss, hwm) };
}

async function main(): Promise<void> {
  const cp = await startControlPlane({ log: (m) => process.stderr.write(`${m}\n`) });
  // Keep-alive connections for the bench's own writes too (client-node opens one per request).
  const kc = withSharedAgents(cp.kubeConfig(), 64);
  const lines: string[] = [];
  try {
    if (SAMPLES > 0) {
      const { toSlice, toDns } = await latency(kc, cp.kubeconfigPath, cp.processes);
      const row = (label: string, v: number[]) =>
        `| ${label} | ${v.length} | ${pct(v, 50).toFixed(1)} | ${pct(v, 99).toFixed(1)} | ${Math.max(...v).toFixed(1)} |`;
      lines.push('| VMI address written -> | samples | p50 ms | p99 ms | max ms |', '|---|---|---|---|---|');
      lines.push(row('EndpointSlice seen by a watch', toSlice), row('CoreDNS answers it', toDns), '');
      process.stdout.write(lines.join('\n') + '\n');
    }
    lines.push(
      '| VMIs | populate s | controller start -> all Services and slices, s | controller peak RSS MB |',
      '|---|---|---|---|',
    );
    for (const n of SIZES) {
      const r = await scale(kc, cp.kubeconfigPath, n);
      const line = `| ${r.n} | ${r.populateS.toFixed(1)} | ${r.convergeS.toFixed(1)} | ${r.peakRssMb.toFixed(0)} |`;
      lines.push(line);
      process.stdout.write(line + '\n');
    }
  } finally {
    await cp.stop();
  }
  process.stdout.write(
    `\n${new Date().toISOString()}, node ${process.version}, ${SAMPLES} samples, sizes ${SIZES.join(',')}\n` +
      [...lines, ''].join('\n'),
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
