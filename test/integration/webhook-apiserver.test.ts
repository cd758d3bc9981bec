// Our webhook process behind the real kube-apiserver (issue 5, item 5): what is stored is what the
// engine computes, opt-outs are stored untouched, dry run stores nothing and carries the warnings,
// reinvocation after a later webhook duplicates nothing, failurePolicy decides what happens when
// the webhook is down (and only in opted-in namespaces), and injection happens at CREATE only.
//
// The webhook runs in static mode (no --kubeconfig): every namespace the apiserver sends counts
// as opted in, so the configuration's namespaceSelector is what is being tested. The apiserver
// picks up a changed MutatingWebhookConfiguration asynchronously, so every (un)registration is
// followed by a bounded wait for a dry-run probe showing the new behaviour.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

import { AdmissionregistrationV1Api, type KubeConfig } from '@kubernetes/client-node';

import { ApiserverClient, vmPath, type ApiResponse } from '../../bench/apiserver/client.js';
import { mutate, type MutateResult } from '../../src/mutate/index.js';
import {
  freePort,
  INJECT_LABEL,
  issue,
  mutatingWebhookConfiguration,
  registerWebhook,
  startWebhookProcess,
  waitFor,
  WEBHOOK_CONFIGURATION_NAME,
  type ControlPlane,
  type WebhookProcess,
  type WebhookRegistration,
} from '../harness/index.js';
import { defaultSettings, goldenCases, type GoldenCase } from '../support/golden.js';
import { createNamespace, virtualMachine } from './kube.js';
import { controlPlane } from './setup.js';

type Obj = Record<string, unknown>;
interface Vm {
  metadata: { name?: string; namespace?: string; labels?: Record<string, string>; annotations?: Obj } & Obj;
  spec: {
    template: {
      spec: {
        networks?: { name: string }[];
        domain: { devices: { interfaces?: { name: string }[] } };
        volumes?: { name: string; cloudInitNoCloud?: { userData?: string; userDataBase64?: string } }[];
      };
    };
  } & Obj;
}
interface Review {
  operation: string;
  decision: string;
  dryRun: boolean;
}
interface Status {
  message?: string;
}

const WEBHOOK_PROCESS = 'webhook-apiserver-test';
const EXTRA_CONFIGURATION = 'zz-extra-annotator';
const EXTRA_ANNOTATION = 'extra.example.com/seen';
const STATUS_ANNOTATION = 'kubevirt-net-injector.io/status';
/** Metadata the apiserver sets on every stored object: not ours to compare. */
const SERVER_SET = ['uid', 'resourceVersion', 'creationTimestamp', 'generation', 'managedFields'];
const WAIT = { timeoutMs: 30_000, intervalMs: 250 };

const clone = <T>(v: T): T => structuredClone(v);
const suffix = (): string => randomBytes(3).toString('hex');

function withoutServerFields(obj: unknown): Obj {
  const copy = clone(obj) as Obj & { metadata: Obj };
  for (const key of SERVER_SET) delete copy.metadata[key];
  return copy;
}

/**
 * `input` placed in `namespace` (and renamed, when `name` is given). A Multus reference qualified
 * with the case's own namespace follows it, so each golden case keeps its meaning.
 */
function placed(input: Obj, namespace: string, name?: string): Vm {
  const vm = clone(input) as unknown as Vm;
  const from = vm.metadata.namespace;
  vm.metadata.namespace = namespace;
  if (name !== undefined) vm.metadata.name = name;
  for (const net of (vm.spec.template.spec.networks ?? []) as { multus?: { networkName?: string } }[]) {
    const ref = net.multus?.networkName;
    if (from && ref?.startsWith(`${from}/`))
      net.multus!.networkName = `${namespace}/${ref.slice(from.length + 1)}`;
  }
  return vm;
}

function engine(vm: Vm): MutateResult {
  // The webhook's seed for a named VM is namespace/name, which the engine derives itself.
  return mutate(vm, defaultSettings, {});
}

const networkNames = (vm: Vm): string[] => (vm.spec.template.spec.networks ?? []).map((n) => n.name);
/** The NoCloud user data as text (base64 decoded, gunzipped when gzip). */
function userDataText(vm: Vm): string {
  const noCloud = vm.spec.template.spec.volumes?.find((v) => v.cloudInitNoCloud)?.cloudInitNoCloud;
  if (noCloud?.userData !== undefined) return noCloud.userData;
  const bytes = Buffer.from(noCloud?.userDataBase64 ?? '', 'base64');
  return (bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzipSync(bytes) : bytes).toString('utf8');
}
const isInjected = (vm: Vm): boolean => networkNames(vm).includes(defaultSettings.interfaceName);

