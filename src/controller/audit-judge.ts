// One stored VM judged against the policies that select its namespace, as the validating
// webhook would judge its creation, minus what only a request has (the requester's `use`
// permission). Reads the cluster state's caches only; cost O(policies matching the namespace).
import { Keys } from '../mutate/annotations.js';
import { evaluate, type Finding } from '../policy/evaluate.js';
import { storedVmFacts, type VmFacts } from '../policy/facts.js';
import type { NadRef } from '../policy/refs.js';
import type { ClusterState } from '../kube/cluster-state.js';
import type { VirtualMachine } from './types.js';

/** What the audit reads of the cluster state. */
export type AuditClusterView = Pick<
  ClusterState,
  'namespace' | 'namespaces' | 'policies' | 'policiesFor' | 'nad' | 'platformNetwork'
>;

export function factsOf(vm: VirtualMachine): VmFacts {
  return storedVmFacts({
    namespace: vm.metadata.namespace ?? '',
    name: vm.metadata.name ?? '',
    labels: vm.metadata.labels ?? {},
    annotations: vm.metadata.annotations ?? {},
    networks: vm.spec?.template?.spec?.networks ?? [],
  });
}

/**
 * The network the webhook chose for this VM when it injected it. The controller does not know
 * the webhook's --network flag: a VM our webhook injected (status `injected`, interface
 * annotation naming the network) without a network annotation of its own got the platform's
 * choice. With its own `kubevirt-net-injector.io/network` the user chose: that one is judged.
 */
export function injectedPlatformNetwork(vm: VirtualMachine, facts: VmFacts): NadRef | undefined {
  if (facts.injected === undefined || vm.metadata.annotations?.[Keys.network] !== undefined) return undefined;
  return facts.networks.find((n) => n.name === facts.injected)?.ref;
}

/** Findings of every policy that selects the VM; none when its namespace is not opted in. */
export function judgeVm(state: AuditClusterView, vm: VirtualMachine, now: Date): Finding[] {
  const namespace = vm.metadata.namespace ?? '';
  const policies = state.policiesFor(namespace);
  if (policies.length === 0) return [];
  const facts = factsOf(vm);
  const platformNetwork =
    state.platformNetwork(namespace, facts.labels) ?? injectedPlatformNetwork(vm, facts);
  return evaluate('AUDIT', facts, undefined, {
    policies,
    nad: (ref) => state.nad(ref),
    now,
    ...(platformNetwork ? { platformNetwork } : {}),
  }).findings;
}
