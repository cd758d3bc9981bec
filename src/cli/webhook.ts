// `kubevirt-net-injector webhook`: the composition root of the admission webhook. Parses the
// configuration, builds logger, metrics registry, settings source and engine, serves until
// SIGTERM/SIGINT, then drains reviews in flight and returns 0.
import { stderr, stdout } from 'node:process';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { ConfigError, parseWebhookArgs, WEBHOOK_USAGE, type WebhookConfig } from '../config/webhook.js';
import { mutate } from '../mutate/index.js';
import { createLogger, type Logger } from '../telemetry/logger.js';
import { staticSettingsSource, type PolicySource, type SettingsSource } from '../webhook/settings-source.js';
import type { UseCheck } from '../webhook/validate.js';
import { startWebhook } from '../webhook/webhook.js';

export async function run(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseWebhookArgs(args);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    stderr.write(`kubevirt-net-injector webhook: ${err.message}\n\n${WEBHOOK_USAGE}`);
    return 2;
  }
  if (parsed.help) {
    stdout.write(WEBHOOK_USAGE);
    return 0;
  }
  const config = parsed.config;
  const logger = createLogger({ level: config.logLevel, name: 'webhook' });
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  const source = await settingsSource(config, logger);
  const webhook = await startWebhook(
    {
      host: config.bindAddress,
      port: config.port,
      certFile: config.tlsCert,
      keyFile: config.tlsKey,
      limits: { maxBodyBytes: config.maxBodyBytes },
      certPollMs: config.certPollMs,
    },
    { mutate, settings: source.settings, checkUse: source.checkUse, logger, registry },
  );

  const controller = config.withController
    ? await startEmbeddedController(config, logger, registry)
    : undefined;

  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  logger.info({ signal }, 'shutting down: finishing reviews in flight');
  await webhook.stop();
  await controller?.stop();
  await source.stop();
  logger.info('stopped');
  logger.flush();
  return 0;
}

interface Sources {
  settings: SettingsSource & PolicySource;
  checkUse: UseCheck;
  stop(): Promise<void>;
}

async function settingsSource(config: WebhookConfig, logger: Logger): Promise<Sources> {
  const defaults = { interfaceName: config.interfaceName, cloudInit: config.cloudInit };
  if (!config.cluster) {
    logger.info(
      { network: config.network },
      'static settings: every namespace reaching the webhook is opted in; no policies',
    );
    return {
      settings: staticSettingsSource({ ...defaults, network: config.network! }),
      checkUse: async () => 'unknown',
      stop: async () => {},
    };
  }
  // Loaded only in cluster mode, so static mode never pays for the Kubernetes client.
  const { KubeConfig } = await import('@kubernetes/client-node');
  const { clusterListWatch } = await import('../kube/list-watch.js');
  const { createClusterState } = await import('../kube/cluster-state.js');
  const { subjectAccessUseCheck } = await import('../kube/access.js');
  const kc = new KubeConfig();
  if ('kubeconfig' in config.cluster) kc.loadFromFile(config.cluster.kubeconfig);
  else kc.loadFromCluster();
  const state = createClusterState({
    ...clusterListWatch(kc),
    defaults: config.network !== undefined ? { ...defaults, network: config.network } : defaults,
    logger,
  });
  void state.start();
  return { settings: state, checkUse: subjectAccessUseCheck(kc, logger), stop: () => state.stop() };
}

/**
 * `--with-controller`: the controller in the webhook's process, on the same cluster
 * credentials, with its default settings and leader election (replicas of the webhook run
 * one controller between them). Loaded only when asked for.
 */
async function startEmbeddedController(
  config: WebhookConfig,
  logger: Logger,
  registry: Registry,
): Promise<{ stop(): Promise<void> }> {
  const { KubeConfig } = await import('@kubernetes/client-node');
  const { parseControllerArgs } = await import('../config/controller.js');
  const { startController } = await import('../controller/controller.js');
  const cluster = config.cluster!;
  const args = ['--leader-elect', ...('kubeconfig' in cluster ? ['--kubeconfig', cluster.kubeconfig] : [])];
  const parsed = parseControllerArgs(args);
  if (parsed.help) throw new Error('unreachable: no --help given');
  const kc = new KubeConfig();
  if ('kubeconfig' in cluster) kc.loadFromFile(cluster.kubeconfig);
  else kc.loadFromCluster();
  const controller = await startController({
    kubeConfig: kc,
    logger: logger.child({ component: 'controller' }),
    registry,
    settings: parsed.config.settings,
  });
  logger.info({ leaderElection: true }, 'controller started in the webhook process');
  return controller;
}
