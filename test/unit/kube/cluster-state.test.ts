// The cluster state (opted-in namespaces, policies, NADs) with injected lists and a watch
// served from memory: no HTTP. settingsFor, the precedence it implements, is pure.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Writable } from 'node:stream';
import type { KubernetesObject } from '@kubernetes/client-node';
import {
  createClusterState,
  OPT_IN_SELECTOR,
  type ClusterStateOptions,
} from '../../../src/kube/cluster-state.js';
import { settingsFor, type NamespaceInfo } from '../../../src/policy/settings.js';
import type { NetworkAttachmentPolicy } from '../../../src/policy/types.js';
import { createLogger } from '../../../src/telemetry/logger.js';

const DEFAULTS = { network: 'ovs-net-br1', interfaceName: 'l2', cloudInit: true };
const quiet = createLogger({ level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) });
const OPTED = { 'kubevirt-net-injector.io/inject': 'enabled' };

let resourceVersion = 1;
/** A Namespace; each one made gets the next resourceVersion, as the apiserver would give it. */
function ns(name: string, labels: Record<string, string> = {}, annotations: Record<string, string> = {}) {
  return {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name, labels, annotations, resourceVersion: String(++resourceVersion) },
  };
}
function info(
  name: string,
  labels: Record<string, string> = {},
  annotations: Record<string, string> = {},
): NamespaceInfo {
  return { name, labels, annotations };
}
function policy(name: string, spec: Partial<NetworkAttachmentPolicy['spec']>): NetworkAttachmentPolicy {
  return {
    apiVersion: 'kubevirt-net-injector.io/v1alpha1',
    kind: 'NetworkAttachmentPolicy',
    metadata: { name, resourceVersion: '1' },
    spec: { namespaceSelector: {}, ...spec },
  };
}

/** A watch per path; the test emits events on the latest watch of a path. */
class FakeWatch {
  events = new Map<string, (phase: string, obj: unknown) => void>();
  queries: { path: string; query: Record<string, unknown> }[] = [];
  async watch(path: string, query: Record<string, unknown>, cb: (p: string, o: unknown) => void) {
    this.queries.push({ path, query });
    this.events.set(path, cb);
    return new AbortController();
  }
  emit(path: string, phase: string, obj: unknown) {
    this.events.get(path)!(phase, obj);
  }
}

const list =
  (items: unknown[], rv = '1') =>
  async () => ({
    metadata: { resourceVersion: rv },
    items: items as KubernetesObject[],
  });

function state(
  watch: FakeWatch,
  items: { namespaces?: unknown[]; policies?: unknown[]; nads?: unknown[] } = {},
  extra: Partial<ClusterStateOptions> = {},
) {
  return createClusterState({
    namespaces: {
      path: '/api/v1/namespaces',
      labelSelector: OPT_IN_SELECTOR,
      list: list(items.namespaces ?? []),
    },
    policies: { path: '/policies', list: list(items.policies ?? []) },
    nads: { path: '/nads', list: list(items.nads ?? []) },
    watch,
    defaults: DEFAULTS,
    logger: quiet,
    backoff: { baseMs: 10, capMs: 50, jitter: 0 },
    ...extra,
  });
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 300 && !check(); i++) await sleep(10);
  assert.ok(check(), what);
}

describe('injection settings: precedence (pure)', () => {
  it('not opted in, opted in, namespace annotation, no network at all', () => {
    assert.equal(settingsFor('a', undefined, [], {}, DEFAULTS).optedIn, false);
    assert.equal(
      settingsFor('a', info('a', { 'kubevirt-net-injector.io/inject': 'disabled' }), [], {}, DEFAULTS)
        .optedIn,
      false,
    );
    assert.deepEqual(settingsFor('a', info('a', OPTED), [], {}, DEFAULTS), {
      optedIn: true,
      settings: DEFAULTS,
      from: 'the webhook default (--network)',
    });
    const annotated = settingsFor(
      'a',
      info('a', OPTED, { 'kubevirt-net-injector.io/network': 'other/net' }),
      [],
      {},
      DEFAULTS,
    );
    assert.deepEqual(annotated.optedIn && annotated.settings.network, 'other/net');
    const none = settingsFor('a', info('a', OPTED), [], {}, { interfaceName: 'l2', cloudInit: true });
    assert.ok(!none.optedIn && /names a network/.test(none.warning ?? ''));
  });

  it("a policy's inject beats the namespace annotation and the flags, for the VMs it selects", () => {
    const p = policy('tenant', {
      vmSelector: { matchLabels: { app: 'db' } },
      inject: { network: 'tenant/br', interfaceName: 'lan', cloudInit: false },
    });
    const namespace = info('a', OPTED, { 'kubevirt-net-injector.io/network': 'other/net' });
    assert.deepEqual(settingsFor('a', namespace, [p], { app: 'db' }, DEFAULTS), {
      optedIn: true,
      from: 'policy tenant',
      settings: { network: 'tenant/br', interfaceName: 'lan', cloudInit: false },
    });
    const web = settingsFor('a', namespace, [p], { app: 'web' }, DEFAULTS);
    assert.equal(web.optedIn && web.settings.network, 'other/net');
  });
});

