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

describe('engine: VMs beyond what Kubernetes and KubeVirt accept', () => {
  const seed = () => structuredClone(goldenCases().find((c) => c.name === 'seed-mongodb')!.input);
  type Vm = {
    metadata: { annotations?: Record<string, string> };
    spec: { template: { spec: { networks?: unknown[]; domain: { devices: { interfaces?: unknown[] } } } } };
  };
  const withNetworks = (n: number) => {
    const vm = seed() as Vm;
    vm.spec.template.spec.networks = Array.from({ length: n }, (_, i) => ({ name: `n${i}`, pod: {} }));
    vm.spec.template.spec.domain.devices.interfaces = Array.from({ length: n }, (_, i) => ({
      name: `n${i}`,
      bridge: {},
    }));
    return vm;
  };

  it('a VM whose networks leave no room for ours is returned as it is, with a warning', () => {
    const input = withNetworks(256);
    const result = mutate(input, defaultSettings);
    assert.equal(result.decision.outcome, 'skipped');
    assert.deepEqual(result.patch, []);
    assert.equal(result.vm, input);
    assert.match(result.warnings[0] ?? '', /networks has 256 entries; .*limit of 256/);
  });

  it('one entry fewer is injected', () => {
    assert.equal(mutate(withNetworks(255), defaultSettings).decision.outcome, 'injected');
  });

  it('a VM over 512 KiB of JSON is returned as it is, with a warning, before any copy', () => {
    const input = seed() as Vm;
    input.metadata.annotations = { big: 'x'.repeat(512 * 1024) };
    const result = mutate(input, defaultSettings);
    assert.equal(result.decision.outcome, 'skipped');
    assert.deepEqual(result.patch, []);
    assert.equal(result.vm, input);
    assert.match(
      result.warnings[0] ?? '',
      /the VM is 51\d KiB of JSON; the injector works on VMs up to 512 KiB/,
    );
  });
});
