// What our webhook adds to a VirtualMachine create through the real kube-apiserver: N sequential
// creates of the seed's MongoDB VM (unique names) in a namespace the webhook's namespaceSelector
// matches, against N in a namespace it does not match (same apiserver, same configuration
// registered, so the only difference is the webhook call and the larger injected object). A third
// variant splits the two: the same VM labelled `kubevirt-net-injector.io/inject=disabled` in the
// opted-in namespace, so the webhook is called but answers without a patch. A fourth stores the
// engine's output directly in the baseline namespace: what the bigger, injected object costs
// without any webhook.
// A fifth variant adds policy enforcement: the same create in an opted-in namespace that the
// validating webhook (the shipped configuration, narrowed to that namespace) also judges, with
// 100 NetworkAttachmentPolicies (5 selecting the namespace) and 1,000 NADs loaded.
// Two yardsticks send the same create, each in its own namespace, to another webhook instead: the
// Go controller-runtime peer (bench/peer.ts; its patch is smaller, no user-data edit), when it
// builds, and the bare node:https floor of bench/admission (parse + allow, no patch): what a
// minimal webhook adds on the same machine.
// The variants are interleaved: each round alternates one create of each, and the round's order
// rotates, so background load hits all alike.
// Usage: node dist/bench/apiserver/run.js [creates=300] [rounds=10] [warmup=30]
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parse as parseYaml } from 'yaml';

import {
  freePort,
  httpsGet,
  INJECT_LABEL,
  issue,
  mutatingWebhookConfiguration,
  registerWebhook,
  validatingWebhookConfiguration,
  repoRoot,
  startControlPlane,
  startWebhookProcess,
  waitFor,
  webhookHealthy,
  type ControlPlane,
} from '../../test/harness/index.js';
import { mutate, type InjectSettings } from '../../src/mutate/index.js';
import { buildPeer, peerArgs } from '../peer.js';
import { ApiserverClient, vmPath } from './client.js';

const CREATES = Number(process.argv[2] ?? 300);
const ROUNDS = Number(process.argv[3] ?? 10);
const WARMUP = Number(process.argv[4] ?? 30);

type Variant = 'webhook' | 'validated' | 'called' | 'premutated' | 'baseline' | 'peer' | 'floor';
const VARIANTS: Variant[] = ['webhook', 'validated', 'called', 'premutated', 'baseline', 'floor'];
const INJECTED: ReadonlySet<Variant> = new Set(['webhook', 'validated', 'premutated', 'peer']);
const POLICIES = 100;
const SELECTING = 5;
const NADS = 1000;
/** The webhook's defaults (startWebhookProcess: --network ovs-net-br1). */
const SETTINGS: InjectSettings = { network: 'ovs-net-br1', interfaceName: 'l2', cloudInit: true };
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

/** Median `durationMs` of the webhook's review log lines, by variant (from the VM name), measured creates only. */
function insideWebhook(logPath: string, fromSerial: number): Partial<Record<Variant, number>> {
  const byVariant: Partial<Record<Variant, number[]>> = {};
  for (const line of readFileSync(logPath, 'utf8').split('\n')) {
    if (!line.startsWith('{')) continue;
    const entry = JSON.parse(line) as { name?: string; durationMs?: number };
    const m = /^mongodb-(webhook|called)-(\d+)$/.exec(entry.name ?? '');
    const variant = m?.[1] as Variant | undefined;
    if (variant && Number(m?.[2]) >= fromSerial && typeof entry.durationMs === 'number')
      (byVariant[variant] ??= []).push(entry.durationMs);
  }
  return Object.fromEntries(
    Object.entries(byVariant).map(([v, samples]) => [v, summary(samples).p50]),
  ) as Partial<Record<Variant, number>>;
}

/**
 * 1,000 NADs in 10 namespaces (and the webhook's default network in the validated namespace), and
 * 100 policies: 5 select the validated namespace (and allow its networks), 95 select others.
 */
