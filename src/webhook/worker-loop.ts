// The review worker's side of the pool (see workers.ts): decides each batch of bodies with
// the given engine and a copy of the settings, which the main thread replaces whenever they
// change. Only computation: no sockets, no logs, no metrics.
import { parentPort, workerData } from 'node:worker_threads';
import { decide, type ReviewVerdict } from './decide.js';
import { createMutatingHandler, type MutateFn } from './handler.js';
import { snapshotSource } from './settings-source.js';
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
    const answers = toBytes(verdicts);
    const reply: FromWorker = { type: 'verdicts', ids, verdicts };
    port.postMessage(reply, [answers]);
  });

  const ready: FromWorker = { type: 'ready' };
  port.postMessage(ready);
}

/**
 * Puts the answers' text, as UTF-8, in one new buffer and points each verdict at its part:
 * the buffer is then moved (not copied) to the main thread, which writes each answer as it
 * is, with no string to copy across or encode there. Returns the buffer to move.
 */
function toBytes(verdicts: ReviewVerdict[]): ArrayBuffer {
  let size = 0;
  for (const v of verdicts) if (v.kind === 'answered') size += Buffer.byteLength(v.body);
  const bytes = Buffer.allocUnsafeSlow(size);
  let at = 0;
  for (const v of verdicts) {
    if (v.kind !== 'answered' || typeof v.body !== 'string') continue;
    const end = at + bytes.write(v.body, at);
    v.body = bytes.subarray(at, end);
    at = end;
  }
  return bytes.buffer;
}
