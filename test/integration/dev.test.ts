// make dev-up / make dev-down (test/harness/dev.ts) in a temp DEV_DIR: it brings up the control
// plane, CoreDNS, the webhook (registered) and the controller, writes kubeconfig and env, injects
// into VMs created in an opted-in namespace, reuses what runs, and dev-down leaves nothing behind.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';

import { alive, cliPath } from '../harness/index.js';
import { createNamespace, VM, virtualMachine } from './kube.js';

const run = promisify(execFile);
const DEV_SCRIPT = fileURLToPath(new URL('../harness/dev.js', import.meta.url));

function dev(command: 'up' | 'down', devDir: string): Promise<{ stdout: string }> {
  return run(process.execPath, [DEV_SCRIPT, command], {
    cwd: process.cwd(),
    env: { ...process.env, DEV_DIR: devDir, NETWORK: 'dev-test-net' },
    timeout: 180_000,
  });
}

function recordedPids(devDir: string): number[] {
  return ['controlplane', 'apps'].flatMap((sub) => {
    const dir = join(devDir, sub);
    if (!existsSync(dir)) return [];
    return readdirSync(dir)
      .filter((f) => f.endsWith('.pgid'))
      .map((f) => Number(readFileSync(join(dir, f), 'utf8').trim()));
  });
}

describe('make dev-up / dev-down', function () {
  this.timeout(240_000);
  const parent = mkdtempSync(join(tmpdir(), 'kni-dev-test-'));
  const devDir = join(parent, 'dev');
  let pids: number[] = [];

  before(function () {
    if (!existsSync(cliPath())) this.skip();
  });

  after(async () => {
    // Whatever happened above, leave nothing running.
    if (existsSync(devDir)) await dev('down', devDir).catch(() => undefined);
    rmSync(parent, { recursive: true, force: true });
  });

  it('starts everything, writes .dev/env, and the registered webhook injects into opted-in namespaces', async () => {
    const { stdout } = await dev('up', devDir);
    const env = Object.fromEntries(
      readFileSync(join(devDir, 'env'), 'utf8')
        .trim()
        .split('\n')
        .map((line) => line.split('=', 2) as [string, string]),
    );
    assert.equal(env.KUBECONFIG, join(devDir, 'kubeconfig'));
    assert.match(env.WEBHOOK_URL ?? '', /^https:\/\/127\.0\.0\.1:\d+\/mutate$/);
    assert.match(env.DNS_ADDR ?? '', /^127\.0\.0\.1:\d+$/);
    assert.match(stdout, /mutating and validating configurations registered/);

    pids = recordedPids(devDir);
    assert.ok(
      pids.length >= 6,
      `expected etcd, apiserver, KCM, CoreDNS, webhook, controller: ${pids.length}`,
    );
    assert.ok(pids.every(alive));

    const kc = new KubeConfig();
    kc.loadFromFile(env.KUBECONFIG!);
    const ns = await createNamespace(kc, 'devup', { 'kubevirt-net-injector.io/inject': 'enabled' });
    const stored = (await kc
      .makeApiClient(CustomObjectsApi)
      .createNamespacedCustomObject({ ...VM, namespace: ns, body: virtualMachine(ns, 'injected') })) as {
      spec: { template: { spec: { networks?: { multus?: { networkName?: string } }[] } } };
    };
    const multus = stored.spec.template.spec.networks?.map((n) => n.multus?.networkName).filter(Boolean);
    assert.deepEqual(multus, ['dev-test-net']);
  });

  it('a second dev-up reuses what runs', async () => {
    const { stdout } = await dev('up', devDir);
    assert.match(stdout, /control plane already running/);
    assert.match(stdout, /webhook already serving/);
    assert.deepEqual(recordedPids(devDir).sort(), [...pids].sort());
  });

  it('dev-down stops every process and removes the folder', async () => {
    await dev('down', devDir);
    assert.equal(existsSync(devDir), false);
    for (const pid of pids) assert.equal(alive(pid), false, `pid ${pid} still alive`);
  });
});