async function loadPolicies(client: ApiserverClient): Promise<void> {
  const post = async (path: string, body: unknown) => {
    const res = await client.request('POST', path, body);
    if (res.status !== 201) throw new Error(`POST ${path}: ${res.status} ${JSON.stringify(res.body)}`);
  };
  const nad = (namespace: string, name: string) =>
    post(`/apis/k8s.cni.cncf.io/v1/namespaces/${namespace}/network-attachment-definitions`, {
      apiVersion: 'k8s.cni.cncf.io/v1',
      kind: 'NetworkAttachmentDefinition',
      metadata: { name, namespace, labels: { tier: name.endsWith('0') ? 'shared' : 'tenant' } },
      spec: { config: JSON.stringify({ cniVersion: '0.3.1', type: 'ovs', bridge: 'br1' }) },
    });
  await nad('bench-validated', SETTINGS.network);
  for (let n = 0; n < 10; n++) {
    const namespace = `bench-nads-${n}`;
    await post('/api/v1/namespaces', { metadata: { name: namespace } });
    for (let i = 0; i < NADS / 10; i++) await nad(namespace, `net-${i}`);
  }
  for (let i = 0; i < POLICIES; i++) {
    const selecting = i < SELECTING;
    await post('/apis/kubevirt-net-injector.io/v1alpha1/networkattachmentpolicies', {
      apiVersion: 'kubevirt-net-injector.io/v1alpha1',
      kind: 'NetworkAttachmentPolicy',
      metadata: { name: `bench-${String(i).padStart(3, '0')}` },
      spec: {
        namespaceSelector: { matchLabels: selecting ? { bench: 'validated' } : { bench: `other-${i}` } },
        allowedNetworks: {
          names: ['bench-validated/*', `bench-nads-${i % 10}/net-*`],
          selector: { matchLabels: { tier: 'shared' } },
        },
        allowCrossNamespace: true,
        maxSecondaryInterfaces: 4,
        mode: 'Enforce',
      },
    });
  }
}

/**
 * Starts a yardstick webhook with a serving certificate from the control plane's CA and registers
 * it for namespaces labelled bench=<variant>.
 */
async function startYardstick(
  cp: ControlPlane,
  client: ApiserverClient,
  variant: 'peer' | 'floor',
  command: (port: number, cert: string, key: string) => [string, string[]],
): Promise<void> {
  const name = `bench-${variant}`;
  const serving = issue(cp.ca, { stem: name, commonName: name, usage: 'server', ipSans: ['127.0.0.1'] });
  const port = await freePort();
  const url = `https://127.0.0.1:${port}/mutate`;
  const [file, args] = command(port, serving.cert, serving.key);
  const proc = cp.processes.spawn(name, file, args);
  await waitFor(`${name} /healthz`, async () => ((await webhookHealthy(url, cp.caPem)) ? true : undefined), {
    timeoutMs: 30_000,
    failIf: () => (proc.exitCode() === undefined ? undefined : `${name} exited (${proc.exitCode()})`),
  });
  const config = mutatingWebhookConfiguration({ url, caPem: cp.caPem, name });
  const webhook = config.webhooks![0]!;
  webhook.name = `vm.${variant}.bench`;
  webhook.namespaceSelector = { matchLabels: { bench: variant } };
  const res = await client.request(
    'POST',
    '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations',
    config,
  );
  if (res.status !== 201) throw new Error(`${name} webhook configuration: ${res.status}`);
}

