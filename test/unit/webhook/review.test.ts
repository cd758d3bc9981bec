import assert from 'node:assert/strict';
import type { Operation } from 'fast-json-patch';
import { allowed, denied, errored, patched, toReview } from '../../../src/webhook/response.js';
import { BadReviewError, decodeReview } from '../../../src/webhook/review.js';

const good = () => ({
  apiVersion: 'admission.k8s.io/v1',
  kind: 'AdmissionReview',
  request: {
    uid: 'u',
    kind: { group: 'kubevirt.io', version: 'v1', kind: 'VirtualMachine' },
    resource: { group: 'kubevirt.io', version: 'v1', resource: 'virtualmachines' },
    operation: 'CREATE',
    namespace: 'vm',
    object: {},
  },
});

describe('AdmissionReview decoding', () => {
  it('accepts a v1 review', () => {
    assert.equal(decodeReview(good()).request.uid, 'u');
  });
  const broken: [string, (r: ReturnType<typeof good>) => unknown, RegExp][] = [
    ['not an object', () => [1], /not a JSON object/],
    ['another kind', (r) => ({ ...r, kind: 'Pod' }), /kind must be AdmissionReview/],
    ['v1beta1', (r) => ({ ...r, apiVersion: 'admission.k8s.io/v1beta1' }), /apiVersion/],
    ['no request', (r) => ({ ...r, request: undefined }), /no request/],
    ['request not an object', (r) => ({ ...r, request: 'x' }), /request is not an object/],
    ['no uid', (r) => ({ ...r, request: { ...r.request, uid: '' } }), /uid/],
    ['no operation', (r) => ({ ...r, request: { ...r.request, operation: 1 } }), /operation/],
    ['bad kind', (r) => ({ ...r, request: { ...r.request, kind: 'VirtualMachine' } }), /request.kind/],
    ['bad resource', (r) => ({ ...r, request: { ...r.request, resource: {} } }), /request.resource/],
    ['namespace not a string', (r) => ({ ...r, request: { ...r.request, namespace: 3 } }), /namespace/],
    ['dryRun not a boolean', (r) => ({ ...r, request: { ...r.request, dryRun: 'yes' } }), /dryRun/],
  ];
  for (const [what, change, pattern] of broken) {
    it(`refuses ${what}`, () => {
      assert.throws(
        () => decodeReview(change(good())),
        (e: unknown) => e instanceof BadReviewError && pattern.test(e.message),
      );
    });
  }
});

describe('AdmissionReview responses', () => {
  it('builds allowed, patched, denied and errored answers that carry the uid', () => {
    assert.deepEqual(allowed('u'), { uid: 'u', allowed: true });
    assert.deepEqual(allowed('u', ['w']), { uid: 'u', allowed: true, warnings: ['w'] });
    assert.deepEqual(patched('u', []), { uid: 'u', allowed: true });
    const p = patched('u', [{ op: 'remove', path: '/a' }]);
    assert.equal(p.patchType, 'JSONPatch');
    assert.deepEqual(JSON.parse(Buffer.from(p.patch!, 'base64').toString()), [{ op: 'remove', path: '/a' }]);
    assert.deepEqual(denied('u', 'no'), { uid: 'u', allowed: false, status: { code: 400, message: 'no' } });
    assert.deepEqual(errored('u', 'oops'), {
      uid: 'u',
      allowed: false,
      status: { code: 500, message: 'oops' },
    });
    assert.deepEqual(toReview(allowed('u')), {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: { uid: 'u', allowed: true },
    });
  });

  it('base64-encodes the patch as UTF-8, ASCII or not', () => {
    for (const value of ['plain ascii', 'ünïcödé ✓', 'é'.repeat(700)]) {
      const patch: Operation[] = [{ op: 'add', path: '/p', value }];
      const { patch: encoded } = patched('u', patch);
      assert.deepEqual(JSON.parse(Buffer.from(encoded!, 'base64').toString('utf8')), patch);
    }
  });
});
