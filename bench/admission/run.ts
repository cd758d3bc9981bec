// Admission benchmark (method and current figures: bench/README.md). Three servers, each in
// its own process, get the same CREATE reviews of the seed's MongoDB VM over HTTPS keep-alive:
//   floor    bare node:https, parse + allow (bench/admission/floor.ts)
//   webhook  our webhook as deployed (`kubevirt-net-injector webhook`, logging at info)
//   go       the Go controller-runtime peer (../shared/peers/go-webhook, built into .cache/peers)
// Phases: saturation (interleaved rounds), a fixed 1,000 reviews/s, and sustained saturation
// with RSS sampled every second. CPU time and RSS are read from /proc/<pid> for every server
// alike. Settings (environment): BENCH_SECONDS=10 BENCH_ROUNDS=3 BENCH_CONNECTIONS=32
// BENCH_RATE=1000 BENCH_SUSTAINED_SECONDS=60 BENCH_SERVERS=floor,webhook,go BENCH_PIN=1 (servers
// on CPU 0, load generator on CPU 1) PEER_DIR (the Go peer's source).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { parse as parseYaml } from 'yaml';
import { freePort } from '../../test/harness/ports.js';
import { makeCert } from '../../test/webhook/support.js';
import { buildPeer, peerArgs } from '../peer.js';
import { paced } from './paced.js';

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const SECONDS = env('BENCH_SECONDS', 10);
const ROUNDS = env('BENCH_ROUNDS', 3);
const CONNECTIONS = env('BENCH_CONNECTIONS', 32);
const RATE = env('BENCH_RATE', 1000);
/** Connections the fixed rate is spread over (the apiserver keeps a pool per webhook too). */
const PACED_CONNECTIONS = env('BENCH_PACED_CONNECTIONS', 8);
const SUSTAINED_SECONDS = env('BENCH_SUSTAINED_SECONDS', 60);
const WARMUP_SECONDS = 3;
/** Each round's first seconds on fresh connections (handshakes, the load generator encoding its requests) are not measured. */
const RAMP_SECONDS = 2;
const PIN = process.env.BENCH_PIN === '1';
const ROOT = process.cwd();
const CLI = join(ROOT, 'dist/src/cli/main.js');
const FLOOR = fileURLToPath(new URL('./floor.js', import.meta.url));
/** Distinct reviews sent in turn by every connection, so that no server answers from a small cache. */
const DISTINCT_REVIEWS = 1024;

interface ServerKind {
  label: string;
  command(port: number, cert: string, key: string): [string, string[]] | undefined;
}

const SERVERS: Record<string, ServerKind> = {
  floor: {
    label: 'bare node:https, parse + allow (floor)',
    command: (port, cert, key) => [process.execPath, [FLOOR, String(port), cert, key]],
  },
  webhook: {
    label: 'kubevirt-net-injector webhook, as deployed',
    command: (port, cert, key) => [
      process.execPath,
      [CLI, 'webhook', '--tls-cert', cert, '--tls-key', key, '--bind-address', '127.0.0.1'].concat([
        '--port',
        String(port),
        '--network',
        'ovs-net-br1',
      ]),
    ],
  },
  go: {
    label: 'Go controller-runtime peer',
    command: (port, cert, key) => {
      const binary = buildPeer();
      return binary ? [binary, peerArgs(port, cert, key)] : undefined;
    },
  },
};

function reviewBodies(): Buffer[] {
  const vm = parseYaml(readFileSync(join(ROOT, 'test/testdata/seed/mongodb.yaml'), 'utf8')) as {
    metadata: { name: string };
  };
  return Array.from({ length: DISTINCT_REVIEWS }, (_, n) => {
    vm.metadata.name = `mongodb-${n}`;
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
          name: vm.metadata.name,
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

interface Running {
  name: string;
  child: ChildProcess;
  port: number;
}

function healthy(port: number): Promise<boolean> {
  return new Promise((done) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/healthz', rejectUnauthorized: false, agent: false },
      (res) => {
        res.resume();
        done(res.statusCode === 200);
      },
    );
    req.on('error', () => done(false));
    req.end();
  });
}

async function start(name: string, cert: string, key: string): Promise<Running | undefined> {
  const port = await freePort();
  const command = SERVERS[name]!.command(port, cert, key);
  if (!command) return undefined;
  const [file, args] = PIN ? ['taskset', ['-c', '0', command[0], ...command[1]]] : command;
  const child = spawn(file, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`${name} exited (${child.exitCode})`);
    if (await healthy(port)) return { name, child, port };
    await sleep(100);
  }
  child.kill();
  throw new Error(`${name} did not answer /healthz`);
}

