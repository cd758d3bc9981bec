import assert from 'node:assert/strict';
import sinon from 'sinon';
import type { V1Lease } from '@kubernetes/client-node';
import { LeaderElector, leaseDecision } from '../../../src/controller/leader.js';
import type { LeaseClient } from '../../../src/controller/leader.js';

describe('controller/leader: leaseDecision', () => {
  const table: [string, Parameters<typeof leaseDecision>[0], number, ReturnType<typeof leaseDecision>][] = [
    ['no lease', undefined, 0, 'create'],
    ['mine', { holderIdentity: 'me', renewTimeMs: 0, leaseDurationSeconds: 15 }, 1000, 'renew'],
    ['released', { holderIdentity: undefined, renewTimeMs: 0, leaseDurationSeconds: 15 }, 1000, 'takeover'],
    ['held, fresh', { holderIdentity: 'other', renewTimeMs: 0, leaseDurationSeconds: 15 }, 14_999, 'follow'],
    [
      'held, expired',
      { holderIdentity: 'other', renewTimeMs: 0, leaseDurationSeconds: 15 },
      15_000,
      'takeover',
    ],
  ];
  for (const [title, lease, now, expected] of table)
    it(title, () => assert.equal(leaseDecision(lease, 'me', now), expected));
});

/** One Lease in memory with resourceVersion checks, shared by candidates. */
class FakeLeases {
  lease: V1Lease | undefined;
  rv = 0;
  failing = false;
  client(cut: () => boolean = () => false): LeaseClient {
    const down = () => this.failing || cut();
    return {
      read: async () => {
        if (down()) throw new Error('apiserver down');
        return this.lease && structuredClone(this.lease);
      },
      create: async (l) => {
        if (down()) throw new Error('apiserver down');
        if (this.lease) throw Object.assign(new Error('exists'), { code: 409 });
        this.lease = {
          ...structuredClone(l),
          metadata: { ...l.metadata, resourceVersion: String(++this.rv) },
        };
      },
      replace: async (l) => {
        if (down()) throw new Error('apiserver down');
        if (l.metadata?.resourceVersion !== this.lease?.metadata?.resourceVersion)
          throw Object.assign(new Error('conflict'), { code: 409 });
        this.lease = {
          ...structuredClone(l),
          metadata: { ...l.metadata, resourceVersion: String(++this.rv) },
        };
      },
    };
  }
}

describe('controller/leader: LeaderElector', () => {
  let clock: sinon.SinonFakeTimers;
  const quiet = {
    debug: () => undefined,
    info: () => undefined,
    warn: () => undefined,
    error: () => undefined,
  };
  beforeEach(() => (clock = sinon.useFakeTimers({ now: 1_000_000 })));
  afterEach(() => clock.restore());

  function candidate(leases: FakeLeases, identity: string, log: string[], cut?: () => boolean) {
    return new LeaderElector({
      client: leases.client(cut),
      namespace: 'kni',
      name: 'controller',
      identity,
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
      logger: quiet,
      onStartedLeading: () => log.push(`${identity} leads`),
      onStoppedLeading: () => log.push(`${identity} stops`),
    });
  }

  it('one leader among two; the other takes over only after the lease expires', async () => {
    const leases = new FakeLeases();
    const log: string[] = [];
    let aCut = false;
    const a = candidate(leases, 'a', log, () => aCut);
    const b = candidate(leases, 'b', log);
    a.start();
    await clock.tickAsync(1);
    b.start();
    await clock.tickAsync(10_000);
    assert.deepEqual(log, ['a leads']);
    assert.equal(leases.lease?.spec?.holderIdentity, 'a');
    // a is cut off from the apiserver without releasing: it steps down at its renew
    // deadline, b takes over only once the lease duration has passed.
    aCut = true;
    await clock.tickAsync(12_000);
    assert.equal(leases.lease?.spec?.holderIdentity, 'a');
    assert.deepEqual(log, ['a leads', 'a stops'], 'a stepped down before the lease expired');
    await clock.tickAsync(6_000);
    assert.equal(leases.lease?.spec?.holderIdentity, 'b');
    assert.equal(leases.lease?.spec?.leaseTransitions, 1);
    assert.deepEqual(log, ['a leads', 'a stops', 'b leads']);
    await a.stop();
    await b.stop();
  });

  it('a leader that cannot renew steps down after the renew deadline; stop releases the lease', async () => {
    const leases = new FakeLeases();
    const log: string[] = [];
    const a = candidate(leases, 'a', log);
    a.start();
    await clock.tickAsync(1);
    assert.equal(a.isLeader, true);
    leases.failing = true;
    await clock.tickAsync(9_000);
    assert.equal(a.isLeader, true, 'still within the renew deadline');
    await clock.tickAsync(4_000);
    assert.equal(a.isLeader, false);
    leases.failing = false;
    await clock.tickAsync(2_000);
    assert.equal(a.isLeader, true, 'renews its own lease again');
    await a.stop();
    assert.equal(leases.lease?.spec?.holderIdentity, undefined);
    assert.deepEqual(log, ['a leads', 'a stops', 'a leads', 'a stops']);
  });
});
