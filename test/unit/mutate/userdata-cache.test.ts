import assert from 'node:assert/strict';
import { clearUserDataCache, userDataCacheSize } from '../../../src/mutate/cloudinit.js';
import { mutate, type MutateResult } from '../../../src/mutate/index.js';
import { defaultContext, defaultSettings, goldenCases } from '../../support/golden.js';

type Vm = {
  metadata: { name?: string };
  spec: { template: { spec: { volumes?: { cloudInitNoCloud?: Record<string, unknown> }[] } } };
};

/** The engine's answer with nothing remembered from earlier VMs. */
function fresh(vm: unknown): MutateResult {
  clearUserDataCache();
  return mutate(structuredClone(vm), defaultSettings, defaultContext);
}

function named(vm: unknown, name: string): Vm {
  const copy = structuredClone(vm) as Vm;
  copy.metadata.name = name;
  return copy;
}

function cloudInit(vm: unknown): Record<string, unknown> | undefined {
  return (vm as Vm).spec.template.spec.volumes?.find((v) => v.cloudInitNoCloud)?.cloudInitNoCloud;
}

describe('user data remembered across VMs of one template', () => {
  const seed = goldenCases().find((c) => c.name === 'seed-mongodb')!.input;

  it('gives every golden case the same answer from a warm cache as from a cold one', () => {
    const cold = goldenCases().map((c) => fresh(c.input));
    // Warm: every case again, twice, without clearing in between.
    for (let pass = 0; pass < 2; pass++) {
      goldenCases().forEach((c, i) => {
        assert.deepEqual(
          mutate(c.input, defaultSettings, defaultContext),
          cold[i],
          `${c.name}, pass ${pass}`,
        );
      });
    }
  });

  it("gives the second VM of a template its own MACs and the first one's user data", () => {
    clearUserDataCache();
    const first = mutate(named(seed, 'mongodb-1'), defaultSettings);
    const second = mutate(named(seed, 'mongodb-2'), defaultSettings);
    assert.deepEqual(second, fresh(named(seed, 'mongodb-2')));
    assert.equal(cloudInit(second.vm)!['userDataBase64'], cloudInit(first.vm)!['userDataBase64']);
    assert.notEqual(cloudInit(second.vm)!['networkData'], cloudInit(first.vm)!['networkData']);
  });

  it('keeps giving fresh answers past its bound, and never mixes up two texts', () => {
    clearUserDataCache();
    for (let n = 0; n < 300; n++) {
      const vm = named(seed, `vm-${n}`);
      const source = cloudInit(vm)!;
      source['userData'] = `${String(source['userData'])}bootcmd:\n  - [sh, -c, 'echo ${n % 150}']\n`;
      const warm = mutate(structuredClone(vm), defaultSettings);
      const again = mutate(structuredClone(vm), defaultSettings);
      assert.deepEqual(again, warm, `vm-${n}`);
      if (n % 37 === 0) {
        const cold = fresh(vm);
        assert.deepEqual(warm, cold, `vm-${n}`);
      }
    }
  });

  it('does not reuse a plain-text answer for the same text given as base64', () => {
    clearUserDataCache();
    const plain = named(seed, 'a');
    const text = String(cloudInit(plain)!['userData']);
    mutate(plain, defaultSettings);
    const encoded = named(seed, 'a');
    const source = cloudInit(encoded)!;
    delete source['userData'];
    source['userDataBase64'] = text;
    // `text` is not valid base64 (it has spaces and punctuation): the cached plain answer would
    // be wrong here; the base64 reading warns instead.
    const result = mutate(encoded, defaultSettings);
    assert.ok(
      result.warnings.some((w) => w.includes('userDataBase64 is not valid base64')),
      result.warnings.join('\n'),
    );
  });

  it('keeps a text only once it comes back, so user data unique to each VM is never kept', () => {
    clearUserDataCache();
    const own = (n: number) => {
      const vm = named(seed, `vm-${n}`);
      const source = cloudInit(vm)!;
      source['userData'] = `${String(source['userData'])}bootcmd:\n  - [sh, -c, 'echo ${n}']\n`;
      return vm;
    };
    for (let n = 0; n < 100; n++) mutate(own(n), defaultSettings);
    assert.equal(userDataCacheSize(), 0);
    // A template: its second VM finds the text among those seen once, and it is kept.
    mutate(named(seed, 'a'), defaultSettings);
    assert.equal(userDataCacheSize(), 0);
    mutate(named(seed, 'b'), defaultSettings);
    assert.equal(userDataCacheSize(), 1);
    // Still found after many texts seen once in between, and the answer is the fresh one.
    for (let n = 100; n < 200; n++) mutate(own(n), defaultSettings);
    const kept = mutate(named(seed, 'c'), defaultSettings);
    assert.equal(userDataCacheSize(), 1);
    assert.deepEqual(kept, fresh(named(seed, 'c')));
  });
});
