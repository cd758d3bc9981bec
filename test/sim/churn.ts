// A seeded, reproducible churn of publishing VMs for fault tests and benches: addresses
// change, vanish and come back, VMs stop and start, are deleted, created, recreated under an
// earlier name, and move to another Service. Pairs of VMs share a Service (`vm-2k` and
// `vm-2k+1` publish `svc-k`), so shared owner lists churn too. Every operation goes to the
// apiserver as a user or virt-handler would make it; one that fails (the apiserver is down)
// is counted and the worker pauses. The truth is what the apiserver stores afterwards
// (test/sim/published.ts), not this driver's own view.
import { CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KubeVirtSimulator } from './kubevirt.js';
import { seedVm } from './vms.js';

export interface ChurnOptions {
  namespace: string;
  /** VMs created by populate(), and the population the churn keeps near. */
  size: number;
  seed: number;
  /** Operations in flight at once. */
  concurrency: number;
  /** Each worker's pause after an operation, ms. */
  pauseMs: number;
}

export type ChurnOp = 'address' | 'unaddress' | 'restart' | 'delete' | 'create' | 'republish';

export interface ChurnCounts {
  ok: number;
  /** Errors other than the ones below: the apiserver unreachable or failing. */
  failed: number;
  /** Not applicable when tried (404, 409, no VMI: the VM was stopped or gone). */
  skipped: number;
  byOp: Record<ChurnOp, number>;
}

const GROUP = { group: 'kubevirt.io', version: 'v1', plural: 'virtualmachines' };
const MERGE = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const OPS: [ChurnOp, number][] = [
  ['address', 50],
  ['unaddress', 10],
  ['restart', 10],
  ['delete', 10],
  ['create', 12],
  ['republish', 8],
];

/** mulberry32: a small seeded PRNG, so a failing run can be replayed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const codeOf = (err: unknown) => (err as { code?: unknown } | undefined)?.code;
const notApplicable = (err: unknown) =>
  codeOf(err) === 404 || codeOf(err) === 409 || /^no VMI /.test((err as Error)?.message ?? '');
/** A catch handler that swallows one HTTP status and rethrows everything else. */
const unless = (code: number) => (err: unknown) => {
  if (codeOf(err) !== code) throw err;
};

const serviceOf = (index: number) => `svc-${Math.floor(index / 2)}`;

export class Churn {
  readonly counts: ChurnCounts = {
    ok: 0,
    failed: 0,
    skipped: 0,
    byOp: { address: 0, unaddress: 0, restart: 0, delete: 0, create: 0, republish: 0 },
  };
  private readonly api: CustomObjectsApi;
  private readonly random: () => number;
  private readonly alive = new Set<number>();
  private readonly deleted: number[] = [];
  private readonly busy = new Set<number>();
  /** VMs last asked to stop: no VMI, so no address to change. */
  private readonly stopped = new Set<number>();
  private nextIndex = 0;
  private nextIp = 0;
  private running = false;
  private workers: Promise<void>[] = [];

  constructor(
    kc: KubeConfig,
    private readonly sim: KubeVirtSimulator,
    private readonly opts: ChurnOptions,
  ) {
    this.api = kc.makeApiClient(CustomObjectsApi);
    this.random = prng(opts.seed);
  }

  /** For the simulator's `addressFor`: a fresh address each time a VMI starts. */
  readonly addressFor = (): string[] => [this.freshIp()];

  private freshIp(): string {
    const n = this.nextIp++;
    return `10.${64 + Math.floor(n / 65536)}.${Math.floor(n / 256) % 256}.${n % 256}`;
  }

  /** Creates `size` running, publishing VMs (`concurrency` at a time). */
  async populate(concurrency = 16): Promise<void> {
    const indexes = Array.from({ length: this.opts.size }, () => this.nextIndex++);
    let next = 0;
    const one = async () => {
      while (next < indexes.length) {
        const i = indexes[next++]!;
        await this.createVm(i);
        this.alive.add(i);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, one));
  }

  start(): void {
    this.running = true;
    this.workers = Array.from({ length: this.opts.concurrency }, () => this.work());
  }

  async stop(): Promise<ChurnCounts> {
    this.running = false;
    await Promise.all(this.workers);
    return this.counts;
  }

