// Our webhook (`kubevirt-net-injector webhook`, from dist/) as a child process on a free
// 127.0.0.1 port, with a serving certificate signed by the control plane's CA, so the apiserver
// can call it by URL. make dev-up and the integration tests start it the same way.
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import { issue, type CertificateAuthority } from './certs.js';
import { repoRoot } from './paths.js';
import { freePort } from './ports.js';
import type { ManagedProcess, ProcessGroup } from './process.js';
import { httpsGet, waitFor } from './wait.js';

export interface WebhookProcessOptions {
  /** Signs the serving certificate; its PEM is the caBundle to register. */
  ca: CertificateAuthority;
  processes: ProcessGroup;
  /** The NetworkAttachmentDefinition to inject (default ovs-net-br1, as in the seed). */
  network?: string;
  /** Per-namespace settings from this cluster (omit: static settings). */
  kubeconfigPath?: string;
  /** Process name in the group (default "webhook"). */
  name?: string;
  /** Listen here (default: a free port); a replica restarted on its port keeps its URL. */
  port?: number;
  extraArgs?: string[];
}

export interface WebhookProcess {
  /** https://127.0.0.1:PORT/mutate */
  url: string;
  port: number;
  /** The serving certificate and key files the process reads (and reloads when they change). */
  serving: { cert: string; key: string };
  process: ManagedProcess;
  stop(): Promise<void>;
}

/** The compiled CLI; tests and make dev-up run after `make build`. */
export function cliPath(): string {
  return join(repoRoot(), 'dist', 'src', 'cli', 'main.js');
}

export async function webhookHealthy(url: string, caPem: string): Promise<boolean> {
  try {
    return (await httpsGet(new URL('/healthz', url).toString(), { ca: caPem })).status === 200;
  } catch {
    return false;
  }
}

export async function startWebhookProcess(opts: WebhookProcessOptions): Promise<WebhookProcess> {
  const cli = cliPath();
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run 'make build' first`);
  const name = opts.name ?? 'webhook';
  const serving = issue(opts.ca, {
    stem: name,
    commonName: 'kubevirt-net-injector-webhook',
    usage: 'server',
    ipSans: ['127.0.0.1'],
  });
  const port = opts.port ?? (await freePort());
  const url = `https://127.0.0.1:${port}/mutate`;
  const args = [
    cli,
    'webhook',
    '--tls-cert',
    serving.cert,
    '--tls-key',
    serving.key,
    '--bind-address',
    '127.0.0.1',
    '--port',
    String(port),
    '--network',
    opts.network ?? 'ovs-net-br1',
    ...(opts.kubeconfigPath ? ['--kubeconfig', opts.kubeconfigPath] : []),
    ...(opts.extraArgs ?? []),
  ];
  const proc = opts.processes.spawn(name, process.execPath, args);
  try {
    await waitFor(
      `${name} /healthz`,
      async () => ((await webhookHealthy(url, opts.ca.pem)) ? true : undefined),
      {
        timeoutMs: 30_000,
        failIf: () => {
          const code = proc.exitCode();
          return code === undefined ? undefined : `exited (${code}):\n${opts.processes.tail(name)}`;
        },
      },
    );
  } catch (err) {
    await proc.stop();
    throw err;
  }
  return {
    url,
    port,
    serving: { cert: serving.cert, key: serving.key },
    process: proc,
    stop: () => proc.stop(),
  };
}
