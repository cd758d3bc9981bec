// What the policies look at in a VirtualMachine, read once (pure).
import { Keys, STATUS_INJECTED } from '../mutate/annotations.js';
import { hasGuestFix } from '../mutate/cloudinit.js';
import { isObj, readVm } from '../mutate/vm.js';
import { resolveRef, type NadRef } from './refs.js';

export interface NetworkFact {
  /** Index in spec.template.spec.networks, for the field path. */
  index: number;
  name: string;
  /** The Multus reference as written; absent for the pod network and others. */
  multus?: string;
  /** That reference resolved against the VM's namespace; absent when it is not a valid one. */
  ref?: NadRef;
}

export interface VmFacts {
  namespace: string;
  name: string;
  labels: Record<string, string>;
  networks: NetworkFact[];
  interfaces: string[];
  /** The network our webhook injected (status `injected`, name in the interface annotation). */
  injected?: string;
  /** Our guest fix is in the cloud-init user data. */
  guestFix: boolean;
}

/**
 * Throws InvalidObjectError (from readVm) when the object is not a VM we can read. `guestFix`
 * (an UPDATE compares it; it costs a decode of the user data) is read only when asked for.
 */
export function vmFacts(object: unknown, namespace?: string, withGuestFix = true): VmFacts {
  const view = readVm(object);
  const ns = view.namespace || namespace || '';
  const injected = injectedName(view.annotations);
  return {
    namespace: ns,
    name: view.name || `${view.generateName}*`,
    labels: view.labels,
    networks: view.networks.map((n, index) => networkFact(n, index, ns)),
    interfaces: view.interfaces.map((i) => i.name),
    ...(injected ? { injected } : {}),
    guestFix: withGuestFix && hasGuestFix(view.volumes),
  };
}

/** A VM as the apiserver stored it, reduced to what an audit reads (the controller's cache). */
export interface StoredVm {
  namespace: string;
  name: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  networks: readonly { name: string; multus?: unknown }[];
}

/**
 * Facts for evaluate('AUDIT', ...): metadata and networks only. Interfaces and the guest fix
 * are left empty: only an UPDATE judges them (against the old object).
 */
export function storedVmFacts(vm: StoredVm): VmFacts {
  const injected = injectedName(vm.annotations);
  return {
    namespace: vm.namespace,
    name: vm.name,
    labels: vm.labels,
    networks: vm.networks.map((n, index) => networkFact(n, index, vm.namespace)),
    interfaces: [],
    ...(injected ? { injected } : {}),
    guestFix: false,
  };
}

function networkFact(n: { name: string; multus?: unknown }, index: number, ns: string): NetworkFact {
  const ref = isObj(n.multus) ? n.multus['networkName'] : undefined;
  if (typeof ref !== 'string') return { index, name: n.name };
  const resolved = resolveRef(ref, ns);
  return { index, name: n.name, multus: ref, ...(resolved ? { ref: resolved } : {}) };
}

function injectedName(annotations: Record<string, string>): string | undefined {
  return annotations[Keys.status] === STATUS_INJECTED ? annotations[Keys.interface] : undefined;
}

/** The field path of a network's Multus reference, as a denial names it. */
export function networkPath(n: NetworkFact): string {
  return `spec.template.spec.networks[${n.index}].multus.networkName`;
}
