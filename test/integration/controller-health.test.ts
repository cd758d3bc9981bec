// The controller's probes as its Deployment uses them (`controller --metrics-address`): /healthz
// answers while the process serves, /readyz only once the informers' caches are synced. Run as
// the CLI, against the real apiserver and against an address where nothing listens.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { cliPath, freePort, waitFor, type ControlPlane, type ManagedProcess } from '../harness/index.js';
import { controlPlane } from './setup.js';

async function status(url: string): Promise<number> {
  try {
    return (await fetch(url)).status;
  } catch {
    return 0;
  }
}

describe('controller /healthz and /readyz', function () {
  this.timeout(60_000);
  let cp: ControlPlane;
  const started: ManagedProcess[] = [];

  const startCli = async (name: string, kubeconfig: string) => {
    const port = await freePort();
    const proc = cp.processes.spawn(name, process.execPath, [
      cliPath(),
      'controller',
      '--kubeconfig',
      kubeconfig,
      '--namespace',
      'health-none',
      `--metrics-address=127.0.0.1:${port}`,
      '--log-level=warn',
    ]);
    started.push(proc);
    const base = `http://127.0.0.1:${port}`;
    await waitFor(
      `${name} /healthz`,
      async () => ((await status(`${base}/healthz`)) === 200 ? true : undefined),
      {
        timeoutMs: 20_000,
        failIf: () => (proc.exitCode() === undefined ? undefined : `exited:\n${cp.processes.tail(name)}`),
      },
    );
    return base;
  };

  before(async () => {
    cp = await controlPlane();
  });
  after(async () => {
    for (const p of started) await p.stop();
  });

  it('is ready once its caches are synced', async () => {
    const base = await startCli('controller-health', cp.kubeconfigPath);
    await waitFor('/readyz 200', async () => ((await status(`${base}/readyz`)) === 200 ? true : undefined), {
      timeoutMs: 20_000,
    });
    assert.equal(await status(`${base}/nope`), 404);
  });

  it('stays live but not ready while the apiserver cannot be reached', async () => {
    const dead = `https://127.0.0.1:${await freePort()}`;
    const kubeconfig = join(cp.stateDir, 'kubeconfig-unreachable');
    writeFileSync(kubeconfig, readFileSync(cp.kubeconfigPath, 'utf8').replace(cp.server, dead), {
      mode: 0o600,
    });
    const base = await startCli('controller-unreachable', kubeconfig);
    for (let i = 0; i < 4; i++) {
      assert.equal(await status(`${base}/readyz`), 503, '/readyz');
      assert.equal(await status(`${base}/healthz`), 200, '/healthz');
      await sleep(500);
    }
  });
});
