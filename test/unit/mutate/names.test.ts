import assert from 'node:assert/strict';
import { freeName, isDnsLabel, parseNetworkRef, sameNetwork } from '../../../src/mutate/names.js';
import { deriveMac, normalizeMac } from '../../../src/mutate/mac.js';

describe('names', () => {
  it('accepts DNS labels and rejects the rest', () => {
    assert.ok(isDnsLabel('ovs-net-br1'));
    for (const bad of ['', 'Upper', '-lead', 'trail-', 'a_b', 'x'.repeat(64)])
      assert.ok(!isDnsLabel(bad), bad);
  });

  it('parses NAD references', () => {
    assert.deepEqual(parseNetworkRef('br1'), { name: 'br1' });
    assert.deepEqual(parseNetworkRef('infra/br1'), { namespace: 'infra', name: 'br1' });
    assert.equal(parseNetworkRef('a/b/c'), undefined);
    assert.equal(parseNetworkRef('a b'), undefined);
  });

  it('compares references as seen from the VM namespace', () => {
    assert.ok(sameNetwork('br1', 'vm/br1', 'vm'));
    assert.ok(!sameNetwork('br1', 'infra/br1', 'vm'));
    assert.ok(sameNetwork('infra/br1', 'infra/br1', 'vm'));
  });

  it('picks the first free name', () => {
    assert.equal(freeName('l2', new Set()), 'l2');
    assert.equal(freeName('l2', new Set(['l2', 'l2-2'])), 'l2-3');
  });
});

describe('MAC addresses', () => {
  it('are stable, unicast and locally administered', () => {
    const a = deriveMac('vm/mongodb', 'l2');
    assert.equal(a, deriveMac('vm/mongodb', 'l2'));
    assert.match(a, /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    const first = parseInt(a.slice(0, 2), 16);
    assert.equal(first & 0x01, 0, 'unicast');
    assert.equal(first & 0x02, 0x02, 'locally administered');
    assert.notEqual(a, deriveMac('vm/nodejs', 'l2'));
  });

  it('avoid addresses already taken', () => {
    const a = deriveMac('s', 'x');
    const b = deriveMac('s', 'x', new Set([a]));
    assert.notEqual(a, b);
  });

  it('normalize case and dashes', () => {
    assert.equal(normalizeMac('02-00-00-00-00-AA'), '02:00:00:00:00:aa');
  });
});
