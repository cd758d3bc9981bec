// The cluster as the webhook (and the controller's audit) sees it: opted-in Namespaces,
// NetworkAttachmentPolicies and NetworkAttachmentDefinitions, each kept by the project's
// resilient informer (informer.ts: relist on 410, watchdog on silence, backoff with jitter).
// Nothing here calls the API during a review. List and watch functions are injected, so tests
// need no HTTP (list-watch.ts makes the real ones).
import type { KubernetesObject, ListPromise } from '@kubernetes/client-node';
import { matches } from '../policy/selector.js';
import { refText, resolveRef, type NadRef } from '../policy/refs.js';
import {
  settingsFor,
  type InjectDefaults,
  type InjectVerdict,
  type NamespaceInfo,
} from '../policy/settings.js';
import type { NetworkAttachmentPolicy } from '../policy/types.js';
import type { PolicySource, SettingsSource } from '../webhook/settings-source.js';
import type { BackoffOptions } from './backoff.js';
import { ResilientInformer, type InformerLogger, type WatchFn } from './informer.js';

export const OPT_IN_SELECTOR = 'kubevirt-net-injector.io/inject=enabled';

export interface ListAndWatch<T extends KubernetesObject> {
  path: string;
  list: ListPromise<T>;
  labelSelector?: string;
}

export interface ClusterStateOptions {
  /** Opted-in Namespaces (label selector OPT_IN_SELECTOR). */
  namespaces: ListAndWatch<KubernetesObject>;
  policies: ListAndWatch<KubernetesObject>;
  nads: ListAndWatch<KubernetesObject>;
  watch: WatchFn;
  defaults: InjectDefaults;
  /** pino's, or the controller's: only info and warn are used. */
  logger: InformerLogger;
  backoff?: BackoffOptions;
  /** A watch with no event (bookmarks count) for this long is reopened. */
  silenceMs?: number;
  /** Full relist this often (0: never). */
  relistMs?: number;
  onRestart?: (informer: string, reason: 'error' | 'silent' | 'relist') => void;
}

export interface ClusterState extends SettingsSource, PolicySource {
  /** The network the platform injects for this VM (policy, namespace annotation or flag). */
  platformNetwork(namespace: string, labels: Record<string, string>): NadRef | undefined;
  namespace(name: string): NamespaceInfo | undefined;
  /** Every opted-in namespace, every policy: what the audit walks. */
  namespaces(): NamespaceInfo[];
  policies(): NetworkAttachmentPolicy[];
  /** Called after any change to namespaces, policies or NADs. */
  onChange(listener: (what: 'namespaces' | 'policies' | 'nads') => void): void;
  /** Resolves once every cache holds its first list. */
  synced: Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 500, capMs: 30_000, jitter: 0.5 };

type Meta = {
  name?: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
};

/** What the caches keep: a NAD's config and a Namespace's spec and status are never read. */
function slim(obj: KubernetesObject, keep: 'labels' | 'labels+annotations'): KubernetesObject {
  const m = (obj.metadata ?? {}) as Meta & { resourceVersion?: string };
  const metadata: Meta & { resourceVersion?: string } = { name: m.name, labels: m.labels ?? {} };
  if (m.namespace !== undefined) metadata.namespace = m.namespace;
  if (m.resourceVersion !== undefined) metadata.resourceVersion = m.resourceVersion;
  if (keep === 'labels+annotations') metadata.annotations = m.annotations ?? {};
  return { apiVersion: obj.apiVersion, kind: obj.kind, metadata } as KubernetesObject;
}

