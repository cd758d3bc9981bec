// What the caches keep of each object (informer transforms). Reconcile and the policy audit
// (a VM's labels, for policies' vmSelector) read only these fields; everything else of a VM or VMI (the whole domain spec, status conditions,
// managedFields) would cost memory for nothing: measured at 10,000 VMIs, see
// docs/controller.md. Services and slices keep everything but managedFields, because an
// update starts from the cached object.
import { PREFIX } from '../mutate/annotations.js';
import type { ObjectMeta, VirtualMachine, VirtualMachineInstance } from './types.js';

function meta(m: ObjectMeta, keep: 'vm' | 'vmi'): ObjectMeta {
  const out: ObjectMeta = {
    name: m.name,
    namespace: m.namespace,
    uid: m.uid,
    resourceVersion: m.resourceVersion,
  };
  if (m.creationTimestamp != null) out.creationTimestamp = m.creationTimestamp;
  if (m.deletionTimestamp != null) out.deletionTimestamp = m.deletionTimestamp;
  if (keep === 'vm' && m.labels && Object.keys(m.labels).length > 0) out.labels = m.labels;
  if (keep === 'vm' && m.annotations) {
    const ours = Object.entries(m.annotations).filter(([k]) => k.startsWith(PREFIX));
    if (ours.length > 0) out.annotations = Object.fromEntries(ours);
  }
  return out;
}

export function slimVm(vm: VirtualMachine): VirtualMachine {
  const networks = vm.spec?.template?.spec?.networks;
  const out: VirtualMachine = {
    apiVersion: vm.apiVersion,
    kind: vm.kind,
    metadata: meta(vm.metadata ?? {}, 'vm'),
  };
  const spec: NonNullable<VirtualMachine['spec']> = {};
  if (vm.spec?.running !== undefined) spec.running = vm.spec.running;
  if (vm.spec?.runStrategy !== undefined) spec.runStrategy = vm.spec.runStrategy;
  if (networks) spec.template = { spec: { networks } };
  out.spec = spec;
  return out;
}

export function slimVmi(vmi: VirtualMachineInstance): VirtualMachineInstance {
  const out: VirtualMachineInstance = {
    apiVersion: vmi.apiVersion,
    kind: vmi.kind,
    metadata: meta(vmi.metadata ?? {}, 'vmi'),
  };
  const status = vmi.status;
  if (status) {
    out.status = {};
    if (status.phase !== undefined) out.status.phase = status.phase;
    if (status.nodeName !== undefined) out.status.nodeName = status.nodeName;
    if (status.interfaces) {
      out.status.interfaces = status.interfaces.map((i) => ({
        name: i.name,
        ipAddress: i.ipAddress,
        ipAddresses: i.ipAddresses,
      }));
    }
  }
  return out;
}

export function withoutManagedFields<T extends { metadata?: object }>(obj: T): T {
  const m = obj.metadata as { managedFields?: unknown } | undefined;
  if (m && 'managedFields' in m) delete m.managedFields;
  return obj;
}
