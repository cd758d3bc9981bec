import assert from 'node:assert/strict';
import sinon from 'sinon';
import type { KubernetesListObject, KubernetesObject } from '@kubernetes/client-node';
import { ResilientInformer } from '../../../src/kube/informer.js';
import type { WatchFn } from '../../../src/kube/informer.js';

type Obj = KubernetesObject;

function obj(name: string, rv: string): Obj {
  return { metadata: { name, namespace: 'ns', resourceVersion: rv } };
}

/** A watch served from memory: the test pushes events and ends streams. */
class FakeWatch implements WatchFn {
  calls: {
    params: Record<string, unknown>;
    callback: (p: string, o: unknown) => void;
    done: (e: unknown) => void;
    aborted: boolean;
  }[] = [];
  failNext: unknown[] = [];
  async watch(
    _path: string,
    params: Record<string, string | number | boolean | undefined>,
    callback: (p: string, o: unknown) => void,
    done: (e: unknown) => void,
  ): Promise<AbortController> {
    const controller = new AbortController();
    const call = { params, callback, done, aborted: false };
    controller.signal.addEventListener('abort', () => (call.aborted = true));
    this.calls.push(call);
    const failure = this.failNext.shift();
    if (failure !== undefined) queueMicrotask(() => done(failure));
    return controller;
  }
  get last() {
    return this.calls[this.calls.length - 1]!;
  }
}

const silentLogger = { info: () => undefined, warn: () => undefined };

