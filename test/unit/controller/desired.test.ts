import assert from 'node:assert/strict';
import {
  addressesOf,
  desiredLegacyEndpoints,
  desiredService,
  desiredSlices,
  hostnameOf,
  isOurService,
  isOurSlice,
  publicationOf,
  sliceName,
} from '../../../src/controller/desired.js';
import type { Publication } from '../../../src/controller/desired.js';
import type { EndpointSlice, VirtualMachine, VirtualMachineInstance } from '../../../src/controller/types.js';

const NOW = Date.parse('2026-11-26T10:00:00Z');
const GRACE = 10_000;

function vm(
  name: string,
  annotations: Record<string, string> = {},
  extra: Partial<VirtualMachine['metadata']> = {},
): VirtualMachine {
  return {
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachine',
    metadata: { name, namespace: 'vm', uid: `uid-${name}`, annotations, ...extra },
    spec: {
      running: true,
      template: {
        spec: {
          networks: [
            { name: 'default', pod: {} },
            { name: 'l2', multus: { networkName: 'ovs-net-br1' } },
          ],
        },
      },
    },
  };
}

function vmi(
  name: string,
  iface: Record<string, unknown> | undefined,
  phase = 'Running',
): VirtualMachineInstance {
  return {
    metadata: { name, namespace: 'vm', uid: `vmi-uid-${name}` },
    status: {
      phase,
      nodeName: 'node-a',
      interfaces: [
        { name: 'default', interfaceName: 'eth0', ipAddress: '10.244.0.7', ipAddresses: ['10.244.0.7'] },
        ...(iface ? [{ name: 'l2', interfaceName: 'eth1', ...iface }] : []),
      ],
    },
  };
}

const mongoAnn = {
  'kubevirt-net-injector.io/service-name': 'mongo',
  'kubevirt-net-injector.io/service-ports': 'mongo:27017',
};
const mongoPub: Publication = {
  serviceName: 'mongo',
  networkName: 'l2',
  ports: [{ name: 'mongo', port: 27017, targetPort: 27017, protocol: 'TCP' }],
};

describe('controller/desired: publicationOf', () => {
  const cases: [string, VirtualMachine, ReturnType<typeof publicationOf>][] = [
    ['no annotations: nothing to publish', vm('mongodb'), { kind: 'none' }],
    [
      'interface annotation wins over the spec',
      vm('mongodb', { ...mongoAnn, 'kubevirt-net-injector.io/interface': 'net9' }),
      { kind: 'publish', publication: { ...mongoPub, networkName: 'net9' } },
    ],
    [
      'falls back to the first Multus network',
      vm('mongodb', mongoAnn),
      { kind: 'publish', publication: mongoPub },
    ],
    [
      'service name defaults to the VM name',
      vm('mongodb', { 'kubevirt-net-injector.io/service-ports': '' }),
      { kind: 'publish', publication: { serviceName: 'mongodb', networkName: 'l2', ports: [] } },
    ],
  ];
  for (const [title, input, expected] of cases)
    it(title, () => assert.deepEqual(publicationOf(input), expected));

  it('rejects a service name that is not a DNS-1035 label', () => {
    const r = publicationOf(vm('db.one', { 'kubevirt-net-injector.io/service-ports': 'a:1' }));
    assert.equal(r.kind, 'invalid');
    assert.match((r as { reason: string }).reason, /'db\.one' is not a DNS-1035 label/);
  });
  it('reports a bad ports annotation', () => {
    const r = publicationOf(vm('m', { 'kubevirt-net-injector.io/service-ports': 'a:99999' }));
    assert.deepEqual(r, {
      kind: 'invalid',
      reason: "kubevirt-net-injector.io/service-ports: port 99999 in 'a:99999' is outside 1-65535",
    });
  });
  it('reports a VM without any Multus network', () => {
    const v = vm('m', mongoAnn);
    v.spec!.template!.spec!.networks = [{ name: 'default', pod: {} }];
    assert.equal(publicationOf(v).kind, 'invalid');
  });
  it('skips a Multus network marked default', () => {
    const v = vm('m', mongoAnn);
    v.spec!.template!.spec!.networks = [
      { name: 'cni', multus: { networkName: 'x', default: true } },
      { name: 'sec', multus: { networkName: 'y' } },
    ];
    assert.equal((publicationOf(v) as { publication: Publication }).publication.networkName, 'sec');
  });
});

