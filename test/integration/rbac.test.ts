// The RBAC we ship (manifests/base, components/legacy-endpoints), proven sufficient and minimal
// on the real apiserver. Namespace, ServiceAccounts and roles are applied from the rendered
// manifests; the controller and the webhook then run under their ServiceAccount's own token
// (TokenRequest), never the admin's:
//   - sufficient: the controller publishes, updates and removes Services, EndpointSlices (and,
//     with the component, Endpoints), meets objects it does not own (a 409, a read back, an
//     Event), holds its Lease, and audits a NetworkAttachmentPolicy (its Namespace, policy and
//     NAD informers, the policy's status, a PolicyViolation Event); the webhook's Namespace,
//     policy and NAD caches sync, a VM is injected and a policy's use check is asked (a
//     SubjectAccessReview). The apiserver's audit log shows not one request of theirs refused;
//   - minimal: every verb on every resource the roles grant appears in that audit log as an
//     allowed request, so no grant goes unused;
//   - refused: with the same tokens, reading Secrets and writing VMs answer 403; the controller
//     may not change a policy's spec or a NAD, the webhook may not write a policy's status.
import assert from 'node:assert/strict';
import { request } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';

import {
  AdmissionregistrationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  DiscoveryV1Api,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
} from '@kubernetes/client-node';
import { Registry } from 'prom-client';

import {
  startController,
  type ControllerSettings,
  type RunningController,
} from '../../src/controller/controller.js';
import { createLogger } from '../../src/telemetry/logger.js';
import {
  httpsGet,
  registerValidatingWebhook,
  registerWebhook,
  startWebhookProcess,
  unregisterValidatingWebhook,
  waitFor,
  WEBHOOK_CONFIGURATION_NAME,
  type ControlPlane,
  type WebhookProcess,
} from '../harness/index.js';
import {
  applyRbac,
  CONTROLLER_LEASE,
  CONTROLLER_SA,
  INSTALL_NAMESPACE,
  render,
  renderWith,
  serviceAccountCredentials,
  WEBHOOK_SA,
  type Manifest,
  type ServiceAccountCredentials,
} from '../harness/install.js';
import {
  covers,
  describeGrant,
  describeRecord,
  grantsOf,
  readAudit,
  type Grant,
} from '../harness/rbac-audit.js';
import { KubeVirtSimulator } from '../sim/kubevirt.js';
import { seedVm } from '../sim/vms.js';
import { createNamespace, virtualMachine, VM } from './kube.js';
import { controlPlane } from './setup.js';

const PROBE_AGENT = 'kni-rbac-probe';
const POLICY = {
  group: 'kubevirt-net-injector.io',
  version: 'v1alpha1',
  plural: 'networkattachmentpolicies',
};
const POLICY_PATH = '/apis/kubevirt-net-injector.io/v1alpha1/networkattachmentpolicies';
const user = (sa: string) => `system:serviceaccount:${INSTALL_NAMESPACE}:${sa}`;

const ADDRESSES: Record<string, string[]> = {
  pub: ['192.168.130.10'],
  clash: ['192.168.130.11'],
  slc: ['192.168.130.12'],
  leg: ['192.168.130.13'],
};

function settings(legacyEndpoints: boolean): ControllerSettings {
  return {
    graceMs: 300,
    legacyEndpoints,
    workers: 2,
    resyncMs: 60_000,
    watchSilenceMs: 15_000,
    relistMs: 0,
    leaderElection: {
      enabled: true,
      namespace: INSTALL_NAMESPACE,
      name: CONTROLLER_LEASE,
      leaseDurationMs: 4000,
      renewDeadlineMs: 3000,
      retryPeriodMs: 500,
    },
    identity: 'rbac-test',
  };
}

