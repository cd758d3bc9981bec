// The admission hot path's HTTP/1.1: POST /mutate read straight off the TLS socket and
// answered on it, without node's HTTP server, whose request and response objects, streams
// and events cost about 20 µs a request here (a bare node:https server spends 46 µs a
// review, the same parse-and-allow on the TLS socket 26 µs).
//
// Only a strict subset is read here: `POST /mutate` (with or without a query) over HTTP/1.1,
// one Host, one Content-Length within the body cap, an application/json Content-Type, no
// Transfer-Encoding, Expect or Upgrade, plain header lines. That is what the apiserver (Go's
// net/http) sends. From the first request on a connection that is anything else, the
// connection and the bytes not yet handled go to node's HTTP server for good: health,
// readiness and metrics, and every chunked, oversized, malformed or otherwise unusual
// request get node's parser and its answers (400, 413, 415, 431...) exactly as before.
import { STATUS_CODES } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { performance } from 'node:perf_hooks';
import type { Answer } from './endpoint.js';

export interface LeanHttpOptions {
  /** The one path answered here (with any query). */
  path: string;
  maxBodyBytes: number;
  /** Headers not complete within this many bytes go to node's server (which answers 431). */
  maxHeaderBytes: number;
  /** A connection with no traffic for this long is closed. */
  keepAliveTimeoutMs: number;
  /** A request's headers must be complete this long after its first bytes (else 408). */
  headersTimeoutMs: number;
  /** A request must be complete this long after its first bytes (else 408). */
  requestTimeoutMs: number;
  /** Decides a body, answering through `answer` (the admission endpoint's `review`). */
  review(body: Buffer, start: number, answer: Answer): void;
  /**
   * Gives the connection to node's HTTP server, with what was read of it unshifted.
   * `requestLine`: the first line of the request that went there (at most 100 characters).
   */
  handOff(socket: TLSSocket, requestLine: string): void;
}

export interface LeanHttp {
  accept(socket: TLSSocket): void;
  /** Closes every connection that has no request in progress (shutdown). */
  closeIdle(): void;
  /** Destroys every connection still here. */
  closeAll(): void;
}

const HEAD_END = Buffer.from('\r\n\r\n');
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// Field values: visible characters, spaces, tabs and obs-text; no other controls.
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const BAD_VALUE = /[\x00-\x08\x0a-\x1f\x7f]/;
const JSON_TYPE = /^application\/json\s*(?:;.*)?$/i;

interface Head {
  length: number;
  close: boolean;
}

/** Matches the request line `POST <path>[?query] HTTP/1.1`. */
export function requestLine(path: string): RegExp {
  const escaped = path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^POST ${escaped}(?:\\?[\\x21-\\x7e]*)? HTTP/1\\.1$`);
}

/** The request's head, if it is one this path answers; undefined sends it to node's server. */
export function parseHead(text: string, line: RegExp, maxBodyBytes: number): Head | undefined {
  const lines = text.split('\r\n');
  if (!line.test(lines[0]!)) return undefined;
  let length: number | undefined;
  let json = false;
  let hosts = 0;
  let close = false;
  for (let i = 1; i < lines.length; i++) {
    const field = lines[i]!;
    const colon = field.indexOf(':');
    if (colon <= 0) return undefined;
    const name = field.slice(0, colon);
    const value = field.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '');
    if (!TOKEN.test(name) || BAD_VALUE.test(value)) return undefined;
    switch (name.toLowerCase()) {
      case 'content-length':
        if (length !== undefined || !/^\d{1,9}$/.test(value)) return undefined;
        length = Number(value);
        break;
      case 'content-type':
        if (json || !JSON_TYPE.test(value)) return undefined;
        json = true;
        break;
      case 'host':
        hosts++;
        break;
      case 'connection':
        for (const token of value.toLowerCase().split(',')) {
          const t = token.trim();
          if (t === 'close') close = true;
          else if (t === 'upgrade') return undefined;
        }
        break;
      case 'transfer-encoding':
      case 'expect':
      case 'upgrade':
        return undefined;
    }
  }
  if (length === undefined || length === 0 || length > maxBodyBytes || !json || hosts !== 1) return undefined;
  return { length, close };
}

// RFC 9110: an origin server with a clock sends Date. Formatted at most once a second.
let dateText = '';
let dateSecond = -1;
function httpDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = new Date(now).toUTCString();
  }
  return dateText;
}

/** The whole response in one buffer: one TLS write. */
function response(status: number, body: string | Uint8Array, close: boolean): Buffer {
  const length = typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;
  const head =
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\ncontent-type: application/json\r\n` +
    `content-length: ${length}\r\ndate: ${httpDate()}\r\n${close ? 'connection: close\r\n' : ''}\r\n`;
  const out = Buffer.allocUnsafe(head.length + length);
  const at = out.write(head, 0, 'latin1');
  if (typeof body === 'string') out.write(body, at);
  else out.set(body, at);
  return out;
}

const TIMED_OUT = Buffer.from(
  'HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n',
);

