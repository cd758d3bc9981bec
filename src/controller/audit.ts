// The policy audit (docs/controller.md, "Policy audit"): existing VMs judged against the
// NetworkAttachmentPolicies that select them, on the leader only. Incremental: findings are
// kept per VM; a VM event re-judges that VM; a change of policies, NADs or opted-in namespaces,
// and the resync, re-judge every VM in opted-in namespaces. Changes are gathered for `batchMs`
// (default 1 s), then judged in one pass, and the status of every policy whose violations,
// matched namespaces or conditions changed is written (at a resync, every policy's, so
// lastAuditTime moves). A VM that newly breaks a policy gets a Warning PolicyViolation Event.
import { describe, type Finding } from '../policy/evaluate.js';
import { matches } from '../policy/selector.js';
import { desiredStatus, sameStatus, violationReason } from '../policy/status.js';
import type { NetworkAttachmentPolicy, PolicyStatus, ViolatingVm } from '../policy/types.js';
import { judgeVm, type AuditClusterView } from './audit-judge.js';
import type { EventRecorder, Logger } from './deps.js';
import type { AuditMetrics } from './metrics.js';
import type { VirtualMachine } from './types.js';

export const VIOLATION_REASON = 'PolicyViolation';
/** Events a VM gets at most per change of its findings. */
const MAX_EVENTS_PER_VM = 5;

export interface AuditVmCache {
  get(namespace: string, name: string): VirtualMachine | undefined;
  list(namespace: string): readonly VirtualMachine[];
}

/** Merge-patches a policy's status subresource; errors carry `code` (404: policy gone). */
export type StatusWriter = (policy: string, status: PolicyStatus) => Promise<void>;

export interface AuditDeps {
  state: AuditClusterView;
  vms: AuditVmCache;
  /** Resolves when the VM cache and the cluster state hold their first lists. */
  synced: Promise<void>;
  writeStatus: StatusWriter;
  events: EventRecorder;
  metrics: AuditMetrics;
  logger: Logger;
  now?: () => Date;
  batchMs?: number;
  /** A failed status write is tried again after this long. */
  retryMs?: number;
}

interface VmRecord {
  namespace: string;
  name: string;
  uid: string | undefined;
  findings: Finding[];
  /** describe() of each finding: what changed, and the Events' messages. */
  lines: string[];
}

const keyOf = (namespace: string, name: string) => `${namespace}/${name}`;

export class PolicyAudit {
  private leading = false;
  private readonly byVm = new Map<string, VmRecord>();
  /** Violating VMs per policy, by VM key: status and metrics without a pass over the VMs. */
  private readonly byPolicy = new Map<string, Map<string, ViolatingVm>>();
  private readonly pendingVms = new Set<string>();
  private readonly dirty = new Set<string>();
  private fullPass = false;
  private forceWrite = false;
  private policySignature = '';
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private readonly now: () => Date;
  private readonly batchMs: number;
  private readonly retryMs: number;

  constructor(private readonly deps: AuditDeps) {
    this.now = deps.now ?? (() => new Date());
    this.batchMs = deps.batchMs ?? 1000;
    this.retryMs = deps.retryMs ?? 5000;
  }

  /** A VM was added, updated or deleted (the handler passes the cached object). */
  vmChanged(vm: VirtualMachine): void {
    if (!this.leading) return;
    this.pendingVms.add(keyOf(vm.metadata.namespace ?? '', vm.metadata.name ?? ''));
    this.schedule();
  }

  /** The cluster state changed. A policy event that only changed a status (ours) is ignored. */
  clusterChanged(what: 'namespaces' | 'policies' | 'nads'): void {
    if (!this.leading) return;
    if (what === 'policies') {
      const signature = this.signature();
      if (signature === this.policySignature) return;
      this.policySignature = signature;
    }
    this.fullPass = true;
    this.schedule();
  }

