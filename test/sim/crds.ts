// Adapter: installs KubeVirt's VM and VMI CRDs with a raw JSON POST. The typed client-node
// call the harness uses (ApiextensionsV1Api) serializes through its model, which drops the
// `x-kubernetes-int-or-string` keys of KubeVirt's schema, so the apiserver answers 422
// ("type: Required value"). Reads the same generated files as the harness (readCrd).
import { request } from 'node:https';
import { readFileSync } from 'node:fs';
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { readCrd, waitFor } from '../harness/index.js';
import type { ControlPlane } from '../harness/index.js';

function post(cp: ControlPlane, path: string, body: unknown): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${cp.server}${path}`,
      {
        method: 'POST',
        ca: cp.caPem,
        cert: readFileSync(cp.admin.cert),
        key: readFileSync(cp.admin.key),
        headers: { 'content-type': 'application/json' },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

function get(cp: ControlPlane, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${cp.server}${path}`,
      { ca: cp.caPem, cert: readFileSync(cp.admin.cert), key: readFileSync(cp.admin.key) },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

export async function installKubevirtCrds(cp: ControlPlane): Promise<void> {
  for (const file of ['vm', 'vmi'] as const) {
    const crd = readCrd(file);
    const status = await post(cp, '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
    if (status !== 201 && status !== 409)
      throw new Error(`creating CRD ${crd.metadata?.name}: HTTP ${status}`);
    await waitFor(`CRD ${crd.metadata?.name} Established`, async () => {
      const res = await get(
        cp,
        `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata?.name}`,
      );
      const conditions = (
        JSON.parse(res.body) as { status?: { conditions?: { type: string; status: string }[] } }
      ).status?.conditions;
      return conditions?.some((c) => c.type === 'Established' && c.status === 'True') ? true : undefined;
    });
  }
  // Discovery lags the Established condition a little: wait until the resource is served.
  await waitFor('kubevirt.io/v1 served', async () =>
    (await get(cp, '/apis/kubevirt.io/v1/virtualmachineinstances')).status === 200 ? true : undefined,
  );
}

/**
 * kube-controller-manager's garbage collector learns about CRDs created after it started
 * only at its next discovery sync (about 30 s). This waits until it collects a dependent of
 * a deleted VirtualMachine: a probe VM owning a ConfigMap.
 */
export async function waitForVmGarbageCollection(
  kc: KubeConfig,
  namespace: string,
  timeoutMs = 120_000,
): Promise<void> {
  const custom = kc.makeApiClient(CustomObjectsApi);
  const core = kc.makeApiClient(CoreV1Api);
  const vm = (await custom.createNamespacedCustomObject({
    group: 'kubevirt.io',
    version: 'v1',
    plural: 'virtualmachines',
    namespace,
    body: {
      apiVersion: 'kubevirt.io/v1',
      kind: 'VirtualMachine',
      metadata: { name: 'gc-probe' },
      spec: { running: false, template: { spec: { domain: { devices: {} } } } },
    },
  })) as { metadata: { uid: string } };
  await core.createNamespacedConfigMap({
    namespace,
    body: {
      metadata: {
        name: 'gc-probe',
        ownerReferences: [
          { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', name: 'gc-probe', uid: vm.metadata.uid },
        ],
      },
    },
  });
  await custom.deleteNamespacedCustomObject({
    group: 'kubevirt.io',
    version: 'v1',
    plural: 'virtualmachines',
    namespace,
    name: 'gc-probe',
  });
  await waitFor(
    'the garbage collector to collect a VM dependent',
    async () => {
      try {
        await core.readNamespacedConfigMap({ namespace, name: 'gc-probe' });
        return undefined;
      } catch (err) {
        return (err as { code?: number }).code === 404 ? true : undefined;
      }
    },
    { timeoutMs, intervalMs: 500 },
  );
}
