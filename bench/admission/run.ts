// Admission benchmark: the seed's MongoDB VM as CREATE reviews over HTTPS keep-alive with
// 32 connections (autocannon), reviews of different VMs (each its own name and uid, as a fleet
// created from one template: same user data), against (a) a bare node:https parse-and-allow server (the
// floor), (b) express with express.json() parse-and-allow, (c) our webhook. Each server runs
// in its own process; its CPU per review is process.cpuUsage() over the measured window.
// Usage: node dist/bench/admission/run.js [seconds=10] [connections=32] [variants=bare,lean,bare-patch,express,webhook-noop,webhook-fixed,webhook,webhook-unique,webhook-inline,webhook-node-http] [rounds=3]
// Each server is measured `rounds` times, interleaved with the others; the table shows each one's median round.
// BENCH_PIN=1: every server on CPU 0 and the load generator on CPU 1 (taskset), so that neither
// takes the other's CPU: what one CPU serves.
import { fork, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { parse as parseYaml } from 'yaml';
import { makeCert } from '../../test/webhook/support.js';

const SECONDS = Number(process.argv[2] ?? 10);
const CONNECTIONS = Number(process.argv[3] ?? 32);
const ONLY = process.argv[4]?.split(',');
const ROUNDS = Number(process.argv[5] ?? 3);
const WARMUP_SECONDS = 3;
/**
 * The start of every round, on its fresh connections, is not measured: TLS handshakes, the
 * load generator encoding its requests (the first responses wait up to half a second for
 * it), and each server's heap growing back after sitting idle while the others ran. The
 * round's p99 with that included is still reported, as "p99 from connect".
 */
const RAMP_SECONDS = 2;
const PIN = process.env.BENCH_PIN === '1';
const SERVER = fileURLToPath(new URL('./server.js', import.meta.url));
const VARIANTS = [
  ['bare', '(a) bare node:https parse+allow (floor)'],
  ['lean', '(a1) our lean HTTP path on node:tls, parse+allow (no node HTTP server)'],
  [
    'bare-patch',
    "(a2) bare node:https parse + a fixed answer the size of ours (floor for a mutation's answer)",
  ],
  ['express', '(b) express 5 + express.json() parse+allow'],
  ['webhook-noop', '(c0) our webhook, engine replaced by a no-op'],
  ['webhook-fixed', "(c1) our webhook, engine replaced by the seed VM's patch computed once"],
  ['webhook', '(c) kubevirt-net-injector webhook (mutating; as deployed: one review worker thread)'],
  ['webhook-unique', '(c2) the same webhook, every review with its own user data (no template reuse)'],
  ['webhook-inline', '(c3) the same webhook with --workers 0 (parse and engine on the main thread)'],
  ['webhook-node-http', "(c4) the same webhook with POST /mutate through node's HTTP server (lean path off)"],
] as const;

/**
 * Distinct reviews, sent in turn by every connection: enough that no server can answer from a
 * small cache. autocannon encodes each request once per connection when a round starts.
 */
const DISTINCT_REVIEWS = 1024;

interface Row {
  variant: string;
  rps: number;
  p50: number;
  p99: number;
  /** The whole round's p99, its ramp on fresh connections included. */
  p99FromConnect: number;
  cpuUsPerReview: number;
  total: number;
  failures: number;
}

/**
 * The reviews: the seed's mongodb VM named `mongodb-<n>` with its own uid. With
 * `uniqueUserData`, each also gets its own line of user data (no two VMs share a template).
 */
function reviewBodies(uniqueUserData: boolean): Buffer[] {
  const vm = parseYaml(readFileSync(join(process.cwd(), 'test/testdata/seed/mongodb.yaml'), 'utf8')) as {
    metadata: { name: string };
    spec: { template: { spec: { volumes: Record<string, unknown>[] } } };
  };
  const cloudInit = vm.spec.template.spec.volumes.find((v) => v['cloudInitNoCloud'])?.['cloudInitNoCloud'] as
    { userData: string } | undefined;
  const userData = cloudInit?.userData ?? '';
  return Array.from({ length: DISTINCT_REVIEWS }, (_, n) => {
    const name = `mongodb-${n}`;
    vm.metadata.name = name;
    if (cloudInit && uniqueUserData)
      cloudInit.userData = `${userData}bootcmd:\n  - [sh, -c, 'echo ${name}']\n`;
    return Buffer.from(
      JSON.stringify({
        apiVersion: 'admission.k8s.io/v1',
        kind: 'AdmissionReview',
        request: {
          uid: `705ab4f5-6393-11e8-b7cc-${n.toString(16).padStart(12, '0')}`,
          kind: { group: 'kubevirt.io', version: 'v1', kind: 'VirtualMachine' },
          resource: { group: 'kubevirt.io', version: 'v1', resource: 'virtualmachines' },
          requestKind: { group: 'kubevirt.io', version: 'v1', kind: 'VirtualMachine' },
          requestResource: { group: 'kubevirt.io', version: 'v1', resource: 'virtualmachines' },
          name,
          namespace: 'vm',
          operation: 'CREATE',
          userInfo: { username: 'kubernetes-admin', groups: ['system:masters', 'system:authenticated'] },
          object: vm,
          oldObject: null,
          dryRun: false,
          options: { apiVersion: 'meta.k8s.io/v1', kind: 'CreateOptions' },
        },
      }),
    );
  });
}

function startServer(
  variant: string,
  certFile: string,
  keyFile: string,
): Promise<{ child: ChildProcess; port: number }> {
  return new Promise((resolve, reject) => {
    const child = PIN
      ? spawn('taskset', ['-c', '0', process.execPath, SERVER, variant, certFile, keyFile], {
          stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        })
      : fork(SERVER, [variant, certFile, keyFile], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    child.once('message', (m: { port: number }) => resolve({ child, port: m.port }));
    child.once('exit', (code) => reject(new Error(`${variant} server exited (${code})`)));
  });
}

function cpuOf(child: ChildProcess): Promise<NodeJS.CpuUsage> {
  return new Promise((resolve) => {
    const on = (m: { cpu?: NodeJS.CpuUsage }) => {
      if (!m.cpu) return;
      child.off('message', on);
      resolve(m.cpu);
    };
    child.on('message', on);
    child.send({ cmd: 'cpu' });
  });
}

interface Load {
  /** Responses per second in the measured window (after the ramp). */
  rps: number;
  /** Responses in the measured window. */
  total: number;
  failures: number;
  /** The latency of every response in the measured window, ms. */
  samples: number[];
  /** The latency of every response of the round, ramp included, ms. */
  all: number[];
}

/**
 * One round: `ramp` seconds on fresh connections, then `seconds` measured on the same
 * connections. `atWindow` runs when the measured window opens (the caller reads the
 * server's CPU time then).
 */
function load(
  port: number,
  bodies: Buffer[],
  seconds: number,
  ramp = 0,
  atWindow: () => void = () => {},
): Promise<Load> {
  const samples: number[] = [];
  const all: number[] = [];
  let windowStart = Infinity;
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: `https://127.0.0.1:${port}/mutate`,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        // Encoded once per connection (a setupRequest hook would re-encode every request, at a
        // cost to the load generator that the shared CPUs would take from the server).
        requests: bodies.map((body) => ({ body })),
        connections: CONNECTIONS,
        pipelining: 1,
        duration: ramp + seconds,
      },
      (err, result) => {
        if (err) return reject(err);
        const elapsed = (performance.now() - windowStart) / 1000;
        resolve({
          rps: samples.length / elapsed,
          total: samples.length,
          failures: result.errors + result.timeouts + result.non2xx,
          samples,
          all,
        });
      },
    );
    instance.on('response', (_client, _status, _bytes, ms) => {
      if (all.length === 0) {
        // The ramp counts from the first response: encoding the requests comes before it.
        const opens = () => {
          windowStart = performance.now();
          atWindow();
        };
        if (ramp > 0) setTimeout(opens, ramp * 1000);
        else opens();
      }
      all.push(ms);
      if (performance.now() >= windowStart) samples.push(ms);
    });
  });
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function measure(child: ChildProcess, port: number, bodies: Buffer[]): Promise<Omit<Row, 'variant'>> {
  let before: Promise<NodeJS.CpuUsage> | undefined;
  const result = await load(port, bodies, SECONDS, RAMP_SECONDS, () => {
    before = cpuOf(child);
  });
  const after = await cpuOf(child);
  const start = await before!;
  const cpuUs = after.user - start.user + (after.system - start.system);
  const sorted = (xs: number[]) => xs.sort((a, b) => a - b);
  const samples = sorted(result.samples);
  return {
    rps: result.rps,
    p50: percentile(samples, 50),
    p99: percentile(samples, 99),
    p99FromConnect: percentile(sorted(result.all), 99),
    cpuUsPerReview: cpuUs / Math.max(1, result.total),
    total: result.total,
    failures: result.failures,
  };
}

