// A minimal kube-apiserver client over node:https with the admin's client certificate and a
// keep-alive agent: the status, the body and the `Warning` headers of each request, with nothing
// in between (client-node hides response headers). The apiserver benchmark and the webhook
// integration tests use it.
import { Agent, request } from 'node:https';
import { readFileSync } from 'node:fs';

export interface ApiserverAccess {
  /** https://127.0.0.1:PORT */
  server: string;
  caPem: string;
  /** The admin's client certificate and key files. */
  admin: { cert: string; key: string };
}

export interface ApiResponse<T = unknown> {
  status: number;
  body: T;
  /** The text of each `Warning: 299 - "..."` header, in order. */
  warnings: string[];
}

const TIMEOUT_MS = 30_000;

/** `299 - "text"` → `text` (the apiserver's admission warnings use this form). */
export function warningText(header: string): string {
  const m = /^\d{3} \S+ "((?:[^"\\]|\\.)*)"/.exec(header);
  return m?.[1] ? m[1].replace(/\\(.)/g, '$1') : header;
}

export class ApiserverClient {
  private readonly agent: Agent;

  constructor(private readonly access: ApiserverAccess) {
    this.agent = new Agent({
      keepAlive: true,
      maxSockets: 4,
      ca: access.caPem,
      cert: readFileSync(access.admin.cert),
      key: readFileSync(access.admin.key),
    });
  }

  /** `headers` adds request headers, e.g. `Impersonate-User` to act as another user. */
  request<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<ApiResponse<T>> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = request(
        new URL(path, this.access.server),
        {
          method,
          agent: this.agent,
          timeout: TIMEOUT_MS,
          headers: {
            accept: 'application/json',
            ...(payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {}),
            ...headers,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = text;
            try {
              parsed = JSON.parse(text);
            } catch {
              // not JSON: keep the text
            }
            // rawHeaders: node joins repeated Warning headers into one string with ', '.
            const headers = res.rawHeaders.filter(
              (_, i, all) => i % 2 === 1 && all[i - 1]?.toLowerCase() === 'warning',
            );
            resolve({ status: res.statusCode ?? 0, body: parsed as T, warnings: headers.map(warningText) });
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timed out`)));
      req.on('error', reject);
      req.end(payload);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** The collection path of VirtualMachines in `namespace`, with optional query (e.g. `dryRun=All`). */
export function vmPath(namespace: string, name?: string, query?: string): string {
  const base = `/apis/kubevirt.io/v1/namespaces/${encodeURIComponent(namespace)}/virtualmachines`;
  return (name ? `${base}/${encodeURIComponent(name)}` : base) + (query ? `?${query}` : '');
}
