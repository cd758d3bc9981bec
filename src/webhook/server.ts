// The HTTPS server: TLS 1.2+, certificates swapped in place, keep-alive sized for the
// apiserver, and a dispatch that sends POST /mutate to the lean admission endpoint before
// express sees it (express's per-request machinery would cost more than the review itself).
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { RequestListener } from './endpoint.js';
import type { KeyPair } from './cert-watcher.js';

export const ADMISSION_PATH = '/mutate';

export interface ServerOptions {
  tls: KeyPair;
  admission: RequestListener;
  /** The express app (or any listener) for every other request. */
  app: RequestListener;
  /**
   * Longer than the client's idle timeout (Go's transport, which the apiserver uses, drops
   * idle connections after 90 s), so the server is never the side that closes a connection
   * the client is about to reuse.
   */
  keepAliveTimeoutMs?: number;
  /** Whole request, headers and body; the apiserver gives a webhook at most 30 s. */
  requestTimeoutMs?: number;
}

export function isAdmission(method: string | undefined, url: string | undefined): boolean {
  if (method !== 'POST' || url === undefined) return false;
  return url === ADMISSION_PATH || url.startsWith(`${ADMISSION_PATH}?`);
}

export function createWebhookServer(opts: ServerOptions): Server {
  const server = createServer({
    cert: opts.tls.cert,
    key: opts.tls.key,
    minVersion: 'TLSv1.2',
    keepAliveTimeout: opts.keepAliveTimeoutMs ?? 95_000,
    requestTimeout: opts.requestTimeoutMs ?? 30_000,
    headersTimeout: 10_000,
  });
  server.on('request', (req, res) => {
    if (isAdmission(req.method, req.url)) opts.admission(req, res);
    else opts.app(req, res);
  });
  return server;
}

/** Swaps the certificate for new handshakes; established connections keep theirs. */
export function useKeyPair(server: Server, pair: KeyPair): void {
  server.setSecureContext({ cert: pair.cert, key: pair.key, minVersion: 'TLSv1.2' });
}

export function listen(server: Server, port: number, host: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

/**
 * Stops accepting, lets requests in flight finish, closes idle keep-alive connections as
 * they become idle, and after `graceMs` cuts whatever is left.
 */
export function drain(server: Server, graceMs = 25_000): Promise<void> {
  return new Promise((resolve) => {
    const sweep = setInterval(() => server.closeIdleConnections(), 50);
    const deadline = setTimeout(() => server.closeAllConnections(), graceMs);
    server.close(() => {
      clearInterval(sweep);
      clearTimeout(deadline);
      resolve();
    });
    server.closeIdleConnections();
  });
}