/** Reviews the validating endpoint has answered so far (its decisions counter). */
async function validatedReviews(url: string, caPem: string): Promise<number> {
  const text = (await httpsGet(new URL('/metrics', url).toString(), { ca: caPem })).body;
  let total = 0;
  for (const m of text.matchAll(
    /^kubevirt_net_injector_admission_decisions_total\{webhook="validate",[^}]*\} (\S+)$/gm,
  ))
    total += Number(m[1]);
  return total;
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
    const namespaces: Record<Variant, string> = {
      webhook: 'bench-injected',
      validated: 'bench-validated',
      called: 'bench-injected',
      premutated: 'bench-baseline',
      baseline: 'bench-baseline',
      peer: 'bench-peer',
      floor: 'bench-floor',
    };
    const labelsOf: Record<string, Record<string, string>> = {
      'bench-injected': { [INJECT_LABEL]: 'enabled' },
      'bench-validated': { [INJECT_LABEL]: 'enabled', bench: 'validated' },
      'bench-baseline': {},
      'bench-peer': { bench: 'peer' },
      'bench-floor': { bench: 'floor' },
    };
    for (const [name, labels] of Object.entries(labelsOf)) {
      const res = await client.request('POST', '/api/v1/namespaces', { metadata: { name, labels } });
      if (res.status !== 201) throw new Error(`namespace ${name}: ${res.status}`);
    }
    await loadPolicies(client);
    // The yardsticks are registered before our webhook: the apiserver reads the configurations
    // from one informer, in order, so once ours is called theirs are in effect too.
    const floorJs = join(repoRoot(), 'dist/bench/admission/floor.js');
    await startYardstick(cp, client, 'floor', (port, cert, key) => [
      process.execPath,
      [floorJs, String(port), cert, key],
    ]);
    const peer = buildPeer();
    if (peer)
      await startYardstick(cp, client, 'peer', (port, cert, key) => [peer, peerArgs(port, cert, key)]);
    const variants = peer ? [...VARIANTS, 'peer' as const] : VARIANTS;
    // Cluster mode: the webhook's caches hold the policies and NADs.
    const hook = await startWebhookProcess({
      ca: cp.ca,
      processes: cp.processes,
      kubeconfigPath: cp.kubeconfigPath,
    });
    await registerWebhook(kc, { url: hook.url, caPem: cp.caPem });
    const validating = validatingWebhookConfiguration(hook.url.replace(/\/mutate$/, '/validate'), cp.caPem);
    for (const w of validating.webhooks ?? []) w.namespaceSelector!.matchLabels!.bench = 'validated';
    const registered = await client.request(
      'POST',
      '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations',
      validating,
    );
    if (registered.status !== 201) throw new Error(`validating webhook: ${registered.status}`);

    const template = seedVm();
    let serial = 0;
    async function createOne(variant: Variant): Promise<{ ms: number; injected: boolean }> {
      let vm = structuredClone(template);
      vm.metadata.namespace = namespaces[variant];
      vm.metadata.name = `mongodb-${variant}-${serial++}`;
      if (variant === 'premutated') vm = mutate(vm, SETTINGS).vm as unknown as Vm;
      if (variant === 'called') {
        const labels = (vm.metadata.labels ?? {}) as Record<string, string>;
        vm.metadata.labels = { ...labels, [INJECT_LABEL]: 'disabled' };
      }
      const start = performance.now();
      const res = await client.request<Vm>('POST', vmPath(vm.metadata.namespace), vm);
      const ms = performance.now() - start;
      if (res.status !== 201)
        throw new Error(`create ${vm.metadata.name}: ${res.status} ${JSON.stringify(res.body)}`);
      const injected = (res.body.spec.template.spec.networks ?? []).some((n) => n.name === 'l2');
      return { ms, injected };
    }
    const untilInjected = (variant: Variant) =>
      waitFor(
        `the ${variant} webhook to be called`,
        async () => ((await createOne(variant)).injected ? true : undefined),
        {
          timeoutMs: 30_000,
        },
      );

    // The apiserver picks up the configuration asynchronously: wait until a create is injected.
    await untilInjected('webhook');
    if (variants.includes('peer')) await untilInjected('peer');
    await waitFor(
      'the validating webhook to be called',
      async () =>
        (await validatedReviews(hook.url, cp!.caPem)) > 0 ? true : (await createOne('validated'), undefined),
      {
        timeoutMs: 30_000,
      },
    );
    for (let i = 0; i < WARMUP; i++) for (const variant of variants) await createOne(variant);
    const before = await webhookReviewTime(hook.url, cp.caPem);
    const firstMeasured = serial;

    const samples: Record<Variant, number[]> = {
      webhook: [],
      validated: [],
      called: [],
      premutated: [],
      baseline: [],
      peer: [],
      floor: [],
    };
    const perRound = Math.ceil(CREATES / ROUNDS);
    /** Per round: median(webhook) - median(baseline) of that round's creates. */
    const roundDeltas: number[] = [];
    /** Per round: median(validated) - median(webhook): the validating call. */
    const validationDeltas: number[] = [];
    /** Per round: median(peer) - median(baseline), and the same for the floor. */
    const peerDeltas: number[] = [];
    const floorDeltas: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const start = {
        webhook: samples.webhook.length,
        validated: samples.validated.length,
        baseline: samples.baseline.length,
        peer: samples.peer.length,
        floor: samples.floor.length,
      };
      const order = variants.map((_, i) => variants[(i + round) % variants.length]!);
      for (let i = 0; i < perRound && samples.webhook.length < CREATES; i++) {
        for (const variant of order) {
          const { ms, injected } = await createOne(variant);
          if (injected !== INJECTED.has(variant)) throw new Error(`${variant} create: injected=${injected}`);
          samples[variant].push(ms);
        }
      }
      roundDeltas.push(
        summary(samples.webhook.slice(start.webhook)).p50 -
          summary(samples.baseline.slice(start.baseline)).p50,
      );
      validationDeltas.push(
        summary(samples.validated.slice(start.validated)).p50 -
          summary(samples.webhook.slice(start.webhook)).p50,
      );
      floorDeltas.push(
        summary(samples.floor.slice(start.floor)).p50 - summary(samples.baseline.slice(start.baseline)).p50,
      );
      if (variants.includes('peer'))
        peerDeltas.push(
          summary(samples.peer.slice(start.peer)).p50 - summary(samples.baseline.slice(start.baseline)).p50,
        );
    }
    const after = await webhookReviewTime(hook.url, cp.caPem);
    // The webhook's own review log (durationMs per review), complete once the process has exited.
    await hook.stop();
    const inside = insideWebhook(join(cp.processes.stateDir, 'webhook.log'), firstMeasured);
    // Both webhook variants are in the histogram, in equal numbers.
    const inWebhookMs = ((after.sum - before.sum) / Math.max(1, after.count - before.count)) * 1000;

    const w = summary(samples.webhook);
    const v = summary(samples.validated);
    const c = summary(samples.called);
    const p = summary(samples.premutated);
    const b = summary(samples.baseline);
    const g = summary(samples.peer);
    const fl = summary(samples.floor);
    const f = (v: number): string => v.toFixed(2);
    type Summary = ReturnType<typeof summary>;
    const row = (label: string, s: Summary): string =>
      `| ${label} | ${s.n} | ${f(s.min)} | ${f(s.p50)} | ${f(s.p90)} | ${f(s.p99)} | ${f(s.mean)} |`;
    const delta = (label: string, x: Summary, y: Summary): string =>
      `| ${label} | | ${f(x.min - y.min)} | ${f(x.p50 - y.p50)} | ${f(x.p90 - y.p90)} | ${f(x.p99 - y.p99)} | ${f(x.mean - y.mean)} |`;
    console.log('');
    console.log(`| VM create (seed mongodb), ms | n | min | median | p90 | p99 | mean |`);
    console.log(`| --- | --- | --- | --- | --- | --- | --- |`);
    console.log(row('webhook registered, namespace opted in (injected)', w));
    console.log(
      row(`the same, also validated (${POLICIES} policies, ${SELECTING} selecting; ${NADS} NADs)`, v),
    );
    console.log(row('webhook called, no patch (VM opted out)', c));
    console.log(row('no webhook call, engine output sent as is', p));
    console.log(row('baseline: namespace outside the selector', b));
    if (g.n > 0) console.log(row('Go controller-runtime peer instead (its smaller patch)', g));
    console.log(row('bare node:https instead (parse + allow, no patch)', fl));
    console.log(delta('added by the call alone (no patch)', c, b));
    console.log(delta('added by the bigger object alone (no call)', p, b));
    console.log(delta('added by the webhook over storing its output', w, p));
    console.log(delta('**added by the webhook (injected)**', w, b));
    console.log(delta('**added by the validating call**', v, w));
    if (g.n > 0) console.log(delta('added by the Go peer (injected, smaller patch)', g, b));
    console.log(delta('added by bare node:https (no patch)', fl, b));
    const rd = summary(roundDeltas);
    console.log('');
    console.log(
      `added by the webhook, per round (median of the round's webhook creates - median of its baseline creates): ` +
        `median ${f(rd.p50)} ms over ${rd.n} rounds, min ${f(rd.min)}, max ${f(Math.max(...roundDeltas))}`,
    );
    console.log('');
    console.log(
      `inside the webhook, mean per review (its histogram, both variants): ${inWebhookMs.toFixed(3)} ms; ` +
        `median per review (its log): injected ${inside.webhook?.toFixed(3)} ms, opted out ${inside.called?.toFixed(3)} ms`,
    );
    const fd = summary(floorDeltas);
    console.log(
      `added by bare node:https, per round: median ${f(fd.p50)} ms over ${fd.n} rounds, min ${f(fd.min)}, max ${f(Math.max(...floorDeltas))}`,
    );
    if (peerDeltas.length > 0) {
      const pd = summary(peerDeltas);
      console.log(
        `added by the Go peer, per round: median ${f(pd.p50)} ms over ${pd.n} rounds, min ${f(pd.min)}, max ${f(Math.max(...peerDeltas))}`,
      );
    }
    const vd = summary(validationDeltas);
    console.log(
      `added by the validating call, per round: median ${f(vd.p50)} ms over ${vd.n} rounds, min ${f(vd.min)}, max ${f(Math.max(...validationDeltas))}`,
    );
    console.log(`target: at most 3 ms added at the median -> ${w.p50 - b.p50 <= 3 ? 'met' : 'NOT met'}`);
    console.log(
      `target: the validating call at most 1 ms at the median -> ${v.p50 - w.p50 <= 1 ? 'met' : 'NOT met'}`,
    );
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
