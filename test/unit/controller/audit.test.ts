// The policy audit with an in-memory cluster view (the real selector, settings and evaluation
// behind it), a VM cache that counts how it is read, a status writer that stores what it is
// given (and can fail on cue), a recording Event recorder and the real metrics on a registry.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { Registry } from 'prom-client';
import type { AuditClusterView } from '../../../src/controller/audit-judge.js';
import { PolicyAudit, VIOLATION_REASON, type AuditDeps } from '../../../src/controller/audit.js';
import type { EventRecorder } from '../../../src/controller/deps.js';
import { auditMetrics } from '../../../src/controller/metrics.js';
import type { VirtualMachine } from '../../../src/controller/types.js';
import { resolveRef } from '../../../src/policy/refs.js';
import { matches } from '../../../src/policy/selector.js';
import { settingsFor, type NamespaceInfo } from '../../../src/policy/settings.js';
import type {
  NadInfo,
  NetworkAttachmentPolicy,
  PolicySpec,
  PolicyStatus,
} from '../../../src/policy/types.js';
import { createLogger } from '../../../src/telemetry/logger.js';

const quiet = createLogger({ level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) });
const OPTED = { 'kubevirt-net-injector.io/inject': 'enabled' };
const T0 = new Date('2026-12-01T10:00:00Z');

class FakeCluster implements AuditClusterView {
  namespaceList: NamespaceInfo[] = [];
  policyList: NetworkAttachmentPolicy[] = [];
  nads: NadInfo[] = [];
  vms = new Map<string, VirtualMachine>();
  reads = { get: 0, list: 0 };

  namespace(name: string) {
    return this.namespaceList.find((n) => n.name === name);
  }
  namespaces() {
    return this.namespaceList;
  }
  policies() {
    return this.policyList;
  }
  policiesFor(name: string) {
    const ns = this.namespace(name);
    return ns ? this.policyList.filter((p) => matches(p.spec.namespaceSelector, ns.labels)) : [];
  }
  nad(ref: { namespace: string; name: string }) {
    return this.nads.find((n) => n.namespace === ref.namespace && n.name === ref.name);
  }
  platformNetwork(name: string, labels: Record<string, string>) {
    const v = settingsFor(name, this.namespace(name), this.policiesFor(name), labels, {
      interfaceName: 'l2',
      cloudInit: true,
    });
    return v.optedIn ? resolveRef(v.settings.network, name) : undefined;
  }
  vmCache() {
    return {
      get: (ns: string, name: string) => {
        this.reads.get++;
        return this.vms.get(`${ns}/${name}`);
      },
      list: (ns: string) => {
        this.reads.list++;
        return [...this.vms.values()].filter((v) => v.metadata.namespace === ns);
      },
    };
  }
  putVm(vm: VirtualMachine) {
    this.vms.set(`${vm.metadata.namespace}/${vm.metadata.name}`, vm);
    return vm;
  }
}

function vm(
  namespace: string,
  name: string,
  networks: string[],
  meta: { labels?: Record<string, string>; annotations?: Record<string, string> } = {},
): VirtualMachine {
  return {
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachine',
    metadata: { namespace, name, uid: `uid-${namespace}-${name}`, ...meta },
    spec: {
      template: {
        spec: {
          networks: [
            { name: 'default', pod: {} },
            ...networks.map((n, i) => ({ name: i === 0 ? 'l2' : `net${i}`, multus: { networkName: n } })),
          ],
        },
      },
    },
  };
}

function policy(name: string, spec: Partial<PolicySpec>, generation = 1): NetworkAttachmentPolicy {
  return {
    metadata: { name, uid: `uid-${name}`, generation },
    spec: { namespaceSelector: { matchLabels: { team: 'a' } }, ...spec },
  };
}

interface Harness {
  cluster: FakeCluster;
  audit: PolicyAudit;
  writes: { policy: string; status: PolicyStatus }[];
  events: { vm: string; type: string; reason: string; message: string }[];
  registry: Registry;
  clock: { now: Date };
  fail: { code?: number; times: number };
}

