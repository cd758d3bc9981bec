// Composition of the webhook's parts into a running server. Everything with state or I/O
// (engine, settings source, logger, metrics registry) is passed in.
import type { Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Logger } from '../telemetry/logger.js';
import { createWebhookMetrics } from '../telemetry/metrics.js';
import { createApp } from './app.js';
import { startCertWatcher, type CertWatcher } from './cert-watcher.js';
import { createAdmissionEndpoint } from './endpoint.js';
import { createMutatingHandler, type MutateFn } from './handler.js';
import { createWebhookServer, DEFAULT_SERVER_LIMITS, drain, listen, useKeyPair } from './server.js';
import type { ServerLimits } from './server.js';
import type { PolicySource, SettingsSource } from './settings-source.js';
import { createValidatingHandler, type UseCheck } from './validate.js';
import { DEFAULT_LIMITS, type TransportLimits } from './transport.js';

export const MUTATE_PATH = '/mutate';
export const VALIDATE_PATH = '/validate';

export interface WebhookOptions {
  host: string;
  port: number;
  certFile: string;
  keyFile: string;
  limits?: Partial<TransportLimits>;
  serverLimits?: Partial<ServerLimits>;
  certPollMs?: number;
}

export interface WebhookDeps {
  mutate: MutateFn;
  settings: SettingsSource & PolicySource;
  /** The `use` check for policies that require it (a SubjectAccessReview in a cluster). */
  checkUse: UseCheck;
  logger: Logger;
  registry: Registry;
}

export interface RunningWebhook {
  server: Server;
  address: AddressInfo;
  certs: CertWatcher;
  /** Graceful: stop accepting, finish reviews in flight, then close. */
  stop(graceMs?: number): Promise<void>;
}

export async function startWebhook(opts: WebhookOptions, deps: WebhookDeps): Promise<RunningWebhook> {
  const { logger } = deps;
  let draining = false;
  // The server is made after the first certificates are read; later ones are swapped into it.
  const live: { server?: Server } = {};
  const certs = await startCertWatcher({
    certFile: opts.certFile,
    keyFile: opts.keyFile,
    logger,
    onChange: (pair) => live.server && useKeyPair(live.server, pair),
    ...(opts.certPollMs !== undefined ? { pollMs: opts.certPollMs } : {}),
  });
  const metrics = createWebhookMetrics(deps.registry);
  const limits = { ...DEFAULT_LIMITS, ...opts.limits };
  const mutate = createAdmissionEndpoint({
    name: 'mutate',
    handler: createMutatingHandler({ mutate: deps.mutate, settings: deps.settings }),
    logger,
    metrics,
    limits,
    draining: () => draining,
  });
  const validate = createAdmissionEndpoint({
    name: 'validate',
    handler: createValidatingHandler({
      policies: deps.settings,
      settings: deps.settings,
      checkUse: deps.checkUse,
      decisions: metrics.policyDecisions,
    }),
    logger,
    metrics,
    limits,
    draining: () => draining,
  });
  const app = createApp({ registry: deps.registry, ready: () => !draining && deps.settings.ready() });
  const server = createWebhookServer({
    tls: certs.current(),
    admission: { [MUTATE_PATH]: mutate, [VALIDATE_PATH]: validate },
    app,
    limits: { ...DEFAULT_SERVER_LIMITS, ...opts.serverLimits },
  });
  live.server = server;
  server.on('tlsClientError', (err) => logger.debug({ err: err.message }, 'TLS handshake failed'));
  let address: AddressInfo;
  try {
    address = await listen(server, opts.port, opts.host);
  } catch (err) {
    certs.close();
    throw err;
  }
  logger.info({ host: address.address, port: address.port }, 'webhook listening');
  return {
    server,
    address,
    certs,
    stop: async (graceMs) => {
      draining = true;
      certs.close();
      await drain(server, graceMs);
    },
  };
}
