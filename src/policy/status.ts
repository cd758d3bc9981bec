// A NetworkAttachmentPolicy's status as the controller's audit writes it (pure): the
// conditions Ready and NetworksResolved, the namespaces it matches and the VMs that break it.
// The audit (src/controller/audit.ts) gathers the facts; this module only shapes them.
import type { Finding } from './evaluate.js';
import { isExact, refText, resolveRef, type NadRef } from './refs.js';
import {
  MAX_VIOLATING_VMS,
  type Condition,
  type LabelSelector,
  type NetworkAttachmentPolicy,
  type PolicyStatus,
  type ViolatingVm,
} from './types.js';

export interface AuditTally {
  /** Opted-in namespaces the policy's namespaceSelector matches. */
  matchedNamespaces: readonly string[];
  /** Every VM with a finding of this policy, any order. */
  violating: readonly ViolatingVm[];
  nadExists(ref: NadRef): boolean;
}

/** At most this many names in a condition message. */
const MAX_LISTED = 20;
const REASON_CHARS = 200;

const OPERATORS = new Set(['In', 'NotIn', 'Exists', 'DoesNotExist']);
const MODES = new Set(['Enforce', 'Warn', 'Audit']);

function selectorProblems(selector: LabelSelector | undefined, path: string): string[] {
  if (selector === undefined) return [];
  return (selector.matchExpressions ?? []).flatMap((e, i) => {
    const at = `${path}.matchExpressions[${i}]`;
    if (!OPERATORS.has(e.operator)) return [`${at}: unknown operator`];
    const needsValues = e.operator === 'In' || e.operator === 'NotIn';
    if (needsValues !== (e.values !== undefined && e.values.length > 0))
      return [`${at}: ${e.operator} ${needsValues ? 'needs' : 'takes no'} values`];
    return [];
  });
}

/**
 * Why the spec cannot be used as written: what the CRD's schema normally refuses, found again
 * in case a policy was stored under an older schema or with validation off.
 */
export function specProblems(policy: NetworkAttachmentPolicy): string[] {
  const spec = policy.spec as NetworkAttachmentPolicy['spec'] | undefined;
  if (typeof spec !== 'object' || spec === null) return ['spec is missing'];
  const problems: string[] = [];
  if (typeof spec.namespaceSelector !== 'object' || spec.namespaceSelector === null)
    problems.push('spec.namespaceSelector is missing');
  problems.push(...selectorProblems(spec.namespaceSelector, 'spec.namespaceSelector'));
  problems.push(...selectorProblems(spec.vmSelector, 'spec.vmSelector'));
  problems.push(...selectorProblems(spec.allowedNetworks?.selector, 'spec.allowedNetworks.selector'));
  if (spec.inject && !resolveRef(String(spec.inject.network), 'x'))
    problems.push('spec.inject.network is not a name or namespace/name');
  if (spec.mode !== undefined && !MODES.has(spec.mode))
    problems.push('spec.mode is not Enforce, Warn or Audit');
  (spec.exemptions ?? []).forEach((e, i) => {
    problems.push(...selectorProblems(e.vmSelector, `spec.exemptions[${i}].vmSelector`));
    if (e.expires !== undefined && Number.isNaN(Date.parse(e.expires)))
      problems.push(`spec.exemptions[${i}].expires is not a date`);
  });
  return problems;
}

/**
 * The NADs the policy names exactly that do not exist, as `namespace/name`, sorted. Checked:
 * `namespace/name` entries of inject.network and allowedNetworks.names without `*`, and a bare
 * inject.network in every matched namespace (VMs there would get a network that is not there).
 * A bare name in an allow list names a NAD per namespace, which may rightly exist in some only.
 */
export function unresolvedNetworks(policy: NetworkAttachmentPolicy, tally: AuditTally): string[] {
  const refs: NadRef[] = [];
  const inject = policy.spec.inject?.network;
  if (inject !== undefined && !inject.includes('/')) {
    for (const ns of tally.matchedNamespaces) refs.push(...optional(resolveRef(inject, ns)));
  }
  const exact = [inject, ...(policy.spec.allowedNetworks?.names ?? [])].filter(
    (r): r is string => r !== undefined && r.includes('/') && isExact(r),
  );
  for (const r of exact) refs.push(...optional(resolveRef(r, '')));
  const missing = refs.filter((r) => !tally.nadExists(r)).map(refText);
  return [...new Set(missing)].sort();
}

