// The controller's policy audit against a real kube-apiserver (issue 16, items 3 and 6): VMs
// stored before a policy existed (no validating webhook registered yet) are judged when the
// policy arrives; the policy's status, a Warning Event on the VM and the violations gauge show
// it; relabelling the namespace out of the selector clears it; a NAD the policy injects,
// deleted, turns NetworksResolved False, and then the webhook (both configurations registered,
// the validating one as shipped) denies a VM create that would get that NAD, until it is back.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';

import {
  AdmissionregistrationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
} from '@kubernetes/client-node';
import { Registry } from 'prom-client';

import { startController, type RunningController } from '../../src/controller/controller.js';
import type { NetworkAttachmentPolicy, PolicySpec, PolicyStatus } from '../../src/policy/types.js';
import { createLogger } from '../../src/telemetry/logger.js';
import {
  registerValidatingWebhook,
  registerWebhook,
  startWebhookProcess,
  unregisterValidatingWebhook,
  waitFor,
  WEBHOOK_CONFIGURATION_NAME,
  type ControlPlane,
  type WebhookProcess,
} from '../harness/index.js';
import { createNamespace, statusOf, virtualMachine, VM } from './kube.js';
import { controlPlane } from './setup.js';

const POLICY = {
  group: 'kubevirt-net-injector.io',
  version: 'v1alpha1',
  plural: 'networkattachmentpolicies',
};
const NAD = { group: 'k8s.cni.cncf.io', version: 'v1', plural: 'network-attachment-definitions' };
const WAIT = { timeoutMs: 30_000, intervalMs: 200 };
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

