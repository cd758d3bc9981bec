// Wires the controller: informers feed keys to the work queue, workers (only while this
// replica leads) run reconcile(key) and requeue with backoff on error. Handlers only
// enqueue keys; all reading happens in reconcile, from the caches. The policy audit
// (audit.ts) follows the same VM informer and leads with the same Lease.
import { Watch } from '@kubernetes/client-node';
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import type { Registry } from 'prom-client';
import { startPolicyAudit } from './audit-start.js';
import { publicationOf } from './desired.js';
import type { Caches, EventRecorder, Logger, Writer } from './deps.js';
import { Index, ownerVmNames } from './indexer.js';
import { slimVm, slimVmi, withoutManagedFields } from './transform.js';
import { ResilientInformer } from '../kube/informer.js';
import { kubeEventRecorder, kubeWriter, sources, withSharedAgents } from './kube.js';
import type { Source } from './kube.js';
import { kubeLeaseClient, LeaderElector } from './leader.js';
import { controllerMetrics } from './metrics.js';
import { WorkQueue } from './queue.js';
import { keysForSlice, Reconciler, serviceKey, vmKey } from './reconcile.js';
import { LABEL_SERVICE_NAME } from './types.js';
import type { EndpointSlice, Service, VirtualMachine, VirtualMachineInstance } from './types.js';

export interface ControllerSettings {
  /** Watch one namespace; undefined watches all. */
  namespace?: string;
  graceMs: number;
  legacyEndpoints: boolean;
  workers: number;
  /** Every key is queued again this often (level-triggered safety net). */
  resyncMs: number;
  /** A watch with no event for this long is reopened. */
  watchSilenceMs: number;
  /** Full relist this often. */
  relistMs: number;
  /** No API request waits longer than this (default 30 s); watches: until the headers. */
  requestTimeoutMs?: number;
  leaderElection: {
    enabled: boolean;
    namespace: string;
    name: string;
    leaseDurationMs: number;
    renewDeadlineMs: number;
    retryPeriodMs: number;
  };
  identity: string;
}

export interface ControllerDeps {
  kubeConfig: KubeConfig;
  logger: Logger;
  registry: Registry;
  settings: ControllerSettings;
  /** Overrides for tests. */
  writer?: Writer;
  events?: EventRecorder;
}

export interface RunningController {
  /** Resolves when the caches are filled (whether or not this replica leads). */
  synced: Promise<void>;
  isLeader(): boolean;
  stop(): Promise<void>;
}

const nameOf = (o: KubernetesObject) => ({ ns: o.metadata?.namespace ?? '', name: o.metadata?.name ?? '' });

