// The controller's pure core: from a VM, its VMI (or none), the clock and the objects we
// already own, compute the Service and EndpointSlices that should exist. No I/O, no
// Kubernetes client: reconcile.ts feeds it from the informer caches and applies the result.
//
// Naming and ownership (docs/controller.md):
// - one EndpointSlice per VM per IP family, named `<vm>-ipv4` / `<vm>-ipv6` (shortened with
//   a hash when too long), owned (controller reference) by that VM alone, so deleting the
//   VM garbage-collects its endpoints and nothing else;
// - one Service per service name, owned by every VM that publishes it (plain owner
//   references, none of them the controller): the garbage collector deletes it only once
//   all of those VMs are gone, and drops the reference to each deleted one meanwhile.
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { resolveRef } from '../policy/refs.js';
import type { NadRef } from '../policy/refs.js';
import { parseServicePorts, PortsAnnotationError } from './ports.js';
import {
  ANN_INTERFACE,
  ANN_NOT_READY_SINCE,
  ANN_SERVICE_NAME,
  ANN_SERVICE_PORTS,
  LABEL_MANAGED_BY,
  LABEL_SERVICE_NAME,
  LABEL_SKIP_MIRROR,
  LABEL_SLICE_MANAGED_BY,
  MANAGER,
  SLICE_MANAGER,
} from './types.js';
import type {
  AddressType,
  Endpoint,
  Endpoints,
  EndpointSlice,
  OwnerReference,
  Service,
  ServicePort,
  VirtualMachine,
  VirtualMachineInstance,
} from './types.js';

export const KUBEVIRT_API_VERSION = 'kubevirt.io/v1';

/** What a VM asked for with its annotations, resolved. */
export interface Publication {
  serviceName: string;
  ports: ServicePort[];
  /** The network name to look up in the VMI's `status.interfaces[].name`. */
  networkName: string;
}

export type PublicationResult =
  { kind: 'none' } | { kind: 'invalid'; reason: string } | { kind: 'publish'; publication: Publication };

const DNS1035_LABEL = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;

/**
 * A VM publishes when it carries the service-name or the service-ports annotation. The
 * network is the one named by the `interface` annotation the webhook records; without it,
 * the first network in the VM spec with a non-default Multus networkName.
 */
export function publicationOf(vm: VirtualMachine): PublicationResult {
  const annotations = vm.metadata.annotations ?? {};
  const nameAnnotation = annotations[ANN_SERVICE_NAME];
  const portsAnnotation = annotations[ANN_SERVICE_PORTS];
  if (nameAnnotation === undefined && portsAnnotation === undefined) return { kind: 'none' };
  const serviceName = (nameAnnotation ?? '').trim() || (vm.metadata.name ?? '');
  if (!DNS1035_LABEL.test(serviceName)) {
    return {
      kind: 'invalid',
      reason: `service name '${serviceName}' is not a DNS-1035 label (lowercase letters, digits, '-', starting with a letter, at most 63 characters); set ${ANN_SERVICE_NAME}`,
    };
  }
  let ports: ServicePort[];
  try {
    ports = parseServicePorts(portsAnnotation ?? '');
  } catch (err) {
    if (err instanceof PortsAnnotationError)
      return { kind: 'invalid', reason: `${ANN_SERVICE_PORTS}: ${err.message}` };
    throw err;
  }
  const networkName = networkNameOf(vm);
  if (networkName === undefined) {
    return { kind: 'invalid', reason: `no ${ANN_INTERFACE} annotation and no Multus network in the VM spec` };
  }
  return { kind: 'publish', publication: { serviceName, ports, networkName } };
}

function networkNameOf(vm: VirtualMachine): string | undefined {
  const recorded = vm.metadata.annotations?.[ANN_INTERFACE]?.trim();
  if (recorded) return recorded;
  const networks = vm.spec?.template?.spec?.networks ?? [];
  return networks.find((n) => n.multus?.networkName && n.multus.default !== true)?.name;
}

