// The image (make image) run for real with podman, as the Deployments run it: the arguments
// from the rendered manifests, user 65532, a read-only root filesystem with no tmpfs, every
// capability dropped, in-cluster credentials (the ServiceAccount's token, its CA and namespace
// mounted where the kubelet mounts them; KUBERNETES_SERVICE_HOST/PORT set). The webhook
// container is registered with a real kube-apiserver and mutates a VM created through it; the
// same image as the controller publishes a simulated VMI's address. Start-to-ready is timed.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

import {
  AdmissionregistrationV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  DiscoveryV1Api,
  type KubeConfig,
  type V1MutatingWebhookConfiguration,
} from '@kubernetes/client-node';

import {
  freePort,
  httpsGet,
  issue,
  startControlPlane,
  waitFor,
  type ControlPlane,
  type ManagedProcess,
} from '../harness/index.js';
import {
  applyRbac,
  CONTROLLER_LEASE,
  CONTROLLER_SA,
  INSTALL_NAMESPACE,
  render,
  serviceAccountCredentials,
  tempDir,
  WEBHOOK_SA,
  type Manifest,
} from '../harness/install.js';
import { KubeVirtSimulator } from '../sim/kubevirt.js';
import { seedVm } from '../sim/vms.js';
import { virtualMachine } from '../integration/kube.js';

const run = promisify(execFile);
const IMAGE = process.env.IMAGE || 'localhost/kubevirt-net-injector:dev';
const PODMAN = (process.env.PODMAN || 'podman --runtime runc --cgroup-manager=cgroupfs').split(/\s+/);
const LIMITS = (process.env.PODMAN_LIMITS || '--ulimit nofile=1024:1024 --ulimit nproc=4096:4096').split(
  /\s+/,
);
const VM = { group: 'kubevirt.io', version: 'v1', plural: 'virtualmachines' } as const;
const SA_MOUNT = '/var/run/secrets/kubernetes.io/serviceaccount';

const podman = async (...args: string[]) =>
  (await run(PODMAN[0]!, [...PODMAN.slice(1), ...args])).stdout.trim();

interface ContainerSpec {
  args: string[];
  env?: { name: string; value?: string }[];
}
function containerOf(docs: Manifest[], deployment: string): ContainerSpec {
  const d = docs.find((x) => x.kind === 'Deployment' && x.metadata.name === deployment) as unknown as {
    spec: { template: { spec: { containers: ContainerSpec[] } } };
  };
  return d.spec.template.spec.containers[0]!;
}
/** The Deployment's arguments, with `--flag=value` overrides replacing the same flag. */
function withOverrides(args: string[], overrides: string[]): string[] {
  const flag = (a: string) => a.split('=')[0];
  const replaced = new Set(overrides.map(flag));
  return [...args.filter((a) => !replaced.has(flag(a))), ...overrides];
}

/** A folder readable by anyone (as a Secret volume is mounted), holding `files`. */
function volume(files: Record<string, string>): string {
  const dir = tempDir('kni-image-vol-');
  chmodSync(dir, 0o755);
  for (const [name, content] of Object.entries(files))
    writeFileSync(join(dir, name), content, { mode: 0o644 });
  return dir;
}

async function status(url: string, caPem?: string): Promise<number> {
  try {
    return url.startsWith('https:')
      ? (await httpsGet(url, { ca: caPem ?? '' })).status
      : (await fetch(url)).status;
  } catch {
    return 0;
  }
}

