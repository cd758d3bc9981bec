// What would happen to a VirtualMachine created now, and why (`kubevirt-net-injector explain`):
// the mutating webhook's decision and the real engine (`mutate`), then the validating webhook's
// evaluation (`evaluate('CREATE')`) on the VM as mutated. No I/O here: the namespace, policies,
// NADs and `use` checks come from a source the caller builds (files, or a cluster).
import { Keys } from '../mutate/annotations.js';
import { mutate, resolveSettings, type InjectSettings } from '../mutate/index.js';
import { isObj, readVm } from '../mutate/vm.js';
import {
  evaluate,
  permissionsNeeded,
  selecting,
  type Evaluation,
  type Finding,
  type Permission,
} from './evaluate.js';
import { vmFacts, type VmFacts } from './facts.js';
import { refText, resolveRef, type NadRef } from './refs.js';
import { matches } from './selector.js';
import { INJECT_LABEL, isOptedIn, settingsFor, type InjectDefaults, type NamespaceInfo } from './settings.js';
import { modeOf, type Mode, type NadInfo, type NetworkAttachmentPolicy, type UserInfo } from './types.js';

/** What a NAD lookup may answer: found, absent, or not known (not given offline, not readable). */
export type NadAnswer = NadInfo | undefined | 'unknown';

export interface ExplainSource {
  /** Where the namespace's labels came from: the files, the cluster, or assumed (offline, absent). */
  namespace(name: string): Promise<{ info: NamespaceInfo; from: 'files' | 'cluster' | 'assumed' }>;
  policies(): Promise<readonly NetworkAttachmentPolicy[]>;
  nads(refs: readonly NadRef[]): Promise<(ref: NadRef) => NadAnswer>;
  /** undefined: not checked (offline). */
  checkUse(ref: NadRef): Promise<Permission | undefined>;
  /** Who would create the VM (for exemptions by user, group or service account), if known. */
  user?: UserInfo;
  defaults: InjectDefaults;
  now: Date;
}

export interface Injection {
  outcome: 'injected' | 'skipped' | 'unchanged' | 'not injected';
  reason?: string;
  /** The NAD (as written into the VM), its network/interface name, the cloud-init fix. */
  network?: string;
  interfaceName?: string;
  cloudInit?: boolean;
  /** Where the network came from: VM annotation, policy <name>, namespace annotation, --network. */
  from?: string;
  warnings: string[];
}

export interface Explanation {
  vm: { namespace: string; name: string };
  namespace: {
    name: string;
    optedIn: boolean;
    from: 'files' | 'cluster' | 'assumed';
    labels: Record<string, string>;
  };
  injection: Injection;
  /** Policies that select the VM (namespace and VM selectors), with their mode. */
  selecting: { policy: string; mode: Mode }[];
  applied: string[];
  exempted: Evaluation['exempted'];
  findings: Finding[];
  /** What could not be checked, said plainly (offline use checks, unknown NADs). */
  notChecked: string[];
  verdict: Evaluation['verdict'];
}

/** `vm` must be a VirtualMachine object; throws InvalidObjectError when it cannot be read. */
export async function explainVm(
  vm: Record<string, unknown>,
  namespace: string,
  source: ExplainSource,
): Promise<Explanation> {
  const placed = inNamespace(vm, namespace);
  const view = readVm(placed);
  const ns = await source.namespace(namespace);
  const optedIn = isOptedIn(ns.info);
  const policies = optedIn
    ? (await source.policies()).filter((p) => matches(p.spec.namespaceSelector ?? {}, ns.info.labels))
    : [];
  const { injection, mutated, platformNetwork } = inject(
    placed,
    ns.info,
    policies,
    view.labels,
    source.defaults,
  );
  const base: Explanation = {
    vm: { namespace, name: view.name || `${view.generateName}*` },
    namespace: { name: namespace, optedIn, from: ns.from, labels: ns.info.labels },
    injection,
    selecting: [],
    applied: [],
    exempted: [],
    findings: [],
    notChecked: [],
    verdict: 'allowed',
  };
  if (policies.length === 0) return base;
  const facts = vmFacts(mutated, namespace, false);
  return { ...base, ...(await judge(facts, policies, platformNetwork, source)) };
}