function optional<T>(v: T | undefined): T[] {
  return v === undefined ? [] : [v];
}

function listed(names: string[]): string {
  const shown = names.slice(0, MAX_LISTED).join(', ');
  return names.length > MAX_LISTED ? `${shown} and ${names.length - MAX_LISTED} more` : shown;
}

type ConditionBody = Pick<Condition, 'type' | 'status' | 'reason' | 'message'>;

function readyCondition(policy: NetworkAttachmentPolicy): ConditionBody {
  const problems = specProblems(policy);
  if (problems.length > 0)
    return { type: 'Ready', status: 'False', reason: 'InvalidSpec', message: listed(problems) };
  const mode = policy.spec.mode ?? 'Enforce';
  return { type: 'Ready', status: 'True', reason: 'Loaded', message: `in effect (mode ${mode})` };
}

function networksCondition(policy: NetworkAttachmentPolicy, tally: AuditTally): ConditionBody {
  const missing = unresolvedNetworks(policy, tally);
  if (missing.length > 0) {
    return {
      type: 'NetworksResolved',
      status: 'False',
      reason: 'NetworkNotFound',
      message: `NetworkAttachmentDefinitions not found: ${listed(missing)}`,
    };
  }
  return {
    type: 'NetworksResolved',
    status: 'True',
    reason: 'Resolved',
    message: 'every NetworkAttachmentDefinition the policy names exactly exists',
  };
}

/** lastTransitionTime moves only when the condition's status does. */
function withTransition(
  body: ConditionBody,
  previous: readonly Condition[] | undefined,
  now: string,
  generation: number | undefined,
): Condition {
  const before = previous?.find((c) => c.type === body.type);
  const since = before && before.status === body.status ? before.lastTransitionTime : now;
  return {
    ...body,
    lastTransitionTime: since,
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
  };
}

function byNamespaceAndName(a: ViolatingVm, b: ViolatingVm): number {
  if (a.namespace !== b.namespace) return a.namespace < b.namespace ? -1 : 1;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** RFC 3339 to the second, as Kubernetes writes times. */
export function rfc3339(at: Date): string {
  return `${at.toISOString().slice(0, 19)}Z`;
}

/** The status to write, from the policy as cached (its conditions' transition times) and the tally. */
export function desiredStatus(policy: NetworkAttachmentPolicy, tally: AuditTally, at: Date): PolicyStatus {
  const now = rfc3339(at);
  const generation = policy.metadata.generation;
  const previous = policy.status?.conditions;
  const conditions = [readyCondition(policy), networksCondition(policy, tally)].map((c) =>
    withTransition(c, previous, now, generation),
  );
  const violating = [...tally.violating].sort(byNamespaceAndName);
  return {
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
    conditions,
    matchedNamespaces: tally.matchedNamespaces.length,
    violations: violating.length,
    lastAuditTime: now,
    violatingVMs: violating.slice(0, MAX_VIOLATING_VMS),
  };
}

/** Equal but for lastAuditTime: nothing worth a write. Key order does not count (Go sorts keys). */
export function sameStatus(stored: PolicyStatus | undefined, desired: PolicyStatus): boolean {
  if (!stored) return false;
  const strip = (s: PolicyStatus) => canonical({ ...s, lastAuditTime: undefined });
  return strip(stored) === strip(desired);
}

function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    typeof v === 'object' && v !== null && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

/** A VM's entry in violatingVMs: its first finding of this policy, short. */
export function violationReason(findings: readonly Finding[]): string {
  const first = findings[0];
  if (!first) return '';
  const text = `${first.rule} at ${first.path}: ${first.message}`;
  const cut = text.length > REASON_CHARS ? `${text.slice(0, REASON_CHARS - 3)}...` : text;
  return findings.length > 1 ? `${cut} (+${findings.length - 1} more)` : cut;
}
