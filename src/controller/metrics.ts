// Controller metrics on a registry the composition root passes in (no global registry).
import { Counter, Gauge, Histogram } from 'prom-client';
import type { Registry } from 'prom-client';
import type { ReconcileMetrics } from './deps.js';

export interface ControllerMetrics extends ReconcileMetrics {
  error(kind: 'vm' | 'service'): void;
  queueDepth(n: number): void;
  watchRestart(informer: string, reason: string): void;
  leader(isLeader: boolean): void;
  eventDropped(): void;
}

export function controllerMetrics(registry: Registry): ControllerMetrics {
  const registers = [registry];
  const reconciles = new Counter({
    name: 'kubevirt_net_injector_controller_reconciles_total',
    help: 'Reconciles by key kind and result',
    labelNames: ['kind', 'result'] as const,
    registers,
  });
  const errors = new Counter({
    name: 'kubevirt_net_injector_controller_reconcile_errors_total',
    help: 'Reconciles that failed and were retried with backoff',
    labelNames: ['kind'] as const,
    registers,
  });
  const writes = new Counter({
    name: 'kubevirt_net_injector_controller_writes_total',
    help: 'Objects written to the apiserver',
    labelNames: ['kind', 'verb'] as const,
    registers,
  });
  const latency = new Histogram({
    name: 'kubevirt_net_injector_controller_ip_to_slice_seconds',
    help: 'From a VMI address change seen by the informer to the EndpointSlice carrying it written',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10],
    registers,
  });
  const depth = new Gauge({
    name: 'kubevirt_net_injector_controller_queue_depth',
    help: 'Keys waiting in the work queue',
    registers,
  });
  const restarts = new Counter({
    name: 'kubevirt_net_injector_controller_watch_restarts_total',
    help: 'Watches restarted, by informer and reason (error, silent, relist)',
    labelNames: ['informer', 'reason'] as const,
    registers,
  });
  const dropped = new Counter({
    name: 'kubevirt_net_injector_controller_events_dropped_total',
    help: 'Events not sent because too many were waiting',
    registers,
  });
  const leader = new Gauge({
    name: 'kubevirt_net_injector_controller_leader',
    help: '1 while this replica holds the lease',
    registers,
  });
  return {
    reconciled: (kind, result) => reconciles.inc({ kind, result }),
    error: (kind) => errors.inc({ kind }),
    write: (kind, verb) => writes.inc({ kind, verb }),
    ipToSlice: (seconds) => latency.observe(seconds),
    queueDepth: (n) => depth.set(n),
    watchRestart: (informer, reason) => restarts.inc({ informer, reason }),
    leader: (isLeader) => leader.set(isLeader ? 1 : 0),
    eventDropped: () => dropped.inc(),
  };
}

/** The policy audit's metrics (audit.ts). */
export interface AuditMetrics {
  /** Replaces every series: violating VMs by policy and namespace. */
  violations(counts: Iterable<{ policy: string; namespace: string; count: number }>): void;
  statusWrite(result: 'ok' | 'error'): void;
  /** How long judging took: `full` re-judges every VM, `vms` the VMs that changed. */
  pass(scope: 'full' | 'vms', seconds: number): void;
}

export function auditMetrics(registry: Registry): AuditMetrics {
  const registers = [registry];
  const violations = new Gauge({
    name: 'kubevirt_net_injector_policy_violations',
    help: 'Existing VMs that break a NetworkAttachmentPolicy, by policy and namespace (leader only)',
    labelNames: ['policy', 'namespace'] as const,
    registers,
  });
  const writes = new Counter({
    name: 'kubevirt_net_injector_policy_status_writes_total',
    help: 'NetworkAttachmentPolicy status writes by the audit, by result',
    labelNames: ['result'] as const,
    registers,
  });
  const passes = new Histogram({
    name: 'kubevirt_net_injector_policy_audit_seconds',
    help: 'Time to judge VMs against the policies: every VM (full) or the VMs that changed (vms)',
    labelNames: ['scope'] as const,
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    registers,
  });
  return {
    violations: (counts) => {
      violations.reset();
      for (const { policy, namespace, count } of counts) violations.set({ policy, namespace }, count);
    },
    statusWrite: (result) => writes.inc({ result }),
    pass: (scope, seconds) => passes.observe({ scope }, seconds),
  };
}
