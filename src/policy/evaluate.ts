// Judging one VM against the policies that select it (pure; docs/policy.md, "How policies
// combine"). The caller passes the policies whose namespaceSelector matches the VM's namespace
// (an index answers that without looking at any VM), the NAD cache, the requesting user, the
// time, and the results of the `use` permission checks it made for `permissionsNeeded`.
import { matches } from './selector.js';
import { networkPath, type NetworkFact, type VmFacts } from './facts.js';
import { isExact, patternMatches, refText, sameRef, type NadRef } from './refs.js';
import {
  MODE_ORDER,
  modeOf,
  type Exemption,
  type Mode,
  type NadInfo,
  type NetworkAttachmentPolicy,
  type UserInfo,
} from './types.js';

export type Rule =
  | 'NotAllowed'
  | 'CrossNamespace'
  | 'NetworkNotFound'
  | 'InvalidReference'
  | 'TooManyInterfaces'
  | 'NoUsePermission'
  | 'InjectedRemoved'
  | 'GuestFixRemoved';

export interface Finding {
  policy: string;
  mode: Mode;
  rule: Rule;
  /** The field at fault, e.g. spec.template.spec.networks[1].multus.networkName. */
  path: string;
  message: string;
  /** How to fix it, for the user who was refused. */
  fix: string;
}

export type Operation = 'CREATE' | 'UPDATE' | 'AUDIT';

/** A `use` check's result: allowed, refused, or not known (the check failed). */
export type Permission = boolean | 'unknown';

export interface EvaluationContext {
  /** Policies whose namespaceSelector matches the VM's namespace, any order. */
  policies: readonly NetworkAttachmentPolicy[];
  nad(ref: NadRef): NadInfo | undefined;
  user?: UserInfo;
  now: Date;
  /**
   * The network the platform injects for this VM (policy, namespace annotation or flag; never
   * the VM's own annotation): allowed without a listing and without a `use` check.
   */
  platformNetwork?: NadRef;
  /** `use` results by refText, for what `permissionsNeeded` returned. */
  permissions?: ReadonlyMap<string, Permission>;
}

export interface Evaluation {
  /** Policies that judged the VM, by name. */
  applied: string[];
  /** Policies that select the VM but exempt this request, with the exemption that did. */
  exempted: { policy: string; exemption: string }[];
  findings: Finding[];
  verdict: 'allowed' | 'warned' | 'denied';
  /** Why nothing was judged on an UPDATE (networks, interfaces and guest fix unchanged). */
  unrelated?: boolean;
}

/** Policies selecting this VM, in name order (vmSelector included, exemptions not yet). */
export function selecting(
  policies: readonly NetworkAttachmentPolicy[],
  vm: Pick<VmFacts, 'labels'>,
): NetworkAttachmentPolicy[] {
  return policies
    .filter((p) => matches(p.spec.vmSelector, vm.labels))
    .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
}

function serviceAccountOf(user: UserInfo | undefined): string | undefined {
  const prefix = 'system:serviceaccount:';
  const name = user?.username;
  if (!name?.startsWith(prefix)) return undefined;
  const [ns, sa] = name.slice(prefix.length).split(':');
  return ns && sa ? `${ns}/${sa}` : undefined;
}

/** Does the exemption cover this request? Every field it sets must match; expired ones never do. */
export function exempts(e: Exemption, vm: VmFacts, user: UserInfo | undefined, now: Date): boolean {
  if (e.expires !== undefined && !(Date.parse(e.expires) > now.getTime())) return false;
  const set = [e.namespaces, e.vmSelector, e.users, e.groups, e.serviceAccounts].filter(
    (x) => x !== undefined,
  );
  if (set.length === 0) return false;
  if (e.namespaces && !e.namespaces.includes(vm.namespace)) return false;
  if (e.vmSelector && !matches(e.vmSelector, vm.labels)) return false;
  if (e.users && !(user?.username !== undefined && e.users.includes(user.username))) return false;
  if (e.groups && !(user?.groups ?? []).some((g) => e.groups!.includes(g))) return false;
  if (e.serviceAccounts) {
    const sa = serviceAccountOf(user);
    if (!sa || !e.serviceAccounts.includes(sa)) return false;
  }
  return true;
}

function describeExemption(e: Exemption): string {
  const parts: string[] = [];
  if (e.namespaces) parts.push(`namespaces ${e.namespaces.join(', ')}`);
  if (e.vmSelector) parts.push('VM selector');
  if (e.users) parts.push(`users ${e.users.join(', ')}`);
  if (e.groups) parts.push(`groups ${e.groups.join(', ')}`);
  if (e.serviceAccounts) parts.push(`service accounts ${e.serviceAccounts.join(', ')}`);
  return parts.join('; ') + (e.expires ? ` (until ${e.expires})` : '');
}

