// Review worker threads (`--workers N`): the main thread keeps TLS, HTTP, logs and metrics
// and hands the bodies of each event-loop turn to a worker, which parses them and runs the
// engine on another core (a lone review, with nothing in flight, stays on this thread). A
// worker that stops answering is cut off: its reviews are refused (HTTP 500, so the
// apiserver applies the failure policy at once instead of waiting out its timeout) and a new
// worker takes its place. Settings reach the workers as snapshots, after every change.
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { Worker } from 'node:worker_threads';
import type { Logger } from '../telemetry/logger.js';
import type { ReviewVerdict } from './decide.js';
import type { RemoteDecider } from './endpoint.js';
import type { SettingsSnapshot, SettingsSource } from './settings-source.js';
import { decodeVerdicts, type VerdictBatch } from './verdict-wire.js';

export interface WorkerInit {
  settings: SettingsSnapshot;
  maxDepth: number;
}

export type ToWorker =
  | { type: 'reviews'; ids: number[]; ends: number[]; bodies: Uint8Array }
  | { type: 'settings'; settings: SettingsSnapshot };

export type FromWorker = { type: 'ready' } | { type: 'verdicts'; ids: number[]; batch: VerdictBatch };

export interface WorkerPoolOptions {
  size: number;
  settings: SettingsSource;
  maxDepth: number;
  /** A review not answered by then is refused and its worker replaced. */
  timeoutMs: number;
  logger: Logger;
  /** The worker script; tests pass their own. */
  entry?: URL;
  /**
   * Decides on this thread the one review of an event-loop turn when no worker has anything
   * in flight: a lone review (the usual rate of VM creates) then skips two thread wake-ups
   * (about 0.25 ms here). Absent: every review goes to a worker.
   */
  here?: (body: Buffer) => ReviewVerdict;
}

export interface WorkerPool {
  decide: RemoteDecider;
  /** Resolves once every first worker has loaded the engine; rejects if one cannot. */
  ready: Promise<void>;
  /** Workers replaced so far (hung or crashed). */
  replaced(): number;
  close(): Promise<void>;
}

interface Pending {
  id: number;
  done: (verdict: ReviewVerdict) => void;
  deadline: number;
}

/**
 * A worker's reviews in the order sent, which is the order it answers in. Not a Map: under
 * constant insert and delete a Map keeps replacing its table, each old table keeps pointing
 * at its entries and at the next table, and once one is promoted the chain drags every
 * review's request and response objects into the old generation with it (measured: 1.5 MB
 * promoted per scavenge, pauses of 3 to 4 ms instead of under 1).
 */
class InFlight {
  private items: (Pending | undefined)[] = [];
  private head = 0;

  get size(): number {
    return this.items.length - this.head;
  }

  push(p: Pending): void {
    this.items.push(p);
  }

  oldest(): Pending | undefined {
    return this.items[this.head];
  }

  /** The oldest, if it is the review `id`; a late answer from a worker already failed finds none. */
  take(id: number): Pending | undefined {
    const p = this.items[this.head];
    if (p?.id !== id) return undefined;
    this.items[this.head++] = undefined;
    if (this.head === this.items.length) {
      this.items.length = 0;
      this.head = 0;
    } else if (this.head >= 1024) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return p;
  }

  /** Empties the queue, returning what was in it. */
  drain(): Pending[] {
    const all = this.items.slice(this.head) as Pending[];
    this.items = [];
    this.head = 0;
    return all;
  }
}

interface Slot {
  worker: Worker;
  started: Promise<void>;
  /** It has loaded the engine: only such a worker is replaced at once when it fails. */
  up: boolean;
  pending: InFlight;
  /** Bodies taken in this turn of the event loop, sent together when it ends. */
  outbox: Buffer[];
  outboxIds: number[];
}

const DEFAULT_ENTRY = new URL('./review-worker.js', import.meta.url);

/**
 * A review worker's young generation, MB per semispace, from its start. V8 starts an isolate
 * at 1 to 2 MB and grows it only when much survives a scavenge; almost nothing of a review
 * outlives its batch, so a worker stayed small and scavenged every few milliseconds under
 * load (pinned benchmark: 1,473 scavenges in 9 s; with 16 MB, 458, for 22 MB more RSS).
 * V8 reads the flags when it creates an isolate, so they apply to the workers spawned after
 * they are set and leave the main thread's heap as it was made. The maximum is set too: the
 * main thread's young generation is capped smaller where the process starts
 * (src/config/node-heap.ts), and that cap would otherwise hold the workers' too.
 */
export const WORKER_SEMI_SPACE_MB = 16;
const TIMED_OUT = 'review not decided in time';

function failed(message: string): ReviewVerdict {
  return { kind: 'refused', status: 500, reason: 'worker_failed', message };
}

