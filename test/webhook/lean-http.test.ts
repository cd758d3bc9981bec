// The lean HTTP path (src/webhook/lean-http.ts) over real TLS, with exact bytes on the wire:
// what it answers itself, what it hands to node's HTTP server, and its timeouts.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { connect, type TLSSocket } from 'node:tls';
import { parseHead, requestLine } from '../../src/webhook/lean-http.js';
import { startHarness, type Harness } from './harness.js';
import { loadVm, patchOf, review } from './support.js';

interface Response {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** A TLS connection that collects the HTTP responses it reads, in order. */
class Wire {
  readonly responses: Response[] = [];
  ended = false;
  private buf = Buffer.alloc(0);
  private waiters: (() => void)[] = [];

  constructor(readonly socket: TLSSocket) {
    socket.on('data', (chunk: Buffer) => {
      this.buf = Buffer.concat([this.buf, chunk]);
      this.parse();
    });
    socket.on('close', () => {
      this.ended = true;
      this.wake();
    });
    socket.on('error', () => {});
  }

  static open(h: Harness): Promise<Wire> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port: h.port, ca: h.certs.cert }, () =>
        resolve(new Wire(socket)),
      );
      socket.once('error', reject);
    });
  }

  write(bytes: string | Buffer): void {
    this.socket.write(bytes);
  }

  /** Resolves once `count` responses are in, or the connection closed (then with fewer). */
  async until(count: number, ms = 3000): Promise<Response[]> {
    const deadline = Date.now() + ms;
    while (this.responses.length < count && !this.ended) {
      if (Date.now() > deadline) throw new Error(`only ${this.responses.length} of ${count} responses`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
    return this.responses;
  }

  async closed(ms = 3000): Promise<void> {
    await this.until(Number.MAX_SAFE_INTEGER, ms);
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  private parse(): void {
    for (;;) {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const [statusLine, ...lines] = this.buf.toString('latin1', 0, end).split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
      }
      const length = Number(headers['content-length'] ?? 0);
      if (this.buf.length < end + 4 + length) return;
      this.responses.push({
        status: Number(statusLine!.split(' ')[1]),
        headers,
        body: this.buf.toString('utf8', end + 4, end + 4 + length),
      });
      this.buf = this.buf.subarray(end + 4 + length);
      this.wake();
    }
  }
}

/** A POST /mutate request as Go's net/http writes it for the apiserver. */
function admission(uid: string, extra = '', path = '/mutate?timeout=10s'): string {
  const body = JSON.stringify(review(loadVm(), { uid }));
  return (
    `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: kube-apiserver-admission\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\nAccept: application/json, */*\r\n` +
    `Content-Type: application/json\r\n${extra}Accept-Encoding: gzip\r\n\r\n${body}`
  );
}

const uidOf = (r: Response) => (JSON.parse(r.body) as { response: { uid: string } }).response.uid;

describe('lean HTTP path: the request head', () => {
  const line = requestLine('/mutate');
  const head = (lines: string[]) => parseHead(lines.join('\r\n'), line, 1000);
  const usual = ['POST /mutate HTTP/1.1', 'Host: x', 'Content-Type: application/json', 'Content-Length: 10'];

  it('reads the usual head, any letter case, with a query, and Connection: close', () => {
    assert.deepEqual(head(usual), { length: 10, close: false });
    assert.deepEqual(
      head([
        'POST /mutate?timeout=10s HTTP/1.1',
        'HOST: x',
        'content-type: Application/JSON; charset=utf-8',
        'content-length:10',
      ]),
      { length: 10, close: false },
    );
    assert.deepEqual(head([...usual, 'Connection: keep-alive, close']), { length: 10, close: true });
  });

  const others: [string, string[]][] = [
    ['another path', ['POST /mutatex HTTP/1.1', ...usual.slice(1)]],
    ['another method', ['PUT /mutate HTTP/1.1', ...usual.slice(1)]],
    ['HTTP/1.0', ['POST /mutate HTTP/1.0', ...usual.slice(1)]],
    ['no Host', usual.filter((l) => !l.startsWith('Host'))],
    ['two Hosts', [...usual, 'Host: y']],
    ['no Content-Length', usual.slice(0, 3)],
    ['two Content-Lengths', [...usual, 'Content-Length: 10']],
    ['a Content-Length that is not a number', [...usual.slice(0, 3), 'Content-Length: 1e1']],
    ['an empty body', [...usual.slice(0, 3), 'Content-Length: 0']],
    ['a body over the cap', [...usual.slice(0, 3), 'Content-Length: 1001']],
    ['another content type', [...usual.slice(0, 2), 'Content-Type: text/plain', usual[3]!]],
    ['Transfer-Encoding', [...usual, 'Transfer-Encoding: chunked']],
    ['Expect', [...usual, 'Expect: 100-continue']],
    ['Upgrade', [...usual, 'Upgrade: h2c']],
    ['a folded header line', [...usual, 'X-A: b', ' c']],
    ['a control character in a value', [...usual, 'X-A: b\x01']],
    ['a header name that is not a token', [...usual, 'X A: b']],
  ];
  for (const [what, lines] of others) {
    it(`leaves ${what} to node's server`, () => assert.equal(head(lines), undefined));
  }
});

for (const workers of [0, 1]) {
  describe(`lean HTTP path over TLS${workers ? ' (review worker thread)' : ''}`, () => {
    let h: Harness;
    const wires: Wire[] = [];
    const open = async () => {
      const w = await Wire.open(h);
      wires.push(w);
      return w;
    };
    before(async () => {
      h = await startHarness({
        workers,
        workerWhenIdle: true,
        keepAliveTimeoutMs: 1500,
        headersTimeoutMs: 300,
        requestTimeoutMs: 600,
      });
    });
    afterEach(() => {
      for (const w of wires.splice(0)) w.socket.destroy();
    });
    after(async () => {
      await h.webhook.stop(1000);
      rmSync(h.dir, { recursive: true, force: true });
    });

    it("answers the apiserver's request with the patch, and pipelined ones in order", async () => {
      const w = await open();
      w.write(admission('a') + admission('b') + admission('c'));
      const [a, b, c] = await w.until(3);
      assert.deepEqual(
        [a, b, c].map((r) => r!.status),
        [200, 200, 200],
      );
      assert.deepEqual(
        [a, b, c].map((r) => uidOf(r!)),
        ['a', 'b', 'c'],
      );
      assert.equal(a!.headers['content-type'], 'application/json');
      assert.ok(a!.headers['date'], 'no Date header');
      assert.ok(patchOf(JSON.parse(a!.body) as Record<string, unknown>).length > 0, 'no patch');
      assert.equal(w.ended, false, 'the connection was not kept alive');
    });

    it('reads a request that arrives in pieces', async () => {
      const w = await open();
      const bytes = Buffer.from(admission('pieces'));
      for (const [from, to] of [
        [0, 7],
        [7, 60],
        [60, 300],
        [300, 301],
        [301, bytes.length],
      ] as const) {
        w.write(bytes.subarray(from, to));
        await new Promise((r) => setTimeout(r, 20));
      }
      const [r] = await w.until(1);
      assert.equal(uidOf(r!), 'pieces');
    });

    it("hands the connection to node's server at the first other request, bytes and all", async () => {
      const w = await open();
      const chunked = JSON.stringify(review(loadVm(), { uid: 'chunked' }));
      w.write(
        admission('before') +
          'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n' +
          `POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n` +
          `${Buffer.byteLength(chunked).toString(16)}\r\n${chunked}\r\n0\r\n\r\n` +
          admission('after'),
      );
      const [before, health, viaNode, after] = await w.until(4);
      assert.equal(uidOf(before!), 'before');
      assert.equal(health!.status, 200);
      assert.equal(health!.body.trim(), 'ok');
      assert.equal(uidOf(viaNode!), 'chunked');
      assert.ok(patchOf(JSON.parse(viaNode!.body) as Record<string, unknown>).length > 0);
      assert.equal(uidOf(after!), 'after');
    });

    it("leaves headers over node's limit to node, which answers 431, whole or not", async () => {
      const big = `X-Big: ${'b'.repeat(20 * 1024)}`;
      for (const request of [admission('big', `${big}\r\n`), `POST /mutate HTTP/1.1\r\nHost: x\r\n${big}`]) {
        const w = await open();
        w.write(request);
        const [r] = await w.until(1);
        assert.equal(r?.status, 431);
      }
    });

    it('closes after answering a request that asks to', async () => {
      const w = await open();
      w.write(admission('last', 'Connection: close\r\n'));
      await w.closed();
      assert.equal(w.responses.length, 1);
      assert.equal(w.responses[0]!.headers['connection'], 'close');
      assert.equal(uidOf(w.responses[0]!), 'last');
    });

    it('answers 408 to a request whose head stops coming, after the headers timeout', async () => {
      const w = await open();
      const started = Date.now();
      w.write('POST /mutate HTTP/1.1\r\nHost: x\r\n');
      await w.closed();
      assert.equal(w.responses[0]?.status, 408);
      assert.ok(Date.now() - started >= 250, 'timed out too early');
    });

    it('answers 408 to a body that stops coming, after the request timeout', async () => {
      const w = await open();
      const started = Date.now();
      w.write(admission('slow').slice(0, -100));
      await w.closed();
      assert.equal(w.responses[0]?.status, 408);
      assert.ok(Date.now() - started >= 550, 'timed out too early');
    });

    it('closes a connection idle for the keep-alive timeout', async () => {
      const w = await open();
      w.write(admission('idle'));
      await w.until(1);
      const answered = Date.now();
      await w.closed(4000);
      assert.ok(Date.now() - answered >= 1000, 'closed too early');
    });

    it('stays up when a client goes away in the middle of a request', async () => {
      const w = await open();
      w.write(admission('gone').slice(0, 500));
      await new Promise((r) => setTimeout(r, 50));
      w.socket.destroy();
      const w2 = await open();
      w2.write(admission('still'));
      const [r] = await w2.until(1);
      assert.equal(uidOf(r!), 'still');
    });
  });
}
