import assert from 'node:assert/strict';
import { mutate } from '../../../src/mutate/index.js';
import { copyOf, Draft } from '../../../src/mutate/vm.js';
import { defaultSettings, goldenCases } from '../../support/golden.js';

describe('copy-on-write draft', () => {
  it('copies own properties, and an own "__proto__" key as a plain property', () => {
    const plain = { a: 1, b: { c: 2 } };
    const copy = copyOf(plain);
    assert.deepEqual(copy, plain);
    assert.notEqual(copy, plain);
    assert.equal(copy['b'], plain.b);

    const hostile = JSON.parse('{"name":"x","__proto__":{"polluted":"yes"}}') as Record<string, unknown>;
    const safe = copyOf(hostile);
    assert.equal(Object.getPrototypeOf(safe), Object.prototype);
    assert.equal((safe as { polluted?: string }).polluted, undefined);
    assert.deepEqual(Object.getOwnPropertyDescriptor(safe, '__proto__')?.value, { polluted: 'yes' });
  });

  it('writes in place to objects it was given with push, and never to the input', () => {
    const input = JSON.parse('{"spec":{"list":[{"name":"a"}]}}') as Record<string, unknown>;
    const before = JSON.stringify(input);
    const draft = new Draft(input);
    const ours = { name: 'b' };
    draft.push(['spec', 'list'], ours);
    assert.equal(draft.item(['spec', 'list'], 1), ours);
    draft.item(['spec', 'list'], 0)['x'] = 1;
    assert.equal(JSON.stringify(input), before);
    assert.deepEqual(draft.root, { spec: { list: [{ name: 'a', x: 1 }, { name: 'b' }] } });
  });

  it('injects a VM whose objects carry "__proto__" keys without touching any prototype', () => {
    const seed = goldenCases().find((c) => c.name === 'seed-mongodb')!.input;
    // In the template's spec, which the engine copies to add the network.
    const text = JSON.stringify(seed).replace('"domain":{', '"__proto__":{"polluted":"yes"},"domain":{');
    assert.notEqual(text, JSON.stringify(seed));
    type Vm = { spec: { template: { spec: Record<string, unknown> } } };
    const result = mutate(JSON.parse(text), defaultSettings);
    assert.equal(result.decision.outcome, 'injected');
    const tspec = (result.vm as Vm).spec.template.spec;
    assert.equal(Object.getPrototypeOf(tspec), Object.prototype);
    assert.equal(tspec['polluted'], undefined);
    assert.deepEqual(Object.getOwnPropertyDescriptor(tspec, '__proto__')?.value, { polluted: 'yes' });
    assert.ok(Array.isArray(tspec['networks']));
  });
});
