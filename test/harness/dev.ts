// make dev-up / make dev-down: the local control plane, CoreDNS, our webhook (registered) and the
// controller, running in the background for people and scripts. State lives in .dev/:
//   .dev/kubeconfig   admin credentials        .dev/env   KUBECONFIG=, WEBHOOK_URL=, DNS_ADDR=
//   .dev/controlplane etcd, apiserver, KCM, CoreDNS (logs, pid files, certificates)
//   .dev/apps         webhook and controller (logs, pid files, serving certificate)
// Idempotent: `up` reuses whatever still runs and starts the rest; `down` stops all and removes .dev.
//
// usage: node dist/test/harness/dev.js up|down   (NETWORK=name overrides the injected network;
//        DEV_DIR=folder instead of .dev)
import { copyFileSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { KubeConfig } from '@kubernetes/client-node';

import type { CertificateAuthority } from './certs.js';
import { startControlPlane } from './controlplane.js';
import { startCoreDNS } from './coredns.js';
import { repoRoot } from './paths.js';
import { alive, ProcessGroup, stopRecorded } from './process.js';
import { httpsGet, waitFor } from './wait.js';
import { cliPath, startWebhookProcess, webhookHealthy } from './webhook.js';
import { registerValidatingWebhook, registerWebhook } from './webhook-config.js';

// DEV_DIR moves the state folder (the integration test of dev-up uses a temp folder).
const DEV = process.env.DEV_DIR || join(repoRoot(), '.dev');
const CP_DIR = join(DEV, 'controlplane');
const APPS_DIR = join(DEV, 'apps');
const STATE = join(DEV, 'state.json');
const KUBECONFIG = join(DEV, 'kubeconfig');

interface DevState {
  server: string;
  dnsAddr?: string;
  webhookUrl?: string;
  network?: string;
}

const say = (message: string): void => console.log(`dev: ${message}`);

function readState(): DevState | undefined {
  try {
    return JSON.parse(readFileSync(STATE, 'utf8')) as DevState;
  } catch {
    return undefined;
  }
}

function recordedAlive(dir: string, name: string): boolean {
  try {
    return alive(Number(readFileSync(join(dir, `${name}.pgid`), 'utf8').trim()));
  } catch {
    return false;
  }
}

function ca(): CertificateAuthority {
  const dir = join(CP_DIR, 'pki');
  const cert = join(dir, 'ca.crt');
  return { dir, cert, key: join(dir, 'ca.key'), pem: readFileSync(cert, 'utf8') };
}

async function apiserverReady(server: string): Promise<boolean> {
  const pki = join(CP_DIR, 'pki');
  try {
    const res = await httpsGet(`${server}/readyz`, {
      ca: readFileSync(join(pki, 'ca.crt'), 'utf8'),
      cert: readFileSync(join(pki, 'admin.crt'), 'utf8'),
      key: readFileSync(join(pki, 'admin.key'), 'utf8'),
    });
    return res.status === 200;
  } catch {
    return false;
  }
}

async function ensureControlPlane(): Promise<DevState> {
  const state = readState();
  const names = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'coredns'];
  if (state && names.every((n) => recordedAlive(CP_DIR, n)) && (await apiserverReady(state.server))) {
    say(`control plane already running at ${state.server}`);
    return state;
  }
  if (existsSync(DEV)) {
    say('stale or partial .dev/: stopping what is left and starting afresh');
    await down();
  }
  const cp = await startControlPlane({ stateDir: CP_DIR, tied: false, controllerManager: true, log: say });
  copyFileSync(cp.kubeconfigPath, KUBECONFIG);
  const dns = await startCoreDNS({ kubeconfigPath: KUBECONFIG, processes: cp.processes });
  say(`CoreDNS (kubernetes plugin) on ${dns.address}`);
  const fresh: DevState = { server: cp.server, dnsAddr: dns.address };
  writeFileSync(STATE, JSON.stringify(fresh, null, 2) + '\n');
  return fresh;
}