function harness(setup: (c: FakeCluster) => void, extra: Partial<AuditDeps> = {}): Harness {
  const cluster = new FakeCluster();
  setup(cluster);
  const writes: Harness['writes'] = [];
  const events: Harness['events'] = [];
  const registry = new Registry();
  const clock = { now: T0 };
  const fail: Harness['fail'] = { times: 0 };
  const recorder: EventRecorder = {
    record: (v, type, reason, message) =>
      events.push({ vm: `${v.metadata.namespace}/${v.metadata.name}`, type, reason, message }),
  };
  const audit = new PolicyAudit({
    state: cluster,
    vms: cluster.vmCache(),
    synced: Promise.resolve(),
    writeStatus: async (name, status) => {
      if (fail.times > 0) {
        fail.times--;
        throw Object.assign(new Error('boom'), { code: fail.code });
      }
      writes.push({ policy: name, status });
      // The informer brings the write back into the cache.
      const p = cluster.policyList.find((x) => x.metadata.name === name);
      if (p) p.status = structuredClone(status);
    },
    events: recorder,
    metrics: auditMetrics(registry),
    logger: quiet,
    now: () => clock.now,
    batchMs: 1,
    retryMs: 5,
    ...extra,
  });
  return { cluster, audit, writes, events, registry, clock, fail };
}

async function gauge(registry: Registry): Promise<Record<string, number>> {
  const metric = (await registry.getMetricsAsJSON()).find(
    (m) => m.name === 'kubevirt_net_injector_policy_violations',
  );
  const out: Record<string, number> = {};
  for (const v of (metric?.values ?? []) as { labels: Record<string, string>; value: number }[])
    out[`${v.labels.policy}/${v.labels.namespace}`] = v.value;
  return out;
}

const lastWrite = (h: Harness, name: string) =>
  [...h.writes].reverse().find((w) => w.policy === name)?.status;
const condition = (s: PolicyStatus | undefined, type: string) => s?.conditions?.find((c) => c.type === type);

/** tenant-a (team a) may use tenant-a/* only; db breaks it with tenant-b/br-b. */
function tenantSetup(c: FakeCluster) {
  c.namespaceList = [{ name: 'tenant-a', labels: { ...OPTED, team: 'a' }, annotations: {} }];
  c.policyList = [policy('tenant-a', { allowedNetworks: { names: ['tenant-a/*'] } })];
  c.nads = [
    { namespace: 'tenant-a', name: 'br-a', labels: {} },
    { namespace: 'tenant-b', name: 'br-b', labels: {} },
  ];
  c.putVm(vm('tenant-a', 'db', ['tenant-b/br-b']));
  c.putVm(vm('tenant-a', 'web', ['br-a']));
}