/** The NetworkAttachmentDefinition behind the published network; undefined when it is not Multus. */
export function publishedNad(vm: VirtualMachine, networkName: string): NadRef | undefined {
  const networks = vm.spec?.template?.spec?.networks ?? [];
  const ref = networks.find((n) => n.name === networkName)?.multus?.networkName;
  return ref === undefined ? undefined : resolveRef(ref, vm.metadata.namespace ?? '');
}

const FAMILIES: readonly { type: AddressType; suffix: string; version: 4 | 6 }[] = [
  { type: 'IPv4', suffix: 'ipv4', version: 4 },
  { type: 'IPv6', suffix: 'ipv6', version: 6 },
];

/** Slice name for a VM and family; DNS subdomain, at most 253 characters. */
export function sliceName(vmName: string, addressType: AddressType): string {
  const suffix = addressType === 'IPv4' ? 'ipv4' : 'ipv6';
  const name = `${vmName}-${suffix}`;
  if (name.length <= 253) return name;
  const hash = createHash('sha256').update(vmName).digest('hex').slice(0, 10);
  return `${vmName.slice(0, 253 - suffix.length - hash.length - 2).replace(/[-.]+$/, '')}-${hash}-${suffix}`;
}

/** The VM name turned into a DNS label for the endpoint `hostname`; undefined if nothing is left. */
export function hostnameOf(vmName: string): string | undefined {
  const label = vmName
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .slice(0, 63)
    .replace(/^-+|-+$/g, '');
  return label === '' ? undefined : label;
}

function isLinkLocalV6(ip: string): boolean {
  // fe80::/10: first 10 bits 1111111010, i.e. fe80 through febf.
  return /^fe[89ab][0-9a-f]:/i.test(ip);
}

/** Addresses the VMI reports for a network, first `ipAddress` then `ipAddresses`, prefix stripped, deduplicated. */
export function addressesOf(
  vmi: VirtualMachineInstance | undefined,
  networkName: string,
): { v4: string[]; v6: string[] } {
  const result = { v4: [] as string[], v6: [] as string[] };
  const iface = vmi?.status?.interfaces?.find((i) => i.name === networkName);
  if (!iface) return result;
  const raw = [iface.ipAddress, ...(iface.ipAddresses ?? [])];
  for (const entry of raw) {
    if (typeof entry !== 'string') continue;
    const ip = entry.trim().split('/')[0]!;
    const version = isIP(ip);
    if (version === 4 && !result.v4.includes(ip)) result.v4.push(ip);
    if (version === 6 && !isLinkLocalV6(ip)) {
      const lower = ip.toLowerCase();
      if (!result.v6.includes(lower)) result.v6.push(lower);
    }
  }
  return result;
}

export function vmOwnerReference(vm: VirtualMachine, controller: boolean): OwnerReference {
  const ref: OwnerReference = {
    apiVersion: KUBEVIRT_API_VERSION,
    kind: 'VirtualMachine',
    name: vm.metadata.name ?? '',
    uid: vm.metadata.uid ?? '',
  };
  if (controller) ref.controller = true;
  return ref;
}

export function isVmiRunning(vmi: VirtualMachineInstance | undefined): boolean {
  return vmi !== undefined && vmi.status?.phase === 'Running' && vmi.metadata.deletionTimestamp == null;
}

export interface SliceInput {
  vm: VirtualMachine;
  vmi: VirtualMachineInstance | undefined;
  /** undefined when the VM does not (or no longer) publish: every slice goes away at once. */
  publication: Publication | undefined;
  now: number;
  /** How long an endpoint stays (not ready) after its address or VMI went away. */
  graceMs: number;
  /** EndpointSlices this VM owns now (from the cache). */
  existing: readonly EndpointSlice[];
}

export interface DesiredSlices {
  slices: EndpointSlice[];
  /** Reconcile again after this long: a not-ready endpoint's grace period ends then. */
  requeueAfterMs?: number;
}

function timestampMs(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}