describe('policy audit against a real apiserver', function () {
  this.timeout(180_000);
  const team = `audit-${randomBytes(3).toString('hex')}`;
  const allowName = `${team}-allow`;
  const injectName = `${team}-inject`;
  let cp: ControlPlane;
  let kc: KubeConfig;
  let custom: CustomObjectsApi;
  let core: CoreV1Api;
  let ns: string;
  let other: string;
  let registry: Registry;
  let controller: RunningController | undefined;
  let hook: WebhookProcess | undefined;

  const createPolicy = (name: string, spec: Partial<PolicySpec>) =>
    custom.createClusterCustomObject({
      ...POLICY,
      body: {
        apiVersion: 'kubevirt-net-injector.io/v1alpha1',
        kind: 'NetworkAttachmentPolicy',
        metadata: { name },
        spec: { namespaceSelector: { matchLabels: { team } }, ...spec },
      },
    });
  const readStatus = async (name: string) =>
    ((await custom.getClusterCustomObject({ ...POLICY, name })) as NetworkAttachmentPolicy).status;
  const statusShows = (name: string, what: string, ok: (s: PolicyStatus) => boolean) =>
    waitFor(
      `policy ${name}: ${what}`,
      async () => {
        const s = await readStatus(name);
        return s && ok(s) ? s : undefined;
      },
      WAIT,
    );
  const condition = (s: PolicyStatus, type: string) => s.conditions?.find((c) => c.type === type);
  const createNad = (namespace: string, name: string) =>
    custom.createNamespacedCustomObject({
      ...NAD,
      namespace,
      body: {
        apiVersion: 'k8s.cni.cncf.io/v1',
        kind: 'NetworkAttachmentDefinition',
        metadata: { name },
        spec: { config: JSON.stringify({ cniVersion: '0.3.1', type: 'bridge', bridge: 'br1' }) },
      },
    });
  const createVm = (name: string, networkName: string) =>
    custom.createNamespacedCustomObject({
      ...VM,
      namespace: ns,
      body: virtualMachine(ns, name, {
        networks: [
          { name: 'default', pod: {} },
          { name: 'l2', multus: { networkName } },
        ],
      }),
    });
  const labelNamespace = (labels: Record<string, string>) =>
    core.patchNamespace({ name: ns, body: { metadata: { labels } } }, mergePatch);
  const gauge = async () => {
    const metric = (await registry.getMetricsAsJSON()).find(
      (m) => m.name === 'kubevirt_net_injector_policy_violations',
    );
    const values = (metric?.values ?? []) as { labels: Record<string, string>; value: number }[];
    return values.filter((v) => v.labels.policy === allowName).map((v) => `${v.labels.namespace}=${v.value}`);
  };

  before(async () => {
    cp = await controlPlane();
    kc = cp.kubeConfig();
    custom = kc.makeApiClient(CustomObjectsApi);
    core = kc.makeApiClient(CoreV1Api);
    ns = await createNamespace(kc, 'audit', { 'kubevirt-net-injector.io/inject': 'enabled', team });
    other = await createNamespace(kc, 'audit-other');
    await createNad(ns, 'br-a');
    await createNad(other, 'br-b');
    // Stored before any policy or validating webhook: what the audit is for.
    await createVm('good', 'br-a');
    await createVm('bad', `${other}/br-b`);
    registry = new Registry();
    controller = await startController({
      kubeConfig: kc,
      logger: createLogger({ level: process.env.CONTROLLER_LOG ?? 'silent', name: 'audit' }),
      registry,
      settings: {
        namespace: ns,
        graceMs: 1000,
        legacyEndpoints: false,
        workers: 1,
        resyncMs: 120_000,
        watchSilenceMs: 15_000,
        relistMs: 0,
        leaderElection: {
          enabled: false,
          namespace: 'default',
          name: 'unused',
          leaseDurationMs: 15_000,
          renewDeadlineMs: 10_000,
          retryPeriodMs: 2_000,
        },
        identity: 'policy-audit-test',
      },
    });
    await controller.synced;
  });

  after(async () => {
    await hook?.stop();
    const admission = kc?.makeApiClient(AdmissionregistrationV1Api);
    await admission
      ?.deleteMutatingWebhookConfiguration({ name: WEBHOOK_CONFIGURATION_NAME })
      .catch(() => undefined);
    if (kc) await unregisterValidatingWebhook(kc);
    await controller?.stop();
    for (const name of [allowName, injectName])
      await custom?.deleteClusterCustomObject({ ...POLICY, name }).catch(() => undefined);
  });

  it('an existing VM that breaks the allow list: status, a Warning Event and the gauge', async () => {
    await createPolicy(allowName, { allowedNetworks: { names: [`${ns}/*`] }, mode: 'Warn' });
    const status = await statusShows(allowName, 'one violation', (s) => s.violations === 1);
    assert.equal(status.observedGeneration, 1);
    assert.equal(status.matchedNamespaces, 1);
    assert.deepEqual(
      status.violatingVMs?.map((v) => `${v.namespace}/${v.name}`),
      [`${ns}/bad`],
    );
    assert.match(
      status.violatingVMs![0]!.reason,
      new RegExp(
        `^NotAllowed at spec\\.template\\.spec\\.networks\\[1\\]\\.multus\\.networkName: network ${other}/br-b`,
      ),
    );
    assert.equal(condition(status, 'Ready')?.status, 'True');
    assert.equal(condition(status, 'NetworksResolved')?.status, 'True');
    assert.ok(status.lastAuditTime && Date.now() - Date.parse(status.lastAuditTime) < 60_000);

    const event = await waitFor(
      'PolicyViolation event on bad',
      async () =>
        (
          await core.listNamespacedEvent({ namespace: ns, fieldSelector: 'involvedObject.name=bad' })
        ).items.find((e) => e.reason === 'PolicyViolation'),
      WAIT,
    );
    assert.equal(event.type, 'Warning');
    assert.match(event.message ?? '', new RegExp(`"${allowName}" \\(Warn, NotAllowed\\) at spec\\.template`));
    assert.equal(
      (await core.listNamespacedEvent({ namespace: ns, fieldSelector: 'involvedObject.name=good' })).items
        .length,
      0,
    );
    assert.deepEqual(await gauge(), [`${ns}=1`]);
  });

  it('relabelling the namespace out of the selector clears it; back in, it returns', async () => {
    await labelNamespace({ team: 'someone-else' });
    const cleared = await statusShows(allowName, 'no violation, no namespace', (s) => s.violations === 0);
    assert.equal(cleared.matchedNamespaces, 0);
    assert.deepEqual(cleared.violatingVMs, []);
    assert.deepEqual(await gauge(), []);
    await labelNamespace({ team });
    await statusShows(allowName, 'the violation back', (s) => s.violations === 1);
    assert.deepEqual(await gauge(), [`${ns}=1`]);
  });

  it('a NAD the policy injects, deleted: NetworksResolved False, then a create that gets it is denied', async () => {
    await createNad(ns, 'br-inject');
    await createPolicy(injectName, {
      inject: { network: `${ns}/br-inject` },
      allowedNetworks: { names: [`${ns}/*`] },
    });
    await statusShows(
      injectName,
      'NetworksResolved True',
      (s) => condition(s, 'NetworksResolved')?.status === 'True',
    );
    await custom.deleteNamespacedCustomObject({ ...NAD, namespace: ns, name: 'br-inject' });
    const unresolved = await statusShows(
      injectName,
      'NetworksResolved False',
      (s) => condition(s, 'NetworksResolved')?.status === 'False',
    );
    assert.equal(condition(unresolved, 'NetworksResolved')?.reason, 'NetworkNotFound');
    assert.match(
      condition(unresolved, 'NetworksResolved')!.message,
      new RegExp(`not found: ${ns}/br-inject$`),
    );

    hook = await startWebhookProcess({
      ca: cp.ca,
      processes: cp.processes,
      name: 'webhook-policy-audit',
      kubeconfigPath: cp.kubeconfigPath,
    });
    await registerWebhook(kc, { url: hook.url, caPem: cp.caPem });
    await registerValidatingWebhook(kc, new URL('/validate', hook.url).toString(), cp.caPem);
    const refusal = await waitFor(
      'a create is denied by the validating webhook',
      async () => {
        try {
          await custom.createNamespacedCustomObject({
            ...VM,
            namespace: ns,
            body: virtualMachine(ns, `new-${randomBytes(2).toString('hex')}`),
          });
          return undefined;
        } catch (err) {
          const body = String((err as { body?: unknown }).body ?? err);
          return /NetworkNotFound/.test(body) ? { code: statusOf(err), body } : undefined;
        }
      },
      WAIT,
    );
    assert.equal(refusal.code, 403);
    assert.match(refusal.body, new RegExp(`NetworkAttachmentDefinition ${ns}/br-inject does not exist`));
    assert.match(refusal.body, /spec\.template\.spec\.networks\[1\]\.multus\.networkName/);

    await createNad(ns, 'br-inject');
    const created = await waitFor(
      'the same create allowed once the NAD is back',
      async () => {
        try {
          return (await custom.createNamespacedCustomObject({
            ...VM,
            namespace: ns,
            body: virtualMachine(ns, `back-${randomBytes(2).toString('hex')}`),
          })) as { metadata: { annotations?: Record<string, string> } };
        } catch {
          return undefined;
        }
      },
      WAIT,
    );
    assert.equal(created.metadata.annotations?.['kubevirt-net-injector.io/status'], 'injected');
    await statusShows(
      injectName,
      'NetworksResolved True again',
      (s) => condition(s, 'NetworksResolved')?.status === 'True',
    );
  });
});
