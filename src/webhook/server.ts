// The HTTPS server: TLS 1.2+, certificates swapped in place, keep-alive sized for the
// apiserver. POST /mutate is read off the TLS socket by the lean HTTP path (lean-http.ts);
// any other request, and any connection the lean path hands over, goes to node's HTTP
// server, which sends POST /mutate to the admission endpoint before express sees it
// (express's per-request machinery would cost more than the review itself).
import type { TLSSocket } from 'node:tls';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { AdmissionEndpoint, RequestListener } from './endpoint.js';
import type { KeyPair } from './cert-watcher.js';
import { createLeanHttp, type LeanHttp } from './lean-http.js';

export const ADMISSION_PATH = '/mutate';

export interface ServerOptions {
  tls: KeyPair;
  admission: AdmissionEndpoint;
  /**
   * Read POST /mutate off the TLS socket (the default); false leaves every request to node's
   * HTTP server (the benchmark compares the two).
   */
  leanHttp?: boolean;
  /** Largest admission body; a larger one is refused (413) by node's server. */
  maxBodyBytes: number;
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
  /** A request's headers, from its first byte. */
  headersTimeoutMs?: number;
  /** Told the first line of a request whose connection goes to node's server from then on. */
  onHandOff?: (requestLine: string) => void;
}

export function isAdmission(method: string | undefined, url: string | undefined): boolean {
  if (method !== 'POST' || url === undefined) return false;
  return url === ADMISSION_PATH || url.startsWith(`${ADMISSION_PATH}?`);
}

export interface WebhookServer {
  https: Server;
  /** Connections on the lean path (absent when it is off). */
  lean?: LeanHttp;
}

/** Node's default largest header block. */
const MAX_HEADER_BYTES = 16 * 1024;

export function createWebhookServer(opts: ServerOptions): WebhookServer {
  const keepAliveTimeoutMs = opts.keepAliveTimeoutMs ?? 95_000;
  const requestTimeoutMs = opts.requestTimeoutMs ?? 30_000;
  const headersTimeoutMs = opts.headersTimeoutMs ?? 10_000;
  const https = createServer({
    cert: opts.tls.cert,
    key: opts.tls.key,
    minVersion: 'TLSv1.2',
    keepAliveTimeout: keepAliveTimeoutMs,
    requestTimeout: requestTimeoutMs,
    headersTimeout: headersTimeoutMs,
    maxHeaderSize: MAX_HEADER_BYTES,
  });
  https.on('request', (req, res) => {
    if (isAdmission(req.method, req.url)) opts.admission.listener(req, res);
    else opts.app(req, res);
  });
  if (opts.leanHttp === false) return { https };

  // node:https starts HTTP on a connection in its one 'secureConnection' listener: the lean
  // path takes that event and calls the listener for the connections it hands over.
  const [http] = https.listeners('secureConnection') as ((socket: TLSSocket) => void)[];
  if (typeof http !== 'function')
    throw new Error("node:https has no 'secureConnection' listener to take over");
  https.removeListener('secureConnection', http);
  const lean = createLeanHttp({
    path: ADMISSION_PATH,
    maxBodyBytes: opts.maxBodyBytes,
    maxHeaderBytes: MAX_HEADER_BYTES,
    keepAliveTimeoutMs,
    headersTimeoutMs,
    requestTimeoutMs,
    review: opts.admission.review,
    handOff: (socket, requestLine) => {
      opts.onHandOff?.(requestLine);
      http.call(https, socket);
    },
  });
  https.on('secureConnection', (socket: TLSSocket) => lean.accept(socket));
  return { https, lean };
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
export function drain({ https, lean }: WebhookServer, graceMs = 25_000): Promise<void> {
  const closeIdle = () => {
    https.closeIdleConnections();
    lean?.closeIdle();
  };
  return new Promise((resolve) => {
    const sweep = setInterval(closeIdle, 50);
    const deadline = setTimeout(() => {
      https.closeAllConnections();
      lean?.closeAll();
    }, graceMs);
    https.close(() => {
      clearInterval(sweep);
      clearTimeout(deadline);
      resolve();
    });
    closeIdle();
  });
}
