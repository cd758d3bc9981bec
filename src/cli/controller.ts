// `kubevirt-net-injector controller`: the composition root of the controller. Parses the
// configuration, builds logger, metrics registry and client configuration, runs until
// SIGTERM/SIGINT, then stops (releasing the Lease if it led) and returns 0.
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { stderr, stdout } from 'node:process';
import { KubeConfig } from '@kubernetes/client-node';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { CONTROLLER_USAGE, ControllerConfigError, parseControllerArgs } from '../config/controller.js';
import { startController, type RunningController } from '../controller/controller.js';
import { createLogger } from '../telemetry/logger.js';

export async function run(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseControllerArgs(args);
  } catch (err) {
    if (!(err instanceof ControllerConfigError)) throw err;
    stderr.write(`kubevirt-net-injector controller: ${err.message}\n\n${CONTROLLER_USAGE}`);
    return 2;
  }
  if (parsed.help) {
    stdout.write(CONTROLLER_USAGE);
    return 0;
  }
  const config = parsed.config;
  const logger = createLogger({ level: config.logLevel, name: 'controller' });
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const kc = new KubeConfig();
  if ('kubeconfig' in config.cluster) kc.loadFromFile(config.cluster.kubeconfig);
  else kc.loadFromCluster();

  // Probes answer from the start: /healthz while the process serves, /readyz once the caches
  // are synced (a replica that cannot reach the apiserver stays out of rotation, not restarted).
  const state: { controller?: RunningController; synced: boolean } = { synced: false };
  const server = config.metricsAddress
    ? await serveHealthAndMetrics(config.metricsAddress, registry, {
        synced: () => state.synced,
        leader: () => state.controller?.isLeader() ?? false,
      })
    : undefined;
  const controller = await startController({ kubeConfig: kc, logger, registry, settings: config.settings });
  state.controller = controller;
  void controller.synced.then(() => {
    state.synced = true;
  });
  logger.info(
    {
      namespace: config.settings.namespace ?? '(all)',
      leaderElection: config.settings.leaderElection.enabled,
    },
    'controller started',
  );

  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  logger.info({ signal }, 'shutting down');
  server?.close();
  await controller.stop();
  logger.info('stopped');
  logger.flush();
  return 0;
}

export interface HealthState {
  /** The informers' caches are filled. */
  synced(): boolean;
  leader(): boolean;
}

/** /metrics, /healthz (200 while serving) and /readyz (503 until the caches are synced). */
export async function serveHealthAndMetrics(
  address: { host: string; port: number },
  registry: Registry,
  state: HealthState,
): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url === '/metrics') {
      registry.metrics().then(
        (body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body),
        (err: unknown) => res.writeHead(500).end(String(err)),
      );
      return;
    }
    if (req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      return;
    }
    if (req.url === '/readyz') {
      const ready = state.synced();
      res
        .writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' })
        .end(ready ? (state.leader() ? 'ok (leader)\n' : 'ok\n') : 'caches not synced\n');
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(address.port, address.host, () => resolve());
  });
  return server;
}
