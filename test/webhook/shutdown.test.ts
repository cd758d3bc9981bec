// The real CLI: on SIGTERM it stops accepting, finishes the review in flight and exits 0.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { connect, type TLSSocket } from 'node:tls';
import { loadVm, makeCert, MAIN, review, send, startCli, tempDir } from './support.js';

describe('webhook CLI: graceful shutdown', () => {
  const dir = tempDir();
  const certs = makeCert(dir);
  after(() => rmSync(dir, { recursive: true, force: true }));

  const serveArgs = [
    '--tls-cert',
    certs.certFile,
    '--tls-key',
    certs.keyFile,
    '--port',
    '0',
    '--bind-address',
    '127.0.0.1',
    '--network',
    'ovs-net-br1',
  ];

  it('drains a review in flight on SIGTERM, refuses new connections, and exits 0', async () => {
    const { child, port } = await startCli(serveArgs);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    // Sanity: it serves.
    assert.equal(
      (await send(port, JSON.stringify(review(loadVm())), { ca: certs.cert, agent: false })).status,
      200,
    );

    // A request in flight: headers and half the body sent, the rest after SIGTERM.
    const body = Buffer.from(JSON.stringify(review(loadVm(), { uid: 'in-flight' })));
    const socket: TLSSocket = await new Promise((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port, ca: certs.cert }, () => resolve(s));
      s.on('error', reject);
    });
    let answer = '';
    socket.on('data', (d: Buffer) => (answer += d.toString()));
    const closed = new Promise((resolve) => socket.on('close', resolve));
    socket.write(
      `POST /mutate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`,
    );
    socket.write(body.subarray(0, 100));
    await new Promise((r) => setTimeout(r, 100));

    child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    await assert.rejects(
      send(port, JSON.stringify(review(loadVm())), { ca: certs.cert, agent: false }),
      /ECONNREFUSED/,
    );
    assert.equal(child.exitCode, null, 'exited with a review in flight');

    socket.write(body.subarray(100));
    await closed;
    assert.match(answer, /^HTTP\/1\.1 200 /);
    const json = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as {
      response: { uid: string; allowed: boolean };
    };
    assert.equal(json.response.uid, 'in-flight');
    assert.equal(json.response.allowed, true);
    assert.equal(await exited, 0);
  });

  it('prints --help and exits 0; refuses bad flags with 2', async () => {
    const run = (args: string[]) =>
      new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
        const child = spawn(process.execPath, [MAIN, 'webhook', ...args]);
        let out = '';
        let err = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.stderr.on('data', (d: Buffer) => (err += d.toString()));
        child.on('exit', (code) => resolve({ code, out, err }));
      });
    const help = await run(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.out, /--tls-cert FILE/);
    const bad = await run(['--tls-cert', 'a', '--tls-key', 'b']);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /--network is required/);
  });
});
