import assert from 'node:assert/strict';
import { mutate } from '../../../src/mutate/index.js';
import {
  describe as describeFinding,
  evaluate,
  exempts,
  permissionsNeeded,
} from '../../../src/policy/evaluate.js';
import type { EvaluationContext, Operation } from '../../../src/policy/evaluate.js';
import { vmFacts, type VmFacts } from '../../../src/policy/facts.js';
import { injectionFor } from '../../../src/policy/inject.js';
import { patternMatches, wildcard } from '../../../src/policy/refs.js';
import { matches } from '../../../src/policy/selector.js';
import type { NadInfo, NetworkAttachmentPolicy, PolicySpec } from '../../../src/policy/types.js';
import { defaultSettings, goldenCases } from '../../support/golden.js';

const NOW = new Date('2026-12-01T00:00:00Z');

function policy(name: string, spec: Partial<PolicySpec>): NetworkAttachmentPolicy {
  return { metadata: { name }, spec: { namespaceSelector: {}, ...spec } };
}

/** A VM in namespace `tenant-a` with these Multus networks (name = `net<i>`). */
function vm(refs: string[], extra: Partial<VmFacts> = {}): VmFacts {
  return {
    namespace: 'tenant-a',
    name: 'db',
    labels: { app: 'db' },
    networks: [
      { index: 0, name: 'default' },
      ...refs.map((multus, i) => {
        const [ns, name] = multus.includes('/') ? multus.split('/') : ['tenant-a', multus];
        return { index: i + 1, name: `net${i + 1}`, multus, ref: { namespace: ns!, name: name! } };
      }),
    ],
    interfaces: ['default', ...refs.map((_, i) => `net${i + 1}`)],
    guestFix: false,
    ...extra,
  };
}

const NADS: NadInfo[] = [
  { namespace: 'tenant-a', name: 'br-a', labels: {} },
  { namespace: 'tenant-a', name: 'br-a2', labels: {} },
  { namespace: 'tenant-b', name: 'br-b', labels: {} },
  { namespace: 'infra', name: 'shared', labels: { tier: 'shared' } },
  { namespace: 'infra', name: 'mgmt', labels: {} },
];

function context(
  policies: NetworkAttachmentPolicy[],
  extra: Partial<EvaluationContext> = {},
): EvaluationContext {
  return {
    policies,
    nad: (ref) => NADS.find((n) => n.namespace === ref.namespace && n.name === ref.name),
    user: { username: 'alice', groups: ['developers', 'system:authenticated'] },
    now: NOW,
    ...extra,
  };
}

const judge = (
  op: Operation,
  v: VmFacts,
  ps: NetworkAttachmentPolicy[],
  extra: Partial<EvaluationContext> = {},
  old?: VmFacts,
) => evaluate(op, v, old, context(ps, extra));
const rules = (e: ReturnType<typeof evaluate>) => e.findings.map((f) => `${f.policy}:${f.rule}`);

const tenantA = policy('tenant-a', { allowedNetworks: { names: ['tenant-a/*'] } });
const sharedInfra = policy('shared-infra', {
  allowedNetworks: { names: ['infra/shared'] },
  allowCrossNamespace: true,
});

describe('policy: patterns and selectors', () => {
  it('matches * within a part, a bare name in the VM namespace, nothing else', () => {
    assert.ok(wildcard('br-*', 'br-a'));
    assert.ok(wildcard('*', ''));
    assert.ok(wildcard('a*b*c', 'axxbyyc'));
    assert.ok(!wildcard('a*b', 'ab-c'));
    assert.ok(!wildcard('br-?', 'br-a'), '? is a character, not a wildcard');
    assert.ok(patternMatches('tenant-a/*', { namespace: 'tenant-a', name: 'x' }, 'vm'));
    assert.ok(!patternMatches('tenant-a/*', { namespace: 'tenant-b', name: 'x' }, 'vm'));
    assert.ok(patternMatches('br-a', { namespace: 'vm', name: 'br-a' }, 'vm'));
    assert.ok(!patternMatches('br-a', { namespace: 'other', name: 'br-a' }, 'vm'));
    assert.ok(patternMatches('*/br-a', { namespace: 'other', name: 'br-a' }, 'vm'));
  });

  it('a long pattern of stars against a long name stays fast', () => {
    const start = performance.now();
    assert.ok(!wildcard('*a'.repeat(100) + 'b', 'a'.repeat(253)));
    assert.ok(performance.now() - start < 50);
  });

  it('evaluates label selectors as Kubernetes does', () => {
    const labels = { team: 'a', tier: 'gold' };
    assert.ok(matches({}, labels));
    assert.ok(matches(undefined, undefined));
    assert.ok(matches({ matchLabels: { team: 'a' } }, labels));
    assert.ok(!matches({ matchLabels: { team: 'b' } }, labels));
    assert.ok(
      matches({ matchExpressions: [{ key: 'tier', operator: 'In', values: ['gold', 'silver'] }] }, labels),
    );
    assert.ok(!matches({ matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['gold'] }] }, labels));
    assert.ok(matches({ matchExpressions: [{ key: 'x', operator: 'NotIn', values: ['gold'] }] }, labels));
    assert.ok(matches({ matchExpressions: [{ key: 'team', operator: 'Exists' }] }, labels));
    assert.ok(!matches({ matchExpressions: [{ key: 'team', operator: 'DoesNotExist' }] }, labels));
  });
});

