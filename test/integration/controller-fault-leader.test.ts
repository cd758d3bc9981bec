// The leader killed mid-churn: two controller processes (the CLI, as deployed) with
// --leader-elect on the default Lease timings (duration 15 s, renew deadline 10 s, retry 2 s)
// publish FAULT_VMS churning VMs (100 in the suite, FAULT_VMS=1000 for the full-size run).
// Right after 40 addresses changed at once, the leader gets SIGKILL: no Lease release, its
// writes in flight cut off. The churn goes on for 5 s into the gap and then stops, so the
// changes nobody was leading for can only be published by the standby when it takes over (the
// resync period is 30 min). Then a second churn checks that the new leader keeps the slices
// current.
// Bound asserted: the standby holds the Lease within 15 s + 2 retries (19 s) of the kill, and
// 0 missing, 0 stale within 60 s of the kill; then within 60 s of the second churn's end.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { CoordinationV1Api } from '@kubernetes/client-node';
import { waitFor } from '../harness/index.js';
import type { ControlPlane } from '../harness/index.js';
import { FAULT_VMS, report, startFaultRig } from './faults.js';
import type { FaultRig } from './faults.js';
import { controlPlane } from './setup.js';

const BOUND_MS = 60_000;
const TAKEOVER_MS = 15_000 + 2 * 2000;
const LEASE = 'kni-controller';
const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const s = (ms: number) => (ms / 1000).toFixed(1);

describe('controller faults: the leader killed mid-churn', function () {
  this.timeout(600_000);
  let cp: ControlPlane;
  let rig: FaultRig | undefined;
  const replicas: ChildProcess[] = [];

  const replica = (identity: string, namespace: string) => {
    const child = spawn(
      process.execPath,
      [
        CLI,
        'controller',
        `--kubeconfig=${cp.kubeconfigPath}`,
        `--namespace=${namespace}`,
        '--leader-elect',
        `--lease-namespace=${namespace}`,
        `--lease-name=${LEASE}`,
        `--identity=${identity}`,
        '--grace=1s',
        '--resync=30m',
        '--relist=0s',
        `--log-level=${process.env.CONTROLLER_LOG ?? 'warn'}`,
      ],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    replicas.push(child);
    return child;
  };
  const holder = async (namespace: string) => {
    try {
      const lease = await cp
        .kubeConfig()
        .makeApiClient(CoordinationV1Api)
        .readNamespacedLease({ namespace, name: LEASE });
      return lease.spec?.holderIdentity;
    } catch {
      return undefined;
    }
  };

  before(async () => {
    cp = await controlPlane();
  });
  afterEach(async () => {
    for (const child of replicas.splice(0)) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    await rig?.stop();
    rig = undefined;
  });

  it(`SIGKILL to the leader of ${FAULT_VMS.toLocaleString('en')} VMs: the standby takes over, 0 missing, 0 stale`, async () => {
    rig = await startFaultRig(cp.kubeConfig(), {
      prefix: 'leader',
      size: FAULT_VMS,
      seed: 18004,
      concurrency: 8,
      pauseMs: 50,
    });
    const ns = rig.namespace;
    const leader = replica('replica-a', ns);
    await waitFor('replica-a leads', async () => ((await holder(ns)) === 'replica-a' ? true : undefined), {
      timeoutMs: 30_000,
    });
    replica('replica-b', ns);
    // The initial publication by the leader (not a bound: the machine is shared).
    await rig.waitConverged('initial publication', Date.now() + 360_000, FAULT_VMS);

    rig.churn.start();
    await sleep(4000);
    const burst = await rig.churn.burst(40);
    const killed = Date.now();
    leader.kill('SIGKILL');
    await sleep(5000);
    const counts = { ...(await rig.churn.stop()) };
    const took = await waitFor(
      'replica-b leads',
      async () => ((await holder(ns)) === 'replica-b' ? Date.now() : undefined),
      { timeoutMs: TAKEOVER_MS + 5000, intervalMs: 100 },
    );
    const first = await rig.waitConverged('after the leader was killed', killed + BOUND_MS);
    report(
      `leader killed (SIGKILL) right after ${burst} address changes at once; churn ${counts.ok} ops, ` +
        `${counts.failed} failed, ${counts.skipped} not applicable; ${first.result.expectedSlices} slices, ` +
        `${first.result.expectedServices} services; the standby led ${s(took - killed)} s after the kill ` +
        `(bound ${TAKEOVER_MS / 1000} s), converged ${s(first.at - killed)} s after the kill ` +
        `(bound ${BOUND_MS / 1000} s), ${s(first.at - took)} s after it took over`,
    );
    assert.ok(burst >= 15, 'the burst changed addresses');
    assert.ok(counts.ok > 20, 'the churn ran');
    assert.ok(took - killed <= TAKEOVER_MS, `took over within ${TAKEOVER_MS} ms`);

    rig.churn.start();
    await sleep(5000);
    const more = (await rig.churn.stop()).ok - counts.ok;
    const end = Date.now();
    const second = await rig.waitConverged('churn under the new leader', end + BOUND_MS);
    report(`new leader: ${more} more changes, converged ${s(second.at - end)} s after the last`);
    assert.ok(more > 10, 'the second churn ran');
  });
});
