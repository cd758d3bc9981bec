// Webhook soak (bench/README.md, "Soak"): the webhook as deployed (the CLI, logging at info)
// under a steady SOAK_RATE reviews/s (default 2,000) for SOAK_REVIEWS reviews (default 1,000,000)
// after SOAK_WARMUP_S seconds (default 30) of the same load. Reported: RSS after warm-up and at
// the end (growth must stay under 10%), p99 of the first and last tenth of the reviews (within
// 20%), and the process's active handles and resources before and after (prom-client's own
// gauges), idle. The rate is autocannon's: each connection's share of a second is sent at the
// start of that second, so the load comes in bursts; a soak compares the run with itself, and
// that is enough for drift (bench/admission/paced.ts is the even-paced generator for latency).
// Usage: make bench-soak-webhook
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import autocannon from 'autocannon';
import { parse as parseYaml } from 'yaml';
import { freePort } from '../../test/harness/ports.js';
import { makeCert } from '../../test/webhook/support.js';

const RATE = Number(process.env.SOAK_RATE ?? 2000);
const REVIEWS = Number(process.env.SOAK_REVIEWS ?? 1_000_000);
const WARMUP_S = Number(process.env.SOAK_WARMUP_S ?? 30);
const CONNECTIONS = 16;
const CLI = join(process.cwd(), 'dist/src/cli/main.js');

function reviews(): Buffer[] {
  const vm = parseYaml(readFileSync('test/testdata/seed/mongodb.yaml', 'utf8')) as {
    metadata: { name: string };
  };
  return Array.from({ length: 512 }, (_, n) => {
    vm.metadata.name = `mongodb-${n}`;
    return Buffer.from(
      JSON.stringify({
        apiVersion: 'admission.k8s.io/v1',
        kind: 'AdmissionReview',
        request: {
          uid: `soak-${n}`,
          kind: { group: 'kubevirt.io', version: 'v1', kind: 'VirtualMachine' },
          resource: { group: 'kubevirt.io', version: 'v1', resource: 'virtualmachines' },
          namespace: 'vm',
          operation: 'CREATE',
          object: vm,
        },
      }),
    );
  });
}

function get(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, rejectUnauthorized: false, agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.end();
  });
}

async function handles(port: number): Promise<string> {
  const text = await get(port, '/metrics');
  const value = (name: string) => new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? '?';
  return `handles ${value('nodejs_active_handles_total')}, resources ${value('nodejs_active_resources_total')}`;
}

function p99(sorted: number[]): number {
  return sorted[Math.floor(sorted.length * 0.99)] ?? NaN;
}

/** `seconds` of load at RATE; latencies in the order the answers came, if `keep`. */
function load(
  port: number,
  bodies: Buffer[],
  amount: { seconds?: number; reviews?: number },
  keep: number[] | undefined,
) {
  return new Promise<{ errors: number }>((resolve, reject) => {
    const instance = autocannon(
      {
        url: `https://127.0.0.1:${port}/mutate`,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        requests: bodies.map((body) => ({ body })),
        connections: CONNECTIONS,
        overallRate: RATE,
        ...(amount.reviews ? { amount: amount.reviews } : { duration: amount.seconds }),
      },
      (err, result) =>
        err ? reject(err) : resolve({ errors: result.errors + result.timeouts + result.non2xx }),
    );
    if (keep) instance.on('response', (_c, _s, _b, ms) => keep.push(ms));
  });
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'soak-'));
  const { certFile, keyFile } = makeCert(dir);
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [
      CLI,
      'webhook',
      '--tls-cert',
      certFile,
      '--tls-key',
      keyFile,
      '--port',
      String(port),
      '--bind-address',
      '127.0.0.1',
    ].concat(['--network', 'ovs-net-br1']),
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const rss = () =>
    Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]) / 1024;
  try {
    for (let i = 0; i < 100; i++) {
      try {
        await get(port, '/healthz');
        break;
      } catch {
        await sleep(100);
      }
    }
    const bodies = reviews();
    const before = await handles(port);
    await load(port, bodies, { seconds: WARMUP_S }, undefined);
    const afterWarmup = rss();
    let peak = afterWarmup;
    const sampler = setInterval(() => (peak = Math.max(peak, rss())), 1000);
    const latencies: number[] = [];
    const started = Date.now();
    const { errors } = await load(port, bodies, { reviews: REVIEWS }, latencies);
    clearInterval(sampler);
    const seconds = (Date.now() - started) / 1000;
    const end = rss();
    await sleep(5000);
    const idle = await handles(port);
    const tenth = Math.floor(latencies.length / 10);
    const first = p99(latencies.slice(0, tenth).sort((a, b) => a - b));
    const last = p99(latencies.slice(-tenth).sort((a, b) => a - b));
    const growth = (100 * (end - afterWarmup)) / afterWarmup;
    const drift = (100 * (last - first)) / first;
    process.stdout.write(
      [
        `${latencies.length} reviews at ${RATE}/s in ${seconds.toFixed(0)} s (${(latencies.length / seconds).toFixed(0)}/s), ${errors} errors`,
        `RSS after ${WARMUP_S} s warm-up ${afterWarmup.toFixed(1)} MiB, at the end ${end.toFixed(1)} MiB (${growth.toFixed(1)}%), peak ${peak.toFixed(1)} MiB`,
        `p99 first tenth ${first.toFixed(2)} ms, last tenth ${last.toFixed(2)} ms (${drift.toFixed(1)}%)`,
        `idle before: ${before}; idle after: ${idle}`,
        `targets: RSS growth < 10% ${growth < 10 ? 'met' : 'NOT met'}; p99 drift within 20% ${Math.abs(drift) <= 20 || last <= first ? 'met' : 'NOT met'}`,
      ].join('\n') + '\n',
    );
  } finally {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
