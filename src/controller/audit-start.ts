// The policy audit's wiring inside the controller: its own cluster state (opted-in Namespaces,
// NetworkAttachmentPolicies, NADs; the same informers the webhook keeps) beside the
// controller's VM informer, whose events it follows. The caches fill on every replica; only
// the leader judges and writes (lead / stepDown). A cluster without the policy CRD or without
// Multus' NAD CRD keeps publishing Services: these informers retry with backoff on their own,
// and nothing else waits for them.
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import type { Registry } from 'prom-client';
import { createClusterState } from '../kube/cluster-state.js';
import type { ResilientInformer } from '../kube/informer.js';
import { clusterListWatch } from '../kube/list-watch.js';
import { PolicyAudit } from './audit.js';
import type { EventRecorder, Logger } from './deps.js';
import { kubePolicyStatusWriter } from './kube.js';
import { auditMetrics } from './metrics.js';
import type { VirtualMachine } from './types.js';

export interface AuditWiring {
  kc: KubeConfig;
  vms: ResilientInformer<KubernetesObject>;
  events: EventRecorder;
  registry: Registry;
  logger: Logger;
  watchSilenceMs: number;
  relistMs: number;
  onRestart: (informer: string, reason: string) => void;
  /** The controller watches this namespace only: so does the audit (its status counts it alone). */
  namespace?: string;
}

export interface RunningAudit {
  audit: PolicyAudit;
  stop(): Promise<void>;
}

export function startPolicyAudit(w: AuditWiring): RunningAudit {
  const state = createClusterState({
    ...clusterListWatch(w.kc),
    // The audit never injects: the webhook's defaults do not matter here.
    defaults: { interfaceName: 'l2', cloudInit: true },
    logger: w.logger,
    silenceMs: w.watchSilenceMs,
    relistMs: w.relistMs,
    onRestart: w.onRestart,
  });
  const only = w.namespace;
  const audit = new PolicyAudit({
    state: only
      ? {
          ...state,
          namespaces: () => state.namespaces().filter((n) => n.name === only),
          policiesFor: (ns) => (ns === only ? state.policiesFor(ns) : []),
        }
      : state,
    vms: {
      get: (namespace, name) => w.vms.get(name, namespace) as VirtualMachine | undefined,
      list: (namespace) => w.vms.list(namespace) as unknown as readonly VirtualMachine[],
    },
    synced: Promise.all([w.vms.synced, state.synced]).then(() => undefined),
    writeStatus: kubePolicyStatusWriter(w.kc),
    events: w.events,
    metrics: auditMetrics(w.registry),
    logger: w.logger,
  });
  for (const verb of ['add', 'update', 'delete'] as const)
    w.vms.on(verb, (o) => audit.vmChanged(o as unknown as VirtualMachine));
  state.onChange((what) => audit.clusterChanged(what));
  state
    .start()
    .catch((err: unknown) =>
      w.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'policy caches did not start'),
    );
  return {
    audit,
    async stop() {
      await audit.stop();
      await state.stop();
    },
  };
}
