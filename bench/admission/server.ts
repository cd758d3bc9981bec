// One server under test, run in its own process so its CPU time is measured apart from the
// load generator's. argv: <variant> <certFile> <keyFile>. Talks to the parent over IPC:
// sends {port} when listening, answers {cmd: 'cpu'} with process.cpuUsage() and the main
// thread's major GCs so far.
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { constants as perf, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import express from 'express';
import { Registry } from 'prom-client';
import { mutate } from '../../src/mutate/index.js';
import { bufferedDestination, createLogger } from '../../src/telemetry/logger.js';
import { createLeanHttp } from '../../src/webhook/lean-http.js';
import { patched, toReview } from '../../src/webhook/response.js';
import { staticSettingsSource } from '../../src/webhook/settings-source.js';
import { startWebhook } from '../../src/webhook/webhook.js';
import { fixedPatch, noop } from './engines.js';

/**
 * webhook-noop: the worker runs an engine that changes nothing (what the transport, handler,
 * logging and metrics cost apart from the injection). webhook-fixed: one that returns the
 * seed VM's real patch computed once (the answer's full size without the injection's work).
 */
const WORKER_ENTRIES: Record<string, URL> = {
  'webhook-noop': new URL('./noop-worker.js', import.meta.url),
  'webhook-fixed': new URL('./fixed-worker.js', import.meta.url),
};

type Review = { request?: { uid?: string } };
const SETTINGS = { network: 'ovs-net-br1', interfaceName: 'l2', cloudInit: true };
const allow = (review: Review) =>
  JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    response: { uid: review.request?.uid, allowed: true },
  });

/** (a) The floor: node:https, body read by hand, JSON.parse, allow. */
function bare(tls: { cert: Buffer; key: Buffer }): Server {
  return createServer({ ...tls, keepAliveTimeout: 95_000 }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = allow(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Review);
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
}

/**
 * (a1) The floor under node's HTTP server: our lean HTTP path (src/webhook/lean-http.ts) on
 * a node:tls server, JSON.parse, allow. What reading and answering the request costs without
 * node's request and response objects.
 */
function lean(tls: { cert: Buffer; key: Buffer }): TlsServer {
  const http = createLeanHttp({
    path: '/mutate',
    maxBodyBytes: 3 * 1024 * 1024,
    maxHeaderBytes: 16 * 1024,
    keepAliveTimeoutMs: 95_000,
    headersTimeoutMs: 10_000,
    requestTimeoutMs: 30_000,
    review: (body, _start, answer) => answer(200, allow(JSON.parse(body.toString('utf8')) as Review), false),
    handOff: (socket) => socket.destroy(),
  });
  return createTlsServer(tls, (socket) => http.accept(socket));
}

/**
 * (a2) The floor for a mutating answer: node:https, parse, and answer with the patch the
 * engine returns for the seed's VM, computed once. What the answer's size alone costs.
 */
function barePatch(tls: { cert: Buffer; key: Buffer }): Server {
  let answer: string | undefined;
  return createServer({ ...tls, keepAliveTimeout: 95_000 }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const review = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Review & {
        request: { object: unknown };
      };
      answer ??= JSON.stringify(
        toReview(patched(review.request.uid ?? '', mutate(review.request.object, SETTINGS).patch)),
      );
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(answer) });
      res.end(answer);
    });
  });
}

/** (b) express with express.json(): parse and allow. */
function viaExpress(tls: { cert: Buffer; key: Buffer }): Server {
  const app = express();
  app.use(express.json({ limit: '3mb' }));
  app.post('/mutate', (req, res) => {
    res.type('application/json').send(allow(req.body as Review));
  });
  return createServer({ ...tls, keepAliveTimeout: 95_000 }, app);
}

async function main(): Promise<void> {
  const [variant, certFile, keyFile] = process.argv.slice(2) as [string, string, string];
  const tls = { cert: readFileSync(certFile), key: readFileSync(keyFile) };
  let port: number;
  if (variant.startsWith('webhook')) {
    // (c) Ours, as the CLI builds it: real engine on one review worker thread, metrics, and a
    // JSON log line per review, buffered as in the CLI, written to /dev/null (so its cost is
    // counted, output discarded).
    const logger = createLogger({ destination: bufferedDestination('/dev/null') });
    const workerEntry = WORKER_ENTRIES[variant];
    const webhook = await startWebhook(
      {
        host: '127.0.0.1',
        port: 0,
        certFile,
        keyFile,
        // webhook-inline: `--workers 0`, everything on the main thread.
        workers: variant === 'webhook-inline' ? 0 : 1,
        // webhook-node-http: every request through node's HTTP server (no lean path).
        ...(variant === 'webhook-node-http' ? { leanHttp: false } : {}),
        ...(workerEntry ? { workerEntry } : {}),
      },
      {
        // The same stand-in on the main thread, for a review that finds the worker idle.
        mutate: variant === 'webhook-noop' ? noop : variant === 'webhook-fixed' ? fixedPatch() : mutate,
        settings: staticSettingsSource(SETTINGS),
        logger,
        registry: new Registry(),
      },
    );
    port = webhook.address.port;
  } else {
    const server =
      variant === 'bare'
        ? bare(tls)
        : variant === 'lean'
          ? lean(tls)
          : variant === 'bare-patch'
            ? barePatch(tls)
            : viaExpress(tls);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  }
  if (!process.send) {
    // Run by hand (e.g. under --cpu-prof): print the port, stop on SIGINT.
    process.stdout.write(`${port}\n`);
    process.once('SIGINT', () => process.exit(0));
    return;
  }
  // Major GCs on this (the main) thread: an observer sees only its own thread's.
  let majorGcs = 0;
  new PerformanceObserver((list) => {
    for (const e of list.getEntries())
      if (
        (e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind ===
        perf.NODE_PERFORMANCE_GC_MAJOR
      )
        majorGcs++;
  }).observe({ entryTypes: ['gc'] });
  process.on('message', (msg: { cmd?: string }) => {
    if (msg.cmd === 'cpu') process.send!({ cpu: process.cpuUsage(), majorGcs });
    if (msg.cmd === 'exit') process.exit(0);
  });
  process.send!({ port });
}

void main();