describe('cluster state: namespaces, policies and NADs from informers', () => {
  it('answers from the caches, follows watch events, and is ready once all three synced', async () => {
    const watch = new FakeWatch();
    const s = state(watch, {
      namespaces: [ns('vm', { ...OPTED, team: 'a' }, { 'kubevirt-net-injector.io/network': 'vm/br1' })],
      policies: [policy('team-a', { namespaceSelector: { matchLabels: { team: 'a' } } })],
      nads: [
        {
          metadata: { name: 'br1', namespace: 'vm', labels: { tier: 'x' }, resourceVersion: '1' },
          spec: { config: '{}' },
        },
      ],
    });
    assert.equal(s.ready(), false);
    assert.equal(s.forVm('vm', {}).optedIn, false, 'not synced yet');
    const changes: string[] = [];
    s.onChange((what) => changes.push(what));
    await s.start();
    await until(() => s.ready(), 'synced');
    assert.equal(
      watch.queries.find((q) => q.path === '/api/v1/namespaces')?.query.labelSelector,
      OPT_IN_SELECTOR,
    );
    const verdict = s.forVm('vm', {});
    assert.ok(verdict.optedIn);
    assert.equal(verdict.settings.network, 'vm/br1');
    assert.deepEqual(s.platformNetwork('vm', {}), { namespace: 'vm', name: 'br1' });
    assert.deepEqual(
      s.policiesFor('vm').map((p) => p.metadata.name),
      ['team-a'],
    );
    assert.deepEqual(s.nad({ namespace: 'vm', name: 'br1' }), {
      namespace: 'vm',
      name: 'br1',
      labels: { tier: 'x' },
    });
    assert.equal(s.nad({ namespace: 'vm', name: 'gone' }), undefined);

    // A policy added, the namespace relabelled, a NAD deleted: each seen at once.
    watch.emit('/policies', 'ADDED', policy('everyone', { inject: { network: 'shared/net' } }));
    assert.deepEqual(
      s
        .policiesFor('vm')
        .map((p) => p.metadata.name)
        .sort(),
      ['everyone', 'team-a'],
    );
    const injected = s.forVm('vm', {});
    assert.ok(injected.optedIn && injected.from === 'policy everyone');
    watch.emit('/api/v1/namespaces', 'MODIFIED', ns('vm', { ...OPTED, team: 'b' }));
    assert.deepEqual(
      s.policiesFor('vm').map((p) => p.metadata.name),
      ['everyone'],
    );
    watch.emit('/nads', 'DELETED', { metadata: { name: 'br1', namespace: 'vm', resourceVersion: '2' } });
    assert.equal(s.nad({ namespace: 'vm', name: 'br1' }), undefined);
    watch.emit('/api/v1/namespaces', 'DELETED', ns('vm', OPTED));
    assert.equal(s.forVm('vm', {}).optedIn, false);
    assert.deepEqual(s.policiesFor('vm'), []);
    assert.ok(
      ['policies', 'namespaces', 'nads'].every((w) => changes.includes(w)),
      changes.join(),
    );
    await s.stop();
  });

  it('retries after a failed list, with backoff, and becomes ready', async () => {
    const watch = new FakeWatch();
    let calls = 0;
    const s = state(
      watch,
      {},
      {
        namespaces: {
          path: '/api/v1/namespaces',
          list: async () => {
            if (++calls === 1) throw new Error('connection refused');
            return { metadata: { resourceVersion: '1' }, items: [ns('vm', OPTED) as KubernetesObject] };
          },
        },
      },
    );
    await s.start();
    await until(() => s.ready(), 'ready after the retry');
    assert.equal(calls, 2);
    assert.equal(s.forVm('vm', {}).optedIn, true);
    await s.stop();
  });

  it('a namespace watch that goes silent is reopened, and a namespace labelled meanwhile opts in', async () => {
    // A small apiserver: a list at resourceVersion 1, then the label put on a namespace at 2.
    // A namespace watch replays the events after the resourceVersion it asks for, except the
    // first one, which stalls: it stays open and never delivers anything.
    const history = [{ rv: 2, phase: 'ADDED', object: ns('labelled-later', OPTED) }];
    const rvs: unknown[] = [];
    const watch = {
      async watch(
        path: string,
        query: Record<string, unknown>,
        callback: (phase: string, obj: unknown) => void,
      ) {
        if (path !== '/api/v1/namespaces') return new AbortController();
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
    const s = createClusterState({
      namespaces: { path: '/api/v1/namespaces', list: list([ns('vm', OPTED)]) },
      policies: { path: '/policies', list: list([]) },
      nads: { path: '/nads', list: list([]) },
      watch,
      defaults: DEFAULTS,
      logger: quiet,
      silenceMs: 200,
      relistMs: 0,
      onRestart: (informer, reason) => restarts.push(`${informer}:${reason}`),
    });
    await s.start();
    await until(() => s.ready(), 'synced');
    assert.equal(s.forVm('vm', {}).optedIn, true);
    assert.equal(s.forVm('labelled-later', {}).optedIn, false, 'the stalled watch told nothing');
    await until(() => s.forVm('labelled-later', {}).optedIn, 'the namespace labelled meanwhile opted in');
    assert.ok(restarts.includes('namespaces:silent'), restarts.join());
    assert.deepEqual(rvs.slice(0, 2), ['1', '1'], 'reopened from the last resourceVersion');
    await s.stop();
  });
});
