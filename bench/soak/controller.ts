// Controller soak (bench/README.md, "Controller soak"): the controller as deployed (the CLI,
// logging at info, its own process) against a real kube-apiserver, with the KubeVirt simulator
// (test/sim) playing virt-controller and virt-handler for SOAK_VMS VMs (default 500). After
// SOAK_WARMUP_S seconds (default 180: past the time the Event dedupe, 4,096 keys, takes to fill
// at the default rate) of the same load, SOAK_CHANGES VMI address changes
// (default 100,000) at SOAK_RATE changes/s (default 40), round robin over the VMs, each to a
// fresh address. Reported: the controller's RSS after warm-up and at the end (growth must stay
// under 10%), the p99 of address written (replace sent) -> the EndpointSlice carrying it seen
// by a watch, first tenth vs last tenth of the changes (within 20%), and the controller's active
// handles and resources (prom-client's gauges) and open fds (/proc) before and after, idle.
// Usage: make bench-soak-controller
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { CoreV1Api, Watch } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { withSharedAgents } from '../../src/controller/kube.js';
import { freePort, startControlPlane, waitFor } from '../../test/harness/index.js';
import { Churn } from '../../test/sim/churn.js';
import { KubeVirtSimulator } from '../../test/sim/kubevirt.js';

const VMS = Number(process.env.SOAK_VMS ?? 500);
const CHANGES = Number(process.env.SOAK_CHANGES ?? 100_000);
const RATE = Number(process.env.SOAK_RATE ?? 40);
const WARMUP_S = Number(process.env.SOAK_WARMUP_S ?? 180);
const IN_FLIGHT = 16;
const NS = 'soak';
const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

function get(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.end();
  });
}

async function handles(port: number, pid: number): Promise<string> {
  const text = await get(port, '/metrics');
  const value = (name: string) => new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? '?';
  const fds = readdirSync(`/proc/${pid}/fd`).length;
  return `handles ${value('nodejs_active_handles_total')}, resources ${value('nodejs_active_resources_total')}, fds ${fds}`;
}

const p99 = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(0.99 * sorted.length) - 1)] ?? NaN;
};

/** A fresh address per change, apart from the churn's 10.64/10 range. */
const ipFor = (n: number) => `10.${128 + Math.floor(n / 65536)}.${Math.floor(n / 256) % 256}.${n % 256}`;

type Slice = { endpoints?: { addresses?: string[]; conditions?: { ready?: boolean } }[] };

/** Watches the namespace's slices for ever (reopened when the apiserver closes it). */
function watchSlices(kc: KubeConfig, onAddress: (ip: string) => void): () => void {
  let stopped = false;
  let current: { abort(): void } | undefined;
  const open = async (): Promise<void> => {
    while (!stopped) {
      const closed = new Promise<void>((resolve) => {
        void new Watch(kc)
          .watch(
            `/apis/discovery.k8s.io/v1/namespaces/${NS}/endpointslices`,
            {},
            (_phase, obj: Slice) => {
              for (const e of obj.endpoints ?? [])
                if (e.conditions?.ready === true) for (const a of e.addresses ?? []) onAddress(a);
            },
            () => resolve(),
          )
          .then(
            (c) => (current = c),
            () => resolve(),
          );
      });
      await closed;
      if (!stopped) await sleep(100);
    }
  };
  void open();
  return () => {
    stopped = true;
    current?.abort();
  };
}

