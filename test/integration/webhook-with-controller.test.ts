// `webhook --with-controller`: one process serves admission and runs the controller (with
// leader election) on the same cluster credentials. Against the real apiserver with the
// KubeVirt simulator: an injected VM's L2 address becomes a headless Service and slice.
import assert from 'node:assert/strict';
import { CoreV1Api, DiscoveryV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { startWebhookProcess, waitFor, webhookHealthy, type WebhookProcess } from '../harness/index.js';
import { KubeVirtSimulator } from '../sim/kubevirt.js';
import { seedVm } from '../sim/vms.js';
import { controlPlane } from './setup.js';
import { createNamespace, VM } from './kube.js';

describe('webhook --with-controller: admission and publication in one process', function () {
  this.timeout(120_000);
  let kc: KubeConfig;
  let hook: WebhookProcess;
  let sim: KubeVirtSimulator;
  let ns: string;

  before(async () => {
    const cp = await controlPlane();
    kc = cp.kubeConfig();
    hook = await startWebhookProcess({
      ca: cp.ca,
      processes: cp.processes,
      name: 'webhook-with-controller',
      kubeconfigPath: cp.kubeconfigPath,
      extraArgs: ['--with-controller'],
    });
    assert.ok(await webhookHealthy(hook.url, cp.caPem), 'the webhook serves /healthz');
    ns = await createNamespace(kc, 'withctl');
    sim = new KubeVirtSimulator(kc, {
      namespace: ns,
      addressFor: (vm, network) =>
        network === 'l2' && vm.metadata.name === 'mongodb' ? ['192.168.123.139'] : undefined,
    });
    await sim.start();
  });

  after(async () => {
    await sim?.stop();
    await hook?.stop();
  });

  it("publishes the VM's L2 address as a selector-less headless Service with an EndpointSlice", async () => {
    const vm = seedVm('mongodb', ns, {
      'kubevirt-net-injector.io/service-name': 'mongo',
      'kubevirt-net-injector.io/service-ports': 'mongo:27017',
    });
    await kc.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({ ...VM, namespace: ns, body: vm });
    const core = kc.makeApiClient(CoreV1Api);
    const discovery = kc.makeApiClient(DiscoveryV1Api);
    const svc = await waitFor(
      'Service mongo',
      () => core.readNamespacedService({ name: 'mongo', namespace: ns }).catch(() => undefined),
      { timeoutMs: 60_000 },
    );
    assert.equal(svc.spec?.clusterIP, 'None');
    assert.equal(svc.spec?.selector, undefined);
    const addresses = await waitFor(
      'an EndpointSlice with the address',
      async () => {
        const list = await discovery.listNamespacedEndpointSlice({
          namespace: ns,
          labelSelector: 'kubernetes.io/service-name=mongo',
        });
        const found = list.items.flatMap((s) => s.endpoints ?? []).flatMap((e) => e.addresses);
        return found.length ? found : undefined;
      },
      { timeoutMs: 60_000 },
    );
    assert.deepEqual(addresses, ['192.168.123.139']);
  });
});
