// The controller's adapters to @kubernetes/client-node: list functions and watch paths for
// the informers, the Writer (create / replace / delete / read), an Event recorder, and the
// policy audit's status writer.
import {
  CoreV1Api,
  CustomObjectsApi,
  DiscoveryV1Api,
  KubeConfig as KubeConfigClass,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import type {
  CoreV1Event,
  KubeConfig,
  RequestContext,
  KubernetesListObject,
  KubernetesObject,
  ListPromise,
} from '@kubernetes/client-node';
import type { EventRecorder, EventType, Logger, ManagedKind, ManagedObject, Writer } from './deps.js';
import { LABEL_MANAGED_BY, LABEL_SLICE_MANAGED_BY, MANAGER, SLICE_MANAGER } from './types.js';
import type { VirtualMachine } from './types.js';
import { POLICY_GROUP, POLICY_PLURAL, POLICY_VERSION, type PolicyStatus } from '../policy/types.js';

export const SERVICE_SELECTOR = `${LABEL_MANAGED_BY}=${MANAGER}`;
export const SLICE_SELECTOR = `${LABEL_SLICE_MANAGED_BY}=${SLICE_MANAGER}`;
export const FIELD_MANAGER = 'kubevirt-net-injector-controller';

export interface Source<T extends KubernetesObject> {
  path: string;
  list: ListPromise<T>;
  labelSelector?: string;
}

type AgentFactory = (cluster: unknown, options: Record<string, unknown>) => unknown;

/**
 * A copy of the client configuration whose requests share keep-alive agents. client-node
 * builds a new https.Agent for every request, so every call pays a TLS handshake with the
 * client certificate (measured: about 25 writes/s for the controller at 1,000 VMs). Agents
 * are keyed by their TLS material, so rotated client certificates get a new agent.
 * No request waits longer than `requestTimeoutMs` (see boundRequests).
 */
export function withSharedAgents(kc: KubeConfig, maxSockets = 16, requestTimeoutMs = 30_000): KubeConfig {
  const copy = new KubeConfigClass();
  copy.loadFromOptions({
    clusters: kc.clusters,
    users: kc.users,
    contexts: kc.contexts,
    currentContext: kc.getCurrentContext(),
  });
  const target = copy as unknown as { createAgent: AgentFactory };
  const create = target.createAgent.bind(copy);
  const agents = new Map<string, unknown>();
  target.createAgent = (cluster, options) => {
    const key = JSON.stringify(
      [options.ca, options.cert, options.key, options.rejectUnauthorized, options.servername].map(String),
    );
    let agent = agents.get(key);
    if (!agent) {
      agent = create(cluster, { ...options, keepAlive: true, maxSockets });
      agents.set(key, agent);
    }
    return agent;
  };
  boundRequests(copy, requestTimeoutMs);
  return copy;
}

type Auth = {
  applySecurityAuthentication(context: RequestContext): Promise<void>;
  applyToFetchOptions(opts: object): Promise<Record<string, unknown>>;
};

/**
 * client-node sets no timeout: a request on a connection that went silent (a keep-alive
 * socket reused after a NAT or the apiserver lost it, a black-holed path) waits for ever,
 * holding a worker and its key, and stop() waits on it. API calls get an abort signal after
 * `ms`; watches a timeout until the response headers (node-fetch's `timeout`), after which
 * the informer's watchdog judges the stream.
 */
function boundRequests(kc: KubeConfig, ms: number): void {
  const target = kc as unknown as Auth;
  const authenticate = target.applySecurityAuthentication.bind(kc);
  target.applySecurityAuthentication = async (context) => {
    await authenticate(context);
    if (!context.getSignal()) context.setSignal(AbortSignal.timeout(ms));
  };
  const fetchOptions = target.applyToFetchOptions.bind(kc);
  target.applyToFetchOptions = async (opts) => ({ ...(await fetchOptions(opts)), timeout: ms });
}

const nsPath = (namespace: string | undefined) => (namespace ? `/namespaces/${namespace}` : '');

type Page = {
  items: KubernetesObject[];
  metadata?: { resourceVersion?: string; continue?: string; _continue?: string };
};

/**
 * Lists in pages of `PAGE_SIZE` (as client-go's reflector does), slimming each page before
 * the next arrives: the whole list of 10,000 VMs never sits in memory at full size.
 */
export const PAGE_SIZE = 500;
async function pagedList<T extends KubernetesObject>(
  fetchPage: (cont: string | undefined) => Promise<Page>,
  transform: (obj: T) => T,
): Promise<KubernetesListObject<T>> {
  const items: T[] = [];
  let cont: string | undefined;
  let resourceVersion: string | undefined;
  do {
    const page = await fetchPage(cont);
    resourceVersion ??= page.metadata?.resourceVersion;
    for (const item of page.items) items.push(transform(item as T));
    cont = page.metadata?.continue ?? page.metadata?._continue ?? undefined;
  } while (cont);
  return { metadata: { resourceVersion }, items };
}

/** KubeVirt objects through the custom-objects API (plain JSON, no typed model). */
function kubevirtSource<T extends KubernetesObject>(
  kc: KubeConfig,
  plural: string,
  namespace: string | undefined,
  transform: (obj: T) => T,
): Source<T> {
  const api = kc.makeApiClient(CustomObjectsApi);
  const base = { group: 'kubevirt.io', version: 'v1', plural, limit: PAGE_SIZE };
  return {
    path: `/apis/kubevirt.io/v1${nsPath(namespace)}/${plural}`,
    list: () =>
      pagedList<T>(
        async (cont) =>
          (namespace
            ? await api.listNamespacedCustomObject({ ...base, namespace, _continue: cont })
            : await api.listClusterCustomObject({ ...base, _continue: cont })) as Page,
        transform,
      ),
  };
}

export interface SourceTransforms {
  vm: (obj: KubernetesObject) => KubernetesObject;
  vmi: (obj: KubernetesObject) => KubernetesObject;
}

export function sources(kc: KubeConfig, namespace: string | undefined, transforms: SourceTransforms) {
  const core = kc.makeApiClient(CoreV1Api);
  const discovery = kc.makeApiClient(DiscoveryV1Api);
  return {
    vms: kubevirtSource<KubernetesObject>(kc, 'virtualmachines', namespace, transforms.vm),
    vmis: kubevirtSource<KubernetesObject>(kc, 'virtualmachineinstances', namespace, transforms.vmi),
    services: {
      path: `/api/v1${nsPath(namespace)}/services`,
      labelSelector: SERVICE_SELECTOR,
      list: async () =>
        (namespace
          ? await core.listNamespacedService({ namespace, labelSelector: SERVICE_SELECTOR })
          : await core.listServiceForAllNamespaces({
              labelSelector: SERVICE_SELECTOR,
            })) as KubernetesListObject<KubernetesObject>,
    } satisfies Source<KubernetesObject>,
    slices: {
      path: `/apis/discovery.k8s.io/v1${nsPath(namespace)}/endpointslices`,
      labelSelector: SLICE_SELECTOR,
      list: async () =>
        (namespace
          ? await discovery.listNamespacedEndpointSlice({ namespace, labelSelector: SLICE_SELECTOR })
          : await discovery.listEndpointSliceForAllNamespaces({
              labelSelector: SLICE_SELECTOR,
            })) as KubernetesListObject<KubernetesObject>,
    } satisfies Source<KubernetesObject>,
  };
}

function statusCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'number' ? code : undefined;
}

