// The controller's edges against a real kube-apiserver (with kube-controller-manager's garbage
// collector and endpointslice-mirroring controller), the KubeVirt simulator and CoreDNS:
// legacy Endpoints (`legacyEndpoints: true`) created, updated, removed, never mirrored and
// answered once by DNS; and what users hit: a namespace that loses its opt-in label, a
// NetworkAttachmentDefinition deleted while a VM uses it, a VM renamed by recreation, two VMs
// declaring one Service's ports differently, IPv6-only and dual-stack VMIs.
import assert from 'node:assert/strict';
import { Resolver } from 'node:dns/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CoreV1Api,
  CustomObjectsApi,
  DiscoveryV1Api,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import type { KubeConfig, V1EndpointSlice, V1Endpoints, V1Service } from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import { startController } from '../../src/controller/controller.js';
import type { RunningController } from '../../src/controller/controller.js';
import type { VirtualMachine } from '../../src/controller/types.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { startCoreDNS, waitFor } from '../harness/index.js';
import type { ControlPlane, CoreDNS } from '../harness/index.js';
import { KubeVirtSimulator } from '../sim/kubevirt.js';
import { seedVm } from '../sim/vms.js';
import { controllerTestSettings, createNamespace, statusOf, VM } from './kube.js';
import { controlPlane, controllerManagerEnabled } from './setup.js';

const NAD = { group: 'k8s.cni.cncf.io', version: 'v1', plural: 'network-attachment-definitions' };
const OPT_IN = { 'kubevirt-net-injector.io/inject': 'enabled' };
const SLICE_MANAGER = 'controller.kubevirt-net-injector.io';
const WAIT = { timeoutMs: 30_000, intervalMs: 200 };
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const publish = (service: string, ports: string) => ({
  'kubevirt-net-injector.io/service-name': service,
  'kubevirt-net-injector.io/service-ports': ports,
});

const settings = (namespace: string, legacyEndpoints: boolean) =>
  controllerTestSettings(namespace, { legacyEndpoints, identity: 'edges' });

/** DNS answers, with "no such name" and "no record of that type" as none. */
async function answers(lookup: Promise<string[]>): Promise<string[]> {
  try {
    return (await lookup).sort();
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ENOTFOUND' || code === 'ENODATA') return [];
    throw err;
  }
}

async function orUndefined<T>(read: Promise<T>): Promise<T | undefined> {
  try {
    return await read;
  } catch (err) {
    if (statusOf(err) === 404) return undefined;
    throw err;
  }
}

