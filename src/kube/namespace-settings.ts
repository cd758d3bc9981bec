// Per-namespace opt-in and settings, read from a Namespace informer cache: the webhook never
// calls the API during a review. The informer (list + watch) is injected, so tests need no HTTP.
import type { Informer, ObjectCache, V1Namespace } from '@kubernetes/client-node';
import { Keys } from '../mutate/annotations.js';
import type { InjectSettings } from '../mutate/types.js';
import type { Logger } from '../telemetry/logger.js';
import type { NamespaceVerdict, SettingsSnapshot, SettingsSource } from '../webhook/settings-source.js';

export const INJECT_LABEL = Keys.inject;
export const NETWORK_ANNOTATION = Keys.network;
/** The informer lists and watches only opted-in namespaces; one that loses the label drops out. */
export const OPT_IN_SELECTOR = `${INJECT_LABEL}=enabled`;

/** Defaults for opted-in namespaces; `network` may be absent when every namespace names its own. */
export type NamespaceDefaults = Omit<InjectSettings, 'network'> & { network?: string };

export type NamespaceInformer = Informer<V1Namespace> & ObjectCache<V1Namespace>;

/** Pure: what a namespace object (or its absence from the cache) means for injection. */
export function namespaceVerdict(
  name: string,
  ns: V1Namespace | undefined,
  defaults: NamespaceDefaults,
): NamespaceVerdict {
  if (!ns || ns.metadata?.labels?.[INJECT_LABEL] !== 'enabled') {
    return { optedIn: false, reason: 'namespace not opted in' };
  }
  const network = ns.metadata?.annotations?.[NETWORK_ANNOTATION] || defaults.network;
  if (!network) {
    return {
      optedIn: false,
      reason: 'no network configured',
      warning: `kubevirt-net-injector: namespace ${name} opted in but names no network (annotation ${NETWORK_ANNOTATION}) and the webhook has no default; VM not injected`,
    };
  }
  return {
    optedIn: true,
    settings: { network, interfaceName: defaults.interfaceName, cloudInit: defaults.cloudInit },
  };
}

export interface InformerSourceOptions {
  informer: NamespaceInformer;
  defaults: NamespaceDefaults;
  logger: Logger;
  /** First retry delay after a failed list/watch; doubles up to `maxBackoffMs`, with jitter. */
  backoffMs?: number;
  maxBackoffMs?: number;
}

export interface InformerSettingsSource extends SettingsSource {
  /** Lists, then watches; resolves once the cache is filled (or the first attempt failed and a retry is scheduled). */
  start(): Promise<void>;
  stop(): Promise<void>;
}

export function createInformerSettingsSource(opts: InformerSourceOptions): InformerSettingsSource {
  const { informer, defaults, logger } = opts;
  const base = opts.backoffMs ?? 1000;
  const max = opts.maxBackoffMs ?? 30_000;
  let synced = false;
  let stopped = false;
  let failures = 0;
  let retry: NodeJS.Timeout | undefined;
  const listeners: (() => void)[] = [];
  const changed = () => {
    for (const listener of listeners) listener();
  };
  for (const event of ['add', 'update', 'delete'] as const) informer.on(event, changed);
  const notSynced: NamespaceVerdict = {
    optedIn: false,
    reason: 'namespace cache not synced',
    warning: `kubevirt-net-injector: not ready (namespace cache not synced); VM not injected`,
  };
  const notOptedIn = namespaceVerdict('', undefined, defaults);

  const connect = async () => {
    const before = failures;
    await informer.start();
    if (failures === before && !stopped) {
      failures = 0;
      if (!synced) {
        logger.info({ namespaces: informer.list().length }, 'namespace cache synced');
        synced = true;
        changed();
      }
    }
  };
  informer.on('error', (err: unknown) => {
    failures++;
    // ListWatch does not restart after an error (only after a clean close or a 410): we do.
    if (stopped) return;
    const delay = Math.min(max, base * 2 ** (failures - 1)) * (0.5 + Math.random() / 2);
    logger.warn(
      { err: err instanceof Error ? err.message : String(err), retryInMs: Math.round(delay) },
      'namespace watch failed',
    );
    clearTimeout(retry);
    retry = setTimeout(() => void connect(), delay);
  });

  return {
    forNamespace: (name) => (synced ? namespaceVerdict(name, informer.get(name), defaults) : notSynced),
    ready: () => synced,
    snapshot: (): SettingsSnapshot => {
      if (!synced) return { ready: false, namespaces: {}, otherwise: notSynced };
      const namespaces: Record<string, NamespaceVerdict> = {};
      for (const ns of informer.list()) {
        const name = ns.metadata?.name;
        if (name) namespaces[name] = namespaceVerdict(name, ns, defaults);
      }
      return { ready: true, namespaces, otherwise: notOptedIn };
    },
    onChange: (listener) => {
      listeners.push(listener);
    },
    start: async () => {
      stopped = false;
      await connect();
    },
    stop: async () => {
      stopped = true;
      clearTimeout(retry);
      await informer.stop();
    },
  };
}
