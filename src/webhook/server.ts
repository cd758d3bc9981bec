// The HTTPS server: node's own, TLS 1.2+, certificates swapped in place, bounded connections
// and timeouts. POST to an admission path goes straight to its endpoint (express's per-request
// machinery would cost more than the review itself); everything else goes to express.
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { KeyPair } from './cert-watcher.js';
import type { RequestListener } from './endpoint.js';

/** The server's limits; each default is explained in docs/webhook.md ("Limits"). */
export interface ServerLimits {
  /** Open connections at most; a new one past this is closed at once. */
  maxConnections: number;
  /** A TLS handshake not done by then is dropped (node's default is 120 s). */
  handshakeTimeoutMs: number;
  /** A request's headers, from its first byte. */
  headersTimeoutMs: number;
  /** Whole request, headers and body; the apiserver gives a webhook at most 30 s. */
  requestTimeoutMs: number;
  /**
   * Idle time before a kept-alive connection is closed: longer than the client's own (Go's
   * transport, which the apiserver uses, drops idle connections after 90 s), so the server is
   * never the side that closes a connection the client is about to reuse.
   */
  keepAliveTimeoutMs: number;
  /**
   * A connection with no traffic for this long is closed: one that never sends a request, or
   * stops sending in the middle of one (kept-alive connections wait keepAliveTimeoutMs instead).
   */
  idleTimeoutMs: number;
}

export const DEFAULT_SERVER_LIMITS: ServerLimits = {
  maxConnections: 512,
  handshakeTimeoutMs: 5_000,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 95_000,
  idleTimeoutMs: 10_000,
};

export interface ServerOptions {
  tls: KeyPair;
  /** POST <path> -> its admission endpoint. */
  admission: Record<string, RequestListener>;
  /** The express app (or any listener) for every other request. */
  app: RequestListener;
  limits: ServerLimits;
}

export function createWebhookServer({ tls, admission, app, limits }: ServerOptions): Server {
  const server = createServer({
    cert: tls.cert,
    key: tls.key,
    minVersion: 'TLSv1.2',
    handshakeTimeout: limits.handshakeTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    headersTimeout: limits.headersTimeoutMs,
    // How often the two timeouts above are enforced (node's default, 30 s, would let a slow
    // client hold a connection three times longer than the limit says).
    connectionsCheckingInterval: 1_000,
    maxHeaderSize: 16 * 1024,
  });
  server.maxConnections = limits.maxConnections;
  server.setTimeout(limits.idleTimeoutMs, (socket) => socket.destroy());
  server.on('request', (req, res) => {
    const endpoint = req.method === 'POST' ? admission[pathOf(req.url)] : undefined;
    if (endpoint) endpoint(req, res);
    else app(req, res);
  });
  return server;
}

/** The path without its query string (`/mutate?timeout=10s` -> `/mutate`). */
function pathOf(url: string | undefined): string {
  const q = url?.indexOf('?') ?? -1;
  return q < 0 ? (url ?? '') : url!.slice(0, q);
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