export function createLeanHttp(opts: LeanHttpOptions): LeanHttp {
  const open = new Set<Connection>();
  const line = requestLine(opts.path);

  class Connection {
    /** Read and not yet handled. */
    private pending: Buffer | undefined;
    /** Chunks read since, and their total with `pending`: joined once enough has come. */
    private chunks: Buffer[] = [];
    private size = 0;
    /** Bytes needed before the pending request can go on (its whole body, once its head is read). */
    private need = 0;
    /** A request is being decided: the next one waits (answers go out in order). */
    private busy = false;
    private closing = false;
    /** When the request now arriving began (its first bytes), while it is incomplete. */
    private partialSince = 0;
    private partialTimer: NodeJS.Timeout | undefined;

    constructor(private readonly socket: TLSSocket) {
      socket.on('data', this.onData);
      socket.on('end', this.onEnd);
      socket.on('timeout', this.onIdle);
      socket.on('close', this.onClose);
      // Without a listener an ECONNRESET would throw; node's server adds its own on hand-off.
      socket.on('error', this.onError);
      socket.setTimeout(opts.keepAliveTimeoutMs);
    }

    get idle(): boolean {
      return !this.busy && this.size === 0;
    }

    close(): void {
      this.closing = true;
      this.socket.end();
    }

    destroy(): void {
      this.socket.destroy();
    }

    private readonly onData = (chunk: Buffer) => {
      if (this.closing) return;
      this.chunks.push(chunk);
      this.size += chunk.length;
      if (this.busy) {
        // Pipelined requests wait for the answer before: read no more than one of them meanwhile.
        if (this.size > opts.maxHeaderBytes + opts.maxBodyBytes) this.socket.pause();
        return;
      }
      if (this.size >= this.need) this.next();
    };

    /** Everything read and not yet handled, as one buffer. */
    private joined(): Buffer | undefined {
      if (this.chunks.length > 0) {
        const all = this.pending ? [this.pending, ...this.chunks] : this.chunks;
        this.pending = all.length === 1 ? all[0] : Buffer.concat(all, this.size);
        this.chunks = [];
      }
      return this.pending;
    }

    private readonly onEnd = () => {
      if (!this.busy) this.socket.end();
    };

    private readonly onIdle = () => this.socket.destroy();

    private readonly onError = () => this.socket.destroy();

    private readonly onClose = () => {
      this.stopTimer();
      open.delete(this);
    };

    /** Reads the next request from what is pending: answers it, waits for more, or hands off. */
    private next(): void {
      const buf = this.joined();
      if (buf === undefined) return;
      const headEnd = buf.indexOf(HEAD_END);
      // Headers too large, complete or not, are node's to refuse (431).
      if ((headEnd < 0 ? buf.length : headEnd) > opts.maxHeaderBytes) {
        this.handOff();
        return;
      }
      if (headEnd < 0) {
        this.waitFor(opts.headersTimeoutMs, buf.length + 1);
        return;
      }
      const head = parseHead(buf.toString('latin1', 0, headEnd), line, opts.maxBodyBytes);
      if (head === undefined) {
        this.handOff();
        return;
      }
      const end = headEnd + HEAD_END.length + head.length;
      if (buf.length < end) {
        this.waitFor(opts.requestTimeoutMs, end);
        return;
      }
      const start = this.partialSince || performance.now();
      this.stopTimer();
      const body = buf.subarray(headEnd + HEAD_END.length, end);
      this.pending = buf.length > end ? buf.subarray(end) : undefined;
      this.size = buf.length - end;
      this.busy = true;
      opts.review(body, start, (status, answer, close) => this.answer(status, answer, close || head.close));
    }

    private answer(status: number, body: string | Uint8Array, close: boolean): void {
      if (this.socket.destroyed) return;
      this.socket.write(response(status, body, close));
      this.busy = false;
      if (close) this.close();
      else if (this.socket.readableEnded) this.socket.end();
      else {
        if (this.socket.isPaused()) this.socket.resume();
        this.next();
      }
    }

    /**
     * The request is incomplete: read on until `need` bytes are in. It has until `limitMs`
     * after its first bytes, else 408.
     */
    private waitFor(limitMs: number, need: number): void {
      this.need = need;
      if (this.partialSince === 0) this.partialSince = performance.now();
      clearTimeout(this.partialTimer);
      const left = this.partialSince + limitMs - performance.now();
      this.partialTimer = setTimeout(this.timedOut, Math.max(0, left));
    }

    private readonly timedOut = () => {
      if (this.socket.destroyed) return;
      this.socket.write(TIMED_OUT);
      this.close();
    };

    private stopTimer(): void {
      clearTimeout(this.partialTimer);
      this.partialTimer = undefined;
      this.partialSince = 0;
      this.need = 0;
    }

    /** Node's HTTP server takes the connection from here on, starting with what is pending. */
    private handOff(): void {
      const { socket } = this;
      this.stopTimer();
      open.delete(this);
      socket.off('data', this.onData);
      socket.off('end', this.onEnd);
      socket.off('timeout', this.onIdle);
      socket.off('close', this.onClose);
      socket.off('error', this.onError);
      socket.setTimeout(0);
      const unread = this.joined();
      const end = unread ? unread.indexOf('\r\n') : -1;
      const first = unread ? unread.toString('latin1', 0, Math.min(end < 0 ? unread.length : end, 100)) : '';
      if (unread) socket.unshift(unread);
      this.pending = undefined;
      if (socket.isPaused()) socket.resume();
      opts.handOff(socket, first);
    }
  }

  return {
    accept: (socket) => {
      open.add(new Connection(socket));
    },
    closeIdle: () => {
      for (const c of open) if (c.idle) c.close();
    },
    closeAll: () => {
      for (const c of open) c.destroy();
    },
  };
}
