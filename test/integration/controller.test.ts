// The controller against a real kube-apiserver (with kube-controller-manager's garbage
// collector) and a KubeVirt simulator: the seed scenario end to end, IP changes, grace,
// garbage collection, a user's Service left alone, an apiserver restart, and DNS answered
// by CoreDNS's kubernetes plugin.
import assert from 'node:assert/strict';
import { Resolver } from 'node:dns/promises';
import { CoreV1Api, CustomObjectsApi, DiscoveryV1Api } from '@kubernetes/client-node';
import type { KubeConfig, V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import { startController } from '../../src/controller/controller.js';
import type { RunningController } from '../../src/controller/controller.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { startCoreDNS, waitFor } from '../harness/index.js';
import type { ControlPlane, CoreDNS } from '../harness/index.js';
import { KubeVirtSimulator } from '../sim/kubevirt.js';
import { seedVm } from '../sim/vms.js';
import { controllerTestSettings } from './kube.js';
import { controlPlane, controllerManagerEnabled } from './setup.js';

const NS = 'vm';
// What the external DHCP server hands each VM's eth1 (the seed's two, and the other tests' VMs).
const ADDRESSES: Record<string, string> = {
  mongodb: '192.168.123.139',
  nodejs: '192.168.123.140',
  pg: '192.168.123.160',
  'rep-a': '192.168.123.201',
  'rep-b': '192.168.123.202',
};

const SETTINGS = controllerTestSettings(NS, { graceMs: 1500 });

describe('controller against a real apiserver', function () {
  this.timeout(120_000);
  let cp: ControlPlane;
  let kc: KubeConfig;
  let core: CoreV1Api;
  let discovery: DiscoveryV1Api;
  let custom: CustomObjectsApi;
  let sim: KubeVirtSimulator;
  let controller: RunningController | undefined;

  const startCtl = async () => {
    controller = await startController({
      kubeConfig: kc,
      logger: createLogger({ level: process.env.CONTROLLER_LOG ?? 'silent', name: 'controller' }),
      registry: new Registry(),
      settings: SETTINGS,
    });
    await controller.synced;
  };

  const readSlice = async (name: string): Promise<V1EndpointSlice | undefined> => {
    try {
      return await discovery.readNamespacedEndpointSlice({ namespace: NS, name });
    } catch (err) {
      if ((err as { code?: number }).code === 404) return undefined;
      throw err;
    }
  };
  const readService = async (name: string): Promise<V1Service | undefined> => {
    try {
      return await core.readNamespacedService({ namespace: NS, name });
    } catch (err) {
      if ((err as { code?: number }).code === 404) return undefined;
      throw err;
    }
  };
  /** Waits until the slice's first endpoint is `ip` with the given readiness. */
  const sliceShows = (name: string, ip: string, ready = true) =>
    waitFor(
      `slice ${name} = ${ip} ready=${ready}`,
      async () => {
        const s = await readSlice(name);
        const e = s?.endpoints?.[0];
        return e?.addresses[0] === ip && e.conditions?.ready === ready ? s : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 100 },
    );
  const gone = (what: string, read: () => Promise<unknown>) =>
    waitFor(`${what} gone`, async () => ((await read()) === undefined ? true : undefined), {
      timeoutMs: 30_000,
      intervalMs: 200,
    });
  const createVm = (name: string, annotations: Record<string, string>) =>
    custom.createNamespacedCustomObject({
      group: 'kubevirt.io',
      version: 'v1',
      plural: 'virtualmachines',
      namespace: NS,
      body: seedVm(name, NS, annotations),
    });
  const events = async (vm: string) =>
    (await core.listNamespacedEvent({ namespace: NS, fieldSelector: `involvedObject.name=${vm}` })).items;

  before(async () => {
    cp = await controlPlane();
    kc = cp.kubeConfig();
    core = kc.makeApiClient(CoreV1Api);
    discovery = kc.makeApiClient(DiscoveryV1Api);
    custom = kc.makeApiClient(CustomObjectsApi);
    // The seed's namespace, so the names are the seed's (mongo.vm.svc.cluster.local).
    await core.createNamespace({ body: { metadata: { name: NS } } }).catch((err: unknown) => {
      if ((err as { code?: number }).code !== 409) throw err;
    });
    sim = new KubeVirtSimulator(kc, {
      namespace: NS,
      addressFor: (vm) => {
        const ip = ADDRESSES[vm.metadata.name ?? ''];
        return ip ? [ip] : undefined;
      },
    });
    await sim.start();
    await startCtl();
  });

  after(async () => {
    await controller?.stop();
    await sim?.stop();
  });

  it('the seed: mongodb and nodejs published as headless Services with their eth1 addresses', async () => {
    await createVm('mongodb', {
      'kubevirt-net-injector.io/service-name': 'mongo',
      'kubevirt-net-injector.io/service-ports': 'mongo:27017',
    });
    await createVm('nodejs', {
      'kubevirt-net-injector.io/service-name': 'node',
      'kubevirt-net-injector.io/service-ports': 'node:8080',
    });
    const slice = await sliceShows('mongodb-ipv4', '192.168.123.139');
    assert.equal(slice.addressType, 'IPv4');
    assert.equal(slice.metadata?.labels?.['kubernetes.io/service-name'], 'mongo');
    assert.equal(
      slice.metadata?.labels?.['endpointslice.kubernetes.io/managed-by'],
      'controller.kubevirt-net-injector.io',
    );
    assert.equal(slice.endpoints[0]!.hostname, 'mongodb');
    assert.equal(slice.endpoints[0]!.targetRef?.kind, 'VirtualMachineInstance');
    assert.deepEqual(
      slice.ports?.map((p) => `${p.name}:${p.port}/${p.protocol}`),
      ['mongo:27017/TCP'],
    );
    await sliceShows('nodejs-ipv4', '192.168.123.140');
    const mongo = await waitFor('Service mongo', () => readService('mongo'));
    assert.equal(mongo.spec?.clusterIP, 'None');
    assert.equal(mongo.spec?.selector, undefined);
    assert.deepEqual(
      mongo.metadata?.ownerReferences?.map((o) => `${o.kind}/${o.name}`),
      ['VirtualMachine/mongodb'],
    );
    const node = await waitFor('Service node', () => readService('node'));
    assert.deepEqual(
      node.spec?.ports?.map((p) => p.port),
      [8080],
    );
    // the pod network address never leaks in
    const all = await discovery.listNamespacedEndpointSlice({ namespace: NS });
    assert.ok(!all.items.some((s) => s.endpoints.some((e) => e.addresses[0]?.startsWith('10.244.'))));
    const created = await events('mongodb');
    assert.ok(
      created.some((e) => e.reason === 'EndpointSliceCreated' && /192\.168\.123\.139/.test(e.message ?? '')),
    );
  });

  it('an IP change updates the slice', async () => {
    await sim.setAddresses(NS, 'mongodb', 'l2', ['192.168.123.141']);
    await sliceShows('mongodb-ipv4', '192.168.123.141');
    await sim.setAddresses(NS, 'mongodb', 'l2', ['192.168.123.139', 'fe80::1', 'fd00::139']);
    await sliceShows('mongodb-ipv4', '192.168.123.139');
    const v6 = await sliceShows('mongodb-ipv6', 'fd00::139');
    assert.equal(v6.addressType, 'IPv6');
  });

  it('a lost address goes not ready, then away after the grace period; it comes back', async () => {
    await sim.setAddresses(NS, 'mongodb', 'l2', []);
    const notReady = await sliceShows('mongodb-ipv4', '192.168.123.139', false);
    assert.ok(notReady.metadata?.annotations?.['kubevirt-net-injector.io/not-ready-since']);
    await gone('slice mongodb-ipv4', () => readSlice('mongodb-ipv4'));
    await gone('slice mongodb-ipv6', () => readSlice('mongodb-ipv6'));
    await sim.setAddresses(NS, 'mongodb', 'l2', ['192.168.123.139']);
    await sliceShows('mongodb-ipv4', '192.168.123.139');
  });

  it("a user's Service of the same name is left alone and an Event says why", async () => {
    const user = await core.createNamespacedService({
      namespace: NS,
      body: {
        metadata: { name: 'legacy', labels: { owner: 'user' } },
        spec: { selector: { app: 'legacy' }, ports: [{ port: 5432 }] },
      },
    });
    await createVm('pg', {
      'kubevirt-net-injector.io/service-name': 'legacy',
      'kubevirt-net-injector.io/service-ports': 'pg:5432',
    });
    const event = await waitFor('ServiceConflict event on pg', async () =>
      (await events('pg')).find((e) => e.reason === 'ServiceConflict'),
    );
    assert.equal(event.type, 'Warning');
    assert.match(
      event.message ?? '',
      /Service vm\/legacy exists and is not managed by kubevirt-net-injector/,
    );
    const after = await readService('legacy');
    assert.equal(after?.metadata?.resourceVersion, user.metadata?.resourceVersion);
    assert.deepEqual(after?.spec?.selector, { app: 'legacy' });
    assert.ok(
      await sim.getVmi(NS, 'pg'),
      'pg runs and has an address: only the conflict keeps its slice out',
    );
    assert.equal(await readSlice('pg-ipv4'), undefined);
  });

  it('VM deleted: the garbage collector removes its Service and slices (controller stopped, so GC alone)', async function () {
    if (!controllerManagerEnabled()) this.skip();
    await sliceShows('nodejs-ipv4', '192.168.123.140');
    await controller!.stop();
    controller = undefined;
    await custom.deleteNamespacedCustomObject({
      group: 'kubevirt.io',
      version: 'v1',
      plural: 'virtualmachines',
      namespace: NS,
      name: 'nodejs',
    });
    await gone('slice nodejs-ipv4', () => readSlice('nodejs-ipv4'));
    await gone('Service node', () => readService('node'));
    assert.ok(await readService('mongo'), 'other VMs keep theirs');
    await startCtl();
  });

  it('the apiserver restarts mid-watch: changes after it returns are all applied', async () => {
    await cp.restartApiserver();
    await sim.setAddresses(NS, 'mongodb', 'l2', ['192.168.123.142']);
    await createVm('nodejs', {
      'kubevirt-net-injector.io/service-name': 'node',
      'kubevirt-net-injector.io/service-ports': 'node:8080',
    });
    await sliceShows('mongodb-ipv4', '192.168.123.142');
    await sliceShows('nodejs-ipv4', '192.168.123.140');
    await waitFor('Service node again', () => readService('node'));
    await sim.setAddresses(NS, 'mongodb', 'l2', ['192.168.123.139']);
    await sliceShows('mongodb-ipv4', '192.168.123.139');
  });

  it('two VMs share one Service: one endpoint each, both own it', async () => {
    const ann = {
      'kubevirt-net-injector.io/service-name': 'replicas',
      'kubevirt-net-injector.io/service-ports': 'db:5000',
    };
    await createVm('rep-a', ann);
    await createVm('rep-b', ann);
    await sliceShows('rep-a-ipv4', '192.168.123.201');
    await sliceShows('rep-b-ipv4', '192.168.123.202');
    const svc = await waitFor('Service replicas owned by both', async () => {
      const s = await readService('replicas');
      return s?.metadata?.ownerReferences?.length === 2 ? s : undefined;
    });
    assert.deepEqual(
      svc.metadata?.ownerReferences?.map((o) => o.name),
      ['rep-a', 'rep-b'],
    );
    assert.ok(svc.metadata?.ownerReferences?.every((o) => o.controller !== true));
  });

  describe('DNS through CoreDNS (kubernetes plugin)', () => {
    let dns: CoreDNS;
    let resolver: Resolver;
    before(async () => {
      dns = await startCoreDNS({ kubeconfigPath: cp.kubeconfigPath, processes: cp.processes });
      resolver = new Resolver({ timeout: 1000, tries: 2 });
      resolver.setServers([dns.address]);
    });
    after(async () => dns?.stop());

    it('mongo.vm.svc.cluster.local resolves to the VM secondary IP', async () => {
      const answer = await waitFor(
        'mongo A record',
        async () => {
          const a = await resolver.resolve4('mongo.vm.svc.cluster.local');
          return a.includes('192.168.123.139') ? a : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 250 },
      );
      assert.deepEqual(answer, ['192.168.123.139']);
      assert.deepEqual(await resolver.resolve4('mongodb.mongo.vm.svc.cluster.local'), ['192.168.123.139']);
    });

    it('a shared Service answers with every ready endpoint; an IP change reaches DNS', async () => {
      const both = await waitFor('replicas A records', async () => {
        const a = (await resolver.resolve4('replicas.vm.svc.cluster.local')).sort();
        return a.length === 2 ? a : undefined;
      });
      assert.deepEqual(both, ['192.168.123.201', '192.168.123.202']);
      await sim.setAddresses(NS, 'nodejs', 'l2', ['192.168.123.150']);
      await waitFor('node A record updated', async () => {
        const a = await resolver.resolve4('node.vm.svc.cluster.local');
        return a.length === 1 && a[0] === '192.168.123.150' ? a : undefined;
      });
    });
  });
});
