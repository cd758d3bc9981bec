// A review worker thread (see workers.ts): decides bodies with the real engine and a copy of
// the settings, which the main thread replaces whenever they change. Only computation here:
// no sockets, no logs, no metrics.
import { parentPort, workerData } from 'node:worker_threads';
import { mutate } from '../mutate/index.js';
import { decide } from './decide.js';
import { createMutatingHandler } from './handler.js';
import { snapshotSource } from './settings-source.js';
import type { FromWorker, ToWorker, WorkerInit } from './workers.js';

const init = workerData as WorkerInit;
let settings = snapshotSource(init.settings);
const handler = createMutatingHandler({
  mutate,
  settings: { forNamespace: (ns) => settings.forNamespace(ns), ready: () => settings.ready() },
});

parentPort!.on('message', (message: ToWorker) => {
  if (message.type === 'settings') {
    settings = snapshotSource(message.settings);
    return;
  }
  const { id, body } = message;
  const verdict = decide(Buffer.from(body.buffer, body.byteOffset, body.byteLength), handler, init.maxDepth);
  const answer: FromWorker = { type: 'verdict', id, verdict };
  parentPort!.postMessage(answer);
});

const ready: FromWorker = { type: 'ready' };
parentPort!.postMessage(ready);