describe('controller/audit: existing VMs against the policies', () => {
  it('a VM that breaks the allow list: status, a Warning Event and the gauge', async () => {
    const h = harness(tenantSetup);
    h.audit.lead();
    await h.audit.whenIdle();
    const status = lastWrite(h, 'tenant-a');
    assert.ok(status);
    assert.equal(status.observedGeneration, 1);
    assert.equal(status.matchedNamespaces, 1);
    assert.equal(status.violations, 1);
    assert.equal(status.lastAuditTime, '2026-12-01T10:00:00Z');
    assert.deepEqual(
      status.violatingVMs?.map((v) => `${v.namespace}/${v.name}`),
      ['tenant-a/db'],
    );
    assert.match(status.violatingVMs![0]!.reason, /^NotAllowed at spec\.template\.spec\.networks\[1\]/);
    assert.equal(condition(status, 'Ready')?.status, 'True');
    assert.equal(condition(status, 'NetworksResolved')?.status, 'True');
    assert.deepEqual(
      h.events.map((e) => [e.vm, e.type, e.reason]),
      [['tenant-a/db', 'Warning', VIOLATION_REASON]],
    );
    assert.match(
      h.events[0]!.message,
      /"tenant-a" \(Enforce, NotAllowed\) at spec\.template\.spec\.networks\[1\]/,
    );
    assert.deepEqual(await gauge(h.registry), { 'tenant-a/tenant-a': 1 });
  });

  it('a VM event re-judges that VM only; unchanged findings write nothing and repeat no Event', async () => {
    const h = harness(tenantSetup);
    h.audit.lead();
    await h.audit.whenIdle();
    const before = { writes: h.writes.length, events: h.events.length, list: h.cluster.reads.list };
    const web = h.cluster.vms.get('tenant-a/web')!;
    h.cluster.reads.get = 0;
    h.audit.vmChanged(web);
    h.audit.vmChanged(h.cluster.vms.get('tenant-a/db')!);
    await h.audit.whenIdle();
    assert.equal(h.cluster.reads.list, before.list, 'no list of the VMs');
    assert.equal(h.cluster.reads.get, 2, 'one cache read per VM that changed');
    assert.equal(h.writes.length, before.writes);
    assert.equal(h.events.length, before.events);

    h.cluster.putVm(vm('tenant-a', 'web', ['br-a', 'tenant-b/br-b']));
    h.audit.vmChanged(h.cluster.vms.get('tenant-a/web')!);
    await h.audit.whenIdle();
    assert.equal(lastWrite(h, 'tenant-a')?.violations, 2);
    assert.deepEqual(
      h.events.slice(before.events).map((e) => e.vm),
      ['tenant-a/web'],
    );
    h.cluster.vms.delete('tenant-a/db');
    h.audit.vmChanged(vm('tenant-a', 'db', []));
    await h.audit.whenIdle();
    assert.deepEqual(
      lastWrite(h, 'tenant-a')?.violatingVMs?.map((v) => v.name),
      ['web'],
    );
  });

  it('relabelling the namespace out of the selector clears the violations and the gauge', async () => {
    const h = harness(tenantSetup);
    h.audit.lead();
    await h.audit.whenIdle();
    h.cluster.namespaceList[0]!.labels = { ...OPTED, team: 'b' };
    h.audit.clusterChanged('namespaces');
    await h.audit.whenIdle();
    const status = lastWrite(h, 'tenant-a');
    assert.equal(status?.violations, 0);
    assert.equal(status?.matchedNamespaces, 0);
    assert.deepEqual(status?.violatingVMs, []);
    assert.deepEqual(await gauge(h.registry), {});
  });

  it('a NAD deleted: NetworksResolved False with every missing name; the VM using it violates', async () => {
    const h = harness((c) => {
      tenantSetup(c);
      c.policyList = [
        policy('tenant-a', {
          inject: { network: 'br-a' },
          allowedNetworks: { names: ['tenant-a/*', 'infra/shared', 'infra/gone'] },
          allowCrossNamespace: true,
        }),
      ];
      c.nads.push({ namespace: 'infra', name: 'shared', labels: {} });
      c.vms.delete('tenant-a/db');
    });
    h.audit.lead();
    await h.audit.whenIdle();
    const first = lastWrite(h, 'tenant-a');
    assert.equal(condition(first, 'NetworksResolved')?.status, 'False');
    assert.match(condition(first, 'NetworksResolved')!.message, /not found: infra\/gone$/);
    assert.equal(first?.violations, 0, 'web uses br-a, the injected network');

    h.clock.now = new Date(T0.getTime() + 60_000);
    h.cluster.nads = h.cluster.nads.filter((n) => n.name !== 'br-a');
    h.audit.clusterChanged('nads');
    await h.audit.whenIdle();
    const second = lastWrite(h, 'tenant-a');
    const resolved = condition(second, 'NetworksResolved')!;
    assert.equal(resolved.reason, 'NetworkNotFound');
    assert.match(resolved.message, /not found: infra\/gone, tenant-a\/br-a$/);
    assert.equal(resolved.lastTransitionTime, '2026-12-01T10:00:00Z', 'still False: time kept');
    assert.equal(second?.violations, 1);
    assert.match(second!.violatingVMs![0]!.reason, /^NetworkNotFound/);
  });

  it('a policy event that only changed a status starts no pass; a spec change does', async () => {
    const h = harness(tenantSetup);
    h.audit.lead();
    await h.audit.whenIdle();
    const lists = h.cluster.reads.list;
    h.audit.clusterChanged('policies');
    await h.audit.whenIdle();
    assert.equal(h.cluster.reads.list, lists);
    h.cluster.policyList = [
      policy('tenant-a', { allowedNetworks: { names: ['*/*'] }, allowCrossNamespace: true }, 2),
    ];
    h.audit.clusterChanged('policies');
    await h.audit.whenIdle();
    assert.ok(h.cluster.reads.list > lists);
    const status = lastWrite(h, 'tenant-a');
    assert.equal(status?.violations, 0);
    assert.equal(status?.observedGeneration, 2);
  });

  it('a resync writes every status again (lastAuditTime moves), unchanged or not', async () => {
    const h = harness(tenantSetup);
    h.audit.lead();
    await h.audit.whenIdle();
    const n = h.writes.length;
    h.clock.now = new Date(T0.getTime() + 300_000);
    h.audit.resync();
    await h.audit.whenIdle();
    assert.equal(h.writes.length, n + 1);
    const status = lastWrite(h, 'tenant-a')!;
    assert.equal(status.lastAuditTime, '2026-12-01T10:05:00Z');
    assert.equal(condition(status, 'Ready')?.lastTransitionTime, '2026-12-01T10:00:00Z');
  });

  it('violatingVMs: the first 20 by namespace and name; violations counts them all', async () => {
    const h = harness((c) => {
      tenantSetup(c);
      c.namespaceList.push({ name: 'tenant-0', labels: { ...OPTED, team: 'a' }, annotations: {} });
      for (let i = 0; i < 24; i++) c.putVm(vm(i % 2 ? 'tenant-a' : 'tenant-0', `vm-${i}`, ['tenant-b/br-b']));
    });
    h.audit.lead();
    await h.audit.whenIdle();
    const status = lastWrite(h, 'tenant-a')!;
    assert.equal(status.violations, 25);
    assert.equal(status.violatingVMs?.length, 20);
    const names = status.violatingVMs!.map((v) => `${v.namespace}/${v.name}`);
    assert.deepEqual(names, [...names].sort());
    assert.equal(names[0], 'tenant-0/vm-0');
    assert.deepEqual(await gauge(h.registry), { 'tenant-a/tenant-0': 12, 'tenant-a/tenant-a': 13 });
  });

  it("the network our webhook injected counts as the platform's, unless the VM chose it", async () => {
    const injected = {
      'kubevirt-net-injector.io/status': 'injected',
      'kubevirt-net-injector.io/interface': 'l2',
    };
    const h = harness((c) => {
      tenantSetup(c);
      c.nads.push({ namespace: 'infra', name: 'l2', labels: {} });
      c.vms.clear();
      c.putVm(vm('tenant-a', 'flag', ['infra/l2'], { annotations: injected }));
      c.putVm(
        vm('tenant-a', 'chosen', ['infra/l2'], {
          annotations: { ...injected, 'kubevirt-net-injector.io/network': 'infra/l2' },
        }),
      );
    });
    h.audit.lead();
    await h.audit.whenIdle();
    assert.deepEqual(
      lastWrite(h, 'tenant-a')?.violatingVMs?.map((v) => v.name),
      ['chosen'],
    );
  });

  it('vmSelector and namespace exemptions count; only VMs of opted-in namespaces are judged', async () => {
    const h = harness((c) => {
      tenantSetup(c);
      c.policyList = [
        policy('tenant-a', {
          vmSelector: { matchLabels: { tier: 'db' } },
          allowedNetworks: { names: ['tenant-a/*'] },
        }),
      ];
      c.putVm(vm('tenant-a', 'db', ['tenant-b/br-b'], { labels: { tier: 'db' } }));
      c.putVm(vm('tenant-a', 'cache', ['tenant-b/br-b'], { labels: { tier: 'cache' } }));
      c.putVm(vm('elsewhere', 'db', ['tenant-b/br-b'], { labels: { tier: 'db' } }));
    });
    h.audit.lead();
    await h.audit.whenIdle();
    assert.deepEqual(
      h.audit.violating('tenant-a').map((v) => `${v.namespace}/${v.name}`),
      ['tenant-a/db'],
    );
  });

  it('a failed status write is tried again; a 404 (policy gone) is not', async () => {
    const h = harness(tenantSetup);
    h.fail.times = 2;
    h.fail.code = 500;
    h.audit.lead();
    await h.audit.whenIdle();
    assert.equal(lastWrite(h, 'tenant-a')?.violations, 1);
    const metrics = await h.registry.getSingleMetricAsString(
      'kubevirt_net_injector_policy_status_writes_total',
    );
    assert.match(metrics, /result="error"} 2/);
    assert.match(metrics, /result="ok"} 1/);

    h.fail.times = 1;
    h.fail.code = 404;
    h.cluster.putVm(vm('tenant-a', 'web', ['tenant-b/br-b']));
    h.audit.vmChanged(h.cluster.vms.get('tenant-a/web')!);
    await h.audit.whenIdle();
    assert.equal(lastWrite(h, 'tenant-a')?.violations, 1, 'not written again after the 404');
  });

  it('not leading: nothing judged or written; stepping down resets the gauge', async () => {
    const h = harness(tenantSetup);
    h.audit.vmChanged(h.cluster.vms.get('tenant-a/db')!);
    h.audit.resync();
    await h.audit.whenIdle();
    assert.equal(h.writes.length, 0);
    h.audit.lead();
    await h.audit.whenIdle();
    assert.deepEqual(await gauge(h.registry), { 'tenant-a/tenant-a': 1 });
    h.audit.stepDown();
    assert.deepEqual(await gauge(h.registry), {});
    h.audit.vmChanged(h.cluster.vms.get('tenant-a/db')!);
    await h.audit.whenIdle();
    assert.equal(h.writes.length, 1);
  });

  it('a VM recreated under the same name with the same violation gets a new Event', async () => {
    const h = harness(tenantSetup);
    h.audit.lead();
    await h.audit.whenIdle();
    const again = vm('tenant-a', 'db', ['tenant-b/br-b']);
    again.metadata.uid = 'uid-new';
    h.cluster.putVm(again);
    h.audit.vmChanged(again);
    await h.audit.whenIdle();
    assert.equal(h.events.length, 2);
  });
});