export function createClusterState(opts: ClusterStateOptions): ClusterState {
  const { defaults, logger } = opts;
  const listeners: ((what: 'namespaces' | 'policies' | 'nads') => void)[] = [];
  const make = (
    name: 'namespaces' | 'policies' | 'nads',
    source: ListAndWatch<KubernetesObject>,
    transform?: (o: KubernetesObject) => KubernetesObject,
  ) => {
    const informer = new ResilientInformer<KubernetesObject>({
      name,
      path: source.path,
      list: source.list,
      ...(source.labelSelector ? { labelSelector: source.labelSelector } : {}),
      watch: opts.watch,
      backoff: opts.backoff ?? DEFAULT_BACKOFF,
      silenceMs: opts.silenceMs ?? 120_000,
      relistMs: opts.relistMs ?? 30 * 60_000,
      logger,
      ...(transform ? { transform } : {}),
      ...(opts.onRestart ? { onRestart: (reason) => opts.onRestart!(name, reason) } : {}),
    });
    const changed = () => {
      policiesByNamespace.clear();
      for (const l of listeners) l(name);
    };
    for (const verb of ['add', 'update', 'delete'] as const) informer.on(verb, changed);
    return informer;
  };
  const namespaceInformer = make('namespaces', opts.namespaces, (o) => slim(o, 'labels+annotations'));
  const policyInformer = make('policies', opts.policies);
  const nadInformer = make('nads', opts.nads, (o) => slim(o, 'labels'));
  const informers = [namespaceInformer, policyInformer, nadInformer];

  // The policies matching each namespace, computed when first asked after a change: a review
  // costs a map lookup and the work on the policies that match, never a pass over all policies.
  const policiesByNamespace = new Map<string, NetworkAttachmentPolicy[]>();
  let synced = false;
  const syncedPromise = Promise.all(informers.map((i) => i.synced)).then(() => {
    synced = true;
    logger.info(
      {
        namespaces: namespaceInformer.list().length,
        policies: policyInformer.list().length,
        nads: nadInformer.list().length,
      },
      'namespace, policy and NAD caches synced',
    );
  });

  const namespace = (name: string): NamespaceInfo | undefined => {
    const ns = namespaceInformer.get(name)?.metadata as Meta | undefined;
    return ns && { name, labels: ns.labels ?? {}, annotations: ns.annotations ?? {} };
  };
  const policies = () => policyInformer.list() as unknown as NetworkAttachmentPolicy[];
  const policiesFor = (name: string): readonly NetworkAttachmentPolicy[] => {
    let found = policiesByNamespace.get(name);
    if (!found) {
      const ns = namespace(name);
      found = ns ? policies().filter((p) => matches(p.spec?.namespaceSelector ?? {}, ns.labels)) : [];
      policiesByNamespace.set(name, found);
    }
    return found;
  };
  const notSynced: InjectVerdict = {
    optedIn: false,
    reason: 'caches not synced',
    warning: 'kubevirt-net-injector: not ready (namespace and policy caches not synced); VM not injected',
  };
  const forVm = (name: string, labels: Record<string, string>): InjectVerdict =>
    synced ? settingsFor(name, namespace(name), policiesFor(name), labels, defaults) : notSynced;

  return {
    forVm,
    policiesFor,
    nad: (ref) => {
      const nad = nadInformer.get(ref.name, ref.namespace)?.metadata as Meta | undefined;
      return nad && { namespace: ref.namespace, name: ref.name, labels: nad.labels ?? {} };
    },
    platformNetwork: (name, labels) => {
      const verdict = forVm(name, labels);
      return verdict.optedIn ? resolveRef(verdict.settings.network, name) : undefined;
    },
    namespace,
    namespaces: () =>
      namespaceInformer
        .list()
        .map((n) => namespace(n.metadata?.name ?? ''))
        .filter((n): n is NamespaceInfo => n !== undefined),
    policies,
    ready: () => synced,
    synced: syncedPromise,
    onChange: (listener) => {
      listeners.push(listener);
    },
    start: async () => {
      await Promise.all(informers.map((i) => i.start()));
    },
    stop: async () => {
      await Promise.all(informers.map((i) => i.stop()));
    },
  };
}

/** `namespace/name` of every NAD a policy names exactly (inject and allow list without `*`). */
export function exactReferences(policy: NetworkAttachmentPolicy): string[] {
  const refs = [policy.spec.inject?.network, ...(policy.spec.allowedNetworks?.names ?? [])]
    .filter((r): r is string => r !== undefined && !r.includes('*') && r.includes('/'))
    .map((r) => resolveRef(r, ''))
    .filter((r): r is NadRef => r !== undefined)
    .map(refText);
  return [...new Set(refs)];
}