  /** Every VM again, and every policy's status written. */
  resync(): void {
    if (!this.leading) return;
    this.fullPass = true;
    this.forceWrite = true;
    this.schedule();
  }

  lead(): void {
    if (this.leading) return;
    this.leading = true;
    this.policySignature = this.signature();
    this.resync();
  }

  /** Forget everything: another replica audits now. */
  stepDown(): void {
    this.leading = false;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.byVm.clear();
    this.byPolicy.clear();
    this.pendingVms.clear();
    this.dirty.clear();
    this.deps.metrics.violations([]);
  }

  async stop(): Promise<void> {
    this.stepDown();
    await this.running;
  }

  /** Resolves when no pass is waiting or running (tests). */
  async whenIdle(): Promise<void> {
    while (this.timer || this.running) {
      if (this.running) await this.running;
      else await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }

  /** Violating VMs of a policy, as counted now (tests, metrics). */
  violating(policy: string): ViolatingVm[] {
    return [...(this.byPolicy.get(policy)?.values() ?? [])];
  }

  /** Policies whose spec changed: uid and generation (the spec itself when there is none). */
  private signature(): string {
    return this.deps.state
      .policies()
      .map((p) => `${p.metadata.name}|${p.metadata.uid}|${p.metadata.generation ?? JSON.stringify(p.spec)}`)
      .sort()
      .join('\n');
  }

  private schedule(delayMs = this.batchMs): void {
    // A running pass schedules the next one itself when it ends.
    if (!this.leading || this.timer || this.running) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.running = this.pass()
        .catch((err: unknown) =>
          this.deps.logger.warn(
            { err: err instanceof Error ? err.message : String(err) },
            'policy audit failed',
          ),
        )
        .finally(() => {
          this.running = undefined;
          if (this.pendingVms.size > 0 || this.fullPass) this.schedule();
          else if (this.dirty.size > 0) this.schedule(this.retryMs);
        });
    }, delayMs);
    this.timer.unref();
  }

  private async pass(): Promise<void> {
    await this.deps.synced;
    if (!this.leading) return;
    const started = process.hrtime.bigint();
    const full = this.fullPass;
    if (full) this.judgeAll();
    else this.judgePending();
    this.deps.metrics.pass(full ? 'full' : 'vms', Number(process.hrtime.bigint() - started) / 1e9);
    const force = this.forceWrite;
    this.forceWrite = false;
    await this.writeStatuses(force);
    this.deps.metrics.violations(this.counts());
  }

  private judgePending(): void {
    const keys = [...this.pendingVms];
    this.pendingVms.clear();
    const now = this.now();
    for (const key of keys) {
      const slash = key.indexOf('/');
      const vm = this.deps.vms.get(key.slice(0, slash), key.slice(slash + 1));
      this.record(key, vm, vm ? judgeVm(this.deps.state, vm, now) : []);
    }
  }

  /** Every VM of every opted-in namespace; VMs judged before and not met again are cleared. */
  private judgeAll(): void {
    this.fullPass = false;
    this.pendingVms.clear();
    const now = this.now();
    const seen = new Set<string>();
    for (const ns of this.deps.state.namespaces()) {
      for (const vm of this.deps.vms.list(ns.name)) {
        const key = keyOf(ns.name, vm.metadata.name ?? '');
        seen.add(key);
        this.record(key, vm, judgeVm(this.deps.state, vm, now));
      }
    }
    for (const key of [...this.byVm.keys()]) if (!seen.has(key)) this.record(key, undefined, []);
    for (const p of this.deps.state.policies()) this.dirty.add(p.metadata.name);
    for (const name of this.byPolicy.keys()) this.dirty.add(name);
  }

  /** Keeps the VM's findings, the per-policy index and the dirty set; Events for new findings. */
  private record(key: string, vm: VirtualMachine | undefined, findings: Finding[]): void {
    const before = this.byVm.get(key);
    const lines = findings.map(describe);
    const uid = vm?.metadata.uid;
    const same = before?.uid === uid && sameLines(before?.lines ?? [], lines);
    if (same || (!before && findings.length === 0)) return;
    for (const f of before?.findings ?? []) this.unindex(f.policy, key);
    if (findings.length === 0 || !vm) {
      this.byVm.delete(key);
      return;
    }
    const record: VmRecord = {
      namespace: vm.metadata.namespace ?? '',
      name: vm.metadata.name ?? '',
      uid,
      findings,
      lines,
    };
    this.byVm.set(key, record);
    for (const [policy, mine] of groupByPolicy(findings)) this.index(policy, key, record, mine);
    const known = before && before.uid === uid ? new Set(before.lines) : new Set<string>();
    const fresh = lines.filter((l) => !known.has(l)).slice(0, MAX_EVENTS_PER_VM);
    for (const message of fresh) this.deps.events.record(vm, 'Warning', VIOLATION_REASON, message);
  }

  private index(policy: string, key: string, vm: VmRecord, findings: Finding[]): void {
    let entries = this.byPolicy.get(policy);
    if (!entries) this.byPolicy.set(policy, (entries = new Map()));
    entries.set(key, { namespace: vm.namespace, name: vm.name, reason: violationReason(findings) });
    this.dirty.add(policy);
  }

  private unindex(policy: string, key: string): void {
    const entries = this.byPolicy.get(policy);
    if (entries?.delete(key) && entries.size === 0) this.byPolicy.delete(policy);
    this.dirty.add(policy);
  }

  private async writeStatuses(force: boolean): Promise<void> {
    const policies = this.deps.state.policies();
    const names = force ? new Set(policies.map((p) => p.metadata.name)) : new Set(this.dirty);
    this.dirty.clear();
    const namespaces = this.deps.state.namespaces();
    const now = this.now();
    for (const policy of policies) {
      if (!this.leading) return;
      if (!names.has(policy.metadata.name)) continue;
      const matched = namespaces
        .filter((ns) => matches(policy.spec?.namespaceSelector ?? {}, ns.labels))
        .map((ns) => ns.name);
      const status = desiredStatus(
        policy,
        {
          matchedNamespaces: matched,
          violating: this.violating(policy.metadata.name),
          nadExists: (ref) => this.deps.state.nad(ref) !== undefined,
        },
        now,
      );
      if (!force && sameStatus(policy.status, status)) continue;
      await this.write(policy, status);
    }
  }

  private async write(policy: NetworkAttachmentPolicy, status: PolicyStatus): Promise<void> {
    const name = policy.metadata.name;
    try {
      await this.deps.writeStatus(name, status);
      this.deps.metrics.statusWrite('ok');
    } catch (err) {
      if ((err as { code?: unknown }).code === 404) return; // deleted meanwhile
      this.deps.metrics.statusWrite('error');
      this.dirty.add(name);
      this.deps.logger.warn(
        { policy: name, err: err instanceof Error ? err.message : String(err) },
        'could not write policy status; will retry',
      );
    }
  }

  private counts(): { policy: string; namespace: string; count: number }[] {
    const out: { policy: string; namespace: string; count: number }[] = [];
    for (const [policy, entries] of this.byPolicy) {
      const perNamespace = new Map<string, number>();
      for (const vm of entries.values())
        perNamespace.set(vm.namespace, (perNamespace.get(vm.namespace) ?? 0) + 1);
      for (const [namespace, count] of perNamespace) out.push({ policy, namespace, count });
    }
    return out;
  }
}

function sameLines(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((line, i) => line === b[i]);
}

function groupByPolicy(findings: Finding[]): Map<string, Finding[]> {
  const groups = new Map<string, Finding[]>();
  for (const f of findings) groups.set(f.policy, [...(groups.get(f.policy) ?? []), f]);
  return groups;
}