/** Create / replace / delete / read through the typed APIs. */
export function kubeWriter(kc: KubeConfig): Writer {
  const core = kc.makeApiClient(CoreV1Api);
  const discovery = kc.makeApiClient(DiscoveryV1Api);
  /* eslint-disable @typescript-eslint/no-explicit-any -- our plain types stand in for the generated models */
  const ops: Record<
    ManagedKind,
    {
      create(ns: string, body: any): Promise<unknown>;
      replace(ns: string, name: string, body: any): Promise<unknown>;
      delete(ns: string, name: string, uid?: string): Promise<unknown>;
      read(ns: string, name: string): Promise<unknown>;
    }
  > = {
    Service: {
      create: (namespace, body) =>
        core.createNamespacedService({ namespace, body, fieldManager: FIELD_MANAGER }),
      replace: (namespace, name, body) =>
        core.replaceNamespacedService({ namespace, name, body, fieldManager: FIELD_MANAGER }),
      delete: (namespace, name, uid) =>
        core.deleteNamespacedService({ namespace, name, body: uid ? { preconditions: { uid } } : {} }),
      read: (namespace, name) => core.readNamespacedService({ namespace, name }),
    },
    EndpointSlice: {
      create: (namespace, body) =>
        discovery.createNamespacedEndpointSlice({ namespace, body, fieldManager: FIELD_MANAGER }),
      replace: (namespace, name, body) =>
        discovery.replaceNamespacedEndpointSlice({ namespace, name, body, fieldManager: FIELD_MANAGER }),
      delete: (namespace, name, uid) =>
        discovery.deleteNamespacedEndpointSlice({
          namespace,
          name,
          body: uid ? { preconditions: { uid } } : {},
        }),
      read: (namespace, name) => discovery.readNamespacedEndpointSlice({ namespace, name }),
    },
    Endpoints: {
      create: (namespace, body) =>
        core.createNamespacedEndpoints({ namespace, body, fieldManager: FIELD_MANAGER }),
      replace: (namespace, name, body) =>
        core.replaceNamespacedEndpoints({ namespace, name, body, fieldManager: FIELD_MANAGER }),
      delete: (namespace, name, uid) =>
        core.deleteNamespacedEndpoints({ namespace, name, body: uid ? { preconditions: { uid } } : {} }),
      read: (namespace, name) => core.readNamespacedEndpoints({ namespace, name }),
    },
  };
  /* eslint-enable @typescript-eslint/no-explicit-any */
  return {
    async create<T extends ManagedObject>(kind: ManagedKind, obj: T) {
      return (await ops[kind].create(obj.metadata.namespace ?? '', obj)) as T;
    },
    async replace<T extends ManagedObject>(kind: ManagedKind, obj: T) {
      return (await ops[kind].replace(obj.metadata.namespace ?? '', obj.metadata.name ?? '', obj)) as T;
    },
    async delete(kind, namespace, name, uid) {
      await ops[kind].delete(namespace, name, uid);
    },
    async read<T extends ManagedObject>(kind: ManagedKind, namespace: string, name: string) {
      try {
        return (await ops[kind].read(namespace, name)) as T;
      } catch (err) {
        if (statusCode(err) === 404) return undefined;
        throw err;
      }
    },
  };
}

