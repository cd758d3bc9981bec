// The namespace informer source with an injected list and watch: no HTTP.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { ListWatch, type V1Namespace, type Watch } from '@kubernetes/client-node';
import { Writable } from 'node:stream';
import {
  createInformerSettingsSource,
  namespaceVerdict,
  OPT_IN_SELECTOR,
} from '../../../src/kube/namespace-settings.js';
import { createLogger } from '../../../src/telemetry/logger.js';
import { snapshotSource } from '../../../src/webhook/settings-source.js';

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

  it('answers from the informer cache, follows watch events, and is ready once synced', async () => {
    const watch = new FakeWatch();
    let lists = 0;
    const informer = new ListWatch<V1Namespace>(
      '/api/v1/namespaces',
      watch as unknown as Watch,
      async () => {
        lists++;
        return {
          metadata: { resourceVersion: '5' },
          items: [ns('vm', OPTED, { 'kubevirt-net-injector.io/network': 'vm/br1' })],
        };
      },
      false,
      OPT_IN_SELECTOR,
    );
    const source = createInformerSettingsSource({ informer, defaults: DEFAULTS, logger: quiet });
    let changes = 0;
    source.onChange!(() => changes++);
    assert.equal(source.ready(), false);
    assert.equal(source.forNamespace('vm').optedIn, false);
    assert.deepEqual(source.snapshot!(), {
      ready: false,
      namespaces: {},
      otherwise: source.forNamespace('vm'),
    });
    await source.start();
    assert.ok(changes > 0, 'the list and the sync are changes');
    assert.equal(source.ready(), true);
    assert.equal(lists, 1);
    assert.equal(watch.queries[0]?.labelSelector, OPT_IN_SELECTOR);
    assert.deepEqual(source.forNamespace('vm'), {
      optedIn: true,
      settings: { ...DEFAULTS, network: 'vm/br1' },
    });
    assert.equal(source.forNamespace('apps').optedIn, false);

    const before = changes;
    watch.event!('ADDED', ns('apps', OPTED));
    assert.deepEqual(source.forNamespace('apps'), { optedIn: true, settings: DEFAULTS });
    // The snapshot a worker thread decides with says the same as the source.
    const copy = snapshotSource(structuredClone(source.snapshot!()));
    for (const name of ['vm', 'apps', 'elsewhere']) {
      assert.deepEqual(copy.forNamespace(name), source.forNamespace(name), name);
    }
    watch.event!('DELETED', ns('vm', OPTED));
    assert.equal(source.forNamespace('vm').optedIn, false);
    assert.equal(changes, before + 2);
    await source.stop();
  });

  it('retries after a failed list, with backoff, and becomes ready', async () => {
    const watch = new FakeWatch();
    let calls = 0;
    const informer = new ListWatch<V1Namespace>(
      '/api/v1/namespaces',
      watch as unknown as Watch,
      async () => {
        if (++calls === 1) throw new Error('connection refused');
        return { metadata: { resourceVersion: '1' }, items: [ns('vm', OPTED)] };
      },
      false,
    );
    const source = createInformerSettingsSource({
      informer,
      defaults: DEFAULTS,
      logger: quiet,
      backoffMs: 10,
    });
    await source.start();
    assert.equal(source.ready(), false);
    for (let i = 0; i < 100 && !source.ready(); i++) await sleep(5);
    assert.equal(calls, 2);
    assert.equal(source.ready(), true);
    assert.equal(source.forNamespace('vm').optedIn, true);
    await source.stop();
  });
});