async function main(): Promise<void> {
  const cp = await startControlPlane({ log: (m) => process.stderr.write(`${m}\n`) });
  const kc = withSharedAgents(cp.kubeConfig(), 64);
  await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: NS } } });
  const sim = new KubeVirtSimulator(kc, {
    namespace: NS,
    addressFor: (vm) => [ipFor(10_000_000 + Number(vm.metadata.name!.slice(3)))],
  });
  await sim.start();
  // The churn's populate: VMs vm-0..vm-(VMS-1), running, publishing (pairs share a Service).
  const churn = new Churn(kc, sim, { namespace: NS, size: VMS, seed: 1, concurrency: 1, pauseMs: 0 });
  await churn.populate();

  const port = await freePort();
  const child = spawn(
    process.execPath,
    [CLI, 'controller', `--kubeconfig=${cp.kubeconfigPath}`, `--namespace=${NS}`, '--log-level=info'].concat([
      `--metrics-address=127.0.0.1:${port}`,
    ]),
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const pid = child.pid!;
  const rss = () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

  const pending = new Map<string, { seq: number; t0: number }>();
  const latencies = new Float64Array(CHANGES).fill(NaN);
  const stopWatch = watchSlices(kc, (ip) => {
    const p = pending.get(ip);
    if (!p) return;
    pending.delete(ip);
    if (p.seq >= 0) latencies[p.seq] = performance.now() - p.t0;
  });
  let failed = 0;
  let driven = 0;
  // SIGINT/SIGTERM: stop driving and report on the changes made so far.
  let interrupted = false;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => (interrupted = true));
  /** `count` changes at RATE/s; seq < 0: warm-up, not recorded. */
  const drive = async (count: number, seqBase: number, untilMs?: number) => {
    let n = 0;
    let inFlight = 0;
    const started = performance.now();
    const workers: Promise<void>[] = [];
    const one = async (k: number) => {
      const vm = `vm-${k % VMS}`;
      const ip = ipFor(k + (seqBase < 0 ? 5_000_000 : 0));
      const t0 = performance.now();
      pending.set(ip, { seq: seqBase < 0 ? -1 : k, t0 });
      try {
        await sim.setAddresses(NS, vm, 'l2', [ip]);
      } catch {
        failed++;
        pending.delete(ip);
      }
    };
    while (!interrupted && (untilMs ? performance.now() - started < untilMs : n < count)) {
      const due = started + (n * 1000) / RATE;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      while (inFlight >= IN_FLIGHT) await sleep(1);
      inFlight++;
      const k = n++;
      if (seqBase >= 0) driven = n;
      workers.push(one(k).finally(() => inFlight--));
      if (workers.length > 1000) await Promise.all(workers.splice(0, 500));
    }
    await Promise.all(workers);
    return { n, seconds: (performance.now() - started) / 1000 };
  };

  try {
    await waitFor(
      'controller ready',
      () => get(port, '/readyz').then((b) => (/^ok/.test(b) ? true : undefined)),
      {
        timeoutMs: 60_000,
        intervalMs: 200,
      },
    );
    await sleep(5000);
    const before = await handles(port, pid);
    const startRss = rss();
    await drive(0, -1, WARMUP_S * 1000);
    await sleep(2000);
    const afterWarmup = rss();
    let peak = afterWarmup;
    const sampler = setInterval(() => (peak = Math.max(peak, rss())), 1000);
    let reported = 0;
    const progress = setInterval(() => {
      const done = latencies.subarray(reported, driven).filter((x) => !Number.isNaN(x));
      process.stdout.write(
        `progress: ${driven} changes, RSS ${rss().toFixed(1)} MiB, fds ${readdirSync(`/proc/${pid}/fd`).length}, ` +
          `p99 of the last ${done.length} seen ${p99(Array.from(done)).toFixed(1)} ms\n`,
      );
      reported = driven;
    }, 60_000);
    const { n, seconds } = await drive(CHANGES, 0);
    clearInterval(progress);
    await sleep(5000);
    clearInterval(sampler);
    const end = rss();
    await sleep(5000);
    const idle = await handles(port, pid);
    const all = Array.from(latencies.subarray(0, n));
    const tenth = Math.floor(n / 10);
    const seenOf = (xs: number[]) => xs.filter((x) => !Number.isNaN(x));
    const first = seenOf(all.slice(0, tenth));
    const last = seenOf(all.slice(-tenth));
    const unseen = all.filter((x) => Number.isNaN(x)).length;
    const seen = seenOf(all).sort((a, b) => a - b);
    const p50 = seen[Math.floor(seen.length / 2)] ?? NaN;
    const growth = (100 * (end - afterWarmup)) / afterWarmup;
    const drift = (100 * (p99(last) - p99(first))) / p99(first);
    process.stdout.write(
      [
        `${VMS} VMs; ${n} address changes at ${RATE}/s in ${seconds.toFixed(0)} s (${(n / seconds).toFixed(0)}/s), ` +
          `${failed} writes failed, ${unseen} changes never seen in a slice (superseded or missed)`,
        `RSS at start ${startRss.toFixed(1)} MiB, after ${WARMUP_S} s warm-up ${afterWarmup.toFixed(1)} MiB, ` +
          `at the end ${end.toFixed(1)} MiB (${growth.toFixed(1)}%), peak ${peak.toFixed(1)} MiB`,
        `p99 written -> slice: first tenth ${p99(first).toFixed(1)} ms (${first.length} samples), ` +
          `last tenth ${p99(last).toFixed(1)} ms (${last.length} samples) (${drift.toFixed(1)}%); ` +
          `p50 all ${p50.toFixed(1)} ms`,
        `idle before: ${before}; idle after: ${idle}`,
        `targets: RSS growth < 10% ${growth < 10 ? 'met' : 'NOT met'}; p99 drift within 20% ${Math.abs(drift) <= 20 || drift < 0 ? 'met' : 'NOT met'}`,
      ].join('\n') + '\n',
    );
  } finally {
    stopWatch();
    child.kill('SIGKILL');
    await sim.stop();
    await cp.stop();
  }
}

await main();
