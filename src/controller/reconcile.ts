// Level-triggered reconcile. A key names either a VM (`vm/<ns>/<name>`: its EndpointSlices)
// or a Service (`svc/<ns>/<name>`: the shared Service and, optionally, legacy Endpoints).
// Each reads the caches, asks the pure core for the desired objects and writes only the
// difference with create / replace (optimistic concurrency on resourceVersion) / delete.
// It never writes an object that is not ours: it records an Event on the VM instead.
import {
  desiredLegacyEndpoints,
  desiredService,
  desiredSlices,
  isOurService,
  isOurSlice,
  publicationOf,
  publishedNad,
} from './desired.js';
import type { Publication } from './desired.js';
import { merged, needsUpdate } from './diff.js';
import type {
  Caches,
  EventRecorder,
  Logger,
  ManagedKind,
  ManagedObject,
  ReconcileMetrics,
  Writer,
} from './deps.js';
import { refText } from '../policy/refs.js';
import { LABEL_SERVICE_NAME } from './types.js';
import type { EndpointSlice, Endpoints, Service, VirtualMachine } from './types.js';

export interface ReconcileSettings {
  /** Not-ready endpoints stay this long before they go away (VMI flicker, kubevirt/kubevirt#12698). */
  graceMs: number;
  /** Also write legacy core/v1 Endpoints (skip-mirror). */
  legacyEndpoints: boolean;
}

export interface ReconcileResult {
  requeueAfterMs?: number;
  /** Other keys that must be reconciled because of what this one saw. */
  enqueue: string[];
}

export const vmKey = (ns: string, name: string) => `vm/${ns}/${name}`;
export const serviceKey = (ns: string, name: string) => `svc/${ns}/${name}`;

/**
 * What an EndpointSlice event queues: its owner VMs, and with legacy Endpoints its Service too.
 * The Endpoints are built from the Service's slices as cached, so a slice removed or changed
 * after the Service's last reconcile (a deleted VM's: no VM reconcile queues the Service
 * again) must bring them along.
 */
export function keysForSlice(slice: EndpointSlice, legacyEndpoints: boolean): string[] {
  const ns = slice.metadata.namespace ?? '';
  const keys = (slice.metadata.ownerReferences ?? [])
    .filter((ref) => ref.kind === 'VirtualMachine')
    .map((ref) => vmKey(ns, ref.name));
  const service = slice.metadata.labels?.[LABEL_SERVICE_NAME];
  if (legacyEndpoints && service) keys.push(serviceKey(ns, service));
  return keys;
}

export function parseKey(key: string): { kind: 'vm' | 'svc'; namespace: string; name: string } | undefined {
  const m = /^(vm|svc)\/([^/]+)\/([^/]+)$/.exec(key);
  return m ? { kind: m[1] as 'vm' | 'svc', namespace: m[2]!, name: m[3]! } : undefined;
}

export function statusOf(err: unknown): number | undefined {
  const e = err as { code?: unknown; statusCode?: unknown } | undefined;
  const code = e?.code ?? e?.statusCode;
  return typeof code === 'number' ? code : undefined;
}

export interface ReconcilerDeps {
  caches: Caches;
  writer: Writer;
  events: EventRecorder;
  metrics: ReconcileMetrics;
  logger: Logger;
  settings: ReconcileSettings;
  now?: () => number;
}

export class Reconciler {
  private readonly now: () => number;
  /** When each VMI's addresses were last seen changing, for the IP-to-slice latency. */
  private readonly addressSeenAt = new Map<string, { addresses: string; at: number }>();
  /** Published VMs (`ns/name`) whose NetworkAttachmentDefinition is missing, for the gauge. */
  private readonly missingNad = new Set<string>();

  constructor(private readonly deps: ReconcilerDeps) {
    this.now = deps.now ?? Date.now;
  }

  /** Bookkeeping only (called from the VMI informer): remembers when an address set changed. */
  noteVmiAddresses(namespace: string, name: string, addresses: string[]): void {
    const key = `${namespace}/${name}`;
    const joined = addresses.join(',');
    if (this.addressSeenAt.get(key)?.addresses === joined) return;
    if (addresses.length === 0) this.addressSeenAt.delete(key);
    else this.addressSeenAt.set(key, { addresses: joined, at: this.now() });
  }

  async reconcile(key: string): Promise<ReconcileResult> {
    const parsed = parseKey(key);
    if (!parsed) {
      this.deps.logger.warn({ key }, 'ignoring malformed key');
      return { enqueue: [] };
    }
    return parsed.kind === 'vm'
      ? this.reconcileVm(parsed.namespace, parsed.name)
      : this.reconcileService(parsed.namespace, parsed.name);
  }

