// The structured JSON logger (pino). Built by the composition root and passed in; nothing
// imports a logger singleton. Review lines carry identifiers only: objects, patches and
// cloud-init user data are never logged (see webhook/log-review.ts).
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
    // Belt and braces: if an object ever slips into a log call, these paths never print.
    redact: {
      paths: [
        'object',
        'oldObject',
        'patch',
        'request',
        'vm',
        '*.userData',
        '*.userDataBase64',
        '*.networkData',
      ],
      censor: '[redacted]',
    },
  };
  return opts.destination ? pino(options, opts.destination) : pino(options);
}
