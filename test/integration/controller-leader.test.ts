// Two controller replicas with leader election on a real apiserver: one Lease holder
// reconciles; when it stops (releasing the Lease) the other takes over and keeps the
// slices current.
import assert from 'node:assert/strict';
import { CoordinationV1Api, CoreV1Api, CustomObjectsApi, DiscoveryV1Api } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import { startController } from '../../src/controller/controller.js';
import type { RunningController } from '../../src/controller/controller.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { waitFor } from '../harness/index.js';
import { KubeVirtSimulator } from '../sim/kubevirt.js';
import { seedVm } from '../sim/vms.js';
import { controllerTestSettings } from './kube.js';
import { controlPlane } from './setup.js';

const NS = 'vm-ha';

const settings = (identity: string) =>
  controllerTestSettings(NS, {
    leaderElection: {
      enabled: true,
      namespace: NS,
      name: 'kni-controller',
      leaseDurationMs: 4000,
      renewDeadlineMs: 3000,
      retryPeriodMs: 500,
    },
    identity,
  });

describe('controller replicas with leader election', function () {
  this.timeout(120_000);
  let kc: KubeConfig;
  let sim: KubeVirtSimulator;
  const replicas: RunningController[] = [];

  const start = async (identity: string) => {
    const c = await startController({
      kubeConfig: kc,
      logger: createLogger({ level: 'silent', name: identity }),
      registry: new Registry(),
      settings: settings(identity),
    });
    replicas.push(c);
    await c.synced;
    return c;
  };
  const sliceIp = async (name: string) => {
    try {
      const s = await kc.makeApiClient(DiscoveryV1Api).readNamespacedEndpointSlice({ namespace: NS, name });
      return s.endpoints[0]?.conditions?.ready ? s.endpoints[0].addresses[0] : undefined;
    } catch {
      return undefined;
    }
  };
  const holder = async () =>
    (await kc.makeApiClient(CoordinationV1Api).readNamespacedLease({ namespace: NS, name: 'kni-controller' }))
      .spec?.holderIdentity;

  before(async () => {
    kc = (await controlPlane()).kubeConfig();
    await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: NS } } });
    sim = new KubeVirtSimulator(kc, { namespace: NS, addressFor: () => ['192.168.124.10'] });
    await sim.start();
  });
  after(async () => {
    for (const r of replicas) await r.stop();
    await sim?.stop();
  });

  it('one leader writes; after it stops, the other takes over', async () => {
    const a = await start('replica-a');
    await waitFor('replica-a leads', async () => (a.isLeader() ? true : undefined));
    const b = await start('replica-b');
    assert.equal(b.isLeader(), false);
    assert.equal(await holder(), 'replica-a');

    await kc.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
      group: 'kubevirt.io',
      version: 'v1',
      plural: 'virtualmachines',
      namespace: NS,
      body: seedVm('db', NS, { 'kubevirt-net-injector.io/service-ports': 'db:5432' }),
    });
    await waitFor('slice from the leader', async () =>
      (await sliceIp('db-ipv4')) === '192.168.124.10' ? true : undefined,
    );

    await a.stop();
    replicas.splice(replicas.indexOf(a), 1);
    await waitFor('replica-b leads', async () => (b.isLeader() ? true : undefined), { timeoutMs: 10_000 });
    assert.equal(await holder(), 'replica-b');
    await sim.setAddresses(NS, 'db', 'l2', ['192.168.124.11']);
    await waitFor('slice updated by the new leader', async () =>
      (await sliceIp('db-ipv4')) === '192.168.124.11' ? true : undefined,
    );
  });
});
