// The long generated-input run (bench/README.md, "Generated input"): FUZZ_VMS VMs (default
// 100,000) through the engine and FUZZ_REVIEWS bodies (default 20,000) through the webhook over
// HTTPS, every one checked against the invariants the short runs in make test check
// (test/support/invariants.ts). Seeded: FUZZ_SEED replays a run. Usage: make bench-fuzz
import { rmSync } from 'node:fs';
import { Agent } from 'node:https';
import { performance } from 'node:perf_hooks';
import fc from 'fast-check';
import { hostileBody, virtualMachine } from '../../test/support/arbitraries.js';
import { checkAnswer, checkOne } from '../../test/support/invariants.js';
import { startHarness } from '../../test/webhook/harness.js';
import { send } from '../../test/webhook/support.js';
import { mutate } from '../../src/mutate/index.js';

const VMS = Number(process.env.FUZZ_VMS ?? 100_000);
const REVIEWS = Number(process.env.FUZZ_REVIEWS ?? 20_000);
const SEED = Number(process.env.FUZZ_SEED ?? 20261203);

async function main(): Promise<void> {
  const outcomes = new Map<string, number>();
  const count = (key: string) => outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
  let start = performance.now();
  fc.assert(
    fc.property(virtualMachine, (g) => {
      checkOne(g);
      count(mutate(g.vm, g.settings, { seed: 'generated-review-uid' }).decision.outcome);
    }),
    { numRuns: VMS, seed: SEED },
  );
  const engineS = (performance.now() - start) / 1000;
  const tally = [...outcomes].map(([k, n]) => `${k} ${n}`).join(', ');
  process.stdout.write(
    `engine: ${VMS} generated VMs, every invariant held, in ${engineS.toFixed(0)} s (${tally}); seed ${SEED}\n`,
  );

  const h = await startHarness({}, undefined, undefined);
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  const statuses = new Map<number, number>();
  try {
    start = performance.now();
    await fc.assert(
      fc.asyncProperty(hostileBody, async ({ body, uid }) => {
        const reply = await send(h.port, body, { ca: h.certs.cert, agent });
        statuses.set(reply.status, (statuses.get(reply.status) ?? 0) + 1);
        checkAnswer(reply, uid);
      }),
      { numRuns: REVIEWS, seed: SEED },
    );
    const health = await send(h.port, undefined, { ca: h.certs.cert, method: 'GET', path: '/healthz' });
    if (health.status !== 200) throw new Error(`unhealthy after the run: ${health.status}`);
    const byStatus = [...statuses].map(([s, n]) => `HTTP ${s}: ${n}`).join(', ');
    const s = (performance.now() - start) / 1000;
    process.stdout.write(
      `webhook: ${REVIEWS} generated bodies over HTTPS, every answer by contract, healthy after, in ${s.toFixed(0)} s (${byStatus})\n`,
    );
  } finally {
    agent.destroy();
    await h.webhook.stop(1000);
    rmSync(h.dir, { recursive: true, force: true });
  }
}

await main();
