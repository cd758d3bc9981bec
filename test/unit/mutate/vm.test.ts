import assert from 'node:assert/strict';
import { mutate } from '../../../src/mutate/index.js';
import { defaultSettings, goldenCases } from '../../support/golden.js';

describe('engine copy', () => {
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

describe('engine: "__proto__" keys in the cloud-init source', () => {
  type Source = Record<string, unknown>;
  const withSource = (extra: string) => {
    const seed = goldenCases().find((c) => c.name === 'seed-mongodb')!.input;
    const text = JSON.stringify(seed).replace('"cloudInitNoCloud":{', `"cloudInitNoCloud":{${extra},`);
    assert.notEqual(text, JSON.stringify(seed));
    return JSON.parse(text) as Record<string, unknown>;
  };
  const sourceOf = (vm: Record<string, unknown>): Source => {
    const volumes = (vm as { spec: { template: { spec: { volumes: Source[] } } } }).spec.template.spec
      .volumes;
    return volumes.find((v) => v['cloudInitNoCloud'])!['cloudInitNoCloud'] as Source;
  };

  for (const value of ['"x"', '{"polluted":"yes"}']) {
    it(`beside both user-data fields, ${value} is kept as it was and no op touches it`, () => {
      const input = withSource(`"__proto__":${value},"userDataBase64":"I2Nsb3VkLWNvbmZpZwo="`);
      const result = mutate(input, defaultSettings);
      assert.equal(result.decision.outcome, 'injected');
      for (const op of result.patch) assert.doesNotMatch(op.path, /__proto__/, JSON.stringify(op));
      const source = sourceOf(result.vm);
      assert.equal(Object.getPrototypeOf(source), Object.prototype);
      assert.equal(source['polluted'], undefined);
      assert.deepEqual(Object.getOwnPropertyDescriptor(source, '__proto__')?.value, JSON.parse(value));
      assert.equal(
        typeof source['userData'] === 'string' || typeof source['userDataBase64'] === 'string',
        true,
      );
      assert.equal('userData' in source && 'userDataBase64' in source, false, 'one user-data field left');
    });
  }
});
