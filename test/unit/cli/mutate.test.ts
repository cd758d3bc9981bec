// The `mutate` command as a user runs it: the real binary, files and stdin, exit codes.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments } from 'yaml';
import { mutate } from '../../../src/mutate/index.js';
import { defaultSettings } from '../../support/golden.js';

const BIN = fileURLToPath(new URL('../../../src/cli/main.js', import.meta.url));
const MONGODB = 'test/testdata/seed/mongodb.yaml';
const NODEJS = 'test/testdata/seed/nodejs.yaml';

function cli(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [BIN, ...args], { input, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const configMap = '# untouched\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  a: "1"\n';

describe('kubevirt-net-injector mutate', function () {
  // Each test starts the CLI as a process: seconds on a loaded machine, not milliseconds.
  this.timeout(15_000);
  it('mutates every VM of a multi-document stream, passes the rest through in order', () => {
    const input = `${readFileSync(MONGODB, 'utf8')}---\n${configMap}---\n${readFileSync(NODEJS, 'utf8')}`;
    const r = cli(['mutate', '-f', '-', '--network', 'ovs-net-br1'], input);
    assert.equal(r.code, 0, r.stderr);
    const docs = parseAllDocuments(r.stdout).map((d) => d.toJS());
    assert.deepEqual(
      docs.map((d) => d.kind),
      ['VirtualMachine', 'ConfigMap', 'VirtualMachine'],
    );
    assert.deepEqual(docs[0], mutate(parse(readFileSync(MONGODB, 'utf8')), defaultSettings).vm);
    assert.deepEqual(docs[2], mutate(parse(readFileSync(NODEJS, 'utf8')), defaultSettings).vm);
    assert.ok(r.stdout.includes(configMap), 'the ConfigMap is passed through as written');
  });

  it('reads JSON and v1 Lists, writes JSON', () => {
    const vm = parse(readFileSync(MONGODB, 'utf8'));
    const list = {
      apiVersion: 'v1',
      kind: 'List',
      items: [vm, { apiVersion: 'v1', kind: 'Service', metadata: { name: 's' } }],
    };
    const r = cli(['mutate', '-f', '-', '--network', 'ovs-net-br1', '-o', 'json'], JSON.stringify(list));
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.kind, 'List');
    assert.deepEqual(out.items[0], mutate(vm, defaultSettings).vm);
    assert.deepEqual(out.items[1], list.items[1]);
  });

  it('prints one JSON Patch per VM with -o patch', () => {
    const r = cli(['mutate', '-f', MONGODB, '--network', 'ovs-net-br1', '-o', 'patch']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 1);
    assert.deepEqual(
      JSON.parse(lines[0]!),
      mutate(parse(readFileSync(MONGODB, 'utf8')), defaultSettings).patch,
    );
  });

  it('honours --interface and --no-cloud-init', () => {
    const r = cli([
      'mutate',
      '-f',
      MONGODB,
      '--network',
      'infra/br1',
      '--interface',
      'storage',
      '--no-cloud-init',
      '-o',
      'json',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const vm = JSON.parse(r.stdout);
    assert.deepEqual(vm.spec.template.spec.networks[1], {
      name: 'storage',
      multus: { networkName: 'infra/br1' },
    });
    assert.equal(
      vm.spec.template.spec.volumes[1].cloudInitNoCloud.userData,
      parse(readFileSync(MONGODB, 'utf8')).spec.template.spec.volumes[1].cloudInitNoCloud.userData,
    );
  });

  it('prints warnings on stderr, never on stdout', () => {
    const r = cli(['mutate', '-f', 'test/golden/cases/config-drive.yaml', '--network', 'ovs-net-br1']);
    assert.equal(r.code, 0);
    assert.match(r.stderr, /document 1 \(VirtualMachine configdrive\): warning: cloud-init: ConfigDrive/);
    assert.doesNotMatch(r.stdout, /warning/);
  });

  const bad: Array<[string, string, RegExp]> = [
    ['broken YAML', `${configMap}---\nkind: [\n`, /document 2: /],
    [
      'a VM without spec.template',
      `${configMap}---\napiVersion: kubevirt.io/v1\nkind: VirtualMachine\nmetadata: {name: x}\nspec: {}\n`,
      /document 2 \(VirtualMachine x\): spec.template is missing/,
    ],
    [
      'a VM whose networks are not a list',
      'apiVersion: kubevirt.io/v1\nkind: VirtualMachine\nmetadata: {name: y}\nspec:\n  template:\n    spec:\n      domain: {}\n      networks: 3\n',
      /spec.template.spec.networks must be a list/,
    ],
  ];
  for (const [what, input, message] of bad) {
    it(`rejects ${what}: non-zero exit, nothing on stdout, the problem on stderr`, () => {
      const r = cli(['mutate', '-f', '-', '--network', 'ovs-net-br1'], input);
      assert.equal(r.code, 1);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, message);
    });
  }

  it('rejects bad flags with usage (exit 2)', () => {
    for (const args of [
      ['mutate', '-f', MONGODB],
      ['mutate', '--network', 'x'],
      ['mutate', '-f', MONGODB, '--network', 'x', '-o', 'xml'],
    ]) {
      const r = cli(args);
      assert.equal(r.code, 2, args.join(' '));
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /usage: kubevirt-net-injector mutate/);
    }
  });

  it('runs as the package bin: npx --no-install kubevirt-net-injector', function () {
    this.timeout(30000);
    const r = spawnSync(
      'npx',
      [
        '--no-install',
        'kubevirt-net-injector',
        'mutate',
        '-f',
        NODEJS,
        '--network',
        'ovs-net-br1',
        '-o',
        'json',
      ],
      {
        encoding: 'utf8',
      },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).metadata.annotations['kubevirt-net-injector.io/status'], 'injected');
  });

  it('fails cleanly on a missing file', () => {
    const r = cli(['mutate', '-f', 'does/not/exist.yaml', '--network', 'x']);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /ENOENT/);
  });
});
