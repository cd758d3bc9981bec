// Configuration of the `webhook` command: flags, optional config file (YAML or JSON) and the
// environment, parsed and validated once. The only module (with src/cli) that reads process.env.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { isDnsLabel, parseNetworkRef } from '../mutate/names.js';
import { LOG_LEVELS } from './log-levels.js';

export interface WebhookConfig {
  tlsCert: string;
  tlsKey: string;
  port: number;
  bindAddress: string;
  /** Default NAD (`name` or `namespace/name`); required without a cluster. */
  network?: string;
  interfaceName: string;
  cloudInit: boolean;
  /** Cluster mode: a kubeconfig file, or in-cluster credentials. Absent: static settings. */
  cluster?: { kubeconfig: string } | { inCluster: true };
  logLevel: string;
  maxBodyBytes: number;
  certPollMs: number;
  /** Also run the controller in this process (needs a cluster). */
  withController: boolean;
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export type WebhookArgs = { help: true } | { help: false; config: WebhookConfig };

export const WEBHOOK_USAGE = `usage: kubevirt-net-injector webhook --tls-cert FILE --tls-key FILE [flags]

Serves the injection as a mutating admission webhook over HTTPS: POST /mutate
(AdmissionReview v1), GET /healthz, /readyz, /metrics.

flags:
  --tls-cert FILE      serving certificate (PEM); reloaded when the file changes
  --tls-key FILE       its private key (PEM)
  --port N             port to listen on (default 8443)
  --bind-address IP    address to listen on (default 0.0.0.0)
  --network NAD        NetworkAttachmentDefinition to inject: name or namespace/name
  --interface NAME     name of the injected network and interface (default l2)
  --no-cloud-init      do not patch the guest's cloud-init
  --config FILE        YAML/JSON file with any of: tlsCert, tlsKey, port, bindAddress,
                       network, interfaceName, cloudInit, kubeconfig, logLevel,
                       maxBodyBytes, certPollMs (flags win over the file)
  --kubeconfig FILE    read namespace opt-in and settings from this cluster
  --log-level LEVEL    trace, debug, info (default), warn, error (env LOG_LEVEL)
  --with-controller    also run the controller (Services for VM addresses) in this
                       process, with leader election and its default settings
  -h, --help           this text

Without --kubeconfig and outside a cluster, settings are static (--network is then
required) and every namespace that reaches the webhook counts as opted in: the
MutatingWebhookConfiguration's namespaceSelector already filtered them. With a
cluster, a Namespace informer decides: label kubevirt-net-injector.io/inject=enabled
opts in, annotation kubevirt-net-injector.io/network overrides the network.
`;

const FILE_KEYS = new Set([
  'tlsCert',
  'tlsKey',
  'port',
  'bindAddress',
  'network',
  'interfaceName',
  'cloudInit',
  'kubeconfig',
  'logLevel',
  'maxBodyBytes',
  'certPollMs',
]);

export function parseWebhookArgs(
  args: string[],
  env: Record<string, string | undefined> = process.env,
  readFile: (path: string) => string = (path) => readFileSync(path, 'utf8'),
): WebhookArgs {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        'tls-cert': { type: 'string' },
        'tls-key': { type: 'string' },
        port: { type: 'string' },
        'bind-address': { type: 'string' },
        network: { type: 'string' },
        interface: { type: 'string' },
        'no-cloud-init': { type: 'boolean' },
        config: { type: 'string' },
        kubeconfig: { type: 'string' },
        'log-level': { type: 'string' },
        'with-controller': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  if (values.help) return { help: true };

  const file = values.config !== undefined ? readConfigFile(values.config, readFile) : {};
  const pick = (flag: string | undefined, key: string): unknown => flag ?? file[key];

  const tlsCert = requireString(pick(values['tls-cert'], 'tlsCert'), '--tls-cert');
  const tlsKey = requireString(pick(values['tls-key'], 'tlsKey'), '--tls-key');
  const port = toInt(pick(values.port, 'port') ?? 8443, '--port', 0, 65535);
  const bindAddress =
    optionalString(pick(values['bind-address'], 'bindAddress'), '--bind-address') ?? '0.0.0.0';
  const network = optionalString(pick(values.network, 'network'), '--network');
  if (network !== undefined) checkNetwork(network);
  const interfaceName = optionalString(pick(values.interface, 'interfaceName'), '--interface') ?? 'l2';
  if (!isDnsLabel(interfaceName))
    throw new ConfigError(`--interface must be a DNS label, got ${interfaceName}`);
  const cloudInitFile = file.cloudInit;
  if (cloudInitFile !== undefined && typeof cloudInitFile !== 'boolean')
    throw new ConfigError('cloudInit must be a boolean');
  const cloudInit = values['no-cloud-init'] ? false : (cloudInitFile ?? true);
  const kubeconfig = optionalString(pick(values.kubeconfig, 'kubeconfig'), '--kubeconfig');
  const logLevel =
    optionalString(pick(values['log-level'], 'logLevel'), '--log-level') ?? env.LOG_LEVEL ?? 'info';
  if (!LOG_LEVELS.has(logLevel)) throw new ConfigError(`unknown log level ${logLevel}`);
  const maxBodyBytes = toInt(file.maxBodyBytes ?? 3 * 1024 * 1024, 'maxBodyBytes', 1024, 64 * 1024 * 1024);
  const certPollMs = toInt(file.certPollMs ?? 10_000, 'certPollMs', 100, 3_600_000);

  const cluster: WebhookConfig['cluster'] =
    kubeconfig !== undefined ? { kubeconfig } : env.KUBERNETES_SERVICE_HOST ? { inCluster: true } : undefined;
  const withController = values['with-controller'] ?? false;
  if (withController && !cluster) {
    throw new ConfigError('--with-controller needs a cluster (--kubeconfig, or run in a pod)');
  }
  if (!cluster && network === undefined) {
    throw new ConfigError('--network is required when there is no cluster (no --kubeconfig, not in a pod)');
  }
  const config: WebhookConfig = {
    tlsCert,
    tlsKey,
    port,
    bindAddress,
    interfaceName,
    cloudInit,
    logLevel,
    maxBodyBytes,
    certPollMs,
    withController,
  };
  if (network !== undefined) config.network = network;
  if (cluster) config.cluster = cluster;
  return { help: false, config };
}

function readConfigFile(path: string, readFile: (path: string) => string): Record<string, unknown> {
  let text: string;
  try {
    text = readFile(path);
  } catch (err) {
    throw new ConfigError(`cannot read --config ${path}: ${(err as Error).message}`);
  }
  let value: unknown;
  try {
    value = parseYaml(text);
  } catch (err) {
    throw new ConfigError(`--config ${path} is not YAML/JSON: ${(err as Error).message}`);
  }
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value))
    throw new ConfigError(`--config ${path} must hold a mapping`);
  for (const key of Object.keys(value)) {
    if (!FILE_KEYS.has(key)) throw new ConfigError(`--config ${path}: unknown key ${key}`);
  }
  return value as Record<string, unknown>;
}

function checkNetwork(network: string): void {
  if (!parseNetworkRef(network)) {
    throw new ConfigError(`--network must be name or namespace/name (DNS labels), got ${network}`);
  }
}

function requireString(v: unknown, name: string): string {
  const s = optionalString(v, name);
  if (s === undefined) throw new ConfigError(`${name} is required`);
  return s;
}

function optionalString(v: unknown, name: string): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v === '') throw new ConfigError(`${name} must be a non-empty string`);
  return v;
}

function toInt(v: unknown, name: string, min: number, max: number): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(n) || n < min || n > max)
    throw new ConfigError(`${name} must be an integer in [${min}, ${max}]`);
  return n;
}