async function stop(server: Running): Promise<void> {
  const exited = new Promise((done) => server.child.once('exit', done));
  server.child.kill('SIGTERM');
  await Promise.race([exited, sleep(5000)]);
  server.child.kill('SIGKILL');
}

/** Process CPU time (all threads, user + system) in microseconds, from /proc. */
function cpuUs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1e6) / CLOCK_TICKS;
}
const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK']).stdout.toString().trim()) || 100;

function rssMiB(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : NaN;
}

interface Result {
  rps: number;
  p50: number;
  p99: number;
  cpuUsPerReview: number;
  failures: number;
  maxRssMiB: number;
}

/** One measured saturation run on fresh connections: `RAMP_SECONDS` not measured, then `seconds` measured. */
function load(server: Running, bodies: Buffer[], seconds: number): Promise<Result> {
  const pid = server.child.pid!;
  const samples: number[] = [];
  let windowStart = Infinity;
  let cpuAtStart = 0;
  let maxRss = 0;
  const rssTimer = setInterval(() => {
    if (performance.now() >= windowStart) maxRss = Math.max(maxRss, rssMiB(pid));
  }, 1000);
  return new Promise((done, fail) => {
    const instance = autocannon(
      {
        url: `https://127.0.0.1:${server.port}/mutate`,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        requests: bodies.map((body) => ({ body })),
        connections: CONNECTIONS,
        pipelining: 1,
        duration: RAMP_SECONDS + seconds,
      },
      (err, result) => {
        clearInterval(rssTimer);
        if (err) return fail(err);
        const elapsed = (performance.now() - windowStart) / 1000;
        samples.sort((a, b) => a - b);
        done({
          rps: samples.length / elapsed,
          p50: percentile(samples, 50),
          p99: percentile(samples, 99),
          cpuUsPerReview: (cpuUs(pid) - cpuAtStart) / Math.max(1, samples.length),
          failures: result.errors + result.timeouts + result.non2xx,
          maxRssMiB: Math.max(maxRss, rssMiB(pid)),
        });
      },
    );
    instance.on('response', (_client, _status, _bytes, ms) => {
      if (windowStart === Infinity && samples.length === 0) {
        windowStart = -1; // armed: opens after the ramp
        setTimeout(() => {
          cpuAtStart = cpuUs(pid);
          windowStart = performance.now();
        }, RAMP_SECONDS * 1000);
      }
      if (windowStart > 0 && performance.now() >= windowStart) samples.push(ms);
    });
  });
}

