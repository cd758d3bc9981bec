// The harness's promise: nothing it starts outlives the Node process that started it, however
// that process ends. Each case runs a control plane (etcd + kube-apiserver) in a child Node
// process, ends that process one way, and checks every server process and the state folder go.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import { alive, waitFor } from '../harness/index.js';

const HARNESS = fileURLToPath(new URL('../harness/index.js', import.meta.url));

// argv[1]: the harness module; argv[2]: "throw" to fail after start, anything else to idle.
const CHILD = `
const { startControlPlane } = await import(process.argv[1]);
const cp = await startControlPlane({ crds: false });
const pids = ['etcd', 'kube-apiserver'].map((n) => cp.processes.get(n).pid);
console.log(JSON.stringify({ stateDir: cp.stateDir, pids }));
if (process.argv[2] === 'throw') setTimeout(() => { throw new Error('a test failed hard'); }, 100);
else setInterval(() => {}, 1000);
`;

interface Started {
  stateDir: string;
  pids: number[];
}

async function startChild(mode: string) {
  const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD, HARNESS, mode], {
    cwd: process.cwd(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolveExit) => child.once('exit', () => resolveExit()));
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const lines = createInterface({ input: child.stdout });
  const started = await new Promise<Started>((resolveStart, reject) => {
    lines.once('line', (line) => resolveStart(JSON.parse(line) as Started));
    child.once('exit', (code) => reject(new Error(`child exited (${code}) before starting: ${stderr}`)));
  });
  return { child, started, exited };
}

async function assertAllGone(started: Started): Promise<void> {
  await waitFor(
    'control plane processes and state folder to go',
    async () => (started.pids.some(alive) || existsSync(started.stateDir) ? undefined : true),
    { timeoutMs: 15_000, intervalMs: 100 },
  );
  for (const pid of started.pids) assert.equal(alive(pid), false, `pid ${pid} still alive`);
  assert.equal(existsSync(started.stateDir), false);
}

describe('harness teardown', function () {
  this.timeout(120_000);

  for (const signal of ['SIGKILL', 'SIGINT', 'SIGTERM'] as const) {
    it(`cleans up when the test process gets ${signal}`, async () => {
      const { child, started, exited } = await startChild('idle');
      assert.ok(started.pids.every(alive), 'servers should run before the signal');
      assert.ok(existsSync(started.stateDir));
      child.kill(signal);
      await exited;
      await assertAllGone(started);
    });
  }

  it('cleans up when the test process dies of an uncaught exception', async () => {
    const { started, exited } = await startChild('throw');
    await exited;
    await assertAllGone(started);
  });
});
