// Per-namespace opt-in and settings, read from a Namespace informer cache: the webhook never
// calls the API during a review. The cache is the project's resilient informer (src/kube/
// informer.ts: relist on 410, watchdog on silence, backoff with jitter); its list and watch
// functions are injected, so tests need no HTTP.
import type { ListPromise, V1Namespace } from '@kubernetes/client-node';
import { Keys } from '../mutate/annotations.js';
import type { InjectSettings } from '../mutate/types.js';
import type { Logger } from '../telemetry/logger.js';
import type { NamespaceVerdict, SettingsSource } from '../webhook/settings-source.js';
import type { BackoffOptions } from './backoff.js';
import { ResilientInformer, type WatchFn } from './informer.js';

export const INJECT_LABEL = Keys.inject;
export const NETWORK_ANNOTATION = Keys.network;
/** The informer lists and watches only opted-in namespaces; one that loses the label drops out. */
export const OPT_IN_SELECTOR = `${INJECT_LABEL}=enabled`;
export const NAMESPACES_PATH = '/api/v1/namespaces';

/** Defaults for opted-in namespaces; `network` may be absent when every namespace names its own. */
export type NamespaceDefaults = Omit<InjectSettings, 'network'> & { network?: string };

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
  /** Lists opted-in namespaces (labelSelector OPT_IN_SELECTOR). */
  list: ListPromise<V1Namespace>;
  watch: WatchFn;
  defaults: NamespaceDefaults;
  logger: Logger;
  backoff?: BackoffOptions;
  /** A watch with no event (bookmarks count) for this long is reopened. */
  silenceMs?: number;
  /** Full relist this often (0: never). */
  relistMs?: number;
  onRestart?: (reason: 'error' | 'silent' | 'relist') => void;
}

export interface InformerSettingsSource extends SettingsSource {
  /** Lists, then watches; resolves once the first attempt is made (retries go on after a failure). */
  start(): Promise<void>;
  stop(): Promise<void>;
}

const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 500, capMs: 30_000, jitter: 0.5 };

export function createInformerSettingsSource(opts: InformerSourceOptions): InformerSettingsSource {
  const { defaults, logger } = opts;
  const informer = new ResilientInformer<V1Namespace>({
    name: 'namespaces',
    path: NAMESPACES_PATH,
    list: opts.list,
    watch: opts.watch,
    labelSelector: OPT_IN_SELECTOR,
    backoff: opts.backoff ?? DEFAULT_BACKOFF,
    silenceMs: opts.silenceMs ?? 120_000,
    relistMs: opts.relistMs ?? 30 * 60_000,
    logger,
    ...(opts.onRestart ? { onRestart: opts.onRestart } : {}),
  });
  let synced = false;
  void informer.synced.then(() => {
    synced = true;
    logger.info({ namespaces: informer.list().length }, 'namespace cache synced');
  });
  const notSynced: NamespaceVerdict = {
    optedIn: false,
    reason: 'namespace cache not synced',
    warning: `kubevirt-net-injector: not ready (namespace cache not synced); VM not injected`,
  };

  return {
    forNamespace: (name) => (synced ? namespaceVerdict(name, informer.get(name), defaults) : notSynced),
    ready: () => synced,
    start: () => informer.start(),
    stop: () => informer.stop(),
  };
}
