// Faults of the webhook behind the real kube-apiserver, under a steady load of VM creates: two
// replicas behind a round-robin balancer (a Service's stand-in, test/harness/balancer.ts).
// - One replica killed: creates fail only in the opted-in namespace, only with the webhook-call
//   error failurePolicy Fail gives (Ignore: none fail), and all succeed again once it is back.
// - The serving certificate rotated on both replicas while the load runs: no create fails, and
//   new connections get the new certificate.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { renameSync, writeFileSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect } from 'node:tls';

import { AdmissionregistrationV1Api, type KubeConfig } from '@kubernetes/client-node';

import { ApiserverClient, vmPath } from '../../bench/apiserver/client.js';
import {
  INJECT_LABEL,
  issue,
  registerWebhook,
  startBalancer,
  startWebhookProcess,
  waitFor,
  webhookHealthy,
  WEBHOOK_CONFIGURATION_NAME,
  type Balancer,
  type ControlPlane,
  type WebhookProcess,
} from '../harness/index.js';
import { createNamespace, virtualMachine } from './kube.js';
import { controlPlane } from './setup.js';

/** After the replica is healthy again, every create succeeds within this long. */
const RECOVERY_MS = 5000;

interface Outcome {
  at: number;
  namespace: 'opted' | 'plain';
  status: number;
  message: string;
  injected: boolean;
}