describe(`the image ${IMAGE} run with podman`, function () {
  this.timeout(120_000);
  let cp: ControlPlane;
  let admin: KubeConfig;
  let base: Manifest[];
  const suffix = randomBytes(3).toString('hex');
  const names: string[] = [];
  const procs: ManagedProcess[] = [];
  const timings: string[] = [];

  /** Runs the image in the foreground as a managed process (logs in the state folder). */
  const runContainer = async (
    role: string,
    opts: { args: string[]; env: Record<string, string>; mounts: string[] },
  ) => {
    const name = `kni-test-${role}-${suffix}`;
    names.push(name);
    const envFlags = Object.entries(opts.env).flatMap(([k, v]) => ['--env', `${k}=${v}`]);
    const proc = cp.processes.spawn(`${role}-container`, PODMAN[0]!, [
      ...PODMAN.slice(1),
      'run',
      '--rm',
      '--name',
      name,
      '--network=host',
      ...LIMITS,
      '--read-only',
      '--read-only-tmpfs=false',
      '--user=65532:65532',
      '--cap-drop=ALL',
      '--security-opt=no-new-privileges',
      ...opts.mounts.flatMap((m) => ['--volume', m]),
      ...envFlags,
      IMAGE,
      ...opts.args,
    ]);
    procs.push(proc);
    return { name, proc };
  };
  const inClusterEnv = () => ({
    KUBERNETES_SERVICE_HOST: '127.0.0.1',
    KUBERNETES_SERVICE_PORT: new URL(cp.server).port,
  });
  const serviceAccountVolume = async (sa: string) => {
    const creds = await serviceAccountCredentials(admin, cp.server, cp.caPem, sa);
    return `${volume({ token: creds.token, 'ca.crt': cp.caPem, namespace: INSTALL_NAMESPACE })}:${SA_MOUNT}:ro`;
  };
  const checkHardening = async (name: string) => {
    const [user, readOnly, caps] = (
      await podman(
        'inspect',
        '--format',
        '{{.Config.User}}|{{.HostConfig.ReadonlyRootfs}}|{{.EffectiveCaps}}',
        name,
      )
    ).split('|');
    assert.equal(user, '65532:65532');
    assert.equal(readOnly, 'true');
    assert.equal(caps, '[]', 'no capabilities');
    const pid = await podman('inspect', '--format', '{{.State.Pid}}', name);
    const { stdout } = await run('ps', ['-o', 'uid=', '-p', pid]);
    assert.equal(stdout.trim(), '65532', 'the node process runs as 65532');
    // Nothing on the root filesystem is writable, /tmp included (no tmpfs, as in Kubernetes).
    const probe =
      'for (const f of ["/app/x", "/tmp/x"]) try { require("fs").writeFileSync(f, "x"); console.log("wrote " + f) } catch (e) { console.log(e.code) }';
    assert.equal(await podman('exec', name, '/nodejs/bin/node', '-e', probe), 'EROFS\nEROFS');
  };

  before(async function () {
    this.timeout(240_000);
    cp = await startControlPlane({ log: (m) => console.log(`    [control plane] ${m}`) });
    admin = cp.kubeConfig();
    base = await render('manifests/base');
    await applyRbac(cp.kubeconfigPath, base);
  });

  after(async () => {
    for (const p of procs) await p.stop();
    for (const n of names) await podman('rm', '--force', '--ignore', n).catch(() => undefined);
    await cp?.stop();
    if (timings.length) console.log(`    ${timings.join('; ')}`);
  });

  it('is distroless Node 20: user 65532, exec-form entrypoint, production dependencies, no shell or npm', async () => {
    const [user, entrypoint, size] = (
      await podman(
        'image',
        'inspect',
        '--format',
        '{{.Config.User}}|{{json .Config.Entrypoint}}|{{.Size}}',
        IMAGE,
      )
    ).split('|');
    assert.equal(user, '65532:65532');
    assert.deepEqual(JSON.parse(entrypoint!), ['/nodejs/bin/node', '/app/dist/src/cli/main.js']);
    timings.push(`image ${(Number(size) / 1e6).toFixed(0)} MB`);
    const check = `const fs = require("fs");
      const has = (p) => fs.existsSync(p);
      console.log(JSON.stringify({
        node: process.version,
        express: has("/app/node_modules/express"), clientNode: has("/app/node_modules/@kubernetes/client-node"),
        dev: ["typescript", "mocha", "eslint", "sinon", "autocannon"].filter((m) => has("/app/node_modules/" + m)),
        shell: ["/bin/sh", "/bin/bash", "/usr/bin/sh"].filter(has), npm: has("/usr/local/bin/npm") || has("/usr/bin/npm"),
        tests: has("/app/dist/test"), sources: has("/app/src"),
      }));`;
    const out = JSON.parse(
      await podman(
        'run',
        '--rm',
        '--network=host',
        ...LIMITS,
        '--read-only',
        '--entrypoint',
        '/nodejs/bin/node',
        IMAGE,
        '-e',
        check,
      ),
    ) as Record<string, unknown>;
    assert.match(out.node as string, /^v20\./);
    assert.deepEqual(out, {
      ...out,
      express: true,
      clientNode: true,
      dev: [],
      shell: [],
      npm: false,
      tests: false,
      sources: false,
    });
  });

  it('as the webhook (read-only, non-root), registered with kube-apiserver, it mutates a VM', async () => {
    const serving = issue(cp.ca, {
      stem: 'image-webhook',
      commonName: 'kubevirt-net-injector-webhook',
      usage: 'server',
      ipSans: ['127.0.0.1'],
    });
    const tls = volume({
      'tls.crt': readFileSync(serving.cert, 'utf8'),
      'tls.key': readFileSync(serving.key, 'utf8'),
    });
    const port = await freePort();
    const spec = containerOf(base, 'kubevirt-net-injector-webhook');
    const started = Date.now();
    const { name, proc } = await runContainer('webhook', {
      args: withOverrides(spec.args, [`--port=${port}`, '--bind-address=127.0.0.1']),
      env: inClusterEnv(),
      mounts: [`${tls}:/tls:ro`, await serviceAccountVolume(WEBHOOK_SA)],
    });
    const readyz = `https://127.0.0.1:${port}/readyz`;
    await waitFor(
      'webhook container /readyz',
      async () => ((await status(readyz, cp.caPem)) === 200 ? true : undefined),
      {
        timeoutMs: 60_000,
        intervalMs: 50,
        failIf: () =>
          proc.exitCode() === undefined ? undefined : `exited:\n${cp.processes.tail('webhook-container')}`,
      },
    );
    timings.push(`webhook container start-to-ready ${Date.now() - started} ms`);
    await checkHardening(name);

    // The base's configuration, called by URL instead of through a Service.
    const config = base.find(
      (d) => d.kind === 'MutatingWebhookConfiguration',
    ) as unknown as V1MutatingWebhookConfiguration;
    for (const w of config.webhooks ?? [])
      w.clientConfig = {
        url: `https://127.0.0.1:${port}/mutate`,
        caBundle: Buffer.from(cp.caPem).toString('base64'),
      };
    await admin
      .makeApiClient(AdmissionregistrationV1Api)
      .createMutatingWebhookConfiguration({ body: config });
    const core = admin.makeApiClient(CoreV1Api);
    const labelled = `image-${suffix}`;
    await core.createNamespace({
      body: { metadata: { name: labelled, labels: { 'kubevirt-net-injector.io/inject': 'enabled' } } },
    });
    await core.createNamespace({ body: { metadata: { name: `plain-${suffix}` } } });
    const custom = admin.makeApiClient(CustomObjectsApi);
    const plainVm = (ns: string, vmName: string) => virtualMachine(ns, vmName);
    type Stored = {
      metadata: { annotations?: Record<string, string> };
      spec: { template: { spec: { networks?: { name: string; multus?: { networkName: string } }[] } } };
    };
    // The apiserver picks the configuration up within a moment: retry the create until it is.
    const stored = await waitFor(
      'a VM in the opted-in namespace injected by the container',
      async () => {
        const vmName = `db-${randomBytes(2).toString('hex')}`;
        const vm = (await custom.createNamespacedCustomObject({
          ...VM,
          namespace: labelled,
          body: plainVm(labelled, vmName),
        })) as Stored;
        return vm.metadata.annotations?.['kubevirt-net-injector.io/status'] === 'injected' ? vm : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 500 },
    );
    const networks = stored.spec.template.spec.networks ?? [];
    assert.deepEqual(
      networks.map((n) => n.multus?.networkName ?? n.name),
      ['default', 'ovs-net-br1'],
      "the pod network kept first, the Deployment's --network=ovs-net-br1 injected",
    );
    const untouched = (await custom.createNamespacedCustomObject({
      ...VM,
      namespace: `plain-${suffix}`,
      body: plainVm(`plain-${suffix}`, 'db'),
    })) as Stored;
    assert.equal(
      untouched.metadata.annotations?.['kubevirt-net-injector.io/status'],
      undefined,
      'not opted in: untouched',
    );
  });

  it('as the controller (leader election, read-only, non-root), it publishes a simulated VMI address', async () => {
    const port = await freePort();
    const spec = containerOf(base, 'kubevirt-net-injector-controller');
    const podName = `kubevirt-net-injector-controller-${suffix}`;
    const ns = `ctl-${suffix}`;
    await admin.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: ns } } });
    const sim = new KubeVirtSimulator(admin, {
      namespace: ns,
      addressFor: (vm, network) =>
        network === 'l2' && vm.metadata.name === 'mongodb' ? ['192.168.123.139'] : undefined,
    });
    await sim.start();
    try {
      const started = Date.now();
      const { name, proc } = await runContainer('controller', {
        args: withOverrides(spec.args, [`--metrics-address=127.0.0.1:${port}`]),
        // What the Deployment's downward API gives it.
        env: { ...inClusterEnv(), POD_NAME: podName, POD_NAMESPACE: INSTALL_NAMESPACE },
        mounts: [await serviceAccountVolume(CONTROLLER_SA)],
      });
      await waitFor(
        'controller container /readyz',
        async () => ((await status(`http://127.0.0.1:${port}/readyz`)) === 200 ? true : undefined),
        {
          timeoutMs: 60_000,
          intervalMs: 50,
          failIf: () =>
            proc.exitCode() === undefined
              ? undefined
              : `exited:\n${cp.processes.tail('controller-container')}`,
        },
      );
      timings.push(`controller container start-to-ready ${Date.now() - started} ms`);
      await checkHardening(name);

      await admin.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
        ...VM,
        namespace: ns,
        body: seedVm('mongodb', ns, {
          'kubevirt-net-injector.io/service-name': 'mongo',
          'kubevirt-net-injector.io/service-ports': 'mongo:27017',
        }),
      });
      const discovery = admin.makeApiClient(DiscoveryV1Api);
      const address = await waitFor(
        'EndpointSlice mongodb-ipv4 with the VMI address',
        async () => {
          const s = await discovery.readNamespacedEndpointSlice({ namespace: ns, name: 'mongodb-ipv4' });
          return s.endpoints[0]?.conditions?.ready ? s.endpoints[0].addresses[0] : undefined;
        },
        { timeoutMs: 60_000 },
      );
      assert.equal(address, '192.168.123.139');
      const lease = await admin
        .makeApiClient(CoordinationV1Api)
        .readNamespacedLease({ namespace: INSTALL_NAMESPACE, name: CONTROLLER_LEASE });
      assert.equal(lease.spec?.holderIdentity, podName, 'the container holds the Lease under its pod name');

      // SIGTERM (what the kubelet sends): released Lease, exit 0.
      const stopped = Date.now();
      await proc.stop();
      assert.equal(proc.exitCode(), 0, cp.processes.tail('controller-container'));
      timings.push(`controller container stop ${Date.now() - stopped} ms`);
      const released = await admin
        .makeApiClient(CoordinationV1Api)
        .readNamespacedLease({ namespace: INSTALL_NAMESPACE, name: CONTROLLER_LEASE });
      assert.notEqual(released.spec?.holderIdentity, podName, 'the Lease is released on SIGTERM');
    } finally {
      await sim.stop();
    }
  });
});