function hasAllowList(p: NetworkAttachmentPolicy): boolean {
  const a = p.spec.allowedNetworks;
  return a !== undefined && (a.names !== undefined || a.selector !== undefined);
}

/** How `p` sees `ref`: allowed, listed but in another namespace, or not listed. */
function listing(p: NetworkAttachmentPolicy, ref: NadRef, vm: VmFacts, nad: NadInfo | undefined) {
  const injects = p.spec.inject?.network;
  if (injects !== undefined && patternMatches(injects, ref, vm.namespace) && isExact(injects))
    return 'allowed';
  const allowed = p.spec.allowedNetworks;
  const named = allowed?.names?.some((pattern) => patternMatches(pattern, ref, vm.namespace)) ?? false;
  const selected =
    allowed?.selector !== undefined && nad !== undefined && matches(allowed.selector, nad.labels);
  if (!named && !selected) return 'unlisted';
  return p.spec.allowCrossNamespace === true || ref.namespace === vm.namespace ? 'allowed' : 'otherNamespace';
}

/** The Multus networks a request brings: all of them, or on an UPDATE those the old VM did not have. */
function judged(vm: VmFacts, old: VmFacts | undefined): NetworkFact[] {
  const multus = vm.networks.filter((n) => n.multus !== undefined);
  if (!old) return multus;
  const before = old.networks.filter((n) => n.multus !== undefined);
  return multus.filter((n) => !before.some((o) => o.multus === n.multus && o.name === n.name));
}

/** What an UPDATE left alone: networks, interfaces and our guest fix unchanged. */
function unrelatedUpdate(vm: VmFacts, old: VmFacts): boolean {
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  return (
    same(
      vm.networks.map((n) => [n.name, n.multus]),
      old.networks.map((n) => [n.name, n.multus]),
    ) &&
    same(vm.interfaces, old.interfaces) &&
    vm.guestFix === old.guestFix
  );
}

/** NADs whose `use` the requesting user must be allowed, for the policies that ask it. */
export function permissionsNeeded(
  op: Operation,
  vm: VmFacts,
  old: VmFacts | undefined,
  ctx: Pick<EvaluationContext, 'policies' | 'user' | 'now' | 'platformNetwork'>,
): NadRef[] {
  if (op === 'AUDIT') return [];
  const applied = selecting(ctx.policies, vm).filter(
    (p) => !(p.spec.exemptions ?? []).some((e) => exempts(e, vm, ctx.user, ctx.now)),
  );
  if (!applied.some((p) => p.spec.requireUsePermission)) return [];
  if (old && unrelatedUpdate(vm, old)) return [];
  const refs: NadRef[] = [];
  for (const n of judged(vm, old)) {
    if (!n.ref || (ctx.platformNetwork && sameRef(n.ref, ctx.platformNetwork))) continue;
    if (!refs.some((r) => sameRef(r, n.ref!))) refs.push(n.ref);
  }
  return refs;
}

function quote(s: string): string {
  return JSON.stringify(s.length > 64 ? `${s.slice(0, 64)}...` : s);
}

