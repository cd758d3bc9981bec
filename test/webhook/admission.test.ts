// Real AdmissionReviews over real HTTPS against the real engine.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import fastJsonPatch, { type Operation } from 'fast-json-patch';
import { mutate } from '../../src/mutate/index.js';
import { startHarness, SETTINGS, type Harness } from './harness.js';
import { loadVm, patchOf, review, send } from './support.js';

const { applyPatch, deepClone } = fastJsonPatch;

describe('webhook over HTTPS: admission', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(async () => {
    await h.webhook.stop(1000);
    rmSync(h.dir, { recursive: true, force: true });
  });
  const post = (body: unknown) => send(h.port, JSON.stringify(body), { ca: h.certs.cert });

  it('patches a VM CREATE; the patch applied to the VM equals the engine output', async () => {
    const vm = loadVm();
    const reply = await post(review(vm, { uid: 'uid-create-1' }));
    assert.equal(reply.status, 200);
    const body = reply.json();
    assert.equal(body.apiVersion, 'admission.k8s.io/v1');
    assert.equal(body.kind, 'AdmissionReview');
    const response = body.response as Record<string, unknown>;
    assert.equal(response.uid, 'uid-create-1');
    assert.equal(response.allowed, true);
    assert.equal(response.patchType, 'JSONPatch');
    const patched = applyPatch(deepClone(vm), patchOf(body) as Operation[], true, false).newDocument;
    assert.deepEqual(patched, mutate(vm, SETTINGS).vm);
    const expected = mutate(vm, SETTINGS);
    assert.deepEqual(response.warnings ?? [], expected.warnings);
  });

  it('answers a second invocation on the mutated VM with no patch', async () => {
    const once = mutate(loadVm(), SETTINGS).vm;
    const reply = await post(review(once, { uid: 'uid-again' }));
    const response = reply.json().response as Record<string, unknown>;
    assert.equal(response.uid, 'uid-again');
    assert.equal(response.allowed, true);
    assert.equal(response.patch, undefined);
    assert.equal(response.patchType, undefined);
  });

  it('gives a dry-run review the same answer', async () => {
    const vm = loadVm();
    const wet = (await post(review(vm, { uid: 'same' }))).json();
    const dry = (await post(review(vm, { uid: 'same', dryRun: true }))).json();
    assert.deepEqual(dry, wet);
  });

  it('seeds MACs with the uid when the VM has no name yet (generateName)', async () => {
    const vm = loadVm();
    const meta = vm.metadata as Record<string, unknown>;
    delete meta.name;
    meta.generateName = 'mongodb-';
    const reply = (await post(review(vm, { uid: 'seed-uid-1' }))).json();
    const patched = applyPatch(deepClone(vm), patchOf(reply) as Operation[], true, false).newDocument;
    assert.deepEqual(patched, mutate(vm, SETTINGS, { seed: 'seed-uid-1' }).vm);
  });

  for (const [what, opts] of [
    ['a DELETE', { operation: 'DELETE' }],
    ['a CONNECT', { operation: 'CONNECT' }],
    [
      'a Pod',
      {
        kind: { group: '', version: 'v1', kind: 'Pod' },
        resource: { group: '', version: 'v1', resource: 'pods' },
      },
    ],
  ] as const) {
    it(`allows ${what} untouched`, async () => {
      const reply = (await post(review(loadVm(), { uid: 'other', ...opts }))).json();
      assert.deepEqual(reply.response, { uid: 'other', allowed: true });
    });
  }

  it('never writes cloud-init user data to the log, and logs uid, namespace, name, decision, duration', async () => {
    const vm = loadVm();
    const secret = 'S3cr3t-pa55word-do-not-log';
    type Volume = { cloudInitNoCloud?: { userData?: string } };
    const spec = vm.spec as { template: { spec: { volumes: Volume[] } } };
    const noCloud = spec.template.spec.volumes.find((v) => v.cloudInitNoCloud)?.cloudInitNoCloud;
    assert.ok(noCloud, 'the test VM has a NoCloud volume');
    noCloud.userData = `#cloud-config\npassword: ${secret}\n`;
    const reply = await post(review(vm, { uid: 'uid-secret' }));
    assert.equal(reply.status, 200);
    assert.ok(patchOf(reply.json()).length > 0, 'the review was injected');
    // Also through the refusal paths: malformed JSON that contains the secret, and an errored object.
    await send(h.port, `{"request": "${secret}`, { ca: h.certs.cert });
    await post(review({ metadata: { name: 'x' }, spec: secret }, { uid: 'uid-secret-2' }));
    const log = h.log();
    assert.ok(!log.includes(secret), 'the secret reached the log');
    assert.ok(!log.includes(Buffer.from(secret).toString('base64')), 'the base64 secret reached the log');
    const line = log
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.uid === 'uid-secret');
    assert.ok(line, 'no log line for the review');
    assert.equal(line.namespace, 'vm');
    assert.equal(line.name, 'mongodb');
    assert.equal(line.decision, 'injected');
    assert.equal(typeof line.durationMs, 'number');
  });

  it('takes the timeout query the apiserver appends to the URL', async () => {
    const reply = await send(h.port, JSON.stringify(review(loadVm(), { uid: 'with-query' })), {
      ca: h.certs.cert,
      path: '/mutate?timeout=10s',
    });
    assert.equal(reply.status, 200);
    assert.ok(patchOf(reply.json()).length > 0);
  });

  it('leaves a VM that opted out alone (no patch)', async () => {
    const vm = loadVm();
    (vm.metadata as { labels: Record<string, string> }).labels['kubevirt-net-injector.io/inject'] =
      'disabled';
    const response = (await post(review(vm, { uid: 'opted-out' }))).json().response as Record<
      string,
      unknown
    >;
    assert.equal(response.allowed, true);
    assert.equal(response.patch, undefined);
  });

  it('serves /healthz, /readyz, /metrics through express and 404 elsewhere', async () => {
    const get = (path: string) => send(h.port, undefined, { ca: h.certs.cert, method: 'GET', path });
    assert.equal((await get('/healthz')).status, 200);
    assert.equal((await get('/readyz')).status, 200);
    const metrics = await get('/metrics');
    assert.equal(metrics.status, 200);
    assert.match(
      metrics.body,
      /kubevirt_net_injector_admission_decisions_total\{webhook="mutate",outcome="injected"\} [1-9]/,
    );
    assert.match(
      metrics.body,
      /kubevirt_net_injector_admission_review_duration_seconds_count\{webhook="mutate",code="200"\} [1-9]/,
    );
    assert.equal((await get('/nowhere')).status, 404);
    assert.equal((await get('/mutate')).status, 404);
  });
});

