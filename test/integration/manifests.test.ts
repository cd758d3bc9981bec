// The install manifests: every overlay renders with kubectl kustomize and passes a server-side
// dry run against the real apiserver with KubeVirt's, Multus's and cert-manager's CRDs; the
// Deployments carry what a production install needs; each overlay gives every webhook
// configuration its CA, including one added to the base later.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { ApiextensionsV1Api } from '@kubernetes/client-node';

import { binaryPath, controlPlaneDir, waitFor, type ControlPlane } from '../harness/index.js';
import {
  applyRbac,
  INSTALL_NAMESPACE,
  kubectl,
  manifestsWithCerts,
  render,
  renderWith,
  type Manifest,
} from '../harness/install.js';
import { controlPlane } from './setup.js';

const run = promisify(execFile);

interface Container {
  name: string;
  args?: string[];
  env?: { name: string }[];
  ports?: { name?: string; containerPort: number }[];
  readinessProbe?: { httpGet?: { port: string | number } };
  livenessProbe?: { httpGet?: { port: string | number } };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: {
    allowPrivilegeEscalation?: boolean;
    readOnlyRootFilesystem?: boolean;
    capabilities?: { drop?: string[] };
  };
}
interface Deployment extends Manifest {
  spec: {
    replicas: number;
    selector: { matchLabels: Record<string, string> };
    template: {
      spec: {
        serviceAccountName: string;
        securityContext?: { runAsNonRoot?: boolean; seccompProfile?: { type: string } };
        topologySpreadConstraints?: unknown[];
        affinity?: { podAntiAffinity?: unknown };
        containers: Container[];
        volumes?: { name: string; secret?: { secretName: string } }[];
      };
    };
  };
}
interface WebhookConfiguration extends Manifest {
  webhooks: {
    name: string;
    clientConfig: { caBundle?: string; service?: { name: string; namespace: string } };
  }[];
}

const isWebhookConfiguration = (d: Manifest): d is WebhookConfiguration =>
  d.kind === 'MutatingWebhookConfiguration' || d.kind === 'ValidatingWebhookConfiguration';
const find = <T extends Manifest>(docs: Manifest[], kind: string, name: string) => {
  const found = docs.find((d) => d.kind === kind && d.metadata.name === name);
  assert.ok(found, `${kind} ${name} rendered`);
  return found as T;
};

/** A ValidatingWebhookConfiguration as issue 16 will add it: one file in the base. */