/** Judges the VM (and, on an UPDATE, what changed since `old`). */
export function evaluate(
  op: Operation,
  vm: VmFacts,
  old: VmFacts | undefined,
  ctx: EvaluationContext,
): Evaluation {
  const exempted: Evaluation['exempted'] = [];
  const applied: NetworkAttachmentPolicy[] = [];
  for (const p of selecting(ctx.policies, vm)) {
    const e = (p.spec.exemptions ?? []).find((x) => exempts(x, vm, ctx.user, ctx.now));
    if (e) exempted.push({ policy: p.metadata.name, exemption: describeExemption(e) });
    else applied.push(p);
  }
  const result: Evaluation = {
    applied: applied.map((p) => p.metadata.name),
    exempted,
    findings: [],
    verdict: 'allowed',
  };
  if (applied.length === 0) return result;
  if (op === 'UPDATE' && old && unrelatedUpdate(vm, old)) return { ...result, unrelated: true };

  const findings = result.findings;
  const add = (policies: NetworkAttachmentPolicy[], f: Omit<Finding, 'policy' | 'mode'>) => {
    for (const p of policies) findings.push({ policy: p.metadata.name, mode: modeOf(p), ...f });
  };
  const listers = applied.filter(hasAllowList);

  for (const n of judged(vm, op === 'UPDATE' ? old : undefined)) {
    const path = networkPath(n);
    if (!n.ref) {
      add(applied, {
        rule: 'InvalidReference',
        path,
        message: `${quote(n.multus!)} is not a NetworkAttachmentDefinition name or namespace/name`,
        fix: 'name the network as name or namespace/name',
      });
      continue;
    }
    const ref = n.ref;
    const text = refText(ref);
    const nad = ctx.nad(ref);
    if (!nad) {
      add(applied, {
        rule: 'NetworkNotFound',
        path,
        message: `NetworkAttachmentDefinition ${text} does not exist`,
        fix: `create it, or use a network that exists (kubectl get network-attachment-definitions -n ${ref.namespace})`,
      });
    }
    const platform = ctx.platformNetwork !== undefined && sameRef(ref, ctx.platformNetwork);
    if (!platform && listers.length > 0) {
      const seen = listers.map((p) => listing(p, ref, vm, nad));
      if (!seen.includes('allowed')) {
        const crossOnly = seen.includes('otherNamespace');
        const allowedText = listers
          .flatMap((p) => [
            ...(p.spec.allowedNetworks?.names ?? []),
            ...(p.spec.allowedNetworks?.selector ? [`NADs labelled as ${p.metadata.name} selects`] : []),
          ])
          .join(', ');
        add(listers, {
          rule: crossOnly ? 'CrossNamespace' : 'NotAllowed',
          path,
          message: crossOnly
            ? `network ${text} is in another namespace than the VM (${vm.namespace}) and cross-namespace networks are not allowed here`
            : `network ${text} is not allowed here (allowed: ${allowedText})`,
          fix: crossOnly
            ? "use a network in the VM's namespace, or ask the platform team to set allowCrossNamespace"
            : 'use an allowed network, or ask the platform team to allow this one',
        });
      }
    }
    // An audit judges a stored VM: nobody is asking, so there is no `use` to check.
    if (!platform && op !== 'AUDIT') {
      const requiring = applied.filter((p) => p.spec.requireUsePermission);
      const permission = ctx.permissions?.get(text);
      if (requiring.length > 0 && permission !== true) {
        add(requiring, {
          rule: 'NoUsePermission',
          path,
          message:
            permission === false
              ? `${ctx.user?.username ?? 'the requester'} may not use NetworkAttachmentDefinition ${text}`
              : `could not check whether ${ctx.user?.username ?? 'the requester'} may use NetworkAttachmentDefinition ${text}`,
          fix: `ask for the verb "use" on network-attachment-definitions.k8s.cni.cncf.io ${ref.name} in namespace ${ref.namespace}`,
        });
      }
    }
  }

  const count = vm.networks.filter((n) => n.multus !== undefined).length;
  const before = old ? old.networks.filter((n) => n.multus !== undefined).length : 0;
  for (const p of applied) {
    const max = p.spec.maxSecondaryInterfaces;
    if (max === undefined || count <= max || (op === 'UPDATE' && count <= before)) continue;
    add([p], {
      rule: 'TooManyInterfaces',
      path: 'spec.template.spec.networks',
      message: `the VM lists ${count} Multus networks; at most ${max} are allowed here`,
      fix: `remove ${count - max} of them`,
    });
  }

  if (op === 'UPDATE' && old) {
    const name = old.injected;
    if (name !== undefined && old.networks.some((n) => n.name === name)) {
      if (!vm.networks.some((n) => n.name === name) || !vm.interfaces.includes(name)) {
        add(applied, {
          rule: 'InjectedRemoved',
          path: 'spec.template.spec.networks',
          message: `the update removes the injected L2 network ${quote(name)} or its interface`,
          fix: 'keep the network and interface the injector added',
        });
      }
    }
    if (old.guestFix && !vm.guestFix) {
      add(applied, {
        rule: 'GuestFixRemoved',
        path: 'spec.template.spec.volumes',
        message: "the update removes the injector's guest fix from the cloud-init user data",
        fix: 'keep the cloud-init part the injector added (the guest would take the default route and DNS from the L2 network)',
      });
    }
  }

  const modes = new Set(findings.map((f) => f.mode));
  result.verdict = modes.has('Enforce') ? 'denied' : modes.has('Warn') ? 'warned' : 'allowed';
  findings.sort((a, b) => MODE_ORDER[a.mode] - MODE_ORDER[b.mode] || a.policy.localeCompare(b.policy));
  return result;
}

/** One line per finding, as a denial or a warning shows it. */
export function describe(f: Finding): string {
  return `NetworkAttachmentPolicy ${quote(f.policy)} (${f.mode}, ${f.rule}) at ${f.path}: ${f.message}; fix: ${f.fix}`;
}
