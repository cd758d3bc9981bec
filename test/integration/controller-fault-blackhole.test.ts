// A silent network fault between the controller and kube-apiserver: the controller talks to
// the apiserver through a TCP proxy (test/harness/tcp-proxy.ts) that stops forwarding on cue
// without closing anything, so no error and no FIN ever reaches the controller. Its watches
// go quiet and its pooled keep-alive connections are dead; only the watchdog and request
// timeouts can notice. The simulator and the checker talk to the apiserver directly.
//  1. Every open connection black-holed (new ones pass): 40 addresses change meanwhile.
//  2. Everything black-holed, new connections too, for 3 silence periods, then restored.
// Bound asserted: 0 missing, 0 stale within 60 s (silence 5 s, request timeout 10 s).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeConfig } from '@kubernetes/client-node';
import type { RunningController } from '../../src/controller/controller.js';
import type { ControlPlane } from '../harness/index.js';
import { startTcpProxy } from '../harness/tcp-proxy.js';
import type { TcpProxy } from '../harness/tcp-proxy.js';
import { faultSettings, report, startFaultRig, startTestController, FAULT_VMS } from './faults.js';
import type { FaultRig } from './faults.js';
import { controlPlane } from './setup.js';

const BOUND_MS = 60_000;
const SILENCE_MS = 5000;
const s = (ms: number) => (ms / 1000).toFixed(1);

describe('controller faults: a black-holed connection to the apiserver', function () {
  this.timeout(240_000);
  let cp: ControlPlane;
  let proxy: TcpProxy;
  let rig: FaultRig | undefined;
  let controller: RunningController | undefined;

  /** The admin's kubeconfig, with the server replaced by the proxy. */
  const viaProxy = () => {
    const kc = new KubeConfig();
    const port = new URL(cp.server).port;
    kc.loadFromString(
      readFileSync(cp.kubeconfigPath, 'utf8').replace(`127.0.0.1:${port}`, `127.0.0.1:${proxy.port}`),
    );
    return kc;
  };

  before(async () => {
    cp = await controlPlane();
  });
  beforeEach(async () => {
    const url = new URL(cp.server);
    proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port) });
    rig = await startFaultRig(cp.kubeConfig(), {
      prefix: 'blackhole',
      size: FAULT_VMS,
      seed: 18003,
      concurrency: 8,
      pauseMs: 50,
    });
    controller = await startTestController(
      viaProxy(),
      faultSettings(rig.namespace, { watchSilenceMs: SILENCE_MS, requestTimeoutMs: 10_000 }),
    );
    await rig.waitPopulated();
  });
  afterEach(async () => {
    // A controller stuck on a dead connection never returns from stop(): that fails too.
    const stopped = controller?.stop();
    const late = sleep(30_000).then(() => Promise.reject(new Error('controller.stop() hung for 30 s')));
    await Promise.race([stopped, late]);
    await rig?.stop();
    await proxy?.close();
    controller = rig = undefined;
  });

  it('open connections black-holed: detected, changes published within 60 s', async () => {
    const holed = proxy.stats().open;
    proxy.blackhole();
    const t0 = Date.now();
    const burst = await rig!.churn.burst(40);
    const { at, result } = await rig!.waitConverged('after the black hole', t0 + BOUND_MS);
    const stats = proxy.stats();
    report(
      `black hole (open connections, ${holed} of them): ${burst} addresses changed, ${result.expectedSlices} slices; ` +
        `converged ${s(at - t0)} s after it began (bound ${BOUND_MS / 1000} s); ` +
        `${stats.accepted} connections accepted in all`,
    );
    assert.ok(burst >= 15);
    assert.ok(holed > 0, 'there were connections to black-hole');
  });

  it('everything black-holed for 15 s, then restored: converged within 60 s of the restore', async () => {
    proxy.blackhole({ newConnections: true });
    const t0 = Date.now();
    rig!.churn.start();
    await sleep(3 * SILENCE_MS);
    const counts = await rig!.churn.stop();
    proxy.restore();
    const back = Date.now();
    const { at, result } = await rig!.waitConverged('after the restore', back + BOUND_MS);
    const stats = proxy.stats();
    report(
      `black hole (everything) for ${s(back - t0)} s: ${counts.ok} changes meanwhile, ${result.expectedSlices} slices; ` +
        `converged ${s(at - back)} s after the restore (bound ${BOUND_MS / 1000} s); ` +
        `${stats.blackholed} connections still held dead`,
    );
    assert.ok(counts.ok > 20, 'the churn ran during the black hole');
  });
});
