// A real local control plane: etcd, kube-apiserver and (optionally) kube-controller-manager on
// free 127.0.0.1 ports, built by test/controlplane/build.sh; certificates from openssl; an admin
// kubeconfig; KubeVirt's and Multus's CRDs installed and Established.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';

import { createCA, issue, serviceAccountKeys, type CertFiles, type CertificateAuthority } from './certs.js';
import { installCrds } from './crds.js';
import { writeKubeconfig } from './kubeconfig.js';
import { binaryPath } from './paths.js';
import { freePort } from './ports.js';
import { ProcessGroup, type ManagedProcess } from './process.js';
import { httpsGet, waitFor } from './wait.js';

/** What the garbage collector, namespace deletion and Services without selectors need. */
export const CONTROLLERS = [
  'garbage-collector-controller',
  'namespace-controller',
  'endpointslice-mirroring-controller',
  'serviceaccount-controller',
  'serviceaccount-token-controller',
];

export interface ControlPlaneOptions {
  /** Also run kube-controller-manager with CONTROLLERS (default false). */
  controllerManager?: boolean;
  /** Install the VM, VMI and NAD CRDs (default true). */
  crds?: boolean;
  /** Where certificates, etcd data, logs and pid files go (default: a new temp folder). */
  stateDir?: string;
  /** Kill everything when this Node process ends (default true; make dev-up passes false). */
  tied?: boolean;
  /** Progress messages (default: none). */
  log?: (message: string) => void;
  /**
   * Write an audit log (JSON lines, Metadata level) of the requests made by members of these
   * groups, e.g. `system:serviceaccounts:NAMESPACE`; nothing else is logged.
   */
  auditUserGroups?: string[];
}

export interface ControlPlane {
  kubeconfigPath: string;
  /** https://127.0.0.1:PORT */
  server: string;
  /** The CA that signed the apiserver's certificate and the admin's, PEM. */
  caPem: string;
  ca: CertificateAuthority;
  admin: CertFiles;
  stateDir: string;
  processes: ProcessGroup;
  /** The audit log, when `auditUserGroups` was given. */
  auditLogPath?: string;
  /** A fresh client configuration for the admin. */
  kubeConfig(): KubeConfig;
  /** Stops every process and removes the state folder (when tied). Safe to call twice. */
  stop(): Promise<void>;
  /** Stops kube-apiserver and starts it again on the same port and storage; resolves once ready. */
  restartApiserver(): Promise<void>;
  /** Stops kube-apiserver (SIGKILL with `kill`, a crash; else SIGTERM) and leaves it down. */
  stopApiserver(opts?: { kill?: boolean }): Promise<void>;
  /** Starts kube-apiserver again on the same port and storage; resolves once /readyz answers 200. */
  startApiserver(): Promise<void>;
  /** Stops etcd (SIGKILL with `kill`) and leaves it down; kube-apiserver keeps running. */
  stopEtcd(opts?: { kill?: boolean }): Promise<void>;
  /** Starts etcd again on the same ports and data folder; resolves once it reports healthy. */
  startEtcd(): Promise<void>;
}

const READY_TIMEOUT_MS = 90_000;

function failIfExited(group: ProcessGroup, proc: ManagedProcess): () => string | undefined {
  return () => {
    const code = proc.exitCode();
    return code === undefined ? undefined : `${proc.name} exited (${code}):\n${group.tail(proc.name)}`;
  };
}

async function startEtcd(
  group: ProcessGroup,
  dataDir: string,
  ports: { client: number; peer: number },
): Promise<string> {
  const { client, peer } = ports;
  const clientUrl = `http://127.0.0.1:${client}`;
  const peerUrl = `http://127.0.0.1:${peer}`;
  const etcd = group.spawn('etcd', binaryPath('etcd'), [
    '--name=default',
    `--data-dir=${dataDir}`,
    `--listen-client-urls=${clientUrl}`,
    `--advertise-client-urls=${clientUrl}`,
    `--listen-peer-urls=${peerUrl}`,
    `--initial-advertise-peer-urls=${peerUrl}`,
    `--initial-cluster=default=${peerUrl}`,
    '--unsafe-no-fsync',
    '--log-level=warn',
  ]);
  await waitFor(
    'etcd /health',
    async () => {
      const res = await fetch(`${clientUrl}/health`);
      const body = (await res.json()) as { health?: string };
      return body.health === 'true' ? true : undefined;
    },
    { timeoutMs: READY_TIMEOUT_MS, failIf: failIfExited(group, etcd) },
  );
  return clientUrl;
}

async function stopMember(group: ProcessGroup, name: string, kill = false): Promise<void> {
  const proc = group.get(name);
  if (proc) await (kill ? proc.kill() : proc.stop());
}

