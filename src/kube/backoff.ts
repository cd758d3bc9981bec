// Capped exponential backoff with jitter, shared by the work queue and the watch supervisor.

export interface BackoffOptions {
  /** First delay, in ms. */
  baseMs: number;
  /** No delay exceeds this, in ms. */
  capMs: number;
  /** Fraction of the delay drawn at random: 0.5 gives a delay in [d/2, d]. */
  jitter: number;
  /** Injected for tests; defaults to Math.random. */
  random?: () => number;
}

/** The delay before retry number `attempt` (0-based): min(cap, base * 2^attempt), minus up to `jitter` of it. */
export function backoffDelay(attempt: number, options: BackoffOptions): number {
  const exponential = Math.min(options.capMs, options.baseMs * 2 ** Math.min(attempt, 52));
  const random = options.random ?? Math.random;
  return Math.round(exponential * (1 - options.jitter * random()));
}

/** Counts failures per key. */
export class KeyedBackoff {
  private readonly failures = new Map<string, number>();
  constructor(private readonly options: BackoffOptions) {}

  /** The delay for this key's next retry; counts one more failure. */
  next(key: string): number {
    const attempt = this.failures.get(key) ?? 0;
    this.failures.set(key, attempt + 1);
    return backoffDelay(attempt, this.options);
  }

  failuresOf(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  forget(key: string): void {
    this.failures.delete(key);
  }
}