describe('webhook faults behind the real kube-apiserver, under load', function () {
  this.timeout(240_000);
  let cp: ControlPlane;
  let kc: KubeConfig;
  let api: ApiserverClient;
  let lb: Balancer;
  const replicas: WebhookProcess[] = [];
  let opted: string;
  let plain: string;

  before(async function () {
    this.timeout(240_000);
    cp = await controlPlane();
    kc = cp.kubeConfig();
    api = new ApiserverClient(cp);
    for (const name of ['replica-a', 'replica-b']) {
      replicas.push(await startWebhookProcess({ ca: cp.ca, processes: cp.processes, name }));
    }
    lb = await startBalancer(replicas.map((r) => r.port));
    opted = await createNamespace(kc, 'faults-opted', { [INJECT_LABEL]: 'enabled' });
    plain = await createNamespace(kc, 'faults-plain');
  });

  after(async () => {
    await kc
      .makeApiClient(AdmissionregistrationV1Api)
      .deleteMutatingWebhookConfiguration({ name: WEBHOOK_CONFIGURATION_NAME })
      .catch(() => undefined);
    api?.close();
    await lb?.close();
    for (const r of replicas) await r.stop();
  });

  let serial = 0;
  async function createIn(which: 'opted' | 'plain'): Promise<Outcome> {
    const ns = which === 'opted' ? opted : plain;
    const vm = virtualMachine(ns, `load-${serial++}`);
    const res = await api.request<{
      message?: string;
      spec?: { template?: { spec?: { networks?: unknown[] } } };
    }>('POST', vmPath(ns), vm);
    return {
      at: performance.now(),
      namespace: which,
      status: res.status,
      message: res.body.message ?? '',
      injected: (res.body.spec?.template?.spec?.networks ?? []).length > 0,
    };
  }

  /** Creates in both namespaces, 4 at a time, until `stop()` is true. */
  async function loadUntil(stop: () => boolean): Promise<Outcome[]> {
    const out: Outcome[] = [];
    const worker = async (i: number) => {
      while (!stop()) out.push(await createIn(i % 2 === 0 ? 'opted' : 'plain'));
    };
    await Promise.all([0, 1, 2, 3].map(worker));
    return out;
  }

  async function register(failurePolicy: 'Fail' | 'Ignore'): Promise<void> {
    await registerWebhook(kc, {
      url: `https://127.0.0.1:${lb.port}/mutate`,
      caPem: cp.ca.pem,
      failurePolicy,
    });
    await waitFor(
      'injection through the balancer',
      async () => ((await createIn('opted')).injected ? true : undefined),
      {
        timeoutMs: 30_000,
      },
    );
  }

  /** Kills replica b under load, brings it back on its port; returns the outcomes by phase. */
  async function killAndReturn(): Promise<{
    before: Outcome[];
    down: Outcome[];
    after: Outcome[];
    backAt: number;
  }> {
    let phase = 0;
    let backAt = Infinity;
    const running = loadUntil(() => phase === 3);
    await sleep(3000);
    const killedAt = performance.now();
    phase = 1;
    process.kill(replicas[1]!.process.pid, 'SIGKILL');
    await replicas[1]!.process.exited;
    await sleep(3000);
    replicas[1] = await startWebhookProcess({
      ca: cp.ca,
      processes: cp.processes,
      name: 'replica-b',
      port: replicas[1]!.port,
    });
    backAt = performance.now();
    phase = 2;
    await sleep(RECOVERY_MS + 3000);
    phase = 3;
    const all = await running;
    return {
      before: all.filter((o) => o.at < killedAt),
      down: all.filter((o) => o.at >= killedAt && o.at < backAt + RECOVERY_MS),
      after: all.filter((o) => o.at >= backAt + RECOVERY_MS),
      backAt,
    };
  }

  const failures = (os: Outcome[]) => os.filter((o) => o.status !== 201);

  it('failurePolicy Fail: a killed replica fails opted-in creates only, with the webhook error; then all recover', async () => {
    await register('Fail');
    const { before, down, after } = await killAndReturn();
    assert.deepEqual(failures(before), [], 'failures with both replicas up');
    assert.deepEqual(
      failures([...before, ...down, ...after].filter((o) => o.namespace === 'plain')),
      [],
      'a namespace that did not opt in never fails',
    );
    for (const f of failures(down)) {
      assert.equal(f.namespace, 'opted');
      assert.match(f.message, /failed calling webhook "vm\.kubevirt-net-injector\.io"/, f.message);
    }
    assert.ok(after.length > 20, `${after.length} creates after recovery`);
    assert.deepEqual(failures(after), [], `failures ${RECOVERY_MS} ms after the replica returned`);
    assert.ok(after.filter((o) => o.namespace === 'opted').every((o) => o.injected));
    console.log(
      `      Fail: ${before.length} creates before, ${down.length} while down (${failures(down).length} failed, opted-in only), ${after.length} after, none failed`,
    );
  });

  it('failurePolicy Ignore: a killed replica fails nothing; creates it missed go in uninjected', async () => {
    await register('Ignore');
    const { before, down, after } = await killAndReturn();
    assert.deepEqual(failures([...before, ...down, ...after]), []);
    assert.ok(
      after.filter((o) => o.namespace === 'opted').every((o) => o.injected),
      'injected again after recovery',
    );
    const missed = down.filter((o) => o.namespace === 'opted' && !o.injected).length;
    console.log(`      Ignore: ${down.length} creates while down, ${missed} went in uninjected, none failed`);
  });

  it('a serving certificate rotated on both replicas while the load runs fails no create', async () => {
    await register('Fail');
    const fingerprint = (port: number) =>
      new Promise<string>((resolve, reject) => {
        const s = connect({ host: '127.0.0.1', port, ca: cp.ca.pem }, () => {
          const fp = s.getPeerCertificate().fingerprint256;
          s.end();
          resolve(fp);
        });
        s.on('error', reject);
      });
    const old = await Promise.all(replicas.map((r) => fingerprint(r.port)));
    let done = false;
    const running = loadUntil(() => done);
    await sleep(2000);
    for (const [i, r] of replicas.entries()) {
      const next = issue(cp.ca, {
        stem: `rotated-${i}`,
        commonName: 'kubevirt-net-injector-webhook',
        usage: 'server',
        ipSans: ['127.0.0.1'],
      });
      // As a Secret volume or cert-manager would: each file replaced whole (key first).
      for (const [from, to] of [
        [next.key, r.serving.key],
        [next.cert, r.serving.cert],
      ] as const) {
        writeFileSync(`${to}.new`, readFileSync(from));
        renameSync(`${to}.new`, to);
      }
    }
    const rotated = await Promise.all(
      replicas.map((r, i) =>
        waitFor(
          'the new certificate served',
          async () => {
            const fp = await fingerprint(r.port);
            return fp !== old[i] ? fp : undefined;
          },
          { timeoutMs: 15_000 },
        ),
      ),
    );
    await sleep(2000);
    done = true;
    const all = await running;
    assert.deepEqual(failures(all), [], 'creates failed during the rotation');
    for (const [i, r] of replicas.entries()) {
      assert.equal(rotated[i], new X509Certificate(readFileSync(r.serving.cert)).fingerprint256);
      assert.ok(await webhookHealthy(r.url, cp.ca.pem));
    }
    console.log(`      rotation: ${all.length} creates, none failed`);
  });
});
