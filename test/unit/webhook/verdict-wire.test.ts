import assert from 'node:assert/strict';
import type { ReviewVerdict } from '../../../src/webhook/decide.js';
import { decodeVerdicts, encodeVerdicts } from '../../../src/webhook/verdict-wire.js';

describe('verdicts between threads', () => {
  const log = {
    uid: 'u1',
    namespace: 'vm',
    name: 'mongodb',
    operation: 'CREATE',
    resource: 'kubevirt.io/virtualmachines',
    dryRun: false,
    decision: 'injected',
  };
  const verdicts: ReviewVerdict[] = [
    { kind: 'answered', body: '{"a":"ü"}', outcome: 'injected', log: { ...log } },
    { kind: 'refused', status: 400, reason: 'bad_json', message: 'request body is not valid JSON' },
    {
      kind: 'answered',
      body: Buffer.from('{"b":2}'),
      outcome: 'errored',
      log: {
        ...log,
        uid: 'u2',
        dryRun: true,
        reason: 'exception',
        warnings: 2,
        errorName: 'TypeError',
        errorAt: 'at x (y.js:1:2)',
      },
    },
    { kind: 'refused', status: 500, reason: 'internal', message: 'internal error' },
  ];

  it('come back as they went, the answers as UTF-8 views of one buffer', () => {
    const batch = encodeVerdicts(verdicts);
    const back = decodeVerdicts(structuredClone(batch, { transfer: [batch.bytes] }));
    assert.equal(back.length, 4);
    const text = (v: ReviewVerdict) =>
      v.kind === 'answered' ? Buffer.from(v.body as Uint8Array).toString('utf8') : '';
    assert.equal(text(back[0]!), '{"a":"ü"}');
    assert.equal(text(back[2]!), '{"b":2}');
    const withoutBodies = (vs: ReviewVerdict[]) =>
      vs.map((v) => (v.kind === 'answered' ? { ...v, body: '' } : v));
    assert.deepEqual(withoutBodies(back), withoutBodies(verdicts));
  });

  it('leave out the log fields a verdict did not have', () => {
    const [first] = decodeVerdicts(encodeVerdicts([verdicts[0]!]));
    assert.ok(first?.kind === 'answered');
    assert.deepEqual(Object.keys(first.log), Object.keys(log));
  });

  it('carry batches larger than the first scratch buffer, text and bytes mixed', () => {
    const many: ReviewVerdict[] = Array.from({ length: 120 }, (_, i) => ({
      kind: 'answered',
      body: i % 2 ? `{"n":${i},"t":"${'é✓'.repeat(1500)}"}` : Buffer.from(`{"n":${i}}`.padEnd(5000, ' ')),
      outcome: 'injected',
      log: { ...log, uid: `u${i}` },
    }));
    const back = decodeVerdicts(encodeVerdicts(many));
    assert.equal(back.length, many.length);
    back.forEach((v, i) => {
      const sent = many[i]!;
      assert.ok(v.kind === 'answered' && sent.kind === 'answered');
      const expected = typeof sent.body === 'string' ? sent.body : Buffer.from(sent.body).toString('utf8');
      assert.equal(Buffer.from(v.body as Uint8Array).toString('utf8'), expected);
      assert.equal(v.log.uid, `u${i}`);
    });
  });
});
