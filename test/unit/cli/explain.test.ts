// `explain`: the decision for each verdict and origin through explainVm with the offline source
// (test/testdata/explain/policies.yaml), and the command as a user runs it: the real binary,
// files and stdin, text and JSON, exit codes 0, 1 and 2.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { collect, offlineSource } from '../../../src/cli/explain-offline.js';
import { parseExplainArgs } from '../../../src/config/explain.js';
import { explainVm, type ExplainSource } from '../../../src/policy/explain.js';

const BIN = fileURLToPath(new URL('../../../src/cli/main.js', import.meta.url));
const DIR = 'test/testdata/explain';
const POLICIES = `${DIR}/policies.yaml`;
const NOW = new Date('2026-12-01T00:00:00Z');
const DEFAULTS = { interfaceName: 'l2', cloudInit: true };

function cli(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [BIN, 'explain', ...args], { input, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A VM in `namespace` attaching these Multus networks (after the pod network). */
function vm(
  namespace: string,
  networks: string[],
  meta: { labels?: Record<string, string>; annotations?: Record<string, string> } = {},
): Record<string, unknown> {
  const names = networks.map((_, i) => `net${i + 1}`);
  return {
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachine',
    metadata: { name: 'vm', namespace, ...meta },
    spec: {
      template: {
        spec: {
          domain: {
            devices: {
              interfaces: [
                { name: 'default', masquerade: {} },
                ...names.map((name) => ({ name, bridge: {} })),
              ],
            },
          },
          networks: [
            { name: 'default', pod: {} },
            ...networks.map((networkName, i) => ({ name: names[i], multus: { networkName } })),
          ],
        },
      },
    },
  };
}

const offline = async (files = [POLICIES]) => (await offlineSource(files, 'default', DEFAULTS, NOW)).source;
const rules = (findings: { policy: string; mode: string; rule: string }[]) =>
  findings.map((f) => `${f.policy}:${f.mode}:${f.rule}`);

describe('explain: what would happen to a VM, and why', () => {
  it('injected from a policy, allowed by another policy’s allow list', async () => {
    const e = await explainVm(vm('tenant-a', ['infra/shared']), 'tenant-a', await offline());
    assert.deepEqual(e.namespace, {
      name: 'tenant-a',
      optedIn: true,
      from: 'files',
      labels: {
        'kubernetes.io/metadata.name': 'tenant-a',
        'kubevirt-net-injector.io/inject': 'enabled',
        team: 'a',
      },
    });
    assert.equal(e.injection.outcome, 'injected');
    assert.equal(e.injection.network, 'tenant-a/br-a');
    assert.equal(e.injection.interfaceName, 'l2');
    assert.equal(e.injection.cloudInit, true);
    assert.equal(e.injection.from, 'policy tenant-a');
    assert.deepEqual(e.selecting, [
      { policy: 'shared-infra', mode: 'Warn' },
      { policy: 'tenant-a', mode: 'Enforce' },
      { policy: 'two-at-most', mode: 'Audit' },
    ]);
    assert.deepEqual(e.findings, []);
    assert.equal(e.verdict, 'allowed');
  });

  it('denied: an unlisted network, one finding per policy with an allow list', async () => {
    const e = await explainVm(vm('tenant-a', ['team-b/br-b']), 'tenant-a', await offline());
    assert.deepEqual(rules(e.findings), ['tenant-a:Enforce:NotAllowed', 'shared-infra:Warn:NotAllowed']);
    assert.equal(e.findings[0]!.path, 'spec.template.spec.networks[1].multus.networkName');
    assert.match(e.findings[0]!.fix, /use an allowed network/);
    assert.equal(e.verdict, 'denied');
  });

  it('warned: only a Warn policy objects; the network from the namespace annotation', async () => {
    const e = await explainVm(vm('team-b', ['infra/mgmt']), 'team-b', await offline());
    assert.equal(e.injection.network, 'br-b');
    assert.equal(e.injection.from, 'namespace annotation kubevirt-net-injector.io/network');
    assert.deepEqual(rules(e.findings), ['shared-infra:Warn:NotAllowed']);
    assert.equal(e.verdict, 'warned');
  });

  it('an Audit finding is shown but does not change the verdict', async () => {
    const e = await explainVm(vm('tenant-a', ['br-a2', 'br-a3']), 'tenant-a', await offline());
    assert.deepEqual(rules(e.findings), ['two-at-most:Audit:TooManyInterfaces']);
    assert.match(e.findings[0]!.message, /lists 3 Multus networks; at most 2/);
    assert.equal(e.verdict, 'allowed');
  });

  it('exempted: the exemption that did it; the rest still judged', async () => {
    const e = await explainVm(vm('legacy', ['team-b/br-b']), 'legacy', await offline());
    assert.deepEqual(e.exempted, [{ policy: 'tenant-a', exemption: 'namespaces legacy' }]);
    assert.deepEqual(e.applied, ['shared-infra', 'two-at-most']);
    assert.ok(rules(e.findings).includes('shared-infra:Warn:NotAllowed'));
    assert.equal(e.verdict, 'warned');
  });

  it('opted out or a bad annotation: skipped and why; policies still judge its own networks', async () => {
    const out = await explainVm(
      vm('tenant-a', ['infra/mgmt'], { labels: { 'kubevirt-net-injector.io/inject': 'disabled' } }),
      'tenant-a',
      await offline(),
    );
    assert.deepEqual(out.injection, {
      outcome: 'skipped',
      reason: 'disabled by kubevirt-net-injector.io/inject',
      warnings: [],
    });
    assert.equal(out.verdict, 'denied');
    const bad = await explainVm(
      vm('tenant-a', [], { annotations: { 'kubevirt-net-injector.io/interface': 'Not_A_Label' } }),
      'tenant-a',
      await offline(),
    );
    assert.equal(bad.injection.outcome, 'skipped');
    assert.match(bad.injection.reason ?? '', /interface name "Not_A_Label" is not a DNS label/);
  });

  it("the VM's own network annotation is named as the origin, and judged", async () => {
    const e = await explainVm(
      vm('tenant-a', [], { annotations: { 'kubevirt-net-injector.io/network': 'infra/mgmt' } }),
      'tenant-a',
      await offline(),
    );
    assert.equal(e.injection.network, 'infra/mgmt');
    assert.equal(e.injection.from, 'VM annotation kubevirt-net-injector.io/network');
    assert.equal(e.verdict, 'denied');
  });

  it('a namespace not opted in: nothing injected, no policy; one not in the files: assumed opted in', async () => {
    const plain = await explainVm(vm('plain', ['team-b/br-b']), 'plain', await offline());
    assert.equal(plain.namespace.optedIn, false);
    assert.equal(plain.injection.outcome, 'not injected');
    assert.match(plain.injection.reason ?? '', /not opted in/);
    assert.deepEqual([plain.selecting, plain.findings, plain.verdict], [[], [], 'allowed']);
    const ghost = await explainVm(vm('ghost', ['infra/mgmt']), 'ghost', await offline());
    assert.equal(ghost.namespace.from, 'assumed');
    assert.deepEqual(rules(ghost.findings), ['shared-infra:Warn:NotAllowed']);
    assert.equal(ghost.injection.outcome, 'not injected');
    assert.equal(ghost.injection.reason, 'no network configured');
  });

  it('with no NAD known, existence is not checked rather than a finding', async () => {
    const { source } = await offlineSource([], 'default', DEFAULTS, NOW);
    const policy = collect(
      [
        {
          object: {
            apiVersion: 'kubevirt-net-injector.io/v1alpha1',
            kind: 'NetworkAttachmentPolicy',
            metadata: { name: 'tenant-a' },
            spec: {
              namespaceSelector: {},
              inject: { network: 'tenant-a/br-a' },
              allowedNetworks: { names: ['tenant-a/*'] },
            },
          },
          at: 'x',
          where: 'x',
        },
      ],
      'default',
    ).policies;
    const e = await explainVm(vm('tenant-a', ['tenant-a/nowhere']), 'tenant-a', {
      ...source,
      policies: async () => policy,
    });
    assert.deepEqual(rules(e.findings), []);
    assert.deepEqual(e.notChecked, [
      'NetworkAttachmentDefinition tenant-a/nowhere: existence and labels (not known here)',
      'NetworkAttachmentDefinition tenant-a/br-a: existence and labels (not known here)',
    ]);
  });

  it('requireUsePermission: not checked offline; refused by a check is a finding; a user exemption applies', async () => {
    const base = await offline();
    const strict = { ...(await base.policies())[1]!, spec: { ...(await base.policies())[1]!.spec } };
    strict.spec.requireUsePermission = true;
    strict.spec.mode = 'Enforce';
    strict.spec.exemptions = [{ users: ['ci-bot'] }];
    const source: ExplainSource = { ...base, policies: async () => [strict] };
    const offlineResult = await explainVm(vm('tenant-a', ['infra/shared']), 'tenant-a', source);
    assert.deepEqual(offlineResult.notChecked, ['requireUsePermission: "use" of infra/shared (offline)']);
    assert.equal(offlineResult.verdict, 'allowed');
    const refused = await explainVm(vm('tenant-a', ['infra/shared']), 'tenant-a', {
      ...source,
      user: { username: 'alice', groups: [] },
      checkUse: async () => false,
    });
    assert.deepEqual(rules(refused.findings), ['shared-infra:Enforce:NoUsePermission']);
    assert.equal(refused.verdict, 'denied');
    const bot = await explainVm(vm('tenant-a', ['infra/shared']), 'tenant-a', {
      ...source,
      user: { username: 'ci-bot' },
      checkUse: async () => false,
    });
    assert.deepEqual(bot.exempted, [{ policy: 'shared-infra', exemption: 'users ci-bot' }]);
    assert.equal(bot.verdict, 'allowed');
  });

  it('flags: exclusive sources, formats, names', () => {
    assert.throws(
      () => parseExplainArgs(['-f', 'x', '--policy', 'p', '--kubeconfig', 'k']),
      /do not go together/,
    );
    assert.throws(() => parseExplainArgs(['-f', 'x', '-o', 'yaml']), /text or json/);
    assert.throws(() => parseExplainArgs(['--policy', 'p']), /-f is required/);
    assert.throws(() => parseExplainArgs(['-f', 'x', '--network', 'a/b/c']), /--network/);
    assert.throws(() => parseExplainArgs(['-f', 'x', '--policy', '-']), /not stdin/);
    const ok = parseExplainArgs(['-f', '-', '--policy', 'a', '--policy', 'b', '-n', 'ns', '--no-cloud-init']);
    assert.deepEqual(ok, {
      help: false,
      config: {
        file: '-',
        policyFiles: ['a', 'b'],
        namespace: 'ns',
        defaults: { interfaceName: 'l2', cloudInit: false },
        output: 'text',
      },
    });
  });
});

describe('kubevirt-net-injector explain (the command)', function () {
  // Each test starts the CLI as a process: seconds on a loaded machine, not milliseconds.
  this.timeout(15_000);

  it('denied: exit 1, the finding with its policy, rule, field and fix', () => {
    const r = cli(['-f', `${DIR}/denied.yaml`, '--policy', POLICIES]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stdout,
      /^VirtualMachine tenant-a\/rogue \(test\/testdata\/explain\/denied\.yaml document 1\)$/m,
    );
    assert.match(
      r.stdout,
      /finding 1: Enforce NotAllowed at spec\.template\.spec\.networks\[1\]\.multus\.networkName \(policy tenant-a\)/,
    );
    assert.match(r.stdout, /fix: use an allowed network/);
    assert.match(r.stdout, /verdict: DENIED/);
    assert.match(r.stdout, /note: ignored .*ConfigMap not-a-policy.*: not a policy, NAD or Namespace/);
  });

  it('allowed: exit 0, what is injected and from where; a summary for several VMs', () => {
    const r = cli(['-f', `${DIR}/vms.yaml`, '--policy', POLICIES]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /injected: network tenant-a\/br-a as l2, from policy tenant-a/);
    assert.match(r.stdout, /policy tenant-a \(Enforce\): applies/);
    assert.match(r.stdout, /2 VMs: 2 allowed, 0 warned, 0 denied/);
  });

  it('-o json from stdin: every VM, the overall verdict, exit 1 when one is denied', () => {
    const input = `${readFileSync(`${DIR}/vms.yaml`, 'utf8')}\n---\n${readFileSync(`${DIR}/denied.yaml`, 'utf8')}`;
    const r = cli(['-f', '-', '--policy', POLICIES, '-o', 'json'], input);
    assert.equal(r.code, 1, r.stderr);
    const out = JSON.parse(r.stdout) as { verdict: string; vms: { vm: { name: string }; verdict: string }[] };
    assert.equal(out.verdict, 'denied');
    assert.deepEqual(
      out.vms.map((v) => `${v.vm.name}:${v.verdict}`),
      ['plain-vm:allowed', 'shared-vm:allowed', 'rogue:denied'],
    );
  });

  it('exit 2: bad flags, an invalid VM, a namespace that contradicts --namespace, no VM, a missing file', () => {
    assert.equal(cli(['-f', 'x', '--policy', 'p', '--kubeconfig', 'k']).code, 2);
    const invalid = cli(
      ['-f', '-'],
      'apiVersion: kubevirt.io/v1\nkind: VirtualMachine\nmetadata: {name: v}\n',
    );
    assert.equal(invalid.code, 2);
    assert.match(invalid.stderr, /stdin document 1 \(VirtualMachine v\): spec is missing/);
    const other = cli(['-f', `${DIR}/denied.yaml`, '-n', 'elsewhere']);
    assert.equal(other.code, 2);
    assert.match(other.stderr, /its namespace tenant-a is not --namespace elsewhere/);
    assert.match(cli(['-f', POLICIES]).stderr, /no kubevirt\.io VirtualMachine/);
    const missing = cli(['-f', `${DIR}/nope.yaml`]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /cannot read .*nope\.yaml: ENOENT/);
    assert.equal(cli(['--help']).code, 0);
  });

  it('bounded input: aliases beyond the limit are refused, not expanded', () => {
    const bomb = [
      'a: &a [x, x, x, x, x, x, x, x, x, x]',
      ...Array.from(
        { length: 8 },
        (_, i) =>
          `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(10)
            .fill(`*${String.fromCharCode(97 + i)}`)
            .join(', ')}]`,
      ),
    ].join('\n');
    const r = cli(['-f', '-'], `${bomb}\n`);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /stdin document 1: .*alias/i);
  });
});
