// The one watch helper of the project (the controller and the webhook's Namespace cache).
// An informer that survives: @kubernetes/client-node's ListWatch (what makeInformer builds)
// keeps the cache and relists on 410 Gone, but stops for good on any other error and
// never notices a watch that went silent (kubernetes-client/javascript#596). This module
// wraps it:
// - errors: start again after a capped exponential backoff with jitter;
// - a watchdog: a watch with no event (bookmarks count) for `silenceMs` is abandoned and
//   reopened from the last resourceVersion; healthy watches are closed by the server
//   earlier (timeoutSeconds), so only a stalled connection trips it;
// - a periodic relist (`relistMs`) that also reports objects deleted while we looked away.
// The list and watch functions are injected, so unit tests need no HTTP.
import { ListWatch } from '@kubernetes/client-node';
import type { KubernetesListObject, KubernetesObject, ListPromise, Watch } from '@kubernetes/client-node';
import { backoffDelay } from './backoff.js';
import type { BackoffOptions } from './backoff.js';

/** What ListWatch needs of a Watch. */
export interface WatchFn {
  watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController>;
}

export interface InformerLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface InformerOptions<T extends KubernetesObject> {
  /** For logs: e.g. `virtualmachines`. */
  name: string;
  /** Watch path, e.g. `/apis/kubevirt.io/v1/virtualmachines`. */
  path: string;
  list: ListPromise<T>;
  watch: WatchFn;
  labelSelector?: string;
  backoff: BackoffOptions;
  /** Restart a watch that delivered nothing for this long. */
  silenceMs: number;
  /** Full relist this often; 0 turns it off. */
  relistMs: number;
  logger: InformerLogger;
  now?: () => number;
  onRestart?: (reason: 'error' | 'silent' | 'relist') => void;
  /**
   * Applied to every object before it enters the cache (as client-go's SetTransform): keep
   * only what reconcile reads, so 10,000 VMs do not hold 10,000 full specs.
   */
  transform?: (obj: T) => T;
}

export type Handler<T> = (obj: T) => void;

interface ActiveWatch {
  generation: number;
  controller?: AbortController;
  callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void;
  done: (err: unknown) => void;
}

export class ResilientInformer<T extends KubernetesObject> {
  private readonly listWatch: ListWatch<T>;
  private readonly now: () => number;
  private generation = 0;
  private active: ActiveWatch | undefined;
  private lastEventAt = 0;
  private attempt = 0;
  private stopped = true;
  private retryTimer: NodeJS.Timeout | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private relistTimer: NodeJS.Timeout | undefined;
  private syncedResolve: (() => void) | undefined;
  private listed = false;
  /** Resolves after the first successful list. */
  readonly synced: Promise<void>;

  constructor(private readonly options: InformerOptions<T>) {
    this.now = options.now ?? Date.now;
    this.synced = new Promise((resolve) => (this.syncedResolve = resolve));
    const list: ListPromise<T> = async () => {
      const result: KubernetesListObject<T> = await options.list();
      if (options.transform) result.items = result.items.map(options.transform);
      this.attempt = 0;
      this.lastEventAt = this.now();
      this.listed = true;
      return result;
    };
    const guarded: WatchFn = {
      watch: (path, params, callback, done) => this.openWatch(path, params, callback, done),
    };
    // ListWatch only calls watch(); the cast stands for the `config` field it never reads.
    this.listWatch = new ListWatch<T>(
      options.path,
      guarded as unknown as Watch,
      list,
      false,
      options.labelSelector,
    );
    this.listWatch.on('error', (err: unknown) => this.onError(err));
  }

  on(verb: 'add' | 'update' | 'delete', handler: Handler<T>): void {
    this.listWatch.on(verb, handler);
  }

  get(name: string, namespace?: string): T | undefined {
    return this.listWatch.get(name, namespace);
  }

  list(namespace?: string): ReadonlyArray<T> {
    return this.listWatch.list(namespace);
  }

  async start(): Promise<void> {
    this.stopped = false;
    const tick = Math.max(10, Math.floor(this.options.silenceMs / 4));
    this.watchdog = setInterval(() => this.checkSilence(), tick);
    this.watchdog.unref();
    if (this.options.relistMs > 0) {
      this.relistTimer = setInterval(() => this.restartWatch('relist'), this.options.relistMs);
      this.relistTimer.unref();
    }
    await this.runListWatch();
  }

  /** ListWatch.start() resolves once the list is in the cache and the watch is open (or failed). */
  private async runListWatch(): Promise<void> {
    await this.listWatch.start();
    if (this.listed) this.syncedResolve?.();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.watchdog);
    clearInterval(this.relistTimer);
    clearTimeout(this.retryTimer);
    this.active = undefined;
    await this.listWatch.stop();
  }

  private async openWatch(
    path: string,
    params: Record<string, string | number | boolean | undefined>,
    callback: ActiveWatch['callback'],
    done: ActiveWatch['done'],
  ): Promise<AbortController> {
    const generation = ++this.generation;
    const entry: ActiveWatch = { generation, callback, done };
    this.active = entry;
    this.lastEventAt = this.now();
    const current = () => this.active?.generation === generation && !this.stopped;
    const timeoutSeconds = Math.max(1, Math.floor((this.options.silenceMs * 0.8) / 1000));
    const controller = await this.options.watch.watch(
      path,
      { ...params, allowWatchBookmarks: true, timeoutSeconds },
      (phase, obj, raw) => {
        if (!current()) return;
        this.lastEventAt = this.now();
        this.attempt = 0;
        const transform = this.options.transform;
        const isObject = phase === 'ADDED' || phase === 'MODIFIED' || phase === 'DELETED';
        callback(phase, transform && isObject ? transform(obj as T) : obj, raw);
      },
      (err) => {
        if (!current()) return;
        this.active = undefined;
        done(err);
      },
    );
    entry.controller = controller;
    return controller;
  }

  private onError(err: unknown): void {
    this.active = undefined;
    if (this.stopped) return;
    const delay = backoffDelay(this.attempt++, this.options.backoff);
    this.options.logger.warn(
      {
        informer: this.options.name,
        err: err instanceof Error ? err.message : String(err),
        retryInMs: delay,
      },
      'list/watch failed; retrying',
    );
    this.options.onRestart?.('error');
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      if (!this.stopped) void this.runListWatch();
    }, delay);
    this.retryTimer.unref();
  }

  private checkSilence(): void {
    if (!this.active || this.stopped) return;
    if (this.now() - this.lastEventAt < this.options.silenceMs) return;
    this.restartWatch('silent');
  }

  /** Abandon the open watch and hand ListWatch a clean close; for a relist, first a 410. */
  private restartWatch(reason: 'silent' | 'relist'): void {
    const entry = this.active;
    if (!entry || this.stopped) return;
    this.active = undefined;
    entry.controller?.abort();
    this.options.logger.info({ informer: this.options.name, reason }, 'restarting watch');
    this.options.onRestart?.(reason);
    if (reason === 'relist') entry.callback('ERROR', { code: 410, metadata: {} });
    entry.done(null);
  }
}