/** Starts the webhook and registers it; undefined (with the reason printed) when it cannot run. */
async function ensureWebhook(
  state: DevState,
  apps: ProcessGroup,
  kc: KubeConfig,
  network: string,
): Promise<string | undefined> {
  const running =
    state.webhookUrl &&
    recordedAlive(APPS_DIR, 'webhook') &&
    (await webhookHealthy(state.webhookUrl, ca().pem));
  if (running && state.network === network) {
    say(`webhook already serving at ${state.webhookUrl} (network ${network})`);
    return state.webhookUrl;
  }
  await stopRecordedOne(APPS_DIR, 'webhook');
  let url: string;
  try {
    // As deployed: in cluster mode (namespaces, policies and NADs from informers).
    ({ url } = await startWebhookProcess({
      ca: ca(),
      processes: apps,
      network,
      kubeconfigPath: KUBECONFIG,
    }));
  } catch (err) {
    say(`webhook did not start, control plane only: ${(err as Error).message}`);
    return undefined;
  }
  await registerWebhook(kc, { url, caPem: ca().pem });
  await registerValidatingWebhook(kc, url.replace(/\/mutate$/, '/validate'), ca().pem);
  say(`webhook serving at ${url} (network ${network}), mutating and validating configurations registered`);
  return url;
}

async function ensureController(apps: ProcessGroup): Promise<void> {
  if (recordedAlive(APPS_DIR, 'controller')) {
    say('controller already running');
    return;
  }
  const cli = cliPath();
  if (!existsSync(cli)) return;
  const proc = apps.spawn('controller', process.execPath, [cli, 'controller', '--kubeconfig', KUBECONFIG]);
  await sleep(2_000);
  if (proc.exitCode() !== undefined)
    say(`controller did not stay up (${proc.exitCode()}):\n${apps.tail('controller')}`);
  else say('controller running');
}

async function stopRecordedOne(dir: string, name: string): Promise<void> {
  if (recordedAlive(dir, name)) {
    const pid = Number(readFileSync(join(dir, `${name}.pgid`), 'utf8').trim());
    process.kill(-pid, 'SIGTERM');
    await waitFor(`${name} to stop`, async () => (alive(pid) ? undefined : true), {
      timeoutMs: 10_000,
    }).catch(() => process.kill(-pid, 'SIGKILL'));
  }
  rmSync(join(dir, `${name}.pgid`), { force: true });
}

async function up(): Promise<number> {
  const state = await ensureControlPlane();
  const kc = new KubeConfig();
  kc.loadFromFile(KUBECONFIG);
  const apps = new ProcessGroup(APPS_DIR, false);
  const network = process.env.NETWORK || 'ovs-net-br1';
  const webhookUrl = await ensureWebhook(state, apps, kc, network);
  await ensureController(apps);
  const next: DevState = { ...state, webhookUrl, network: webhookUrl ? network : undefined };
  writeFileSync(STATE, JSON.stringify(next, null, 2) + '\n');
  const env = [`KUBECONFIG=${KUBECONFIG}`];
  if (webhookUrl) env.push(`WEBHOOK_URL=${webhookUrl}`);
  if (next.dnsAddr) env.push(`DNS_ADDR=${next.dnsAddr}`);
  writeFileSync(join(DEV, 'env'), env.join('\n') + '\n');
  say(`kubeconfig: ${KUBECONFIG}`);
  say(`env (${join(DEV, 'env')}):\n${env.map((l) => `  ${l}`).join('\n')}`);
  return 0;
}

async function down(): Promise<number> {
  const stopped = [
    ...(await stopRecorded(APPS_DIR)),
    ...(await stopRecorded(CP_DIR, 10_000, ['coredns', 'kube-controller-manager', 'kube-apiserver', 'etcd'])),
  ];
  rmSync(DEV, { recursive: true, force: true });
  say(
    stopped.length ? `stopped ${stopped.join(', ')}; removed ${DEV}` : `nothing was running; removed ${DEV}`,
  );
  return 0;
}

const command = process.argv[2];
const run = command === 'up' ? up : command === 'down' ? down : undefined;
if (!run) {
  console.error('usage: node dist/test/harness/dev.js up|down');
  process.exit(2);
}
run().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`dev: ${command} failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
