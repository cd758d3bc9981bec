// `explain --kubeconfig` against a real kube-apiserver (issue 16, item 6): the namespace,
// policies and NADs read there; who you are from a SelfSubjectReview; requireUsePermission
// checked with a SelfSubjectAccessReview for that user, so the same VM is denied for a
// ServiceAccount without the verb `use` and allowed once RBAC grants it.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import {
  CoreV1Api,
  CustomObjectsApi,
  RbacAuthorizationV1Api,
  type KubeConfig,
} from '@kubernetes/client-node';
import { stringify } from 'yaml';

import { cliPath, waitFor, type ControlPlane } from '../harness/index.js';
import { serviceAccountCredentials, tempDir } from '../harness/install.js';
import { createNamespace, virtualMachine } from './kube.js';
import { controlPlane } from './setup.js';

const POLICY = {
  group: 'kubevirt-net-injector.io',
  version: 'v1alpha1',
  plural: 'networkattachmentpolicies',
};
const NAD = { group: 'k8s.cni.cncf.io', version: 'v1', plural: 'network-attachment-definitions' };

function explain(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cliPath(), 'explain', ...args], (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stdout, stderr }),
    );
  });
}

describe('explain against a real apiserver', function () {
  this.timeout(120_000);
  const team = `explain-${randomBytes(3).toString('hex')}`;
  let cp: ControlPlane;
  let kc: KubeConfig;
  let custom: CustomObjectsApi;
  let ns: string;
  let dir: string;
  let explainerKubeconfig: string;

  const vmFile = (name: string, network: string) => {
    const vm = virtualMachine(ns, name, {
      networks: [
        { name: 'default', pod: {} },
        { name: 'extra', multus: { networkName: network } },
      ],
    }) as { spec: { template: { spec: { domain: { devices: Record<string, unknown> } } } } };
    vm.spec.template.spec.domain.devices.interfaces = [
      { name: 'default', masquerade: {} },
      { name: 'extra', bridge: {} },
    ];
    const path = join(dir, `${name}.yaml`);
    writeFileSync(path, stringify(vm));
    return path;
  };

  before(async () => {
    cp = await controlPlane();
    kc = cp.kubeConfig();
    custom = kc.makeApiClient(CustomObjectsApi);
    dir = tempDir('kni-explain-');
    ns = await createNamespace(kc, 'explain', { 'kubevirt-net-injector.io/inject': 'enabled', team });
    for (const name of ['br-a', 'br-x']) {
      await custom.createNamespacedCustomObject({
        ...NAD,
        namespace: ns,
        body: {
          apiVersion: 'k8s.cni.cncf.io/v1',
          kind: 'NetworkAttachmentDefinition',
          metadata: { name },
          spec: { config: '{}' },
        },
      });
    }
    await custom.createClusterCustomObject({
      ...POLICY,
      body: {
        apiVersion: 'kubevirt-net-injector.io/v1alpha1',
        kind: 'NetworkAttachmentPolicy',
        metadata: { name: team },
        spec: {
          namespaceSelector: { matchLabels: { team } },
          inject: { network: `${ns}/br-a` },
          allowedNetworks: { names: [`${ns}/*`] },
          requireUsePermission: true,
        },
      },
    });
    // A ServiceAccount that may read what explain reads, and nothing else (no `use` yet).
    await kc
      .makeApiClient(CoreV1Api)
      .createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'explainer' } } });
    const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
    await rbac.createClusterRole({
      body: {
        metadata: { name: team },
        rules: [
          { apiGroups: [''], resources: ['namespaces'], verbs: ['get'] },
          {
            apiGroups: ['kubevirt-net-injector.io'],
            resources: ['networkattachmentpolicies'],
            verbs: ['list'],
          },
          { apiGroups: ['k8s.cni.cncf.io'], resources: ['network-attachment-definitions'], verbs: ['get'] },
        ],
      },
    });
    await rbac.createClusterRoleBinding({
      body: {
        metadata: { name: team },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: team },
        subjects: [{ kind: 'ServiceAccount', name: 'explainer', namespace: ns }],
      },
    });
    explainerKubeconfig = (await serviceAccountCredentials(kc, cp.server, cp.caPem, 'explainer', ns))
      .kubeconfigPath;
  });

  after(async () => {
    await custom?.deleteClusterCustomObject({ ...POLICY, name: team }).catch(() => undefined);
    const rbac = kc?.makeApiClient(RbacAuthorizationV1Api);
    await rbac?.deleteClusterRoleBinding({ name: team }).catch(() => undefined);
    await rbac?.deleteClusterRole({ name: team }).catch(() => undefined);
  });

  it('as the admin: injected from the policy, use allowed, exit 0; a missing NAD, exit 1', async () => {
    const ok = await explain(['-f', vmFile('ok', 'br-x'), '--kubeconfig', cp.kubeconfigPath]);
    assert.equal(ok.code, 0, ok.stderr + ok.stdout);
    assert.match(
      ok.stdout,
      new RegExp(`namespace ${ns}: opted in, labels team=${team} \\(from the cluster\\)`),
    );
    assert.match(ok.stdout, new RegExp(`injected: network ${ns}/br-a as l2, from policy ${team}`));
    assert.match(ok.stdout, new RegExp(`policy ${team} \\(Enforce\\): applies`));
    assert.match(ok.stdout, /findings: none/);
    assert.doesNotMatch(ok.stdout, /not checked/);
    assert.match(ok.stdout, /note: as .*: exemptions and "use" checks are for this user/);

    const missing = await explain([
      '-f',
      vmFile('missing', 'nowhere'),
      '--kubeconfig',
      cp.kubeconfigPath,
      '-o',
      'json',
    ]);
    assert.equal(missing.code, 1, missing.stderr);
    const out = JSON.parse(missing.stdout) as {
      verdict: string;
      vms: { findings: { rule: string; message: string }[] }[];
    };
    assert.equal(out.verdict, 'denied');
    assert.deepEqual(
      out.vms[0]!.findings.map((f) => f.rule),
      ['NetworkNotFound'],
    );
    assert.match(out.vms[0]!.findings[0]!.message, new RegExp(`${ns}/nowhere does not exist`));
  });

  it('as a ServiceAccount without "use": denied (exit 1); granted the verb, allowed (exit 0)', async () => {
    const file = vmFile('sa', 'br-x');
    const refused = await explain(['-f', file, '--kubeconfig', explainerKubeconfig]);
    assert.equal(refused.code, 1, refused.stderr + refused.stdout);
    assert.match(refused.stdout, new RegExp(`note: as system:serviceaccount:${ns}:explainer`));
    assert.match(
      refused.stdout,
      new RegExp(
        `Enforce NoUsePermission at spec\\.template\\.spec\\.networks\\[1\\]\\.multus\\.networkName`,
      ),
    );
    assert.match(
      refused.stdout,
      new RegExp(`system:serviceaccount:${ns}:explainer may not use NetworkAttachmentDefinition ${ns}/br-x`),
    );

    const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
    await rbac.createNamespacedRole({
      namespace: ns,
      body: {
        metadata: { name: 'use-br-x' },
        rules: [
          {
            apiGroups: ['k8s.cni.cncf.io'],
            resources: ['network-attachment-definitions'],
            resourceNames: ['br-x'],
            verbs: ['use'],
          },
        ],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: ns,
      body: {
        metadata: { name: 'use-br-x' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'use-br-x' },
        subjects: [{ kind: 'ServiceAccount', name: 'explainer', namespace: ns }],
      },
    });
    const allowed = await waitFor(
      'explain allows once the Role is in effect',
      async () => {
        const r = await explain(['-f', file, '--kubeconfig', explainerKubeconfig]);
        return r.code === 0 ? r : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 500 },
    );
    assert.match(allowed.stdout, /verdict: ALLOWED/);
  });

  it('exit 2 when the cluster refuses what explain must read', async () => {
    await kc
      .makeApiClient(CoreV1Api)
      .createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'nobody' } } });
    const creds = await serviceAccountCredentials(kc, cp.server, cp.caPem, 'nobody', ns);
    const r = await explain(['-f', vmFile('nobody', 'br-x'), '--kubeconfig', creds.kubeconfigPath]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, new RegExp(`cannot read namespace ${ns}: 403 forbidden`));
  });
});
