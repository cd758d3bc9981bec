// Review worker threads (`--workers N`): the main thread keeps TLS, HTTP, logs and metrics
// and hands each body to a worker, which parses it and runs the engine on another core. A
// worker that stops answering is cut off: its reviews are refused (HTTP 500, so the
// apiserver applies the failure policy at once instead of waiting out its timeout) and a new
// worker takes its place. Settings reach the workers as snapshots, after every change.
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import type { Logger } from '../telemetry/logger.js';
import type { ReviewVerdict } from './decide.js';
import type { RemoteDecider } from './endpoint.js';
import type { SettingsSnapshot, SettingsSource } from './settings-source.js';

export interface WorkerInit {
  settings: SettingsSnapshot;
  maxDepth: number;
}

export type ToWorker =
  { type: 'review'; id: number; body: Uint8Array } | { type: 'settings'; settings: SettingsSnapshot };

export type FromWorker = { type: 'ready' } | { type: 'verdict'; id: number; verdict: ReviewVerdict };

export interface WorkerPoolOptions {
  size: number;
  settings: SettingsSource;
  maxDepth: number;
  /** A review not answered by then is refused and its worker replaced. */
  timeoutMs: number;
  logger: Logger;
  /** The worker script; tests pass their own. */
  entry?: URL;
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
  done: (verdict: ReviewVerdict) => void;
  deadline: number;
}

interface Slot {
  worker: Worker;
  started: Promise<void>;
  /** It has loaded the engine: only such a worker is replaced at once when it fails. */
  up: boolean;
  /** In the order sent: a worker answers in order, so the first is the oldest. */
  pending: Map<number, Pending>;
}

const DEFAULT_ENTRY = new URL('./review-worker.js', import.meta.url);
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
    const pending = [...slot.pending.values()];
    slot.pending.clear();
    for (const p of pending) p.done(failed(message));
  };

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
      pending: new Map(),
      up: false,
    };
    slot.started.catch(() => {});
    worker.on('message', (message: FromWorker) => {
      if (message.type === 'ready') {
        slot.up = true;
        started();
        return;
      }
      const p = slot.pending.get(message.id);
      if (!p) return;
      slot.pending.delete(message.id);
      p.done(message.verdict);
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
        const oldest = slot.pending.values().next().value as Pending | undefined;
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

  return {
    decide: (body, done) => {
      let slot = slots[0]!;
      for (const s of slots) if (s.pending.size < slot.pending.size) slot = s;
      const id = nextId++;
      slot.pending.set(id, { done, deadline: performance.now() + opts.timeoutMs });
      // Its own copy, moved rather than cloned: a socket's chunk may be a view of a far larger
      // buffer, and cloning a view clones all of that buffer.
      const bytes = new Uint8Array(body);
      const message: ToWorker = { type: 'review', id, body: bytes };
      slot.worker.postMessage(message, [bytes.buffer]);
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
