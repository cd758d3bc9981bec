import assert from 'node:assert/strict';
import { publicationOf } from '../../../src/controller/desired.js';
import { slimVm, slimVmi, withoutManagedFields } from '../../../src/controller/transform.js';
import type { VirtualMachine, VirtualMachineInstance } from '../../../src/controller/types.js';

describe('controller/transform: what the caches keep', () => {
  const vm: VirtualMachine = {
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachine',
    metadata: {
      name: 'mongodb',
      namespace: 'vm',
      uid: 'u1',
      resourceVersion: '7',
      creationTimestamp: '2026-11-26T00:00:00Z',
      labels: { app: 'db' },
      annotations: {
        'kubevirt-net-injector.io/service-name': 'mongo',
        'kubevirt-net-injector.io/service-ports': 'mongo:27017',
        'kubectl.kubernetes.io/last-applied-configuration': 'x'.repeat(5000),
      },
    },
    spec: {
      running: true,
      template: {
        spec: {
          domain: { devices: { interfaces: [{ name: 'l2', bridge: {} }] } },
          networks: [{ name: 'l2', multus: { networkName: 'ovs-net-br1' } }],
        },
      },
    },
  };

  it('a slim VM keeps identity, labels, our annotations, run state and networks only', () => {
    assert.deepEqual(slimVm(vm), {
      apiVersion: 'kubevirt.io/v1',
      kind: 'VirtualMachine',
      metadata: {
        name: 'mongodb',
        namespace: 'vm',
        uid: 'u1',
        resourceVersion: '7',
        creationTimestamp: '2026-11-26T00:00:00Z',
        labels: { app: 'db' },
        annotations: {
          'kubevirt-net-injector.io/service-name': 'mongo',
          'kubevirt-net-injector.io/service-ports': 'mongo:27017',
        },
      },
      spec: {
        running: true,
        template: { spec: { networks: [{ name: 'l2', multus: { networkName: 'ovs-net-br1' } }] } },
      },
    });
  });

  it('publication is the same from the slim VM (annotation fallback included)', () => {
    assert.deepEqual(publicationOf(slimVm(vm)), publicationOf(vm));
  });

  it('a slim VMI keeps phase, node and interface addresses', () => {
    const vmi: VirtualMachineInstance = {
      metadata: {
        name: 'mongodb',
        namespace: 'vm',
        uid: 'i1',
        resourceVersion: '9',
        deletionTimestamp: '2026-11-26T01:00:00Z',
      },
      spec: { domain: {} },
      status: {
        phase: 'Running',
        nodeName: 'n1',
        conditions: [{ type: 'Ready' }],
        interfaces: [
          {
            name: 'l2',
            interfaceName: 'eth1',
            ipAddress: '1.2.3.4',
            ipAddresses: ['1.2.3.4'],
            mac: 'm',
            infoSource: 'x',
          },
        ],
      },
    };
    assert.deepEqual(slimVmi(vmi), {
      apiVersion: undefined,
      kind: undefined,
      metadata: {
        name: 'mongodb',
        namespace: 'vm',
        uid: 'i1',
        resourceVersion: '9',
        deletionTimestamp: '2026-11-26T01:00:00Z',
      },
      status: {
        phase: 'Running',
        nodeName: 'n1',
        interfaces: [{ name: 'l2', ipAddress: '1.2.3.4', ipAddresses: ['1.2.3.4'] }],
      },
    });
  });

  it('managedFields dropped, the rest kept', () => {
    const svc = { metadata: { name: 's', managedFields: [{}] }, spec: { clusterIP: 'None' } };
    assert.deepEqual(withoutManagedFields(svc), { metadata: { name: 's' }, spec: { clusterIP: 'None' } });
  });
});
