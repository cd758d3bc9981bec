// NetworkAttachmentPolicies enforced by our webhook behind the real kube-apiserver: the webhook
// runs in cluster mode (informers for namespaces, policies and NADs), registered as the mutating
// webhook and as the shipped validating one (manifests/base/validating-webhook.yaml, its match
// condition included). Every case creates or updates VMs through the apiserver, as a user would.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

import {
  AdmissionregistrationV1Api,
  CustomObjectsApi,
  RbacAuthorizationV1Api,
  type KubeConfig,
} from '@kubernetes/client-node';

import { ApiserverClient, vmPath, type ApiResponse } from '../../bench/apiserver/client.js';
import type { PolicySpec } from '../../src/policy/types.js';
import {
  httpsGet,
  INJECT_LABEL,
  registerValidatingWebhook,
  registerWebhook,
  startWebhookProcess,
  unregisterValidatingWebhook,
  waitFor,
  WEBHOOK_CONFIGURATION_NAME,
  type ControlPlane,
  type WebhookProcess,
} from '../harness/index.js';
import { createNamespace, virtualMachine } from './kube.js';
import { controlPlane } from './setup.js';

const WEBHOOK_PROCESS = 'webhook-policy-test';
const WAIT = { timeoutMs: 30_000, intervalMs: 100 };
const POLICY = {
  group: 'kubevirt-net-injector.io',
  version: 'v1alpha1',
  plural: 'networkattachmentpolicies',
};
const NAD = { group: 'k8s.cni.cncf.io', version: 'v1', plural: 'network-attachment-definitions' };
const suffix = (): string => randomBytes(3).toString('hex');

type Vm = ReturnType<typeof virtualMachine> & {
  metadata: {
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    resourceVersion?: string;
  };
  spec: {
    runStrategy?: string;
    template: {
      spec: Record<string, unknown> & {
        networks?: { name: string; pod?: object; multus?: { networkName: string } }[];
        domain: { devices: { interfaces?: { name: string }[] } };
        volumes?: { name: string; cloudInitNoCloud?: Record<string, string> }[];
      };
    };
  };
};
interface Status {
  message?: string;
}