describe('policy: evaluation', () => {
  it('no policy: allowed, nothing applied', () => {
    const e = judge('CREATE', vm(['anything/at-all']), []);
    assert.deepEqual(e, { applied: [], exempted: [], findings: [], verdict: 'allowed' });
  });

  it('an allow list by name: listed networks pass, others are denied with the field path', () => {
    assert.equal(judge('CREATE', vm(['br-a', 'tenant-a/br-a2']), [tenantA]).verdict, 'allowed');
    const e = judge('CREATE', vm(['br-a', 'tenant-b/br-b']), [tenantA]);
    assert.equal(e.verdict, 'denied');
    assert.deepEqual(rules(e), ['tenant-a:NotAllowed']);
    assert.equal(e.findings[0]!.path, 'spec.template.spec.networks[2].multus.networkName');
    assert.match(
      describeFinding(e.findings[0]!),
      /"tenant-a" \(Enforce, NotAllowed\) at spec\.template\.spec\.networks\[2\]\.multus\.networkName: network tenant-b\/br-b is not allowed here \(allowed: tenant-a\/\*\); fix: /,
    );
  });

  it('another namespace needs allowCrossNamespace, even when listed', () => {
    const strict = policy('strict', { allowedNetworks: { names: ['infra/shared'] } });
    assert.deepEqual(rules(judge('CREATE', vm(['infra/shared']), [strict])), ['strict:CrossNamespace']);
    assert.equal(judge('CREATE', vm(['infra/shared']), [sharedInfra]).verdict, 'allowed');
  });

  it('a label selector on NADs allows what it selects; a NAD that does not exist is named as such', () => {
    const byLabel = policy('by-label', {
      allowedNetworks: { selector: { matchLabels: { tier: 'shared' } } },
      allowCrossNamespace: true,
    });
    assert.equal(judge('CREATE', vm(['infra/shared']), [byLabel]).verdict, 'allowed');
    assert.deepEqual(rules(judge('CREATE', vm(['infra/mgmt']), [byLabel])), ['by-label:NotAllowed']);
    const missing = judge('CREATE', vm(['infra/gone']), [byLabel]);
    assert.deepEqual(rules(missing), ['by-label:NetworkNotFound', 'by-label:NotAllowed']);
    assert.match(missing.findings[0]!.message, /NetworkAttachmentDefinition infra\/gone does not exist/);
  });

  it('a missing NAD is refused even where no allow list is in force', () => {
    const open = policy('open', { maxSecondaryInterfaces: 4 });
    assert.deepEqual(rules(judge('CREATE', vm(['br-missing']), [open])), ['open:NetworkNotFound']);
  });

  it('overlapping allow lists add up: a tenant network and the shared infra network both pass', () => {
    const e = judge('CREATE', vm(['br-a', 'infra/shared']), [tenantA, sharedInfra]);
    assert.equal(e.verdict, 'allowed');
    assert.deepEqual(e.applied, ['shared-infra', 'tenant-a']);
    const bad = judge('CREATE', vm(['tenant-b/br-b']), [tenantA, sharedInfra]);
    assert.deepEqual(rules(bad), ['shared-infra:NotAllowed', 'tenant-a:NotAllowed']);
  });

  it('modes: Enforce denies, Warn warns, Audit only records; the most restrictive decides', () => {
    const warn = policy('warn', { allowedNetworks: { names: ['tenant-a/*'] }, mode: 'Warn' });
    const audit = policy('audit', { allowedNetworks: { names: ['tenant-a/*'] }, mode: 'Audit' });
    const other = vm(['tenant-b/br-b']);
    assert.equal(judge('CREATE', other, [warn]).verdict, 'warned');
    const audited = judge('CREATE', other, [audit]);
    assert.equal(audited.verdict, 'allowed');
    assert.deepEqual(rules(audited), ['audit:NotAllowed']);
    const both = judge('CREATE', other, [audit, warn, tenantA]);
    assert.equal(both.verdict, 'denied');
    assert.deepEqual(
      both.findings.map((f) => `${f.policy}:${f.mode}`),
      ['tenant-a:Enforce', 'warn:Warn', 'audit:Audit'],
      'sorted most restrictive first',
    );
  });

  it('maxSecondaryInterfaces counts Multus networks; on an update only a growing count is judged', () => {
    const one = policy('one', { maxSecondaryInterfaces: 1 });
    assert.equal(judge('CREATE', vm(['br-a']), [one]).verdict, 'allowed');
    const two = judge('CREATE', vm(['br-a', 'br-a2']), [one]);
    assert.deepEqual(rules(two), ['one:TooManyInterfaces']);
    assert.match(two.findings[0]!.message, /lists 2 Multus networks; at most 1/);
    const renamed = vm(['br-a', 'br-a2'], { labels: { app: 'db', new: 'label' } });
    renamed.interfaces = [...renamed.interfaces].reverse();
    assert.equal(judge('UPDATE', renamed, [one], {}, vm(['br-a', 'br-a2'])).verdict, 'allowed');
    assert.deepEqual(rules(judge('UPDATE', vm(['br-a', 'br-a2']), [one], {}, vm(['br-a']))), [
      'one:TooManyInterfaces',
    ]);
  });

  it('vmSelector: a policy judges only the VMs it selects', () => {
    const dbOnly = policy('db-only', {
      vmSelector: { matchLabels: { app: 'db' } },
      allowedNetworks: { names: ['x/y'] },
    });
    assert.equal(judge('CREATE', vm(['br-a']), [dbOnly]).verdict, 'denied');
    assert.deepEqual(judge('CREATE', vm(['br-a'], { labels: { app: 'web' } }), [dbOnly]).applied, []);
  });

  it('exemptions: every field set must match; expired ones no longer exempt', () => {
    const base = { allowedNetworks: { names: ['tenant-a/*'] } };
    const v = vm(['tenant-b/br-b']);
    const cases: [string, PolicySpec['exemptions'], boolean][] = [
      ['namespace', [{ namespaces: ['tenant-a'] }], true],
      ['other namespace', [{ namespaces: ['tenant-z'] }], false],
      ['user', [{ users: ['alice'] }], true],
      ['group', [{ groups: ['developers'] }], true],
      ['user and namespace, one wrong', [{ users: ['alice'], namespaces: ['tenant-z'] }], false],
      ['either entry', [{ users: ['bob'] }, { groups: ['developers'] }], true],
      ['vm selector', [{ vmSelector: { matchLabels: { app: 'db' } } }], true],
      ['not yet expired', [{ namespaces: ['tenant-a'], expires: '2027-01-01T00:00:00Z' }], true],
      ['expired', [{ namespaces: ['tenant-a'], expires: '2026-11-30T00:00:00Z' }], false],
      ['empty entry', [{}], false],
    ];
    for (const [what, exemptions, exempt] of cases) {
      const e = judge('CREATE', v, [policy('p', { ...base, exemptions })]);
      assert.equal(e.verdict, exempt ? 'allowed' : 'denied', what);
      assert.equal(e.exempted.length, exempt ? 1 : 0, what);
    }
    const sa = { username: 'system:serviceaccount:ci:deployer', groups: [] };
    assert.ok(exempts({ serviceAccounts: ['ci/deployer'] }, v, sa, NOW));
    assert.ok(!exempts({ serviceAccounts: ['ci/other'] }, v, sa, NOW));
    assert.ok(!exempts({ serviceAccounts: ['ci/deployer'] }, v, { username: 'ci/deployer' }, NOW));
  });

  it('an update that leaves networks, interfaces and the guest fix alone is never judged', () => {
    const old = vm(['tenant-b/br-b']);
    const relabelled = { ...old, labels: { app: 'db', stopped: 'yes' } };
    const e = judge('UPDATE', relabelled, [tenantA], {}, old);
    assert.equal(e.verdict, 'allowed');
    assert.equal(e.unrelated, true);
    assert.deepEqual(e.findings, []);
  });

  it('an update is judged on what it adds: a hand-added network, not the old violation', () => {
    const old = vm(['tenant-b/br-b']);
    assert.equal(judge('UPDATE', vm(['tenant-b/br-b', 'br-a']), [tenantA], {}, old).verdict, 'allowed');
    const added = judge('UPDATE', vm(['tenant-b/br-b', 'infra/mgmt']), [tenantA], {}, old);
    assert.deepEqual(rules(added), ['tenant-a:NotAllowed']);
    assert.equal(added.findings[0]!.path, 'spec.template.spec.networks[2].multus.networkName');
  });

  it('an update that drops the injected network or the guest fix is a violation', () => {
    const old = vm(['br-a'], { injected: 'net1', guestFix: true });
    const dropped = vm([], { guestFix: true });
    assert.deepEqual(rules(judge('UPDATE', dropped, [tenantA], {}, old)), ['tenant-a:InjectedRemoved']);
    const unfixed = vm(['br-a'], { injected: 'net1', guestFix: false });
    assert.deepEqual(rules(judge('UPDATE', unfixed, [tenantA], {}, old)), ['tenant-a:GuestFixRemoved']);
  });

  it('requireUsePermission: asks for the added networks but the platform network; refusal and failure are findings', () => {
    const p = policy('perm', { requireUsePermission: true });
    const v = vm(['br-a', 'infra/shared']);
    const platformNetwork = { namespace: 'tenant-a', name: 'br-a' };
    const needed = permissionsNeeded('CREATE', v, undefined, { policies: [p], now: NOW, platformNetwork });
    assert.deepEqual(needed, [{ namespace: 'infra', name: 'shared' }]);
    assert.deepEqual(permissionsNeeded('CREATE', v, undefined, { policies: [tenantA], now: NOW }), []);
    const ok = judge('CREATE', v, [p], { platformNetwork, permissions: new Map([['infra/shared', true]]) });
    assert.equal(ok.verdict, 'allowed');
    const refused = judge('CREATE', v, [p], {
      platformNetwork,
      permissions: new Map([['infra/shared', false]]),
    });
    assert.deepEqual(rules(refused), ['perm:NoUsePermission']);
    assert.match(refused.findings[0]!.message, /alice may not use NetworkAttachmentDefinition infra\/shared/);
    assert.match(
      refused.findings[0]!.fix,
      /verb "use" on network-attachment-definitions\.k8s\.cni\.cncf\.io shared in namespace infra/,
    );
    const unknown = judge('CREATE', v, [p], {
      platformNetwork,
      permissions: new Map([['infra/shared', 'unknown']]),
    });
    assert.match(unknown.findings[0]!.message, /could not check/);
  });

  it('the audit judges a stored VM without a requester: no use check, the other rules hold', () => {
    const p = policy('perm', { requireUsePermission: true, allowedNetworks: { names: ['tenant-a/*'] } });
    const v = vm(['br-a', 'infra/shared']);
    assert.deepEqual(rules(judge('AUDIT', v, [p])), ['perm:NotAllowed']);
    assert.deepEqual(rules(judge('CREATE', v, [p])), [
      'perm:NoUsePermission',
      'perm:NotAllowed',
      'perm:NoUsePermission',
    ]);
  });

  it('the platform network needs no listing; a policy allows its own injected network', () => {
    const injects = policy('injects', {
      inject: { network: 'infra/mgmt' },
      allowedNetworks: { names: ['tenant-a/*'] },
    });
    assert.equal(judge('CREATE', vm(['infra/mgmt']), [injects]).verdict, 'allowed');
    assert.equal(
      judge('CREATE', vm(['infra/mgmt']), [tenantA], {
        platformNetwork: { namespace: 'infra', name: 'mgmt' },
      }).verdict,
      'allowed',
    );
    assert.equal(judge('CREATE', vm(['infra/mgmt']), [tenantA]).verdict, 'denied');
  });

  it('a reference that is not a NAD name is named as such', () => {
    const v = vm([]);
    v.networks.push({ index: 1, name: 'bad', multus: 'Not/A/Ref' });
    assert.deepEqual(rules(judge('CREATE', v, [tenantA])), ['tenant-a:InvalidReference']);
  });

  it('injection comes from the first selecting policy with inject, by name', () => {
    const z = policy('z-inject', { inject: { network: 'z/net' } });
    const a = policy('a-inject', {
      inject: { network: 'a/net' },
      vmSelector: { matchLabels: { app: 'web' } },
    });
    const m = policy('m-inject', { inject: { network: 'm/net', interfaceName: 'l2m' } });
    assert.deepEqual(injectionFor([z, a, m], { labels: { app: 'db' } }), {
      policy: 'm-inject',
      inject: { network: 'm/net', interfaceName: 'l2m' },
    });
    assert.equal(injectionFor([z, a, m], { labels: { app: 'web' } })?.policy, 'a-inject');
    assert.equal(injectionFor([tenantA], { labels: {} }), undefined);
  });

  it('reads the facts from a VM as the engine injected it: the injected network and the guest fix', () => {
    const seed = goldenCases().find((c) => c.name === 'seed-mongodb')!.input;
    const injected = vmFacts(mutate(seed, defaultSettings).vm);
    assert.equal(injected.injected, 'l2');
    assert.equal(injected.guestFix, true);
    assert.deepEqual(
      injected.networks.filter((n) => n.multus).map((n) => [n.name, n.ref]),
      [['l2', { namespace: 'vm', name: 'ovs-net-br1' }]],
    );
    const plain = vmFacts(seed);
    assert.equal(plain.injected, undefined);
    assert.equal(plain.guestFix, false);
  });
});