/**
 * MACs and UUIDs masked: for generateName, the webhook seeds them with the admission uid, which
 * the client never sees. Every other byte is still compared.
 */
function maskDerived(value: unknown): unknown {
  if (typeof value === 'string') {
    return value
      .replace(/\b[0-9a-f]{2}(?::[0-9a-f]{2}){5}\b/gi, 'MAC')
      .replace(/\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/gi, 'UUID');
  }
  if (Array.isArray(value)) return value.map(maskDerived);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, maskDerived(v)]));
  }
  return value;
}

/** A small HTTPS mutating webhook that adds EXTRA_ANNOTATION and counts its calls per VM name. */
async function startExtraWebhook(
  cp: ControlPlane,
): Promise<{ server: Server; url: string; calls: Map<string, number> }> {
  const serving = issue(cp.ca, {
    stem: 'extra-webhook',
    commonName: 'extra-webhook',
    usage: 'server',
    ipSans: ['127.0.0.1'],
  });
  const calls = new Map<string, number>();
  const server = createServer(
    { cert: readFileSync(serving.cert), key: readFileSync(serving.key) },
    (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const review = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
          request: { uid: string; object: Vm };
        };
        const vm = review.request.object;
        const key = vm.metadata.name ?? '';
        calls.set(key, (calls.get(key) ?? 0) + 1);
        const patch = vm.metadata.annotations
          ? [
              {
                op: 'add',
                path: `/metadata/annotations/${EXTRA_ANNOTATION.replace('/', '~1')}`,
                value: 'yes',
              },
            ]
          : [{ op: 'add', path: '/metadata/annotations', value: { [EXTRA_ANNOTATION]: 'yes' } }];
        const response = {
          apiVersion: 'admission.k8s.io/v1',
          kind: 'AdmissionReview',
          response: {
            uid: review.request.uid,
            allowed: true,
            patchType: 'JSONPatch',
            patch: Buffer.from(JSON.stringify(patch)).toString('base64'),
          },
        };
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(response));
      });
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { server, url: `https://127.0.0.1:${port}/mutate`, calls };
}