describe('kube/informer: ResilientInformer', () => {
  let clock: sinon.SinonFakeTimers;
  let watch: FakeWatch;
  let items: Obj[];
  let listCalls: number;
  let listFailures: number;
  let informer: ResilientInformer<Obj>;
  let events: string[];
  let restarts: string[];

  function make(relistMs = 0) {
    informer = new ResilientInformer<Obj>({
      name: 'things',
      path: '/api/v1/things',
      list: async () => {
        listCalls++;
        if (listFailures > 0) {
          listFailures--;
          throw new Error('connection refused');
        }
        return {
          metadata: { resourceVersion: String(100 + listCalls) },
          items: [...items],
        } as KubernetesListObject<Obj>;
      },
      watch,
      backoff: { baseMs: 100, capMs: 1000, jitter: 0 },
      silenceMs: 10_000,
      relistMs,
      logger: silentLogger,
      onRestart: (r) => restarts.push(r),
    });
    for (const verb of ['add', 'update', 'delete'] as const)
      informer.on(verb, (o) => events.push(`${verb}:${o.metadata?.name}`));
  }

  beforeEach(() => {
    clock = sinon.useFakeTimers({ now: 0 });
    watch = new FakeWatch();
    items = [obj('a', '1')];
    listCalls = 0;
    listFailures = 0;
    events = [];
    restarts = [];
  });
  afterEach(async () => {
    await informer.stop();
    clock.restore();
  });

  it('lists, then watches from the list resourceVersion with bookmarks and a server timeout', async () => {
    make();
    await informer.start();
    await informer.synced;
    assert.deepEqual(events, ['add:a']);
    assert.equal(watch.calls.length, 1);
    assert.equal(watch.last.params.resourceVersion, '101');
    assert.equal(watch.last.params.allowWatchBookmarks, true);
    assert.equal(watch.last.params.timeoutSeconds, 8);
    watch.last.callback('ADDED', obj('b', '102'));
    watch.last.callback('MODIFIED', obj('a', '103'));
    watch.last.callback('DELETED', obj('b', '104'));
    assert.deepEqual(events, ['add:a', 'add:b', 'update:a', 'delete:b']);
    assert.deepEqual(
      informer.list().map((o) => o.metadata?.name),
      ['a'],
    );
  });

  it('a watch error restarts after backoff, growing while it keeps failing', async () => {
    make();
    await informer.start();
    watch.failNext = [new Error('ECONNREFUSED'), new Error('ECONNREFUSED')];
    watch.last.done(new Error('socket hang up'));
    assert.equal(watch.calls.length, 1);
    await clock.tickAsync(99);
    assert.equal(watch.calls.length, 1, 'waits for the backoff');
    await clock.tickAsync(1);
    assert.equal(watch.calls.length, 2, 'first retry after 100 ms');
    await clock.tickAsync(199);
    assert.equal(watch.calls.length, 2);
    await clock.tickAsync(1);
    assert.equal(watch.calls.length, 3, 'second retry after 200 ms');
    await clock.tickAsync(400);
    assert.equal(watch.calls.length, 4, 'third retry after 400 ms');
    assert.equal(
      watch.last.params.resourceVersion,
      '101',
      'resumes from the last resourceVersion, no relist',
    );
    assert.equal(listCalls, 1);
    assert.deepEqual(restarts, ['error', 'error', 'error']);
  });

  it('a list that fails is retried with backoff until it succeeds', async () => {
    listFailures = 2;
    make();
    await informer.start();
    assert.equal(listCalls, 1);
    await clock.tickAsync(100);
    assert.equal(listCalls, 2);
    await clock.tickAsync(200);
    assert.equal(listCalls, 3);
    await informer.synced;
    assert.deepEqual(events, ['add:a']);
  });

  it('410 Gone in the stream: relists and reports objects deleted meanwhile', async () => {
    make();
    await informer.start();
    items = [obj('c', '200')];
    watch.last.callback('ERROR', { code: 410, metadata: {} });
    watch.last.done(null);
    await clock.tickAsync(0);
    assert.equal(listCalls, 2);
    assert.deepEqual(events, ['add:a', 'delete:a', 'add:c']);
  });

  it('410 Gone as the HTTP status: relists', async () => {
    make();
    await informer.start();
    watch.last.done(Object.assign(new Error('Gone'), { statusCode: 410 }));
    await clock.tickAsync(0);
    assert.equal(listCalls, 2);
  });

  it('the watchdog reopens a watch that went silent, from the same resourceVersion', async () => {
    make();
    await informer.start();
    await clock.tickAsync(5000);
    watch.last.callback('BOOKMARK', { metadata: { resourceVersion: '150' } });
    await clock.tickAsync(9_000);
    assert.equal(watch.calls.length, 1, 'a bookmark counts as life');
    await clock.tickAsync(3_000);
    assert.equal(watch.calls.length, 2);
    assert.equal(watch.calls[0]!.aborted, true, 'the stalled request is aborted');
    assert.equal(watch.last.params.resourceVersion, '150');
    assert.equal(listCalls, 1);
    assert.deepEqual(restarts, ['silent']);
    watch.calls[0]!.callback('ADDED', obj('ghost', '151'));
    assert.equal(informer.get('ghost', 'ns'), undefined, 'late events from the abandoned watch are ignored');
  });

  it('periodic relist lists again and catches missed deletions', async () => {
    make(60_000);
    await informer.start();
    items = [];
    await clock.tickAsync(60_000);
    assert.equal(listCalls, 2);
    assert.deepEqual(events, ['add:a', 'delete:a']);
    assert.deepEqual(
      restarts.filter((r) => r === 'relist'),
      ['relist'],
    );
  });

  it('stop ends retries', async () => {
    make();
    await informer.start();
    watch.last.done(new Error('boom'));
    await informer.stop();
    await clock.tickAsync(10_000);
    assert.equal(watch.calls.length, 1);
  });
});

describe('controller/informer: transform', () => {
  it('applies to listed objects and watch events before they are cached', async () => {
    const watch = new FakeWatch();
    const informer = new ResilientInformer<Obj>({
      name: 't',
      path: '/x',
      list: async () => ({
        metadata: { resourceVersion: '1' },
        items: [{ metadata: { name: 'a', namespace: 'ns', labels: { big: 'x' } } }],
      }),
      watch,
      backoff: { baseMs: 100, capMs: 1000, jitter: 0 },
      silenceMs: 10_000,
      relistMs: 0,
      logger: silentLogger,
      transform: (o) => ({
        metadata: {
          name: o.metadata?.name,
          namespace: o.metadata?.namespace,
          resourceVersion: o.metadata?.resourceVersion,
        },
      }),
    });
    await informer.start();
    watch.last.callback('ADDED', {
      metadata: { name: 'b', namespace: 'ns', resourceVersion: '2', labels: { big: 'y' } },
    });
    assert.equal(informer.get('a', 'ns')?.metadata?.labels, undefined);
    assert.equal(informer.get('b', 'ns')?.metadata?.labels, undefined);
    assert.equal(informer.get('b', 'ns')?.metadata?.resourceVersion, '2');
    await informer.stop();
  });
});
