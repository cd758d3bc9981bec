// The review worker's side of the pool (see workers.ts): decides each batch of bodies with
// the given engine and a copy of the settings, which the main thread replaces whenever they
// change. Only computation: no sockets, no logs, no metrics.
import { parentPort, workerData } from 'node:worker_threads';
import { decide, type ReviewVerdict } from './decide.js';
import { createMutatingHandler, type MutateFn } from './handler.js';
import { snapshotSource } from './settings-source.js';
import { encodeVerdicts } from './verdict-wire.js';
import type { FromWorker, ToWorker, WorkerInit } from './workers.js';

export function serveReviews(mutate: MutateFn): void {
  const port = parentPort;
  if (!port) throw new Error('serveReviews runs in a worker thread');
  const init = workerData as WorkerInit;
  let settings = snapshotSource(init.settings);
  const handler = createMutatingHandler({
    mutate,
    settings: { forNamespace: (ns) => settings.forNamespace(ns), ready: () => settings.ready() },
  });

  port.on('message', (message: ToWorker) => {
    if (message.type === 'settings') {
      settings = snapshotSource(message.settings);
      return;
    }
    const { ids, ends, bodies } = message;
    const verdicts: ReviewVerdict[] = [];
    let start = 0;
    for (const end of ends) {
      const body = Buffer.from(bodies.buffer, bodies.byteOffset + start, end - start);
      verdicts.push(decide(body, handler, init.maxDepth));
      start = end;
    }
    const batch = encodeVerdicts(verdicts);
    const reply: FromWorker = { type: 'verdicts', ids, batch };
    port.postMessage(reply, [batch.bytes]);
  });

  const ready: FromWorker = { type: 'ready' };
  port.postMessage(ready);
}
