/** The pino levels a `--log-level` flag or LOG_LEVEL may name. */
export const LOG_LEVELS: ReadonlySet<string> = new Set([
  'trace',
  'debug',
  'info',
  'warn',
  'error',
  'fatal',
  'silent',
]);
