// The structured JSON logger (pino). Built by the composition root and passed in; nothing
// imports a logger singleton. Review lines carry identifiers only: objects, patches and
// cloud-init user data are never logged (see webhook/log-review.ts).
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger } from 'pino';

export interface LoggerOptions {
  level?: string;
  /**
   * Buffer lines (up to 4 KiB, flushed at least every second and on exit) instead of one
   * write(2) per line: at thousands of reviews a second the syscall is the logger's main cost.
   */
  buffered?: boolean;
  /** Where the JSON lines go; stdout when absent. Tests pass a memory stream. */
  destination?: DestinationStream;
  name?: string;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const options = {
    level: opts.level ?? 'info',
    base: { component: opts.name ?? 'kubevirt-net-injector' },
    // Belt and braces: if an object ever slips into a log call under one of these keys, it
    // never prints. Top-level keys only: wildcard paths cost several µs on every line.
    redact: {
      paths: ['object', 'oldObject', 'patch', 'request', 'vm', 'userData', 'userDataBase64', 'body'],
      censor: '[redacted]',
    },
  };
  if (opts.destination) return pino(options, opts.destination);
  if (!opts.buffered) return pino(options);
  const buffered = bufferedDestination(1);
  setInterval(() => buffered.flush(), 1000).unref();
  // A last synchronous flush on the way out, whatever the reason for exiting.
  process.once('exit', () => buffered.flushSync());
  return pino(options, buffered);
}

export interface BufferedDestination extends DestinationStream {
  flush(): void;
  flushSync(): void;
}

/**
 * Lines gathered and written 4 KiB or more at a time (pino's sonic-boom, asynchronous).
 * Each line goes in as bytes: in sonic-boom's text mode every line appended costs a
 * measure of all text still unwritten (up to 16 KiB), which at thousands of lines a second
 * cost more than making the line itself.
 */
export function bufferedDestination(dest: number | string): BufferedDestination {
  const sonic = pino.destination({ dest, sync: false, minLength: 4096, contentMode: 'buffer' });
  return {
    // In byte mode sonic-boom takes Buffers; its type declarations know only text mode.
    write: (line: string) => sonic.write(Buffer.from(line) as unknown as string),
    flush: () => sonic.flush(),
    flushSync: () => sonic.flushSync(),
  };
}
