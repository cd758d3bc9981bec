// The validating admission handler (POST /validate): judges VirtualMachine CREATE and UPDATE
// against the NetworkAttachmentPolicies that select the VM (src/policy). Registered after every
// mutating webhook, so it sees the VM as it will be stored. Enforce findings deny (403) with
// the policy, field, network and fix; Warn findings come back as admission warnings; Audit
// findings are only counted. `use` checks (SubjectAccessReviews) are made only for policies
// that ask for them, bounded in time.
import { describe, evaluate, permissionsNeeded, type Permission } from '../policy/evaluate.js';
import { vmFacts, type VmFacts } from '../policy/facts.js';
import { refText, resolveRef, type NadRef } from '../policy/refs.js';
import type { UserInfo } from '../policy/types.js';
import type { Counter } from 'prom-client';
import { failedReview, type HandlerResult } from './handler.js';
import { allowed, denied } from './response.js';
import type { AdmissionRequest } from './review.js';
import type { PolicySource, SettingsSource } from './settings-source.js';

/** Asks whether `user` may `use` the NAD (a SubjectAccessReview); never throws. */
export type UseCheck = (
  user: UserInfo & { uid?: string; extra?: Record<string, string[]> },
  ref: NadRef,
) => Promise<Permission>;

export interface ValidatingDeps {
  policies: PolicySource;
  settings: SettingsSource;
  checkUse: UseCheck;
  /** kubevirt_net_injector_policy_decisions_total{policy,mode,result}. */
  decisions: Counter<'policy' | 'mode' | 'result'>;
  now?: () => Date;
}

type Verdict = 'allowed' | 'warned' | 'denied';

function userOf(request: AdmissionRequest): UserInfo & { uid?: string; extra?: Record<string, string[]> } {
  const u = (
    typeof request.userInfo === 'object' && request.userInfo !== null ? request.userInfo : {}
  ) as Record<string, unknown>;
  const strings = (v: unknown) =>
    Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  const extra: Record<string, string[]> = {};
  if (typeof u.extra === 'object' && u.extra !== null) {
    for (const [k, v] of Object.entries(u.extra)) extra[k] = strings(v);
  }
  return {
    ...(typeof u.username === 'string' ? { username: u.username } : {}),
    ...(typeof u.uid === 'string' ? { uid: u.uid } : {}),
    groups: strings(u.groups),
    extra,
  };
}

export function createValidatingHandler(
  deps: ValidatingDeps,
): (request: AdmissionRequest) => Promise<HandlerResult> {
  const now = deps.now ?? (() => new Date());
  return async (request) => {
    const { uid } = request;
    const { kind, resource } = request;
    if (
      resource.group !== 'kubevirt.io' ||
      resource.resource !== 'virtualmachines' ||
      kind.kind !== 'VirtualMachine' ||
      request.subResource
    ) {
      return {
        response: allowed(uid),
        outcome: 'ignored',
        reason: `not a VirtualMachine: ${resource.group}/${resource.resource}`,
      };
    }
    if (request.operation !== 'CREATE' && request.operation !== 'UPDATE') {
      return { response: allowed(uid), outcome: 'ignored', reason: `operation ${request.operation}` };
    }
    try {
      return await judge(deps, request, now());
    } catch (err) {
      return failedReview(uid, err);
    }
  };
}

async function judge(deps: ValidatingDeps, request: AdmissionRequest, now: Date): Promise<HandlerResult> {
  const { uid } = request;
  const namespace = request.namespace ?? '';
  const policies = deps.policies.policiesFor(namespace);
  if (policies.length === 0)
    return { response: allowed(uid), outcome: 'allowed', reason: 'no policy selects the namespace' };
  const op = request.operation as 'CREATE' | 'UPDATE';
  const vm = vmFacts(request.object, namespace, op === 'UPDATE');
  const old: VmFacts | undefined = op === 'UPDATE' ? vmFacts(request.oldObject, namespace) : undefined;
  const user = userOf(request);
  const platform = deps.settings.forVm(namespace, vm.labels);
  const platformNetwork = platform.optedIn ? resolveRef(platform.settings.network, namespace) : undefined;
  const base = { policies, user, now, ...(platformNetwork ? { platformNetwork } : {}) };
  const needed = permissionsNeeded(op, vm, old, base);
  const permissions = new Map<string, Permission>();
  await Promise.all(needed.map(async (ref) => permissions.set(refText(ref), await deps.checkUse(user, ref))));
  const evaluation = evaluate(op, vm, old, { ...base, nad: (ref) => deps.policies.nad(ref), permissions });

  for (const name of evaluation.applied) {
    const mine = evaluation.findings.filter((f) => f.policy === name);
    const mode = policies.find((p) => p.metadata.name === name)?.spec.mode ?? 'Enforce';
    const result =
      mine.length === 0 ? 'allowed' : mode === 'Enforce' ? 'denied' : mode === 'Warn' ? 'warned' : 'audited';
    deps.decisions.inc({ policy: name, mode, result });
  }
  const warnings = evaluation.findings.filter((f) => f.mode === 'Warn').map(describe);
  const reason = summary(evaluation.verdict, evaluation.findings.length, evaluation.unrelated);
  if (evaluation.verdict === 'denied') {
    const lines = evaluation.findings.filter((f) => f.mode === 'Enforce').map(describe);
    return {
      response: denied(uid, lines.join('\n'), 403, warnings),
      outcome: 'denied',
      reason,
    };
  }
  return {
    response: allowed(uid, warnings),
    outcome: evaluation.verdict === 'warned' ? 'warned' : 'allowed',
    reason,
  };
}

function summary(verdict: Verdict, findings: number, unrelated: boolean | undefined): string {
  if (unrelated) return 'update leaves networks, interfaces and guest fix alone';
  return findings === 0 ? 'no finding' : `${verdict}: ${findings} finding(s)`;
}
