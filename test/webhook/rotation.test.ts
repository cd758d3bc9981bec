// Certificate rotation under load: files rewritten one after the other (as some tools do)
// while new connections keep arriving; no request fails, and the new certificate is served.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { startHarness, type Harness } from './harness.js';
import { loadVm, makeCert, review, send, type CertFiles } from './support.js';

function servedFingerprint(port: number, ca: Buffer[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca }, () => {
      const fp = socket.getPeerCertificate().fingerprint256;
      socket.end();
      resolve(fp);
    });
    socket.on('error', reject);
  });
}

const fingerprint = (c: CertFiles) => new X509Certificate(c.cert).fingerprint256;

async function until(what: string, check: () => Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await sleep(25);
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('webhook over HTTPS: certificate rotation', () => {
  let h: Harness;
  let next: CertFiles[];
  before(async () => {
    h = await startHarness({ certPollMs: 200 });
    next = [makeCert(h.dir, 'second'), makeCert(h.dir, 'third')];
  });
  after(async () => {
    await h.webhook.stop(1000);
    rmSync(h.dir, { recursive: true, force: true });
  });

  it('rotates under load with zero failed requests and serves the new certificate', async () => {
    const ca = [h.certs.cert, ...next.map((c) => c.cert)];
    const body = JSON.stringify(review(loadVm(), { uid: 'rotation' }));
    let running = true;
    let ok = 0;
    const failures: string[] = [];
    const worker = async (keepAlive: boolean) => {
      // Half the workers open a new TLS connection per request (a handshake each), half reuse one.
      const { Agent } = await import('node:https');
      const agent = keepAlive ? new Agent({ keepAlive: true, maxSockets: 1 }) : false;
      while (running) {
        try {
          const r = await send(h.port, body, { ca, agent });
          if (r.status === 200 && (r.json().response as { allowed: boolean }).allowed) ok++;
          else failures.push(`status ${r.status}`);
        } catch (err) {
          failures.push((err as Error).message);
        }
      }
      if (agent) agent.destroy();
    };
    const load = Promise.all([worker(false), worker(false), worker(true), worker(true)]);

    await sleep(200);
    // Second pair: key first, then the certificate, with a gap (a mismatched pair in between).
    writeFileSync(h.certs.keyFile, next[0]!.key);
    await sleep(60);
    writeFileSync(h.certs.certFile, next[0]!.cert);
    await until(
      'the second certificate',
      async () => (await servedFingerprint(h.port, ca)) === fingerprint(next[0]!),
    );
    const midway = ok;
    // Third pair: certificate first this time.
    writeFileSync(h.certs.certFile, next[1]!.cert);
    await sleep(60);
    writeFileSync(h.certs.keyFile, next[1]!.key);
    await until(
      'the third certificate',
      async () => (await servedFingerprint(h.port, ca)) === fingerprint(next[1]!),
    );
    await sleep(200);
    running = false;
    await load;

    assert.deepEqual(failures, []);
    assert.ok(midway > 10 && ok > midway, `too little load to mean anything: ${midway} then ${ok} requests`);
    assert.equal(await servedFingerprint(h.port, [next[1]!.cert]), fingerprint(next[1]!));
  });

  it('keeps serving the current certificate when the new files are unusable', async () => {
    const current = await servedFingerprint(h.port, [next[1]!.cert]);
    writeFileSync(h.certs.certFile, 'not a certificate');
    assert.equal(await h.webhook.certs.check(), false);
    assert.equal(await servedFingerprint(h.port, [next[1]!.cert]), current);
    writeFileSync(h.certs.certFile, next[1]!.cert);
    const r = await send(h.port, JSON.stringify(review(loadVm())), { ca: [next[1]!.cert], agent: false });
    assert.equal(r.status, 200);
  });
});