describe('controller edges against a real apiserver', function () {
  this.timeout(120_000);
  let cp: ControlPlane;
  let kc: KubeConfig;
  let core: CoreV1Api;
  let discovery: DiscoveryV1Api;
  let custom: CustomObjectsApi;
  let dns: CoreDNS;
  let resolver: Resolver;

  const readSlice = (ns: string, name: string) =>
    orUndefined(discovery.readNamespacedEndpointSlice({ namespace: ns, name }));
  const readService = (ns: string, name: string) =>
    orUndefined(core.readNamespacedService({ namespace: ns, name }));
  const readEndpoints = (ns: string, name: string) =>
    orUndefined(core.readNamespacedEndpoints({ namespace: ns, name }));
  const slicesOf = async (ns: string, service: string) =>
    (
      await discovery.listNamespacedEndpointSlice({
        namespace: ns,
        labelSelector: `kubernetes.io/service-name=${service}`,
      })
    ).items;
  const sliceShows = (ns: string, name: string, ip: string) =>
    waitFor(
      `slice ${ns}/${name} = ${ip}`,
      async () => {
        const s = await readSlice(ns, name);
        const e = s?.endpoints?.[0];
        return e?.addresses[0] === ip && e.conditions?.ready === true ? s : undefined;
      },
      WAIT,
    );
  const gone = (what: string, read: () => Promise<unknown>) =>
    waitFor(`${what} gone`, async () => ((await read()) === undefined ? true : undefined), WAIT);
  const createVm = (ns: string, body: VirtualMachine) =>
    custom.createNamespacedCustomObject({ ...VM, namespace: ns, body });
  const readVm = async (ns: string, name: string) =>
    (await custom.getNamespacedCustomObject({ ...VM, namespace: ns, name })) as VirtualMachine;
  const deleteVm = (ns: string, name: string) =>
    custom.deleteNamespacedCustomObject({ ...VM, namespace: ns, name });
  const events = async (ns: string, vm: string) =>
    (await core.listNamespacedEvent({ namespace: ns, fieldSelector: `involvedObject.name=${vm}` })).items;
  const eventOn = (ns: string, vm: string, reason: string, message: RegExp) =>
    waitFor(
      `${reason} event on ${vm}`,
      async () => (await events(ns, vm)).find((e) => e.reason === reason && message.test(e.message ?? '')),
      WAIT,
    );
  const createNad = (ns: string, name: string) =>
    custom.createNamespacedCustomObject({
      ...NAD,
      namespace: ns,
      body: {
        apiVersion: 'k8s.cni.cncf.io/v1',
        kind: 'NetworkAttachmentDefinition',
        metadata: { name },
        spec: { config: JSON.stringify({ cniVersion: '0.3.1', type: 'ovs', bridge: 'br1' }) },
      },
    });
  /** Waits until CoreDNS answers `name` with exactly `expected` (sorted), then returns it. */
  const dnsShows = (name: string, family: 4 | 6, expected: string[]) =>
    waitFor(
      `${name} ${family === 4 ? 'A' : 'AAAA'} = [${expected.join(', ')}]`,
      async () => {
        const a = await answers(family === 4 ? resolver.resolve4(name) : resolver.resolve6(name));
        return JSON.stringify(a) === JSON.stringify([...expected].sort()) ? a : undefined;
      },
      WAIT,
    );

  before(async () => {
    cp = await controlPlane();
    kc = cp.kubeConfig();
    core = kc.makeApiClient(CoreV1Api);
    discovery = kc.makeApiClient(DiscoveryV1Api);
    custom = kc.makeApiClient(CustomObjectsApi);
    dns = await startCoreDNS({ kubeconfigPath: cp.kubeconfigPath, processes: cp.processes });
    resolver = new Resolver({ timeout: 1000, tries: 2 });
    resolver.setServers([dns.address]);
  });
  after(async () => dns?.stop());

  /** A namespace with its own simulator and controller; `addresses` maps VM name to eth1 IPs. */
  const world = (prefix: string, legacyEndpoints: boolean, addresses: Record<string, string[]>) => {
    const w = {
      ns: '',
      sim: undefined as KubeVirtSimulator | undefined,
      controller: undefined as RunningController | undefined,
      registry: new Registry(),
    };
    before(async () => {
      w.ns = await createNamespace(kc, prefix, OPT_IN);
      await createNad(w.ns, 'ovs-net-br1');
      w.sim = new KubeVirtSimulator(kc, {
        namespace: w.ns,
        addressFor: (vm) => addresses[vm.metadata.name ?? ''],
      });
      await w.sim.start();
      w.controller = await startController({
        kubeConfig: kc,
        logger: createLogger({ level: process.env.CONTROLLER_LOG ?? 'silent', name: prefix }),
        registry: w.registry,
        settings: settings(w.ns, legacyEndpoints),
      });
      await w.controller.synced;
    });
    after(async () => {
      await w.controller?.stop();
      await w.sim?.stop();
    });
    return w;
  };

  describe('legacy Endpoints (legacyEndpoints: true)', () => {
    const w = world('legacy', true, { 'leg-a': ['192.168.130.11'], 'leg-b': ['192.168.130.12'] });

    it('Endpoints carry the VM eth1 IP with skip-mirror, and follow an IP change', async () => {
      await createVm(w.ns, seedVm('leg-a', w.ns, publish('db', 'pg:5432')));
      await sliceShows(w.ns, 'leg-a-ipv4', '192.168.130.11');
      const ep = await waitFor(
        'Endpoints db with 192.168.130.11',
        async () => {
          const e = await readEndpoints(w.ns, 'db');
          return e?.subsets?.[0]?.addresses?.[0]?.ip === '192.168.130.11' ? e : undefined;
        },
        WAIT,
      );
      assert.equal(ep.metadata?.labels?.['endpointslice.kubernetes.io/skip-mirror'], 'true');
      assert.equal(ep.metadata?.labels?.['app.kubernetes.io/managed-by'], 'kubevirt-net-injector');
      const address = ep.subsets![0]!.addresses![0]!;
      assert.equal(address.hostname, 'leg-a');
      assert.equal(address.targetRef?.kind, 'VirtualMachineInstance');
      assert.deepEqual(
        ep.subsets![0]!.ports?.map((p) => `${p.name}:${p.port}/${p.protocol}`),
        ['pg:5432/TCP'],
      );
      assert.deepEqual(
        ep.metadata?.ownerReferences?.map((o) => `${o.kind}/${o.name}`),
        ['VirtualMachine/leg-a'],
      );

      await w.sim!.setAddresses(w.ns, 'leg-a', 'l2', ['192.168.130.21']);
      await sliceShows(w.ns, 'leg-a-ipv4', '192.168.130.21');
      const moved = await waitFor(
        'Endpoints db with 192.168.130.21',
        async () => {
          const e = await readEndpoints(w.ns, 'db');
          const ips = (e?.subsets ?? []).flatMap((s) => (s.addresses ?? []).map((a) => a.ip));
          return ips.length === 1 && ips[0] === '192.168.130.21' ? e : undefined;
        },
        WAIT,
      );
      assert.equal(moved.subsets![0]!.notReadyAddresses, undefined, 'the old address is not kept');
    });

    it('never mirrored: the Service has our slice only (the mirroring controller runs)', async function () {
      await waitFor('Endpoints db', () => readEndpoints(w.ns, 'db'), WAIT);
      if (!controllerManagerEnabled()) {
        // No kube-controller-manager, so no mirroring controller to prove it against: the label
        // the mirroring controller honours is what we can check.
        const ep = await readEndpoints(w.ns, 'db');
        assert.equal(ep?.metadata?.labels?.['endpointslice.kubernetes.io/skip-mirror'], 'true');
        this.skip();
      }
      // A control: a user's selector-less Service with hand-written Endpoints (no skip-mirror) is
      // mirrored in this control plane, so the absence below is not a mirroring controller that
      // is not there or too slow.
      await core.createNamespacedService({
        namespace: w.ns,
        body: { metadata: { name: 'probe' }, spec: { clusterIP: 'None', ports: [{ name: 'x', port: 1 }] } },
      });
      const probe: V1Endpoints = {
        metadata: { name: 'probe' },
        subsets: [{ addresses: [{ ip: '192.168.130.99' }], ports: [{ name: 'x', port: 1 }] }],
      };
      await core.createNamespacedEndpoints({ namespace: w.ns, body: probe });
      const mirrored = await waitFor(
        'the probe Endpoints mirrored',
        async () => (await slicesOf(w.ns, 'probe'))[0],
        WAIT,
      );
      assert.equal(
        mirrored.metadata?.labels?.['endpointslice.kubernetes.io/managed-by'],
        'endpointslicemirroring-controller.k8s.io',
      );
      // Ours were written before the probe: the mirroring controller had every chance.
      await sleep(1000);
      const ours = await slicesOf(w.ns, 'db');
      assert.deepEqual(
        ours.map(
          (s) => `${s.metadata?.name} ${s.metadata?.labels?.['endpointslice.kubernetes.io/managed-by']}`,
        ),
        [`leg-a-ipv4 ${SLICE_MANAGER}`],
      );
      await core.deleteNamespacedService({ namespace: w.ns, name: 'probe' });
    });

    it('DNS with Endpoints and slices both present: one answer per VM, no duplicates', async () => {
      await createVm(w.ns, seedVm('leg-b', w.ns, publish('db', 'pg:5432')));
      await sliceShows(w.ns, 'leg-b-ipv4', '192.168.130.12');
      await waitFor(
        'Endpoints db with both VMs',
        async () => {
          const e = await readEndpoints(w.ns, 'db');
          return e?.subsets?.[0]?.addresses?.length === 2 ? e : undefined;
        },
        WAIT,
      );
      // CoreDNS's kubernetes plugin reads EndpointSlices; the Endpoints add nothing to the answer.
      // (It answers an address once even when a mirrored slice repeats it: the slice listing
      // above, not DNS, is what shows nothing was mirrored.)
      const both = await dnsShows(`db.${w.ns}.svc.cluster.local`, 4, ['192.168.130.12', '192.168.130.21']);
      assert.equal(new Set(both).size, both.length);
      assert.deepEqual(await answers(resolver.resolve4(`leg-a.db.${w.ns}.svc.cluster.local`)), [
        '192.168.130.21',
      ]);
    });

    it('VM deleted: its address leaves the Endpoints; the last VM deleted takes Endpoints and Service', async () => {
      await deleteVm(w.ns, 'leg-b');
      await gone('slice leg-b-ipv4', () => readSlice(w.ns, 'leg-b-ipv4'));
      await waitFor(
        'Endpoints db without leg-b',
        async () => {
          const e = await readEndpoints(w.ns, 'db');
          const ips = (e?.subsets ?? []).flatMap((s) => [
            ...(s.addresses ?? []),
            ...(s.notReadyAddresses ?? []),
          ]);
          return ips.length === 1 && ips[0]!.ip === '192.168.130.21' ? e : undefined;
        },
        WAIT,
      );
      await deleteVm(w.ns, 'leg-a');
      await gone('slice leg-a-ipv4', () => readSlice(w.ns, 'leg-a-ipv4'));
      await gone('Endpoints db', () => readEndpoints(w.ns, 'db'));
      await gone('Service db', () => readService(w.ns, 'db'));
      await dnsShows(`db.${w.ns}.svc.cluster.local`, 4, []);
    });
  });

  describe('edges users hit', () => {
    const w = world('edges', false, {
      stay: ['192.168.131.10'],
      'nad-user': ['192.168.131.20'],
      bystander: ['192.168.131.21'],
      'app-a': ['192.168.131.30'],
      'app-b': ['192.168.131.30'],
      'port-old': ['192.168.131.40'],
      'port-new': ['192.168.131.41'],
      'name-old': ['192.168.131.42'],
      'name-new': ['192.168.131.43'],
      v6only: ['fd00:131::10'],
      dual: ['192.168.131.50', 'fe80::1', 'fd00:131::50'],
    });
    const metric = async (name: string) => {
      const found = (await w.registry.getMetricsAsJSON()).find((m) => m.name === name);
      return ((found?.values ?? []) as { value: number; labels: Record<string, string> }[]).reduce(
        (sum, v) => sum + v.value,
        0,
      );
    };

    it('a namespace that loses its opt-in label keeps its published VMs as they are', async () => {
      await createVm(w.ns, seedVm('stay', w.ns, publish('stay', 'web:80')));
      await sliceShows(w.ns, 'stay-ipv4', '192.168.131.10');
      const svc = await waitFor('Service stay', () => readService(w.ns, 'stay'), WAIT);
      const vm = await readVm(w.ns, 'stay');
      await core.patchNamespace(
        { name: w.ns, body: { metadata: { labels: { 'kubevirt-net-injector.io/inject': null } } } },
        mergePatch,
      );
      const relabelled = await core.readNamespace({ name: w.ns });
      assert.equal(relabelled.metadata?.labels?.['kubevirt-net-injector.io/inject'], undefined);
      // Opting in decides what the webhook injects; the controller publishes by VM annotation.
      await w.sim!.setAddresses(w.ns, 'stay', 'l2', ['192.168.131.11']);
      await sliceShows(w.ns, 'stay-ipv4', '192.168.131.11');
      await dnsShows(`stay.${w.ns}.svc.cluster.local`, 4, ['192.168.131.11']);
      const after = await readService(w.ns, 'stay');
      assert.equal(after?.metadata?.uid, svc.metadata?.uid, 'the Service was neither deleted nor recreated');
      const vmAfter = await readVm(w.ns, 'stay');
      assert.equal(vmAfter.metadata.resourceVersion, vm.metadata.resourceVersion, 'the VM was not written');
      await core.patchNamespace({ name: w.ns, body: { metadata: { labels: OPT_IN } } }, mergePatch);
    });

    it('a NAD deleted while a VM uses it: Warning Event, gauge, and the controller keeps serving', async () => {
      await createNad(w.ns, 'br-doomed');
      const vm = seedVm('nad-user', w.ns, publish('nad-user', 'app:9000'));
      vm.spec!.template!.spec!.networks![1]!.multus!.networkName = 'br-doomed';
      await createVm(w.ns, vm);
      await createVm(w.ns, seedVm('bystander', w.ns, publish('bystander', 'app:9000')));
      await sliceShows(w.ns, 'nad-user-ipv4', '192.168.131.20');
      await sliceShows(w.ns, 'bystander-ipv4', '192.168.131.21');
      assert.equal(await metric('kubevirt_net_injector_controller_vms_network_missing'), 0);

      await custom.deleteNamespacedCustomObject({ ...NAD, namespace: w.ns, name: 'br-doomed' });
      const event = await eventOn(w.ns, 'nad-user', 'NetworkNotFound', new RegExp(`${w.ns}/br-doomed`));
      assert.equal(event.type, 'Warning');
      assert.match(event.message ?? '', /of network l2 does not exist; the running VMI stays published/);
      await waitFor(
        'gauge: 1 VM with a missing network',
        async () =>
          (await metric('kubevirt_net_injector_controller_vms_network_missing')) === 1 ? true : undefined,
        WAIT,
      );
      // The running VMI keeps its interface: still published, and others still served.
      await w.sim!.setAddresses(w.ns, 'bystander', 'l2', ['192.168.131.22']);
      await sliceShows(w.ns, 'bystander-ipv4', '192.168.131.22');
      await w.sim!.setAddresses(w.ns, 'nad-user', 'l2', ['192.168.131.23']);
      await sliceShows(w.ns, 'nad-user-ipv4', '192.168.131.23');
      assert.equal(await metric('kubevirt_net_injector_controller_reconcile_errors_total'), 0);
      assert.ok(!(await events(w.ns, 'bystander')).some((e) => e.type === 'Warning'));

      await createNad(w.ns, 'br-doomed');
      await waitFor(
        'gauge back to 0',
        async () =>
          (await metric('kubevirt_net_injector_controller_vms_network_missing')) === 0 ? true : undefined,
        WAIT,
      );
    });

    it('a VM renamed by recreation: the old slice and hostname go, the new ones appear', async () => {
      await createVm(w.ns, seedVm('app-a', w.ns, publish('app', 'http:8080')));
      await sliceShows(w.ns, 'app-a-ipv4', '192.168.131.30');
      await dnsShows(`app-a.app.${w.ns}.svc.cluster.local`, 4, ['192.168.131.30']);
      await deleteVm(w.ns, 'app-a');
      await createVm(w.ns, seedVm('app-b', w.ns, publish('app', 'http:8080')));
      await sliceShows(w.ns, 'app-b-ipv4', '192.168.131.30');
      await gone('slice app-a-ipv4', () => readSlice(w.ns, 'app-a-ipv4'));
      const svc = await waitFor(
        'Service app owned by app-b alone',
        async () => {
          const s = await readService(w.ns, 'app');
          const owners = s?.metadata?.ownerReferences?.map((o) => o.name) ?? [];
          return owners.length === 1 && owners[0] === 'app-b' ? s : undefined;
        },
        WAIT,
      );
      const appB = await readVm(w.ns, 'app-b');
      assert.equal(svc.metadata?.ownerReferences?.[0]?.uid, appB.metadata.uid);
      assert.deepEqual(
        (await slicesOf(w.ns, 'app')).map((s) => s.metadata?.name),
        ['app-b-ipv4'],
      );
      await dnsShows(`app.${w.ns}.svc.cluster.local`, 4, ['192.168.131.30']);
      await dnsShows(`app-b.app.${w.ns}.svc.cluster.local`, 4, ['192.168.131.30']);
      await dnsShows(`app-a.app.${w.ns}.svc.cluster.local`, 4, []);
    });

    it('two VMs, one port name, different ports: the older VM wins, PortConflict on both', async () => {
      // Created in this order a second apart: creation order, not name order, decides.
      await createVm(w.ns, seedVm('port-old', w.ns, publish('ports', 'db:5432')));
      await sliceShows(w.ns, 'port-old-ipv4', '192.168.131.40');
      await sleep(1100);
      await createVm(w.ns, seedVm('port-new', w.ns, publish('ports', 'db:6432')));
      await sliceShows(w.ns, 'port-new-ipv4', '192.168.131.41');
      const message = /VM port-new declares port db as 6432\/TCP; the Service keeps 5432\/TCP/;
      for (const vm of ['port-old', 'port-new']) {
        const e = await eventOn(w.ns, vm, 'PortConflict', message);
        assert.equal(e.type, 'Warning');
      }
      const svc = await readService(w.ns, 'ports');
      assert.deepEqual(
        svc?.spec?.ports?.map((p) => `${p.name}:${p.port}`),
        ['db:5432'],
      );
      // Each VM's slice keeps the ports that VM declared (SRV answers say where it listens).
      const slice = (await readSlice(w.ns, 'port-new-ipv4')) as V1EndpointSlice;
      assert.deepEqual(
        slice.ports?.map((p) => `${p.name}:${p.port}`),
        ['db:6432'],
      );
      await dnsShows(`ports.${w.ns}.svc.cluster.local`, 4, ['192.168.131.40', '192.168.131.41']);
    });

    it('two VMs, one port, different names: the older VM keeps its name, PortConflict on both', async () => {
      await createVm(w.ns, seedVm('name-old', w.ns, publish('names', 'db:5432')));
      await sliceShows(w.ns, 'name-old-ipv4', '192.168.131.42');
      await sleep(1100);
      await createVm(w.ns, seedVm('name-new', w.ns, publish('names', 'sql:5432')));
      await sliceShows(w.ns, 'name-new-ipv4', '192.168.131.43');
      const message = /VM name-new declares 5432\/TCP as port sql; the Service keeps it as db/;
      for (const vm of ['name-old', 'name-new']) await eventOn(w.ns, vm, 'PortConflict', message);
      const svc = (await readService(w.ns, 'names')) as V1Service;
      assert.deepEqual(
        svc.spec?.ports?.map((p) => `${p.name}:${p.port}`),
        ['db:5432'],
      );
    });

    it('IPv6-only and dual-stack VMIs: a slice per family, A and AAAA from CoreDNS', async () => {
      await createVm(w.ns, seedVm('v6only', w.ns, publish('v6', 'web:80')));
      await createVm(w.ns, seedVm('dual', w.ns, publish('dual', 'web:80')));
      const v6 = await sliceShows(w.ns, 'v6only-ipv6', 'fd00:131::10');
      assert.equal(v6.addressType, 'IPv6');
      assert.deepEqual(
        (await slicesOf(w.ns, 'v6')).map((s) => `${s.metadata?.name} ${s.addressType}`),
        ['v6only-ipv6 IPv6'],
      );
      const d4 = await sliceShows(w.ns, 'dual-ipv4', '192.168.131.50');
      const d6 = await sliceShows(w.ns, 'dual-ipv6', 'fd00:131::50');
      assert.equal(d4.addressType, 'IPv4');
      assert.equal(d6.addressType, 'IPv6');
      assert.deepEqual(
        d6.endpoints.map((e) => e.addresses),
        [['fd00:131::50']],
        'link-local left out',
      );

      await dnsShows(`v6.${w.ns}.svc.cluster.local`, 6, ['fd00:131::10']);
      assert.deepEqual(await answers(resolver.resolve4(`v6.${w.ns}.svc.cluster.local`)), []);
      await dnsShows(`dual.${w.ns}.svc.cluster.local`, 4, ['192.168.131.50']);
      await dnsShows(`dual.${w.ns}.svc.cluster.local`, 6, ['fd00:131::50']);
      await dnsShows(`dual.dual.${w.ns}.svc.cluster.local`, 6, ['fd00:131::50']);
    });
  });
});
