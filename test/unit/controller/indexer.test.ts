import assert from 'node:assert/strict';
import { Index, ownerVmNames } from '../../../src/controller/indexer.js';

type Obj = { metadata: { name: string; namespace: string; labels?: Record<string, string> } };
const obj = (ns: string, name: string, svc?: string): Obj => ({
  metadata: { name, namespace: ns, labels: svc ? { svc } : {} },
});

describe('controller/indexer: Index', () => {
  const byService = () => new Index<Obj>((o) => (o.metadata.labels?.svc ? [o.metadata.labels.svc] : []));

  it('finds objects by value within a namespace', () => {
    const index = byService();
    index.set(obj('a', 'x', 'mongo'));
    index.set(obj('a', 'y', 'mongo'));
    index.set(obj('b', 'z', 'mongo'));
    assert.deepEqual(
      index.get('a', 'mongo').map((o) => o.metadata.name),
      ['x', 'y'],
    );
    assert.deepEqual(
      index.get('b', 'mongo').map((o) => o.metadata.name),
      ['z'],
    );
    assert.deepEqual(index.get('a', 'node'), []);
  });

  it('an update moves the object to its new value; a delete removes it', () => {
    const index = byService();
    index.set(obj('a', 'x', 'mongo'));
    index.set(obj('a', 'x', 'node'));
    assert.deepEqual(index.get('a', 'mongo'), []);
    assert.deepEqual(
      index.get('a', 'node').map((o) => o.metadata.name),
      ['x'],
    );
    index.delete(obj('a', 'x'));
    assert.deepEqual(index.get('a', 'node'), []);
  });

  it('ownerVmNames keeps VirtualMachine owners only', () => {
    assert.deepEqual(
      ownerVmNames({
        metadata: {
          ownerReferences: [
            { kind: 'VirtualMachine', name: 'a' },
            { kind: 'Pod', name: 'b' },
            { kind: 'VirtualMachine', name: 'c' },
          ],
        },
      }),
      ['a', 'c'],
    );
  });
});
