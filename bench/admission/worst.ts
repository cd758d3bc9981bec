// The worst reviews we can construct within the body cap, against the real webhook process as
// deployed: each sent five times, one at a time; the slowest answer and the process's RSS after
// are reported (bench/README.md). Usage: node dist/bench/admission/worst.js
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { gzipSync } from 'node:zlib';
import { freePort } from '../../test/harness/ports.js';
import { loadVm, makeCert, review, send } from '../../test/webhook/support.js';

const CAP = 3 * 1024 * 1024;
const CLI = join(process.cwd(), 'dist/src/cli/main.js');

type Vm = {
  metadata: { name: string; annotations?: Record<string, string>; labels?: Record<string, string> };
  spec: { template: { spec: Record<string, unknown> & { domain: { devices: Record<string, unknown> } } } };
};

/** The largest `n` for which `build(n)`'s review stays under the body cap. */
function largest(build: (n: number) => unknown): { n: number; body: string } {
  let lo = 1;
  let hi = 1;
  while (Buffer.byteLength(JSON.stringify(build(hi * 2))) < CAP) hi *= 2;
  hi *= 2;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (Buffer.byteLength(JSON.stringify(build(mid))) < CAP) lo = mid;
    else hi = mid;
  }
  return { n: lo, body: JSON.stringify(build(lo)) };
}

const CASES: [string, (n: number) => unknown][] = [
  [
    'networks and interfaces: {n} of each (over the 256 KubeVirt accepts: not copied)',
    (n) => {
      const vm = loadVm() as unknown as Vm;
      const spec = vm.spec.template.spec;
      spec.networks = Array.from({ length: n }, (_, i) => ({ name: `net-${i}`, pod: {} }));
      spec.domain.devices.interfaces = Array.from({ length: n }, (_, i) => ({
        name: `net-${i}`,
        bridge: {},
        macAddress: `02:00:00:${((i >> 16) & 255).toString(16).padStart(2, '0')}:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`,
      }));
      return review(vm);
    },
  ],
  [
    'annotations: {n} entries (over 512 KiB: not copied)',
    (n) => {
      const vm = loadVm() as unknown as Vm;
      vm.metadata.annotations = Object.fromEntries(
        Array.from({ length: n }, (_, i) => [`a.example.com/k${i}`, `v${i}`]),
      );
      return review(vm);
    },
  ],
  [
    'an unknown field nested 55 levels deep, {n} keys in all (over 512 KiB: not copied)',
    (n) => {
      const vm = loadVm() as unknown as Vm;
      let node: unknown = 'leaf';
      for (let depth = 0; depth < 55; depth++) {
        node = Object.fromEntries(
          Array.from({ length: Math.max(1, Math.floor(n / 55)) }, (_, i) => [`k${i}`, i === 0 ? node : i]),
        );
      }
      vm.spec.template.spec['x-extra'] = node;
      return review(vm);
    },
  ],
  [
    'a label value of {n} escaped non-ASCII characters',
    (n) => {
      const vm = loadVm() as unknown as Vm;
      vm.metadata.labels = { big: 'é'.repeat(n) };
      return review(vm);
    },
  ],
  [
    'userDataBase64: gzip of {n} MiB of zeros (left as is: over 2 KiB)',
    (n) => {
      const member = gzipSync(Buffer.alloc(1 << 20), { level: 9 });
      return review({
        ...(loadVm() as object),
        spec: {
          template: {
            spec: {
              domain: { devices: {} },
              volumes: [
                {
                  name: 'c',
                  cloudInitNoCloud: {
                    userDataBase64: Buffer.concat(Array(n).fill(member)).toString('base64'),
                  },
                },
              ],
            },
          },
        },
      });
    },
  ],
];

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-worst-'));
  const certs = makeCert(dir);
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [CLI, 'webhook', '--tls-cert', certs.certFile, '--tls-key', certs.keyFile, '--port', String(port)].concat(
      ['--bind-address', '127.0.0.1', '--network', 'ovs-net-br1'],
    ),
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const rss = () =>
    Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]) / 1024;
  try {
    for (let i = 0; i < 100; i++) {
      try {
        if ((await send(port, undefined, { ca: certs.cert, method: 'GET', path: '/healthz' })).status === 200)
          break;
      } catch {
        await sleep(100);
      }
    }
    const idle = rss();
    const rows: string[] = [];
    for (const [label, build] of CASES) {
      const { n, body } = largest(build);
      let slowest = 0;
      let status = 0;
      for (let round = 0; round < 5; round++) {
        const start = performance.now();
        const reply = await send(port, body, { ca: certs.cert, agent: false });
        slowest = Math.max(slowest, performance.now() - start);
        status = reply.status;
      }
      rows.push(
        `| ${label.replace('{n}', String(n))} | ${(Buffer.byteLength(body) / 1048576).toFixed(2)} | ${status} | ${slowest.toFixed(0)} | ${rss().toFixed(0)} |`,
      );
    }
    process.stdout.write(
      `\nRSS idle: ${idle.toFixed(0)} MiB\n\n| review | MiB | HTTP | slowest of 5, ms | RSS after, MiB |\n|---|---:|---:|---:|---:|\n${rows.join('\n')}\n`,
    );
  } finally {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
