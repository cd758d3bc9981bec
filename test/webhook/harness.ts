// Starts the real webhook in-process (real engine, real TLS) with a log captured in memory.
import { Writable } from 'node:stream';
import { Registry } from 'prom-client';
import { mutate } from '../../src/mutate/index.js';
import type { InjectSettings } from '../../src/mutate/types.js';
import type { MutateFn } from '../../src/webhook/handler.js';
import { createLogger } from '../../src/telemetry/logger.js';
import {
  staticSettingsSource,
  type PolicySource,
  type SettingsSource,
} from '../../src/webhook/settings-source.js';
import { startWebhook, type RunningWebhook, type WebhookOptions } from '../../src/webhook/webhook.js';
import { makeCert, tempDir, type CertFiles } from './support.js';

export const SETTINGS: InjectSettings = { network: 'ovs-net-br1', interfaceName: 'l2', cloudInit: true };

/** A logger that writes nothing, for parts tested without their log. */
export const quiet = createLogger({
  level: 'silent',
  destination: new Writable({ write: (_c, _e, cb) => cb() }),
});

export interface Harness {
  webhook: RunningWebhook;
  port: number;
  certs: CertFiles;
  dir: string;
  registry: Registry;
  /** Every log line written so far, raw. */
  log: () => string;
}

export async function startHarness(
  opts: Partial<WebhookOptions> = {},
  settings: SettingsSource & PolicySource = staticSettingsSource(SETTINGS),
  engine: MutateFn = mutate,
): Promise<Harness> {
  const dir = tempDir();
  const certs = makeCert(dir);
  let captured = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      captured += chunk.toString('utf8');
      cb();
    },
  });
  const logger = createLogger({ level: 'debug', destination: sink });
  const registry = new Registry();
  const webhook = await startWebhook(
    { host: '127.0.0.1', port: 0, certFile: certs.certFile, keyFile: certs.keyFile, ...opts },
    { mutate: engine, settings, checkUse: async () => 'unknown', logger, registry },
  );
  return { webhook, port: webhook.address.port, certs, dir, registry, log: () => captured };
}