  private async reconcileVm(ns: string, name: string): Promise<ReconcileResult> {
    const { caches } = this.deps;
    const vm = caches.vm(ns, name);
    const enqueue = new Set<string>();
    // Services that list a VM of this name as owner must look again (it may have left them).
    for (const svc of caches.servicesOwnedBy(ns, name)) enqueue.add(serviceKey(ns, svc.metadata.name ?? ''));
    const owned = caches.slicesOwnedBy(ns, name);
    if (!vm || vm.metadata.deletionTimestamp != null) {
      this.noteNetwork(ns, name, true);
      // The garbage collector would delete these too; doing it now is faster and also works without it.
      for (const slice of owned) await this.remove('EndpointSlice', slice);
      this.deps.metrics.reconciled('vm', 'ok');
      return { enqueue: [...enqueue] };
    }
    const uid = vm.metadata.uid;
    const mine = owned.filter((s) => isOurSlice(s, uid));
    // Left behind by an earlier VM of the same name (different uid): ours to clean up.
    for (const stale of owned.filter((s) => !isOurSlice(s, uid))) {
      await this.remove('EndpointSlice', stale);
    }
    const result = publicationOf(vm);
    this.checkNetwork(vm, result.kind === 'publish' ? result.publication : undefined);
    if (result.kind === 'invalid') {
      this.deps.events.record(vm, 'Warning', 'InvalidPublication', result.reason);
      this.deps.metrics.reconciled('vm', 'conflict');
      return { enqueue: [...enqueue] };
    }
    let publication: Publication | undefined = result.kind === 'publish' ? result.publication : undefined;
    if (publication) {
      enqueue.add(serviceKey(ns, publication.serviceName));
      // Slices only under our own Service: until the Service reconcile has created it (or
      // while a Service of that name belongs to someone else, which that reconcile reports),
      // none. The Service informer queues this VM again when ours appears.
      if (!caches.service(ns, publication.serviceName)) publication = undefined;
    }
    const vmi = caches.vmi(ns, name);
    const desired = desiredSlices({
      vm,
      vmi,
      publication,
      now: this.now(),
      graceMs: this.deps.settings.graceMs,
      existing: mine,
    });
    let conflict = false;
    for (const slice of desired.slices) {
      const stored = mine.find((s) => s.metadata.name === slice.metadata.name);
      const outcome = await this.apply('EndpointSlice', slice, stored, vm);
      if (outcome === 'conflict') conflict = true;
      if (outcome === 'created' || outcome === 'updated') this.observeLatency(ns, name, slice);
    }
    for (const stored of mine) {
      if (!desired.slices.some((s) => s.metadata.name === stored.metadata.name)) {
        await this.remove('EndpointSlice', stored);
        this.deps.events.record(
          vm,
          'Normal',
          'EndpointRemoved',
          `removed EndpointSlice ${stored.metadata.name}`,
        );
      }
    }
    this.deps.metrics.reconciled('vm', conflict ? 'conflict' : 'ok');
    const out: ReconcileResult = { enqueue: [...enqueue] };
    if (desired.requeueAfterMs !== undefined) out.requeueAfterMs = desired.requeueAfterMs;
    return out;
  }

  private async reconcileService(ns: string, name: string): Promise<ReconcileResult> {
    const { caches } = this.deps;
    const publishers: { vm: VirtualMachine; publication: Publication }[] = [];
    for (const vm of caches.vmsPublishing(ns, name)) {
      if (vm.metadata.deletionTimestamp != null) continue;
      const p = publicationOf(vm);
      if (p.kind === 'publish' && p.publication.serviceName === name)
        publishers.push({ vm, publication: p.publication });
    }
    const stored = caches.service(ns, name);
    const desired = desiredService({ namespace: ns, serviceName: name, publishers });
    for (const warning of desired.warnings) {
      for (const { vm } of publishers) this.deps.events.record(vm, 'Warning', 'PortConflict', warning);
    }
    if (!desired.service) {
      if (stored) await this.remove('Service', stored);
      if (this.deps.settings.legacyEndpoints) {
        const ep = await this.deps.writer.read<Endpoints>('Endpoints', ns, name);
        if (ep && isOurService(ep)) await this.remove('Endpoints', ep);
      }
      this.deps.metrics.reconciled('service', 'ok');
      return { enqueue: [] };
    }
    const owner = publishers[0]!.vm;
    const outcome = await this.apply(
      'Service',
      desired.service,
      stored,
      owner,
      publishers.map((p) => p.vm),
    );
    if (outcome === 'conflict') {
      this.deps.metrics.reconciled('service', 'conflict');
      return { enqueue: publishers.map((p) => vmKey(ns, p.vm.metadata.name ?? '')) };
    }
    if (this.deps.settings.legacyEndpoints) {
      const slices = caches.slicesOfService(ns, name);
      const endpoints = desiredLegacyEndpoints(desired.service, slices);
      const current = await this.deps.writer.read<Endpoints>('Endpoints', ns, name);
      await this.apply('Endpoints', endpoints, current && isOurService(current) ? current : undefined, owner);
    }
    this.deps.metrics.reconciled('service', 'ok');
    return { enqueue: [] };
  }