/** `rate` reviews/s at even intervals on `PACED_CONNECTIONS` connections (see paced.ts). */
async function loadPaced(server: Running, bodies: Buffer[], seconds: number, rate: number): Promise<Result> {
  const pid = server.child.pid!;
  let cpuAtStart = 0;
  let measuring = false;
  let maxRss = 0;
  const rssTimer = setInterval(() => {
    if (measuring) maxRss = Math.max(maxRss, rssMiB(pid));
  }, 1000);
  const run = await paced({
    port: server.port,
    path: '/mutate',
    bodies,
    rate,
    connections: PACED_CONNECTIONS,
    rampSeconds: RAMP_SECONDS,
    seconds,
    onWindowOpen: () => {
      cpuAtStart = cpuUs(pid);
      measuring = true;
    },
  });
  clearInterval(rssTimer);
  const { samples } = run;
  return {
    rps: samples.length / run.windowSeconds,
    p50: percentile(samples, 50),
    p99: percentile(samples, 99),
    cpuUsPerReview: (cpuUs(pid) - cpuAtStart) / Math.max(1, samples.length),
    failures: run.failures,
    maxRssMiB: Math.max(maxRss, rssMiB(pid)),
  };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

/** The round with the median throughput; failures summed over all rounds. */
function median(rounds: Result[]): Result {
  const mid = [...rounds].sort((a, b) => a.rps - b.rps)[Math.floor(rounds.length / 2)]!;
  return { ...mid, failures: rounds.reduce((n, r) => n + r.failures, 0) };
}

function table(title: string, rows: [string, Result][]): string {
  const head = `| ${title} | reviews/s | p50 ms | p99 ms | CPU µs/review | max RSS MiB | failures |\n|---|---:|---:|---:|---:|---:|---:|`;
  const lines = rows.map(
    ([name, r]) =>
      `| ${SERVERS[name]!.label} | ${Math.round(r.rps)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${Math.round(r.cpuUsPerReview)} | ${r.maxRssMiB.toFixed(0)} | ${r.failures} |`,
  );
  return [head, ...lines].join('\n');
}

async function main(): Promise<void> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run 'make build' first`);
  if (PIN) spawnSync('taskset', ['-cp', '1', String(process.pid)], { stdio: 'ignore' });
  const names = (process.env.BENCH_SERVERS ?? 'floor,webhook,go').split(',').filter((n) => SERVERS[n]);
  const dir = mkdtempSync(join(tmpdir(), 'bench-admission-'));
  const { certFile, keyFile } = makeCert(dir);
  const bodies = reviewBodies();
  const loadBefore = loadavg();
  const servers: Running[] = [];
  const out: string[] = [];
  try {
    for (const name of names) {
      const server = await start(name, certFile, keyFile);
      if (!server) continue;
      servers.push(server);
      await load(server, bodies, WARMUP_SECONDS);
    }
    // Saturation, interleaved so that every server sees the same mix of background load.
    const rounds = new Map<string, Result[]>(servers.map((s) => [s.name, []]));
    for (let round = 1; round <= ROUNDS; round++) {
      for (const server of servers) {
        process.stderr.write(`saturation round ${round}/${ROUNDS}: ${server.name}\n`);
        rounds.get(server.name)!.push(await load(server, bodies, SECONDS));
      }
    }
    out.push(
      table(
        'saturation',
        [...rounds].map(([name, r]) => [name, median(r)]),
      ),
    );
    const fixed: [string, Result][] = [];
    for (const server of servers) {
      process.stderr.write(`fixed rate ${RATE}/s: ${server.name}\n`);
      fixed.push([server.name, await loadPaced(server, bodies, SECONDS, RATE)]);
    }
    out.push(table(`fixed ${RATE} reviews/s`, fixed));
    for (const server of servers.splice(0)) await stop(server);
    if (SUSTAINED_SECONDS > 0) {
      const sustained: [string, Result][] = [];
      for (const name of names) {
        const server = await start(name, certFile, keyFile);
        if (!server) continue;
        servers.push(server);
        process.stderr.write(`sustained ${SUSTAINED_SECONDS} s: ${name}\n`);
        sustained.push([name, await load(server, bodies, SUSTAINED_SECONDS)]);
        await stop(servers.pop()!);
      }
      out.push(table(`sustained ${SUSTAINED_SECONDS} s, fresh server`, sustained));
    }
  } finally {
    for (const server of servers) await stop(server);
    rmSync(dir, { recursive: true, force: true });
  }
  const fmt = (l: number[]) => l.map((x) => x.toFixed(2)).join(' ');
  const context = [
    `${new Date().toISOString()}; node ${process.version}; ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}`,
    PIN ? 'servers pinned to CPU 0, load generator to CPU 1' : 'servers and load generator share the CPUs',
    `saturation: ${CONNECTIONS} connections, ${ROUNDS} interleaved rounds of ${RAMP_SECONDS} s + ${SECONDS} s measured, median round; fixed rate: requests due every ${(1000 / RATE).toFixed(2)} ms on ${PACED_CONNECTIONS} connections, latency from the moment sent`,
    `reviews: the seed's mongodb VM as ${DISTINCT_REVIEWS} distinct CREATEs (${bodies[0]!.length} bytes each)`,
    `load average before ${fmt(loadBefore)}, after ${fmt(loadavg())}`,
  ];
  process.stdout.write(`\n${context.map((l) => `- ${l}`).join('\n')}\n\n${out.join('\n\n')}\n`);
}

await main();