export async function startControlPlane(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const log = opts.log ?? (() => {});
  const stateDir = opts.stateDir ?? mkdtempSync(join(tmpdir(), 'kni-controlplane-'));
  const group = new ProcessGroup(stateDir, opts.tied ?? true);
  try {
    const ca = createCA(join(stateDir, 'pki'));
    const serving = issue(ca, {
      stem: 'apiserver',
      commonName: 'kube-apiserver',
      usage: 'server',
      ipSans: ['127.0.0.1'],
      dnsSans: ['localhost'],
    });
    const admin = issue(ca, {
      stem: 'admin',
      commonName: 'admin',
      organization: 'system:masters',
      usage: 'client',
    });
    const sa = serviceAccountKeys(ca.dir);

    const etcdPorts = { client: await freePort(), peer: await freePort() };
    const etcdUrl = await startEtcd(group, join(stateDir, 'etcd'), etcdPorts);
    log(`etcd serving on ${etcdUrl}`);

    const port = await freePort();
    const server = `https://127.0.0.1:${port}`;
    const apiserverArgs = [
      `--etcd-servers=${etcdUrl}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${port}`,
      `--cert-dir=${join(stateDir, 'apiserver')}`,
      `--tls-cert-file=${serving.cert}`,
      `--tls-private-key-file=${serving.key}`,
      `--client-ca-file=${ca.cert}`,
      '--authorization-mode=RBAC',
      `--service-account-key-file=${sa.publicKey}`,
      `--service-account-signing-key-file=${sa.privateKey}`,
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      '--service-cluster-ip-range=10.0.0.0/24',
      '--allow-privileged=true',
      '--profiling=false',
    ];
    let auditLogPath: string | undefined;
    if (opts.auditUserGroups?.length) {
      const policy = join(stateDir, 'audit-policy.json');
      auditLogPath = join(stateDir, 'audit.log');
      writeFileSync(
        policy,
        JSON.stringify({
          apiVersion: 'audit.k8s.io/v1',
          kind: 'Policy',
          omitStages: ['RequestReceived'],
          rules: [{ level: 'Metadata', userGroups: opts.auditUserGroups }, { level: 'None' }],
        }),
      );
      apiserverArgs.push(
        `--audit-policy-file=${policy}`,
        `--audit-log-path=${auditLogPath}`,
        '--audit-log-format=json',
        '--audit-log-mode=blocking',
      );
    }
    const tls = { ca: ca.pem, cert: readFileSync(admin.cert, 'utf8'), key: readFileSync(admin.key, 'utf8') };
    const startApiserver = async (): Promise<void> => {
      const proc = group.spawn('kube-apiserver', binaryPath('kube-apiserver'), apiserverArgs);
      await waitFor(
        'kube-apiserver /readyz',
        async () => ((await httpsGet(`${server}/readyz`, tls)).status === 200 ? true : undefined),
        { timeoutMs: READY_TIMEOUT_MS, intervalMs: 250, failIf: failIfExited(group, proc) },
      );
    };
    await startApiserver();
    log(`kube-apiserver ready on ${server}`);

    const kubeconfigPath = join(stateDir, 'kubeconfig');
    writeKubeconfig(kubeconfigPath, server, ca.cert, admin);
    const kubeConfig = (): KubeConfig => {
      const kc = new KubeConfig();
      kc.loadFromFile(kubeconfigPath);
      return kc;
    };

    if (opts.crds ?? true) {
      const names = await installCrds(kubeConfig(), READY_TIMEOUT_MS);
      log(`CRDs established: ${names.join(', ')}`);
    }

    if (opts.controllerManager) {
      const kcm = group.spawn('kube-controller-manager', binaryPath('kube-controller-manager'), [
        `--kubeconfig=${kubeconfigPath}`,
        `--controllers=${CONTROLLERS.join(',')}`,
        '--leader-elect=false',
        '--bind-address=127.0.0.1',
        '--secure-port=0',
        `--service-account-private-key-file=${sa.privateKey}`,
        `--root-ca-file=${ca.cert}`,
        '--use-service-account-credentials=false',
        '--concurrent-gc-syncs=5',
      ]);
      // The service-account controller creating "default" proves the manager is up and connected.
      const core = kubeConfig().makeApiClient(CoreV1Api);
      await waitFor(
        'kube-controller-manager (default service account)',
        async () =>
          (await core.readNamespacedServiceAccount({ name: 'default', namespace: 'default' }))
            ? true
            : undefined,
        { timeoutMs: READY_TIMEOUT_MS, intervalMs: 500, failIf: failIfExited(group, kcm) },
      );
      log('kube-controller-manager running');
    }

    let stopped = false;
    return {
      kubeconfigPath,
      server,
      caPem: ca.pem,
      ca,
      admin,
      stateDir,
      processes: group,
      ...(auditLogPath ? { auditLogPath } : {}),
      kubeConfig,
      stop: async () => {
        if (stopped) return;
        stopped = true;
        await group.stopAll();
      },
      restartApiserver: async () => {
        await group.get('kube-apiserver')?.stop();
        await startApiserver();
      },
      stopApiserver: (stopOpts = {}) => stopMember(group, 'kube-apiserver', stopOpts.kill),
      startApiserver,
      stopEtcd: (stopOpts = {}) => stopMember(group, 'etcd', stopOpts.kill),
      startEtcd: async () => {
        await startEtcd(group, join(stateDir, 'etcd'), etcdPorts);
      },
    };
  } catch (err) {
    await group.stopAll();
    throw err;
  }
}