describe('controller/desired: addressesOf', () => {
  const cases: [string, Record<string, unknown>, { v4: string[]; v6: string[] }][] = [
    ['ipAddress only', { ipAddress: '192.168.123.139' }, { v4: ['192.168.123.139'], v6: [] }],
    [
      'dual stack, link-local dropped, dedup',
      {
        ipAddress: '192.168.123.139',
        ipAddresses: ['192.168.123.139', 'fe80::ff:fe74:1775', 'FD00::5', 'febf::1'],
      },
      { v4: ['192.168.123.139'], v6: ['fd00::5'] },
    ],
    ['prefix stripped', { ipAddresses: ['192.168.123.139/24'] }, { v4: ['192.168.123.139'], v6: [] }],
    ['garbage ignored', { ipAddress: 'not-an-ip', ipAddresses: ['', '300.1.1.1'] }, { v4: [], v6: [] }],
    ['fec0:: is not link-local', { ipAddresses: ['fec0::1'] }, { v4: [], v6: ['fec0::1'] }],
  ];
  for (const [title, iface, expected] of cases)
    it(title, () => assert.deepEqual(addressesOf(vmi('x', iface), 'l2'), expected));
  it('never takes the pod network address', () =>
    assert.deepEqual(addressesOf(vmi('x', undefined), 'l2'), { v4: [], v6: [] }));
});

describe('controller/desired: names', () => {
  it('slice names per family', () => {
    assert.equal(sliceName('mongodb', 'IPv4'), 'mongodb-ipv4');
    assert.equal(sliceName('mongodb', 'IPv6'), 'mongodb-ipv6');
  });
  it('long names are shortened with a hash and stay distinct', () => {
    const a = sliceName('a'.repeat(253), 'IPv4');
    const b = sliceName('a'.repeat(252) + 'b', 'IPv4');
    assert.ok(a.length <= 253 && b.length <= 253);
    assert.notEqual(a, b);
    assert.match(a, /-[0-9a-f]{10}-ipv4$/);
  });
  const hosts: [string, string | undefined][] = [
    ['mongodb', 'mongodb'],
    ['db.one', 'db-one'],
    ['x'.repeat(70), 'x'.repeat(63)],
    ['...', undefined],
  ];
  for (const [input, expected] of hosts)
    it(`hostname of '${input.slice(0, 12)}'`, () => assert.equal(hostnameOf(input), expected));
});

function slices(
  v: VirtualMachine,
  i: VirtualMachineInstance | undefined,
  existing: EndpointSlice[] = [],
  now = NOW,
) {
  return desiredSlices({ vm: v, vmi: i, publication: mongoPub, now, graceMs: GRACE, existing });
}