describe('policies enforced through the real kube-apiserver', function () {
  this.timeout(180_000);
  let cp: ControlPlane;
  let kc: KubeConfig;
  let api: ApiserverClient;
  let hook: WebhookProcess;
  let custom: CustomObjectsApi;
  // Namespaces (unique per run): two tenants and the shared infrastructure.
  let tenantA: string;
  let tenantB: string;
  let infra: string;
  const policies: string[] = [];

  before(async function () {
    this.timeout(240_000);
    cp = await controlPlane();
    kc = cp.kubeConfig();
    api = new ApiserverClient(cp);
    custom = kc.makeApiClient(CustomObjectsApi);
    tenantA = await createNamespace(kc, 'tenant-a', { [INJECT_LABEL]: 'enabled', team: 'a' });
    tenantB = await createNamespace(kc, 'tenant-b', { [INJECT_LABEL]: 'enabled', team: 'b' });
    infra = await createNamespace(kc, 'infra');
    for (const [ns, name, labels] of [
      // The webhook's default network (--network ovs-net-br1) exists in each tenant namespace.
      [tenantA, 'ovs-net-br1', {}],
      [tenantB, 'ovs-net-br1', {}],
      [tenantA, 'br-a', {}],
      [tenantB, 'br-b', {}],
      [infra, 'shared', { tier: 'shared' }],
      [infra, 'mgmt', {}],
    ] as const) {
      await custom.createNamespacedCustomObject({
        ...NAD,
        namespace: ns,
        body: {
          apiVersion: 'k8s.cni.cncf.io/v1',
          kind: 'NetworkAttachmentDefinition',
          metadata: { name, namespace: ns, labels },
          spec: { config: JSON.stringify({ cniVersion: '0.3.1', type: 'ovs', bridge: 'br1' }) },
        },
      });
    }
    hook = await startWebhookProcess({
      ca: cp.ca,
      processes: cp.processes,
      name: WEBHOOK_PROCESS,
      kubeconfigPath: cp.kubeconfigPath,
    });
    await registerWebhook(kc, { url: hook.url, caPem: cp.ca.pem });
    await registerValidatingWebhook(kc, hook.url.replace(/\/mutate$/, '/validate'), cp.ca.pem);
    // Registration reaches the apiserver's admission chain asynchronously: wait for a policy to bite.
    await putPolicy('probe', {
      namespaceSelector: { matchLabels: { team: 'a' } },
      maxSecondaryInterfaces: 0,
    });
    await waitFor(
      'the validating webhook in force',
      async () =>
        (await create(tenantA, withNetworks(tenantA, [`${tenantA}/br-a`]), 'dryRun=All')).status === 403
          ? true
          : undefined,
      WAIT,
    );
    await deletePolicy('probe');
  });

  afterEach(async () => {
    for (const name of policies.splice(0)) await deletePolicy(name);
  });

  after(async () => {
    // The suite shares one control plane: leave no configuration pointing at a stopped webhook.
    await unregisterValidatingWebhook(kc);
    await kc
      .makeApiClient(AdmissionregistrationV1Api)
      .deleteMutatingWebhookConfiguration({ name: WEBHOOK_CONFIGURATION_NAME })
      .catch(() => undefined);
    api?.close();
    await hook?.stop();
  });

  /** Creates or replaces a policy; `track`: delete it after the test (the default). */
  async function putPolicy(name: string, spec: PolicySpec, track = true): Promise<void> {
    const body = {
      apiVersion: 'kubevirt-net-injector.io/v1alpha1',
      kind: 'NetworkAttachmentPolicy',
      metadata: { name },
      spec,
    };
    try {
      const existing = (await custom.getClusterCustomObject({ ...POLICY, name })) as {
        metadata: { resourceVersion: string };
      };
      await custom.replaceClusterCustomObject({
        ...POLICY,
        name,
        body: { ...body, metadata: { name, resourceVersion: existing.metadata.resourceVersion } },
      });
    } catch (err) {
      if ((err as { code?: number }).code !== 404) throw err;
      await custom.createClusterCustomObject({ ...POLICY, body });
      if (track && !policies.includes(name)) policies.push(name);
    }
  }

  async function deletePolicy(name: string): Promise<void> {
    try {
      await custom.deleteClusterCustomObject({ ...POLICY, name });
    } catch (err) {
      if ((err as { code?: number }).code !== 404) throw err;
    }
  }

  function create(ns: string, vm: Vm, query?: string, as?: string): Promise<ApiResponse<Vm & Status>> {
    return api.request<Vm & Status>(
      'POST',
      vmPath(ns, undefined, query),
      vm,
      as ? { 'Impersonate-User': as } : {},
    );
  }

  function update(ns: string, vm: Vm): Promise<ApiResponse<Vm & Status>> {
    return api.request<Vm & Status>('PUT', vmPath(ns, vm.metadata.name), vm);
  }

  /** A VM with the pod network and these Multus networks (`l2-<i>`), its own cloud-init user data. */
  function withNetworks(ns: string, refs: string[], name = `vm-${suffix()}`): Vm {
    const vm = virtualMachine(ns, name, {
      networks: [
        { name: 'default', pod: {} },
        ...refs.map((networkName, i) => ({ name: `net-${i}`, multus: { networkName } })),
      ],
      volumes: [{ name: 'cloudinitdisk', cloudInitNoCloud: { userData: '#cloud-config\nhostname: test\n' } }],
    }) as Vm;
    vm.spec.template.spec.domain.devices = {
      interfaces: [
        { name: 'default', masquerade: {} },
        ...refs.map((_, i) => ({ name: `net-${i}`, bridge: {} })),
      ],
      disks: [{ name: 'cloudinitdisk', disk: { bus: 'virtio' } }],
    } as never;
    return vm;
  }

  /** Until `check` holds for a dry-run create of `vm` (the webhook's caches follow the change). */
  /** The last answer `until` saw, for its failure message. */
  let lastSeen = '';
  async function until(
    what: string,
    vm: Vm,
    ns: string,
    check: (r: ApiResponse<Vm & Status>) => boolean,
  ): Promise<number> {
    const start = performance.now();
    try {
      await waitFor(
        what,
        async () => {
          const r = await create(ns, vm, 'dryRun=All');
          lastSeen = `${r.status} ${r.body.message ?? ''} warnings: ${r.warnings.join(' | ')}`;
          return check(r) ? true : undefined;
        },
        WAIT,
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}; last answer: ${lastSeen}`);
    }
    return performance.now() - start;
  }

  const webhookMetrics = async () =>
    (await httpsGet(hook.url.replace(/\/mutate$/, '/metrics'), { ca: cp.ca.pem })).body;

  it('Enforce: a network outside the allow list is denied with the policy, field, network and fix', async () => {
    await putPolicy('tenant-a', {
      namespaceSelector: { matchLabels: { team: 'a' } },
      allowedNetworks: { names: [`${tenantA}/*`] },
    });
    const outside = withNetworks(tenantA, [`${tenantB}/br-b`]);
    await until('the policy in force', outside, tenantA, (r) => r.status === 403);
    const res = await create(tenantA, outside);
    assert.equal(res.status, 403, JSON.stringify(res.body));
    const message = res.body.message ?? '';
    assert.match(message, /admission webhook "policy\.vm\.kubevirt-net-injector\.io" denied the request/);
    assert.match(message, /NetworkAttachmentPolicy "tenant-a" \(Enforce, NotAllowed\)/);
    assert.match(message, /at spec\.template\.spec\.networks\[1\]\.multus\.networkName/);
    assert.ok(
      message.includes(`network ${tenantB}/br-b is not allowed here (allowed: ${tenantA}/*)`),
      message,
    );
    assert.match(message, /fix: use an allowed network/);
    // The allowed one goes through, and is stored.
    const inside = await create(tenantA, withNetworks(tenantA, [`${tenantA}/br-a`]));
    assert.equal(inside.status, 201, JSON.stringify(inside.body));
  });

  it("a policy's inject puts its own network into VMs in its namespaces", async () => {
    await putPolicy('tenant-a-inject', {
      namespaceSelector: { matchLabels: { team: 'a' } },
      inject: { network: `${tenantA}/br-a`, interfaceName: 'lan' },
      allowedNetworks: { names: [`${tenantA}/*`] },
    });
    const plain = virtualMachine(tenantA, `plain-${suffix()}`) as Vm;
    await until(
      'the inject in force',
      plain,
      tenantA,
      (r) => r.status === 201 && (r.body.spec.template.spec.networks ?? []).some((n) => n.name === 'lan'),
    );
    const res = await create(tenantA, plain);
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const networks = res.body.spec.template.spec.networks ?? [];
    assert.deepEqual(networks.find((n) => n.name === 'lan')?.multus, { networkName: `${tenantA}/br-a` });
    assert.equal(res.body.metadata.annotations?.['kubevirt-net-injector.io/interface'], 'lan');
  });

  it('Warn returns admission warnings, Audit only counts; the change takes effect without a restart', async () => {
    const outside = withNetworks(tenantA, [`${infra}/mgmt`]);
    const spec = (mode: 'Warn' | 'Audit'): PolicySpec => ({
      namespaceSelector: { matchLabels: { team: 'a' } },
      allowedNetworks: { names: [`${tenantA}/*`] },
      mode,
    });
    await putPolicy('tenant-a-modes', spec('Warn'));
    const warnAfter = await until(
      'Warn in force',
      outside,
      tenantA,
      (r) => r.status === 201 && r.warnings.length > 0,
    );
    const warned = await create(tenantA, outside);
    assert.equal(warned.status, 201);
    assert.ok(
      warned.warnings.some(
        (w) => w.includes('"tenant-a-modes" (Warn, NotAllowed)') && w.includes(`${infra}/mgmt`),
      ),
      warned.warnings.join('\n'),
    );
    await putPolicy('tenant-a-modes', spec('Audit'));
    const auditAfter = await until(
      'Audit in force',
      withNetworks(tenantA, [`${infra}/mgmt`]),
      tenantA,
      (r) => r.status === 201 && r.warnings.length === 0,
    );
    const audited = await create(tenantA, withNetworks(tenantA, [`${infra}/mgmt`]));
    assert.equal(audited.status, 201);
    assert.deepEqual(audited.warnings, []);
    assert.match(
      await webhookMetrics(),
      /kubevirt_net_injector_policy_decisions_total\{policy="tenant-a-modes",mode="Audit",result="audited"\} [1-9]/,
    );
    assert.match(
      await webhookMetrics(),
      /kubevirt_net_injector_policy_decisions_total\{policy="tenant-a-modes",mode="Warn",result="warned"\} [1-9]/,
    );
    // Reported, not asserted: how long the webhook took to follow each policy change.
    console.log(
      `      policy change to effect: ${Math.round(warnAfter)} ms (new policy), ${Math.round(auditAfter)} ms (mode change)`,
    );
  });

  it('overlapping policies: allow lists add up; a network neither allows is denied by both', async () => {
    await putPolicy('shared-infra', {
      namespaceSelector: {},
      allowedNetworks: { names: [`${infra}/shared`] },
      allowCrossNamespace: true,
    });
    await putPolicy('tenant-a', {
      namespaceSelector: { matchLabels: { team: 'a' } },
      allowedNetworks: { names: [`${tenantA}/*`] },
    });
    const both = withNetworks(tenantA, [`${tenantA}/br-a`, `${infra}/shared`]);
    await until(
      'both policies in force',
      withNetworks(tenantA, [`${infra}/mgmt`]),
      tenantA,
      (r) =>
        r.status === 403 &&
        (r.body.message ?? '').includes('shared-infra') &&
        (r.body.message ?? '').includes('"tenant-a"'),
    );
    assert.equal((await create(tenantA, both)).status, 201);
    const neither = await create(tenantA, withNetworks(tenantA, [`${infra}/mgmt`]));
    assert.equal(neither.status, 403);
    assert.match(neither.body.message ?? '', /"shared-infra" \(Enforce, NotAllowed\)/);
    assert.match(
      neither.body.message ?? '',
      /"tenant-a" \(Enforce, CrossNamespace\)|"tenant-a" \(Enforce, NotAllowed\)/,
    );
    // tenant-b is only under shared-infra: its own network is not on that list.
    const b = await create(tenantB, withNetworks(tenantB, [`${tenantB}/br-b`]));
    assert.equal(b.status, 403, 'shared-infra alone allows only the shared network');
  });

  it('a NetworkAttachmentDefinition that does not exist is denied at admission', async () => {
    await putPolicy('tenant-a', {
      namespaceSelector: { matchLabels: { team: 'a' } },
      allowedNetworks: { names: [`${tenantA}/*`] },
    });
    const missing = withNetworks(tenantA, [`${tenantA}/no-such-nad`]);
    await until('the policy in force', missing, tenantA, (r) => r.status === 403);
    const res = await create(tenantA, missing);
    assert.equal(res.status, 403);
    assert.ok(
      (res.body.message ?? '').includes(`NetworkAttachmentDefinition ${tenantA}/no-such-nad does not exist`),
      res.body.message,
    );
  });

  describe('updates', () => {
    let stored: Vm;
    // Not deleted after each test, as the others are: these tests share it.
    let updates: PolicySpec;
    before(async () => {
      updates = {
        namespaceSelector: { matchLabels: { team: 'a' } },
        allowedNetworks: { names: [`${tenantA}/*`] },
      };
      // Created while the policy only audits: it keeps a violation (infra/mgmt) from the start.
      await putPolicy('tenant-a-updates', { ...updates, mode: 'Audit' }, false);
      const vm = withNetworks(tenantA, [`${infra}/mgmt`]);
      await until('Audit in force', vm, tenantA, (r) => r.status === 201);
      const res = await create(tenantA, vm);
      assert.equal(res.status, 201, JSON.stringify(res.body));
      stored = res.body;
      assert.equal(stored.metadata.annotations?.['kubevirt-net-injector.io/status'], 'injected');
      await putPolicy('tenant-a-updates', { ...updates, mode: 'Enforce' }, false);
      await until(
        'Enforce in force',
        withNetworks(tenantA, [`${infra}/mgmt`]),
        tenantA,
        (r) => r.status === 403,
      );
    });
    after(() => deletePolicy('tenant-a-updates'));

    const reviewsOf = (name: string) =>
      readFileSync(join(cp.processes.stateDir, `${WEBHOOK_PROCESS}.log`), 'utf8')
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { webhook?: string; name?: string; operation?: string })
        .filter((l) => l.webhook === 'validate' && l.name === name && l.operation === 'UPDATE');

    async function fresh(): Promise<Vm> {
      const res = await api.request<Vm>('GET', vmPath(tenantA, stored.metadata.name));
      return res.body;
    }

    it('an update that leaves the template alone is never denied, and never reaches the webhook', async () => {
      const before = reviewsOf(stored.metadata.name).length;
      const relabelled = await fresh();
      relabelled.metadata.labels = { ...relabelled.metadata.labels, stopped: 'yes' };
      relabelled.spec.runStrategy = 'Always';
      const res = await update(tenantA, relabelled);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(
        reviewsOf(stored.metadata.name).length,
        before,
        'the match condition kept it from the webhook',
      );
    });

    it('an update that changes the template without touching networks is allowed despite the old violation', async () => {
      const vm = await fresh();
      (vm.spec.template.spec.domain as Record<string, unknown>).cpu = { cores: 2 };
      const res = await update(tenantA, vm);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      // The log reaches its file through a pipe, a moment after the answer.
      await waitFor(
        'its review in the log',
        async () => (reviewsOf(stored.metadata.name).length > 0 ? true : undefined),
        WAIT,
      );
    });

    it('an update that adds a Multus network by hand is denied', async () => {
      const vm = await fresh();
      vm.spec.template.spec.networks!.push({ name: 'extra', multus: { networkName: `${infra}/shared` } });
      vm.spec.template.spec.domain.devices.interfaces!.push({ name: 'extra', bridge: {} } as {
        name: string;
      });
      const res = await update(tenantA, vm);
      assert.equal(res.status, 403);
      assert.match(res.body.message ?? '', /spec\.template\.spec\.networks\[3\]\.multus\.networkName/);
    });

    it('an update that removes the injected network, or the guest fix, is denied', async () => {
      const vm = await fresh();
      const injected = vm.metadata.annotations?.['kubevirt-net-injector.io/interface'];
      assert.ok(injected);
      vm.spec.template.spec.networks = vm.spec.template.spec.networks!.filter((n) => n.name !== injected);
      vm.spec.template.spec.domain.devices.interfaces =
        vm.spec.template.spec.domain.devices.interfaces!.filter((i) => i.name !== injected);
      const removed = await update(tenantA, vm);
      assert.equal(removed.status, 403);
      assert.match(removed.body.message ?? '', /InjectedRemoved/);

      const unfixed = await fresh();
      const source = unfixed.spec.template.spec.volumes!.find((v) => v.cloudInitNoCloud)!.cloudInitNoCloud!;
      delete source.userDataBase64;
      source.userData = '#cloud-config\nhostname: test\n';
      const res = await update(tenantA, unfixed);
      assert.equal(res.status, 403);
      assert.match(res.body.message ?? '', /GuestFixRemoved/);
    });
  });

  it('requireUsePermission: a user allowed "use" on the NAD may attach it, one without may not', async () => {
    const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
    const role = `nad-use-${suffix()}`;
    await rbac.createNamespacedRole({
      namespace: infra,
      body: {
        metadata: { name: role },
        rules: [
          {
            apiGroups: ['k8s.cni.cncf.io'],
            resources: ['network-attachment-definitions'],
            resourceNames: ['shared'],
            verbs: ['use'],
          },
        ],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: infra,
      body: {
        metadata: { name: role },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'alice' }],
      },
    });
    const vmRole = `vm-edit-${suffix()}`;
    await rbac.createNamespacedRole({
      namespace: tenantB,
      body: {
        metadata: { name: vmRole },
        rules: [{ apiGroups: ['kubevirt.io'], resources: ['virtualmachines'], verbs: ['create', 'get'] }],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: tenantB,
      body: {
        metadata: { name: vmRole },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: vmRole },
        subjects: ['alice', 'bob'].map((name) => ({
          apiGroup: 'rbac.authorization.k8s.io',
          kind: 'User',
          name,
        })),
      },
    });
    await putPolicy('tenant-b-use', {
      namespaceSelector: { matchLabels: { team: 'b' } },
      allowedNetworks: { names: [`${infra}/*`, `${tenantB}/*`] },
      allowCrossNamespace: true,
      requireUsePermission: true,
    });
    const vm = () => withNetworks(tenantB, [`${infra}/shared`]);
    await waitFor(
      'the policy in force for bob',
      async () => ((await create(tenantB, vm(), 'dryRun=All', 'bob')).status === 403 ? true : undefined),
      WAIT,
    );
    const alice = await create(tenantB, vm(), undefined, 'alice');
    assert.equal(alice.status, 201, JSON.stringify(alice.body));
    const bob = await create(tenantB, vm(), undefined, 'bob');
    assert.equal(bob.status, 403);
    assert.match(bob.body.message ?? '', /NoUsePermission/);
    assert.ok(
      (bob.body.message ?? '').includes(`bob may not use NetworkAttachmentDefinition ${infra}/shared`),
      bob.body.message,
    );
    assert.match(
      bob.body.message ?? '',
      /ask for the verb "use" on network-attachment-definitions\.k8s\.cni\.cncf\.io shared/,
    );
  });
});
