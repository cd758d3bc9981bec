import assert from 'node:assert/strict';
import { keysForSlice, Reconciler, serviceKey, vmKey } from '../../../src/controller/reconcile.js';
import type { Caches, ManagedKind, ManagedObject, Writer } from '../../../src/controller/deps.js';
import type {
  EndpointSlice,
  Service,
  VirtualMachine,
  VirtualMachineInstance,
} from '../../../src/controller/types.js';

/** An in-memory apiserver for the three kinds we write, plus caches that read it (no lag). */
class FakeCluster implements Caches, Writer {
  vmsByKey = new Map<string, VirtualMachine>();
  vmisByKey = new Map<string, VirtualMachineInstance>();
  objects = new Map<string, ManagedObject>();
  writes: string[] = [];
  /** NADs that exist, as `namespace/name`; undefined: not known yet. */
  nads: Set<string> | undefined;
  private rv = 1;

  private k(kind: string, ns: string, name: string) {
    return `${kind}/${ns}/${name}`;
  }
  put(kind: ManagedKind, obj: ManagedObject) {
    obj.metadata.resourceVersion = String(this.rv++);
    obj.metadata.uid ??= `uid-${kind}-${obj.metadata.name}`;
    this.objects.set(this.k(kind, obj.metadata.namespace!, obj.metadata.name!), structuredClone(obj));
  }
  nadExists(ref: { namespace: string; name: string }) {
    return this.nads?.has(`${ref.namespace}/${ref.name}`);
  }
  vm(ns: string, name: string) {
    return this.vmsByKey.get(`${ns}/${name}`);
  }
  vmsPublishing(ns: string, service: string) {
    return [...this.vmsByKey.values()].filter(
      (v) =>
        v.metadata.namespace === ns &&
        (v.metadata.annotations?.['kubevirt-net-injector.io/service-name'] ?? v.metadata.name) === service &&
        (v.metadata.annotations?.['kubevirt-net-injector.io/service-name'] !== undefined ||
          v.metadata.annotations?.['kubevirt-net-injector.io/service-ports'] !== undefined),
    );
  }
  servicesOwnedBy(ns: string, vm: string) {
    return this.services(ns).filter((s) => s.metadata.ownerReferences?.some((r) => r.name === vm));
  }
  slicesOwnedBy(ns: string, vm: string) {
    return this.slices(ns).filter((s) => s.metadata.ownerReferences?.some((r) => r.name === vm));
  }
  slicesOfService(ns: string, service: string) {
    return this.slices(ns).filter((s) => s.metadata.labels?.['kubernetes.io/service-name'] === service);
  }
  vmi(ns: string, name: string) {
    return this.vmisByKey.get(`${ns}/${name}`);
  }
  service(ns: string, name: string) {
    const s = this.objects.get(this.k('Service', ns, name)) as Service | undefined;
    return s?.metadata.labels?.['app.kubernetes.io/managed-by'] === 'kubevirt-net-injector' ? s : undefined;
  }
  services(ns: string) {
    return [...this.objects.entries()]
      .filter(([k]) => k.startsWith(`Service/${ns}/`))
      .map(([, o]) => o as Service)
      .filter((s) => s.metadata.labels?.['app.kubernetes.io/managed-by'] === 'kubevirt-net-injector');
  }
  slices(ns: string) {
    return [...this.objects.entries()]
      .filter(([k]) => k.startsWith(`EndpointSlice/${ns}/`))
      .map(([, o]) => o as EndpointSlice)
      .filter(
        (s) =>
          s.metadata.labels?.['endpointslice.kubernetes.io/managed-by'] ===
          'controller.kubevirt-net-injector.io',
      );
  }
  async create<T extends ManagedObject>(kind: ManagedKind, obj: T): Promise<T> {
    const key = this.k(kind, obj.metadata.namespace!, obj.metadata.name!);
    if (this.objects.has(key)) throw Object.assign(new Error('AlreadyExists'), { code: 409 });
    this.writes.push(`create ${key}`);
    this.put(kind, obj);
    return obj;
  }
  async replace<T extends ManagedObject>(kind: ManagedKind, obj: T): Promise<T> {
    const key = this.k(kind, obj.metadata.namespace!, obj.metadata.name!);
    const stored = this.objects.get(key);
    if (!stored) throw Object.assign(new Error('NotFound'), { code: 404 });
    if (stored.metadata.resourceVersion !== obj.metadata.resourceVersion)
      throw Object.assign(new Error('Conflict'), { code: 409 });
    this.writes.push(`replace ${key}`);
    this.put(kind, obj);
    return obj;
  }
  async delete(kind: ManagedKind, ns: string, name: string): Promise<void> {
    const key = this.k(kind, ns, name);
    if (!this.objects.delete(key)) throw Object.assign(new Error('NotFound'), { code: 404 });
    this.writes.push(`delete ${key}`);
  }
  async read<T extends ManagedObject>(kind: ManagedKind, ns: string, name: string): Promise<T | undefined> {
    const o = this.objects.get(this.k(kind, ns, name));
    return o ? (structuredClone(o) as T) : undefined;
  }
}