export function desiredSlices(input: SliceInput): DesiredSlices {
  const { vm, vmi, publication, now, graceMs } = input;
  const result: DesiredSlices = { slices: [] };
  if (!publication) return result;
  const vmName = vm.metadata.name ?? '';
  const addresses = addressesOf(vmi, publication.networkName);
  const running = isVmiRunning(vmi);
  for (const family of FAMILIES) {
    const name = sliceName(vmName, family.type);
    const current = family.version === 4 ? addresses.v4[0] : addresses.v6[0];
    const base = sliceSkeleton(vm, publication, family.type, name);
    if (running && current !== undefined && vmi) {
      base.endpoints = [endpointFor(vm, vmi, current, true)];
      result.slices.push(base);
      continue;
    }
    // No usable address: keep the last one, not ready, until the grace period ends.
    const previous = input.existing.find((s) => s.metadata.name === name);
    const previousEndpoint = previous?.endpoints?.[0];
    if (!previous || !previousEndpoint) continue;
    const since = timestampMs(previous.metadata.annotations?.[ANN_NOT_READY_SINCE]) ?? now;
    const remaining = since + graceMs - now;
    if (remaining <= 0) continue;
    base.metadata.annotations = { [ANN_NOT_READY_SINCE]: new Date(since).toISOString() };
    base.endpoints = [
      {
        ...previousEndpoint,
        conditions: {
          ready: false,
          serving: false,
          terminating: vmi?.metadata.deletionTimestamp != null || !vmi,
        },
      },
    ];
    result.slices.push(base);
    result.requeueAfterMs = Math.min(result.requeueAfterMs ?? Infinity, remaining);
  }
  return result;
}

function sliceSkeleton(
  vm: VirtualMachine,
  publication: Publication,
  type: AddressType,
  name: string,
): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name,
      namespace: vm.metadata.namespace,
      labels: { [LABEL_SERVICE_NAME]: publication.serviceName, [LABEL_SLICE_MANAGED_BY]: SLICE_MANAGER },
      ownerReferences: [vmOwnerReference(vm, true)],
    },
    addressType: type,
    endpoints: [],
    ports: publication.ports.map((p) => ({
      ...(p.name ? { name: p.name } : {}),
      port: p.port,
      protocol: p.protocol,
    })),
  };
}

function endpointFor(vm: VirtualMachine, vmi: VirtualMachineInstance, ip: string, ready: boolean): Endpoint {
  const endpoint: Endpoint = {
    addresses: [ip],
    conditions: { ready, serving: ready, terminating: false },
    targetRef: {
      apiVersion: KUBEVIRT_API_VERSION,
      kind: 'VirtualMachineInstance',
      namespace: vmi.metadata.namespace,
      name: vmi.metadata.name,
      uid: vmi.metadata.uid,
    },
  };
  const hostname = hostnameOf(vm.metadata.name ?? '');
  if (hostname) endpoint.hostname = hostname;
  if (vmi.status?.nodeName) endpoint.nodeName = vmi.status.nodeName;
  return endpoint;
}

export interface ServiceInput {
  namespace: string;
  serviceName: string;
  /** Every VM (with a uid) whose publication names this Service, in any order. */
  publishers: readonly { vm: VirtualMachine; publication: Publication }[];
}

export interface DesiredService {
  /** undefined when no VM publishes the name any more. */
  service?: Service;
  /** Port conflicts between publishers, for Events. */
  warnings: string[];
}

function creationOrder(a: VirtualMachine, b: VirtualMachine): number {
  const ta = String(a.metadata.creationTimestamp ?? '');
  const tb = String(b.metadata.creationTimestamp ?? '');
  const ma = timestampMs(ta) ?? 0;
  const mb = timestampMs(tb) ?? 0;
  if (ma !== mb) return ma - mb;
  return (a.metadata.name ?? '').localeCompare(b.metadata.name ?? '');
}

/**
 * A headless, selector-less Service. Ports are the union of the publishers' ports; when two
 * publishers declare the same port name differently, or the same port under another name, the
 * oldest VM wins and a warning says so.
 */
