// What our webhook adds to a VirtualMachine create through the real kube-apiserver: N sequential
// creates of the seed's MongoDB VM (unique names) in a namespace the webhook's namespaceSelector
// matches, against N in a namespace it does not match (same apiserver, same configuration
// registered, so the only difference is the webhook call and the larger injected object).
// The two are interleaved: each round alternates one create of each, and the round's first
// variant alternates too, so background load hits both alike.
// Usage: node dist/bench/apiserver/run.js [creates=300] [rounds=10] [warmup=30]
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parse as parseYaml } from 'yaml';

import {
  httpsGet,
  INJECT_LABEL,
  registerWebhook,
  repoRoot,
  startControlPlane,
  startWebhookProcess,
  waitFor,
  type ControlPlane,
} from '../../test/harness/index.js';
import { ApiserverClient, vmPath } from './client.js';

const CREATES = Number(process.argv[2] ?? 300);
const ROUNDS = Number(process.argv[3] ?? 10);
const WARMUP = Number(process.argv[4] ?? 30);

type Variant = 'webhook' | 'baseline';
interface Vm {
  metadata: { name: string; namespace: string } & Record<string, unknown>;
  spec: { template: { spec: { networks?: { name: string }[] } } };
}

function seedVm(): Vm {
  return parseYaml(readFileSync(join(repoRoot(), 'test/testdata/seed/mongodb.yaml'), 'utf8')) as Vm;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))]!;
}

function summary(samples: number[]): {
  n: number;
  min: number;
  p50: number;
  p90: number;
  p99: number;
  mean: number;
} {
  const sorted = [...samples].sort((a, b) => a - b);
  const mean = sorted.reduce((s, v) => s + v, 0) / Math.max(1, sorted.length);
  return {
    n: sorted.length,
    min: sorted[0] ?? NaN,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    mean,
  };
}

/** Sum and count of the webhook's own review-duration histogram (all codes). */
async function webhookReviewTime(url: string, caPem: string): Promise<{ sum: number; count: number }> {
  const text = (await httpsGet(new URL('/metrics', url).toString(), { ca: caPem })).body;
  let sum = 0;
  let count = 0;
  for (const line of text.split('\n')) {
    const m = /^kubevirt_net_injector_admission_review_duration_seconds_(sum|count)\{[^}]*\} (\S+)$/.exec(
      line,
    );
    if (m?.[1] === 'sum') sum += Number(m[2]);
    if (m?.[1] === 'count') count += Number(m[2]);
  }
  return { sum, count };
}

async function main(): Promise<void> {
  const loadBefore = loadavg();
  const uptimeBefore = execFileSync('uptime', { encoding: 'utf8' }).trim();
  console.log(`control plane starting (creates=${CREATES} per variant, rounds=${ROUNDS}, warmup=${WARMUP})`);
  let cp: ControlPlane | undefined;
  let api: ApiserverClient | undefined;
  try {
    cp = await startControlPlane({ controllerManager: false, log: (m) => console.log(`  ${m}`) });
    const kc = cp.kubeConfig();
    api = new ApiserverClient(cp);
    const client = api;
    const hook = await startWebhookProcess({ ca: cp.ca, processes: cp.processes });
    await registerWebhook(kc, { url: hook.url, caPem: cp.caPem });

    const namespaces: Record<Variant, string> = { webhook: 'bench-injected', baseline: 'bench-baseline' };
    for (const [variant, name] of Object.entries(namespaces)) {
      const labels = variant === 'webhook' ? { [INJECT_LABEL]: 'enabled' } : {};
      const res = await client.request('POST', '/api/v1/namespaces', { metadata: { name, labels } });
      if (res.status !== 201) throw new Error(`namespace ${name}: ${res.status}`);
    }

    const template = seedVm();
    let serial = 0;
    async function createOne(variant: Variant): Promise<{ ms: number; injected: boolean }> {
      const vm = structuredClone(template);
      vm.metadata.namespace = namespaces[variant];
      vm.metadata.name = `mongodb-${variant}-${serial++}`;
      const start = performance.now();
      const res = await client.request<Vm>('POST', vmPath(vm.metadata.namespace), vm);
      const ms = performance.now() - start;
      if (res.status !== 201)
        throw new Error(`create ${vm.metadata.name}: ${res.status} ${JSON.stringify(res.body)}`);
      const injected = (res.body.spec.template.spec.networks ?? []).some((n) => n.name === 'l2');
      return { ms, injected };
    }

    // The apiserver picks up the configuration asynchronously: wait until a create is injected.
    await waitFor(
      'the webhook to be called',
      async () => ((await createOne('webhook')).injected ? true : undefined),
      {
        timeoutMs: 30_000,
      },
    );
    for (let i = 0; i < WARMUP; i++) {
      await createOne('webhook');
      await createOne('baseline');
    }
    const before = await webhookReviewTime(hook.url, cp.caPem);

    const samples: Record<Variant, number[]> = { webhook: [], baseline: [] };
    const perRound = Math.ceil(CREATES / ROUNDS);
    for (let round = 0; round < ROUNDS; round++) {
      const order: Variant[] = round % 2 === 0 ? ['webhook', 'baseline'] : ['baseline', 'webhook'];
      for (let i = 0; i < perRound && samples.webhook.length < CREATES; i++) {
        for (const variant of order) {
          const { ms, injected } = await createOne(variant);
          if (injected !== (variant === 'webhook'))
            throw new Error(`${variant} create: injected=${injected}`);
          samples[variant].push(ms);
        }
      }
    }
    const after = await webhookReviewTime(hook.url, cp.caPem);
    const inWebhookMs = ((after.sum - before.sum) / Math.max(1, after.count - before.count)) * 1000;

    const w = summary(samples.webhook);
    const b = summary(samples.baseline);
    const f = (v: number): string => v.toFixed(2);
    console.log('');
    console.log(`| VM create (seed mongodb), ms | n | min | median | p90 | p99 | mean |`);
    console.log(`| --- | --- | --- | --- | --- | --- | --- |`);
    console.log(
      `| webhook registered, namespace opted in | ${w.n} | ${f(w.min)} | ${f(w.p50)} | ${f(w.p90)} | ${f(w.p99)} | ${f(w.mean)} |`,
    );
    console.log(
      `| baseline: namespace outside the selector | ${b.n} | ${f(b.min)} | ${f(b.p50)} | ${f(b.p90)} | ${f(b.p99)} | ${f(b.mean)} |`,
    );
    console.log(
      `| **added by the webhook** | | ${f(w.min - b.min)} | **${f(w.p50 - b.p50)}** | ${f(w.p90 - b.p90)} | ${f(w.p99 - b.p99)} | ${f(w.mean - b.mean)} |`,
    );
    console.log('');
    console.log(`inside the webhook (its own histogram, mean per review): ${inWebhookMs.toFixed(3)} ms`);
    console.log(`target: at most 3 ms added at the median -> ${w.p50 - b.p50 <= 3 ? 'met' : 'NOT met'}`);
    const loadAfter = loadavg();
    console.log(
      `cpus: ${cpus().length}; load average before: ${loadBefore.map((l) => l.toFixed(2)).join(', ')}; after: ${loadAfter.map((l) => l.toFixed(2)).join(', ')}`,
    );
    console.log(`uptime before: ${uptimeBefore}`);
    console.log(`uptime after:  ${execFileSync('uptime', { encoding: 'utf8' }).trim()}`);
  } finally {
    api?.close();
    await cp?.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.stack : err);
  process.exitCode = 1;
});
