// HTTP transport of an admission endpoint, and nothing else (after controller-runtime's
// http.go): content type, body size cap, empty body, JSON parsing and a nesting-depth guard.
// Every refusal is a TransportError carrying the HTTP status to answer with.
import type { IncomingMessage } from 'node:http';

export class TransportError extends Error {
  constructor(
    readonly status: 400 | 413 | 415,
    /** Metric label: body_too_large, bad_content_type, empty_body, bad_json, too_deep. */
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = 'TransportError';
  }
}

export interface TransportLimits {
  /**
   * Largest body accepted, in bytes. A CREATE review carries one object of at most the
   * apiserver's 3 MiB request limit; a stored VM is far smaller (etcd keeps objects to 1.5 MiB).
   */
  maxBodyBytes: number;
  /** Deepest nesting of objects and arrays accepted. Deeper input would overflow recursive code later on. */
  maxDepth: number;
}

export const DEFAULT_LIMITS: TransportLimits = { maxBodyBytes: 3 * 1024 * 1024, maxDepth: 64 };

/** `application/json`, with or without parameters such as `; charset=utf-8`. */
export function checkContentType(header: string | undefined): void {
  const type = header?.split(';', 1)[0]?.trim().toLowerCase();
  if (type !== 'application/json') {
    throw new TransportError(415, 'bad_content_type', 'content type must be application/json');
  }
}

/**
 * Reads the whole body, refusing it (413) as soon as it passes the cap: from Content-Length
 * before reading anything, or while streaming when the length is not announced.
 */
export function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const tooLarge = () => new TransportError(413, 'body_too_large', `body exceeds ${maxBytes} bytes`);
    if (Number(req.headers['content-length']) > maxBytes) {
      reject(tooLarge());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= maxBytes) {
        chunks.push(chunk);
        return;
      }
      cleanup();
      reject(tooLarge());
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    const onClose = () => {
      if (req.complete) return;
      cleanup();
      reject(new Error('client went away before the body was complete'));
    };
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

/** Parses the body; refuses empty, malformed and too deeply nested JSON with a 400. */
export function parseJson(body: Buffer, maxDepth: number): unknown {
  if (body.length === 0) throw new TransportError(400, 'empty_body', 'request body is empty');
  // Depth is counted on the bytes, before parsing: megabytes of `[[[[` are refused without
  // being built, and nothing walks the parsed value for it.
  if (scanDepthExceeds(body, maxDepth)) {
    throw new TransportError(400, 'too_deep', `request body nests deeper than ${maxDepth} levels`);
  }
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    // V8's message quotes the input around the error, and the input may hold secrets: say less.
    throw new TransportError(400, 'bad_json', 'request body is not valid JSON');
  }
}

/** Bracket depth of JSON text, outside strings; true as soon as it passes `max`. */
export function scanDepthExceeds(body: Buffer, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped byte
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}
