// Helpers for the HTTPS tests: certificates from the openssl CLI, AdmissionReviews built
// around a VM, and a small HTTPS client that reports status, headers and body.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, mkdtempSync } from 'node:fs';
import { request, type Agent } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';

export interface CertFiles {
  certFile: string;
  keyFile: string;
  cert: Buffer;
  key: Buffer;
}

export function tempDir(prefix = 'wh-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A self-signed EC certificate for 127.0.0.1, written to `dir/<name>.crt` and `.key`. */
export function makeCert(dir: string, name = 'tls'): CertFiles {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '1',
    ].concat([
      '-subj',
      `/CN=${name}`,
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      keyFile,
      '-out',
      certFile,
    ]),
    { stdio: 'ignore' },
  );
  return { certFile, keyFile, cert: readFileSync(certFile), key: readFileSync(keyFile) };
}

/** The seed's MongoDB VM (test/testdata/seed/mongodb.yaml), a fresh copy each call. */
export function loadVm(): Record<string, unknown> {
  return parseYaml(readFileSync(join(process.cwd(), 'test/testdata/seed/mongodb.yaml'), 'utf8')) as Record<
    string,
    unknown
  >;
}

export interface ReviewOptions {
  uid?: string;
  operation?: string;
  namespace?: string;
  dryRun?: boolean;
  kind?: { group: string; version: string; kind: string };
  resource?: { group: string; version: string; resource: string };
}

export function review(object: unknown, opts: ReviewOptions = {}): Record<string, unknown> {
  const metadata = (object as { metadata?: { name?: string } } | null)?.metadata;
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: opts.uid ?? 'e911857d-c318-11e8-bbad-025000000001',
      kind: opts.kind ?? { group: 'kubevirt.io', version: 'v1', kind: 'VirtualMachine' },
      resource: opts.resource ?? { group: 'kubevirt.io', version: 'v1', resource: 'virtualmachines' },
      ...(metadata?.name ? { name: metadata.name } : {}),
      namespace: opts.namespace ?? 'vm',
      operation: opts.operation ?? 'CREATE',
      userInfo: { username: 'admin' },
      object,
      oldObject: null,
      dryRun: opts.dryRun ?? false,
      options: { apiVersion: 'meta.k8s.io/v1', kind: 'CreateOptions' },
    },
  };
}

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json: () => Record<string, unknown>;
}

export interface PostOptions {
  ca: Buffer | Buffer[];
  agent?: Agent | false;
  headers?: Record<string, string | number>;
  method?: string;
  path?: string;
}

export function send(port: number, body: string | Buffer | undefined, opts: PostOptions): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: opts.method ?? 'POST',
        path: opts.path ?? '/mutate',
        ca: opts.ca,
        agent: opts.agent,
        headers: { 'content-type': 'application/json', ...opts.headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: text,
            json: () => JSON.parse(text) as Record<string, unknown>,
          });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Decodes the base64 JSON Patch of an AdmissionReview answer (empty when there is none). */
export function patchOf(reply: Record<string, unknown>): unknown[] {
  const response = reply.response as { patch?: string };
  return response.patch
    ? (JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8')) as unknown[])
    : [];
}

/** The compiled CLI of the same build as these tests. */
export const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

/** `kubevirt-net-injector webhook ARGS` as a child process; resolves once it listens. Its log lines are kept. */
export function startCli(args: string[]): Promise<{ child: ChildProcess; port: number; lines: string[] }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, 'webhook', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: string[] = [];
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      lines.push(line);
      const entry = JSON.parse(line) as { msg?: string; port?: number };
      if (entry.msg === 'webhook listening') resolve({ child, port: entry.port!, lines });
    });
    child.once('exit', (code) => reject(new Error(`webhook exited early (${code}): ${stderr}`)));
  });
}
