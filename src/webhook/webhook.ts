// Composition of the webhook's parts into a running server. Everything with state or I/O
// (engine, settings source, logger, metrics registry) is passed in.
import type { Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Logger } from '../telemetry/logger.js';
import { createWebhookMetrics } from '../telemetry/metrics.js';
import { createApp } from './app.js';
import { startCertWatcher, type CertWatcher } from './cert-watcher.js';
import { decide } from './decide.js';
import { createAdmissionEndpoint } from './endpoint.js';
import { createMutatingHandler, type MutateFn } from './handler.js';
import { createWebhookServer, drain, listen, useKeyPair } from './server.js';
import type { SettingsSource } from './settings-source.js';
import { DEFAULT_LIMITS, type TransportLimits } from './transport.js';
import { createWorkerPool, type WorkerPool } from './workers.js';

export interface WebhookOptions {
  host: string;
  port: number;
  certFile: string;
  keyFile: string;
  limits?: Partial<TransportLimits>;
  keepAliveTimeoutMs?: number;
  /** Limits on a request's headers and on the whole request, from its first byte (else 408). */
  headersTimeoutMs?: number;
  requestTimeoutMs?: number;
  certPollMs?: number;
  /** Review worker threads (0, the default here: decide on the main thread). */
  workers?: number;
  /** The workers' script: the real engine unless given (benchmarks give other engines). */
  workerEntry?: URL;
  /**
   * Send reviews to the workers even when none is in flight. By default such a review is
   * decided on the main thread at once (no thread hop at low rates); tests of the worker
   * path set this.
   */
  workerWhenIdle?: boolean;
  /** With workers: a review not decided by then is refused and its worker replaced. */
  reviewTimeoutMs?: number;
  /** Read POST /mutate off the TLS socket (default true; see lean-http.ts). */
  leanHttp?: boolean;
}

export interface WebhookDeps {
  mutate: MutateFn;
  settings: SettingsSource;
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
  const handler = createMutatingHandler({ mutate: deps.mutate, settings: deps.settings });
  let pool: WorkerPool | undefined;
  if (opts.workers) {
    pool = createWorkerPool({
      size: opts.workers,
      settings: deps.settings,
      maxDepth: limits.maxDepth,
      timeoutMs: opts.reviewTimeoutMs ?? 4000,
      logger,
      ...(opts.workerEntry ? { entry: opts.workerEntry } : {}),
      ...(opts.workerWhenIdle ? {} : { here: (body: Buffer) => decide(body, handler, limits.maxDepth) }),
    });
    try {
      await pool.ready;
    } catch (err) {
      certs.close();
      await pool.close();
      throw err;
    }
  }
  const admission = createAdmissionEndpoint({
    handler,
    ...(pool ? { remote: pool.decide } : {}),
    logger,
    metrics,
    limits,
    draining: () => draining,
  });
  const app = createApp({ registry: deps.registry, ready: () => !draining && deps.settings.ready() });
  const webServer = createWebhookServer({
    tls: certs.current(),
    admission,
    app,
    maxBodyBytes: limits.maxBodyBytes,
    onHandOff: (requestLine) => logger.debug({ requestLine }, "connection handed to node's HTTP server"),
    ...(opts.leanHttp === false ? { leanHttp: false } : {}),
    ...(opts.keepAliveTimeoutMs !== undefined ? { keepAliveTimeoutMs: opts.keepAliveTimeoutMs } : {}),
    ...(opts.headersTimeoutMs !== undefined ? { headersTimeoutMs: opts.headersTimeoutMs } : {}),
    ...(opts.requestTimeoutMs !== undefined ? { requestTimeoutMs: opts.requestTimeoutMs } : {}),
  });
  const server = webServer.https;
  live.server = server;
  server.on('tlsClientError', (err) => logger.debug({ err: err.message }, 'TLS handshake failed'));
  let address: AddressInfo;
  try {
    address = await listen(server, opts.port, opts.host);
  } catch (err) {
    certs.close();
    await pool?.close();
    throw err;
  }
  logger.info({ host: address.address, port: address.port, workers: opts.workers ?? 0 }, 'webhook listening');
  return {
    server,
    address,
    certs,
    stop: async (graceMs) => {
      draining = true;
      certs.close();
      await drain(webServer, graceMs);
      await pool?.close();
    },
  };
}
