// The local control plane itself: the apiserver is real, the admin is who we think, KubeVirt's
// CRDs are served and prune like in a cluster, and the controller manager's garbage collector and
// namespace controller run.
import assert from 'node:assert/strict';
import { Resolver } from 'node:dns/promises';

import {
  AuthenticationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  type V1ConfigMap,
} from '@kubernetes/client-node';

import { httpsGet, startCoreDNS, waitFor, type ControlPlane } from '../harness/index.js';
import { createNamespace, statusOf, VM, virtualMachine } from './kube.js';
import { controlPlane, controllerManagerEnabled } from './setup.js';

describe('local control plane', function () {
  this.timeout(120_000);
  let cp: ControlPlane;
  let kc: KubeConfig;
  let tls: { ca: string; cert: string; key: string };

  before(async function () {
    this.timeout(240_000);
    cp = await controlPlane();
    kc = cp.kubeConfig();
    const user = kc.getCurrentUser();
    tls = {
      ca: cp.caPem,
      cert: Buffer.from(user?.certData ?? '', 'base64').toString(),
      key: Buffer.from(user?.keyData ?? '', 'base64').toString(),
    };
  });

  it('serves /readyz on 127.0.0.1 to the admin, who is in system:masters', async () => {
    assert.match(cp.server, /^https:\/\/127\.0\.0\.1:\d+$/);
    const ready = await httpsGet(`${cp.server}/readyz`, tls);
    assert.equal(ready.status, 200);
    const review = await kc.makeApiClient(AuthenticationV1Api).createSelfSubjectReview({ body: {} });
    assert.equal(review.status?.userInfo?.username, 'admin');
    assert.ok(review.status?.userInfo?.groups?.includes('system:masters'));
  });

  it('serves KubeVirt VirtualMachines and VirtualMachineInstances and Multus NetworkAttachmentDefinitions', async () => {
    const kubevirt = JSON.parse((await httpsGet(`${cp.server}/apis/kubevirt.io/v1`, tls)).body) as {
      resources: { name: string; kind: string; shortNames?: string[] }[];
    };
    const byName = new Map(kubevirt.resources.map((r) => [r.name, r]));
    assert.equal(byName.get('virtualmachines')?.kind, 'VirtualMachine');
    assert.deepEqual(byName.get('virtualmachines')?.shortNames, ['vm', 'vms']);
    assert.equal(byName.get('virtualmachineinstances')?.kind, 'VirtualMachineInstance');
    // VM has a status subresource; VMI (as virt-operator creates it) has none.
    assert.ok(byName.has('virtualmachines/status'));
    assert.ok(!byName.has('virtualmachineinstances/status'));
    const nad = JSON.parse((await httpsGet(`${cp.server}/apis/k8s.cni.cncf.io/v1`, tls)).body) as {
      resources: { name: string; kind: string }[];
    };
    assert.ok(nad.resources.some((r) => r.name === 'network-attachment-definitions'));
  });

  it('prunes a field the VirtualMachine schema does not know, and keeps the ones it does', async () => {
    const ns = await createNamespace(kc, 'pruning');
    const objects = kc.makeApiClient(CustomObjectsApi);
    const body = virtualMachine(ns, 'pruned', { notAKubeVirtField: { keep: 'me' }, hostname: 'kept' });
    await objects.createNamespacedCustomObject({ ...VM, namespace: ns, body });
    const stored = (await objects.getNamespacedCustomObject({ ...VM, namespace: ns, name: 'pruned' })) as {
      spec: { template: { spec: Record<string, unknown> } };
    };
    assert.equal(stored.spec.template.spec.hostname, 'kept');
    assert.ok(!('notAKubeVirtField' in stored.spec.template.spec), 'unknown field was stored');
  });

  it('rejects a VirtualMachine that breaks the schema', async () => {
    const ns = await createNamespace(kc, 'schema');
    const body = virtualMachine(ns, 'bad', { domain: { devices: { interfaces: 'not-a-list' } } });
    await assert.rejects(
      kc.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({ ...VM, namespace: ns, body }),
      (err) => statusOf(err) === 422,
    );
  });

  it('keeps its data across an apiserver restart', async () => {
    const ns = await createNamespace(kc, 'restart');
    const core = kc.makeApiClient(CoreV1Api);
    await core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: 'before' }, data: { a: '1' } },
    });
    const port = new URL(cp.server).port;
    await cp.restartApiserver();
    assert.equal(new URL(cp.server).port, port);
    const cm = await core.readNamespacedConfigMap({ namespace: ns, name: 'before' });
    assert.equal(cm.data?.a, '1');
  });

  describe('with kube-controller-manager', function () {
    before(function () {
      if (!controllerManagerEnabled()) this.skip();
    });

    it('garbage-collects an object owned by a deleted VirtualMachine', async () => {
      const ns = await createNamespace(kc, 'gc');
      const objects = kc.makeApiClient(CustomObjectsApi);
      const core = kc.makeApiClient(CoreV1Api);
      const vm = (await objects.createNamespacedCustomObject({
        ...VM,
        namespace: ns,
        body: virtualMachine(ns, 'owner'),
      })) as { metadata: { uid: string } };
      const owned: V1ConfigMap = {
        metadata: {
          name: 'owned',
          ownerReferences: [
            { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', name: 'owner', uid: vm.metadata.uid },
          ],
        },
      };
      await core.createNamespacedConfigMap({ namespace: ns, body: owned });
      await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'unowned' } } });
      await objects.deleteNamespacedCustomObject({ ...VM, namespace: ns, name: 'owner' });
      await waitFor(
        'the owned ConfigMap to be garbage-collected',
        async () => {
          try {
            await core.readNamespacedConfigMap({ namespace: ns, name: 'owned' });
            return undefined;
          } catch (err) {
            if (statusOf(err) === 404) return true;
            throw err;
          }
        },
        { timeoutMs: 60_000, intervalMs: 250 },
      );
      // The collector deleted the dependent, not everything.
      assert.equal(
        (await core.readNamespacedConfigMap({ namespace: ns, name: 'unowned' })).metadata?.name,
        'unowned',
      );
    });

    it('deletes a namespace with VirtualMachines in it', async () => {
      const ns = await createNamespace(kc, 'nsdel');
      const objects = kc.makeApiClient(CustomObjectsApi);
      await objects.createNamespacedCustomObject({
        ...VM,
        namespace: ns,
        body: virtualMachine(ns, 'inside'),
      });
      const core = kc.makeApiClient(CoreV1Api);
      await core.deleteNamespace({ name: ns });
      await waitFor(
        `namespace ${ns} to go away`,
        async () => {
          try {
            await core.readNamespace({ name: ns });
            return undefined;
          } catch (err) {
            if (statusOf(err) === 404) return true;
            throw err;
          }
        },
        { timeoutMs: 90_000, intervalMs: 500 },
      );
    });
  });

  it('runs CoreDNS with the kubernetes plugin: the kubernetes Service resolves to its ClusterIP', async () => {
    const core = kc.makeApiClient(CoreV1Api);
    const svc = await core.readNamespacedService({ namespace: 'default', name: 'kubernetes' });
    const dns = await startCoreDNS({ kubeconfigPath: cp.kubeconfigPath, processes: cp.processes });
    try {
      const resolver = new Resolver({ timeout: 2_000, tries: 1 });
      resolver.setServers([dns.address]);
      const addresses = await resolver.resolve4('kubernetes.default.svc.cluster.local');
      assert.deepEqual(addresses, [svc.spec?.clusterIP]);
    } finally {
      await dns.stop();
    }
  });
});
