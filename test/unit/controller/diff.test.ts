import assert from 'node:assert/strict';
import { merged, needsUpdate } from '../../../src/controller/diff.js';
import type { EndpointSlice, Service } from '../../../src/controller/types.js';

const desiredSvc: Service = {
  apiVersion: 'v1',
  kind: 'Service',
  metadata: {
    name: 'mongo',
    namespace: 'vm',
    labels: { 'app.kubernetes.io/managed-by': 'kubevirt-net-injector' },
    ownerReferences: [{ apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', name: 'a', uid: 'uid-a' }],
  },
  spec: {
    clusterIP: 'None',
    type: 'ClusterIP',
    ports: [{ name: 'mongo', port: 27017, targetPort: 27017, protocol: 'TCP' }],
  },
};
// As the apiserver returns it: defaults filled in, someone else's label and annotation.
const storedSvc: Service = {
  ...desiredSvc,
  metadata: {
    ...desiredSvc.metadata,
    uid: 's1',
    resourceVersion: '7',
    labels: { ...desiredSvc.metadata.labels, team: 'db' },
    annotations: { note: 'keep' },
  },
  spec: { ...desiredSvc.spec, clusterIPs: ['None'], sessionAffinity: 'None', ipFamilies: ['IPv4'] },
};

describe('controller/diff', () => {
  it('the stored Service matches: no update', () => assert.equal(needsUpdate(storedSvc, desiredSvc), false));
  it('a new owner needs an update that keeps foreign fields', () => {
    const d = {
      ...desiredSvc,
      metadata: {
        ...desiredSvc.metadata,
        ownerReferences: [
          ...desiredSvc.metadata.ownerReferences!,
          { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', name: 'b', uid: 'uid-b' },
        ],
      },
    };
    assert.equal(needsUpdate(storedSvc, d), true);
    const m = merged(storedSvc, d);
    assert.equal(m.metadata.resourceVersion, '7');
    assert.equal(m.metadata.labels?.team, 'db');
    assert.equal(m.metadata.annotations?.note, 'keep');
    assert.equal(m.spec?.sessionAffinity, 'None');
    assert.equal(m.metadata.ownerReferences?.length, 2);
  });
  it('a selector someone added is removed', () => {
    const s = { ...storedSvc, spec: { ...storedSvc.spec, selector: { app: 'x' } } };
    assert.equal(needsUpdate(s, desiredSvc), true);
    assert.equal(merged(s, desiredSvc).spec?.selector, undefined);
  });
  it('ports changed: update', () => {
    const d = {
      ...desiredSvc,
      spec: { ...desiredSvc.spec, ports: [{ name: 'mongo', port: 27018, protocol: 'TCP' as const }] },
    };
    assert.equal(needsUpdate(storedSvc, d), true);
  });

  const slice: EndpointSlice = {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: 'mongodb-ipv4',
      namespace: 'vm',
      labels: { a: 'b' },
      annotations: { 'kubevirt-net-injector.io/not-ready-since': 'x', other: 'y' },
    },
    addressType: 'IPv4',
    endpoints: [{ addresses: ['1.1.1.1'], conditions: { ready: false } }],
    ports: [{ name: 'mongo', port: 1, protocol: 'TCP' }],
  };
  it('slice: address change needs an update', () => {
    const d = { ...slice, endpoints: [{ addresses: ['1.1.1.2'], conditions: { ready: false } }] };
    assert.equal(needsUpdate(slice, d), true);
    assert.deepEqual(merged(slice, d).endpoints[0]!.addresses, ['1.1.1.2']);
  });
  it('slice: dropping the not-ready marker is an update, other annotations stay', () => {
    const d = { ...slice, metadata: { ...slice.metadata, annotations: undefined } };
    assert.equal(needsUpdate(slice, d), true);
    assert.deepEqual(merged(slice, d).metadata.annotations, { other: 'y' });
  });
  it('slice: identical is no update', () => assert.equal(needsUpdate(slice, structuredClone(slice)), false));
});
