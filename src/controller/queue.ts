// A de-duplicating work queue in the manner of client-go's workqueue: a key is queued at
// most once; a key re-added while a worker holds it is queued again when the worker calls
// done(), so two workers never reconcile the same key at once and no change is missed.
import { KeyedBackoff } from '../kube/backoff.js';
import type { BackoffOptions } from '../kube/backoff.js';

export interface QueueOptions {
  backoff: BackoffOptions;
  /** Injected for tests (sinon fake timers patch the globals anyway). */
  setTimeout?: (fn: () => void, ms: number) => unknown;
  clearTimeout?: (handle: unknown) => void;
}

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly waiting: ((key: string | undefined) => void)[] = [];
  private readonly delayed = new Map<string, { due: number; handle: unknown }>();
  private readonly backoff: KeyedBackoff;
  private readonly setTimer: (fn: () => void, ms: number) => unknown;
  private readonly clearTimer: (handle: unknown) => void;
  private shuttingDown = false;

  constructor(options: QueueOptions) {
    this.backoff = new KeyedBackoff(options.backoff);
    this.setTimer =
      options.setTimeout ??
      ((fn, ms) => {
        const t = setTimeout(fn, ms);
        t.unref?.();
        return t;
      });
    this.clearTimer = options.clearTimeout ?? ((h) => clearTimeout(h as NodeJS.Timeout));
  }

  /** Queue a key now. No-op if it is already queued. */
  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    if (this.processing.has(key)) return;
    const waiter = this.waiting.shift();
    if (waiter) {
      this.dirty.delete(key);
      this.processing.add(key);
      waiter(key);
      return;
    }
    this.queue.push(key);
  }

  /** Queue a key after a delay; an earlier pending delay for the same key wins. */
  addAfter(key: string, ms: number, now = Date.now()): void {
    if (this.shuttingDown) return;
    if (ms <= 0) return this.add(key);
    const due = now + ms;
    const pending = this.delayed.get(key);
    if (pending && pending.due <= due) return;
    if (pending) this.clearTimer(pending.handle);
    const handle = this.setTimer(() => {
      this.delayed.delete(key);
      this.add(key);
    }, ms);
    this.delayed.set(key, { due, handle });
  }

  /** Queue a key after its backoff delay; returns the delay. */
  addRateLimited(key: string): number {
    const delay = this.backoff.next(key);
    this.addAfter(key, delay);
    return delay;
  }

  /** The key succeeded: its backoff starts over. */
  forget(key: string): void {
    this.backoff.forget(key);
  }

  retries(key: string): number {
    return this.backoff.failuresOf(key);
  }

  /** The next key, waiting if none is queued; undefined once the queue shuts down. */
  get(): Promise<string | undefined> {
    const key = this.queue.shift();
    if (key !== undefined) {
      this.dirty.delete(key);
      this.processing.add(key);
      return Promise.resolve(key);
    }
    if (this.shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** A worker finished with the key; re-queue it if it was added meanwhile. */
  done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.has(key)) {
      this.dirty.delete(key);
      this.add(key);
    }
  }

  get length(): number {
    return this.queue.length;
  }

  shutDown(): void {
    this.shuttingDown = true;
    for (const { handle } of this.delayed.values()) this.clearTimer(handle);
    this.delayed.clear();
    for (const waiter of this.waiting.splice(0)) waiter(undefined);
  }
}
