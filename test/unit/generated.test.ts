// Generated input (fast-check, seeded and reproducible): VMs the engine was not written for,
// checked against what must hold for any of them. FUZZ_RUNS sets the count (the long run in
// bench/fuzz uses 100,000), FUZZ_SEED the seed (a failure prints the seed and path to replay it).
import fc from 'fast-check';
import { virtualMachine } from '../support/arbitraries.js';
import { checkOne } from '../support/invariants.js';

const RUNS = Number(process.env['FUZZ_RUNS'] ?? 2000);
const SEED = Number(process.env['FUZZ_SEED'] ?? 20261203);

describe('generated input: the engine on VMs it was not written for', function () {
  this.timeout(600_000);
  it(`holds every invariant for ${RUNS} generated VMs (seed ${SEED})`, () => {
    fc.assert(
      fc.property(virtualMachine, (g) => checkOne(g)),
      { numRuns: RUNS, seed: SEED },
    );
  });
});
