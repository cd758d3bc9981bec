// The fault tests' judge must itself be able to fail: each kind of loss it is meant to catch,
// on a hand-made state.
import assert from 'node:assert/strict';
import type { V1EndpointSlice, V1Endpoints, V1Service } from '@kubernetes/client-node';
import type { VirtualMachine, VirtualMachineInstance } from '../../../src/controller/types.js';
import { comparePublished, converged } from '../../sim/published.js';
import type { PublishedState } from '../../sim/published.js';

const A = 'kubevirt-net-injector.io/';

function vm(name: string, service = name): VirtualMachine {
  return {
    metadata: {
      name,
      namespace: 'ns',
      uid: `uid-${name}`,
      annotations: { [`${A}service-name`]: service, [`${A}interface`]: 'l2' },
    },
  };
}

function vmi(name: string, ips: string[], phase = 'Running'): VirtualMachineInstance {
  return {
    metadata: { name, namespace: 'ns', uid: `vmi-${name}` },
    status: {
      phase,
      interfaces: [
        { name: 'default', ipAddress: '10.244.0.1' },
        { name: 'l2', ipAddress: ips[0], ipAddresses: ips },
      ],
    },
  };
}

function slice(
  vmName: string,
  ip: string,
  opts: { ready?: boolean; service?: string } = {},
): V1EndpointSlice {
  return {
    metadata: {
      name: `${vmName}-${ip.includes(':') ? 'ipv6' : 'ipv4'}`,
      labels: {
        'kubernetes.io/service-name': opts.service ?? vmName,
        'endpointslice.kubernetes.io/managed-by': 'controller.kubevirt-net-injector.io',
      },
      ownerReferences: [
        {
          apiVersion: 'kubevirt.io/v1',
          kind: 'VirtualMachine',
          name: vmName,
          uid: `uid-${vmName}`,
          controller: true,
        },
      ],
    },
    addressType: ip.includes(':') ? 'IPv6' : 'IPv4',
    endpoints: [
      {
        addresses: [ip],
        conditions: { ready: opts.ready ?? true },
        targetRef: { kind: 'VirtualMachineInstance', name: vmName, uid: `vmi-${vmName}` },
      },
    ],
  };
}

function service(name: string, owners: string[]): V1Service {
  return {
    metadata: {
      name,
      labels: { 'app.kubernetes.io/managed-by': 'kubevirt-net-injector' },
      ownerReferences: owners.map((o) => ({
        apiVersion: 'kubevirt.io/v1',
        kind: 'VirtualMachine',
        name: o,
        uid: `uid-${o}`,
      })),
    },
    spec: { clusterIP: 'None' },
  };
}

function endpoints(name: string, ips: string[]): V1Endpoints {
  return {
    metadata: {
      name,
      labels: {
        'app.kubernetes.io/managed-by': 'kubevirt-net-injector',
        'endpointslice.kubernetes.io/skip-mirror': 'true',
      },
    },
    subsets: [{ addresses: ips.map((ip) => ({ ip })) }],
  };
}

function healthy(): PublishedState {
  return {
    vms: [vm('a'), vm('b', 'shared'), vm('c', 'shared')],
    vmis: [
      vmi('a', ['192.0.2.1']),
      vmi('b', ['192.0.2.2', 'fe80::2', '2001:db8::2']),
      vmi('c', ['192.0.2.3']),
    ],
    slices: [
      slice('a', '192.0.2.1'),
      slice('b', '192.0.2.2', { service: 'shared' }),
      slice('b', '2001:db8::2', { service: 'shared' }),
      slice('c', '192.0.2.3', { service: 'shared' }),
    ],
    services: [service('a', ['a']), service('shared', ['b', 'c'])],
    endpoints: [
      endpoints('a', ['192.0.2.1']),
      endpoints('shared', ['192.0.2.2', '2001:db8::2', '192.0.2.3']),
    ],
  };
}

describe('published-state checker (test/sim/published.ts)', () => {
  it('a consistent namespace converges, legacy Endpoints included', () => {
    const r = comparePublished(healthy(), { legacyEndpoints: true });
    assert.deepEqual(r, { expectedSlices: 4, expectedServices: 2, missing: [], stale: [] });
  });

  const cases: [string, (s: PublishedState) => void, { missing?: RegExp; stale?: RegExp }][] = [
    ['a slice missing', (s) => s.slices.shift(), { missing: /slice a-ipv4/ }],
    [
      'a stale address',
      (s) => (s.slices[0] = slice('a', '192.0.2.9')),
      { stale: /slice a-ipv4: address 192\.0\.2\.9/ },
    ],
    ['a slice left by a deleted VM', (s) => s.vms.shift(), { stale: /slice a-ipv4: no running/ }],
    [
      'a not-ready endpoint',
      (s) => (s.slices[0] = slice('a', '192.0.2.1', { ready: false })),
      { stale: /not ready/ },
    ],
    [
      'a slice for a stopped VMI',
      (s) => (s.vmis[0] = vmi('a', ['192.0.2.1'], 'Succeeded')),
      { stale: /slice a-ipv4/ },
    ],
    [
      'a VM recreated under the same name (new uid)',
      (s) => (s.vms[0]!.metadata.uid = 'uid-a2'),
      { stale: /owned by another VM/ },
    ],
    [
      'a Service missing an owner',
      (s) => (s.services[1] = service('shared', ['b'])),
      { stale: /service shared: owners 1, want 2/ },
    ],
    [
      'a Service nobody publishes',
      (s) => s.services.push(service('old', ['gone'])),
      { stale: /service old/ },
    ],
    ['a mirrored slice', (s) => s.slices.push(mirrored()), { stale: /second set/ }],
    [
      'legacy Endpoints with a stale address',
      (s) => (s.endpoints[0] = endpoints('a', ['192.0.2.8'])),
      { stale: /endpoints a/ },
    ],
  ];
  for (const [name, mutate, want] of cases) {
    it(`catches ${name}`, () => {
      const state = healthy();
      mutate(state);
      const r = comparePublished(state, { legacyEndpoints: true });
      assert.equal(converged(r), false);
      if (want.missing) assert.match(r.missing.join('\n'), want.missing);
      if (want.stale) assert.match(r.stale.join('\n'), want.stale);
    });
  }

  it('ignores link-local IPv6 and publishes nothing for a VM without annotations', () => {
    const state = healthy();
    state.vms.push({ metadata: { name: 'quiet', namespace: 'ns', uid: 'uid-quiet' } });
    state.vmis.push(vmi('quiet', ['192.0.2.50']));
    state.vmis[0] = vmi('a', ['192.0.2.1', 'fe80::1']);
    assert.ok(converged(comparePublished(state)));
  });
});

function mirrored(): V1EndpointSlice {
  return {
    metadata: {
      name: 'a-mirror',
      labels: {
        'kubernetes.io/service-name': 'a',
        'endpointslice.kubernetes.io/managed-by': 'endpointslicemirroring-controller.k8s.io',
      },
    },
    addressType: 'IPv4',
    endpoints: [{ addresses: ['192.0.2.1'] }],
  };
}