describe('webhook over HTTPS: an engine that throws', () => {
  let h: Harness;
  before(async () => {
    // A test double: the real engine cannot be made to throw an unexpected error on cue.
    h = await startHarness({}, undefined, () => {
      throw new RangeError('engine bug');
    });
  });
  after(async () => {
    await h.webhook.stop(1000);
    rmSync(h.dir, { recursive: true, force: true });
  });

  it('answers an errored review carrying the uid, and keeps serving', async () => {
    for (const uid of ['boom-1', 'boom-2']) {
      const reply = await send(h.port, JSON.stringify(review(loadVm(), { uid })), { ca: h.certs.cert });
      assert.equal(reply.status, 200);
      const response = reply.json().response as { uid: string; allowed: boolean; status: { code: number } };
      assert.equal(response.uid, uid);
      assert.equal(response.allowed, false);
      assert.equal(response.status.code, 500);
    }
    const health = await send(h.port, undefined, { ca: h.certs.cert, method: 'GET', path: '/healthz' });
    assert.equal(health.status, 200);
    const line = h
      .log()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.uid === 'boom-1');
    assert.equal(line?.decision, 'errored');
    assert.equal(line?.errorName, 'RangeError');
    assert.ok(!h.log().includes('engine bug'), 'exception messages stay out of the log');
  });
});