describe('controller/desired: desiredSlices', () => {
  const mongodb = vm('mongodb', mongoAnn);

  it('the seed: one ready IPv4 endpoint with hostname, targetRef and ports', () => {
    const r = slices(
      mongodb,
      vmi('mongodb', { ipAddress: '192.168.123.139', ipAddresses: ['192.168.123.139'] }),
    );
    assert.equal(r.requeueAfterMs, undefined);
    assert.deepEqual(r.slices, [
      {
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: {
          name: 'mongodb-ipv4',
          namespace: 'vm',
          labels: {
            'kubernetes.io/service-name': 'mongo',
            'endpointslice.kubernetes.io/managed-by': 'controller.kubevirt-net-injector.io',
          },
          ownerReferences: [
            {
              apiVersion: 'kubevirt.io/v1',
              kind: 'VirtualMachine',
              name: 'mongodb',
              uid: 'uid-mongodb',
              controller: true,
            },
          ],
        },
        addressType: 'IPv4',
        endpoints: [
          {
            addresses: ['192.168.123.139'],
            conditions: { ready: true, serving: true, terminating: false },
            hostname: 'mongodb',
            nodeName: 'node-a',
            targetRef: {
              apiVersion: 'kubevirt.io/v1',
              kind: 'VirtualMachineInstance',
              namespace: 'vm',
              name: 'mongodb',
              uid: 'vmi-uid-mongodb',
            },
          },
        ],
        ports: [{ name: 'mongo', port: 27017, protocol: 'TCP' }],
      },
    ]);
  });

  it('dual stack: one slice per family', () => {
    const r = slices(mongodb, vmi('mongodb', { ipAddresses: ['192.168.123.139', 'fd00::139', 'fe80::1'] }));
    assert.deepEqual(
      r.slices.map((s) => [s.metadata.name, s.addressType, s.endpoints[0]!.addresses[0]]),
      [
        ['mongodb-ipv4', 'IPv4', '192.168.123.139'],
        ['mongodb-ipv6', 'IPv6', 'fd00::139'],
      ],
    );
  });

  it('no address yet and nothing published: no slice', () => {
    assert.deepEqual(slices(mongodb, vmi('mongodb', {})).slices, []);
    assert.deepEqual(slices(mongodb, undefined).slices, []);
  });

  it('not publishing: no slice even with an address', () => {
    const r = desiredSlices({
      vm: mongodb,
      vmi: vmi('mongodb', { ipAddress: '1.2.3.4' }),
      publication: undefined,
      now: NOW,
      graceMs: GRACE,
      existing: [],
    });
    assert.deepEqual(r.slices, []);
  });

  const ready = slices(mongodb, vmi('mongodb', { ipAddress: '192.168.123.139' })).slices;
  const lossCases: [string, VirtualMachineInstance | undefined, boolean][] = [
    ['address lost', vmi('mongodb', {}), false],
    ['VMI stopped (phase Succeeded)', vmi('mongodb', { ipAddress: '192.168.123.139' }, 'Succeeded'), false],
    ['VMI gone', undefined, true],
    [
      'VMI deleting',
      {
        ...vmi('mongodb', { ipAddress: '192.168.123.139' }),
        metadata: {
          name: 'mongodb',
          namespace: 'vm',
          uid: 'vmi-uid-mongodb',
          deletionTimestamp: '2026-11-26T09:59:59Z',
        },
      },
      true,
    ],
  ];
  for (const [title, current, terminating] of lossCases) {
    it(`${title}: not ready, last address kept, requeue at grace end`, () => {
      const r = slices(mongodb, current, ready);
      assert.equal(r.slices.length, 1);
      const s = r.slices[0]!;
      assert.equal(
        s.metadata.annotations?.['kubevirt-net-injector.io/not-ready-since'],
        '2026-11-26T10:00:00.000Z',
      );
      assert.deepEqual(s.endpoints[0]!.addresses, ['192.168.123.139']);
      assert.deepEqual(s.endpoints[0]!.conditions, { ready: false, serving: false, terminating });
      assert.equal(r.requeueAfterMs, GRACE);
    });
  }

  it('within the grace period the original timestamp is kept', () => {
    const first = slices(mongodb, vmi('mongodb', {}), ready).slices;
    const later = slices(mongodb, vmi('mongodb', {}), first, NOW + 4000);
    assert.equal(
      later.slices[0]!.metadata.annotations?.['kubevirt-net-injector.io/not-ready-since'],
      '2026-11-26T10:00:00.000Z',
    );
    assert.equal(later.requeueAfterMs, GRACE - 4000);
  });

  it('after the grace period the slice goes away', () => {
    const first = slices(mongodb, vmi('mongodb', {}), ready).slices;
    assert.deepEqual(slices(mongodb, vmi('mongodb', {}), first, NOW + GRACE).slices, []);
  });

  it('flicker: the address comes back within grace, ready again without the marker', () => {
    const first = slices(mongodb, vmi('mongodb', {}), ready).slices;
    const back = slices(mongodb, vmi('mongodb', { ipAddress: '192.168.123.141' }), first, NOW + 3000);
    assert.equal(back.slices[0]!.metadata.annotations, undefined);
    assert.deepEqual(back.slices[0]!.endpoints[0]!.addresses, ['192.168.123.141']);
    assert.equal(back.slices[0]!.endpoints[0]!.conditions?.ready, true);
    assert.equal(back.requeueAfterMs, undefined);
  });

  it('IPv6 lost while IPv4 stays: only the IPv6 slice goes not ready', () => {
    const both = slices(mongodb, vmi('mongodb', { ipAddresses: ['192.168.123.139', 'fd00::1'] })).slices;
    const r = slices(mongodb, vmi('mongodb', { ipAddresses: ['192.168.123.139'] }), both);
    assert.deepEqual(
      r.slices.map((s) => [s.metadata.name, s.endpoints[0]!.conditions?.ready]),
      [
        ['mongodb-ipv4', true],
        ['mongodb-ipv6', false],
      ],
    );
  });
});

