// Leader election on a coordination.k8s.io/v1 Lease. Every candidate tries every
// `retryPeriodMs`: create the Lease if absent, renew it if it holds it, take it over if the
// holder's renewTime is older than the lease duration. Writes use the resourceVersion read
// just before, so two candidates cannot both win. A leader that cannot renew within
// `renewDeadlineMs` steps down before anyone else may take over.
import { CoordinationV1Api, V1MicroTime } from '@kubernetes/client-node';
import type { KubeConfig, V1Lease } from '@kubernetes/client-node';
import type { Logger } from './deps.js';

export interface LeaseState {
  holderIdentity?: string;
  renewTimeMs?: number;
  leaseDurationSeconds?: number;
}

/** Pure: what a candidate may do with the Lease as read. */
export function leaseDecision(
  lease: LeaseState | undefined,
  me: string,
  nowMs: number,
): 'create' | 'renew' | 'takeover' | 'follow' {
  if (!lease) return 'create';
  if (lease.holderIdentity === me) return 'renew';
  if (!lease.holderIdentity) return 'takeover';
  const expiresAt = (lease.renewTimeMs ?? 0) + (lease.leaseDurationSeconds ?? 0) * 1000;
  return nowMs >= expiresAt ? 'takeover' : 'follow';
}

export interface LeaseClient {
  read(): Promise<V1Lease | undefined>;
  create(lease: V1Lease): Promise<void>;
  replace(lease: V1Lease): Promise<void>;
}

export function kubeLeaseClient(kc: KubeConfig, namespace: string, name: string): LeaseClient {
  const api = kc.makeApiClient(CoordinationV1Api);
  return {
    async read() {
      try {
        return await api.readNamespacedLease({ namespace, name });
      } catch (err) {
        if ((err as { code?: number }).code === 404) return undefined;
        throw err;
      }
    },
    async create(body) {
      await api.createNamespacedLease({ namespace, body });
    },
    async replace(body) {
      await api.replaceNamespacedLease({ namespace, name, body });
    },
  };
}

export interface LeaderOptions {
  client: LeaseClient;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  logger: Logger;
  onStartedLeading: () => void;
  onStoppedLeading: () => void;
  now?: () => number;
}

export class LeaderElector {
  private timer: NodeJS.Timeout | undefined;
  private leading = false;
  private lastRenewMs = 0;
  private stopped = false;
  private readonly now: () => number;

  constructor(private readonly options: LeaderOptions) {
    this.now = options.now ?? Date.now;
  }

  get isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    this.stopped = false;
    void this.tick();
  }

  /** Stop trying; a leader releases the Lease so a successor need not wait for it to expire. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    if (!this.leading) return;
    this.setLeading(false);
    try {
      const lease = await this.options.client.read();
      if (lease?.spec?.holderIdentity === this.options.identity) {
        lease.spec.holderIdentity = undefined;
        await this.options.client.replace(lease);
      }
    } catch (err) {
      this.options.logger.warn({ err: String(err) }, 'could not release the lease');
    }
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.tick(), this.options.retryPeriodMs);
    this.timer.unref();
  }

  private setLeading(value: boolean): void {
    if (value === this.leading) return;
    this.leading = value;
    this.options.logger.info(
      { lease: `${this.options.namespace}/${this.options.name}`, identity: this.options.identity },
      value ? 'became leader' : 'stopped leading',
    );
    if (value) this.options.onStartedLeading();
    else this.options.onStoppedLeading();
  }

  private async tick(): Promise<void> {
    try {
      const renewed = await this.tryAcquireOrRenew();
      if (renewed) {
        this.lastRenewMs = this.now();
        this.setLeading(true);
      } else {
        this.setLeading(false);
      }
    } catch (err) {
      this.options.logger.warn({ err: String(err) }, 'lease update failed');
      if (this.leading && this.now() - this.lastRenewMs > this.options.renewDeadlineMs)
        this.setLeading(false);
    }
    this.schedule();
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { client, identity, namespace, name } = this.options;
    const lease = await client.read();
    const now = this.now();
    const state: LeaseState | undefined = lease && {
      holderIdentity: lease.spec?.holderIdentity,
      renewTimeMs: lease.spec?.renewTime ? new Date(lease.spec.renewTime).getTime() : undefined,
      leaseDurationSeconds: lease.spec?.leaseDurationSeconds,
    };
    const decision = leaseDecision(state, identity, now);
    if (decision === 'follow') return false;
    const durationSeconds = Math.ceil(this.options.leaseDurationMs / 1000);
    const time = new V1MicroTime(now);
    if (decision === 'create') {
      await client.create({
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name, namespace },
        spec: {
          holderIdentity: identity,
          leaseDurationSeconds: durationSeconds,
          acquireTime: time,
          renewTime: time,
          leaseTransitions: 0,
        },
      });
      return true;
    }
    const spec = { ...(lease!.spec ?? {}) };
    if (decision === 'takeover') {
      spec.holderIdentity = identity;
      spec.acquireTime = time;
      spec.leaseTransitions = (spec.leaseTransitions ?? 0) + 1;
    }
    spec.renewTime = time;
    spec.leaseDurationSeconds = durationSeconds;
    await client.replace({ ...lease!, spec });
    return true;
  }
}
