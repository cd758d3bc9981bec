// The namespace informer source with an injected list and watch: no HTTP.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { V1Namespace } from '@kubernetes/client-node';
import { Writable } from 'node:stream';
import {
  createInformerSettingsSource,
  namespaceVerdict,
  OPT_IN_SELECTOR,
} from '../../../src/kube/namespace-settings.js';
import { createLogger } from '../../../src/telemetry/logger.js';

const DEFAULTS = { network: 'ovs-net-br1', interfaceName: 'l2', cloudInit: true };
const quiet = createLogger({ level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) });

function ns(
  name: string,
  labels: Record<string, string> = {},
  annotations: Record<string, string> = {},
): V1Namespace {
  return { metadata: { name, labels, annotations, resourceVersion: '1' } };
}
const OPTED = { 'kubevirt-net-injector.io/inject': 'enabled' };

/** A watch whose events the test emits by hand. */
class FakeWatch {
  event?: (phase: string, obj: unknown) => void;
  done?: (err: unknown) => void;
  queries: Record<string, unknown>[] = [];
  async watch(
    _path: string,
    query: Record<string, unknown>,
    cb: (p: string, o: unknown) => void,
    done: (e: unknown) => void,
  ) {
    this.queries.push(query);
    this.event = cb;
    this.done = done;
    return new AbortController();
  }
}

describe('namespace settings', () => {
  it('maps a namespace to a verdict (pure)', () => {
    assert.equal(namespaceVerdict('a', undefined, DEFAULTS).optedIn, false);
    assert.equal(
      namespaceVerdict('a', ns('a', { 'kubevirt-net-injector.io/inject': 'disabled' }), DEFAULTS).optedIn,
      false,
    );
    assert.deepEqual(namespaceVerdict('a', ns('a', OPTED), DEFAULTS), { optedIn: true, settings: DEFAULTS });
    const override = namespaceVerdict(
      'a',
      ns('a', OPTED, { 'kubevirt-net-injector.io/network': 'other/net' }),
      DEFAULTS,
    );
    assert.deepEqual(override, { optedIn: true, settings: { ...DEFAULTS, network: 'other/net' } });
    const none = namespaceVerdict('a', ns('a', OPTED), { interfaceName: 'l2', cloudInit: true });
    assert.equal(none.optedIn, false);
    assert.ok(!none.optedIn && /names no network/.test(none.warning ?? ''));
  });

  /** A source over a list the test controls and a watch whose events it emits by hand. */
  function source(listed: () => V1Namespace[], watch: FakeWatch, extra: { silenceMs?: number } = {}) {
    let lists = 0;
    const s = createInformerSettingsSource({
      list: async () => {
        lists++;
        return { metadata: { resourceVersion: String(lists) }, items: listed() };
      },
      watch,
      defaults: DEFAULTS,
      logger: quiet,
      backoff: { baseMs: 10, capMs: 50, jitter: 0 },
      ...extra,
    });
    return { s, lists: () => lists };
  }

  it('answers from the informer cache, follows watch events, and is ready once synced', async () => {
    const watch = new FakeWatch();
    const { s, lists } = source(
      () => [ns('vm', OPTED, { 'kubevirt-net-injector.io/network': 'vm/br1' })],
      watch,
    );
    assert.equal(s.ready(), false);
    assert.equal(s.forNamespace('vm').optedIn, false);
    await s.start();
    for (let i = 0; i < 100 && !s.ready(); i++) await sleep(5);
    assert.equal(s.ready(), true);
    assert.equal(lists(), 1);
    assert.equal(watch.queries[0]?.labelSelector, OPT_IN_SELECTOR);
    assert.deepEqual(s.forNamespace('vm'), { optedIn: true, settings: { ...DEFAULTS, network: 'vm/br1' } });
    assert.equal(s.forNamespace('apps').optedIn, false);

    watch.event!('ADDED', ns('apps', OPTED));
    assert.deepEqual(s.forNamespace('apps'), { optedIn: true, settings: DEFAULTS });
    watch.event!('DELETED', ns('vm', OPTED));
    assert.equal(s.forNamespace('vm').optedIn, false);
    await s.stop();
  });

  it('retries after a failed list, with backoff, and becomes ready', async () => {
    const watch = new FakeWatch();
    let calls = 0;
    const s = createInformerSettingsSource({
      list: async () => {
        if (++calls === 1) throw new Error('connection refused');
        return { metadata: { resourceVersion: '1' }, items: [ns('vm', OPTED)] };
      },
      watch,
      defaults: DEFAULTS,
      logger: quiet,
      backoff: { baseMs: 10, capMs: 50, jitter: 0 },
    });
    await s.start();
    assert.equal(s.ready(), false);
    for (let i = 0; i < 100 && !s.ready(); i++) await sleep(5);
    assert.equal(calls, 2);
    assert.equal(s.ready(), true);
    assert.equal(s.forNamespace('vm').optedIn, true);
    await s.stop();
  });

  it('a watch that goes silent is reopened, and a namespace labelled meanwhile opts in', async () => {
    // A small apiserver: a list at resourceVersion 1, then the label put on a namespace at 2.
    // A watch replays the events after the resourceVersion it asks for, except the first one,
    // which stalls: it stays open and never delivers anything.
    const history = [{ rv: 2, phase: 'ADDED', object: ns('labelled-later', OPTED) }];
    const rvs: unknown[] = [];
    const watch = {
      async watch(
        _path: string,
        query: Record<string, unknown>,
        callback: (phase: string, obj: unknown) => void,
      ): Promise<AbortController> {
        rvs.push(query.resourceVersion);
        if (rvs.length > 1) {
          const after = Number(query.resourceVersion);
          setImmediate(() => {
            for (const e of history) if (e.rv > after) callback(e.phase, e.object);
          });
        }
        return new AbortController();
      },
    };
    const restarts: string[] = [];
    const s = createInformerSettingsSource({
      list: async () => ({ metadata: { resourceVersion: '1' }, items: [ns('vm', OPTED)] }),
      watch,
      defaults: DEFAULTS,
      logger: quiet,
      silenceMs: 200,
      relistMs: 0,
      onRestart: (reason) => restarts.push(reason),
    });
    await s.start();
    for (let i = 0; i < 100 && !s.ready(); i++) await sleep(5);
    assert.equal(s.forNamespace('vm').optedIn, true);
    assert.equal(s.forNamespace('labelled-later').optedIn, false, 'the stalled watch told nothing');
    for (let i = 0; i < 200 && !s.forNamespace('labelled-later').optedIn; i++) await sleep(10);
    assert.deepEqual(restarts.slice(0, 1), ['silent']);
    assert.deepEqual(rvs.slice(0, 2), ['1', '1'], 'reopened from the last resourceVersion');
    assert.deepEqual(s.forNamespace('labelled-later'), { optedIn: true, settings: DEFAULTS });
    await s.stop();
  });
});