function seedVm(name: string, service: string, port: string): VirtualMachine {
  return {
    metadata: {
      name,
      namespace: 'vm',
      uid: `uid-${name}`,
      creationTimestamp: '2026-11-01T00:00:00Z',
      annotations: {
        'kubevirt-net-injector.io/status': 'injected',
        'kubevirt-net-injector.io/interface': 'l2',
        'kubevirt-net-injector.io/service-name': service,
        'kubevirt-net-injector.io/service-ports': port,
      },
    },
    spec: { running: true },
  };
}

function seedVmi(name: string, ip: string | undefined): VirtualMachineInstance {
  return {
    metadata: { name, namespace: 'vm', uid: `vmi-${name}` },
    status: {
      phase: 'Running',
      interfaces: ip ? [{ name: 'l2', interfaceName: 'eth1', ipAddress: ip, ipAddresses: [ip] }] : [],
    },
  };
}

describe('controller/reconcile: Reconciler against an in-memory cluster', () => {
  let cluster: FakeCluster;
  let events: string[];
  let latency: number[];
  let missing: number[];
  let now: number;
  let reconciler: Reconciler;
  const run = async (key: string) => reconciler.reconcile(key);
  /** The order the informers produce on a fresh publication: our Service first, then the slice. */
  const publish = async () => {
    await run(serviceKey('vm', 'mongo'));
    await run(vmKey('vm', 'mongodb'));
  };

  beforeEach(() => {
    cluster = new FakeCluster();
    events = [];
    latency = [];
    missing = [];
    now = Date.parse('2026-11-26T10:00:00Z');
    reconciler = makeReconciler(false);
    cluster.vmsByKey.set('vm/mongodb', seedVm('mongodb', 'mongo', 'mongo:27017'));
    cluster.vmisByKey.set('vm/mongodb', seedVmi('mongodb', '192.168.123.139'));
  });

  function makeReconciler(legacyEndpoints: boolean) {
    return new Reconciler({
      caches: cluster,
      writer: cluster,
      events: {
        record: (vm, type, reason, message) =>
          events.push(`${vm.metadata.name} ${type} ${reason}: ${message}`),
      },
      metrics: {
        reconciled: () => undefined,
        write: () => undefined,
        ipToSlice: (s) => latency.push(s),
        networksMissing: (n) => missing.push(n),
      },
      logger: {
        debug: () => undefined,
        info: () => undefined,
        warn: () => undefined,
        error: () => undefined,
      },
      settings: { graceMs: 5000, legacyEndpoints },
      now: () => now,
    });
  }

  it('the seed: Service first, then the slice under it; a second pass writes nothing', async () => {
    reconciler.noteVmiAddresses('vm', 'mongodb', ['192.168.123.139']);
    now += 40;
    const r = await run(vmKey('vm', 'mongodb'));
    assert.deepEqual(r.enqueue, [serviceKey('vm', 'mongo')]);
    assert.deepEqual(cluster.writes, [], 'no slice before our Service exists');
    await run(serviceKey('vm', 'mongo'));
    await run(vmKey('vm', 'mongodb'));
    assert.deepEqual(cluster.writes, ['create Service/vm/mongo', 'create EndpointSlice/vm/mongodb-ipv4']);
    const slice = cluster.slices('vm')[0]!;
    assert.deepEqual(slice.endpoints[0]!.addresses, ['192.168.123.139']);
    assert.equal(cluster.service('vm', 'mongo')!.spec!.clusterIP, 'None');
    assert.deepEqual(latency, [0.04]);
    assert.ok(
      events.some((e) =>
        /mongodb Normal EndpointSliceCreated: created EndpointSlice vm\/mongodb-ipv4: 192.168.123.139 ready/.test(
          e,
        ),
      ),
      events.join('\n'),
    );
    cluster.writes = [];
    await run(vmKey('vm', 'mongodb'));
    await run(serviceKey('vm', 'mongo'));
    assert.deepEqual(cluster.writes, []);
  });

  it('a NAD deleted under a published VM: one Warning, the gauge, still published; back: 0', async () => {
    cluster.vmsByKey.get('vm/mongodb')!.spec = {
      running: true,
      template: {
        spec: {
          networks: [
            { name: 'default', pod: {} },
            { name: 'l2', multus: { networkName: 'br1' } },
          ],
        },
      },
    };
    await publish();
    assert.deepEqual(missing, [], 'NADs not known yet: no verdict');
    cluster.nads = new Set(['vm/br1']);
    await run(vmKey('vm', 'mongodb'));
    cluster.nads.delete('vm/br1');
    events = [];
    await run(vmKey('vm', 'mongodb'));
    await run(vmKey('vm', 'mongodb'));
    assert.deepEqual(events, [
      'mongodb Warning NetworkNotFound: NetworkAttachmentDefinition vm/br1 of network l2 does not exist; the running VMI stays published, but the VM cannot start again until it is back',
    ]);
    assert.deepEqual(missing, [1]);
    assert.deepEqual(cluster.slices('vm')[0]!.endpoints[0]!.addresses, ['192.168.123.139']);
    cluster.nads.add('vm/br1');
    await run(vmKey('vm', 'mongodb'));
    assert.deepEqual(missing, [1, 0]);
    cluster.nads.delete('vm/br1');
    await run(vmKey('vm', 'mongodb'));
    cluster.vmsByKey.delete('vm/mongodb');
    await run(vmKey('vm', 'mongodb'));
    assert.deepEqual(missing, [1, 0, 1, 0], 'a deleted VM no longer counts');
  });

  it('an IP change replaces the slice', async () => {
    await publish();
    cluster.vmisByKey.set('vm/mongodb', seedVmi('mongodb', '192.168.123.200'));
    cluster.writes = [];
    await run(vmKey('vm', 'mongodb'));
    assert.deepEqual(cluster.writes, ['replace EndpointSlice/vm/mongodb-ipv4']);
    assert.deepEqual(cluster.slices('vm')[0]!.endpoints[0]!.addresses, ['192.168.123.200']);
  });

  it('lost address: not ready, requeue, then deleted after grace', async () => {
    await publish();
    cluster.vmisByKey.delete('vm/mongodb');
    const r = await run(vmKey('vm', 'mongodb'));
    assert.equal(r.requeueAfterMs, 5000);
    assert.equal(cluster.slices('vm')[0]!.endpoints[0]!.conditions?.ready, false);
    now += 5000;
    await run(vmKey('vm', 'mongodb'));
    assert.deepEqual(cluster.slices('vm'), []);
  });

  it('two VMs share a Service: both own it; one leaving drops its reference only', async () => {
    cluster.vmsByKey.set('vm/mongodb2', seedVm('mongodb2', 'mongo', 'mongo:27017'));
    cluster.vmisByKey.set('vm/mongodb2', seedVmi('mongodb2', '192.168.123.150'));
    for (const k of [serviceKey('vm', 'mongo'), vmKey('vm', 'mongodb'), vmKey('vm', 'mongodb2')])
      await run(k);
    assert.deepEqual(
      cluster
        .slices('vm')
        .map((s) => s.metadata.name)
        .sort(),
      ['mongodb-ipv4', 'mongodb2-ipv4'],
    );
    assert.deepEqual(
      cluster.service('vm', 'mongo')!.metadata.ownerReferences!.map((o) => o.name),
      ['mongodb', 'mongodb2'],
    );
    cluster.vmsByKey.delete('vm/mongodb2');
    const r = await run(vmKey('vm', 'mongodb2'));
    assert.deepEqual(r.enqueue, [serviceKey('vm', 'mongo')]);
    await run(serviceKey('vm', 'mongo'));
    assert.deepEqual(
      cluster.slices('vm').map((s) => s.metadata.name),
      ['mongodb-ipv4'],
    );
    assert.deepEqual(
      cluster.service('vm', 'mongo')!.metadata.ownerReferences!.map((o) => o.name),
      ['mongodb'],
    );
    cluster.vmsByKey.delete('vm/mongodb');
    await run(vmKey('vm', 'mongodb'));
    await run(serviceKey('vm', 'mongo'));
    assert.equal(cluster.objects.size, 0);
  });

  it("a user's Service of the same name is left alone, no slice, Events on the VM", async () => {
    const user: Service = {
      metadata: { name: 'mongo', namespace: 'vm', labels: { team: 'db' } },
      spec: { selector: { app: 'mongo' }, ports: [{ port: 1 }] },
    };
    cluster.put('Service', user);
    const before = JSON.stringify(cluster.objects.get('Service/vm/mongo'));
    await run(vmKey('vm', 'mongodb'));
    await run(serviceKey('vm', 'mongo'));
    assert.equal(JSON.stringify(cluster.objects.get('Service/vm/mongo')), before);
    assert.deepEqual(cluster.slices('vm'), []);
    assert.deepEqual(cluster.writes, []);
    assert.ok(
      events.some((e) =>
        /mongodb Warning ServiceConflict: Service vm\/mongo exists and is not managed/.test(e),
      ),
      events.join('\n'),
    );
  });

  it('a foreign slice with our name is left alone', async () => {
    const foreign: EndpointSlice = {
      metadata: { name: 'mongodb-ipv4', namespace: 'vm', labels: { 'kubernetes.io/service-name': 'x' } },
      addressType: 'IPv4',
      endpoints: [],
    };
    cluster.put('EndpointSlice', foreign);
    await publish();
    assert.deepEqual(cluster.writes, ['create Service/vm/mongo']);
    assert.deepEqual((cluster.objects.get('EndpointSlice/vm/mongodb-ipv4') as EndpointSlice).endpoints, []);
    assert.ok(events.some((e) => /EndpointSliceConflict/.test(e)));
  });

  it('a bad ports annotation: Warning, nothing written', async () => {
    cluster.vmsByKey.set('vm/mongodb', seedVm('mongodb', 'mongo', 'mongo:99999'));
    await run(vmKey('vm', 'mongodb'));
    assert.deepEqual(cluster.writes, []);
    assert.match(events[0]!, /Warning InvalidPublication: .*outside 1-65535/);
  });

  it('publication removed: slices deleted, Service deleted', async () => {
    await publish();
    assert.equal(cluster.objects.size, 2);
    const vm = seedVm('mongodb', 'mongo', 'x');
    vm.metadata.annotations = { 'kubevirt-net-injector.io/status': 'injected' };
    cluster.vmsByKey.set('vm/mongodb', vm);
    const r = await run(vmKey('vm', 'mongodb'));
    assert.deepEqual(r.enqueue, [serviceKey('vm', 'mongo')]);
    await run(serviceKey('vm', 'mongo'));
    assert.equal(cluster.objects.size, 0);
  });

  it('legacy Endpoints when enabled: skip-mirror, the VM address', async () => {
    reconciler = makeReconciler(true);
    await publish();
    await run(serviceKey('vm', 'mongo'));
    const ep = cluster.objects.get('Endpoints/vm/mongo') as {
      metadata: { labels: Record<string, string> };
      subsets: { addresses: { ip: string }[] }[];
    };
    assert.equal(ep.metadata.labels['endpointslice.kubernetes.io/skip-mirror'], 'true');
    assert.deepEqual(
      ep.subsets[0]!.addresses.map((a) => a.ip),
      ['192.168.123.139'],
    );
  });
});

describe('controller: what an EndpointSlice event queues', () => {
  const slice: EndpointSlice = {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      namespace: 'vm',
      name: 'leg-b-ipv4',
      labels: { 'kubernetes.io/service-name': 'db' },
      ownerReferences: [{ apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', name: 'leg-b', uid: 'u1' }],
    },
    addressType: 'IPv4',
    endpoints: [],
  };

  it('its owner VM', () => {
    assert.deepEqual(keysForSlice(slice, false), [vmKey('vm', 'leg-b')]);
  });

  it("with legacy Endpoints, its Service too: a deleted VM's slice leaves the Endpoints", () => {
    // The deleted VM's reconcile removes the slice and queues the Service, whose reconcile may
    // still see the slice in the cache; only the slice's own delete event brings the Service back.
    assert.deepEqual(keysForSlice(slice, true), [vmKey('vm', 'leg-b'), serviceKey('vm', 'db')]);
  });
});
