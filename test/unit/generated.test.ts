// Generated input (fast-check, seeded and reproducible): VMs the engine was not written for,
// checked against what must hold for any of them. FUZZ_RUNS sets the count (the long run in
// bench/fuzz uses 100,000), FUZZ_SEED the seed (a failure prints the seed and path to replay it).
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import fc from 'fast-check';
import fastJsonPatch from 'fast-json-patch';
import { parse } from 'yaml';
import { guestFixCloudConfig } from '../../src/cloudinit/guestfix.js';
import { mutate, type MutateResult } from '../../src/mutate/index.js';
import { virtualMachine, type GeneratedVm } from '../support/arbitraries.js';
import { schemaProblems } from '../support/crd-schema.js';
import { repoRoot } from '../support/golden.js';
import { isMimeOriginal, unwrap, userDataBytes } from '../support/wrapped.js';

export const RUNS = Number(process.env['FUZZ_RUNS'] ?? 2000);
export const SEED = Number(process.env['FUZZ_SEED'] ?? 20261203);

type Obj = Record<string, unknown>;

const crdFile = [
  join(repoRoot, '.cache/controlplane/crds/vm.yaml'),
  join(repoRoot, '../shared/crds/virtualmachines.kubevirt.io.yaml'),
].find((f) => existsSync(f));
const crd = crdFile ? (parse(readFileSync(crdFile, 'utf8')) as Obj) : undefined;

function cloudInitSource(vm: Obj): Obj | undefined {
  const tspec = ((vm['spec'] as Obj)['template'] as Obj)['spec'] as Obj;
  for (const v of (tspec['volumes'] as Obj[] | undefined) ?? []) {
    const source = (v['cloudInitNoCloud'] ?? v['cloudInitConfigDrive']) as Obj | undefined;
    if (source) return source;
  }
  return undefined;
}

/** The guest fixes the guest and renderer suites test: by device name, or by the injected MAC. */
function testedPlans(result: MutateResult): string[] {
  const interfaces = (
    ((((result.vm['spec'] as Obj)['template'] as Obj)['spec'] as Obj)['domain'] as Obj)['devices'] as Obj
  )['interfaces'] as Obj[];
  const macs = interfaces.map((i) => i['macAddress']).filter((m): m is string => typeof m === 'string');
  const devices = Array.from({ length: 8 }, (_, i) => `eth${i + 1}`);
  return devices.flatMap((device) => [
    guestFixCloudConfig({ device }),
    ...macs.map((mac) => guestFixCloudConfig({ device, mac: mac.toLowerCase() })),
  ]);
}

/** Every invariant, for one generated VM; throws (an assertion) when one breaks. */
export function checkOne({ vm, settings }: GeneratedVm): void {
  const before = structuredClone(vm);
  const ctx = { seed: 'generated-review-uid' };
  const result = mutate(vm, settings, ctx);
  assert.deepEqual(vm, before, 'the input was modified');
  const patched = fastJsonPatch.applyPatch(structuredClone(before), result.patch, true, false).newDocument;
  assert.deepEqual(patched, result.vm, 'the patch does not give the output');
  assert.deepEqual(mutate(result.vm, settings, ctx).patch, [], 'not idempotent');
  if (crd) assert.deepEqual(schemaProblems(crd, result.vm as Obj), [], 'output outside the CRD schema');

  const source = cloudInitSource(before);
  const after = cloudInitSource(result.vm as Obj);
  const original = source && userDataBytes(source);
  const written = after && userDataBytes(after);
  if (!written || (original && written.equals(original))) return;
  if (!original) {
    // No user data before: ours alone, plain or gzip.
    const ours = (written[0] === 0x1f ? gunzipSync(written) : written).toString('utf8');
    assert.ok(testedPlans(result).includes(ours), 'our user data is not one of the tested guest fixes');
    return;
  }
  const parts = unwrap(written, isMimeOriginal(original));
  assert.ok(parts, 'changed user data is not our wrapper');
  assert.ok(parts.original.equals(original), "the user's data did not come out byte for byte");
  // Our part's last newline goes before the closing delimiter.
  const plans = testedPlans(result).map((p) => p.replace(/\n$/, ''));
  assert.ok(plans.includes(parts.ours), 'our part is not one of the tested guest fixes');
}

describe('generated input: the engine on VMs it was not written for', function () {
  this.timeout(600_000);
  it(`holds every invariant for ${RUNS} generated VMs (seed ${SEED})`, () => {
    fc.assert(
      fc.property(virtualMachine, (g) => checkOne(g)),
      { numRuns: RUNS, seed: SEED },
    );
  });
});
