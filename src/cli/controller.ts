// `kubevirt-net-injector controller`: the composition root of the controller. Parses the
// configuration, builds logger, metrics registry and client configuration, runs until
// SIGTERM/SIGINT, then stops (releasing the Lease if it led) and returns 0.
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { stderr, stdout } from 'node:process';
import { KubeConfig } from '@kubernetes/client-node';
import { collectDefaultMetrics, Registry } from 'prom-client';
import {
  CONTROLLER_USAGE,
  ControllerConfigError,
  parseControllerArgs,
  type ControllerConfig,
} from '../config/controller.js';
import { startController } from '../controller/controller.js';
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

  const controller = await startController({ kubeConfig: kc, logger, registry, settings: config.settings });
  const server = config.metricsAddress ? await serveMetrics(config, registry, () => controller) : undefined;
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

async function serveMetrics(
  config: ControllerConfig,
  registry: Registry,
  controller: () => { isLeader(): boolean },
): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url === '/metrics') {
      registry.metrics().then(
        (body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body),
        (err: unknown) => res.writeHead(500).end(String(err)),
      );
      return;
    }
    if (req.url === '/healthz' || req.url === '/readyz') {
      res
        .writeHead(200, { 'content-type': 'text/plain' })
        .end(controller().isLeader() ? 'ok (leader)\n' : 'ok\n');
      return;
    }
    res.writeHead(404).end();
  });
  const { host, port } = config.metricsAddress!;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}
