// What must hold for any VM the engine is given, and for any answer the webhook gives: the
// generated-input tests (test/unit/generated.test.ts, test/webhook/generated.test.ts) and the
// long run (bench/fuzz) check these.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import fastJsonPatch from 'fast-json-patch';
import { parse } from 'yaml';
import { guestFixCloudConfig } from '../../src/cloudinit/guestfix.js';
import { mutate, type MutateResult } from '../../src/mutate/index.js';
import type { GeneratedVm } from './arbitraries.js';
import { schemaProblems } from './crd-schema.js';
import { repoRoot } from './golden.js';
import type { Reply } from '../webhook/support.js';
import { isMimeOriginal, unwrap, userDataBytes } from './wrapped.js';

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

/** Checks one answer; throws when it breaks the server's contract. */
export function checkAnswer(reply: Reply, uid: string | undefined): void {
  if (reply.status >= 400 && reply.status < 500) {
    assert.equal(typeof (reply.json() as { message?: unknown }).message, 'string', 'a 4xx carries a message');
    return;
  }
  assert.equal(reply.status, 200, `status ${reply.status}: ${reply.body.slice(0, 200)}`);
  const review = reply.json() as { apiVersion?: string; kind?: string; response?: Record<string, unknown> };
  assert.equal(review.apiVersion, 'admission.k8s.io/v1');
  assert.equal(review.kind, 'AdmissionReview');
  assert.equal(review.response?.['uid'], uid, 'the answer carries the request uid');
  assert.equal(typeof review.response?.['allowed'], 'boolean');
  const status = review.response?.['status'] as { code?: number } | undefined;
  assert.notEqual(status?.code, 500, `an internal error: ${JSON.stringify(status)}`);
}
