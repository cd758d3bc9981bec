// The structured JSON logger (pino). Built by the composition root and passed in; nothing
// imports a logger singleton. Review lines carry identifiers only: objects, patches and
// cloud-init user data are never logged (see webhook/log-review.ts). Lines go to stdout as
// they are made (pino's default, synchronous): none is lost when the process dies.
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger } from 'pino';

export interface LoggerOptions {
  level?: string;
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
  return opts.destination ? pino(options, opts.destination) : pino(options);
}