export async function startController(deps: ControllerDeps): Promise<RunningController> {
  const { logger, settings } = deps;
  const kc = withSharedAgents(deps.kubeConfig, 16, settings.requestTimeoutMs);
  const metrics = controllerMetrics(deps.registry);
  const asVm = (o: KubernetesObject) => slimVm(o as VirtualMachine) as unknown as KubernetesObject;
  const asVmi = (o: KubernetesObject) => slimVmi(o as VirtualMachineInstance) as unknown as KubernetesObject;
  const src = sources(kc, settings.namespace, { vm: asVm, vmi: asVmi });
  const watch = new Watch(kc);
  const make = <T extends KubernetesObject>(name: string, source: Source<T>, transform: (obj: T) => T) =>
    new ResilientInformer<T>({
      name,
      ...source,
      transform,
      watch,
      backoff: { baseMs: 500, capMs: 30_000, jitter: 0.5 },
      silenceMs: settings.watchSilenceMs,
      relistMs: settings.relistMs,
      logger,
      onRestart: (reason) => metrics.watchRestart(name, reason),
    });
  const vms = make('virtualmachines', src.vms, asVm);
  const vmis = make('virtualmachineinstances', src.vmis, asVmi);
  const services = make('services', src.services, withoutManagedFields);
  const slices = make('endpointslices', src.slices, withoutManagedFields);
  const informers = [vms, vmis, services, slices];

  // Indexes, updated before any key is queued (handlers run in registration order).
  const vmsByService = new Index<VirtualMachine>((vm) => {
    const p = publicationOf(vm);
    return p.kind === 'publish' ? [p.publication.serviceName] : [];
  });
  const servicesByOwner = new Index<Service>(ownerVmNames);
  const slicesByOwner = new Index<EndpointSlice>(ownerVmNames);
  const slicesByService = new Index<EndpointSlice>((s) => {
    const svc = s.metadata.labels?.[LABEL_SERVICE_NAME];
    return svc ? [svc] : [];
  });
  // The informers hold client-node objects; the indexes read them as our plain types.
  const feed = <T extends { metadata?: object }>(
    informer: ResilientInformer<KubernetesObject>,
    index: Index<T>,
  ) => {
    informer.on('add', (o) => index.set(o as unknown as T));
    informer.on('update', (o) => index.set(o as unknown as T));
    informer.on('delete', (o) => index.delete(o));
  };
  feed(vms, vmsByService);
  feed(services, servicesByOwner);
  feed(slices, slicesByOwner);
  feed(slices, slicesByService);

  const caches: Caches = {
    vm: (ns, name) => vms.get(name, ns) as VirtualMachine | undefined,
    vmsPublishing: (ns, service) => vmsByService.get(ns, service),
    vmi: (ns, name) => vmis.get(name, ns) as VirtualMachineInstance | undefined,
    service: (ns, name) => services.get(name, ns) as Service | undefined,
    servicesOwnedBy: (ns, vmName) => servicesByOwner.get(ns, vmName),
    slicesOwnedBy: (ns, vmName) => slicesByOwner.get(ns, vmName),
    slicesOfService: (ns, service) => slicesByService.get(ns, service),
    // The policy audit's NAD cache (created below, read only once workers run).
    nadExists: (ref) => (policy.state.ready() ? policy.state.nad(ref) !== undefined : undefined),
  };
  const queue = new WorkQueue({ backoff: { baseMs: 200, capMs: 60_000, jitter: 0.5 } });
  const events =
    deps.events ??
    kubeEventRecorder(kc, {
      instance: settings.identity,
      logger,
      dedupeMs: 10 * 60_000,
      concurrency: 2,
      maxPending: 1000,
      onDropped: () => metrics.eventDropped(),
    });
  const reconciler = new Reconciler({
    caches,
    writer: deps.writer ?? kubeWriter(kc),
    events,
    metrics,
    logger,
    settings: { graceMs: settings.graceMs, legacyEndpoints: settings.legacyEndpoints },
  });

  // Handlers: enqueue keys, nothing else (plus the timestamp for the latency metric).
  const onVm = (o: KubernetesObject) => {
    const { ns, name } = nameOf(o);
    queue.add(vmKey(ns, name));
    const p = publicationOf(o as VirtualMachine);
    if (p.kind === 'publish') queue.add(serviceKey(ns, p.publication.serviceName));
  };
  const onVmi = (o: KubernetesObject) => {
    const { ns, name } = nameOf(o);
    const vmi = o as VirtualMachineInstance;
    const addresses = (vmi.status?.interfaces ?? []).flatMap(
      (i) => i.ipAddresses ?? (i.ipAddress ? [i.ipAddress] : []),
    );
    reconciler.noteVmiAddresses(ns, name, addresses);
    queue.add(vmKey(ns, name));
  };
  const onSlice = (o: KubernetesObject) => {
    for (const key of keysForSlice(o as unknown as EndpointSlice, settings.legacyEndpoints)) queue.add(key);
  };
  const onService = (o: KubernetesObject) => {
    const { ns, name } = nameOf(o);
    queue.add(serviceKey(ns, name));
    // Its publishers may now write (or must drop) their slices.
    for (const vm of vmsByService.get(ns, name)) queue.add(vmKey(ns, vm.metadata.name ?? ''));
  };
  for (const verb of ['add', 'update', 'delete'] as const) {
    vms.on(verb, onVm);
    vmis.on(verb, onVmi);
    slices.on(verb, onSlice);
    services.on(verb, onService);
  }

  const policy = startPolicyAudit({
    kc,
    vms,
    events,
    registry: deps.registry,
    logger,
    watchSilenceMs: settings.watchSilenceMs,
    relistMs: settings.relistMs,
    onRestart: (name, reason) => metrics.watchRestart(name, reason),
    ...(settings.namespace !== undefined ? { namespace: settings.namespace } : {}),
  });

  const enqueueAll = () => {
    for (const vm of vms.list()) onVm(vm);
    for (const svc of services.list()) onService(svc);
  };

  let leading = !settings.leaderElection.enabled;
  let workersRunning: Promise<void>[] = [];
  let stopped = false;
  const synced = Promise.all(informers.map((i) => i.synced)).then(() => undefined);

  // A NAD added or deleted (or the NAD list first known): every VM checks its network again,
  // once per burst of changes.
  let nadTimer: NodeJS.Timeout | undefined;
  const nadsChanged = () => {
    if (nadTimer || stopped) return;
    nadTimer = setTimeout(() => {
      nadTimer = undefined;
      if (leading && !stopped) for (const vm of vms.list()) queue.add(vmKey(nameOf(vm).ns, nameOf(vm).name));
    }, 1000);
    nadTimer.unref();
  };
  policy.state.onChange((what) => what === 'nads' && nadsChanged());
  void policy.state.synced.then(nadsChanged);

  const worker = async () => {
    // A Service reconciled before every VM is in the cache would lose owners: wait.
    await synced;
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      if (!leading) {
        queue.done(key);
        continue;
      }
      try {
        const result = await reconciler.reconcile(key);
        queue.forget(key);
        for (const k of result.enqueue) queue.add(k);
        if (result.requeueAfterMs !== undefined) queue.addAfter(key, result.requeueAfterMs);
      } catch (err) {
        metrics.error(key.startsWith('vm/') ? 'vm' : 'service');
        const delay = queue.addRateLimited(key);
        logger.warn(
          { key, err: err instanceof Error ? err.message : String(err), retryInMs: delay },
          'reconcile failed',
        );
      } finally {
        queue.done(key);
        metrics.queueDepth(queue.length);
      }
    }
  };

  const elector = settings.leaderElection.enabled
    ? new LeaderElector({
        client: kubeLeaseClient(kc, settings.leaderElection.namespace, settings.leaderElection.name),
        namespace: settings.leaderElection.namespace,
        name: settings.leaderElection.name,
        identity: settings.identity,
        leaseDurationMs: settings.leaderElection.leaseDurationMs,
        renewDeadlineMs: settings.leaderElection.renewDeadlineMs,
        retryPeriodMs: settings.leaderElection.retryPeriodMs,
        logger,
        onStartedLeading: () => {
          leading = true;
          metrics.leader(true);
          policy.audit.lead();
          void synced.then(() => !stopped && leading && enqueueAll());
        },
        onStoppedLeading: () => {
          leading = false;
          metrics.leader(false);
          policy.audit.stepDown();
        },
      })
    : undefined;
  metrics.leader(leading);
  if (leading) policy.audit.lead();

  await Promise.all(informers.map((i) => i.start()));
  elector?.start();
  workersRunning = Array.from({ length: Math.max(1, settings.workers) }, () => worker());
  const resync = setInterval(() => {
    if (!leading) return;
    enqueueAll();
    policy.audit.resync();
  }, settings.resyncMs);
  resync.unref();
  void synced.then(() => {
    logger.info({ namespace: settings.namespace ?? '(all)' }, 'caches synced');
    if (leading) enqueueAll();
  });

  return {
    synced,
    isLeader: () => leading,
    async stop() {
      stopped = true;
      clearInterval(resync);
      clearTimeout(nadTimer);
      queue.shutDown();
      await elector?.stop();
      await Promise.allSettled(workersRunning);
      await policy.stop();
      await Promise.all(informers.map((i) => i.stop()));
    },
  };
}
