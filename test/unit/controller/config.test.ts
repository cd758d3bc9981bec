import assert from 'node:assert/strict';
import { ControllerConfigError, parseControllerArgs, parseDuration } from '../../../src/config/controller.js';

describe('config/controller: parseControllerArgs', () => {
  it('--help', () => assert.deepEqual(parseControllerArgs(['--help'], {}), { help: true }));

  it('defaults with a kubeconfig flag', () => {
    const r = parseControllerArgs(['--kubeconfig', '/k', '--namespace', 'vm'], { POD_NAME: 'ctl-0' });
    assert.equal(r.help, false);
    if (r.help) return;
    assert.deepEqual(r.config.cluster, { kubeconfig: '/k' });
    assert.equal(r.config.settings.namespace, 'vm');
    assert.equal(r.config.settings.graceMs, 10_000);
    assert.equal(r.config.settings.legacyEndpoints, false);
    assert.equal(r.config.settings.leaderElection.enabled, false);
    assert.equal(r.config.settings.identity, 'ctl-0');
    assert.equal(r.config.metricsAddress, undefined);
  });

  it('KUBECONFIG from the environment, in-cluster otherwise', () => {
    const a = parseControllerArgs([], { KUBECONFIG: '/env' });
    assert.deepEqual(!a.help && a.config.cluster, { kubeconfig: '/env' });
    const b = parseControllerArgs([], { KUBERNETES_SERVICE_HOST: '10.0.0.1' });
    assert.deepEqual(!b.help && b.config.cluster, { inCluster: true });
  });

  it('all flags', () => {
    const r = parseControllerArgs(
      [
        '--kubeconfig=/k',
        '--grace=2s',
        '--legacy-endpoints',
        '--workers=2',
        '--resync=1m',
        '--watch-silence=30s',
        '--relist=0s',
        '--request-timeout=5s',
        '--leader-elect',
        '--lease-namespace=kni',
        '--metrics-address=127.0.0.1:9090',
      ],
      {},
    );
    if (r.help) throw new Error('unexpected help');
    const s = r.config.settings;
    assert.deepEqual(
      [s.graceMs, s.legacyEndpoints, s.workers, s.resyncMs, s.watchSilenceMs, s.relistMs, s.requestTimeoutMs],
      [2000, true, 2, 60_000, 30_000, 0, 5000],
    );
    assert.deepEqual([s.leaderElection.enabled, s.leaderElection.namespace], [true, 'kni']);
    assert.deepEqual(r.config.metricsAddress, { host: '127.0.0.1', port: 9090 });
  });

  const bad: [string[], Record<string, string>, RegExp][] = [
    [[], {}, /no cluster/],
    [['--kubeconfig=/k', '--grace=10'], {}, /--grace must be a duration/],
    [['--kubeconfig=/k', '--workers=0'], {}, /--workers must be an integer/],
    [['--kubeconfig=/k', '--namespace=Bad_NS'], {}, /--namespace must be a DNS label/],
    [['--kubeconfig=/k', '--metrics-address=9090'], {}, /HOST:PORT/],
    [['--kubeconfig=/k', '--bogus'], {}, /Unknown option '--bogus'/],
    [['--kubeconfig=/k', '--log-level=loud'], {}, /unknown log level/],
    [['--kubeconfig=/k', '--request-timeout=100ms'], {}, /--request-timeout must be at least 1s/],
  ];
  for (const [args, env, message] of bad) {
    it(`rejects ${args.join(' ') || '(no flags, no env)'}`, () =>
      assert.throws(
        () => parseControllerArgs(args, env),
        (e: unknown) => e instanceof ControllerConfigError && message.test(e.message),
      ));
  }

  const durations: [string, number][] = [
    ['500ms', 500],
    ['10s', 10_000],
    ['1.5m', 90_000],
    ['2h', 7_200_000],
  ];
  for (const [text, ms] of durations)
    it(`duration ${text}`, () => assert.equal(parseDuration(text, 'x'), ms));
});
