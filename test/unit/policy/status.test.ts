import assert from 'node:assert/strict';
import type { Finding } from '../../../src/policy/evaluate.js';
import {
  desiredStatus,
  sameStatus,
  specProblems,
  unresolvedNetworks,
  violationReason,
  type AuditTally,
} from '../../../src/policy/status.js';
import type { NetworkAttachmentPolicy, PolicySpec } from '../../../src/policy/types.js';

const AT = new Date('2026-12-01T10:00:00.123Z');

function policy(spec: Partial<PolicySpec>, generation = 3): NetworkAttachmentPolicy {
  return { metadata: { name: 'p', generation }, spec: { namespaceSelector: {}, ...spec } };
}

function tally(existing: string[], matched: string[] = ['a', 'b'], violating = 0): AuditTally {
  return {
    matchedNamespaces: matched,
    violating: Array.from({ length: violating }, (_, i) => ({
      namespace: 'a',
      name: `vm-${String(i).padStart(2, '0')}`,
      reason: 'r',
    })),
    nadExists: (ref) => existing.includes(`${ref.namespace}/${ref.name}`),
  };
}

describe('policy/status: what the audit writes', () => {
  it('NetworksResolved: exact namespace/name entries, and a bare inject network in each matched namespace', () => {
    const p = policy({
      inject: { network: 'br' },
      allowedNetworks: { names: ['infra/shared', 'infra/*', 'local', 'infra/gone'] },
    });
    assert.deepEqual(unresolvedNetworks(p, tally(['a/br', 'infra/shared'])), ['b/br', 'infra/gone']);
    assert.deepEqual(unresolvedNetworks(p, tally(['a/br', 'b/br', 'infra/shared', 'infra/gone'])), []);
    const many = policy({ allowedNetworks: { names: Array.from({ length: 25 }, (_, i) => `x/n${i}`) } });
    const status = desiredStatus(many, tally([]), AT);
    const resolved = status.conditions!.find((c) => c.type === 'NetworksResolved')!;
    assert.equal(resolved.status, 'False');
    assert.match(resolved.message, /and 5 more$/);
  });

  it('Ready is False with the reason when the spec cannot be used', () => {
    const bad = policy({
      inject: { network: 'Not/A/Ref' },
      vmSelector: { matchExpressions: [{ key: 'k', operator: 'In' }] },
      exemptions: [{ namespaces: ['x'], expires: 'soon' }],
    });
    assert.deepEqual(specProblems(bad), [
      'spec.vmSelector.matchExpressions[0]: In needs values',
      'spec.inject.network is not a name or namespace/name',
      'spec.exemptions[0].expires is not a date',
    ]);
    const ready = desiredStatus(bad, tally([]), AT).conditions!.find((c) => c.type === 'Ready')!;
    assert.equal(ready.status, 'False');
    assert.equal(ready.reason, 'InvalidSpec');
    assert.deepEqual(specProblems(policy({ mode: 'Warn' })), []);
    assert.deepEqual(specProblems({ metadata: { name: 'x' } } as NetworkAttachmentPolicy), [
      'spec is missing',
    ]);
  });

  it('the status: generation, counts, the first 20 VMs, time to the second; transitions kept', () => {
    const p = policy({ mode: 'Audit' });
    const first = desiredStatus(p, tally([], ['a'], 22), AT);
    assert.equal(first.observedGeneration, 3);
    assert.equal(first.matchedNamespaces, 1);
    assert.equal(first.violations, 22);
    assert.equal(first.violatingVMs?.length, 20);
    assert.equal(first.violatingVMs?.[19]?.name, 'vm-19');
    assert.equal(first.lastAuditTime, '2026-12-01T10:00:00Z');
    const ready = first.conditions!.find((c) => c.type === 'Ready')!;
    assert.deepEqual(
      [ready.status, ready.reason, ready.message, ready.observedGeneration],
      ['True', 'Loaded', 'in effect (mode Audit)', 3],
    );
    const later = desiredStatus(
      { ...p, status: first },
      tally([], ['a'], 22),
      new Date('2026-12-02T00:00:00Z'),
    );
    assert.ok(later.conditions!.every((c) => c.lastTransitionTime === '2026-12-01T10:00:00Z'));
    assert.ok(sameStatus(first, later), 'only lastAuditTime moved');
    const broken = desiredStatus(
      { ...p, spec: { ...p.spec, inject: { network: 'gone' } }, status: first },
      tally([]),
      AT,
    );
    const resolved = broken.conditions!.find((c) => c.type === 'NetworksResolved')!;
    assert.equal(resolved.status, 'False');
    assert.equal(resolved.lastTransitionTime, '2026-12-01T10:00:00Z');
  });

  it('sameStatus ignores key order (the apiserver returns keys sorted) but not values', () => {
    const s = desiredStatus(policy({}), tally([], ['a'], 1), AT);
    const reordered = JSON.parse(
      JSON.stringify(s, (_k, v: unknown) =>
        typeof v === 'object' && v !== null && !Array.isArray(v)
          ? Object.fromEntries(Object.entries(v).reverse())
          : v,
      ),
    );
    assert.ok(sameStatus(reordered, s));
    assert.ok(!sameStatus({ ...reordered, violations: 2 }, s));
    assert.ok(!sameStatus(undefined, s));
  });

  it("a VM's reason: its first finding, cut, and how many more", () => {
    const f = (message: string): Finding => ({
      policy: 'p',
      mode: 'Enforce',
      rule: 'NotAllowed',
      path: 'spec.template.spec.networks[1].multus.networkName',
      message,
      fix: 'x',
    });
    assert.equal(
      violationReason([f('network b/c is not allowed here')]),
      'NotAllowed at spec.template.spec.networks[1].multus.networkName: network b/c is not allowed here',
    );
    const long = violationReason([f('y'.repeat(500)), f('z')]);
    assert.ok(long.length < 220);
    assert.match(long, /\.\.\. \(\+1 more\)$/);
  });
});
