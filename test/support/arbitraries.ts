// Generated VirtualMachines (fast-check): shapes KubeVirt's CRD schema accepts, with every
// cloud-init source and encoding, names at the length limits, unicode, our annotations with
// good and bad values, odd but valid lists. The generated-input tests (test/unit/generated.test.ts)
// and the long run (bench/fuzz) feed them to the engine and the webhook.
import fc from 'fast-check';
import { gzipSync } from 'node:zlib';
import type { InjectSettings } from '../../src/mutate/index.js';

type Obj = Record<string, unknown>;

const LETTERS = 'abcdefghijklmnopqrstuvwxyz0123456789';

/** A DNS label of 1 to `max` characters (63 at most). */
export const dnsLabel = (max = 63): fc.Arbitrary<string> =>
  fc
    .tuple(
      fc.constantFrom(...LETTERS),
      fc.string({ unit: fc.constantFrom(...LETTERS, '-'), maxLength: Math.max(0, max - 2) }),
      fc.constantFrom(...LETTERS),
    )
    .map(([a, mid, z]) => (max === 1 ? a : `${a}${mid}${z}`));

/** Any text, unicode included (no lone surrogates: they do not survive JSON as they were). */
const text = (maxLength: number) => fc.string({ unit: 'grapheme', maxLength });

const nadRef = fc.oneof(
  dnsLabel(),
  fc.tuple(dnsLabel(), dnsLabel()).map(([ns, n]) => `${ns}/${n}`),
  // Not a reference at all: the engine must say so, not inject it.
  fc.constantFrom('', 'a/b/c', 'Upper/Case', ' spaced ', '../x'),
);

const mac = fc
  .array(fc.integer({ min: 0, max: 255 }), { minLength: 6, maxLength: 6 })
  .map((b) => b.map((x) => x.toString(16).padStart(2, '0')).join(':'));

const switchValue = fc.constantFrom('enabled', 'disabled', 'true', 'false', 'yes', 'no', 'On', 'maybe', '');

/** Our own annotations and labels, good and bad values alike, and other keys. */
const annotations = fc.dictionary(
  fc.oneof(
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        'kubevirt-net-injector.io/network',
        'kubevirt-net-injector.io/interface',
        'kubevirt-net-injector.io/cloud-init',
        'kubevirt-net-injector.io/inject',
      ),
    },
    { weight: 4, arbitrary: fc.tuple(dnsLabel(20), dnsLabel(20)).map(([a, b]) => `${a}.example.com/${b}`) },
  ),
  fc.oneof(switchValue, nadRef, dnsLabel(), text(80)),
  { maxKeys: 3 },
);

// ---- cloud-init: every source and encoding the engine reads ----

const cloudConfig = fc
  .record({ hostname: dnsLabel(20), note: text(200) })
  .map(
    ({ hostname, note }) =>
      `#cloud-config\nhostname: ${hostname}\n# ${note.replace(/\n/g, ' ')}\nruncmd:\n  - echo ok\n`,
  );
const script = text(300).map((t) => `#!/bin/sh\necho ${JSON.stringify(t)}\n`);
const mime = fc
  .tuple(dnsLabel(12), text(100))
  .map(
    ([b, t]) =>
      `Content-Type: multipart/mixed; boundary="${b}"\nMIME-Version: 1.0\n\n--${b}\nContent-Type: text/x-shellscript\n\n#!/bin/sh\necho ${JSON.stringify(t)}\n--${b}--\n`,
  );
/** User data that holds our own MIME delimiter line. */
const holdsOurBoundary = fc.constant('#!/bin/sh\necho "--==kubevirt-net-injector=="\n');
const userText = fc.oneof(cloudConfig, script, mime, text(400), holdsOurBoundary, fc.constant(''));

/** Bytes: a text, or random bytes (binary, and sometimes gzip's magic). */
const userBytes = fc.oneof(
  { weight: 4, arbitrary: userText.map((t) => Buffer.from(t, 'utf8')) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)) },
  { weight: 1, arbitrary: userText.map((t) => gzipSync(Buffer.from(t, 'utf8'))) },
  // Over KubeVirt's 2048-byte limit.
  {
    weight: 1,
    arbitrary: fc
      .integer({ min: 2049, max: 4000 })
      .map((n) => Buffer.from(`#cloud-config\n# ${'x'.repeat(n)}\n`)),
  },
);

const networkData = fc.oneof(
  fc.constant('version: 2\nethernets:\n  eth0:\n    dhcp4: true\n'),
  fc.constant(
    'network:\n  version: 2\n  ethernets:\n    ens3:\n      match: {macaddress: "02:00:00:00:00:01"}\n      dhcp4: true\n',
  ),
  fc.constant('version: 1\nconfig:\n  - type: physical\n    name: eth0\n    subnets: [{type: dhcp}]\n'),
  fc.constant('version: 3\n'),
  fc.constant('{unclosed: [\n'),
  fc.constant('a: &a [x, x]\nb: &b [*a, *a]\nc: &c [*b, *b]\nd: [*c, *c, *c]\n'),
  text(100),
);

/** A field pair as the user may write it: plain, base64 (with line breaks or not), or absent. */
function fieldPair(plain: string, b64: string, bytes: fc.Arbitrary<Buffer>): fc.Arbitrary<Obj> {
  return fc.oneof(
    fc.constant({}),
    bytes.map((b) => ({ [plain]: b.toString('utf8') })),
    bytes.map((b) => ({ [b64]: b.toString('base64') })),
    bytes.map((b) => ({ [b64]: (b.toString('base64').match(/.{1,60}/g) ?? []).join('\n') })),
    fc.constant({ [b64]: 'not base64!' }),
  );
}