  /**
   * A published VM whose NetworkAttachmentDefinition is gone (deleted while the VM uses it):
   * its running VMI keeps the interface and address, so it stays published, but it cannot
   * start again. Said once (the recorder's dedupe) as a Warning Event, and counted.
   */
  private checkNetwork(vm: VirtualMachine, publication: Publication | undefined): void {
    const ns = vm.metadata.namespace ?? '';
    const name = vm.metadata.name ?? '';
    const ref = publication && publishedNad(vm, publication.networkName);
    const exists = ref ? this.deps.caches.nadExists?.(ref) : true;
    if (exists === undefined) return;
    if (!exists && ref && !this.missingNad.has(`${ns}/${name}`)) {
      this.deps.events.record(
        vm,
        'Warning',
        'NetworkNotFound',
        `NetworkAttachmentDefinition ${refText(ref)} of network ${publication!.networkName} does not exist; the running VMI stays published, but the VM cannot start again until it is back`,
      );
    }
    this.noteNetwork(ns, name, exists);
  }

  private noteNetwork(ns: string, name: string, exists: boolean): void {
    const key = `${ns}/${name}`;
    const before = this.missingNad.size;
    if (exists) this.missingNad.delete(key);
    else this.missingNad.add(key);
    if (this.missingNad.size !== before) this.deps.metrics.networksMissing(this.missingNad.size);
  }

  /**
   * Create or update one object. `stored` is our copy from the cache (undefined if we have
   * none); a create that meets an object we do not own is a conflict, reported on the VMs.
   */
  private async apply<T extends ManagedObject>(
    kind: ManagedKind,
    desired: T,
    stored: T | undefined,
    vm: VirtualMachine,
    reportTo: VirtualMachine[] = [vm],
  ): Promise<'created' | 'updated' | 'unchanged' | 'conflict'> {
    const { writer, events, metrics, logger } = this.deps;
    const ref = `${kind} ${desired.metadata.namespace}/${desired.metadata.name}`;
    if (stored) {
      if (!needsUpdate(stored, desired)) return 'unchanged';
      await writer.replace(kind, merged(stored, desired));
      metrics.write(kind, 'update');
      logger.info({ namespace: desired.metadata.namespace, name: desired.metadata.name, kind }, 'updated');
      if (kind === 'EndpointSlice')
        events.record(vm, 'Normal', 'EndpointUpdated', `updated ${ref}: ${describeSlice(desired)}`);
      return 'updated';
    }
    try {
      await writer.create(kind, desired);
    } catch (err) {
      if (statusOf(err) !== 409) throw err;
      const found = await writer.read<T>(kind, desired.metadata.namespace ?? '', desired.metadata.name ?? '');
      const ours =
        found &&
        (kind === 'EndpointSlice'
          ? isOurSlice(found as EndpointSlice, vm.metadata.uid)
          : isOurService(found as Service | Endpoints));
      if (found && ours) {
        // Our own object the cache has not shown yet: update it instead.
        if (!needsUpdate(found, desired)) return 'unchanged';
        await writer.replace(kind, merged(found, desired));
        metrics.write(kind, 'update');
        return 'updated';
      }
      for (const v of reportTo) {
        events.record(
          v,
          'Warning',
          `${kind}Conflict`,
          `${ref} exists and is not managed by kubevirt-net-injector for this VM; left alone`,
        );
      }
      return 'conflict';
    }
    metrics.write(kind, 'create');
    logger.info({ namespace: desired.metadata.namespace, name: desired.metadata.name, kind }, 'created');
    const detail = kind === 'EndpointSlice' ? `: ${describeSlice(desired as EndpointSlice)}` : '';
    events.record(vm, 'Normal', `${kind}Created`, `created ${ref}${detail}`);
    return 'created';
  }

  private async remove(kind: ManagedKind, obj: ManagedObject): Promise<void> {
    try {
      await this.deps.writer.delete(
        kind,
        obj.metadata.namespace ?? '',
        obj.metadata.name ?? '',
        obj.metadata.uid,
      );
      this.deps.metrics.write(kind, 'delete');
      this.deps.logger.info({ namespace: obj.metadata.namespace, name: obj.metadata.name, kind }, 'deleted');
    } catch (err) {
      // Gone already (404) or replaced by another object since (409 on the uid precondition).
      if (statusOf(err) !== 404 && statusOf(err) !== 409) throw err;
    }
  }

  private observeLatency(ns: string, vmName: string, slice: EndpointSlice): void {
    const endpoint = slice.endpoints[0];
    if (!endpoint || endpoint.conditions?.ready !== true) return;
    const vmiName = endpoint.targetRef?.name ?? vmName;
    const seen = this.addressSeenAt.get(`${ns}/${vmiName}`);
    if (!seen || !seen.addresses.split(',').includes(endpoint.addresses[0] ?? '')) return;
    this.deps.metrics.ipToSlice((this.now() - seen.at) / 1000);
    this.addressSeenAt.delete(`${ns}/${vmiName}`);
  }
}

function describeSlice(slice: EndpointSlice | ManagedObject): string {
  const s = slice as EndpointSlice;
  const e = s.endpoints?.[0];
  if (!e) return 'no endpoint';
  return `${e.addresses.join(',')} ${e.conditions?.ready === false ? 'not ready' : 'ready'}`;
}
