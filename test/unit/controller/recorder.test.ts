import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import type { KubeConfig } from '@kubernetes/client-node';
import sinon from 'sinon';
import { kubeEventRecorder } from '../../../src/controller/kube.js';
import type { VirtualMachine } from '../../../src/controller/types.js';
import { createLogger } from '../../../src/telemetry/logger.js';

const quiet = createLogger({ level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) });
const vm = { metadata: { name: 'db', namespace: 'vm', uid: 'u1' } } as VirtualMachine;

/** A recorder whose apiserver is a stub; `clock.now` drives its dedupe window. */
function recorder(dedupeEntries?: number) {
  const create = sinon.stub().resolves({});
  const kc = { makeApiClient: () => ({ createNamespacedEvent: create }) } as unknown as KubeConfig;
  const clock = { now: 0 };
  const events = kubeEventRecorder(kc, {
    instance: 'test',
    logger: quiet,
    dedupeMs: 60_000,
    concurrency: 100,
    maxPending: 100_000,
    now: () => clock.now,
    ...(dedupeEntries !== undefined ? { dedupeEntries } : {}),
  });
  const settle = () => new Promise((done) => setImmediate(done));
  const sent = async () =>
    (await settle(), create.getCalls()).map((c) => (c.args[0] as { body: { message: string } }).body.message);
  return { events, clock, sent };
}

describe('controller/event recorder', () => {
  it('the same event within the window is sent once; after the window, again', async () => {
    const { events, clock, sent } = recorder();
    events.record(vm, 'Normal', 'EndpointUpdated', 'a');
    clock.now = 59_999;
    events.record(vm, 'Normal', 'EndpointUpdated', 'a');
    assert.deepEqual(await sent(), ['a']);
    clock.now = 60_000;
    events.record(vm, 'Normal', 'EndpointUpdated', 'a');
    assert.deepEqual(await sent(), ['a', 'a']);
  });

  it('remembers at most dedupeEntries keys, forgetting the least recently recorded', async () => {
    const { events, sent } = recorder(3);
    for (const m of ['a', 'b', 'c', 'd']) events.record(vm, 'Normal', 'EndpointUpdated', m);
    // 'a' was forgotten when 'd' came; 'b', 'c' and 'd' are still remembered.
    for (const m of ['b', 'c', 'd', 'a']) events.record(vm, 'Normal', 'EndpointUpdated', m);
    assert.deepEqual(await sent(), ['a', 'b', 'c', 'd', 'a']);
  });

  it('a flood of distinct messages does not grow the dedupe past its bound', async () => {
    const { events, sent } = recorder(100);
    for (let i = 0; i < 10_000; i++) events.record(vm, 'Normal', 'EndpointUpdated', `m${i}`);
    // The last 100 are remembered (not sent again); the first one is not.
    for (let i = 9_900; i < 10_000; i++) events.record(vm, 'Normal', 'EndpointUpdated', `m${i}`);
    assert.equal((await sent()).length, 10_000);
    events.record(vm, 'Normal', 'EndpointUpdated', 'm0');
    assert.equal((await sent()).length, 10_001);
  });
});