export function desiredService(input: ServiceInput): DesiredService {
  const publishers = [...input.publishers]
    .filter((p) => p.vm.metadata.uid)
    .sort((a, b) => creationOrder(a.vm, b.vm));
  const warnings: string[] = [];
  if (publishers.length === 0) return { warnings };
  const ports: ServicePort[] = [];
  for (const { vm, publication } of publishers) {
    for (const port of publication.ports) {
      const same = ports.find((p) => p.name === port.name);
      if (!same) {
        const taken = ports.find((p) => p.port === port.port && p.protocol === port.protocol);
        if (!taken) ports.push({ ...port });
        else
          warnings.push(
            `VM ${vm.metadata.name} declares ${port.port}/${port.protocol} as port ${port.name ?? '(unnamed)'}; the Service keeps it as ${taken.name ?? '(unnamed)'}`,
          );
        continue;
      }
      if (same.port !== port.port || same.protocol !== port.protocol) {
        warnings.push(
          `VM ${vm.metadata.name} declares port ${port.name ?? '(unnamed)'} as ${port.port}/${port.protocol}; the Service keeps ${same.port}/${same.protocol}`,
        );
      }
    }
  }
  if (ports.length > 1 && ports.some((p) => p.name === undefined)) {
    warnings.push('publishers mix an unnamed port with named ones; unnamed ports are left out');
    for (let i = ports.length - 1; i >= 0; i--) if (ports[i]!.name === undefined) ports.splice(i, 1);
  }
  const service: Service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: input.serviceName,
      namespace: input.namespace,
      labels: { [LABEL_MANAGED_BY]: MANAGER },
      ownerReferences: publishers
        .map(({ vm }) => vmOwnerReference(vm, false))
        .sort((a, b) => a.name.localeCompare(b.name)),
    },
    spec: { clusterIP: 'None', type: 'ClusterIP', ports },
  };
  return { service, warnings };
}

/**
 * Legacy core/v1 Endpoints for a Service, built from its slices: ready endpoints as
 * addresses, the others as notReadyAddresses. Labelled skip-mirror so the mirroring
 * controller does not turn them into a second set of slices.
 */
export function desiredLegacyEndpoints(service: Service, slices: readonly EndpointSlice[]): Endpoints {
  const ready: NonNullable<NonNullable<Endpoints['subsets']>[number]['addresses']> = [];
  const notReady: typeof ready = [];
  for (const slice of [...slices].sort((a, b) =>
    (a.metadata.name ?? '').localeCompare(b.metadata.name ?? ''),
  )) {
    for (const endpoint of slice.endpoints ?? []) {
      const ip = endpoint.addresses[0];
      if (ip === undefined) continue;
      const address: (typeof ready)[number] = { ip };
      if (endpoint.hostname) address.hostname = endpoint.hostname;
      if (endpoint.nodeName) address.nodeName = endpoint.nodeName;
      if (endpoint.targetRef) address.targetRef = endpoint.targetRef;
      (endpoint.conditions?.ready === false ? notReady : ready).push(address);
    }
  }
  const ports = (service.spec?.ports ?? []).map((p) => ({
    ...(p.name ? { name: p.name } : {}),
    port: p.port,
    protocol: p.protocol,
  }));
  const subset: NonNullable<Endpoints['subsets']>[number] = { ports };
  if (ready.length) subset.addresses = ready;
  if (notReady.length) subset.notReadyAddresses = notReady;
  return {
    apiVersion: 'v1',
    kind: 'Endpoints',
    metadata: {
      name: service.metadata.name,
      namespace: service.metadata.namespace,
      labels: {
        [LABEL_MANAGED_BY]: MANAGER,
        [LABEL_SKIP_MIRROR]: 'true',
        [LABEL_SERVICE_NAME]: service.metadata.name ?? '',
      },
      ownerReferences: service.metadata.ownerReferences,
    },
    subsets: ready.length || notReady.length ? [subset] : [],
  };
}

/** True when we may write this Service: it carries our managed-by label. */
export function isOurService(obj: { metadata: { labels?: Record<string, string> } }): boolean {
  return obj.metadata.labels?.[LABEL_MANAGED_BY] === MANAGER;
}

/** True when we may write this slice: managed by us and owned by this VM. */
export function isOurSlice(slice: EndpointSlice, vmUid: string | undefined): boolean {
  return (
    slice.metadata.labels?.[LABEL_SLICE_MANAGED_BY] === SLICE_MANAGER &&
    vmUid !== undefined &&
    (slice.metadata.ownerReferences ?? []).some((r) => r.uid === vmUid)
  );
}
