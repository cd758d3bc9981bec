// Configuration of the `controller` command: flags and the environment, parsed and validated
// once. With src/cli, the only place that reads process.env (passed in here as `env`).
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import type { ControllerSettings } from '../controller/controller.js';
import { isDnsLabel } from '../mutate/names.js';
import { LOG_LEVELS } from './log-levels.js';

export interface ControllerConfig {
  /** A kubeconfig file, or in-cluster credentials. */
  cluster: { kubeconfig: string } | { inCluster: true };
  settings: ControllerSettings;
  /** Serve /metrics, /healthz and /readyz here; undefined: no HTTP server. */
  metricsAddress?: { host: string; port: number };
  logLevel: string;
}

export class ControllerConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ControllerConfigError';
  }
}

export type ControllerArgs = { help: true } | { help: false; config: ControllerConfig };

export const CONTROLLER_USAGE = `usage: kubevirt-net-injector controller [flags]

Publishes each VirtualMachine's secondary (Multus) IP as a selector-less headless
Service with one EndpointSlice per VM and IP family, so cluster DNS names such as
mongo.vm.svc.cluster.local resolve to the VM's L2 address. A VM opts in with the
annotations kubevirt-net-injector.io/service-name (default: the VM name) and/or
kubevirt-net-injector.io/service-ports (e.g. mongo:27017,admin:28017/TCP).

flags:
  --kubeconfig FILE         cluster credentials (env KUBECONFIG; default: in-cluster)
  --namespace NS            watch only this namespace (default: all)
  --grace DURATION          how long a lost address stays as a not-ready endpoint
                            before it is removed (default 10s)
  --legacy-endpoints        also write core/v1 Endpoints (skip-mirror labelled)
  --workers N               parallel reconciles (default 4)
  --resync DURATION         queue every object again this often (default 5m)
  --watch-silence DURATION  reopen a watch silent this long (default 5m)
  --relist DURATION         full relist this often, 0 = never (default 30m)
  --request-timeout DURATION  abandon an API request after this long; a watch, if no
                            response headers came by then (default 30s)
  --leader-elect            run leader election; only the leader writes
  --lease-namespace NS      namespace of the Lease (default: env POD_NAMESPACE or default)
  --lease-name NAME         (default kubevirt-net-injector-controller)
  --identity ID             this replica's name in the Lease (default: env POD_NAME or hostname)
  --metrics-address H:P     serve /metrics, /healthz and /readyz (200 once the caches
                            are synced) (default: off)
  --log-level LEVEL         trace, debug, info (default), warn, error (env LOG_LEVEL)
  -h, --help                this text

Durations: a number with ms, s, m or h (e.g. 500ms, 10s, 5m).
`;

export function parseDuration(text: string, name: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text.trim());
  if (!m)
    throw new ControllerConfigError(`${name} must be a duration such as 500ms, 10s, 5m or 1h, got '${text}'`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
  return Math.round(Number(m[1]) * unit);
}

function parseAddress(text: string): { host: string; port: number } {
  const m = /^(.*):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535)
    throw new ControllerConfigError(`--metrics-address must be HOST:PORT, got '${text}'`);
  return { host: m[1] || '127.0.0.1', port };
}

export function parseControllerArgs(
  args: string[],
  env: Record<string, string | undefined> = process.env,
): ControllerArgs {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        kubeconfig: { type: 'string' },
        namespace: { type: 'string' },
        grace: { type: 'string' },
        'legacy-endpoints': { type: 'boolean' },
        workers: { type: 'string' },
        resync: { type: 'string' },
        'watch-silence': { type: 'string' },
        relist: { type: 'string' },
        'request-timeout': { type: 'string' },
        'leader-elect': { type: 'boolean' },
        'lease-namespace': { type: 'string' },
        'lease-name': { type: 'string' },
        identity: { type: 'string' },
        'metrics-address': { type: 'string' },
        'log-level': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw new ControllerConfigError((err as Error).message);
  }
  if (values.help) return { help: true };

  const kubeconfig = values.kubeconfig ?? env.KUBECONFIG;
  let cluster: ControllerConfig['cluster'];
  if (kubeconfig) cluster = { kubeconfig };
  else if (env.KUBERNETES_SERVICE_HOST) cluster = { inCluster: true };
  else throw new ControllerConfigError('no cluster: pass --kubeconfig (or set KUBECONFIG), or run in a pod');

  const namespace = values.namespace;
  if (namespace !== undefined && !isDnsLabel(namespace)) {
    throw new ControllerConfigError(`--namespace must be a DNS label, got '${namespace}'`);
  }
  const workersText = values.workers ?? '4';
  const workers = Number(workersText);
  if (!/^\d+$/.test(workersText) || workers < 1 || workers > 64) {
    throw new ControllerConfigError(`--workers must be an integer in [1, 64], got '${workersText}'`);
  }
  const graceMs = parseDuration(values.grace ?? '10s', '--grace');
  const resyncMs = parseDuration(values.resync ?? '5m', '--resync');
  const watchSilenceMs = parseDuration(values['watch-silence'] ?? '5m', '--watch-silence');
  const relistMs = parseDuration(values.relist ?? '30m', '--relist');
  if (resyncMs < 1000) throw new ControllerConfigError('--resync must be at least 1s');
  if (watchSilenceMs < 2000) throw new ControllerConfigError('--watch-silence must be at least 2s');
  const requestTimeoutMs = parseDuration(values['request-timeout'] ?? '30s', '--request-timeout');
  if (requestTimeoutMs < 1000) throw new ControllerConfigError('--request-timeout must be at least 1s');
  const leaseNamespace = values['lease-namespace'] ?? env.POD_NAMESPACE ?? 'default';
  const leaseName = values['lease-name'] ?? 'kubevirt-net-injector-controller';
  for (const [flag, v] of [
    ['--lease-namespace', leaseNamespace],
    ['--lease-name', leaseName],
  ] as const) {
    if (!isDnsLabel(v)) throw new ControllerConfigError(`${flag} must be a DNS label, got '${v}'`);
  }
  const logLevel = values['log-level'] ?? env.LOG_LEVEL ?? 'info';
  if (!LOG_LEVELS.has(logLevel)) throw new ControllerConfigError(`unknown log level ${logLevel}`);

  const settings: ControllerSettings = {
    graceMs,
    legacyEndpoints: values['legacy-endpoints'] ?? false,
    workers,
    resyncMs,
    watchSilenceMs,
    relistMs,
    requestTimeoutMs,
    leaderElection: {
      enabled: values['leader-elect'] ?? false,
      namespace: leaseNamespace,
      name: leaseName,
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
    },
    identity: values.identity ?? env.POD_NAME ?? `${hostname()}-${process.pid}`,
  };
  if (namespace !== undefined) settings.namespace = namespace;
  const config: ControllerConfig = { cluster, settings, logLevel };
  if (values['metrics-address'] !== undefined)
    config.metricsAddress = parseAddress(values['metrics-address']);
  return { help: false, config };
}
