// Serving certificate that follows its files (after controller-runtime's certwatcher).
// cert-manager / kubelet rewrite a Secret volume by swapping a symlinked directory, and other
// tools rewrite the files in place, one after the other: so we watch the directories (and
// poll as a fallback), reload only a pair whose key matches its certificate, and keep
// serving the previous pair until then. Handshakes in flight keep the context they started with.
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { dirname } from 'node:path';
import type { Logger } from '../telemetry/logger.js';

export interface KeyPair {
  cert: Buffer;
  key: Buffer;
}

export interface CertWatcherOptions {
  certFile: string;
  keyFile: string;
  logger: Logger;
  /** Called with each new valid pair (not with the first one, which `start` returns). */
  onChange: (pair: KeyPair) => void;
  /** Poll period: catches changes that file events miss (network filesystems, some overlays). */
  pollMs?: number;
  /** Wait this long after an event for the writer to finish the other file. */
  debounceMs?: number;
}

export interface CertWatcher {
  /** The pair in use. */
  current(): KeyPair;
  /** Re-read the files now; resolves true when a new pair was taken. */
  check(): Promise<boolean>;
  close(): void;
}

/** Reads and validates the pair; rejects (with no key material in the message) when unusable. */
export async function loadKeyPair(certFile: string, keyFile: string): Promise<KeyPair> {
  const [cert, key] = await Promise.all([readFile(certFile), readFile(keyFile)]);
  let matches: boolean;
  try {
    matches = new X509Certificate(cert).checkPrivateKey(createPrivateKey(key));
  } catch (err) {
    throw new Error(`cannot parse ${certFile} / ${keyFile}: ${(err as Error).message}`);
  }
  if (!matches) throw new Error(`the key in ${keyFile} does not match the certificate in ${certFile}`);
  return { cert, key };
}

export async function startCertWatcher(opts: CertWatcherOptions): Promise<CertWatcher> {
  const { certFile, keyFile, logger } = opts;
  let pair = await loadKeyPair(certFile, keyFile);
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<boolean> | undefined;

  const check = (): Promise<boolean> => {
    running ??= reload().finally(() => (running = undefined));
    return running;
  };
  const reload = async (): Promise<boolean> => {
    let next: KeyPair;
    try {
      next = await loadKeyPair(certFile, keyFile);
    } catch (err) {
      // Mid-rotation (one file written, not the other) or broken: keep serving the old pair.
      logger.warn(
        { certFile, keyFile, err: (err as Error).message },
        'certificate not reloaded; keeping the current one',
      );
      return false;
    }
    if (closed || (next.cert.equals(pair.cert) && next.key.equals(pair.key))) return false;
    pair = next;
    opts.onChange(next);
    logger.info(
      { certFile, fingerprint: new X509Certificate(next.cert).fingerprint256 },
      'serving certificate reloaded',
    );
    return true;
  };
  const soon = () => {
    if (closed) return;
    clearTimeout(timer);
    timer = setTimeout(() => void check(), opts.debounceMs ?? 100);
  };

  const watchers: FSWatcher[] = [];
  for (const dir of new Set([dirname(certFile), dirname(keyFile)])) {
    try {
      const w = watch(dir, { persistent: false }, soon);
      w.on('error', (err) =>
        logger.warn({ dir, err: err.message }, 'certificate directory watch failed; polling only'),
      );
      watchers.push(w);
    } catch (err) {
      logger.warn({ dir, err: (err as Error).message }, 'cannot watch certificate directory; polling only');
    }
  }
  const poll = setInterval(() => void check(), opts.pollMs ?? 10_000);
  poll.unref();

  return {
    current: () => pair,
    check,
    close: () => {
      closed = true;
      clearTimeout(timer);
      clearInterval(poll);
      for (const w of watchers) w.close();
    },
  };
}
