// Hostile input: each gets a clear 4xx (or a refusing AdmissionReview) within a second, and
// the server stays healthy afterwards.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { request } from 'node:https';
import { connect, type SecureVersion } from 'node:tls';
import { startHarness, type Harness } from './harness.js';
import { loadVm, review, send, type Reply } from './support.js';

const HANG_GUARD_MS = 1000;

describe('webhook over HTTPS: hostile input', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ limits: { maxBodyBytes: 64 * 1024 } });
  });
  after(async () => {
    await h.webhook.stop(1000);
    rmSync(h.dir, { recursive: true, force: true });
  });
  afterEach(async () => {
    const health = await send(h.port, undefined, { ca: h.certs.cert, method: 'GET', path: '/healthz' });
    assert.equal(health.status, 200, 'server unhealthy after the hostile request');
    const ok = await send(h.port, JSON.stringify(review(loadVm(), { uid: 'after' })), { ca: h.certs.cert });
    assert.equal(
      (ok.json().response as { allowed: boolean }).allowed,
      true,
      'a good review failed afterwards',
    );
  });

  async function timed(run: () => Promise<Reply>): Promise<Reply> {
    let timer: NodeJS.Timeout | undefined;
    const guard = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${HANG_GUARD_MS} ms`)), HANG_GUARD_MS);
    });
    try {
      return await Promise.race([run(), guard]);
    } finally {
      clearTimeout(timer);
    }
  }
  const post = (body: string | Buffer, headers: Record<string, string | number> = {}) =>
    timed(() => send(h.port, body, { ca: h.certs.cert, headers }));
  const message = (r: Reply) => (r.json() as { message: string }).message;

  it('refuses TLS below 1.2 and speaks TLS 1.2 and 1.3', async () => {
    const handshake = (opts: { minVersion?: SecureVersion; maxVersion?: SecureVersion }) =>
      new Promise<string>((resolve, reject) => {
        const socket = connect({ host: '127.0.0.1', port: h.port, ca: h.certs.cert, ...opts }, () => {
          const version = socket.getProtocol() ?? '';
          socket.end();
          resolve(version);
        });
        socket.on('error', reject);
      });
    await assert.rejects(handshake({ minVersion: 'TLSv1', maxVersion: 'TLSv1.1' }));
    assert.equal(await handshake({ maxVersion: 'TLSv1.2' }), 'TLSv1.2');
    assert.equal(await handshake({ minVersion: 'TLSv1.3' }), 'TLSv1.3');
  });

  it('malformed JSON: 400', async () => {
    const r = await post('{"apiVersion": "admission.k8s.io/v1", ');
    assert.equal(r.status, 400);
    assert.match(message(r), /not valid JSON/);
  });

  it('empty body: 400', async () => {
    const r = await post('');
    assert.equal(r.status, 400);
    assert.match(message(r), /empty/);
  });

  it('oversized body announced by Content-Length: 413', async () => {
    const r = await post(Buffer.alloc(200 * 1024, 0x20));
    assert.equal(r.status, 413);
  });

  it('oversized chunked body (no Content-Length): 413', async () => {
    const r = await timed(
      () =>
        new Promise<Reply>((resolve, reject) => {
          const req = request(
            {
              host: '127.0.0.1',
              port: h.port,
              method: 'POST',
              path: '/mutate',
              ca: h.certs.cert,
              agent: false,
              headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
            },
            (res) => {
              res.resume();
              resolve({ status: res.statusCode ?? 0, headers: res.headers, body: '', json: () => ({}) });
            },
          );
          req.on('error', reject);
          const chunk = Buffer.alloc(16 * 1024, 0x20);
          let sent = 0;
          const pump = () => {
            while (sent < 40 && req.write(chunk)) sent++;
            if (sent < 40) req.once('drain', pump);
            else req.end();
          };
          pump();
        }),
    );
    assert.equal(r.status, 413);
  });

  it('deeply nested JSON: 400', async () => {
    const depth = 20_000;
    const r = await post('['.repeat(depth) + ']'.repeat(depth));
    assert.equal(r.status, 400);
    assert.match(message(r), /deeper/);
  });

  it('a VM nested deeply inside the review: 400', async () => {
    let nested: unknown = {};
    for (let i = 0; i < 100; i++) nested = { a: nested };
    const vm = loadVm();
    (vm.metadata as Record<string, unknown>).extra = nested;
    const r = await post(JSON.stringify(review(vm)));
    assert.equal(r.status, 400);
  });

  for (const type of ['text/plain', undefined]) {
    it(`content type ${type ?? '(none)'}: 415`, async () => {
      const r = await timed(() =>
        send(h.port, JSON.stringify(review(loadVm())), {
          ca: h.certs.cert,
          headers: type ? { 'content-type': type } : { 'content-type': '' },
        }),
      );
      assert.equal(r.status, 415);
    });
  }

  it('a review without request: 400 with a message', async () => {
    const r = await post(JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }));
    assert.equal(r.status, 400);
    assert.match(message(r), /no request/);
  });

  it('a review of the wrong apiVersion or kind: 400', async () => {
    const body = review(loadVm());
    const r1 = await post(JSON.stringify({ ...body, apiVersion: 'admission.k8s.io/v1beta1' }));
    assert.equal(r1.status, 400);
    assert.match(message(r1), /apiVersion/);
    const r2 = await post(JSON.stringify({ ...body, kind: 'Pod' }));
    assert.equal(r2.status, 400);
    assert.match(message(r2), /kind/);
  });

  for (const [what, object] of [
    ['a string', 'not a vm'],
    ['an array', [1, 2, 3]],
    ['null', null],
    [
      'spec of the wrong type',
      { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', metadata: { name: 'x' }, spec: 7 },
    ],
  ] as const) {
    it(`an object that is ${what}: a refusing AdmissionReview carrying the uid`, async () => {
      const r = await post(JSON.stringify(review(object, { uid: 'bad-object' })));
      assert.equal(r.status, 200);
      const response = r.json().response as {
        uid: string;
        allowed: boolean;
        status: { code: number; message: string };
      };
      assert.equal(response.uid, 'bad-object');
      assert.equal(response.allowed, false);
      assert.equal(response.status.code, 400);
      assert.ok(response.status.message.length > 0);
    });
  }
});
