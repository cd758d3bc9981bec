import assert from 'node:assert/strict';
import type { Operation } from 'fast-json-patch';
import {
  allowed,
  denied,
  errored,
  patched,
  patchBase64,
  reviewJson,
  toReview,
} from '../../../src/webhook/response.js';
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

  it('writes the review text exactly as JSON.stringify would, the patch spliced in', () => {
    const answers = [
      allowed('u'),
      allowed('u"\\', ['a "quoted" warning']),
      patched('u-1', [{ op: 'add', path: '/a', value: 'ü\n"x"' }]),
      patched('u-2', [{ op: 'remove', path: '/a' }], ['w1', 'w2']),
      denied('u', 'no "way"'),
      errored('u', 'oops'),
    ];
    for (const answer of answers) {
      assert.equal(reviewJson(answer), JSON.stringify(toReview(answer)));
    }
  });

  it('writes patches as JSON.stringify would, long strings remembered or not', () => {
    // JSON.stringify's text, but for the spaces that align reused long values (see below).
    const patchText = (patch: Operation[]) => {
      const text = Buffer.from(patchBase64(patch), 'base64').toString('utf8');
      return text.replace(/ (?=[ "\]}])|(?<=:) +/g, '');
    };
    const long = (c: string) => `${c.repeat(600)}"\\\n${c}`;
    const shared = long('a');
    const patches: Operation[][] = [
      [{ op: 'add', path: '/a~1b', value: { x: [1, 'ü', null] } }],
      [
        { op: 'replace', path: '/u', value: shared },
        { op: 'remove', path: '/v' },
      ],
      [{ op: 'add', path: '/u', value: shared }],
      [
        { op: 'add', path: '/w', value: long('b') },
        { op: 'add', path: '/x', value: long('é') },
      ],
      ...Array.from({ length: 12 }, (_, i): Operation[] => [
        { op: 'add', path: `/${i}`, value: long(String(i % 10)) },
      ]),
      [{ op: 'add', path: '/u', value: shared }],
    ];
    for (const patch of patches) assert.equal(patchText(patch), JSON.stringify(patch));
    const moves: Operation[] = [
      { op: 'move', from: '/a', path: '/b' },
      { op: 'copy', from: '/c', path: '/d' },
    ];
    assert.deepEqual(JSON.parse(patchText(moves)), moves);
  });

  it('base64-encodes the patch as UTF-8, ASCII or not', () => {
    for (const value of ['plain ascii', 'ünïcödé ✓', 'é'.repeat(700)]) {
      const patch: Operation[] = [{ op: 'add', path: '/p', value }];
      const { patch: encoded } = patched('u', patch);
      assert.deepEqual(JSON.parse(Buffer.from(encoded!, 'base64').toString('utf8')), patch);
    }
  });

  it('reuses the base64 of long values, aligned so that the whole still decodes to the patch', () => {
    const long = (c: string, n = 700) => c.repeat(n);
    const cases: Operation[][] = [
      [{ op: 'add', path: '/a', value: long('a') }],
      // Text before the value of every length modulo 3, and values of every length modulo 3.
      ...[0, 1, 2].flatMap((i) =>
        [700, 701, 702].map((n): Operation[] => [
          { op: 'remove', path: `/${'x'.repeat(i)}` },
          { op: 'add', path: '/v', value: long('v', n) },
          { op: 'add', path: '/t', value: 'tail é' },
        ]),
      ),
      [
        { op: 'add', path: '/ü', value: long('b') },
        { op: 'add', path: '/n', value: long('é') },
        { op: 'add', path: '/m', value: long('c') },
      ],
    ];
    for (const patch of cases) {
      for (let round = 0; round < 2; round++) {
        const encoded = patchBase64(patch);
        assert.match(encoded, /^[A-Za-z0-9+/]*={0,2}$/);
        const text = Buffer.from(encoded, 'base64').toString('utf8');
        assert.deepEqual(JSON.parse(text), patch);
        assert.equal(text.replace(/ (?=[ "\]}])|(?<=:) +/g, ''), JSON.stringify(patch));
      }
    }
  });
});