describe('controller/desired: desiredService', () => {
  const a = vm('a', {}, { creationTimestamp: '2026-01-01T00:00:00Z' });
  const b = vm('b', {}, { creationTimestamp: '2026-02-01T00:00:00Z' });

  it('headless, selector-less, owned by every publisher (none the controller)', () => {
    const r = desiredService({
      namespace: 'vm',
      serviceName: 'mongo',
      publishers: [
        { vm: b, publication: mongoPub },
        { vm: a, publication: mongoPub },
      ],
    });
    assert.deepEqual(r.warnings, []);
    assert.deepEqual(r.service, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: {
        name: 'mongo',
        namespace: 'vm',
        labels: { 'app.kubernetes.io/managed-by': 'kubevirt-net-injector' },
        ownerReferences: [
          { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', name: 'a', uid: 'uid-a' },
          { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', name: 'b', uid: 'uid-b' },
        ],
      },
      spec: { clusterIP: 'None', type: 'ClusterIP', ports: mongoPub.ports },
    });
  });

  it('no publishers: no Service', () => {
    assert.equal(
      desiredService({ namespace: 'vm', serviceName: 'mongo', publishers: [] }).service,
      undefined,
    );
  });

  it('ports are merged; on a conflict the oldest VM wins and a warning names the loser', () => {
    const other: Publication = {
      ...mongoPub,
      ports: [
        { name: 'mongo', port: 27018, targetPort: 27018, protocol: 'TCP' },
        { name: 'admin', port: 28017, targetPort: 28017, protocol: 'TCP' },
      ],
    };
    const r = desiredService({
      namespace: 'vm',
      serviceName: 'mongo',
      publishers: [
        { vm: b, publication: other },
        { vm: a, publication: mongoPub },
      ],
    });
    assert.deepEqual(
      r.service?.spec?.ports?.map((p) => `${p.name}:${p.port}`),
      ['mongo:27017', 'admin:28017'],
    );
    assert.equal(r.warnings.length, 1);
    assert.match(r.warnings[0]!, /VM b declares port mongo as 27018\/TCP; the Service keeps 27017\/TCP/);
  });

  it('the same port under another name: the oldest VM keeps its name and a warning names the loser', () => {
    const renamed: Publication = {
      ...mongoPub,
      ports: [{ name: 'db', port: 27017, targetPort: 27017, protocol: 'TCP' }],
    };
    const r = desiredService({
      namespace: 'vm',
      serviceName: 'mongo',
      publishers: [
        { vm: a, publication: renamed },
        { vm: b, publication: mongoPub },
      ],
    });
    assert.deepEqual(
      r.service?.spec?.ports?.map((p) => `${p.name}:${p.port}`),
      ['db:27017'],
    );
    assert.deepEqual(r.warnings, ['VM b declares 27017/TCP as port mongo; the Service keeps it as db']);
  });
});

describe('controller/desired: ownership and legacy Endpoints', () => {
  const mongodb = vm('mongodb', mongoAnn);
  const [slice] = slices(mongodb, vmi('mongodb', { ipAddress: '192.168.123.139' })).slices;
  it('our slice: managed-by us and owned by the VM', () => {
    assert.equal(isOurSlice(slice!, 'uid-mongodb'), true);
    assert.equal(isOurSlice(slice!, 'uid-other'), false);
    assert.equal(
      isOurSlice(
        {
          ...slice!,
          metadata: {
            ...slice!.metadata,
            labels: { 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' },
          },
        },
        'uid-mongodb',
      ),
      false,
    );
  });
  it('our Service: carries the managed-by label', () => {
    assert.equal(
      isOurService({ metadata: { labels: { 'app.kubernetes.io/managed-by': 'kubevirt-net-injector' } } }),
      true,
    );
    assert.equal(isOurService({ metadata: {} }), false);
  });
  it('legacy Endpoints: skip-mirror, ready and not-ready addresses', () => {
    const svc = desiredService({
      namespace: 'vm',
      serviceName: 'mongo',
      publishers: [{ vm: mongodb, publication: mongoPub }],
    }).service!;
    const gone = slices(vm('other', mongoAnn), vmi('other', {}), [
      { ...slice!, metadata: { ...slice!.metadata, name: 'other-ipv4' } },
    ]).slices;
    const ep = desiredLegacyEndpoints(svc, [slice!, ...gone]);
    assert.equal(ep.metadata.labels?.['endpointslice.kubernetes.io/skip-mirror'], 'true');
    assert.deepEqual(
      ep.subsets?.[0]?.addresses?.map((a) => a.ip),
      ['192.168.123.139'],
    );
    assert.deepEqual(
      ep.subsets?.[0]?.notReadyAddresses?.map((a) => a.ip),
      ['192.168.123.139'],
    );
    assert.deepEqual(ep.subsets?.[0]?.ports, [{ name: 'mongo', port: 27017, protocol: 'TCP' }]);
  });
});