describe('install manifests (kustomize base, overlays, components)', function () {
  this.timeout(180_000);
  let cp: ControlPlane;
  let withCerts: string;
  let base: Manifest[];
  let certManager: Manifest[];
  let selfSigned: Manifest[];

  const dryRun = (docs: Manifest[]) =>
    kubectl(['apply', '--server-side', '--dry-run=server', '--field-manager', 'kni-tests', '-f', '-'], {
      kubeconfig: cp.kubeconfigPath,
      input: docs.map((d) => JSON.stringify(d)).join('\n'),
    });

  before(async () => {
    cp = await controlPlane();
    // cert-manager's CRDs (from its Go module, by make controlplane), served before dry runs.
    await kubectl(['apply', '--server-side', '-f', join(controlPlaneDir(), 'crds', 'cert-manager.yaml')], {
      kubeconfig: cp.kubeconfigPath,
    });
    const ext = cp.kubeConfig().makeApiClient(ApiextensionsV1Api);
    for (const plural of ['certificates', 'issuers']) {
      await waitFor(`${plural}.cert-manager.io Established`, async () => {
        const crd = await ext.readCustomResourceDefinition({ name: `${plural}.cert-manager.io` });
        return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')
          ? true
          : undefined;
      });
    }
    withCerts = await manifestsWithCerts();
    base = await render('manifests/base');
    certManager = await render('manifests/overlays/cert-manager');
    selfSigned = await render(join(withCerts, 'overlays', 'self-signed'));
    // Namespaced objects need their namespace to exist for a dry run.
    await applyRbac(
      cp.kubeconfigPath,
      base.filter((d) => d.kind === 'Namespace'),
    );
  });

  it('every overlay passes a server-side dry run (cert-manager, self-signed)', async () => {
    for (const [name, docs] of [
      ['cert-manager', certManager],
      ['self-signed', selfSigned],
    ] as const) {
      const { stdout, stderr } = await dryRun(docs);
      // The namespace enforces the restricted Pod Security Standard: our pods must not warn.
      assert.doesNotMatch(stderr, /PodSecurity/, `${name}: ${stderr}`);
      assert.match(
        stdout,
        /deployment.apps\/kubevirt-net-injector-webhook serverside-applied \(server dry run\)/,
        name,
      );
      assert.equal(stdout.trim().split('\n').length, docs.length, `${name}: every object dry-run applied`);
    }
  });

  it('the components render into an overlay; NetworkPolicy and legacy Endpoints dry-run too', async () => {
    const all = await renderWith(
      ['networkpolicy', 'servicemonitor', 'legacy-endpoints'],
      ['overlays/cert-manager'],
    );
    const kinds = all.map((d) => d.kind);
    assert.equal(kinds.filter((k) => k === 'ServiceMonitor').length, 2);
    assert.equal(kinds.filter((k) => k === 'NetworkPolicy').length, 2);
    const controller = find<Deployment>(all, 'Deployment', 'kubevirt-net-injector-controller');
    assert.ok(controller.spec.template.spec.containers[0]!.args?.includes('--legacy-endpoints'));
    // No Prometheus Operator CRDs here: the ServiceMonitors are rendered, not dry-run.
    await dryRun(all.filter((d) => d.kind !== 'ServiceMonitor'));
  });

  it('the example NetworkAttachmentDefinition ovs-net-br1 (ovs-cni, bridge br1) dry-runs', async () => {
    const nad = readFileSync('manifests/examples/nad-ovs-net-br1.yaml', 'utf8');
    assert.match(nad, /"type": "ovs"/);
    assert.match(nad, /"bridge": "br1"/);
    await kubectl(['create', 'namespace', 'vm'], { kubeconfig: cp.kubeconfigPath }).catch(() => undefined);
    await kubectl(['apply', '--server-side', '--dry-run=server', '-f', '-'], {
      kubeconfig: cp.kubeconfigPath,
      input: nad,
    });
  });

  it('both Deployments: 2 replicas spread, a PDB, probes, resources, non-root, read-only, no capabilities', () => {
    for (const name of ['kubevirt-net-injector-webhook', 'kubevirt-net-injector-controller']) {
      const d = find<Deployment>(base, 'Deployment', name);
      const pod = d.spec.template.spec;
      assert.equal(d.spec.replicas, 2, name);
      assert.ok(pod.topologySpreadConstraints?.length || pod.affinity?.podAntiAffinity, `${name}: spread`);
      const pdb = base.find(
        (p) =>
          p.kind === 'PodDisruptionBudget' &&
          JSON.stringify((p as unknown as { spec: { selector: unknown } }).spec.selector) ===
            JSON.stringify({ matchLabels: d.spec.selector.matchLabels }),
      );
      assert.ok(pdb, `${name}: a PodDisruptionBudget selecting its pods`);
      assert.equal(pod.securityContext?.runAsNonRoot, true, name);
      assert.equal(pod.securityContext?.seccompProfile?.type, 'RuntimeDefault', name);
      const bound = base.some(
        (b) =>
          b.kind === 'ClusterRoleBinding' &&
          (b as unknown as { subjects: { name: string }[] }).subjects.some(
            (s) => s.name === pod.serviceAccountName,
          ),
      );
      assert.ok(bound, `${name}: its ServiceAccount ${pod.serviceAccountName} is bound`);
      for (const c of pod.containers) {
        const ports = new Set((c.ports ?? []).flatMap((p) => [p.name, p.containerPort]));
        assert.ok(
          c.readinessProbe?.httpGet && ports.has(c.readinessProbe.httpGet.port),
          `${name}: readiness`,
        );
        assert.ok(c.livenessProbe?.httpGet && ports.has(c.livenessProbe.httpGet.port), `${name}: liveness`);
        assert.ok(
          c.resources?.requests?.cpu && c.resources.requests.memory && c.resources.limits?.memory,
          name,
        );
        assert.equal(c.securityContext?.allowPrivilegeEscalation, false, name);
        assert.equal(c.securityContext?.readOnlyRootFilesystem, true, name);
        assert.deepEqual(c.securityContext?.capabilities?.drop, ['ALL'], name);
        // Issue 15 removes both from the webhook: nothing here may depend on them.
        assert.ok(!c.args?.some((a) => a.startsWith('--workers')), `${name}: no --workers`);
        assert.ok(!c.env?.some((e) => e.name === 'NODE_OPTIONS'), `${name}: no NODE_OPTIONS`);
      }
    }
    const controller = find<Deployment>(base, 'Deployment', 'kubevirt-net-injector-controller');
    assert.ok(controller.spec.template.spec.containers[0]!.args?.includes('--leader-elect'));
  });

  it('cert-manager: every webhook configuration asks for the CA of the Certificate the webhook mounts', () => {
    const configs = certManager.filter(isWebhookConfiguration);
    assert.ok(configs.length > 0);
    const webhook = find<Deployment>(certManager, 'Deployment', 'kubevirt-net-injector-webhook');
    const mounted = webhook.spec.template.spec.volumes?.find((v) => v.secret)?.secret?.secretName;
    for (const c of configs) {
      const from = c.metadata.annotations?.['cert-manager.io/inject-ca-from'] ?? '';
      const [ns, name] = from.split('/');
      const cert = find<Manifest & { spec: { secretName: string; dnsNames: string[] } }>(
        certManager,
        'Certificate',
        name ?? '',
      );
      assert.equal(cert.metadata.namespace, ns);
      assert.equal(cert.spec.secretName, mounted, 'the Certificate writes the Secret the webhook mounts');
      for (const w of c.webhooks) {
        const svc = w.clientConfig.service!;
        assert.ok(
          cert.spec.dnsNames.includes(`${svc.name}.${svc.namespace}.svc`),
          `${w.name}: SAN for its Service`,
        );
      }
    }
  });

  it('self-signed: make certs gives every webhook the CA that signed a serving pair for the Service', () => {
    const ca = new X509Certificate(readFileSync(join(withCerts, 'overlays', 'self-signed', 'ca.crt')));
    const secret = find<Manifest & { type: string; data: Record<string, string> }>(
      selfSigned,
      'Secret',
      'kubevirt-net-injector-webhook-tls',
    );
    assert.equal(secret.type, 'kubernetes.io/tls');
    assert.equal(secret.metadata.namespace, INSTALL_NAMESPACE);
    const serving = new X509Certificate(Buffer.from(secret.data['tls.crt']!, 'base64'));
    assert.ok(serving.verify(ca.publicKey), 'the serving certificate is signed by the CA');
    assert.ok(serving.checkHost('kubevirt-net-injector-webhook.kubevirt-net-injector.svc'));
    assert.ok(Buffer.from(secret.data['tls.key']!, 'base64').toString().includes('PRIVATE KEY'));
    for (const c of selfSigned.filter(isWebhookConfiguration))
      for (const w of c.webhooks)
        assert.equal(Buffer.from(w.clientConfig.caBundle ?? '', 'base64').toString(), ca.toString(), w.name);
  });

  it('keys stay out of git: the overlay ignores everything make certs writes', () => {
    const ignore = readFileSync('manifests/overlays/self-signed/.gitignore', 'utf8');
    for (const f of ['ca.key', 'tls.key', 'ca.crt', 'tls.crt', 'ca-bundle.yaml'])
      assert.match(ignore, new RegExp(`^${f}$`, 'm'));
  });

  it('both overlays carry the mutating and the validating webhook, each with its CA', () => {
    for (const [overlay, docs] of [
      ['cert-manager', certManager],
      ['self-signed', selfSigned],
    ] as const) {
      const kinds = docs.filter(isWebhookConfiguration).map((d) => `${d.kind}/${d.metadata.name}`);
      assert.deepEqual(
        kinds.sort(),
        [
          'MutatingWebhookConfiguration/kubevirt-net-injector',
          'ValidatingWebhookConfiguration/kubevirt-net-injector',
        ],
        overlay,
      );
    }
    const v1 = find<WebhookConfiguration>(
      certManager,
      'ValidatingWebhookConfiguration',
      'kubevirt-net-injector',
    );
    assert.equal(
      v1.metadata.annotations?.['cert-manager.io/inject-ca-from'],
      'kubevirt-net-injector/kubevirt-net-injector-webhook',
    );
    const v2 = find<WebhookConfiguration>(
      selfSigned,
      'ValidatingWebhookConfiguration',
      'kubevirt-net-injector',
    );
    assert.ok(v2.webhooks[0]!.clientConfig.caBundle, 'caBundle set by the self-signed overlay');
    assert.equal((v2.webhooks[0]!.clientConfig.service as { path?: string }).path, '/validate');
  });

  it('make manifests sets the image reference (what make deploy applies)', async () => {
    const { stdout } = await run(
      'bash',
      ['hack/deploy.sh', 'render', 'cert-manager', 'registry.example/kni:v9'],
      {
        env: { ...process.env, KUBECTL: binaryPath('kubectl') },
      },
    );
    const images = [...stdout.matchAll(/image: (\S+)/g)].map((m) => m[1]);
    assert.deepEqual(images, ['registry.example/kni:v9', 'registry.example/kni:v9']);
  });
});