/** One request with a bearer token, outside client-node, marked so the audit check can tell it. */
function asToken(
  cp: ControlPlane,
  token: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const url = new URL(path, cp.server);
    const req = request(
      url,
      {
        method,
        ca: cp.caPem,
        headers: {
          authorization: `Bearer ${token}`,
          'user-agent': PROBE_AGENT,
          'content-type': method === 'PATCH' ? 'application/merge-patch+json' : 'application/json',
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

describe('RBAC as shipped, under the ServiceAccounts’ own tokens', function () {
  this.timeout(180_000);
  let cp: ControlPlane;
  let admin: KubeConfig;
  let base: Manifest[];
  let legacy: Manifest[];
  let controllerCreds: ServiceAccountCredentials;
  let webhookCreds: ServiceAccountCredentials;
  let ns: string;
  let sim: KubeVirtSimulator;
  let controller: RunningController | undefined;
  let hook: WebhookProcess | undefined;

  const core = () => admin.makeApiClient(CoreV1Api);
  const discovery = () => admin.makeApiClient(DiscoveryV1Api);
  const custom = () => admin.makeApiClient(CustomObjectsApi);
  const startAs = async (legacyEndpoints: boolean) => {
    controller = await startController({
      kubeConfig: controllerCreds.kubeConfig,
      logger: createLogger({ level: process.env.CONTROLLER_LOG ?? 'silent', name: 'rbac' }),
      registry: new Registry(),
      settings: settings(legacyEndpoints),
    });
    await controller.synced;
    await waitFor('the controller leads', async () => (controller?.isLeader() ? true : undefined), {
      timeoutMs: 20_000,
    });
  };
  const stopController = async () => {
    await controller?.stop();
    controller = undefined;
  };
  const createVm = (name: string, annotations: Record<string, string>) =>
    custom().createNamespacedCustomObject({ ...VM, namespace: ns, body: seedVm(name, ns, annotations) });
  const annotateVm = (name: string, annotations: Record<string, string | null>) =>
    custom().patchNamespacedCustomObject(
      { ...VM, namespace: ns, name, body: { metadata: { annotations } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
  const readOr404 = async <T>(read: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await read();
    } catch (err) {
      if ((err as { code?: number }).code === 404) return undefined;
      throw err;
    }
  };
  const sliceAddresses = async (name: string) =>
    (await readOr404(() => discovery().readNamespacedEndpointSlice({ namespace: ns, name })))?.endpoints
      .filter((e) => e.conditions?.ready)
      .flatMap((e) => e.addresses)
      .join(',');
  const eventReasons = async (vm: string) =>
    (
      await core().listNamespacedEvent({ namespace: ns, fieldSelector: `involvedObject.name=${vm}` })
    ).items.map((e) => e.reason);

  before(async () => {
    cp = await controlPlane();
    assert.ok(cp.auditLogPath, 'the integration control plane writes an audit log');
    admin = cp.kubeConfig();
    base = await render('manifests/base');
    legacy = await renderWith(['legacy-endpoints']);
    await applyRbac(cp.kubeconfigPath, base);
    controllerCreds = await serviceAccountCredentials(admin, cp.server, cp.caPem, CONTROLLER_SA);
    webhookCreds = await serviceAccountCredentials(admin, cp.server, cp.caPem, WEBHOOK_SA);
    ns = await createNamespace(admin, 'rbac', { 'kubevirt-net-injector.io/inject': 'enabled' });
    sim = new KubeVirtSimulator(admin, {
      namespace: ns,
      addressFor: (vm, network) => (network === 'l2' ? ADDRESSES[vm.metadata.name ?? ''] : undefined),
    });
    await sim.start();
  });

  after(async () => {
    await stopController();
    await custom()
      .deleteClusterCustomObject({ ...POLICY, name: `rbac-${ns}` })
      .catch(() => undefined);
    await sim?.stop();
    await hook?.stop();
    await admin
      ?.makeApiClient(AdmissionregistrationV1Api)
      .deleteMutatingWebhookConfiguration({ name: WEBHOOK_CONFIGURATION_NAME })
      .catch(() => undefined);
  });

  it('ships no wildcard and no Secret access', () => {
    const all = [
      ...grantsOf(legacy, INSTALL_NAMESPACE, CONTROLLER_SA),
      ...grantsOf(base, INSTALL_NAMESPACE, WEBHOOK_SA),
    ];
    assert.ok(all.length > 0);
    for (const g of all) {
      assert.ok(![g.group, g.resource, g.verb].includes('*'), `wildcard in ${describeGrant(g)}`);
      assert.notEqual(g.resource, 'secrets', describeGrant(g));
    }
  });

  it('the controller publishes, updates, removes and meets foreign objects as its ServiceAccount', async () => {
    // Objects of the same names that are not ours: the create meets them (409), reads them back.
    await core().createNamespacedService({
      namespace: ns,
      body: { metadata: { name: 'taken' }, spec: { clusterIP: 'None', ports: [{ name: 'web', port: 80 }] } },
    });
    await discovery().createNamespacedEndpointSlice({
      namespace: ns,
      body: {
        metadata: {
          name: 'slc-ipv4',
          labels: {
            'kubernetes.io/service-name': 'slc',
            'endpointslice.kubernetes.io/managed-by': 'someone-else',
          },
        },
        addressType: 'IPv4',
        endpoints: [],
      },
    });
    await startAs(false);
    await createVm('pub', { 'kubevirt-net-injector.io/service-ports': 'web:80' });
    await createVm('clash', {
      'kubevirt-net-injector.io/service-name': 'taken',
      'kubevirt-net-injector.io/service-ports': 'web:80',
    });
    await createVm('slc', { 'kubevirt-net-injector.io/service-ports': 'web:80' });

    await waitFor('slice pub-ipv4 ready', async () =>
      (await sliceAddresses('pub-ipv4')) === '192.168.130.10' ? true : undefined,
    );
    await waitFor('ServiceConflict event for clash', async () =>
      (await eventReasons('clash')).includes('ServiceConflict') ? true : undefined,
    );
    await waitFor('EndpointSliceConflict event for slc', async () =>
      (await eventReasons('slc')).includes('EndpointSliceConflict') ? true : undefined,
    );
    const taken = await core().readNamespacedService({ namespace: ns, name: 'taken' });
    assert.equal(taken.metadata?.labels, undefined, "the user's Service is left as it was");

    await sim.setAddresses(ns, 'pub', 'l2', ['192.168.130.20']);
    await waitFor('slice pub-ipv4 updated', async () =>
      (await sliceAddresses('pub-ipv4')) === '192.168.130.20' ? true : undefined,
    );
    await annotateVm('pub', { 'kubevirt-net-injector.io/service-ports': 'web:8080' });
    await waitFor('Service pub updated to port 8080', async () => {
      const svc = await core().readNamespacedService({ namespace: ns, name: 'pub' });
      return svc.spec?.ports?.[0]?.port === 8080 ? true : undefined;
    });
    await annotateVm('pub', { 'kubevirt-net-injector.io/service-ports': null });
    await waitFor('Service pub and slice pub-ipv4 removed', async () =>
      !(await readOr404(() => core().readNamespacedService({ namespace: ns, name: 'pub' }))) &&
      !(await readOr404(() => discovery().readNamespacedEndpointSlice({ namespace: ns, name: 'pub-ipv4' })))
        ? true
        : undefined,
    );
    await stopController();
  });

  it('the controller audits a policy as its ServiceAccount: status written, the VM warned', async () => {
    // The seed VMs here were injected with ovs-net-br1, which no NAD backs: each one violates.
    await custom().createClusterCustomObject({
      ...POLICY,
      body: {
        apiVersion: 'kubevirt-net-injector.io/v1alpha1',
        kind: 'NetworkAttachmentPolicy',
        metadata: { name: `rbac-${ns}` },
        spec: {
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } },
          allowedNetworks: { names: [`${ns}/*`] },
          mode: 'Audit',
        },
      },
    });
    await createVm('audited', {});
    await startAs(false);
    const status = await waitFor('the policy status written by the controller', async () => {
      const p = (await custom().getClusterCustomObject({ ...POLICY, name: `rbac-${ns}` })) as {
        status?: { violations?: number; violatingVMs?: { name: string }[] };
      };
      return p.status?.violatingVMs?.some((v) => v.name === 'audited') ? p.status : undefined;
    });
    assert.ok((status.violations ?? 0) >= 1);
    await waitFor('PolicyViolation event for audited', async () =>
      (await eventReasons('audited')).includes('PolicyViolation') ? true : undefined,
    );
    await stopController();
  });

  it('with components/legacy-endpoints, the controller also writes Endpoints', async () => {
    await applyRbac(cp.kubeconfigPath, legacy);
    // The new binding reaches the authorizer's cache shortly after it is stored.
    await waitFor('the Endpoints rule in effect', async () =>
      (await asToken(cp, controllerCreds.token, 'GET', `/api/v1/namespaces/${ns}/endpoints/none`)) === 404
        ? true
        : undefined,
    );
    await startAs(true);
    await createVm('leg', { 'kubevirt-net-injector.io/service-ports': 'web:80' });
    const endpointsIps = async () =>
      (await readOr404(() => core().readNamespacedEndpoints({ namespace: ns, name: 'leg' })))?.subsets
        ?.flatMap((s) => s.addresses ?? [])
        .map((a) => a.ip)
        .join(',');
    await waitFor('Endpoints leg', async () =>
      (await endpointsIps()) === '192.168.130.13' ? true : undefined,
    );
    await sim.setAddresses(ns, 'leg', 'l2', ['192.168.130.23']);
    await waitFor('Endpoints leg updated', async () =>
      (await endpointsIps()) === '192.168.130.23' ? true : undefined,
    );
    await annotateVm('leg', { 'kubevirt-net-injector.io/service-ports': null });
    await waitFor('Endpoints leg deleted', async () =>
      (await readOr404(() => core().readNamespacedEndpoints({ namespace: ns, name: 'leg' }))) === undefined
        ? true
        : undefined,
    );
    await stopController();
  });

  it("the webhook's Namespace informer syncs as its ServiceAccount, and a VM is injected", async () => {
    hook = await startWebhookProcess({
      ca: cp.ca,
      processes: cp.processes,
      name: 'webhook-rbac',
      kubeconfigPath: webhookCreds.kubeconfigPath,
    });
    await waitFor('webhook /readyz (Namespace cache synced)', async () => {
      const res = await fetchReadyz(hook!.url, cp.caPem);
      return res === 200 ? true : undefined;
    });
    await registerWebhook(admin, { url: hook.url, caPem: cp.caPem });
    const injected = await waitFor(
      'a VM created in the opted-in namespace is injected',
      async () => {
        const name = `inj-${Date.now().toString(36)}`;
        const created = (await custom().createNamespacedCustomObject({
          ...VM,
          namespace: ns,
          body: virtualMachine(ns, name),
        })) as { metadata: { annotations?: Record<string, string> } };
        return created.metadata.annotations?.['kubevirt-net-injector.io/status'] === 'injected'
          ? created
          : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 500 },
    );
    assert.equal(injected.metadata.annotations?.['kubevirt-net-injector.io/interface'], 'l2');
  });

  it("the webhook's policy and NAD caches sync as its ServiceAccount, and it asks use checks", async () => {
    // A policy for this namespace only, asking for the use check, and a NAD a VM attaches: the
    // webhook (as its ServiceAccount) lists and watches both, and creates a SubjectAccessReview.
    const policy = `rbac-use-${Date.now().toString(36)}`;
    // rbac-net for the VM to attach; ovs-net-br1, the network the webhook injects by default.
    for (const name of ['rbac-net', 'ovs-net-br1']) {
      await custom().createNamespacedCustomObject({
        group: 'k8s.cni.cncf.io',
        version: 'v1',
        plural: 'network-attachment-definitions',
        namespace: ns,
        body: {
          apiVersion: 'k8s.cni.cncf.io/v1',
          kind: 'NetworkAttachmentDefinition',
          metadata: { name, namespace: ns },
          spec: { config: '{"cniVersion":"0.3.1","type":"ovs","bridge":"br1"}' },
        },
      });
    }
    await custom().createClusterCustomObject({
      group: 'kubevirt-net-injector.io',
      version: 'v1alpha1',
      plural: 'networkattachmentpolicies',
      body: {
        apiVersion: 'kubevirt-net-injector.io/v1alpha1',
        kind: 'NetworkAttachmentPolicy',
        metadata: { name: policy },
        spec: {
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } },
          requireUsePermission: true,
        },
      },
    });
    await registerValidatingWebhook(admin, hook!.url.replace(/\/mutate$/, '/validate'), cp.caPem);
    try {
      const reviewed = await waitFor(
        'a VM attaching the NAD passes the use check',
        async () => {
          const name = `use-${Date.now().toString(36)}`;
          const body = virtualMachine(ns, name, {
            networks: [
              { name: 'default', pod: {} },
              { name: 'extra', multus: { networkName: 'rbac-net' } },
            ],
          }) as { spec: { template: { spec: { domain: { devices: Record<string, unknown> } } } } };
          body.spec.template.spec.domain.devices.interfaces = [
            { name: 'default', masquerade: {} },
            { name: 'extra', bridge: {} },
          ];
          await custom().createNamespacedCustomObject({ ...VM, namespace: ns, body });
          // The admin may use every NAD: allowed. Done once the webhook asked (audit log below).
          return readAudit(cp.auditLogPath!, user(WEBHOOK_SA)).some(
            (r) => r.resource === 'subjectaccessreviews',
          )
            ? true
            : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 500 },
      );
      assert.equal(reviewed, true);
    } finally {
      await unregisterValidatingWebhook(admin);
      await custom().deleteClusterCustomObject({
        group: 'kubevirt-net-injector.io',
        version: 'v1alpha1',
        plural: 'networkattachmentpolicies',
        name: policy,
      });
    }
  });

  it('refuses both ServiceAccounts Secrets and VM writes', async () => {
    const vm = seedVm('forbidden', ns);
    for (const creds of [controllerCreds, webhookCreds]) {
      const t = creds.token;
      assert.equal(await asToken(cp, t, 'GET', `/api/v1/namespaces/${ns}/secrets`), 403, 'list Secrets');
      assert.equal(await asToken(cp, t, 'GET', '/api/v1/secrets'), 403, 'list Secrets cluster-wide');
      assert.equal(await asToken(cp, t, 'GET', `/api/v1/namespaces/${ns}/secrets/any`), 403, 'get a Secret');
      const vms = `/apis/kubevirt.io/v1/namespaces/${ns}/virtualmachines`;
      assert.equal(await asToken(cp, t, 'POST', vms, vm), 403, 'create a VM');
      assert.equal(await asToken(cp, t, 'PATCH', `${vms}/slc`, { metadata: { labels: { x: 'y' } } }), 403);
      assert.equal(await asToken(cp, t, 'DELETE', `${vms}/slc`), 403, 'delete a VM');
    }
    // Policies and NADs: the controller reads them and writes a policy's status, nothing more.
    const ct = controllerCreds.token;
    const policy = `${POLICY_PATH}/rbac-${ns}`;
    const nad = `/apis/k8s.cni.cncf.io/v1/namespaces/${ns}/network-attachment-definitions/x`;
    assert.equal(await asToken(cp, ct, 'PATCH', policy, { spec: { mode: 'Enforce' } }), 403, 'patch a spec');
    assert.equal(await asToken(cp, ct, 'DELETE', policy), 403, 'delete a policy');
    assert.equal(await asToken(cp, ct, 'POST', POLICY_PATH, { metadata: { name: 'x' } }), 403);
    assert.equal(await asToken(cp, ct, 'PUT', `${policy}/status`, {}), 403, 'replace a status');
    assert.equal(await asToken(cp, ct, 'DELETE', nad), 403, 'delete a NAD');
    // The webhook reads Namespaces, policies and NADs only: not even VMs.
    const wt = webhookCreds.token;
    assert.equal(await asToken(cp, wt, 'PATCH', `${policy}/status`, { status: {} }), 403, 'webhook: status');
    assert.equal(await asToken(cp, wt, 'GET', `/apis/kubevirt.io/v1/namespaces/${ns}/virtualmachines`), 403);
    assert.equal(await asToken(cp, wt, 'GET', `/api/v1/namespaces/${ns}/services`), 403);
  });

  // Grants kept although this test cannot make the code use them, each with the reason. Any
  // other unused grant fails the test.
  const NOT_REACHED: { grant: string; why: string }[] = [
    {
      grant: 'delete core/endpoints (ClusterRole/kubevirt-net-injector-controller-legacy-endpoints)',
      why:
        'kube-apiserver deletes a Service’s Endpoints with the Service (seen here: the controller ' +
        'found none left to delete); the controller deletes a stray one of its own only if that failed',
    },
  ];

  it('audit log: nothing they asked for was refused, and every grant was used', async () => {
    await sleep(500); // the last requests' ResponseComplete lines
    const check = (sa: string, grants: Grant[]) => {
      const records = readAudit(cp.auditLogPath!, user(sa)).filter((r) => r.userAgent !== PROBE_AGENT);
      assert.ok(records.length > 0, `no audit records for ${sa}`);
      const refused = records.filter((r) => r.decision !== 'allow');
      assert.deepEqual(refused.map(describeRecord), [], `${sa}: requests refused`);
      const unused = grants
        .filter((g) => !records.some((r) => covers(g, r)))
        .map(describeGrant)
        .filter((g) => !NOT_REACHED.some((n) => n.grant === g));
      assert.deepEqual(unused, [], `${sa}: granted but never used`);
      return records.length;
    };
    const controllerGrants = grantsOf(legacy, INSTALL_NAMESPACE, CONTROLLER_SA);
    for (const n of NOT_REACHED)
      assert.ok(controllerGrants.map(describeGrant).includes(n.grant), `stale exception: ${n.grant}`);
    const c = check(CONTROLLER_SA, controllerGrants);
    const w = check(WEBHOOK_SA, grantsOf(base, INSTALL_NAMESPACE, WEBHOOK_SA));
    console.log(`    audit: ${c} controller requests, ${w} webhook requests, none refused, every grant used`);
  });
});

async function fetchReadyz(url: string, caPem: string): Promise<number> {
  try {
    return (await httpsGet(new URL('/readyz', url).toString(), { ca: caPem })).status;
  } catch {
    return 0;
  }
}
