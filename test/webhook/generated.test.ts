// Generated AdmissionReviews against the webhook over HTTPS (fast-check, seeded): well-formed
// reviews of generated VMs, reviews with any JSON in their fields, any JSON, any text. The server
// must never crash or hang, and answer each with a well-formed AdmissionReview carrying the
// request's uid (never an internal error), or with a 4xx. FUZZ_RUNS / FUZZ_SEED as in
// test/unit/generated.test.ts; the long run is bench/fuzz.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { Agent } from 'node:https';
import fc from 'fast-check';
import { hostileBody } from '../support/arbitraries.js';
import { startHarness, type Harness } from './harness.js';
import { checkAnswer } from '../support/invariants.js';
import { send } from './support.js';

const RUNS = Number(process.env['FUZZ_RUNS'] ?? 300);
const SEED = Number(process.env['FUZZ_SEED'] ?? 20261203);
/** No answer within this long counts as a hang. */
const HANG_MS = 5000;

describe('webhook over HTTPS: generated reviews', function () {
  this.timeout(600_000);
  let h: Harness;
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  before(async () => {
    h = await startHarness();
  });
  after(async () => {
    agent.destroy();
    await h.webhook.stop(1000);
    rmSync(h.dir, { recursive: true, force: true });
  });

  it(`answers ${RUNS} generated bodies by its contract (seed ${SEED}), and stays healthy`, async () => {
    await fc.assert(
      fc.asyncProperty(hostileBody, async ({ body, uid }) => {
        let timer: NodeJS.Timeout | undefined;
        const hang = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${HANG_MS} ms`)), HANG_MS);
        });
        try {
          checkAnswer(await Promise.race([send(h.port, body, { ca: h.certs.cert, agent }), hang]), uid);
        } finally {
          clearTimeout(timer);
        }
      }),
      { numRuns: RUNS, seed: SEED },
    );
    const health = await send(h.port, undefined, { ca: h.certs.cert, method: 'GET', path: '/healthz' });
    assert.equal(health.status, 200);
  });
});