  /**
   * Changes the address of `n` VMs at once and resolves when the writes returned: a fault
   * injected right after finds the controller in the middle of writing their slices.
   */
  async burst(n: number): Promise<number> {
    const picked = this.idle(true).slice(0, n);
    const results = await Promise.allSettled(picked.map((i) => this.apply('address', i)));
    if (process.env.FAULT_DEBUG)
      for (const r of results)
        if (r.status === 'rejected') console.log('burst:', String(r.reason).slice(0, 200));
    return results.filter((r) => r.status === 'fulfilled').length;
  }

  private async work(): Promise<void> {
    while (this.running) {
      const op = this.pickOp();
      const index = this.pickVm(op);
      if (index === undefined) {
        await sleep(this.opts.pauseMs);
        continue;
      }
      this.busy.add(index);
      try {
        await this.apply(op, index);
        this.counts.ok++;
        this.counts.byOp[op]++;
        await sleep(this.opts.pauseMs);
      } catch (err) {
        if (notApplicable(err)) this.counts.skipped++;
        else this.counts.failed++;
        await sleep(Math.max(this.opts.pauseMs, 200));
      } finally {
        this.busy.delete(index);
      }
    }
  }

  private pickOp(): ChurnOp {
    const drift = this.alive.size - this.opts.size;
    if (drift < -this.opts.size / 10) return 'create';
    if (drift > this.opts.size / 10) return 'delete';
    let roll = this.random() * OPS.reduce((sum, [, w]) => sum + w, 0);
    for (const [op, weight] of OPS) if ((roll -= weight) < 0) return op;
    return 'address';
  }

  private pickVm(op: ChurnOp): number | undefined {
    if (op === 'create') {
      // Half the time an earlier name comes back (a VM renamed by recreation, or recreated).
      const reuse = this.deleted.length > 0 && this.random() < 0.5;
      const i = reuse
        ? this.deleted.splice(Math.floor(this.random() * this.deleted.length), 1)[0]!
        : this.nextIndex++;
      return this.busy.has(i) ? undefined : i;
    }
    const candidates = this.idle(op === 'address' || op === 'unaddress');
    if (candidates.length === 0) return undefined;
    return candidates[Math.floor(this.random() * candidates.length)];
  }

  private idle(runningOnly: boolean): number[] {
    return [...this.alive].filter((i) => !this.busy.has(i) && !(runningOnly && this.stopped.has(i)));
  }

  private async apply(op: ChurnOp, i: number): Promise<void> {
    const ns = this.opts.namespace;
    const name = `vm-${i}`;
    switch (op) {
      case 'address': {
        const v4 = this.freshIp();
        const dual = this.random() < 0.1;
        return this.sim.setAddresses(
          ns,
          name,
          'l2',
          dual ? [v4, `fd00::${v4.split('.').slice(1).join(':')}`] : [v4],
        );
      }
      case 'unaddress':
        return this.sim.setAddresses(ns, name, 'l2', []);
      case 'restart': {
        // Mostly started again: about four in five VMs run at any time.
        const running = this.random() < 0.8;
        await this.patchVm(name, { spec: { running } });
        if (running) this.stopped.delete(i);
        else this.stopped.add(i);
        return;
      }
      case 'republish': {
        const service = serviceOf(Math.floor(this.random() * this.opts.size));
        return this.patchVm(name, {
          metadata: { annotations: { 'kubevirt-net-injector.io/service-name': service } },
        });
      }
      case 'delete':
        await this.api.deleteNamespacedCustomObject({ ...GROUP, namespace: ns, name }).catch(unless(404));
        this.alive.delete(i);
        this.stopped.delete(i);
        this.deleted.push(i);
        return;
      case 'create':
        try {
          await this.createVm(i).catch(unless(409));
        } catch (err) {
          this.deleted.push(i); // maybe created, maybe not: a later create finds out
          throw err;
        }
        this.alive.add(i);
        return;
    }
  }

  private async createVm(i: number): Promise<void> {
    const body = seedVm(`vm-${i}`, this.opts.namespace, {
      'kubevirt-net-injector.io/service-name': serviceOf(i),
      'kubevirt-net-injector.io/service-ports': 'app:8080',
    });
    await this.api.createNamespacedCustomObject({ ...GROUP, namespace: this.opts.namespace, body });
  }

  private async patchVm(name: string, body: object): Promise<void> {
    await this.api.patchNamespacedCustomObject(
      { ...GROUP, namespace: this.opts.namespace, name, body },
      MERGE,
    );
  }
}
