// The controller's edges, as interfaces: reconcile.ts depends on these, kube.ts implements
// them with @kubernetes/client-node, and unit tests with in-memory fakes.
import type { NadRef } from '../policy/refs.js';
import type { Endpoints, EndpointSlice, Service, VirtualMachine, VirtualMachineInstance } from './types.js';

/** Read-only views of the informer caches, with the indexes reconcile needs (no full scans). */
export interface Caches {
  vm(namespace: string, name: string): VirtualMachine | undefined;
  /** VMs whose publication annotations name this Service. */
  vmsPublishing(namespace: string, service: string): readonly VirtualMachine[];
  vmi(namespace: string, name: string): VirtualMachineInstance | undefined;
  /** A Service labelled as ours. */
  service(namespace: string, name: string): Service | undefined;
  /** Our Services with an owner reference to a VM of this name (any uid). */
  servicesOwnedBy(namespace: string, vmName: string): readonly Service[];
  /** Our EndpointSlices with an owner reference to a VM of this name (any uid). */
  slicesOwnedBy(namespace: string, vmName: string): readonly EndpointSlice[];
  /** Our EndpointSlices labelled with this service name. */
  slicesOfService(namespace: string, service: string): readonly EndpointSlice[];
  /** Does this NetworkAttachmentDefinition exist? undefined while that is not known (no NAD list yet). */
  nadExists?(ref: NadRef): boolean | undefined;
}

export type ManagedKind = 'Service' | 'EndpointSlice' | 'Endpoints';
export type ManagedObject = Service | EndpointSlice | Endpoints;

/** Writes to the apiserver. Errors carry `code` (HTTP status) as ApiException does. */
export interface Writer {
  create<T extends ManagedObject>(kind: ManagedKind, obj: T): Promise<T>;
  /** Replace with optimistic concurrency: obj.metadata.resourceVersion must be the stored one. */
  replace<T extends ManagedObject>(kind: ManagedKind, obj: T): Promise<T>;
  delete(kind: ManagedKind, namespace: string, name: string, uid?: string): Promise<void>;
  /** Uncached read, for objects the informers do not see (not labelled as ours). */
  read<T extends ManagedObject>(kind: ManagedKind, namespace: string, name: string): Promise<T | undefined>;
}

export type EventType = 'Normal' | 'Warning';

export interface EventRecorder {
  record(vm: VirtualMachine, type: EventType, reason: string, message: string): void;
}

export interface ReconcileMetrics {
  reconciled(kind: 'vm' | 'service', result: 'ok' | 'error' | 'conflict'): void;
  write(kind: ManagedKind, verb: 'create' | 'update' | 'delete'): void;
  /** Seconds from the VMI change being seen to the slice carrying it being written. */
  ipToSlice(seconds: number): void;
  /** How many published VMs use a NetworkAttachmentDefinition that does not exist. */
  networksMissing(vms: number): void;
}

export interface Logger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}
