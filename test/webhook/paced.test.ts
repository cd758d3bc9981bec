// The benchmark's fixed-rate load generator (bench/admission/paced.ts) against a local HTTPS
// server that records when each request arrives: the requests must come evenly spread over
// time, not as each second's budget sent at once, and every answered request in the window
// must be timed.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { paced } from '../../bench/admission/paced.js';
import { makeCert } from './support.js';

describe('bench: the paced load generator', () => {
  let dir: string;
  let server: Server;
  let port: number;
  const arrivals: number[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'paced-'));
    const { certFile, keyFile } = makeCert(dir);
    server = createServer({ cert: readFileSync(certFile), key: readFileSync(keyFile) }, (req, res) => {
      arrivals.push(performance.now());
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        // Odd requests (body b) are refused: counted as failures, not timed.
        const refuse = Buffer.concat(chunks).toString() === '{"b":2}';
        res.writeHead(refuse ? 500 : 200).end('{}');
      });
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    port = (server.address() as AddressInfo).port;
  });

  after(() => {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('sends at an even rate and times every answered request in the window', async () => {
    const rate = 200;
    const opened: number[] = [];
    const result = await paced({
      port,
      path: '/mutate',
      bodies: [Buffer.from('{"a":1}'), Buffer.from('{"b":2}')],
      rate,
      connections: 4,
      rampSeconds: 0.5,
      seconds: 1,
      onWindowOpen: () => opened.push(performance.now()),
    });
    assert.equal(arrivals.length, 300, 'every due request is sent');
    assert.equal(result.failures, 150, 'refused answers are failures');
    assert.equal(opened.length, 1, 'the window opens once');
    // The window holds requests 100..299, of which the even ones were answered 200.
    assert.equal(result.samples.length, 100);
    assert.ok(result.samples.every((ms) => ms > 0 && ms < 1000));
    assert.deepEqual(
      result.samples,
      [...result.samples].sort((a, b) => a - b),
      'samples are sorted',
    );
    // Evenly paced: no 100 ms holds more than twice its share (20 requests at 200/s); a
    // generator that sent each second's budget at once would put 200 in the first 100 ms.
    const first = arrivals[0]!;
    for (let from = 0; from < 1500; from += 50) {
      const inWindow = arrivals.filter((t) => t - first >= from && t - first < from + 100).length;
      assert.ok(inWindow <= 40, `${inWindow} requests arrived within 100 ms from +${from} ms`);
    }
    const span = arrivals[arrivals.length - 1]! - first;
    assert.ok(span > 1300, `300 requests at 200/s span about 1.5 s, got ${span.toFixed(0)} ms`);
  });
});
