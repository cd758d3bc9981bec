// CoreDNS with the kubernetes plugin, answering cluster.local names from a control plane's
// apiserver, on a free 127.0.0.1 port (UDP and TCP).
import { Resolver } from 'node:dns/promises';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { binaryPath } from './paths.js';
import { freePort } from './ports.js';
import type { ProcessGroup } from './process.js';
import { waitFor } from './wait.js';

export interface CoreDNS {
  /** 127.0.0.1:PORT, for a resolver (UDP and TCP). */
  address: string;
  host: string;
  port: number;
  stop(): Promise<void>;
}

export interface CoreDNSOptions {
  kubeconfigPath: string;
  /** The process group (and state folder) to run in, e.g. a ControlPlane's `processes`. */
  processes: ProcessGroup;
  zone?: string;
}

export async function startCoreDNS(opts: CoreDNSOptions): Promise<CoreDNS> {
  const zone = opts.zone ?? 'cluster.local';
  const dir = opts.processes.stateDir;
  const port = await freePort({ udp: true });
  const readyPort = await freePort();
  const corefile = join(dir, 'Corefile');
  writeFileSync(
    corefile,
    [
      `${zone}:${port} {`,
      '  bind 127.0.0.1',
      '  errors',
      `  ready 127.0.0.1:${readyPort}`,
      `  kubernetes ${zone} {`,
      `    kubeconfig ${opts.kubeconfigPath}`,
      '  }',
      '}',
      '',
    ].join('\n'),
  );
  const proc = opts.processes.spawn('coredns', binaryPath('coredns'), ['-conf', corefile]);
  // /ready answers 200 once the kubernetes plugin has synced its caches with the apiserver.
  await waitFor(
    'CoreDNS /ready',
    async () => ((await fetch(`http://127.0.0.1:${readyPort}/ready`)).status === 200 ? true : undefined),
    {
      timeoutMs: 60_000,
      failIf: () => {
        const code = proc.exitCode();
        return code === undefined
          ? undefined
          : `coredns exited (${code}):\n${opts.processes.tail('coredns')}`;
      },
    },
  );
  // /ready speaks for the plugins, not for the DNS listener: wait until a query over UDP gets
  // an answer (any answer, NXDOMAIN included) before handing the server out.
  const resolver = new Resolver({ timeout: 1_000, tries: 1 });
  resolver.setServers([`127.0.0.1:${port}`]);
  await waitFor(
    'CoreDNS answering on UDP',
    async () => {
      try {
        await resolver.resolve4(`kubernetes.default.svc.${zone}`);
        return true;
      } catch (err) {
        const code = (err as { code?: string }).code;
        return code === 'ECONNREFUSED' || code === 'ETIMEOUT' ? undefined : true;
      }
    },
    { timeoutMs: 20_000, intervalMs: 100 },
  );
  return { address: `127.0.0.1:${port}`, host: '127.0.0.1', port, stop: () => proc.stop() };
}
