// The install manifests (manifests/) in tests: rendered with the control plane's kubectl
// (kustomize), applied to a test apiserver, and the ServiceAccounts' own credentials (a
// TokenRequest), so our processes run with exactly the RBAC we ship.
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';

import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { parseAllDocuments, stringify } from 'yaml';

import { binaryPath, repoRoot } from './paths.js';

export const INSTALL_NAMESPACE = 'kubevirt-net-injector';
export const WEBHOOK_SA = 'kubevirt-net-injector-webhook';
export const CONTROLLER_SA = 'kubevirt-net-injector-controller';
export const CONTROLLER_LEASE = 'kubevirt-net-injector-controller';

const run = promisify(execFile);

// Temp folders hold tokens and keys: every one made here goes when the process exits.
const made = new Set<string>();
let hooked = false;
/** A new temp folder, removed when this process exits. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.add(dir);
  if (!hooked) {
    hooked = true;
    process.once('exit', () => {
      for (const d of made) rmSync(d, { recursive: true, force: true });
    });
  }
  return dir;
}

/** A manifest as kustomize emits it. */
export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [key: string]: unknown;
}

/** Runs the control plane's kubectl; rejects with its stderr. */
export async function kubectl(args: string[], opts: { kubeconfig?: string; input?: string } = {}) {
  const env = { ...process.env, KUBECONFIG: opts.kubeconfig ?? '/dev/null' };
  const child = execFile(binaryPath('kubectl'), args, { env, maxBuffer: 64 << 20 });
  const done = new Promise<{ stdout: string; stderr: string }>((resolveRun, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0
        ? resolveRun({ stdout, stderr })
        : reject(new Error(`kubectl ${args.join(' ')} exited ${code}: ${stderr.trim()}`)),
    );
  });
  child.stdin?.end(opts.input ?? '');
  return done;
}

/** `kubectl kustomize DIR` (a path relative to the repository, or absolute), parsed. */
export async function render(dir: string): Promise<Manifest[]> {
  const { stdout } = await kubectl(['kustomize', '--load-restrictor', 'LoadRestrictionsNone', dir]);
  return parseAllDocuments(stdout)
    .map((d) => d.toJS() as Manifest | null)
    .filter((d): d is Manifest => d !== null);
}

/**
 * A throw-away copy of manifests/ whose self-signed overlay has certificates (certs/gen.sh),
 * so the repository's own folder is never written by tests. Returns the copy's root.
 */
export async function manifestsWithCerts(): Promise<string> {
  const dir = tempDir('kni-manifests-');
  cpSync(join(repoRoot(), 'manifests'), dir, { recursive: true });
  await run('bash', [join(repoRoot(), 'certs', 'gen.sh'), join(dir, 'overlays', 'self-signed')]);
  return dir;
}

/** A kustomization in a temp folder: the base (or `resources`) plus `components` of manifests/. */
export async function renderWith(components: string[], resources = ['base']): Promise<Manifest[]> {
  const dir = tempDir('kni-kustomize-');
  // kustomize takes folders only as relative paths.
  const abs = (p: string) => relative(dir, resolve(repoRoot(), 'manifests', p));
  writeFileSync(
    join(dir, 'kustomization.yaml'),
    stringify({
      apiVersion: 'kustomize.config.k8s.io/v1beta1',
      kind: 'Kustomization',
      resources: resources.map(abs),
      components: components.map((c) => abs(`components/${c}`)),
    }),
  );
  return render(dir);
}

const RBAC_KINDS = new Set([
  'Namespace',
  'ServiceAccount',
  'ClusterRole',
  'ClusterRoleBinding',
  'Role',
  'RoleBinding',
]);

/** The namespace, ServiceAccounts and RBAC of `docs`, applied for real (server-side apply). */
export async function applyRbac(kubeconfigPath: string, docs: Manifest[]): Promise<void> {
  const wanted = docs.filter((d) => RBAC_KINDS.has(d.kind));
  await kubectl(['apply', '--server-side', '--field-manager', 'kni-tests', '-f', '-'], {
    kubeconfig: kubeconfigPath,
    input: wanted.map((d) => stringify(d)).join('---\n'),
  });
}

export interface ServiceAccountCredentials {
  token: string;
  /** A client configuration that authenticates as the ServiceAccount only. */
  kubeConfig: KubeConfig;
  /** The same as a kubeconfig file (for processes). */
  kubeconfigPath: string;
}

/** A token for `namespace/name` from the TokenRequest API, as the kubelet would mount it. */
export async function serviceAccountCredentials(
  admin: KubeConfig,
  server: string,
  caPem: string,
  name: string,
  namespace = INSTALL_NAMESPACE,
  expirationSeconds = 3600,
): Promise<ServiceAccountCredentials> {
  const res = await admin.makeApiClient(CoreV1Api).createNamespacedServiceAccountToken({
    name,
    namespace,
    body: { spec: { audiences: [], expirationSeconds } },
  });
  const token = res.status?.token;
  if (!token) throw new Error(`no token for ${namespace}/${name}`);
  const user = `system:serviceaccount:${namespace}:${name}`;
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'local',
        cluster: { server, 'certificate-authority-data': Buffer.from(caPem).toString('base64') },
      },
    ],
    users: [{ name: user, user: { token } }],
    contexts: [{ name: 'local', context: { cluster: 'local', user } }],
    'current-context': 'local',
  };
  const kubeconfigPath = join(tempDir('kni-sa-'), 'kubeconfig');
  writeFileSync(kubeconfigPath, stringify(config), { mode: 0o600 });
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(kubeconfigPath);
  return { token, kubeConfig, kubeconfigPath };
}