/** The round with the median throughput (other engineers' builds make single runs noisy). */
function median(rows: Omit<Row, 'variant'>[]): Omit<Row, 'variant'> {
  const sorted = [...rows].sort((a, b) => a.rps - b.rps);
  const mid = sorted[Math.floor(sorted.length / 2)]!;
  return { ...mid, failures: rows.reduce((n, r) => n + r.failures, 0) };
}

async function main(): Promise<void> {
  if (PIN) {
    const pinned = spawnSync('taskset', ['-cp', '1', String(process.pid)]);
    if (pinned.status !== 0) throw new Error(`taskset failed: ${pinned.stderr.toString()}`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'bench-admission-'));
  const { certFile, keyFile } = makeCert(dir);
  const template = reviewBodies(false);
  const unique = reviewBodies(true);
  const bodiesOf = (variant: string) => (variant === 'webhook-unique' ? unique : template);
  const loadBefore = loadavg();
  const rows: Row[] = [];
  const selected = VARIANTS.filter(([v]) => !ONLY || ONLY.includes(v));
  const servers: { child: ChildProcess; port: number }[] = [];
  try {
    for (const [variant] of selected) {
      const server = await startServer(variant === 'webhook-unique' ? 'webhook' : variant, certFile, keyFile);
      servers.push(server);
      await load(server.port, bodiesOf(variant), WARMUP_SECONDS);
    }
    // Interleaved rounds: every server sees the same mix of background load.
    const rounds: Omit<Row, 'variant'>[][] = selected.map(() => []);
    for (let round = 0; round < ROUNDS; round++) {
      for (const [i, [variant, label]] of selected.entries()) {
        process.stderr.write(`round ${round + 1}/${ROUNDS}: ${label}, ${SECONDS}s\n`);
        rounds[i]!.push(await measure(servers[i]!.child, servers[i]!.port, bodiesOf(variant)));
      }
    }
    for (const [i, [, label]] of selected.entries()) rows.push({ variant: label, ...median(rounds[i]!) });
  } finally {
    for (const { child } of servers) child.send({ cmd: 'exit' });
    rmSync(dir, { recursive: true, force: true });
  }
  const loadAfter = loadavg();
  const floor = rows[0]!.rps;
  const header = `| server | reviews/s | p50 ms | p99 ms | p99 from connect ms | CPU µs/review | vs floor | failures |\n|---|---:|---:|---:|---:|---:|---:|---:|`;
  const lines = rows.map(
    (r) =>
      `| ${r.variant} | ${Math.round(r.rps)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.p99FromConnect.toFixed(2)} | ${Math.round(r.cpuUsPerReview)} | ${(
        (100 * r.rps) /
        floor
      ).toFixed(0)}% | ${r.failures} |`,
  );
  const fmt = (l: number[]) => l.map((x) => x.toFixed(2)).join(' ');
  const context = [
    `Date: ${new Date().toISOString()}; node ${process.version}; ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}`,
    `CPUs: ${PIN ? 'servers pinned to CPU 0, load generator to CPU 1' : 'servers and load generator share both'}`,
    `Load: HTTPS keep-alive, ${CONNECTIONS} connections, ${ROUNDS} interleaved rounds per server after ${WARMUP_SECONDS} s warm-up, each ${RAMP_SECONDS} s on fresh connections then ${SECONDS} s measured on the same ones (p99 from connect: the whole round), median round shown (failures: all rounds); reviews: the seed's mongodb VM as ${DISTINCT_REVIEWS} distinct CREATEs (own name and uid; ${template[0]!.length} bytes each) sent in turn by each connection`,
    `Load average (1 5 15 min) before: ${fmt(loadBefore)}; after: ${fmt(loadAfter)}`,
  ];
  const table = [header, ...lines].join('\n');
  process.stdout.write(`\n${context.join('\n')}\n\n${table}\n`);
  writeFileSync(
    join(process.cwd(), PIN ? 'bench/admission/last-run-pinned.md' : 'bench/admission/last-run.md'),
    `# Admission benchmark, last run\n\n${context.map((l) => `- ${l}`).join('\n')}\n\n${table}\n`,
  );
}

await main();