describe('webhook through the real kube-apiserver', function () {
  this.timeout(120_000);
  let cp: ControlPlane;
  let kc: KubeConfig;
  let api: ApiserverClient;
  let hook: WebhookProcess;
  let optedIn: string;
  let plain: string;

  const registration = (extra: Partial<WebhookRegistration> = {}): WebhookRegistration => ({
    url: hook.url,
    caPem: cp.caPem,
    ...extra,
  });

  const create = (vm: Vm, query?: string): Promise<ApiResponse<Vm & Status>> =>
    api.request<Vm & Status>('POST', vmPath(vm.metadata.namespace ?? '', undefined, query), vm);
  const get = (namespace: string, name: string): Promise<ApiResponse<Vm & Status>> =>
    api.request<Vm & Status>('GET', vmPath(namespace, name));

  /** A dry-run create of a minimal VM in `namespace`: the status and whether it came back injected. */
  async function probe(namespace: string): Promise<{ status: number; injected: boolean; body: Vm & Status }> {
    const vm = virtualMachine(namespace, `probe-${suffix()}`) as unknown as Vm;
    const res = await create(vm, 'dryRun=All');
    return { status: res.status, injected: res.status === 201 && isInjected(res.body), body: res.body };
  }

  /** Waits until a dry-run create in the opted-in namespace shows `want`. */
  async function until(what: string, want: (p: Awaited<ReturnType<typeof probe>>) => boolean): Promise<void> {
    await waitFor(what, async () => (want(await probe(optedIn)) ? true : undefined), WAIT);
  }
  const untilInjecting = (): Promise<void> => until('injection on create', (p) => p.injected);

  async function deleteConfiguration(name: string): Promise<void> {
    try {
      await kc.makeApiClient(AdmissionregistrationV1Api).deleteMutatingWebhookConfiguration({ name });
    } catch (err) {
      if ((err as { code?: number }).code !== 404) throw err;
    }
  }

  /** Review log lines of our webhook for `name` in `namespace`, as written so far. */
  function reviewsOf(namespace: string, name: string): Review[] {
    const log = readFileSync(join(cp.processes.stateDir, `${WEBHOOK_PROCESS}.log`), 'utf8');
    return log
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Review & { namespace?: string; name?: string })
      .filter((l) => l.namespace === namespace && l.name === name && l.decision !== undefined);
  }

  /**
   * Every review of `name` so far. The webhook's log reaches its file through a pipe, a moment
   * after the review, so a dry-run create of a marker VM goes through it afterwards, and once
   * the marker's line is in the file, every earlier line is too. Needs our webhook registered
   * and injecting.
   */
  async function flushedReviews(namespace: string, name: string): Promise<Review[]> {
    const marker = virtualMachine(optedIn, `marker-${suffix()}`) as unknown as Vm;
    const res = await create(marker, 'dryRun=All');
    assert.ok(res.status === 201 && isInjected(res.body), 'the marker went through our webhook');
    await waitFor(
      'the marker in the webhook log',
      async () => (reviewsOf(optedIn, marker.metadata.name!).length ? true : undefined),
      WAIT,
    );
    return reviewsOf(namespace, name);
  }

  before(async function () {
    this.timeout(240_000);
    cp = await controlPlane();
    kc = cp.kubeConfig();
    api = new ApiserverClient(cp);
    hook = await startWebhookProcess({
      ca: cp.ca,
      processes: cp.processes,
      name: WEBHOOK_PROCESS,
    });
    optedIn = await createNamespace(kc, 'inject', { [INJECT_LABEL]: 'enabled' });
    plain = await createNamespace(kc, 'plain');
    await registerWebhook(kc, registration());
    await untilInjecting();
  });

  after(async function () {
    this.timeout(60_000);
    if (kc) {
      await deleteConfiguration(EXTRA_CONFIGURATION);
      await deleteConfiguration(WEBHOOK_CONFIGURATION_NAME);
    }
    await hook?.stop();
    api?.close();
  });

  describe('a VM created in an opted-in namespace is stored as the engine computes it', () => {
    const cases = goldenCases();
    const outcome = (c: GoldenCase): string => engine(placed(c.input, 'elsewhere')).decision.outcome;

    it('covers the seed VMs and every golden case, injected or not', () => {
      const injected = cases.filter((c) => outcome(c) === 'injected').map((c) => c.name);
      assert.ok(injected.includes('seed-mongodb') && injected.includes('seed-nodejs'), injected.join());
      assert.ok(injected.length >= 15, `only ${injected.length} injected cases`);
      // Moved to another namespace, the case keeps its meaning (its own NAD is still found).
      assert.equal(outcome(cases.find((c) => c.name === 'already-has-network')!), 'skipped');
    });

    for (const c of cases) {
      it(`${c.name} (${outcome(c)})`, async () => {
        const sent = placed(c.input, optedIn);
        const expected = engine(sent);
        assert.equal(expected.decision.outcome, outcome(c));
        const res = await create(sent);
        assert.equal(res.status, 201, res.body.message);
        const name = res.body.metadata.name;
        assert.ok(name);
        const stored = withoutServerFields((await get(optedIn, name)).body);
        if (sent.metadata.name) {
          assert.deepEqual(stored, expected.vm);
        } else {
          // generateName: the apiserver names it, the webhook seeds MACs with the review's uid.
          assert.ok(name.startsWith(String(sent.metadata.generateName)));
          delete (stored.metadata as Obj).name;
          assert.deepEqual(maskDerived(stored), maskDerived(expected.vm));
          assert.notDeepEqual(stored, expected.vm, 'MACs should come from the admission uid');
        }
        assert.deepEqual(res.warnings, expected.warnings);
      });
    }
  });

  describe('stored untouched', () => {
    it('a VM in a namespace without the opt-in label', async () => {
      const seed = goldenCases().find((c) => c.name === 'seed-mongodb')!;
      const sent = placed(seed.input, plain, `mongodb-${suffix()}`);
      assert.equal(engine(sent).decision.outcome, 'injected', 'the engine alone would inject it');
      const res = await create(sent);
      assert.equal(res.status, 201, res.body.message);
      assert.deepEqual(withoutServerFields((await get(plain, sent.metadata.name!)).body), sent);
    });

    it('a VM labelled kubevirt-net-injector.io/inject=disabled in an opted-in namespace', async () => {
      const optOut = goldenCases().find((c) => c.name === 'opt-out')!;
      const sent = placed(optOut.input, optedIn, `optout-${suffix()}`);
      assert.equal(sent.metadata.labels?.[INJECT_LABEL], 'disabled');
      const res = await create(sent);
      assert.equal(res.status, 201, res.body.message);
      assert.deepEqual(withoutServerFields((await get(optedIn, sent.metadata.name!)).body), sent);
      // It did reach the webhook, which chose not to inject.
      const reviews = await flushedReviews(optedIn, sent.metadata.name!);
      assert.deepEqual(
        reviews.map((r) => [r.operation, r.decision]),
        [['CREATE', 'skipped']],
      );
    });
  });

  it('a server-side dry-run create returns the mutated VM and the warnings, and stores nothing', async () => {
    const configDrive = goldenCases().find((c) => c.name === 'config-drive')!;
    const sent = placed(configDrive.input, optedIn, `dryrun-${suffix()}`);
    const expected = engine(sent);
    assert.ok(expected.warnings.length > 0, 'the ConfigDrive case warns');
    const res = await create(sent, 'dryRun=All');
    assert.equal(res.status, 201, res.body.message);
    assert.deepEqual(withoutServerFields(res.body), expected.vm);
    assert.deepEqual(res.warnings, expected.warnings);
    const reviews = await flushedReviews(optedIn, sent.metadata.name!);
    assert.deepEqual(
      reviews.map((r) => [r.operation, r.dryRun, r.decision]),
      [['CREATE', true, 'injected']],
    );
    assert.equal((await get(optedIn, sent.metadata.name!)).status, 404);
  });

  describe('with a second mutating webhook after ours, both reinvocationPolicy IfNeeded', () => {
    let extra: Awaited<ReturnType<typeof startExtraWebhook>>;

    before(async () => {
      extra = await startExtraWebhook(cp);
      const body = mutatingWebhookConfiguration({
        url: extra.url,
        caPem: cp.caPem,
        name: EXTRA_CONFIGURATION,
      });
      body.webhooks![0]!.name = 'extra.example.com';
      assert.equal(body.webhooks![0]!.reinvocationPolicy, 'IfNeeded');
      assert.ok(EXTRA_CONFIGURATION > WEBHOOK_CONFIGURATION_NAME, 'configurations run in name order');
      await kc.makeApiClient(AdmissionregistrationV1Api).createMutatingWebhookConfiguration({ body });
      await until(
        'the extra webhook',
        (p) => p.injected && p.body.metadata.annotations?.[EXTRA_ANNOTATION] === 'yes',
      );
    });

    after(async () => {
      await deleteConfiguration(EXTRA_CONFIGURATION);
      await new Promise<void>((resolve) => extra.server.close(() => resolve()));
      await until(
        'the extra webhook gone',
        (p) => p.injected && !p.body.metadata.annotations?.[EXTRA_ANNOTATION],
      );
    });

    it('ours is called again after the extra one, and nothing is duplicated', async () => {
      const seed = goldenCases().find((c) => c.name === 'seed-mongodb')!;
      const sent = placed(seed.input, optedIn, `reinvoked-${suffix()}`);
      const once = engine(sent);
      assert.deepEqual(engine(once.vm as unknown as Vm).patch, [], 'the engine is idempotent');
      const res = await create(sent);
      assert.equal(res.status, 201, res.body.message);
      const stored = (await get(optedIn, sent.metadata.name!)).body;

      // Ours ran twice (the reinvocation), the extra one once (ours changed nothing the second time).
      const reviews = await flushedReviews(optedIn, sent.metadata.name!);
      assert.deepEqual(
        reviews.map((r) => r.operation),
        ['CREATE', 'CREATE'],
      );
      assert.equal(extra.calls.get(sent.metadata.name!), 1);

      const spec = stored.spec.template.spec;
      assert.deepEqual(networkNames(stored), ['default', 'l2']);
      assert.deepEqual(
        spec.domain.devices.interfaces?.map((i) => i.name),
        ['default', 'l2'],
      );
      const userData = userDataText(stored);
      assert.equal(userDataText(once.vm as unknown as Vm), userData);
      assert.equal(
        userData.match(/filename="kubevirt-net-injector\.cfg"/g)?.length,
        1,
        'our cloud-config part once',
      );
      assert.equal(userData.match(/multipart\/mixed/g)?.length, 1, 'wrapped once');
      assert.equal(userData.match(/mongodb-user-data-ran/g)?.length, 1, "the user's part once");
      const want = clone(once.vm) as unknown as Vm;
      want.metadata.annotations = { ...want.metadata.annotations, [EXTRA_ANNOTATION]: 'yes' };
      assert.deepEqual(withoutServerFields(stored), want);
    });
  });

  describe('with our webhook down', () => {
    let closedUrl: string;

    before(async () => {
      closedUrl = `https://127.0.0.1:${await freePort()}/mutate`;
    });

    after(async () => {
      await registerWebhook(kc, registration());
      await untilInjecting();
    });

    const seedVm = (namespace: string, prefix: string): Vm =>
      placed(goldenCases().find((c) => c.name === 'seed-mongodb')!.input, namespace, `${prefix}-${suffix()}`);

    it('failurePolicy Fail: creates in opted-in namespaces fail with a clear error, others succeed', async () => {
      await registerWebhook(kc, registration({ url: closedUrl, failurePolicy: 'Fail' }));
      await until('creates to fail', (p) => p.status >= 500);

      const refused = seedVm(optedIn, 'fail');
      const res = await create(refused);
      assert.equal(res.status, 500);
      assert.match(res.body.message ?? '', /failed calling webhook "vm\.kubevirt-net-injector\.io"/);
      assert.match(res.body.message ?? '', /connection refused/);
      assert.equal((await get(optedIn, refused.metadata.name!)).status, 404);

      const elsewhere = seedVm(plain, 'fail');
      const ok = await create(elsewhere);
      assert.equal(ok.status, 201, ok.body.message);
      assert.deepEqual(withoutServerFields((await get(plain, elsewhere.metadata.name!)).body), elsewhere);
    });

    it('failurePolicy Ignore: every create succeeds, the opted-in one without injection', async () => {
      await registerWebhook(kc, registration({ url: closedUrl, failurePolicy: 'Ignore' }));
      await until('creates to pass uninjected', (p) => p.status === 201 && !p.injected);

      for (const namespace of [optedIn, plain]) {
        const sent = seedVm(namespace, 'ignore');
        const res = await create(sent);
        assert.equal(res.status, 201, res.body.message);
        assert.deepEqual(withoutServerFields((await get(namespace, sent.metadata.name!)).body), sent);
      }
    });
  });

  describe('registered for CREATE only', () => {
    let legacy: Vm;

    /** A dry-run update of the legacy VM (a new label): did it come back injected? */
    async function updateProbe(): Promise<boolean | undefined> {
      const current = (await get(optedIn, legacy.metadata.name!)).body;
      current.metadata.labels = { ...current.metadata.labels, probe: suffix() };
      const res = await api.request<Vm>('PUT', vmPath(optedIn, legacy.metadata.name, 'dryRun=All'), current);
      return res.status === 200 ? isInjected(res.body) : undefined;
    }

    before(async () => {
      await deleteConfiguration(WEBHOOK_CONFIGURATION_NAME);
      await until('no webhook', (p) => p.status === 201 && !p.injected);
      legacy = placed(
        goldenCases().find((c) => c.name === 'seed-nodejs')!.input,
        optedIn,
        `legacy-${suffix()}`,
      );
      const res = await create(legacy);
      assert.equal(res.status, 201, res.body.message);
      assert.ok(!isInjected(res.body));
    });

    after(async () => {
      await registerWebhook(kc, registration());
      await untilInjecting();
    });

    it('the harness registers CREATE only, and an update of an un-injected VM is stored without injection', async () => {
      await registerWebhook(kc, registration());
      const read = await kc
        .makeApiClient(AdmissionregistrationV1Api)
        .readMutatingWebhookConfiguration({ name: WEBHOOK_CONFIGURATION_NAME });
      assert.deepEqual(read.webhooks?.[0]?.rules?.[0]?.operations, ['CREATE']);
      await untilInjecting();

      const current = (await get(optedIn, legacy.metadata.name!)).body;
      current.metadata.labels = { ...current.metadata.labels, touched: 'yes' };
      const res = await api.request<Vm & Status>('PUT', vmPath(optedIn, legacy.metadata.name), current);
      assert.equal(res.status, 200, res.body.message);
      const stored = (await get(optedIn, legacy.metadata.name!)).body;
      assert.equal(stored.metadata.labels?.touched, 'yes');
      assert.deepEqual(stored.spec, legacy.spec);
      assert.equal(stored.metadata.annotations?.[STATUS_ANNOTATION], undefined);
      assert.deepEqual(await flushedReviews(optedIn, legacy.metadata.name!), []);
    });

    it('(control) the same update would be injected if UPDATE were registered', async () => {
      await registerWebhook(kc, registration({ operations: ['CREATE', 'UPDATE'] }));
      assert.equal(
        await waitFor('injection on update', async () => ((await updateProbe()) ? true : undefined), WAIT),
        true,
      );
    });
  });
});
