// Admission benchmark: the seed's MongoDB VM as CREATE reviews over HTTPS keep-alive with
// 32 connections (autocannon), reviews of different VMs (each its own name and uid, as a fleet
// created from one template: same user data), against (a) a bare node:https parse-and-allow server (the
// floor), (b) express with express.json() parse-and-allow, (c) our webhook. Each server runs
// in its own process; its CPU per review is process.cpuUsage() over the measured window.
// Usage: node dist/bench/admission/run.js [seconds=10] [connections=32] [variants=bare,lean,bare-patch,express,webhook-noop,webhook-fixed,webhook,webhook-unique,webhook-inline,webhook-node-http,sustained,sustained-uncapped] [rounds=3]
// Each server is measured `rounds` times, interleaved with the others; the table shows each one's median round.
// Then sustained load: our webhook, fresh, held under load for BENCH_SUSTAINED_SECONDS (60) in
// one go, with and without the main thread's young generation capped as deployed.
// Every webhook server starts with the node flags the Deployment gives it (src/config/node-heap.ts).
// BENCH_PIN=1: every server on CPU 0 and the load generator on CPU 1 (taskset), so that neither
// takes the other's CPU: what one CPU serves.
import { fork, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { parse as parseYaml } from 'yaml';
import { MAIN_HEAP_FLAG } from '../../src/config/node-heap.js';
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
const SUSTAINED_SECONDS = Number(process.env['BENCH_SUSTAINED_SECONDS'] ?? 60);
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
const SUSTAINED = [
  ['sustained', '(c) kubevirt-net-injector webhook as deployed'],
  ['sustained-uncapped', "(c5) the same without the main thread's young-generation cap (node's default)"],
] as const;

/** The server behind a variant (the variants that differ only in their load or node flags). */
const SERVER_OF: Record<string, string> = {
  'webhook-unique': 'webhook',
  sustained: 'webhook',
  'sustained-uncapped': 'webhook',
};
/** Our webhook starts as the Deployment starts it; the floors with node's defaults. */
const nodeFlagsOf = (variant: string) =>
  variant.startsWith('webhook') || variant === 'sustained' ? [MAIN_HEAP_FLAG] : [];

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
  /** Major GCs on the server's main thread in the measured window. */
  majorGcs: number;
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
  const flags = nodeFlagsOf(variant);
  const args = [SERVER_OF[variant] ?? variant, certFile, keyFile];
  return new Promise((resolve, reject) => {
    const child = PIN
      ? spawn('taskset', ['-c', '0', process.execPath, ...flags, SERVER, ...args], {
          stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        })
      : fork(SERVER, args, { execArgv: flags, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    child.once('message', (m: { port: number }) => resolve({ child, port: m.port }));
    child.once('exit', (code) => reject(new Error(`${variant} server exited (${code})`)));
  });
}

interface ServerUsage {
  cpu: NodeJS.CpuUsage;
  /** Major GCs on its main thread so far. */
  majorGcs: number;
}

function usageOf(child: ChildProcess): Promise<ServerUsage> {
  return new Promise((resolve) => {
    const on = (m: Partial<ServerUsage>) => {
      if (!m.cpu) return;
      child.off('message', on);
      resolve({ cpu: m.cpu, majorGcs: m.majorGcs ?? NaN });
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

async function measure(
  child: ChildProcess,
  port: number,
  bodies: Buffer[],
  seconds = SECONDS,
): Promise<Omit<Row, 'variant'>> {
  let before: Promise<ServerUsage> | undefined;
  const result = await load(port, bodies, seconds, RAMP_SECONDS, () => {
    before = usageOf(child);
  });
  const after = await usageOf(child);
  const start = await before!;
  const cpuUs = after.cpu.user - start.cpu.user + (after.cpu.system - start.cpu.system);
  const sorted = (xs: number[]) => xs.sort((a, b) => a - b);
  const samples = sorted(result.samples);
  return {
    rps: result.rps,
    p50: percentile(samples, 50),
    p99: percentile(samples, 99),
    p99FromConnect: percentile(sorted(result.all), 99),
    cpuUsPerReview: cpuUs / Math.max(1, result.total),
    majorGcs: after.majorGcs - start.majorGcs,
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
  const sustainedRows: Row[] = [];
  const selected = VARIANTS.filter(([v]) => !ONLY || ONLY.includes(v));
  const sustained = SUSTAINED.filter(([v]) => SUSTAINED_SECONDS > 0 && (!ONLY || ONLY.includes(v)));
  const servers: { child: ChildProcess; port: number }[] = [];
  try {
    for (const [variant] of selected) {
      const server = await startServer(variant, certFile, keyFile);
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
    for (const { child } of servers.splice(0)) child.send({ cmd: 'exit' });
    // Sustained: each server fresh and alone, held under load without a pause.
    for (const [variant, label] of sustained) {
      const server = await startServer(variant, certFile, keyFile);
      servers.push(server);
      await load(server.port, template, WARMUP_SECONDS);
      process.stderr.write(`sustained: ${label}, ${SUSTAINED_SECONDS}s\n`);
      sustainedRows.push({
        variant: label,
        ...(await measure(server.child, server.port, template, SUSTAINED_SECONDS)),
      });
      server.child.send({ cmd: 'exit' });
      servers.pop();
    }
  } finally {
    for (const { child } of servers) child.send({ cmd: 'exit' });
    rmSync(dir, { recursive: true, force: true });
  }
  const loadAfter = loadavg();
  const floor = rows[0]?.rps ?? NaN;
  const header = (first: string) =>
    `| ${first} | reviews/s | p50 ms | p99 ms | p99 from connect ms | CPU µs/review | vs floor | major GCs (main thread) | failures |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|`;
  const line = (r: Row) =>
    `| ${r.variant} | ${Math.round(r.rps)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.p99FromConnect.toFixed(2)} | ${Math.round(r.cpuUsPerReview)} | ${(
      (100 * r.rps) /
      floor
    ).toFixed(0)}% | ${r.majorGcs} | ${r.failures} |`;
  const fmt = (l: number[]) => l.map((x) => x.toFixed(2)).join(' ');
  const context = [
    `Date: ${new Date().toISOString()}; node ${process.version}; ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}`,
    `CPUs: ${PIN ? 'servers pinned to CPU 0, load generator to CPU 1' : 'servers and load generator share both'}`,
    `Load: HTTPS keep-alive, ${CONNECTIONS} connections, ${ROUNDS} interleaved rounds per server after ${WARMUP_SECONDS} s warm-up, each ${RAMP_SECONDS} s on fresh connections then ${SECONDS} s measured on the same ones (p99 from connect: the whole round), median round shown (failures: all rounds); reviews: the seed's mongodb VM as ${DISTINCT_REVIEWS} distinct CREATEs (own name and uid; ${template[0]!.length} bytes each) sent in turn by each connection`,
    `Node flags: our webhook's servers start with ${MAIN_HEAP_FLAG}, as the Deployment starts it (NODE_OPTIONS), except (c5); the floors with node's defaults`,
    `Load average (1 5 15 min) before: ${fmt(loadBefore)}; after: ${fmt(loadAfter)}`,
  ];
  const tables = [[header('server'), ...rows.map(line)].join('\n')];
  if (sustainedRows.length)
    tables.push(
      `Sustained load: each server fresh and alone, ${WARMUP_SECONDS} s warm-up, then ${RAMP_SECONDS} s + ${SUSTAINED_SECONDS} s measured without a pause (vs floor: the floor's median round above)\n\n` +
        [header('server, sustained'), ...sustainedRows.map(line)].join('\n'),
    );
  const body = tables.join('\n\n');
  process.stdout.write(`\n${context.join('\n')}\n\n${body}\n`);
  writeFileSync(
    join(process.cwd(), PIN ? 'bench/admission/last-run-pinned.md' : 'bench/admission/last-run.md'),
    `# Admission benchmark, last run\n\n${context.map((l) => `- ${l}`).join('\n')}\n\n${body}\n`,
  );
}

await main();
