// The CRDs we generate from KubeVirt's and Multus's Go modules, against the reference copies in
// ../shared/crds (generated the same way from kubevirt.io/kubevirt v1.8.0) when that folder exists.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { parse } from 'yaml';

import { readCrd } from '../harness/index.js';

const SHARED = resolve(process.cwd(), '..', 'shared', 'crds');

type Obj = Record<string, unknown>;

function reference(file: string): Obj {
  return parse(readFileSync(join(SHARED, file), 'utf8')) as Obj;
}

/** Drops what the apiserver fills in and what a generator may or may not emit. */
function normalize(crd: Obj): Obj {
  const copy = structuredClone(crd);
  delete copy.status;
  const metadata = copy.metadata as Obj | undefined;
  if (metadata) delete metadata.creationTimestamp;
  return copy;
}

/** The schema with every `description` removed (the Multus copy carries descriptions, the module's does not). */
function withoutDescriptions(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutDescriptions);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([k]) => k !== 'description')
        .map(([k, v]) => [k, withoutDescriptions(v)]),
    );
  }
  return value;
}

describe('generated CRDs', () => {
  before(function () {
    if (!existsSync(SHARED)) {
      console.log(`    (skipped: no reference CRDs at ${SHARED})`);
      this.skip();
    }
  });

  it('VirtualMachine CRD equals the reference generated from kubevirt.io/kubevirt v1.8.0', () => {
    const ours = readCrd('vm') as unknown as Obj;
    assert.equal((ours.metadata as Obj).name, 'virtualmachines.kubevirt.io');
    assert.deepEqual(normalize(ours), normalize(reference('virtualmachines.kubevirt.io.yaml')));
  });

  it('VirtualMachineInstance CRD equals the reference generated from kubevirt.io/kubevirt v1.8.0', () => {
    const ours = readCrd('vmi') as unknown as Obj;
    assert.equal((ours.metadata as Obj).name, 'virtualmachineinstances.kubevirt.io');
    assert.deepEqual(normalize(ours), normalize(reference('virtualmachineinstances.kubevirt.io.yaml')));
  });

  it('NetworkAttachmentDefinition CRD has the reference group, names, versions and schema', () => {
    const ours = readCrd('nad');
    const ref = reference('network-attachment-definitions.k8s.cni.cncf.io.yaml') as unknown as typeof ours;
    assert.equal(ours.metadata?.name, ref.metadata?.name);
    assert.equal(ours.spec.group, ref.spec.group);
    assert.equal(ours.spec.scope, ref.spec.scope);
    assert.equal(ours.spec.names.kind, ref.spec.names.kind);
    assert.equal(ours.spec.names.plural, ref.spec.names.plural);
    assert.equal(ours.spec.names.singular, ref.spec.names.singular);
    for (const short of ours.spec.names.shortNames ?? [])
      assert.ok(ref.spec.names.shortNames?.includes(short));
    // The Multus copy also spells out apiVersion, kind and metadata, which every object has anyway:
    // compare what a NetworkAttachmentDefinition itself may hold.
    const shape = (crd: typeof ours) =>
      crd.spec.versions.map((v) => ({
        name: v.name,
        served: v.served,
        storage: v.storage,
        type: v.schema?.openAPIV3Schema?.type,
        spec: withoutDescriptions(v.schema?.openAPIV3Schema?.properties?.spec),
      }));
    assert.deepEqual(shape(ours), shape(ref));
    assert.equal(shape(ours)[0]?.spec && typeof shape(ours)[0]?.spec, 'object');
  });
});
