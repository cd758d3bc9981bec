import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import {
  checkContentType,
  parseJson,
  readBody,
  scanDepthExceeds,
  TransportError,
} from '../../../src/webhook/transport.js';

function message(chunks: Buffer[], headers: Record<string, string> = {}): IncomingMessage {
  const stream = Readable.from(chunks) as unknown as IncomingMessage;
  Object.assign(stream, { headers, complete: true });
  return stream;
}

const read = readBody;

const status = (n: number) => (err: unknown) => err instanceof TransportError && err.status === n;

describe('webhook transport', () => {
  it('accepts application/json with parameters, refuses others with 415', () => {
    checkContentType('application/json');
    checkContentType('Application/JSON; charset=utf-8');
    assert.throws(() => checkContentType('text/plain'), status(415));
    assert.throws(() => checkContentType(undefined), status(415));
    assert.throws(() => checkContentType('application/jsonx'), status(415));
  });

  it('reads a body in chunks', async () => {
    const body = await read(message([Buffer.from('{"a":'), Buffer.from('1}')]), 100);
    assert.equal(body.toString(), '{"a":1}');
  });

  it('refuses an announced Content-Length over the cap before reading', async () => {
    await assert.rejects(read(message([], { 'content-length': '101' }), 100), status(413));
  });

  it('refuses a streamed body as soon as it passes the cap', async () => {
    await assert.rejects(read(message([Buffer.alloc(60), Buffer.alloc(60)]), 100), status(413));
  });

  it('parses JSON; refuses empty (400), malformed (400) and too deep (400) without echoing the input', () => {
    assert.deepEqual(parseJson(Buffer.from('{"a":[1]}'), 3), { a: [1] });
    assert.throws(
      () => parseJson(Buffer.alloc(0), 3),
      (e: unknown) => status(400)(e) && (e as TransportError).reason === 'empty_body',
    );
    assert.throws(
      () => parseJson(Buffer.from('{"password":"hunter2'), 3),
      (e: unknown) => status(400)(e) && !(e as Error).message.includes('hunter2'),
    );
    assert.throws(
      () => parseJson(Buffer.from('[[[[1]]]]'), 3),
      (e: unknown) => (e as TransportError).reason === 'too_deep',
    );
  });

  it('refuses a deep body by scanning bytes before parsing, ignoring brackets inside strings', () => {
    const deep = Buffer.from('['.repeat(70_000) + ']'.repeat(70_000));
    assert.throws(
      () => parseJson(deep, 64),
      (e: unknown) => (e as TransportError).reason === 'too_deep',
    );
    assert.equal(scanDepthExceeds(Buffer.from('{"a":"[[[[\\"[[[["}'), 2), false);
    assert.equal(scanDepthExceeds(Buffer.from('{"a":[[1]]}'), 2), true);
    const wide = Buffer.from(JSON.stringify({ s: '['.repeat(100_000), a: [[1]] }));
    assert.deepEqual((parseJson(wide, 3) as { a: unknown }).a, [[1]]);
  });

  it('counts depth the way the parsed value nests: escaped quotes and brackets in strings do not count', () => {
    assert.equal(scanDepthExceeds(Buffer.from('{"a":{"b":1}}'), 2), false);
    assert.equal(scanDepthExceeds(Buffer.from('{"a":{"b":{}}}'), 2), true);
    assert.equal(scanDepthExceeds(Buffer.from('[[],[[]]]'), 2), true);
    const escaped = String.raw`{"k\\":"]]]\"[[[[","v":[]}`;
    assert.deepEqual(JSON.parse(escaped), { 'k\\': ']]]"[[[[', v: [] });
    assert.equal(scanDepthExceeds(Buffer.from(escaped), 2), false);
  });
});