export interface RecorderOptions {
  /** reportingInstance: this replica's identity. */
  instance: string;
  logger: Logger;
  /** The same (VM, reason, message) is not recorded again within this window. */
  dedupeMs: number;
  /**
   * How many (VM, reason, message) keys the dedupe remembers, least recently recorded dropped
   * first (default 4,096, as client-go's event correlator): memory stays bounded however fast
   * addresses change, since every change is a new message.
   */
  dedupeEntries?: number;
  /** Events sent at once. */
  concurrency: number;
  /** Events waiting beyond this are dropped. */
  maxPending: number;
  onDropped?: () => void;
  now?: () => number;
}

/** core/v1 Events on the VM, fire and forget, de-duplicated in memory. */
export function kubeEventRecorder(kc: KubeConfig, options: RecorderOptions): EventRecorder {
  const core = kc.makeApiClient(CoreV1Api);
  const now = options.now ?? Date.now;
  const recent = new Map<string, number>();
  const maxEntries = options.dedupeEntries ?? 4096;
  // Events are best effort, as client-go's recorder: a few in flight, the rest queued up to a
  // bound, then dropped (a burst at startup with thousands of VMs must not starve reconciles).
  const pending: CoreV1Event[] = [];
  let inFlight = 0;
  const pump = () => {
    while (inFlight < options.concurrency && pending.length > 0) {
      const body = pending.shift()!;
      inFlight++;
      core
        .createNamespacedEvent({ namespace: body.metadata!.namespace!, body })
        .catch((err: unknown) => {
          options.logger.warn(
            {
              namespace: body.metadata?.namespace,
              name: body.involvedObject.name,
              reason: body.reason,
              err: String(err),
            },
            'could not record event',
          );
        })
        .finally(() => {
          inFlight--;
          pump();
        });
    }
  };
  return {
    record(vm: VirtualMachine, type: EventType, reason: string, message: string) {
      const key = `${vm.metadata.uid}|${reason}|${message}`;
      const at = now();
      const last = recent.get(key);
      if (last !== undefined && at - last < options.dedupeMs) return;
      // Re-inserted, so the Map's order is the order of recording: the first key is the oldest.
      recent.delete(key);
      recent.set(key, at);
      if (recent.size > maxEntries) recent.delete(recent.keys().next().value!);
      const namespace = vm.metadata.namespace ?? 'default';
      const time = new Date(at);
      const body: CoreV1Event = {
        metadata: { generateName: `${vm.metadata.name}.`, namespace },
        involvedObject: {
          apiVersion: 'kubevirt.io/v1',
          kind: 'VirtualMachine',
          name: vm.metadata.name,
          namespace,
          uid: vm.metadata.uid,
        },
        type,
        reason,
        message: message.slice(0, 1024),
        source: { component: 'kubevirt-net-injector-controller' },
        reportingComponent: 'controller.kubevirt-net-injector.io',
        reportingInstance: options.instance,
        firstTimestamp: time,
        lastTimestamp: time,
        count: 1,
      };
      if (pending.length >= options.maxPending) {
        options.onDropped?.();
        return;
      }
      pending.push(body);
      pump();
    },
  };
}

/**
 * A merge patch of the policy's status subresource: `status` as a whole replaces the stored one
 * (lists are replaced by a merge patch), and nothing but the status can change.
 */
export function kubePolicyStatusWriter(
  kc: KubeConfig,
): (policy: string, status: PolicyStatus) => Promise<void> {
  const api = kc.makeApiClient(CustomObjectsApi);
  const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
  return async (name, status) => {
    await api.patchClusterCustomObjectStatus(
      {
        group: POLICY_GROUP,
        version: POLICY_VERSION,
        plural: POLICY_PLURAL,
        name,
        body: { status },
        fieldManager: FIELD_MANAGER,
      },
      mergePatch,
    );
  };
}