export function createWorkerPool(opts: WorkerPoolOptions): WorkerPool {
  const { settings, logger } = opts;
  const snapshotOf = settings.snapshot?.bind(settings);
  if (!snapshotOf) throw new Error('review workers need a settings source that can be copied');
  const entry = opts.entry ?? DEFAULT_ENTRY;
  let closed = false;
  let nextId = 0;
  let replacements = 0;

  const fail = (slot: Slot, message: string) => {
    for (const p of slot.pending.drain()) p.done(failed(message));
  };

  setFlagsFromString(
    `--min-semi-space-size=${WORKER_SEMI_SPACE_MB} --max-semi-space-size=${WORKER_SEMI_SPACE_MB}`,
  );
  const spawn = (): Slot => {
    const init: WorkerInit = { settings: snapshotOf(), maxDepth: opts.maxDepth };
    const worker = new Worker(entry, { workerData: init });
    let started!: () => void;
    let didNotStart!: (err: Error) => void;
    const slot: Slot = {
      worker,
      started: new Promise<void>((resolve, reject) => {
        started = resolve;
        didNotStart = reject;
      }),
      pending: new InFlight(),
      outbox: [],
      outboxIds: [],
      up: false,
    };
    slot.started.catch(() => {});
    worker.on('message', (message: FromWorker) => {
      if (message.type === 'ready') {
        slot.up = true;
        started();
        return;
      }
      const { ids } = message;
      const verdicts = decodeVerdicts(message.batch);
      for (let i = 0; i < ids.length; i++) {
        slot.pending.take(ids[i]!)?.done(verdicts[i]!);
      }
    });
    worker.on('error', (err) => {
      didNotStart(err);
      logger.error({ errorName: err.name }, 'review worker failed');
      replace(slot, 'review worker failed');
    });
    worker.on('exit', (code) => {
      didNotStart(new Error(`review worker exited with code ${code}`));
      if (closed || !slots.includes(slot)) return;
      logger.error({ code }, 'review worker exited');
      replace(slot, 'review worker exited');
    });
    return slot;
  };

  const slots: Slot[] = [];
  const replace = (slot: Slot, message: string) => {
    const index = slots.indexOf(slot);
    if (index < 0 || closed) return;
    // One that never came up would fail again at once: its reviews time out instead, and the
    // sweep tries a new worker no more often than the timeout.
    if (!slot.up && message !== TIMED_OUT) {
      fail(slot, message);
      return;
    }
    replacements++;
    slots[index] = spawn();
    fail(slot, message);
    void slot.worker.terminate();
  };
  for (let i = 0; i < opts.size; i++) slots.push(spawn());
  const ready = Promise.all(slots.map((s) => s.started)).then(() => {});

  // One sweep for all deadlines: a worker's oldest review overdue means the worker is stuck.
  const sweep = setInterval(
    () => {
      const now = performance.now();
      for (const slot of [...slots]) {
        const oldest = slot.pending.oldest();
        if (oldest && oldest.deadline < now) {
          logger.error({ timeoutMs: opts.timeoutMs }, 'review worker stopped answering; replacing it');
          replace(slot, TIMED_OUT);
        }
      }
    },
    Math.max(10, Math.min(250, opts.timeoutMs / 4)),
  );
  sweep.unref();

  // Settings changes come in bursts (a list, many watch events): one snapshot per burst.
  let queued = false;
  settings.onChange?.(() => {
    if (queued) return;
    queued = true;
    setImmediate(() => {
      queued = false;
      const message: ToWorker = { type: 'settings', settings: snapshotOf() };
      for (const slot of slots) slot.worker.postMessage(message);
    });
  });

  let flushQueued = false;
  const flush = () => {
    flushQueued = false;
    if (opts.here) {
      // Queued but not sent is all a worker holds: one review in all, and none in flight.
      let queued = 0;
      let lone: Slot | undefined;
      for (const s of slots) {
        if (s.pending.size !== s.outbox.length) {
          queued = -1;
          break;
        }
        queued += s.outbox.length;
        if (s.outbox.length > 0) lone = s;
      }
      if (queued === 1 && lone) {
        const body = lone.outbox[0]!;
        const p = lone.pending.take(lone.outboxIds[0]!);
        lone.outbox = [];
        lone.outboxIds = [];
        p?.done(opts.here(body));
        return;
      }
    }
    for (const slot of slots) {
      if (slot.outbox.length === 0) continue;
      // One copy of all bodies, moved rather than cloned: a socket's chunk may be a view of a
      // far larger buffer, and cloning a view clones all of that buffer.
      const ends: number[] = [];
      let total = 0;
      for (const b of slot.outbox) ends.push((total += b.length));
      const bodies = new Uint8Array(total);
      let at = 0;
      for (const b of slot.outbox) {
        bodies.set(b, at);
        at += b.length;
      }
      const message: ToWorker = { type: 'reviews', ids: slot.outboxIds, ends, bodies };
      slot.outbox = [];
      slot.outboxIds = [];
      slot.worker.postMessage(message, [bodies.buffer]);
    }
  };

  return {
    decide: (body, done) => {
      let slot = slots[0]!;
      for (const s of slots) if (s.pending.size < slot.pending.size) slot = s;
      const id = nextId++;
      slot.pending.push({ id, done, deadline: performance.now() + opts.timeoutMs });
      slot.outbox.push(body);
      slot.outboxIds.push(id);
      if (!flushQueued) {
        flushQueued = true;
        setImmediate(flush);
      }
    },
    ready,
    replaced: () => replacements,
    close: async () => {
      closed = true;
      clearInterval(sweep);
      for (const slot of slots) fail(slot, 'shutting down');
      await Promise.all(slots.map((s) => s.worker.terminate()));
    },
  };
}
