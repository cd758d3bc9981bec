// The engine's output against KubeVirt's own VirtualMachine CRD schema: nothing it adds may be
// a field the apiserver would prune. Uses the CRD generated from KubeVirt's Go module when the
// control plane has been built, else the reference copy beside the repo (../shared/crds).
// The real apiserver proves the same in the integration suite.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { mutate } from '../../src/mutate/index.js';
import { schemaProblems } from '../support/crd-schema.js';
import { defaultContext, defaultSettings, goldenCases, repoRoot } from '../support/golden.js';

const candidates = [
  join(repoRoot, '.cache/controlplane/crds/vm.yaml'),
  join(repoRoot, '../shared/crds/virtualmachines.kubevirt.io.yaml'),
];

describe("KubeVirt's VirtualMachine CRD schema accepts the injected VMs, nothing pruned", function () {
  const file = candidates.find((f) => existsSync(f));
  before(function () {
    if (!file) this.skip();
  });
  const crd = file ? (parse(readFileSync(file, 'utf8')) as Record<string, unknown>) : {};

  it('the checker finds a field the schema does not know (it can fail)', function () {
    const vm = structuredClone(goldenCases().find((c) => c.name === 'seed-mongodb')!.input);
    const tspec = ((vm['spec'] as Record<string, unknown>)['template'] as Record<string, unknown>)['spec'];
    (tspec as Record<string, unknown>)['networks'] = [{ name: 'x', bogus: {} }];
    assert.deepEqual(
      schemaProblems(crd, vm).map((p) => p.path),
      ['.spec.template.spec.networks[0].bogus'],
    );
  });

  for (const c of goldenCases()) {
    it(c.name, () => {
      const { vm } = mutate(c.input, defaultSettings, defaultContext);
      assert.deepEqual(schemaProblems(crd, vm), []);
    });
  }
});
