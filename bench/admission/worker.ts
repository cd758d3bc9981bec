// The worker thread of the (c3) prototype in server.ts: everything after the body is read
// (parse, decode, handler with the real engine, answer text, log fields) on a second core.
// A design measured, not adopted: see docs/webhook.md, "Benchmark".
import { parentPort } from 'node:worker_threads';
import { mutate } from '../../src/mutate/index.js';
import { createMutatingHandler } from '../../src/webhook/handler.js';
import { reviewLogFields } from '../../src/webhook/log-review.js';
import { reviewJson } from '../../src/webhook/response.js';
import { decodeReview } from '../../src/webhook/review.js';
import { staticSettingsSource } from '../../src/webhook/settings-source.js';
import { DEFAULT_LIMITS, parseJson } from '../../src/webhook/transport.js';

export interface WorkerReview {
  id: number;
  body: Uint8Array;
}

export type WorkerAnswer =
  | { id: number; text: string; outcome: string; log: ReturnType<typeof reviewLogFields> }
  | { id: number; error: string };

const handler = createMutatingHandler({
  mutate,
  settings: staticSettingsSource({ network: 'ovs-net-br1', interfaceName: 'l2', cloudInit: true }),
});

parentPort!.on('message', ({ id, body }: WorkerReview) => {
  let answer: WorkerAnswer;
  try {
    const { request } = decodeReview(
      parseJson(Buffer.from(body.buffer, body.byteOffset, body.length), DEFAULT_LIMITS.maxDepth),
    );
    const result = handler(request);
    answer = {
      id,
      text: reviewJson(result.response),
      outcome: result.outcome,
      log: reviewLogFields(request, result),
    };
  } catch (err) {
    answer = { id, error: err instanceof Error ? err.name : 'error' };
  }
  parentPort!.postMessage(answer);
});
