import assert from 'node:assert/strict';
import sinon from 'sinon';
import { backoffDelay } from '../../../src/kube/backoff.js';
import { WorkQueue } from '../../../src/controller/queue.js';

const noJitter = { baseMs: 100, capMs: 1000, jitter: 0 };

describe('controller/backoff', () => {
  const table: [number, number][] = [
    [0, 100],
    [1, 200],
    [3, 800],
    [4, 1000],
    [60, 1000],
  ];
  for (const [attempt, expected] of table) {
    it(`attempt ${attempt} waits ${expected} ms (capped)`, () =>
      assert.equal(backoffDelay(attempt, noJitter), expected));
  }
  it('jitter takes up to its fraction off the delay', () => {
    assert.equal(backoffDelay(2, { ...noJitter, jitter: 0.5, random: () => 0 }), 400);
    assert.equal(backoffDelay(2, { ...noJitter, jitter: 0.5, random: () => 0.999999 }), 200);
    assert.equal(backoffDelay(2, { ...noJitter, jitter: 0.5, random: () => 0.5 }), 300);
  });
});

describe('controller/queue: WorkQueue', () => {
  let clock: sinon.SinonFakeTimers;
  let queue: WorkQueue;
  beforeEach(() => {
    clock = sinon.useFakeTimers({ now: 1_000_000 });
    queue = new WorkQueue({ backoff: noJitter });
  });
  afterEach(() => {
    queue.shutDown();
    clock.restore();
  });

  it('de-duplicates keys that are queued', async () => {
    queue.add('a');
    queue.add('b');
    queue.add('a');
    assert.equal(queue.length, 2);
    assert.equal(await queue.get(), 'a');
    assert.equal(await queue.get(), 'b');
    assert.equal(queue.length, 0);
  });

  it('a key added while processing comes back after done, once', async () => {
    queue.add('a');
    const key = await queue.get();
    queue.add('a');
    queue.add('a');
    assert.equal(queue.length, 0, 'not handed to a second worker while the first holds it');
    queue.done(key!);
    assert.equal(queue.length, 1);
    assert.equal(await queue.get(), 'a');
    queue.done('a');
    assert.equal(queue.length, 0);
  });

  it('a waiting worker gets the next key added', async () => {
    const pending = queue.get();
    queue.add('x');
    assert.equal(await pending, 'x');
  });

  it('addAfter queues on time; the earlier of two delays wins', async () => {
    queue.addAfter('a', 500);
    queue.addAfter('a', 2000);
    await clock.tickAsync(499);
    assert.equal(queue.length, 0);
    await clock.tickAsync(1);
    assert.equal(queue.length, 1);
    await clock.tickAsync(5000);
    assert.equal(queue.length, 1, 'the later delay was dropped');
  });

  it('a shorter delay replaces a longer pending one', async () => {
    queue.addAfter('a', 2000);
    queue.addAfter('a', 100);
    await clock.tickAsync(100);
    assert.equal(queue.length, 1);
  });

  it('rate-limited retries back off exponentially to the cap, forget resets', async () => {
    const delays = [1, 2, 3, 4, 5].map(() => {
      const d = queue.addRateLimited('k');
      return d;
    });
    assert.deepEqual(delays, [100, 200, 400, 800, 1000]);
    assert.equal(queue.retries('k'), 5);
    queue.forget('k');
    assert.equal(queue.retries('k'), 0);
    assert.equal(queue.addRateLimited('k'), 100);
    await clock.tickAsync(100);
    assert.equal(await queue.get(), 'k');
  });

  it('shutDown releases waiting workers and drops timers', async () => {
    const pending = queue.get();
    queue.addAfter('late', 100);
    queue.shutDown();
    assert.equal(await pending, undefined);
    await clock.tickAsync(200);
    assert.equal(queue.length, 0);
    assert.equal(await queue.get(), undefined);
  });
});