const noCloud = fc
  .tuple(
    fieldPair('userData', 'userDataBase64', userBytes),
    fc.oneof(
      {
        weight: 3,
        arbitrary: fieldPair(
          'networkData',
          'networkDataBase64',
          networkData.map((t) => Buffer.from(t)),
        ),
      },
      { weight: 1, arbitrary: fc.constant({ networkDataSecretRef: { name: 'net-secret' } }) },
    ),
    fc.oneof(
      { weight: 5, arbitrary: fc.constant({}) },
      { weight: 1, arbitrary: fc.constant({ secretRef: { name: 'ud-secret' } }) },
    ),
  )
  .map(([u, n, s]) => ({ cloudInitNoCloud: { ...u, ...n, ...s } }));
const configDrive = fieldPair('userData', 'userDataBase64', userBytes).map((u) => ({
  cloudInitConfigDrive: u,
}));

// ---- the VM ----

export interface GeneratedVm {
  vm: Obj;
  settings: InjectSettings;
}

export const virtualMachine: fc.Arbitrary<GeneratedVm> = fc
  .record({
    name: fc.oneof(dnsLabel(), dnsLabel(63)),
    generate: fc.boolean(),
    namespace: fc.oneof(dnsLabel(), fc.constant('vm')),
    labels: fc.dictionary(dnsLabel(20), fc.oneof(dnsLabel(20), switchValue), { maxKeys: 3 }),
    annotations,
    networks: fc.array(
      fc.record({
        name: fc.oneof(dnsLabel(12), fc.constantFrom('default', 'l2')),
        kind: fc.oneof(
          fc.constant({ pod: {} }),
          nadRef.map((networkName) => ({ multus: { networkName } })),
        ),
        mac: fc.option(mac),
        binding: fc.constantFrom('bridge', 'masquerade'),
      }),
      { maxLength: 5 },
    ),
    // Interfaces without networks: a shape the engine refuses to touch; now and then.
    interfacesWithoutNetworks: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
    autoattach: fc.option(fc.boolean()),
    cloudInit: fc.option(fc.oneof({ weight: 4, arbitrary: noCloud }, { weight: 1, arbitrary: configDrive })),
    otherVolumes: fc.array(dnsLabel(10), { maxLength: 2 }),
    settings: fc.record({
      network: nadRef.filter((r) =>
        /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\/[a-z0-9]([-a-z0-9]*[a-z0-9])?)?$/.test(r),
      ),
      interfaceName: fc.oneof(fc.constant('l2'), dnsLabel(15)),
      cloudInit: fc.boolean(),
    }),
  })
  .map((g) => {
    const networks = g.interfacesWithoutNetworks ? [] : g.networks.map((n) => ({ name: n.name, ...n.kind }));
    const interfaces = g.networks.map((n) => ({
      name: n.name,
      [n.binding]: {},
      ...(n.mac !== null ? { macAddress: n.mac } : {}),
    }));
    const volumes: Obj[] = g.otherVolumes.map((name) => ({ name, containerDisk: { image: 'example/disk' } }));
    if (g.cloudInit !== null) volumes.push({ name: 'cloudinitdisk', ...g.cloudInit });
    const devices: Obj = {
      disks: volumes.map((v) => ({ name: v['name'], disk: { bus: 'virtio' } })),
      ...(interfaces.length > 0 ? { interfaces } : {}),
      ...(g.autoattach !== null ? { autoattachPodInterface: g.autoattach } : {}),
    };
    const metadata: Obj = {
      namespace: g.namespace,
      ...(g.generate ? { generateName: `${g.name.slice(0, 50)}-` } : { name: g.name }),
      ...(Object.keys(g.labels).length ? { labels: g.labels } : {}),
      ...(Object.keys(g.annotations).length ? { annotations: g.annotations } : {}),
    };
    const vm: Obj = {
      apiVersion: 'kubevirt.io/v1',
      kind: 'VirtualMachine',
      metadata,
      spec: {
        runStrategy: 'Halted',
        template: {
          spec: {
            domain: { devices, resources: { requests: { memory: '64Mi' } } },
            ...(networks.length ? { networks } : {}),
            ...(volumes.length ? { volumes } : {}),
          },
        },
      },
    };
    // As the webhook gets it: JSON data (fast-check's dictionaries have no prototype).
    return { vm: JSON.parse(JSON.stringify(vm)) as Obj, settings: g.settings };
  });

/** An AdmissionReview body as the apiserver (or an attacker) might send it. */
export const hostileBody: fc.Arbitrary<{ body: string; uid?: string }> = fc.oneof(
  virtualMachine.map(({ vm }) => {
    const uid = `uid-${JSON.stringify(vm).length}`;
    return {
      uid,
      body: JSON.stringify({
        apiVersion: 'admission.k8s.io/v1',
        kind: 'AdmissionReview',
        request: {
          uid,
          kind: { group: 'kubevirt.io', version: 'v1', kind: 'VirtualMachine' },
          resource: { group: 'kubevirt.io', version: 'v1', resource: 'virtualmachines' },
          namespace: (vm['metadata'] as Obj)['namespace'],
          operation: 'CREATE',
          object: vm,
        },
      }),
    };
  }),
  // Reviews with any JSON where the object, the request or its fields go.
  fc
    .record({
      uid: fc.oneof(fc.string(), fc.integer()),
      operation: fc.jsonValue(),
      object: fc.jsonValue(),
      kind: fc.jsonValue(),
    })
    .map((r) => ({
      ...(typeof r.uid === 'string' ? { uid: r.uid } : {}),
      body: JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: r }),
    })),
  fc.jsonValue().map((v) => ({ body: JSON.stringify(v) })),
  fc.string().map((s) => ({ body: s })),
);