/** The VM as the apiserver would hand it to the webhooks: in `namespace`. */
function inNamespace(vm: Record<string, unknown>, namespace: string): Record<string, unknown> {
  const metadata = isObj(vm['metadata']) ? vm['metadata'] : {};
  return { ...vm, metadata: { ...metadata, namespace } };
}

function inject(
  vm: Record<string, unknown>,
  ns: NamespaceInfo,
  policies: readonly NetworkAttachmentPolicy[],
  labels: Record<string, string>,
  defaults: InjectDefaults,
): { injection: Injection; mutated: Record<string, unknown>; platformNetwork?: NadRef } {
  if (!isOptedIn(ns)) {
    const reason = `namespace not opted in (no label ${INJECT_LABEL}=enabled): no injection, no policy`;
    return { injection: { outcome: 'not injected', reason, warnings: [] }, mutated: vm };
  }
  const verdict = settingsFor(ns.name, ns, policies, labels, defaults);
  if (!verdict.optedIn) {
    const warnings = verdict.warning ? [verdict.warning] : [];
    return { injection: { outcome: 'not injected', reason: verdict.reason, warnings }, mutated: vm };
  }
  const result = mutate(vm, verdict.settings);
  const platformNetwork = resolveRef(verdict.settings.network, ns.name);
  const injection: Injection = {
    outcome: result.decision.outcome,
    ...(result.decision.reason !== undefined ? { reason: result.decision.reason } : {}),
    warnings: result.warnings,
    ...(result.decision.outcome === 'skipped'
      ? {}
      : injectedNetwork(result.vm, vm, verdict.settings, verdict.from)),
  };
  return { injection, mutated: result.vm, ...(platformNetwork ? { platformNetwork } : {}) };
}

/** The network, interface and cloud-init switch as the engine resolved them, and their origin. */
function injectedNetwork(
  mutated: Record<string, unknown>,
  original: Record<string, unknown>,
  settings: InjectSettings,
  from: string,
): Partial<Injection> {
  const own = readVm(original).annotations;
  const resolved = resolveSettings(readVm(original), settings);
  if ('error' in resolved) return {};
  return {
    network: resolved.network,
    interfaceName: readVm(mutated).annotations[Keys.interface] ?? resolved.interfaceName,
    cloudInit: resolved.cloudInit,
    from: own[Keys.network] !== undefined ? `VM annotation ${Keys.network}` : from,
  };
}

async function judge(
  facts: VmFacts,
  policies: readonly NetworkAttachmentPolicy[],
  platformNetwork: NadRef | undefined,
  source: ExplainSource,
): Promise<Partial<Explanation>> {
  const ctx = {
    policies,
    now: source.now,
    ...(source.user ? { user: source.user } : {}),
    ...(platformNetwork ? { platformNetwork } : {}),
  };
  const notChecked: string[] = [];
  const permissions = new Map<string, Permission>();
  for (const ref of permissionsNeeded('CREATE', facts, undefined, ctx)) {
    const answer = await source.checkUse(ref);
    // Not checked counts as allowed for the verdict, and is said so.
    if (answer === undefined) notChecked.push(`requireUsePermission: "use" of ${refText(ref)} (offline)`);
    permissions.set(refText(ref), answer ?? true);
  }
  const refs = facts.networks.flatMap((n) => (n.ref ? [n.ref] : []));
  const lookup = await source.nads(refs);
  const nad = (ref: NadRef): NadInfo | undefined => {
    const answer = lookup(ref);
    if (answer !== 'unknown') return answer;
    notChecked.push(`NetworkAttachmentDefinition ${refText(ref)}: existence and labels (not known here)`);
    return { ...ref, labels: {} };
  };
  const evaluation = evaluate('CREATE', facts, undefined, { ...ctx, nad, permissions });
  return {
    selecting: selecting(policies, facts).map((p) => ({ policy: p.metadata.name, mode: modeOf(p) })),
    applied: evaluation.applied,
    exempted: evaluation.exempted,
    findings: evaluation.findings,
    notChecked: [...new Set(notChecked)],
    verdict: evaluation.verdict,
  };
}
